/*
 * The server's HTTP layer on libmicrohttpd: an epoll thread pool reads
 * requests; each request is matched to a built-in route (routes.c) or a
 * mounted prefix, checked (draining, method, API key, body size) and its
 * body collected under the limit, then handed to its route. Embedding
 * routes suspend the connection while the engine thread (queue.c) works
 * and are resumed to write the answer, so a waiting request holds no
 * thread. Every response names the backend and precision that computed it
 * (X-Backend, X-Precision; for answers that computed nothing, the default
 * model's). Mounted handlers (the IPFS gateway) run on the handler pool
 * (pool.c), their connections suspended the same way, and answer within
 * timeout_s.
 *
 * Shutdown: stop accepting (MHD_quiesce_daemon), answer new requests on
 * open connections with 503, wait for in-flight requests; then refuse new
 * work in the pool and the queue and finish what they hold, stop the HTTP
 * threads, and only then free the pool and the queue (a request whose
 * body was still arriving may call into them up to that point).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <math.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/server-impl.h"

#define MAX_RESPONSE_HEADERS 16

struct srv_request {
    ia_server *srv;
    struct MHD_Connection *conn;
    int route;      /* SRV_ROUTE_*, SRV_ROUTE_MOUNT0 + mount index */
    double t0;
    char *body;
    size_t len, cap;
    bool too_big, answered, suspended, first_done;
    char method[8]; /* for the access log */
    int status;
    atomic_bool job_done;
    void *state; /* the route's */
    /* A mounted route's handler runs on the pool (connection suspended);
     * its answer is kept in resp until the connection is resumed. */
    srv_task task;
    const char *url, *mhd_method; /* libmicrohttpd's: valid until completion */
    double deadline;              /* the handler answers by then (timeout_s) */
    bool deferred;
    struct MHD_Response *resp;
    int resp_status;
};

struct ia_http_request {
    srv_request *r;
    const char *method, *path;
};

struct ia_http_response {
    srv_request *r;
    const char *hdr_name[MAX_RESPONSE_HEADERS];
    const char *hdr_value[MAX_RESPONSE_HEADERS];
    char *hdr_store[2 * MAX_RESPONSE_HEADERS];
    int n_hdr;
    bool answered;
};

/* ---- options and lifecycle ---------------------------------------------- */

static char *dup_opt(const char *s) { return s ? ia__strdup(s) : NULL; }

ia_status ia_server_new(const ia_server_options *opt, ia_server **out)
{
    ia__error_clear();
    if (!out)
        return ia__error(IA_ERR_INVALID, "ia_server_new: NULL out");
    *out = NULL;
    ia_server *s = ia__calloc(1, sizeof *s);
    if (!s)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    ia__opts_copy(&s->opt, sizeof s->opt, opt);
    ia_server_options *o = &s->opt;
    s->listen = ia__strdup(o->listen ? o->listen : "127.0.0.1:8080");
    const char *key = o->api_key && o->api_key[0] ? o->api_key : NULL;
    s->api_key = dup_opt(key);
    if (!s->listen || (key && !s->api_key)) {
        ia_server_free(s);
        return ia__error(IA_ERR_NOMEM, "out of memory");
    }
    o->listen = s->listen;
    o->api_key = s->api_key;
    if (key)
        SHA256((const unsigned char *)key, strlen(key), s->key_hash);
    if (!o->max_batch_tokens)
        o->max_batch_tokens = 16384;
    if (!o->max_client_batch_size)
        o->max_client_batch_size = 128;
    if (!o->max_concurrent_requests)
        o->max_concurrent_requests = 512;
    if (!o->max_body_bytes)
        o->max_body_bytes = 2000000;
    if (!o->timeout_s)
        o->timeout_s = 30;
    s->max_conn_explicit = o->max_connections != 0;
    if (!o->max_connections)
        o->max_connections = 1000;
    if (!o->http_threads)
        o->http_threads = 2;
    s->listen_fd = -1;
    ia__srv_metrics_init(&s->metrics);
    for (int i = 0; i < SRV_ROUTE_MOUNT0; i++)
        s->metrics.route_name[i] = ia__srv_route_label(i);
    ia_status st = ia__srv_queue_start(&s->queue, o->max_concurrent_requests, o->max_batch_tokens,
                                       &s->metrics);
    if (st) {
        ia__srv_metrics_close(&s->metrics);
        ia__free(s->listen);
        ia__free(s->api_key);
        ia__free(s);
        return st;
    }
    s->t_start = ia__now();
    *out = s;
    return IA_OK;
}

static bool run_test_inference(srv_model *sm)
{
    static const char *const text = "ipfs-accelerate health check";
    int dim = sm->info.dim;
    float *v = ia__malloc((size_t)dim * sizeof *v);
    if (!v)
        return ia__error(IA_ERR_NOMEM, "out of memory"), false;
    ia_status st = ia_model_embed(sm->model, &text, NULL, 1, v, NULL);
    bool ok = st == IA_OK;
    for (int i = 0; ok && i < dim; i++)
        if (!(v[i] == v[i]) || v[i] > 1e30f || v[i] < -1e30f) {
            ia__error(IA_ERR_BACKEND, "model %s: test inference gave a non-finite value", sm->name);
            ok = false;
        }
    if (st)
        ia__error_wrap(st, "model %s: test inference failed", sm->name);
    ia__free(v);
    return ok;
}

