/*
 * Decoders as graphs of engine-core ops, in two families:
 *   llama (llama, qwen2, qwen3, mistral): token embeddings; per layer
 *     RMSNorm, Q/K/V projections (with biases where the model has them),
 *     qwen3's RMSNorm of each head's q and k (weights of head_dim), rotary
 *     positions, attention over the session's KV cache (causal, or
 *     sliding-window), the output projection and residual, RMSNorm and a
 *     SwiGLU feed-forward network with its residual; a final RMSNorm and
 *     the vocabulary projection (the token table itself when tied);
 *   gpt2: token plus learned position embeddings; per layer LayerNorm, the
 *     fused QKV projection (used as three row blocks), attention, the
 *     output projection, LayerNorm and a GELU MLP, every linear layer with
 *     its bias; a final LayerNorm and the tied vocabulary projection.
 *
 * From GGUF (llama.cpp's names: blk.N.attn_q...) or a Hugging Face folder
 * (transformers' names: model.layers.N.self_attn.q_proj..., GPT-2's
 * h.N.attn.c_attn...). Rotary pairs: llama.cpp's convert_hf_to_gguf.py
 * permutes GGUF llama and mistral Q and K rows so that pairs are adjacent
 * ("normal" rope); Hugging Face files keep the original order, whose pairs
 * are rotate_half's (i, i + n/2): neox rope, as qwen2's and qwen3's GGUF
 * also have (the converter leaves their rows as they are).
 * Rope scaling: linear, llama3 (config.json's parameters, or GGUF's
 * rope_freqs.weight: per-pair factors) and YaRN (its factors computed
 * here, its attention factor folded into the scores' scale).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model/decoder.h"
#include "model/gguf-impl.h"
#include "model/safetensors-impl.h"

typedef struct dec_layer {
    ia_tensor attn_norm, attn_norm_b, wq, wk, wv, wo, bq, bk, bv, bo;
    ia_tensor q_norm, k_norm; /* qwen3: (head_dim) per-head RMSNorm weights; else no data */
    ia_tensor ffn_norm, ffn_norm_b, w_gate, w_up, w_down, b_gate, b_up, b_down;
    ia_tensor wqkv, bqkv; /* gpt2: the fused QKV projection; wq, wk, wv, bq, bk, bv are its row blocks */
    unsigned x8;          /* X8_*: the weights interleaved in groups of 8 rows */
} dec_layer;

enum { X8_Q = 1, X8_K = 2, X8_V = 4, X8_O = 8, X8_GATE = 16, X8_UP = 32, X8_DOWN = 64 };

struct ia_decoder {
    ia_decoder_config cfg;
    char *path;            /* the GGUF file or the folder, for messages */
    ia_gguf *g;            /* the weights' file: one of these */
    ia_safetensors *st;
    const ia_backend *be;
    void *bctx;
    ia_tensor tok_embd, pos_embd, out_norm, out_norm_b, output;
    bool tok_embd_x8, output_x8; /* interleaved in groups of 8 rows */
    ia_tensor rope_ff;     /* (n_rot / 2) per-pair frequency factors, or no data */
    dec_layer *layers;
    void **bufs;           /* backend copies of the weights (device memory only) */
    size_t n_bufs;
    void **host;           /* weights converted at load (f32 norms, transposes) */
    size_t n_host;
    bool base;             /* the base model alone: hidden states, no vocabulary projection */
    ia_dtype kv_dtype;     /* the KV caches of sessions made from now on: f32 or f16 */
};

/* The node flag of a layer's weight marked X8_* `bit`. */
#define X8(L, bit) ((L)->x8 & (bit) ? IA_NODE_W_INTERLEAVED8 : 0u)

/* A tensor that may be absent (biases): NULL then. */
static const ia_tensor *opt(const ia_tensor *t) { return t->data ? t : NULL; }

/* rope scaling ---------------------------------------------------------------- */

/* Rope scaling as either file states it. */
typedef struct rope_spec {
    char type[16];         /* none, linear, llama3, yarn */
    double factor;
    double low_freq, high_freq;   /* llama3 */
    int original_ctx;             /* llama3, yarn */
    double beta_fast, beta_slow, ext_factor; /* yarn */
    double mscale;                /* yarn: cos and sin are multiplied by it */
} rope_spec;

static void *host_alloc(ia_decoder *d, size_t bytes)
{
    void *p = ia__malloc(bytes ? bytes : 1);
    void **l = p ? ia__realloc(d->host, (d->n_host + 1) * sizeof *l) : NULL;
    if (!l) {
        ia__free(p);
        return NULL;
    }
    d->host = l;
    d->host[d->n_host++] = p;
    return p;
}

static ia_status place(ia_decoder *d, const char *name, ia_tensor *out);

/* YaRN's per-pair frequency factors, as transformers' _compute_yarn_-
 * parameters and ggml's rope_yarn compute them: pairs below the correction
 * range keep their frequency (extrapolated), those above it are divided by
 * the factor (interpolated), a linear ramp in between. */
static void yarn_factors(const rope_spec *r, double theta, int n_dims, float *ff)
{
    const double pi2 = 2 * M_PI;
    const double lo_d = n_dims * log(r->original_ctx / (r->beta_fast * pi2)) / (2 * log(theta));
    const double hi_d = n_dims * log(r->original_ctx / (r->beta_slow * pi2)) / (2 * log(theta));
    const double lo = fmax(floor(lo_d), 0);
    double hi = fmin(ceil(hi_d), n_dims - 1);
    if (hi == lo)
        hi += 0.001; /* as both do: no division by zero */
    for (int i = 0; i < n_dims / 2; i++) {
        const double ramp = fmin(fmax((i - lo) / (hi - lo), 0), 1);
        const double mix = (1 - ramp) * r->ext_factor; /* 1: extrapolate */
        ff[i] = (float)(1.0 / ((1 - mix) / r->factor + mix));
    }
}

/* Set cfg->rope's scaling (and d->rope_ff, cfg->attn_scale for YaRN). */
static ia_status apply_rope_spec(ia_decoder *d, const rope_spec *r, const char *where)
{
    ia_rope_params *p = &d->cfg.rope;
    if (!strcmp(r->type, "none"))
        return IA_OK;
    if (!(r->factor > 0))
        return ia__error(IA_ERR_FORMAT, "%s: rope scaling \"%s\" needs a factor > 0 (is %g)", where, r->type,
                         r->factor);
    p->factor = (float)r->factor;
    if (!strcmp(r->type, "linear")) {
        p->scaling = IA_ROPE_SCALE_LINEAR;
        return IA_OK;
    }
    if (!strcmp(r->type, "llama3")) {
        if (!(r->low_freq > 0) || !(r->high_freq > r->low_freq) || r->original_ctx < 1)
            return ia__error(IA_ERR_FORMAT, "%s: llama3 rope scaling needs 0 < low_freq_factor (%g) < "
                             "high_freq_factor (%g) and original_max_position_embeddings (%d) > 0", where,
                             r->low_freq, r->high_freq, r->original_ctx);
        p->scaling = IA_ROPE_SCALE_LLAMA3;
        p->low_freq_factor = (float)r->low_freq;
        p->high_freq_factor = (float)r->high_freq;
        p->original_max_position = r->original_ctx;
        return IA_OK;
    }
    /* yarn: its factors as data, the rope op's own scaling off */
    if (r->original_ctx < 1 || !(r->beta_fast > 0) || !(r->beta_slow > 0) || !(r->mscale > 0))
        return ia__error(IA_ERR_FORMAT, "%s: yarn rope scaling needs original_max_position_embeddings (%d), "
                         "beta_fast (%g), beta_slow (%g) and the attention factor (%g) > 0", where,
                         r->original_ctx, r->beta_fast, r->beta_slow, r->mscale);
    float *ff = host_alloc(d, (size_t)(p->n_dims / 2) * sizeof *ff);
    if (!ff)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    yarn_factors(r, p->theta, p->n_dims, ff);
    d->rope_ff = ia__tensor(IA_DTYPE_F32, p->n_dims / 2, 1, 1, 1, ff);
    p->factor = 0;
    ia_status rc = place(d, "yarn's rope factors", &d->rope_ff);
    if (rc)
        return rc;
    /* q and k both scaled by mscale: the scores by its square */
    d->cfg.attn_scale *= (float)(r->mscale * r->mscale);
    return IA_OK;
}

/* GGUF config ------------------------------------------------------------------ */

static ia_status get_i(const ia_gguf *g, const char *arch, const char *key, int64_t lo, int64_t hi, bool need,
                       int dflt, int *out)
{
    char k[96];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (!ia__gguf_find(g, k) && !need) {
        *out = dflt;
        return IA_OK;
    }
    int64_t v;
    ia_status rc = ia__gguf_get_int(g, k, lo, hi, &v);
    *out = (int)v;
    return rc;
}

static ia_status get_f(const ia_gguf *g, const char *arch, const char *key, double dflt, double *out)
{
    char k[96];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (!ia__gguf_find(g, k)) {
        *out = dflt;
        return IA_OK;
    }
    return ia__gguf_get_float(g, k, out);
}

