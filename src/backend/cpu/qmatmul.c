/*
 * The CPU matmul on weights of any compute dtype (qmatmul-impl.h): the
 * driver (argument checks, scratch, activation quantization, the split of
 * the outputs among threads) and the portable C kernels, which are also
 * the plain statement of what each AVX2 kernel (qmatmul-avx2.c) computes:
 * per block an exact integer dot product of the weight's and the
 * activation's quants, times the product of their scales, summed in f32.
 */
#include <omp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "backend/cpu/cpu-impl.h"
#include "backend/cpu/qmatmul-impl.h"
#include "core/core-impl.h"

#define QSUF portable
#include "backend/cpu/qmatmul-quant.inc"

/* Weight rows per unit of work: a thread multiplies these rows with every
 * group of IA_QMM_NR activation rows (x8_rows for interleaved weights) in
 * turn, so they are read from memory once and from cache M / IA_QMM_NR - 1
 * times. Rows are read one after the other, front to back (see BLOCK_DOT
 * in qmatmul-avx2.c). */
enum { QMM_NC = 16 };
/* The tile kernels' loop (qmatmul-impl.h) keeps one operand of a tile in
 * L1 and streams the other from L2. Where a tile's activation rows fit
 * in QMM_TILE_XL1 bytes (a 48 KiB L1) they stay, and the weights stream
 * in blocks of QMM_TILE_WL2 bytes: at M = 512 on an Intel Xeon, f16
 * weights 10-15% faster than the other order at K = 576 and K = 1536,
 * f32 3-14%. Otherwise the weight rows stay, against blocks of QMM_MB
 * activation rows (a multiple of IA_QMM_TR, which stay in L2 with the
 * weight rows passing). */
enum { QMM_TILE_XL1 = 48 << 10, QMM_TILE_WL2 = 512 << 10, QMM_MB = 72, QMM_TILE_MIN_M = 8 };

ia__qmm_act ia__qmm_act_of(ia_dtype t)
{
    switch (t) {
    case IA_DTYPE_F32:
    case IA_DTYPE_F16:
    case IA_DTYPE_BF16:
        return IA_QMM_ACT_F32;
    case IA_DTYPE_Q8_0:
    case IA_DTYPE_Q4_0:
    case IA_DTYPE_Q4_1:
        return IA_QMM_ACT_Q8;
    case IA_DTYPE_Q4_K:
    case IA_DTYPE_Q5_K:
    case IA_DTYPE_Q6_K:
        return IA_QMM_ACT_Q8K;
    default:
        return IA_QMM_ACT_NONE;
    }
}

/* Bytes of one quantized activation row of K (0: none needed). */
static size_t act_row_bytes(ia__qmm_act act, int64_t K)
{
    return act == IA_QMM_ACT_Q8    ? (size_t)(K / IA_QK) * sizeof(ia__qmm_q8)
         : act == IA_QMM_ACT_Q8K ? (size_t)(K / IA_QK_K) * sizeof(ia__qmm_q8K)
                                 : 0;
}

size_t ia__cpu_qmatmul_scratch(ia_dtype t, int64_t K, int64_t M)
{
    const ia__qmm_act act = ia__qmm_act_of(t);
    if (act == IA_QMM_ACT_NONE || K <= 0 || M < 0 || !ia__dtype_row_bytes(t, K))
        return 0;
    const size_t row = act_row_bytes(act, K);
    if (row && (uint64_t)M > SIZE_MAX / row)
        return 0;
    return row * (size_t)M;
}

static ia__qmm_kernels kernels_avx512;
static pthread_once_t avx512_once = PTHREAD_ONCE_INIT;

static void avx512_init(void)
{
    kernels_avx512 = ia__qmm_kernels_avx2;
    ia__qmm_kernels_add_avx512(&kernels_avx512, ia__cpu_has_vnni());
}

const ia__qmm_kernels *ia__qmm_kernels_get(void)
{
    const ia__cpu_isa isa = ia__cpu_isa_level();
    if (isa >= IA_CPU_ISA_AVX512) {
        pthread_once(&avx512_once, avx512_init);
        return &kernels_avx512;
    }
    return isa >= IA_CPU_ISA_AVX2 ? &ia__qmm_kernels_avx2 : &ia__qmm_kernels_portable;
}

