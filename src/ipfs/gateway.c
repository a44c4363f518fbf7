/*
 * The trustless gateway handler (see include/ipfs_accelerate/gateway.h).
 * A raw block is answered from memory. A CAR is written to an anonymous
 * temporary file first and only answered 200 once every block of it was
 * read and verified (a DAG the store holds only in part gets a 502 naming
 * the missing block, never a silently truncated CAR); then it is streamed
 * from that file. The server runs this handler off its HTTP threads and
 * gives it timeout_s: building a CAR stops once that is up.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ipfs_accelerate/gateway.h"
#include "ipfs-impl.h"

#define CT_RAW "application/vnd.ipld.raw"
#define CT_CAR "application/vnd.ipld.car; version=1; order=dfs; dups=n"

struct ia_gateway {
    ia_store *store;
    char peer_id[80];
    char addr[256];
};

/* An Ed25519 identity, kept in the home so the peer ID is stable; the
 * peer ID is the identity multihash of the protobuf PublicKey. */
static ia_status load_identity(ia_gateway *g)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/gateway-identity.key", ia_blockstore_home(ia_store_blockstore(g->store)));
    uint8_t priv[32];
    size_t plen = 0;
    char *data = NULL;
    size_t n = 0;
    if (!ia__read_file(path, &data, &n) && n == 32) {
        memcpy(priv, data, 32);
        plen = 32;
    }
    ia__free(data);
    EVP_PKEY *key = NULL;
    if (plen)
        key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, 32);
    if (!key) {
        EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
        if (!kc || EVP_PKEY_keygen_init(kc) <= 0 || EVP_PKEY_keygen(kc, &key) <= 0) {
            EVP_PKEY_CTX_free(kc);
            return ia__error(IA_ERR_IO, "cannot make an Ed25519 key for the gateway identity");
        }
        EVP_PKEY_CTX_free(kc);
        plen = 32;
        if (EVP_PKEY_get_raw_private_key(key, priv, &plen) == 1) {
            int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (fd >= 0) {
                if (write(fd, priv, 32) != 32)
                    ia__log(IA_LOG_WARN, "%s: could not save the gateway identity", path);
                close(fd);
            }
        }
    }
    uint8_t pub[32];
    size_t publen = sizeof pub;
    int ok = EVP_PKEY_get_raw_public_key(key, pub, &publen) == 1 && publen == 32;
    EVP_PKEY_free(key);
    if (!ok)
        return ia__error(IA_ERR_IO, "cannot read the gateway's public key");
    uint8_t mh[2 + 4 + 32] = {0x00, 36, 0x08, 0x01, 0x12, 0x20};
    memcpy(mh + 6, pub, 32);
    char txt[IA_CID_STR_MAX];
    ia_status st = ia__multibase_encode(IA_MULTIBASE_BASE58BTC, mh, sizeof mh, txt, sizeof txt);
    if (st)
        return st;
    snprintf(g->peer_id, sizeof g->peer_id, "%s", txt + 1);
    return IA_OK;
}

ia_status ia_gateway_new(ia_store *store, ia_gateway **out)
{
    ia__error_clear();
    if (!store || !out)
        return ia__error(IA_ERR_INVALID, "ia_gateway_new: NULL argument");
    ia_gateway *g = ia__calloc(1, sizeof *g);
    if (!g)
        return ia__error(IA_ERR_NOMEM, "gateway");
    g->store = store;
    ia_status st = load_identity(g);
    if (st) {
        ia__free(g);
        return st;
    }
    *out = g;
    return IA_OK;
}

void ia_gateway_free(ia_gateway *g) { ia__free(g); }

ia_status ia_gateway_set_address(ia_gateway *g, const char *multiaddr)
{
    ia__error_clear();
    if (!g || !multiaddr || strlen(multiaddr) >= sizeof g->addr)
        return ia__error(IA_ERR_INVALID, "ia_gateway_set_address: NULL argument or over %zu bytes",
                         sizeof g->addr - 1);
    snprintf(g->addr, sizeof g->addr, "%s", multiaddr);
    return IA_OK;
}

const char *ia_gateway_peer_id(const ia_gateway *g) { return g ? g->peer_id : NULL; }

ia_status ia_gateway_mount(ia_gateway *g, ia_server *s)
{
    ia__error_clear();
    if (!g || !s)
        return ia__error(IA_ERR_INVALID, "ia_gateway_mount: NULL argument");
    /* The server asks for its API key on every mount, these included. */
    ia_status st = ia_server_mount(s, "/ipfs/", ia_gateway_handle, g, 0);
    return st ? st : ia_server_mount(s, "/routing/v1/", ia_gateway_handle, g, 0);
}

