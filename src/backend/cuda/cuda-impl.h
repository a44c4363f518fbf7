/*
 * The CUDA backend's two halves: cuda.c (C11: the plugin table, devices,
 * memory, cuBLAS, the loop over a graph's nodes) and kernels.cu (CUDA C++:
 * the kernels and the launchers declared here). Tensors cross as cu_view,
 * a device pointer with the engine's shape and byte strides, so that
 * kernels.cu needs no engine header. Every launcher enqueues on the given
 * stream and returns the launch's error (cudaSuccess, or a bad
 * configuration); what a kernel finds wrong in the data (a row id out of
 * range, bad sequence offsets) it writes to *flag as CU_FLAG(code, node),
 * which graph_compute reads back once the graph has run. Never installed.
 */
#ifndef IA_CUDA_IMPL_H
#define IA_CUDA_IMPL_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element types, numbered as ia_dtype numbers them (tensor/dtype.h; cuda.c
 * checks that they agree). */
enum {
    CU_F32 = 0,
    CU_F16 = 1,
    CU_BF16 = 2,
    CU_I32 = 5,
    CU_I8 = 6,
    CU_Q8_0 = 7,
    CU_Q4_0 = 8,
    CU_Q4_1 = 9,
    CU_Q4_K = 10,
    CU_Q5_K = 11,
    CU_Q6_K = 12,
};

/* Activations, as ia_act: none, gelu (erf), gelu (tanh), relu, silu. */
enum { CU_ACT_NONE, CU_ACT_GELU, CU_ACT_GELU_TANH, CU_ACT_RELU, CU_ACT_SILU };

/* A tensor in device memory: element 0, the dtype, elements per dimension
 * and bytes between indices (nb[0] is a block's bytes for block types,
 * whose rows are addressed through nb[1..3] only). */
typedef struct cu_view {
    char *p;
    int type;
    int64_t ne[4];
    int64_t nb[4];
} cu_view;

/* What kernels report through *flag: code in the top byte, node index + 1
 * below it. */
#define CU_FLAG(code, node) (((code) << 24) | ((node) + 1))
enum { CU_BAD_ROW_ID = 1, CU_BAD_OFFSETS = 2 };

/* Rows of at most this many activations go to the matrix-vector kernels
 * (decoding); more to cuBLAS. */
#define CU_MMV_MAX 8
/* Head sizes the attention kernel takes. */
#define CU_ATT_MAX_HD 256

/* add, mul (b broadcast where it has 1), scale (by f), unary (act), glu
 * (act(a) * b, or of a's rows [gate | up] halves when b.p is NULL): dst d,
 * any strides, f32. */
enum { CU_ADD, CU_MUL, CU_SCALE, CU_UNARY, CU_GLU };
cudaError_t cu_eltwise(cudaStream_t s, int op, cu_view d, cu_view a, cu_view b, int act, float f);

/* Per row of ne0 (elements adjacent): softmax(a * f); LayerNorm(a + res)
 * * w + b with eps f (res.p, w, b may be NULL); RMSNorm a / rms * w. */
enum { CU_SOFTMAX, CU_LAYERNORM, CU_RMSNORM };
cudaError_t cu_rows(cudaStream_t s, int op, cu_view d, cu_view a, cu_view res, const float *w, const float *b,
                    float f);

/* Rotary positions on a (head_dim, heads, tokens) into d: pair i of token t
 * turned by pos[t] * inv_freq[i] / ff[i] (ff may be NULL) radians, in
 * double as the CPU backend computes it; pairs (2i, 2i+1), or (i, i +
 * n_dims/2) with neox. */
cudaError_t cu_rope(cudaStream_t s, cu_view d, cu_view a, const int32_t *pos, const float *ff,
                    const double *inv_freq, int n_dims, int neox);