static ia_status qmatmul(const char *fn, const void *W, ia_dtype t, int64_t N, int64_t K, const float *x,
                         int64_t M, const float *bias, float *y, int n_threads, void *scratch, bool x8)
{
    if (!W || !x || !y)
        return ia__error(IA_ERR_INVALID, "%s: %s is NULL", fn, !W ? "W" : !x ? "x" : "y");
    const ia_dtype_traits *tr = ia__dtype(t);
    if (!tr)
        return ia__error(IA_ERR_INVALID, "%s: dtype %d is not a dtype", fn, (int)t);
    const ia__qmm_act act = ia__qmm_act_of(t);
    if (act == IA_QMM_ACT_NONE)
        return ia__error(IA_ERR_UNSUPPORTED, "%s: no matmul kernel for %s weights", fn, tr->name);
    if (N < 0 || M < 0 || K <= 0)
        return ia__error(IA_ERR_INVALID, "%s: bad shape M=%lld N=%lld K=%lld", fn, (long long)M,
                         (long long)N, (long long)K);
    const size_t wrow = ia__dtype_row_bytes(t, K);
    if (!wrow)
        return ia__error(IA_ERR_INVALID, "%s: K=%lld is not a multiple of %s's block of %d", fn,
                         (long long)K, tr->name, tr->block);
    const uintptr_t walign = t == IA_DTYPE_F32 ? 4 : 2;
    if ((uintptr_t)W % walign || (uintptr_t)x % 4 || (uintptr_t)y % 4 || (uintptr_t)bias % 4 ||
        (uintptr_t)scratch % 16)
        return ia__error(IA_ERR_INVALID, "%s: misaligned W, x, bias, y or scratch", fn);
    if (!M || !N)
        return IA_OK;
    if ((uint64_t)N > SIZE_MAX / wrow || (uint64_t)M > SIZE_MAX / 4 / (uint64_t)K)
        return ia__error(IA_ERR_INVALID, "%s: sizes overflow", fn);

    if (x8 && (!ia__dtype_interleavable(t) || N % 8))
        return ia__error(IA_ERR_INVALID, "%s: interleaved rows need q8_0, q4_0 or q4_1 weights and N a multiple "
                         "of 8 (%s, N=%lld)", fn, tr->name, (long long)N);
    const ia__qmm_kernels *kt = ia__qmm_kernels_get();
    const ia__qmm_dot_fn dot = kt->dot[t];
    const ia__qmm_dot8_fn dot8 = t == IA_DTYPE_Q8_0 ? kt->dot8_q8_0 : t == IA_DTYPE_Q4_0 ? kt->dot8_q4_0 : kt->dot8_q4_1;
    const ia__qmm_dot16_fn dot16 = t == IA_DTYPE_Q8_0 ? kt->dot16_q8_0 : t == IA_DTYPE_Q4_0 ? kt->dot16_q4_0 : kt->dot16_q4_1;
    /* Tiles read 4 weight rows side by side, which DRAM streams worse than
     * one row after the other: a decode step's few rows, whose time is the
     * weights' reading, keep the dot kernel (measured by bench/
     * qmatmul_bench: tiles 1.3x slower at M = 1 from DRAM, 1.3x faster at
     * M = 16). */
    const ia__qmm_tile_fn tile = x8 || M < QMM_TILE_MIN_M ? NULL : kt->tile[t];
    size_t xs = (size_t)K * sizeof(float); /* bytes between activation rows */
    const char *xa = (const char *)x;
    void *own = NULL;
    if (act != IA_QMM_ACT_F32) {
        xs = act_row_bytes(act, K);
        if ((uint64_t)M > SIZE_MAX / xs)
            return ia__error(IA_ERR_INVALID, "%s: sizes overflow", fn);
        if (!scratch && !(scratch = own = ia__malloc(xs * (size_t)M)))
            return ia__error(IA_ERR_NOMEM, "%s: %zu bytes of quantized activations", fn,
                             xs * (size_t)M);
        xa = scratch;
    }

    /* Quantization in units of 256 activations (one q8_K block, eight
     * q8 blocks), spread over the threads like the outputs. */
    const int64_t qblk = act == IA_QMM_ACT_Q8 ? IA_QK_K / IA_QK : 1;
    const int64_t qunits_row = act == IA_QMM_ACT_F32 ? 0 : (K / tr->block + qblk - 1) / qblk;
    const int64_t nchunks = (N + QMM_NC - 1) / QMM_NC;
    int nt = n_threads < 1 ? 1 : n_threads;
    if (nt > nchunks)
        nt = (int)nchunks;
    const char *wb = W;

#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        if (qunits_row) {
#pragma omp for schedule(static)
            for (int64_t u = 0; u < M * qunits_row; u++) {
                const int64_t r = u / qunits_row, b0 = u % qunits_row * qblk;
                const int64_t nb = IA_MIN(qblk, K / tr->block - b0);
                const float *xr = x + r * K + b0 * tr->block;
                char *dst = (char *)xa + (size_t)r * xs;
                if (act == IA_QMM_ACT_Q8)
                    kt->quantize_q8(xr, (ia__qmm_q8 *)(void *)dst + b0, nb * IA_QK);
                else
                    kt->quantize_q8K(xr, (ia__qmm_q8K *)(void *)dst + b0, nb * IA_QK_K);
            }
        }
        if (tile) {
            /* The static schedule's share of the outputs, tile by tile:
             * rows [j, j + nw) of the weights by [r0, r0 + nr) of the
             * activations, in the order QMM_TILE_XL1 says. */
            const int nth = omp_get_num_threads(), tid = omp_get_thread_num();
            const int64_t j0 = nchunks * tid / nth * QMM_NC, j1 = IA_MIN(N, nchunks * (tid + 1) / nth * QMM_NC);
            const bool x_stays = (uint64_t)K * sizeof(float) * IA_QMM_TR <= QMM_TILE_XL1;
            const int64_t jb = x_stays ? IA_MAX(1, (int64_t)(QMM_TILE_WL2 / wrow) / IA_QMM_TW) * IA_QMM_TW : IA_QMM_TW;
            const int64_t mb = x_stays ? M : QMM_MB;
            for (int64_t m0 = 0; m0 < M; m0 += mb)
                for (int64_t b0 = j0; b0 < j1; b0 += jb)
                    for (int64_t r0 = m0; r0 < IA_MIN(M, m0 + mb); r0 += IA_QMM_TR)
                        for (int64_t j = b0; j < IA_MIN(j1, b0 + jb); j += IA_QMM_TW) {
                            const int nr = (int)IA_MIN((int64_t)IA_QMM_TR, IA_MIN(M, m0 + mb) - r0);
                            const int nw = (int)IA_MIN((int64_t)IA_QMM_TW, j1 - j);
                            float s[IA_QMM_TW * IA_QMM_TR];
                            tile(K, wb + (size_t)j * wrow, wrow, nw, xa + (size_t)r0 * xs, xs, nr, s);
                            for (int r = 0; r < nr; r++)
                                for (int i = 0; i < nw; i++)
                                    y[(r0 + r) * N + j + i] = s[IA_QMM_TW * r + i] + (bias ? bias[j + i] : 0.0f);
                        }
        }
