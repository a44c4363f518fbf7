/*
 * Post-LN BERT-like encoders with a gated feed-forward network and no
 * position table, three "remote code" families of the Hugging Face hub
 * that share one graph here:
 *
 * - "nomic_bert" (nomic-ai/nomic-embed-text-v1*, nomic-bert-2048;
 *   contrastors' modeling_hf_nomic_bert.py): GPT-2 config names (n_embd,
 *   n_layer, n_head, n_inner), rotary positions on rotary_emb_fraction of
 *   each head (base rotary_emb_base), a fused Wqkv, SwiGLU y = fc11(x) *
 *   act(fc12(x)) (or plain fc1 -> GELU -> fc2), biases only as
 *   qkv_proj_bias / mlp_fc1_bias / mlp_fc2_bias say (all off in the
 *   released models), the inner size rounded up to a multiple of 256;
 * - "new" (Alibaba-NLP/gte-*-en-v1.5, gte-multilingual-base; new-impl's
 *   modeling.py): rotary positions with GTE's fixed NTK scaling
 *   (rope_scaling {"type": "ntk", "factor", "mixed_b"}), a fused
 *   qkv_proj (or q/k/v_proj), up_gate_proj [up | gate] without bias, a
 *   down_proj with bias, LayerNorm or RMSNorm (layer_norm_type);
 * - Jina BERT v2 (jinaai/jina-embeddings-v2-*; jina-bert-implementation's
 *   modeling_bert.py), whose config.json says model_type "bert" with
 *   position_embedding_type "alibi": BERT's attention names, symmetric
 *   ALiBi biases (-slope_h |i - j|, the slopes of the ALiBi paper) instead
 *   of positions, gated_layers [gate | up] without bias (GeGLU or ReGLU),
 *   wo with bias.
 *
 * All three: x = LayerNorm(word[ids] + type[types]); per layer x =
 * Norm1(x + Wo attn(Wqkv x)), x = Norm2(x + Wdown ffn(x)); token types
 * when the config has a table (type 0 for single texts). Weight names are
 * the upstream checkpoints', with or without the prefix of their task
 * heads ("bert.", "new."). Built as one graph of engine-core ops per
 * forward, like bert.c.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/arch-impl.h"
#include "model/weights-impl.h"

/* How a family names its tensors (under the layer prefix `layer`, "%d"
 * the layer index). Linear layers assembled from parts stacked in rows:
 * the attention's Q, K, V (one fused part, or three), the feed-forward
 * input [gate | up] (one fused part, two, or the plain fc1). */
typedef struct gb_names {
    const char *prefixes[3];          /* tried in order; NULL ends */
    const char *word, *type, *emb_norm;
    const char *layer;
    const char *qkv[3], *qkv_split[3]; /* fused; or its parts (NULL: none) */
    const char *out, *norm1;
    const char *ffn_in[2];            /* gated: the gate's rows first, then the up rows */
    bool ffn_in_swapped;              /* one fused part stored [up | gate] (GTE) */
    const char *ffn_plain, *down, *norm2;
    const char *unsupported[2];       /* a layer-0 tensor of a variant this file does not run */
} gb_names;

typedef struct gb_layer {
    ia_tensor qkv_w, qkv_b;     /* (3 hidden, hidden): Q, K, V rows, each heads x head_dim */
    ia_tensor out_w, out_b;     /* (hidden, hidden) */
    ia_tensor norm1_g, norm1_b; /* (hidden); no beta under RMSNorm */
    ia_tensor in_w, in_b;       /* (2 inner, hidden) [gate | up], or (inner, hidden) plain */
    ia_tensor down_w, down_b;   /* (hidden, inner) */
    ia_tensor norm2_g, norm2_b;
} gb_layer;

typedef struct gated_bert {
    ia_encoder_config cfg;
    const gb_names *names;
    ia_weights w;
    ia_tensor word, type, type0;    /* (hidden, vocab), (hidden, types) as stored; type 0's row */
    ia_tensor emb_norm_g, emb_norm_b;
    ia_tensor rope_ff;              /* (rope_dims / 2) frequency divisors (NTK), or none */
    ia_tensor slopes;               /* (heads) ALiBi slopes */
    bool has_rope_ff;
    gb_layer *layers;
} gated_bert;

/* config.json ----------------------------------------------------------- */

/* A setting this file does not run, refused by name unless absent, null,
 * false or equal to `ok` (a string, or NULL). */
static ia_status refuse_set(const cJSON *c, const char *path, const char *key, const char *ok, const char *why)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v) || (ok && cJSON_IsString(v) && !strcmp(v->valuestring, ok)))
        return IA_OK;
    return ia__error(IA_ERR_UNSUPPORTED, "%s: \"%s\" is set (%s): not supported", path, key, why);
}

static ia_status set_act(const char *path, const char *key, const char *name, ia_encoder_config *cfg)
{
    static const struct { const char *name; ia_act act; } acts[] = {
        {"gelu", IA_ACT_GELU}, {"gelu_new", IA_ACT_GELU_TANH}, {"gelu_pytorch_tanh", IA_ACT_GELU_TANH},
        {"relu", IA_ACT_RELU}, {"silu", IA_ACT_SILU}, {"swish", IA_ACT_SILU},
    };
    for (size_t i = 0; i < IA_ARRAY_LEN(acts); i++)
        if (!strcmp(name, acts[i].name)) {
            cfg->act = acts[i].act;
            snprintf(cfg->act_name, sizeof cfg->act_name, "%s", name);
            return IA_OK;
        }
    return ia__error(IA_ERR_UNSUPPORTED, "%s: %s \"%s\" (supported: gelu, gelu_new, gelu_pytorch_tanh, relu, silu)",
                     path, key, name);
}

