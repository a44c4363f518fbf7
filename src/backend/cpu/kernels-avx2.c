/* The CPU kernels compiled for avx2 (see kernels.inc), plus GELU, the int8
 * row quantizer and an attention head in AVX2 intrinsics. */
/* Clang ignores GCC's pragma; its own attribute pragma does the same. */
#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC target("avx2,fma,f16c")
#endif
#include <immintrin.h>

static void attention_head_avx2x(const float *q, const float *k, const float *v, int ld, int len, int hd,
                                 float scale, float *out, int ldo, float *scratch, const float *bias);
static void gelu_row_avx2(float *row, int n);
#define KGELU_ROW gelu_row_avx2
static void quantize_rows_avx2x(const float *x, int rows, int n, const float *cs, unsigned char *q, float *scale,
                                float *zero);
#define KQUANTIZE_ROWS quantize_rows_avx2x
#define KAVX2 1
#define KSUF avx2
#define KNAME "avx2"
#define KATTENTION attention_head_avx2x
#include "backend/cpu/kernels.inc"

/*
 * An attention head with AVX2 + FMA intrinsics, for head sizes that are
 * multiples of 16 up to 128 (others take the portable version above): the
 * AVX-512 kernel's plan (kernels-avx512.c) at 8 lanes. K is transposed once
 * per head; AR query rows at a time get their scores against 16 keys per
 * step (2 AR independent FMA chains, each key vector loaded once for the AR
 * rows), an exponential in registers, then P V in 16-column pieces.
 */
enum { AR2 = 6 };

/* exp(x), Cephes' polynomial as in K(vexp); 2^n built in the exponent bits. */
static inline __m256 exp256(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* GELU by pieces (ia__gelu_coef) 8 lanes at a time; the tail in C. */
static void gelu_row_avx2(float *row, int n)
{
    const ia__gelu_coef *g = ia__gelu_coef_get();
    __m256 coef[6];
    for (int p = 0; p < 6; p++)
        coef[p] = _mm256_load_ps(g->quintic[p]);
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 x = _mm256_loadu_ps(row + j);
        const __m256 a = _mm256_min_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), _mm256_set1_ps((float)IA_GELU_END));
        const __m256i s = _mm256_min_epi32(_mm256_cvttps_epi32(_mm256_mul_ps(a, _mm256_set1_ps(8 / IA_GELU_END))),
                                           _mm256_set1_epi32(7));
        __m256 y = _mm256_permutevar8x32_ps(coef[5], s);
        for (int p = 4; p >= 0; p--)
            y = _mm256_fmadd_ps(y, a, _mm256_permutevar8x32_ps(coef[p], s));
        _mm256_storeu_ps(row + j, _mm256_sub_ps(_mm256_max_ps(x, _mm256_setzero_ps()), y));
    }
    for (; j < n; j++)
        row[j] = vgelu_avx2(row[j]);
}

