/*
 * The matmul kernels that AVX-512 adds to the AVX2 table (qmatmul-impl.h):
 *
 * - f32, f16 and bf16 weights: a tile of up to 4 weight rows by 6
 *   activation rows per call, 16 lanes per FMA. The AVX2 kernel reads 5
 *   vectors for 4 FMAs and is bound by loads; the tile reads 10 for 24
 *   (and widens 4 for 24). Each
 *   output is summed exactly as the AVX2 kernel sums it (lane l holds the
 *   elements k = l mod 16; its two 8-lane chains are this vector's halves),
 *   so the results are the same bits.
 * - With VNNI, the interleaved q8_0, q4_0 and q4_1 kernels: vpdpbusd adds
 *   four u8 x s8 products into a 32-bit lane in one instruction where AVX2
 *   needs three (maddubs, madd, add), and a 512-bit vector takes two groups
 *   of 8 rows. The integer sums are exact either way and are scaled in the
 *   AVX2 kernel's order, so these too give the AVX2 kernels' bits.
 */
#include <stdint.h>
#include <string.h>

#include "backend/cpu/qmatmul-impl.h"

#if defined(__x86_64__) || defined(__i386__)
#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c"))), \
                             apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")
#endif
#include <immintrin.h>

#define AI static inline __attribute__((always_inline))
#define XROW(T, r) ((const T *)(const void *)((const char *)x + (size_t)(r) * xs))

/* out[i] = the sum of a[i]'s lanes as the AVX2 kernel sums its two chains
 * (qmatmul-avx2.c): halves, then quarters, then pairs, bit for bit. Done
 * on 16 vectors side by side by shuffles: 45 instructions for 16 sums
 * instead of 128 one by one. */
AI void hsum16x16(const __m512 a[16], float out[16])
{
    __m512 t[8], q[4], u[2];
    for (int p = 0; p < 8; p++) /* [a.lo256 + a.hi256 | b.lo256 + b.hi256] */
        t[p] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * p], a[2 * p + 1], 0x44),
                             _mm512_shuffle_f32x4(a[2 * p], a[2 * p + 1], 0xEE));
    for (int p = 0; p < 4; p++) /* 128-bit lane j: vector 4p + j's low quarter + its high quarter */
        q[p] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * p], t[2 * p + 1], 0x88),
                             _mm512_shuffle_f32x4(t[2 * p], t[2 * p + 1], 0xDD));
    for (int p = 0; p < 2; p++) /* lane j: [s0 + s2, s1 + s3] of vectors 8p + j and 8p + 4 + j */
        u[p] = _mm512_add_ps(_mm512_shuffle_ps(q[2 * p], q[2 * p + 1], 0x44),
                             _mm512_shuffle_ps(q[2 * p], q[2 * p + 1], 0xEE));
    /* lane j: the sums of vectors j, 4 + j, 8 + j, 12 + j; then in order */
    const __m512 r = _mm512_add_ps(_mm512_shuffle_ps(u[0], u[1], 0x88), _mm512_shuffle_ps(u[0], u[1], 0xDD));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    _mm512_storeu_ps(out, _mm512_permutexvar_ps(order, r));
}

enum { W_F32, W_F16, W_BF16 };

AI __m512 load_w16(const void *p, int64_t k, const int kind)
{
    if (kind == W_F32)
        return _mm512_loadu_ps((const float *)p + k);
    const __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)((const uint16_t *)p + k));
    if (kind == W_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* 8 elements in the low lanes (the AVX2 kernel's 8-element tail step). */
AI __m512 load_w8(const void *p, int64_t k, const int kind)
{
    if (kind == W_F32)
        return _mm512_castps256_ps512(_mm256_loadu_ps((const float *)p + k));
    const __m128i h = _mm_loadu_si128((const __m128i *)(const void *)((const uint16_t *)p + k));
    if (kind == W_F16)
        return _mm512_castps256_ps512(_mm256_cvtph_ps(h));
    return _mm512_castps256_ps512(_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)));
}

