/* exp and the exact GELU on 16 floats, for the AVX-512 files (include
 * after their target pragma and <immintrin.h>): the polynomials of
 * kernels.inc's K(vexp) and K(vgelu), in intrinsics. */
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

/* 0.5 x (1 + erf(x / sqrt 2)), erf after Abramowitz & Stegun 7.1.26; the
 * reciprocal by rcp14 and one Newton step rather than a division (the
 * int8 layers use i8gemm-avx512.c's cheaper piecewise form). */
static inline __attribute__((always_inline)) __m512 gelu512(__m512 x)
{
    const __m512 sign = _mm512_set1_ps(-0.0f), one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
    const __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f));
    const __m512 az = _mm512_andnot_ps(sign, z);
    const __m512 d = _mm512_fmadd_ps(az, _mm512_set1_ps(0.3275911f), one);
    __m512 t = _mm512_rcp14_ps(d);
    t = _mm512_mul_ps(t, _mm512_fnmadd_ps(d, t, two));
    __m512 y = _mm512_set1_ps(1.061405429f);
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(-1.453152027f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(1.421413741f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(-0.284496736f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(0.254829592f));
    __m512 e = _mm512_fnmadd_ps(_mm512_mul_ps(y, t), exp512(_mm512_mul_ps(_mm512_xor_ps(az, sign), az)), one);
    e = _mm512_or_ps(_mm512_and_ps(sign, z), _mm512_andnot_ps(sign, e)); /* copysign(e, z) */
    const __m512 hx = _mm512_mul_ps(x, _mm512_set1_ps(0.5f));
    return _mm512_fmadd_ps(hx, e, hx);
}

#endif
