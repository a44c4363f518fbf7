/*
 * The public text-generation API (generate.h) over the internal language
 * model (lm.h): the public ia_lm is the internal one; a public session is
 * a decoder session with a busy flag (one call at a time). This file
 * checks arguments, turns JSON text and prompt text into tokens, and
 * collects the streamed text; generation itself is ia__lm_generate's.
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ipfs_accelerate/generate.h"
#include "model/lm.h"
#include "model/model-impl.h"

struct ia_lm_session {
    const ia_lm *lm;
    ia_session *s;
    atomic_bool busy;
};

ia_status ia_lm_load(const char *ref, const ia_lm_options *opt, ia_lm **out)
{
    ia__error_clear();
    IA_NEED(out);
    *out = NULL;
    IA_NEED(ref);
    ia_lm_options o;
    ia__opts_copy(&o, sizeof o, opt);
    if (o.n_threads < 0)
        return ia__error(IA_ERR_INVALID, "ia_lm_load: n_threads %d is negative", o.n_threads);
    char *path;
    ia_status rc = ia__model_resolve_path(ref, true, NULL, &path);
    if (rc)
        return rc;
    if (strcmp(path, ref))
        ia__log(IA_LOG_INFO, "model %s: %s", ref, path);
    rc = ia__lm_load(path, o.device, o.n_threads, o.kv_cache, out);
    ia__free(path);
    return rc;
}

void ia_lm_free(ia_lm *lm) { ia__lm_free(lm); }

void ia_lm_get_info(const ia_lm *lm, ia_lm_info *info)
{
    if (!lm || !info)
        return;
    const ia_decoder_config *c = ia__decoder_config(lm->dec);
    *info = (ia_lm_info){
        .path = lm->path,
        .architecture = c->arch,
        .vocab_size = c->n_vocab,
        .context_length = c->n_ctx_train,
        .n_layers = c->n_layer,
        .n_heads = c->n_head,
        .n_heads_kv = c->n_head_kv,
        .n_embd = c->n_embd,
        .has_chat_template = lm->tmpl != NULL,
        .chat_template = lm->chat_template,
        .tokenizer = ia__bpe_describe(lm->tok),
        .backend = lm->be->name,
    };
}

ia_status ia_lm_tokenize(const ia_lm *lm, const char *text, size_t len, bool add_special, bool parse_special,
                         int32_t *ids, size_t cap, size_t *n_ids)
{
    ia__error_clear();
    IA_NEED(lm);
    IA_NEED(n_ids);
    *n_ids = 0;
    if (len)
        IA_NEED(text);
    if (cap)
        IA_NEED(ids);
    ia_i32vec v = {0};
    ia_status rc = ia__bpe_encode(lm->tok, len ? text : "", len, add_special, parse_special, &v);
    if (!rc) {
        if (cap && v.n)
            memcpy(ids, v.v, IA_MIN(v.n, cap) * sizeof *v.v);
        *n_ids = v.n;
    }
    ia__i32vec_free(&v);
    return rc;
}

ia_status ia_lm_detokenize(const ia_lm *lm, const int32_t *ids, size_t n, bool skip_special, char **text,
                           size_t *len)
{
    ia__error_clear();
    IA_NEED(text);
    *text = NULL;
    if (len)
        *len = 0;
    IA_NEED(lm);
    if (n)
        IA_NEED(ids);
    size_t need = 0;
    ia_status rc = ia__bpe_decode(lm->tok, ids, n, skip_special, NULL, 0, &need);
    char *buf = rc ? NULL : ia__malloc(need + 1);
    if (!rc && !buf)
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = ia__bpe_decode(lm->tok, ids, n, skip_special, buf, need + 1, &need);
    if (rc) {
        ia__free(buf);
        return rc;
    }
    buf[need] = '\0';
    *text = buf;
    if (len)
        *len = need;
    return IA_OK;
}

/* chat JSON ---------------------------------------------------------------- */

/* messages_json parsed and checked: an array of objects with a string
 * role, so that a malformed request fails here, naming the message,
 * rather than inside the template. */
