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

/* Masked-LM head and SPLADE ----------------------------------------------- */

/* A tensor of `name` (or its legacy gamma/beta name) as f32 host memory of
 * d0 (x d1) values. */
static ia_status fetch_f32(const ia_safetensors *st, const char *name, int64_t d0, int64_t d1, float **out)
{
    const ia_st_tensor *t = ia__st_find(st, name);
    char alt[160];
    const size_t n = strlen(name);
    if (!t && n > 7 && !strcmp(name + n - 7, ".weight")) { /* TensorFlow-converted LayerNorms */
        snprintf(alt, sizeof alt, "%.*s.gamma", (int)(n - 7), name);
        t = strstr(name, "LayerNorm") ? ia__st_find(st, alt) : NULL;
    } else if (!t && n > 5 && !strcmp(name + n - 5, ".bias") && strstr(name, "LayerNorm")) {
        snprintf(alt, sizeof alt, "%.*s.beta", (int)(n - 5), name);
        t = ia__st_find(st, alt);
    }
    if (!t)
        return ia__error(IA_ERR_NOT_FOUND, "weights: masked-LM head tensor '%s' is missing", name);
    if (t->n_dims != (d1 ? 2 : 1) || t->shape[0] != d0 || (d1 && t->shape[1] != d1))
        return ia__error(IA_ERR_FORMAT, "%s: tensor '%s' must be [%lld%s%lld]", t->file, name, (long long)d0,
                         d1 ? ", " : "", d1 ? (long long)d1 : 0LL);
    if (t->dtype != IA_DTYPE_F32 && t->dtype != IA_DTYPE_F16 && t->dtype != IA_DTYPE_BF16)
        return ia__error(IA_ERR_FORMAT, "%s: tensor '%s': expected dtype F32, F16 or BF16, found %s", t->file, name,
                         t->dtype_name);
    if (!(*out = ia__malloc((size_t)ia__st_numel(t) * sizeof(float))))
        return ia__error(IA_ERR_NOMEM, "out of memory loading '%s'", name);
    ia__st_to_f32(t, *out);
    return IA_OK;
}

/* *t = host data (ne0, ne1) f32, copied into backend memory. */
static ia_status put(ia_mlm_head *h, int slot, const float *host, int64_t ne0, int64_t ne1, ia_tensor *t)
{
    *t = ia__tensor(IA_DTYPE_F32, ne0, ne1, 1, 1, NULL);
    const size_t bytes = (size_t)(ne0 * ne1) * sizeof(float);
    if (!(h->bufs[slot] = h->be->iface.buf_alloc(h->bctx, bytes)))
        return ia__error(IA_ERR_NOMEM, "backend %s: out of memory for the masked-LM head", h->be->name);
    t->data = h->bufs[slot];
    if (h->be->iface.upload)
        return h->be->iface.upload(h->bctx, t->data, host, bytes);
    memcpy(t->data, host, bytes);
    return IA_OK;
}

void ia__mlm_head_free(ia_mlm_head *h)
{
    for (size_t i = 0; h && h->be && i < IA_ARRAY_LEN(h->bufs); i++)
        if (h->bufs[i])
            h->be->iface.buf_free(h->bctx, h->bufs[i]);
    if (h)
        memset(h, 0, sizeof *h);
}