ia_status ia_server_add_model(ia_server *s, const char *name, ia_model *m)
{
    ia__error_clear();
    if (!s || !m) {
        ia_model_free(m); /* ours, also on failure */
        return ia__error(IA_ERR_INVALID, "ia_server_add_model: NULL server or model");
    }
    int n = atomic_load(&s->n_models);
    if (n >= SRV_MAX_MODELS) {
        ia_model_free(m);
        return ia__error(IA_ERR_INVALID, "at most %d models per server", SRV_MAX_MODELS);
    }
    srv_model *sm = &s->models[n];
    ia_model_get_info(m, &sm->info);
    if (!name) {
        const char *slash = strrchr(sm->info.path, '/');
        name = slash && slash[1] ? slash + 1 : sm->info.path;
    }
    for (int i = 0; i < n; i++)
        if (!strcmp(s->models[i].name, name)) {
            /* name may point into m's path: say it before m goes. */
            ia_status st = ia__error(IA_ERR_INVALID,
                                     "model name '%s' is used twice; name them with NAME=DIR", name);
            ia_model_free(m);
            memset(sm, 0, sizeof *sm);
            return st;
        }
    if (s->dispatch) { /* serve --cluster: the CID its tasks carry and go by */
        ia_status st = ia__srv_dispatch_model(s->dispatch, n, sm->info.path);
        if (st) {
            ia_model_free(m);
            memset(sm, 0, sizeof *sm);
            return st;
        }
    }
    sm->model = m;
    sm->name = ia__strdup(name);
    sm->created = (double)time(NULL);
    if (!sm->name || !run_test_inference(sm)) {
        ia_status st = sm->name ? IA_ERR_BACKEND : ia__error(IA_ERR_NOMEM, "out of memory");
        ia__free(sm->name);
        ia_model_free(m);
        memset(sm, 0, sizeof *sm);
        return st;
    }
    ia__srv_calib_init(&sm->calib, sm->info.dim);
    atomic_store(&s->n_models, n + 1); /* publishes the entry to the HTTP threads */
    ia__log(IA_LOG_INFO, "serving model %s (%s, %d dims, %s/%s)", sm->name, sm->info.path,
            sm->info.dim, sm->info.backend, sm->info.precision);
    return IA_OK;
}

ia_status ia__server_set_cluster(ia_server *s, struct ia_cluster *cluster, double timeout_s, int priority,
                                 int n_threads)
{
    if (!s || !cluster || s->dispatch || ia__srv_model_count(s) > 0)
        return ia__error(IA_ERR_INVALID, "ia__server_set_cluster: once, before any model is added");
    if (!(s->dispatch = ia__calloc(1, sizeof *s->dispatch)))
        return ia__error(IA_ERR_NOMEM, "out of memory");
    s->dispatch->cluster = cluster;
    s->dispatch->timeout_s = timeout_s;
    s->dispatch->priority = priority;
    return ia__srv_queue_set_dispatch(&s->queue, s->dispatch, n_threads);
}

/* A forward of one token gives finite logits. */
static bool lm_test_inference(srv_model *sm)
{
    const ia_decoder_config *c = ia__decoder_config(sm->lm->dec);
    ia_session *ses = NULL;
    float *logits = ia__malloc((size_t)c->n_vocab * sizeof *logits);
    const int32_t bos = ia__bpe_bos(sm->lm->tok) >= 0 ? ia__bpe_bos(sm->lm->tok) : 0;
    ia_status st = logits ? ia__session_new(sm->lm->dec, IA_KV_BLOCK, &ses) : ia__error(IA_ERR_NOMEM, "out of memory");
    if (!st)
        st = ia__session_eval(ses, &bos, 1, logits, NULL);
    for (int i = 0; !st && i < c->n_vocab; i++)
        if (!isfinite(logits[i]))
            st = ia__error(IA_ERR_BACKEND, "model %s: test inference gave a non-finite logit", sm->name);
    ia__session_free(ses);
    ia__free(logits);
    if (st)
        ia__error_wrap(st, "model %s: test inference failed", sm->name);
    return !st;
}