static ia_status gguf_config(ia_decoder *d)
{
    const ia_gguf *g = d->g;
    ia_decoder_config *c = &d->cfg;
    const char *path = ia__gguf_path(g), *arch;
    size_t len;
    ia_status rc = ia__gguf_get_str(g, "general.architecture", &arch, &len);
    if (rc)
        return rc;
    snprintf(c->arch, sizeof c->arch, "%.*s", (int)IA_MIN(len, sizeof c->arch - 1), arch);
    snprintf(c->format, sizeof c->format, "gguf");
    const bool qwen = !strcmp(c->arch, "qwen2") || !strcmp(c->arch, "qwen3"), gpt2 = !strcmp(c->arch, "gpt2");
    if (strcmp(c->arch, "llama") && !qwen && strcmp(c->arch, "mistral") && !gpt2)
        return ia__error(IA_ERR_UNSUPPORTED, "%s: general.architecture \"%s\" is not a decoder this build runs "
                         "(llama, qwen2, qwen3, mistral, gpt2)", path, c->arch);
    c->kind = gpt2 ? IA_DEC_GPT2 : IA_DEC_LLAMA;
    const char *a = c->arch;
    double eps = 0, theta = 0;
    if ((rc = get_i(g, a, "block_count", 1, 1024, true, 0, &c->n_layer)) ||
        (rc = get_i(g, a, "embedding_length", 1, 1 << 20, true, 0, &c->n_embd)) ||
        (rc = get_i(g, a, "feed_forward_length", 1, 1 << 22, true, 0, &c->n_ff)) ||
        (rc = get_i(g, a, "attention.head_count", 1, 4096, true, 0, &c->n_head)) ||
        (rc = get_i(g, a, "attention.head_count_kv", 1, 4096, false, c->n_head, &c->n_head_kv)) ||
        (rc = get_i(g, a, "context_length", 1, 1 << 24, true, 0, &c->n_ctx_train)) ||
        (rc = get_i(g, a, "attention.sliding_window", 0, 1 << 24, false, 0, &c->sliding_window)))
        return rc;
    if (gpt2 ? (rc = get_f(g, a, "attention.layer_norm_epsilon", 1e-5, &eps))
             : (rc = get_f(g, a, "attention.layer_norm_rms_epsilon", 1e-5, &eps)))
        return rc;
    if (c->n_head % c->n_head_kv || (gpt2 && c->n_head_kv != c->n_head))
        return ia__error(IA_ERR_FORMAT, "%s: %d kv heads do not divide %d heads", path, c->n_head_kv, c->n_head);
    if ((rc = get_i(g, a, "attention.key_length", 1, 1 << 16, false, c->n_embd / c->n_head, &c->head_dim)))
        return rc;
    int v_len;
    if ((rc = get_i(g, a, "attention.value_length", 1, 1 << 16, false, c->head_dim, &v_len)))
        return rc;
    if (v_len != c->head_dim || (gpt2 && c->head_dim * c->n_head != c->n_embd))
        return ia__error(IA_ERR_UNSUPPORTED, "%s: heads of %d (keys) and %d (values) with %d heads and "
                         "embedding_length %d: this build runs equal key and value heads", path, c->head_dim,
                         v_len, c->n_head, c->n_embd);
    if (!(eps > 0 && eps < 1))
        return ia__error(IA_ERR_FORMAT, "%s: norm epsilon %g out of range", path, eps);
    c->norm_eps = (float)eps;
    c->attn_scale = 1.0f / sqrtf((float)c->head_dim);
    c->act = gpt2 ? IA_ACT_GELU_TANH : IA_ACT_SILU;
    /* the vocabulary: the token table's rows */
    const ia_gguf_tensor_info *t = ia__gguf_tensor_find(g, "token_embd.weight");
    if (!t)
        return ia__error(IA_ERR_NOT_FOUND, "%s: tensor token_embd.weight is missing", path);
    c->n_vocab = (int)t->ne[1];
    c->tied_embeddings = !ia__gguf_tensor_find(g, "output.weight");
    if (gpt2)
        return IA_OK;

    int n_rot;
    if ((rc = get_i(g, a, "rope.dimension_count", 2, c->head_dim, false, c->head_dim, &n_rot)) ||
        (rc = get_f(g, a, "rope.freq_base", 10000.0, &theta)))
        return rc;
    if (!(theta > 0) || n_rot % 2)
        return ia__error(IA_ERR_FORMAT, "%s: rope.freq_base %g or rope.dimension_count %d out of range", path,
                         theta, n_rot);
    c->rope = (ia_rope_params){.mode = qwen ? IA_ROPE_NEOX : IA_ROPE_NORMAL, .n_dims = n_rot, .theta = (float)theta};
    /* scaling: rope.scaling.* (llama3's comes as the rope_freqs tensor) */
    rope_spec r = {.type = "none", .beta_fast = 32, .beta_slow = 1, .ext_factor = 1};
    char key[96];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    const char *type = "none";
    len = 4;
    if (ia__gguf_find(g, key) && (rc = ia__gguf_get_str(g, key, &type, &len)))
        return rc;
    double attn_factor;
    if ((rc = get_f(g, a, "rope.scaling.factor", 0, &r.factor)) ||
        (rc = get_i(g, a, "rope.scaling.original_context_length", 1, 1 << 24, false, c->n_ctx_train,
                    &r.original_ctx)) ||
        (rc = get_f(g, a, "rope.scaling.attn_factor", 1.0, &attn_factor)) ||
        (rc = get_f(g, a, "rope.scaling.yarn_beta_fast", 32, &r.beta_fast)) ||
        (rc = get_f(g, a, "rope.scaling.yarn_beta_slow", 1, &r.beta_slow)) ||
        (rc = get_f(g, a, "rope.scaling.yarn_ext_factor", 1, &r.ext_factor)))
        return rc;
    if (r.ext_factor < 0) /* llama.cpp: unset, 1 for yarn */
        r.ext_factor = 1;
    /* ggml's rope_yarn: mscale = attn_factor (1 + 0.1 ln factor) */
    r.mscale = attn_factor * (1 + 0.1 * log(r.factor > 0 ? r.factor : 1));
    if ((len == 4 && !memcmp(type, "none", 4)) || (len == 6 && !memcmp(type, "linear", 6)) ||
        (len == 4 && !memcmp(type, "yarn", 4)))
        snprintf(r.type, sizeof r.type, "%.*s", (int)len, type);
    else
        return ia__error(IA_ERR_UNSUPPORTED, "%s: %s \"%.*s\" is not supported (none, linear, yarn; llama3 as "
                         "rope_freqs.weight)", path, key, (int)IA_MIN(len, 64), type);
    if (!strcmp(r.type, "yarn") && ia__gguf_tensor_find(g, "rope_freqs.weight"))
        return ia__error(IA_ERR_UNSUPPORTED, "%s: yarn scaling and rope_freqs.weight together", path);
    snprintf(key, sizeof key, "%s: %s.rope.scaling", path, a);
    return apply_rope_spec(d, &r, key);
}

/* config.json ------------------------------------------------------------------ */

/* A key's value; JSON null counts as absent (transformers writes
 * "head_dim": null, "sliding_window": null). */
static const cJSON *js(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNull(v) ? NULL : v;
}

/* An integer in [lo, hi]; absent: an error when need, else dflt. `where`
 * names the file (and object) for messages. */
static ia_status js_int(const cJSON *o, const char *where, const char *key, int64_t lo, int64_t hi, bool need,
                        int dflt, int *out)
{
    const cJSON *v = js(o, key);
    if (!v && need)
        return ia__error(IA_ERR_FORMAT, "%s: \"%s\" is missing", where, key);
    if (!v) {
        *out = dflt;
        return IA_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < (double)lo ||
        v->valuedouble > (double)hi)
        return ia__error(IA_ERR_FORMAT, "%s: \"%s\" must be an integer in [%lld, %lld]", where, key, (long long)lo,
                         (long long)hi);
    *out = (int)v->valuedouble;
    return IA_OK;
}

static ia_status js_num(const cJSON *o, const char *where, const char *key, bool need, double dflt, double *out)
{
    const cJSON *v = js(o, key);
    if (!v && need)
        return ia__error(IA_ERR_FORMAT, "%s: \"%s\" is missing", where, key);
    if (v && !cJSON_IsNumber(v))
        return ia__error(IA_ERR_FORMAT, "%s: \"%s\" must be a number", where, key);
    *out = v ? v->valuedouble : dflt;
    return IA_OK;
}

static ia_status js_bool(const cJSON *o, const char *where, const char *key, bool dflt, bool *out)
{
    const cJSON *v = js(o, key);
    if (v && !cJSON_IsBool(v))
        return ia__error(IA_ERR_FORMAT, "%s: \"%s\" must be true or false", where, key);
    *out = v ? cJSON_IsTrue(v) : dflt;
    return IA_OK;
}

