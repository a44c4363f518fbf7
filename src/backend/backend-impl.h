/*
 * The backend interface: what a compute backend (cpu, cuda, ...) provides so
 * that model code, written once against these ops, runs on it. Modeled on
 * ggml-backend and sqlite3_vfs: a versioned table of function pointers plus
 * the backend's own context. Methods are only ever appended; a NULL optional
 * slot has the meaning its comment gives. Never installed.
 *
 * Tensors here are plain row-major float32 arrays in memory the backend
 * allocated (buf_alloc); shapes are given in the comments as (rows, cols).
 * Sequences of different lengths are packed one after another with no
 * padding; `offsets` (n_seqs + 1 entries) delimit them.
 */
#ifndef IA_BACKEND_IMPL_H
#define IA_BACKEND_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core-impl.h"
#include "tensor/tensor.h"

#define IA_BACKEND_API_VERSION 3

typedef enum ia_pool_mode { IA_POOL_MEAN, IA_POOL_CLS, IA_POOL_MAX } ia_pool_mode;

/* A linear layer y = x W^T + b prepared by the backend (packed, converted
 * to the compute precision, uploaded...). Opaque to model code. */
typedef struct ia_linear ia_linear;

/* linear_new flags. */
enum {
    /* 8-bit activations cost this layer too much accuracy (measured on
     * all-MiniLM-L6-v2: the QKV and FFN-output projections): in int8 mode
     * keep it at bf16 (or fp32 where the CPU has no bf16). */
    IA_LINEAR_INT8_SENSITIVE = 1u << 0,
};

/* Per-op time and work, collected by an instance opened with profiling on. */
typedef struct ia_backend_profile {
    double linear_s, linear_flop; /* linear layers, epilogues included */
    long linear_calls;
    double large_s, large_flop;   /* the part in layers of >= 384 x 1152 weights over > 256 rows */
    double attention_s;
    double other_s;               /* embed, layernorm, pool */
} ia_backend_profile;

/* Every op returns IA_OK or a failure with its detail recorded
 * (ia__error); on failure the outputs hold nothing usable. `ctx` is an
 * instance from open(): the device, threads and precision of one model.
 * Instances are independent; ops on one instance may run from several
 * threads at once. */
struct ia_backend_i {
    /* Number of devices this backend drives (>= 1 when usable). */
    int (*device_count)(void);
    /* Human-readable device name, e.g. "host CPU". */
    const char *(*device_name)(int device);
    /* The precision an instance opened with `want` ("fp32", "int8",
     * "bf16"...) computes in: `want` itself, or the fallback where the
     * device lacks it; NULL for a name this backend does not know. */
    const char *(*resolve_precision)(const char *want);

    /* Open an instance on `device` with n_threads workers (0: all cores)
     * computing in `precision` (as resolve_precision returned it). */
    ia_status (*open)(int device, int n_threads, const char *precision, bool profile, void **ctx);
    void (*close)(void *ctx);
    /* The precision the instance computes in. */
    const char *(*precision)(void *ctx);
    /* Add the instance's profile so far to *p (opened with profile on). NULL: none. */
    void (*profile)(void *ctx, ia_backend_profile *p);

    /* Memory the ops work on (NULL when out of memory), and copies in and
     * out of it. For backends whose memory is host memory,
     * upload/download are NULL: plain memcpy. */
    void *(*buf_alloc)(void *ctx, size_t bytes);
    void (*buf_free)(void *ctx, void *buf);
    ia_status (*upload)(void *ctx, void *dst, const void *src, size_t bytes);
    ia_status (*download)(void *ctx, void *dst, const void *src, size_t bytes);

    /* Prepare a linear layer from float32 weights W (n_out, n_in) and
     * bias b (n_out) or NULL; the backend keeps its own copy. in_scale
     * (n_in) is the typical magnitude of each input channel (for a layer
     * fed by a LayerNorm, |gamma| + |beta|), or NULL; an int8 instance
     * uses it to move the activations' outlier channels into the weights
     * (SmoothQuant). flags: IA_LINEAR_* above. */
    ia_status (*linear_new)(void *ctx, const float *W, const float *b, int n_out, int n_in,
                            const float *in_scale, unsigned flags, ia_linear **out);
    void (*linear_free)(void *ctx, ia_linear *lin);
    /* y (n_rows, n_out) = act(x (n_rows, n_in) W^T + b) */
    ia_status (*linear)(void *ctx, const ia_linear *lin, const float *x, float *y,
                        int n_rows, ia_act act);
    /* res (n_rows, n_out) = LayerNorm(res + x W^T + b) * gamma + beta, the
     * linear layer fused with the residual add and LayerNorm that follow it
     * in post-LN transformers. tmp is caller scratch of (n_rows, n_out)
     * floats. NULL: use linear() then add_layernorm(). */
    ia_status (*linear_add_layernorm)(void *ctx, const ia_linear *lin, const float *x, float *res,
                                      float *tmp, int n_rows, const float *gamma,
                                      const float *beta, float eps);