static ia_status parse_messages(const char *fn, const char *json, cJSON **out)
{
    *out = NULL;
    if (!json)
        return ia__error(IA_ERR_INVALID, "%s: messages_json is NULL", fn);
    const char *end = NULL;
    cJSON *m = cJSON_ParseWithOpts(json, &end, true);
    if (!m)
        return ia__error(IA_ERR_INVALID, "%s: messages are not valid JSON (at byte %zu)", fn,
                         end ? (size_t)(end - json) : (size_t)0);
    if (!cJSON_IsArray(m) || !cJSON_GetArraySize(m)) {
        cJSON_Delete(m);
        return ia__error(IA_ERR_INVALID, "%s: messages must be a non-empty JSON array of {\"role\", \"content\"}",
                         fn);
    }
    int i = 0;
    const cJSON *msg;
    cJSON_ArrayForEach(msg, m)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
        const char *why = !cJSON_IsObject(msg)                       ? "is not an object"
                          : !cJSON_IsString(role)                    ? "has no string \"role\""
                          : content && !cJSON_IsString(content) && !cJSON_IsArray(content) && !cJSON_IsNull(content)
                              ? "has a \"content\" that is neither a string nor a list of parts"
                              : NULL;
        if (why) {
            cJSON_Delete(m);
            return ia__error(IA_ERR_INVALID, "%s: message %d %s", fn, i, why);
        }
        i++;
    }
    *out = m;
    return IA_OK;
}

/* tools_json parsed: NULL or JSON null for none, else an array. */
static ia_status parse_tools(const char *fn, const char *json, cJSON **out)
{
    *out = NULL;
    if (!json)
        return IA_OK;
    const char *end = NULL;
    cJSON *t = cJSON_ParseWithOpts(json, &end, true);
    if (!t)
        return ia__error(IA_ERR_INVALID, "%s: tools are not valid JSON (at byte %zu)", fn,
                         end ? (size_t)(end - json) : (size_t)0);
    if (cJSON_IsNull(t)) {
        cJSON_Delete(t);
        return IA_OK;
    }
    if (!cJSON_IsArray(t)) {
        cJSON_Delete(t);
        return ia__error(IA_ERR_INVALID, "%s: tools must be a JSON array", fn);
    }
    *out = t;
    return IA_OK;
}

/* The chat prompt's tokens (and rendered text, if asked). */
static ia_status chat_prompt(const char *fn, const ia_lm *lm, const char *messages_json, const char *tools_json,
                             bool add_generation_prompt, ia_i32vec *ids, char **rendered)
{
    cJSON *msgs = NULL, *tools = NULL;
    ia_status rc = parse_messages(fn, messages_json, &msgs);
    if (!rc)
        rc = parse_tools(fn, tools_json, &tools);
    if (!rc)
        rc = ia__lm_chat_prompt(lm, msgs, tools, add_generation_prompt, ids, rendered);
    cJSON_Delete(msgs);
    cJSON_Delete(tools);
    return rc;
}

ia_status ia_lm_apply_chat_template(const ia_lm *lm, const char *messages_json, const char *tools_json,
                                    bool add_generation_prompt, char **text)
{
    ia__error_clear();
    IA_NEED(text);
    *text = NULL;
    IA_NEED(lm);
    IA_NEED(messages_json);
    ia_i32vec ids = {0};
    ia_status rc = chat_prompt(__func__, lm, messages_json, tools_json, add_generation_prompt, &ids, text);
    ia__i32vec_free(&ids);
    return rc;
}

/* sessions ----------------------------------------------------------------- */

ia_status ia_lm_session_new(const ia_lm *lm, int n_ctx, ia_lm_session **out)
{
    ia__error_clear();
    IA_NEED(out);
    *out = NULL;
    IA_NEED(lm);
    if (n_ctx < 0)
        return ia__error(IA_ERR_INVALID, "ia_lm_session_new: n_ctx %d is negative", n_ctx);
    ia_lm_session *s = ia__calloc(1, sizeof *s);
    if (!s)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    ia_status rc = ia__session_new(lm->dec, n_ctx, &s->s);
    if (rc) {
        ia__free(s);
        return rc;
    }
    s->lm = lm;
    atomic_init(&s->busy, false);
    *out = s;
    return IA_OK;
}

void ia_lm_session_free(ia_lm_session *s)
{
    if (!s)
        return;
    ia__session_free(s->s);
    ia__free(s);
}

