/*
 * Language models and generation (lm.h): loading a GGUF file or a Hugging
 * Face folder with its tokenizer, chat template and generation config;
 * prompt evaluation with the session's earlier tokens reused, then one
 * token at a time: logits, sampler, stream decoding to whole UTF-8
 * characters, and stop strings held back until they can no longer match.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "hw/hw-impl.h"
#include "model/gguf-impl.h"
#include "model/lm.h"
#include "template/jinja.h"

/* The chat template's text, compiled: a template we cannot run fails the
 * chat calls, not the load. */
static ia_status set_template(ia_lm *lm, const char *tmpl, size_t len)
{
    if (!(lm->chat_template = ia__strndup(tmpl, len)))
        return ia__error(IA_ERR_NOMEM, "out of memory");
    if (ia__jinja_compile(tmpl, len, &lm->tmpl))
        snprintf(lm->tmpl_error, sizeof lm->tmpl_error, "%s", ia_errmsg());
    ia__error_clear();
    return IA_OK;
}

/* A folder's chat template: tokenizer_config.json's chat_template (a
 * string, or a list of {name, template} of which "default"), else the
 * chat_template.jinja that newer transformers write. */
static ia_status folder_template(ia_lm *lm, const char *dir)
{
    char *path = ia__path_join(dir, "tokenizer_config.json");
    cJSON *cfg = NULL;
    ia_status rc = !path ? ia__error(IA_ERR_NOMEM, "out of memory")
                   : ia__file_exists(path) ? ia__read_json(path, &cfg) : IA_OK;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
    if (!rc && cJSON_IsArray(t)) {
        const cJSON *e, *pick = NULL;
        cJSON_ArrayForEach(e, t)
        {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
            if (cJSON_IsString(name) && !strcmp(name->valuestring, "default"))
                pick = cJSON_GetObjectItemCaseSensitive(e, "template");
        }
        t = pick;
        if (!cJSON_IsString(t))
            rc = ia__error(IA_ERR_FORMAT, "%s: chat_template is a list without a \"default\" template", path);
    } else if (!rc && t && !cJSON_IsString(t) && !cJSON_IsNull(t)) {
        rc = ia__error(IA_ERR_FORMAT, "%s: chat_template must be a string or a list of {name, template}", path);
    }
    if (!rc && cJSON_IsString(t))
        rc = set_template(lm, t->valuestring, strlen(t->valuestring));
    cJSON_Delete(cfg);
    ia__free(path);
    if (rc || lm->chat_template)
        return rc;
    char *text = NULL;
    size_t len = 0;
    if (!(path = ia__path_join(dir, "chat_template.jinja")))
        return ia__error(IA_ERR_NOMEM, "out of memory");
    if (ia__file_exists(path) && !(rc = ia__read_file(path, &text, &len)))
        rc = set_template(lm, text, len);
    ia__free(text);
    ia__free(path);
    return rc;
}

