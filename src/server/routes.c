/*
 * The server's API routes:
 *   POST /v1/embeddings  OpenAI embeddings (float, base64, packed sign bits, or int8/uint8
 *                        buckets over calibration ranges (calib.c); dimensions)
 *   GET  /v1/models      OpenAI model list
 *   POST /embed          text-embeddings-inference embeddings
 *   POST /tokenize       text-embeddings-inference tokenization
 *   GET  /info           model, dims, max tokens, backend, precision, limits
 *   GET  /health         200 when a model is loaded and passed its test run
 *   GET  /metrics        Prometheus text format
 * and the text-generation routes of routes_gen.c.
 * Embedding requests are validated and tokenized here (token counts give
 * `usage`, the batching budget and TEI's over-length check), then queued;
 * the answer is written when the engine thread resumes the connection.
 * Errors take the shape of the API they belong to: OpenAI's
 * {"error":{"message","type","param","code"}} or TEI's {"error","error_type"}.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/server-impl.h"
#include "tokenizer/tokenizer-impl.h"

static const struct {
    const char *path, *methods;
    bool auth;
} routes[SRV_ROUTE_MOUNT0] = {
    [SRV_ROUTE_EMBEDDINGS] = {"/v1/embeddings", "POST", true},
    [SRV_ROUTE_EMBED] = {"/embed", "POST", true},
    [SRV_ROUTE_TOKENIZE] = {"/tokenize", "POST", true},
    [SRV_ROUTE_MODELS] = {"/v1/models", "GET, HEAD", true},
    [SRV_ROUTE_INFO] = {"/info", "GET, HEAD", true},
    [SRV_ROUTE_HEALTH] = {"/health", "GET, HEAD", false},
    [SRV_ROUTE_METRICS] = {"/metrics", "GET, HEAD", false},
    [SRV_ROUTE_CHAT] = {"/v1/chat/completions", "POST", true},
    [SRV_ROUTE_COMPLETIONS] = {"/v1/completions", "POST", true},
    [SRV_ROUTE_DETOKENIZE] = {"/detokenize", "POST", true},
    [SRV_ROUTE_APPLY_TEMPLATE] = {"/apply-template", "POST", true},
    [SRV_ROUTE_SIMILARITY] = {"/similarity", "POST", true},
    [SRV_ROUTE_DECODE] = {"/decode", "POST", true},
    [SRV_ROUTE_RERANK] = {"/rerank", "POST", true},
    [SRV_ROUTE_V1_RERANK] = {"/v1/rerank", "POST", true},
    [SRV_ROUTE_PREDICT] = {"/predict", "POST", true},
    [SRV_ROUTE_EMBED_SPARSE] = {"/embed_sparse", "POST", true},
    [SRV_ROUTE_EMBED_ALL] = {"/embed_all", "POST", true},
    [SRV_ROUTE_OTHER] = {"", "", false},
};

int ia__srv_route_find(const char *path)
{
    for (int i = 0; i < SRV_ROUTE_OTHER; i++)
        if (!strcmp(path, routes[i].path))
            return i;
    return -1;
}

const char *ia__srv_route_label(int route)
{
    return route >= 0 && route < SRV_ROUTE_OTHER ? routes[route].path : "other";
}

const char *ia__srv_route_methods(int route)
{
    return route >= 0 && route < SRV_ROUTE_OTHER ? routes[route].methods : "GET, HEAD";
}

bool ia__srv_route_needs_auth(int route)
{
    return route >= 0 && route < SRV_ROUTE_OTHER && routes[route].auth;
}

/* ---- embedding requests ------------------------------------------------------ */

/* What an embedding request answers with. */
typedef enum embed_kind {
    EMBED_DENSE,      /* the vectors */
    EMBED_SIMILARITY, /* TEI /similarity: cosines of the first text's vector with the others' */
    EMBED_SPARSE,     /* TEI /embed_sparse: each SPLADE vector's non-zero entries */
    EMBED_ALL,        /* TEI /embed_all: every token's hidden state */
} embed_kind;

typedef struct embed_state {
    srv_api api;
    embed_kind kind;
    srv_input_req in;
    const srv_model *model;
    srv_job job;
    size_t tokens;
    int32_t **ids;  /* (n_inputs) each input's token ids, truncated to the limit */
    size_t *n_ids, n_inputs;
} embed_state;

static void ids_free(embed_state *st)
{
    for (size_t i = 0; st->ids && i < st->n_inputs; i++)
        ia__free(st->ids[i]);
    ia__free(st->ids);
    ia__free(st->n_ids);
    st->ids = NULL;
    st->n_ids = NULL;
    st->n_inputs = 0;
}

static void state_free(embed_state *st)
{
    if (!st)
        return;
    ids_free(st);
    ia__srv_input_req_free(&st->in);
    ia__free(st->job.out);
    ia__free(st);
}

static bool is_gen_route(int route)
{
    return route == SRV_ROUTE_CHAT || route == SRV_ROUTE_COMPLETIONS;
}

static bool is_rank_route(int route)
{
    return route == SRV_ROUTE_RERANK || route == SRV_ROUTE_V1_RERANK || route == SRV_ROUTE_PREDICT;
}

void ia__srv_route_cleanup(srv_request *r)
{
    if (is_gen_route(ia__srv_req_route(r))) {
        ia__srv_gen_route_cleanup(r);
        return;
    }
    if (is_rank_route(ia__srv_req_route(r))) {
        ia__srv_rank_route_cleanup(r);
        return;
    }
    void **state = ia__srv_req_state(r);
    state_free(*state);
    *state = NULL;
}

static void fail(srv_request *r, srv_api api, int status, const char *param, const char *msg)
{
    srv_error e;
    ia__srv_error_set(&e, status, param, "%s", msg);
    ia__srv_respond_error(r, api, &e);
}

static bool need_model(ia_server *s, srv_request *r, srv_api api)
{
    if (ia__srv_model_count(s) > 0)
        return true;
    fail(r, api, 503, "", "no model is loaded yet");
    return false;
}

/* An input given as token ids: checked against the vocabulary and the
 * model's limit (over it: 413, or cut when truncating), used as it is. */
