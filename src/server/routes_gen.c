/*
 * The text-generation routes:
 *   POST /v1/chat/completions  OpenAI chat (the model's chat template)
 *   POST /v1/completions       OpenAI completions (raw text or token ids)
 *   POST /tokenize             llama-server's shape, for a language model
 *   POST /detokenize           token ids to text
 *   POST /apply-template       the chat prompt a conversation renders to
 * A request is parsed and its prompt tokenized here, on the HTTP thread;
 * its choices then run in the model's engine (gen.c). Streaming answers
 * are server-sent events written as text arrives: the connection is
 * parked while there is nothing to send and unparked by the engine.
 * Non-streaming answers suspend the connection until the last choice is
 * done. A client that leaves cancels its generations.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "model/json_constraint.h"
#include "server/server-impl.h"

/* The HTTP side of a call (its ext), under the call's lock. */
typedef struct http_side {
    srv_request *r;          /* NULL once the request is gone */
    bool parked, waiting;    /* a stream waiting for output; a plain answer for the end */
    srv_gen_req req;         /* the parsed body (owns the strings) */
    const srv_model *m;
    char id[48];
    long created;
    /* the stream's state */
    sbuf out;
    size_t out_off;
    bool *role_sent, *finish_sent;
    bool usage_sent, done_sent;
} http_side;

static void http_side_free(void *p)
{
    http_side *h = p;
    if (!h)
        return;
    ia__srv_gen_req_free(&h->req);
    ia__sbuf_free(&h->out);
    ia__free(h->role_sent);
    ia__free(h->finish_sent);
    ia__free(h);
}

static void fail(srv_request *r, int status, const char *param, const char *msg)
{
    srv_error e;
    ia__srv_error_set(&e, status, param, "%s", msg);
    ia__srv_respond_error(r, SRV_OPENAI, &e);
}

/* ---- the engine's callbacks ------------------------------------------------- */

static void notify(srv_call *c)
{
    pthread_mutex_lock(&c->lock);
    http_side *h = c->ext;
    if (h->r && h->parked) {
        h->parked = false;
        ia__srv_unpark(h->r);
    } else if (h->r && h->waiting && c->n_done == c->n_choices) {
        h->waiting = false;
        ia__srv_wake(h->r);
    }
    pthread_mutex_unlock(&c->lock);
}

static bool alive(srv_call *c)
{
    pthread_mutex_lock(&c->lock);
    http_side *h = c->ext;
    const bool ok = h->r && !ia__srv_peer_closed(h->r);
    pthread_mutex_unlock(&c->lock);
    return ok;
}

void ia__srv_gen_route_cleanup(srv_request *r)
{
    srv_call *c = *ia__srv_req_state(r);
    *ia__srv_req_state(r) = NULL;
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    ((http_side *)c->ext)->r = NULL;
    atomic_store(&c->cancelled, true); /* nothing left to answer */
    pthread_mutex_unlock(&c->lock);
    ia__srv_call_unref(c);
}

/* ---- JSON writers -------------------------------------------------------------- */

static void put_token_text(sbuf *b, const ia_lm *lm, int32_t id, bool with_bytes)
{
    size_t n = 0;
    const char *p = ia__bpe_piece(lm->tok, id, &n);
    ia__sbuf_json_str(b, p ? p : "", p ? n : 0);
    if (!with_bytes)
        return;
    ia__sbuf_puts(b, ",\"bytes\":[");
    for (size_t i = 0; p && i < n; i++)
        ia__sbuf_printf(b, "%s%u", i ? "," : "", (unsigned char)p[i]);
    ia__sbuf_puts(b, "]");
}

