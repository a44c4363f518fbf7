/*
 * Test data shared by the model and CPU tests: where the real
 * all-MiniLM-L6-v2 is (scripts/fetch-model.sh puts it there), the test
 * sentences (tests/data/sentences.jsonl, one JSON string a line), their
 * embedding through the public API, and the cosine they are compared by.
 */
#ifndef IA_TEST_DATA_H
#define IA_TEST_DATA_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core-impl.h"
#include "ipfs_accelerate/ipfs_accelerate.h"

static inline const char *real_model_dir(void)
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

static inline char **read_sentences(size_t *n)
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

/* What a model reported it ran on (copied: its info lives with it). */
typedef struct embed_ran {
    char backend[32], precision[16];
} embed_ran;

/* texts[0..n) embedded by the model in dir on `device` in `precision`: a
 * malloc'd n x *dim array, or NULL with ia_errmsg() saying why. */
static inline float *embed_texts(const char *dir, const char *device, const char *precision, char **texts,
                                 size_t n, int *dim, embed_ran *ran)
{
    ia_model_options mo = {.device = device, .precision = precision};
    ia_model *m = NULL;
    if (ia_model_load(dir, &mo, &m) != IA_OK)
        return NULL;
    ia_model_info info = {0};
    ia_model_get_info(m, &info);
    snprintf(ran->backend, sizeof ran->backend, "%s", info.backend);
    snprintf(ran->precision, sizeof ran->precision, "%s", info.precision);
    *dim = ia_model_dim(m);
    float *out = malloc(sizeof(float) * n * (size_t)*dim);
    if (out && ia_model_embed(m, (const char *const *)texts, NULL, n, out, NULL) != IA_OK) {
        free(out);
        out = NULL;
    }
    ia_model_free(m);
    return out;
}

static inline double cosine(const float *a, const float *b, int d)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < d; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa == 0 && bb == 0 ? 1.0 : ab / (sqrt(aa) * sqrt(bb) + 1e-30);
}

static inline void free_sentences(char **texts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
}

#endif