static int take_ids(const ia_tokenizer *tok, size_t limit, embed_state *st, size_t i, bool refuse_long,
                    srv_error *err)
{
    const int32_t *ids = st->in.ids[i];
    size_t n = st->in.n_ids[i];
    const size_t vocab = ia_tokenizer_vocab_size(tok);
    char where[48];
    snprintf(where, sizeof where, st->in.single ? "inputs" : "inputs[%zu]", i);
    for (size_t k = 0; k < n; k++)
        if ((size_t)ids[k] >= vocab) {
            ia__srv_error_set(err, 422, where, "%s[%zu]: token id %d is outside the vocabulary (%zu tokens)", where,
                              k, (int)ids[k], vocab);
            return 422;
        }
    if (n > limit && refuse_long) {
        ia__srv_error_set(err, 413, where, "%s has %zu tokens, more than the model's limit %zu; send \"truncate\": "
                          "true to cut it", where, n, limit);
        return 413;
    }
    n = n < limit ? n : limit;
    if (!(st->ids[i] = ia__malloc((n ? n : 1) * sizeof **st->ids))) {
        ia__srv_error_set(err, 500, "", "out of memory");
        return 500;
    }
    memcpy(st->ids[i], ids, n * sizeof *ids);
    st->n_ids[i] = n;
    st->tokens += n;
    return 0;
}

/* Tokenize each input once, under the model's limit: the ids count the
 * tokens for batching and usage, and the engine embeds them as they are.
 * TEI without `truncate` refuses over-long inputs (413), as TEI does. */
/* (prompt: text put in front of every input, or NULL) */
static int tokenize_inputs(const srv_model *m, embed_state *st, const char *prompt, bool refuse_long,
                           srv_error *err)
{
    const ia_tokenizer *tok = ia_model_tokenizer(m->model);
    const size_t limit = m->info.max_seq_length, n = st->in.n, pl = prompt ? strlen(prompt) : 0;
    st->ids = ia__calloc(n ? n : 1, sizeof *st->ids);
    st->n_ids = ia__calloc(n ? n : 1, sizeof *st->n_ids);
    st->n_inputs = st->ids ? n : 0;
    if (!st->ids || !st->n_ids) {
        ia__srv_error_set(err, 500, "", "out of memory");
        return 500;
    }
    st->tokens = 0;
    for (size_t i = 0; i < n; i++) {
        if (st->in.ids && st->in.ids[i]) {
            int code = take_ids(tok, limit, st, i, refuse_long, err);
            if (code)
                return code;
            continue;
        }
        ia_encoding_stats es = {0};
        size_t got = 0;
        char *text = pl ? ia__malloc(pl + st->in.lens[i] + 1) : NULL;
        if (text) {
            memcpy(text, prompt, pl);
            memcpy(text + pl, st->in.texts[i], st->in.lens[i]);
        }
        ia_status rc = (st->ids[i] = ia__malloc(limit * sizeof **st->ids)) && (text || !pl)
                     ? ia_tokenizer_encode_pair(tok, text ? text : st->in.texts[i], pl + st->in.lens[i], NULL, 0,
                                                limit, st->in.truncate_left, st->ids[i], NULL, limit, &got, &es)
                     : ia__error(IA_ERR_NOMEM, "out of memory");
        ia__free(text);
        if (rc) {
            ia__srv_error_set(err, rc == IA_ERR_NOMEM ? 500 : 422, st->api == SRV_OPENAI ? "input" : "inputs",
                              "tokenizing input %zu: %s", i, ia_errmsg());
            if (rc != IA_ERR_NOMEM)
                err->tei_type = "Tokenizer";
            return err->status;
        }
        if (es.n_truncated && refuse_long) {
            char where[40];
            snprintf(where, sizeof where, st->in.single ? "inputs" : "inputs[%zu]", i);
            ia__srv_error_set(err, 413, where,
                              "%s has more than %zu tokens, the model's limit; send "
                              "\"truncate\": true to cut it", where, limit);
            return 413;
        }
        st->n_ids[i] = got;
        st->tokens += got;
    }
    return 0;
}

static void run_embed(ia_server *s, srv_request *r, srv_api api, embed_kind kind)
{
    const bool similarity = kind == EMBED_SIMILARITY;
    if (!need_model(s, r, api))
        return;
    embed_state *st = ia__calloc(1, sizeof *st);
    if (!st) {
        fail(r, api, 500, "", "out of memory");
        return;
    }
    *ia__srv_req_state(r) = st;
    st->api = api;
    st->kind = kind;
    size_t len;
    const char *body = ia__srv_req_body(r, &len);
    srv_error err;
    int code = ia__srv_parse_request(api == SRV_OPENAI ? SRV_BODY_EMBEDDINGS
                                     : similarity    ? SRV_BODY_SIMILARITY
                                                     : SRV_BODY_EMBED,
                                     body, len, s->opt.max_client_batch_size, &st->in, &err);
    if (code) {
        ia__srv_respond_error(r, api, &err);
        return;
    }
    st->model = ia__srv_model_find_kind(s, api == SRV_OPENAI ? st->in.model : NULL, false, &err);
    if (!st->model) {
        ia__srv_respond_error(r, api, &err);
        return;
    }
    const srv_model *m = st->model;
    if (kind != EMBED_ALL && (kind == EMBED_SPARSE) != !strcmp(m->info.pooling, "splade")) {
        ia__srv_error_set(&err, 400, "", kind == EMBED_SPARSE
                          ? "/embed_sparse needs a model served with SPLADE pooling (serve --pooling splade)"
                          : "this model has SPLADE pooling: use /embed_sparse");
        ia__srv_respond_error(r, api, &err);
        return;
    }
    if (st->in.dimensions > m->info.dim) {
        ia__srv_error_set(&err, 422, "dimensions", "dimensions %d is more than the model's %d",
                          st->in.dimensions, m->info.dim);
        ia__srv_respond_error(r, api, &err);
        return;
    }
    const char *prompt = NULL;
    if (ia_model_prompt(m->model, st->in.prompt_name, &prompt)) {
        ia__srv_error_set(&err, 422, "prompt_name", "%s", ia_errmsg());
        ia__srv_respond_error(r, api, &err);
        return;
    }
    if ((code = tokenize_inputs(m, st, prompt, api == SRV_TEI && !st->in.truncate, &err))) {
        ia__srv_respond_error(r, api, &err);
        return;
    }
    srv_job *job = &st->job;
    job->model = m->model;
    job->model_index = (int)(m - s->models);
    job->ids = (const int32_t *const *)st->ids;
    job->n_ids = st->n_ids;
    job->n = st->in.n;
    job->tokens = st->tokens;
    job->normalize = similarity || (api == SRV_OPENAI    ? m->info.normalize
                                    : kind == EMBED_SPARSE ? false
                                                           : st->in.normalize);
    job->states = kind == EMBED_ALL;
    if (api == SRV_OPENAI && (st->in.encoding == SRV_ENC_INT8 || st->in.encoding == SRV_ENC_UINT8))
        job->calib = (srv_calib *)&m->calib; /* the ranges, computed once before this job runs */
    job->dim = job->states ? m->info.hidden_size : m->info.dim;
    job->out = ia__malloc((job->states ? st->tokens : st->in.n) * (size_t)job->dim * sizeof(float) + 1);
    if (!job->out) {
        fail(r, api, 500, "", "out of memory for the embeddings");
        return;
    }
    if (!ia__srv_submit(s, r, job)) {
        if (!ia_server_healthy(s) && ia__srv_model_count(s) > 0)
            fail(r, api, 503, "", "the server is shutting down");
        else
            fail(r, api, 429, "", "the server is overloaded (--max-concurrent-requests); retry later");
    }
}

