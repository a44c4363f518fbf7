/*
 * Sequence-classification heads (cross-encoders, classifiers): Hugging
 * Face's *ForSequenceClassification checkpoints put a small head on the
 * first token's last hidden state. It is two linear layers on one vector
 * per text, so it runs here on the host, in double accumulation, after the
 * encoder's forward.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/heads-impl.h"

/* The head layouts of transformers: tensor names of the two layers and
 * the activation between them. */
static const struct head_kind {
    const char *dense, *out; /* "<name>.weight" / ".bias" */
    bool relu;               /* else tanh */
} kinds[] = {
    {"bert.pooler.dense", "classifier", false},          /* BERT: pooler, then classifier */
    {"classifier.dense", "classifier.out_proj", false}, /* RoBERTa, XLM-R, CamemBERT, MPNet */
    {"pre_classifier", "classifier", true},             /* DistilBERT */
};

void ia__cls_head_free(ia_cls_head *h)
{
    if (!h)
        return;
    ia__free(h->W1);
    ia__free(h->b1);
    ia__free(h->W2);
    ia__free(h->b2);
    for (int i = 0; h->labels && i < h->n_labels; i++)
        ia__free(h->labels[i]);
    ia__free(h->labels);
    memset(h, 0, sizeof *h);
}

/* name.weight (d0, d1) and name.bias (d0) as new f32 arrays. */
static ia_status fetch_linear(const ia_safetensors *st, const char *name, int d0, int d1, float **W, float **b)
{
    char wn[160], bn[160];
    snprintf(wn, sizeof wn, "%s.weight", name);
    snprintf(bn, sizeof bn, "%s.bias", name);
    const ia_st_tensor *tw = ia__st_find(st, wn), *tb = ia__st_find(st, bn);
    if (!tw || !tb)
        return ia__error(IA_ERR_NOT_FOUND, "weights: classification head tensor '%s' is missing", tw ? bn : wn);
    if (tw->n_dims != 2 || tw->shape[0] != d0 || tw->shape[1] != d1 || tb->n_dims != 1 || tb->shape[0] != d0)
        return ia__error(IA_ERR_FORMAT, "%s: classification head '%s' must be [%d, %d] with a [%d] bias", tw->file,
                         name, d0, d1, d0);
    const ia_st_tensor *ts[2] = {tw, tb};
    for (int i = 0; i < 2; i++)
        if (ts[i]->dtype != IA_DTYPE_F32 && ts[i]->dtype != IA_DTYPE_F16 && ts[i]->dtype != IA_DTYPE_BF16)
            return ia__error(IA_ERR_FORMAT, "%s: tensor '%s': expected dtype F32, F16 or BF16, found %s",
                             ts[i]->file, i ? bn : wn, ts[i]->dtype_name);
    *W = ia__malloc((size_t)d0 * d1 * sizeof(float));
    *b = ia__malloc((size_t)d0 * sizeof(float));
    if (!*W || !*b)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    ia__st_to_f32(tw, *W);
    ia__st_to_f32(tb, *b);
    return IA_OK;
}

/* id2label: {"0": "LABEL_0", ...}, ids 0..n-1 each once. */
static ia_status read_labels(const cJSON *config, const char *path, ia_cls_head *h)
{
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(config, "id2label"), *e;
    const int n = cJSON_IsObject(map) ? cJSON_GetArraySize(map) : 0;
    if (n < 1 || n > 100000)
        return ia__error(IA_ERR_FORMAT, "%s: a sequence-classification model needs \"id2label\" with its labels",
                         path);
    h->n_labels = n;
    if (!(h->labels = ia__calloc((size_t)n, sizeof *h->labels)))
        return ia__error(IA_ERR_NOMEM, "out of memory");
    cJSON_ArrayForEach(e, map) {
        char *end;
        long id = strtol(e->string, &end, 10);
        if (*end || end == e->string || id < 0 || id >= n || h->labels[id] || !cJSON_IsString(e))
            return ia__error(IA_ERR_FORMAT, "%s: id2label must map the ids 0 to %d to names, once each (bad \"%s\")",
                             path, n - 1, e->string);
        if (!(h->labels[id] = ia__strdup(e->valuestring)))
            return ia__error(IA_ERR_NOMEM, "out of memory");
    }
    return IA_OK;
}

bool ia__cls_head_wanted(const cJSON *config)
{
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(config, "architectures"), *a;
    cJSON_ArrayForEach(a, archs) {
        const char *suffix = "ForSequenceClassification";
        size_t n = cJSON_IsString(a) ? strlen(a->valuestring) : 0, k = strlen(suffix);
        if (n > k && !strcmp(a->valuestring + n - k, suffix))
            return true;
    }
    return false;
}

ia_status ia__cls_head_load(const ia_safetensors *st, const cJSON *config, const char *config_path, int hidden,
                            ia_cls_head *h)
{
    memset(h, 0, sizeof *h);
    ia_status rc = read_labels(config, config_path, h);
    const struct head_kind *k = NULL;
    for (size_t i = 0; !rc && i < IA_ARRAY_LEN(kinds) && !k; i++) {
        char probe[160];
        snprintf(probe, sizeof probe, "%s.weight", kinds[i].dense);
        if (ia__st_find(st, probe))
            k = &kinds[i];
    }
    if (!rc && !k)
        rc = ia__error(IA_ERR_NOT_FOUND, "weights: no classification head (looked for bert.pooler.dense, "
                       "classifier.dense and pre_classifier)");
    h->hidden = hidden;
    if (!rc)
        rc = fetch_linear(st, k->dense, hidden, hidden, &h->W1, &h->b1);
    if (!rc)
        rc = fetch_linear(st, k->out, h->n_labels, hidden, &h->W2, &h->b2);
    if (rc) {
        ia__cls_head_free(h);
        return rc;
    }
    h->relu = k->relu;
    return IA_OK;
}

void ia__cls_head_apply(const ia_cls_head *h, const float *x, bool raw, float *scratch, float *out)
{
    const int H = h->hidden, L = h->n_labels;
    for (int o = 0; o < H; o++) {
        const float *w = h->W1 + (size_t)o * H;
        double acc = h->b1[o];
        for (int j = 0; j < H; j++)
            acc += (double)w[j] * x[j];
        scratch[o] = h->relu ? (float)fmax(acc, 0.0) : tanhf((float)acc);
    }
    for (int o = 0; o < L; o++) {
        const float *w = h->W2 + (size_t)o * H;
        double acc = h->b2[o];
        for (int j = 0; j < H; j++)
            acc += (double)w[j] * scratch[j];
        out[o] = (float)acc;
    }
    if (raw)
        return;
    if (L == 1) { /* one label: a relevance score in (0, 1) */
        out[0] = (float)(1.0 / (1.0 + exp(-(double)out[0])));
        return;
    }
    double mx = out[0], sum = 0;
    for (int o = 1; o < L; o++)
        mx = fmax(mx, out[o]);
    for (int o = 0; o < L; o++)
        sum += exp((double)out[o] - mx);
    for (int o = 0; o < L; o++)
        out[o] = (float)(exp((double)out[o] - mx) / sum);
}
