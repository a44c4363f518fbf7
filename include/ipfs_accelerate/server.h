/*
 * The HTTP inference server: OpenAI (`POST /v1/embeddings`, `GET
 * /v1/models`) and text-embeddings-inference (`POST /embed`, `POST
 * /tokenize`, `GET /info`) APIs over one or more loaded models, with
 * `GET /health` and Prometheus `GET /metrics`, on libmicrohttpd.
 *
 * Embedding requests are parsed and tokenized on the HTTP threads, then
 * queued; one engine thread takes them in arrival order and coalesces
 * consecutive requests for the same model into one ia_model_embed_opts()
 * call under a token budget (max_batch_tokens). Beyond
 * max_concurrent_requests queued or running requests the answer is 429.
 *
 * Other subsystems (the IPFS gateway) serve a URL prefix through
 * ia_server_mount() with a small request/response interface that does not
 * expose the HTTP library. Their handlers run on threads of their own, so
 * a slow one holds no HTTP thread.
 *
 * Thread safety: ia_server_new/start/add_model/mount/shutdown/free are
 * called from one controlling thread; mounted handlers run on the server's
 * handler threads, several at once.
 */
#ifndef IPFS_ACCELERATE_SERVER_H
#define IPFS_ACCELERATE_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ia_server ia_server;

/* Every field's zero value is its default; size is the caller's sizeof
 * (IA_SERVER_OPTIONS_INIT; 0: this header's), so the struct can grow. */
typedef struct ia_server_options {
    size_t size;
    const char *listen;             /* "HOST:PORT" ("127.0.0.1:8080"; port 0:
                                       any free port, see ia_server_port);
                                       NULL: "127.0.0.1:8080" */
    size_t max_batch_tokens;        /* token budget of one coalesced engine
                                       call; 0: 16384 */
    size_t max_client_batch_size;   /* inputs per request, more: 413; 0: 128 */
    size_t max_concurrent_requests; /* queued + running embedding requests,
                                       more: 429; 0: 512 */
    size_t max_body_bytes;          /* request body limit, more: 413;
                                       0: 2000000 */
    unsigned timeout_s;             /* idle connection timeout, and the time
                                       a mounted handler has to answer;
                                       0: 30 */
    unsigned max_connections;       /* open connections; 0: 1000 (capped by
                                       the open-file limit) */
    unsigned http_threads;          /* HTTP worker threads, and as many
                                       threads for mounted handlers; 0: 2 */
    const char *api_key;            /* when set (non-empty), required as
                                       "Authorization: Bearer KEY" on every
                                       route but /health and /metrics */
    unsigned max_running_generations; /* per language model, decoded
                                       together in one batch; more wait;
                                       0: 16 */
    size_t kv_cache_bytes;          /* per language model: KV cache kept
                                       for running and finished requests
                                       (the prefix cache); 0: 1 GiB */
} ia_server_options;

#define IA_SERVER_OPTIONS_INIT {.size = sizeof(ia_server_options)}

/* Make a server (not yet listening). opt may be NULL for defaults; strings
 * are copied. *out is owned by the caller (ia_server_free). */
IA_API ia_status ia_server_new(const ia_server_options *opt, ia_server **out);

/* Bind and start serving. Until a model is added, /health answers 503 and
 * model routes 503. IA_ERR_INVALID names a malformed listen address;
 * IA_ERR_IO an address that cannot be bound. */
IA_API ia_status ia_server_start(ia_server *s);

/* The bound TCP port (after ia_server_start), e.g. when listening on :0. */
IA_API uint16_t ia_server_port(const ia_server *s);

/* Serve model m under `name` (the OpenAI "model" field; NULL: the base
 * name of its folder). The server takes ownership of m (freed by
 * ia_server_free, also on failure). A test inference runs first: on failure
 * the model is not served and the error says why. The first model added is
 * the default (TEI routes, requests without "model"). May be called before
 * or after ia_server_start. */
IA_API ia_status ia_server_add_model(ia_server *s, const char *name, ia_model *m);

/* Mark the server as still loading models (true) or done (false): while
 * loading, /health answers 503 even if some models are already served, so
 * a server started with several models reports healthy only once all are
 * in. Off by default. */
IA_API void ia_server_set_loading(ia_server *s, bool loading);