ia_status ia__server_add_lm(ia_server *s, const char *name, ia_lm *lm)
{
    ia__error_clear();
    int n = atomic_load(&s->n_models);
    if (n >= SRV_MAX_MODELS) {
        ia__lm_free(lm);
        return ia__error(IA_ERR_INVALID, "at most %d models per server", SRV_MAX_MODELS);
    }
    srv_model *sm = &s->models[n];
    memset(sm, 0, sizeof *sm);
    const ia_decoder_config *c = ia__decoder_config(lm->dec);
    if (!name) {
        const char *slash = strrchr(lm->path, '/');
        name = slash && slash[1] ? slash + 1 : lm->path;
    }
    ia_status st = IA_OK;
    for (int i = 0; i < n && !st; i++)
        if (!strcmp(s->models[i].name, name))
            st = ia__error(IA_ERR_INVALID, "model name '%s' is used twice; name them with NAME=PATH", name);
    sm->lm = lm;
    if (!st && !(sm->name = ia__strdup(name)))
        st = ia__error(IA_ERR_NOMEM, "out of memory");
    if (!st && !lm_test_inference(sm))
        st = IA_ERR_BACKEND;
    if (!st)
        st = ia__srv_gen_start(lm, s->opt.max_running_generations ? (int)s->opt.max_running_generations : 16,
                               s->opt.kv_cache_bytes ? s->opt.kv_cache_bytes : (size_t)1 << 30, &sm->gen);
    if (st) {
        ia__free(sm->name);
        ia__lm_free(lm);
        memset(sm, 0, sizeof *sm);
        return st;
    }
    sm->info.path = lm->path;
    sm->info.architecture = c->arch;
    sm->info.dim = c->n_embd;
    sm->info.max_seq_length = (size_t)c->n_ctx_train;
    sm->info.backend = lm->be->name;
    sm->info.precision = "fp32";
    sm->info.pooling = "none";
    sm->info.weights_dtype = "gguf";
    sm->created = (double)time(NULL);
    atomic_store(&s->n_models, n + 1);
    ia__log(IA_LOG_INFO, "serving language model %s (%s, %s, context %d)", sm->name, lm->path, c->arch,
            c->n_ctx_train);
    return IA_OK;
}

void ia_server_set_loading(ia_server *s, bool loading)
{
    if (s)
        atomic_store(&s->loading, loading);
}

bool ia_server_healthy(const ia_server *s)
{
    return s && atomic_load(&s->n_models) > 0 && !atomic_load(&s->unhealthy) &&
           !atomic_load(&s->loading) && !atomic_load(&s->draining);
}

int ia__srv_model_count(const ia_server *s) { return atomic_load(&s->n_models); }

const srv_model *ia__srv_model_find(ia_server *s, const char *name)
{
    int n = atomic_load(&s->n_models);
    if (n == 0)
        return NULL;
    if (!name)
        return &s->models[0];
    for (int i = 0; i < n; i++)
        if (!strcmp(s->models[i].name, name))
            return &s->models[i];
    /* "org/name" (a hub id) matches a model served as "name". */
    const char *slash = strrchr(name, '/');
    if (slash)
        for (int i = 0; i < n; i++)
            if (!strcmp(s->models[i].name, slash + 1))
                return &s->models[i];
    return NULL;
}

const srv_model *ia__srv_model_find_kind(ia_server *s, const char *name, bool lm, srv_error *err)
{
    const int n = atomic_load(&s->n_models);
    const char *kind = lm ? "a text-generation" : "an embedding";
    if (!name) {
        for (int i = 0; i < n; i++)
            if (!s->models[i].lm == !lm)
                return &s->models[i];
        ia__srv_error_set(err, n ? 400 : 503, "model", n ? "no %s model is served here; see GET /v1/models"
                                                         : "no model is loaded yet", kind);
        return NULL;
    }
    const srv_model *m = ia__srv_model_find(s, name);
    if (!m) {
        ia__srv_error_set(err, 404, "model", "model '%.100s' is not served here; see GET /v1/models", name);
        err->code = "model_not_found";
        return NULL;
    }
    if (!m->lm != !lm) {
        ia__srv_error_set(err, 400, "model", "model '%.100s' is not %s model; see GET /v1/models", name, kind);
        return NULL;
    }
    return m;
}

ia_status ia_server_mount(ia_server *s, const char *prefix, ia_http_handler_fn fn, void *user,
                          unsigned flags)
{
    ia__error_clear();
    if (!s || !prefix || prefix[0] != '/' || !fn || (flags & ~IA_SERVER_MOUNT_AUTH))
        return ia__error(IA_ERR_INVALID, "ia_server_mount: the prefix must start with '/', s and fn "
                                         "be set and flags be 0");
    if (s->n_mounts >= SRV_MAX_MOUNTS)
        return ia__error(IA_ERR_INVALID, "ia_server_mount: at most %d mounts", SRV_MAX_MOUNTS);
    if (atomic_load(&s->started))
        return ia__error(IA_ERR_INVALID, "ia_server_mount(%s): mount before ia_server_start", prefix);
    srv_mount *mt = &s->mounts[s->n_mounts];
    if (!(mt->prefix = ia__strdup(prefix)))
        return ia__error(IA_ERR_NOMEM, "out of memory");
    mt->len = strlen(prefix);
    mt->fn = fn;
    mt->user = user;
    s->metrics.route_name[SRV_ROUTE_MOUNT0 + s->n_mounts] = mt->prefix;
    s->n_mounts++;
    return IA_OK;
}