/* Attention parameters (ia_attn_params, with the node's operands). */
typedef struct cu_attn {
    int mask, window; /* ia_mask: none, causal, sliding, local */
    float scale;
    int64_t pos_q0;
    const int32_t *off; /* packed sequences' offsets (n_seqs + 1), or NULL */
    int n_seqs;
    int bias;           /* 0 none, 1 relative-position buckets, 2 ALiBi */
    const float *tab;   /* the bias table; element (h, bucket) at h tab_s0 + bucket tab_s1 floats */
    int64_t tab_s0, tab_s1;
    const int32_t *bucket; /* buckets: bucket of relative position r at bucket[r - rmin] */
    int64_t rmin;
    int *flag;
    int node;
} cu_attn;
/* q (hd, H, nq) f32, k and v (hd, Hk, nkv) both f32 or both f16, any
 * head and token strides, into d (hd, H, nq): online softmax over tiles of
 * keys in shared memory, no score matrix in global memory. */
cudaError_t cu_attention(cudaStream_t s, cu_view d, cu_view q, cu_view k, cu_view v, const cu_attn *p);

/* d (ne0, n) f32 = rows ids[0..n) of tab (any dtype of cu_dequant). */
cudaError_t cu_get_rows(cudaStream_t s, cu_view d, cu_view tab, const int32_t *ids, int *flag, int node);

/* d = a converted: a of any dtype of cu_dequant, d f32, f16, bf16, i32 or
 * i8 (rounded as the engine's from_f32 rounds), same shape, any strides. */
cudaError_t cu_cpy(cudaStream_t s, cu_view d, cu_view a);

/* The N rows of w (K, N): f32, f16, bf16, i32, i8, q8_0, q4_0, q4_1, q4_K,
 * q5_K, q6_K, written to out (N x K, contiguous) as out_type (CU_F32,
 * CU_F16 or CU_BF16). */
cudaError_t cu_dequant(cudaStream_t s, void *out, int out_type, cu_view w);

/* The M rows of x (K, M) f32 into out (M x K, contiguous) as out_type;
 * with q8, through the 8-bit blocks the CPU backend multiplies (value =
 * q d), so that a GEMM on dequantized weights computes its numbers. */
cudaError_t cu_convert(cudaStream_t s, void *out, int out_type, cu_view x, int q8);

/* The 8-bit form of nb blocks of activations (cu_quant_q8): where its
 * quants start (16-byte aligned for vector loads), and its bytes for M rows
 * of K. */
#define CU_Q8_QS(nb) (((size_t)(nb) * 8 + 15) & ~(size_t)15)
#define CU_Q8_BYTES(M, K) (CU_Q8_QS((size_t)(M) * (size_t)((K) / 32)) + (size_t)(M) * (size_t)((K) / 32) * 32)
/* x (K, M) f32 in blocks of 32, as the CPU backend quantizes activations
 * for q8_0, q4_0 and q4_1 weights: d = max |x| / 127, q = x / d rounded
 * to nearest even, s = d sum(q) (d = 0 below 1e-30, NaN for a block with
 * an infinity or NaN). Into q8: d of every block, then s, then the
 * quants, 32 bytes a block. */
cudaError_t cu_quant_q8(cudaStream_t s, void *q8, cu_view x);

/* d (N, M <= CU_MMV_MAX) = act(x W^T + bias): one warp per output column,
 * reading each weight row once for all M rows. q8 (cu_quant_q8 of x) for
 * q8_0, q4_0 and q4_1 weights, whose blocks multiply it in integers (dp4a);
 * other weights are read as floats against x, rounded to x_type (CU_F16 or
 * CU_BF16 at those precisions, else CU_F32). bias may be NULL. */
cudaError_t cu_mmv(cudaStream_t s, cu_view d, cu_view x, cu_view w, const void *q8, const float *bias, int act,
                   int x_type);

/* d (N, M) = act(d + bias) in place (after a cuBLAS product); bias may be
 * NULL. */
cudaError_t cu_bias_act(cudaStream_t s, cu_view d, const float *bias, int act);

#ifdef __cplusplus
}
#endif

#endif
