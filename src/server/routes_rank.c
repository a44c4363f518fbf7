/*
 * The classification routes, served by *ForSequenceClassification models:
 *   POST /rerank     text-embeddings-inference reranking (query, texts)
 *   POST /v1/rerank  Cohere/Jina-style reranking (query, documents, top_n),
 *                    as vLLM and llama-server accept it
 *   POST /predict    text-embeddings-inference classification (texts and
 *                    text pairs, every label's score)
 * As for embeddings, inputs are tokenized here (pairs with their token
 * types) and queued; the batching engine runs the model's head
 * (ia__model_classify_ids) and this file writes the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server-impl.h"

typedef struct rank_state {
    srv_rank_kind kind;
    srv_rank_req in;
    const srv_model *model;
    srv_job job;
    int32_t **ids, **types; /* (n) each input's token ids and types */
    size_t *n_ids, n, tokens;
} rank_state;

static void state_free(rank_state *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n; i++) {
        ia__free(st->ids[i]);
        ia__free(st->types[i]);
    }
    ia__free(st->ids);
    ia__free(st->types);
    ia__free(st->n_ids);
    ia__srv_rank_req_free(&st->in);
    ia__free(st->job.out);
    ia__free(st);
}

void ia__srv_rank_route_cleanup(srv_request *r)
{
    void **state = ia__srv_req_state(r);
    state_free(*state);
    *state = NULL;
}

static srv_api api_of(srv_rank_kind k) { return k == SRV_RANK_COHERE ? SRV_OPENAI : SRV_TEI; }

/* The served model `name` (NULL: the first that fits) with a
 * classification head; a reranker's has one label. */
static const srv_model *find_classifier(ia_server *s, const char *name, bool reranker, srv_error *err)
{
    const char *what = reranker ? "a reranker (a *ForSequenceClassification model with one label)"
                                : "a classifier (a *ForSequenceClassification model)";
    if (name) {
        const srv_model *m = ia__srv_model_find_kind(s, name, false, err);
        const int L = m ? ia_model_num_labels(m->model) : 0;
        if (m && (reranker ? L == 1 : L > 0))
            return m;
        if (m)
            ia__srv_error_set(err, 400, "model", "model '%.100s' is not %s; see GET /v1/models", name, what);
        return NULL;
    }
    /* /predict prefers a classifier of several labels to a reranker */
    const int n = ia__srv_model_count(s);
    for (int pass = reranker; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            const srv_model *m = &s->models[i];
            const int L = m->model ? ia_model_num_labels(m->model) : 0;
            if (pass ? (reranker ? L == 1 : L > 0) : L > 1)
                return m;
        }
    ia__srv_error_set(err, n ? 400 : 503, "", n ? "no model served here is %s; see GET /v1/models"
                                                : "no model is loaded yet", what);
    return NULL;
}

/* Tokenize input i: (query, text) for reranking, (text, second) or the
 * text alone for /predict; over the model's limit, truncated
 * longest-first, or 413 unless the request allows truncation. */
static int tokenize(const srv_model *m, rank_state *st, size_t i, srv_error *err)
{
    const ia_tokenizer *tok = ia_model_tokenizer(m->model);
    const size_t limit = m->info.max_seq_length;
    const srv_rank_req *in = &st->in;
    const bool rerank = st->kind != SRV_PREDICT;
    const char *a = rerank ? in->query : in->texts[i], *b = rerank ? in->texts[i] : in->seconds[i];
    const size_t alen = rerank ? in->query_len : in->lens[i], blen = rerank ? in->lens[i] : in->second_lens[i];
    ia_encoding_stats es = {0};
    size_t got = 0;
    st->ids[i] = ia__malloc(limit * sizeof **st->ids);
    st->types[i] = ia__malloc(limit * sizeof **st->types);
    ia_status rc = st->ids[i] && st->types[i]
                 ? ia_tokenizer_encode_pair(tok, a, alen, b, blen, limit, in->truncate_left, st->ids[i], st->types[i], limit, &got, &es)
                 : ia__error(IA_ERR_NOMEM, "out of memory");
    const char *name = st->kind == SRV_RANK_COHERE ? "documents" : rerank ? "texts" : "inputs";
    char where[48];
    snprintf(where, sizeof where, in->single ? "%s" : "%s[%zu]", name, i);
    if (rc) {
        ia__srv_error_set(err, rc == IA_ERR_NOMEM ? 500 : 422, where, "tokenizing %s: %s", where, ia_errmsg());
        return err->status;
    }
    if (es.n_truncated && !in->truncate) {
        ia__srv_error_set(err, 413, where, "%s%s has more than %zu tokens, the model's limit; send \"truncate\": "
                          "true to cut it", rerank ? "the query with " : "", where, limit);
        return 413;
    }
    st->n_ids[i] = got;
    st->tokens += got;
    return 0;
}

