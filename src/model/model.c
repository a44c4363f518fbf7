/*
 * A sentence-embedding model: a Hugging Face folder turned into tokenizer +
 * encoder (through the architecture registry and a backend) + the
 * sentence-transformers modules that follow it (Pooling, Normalize).
 *
 * Embedding sorts the texts by token count and packs them, without padding,
 * into batches under a token budget; every text's result is independent of
 * its neighbours, so callers may group texts however they like.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipfs_accelerate/model.h"
#include "model/arch-impl.h"
#include "model/model-impl.h"
#include "hw/hw-impl.h"
#include "core/config-impl.h"
#include "tokenizer/tokenizer-impl.h"
#include "model/heads-impl.h"

#define DEFAULT_BATCH_TOKENS 8192

/* Sentence embeddings from token states: sentence-transformers' Pooling
 * modes (one at a time). */
typedef enum ia_pool_mode {
    IA_POOL_MEAN,
    IA_POOL_CLS,
    IA_POOL_MAX,
    IA_POOL_MEAN_SQRT_LEN, /* the sum over sqrt(tokens) */
    IA_POOL_WEIGHTED_MEAN, /* token t (from 0) weighs t + 1 */
    IA_POOL_LAST_TOKEN,
    IA_POOL_SPLADE,        /* the masked-LM head's logits: max over tokens of log(1 + relu) */
} ia_pool_mode;

static const struct {
    ia_pool_mode mode;
    const char *name, *flag; /* pooling_mode's value; the flag of older configs */
} pool_modes[] = {
    {IA_POOL_MEAN, "mean", "pooling_mode_mean_tokens"},
    {IA_POOL_CLS, "cls", "pooling_mode_cls_token"},
    {IA_POOL_MAX, "max", "pooling_mode_max_tokens"},
    {IA_POOL_MEAN_SQRT_LEN, "mean_sqrt_len_tokens", "pooling_mode_mean_sqrt_len_tokens"},
    {IA_POOL_WEIGHTED_MEAN, "weightedmean", "pooling_mode_weightedmean_tokens"},
    {IA_POOL_LAST_TOKEN, "lasttoken", "pooling_mode_lasttoken"},
    {IA_POOL_SPLADE, "splade", NULL}, /* sentence-transformers' SpladePooling module, or chosen */
};

struct ia_model {
    char *path;
    const ia_arch *arch;
    void *state;
    ia_encoder_config cfg;
    const ia_backend *be;
    void *bctx;               /* the backend instance: this model's threads and precision */
    ia_tokenizer *tok;
    ia_pool_mode pooling;
    /* sentence-transformers Dense modules after pooling, in order: y =
     * act(W x + b), W (out, in) */
    struct st_dense {
        int n_in, n_out;
        float *W, *b;
        bool tanh; /* else identity */
    } dense[4];
    int n_dense;
    /* config_sentence_transformers.json: prompts by name, and the default */
    char **prompt_names, **prompt_texts;
    int n_prompts, default_prompt; /* -1: none */
    bool normalize;
    size_t max_seq_length, batch_tokens, n_params;
    const char *weights_dtype;
    int n_threads;
    ia_selection sel; /* backend, device and precision chosen at load */
    uint64_t memory_limit, weight_bytes; /* hardware.memory_limit (0: none); weights' estimate */
    bool profile;     /* performance.enable_profiling */
    ia_cls_head head; /* of *ForSequenceClassification models (n_labels 0: none) */
    ia_mlm_head mlm;  /* the masked-LM head of SPLADE pooling */
    /* Calls hold it shared; a device that fails mid-call is swapped for
     * the CPU under it held exclusively (rebind_on_cpu): be, bctx, state,
     * mlm and sel change then, the rest never after the load. */
    pthread_rwlock_t swap;
    bool swap_init;
};

/* Bytes of activations a forward over n_tok tokens in sequences of at most
 * max_len needs: the hidden states and the layer scratch (x, qkv, ctx,
 * ffn) and the attention's per-thread rows; a decoder's KV caches too. */
static uint64_t activation_bytes(const ia_model *m, size_t n_tok, size_t max_len)
{
    const uint64_t H = (uint64_t)m->cfg.hidden_size, I = (uint64_t)m->cfg.intermediate_size;
    const uint64_t nt = m->n_threads > 0 ? (uint64_t)m->n_threads : (uint64_t)omp_get_num_procs();
    const uint64_t hd = H / (uint64_t)m->cfg.n_heads, lp = (max_len + 15) & ~(uint64_t)15;
    return 4 * ((uint64_t)n_tok * (5 * H + I + (uint64_t)m->cfg.extra_per_token) +
                nt * ((hd + 8) * lp + max_len * 4 * H));
}

static ia_status load_json(const char *dir, const char *name, bool required, cJSON **out)
{
    *out = NULL;
    char *path = ia__path_join(dir, name);
    if (!path)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    ia_status rc = !required && !ia__file_exists(path) ? IA_OK : ia__read_json(path, out);
    ia__free(path);
    return rc;
}

