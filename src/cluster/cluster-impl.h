/*
 * Distributed embedding on NATS JetStream (docs/distributed.md): workers
 * anywhere pull tasks from a work-queue stream, store each result durably,
 * and only then acknowledge the task; submitters split their input into
 * shards, queue them and read the results back in input order.
 *
 * protocol.c holds what needs no NATS: names, content-derived shard ids and
 * the task and result wire formats. nats.c is the NATS side, built when
 * libnats is found (IA_HAVE_NATS); nats-none.c stands in for it otherwise
 * and fails every call with IA_ERR_UNSUPPORTED, saying why. The CLI
 * (tools/ipfs-accelerate/cmd_cluster.c) is the only caller. Never installed.
 *
 * The design, in one place (names are fixed; see docs/distributed.md):
 *   stream IA_TASKS    subjects ia.task.>      work queue, file storage,
 *                      bounded (max messages and bytes, discard new)
 *     task subject     ia.task.embed.<model>.p<priority>.<shard id>   Nats-Msg-Id = shard id
 *     consumers        embed-<model>-p<priority>, ia.task.embed.<model>.p<priority>.*,
 *                      durable pull, explicit ack: one per level, the
 *                      highest non-empty one fetched first
 *   models by CID (a task with header Ia-Model-Cid: <CID>):
 *     held             ia.task.cid.<CID>.p<priority>.<shard id>, consumer cid-<CID>-p<priority>:
 *                      queued there while a live worker advertises the CID
 *     nobody holds it  ia.task.any.p<priority>.<shard id>, consumer any-p<priority>: any
 *                      worker with room takes it, fetches the model from a
 *                      peer's gateway (every block verified), then computes
 *   KV bucket          ia_results (stream KV_ia_results), key = shard id,
 *                      subject $KV.ia_results.<shard id>, Nats-Msg-Id = r-<shard id>;
 *                      TTL and size bound (oldest dropped): the cluster's result cache
 *   stream IA_DEAD     subjects ia.dead.>      dead letters (Ia-Error header)
 *   KV bucket          ia_workers              worker adverts, with a TTL: models
 *                      (CIDs) held, gateway URL, hardware, draining
 *   KV bucket          ia_clients              submitters' cache hit counts
 */
#ifndef IA_CLUSTER_IMPL_H
#define IA_CLUSTER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipfs_accelerate/ipfs_accelerate.h"

#define IA_CLUSTER_STREAM_TASKS "IA_TASKS"
/* Results: a key-value bucket (the cluster-wide cache tier), key = task id */
#define IA_CLUSTER_KV_RESULTS "ia_results"
#define IA_CLUSTER_STREAM_RESULTS "KV_ia_results"     /* the bucket's stream */
#define IA_CLUSTER_RESULT_PREFIX "$KV.ia_results."     /* + task id: its subject */
#define IA_CLUSTER_KV_CLIENTS "ia_clients"             /* submitters' cache counters */
#define IA_CLUSTER_STREAM_DEAD "IA_DEAD"
#define IA_CLUSTER_KV_WORKERS "ia_workers"
#define IA_CLUSTER_ID_LEN 32 /* hex characters of a shard id (128 bits) */

/* ---- protocol.c: no NATS needed ---- */

/* The name tasks use for a model: the last path component of its folder,
 * with every character outside [A-Za-z0-9_-] made '_' (a subject token).
 * Submitter and workers derive it the same way, so `--model X` on both
 * sides meets on ia.task.embed.<name>.>. Fails (IA_ERR_INVALID) on an empty
 * name; out has room for 64 bytes. */
ia_status ia__cluster_model_name(const char *model, char out[64]);

/* What a task asks of the model besides its texts. */
typedef struct ia_cluster_task_opts {
    int dimensions;          /* 0: all */
    const char *prompt_name; /* NULL: the model's default; "": none */
    int priority;            /* the subject's level; not in the task or its id (same input, same result) */
    bool by_cid;             /* the model name is a CID (ia__cluster_cid_key): routed to its holders */
} ia_cluster_task_opts;

/* The shard id: SHA-256 over the format version, the model name, the
 * options and the texts, as IA_CLUSTER_ID_LEN hex digits. Equal inputs give
 * equal ids on every machine, so a rerun finds the results it already has
 * and JetStream's Nats-Msg-Id dedupes a task queued twice. */
ia_status ia__cluster_shard_id(const char *model_name, const ia_cluster_task_opts *o,
                               const char *const *texts, const size_t *lens, size_t n,
                               char id[IA_CLUSTER_ID_LEN + 1]);

/* Task body: "IAT1", u32 dimensions, i32 prompt length (-1: NULL), the
 * prompt, u32 n, then n times (u32 length, bytes); little-endian. *out is
 * the caller's (ia__free). */
ia_status ia__cluster_task_encode(const ia_cluster_task_opts *o, const char *const *texts,
                                  const size_t *lens, size_t n, uint8_t **out, size_t *out_len);