void ia__srv_rank_route_run(ia_server *s, srv_request *r, srv_rank_kind kind)
{
    const srv_api api = api_of(kind);
    srv_error err;
    rank_state *st = ia__calloc(1, sizeof *st);
    if (!st) {
        ia__srv_error_set(&err, 500, "", "out of memory");
        ia__srv_respond_error(r, api, &err);
        return;
    }
    *ia__srv_req_state(r) = st;
    st->kind = kind;
    size_t len;
    const char *body = ia__srv_req_body(r, &len);
    if (ia__srv_parse_rank_request(kind, body, len, s->opt.max_client_batch_size, &st->in, &err) ||
        !(st->model = find_classifier(s, st->in.model, kind != SRV_PREDICT, &err))) {
        ia__srv_respond_error(r, api, &err);
        return;
    }
    const size_t n = st->in.n;
    st->ids = ia__calloc(n, sizeof *st->ids);
    st->types = ia__calloc(n, sizeof *st->types);
    st->n_ids = ia__calloc(n, sizeof *st->n_ids);
    if (!st->ids || !st->types || !st->n_ids) {
        ia__srv_error_set(&err, 500, "", "out of memory");
        ia__srv_respond_error(r, api, &err);
        return;
    }
    st->n = n;
    for (size_t i = 0; i < n; i++)
        if (tokenize(st->model, st, i, &err)) {
            ia__srv_respond_error(r, api, &err);
            return;
        }
    srv_job *job = &st->job;
    job->model = st->model->model;
    job->model_index = (int)(st->model - s->models);
    job->ids = (const int32_t *const *)st->ids;
    job->types = (const int32_t *const *)st->types;
    job->n_ids = st->n_ids;
    job->n = n;
    job->tokens = st->tokens;
    job->classify = true;
    job->raw = st->in.raw_scores;
    job->dim = ia_model_num_labels(st->model->model);
    job->out = ia__malloc(n * (size_t)job->dim * sizeof(float));
    if (!job->out) {
        ia__srv_error_set(&err, 500, "", "out of memory for the scores");
        ia__srv_respond_error(r, api, &err);
        return;
    }
    if (!ia__srv_submit(s, r, job)) {
        if (!ia_server_healthy(s) && ia__srv_model_count(s) > 0)
            ia__srv_error_set(&err, 503, "", "the server is shutting down");
        else
            ia__srv_error_set(&err, 429, "", "the server is overloaded (--max-concurrent-requests); retry later");
        ia__srv_respond_error(r, api, &err);
    }
}

/* Indices 0..n-1 of scores (stride apart) ordered best first, ties by
 * index; NULL when out of memory. */
static int by_score(const void *a, const void *b, void *arg)
{
    const float *key = arg;
    const size_t i = *(const size_t *)a, j = *(const size_t *)b;
    return key[i] > key[j] ? -1 : key[i] < key[j] ? 1 : (i > j) - (i < j);
}

static size_t *ranked(const float *scores, size_t n)
{
    size_t *order = ia__malloc((n ? n : 1) * sizeof *order);
    for (size_t i = 0; order && i < n; i++)
        order[i] = i;
    if (order)
        qsort_r(order, n, sizeof *order, by_score, (void *)scores);
    return order;
}

