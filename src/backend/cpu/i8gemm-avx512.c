/*
 * The int8 linear layers' GEMM on AVX-512 VNNI: u8 activation rows times
 * s8 weights packed in panels of 64 outputs (4 k-values of an output in
 * 4 adjacent bytes, as vpdpbusd reads them), tiles of 6 rows by 64
 * outputs (24 accumulators) over the whole K. Each tile's int32 sums,
 * through a 6 x 64 buffer in L1, are dequantized, biased, activated (or
 * added to the residual) in registers and stored as f32: no int32 matrix
 * goes through memory, as it does with oneDNN's GEMM and a separate
 * epilogue pass. The sums are exact integers: only the epilogue rounds.
 */
#if defined(__x86_64__) || defined(__i386__)
#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma"))), \
                             apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma")
#endif
#include <immintrin.h>
#include <string.h>

#include "backend/cpu/cpu-impl.h"
#include "backend/cpu/math-avx512.h"

enum { NR = IA_I8_PANEL, MR = 6 };

static inline __attribute__((always_inline)) __mmask16 lanes(int left)
{
    return left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
}

/* What the epilogue does after the dequantization (a constant in each
 * of its instances, so that no branch is left in it). */
enum { E_STORE, E_GELU, E_RELU, E_ADD };

/* sums (mr, 64) = rows [0, mr) of a times the panel, over all of k4; mr
 * is a constant in each caller. */
static inline __attribute__((always_inline)) void accumulate(const int mr, int k4, const uint8_t *a, size_t lda,
                                                             const int8_t *wp, int32_t *sums)
{
    __m512i acc[MR][4];
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            acc[r][c] = _mm512_setzero_si512();
    for (int k = 0; k < k4; k += 4, wp += 4 * NR) {
        const __m512i w0 = _mm512_loadu_si512(wp), w1 = _mm512_loadu_si512(wp + 64),
                      w2 = _mm512_loadu_si512(wp + 128), w3 = _mm512_loadu_si512(wp + 192);
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            int32_t four;
            memcpy(&four, a + (size_t)r * lda + k, 4);
            const __m512i x = _mm512_set1_epi32(four);
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], x, w0);
            acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], x, w1);
            acc[r][2] = _mm512_dpbusd_epi32(acc[r][2], x, w2);
            acc[r][3] = _mm512_dpbusd_epi32(acc[r][3], x, w3);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            _mm512_store_si512(sums + r * NR + 16 * c, acc[r][c]);
}

/* One function per row count: inlined into the epilogue's code, GCC also
 * stores every accumulator to the stack at each step. */
#define ACCUMULATE(mr)                                                                                    \
    static __attribute__((noinline)) void accumulate##mr(int k4, const uint8_t *a, size_t lda,           \
                                                         const int8_t *wp, int32_t *sums)                \
    {                                                                                                     \
        accumulate(mr, k4, a, lda, wp, sums);                                                             \
    }
ACCUMULATE(1)
ACCUMULATE(2)
ACCUMULATE(3)
ACCUMULATE(4)
ACCUMULATE(5)
ACCUMULATE(6)
static void (*const accumulators[MR + 1])(int, const uint8_t *, size_t, const int8_t *, int32_t *) = {
    NULL, accumulate1, accumulate2, accumulate3, accumulate4, accumulate5, accumulate6};

/* y for rows [row0, row0 + mr) and the panel's `cols` (<= 64) outputs from
 * their sums: rs sw sums + (rz ws + b), then e; masked past the last
 * output. e is a constant in each caller; gelu: E_GELU's coefficients. */
