/*
 * ModernBERT encoders (model_type "modernbert": answerdotai/ModernBERT-*,
 * the embedders built on it), as Hugging Face's ModernBertModel computes
 * them with its eager attention: token embeddings + LayerNorm (no position
 * table), then pre-LN layers, x += Wo attn(rope(Wqkv LN(x))) and x += Wo
 * GeGLU(Wi LN(x)) (Wi's rows: the activated half first, then the gate;
 * layer 0 has no attention LayerNorm), and a final LayerNorm. Rotary
 * positions (pairs (i, i + head_dim / 2), as rotate_half) count from each
 * text's start. Every global_attn_every_n_layers-th layer from layer 0
 * attends over the whole text with the rope base global_rope_theta; the
 * others are local: keys at most local_attention / 2 positions away on
 * either side (IA_MASK_LOCAL), base local_rope_theta. LayerNorms, the
 * attention's and the MLP's linear layers carry biases only when
 * norm_bias, attention_bias and mlp_bias say so (all off in the released
 * models). Weight names are ModernBertModel's, with or without the
 * "model." prefix of its task heads (ModernBertForMaskedLM). Built as one
 * graph of engine-core ops per forward, like bert.c.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/arch-impl.h"
#include "model/weights-impl.h"

typedef struct mb_layer {
    ia_tensor attn_norm_g, attn_norm_b; /* (hidden); none in layer 0 */
    ia_tensor mlp_norm_g, mlp_norm_b;   /* (hidden) */
    ia_tensor qkv_w, qkv_b;             /* (3 hidden, hidden): Q, K, V rows, each heads x head_dim */
    ia_tensor out_w, out_b;             /* (hidden, hidden) */
    ia_tensor wi_w, wi_b;               /* (2 intermediate, hidden): activated half, then gate half */
    ia_tensor wo_w, wo_b;               /* (hidden, intermediate) */
    bool local;                         /* sliding-window attention, local rope base */
} mb_layer;

typedef struct modernbert {
    ia_encoder_config cfg;
    ia_weights w;
    ia_tensor tok;                  /* (hidden, vocab), as stored */
    ia_tensor emb_norm_g, emb_norm_b, final_norm_g, final_norm_b; /* (hidden) */
    mb_layer *layers;
} modernbert;

/* config.json ----------------------------------------------------------- */

