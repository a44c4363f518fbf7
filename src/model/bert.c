/*
 * BERT encoder (model_type "bert"): embeddings + LayerNorm, then post-LN
 * layers of multi-head self-attention and a GELU feed-forward network,
 * written once against the backend ops. Q, K and V are fused into one
 * linear layer so a layer does four GEMMs. Weight names follow Hugging
 * Face's BertModel, with or without the "bert." prefix of task heads.
 */
#include <stdio.h>
#include <string.h>

#include "model/arch-impl.h"

typedef struct bert_layer {
    ia_linear *qkv, *attn_out, *ffn_in, *ffn_out;
    float *ln1_g, *ln1_b, *ln2_g, *ln2_b; /* (hidden) */
} bert_layer;

typedef struct bert {
    ia_encoder_config cfg;
    const ia_backend *be;
    void *bctx;                /* the backend instance */
    float *word, *pos, *type;  /* (vocab, hidden), (max_pos, hidden), (types, hidden) */
    float *emb_ln_g, *emb_ln_b;
    bert_layer *layers;
} bert;

/* config.json ----------------------------------------------------------- */

static ia_status get_int(const cJSON *c, const char *path, const char *key, int lo, int *out,
                         const int *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
    if (!v && dflt) {
        *out = *dflt;
        return IA_OK;
    }
    if (!v)
        return ia__error(IA_ERR_FORMAT, "%s: missing \"%s\"", path, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble ||
        v->valuedouble < lo || v->valuedouble > 1e8)
        return ia__error(IA_ERR_FORMAT, "%s: \"%s\" must be an integer >= %d", path, key, lo);
    *out = (int)v->valuedouble;
    return IA_OK;
}

static ia_status parse_config(const cJSON *c, const char *path, ia_encoder_config *cfg)
{
    static const int two = 2, zero = 0;
    ia_status rc;
    if ((rc = get_int(c, path, "vocab_size", 1, &cfg->vocab_size, NULL)) ||
        (rc = get_int(c, path, "hidden_size", 1, &cfg->hidden_size, NULL)) ||
        (rc = get_int(c, path, "num_hidden_layers", 1, &cfg->n_layers, NULL)) ||
        (rc = get_int(c, path, "num_attention_heads", 1, &cfg->n_heads, NULL)) ||
        (rc = get_int(c, path, "intermediate_size", 1, &cfg->intermediate_size, NULL)) ||
        (rc = get_int(c, path, "max_position_embeddings", 1, &cfg->max_position, NULL)) ||
        (rc = get_int(c, path, "type_vocab_size", 1, &cfg->type_vocab_size, &two)) ||
        (rc = get_int(c, path, "pad_token_id", 0, &cfg->pad_token_id, &zero)))
        return rc;
    if (cfg->hidden_size % cfg->n_heads)
        return ia__error(IA_ERR_FORMAT, "%s: hidden_size %d is not a multiple of num_attention_heads %d",
                         path, cfg->hidden_size, cfg->n_heads);
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(c, "layer_norm_eps");
    if (eps && (!cJSON_IsNumber(eps) || eps->valuedouble <= 0 || eps->valuedouble > 1))
        return ia__error(IA_ERR_FORMAT, "%s: \"layer_norm_eps\" must be a number in (0, 1]", path);
    cfg->layer_norm_eps = eps ? (float)eps->valuedouble : 1e-12f;

    const cJSON *pet = cJSON_GetObjectItemCaseSensitive(c, "position_embedding_type");
    if (cJSON_IsString(pet) && strcmp(pet->valuestring, "absolute"))
        return ia__error(IA_ERR_UNSUPPORTED, "%s: position_embedding_type \"%s\" (only \"absolute\")",
                         path, pet->valuestring);

    const cJSON *act = cJSON_GetObjectItemCaseSensitive(c, "hidden_act");
    const char *a = cJSON_IsString(act) ? act->valuestring : "gelu";
    static const struct { const char *name; ia_act act; } acts[] = {
        {"gelu", IA_ACT_GELU}, {"gelu_new", IA_ACT_GELU_TANH},
        {"gelu_pytorch_tanh", IA_ACT_GELU_TANH}, {"relu", IA_ACT_RELU},
    };
    for (size_t i = 0; i < IA_ARRAY_LEN(acts); i++) {
        if (!strcmp(a, acts[i].name)) {
            cfg->act = acts[i].act;
            snprintf(cfg->act_name, sizeof cfg->act_name, "%s", a);
            return IA_OK;
        }
    }
    return ia__error(IA_ERR_UNSUPPORTED, "%s: hidden_act \"%s\" (supported: gelu, gelu_new, gelu_pytorch_tanh, relu)",
                     path, a);
}