/* ---- responses ------------------------------------------------------------ */

static const srv_model *default_model(ia_server *s)
{
    return atomic_load(&s->n_models) > 0 ? &s->models[0] : NULL;
}

static void add_common_headers(ia_server *s, struct MHD_Response *resp, const srv_model *m)
{
    if (!m)
        m = default_model(s);
    if (m) {
        if (!MHD_get_response_header(resp, "X-Backend")) { /* serve --cluster: the worker's, set by the route */
            MHD_add_response_header(resp, "X-Backend", m->info.backend);
            MHD_add_response_header(resp, "X-Precision", m->info.precision);
        }
        MHD_add_response_header(resp, "X-Model", m->name);
    }
    if (atomic_load(&s->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

static void queue_response(srv_request *r, int status, struct MHD_Response *resp)
{
    if (!resp) {
        ia__log(IA_LOG_ERROR, "server: cannot create a response (out of memory)");
        return;
    }
    if (r->deferred) { /* on a pool thread: queued once resumed */
        r->resp = resp;
        r->resp_status = status;
        return;
    }
    if (MHD_queue_response(r->conn, (unsigned)status, resp) != MHD_YES)
        ia__log(IA_LOG_WARN, "server: could not queue a %d response", status);
    MHD_destroy_response(resp);
    r->status = status;
    r->answered = true;
}

void ia__srv_respond(srv_request *r, int status, const char *content_type, char *body, size_t len,
                     const srv_model *model, const char *const *extra_headers)
{
    struct MHD_Response *resp;
    if (body)
        resp = MHD_create_response_from_buffer_with_free_callback(len, body, ia__free);
    else
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        ia__free(body);
        return;
    }
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (int i = 0; extra_headers && extra_headers[i]; i += 2)
        MHD_add_response_header(resp, extra_headers[i], extra_headers[i + 1]);
    add_common_headers(r->srv, resp, model);
    queue_response(r, status, resp);
}

void ia__srv_respond_error(srv_request *r, srv_api api, const srv_error *e)
{
    sbuf b = {0};
    if (api == SRV_OPENAI) {
        ia__sbuf_puts(&b, "{\"error\":{\"message\":");
        ia__sbuf_json_str(&b, e->msg, strlen(e->msg));
        ia__sbuf_printf(&b, ",\"type\":\"%s\",\"param\":", e->openai_type);
        if (e->param[0])
            ia__sbuf_json_str(&b, e->param, strlen(e->param));
        else
            ia__sbuf_puts(&b, "null");
        ia__sbuf_puts(&b, ",\"code\":");
        if (e->code)
            ia__sbuf_json_str(&b, e->code, strlen(e->code));
        else
            ia__sbuf_puts(&b, "null");
        ia__sbuf_puts(&b, "}}");
    } else {
        ia__sbuf_puts(&b, "{\"error\":");
        ia__sbuf_json_str(&b, e->msg, strlen(e->msg));
        ia__sbuf_printf(&b, ",\"error_type\":\"%s\"}", e->tei_type);
    }
    size_t len = 0;
    char *body = ia__sbuf_take(&b, &len);
    const char *hdrs[5] = {NULL};
    int h = 0;
    if (e->status == 401) {
        hdrs[h++] = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
        hdrs[h++] = "Bearer";
    } else if (e->status == 405) {
        hdrs[h++] = MHD_HTTP_HEADER_ALLOW;
        hdrs[h++] = r->route < SRV_ROUTE_MOUNT0 ? ia__srv_route_methods(r->route) : "GET, HEAD";
    } else if (e->status == 429 || e->status == 503) {
        hdrs[h++] = MHD_HTTP_HEADER_RETRY_AFTER;
        hdrs[h++] = "1";
    }
    ia__srv_respond(r, e->status, "application/json", body, len, NULL, hdrs);
}

static srv_api route_api(int route)
{
    return route == SRV_ROUTE_EMBEDDINGS || route == SRV_ROUTE_MODELS || route == SRV_ROUTE_V1_RERANK ? SRV_OPENAI
                                                                                                   : SRV_TEI;
}

static void early_error(srv_request *r, int status, const char *fmt, const char *arg)
{
    srv_error e;
    ia__srv_error_set(&e, status, "", fmt, arg);
    if (status == 401)
        e.code = "invalid_api_key";
    else if (status == 404)
        e.code = "not_found";
    ia__srv_respond_error(r, route_api(r->route), &e);
}

/* ---- what routes see ------------------------------------------------------- */

const char *ia__srv_req_body(srv_request *r, size_t *len)
{
    *len = r->len;
    return r->body;
}

const char *ia__srv_req_header(srv_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

int ia__srv_req_route(srv_request *r) { return r->route; }
void **ia__srv_req_state(srv_request *r) { return &r->state; }

static void job_done(srv_job *job, void *user)
{
    srv_request *r = user;
    (void)job;
    atomic_store(&r->job_done, true);
    MHD_resume_connection(r->conn);
}

bool ia__srv_submit(ia_server *s, srv_request *r, srv_job *job)
{
    job->done = job_done;
    job->user = r;
    atomic_store(&r->job_done, false);
    /* Suspend first: the engine may finish before this handler returns. */
    MHD_suspend_connection(r->conn);
    r->suspended = true;
    if (ia__srv_queue_submit(&s->queue, job))
        return true;
    r->suspended = false;
    MHD_resume_connection(r->conn);
    return false;
}

void ia__srv_suspend(srv_request *r)
{
    atomic_store(&r->job_done, false);
    MHD_suspend_connection(r->conn);
    r->suspended = true;
}

void ia__srv_wake(srv_request *r)
{
    atomic_store(&r->job_done, true);
    MHD_resume_connection(r->conn);
}

void ia__srv_unsuspend(srv_request *r)
{
    r->suspended = false;
    MHD_resume_connection(r->conn);
}

void ia__srv_park(srv_request *r) { MHD_suspend_connection(r->conn); }
void ia__srv_unpark(srv_request *r) { MHD_resume_connection(r->conn); }

bool ia__srv_peer_closed(srv_request *r)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    char c;
    /* 0: the client closed its side (a request pipelined behind ours
     * would show as data, not as an end) */
    return ci && recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

typedef struct gen_stream {
    srv_read_fn read;
    void *user;
    void (*free_user)(void *);
} gen_stream;

static ssize_t gen_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    gen_stream *g = cls;
    (void)pos;
    const ssize_t n = g->read(g->user, buf, max);
    return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void gen_stream_free(void *cls)
{
    gen_stream *g = cls;
    g->free_user(g->user);
    ia__free(g);
}

void ia__srv_respond_stream(srv_request *r, int status, const char *content_type, srv_read_fn read, void *user,
                            void (*free_user)(void *), const srv_model *model)
{
    gen_stream *g = ia__malloc(sizeof *g);
    struct MHD_Response *resp = g ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, gen_stream_read,
                                                                      g, gen_stream_free)
                                  : NULL;
    if (!resp) {
        ia__free(g);
        free_user(user);
        early_error(r, 500, "out of memory for a response%s", "");
        return;
    }
    *g = (gen_stream){read, user, free_user};
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    add_common_headers(r->srv, resp, model ? model : default_model(r->srv));
    queue_response(r, status, resp);
}

/* ---- the delegated-route interface ---------------------------------------- */

/* Past its time limit, or the server is stopping: the handler should give
 * up, and its answer is replaced (504, 503). */
static bool expired(const srv_request *r)
{
    return atomic_load(&r->srv->stopping) || ia__now() > r->deadline;
}

const char *ia_http_request_method(const ia_http_request *req) { return req ? req->method : NULL; }
const char *ia_http_request_path(const ia_http_request *req) { return req ? req->path : NULL; }

const char *ia_http_request_header(const ia_http_request *req, const char *name)
{
    return req && name ? MHD_lookup_connection_value(req->r->conn, MHD_HEADER_KIND, name) : NULL;
}

const char *ia_http_request_query(const ia_http_request *req, const char *name)
{
    const char *v = NULL;
    size_t vlen = 0;
    if (!req || !name ||
        MHD_lookup_connection_value_n(req->r->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
                                      &vlen) != MHD_YES)
        return NULL;
    return v ? v : "";
}

const void *ia_http_request_body(const ia_http_request *req, size_t *len)
{
    size_t n = req ? req->r->len : 0;
    if (len)
        *len = n;
    return n ? req->r->body : NULL;
}

bool ia_http_request_expired(const ia_http_request *req) { return !req || expired(req->r); }

ia_status ia_http_response_header(ia_http_response *res, const char *name, const char *value)
{
    ia__error_clear();
    if (!res || !name || !value)
        return ia__error(IA_ERR_INVALID, "ia_http_response_header: NULL argument");
    if (res->answered || res->n_hdr >= MAX_RESPONSE_HEADERS)
        return ia__error(IA_ERR_INVALID, "response header %s: already answered or too many headers",
                         name);
    char *n = ia__strdup(name), *v = ia__strdup(value);
    if (!n || !v) {
        ia__free(n);
        ia__free(v);
        return ia__error(IA_ERR_NOMEM, "out of memory");
    }
    res->hdr_store[2 * res->n_hdr] = n;
    res->hdr_store[2 * res->n_hdr + 1] = v;
    res->hdr_name[res->n_hdr] = n;
    res->hdr_value[res->n_hdr++] = v;
    return IA_OK;
}

static ia_status finish_mount_response(ia_http_response *res, int status, const char *content_type,
                                       struct MHD_Response *resp)
{
    if (!resp)
        return ia__error(IA_ERR_NOMEM, "out of memory for a response");
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (int i = 0; i < res->n_hdr; i++)
        MHD_add_response_header(resp, res->hdr_name[i], res->hdr_value[i]);
    add_common_headers(res->r->srv, resp, NULL);
    queue_response(res->r, status, resp);
    res->answered = true;
    return IA_OK;
}

ia_status ia_http_respond(ia_http_response *res, int status, const char *content_type,
                          const void *body, size_t len)
{
    ia__error_clear();
    if (!res || (!body && len))
        return ia__error(IA_ERR_INVALID, "ia_http_respond: NULL argument");
    if (res->answered)
        return ia__error(IA_ERR_INVALID, "ia_http_respond: the request was already answered");
    if (expired(res->r))
        return ia__error(IA_ERR_TIMEOUT, "ia_http_respond: past the server's time limit");
    if (status < 100 || status > 599)
        return ia__error(IA_ERR_INVALID, "ia_http_respond: HTTP status %d out of range", status);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(len ? body : ""), MHD_RESPMEM_MUST_COPY);
    return finish_mount_response(res, status, content_type, resp);
}

typedef struct stream_ctx {
    ia_http_read_fn read;
    void *user;
    void (*free_user)(void *);
} stream_ctx;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream_ctx *c = cls;
    ssize_t n = c->read(c->user, pos, buf, max);
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return n;
}