/* Chat's logprobs entries [from, to). */
static void put_chat_logprobs(sbuf *b, const ia_lm *lm, const srv_choice *ch, size_t from, size_t to)
{
    ia__sbuf_puts(b, "{\"content\":[");
    for (size_t i = from; i < to; i++) {
        const srv_toklp *e = &ch->lp[i];
        ia__sbuf_puts(b, i > from ? ",{\"token\":" : "{\"token\":");
        put_token_text(b, lm, e->token, true);
        ia__sbuf_printf(b, ",\"logprob\":%.6g,\"top_logprobs\":[", e->logprob);
        for (int k = 0; k < e->n_top; k++) {
            ia__sbuf_puts(b, k ? ",{\"token\":" : "{\"token\":");
            put_token_text(b, lm, e->top[k], true);
            ia__sbuf_printf(b, ",\"logprob\":%.6g}", e->top_lp[k]);
        }
        ia__sbuf_puts(b, "]}");
    }
    ia__sbuf_puts(b, "]}");
}

/* Completions' (legacy) logprobs [from, to); text offsets from offset. */
static void put_text_logprobs(sbuf *b, const ia_lm *lm, const srv_choice *ch, size_t from, size_t to, size_t offset)
{
    ia__sbuf_puts(b, "{\"tokens\":[");
    for (size_t i = from; i < to; i++) {
        ia__sbuf_puts(b, i > from ? "," : "");
        put_token_text(b, lm, ch->lp[i].token, false);
    }
    ia__sbuf_puts(b, "],\"token_logprobs\":[");
    for (size_t i = from; i < to; i++)
        ia__sbuf_printf(b, "%s%.6g", i > from ? "," : "", ch->lp[i].logprob);
    ia__sbuf_puts(b, "],\"top_logprobs\":[");
    for (size_t i = from; i < to; i++) {
        ia__sbuf_puts(b, i > from ? ",{" : "{");
        for (int k = 0; k < ch->lp[i].n_top; k++) {
            ia__sbuf_puts(b, k ? "," : "");
            put_token_text(b, lm, ch->lp[i].top[k], false);
            ia__sbuf_printf(b, ":%.6g", ch->lp[i].top_lp[k]);
        }
        ia__sbuf_puts(b, "}");
    }
    ia__sbuf_puts(b, "],\"text_offset\":[");
    for (size_t i = from; i < to; i++) {
        size_t n = 0;
        ia__bpe_piece(lm->tok, ch->lp[i].token, &n);
        ia__sbuf_printf(b, "%s%zu", i > from ? "," : "", offset);
        offset += n;
    }
    ia__sbuf_puts(b, "]}");
}

static void put_usage(sbuf *b, const srv_call *c)
{
    int completion = 0;
    for (int i = 0; i < c->n_choices; i++)
        completion += c->choices[i].res.completion_tokens;
    ia__sbuf_printf(b, "{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d,"
                       "\"prompt_tokens_details\":{\"cached_tokens\":%d}}",
                    c->n_prompt, completion, c->n_prompt + completion, c->choices[0].res.cached_tokens);
}

static const char *finish_reason(const srv_choice *ch)
{
    const char *f = ch->res.finish_reason;
    return f && (!strcmp(f, "stop") || !strcmp(f, "length")) ? f : "stop";
}

static void put_head(sbuf *b, const http_side *h, const char *object)
{
    ia__sbuf_printf(b, "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%ld,\"model\":", h->id, object, h->created);
    ia__sbuf_json_str(b, h->m->name, strlen(h->m->name));
    ia__sbuf_puts(b, ",\"system_fingerprint\":\"ipfs-accelerate\"");
}

/* ---- answers ---------------------------------------------------------------------- */