/* A decoded task points into the body it came from (which must outlive
 * it); texts/lens are owned by it (ia__cluster_task_close). IA_ERR_FORMAT
 * when the body is not a well-formed task. */
typedef struct ia_cluster_task {
    ia_cluster_task_opts opts;
    char *prompt; /* NUL-terminated copy of the prompt name, or NULL */
    const char **texts;
    size_t *lens;
    size_t n;
} ia_cluster_task;
ia_status ia__cluster_task_decode(const uint8_t *body, size_t len, ia_cluster_task *t);
void ia__cluster_task_close(ia_cluster_task *t);

/* Result body: "IAR1", u32 n, u32 dim, n*dim float32 little-endian (the
 * vectors' exact bits). decode: *vecs is a copy, the caller's (ia__free). */
ia_status ia__cluster_result_encode(const float *vecs, size_t n, int dim, uint8_t **out, size_t *out_len);
ia_status ia__cluster_result_decode(const uint8_t *body, size_t len, float **vecs, size_t *n, int *dim);

/* A task given as token ids (what `serve --cluster` sends: its routes
 * tokenize, truncate and prompt as a local server does, so the workers
 * compute exactly the local engine call). Body: "IAI1", u32 length and the
 * model's CID (the worker checks it is its own), u32 kind, u32 normalize,
 * u32 dim (values per row the sender expects), u32 n, u32 has_types, then
 * n times (u32 count, count i32 ids, and count i32 types if has_types);
 * little-endian. A decoded task points into its body. */
enum { IA_IDS_EMBED = 0, IA_IDS_STATES = 1, IA_IDS_CLASSIFY = 2, IA_IDS_CLASSIFY_RAW = 3 };
typedef struct ia_cluster_ids_task {
    char model_cid[IA_CID_STR_MAX];
    int kind;       /* IA_IDS_* */
    bool normalize; /* IA_IDS_EMBED: L2-normalize the vectors */
    int dim;        /* values per output row */
    size_t n;       /* inputs */
    const int32_t **ids, **types; /* (n) types NULL when the task has none */
    size_t *n_ids;
} ia_cluster_ids_task;
ia_status ia__cluster_ids_encode(const ia_cluster_ids_task *t, uint8_t **out, size_t *out_len);
/* Decoded ids are copies (ia__cluster_ids_close frees them). */
ia_status ia__cluster_ids_decode(const uint8_t *body, size_t len, ia_cluster_ids_task *t);
void ia__cluster_ids_close(ia_cluster_ids_task *t);
/* The id of an ids task: SHA-256 of a format version, the model's key
 * (its CID; tasks of earlier servers: its name) and the whole body (which
 * holds the model's CID), so a result is found only for the same weights
 * and the same inputs. */
ia_status ia__cluster_ids_shard_id(const char *model_name, const uint8_t *body, size_t len,
                                   char id[IA_CLUSTER_ID_LEN + 1]);
/* The model folder's CID, as `ipfs add -r --only-hash DIR` gives it
 * (kubo's defaults, CIDv0): the identity of its weights, tokenizer and
 * configuration. Reads every file once. */
ia_status ia__cluster_model_cid(const char *dir, char out[IA_CID_STR_MAX]);

/* A model reference "ipfs://CID", "/ipfs/CID" or a bare CID as the key
 * tasks use for it: a dag-pb sha2-256 CID in its v0 spelling (as
 * ia__cluster_model_cid gives it), any other in base32 v1, so one DAG has
 * one subject token. IA_ERR_INVALID naming ref otherwise (or with a path). */
ia_status ia__cluster_cid_key(const char *ref, char out[IA_CID_STR_MAX]);

/* ---- nats.c (or nats-none.c) ---- */

/* The connection is public (ia_cluster_connect, ia_cluster_free in
 * include/ipfs_accelerate/cluster.h), as are single tasks
 * (ia_cluster_submit, ia_cluster_result) for the Python binding. */

typedef struct ia_cluster_worker_config {
    const char *name;       /* advertised in ia_workers; unique per worker */
    const char *model_name; /* ia__cluster_model_name of the model */
    ia_model *model;        /* loaded by the caller, used by this thread only */
    int threads;            /* advertised */
    int ack_wait_s;         /* the consumer's ack wait, when this worker creates it */
    int max_deliver;        /* a failing task goes to the dead letters at this delivery */
    const char *model_cid;  /* ia__cluster_model_cid of the model: ids tasks for other weights are refused */
    volatile int *stop;     /* non-zero: return after the task in hand */
    /* Models by CID. model may be NULL (a worker that only fetches); then
     * fetch_cid, if set, is fetched and loaded before the first task. */
    const char *fetch_cid;     /* an ia__cluster_cid_key */
    int max_models;            /* models held at once, model included; 0: 2. Beyond, the least
                                  recently used one taken up (not model, not fetch_cid) is
                                  unloaded once idle for a while (kept in the store) */
    const char *device;        /* for models it fetches (NULL: auto) */
    const char *store_home;    /* the blockstore models are fetched into (NULL: ia_store_home) */
    const char *gateway_url;   /* advertised: a trustless gateway serving that store (NULL: none) */
    volatile int *draining;    /* non-zero: take no task, advertise that (the gateway still serves) */
    /* An idle worker with room takes up a model whose oldest task has
     * waited this long for its holders (<= 0: never). */
    double spread_after_s;
} ia_cluster_worker_config;
/* Pull and run tasks until *stop. Logs each task at IA_LOG_INFO. Returns
 * 0 when stopped, or a failure to bind the consumer. */