static const char *js_str(const cJSON *o, const char *key, const char *dflt)
{
    const cJSON *v = js(o, key);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

/* rope_scaling (or transformers 5's rope_parameters) of config.json. */
static ia_status hf_rope(ia_decoder *d, const cJSON *j, const char *path)
{
    ia_decoder_config *c = &d->cfg;
    const char *key = js(j, "rope_parameters") ? "rope_parameters" : "rope_scaling";
    const cJSON *rs = js(j, key);
    char where[1100];
    snprintf(where, sizeof where, "%s: %s", path, key);
    double theta = 0;
    ia_status rc = js_num(j, path, "rope_theta", false, 10000.0, &theta);
    if (!rc && rs)
        rc = cJSON_IsObject(rs) ? js_num(rs, where, "rope_theta", false, theta, &theta)
                                : ia__error(IA_ERR_FORMAT, "%s must be an object or null", where);
    if (rc)
        return rc;
    if (!(theta > 0))
        return ia__error(IA_ERR_FORMAT, "%s: \"rope_theta\" %g must be > 0", path, theta);
    c->rope = (ia_rope_params){.mode = IA_ROPE_NEOX, .n_dims = c->head_dim, .theta = (float)theta};
    rope_spec r = {.type = "none", .ext_factor = 1};
    if (!rs)
        return IA_OK;
    const char *type = js_str(rs, "rope_type", js_str(rs, "type", "default"));
    if (!strcmp(type, "default"))
        return IA_OK;
    if (strcmp(type, "linear") && strcmp(type, "llama3") && strcmp(type, "yarn"))
        return ia__error(IA_ERR_UNSUPPORTED, "%s: rope type \"%s\" is not supported (default, linear, llama3, "
                         "yarn)", where, type);
    snprintf(r.type, sizeof r.type, "%s", type);
    double af = 0;
    if ((rc = js_num(rs, where, "factor", true, 0, &r.factor)))
        return rc;
    if (!strcmp(type, "llama3") &&
        ((rc = js_num(rs, where, "low_freq_factor", true, 0, &r.low_freq)) ||
         (rc = js_num(rs, where, "high_freq_factor", true, 0, &r.high_freq)) ||
         (rc = js_int(rs, where, "original_max_position_embeddings", 1, INT32_MAX, true, 0, &r.original_ctx))))
        return rc;
    /* yarn as transformers 4.47 computes it: the correction range from
     * max_position_embeddings (original_max_position_embeddings where
     * given), beta_fast 32 and beta_slow 1 unless given, the attention
     * factor 0.1 ln(factor) + 1 unless given */
    if (!strcmp(type, "yarn") &&
        ((rc = js_int(rs, where, "original_max_position_embeddings", 1, INT32_MAX, false, c->n_ctx_train,
                      &r.original_ctx)) ||
         (rc = js_num(rs, where, "beta_fast", false, 32, &r.beta_fast)) ||
         (rc = js_num(rs, where, "beta_slow", false, 1, &r.beta_slow)) ||
         (rc = js_num(rs, where, "attention_factor", false, 0, &af))))
        return rc;
    if (!strcmp(type, "yarn") && (js(rs, "mscale") || js(rs, "mscale_all_dim") || js(rs, "truncate")))
        return ia__error(IA_ERR_UNSUPPORTED, "%s: yarn's mscale, mscale_all_dim and truncate are not supported",
                         where);
    r.mscale = af ? af : 0.1 * log(r.factor) + 1.0;
    return apply_rope_spec(d, &r, where);
}

/* Flags of the weight tables (load_weights): optional; stored [in, out]
 * (transposed at load); in the model only if config.json says it has
 * these biases; not in this model; without GPT-2's name prefix. */
enum { W_OPT = 1, W_T = 2, W_QKV_BIAS = 4, W_O_BIAS = 8, W_MLP_BIAS = 16, W_SKIP = 32, W_NOPREFIX = 64 };

static ia_status hf_config_llama(ia_decoder *d, const cJSON *j, const char *path, unsigned *biases)
{
    ia_decoder_config *c = &d->cfg;
    const bool qwen2 = !strcmp(c->arch, "qwen2"), qwen3 = !strcmp(c->arch, "qwen3");
    const bool mistral = !strcmp(c->arch, "mistral");
    double eps = 0;
    bool attn_bias = false, mlp_bias = false, swa = false;
    ia_status rc;
    if ((rc = js_int(j, path, "vocab_size", 1, 1 << 24, true, 0, &c->n_vocab)) ||
        (rc = js_int(j, path, "hidden_size", 1, 1 << 20, true, 0, &c->n_embd)) ||
        (rc = js_int(j, path, "num_hidden_layers", 1, 1024, true, 0, &c->n_layer)) ||
        (rc = js_int(j, path, "num_attention_heads", 1, 4096, true, 0, &c->n_head)) ||
        (rc = js_int(j, path, "num_key_value_heads", 1, 4096, false, c->n_head, &c->n_head_kv)) ||
        (rc = js_int(j, path, "intermediate_size", 1, 1 << 22, true, 0, &c->n_ff)) ||
        (rc = js_int(j, path, "max_position_embeddings", 1, 1 << 24, true, 0, &c->n_ctx_train)) ||
        (rc = js_int(j, path, "head_dim", 1, 1 << 16, false, c->n_embd / c->n_head, &c->head_dim)) ||
        (rc = js_num(j, path, "rms_norm_eps", false, 1e-6, &eps)) ||
        (rc = js_bool(j, path, "tie_word_embeddings", false, &c->tied_embeddings)) ||
        (rc = js_bool(j, path, "attention_bias", false, &attn_bias)) ||
        (rc = js_bool(j, path, "mlp_bias", false, &mlp_bias)) ||
        (rc = js_bool(j, path, "use_sliding_window", false, &swa)))
        return rc;
    if (mistral && (rc = js_int(j, path, "sliding_window", 1, INT32_MAX, false, 0, &c->sliding_window)))
        return rc;
    /* embedders trained without the causal mask say so (gte-Qwen2's
     * "is_causal", transformers' later "use_bidirectional_attention") */
    bool causal = true, bidir = false;
    if ((rc = js_bool(j, path, "is_causal", true, &causal)) ||
        (rc = js_bool(j, path, "use_bidirectional_attention", false, &bidir)))
        return rc;
    c->bidirectional = !causal || bidir;
    if (c->bidirectional && !d->base)
        return ia__error(IA_ERR_UNSUPPORTED, "%s: %s: bidirectional attention is for embedding (a "
                         "sentence-transformers folder), not text generation", path,
                         causal ? "\"use_bidirectional_attention\": true" : "\"is_causal\": false");
    /* transformers 4.4x runs qwen2's window only in flash-attention, later
     * ones per layer from max_window_layers: no single meaning to match
     * (qwen3's config has the same keys) */
    if ((qwen2 || qwen3) && swa)
        return ia__error(IA_ERR_UNSUPPORTED, "%s: \"use_sliding_window\": true is not supported for %s", path,
                         c->arch);
    if (c->n_head % c->n_head_kv || (!js(j, "head_dim") && c->n_embd % c->n_head))
        return ia__error(IA_ERR_FORMAT, "%s: \"num_key_value_heads\" %d must divide \"num_attention_heads\" %d, "
                         "which must divide \"hidden_size\" %d", path, c->n_head_kv, c->n_head, c->n_embd);
    if (!(eps > 0 && eps < 1))
        return ia__error(IA_ERR_FORMAT, "%s: \"rms_norm_eps\" %g is out of range", path, eps);
    const char *act = js_str(j, "hidden_act", "silu");
    if (strcmp(act, "silu"))
        return ia__error(IA_ERR_UNSUPPORTED, "%s: \"hidden_act\" \"%s\" (supported: silu)", path, act);
    double prf;
    if ((rc = js_num(j, path, "partial_rotary_factor", false, 1.0, &prf)))
        return rc;
    if (prf != 1.0)
        return ia__error(IA_ERR_UNSUPPORTED, "%s: \"partial_rotary_factor\" %g (supported: 1)", path, prf);
    c->norm_eps = (float)eps;
    c->act = IA_ACT_SILU;
    c->attn_scale = 1.0f / sqrtf((float)c->head_dim);
    *biases = (qwen2 || attn_bias ? W_QKV_BIAS : 0) | (attn_bias ? W_O_BIAS : 0) | (mlp_bias ? W_MLP_BIAS : 0);
    return hf_rope(d, j, path);
}

static ia_status hf_config_gpt2(ia_decoder *d, const cJSON *j, const char *path)
{
    ia_decoder_config *c = &d->cfg;
    double eps = 0;
    bool scale = true, by_layer = false;
    ia_status rc;
    if ((rc = js_int(j, path, "vocab_size", 1, 1 << 24, true, 0, &c->n_vocab)) ||
        (rc = js_int(j, path, "n_embd", 1, 1 << 20, true, 0, &c->n_embd)) ||
        (rc = js_int(j, path, "n_layer", 1, 1024, true, 0, &c->n_layer)) ||
        (rc = js_int(j, path, "n_head", 1, 4096, true, 0, &c->n_head)) ||
        (rc = js_int(j, path, "n_positions", 1, 1 << 24, true, 0, &c->n_ctx_train)) ||
        (rc = js_int(j, path, "n_inner", 1, 1 << 22, false, 4 * c->n_embd, &c->n_ff)) ||
        (rc = js_num(j, path, "layer_norm_epsilon", false, 1e-5, &eps)) ||
        (rc = js_bool(j, path, "tie_word_embeddings", true, &c->tied_embeddings)) ||
        (rc = js_bool(j, path, "scale_attn_weights", true, &scale)) ||
        (rc = js_bool(j, path, "scale_attn_by_inverse_layer_idx", false, &by_layer)))
        return rc;
    if (c->n_embd % c->n_head)
        return ia__error(IA_ERR_FORMAT, "%s: \"n_head\" %d does not divide \"n_embd\" %d", path, c->n_head,
                         c->n_embd);
    if (!(eps > 0 && eps < 1))
        return ia__error(IA_ERR_FORMAT, "%s: \"layer_norm_epsilon\" %g is out of range", path, eps);
    if (by_layer)
        return ia__error(IA_ERR_UNSUPPORTED, "%s: \"scale_attn_by_inverse_layer_idx\": true is not supported", path);
    static const struct {
        const char *name;
        ia_act act;
    } acts[] = {{"gelu_new", IA_ACT_GELU_TANH}, {"gelu_pytorch_tanh", IA_ACT_GELU_TANH}, {"gelu", IA_ACT_GELU},
                {"relu", IA_ACT_RELU}};
    const char *act = js_str(j, "activation_function", "gelu_new");
    c->act = IA_ACT_NONE;
    for (size_t i = 0; i < IA_ARRAY_LEN(acts); i++)
        if (!strcmp(act, acts[i].name))
            c->act = acts[i].act;
    if (c->act == IA_ACT_NONE)
        return ia__error(IA_ERR_UNSUPPORTED, "%s: \"activation_function\" \"%s\" (supported: gelu_new, "
                         "gelu_pytorch_tanh, gelu, relu)", path, act);
    c->n_head_kv = c->n_head;
    c->head_dim = c->n_embd / c->n_head;
    c->norm_eps = (float)eps;
    c->attn_scale = scale ? 1.0f / sqrtf((float)c->head_dim) : 1.0f;
    return IA_OK;
}

static ia_status hf_config(ia_decoder *d, const char *dir, unsigned *biases)
{
    char *path = ia__path_join(dir, "config.json");
    cJSON *j = NULL;
    ia_status rc = path ? ia__read_json(path, &j) : ia__error(IA_ERR_NOMEM, "out of memory");
    ia_decoder_config *c = &d->cfg;
    if (!rc && !cJSON_IsObject(j))
        rc = ia__error(IA_ERR_FORMAT, "%s: not a JSON object", path);
    const char *mt = rc ? NULL : js_str(j, "model_type", NULL);
    if (!rc && !mt)
        rc = ia__error(IA_ERR_FORMAT, "%s: \"model_type\" is missing", path);
    if (!rc) {
        snprintf(c->arch, sizeof c->arch, "%s", mt);
        snprintf(c->format, sizeof c->format, "safetensors");
        c->kind = !strcmp(mt, "gpt2") ? IA_DEC_GPT2 : IA_DEC_LLAMA;
        if (c->kind == IA_DEC_GPT2)
            rc = hf_config_gpt2(d, j, path);
        else if (!strcmp(mt, "llama") || !strcmp(mt, "mistral") || !strcmp(mt, "qwen2") || !strcmp(mt, "qwen3"))
            rc = hf_config_llama(d, j, path, biases);
        else
            rc = ia__error(IA_ERR_UNSUPPORTED, "%s: \"model_type\" \"%s\" is not a decoder this build runs (llama, "
                           "qwen2, qwen3, mistral, gpt2)", path, mt);
    }
    cJSON_Delete(j);
    ia__free(path);
    return rc;
}

/* weights ----------------------------------------------------------------- */

/* Tensor `name` as its file stores it: a GGUF view, or a view of a
 * safetensors entry's bytes (its shape reversed into ne order). *found
 * false (and no error) when it is absent. */
static ia_status raw_tensor(ia_decoder *d, const char *name, bool *found, ia_tensor *out)
{
    memset(out, 0, sizeof *out);
    *found = d->g ? ia__gguf_tensor_find(d->g, name) != NULL : ia__st_find(d->st, name) != NULL;
    if (!*found)
        return IA_OK;
    if (d->g)
        return ia__gguf_get_tensor(d->g, name, out);
    const ia_st_tensor *t = ia__st_find(d->st, name);
    if (t->dtype != IA_DTYPE_F32 && t->dtype != IA_DTYPE_F16 && t->dtype != IA_DTYPE_BF16)
        return ia__error(IA_ERR_UNSUPPORTED, "%s: tensor %s is %s; this build runs F32, F16 and BF16 weights",
                         t->file, name, t->dtype_name);
    if (t->n_dims < 1 || t->n_dims > 2)
        return ia__error(IA_ERR_FORMAT, "%s: tensor %s has %d dimensions, expected 1 or 2", t->file, name,
                         t->n_dims);
    *out = ia__tensor(t->dtype, t->shape[t->n_dims - 1], t->n_dims == 2 ? t->shape[0] : 1, 1, 1, (void *)t->data);
    const size_t esz = ia__dtype(t->dtype)->block_bytes;
    if ((uintptr_t)t->data % esz) { /* a writer that did not align: the ops need whole elements */
        void *p = host_alloc(d, t->nbytes);
        if (!p)
            return ia__error(IA_ERR_NOMEM, "out of memory for %s", name);
        memcpy(p, t->data, t->nbytes);
        out->data = p;
    }
    return IA_OK;
}

/* Tensor `name` checked against [ne0, ne1] (ne1 0: a vector) and made
 * ready for the ops: vectors (norm weights, biases) in f32, W_T matrices
 * (stored [in, out], GPT-2's Conv1D) transposed, the rest as stored; the
 * file's bytes themselves on host memory, else a copy in the backend's.
 * W_OPT: absent is no error (out has no data). */
static ia_status weight(ia_decoder *d, const char *name, int64_t ne0, int64_t ne1, unsigned flags, ia_tensor *out)
{
    bool found;
    ia_status rc = raw_tensor(d, name, &found, out);
    if (rc || (!found && (flags & W_OPT)))
        return rc;
    if (!found)
        return ia__error(IA_ERR_NOT_FOUND, "%s: tensor %s is missing", d->path, name);
    const int64_t want1 = ne1 ? ne1 : 1;
    const bool t = (flags & W_T) && !d->g;
    if ((t ? (out->ne[0] != want1 || out->ne[1] != ne0) : (out->ne[0] != ne0 || out->ne[1] != want1)) ||
        out->ne[2] != 1 || out->ne[3] != 1)
        return ia__error(IA_ERR_FORMAT, "%s: tensor %s is [%lld, %lld, %lld, %lld] (ne order), expected "
                         "[%lld, %lld]", d->path, name, (long long)out->ne[0], (long long)out->ne[1],
                         (long long)out->ne[2], (long long)out->ne[3], (long long)(t ? want1 : ne0),
                         (long long)(t ? ne0 : want1));
    const ia_dtype_traits *tr = ia__dtype(out->dtype);
    if (!tr->to_f32)
        return ia__error(IA_ERR_UNSUPPORTED, "%s: tensor %s is %s, which holds no numbers", d->path, name,
                         ia__dtype_name(out->dtype));
    if (!ne1 && out->dtype != IA_DTYPE_F32) { /* the ops take f32 norm weights and biases */
        float *f = host_alloc(d, (size_t)ne0 * sizeof *f);
        if (!f)
            return ia__error(IA_ERR_NOMEM, "out of memory for %s", name);
        tr->to_f32(out->data, f, ne0);
        *out = ia__tensor(IA_DTYPE_F32, ne0, 1, 1, 1, f);
    } else if (t) { /* safetensors dtypes only: whole elements to move */
        if (tr->quantized)
            return ia__error(IA_ERR_UNSUPPORTED, "%s: tensor %s: a %s matrix cannot be transposed", d->path, name,
                             ia__dtype_name(out->dtype));
        const size_t esz = tr->block_bytes;
        char *p = host_alloc(d, (size_t)(ne0 * ne1) * esz);
        if (!p)
            return ia__error(IA_ERR_NOMEM, "out of memory for %s", name);
        const char *src = out->data;
        for (int64_t r = 0; r < ne0; r++) /* stored rows: the inputs */
            for (int64_t o = 0; o < ne1; o++)
                memcpy(p + (size_t)(o * ne0 + r) * esz, src + (size_t)(r * ne1 + o) * esz, esz);
        *out = ia__tensor(out->dtype, ne0, ne1, 1, 1, p);
    }
    return place(d, name, out);
}

/* t's data in the backend's memory: where it lies for the CPU, else a
 * copy (uploaded, or copied into the backend's host-visible buffers,
 * which are all another backend can read). */
static ia_status place(ia_decoder *d, const char *name, ia_tensor *out)
{
    if (!d->be->iface.upload && !strcmp(d->be->name, "cpu"))
        return IA_OK;
    const size_t bytes = ia__tensor_nbytes(out);
    void *buf = d->be->iface.buf_alloc(d->bctx, bytes);
    void **l = buf ? ia__realloc(d->bufs, (d->n_bufs + 1) * sizeof *l) : NULL;
    if (!l) {
        if (buf)
            d->be->iface.buf_free(d->bctx, buf);
        return ia__error(IA_ERR_NOMEM, "backend %s: out of memory for %s (%zu bytes)", d->be->name, name, bytes);
    }
    d->bufs = l;
    d->bufs[d->n_bufs++] = buf;
    ia_status rc = IA_OK;
    if (d->be->iface.upload)
        rc = d->be->iface.upload(d->bctx, buf, out->data, bytes);
    else
        memcpy(buf, out->data, bytes);
    out->data = buf;
    return rc;
}

void ia__decoder_free(ia_decoder *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_bufs; i++)
        d->be->iface.buf_free(d->bctx, d->bufs[i]);
    for (size_t i = 0; i < d->n_host; i++)
        ia__free(d->host[i]);
    ia__free(d->bufs);
    ia__free(d->host);
    ia__free(d->layers);
    ia__gguf_close(d->g);
    ia__st_close(d->st);
    ia__free(d->path);
    ia__free(d);
}

