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

static const char *real_model_dir(void)
{
    static char path[4096];
    const char *env = getenv("IA_REAL_MODEL"), *cache = getenv("IA_DEV_CACHE");
    if (env)
        return env;
    if (cache)
        snprintf(path, sizeof path, "%s/models/all-MiniLM-L6-v2", cache);
    else if (getenv("XDG_CACHE_HOME"))
        snprintf(path, sizeof path, "%s/ipfs-accelerate-dev/models/all-MiniLM-L6-v2", getenv("XDG_CACHE_HOME"));
    else
        snprintf(path, sizeof path, "%s/.cache/ipfs-accelerate-dev/models/all-MiniLM-L6-v2", getenv("HOME"));
    return path;
}

static char **read_sentences(size_t *n)
{
    char *text;
    if (ia__read_file(IA_TEST_DATA "/sentences.jsonl", &text, NULL))
        return NULL;
    char **out = NULL;
    *n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *s = cJSON_Parse(line);
        out = realloc(out, (*n + 1) * sizeof *out);
        out[(*n)++] = strdup(cJSON_IsString(s) ? s->valuestring : "");
        cJSON_Delete(s);
    }
    ia__free(text);
    return out;
}

static float *embed(const char *dir, const char *prec, char **texts, size_t n, int *dim,
                    const char **got)
{
    const ia_backend *cpu = ia__backend_cpu();
    CHECK_OK(cpu->iface.set_precision(cpu->ctx, prec));
    ia_model_options mo = {.device = "cpu", .precision = prec};
    ia_model *m = NULL;
    CHECK_OK(ia_model_load(dir, &mo, &m));
    if (!m)
        return NULL;
    *got = cpu->iface.precision(cpu->ctx);
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
    const char *p32, *pq;
    float *ref = embed(dir, "fp32", texts, n, &dim, &p32);
    float *q = embed(dir, prec, texts, n, &dim2, &pq);
    CHECK(ref && q && dim == dim2);
    if (ref && q && dim == dim2) {
        double worst = 1, sum = 0;
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            double ab = 0, aa = 0, bb = 0;
            for (int j = 0; j < dim; j++) {
                ab += (double)ref[i * dim + j] * q[i * dim + j];
                aa += (double)ref[i * dim + j] * ref[i * dim + j];
                bb += (double)q[i * dim + j] * q[i * dim + j];
            }
            double c = aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 1;
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
    const ia_backend *cpu = ia__backend_cpu();
    cpu->iface.set_precision(cpu->ctx, "fp32");
    free(ref);
    free(q);
    for (size_t i = 0; i < n_all; i++)
        free(texts[i]);
    free(texts);
    return test_summary("test_cpu_precision");
}