/* generation_config.json, if the folder has one. */
static ia_status folder_gen_config(ia_lm *lm, const char *dir)
{
    ia_lm_gen_config *gc = &lm->gen;
    char *path = ia__path_join(dir, "generation_config.json");
    cJSON *j = NULL;
    ia_status rc = !path ? ia__error(IA_ERR_NOMEM, "out of memory")
                   : ia__file_exists(path) ? ia__read_json(path, &j) : IA_OK;
    if (rc || !j) {
        ia__free(path);
        return rc;
    }
    gc->present = true;
    const int V = ia__decoder_config(lm->dec)->n_vocab;
    /* eos_token_id: an id or a list of them */
    const cJSON *eos = cJSON_GetObjectItemCaseSensitive(j, "eos_token_id");
    const bool list = cJSON_IsArray(eos);
    if (eos && !list && !cJSON_IsNumber(eos) && !cJSON_IsNull(eos))
        rc = ia__error(IA_ERR_FORMAT, "%s: eos_token_id must be an id or a list of ids", path);
    for (const cJSON *e = list ? eos->child : cJSON_IsNumber(eos) ? eos : NULL; e && !rc; e = list ? e->next : NULL) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= V || gc->n_eos == 8)
            rc = ia__error(IA_ERR_FORMAT, "%s: eos_token_id must be at most 8 ids below %d", path, V);
        else
            gc->eos[gc->n_eos++] = (int32_t)e->valuedouble;
    }
    /* the sampling keys it has, as vLLM applies them (do_sample is not
     * read); absent ones stay NAN (top_k -1) */
    gc->sampling = (ia_sampling){.temperature = NAN, .top_k = -1, .top_p = NAN, .min_p = NAN,
                                 .repetition_penalty = NAN};
    struct {
        const char *key;
        double lo, hi;
        float *f; /* or */
        int *i;
    } nums[] = {{"temperature", 0, 100, &gc->sampling.temperature, NULL},
                {"top_k", 0, 1e9, NULL, &gc->sampling.top_k},
                {"top_p", 0, 1, &gc->sampling.top_p, NULL},
                {"min_p", 0, 1, &gc->sampling.min_p, NULL},
                {"repetition_penalty", 0, 100, &gc->sampling.repetition_penalty, NULL},
                {"max_new_tokens", 0, 1e9, NULL, &gc->max_new_tokens}};
    for (size_t i = 0; i < IA_ARRAY_LEN(nums) && !rc; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, nums[i].key);
        if (!x || cJSON_IsNull(x))
            continue;
        if (!cJSON_IsNumber(x) || x->valuedouble < nums[i].lo || x->valuedouble > nums[i].hi)
            rc = ia__error(IA_ERR_FORMAT, "%s: %s must be a number in [%g, %g]", path, nums[i].key, nums[i].lo,
                           nums[i].hi);
        else if (nums[i].f)
            *nums[i].f = (float)x->valuedouble;
        else
            *nums[i].i = (int)x->valuedouble;
    }
    cJSON_Delete(j);
    ia__free(path);
    return rc;
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return !stat(path, &sb) && S_ISDIR(sb.st_mode);
}

/* A KV cache type ia__lm_set_kv_cache takes (NULL or "": the default). */
static ia_status check_kv_type(const char *type)
{
    if (type && *type && strcmp(type, "f16") && strcmp(type, "f32"))
        return ia__error(IA_ERR_INVALID, "KV cache type \"%s\": f16 or f32", type);
    return IA_OK;
}

ia_status ia__lm_load(const char *path, const char *device, int n_threads, const char *kv_cache, ia_lm **out)
{
    *out = NULL;
    ia_status rc = check_kv_type(kv_cache); /* before the load, which may be long */
    if (rc)
        return rc;
    ia_lm *lm = ia__calloc(1, sizeof *lm);
    if (!lm || !(lm->path = ia__strdup(path))) {
        ia__free(lm);
        return ia__error(IA_ERR_NOMEM, "out of memory");
    }
    const bool folder = is_dir(path);
    ia_selection sel;
    rc = ia__backend_select_precision(device, "fp32", &sel, &lm->be);
    /* a device that fails (out of its memory, lost) hands over to the CPU
     * unless fallback is off */
    for (bool again = !rc; again;) {
        const char *colon = strchr(sel.device, ':');
        rc = lm->be->iface.open(colon ? (int)strtol(colon + 1, NULL, 10) : 0, n_threads, sel.precision, false,
                                &lm->bctx);
        if (!rc)
            rc = folder ? ia__decoder_load_hf(path, lm->be, lm->bctx, &lm->dec)
                        : ia__decoder_load_gguf(path, lm->be, lm->bctx, &lm->dec);
        const ia_backend *failed = lm->be;
        again = rc && ia__backend_fallback(rc, &sel, &lm->be);
        if (again) {
            ia__decoder_free(lm->dec);
            if (lm->bctx)
                failed->iface.close(lm->bctx);
            lm->dec = NULL, lm->bctx = NULL;
        }
    }
    if (!rc)
        rc = ia__lm_set_kv_cache(lm, kv_cache);
    if (!rc && folder) {
        char *tj = ia__path_join(path, "tokenizer.json");
        rc = tj ? ia__bpe_from_json(tj, &lm->tok) : ia__error(IA_ERR_NOMEM, "out of memory");
        ia__free(tj);
    } else if (!rc) {
        rc = ia__bpe_from_gguf(ia__decoder_gguf(lm->dec), &lm->tok);
    }
    if (!rc && (int)ia__bpe_n_vocab(lm->tok) > ia__decoder_config(lm->dec)->n_vocab)
        rc = ia__error(IA_ERR_FORMAT, "%s: the tokenizer has %zu tokens, the model's vocabulary %d", path,
                       ia__bpe_n_vocab(lm->tok), ia__decoder_config(lm->dec)->n_vocab);
    const char *tmpl;
    size_t len;
    if (!rc && folder) {
        if (!(rc = folder_template(lm, path)))
            rc = folder_gen_config(lm, path);
    } else if (!rc && ia__gguf_find(ia__decoder_gguf(lm->dec), "tokenizer.chat_template") &&
               !ia__gguf_get_str(ia__decoder_gguf(lm->dec), "tokenizer.chat_template", &tmpl, &len)) {
        rc = set_template(lm, tmpl, len);
    }
    if (rc) {
        ia__lm_free(lm);
        return rc;
    }
    *out = lm;
    return IA_OK;
}

