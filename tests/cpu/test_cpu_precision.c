/*
 * Reduced precision against fp32 on the same model and texts:
 *   test_cpu_precision MODEL_DIR|@real PRECISION [MIN_COSINE] [N]
 * embeds the first N (default all) texts of tests/data/sentences.jsonl in
 * fp32 and in PRECISION (int8 or bf16) and checks every text's cosine
 * (default >= 0.995). Where the CPU (or IA_CPU_ISA) lacks the instructions,
 * checks the clean fallback instead: fp32 reported and identical output.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "backend/cpu/cpu-impl.h"
#include "ipfs_accelerate/ipfs_accelerate.h"
#include "test.h"
#include "test_data.h"

static float *embed(const char *dir, const char *prec, char **texts, size_t n, int *dim,
                    char got[16])
{
    ia_model_options mo = {.device = "cpu", .precision = prec};
    ia_model *m = NULL;
    CHECK_OK(ia_model_load(dir, &mo, &m));
    if (!m)
        return NULL;
    ia_model_info info;
    ia_model_get_info(m, &info);
    snprintf(got, 16, "%s", info.precision);
    *dim = ia_model_dim(m);
    float *out = malloc(sizeof(float) * n * *dim);
    CHECK_OK(ia_model_embed(m, (const char *const *)texts, NULL, n, out, NULL));
    ia_model_free(m);
    return out;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_cpu_precision MODEL_DIR|@real int8|bf16 [MIN_COSINE] [N]\n");
        return 2;
    }
    const char *dir = !strcmp(argv[1], "@real") ? real_model_dir() : argv[1], *prec = argv[2];
    const double min_cos = argc > 3 ? atof(argv[3]) : 0.995;
    size_t n;
    char **texts = read_sentences(&n);
    CHECK(texts != NULL);
    if (!texts)
        return test_summary("test_cpu_precision");
    const size_t n_all = n;
    if (argc > 4 && atol(argv[4]) > 0 && (size_t)atol(argv[4]) < n)
        n = (size_t)atol(argv[4]);
    int dim = 0, dim2 = 0;
    char p32[16], pq[16];
    float *ref = embed(dir, "fp32", texts, n, &dim, p32);
    float *q = embed(dir, prec, texts, n, &dim2, pq);
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
        printf("%s %s (ran %s, kernels %s): %zu texts, worst cosine %.6f (text %zu), mean %.6f\n", dir,
               prec, pq, ia__cpu_isa_name(), n, worst, at, sum / n);
        if (!strcmp(pq, prec))
            CHECK_MSG(worst >= min_cos, "text %zu: cosine %.6f < %.4f", at, worst, min_cos);
        else
            CHECK_MSG(!strcmp(pq, "fp32") && !memcmp(ref, q, sizeof(float) * n * dim),
                      "fallback: ran %s, output %s fp32's", pq,
                      memcmp(ref, q, sizeof(float) * n * dim) ? "differs from" : "equals");
    }
    free(ref);
    free(q);
    free_sentences(texts, n_all);
    return test_summary("test_cpu_precision");
}
