/*
 * The backend interface: what a compute backend (cpu, cuda, ...) provides so
 * that model code, written once as graphs of the engine core's ops
 * (src/tensor/tensor.h), runs on it. Modeled on ggml-backend and
 * sqlite3_vfs: a versioned table of function pointers plus the backend's
 * own instance. Methods are only ever appended; a NULL optional slot has
 * the meaning its comment gives. Never installed.
 */
#ifndef IA_BACKEND_IMPL_H
#define IA_BACKEND_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core-impl.h"
#include "tensor/tensor.h"

#define IA_BACKEND_API_VERSION 7 /* 7: weight_prepare without flags; 6: ia_plugin_host lends dtype traits,
                                   * tensor_span, rope and bucket helpers */

/* Per-op time and work, collected by an instance opened with profiling on. */
typedef struct ia_backend_profile {
    double linear_s, linear_flop; /* matmuls, epilogues included */
    long linear_calls;
    double large_s, large_flop;   /* the part in layers of >= 384 x 1152 weights over > 256 rows */
    double attention_s;
    double other_s;               /* every other op */
} ia_backend_profile;

/* Every op returns IA_OK or a failure with its detail recorded
 * (ia__error); on failure the outputs hold nothing usable. `ctx` is an
 * instance from open(): the device, threads and precision of one model.
 * Instances are independent; one instance may compute graphs from
 * several threads at once. */
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

    /* The engine core: can the instance compute this node (op, dtypes,
     * shapes)? */
    bool (*supports)(void *ctx, const ia_node *node);
    /* Compute the nodes in order on tensors in the instance's memory; one
     * status for the whole list (the first failure stops it, naming the
     * node). */
    ia_status (*graph_compute)(void *ctx, const ia_node *nodes, int n_nodes);

    /* Optional: prepare a matmul weight W (n_out, n_in), any dtype, in
     * host memory, with its bias (n_out) f32 or NULL, into the backend's
     * own form (packed, converted to the compute precision, uploaded) in
     * *prepared, which the caller stores in the W tensor's `extra` (and may
     * then free W's memory). A matmul node whose W carries it must pass
     * the same bias. in_scale (n_in) is the typical magnitude of each input
     * channel (for a layer fed by a LayerNorm, |gamma| + |beta|) or NULL:
     * an int8 instance moves the activations' outlier channels into the
     * weights with it (SmoothQuant). NULL: weights are used as they lie
     * in buffers. */
    ia_status (*weight_prepare)(void *ctx, const ia_tensor *W, const ia_tensor *bias, const float *in_scale,
                                void **prepared);
    void (*weight_release)(void *ctx, void *prepared);
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
 * the directories of IPFS_ACCELERATE_BACKEND_PATH (colon-separated; empty:
 * none; unset: those of ia__plugin_default_dirs; files in name order,
 * directories in list order) is opened
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
 * resolve_precision, open, close, buf_alloc, buf_free, supports,
 * graph_compute. Optional, NULL meaning: device_name (the backend's name
 * is shown), precision (the instance computes in
 * resolve_precision("fp32")), profile (no profile), upload/download
 * (host-addressable memory: memcpy), weight_prepare + weight_release
 * (weights are used as they lie; both or neither). A backend runs every
 * model: the nodes its `supports` refuses run on the CPU (the scheduler
 * below).
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
/* The folder of plugins installed with the library (the CUDA backend's). */
#define IA_PLUGIN_SUBDIR "ipfs-accelerate-backends"

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
    /* Since version 6: what a backend computing every op needs (the CUDA
     * plugin): block sizes and names of the dtypes, the bytes a view
     * spans, rope's pair frequencies and T5's relative-position buckets,
     * so that it computes the same numbers as the CPU backend. */
    const ia_dtype_traits *(*dtype)(ia_dtype t);
    size_t (*tensor_span)(const ia_tensor *t);
    double (*rope_inv_freq)(const ia_rope_params *p, int i);
    int (*attn_rel_bucket)(int64_t r, int num_buckets, int max_distance);
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
/* Where plugins are looked for when IPFS_ACCELERATE_BACKEND_PATH is unset:
 * IA_PLUGIN_SUBDIR beside the file holding the library (the shared
 * library, or the program linked with the static one), and in
 * ../<libdir>/ from there (an installed program's plugins), those of the
 * two that exist, colon-separated in buf (empty when neither does). */
const char *ia__plugin_default_dirs(char *buf, size_t cap);

/* Registry. Built-in backends register at start-up. Thread-safe. */
ia_status ia__backend_register(const ia_backend *be);
/* The backend called `name`, or NULL. "auto" gives the preferred usable one. */
const ia_backend *ia__backend_find(const char *name);
/* The registered backends, in registration order (for the op harness). */
int ia__backend_count(void);
const ia_backend *ia__backend_at(int i);
/* How many devices "auto" may choose among (usable backends of the
 * priority order, not named-only); named_only (may be NULL) gets the
 * usable backends used only when named, comma-separated. */
int ia__backend_auto_devices(char *named_only, size_t cap);

/* ------------------------------------------------------------------------
 * The scheduler (sched.c): a graph over one backend, with the nodes it
 * does not support on the CPU. */

typedef struct ia_sched_stats {
    int nodes_backend; /* nodes computed on `be` */
    int nodes_cpu;     /* nodes computed on the CPU instead */
    int splits;        /* runs of consecutive nodes on one side */
    int copies;        /* host <-> device copies for the nodes moved to the CPU */
} ia_sched_stats;

/* Compute nodes[0..n) in order: each run of consecutive nodes that `be`
 * supports as one graph_compute on ctx, the others on the CPU backend
 * (cpu_ctx, or when NULL an instance opened for the call with n_threads,
 * which should be the thread count ctx was opened with; 0: all cores).
 * Every node is checked (ia__node_check) before any is computed. stats
 * (may be NULL) is filled. A node moved to the CPU from a backend with
 * device memory (upload/download set) gets host copies of exactly its
 * inputs and output, one download each (none for an output it overwrites
 * whole) and one upload of the output, all counted; weights `be` prepared
 * are not read there (the node fails, IA_ERR_UNSUPPORTED, if the weight
 * has no plain data). Errors name the node by its index in the whole
 * list. */
ia_status ia__graph_run_on(const ia_backend *be, void *ctx, void *cpu_ctx, int n_threads, const ia_node *nodes,
                           int n, ia_sched_stats *stats);
/* ia__graph_run_on with a CPU instance of all cores opened for the call. */
ia_status ia__graph_run(const ia_backend *be, void *ctx, const ia_node *nodes, int n, ia_sched_stats *stats);

/* Built-in backends' constructors (one per folder under src/backend/). */
const ia_backend *ia__backend_cpu(void);
const ia_backend *ia__backend_vulkan(void); /* where built (IA_HAVE_VULKAN) */

#endif
