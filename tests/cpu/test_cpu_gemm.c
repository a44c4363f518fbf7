/*
 * The CPU backend's own GEMMs against double, at shapes with partial tiles
 * of rows, partial panels of outputs and odd k, whole and split into
 * ranges of panels:
 * - the int8 layers' GEMMs, with VNNI (i8gemm-avx512.c), with AVX-VNNI
 *   and with AVX2 (i8gemm-avx2.c; the latter on weights whose pairs of
 *   inputs sum to at most 128 in magnitude, as the backend quantizes them
 *   without either VNNI): u8 rows times s8 weights with every epilogue
 *   (store, GELU, ReLU, a rarer activation, added into the output);
 * - the fp32 layers' AVX2 GEMM (f32gemm-avx2.c).
 *
 *   test_cpu_gemm avx2|avx-vnni|vnni
 *
 * avx2: the fp32 and the int8 AVX2 GEMMs; avx-vnni and vnni: that int8
 * GEMM. Exit 77 (skipped) where the CPU (or IA_CPU_ISA) lacks the
 * instructions (avx-vnni runs with IA_CPU_ISA=avx-vnni).
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

typedef enum { AVX2, AVX_VNNI, VNNI } kernel;
static const char *const kernel_names[] = {"AVX2", "AVX-VNNI", "VNNI"};

/* One shape and epilogue through an int8 kernel; split: the panels in two
 * calls. Returns the largest error relative to the output's scale. */
static double check(kernel kn, int m, int n, int k, ia_act a, bool add, bool bias, bool split)
{
    const int panel = kn == VNNI ? IA_I8_PANEL : IA_I8_PANEL_AVX2;
    void (*const gemm)(int, int, int, const uint8_t *, size_t, const int8_t *, int, int, const ia__i8_out *) =
        kn == VNNI ? ia__i8_gemm : kn == AVX_VNNI ? ia__i8_gemm_avx_vnni : ia__i8_gemm_avx2;
    const size_t lda = (size_t)k + (k % 3 == 1 ? 5 : 0); /* rows apart by more than k, sometimes */
    uint8_t *x = malloc(m * lda + 4);
    int8_t *w = malloc((size_t)n * k), *wp = malloc(ia__i8_packed_bytes(n, k, panel));
    float *rs = malloc(m * sizeof(float)), *rz = malloc(m * sizeof(float)), *sw = malloc(n * sizeof(float)),
          *ws = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float)), *y = malloc((size_t)m * n * sizeof(float)),
          *y0 = malloc((size_t)m * n * sizeof(float));
    for (size_t i = 0; i < m * lda + 4; i++)
        x[i] = (uint8_t)next();
    for (size_t i = 0; i < (size_t)n * k; i++)
        w[i] = (int8_t)(kn != AVX2 ? next() % 255 - 127 : next() % 129 - 64);
    for (int r = 0; r < m; r++)
        rs[r] = 0.01f * (1 + frand()), rz[r] = frand();
    for (int j = 0; j < n; j++)
        sw[j] = 0.001f * (1 + frand()), ws[j] = frand(), b[j] = frand();
    for (size_t i = 0; i < (size_t)m * n; i++)
        y[i] = y0[i] = frand();
    ia__i8_pack(w, n, k, panel, wp);
    const ia__i8_out o = {.rs = rs, .rz = rz, .sw = sw, .ws = ws, .b = bias ? b : NULL, .act = a, .add = add,
                          .y = y, .ldy = (size_t)n};
    const int np = (n + panel - 1) / panel;
    if (split && np > 1) {
        gemm(m, n, k, x, lda, wp, np / 2, np, &o);
        gemm(m, n, k, x, lda, wp, 0, np / 2, &o);
    } else {
        gemm(m, n, k, x, lda, wp, 0, np, &o);
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

/* y = x w^T through ia__f32_gemm; the largest error relative to the sum
 * of the products' magnitudes. */
static double check_f32(int m, int n, int k, bool split)
{
    const size_t ldx = (size_t)k + (k % 2 ? 3 : 0);
    float *x = malloc(m * ldx * sizeof(float)), *w = malloc((size_t)n * k * sizeof(float)),
          *wp = malloc(ia__f32_packed_floats(n, k) * sizeof(float)), *y = malloc((size_t)m * n * sizeof(float));
    for (size_t i = 0; i < m * ldx; i++)
        x[i] = frand();
    for (size_t i = 0; i < (size_t)n * k; i++)
        w[i] = frand();
    ia__f32_pack(w, n, k, wp);
    const int np = (n + IA_F32_PANEL - 1) / IA_F32_PANEL;
    if (split && np > 1) {
        ia__f32_gemm(m, n, k, x, ldx, wp, 0, np / 2, y, (size_t)n);
        ia__f32_gemm(m, n, k, x, ldx, wp, np / 2, np, y, (size_t)n);
    } else {
        ia__f32_gemm(m, n, k, x, ldx, wp, 0, np, y, (size_t)n);
    }
    double worst = 0;
    for (int r = 0; r < m; r++)
        for (int j = 0; j < n; j++) {
            double v = 0, mag = 0;
            for (int i = 0; i < k; i++) {
                v += (double)x[r * ldx + i] * w[(size_t)j * k + i];
                mag += fabs((double)x[r * ldx + i] * w[(size_t)j * k + i]);
            }
            worst = fmax(worst, fabs(y[(size_t)r * n + j] - v) / mag);
        }
    free(x), free(w), free(wp), free(y);
    return worst;
}

/* An int8 kernel at every shape and epilogue. */
static void check_int8(kernel kn)
{
    /* rows 1 to 6 in a last tile, of 4 or of 6 */
    static const int shapes[][3] = {{1, 1, 1},     {5, 17, 3},      {6, 64, 4},      {7, 65, 9},
                                    {8, 33, 20},   {12, 128, 384},  {13, 130, 383},  {64, 384, 1536},
                                    {3, 1536, 384}, {64, 200, 64}};
    static const ia_act acts[] = {IA_ACT_NONE, IA_ACT_GELU, IA_ACT_RELU, IA_ACT_SILU};
    double worst = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int e = 0; e < 5; e++) {
            const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            const bool add = e == 4, bias = (s + e) % 3 != 0, split = (s + e) % 2;
            const ia_act a = add ? IA_ACT_NONE : acts[e];
            const double err = check(kn, m, n, k, a, add, bias, split);
            worst = fmax(worst, err);
            CHECK_MSG(err < 2e-6, "int8 %s %dx%dx%d act %d%s%s%s: error %.3g", kernel_names[kn], m, n, k, (int)a,
                      add ? " add" : "", bias ? " bias" : "", split ? " split" : "", err);
        }
    printf("int8 %s: largest error relative to the output's scale: %.3g\n", kernel_names[kn], worst);
}