static ia_status parse_config(const cJSON *c, const char *path, ia_encoder_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    ia_status rc = ia__cfg_refuse_cls_head(c, path, "ModernBERT", "head.dense, head.norm, classifier_pooling");
    if (rc)
        return rc;
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(c, "rope_scaling");
    if (rs && !cJSON_IsNull(rs))
        return ia__error(IA_ERR_UNSUPPORTED, "%s: \"rope_scaling\" is not supported for modernbert", path);
    double eps, theta, theta_local;
    if ((rc = ia__cfg_int(c, path, "vocab_size", 1, 1 << 24, 0, &cfg->vocab_size)) ||
        (rc = ia__cfg_int(c, path, "hidden_size", 1, 1 << 20, 0, &cfg->hidden_size)) ||
        (rc = ia__cfg_int(c, path, "num_hidden_layers", 1, 1024, 0, &cfg->n_layers)) ||
        (rc = ia__cfg_int(c, path, "num_attention_heads", 1, 4096, 0, &cfg->n_heads)) ||
        (rc = ia__cfg_int(c, path, "intermediate_size", 1, 1 << 22, 0, &cfg->intermediate_size)) ||
        (rc = ia__cfg_int(c, path, "max_position_embeddings", 1, 1 << 24, 8192, &cfg->max_position)) ||
        (rc = ia__cfg_int(c, path, "local_attention", 0, 1 << 24, 128, &cfg->local_window)) ||
        (rc = ia__cfg_int(c, path, "global_attn_every_n_layers", 1, 1024, 3, &cfg->global_every)) ||
        (rc = ia__cfg_num(c, path, "norm_eps", 1, 1e-5, &eps)) ||
        (rc = ia__cfg_num(c, path, "global_rope_theta", 1e12, 160000.0, &theta)) ||
        (rc = ia__cfg_bool(c, path, "norm_bias", false, &cfg->norm_bias)) ||
        (rc = ia__cfg_bool(c, path, "attention_bias", false, &cfg->attn_bias)) ||
        (rc = ia__cfg_bool(c, path, "mlp_bias", false, &cfg->mlp_bias)))
        return rc;
    /* local_rope_theta null: the local layers keep the global base */
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(c, "local_rope_theta");
    if ((rc = ia__cfg_num(c, path, "local_rope_theta", 1e12, lt && cJSON_IsNull(lt) ? theta : 10000.0,
                          &theta_local)))
        return rc;
    cfg->layer_norm_eps = (float)eps;
    cfg->rope_theta = (float)theta;
    cfg->rope_theta_local = (float)theta_local;
    if (cfg->hidden_size % cfg->n_heads || (cfg->hidden_size / cfg->n_heads) % 2)
        return ia__error(IA_ERR_FORMAT, "%s: hidden_size %d over num_attention_heads %d must make an even head size",
                         path, cfg->hidden_size, cfg->n_heads);
    cfg->local_window /= 2; /* HF's window: (local_attention // 2) either side */
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(c, "hidden_activation");
    const char *an = cJSON_IsString(act) ? act->valuestring : "gelu";
    static const struct { const char *name; ia_act act; } acts[] = {
        {"gelu", IA_ACT_GELU}, {"gelu_new", IA_ACT_GELU_TANH}, {"gelu_pytorch_tanh", IA_ACT_GELU_TANH},
        {"relu", IA_ACT_RELU}, {"silu", IA_ACT_SILU},
    };
    for (size_t i = 0; i < IA_ARRAY_LEN(acts); i++)
        if (!strcmp(an, acts[i].name)) {
            cfg->act = acts[i].act;
            snprintf(cfg->act_name, sizeof cfg->act_name, "%s", an);
        }
    if (!cfg->act_name[0])
        return ia__error(IA_ERR_UNSUPPORTED, "%s: hidden_activation \"%s\" (supported: gelu, gelu_new, "
                         "gelu_pytorch_tanh, relu, silu)", path, an);
    cfg->pad_token_id = -1; /* no positions numbered from a padding id */
    /* beyond what model.c counts for an encoder (5 hidden + intermediate
     * per token): Wi's output, 2 intermediate */
    cfg->extra_per_token = 2 * cfg->intermediate_size;
    return IA_OK;
}

/* weights --------------------------------------------------------------- */

static void mb_free(void *state)
{
    modernbert *m = state;
    if (!m)
        return;
    ia__weights_release(&m->w);
    ia__free(m->layers);
    ia__free(m);
}

/* A LayerNorm `name` (weight, and bias when the config has them). */
static ia_status load_norm(modernbert *m, ia_wloader *ld, const char *name, ia_tensor *g, ia_tensor *b)
{
    char n[200];
    snprintf(n, sizeof n, "%s.weight", name);
    ia_status rc = ia__weights_load(&m->w, ld, n, m->cfg.hidden_size, 0, false, g);
    snprintf(n, sizeof n, "%s.bias", name);
    if (!rc && m->cfg.norm_bias)
        rc = ia__weights_load(&m->w, ld, n, m->cfg.hidden_size, 0, false, b);
    return rc;
}