/* The whole answer, once every choice is done. */
void ia__srv_gen_route_done(ia_server *s, srv_request *r)
{
    (void)s;
    srv_call *c = *ia__srv_req_state(r);
    http_side *h = c->ext;
    const ia_lm *lm = c->lm;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < c->n_choices; i++)
        if (c->choices[i].errmsg[0]) {
            char msg[320];
            snprintf(msg, sizeof msg, "generation failed: %s", c->choices[i].errmsg);
            pthread_mutex_unlock(&c->lock);
            fail(r, 500, "", msg);
            return;
        }
    sbuf b = {0};
    put_head(&b, h, h->req.chat ? "chat.completion" : "text_completion");
    ia__sbuf_puts(&b, ",\"choices\":[");
    for (int i = 0; i < c->n_choices; i++) {
        const srv_choice *ch = &c->choices[i];
        ia__sbuf_printf(&b, "%s{\"index\":%d,", i ? "," : "", i);
        if (h->req.chat) {
            ia__sbuf_puts(&b, "\"message\":{\"role\":\"assistant\",\"content\":");
            ia__sbuf_json_str(&b, ch->text.p ? ch->text.p : "", ch->text.len);
            ia__sbuf_puts(&b, "},\"logprobs\":");
            if (h->req.logprobs)
                put_chat_logprobs(&b, lm, ch, 0, ch->n_lp);
            else
                ia__sbuf_puts(&b, "null");
        } else {
            sbuf t = {0};
            if (h->req.echo && h->req.prompt)
                ia__sbuf_put(&t, h->req.prompt, h->req.prompt_len);
            ia__sbuf_put(&t, ch->text.p ? ch->text.p : "", ch->text.len);
            ia__sbuf_puts(&b, "\"text\":");
            ia__sbuf_json_str(&b, t.p ? t.p : "", t.len);
            ia__sbuf_puts(&b, ",\"logprobs\":");
            if (h->req.logprobs)
                put_text_logprobs(&b, lm, ch, 0, ch->n_lp, h->req.echo ? h->req.prompt_len : 0);
            else
                ia__sbuf_puts(&b, "null");
            ia__sbuf_free(&t);
        }
        ia__sbuf_printf(&b, ",\"finish_reason\":\"%s\"}", finish_reason(ch));
    }
    ia__sbuf_puts(&b, "],\"usage\":");
    put_usage(&b, c);
    ia__sbuf_puts(&b, "}");
    char ttft[24], cached[24];
    snprintf(ttft, sizeof ttft, "%.3f", c->choices[0].res.first_token_s * 1e3);
    snprintf(cached, sizeof cached, "%d", c->choices[0].res.cached_tokens);
    pthread_mutex_unlock(&c->lock);
    size_t len = 0;
    char *body = ia__sbuf_take(&b, &len);
    const char *hdrs[] = {"X-Time-To-First-Token", ttft, "X-Cached-Tokens", cached, NULL};
    if (!body)
        fail(r, 500, "", "out of memory writing the response");
    else
        ia__srv_respond(r, 200, "application/json", body, len, h->m, hdrs);
}

/* One SSE event: "data: {...}\n\n" for a choice's new text (and logprobs),
 * or its end. */
static void sse_choice(http_side *h, srv_call *c, srv_choice *ch, size_t to, size_t lp_to, const char *finish)
{
    sbuf *b = &h->out;
    ia__sbuf_puts(b, "data: ");
    put_head(b, h, h->req.chat ? "chat.completion.chunk" : "text_completion");
    ia__sbuf_printf(b, ",\"choices\":[{\"index\":%d,", ch->index);
    if (h->req.chat) {
        ia__sbuf_puts(b, "\"delta\":{");
        if (!h->role_sent[ch->index]) {
            ia__sbuf_puts(b, "\"role\":\"assistant\",");
            h->role_sent[ch->index] = true;
        }
        if (!finish || to > ch->sent) {
            ia__sbuf_puts(b, "\"content\":");
            ia__sbuf_json_str(b, ch->text.p ? ch->text.p + ch->sent : "", to - ch->sent);
        } else if (b->len && b->p[b->len - 1] == ',') {
            b->len--; /* the role alone */
        }
        ia__sbuf_puts(b, "},\"logprobs\":");
        if (h->req.logprobs && lp_to > ch->lp_sent)
            put_chat_logprobs(b, c->lm, ch, ch->lp_sent, lp_to);
        else
            ia__sbuf_puts(b, "null");
    } else {
        ia__sbuf_puts(b, "\"text\":");
        ia__sbuf_json_str(b, ch->text.p ? ch->text.p + ch->sent : "", to - ch->sent);
        ia__sbuf_puts(b, ",\"logprobs\":");
        if (h->req.logprobs && lp_to > ch->lp_sent)
            put_text_logprobs(b, c->lm, ch, ch->lp_sent, lp_to, ch->sent);
        else
            ia__sbuf_puts(b, "null");
    }
    if (finish)
        ia__sbuf_printf(b, ",\"finish_reason\":\"%s\"}]", finish);
    else
        ia__sbuf_puts(b, ",\"finish_reason\":null}]");
    if (h->req.include_usage)
        ia__sbuf_puts(b, ",\"usage\":null");
    ia__sbuf_puts(b, "}\n\n");
    ch->sent = to;
    ch->lp_sent = lp_to;
}