static bool json_true(const cJSON *obj, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

/* A sentence-transformers Dense module in `sub` of the folder: its
 * config.json (in_features, out_features, bias, activation_function Tanh
 * or Identity) and weights (model.safetensors: linear.weight [out, in],
 * linear.bias [out]), read into d, which takes in_features in. */
static ia_status load_st_dense(const char *dir, const char *sub, int in_features, struct st_dense *d)
{
    char *cfg_name = ia__path_join(sub, "config.json"), *w_dir = ia__path_join(dir, sub);
    cJSON *cfg = NULL;
    ia_safetensors *st = NULL;
    ia_status rc = cfg_name && w_dir ? load_json(dir, cfg_name, true, &cfg) : ia__error(IA_ERR_NOMEM, "out of memory");
    const cJSON *in = rc ? NULL : cJSON_GetObjectItemCaseSensitive(cfg, "in_features");
    const cJSON *out = rc ? NULL : cJSON_GetObjectItemCaseSensitive(cfg, "out_features");
    const cJSON *act = rc ? NULL : cJSON_GetObjectItemCaseSensitive(cfg, "activation_function");
    const cJSON *bias = rc ? NULL : cJSON_GetObjectItemCaseSensitive(cfg, "bias");
    const char *a = cJSON_IsString(act) ? act->valuestring : "torch.nn.modules.linear.Identity";
    if (!rc && (!cJSON_IsNumber(in) || !cJSON_IsNumber(out) || in->valuedouble != in_features ||
                out->valuedouble < 1 || out->valuedouble > 1 << 20 || out->valuedouble != (int)out->valuedouble))
        rc = ia__error(IA_ERR_FORMAT, "%s/%s/config.json: in_features must be %d (what the modules before give) "
                       "and out_features a positive integer", dir, sub, in_features);
    else if (!rc && !strstr(a, "Tanh") && !strstr(a, "Identity"))
        rc = ia__error(IA_ERR_UNSUPPORTED, "%s/%s/config.json: activation_function \"%s\" (supported: Tanh, "
                       "Identity)", dir, sub, a);
    if (!rc) {
        d->n_in = in_features;
        d->n_out = (int)out->valuedouble;
        d->tanh = strstr(a, "Tanh") != NULL;
        rc = ia__st_open_dir(w_dir, &st);
    }
    const ia_st_tensor *w = rc ? NULL : ia__st_find(st, "linear.weight");
    const ia_st_tensor *b = rc ? NULL : ia__st_find(st, "linear.bias");
    const bool want_b = !cJSON_IsFalse(bias);
    if (!rc && (!w || w->n_dims != 2 || w->shape[0] != d->n_out || w->shape[1] != d->n_in ||
                (want_b && (!b || b->n_dims != 1 || b->shape[0] != d->n_out))))
        rc = ia__error(IA_ERR_FORMAT, "%s/%s: linear.weight must be [%d, %d]%s", dir, sub, d->n_out, d->n_in,
                       want_b ? " and linear.bias [out_features]" : "");
    if (!rc && (!(d->W = ia__malloc((size_t)d->n_out * d->n_in * sizeof(float))) ||
                !(d->b = ia__calloc((size_t)d->n_out, sizeof(float)))))
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    if (!rc) {
        ia__st_to_f32(w, d->W);
        if (want_b)
            ia__st_to_f32(b, d->b);
    }
    ia__st_close(st);
    cJSON_Delete(cfg);
    ia__free(cfg_name);
    ia__free(w_dir);
    return rc;
}

/* config_sentence_transformers.json's "prompts" ({name: text}) and
 * "default_prompt_name" (a name among them, or null). */
static ia_status load_st_prompts(ia_model *m, const char *dir)
{
    cJSON *cfg;
    ia_status rc = load_json(dir, "config_sentence_transformers.json", false, &cfg);
    m->default_prompt = -1;
    const cJSON *prompts = rc ? NULL : cJSON_GetObjectItemCaseSensitive(cfg, "prompts");
    const cJSON *dflt = rc ? NULL : cJSON_GetObjectItemCaseSensitive(cfg, "default_prompt_name");
    const int n = cJSON_IsObject(prompts) ? cJSON_GetArraySize(prompts) : 0;
    if (prompts && !cJSON_IsObject(prompts) && !cJSON_IsNull(prompts))
        rc = ia__error(IA_ERR_FORMAT, "%s/config_sentence_transformers.json: \"prompts\" must be an object of "
                       "name: text", dir);
    if (!rc && n && (!(m->prompt_names = ia__calloc((size_t)n, sizeof *m->prompt_names)) ||
                     !(m->prompt_texts = ia__calloc((size_t)n, sizeof *m->prompt_texts))))
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    const cJSON *p;
    if (!rc && n)
        cJSON_ArrayForEach(p, prompts) {
            if (rc)
                break;
            if (!cJSON_IsString(p))
                rc = ia__error(IA_ERR_FORMAT, "%s/config_sentence_transformers.json: prompt \"%s\" must be a string",
                               dir, p->string);
            else if (!(m->prompt_names[m->n_prompts] = ia__strdup(p->string)) ||
                     !(m->prompt_texts[m->n_prompts++] = ia__strdup(p->valuestring)))
                rc = ia__error(IA_ERR_NOMEM, "out of memory");
        }
    if (!rc && cJSON_IsString(dflt)) {
        for (int i = 0; i < m->n_prompts; i++)
            if (!strcmp(m->prompt_names[i], dflt->valuestring))
                m->default_prompt = i;
        if (m->default_prompt < 0)
            rc = ia__error(IA_ERR_FORMAT, "%s/config_sentence_transformers.json: default_prompt_name \"%s\" is not "
                           "among its prompts", dir, dflt->valuestring);
    }
    cJSON_Delete(cfg);
    return rc;
}

ia_status ia_model_prompt(const ia_model *m, const char *name, const char **text)
{
    ia__error_clear();
    IA_NEED(text);
    *text = NULL;
    IA_NEED(m);
    if (!name) {
        *text = m->default_prompt >= 0 ? m->prompt_texts[m->default_prompt] : NULL;
        return IA_OK;
    }
    if (!*name)
        return IA_OK;
    char names[256] = "";
    for (int i = 0; i < m->n_prompts; i++) {
        if (!strcmp(m->prompt_names[i], name)) {
            *text = m->prompt_texts[i];
            return IA_OK;
        }
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s\"%s\"", i ? ", " : "",
                 m->prompt_names[i]);
    }
    return ia__error(IA_ERR_INVALID, "prompt_name \"%.64s\": %s%s", name,
                     m->n_prompts ? "the model's prompts are " : "the model defines no prompts", names);
}

/* sentence-transformers modules.json: which Pooling folder, the Dense
 * modules after it, and whether a Normalize module follows. Without
 * modules.json (a plain Hugging Face model) sentence-transformers uses mean
 * pooling, unnormalized. */
static ia_status load_st_modules(ia_model *m, const char *dir)
{
    cJSON *mods, *pool_cfg = NULL;
    ia_status rc = load_json(dir, "modules.json", false, &mods);
    if (rc)
        return rc;
    m->pooling = IA_POOL_MEAN;
    m->normalize = false;
    const char *pool_dir = NULL;
    const cJSON *mod;
    cJSON_ArrayForEach(mod, mods) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(mod, "type");
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(mod, "path");
        if (!cJSON_IsString(type) || rc)
            continue;
        const char *t = type->valuestring;
        const bool inside = cJSON_IsString(path) && !strstr(path->valuestring, "..") && path->valuestring[0] != '/';
        if (cJSON_IsString(path) && !inside)
            rc = ia__error(IA_ERR_FORMAT, "%s/modules.json: path \"%s\" leaves the model folder", dir,
                           path->valuestring);
        else if (strstr(t, "SpladePooling"))
            m->pooling = IA_POOL_SPLADE; /* sentence-transformers' SparseEncoder: max of log(1 + relu) */
        else if (strstr(t, "Pooling") && inside)
            pool_dir = path->valuestring;
        else if (strstr(t, "Dense") && inside && m->n_dense < (int)IA_ARRAY_LEN(m->dense)) {
            const int n_in = m->n_dense ? m->dense[m->n_dense - 1].n_out : m->cfg.hidden_size;
            rc = load_st_dense(dir, path->valuestring, n_in, &m->dense[m->n_dense]);
            m->n_dense++; /* its memory is the model's now, loaded or not */
        }
        else if (strstr(t, "Normalize"))
            m->normalize = true;
        else if (!strstr(t, "Transformer"))
            rc = ia__error(IA_ERR_UNSUPPORTED, "%s/modules.json: module type \"%s\" is not supported "
                           "(supported: Transformer, Pooling, Dense (up to %d), Normalize)", dir, t,
                           (int)IA_ARRAY_LEN(m->dense));
    }
    if (!rc && pool_dir) {
        char *sub = ia__path_join(pool_dir, "config.json");
        rc = sub ? load_json(dir, sub, true, &pool_cfg) : ia__error(IA_ERR_NOMEM, "out of memory");
        ia__free(sub);
    }
    if (!rc && pool_cfg) {
        const cJSON *mode = cJSON_GetObjectItemCaseSensitive(pool_cfg, "pooling_mode");
        int n = 0;
        for (size_t i = 0; i < IA_ARRAY_LEN(pool_modes); i++)
            if (cJSON_IsString(mode) ? !strcmp(mode->valuestring, pool_modes[i].name)
                                     : pool_modes[i].flag && json_true(pool_cfg, pool_modes[i].flag))
                n++, m->pooling = pool_modes[i].mode;
        if (n != 1)
            rc = ia__error(IA_ERR_UNSUPPORTED, "%s/%s/config.json: pooling must be exactly one of mean, cls, max, "
                           "mean_sqrt_len_tokens, weightedmean, lasttoken", dir, pool_dir);
    }
    cJSON_Delete(pool_cfg);
    cJSON_Delete(mods);
    return rc;
}

