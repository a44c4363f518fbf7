/* exp and GELU on 16 floats, for the AVX-512 files (include after their
 * target pragma, <immintrin.h> and cpu-impl.h): K(vexp)'s polynomial, and
 * GELU by pieces (ia__gelu_coef). */
#ifndef IA_BACKEND_CPU_MATH_AVX512_H
#define IA_BACKEND_CPU_MATH_AVX512_H

/* exp(x), Cephes' polynomial, 2^n by scalef. */
static inline __attribute__((always_inline)) __m512 exp512(__m512 x)
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

/* GELU by pieces (ia__gelu_coef): coef[2 p] and coef[2 p + 1] hold the 32
 * pieces' coefficients of |x|^p (gelu512_coef). */
static inline __attribute__((always_inline)) void gelu512_coef(const ia__gelu_coef *g, __m512 coef[8])
{
    for (int p = 0; p < 8; p++)
        coef[p] = _mm512_load_ps(g->cubic[p / 2] + 16 * (p % 2));
}

static inline __attribute__((always_inline)) __m512 gelu512(__m512 x, const __m512 coef[8])
{
    const __m512 a = _mm512_min_ps(_mm512_andnot_ps(_mm512_set1_ps(-0.0f), x), _mm512_set1_ps((float)IA_GELU_END));
    const __m512i s = _mm512_min_epi32(_mm512_cvttps_epi32(_mm512_mul_ps(a, _mm512_set1_ps(32 / IA_GELU_END))),
                                       _mm512_set1_epi32(31));
    __m512 g = _mm512_permutex2var_ps(coef[6], s, coef[7]);
    g = _mm512_fmadd_ps(g, a, _mm512_permutex2var_ps(coef[4], s, coef[5]));
    g = _mm512_fmadd_ps(g, a, _mm512_permutex2var_ps(coef[2], s, coef[3]));
    g = _mm512_fmadd_ps(g, a, _mm512_permutex2var_ps(coef[0], s, coef[1]));
    return _mm512_sub_ps(_mm512_max_ps(x, _mm512_setzero_ps()), g);
}

#endif