#pragma omp for schedule(static)
        for (int64_t c = 0; c < (tile ? 0 : nchunks); c++) {
            const int64_t j0 = c * QMM_NC, j1 = IA_MIN(N, j0 + QMM_NC);
            const int64_t step = x8 ? kt->x8_rows : IA_QMM_NR;
            for (int64_t r0 = 0; r0 < M; r0 += step) {
                const int nr = (int)IA_MIN(step, M - r0);
                for (int64_t g = j0; x8 && g < j1;) { /* j0, j1: multiples of 8 */
                    float s[16 * IA_QMM_NR_X8];
                    const int G = dot16 && g + 16 <= j1 ? 2 : 1;
                    if (G == 2)
                        dot16(K, wb + (size_t)g * wrow, 8 * wrow, xa + (size_t)r0 * xs, xs, nr, s);
                    else
                        dot8(K, wb + (size_t)g * wrow, xa + (size_t)r0 * xs, xs, nr, s);
                    for (int r = 0; r < nr; r++)
                        for (int i = 0; i < 8 * G; i++)
                            y[(r0 + r) * N + g + i] = s[8 * G * r + i] + (bias ? bias[g + i] : 0.0f);
                    g += 8 * G;
                }
                for (int64_t j = j0; !x8 && j < j1; j++) {
                    float s[IA_QMM_NR];
                    dot(K, wb + (size_t)j * wrow, xa + (size_t)r0 * xs, xs, nr, s);
                    const float b = bias ? bias[j] : 0.0f;
                    for (int r = 0; r < nr; r++)
                        y[(r0 + r) * N + j] = s[r] + b;
                }
            }
        }
    }
    ia__free(own);
    return IA_OK;
}

