/*
 * The CPU matmul on weights of every compute dtype (backend/cpu/qmatmul-
 * impl.h) against a double-precision reference: y = x . W^T + b with W
 * the dequantized weights (the dtype's own to_f32) and x the exact f32
 * activations.
 *
 * Two bounds per output, both worked out from the operands:
 *   - against that reference: the activation quantization, which moves an
 *     activation by at most d / 2 (d = max |x| / 127 of its block of 32 or
 *     256), so |err| <= sum_k |w_k| d(k) / 2, plus the f32 rounding below;
 *   - against the same product with the activations the kernel really
 *     used (x~ = d q from the kernel table's quantizer): f32 rounding only,
 *     (blocks + 16) u sum_k |x~_k| m_k, u = 2^-24, m_k the largest weight
 *     magnitude of k's block plus its min term (q4_1, q4_K, q5_K; q4_0's
 *     offset of 8 d, which the AVX2 kernel takes apart like a min); for
 *     f32 / f16 / bf16 weights (K + 16) u sum |x_k w_k|; both plus 2 u |ref|
 *     for the rounding of the output itself.
 * Weights are both real quantizations of random rows (from_f32) and
 * random block bytes (every quant value and scale code, q8_0's -128 and
 * q6_K's negative scales included). Shapes: K one block and odd numbers
 * of blocks, N = 1, 3, 17, 64, M = 1, 2, 5, 33, on 1 and 3 threads (which
 * must agree bit for bit), with and without bias and caller scratch.
 * Prints per dtype the worst relative error of an output row (||y - ref||
 * / ||ref|| over its N outputs, for N >= 17: a single output can cancel to
 * near zero) and the worst fraction of each bound used.
 *
 * The kernels are those the backend picks (IA_CPU_ISA=portable forces the
 * plain C ones; CTest runs both); where both tables can run here, their
 * quantizers must give the same bytes and their dot products agree; the
 * AVX-512 additions must give the AVX2 kernels' bits.
 * Exits 77 where IA_CPU_ISA asks for kernels this CPU cannot run.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu-impl.h"
#include "backend/cpu/qmatmul-impl.h"
#include "core/core-impl.h"
#include "hw/hw-impl.h"
#include "tensor/dtype.h"
#include "test.h"

static const ia_dtype types[] = {IA_DTYPE_F32,  IA_DTYPE_F16,  IA_DTYPE_BF16,
                                 IA_DTYPE_Q8_0, IA_DTYPE_Q4_0, IA_DTYPE_Q4_1,
                                 IA_DTYPE_Q4_K, IA_DTYPE_Q5_K, IA_DTYPE_Q6_K};
enum { NTYPES = sizeof types / sizeof types[0] };
static const double U = 1.0 / 16777216; /* f32 unit roundoff */

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}
static float frand(void) /* uniform in [-1, 1) */
{
    return (float)((next() >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}
static float grand(void) /* roughly normal, heavier tails than uniform */
{
    return (frand() + frand() + frand()) * (next() % 16 ? 1.0f : 4.0f);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* Random bytes for a block type's row, with its f16 scales made finite
 * and small (any finite code would do; small keeps sums readable). */
static void random_blocks(ia_dtype t, uint8_t *w, size_t bytes)
{
    const ia_dtype_traits *tr = ia__dtype(t);
    for (size_t i = 0; i < bytes; i++)
        w[i] = (uint8_t)next();
    int off[2] = {-1, -1}; /* byte offsets of the halves in a block */
    switch (t) {
    case IA_DTYPE_Q8_0:
    case IA_DTYPE_Q4_0:
        off[0] = 0;
        break;
    case IA_DTYPE_Q4_1:
    case IA_DTYPE_Q4_K:
    case IA_DTYPE_Q5_K:
        off[0] = 0, off[1] = 2;
        break;
    case IA_DTYPE_Q6_K:
        off[0] = 208;
        break;
    default:
        return;
    }
    for (size_t b = 0; b < bytes / tr->block_bytes; b++)
        for (int i = 0; i < 2; i++)
            if (off[i] >= 0) {
                uint16_t h = ia__f32_to_f16(0.01f * frand());
                memcpy(w + b * tr->block_bytes + off[i], &h, 2);
            }
}

/* The magnitude a block's min term can reach (0 for types without one). */
static double min_term(ia_dtype t, const uint8_t *block)
{
    uint16_t h;
    switch (t) {
    case IA_DTYPE_Q4_0: /* the AVX2 kernel takes the offset of 8 apart */
        memcpy(&h, block, 2);
        return 8 * fabs(ia__f16_to_f32(h));
    case IA_DTYPE_Q4_1:
        memcpy(&h, block + 2, 2);
        return fabs(ia__f16_to_f32(h));
    case IA_DTYPE_Q4_K:
    case IA_DTYPE_Q5_K:
        memcpy(&h, block + 2, 2);
        return 63 * fabs(ia__f16_to_f32(h));
    default:
        return 0;
    }
}

typedef struct worst {
    double rel;     /* max over output rows of ||y - ref|| / ||ref|| (N >= 17) */
    double frac;    /* max |y - ref| / bound */
    double frac_q;  /* max |y - ref_q| / f32 bound */
    long outputs;
} worst;
static worst worst_of[NTYPES];

/* One case: t, shape, weights real (quantized rows) or random bytes. */
/* x8: W's rows interleaved in groups of 8 (q4_0 and q4_1, N a multiple of
 * 8), through ia__cpu_qmatmul_x8, to the same bounds. */
static void run_case(int ti, int64_t N, int64_t K, int64_t M, bool random_bytes, bool with_bias, bool x8)
{
    const ia_dtype t = types[ti];
    const ia_dtype_traits *tr = ia__dtype(t);
    const ia__qmm_kernels *kt = ia__qmm_kernels_get();
    const ia__qmm_act act = ia__qmm_act_of(t);
    const size_t wrow = ia__dtype_row_bytes(t, K);
    uint8_t *W = xmalloc(wrow * (size_t)N);
    float *wf = xmalloc(sizeof(float) * (size_t)(N * K));
    float *x = xmalloc(sizeof(float) * (size_t)(M * K));
    float *xq = xmalloc(sizeof(float) * (size_t)(M * K)); /* x~, as the kernel saw it */
    float *bias = xmalloc(sizeof(float) * (size_t)N);
    float *y1 = xmalloc(sizeof(float) * (size_t)(M * N)), *y3 = xmalloc(sizeof(float) * (size_t)(M * N));

    /* weights: rows of different scales; row 1 all zero where there is one */
    for (int64_t j = 0; j < N; j++) {
        const float scale = j == 1 ? 0.0f : 0.05f * (1 + (float)(j % 5));
        for (int64_t k = 0; k < K; k++)
            wf[j * K + k] = scale * grand();
    }
    if (random_bytes && tr->quantized)
        random_blocks(t, W, wrow * (size_t)N);
    else
        tr->from_f32(wf, W, N * K);
    tr->to_f32(W, wf, N * K); /* the reference weights */
    /* activations: rows of magnitudes 1e-3 .. 1e3, one block of zeros */
    for (int64_t r = 0; r < M; r++) {
        const float scale = powf(10.0f, (float)(r % 7) - 3);
        for (int64_t k = 0; k < K; k++)
            x[r * K + k] = scale * grand();
    }
    if (M > 1 && K >= 64)
        memset(x + K + 32, 0, 32 * sizeof(float));
    for (int64_t j = 0; j < N; j++)
        bias[j] = frand();

    /* the activations the kernel quantizes to, and their blocks' d */
    const int ablk = act == IA_QMM_ACT_Q8 ? IA_QK : act == IA_QMM_ACT_Q8K ? IA_QK_K : 1;
    double *dblk = xmalloc(sizeof(double) * (size_t)(M * (K / ablk)));
    for (int64_t r = 0; r < M; r++) {
        const float *xr = x + r * K;
        if (act == IA_QMM_ACT_Q8) {
            ia__qmm_q8 *q = xmalloc(sizeof *q * (size_t)(K / IA_QK));
            kt->quantize_q8(xr, q, K);
            for (int64_t k = 0; k < K; k++)
                xq[r * K + k] = q[k / IA_QK].d * q[k / IA_QK].qs[k % IA_QK];
            for (int64_t b = 0; b < K / IA_QK; b++) {
                int s = 0;
                for (int j = 0; j < IA_QK; j++)
                    s += q[b].qs[j];
                CHECK_MSG(q[b].s == q[b].d * (float)s, "q8 block sum");
                dblk[r * (K / IA_QK) + b] = q[b].d;
            }
            free(q);
        } else if (act == IA_QMM_ACT_Q8K) {
            ia__qmm_q8K *q = xmalloc(sizeof *q * (size_t)(K / IA_QK_K));
            kt->quantize_q8K(xr, q, K);
            for (int64_t k = 0; k < K; k++)
                xq[r * K + k] = q[k / IA_QK_K].d * q[k / IA_QK_K].qs[k % IA_QK_K];
            for (int64_t b = 0; b < K / IA_QK_K; b++) {
                for (int i = 0; i < 16; i++) {
                    int s = 0;
                    for (int j = 0; j < 16; j++)
                        s += q[b].qs[16 * i + j];
                    CHECK_MSG(q[b].bsums[i] == s, "q8_K bsums");
                }
                dblk[r * (K / IA_QK_K) + b] = q[b].d;
            }
            free(q);
        } else {
            memcpy(xq + r * K, xr, sizeof(float) * (size_t)K);
        }
        /* the a priori bound on the rounding holds for every activation */
        for (int64_t k = 0; act != IA_QMM_ACT_F32 && k < K; k++) {
            const double d = dblk[r * (K / ablk) + k / ablk];
            CHECK_MSG(fabs((double)xr[k] - xq[r * K + k]) <= 0.5001 * d, "%s: x[%lld] %g -> %g (d %g)",
                      tr->name, (long long)k, xr[k], xq[r * K + k], d);
        }
    }

    const float *b = with_bias ? bias : NULL;
    void *scratch = NULL;
    const size_t sbytes = ia__cpu_qmatmul_scratch(t, K, M);
    CHECK(act == IA_QMM_ACT_F32 ? sbytes == 0 : sbytes > 0);
    if (sbytes && with_bias) /* caller scratch on half the cases */
        scratch = aligned_alloc(64, (sbytes + 63) & ~(size_t)63);
    uint8_t *W8 = NULL;
    if (x8) {
        W8 = xmalloc(wrow * (size_t)N);
        memcpy(W8, W, wrow * (size_t)N);
        CHECK(ia__dtype_interleave8(t, W8, N, K));
        CHECK_OK(ia__cpu_qmatmul_x8(W8, t, N, K, x, M, b, y1, 1, scratch));
        CHECK_OK(ia__cpu_qmatmul_x8(W8, t, N, K, x, M, b, y3, 3, NULL));
    } else {
        CHECK_OK(ia__cpu_qmatmul(W, t, N, K, x, M, b, y1, 1, scratch));
        CHECK_OK(ia__cpu_qmatmul(W, t, N, K, x, M, b, y3, 3, NULL));
    }
    CHECK_MSG(!memcmp(y1, y3, sizeof(float) * (size_t)(M * N)), "%s: 1 and 3 threads differ", tr->name);
    free(scratch);
    free(W8);

    worst *wo = &worst_of[ti];
    const int64_t wblk = tr->block;
    for (int64_t r = 0; r < M; r++) {
        double row_err2 = 0, row_ref2 = 0;
        for (int64_t j = 0; j < N; j++) {
            const float *wj = wf + j * K;
            const float *xr = x + r * K, *xqr = xq + r * K;
            double ref = b ? b[j] : 0, refq = ref, eact = 0, slack = 0, mag = 0;
            for (int64_t k = 0; k < K; k++) {
                ref += (double)xr[k] * wj[k];
                refq += (double)xqr[k] * wj[k];
                mag += fabs((double)xqr[k] * wj[k]);
            }
            if (act == IA_QMM_ACT_F32) {
                slack = (double)(K + 16) * U * mag;
            } else {
                for (int64_t k0 = 0; k0 < K; k0 += wblk) {
                    double m = 0, sx = 0, sw = 0;
                    for (int64_t k = k0; k < k0 + wblk; k++) {
                        m = fmax(m, fabs(wj[k]));
                        sx += fabs(xqr[k]);
                    }
                    m += min_term(t, W + (size_t)j * wrow + (size_t)(k0 / wblk) * tr->block_bytes);
                    slack += sx * m;
                    for (int64_t k = k0; k < k0 + wblk; k++)
                        sw += fabs(wj[k]) * 0.5001 * dblk[r * (K / ablk) + k / ablk];
                    eact += sw;
                }
                slack *= (double)(K / wblk + 16) * U;
            }
            slack += 2 * U * fabs(ref);
            const double got = y1[r * N + j];
            const double err = fabs(got - ref), errq = fabs(got - refq);
            const double bound = eact + slack;
            CHECK_MSG(errq <= slack, "%s%s N=%lld K=%lld M=%lld %s: y[%lld][%lld] = %.9g, x~ reference %.9g (f32 bound %.3g)",
                      tr->name, x8 ? " x8" : "", (long long)N, (long long)K, (long long)M, random_bytes ? "random bytes" : "quantized",
                      (long long)r, (long long)j, got, refq, slack);
            CHECK_MSG(err <= bound, "%s N=%lld K=%lld M=%lld: y[%lld][%lld] = %.9g, reference %.9g (bound %.3g)",
                      tr->name, (long long)N, (long long)K, (long long)M, (long long)r, (long long)j, got, ref, bound);
            if (bound > 0)
                wo->frac = fmax(wo->frac, err / bound);
            if (slack > 0)
                wo->frac_q = fmax(wo->frac_q, errq / slack);
            row_err2 += err * err;
            row_ref2 += ref * ref;
            wo->outputs++;
        }
        if (N >= 17 && row_ref2 > 0)
            wo->rel = fmax(wo->rel, sqrt(row_err2 / row_ref2));
    }
    free(W), free(wf), free(x), free(xq), free(bias), free(y1), free(y3), free(dblk);
}

/* Both tables, where this CPU runs both: the same quantized bytes, and dot
 * products within f32 rounding of each other. */
static void check_tables_agree(void)
{
    const ia__qmm_kernels *a = &ia__qmm_kernels_portable, *v = &ia__qmm_kernels_avx2;
    enum { K = 768 };
    static float x[K];
    for (int k = 0; k < K; k++)
        x[k] = (k % 97 == 0 ? 100.0f : 1.0f) * grand();
    static ia__qmm_q8 qa[K / IA_QK], qv[K / IA_QK];
    static ia__qmm_q8K ka[K / IA_QK_K], kv[K / IA_QK_K];
    a->quantize_q8(x, qa, K), v->quantize_q8(x, qv, K);
    a->quantize_q8K(x, ka, K), v->quantize_q8K(x, kv, K);
    CHECK_MSG(!memcmp(qa, qv, sizeof qa), "q8 quantizers differ");
    for (int i = 0; i < 200; i++) { /* the AVX2 q8 quantizer is its own code: more blocks, scales 2^-20 .. 2^20, */
        static float y[K];              /* block counts not a multiple of its 8 */
        static ia__qmm_q8 ya[K / IA_QK], yv[K / IA_QK];
        const float sc = ldexpf(1.0f, i % 41 - 20);
        const int64_t Ki = K - IA_QK * (i % 8);
        for (int k = 0; k < K; k++)
            y[k] = sc * grand();
        memset(ya, 0, sizeof ya), memset(yv, 0, sizeof yv);
        a->quantize_q8(y, ya, Ki), v->quantize_q8(y, yv, Ki);
        CHECK_MSG(!memcmp(ya, yv, sizeof ya), "q8 quantizers differ (scale %g)", sc);
    }
    CHECK_MSG(!memcmp(ka, kv, sizeof ka), "q8_K quantizers differ");
    /* non-finite and tiny blocks */
    float z[IA_QK_K] = {0};
    z[3] = NAN;
    a->quantize_q8K(z, ka, IA_QK_K);
    CHECK(isnan(ka[0].d));
    z[3] = 1e-35f;
    a->quantize_q8(z, qa, IA_QK);
    CHECK(qa[0].d == 0 && qa[0].s == 0);
    z[3] = -INFINITY;
    v->quantize_q8(z, qv, IA_QK);
    CHECK(isnan(qv[0].d));
    z[3] = -127.0f;
    v->quantize_q8(z, qv, IA_QK);
    CHECK(qv[0].d == 1.0f && qv[0].qs[3] == -127 && qv[0].s == -127.0f);
    z[5] = 2.5f, z[6] = -3.5f, z[7] = 0.5f, z[31] = 126.5f; /* ties go to even */
    a->quantize_q8(z, qa, IA_QK), v->quantize_q8(z, qv, IA_QK);
    CHECK(!memcmp(qa, qv, sizeof qa[0]) && qv[0].qs[5] == 2 && qv[0].qs[6] == -4 && qv[0].qs[7] == 0 &&
          qv[0].qs[31] == 126);

    /* 1 to IA_QMM_NR activation rows per kernel call */
    enum { R = IA_QMM_NR };
    static float xr[R * K];
    for (int k = 0; k < R * K; k++)
        xr[k] = grand();
    static ia__qmm_q8 qx[R][K / IA_QK];
    static ia__qmm_q8K kx[R][K / IA_QK_K];
    for (int r = 0; r < R; r++)
        a->quantize_q8(xr + r * K, qx[r], K), a->quantize_q8K(xr + r * K, kx[r], K);
    for (int ti = 0; ti < NTYPES; ti++) {
        const ia_dtype t = types[ti];
        const ia__qmm_act act = ia__qmm_act_of(t);
        const size_t wrow = ia__dtype_row_bytes(t, K);
        uint8_t *w = xmalloc(wrow);
        random_blocks(t, w, wrow);
        if (!ia__dtype(t)->quantized) {
            float wf[K];
            for (int k = 0; k < K; k++)
                wf[k] = grand();
            ia__dtype(t)->from_f32(wf, w, K);
        }
        const void *xa = act == IA_QMM_ACT_Q8 ? (const void *)qx : act == IA_QMM_ACT_Q8K ? (const void *)kx : xr;
        const size_t xs = act == IA_QMM_ACT_Q8 ? sizeof qx[0] : act == IA_QMM_ACT_Q8K ? sizeof kx[0] : K * sizeof(float);
        for (int nr = 1; nr <= R; nr++) {
            float sa[R], sv[R];
            a->dot[t](K, w, xa, xs, nr, sa);
            v->dot[t](K, w, xa, xs, nr, sv);
            for (int r = 0; r < nr; r++) {
                float s1;
                a->dot[t](K, w, (const char *)xa + (size_t)r * xs, xs, 1, &s1);
                CHECK_MSG(sa[r] == s1, "%s: portable kernel's rows differ", ia__dtype_name(t));
                CHECK_MSG(fabsf(sa[r] - sv[r]) <= 1e-4f * (fabsf(sa[r]) + 1), "%s nr=%d [%d]: portable %.9g, avx2 %.9g",
                          ia__dtype_name(t), nr, r, sa[r], sv[r]);
            }
        }
        free(w);
    }

    /* interleaved rows: both tables' 8 rows against the plain rows; each
     * row read back as it was */
    for (int q = 0; q < 3; q++) {
        const ia_dtype t = q == 2 ? IA_DTYPE_Q8_0 : q ? IA_DTYPE_Q4_1 : IA_DTYPE_Q4_0;
        const size_t wrow = ia__dtype_row_bytes(t, K);
        uint8_t *w = xmalloc(8 * wrow), *w8 = xmalloc(8 * wrow);
        random_blocks(t, w, 8 * wrow);
        memcpy(w8, w, 8 * wrow);
        CHECK(ia__dtype_interleave8(t, w8, 8, K));
        for (int nr = 1; nr <= R; nr++) {
            float sa[8 * R], sv[8 * R];
            (q == 2 ? a->dot8_q8_0 : q ? a->dot8_q4_1 : a->dot8_q4_0)(K, w8, qx, sizeof qx[0], nr, sa);
            (q == 2 ? v->dot8_q8_0 : q ? v->dot8_q4_1 : v->dot8_q4_0)(K, w8, qx, sizeof qx[0], nr, sv);
            for (int i = 0; i < 8; i++) {
                float plain[R];
                a->dot[t](K, w + (size_t)i * wrow, qx, sizeof qx[0], nr, plain);
                for (int r = 0; r < nr; r++) {
                    const float p = plain[r], tol = 1e-4f * (fabsf(p) + 1);
                    CHECK_MSG(fabsf(sa[8 * r + i] - p) <= tol && fabsf(sv[8 * r + i] - p) <= tol,
                              "%s x8 row %d, x %d: portable %.9g, avx2 %.9g, plain %.9g", ia__dtype_name(t), i, r,
                              sa[8 * r + i], sv[8 * r + i], p);
                }
            }
        }
        for (int i = 0; i < 8; i++) {
            float back[K], plain[K];
            ia__dtype_interleaved8_row(t, w8, K, i, back);
            ia__dtype(t)->to_f32(w + (size_t)i * wrow, plain, K);
            CHECK_MSG(!memcmp(back, plain, sizeof back), "%s: interleaved row %d reads back otherwise", ia__dtype_name(t), i);
        }
        free(w), free(w8);
    }
}

/* Where the backend runs at AVX-512: its tiles and VNNI kernels give the
 * AVX2 kernels' bits, for every tile shape, odd K (vector tails) and both
 * group counts, random weight bytes (q8_0's -128 included). */
static void check_avx512_same_bits(const ia__qmm_kernels *kt)
{
    const ia__qmm_kernels *v = &ia__qmm_kernels_avx2;
    enum { K = 800, R = IA_QMM_NR_X8, TW = IA_QMM_TW };
    static float xr[R * K];
    static ia__qmm_q8 qx[R][K / IA_QK];
    _Static_assert((int)R >= (int)IA_QMM_TR && (int)R >= (int)IA_QMM_NR, "enough rows for every kernel");
    for (int k = 0; k < R * K; k++)
        xr[k] = (k % 89 == 0 ? 50.0f : 1.0f) * grand();
    for (int r = 0; r < R; r++)
        v->quantize_q8(xr + r * K, qx[r], K);
    long compared = 0;
    for (int ti = 0; ti < 3; ti++) { /* f32, f16, bf16 */
        const ia_dtype t = types[ti];
        CHECK_MSG(kt->tile[t], "%s: no AVX-512 tile", ia__dtype_name(t));
        if (!kt->tile[t])
            continue;
        for (int64_t Kt = K - 27; Kt <= K; Kt += 27) { /* 773: tails of 8 and 5; 800: none */
            const size_t wrow = ia__dtype_row_bytes(t, Kt);
            float wf[TW * K];
            for (int k = 0; k < TW * Kt; k++)
                wf[k] = grand();
            uint8_t *w = xmalloc(TW * wrow);
            ia__dtype(t)->from_f32(wf, w, TW * Kt);
            for (int nw = 1; nw <= TW; nw++)
                for (int nr = 1; nr <= IA_QMM_TR; nr++) {
                    float st[TW * R], sv[R];
                    kt->tile[t](Kt, w, wrow, nw, xr, K * sizeof(float), nr, st);
                    for (int i = 0; i < nw; i++) {
                        for (int r0 = 0; r0 < nr; r0 += IA_QMM_NR) /* the dot kernel takes 4 rows */
                            v->dot[t](Kt, w + i * wrow, xr + r0 * K, K * sizeof(float), IA_MIN(IA_QMM_NR, nr - r0), sv + r0);
                        for (int r = 0; r < nr; r++, compared++)
                            CHECK_MSG(!memcmp(&st[TW * r + i], &sv[r], 4), "%s tile %dx%d K=%lld [%d][%d]: %.9g, avx2 %.9g",
                                      ia__dtype_name(t), nw, nr, (long long)Kt, r, i, st[TW * r + i], sv[r]);
                    }
                }
            free(w);
        }
    }
    if (!ia__cpu_has_vnni()) {
        printf("test_qmatmul: %s kernels give the avx2 kernels' bits (%ld outputs); no VNNI here: its kernels "
               "not checked\n", kt->name, compared);
        return;
    }
    for (int q = 0; q < 3; q++) {
        const ia_dtype t = q == 2 ? IA_DTYPE_Q8_0 : q ? IA_DTYPE_Q4_1 : IA_DTYPE_Q4_0;
        const size_t wrow = ia__dtype_row_bytes(t, K);
        uint8_t *w = xmalloc(16 * wrow);
        random_blocks(t, w, 16 * wrow);
        CHECK(ia__dtype_interleave8(t, w, 16, K));
        const ia__qmm_dot8_fn d8 = q == 2 ? kt->dot8_q8_0 : q ? kt->dot8_q4_1 : kt->dot8_q4_0;
        const ia__qmm_dot8_fn v8 = q == 2 ? v->dot8_q8_0 : q ? v->dot8_q4_1 : v->dot8_q4_0;
        const ia__qmm_dot16_fn d16 = q == 2 ? kt->dot16_q8_0 : q ? kt->dot16_q4_1 : kt->dot16_q4_0;
        CHECK_MSG(d8 != v8 && d16, "%s: no VNNI kernels", ia__dtype_name(t));
        CHECK(kt->x8_rows == R);
        for (int nr = 1; nr <= kt->x8_rows && d16; nr++) {
            float s16[16 * R], s8[8 * R], sv[8 * R];
            d16(K, w, 8 * wrow, qx, sizeof qx[0], nr, s16);
            for (int g = 0; g < 2; g++) {
                d8(K, w + g * 8 * wrow, qx, sizeof qx[0], nr, s8);
                for (int r = 0; r < nr; r++) /* the AVX2 kernel takes fewer rows a call */
                    v8(K, w + g * 8 * wrow, qx[r], sizeof qx[0], 1, sv + 8 * r);
                for (int r = 0; r < nr; r++)
                    for (int i = 0; i < 8; i++, compared++) {
                        CHECK_MSG(!memcmp(&s8[8 * r + i], &sv[8 * r + i], 4), "%s VNNI dot8 nr=%d [%d][%d]: %.9g, avx2 %.9g",
                                  ia__dtype_name(t), nr, r, i, s8[8 * r + i], sv[8 * r + i]);
                        CHECK_MSG(!memcmp(&s16[8 * (2 * r + g) + i], &sv[8 * r + i], 4),
                                  "%s VNNI dot16 nr=%d group %d [%d][%d]: %.9g, avx2 %.9g", ia__dtype_name(t), nr, g,
                                  r, i, s16[8 * (2 * r + g) + i], sv[8 * r + i]);
                    }
            }
        }
        free(w);
    }
    printf("test_qmatmul: %s kernels give the avx2 kernels' bits (%ld outputs)\n", kt->name, compared);
}

static void check_errors(void)
{
    {
        enum { K = 64, N = 8 };
        uint8_t w8[N * 2 * 34] __attribute__((aligned(16))) = {0};
        float x8[K] = {0}, y8[N];
        CHECK(ia__cpu_qmatmul_x8(w8, IA_DTYPE_Q4_K, N, 256, x8, 1, NULL, y8, 1, NULL) == IA_ERR_INVALID);
        CHECK(ia__cpu_qmatmul_x8(w8, IA_DTYPE_Q4_1, 4, K, x8, 1, NULL, y8, 1, NULL) == IA_ERR_INVALID);
        CHECK(!ia__dtype_interleave8(IA_DTYPE_F16, w8, N, K) && !ia__dtype_interleave8(IA_DTYPE_Q4_0, w8, 4, K));
    }
    enum { K = 64, N = 3, M = 2 };
    uint8_t w[N * 2 * 34] __attribute__((aligned(16))) = {0};
    float x[M * K] = {0}, y[M * N + 1];
    CHECK(ia__cpu_qmatmul(NULL, IA_DTYPE_Q8_0, N, K, x, M, NULL, y, 1, NULL) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "W is NULL");
    CHECK(ia__cpu_qmatmul(w, IA_DTYPE_Q8_0, N, K, NULL, M, NULL, y, 1, NULL) == IA_ERR_INVALID);
    CHECK(ia__cpu_qmatmul(w, IA_DTYPE_Q8_0, N, K, x, M, NULL, NULL, 1, NULL) == IA_ERR_INVALID);
    CHECK(ia__cpu_qmatmul(w, IA_DTYPE_Q8_0, N, 48, x, M, NULL, y, 1, NULL) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "multiple of q8_0's block of 32");
    CHECK(ia__cpu_qmatmul(w, IA_DTYPE_Q4_K, N, K, x, M, NULL, y, 1, NULL) == IA_ERR_INVALID);
    CHECK(ia__cpu_qmatmul(w, IA_DTYPE_Q8_0, -1, K, x, M, NULL, y, 1, NULL) == IA_ERR_INVALID);
    CHECK(ia__cpu_qmatmul(w, IA_DTYPE_Q8_0, N, 0, x, M, NULL, y, 1, NULL) == IA_ERR_INVALID);
    CHECK(ia__cpu_qmatmul(w, IA_DTYPE_I32, N, K, x, M, NULL, y, 1, NULL) == IA_ERR_UNSUPPORTED);
    CHECK(ia__cpu_qmatmul(w, IA_DTYPE_COUNT, N, K, x, M, NULL, y, 1, NULL) == IA_ERR_INVALID);
    CHECK(ia__cpu_qmatmul(w + 1, IA_DTYPE_Q8_0, N, K, x, M, NULL, y, 1, NULL) == IA_ERR_INVALID);
    CHECK(ia__cpu_qmatmul(w + 2, IA_DTYPE_F32, N, K, x, M, NULL, y, 1, NULL) == IA_ERR_INVALID);
    CHECK(ia__cpu_qmatmul(w, IA_DTYPE_Q8_0, N, K, x, M, NULL, (float *)((char *)y + 1), 1, NULL) == IA_ERR_INVALID);
    CHECK(ia__cpu_qmatmul_scratch(IA_DTYPE_Q8_0, 48, M) == 0);
    CHECK(ia__cpu_qmatmul_scratch(IA_DTYPE_I8, K, M) == 0);
    CHECK(ia__cpu_qmatmul_scratch(IA_DTYPE_Q8_0, K, M) == M * 2 * sizeof(ia__qmm_q8));
    /* nothing to do */
    y[0] = 42;
    CHECK_OK(ia__cpu_qmatmul(w, IA_DTYPE_Q8_0, N, K, x, 0, NULL, y, 1, NULL));
    CHECK_OK(ia__cpu_qmatmul(w, IA_DTYPE_Q8_0, 0, K, x, M, NULL, y, 1, NULL));
    CHECK(y[0] == 42);
    /* the scratch allocation fails: an error, y untouched */
    ia__alloc_fail_after(1);
    CHECK(ia__cpu_qmatmul(w, IA_DTYPE_Q8_0, N, K, x, M, NULL, y, 2, NULL) == IA_ERR_NOMEM);
    ia__alloc_fail_after(0);
    CHECK(y[0] == 42);
    /* caller scratch: no allocation at all */
    _Alignas(16) uint8_t scratch[M * 2 * sizeof(ia__qmm_q8)];
    ia__alloc_fail_after(1);
    CHECK_OK(ia__cpu_qmatmul(w, IA_DTYPE_Q8_0, N, K, x, M, NULL, y, 2, scratch));
    CHECK(ia__alloc_fail_pending() == 1);
    ia__alloc_fail_after(0);
    /* f32 weights need none either */
    float wf[N * K] = {0};
    ia__alloc_fail_after(1);
    CHECK_OK(ia__cpu_qmatmul(wf, IA_DTYPE_F32, N, K, x, M, NULL, y, 2, NULL));
    ia__alloc_fail_after(0);
    /* a NaN activation reaches every output of its row, and only those */
    for (int i = 0; i < N * 34 * 2; i += 34)
        w[i + 1] = 0x3c; /* d = 1.0 */
    x[K + 7] = NAN;
    CHECK_OK(ia__cpu_qmatmul(w, IA_DTYPE_Q8_0, N, K, x, M, NULL, y, 1, NULL));
    for (int j = 0; j < N; j++)
        CHECK(y[j] == 0 && isnan(y[N + j]));
}

/* Batch invariance: each output row is the same bits whether its
 * activation row came alone or among others (every split of the rows into
 * kernel calls of 1..IA_QMM_NR, or x8_rows), for every dtype. A decoder's logits then
 * do not depend on the batch a token was evaluated in. */
static void check_batch_invariance(void)
{
    enum { K = 768, N = 19, M = 80 }; /* M: past a tile block of rows (qmatmul.c) */
    for (int ti = 0; ti < NTYPES; ti++) {
        const ia_dtype t = types[ti];
        const size_t wrow = ia__dtype_row_bytes(t, K);
        uint8_t *W = xmalloc(wrow * N);
        float *wf = xmalloc(sizeof(float) * K * N), *x = xmalloc(sizeof(float) * K * M);
        float *all = xmalloc(sizeof(float) * M * N), *one = xmalloc(sizeof(float) * N);
        for (int i = 0; i < K * N; i++)
            wf[i] = 0.1f * grand();
        for (int i = 0; i < K * M; i++)
            x[i] = (i % 97 == 0 ? 30.0f : 1.0f) * grand();
        ia__dtype(t)->from_f32(wf, W, (int64_t)K * N);
        CHECK_OK(ia__cpu_qmatmul(W, t, N, K, x, M, NULL, all, 2, NULL));
        bool same = true;
        for (int r = 0; r < M; r++) {
            CHECK_OK(ia__cpu_qmatmul(W, t, N, K, x + (size_t)r * K, 1, NULL, one, 1, NULL));
            same = same && !memcmp(one, all + (size_t)r * N, sizeof(float) * N);
        }
        CHECK_MSG(same, "%s: a row computed alone differs from the same row in a batch of %d", ia__dtype_name(t), M);
        if (ia__dtype_interleavable(t)) { /* interleaved: 16 of the rows */
            CHECK(ia__dtype_interleave8(t, W, 16, K));
            CHECK_OK(ia__cpu_qmatmul_x8(W, t, 16, K, x, M, NULL, all, 2, NULL));
            same = true;
            for (int r = 0; r < M; r++) {
                CHECK_OK(ia__cpu_qmatmul_x8(W, t, 16, K, x + (size_t)r * K, 1, NULL, one, 1, NULL));
                same = same && !memcmp(one, all + (size_t)r * 16, sizeof(float) * 16);
            }
            CHECK_MSG(same, "%s x8: a row alone differs from the same row in a batch", ia__dtype_name(t));
        }
        free(W), free(wf), free(x), free(all), free(one);
    }
}

int main(void)
{
    const ia__qmm_kernels *kt = ia__qmm_kernels_get();
    const char *want = getenv("IA_CPU_ISA");
    ia_cpu_info ci = {0}; /* the product's own cpuid reading (clang 14 has no "f16c" builtin) */
    ia__cpu_features(&ci);
    const ia_cpu_feature *f;
#define HAS(name) ((f = ia__cpu_feature(&ci, name)) && f->usable)
    const bool cpu_avx2 = HAS("avx2") && HAS("fma") && HAS("f16c");
#undef HAS
    if (want && *want && strcmp(want, "portable") && !cpu_avx2) {
        printf("test_qmatmul: IA_CPU_ISA=%s but this CPU lacks AVX2/FMA/F16C: skipped\n", want);
        return 77;
    }
    if (want && !strcmp(want, "avx512") && ia__cpu_isa_level() < IA_CPU_ISA_AVX512) {
        printf("test_qmatmul: IA_CPU_ISA=avx512 but this CPU lacks AVX-512: skipped\n");
        return 77;
    }
    /* the backend's level picks the table (its detection has its own
     * tests in tests/cpu) */
    const char *expect = ia__cpu_isa_level() >= IA_CPU_ISA_AVX512 ? (ia__cpu_has_vnni() ? "avx512-vnni" : "avx512")
                       : ia__cpu_isa_level() >= IA_CPU_ISA_AVX2 ? "avx2"
                                                                : "portable";
    CHECK_MSG(!strcmp(kt->name, expect), "kernels %s at ISA level %s", kt->name, ia__cpu_isa_name());
    if (want && !strcmp(want, "portable"))
        CHECK_MSG(!strcmp(kt->name, "portable"), "IA_CPU_ISA=portable, kernels %s", kt->name);
    printf("test_qmatmul: %s kernels (backend ISA %s)\n", kt->name, ia__cpu_isa_name());

    if (cpu_avx2)
        check_tables_agree();
    if (ia__cpu_isa_level() >= IA_CPU_ISA_AVX512)
        check_avx512_same_bits(kt);
    check_errors();
    check_batch_invariance();

    static const int64_t Ns[] = {1, 3, 17, 64}, Ms[] = {1, 2, 5, 33};
    for (int ti = 0; ti < NTYPES; ti++) {
        const ia_dtype t = types[ti];
        const int blk = ia__dtype(t)->block;
        /* one block and an odd number of blocks; the plain types get odd
         * K too (vector tails) */
        const int64_t Ks_q32[] = {32, 160}, Ks_qk[] = {256, 768}, Ks_f[] = {32, 77, 288};
        const int64_t *Ks = blk == IA_QK ? Ks_q32 : blk == IA_QK_K ? Ks_qk : Ks_f;
        const int nK = blk == 1 ? 3 : 2;
        for (int ki = 0; ki < nK; ki++)
            for (size_t ni = 0; ni < 4; ni++)
                for (size_t mi = 0; mi < 4; mi++) {
                    const bool bias = (ni + mi) % 2 == 0;
                    run_case(ti, Ns[ni], Ks[ki], Ms[mi], false, bias, false);
                    if (ia__dtype(t)->quantized)
                        run_case(ti, Ns[ni], Ks[ki], Ms[mi], true, !bias, false);
                    if (ia__dtype_interleavable(t) && ni >= 2) { /* interleaved: N = 8, 64 */
                        run_case(ti, ni == 2 ? 8 : 64, Ks[ki], Ms[mi], false, bias, true);
                        run_case(ti, ni == 2 ? 8 : 64, Ks[ki], Ms[mi], true, !bias, true);
                    }
                }
    }
    printf("%-6s %9s %14s %12s %12s\n", "dtype", "outputs", "row rel err", "err/bound", "err/f32bnd");
    for (int ti = 0; ti < NTYPES; ti++)
        printf("%-6s %9ld %14.3e %12.4f %12.4f\n", ia__dtype_name(types[ti]), worst_of[ti].outputs,
               worst_of[ti].rel, worst_of[ti].frac, worst_of[ti].frac_q);
    return test_summary("test_qmatmul");
}