    /* Token embeddings: x (n_tok, dim) = word[ids] + pos[position in its
     * sequence] + type[0]. Tables are backend buffers; the caller has
     * checked every id against the word table and every length against
     * the position table. */
    ia_status (*embed)(void *ctx, const int32_t *ids, const int *offsets, int n_seqs,
                       const float *word, const float *pos, const float *type, int dim, float *x);
    /* x (n_rows, dim) = LayerNorm(x + residual) * gamma + beta; residual
     * may be NULL. */
    ia_status (*add_layernorm)(void *ctx, float *x, const float *residual, const float *gamma,
                               const float *beta, int n_rows, int dim, float eps);
    /* Multi-head self-attention inside each sequence (no cross-sequence
     * attention, so no padding mask is needed). qkv (n_tok, 3*dim) holds
     * Q|K|V per token; out (n_tok, dim). */
    ia_status (*attention)(void *ctx, const float *qkv, float *out, const int *offsets,
                           int n_seqs, int n_heads, int head_dim);
    /* out (n_seqs, dim) = pooling of each sequence's rows of x. */
    ia_status (*pool)(void *ctx, const float *x, const int *offsets, int n_seqs, int dim,
                      ia_pool_mode mode, float *out);

    /* The engine core (src/tensor/tensor.h): can the instance compute
     * this node (op, dtypes, shapes)? */
    bool (*supports)(void *ctx, const ia_node *node);
    /* Compute the nodes in order on tensors in the instance's memory; one
     * status for the whole list (the first failure stops it, naming the
     * node). */
    ia_status (*graph_compute)(void *ctx, const ia_node *nodes, int n_nodes);
};

typedef struct ia_backend {
    int api_version;
    const char *name; /* "cpu", "cuda" */
    struct ia_backend_i iface;
} ia_backend;

/* ------------------------------------------------------------------------
 * The plugin ABI. This header is the one a backend built outside the
 * library (a shared object loaded with dlopen) is written against; see
 * examples/backend-plugin/ for a complete one.
 *
 * Loading. At registry start-up, with the built-ins, every `*.so` file in
 * the directories of IPFS_ACCELERATE_BACKEND_PATH (colon-separated; unset or
 * empty: none; files in name order, directories in list order) is opened
 * with dlopen(RTLD_NOW | RTLD_LOCAL) and its entry point
 * IA_BACKEND_PLUGIN_ENTRY is called once. A file that cannot be used (dlopen
 * fails, no entry point, the entry point returns NULL, a table of another
 * api_version, a missing required slot, a name already registered) is
 * skipped with a warning through ia_log naming the file and the reason;
 * loading never fails the process and never crashes it on these.
 *
 * Entry point. `const ia_backend *ia_backend_plugin(int host_api_version,
 * const ia_plugin_host *host)`, exported with default visibility. It returns
 * a table whose api_version equals host_api_version, or NULL when it cannot
 * serve that version (then it is skipped). The table and everything it
 * points to (name included) stay valid for the life of the process: the
 * library never dlcloses a plugin it registered.
 *
 * Symbols. The library is built with -fvisibility=hidden, so its internal
 * functions (ia__node_check, ia__error...) are not in any dynamic symbol
 * table: not in libipfs_accelerate.so, and not in an executable linked
 * with -rdynamic / ENABLE_EXPORTS against the static library. A plugin
 * therefore links nothing of ours; the few services it needs come in
 * `host`, valid for the life of the process. It may call them from any
 * thread. It must not include its own copy of the library (two error
 * states, two registries).
 *
 * The table. Required: name (unique, e.g. "example"), device_count,
 * resolve_precision, open, close, buf_alloc, buf_free. Optional, NULL
 * meaning: device_name (the backend's name is shown), precision (the
 * instance computes in resolve_precision("fp32")), profile (no profile),
 * upload/download (host-addressable memory: memcpy), supports +
 * graph_compute (no engine-core ops; both or neither), and the legacy
 * encoder slots linear_new, linear_free, linear, embed, add_layernorm,
 * attention, pool (the backend cannot run the BERT-style encoder path:
 * selection never gives it a model, see ia__backend_encoder_missing);
 * linear_add_layernorm (linear then add_layernorm).
 *
 * Ownership. Memory from buf_alloc belongs to the instance and is freed
 * with buf_free before close. Tensors passed to supports/graph_compute are
 * borrowed for the call. Errors are reported with host->error (the detail
 * message the caller reads with ia_errmsg()).
 *
 * Threads. Entry point: called once, under the registry's start-up, from
 * whichever thread first uses the registry. device_count, device_name,
 * resolve_precision: from any thread. Instances are independent; one
 * instance's ops may be called from several threads at once (as for the
 * built-ins).
 *
 * Versioning. IA_BACKEND_API_VERSION rises whenever struct ia_backend_i or
 * ia_plugin_host changes; methods are only ever appended, never reordered
 * or removed. A table with another api_version is refused (by the loader
 * and by ia__backend_register). ia_plugin_host has its own api_version (the
 * same number) and only grows at its end.
 */