AI float load_w1(const void *p, int64_t k, const int kind)
{
    if (kind == W_F32)
        return ((const float *)p)[k];
    const uint16_t h = ((const uint16_t *)p)[k];
    if (kind == W_F16)
        return _cvtsh_ss(h);
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

AI void tile_n(int64_t K, const void *w, size_t ws, const int nw, const void *x, size_t xs, const int nr,
               float *s, const int kind)
{
    __m512 acc[IA_QMM_TR][IA_QMM_TW];
#pragma GCC unroll 6
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (int i = 0; i < nw; i++)
            acc[r][i] = _mm512_setzero_ps();
    const char *wc = w;
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        __m512 wv[IA_QMM_TW];
#pragma GCC unroll 4
        for (int i = 0; i < nw; i++)
            wv[i] = load_w16(wc + (size_t)i * ws, k, kind);
#pragma GCC unroll 6
        for (int r = 0; r < nr; r++) {
            const __m512 xv = _mm512_loadu_ps(XROW(float, r) + k);
#pragma GCC unroll 4
            for (int i = 0; i < nw; i++)
                acc[r][i] = _mm512_fmadd_ps(wv[i], xv, acc[r][i]);
        }
    }
    if (k + 8 <= K) { /* into the low lanes only, as the AVX2 tail step */
#pragma GCC unroll 4
        for (int i = 0; i < nw; i++) {
            const __m512 wv = load_w8(wc + (size_t)i * ws, k, kind);
#pragma GCC unroll 6
            for (int r = 0; r < nr; r++)
                acc[r][i] = _mm512_mask3_fmadd_ps(wv, _mm512_castps256_ps512(_mm256_loadu_ps(XROW(float, r) + k)),
                                                  acc[r][i], 0xFF);
        }
        k += 8;
    }
    /* the sums at s's places (IA_QMM_TW r + i), 16 at a time */
    __m512 all[2 * 16];
    float sums[2 * 16];
#pragma GCC unroll 32
    for (int f = 0; f < 2 * 16; f++)
        all[f] = f / IA_QMM_TW < nr && f % IA_QMM_TW < nw ? acc[f / IA_QMM_TW][f % IA_QMM_TW] : _mm512_setzero_ps();
    hsum16x16(all, sums);
    if (IA_QMM_TW * nr > 16)
        hsum16x16(all + 16, sums + 16);
#pragma GCC unroll 6
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (int i = 0; i < nw; i++) {
            float v = sums[IA_QMM_TW * r + i];
            for (int64_t kk = k; kk < K; kk++)
                v += load_w1(wc + (size_t)i * ws, kk, kind) * XROW(float, r)[kk];
            s[IA_QMM_TW * r + i] = v;
        }
}

/* Constant nw and nr for the compiler: the accumulators stay in registers. */
#define TILE_NW(NR, KIND)                                                  \
    switch (nw) {                                                          \
    case 1: tile_n(K, w, ws, 1, x, xs, NR, s, KIND); break;                \
    case 2: tile_n(K, w, ws, 2, x, xs, NR, s, KIND); break;                \
    case 3: tile_n(K, w, ws, 3, x, xs, NR, s, KIND); break;                \
    default: tile_n(K, w, ws, 4, x, xs, NR, s, KIND); break;               \
    }
#define TILE_SWITCH(KIND)                                                  \
    switch (nr) {                                                          \
    case 1: TILE_NW(1, KIND) break;                                        \
    case 2: TILE_NW(2, KIND) break;                                        \
    case 3: TILE_NW(3, KIND) break;                                        \
    case 4: TILE_NW(4, KIND) break;                                        \
    case 5: TILE_NW(5, KIND) break;                                        \
    default: TILE_NW(6, KIND) break;                                       \
    }

static void tile_f32(int64_t K, const void *w, size_t ws, int nw, const void *x, size_t xs, int nr, float *s)
{
    TILE_SWITCH(W_F32)
}
static void tile_f16(int64_t K, const void *w, size_t ws, int nw, const void *x, size_t xs, int nr, float *s)
{
    TILE_SWITCH(W_F16)
}
static void tile_bf16(int64_t K, const void *w, size_t ws, int nw, const void *x, size_t xs, int nr, float *s)
{
    TILE_SWITCH(W_BF16)
}

/* ------------------------------------------------------------------------
 * Interleaved rows with VNNI. G groups of 8 rows (1 or 2) side by side in
 * a vector's 8-lane halves, groups gs bytes apart. */

