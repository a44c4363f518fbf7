/*
 * The cluster in a build without the NATS C client (libnats was not found
 * when the build was configured): every entry point of nats.c fails with
 * IA_ERR_UNSUPPORTED and says how to get one, so the CLI's cluster
 * commands explain themselves instead of being absent.
 */
#include <string.h>

#include "cluster/cluster-impl.h"
#include "core/core-impl.h"

static ia_status no_nats(void)
{
    return ia__error(IA_ERR_UNSUPPORTED, "this build has no NATS support: libnats (the NATS C client, Debian's "
                     "libnats-dev) was not found when it was configured; install it (scripts/install-deps.sh) "
                     "and configure again");
}

ia_status ia_cluster_connect(const char *url, const ia_cluster_options *opt, ia_cluster **out)
{
    (void)url, (void)opt;
    if (out)
        *out = NULL;
    return no_nats();
}

void ia_cluster_free(ia_cluster *c) { (void)c; }

ia_status ia_cluster_submit(ia_cluster *c, const char *model, const char *const *texts, const size_t *lens,
                           size_t n, const ia_cluster_submit_options *opt, char task_id[IA_CLUSTER_TASK_ID_LEN + 1])
{
    (void)c, (void)model, (void)texts, (void)lens, (void)n, (void)opt;
    if (task_id)
        task_id[0] = '\0';
    return no_nats();
}

ia_status ia_cluster_result(ia_cluster *c, const char *task_id, double timeout_s, float **vecs, size_t *n, int *dim)
{
    (void)c, (void)task_id, (void)timeout_s;
    if (vecs)
        *vecs = NULL;
    if (n)
        *n = 0;
    if (dim)
        *dim = 0;
    return no_nats();
}

ia_status ia_cluster_status_json(ia_cluster *c, char **out)
{
    (void)c;
    if (out)
        *out = NULL;
    return no_nats();
}

ia_status ia__cluster_worker_run(ia_cluster *c, const ia_cluster_worker_config *cfg)
{
    (void)c, (void)cfg;
    return no_nats();
}

ia_status ia__cluster_job_new(ia_cluster *c, const char *model_name, const ia_cluster_task_opts *o,
                              ia_cluster_job **out)
{
    (void)c, (void)model_name, (void)o;
    if (out)
        *out = NULL;
    return no_nats();
}

ia_status ia__cluster_job_add(ia_cluster_job *j, const char *const *texts, const size_t *lens, size_t n)
{
    (void)j, (void)texts, (void)lens, (void)n;
    return no_nats();
}

ia_status ia__cluster_job_wait(ia_cluster_job *j, double timeout_s, ia_cluster_rows_fn rows,
                               ia_cluster_progress_fn progress, void *ud)
{
    (void)j, (void)timeout_s, (void)rows, (void)progress, (void)ud;
    return no_nats();
}

const char *ia__cluster_job_id(ia_cluster_job *j)
{
    (void)j;
    return "";
}

void ia__cluster_job_free(ia_cluster_job *j) { (void)j; }

ia_status ia__cluster_status(ia_cluster *c, struct cJSON **out)
{
    (void)c;
    if (out)
        *out = NULL;
    return no_nats();
}

ia_status ia__cluster_submit_ids(ia_cluster *c, const char *cid, const uint8_t *body, size_t len, int priority,
                                 double wait_s, double outage_s, char id[IA_CLUSTER_ID_LEN + 1], int *found)
{
    (void)c, (void)cid, (void)body, (void)len, (void)priority, (void)wait_s, (void)outage_s, (void)id;
    *found = IA_FOUND_NONE;
    return no_nats();
}

void ia__cluster_cache_stats(ia_cluster *c, ia_cluster_cache_stats *out)
{
    (void)c;
    memset(out, 0, sizeof *out);
}

ia_status ia__cluster_result_ex(ia_cluster *c, const char *task_id, double timeout_s, float **vecs, size_t *n,
                                int *dim, ia_cluster_provenance *prov)
{
    (void)prov;
    return ia_cluster_result(c, task_id, timeout_s, vecs, n, dim);
}