ia_status ia__cluster_worker_run(ia_cluster *c, const ia_cluster_worker_config *cfg);

/* A submitter's job: shards added in input order, results read back in
 * that order. Not thread-safe. */
typedef struct ia_cluster_job ia_cluster_job;
ia_status ia__cluster_job_new(ia_cluster *c, const char *model_name, const ia_cluster_task_opts *o,
                              ia_cluster_job **out);
/* One shard: its result is looked up first (a rerun does not queue what is
 * done), else the task is queued, durably (after JetStream's ack). The
 * task body is kept until the result is in, to queue it again should the
 * server lose it. */
ia_status ia__cluster_job_add(ia_cluster_job *j, const char *const *texts, const size_t *lens, size_t n);

typedef struct ia_cluster_progress {
    size_t shards, shards_done, shards_found; /* found: had a result before this run */
    size_t texts, texts_done;
} ia_cluster_progress;
/* rows: the vectors of the next shard in input order (n x dim). progress:
 * about twice a second, and once at the end. Returns 0 when every shard
 * was handed to rows; IA_ERR_BACKEND naming the shard, its texts and the
 * worker's error when a shard reached the dead letters; IA_ERR_TIMEOUT
 * after timeout_s without any progress (0: wait for ever). */
typedef void (*ia_cluster_rows_fn)(void *ud, const float *vecs, size_t n, int dim);
typedef void (*ia_cluster_progress_fn)(void *ud, const ia_cluster_progress *p);
ia_status ia__cluster_job_wait(ia_cluster_job *j, double timeout_s, ia_cluster_rows_fn rows,
                               ia_cluster_progress_fn progress, void *ud);
/* The job's id: a hash of its shard ids, for messages. */
const char *ia__cluster_job_id(ia_cluster_job *j);
void ia__cluster_job_free(ia_cluster_job *j);

/* Queue an ids task (body from ia__cluster_ids_encode) for model cid (an
 * ia__cluster_model_cid, the one in the body) at a priority level, as
 * ia_cluster_submit does a text task by CID: to the model's holders, else
 * to any worker, which fetches it; not when its result is cached (*found:
 * IA_FOUND_*), IA_ERR_BUSY when the queue stayed full for wait_s,
 * IA_ERR_IO when the server stayed away for outage_s. id receives the
 * task's id (keyed by the CID), for ia_cluster_result. */
ia_status ia__cluster_submit_ids(ia_cluster *c, const char *cid, const uint8_t *body, size_t len, int priority,
                                 double wait_s, double outage_s, char id[IA_CLUSTER_ID_LEN + 1], int *found);

/* Where a submitted task's result was found: not yet (queued), in this
 * process's memory, in the cluster's result bucket, in this machine's disk
 * tier (ia_cluster_options.cache_dir). */
enum { IA_FOUND_NONE = 0, IA_FOUND_MEMORY = 1, IA_FOUND_CLUSTER = 2, IA_FOUND_DISK = 3 };

/* Who computed a result, from its headers (Ia-Worker, Ia-Backend,
 * Ia-Precision; "" when a worker of an earlier version did not say). */
typedef struct ia_cluster_provenance {
    char worker[96], backend[32], precision[16];
} ia_cluster_provenance;
/* ia_cluster_result, and who computed the result (prov may be NULL). */
ia_status ia__cluster_result_ex(ia_cluster *c, const char *task_id, double timeout_s, float **vecs, size_t *n,
                                int *dim, ia_cluster_provenance *prov);

/* This process's result cache counters (all submits on this connection). */
typedef struct ia_cluster_cache_stats {
    unsigned long hits_memory, hits_cluster, misses;
    size_t entries, bytes; /* the in-memory tier now */
    unsigned long hits_disk;
    size_t disk_bytes, disk_max; /* the disk tier now (0, 0: none) */
} ia_cluster_cache_stats;
void ia__cluster_cache_stats(ia_cluster *c, ia_cluster_cache_stats *out);

/* The cluster at a glance, as JSON owned by the caller (cJSON_Delete):
 * {"workers":[{name,host,model,threads,tasks_done,tasks_failed,
 *  last_seen_s}], "queue":{"tasks","oldest_age_s","in_flight",
 *  "redelivered"}, "results", "dead_letters"}. */
struct cJSON;
ia_status ia__cluster_status(ia_cluster *c, struct cJSON **out);

#endif
