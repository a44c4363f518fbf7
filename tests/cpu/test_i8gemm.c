/*
 * The int8 linear layers' VNNI GEMM (i8gemm-avx512.c) against double:
 * u8 rows times s8 weights with every epilogue (store, GELU, ReLU, a rarer
 * activation, added into the output), at shapes with partial tiles of
 * rows, partial panels of outputs and k not a multiple of 4, whole and
 * split into ranges of panels. Exit 77 (skipped) without AVX512-VNNI.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu-impl.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}
static float frand(void) { return (float)(next() >> 8) / (float)(1u << 24) * 2.0f - 1.0f; }

static double act(ia_act a, double v)
{
    switch (a) {
    case IA_ACT_GELU: return 0.5 * v * (1 + erf(v / sqrt(2.0)));
    case IA_ACT_RELU: return v > 0 ? v : 0;
    case IA_ACT_SILU: return v / (1 + exp(-v));
    default: return v;
    }
}

/* One shape and epilogue; split: the panels in two calls. Returns the
 * largest error relative to the output's scale. */
static double check(int m, int n, int k, ia_act a, bool add, bool bias, bool split)
{
    const size_t lda = (size_t)k + (k % 3 == 1 ? 5 : 0); /* rows apart by more than k, sometimes */
    uint8_t *x = malloc(m * lda + 4);
    int8_t *w = malloc((size_t)n * k), *wp = malloc(ia__i8_packed_bytes(n, k));
    float *rs = malloc(m * sizeof(float)), *rz = malloc(m * sizeof(float)), *sw = malloc(n * sizeof(float)),
          *ws = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float)), *y = malloc((size_t)m * n * sizeof(float)),
          *y0 = malloc((size_t)m * n * sizeof(float));
    for (size_t i = 0; i < m * lda + 4; i++)
        x[i] = (uint8_t)next();
    for (size_t i = 0; i < (size_t)n * k; i++)
        w[i] = (int8_t)(next() % 255 - 127);
    for (int r = 0; r < m; r++)
        rs[r] = 0.01f * (1 + frand()), rz[r] = frand();
    for (int j = 0; j < n; j++)
        sw[j] = 0.001f * (1 + frand()), ws[j] = frand(), b[j] = frand();
    for (size_t i = 0; i < (size_t)m * n; i++)
        y[i] = y0[i] = frand();
    ia__i8_pack(w, n, k, wp);
    const ia__i8_out o = {.rs = rs, .rz = rz, .sw = sw, .ws = ws, .b = bias ? b : NULL, .act = a, .add = add,
                          .y = y, .ldy = (size_t)n};
    const int np = (n + IA_I8_PANEL - 1) / IA_I8_PANEL;
    if (split && np > 1) {
        ia__i8_gemm(m, n, k, x, lda, wp, np / 2, np, &o);
        ia__i8_gemm(m, n, k, x, lda, wp, 0, np / 2, &o);
    } else {
        ia__i8_gemm(m, n, k, x, lda, wp, 0, np, &o);
    }
    double worst = 0;
    for (int r = 0; r < m; r++)
        for (int j = 0; j < n; j++) {
            long dot = 0;
            for (int i = 0; i < k; i++)
                dot += (long)x[r * lda + i] * w[(size_t)j * k + i];
            const double v = (double)rs[r] * sw[j] * (double)dot + (double)rz[r] * ws[j] + (bias ? b[j] : 0);
            const double want = add ? y0[(size_t)r * n + j] + v : act(a, v);
            const double scale = 1 + fabs((double)rs[r] * sw[j] * (double)dot) + fabs(rz[r] * ws[j]);
            worst = fmax(worst, fabs(y[(size_t)r * n + j] - want) / scale);
        }
    free(x), free(w), free(wp), free(rs), free(rz), free(sw), free(ws), free(b), free(y), free(y0);
    return worst;
}

int main(void)
{
    if (!ia__cpu_has_vnni()) {
        printf("SKIP: no AVX512-VNNI here (or IA_CPU_ISA below avx512)\n");
        return 77;
    }
    static const int shapes[][3] = {{1, 1, 1}, {5, 17, 3}, {6, 64, 4}, {7, 65, 9},  {12, 128, 384},
                                    {13, 130, 383}, {64, 384, 1536}, {3, 1536, 384}, {64, 200, 64}};
    static const ia_act acts[] = {IA_ACT_NONE, IA_ACT_GELU, IA_ACT_RELU, IA_ACT_SILU};
    double worst = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int e = 0; e < 5; e++) {
            const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            const bool add = e == 4, bias = (s + e) % 3 != 0, split = (s + e) % 2;
            const ia_act a = add ? IA_ACT_NONE : acts[e];
            const double err = check(m, n, k, a, add, bias, split);
            worst = fmax(worst, err);
            CHECK_MSG(err < 2e-6, "%dx%dx%d act %d%s%s%s: error %.3g", m, n, k, (int)a, add ? " add" : "",
                      bias ? " bias" : "", split ? " split" : "", err);
        }
    printf("largest error relative to the output's scale: %.3g\n", worst);
    return test_summary("test_i8gemm");
}