/* Their classification heads (GTE's rerankers' pooler and classifier,
 * Jina's) are refused rather than read as BERT's. */
#define NO_HEAD_REFERENCE "no reference checks them"

static ia_status check_heads(const char *path, const char *hk, const char *nk, ia_encoder_config *cfg)
{
    if (cfg->hidden_size % cfg->n_heads)
        return ia__error(IA_ERR_FORMAT, "%s: %s %d is not a multiple of %s %d", path, hk, cfg->hidden_size, nk,
                         cfg->n_heads);
    cfg->pad_token_id = -1; /* no positions numbered from a padding id */
    /* beyond what model.c counts for an encoder (5 hidden + intermediate
     * per token): the gated input, 2 intermediate */
    cfg->extra_per_token = 2 * cfg->intermediate_size;
    return IA_OK;
}

/* NomicBertConfig (a GPT2Config): the GPT-2 names and defaults. */
static ia_status parse_nomic(const cJSON *c, const char *path, ia_encoder_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    ia_status rc;
    int pad_multiple = 1, n_inner = 0, max_trained = 0;
    double fraction = 0, base = 0, eps = 0, scaling = 0;
    bool interleaved = false, qkv_bias = true, fc1_bias = true, fc2_bias = true;
    if ((rc = ia__cfg_refuse_cls_head(c, path, "NomicBERT", NO_HEAD_REFERENCE)) ||
        (rc = refuse_set(c, path, "prenorm", NULL, "NomicBERT's pre-LN blocks")) ||
        (rc = refuse_set(c, path, "parallel_block", NULL, "NomicBERT's parallel blocks")) ||
        (rc = refuse_set(c, path, "causal", NULL, "causal attention")) ||
        (rc = refuse_set(c, path, "rotary_emb_scale_base", NULL, "xPos scaling")) ||
        (rc = refuse_set(c, path, "norm_mlp", NULL, "a LayerNorm inside the MLP")))
        return rc;
    if ((rc = ia__cfg_int(c, path, "vocab_size", 1, 1 << 24, 50257, &cfg->vocab_size)) ||
        (rc = ia__cfg_int(c, path, "n_embd", 1, 1 << 20, 768, &cfg->hidden_size)) ||
        (rc = ia__cfg_int(c, path, "n_layer", 1, 1024, 12, &cfg->n_layers)) ||
        (rc = ia__cfg_int(c, path, "n_head", 1, 4096, 12, &cfg->n_heads)) ||
        (rc = ia__cfg_int(c, path, "n_inner", 1, 1 << 22, 0, &n_inner)) ||
        (rc = ia__cfg_int(c, path, "n_positions", 1, 1 << 24, 1024, &cfg->max_position)) ||
        (rc = ia__cfg_int(c, path, "type_vocab_size", 0, 1 << 16, 2, &cfg->type_vocab_size)) ||
        (rc = ia__cfg_int(c, path, "pad_vocab_size_multiple", 1, 1 << 16, 1, &pad_multiple)) ||
        (rc = ia__cfg_int(c, path, "max_trained_positions", 1, 1 << 24, 2048, &max_trained)) ||
        (rc = ia__cfg_num(c, path, "layer_norm_epsilon", 1, 1e-5, &eps)) ||
        (rc = ia__cfg_num(c, path, "rotary_emb_base", 1e12, 10000.0, &base)) ||
        (rc = ia__cfg_num(c, path, "rotary_scaling_factor", 1e6, 0, &scaling)) ||
        (rc = ia__cfg_bool(c, path, "rotary_emb_interleaved", false, &interleaved)) ||
        (rc = ia__cfg_bool(c, path, "qkv_proj_bias", true, &qkv_bias)) ||
        (rc = ia__cfg_bool(c, path, "mlp_fc1_bias", true, &fc1_bias)) ||
        (rc = ia__cfg_bool(c, path, "mlp_fc2_bias", true, &fc2_bias)))
        return rc;
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(c, "rotary_emb_fraction");
    if (fr && !cJSON_IsNull(fr) && (!cJSON_IsNumber(fr) || fr->valuedouble < 0 || fr->valuedouble > 1))
        return ia__error(IA_ERR_FORMAT, "%s: \"rotary_emb_fraction\" must be a number in [0, 1]", path);
    fraction = cJSON_IsNumber(fr) ? fr->valuedouble : 0.0;
    const cJSON *kv = cJSON_GetObjectItemCaseSensitive(c, "num_heads_kv");
    if (kv && !cJSON_IsNull(kv) && (!cJSON_IsNumber(kv) || (int)kv->valuedouble != cfg->n_heads))
        return ia__error(IA_ERR_UNSUPPORTED, "%s: \"num_heads_kv\" other than n_head is not supported", path);
    if ((rc = check_heads(path, "n_embd", "n_head", cfg)))
        return rc;
    const int hd = cfg->hidden_size / cfg->n_heads;
    const double dims = hd * fraction;
    if (!(dims > 0) || dims != (double)(int)dims || (int)dims % 2)
        return ia__error(IA_ERR_UNSUPPORTED, "%s: \"rotary_emb_fraction\" %g of the head size %d must make an even "
                         "number of rotary dimensions (learned positions, fraction 0, are not supported)",
                         path, fraction, hd);
    cfg->rope_dims = (int)dims;
    cfg->rope_theta = (float)base;
    cfg->rope_interleaved = interleaved;
    cfg->layer_norm_eps = (float)eps;
    cfg->attn_bias = qkv_bias, cfg->ffn_in_bias = fc1_bias, cfg->ffn_out_bias = fc2_bias;
    /* NomicBertModel pads the vocabulary (and its table) to the multiple */
    cfg->vocab_size = (cfg->vocab_size + pad_multiple - 1) / pad_multiple * pad_multiple;
    /* the dynamic NTK rope (rotary_scaling_factor) changes the base only
     * for texts past max_trained_positions: texts stop there */
    if (scaling > 0 && cfg->max_position > max_trained)
        cfg->max_position = max_trained;
    const cJSON *af = cJSON_GetObjectItemCaseSensitive(c, "activation_function");
    const char *an = cJSON_IsString(af) ? af->valuestring : "gelu_new";
    /* NomciBertGatedMLP: the inner size (n_inner, else 8/3 n_embd) rounded
     * up to 256; NomicBertMLP: n_inner, else 4 n_embd. Every GELU there is
     * the exact one (the block passes F.gelu whatever the name). */
    if (!strcmp(an, "swiglu") || !strcmp(an, "geglu")) {
        cfg->ffn_gated = true;
        int inner = n_inner ? n_inner : (int)(8.0 * cfg->hidden_size / 3);
        cfg->intermediate_size = (inner + 255) / 256 * 256;
        rc = set_act(path, "activation_function", !strcmp(an, "swiglu") ? "silu" : "gelu", cfg);
    } else if (!strcmp(an, "gelu") || !strcmp(an, "gelu_new") || !strcmp(an, "gelu_fast") ||
               !strcmp(an, "gelu_pytorch_tanh")) {
        cfg->intermediate_size = n_inner ? n_inner : 4 * cfg->hidden_size;
        rc = set_act(path, "activation_function", "gelu", cfg);
    } else {
        return ia__error(IA_ERR_UNSUPPORTED, "%s: activation_function \"%s\" (supported: swiglu, geglu, gelu, "
                         "gelu_new, gelu_fast, gelu_pytorch_tanh; glu's sigmoid gate is not)", path, an);
    }
    if (!rc)
        snprintf(cfg->act_name, sizeof cfg->act_name, "%s", an);
    cfg->extra_per_token = 2 * cfg->intermediate_size;
    return rc;
}