ia_status ia__cpu_qmatmul(const void *W, ia_dtype t, int64_t N, int64_t K, const float *x,
                          int64_t M, const float *bias, float *y, int n_threads, void *scratch)
{
    return qmatmul(__func__, W, t, N, K, x, M, bias, y, n_threads, scratch, false);
}

ia_status ia__cpu_qmatmul_x8(const void *W, ia_dtype t, int64_t N, int64_t K, const float *x,
                             int64_t M, const float *bias, float *y, int n_threads, void *scratch)
{
    return qmatmul(__func__, W, t, N, K, x, M, bias, y, n_threads, scratch, true);
}

/* ------------------------------------------------------------------------
 * Portable kernels. Activation row r of x: */
#define XROW(T, r) ((const T *)(const void *)((const char *)x + (size_t)(r) * xs))

/* acc[r] += w . x_r over n elements of f32. */
static inline void dot_f32_rows(const float *w, const void *x, size_t xs, int64_t k0, int64_t n,
                                int nr, float *acc)
{
    for (int r = 0; r < nr; r++) {
        const float *xr = XROW(float, r) + k0;
        float a = 0;
#pragma omp simd reduction(+ : a)
        for (int64_t k = 0; k < n; k++)
            a += w[k] * xr[k];
        acc[r] += a;
    }
}

static void dot_f32(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s)
{
    for (int r = 0; r < nr; r++)
        s[r] = 0;
    dot_f32_rows(w, x, xs, 0, K, nr, s);
}

/* f16 and bf16: widened a piece at a time by the dtype's own conversion. */
static void dot_half(ia_dtype t, int64_t K, const void *w, const void *x, size_t xs, int nr, float *s)
{
    enum { PIECE = 256 };
    float wf[PIECE];
    void (*to_f32)(const void *, float *, int64_t) = ia__dtype(t)->to_f32;
    for (int r = 0; r < nr; r++)
        s[r] = 0;
    for (int64_t k0 = 0; k0 < K; k0 += PIECE) {
        const int64_t n = IA_MIN((int64_t)PIECE, K - k0);
        to_f32((const uint16_t *)w + k0, wf, n);
        dot_f32_rows(wf, x, xs, k0, n, nr, s);
    }
}

static void dot_f16(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s)
{
    dot_half(IA_DTYPE_F16, K, w, x, xs, nr, s);
}

static void dot_bf16(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s)
{
    dot_half(IA_DTYPE_BF16, K, w, x, xs, nr, s);
}

static void dot_q8_0(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s)
{
    const ia_block_q8_0 *wb = w;
    for (int r = 0; r < nr; r++) {
        const ia__qmm_q8 *xb = XROW(ia__qmm_q8, r);
        float acc = 0;
        for (int64_t b = 0; b < K / IA_QK; b++) {
            int32_t isum = 0;
            for (int j = 0; j < IA_QK; j++)
                isum += wb[b].qs[j] * xb[b].qs[j];
            acc += ia__f16_to_f32(wb[b].d) * xb[b].d * (float)isum;
        }
        s[r] = acc;
    }
}