static ia_status mb_load(const ia_encoder_config *cfg, const ia_safetensors *st, const ia_backend *be, void *bctx,
                         void **state, size_t *n_params, const char **weights_dtype)
{
    modernbert *m = ia__calloc(1, sizeof *m);
    if (!m)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    m->cfg = *cfg;
    m->w.be = be;
    m->w.bctx = bctx;
    const int H = cfg->hidden_size, I = cfg->intermediate_size;
    ia_wloader ld = {.st = st, .prefix = ""};
    if (!ia__wl_has(&ld, "embeddings.tok_embeddings.weight"))
        ld.prefix = "model."; /* ModernBertForMaskedLM and the other task heads */
    ia_status rc = (m->layers = ia__calloc((size_t)cfg->n_layers, sizeof *m->layers))
                 ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory");
    if (!rc) /* the table stays in its stored dtype (get_rows converts rows) */
        rc = ia__weights_load(&m->w, &ld, "embeddings.tok_embeddings.weight", cfg->vocab_size, H, true, &m->tok);
    if (!rc)
        rc = load_norm(m, &ld, "embeddings.norm", &m->emb_norm_g, &m->emb_norm_b);
    if (!rc)
        rc = load_norm(m, &ld, "final_norm", &m->final_norm_g, &m->final_norm_b);
    /* Hints for quantizing backends: the size of each channel entering
     * the QKV projection and Wi (the LayerNorm before each). */
    float *hint_in = rc ? NULL : ia__weights_ln_hint(&m->w, &m->emb_norm_g, cfg->norm_bias ? &m->emb_norm_b : NULL);
    for (int l = 0; l < cfg->n_layers && !rc; l++) {
        mb_layer *L = &m->layers[l];
        char name[200];
        L->local = l % cfg->global_every != 0;
        if (l > 0) {
            snprintf(name, sizeof name, "layers.%d.attn_norm", l);
            rc = load_norm(m, &ld, name, &L->attn_norm_g, &L->attn_norm_b);
            ia__free(hint_in);
            hint_in = rc ? NULL : ia__weights_ln_hint(&m->w, &L->attn_norm_g, cfg->norm_bias ? &L->attn_norm_b : NULL);
        }
        snprintf(name, sizeof name, "layers.%d.attn.Wqkv", l);
        if (!rc)
            rc = ia__weights_linear(&m->w, &ld, name, 3 * H, H, cfg->attn_bias, hint_in, &L->qkv_w, &L->qkv_b);
        snprintf(name, sizeof name, "layers.%d.attn.Wo", l);
        if (!rc)
            rc = ia__weights_linear(&m->w, &ld, name, H, H, cfg->attn_bias, NULL, &L->out_w, &L->out_b);
        snprintf(name, sizeof name, "layers.%d.mlp_norm", l);
        if (!rc)
            rc = load_norm(m, &ld, name, &L->mlp_norm_g, &L->mlp_norm_b);
        float *hint_mid =
            rc ? NULL : ia__weights_ln_hint(&m->w, &L->mlp_norm_g, cfg->norm_bias ? &L->mlp_norm_b : NULL);
        snprintf(name, sizeof name, "layers.%d.mlp.Wi", l);
        if (!rc)
            rc = ia__weights_linear(&m->w, &ld, name, 2 * I, H, cfg->mlp_bias, hint_mid, &L->wi_w, &L->wi_b);
        ia__free(hint_mid);
        snprintf(name, sizeof name, "layers.%d.mlp.Wo", l);
        if (!rc)
            rc = ia__weights_linear(&m->w, &ld, name, H, I, cfg->mlp_bias, NULL, &L->wo_w, &L->wo_b);
    }
    ia__free(hint_in);
    if (!rc && ia__wl_has(&ld, "layers.0.attn_norm.weight"))
        rc = ia__error(IA_ERR_FORMAT, "weights: '%slayers.0.attn_norm.weight' is present, but ModernBERT's layer 0 "
                       "has no attention LayerNorm", ld.prefix);
    if (rc) {
        mb_free(m);
        return rc;
    }
    *state = m;
    *n_params = ld.n_params;
    *weights_dtype = ld.dtype ? ld.dtype : "F32";
    return IA_OK;
}

/* forward --------------------------------------------------------------- */

enum { MB_EMB_NODES = 2, MB_LAYER_NODES = 12, MB_END_NODES = 1, MB_VIEWS = 16 };

/* A view of the (T, 3H) QKV matrix's rows as (head_dim, heads, T): Q at
 * column block 0, K at 1, V at 2. */
