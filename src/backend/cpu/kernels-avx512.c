/* The CPU kernels compiled for avx512 (see kernels.inc), plus, written
 * with AVX-512 intrinsics: GELU and the int8 row quantizer, and an
 * attention head for head sizes of 16, 32, 48 and 64 (the compiler keeps
 * the portable version's accumulators in memory). A head with a position
 * bias is not this kernel's: it goes to the AVX2 one (kernels-avx2.c),
 * which adds it. */
/* Clang ignores GCC's pragma; its own attribute pragma does the same. */
#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")
#endif
#include <immintrin.h>

static void attention_head_avx512x(const float *q, const float *k, const float *v, int ld, int len,
                                   int hd, float scale, float *out, int ldo, float *scratch, const float *bias);
static void gelu_row_avx512(float *row, int n);
#define KGELU_ROW gelu_row_avx512
static void quantize_rows_avx512x(const float *x, int rows, int n, const float *cs, unsigned char *q, float *scale,
                                  float *zero);
#define KQUANTIZE_ROWS quantize_rows_avx512x
#define KAVX2 1
#define KATTN_WIDE 1 /* attend_rows: four keys a step, 32-float pieces of P V */
#define KSUF avx512
#define KNAME "avx512"
#define KATTENTION attention_head_avx512x
#include "backend/cpu/kernels.inc"

#include "backend/cpu/math-avx512.h"

/* GELU 16 lanes at a time (a masked tail). */
static void gelu_row_avx512(float *row, int n)
{
    __m512 coef[8];
    gelu512_coef(ia__gelu_coef_get(), coef);
    for (int j = 0; j < n; j += 16) {
        const __mmask16 m = n - j >= 16 ? 0xffff : (__mmask16)((1u << (n - j)) - 1);
        _mm512_mask_storeu_ps(row + j, m, gelu512(_mm512_maskz_loadu_ps(m, row + j), coef));
    }
}

/* K(quantize_rows) in intrinsics (the compiler's version took 16 cycles a
 * vector): a min/max pass, then x - min scaled, truncated and narrowed
 * with unsigned saturation, 16 columns a step and a masked tail. */
static void quantize_rows_avx512x(const float *x, int rows, int n, const float *cs, unsigned char *q, float *scale,
                                  float *zero)
{
    for (int r = 0; r < rows; r++) {
        const float *v = x + (size_t)r * n;
        unsigned char *d = q + (size_t)r * n;
        __m512 mx = _mm512_set1_ps(-INFINITY), mn = _mm512_set1_ps(INFINITY);
        int j = 0;
        { /* four chains: a max or min waits on the one before */
            __m512 mx1 = mx, mn1 = mn, mx2 = mx, mn2 = mn, mx3 = mx, mn3 = mn;
            for (; j + 64 <= n; j += 64) {
                __m512 a = _mm512_loadu_ps(v + j), b = _mm512_loadu_ps(v + j + 16), c = _mm512_loadu_ps(v + j + 32),
                       e = _mm512_loadu_ps(v + j + 48);
                if (cs) {
                    a = _mm512_mul_ps(a, _mm512_loadu_ps(cs + j)), b = _mm512_mul_ps(b, _mm512_loadu_ps(cs + j + 16));
                    c = _mm512_mul_ps(c, _mm512_loadu_ps(cs + j + 32)), e = _mm512_mul_ps(e, _mm512_loadu_ps(cs + j + 48));
                }
                mx = _mm512_max_ps(mx, a), mn = _mm512_min_ps(mn, a);
                mx1 = _mm512_max_ps(mx1, b), mn1 = _mm512_min_ps(mn1, b);
                mx2 = _mm512_max_ps(mx2, c), mn2 = _mm512_min_ps(mn2, c);
                mx3 = _mm512_max_ps(mx3, e), mn3 = _mm512_min_ps(mn3, e);
            }
            mx = _mm512_max_ps(_mm512_max_ps(mx, mx1), _mm512_max_ps(mx2, mx3));
            mn = _mm512_min_ps(_mm512_min_ps(mn, mn1), _mm512_min_ps(mn2, mn3));
        }
        for (; j < n; j += 16) {
            const __mmask16 m = n - j >= 16 ? 0xffff : (__mmask16)((1u << (n - j)) - 1);
            __m512 t = _mm512_maskz_loadu_ps(m, v + j);
            if (cs)
                t = _mm512_mul_ps(t, _mm512_maskz_loadu_ps(m, cs + j));
            mx = _mm512_mask_max_ps(mx, m, mx, t);
            mn = _mm512_mask_min_ps(mn, m, mn, t);
        }
        const float hi = _mm512_reduce_max_ps(mx), lo = _mm512_reduce_min_ps(mn), range = hi - lo;
        const float inv = range > 0 ? 255.0f / range : 0.0f;
        scale[r] = range / 255.0f;
        zero[r] = lo;
        /* (x - lo) inv as x inv + (-lo inv), rounded to nearest: >= -0.5
         * and <= 255.5, so the saturating packs below leave 0 to 255 */
        const __m512 vinv = _mm512_set1_ps(inv), off = _mm512_set1_ps(-lo * inv);
        /* 64 columns a step: four vectors packed to bytes, one store */
        const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        for (j = 0; j + 64 <= n; j += 64) {
            __m512i w[4];
            for (int i = 0; i < 4; i++) {
                __m512 t = _mm512_loadu_ps(v + j + 16 * i);
                if (cs)
                    t = _mm512_mul_ps(t, _mm512_loadu_ps(cs + j + 16 * i));
                w[i] = _mm512_cvtps_epi32(_mm512_fmadd_ps(t, vinv, off));
            }
            const __m512i b = _mm512_packus_epi16(_mm512_packs_epi32(w[0], w[1]), _mm512_packs_epi32(w[2], w[3]));
            _mm512_storeu_si512(d + j, _mm512_permutexvar_epi32(order, b));
        }
        for (; j < n; j += 16) {
            const __mmask16 m = n - j >= 16 ? 0xffff : (__mmask16)((1u << (n - j)) - 1);
            __m512 t = _mm512_maskz_loadu_ps(m, v + j);
            if (cs)
                t = _mm512_mul_ps(t, _mm512_maskz_loadu_ps(m, cs + j));
            const __m512i u = _mm512_max_epi32(_mm512_cvtps_epi32(_mm512_fmadd_ps(t, vinv, off)), _mm512_setzero_si512());
            _mm512_mask_cvtusepi32_storeu_epi8(d + j, m, u);
        }
    }
}