static void dot_q4_0(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s)
{
    const ia_block_q4_0 *wb = w;
    for (int r = 0; r < nr; r++) {
        const ia__qmm_q8 *xb = XROW(ia__qmm_q8, r);
        float acc = 0;
        for (int64_t b = 0; b < K / IA_QK; b++) {
            int32_t isum = 0;
            for (int j = 0; j < IA_QK / 2; j++)
                isum += ((wb[b].qs[j] & 15) - 8) * xb[b].qs[j] +
                        ((wb[b].qs[j] >> 4) - 8) * xb[b].qs[j + IA_QK / 2];
            acc += ia__f16_to_f32(wb[b].d) * xb[b].d * (float)isum;
        }
        s[r] = acc;
    }
}

/* value = q d + m, so w . x = d dx sum(q qx) + m (dx sum(qx)) = ... + m s. */
static void dot_q4_1(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s)
{
    const ia_block_q4_1 *wb = w;
    for (int r = 0; r < nr; r++) {
        const ia__qmm_q8 *xb = XROW(ia__qmm_q8, r);
        float acc = 0;
        for (int64_t b = 0; b < K / IA_QK; b++) {
            int32_t isum = 0;
            for (int j = 0; j < IA_QK / 2; j++)
                isum += (wb[b].qs[j] & 15) * xb[b].qs[j] + (wb[b].qs[j] >> 4) * xb[b].qs[j + IA_QK / 2];
            acc += ia__f16_to_f32(wb[b].d) * xb[b].d * (float)isum +
                   ia__f16_to_f32(wb[b].m) * xb[b].s;
        }
        s[r] = acc;
    }
}

/* q4_K / q5_K sub-block j's 6-bit scale and min (dtype.h). */
/* q4_K and q5_K (qh NULL for q4_K): w . x = dx (d sum_j sc_j sum(q qx) -
 * dmin sum_j mn_j sum(qx)), the sums of qx per sub-block from bsums. */
static inline void dot_k45(int64_t K, const uint16_t *dd, const uint8_t *scales, const uint8_t *qh,
                           const uint8_t *qs, size_t wstride, const void *x, size_t xs, int nr,
                           float *s)
{
    for (int r = 0; r < nr; r++)
        s[r] = 0;
    for (int64_t b = 0; b < K / IA_QK_K; b++) {
        const size_t wo = (size_t)b * wstride;
        const float d = ia__f16_to_f32(*(const uint16_t *)(const void *)((const char *)dd + wo));
        const float dmin = ia__f16_to_f32(*(const uint16_t *)(const void *)((const char *)dd + wo + 2));
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++)
            ia__k4_scale_min(scales + wo, j, &sc[j], &mn[j]);
        for (int r = 0; r < nr; r++) {
            const ia__qmm_q8K *xb = XROW(ia__qmm_q8K, r) + b;
            int32_t sumi = 0, summ = 0;
            for (int j = 0; j < 8; j++) {
                const uint8_t *q = qs + wo + 32 * (j / 2);
                const int shift = 4 * (j & 1);
                int32_t p = 0;
                for (int l = 0; l < 32; l++) {
                    int v = (q[l] >> shift) & 15;
                    if (qh)
                        v |= ((qh[wo + l] >> j) & 1) << 4;
                    p += v * xb->qs[32 * j + l];
                }
                sumi += sc[j] * p;
                summ += mn[j] * (xb->bsums[2 * j] + xb->bsums[2 * j + 1]);
            }
            s[r] += xb->d * (d * (float)sumi - dmin * (float)summ);
        }
    }
}

static void dot_q4_K(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s)
{
    const ia_block_q4_K *wb = w;
    dot_k45(K, &wb->d, wb->scales, NULL, wb->qs, sizeof *wb, x, xs, nr, s);
}

static void dot_q5_K(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s)
{
    const ia_block_q5_K *wb = w;
    dot_k45(K, &wb->d, wb->scales, wb->qh, wb->qs, sizeof *wb, x, xs, nr, s);
}

