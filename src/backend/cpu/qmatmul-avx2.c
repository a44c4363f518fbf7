/*
 * The CPU matmul's AVX2 + FMA + F16C kernels (qmatmul-impl.h), after
 * ggml's (ggml-cpu/arch/x86/quants.c): 8-bit products summed in pairs by
 * maddubs (unsigned x signed; the weights' quants are made unsigned with
 * vpsignb where they are signed), then in fours by madd into 32-bit lanes,
 * converted to f32 once per block and scaled. Where ggml multiplies one
 * weight row with one activation row, these take up to IA_QMM_NR
 * activation rows per call and decode each weight block once for all of
 * them (q4_0 and q6_K also take their offsets apart, as q4_1's min and
 * from the activations' block sums, instead of subtracting them per
 * quant). The portable kernels in qmatmul.c state the same arithmetic
 * plainly.
 */
#include "backend/cpu/qmatmul-impl.h"

#if defined(__x86_64__) || defined(__i386__)
/* Clang ignores GCC's pragma; its own attribute pragma does the same. */
#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC target("avx2,fma,f16c")
#endif
#include <immintrin.h>

#define QSUF avx2
#define QMM_OWN_Q8 /* quantize_q8 below, in intrinsics */
#include "backend/cpu/qmatmul-quant.inc"

#define AI static inline __attribute__((always_inline))
/* Block b of the weight row, of activation row r. */
#define WBLK(T, b) ((const T *)w + (b))
#define XBLK(T, r, b) ((const T *)(const void *)((const char *)x + (size_t)(r) * xs) + (b))

AI float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AI float h2f(uint16_t h) { return _cvtsh_ss(h); }

AI __m256i loadu(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* Sums of 4 adjacent products of unsigned u8 and signed s8 bytes, in 8
 * 32-bit lanes. No pair of products saturates its 16 bits here: u <= 128
 * (the magnitude of a signed weight quant), |s| <= 127 (activations). */
AI __m256i dot_us8(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* The low and the high nibbles of 32 bytes, each 0..15. */
AI __m256i nib_lo(__m256i b) { return _mm256_and_si256(b, _mm256_set1_epi8(15)); }
AI __m256i nib_hi(__m256i b) { return _mm256_and_si256(_mm256_srli_epi16(b, 4), _mm256_set1_epi8(15)); }

/* 32 nibbles as bytes: the 16 low nibbles of p, then the 16 high ones
 * (q4_0 and q4_1 element order). */
AI __m256i nibbles32(const uint8_t *p)
{
    const __m128i t = _mm_loadu_si128((const __m128i *)(const void *)p);
    return nib_lo(_mm256_set_m128i(_mm_srli_epi16(t, 4), t));
}

/* dw * dx of activation block xd, as 8 lanes. */
AI __m256 scale8(__m256 dw, const float *xd) { return _mm256_mul_ps(dw, _mm256_broadcast_ss(xd)); }

/*
 * A block kernel adds weight block b times block b of activation rows
 * r < nr to acc[r] (f32 lanes) and ms[r] (a scalar part: q4_0's offset and
 * q4_1's min times the activations' sum).
 */
#define BLOCK_ARGS const void *w, const void *x, size_t xs, const int nr, int64_t b, __m256 *acc, float *ms

AI void blk_q8_0(BLOCK_ARGS)
{
    (void)ms;
    const ia_block_q8_0 *wb = WBLK(ia_block_q8_0, b);
    const __m256i qw = loadu(wb->qs);
    const __m256i aw = _mm256_sign_epi8(qw, qw); /* |q|, the sign moved to x */
    const __m256 dw = _mm256_set1_ps(h2f(wb->d));
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++) {
        const ia__qmm_q8 *xb = XBLK(ia__qmm_q8, r, b);
        const __m256 p = _mm256_cvtepi32_ps(dot_us8(aw, _mm256_sign_epi8(loadu(xb->qs), qw)));
        acc[r] = _mm256_fmadd_ps(scale8(dw, &xb->d), p, acc[r]);
    }
}

/* q4_0 and q4_1: the quants (0..15) as they are against the activations;
 * q4_0's offset of 8 is then a min of -8 d, as q4_1's m: (q d + m) . x =
 * d dx sum(q qx) + m s. */
AI void blk_q4(BLOCK_ARGS, const int with_min)
{
    float d, m;
    const uint8_t *qs;
    if (with_min) {
        const ia_block_q4_1 *wb = WBLK(ia_block_q4_1, b);
        d = h2f(wb->d), m = h2f(wb->m), qs = wb->qs;
    } else {
        const ia_block_q4_0 *wb = WBLK(ia_block_q4_0, b);
        d = h2f(wb->d), m = -8 * d, qs = wb->qs;
    }
    const __m256i q = nibbles32(qs);
    const __m256 dw = _mm256_set1_ps(d);
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++) {
        const ia__qmm_q8 *xb = XBLK(ia__qmm_q8, r, b);
        const __m256 p = _mm256_cvtepi32_ps(dot_us8(q, loadu(xb->qs)));
        acc[r] = _mm256_fmadd_ps(scale8(dw, &xb->d), p, acc[r]);
        ms[r] += m * xb->s;
    }
}