/* weights --------------------------------------------------------------- */

typedef struct loader {
    const ia_safetensors *st;
    const char *prefix; /* "" or "bert." */
    size_t n_params;
    const char *dtype;  /* of the first tensor, for info */
} loader;

/* Find `name` (under the prefix), check its shape and dtype, and return it
 * converted to float32 in a new array. */
static ia_status fetch(loader *ld, const char *name, int64_t d0, int64_t d1, float **out)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", ld->prefix, name);
    const ia_st_tensor *t = ia__st_find(ld->st, full);
    if (!t) { /* old TensorFlow-converted checkpoints say gamma/beta */
        char alt[256];
        size_t n = strlen(full);
        if (n > 16 && !strcmp(full + n - 16, "LayerNorm.weight"))
            snprintf(alt, sizeof alt, "%.*sLayerNorm.gamma", (int)(n - 16), full);
        else if (n > 14 && !strcmp(full + n - 14, "LayerNorm.bias"))
            snprintf(alt, sizeof alt, "%.*sLayerNorm.beta", (int)(n - 14), full);
        else
            alt[0] = '\0';
        t = alt[0] ? ia__st_find(ld->st, alt) : NULL;
    }
    int want_dims = d1 ? 2 : 1;
    char want[64];
    if (d1)
        snprintf(want, sizeof want, "[%lld, %lld]", (long long)d0, (long long)d1);
    else
        snprintf(want, sizeof want, "[%lld]", (long long)d0);
    if (!t)
        return ia__error(IA_ERR_NOT_FOUND, "weights: tensor '%s' %s is missing", full, want);
    if (t->n_dims != want_dims || t->shape[0] != d0 || (d1 && t->shape[1] != d1)) {
        char got[96] = "[";
        for (int i = 0; i < t->n_dims; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "",
                     (long long)t->shape[i]);
        strncat(got, "]", sizeof got - strlen(got) - 1);
        return ia__error(IA_ERR_FORMAT, "%s: tensor '%s': expected shape %s, found %s", t->file,
                         full, want, got);
    }
    if (t->dtype != IA_DTYPE_F32 && t->dtype != IA_DTYPE_F16 && t->dtype != IA_DTYPE_BF16)
        return ia__error(IA_ERR_FORMAT, "%s: tensor '%s': expected dtype F32, F16 or BF16, found %s",
                         t->file, full, t->dtype_name);
    float *f = ia__malloc(ia__st_numel(t) * sizeof(float));
    if (!f)
        return ia__error(IA_ERR_NOMEM, "out of memory loading '%s'", full);
    ia__st_to_f32(t, f);
    ld->n_params += ia__st_numel(t);
    if (!ld->dtype)
        ld->dtype = ia__st_dtype_name(t->dtype);
    *out = f;
    return IA_OK;
}

/* Host float array -> backend buffer (the host array is freed). */
static ia_status to_backend(const bert *m, float **p, size_t n)
{
    if (!m->be->iface.upload)
        return IA_OK;
    void *buf = m->be->iface.buf_alloc(m->bctx, n * sizeof(float));
    if (!buf)
        return ia__error(IA_ERR_NOMEM, "backend %s: out of memory", m->be->name);
    ia_status rc = m->be->iface.upload(m->bctx, buf, *p, n * sizeof(float));
    if (rc) {
        m->be->iface.buf_free(m->bctx, buf);
        return rc;
    }
    ia__free(*p);
    *p = buf;
    return IA_OK;
}