/* value = d sc (q - 32) for 16 sub-blocks of 16. */
static void dot_q6_K(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s)
{
    const ia_block_q6_K *wb = w;
    for (int r = 0; r < nr; r++) {
        const ia__qmm_q8K *xb = XROW(ia__qmm_q8K, r);
        float acc = 0;
        for (int64_t b = 0; b < K / IA_QK_K; b++) {
            int32_t sumi = 0;
            for (int h = 0; h < 2; h++) { /* halves of 128 */
                const uint8_t *ql = wb[b].ql + 64 * h, *qh = wb[b].qh + 32 * h;
                const int8_t *q8 = xb[b].qs + 128 * h;
                const int8_t *sc = wb[b].scales + 8 * h;
                for (int l = 0; l < 32; l++) {
                    const int is = l / 16;
                    const int q1 = ((ql[l] & 15) | ((qh[l] >> 0) & 3) << 4) - 32;
                    const int q2 = ((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32;
                    const int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
                    const int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
                    sumi += sc[is + 0] * q1 * q8[l] + sc[is + 2] * q2 * q8[l + 32] +
                            sc[is + 4] * q3 * q8[l + 64] + sc[is + 6] * q4 * q8[l + 96];
                }
            }
            acc += ia__f16_to_f32(wb[b].d) * xb[b].d * (float)sumi;
        }
        s[r] = acc;
    }
}

/* Interleaved q4_0 and q4_1 (dtype.h): row i's block b is d[i] (and
 * m[i]) and nibbles from bytes 4c .. 4c + 3 of piece c, as in q4_0. */
static void dot8_q4(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s, bool with_min)
{
    const size_t bbytes = with_min ? sizeof(ia_block_q4_1x8) : sizeof(ia_block_q4_0x8);
    for (int r = 0; r < nr; r++) {
        const ia__qmm_q8 *xb = XROW(ia__qmm_q8, r);
        for (int i = 0; i < 8; i++) {
            float acc = 0;
            for (int64_t b = 0; b < K / IA_QK; b++) {
                const uint8_t *blk = (const uint8_t *)w + (size_t)b * bbytes;
                const uint16_t *dm = (const uint16_t *)(const void *)blk;
                const uint8_t *qs = blk + (with_min ? 32 : 16);
                int32_t isum = 0;
                for (int j = 0; j < IA_QK / 2; j++) {
                    const uint8_t q = qs[32 * (j / 4) + 4 * i + j % 4];
                    isum += (q & 15) * xb[b].qs[j] + (q >> 4) * xb[b].qs[j + IA_QK / 2];
                }
                const float d = ia__f16_to_f32(dm[i]), m = with_min ? ia__f16_to_f32(dm[8 + i]) : -8 * d;
                acc += d * xb[b].d * (float)isum + m * xb[b].s;
            }
            s[8 * r + i] = acc;
        }
    }
}

static void dot8_q4_0(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s)
{
    dot8_q4(K, w, x, xs, nr, s, false);
}

/* Interleaved q8_0: row i's block b is d[i] and bytes 4i .. 4i + 3 of the
 * 8 pieces. */
static void dot8_q8_0(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s)
{
    const ia_block_q8_0x8 *wb = w;
    for (int r = 0; r < nr; r++) {
        const ia__qmm_q8 *xb = XROW(ia__qmm_q8, r);
        for (int i = 0; i < 8; i++) {
            float acc = 0;
            for (int64_t b = 0; b < K / IA_QK; b++) {
                int32_t isum = 0;
                for (int j = 0; j < IA_QK; j++)
                    isum += wb[b].qs[32 * (j / 4) + 4 * i + j % 4] * xb[b].qs[j];
                acc += ia__f16_to_f32(wb[b].d[i]) * xb[b].d * (float)isum;
            }
            s[8 * r + i] = acc;
        }
    }
}

static void dot8_q4_1(int64_t K, const void *w, const void *x, size_t xs, int nr, float *s)
{
    dot8_q4(K, w, x, xs, nr, s, true);
}

const ia__qmm_kernels ia__qmm_kernels_portable = IA_QMM_TABLE("portable", quantize_q8_portable, quantize_q8K_portable);
