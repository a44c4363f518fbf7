/*
 * What the encoder architectures (bert.c, modernbert.c) share to load
 * their weights: tensors found by name in a safetensors set, checked
 * against the shape the configuration implies and converted to f32, then
 * put in a backend's memory, or given to it to prepare (packed in its
 * precision) when they are a linear layer's. Never installed.
 */
#ifndef IA_MODEL_WEIGHTS_IMPL_H
#define IA_MODEL_WEIGHTS_IMPL_H

#include "backend/backend-impl.h"
#include "model/arch-impl.h"
#include "model/safetensors-impl.h"

/* A model's weights in a backend instance: the buffers and prepared
 * weights to release with it. */
typedef struct ia_weights {
    const ia_backend *be;
    void *bctx;         /* the backend instance */
    void **bufs;        /* backend memory holding the tensors */
    size_t n_bufs;
    void **prepared;    /* weight_prepare results */
    size_t n_prepared;
} ia_weights;

/* Reading tensors of one checkpoint. */
typedef struct ia_wloader {
    const ia_safetensors *st;
    const char *prefix;       /* before every name: "" or a task head's "bert." */
    size_t n_params;          /* elements read so far */
    const char *dtype;        /* of the first tensor, for info */
    const ia_st_tensor *last; /* the tensor ia__wl_fetch found last */
} ia_wloader;

/* Is `name` (under the prefix) in the checkpoint? */
bool ia__wl_has(const ia_wloader *ld, const char *name);
/* Find `name` (under the prefix; a LayerNorm's weight/bias also as the
 * gamma/beta of old TensorFlow conversions), check it is [d0] (d1 0) or
 * [d0, d1] and F32, F16 or BF16, and return it as f32 in a new array. */
ia_status ia__wl_fetch(ia_wloader *ld, const char *name, int64_t d0, int64_t d1, float **out);

/* *t = a (ne0, ne1) tensor of dtype dt holding `host`, copied into backend
 * memory. */
ia_status ia__weights_put(ia_weights *w, ia_tensor *t, ia_dtype dt, int64_t ne0, int64_t ne1, const void *host);
/* A stored vector or table `name` of shape [d0] or [d0, d1] into *t: in
 * its file dtype (f32, f16, bf16) when as_stored, else as f32. */
ia_status ia__weights_load(ia_weights *w, ia_wloader *ld, const char *name, int64_t d0, int64_t d1, bool as_stored,
                           ia_tensor *t);
/* A linear layer's f32 weights W (n_out, n_in) in host memory, with its
 * bias (n_out) or NULL (then *bt is left alone): prepared by the backend
 * when it can (hint: each input channel's typical size, or NULL), else
 * copied into its memory. */
ia_status ia__weights_put_linear(ia_weights *w, const float *W, const float *bias, int n_out, int n_in,
                                 const float *hint, ia_tensor *wt, ia_tensor *bt);
/* The linear layer `base`.weight (n_out, n_in) and, when with_bias,
 * `base`.bias (n_out), as ia__weights_put_linear. */
ia_status ia__weights_linear(ia_weights *w, ia_wloader *ld, const char *base, int n_out, int n_in, bool with_bias,
                             const float *hint, ia_tensor *wt, ia_tensor *bt);
/* |gamma| + |beta| of a LayerNorm whose tensors lie in host memory (beta
 * may be NULL: none), for a hint; NULL when the backend's memory is not
 * the host's or memory ran out. Freed by the caller (ia__free). */
float *ia__weights_ln_hint(const ia_weights *w, const ia_tensor *g, const ia_tensor *b);
/* Release everything put or prepared. */
void ia__weights_release(ia_weights *w);

/* A forward's inputs, checked against c's tables (nothing outside them
 * may reach the backend, whatever the tokenizer produced; errors begin
 * with `family`), in w's backend memory as one int32 buffer (*in, the
 * caller's: the backend's buf_free): ids (T = offsets[n_seqs]), positions
 * (T), the sequence offsets (n_seqs + 1), then the token types (T) when
 * types is not NULL. Positions count from each text's start, or with
 * c->pos_offset > 0 (RoBERTa, MPNet) from pos_offset, where as in Hugging
 * Face a padding token (id pos_offset - 1) sits at pos_offset - 1 and does
 * not advance the count. */
ia_status ia__encoder_inputs(const ia_weights *w, const ia_encoder_config *c, const char *family,
                             const int32_t *ids, const int32_t *types, const int *offsets, int n_seqs, int32_t **in);

#endif