/* One weight of the table: its GGUF and Hugging Face names ("%d": the
 * layer), where it goes, its shape and W_* flags. */
typedef struct wspec {
    const char *gguf, *hf;
    ia_tensor *t;
    int64_t ne0, ne1;
    unsigned flags;
} wspec;

/* The weights of the model in d->cfg, from whichever file d has. biases:
 * the W_*_BIAS groups a Hugging Face folder's config says it has (GGUF:
 * those present are used). */
static ia_status load_weights(ia_decoder *d, unsigned biases)
{
    const ia_decoder_config *c = &d->cfg;
    const bool gpt2 = c->kind == IA_DEC_GPT2, qwen3 = !strcmp(c->arch, "qwen3");
    const int64_t E = c->n_embd, Eq = (int64_t)c->n_head * c->head_dim, Ekv = (int64_t)c->n_head_kv * c->head_dim,
                  F = c->n_ff, V = c->n_vocab;
    /* GPT-2 folders: GPT2LMHeadModel's "transformer." prefix, or GPT2Model's
     * none; llama's "model.", or none in a base model's folder (the
     * Qwen2Model of a sentence-transformers embedder) */
    const char *pre = gpt2 ? (d->st && ia__st_find(d->st, "transformer.wte.weight") ? "transformer." : "")
                    : d->base && d->st && !ia__st_find(d->st, "model.embed_tokens.weight") ? "" : "model.";
    if (!(d->layers = ia__calloc((size_t)c->n_layer, sizeof *d->layers)))
        return ia__error(IA_ERR_NOMEM, "out of memory");
    const bool rope_file = d->g && !gpt2 && !opt(&d->rope_ff); /* llama3's factors, unless yarn's are made */
    const wspec global[] = {
        {"token_embd.weight", gpt2 ? "wte.weight" : "embed_tokens.weight", &d->tok_embd, E, V, 0},
        {"output_norm.weight", gpt2 ? "ln_f.weight" : "norm.weight", &d->out_norm, E, 0, 0},
        {"output_norm.bias", "ln_f.bias", &d->out_norm_b, E, 0, gpt2 ? 0 : W_SKIP},
        {"output.weight", "lm_head.weight", &d->output, E, V,
         W_NOPREFIX | (c->tied_embeddings || d->base ? W_SKIP : 0)},
        {"position_embd.weight", "wpe.weight", &d->pos_embd, E, c->n_ctx_train, gpt2 ? 0 : W_SKIP},
        {"rope_freqs.weight", NULL, &d->rope_ff, c->rope.n_dims / 2, 0, rope_file ? W_OPT : W_SKIP},
    };
    ia_status rc = IA_OK;
    for (size_t i = 0; i < IA_ARRAY_LEN(global) && !rc; i++) {
        const wspec *w = &global[i];
        char name[160];
        if (w->flags & W_SKIP)
            continue;
        snprintf(name, sizeof name, "%s%s", d->g || (w->flags & W_NOPREFIX) ? "" : pre, d->g ? w->gguf : w->hf);
        rc = weight(d, name, w->ne0, w->ne1, w->flags, w->t);
    }
    if (!rc && c->tied_embeddings)
        d->output = d->tok_embd;
    for (int l = 0; l < c->n_layer && !rc; l++) {
        dec_layer *L = &d->layers[l];
        const wspec llama[] = {
            {"attn_norm.weight", "input_layernorm.weight", &L->attn_norm, E, 0, 0},
            {"attn_q.weight", "self_attn.q_proj.weight", &L->wq, E, Eq, 0},
            {"attn_k.weight", "self_attn.k_proj.weight", &L->wk, E, Ekv, 0},
            {"attn_v.weight", "self_attn.v_proj.weight", &L->wv, E, Ekv, 0},
            {"attn_output.weight", "self_attn.o_proj.weight", &L->wo, Eq, E, 0},
            {"attn_q.bias", "self_attn.q_proj.bias", &L->bq, Eq, 0, W_OPT | W_QKV_BIAS},
            {"attn_k.bias", "self_attn.k_proj.bias", &L->bk, Ekv, 0, W_OPT | W_QKV_BIAS},
            {"attn_v.bias", "self_attn.v_proj.bias", &L->bv, Ekv, 0, W_OPT | W_QKV_BIAS},
            {"attn_output.bias", "self_attn.o_proj.bias", &L->bo, E, 0, W_OPT | W_O_BIAS},
            {"attn_q_norm.weight", "self_attn.q_norm.weight", &L->q_norm, c->head_dim, 0, qwen3 ? 0 : W_SKIP},
            {"attn_k_norm.weight", "self_attn.k_norm.weight", &L->k_norm, c->head_dim, 0, qwen3 ? 0 : W_SKIP},
            {"ffn_norm.weight", "post_attention_layernorm.weight", &L->ffn_norm, E, 0, 0},
            {"ffn_gate.weight", "mlp.gate_proj.weight", &L->w_gate, E, F, 0},
            {"ffn_up.weight", "mlp.up_proj.weight", &L->w_up, E, F, 0},
            {"ffn_down.weight", "mlp.down_proj.weight", &L->w_down, F, E, 0},
            {"ffn_gate.bias", "mlp.gate_proj.bias", &L->b_gate, F, 0, W_OPT | W_MLP_BIAS},
            {"ffn_up.bias", "mlp.up_proj.bias", &L->b_up, F, 0, W_OPT | W_MLP_BIAS},
            {"ffn_down.bias", "mlp.down_proj.bias", &L->b_down, E, 0, W_OPT | W_MLP_BIAS},
        };
        const wspec gpt[] = {
            {"attn_norm.weight", "ln_1.weight", &L->attn_norm, E, 0, 0},
            {"attn_norm.bias", "ln_1.bias", &L->attn_norm_b, E, 0, 0},
            {"attn_qkv.weight", "attn.c_attn.weight", &L->wqkv, E, 3 * E, W_T},
            {"attn_qkv.bias", "attn.c_attn.bias", &L->bqkv, 3 * E, 0, 0},
            {"attn_output.weight", "attn.c_proj.weight", &L->wo, E, E, W_T},
            {"attn_output.bias", "attn.c_proj.bias", &L->bo, E, 0, 0},
            {"ffn_norm.weight", "ln_2.weight", &L->ffn_norm, E, 0, 0},
            {"ffn_norm.bias", "ln_2.bias", &L->ffn_norm_b, E, 0, 0},
            {"ffn_up.weight", "mlp.c_fc.weight", &L->w_up, E, F, W_T},
            {"ffn_up.bias", "mlp.c_fc.bias", &L->b_up, F, 0, 0},
            {"ffn_down.weight", "mlp.c_proj.weight", &L->w_down, F, E, W_T},
            {"ffn_down.bias", "mlp.c_proj.bias", &L->b_down, E, 0, 0},
        };
        const wspec *w = gpt2 ? gpt : llama;
        const size_t nw = gpt2 ? IA_ARRAY_LEN(gpt) : IA_ARRAY_LEN(llama);
        for (size_t i = 0; i < nw && !rc; i++) {
            unsigned fl = w[i].flags;
            if (fl & W_SKIP)
                continue;
            if (d->st && (fl & (W_QKV_BIAS | W_O_BIAS | W_MLP_BIAS))) {
                if (!(fl & biases))
                    continue; /* config.json says the model has none */
                fl &= ~(unsigned)W_OPT;
            }
            char name[160];
            if (d->g)
                snprintf(name, sizeof name, "blk.%d.%s", l, w[i].gguf);
            else
                snprintf(name, sizeof name, "%s%s.%d.%s", pre, gpt2 ? "h" : "layers", l, w[i].hf);
            rc = weight(d, name, w[i].ne0, w[i].ne1, fl, w[i].t);
        }
        if (rc)
            break;
        if (gpt2) { /* q, k, v: row blocks of the fused projection */
            L->wq = ia__tensor_rows(&L->wqkv, 0, E);
            L->wk = ia__tensor_rows(&L->wqkv, E, E);
            L->wv = ia__tensor_rows(&L->wqkv, 2 * E, E);
            L->bq = ia__tensor(IA_DTYPE_F32, E, 1, 1, 1, L->bqkv.data);
            L->bk = ia__tensor(IA_DTYPE_F32, E, 1, 1, 1, (float *)L->bqkv.data + E);
            L->bv = ia__tensor(IA_DTYPE_F32, E, 1, 1, 1, (float *)L->bqkv.data + 2 * E);
        } else if (!(opt(&L->bq) && opt(&L->bk) && opt(&L->bv)) && (opt(&L->bq) || opt(&L->bk) || opt(&L->bv))) {
            rc = ia__error(IA_ERR_FORMAT, "%s: layer %d has biases for some of Q, K, V but not all", d->path, l);
        }
    }
    return rc;
}

