/*
 * serve --cluster (docs/distributed.md): the batching queue's engine calls
 * sent to workers on NATS JetStream instead of the local engine. The
 * routes parse, tokenize and check requests as they do locally; a batch
 * becomes one ids task (the token ids, the kind of call, the model's CID),
 * routed by the CID as embed --cluster's tasks are (to the model's holders,
 * else to any worker, which fetches it), so the worker makes exactly the
 * engine call a local server would and the answer has the same bytes (with
 * workers at the local --threads). Several
 * engine threads each wait on a task of their own, so several workers
 * compute at once. A full queue is 429, a dead letter 502 naming the
 * worker's error, no result within the timeout 504, NATS away 503.
 */
#include <stdio.h>
#include <string.h>

#include "cluster/cluster-impl.h"
#include "server/server-impl.h"

ia_status ia__srv_dispatch_model(srv_dispatch *d, int i, const char *path)
{
    if (i < 0 || i >= SRV_MAX_MODELS)
        return ia__error(IA_ERR_INVALID, "model index %d", i);
    return ia__cluster_model_cid(path, d->cids[i]);
}

static void count(srv_metrics *m, unsigned long *counter, double seconds)
{
    pthread_mutex_lock(&m->lock);
    (*counter)++;
    m->cluster_seconds += seconds;
    pthread_mutex_unlock(&m->lock);
}

ia_status ia__srv_dispatch_run(srv_dispatch *d, srv_metrics *m, srv_job *job0, const int32_t **ids,
                               const int32_t **types, const size_t *n_ids, size_t total, size_t rows, float *out,
                               srv_provenance *prov, int *http_status, char *msg, size_t cap)
{
    const int i = job0->model_index;
    ia_cluster_ids_task t = {
        .kind = job0->states ? IA_IDS_STATES
              : job0->classify ? (job0->raw ? IA_IDS_CLASSIFY_RAW : IA_IDS_CLASSIFY)
                               : IA_IDS_EMBED,
        .normalize = job0->normalize != 0,
        .dim = job0->dim,
        .n = total,
        .ids = ids,
        .types = types,
        .n_ids = (size_t *)n_ids,
    };
    snprintf(t.model_cid, sizeof t.model_cid, "%s", d->cids[i]);
    double t0 = ia__now();
    uint8_t *body = NULL;
    size_t len = 0;
    char id[IA_CLUSTER_ID_LEN + 1];
    int found = IA_FOUND_NONE;
    ia_status st = ia__cluster_ids_encode(&t, &body, &len);
    if (!st)
        st = ia__cluster_submit_ids(d->cluster, d->cids[i], body, len, d->priority, 0, d->timeout_s, id, &found);
    ia__free(body);
    float *v = NULL;
    size_t n = 0;
    int dim = 0;
    ia_cluster_provenance p;
    memset(&p, 0, sizeof p);
    if (!st) /* the request's whole wait is bounded by the timeout */
        st = ia__cluster_result_ex(d->cluster, id, IA_MAX(d->timeout_s - (ia__now() - t0), 0.001), &v, &n, &dim,
                                   &p);
    if (!st) { /* a result from a worker of an earlier version does not say */
        snprintf(prov->worker, sizeof prov->worker, "%s", p.worker[0] ? p.worker : "unknown");
        snprintf(prov->backend, sizeof prov->backend, "%s", p.backend[0] ? p.backend : "unknown");
        snprintf(prov->precision, sizeof prov->precision, "%s", p.precision[0] ? p.precision : "unknown");
    }
    if (!st && (n != rows || dim != job0->dim))
        st = ia__error(IA_ERR_BACKEND, "task %s: the worker's result has %zu x %d values, %zu x %d were asked for",
                       id, n, dim, rows, job0->dim);
    if (!st)
        memcpy(out, v, rows * (size_t)dim * sizeof *out);
    ia__free(v);
    double dt = ia__now() - t0;
    if (!st) {
        count(m, found == IA_FOUND_MEMORY    ? &m->cluster_cached
                 : found == IA_FOUND_DISK    ? &m->cluster_disk
                 : found == IA_FOUND_CLUSTER ? &m->cluster_stored
                                             : &m->cluster_tasks,
              dt);
        return IA_OK;
    }
    const char *e = ia_errmsg()[0] ? ia_errmsg() : ia_strerror(st);
    switch (st) {
    case IA_ERR_BUSY:
        *http_status = 429;
        count(m, &m->cluster_busy, dt);
        snprintf(msg, cap, "the cluster's task queue is full; retry later: %s", e);
        break;
    case IA_ERR_TIMEOUT:
        *http_status = 504;
        count(m, &m->cluster_timeouts, dt);
        snprintf(msg, cap, "no worker answered within %.0f s (serve --cluster-timeout): %s", d->timeout_s, e);
        break;
    case IA_ERR_BACKEND:
        *http_status = 502;
        count(m, &m->cluster_failed, dt);
        snprintf(msg, cap, "the worker failed: %s", e);
        break;
    default:
        *http_status = 503;
        count(m, &m->cluster_errors, dt);
        snprintf(msg, cap, "the cluster cannot be reached: %s", e);
        break;
    }
    return st;
}

int ia__srv_provenance_headers(const srv_job *job, const char **hdrs, int at)
{
    if (!job->prov.backend[0])
        return at;
    hdrs[at++] = "X-Backend";
    hdrs[at++] = job->prov.backend;
    hdrs[at++] = "X-Precision";
    hdrs[at++] = job->prov.precision;
    hdrs[at++] = "X-Cluster-Worker";
    hdrs[at++] = job->prov.worker;
    return at;
}