static int text(ia_http_response *res, int status, const char *fmt, ...) IA_PRINTF(3, 4);
static int text(ia_http_response *res, int status, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof msg - 2)
        n = (int)sizeof msg - 2;
    msg[n++] = '\n';
    ia_http_respond(res, status, "text/plain; charset=utf-8", msg, (size_t)n);
    return 0;
}

/* A block source that records the CIDs it served (the path blocks). */
typedef struct rec_src {
    ia_block_source inner;
    ia_cid got[64];
    size_t n;
} rec_src;

static ia_status rec_get(void *ctx, const ia_cid *cid, const uint8_t **d, size_t *l)
{
    rec_src *r = ctx;
    ia_status st = r->inner.get(r->inner.ctx, cid, d, l);
    if (!st && r->n < IA_ARRAY_LEN(r->got))
        r->got[r->n++] = *cid;
    return st;
}

static void rec_release(void *ctx, const uint8_t *d)
{
    rec_src *r = ctx;
    if (r->inner.release)
        r->inner.release(r->inner.ctx, d);
}

/* CARs are spooled to an anonymous temporary file, complete and verified,
 * then streamed from it: memory stays flat whatever the DAG's size. */
typedef struct spool {
    FILE *f;
    const ia_http_request *req;
} spool;

static ia_status spool_write(void *ctx, const uint8_t *p, size_t n)
{
    spool *sp = ctx;
    if (ia_http_request_expired(sp->req)) /* the server answers 504 */
        return ia__error(IA_ERR_TIMEOUT, "gateway: the CAR took longer than the time limit");
    if (fwrite(p, 1, n, sp->f) != n)
        return ia__error(IA_ERR_IO, "gateway: spooling a CAR: %s", strerror(errno));
    return IA_OK;
}

static ssize_t spool_read(void *user, uint64_t pos, char *buf, size_t max)
{
    ssize_t r;
    do
        r = pread(fileno((FILE *)user), buf, max, (off_t)pos);
    while (r < 0 && errno == EINTR);
    return r;
}

static void spool_free(void *user) { fclose(user); }

static bool accepts(const char *accept, const char *type)
{
    return accept && strstr(accept, type) != NULL;
}

static void add_headers(ia_http_response *res, const char *etag, const char *path, bool car)
{
    ia_http_response_header(res, "Cache-Control", "public, max-age=29030400, immutable");
    ia_http_response_header(res, "X-Content-Type-Options", "nosniff");
    ia_http_response_header(res, "ETag", etag);
    ia_http_response_header(res, "X-Ipfs-Path", path);
    ia_http_response_header(res, "Vary", "Accept");
    if (car)
        ia_http_response_header(res, "Content-Disposition", "attachment");
}