void ia_lm_session_reset(ia_lm_session *s)
{
    if (s && !atomic_exchange(&s->busy, true)) {
        ia__session_truncate(s->s, 0);
        atomic_store(&s->busy, false);
    }
}

int ia_lm_session_n_tokens(const ia_lm_session *s) { return s ? ia__session_pos(s->s) : 0; }
int ia_lm_session_n_ctx(const ia_lm_session *s) { return s ? ia__session_n_ctx(s->s) : 0; }

/* generation --------------------------------------------------------------- */

/* The caller's callbacks, and the whole text when it is wanted. */
typedef struct sink {
    ia_lm_text_fn on_text;
    ia_lm_token_fn on_token;
    void *user;
    char *buf;
    size_t len, cap;
    bool keep, oom;
} sink;

static bool sink_text(const char *text, size_t len, void *user)
{
    sink *k = user;
    if (k->keep && !k->oom) {
        if (k->len + len + 1 > k->cap) {
            size_t cap = k->cap ? k->cap : 256;
            while (cap < k->len + len + 1)
                cap *= 2;
            char *b = ia__realloc(k->buf, cap);
            if (!b) {
                k->oom = true;
                return false; /* stop: the text could not be kept */
            }
            k->buf = b;
            k->cap = cap;
        }
        memcpy(k->buf + k->len, text, len);
        k->len += len;
        k->buf[k->len] = '\0';
    }
    return !k->on_text || k->on_text(text, len, k->user);
}

static void sink_token(int32_t token, float logprob, const int32_t *top, const float *top_logprobs, int n_top,
                       void *user)
{
    sink *k = user;
    k->on_token(token, logprob, top, top_logprobs, n_top, k->user);
}

/* The options as the generator takes them; IA_ERR_INVALID names a field
 * out of range (the sampler checks the rest). */
static ia_status gen_params(const char *fn, const ia_lm_gen_options *opt, ia_lm_gen_options *o, ia_gen_params *p)
{
    ia__opts_copy(o, sizeof *o, opt);
    const char *bad = o->max_tokens < 0                                        ? "max_tokens (must be >= 0)"
                      : !(o->temperature >= 0 && isfinite(o->temperature))     ? "temperature (must be >= 0)"
                      : !(o->presence_penalty >= -2 && o->presence_penalty <= 2) ? "presence_penalty (must be in [-2, 2])"
                      : !(o->frequency_penalty >= -2 && o->frequency_penalty <= 2)
                          ? "frequency_penalty (must be in [-2, 2])"
                      : o->top_logprobs < 0 || o->top_logprobs > 20 ? "top_logprobs (must be in [0, 20])"
                      : o->n_stop && !o->stop                       ? "stop (NULL with n_stop > 0)"
                      : o->n_logit_bias && !o->logit_bias ? "logit_bias (NULL with n_logit_bias > 0)"
                                                          : NULL;
    if (bad)
        return ia__error(IA_ERR_INVALID, "%s: %s is out of range", fn, bad);
    for (size_t i = 0; i < o->n_stop; i++)
        if (!o->stop[i] || !o->stop[i][0])
            return ia__error(IA_ERR_INVALID, "%s: stop string %zu is %s", fn, i, o->stop[i] ? "empty" : "NULL");
    *p = (ia_gen_params){
        .sampling = {.temperature = o->temperature, .top_k = o->top_k, .top_p = o->top_p, .min_p = o->min_p,
                     .repetition_penalty = o->repetition_penalty, .presence_penalty = o->presence_penalty,
                     .frequency_penalty = o->frequency_penalty, .seed = o->seed,
                     .logit_bias = o->logit_bias, .n_logit_bias = o->n_logit_bias},
        .max_tokens = o->max_tokens,
        .stop = o->stop,
        .n_stop = o->n_stop,
        .ignore_eos = o->ignore_eos,
        .on_token = o->on_token ? sink_token : NULL,
        .top_logprobs = o->top_logprobs,
    };
    return IA_OK;
}

/* What every generation call does first: no error, no text, an empty
 * result (set on failure too). */
static void begin(char **text, ia_lm_result *res)
{
    ia__error_clear();
    if (text)
        *text = NULL;
    if (res)
        *res = (ia_lm_result){.finish_reason = ""};
}