/* Compose what is new into h->out (lock held). Returns whether the stream
 * is complete once out is sent. */
static bool sse_compose(http_side *h, srv_call *c)
{
    for (int i = 0; i < c->n_choices; i++) {
        srv_choice *ch = &c->choices[i];
        if (h->finish_sent[i])
            continue;
        if (ch->errmsg[0]) {
            ia__sbuf_puts(&h->out, "data: {\"error\":{\"message\":");
            char msg[320];
            snprintf(msg, sizeof msg, "generation failed: %s", ch->errmsg);
            ia__sbuf_json_str(&h->out, msg, strlen(msg));
            ia__sbuf_puts(&h->out, ",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n");
            h->finish_sent[i] = true;
            continue;
        }
        if (ch->text.len > ch->sent || ch->n_lp > ch->lp_sent || (h->req.chat && !h->role_sent[i]))
            sse_choice(h, c, ch, ch->text.len, ch->n_lp, NULL);
        if (ch->done) {
            sse_choice(h, c, ch, ch->text.len, ch->n_lp, finish_reason(ch));
            h->finish_sent[i] = true;
        }
    }
    if (c->n_done < c->n_choices)
        return false;
    if (h->req.include_usage && !h->usage_sent) {
        ia__sbuf_puts(&h->out, "data: ");
        put_head(&h->out, h, h->req.chat ? "chat.completion.chunk" : "text_completion");
        ia__sbuf_puts(&h->out, ",\"choices\":[],\"usage\":");
        put_usage(&h->out, c);
        ia__sbuf_puts(&h->out, "}\n\n");
        h->usage_sent = true;
    }
    if (!h->done_sent) {
        ia__sbuf_puts(&h->out, "data: [DONE]\n\n");
        h->done_sent = true;
    }
    return true;
}

static ssize_t sse_read(void *user, char *buf, size_t max)
{
    srv_call *c = user;
    http_side *h = c->ext;
    pthread_mutex_lock(&c->lock);
    if (h->out_off == h->out.len) {
        h->out.len = h->out_off = 0;
        const bool complete = sse_compose(h, c);
        if (h->out.oom) {
            pthread_mutex_unlock(&c->lock);
            return -1;
        }
        if (!h->out.len) {
            if (complete || !h->r) {
                pthread_mutex_unlock(&c->lock);
                return -1;
            }
            h->parked = true; /* until notify */
            ia__srv_park(h->r);
            pthread_mutex_unlock(&c->lock);
            return 0;
        }
    }
    const size_t n = IA_MIN(max, h->out.len - h->out_off);
    memcpy(buf, h->out.p + h->out_off, n);
    h->out_off += n;
    pthread_mutex_unlock(&c->lock);
    return (ssize_t)n;
}

static void sse_free(void *user) { ia__srv_call_unref(user); }

/* ---- POST /v1/chat/completions and /v1/completions ---------------------------------- */