/* Query rows handled at once: with pairs of 16-key blocks in the scores
 * and up to four 16-wide blocks of the head in P V, 12 to 24 independent
 * FMA chains, enough to hide the FMA latency. */
enum { AR = 6 };

/* Rows i0 .. i0 + ni - 1 (ni <= AR) of one head with head size 16 * nb;
 * nb is a constant in each caller, so the accumulators stay in registers. */
static inline __attribute__((always_inline)) void
attention_rows(const float *q, const float *v, int ld, int len, int lp, const int nb, float scale,
               const float *kt, float *s, float *out, int ldo, int i0, int ni)
{
    const int hd = 16 * nb;
    const float *qr[AR];
    for (int r = 0; r < AR; r++) /* rows past the end repeat the last one */
        qr[r] = q + (size_t)(i0 + (r < ni ? r : ni - 1)) * ld;
    /* scores s[r][j] = q_r . k_j */
    int j0 = 0;
    for (; j0 + 32 <= lp; j0 += 32) {
        __m512 c[AR][2];
#pragma GCC unroll 6
        for (int r = 0; r < AR; r++)
            c[r][0] = c[r][1] = _mm512_setzero_ps();
        for (int e = 0; e < hd; e++) {
            const __m512 k0 = _mm512_loadu_ps(kt + (size_t)e * lp + j0);
            const __m512 k1 = _mm512_loadu_ps(kt + (size_t)e * lp + j0 + 16);
#pragma GCC unroll 6
            for (int r = 0; r < AR; r++) {
                const __m512 qb = _mm512_set1_ps(qr[r][e]);
                c[r][0] = _mm512_fmadd_ps(qb, k0, c[r][0]);
                c[r][1] = _mm512_fmadd_ps(qb, k1, c[r][1]);
            }
        }
#pragma GCC unroll 6
        for (int r = 0; r < AR; r++) {
            _mm512_storeu_ps(s + (size_t)r * lp + j0, c[r][0]);
            _mm512_storeu_ps(s + (size_t)r * lp + j0 + 16, c[r][1]);
        }
    }
    if (j0 < lp) { /* one 16-key block left */
        __m512 c[AR];
#pragma GCC unroll 6
        for (int r = 0; r < AR; r++)
            c[r] = _mm512_setzero_ps();
        for (int e = 0; e < hd; e++) {
            const __m512 k0 = _mm512_loadu_ps(kt + (size_t)e * lp + j0);
#pragma GCC unroll 6
            for (int r = 0; r < AR; r++)
                c[r] = _mm512_fmadd_ps(_mm512_set1_ps(qr[r][e]), k0, c[r]);
        }
#pragma GCC unroll 6
        for (int r = 0; r < AR; r++)
            _mm512_storeu_ps(s + (size_t)r * lp + j0, c[r]);
    }
    /* softmax(scale * s) per row: exp(scale (s - max)), keys past len 0 */
    const __mmask16 tail = (__mmask16)((len & 15) ? (1u << (len & 15)) - 1 : 0xffff);
    const __m512 vscale = _mm512_set1_ps(scale);
    float inv[AR];
    for (int r = 0; r < AR; r++) {
        float *p = s + (size_t)r * lp;
        if (r >= ni) { /* a repeated row: no weights */
            memset(p, 0, (size_t)lp * sizeof(float));
            inv[r] = 0;
            continue;
        }
        __m512 mx = _mm512_set1_ps(-3.0e38f);
        for (int j = 0; j < lp; j += 16)
            mx = _mm512_mask_max_ps(mx, j + 16 <= len ? 0xffff : tail, mx, _mm512_loadu_ps(p + j));
        const __m512 vmx = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
        __m512 sum = _mm512_setzero_ps();
        for (int j = 0; j < lp; j += 16) {
            const __m512 x = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(p + j), vmx), vscale);
            const __m512 e = _mm512_maskz_mov_ps(j + 16 <= len ? 0xffff : tail, exp512(x));
            _mm512_storeu_ps(p + j, e);
            sum = _mm512_add_ps(sum, e);
        }
        inv[r] = 1.0f / _mm512_reduce_add_ps(sum);
    }
    /* out_r = (sum_j p[r][j] v_j) / sum_j p[r][j] */
    __m512 o[AR][4];