/* True once at least one model is served and every model's test inference
 * passed, no more are loading, and the server is not shutting down: what
 * /health reports. */
IA_API bool ia_server_healthy(const ia_server *s);

/* Graceful stop: stop accepting connections, answer new requests on open
 * connections with 503, finish queued and running requests (waiting at most
 * drain_s seconds for their responses to be sent; mounted handlers still
 * running then are told to give up, ia_http_request_expired), then close
 * everything. Idempotent. */
IA_API void ia_server_shutdown(ia_server *s, double drain_s);

/* Shut down (if running, with a 30 s drain) and free, models included.
 * NULL is a no-op. */
IA_API void ia_server_free(ia_server *s);

/* ---- Delegated routes ---------------------------------------------------
 * A handler serves every request whose path is `prefix` or starts with it
 * (prefix "/ipfs/" serves "/ipfs/bafy..."). It runs on one of the server's
 * handler threads (http_threads of them), not on an HTTP thread, so it may
 * block on disk; beyond max_concurrent_requests requests waiting for or in
 * a handler the answer is 429. It answers through exactly one
 * ia_http_respond*() call within timeout_s once the request is in; a
 * handler that does not answer produces a 500, one that answers late a 504
 * (503 when the server is stopping). Every mounted route requires the API
 * key when one is set. Request data is borrowed for the call. */
typedef struct ia_http_request ia_http_request;
typedef struct ia_http_response ia_http_response;

typedef void (*ia_http_handler_fn)(const ia_http_request *req, ia_http_response *res,
                                   void *user);

/* Kept so that existing callers build: every mount requires the API key. */
#define IA_SERVER_MOUNT_AUTH 1u

/* Mount fn at prefix (must start with '/'; at most 16 mounts). The longest
 * matching prefix wins; the built-in routes come first. flags: 0 (or
 * IA_SERVER_MOUNT_AUTH, the same); others are IA_ERR_INVALID. Call before
 * ia_server_start. */
IA_API ia_status ia_server_mount(ia_server *s, const char *prefix, ia_http_handler_fn fn,
                                 void *user, unsigned flags);

/* "GET", "HEAD", "POST", ... */
IA_API const char *ia_http_request_method(const ia_http_request *req);
/* The decoded URL path, without the query string. */
IA_API const char *ia_http_request_path(const ia_http_request *req);
/* A request header (case-insensitive name), or NULL. */
IA_API const char *ia_http_request_header(const ia_http_request *req, const char *name);
/* A decoded query argument, or NULL ("" for "?name" without a value). */
IA_API const char *ia_http_request_query(const ia_http_request *req, const char *name);
/* The request body (up to max_body_bytes); *len set, NULL when empty. */
IA_API const void *ia_http_request_body(const ia_http_request *req, size_t *len);
/* True once the handler's time (timeout_s) is up or the server is stopping:
 * a handler doing long work checks it and gives up, since the server then
 * answers 504 (503) itself and refuses the handler's answer. */
IA_API bool ia_http_request_expired(const ia_http_request *req);

/* Add a response header (before the ia_http_respond* call). */
IA_API ia_status ia_http_response_header(ia_http_response *res, const char *name,
                                         const char *value);
/* Answer with a copy of body[0..len). content_type may be NULL.
 * IA_ERR_TIMEOUT once ia_http_request_expired (nothing is sent). */
IA_API ia_status ia_http_respond(ia_http_response *res, int status, const char *content_type,
                                 const void *body, size_t len);

/* Streaming body: read(user, pos, buf, max) returns the number of bytes
 * written to buf (> 0), 0 at the end, or < 0 to abort the connection. It is
 * called on an HTTP thread whenever the client can take more, so it must
 * not block (read a file, not a network). size is the total length or
 * UINT64_MAX when unknown (chunked). free_user (may be NULL) is called once
 * when the response is done; on failure (IA_ERR_TIMEOUT once expired) user
 * stays the caller's. */
typedef ssize_t (*ia_http_read_fn)(void *user, uint64_t pos, char *buf, size_t max);
IA_API ia_status ia_http_respond_stream(ia_http_response *res, int status,
                                        const char *content_type, uint64_t size,
                                        ia_http_read_fn read, void *user,
                                        void (*free_user)(void *user));

#ifdef __cplusplus
}
#endif
#endif