static inline float hmax8(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

/* K(quantize_rows) in intrinsics, as quantize_rows_avx512x: 32 columns a
 * step packed to bytes with saturation, the tail in C. */
static void quantize_rows_avx2x(const float *x, int rows, int n, const float *cs, unsigned char *q, float *scale,
                                float *zero)
{
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7); /* undoes the packs' lane interleave */
    for (int r = 0; r < rows; r++) {
        const float *v = x + (size_t)r * n;
        unsigned char *d = q + (size_t)r * n;
        __m256 mx = _mm256_set1_ps(-INFINITY), mn = _mm256_set1_ps(INFINITY);
        int j = 0;
        { /* four chains: a max or min waits on the one before */
            __m256 mx1 = mx, mn1 = mn, mx2 = mx, mn2 = mn, mx3 = mx, mn3 = mn;
            for (; j + 32 <= n; j += 32) {
                __m256 a = _mm256_loadu_ps(v + j), b = _mm256_loadu_ps(v + j + 8), c = _mm256_loadu_ps(v + j + 16),
                       e = _mm256_loadu_ps(v + j + 24);
                if (cs) {
                    a = _mm256_mul_ps(a, _mm256_loadu_ps(cs + j)), b = _mm256_mul_ps(b, _mm256_loadu_ps(cs + j + 8));
                    c = _mm256_mul_ps(c, _mm256_loadu_ps(cs + j + 16)), e = _mm256_mul_ps(e, _mm256_loadu_ps(cs + j + 24));
                }
                mx = _mm256_max_ps(mx, a), mn = _mm256_min_ps(mn, a);
                mx1 = _mm256_max_ps(mx1, b), mn1 = _mm256_min_ps(mn1, b);
                mx2 = _mm256_max_ps(mx2, c), mn2 = _mm256_min_ps(mn2, c);
                mx3 = _mm256_max_ps(mx3, e), mn3 = _mm256_min_ps(mn3, e);
            }
            mx = _mm256_max_ps(_mm256_max_ps(mx, mx1), _mm256_max_ps(mx2, mx3));
            mn = _mm256_min_ps(_mm256_min_ps(mn, mn1), _mm256_min_ps(mn2, mn3));
        }
        for (; j + 8 <= n; j += 8) {
            __m256 t = _mm256_loadu_ps(v + j);
            if (cs)
                t = _mm256_mul_ps(t, _mm256_loadu_ps(cs + j));
            mx = _mm256_max_ps(mx, t);
            mn = _mm256_min_ps(mn, t);
        }
        float hi = hmax8(mx), lo = -hmax8(_mm256_sub_ps(_mm256_setzero_ps(), mn));
        for (; j < n; j++) {
            const float t = v[j] * (cs ? cs[j] : 1.0f);
            hi = t > hi ? t : hi;
            lo = t < lo ? t : lo;
        }
        const float range = hi - lo, inv = range > 0 ? 255.0f / range : 0.0f;
        scale[r] = range / 255.0f;
        zero[r] = lo;
        const __m256 vlo = _mm256_set1_ps(lo), vinv = _mm256_set1_ps(inv), half = _mm256_set1_ps(0.5f),
                     zero_ = _mm256_setzero_ps();
        for (j = 0; j + 32 <= n; j += 32) {
            __m256i w[4];
            for (int i = 0; i < 4; i++) {
                __m256 t = _mm256_loadu_ps(v + j + 8 * i);
                if (cs)
                    t = _mm256_mul_ps(t, _mm256_loadu_ps(cs + j + 8 * i));
                t = _mm256_max_ps(_mm256_fmadd_ps(_mm256_sub_ps(t, vlo), vinv, half), zero_);
                w[i] = _mm256_cvttps_epi32(t);
            }
            const __m256i b = _mm256_packus_epi16(_mm256_packs_epi32(w[0], w[1]), _mm256_packs_epi32(w[2], w[3]));
            _mm256_storeu_si256((__m256i *)(d + j), _mm256_permutevar8x32_epi32(b, order));
        }
        for (; j < n; j++) {
            const float t = (v[j] * (cs ? cs[j] : 1.0f) - lo) * inv + 0.5f;
            d[j] = (unsigned char)(int)(t > 255.0f ? 255.0f : t < 0.0f ? 0.0f : t);
        }
    }
}

/* Rows i0 .. i0 + ni - 1 (ni <= AR2) of one head of hd = 16 nb; bias as
 * attention_head's (NULL: none). */
