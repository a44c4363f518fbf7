/*
 * Inside the CPU backend: the kernels each instruction-set level provides
 * (runtime dispatch: AVX-512, AVX2+FMA, portable C), the precision
 * variants of linear layers, and test hooks.
 */
#ifndef IA_BACKEND_CPU_IMPL_H
#define IA_BACKEND_CPU_IMPL_H

#include "backend/backend-impl.h"

typedef enum ia__cpu_isa {
    IA_CPU_ISA_PORTABLE, /* plain C, any x86-64 (or other) CPU */
    IA_CPU_ISA_AVX2,     /* AVX2 + FMA */
    IA_CPU_ISA_AVX512,   /* AVX-512 F/BW/DQ/VL */
} ia__cpu_isa;

/* Element-wise and attention kernels, one table per ISA level. Rows are
 * contiguous with the given leading dimension (in floats). */
typedef struct ia__cpu_kernels {
    const char *name;
    /* y[r][j] = act(y[r][j] + b[j]) for rows [0, rows); b may be NULL. */
    void (*bias_act)(float *y, int rows, int n, const float *b, ia_act act);
    /* x[r] = LayerNorm(x[r] + y[r] + b) * g + beta; y and b may be NULL. */
    void (*add_ln)(float *x, const float *y, const float *b, const float *g,
                   const float *beta, int rows, int n, float eps);
    /* One head of one sequence: q, k, v rows of `len` tokens at stride
     * `ld` (floats), head_dim `hd`; out rows at stride `ldo`. scratch holds
     * IA_CPU_ATTN_SCRATCH(len, hd) floats. bias (NULL: none) is added to
     * the scaled score of query i and key j as bias[j - i]: readable from
     * bias[-(len - 1)] to bias[len - 1] (a head's relative-position bias). */
    void (*attention_head)(const float *q, const float *k, const float *v, int ld, int len,
                           int hd, float scale, float *out, int ldo, float *scratch, const float *bias);
    /* Per-row asymmetric 8-bit quantization of x (rows, n), each column
     * first multiplied by col_scale[j] (NULL: 1):
     * x[r][j] col_scale[j] ~ zero[r] + scale[r] * q[r][j], q in 0..255. */
    void (*quantize_rows)(const float *x, int rows, int n, const float *col_scale,
                          unsigned char *q, float *scale, float *zero);
    /* bf16 (round to nearest even) of n floats. */
    void (*to_bf16)(const float *x, size_t n, uint16_t *out);
    /* G (1..4) queries q_g (hd each, rows qs floats apart) over the same n
     * key rows k and value rows v (ks, vs elements apart; f32, or f16
     * when half): o_g (rows os floats apart) = softmax(scale q_g.k_j +
     * b_g[j]) v_j, max subtracted; sc holds G n floats of scratch. b_g =
     * bias + g bs (n floats each), or 0 when bias is NULL. cold: k and v
     * are likely out of cache (a decode step's few queries read them
     * once), prefetch them. half only where attend_f16, for hd a multiple
     * of 8. */
    void (*attend_rows)(const float *q, size_t qs, int G, const void *k, size_t ks, const void *v, size_t vs,
                        int n, int hd, float scale, float *sc, float *o, size_t os, const float *bias, size_t bs,
                        bool cold, bool half);
    bool attend_f16;
} ia__cpu_kernels;

/* Floats of scratch attention_head needs: K transposed and a few rows of
 * scores, both padded to lp = len rounded up to 16. */
#define IA_CPU_ATTN_SCRATCH(len, hd) \
    ((size_t)((hd) + 8) * (((size_t)(len) + 15) & ~(size_t)15) + 4 * (size_t)(hd) + 64)

extern const ia__cpu_kernels ia__cpu_kernels_portable;
extern const ia__cpu_kernels ia__cpu_kernels_avx2;
extern const ia__cpu_kernels ia__cpu_kernels_avx512;

/* The ISA the backend runs at: the best this CPU has, lowered by the
 * environment variable IA_CPU_ISA=portable|avx2|avx-vnni|avx512 (tests
 * force the lower paths with it; avx-vnni is avx2 with AVX-VNNI's int8,
 * avx2 without it). */
ia__cpu_isa ia__cpu_isa_level(void);
const char *ia__cpu_isa_name(void);
/* Whether the backend runs at AVX-512 on a CPU with AVX512-VNNI. */
bool ia__cpu_has_vnni(void);
/* Whether int8 runs AVX-VNNI's 256-bit vpdpbusd at the AVX2 level: a CPU
 * with AVX-VNNI and no AVX512-VNNI (or IA_CPU_ISA=avx-vnni). */