/* A vector as its sign bits (see srv_encoding): ceil(d / 8) bytes. */
static void write_bits(sbuf *b, const float *v, int d, bool is_signed)
{
    ia__sbuf_puts(b, "[");
    for (int j = 0; j < d; j += 8) {
        int byte = 0;
        for (int k = 0; k < 8; k++)
            byte |= (j + k < d && v[j + k] > 0) << (7 - k);
        ia__sbuf_printf(b, "%s%d", j ? "," : "", is_signed ? byte - 128 : byte);
    }
    ia__sbuf_puts(b, "]");
}

/* A vector as one integer a dimension (see srv_encoding). */
static void write_bytes(sbuf *b, const float *v, int d, const float *lo, const float *step, bool is_signed,
                        int *q)
{
    ia__srv_quantize(v, d, lo, step, is_signed, q);
    ia__sbuf_puts(b, "[");
    for (int j = 0; j < d; j++)
        ia__sbuf_printf(b, "%s%d", j ? "," : "", q[j]);
    ia__sbuf_puts(b, "]");
}

static void write_openai(sbuf *b, embed_state *st)
{
    const srv_model *m = st->model;
    const int dim = m->info.dim, d = st->in.dimensions ? st->in.dimensions : dim;
    const srv_encoding enc = st->in.encoding;
    const bool bytes = enc == SRV_ENC_INT8 || enc == SRV_ENC_UINT8;
    /* tmp: the shortened vector; with bytes also the ranges and the buckets */
    const size_t n_tmp = (st->in.dimensions ? (size_t)d : 0) + (bytes ? 3 * (size_t)d + 1 : 0);
    float *tmp = n_tmp ? ia__malloc(n_tmp * sizeof *tmp) : NULL;
    int *q = bytes ? ia__malloc((size_t)d * sizeof *q) : NULL;
    if ((n_tmp && !tmp) || (bytes && !q)) {
        ia__free(tmp);
        ia__free(q);
        b->oom = true;
        return;
    }
    float *shortv = st->in.dimensions ? tmp : NULL, *lo = NULL, *step = NULL;
    if (bytes) { /* the job ran after the calibration, which it carried */
        lo = tmp + (shortv ? d : 0);
        step = lo + d;
        ia__srv_calib_ranges(&m->calib, d, st->in.dimensions != 0, lo, step, step + d);
    }
    ia__sbuf_puts(b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < st->in.n; i++) {
        const float *v = st->job.out + i * (size_t)dim;
        if (shortv) { /* shortened embeddings are renormalized, as OpenAI's are */
            ia__srv_shorten(v, d, shortv);
            v = shortv;
        }
        ia__sbuf_printf(b, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i ? "," : "", i);
        if (enc == SRV_ENC_BASE64)
            ia__sbuf_base64_floats(b, v, (size_t)d);
        else if (bytes)
            write_bytes(b, v, d, lo, step, enc == SRV_ENC_INT8, q);
        else if (enc != SRV_ENC_FLOAT)
            write_bits(b, v, d, enc == SRV_ENC_BINARY);
        else
            ia__sbuf_json_floats(b, v, (size_t)d);
        ia__sbuf_puts(b, "}");
    }
    ia__sbuf_puts(b, "],\"model\":");
    ia__sbuf_json_str(b, m->name, strlen(m->name));
    ia__sbuf_printf(b, ",\"usage\":{\"prompt_tokens\":%zu,\"total_tokens\":%zu}}", st->tokens,
                    st->tokens);
    ia__free(tmp);
    ia__free(q);
}

static void write_tei(sbuf *b, embed_state *st)
{
    const int dim = st->model->info.dim;
    ia__sbuf_puts(b, "[");
    for (size_t i = 0; i < st->in.n; i++) {
        if (i)
            ia__sbuf_puts(b, ",");
        ia__sbuf_json_floats(b, st->job.out + i * (size_t)dim, (size_t)dim);
    }
    ia__sbuf_puts(b, "]");
}

/* /similarity: the cosine of the source's vector with each sentence's
 * (both unit vectors), in the sentences' order. */
static void write_similarity(sbuf *b, embed_state *st)
{
    const int dim = st->model->info.dim;
    const size_t n = st->in.n - 1;
    float *cos = ia__malloc(n * sizeof *cos);
    if (!cos) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const float *src = st->job.out, *v = st->job.out + (i + 1) * (size_t)dim;
        double dot = 0;
        for (int j = 0; j < dim; j++)
            dot += (double)src[j] * v[j];
        cos[i] = (float)dot;
    }
    ia__sbuf_json_floats(b, cos, n);
    ia__free(cos);
}

/* /embed_all: [[[float, ...] per token] per input]. */
static void write_all(sbuf *b, embed_state *st)
{
    const size_t H = (size_t)st->job.dim;
    const float *row = st->job.out;
    ia__sbuf_puts(b, "[");
    for (size_t i = 0; i < st->in.n && !b->oom; i++) {
        ia__sbuf_puts(b, i ? ",[" : "[");
        for (size_t t = 0; t < st->n_ids[i]; t++, row += H) {
            ia__sbuf_puts(b, t ? "," : "");
            ia__sbuf_json_floats(b, row, H);
        }
        ia__sbuf_puts(b, "]");
    }
    ia__sbuf_puts(b, "]");
}