static int serve_ipfs(ia_gateway *g, const ia_http_request *req, ia_http_response *res)
{
    const char *method = ia_http_request_method(req);
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        ia_http_response_header(res, "Allow", "GET, HEAD");
        return text(res, 405, "method %s not allowed: this gateway is read-only", method);
    }
    const char *path = ia_http_request_path(req);
    ia_cid root, target;
    const char *sub = "";
    if (ia_ipfs_ref_parse(path, &root, &sub))
        return text(res, 400, "%s", ia_errmsg());
    const char *fmt = ia_http_request_query(req, "format");
    const char *accept = ia_http_request_header(req, "Accept");
    bool car;
    if (fmt && !strcmp(fmt, "raw"))
        car = false;
    else if (fmt && !strcmp(fmt, "car"))
        car = true;
    else if (fmt)
        return text(res, 400, "format=%s is not supported (raw or car)", fmt);
    else if (accepts(accept, "application/vnd.ipld.raw"))
        car = false;
    else if (accepts(accept, "application/vnd.ipld.car"))
        car = true;
    else
        return text(res, 406, "this is a trustless gateway: ask for application/vnd.ipld.raw or "
                              "application/vnd.ipld.car (Accept header or ?format=raw|car)");
    if (car && accepts(accept, "application/vnd.ipld.car") &&
        (strstr(accept, "order=unk") == NULL && strstr(accept, "order=") != NULL &&
         strstr(accept, "order=dfs") == NULL))
        return text(res, 406, "only order=dfs CARs are produced");

    rec_src rs = {{0}, {{0}}, 0};
    ia_store_source(g->store, &rs.inner);
    ia_block_source src = {rec_get, rec_release, &rs};
    char cs[IA_CID_STR_MAX];
    if (ia_unixfs_resolve(&src, &root, sub, &target)) {
        return text(res, 404, "%s", ia_errmsg());
    }
    ia__buf body = {0};
    ia_status st;
    char etag[IA_CID_STR_MAX + 16];
    if (!car) {
        const uint8_t *d;
        size_t l;
        st = ia__block_get(&src, &target, &d, &l);
        if (st)
            return text(res, 404, "%s", ia_errmsg());
        st = ia__buf_put(&body, d, l);
        ia__block_release(&src, &target, d);
        snprintf(etag, sizeof etag, "\"%s.raw\"", ia_cid_str(&target, cs));
    } else {
        const char *scope_s = ia_http_request_query(req, "dag-scope");
        ia__dag_scope scope = IA_SCOPE_ALL;
        if (scope_s && !strcmp(scope_s, "entity"))
            scope = IA_SCOPE_ENTITY;
        else if (scope_s && !strcmp(scope_s, "block"))
            scope = IA_SCOPE_BLOCK;
        else if (scope_s && strcmp(scope_s, "all"))
            return text(res, 400, "dag-scope=%s is not supported (all, entity, block)", scope_s);
        uint8_t *probe = NULL;
        size_t pl = 0;
        if (ia_store_get(g->store, &target, &probe, &pl))
            return text(res, 404, "%s", ia_errmsg());
        ia__free(probe);
        rs.n = IA_MIN(rs.n, IA_ARRAY_LEN(rs.got));
        ia_block_source plain;
        ia_store_source(g->store, &plain);
        spool sp = {tmpfile(), req};
        if (!sp.f)
            return text(res, 500, "gateway: no temporary file for the CAR: %s", strerror(errno));
        st = ia__car_stream_ex(&plain, &root, rs.got, rs.n, &target, scope, spool_write, &sp, NULL);
        if (!st && fflush(sp.f))
            st = ia__error(IA_ERR_IO, "gateway: spooling a CAR: %s", strerror(errno));
        if (st) {
            fclose(sp.f);
            return text(res, st == IA_ERR_NOT_FOUND ? 502 : 500,
                        "cannot make the CAR of %s: %s", ia_cid_str(&target, cs), ia_errmsg());
        }
        long size = ftell(sp.f);
        snprintf(etag, sizeof etag, "\"%s.car.%s\"", ia_cid_str(&target, cs),
                 scope == IA_SCOPE_ALL ? "all" : scope == IA_SCOPE_ENTITY ? "entity" : "block");
        add_headers(res, etag, path, true);
        if (ia_http_respond_stream(res, 200, CT_CAR, (uint64_t)(size < 0 ? 0 : size), spool_read,
                                   sp.f, spool_free))
            fclose(sp.f);
        return 0;
    }
    if (st) {
        ia__buf_free(&body);
        return text(res, 500, "%s", ia_errmsg());
    }
    add_headers(res, etag, path, false);
    ia_http_respond(res, 200, CT_RAW, body.p ? (const void *)body.p : "", body.len);
    ia__buf_free(&body);
    return 0;
}

static int serve_routing(ia_gateway *g, const ia_http_request *req, ia_http_response *res)
{
    const char *path = ia_http_request_path(req);
    const char *pre = "/routing/v1/providers/";
    if (strncmp(path, pre, strlen(pre)))
        return text(res, 404, "only /routing/v1/providers/{cid} is served here");
    const char *method = ia_http_request_method(req);
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return text(res, 405, "method %s not allowed", method);
    ia_cid c;
    if (ia_cid_parse(path + strlen(pre), &c))
        return text(res, 400, "%s", ia_errmsg());
    if (!ia_blockstore_has(ia_store_blockstore(g->store), &c) || !g->addr[0])
        return text(res, 404, "no providers");
    char body[1024];
    int n = snprintf(body, sizeof body,
                     "{\"Providers\":[{\"Schema\":\"peer\",\"ID\":\"%s\",\"Addrs\":[\"%s\"],"
                     "\"Protocols\":[\"transport-ipfs-gateway-http\"]}]}",
                     g->peer_id, g->addr);
    ia_http_response_header(res, "Cache-Control", "public, max-age=300");
    ia_http_respond(res, 200, "application/json", body, (size_t)n);
    return 0;
}

void ia_gateway_handle(const ia_http_request *req, ia_http_response *res, void *gateway)
{
    ia_gateway *g = gateway;
    if (!req || !res || !g)
        return;
    const char *path = ia_http_request_path(req);
    if (!strncmp(path, "/ipfs/", 6))
        serve_ipfs(g, req, res);
    else if (!strncmp(path, "/routing/v1/", 12))
        serve_routing(g, req, res);
    else
        text(res, 404, "not found");
}
