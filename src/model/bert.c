/*
 * BERT encoders (model_type "bert", and "distilbert": the same layers
 * under other names, without token types; "mpnet": the same again without
 * token types, positions numbered from 2 as RoBERTa's, and a relative-
 * position bias in every layer's attention scores, T5's buckets of key -
 * query from one table shared by the layers, which the attention op
 * computes itself): embeddings + LayerNorm, then
 * post-LN layers of multi-head self-attention and a GELU feed-forward
 * network, built as one graph of engine-core ops (src/tensor/tensor.h) per
 * forward. Q, K and V are fused into one matmul so a layer does four; the
 * matmuls that feed a residual LayerNorm mark their output as scratch so a
 * backend may fuse the two. Weight names follow Hugging Face's BertModel
 * DistilBertModel and MPNetModel, with or without the "bert." /
 * "distilbert." / "mpnet." prefix of task heads.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/arch-impl.h"
#include "model/weights-impl.h"

typedef struct bert_layer {
    ia_tensor qkv_w, qkv_b, out_w, out_b, ffn_in_w, ffn_in_b, ffn_out_w, ffn_out_b;
    ia_tensor ln1_g, ln1_b, ln2_g, ln2_b; /* (hidden) */
} bert_layer;

/* A family's weight names: tables, then per layer (base "%s" = the
 * layer's prefix). */
typedef struct bert_names {
    const char *head_prefix; /* of task-head checkpoints: "bert." */
    const char *word, *pos, *type, *emb_ln; /* type NULL: no token types */
    const char *layer;                      /* printf format of a layer's base, %d its index */
    const char *q, *k, *v, *out, *ln1, *ffn_in, *ffn_out, *ln2; /* under the base */
    const char *rel_bias; /* the relative-position bias table (buckets, heads), or NULL */
} bert_names;

static const bert_names bert_names_hf = {
    .head_prefix = "bert.", .word = "embeddings.word_embeddings", .pos = "embeddings.position_embeddings",
    .type = "embeddings.token_type_embeddings", .emb_ln = "embeddings.LayerNorm", .layer = "encoder.layer.%d",
    .q = "attention.self.query", .k = "attention.self.key", .v = "attention.self.value",
    .out = "attention.output.dense", .ln1 = "attention.output.LayerNorm", .ffn_in = "intermediate.dense",
    .ffn_out = "output.dense", .ln2 = "output.LayerNorm",
};

static const bert_names distilbert_names = {
    .head_prefix = "distilbert.", .word = "embeddings.word_embeddings", .pos = "embeddings.position_embeddings",
    .type = NULL, .emb_ln = "embeddings.LayerNorm", .layer = "transformer.layer.%d", .q = "attention.q_lin",
    .k = "attention.k_lin", .v = "attention.v_lin", .out = "attention.out_lin", .ln1 = "sa_layer_norm",
    .ffn_in = "ffn.lin1", .ffn_out = "ffn.lin2", .ln2 = "output_layer_norm",
};

static const bert_names mpnet_names = {
    .head_prefix = "mpnet.", .word = "embeddings.word_embeddings", .pos = "embeddings.position_embeddings",
    .type = NULL, .emb_ln = "embeddings.LayerNorm", .layer = "encoder.layer.%d", .q = "attention.attn.q",
    .k = "attention.attn.k", .v = "attention.attn.v", .out = "attention.attn.o", .ln1 = "attention.LayerNorm",
    .ffn_in = "intermediate.dense", .ffn_out = "output.dense", .ln2 = "output.LayerNorm",
    .rel_bias = "encoder.relative_attention_bias",
};

static const bert_names roberta_names = {
    .head_prefix = "roberta.", .word = "embeddings.word_embeddings", .pos = "embeddings.position_embeddings",
    .type = "embeddings.token_type_embeddings", .emb_ln = "embeddings.LayerNorm", .layer = "encoder.layer.%d",
    .q = "attention.self.query", .k = "attention.self.key", .v = "attention.self.value",
    .out = "attention.output.dense", .ln1 = "attention.output.LayerNorm", .ffn_in = "intermediate.dense",
    .ffn_out = "output.dense", .ln2 = "output.LayerNorm",
};