/* 32 bytes of each group at offset off of block b. */
AI __m512i load_groups(const uint8_t *p, size_t gs, const int G)
{
    const __m256i lo = _mm256_loadu_si256((const __m256i *)(const void *)p);
    if (G == 1)
        return _mm512_castsi256_si512(lo);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), _mm256_loadu_si256((const __m256i *)(const void *)(p + gs)), 1);
}

/* 8 f16 of each group, widened. */
AI __m512 load_scales(const uint8_t *p, size_t gs, const int G)
{
    const __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)p);
    const __m256i h = G == 1 ? _mm256_castsi128_si256(lo)
                             : _mm256_inserti128_si256(_mm256_castsi128_si256(lo),
                                                       _mm_loadu_si128((const __m128i *)(const void *)(p + gs)), 1);
    return _mm512_cvtph_ps(h);
}

AI void store_groups(float *s, int r, __m512 v, const int G)
{
    /* the layout the driver reads: group g's row r at s[8 (G r + g)] */
    _mm512_mask_storeu_ps(s + 8 * G * r, G == 1 ? 0xFF : 0xFFFF, v);
}

/* q4_0 and q4_1: the nibbles are u8, the activation quants s8, as vpdpbusd
 * takes them. */
AI void dot_q4_vnni(int64_t K, const void *w, size_t gs, const void *x, size_t xs, const int nr, float *s,
                    const int with_min, const int G)
{
    const int64_t nb = K / IA_QK;
    const size_t bbytes = with_min ? sizeof(ia_block_q4_1x8) : sizeof(ia_block_q4_0x8);
    const __m512i m4 = _mm512_set1_epi8(15);
    __m512 acc[IA_QMM_NR_X8];
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++)
        acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = (const uint8_t *)w + (size_t)b * bbytes;
        IA_QMM_PREFETCH_SPAN(blk, bbytes);
        if (G == 2)
            IA_QMM_PREFETCH_SPAN(blk + gs, bbytes);
        const uint8_t *qs = blk + (with_min ? 32 : 16);
        const __m512 dw = load_scales(blk, gs, G);
        const __m512 mw = with_min ? load_scales(blk + 16, gs, G) : _mm512_mul_ps(dw, _mm512_set1_ps(-8.0f));
        __m512i s32[IA_QMM_NR_X8];
#pragma GCC unroll 8
        for (int r = 0; r < nr; r++)
            s32[r] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const __m512i v = load_groups(qs + 32 * c, gs, G);
            const __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
#pragma GCC unroll 8
            for (int r = 0; r < nr; r++) {
                const int8_t *xq = XROW(ia__qmm_q8, r)[b].qs;
                int32_t a, h;
                memcpy(&a, xq + 4 * c, 4);
                memcpy(&h, xq + IA_QK / 2 + 4 * c, 4);
                s32[r] = _mm512_dpbusd_epi32(s32[r], lo, _mm512_set1_epi32(a));
                s32[r] = _mm512_dpbusd_epi32(s32[r], hi, _mm512_set1_epi32(h));
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < nr; r++) {
            const ia__qmm_q8 *xb = XROW(ia__qmm_q8, r) + b;
            acc[r] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(xb->d)), _mm512_cvtepi32_ps(s32[r]), acc[r]);
            acc[r] = _mm512_fmadd_ps(mw, _mm512_set1_ps(xb->s), acc[r]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++)
        store_groups(s, r, acc[r], G);
}

/* q8_0: both signed. The activation quants go in as u8 = q + 128 (an
 * exclusive or of the sign bit), and 128 times the sum of the weights,
 * taken once per block for all rows, comes off again. */