ia_status ia__mlm_head_load(const ia_safetensors *st, const ia_encoder_config *cfg, const ia_backend *be,
                            void *bctx, ia_mlm_head *h)
{
    memset(h, 0, sizeof *h);
    h->be = be;
    h->bctx = bctx;
    h->hidden = cfg->hidden_size;
    h->vocab = cfg->vocab_size;
    h->act = cfg->act;
    h->eps = cfg->layer_norm_eps;
    const int64_t H = h->hidden, V = h->vocab;
    /* BertForMaskedLM's names; the decoder is usually tied to the word
     * embeddings and then not stored */
    static const char *const tables[] = {"cls.predictions.decoder.weight", "bert.embeddings.word_embeddings.weight",
                                         "embeddings.word_embeddings.weight"};
    const char *dec = NULL;
    for (size_t i = 0; i < IA_ARRAY_LEN(tables) && !dec; i++)
        dec = ia__st_find(st, tables[i]) ? tables[i] : NULL;
    const char *bias = ia__st_find(st, "cls.predictions.bias") ? "cls.predictions.bias" : "cls.predictions.decoder.bias";
    struct { const char *name; int64_t d0, d1; ia_tensor *t; } parts[] = {
        {"cls.predictions.transform.dense.weight", H, H, &h->dense_w},
        {"cls.predictions.transform.dense.bias", H, 0, &h->dense_b},
        {"cls.predictions.transform.LayerNorm.weight", H, 0, &h->ln_g},
        {"cls.predictions.transform.LayerNorm.bias", H, 0, &h->ln_b},
        {dec ? dec : tables[0], V, H, &h->dec_w},
        {bias, V, 0, &h->dec_b},
    };
    ia_status rc = IA_OK;
    for (size_t i = 0; i < IA_ARRAY_LEN(parts) && !rc; i++) {
        float *f = NULL;
        rc = fetch_f32(st, parts[i].name, parts[i].d0, parts[i].d1, &f);
        /* a weight (out, in) is the matmul's W (in, out): ne0 = in */
        if (!rc)
            rc = put(h, (int)i, f, parts[i].d1 ? parts[i].d1 : parts[i].d0, parts[i].d1 ? parts[i].d0 : 1, parts[i].t);
        ia__free(f);
    }
    if (rc)
        ia__mlm_head_free(h);
    return rc;
}

/* Tokens run through the head at a time: their logits (chunk x vocab)
 * are the largest buffer. */
enum { MLM_CHUNK = 256 };

ia_status ia__mlm_head_splade(const ia_mlm_head *h, float *x, const int *offsets, int n_seqs, float *out)
{
    const struct ia_backend_i *op = &h->be->iface;
    const int64_t H = h->hidden, V = h->vocab, T = offsets[n_seqs];
    float *t1 = op->buf_alloc(h->bctx, (size_t)(MLM_CHUNK * H) * sizeof(float));
    float *logits = op->buf_alloc(h->bctx, (size_t)(MLM_CHUNK * V) * sizeof(float));
    float *host = op->download ? ia__malloc((size_t)(MLM_CHUNK * V) * sizeof(float)) : logits;
    ia_status rc = t1 && logits && host ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory for SPLADE's logits");
    for (size_t i = 0; i < (size_t)n_seqs * (size_t)V; i++)
        out[i] = 0; /* the max of log(1 + relu(.)) over no tokens */
    int s = 0;
    for (int64_t t0 = 0; t0 < T && !rc; t0 += MLM_CHUNK) {
        const int64_t n = T - t0 < MLM_CHUNK ? T - t0 : MLM_CHUNK;
        ia_tensor tx = ia__tensor(IA_DTYPE_F32, H, n, 1, 1, x + t0 * H);
        ia_tensor tt = ia__tensor(IA_DTYPE_F32, H, n, 1, 1, t1);
        ia_tensor tl = ia__tensor(IA_DTYPE_F32, V, n, 1, 1, logits);
        const ia_node g[] = {
            {.op = IA_OP_MATMUL, .dst = &tt, .src = {&tx, &h->dense_w, &h->dense_b}, .p.act = h->act},
            {.op = IA_OP_LAYERNORM, .dst = &tt, .src = {&tt, NULL, &h->ln_g, &h->ln_b}, .p.eps = h->eps},
            {.op = IA_OP_MATMUL, .dst = &tl, .src = {&tt, &h->dec_w, &h->dec_b}},
        };
        rc = ia__graph_run(h->be, h->bctx, g, (int)IA_ARRAY_LEN(g), NULL);
        if (!rc && op->download)
            rc = op->download(h->bctx, host, logits, (size_t)(n * V) * sizeof(float));
        /* log(1 + relu(.)) is increasing: take each sequence's max logit */
        for (int64_t t = t0; t < t0 + n && !rc; t++) {
            while (t >= offsets[s + 1])
                s++;
            const float *row = host + (t - t0) * V;
            float *o = out + (size_t)s * (size_t)V;
            for (int64_t v = 0; v < V; v++)
                o[v] = row[v] > o[v] ? row[v] : o[v];
        }
    }
    for (size_t i = 0; !rc && i < (size_t)n_seqs * (size_t)V; i++)
        out[i] = log1pf(out[i]);
    if (host && host != logits)
        ia__free(host);
    if (logits)
        op->buf_free(h->bctx, logits);
    if (t1)
        op->buf_free(h->bctx, t1);
    return rc;
}