static void attention_rows2(const float *q, const float *v, int ld, int len, int lp, int nb, float scale,
                            const float *kt, float *s, float *out, int ldo, int i0, int ni, const float *bias)
{
    const int hd = 16 * nb;
    const float *qr[AR2];
    for (int r = 0; r < AR2; r++) /* rows past the end repeat the last one */
        qr[r] = q + (size_t)(i0 + (r < ni ? r : ni - 1)) * ld;
    for (int j0 = 0; j0 < lp; j0 += 16) { /* scores s[r][j] = q_r . k_j */
        __m256 c[AR2][2];
#pragma GCC unroll 6
        for (int r = 0; r < AR2; r++)
            c[r][0] = c[r][1] = _mm256_setzero_ps();
        for (int e = 0; e < hd; e++) {
            const __m256 k0 = _mm256_loadu_ps(kt + (size_t)e * lp + j0);
            const __m256 k1 = _mm256_loadu_ps(kt + (size_t)e * lp + j0 + 8);
#pragma GCC unroll 6
            for (int r = 0; r < AR2; r++) {
                const __m256 qb = _mm256_broadcast_ss(qr[r] + e);
                c[r][0] = _mm256_fmadd_ps(qb, k0, c[r][0]);
                c[r][1] = _mm256_fmadd_ps(qb, k1, c[r][1]);
            }
        }
#pragma GCC unroll 6
        for (int r = 0; r < AR2; r++) {
            _mm256_storeu_ps(s + (size_t)r * lp + j0, c[r][0]);
            _mm256_storeu_ps(s + (size_t)r * lp + j0 + 8, c[r][1]);
        }
    }
    /* softmax(scale s) per row: exp(scale (s - max)); keys past len weigh 0 */
    const __m256 vscale = _mm256_set1_ps(scale);
    const int l8 = len & ~7;
    float inv[AR2];
    for (int r = 0; r < ni; r++) {
        float *p = s + (size_t)r * lp;
        __m256 mx = _mm256_set1_ps(-3.0e38f), wscale = vscale;
        float m;
        if (bias) { /* p = scale s + b first (b[j]: key j's bias), then exp(p - max) */
            const float *b = bias - (i0 + r);
            for (int j = 0; j < l8; j += 8) {
                const __m256 x = _mm256_fmadd_ps(_mm256_loadu_ps(p + j), vscale, _mm256_loadu_ps(b + j));
                _mm256_storeu_ps(p + j, x);
                mx = _mm256_max_ps(mx, x);
            }
            m = hmax8(mx);
            for (int j = l8; j < len; j++) {
                p[j] = p[j] * scale + b[j];
                m = p[j] > m ? p[j] : m;
            }
            wscale = _mm256_set1_ps(1.0f);
        } else {
            for (int j = 0; j < l8; j += 8)
                mx = _mm256_max_ps(mx, _mm256_loadu_ps(p + j));
            m = hmax8(mx);
            for (int j = l8; j < len; j++)
                m = p[j] > m ? p[j] : m;
        }
        const __m256 vmx = _mm256_set1_ps(m);
        __m256 sum = _mm256_setzero_ps();
        for (int j = 0; j < lp; j += 8) {
            __m256 e = exp256(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(p + j), vmx), wscale));
            if (j + 8 > len) /* the last, partial block: zero past len */
                e = _mm256_and_ps(e, _mm256_castsi256_ps(_mm256_cmpgt_epi32(
                                         _mm256_set1_epi32(len - j), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))));
            _mm256_storeu_ps(p + j, e);
            sum = _mm256_add_ps(sum, e);
        }
        __m128 t = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
        t = _mm_add_ps(t, _mm_movehl_ps(t, t));
        inv[r] = 1.0f / _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
    }
    /* out_r = (sum_j p[r][j] v_j) / sum_j p[r][j], 16 columns at a time */
    for (int b = 0; b < nb; b++) {
        __m256 o[AR2][2];
#pragma GCC unroll 6
        for (int r = 0; r < AR2; r++)
            o[r][0] = o[r][1] = _mm256_setzero_ps();
        for (int j = 0; j < len; j++) {
            const __m256 v0 = _mm256_loadu_ps(v + (size_t)j * ld + 16 * b);
            const __m256 v1 = _mm256_loadu_ps(v + (size_t)j * ld + 16 * b + 8);
#pragma GCC unroll 6
            for (int r = 0; r < AR2; r++) {
                const __m256 pb = _mm256_broadcast_ss(s + (size_t)r * lp + j);
                o[r][0] = _mm256_fmadd_ps(pb, v0, o[r][0]);
                o[r][1] = _mm256_fmadd_ps(pb, v1, o[r][1]);
            }
        }
        for (int r = 0; r < ni; r++) {
            const __m256 w = _mm256_set1_ps(inv[r]);
            _mm256_storeu_ps(out + (size_t)(i0 + r) * ldo + 16 * b, _mm256_mul_ps(o[r][0], w));
            _mm256_storeu_ps(out + (size_t)(i0 + r) * ldo + 16 * b + 8, _mm256_mul_ps(o[r][1], w));
        }
    }
}