AI void dot_q8_0_vnni(int64_t K, const void *w, size_t gs, const void *x, size_t xs, const int nr, float *s,
                      const int G)
{
    const int64_t nb = K / IA_QK;
    const __m512i ones = _mm512_set1_epi8(1);
    __m512 acc[IA_QMM_NR_X8];
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++)
        acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const ia_block_q8_0x8 *blk = (const ia_block_q8_0x8 *)w + b;
        IA_QMM_PREFETCH_SPAN(blk, sizeof *blk);
        if (G == 2)
            IA_QMM_PREFETCH_SPAN((const char *)blk + gs, sizeof *blk);
        const __m512 dw = load_scales((const uint8_t *)blk->d, gs, G);
        __m512i s32[IA_QMM_NR_X8], wsum = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int r = 0; r < nr; r++)
            s32[r] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            const __m512i v = load_groups((const uint8_t *)blk->qs + 32 * c, gs, G);
            wsum = _mm512_dpbusd_epi32(wsum, ones, v);
#pragma GCC unroll 8
            for (int r = 0; r < nr; r++) {
                uint32_t a;
                memcpy(&a, XROW(ia__qmm_q8, r)[b].qs + 4 * c, 4);
                s32[r] = _mm512_dpbusd_epi32(s32[r], _mm512_set1_epi32((int)(a ^ 0x80808080u)), v);
            }
        }
        const __m512i off = _mm512_slli_epi32(wsum, 7);
#pragma GCC unroll 8
        for (int r = 0; r < nr; r++) {
            const __m512 sc = _mm512_mul_ps(dw, _mm512_set1_ps(XROW(ia__qmm_q8, r)[b].d));
            acc[r] = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(_mm512_sub_epi32(s32[r], off)), acc[r]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++)
        store_groups(s, r, acc[r], G);
}

#define GROUPS_SWITCH(call)                     \
    switch (nr) {                               \
    case 1: call(1); break;                     \
    case 2: call(2); break;                     \
    case 3: call(3); break;                     \
    case 4: call(4); break;                     \
    case 5: call(5); break;                     \
    case 6: call(6); break;                     \
    case 7: call(7); break;                     \
    default: call(8); break;                    \
    }

/* One group (the dot8 signature) and two (gs bytes apart). */
#define VNNI_KERNELS(T, BODY)                                                                             \
    static void dot8_##T##_vnni(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s)     \
    {                                                                                                     \
        const size_t gs = 0;                                                                              \
        enum { G = 1 };                                                                                   \
        GROUPS_SWITCH(BODY)                                                                               \
    }                                                                                                     \
    static void dot16_##T##_vnni(int64_t K, const void *w, size_t gs, const void *x, size_t xs, int nr,  \
                                 float *s)                                                                \
    {                                                                                                     \
        enum { G = 2 };                                                                                   \
        GROUPS_SWITCH(BODY)                                                                               \
    }

#define BODY_Q8_0(NR) dot_q8_0_vnni(K, w, gs, x, xs, NR, s, G)
#define BODY_Q4_0(NR) dot_q4_vnni(K, w, gs, x, xs, NR, s, 0, G)
#define BODY_Q4_1(NR) dot_q4_vnni(K, w, gs, x, xs, NR, s, 1, G)
VNNI_KERNELS(q8_0, BODY_Q8_0)
VNNI_KERNELS(q4_0, BODY_Q4_0)
VNNI_KERNELS(q4_1, BODY_Q4_1)

void ia__qmm_kernels_add_avx512(ia__qmm_kernels *kt, bool vnni)
{
    kt->name = vnni ? "avx512-vnni" : "avx512";
    kt->tile[IA_DTYPE_F32] = tile_f32;
    kt->tile[IA_DTYPE_F16] = tile_f16;
    kt->tile[IA_DTYPE_BF16] = tile_bf16;
    if (!vnni)
        return;
    kt->dot8_q8_0 = dot8_q8_0_vnni;
    kt->dot8_q4_0 = dot8_q4_0_vnni;
    kt->dot8_q4_1 = dot8_q4_1_vnni;
    kt->dot16_q8_0 = dot16_q8_0_vnni;
    kt->dot16_q4_0 = dot16_q4_0_vnni;
    kt->dot16_q4_1 = dot16_q4_1_vnni;
    kt->x8_rows = IA_QMM_NR_X8;
}

#ifdef __clang__
#pragma clang attribute pop
#endif

#else /* not x86: never called (ia__cpu_isa_level() is portable there) */
void ia__qmm_kernels_add_avx512(ia__qmm_kernels *kt, bool vnni)
{
    (void)kt, (void)vnni;
}
#endif
