/*
 * The batching queue: embedding requests wait here in arrival order and one
 * engine thread serves them. Each round it takes the oldest request and the
 * requests right behind it for the same model while their tokens fit the
 * budget (max_batch_tokens; a larger request runs alone), and embeds them in
 * one engine call per option set, from the token ids the route computed. While the engine works,
 * new requests pile up, so batches grow with load and a lone request runs at
 * once. The engine parallelizes inside a call, so one engine thread keeps
 * every core busy. With serve --cluster (cluster.c) the calls are tasks for
 * workers, and several engine threads each wait on one.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "model/model-impl.h"
#include "server/server-impl.h"

static bool same_options(const srv_job *a, const srv_job *b)
{
    return a->normalize == b->normalize && a->classify == b->classify && a->raw == b->raw && a->states == b->states;
}

/* Rows of out a job fills: one per input, or with token states one per token. */
static size_t job_rows(const srv_job *job)
{
    size_t rows = job->states ? 0 : job->n;
    for (size_t j = 0; job->states && j < job->n; j++)
        rows += job->n_ids[j];
    return rows;
}

/* Embed jobs[0..n) that share a model and options; fill each job's out. */
static void run_group(srv_queue *q, srv_job **jobs, size_t n)
{
    size_t total = 0, rows = 0;
    for (size_t i = 0; i < n; i++) {
        total += jobs[i]->n;
        rows += job_rows(jobs[i]);
    }
    const int dim = jobs[0]->dim;
    const int32_t **ids = ia__malloc(total * sizeof *ids);
    const int32_t **types = jobs[0]->classify ? ia__calloc(total, sizeof *types) : NULL;
    size_t *n_ids = ia__malloc(total * sizeof *n_ids);
    float *out = ia__malloc((rows ? rows : 1) * (size_t)dim * sizeof *out);
    ia_status st = IA_OK;
    char msg[512] = "";
    int http_status = 0;
    srv_provenance prov;
    memset(&prov, 0, sizeof prov);
    ia_embed_stats stats = {0};
    double t0 = ia__now();
    if (!ids || !n_ids || !out || (jobs[0]->classify && !types)) {
        st = IA_ERR_NOMEM;
        snprintf(msg, sizeof msg, "out of memory for a batch of %zu texts", total);
    } else {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < jobs[i]->n; j++, k++) {
                ids[k] = jobs[i]->ids[j];
                n_ids[k] = jobs[i]->n_ids[j];
                if (types && jobs[i]->types)
                    types[k] = jobs[i]->types[j];
            }
        if (q->dispatch) {
            for (size_t i = 0; i < total; i++)
                stats.n_tokens += n_ids[i];
            st = ia__srv_dispatch_run(q->dispatch, q->metrics, jobs[0], ids, types, n_ids, total, rows, out, &prov,
                                      &http_status, msg, sizeof msg);
        } else {
            st = jobs[0]->classify ? ia__model_classify_ids(jobs[0]->model, ids, types, n_ids, total, jobs[0]->raw,
                                                            out, &stats)
               : jobs[0]->states ? ia__model_token_states_ids(jobs[0]->model, ids, n_ids, total, out, &stats)
                                 : ia__model_embed_ids(jobs[0]->model, ids, n_ids, total, jobs[0]->normalize, out,
                                                       &stats);
        }
        if (st && !msg[0])
            snprintf(msg, sizeof msg, "%s", ia_errmsg()[0] ? ia_errmsg() : ia_strerror(st));
    }
    double t1 = ia__now();
    ia__srv_metrics_batch(q->metrics, jobs[0]->model_index, total, stats.n_tokens, t1 - t0, st == IA_OK);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        srv_job *job = jobs[i];
        job->t_started = t0;
        job->t_done = t1;
        job->status = st;
        job->http_status = http_status;
        job->prov = prov;
        snprintf(job->errmsg, sizeof job->errmsg, "%s", msg);
        const size_t cnt = job_rows(job) * (size_t)dim;
        if (!st) {
            memcpy(job->out, out + k, cnt * sizeof(float));
            for (size_t j = 0; j < cnt; j++)
                if (!isfinite(job->out[j])) {
                    job->status = IA_ERR_BACKEND;
                    snprintf(job->errmsg, sizeof job->errmsg, "the engine produced a non-finite value (row %zu)",
                             j / (size_t)dim);
                    break;
                }
        }
        k += cnt;
    }
    ia__free(ids);
    ia__free(types);
    ia__free(n_ids);
    ia__free(out);
}