/* MPNet's bucketing: Hugging Face's MPNetEncoder.compute_position_bias
 * uses 32 buckets and max_distance 128 whatever the config's
 * relative_attention_num_buckets (the table's rows, at least 32 then);
 * its embeddings' padding_idx is 1 whatever pad_token_id, so positions
 * start at 2. */
enum { MPNET_BUCKETS = 32, MPNET_MAX_DISTANCE = 128, MPNET_POS_OFFSET = 2 };

typedef struct bert {
    ia_encoder_config cfg;
    const bert_names *names;
    ia_weights w;               /* the backend instance and the memory of the tensors below */
    ia_tensor word, pos, type;  /* (hidden, vocab), (hidden, max_pos + pos_offset), (hidden, types), as stored */
    ia_tensor emb_ln_g, emb_ln_b;
    ia_tensor rel, rel_used;    /* (heads, rel_buckets) f32; its first MPNET_BUCKETS rows */
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

/* The activation named by `key` (default gelu). */
static ia_status parse_act(const cJSON *c, const char *path, const char *key, ia_encoder_config *cfg)
{
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(c, key);
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
    return ia__error(IA_ERR_UNSUPPORTED, "%s: %s \"%s\" (supported: gelu, gelu_new, gelu_pytorch_tanh, relu)",
                     path, key, a);
}

/* BertConfig's keys, which RobertaConfig and MPNetConfig share; the
 * defaults of pad_token_id and type_vocab_size are the family's. */
static ia_status parse_bert_keys(const cJSON *c, const char *path, int pad_default, int types_default,
                                 ia_encoder_config *cfg)
{
    ia_status rc;
    if ((rc = get_int(c, path, "vocab_size", 1, &cfg->vocab_size, NULL)) ||
        (rc = get_int(c, path, "hidden_size", 1, &cfg->hidden_size, NULL)) ||
        (rc = get_int(c, path, "num_hidden_layers", 1, &cfg->n_layers, NULL)) ||
        (rc = get_int(c, path, "num_attention_heads", 1, &cfg->n_heads, NULL)) ||
        (rc = get_int(c, path, "intermediate_size", 1, &cfg->intermediate_size, NULL)) ||
        (rc = get_int(c, path, "max_position_embeddings", 1, &cfg->max_position, NULL)) ||
        (rc = get_int(c, path, "type_vocab_size", types_default ? 1 : 0, &cfg->type_vocab_size, &types_default)) ||
        (rc = get_int(c, path, "pad_token_id", 0, &cfg->pad_token_id, &pad_default)))
        return rc;
    if (cfg->hidden_size % cfg->n_heads)
        return ia__error(IA_ERR_FORMAT, "%s: hidden_size %d is not a multiple of num_attention_heads %d",
                         path, cfg->hidden_size, cfg->n_heads);
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(c, "layer_norm_eps");
    if (eps && (!cJSON_IsNumber(eps) || eps->valuedouble <= 0 || eps->valuedouble > 1))
        return ia__error(IA_ERR_FORMAT, "%s: \"layer_norm_eps\" must be a number in (0, 1]", path);
    cfg->layer_norm_eps = eps ? (float)eps->valuedouble : 1e-12f;
    cfg->pos_offset = cfg->rel_buckets = cfg->rel_max_distance = 0;
    const cJSON *pet = cJSON_GetObjectItemCaseSensitive(c, "position_embedding_type");
    if (cJSON_IsString(pet) && strcmp(pet->valuestring, "absolute"))
        return ia__error(IA_ERR_UNSUPPORTED, "%s: position_embedding_type \"%s\" (only \"absolute\")",
                         path, pet->valuestring);
    return parse_act(c, path, "hidden_act", cfg);
}

/* Positions numbered from padding_idx + 1 (RoBERTa's and MPNet's
 * embeddings): max_position becomes the longest usable sequence. */
static ia_status offset_positions(const char *path, int padding_idx, ia_encoder_config *cfg)
{
    cfg->pos_offset = padding_idx + 1;
    if (cfg->max_position <= cfg->pos_offset)
        return ia__error(IA_ERR_FORMAT, "%s: max_position_embeddings %d leaves no position after the %d before "
                         "the first", path, cfg->max_position, cfg->pos_offset);
    cfg->max_position -= cfg->pos_offset;
    return IA_OK;
}

static ia_status parse_config(const cJSON *c, const char *path, ia_encoder_config *cfg)
{
    return parse_bert_keys(c, path, 0, 2, cfg);
}

/* RobertaConfig (roberta, xlm-roberta, camembert): BERT's keys, pad 1,
 * positions after the padding index. */
static ia_status parse_config_roberta(const cJSON *c, const char *path, ia_encoder_config *cfg)
{
    ia_status rc = parse_bert_keys(c, path, 1, 1, cfg);
    return rc ? rc : offset_positions(path, cfg->pad_token_id, cfg);
}

/* DistilBertConfig's names; no token types, LayerNorm eps 1e-12. */
static ia_status parse_config_distil(const cJSON *c, const char *path, ia_encoder_config *cfg)
{
    static const int zero = 0;
    ia_status rc;
    if ((rc = get_int(c, path, "vocab_size", 1, &cfg->vocab_size, NULL)) ||
        (rc = get_int(c, path, "dim", 1, &cfg->hidden_size, NULL)) ||
        (rc = get_int(c, path, "n_layers", 1, &cfg->n_layers, NULL)) ||
        (rc = get_int(c, path, "n_heads", 1, &cfg->n_heads, NULL)) ||
        (rc = get_int(c, path, "hidden_dim", 1, &cfg->intermediate_size, NULL)) ||
        (rc = get_int(c, path, "max_position_embeddings", 1, &cfg->max_position, NULL)) ||
        (rc = get_int(c, path, "pad_token_id", 0, &cfg->pad_token_id, &zero)))
        return rc;
    if (cfg->hidden_size % cfg->n_heads)
        return ia__error(IA_ERR_FORMAT, "%s: dim %d is not a multiple of n_heads %d", path, cfg->hidden_size,
                         cfg->n_heads);
    cfg->type_vocab_size = 0;
    cfg->layer_norm_eps = 1e-12f;
    cfg->pos_offset = cfg->rel_buckets = cfg->rel_max_distance = 0;
    return parse_act(c, path, "activation", cfg);
}

/* MPNetConfig: BERT's keys less token types, plus the relative-position
 * buckets. */
static ia_status parse_config_mpnet(const cJSON *c, const char *path, ia_encoder_config *cfg)
{
    static const int buckets = MPNET_BUCKETS;
    ia_status rc = parse_bert_keys(c, path, 1, 0, cfg);
    if (!rc)
        rc = get_int(c, path, "relative_attention_num_buckets", MPNET_BUCKETS, &cfg->rel_buckets, &buckets);
    if (!rc)
        rc = offset_positions(path, MPNET_POS_OFFSET - 1, cfg);
    cfg->type_vocab_size = 0;
    cfg->rel_max_distance = MPNET_MAX_DISTANCE;
    return rc;
}

/* weights --------------------------------------------------------------- */

/* Q, K and V of a layer (base: its prefix) as one (3*hidden, hidden)
 * linear layer. */
static ia_status make_qkv(ia_wloader *ld, bert *m, const char *base, int h, const float *hint, bert_layer *L)
{
    const char *parts[3] = {m->names->q, m->names->k, m->names->v};
    float *w = ia__malloc((size_t)3 * h * h * sizeof(float));
    float *b = ia__malloc((size_t)3 * h * sizeof(float));
    ia_status rc = w && b ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory");
    for (int i = 0; i < 3 && !rc; i++) {
        char name[200];
        float *pw = NULL, *pb = NULL;
        snprintf(name, sizeof name, "%s.%s.weight", base, parts[i]);
        rc = ia__wl_fetch(ld, name, h, h, &pw);
        snprintf(name, sizeof name, "%s.%s.bias", base, parts[i]);
        if (!rc)
            rc = ia__wl_fetch(ld, name, h, 0, &pb);
        if (!rc) {
            memcpy(w + (size_t)i * h * h, pw, (size_t)h * h * sizeof(float));
            memcpy(b + (size_t)i * h, pb, (size_t)h * sizeof(float));
        }
        ia__free(pw);
        ia__free(pb);
    }
    if (!rc)
        rc = ia__weights_put_linear(&m->w, w, b, 3 * h, h, hint, &L->qkv_w, &L->qkv_b);
    ia__free(w);
    ia__free(b);
    return rc;
}

static void bert_free(void *state)
{
    bert *m = state;
    if (!m)
        return;
    ia__weights_release(&m->w);
    ia__free(m->layers);
    ia__free(m);
}

static ia_status load_named(const bert_names *nm, const ia_encoder_config *cfg, const ia_safetensors *st,
                            const ia_backend *be, void *bctx, void **state, size_t *n_params,
                            const char **weights_dtype)
{
    bert *m = ia__calloc(1, sizeof *m);
    if (!m)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    m->cfg = *cfg;
    m->names = nm;
    m->w.be = be;
    m->w.bctx = bctx;
    const int H = cfg->hidden_size, I = cfg->intermediate_size;
    ia_wloader ld = {.st = st, .prefix = ""};
    char probe[160];
    snprintf(probe, sizeof probe, "%s%s.weight", nm->head_prefix, nm->word);
    if (!ia__st_find(st, probe + strlen(nm->head_prefix)) && ia__st_find(st, probe))
        ld.prefix = nm->head_prefix;

    ia_status rc = IA_OK;
    m->layers = ia__calloc((size_t)cfg->n_layers, sizeof *m->layers);
    if (!m->layers)
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    /* The tables stay in their stored dtype (get_rows converts rows). */
    struct { const char *name, *part; ia_tensor *dst; int64_t d0, d1; bool stored; } emb[] = {
        {nm->word, "weight", &m->word, cfg->vocab_size, H, true},
        {nm->pos, "weight", &m->pos, (int64_t)cfg->max_position + cfg->pos_offset, H, true},
        {nm->type, "weight", &m->type, cfg->type_vocab_size, H, false},
        {nm->emb_ln, "weight", &m->emb_ln_g, H, 0, false},
        {nm->emb_ln, "bias", &m->emb_ln_b, H, 0, false},
        {nm->rel_bias, "weight", &m->rel, cfg->rel_buckets, cfg->n_heads, false},
    };
    for (size_t i = 0; i < IA_ARRAY_LEN(emb) && !rc; i++) {
        char name[200];
        snprintf(name, sizeof name, "%s.%s", emb[i].name ? emb[i].name : "", emb[i].part);
        if (emb[i].name) /* distilbert has no token types, only mpnet a relative bias */
            rc = ia__weights_load(&m->w, &ld, name, emb[i].d0, emb[i].d1, emb[i].stored, emb[i].dst);
    }
    if (!rc && nm->rel_bias)
        m->rel_used = ia__tensor_rows(&m->rel, 0, MPNET_BUCKETS);
    /* Hints for quantizing backends: the size of each channel entering
     * the QKV projection (the previous LayerNorm) and the FFN (LN 1). */
    float *hint_in = rc ? NULL : ia__weights_ln_hint(&m->w, &m->emb_ln_g, &m->emb_ln_b);

    for (int l = 0; l < cfg->n_layers && !rc; l++) {
        bert_layer *L = &m->layers[l];
        char base[160], name[200];
        snprintf(base, sizeof base, nm->layer, l);
        struct { const char *ln, *part; ia_tensor *dst; } lns[] = {
            {nm->ln1, "weight", &L->ln1_g},
            {nm->ln1, "bias", &L->ln1_b},
            {nm->ln2, "weight", &L->ln2_g},
            {nm->ln2, "bias", &L->ln2_b},
        };
        if (!rc)
            rc = make_qkv(&ld, m, base, H, hint_in, L);
        snprintf(name, sizeof name, "%s.%s", base, nm->out);
        if (!rc)
            rc = ia__weights_linear(&m->w, &ld, name, H, H, true, NULL, &L->out_w, &L->out_b);
        for (size_t i = 0; i < IA_ARRAY_LEN(lns) && !rc; i++) {
            snprintf(name, sizeof name, "%s.%s.%s", base, lns[i].ln, lns[i].part);
            rc = ia__weights_load(&m->w, &ld, name, H, 0, false, lns[i].dst);
        }
        float *hint_mid = rc ? NULL : ia__weights_ln_hint(&m->w, &L->ln1_g, &L->ln1_b);
        snprintf(name, sizeof name, "%s.%s", base, nm->ffn_in);
        if (!rc)
            rc = ia__weights_linear(&m->w, &ld, name, I, H, true, hint_mid, &L->ffn_in_w, &L->ffn_in_b);
        ia__free(hint_mid);
        snprintf(name, sizeof name, "%s.%s", base, nm->ffn_out);
        if (!rc)
            rc = ia__weights_linear(&m->w, &ld, name, H, I, true, NULL, &L->ffn_out_w, &L->ffn_out_b);
        ia__free(hint_in);
        hint_in = rc ? NULL : ia__weights_ln_hint(&m->w, &L->ln2_g, &L->ln2_b);
    }
    ia__free(hint_in);
    if (rc) {
        bert_free(m);
        return rc;
    }
    *state = m;
    *n_params = ld.n_params;
    *weights_dtype = ld.dtype ? ld.dtype : "F32";
    return IA_OK;
}

static ia_status bert_load(const ia_encoder_config *cfg, const ia_safetensors *st, const ia_backend *be,
                           void *bctx, void **state, size_t *n_params, const char **weights_dtype)
{
    return load_named(&bert_names_hf, cfg, st, be, bctx, state, n_params, weights_dtype);
}

static ia_status distilbert_load(const ia_encoder_config *cfg, const ia_safetensors *st, const ia_backend *be,
                                 void *bctx, void **state, size_t *n_params, const char **weights_dtype)
{
    return load_named(&distilbert_names, cfg, st, be, bctx, state, n_params, weights_dtype);
}

static ia_status roberta_load(const ia_encoder_config *cfg, const ia_safetensors *st, const ia_backend *be,
                              void *bctx, void **state, size_t *n_params, const char **weights_dtype)
{
    return load_named(&roberta_names, cfg, st, be, bctx, state, n_params, weights_dtype);
}

static ia_status mpnet_load(const ia_encoder_config *cfg, const ia_safetensors *st, const ia_backend *be,
                            void *bctx, void **state, size_t *n_params, const char **weights_dtype)
{
    return load_named(&mpnet_names, cfg, st, be, bctx, state, n_params, weights_dtype);
}

/* forward --------------------------------------------------------------- */

enum { EMB_NODES = 6, LAYER_NODES = 7, VIEWS = 14 };

/* A view of rows of the (T, 3H) QKV matrix as (head_dim, heads, T): Q at
 * column block 0, K at 1, V at 2. */
static ia_tensor qkv_view(float *qkv, int part, int64_t hd, int64_t heads, int64_t T)
{
    ia_tensor t = ia__tensor(IA_DTYPE_F32, hd, heads, T, 1, qkv + part * hd * heads);
    t.nb[2] = (size_t)(3 * hd * heads) * sizeof(float);
    t.nb[3] = t.nb[2] * (size_t)T;
    return t;
}

static ia_status bert_forward(const void *state, const int32_t *ids, const int32_t *types, const int *offsets,
                              int n_seqs, float *x)
{
    const bert *m = state;
    const struct ia_backend_i *op = &m->w.be->iface;
    void *bc = m->w.bctx;
    const int64_t H = m->cfg.hidden_size, I = m->cfg.intermediate_size, T = offsets[n_seqs];
    const int64_t heads = m->cfg.n_heads, hd = H / heads;
    const float eps = m->cfg.layer_norm_eps;

    if (!m->names->type)
        types = NULL; /* no token-type table: the types are not used (as DistilBERT) */
    /* Scratch in backend memory: qkv (T, 3H), ctx (T, H), ffn (T, I);
     * inputs: ids, positions, sequence offsets and the token types when
     * given (ia__encoder_inputs). */
    int32_t *in;
    ia_status rc = ia__encoder_inputs(&m->w, &m->cfg, "bert", ids, types, offsets, n_seqs, &in);
    if (rc)
        return rc;
    float *qkv = op->buf_alloc(bc, (size_t)(T * 3 * H) * sizeof(float));
    float *ctx = op->buf_alloc(bc, (size_t)(T * H) * sizeof(float));
    float *ffn = op->buf_alloc(bc, (size_t)(T * I) * sizeof(float));
    const int n_nodes = EMB_NODES + LAYER_NODES * m->cfg.n_layers;
    ia_node *g = ia__calloc((size_t)n_nodes, sizeof *g);
    ia_tensor *views = ia__calloc(VIEWS, sizeof *views);
    rc = qkv && ctx && ffn && g && views
       ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory for a batch of %lld tokens", (long long)T);
    if (!rc) {
        ia_tensor *v = views;
        ia_tensor *tid = v++, *tpos = v++, *toff = v++, *tx = v++, *tctx = v++, *tqkv = v++, *tffn = v++,
                  *tq = v++, *tk = v++, *tv = v++, *tatt = v++, *tproj = v++, *type0 = v++, *ttype = v++;
        *tid = ia__tensor(IA_DTYPE_I32, T, 1, 1, 1, in);
        *tpos = ia__tensor(IA_DTYPE_I32, T, 1, 1, 1, in + T);
        *toff = ia__tensor(IA_DTYPE_I32, n_seqs + 1, 1, 1, 1, in + 2 * T);
        *tx = ia__tensor(IA_DTYPE_F32, H, T, 1, 1, x);
        *tctx = ia__tensor(IA_DTYPE_F32, H, T, 1, 1, ctx);
        *tqkv = ia__tensor(IA_DTYPE_F32, 3 * H, T, 1, 1, qkv);
        *tffn = ia__tensor(IA_DTYPE_F32, I, T, 1, 1, ffn);
        *tq = qkv_view(qkv, 0, hd, heads, T);
        *tk = qkv_view(qkv, 1, hd, heads, T);
        *tv = qkv_view(qkv, 2, hd, heads, T);
        *tatt = ia__tensor(IA_DTYPE_F32, hd, heads, T, 1, ctx); /* = tctx, by heads */
        *tproj = ia__tensor(IA_DTYPE_F32, H, T, 1, 1, qkv);    /* qkv's memory, reused */
        if (m->names->type)
            *type0 = ia__tensor_rows(&m->type, 0, 1);
        *ttype = ia__tensor(IA_DTYPE_I32, T, 1, 1, 1, in + 2 * T + n_seqs + 1);
        ia_attn_params ap = {.mask = IA_MASK_NONE, .scale = 1.0f / sqrtf((float)hd)};
        if (m->names->rel_bias) {
            ap.bias = IA_ATTN_BIAS_REL_BUCKET;
            ap.num_buckets = MPNET_BUCKETS;
            ap.max_distance = m->cfg.rel_max_distance;
            ap.bias_table = &m->rel_used;
        }

        ia_node *n = g;
        /* x = LayerNorm(word[ids] + pos[positions] + type[types]); the
         * positions' and types' rows go through ctx (type 0 for all:
         * one row, broadcast) */
        *n++ = (ia_node){.op = IA_OP_GET_ROWS, .dst = tx, .src = {&m->word, tid}};
        *n++ = (ia_node){.op = IA_OP_GET_ROWS, .dst = tctx, .src = {&m->pos, tpos}};
        *n++ = (ia_node){.op = IA_OP_ADD, .dst = tx, .src = {tx, tctx}};
        if (types) {
            *n++ = (ia_node){.op = IA_OP_GET_ROWS, .dst = tctx, .src = {&m->type, ttype}};
            *n++ = (ia_node){.op = IA_OP_ADD, .dst = tx, .src = {tx, tctx}};
        } else if (m->names->type) {
            *n++ = (ia_node){.op = IA_OP_ADD, .dst = tx, .src = {tx, type0}};
        }
        *n++ = (ia_node){.op = IA_OP_LAYERNORM, .dst = tx, .src = {tx, NULL, &m->emb_ln_g, &m->emb_ln_b},
                         .p.eps = eps};
        for (int l = 0; l < m->cfg.n_layers; l++) {
            const bert_layer *L = &m->layers[l];
            *n++ = (ia_node){.op = IA_OP_MATMUL, .dst = tqkv, .src = {tx, &L->qkv_w, &L->qkv_b}};
            *n++ = (ia_node){.op = IA_OP_ATTENTION, .dst = tatt, .src = {tq, tk, tv, toff}, .p.attn = ap};
            *n++ = (ia_node){.op = IA_OP_MATMUL, .flags = IA_NODE_DST_SCRATCH, .dst = tproj,
                             .src = {tctx, &L->out_w, &L->out_b}};
            *n++ = (ia_node){.op = IA_OP_LAYERNORM, .dst = tx, .src = {tx, tproj, &L->ln1_g, &L->ln1_b},
                             .p.eps = eps};
            *n++ = (ia_node){.op = IA_OP_MATMUL, .flags = IA_NODE_DST_SCRATCH, .dst = tffn,
                             .src = {tx, &L->ffn_in_w, &L->ffn_in_b}, .p.act = m->cfg.act};
            *n++ = (ia_node){.op = IA_OP_MATMUL, .flags = IA_NODE_DST_SCRATCH, .dst = tctx,
                             .src = {tffn, &L->ffn_out_w, &L->ffn_out_b}};
            *n++ = (ia_node){.op = IA_OP_LAYERNORM, .dst = tx, .src = {tx, tctx, &L->ln2_g, &L->ln2_b},
                             .p.eps = eps};
        }
        rc = ia__graph_run(m->w.be, bc, g, (int)(n - g), NULL);
    }
    ia__free(views);
    ia__free(g);
    op->buf_free(bc, in);
    if (qkv)
        op->buf_free(bc, qkv);
    if (ctx)
        op->buf_free(bc, ctx);
    if (ffn)
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

static const ia_arch distilbert_arch = {
    .api_version = IA_ARCH_API_VERSION,
    .model_type = "distilbert",
    .iface = {
        .parse_config = parse_config_distil,
        .load = distilbert_load,
        .free = bert_free,
        .forward = bert_forward,
    },
};

const ia_arch *ia__arch_distilbert(void) { return &distilbert_arch; }

static const ia_arch mpnet_arch = {
    .api_version = IA_ARCH_API_VERSION,
    .model_type = "mpnet",
    .iface = {
        .parse_config = parse_config_mpnet,
        .load = mpnet_load,
        .free = bert_free,
        .forward = bert_forward,
    },
};

const ia_arch *ia__arch_mpnet(void) { return &mpnet_arch; }

/* RoBERTa and the models built on it: the same layers and configuration
 * (XLM-RoBERTa and CamemBERT differ only in their Unigram tokenizers). */
#define ROBERTA_ARCH(var, type)                                                                   \
    static const ia_arch var = {                                                                  \
        .api_version = IA_ARCH_API_VERSION,                                                       \
        .model_type = type,                                                                       \
        .iface = {.parse_config = parse_config_roberta, .load = roberta_load, .free = bert_free,   \
                  .forward = bert_forward},                                                       \
    }
ROBERTA_ARCH(roberta_arch, "roberta");
ROBERTA_ARCH(xlm_roberta_arch, "xlm-roberta");
ROBERTA_ARCH(camembert_arch, "camembert");

const ia_arch *ia__arch_roberta(void) { return &roberta_arch; }
const ia_arch *ia__arch_xlm_roberta(void) { return &xlm_roberta_arch; }
const ia_arch *ia__arch_camembert(void) { return &camembert_arch; }