ia_status ia__lm_set_kv_cache(ia_lm *lm, const char *type)
{
    /* By default the caches are f16, as llama.cpp keeps them, on the CPU:
     * half the bytes a decode step's attention reads. The other backends
     * copy f16 caches (a grown or shared one) through the CPU: f32 there. */
    ia_status rc = check_kv_type(type);
    if (rc)
        return rc;
    if (!type || !*type)
        type = strcmp(lm->be->name, "cpu") ? "f32" : "f16";
    return ia__decoder_set_kv_dtype(lm->dec, strcmp(type, "f16") ? IA_DTYPE_F32 : IA_DTYPE_F16);
}

bool ia__lm_is_eog(const ia_lm *lm, int32_t tok)
{
    for (int i = 0; i < lm->gen.n_eos; i++)
        if (lm->gen.eos[i] == tok)
            return true;
    return ia__bpe_is_eog(lm->tok, tok);
}

void ia__lm_free(ia_lm *lm)
{
    if (!lm)
        return;
    ia__jinja_free(lm->tmpl);
    ia__bpe_free(lm->tok);
    ia__decoder_free(lm->dec);
    if (lm->bctx)
        lm->be->iface.close(lm->bctx);
    ia__free(lm->chat_template);
    ia__free(lm->path);
    ia__free(lm);
}

/* chat prompts --------------------------------------------------------------- */

/* The messages' text, found in order in the rendered prompt: byte ranges
 * where special-token strings stay text. A text the template changed
 * (trimmed...) is looked for trimmed too; one that cannot be found and
 * holds a special token is refused rather than risk a user's control
 * token. */
static ia_status message_spans(const ia_lm *lm, const cJSON *messages, const char *r, size_t rlen,
                               size_t **spans, size_t *n_spans)
{
    size_t cap = 8, n = 0, cursor = 0;
    size_t *v = ia__malloc(2 * cap * sizeof *v);
    if (!v)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    int mi = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages)
    {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        const cJSON *parts[64];
        int np = 0;
        if (cJSON_IsString(content))
            parts[np++] = content;
        else if (cJSON_IsArray(content)) {
            const cJSON *part;
            cJSON_ArrayForEach(part, content)
            {
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
                if (cJSON_IsString(t) && np < 64)
                    parts[np++] = t;
            }
        }
        for (int i = 0; i < np; i++) {
            const char *c = parts[i]->valuestring;
            size_t cl = strlen(c);
            while (cl && (*c == ' ' || *c == '\n' || *c == '\t' || *c == '\r')) /* as |trim would */
                c++, cl--;
            while (cl && (c[cl - 1] == ' ' || c[cl - 1] == '\n' || c[cl - 1] == '\t' || c[cl - 1] == '\r'))
                cl--;
            if (!cl)
                continue;
            const char *hit = memmem(r + cursor, rlen - cursor, c, cl);
            if (!hit) {
                ia_i32vec probe = {0};
                ia_status rc = ia__bpe_encode(lm->tok, c, cl, false, true, &probe);
                bool special = false;
                for (size_t k = 0; !rc && k < probe.n; k++)
                    special |= ia__bpe_is_special(lm->tok, probe.v[k]);
                ia__i32vec_free(&probe);
                if (rc || special) {
                    ia__free(v);
                    return rc ? rc : ia__error(IA_ERR_INVALID, "message %d holds a special token's text, and the "
                                               "chat template changes the message so that it cannot be kept as "
                                               "text", mi);
                }
                continue;
            }
            if (n == cap) {
                size_t *g = ia__realloc(v, 4 * cap * sizeof *g);
                if (!g) {
                    ia__free(v);
                    return ia__error(IA_ERR_NOMEM, "out of memory");
                }
                v = g;
                cap *= 2;
            }
            v[2 * n] = (size_t)(hit - r);
            v[2 * n + 1] = (size_t)(hit - r) + cl;
            cursor = v[2 * n + 1];
            n++;
        }
        mi++;
    }
    *spans = v;
    *n_spans = n;
    return IA_OK;
}

