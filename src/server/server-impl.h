/*
 * Internals of the HTTP server (src/server/), shared by its files:
 *   server.c   libmicrohttpd glue: connections, router, auth, mounts, lifecycle
 *   routes.c   the API routes (OpenAI, TEI, health, info, metrics)
 *   request.c  request-body parsing and validation (pure; fuzzed)
 *   queue.c    the batching queue and its engine thread
 *   cluster.c  serve --cluster: the queue's engine calls sent to workers
 *   routes_gen.c   the text-generation routes (chat, completions, tokens)
 *   request_gen.c  their request bodies (pure; fuzzed)
 *   gen.c      the generation engine: continuous batching, prefix cache
 *   pool.c     the threads that run mounted handlers (off the HTTP threads)
 *   metrics.c  Prometheus counters and histograms
 *   sbuf.c     a growable string buffer with JSON and base64 writers
 * Never installed.
 */
#ifndef IA_SERVER_IMPL_H
#define IA_SERVER_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/core-impl.h"
#include "ipfs_accelerate/cid.h"
#include "ipfs_accelerate/server.h"
#include "model/lm.h"

/* ---- string buffer ------------------------------------------------------ */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom; /* an append failed; p holds what fitted */
} sbuf;

void ia__sbuf_put(sbuf *b, const void *s, size_t n);
void ia__sbuf_puts(sbuf *b, const char *s);
void ia__sbuf_printf(sbuf *b, const char *fmt, ...) IA_PRINTF(2, 3);
/* s[0..n) as a JSON string literal, quotes included. */
void ia__sbuf_json_str(sbuf *b, const char *s, size_t n);
/* v[0..n) as a JSON array of numbers ("%.9g": float32 round-trips). */
void ia__sbuf_json_floats(sbuf *b, const float *v, size_t n);
/* v[0..n) as little-endian float32 bytes in base64, quotes included. */
void ia__sbuf_base64_floats(sbuf *b, const float *v, size_t n);
/* Hand the buffer over (NUL-terminated; NULL after an allocation failure). */
char *ia__sbuf_take(sbuf *b, size_t *len);
void ia__sbuf_free(sbuf *b);

/* True when s[0..n) is valid UTF-8; else *bad is the first bad byte. */
bool ia__utf8_valid(const char *s, size_t n, size_t *bad);

/* ---- request parsing ---------------------------------------------------- */

typedef enum srv_api { SRV_OPENAI, SRV_TEI } srv_api;

/* An API error: HTTP status, the field at fault ("input[3]"; "" if none),
 * a message, and the TEI error_type ("Validation", "Empty", ...). */
typedef struct srv_error {
    int status;
    const char *tei_type;
    const char *openai_type; /* "invalid_request_error", ... */
    const char *code;        /* OpenAI "code" or NULL */
    char param[64];
    char msg[512];
} srv_error;

void ia__srv_error_set(srv_error *e, int status, const char *param, const char *fmt, ...)
    IA_PRINTF(4, 5);

typedef enum srv_body_kind {
    SRV_BODY_EMBEDDINGS,
    SRV_BODY_EMBED,
    SRV_BODY_TOKENIZE,
    SRV_BODY_SIMILARITY, /* TEI: inputs {source_sentence, sentences}: texts = the source, then the sentences */
} srv_body_kind;

/* How /v1/embeddings writes a vector: float32 numbers, their bytes in
 * base64, 1 bit a dimension (> 0), packed 8 to a byte, most significant
 * first (as numpy.packbits), written as unsigned bytes or as signed ones
 * less 128 (sentence-transformers' "ubinary" and "binary"), or one byte a
 * dimension: its bucket of 256 between the dimension's min and max over
 * the model's calibration sentences (calib.c), unsigned or less 128
 * (sentence-transformers' "uint8" and "int8"). */
typedef enum srv_encoding {
    SRV_ENC_FLOAT,
    SRV_ENC_BASE64,
    SRV_ENC_BINARY,
    SRV_ENC_UBINARY,
    SRV_ENC_INT8,
    SRV_ENC_UINT8,
    SRV_ENC_COUNT
} srv_encoding;
/* The encoding_format names, by srv_encoding. */
extern const char *const ia__srv_encoding_names[SRV_ENC_COUNT];