AI void blk_q4_0(BLOCK_ARGS) { blk_q4(w, x, xs, nr, b, acc, ms, 0); }
AI void blk_q4_1(BLOCK_ARGS) { blk_q4(w, x, xs, nr, b, acc, ms, 1); }

/* q4_K / q5_K scales and mins: 8 6-bit scales then 8 6-bit mins in 16
 * bytes (ggml's utmp shuffle), widened to 16 int16 lanes. */
AI __m256i scales_mins_k4(const uint8_t *s12)
{
    uint32_t u[4];
    memcpy(u, s12, 12);
    const uint32_t m1 = 0x3f3f3f3f, m2 = 0x0f0f0f0f, m3 = 0x03030303;
    u[3] = ((u[2] >> 4) & m2) | (((u[1] >> 6) & m3) << 4);
    const uint32_t aux = u[1] & m1;
    u[1] = (u[2] & m2) | (((u[0] >> 6) & m3) << 4);
    u[2] = aux;
    u[0] &= m1;
    return _mm256_cvtepu8_epi16(_mm_set_epi32((int)u[3], (int)u[2], (int)u[1], (int)u[0]));
}

/* Int16 lane j of v in every lane (v holding the 8 scales twice). */
#define BCAST16(v, j) _mm256_shuffle_epi8((v), _mm256_set1_epi16((short)((2 * (j) + 1) << 8 | 2 * (j))))

/* q4_K and q5_K: per sub-block j of 32 the low (j even) or high (j odd)
 * nibbles of qs[32 (j / 2) ..], plus bit j of qh[0 .. 31] as 16 (q5_K);
 * w . x = dx (d sum_j sc_j sum(q qx) - dmin sum_j mn_j sum(qx)), the sums
 * of qx per sub-block from bsums. */
AI void blk_k45(BLOCK_ARGS, const int five)
{
    (void)ms;
    const uint16_t *dd;
    const uint8_t *scales, *qh = NULL, *qs;
    if (five) {
        const ia_block_q5_K *wb = WBLK(ia_block_q5_K, b);
        dd = &wb->d, scales = wb->scales, qh = wb->qh, qs = wb->qs;
    } else {
        const ia_block_q4_K *wb = WBLK(ia_block_q4_K, b);
        dd = &wb->d, scales = wb->scales, qs = wb->qs;
    }
    const float d = h2f(dd[0]), dmin = h2f(dd[1]);
    const __m256i sm = scales_mins_k4(scales);
    const __m128i mins = _mm256_extracti128_si256(sm, 1);
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++) { /* the mins first, ending their registers' lives */
        const ia__qmm_q8K *xb = XBLK(ia__qmm_q8K, r, b);
        const __m256i bs = loadu(xb->bsums);
        const __m128i s32 = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
        const __m256 pm = _mm256_zextps128_ps256(_mm_cvtepi32_ps(_mm_madd_epi16(mins, s32)));
        acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(-dmin * xb->d), pm, acc[r]);
    }
    const __m256i sc = _mm256_permute2x128_si256(sm, sm, 0x00); /* the scales in both halves */
    const __m256i hb = five ? loadu(qh) : _mm256_setzero_si256();
    __m256i sumi[IA_QMM_NR];
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
        sumi[r] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        const __m256i bits = loadu(qs + 32 * (j / 2));
        __m256i q = j % 2 ? nib_hi(bits) : nib_lo(bits);
        if (five) { /* bit j of each byte to bit 4 (16-bit shifts: at most 4 places,
                     * so no bit crosses into the bit 4 of the other byte) */
            const __m256i h = j < 4 ? _mm256_slli_epi16(hb, 4 - j) : _mm256_srli_epi16(hb, j - 4);
            q = _mm256_or_si256(q, _mm256_and_si256(h, _mm256_set1_epi8(16)));
        }
        const __m256i s = BCAST16(sc, j);
