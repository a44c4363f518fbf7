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

#define IA_BACKEND_API_VERSION 2

typedef enum ia_activation {
    IA_ACT_NONE,
    IA_ACT_GELU,      /* exact, with erf (Hugging Face "gelu") */
    IA_ACT_GELU_TANH, /* tanh approximation ("gelu_new", "gelu_pytorch_tanh") */
    IA_ACT_RELU,
} ia_activation;

typedef enum ia_pool_mode { IA_POOL_MEAN, IA_POOL_CLS, IA_POOL_MAX } ia_pool_mode;

/* A linear layer y = x W^T + b prepared by the backend (packed, converted
 * to the compute precision, uploaded...). Opaque to model code. */
typedef struct ia_linear ia_linear;

/* linear_new_hint flags. */
enum {
    /* 8-bit activations cost this layer too much accuracy (measured on
     * all-MiniLM-L6-v2: the QKV and FFN-output projections): in int8 mode
     * keep it at bf16 (or fp32 where the CPU has no bf16). */
    IA_LINEAR_INT8_SENSITIVE = 1u << 0,
};

struct ia_backend_i {
    /* Number of devices this backend drives (>= 1 when usable). */
    int (*device_count)(void *ctx);
    /* Human-readable device name, e.g. "Intel Xeon ... (AVX-512)". */
    const char *(*device_name)(void *ctx, int device);

    /* Memory the ops work on, and copies in and out of it. For backends
     * whose memory is host memory, upload/download are NULL: plain memcpy. */
    void *(*buf_alloc)(void *ctx, size_t bytes);
    void (*buf_free)(void *ctx, void *buf);
    void (*upload)(void *ctx, void *dst, const void *src, size_t bytes);
    void (*download)(void *ctx, void *dst, const void *src, size_t bytes);

    /* Prepare a linear layer from float32 weights W (n_out, n_in) and
     * bias b (n_out) or NULL. The backend keeps its own copy. */
    ia_status (*linear_new)(void *ctx, const float *W, const float *b,
                            int n_out, int n_in, ia_linear **out);
    void (*linear_free)(void *ctx, ia_linear *lin);
    /* y (n_rows, n_out) = act(x (n_rows, n_in) W^T + b) */
    void (*linear)(void *ctx, const ia_linear *lin, const float *x, float *y,
                   int n_rows, ia_activation act);

    /* Token embeddings: x (n_tok, dim) = word[ids] + pos[position in its
     * sequence] + type[0]. Tables are backend buffers. */
    void (*embed)(void *ctx, const int32_t *ids, const int *offsets, int n_seqs,
                  const float *word, const float *pos, const float *type,
                  int dim, float *x);
    /* x (n_rows, dim) = LayerNorm(x + residual) * gamma + beta; residual
     * may be NULL. */
    void (*add_layernorm)(void *ctx, float *x, const float *residual,
                          const float *gamma, const float *beta, int n_rows,
                          int dim, float eps);
    /* Multi-head self-attention inside each sequence (no cross-sequence
     * attention, so no padding mask is needed). qkv (n_tok, 3*dim) holds
     * Q|K|V per token; out (n_tok, dim). */
    ia_status (*attention)(void *ctx, const float *qkv, float *out,
                           const int *offsets, int n_seqs, int n_heads, int head_dim);
    /* out (n_seqs, dim) = pooling of each sequence's rows of x. */
    void (*pool)(void *ctx, const float *x, const int *offsets, int n_seqs,
                 int dim, ia_pool_mode mode, float *out);

    /* Set the number of worker threads (0: all cores). NULL: fixed. */
    void (*set_threads)(void *ctx, int n_threads);
    /* The precision the ops compute in ("fp32"). */
    const char *(*precision)(void *ctx);

    /* --- appended in API version 2 --- */

    /* res (n_rows, n_out) = LayerNorm(res + x W^T + b) * gamma + beta, the
     * linear layer fused with the residual add and LayerNorm that follow it
     * in post-LN transformers. tmp is caller scratch of (n_rows, n_out)
     * floats. NULL: use linear() then add_layernorm(). */
    void (*linear_add_layernorm)(void *ctx, const ia_linear *lin, const float *x, float *res,
                                 float *tmp, int n_rows, const float *gamma,
                                 const float *beta, float eps);
    /* Precision of the linear layers prepared from now on: "fp32", "int8"
     * (int8 weights, dynamically quantized activations) or "bf16". Where the
     * CPU lacks the instructions the backend keeps fp32 (precision() then
     * says so). Returns IA_ERR_INVALID for an unknown name. NULL: fp32 only
     * (any other request is IA_ERR_UNSUPPORTED for the caller to report). */
    ia_status (*set_precision)(void *ctx, const char *precision);
    /* linear_new with hints for reduced precision: in_scale (n_in) is the
     * typical magnitude of each input channel (for a layer fed by a
     * LayerNorm, |gamma| + |beta|), or NULL; an int8 backend uses it to
     * move the activations' outlier channels into the weights
     * (SmoothQuant). flags: IA_LINEAR_* below. NULL slot: use linear_new. */
    ia_status (*linear_new_hint)(void *ctx, const float *W, const float *b, int n_out,
                                 int n_in, const float *in_scale, unsigned flags,
                                 ia_linear **out);
};

typedef struct ia_backend {
    int api_version;
    const char *name; /* "cpu", "cuda" */
    struct ia_backend_i iface;
    void *ctx;
} ia_backend;

/* Registry. Built-in backends register at start-up. Thread-safe. */
ia_status ia__backend_register(const ia_backend *be);
/* The backend called `name`, or NULL. "auto" gives the preferred usable one. */
const ia_backend *ia__backend_find(const char *name);

/* Built-in backends' constructors (one per folder under src/backend/). */
const ia_backend *ia__backend_cpu(void);

#endif
