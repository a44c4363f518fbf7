/*
 * The CPU backend's kernels and its instruction-set dispatch.
 *
 *   test_cpu_kernels portable|avx2|avx512
 *     that level's kernel table against plain double precision references:
 *     bias + GELU (erf and tanh) + ReLU, residual + LayerNorm, one
 *     attention head (several lengths and head sizes), bf16 rounding,
 *     8-bit row quantization. Exits 77 (CTest: skipped) where this CPU
 *     lacks the level.
 *   test_cpu_kernels dispatch
 *     the level in force: the CPU's best, or IA_CPU_ISA's (77 where this
 *     CPU lacks the level asked for); the precisions the backend resolves
 *     on it (int8 exactly where AVX-512 VNNI is usable, bf16 where
 *     AVX512_BF16 is) and the precision names' errors.
 *
 * What the CPU has is read here with __builtin_cpu_supports, apart from
 * the library's own probe, so a probe that misses an instruction set
 * fails the dispatch test instead of narrowing what is tested.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "backend/cpu/cpu-impl.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static double max_rel(const float *a, const double *ref, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(a[i] - ref[i]) / (fabs(ref[i]) + 1e-3);
        worst = e > worst ? e : worst;
    }
    return worst;
}

static void check_table(const ia__cpu_kernels *k)
{
    enum { R = 5, N = 77 };
    float y[R * N], b[N], g[N], be[N], x[R * N];
    double ref[R * N];
    for (int j = 0; j < N; j++)
        b[j] = frand(), g[j] = 1 + 0.5f * frand(), be[j] = 0.1f * frand();
    /* bias + activations */
    for (int act = IA_ACT_NONE; act <= IA_ACT_RELU; act++) {
        for (int i = 0; i < R * N; i++)
            y[i] = 6 * frand();
        for (int i = 0; i < R * N; i++) {
            double v = (double)y[i] + b[i % N];
            ref[i] = act == IA_ACT_GELU ? 0.5 * v * (1 + erf(v / sqrt(2.0)))
                   : act == IA_ACT_GELU_TANH ? 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))
                   : act == IA_ACT_RELU ? (v > 0 ? v : 0) : v;
        }
        k->bias_act(y, R, N, b, (ia_act)act);
        double e = 0;
        for (int i = 0; i < R * N; i++)
            e = fmax(e, fabs(y[i] - ref[i]));
        CHECK_MSG(e < 2e-6 * 8, "%s bias_act %d: max abs error %g", k->name, act, e);
    }
    /* residual + LayerNorm */
    for (int i = 0; i < R * N; i++)
        x[i] = 3 * frand(), y[i] = frand();
    for (int r = 0; r < R; r++) {
        double mean = 0, var = 0, v[N];
        for (int j = 0; j < N; j++)
            mean += v[j] = (double)x[r * N + j] + y[r * N + j] + b[j];
        mean /= N;
        for (int j = 0; j < N; j++)
            var += (v[j] - mean) * (v[j] - mean);
        var /= N;
        for (int j = 0; j < N; j++)
            ref[r * N + j] = (v[j] - mean) / sqrt(var + 1e-12) * g[j] + be[j];
    }
    k->add_ln(x, y, b, g, be, R, N, 1e-12f);
    double e = 0;
    for (int i = 0; i < R * N; i++)
        e = fmax(e, fabs(x[i] - ref[i]));
    CHECK_MSG(e < 1e-5, "%s add_ln: max abs error %g", k->name, e);

    /* attention: one head, rows at a stride, several lengths and sizes */
    static const int lens[] = {1, 3, 4, 6, 17, 33, 64, 130}, hds[] = {8, 16, 32, 48, 64, 12};
    for (size_t li = 0; li < IA_ARRAY_LEN(lens); li++) {
        for (size_t hi = 0; hi < IA_ARRAY_LEN(hds); hi++) {
            const int len = lens[li], hd = hds[hi], ld = 3 * hd + 5;
            float *qkv = malloc(sizeof(float) * len * ld), *out = malloc(sizeof(float) * len * hd);
            float *sc = malloc(sizeof(float) * IA_CPU_ATTN_SCRATCH(len, hd));
            double *want = malloc(sizeof(double) * len * hd), *p = malloc(sizeof(double) * len);
            for (int i = 0; i < len * ld; i++)
                qkv[i] = 2 * frand();
            const float scale = 1.0f / sqrtf((float)hd);
            for (int i = 0; i < len; i++) {
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < len; j++) {
                    double d = 0;
                    for (int c = 0; c < hd; c++)
                        d += (double)qkv[i * ld + c] * qkv[j * ld + hd + c];
                    p[j] = d * scale;
                    mx = fmax(mx, p[j]);
                }
                for (int j = 0; j < len; j++)
                    sum += p[j] = exp(p[j] - mx);
                for (int c = 0; c < hd; c++) {
                    double o = 0;
                    for (int j = 0; j < len; j++)
                        o += p[j] / sum * qkv[j * ld + 2 * hd + c];
                    want[i * hd + c] = o;
                }
            }
            k->attention_head(qkv, qkv + hd, qkv + 2 * hd, ld, len, hd, scale, out, hd, sc, NULL);
            double ea = 0;
            for (int i = 0; i < len * hd; i++)
                ea = fmax(ea, fabs(out[i] - want[i]));
            CHECK_MSG(ea < 2e-5, "%s attention len %d hd %d: max abs error %g", k->name, len, hd, ea);
            free(qkv), free(out), free(sc), free(want), free(p);
        }
    }
    /* bf16 rounding: nearest, ties to even */
    const float fs[] = {1.0f, -2.5f, 1.00390625f /* tie: 1 + 2^-8 -> 1 */, 1.01171875f /* tie -> up */,
                        3.14159265f, 0.0f};
    const uint16_t hs[] = {0x3f80, 0xc020, 0x3f80, 0x3f82, 0x4049, 0x0000};
    uint16_t h[6];
    k->to_bf16(fs, 6, h);
    for (int i = 0; i < 6; i++)
        CHECK_MSG(h[i] == hs[i], "%s to_bf16(%g) = %#x, want %#x", k->name, fs[i], h[i], hs[i]);
    /* 8-bit rows: x ~ zero + scale q within half a step */
    unsigned char q[R * N];
    float s[R], z[R];
    for (int i = 0; i < R * N; i++)
        x[i] = 5 * frand() + 1;
    float cs[N]; /* and with each column scaled first (SmoothQuant) */
    for (int j = 0; j < N; j++)
        cs[j] = 0.5f + frand() * frand();
    for (int scaled = 1; scaled >= 0; scaled--) {
        k->quantize_rows(x, R, N, scaled ? cs : NULL, q, s, z);
        double eq = 0;
        for (int r = 0; r < R; r++)
            for (int j = 0; j < N; j++)
                eq = fmax(eq, fabs(z[r] + s[r] * q[r * N + j] - x[r * N + j] * (scaled ? cs[j] : 1.0f)) / s[r]);
        CHECK_MSG(eq <= 0.5001, "%s quantize_rows%s: error %g steps", k->name, scaled ? " (column scales)" : "", eq);
    }
    (void)max_rel;
}

