/*
 * The public cluster API (include/ipfs_accelerate/cluster.h) against a
 * real nats-server, run in two phases by tests/cluster/api_test.py, which
 * starts the server (and, between the phases, one worker):
 *
 *   test_cluster_api URL MODEL_DIR queue   no worker yet: this connection
 *       creates the task queue bounded to 3 tasks; 3 tasks fill it, a 4th
 *       fails with IA_ERR_BUSY at once and after wait_s; a result not come
 *       times out; bad arguments are IA_ERR_INVALID.
 *   test_cluster_api URL MODEL_DIR results   a worker (--threads 1) runs:
 *       the queued tasks' vectors equal an in-process embed of the same
 *       texts with one thread, bit for bit; a task the model refuses
 *       fails with IA_ERR_BACKEND naming the dead letters; the result
 *       cache: a connection whose memory holds one result finds the others
 *       in the cluster's bucket, evicts the least recently used, and gives
 *       the same bytes; the status JSON.
 *
 * In the sanitizer build it runs under ASan/UBSan like every C test.
 */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "cluster/cluster-impl.h"
#include "core/core-impl.h"
#include "ipfs_accelerate/ipfs_accelerate.h"
#include "test.h"

#define N_QUEUED 3

static const char *texts[N_QUEUED][2] = {
    {"the first task", "has two texts"}, {"the second task", "also two"}, {"the third", "and its last text"}};

static ia_status submit(ia_cluster *c, const char *model, int i, const ia_cluster_submit_options *o,
                        char id[IA_CLUSTER_TASK_ID_LEN + 1])
{
    size_t lens[2] = {strlen(texts[i][0]), strlen(texts[i][1])};
    return ia_cluster_submit(c, model, texts[i], lens, 2, o, id);
}

static void phase_queue(const char *url, const char *model)
{
    ia_cluster_options co = IA_CLUSTER_OPTIONS_INIT;
    co.client_name = "test_cluster_api";
    co.max_tasks = N_QUEUED;
    ia_cluster *c = NULL;
    CHECK_OK(ia_cluster_connect(url, &co, &c));
    if (!c)
        return;
    char id[IA_CLUSTER_TASK_ID_LEN + 1], first[IA_CLUSTER_TASK_ID_LEN + 1];
    ia_cluster_submit_options so = IA_CLUSTER_SUBMIT_OPTIONS_INIT;
    for (int i = 0; i < N_QUEUED; i++)
        CHECK_OK(submit(c, model, i, &so, i ? id : first));
    CHECK(strlen(first) == IA_CLUSTER_TASK_ID_LEN);
    /* the same task again: deduplicated, not refused, the same id */
    CHECK_OK(submit(c, model, 0, &so, id));
    CHECK(!strcmp(id, first));

    const char *extra[] = {"one task too many"};
    size_t extra_len[] = {strlen(extra[0])};
    double t0 = ia__now();
    CHECK(ia_cluster_submit(c, model, extra, extra_len, 1, &so, id) == IA_ERR_BUSY);
    CHECK(ia__now() - t0 < 2);
    CHECK_STR_CONTAINS(ia_errmsg(), "IA_TASKS");
    CHECK_STR_CONTAINS(ia_errmsg(), "bound 3 tasks");
    CHECK(id[0] == '\0');
    so.wait_s = 0.3;
    t0 = ia__now();
    CHECK(ia_cluster_submit(c, model, extra, extra_len, 1, &so, id) == IA_ERR_BUSY);
    CHECK(ia__now() - t0 >= 0.3 && ia__now() - t0 < 3);

    so.wait_s = 0;
    so.priority = IA_CLUSTER_PRIORITIES;
    CHECK(ia_cluster_submit(c, model, extra, extra_len, 1, &so, id) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "priority 3");
    so.priority = 0;
    so.dimensions = -1;
    CHECK(ia_cluster_submit(c, model, extra, extra_len, 1, &so, id) == IA_ERR_INVALID);

    float *vecs = (float *)1;
    size_t n = 7;
    int dim = 7;
    t0 = ia__now();
    CHECK(ia_cluster_result(c, first, 0.2, &vecs, &n, &dim) == IA_ERR_TIMEOUT);
    CHECK(ia__now() - t0 >= 0.2 && ia__now() - t0 < 3);
    CHECK(!vecs && !n && !dim);
    CHECK_STR_CONTAINS(ia_errmsg(), "no result after");
    CHECK(ia_cluster_result(c, "not-an-id", 0, &vecs, &n, &dim) == IA_ERR_INVALID);

    char *json = NULL;
    CHECK_OK(ia_cluster_status_json(c, &json));
    cJSON *st = json ? cJSON_Parse(json) : NULL;
    cJSON *q = cJSON_GetObjectItem(st, "queue");
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(q, "tasks")) == N_QUEUED);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(q, "max_tasks")) == N_QUEUED);
    cJSON_Delete(st);
    ia_free(json);
    ia_cluster_free(c);
}

