/*
 * The CPU backend's matrix multiply on weights of any compute dtype, for
 * decoders: y (M, N) = x (M, K) . W^T (+ bias), W being N rows of K
 * elements in f32, f16, bf16 or a GGUF block format (q8_0, q4_0, q4_1,
 * q4_K, q5_K, q6_K) exactly as it lies in a GGUF mapping.
 *
 * Designed as ggml does it: the activation rows are quantized once per call
 * (to 8-bit blocks of 32 for q8_0 / q4_0 / q4_1 weights, to 8-bit blocks of
 * 256 with sums of each 16 for the k-quants), then each (weight row, block)
 * pair is an integer dot product, scaled and accumulated in f32. f16 and
 * bf16 weights are widened to f32 in registers and multiplied with the f32
 * activations as they are. Kernels: AVX2 + FMA + F16C and portable C,
 * picked at run time with the rest of the backend (ia__cpu_isa_level(), so
 * IA_CPU_ISA=portable forces the plain path; an AVX-512 CPU runs the AVX2
 * kernels, with AVX-512 tiles for f32 / f16 / bf16 and VNNI for the
 * interleaved rows, which give the same bits). Each kernel call multiplies
 * one weight row with up to IA_QMM_NR activation rows, so a weight block
 * is decoded once for them.
 *
 * Precision: the weights are used exactly as stored; an activation x in a
 * block of largest magnitude a is replaced by d * q with d = a / 127 and q
 * = round(x / d), so it moves by at most d / 2. That bounds the error of an
 * output against the exact product with the dequantized weights by
 * sum over blocks of (d / 2) sum |w| in the block, plus f32 rounding
 * (tests/tensor/test_qmatmul.c checks both). An infinity or NaN among the
 * activations makes the outputs of its row NaN. The AVX2 kernels also use
 * F16C, which every AVX2 CPU has (the backend's AVX2 kernels do too).
 * Never installed.
 */
#ifndef IA_BACKEND_CPU_QMATMUL_IMPL_H
#define IA_BACKEND_CPU_QMATMUL_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipfs_accelerate/common.h"
#include "tensor/dtype.h"

/* Bytes of scratch ia__cpu_qmatmul needs for M activation rows of K against
 * weights of dtype t (0 for f32, f16 and bf16, which use x as it is). 0
 * too where t or K is not supported (ia__cpu_qmatmul says why). */
size_t ia__cpu_qmatmul_scratch(ia_dtype t, int64_t K, int64_t M);

/*
 * y (M, N) f32 = x (M, K) f32 . W^T (+ bias (N), NULL for none), with W
 * N rows of K elements of dtype t, rows contiguous (ia__dtype_row_bytes(t,
 * K) bytes each). K must be a multiple of t's block (32 for q8_0, q4_0,
 * q4_1; 256 for the k-quants); M or N of 0 does nothing. W aligned as its
 * elements (4 bytes for f32, 2 for the others), x, bias and y to 4 bytes;
 * y must not overlap x or W.
 *
 * Work is split over the N outputs among n_threads OpenMP threads (< 1:
 * one); the results do not depend on the number of threads, bit for bit. scratch: NULL to have the call allocate (and free) what it needs,
 * else at least ia__cpu_qmatmul_scratch(t, K, M) bytes aligned to 16,
 * which the call overwrites.
 *
 * IA_ERR_INVALID names a bad argument (NULL pointer, negative size, K not
 * a multiple of the block, misaligned pointer), IA_ERR_UNSUPPORTED a dtype
 * without kernels (i8, i32, i64), IA_ERR_NOMEM a failed scratch
 * allocation. Thread-safe; calls may run concurrently on different y.
 */
ia_status ia__cpu_qmatmul(const void *W, ia_dtype t, int64_t N, int64_t K, const float *x,
                          int64_t M, const float *bias, float *y, int n_threads, void *scratch);