#pragma GCC unroll 6
    for (int r = 0; r < AR; r++)
#pragma GCC unroll 4
        for (int b = 0; b < nb; b++)
            o[r][b] = _mm512_setzero_ps();
    for (int j = 0; j < len; j++) {
        __m512 vv[4];
#pragma GCC unroll 4
        for (int b = 0; b < nb; b++)
            vv[b] = _mm512_loadu_ps(v + (size_t)j * ld + 16 * b);
#pragma GCC unroll 6
        for (int r = 0; r < AR; r++) {
            const __m512 pb = _mm512_set1_ps(s[(size_t)r * lp + j]);
#pragma GCC unroll 4
            for (int b = 0; b < nb; b++)
                o[r][b] = _mm512_fmadd_ps(pb, vv[b], o[r][b]);
        }
    }
    for (int r = 0; r < ni; r++)
#pragma GCC unroll 4
        for (int b = 0; b < nb; b++)
            _mm512_storeu_ps(out + (size_t)(i0 + r) * ldo + 16 * b,
                             _mm512_mul_ps(o[r][b], _mm512_set1_ps(inv[r])));
}

/* r[j][e] -> r[e][j] for a 16 x 16 block: pairs of rows interleaved,
 * then pairs of pairs (each 128-bit lane then holds one column of four
 * rows), then the lanes gathered (64 shuffles; 16 gathers measured
 * slower on short sequences). */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int g = 0; g < 16; g += 4) { /* u[g + c], lane L: column 4 L + c of rows g..g+3 */
        u[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[g]), _mm512_castps_pd(t[g + 2])));
        u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[g]), _mm512_castps_pd(t[g + 2])));
        u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[g + 1]), _mm512_castps_pd(t[g + 3])));
        u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[g + 1]), _mm512_castps_pd(t[g + 3])));
    }
    for (int c = 0; c < 4; c++) {
        const __m512 a01 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44), a23 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xee);
        const __m512 b01 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44),
                     b23 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xee);
        r[c] = _mm512_shuffle_f32x4(a01, b01, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(a01, b01, 0xdd);
        r[8 + c] = _mm512_shuffle_f32x4(a23, b23, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(a23, b23, 0xdd);
    }
}

static void attention_head_avx512x(const float *q, const float *k, const float *v, int ld, int len,
                                   int hd, float scale, float *out, int ldo, float *scratch, const float *bias)
{
    if (bias) { /* not written (nor testable) here: the AVX2 kernel, same scratch */
        ia__cpu_kernels_avx2.attention_head(q, k, v, ld, len, hd, scale, out, ldo, scratch, bias);
        return;
    }
    if (hd % 16 || hd > 64) {
        attention_head_avx512(q, k, v, ld, len, hd, scale, out, ldo, scratch, NULL);
        return;
    }
    const int lp = (len + 15) & ~15;
    float *kt = scratch;             /* (hd, lp): K transposed, zero past len */
    float *s = kt + (size_t)hd * lp; /* (AR, lp): scores, then weights */
    for (int j0 = 0; j0 < lp; j0 += 16) /* 16 keys by 16 elements at a time, zero past len */
        for (int e0 = 0; e0 < hd; e0 += 16) {
            __m512 r[16];
            for (int j = 0; j < 16; j++)
                r[j] = j0 + j < len ? _mm512_loadu_ps(k + (size_t)(j0 + j) * ld + e0) : _mm512_setzero_ps();
            transpose16(r);
            for (int e = 0; e < 16; e++)
                _mm512_storeu_ps(kt + (size_t)(e0 + e) * lp + j0, r[e]);
        }
    for (int i0 = 0; i0 < len; i0 += AR) {
        const int ni = len - i0 < AR ? len - i0 : AR;
        switch (hd / 16) {
        case 1: attention_rows(q, v, ld, len, lp, 1, scale, kt, s, out, ldo, i0, ni); break;
        case 2: attention_rows(q, v, ld, len, lp, 2, scale, kt, s, out, ldo, i0, ni); break;
        case 3: attention_rows(q, v, ld, len, lp, 3, scale, kt, s, out, ldo, i0, ni); break;
        default: attention_rows(q, v, ld, len, lp, 4, scale, kt, s, out, ldo, i0, ni); break;
        }
    }
}

#ifdef __clang__
#pragma clang attribute pop
#endif