enum { SKIP = 77 }; /* CTest's SKIP_RETURN_CODE for these tests */

static bool cpu_has_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

static bool cpu_has_avx512(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

static int kernels(const char *isa)
{
    const ia__cpu_kernels *k = !strcmp(isa, "portable") ? &ia__cpu_kernels_portable
                             : !strcmp(isa, "avx2")     ? &ia__cpu_kernels_avx2
                             : !strcmp(isa, "avx512")   ? &ia__cpu_kernels_avx512
                                                        : NULL;
    if (!k) {
        fprintf(stderr, "test_cpu_kernels: unknown level %s (portable, avx2, avx512)\n", isa);
        return 2;
    }
    if ((k == &ia__cpu_kernels_avx2 && !cpu_has_avx2()) || (k == &ia__cpu_kernels_avx512 && !cpu_has_avx512())) {
        printf("test_cpu_kernels: this CPU lacks %s: its kernels cannot run here: skipped\n", isa);
        return SKIP;
    }
    check_table(k);
    printf("%s kernels checked\n", k->name);
    return test_summary("test_cpu_kernels");
}

static int dispatch(void)
{
    const char *best = cpu_has_avx512() ? "avx512" : cpu_has_avx2() ? "avx2" : "portable";
    const char *want = getenv("IA_CPU_ISA"), *running = ia__cpu_isa_name();
    printf("this CPU's best: %s; IA_CPU_ISA=%s; running kernels: %s\n", best, want ? want : "(unset)", running);
    if (want && *want) {
        if (strcmp(want, "portable") && strcmp(want, "avx2") && strcmp(want, "avx512")) {
            fprintf(stderr, "test_cpu_kernels: IA_CPU_ISA=%s is not a level this test knows\n", want);
            return 2;
        }
        if ((!strcmp(want, "avx2") && !cpu_has_avx2()) || (!strcmp(want, "avx512") && !cpu_has_avx512())) {
            printf("test_cpu_kernels: IA_CPU_ISA=%s: this CPU lacks it: skipped\n", want);
            return SKIP;
        }
        CHECK_MSG(!strcmp(running, want), "IA_CPU_ISA=%s but running %s", want, running);
    } else {
        CHECK_MSG(!strcmp(running, best), "this CPU's best is %s but running %s", best, running);
    }

    /* Reduced precision only where its instructions run at the level in
     * force (IA_CPU_ISA turns them off with the kernels): int8 from AVX2
     * on, bf16 with AVX512_BF16. */
    const bool int8 = strcmp(running, "portable");
    const bool bf16 = !strcmp(running, "avx512") && __builtin_cpu_supports("avx512bf16");
    const ia_backend *cpu = ia__backend_cpu();
    void *inst = NULL;
    CHECK(!cpu->iface.resolve_precision("fp16"));
    CHECK(!cpu->iface.resolve_precision(NULL));
    CHECK(cpu->iface.open(0, 1, "fp16", false, &inst) == IA_ERR_INVALID && !inst);
    CHECK(cpu->iface.open(1, 1, "fp32", false, &inst) == IA_ERR_INVALID && !inst);
    CHECK(!strcmp(cpu->iface.resolve_precision("fp32"), "fp32"));
    static const char *const precs[] = {"int8", "bf16"};
    for (int i = 0; i < 2; i++) {
        const char *p = cpu->iface.resolve_precision(precs[i]);
        const char *expect = (i == 0 ? int8 : bf16) ? precs[i] : "fp32";
        printf("precision %s resolves to %s\n", precs[i], p ? p : "(null)");
        CHECK_MSG(p && !strcmp(p, expect), "precision %s: resolved to %s, want %s (kernels %s, BF16 %s)",
                  precs[i], p ? p : "(null)", expect, running, bf16 ? "yes" : "no");
        inst = NULL;
        CHECK_OK(cpu->iface.open(0, 1, precs[i], false, &inst));
        if (inst) {
            CHECK_MSG(!strcmp(cpu->iface.precision(inst), expect), "instance opened with %s computes in %s",
                      precs[i], cpu->iface.precision(inst));
            cpu->iface.close(inst);
        }
    }
    return test_summary("test_cpu_kernels");
}

int main(int argc, char **argv)
{
    __builtin_cpu_init();
    if (argc != 2) {
        fprintf(stderr, "usage: test_cpu_kernels portable|avx2|avx512|dispatch\n");
        return 2;
    }
    return !strcmp(argv[1], "dispatch") ? dispatch() : kernels(argv[1]);
}