ia_status ia__lm_chat_prompt(const ia_lm *lm, const cJSON *messages, const cJSON *tools,
                             bool add_generation_prompt, ia_i32vec *ids, char **rendered)
{
    if (rendered)
        *rendered = NULL;
    if (!lm->chat_template)
        return ia__error(IA_ERR_UNSUPPORTED, "%s has no chat template (tokenizer.chat_template)", lm->path);
    if (!lm->tmpl)
        return ia__error(IA_ERR_UNSUPPORTED, "%s: its chat template cannot be run: %s", lm->path, lm->tmpl_error);
    if (!cJSON_IsArray(messages))
        return ia__error(IA_ERR_INVALID, "chat: messages must be an array of {role, content}");
    cJSON *ctx = cJSON_CreateObject();
    const int32_t bos = ia__bpe_bos(lm->tok), eos = ia__bpe_eos(lm->tok);
    const char *bos_s = bos >= 0 ? ia__bpe_token(lm->tok, bos) : NULL, *eos_s = eos >= 0 ? ia__bpe_token(lm->tok, eos) : NULL;
    bool ok = ctx && cJSON_AddItemReferenceToObject(ctx, "messages", (cJSON *)messages) &&
              (tools ? cJSON_AddItemReferenceToObject(ctx, "tools", (cJSON *)tools) != 0
                     : cJSON_AddNullToObject(ctx, "tools") != NULL) &&
              cJSON_AddBoolToObject(ctx, "add_generation_prompt", add_generation_prompt) &&
              cJSON_AddStringToObject(ctx, "bos_token", bos_s ? bos_s : "") &&
              cJSON_AddStringToObject(ctx, "eos_token", eos_s ? eos_s : "");
    char *out = NULL;
    size_t len = 0, *spans = NULL, n_spans = 0;
    ia_status rc = ok ? ia__jinja_render(lm->tmpl, ctx, 0, &out, &len) : ia__error(IA_ERR_NOMEM, "out of memory");
    cJSON_Delete(ctx);
    if (!rc)
        rc = message_spans(lm, messages, out, len, &spans, &n_spans);
    if (!rc)
        rc = ia__bpe_encode_chat(lm->tok, out, len, spans, n_spans, ids);
    ia__free(spans);
    if (!rc && rendered)
        *rendered = out;
    else
        ia__free(out);
    return rc;
}

/* generation --------------------------------------------------------------- */

/* The generated text, of which [0, sent) went to the caller. */
typedef struct text_out {
    char *buf;
    size_t len, cap, sent;
    const ia_gen_params *p;
    ia_gen_fn fn;
    void *user;
    bool cancelled, stopped;
} text_out;

/* Bytes at the end of t that begin some stop string (held back). */
static size_t stop_prefix_len(const text_out *t)
{
    size_t best = 0;
    for (size_t i = 0; i < t->p->n_stop; i++) {
        const size_t sl = strlen(t->p->stop[i]);
        for (size_t k = IA_MIN(sl - (sl > 0), t->len - t->sent); k > best; k--)
            if (!memcmp(t->buf + t->len - k, t->p->stop[i], k)) {
                best = k;
                break;
            }
    }
    return best;
}

static bool send(text_out *t, size_t upto)
{
    if (upto > t->sent && !t->cancelled) {
        if (!t->fn(t->buf + t->sent, upto - t->sent, t->user))
            t->cancelled = true;
        t->sent = upto;
    }
    return !t->cancelled;
}

