/*
 * The int8 linear layers' GEMM without AVX512-VNNI (AVX2): the same packed
 * layout as the VNNI kernel's, in panels of 16 outputs. Per 4 inputs of a
 * row and 8 outputs, vpmaddubsw adds the u8 x s8 products of inputs k and
 * k+1 in 16 bits (with saturation, which the weights' quantization keeps
 * from happening: cpu.c), vpmaddwd adds those pairs into 32 bits; where
 * the CPU has AVX-VNNI, vpdpbusd does both in one step (no pair bound).
 * Tiles of 4 rows by 16 outputs (8 accumulators: AVX2 has 16 registers;
 * 6 rows with vpdpbusd, which needs no temporaries);
 * the dequantization, bias or residual add in registers, the activation
 * on the stored rows while they are in L1. oneDNN's AVX2 int8 GEMM
 * packs the weights again at every call.
 */
#include <string.h>

#include "backend/cpu/cpu-impl.h"

size_t ia__i8_packed_bytes(int n, int k, int panel)
{
    return (size_t)((n + panel - 1) / panel) * panel * (size_t)((k + 3) & ~3);
}

void ia__i8_pack(const int8_t *w, int n, int k, int panel, int8_t *wp)
{
    const size_t k4 = (size_t)((k + 3) & ~3);
    memset(wp, 0, ia__i8_packed_bytes(n, k, panel));
    for (int j = 0; j < n; j++) {
        int8_t *dst = wp + (size_t)(j / panel) * panel * k4 + (size_t)(j % panel) * 4;
        for (int i = 0; i < k; i++)
            dst[(size_t)(i / 4) * panel * 4 + i % 4] = w[(size_t)j * k + i];
    }
}

#if defined(__x86_64__) || defined(__i386__)
#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif
#include <immintrin.h>

/* rows per tile: vpmaddubsw's pairs need two registers more than vpdpbusd */
enum { NR = IA_I8_PANEL_AVX2, MR_MADDUBS = 4, MR_VNNI = 6, MR = MR_VNNI };

/* sums (mr, 16) = rows [0, mr) of a times the panel; mr is a constant in
 * each caller, DOT(acc, x, w) adds the u8 x s8 products of 4 inputs. */
#define ACCUMULATE_BODY(DOT)                                                                              \
    __m256i acc[MR][2];                                                                                   \
    _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();  \
    for (int k = 0; k < k4; k += 4, wp += 4 * NR) {                                                       \
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)(const void *)wp),                         \
                      w1 = _mm256_loadu_si256((const __m256i *)(const void *)(wp + 32));                  \
        _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++)                                              \
        {                                                                                                 \
            int32_t four;                                                                                 \
            memcpy(&four, a + (size_t)r * lda + k, 4);                                                    \
            const __m256i x = _mm256_set1_epi32(four);                                                    \
            acc[r][0] = DOT(acc[r][0], x, w0);                                                            \
            acc[r][1] = DOT(acc[r][1], x, w1);                                                            \
        }                                                                                                 \
    }                                                                                                     \
    _Pragma("GCC unroll 6") for (int r = 0; r < mr; r++)                                                  \
    {                                                                                                     \
        _mm256_store_si256((__m256i *)(void *)(sums + r * NR), acc[r][0]);                                \
        _mm256_store_si256((__m256i *)(void *)(sums + r * NR + 8), acc[r][1]);                            \
    }

/* vpmaddubsw adds products in pairs into 16 bits, vpmaddwd the pairs into 32 */
#define DOT_MADDUBS(acc, x, w) _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), ones))
static inline __attribute__((always_inline)) void accumulate(const int mr, int k4, const uint8_t *a, size_t lda,
                                                             const int8_t *wp, int32_t *sums)
{
    const __m256i ones = _mm256_set1_epi16(1);
    ACCUMULATE_BODY(DOT_MADDUBS)
}

/* AVX-VNNI's vpdpbusd (Intel since Alder Lake, AMD since Zen 5): four
 * products into 32 bits in one instruction, no 16-bit step. */
#define AVX_VNNI __attribute__((target("avx2,fma,avxvnni")))
static inline __attribute__((always_inline)) AVX_VNNI void accumulate_vnni(const int mr, int k4, const uint8_t *a,
                                                                           size_t lda, const int8_t *wp,
                                                                           int32_t *sums)
{
    ACCUMULATE_BODY(_mm256_dpbusd_avx_epi32)
}

/* One function per row count (see i8gemm-avx512.c). */
#define ACCUMULATE(name, mr, target)                                                                      \
    static __attribute__((noinline)) target void name##mr(int k4, const uint8_t *a, size_t lda,           \
                                                          const int8_t *wp, int32_t *sums)                \
    {                                                                                                     \
        name(mr, k4, a, lda, wp, sums);                                                                   \
    }