typedef struct srv_input_req {
    cJSON *root;           /* owns the strings below */
    const char **texts;    /* n inputs */
    size_t *lens;
    int32_t **ids;         /* (n) an input given as token ids (texts[i] ""), else NULL;
                              used as they are, special tokens not added */
    size_t *n_ids;
    size_t n;
    bool single;           /* the input was one string, not an array */
    const char *model;     /* OpenAI "model", NULL if absent */
    srv_encoding encoding; /* OpenAI encoding_format */
    int dimensions;        /* OpenAI dimensions; 0: all */
    bool normalize;        /* TEI normalize (default true) */
    bool truncate;         /* TEI truncate (default false) */
    bool truncate_left;    /* TEI truncation_direction "Left": cut at the start */
    bool add_special_tokens; /* TEI /tokenize (default true) */
    const char *prompt_name; /* TEI /embed: the model's prompt to use; NULL: its default */
} srv_input_req;

/* Parse and validate a request body. Returns 0, or the HTTP status with *err
 * filled (400 malformed JSON or UTF-8, empty input; 413 more than
 * max_inputs inputs; 422 a field of the wrong type or value). */
int ia__srv_parse_request(srv_body_kind kind, const char *body, size_t len, size_t max_inputs,
                          srv_input_req *out, srv_error *err);
void ia__srv_input_req_free(srv_input_req *r);
/* An optional field of a request body: absent or JSON null give NULL. */
const cJSON *ia__srv_field(const cJSON *root, const char *name);
/* An optional boolean field (def when absent or null): 0, or 422 naming
 * it when it is not a boolean. */
int ia__srv_opt_bool(const cJSON *root, const char *name, bool def, bool *out, srv_error *err);

/* The body as a JSON object (valid UTF-8, nothing after the value): 0 and
 * *root (cJSON_Delete it), or the status with *err (400, 422). */
int ia__srv_parse_object(const char *body, size_t len, cJSON **root, srv_error *err);

/* The bodies of the classification routes (request_rank.c): TEI's
 * /rerank {query, texts, raw_scores, return_text, truncate}, the
 * Cohere/Jina-style /v1/rerank {model, query, documents (strings or
 * {"text"}), top_n, return_documents} and TEI's /predict {inputs: a text,
 * a pair [a, b], or a list of texts and pairs; raw_scores, truncate}. */
typedef enum srv_rank_kind { SRV_RANK_TEI, SRV_RANK_COHERE, SRV_PREDICT } srv_rank_kind;

typedef struct srv_rank_req {
    cJSON *root;            /* owns the strings below */
    const char *query;      /* rerank: the query */
    size_t query_len;
    const char **texts;     /* n documents (rerank) or inputs (predict) */
    const char **seconds;   /* predict: each input's second text, or NULL (a single text) */
    size_t *lens, *second_lens;
    size_t n;
    bool single;            /* predict: one input, not a list */
    const char *model;      /* Cohere "model", NULL if absent */
    bool raw_scores, return_text, truncate, truncate_left; /* truncation_direction "Left" */
    size_t top_n;           /* Cohere top_n; 0: all */
} srv_rank_req;

int ia__srv_parse_rank_request(srv_rank_kind kind, const char *body, size_t len, size_t max_inputs,
                               srv_rank_req *out, srv_error *err);
void ia__srv_rank_req_free(srv_rank_req *r);

/* The body of /v1/chat/completions (chat) or /v1/completions. */
#define SRV_MAX_STOP 4
#define SRV_MAX_CHOICES 16
typedef struct srv_gen_req {
    cJSON *root;                  /* owns the strings below */
    bool chat;
    const char *model;            /* NULL if absent */
    const cJSON *messages, *tools; /* chat */
    const char *prompt;           /* completions: text, or */
    size_t prompt_len;
    int32_t *prompt_ids;          /* token ids */
    size_t n_prompt_ids;
    int n;                        /* choices */
    int max_tokens;               /* 0: until the context is full */
    const char *stop[SRV_MAX_STOP];
    size_t n_stop;
    ia_sampling sampling;         /* logit_bias points into bias */
    ia_logit_bias *bias;
    size_t n_bias;
    bool seed;                    /* given: choice i uses seed + i */
    bool stream, include_usage, ignore_eos, echo;
    bool logprobs;
    int top_logprobs;
    bool json;                    /* response_format json_object or json_schema */
    const cJSON *schema;          /* json_schema's schema, or NULL */
} srv_gen_req;

