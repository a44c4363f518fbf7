/*
 * Typed tensors and the ops of the engine core. A tensor is a view: a
 * dtype, a shape of up to four dimensions with byte strides, and memory it
 * does not own (a backend buffer, a file mapping, the caller's array).
 * Model code builds a graph (a list of nodes, each one op on tensors) and a
 * backend computes the whole list, returning one status.
 *
 * Conventions, as ggml's: ne[0] is the innermost dimension, contiguous in
 * memory for a contiguous tensor; a matrix of R rows of C columns has
 * ne = {C, R, 1, 1}. Block types (q4_K...) are quantized along ne[0], which
 * must be a multiple of their block, and nb[0] is the block's size. Never
 * installed.
 */
#ifndef IA_TENSOR_TENSOR_H
#define IA_TENSOR_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core-impl.h"
#include "tensor/dtype.h"

#define IA_TENSOR_DIMS 4

typedef struct ia_tensor {
    ia_dtype dtype;
    int64_t ne[IA_TENSOR_DIMS]; /* elements per dimension (unused ones 1) */
    size_t nb[IA_TENSOR_DIMS];  /* bytes from one index to the next, per dimension */
    void *data;                 /* element 0 in host-addressable memory */
    /* A backend's prepared form of this weight (weight_prepare in
     * backend-impl.h: packed, converted, uploaded), or NULL. Only the
     * backend that made it reads it; data may then be NULL. */
    void *extra;
} ia_tensor;

/* A contiguous tensor of dtype t and shape ne0 x ne1 x ne2 x ne3 at data. */
ia_tensor ia__tensor(ia_dtype t, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3, void *data);
/* Rows [first, first + n) of dimension 1 (no copy). */
ia_tensor ia__tensor_rows(const ia_tensor *t, int64_t first, int64_t n);
int64_t ia__tensor_nelements(const ia_tensor *t);
/* Rows: the product of ne[1..3]. */
int64_t ia__tensor_nrows(const ia_tensor *t);
/* Bytes spanned from element 0 to the last element, inclusive. */
size_t ia__tensor_nbytes(const ia_tensor *t);
/* Bytes from element 0 to the end of the last element, for any strides
 * (ia__tensor_nbytes assumes adjacent elements inside a row). */
size_t ia__tensor_span(const ia_tensor *t);
/* Rows are packed one after another with no gaps. */
bool ia__tensor_contiguous(const ia_tensor *t);
/* Same dtype-independent shape. */
bool ia__tensor_same_shape(const ia_tensor *a, const ia_tensor *b);

typedef enum ia_op {
    /* dst (N, M) f32 = act(x (K, M) f32 · W (K, N)^T + bias (N)); W in any
     * dtype; bias src[2] may be NULL. Params: act. */
    IA_OP_MATMUL,
    /* dst = LayerNorm(src0 + src1) * src2 + src3 over each row; src1
     * (residual), src2 (weight), src3 (bias) may be NULL. Params: eps. */
    IA_OP_LAYERNORM,
    /* dst = src0 / sqrt(mean(src0^2) + eps) * src2 over each row; src2 may
     * be NULL. Params: eps. */
    IA_OP_RMSNORM,
    /* dst = src0 + src1, src0 * src1 (src1 broadcast along dims where it
     * has 1), src0 * scale. */
    IA_OP_ADD,
    IA_OP_MUL,
    IA_OP_SCALE,
    /* dst = act(src0) elementwise. Params: act (not NONE). */
    IA_OP_UNARY,
    /* Gated linear unit: with src1, dst = act(src0) * src1; without, src0
     * rows are [gate | up] halves and dst = act(gate) * up (swiglu with
     * SILU, geglu with GELU). Params: act. */
    IA_OP_GLU,
    /* Rotary positions on src0 (head_dim, n_heads, n_tokens) f32 at the
     * positions src1 (n_tokens) i32. src2 (n_dims / 2) f32 may be NULL:
     * per-pair frequency factors, pair i's frequency divided by src2[i]
     * (llama.cpp's rope_freqs: Llama 3 and YaRN scaling as data). Params:
     * rope. */
    IA_OP_ROPE,
    /* dst = softmax(src0 * scale) over each row. Params: scale. */
    IA_OP_SOFTMAX,
    /* Attention of queries src0 (head_dim, n_heads, n_q) f32 over keys
     * src1 and values src2 (head_dim, n_kv_heads, n_kv) in f32 or f16 (a
     * KV-cache view); n_heads a multiple of n_kv_heads (grouped-query).
     * dst (head_dim, n_heads, n_q). Query i of a sequence sits at position
     * pos_q0 + i, key j at j. With src3, an i32 (n_seqs + 1) of offsets,
     * the tokens are packed sequences (self-attention, n_q = n_kv,
     * pos_q0 0): sequence s is tokens [off[s], off[s+1]), its tokens see
     * only each other and positions count from its start. With
     * p.attn.bias set, a per-head position bias is added to each score
     * after the scale (ia_attn_bias below). Params: attn. */
    IA_OP_ATTENTION,
    /* dst (ne0, n) f32 = rows src1 (n) i32 of src0 (ne0, rows), any dtype. */
    IA_OP_GET_ROWS,
    /* dst = src0 converted to dst's dtype (quantized or not), same shape. */
    IA_OP_CPY,
    IA_OP_COUNT
} ia_op;

typedef enum ia_act {
    IA_ACT_NONE,
    IA_ACT_GELU,      /* exact, with erf */
    IA_ACT_GELU_TANH, /* tanh approximation */
    IA_ACT_RELU,
    IA_ACT_SILU,
} ia_act;