/* One generation on s: the prompt is text, token ids or chat JSON. */
static ia_status run(const char *fn, ia_lm_session *s, const char *prompt, const int32_t *prompt_ids,
                     size_t n_ids, const char *messages_json, const char *tools_json,
                     const ia_lm_gen_options *opt, ia_lm_text_fn on_text, void *user, char **text,
                     ia_lm_result *res)
{
    ia_lm_gen_options o;
    ia_gen_params p;
    ia_status rc = gen_params(fn, opt, &o, &p);
    if (rc)
        return rc;
    if (atomic_exchange(&s->busy, true))
        return ia__error(IA_ERR_INVALID, "%s: the session is in use by another call (a session is used by one "
                         "thread at a time)", fn);
    const ia_lm *lm = s->lm;
    ia_i32vec ids = {0};
    if (prompt) {
        if (!*prompt)
            rc = ia__error(IA_ERR_INVALID, "%s: the prompt is empty", fn);
        else
            rc = ia__bpe_encode(lm->tok, prompt, strlen(prompt), true, false, &ids);
    } else if (prompt_ids) {
        const int V = ia__decoder_config(lm->dec)->n_vocab;
        if (!n_ids)
            rc = ia__error(IA_ERR_INVALID, "%s: the prompt is empty", fn);
        for (size_t i = 0; i < n_ids && !rc; i++)
            if (prompt_ids[i] < 0 || prompt_ids[i] >= V)
                rc = ia__error(IA_ERR_INVALID, "%s: ids[%zu] = %d is not a token id (the vocabulary has %d)", fn,
                               i, (int)prompt_ids[i], V);
    } else {
        rc = chat_prompt(fn, lm, messages_json, tools_json, true, &ids, NULL);
    }
    sink k = {.on_text = on_text, .on_token = o.on_token, .user = user, .keep = text != NULL};
    ia_gen_result r = {0};
    const int32_t *pv = prompt_ids ? prompt_ids : ids.v;
    const size_t pn = prompt_ids ? n_ids : ids.n;
    if (!rc && pn > INT32_MAX)
        rc = ia__error(IA_ERR_INVALID, "%s: the prompt has %zu tokens", fn, pn);
    if (!rc)
        rc = ia__lm_generate(lm, s->s, pv, (int)pn, &p, sink_text, &k, &r);
    ia__i32vec_free(&ids);
    atomic_store(&s->busy, false);
    if (!rc && k.oom)
        rc = ia__error(IA_ERR_NOMEM, "out of memory for the generated text");
    if (res)
        *res = (ia_lm_result){.prompt_tokens = r.prompt_tokens, .cached_tokens = r.cached_tokens,
                              .completion_tokens = r.completion_tokens,
                              .finish_reason = r.finish_reason ? r.finish_reason : "",
                              .first_token_s = r.first_token_s, .total_s = r.total_s};
    if (!rc && text) {
        *text = k.buf ? k.buf : ia__strdup("");
        k.buf = NULL;
        if (!*text)
            rc = ia__error(IA_ERR_NOMEM, "out of memory");
    }
    ia__free(k.buf);
    return rc;
}

ia_status ia_lm_session_generate(ia_lm_session *s, const char *prompt, const ia_lm_gen_options *opt,
                                 ia_lm_text_fn on_text, void *user, char **text, ia_lm_result *res)
{
    begin(text, res);
    IA_NEED(s);
    IA_NEED(prompt);
    return run(__func__, s, prompt, NULL, 0, NULL, NULL, opt, on_text, user, text, res);
}

ia_status ia_lm_session_generate_ids(ia_lm_session *s, const int32_t *ids, size_t n_ids,
                                     const ia_lm_gen_options *opt, ia_lm_text_fn on_text, void *user, char **text,
                                     ia_lm_result *res)
{
    begin(text, res);
    IA_NEED(s);
    IA_NEED(ids);
    return run(__func__, s, NULL, ids, n_ids, NULL, NULL, opt, on_text, user, text, res);
}

ia_status ia_lm_session_chat(ia_lm_session *s, const char *messages_json, const char *tools_json,
                             const ia_lm_gen_options *opt, ia_lm_text_fn on_text, void *user, char **text,
                             ia_lm_result *res)
{
    begin(text, res);
    IA_NEED(s);
    IA_NEED(messages_json);
    return run(__func__, s, NULL, NULL, 0, messages_json, tools_json, opt, on_text, user, text, res);
}