static void stream_free(void *cls)
{
    stream_ctx *c = cls;
    if (c->free_user)
        c->free_user(c->user);
    ia__free(c);
}

ia_status ia_http_respond_stream(ia_http_response *res, int status, const char *content_type,
                                 uint64_t size, ia_http_read_fn read, void *user,
                                 void (*free_user)(void *user))
{
    ia__error_clear();
    if (!res || res->answered || !read || status < 100 || status > 599)
        return ia__error(IA_ERR_INVALID, "ia_http_respond_stream: no response, already answered, "
                                         "no reader or bad status %d", status);
    if (expired(res->r))
        return ia__error(IA_ERR_TIMEOUT, "ia_http_respond_stream: past the server's time limit");
    stream_ctx *c = ia__malloc(sizeof *c);
    if (!c)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    c->read = read;
    c->user = user;
    c->free_user = free_user;
    struct MHD_Response *resp = MHD_create_response_from_callback(
        size == UINT64_MAX ? MHD_SIZE_UNKNOWN : size, 64 * 1024, stream_read, c, stream_free);
    if (!resp) {
        ia__free(c); /* user data stays the caller's on failure */
        return ia__error(IA_ERR_NOMEM, "out of memory for a response");
    }
    return finish_mount_response(res, status, content_type, resp);
}