static ia_status decoder_new(const char *path, const ia_backend *be, void *bctx, ia_decoder **out)
{
    *out = ia__calloc(1, sizeof **out);
    if (!*out || !((*out)->path = ia__strdup(path))) {
        ia__free(*out);
        *out = NULL;
        return ia__error(IA_ERR_NOMEM, "out of memory");
    }
    (*out)->be = be;
    (*out)->bctx = bctx;
    (*out)->kv_dtype = IA_DTYPE_F32;
    return IA_OK;
}

/* A q8_0 / q4_0 / q4_1 weight of the file's mapping, rearranged in place
 * into groups of 8 interleaved rows (tensor/dtype.h), which the CPU
 * backend's kernels read 1.6 to 2.3 times as fast. The mapping is private: the
 * pages written become this process's own, in place of the file's (no
 * more memory), and read-only again after. false: left as it was. */
static bool interleave8(const ia_decoder *d, ia_tensor *W)
{
    const uint8_t *base = ia__gguf_base(d->g), *p = W->data;
    if (!ia__dtype_interleavable(W->dtype) || !p || W->ne[1] % 8 ||
        W->ne[2] * W->ne[3] != 1 || W->nb[1] != ia__dtype_row_bytes(W->dtype, W->ne[0]) || p < base ||
        ia__tensor_nbytes(W) > ia__gguf_size(d->g) - (size_t)(p - base))
        return false; /* not a packed q4 matrix of the mapping */
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t a = (uintptr_t)W->data & ~(page - 1);
    const size_t len = (uintptr_t)W->data + ia__tensor_nbytes(W) - a;
    if (mprotect((void *)a, len, PROT_READ | PROT_WRITE))
        return false;
    const bool ok = ia__dtype_interleave8(W->dtype, W->data, W->ne[1], W->ne[0]);
    mprotect((void *)a, len, PROT_READ);
    return ok;
}

/* Every matmul weight interleave8 takes, and the token table with them,
 * on the CPU backend (which reads host memory in place: the nodes are
 * marked IA_NODE_W_INTERLEAVED8, its get_rows too). */
static void interleave_weights(ia_decoder *d)
{
    if (strcmp(d->be->name, "cpu") || d->be->iface.upload)
        return;
    const ia_decoder_config *c = &d->cfg;
    d->tok_embd_x8 = interleave8(d, &d->tok_embd);
    if (c->tied_embeddings) {
        d->output = d->tok_embd;
        d->output_x8 = d->tok_embd_x8;
    } else {
        d->output_x8 = interleave8(d, &d->output);
    }
    for (int l = 0; l < c->n_layer; l++) {
        dec_layer *L = &d->layers[l];
        if (c->kind == IA_DEC_GPT2) { /* the fused QKV, whose row blocks must stay whole groups */
            if (c->n_embd % 8 == 0 && interleave8(d, &L->wqkv)) {
                L->wq = ia__tensor_rows(&L->wqkv, 0, c->n_embd);
                L->wk = ia__tensor_rows(&L->wqkv, c->n_embd, c->n_embd);
                L->wv = ia__tensor_rows(&L->wqkv, 2 * c->n_embd, c->n_embd);
                L->x8 |= X8_Q | X8_K | X8_V;
            }
        } else {
            L->x8 |= (interleave8(d, &L->wq) ? X8_Q : 0) | (interleave8(d, &L->wk) ? X8_K : 0) |
                     (interleave8(d, &L->wv) ? X8_V : 0) | (interleave8(d, &L->w_gate) ? X8_GATE : 0);
        }
        L->x8 |= (interleave8(d, &L->wo) ? X8_O : 0) | (interleave8(d, &L->w_up) ? X8_UP : 0) |
                 (interleave8(d, &L->w_down) ? X8_DOWN : 0);
    }
}