/* ia_model_options.pooling: a pooling mode's name, over modules.json's. */
static ia_status choose_pooling(ia_model *m, const char *name)
{
    for (size_t i = 0; i < IA_ARRAY_LEN(pool_modes); i++)
        if (!strcmp(name, pool_modes[i].name)) {
            m->pooling = pool_modes[i].mode;
            return IA_OK;
        }
    return ia__error(IA_ERR_INVALID, "pooling \"%s\" is not one of mean, cls, max, mean_sqrt_len_tokens, "
                     "weightedmean, lasttoken, splade", name);
}

static ia_status load_max_seq_length(ia_model *m, const char *dir, const ia_model_options *opt)
{
    size_t limit = (size_t)m->cfg.max_position;
    cJSON *sb;
    ia_status rc = load_json(dir, "sentence_bert_config.json", false, &sb);
    if (rc)
        return rc;
    const cJSON *msl = cJSON_GetObjectItemCaseSensitive(sb, "max_seq_length");
    if (msl && (!cJSON_IsNumber(msl) || msl->valuedouble < 2)) {
        cJSON_Delete(sb);
        return ia__error(IA_ERR_FORMAT, "%s/sentence_bert_config.json: max_seq_length must be a number >= 2", dir);
    }
    size_t want = opt && opt->max_seq_length ? opt->max_seq_length
                : msl ? (size_t)msl->valuedouble
                : limit;
    cJSON_Delete(sb);
    if (want > limit) {
        ia__log(IA_LOG_WARN, "max_seq_length %zu exceeds the model's %zu positions; using %zu", want, limit, limit);
        want = limit;
    }
    const size_t specials = ia__tokenizer_n_specials(m->tok);
    if (want <= specials)
        return ia__error(IA_ERR_INVALID, "%s: max_seq_length %zu (from %s) leaves no room for text: the tokenizer "
                         "adds %zu special tokens to every text", dir, want,
                         opt && opt->max_seq_length ? "the model options" : "sentence_bert_config.json", specials);
    m->max_seq_length = want;
    return IA_OK;
}

/* Free what bind_backend put on backend be (the weights, a SPLADE head,
 * the instance). */
static void unbind(ia_model *m, const ia_backend *be)
{
    if (m->state)
        m->arch->iface.free(m->state);
    ia__mlm_head_free(&m->mlm); /* its buffers are the instance's */
    if (m->bctx)
        be->iface.close(m->bctx);
    m->state = NULL, m->bctx = NULL;
}

void ia_model_free(ia_model *m)
{
    if (!m)
        return;
    unbind(m, m->be);
    if (m->swap_init)
        pthread_rwlock_destroy(&m->swap);
    ia_tokenizer_free(m->tok);
    ia__cls_head_free(&m->head);
    for (int i = 0; i < m->n_dense; i++) {
        ia__free(m->dense[i].W);
        ia__free(m->dense[i].b);
    }
    for (int i = 0; i < m->n_prompts; i++) {
        ia__free(m->prompt_names[i]);
        ia__free(m->prompt_texts[i]);
    }
    ia__free(m->prompt_names);
    ia__free(m->prompt_texts);
    ia__free(m->path);
    ia__free(m);
}

static ia_status load_folder(const char *dir, const ia_model_options *opt, ia_model **out);

ia_status ia_model_load(const char *ref, const ia_model_options *opt, ia_model **out)
{
    ia__error_clear();
    IA_NEED(out);
    *out = NULL;
    IA_NEED(ref);
    ia_model_options o;
    ia__opts_copy(&o, sizeof o, opt);
    opt = &o;
    char *dir;
    ia_status rc = ia_model_resolve(ref, NULL, &dir);
    if (rc)
        return rc;
    if (strcmp(dir, ref))
        ia__log(IA_LOG_INFO, "model %s: %s", ref, dir);
    rc = load_folder(dir, opt, out);
    ia__free(dir);
    return rc;
}

/* hardware.memory_limit: the weights (as fp32 copies, 4 bytes a
 * parameter) and one text of max_seq_length tokens must fit; batches are
 * then kept to what fits (batch_fits). */
static ia_status check_memory(ia_model *m, const char *dir, const ia_safetensors *st)
{
    m->weight_bytes = 0;
    for (size_t i = 0; i < ia__st_count(st); i++)
        m->weight_bytes += 4 * (uint64_t)ia__st_numel(ia__st_at(st, i));
    if (!m->memory_limit)
        return IA_OK;
    const uint64_t one = activation_bytes(m, m->max_seq_length, m->max_seq_length);
    if (m->weight_bytes + one > m->memory_limit)
        return ia__error(IA_ERR_NOMEM, "%s: hardware.memory_limit is %.1f MiB but the model needs about %.1f MiB "
                         "(weights %.1f MiB + %.1f MiB for one %zu-token text)", dir,
                         m->memory_limit / 1048576.0, (m->weight_bytes + one) / 1048576.0,
                         m->weight_bytes / 1048576.0, one / 1048576.0, m->max_seq_length);
    return IA_OK;
}

/* The device, then the weights (and a SPLADE head's) on it; a device that
 * fails either (out of its memory, lost) hands over to the CPU unless
 * fallback is off. */
static ia_status bind_backend(ia_model *m, const char *dir, const ia_safetensors *st)
{
    ia_status rc;
    for (bool again = true; again;) {
        int device = 0;
        const char *colon = strchr(m->sel.device, ':');
        if (colon)
            device = (int)strtol(colon + 1, NULL, 10);
        rc = m->be->iface.open(device, m->n_threads, m->sel.precision, m->profile, &m->bctx);
        if (!rc && m->arch->iface.load_dir)
            rc = m->arch->iface.load_dir(&m->cfg, dir, st, m->be, m->bctx, &m->state, &m->n_params,
                                         &m->weights_dtype);
        else if (!rc)
            rc = m->arch->iface.load(&m->cfg, st, m->be, m->bctx, &m->state, &m->n_params, &m->weights_dtype);
        if (!rc && m->pooling == IA_POOL_SPLADE)
            rc = ia__error_wrap(ia__mlm_head_load(st, &m->cfg, m->be, m->bctx, &m->mlm),
                                "%s: SPLADE pooling needs a masked-LM head (a *ForMaskedLM folder)", dir);
        const ia_backend *failed = m->be;
        again = rc && ia__backend_fallback(rc, &m->sel, &m->be);
        if (again)
            unbind(m, failed);
    }
    return rc;
}

/* A call on cm failed with rc on a device other than the CPU (lost, out of
 * its memory): unless fallback is off, the model moves to the CPU (the
 * weights read again from its folder) and the caller runs the call again;
 * true then. Called with the swap lock not held. */