/* NewConfig (GTE's "new"). */
static ia_status parse_new(const cJSON *c, const char *path, ia_encoder_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    ia_status rc;
    double eps = 0, base = 0;
    if ((rc = ia__cfg_refuse_cls_head(c, path, "GTE (new)", NO_HEAD_REFERENCE)))
        return rc;
    const cJSON *pet = cJSON_GetObjectItemCaseSensitive(c, "position_embedding_type");
    if (cJSON_IsString(pet) && strcmp(pet->valuestring, "rope"))
        return ia__error(IA_ERR_UNSUPPORTED, "%s: position_embedding_type \"%s\" (only \"rope\")", path,
                         pet->valuestring);
    if ((rc = refuse_set(c, path, "logn_attention_scale", NULL, "the log-n attention scale")))
        return rc;
    if ((rc = ia__cfg_int(c, path, "vocab_size", 1, 1 << 24, 30528, &cfg->vocab_size)) ||
        (rc = ia__cfg_int(c, path, "hidden_size", 1, 1 << 20, 768, &cfg->hidden_size)) ||
        (rc = ia__cfg_int(c, path, "num_hidden_layers", 1, 1024, 12, &cfg->n_layers)) ||
        (rc = ia__cfg_int(c, path, "num_attention_heads", 1, 4096, 12, &cfg->n_heads)) ||
        (rc = ia__cfg_int(c, path, "intermediate_size", 1, 1 << 22, 3072, &cfg->intermediate_size)) ||
        (rc = ia__cfg_int(c, path, "max_position_embeddings", 1, 1 << 24, 2048, &cfg->max_position)) ||
        (rc = ia__cfg_int(c, path, "type_vocab_size", 0, 1 << 16, 1, &cfg->type_vocab_size)) ||
        (rc = ia__cfg_num(c, path, "layer_norm_eps", 1, 1e-12, &eps)) ||
        (rc = ia__cfg_num(c, path, "rope_theta", 1e12, 10000.0, &base)))
        return rc;
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(c, "layer_norm_type");
    if (lt && !cJSON_IsNull(lt)) {
        if (!cJSON_IsString(lt) || (strcmp(lt->valuestring, "layer_norm") && strcmp(lt->valuestring, "rms_norm")))
            return ia__error(IA_ERR_UNSUPPORTED, "%s: layer_norm_type must be \"layer_norm\" or \"rms_norm\"", path);
        cfg->rms_norm = !strcmp(lt->valuestring, "rms_norm");
    }
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(c, "rope_scaling");
    if (rs && !cJSON_IsNull(rs)) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(rs, "type");
        double factor = 0, mixed_b = 0;
        if (!cJSON_IsObject(rs) || !cJSON_IsString(ty) || strcmp(ty->valuestring, "ntk"))
            return ia__error(IA_ERR_UNSUPPORTED, "%s: rope_scaling: only {\"type\": \"ntk\", \"factor\": F} "
                             "(GTE's NTKScalingRotaryEmbedding) is supported", path);
        if ((rc = ia__cfg_num(rs, path, "factor", 1e6, 0, &factor)) || (rc = ia__cfg_num(rs, path, "mixed_b", 1e6, 0, &mixed_b)))
            return rc;
        if (!(factor > 0))
            return ia__error(IA_ERR_FORMAT, "%s: rope_scaling needs a \"factor\"", path);
        /* the cache is built for max_position_embeddings * factor positions:
         * past those upstream rescales again */
        if (factor > 1) {
            cfg->rope_ntk_factor = (float)factor, cfg->rope_ntk_mixed_b = (float)mixed_b;
            cfg->max_position = (int)fmin(cfg->max_position * factor, 1 << 24);
        }
    }
    if ((rc = check_heads(path, "hidden_size", "num_attention_heads", cfg)))
        return rc;
    cfg->rope_dims = cfg->hidden_size / cfg->n_heads;
    if (cfg->rope_dims % 2)
        return ia__error(IA_ERR_FORMAT, "%s: the head size %d must be even for rotary positions", path, cfg->rope_dims);
    cfg->rope_theta = (float)base;
    cfg->layer_norm_eps = (float)eps;
    cfg->attn_bias = true, cfg->ffn_in_bias = false, cfg->ffn_out_bias = true, cfg->ffn_gated = true;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(c, "hidden_act");
    return set_act(path, "hidden_act", cJSON_IsString(act) ? act->valuestring : "gelu", cfg);
}