/* 0, or the HTTP status (400) with *err naming the field. Free *out with
 * ia__srv_gen_req_free in either case. */
int ia__srv_parse_gen_request(bool chat, const char *body, size_t len, srv_gen_req *out, srv_error *err);
/* The sampling fields and max_tokens the request left out: from the
 * model's generation_config.json where it has them (gc NULL or absent:
 * none), else the API's defaults (temperature 1, top_p 1, top_k and min_p
 * off, no repetition penalty, max_tokens: the context). */
void ia__srv_gen_defaults(srv_gen_req *r, const ia_lm_gen_config *gc);
void ia__srv_gen_req_free(srv_gen_req *r);

/* ---- metrics -------------------------------------------------------------- */

enum {
    SRV_ROUTE_EMBEDDINGS,
    SRV_ROUTE_EMBED,
    SRV_ROUTE_TOKENIZE,
    SRV_ROUTE_MODELS,
    SRV_ROUTE_INFO,
    SRV_ROUTE_HEALTH,
    SRV_ROUTE_METRICS,
    SRV_ROUTE_CHAT,
    SRV_ROUTE_COMPLETIONS,
    SRV_ROUTE_DETOKENIZE,
    SRV_ROUTE_APPLY_TEMPLATE,
    SRV_ROUTE_SIMILARITY,
    SRV_ROUTE_DECODE,
    SRV_ROUTE_RERANK,
    SRV_ROUTE_V1_RERANK,
    SRV_ROUTE_PREDICT,
    SRV_ROUTE_EMBED_SPARSE,
    SRV_ROUTE_EMBED_ALL,
    SRV_ROUTE_OTHER,  /* unknown paths */
    SRV_ROUTE_MOUNT0, /* mounted prefixes follow */
    SRV_MAX_MOUNTS = 16,
    SRV_N_ROUTES = SRV_ROUTE_MOUNT0 + SRV_MAX_MOUNTS,
};

#define SRV_MAX_MODELS 16 /* served at once */
#define SRV_N_LAT_BUCKETS 14
#define SRV_N_BATCH_BUCKETS 12
#define SRV_TPS_WINDOW 10 /* seconds averaged by the tokens/s gauge */

typedef struct srv_metrics {
    pthread_mutex_t lock;
    const char *route_name[SRV_N_ROUTES];
    unsigned long requests[SRV_N_ROUTES][600]; /* by status code */
    unsigned long lat_bucket[SRV_N_ROUTES][SRV_N_LAT_BUCKETS + 1];
    double lat_sum[SRV_N_ROUTES];
    unsigned long lat_count[SRV_N_ROUTES];
    unsigned long batch_texts[SRV_N_BATCH_BUCKETS + 1], batch_tokens[SRV_N_BATCH_BUCKETS + 1];
    unsigned long batches, texts_total, tokens_total, engine_failures;
    double batch_texts_sum, batch_tokens_sum, engine_seconds;
    double queue_wait_sum;
    unsigned long queue_wait_count;
    long tps_second[SRV_TPS_WINDOW]; /* tokens finished in each of the last seconds */
    long tps_stamp[SRV_TPS_WINDOW];
    struct srv_model_counters { /* the same, per served model (its index) */
        unsigned long batches, texts, tokens, failures;
        double seconds;
    } per_model[SRV_MAX_MODELS];
    /* serve --cluster: engine calls sent to workers as tasks, by outcome */
    unsigned long cluster_tasks, cluster_stored, cluster_cached, cluster_disk, cluster_failed, cluster_busy, cluster_timeouts,
        cluster_errors;
    double cluster_seconds;
} srv_metrics;

extern const double ia__srv_lat_bounds[SRV_N_LAT_BUCKETS];
extern const double ia__srv_batch_bounds[SRV_N_BATCH_BUCKETS];
extern const double ia__srv_token_bounds[SRV_N_BATCH_BUCKETS];