static bool rebind_on_cpu(const ia_model *cm, const ia_backend *failed, ia_status rc)
{
    ia_model *m = (ia_model *)cm; /* the swap is the one change a shared model sees */
    if (failed == ia__backend_find("cpu"))
        return false;
    char why[512];
    snprintf(why, sizeof why, "%s", ia_errmsg());
    pthread_rwlock_wrlock(&m->swap);
    bool moved = m->be != failed; /* another call moved it already */
    if (!moved && ia__backend_fallback(rc, &m->sel, &m->be)) {
        unbind(m, failed);
        ia_safetensors *st = NULL;
        ia_status st_rc = ia__st_open_dir(m->path, &st);
        if (!st_rc)
            st_rc = bind_backend(m, m->path, st);
        ia__st_close(st);
        moved = !st_rc; /* the fallback logged why; a failed move leaves nothing to run on */
        if (!moved)
            ia__log(IA_LOG_ERROR, "%s: moving to the cpu after %s failed: %s", m->path, failed->name, ia_errmsg());
    }
    pthread_rwlock_unlock(&m->swap);
    if (!moved)
        ia__error(rc, "%s", why); /* the call's own error, as it was */
    return moved;
}

static ia_status load_folder(const char *dir, const ia_model_options *opt, ia_model **out)
{
    ia_model *m = ia__calloc(1, sizeof *m);
    cJSON *config = NULL;
    ia_safetensors *st = NULL;
    ia_status rc = m ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory");
    if (!rc && !(m->swap_init = !pthread_rwlock_init(&m->swap, NULL)))
        rc = ia__error(IA_ERR_NOMEM, "out of memory for a lock");
    if (!rc && !(m->path = ia__strdup(dir)))
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = load_json(dir, "config.json", true, &config);
    if (!rc) {
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(config, "model_type");
        if (!cJSON_IsString(mt))
            rc = ia__error(IA_ERR_FORMAT, "%s/config.json: missing \"model_type\"", dir);
        else if (!(m->arch = ia__arch_for_config(config, mt->valuestring)))
            rc = ia__error(IA_ERR_UNSUPPORTED, "%s/config.json: model_type \"%s\" is not supported (supported: %s)",
                           dir, mt->valuestring, ia__arch_names());
    }
    if (!rc) {
        char *cp = ia__path_join(dir, "config.json");
        rc = cp ? m->arch->iface.parse_config(config, cp, &m->cfg) : ia__error(IA_ERR_NOMEM, "out of memory");
        ia__free(cp);
    }
    /* device/precision NULL: the configured hardware.device/precision; an
     * unusable device falls back to the CPU with a logged reason unless
     * fallback is off (src/backend/registry.c) */
    if (!rc) { /* an architecture with one precision (the decoders: fp32) gets it */
        const char *want = opt ? opt->precision : NULL, *only = m->arch->iface.precision;
        if (only && want && strcmp(want, only))
            rc = ia__error(IA_ERR_UNSUPPORTED, "%s: precision \"%s\": %s models compute in %s (on their weights' "
                           "stored dtype)", dir, want, m->arch->model_type, only);
        else
            rc = ia__backend_select_precision(opt ? opt->device : NULL, only ? only : want, &m->sel, &m->be);
    }
    if (!rc)
        rc = ia_tokenizer_load(dir, &m->tok);
    if (!rc && ia_tokenizer_vocab_size(m->tok) > (size_t)m->cfg.vocab_size)
        rc = ia__error(IA_ERR_FORMAT, "%s: the tokenizer has %zu tokens but config.json says vocab_size %d",
                       dir, ia_tokenizer_vocab_size(m->tok), m->cfg.vocab_size);
    if (!rc)
        rc = load_st_modules(m, dir);
    if (!rc && opt && opt->pooling)
        rc = choose_pooling(m, opt->pooling);
    if (!rc)
        rc = load_st_prompts(m, dir);
    if (!rc)
        rc = load_max_seq_length(m, dir, opt);
    if (!rc)
        rc = ia__st_open_dir(dir, &st);
    ia_hw_settings hw;
    if (!rc)
        rc = ia__config_hw_settings(&hw);
    if (!rc) {
        m->n_threads = opt && opt->n_threads > 0 ? opt->n_threads : 0;
        m->batch_tokens = opt && opt->batch_tokens ? opt->batch_tokens : DEFAULT_BATCH_TOKENS;
        m->memory_limit = hw.memory_limit;
        m->profile = hw.profiling;
        rc = check_memory(m, dir, st);
    }
    if (!rc)
        rc = bind_backend(m, dir, st);
    if (!rc && ia__cls_head_wanted(config)) {
        char *cp = ia__path_join(dir, "config.json");
        rc = cp ? ia__cls_head_load(st, config, cp, m->cfg.hidden_size, &m->head)
                : ia__error(IA_ERR_NOMEM, "out of memory");
        ia__free(cp);
    }
    ia__st_close(st);
    cJSON_Delete(config);
    if (rc) {
        ia_model_free(m);
        return rc;
    }
    *out = m;
    return IA_OK;
}

/* The width of the sentence vectors: the last Dense module's, else the
 * hidden size. */
static int out_dim(const ia_model *m)
{
    return m->n_dense ? m->dense[m->n_dense - 1].n_out : m->pooling == IA_POOL_SPLADE ? m->cfg.vocab_size
                                                                                     : m->cfg.hidden_size;
}

int ia_model_dim(const ia_model *m) { return m ? out_dim(m) : 0; }
const ia_tokenizer *ia_model_tokenizer(const ia_model *m) { return m ? m->tok : NULL; }

static const char *pool_name(ia_pool_mode p)
{
    for (size_t i = 0; i < IA_ARRAY_LEN(pool_modes); i++)
        if (pool_modes[i].mode == p)
            return pool_modes[i].name;
    return "mean";
}

void ia_model_get_info(const ia_model *m, ia_model_info *info)
{
    if (!m || !info)
        return;
    pthread_rwlock_rdlock(&((ia_model *)m)->swap); /* be and sel change if the device fails */
    *info = (ia_model_info){
        .path = m->path,
        .architecture = m->arch->model_type,
        .n_params = m->n_params,
        .dim = out_dim(m),
        .n_layers = m->cfg.n_layers,
        .n_heads = m->cfg.n_heads,
        .hidden_size = m->cfg.hidden_size,
        .intermediate_size = m->cfg.intermediate_size,
        .vocab_size = m->cfg.vocab_size,
        .max_position = m->cfg.max_position,
        .max_seq_length = m->max_seq_length,
        .activation = m->cfg.act_name,
        .weights_dtype = m->weights_dtype,
        .pooling = pool_name(m->pooling),
        .normalize = m->normalize,
        .tokenizer = ia_tokenizer_describe(m->tok),
        .backend = m->be->name,
        .precision = m->sel.precision,
        .device = m->sel.device,
        .backend_reason = m->sel.reason,
    };
    pthread_rwlock_unlock(&((ia_model *)m)->swap);
}

/* embedding ------------------------------------------------------------- */

typedef struct encoded {
    int32_t *ids;
    int32_t *types; /* token types (pairs), or NULL for all 0 */
    size_t n;
} encoded;

static int by_length(const void *a, const void *b, void *arg)
{
    const encoded *e = arg;
    size_t la = e[*(const size_t *)a].n, lb = e[*(const size_t *)b].n;
    return la < lb ? -1 : la > lb;
}