/* JinaBertConfig (a BertConfig with position_embedding_type "alibi"). */
static ia_status parse_jina(const cJSON *c, const char *path, ia_encoder_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    ia_status rc;
    double eps = 0;
    if ((rc = ia__cfg_refuse_cls_head(c, path, "Jina BERT", NO_HEAD_REFERENCE)))
        return rc;
    if ((rc = ia__cfg_int(c, path, "vocab_size", 1, 1 << 24, 30522, &cfg->vocab_size)) ||
        (rc = ia__cfg_int(c, path, "hidden_size", 1, 1 << 20, 768, &cfg->hidden_size)) ||
        (rc = ia__cfg_int(c, path, "num_hidden_layers", 1, 1024, 12, &cfg->n_layers)) ||
        (rc = ia__cfg_int(c, path, "num_attention_heads", 1, 4096, 12, &cfg->n_heads)) ||
        (rc = ia__cfg_int(c, path, "intermediate_size", 1, 1 << 22, 3072, &cfg->intermediate_size)) ||
        (rc = ia__cfg_int(c, path, "max_position_embeddings", 1, 1 << 24, 512, &cfg->max_position)) ||
        (rc = ia__cfg_int(c, path, "type_vocab_size", 0, 1 << 16, 2, &cfg->type_vocab_size)) ||
        (rc = ia__cfg_num(c, path, "layer_norm_eps", 1, 1e-12, &eps)))
        return rc;
    const cJSON *ff = cJSON_GetObjectItemCaseSensitive(c, "feed_forward_type");
    const char *fn = cJSON_IsString(ff) ? ff->valuestring : "geglu";
    if (strcmp(fn, "geglu") && strcmp(fn, "reglu"))
        return ia__error(IA_ERR_UNSUPPORTED, "%s: feed_forward_type \"%s\" with ALiBi (supported: geglu, reglu)",
                         path, fn);
    if ((rc = check_heads(path, "hidden_size", "num_attention_heads", cfg)))
        return rc;
    cfg->alibi = true;
    cfg->layer_norm_eps = (float)eps;
    cfg->attn_bias = true, cfg->ffn_in_bias = false, cfg->ffn_out_bias = true, cfg->ffn_gated = true;
    rc = set_act(path, "feed_forward_type", strcmp(fn, "geglu") ? "relu" : "gelu", cfg);
    if (!rc)
        snprintf(cfg->act_name, sizeof cfg->act_name, "%s", fn);
    return rc;
}

/* weights --------------------------------------------------------------- */

static const gb_names nomic_names = {
    .prefixes = {"", "bert."},
    .word = "embeddings.word_embeddings.weight", .type = "embeddings.token_type_embeddings.weight",
    .emb_norm = "emb_ln", .layer = "encoder.layers.%d.",
    .qkv = {"attn.Wqkv"}, .out = "attn.out_proj", .norm1 = "norm1",
    .ffn_in = {"mlp.fc12", "mlp.fc11"}, .ffn_plain = "mlp.fc1", .down = "mlp.fc2", .norm2 = "norm2",
};
static const gb_names new_names = {
    .prefixes = {"", "new."},
    .word = "embeddings.word_embeddings.weight", .type = "embeddings.token_type_embeddings.weight",
    .emb_norm = "embeddings.LayerNorm", .layer = "encoder.layer.%d.",
    .qkv = {"attention.qkv_proj"}, .qkv_split = {"attention.q_proj", "attention.k_proj", "attention.v_proj"},
    .out = "attention.o_proj", .norm1 = "attn_ln",
    .ffn_in = {"mlp.up_gate_proj"}, .ffn_in_swapped = true, .down = "mlp.down_proj", .norm2 = "mlp_ln",
};
static const gb_names jina_names = {
    .prefixes = {"", "bert."},
    .word = "embeddings.word_embeddings.weight", .type = "embeddings.token_type_embeddings.weight",
    .emb_norm = "embeddings.LayerNorm", .layer = "encoder.layer.%d.",
    .qkv_split = {"attention.self.query", "attention.self.key", "attention.self.value"},
    .out = "attention.output.dense", .norm1 = "attention.output.LayerNorm",
    .ffn_in = {"mlp.gated_layers"}, .down = "mlp.wo", .norm2 = "mlp.layernorm",
    /* jina-bert-v2-qk-post-norm (jina-embeddings-v2-base-code): LayerNorms
     * on Q and K, a second pair of layer norms, another MLP */
    .unsupported = {"attention.self.layer_norm_q.weight", "mlp.up_gated_layer.weight"},
};