ia_status ia__decoder_load_gguf(const char *path, const ia_backend *be, void *bctx, ia_decoder **out)
{
    ia_decoder *d;
    ia_status rc = decoder_new(path, be, bctx, &d);
    if (!rc)
        rc = ia__gguf_open(path, &d->g);
    if (!rc)
        rc = gguf_config(d);
    if (!rc)
        rc = load_weights(d, 0);
    if (rc) {
        ia__decoder_free(d);
        return rc;
    }
    interleave_weights(d);
    *out = d;
    return IA_OK;
}

static ia_status load_hf(const char *dir, bool base, const ia_backend *be, void *bctx, ia_decoder **out)
{
    ia_decoder *d;
    unsigned biases = 0;
    ia_status rc = decoder_new(dir, be, bctx, &d);
    if (!rc) {
        d->base = base;
        rc = hf_config(d, dir, &biases);
    }
    if (!rc)
        rc = ia__st_open_dir(dir, &d->st);
    if (!rc)
        rc = load_weights(d, biases);
    if (rc) {
        ia__decoder_free(d);
        return rc;
    }
    *out = d;
    return IA_OK;
}

ia_status ia__decoder_load_hf(const char *dir, const ia_backend *be, void *bctx, ia_decoder **out)
{
    return load_hf(dir, false, be, bctx, out);
}

ia_status ia__decoder_load_hf_base(const char *dir, const ia_backend *be, void *bctx, ia_decoder **out)
{
    return load_hf(dir, true, be, bctx, out);
}

const ia_decoder_config *ia__decoder_config(const ia_decoder *d) { return &d->cfg; }
const struct ia_gguf *ia__decoder_gguf(const ia_decoder *d) { return d->g; }

/* sessions ---------------------------------------------------------------- */

struct ia_session {
    const ia_decoder *d;
    int n_ctx, pos, cap;   /* positions allowed, filled, allocated */
    ia_dtype kv;           /* f32 or f16 */
    char **k, **v;         /* per layer (head_dim, n_head_kv, cap) of kv in backend memory */
    int32_t *tokens;       /* (n_ctx) the tokens at positions 0..pos */
};

/* Bytes of `positions` rows of one layer's keys (or values). */
static size_t kv_layer_bytes(const ia_session *s, int positions)
{
    const ia_decoder_config *c = &s->d->cfg;
    return (size_t)positions * (size_t)c->n_head_kv * (size_t)c->head_dim * (s->kv == IA_DTYPE_F16 ? 2 : 4);
}

/* The cache tensor of `n` positions from `first` of layer buffer kv. */
static ia_tensor kv_rows(const ia_session *s, char *kv, int first, int n)
{
    const ia_decoder_config *c = &s->d->cfg;
    return ia__tensor(s->kv, c->head_dim, c->n_head_kv, n, 1, kv + kv_layer_bytes(s, first));
}

ia_status ia__decoder_set_kv_dtype(ia_decoder *d, ia_dtype t)
{
    if (t != IA_DTYPE_F32 && t != IA_DTYPE_F16)
        return ia__error(IA_ERR_INVALID, "decoder: KV caches of %s: f32 or f16 only",
                         ia__dtype(t) ? ia__dtype(t)->name : "an unknown dtype");
    d->kv_dtype = t;
    return IA_OK;
}

ia_status ia__session_new(const ia_decoder *d, int n_ctx, ia_session **out)
{
    *out = NULL;
    if (n_ctx < 0)
        return ia__error(IA_ERR_INVALID, "session: n_ctx %d must be >= 0", n_ctx);
    if (d->cfg.kind == IA_DEC_GPT2 && n_ctx > d->cfg.n_ctx_train) /* no position past its table */
        return ia__error(IA_ERR_INVALID, "session: n_ctx %d is more than the %d positions %s learned", n_ctx,
                         d->cfg.n_ctx_train, d->path);
    ia_session *s = ia__calloc(1, sizeof *s);
    if (s) {
        s->k = ia__calloc((size_t)d->cfg.n_layer, sizeof *s->k);
        s->v = ia__calloc((size_t)d->cfg.n_layer, sizeof *s->v);
    }
    if (!s || !s->k || !s->v) {
        ia__session_free(s);
        return ia__error(IA_ERR_NOMEM, "out of memory");
    }
    s->d = d;
    s->kv = d->kv_dtype;
    s->n_ctx = n_ctx ? n_ctx : d->cfg.n_ctx_train;
    if (!(s->tokens = ia__malloc((size_t)s->n_ctx * sizeof *s->tokens))) {
        ia__session_free(s);
        return ia__error(IA_ERR_NOMEM, "out of memory for a session of %d positions", s->n_ctx);
    }
    *out = s;
    return IA_OK;
}

void ia__session_free(ia_session *s)
{
    if (!s)
        return;
    const ia_decoder *d = s->d;
    for (int l = 0; d && l < d->cfg.n_layer; l++) {
        if (s->k && s->k[l])
            d->be->iface.buf_free(d->bctx, s->k[l]);
        if (s->v && s->v[l])
            d->be->iface.buf_free(d->bctx, s->v[l]);
    }
    ia__free(s->k);
    ia__free(s->v);
    ia__free(s->tokens);
    ia__free(s);
}

int ia__session_pos(const ia_session *s) { return s->pos; }
const int32_t *ia__session_tokens(const ia_session *s) { return s->tokens; }
int ia__session_n_ctx(const ia_session *s) { return s->n_ctx; }
size_t ia__session_kv_bytes(const ia_session *s) { return 2 * (size_t)s->d->cfg.n_layer * kv_layer_bytes(s, s->cap); }

void ia__session_truncate(ia_session *s, int pos)
{
    if (pos >= 0 && pos < s->pos)
        s->pos = pos;
}

/* Room for `need` positions: the caches grow by whole blocks, the filled
 * part copied over by the backend (one cpy node per cache). */
static ia_status kv_reserve(ia_session *s, int need)
{
    if (need <= s->cap)
        return IA_OK;
    const ia_decoder *d = s->d;
    const ia_decoder_config *c = &d->cfg;
    int cap = (need + IA_KV_BLOCK - 1) / IA_KV_BLOCK * IA_KV_BLOCK;
    if (cap > s->n_ctx)
        cap = s->n_ctx;
    const int L = c->n_layer;
    char **nk = ia__calloc((size_t)L, sizeof *nk), **nv = ia__calloc((size_t)L, sizeof *nv);
    ia_node *cp = ia__calloc((size_t)(2 * L), sizeof *cp);
    ia_tensor *ts = ia__calloc((size_t)(4 * L), sizeof *ts);
    ia_status rc = nk && nv && cp && ts ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory");
    for (int l = 0; l < L && !rc; l++) {
        nk[l] = d->be->iface.buf_alloc(d->bctx, kv_layer_bytes(s, cap));
        nv[l] = d->be->iface.buf_alloc(d->bctx, kv_layer_bytes(s, cap));
        if (!nk[l] || !nv[l])
            rc = ia__error(IA_ERR_NOMEM, "backend %s: out of memory for a KV cache of %d positions", d->be->name,
                           cap);
    }
    int n = 0;
    for (int l = 0; l < L && !rc && s->pos > 0; l++)
        for (int kv = 0; kv < 2; kv++) {
            ia_tensor *src = &ts[4 * l + 2 * kv], *dst = src + 1;
            *src = kv_rows(s, kv ? s->v[l] : s->k[l], 0, s->pos);
            *dst = kv_rows(s, kv ? nv[l] : nk[l], 0, s->pos);
            cp[n++] = (ia_node){.op = IA_OP_CPY, .dst = dst, .src = {src}};
        }
    if (!rc && n)
        rc = ia__graph_run(d->be, d->bctx, cp, n, NULL);
    char **drop_k = rc ? nk : s->k, **drop_v = rc ? nv : s->v;
    for (int l = 0; drop_k && drop_v && l < L; l++) {
        if (drop_k[l])
            d->be->iface.buf_free(d->bctx, drop_k[l]);
        if (drop_v[l])
            d->be->iface.buf_free(d->bctx, drop_v[l]);
    }
    if (!rc) {
        ia__free(s->k);
        ia__free(s->v);
        s->k = nk;
        s->v = nv;
        s->cap = cap;
    } else {
        ia__free(nk);
        ia__free(nv);
    }
    ia__free(cp);
    ia__free(ts);
    return rc;
}

/* forward ----------------------------------------------------------------- */

enum { HEAD_NODES = 3, LAYER_NODES = 16, SEQ_NODES = 3, TAIL_NODES = 3, SEQ_TENSORS = 8, SCRATCH = 11 };

/* The block's normalization: LayerNorm with its bias (gpt2) or RMSNorm. */
static ia_node norm(const ia_decoder_config *c, ia_tensor *dst, const ia_tensor *x, const ia_tensor *w,
                    const ia_tensor *b)
{
    if (c->kind == IA_DEC_GPT2)
        return (ia_node){.op = IA_OP_LAYERNORM, .dst = dst, .src = {x, NULL, w, b}, .p.eps = c->norm_eps};
    return (ia_node){.op = IA_OP_RMSNORM, .dst = dst, .src = {x, NULL, w}, .p.eps = c->norm_eps};
}