/* /embed_sparse: [[{"index", "value"}, ...], ...], the non-zero entries. */
static void write_sparse(sbuf *b, embed_state *st)
{
    const int dim = st->model->info.dim;
    ia__sbuf_puts(b, "[");
    for (size_t i = 0; i < st->in.n && !b->oom; i++) {
        const float *v = st->job.out + i * (size_t)dim;
        ia__sbuf_puts(b, i ? ",[" : "[");
        const char *sep = "";
        for (int k = 0; k < dim; k++)
            if (v[k] != 0.0f) {
                ia__sbuf_printf(b, "%s{\"index\":%d,\"value\":%.9g}", sep, k, v[k]);
                sep = ",";
            }
        ia__sbuf_puts(b, "]");
    }
    ia__sbuf_puts(b, "]");
}

void ia__srv_route_job_done(ia_server *s, srv_request *r)
{
    if (is_gen_route(ia__srv_req_route(r))) {
        ia__srv_gen_route_done(s, r);
        return;
    }
    if (is_rank_route(ia__srv_req_route(r))) {
        ia__srv_rank_route_done(s, r);
        return;
    }
    embed_state *st = *ia__srv_req_state(r);
    srv_job *job = &st->job;
    if (job->status) {
        srv_error e;
        if (job->http_status) /* serve --cluster: the cluster's answer */
            ia__srv_error_set(&e, job->http_status, "", "%s", job->errmsg);
        else
            ia__srv_error_set(&e, 500, "", "inference failed: %s", job->errmsg);
        ia__srv_respond_error(r, st->api, &e);
        return;
    }
    sbuf b = {0};
    if (st->api == SRV_OPENAI)
        write_openai(&b, st);
    else if (st->kind == EMBED_SIMILARITY)
        write_similarity(&b, st);
    else if (st->kind == EMBED_SPARSE)
        write_sparse(&b, st);
    else if (st->kind == EMBED_ALL)
        write_all(&b, st);
    else
        write_tei(&b, st);
    size_t len = 0;
    char *body = ia__sbuf_take(&b, &len);
    if (!body) {
        fail(r, st->api, 500, "", "out of memory writing the response");
        return;
    }
    char tokens[24], queue_ms[24], infer_ms[24];
    snprintf(tokens, sizeof tokens, "%zu", st->tokens);
    snprintf(queue_ms, sizeof queue_ms, "%.3f", (job->t_started - job->t_queued) * 1e3);
    snprintf(infer_ms, sizeof infer_ms, "%.3f", (job->t_done - job->t_started) * 1e3);
    const char *hdrs[16] = {"X-Compute-Tokens", tokens, "X-Queue-Time", queue_ms, "X-Inference-Time", infer_ms};
    hdrs[ia__srv_provenance_headers(job, hdrs, 6)] = NULL;
    ia__srv_respond(r, 200, "application/json", body, len, st->model, hdrs);
    ia__srv_input_req_free(&st->in);
    ids_free(st);
}

/* ---- /tokenize ------------------------------------------------------------------ */

static bool in_set(const int32_t *set, size_t n, int32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == id)
            return true;
    return false;
}

static void run_tokenize(ia_server *s, srv_request *r)
{
    if (!need_model(s, r, SRV_TEI) || ia__srv_gen_tokenize(s, r))
        return;
    srv_error e;
    const srv_model *m = ia__srv_model_find_kind(s, NULL, false, &e);
    if (!m) {
        ia__srv_respond_error(r, SRV_TEI, &e);
        return;
    }
    const ia_tokenizer *tok = ia_model_tokenizer(m->model);
    srv_input_req in;
    srv_error err;
    size_t len;
    const char *body = ia__srv_req_body(r, &len);
    if (ia__srv_parse_request(SRV_BODY_TOKENIZE, body, len, s->opt.max_client_batch_size, &in, &err)) {
        ia__srv_respond_error(r, SRV_TEI, &err);
        return;
    }
    /* The template's special tokens: what an empty text encodes to. */
    int32_t specials[8];
    size_t n_specials = 0;
    if (ia_tokenizer_encode(tok, "", 0, 8, specials, 8, &n_specials, NULL) || n_specials > 8)
        n_specials = 0;
    sbuf b = {0};
    int32_t *ids = NULL;
    size_t cap = 0;
    ia__sbuf_puts(&b, "[");
    for (size_t i = 0; i < in.n && !b.oom; i++) {
        size_t want = in.lens[i] + 8, n = 0; /* a byte makes at most one token */
        if (want > cap) {
            int32_t *p = ia__realloc(ids, want * sizeof *ids);
            if (!p) {
                b.oom = true;
                break;
            }
            ids = p;
            cap = want;
        }
        if (ia_tokenizer_encode(tok, in.texts[i], in.lens[i], want, ids, cap, &n, NULL) || n > cap) {
            ia__srv_error_set(&err, 422, "inputs", "tokenizing input %zu: %s", i, ia_errmsg());
            err.tei_type = "Tokenizer";
            ia__sbuf_free(&b);
            ia__free(ids);
            ia__srv_input_req_free(&in);
            ia__srv_respond_error(r, SRV_TEI, &err);
            return;
        }
        size_t lo = 0, hi = n;
        if (!in.add_special_tokens) {
            while (lo < hi && in_set(specials, n_specials, ids[lo]))
                lo++;
            while (hi > lo && in_set(specials, n_specials, ids[hi - 1]))
                hi--;
        }
        ia__sbuf_puts(&b, i ? ",[" : "[");
        for (size_t k = lo; k < hi; k++) {
            const char *t = ia_tokenizer_id_token(tok, ids[k]);
            ia__sbuf_printf(&b, "%s{\"id\":%d,\"text\":", k > lo ? "," : "", (int)ids[k]);
            ia__sbuf_json_str(&b, t ? t : "", t ? strlen(t) : 0);
            ia__sbuf_printf(&b, ",\"special\":%s,\"start\":null,\"stop\":null}",
                            in_set(specials, n_specials, ids[k]) ? "true" : "false");
        }
        ia__sbuf_puts(&b, "]");
    }
    ia__sbuf_puts(&b, "]");
    ia__free(ids);
    ia__srv_input_req_free(&in);
    size_t blen = 0;
    char *out = ia__sbuf_take(&b, &blen);
    if (!out)
        fail(r, SRV_TEI, 500, "", "out of memory");
    else
        ia__srv_respond(r, 200, "application/json", out, blen, m, NULL);
}