static void gb_free(void *state)
{
    gated_bert *m = state;
    if (!m)
        return;
    ia__weights_release(&m->w);
    ia__free(m->layers);
    ia__free(m);
}

/* A norm `base` of the layers (RMSNorm: weight only) or the embeddings'
 * LayerNorm (rms false). */
static ia_status load_norm(gated_bert *m, ia_wloader *ld, const char *base, bool rms, ia_tensor *g, ia_tensor *b)
{
    char n[256];
    snprintf(n, sizeof n, "%s.weight", base);
    ia_status rc = ia__weights_load(&m->w, ld, n, m->cfg.hidden_size, 0, false, g);
    snprintf(n, sizeof n, "%s.bias", base);
    return rc || rms ? rc : ia__weights_load(&m->w, ld, n, m->cfg.hidden_size, 0, false, b);
}

/* A linear layer of n_in inputs whose weight (and bias) rows are the
 * parts[0..n_parts) of rows_each rows each, stacked in that order (the
 * names under `layer`); swap: one part whose halves change places. */
static ia_status load_stacked(gated_bert *m, ia_wloader *ld, const char *layer, const char *const *parts, int n_parts,
                              int rows_each, int n_in, bool bias, bool swap, const float *hint, ia_tensor *wt,
                              ia_tensor *bt)
{
    const size_t rows = (size_t)rows_each * (size_t)n_parts;
    float *W = ia__malloc(rows * (size_t)n_in * sizeof *W), *B = bias ? ia__malloc(rows * sizeof *B) : NULL;
    ia_status rc = W && (B || !bias) ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory");
    for (int p = 0; p < n_parts && !rc; p++) {
        char n[256];
        float *f = NULL;
        snprintf(n, sizeof n, "%s%s.weight", layer, parts[p]);
        if (!(rc = ia__wl_fetch(ld, n, rows_each, n_in, &f)))
            memcpy(W + (size_t)p * rows_each * n_in, f, (size_t)rows_each * n_in * sizeof *f);
        ia__free(f);
        f = NULL;
        snprintf(n, sizeof n, "%s%s.bias", layer, parts[p]);
        if (!rc && bias && !(rc = ia__wl_fetch(ld, n, rows_each, 0, &f)))
            memcpy(B + (size_t)p * rows_each, f, (size_t)rows_each * sizeof *f);
        ia__free(f);
    }
    if (!rc && swap) { /* [A | B] -> [B | A], rows of n_in */
        const size_t half = rows / 2 * (size_t)n_in;
        float *tmp = ia__malloc(half * sizeof *tmp);
        if (!tmp)
            rc = ia__error(IA_ERR_NOMEM, "out of memory");
        else {
            memcpy(tmp, W, half * sizeof *W);
            memmove(W, W + half, half * sizeof *W);
            memcpy(W + half, tmp, half * sizeof *W);
            for (size_t i = 0; B && i < rows / 2; i++) {
                const float t = B[i];
                B[i] = B[i + rows / 2], B[i + rows / 2] = t;
            }
            ia__free(tmp);
        }
    }
    if (!rc)
        rc = ia__weights_put_linear(&m->w, W, B, (int)rows, n_in, hint, wt, bt);
    ia__free(W);
    ia__free(B);
    return rc;
}

static const char *const *qkv_parts(const gated_bert *m, ia_wloader *ld, const char *layer, int *n)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s.weight", layer, m->names->qkv[0] ? m->names->qkv[0] : "");
    const bool fused = m->names->qkv[0] && (ia__wl_has(ld, name) || !m->names->qkv_split[0]);
    *n = fused ? 1 : 3; /* a missing fused tensor is reported by name */
    return fused ? m->names->qkv : m->names->qkv_split;
}

/* Per-pair divisors of the rotary frequencies under GTE's fixed NTK
 * scaling (new-impl's NTKScalingRotaryEmbedding): factor^((2i + 2) / d),
 * or with mixed_b, exp(ln(factor) / (d / 2)^b (i + 1)^b). */
static ia_status put_ntk(gated_bert *m)
{
    const int half = m->cfg.rope_dims / 2;
    const double f = m->cfg.rope_ntk_factor, b = m->cfg.rope_ntk_mixed_b, d = m->cfg.rope_dims;
    float *div = ia__malloc((size_t)half * sizeof *div);
    if (!div)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    for (int i = 0; i < half; i++)
        div[i] = (float)(b > 0 ? exp(log(f) / pow(d / 2, b) * pow(i + 1, b)) : pow(f, (2.0 * i + 2) / d));
    ia_status rc = ia__weights_put(&m->w, &m->rope_ff, IA_DTYPE_F32, half, 1, div);
    ia__free(div);
    m->has_rope_ff = !rc;
    return rc;
}

/* ALiBi's slopes (Press et al., as jina-bert-implementation's
 * _get_alibi_head_slopes): 2^(-8 i / n) for i = 1..n when n is a power of
 * 2; else those of the power of 2 below n, then every other slope of the
 * power above. */