/* Append decoded text; send what is final; note a stop string. */
static ia_status add_text(text_out *t, const char *s, size_t n, bool final)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *b = ia__realloc(t->buf, cap);
        if (!b)
            return ia__error(IA_ERR_NOMEM, "out of memory for the generated text");
        t->buf = b;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
    /* the earliest stop string that now appears (it may start in text
     * held back before) */
    size_t cut = t->len;
    for (size_t i = 0; i < t->p->n_stop; i++) {
        const size_t sl = strlen(t->p->stop[i]);
        if (!sl)
            continue;
        const size_t from = t->sent;
        const char *hit = t->len - from >= sl ? memmem(t->buf + from, t->len - from, t->p->stop[i], sl) : NULL;
        if (hit && (size_t)(hit - t->buf) < cut)
            cut = (size_t)(hit - t->buf);
    }
    if (cut < t->len) {
        t->stopped = true;
        t->len = cut;
        send(t, cut);
        return IA_OK;
    }
    send(t, final ? t->len : t->len - stop_prefix_len(t));
    return IA_OK;
}

struct ia_gen {
    const ia_lm *lm;
    ia_session *s;
    int32_t *prompt;
    int n_prompt, n_ctx, n_vocab;
    ia_gen_params p;
    ia_sampler *smp;
    ia_bpe_stream *st;
    text_out t;
    int32_t pending;  /* the sampled token the next forward evaluates */
    bool done;
    ia_gen_result res;
    double t0;
    int32_t *top;     /* (p.top_logprobs) */
    float *top_lp;
};

void ia__gen_free(ia_gen *g)
{
    if (!g)
        return;
    ia__bpe_stream_free(g->st);
    ia__sampler_free(g->smp);
    ia__free(g->t.buf);
    ia__free(g->prompt);
    ia__free(g->top);
    ia__free(g->top_lp);
    ia__free(g);
}

ia_status ia__gen_new(const ia_lm *lm, ia_session *s, const int32_t *prompt, int n, const ia_gen_params *p,
                      ia_gen_fn on_text, void *user, ia_gen **out)
{
    *out = NULL;
    const int V = ia__decoder_config(lm->dec)->n_vocab, n_ctx = ia__session_n_ctx(s);
    if (n < 1)
        return ia__error(IA_ERR_INVALID, "generate: an empty prompt (at least one token is needed)");
    if (n >= n_ctx)
        return ia__error(IA_ERR_INVALID, "generate: the prompt has %d tokens, the context %d", n, n_ctx);
    for (int i = 0; i < n; i++)
        if (prompt[i] < 0 || prompt[i] >= V)
            return ia__error(IA_ERR_INVALID, "generate: token id %d (position %d of the prompt) is outside the "
                             "vocabulary of %d", (int)prompt[i], i, V);
    if (p->top_logprobs < 0 || p->top_logprobs > 20)
        return ia__error(IA_ERR_INVALID, "generate: top_logprobs %d is outside [0, 20]", p->top_logprobs);
    ia_gen *g = ia__calloc(1, sizeof *g);
    if (!g || !(g->prompt = ia__malloc((size_t)n * sizeof *prompt)) ||
        !(g->top = ia__malloc((size_t)(p->top_logprobs + 1) * sizeof *g->top)) ||
        !(g->top_lp = ia__malloc((size_t)(p->top_logprobs + 1) * sizeof *g->top_lp))) {
        ia__gen_free(g);
        return ia__error(IA_ERR_NOMEM, "out of memory");
    }
    g->t0 = ia__now();
    g->lm = lm;
    g->s = s;
    g->p = *p;
    g->n_prompt = n;
    g->n_ctx = n_ctx;
    g->n_vocab = V;
    memcpy(g->prompt, prompt, (size_t)n * sizeof *prompt);
    ia_status rc = ia__sampler_new(&p->sampling, V, &g->smp);
    if (!rc)
        rc = ia__bpe_stream_new(lm->tok, true, &g->st);
    if (rc) {
        ia__gen_free(g);
        return rc;
    }
    for (int i = 0; i < n; i++)
        ia__sampler_accept(g->smp, prompt[i]);
    /* reuse the session's tokens that begin this prompt; at least the last
     * prompt token is evaluated again, for its logits */
    const int32_t *have = ia__session_tokens(s);
    int keep = 0;
    while (keep < ia__session_pos(s) && keep < n - 1 && have[keep] == prompt[keep])
        keep++;
    ia__session_truncate(s, keep);
    g->res.cached_tokens = keep;
    g->res.prompt_tokens = n;
    g->res.finish_reason = "length";
    g->t = (text_out){.p = &g->p, .fn = on_text, .user = user};
    *out = g;
    return IA_OK;
}