static srv_request *task_request(srv_task *t)
{
    return (srv_request *)(void *)((char *)t - offsetof(srv_request, task));
}

/* On a pool thread, the connection suspended. */
static void mount_run(srv_task *t)
{
    srv_request *r = task_request(t);
    ia_server *s = r->srv;
    srv_mount *mt = &s->mounts[r->route - SRV_ROUTE_MOUNT0];
    ia_http_request req = {r, r->mhd_method, r->url};
    ia_http_response res = {.r = r};
    if (!expired(r)) /* it may have waited out its time in the pool */
        mt->fn(&req, &res, mt->user);
    for (int i = 0; i < 2 * res.n_hdr; i++)
        ia__free(res.hdr_store[i]);
    if (res.answered)
        return;
    if (atomic_load(&s->stopping))
        early_error(r, 503, "the server is shutting down%s", "");
    else if (expired(r))
        early_error(r, 504, "no answer from the handler of %s within the time limit (--timeout)",
                    mt->prefix);
    else
        early_error(r, 500, "the handler of %s gave no answer", mt->prefix);
}

static void mount_done(srv_task *t) { MHD_resume_connection(task_request(t)->conn); }

static void submit_mount(ia_server *s, srv_request *r, const char *url, const char *method)
{
    r->task.run = mount_run;
    r->task.done = mount_done;
    r->url = url;
    r->mhd_method = method;
    r->deadline = ia__now() + s->opt.timeout_s;
    r->deferred = true;
    /* Suspend first: the pool may finish before this handler returns. */
    MHD_suspend_connection(r->conn);
    r->suspended = true;
    if (ia__srv_pool_submit(&s->pool, &r->task))
        return;
    r->suspended = false;
    r->deferred = false;
    MHD_resume_connection(r->conn);
    if (atomic_load(&s->draining))
        early_error(r, 503, "the server is shutting down%s", "");
    else
        early_error(r, 429, "the server is overloaded (--max-concurrent-requests requests to %s); "
                            "retry later", s->mounts[r->route - SRV_ROUTE_MOUNT0].prefix);
}

/* Resumed after the pool ran the handler: send what it answered. */
static void answer_deferred(srv_request *r)
{
    struct MHD_Response *resp = r->resp;
    r->resp = NULL;
    r->deferred = false;
    if (resp)
        queue_response(r, r->resp_status, resp);
}

/* ---- the connection handler ------------------------------------------------ */

static bool method_allowed(const char *allowed, const char *method)
{
    size_t n = strlen(method);
    for (const char *p = allowed; (p = strstr(p, method)); p += n)
        if ((p == allowed || p[-1] == ' ') && (p[n] == '\0' || p[n] == ','))
            return true;
    return false;
}