static void alibi_slopes(int n, float *out)
{
    int p2 = 1;
    while (p2 * 2 <= n)
        p2 *= 2;
    for (int i = 0; i < p2; i++)
        out[i] = (float)pow(2.0, -8.0 * (i + 1) / p2);
    for (int i = p2, j = 0; i < n; i++, j += 2)
        out[i] = (float)pow(2.0, -8.0 * (j + 1) / (2 * p2));
}

static ia_status gb_load_names(const gb_names *names, const ia_encoder_config *cfg, const ia_safetensors *st,
                               const ia_backend *be, void *bctx, void **state, size_t *n_params,
                               const char **weights_dtype)
{
    gated_bert *m = ia__calloc(1, sizeof *m);
    if (!m)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    m->cfg = *cfg;
    m->names = names;
    m->w.be = be;
    m->w.bctx = bctx;
    const int H = cfg->hidden_size, I = cfg->intermediate_size;
    ia_wloader ld = {.st = st, .prefix = names->prefixes[0]};
    for (int i = 1; i < 3 && names->prefixes[i] && !ia__wl_has(&ld, names->word); i++)
        ld.prefix = names->prefixes[i];
    ia_status rc = (m->layers = ia__calloc((size_t)cfg->n_layers, sizeof *m->layers))
                 ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory");
    for (int i = 0; i < 2 && !rc && names->unsupported[i]; i++) {
        char n[256];
        snprintf(n, sizeof n, names->layer, 0);
        snprintf(n + strlen(n), sizeof n - strlen(n), "%s", names->unsupported[i]);
        if (ia__wl_has(&ld, n))
            rc = ia__error(IA_ERR_UNSUPPORTED, "weights: '%s%s' is present: this variant's layers (Jina's "
                           "qk-post-norm implementation) are not supported", ld.prefix, n);
    }
    if (!rc) /* tables stay in their stored dtype (get_rows converts rows) */
        rc = ia__weights_load(&m->w, &ld, names->word, cfg->vocab_size, H, true, &m->word);
    if (!rc && cfg->type_vocab_size > 0) {
        rc = ia__weights_load(&m->w, &ld, names->type, cfg->type_vocab_size, H, true, &m->type);
        m->type0 = ia__tensor_rows(&m->type, 0, 1);
    }
    if (!rc)
        rc = load_norm(m, &ld, names->emb_norm, false, &m->emb_norm_g, &m->emb_norm_b);
    if (!rc && cfg->rope_ntk_factor > 0)
        rc = put_ntk(m);
    if (!rc && cfg->alibi) {
        float *s = ia__malloc((size_t)cfg->n_heads * sizeof *s);
        if (!s)
            rc = ia__error(IA_ERR_NOMEM, "out of memory");
        else {
            alibi_slopes(cfg->n_heads, s);
            rc = ia__weights_put(&m->w, &m->slopes, IA_DTYPE_F32, cfg->n_heads, 1, s);
            ia__free(s);
        }
    }
    /* Hints for quantizing backends: the size of each channel entering a
     * layer's QKV projection (the norm before it) and its FFN (norm1). */
    float *hint = rc ? NULL : ia__weights_ln_hint(&m->w, &m->emb_norm_g, &m->emb_norm_b);
    for (int l = 0; l < cfg->n_layers && !rc; l++) {
        gb_layer *L = &m->layers[l];
        char layer[128], name[256];
        snprintf(layer, sizeof layer, names->layer, l);
        int nq = 0;
        const char *const *qkv = qkv_parts(m, &ld, layer, &nq);
        rc = load_stacked(m, &ld, layer, qkv, nq, 3 * H / nq, H, cfg->attn_bias, false, hint, &L->qkv_w,
                          &L->qkv_b);
        snprintf(name, sizeof name, "%s%s", layer, names->out);
        if (!rc)
            rc = ia__weights_linear(&m->w, &ld, name, H, H, cfg->attn_bias, NULL, &L->out_w, &L->out_b);
        snprintf(name, sizeof name, "%s%s", layer, names->norm1);
        if (!rc)
            rc = load_norm(m, &ld, name, cfg->rms_norm, &L->norm1_g, &L->norm1_b);
        ia__free(hint);
        hint = rc ? NULL : ia__weights_ln_hint(&m->w, &L->norm1_g, cfg->rms_norm ? NULL : &L->norm1_b);
        if (!rc && cfg->ffn_gated) {
            const int np = names->ffn_in[1] ? 2 : 1;
            rc = load_stacked(m, &ld, layer, names->ffn_in, np, 2 * I / np, H, cfg->ffn_in_bias,
                              names->ffn_in_swapped, hint, &L->in_w, &L->in_b);
        } else if (!rc) {
            snprintf(name, sizeof name, "%s%s", layer, names->ffn_plain);
            rc = ia__weights_linear(&m->w, &ld, name, I, H, cfg->ffn_in_bias, hint, &L->in_w, &L->in_b);
        }
        snprintf(name, sizeof name, "%s%s", layer, names->down);
        if (!rc)
            rc = ia__weights_linear(&m->w, &ld, name, H, I, cfg->ffn_out_bias, NULL, &L->down_w, &L->down_b);
        snprintf(name, sizeof name, "%s%s", layer, names->norm2);
        if (!rc)
            rc = load_norm(m, &ld, name, cfg->rms_norm, &L->norm2_g, &L->norm2_b);
        ia__free(hint);
        hint = rc ? NULL : ia__weights_ln_hint(&m->w, &L->norm2_g, cfg->rms_norm ? NULL : &L->norm2_b);
    }
    ia__free(hint);
    if (rc) {
        gb_free(m);
        return rc;
    }
    *state = m;
    *n_params = ld.n_params;
    *weights_dtype = ld.dtype ? ld.dtype : "F32";
    return IA_OK;
}