void ia__srv_metrics_init(srv_metrics *m);
void ia__srv_metrics_close(srv_metrics *m);
void ia__srv_metrics_request(srv_metrics *m, int route, int status, double seconds);
void ia__srv_metrics_batch(srv_metrics *m, int model, size_t texts, size_t tokens, double seconds, bool ok);
void ia__srv_metrics_queue_wait(srv_metrics *m, double seconds);

/* ---- batching queue ------------------------------------------------------- */

typedef struct srv_job srv_job;
typedef void (*srv_job_done_fn)(srv_job *job, void *user);

/* serve --cluster: who computed a job (all "" when computed here). */
typedef struct srv_provenance {
    char worker[96], backend[32], precision[16];
} srv_provenance;

struct srv_job {
    srv_job *next;
    const ia_model *model;
    int model_index;           /* in the server's models: its metrics */
    const int32_t *const *ids; /* each input's token ids, tokenized once by
                                  the route (borrowed from the request) */
    const size_t *n_ids;
    const int32_t *const *types; /* classify: each input's token types, or NULL */
    size_t n, tokens;
    int normalize;      /* 0 or 1 */
    bool classify, raw; /* the classification head's scores (raw: logits), not embeddings */
    bool states;        /* every token's hidden state (one row per token), not embeddings */
    int dim;            /* values per input in out */
    float *out;         /* (n, dim), owned by the job */
    ia_status status;
    int http_status;    /* the answer to a failure (0: 500); serve --cluster sets 429, 502, 503, 504 */
    srv_provenance prov; /* serve --cluster: the worker that computed it */
    char errmsg[512];
    double t_queued, t_started, t_done;
    srv_job_done_fn done;
    void *user;
    struct srv_calib *calib; /* int8/uint8 answers: computed (calib.c) before the job runs, or NULL */
};

/* serve --cluster (cluster.c): the queue's engine calls become tasks for
 * the workers of each model (ids tasks: the routes' token ids, so a worker
 * makes exactly the local engine call), sent by several engine threads so
 * that several workers compute at once. */
#define SRV_MAX_ENGINES 64
typedef struct srv_dispatch {
    struct ia_cluster *cluster; /* borrowed */
    double timeout_s;           /* a task's result waited for this long: 504 */
    int priority;
    char cids[SRV_MAX_MODELS][IA_CID_STR_MAX];   /* each model's folder's CID: its tasks' key and route */
} srv_dispatch;

struct srv_job;
struct srv_metrics;
/* One engine call on a worker: the group's inputs (total, with their ids,
 * types and counts) into out (rows x jobs[0]->dim). Sets job->http_status
 * and msg on failure. */
ia_status ia__srv_dispatch_run(srv_dispatch *d, struct srv_metrics *m, struct srv_job *job0, const int32_t **ids,
                               const int32_t **types, const size_t *n_ids, size_t total, size_t rows, float *out,
                               srv_provenance *prov, int *http_status, char *msg, size_t cap);
/* The response headers naming a job's worker, backend and precision
 * (X-Cluster-Worker, X-Backend, X-Precision) into hdrs from index at, for
 * a job computed by the cluster; returns the new index. */
int ia__srv_provenance_headers(const srv_job *job, const char **hdrs, int at);
/* The CID of the folder (path) of the model added at index i. */
ia_status ia__srv_dispatch_model(srv_dispatch *d, int i, const char *path);

typedef struct srv_queue {
    pthread_mutex_t lock;
    pthread_cond_t wake, idle;
    srv_job *head, *tail;
    size_t depth;     /* waiting */
    size_t in_system; /* waiting + running */
    size_t max_in_system, max_batch_tokens;
    bool stop, running, busy;
    pthread_t thread;
    srv_job **batch; /* the engine thread's current batch */
    srv_metrics *metrics;
    srv_dispatch *dispatch; /* serve --cluster, else NULL: the local engine */
    struct srv_engine {      /* the engine threads beyond the first (cluster) */
        struct srv_queue *q;
        srv_job **batch;
        pthread_t thread;
    } engines[SRV_MAX_ENGINES];
    int n_engines;
} srv_queue;

ia_status ia__srv_queue_start(srv_queue *q, size_t max_in_system, size_t max_batch_tokens,
                              srv_metrics *metrics);
/* Queue a job; false when max_in_system jobs are already in (429). done()
 * is called on the engine thread when the job has a result. */