/* ---- GET routes ------------------------------------------------------------------- */

static void respond_sbuf(srv_request *r, int status, const char *type, sbuf *b, srv_api api)
{
    size_t len = 0;
    char *body = ia__sbuf_take(b, &len);
    if (!body)
        fail(r, api, 500, "", "out of memory");
    else
        ia__srv_respond(r, status, type, body, len, NULL, NULL);
}

/* TEI /decode: "ids" (one sequence of token ids, or several) and
 * "skip_special_tokens" (default true) to texts, as tokenizers decodes. */
static void run_decode(ia_server *s, srv_request *r)
{
    srv_error err;
    const srv_model *m = ia__srv_model_find_kind(s, NULL, false, &err);
    size_t len;
    const char *body = m ? ia__srv_req_body(r, &len) : NULL;
    cJSON *root = m ? cJSON_ParseWithLength(body ? body : "", len) : NULL;
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(root, "ids");
    const cJSON *skip = cJSON_GetObjectItemCaseSensitive(root, "skip_special_tokens");
    const bool nested = cJSON_IsArray(ids) && cJSON_IsArray(ids->child);
    if (m && !cJSON_IsObject(root))
        ia__srv_error_set(&err, 400, "", "the body is not a JSON object"), m = NULL;
    else if (m && (!cJSON_IsArray(ids) || (skip && !cJSON_IsBool(skip) && !cJSON_IsNull(skip))))
        ia__srv_error_set(&err, 422, "ids", "ids must be an array of token ids (or of such arrays), "
                          "skip_special_tokens a boolean"), m = NULL;
    const ia_tokenizer *tok = m ? ia_model_tokenizer(m->model) : NULL;
    sbuf b = {0};
    ia__sbuf_puts(&b, "[");
    const cJSON *seq = nested ? ids->child : ids;
    for (size_t k = 0; m && seq; k++, seq = nested ? seq->next : NULL) {
        const int n = cJSON_IsArray(seq) ? cJSON_GetArraySize(seq) : -1;
        int32_t *v = n >= 0 ? ia__malloc(((size_t)n + 1) * sizeof *v) : NULL;
        int i = 0;
        const cJSON *e;
        if (v)
            cJSON_ArrayForEach(e, seq) {
                if (!cJSON_IsNumber(e) || e->valuedouble != (int32_t)e->valuedouble || e->valuedouble < 0)
                    break;
                v[i++] = (int32_t)e->valuedouble;
            }
        char *text = NULL;
        if (!v || i != n)
            ia__srv_error_set(&err, 422, "ids", "ids%s must hold token ids (integers >= 0)", nested ? "[k]" : "");
        else if (ia__tokenizer_decode(tok, v, (size_t)n, !skip || cJSON_IsTrue(skip) || cJSON_IsNull(skip), &text))
            ia__srv_error_set(&err, 422, "ids", "%s", ia_errmsg());
        else {
            ia__sbuf_puts(&b, k ? "," : "");
            ia__sbuf_json_str(&b, text, strlen(text));
        }
        m = text ? m : NULL;
        ia__free(text);
        ia__free(v);
    }
    cJSON_Delete(root);
    if (!m) {
        ia__sbuf_free(&b);
        ia__srv_respond_error(r, SRV_TEI, &err);
        return;
    }
    ia__sbuf_puts(&b, "]");
    respond_sbuf(r, 200, "application/json", &b, SRV_TEI);
}

/* What /v1/models says a model does. */
static const char *model_task(const srv_model *m)
{
    const int labels = m->model ? ia_model_num_labels(m->model) : 0;
    return labels == 1 ? "rerank" : labels ? "classification" : "embeddings";
}

static void run_models(ia_server *s, srv_request *r)
{
    sbuf b = {0};
    ia__sbuf_puts(&b, "{\"object\":\"list\",\"data\":[");
    int n = ia__srv_model_count(s);
    for (int i = 0; i < n; i++) {
        const srv_model *m = &s->models[i];
        ia__sbuf_puts(&b, i ? ",{\"id\":" : "{\"id\":");
        ia__sbuf_json_str(&b, m->name, strlen(m->name));
        ia__sbuf_printf(&b, ",\"object\":\"model\",\"created\":%.0f,\"owned_by\":\"ipfs-accelerate\","
                            "\"task\":\"%s\",\"max_model_len\":%zu}",
                        m->created, m->lm ? "text-generation" : model_task(m), m->info.max_seq_length);
    }
    ia__sbuf_puts(&b, "]}");
    respond_sbuf(r, 200, "application/json", &b, SRV_OPENAI);
}

static const char *tei_dtype(const char *precision)
{
    return !strcmp(precision, "fp32") ? "float32"
         : !strcmp(precision, "fp16") ? "float16"
         : !strcmp(precision, "bf16") ? "bfloat16" : precision;
}

static void json_kv_str(sbuf *b, const char *key, const char *v)
{
    ia__sbuf_printf(b, "\"%s\":", key);
    ia__sbuf_json_str(b, v ? v : "", v ? strlen(v) : 0);
}

static void write_model_json(sbuf *b, const srv_model *m)
{
    ia__sbuf_puts(b, "{");
    json_kv_str(b, "name", m->name);
    ia__sbuf_puts(b, ",");
    json_kv_str(b, "path", m->info.path);
    ia__sbuf_puts(b, ",");
    json_kv_str(b, "architecture", m->info.architecture);
    ia__sbuf_printf(b, ",\"dim\":%d,\"max_input_length\":%zu,", m->info.dim, m->info.max_seq_length);
    json_kv_str(b, "pooling", m->info.pooling);
    ia__sbuf_printf(b, ",\"normalize\":%s,", m->info.normalize ? "true" : "false");
    json_kv_str(b, "weights_dtype", m->info.weights_dtype);
    ia__sbuf_puts(b, ",");
    json_kv_str(b, "backend", m->info.backend);
    ia__sbuf_puts(b, ",");
    json_kv_str(b, "precision", m->info.precision);
    ia__sbuf_puts(b, "}");
}