ia_session *ia__gen_session(const ia_gen *g) { return g->s; }
bool ia__gen_done(const ia_gen *g) { return g->done; }

int ia__gen_next(const ia_gen *g, int max, const int32_t **tokens, bool *need_logits)
{
    if (g->done || max < 1)
        return 0;
    const int pos = ia__session_pos(g->s);
    if (pos < g->n_prompt) {
        const int m = IA_MIN(g->n_prompt - pos, max);
        *tokens = g->prompt + pos;
        *need_logits = pos + m == g->n_prompt;
        return m;
    }
    *tokens = &g->pending;
    *need_logits = true;
    return 1;
}

/* The end of the text: what the stream still holds, unless a stop string
 * or the caller ended it. */
static ia_status finish(ia_gen *g)
{
    const char *piece;
    size_t plen;
    ia_status rc = IA_OK;
    if (!g->t.stopped && !g->t.cancelled && !(rc = ia__bpe_stream_flush(g->st, &piece, &plen)))
        rc = add_text(&g->t, piece, plen, true);
    if (g->t.stopped)
        g->res.finish_reason = "stop";
    if (g->t.cancelled)
        g->res.finish_reason = "cancelled";
    g->res.total_s = ia__now() - g->t0;
    g->done = true;
    return rc;
}

ia_status ia__gen_advance(ia_gen *g, const float *logits)
{
    if (g->done)
        return IA_OK;
    if (ia__session_pos(g->s) < g->n_prompt)
        return IA_OK; /* more prompt to evaluate */
    const ia_gen_params *p = &g->p;
    if (p->max_tokens > 0 && g->res.completion_tokens >= p->max_tokens)
        return finish(g);
    float lp = 0;
    const int32_t tok = ia__sampler_sample(g->smp, logits, p->on_token ? &lp : NULL);
    if (!p->ignore_eos && ia__lm_is_eog(g->lm, tok)) {
        g->res.finish_reason = "stop";
        return finish(g);
    }
    if (++g->res.completion_tokens == 1)
        g->res.first_token_s = ia__now() - g->t0;
    ia__sampler_accept(g->smp, tok);
    if (p->on_token) {
        const int nt = p->top_logprobs ? ia__top_logprobs(logits, g->n_vocab, p->top_logprobs, g->top, g->top_lp) : 0;
        p->on_token(tok, lp, g->top, g->top_lp, nt, g->t.user);
    }
    const char *piece;
    size_t plen;
    ia_status rc = ia__bpe_stream_push(g->st, tok, &piece, &plen);
    if (!rc)
        rc = add_text(&g->t, piece, plen, false);
    if (rc) {
        g->done = true;
        return rc;
    }
    if (g->t.stopped || g->t.cancelled || ia__session_pos(g->s) >= g->n_ctx ||
        (p->max_tokens > 0 && g->res.completion_tokens >= p->max_tokens))
        return finish(g); /* "length": the last token needs no forward */
    g->pending = tok;
    return IA_OK;
}

void ia__gen_cancel(ia_gen *g)
{
    if (!g->done) {
        g->t.cancelled = true;
        finish(g);
    }
}

void ia__gen_result(const ia_gen *g, ia_gen_result *res) { *res = g->res; }

ia_status ia__lm_generate(const ia_lm *lm, ia_session *s, const int32_t *prompt, int n, const ia_gen_params *p,
                          ia_gen_fn on_text, void *user, ia_gen_result *res)
{
    memset(res, 0, sizeof *res);
    ia_gen *g;
    ia_status rc = ia__gen_new(lm, s, prompt, n, p, on_text, user, &g);
    float *logits = rc ? NULL : ia__malloc((size_t)g->n_vocab * sizeof *logits);
    if (!rc && !logits)
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    const int32_t *tokens;
    bool need;
    for (int m; !rc && (m = ia__gen_next(g, INT32_MAX, &tokens, &need)) > 0;)
        if (!(rc = ia__session_eval(s, tokens, m, need ? logits : NULL, NULL)))
            rc = ia__gen_advance(g, logits);
    if (g)
        ia__gen_result(g, res);
    ia__free(logits);
    ia__gen_free(g);
    return rc;
}