bool ia__srv_queue_submit(srv_queue *q, srv_job *job);
/* Wait until nothing is queued or running (at most `seconds`). */
bool ia__srv_queue_drain(srv_queue *q, double seconds);
/* Refuse new jobs, finish the queued ones and join the engine thread. The
 * lock stays valid: HTTP threads may still call submit (refused) or stats. */
void ia__srv_queue_stop(srv_queue *q);
/* Free what start made; only once no HTTP thread is left (after stop). */
void ia__srv_queue_close(srv_queue *q);
void ia__srv_queue_stats(srv_queue *q, size_t *depth, size_t *in_system);
/* serve --cluster: send engine calls to d with n_threads engine threads
 * (the first one included); before any job is queued. */
ia_status ia__srv_queue_set_dispatch(srv_queue *q, srv_dispatch *d, int n_threads);

/* ---- the handler pool -------------------------------------------------------
 * Mounted handlers (the IPFS gateway) may block on disk for long: they run
 * here, with their connection suspended, so they hold no HTTP thread. */

typedef struct srv_task srv_task;
struct srv_task {
    srv_task *next;
    void (*run)(srv_task *t);  /* the work, on a pool thread */
    void (*done)(srv_task *t); /* then, once no longer counted: hand it back */
};

typedef struct srv_pool {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    srv_task *head, *tail;
    size_t in_system, max_in_system; /* waiting + running */
    bool stop, running;
    pthread_t *threads;
    unsigned n_threads;
} srv_pool;

ia_status ia__srv_pool_start(srv_pool *p, unsigned n_threads, size_t max_in_system);
/* Queue t; false when max_in_system tasks are in, or the pool is stopping. */
bool ia__srv_pool_submit(srv_pool *p, srv_task *t);
/* Refuse new tasks, run the queued ones and join the threads. */
void ia__srv_pool_stop(srv_pool *p);
/* Free what start made; only once no HTTP thread is left (after stop). */
void ia__srv_pool_close(srv_pool *p);

/* ---- the generation engine (gen.c) -------------------------------------------
 * One per served language model: a thread that steps every running
 * generation in one forward (continuous batching: requests join and leave
 * at every step; prompt chunks share steps with decodes), and keeps
 * finished sessions for their KV cache (the prefix cache: a request that
 * begins with tokens a kept or running session holds starts from them). */

typedef struct srv_gen srv_gen;
typedef struct srv_call srv_call;

/* A generated token's log-probability and its most likely alternatives. */
typedef struct srv_toklp {
    int32_t token;
    float logprob;
    int n_top;
    int32_t top[20];
    float top_lp[20];
} srv_toklp;

/* One choice of a call: its text so far and how it ended. */
typedef struct srv_choice {
    srv_call *call;
    int index;
    ia_gen_params params;
    sbuf text;              /* all the text so far */
    size_t sent;            /* of it, streamed */
    srv_toklp *lp;          /* per generated token, when asked */
    size_t n_lp, cap_lp, lp_sent;
    bool want_lp;
    struct ia_jsonc_state *js; /* the JSON constraint's state, or NULL */
    ia_gen_result res;
    bool done;
    char errmsg[256];       /* set when it failed */
} srv_choice;

/* A request's generations. Shared by the HTTP side and the engine
 * (refcounted); lock guards the choices' output and the flags. */
struct srv_call {
    pthread_mutex_t lock;
    atomic_int refs;
    const ia_lm *lm;
    int32_t *prompt;
    int n_prompt;
    int n_choices, n_done;
    srv_choice *choices;
    struct ia_jsonc *json;  /* response_format, or NULL (engine-owned after submit) */
    atomic_bool cancelled;  /* the client went away */
    double t_queued;
    /* The HTTP side (routes_gen.c): notify runs on the engine thread, lock
     * not held, when output is added or a choice is done; alive, now and
     * then, says whether the client is still there. ext is the route's
     * own state, freed with the call by ext_free. */
    void (*notify)(srv_call *c);
    bool (*alive)(srv_call *c);
    void *ext;
    void (*ext_free)(void *ext);
};

srv_call *ia__srv_call_new(const ia_lm *lm, int n_choices);
void ia__srv_call_unref(srv_call *c);