/* One forward of n_seq sequences together: ns[i] tokens tok[i] at the next
 * positions of session ss[i] (distinct sessions, caches reserved). The
 * matmuls run on all rows at once; positions, cache writes and attention
 * per sequence. Logits of the concatenated rows rows[0..nl) go to logits
 * (nl, n_vocab); or, with states (backend memory, nl 0), every row's
 * hidden state after the final norm (n, n_embd). */
static ia_status eval_seqs(ia_session *const *ss, const int32_t *const *tok, const int *ns, int n_seq,
                           const int32_t *rows, int nl, float *logits, void *states)
{
    const ia_decoder *d = ss[0]->d;
    const ia_decoder_config *c = &d->cfg;
    const struct ia_backend_i *op = &d->be->iface;
    void *bc = d->bctx;
    const bool gpt2 = c->kind == IA_DEC_GPT2;
    const int64_t E = c->n_embd, hd = c->head_dim, H = c->n_head, Hk = c->n_head_kv, F = c->n_ff, V = c->n_vocab;
    const int64_t Eq = H * hd;
    int n = 0;
    for (int i = 0; i < n_seq; i++)
        n += ns[i];
    if (nl && !d->output.data)
        return ia__error(IA_ERR_UNSUPPORTED, "%s: loaded as a base model, without the vocabulary projection: no "
                         "logits", d->path);

    /* scratch: x, h (E); q, att (H hd); k, v (Hk hd); gate, up (F); ids,
     * positions, logit rows; logits; the logit rows' states */
    const size_t fsz = sizeof(float);
    const size_t sizes[SCRATCH] = {(size_t)(n * E) * fsz, (size_t)(n * E) * fsz, (size_t)(n * Eq) * fsz,
                                   (size_t)(n * Eq) * fsz, (size_t)(n * Hk * hd) * fsz, (size_t)(n * Hk * hd) * fsz,
                                   (size_t)(n * F) * fsz, (size_t)(n * F) * fsz,
                                   (size_t)(2 * n + nl) * sizeof(int32_t), (size_t)(nl ? nl * V : 1) * fsz,
                                   (size_t)(nl ? nl * E : 1) * fsz};
    void *buf[SCRATCH] = {0};
    ia_status rc = IA_OK;
    for (int i = 0; i < SCRATCH && !rc; i++)
        if (!(buf[i] = op->buf_alloc(bc, sizes[i])))
            rc = ia__error(IA_ERR_NOMEM, "backend %s: out of memory for a batch of %d tokens", d->be->name, n);
    int32_t *host_in = ia__malloc((size_t)(2 * n + nl) * sizeof(int32_t));
    const int n_nodes = HEAD_NODES + (LAYER_NODES + SEQ_NODES * n_seq) * c->n_layer + TAIL_NODES;
    ia_node *g = ia__calloc((size_t)n_nodes, sizeof *g);
    ia_tensor *t = ia__calloc((size_t)(19 + SEQ_TENSORS * n_seq * c->n_layer), sizeof *t);
    if (!rc && (!host_in || !g || !t))
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    if (!rc) {
        for (int i = 0, r = 0; i < n_seq; i++)
            for (int j = 0; j < ns[i]; j++, r++) {
                host_in[r] = tok[i][j];
                host_in[n + r] = ss[i]->pos + j;
            }
        if (nl) /* rows may be NULL without */
            memcpy(host_in + 2 * n, rows, (size_t)nl * sizeof *rows);
        if (op->upload)
            rc = op->upload(bc, buf[8], host_in, sizes[8]);
        else
            memcpy(buf[8], host_in, sizes[8]);
    }
    if (!rc) {
        ia_tensor *x = &t[0], *h = &t[1], *q = &t[2], *att2 = &t[3], *k = &t[4], *v = &t[5], *gate = &t[6],
                  *up = &t[7], *ids = &t[8], *pos = &t[9], *lrows = &t[10], *xl = &t[11], *hl = &t[12],
                  *lg = &t[13], *qh = &t[14], *kh = &t[15], *qr = &t[16], *kr = &t[17];
        *x = ia__tensor(IA_DTYPE_F32, E, n, 1, 1, buf[0]);
        *h = ia__tensor(IA_DTYPE_F32, E, n, 1, 1, buf[1]);
        *q = ia__tensor(IA_DTYPE_F32, Eq, n, 1, 1, buf[2]);
        *att2 = ia__tensor(IA_DTYPE_F32, Eq, n, 1, 1, buf[3]);
        *k = ia__tensor(IA_DTYPE_F32, Hk * hd, n, 1, 1, buf[4]);
        *v = ia__tensor(IA_DTYPE_F32, Hk * hd, n, 1, 1, buf[5]);
        *gate = ia__tensor(IA_DTYPE_F32, F, n, 1, 1, buf[6]);
        *up = ia__tensor(IA_DTYPE_F32, F, n, 1, 1, buf[7]);
        *ids = ia__tensor(IA_DTYPE_I32, n, 1, 1, 1, buf[8]);
        *pos = ia__tensor(IA_DTYPE_I32, n, 1, 1, 1, (int32_t *)buf[8] + n);
        *qr = ia__tensor(IA_DTYPE_F32, hd, H, n, 1, buf[2]); /* q and k by head, for rope */
        *kr = ia__tensor(IA_DTYPE_F32, hd, Hk, n, 1, buf[4]);
        *lrows = ia__tensor(IA_DTYPE_I32, nl, 1, 1, 1, (int32_t *)buf[8] + 2 * n);
        *xl = ia__tensor(IA_DTYPE_F32, E, nl, 1, 1, buf[10]);
        *hl = *xl;
        /* a host backend writes the caller's logits in place */
        *lg = ia__tensor(IA_DTYPE_F32, V, nl, 1, 1, logits && !op->download ? (void *)logits : buf[9]);
        ia_node *nd = g;
        *nd++ = (ia_node){.op = IA_OP_GET_ROWS, .dst = x, .src = {&d->tok_embd, ids},
                          .flags = d->tok_embd_x8 ? IA_NODE_W_INTERLEAVED8 : 0};
        if (gpt2) { /* learned positions */
            *nd++ = (ia_node){.op = IA_OP_GET_ROWS, .dst = h, .src = {&d->pos_embd, pos}};
            *nd++ = (ia_node){.op = IA_OP_ADD, .dst = x, .src = {x, h}};
        }
        ia_tensor *st = &t[19];
        for (int l = 0; l < c->n_layer; l++) {
            const dec_layer *L = &d->layers[l];
            *nd++ = norm(c, h, x, &L->attn_norm, opt(&L->attn_norm_b));
            *nd++ = (ia_node){.op = IA_OP_MATMUL, .dst = q, .src = {h, &L->wq, opt(&L->bq)}, .flags = X8(L, X8_Q)};
            *nd++ = (ia_node){.op = IA_OP_MATMUL, .dst = k, .src = {h, &L->wk, opt(&L->bk)}, .flags = X8(L, X8_K)};
            *nd++ = (ia_node){.op = IA_OP_MATMUL, .dst = v, .src = {h, &L->wv, opt(&L->bv)}, .flags = X8(L, X8_V)};
            if (opt(&L->q_norm)) { /* qwen3: each head's q and k RMS-normed, in place, before rope */
                *qh = ia__tensor(IA_DTYPE_F32, hd, H * n, 1, 1, buf[2]);
                *kh = ia__tensor(IA_DTYPE_F32, hd, Hk * n, 1, 1, buf[4]);
                *nd++ = (ia_node){.op = IA_OP_RMSNORM, .dst = qh, .src = {qh, NULL, &L->q_norm}, .p.eps = c->norm_eps};
                *nd++ = (ia_node){.op = IA_OP_RMSNORM, .dst = kh, .src = {kh, NULL, &L->k_norm}, .p.eps = c->norm_eps};
            }
            if (!gpt2) { /* every row at its own position, in place: one node each for the whole batch */
                const ia_tensor *ff = opt(&d->rope_ff);
                *nd++ = (ia_node){.op = IA_OP_ROPE, .dst = qr, .src = {qr, pos, ff}, .p.rope = c->rope};
                *nd++ = (ia_node){.op = IA_OP_ROPE, .dst = kr, .src = {kr, pos, ff}, .p.rope = c->rope};
            }
            for (int i = 0, r = 0; i < n_seq; r += ns[i], i++) {
                ia_session *s = ss[i];
                const int m = ns[i];
                ia_tensor *q3 = st++, *k3 = st++, *v3 = st++, *kc = st++, *vc = st++, *kall = st++, *vall = st++,
                          *att = st++;
                const size_t row = (size_t)r * Hk * hd;
                *q3 = ia__tensor(IA_DTYPE_F32, hd, H, m, 1, (float *)buf[2] + (size_t)r * Eq);
                *att = ia__tensor(IA_DTYPE_F32, hd, H, m, 1, (float *)buf[3] + (size_t)r * Eq);
                *k3 = ia__tensor(IA_DTYPE_F32, hd, Hk, m, 1, (float *)buf[4] + row);
                *v3 = ia__tensor(IA_DTYPE_F32, hd, Hk, m, 1, (float *)buf[5] + row);
                /* this batch's rows of the caches, and all rows so far */
                *kc = kv_rows(s, s->k[l], s->pos, m);
                *vc = kv_rows(s, s->v[l], s->pos, m);
                *kall = kv_rows(s, s->k[l], 0, s->pos + m);
                *vall = kv_rows(s, s->v[l], 0, s->pos + m);
                const ia_attn_params ap = {.mask = c->bidirectional ? IA_MASK_NONE
                                                 : c->sliding_window ? IA_MASK_SLIDING : IA_MASK_CAUSAL,
                                           .window = c->sliding_window, .scale = c->attn_scale, .pos_q0 = s->pos};
                *nd++ = (ia_node){.op = IA_OP_CPY, .dst = kc, .src = {k3}};
                *nd++ = (ia_node){.op = IA_OP_CPY, .dst = vc, .src = {v3}};
                *nd++ = (ia_node){.op = IA_OP_ATTENTION, .dst = att, .src = {q3, kall, vall}, .p.attn = ap};
            }
            *nd++ = (ia_node){.op = IA_OP_MATMUL, .dst = h, .src = {att2, &L->wo, opt(&L->bo)}, .flags = X8(L, X8_O)};
            *nd++ = (ia_node){.op = IA_OP_ADD, .dst = x, .src = {x, h}};
            *nd++ = norm(c, h, x, &L->ffn_norm, opt(&L->ffn_norm_b));
            if (gpt2) { /* up with its activation, down */
                *nd++ = (ia_node){.op = IA_OP_MATMUL, .dst = up, .src = {h, &L->w_up, opt(&L->b_up)}, .p.act = c->act,
                                  .flags = X8(L, X8_UP)};
            } else {
                *nd++ = (ia_node){.op = IA_OP_MATMUL, .dst = gate, .src = {h, &L->w_gate, opt(&L->b_gate)}, .flags = X8(L, X8_GATE)};
                *nd++ = (ia_node){.op = IA_OP_MATMUL, .dst = up, .src = {h, &L->w_up, opt(&L->b_up)}, .flags = X8(L, X8_UP)};
                *nd++ = (ia_node){.op = IA_OP_GLU, .dst = gate, .src = {gate, up}, .p.act = c->act};
            }
            *nd++ = (ia_node){.op = IA_OP_MATMUL, .dst = h, .src = {gpt2 ? up : gate, &L->w_down, opt(&L->b_down)},
                              .flags = X8(L, X8_DOWN)};
            *nd++ = (ia_node){.op = IA_OP_ADD, .dst = x, .src = {x, h}};
        }
        if (states) { /* every row, normed into the caller's buffer */
            *hl = ia__tensor(IA_DTYPE_F32, E, n, 1, 1, states);
            *nd++ = norm(c, hl, x, &d->out_norm, opt(&d->out_norm_b));
        } else if (nl) {
            *nd++ = (ia_node){.op = IA_OP_GET_ROWS, .dst = xl, .src = {x, lrows}};
            *nd++ = norm(c, hl, xl, &d->out_norm, opt(&d->out_norm_b));
            *nd++ = (ia_node){.op = IA_OP_MATMUL, .dst = lg, .src = {hl, &d->output},
                              .flags = d->output_x8 ? IA_NODE_W_INTERLEAVED8 : 0};
        }
        rc = ia__graph_run(d->be, bc, g, (int)(nd - g), NULL);
    }
    if (!rc && logits && nl) {
        if (op->download)
            rc = op->download(bc, logits, buf[9], sizes[9]);
    }
    for (int i = 0; i < n_seq && !rc; i++) {
        memcpy(ss[i]->tokens + ss[i]->pos, tok[i], (size_t)ns[i] * sizeof *tok[i]);
        ss[i]->pos += ns[i];
    }
    for (int i = 0; i < SCRATCH; i++)
        if (buf[i])
            op->buf_free(bc, buf[i]);
    ia__free(host_in);
    ia__free(g);
    ia__free(t);
    return rc;
}