#pragma GCC unroll 4
        for (int r = 0; r < nr; r++) {
            const __m256i y = loadu(XBLK(ia__qmm_q8K, r, b)->qs + 32 * j);
            sumi[r] = _mm256_add_epi32(sumi[r], _mm256_madd_epi16(s, _mm256_maddubs_epi16(q, y)));
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++) {
        const float dx = XBLK(ia__qmm_q8K, r, b)->d;
        acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d * dx), _mm256_cvtepi32_ps(sumi[r]), acc[r]);
    }
}

AI void blk_q4_K(BLOCK_ARGS) { blk_k45(w, x, xs, nr, b, acc, ms, 0); }
AI void blk_q5_K(BLOCK_ARGS) { blk_k45(w, x, xs, nr, b, acc, ms, 1); }

/* q6_K: per 32 elements (group g of half h) the low or high nibbles of
 * ql[64 h + 32 (g % 2) ..] and bits 2g, 2g + 1 of qh[32 h ..] make quants
 * 0..63; sum sc (q - 32) qx = sum sc q qx - 32 sum_16 sc bsum. */
AI void blk_q6_K(BLOCK_ARGS)
{
    (void)ms;
    const __m256i m3 = _mm256_set1_epi8(3);
    const ia_block_q6_K *wb = WBLK(ia_block_q6_K, b);
    const __m128i sc8 = _mm_loadu_si128((const __m128i *)(const void *)wb->scales);
    __m256i sumi[IA_QMM_NR];
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
        sumi[r] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int gg = 0; gg < 8; gg++) {
        const int h = gg / 4, g = gg % 4;
        const __m256i l = loadu(wb->ql + 64 * h + 32 * (g % 2));
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(loadu(wb->qh + 32 * h), 2 * g), m3);
        const __m256i q = _mm256_or_si256(g < 2 ? nib_lo(l) : nib_hi(l), _mm256_slli_epi16(hi, 4));
        const int k = 2 * gg; /* the sub-blocks of 16: k, k + 1 */
        const __m128i pick = _mm_set_epi64x((long long)(0x0101010101010101ull * (uint64_t)(k + 1)),
                                            (long long)(0x0101010101010101ull * (uint64_t)k));
        const __m256i s = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, pick));
#pragma GCC unroll 4
        for (int r = 0; r < nr; r++) {
            const __m256i y = loadu(XBLK(ia__qmm_q8K, r, b)->qs + 32 * gg);
            sumi[r] = _mm256_add_epi32(sumi[r], _mm256_madd_epi16(s, _mm256_maddubs_epi16(q, y)));
        }
    }
    const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
    const float d = h2f(wb->d);
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++) {
        const ia__qmm_q8K *xb = XBLK(ia__qmm_q8K, r, b);
        const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(sc16, loadu(xb->bsums)), 5);
        const __m256 p = _mm256_cvtepi32_ps(_mm256_sub_epi32(sumi[r], off));
        acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d * xb->d), p, acc[r]);
    }
}

/* The number of activation rows is a constant in each instance of a
 * kernel, so that its accumulators stay in registers. */
#define ROWS_SWITCH(fn)                       \
    switch (nr) {                             \
    case 1: fn(K, w, x, xs, 1, s); break;     \
    case 2: fn(K, w, x, xs, 2, s); break;     \
    case 3: fn(K, w, x, xs, 3, s); break;     \
    default: fn(K, w, x, xs, 4, s); break;    \
    }

/* A block type's kernel. Consecutive blocks alternate between two sets of
 * accumulators, to keep two FMA chains going with one activation row; the
 * scalar ones too, or q4_0's and q4_1's chain of one scalar FMA per block
 * bounds their speed. Every row is summed in the same order whatever nr
 * is, so a row's result does not depend on the batch it came in (nor does
 * generation with a seed). One weight row per call, read front to
 * back: the one long stream of rows read in turn is what the hardware
 * prefetchers follow best (interleaving 4 weight rows per call, for
 * fewer calls, ran up to 1.5x slower with the weights coming from DRAM,
 * even with software prefetches). */