static void run_info(ia_server *s, srv_request *r)
{
    if (!need_model(s, r, SRV_TEI))
        return;
    srv_error e;
    const srv_model *m = ia__srv_model_find_kind(s, NULL, false, &e);
    if (!m) /* language models only */
        m = ia__srv_model_find(s, NULL);
    const ia_server_options *o = &s->opt;
    sbuf b = {0};
    ia__sbuf_puts(&b, "{");
    json_kv_str(&b, "model_id", m->name);
    ia__sbuf_puts(&b, ",\"model_sha\":null,");
    json_kv_str(&b, "model_dtype", tei_dtype(m->info.precision));
    if (m->lm) {
        ia__sbuf_puts(&b, ",\"model_type\":{\"text_generation\":{}}");
    } else {
        ia__sbuf_puts(&b, ",\"model_type\":{\"embedding\":{\"pooling\":");
        ia__sbuf_json_str(&b, m->info.pooling, strlen(m->info.pooling));
        ia__sbuf_puts(&b, "}}");
    }
    ia__sbuf_printf(&b, ",\"max_concurrent_requests\":%zu,\"max_input_length\":%zu,"
                        "\"max_batch_tokens\":%zu,\"max_batch_requests\":null,"
                        "\"max_client_batch_size\":%zu,\"auto_truncate\":false,"
                        "\"tokenization_workers\":%u,",
                    o->max_concurrent_requests, m->info.max_seq_length, o->max_batch_tokens,
                    o->max_client_batch_size, o->http_threads);
    json_kv_str(&b, "version", ia_version());
    ia__sbuf_puts(&b, ",\"sha\":null,\"docker_label\":null,");
    ia__sbuf_printf(&b, "\"dim\":%d,", m->info.dim);
    json_kv_str(&b, "backend", m->info.backend);
    ia__sbuf_puts(&b, ",");
    json_kv_str(&b, "precision", m->info.precision);
    ia__sbuf_printf(&b, ",\"max_body_bytes\":%zu,\"models\":[", o->max_body_bytes);
    int n = ia__srv_model_count(s);
    for (int i = 0; i < n; i++) {
        if (i)
            ia__sbuf_puts(&b, ",");
        write_model_json(&b, &s->models[i]);
    }
    ia__sbuf_puts(&b, "]}");
    respond_sbuf(r, 200, "application/json", &b, SRV_TEI);
}

static void run_health(ia_server *s, srv_request *r)
{
    sbuf b = {0};
    bool ok = ia_server_healthy(s);
    if (ok)
        ia__sbuf_puts(&b, "{\"status\":\"ok\"}");
    else
        ia__sbuf_printf(&b, "{\"status\":\"unavailable\",\"reason\":\"%s\"}",
                        atomic_load(&s->draining) ? "shutting down"
                        : atomic_load(&s->loading) ? "loading models"
                        : ia__srv_model_count(s) == 0 ? "no model loaded yet" : "a test inference failed");
    respond_sbuf(r, ok ? 200 : 503, "application/json", &b, SRV_TEI);
}

/* Prometheus label values: backslash, quote and newline escaped. */
static void label(sbuf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            ia__sbuf_printf(b, "\\%c", *v);
        else if (*v == '\n')
            ia__sbuf_puts(b, "\\n");
        else
            ia__sbuf_put(b, v, 1);
    }
}

static void histogram(sbuf *b, const char *name, const char *labels, const double *bounds, int n,
                      const unsigned long *counts, double sum)
{
    unsigned long cum = 0;
    for (int i = 0; i < n; i++) {
        cum += counts[i];
        ia__sbuf_printf(b, "%s_bucket{%s%sle=\"%g\"} %lu\n", name, labels, labels[0] ? "," : "",
                        bounds[i], cum);
    }
    cum += counts[n];
    ia__sbuf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %lu\n", name, labels, labels[0] ? "," : "", cum);
    ia__sbuf_printf(b, "%s_sum%s%s%s %.6f\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
                    sum);
    ia__sbuf_printf(b, "%s_count%s%s%s %lu\n", name, labels[0] ? "{" : "", labels,
                    labels[0] ? "}" : "", cum);
}

/* Per language model: its engine's counters. */
static void gen_metrics(ia_server *s, sbuf *b, const char *p)
{
    static const struct {
        const char *name, *type, *help;
    } mt[] = {
        {"generation_requests_total", "counter", "Generation requests accepted."},
        {"generation_waiting", "gauge", "Choices waiting for a running slot."},
        {"generation_running", "gauge", "Choices being generated (the running batch)."},
        {"generation_prompt_tokens_total", "counter", "Prompt tokens of finished choices."},
        {"generation_cached_tokens_total", "counter", "Of them, taken from the prefix cache."},
        {"generation_prefix_cache_hits_total", "counter", "Choices that found part of their prompt cached."},
        {"generation_tokens_total", "counter", "Tokens generated."},
        {"generation_tokens_per_second", "gauge", "Tokens generated per second over the last 10 s."},
        {"generation_time_to_first_token_seconds_sum", "counter", "Time to first token, summed over choices."},
        {"generation_time_to_first_token_seconds_count", "counter", "Choices that generated a token."},
        {"generation_kv_cache_bytes", "gauge", "KV cache held by running and kept sessions."},
        {"generation_kv_cache_sessions", "gauge", "Sessions holding a KV cache."},
        {"generation_steps_total", "counter", "Batched forwards run."},
    };
    const int n = ia__srv_model_count(s);
    for (size_t k = 0; k < IA_ARRAY_LEN(mt); k++) {
        bool head = false;
        for (int i = 0; i < n; i++) {
            const srv_model *m = &s->models[i];
            if (!m->gen)
                continue;
            if (!head) {
                ia__sbuf_printf(b, "# HELP %s%s %s\n# TYPE %s%s %s\n", p, mt[k].name, mt[k].help, p, mt[k].name,
                                mt[k].type);
                head = true;
            }
            srv_gen_stats st;
            ia__srv_gen_stats(m->gen, &st);
            const double v[] = {(double)st.requests,       (double)st.waiting,       (double)st.running,
                                (double)st.prompt_tokens,  (double)st.cached_tokens, (double)st.prefix_hits,
                                (double)st.generated_tokens, st.gen_tps,             st.ttft_sum,
                                (double)st.ttft_count,     (double)st.kv_bytes,      (double)st.kv_sessions,
                                (double)st.steps};
            ia__sbuf_printf(b, "%s%s{model=\"", p, mt[k].name);
            label(b, m->name);
            ia__sbuf_printf(b, "\"} %.6g\n", v[k]);
        }
    }
}