static ia_status check_tokens(const ia_session *s, const int32_t *tokens, int n)
{
    if (n < 1 || !tokens)
        return ia__error(IA_ERR_INVALID, "session: nothing to evaluate");
    if (n > s->n_ctx - s->pos)
        return ia__error(IA_ERR_INVALID, "session: %d tokens after %d would exceed the context of %d", n, s->pos,
                         s->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= s->d->cfg.n_vocab)
            return ia__error(IA_ERR_INVALID, "session: token id %d (position %d of the input) is outside the "
                             "vocabulary of %d", (int)tokens[i], i, s->d->cfg.n_vocab);
    return IA_OK;
}

ia_status ia__session_eval(ia_session *s, const int32_t *tokens, int n, float *logits, float *all_logits)
{
    const ia_decoder_config *c = &s->d->cfg;
    ia_status rc = check_tokens(s, tokens, n);
    if (!rc)
        rc = kv_reserve(s, s->pos + n);
    int32_t *rows = rc ? NULL : ia__malloc((size_t)IA_DECODE_BATCH * sizeof *rows);
    if (!rc && !rows)
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    for (int done = 0; !rc && done < n;) {
        const int m = IA_MIN(n - done, IA_DECODE_BATCH), last = done + m == n;
        /* logits of every row for all_logits, else of the last row only */
        int nl = 0;
        if (all_logits)
            for (; nl < m; nl++)
                rows[nl] = nl;
        else if (last && logits)
            rows[nl++] = m - 1;
        float *dst = all_logits ? all_logits + (size_t)done * c->n_vocab : last ? logits : NULL;
        const int32_t *tk = tokens + done;
        rc = eval_seqs(&s, &tk, &m, 1, rows, nl, dst, NULL);
        done += m;
    }
    ia__free(rows);
    if (!rc && all_logits && logits)
        memcpy(logits, all_logits + (size_t)(n - 1) * c->n_vocab, (size_t)c->n_vocab * sizeof(float));
    return rc;
}

ia_status ia__session_eval_batch(ia_session *const *ss, const int32_t *const *tokens, const int *n, int n_seq,
                                 const bool *want_logits, float *logits)
{
    if (n_seq < 1)
        return ia__error(IA_ERR_INVALID, "session batch: no sequences");
    int total = 0, nl = 0;
    ia_status rc = IA_OK;
    for (int i = 0; i < n_seq && !rc; i++) {
        if (ss[i]->d != ss[0]->d)
            return ia__error(IA_ERR_INVALID, "session batch: sequence %d belongs to another model", i);
        for (int j = 0; j < i; j++)
            if (ss[j] == ss[i])
                return ia__error(IA_ERR_INVALID, "session batch: sequences %d and %d share a session", j, i);
        rc = check_tokens(ss[i], tokens[i], n[i]);
        total += n[i];
        nl += want_logits[i];
    }
    if (!rc && total > IA_DECODE_BATCH)
        rc = ia__error(IA_ERR_INVALID, "session batch: %d tokens, more than a forward takes (%d)", total,
                       IA_DECODE_BATCH);
    for (int i = 0; i < n_seq && !rc; i++)
        rc = kv_reserve(ss[i], ss[i]->pos + n[i]);
    int32_t *rows = rc ? NULL : ia__malloc((size_t)(nl ? nl : 1) * sizeof *rows);
    if (!rc && !rows)
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    for (int i = 0, r = 0, k = 0; i < n_seq && !rc; r += n[i], i++)
        if (want_logits[i])
            rows[k++] = r + n[i] - 1;
    if (!rc)
        rc = eval_seqs(ss, tokens, n, n_seq, rows, nl, logits, NULL);
    ia__free(rows);
    return rc;
}

ia_status ia__session_copy_prefix(ia_session *dst, const ia_session *src, int n)
{
    const ia_decoder *d = dst->d;
    const ia_decoder_config *c = &d->cfg;
    if (src->d != d || n < 0 || n > src->pos || n > dst->n_ctx)
        return ia__error(IA_ERR_INVALID, "session: cannot copy %d positions of a session holding %d", n, src->pos);
    dst->pos = 0;
    if (!n)
        return IA_OK;
    ia_status rc = kv_reserve(dst, n);
    const int L = c->n_layer;
    ia_node *cp = rc ? NULL : ia__calloc((size_t)(2 * L), sizeof *cp);
    ia_tensor *ts = rc ? NULL : ia__calloc((size_t)(4 * L), sizeof *ts);
    if (!rc && (!cp || !ts))
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    for (int l = 0, k = 0; l < L && !rc; l++)
        for (int kv = 0; kv < 2; kv++, k++) {
            ts[2 * k] = kv_rows(src, kv ? src->v[l] : src->k[l], 0, n);
            ts[2 * k + 1] = kv_rows(dst, kv ? dst->v[l] : dst->k[l], 0, n);
            cp[k] = (ia_node){.op = IA_OP_CPY, .dst = &ts[2 * k + 1], .src = {&ts[2 * k]}};
        }
    if (!rc)
        rc = ia__graph_run(d->be, d->bctx, cp, 2 * L, NULL);
    if (!rc) {
        memcpy(dst->tokens, src->tokens, (size_t)n * sizeof *dst->tokens);
        dst->pos = n;
    }
    ia__free(cp);
    ia__free(ts);
    return rc;
}

ia_status ia__decoder_hidden(const ia_decoder *d, const int32_t *ids, const int *offsets, int n_seqs, float *hidden)
{
    /* each text in a session of its own length, from position 0: the KV
     * cache is the attention's scratch, dropped after */
    ia_session **ss = ia__calloc((size_t)(n_seqs > 0 ? n_seqs : 1), sizeof *ss);
    const int32_t **tok = ia__malloc((size_t)(n_seqs > 0 ? n_seqs : 1) * sizeof *tok);
    int *ns = ia__malloc((size_t)(n_seqs > 0 ? n_seqs : 1) * sizeof *ns);
    ia_status rc = ss && tok && ns ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory for %d texts", n_seqs);
    for (int i = 0; i < n_seqs && !rc; i++) {
        tok[i] = ids + offsets[i];
        ns[i] = offsets[i + 1] - offsets[i];
        if (ns[i] < 1)
            rc = ia__error(IA_ERR_INVALID, "%s: text %d has no tokens", d->path, i);
        if (!rc)
            rc = ia__session_new(d, ns[i], &ss[i]);
        if (!rc)
            rc = check_tokens(ss[i], tok[i], ns[i]);
        if (!rc)
            rc = kv_reserve(ss[i], ns[i]);
    }
    if (!rc && n_seqs > 0)
        rc = eval_seqs(ss, tok, ns, n_seqs, NULL, 0, NULL, hidden);
    for (int i = 0; ss && i < n_seqs; i++)
        ia__session_free(ss[i]);
    ia__free(ss);
    ia__free(tok);
    ia__free(ns);
    return rc;
}