#define BLOCK_DOT(T, BLOCK)                                                                       \
    AI void T##_n(int64_t K, const void *w, const void *x, size_t xs, const int nr, float *s)     \
    {                                                                                             \
        const int64_t nb = K / (BLOCK);                                                           \
        const size_t bb = sizeof(ia_block_##T);                                                   \
        __m256 a0[IA_QMM_NR], a1[IA_QMM_NR];                                                      \
        float m0[IA_QMM_NR], m1[IA_QMM_NR];                                                       \
        _Pragma("GCC unroll 4") for (int r = 0; r < nr; r++)                                      \
        {                                                                                         \
            a0[r] = a1[r] = _mm256_setzero_ps();                                                  \
            m0[r] = m1[r] = 0;                                                                    \
        }                                                                                         \
        int64_t b = 0;                                                                            \
        for (; b + 2 <= nb; b += 2) {                                                             \
            IA_QMM_PREFETCH_SPAN((const char *)w + (size_t)b * bb, 2 * bb);                       \
            blk_##T(w, x, xs, nr, b, a0, m0);                                                     \
            blk_##T(w, x, xs, nr, b + 1, a1, m1);                                                 \
        }                                                                                         \
        if (b < nb)                                                                               \
            blk_##T(w, x, xs, nr, b, a0, m0);                                                     \
        _Pragma("GCC unroll 4") for (int r = 0; r < nr; r++) s[r] =                               \
            hsum8(_mm256_add_ps(a0[r], a1[r])) + (m0[r] + m1[r]);                                 \
    }                                                                                             \
    static void dot_##T(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s)     \
    {                                                                                             \
        ROWS_SWITCH(T##_n);                                                                       \
    }

BLOCK_DOT(q8_0, IA_QK)
BLOCK_DOT(q4_0, IA_QK)
BLOCK_DOT(q4_1, IA_QK)
BLOCK_DOT(q4_K, IA_QK_K)
BLOCK_DOT(q5_K, IA_QK_K)
BLOCK_DOT(q6_K, IA_QK_K)

/* ------------------------------------------------------------------------
 * f32, f16, bf16 weights against f32 activations: 8 weights widened per
 * vector, 2 vectors per step (two FMA chains per row; the same order for
 * any nr, as above). */
enum { W_F32, W_F16, W_BF16 };

AI __m256 load_w8(const void *p, int64_t k, const int kind)
{
    if (kind == W_F32)
        return _mm256_loadu_ps((const float *)p + k);
    const __m128i h = _mm_loadu_si128((const __m128i *)(const void *)((const uint16_t *)p + k));
    if (kind == W_F16)
        return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

AI float load_w1(const void *p, int64_t k, const int kind)
{
    if (kind == W_F32)
        return ((const float *)p)[k];
    const uint16_t h = ((const uint16_t *)p)[k];
    if (kind == W_F16)
        return h2f(h);
    const uint32_t u = (uint32_t)h << 16; /* no call: it would spill the accumulators */
    float f;
    memcpy(&f, &u, 4);
    return f;
}

#define XROWF(r) ((const float *)(const void *)((const char *)x + (size_t)(r) * xs))

AI void dot_float_n(int64_t K, const void *w, const void *x, size_t xs, const int nr, float *s,
                    const int kind)
{
    enum { U = 2 };
    __m256 acc[IA_QMM_NR * U]; /* [r * U + u] */
#pragma GCC unroll 8
    for (int p = 0; p < nr * U; p++)
        acc[p] = _mm256_setzero_ps();
    int64_t k = 0;
    const size_t esz = kind == W_F32 ? 4 : 2;
    for (; k + 8 * U <= K; k += 8 * U) {
        IA_QMM_PREFETCH_SPAN((const char *)w + (size_t)k * esz, 8 * U * esz);
#pragma GCC unroll 4
        for (int u = 0; u < U; u++) {
            const __m256 wv = load_w8(w, k + 8 * u, kind);
#pragma GCC unroll 4
            for (int r = 0; r < nr; r++)
                acc[r * U + u] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(XROWF(r) + k + 8 * u), acc[r * U + u]);
        }
    }
    for (; k + 8 <= K; k += 8) {
        const __m256 wv = load_w8(w, k, kind);
#pragma GCC unroll 4
        for (int r = 0; r < nr; r++)
            acc[r * U] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(XROWF(r) + k), acc[r * U]);
    }
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++) {
        __m256 t = acc[r * U];
#pragma GCC unroll 4
        for (int u = 1; u < U; u++)
            t = _mm256_add_ps(t, acc[r * U + u]);
        float v = hsum8(t);
        for (int64_t kk = k; kk < K; kk++)
            v += load_w1(w, kk, kind) * XROWF(r)[kk];
        s[r] = v;
    }
}