#define GB_LOAD(fn, names)                                                                                      \
    static ia_status fn(const ia_encoder_config *cfg, const ia_safetensors *st, const ia_backend *be, void *bctx, \
                        void **state, size_t *n_params, const char **weights_dtype)                             \
    {                                                                                                           \
        return gb_load_names(&names, cfg, st, be, bctx, state, n_params, weights_dtype);                        \
    }
GB_LOAD(load_nomic, nomic_names)
GB_LOAD(load_new, new_names)
GB_LOAD(load_jina, jina_names)

/* forward --------------------------------------------------------------- */

enum { GB_EMB_NODES = 4, GB_LAYER_NODES = 13, GB_VIEWS = 16 };

/* A view of the (T, 3H) QKV matrix's rows as (head_dim, heads, T): Q at
 * column block 0, K at 1, V at 2. */
static ia_tensor qkv_view(float *qkv, int part, int64_t hd, int64_t heads, int64_t T)
{
    ia_tensor t = ia__tensor(IA_DTYPE_F32, hd, heads, T, 1, qkv + part * hd * heads);
    t.nb[2] = (size_t)(3 * hd * heads) * sizeof(float);
    t.nb[3] = t.nb[2] * (size_t)T;
    return t;
}

static const ia_tensor *opt(const ia_tensor *t, bool present) { return present ? t : NULL; }

/* x = Norm(x + y): LayerNorm takes the residual; RMSNorm after an add. */
static ia_node *add_norm(ia_node *n, const gated_bert *m, ia_tensor *x, const ia_tensor *y, const ia_tensor *g,
                         const ia_tensor *b)
{
    const float eps = m->cfg.layer_norm_eps;
    if (!m->cfg.rms_norm) {
        *n++ = (ia_node){.op = IA_OP_LAYERNORM, .dst = x, .src = {x, y, g, b}, .p.eps = eps};
        return n;
    }
    *n++ = (ia_node){.op = IA_OP_ADD, .dst = x, .src = {x, y}};
    *n++ = (ia_node){.op = IA_OP_RMSNORM, .dst = x, .src = {x, NULL, g}, .p.eps = eps};
    return n;
}