typedef struct srv_gen_stats {
    size_t waiting, running;            /* choices */
    size_t kv_bytes, kv_sessions;       /* the KV cache held (running and kept) */
    unsigned long prompt_tokens, cached_tokens, generated_tokens, prefix_hits, requests, steps;
    double ttft_sum;                    /* time to first token, summed over choices */
    unsigned long ttft_count;
    double gen_tps;                     /* generated tokens/s over the last window */
} srv_gen_stats;

ia_status ia__srv_gen_start(const ia_lm *lm, int max_running, size_t kv_budget_bytes, srv_gen **out);
/* Queue the call's choices (a reference is taken); false when full. */
bool ia__srv_gen_submit(srv_gen *g, srv_call *c);
/* Cancel everything, join the thread; then free. */
void ia__srv_gen_stop(srv_gen *g);
void ia__srv_gen_free(srv_gen *g);
void ia__srv_gen_stats(srv_gen *g, srv_gen_stats *st);

/* ---- the server ------------------------------------------------------------ */


/* ---- int8/uint8 calibration (calib.c) -------------------------------------- */

/* The calibration sentences (calib_text.c, made by scripts/make-calibration.py). */
extern const char *const ia__srv_calib_text[];
extern const int ia__srv_calib_count;

/* A model's calibration: the calibration sentences embedded as
 * /v1/embeddings embeds (the model's default prompt, its own
 * normalization), computed by the engine thread for the first int8 or
 * uint8 request and kept (sentence-transformers' calibration_embeddings;
 * Infinity likewise embeds a fixed calibration text per model). */
typedef struct srv_calib {
    pthread_mutex_t lock;  /* held while computing */
    _Atomic(float *) rows; /* (ia__srv_calib_count, dim) once computed, else NULL */
    int dim;
} srv_calib;

void ia__srv_calib_init(srv_calib *c, int dim);
void ia__srv_calib_close(srv_calib *c);
/* Compute c's rows with m unless they are: 0, or a status with the reason
 * in msg. Thread-safe; the engine threads call it before a job that has
 * c. */
ia_status ia__srv_calib_ensure(srv_calib *c, const ia_model *m, char *msg, size_t cap);
/* The first d values of v as /v1/embeddings' dimensions gives them: L2-
 * normalized again (as OpenAI's shortened embeddings are) into out. */
void ia__srv_shorten(const float *v, int d, float *out);
/* The ranges of sentence-transformers' quantize_embeddings over the
 * calibration rows (their first d values, shortened as above when
 * shorten): lo[j] = the minimum, step[j] = (max - min) / 255 in float32,
 * 1 where that is 0. tmp: d floats of scratch. */
void ia__srv_calib_ranges(const srv_calib *c, int d, bool shorten, float *lo, float *step, float *tmp);
/* A vector's bucket per dimension, as quantize_embeddings computes it:
 * clip(floor((v - lo) / step), 0, 255) in float32, less 128 when is_signed. */
void ia__srv_quantize(const float *v, int d, const float *lo, const float *step, bool is_signed, int *out);

typedef struct srv_model {
    char *name;
    ia_model *model;      /* an embedding model, or */
    ia_lm *lm;            /* a language model, with */
    srv_gen *gen;         /* its engine */
    ia_model_info info;
    double created; /* Unix time it was loaded */
    srv_calib calib; /* embedding models: the int8/uint8 ranges' sentences, embedded */
} srv_model;

typedef struct srv_mount {
    char *prefix;
    size_t len;
    ia_http_handler_fn fn;
    void *user;
} srv_mount;

struct ia_server {
    ia_server_options opt;
    char *listen, *api_key;
    bool max_conn_explicit; /* --max-connections given: warn when capped */
    unsigned char key_hash[32];
    struct MHD_Daemon *mhd;
    int listen_fd;
    uint16_t port;
    srv_model models[SRV_MAX_MODELS];
    atomic_int n_models;
    atomic_bool unhealthy; /* a test inference failed */
    atomic_bool draining, started, stopped, loading;
    atomic_bool stopping; /* past the drain: mounted handlers should give up */
    atomic_long active; /* requests between first call and completion */
    srv_mount mounts[SRV_MAX_MOUNTS];
    int n_mounts;
    srv_queue queue;
    srv_pool pool; /* runs the mounted handlers */
    srv_metrics metrics;
    srv_dispatch *dispatch; /* serve --cluster, or NULL */
    double t_start;
};