static bool auth_ok(ia_server *s, srv_request *r)
{
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7))
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    unsigned char got[32];
    SHA256((const unsigned char *)h, strlen(h), got); /* equal-length digests: constant time */
    return CRYPTO_memcmp(got, s->key_hash, sizeof got) == 0;
}

static int find_route(ia_server *s, const char *url)
{
    int route = ia__srv_route_find(url);
    if (route >= 0)
        return route;
    size_t best = 0;
    for (int i = 0; i < s->n_mounts; i++) {
        const srv_mount *mt = &s->mounts[i];
        if (mt->len > best && !strncmp(url, mt->prefix, mt->len)) {
            best = mt->len;
            route = SRV_ROUTE_MOUNT0 + i;
        }
    }
    return route >= 0 ? route : SRV_ROUTE_OTHER;
}

/* First call: headers are in, the body is not. Answer now when the request
 * cannot succeed. */
static void on_headers(ia_server *s, srv_request *r, const char *url, const char *method)
{
    r->route = find_route(s, url);
    if (r->route == SRV_ROUTE_OTHER) {
        early_error(r, 404, "no route %.200s", url);
        return;
    }
    if (atomic_load(&s->draining)) {
        early_error(r, 503, "the server is shutting down%s", "");
        return;
    }
    bool is_mount = r->route >= SRV_ROUTE_MOUNT0;
    if (!is_mount && !method_allowed(ia__srv_route_methods(r->route), method)) {
        char msg[64];
        snprintf(msg, sizeof msg, "%.16s is not allowed here; use %s", method,
                 ia__srv_route_methods(r->route));
        early_error(r, 405, "%s", msg);
        return;
    }
    /* The key covers every mount: the gateway serves the whole store. */
    bool needs_auth = is_mount || ia__srv_route_needs_auth(r->route);
    if (s->api_key && needs_auth && !auth_ok(s, r)) {
        early_error(r, 401, "missing or wrong API key: send \"Authorization: Bearer KEY\"%s", "");
        return;
    }
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (!errno && end != cl && n > s->opt.max_body_bytes) {
            char msg[96];
            snprintf(msg, sizeof msg, "the request body (%llu bytes) is over the %zu-byte limit", n,
                     s->opt.max_body_bytes);
            early_error(r, 413, "%s", msg);
            return;
        }
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    ia_server *s = cls;
    srv_request *r = *con_cls;
    (void)version;
    if (!r) {
        if (!(r = ia__calloc(1, sizeof *r)))
            return MHD_NO;
        r->srv = s;
        r->conn = conn;
        r->t0 = ia__now();
        r->route = SRV_ROUTE_OTHER;
        snprintf(r->method, sizeof r->method, "%s", method);
        *con_cls = r;
        atomic_fetch_add(&s->active, 1);
        on_headers(s, r, url, method);
        return MHD_YES;
    }
    if (r->answered) { /* discard the rest of an upload we already refused */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->too_big || r->len + n > s->opt.max_body_bytes) {
            r->too_big = true;
            return MHD_YES;
        }
        if (r->len + n + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < r->len + n + 1)
                cap *= 2;
            char *b = ia__realloc(r->body, cap);
            if (!b)
                return MHD_NO;
            r->body = b;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload_data, n);
        r->len += n;
        r->body[r->len] = '\0';
        return MHD_YES;
    }
    if (r->suspended) { /* the engine or the pool finished our work */
        r->suspended = false;
        if (r->route >= SRV_ROUTE_MOUNT0)
            answer_deferred(r);
        else
            ia__srv_route_job_done(s, r);
    } else if (r->too_big) {
        char msg[80];
        snprintf(msg, sizeof msg, "the request body is over the %zu-byte limit", s->opt.max_body_bytes);
        early_error(r, 413, "%s", msg);
    } else if (r->route >= SRV_ROUTE_MOUNT0) {
        submit_mount(s, r, url, method);
    } else {
        ia__srv_route_run(s, r, r->route);
    }
    if (!r->answered && !r->suspended)
        early_error(r, 500, "internal error: the route gave no answer%s", "");
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    ia_server *s = cls;
    srv_request *r = *con_cls;
    (void)conn;
    if (!r)
        return;
    int status = r->answered ? r->status : 499; /* nginx's "client went away" */
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->answered && status < 400)
        status = 499;
    double secs = ia__now() - r->t0;
    ia__srv_metrics_request(&s->metrics, r->route, status, secs);
    if (ia__log_enabled(IA_LOG_DEBUG)) /* the access log: -v on the command line */
        ia__log(IA_LOG_DEBUG, "http: %s %s %d %.1f ms", r->method, s->metrics.route_name[r->route],
                status, secs * 1e3);
    ia__srv_route_cleanup(r);
    if (r->resp) /* resumed, but the daemon stopped before sending it */
        MHD_destroy_response(r->resp);
    ia__free(r->body);
    ia__free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->active, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    ia__log(IA_LOG_DEBUG, "http: %s", msg);
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT" (all interfaces). */
static ia_status parse_listen(const char *spec, struct sockaddr_storage *ss, bool *v6)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon[1] == '\0')
        return ia__error(IA_ERR_INVALID, "listen address '%s': expected HOST:PORT", spec);
    size_t hl = (size_t)(colon - spec);
    const char *h = spec;
    if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']')
        h++, hl -= 2;
    if (hl >= sizeof host)
        return ia__error(IA_ERR_INVALID, "listen address '%s': host name too long", spec);
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || port < 0 || port > 65535)
        return ia__error(IA_ERR_INVALID, "listen address '%s': port must be 0 to 65535", spec);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(hl ? host : NULL, colon + 1, &hints, &res);
    if (rc || !res)
        return ia__error(IA_ERR_INVALID, "listen address '%s': %s", spec, gai_strerror(rc));
    memset(ss, 0, sizeof *ss);
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return IA_OK;
}