static inline __attribute__((always_inline)) void epilogue(const int e, int mr, const int32_t *sums, int cols,
                                                           const ia__i8_out *o, const ia__gelu_coef *gelu,
                                                           int row0, int col0)
{
    __m512 coef[8];
    if (e == E_GELU)
        gelu512_coef(gelu, coef);
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        const __mmask16 m = lanes(cols - 16 * c);
        const int j = col0 + 16 * c;
        const __m512 sw = _mm512_maskz_loadu_ps(m, o->sw + j), ws = _mm512_maskz_loadu_ps(m, o->ws + j);
        const __m512 b = o->b ? _mm512_maskz_loadu_ps(m, o->b + j) : _mm512_setzero_ps();
        for (int r = 0; r < mr; r++) {
            float *y = o->y + (size_t)(row0 + r) * o->ldy + j;
            const __m512 off = _mm512_fmadd_ps(_mm512_set1_ps(o->rz[row0 + r]), ws, b);
            __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(sums + r * NR + 16 * c)),
                                       _mm512_mul_ps(_mm512_set1_ps(o->rs[row0 + r]), sw), off);
            if (e == E_ADD)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, y));
            else if (e == E_GELU)
                v = gelu512(v, coef);
            else if (e == E_RELU)
                v = _mm512_max_ps(v, _mm512_setzero_ps());
            _mm512_mask_storeu_ps(y, m, v);
        }
    }
}

static inline __attribute__((always_inline)) void panel_rows(const int e, int m, int k4, const uint8_t *a,
                                                             size_t lda, const int8_t *panel, int cols,
                                                             const ia__i8_out *o, const ia__gelu_coef *gelu,
                                                             int col0)
{
    int32_t sums[MR * NR] __attribute__((aligned(64)));
    for (int i = 0; i < m; i += MR) {
        const int mr = m - i < MR ? m - i : MR;
        /* The tile's output lines, cold (the residual rows it adds to or
         * lines it overwrites), into L1 while it accumulates. */
        for (int r = 0; r < mr; r++) {
            const float *y = o->y + (size_t)(i + r) * o->ldy + col0;
            for (int c = 0; c < cols; c += 16)
                _mm_prefetch((const char *)(y + c), _MM_HINT_T0);
            _mm_prefetch((const char *)(y + cols - 1), _MM_HINT_T0);
        }
        accumulators[mr](k4, a + (size_t)i * lda, lda, panel, sums);
        epilogue(e, mr, sums, cols, o, gelu, i, col0);
    }
}

void ia__i8_gemm(int m, int n, int k, const uint8_t *a, size_t lda, const int8_t *wp, int p0, int p1,
                 const ia__i8_out *o)
{
    const int k4 = (k + 3) & ~3;
    const int e = o->add ? E_ADD : o->act == IA_ACT_GELU ? E_GELU : o->act == IA_ACT_RELU ? E_RELU : E_STORE;
    const ia__gelu_coef *gelu = e == E_GELU ? ia__gelu_coef_get() : NULL;
    for (int p = p0; p < p1; p++) {
        const int8_t *panel = wp + (size_t)p * NR * k4;
        const int col0 = p * NR, cols = n - col0 < NR ? n - col0 : NR;
        switch (e) {
        case E_ADD: panel_rows(E_ADD, m, k4, a, lda, panel, cols, o, gelu, col0); break;
        case E_GELU: panel_rows(E_GELU, m, k4, a, lda, panel, cols, o, gelu, col0); break;
        case E_RELU: panel_rows(E_RELU, m, k4, a, lda, panel, cols, o, gelu, col0); break;
        default:
            panel_rows(E_STORE, m, k4, a, lda, panel, cols, o, gelu, col0);
            if (o->act != IA_ACT_NONE) /* the rarer activations: on the stored rows, still in cache */
                for (int r = 0; r < m; r++)
                    ia__cpu_kernels_avx512.bias_act(o->y + (size_t)r * o->ldy + col0, 1, cols, NULL, o->act);
            break;
        }
    }
}

#ifdef __clang__
#pragma clang attribute pop
#endif
#else /* no VNNI here: never called (ia__cpu_has_vnni() is false) */
#include "backend/cpu/cpu-impl.h"
#include "backend/cpu/math-avx512.h"

void ia__i8_gemm(int m, int n, int k, const uint8_t *a, size_t lda, const int8_t *wp, int p0, int p1,
                 const ia__i8_out *o)
{
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)wp, (void)p0, (void)p1, (void)o;
}
#endif