static ia_tensor qkv_view(float *qkv, int part, int64_t hd, int64_t heads, int64_t T)
{
    ia_tensor t = ia__tensor(IA_DTYPE_F32, hd, heads, T, 1, qkv + part * hd * heads);
    t.nb[2] = (size_t)(3 * hd * heads) * sizeof(float);
    t.nb[3] = t.nb[2] * (size_t)T;
    return t;
}

/* The bias operand of an optional bias. */
static const ia_tensor *opt(const ia_tensor *b, bool present) { return present ? b : NULL; }

static ia_status mb_forward(const void *state, const int32_t *ids, const int32_t *types, const int *offsets,
                            int n_seqs, float *x)
{
    (void)types; /* no token types */
    const modernbert *m = state;
    const ia_encoder_config *c = &m->cfg;
    const struct ia_backend_i *op = &m->w.be->iface;
    void *bc = m->w.bctx;
    const int64_t H = c->hidden_size, I = c->intermediate_size, T = offsets[n_seqs];
    const int64_t heads = c->n_heads, hd = H / heads;
    const float eps = c->layer_norm_eps;

    /* Scratch in backend memory: qkv (T, 3H), ctx (T, H) (the attention's
     * output, then the MLP's LayerNorm), proj (T, H), wi (T, 2I), glu
     * (T, I); inputs: ids, positions, sequence offsets (ia__encoder_inputs). */
    int32_t *in;
    ia_status rc = ia__encoder_inputs(&m->w, c, "modernbert", ids, NULL, offsets, n_seqs, &in);
    if (rc)
        return rc;
    float *qkv = op->buf_alloc(bc, (size_t)(T * 3 * H) * sizeof(float));
    float *ctx = op->buf_alloc(bc, (size_t)(T * H) * sizeof(float));
    float *proj = op->buf_alloc(bc, (size_t)(T * H) * sizeof(float));
    float *wi = op->buf_alloc(bc, (size_t)(T * 2 * I) * sizeof(float));
    float *glu = op->buf_alloc(bc, (size_t)(T * I) * sizeof(float));
    const int n_nodes = MB_EMB_NODES + MB_LAYER_NODES * c->n_layers + MB_END_NODES;
    ia_node *g = ia__calloc((size_t)n_nodes, sizeof *g);
    ia_tensor *views = ia__calloc(MB_VIEWS, sizeof *views);
    rc = qkv && ctx && proj && wi && glu && g && views
       ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory for a batch of %lld tokens", (long long)T);
    if (!rc) {
        ia_tensor *v = views;
        ia_tensor *tid = v++, *tpos = v++, *toff = v++, *tx = v++, *tctx = v++, *tqkv = v++, *tq = v++, *tk = v++,
                  *tv = v++, *tatt = v++, *tproj = v++, *twi = v++, *tglu = v++;
        *tid = ia__tensor(IA_DTYPE_I32, T, 1, 1, 1, in);
        *tpos = ia__tensor(IA_DTYPE_I32, T, 1, 1, 1, in + T);
        *toff = ia__tensor(IA_DTYPE_I32, n_seqs + 1, 1, 1, 1, in + 2 * T);
        *tx = ia__tensor(IA_DTYPE_F32, H, T, 1, 1, x);
        *tctx = ia__tensor(IA_DTYPE_F32, H, T, 1, 1, ctx);
        *tqkv = ia__tensor(IA_DTYPE_F32, 3 * H, T, 1, 1, qkv);
        *tq = qkv_view(qkv, 0, hd, heads, T);
        *tk = qkv_view(qkv, 1, hd, heads, T);
        *tv = qkv_view(qkv, 2, hd, heads, T);
        *tatt = ia__tensor(IA_DTYPE_F32, hd, heads, T, 1, ctx); /* = tctx, by heads */
        *tproj = ia__tensor(IA_DTYPE_F32, H, T, 1, 1, proj);
        *twi = ia__tensor(IA_DTYPE_F32, 2 * I, T, 1, 1, wi);
        *tglu = ia__tensor(IA_DTYPE_F32, I, T, 1, 1, glu);
        const float scale = 1.0f / sqrtf((float)hd);

        ia_node *n = g;
        const bool nb = c->norm_bias, ab = c->attn_bias, mb = c->mlp_bias;
        *n++ = (ia_node){.op = IA_OP_GET_ROWS, .dst = tx, .src = {&m->tok, tid}};
        *n++ = (ia_node){.op = IA_OP_LAYERNORM, .dst = tx,
                         .src = {tx, NULL, &m->emb_norm_g, opt(&m->emb_norm_b, nb)}, .p.eps = eps};
        for (int l = 0; l < c->n_layers; l++) {
            const mb_layer *L = &m->layers[l];
            const ia_rope_params rope = {.mode = IA_ROPE_NEOX, .n_dims = (int)hd,
                                         .theta = L->local ? c->rope_theta_local : c->rope_theta};
            const ia_attn_params ap = {.mask = L->local ? IA_MASK_LOCAL : IA_MASK_NONE, .window = c->local_window,
                                       .scale = scale};
            const ia_tensor *xin = tx; /* layer 0: no attention LayerNorm */
            if (l > 0) {
                *n++ = (ia_node){.op = IA_OP_LAYERNORM, .dst = tctx,
                                 .src = {tx, NULL, &L->attn_norm_g, opt(&L->attn_norm_b, nb)}, .p.eps = eps};
                xin = tctx;
            }
            *n++ = (ia_node){.op = IA_OP_MATMUL, .dst = tqkv, .src = {xin, &L->qkv_w, opt(&L->qkv_b, ab)}};
            *n++ = (ia_node){.op = IA_OP_ROPE, .dst = tq, .src = {tq, tpos}, .p.rope = rope};
            *n++ = (ia_node){.op = IA_OP_ROPE, .dst = tk, .src = {tk, tpos}, .p.rope = rope};
            *n++ = (ia_node){.op = IA_OP_ATTENTION, .dst = tatt, .src = {tq, tk, tv, toff}, .p.attn = ap};
            *n++ = (ia_node){.op = IA_OP_MATMUL, .dst = tproj, .src = {tctx, &L->out_w, opt(&L->out_b, ab)}};
            *n++ = (ia_node){.op = IA_OP_ADD, .dst = tx, .src = {tx, tproj}};
            *n++ = (ia_node){.op = IA_OP_LAYERNORM, .dst = tctx,
                             .src = {tx, NULL, &L->mlp_norm_g, opt(&L->mlp_norm_b, nb)}, .p.eps = eps};
            *n++ = (ia_node){.op = IA_OP_MATMUL, .dst = twi, .src = {tctx, &L->wi_w, opt(&L->wi_b, mb)}};
            *n++ = (ia_node){.op = IA_OP_GLU, .dst = tglu, .src = {twi}, .p.act = c->act};
            *n++ = (ia_node){.op = IA_OP_MATMUL, .dst = tproj, .src = {tglu, &L->wo_w, opt(&L->wo_b, mb)}};
            *n++ = (ia_node){.op = IA_OP_ADD, .dst = tx, .src = {tx, tproj}};
        }
        *n++ = (ia_node){.op = IA_OP_LAYERNORM, .dst = tx,
                         .src = {tx, NULL, &m->final_norm_g, opt(&m->final_norm_b, nb)}, .p.eps = eps};
        rc = ia__graph_run(m->w.be, bc, g, (int)(n - g), NULL);
    }
    ia__free(views);
    ia__free(g);
    void *bufs[] = {in, qkv, ctx, proj, wi, glu};
    for (size_t i = 0; i < IA_ARRAY_LEN(bufs); i++)
        if (bufs[i])
            op->buf_free(bc, bufs[i]);
    return rc;
}

static const ia_arch modernbert_arch = {
    .api_version = IA_ARCH_API_VERSION,
    .model_type = "modernbert",
    .iface = {
        .parse_config = parse_config,
        .load = mb_load,
        .free = mb_free,
        .forward = mb_forward,
    },
};

const ia_arch *ia__arch_modernbert(void) { return &modernbert_arch; }