static void free_vec(const bert *m, float *p)
{
    if (m->be->iface.upload)
        m->be->iface.buf_free(m->bctx, p);
    else
        ia__free(p);
}

/* |gamma| + |beta| of a LayerNorm: its outputs' typical size per channel. */
static void ln_hint(const float *g, const float *b, int n, float *out)
{
    for (int i = 0; i < n; i++)
        out[i] = (g[i] < 0 ? -g[i] : g[i]) + (b[i] < 0 ? -b[i] : b[i]);
}

static ia_status make_linear(loader *ld, const bert *m, const char *base, int n_out,
                             int n_in, const float *hint, unsigned flags, ia_linear **out)
{
    char wn[200], bn[200];
    snprintf(wn, sizeof wn, "%s.weight", base);
    snprintf(bn, sizeof bn, "%s.bias", base);
    float *w = NULL, *b = NULL;
    ia_status rc = fetch(ld, wn, n_out, n_in, &w);
    if (!rc)
        rc = fetch(ld, bn, n_out, 0, &b);
    if (!rc)
        rc = m->be->iface.linear_new(m->bctx, w, b, n_out, n_in, hint, flags, out);
    ia__free(w);
    ia__free(b);
    return rc;
}

/* Q, K and V of a layer as one (3*hidden, hidden) linear layer. */
static ia_status make_qkv(loader *ld, const bert *m, int l, int h, const float *hint,
                         ia_linear **out)
{
    static const char *parts[3] = {"query", "key", "value"};
    float *w = ia__malloc((size_t)3 * h * h * sizeof(float));
    float *b = ia__malloc((size_t)3 * h * sizeof(float));
    ia_status rc = w && b ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory");
    for (int i = 0; i < 3 && !rc; i++) {
        char name[200];
        float *pw = NULL, *pb = NULL;
        snprintf(name, sizeof name, "encoder.layer.%d.attention.self.%s.weight", l, parts[i]);
        rc = fetch(ld, name, h, h, &pw);
        snprintf(name, sizeof name, "encoder.layer.%d.attention.self.%s.bias", l, parts[i]);
        if (!rc)
            rc = fetch(ld, name, h, 0, &pb);
        if (!rc) {
            memcpy(w + (size_t)i * h * h, pw, (size_t)h * h * sizeof(float));
            memcpy(b + (size_t)i * h, pb, (size_t)h * sizeof(float));
        }
        ia__free(pw);
        ia__free(pb);
    }
    if (!rc)
        rc = m->be->iface.linear_new(m->bctx, w, b, 3 * h, h, hint, IA_LINEAR_INT8_SENSITIVE, out);
    ia__free(w);
    ia__free(b);
    return rc;
}

static void bert_free(void *state)
{
    bert *m = state;
    if (!m)
        return;
    const struct ia_backend_i *op = &m->be->iface;
    if (m->layers) {
        for (int l = 0; l < m->cfg.n_layers; l++) {
            bert_layer *L = &m->layers[l];
            op->linear_free(m->bctx, L->qkv);
            op->linear_free(m->bctx, L->attn_out);
            op->linear_free(m->bctx, L->ffn_in);
            op->linear_free(m->bctx, L->ffn_out);
            free_vec(m, L->ln1_g);
            free_vec(m, L->ln1_b);
            free_vec(m, L->ln2_g);
            free_vec(m, L->ln2_b);
        }
    }
    free_vec(m, m->word);
    free_vec(m, m->pos);
    free_vec(m, m->type);
    free_vec(m, m->emb_ln_g);
    free_vec(m, m->emb_ln_b);
    ia__free(m->layers);
    ia__free(m);
}