/* Tokenize n texts, or n pairs (texts[i], pairs[i]) with their token
 * types when pairs is not NULL, at most cap tokens each (the last ones
 * with left). */
static ia_status encode_all(const ia_model *m, const char *const *texts, const size_t *lens,
                            const char *const *pairs, const size_t *pair_lens, size_t n, size_t cap, bool left,
                            encoded *enc, ia_embed_stats *stats)
{
    size_t n_invalid = 0, n_trunc = 0;
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 16) reduction(+ : n_invalid, n_trunc, failed) \
    num_threads(m->n_threads > 0 ? m->n_threads : omp_get_num_procs())
    for (size_t i = 0; i < n; i++) {
        ia_encoding_stats es = {0};
        size_t len = lens ? lens[i] : strlen(texts[i]), got = 0;
        const char *b = pairs ? pairs[i] : NULL;
        const size_t blen = !b ? 0 : pair_lens ? pair_lens[i] : strlen(b);
        enc[i].ids = ia__malloc(cap * sizeof(int32_t));
        enc[i].types = b ? ia__malloc(cap * sizeof(int32_t)) : NULL;
        /* got <= cap: the tokenizer refuses a cap below its specials, and
         * the load refused a max_seq_length without room for text */
        if (!enc[i].ids || (b && !enc[i].types) ||
            ia_tokenizer_encode_pair(m->tok, texts[i], len, b, blen, cap, left, enc[i].ids, enc[i].types, cap,
                                     &got, &es) != IA_OK ||
            got > cap) {
            failed++;
            continue;
        }
        enc[i].n = got;
        n_invalid += es.n_invalid_utf8;
        n_trunc += es.n_truncated > 0;
    }
    if (failed)
        return ia__error(IA_ERR_NOMEM, "tokenizing %zu %s failed", (size_t)failed, pairs ? "text pairs" : "texts");
    if (stats) {
        stats->n_invalid_utf8 += n_invalid;
        stats->n_truncated_texts += n_trunc;
    }
    return IA_OK;
}

/* out (n_seqs, dim) = pooling of each sequence's rows of x (host memory),
 * as sentence-transformers' Pooling module does it. */
static void pool(const float *x, const int *offsets, int n_seqs, int dim, ia_pool_mode mode, float *out)
{
    for (int s = 0; s < n_seqs; s++) {
        const int start = offsets[s], len = offsets[s + 1] - start;
        float *o = out + (size_t)s * dim;
        const float *first = x + (size_t)start * dim;
        if (mode == IA_POOL_LAST_TOKEN && len > 0)
            first += (size_t)(len - 1) * dim;
        memcpy(o, first, (size_t)dim * sizeof(float));
        if (mode == IA_POOL_CLS || mode == IA_POOL_LAST_TOKEN)
            continue;
        if (mode == IA_POOL_WEIGHTED_MEAN) { /* weights 1, 2, ... len */
            for (int t = 1; t < len; t++)
                for (int j = 0; j < dim; j++)
                    o[j] += (float)(t + 1) * first[(size_t)t * dim + j];
            for (int j = 0; j < dim; j++)
                o[j] /= (float)len * (float)(len + 1) / 2;
            continue;
        }
        for (int t = 1; t < len; t++) {
            const float *row = first + (size_t)t * dim;
            for (int j = 0; j < dim; j++)
                o[j] = mode == IA_POOL_MAX ? (row[j] > o[j] ? row[j] : o[j]) : o[j] + row[j];
        }
        if (mode == IA_POOL_MEAN || mode == IA_POOL_MEAN_SQRT_LEN)
            for (int j = 0; j < dim; j++)
                o[j] /= mode == IA_POOL_MEAN ? (float)len : sqrtf((float)len);
    }
}

/* What the batches write to out, od values per text: sentence vectors
 * (pooled, through the Dense modules, the first od values, normalized if
 * asked), or with cls the classification head's scores. */
typedef struct batch_job {
    bool normalize;
    int od;
    const ia_classify_options *cls; /* NULL: embeddings */
    const size_t *rows; /* token states, not vectors: input i's first row (od = hidden) in out */
    float *out;
} batch_job;

/* One text's vector from its pooled hidden state src: through the Dense
 * modules (tmp: 2 x their widest output), the first od values, normalized
 * if asked. */
static void finish_vector(const ia_model *m, const float *src, int D, float *tmp, bool normalize, int od, float *dst)
{
    for (int i = 0; i < m->n_dense; i++) { /* src -> one half of tmp, then the other */
        const struct st_dense *d = &m->dense[i];
        float *y = tmp + (size_t)(i % 2) * D;
        for (int o = 0; o < d->n_out; o++) {
            const float *w = d->W + (size_t)o * d->n_in;
            double acc = d->b[o];
            for (int j = 0; j < d->n_in; j++)
                acc += (double)w[j] * src[j];
            y[o] = d->tanh ? tanhf((float)acc) : (float)acc;
        }
        src = y;
    }
    float scale = 1.0f;
    if (normalize) { /* as torch.nn.functional.normalize: x / max(|x|, 1e-12) */
        double ss = 0;
        for (int j = 0; j < od; j++)
            ss += (double)src[j] * src[j];
        scale = (float)(1.0 / fmax(sqrt(ss), 1e-12));
    }
    for (int j = 0; j < od; j++)
        dst[j] = src[j] * scale;
}

/* Run one batch: texts order[lo..hi) packed, their results to job->out. */
static ia_status run_batch(const ia_model *m, const encoded *enc, const size_t *order,
                           size_t lo, size_t hi, const batch_job *job, ia_embed_stats *stats)
{
    const int H = m->cfg.hidden_size, ns = (int)(hi - lo);
    const struct ia_backend_i *op = &m->be->iface;
    int *offsets = ia__malloc((size_t)(ns + 1) * sizeof(int));
    size_t T = 0;
    bool typed = false;
    for (size_t i = lo; i < hi; i++) {
        T += enc[order[i]].n;
        typed |= enc[order[i]].types != NULL;
    }
    int32_t *ids = ia__malloc(T * sizeof(int32_t)), *types = typed ? ia__calloc(T, sizeof(int32_t)) : NULL;
    float *x = op->buf_alloc(m->bctx, T * H * sizeof(float));
    float *host = op->download ? ia__malloc(T * H * sizeof(float)) : x; /* x, readable here */
    int D = H; /* the widest Dense output, or the head's scratch */
    for (int i = 0; i < m->n_dense; i++)
        D = m->dense[i].n_out > D ? m->dense[i].n_out : D;
    const bool splade = !job->cls && m->pooling == IA_POOL_SPLADE;
    const int P = splade ? m->cfg.vocab_size : H; /* pooled width */
    float *pooled = ia__malloc((size_t)ns * P * sizeof(float)), *tmp = ia__malloc((size_t)2 * D * sizeof(float));
    ia_status rc = offsets && ids && x && host && pooled && tmp && (types || !typed)
                 ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory for a batch of %zu tokens", T);
    if (!rc) {
        offsets[0] = 0;
        for (int s = 0; s < ns; s++) {
            const encoded *e = &enc[order[lo + s]];
            memcpy(ids + offsets[s], e->ids, e->n * sizeof(int32_t));
            if (e->types)
                memcpy(types + offsets[s], e->types, e->n * sizeof(int32_t));
            offsets[s + 1] = offsets[s] + (int)e->n;
        }
        rc = m->arch->iface.forward(m->state, ids, types, offsets, ns, x);
    }
    if (!rc && splade) /* the head reads the hidden states where they are */
        rc = ia__mlm_head_splade(&m->mlm, x, offsets, ns, pooled);
    else if (!rc && op->download)
        rc = op->download(m->bctx, host, x, T * H * sizeof(float));
    if (!rc) {
        if (!job->cls && !splade && !job->rows)
            pool(host, offsets, ns, H, m->pooling, pooled);
        for (int s = 0; s < ns && job->rows; s++) /* the last layer's states as they are */
            memcpy(job->out + job->rows[order[lo + s]] * (size_t)H, host + (size_t)offsets[s] * H,
                   (size_t)(offsets[s + 1] - offsets[s]) * H * sizeof(float));
        for (int s = 0; s < ns && !job->rows; s++) {
            float *dst = job->out + order[lo + s] * (size_t)job->od;
            if (job->cls) /* on the first token: [CLS] or <s> */
                ia__cls_head_apply(&m->head, host + (size_t)offsets[s] * H, job->cls->raw_scores, tmp, dst);
            else
                finish_vector(m, pooled + (size_t)s * P, D, tmp, job->normalize, job->od, dst);
        }
        if (stats)
            stats->n_tokens += T;
    }
    if (host && host != x)
        ia__free(host);
    if (x)
        op->buf_free(m->bctx, x);
    ia__free(pooled);
    ia__free(tmp);
    ia__free(ids);
    ia__free(types);
    ia__free(offsets);
    return rc;
}