/* The same with W's rows interleaved in groups of 8 (ia__dtype_interleave8;
 * t q8_0, q4_0 or q4_1, N a multiple of 8): per block, 8 weight rows' integer
 * sums in one vector's lanes, so that each weight block is decoded once
 * for 8 outputs and each product's scale and sum cost an eighth. Results
 * as precise as the plain layout's, and likewise independent of M and the
 * threads, but summed in another order (not bit-identical to it). */
ia_status ia__cpu_qmatmul_x8(const void *W, ia_dtype t, int64_t N, int64_t K, const float *x,
                             int64_t M, const float *bias, float *y, int n_threads, void *scratch);

/* ---------------------------------------------------------------------
 * Inside: the quantized activations and the kernel tables (for the
 * kernel files and the tests).
 */

/* Activation rows are multiplied with a weight row this many at a time;
 * tiles (below) take up to IA_QMM_TW weight rows by IA_QMM_TR activation
 * rows at once. */
enum { IA_QMM_NR = 4, IA_QMM_TW = 4, IA_QMM_TR = 6 };
/* The most activation rows an interleaved-rows kernel (dot8, dot16) takes:
 * x8_rows of its table, IA_QMM_NR or this. */
enum { IA_QMM_NR_X8 = 8 };

/* The dot kernels, which stream their weights from DRAM in a decode step,
 * ask for the bytes this far ahead of what they read (a software
 * prefetch: the hardware's alone left a decode step at 70-75% of the
 * machine's streaming read; bench/qmatmul_bench, cold weights, M = 1:
 * f16 17.7 -> 25 GB/s on 2 cores of a Xeon). */
enum { IA_QMM_PREFETCH = 4096 };
#define IA_QMM_PREFETCH_SPAN(p, n)                                                                  \
    do {                                                                                            \
        for (size_t pf_ = 0; pf_ < (size_t)(n); pf_ += 64)                                          \
            _mm_prefetch((const char *)(p) + IA_QMM_PREFETCH + pf_, _MM_HINT_T0);                   \
    } while (0)

/* 32 activations for q8_0, q4_0 and q4_1 weights: x[j] ~ d * qs[j], qs in
 * -127..127. s = d * sum(qs), which q4_1's min multiplies. The scale is
 * kept in f32 (ggml's q8_0 / q8_1 round it to f16; this is more exact). */
typedef struct ia__qmm_q8 {
    float d, s;
    int8_t qs[IA_QK];
} ia__qmm_q8;

/* 256 activations for the k-quants (ggml's block_q8_K): x[j] ~ d * qs[j],
 * bsums[i] = sum of qs[16 i .. 16 i + 15], which the k-quants' mins
 * multiply. */
typedef struct ia__qmm_q8K {
    float d;
    int8_t qs[IA_QK_K];
    int16_t bsums[IA_QK_K / 16];
} ia__qmm_q8K;

/* The activation format each weight dtype multiplies with. */
typedef enum ia__qmm_act {
    IA_QMM_ACT_NONE, /* no kernel for this dtype */
    IA_QMM_ACT_F32,  /* x as given (f32, f16, bf16 weights) */
    IA_QMM_ACT_Q8,   /* ia__qmm_q8 blocks */
    IA_QMM_ACT_Q8K,  /* ia__qmm_q8K blocks */
} ia__qmm_act;
ia__qmm_act ia__qmm_act_of(ia_dtype t);

/* s[r] = the dot product of weight row w (K elements of its dtype) with
 * activation row r < nr (1 <= nr <= IA_QMM_NR) of x, rows x_stride bytes
 * apart, in the activation format of the dtype. */
typedef void (*ia__qmm_dot_fn)(int64_t K, const void *w, const void *x, size_t x_stride, int nr,
                               float *s);

/* s[8 r + i] = the dot product of row i < 8 of a group of interleaved
 * weight rows (w: its first block) with activation row r < nr (1 <= nr <=
 * the table's x8_rows; q8 blocks, rows x_stride bytes apart). */