static ia_status gb_forward(const void *state, const int32_t *ids, const int32_t *types, const int *offsets,
                            int n_seqs, float *x)
{
    const gated_bert *m = state;
    const ia_encoder_config *c = &m->cfg;
    const struct ia_backend_i *op = &m->w.be->iface;
    void *bc = m->w.bctx;
    const int64_t H = c->hidden_size, I = c->intermediate_size, T = offsets[n_seqs];
    const int64_t heads = c->n_heads, hd = H / heads;

    if (c->type_vocab_size <= 0)
        types = NULL; /* no table: types are not used */
    /* Scratch in backend memory: qkv (T, 3H), ctx (T, H) (the attention's
     * output), proj (T, H), ffn (T, 2I) and glu (T, I); inputs: ids,
     * positions, sequence offsets, types when given (ia__encoder_inputs). */
    int32_t *in;
    ia_status rc = ia__encoder_inputs(&m->w, c, "encoder", ids, types, offsets, n_seqs, &in);
    if (rc)
        return rc;
    float *qkv = op->buf_alloc(bc, (size_t)(T * 3 * H) * sizeof(float));
    float *ctx = op->buf_alloc(bc, (size_t)(T * H) * sizeof(float));
    float *proj = op->buf_alloc(bc, (size_t)(T * H) * sizeof(float));
    float *ffn = op->buf_alloc(bc, (size_t)(T * 2 * I) * sizeof(float));
    float *glu = op->buf_alloc(bc, (size_t)(T * I) * sizeof(float));
    const int n_nodes = GB_EMB_NODES + GB_LAYER_NODES * c->n_layers;
    ia_node *g = ia__calloc((size_t)n_nodes, sizeof *g);
    ia_tensor *views = ia__calloc(GB_VIEWS, sizeof *views);
    rc = qkv && ctx && proj && ffn && glu && g && views
       ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory for a batch of %lld tokens", (long long)T);
    if (!rc) {
        ia_tensor *v = views;
        ia_tensor *tid = v++, *tpos = v++, *toff = v++, *ttype = v++, *tx = v++, *tctx = v++, *tqkv = v++,
                  *tq = v++, *tk = v++, *tv = v++, *tatt = v++, *tproj = v++, *tffn = v++, *tglu = v++;
        *tid = ia__tensor(IA_DTYPE_I32, T, 1, 1, 1, in);
        *tpos = ia__tensor(IA_DTYPE_I32, T, 1, 1, 1, in + T);
        *toff = ia__tensor(IA_DTYPE_I32, n_seqs + 1, 1, 1, 1, in + 2 * T);
        *ttype = ia__tensor(IA_DTYPE_I32, T, 1, 1, 1, in + 2 * T + n_seqs + 1);
        *tx = ia__tensor(IA_DTYPE_F32, H, T, 1, 1, x);
        *tctx = ia__tensor(IA_DTYPE_F32, H, T, 1, 1, ctx);
        *tqkv = ia__tensor(IA_DTYPE_F32, 3 * H, T, 1, 1, qkv);
        *tq = qkv_view(qkv, 0, hd, heads, T);
        *tk = qkv_view(qkv, 1, hd, heads, T);
        *tv = qkv_view(qkv, 2, hd, heads, T);
        *tatt = ia__tensor(IA_DTYPE_F32, hd, heads, T, 1, ctx); /* = tctx, by heads */
        *tproj = ia__tensor(IA_DTYPE_F32, H, T, 1, 1, proj);
        *tffn = ia__tensor(IA_DTYPE_F32, c->ffn_gated ? 2 * I : I, T, 1, 1, ffn);
        *tglu = ia__tensor(IA_DTYPE_F32, I, T, 1, 1, glu);
        const ia_rope_params rope = {.mode = c->rope_interleaved ? IA_ROPE_NORMAL : IA_ROPE_NEOX,
                                     .n_dims = c->rope_dims, .theta = c->rope_theta};
        ia_attn_params ap = {.mask = IA_MASK_NONE, .scale = 1.0f / sqrtf((float)hd)};
        if (c->alibi)
            ap.bias = IA_ATTN_BIAS_ALIBI, ap.bias_table = &m->slopes;
        const bool ab = c->attn_bias, ib = c->ffn_in_bias, ob = c->ffn_out_bias, rms = c->rms_norm;

        ia_node *n = g;
        *n++ = (ia_node){.op = IA_OP_GET_ROWS, .dst = tx, .src = {&m->word, tid}};
        if (types) {
            *n++ = (ia_node){.op = IA_OP_GET_ROWS, .dst = tctx, .src = {&m->type, ttype}};
            *n++ = (ia_node){.op = IA_OP_ADD, .dst = tx, .src = {tx, tctx}};
        } else if (c->type_vocab_size > 0) {
            *n++ = (ia_node){.op = IA_OP_ADD, .dst = tx, .src = {tx, &m->type0}};
        }
        *n++ = (ia_node){.op = IA_OP_LAYERNORM, .dst = tx, .src = {tx, NULL, &m->emb_norm_g, &m->emb_norm_b},
                         .p.eps = c->layer_norm_eps};
        for (int l = 0; l < c->n_layers; l++) {
            const gb_layer *L = &m->layers[l];
            *n++ = (ia_node){.op = IA_OP_MATMUL, .dst = tqkv, .src = {tx, &L->qkv_w, opt(&L->qkv_b, ab)}};
            if (c->rope_dims) {
                const ia_tensor *ff = opt(&m->rope_ff, m->has_rope_ff);
                *n++ = (ia_node){.op = IA_OP_ROPE, .dst = tq, .src = {tq, tpos, ff}, .p.rope = rope};
                *n++ = (ia_node){.op = IA_OP_ROPE, .dst = tk, .src = {tk, tpos, ff}, .p.rope = rope};
            }
            *n++ = (ia_node){.op = IA_OP_ATTENTION, .dst = tatt, .src = {tq, tk, tv, toff}, .p.attn = ap};
            *n++ = (ia_node){.op = IA_OP_MATMUL, .dst = tproj, .src = {tctx, &L->out_w, opt(&L->out_b, ab)}};
            n = add_norm(n, m, tx, tproj, &L->norm1_g, opt(&L->norm1_b, !rms));
            if (c->ffn_gated) {
                *n++ = (ia_node){.op = IA_OP_MATMUL, .dst = tffn, .src = {tx, &L->in_w, opt(&L->in_b, ib)}};
                *n++ = (ia_node){.op = IA_OP_GLU, .dst = tglu, .src = {tffn}, .p.act = c->act};
            } else {
                *n++ = (ia_node){.op = IA_OP_MATMUL, .dst = tglu, .src = {tx, &L->in_w, opt(&L->in_b, ib)},
                                 .p.act = c->act};
            }
            *n++ = (ia_node){.op = IA_OP_MATMUL, .dst = tproj, .src = {tglu, &L->down_w, opt(&L->down_b, ob)}};
            n = add_norm(n, m, tx, tproj, &L->norm2_g, opt(&L->norm2_b, !rms));
        }
        rc = ia__graph_run(m->w.be, bc, g, (int)(n - g), NULL);
    }
    ia__free(views);
    ia__free(g);
    void *bufs[] = {in, qkv, ctx, proj, ffn, glu};
    for (size_t i = 0; i < IA_ARRAY_LEN(bufs); i++)
        if (bufs[i])
            op->buf_free(bc, bufs[i]);
    return rc;
}

#define GB_ARCH(fn, type, parse_fn, load_fn)                                                                      \
    const ia_arch *fn(void)                                                                                 \
    {                                                                                                       \
        static const ia_arch arch = {                                                                       \
            .api_version = IA_ARCH_API_VERSION,                                                             \
            .model_type = type,                                                                             \
            .iface = {.parse_config = parse_fn, .load = load_fn, .free = gb_free, .forward = gb_forward}, \
        };                                                                                                  \
        return &arch;                                                                                       \
    }
GB_ARCH(ia__arch_nomic_bert, "nomic_bert", parse_nomic, load_nomic)
GB_ARCH(ia__arch_gte_new, "new", parse_new, load_new)
/* found through ia__arch_for_config: config.json says "bert" */
GB_ARCH(ia__arch_jina_bert, "jina_bert", parse_jina, load_jina)