static void write_rerank(sbuf *b, rank_state *st)
{
    const srv_rank_req *in = &st->in;
    size_t *order = ranked(st->job.out, in->n);
    if (!order) {
        b->oom = true;
        return;
    }
    const bool cohere = st->kind == SRV_RANK_COHERE;
    const size_t shown = in->top_n && in->top_n < in->n ? in->top_n : in->n;
    if (cohere) {
        static atomic_ulong serial;
        ia__sbuf_printf(b, "{\"id\":\"rerank-%lx\",\"model\":", atomic_fetch_add(&serial, 1) + 1);
        ia__sbuf_json_str(b, st->model->name, strlen(st->model->name));
        ia__sbuf_printf(b, ",\"usage\":{\"total_tokens\":%zu},\"results\":", st->tokens);
    }
    ia__sbuf_puts(b, "[");
    for (size_t k = 0; k < shown; k++) {
        const size_t i = order[k];
        ia__sbuf_printf(b, "%s{\"index\":%zu,\"%s\":%.9g", k ? "," : "", i, cohere ? "relevance_score" : "score",
                        st->job.out[i]);
        if (in->return_text) {
            ia__sbuf_puts(b, cohere ? ",\"document\":{\"text\":" : ",\"text\":");
            ia__sbuf_json_str(b, in->texts[i], in->lens[i]);
            ia__sbuf_puts(b, cohere ? "}" : "");
        }
        ia__sbuf_puts(b, "}");
    }
    ia__sbuf_puts(b, cohere ? "]}" : "]");
    ia__free(order);
}

static void write_predict(sbuf *b, rank_state *st)
{
    const ia_model *model = st->model->model;
    const size_t L = (size_t)ia_model_num_labels(model);
    if (!st->in.single)
        ia__sbuf_puts(b, "[");
    for (size_t i = 0; i < st->in.n && !b->oom; i++) {
        const float *s = st->job.out + i * L;
        size_t *order = ranked(s, L);
        if (!order) {
            b->oom = true;
            break;
        }
        ia__sbuf_puts(b, i ? ",[" : "[");
        for (size_t k = 0; k < L; k++) {
            const char *label = ia_model_label(model, (int)order[k]);
            ia__sbuf_printf(b, "%s{\"score\":%.9g,\"label\":", k ? "," : "", s[order[k]]);
            ia__sbuf_json_str(b, label, strlen(label));
            ia__sbuf_puts(b, "}");
        }
        ia__sbuf_puts(b, "]");
        ia__free(order);
    }
    if (!st->in.single)
        ia__sbuf_puts(b, "]");
}

void ia__srv_rank_route_done(ia_server *s, srv_request *r)
{
    (void)s;
    rank_state *st = *ia__srv_req_state(r);
    const srv_api api = api_of(st->kind);
    srv_error e;
    if (st->job.status) {
        if (st->job.http_status) /* serve --cluster: the cluster's answer */
            ia__srv_error_set(&e, st->job.http_status, "", "%s", st->job.errmsg);
        else
            ia__srv_error_set(&e, 500, "", "inference failed: %s", st->job.errmsg);
        ia__srv_respond_error(r, api, &e);
        return;
    }
    sbuf b = {0};
    if (st->kind == SRV_PREDICT)
        write_predict(&b, st);
    else
        write_rerank(&b, st);
    size_t len = 0;
    char *body = ia__sbuf_take(&b, &len);
    if (!body) {
        ia__srv_error_set(&e, 500, "", "out of memory writing the response");
        ia__srv_respond_error(r, api, &e);
        return;
    }
    char tokens[24];
    snprintf(tokens, sizeof tokens, "%zu", st->tokens);
    const char *hdrs[16] = {"X-Compute-Tokens", tokens};
    hdrs[ia__srv_provenance_headers(&st->job, hdrs, 2)] = NULL;
    ia__srv_respond(r, 200, "application/json", body, len, st->model, hdrs);
}