static int make_prompt(const srv_model *m, http_side *h, ia_i32vec *ids, srv_error *err)
{
    const srv_gen_req *q = &h->req;
    ia_status rc;
    if (q->chat) {
        rc = ia__lm_chat_prompt(m->lm, q->messages, q->tools, true, ids, NULL);
    } else if (q->prompt_ids) {
        rc = IA_OK;
        for (size_t i = 0; !rc && i < q->n_prompt_ids; i++)
            if (!ia__i32vec_push(ids, q->prompt_ids[i]))
                rc = ia__error(IA_ERR_NOMEM, "out of memory");
            else if (q->prompt_ids[i] >= ia__decoder_config(m->lm->dec)->n_vocab)
                rc = ia__error(IA_ERR_INVALID, "prompt[%zu]: token id %d is outside the vocabulary of %d", i,
                               (int)q->prompt_ids[i], ia__decoder_config(m->lm->dec)->n_vocab);
    } else {
        rc = ia__bpe_encode(m->lm->tok, q->prompt, q->prompt_len, true, true, ids);
    }
    if (rc) {
        ia__srv_error_set(err, rc == IA_ERR_NOMEM ? 500 : 400, q->chat ? "messages" : "prompt", "%s", ia_errmsg());
        return err->status;
    }
    if (!ids->n) {
        ia__srv_error_set(err, 400, "prompt", "the prompt is empty (at least one token is needed)");
        return 400;
    }
    const int n_ctx = ia__decoder_config(m->lm->dec)->n_ctx_train;
    if (ids->n >= (size_t)n_ctx) {
        ia__srv_error_set(err, 400, q->chat ? "messages" : "prompt",
                          "the prompt has %zu tokens; the model's context is %d tokens, which must also hold "
                          "at least one generated token", ids->n, n_ctx);
        err->code = "context_length_exceeded";
        return 400;
    }
    return 0;
}

static void run_generate(ia_server *s, srv_request *r, bool chat)
{
    http_side *h = ia__calloc(1, sizeof *h);
    if (!h) {
        fail(r, 500, "", "out of memory");
        return;
    }
    size_t len;
    const char *body = ia__srv_req_body(r, &len);
    srv_error err;
    ia_i32vec ids = {0};
    srv_call *c = NULL;
    int code = ia__srv_parse_gen_request(chat, body, len, &h->req, &err);
    const srv_model *m = code ? NULL : ia__srv_model_find_kind(s, h->req.model, true, &err);
    if (!code && !m)
        code = err.status;
    if (!code) {
        ia__srv_gen_defaults(&h->req, &m->lm->gen);
        code = make_prompt(m, h, &ids, &err);
    }
    if (!code && !(c = ia__srv_call_new(m->lm, h->req.n))) {
        ia__srv_error_set(&err, 500, "", "out of memory");
        code = 500;
    }
    if (!code && h->req.json) {
        const cJSON *rf = cJSON_GetObjectItemCaseSensitive(h->req.root, "response_format");
        const ia_status rc = ia__jsonc_from_response_format(rf, &c->json);
        if (rc) {
            ia__srv_error_set(&err, rc == IA_ERR_NOMEM ? 500 : 400, "response_format", "%s", ia_errmsg());
            code = err.status;
        }
    }
    if (code) {
        ia__free(ids.v);
        ia__srv_call_unref(c);
        http_side_free(h);
        ia__srv_respond_error(r, SRV_OPENAI, &err);
        return;
    }
    c->ext = h;
    c->ext_free = http_side_free;
    c->notify = notify;
    c->alive = alive;
    c->prompt = ids.v;
    c->n_prompt = (int)ids.n;
    h->m = m;
    h->r = r;
    h->created = (long)time(NULL);
    snprintf(h->id, sizeof h->id, "%s-%016llx", chat ? "chatcmpl" : "cmpl",
             (unsigned long long)(ia__now() * 1e6) ^ ((unsigned long long)(uintptr_t)c << 16));
    h->role_sent = ia__calloc((size_t)h->req.n, sizeof *h->role_sent);
    h->finish_sent = ia__calloc((size_t)h->req.n, sizeof *h->finish_sent);
    if (!h->role_sent || !h->finish_sent) {
        ia__srv_call_unref(c);
        fail(r, 500, "", "out of memory");
        return;
    }
    for (int i = 0; i < c->n_choices; i++) {
        srv_choice *ch = &c->choices[i];
        ch->params = (ia_gen_params){.sampling = h->req.sampling, .max_tokens = h->req.max_tokens,
                                     .stop = h->req.stop, .n_stop = h->req.n_stop, .ignore_eos = h->req.ignore_eos,
                                     .top_logprobs = h->req.top_logprobs};
        ch->params.sampling.seed += (uint64_t)i; /* n choices differ, each reproducible */
        ch->want_lp = h->req.logprobs;
    }
    *ia__srv_req_state(r) = c;
    if (h->req.stream) {
        atomic_fetch_add(&c->refs, 1); /* the response's */
        pthread_mutex_lock(&c->lock);
        const bool ok = ia__srv_gen_submit(m->gen, c);
        pthread_mutex_unlock(&c->lock);
        if (!ok) {
            ia__srv_call_unref(c);
            fail(r, 429, "", "the server is overloaded (too many generations waiting); retry later");
            return;
        }
        ia__srv_respond_stream(r, 200, "text/event-stream", sse_read, c, sse_free, m);
        return;
    }
    pthread_mutex_lock(&c->lock);
    h->waiting = true;
    ia__srv_suspend(r); /* first: the engine may finish before this returns */
    const bool ok = ia__srv_gen_submit(m->gen, c);
    if (!ok)
        h->waiting = false;
    pthread_mutex_unlock(&c->lock);
    if (!ok) {
        ia__srv_unsuspend(r);
        fail(r, 429, "", "the server is overloaded (too many generations waiting); retry later");
    }
}