int main(int argc, char **argv)
{
    static const int f32_shapes[][3] = {{1, 1, 1},      {5, 17, 3},      {6, 16, 8},    {7, 33, 9},
                                        {13, 130, 383}, {64, 384, 1536}, {3, 1536, 384}};
    const char *arg = argc == 2 ? argv[1] : "";
    const kernel kn = !strcmp(arg, "vnni") ? VNNI : !strcmp(arg, "avx-vnni") ? AVX_VNNI : AVX2;
    if (kn == AVX2 && strcmp(arg, "avx2")) {
        fprintf(stderr, "usage: test_cpu_gemm avx2|avx-vnni|vnni\n");
        return 2;
    }
    const bool has = kn == VNNI       ? ia__cpu_has_vnni()
                   : kn == AVX_VNNI ? ia__cpu_has_avx_vnni()
                                      : ia__cpu_isa_level() >= IA_CPU_ISA_AVX2;
    if (!has) {
        printf("SKIP: this CPU (or IA_CPU_ISA) has no %s\n", kn == VNNI ? "AVX512-VNNI" : kernel_names[kn]);
        return 77;
    }
    if (kn != AVX2) {
        check_int8(kn);
        return test_summary(kn == VNNI ? "test_cpu_gemm vnni" : "test_cpu_gemm avx-vnni");
    }
    double worst_f32 = 0;
    for (size_t s = 0; s < sizeof f32_shapes / sizeof f32_shapes[0]; s++) {
        const int m = f32_shapes[s][0], n = f32_shapes[s][1], k = f32_shapes[s][2];
        for (int split = 0; split < 2; split++) {
            const double err = check_f32(m, n, k, split);
            worst_f32 = fmax(worst_f32, err);
            CHECK_MSG(err < 1e-6, "fp32 %dx%dx%d%s: error %.3g", m, n, k, split ? " split" : "", err);
        }
    }
    printf("fp32: largest error relative to the sum of |products|: %.3g\n", worst_f32);
    check_int8(AVX2);
    return test_summary("test_cpu_gemm avx2");
}
