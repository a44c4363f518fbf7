/*
 * Server metrics: requests by route and status, latency histograms per
 * route, engine batch sizes (texts and tokens), token throughput. Written
 * by the HTTP and engine threads under one mutex (a few additions per
 * request, far below the cost of serving one); rendered by routes.c in the
 * Prometheus text format.
 */
#include <string.h>
#include <time.h>

#include "server/server-impl.h"

/* Bucket bounds shared with routes.c's renderer through these tables. */
const double ia__srv_lat_bounds[SRV_N_LAT_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
const double ia__srv_batch_bounds[SRV_N_BATCH_BUCKETS] = {
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048};
const double ia__srv_token_bounds[SRV_N_BATCH_BUCKETS] = {
    16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072};

void ia__srv_metrics_init(srv_metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
}

void ia__srv_metrics_close(srv_metrics *m) { pthread_mutex_destroy(&m->lock); }

static int bucket(const double *bounds, int n, double v)
{
    int i = 0;
    while (i < n && v > bounds[i])
        i++;
    return i; /* n: +Inf only */
}

void ia__srv_metrics_request(srv_metrics *m, int route, int status, double seconds)
{
    if (route < 0 || route >= SRV_N_ROUTES)
        route = SRV_ROUTE_OTHER;
    if (status < 100 || status > 599)
        status = 500;
    pthread_mutex_lock(&m->lock);
    m->requests[route][status]++;
    m->lat_bucket[route][bucket(ia__srv_lat_bounds, SRV_N_LAT_BUCKETS, seconds)]++;
    m->lat_sum[route] += seconds;
    m->lat_count[route]++;
    pthread_mutex_unlock(&m->lock);
}

void ia__srv_metrics_batch(srv_metrics *m, int model, size_t texts, size_t tokens, double seconds, bool ok)
{
    long now = (long)time(NULL);
    int slot = (int)(now % SRV_TPS_WINDOW);
    struct srv_model_counters *pm = model >= 0 && model < SRV_MAX_MODELS ? &m->per_model[model] : NULL;
    pthread_mutex_lock(&m->lock);
    if (pm) {
        pm->failures += !ok;
        pm->batches += ok;
        pm->texts += ok ? texts : 0;
        pm->tokens += ok ? tokens : 0;
        pm->seconds += ok ? seconds : 0;
    }
    if (!ok) {
        m->engine_failures++;
    } else {
        m->batches++;
        m->texts_total += texts;
        m->tokens_total += tokens;
        m->engine_seconds += seconds;
        m->batch_texts[bucket(ia__srv_batch_bounds, SRV_N_BATCH_BUCKETS, (double)texts)]++;
        m->batch_tokens[bucket(ia__srv_token_bounds, SRV_N_BATCH_BUCKETS, (double)tokens)]++;
        m->batch_texts_sum += (double)texts;
        m->batch_tokens_sum += (double)tokens;
        if (m->tps_stamp[slot] != now) {
            m->tps_stamp[slot] = now;
            m->tps_second[slot] = 0;
        }
        m->tps_second[slot] += (long)tokens;
    }
    pthread_mutex_unlock(&m->lock);
}

void ia__srv_metrics_queue_wait(srv_metrics *m, double seconds)
{
    pthread_mutex_lock(&m->lock);
    m->queue_wait_sum += seconds;
    m->queue_wait_count++;
    pthread_mutex_unlock(&m->lock);
}