/* Does a batch of n_tok tokens, the longest max_len, fit the memory limit? */
static bool batch_fits(const ia_model *m, size_t n_tok, size_t max_len)
{
    return !m->memory_limit || m->weight_bytes + activation_bytes(m, n_tok, max_len) <= m->memory_limit;
}

/* The backend's profile so far; the caller holds the swap lock. */
static void profile_of(const ia_model *m, ia_backend_profile *p)
{
    memset(p, 0, sizeof *p);
    if (m->profile)
        m->be->iface.profile(m->bctx, p);
}

void ia__model_profile(const ia_model *m, ia_backend_profile *p)
{
    pthread_rwlock_rdlock(&((ia_model *)m)->swap);
    profile_of(m, p);
    pthread_rwlock_unlock(&((ia_model *)m)->swap);
}

/* performance.enable_profiling: one line per call (other calls running at
 * the same time on this model add to its op times). */
static void log_profile(const ia_model *m, const ia_backend_profile *before, size_t n, double t0)
{
    ia_backend_profile p;
    profile_of(m, &p);
    const double lin = p.linear_s - before->linear_s, flop = p.linear_flop - before->linear_flop;
    ia__log(IA_LOG_INFO, "profile: %zu texts in %.2f ms: linear layers %.2f ms (%ld calls, %.1f GFLOP/s), "
            "attention %.2f ms, embeddings/layernorm/pooling %.2f ms", n, (ia__now() - t0) * 1e3, lin * 1e3,
            p.linear_calls - before->linear_calls, lin > 0 ? flop / lin * 1e-9 : 0.0,
            (p.attention_s - before->attention_s) * 1e3, (p.other_s - before->other_s) * 1e3);
}

/* Run n encoded texts into job->out (n, od): sorted by length, packed
 * into batches under the token budget and the memory limit. */
static ia_status run_encoded_on(const ia_model *m, const encoded *enc, size_t n, const batch_job *job,
                                ia_embed_stats *stats)
{
    ia_backend_profile prof0 = {0};
    const double t0 = ia__now();
    if (m->profile)
        m->be->iface.profile(m->bctx, &prof0);
    size_t *order = ia__malloc((n ? n : 1) * sizeof *order);
    if (!order)
        return ia__error(IA_ERR_NOMEM, "out of memory for %zu texts", n);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    qsort_r(order, n, sizeof *order, by_length, (void *)enc);
    /* No tokens at all (an empty text and a tokenizer without specials):
     * a zero vector, as sentence-transformers' masked pooling gives.
     * Sorted first. */
    size_t first = 0;
    for (; first < n && !enc[order[first]].n; first++)
        if (!job->rows)
            memset(job->out + order[first] * (size_t)job->od, 0, sizeof(float) * (size_t)job->od);
    /* Batches of similar length under the token budget (and the memory
     * limit: one text always fits, the load checked it). */
    ia_status rc = IA_OK;
    for (size_t lo = first; lo < n && !rc;) {
        size_t hi = lo, tokens = 0;
        while (hi < n && (hi == lo || (tokens + enc[order[hi]].n <= m->batch_tokens &&
                                       batch_fits(m, tokens + enc[order[hi]].n, enc[order[hi]].n))))
            tokens += enc[order[hi++]].n;
        rc = run_batch(m, enc, order, lo, hi, job, stats);
        lo = hi;
    }
    if (m->profile)
        log_profile(m, &prof0, n, t0);
    ia__free(order);
    return rc;
}

/* run_encoded_on with the model's device held; a device that fails the
 * call (lost, out of its memory) hands the model to the CPU, which runs
 * the whole call again, unless fallback is off. */
static ia_status run_encoded(const ia_model *m, const encoded *enc, size_t n, const batch_job *job,
                             ia_embed_stats *stats)
{
    ia_model *mm = (ia_model *)m;
    for (;;) {
        pthread_rwlock_rdlock(&mm->swap);
        const ia_backend *be = m->be;
        const size_t n_tokens = stats ? stats->n_tokens : 0;
        ia_status rc = run_encoded_on(m, enc, n, job, stats);
        pthread_rwlock_unlock(&mm->swap);
        if (!rc || !rebind_on_cpu(m, be, rc))
            return rc;
        if (stats)
            stats->n_tokens = n_tokens;
    }
}

static void free_encoded(encoded *enc, size_t n)
{
    for (size_t i = 0; enc && i < n; i++) {
        ia__free(enc[i].ids);
        ia__free(enc[i].types);
    }
    ia__free(enc);
}

/* Chunking (ia_embed_options.chunk_tokens): each text tokenized whole;
 * one longer than chunk_tokens is cut into windows of that many tokens
 * (its specials around each), overlapping by chunk_overlap, which are
 * embedded like texts; the text's vector is the mean of its windows'
 * (through the Dense modules, before normalization) weighted by their
 * tokens, then the first od values, normalized if asked. */