/* ---- tokens and templates ---------------------------------------------------------- */

static cJSON *parse_body(srv_request *r, srv_error *err)
{
    size_t len;
    const char *body = ia__srv_req_body(r, &len);
    cJSON *root = cJSON_ParseWithLength(body ? body : "", len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        ia__srv_error_set(err, 400, "", "the body is not a JSON object");
        return NULL;
    }
    return root;
}

static const srv_model *lm_of(ia_server *s, const cJSON *root, srv_error *err)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    return ia__srv_model_find_kind(s, cJSON_IsString(model) ? model->valuestring : NULL, true, err);
}

static void respond_json(srv_request *r, const srv_model *m, sbuf *b)
{
    size_t len = 0;
    char *out = ia__sbuf_take(b, &len);
    if (!out)
        fail(r, 500, "", "out of memory");
    else
        ia__srv_respond(r, 200, "application/json", out, len, m, NULL);
}

bool ia__srv_gen_tokenize(ia_server *s, srv_request *r)
{
    srv_error err;
    cJSON *root = parse_body(r, &err);
    const cJSON *content = root ? cJSON_GetObjectItemCaseSensitive(root, "content") : NULL;
    if (!content) { /* not llama-server's shape: TEI's, for an embedding model */
        cJSON_Delete(root);
        return false;
    }
    const srv_model *m = lm_of(s, root, &err);
    if (m && !cJSON_IsString(content))
        ia__srv_error_set(&err, 400, "content", "content must be a string"), m = NULL;
    const cJSON *add = cJSON_GetObjectItemCaseSensitive(root, "add_special"),
                *pieces = cJSON_GetObjectItemCaseSensitive(root, "with_pieces");
    ia_i32vec ids = {0};
    ia_status rc = m ? ia__bpe_encode(m->lm->tok, content->valuestring, strlen(content->valuestring),
                                      cJSON_IsTrue(add), true, &ids) : IA_OK;
    if (m && rc)
        ia__srv_error_set(&err, 400, "content", "%s", ia_errmsg()), m = NULL;
    if (!m) {
        cJSON_Delete(root);
        ia__free(ids.v);
        ia__srv_respond_error(r, SRV_OPENAI, &err);
        return true;
    }
    sbuf b = {0};
    ia__sbuf_puts(&b, "{\"tokens\":[");
    for (size_t i = 0; i < ids.n; i++) {
        if (cJSON_IsTrue(pieces)) {
            size_t n = 0;
            const char *p = ia__bpe_piece(m->lm->tok, ids.v[i], &n);
            ia__sbuf_printf(&b, "%s{\"id\":%d,\"piece\":", i ? "," : "", (int)ids.v[i]);
            ia__sbuf_json_str(&b, p ? p : "", p ? n : 0);
            ia__sbuf_puts(&b, "}");
        } else {
            ia__sbuf_printf(&b, "%s%d", i ? "," : "", (int)ids.v[i]);
        }
    }
    ia__sbuf_puts(&b, "]}");
    cJSON_Delete(root);
    ia__free(ids.v);
    respond_json(r, m, &b);
    return true;
}

