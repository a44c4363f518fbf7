/* The CPU kernels compiled for avx512 (see kernels.inc), plus an attention
 * head written with AVX-512 intrinsics for head sizes of 16, 32, 48 and 64
 * (the compiler keeps the portable version's accumulators in memory). */
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")
#include <immintrin.h>

static void attention_head_avx512x(const float *q, const float *k, const float *v, int ld, int len,
                                   int hd, float scale, float *out, int ldo, float *scratch);
#define KSUF avx512
#define KNAME "avx512"
#define KATTENTION attention_head_avx512x
#include "backend/cpu/kernels.inc"

/* exp(x), Cephes' polynomial, 2^n by scalef. */
static inline __m512 exp512(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

static void attention_head_avx512x(const float *q, const float *k, const float *v, int ld, int len,
                                   int hd, float scale, float *out, int ldo, float *scratch)
{
    if (hd % 16 || hd > 64) {
        attention_head_avx512(q, k, v, ld, len, hd, scale, out, ldo, scratch);
        return;
    }
    const int nb = hd / 16, lp = (len + 15) & ~15;
    float *kt = scratch;           /* (hd, lp): K transposed */
    float *s = kt + (size_t)hd * lp; /* (4, lp): scores, then probabilities */
    for (int j = 0; j < len; j++)
        for (int e = 0; e < hd; e++)
            kt[(size_t)e * lp + j] = k[(size_t)j * ld + e];
    for (int e = 0; e < hd; e++)
        for (int j = len; j < lp; j++)
            kt[(size_t)e * lp + j] = 0;
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int i0 = 0; i0 < len; i0 += 4) {
        const int ni = len - i0 < 4 ? len - i0 : 4;
        const float *q0 = q + (size_t)i0 * ld;
        const float *q1 = q + (size_t)(i0 + (ni > 1)) * ld; /* rows past the end repeat */
        const float *q2 = q + (size_t)(i0 + (ni > 2) * 2) * ld;
        const float *q3 = q + (size_t)(i0 + (ni > 3) * 3) * ld;
        for (int j0 = 0; j0 < lp; j0 += 16) {
            __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
            for (int e = 0; e < hd; e++) {
                const __m512 kv = _mm512_loadu_ps(kt + (size_t)e * lp + j0);
                c0 = _mm512_fmadd_ps(_mm512_set1_ps(q0[e]), kv, c0);
                c1 = _mm512_fmadd_ps(_mm512_set1_ps(q1[e]), kv, c1);
                c2 = _mm512_fmadd_ps(_mm512_set1_ps(q2[e]), kv, c2);
                c3 = _mm512_fmadd_ps(_mm512_set1_ps(q3[e]), kv, c3);
            }
            _mm512_storeu_ps(s + j0, _mm512_mul_ps(c0, vscale));
            _mm512_storeu_ps(s + lp + j0, _mm512_mul_ps(c1, vscale));
            _mm512_storeu_ps(s + 2 * lp + j0, _mm512_mul_ps(c2, vscale));
            _mm512_storeu_ps(s + 3 * lp + j0, _mm512_mul_ps(c3, vscale));
        }
        const __mmask16 tail = (__mmask16)((len & 15) ? (1u << (len & 15)) - 1 : 0xffff);
        float inv[4];
        for (int r = 0; r < ni; r++) {
            float *p = s + (size_t)r * lp;
            __m512 mx = _mm512_set1_ps(-3.0e38f);
            for (int j0 = 0; j0 < lp; j0 += 16) {
                const __mmask16 m = j0 + 16 <= len ? 0xffff : tail;
                mx = _mm512_mask_max_ps(mx, m, mx, _mm512_loadu_ps(p + j0));
            }
            const __m512 vmx = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
            __m512 sum = _mm512_setzero_ps();
            for (int j0 = 0; j0 < lp; j0 += 16) {
                const __mmask16 m = j0 + 16 <= len ? 0xffff : tail;
                const __m512 e = _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_loadu_ps(p + j0), vmx)));
                _mm512_storeu_ps(p + j0, e);
                sum = _mm512_add_ps(sum, e);
            }
            inv[r] = 1.0f / _mm512_reduce_add_ps(sum);
        }
        for (int b = 0; b < nb; b++) {
            __m512 o0 = _mm512_setzero_ps(), o1 = o0, o2 = o0, o3 = o0;
            for (int j = 0; j < len; j++) {
                const __m512 vv = _mm512_loadu_ps(v + (size_t)j * ld + b * 16);
                o0 = _mm512_fmadd_ps(_mm512_set1_ps(s[j]), vv, o0);
                o1 = _mm512_fmadd_ps(_mm512_set1_ps(s[lp + j]), vv, o1);
                o2 = _mm512_fmadd_ps(_mm512_set1_ps(s[2 * lp + j]), vv, o2);
                o3 = _mm512_fmadd_ps(_mm512_set1_ps(s[3 * lp + j]), vv, o3);
            }
            const __m512 acc[4] = {o0, o1, o2, o3};
            for (int r = 0; r < ni; r++)
                _mm512_storeu_ps(out + (size_t)(i0 + r) * ldo + b * 16,
                                 _mm512_mul_ps(acc[r], _mm512_set1_ps(inv[r])));
        }
    }
}