#define FLOAT_DOT(T, KIND)                                                                    \
    AI void T##_n(int64_t K, const void *w, const void *x, size_t xs, const int nr, float *s) \
    {                                                                                         \
        dot_float_n(K, w, x, xs, nr, s, KIND);                                                \
    }                                                                                         \
    static void dot_##T(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s) \
    {                                                                                         \
        ROWS_SWITCH(T##_n);                                                                   \
    }

FLOAT_DOT(f32, W_F32)
FLOAT_DOT(f16, W_F16)
FLOAT_DOT(bf16, W_BF16)

/* ------------------------------------------------------------------------
 * Interleaved q4_0 and q4_1 (dtype.h): the lanes of a vector are the 8
 * weight rows. Per piece of 4 elements an activation row's 4 quants are
 * broadcast and multiplied with the 8 rows' by maddubs; the 16-bit pair
 * sums of a whole block cannot overflow (8 steps x 2 x 15 x 127 = 30480),
 * so they are added as they are and widened once per block, then scaled
 * once per block for all 8 rows. */
AI void dot8_q4_n(int64_t K, const void *w, const void *x, size_t xs, const int nr, float *s, const int with_min)
{
    const int64_t nb = K / IA_QK;
    const size_t bbytes = with_min ? sizeof(ia_block_q4_1x8) : sizeof(ia_block_q4_0x8);
    const __m256i m4 = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
    __m256 acc[IA_QMM_NR];
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
        acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = (const uint8_t *)w + (size_t)b * bbytes;
        IA_QMM_PREFETCH_SPAN(blk, bbytes);
        const uint8_t *qs = blk + (with_min ? 32 : 16);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)blk));
        const __m256 mw = with_min ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(blk + 16)))
                                   : _mm256_mul_ps(dw, _mm256_set1_ps(-8.0f));
        __m256i s16[IA_QMM_NR];
#pragma GCC unroll 4
        for (int r = 0; r < nr; r++)
            s16[r] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const __m256i v = loadu(qs + 32 * c);
            const __m256i lo = _mm256_and_si256(v, m4), hi = nib_hi(v);
#pragma GCC unroll 4
            for (int r = 0; r < nr; r++) {
                const int8_t *xq = XBLK(ia__qmm_q8, r, b)->qs;
                int32_t a, h;
                memcpy(&a, xq + 4 * c, 4);
                memcpy(&h, xq + IA_QK / 2 + 4 * c, 4);
                s16[r] = _mm256_add_epi16(s16[r], _mm256_maddubs_epi16(lo, _mm256_set1_epi32(a)));
                s16[r] = _mm256_add_epi16(s16[r], _mm256_maddubs_epi16(hi, _mm256_set1_epi32(h)));
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < nr; r++) {
            const ia__qmm_q8 *xb = XBLK(ia__qmm_q8, r, b);
            const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(s16[r], ones));
            acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xb->d)), p, acc[r]);
            acc[r] = _mm256_fmadd_ps(mw, _mm256_set1_ps(xb->s), acc[r]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
        _mm256_storeu_ps(s + 8 * r, acc[r]);
}

AI void dot8_q4_0_n(int64_t K, const void *w, const void *x, size_t xs, const int nr, float *s)
{
    dot8_q4_n(K, w, x, xs, nr, s, 0);
}
AI void dot8_q4_1_n(int64_t K, const void *w, const void *x, size_t xs, const int nr, float *s)
{
    dot8_q4_n(K, w, x, xs, nr, s, 1);
}
static void dot8_q4_0(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s)
{
    ROWS_SWITCH(dot8_q4_0_n);
}

