/*
 * Reduced precision against fp32 on the same model and texts:
 *   test_cpu_precision MODEL_DIR|@real int8|bf16 MIN_COSINE [N]
 * embeds the first N (default all) texts of tests/data/sentences.jsonl in
 * fp32 and in PRECISION and, where the CPU runs that precision (int8: AVX2,
 * with VNNI on AVX-512; bf16: AVX512_BF16; IA_CPU_ISA not below that),
 * requires the model to report it (ia_model_info.precision) and every
 * text's cosine to fp32 to be >= MIN_COSINE.
 * With IA_CPU_ISA set below what the precision needs it checks the clean
 * fallback instead: fp32 reported and output identical to fp32's.
 * On a CPU without the instructions (and IA_CPU_ISA unset) there is
 * nothing to measure: it checks that the model reports fp32 and exits 77,
 * which CTest reports as skipped.
 */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>

#include "backend/cpu/cpu-impl.h"
#include "ipfs_accelerate/ipfs_accelerate.h"
#include "test.h"
#include "test_data.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_cpu_precision MODEL_DIR|@real int8|bf16 "
                        "MIN_COSINE [N]\n");
        return 2;
    }
    const char *dir = !strcmp(argv[1], "@real") ? real_model_dir() : argv[1], *prec = argv[2];
    const double min_cos = argc > 3 ? atof(argv[3]) : 0.995;
    if (strcmp(prec, "int8") && strcmp(prec, "bf16")) {
        fprintf(stderr, "test_cpu_precision: precision %s: int8 or bf16\n", prec);
        return 2;
    }

    /* What this CPU can run, read apart from the library's own probe. */
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    const bool bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
    const bool int8 = !strcmp(prec, "int8");
    const bool has = int8 ? avx2 : bf16;
    const char *isa = getenv("IA_CPU_ISA");
    const bool capped_avx2 = isa && !strcmp(isa, "avx2"), capped_portable = isa && !strcmp(isa, "portable");
    const bool forced_lower = capped_portable || (!int8 && capped_avx2);
    const char *needs = int8 ? "AVX2" : "AVX512_BF16";
    if (isa && !strcmp(isa, "avx-vnni") && !ia__cpu_has_avx_vnni()) {
        printf("test_cpu_precision: IA_CPU_ISA=avx-vnni: this CPU lacks AVX-VNNI: skipped\n");
        return 77;
    }
    if (!has && !forced_lower) {
        ia_model_options mo = {.device = "cpu", .precision = prec};
        ia_model *m = NULL;
        CHECK_OK(ia_model_load(dir, &mo, &m));
        if (m) {
            ia_model_info info = {0};
            ia_model_get_info(m, &info);
            CHECK_MSG(!strcmp(info.precision, "fp32"), "this CPU lacks %s but the model reports %s", needs,
                      info.precision);
            ia_model_free(m);
        }
        if (test_failures)
            return test_summary("test_cpu_precision");
        printf("test_cpu_precision: this CPU lacks %s: %s computes in fp32 here (the model says so): "
               "skipped\n", needs, prec);
        return 77;
    }
    const bool expect_real = has && !forced_lower;
    size_t n;
    char **texts = read_sentences(&n);
    CHECK(texts != NULL);
    if (!texts)
        return test_summary("test_cpu_precision");
    const size_t n_all = n;
    if (argc > 4 && atol(argv[4]) > 0 && (size_t)atol(argv[4]) < n)
        n = (size_t)atol(argv[4]);
    int dim = 0, dim2 = 0;
    embed_ran i32, iq;
    float *ref = embed_texts(dir, "cpu", "fp32", texts, n, &dim, &i32);
    CHECK_MSG(ref, "fp32: %s", ia_errmsg());
    float *q = embed_texts(dir, "cpu", prec, texts, n, &dim2, &iq);
    CHECK_MSG(q, "%s: %s", prec, ia_errmsg());
    const char *p32 = i32.precision, *pq = iq.precision;
    CHECK(ref && q && dim == dim2);
    if (ref && q && dim == dim2) {
        double worst = 1, sum = 0;
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            double c = cosine(ref + i * dim, q + i * dim, dim);
            sum += c;
            if (c < worst)
                worst = c, at = i;
        }
        printf("%s %s (ran %s, kernels %s%s): %zu texts, worst cosine %.6f (text %zu), mean %.6f\n", dir,
               prec, pq, ia__cpu_isa_name(), ia__cpu_has_avx_vnni() ? " with AVX-VNNI" : "", n, worst, at,
               sum / n);
        CHECK_MSG(!strcmp(p32, "fp32"), "fp32 requested, model reports %s", p32);
        if (expect_real) {
            CHECK_MSG(!strcmp(pq, prec), "this CPU has %s but the model computes in %s, not %s", needs, pq,
                      prec);
            CHECK_MSG(memcmp(ref, q, sizeof(float) * n * dim), "%s output equals fp32's bit for bit: the "
                      "reduced-precision path did not run", prec);
            CHECK_MSG(worst >= min_cos, "text %zu: cosine %.6f < %.6g", at, worst, min_cos);
        } else {
            CHECK_MSG(!strcmp(pq, "fp32") && !memcmp(ref, q, sizeof(float) * n * dim),
                      "fallback (IA_CPU_ISA=%s): ran %s, output %s fp32's", isa, pq,
                      memcmp(ref, q, sizeof(float) * n * dim) ? "differs from" : "equals");
        }
    }
    free(ref);
    free(q);
    free_sentences(texts, n_all);
    return test_summary("test_cpu_precision");
}