static ia_status bert_load(const ia_encoder_config *cfg, const ia_safetensors *st,
                           const ia_backend *be, void *bctx, void **state, size_t *n_params,
                           const char **weights_dtype)
{
    bert *m = ia__calloc(1, sizeof *m);
    if (!m)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    m->cfg = *cfg;
    m->be = be;
    m->bctx = bctx;
    const int H = cfg->hidden_size, I = cfg->intermediate_size;
    loader ld = {.st = st, .prefix = ""};
    if (!ia__st_find(st, "embeddings.word_embeddings.weight") &&
        ia__st_find(st, "bert.embeddings.word_embeddings.weight"))
        ld.prefix = "bert.";

    ia_status rc = IA_OK;
    m->layers = ia__calloc((size_t)cfg->n_layers, sizeof *m->layers);
    if (!m->layers)
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    struct { const char *name; float **dst; int64_t d0, d1; } emb[] = {
        {"embeddings.word_embeddings.weight", &m->word, cfg->vocab_size, H},
        {"embeddings.position_embeddings.weight", &m->pos, cfg->max_position, H},
        {"embeddings.token_type_embeddings.weight", &m->type, cfg->type_vocab_size, H},
        {"embeddings.LayerNorm.weight", &m->emb_ln_g, H, 0},
        {"embeddings.LayerNorm.bias", &m->emb_ln_b, H, 0},
    };
    /* Hints for quantizing backends: the size of each channel entering
     * the QKV projection (the previous LayerNorm) and the FFN (LN 1). */
    float *hint_in = ia__malloc((size_t)H * sizeof(float));
    float *hint_mid = ia__malloc((size_t)H * sizeof(float));
    if (!rc && (!hint_in || !hint_mid))
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < IA_ARRAY_LEN(emb) && !rc; i++)
        rc = fetch(&ld, emb[i].name, emb[i].d0, emb[i].d1, emb[i].dst);
    if (!rc)
        ln_hint(m->emb_ln_g, m->emb_ln_b, H, hint_in);
    for (size_t i = 0; i < IA_ARRAY_LEN(emb) && !rc; i++)
        rc = to_backend(m, emb[i].dst, (size_t)emb[i].d0 * (emb[i].d1 ? emb[i].d1 : 1));

    for (int l = 0; l < cfg->n_layers && !rc; l++) {
        bert_layer *L = &m->layers[l];
        char base[160], name[200];
        snprintf(base, sizeof base, "encoder.layer.%d", l);
        struct { const char *fmt; float **dst; } lns[] = {
            {"%s.attention.output.LayerNorm.weight", &L->ln1_g},
            {"%s.attention.output.LayerNorm.bias", &L->ln1_b},
            {"%s.output.LayerNorm.weight", &L->ln2_g},
            {"%s.output.LayerNorm.bias", &L->ln2_b},
        };
        if (!rc)
            rc = make_qkv(&ld, m, l, H, hint_in, &L->qkv);
        snprintf(name, sizeof name, "%s.attention.output.dense", base);
        if (!rc)
            rc = make_linear(&ld, m, name, H, H, NULL, 0, &L->attn_out);
        for (size_t i = 0; i < IA_ARRAY_LEN(lns) && !rc; i++) {
            snprintf(name, sizeof name, lns[i].fmt, base);
            rc = fetch(&ld, name, H, 0, lns[i].dst);
        }
        if (!rc)
            ln_hint(L->ln1_g, L->ln1_b, H, hint_mid);
        snprintf(name, sizeof name, "%s.intermediate.dense", base);
        if (!rc)
            rc = make_linear(&ld, m, name, I, H, hint_mid, 0, &L->ffn_in);
        snprintf(name, sizeof name, "%s.output.dense", base);
        if (!rc)
            rc = make_linear(&ld, m, name, H, I, NULL, IA_LINEAR_INT8_SENSITIVE, &L->ffn_out);
        if (!rc)
            ln_hint(L->ln2_g, L->ln2_b, H, hint_in);
        for (size_t i = 0; i < IA_ARRAY_LEN(lns) && !rc; i++)
            rc = to_backend(m, lns[i].dst, (size_t)H);
    }
    ia__free(hint_in);
    ia__free(hint_mid);
    if (rc) {
        bert_free(m);
        return rc;
    }
    *state = m;
    *n_params = ld.n_params;
    *weights_dtype = ld.dtype ? ld.dtype : "F32";
    return IA_OK;
}