static void attention_head_avx2x(const float *q, const float *k, const float *v, int ld, int len, int hd,
                                 float scale, float *out, int ldo, float *scratch, const float *bias)
{
    if (hd % 16 || hd > 128) {
        attention_head_avx2(q, k, v, ld, len, hd, scale, out, ldo, scratch, bias);
        return;
    }
    const int lp = (len + 15) & ~15;
    float *kt = scratch;             /* (hd, lp): K transposed, zero past len */
    float *s = kt + (size_t)hd * lp; /* (AR2, lp): scores, then weights */
    for (int j0 = 0; j0 < lp; j0 += 8) { /* 8 keys by 8 elements: an 8 x 8 transpose */
        for (int e0 = 0; e0 < hd; e0 += 8) {
            __m256 r[8];
            for (int t = 0; t < 8; t++)
                r[t] = j0 + t < len ? _mm256_loadu_ps(k + (size_t)(j0 + t) * ld + e0) : _mm256_setzero_ps();
            const __m256 a0 = _mm256_unpacklo_ps(r[0], r[1]), a1 = _mm256_unpackhi_ps(r[0], r[1]);
            const __m256 a2 = _mm256_unpacklo_ps(r[2], r[3]), a3 = _mm256_unpackhi_ps(r[2], r[3]);
            const __m256 a4 = _mm256_unpacklo_ps(r[4], r[5]), a5 = _mm256_unpackhi_ps(r[4], r[5]);
            const __m256 a6 = _mm256_unpacklo_ps(r[6], r[7]), a7 = _mm256_unpackhi_ps(r[6], r[7]);
            const __m256 b0 = _mm256_shuffle_ps(a0, a2, 0x44), b1 = _mm256_shuffle_ps(a0, a2, 0xee);
            const __m256 b2 = _mm256_shuffle_ps(a1, a3, 0x44), b3 = _mm256_shuffle_ps(a1, a3, 0xee);
            const __m256 b4 = _mm256_shuffle_ps(a4, a6, 0x44), b5 = _mm256_shuffle_ps(a4, a6, 0xee);
            const __m256 b6 = _mm256_shuffle_ps(a5, a7, 0x44), b7 = _mm256_shuffle_ps(a5, a7, 0xee);
            const __m256 c[8] = {
                _mm256_permute2f128_ps(b0, b4, 0x20), _mm256_permute2f128_ps(b1, b5, 0x20),
                _mm256_permute2f128_ps(b2, b6, 0x20), _mm256_permute2f128_ps(b3, b7, 0x20),
                _mm256_permute2f128_ps(b0, b4, 0x31), _mm256_permute2f128_ps(b1, b5, 0x31),
                _mm256_permute2f128_ps(b2, b6, 0x31), _mm256_permute2f128_ps(b3, b7, 0x31),
            };
            for (int t = 0; t < 8; t++) /* element e0 + t of keys j0 .. j0 + 7 */
                _mm256_storeu_ps(kt + (size_t)(e0 + t) * lp + j0, c[t]);
        }
    }
    for (int i0 = 0; i0 < len; i0 += AR2) {
        const int ni = len - i0 < AR2 ? len - i0 : AR2;
        attention_rows2(q, v, ld, len, lp, hd / 16, scale, kt, s, out, ldo, i0, ni, bias);
    }
}

#ifdef __clang__
#pragma clang attribute pop
#endif