static void run_batch(srv_queue *q, srv_job **jobs, size_t n)
{
    bool *taken = ia__calloc(n, sizeof *taken);
    srv_job **group = ia__malloc(n * sizeof *group);
    if (!taken || !group) { /* out of memory: the jobs fail alone */
        for (size_t i = 0; i < n; i++) {
            ia_status st = jobs[i]->calib ? ia__srv_calib_ensure(jobs[i]->calib, jobs[i]->model, jobs[i]->errmsg,
                                                                 sizeof jobs[i]->errmsg)
                                          : IA_OK;
            if (st)
                jobs[i]->status = st;
            else
                run_group(q, &jobs[i], 1);
        }
    } else {
        /* int8/uint8 answers need their model's calibration: computed here
         * the first time, alone; a job it fails for fails with it. */
        for (size_t i = 0; i < n; i++)
            if (jobs[i]->calib) {
                char msg[sizeof jobs[i]->errmsg];
                ia_status st = ia__srv_calib_ensure(jobs[i]->calib, jobs[i]->model, msg, sizeof msg);
                if (st) {
                    taken[i] = true;
                    jobs[i]->status = st;
                    jobs[i]->http_status = 0;
                    jobs[i]->t_started = jobs[i]->t_done = ia__now();
                    memcpy(jobs[i]->errmsg, msg, sizeof msg);
                }
            }
        for (size_t i = 0; i < n; i++) {
            if (taken[i])
                continue;
            size_t g = 0;
            for (size_t j = i; j < n; j++)
                if (!taken[j] && same_options(jobs[i], jobs[j])) {
                    taken[j] = true;
                    group[g++] = jobs[j];
                }
            run_group(q, group, g);
        }
    }
    ia__free(taken);
    ia__free(group);
    /* Leave the count before answering, so a client that has its answer
     * never finds its own request still counted (a spurious 429). */
    pthread_mutex_lock(&q->lock);
    q->in_system -= n;
    pthread_mutex_unlock(&q->lock);
    /* Once done() runs, the job belongs to its request again. */
    for (size_t i = 0; i < n; i++)
        jobs[i]->done(jobs[i], jobs[i]->user);
}

/* One engine thread: batch is its own (max_in_system slots). Locally there
 * is one; serve --cluster runs several, each waiting on its own task. */
static void engine_loop(srv_queue *q, srv_job **batch)
{
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!q->head && !q->stop)
            pthread_cond_wait(&q->wake, &q->lock);
        if (!q->head)
            break;
        /* The oldest job and those right behind it for the same model, while
         * they fit the token budget. At most max_in_system jobs exist, the
         * capacity of q->batch. */
        size_t n = 0, tokens = 0;
        const ia_model *model = q->head->model;
        while (q->head && q->head->model == model &&
               (n == 0 || tokens + q->head->tokens <= q->max_batch_tokens)) {
            srv_job *j = q->head;
            q->head = j->next;
            j->next = NULL;
            batch[n++] = j;
            tokens += j->tokens;
            q->depth--;
        }
        if (!q->head)
            q->tail = NULL;
        q->busy = true;
        pthread_mutex_unlock(&q->lock);
        double now = ia__now();
        for (size_t i = 0; i < n; i++)
            ia__srv_metrics_queue_wait(q->metrics, now - batch[i]->t_queued);
        run_batch(q, batch, n);
        pthread_mutex_lock(&q->lock);
        q->busy = false;
        if (q->in_system == 0)
            pthread_cond_broadcast(&q->idle);
    }
    pthread_mutex_unlock(&q->lock);
}