static ia_status embed_chunked(const ia_model *m, const char *const *texts, const size_t *lens, size_t n,
                               const ia_embed_options *opt, bool normalize, int od, float *out,
                               ia_embed_stats *stats)
{
    const size_t pre = ia__tokenizer_n_prefix(m->tok), specials = ia__tokenizer_n_specials(m->tok);
    const size_t C = opt->chunk_tokens - specials, step = C - opt->chunk_overlap;
    size_t longest = 0;
    for (size_t i = 0; i < n; i++)
        longest = IA_MAX(longest, lens ? lens[i] : strlen(texts[i]));
    /* a token takes at least a byte, but for the space marker before a
     * word (Metaspace's "▁") */
    const size_t cap = 2 * longest + specials + 2;
    encoded *whole = ia__calloc(n, sizeof *whole);
    size_t *first = ia__malloc((n + 1) * sizeof *first), n_win = 0;
    ia_status rc = whole && first ? encode_all(m, texts, lens, NULL, NULL, n, cap, false, whole, stats)
                                  : ia__error(IA_ERR_NOMEM, "out of memory for %zu texts", n);
    for (size_t i = 0; !rc && i < n; i++) { /* windows of text i: first[i] .. first[i + 1] */
        const size_t L = whole[i].n - specials;
        first[i] = n_win;
        n_win += L <= C ? 1 : 1 + (L - C + step - 1) / step;
    }
    const int D = out_dim(m);
    encoded *win = rc ? NULL : ia__calloc(n_win ? n_win : 1, sizeof *win);
    float *vec = rc ? NULL : ia__malloc((n_win ? n_win : 1) * (size_t)D * sizeof *vec);
    double *acc = rc ? NULL : ia__malloc((size_t)D * sizeof *acc);
    if (!rc && (!win || !vec || !acc))
        rc = ia__error(IA_ERR_NOMEM, "out of memory for %zu chunks", n_win);
    if (!rc)
        first[n] = n_win;
    for (size_t i = 0; !rc && i < n; i++) {
        const size_t L = whole[i].n - specials;
        for (size_t w = first[i], start = 0; w < first[i + 1] && !rc; w++, start += step) {
            const size_t len = IA_MIN(C, L - start);
            if (!(win[w].ids = ia__malloc((len + specials) * sizeof(int32_t)))) {
                rc = ia__error(IA_ERR_NOMEM, "out of memory for %zu chunks", n_win);
                break;
            }
            memcpy(win[w].ids, whole[i].ids, pre * sizeof(int32_t));
            memcpy(win[w].ids + pre, whole[i].ids + pre + start, len * sizeof(int32_t));
            memcpy(win[w].ids + pre + len, whole[i].ids + pre + L, (specials - pre) * sizeof(int32_t));
            win[w].n = len + specials;
        }
    }
    const batch_job job = {.od = D, .out = vec};
    if (!rc)
        rc = run_encoded(m, win, n_win, &job, stats);
    for (size_t i = 0; !rc && i < n; i++) {
        double total = 0;
        memset(acc, 0, (size_t)D * sizeof *acc);
        for (size_t w = first[i]; w < first[i + 1]; w++) {
            const double weight = (double)(win[w].n - specials);
            for (int j = 0; j < D; j++)
                acc[j] += weight * vec[w * (size_t)D + j];
            total += weight;
        }
        double ss = 0;
        for (int j = 0; j < od; j++) {
            acc[j] = total > 0 ? acc[j] / total : 0;
            ss += acc[j] * acc[j];
        }
        const double scale = normalize ? 1.0 / fmax(sqrt(ss), 1e-12) : 1.0;
        for (int j = 0; j < od; j++)
            out[i * (size_t)od + j] = (float)(acc[j] * scale);
    }
    free_encoded(whole, n);
    free_encoded(win, n_win);
    ia__free(acc);
    ia__free(vec);
    ia__free(first);
    return rc;
}

ia_status ia_model_embed(const ia_model *m, const char *const *texts, const size_t *lens,
                         size_t n, float *out, ia_embed_stats *stats)
{
    ia__error_clear();
    return ia_model_embed_opts(m, texts, lens, n, NULL, out, stats);
}

ia_status ia_model_embed_opts(const ia_model *m, const char *const *texts, const size_t *lens,
                              size_t n, const ia_embed_options *opt, float *out,
                              ia_embed_stats *stats)
{
    ia__error_clear();
    IA_NEED(m);
    if (n) {
        IA_NEED(texts);
        IA_NEED(out);
    }
    for (size_t i = 0; i < n; i++)
        if (!texts[i])
            return ia__error(IA_ERR_INVALID, "%s: text %zu is NULL", __func__, i);
    ia_embed_options eo;
    ia__opts_copy(&eo, sizeof eo, opt);
    opt = &eo;
    if (opt->normalize != IA_NORMALIZE_MODEL && opt->normalize != IA_NORMALIZE_YES &&
        opt->normalize != IA_NORMALIZE_NO)
        return ia__error(IA_ERR_INVALID, "%s: normalize %d (IA_NORMALIZE_MODEL 0, _YES 1 or _NO 2)", __func__,
                         (int)opt->normalize);
    if (opt->dimensions < 0 || opt->dimensions > out_dim(m))
        return ia__error(IA_ERR_INVALID, "%s: dimensions %d must be from 1 to the model's %d (0: all)", __func__,
                         opt->dimensions, out_dim(m));
    const size_t specials = ia__tokenizer_n_specials(m->tok);
    if (opt->chunk_tokens && (opt->chunk_tokens <= specials || opt->chunk_tokens > m->max_seq_length ||
                              opt->chunk_overlap >= opt->chunk_tokens - specials))
        return ia__error(IA_ERR_INVALID, "%s: chunk_tokens %zu must be from %zu (the %zu special tokens and one "
                         "more) to max_seq_length %zu, and chunk_overlap %zu less than chunk_tokens less the "
                         "specials", __func__, opt->chunk_tokens, specials + 1, specials, m->max_seq_length,
                         opt->chunk_overlap);
    if (n == 0)
        return IA_OK;
    if (opt->max_tokens && opt->max_tokens <= specials)
        return ia__error(IA_ERR_INVALID, "max_tokens %zu leaves no room for text: the tokenizer adds %zu special "
                         "tokens to every text", opt->max_tokens, specials);
    bool normalize = opt->normalize == IA_NORMALIZE_MODEL ? m->normalize : opt->normalize == IA_NORMALIZE_YES;
    size_t max_tokens = opt->max_tokens && opt->max_tokens < m->max_seq_length
                      ? opt->max_tokens : m->max_seq_length;
    const char *prompt;
    ia_status rc = ia_model_prompt(m, opt->prompt_name, &prompt);
    if (rc)
        return rc;
    char **prompted = NULL; /* the texts with the prompt in front */
    size_t *plens = NULL;
    if (prompt && *prompt) {
        const size_t pl = strlen(prompt);
        prompted = ia__calloc(n, sizeof *prompted);
        plens = ia__malloc(n * sizeof *plens);
        for (size_t i = 0; prompted && plens && i < n; i++) {
            const size_t l = lens ? lens[i] : strlen(texts[i]);
            if (!(prompted[i] = ia__malloc(pl + l + 1)))
                break;
            memcpy(prompted[i], prompt, pl);
            memcpy(prompted[i] + pl, texts[i], l);
            prompted[i][pl + l] = '\0';
            plens[i] = pl + l;
        }
        if (!prompted || !plens || !prompted[n - 1])
            rc = ia__error(IA_ERR_NOMEM, "out of memory for %zu prompted texts", n);
        texts = (const char *const *)prompted;
        lens = plens;
    }
    const int od = opt->dimensions ? opt->dimensions : out_dim(m);
    encoded *enc = rc || opt->chunk_tokens ? NULL : ia__calloc(n, sizeof *enc);
    if (!rc && !opt->chunk_tokens && !enc)
        rc = ia__error(IA_ERR_NOMEM, "out of memory for %zu texts", n);
    if (!rc && opt->chunk_tokens)
        rc = embed_chunked(m, texts, lens, n, opt, normalize, od, out, stats);
    else if (!rc)
        rc = encode_all(m, texts, lens, NULL, NULL, n, max_tokens, opt->truncate_left, enc, stats);
    const batch_job job = {.normalize = normalize, .od = od, .out = out};
    if (!rc && enc)
        rc = run_encoded(m, enc, n, &job, stats);
    free_encoded(enc, n);
    for (size_t i = 0; prompted && i < n; i++)
        ia__free(prompted[i]);
    ia__free(prompted);
    ia__free(plens);
    return rc;
}

