/*
 * Submitting embedding tasks to a cluster of workers on NATS JetStream and
 * collecting their results, one task at a time (docs/distributed.md): what
 * the Python DistributedComputeCoordinator is built on. Workers are started
 * with `ipfs-accelerate worker`; the whole-file front-end is
 * `ipfs-accelerate embed --cluster`, which uses the same streams.
 *
 * A task is a list of texts embedded by one call of the model on a worker
 * (one batch), so its vectors are those of a local ia_model_embed_opts on
 * the same texts with the workers' thread count. Its id is derived from its
 * content (model name, options, texts): submitting the same task twice
 * queues it once, and a task whose result is stored (24 h) is not queued
 * again.
 *
 * In a build without libnats every function fails with IA_ERR_UNSUPPORTED
 * saying so. A connection may be used from several threads at once.
 */
#ifndef IPFS_ACCELERATE_CLUSTER_H
#define IPFS_ACCELERATE_CLUSTER_H

#include <stddef.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ia_cluster ia_cluster;

/* Every field's zero value is its default; size is the caller's sizeof
 * (IA_CLUSTER_OPTIONS_INIT; 0: this header's), so the struct can grow. */
typedef struct ia_cluster_options {
    size_t size;
    const char *client_name; /* shown by the server (connz); NULL: "ipfs-accelerate" */
    /* The task queue's bound, set when this connection creates the stream
     * (the first client of a server does): tasks waiting or in flight, and
     * their bytes. Beyond it a submit waits or fails with IA_ERR_BUSY.
     * 0: 100,000 tasks, 1 GiB. */
    long max_tasks;
    long long max_task_bytes;
    /* Credentials, as the server's authorization block asks (NULL: none;
     * a nats://user:password@host URL works too): a user and password, or
     * a token, or a .creds file (a JWT and nkey seed, for decentralized
     * auth). A server that refuses them fails the connect (IA_ERR_IO
     * naming the server's "Authorization Violation"). */
    const char *user;
    const char *password;
    const char *token;
    const char *creds_file;
    /* TLS: tls_ca, the PEM file of the CA that signed the server's
     * certificate (setting it requires TLS; NULL: the system's CAs when
     * the URL is tls://); tls_cert and tls_key, this client's PEM
     * certificate and key when the server verifies clients. */
    const char *tls_ca;
    const char *tls_cert;
    const char *tls_key;
    /* Result cache tiers: results are kept by task id (the model and the
     * input's hash) in this process's memory, least recently used dropped
     * beyond cache_bytes (0: 64 MiB, < 0: none), and cluster-wide in the
     * key-value bucket ia_results, made by the first client of a server
     * with result_ttl_s (0: 24 h) and result_max_bytes (0: 1 GiB; the
     * oldest results are dropped beyond it). A cached result is the stored
     * bytes of the first computation. */
    long long cache_bytes;
    double result_ttl_s;
    long long result_max_bytes;
    /* The disk tier, between memory and the bucket (NULL or "": none): the
     * results this process computed or read, one file each under cache_dir
     * (made if missing), the least recently used removed beyond
     * cache_dir_bytes (0: 1 GiB). Workers look there before computing, so
     * a restarted worker answers what it computed before from disk. */
    const char *cache_dir;
    long long cache_dir_bytes;
} ia_cluster_options;

#define IA_CLUSTER_OPTIONS_INIT {.size = sizeof(ia_cluster_options)}

/* Connect to the NATS server(s) at url (nats://HOST:PORT, several separated
 * by commas) and make the cluster's streams and bucket if missing. The
 * first connection is tried for up to 10 s, then the client reconnects for
 * ever. IA_ERR_IO names the URL and the server's answer. *out is the
 * caller's (ia_cluster_free). */
IA_API ia_status ia_cluster_connect(const char *url, const ia_cluster_options *opt, ia_cluster **out);
IA_API void ia_cluster_free(ia_cluster *c);

typedef struct ia_cluster_submit_options {
    size_t size;
    int dimensions;          /* 0: all the model's dimensions (Matryoshka truncation otherwise) */
    const char *prompt_name; /* NULL: the model's default prompt; "": none */
    int priority;            /* 0 (default) to IA_CLUSTER_PRIORITIES - 1: higher levels are taken first */
    double wait_s;           /* the queue is full: wait this long for room (< 0: for ever), then IA_ERR_BUSY */
} ia_cluster_submit_options;

#define IA_CLUSTER_PRIORITIES 3

#define IA_CLUSTER_SUBMIT_OPTIONS_INIT {.size = sizeof(ia_cluster_submit_options)}

#define IA_CLUSTER_TASK_ID_LEN 32 /* hex digits of a task id */

/* Queue an embedding task of n texts (lens[i] bytes each) for the workers
 * of model (a folder path or name: workers meet on its last component, as
 * `worker --model DIR` takes it). Returns once JetStream has stored the
 * task, or at once when its result is stored already; task_id receives the
 * task's content-derived id. IA_ERR_BUSY when the queue stayed full for
 * opt->wait_s (it names the bound); IA_ERR_INVALID for a priority out of
 * range. */
IA_API ia_status ia_cluster_submit(ia_cluster *c, const char *model, const char *const *texts, const size_t *lens,
                                   size_t n, const ia_cluster_submit_options *opt,
                                   char task_id[IA_CLUSTER_TASK_ID_LEN + 1]);

/* The vectors of task_id: *vecs (n x dim float32, row-major; the caller's,
 * ia_free), *n and *dim. Waits up to timeout_s for them (< 0: for ever; 0:
 * only looks). IA_ERR_TIMEOUT when they have not come by then;
 * IA_ERR_BACKEND with the worker's error when the task is in the dead
 * letters (it failed on every delivery). */
IA_API ia_status ia_cluster_result(ia_cluster *c, const char *task_id, double timeout_s, float **vecs, size_t *n,
                                   int *dim);

/* The cluster at a glance as JSON (the caller's, ia_free): {"workers":
 * [{name, host, model, threads, tasks_done, tasks_failed, last_seen_s, ...}],
 * "queue": {"tasks", "oldest_age_s", "in_flight", "redelivered",
 * "max_tasks", "max_bytes", "bytes", "by_priority": [waiting at level 0, 1, 2]},
 * "results", "dead_letters", "cache": {"entries", "bytes", "max_bytes",
 * "ttl_s", "hits_memory", "hits_cluster", "misses", "hit_rate"}}, as
 * `ipfs-accelerate cluster status --json`; the hits and misses are summed
 * over the submitters that reported them (bucket ia_clients, 24 h). */
IA_API ia_status ia_cluster_status_json(ia_cluster *c, char **out);

#ifdef __cplusplus
}
#endif

#endif