static void run_metrics(ia_server *s, srv_request *r)
{
    srv_metrics *mt = &s->metrics;
    size_t depth = 0, in_system = 0;
    ia__srv_queue_stats(&s->queue, &depth, &in_system);
    srv_metrics *c = ia__malloc(sizeof *c); /* a consistent copy, rendered unlocked */
    if (!c) {
        fail(r, SRV_TEI, 500, "", "out of memory");
        return;
    }
    pthread_mutex_lock(&mt->lock);
    memcpy(c, mt, sizeof *c);
    pthread_mutex_unlock(&mt->lock);
    int n_routes = SRV_ROUTE_MOUNT0 + s->n_mounts;
    sbuf b = {0};
    const char *p = "ipfs_accelerate_";
    ia__sbuf_printf(&b, "# HELP %shttp_requests_total HTTP requests by route and status code.\n"
                        "# TYPE %shttp_requests_total counter\n", p, p);
    for (int i = 0; i < n_routes; i++)
        for (int st = 100; st < 600; st++)
            if (c->requests[i][st]) {
                ia__sbuf_printf(&b, "%shttp_requests_total{route=\"", p);
                label(&b, c->route_name[i]);
                ia__sbuf_printf(&b, "\",status=\"%d\"} %lu\n", st, c->requests[i][st]);
            }
    ia__sbuf_printf(&b, "# HELP %shttp_request_duration_seconds Time from request headers to the "
                        "end of the response, by route.\n"
                        "# TYPE %shttp_request_duration_seconds histogram\n", p, p);
    for (int i = 0; i < n_routes; i++) {
        if (i == SRV_ROUTE_OTHER && !c->lat_count[i])
            continue;
        sbuf lb = {0};
        ia__sbuf_puts(&lb, "route=\"");
        label(&lb, c->route_name[i]);
        ia__sbuf_puts(&lb, "\"");
        if (!lb.oom) {
            char name[64];
            snprintf(name, sizeof name, "%shttp_request_duration_seconds", p);
            histogram(&b, name, lb.p, ia__srv_lat_bounds, SRV_N_LAT_BUCKETS, c->lat_bucket[i],
                      c->lat_sum[i]);
        }
        ia__sbuf_free(&lb);
    }
    ia__sbuf_printf(&b, "# HELP %squeue_depth Embedding requests waiting for the engine.\n"
                        "# TYPE %squeue_depth gauge\n%squeue_depth %zu\n", p, p, p, depth);
    ia__sbuf_printf(&b, "# HELP %srequests_in_engine Embedding requests waiting or running "
                        "(limit: max_concurrent_requests).\n"
                        "# TYPE %srequests_in_engine gauge\n%srequests_in_engine %zu\n", p, p, p, in_system);
    ia__sbuf_printf(&b, "# HELP %shttp_requests_active Requests being received, computed or sent.\n"
                        "# TYPE %shttp_requests_active gauge\n%shttp_requests_active %ld\n", p, p, p,
                    atomic_load(&s->active));
    ia__sbuf_printf(&b, "# HELP %squeue_wait_seconds Time requests waited in the queue.\n"
                        "# TYPE %squeue_wait_seconds summary\n%squeue_wait_seconds_sum %.6f\n"
                        "%squeue_wait_seconds_count %lu\n", p, p, p, c->queue_wait_sum, p,
                    c->queue_wait_count);
    char name[64];
    ia__sbuf_printf(&b, "# HELP %sbatch_size Texts per engine call (coalesced requests).\n"
                        "# TYPE %sbatch_size histogram\n", p, p);
    snprintf(name, sizeof name, "%sbatch_size", p);
    histogram(&b, name, "", ia__srv_batch_bounds, SRV_N_BATCH_BUCKETS, c->batch_texts, c->batch_texts_sum);
    ia__sbuf_printf(&b, "# HELP %sbatch_tokens Tokens per engine call.\n"
                        "# TYPE %sbatch_tokens histogram\n", p, p);
    snprintf(name, sizeof name, "%sbatch_tokens", p);
    histogram(&b, name, "", ia__srv_token_bounds, SRV_N_BATCH_BUCKETS, c->batch_tokens,
              c->batch_tokens_sum);
    long now = (long)time(NULL), window = 0;
    for (int i = 0; i < SRV_TPS_WINDOW; i++)
        if (c->tps_stamp[i] > now - SRV_TPS_WINDOW)
            window += c->tps_second[i];
    ia__sbuf_printf(&b,
                    "# HELP %sembedded_texts_total Texts embedded.\n# TYPE %sembedded_texts_total counter\n"
                    "%sembedded_texts_total %lu\n"
                    "# HELP %sembedded_tokens_total Tokens embedded.\n# TYPE %sembedded_tokens_total counter\n"
                    "%sembedded_tokens_total %lu\n"
                    "# HELP %sengine_seconds_total Time the engine spent embedding.\n"
                    "# TYPE %sengine_seconds_total counter\n%sengine_seconds_total %.6f\n"
                    "# HELP %sengine_failures_total Engine calls that failed.\n"
                    "# TYPE %sengine_failures_total counter\n%sengine_failures_total %lu\n"
                    "# HELP %stokens_per_second Tokens embedded per second over the last %d s.\n"
                    "# TYPE %stokens_per_second gauge\n%stokens_per_second %.1f\n",
                    p, p, p, c->texts_total, p, p, p, c->tokens_total, p, p, p, c->engine_seconds, p,
                    p, p, c->engine_failures, p, SRV_TPS_WINDOW, p, p, (double)window / SRV_TPS_WINDOW);
    ia__sbuf_printf(&b, "# HELP %smodel_info Served models and the backend and precision that "
                        "compute them.\n# TYPE %smodel_info gauge\n", p, p);
    int nm = ia__srv_model_count(s);
    for (int i = 0; i < nm; i++) {
        const srv_model *m = &s->models[i];
        ia__sbuf_printf(&b, "%smodel_info{model=\"", p);
        label(&b, m->name);
        ia__sbuf_puts(&b, "\",backend=\"");
        label(&b, m->info.backend);
        ia__sbuf_puts(&b, "\",precision=\"");
        label(&b, m->info.precision);
        ia__sbuf_printf(&b, "\",dim=\"%d\",max_input_length=\"%zu\"} 1\n", m->info.dim,
                        m->info.max_seq_length);
    }
    static const struct {
        const char *name, *type, *help;
    } pm[] = {
        {"model_texts_total", "counter", "Texts (or pairs) computed, by embedding or classification model."},
        {"model_tokens_total", "counter", "Tokens computed, by model."},
        {"model_batches_total", "counter", "Engine calls, by model."},
        {"model_engine_seconds_total", "counter", "Time the engine spent, by model."},
        {"model_engine_failures_total", "counter", "Engine calls that failed, by model."},
    };
    for (size_t k = 0; k < IA_ARRAY_LEN(pm); k++) {
        ia__sbuf_printf(&b, "# HELP %s%s %s\n# TYPE %s%s %s\n", p, pm[k].name, pm[k].help, p, pm[k].name,
                        pm[k].type);
        for (int i = 0; i < nm; i++) {
            const struct srv_model_counters *mc = &c->per_model[i];
            if (s->models[i].lm)
                continue;
            const double v[] = {(double)mc->texts, (double)mc->tokens, (double)mc->batches, mc->seconds,
                                (double)mc->failures};
            ia__sbuf_printf(&b, "%s%s{model=\"", p, pm[k].name);
            label(&b, s->models[i].name);
            ia__sbuf_printf(&b, "\"} %.6g\n", v[k]);
        }
    }
    if (s->dispatch) { /* serve --cluster */
        ia__sbuf_printf(&b, "# HELP %scluster_tasks_total Engine calls sent to the cluster's workers, by outcome "
                            "(computed: queued and computed, a cache miss; memory: the result was in this "
                            "process's cache; disk: in this machine's disk tier; stored: in the cluster's result "
                            "bucket; busy: the task queue was "
                            "full, 429; failed: dead letter, 502; timeout: 504; error: NATS unreachable, 503).\n"
                            "# TYPE %scluster_tasks_total counter\n", p, p);
        const char *outcome[] = {"computed", "memory", "stored", "busy", "failed", "timeout", "error", "disk"};
        const unsigned long v[] = {c->cluster_tasks,  c->cluster_cached,   c->cluster_stored, c->cluster_busy,
                                   c->cluster_failed, c->cluster_timeouts, c->cluster_errors, c->cluster_disk};
        for (size_t k = 0; k < IA_ARRAY_LEN(v); k++)
            ia__sbuf_printf(&b, "%scluster_tasks_total{outcome=\"%s\"} %lu\n", p, outcome[k], v[k]);
        ia__sbuf_printf(&b, "# HELP %scluster_seconds_total Time engine calls waited on the cluster.\n"
                            "# TYPE %scluster_seconds_total counter\n%scluster_seconds_total %.6f\n", p, p, p,
                        c->cluster_seconds);
        const double hits = (double)(c->cluster_cached + c->cluster_stored + c->cluster_disk);
        const double lookups = (double)c->cluster_tasks + hits;
        ia__sbuf_printf(&b, "# HELP %scache_hits_total Results found cached instead of computed, by tier.\n"
                            "# TYPE %scache_hits_total counter\n%scache_hits_total{tier=\"memory\"} %lu\n"
                            "%scache_hits_total{tier=\"disk\"} %lu\n"
                            "%scache_hits_total{tier=\"cluster\"} %lu\n"
                            "# HELP %scache_misses_total Results computed by a worker.\n"
                            "# TYPE %scache_misses_total counter\n%scache_misses_total %lu\n"
                            "# HELP %scache_hit_ratio Hits over lookups since the start.\n"
                            "# TYPE %scache_hit_ratio gauge\n%scache_hit_ratio %.4f\n",
                        p, p, p, c->cluster_cached, p, c->cluster_disk, p, c->cluster_stored, p, p, p,
                        c->cluster_tasks, p, p, p, lookups > 0 ? hits / lookups : 0.0);
    }
    gen_metrics(s, &b, p);
    ia__sbuf_printf(&b, "# HELP %shealthy 1 when /health answers 200.\n# TYPE %shealthy gauge\n"
                        "%shealthy %d\n", p, p, p, ia_server_healthy(s) ? 1 : 0);
    ia__sbuf_printf(&b, "# HELP %suptime_seconds Seconds since the server was made.\n"
                        "# TYPE %suptime_seconds gauge\n%suptime_seconds %.1f\n", p, p, p,
                    ia__now() - s->t_start);
    ia__free(c);
    respond_sbuf(r, 200, "text/plain; version=0.0.4; charset=utf-8", &b, SRV_TEI);
}