ACCUMULATE(accumulate, 1, )
ACCUMULATE(accumulate, 2, )
ACCUMULATE(accumulate, 3, )
ACCUMULATE(accumulate, 4, )
ACCUMULATE(accumulate_vnni, 1, AVX_VNNI)
ACCUMULATE(accumulate_vnni, 2, AVX_VNNI)
ACCUMULATE(accumulate_vnni, 3, AVX_VNNI)
ACCUMULATE(accumulate_vnni, 4, AVX_VNNI)
ACCUMULATE(accumulate_vnni, 5, AVX_VNNI)
ACCUMULATE(accumulate_vnni, 6, AVX_VNNI)
typedef void (*accumulator)(int, const uint8_t *, size_t, const int8_t *, int32_t *);
static const accumulator maddubs_accumulators[MR_MADDUBS + 1] = {NULL, accumulate1, accumulate2, accumulate3,
                                                                 accumulate4};
static const accumulator vnni_accumulators[MR_VNNI + 1] = {NULL,             accumulate_vnni1, accumulate_vnni2,
                                                           accumulate_vnni3, accumulate_vnni4, accumulate_vnni5,
                                                           accumulate_vnni6};

/* tiles of up to mt rows through accumulators[rows] */
static void gemm(const accumulator *accumulators, const int mt, int m, int n, int k, const uint8_t *a, size_t lda,
                 const int8_t *wp, int p0, int p1, const ia__i8_out *o)
{
    const int k4 = (k + 3) & ~3;
    int32_t sums[MR * NR] __attribute__((aligned(32)));
    for (int p = p0; p < p1; p++) {
        const int8_t *panel = wp + (size_t)p * NR * k4;
        const int col0 = p * NR, cols = n - col0 < NR ? n - col0 : NR;
        for (int i = 0; i < m; i += mt) {
            const int mr = m - i < mt ? m - i : mt;
            accumulators[mr](k4, a + (size_t)i * lda, lda, panel, sums);
            for (int r = 0; r < mr; r++) {
                const float s = o->rs[i + r], z = o->rz[i + r];
                float *y = o->y + (size_t)(i + r) * o->ldy + col0;
                if (cols == NR) {
                    for (int h = 0; h < NR; h += 8) {
                        const __m256 sw = _mm256_loadu_ps(o->sw + col0 + h), ws = _mm256_loadu_ps(o->ws + col0 + h);
                        const __m256 b = o->b ? _mm256_loadu_ps(o->b + col0 + h) : _mm256_setzero_ps();
                        __m256 v = _mm256_fmadd_ps(
                            _mm256_cvtepi32_ps(_mm256_load_si256((const __m256i *)(const void *)(sums + r * NR + h))),
                            _mm256_mul_ps(_mm256_set1_ps(s), sw), _mm256_fmadd_ps(_mm256_set1_ps(z), ws, b));
                        if (o->add)
                            v = _mm256_add_ps(v, _mm256_loadu_ps(y + h));
                        _mm256_storeu_ps(y + h, v);
                    }
                } else { /* the last, partial panel */
                    for (int c = 0; c < cols; c++) {
                        const int j = col0 + c;
                        const float v = (float)sums[r * NR + c] * (s * o->sw[j]) + (z * o->ws[j] + (o->b ? o->b[j] : 0));
                        y[c] = o->add ? y[c] + v : v;
                    }
                }
            }
        }
    }
    /* the activation over this call's columns of each row, still in cache */
    const int c0 = p0 * NR, c1 = p1 * NR < n ? p1 * NR : n;
    if (!o->add && o->act != IA_ACT_NONE && c1 > c0)
        for (int r = 0; r < m; r++)
            ia__cpu_kernels_avx2.bias_act(o->y + (size_t)r * o->ldy + c0, 1, c1 - c0, NULL, o->act);
}

void ia__i8_gemm_avx2(int m, int n, int k, const uint8_t *a, size_t lda, const int8_t *wp, int p0, int p1,
                      const ia__i8_out *o)
{
    gemm(maddubs_accumulators, MR_MADDUBS, m, n, k, a, lda, wp, p0, p1, o);
}

void ia__i8_gemm_avx_vnni(int m, int n, int k, const uint8_t *a, size_t lda, const int8_t *wp, int p0, int p1,
                          const ia__i8_out *o)
{
    gemm(vnni_accumulators, MR_VNNI, m, n, k, a, lda, wp, p0, p1, o);
}

#ifdef __clang__
#pragma clang attribute pop
#endif
#else /* no AVX2 here: never called (ia__cpu_isa_level() is portable) */
void ia__i8_gemm_avx2(int m, int n, int k, const uint8_t *a, size_t lda, const int8_t *wp, int p0, int p1,
                      const ia__i8_out *o)
{
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)wp, (void)p0, (void)p1, (void)o;
}
void ia__i8_gemm_avx_vnni(int m, int n, int k, const uint8_t *a, size_t lda, const int8_t *wp, int p0, int p1,
                          const ia__i8_out *o)
{
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)wp, (void)p0, (void)p1, (void)o;
}
#endif
