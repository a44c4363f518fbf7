/*
 * Language models and generation (lm.h): prompt evaluation with the
 * session's earlier tokens reused, then one token at a time: logits,
 * sampler, stream decoding to whole UTF-8 characters, and stop strings
 * held back until they can no longer match.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "hw/hw-impl.h"
#include "model/gguf-impl.h"
#include "model/lm.h"
#include "template/jinja.h"

ia_status ia__lm_load(const char *path, const char *device, int n_threads, ia_lm **out)
{
    *out = NULL;
    ia_lm *lm = ia__calloc(1, sizeof *lm);
    if (!lm || !(lm->path = ia__strdup(path))) {
        ia__free(lm);
        return ia__error(IA_ERR_NOMEM, "out of memory");
    }
    ia_selection sel;
    ia_status rc = ia__backend_select_precision(device, "fp32", &sel, &lm->be);
    if (!rc) {
        const char *colon = strchr(sel.device, ':');
        rc = lm->be->iface.open(colon ? (int)strtol(colon + 1, NULL, 10) : 0, n_threads, sel.precision, false,
                                &lm->bctx);
    }
    if (!rc)
        rc = ia__decoder_load_gguf(path, lm->be, lm->bctx, &lm->dec);
    if (!rc)
        rc = ia__bpe_from_gguf(ia__decoder_gguf(lm->dec), &lm->tok);
    if (!rc && (int)ia__bpe_n_vocab(lm->tok) > ia__decoder_config(lm->dec)->n_vocab)
        rc = ia__error(IA_ERR_FORMAT, "%s: the tokenizer has %zu tokens, the model's vocabulary %d", path,
                       ia__bpe_n_vocab(lm->tok), ia__decoder_config(lm->dec)->n_vocab);
    const char *tmpl;
    size_t len;
    if (!rc && ia__gguf_find(ia__decoder_gguf(lm->dec), "tokenizer.chat_template") &&
        !ia__gguf_get_str(ia__decoder_gguf(lm->dec), "tokenizer.chat_template", &tmpl, &len)) {
        if ((lm->chat_template = ia__malloc(len + 1))) {
            memcpy(lm->chat_template, tmpl, len);
            lm->chat_template[len] = '\0';
            /* a template we cannot run fails the chat calls, not the load */
            if (ia__jinja_compile(tmpl, len, &lm->tmpl))
                snprintf(lm->tmpl_error, sizeof lm->tmpl_error, "%s", ia_errmsg());
            ia__error_clear();
        } else {
            rc = ia__error(IA_ERR_NOMEM, "out of memory");
        }
    }
    if (rc) {
        ia__lm_free(lm);
        return rc;
    }
    *out = lm;
    return IA_OK;
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

ia_status ia__lm_generate(const ia_lm *lm, ia_session *s, const int32_t *prompt, int n, const ia_gen_params *p,
                          ia_gen_fn on_text, void *user, ia_gen_result *res)
{
    memset(res, 0, sizeof *res);
    const double t0 = ia__now();
    const int V = ia__decoder_config(lm->dec)->n_vocab, n_ctx = ia__session_n_ctx(s);
    if (n < 1)
        return ia__error(IA_ERR_INVALID, "generate: an empty prompt (at least one token is needed)");
    if (n >= n_ctx)
        return ia__error(IA_ERR_INVALID, "generate: the prompt has %d tokens, the context %d", n, n_ctx);
    /* reuse the session's tokens that begin this prompt; at least the last
     * prompt token is evaluated again, for its logits */
    const int32_t *have = ia__session_tokens(s);
    int keep = 0;
    while (keep < ia__session_pos(s) && keep < n - 1 && have[keep] == prompt[keep])
        keep++;
    ia__session_truncate(s, keep);
    res->cached_tokens = keep;
    res->prompt_tokens = n;

    ia_sampler *smp = NULL;
    ia_bpe_stream *st = NULL;
    float *logits = ia__malloc((size_t)V * sizeof *logits);
    ia_status rc = logits ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = ia__sampler_new(&p->sampling, V, &smp);
    if (!rc)
        rc = ia__bpe_stream_new(lm->tok, true, &st);
    for (int i = 0; i < n && !rc; i++)
        ia__sampler_accept(smp, prompt[i]);
    if (!rc)
        rc = ia__session_eval(s, prompt + keep, n - keep, logits, NULL);
    text_out t = {.p = p, .fn = on_text, .user = user};
    const char *piece;
    size_t plen;
    res->finish_reason = "length";
    while (!rc) {
        if (p->max_tokens > 0 && res->completion_tokens >= p->max_tokens)
            break;
        const int32_t tok = ia__sampler_sample(smp, logits, NULL);
        if (!p->ignore_eos && ia__bpe_is_eog(lm->tok, tok)) {
            res->finish_reason = "stop";
            break;
        }
        res->completion_tokens++;
        if (res->completion_tokens == 1)
            res->first_token_s = ia__now() - t0;
        ia__sampler_accept(smp, tok);
        if ((rc = ia__bpe_stream_push(st, tok, &piece, &plen)) || (rc = add_text(&t, piece, plen, false)))
            break;
        if (t.stopped || t.cancelled) {
            res->finish_reason = t.cancelled ? "cancelled" : "stop";
            break;
        }
        if (ia__session_pos(s) >= n_ctx || (p->max_tokens > 0 && res->completion_tokens >= p->max_tokens))
            break; /* "length": the last token needs no forward */
        rc = ia__session_eval(s, &tok, 1, logits, NULL);
    }
    if (!rc && !t.stopped && !t.cancelled && !(rc = ia__bpe_stream_flush(st, &piece, &plen)))
        rc = add_text(&t, piece, plen, true);
    if (!rc && t.stopped)
        res->finish_reason = "stop";
    res->total_s = ia__now() - t0;
    ia__bpe_stream_free(st);
    ia__sampler_free(smp);
    ia__free(logits);
    ia__free(t.buf);
    return rc;
}