static void *engine_thread(void *arg)
{
    srv_queue *q = arg;
    engine_loop(q, q->batch);
    return NULL;
}

static void *extra_engine_thread(void *arg)
{
    struct srv_engine *e = arg;
    engine_loop(e->q, e->batch);
    return NULL;
}

ia_status ia__srv_queue_set_dispatch(srv_queue *q, srv_dispatch *d, int n_threads)
{
    q->dispatch = d;
    for (int i = 1; i < n_threads && q->n_engines < SRV_MAX_ENGINES; i++) {
        struct srv_engine *e = &q->engines[q->n_engines];
        e->q = q;
        e->batch = ia__malloc((q->max_in_system ? q->max_in_system : 1) * sizeof *e->batch);
        if (!e->batch || pthread_create(&e->thread, NULL, extra_engine_thread, e)) {
            ia__free(e->batch);
            e->batch = NULL;
            return ia__error(IA_ERR_NOMEM, "cannot start the server's engine threads");
        }
        q->n_engines++;
    }
    return IA_OK;
}

ia_status ia__srv_queue_start(srv_queue *q, size_t max_in_system, size_t max_batch_tokens,
                              srv_metrics *metrics)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->wake, NULL);
    pthread_cond_init(&q->idle, NULL);
    q->max_in_system = max_in_system;
    q->max_batch_tokens = max_batch_tokens;
    q->metrics = metrics;
    q->batch = ia__malloc((max_in_system ? max_in_system : 1) * sizeof *q->batch);
    if (!q->batch || pthread_create(&q->thread, NULL, engine_thread, q)) {
        ia__free(q->batch);
        pthread_cond_destroy(&q->idle);
        pthread_cond_destroy(&q->wake);
        pthread_mutex_destroy(&q->lock);
        return ia__error(IA_ERR_NOMEM, "cannot start the server's engine thread");
    }
    q->running = true;
    return IA_OK;
}

bool ia__srv_queue_submit(srv_queue *q, srv_job *job)
{
    pthread_mutex_lock(&q->lock);
    if (q->stop || q->in_system >= q->max_in_system) {
        pthread_mutex_unlock(&q->lock);
        return false;
    }
    job->next = NULL;
    job->t_queued = ia__now();
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    q->depth++;
    q->in_system++;
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->lock);
    return true;
}

bool ia__srv_queue_drain(srv_queue *q, double seconds)
{
    if (!q->running)
        return true;
    double until = ia__now() + seconds;
    pthread_mutex_lock(&q->lock);
    while (q->in_system > 0 && ia__now() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&q->idle, &q->lock, &ts);
    }
    bool empty = q->in_system == 0;
    pthread_mutex_unlock(&q->lock);
    return empty;
}

void ia__srv_queue_stop(srv_queue *q)
{
    if (!q->running)
        return;
    pthread_mutex_lock(&q->lock);
    q->stop = true; /* the thread still serves what is queued, then exits */
    pthread_cond_broadcast(&q->wake);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    for (int i = 0; i < q->n_engines; i++)
        pthread_join(q->engines[i].thread, NULL);
    q->running = false;
}

void ia__srv_queue_close(srv_queue *q)
{
    if (!q->batch) /* never started, or closed */
        return;
    ia__free(q->batch);
    q->batch = NULL;
    for (int i = 0; i < q->n_engines; i++)
        ia__free(q->engines[i].batch);
    q->n_engines = 0;
    pthread_cond_destroy(&q->idle);
    pthread_cond_destroy(&q->wake);
    pthread_mutex_destroy(&q->lock);
}

void ia__srv_queue_stats(srv_queue *q, size_t *depth, size_t *in_system)
{
    pthread_mutex_lock(&q->lock);
    *depth = q->depth;
    *in_system = q->in_system;
    pthread_mutex_unlock(&q->lock);
}