/* A request in flight (libmicrohttpd's per-request pointer). */
typedef struct srv_request srv_request;

/* routes.c: the built-in route table, and the handlers' entry point. */
int ia__srv_route_find(const char *path);        /* SRV_ROUTE_* or -1 */
const char *ia__srv_route_label(int route);      /* its path, for metrics; "other" */
const char *ia__srv_route_methods(int route);    /* "POST", "GET", ... */
bool ia__srv_route_needs_auth(int route);
void ia__srv_route_run(ia_server *s, srv_request *r, int route);
/* Resumed after the engine finished the request's job. */
void ia__srv_route_job_done(ia_server *s, srv_request *r);
void ia__srv_route_cleanup(srv_request *r);
/* routes_gen.c: the text-generation routes. */
void ia__srv_gen_route_run(ia_server *s, srv_request *r, int route);
void ia__srv_gen_route_done(ia_server *s, srv_request *r);
void ia__srv_gen_route_cleanup(srv_request *r);
/* routes_rank.c: reranking and classification. */
void ia__srv_rank_route_run(ia_server *s, srv_request *r, srv_rank_kind kind);
void ia__srv_rank_route_done(ia_server *s, srv_request *r);
void ia__srv_rank_route_cleanup(srv_request *r);
/* /tokenize for a language model (llama-server's shape); false: the
 * request is not for one. */
bool ia__srv_gen_tokenize(ia_server *s, srv_request *r);

/* server.c: what the routes use. */
const char *ia__srv_req_body(srv_request *r, size_t *len);
const char *ia__srv_req_header(srv_request *r, const char *name);
int ia__srv_req_route(srv_request *r);
void **ia__srv_req_state(srv_request *r); /* the route's own per-request pointer */
/* Answer with body (ownership taken; ia__free). backend NULL: the default
 * model's. Always returns. */
void ia__srv_respond(srv_request *r, int status, const char *content_type, char *body, size_t len,
                     const srv_model *model, const char *const *extra_headers);
void ia__srv_respond_error(srv_request *r, srv_api api, const srv_error *e);
/* Suspend the connection and queue job; false (not suspended) when full. */
bool ia__srv_submit(ia_server *s, srv_request *r, srv_job *job);
const srv_model *ia__srv_model_find(ia_server *s, const char *name);
/* The model `name` (NULL: the first) of a kind: language models (lm) or
 * embedding models. NULL with *err set (404 unknown, 400 the other kind). */
const srv_model *ia__srv_model_find_kind(ia_server *s, const char *name, bool lm, srv_error *err);
/* Serve a language model (taken, freed with the server, also on failure). */
ia_status ia__server_add_lm(ia_server *s, const char *name, ia_lm *lm);
/* Streaming answers: status and headers now, then the body from read()
 * (as libmicrohttpd's content reader: bytes, 0 after ia__srv_park, -1
 * at the end). free_user runs when the response is gone. */
typedef ssize_t (*srv_read_fn)(void *user, char *buf, size_t max);
void ia__srv_respond_stream(srv_request *r, int status, const char *content_type, srv_read_fn read, void *user,
                            void (*free_user)(void *), const srv_model *model);
/* From inside read(): pause the connection until ia__srv_unpark (which must
 * follow: call both under one lock of the caller's). */
void ia__srv_park(srv_request *r);
/* The client closed its side of the connection. */
bool ia__srv_peer_closed(srv_request *r);
void ia__srv_unpark(srv_request *r);
/* Suspend the connection until ia__srv_wake (then the route's job_done
 * runs on an HTTP thread). */
void ia__srv_suspend(srv_request *r);
void ia__srv_wake(srv_request *r);
/* Undo ia__srv_suspend at once, on the request's own HTTP thread. */
void ia__srv_unsuspend(srv_request *r);
int ia__srv_model_count(const ia_server *s);
/* serve --cluster: embedding models' engine calls go to the workers on
 * cluster (borrowed: freed after the server) with n_threads tasks in
 * flight, each waited for up to timeout_s; before any model is added. */
ia_status ia__server_set_cluster(ia_server *s, struct ia_cluster *cluster, double timeout_s, int priority,
                                 int n_threads);

#endif