static void phase_results(const char *url, const char *model_dir)
{
    ia_cluster *c = NULL;
    CHECK_OK(ia_cluster_connect(url, NULL, &c));
    ia_model_options mo = {.size = sizeof mo, .n_threads = 1};
    ia_model *m = NULL;
    CHECK_OK(ia_model_load(model_dir, &mo, &m));
    if (!c || !m)
        return;
    int d = ia_model_dim(m);
    ia_cluster_submit_options so = IA_CLUSTER_SUBMIT_OPTIONS_INIT;
    for (int i = 0; i < N_QUEUED; i++) {
        char id[IA_CLUSTER_TASK_ID_LEN + 1];
        CHECK_OK(submit(c, model_dir, i, &so, id)); /* its id again (the task is queued or done) */
        float *vecs = NULL, *want = malloc(2 * (size_t)d * sizeof *want);
        size_t n = 0, lens[2] = {strlen(texts[i][0]), strlen(texts[i][1])};
        int dim = 0;
        CHECK_OK(ia_cluster_result(c, id, 60, &vecs, &n, &dim));
        CHECK_OK(ia_model_embed_opts(m, texts[i], lens, 2, NULL, want, NULL));
        CHECK(n == 2 && dim == d);
        CHECK_MSG(vecs && n == 2 && dim == d && !memcmp(vecs, want, 2 * (size_t)d * sizeof *want),
                  "task %d: the worker's vectors differ from an in-process embed", i);
        ia_free(vecs);
        free(want);
    }
    /* The cache tiers on a second connection whose memory holds one
     * result: lookups go memory, then the bucket; the same bytes. */
    ia_cluster_options co = IA_CLUSTER_OPTIONS_INIT;
    co.cache_bytes = 2 * (long long)d * (long long)sizeof(float);
    ia_cluster *c2 = NULL;
    CHECK_OK(ia_cluster_connect(url, &co, &c2));
    const int order[] = {0, 0, 1, 1, 0};
    const int tier[] = {IA_FOUND_CLUSTER, IA_FOUND_MEMORY, IA_FOUND_CLUSTER, IA_FOUND_MEMORY, IA_FOUND_CLUSTER};
    unsigned long want_hits[3] = {0};
    for (int k = 0; c2 && k < 5; k++) {
        char id[IA_CLUSTER_TASK_ID_LEN + 1], id1[IA_CLUSTER_TASK_ID_LEN + 1];
        CHECK_OK(submit(c2, model_dir, order[k], &so, id));
        want_hits[tier[k]]++;
        ia_cluster_cache_stats cs;
        ia__cluster_cache_stats(c2, &cs);
        CHECK_MSG(cs.hits_memory == want_hits[IA_FOUND_MEMORY] && cs.hits_cluster == want_hits[IA_FOUND_CLUSTER] &&
                  cs.misses == 0, "lookup %d: %lu memory and %lu cluster hits, %lu misses", k, cs.hits_memory,
                  cs.hits_cluster, cs.misses);
        CHECK(cs.entries == 1 && cs.bytes <= (size_t)co.cache_bytes); /* the bound: the older one went */
        float *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        int da = 0, db = 0;
        CHECK_OK(ia_cluster_result(c2, id, 10, &a, &na, &da));
        CHECK_OK(submit(c, model_dir, order[k], &so, id1));
        CHECK_OK(ia_cluster_result(c, id1, 10, &b, &nb, &db));
        CHECK(!strcmp(id, id1) && a && b && na == nb && da == db && !memcmp(a, b, na * (size_t)da * sizeof *a));
        ia_free(a);
        ia_free(b);
    }
    ia_cluster_free(c2);

    /* a task the model refuses ends in the dead letters, with its error */
    so.dimensions = 100000;
    char id[IA_CLUSTER_TASK_ID_LEN + 1];
    CHECK_OK(submit(c, model_dir, 0, &so, id));
    float *vecs = NULL;
    size_t n;
    int dim;
    CHECK(ia_cluster_result(c, id, 60, &vecs, &n, &dim) == IA_ERR_BACKEND);
    CHECK_STR_CONTAINS(ia_errmsg(), "dead letters");
    CHECK_STR_CONTAINS(ia_errmsg(), "dimensions 100000");
    CHECK(!vecs);
    /* an empty task is a task too: no vectors */
    so.dimensions = 0;
    CHECK_OK(ia_cluster_submit(c, model_dir, NULL, NULL, 0, &so, id));
    CHECK_OK(ia_cluster_result(c, id, 60, &vecs, &n, &dim));
    CHECK(n == 0);
    ia_free(vecs);

    char *json = NULL;
    CHECK_OK(ia_cluster_status_json(c, &json));
    cJSON *st = json ? cJSON_Parse(json) : NULL;
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(st, "workers")) == 1);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(st, "dead_letters")) >= 1);
    cJSON_Delete(st);
    ia_free(json);
    ia_model_free(m);
    ia_cluster_free(c);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: test_cluster_api URL MODEL_DIR queue|results\n");
        return 2;
    }
    if (!strcmp(argv[3], "queue"))
        phase_queue(argv[1], argv[2]);
    else
        phase_results(argv[1], argv[2]);
    return test_summary("test_cluster_api");
}