/* Interleaved q8_0: signed weights, so |w| against x with w's sign (as
 * blk_q8_0); the pair sums (up to 2 x 127 x 127) leave no room for two,
 * so each piece's are widened to 32 bits at once. */
AI void dot8_q8_0_n(int64_t K, const void *w, const void *x, size_t xs, const int nr, float *s)
{
    const int64_t nb = K / IA_QK;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[IA_QMM_NR];
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
        acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const ia_block_q8_0x8 *blk = (const ia_block_q8_0x8 *)w + b;
        IA_QMM_PREFETCH_SPAN(blk, sizeof *blk);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)blk->d));
        __m256i s32[IA_QMM_NR];
#pragma GCC unroll 4
        for (int r = 0; r < nr; r++)
            s32[r] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            const __m256i v = loadu(blk->qs + 32 * c), av = _mm256_sign_epi8(v, v);
#pragma GCC unroll 4
            for (int r = 0; r < nr; r++) {
                int32_t a;
                memcpy(&a, XBLK(ia__qmm_q8, r, b)->qs + 4 * c, 4);
                const __m256i p = _mm256_maddubs_epi16(av, _mm256_sign_epi8(_mm256_set1_epi32(a), v));
                s32[r] = _mm256_add_epi32(s32[r], _mm256_madd_epi16(p, ones));
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < nr; r++) {
            const __m256 sc = _mm256_mul_ps(dw, _mm256_set1_ps(XBLK(ia__qmm_q8, r, b)->d));
            acc[r] = _mm256_fmadd_ps(sc, _mm256_cvtepi32_ps(s32[r]), acc[r]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
        _mm256_storeu_ps(s + 8 * r, acc[r]);
}

static void dot8_q8_0(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s)
{
    ROWS_SWITCH(dot8_q8_0_n);
}
static void dot8_q4_1(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s)
{
    ROWS_SWITCH(dot8_q4_1_n);
}

/* quantize_q8 of qmatmul-quant.inc in 8-lane vectors: the same IEEE
 * operations, so the same bytes (the scale's reciprocal, a product, then
 * the conversion's round to nearest even, which the .inc spells as adding
 * and taking away 1.5 * 2^23). The compiler's version of the .inc reduced
 * every block lane by lane: a decode step spent 5% of its time here. */
static void quantize_q8_avx2(const float *x, ia__qmm_q8 *dst, int64_t K)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7); /* undoes the packs' lane interleave */
    for (int64_t b = 0; b < K / IA_QK; b++) {
        const float *xb = x + b * IA_QK;
        ia__qmm_q8 *o = dst + b;
        __m256 v[4], amax = _mm256_setzero_ps(), chk = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(xb + 8 * i);
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[i]));
            chk = _mm256_add_ps(chk, _mm256_sub_ps(v[i], v[i])); /* NaN once any value is not finite */
        }
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        const float am = _mm_cvtss_f32(m);
        const bool not_finite = _mm256_movemask_ps(_mm256_cmp_ps(chk, chk, _CMP_UNORD_Q));
        if (not_finite || !(am >= 1e-30f)) {
            memset(o->qs, 0, IA_QK);
            o->d = not_finite ? NAN : 0.0f;
            o->s = o->d * 0.0f;
            continue;
        }
        const float d = am / 127, id = 1 / d;
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int i = 0; i < 4; i++)
            q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], vid));
        const __m256i sum4 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum4), _mm256_extracti128_si256(sum4, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        const __m256i p16 = _mm256_packs_epi32(q[0], q[1]), p16b = _mm256_packs_epi32(q[2], q[3]);
        _mm256_storeu_si256((__m256i *)(void *)o->qs,
                            _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p16, p16b), order));
        o->d = d;
        o->s = d * (float)_mm_cvtsi128_si32(s4);
    }
}

const ia__qmm_kernels ia__qmm_kernels_avx2 = IA_QMM_TABLE("avx2", quantize_q8_avx2, quantize_q8K_avx2);

#ifdef __clang__
#pragma clang attribute pop
#endif

#else /* not x86: never chosen (ia__cpu_isa_level() is portable there) */
const ia__qmm_kernels ia__qmm_kernels_avx2 = {.name = "avx2 (not built)"};
#endif