typedef enum ia_rope_mode {
    IA_ROPE_NORMAL, /* pairs (2i, 2i+1): GGUF Llama, after its Q/K row permutation */
    IA_ROPE_NEOX,   /* pairs (i, i + n/2): Hugging Face Llama, Qwen2, GPT-NeoX */
} ia_rope_mode;

typedef enum ia_rope_scaling {
    IA_ROPE_SCALE_NONE,
    IA_ROPE_SCALE_LINEAR, /* positions / factor */
    IA_ROPE_SCALE_LLAMA3, /* Llama 3.1's wavelength-dependent frequencies */
} ia_rope_scaling;

typedef struct ia_rope_params {
    ia_rope_mode mode;
    int n_dims;           /* rotated dimensions (<= head_dim; the rest pass) */
    float theta;          /* frequency base (10000, 500000...) */
    ia_rope_scaling scaling;
    float factor;         /* linear and llama3 */
    float low_freq_factor, high_freq_factor; /* llama3 */
    int original_max_position;               /* llama3 */
} ia_rope_params;

typedef enum ia_mask {
    IA_MASK_NONE,    /* bidirectional (encoders) */
    IA_MASK_CAUSAL,  /* a query sees keys at positions <= its own */
    IA_MASK_SLIDING, /* causal, and only the last `window` positions */
    /* bidirectional, and only keys at most `window` positions away on
     * either side, 2 window + 1 in all (ModernBERT's local layers:
     * window = local_attention / 2) */
    IA_MASK_LOCAL,
} ia_mask;

/* An additive bias on attention scores that depends only on the head and
 * the relative position r = key position - query position (positions as
 * IA_OP_ATTENTION counts them), computed by the backend from a small
 * per-head table: never a (queries x keys) matrix in memory. score(h, i,
 * j) = scale q_i.k_j + bias(h, r). */
typedef enum ia_attn_bias {
    IA_ATTN_BIAS_NONE,
    /* T5's bidirectional relative-position buckets (MPNet): bias(h, r) =
     * table[ia__attn_rel_bucket(r, num_buckets, max_distance)][h], table
     * f32 (n_heads, num_buckets) as ne = {n_heads, num_buckets} (Hugging
     * Face's relative_attention_bias.weight as stored). */
    IA_ATTN_BIAS_REL_BUCKET,
    /* Symmetric ALiBi (Jina BERT v2's encoder): bias(h, r) = -table[h] |r|,
     * table the per-head slopes f32 (n_heads) as ne = {n_heads}; no
     * buckets. */
    IA_ATTN_BIAS_ALIBI,
} ia_attn_bias;

typedef struct ia_attn_params {
    ia_mask mask;
    int window;       /* IA_MASK_SLIDING (>= 1), IA_MASK_LOCAL (>= 0) */
    float scale;      /* usually 1 / sqrt(head_dim) */
    int64_t pos_q0;   /* position of the first query (KV-cache decoding) */
    ia_attn_bias bias;            /* IA_ATTN_BIAS_NONE (0): no bias */
    int num_buckets, max_distance; /* IA_ATTN_BIAS_REL_BUCKET: even >= 4; > num_buckets / 4 */
    /* The bias table (see ia_attn_bias): an operand like the srcs, in the
     * backend's memory, read only; NULL when bias is NONE. */
    const ia_tensor *bias_table;
} ia_attn_params;

/* T5's bidirectional bucket of relative position r (key - query) among
 * num_buckets (even): half for each sign (r > 0 in the upper half),
 * |r| < num_buckets / 4 exact, then logarithmic up to max_distance, where
 * the last bucket of the half takes everything beyond. As Hugging Face's
 * MPNet / T5 relative_position_bucket (exact at the log steps' edges). */
int ia__attn_rel_bucket(int64_t r, int num_buckets, int max_distance);

/* The position bias of p (not NONE) for heads 0..H-1 at every relative
 * position r in [rmin, rmin + span): out[h * span + r - rmin], from its
 * table's bytes `tab` in host memory (strides as p->bias_table's). What
 * the backends add to the scores, one vector per head. */
void ia__attn_bias_fill(const ia_attn_params *p, const char *tab, int64_t H, int64_t rmin, int64_t span, float *out);

/* Rotary pair i's frequency (of n_dims / 2) under p's scaling, in double
 * (positions in the thousands need the digits); a rope node divides it by
 * its src2 factor. */
double ia__rope_inv_freq(const ia_rope_params *p, int i);

/* ia_node flags. */
enum {
    /* Nothing reads dst after the node that follows this one, which reads
     * it: a backend may fuse the two (a matmul with the residual add and
     * LayerNorm after it) and leave dst undefined. */
    IA_NODE_DST_SCRATCH = 1u << 0,
    /* A matmul's weight (src[1]) or a get_rows table (src[0]), q8_0,
     * q4_0 or q4_1 with rows a multiple of 8, lies interleaved in groups
     * of 8 rows (ia__dtype_interleave8); a backend that does not read that
     * layout must refuse the node. */
    IA_NODE_W_INTERLEAVED8 = 1u << 1,
};

typedef struct ia_node {
    ia_op op;
    unsigned flags; /* IA_NODE_* */
    ia_tensor *dst;
    const ia_tensor *src[4];
    union {
        ia_act act;
        float eps;
        float scale;
        ia_rope_params rope;
        ia_attn_params attn;
    } p;
} ia_node;

const char *ia__op_name(ia_op op);
const char *ia__act_name(ia_act act);

/* Check a node's shapes and dtypes against its op's rules above:
 * IA_ERR_INVALID naming the op and the operand at fault. Backends call it
 * before computing. */
ia_status ia__node_check(const ia_node *node);

#endif