bool ia__cpu_has_avx_vnni(void);
/* The int8 linear layers' GEMMs: with AVX512-VNNI (i8gemm-avx512.c,
 * only where ia__cpu_has_vnni()), else with AVX2 (i8gemm-avx2.c:
 * ia__i8_gemm_avx_vnni where ia__cpu_has_avx_vnni(); ia__i8_gemm_avx2
 * adds the u8 x s8 products of inputs k and k+1, k even, in 16 bits with
 * saturation, which the weights' quantization keeps exact). Weights (n, k)
 * s8 are packed once into panels of IA_I8_PANEL (VNNI) or
 * IA_I8_PANEL_AVX2 outputs, 4 inputs of an output in 4 adjacent bytes;
 * activations are u8 rows lda bytes apart, read 4 bytes at a time (up to
 * 3 bytes past k, which meet zero weights, so the last row needs them
 * readable). Panels [p0, p1) of
 * y[r][j] = rs[r] sw[j] (a w^T)[r][j] + rz[r] ws[j] + b[j] (b may be NULL),
 * then y[r][j] = act(that) or, with add, y[r][j] += that. */
enum { IA_I8_PANEL = 64, IA_I8_PANEL_AVX2 = 16 };
typedef struct ia__i8_out {
    const float *rs, *rz;     /* rows' scales and zero points */
    const float *sw, *ws, *b; /* outputs' weight scales, scaled weight sums, biases */
    ia_act act;
    bool add;
    float *y;
    size_t ldy;
} ia__i8_out;
size_t ia__i8_packed_bytes(int n, int k, int panel);
void ia__i8_pack(const int8_t *w, int n, int k, int panel, int8_t *wp);
void ia__i8_gemm(int m, int n, int k, const uint8_t *a, size_t lda, const int8_t *wp, int p0, int p1,
                 const ia__i8_out *o);
void ia__i8_gemm_avx2(int m, int n, int k, const uint8_t *a, size_t lda, const int8_t *wp, int p0, int p1,
                      const ia__i8_out *o);
void ia__i8_gemm_avx_vnni(int m, int n, int k, const uint8_t *a, size_t lda, const int8_t *wp, int p0, int p1,
                          const ia__i8_out *o);

/* The fp32 linear layers' GEMM at the AVX2 level (f32gemm-avx2.c), where
 * oneDNN repacks plain weights at every call. Weights (n, k) packed once
 * into panels of IA_F32_PANEL outputs; panels [p0, p1) of
 * y (m, n) = x (m, k) w^T, rows ldx and ldy floats apart. */
enum { IA_F32_PANEL = 16 };
size_t ia__f32_packed_floats(int n, int k);
void ia__f32_pack(const float *w, int n, int k, float *wp);
void ia__f32_gemm(int m, int n, int k, const float *x, size_t ldx, const float *wp, int p0, int p1, float *y,
                  size_t ldy);

/* GELU in the vector kernels as max(x, 0) - g(|x|), g(a) = a Phi(-a): g
 * a polynomial on each of equal pieces of [0, IA_GELU_END), interpolated
 * at the piece's Chebyshev nodes, and g(IA_GELU_END) = 1e-7 past them.
 * AVX-512: cubics on 32 pieces (vpermt2ps), within 5e-7 of the exact
 * GELU; AVX2: quintics on 8 pieces (vpermps), within 1e-6: a third and a
 * half of the erf form's instructions. Made on first use. */
#define IA_GELU_END 5.5
typedef struct ia__gelu_coef {
    float cubic[4][32] __attribute__((aligned(64)));  /* [power of |x|][piece] */
    float quintic[6][8] __attribute__((aligned(32)));
} ia__gelu_coef;
const ia__gelu_coef *ia__gelu_coef_get(void);

/* The kernel table of that level. */
const ia__cpu_kernels *ia__cpu_kernels_active(void);

/* The calling thread's next OpenMP regions (and oneDNN's) get exactly n
 * threads: oneDNN computes wrong results when granted fewer than it
 * planned for. */
void ia__cpu_use_threads(int n);

/* Test hooks: cap the matmul primitive cache at n primitives (1 to 4096,
 * the default), and read how many it holds and has evicted. */
void ia__cpu_pcache_limit(size_t n);
void ia__cpu_pcache_stats(size_t *live, unsigned long *evicted);

#endif