typedef void (*ia__qmm_dot8_fn)(int64_t K, const void *w, const void *x, size_t x_stride, int nr, float *s);

/* s[IA_QMM_TW r + i] = the dot product of weight row i < nw (1..IA_QMM_TW;
 * rows w_stride bytes apart) with f32 activation row r < nr (1..IA_QMM_TR),
 * each summed exactly as dot sums it. */
typedef void (*ia__qmm_tile_fn)(int64_t K, const void *w, size_t w_stride, int nw, const void *x,
                                size_t x_stride, int nr, float *s);

/* dot8 on two groups of interleaved rows, the second group_stride bytes
 * after the first: s[8 (2 r + g) + i], each as dot8 computes it. */
typedef void (*ia__qmm_dot16_fn)(int64_t K, const void *w, size_t group_stride, const void *x,
                                 size_t x_stride, int nr, float *s);

typedef struct ia__qmm_kernels {
    const char *name;                   /* "avx512-vnni", "avx512", "avx2", "portable" */
    ia__qmm_dot_fn dot[IA_DTYPE_COUNT]; /* NULL: no kernel for that dtype */
    ia__qmm_dot8_fn dot8_q8_0, dot8_q4_0, dot8_q4_1; /* interleaved rows */
    /* Optional (NULL: none), used in their place where present. */
    ia__qmm_tile_fn tile[IA_DTYPE_COUNT];
    ia__qmm_dot16_fn dot16_q8_0, dot16_q4_0, dot16_q4_1;
    /* Activation rows per dot8 / dot16 call: more rows share each weight
     * block's unpacking and pass, where the registers hold them. */
    int x8_rows;
    /* One activation row of K (a multiple of the block) into blocks: d =
     * max |x| / 127 per block, q = x / d rounded to nearest, ties to even.
     * A block below 1e-30 in magnitude becomes zeros (d = 0); one holding
     * an infinity or NaN gets d = NaN, so the outputs it reaches are NaN.
     * Every table quantizes to the same bytes. */
    void (*quantize_q8)(const float *x, ia__qmm_q8 *dst, int64_t K);
    void (*quantize_q8K)(const float *x, ia__qmm_q8K *dst, int64_t K);
} ia__qmm_kernels;

/* A kernel table of the including file's dot_f32 ... dot_q6_K (each ISA's
 * file names its kernels alike). */
#define IA_QMM_TABLE(NAME, Q8, Q8K)                                                                   \
    {                                                                                                 \
        .name = NAME,                                                                                 \
        .dot = {[IA_DTYPE_F32] = dot_f32, [IA_DTYPE_F16] = dot_f16, [IA_DTYPE_BF16] = dot_bf16,       \
                [IA_DTYPE_Q8_0] = dot_q8_0, [IA_DTYPE_Q4_0] = dot_q4_0, [IA_DTYPE_Q4_1] = dot_q4_1,   \
                [IA_DTYPE_Q4_K] = dot_q4_K, [IA_DTYPE_Q5_K] = dot_q5_K, [IA_DTYPE_Q6_K] = dot_q6_K},  \
        .dot8_q8_0 = dot8_q8_0, .dot8_q4_0 = dot8_q4_0, .dot8_q4_1 = dot8_q4_1, .quantize_q8 = Q8,      \
        .quantize_q8K = Q8K, .x8_rows = IA_QMM_NR,                                                    \
    }

extern const ia__qmm_kernels ia__qmm_kernels_portable;
extern const ia__qmm_kernels ia__qmm_kernels_avx2;

/* Sets the kernels AVX-512 (and with vnni, AVX512-VNNI) adds in a copy of
 * the AVX2 table (qmatmul-avx512.c). */
void ia__qmm_kernels_add_avx512(ia__qmm_kernels *kt, bool vnni);

/* The table ia__cpu_qmatmul uses: the AVX2 one with the AVX-512 additions
 * where the backend runs at AVX-512, AVX2 at AVX2, else portable. */
const ia__qmm_kernels *ia__qmm_kernels_get(void);

#endif