#define IA_BACKEND_PLUGIN_ENTRY "ia_backend_plugin"
#define IA_BACKEND_PATH_ENV "IPFS_ACCELERATE_BACKEND_PATH"

/* What the library lends a plugin (the functions of the same names in
 * core-impl.h and tensor.h). */
typedef struct ia_plugin_host {
    int api_version; /* IA_BACKEND_API_VERSION */
    ia_status (*node_check)(const ia_node *node);
    const char *(*op_name)(ia_op op);
    bool (*tensor_contiguous)(const ia_tensor *t);
    int64_t (*tensor_nelements)(const ia_tensor *t);
    ia_status (*error)(ia_status st, const char *fmt, ...) IA_PRINTF(2, 3);
    ia_status (*error_wrap)(ia_status st, const char *fmt, ...) IA_PRINTF(2, 3);
    void (*log)(ia_log_level level, const char *fmt, ...) IA_PRINTF(2, 3);
} ia_plugin_host;

typedef const struct ia_backend *(*ia_backend_plugin_fn)(int host_api_version, const ia_plugin_host *host);

/* Load one plugin file (plugin.c): its checked table in *out, or a
 * failure whose detail names the file and the reason. The table is not
 * registered; on failure the file is closed again. */
ia_status ia__plugin_open(const char *path, const struct ia_backend **out);
/* Load every *.so of the directories in `dirs` (colon-separated), passing
 * each table to reg; failures are logged as warnings and skipped. The
 * number registered. */
int ia__plugin_load_dirs(const char *dirs, ia_status (*reg)(const struct ia_backend *be));

/* Registry. Built-in backends register at start-up. Thread-safe. */
ia_status ia__backend_register(const ia_backend *be);
/* The backend called `name`, or NULL. "auto" gives the preferred usable one. */
const ia_backend *ia__backend_find(const char *name);
/* The registered backends, in registration order (for the op harness). */
int ia__backend_count(void);
const ia_backend *ia__backend_at(int i);

/* The legacy encoder slots (linear_new, embed, attention, pool...) that
 * `be` lacks, as "linear_new, embed, ..." in buf, or NULL when it has them
 * all (a model may run on it). */
const char *ia__backend_encoder_missing(const ia_backend *be, char *buf, size_t cap);

/* ------------------------------------------------------------------------
 * The scheduler (sched.c): a graph over one backend, with the nodes it
 * does not support on the CPU. */

typedef struct ia_sched_stats {
    int nodes_backend; /* nodes computed on `be` */
    int nodes_cpu;     /* nodes computed on the CPU instead */
    int splits;        /* graph_compute calls (runs of consecutive nodes on one backend) */
    int copies;        /* tensor copies between memories (0 while every backend is host memory) */
} ia_sched_stats;

/* Compute nodes[0..n) in order: each run of consecutive nodes that `be`
 * supports as one graph_compute on ctx, the others on the CPU backend
 * (cpu_ctx, or when NULL an instance opened for the call with n_threads,
 * which should be the thread count ctx was opened with; 0: all cores).
 * Every node is checked (ia__node_check) before any is computed. stats
 * (may be NULL) is filled. A backend whose memory is not host-addressable
 * (upload/download set) is refused with IA_ERR_UNSUPPORTED when a node
 * would have to move to the CPU: that needs copies of exactly that node's
 * inputs (download) and output (upload), not implemented. Errors name the
 * node by its index in the whole list. */
ia_status ia__graph_run_on(const ia_backend *be, void *ctx, void *cpu_ctx, int n_threads, const ia_node *nodes,
                           int n, ia_sched_stats *stats);
/* ia__graph_run_on with a CPU instance of all cores opened for the call. */
ia_status ia__graph_run(const ia_backend *be, void *ctx, const ia_node *nodes, int n, ia_sched_stats *stats);

/* Built-in backends' constructors (one per folder under src/backend/). */
const ia_backend *ia__backend_cpu(void);

#endif
