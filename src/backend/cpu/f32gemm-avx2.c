/*
 * The fp32 linear layers' GEMM at the AVX2 level: oneDNN's AVX2 matmul
 * keeps the weights plain and repacks them at every call (measured at
 * 70% of its own GEMM peak end to end on all-MiniLM-L6-v2), so here the
 * weights are packed once, in panels of 16 outputs (k-major: the 16
 * outputs' weights of one input in two vectors), and tiles of 6 rows by
 * 16 outputs (12 accumulators) run over the whole K with FMA.
 */
#if defined(__x86_64__) || defined(__i386__)
#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif
#include <immintrin.h>
#include <string.h>

#include "backend/cpu/cpu-impl.h"

enum { NR = IA_F32_PANEL, MR = 6 };

size_t ia__f32_packed_floats(int n, int k) { return (size_t)((n + NR - 1) / NR) * NR * (size_t)k; }

void ia__f32_pack(const float *w, int n, int k, float *wp)
{
    memset(wp, 0, ia__f32_packed_floats(n, k) * sizeof(float));
    for (int j = 0; j < n; j++) {
        float *panel = wp + (size_t)(j / NR) * NR * k + j % NR;
        for (int i = 0; i < k; i++)
            panel[(size_t)i * NR] = w[(size_t)j * k + i];
    }
}

/* y (mr, 16) = rows [0, mr) of x times the panel; mr is a constant in each
 * caller. */
static inline __attribute__((always_inline)) void tile(const int mr, int k, const float *x, size_t ldx,
                                                       const float *wp, float *y, size_t ldy)
{
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
        acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int i = 0; i < k; i++, wp += NR) {
        const __m256 w0 = _mm256_loadu_ps(wp), w1 = _mm256_loadu_ps(wp + 8);
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            const __m256 a = _mm256_broadcast_ss(x + (size_t)r * ldx + i);
            acc[r][0] = _mm256_fmadd_ps(a, w0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(a, w1, acc[r][1]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
        _mm256_storeu_ps(y + (size_t)r * ldy, acc[r][0]);
        _mm256_storeu_ps(y + (size_t)r * ldy + 8, acc[r][1]);
    }
}

/* One function per row count, as i8gemm-avx512.c does (inlined together,
 * GCC keeps copies of the accumulators on the stack). */
#define TILE(mr)                                                                                          \
    static __attribute__((noinline)) void tile##mr(int k, const float *x, size_t ldx, const float *wp,   \
                                                   float *y, size_t ldy)                                  \
    {                                                                                                     \
        tile(mr, k, x, ldx, wp, y, ldy);                                                                  \
    }
TILE(1)
TILE(2)
TILE(3)
TILE(4)
TILE(5)
TILE(6)
static void (*const tiles[MR + 1])(int, const float *, size_t, const float *, float *, size_t) = {
    NULL, tile1, tile2, tile3, tile4, tile5, tile6};

void ia__f32_gemm(int m, int n, int k, const float *x, size_t ldx, const float *wp, int p0, int p1, float *y,
                  size_t ldy)
{
    float part[MR * NR]; /* a partial panel's tile, before its columns are copied out */
    for (int p = p0; p < p1; p++) {
        const float *panel = wp + (size_t)p * NR * k;
        const int col0 = p * NR, cols = n - col0 < NR ? n - col0 : NR;
        for (int i = 0; i < m; i += MR) {
            const int mr = m - i < MR ? m - i : MR;
            float *out = y + (size_t)i * ldy + col0;
            if (cols == NR) {
                tiles[mr](k, x + (size_t)i * ldx, ldx, panel, out, ldy);
            } else {
                tiles[mr](k, x + (size_t)i * ldx, ldx, panel, part, NR);
                for (int r = 0; r < mr; r++)
                    memcpy(out + (size_t)r * ldy, part + r * NR, (size_t)cols * sizeof(float));
            }
        }
    }
}

#ifdef __clang__
#pragma clang attribute pop
#endif
#else /* no AVX2 here: never called (ia__cpu_isa_level() is portable) */
#include "backend/cpu/cpu-impl.h"

size_t ia__f32_packed_floats(int n, int k) { return (void)n, (void)k, 0; }
void ia__f32_pack(const float *w, int n, int k, float *wp) { (void)w, (void)n, (void)k, (void)wp; }
void ia__f32_gemm(int m, int n, int k, const float *x, size_t ldx, const float *wp, int p0, int p1, float *y,
                  size_t ldy)
{
    (void)m, (void)n, (void)k, (void)x, (void)ldx, (void)wp, (void)p0, (void)p1, (void)y, (void)ldy;
}
#endif