ia_status ia_server_start(ia_server *s)
{
    ia__error_clear();
    if (!s)
        return ia__error(IA_ERR_INVALID, "ia_server_start: NULL server");
    if (atomic_load(&s->started))
        return ia__error(IA_ERR_INVALID, "ia_server_start: already started");
    struct sockaddr_storage ss;
    bool v6 = false;
    ia_status st = parse_listen(s->opt.listen, &ss, &v6);
    if (st)
        return st;
    unsigned limit = s->opt.max_connections;
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < limit + 64u) {
        limit = rl.rlim_cur > 128 ? (unsigned)rl.rlim_cur - 64 : 64;
        ia__log(s->max_conn_explicit ? IA_LOG_WARN : IA_LOG_INFO,
                "server: at most %u connections (open-file limit %llu)", limit,
                (unsigned long long)rl.rlim_cur);
    }
    /* As many handler threads as HTTP threads; as many requests in them as
     * in the embedding queue. */
    if (s->n_mounts && !s->pool.threads &&
        (st = ia__srv_pool_start(&s->pool, s->opt.http_threads, s->opt.max_concurrent_requests)))
        return st;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    s->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* first, or MHD prints on its own */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->opt.http_threads,
        MHD_OPTION_CONNECTION_TIMEOUT, s->opt.timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, limit,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_END);
    if (!s->mhd) {
        ia__srv_pool_stop(&s->pool);
        ia__srv_pool_close(&s->pool);
        return ia__error(IA_ERR_IO, "cannot listen on %s (in use, or not an address of this machine?)",
                         s->opt.listen);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    atomic_store(&s->started, true);
    ia__log(IA_LOG_INFO, "server: listening on %s (port %u)", s->opt.listen, s->port);
    return IA_OK;
}

uint16_t ia_server_port(const ia_server *s) { return s ? s->port : 0; }

void ia_server_shutdown(ia_server *s, double drain_s)
{
    if (!s || atomic_exchange(&s->stopped, true))
        return;
    atomic_store(&s->draining, true);
    if (s->mhd) {
        s->listen_fd = MHD_quiesce_daemon(s->mhd); /* no new connections */
        double until = ia__now() + drain_s;
        while (atomic_load(&s->active) > 0 && ia__now() < until) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    /* Finish what the pool and the queue hold (handlers still running are
     * told to give up); a request that now tries to get in is refused (503)
     * and resumed by its own handler. Both stay usable: the HTTP threads
     * still run. */
    atomic_store(&s->stopping, true);
    ia__srv_pool_stop(&s->pool);
    ia__srv_queue_stop(&s->queue);
    for (int i = 0; i < atomic_load(&s->n_models); i++)
        ia__srv_gen_stop(s->models[i].gen); /* cancels; streams end */
    if (s->mhd) {
        /* Let resumed connections write their answers. */
        double until = ia__now() + 2;
        while (atomic_load(&s->active) > 0 && ia__now() < until) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        MHD_stop_daemon(s->mhd); /* joins the HTTP threads */
        s->mhd = NULL;
        if (s->listen_fd >= 0)
            close(s->listen_fd);
        s->listen_fd = -1;
    }
    ia__log(IA_LOG_INFO, "server: stopped");
}

void ia_server_free(ia_server *s)
{
    if (!s)
        return;
    ia_server_shutdown(s, 30);
    for (int i = 0; i < atomic_load(&s->n_models); i++) {
        ia__srv_gen_free(s->models[i].gen);
        ia__lm_free(s->models[i].lm);
        ia_model_free(s->models[i].model);
        ia__free(s->models[i].name);
        if (s->models[i].model)
            ia__srv_calib_close(&s->models[i].calib);
    }
    for (int i = 0; i < s->n_mounts; i++)
        ia__free(s->mounts[i].prefix);
    /* No HTTP thread is left to use them. */
    ia__srv_pool_close(&s->pool);
    ia__srv_queue_close(&s->queue);
    ia__free(s->dispatch);
    ia__srv_metrics_close(&s->metrics);
    ia__free(s->listen);
    ia__free(s->api_key);
    ia__free(s);
}