/* forward --------------------------------------------------------------- */

static ia_status bert_forward(const void *state, const int32_t *ids, const int *offsets,
                              int n_seqs, float *x)
{
    const bert *m = state;
    const struct ia_backend_i *op = &m->be->iface;
    void *bc = m->bctx;
    const int H = m->cfg.hidden_size, I = m->cfg.intermediate_size, T = offsets[n_seqs];
    const float eps = m->cfg.layer_norm_eps;

    /* The tables are read at these indices: nothing outside them may
     * reach the backend, whatever the tokenizer produced. */
    for (int s = 0; s < n_seqs; s++)
        if (offsets[s + 1] - offsets[s] > m->cfg.max_position)
            return ia__error(IA_ERR_INVALID, "bert: a sequence of %d tokens exceeds max_position_embeddings %d",
                             offsets[s + 1] - offsets[s], m->cfg.max_position);
    for (int t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= m->cfg.vocab_size)
            return ia__error(IA_ERR_INVALID, "bert: token id %d is outside the vocabulary (vocab_size %d)",
                             (int)ids[t], m->cfg.vocab_size);

    /* Scratch: qkv (T, 3H), ctx (T, H), ffn (T, I). */
    float *qkv = op->buf_alloc(bc, (size_t)T * 3 * H * sizeof(float));
    float *ctx = op->buf_alloc(bc, (size_t)T * H * sizeof(float));
    float *ffn = op->buf_alloc(bc, (size_t)T * I * sizeof(float));
    ia_status rc = qkv && ctx && ffn ? IA_OK
                 : ia__error(IA_ERR_NOMEM, "out of memory for a batch of %d tokens", T);

    if (!rc)
        rc = op->embed(bc, ids, offsets, n_seqs, m->word, m->pos, m->type, H, x);
    if (!rc)
        rc = op->add_layernorm(bc, x, NULL, m->emb_ln_g, m->emb_ln_b, T, H, eps);
    for (int l = 0; l < m->cfg.n_layers && !rc; l++) {
        const bert_layer *L = &m->layers[l];
        rc = op->linear(bc, L->qkv, x, qkv, T, IA_ACT_NONE);
        if (!rc)
            rc = op->attention(bc, qkv, ctx, offsets, n_seqs, m->cfg.n_heads, H / m->cfg.n_heads);
        if (rc)
            break;
        if (op->linear_add_layernorm) { /* fused GEMM + bias + residual + LayerNorm */
            if (!(rc = op->linear_add_layernorm(bc, L->attn_out, ctx, x, qkv, T, L->ln1_g, L->ln1_b, eps)) &&
                !(rc = op->linear(bc, L->ffn_in, x, ffn, T, m->cfg.act)))
                rc = op->linear_add_layernorm(bc, L->ffn_out, ffn, x, ctx, T, L->ln2_g, L->ln2_b, eps);
            continue;
        }
        if (!(rc = op->linear(bc, L->attn_out, ctx, qkv, T, IA_ACT_NONE)) && /* qkv reused as (T, H) */
            !(rc = op->add_layernorm(bc, x, qkv, L->ln1_g, L->ln1_b, T, H, eps)) &&
            !(rc = op->linear(bc, L->ffn_in, x, ffn, T, m->cfg.act)) &&
            !(rc = op->linear(bc, L->ffn_out, ffn, ctx, T, IA_ACT_NONE)))
            rc = op->add_layernorm(bc, x, ctx, L->ln2_g, L->ln2_b, T, H, eps);
    }
    op->buf_free(bc, qkv);
    op->buf_free(bc, ctx);
    op->buf_free(bc, ffn);
    return rc;
}

static const ia_arch bert_arch = {
    .api_version = IA_ARCH_API_VERSION,
    .model_type = "bert",
    .iface = {
        .parse_config = parse_config,
        .load = bert_load,
        .free = bert_free,
        .forward = bert_forward,
    },
};

const ia_arch *ia__arch_bert(void) { return &bert_arch; }