static void run_detokenize(ia_server *s, srv_request *r)
{
    srv_error err;
    cJSON *root = parse_body(r, &err);
    const srv_model *m = root ? lm_of(s, root, &err) : NULL;
    const cJSON *tokens = root ? cJSON_GetObjectItemCaseSensitive(root, "tokens") : NULL, *e;
    int32_t *ids = NULL;
    size_t n = 0;
    if (m && !cJSON_IsArray(tokens))
        ia__srv_error_set(&err, 400, "tokens", "tokens must be an array of token ids"), m = NULL;
    if (m && !(ids = ia__malloc((size_t)(cJSON_GetArraySize(tokens) + 1) * sizeof *ids)))
        ia__srv_error_set(&err, 500, "", "out of memory"), m = NULL;
    if (m)
        cJSON_ArrayForEach(e, tokens) {
            if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= ia__bpe_n_vocab(m->lm->tok) ||
                e->valuedouble != (int32_t)e->valuedouble) {
                ia__srv_error_set(&err, 400, "tokens", "tokens[%zu] is not a token id of this model (0..%zu)", n,
                                  ia__bpe_n_vocab(m->lm->tok) - 1);
                m = NULL;
                break;
            }
            ids[n++] = (int32_t)e->valuedouble;
        }
    size_t len = 0;
    char *text = NULL;
    if (m && (ia__bpe_decode(m->lm->tok, ids, n, false, NULL, 0, &len) ||
              !(text = ia__malloc(len + 1)) || ia__bpe_decode(m->lm->tok, ids, n, false, text, len + 1, &len)))
        ia__srv_error_set(&err, 500, "", "%s", ia_errmsg()), m = NULL;
    cJSON_Delete(root);
    ia__free(ids);
    if (!m) {
        ia__free(text);
        ia__srv_respond_error(r, SRV_OPENAI, &err);
        return;
    }
    sbuf b = {0};
    ia__sbuf_puts(&b, "{\"content\":");
    ia__sbuf_json_str(&b, text, len);
    ia__sbuf_puts(&b, "}");
    ia__free(text);
    respond_json(r, m, &b);
}

static void run_apply_template(ia_server *s, srv_request *r)
{
    srv_error err;
    cJSON *root = parse_body(r, &err);
    const srv_model *m = root ? lm_of(s, root, &err) : NULL;
    char *text = NULL;
    ia_i32vec ids = {0};
    if (m) {
        const cJSON *messages = cJSON_GetObjectItemCaseSensitive(root, "messages"),
                    *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
        ia_status rc = ia__lm_chat_prompt(m->lm, messages, cJSON_IsArray(tools) ? tools : NULL, true, &ids, &text);
        if (rc)
            ia__srv_error_set(&err, rc == IA_ERR_NOMEM ? 500 : 400, "messages", "%s", ia_errmsg()), m = NULL;
    }
    cJSON_Delete(root);
    if (!m) {
        ia__free(ids.v);
        ia__srv_respond_error(r, SRV_OPENAI, &err);
        return;
    }
    sbuf b = {0};
    ia__sbuf_puts(&b, "{\"prompt\":");
    ia__sbuf_json_str(&b, text, strlen(text));
    ia__sbuf_printf(&b, ",\"n_tokens\":%zu}", ids.n);
    ia__free(text);
    ia__free(ids.v);
    respond_json(r, m, &b);
}

void ia__srv_gen_route_run(ia_server *s, srv_request *r, int route)
{
    switch (route) {
    case SRV_ROUTE_CHAT: run_generate(s, r, true); break;
    case SRV_ROUTE_COMPLETIONS: run_generate(s, r, false); break;
    case SRV_ROUTE_DETOKENIZE: run_detokenize(s, r); break;
    case SRV_ROUTE_APPLY_TEMPLATE: run_apply_template(s, r); break;
    default: break;
    }
}