void ia__srv_route_run(ia_server *s, srv_request *r, int route)
{
    switch (route) {
    case SRV_ROUTE_EMBEDDINGS: run_embed(s, r, SRV_OPENAI, EMBED_DENSE); break;
    case SRV_ROUTE_EMBED: run_embed(s, r, SRV_TEI, EMBED_DENSE); break;
    case SRV_ROUTE_SIMILARITY: run_embed(s, r, SRV_TEI, EMBED_SIMILARITY); break;
    case SRV_ROUTE_EMBED_SPARSE: run_embed(s, r, SRV_TEI, EMBED_SPARSE); break;
    case SRV_ROUTE_EMBED_ALL: run_embed(s, r, SRV_TEI, EMBED_ALL); break;
    case SRV_ROUTE_DECODE: run_decode(s, r); break;
    case SRV_ROUTE_RERANK: ia__srv_rank_route_run(s, r, SRV_RANK_TEI); break;
    case SRV_ROUTE_V1_RERANK: ia__srv_rank_route_run(s, r, SRV_RANK_COHERE); break;
    case SRV_ROUTE_PREDICT: ia__srv_rank_route_run(s, r, SRV_PREDICT); break;
    case SRV_ROUTE_TOKENIZE: run_tokenize(s, r); break;
    case SRV_ROUTE_MODELS: run_models(s, r); break;
    case SRV_ROUTE_INFO: run_info(s, r); break;
    case SRV_ROUTE_HEALTH: run_health(s, r); break;
    case SRV_ROUTE_METRICS: run_metrics(s, r); break;
    default: ia__srv_gen_route_run(s, r, route); break;
    }
}