/* Texts the caller tokenized (ids[i], n_ids[i], types[i] or NULL), borrowed
 * as encoded texts (free the array only); *out NULL on failure. */
static ia_status borrow_ids(const ia_model *m, const int32_t *const *ids, const int32_t *const *types,
                            const size_t *n_ids, size_t n, encoded **out)
{
    encoded *enc = *out = ia__malloc((n ? n : 1) * sizeof *enc);
    if (!enc)
        return ia__error(IA_ERR_NOMEM, "out of memory for %zu texts", n);
    for (size_t i = 0; i < n; i++) {
        if (n_ids[i] > m->max_seq_length) {
            ia__free(enc);
            *out = NULL;
            return ia__error(IA_ERR_INVALID, "text %zu has %zu tokens, more than max_seq_length %zu", i, n_ids[i],
                             m->max_seq_length);
        }
        enc[i] = (encoded){.ids = (int32_t *)ids[i], .types = types ? (int32_t *)types[i] : NULL, .n = n_ids[i]};
    }
    return IA_OK;
}

ia_status ia__model_embed_ids(const ia_model *m, const int32_t *const *ids, const size_t *n_ids, size_t n,
                              bool normalize, float *out, ia_embed_stats *stats)
{
    encoded *enc;
    ia_status rc = borrow_ids(m, ids, NULL, n_ids, n, &enc);
    const batch_job job = {.normalize = normalize, .od = out_dim(m), .out = out};
    if (!rc)
        rc = run_encoded(m, enc, n, &job, stats);
    ia__free(enc);
    return rc;
}

ia_status ia__model_token_states_ids(const ia_model *m, const int32_t *const *ids, const size_t *n_ids, size_t n,
                                    float *out, ia_embed_stats *stats)
{
    encoded *enc;
    ia_status rc = borrow_ids(m, ids, NULL, n_ids, n, &enc);
    size_t *rows = rc ? NULL : ia__malloc((n ? n : 1) * sizeof *rows);
    if (!rc && !rows)
        rc = ia__error(IA_ERR_NOMEM, "out of memory for %zu texts", n);
    for (size_t i = 0, r = 0; !rc && i < n; r += n_ids[i++])
        rows[i] = r;
    const batch_job job = {.od = m->cfg.hidden_size, .rows = rows, .out = out};
    if (!rc)
        rc = run_encoded(m, enc, n, &job, stats);
    ia__free(rows);
    ia__free(enc);
    return rc;
}

ia_status ia__model_classify_ids(const ia_model *m, const int32_t *const *ids, const int32_t *const *types,
                                 const size_t *n_ids, size_t n, bool raw, float *out, ia_embed_stats *stats)
{
    if (!m->head.n_labels)
        return ia__error(IA_ERR_UNSUPPORTED, "%s: the model has no classification head", m->path);
    encoded *enc;
    ia_status rc = borrow_ids(m, ids, types, n_ids, n, &enc);
    const ia_classify_options co = {.size = sizeof co, .raw_scores = raw};
    const batch_job job = {.od = m->head.n_labels, .cls = &co, .out = out};
    if (!rc)
        rc = run_encoded(m, enc, n, &job, stats);
    ia__free(enc);
    return rc;
}

ia_status ia__model_token_states(const ia_model *m, const char *text, float **states,
                                 size_t *n_tokens)
{
    encoded e = {0};
    ia_status rc = encode_all(m, &text, NULL, NULL, NULL, 1, m->max_seq_length, false, &e, NULL);
    int offsets[2] = {0, (int)e.n};
    float *x = rc ? NULL : ia__malloc(e.n * m->cfg.hidden_size * sizeof(float));
    if (!rc && !x)
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    pthread_rwlock_rdlock(&((ia_model *)m)->swap);
    if (!rc && !m->be->iface.upload)
        rc = m->arch->iface.forward(m->state, e.ids, NULL, offsets, 1, x);
    else if (!rc)
        rc = ia__error(IA_ERR_UNSUPPORTED, "token states are read from host-memory backends only");
    pthread_rwlock_unlock(&((ia_model *)m)->swap);
    ia__free(e.ids);
    if (rc) {
        ia__free(x);
        return rc;
    }
    *states = x;
    *n_tokens = e.n;
    return IA_OK;
}

/* classification -------------------------------------------------------- */

int ia_model_num_labels(const ia_model *m) { return m ? m->head.n_labels : 0; }

const char *ia_model_label(const ia_model *m, int i)
{
    return m && i >= 0 && i < m->head.n_labels ? m->head.labels[i] : NULL;
}

ia_status ia_model_classify(const ia_model *m, const char *const *texts, const size_t *lens,
                            const char *const *pairs, const size_t *pair_lens, size_t n,
                            const ia_classify_options *opt, float *out, ia_embed_stats *stats)
{
    ia__error_clear();
    IA_NEED(m);
    if (n) {
        IA_NEED(texts);
        IA_NEED(out);
    }
    for (size_t i = 0; i < n; i++)
        if (!texts[i] || (pairs && !pairs[i]))
            return ia__error(IA_ERR_INVALID, "%s: text %zu%s is NULL", __func__, i, texts[i] ? " of the pairs" : "");
    if (!m->head.n_labels)
        return ia__error(IA_ERR_UNSUPPORTED, "%s: the model has no classification head (config.json names no "
                         "*ForSequenceClassification architecture); it computes embeddings", m->path);
    ia_classify_options co;
    ia__opts_copy(&co, sizeof co, opt);
    const size_t specials = pairs ? ia__tokenizer_n_specials_pair(m->tok) : ia__tokenizer_n_specials(m->tok);
    if (pairs && !ia__tokenizer_has_pairs(m->tok))
        return ia__error(IA_ERR_UNSUPPORTED, "%s: the tokenizer has no template for text pairs", m->path);
    if (co.max_tokens && co.max_tokens <= specials)
        return ia__error(IA_ERR_INVALID, "max_tokens %zu leaves no room for text: the tokenizer adds %zu special "
                         "tokens", co.max_tokens, specials);
    if (n == 0)
        return IA_OK;
    const size_t max_tokens = co.max_tokens && co.max_tokens < m->max_seq_length ? co.max_tokens : m->max_seq_length;
    encoded *enc = ia__calloc(n, sizeof *enc);
    ia_status rc = enc ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory for %zu texts", n);
    if (!rc)
        rc = encode_all(m, texts, lens, pairs, pair_lens, n, max_tokens, false, enc, stats);
    const batch_job job = {.od = m->head.n_labels, .cls = &co, .out = out};
    if (!rc)
        rc = run_encoded(m, enc, n, &job, stats);
    free_encoded(enc, n);
    return rc;
}
