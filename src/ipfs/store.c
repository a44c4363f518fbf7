/*
 * The layered content store: memory cache, blockstore, kubo RPC, trustless
 * gateways (configured, then found through Delegated Routing V1). Every
 * block from outside is verified against its CID before it is used or
 * stored; a gateway that serves wrong bytes is dropped for the life of
 * the store and the next source tried. Requests are bounded in time and
 * retried with exponential backoff on timeouts, connection errors and 5xx.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ipfs_accelerate/car.h"
#include "ipfs_accelerate/store.h"
#include "ipfs-impl.h"

#define MAX_BLOCK_BYTES (4u << 20)
#define MAX_CAR_BYTES ((size_t)256 << 30)

typedef struct gateway {
    char *url;
    atomic_bool bad;          /* served wrong bytes once: never asked again */
    atomic_llong dead_until;  /* ms; unreachable or timing out: skipped until then */
    char why[200];            /* why it is bad or dead (under the store's mu) */
} gateway;

#define DEAD_MS 30000

static long long now_ms(void)
{
    return (long long)(ia__now() * 1000);
}

typedef struct mem_entry {
    ia_cid cid;
    uint8_t *data;
    size_t len;
} mem_entry;

struct ia_store {
    ia_blockstore *bs;
    char *kubo;
    gateway *gw;
    size_t n_gw;
    char **routers;
    size_t n_routers;
    double timeout;
    int retries, parallel;
    bool offline;
    atomic_llong kubo_dead_until; /* ms; kubo unreachable: skipped until then */
    char kubo_why[200];
    /* memory cache: FIFO ring of entries, map CID -> ring slot */
    pthread_mutex_t mu;
    ia__cidmap mem;
    mem_entry *ring;
    size_t ring_cap, ring_head, ring_n;
    size_t mem_bytes, mem_cap;
};

void ia_store_options_init(ia_store_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
}

static ia_status split_list(const char *s, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!s || !*s)
        return IA_OK;
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    char **v = ia__calloc(cap, sizeof *v);
    if (!v)
        return ia__error(IA_ERR_NOMEM, "URL list");
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        while (l && (p[0] == ' '))
            p++, l--;
        while (l && (p[l - 1] == ' ' || p[l - 1] == '/'))
            l--;
        if (l && !(v[*n] = ia__strndup(p, l)))
            return ia__error(IA_ERR_NOMEM, "URL list");
        if (l)
            (*n)++;
        p += l;
        while (*p && *p != ',')
            p++;
        if (*p == ',')
            p++;
    }
    *out = v;
    return IA_OK;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ia__free(v[i]);
    ia__free(v);
}

ia_status ia_store_open(const ia_store_options *o, ia_store **out)
{
    ia__error_clear();
    IA_NEED(out);
    ia_store_options opts;
    ia__opts_copy(&opts, sizeof opts, o);
    o = &opts;
    ia_store *s = ia__calloc(1, sizeof *s);
    if (!s)
        return ia__error(IA_ERR_NOMEM, "store");
    pthread_mutex_init(&s->mu, NULL);
    s->offline = o->offline;
    ia_status st = ia_blockstore_open(o->home, &s->bs);
    /* the configuration fills what the caller left unset */
    ia_config *owned = NULL;
    const ia_config *cfg = o->config;
    if (!st && !cfg && !o->offline) {
        st = ia_config_load(NULL, &owned);
        cfg = owned;
    }
    const char *kubo = o->kubo_rpc ? o->kubo_rpc : cfg ? ia_config_get(cfg, "ipfs.local_node") : NULL;
    const char *gws = o->gateways ? o->gateways : cfg ? ia_config_get(cfg, "ipfs.gateways") : NULL;
    const char *rts = o->routers ? o->routers : getenv("IPFS_ACCELERATE_ROUTERS");
    double t = cfg ? ia_config_get_seconds(cfg, "ipfs.timeout") : 0;
    int64_t par = cfg ? ia_config_get_int(cfg, "performance.parallel_requests") : 0;
    uint64_t mem = cfg ? ia_config_get_size(cfg, "performance.cache_size") : 0;
    s->timeout = o->timeout_s > 0 ? o->timeout_s : t > 0 ? t : 30;
    s->retries = o->retries == IA_STORE_NO_RETRIES ? 0 : o->retries > 0 ? o->retries : 2;
    s->parallel = o->parallel > 0 ? o->parallel : par > 0 ? (int)IA_MIN(par, 64) : 8;
    s->mem_cap = o->memory_bytes ? o->memory_bytes : mem ? (size_t)mem : (size_t)64 << 20;
    if (!st && kubo && *kubo) {
        size_t l = strlen(kubo);
        while (l && kubo[l - 1] == '/')
            l--;
        if (!(s->kubo = ia__strndup(kubo, l)))
            st = ia__error(IA_ERR_NOMEM, "store");
    }
    atomic_init(&s->kubo_dead_until, 0);
    char **g = NULL;
    size_t ng = 0;
    if (!st)
        st = split_list(gws, &g, &ng);
    if (!st && ng) {
        s->gw = ia__calloc(ng, sizeof *s->gw);
        if (!s->gw)
            st = ia__error(IA_ERR_NOMEM, "store");
        for (size_t i = 0; !st && i < ng; i++) {
            s->gw[i].url = g[i];
            g[i] = NULL;
            atomic_init(&s->gw[i].bad, false);
            atomic_init(&s->gw[i].dead_until, 0);
        }
        s->n_gw = ng;
    }
    free_list(g, ng);
    if (!st)
        st = split_list(rts, &s->routers, &s->n_routers);
    ia_config_free(owned);
    if (st) {
        ia_store_close(s);
        return st;
    }
    *out = s;
    return IA_OK;
}

void ia_store_close(ia_store *s)
{
    if (!s)
        return;
    ia_blockstore_close(s->bs);
    ia__free(s->kubo);
    for (size_t i = 0; i < s->n_gw; i++)
        ia__free(s->gw[i].url);
    ia__free(s->gw);
    free_list(s->routers, s->n_routers);
    for (size_t i = 0; i < s->ring_n; i++)
        ia__free(s->ring[(s->ring_head + i) % s->ring_cap].data);
    ia__free(s->ring);
    ia__cidmap_free(&s->mem);
    pthread_mutex_destroy(&s->mu);
    ia__free(s);
}

ia_blockstore *ia_store_blockstore(ia_store *s) { return s ? s->bs : NULL; }

bool ia_store_online(const ia_store *s)
{
    return s && !s->offline && (s->kubo || s->n_gw || s->n_routers);
}

/* Remember why a gateway is skipped, for the messages of later misses. */
static void gw_mark(ia_store *s, gateway *g, bool liar, const char *why)
{
    pthread_mutex_lock(&s->mu);
    snprintf(g->why, sizeof g->why, "%s", why);
    pthread_mutex_unlock(&s->mu);
    if (liar)
        atomic_store(&g->bad, true);
    else
        atomic_store(&g->dead_until, now_ms() + DEAD_MS);
}

static void gw_why(ia_store *s, gateway *g, char *out, size_t cap)
{
    pthread_mutex_lock(&s->mu);
    snprintf(out, cap, "%s", g->why);
    pthread_mutex_unlock(&s->mu);
}

/* ---- memory cache ---- */

static bool mem_get(ia_store *s, const ia_cid *cid, uint8_t **data, size_t *len)
{
    bool hit = false;
    pthread_mutex_lock(&s->mu);
    uint64_t slot;
    if (ia__cidmap_get(&s->mem, cid, &slot, NULL)) {
        mem_entry *e = &s->ring[slot];
        uint8_t *copy = ia__malloc(e->len);
        if (copy) {
            memcpy(copy, e->data, e->len);
            *data = copy;
            *len = e->len;
            hit = true;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return hit;
}

static void mem_evict_one(ia_store *s)
{
    mem_entry *e = &s->ring[s->ring_head];
    ia__cidmap_del(&s->mem, &e->cid);
    s->mem_bytes -= e->len;
    ia__free(e->data);
    e->data = NULL;
    s->ring_head = (s->ring_head + 1) % s->ring_cap;
    s->ring_n--;
}

static void mem_put(ia_store *s, const ia_cid *cid, const uint8_t *data, size_t len)
{
    if (len > s->mem_cap / 4)
        return;
    pthread_mutex_lock(&s->mu);
    if (ia__cidmap_get(&s->mem, cid, NULL, NULL))
        goto out;
    if (!s->ring_cap) {
        s->ring_cap = 4096;
        s->ring = ia__calloc(s->ring_cap, sizeof *s->ring);
        if (!s->ring) {
            s->ring_cap = 0;
            goto out;
        }
    }
    while (s->ring_n && (s->ring_n == s->ring_cap || s->mem_bytes + len > s->mem_cap))
        mem_evict_one(s);
    uint8_t *copy = ia__malloc(len);
    if (!copy)
        goto out;
    memcpy(copy, data, len);
    size_t slot = (s->ring_head + s->ring_n) % s->ring_cap;
    if (ia__cidmap_put(&s->mem, cid, slot, 0, NULL)) {
        ia__free(copy);
        goto out;
    }
    s->ring[slot] = (mem_entry){*cid, copy, len};
    s->ring_n++;
    s->mem_bytes += len;
out:
    pthread_mutex_unlock(&s->mu);
}

/* ---- remote sources ---- */

static void backoff(int attempt)
{
    struct timespec ts = {0, (long)(100000000L << (attempt < 4 ? attempt : 4))};
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec = ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
    }
    nanosleep(&ts, NULL);
}

static bool transient(ia_status st, long status)
{
    return st == IA_ERR_TIMEOUT || st == IA_ERR_IO || (st == IA_OK && status >= 500);
}

/* A request with retries on transient failures. */
static ia_status http_retry(ia_store *s, const char *method, const char *url, const char *accept,
                            const uint8_t *body, size_t body_len, const char *field,
                            size_t max_bytes, ia__http_resp *r)
{
    ia_status st = IA_OK;
    for (int attempt = 0; attempt <= s->retries; attempt++) {
        if (attempt)
            backoff(attempt - 1);
        st = ia__http(method, url, accept, body, body_len, field, s->timeout, max_bytes, r);
        if (!transient(st, r->status))
            return st;
        if (!st)
            ia__buf_free(&r->body);
    }
    if (!st)
        st = ia__error(IA_ERR_IO, "%s: HTTP %ld after %d tries", url, r->status, s->retries + 1);
    return st;
}

ia_status ia_kubo_block_get(const char *rpc, const ia_cid *cid, double timeout_s, uint8_t **data,
                            size_t *len)
{
    ia__error_clear();
    IA_NEED(rpc);
    IA_NEED(cid);
    IA_NEED(data);
    IA_NEED(len);
    char cs[IA_CID_STR_MAX], url[1024];
    snprintf(url, sizeof url, "%s/api/v0/block/get?arg=%s", rpc, ia_cid_str(cid, cs));
    ia__http_resp r = {0};
    ia_status st = ia__http("POST", url, NULL, NULL, 0, NULL, timeout_s, MAX_BLOCK_BYTES, &r);
    if (st)
        return st;
    if (r.status != 200) {
        st = ia__error(r.status == 500 || r.status == 404 ? IA_ERR_NOT_FOUND : IA_ERR_IO,
                       "kubo %s: block %s: HTTP %ld %.*s", rpc, cs, r.status,
                       (int)IA_MIN(r.body.len, 200), r.body.p ? (const char *)r.body.p : "");
        ia__buf_free(&r.body);
        return st;
    }
    if ((st = ia_cid_verify(cid, r.body.p, r.body.len))) {
        ia__buf_free(&r.body);
        return ia__error_wrap(st, "kubo %s", rpc);
    }
    if (!r.body.p && !(r.body.p = ia__malloc(1))) {
        return ia__error(IA_ERR_NOMEM, "block");
    }
    *data = r.body.p;
    *len = r.body.len;
    return IA_OK;
}

ia_status ia_kubo_block_put(const char *rpc, const ia_cid *cid, const uint8_t *data, size_t len,
                            double timeout_s)
{
    ia__error_clear();
    IA_NEED(rpc);
    IA_NEED(cid);
    if (!data && len)
        return ia__error(IA_ERR_INVALID, "%s: data is NULL with len %zu", __func__, len);
    char cs[IA_CID_STR_MAX], url[1024];
    const char *codec = ia_codec_name(cid->codec);
    if (!codec || cid->mh_code != IA_MH_SHA2_256)
        return ia__error(IA_ERR_UNSUPPORTED, "kubo block put: %s has an unsupported codec or hash",
                         ia_cid_str(cid, cs));
    ia_status st = ia_cid_verify(cid, data, len);
    if (st)
        return st;
    snprintf(url, sizeof url, "%s/api/v0/block/put?cid-codec=%s&mhtype=sha2-256&mhlen=32", rpc,
             codec);
    ia__http_resp r = {0};
    if ((st = ia__http("POST", url, NULL, data, len, "file", timeout_s, 1 << 16, &r)))
        return st;
    if (r.status != 200) {
        st = ia__error(IA_ERR_IO, "kubo %s: block put: HTTP %ld %.*s", rpc, r.status,
                       (int)IA_MIN(r.body.len, 200), r.body.p ? (const char *)r.body.p : "");
        ia__buf_free(&r.body);
        return st;
    }
    cJSON *j = cJSON_ParseWithLength((const char *)r.body.p, r.body.len);
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(j, "Key");
    ia_cid got;
    if (!cJSON_IsString(key) || ia_cid_parse(key->valuestring, &got))
        st = ia__error(IA_ERR_FORMAT, "kubo %s: block put: unexpected answer %.*s", rpc,
                       (int)IA_MIN(r.body.len, 200), (const char *)r.body.p);
    else if (got.codec != cid->codec || got.mh_len != cid->mh_len ||
             memcmp(got.digest, cid->digest, cid->mh_len))
        st = ia__error(IA_ERR_VERIFY, "kubo %s stored the block as %s, not %s", rpc,
                       key->valuestring, ia_cid_str(cid, cs));
    cJSON_Delete(j);
    ia__buf_free(&r.body);
    return st;
}

/* One block from a trustless gateway (?format=raw), verified. */
static ia_status gateway_block(ia_store *s, const char *base, const ia_cid *cid, uint8_t **data,
                               size_t *len, bool *lied)
{
    char cs[IA_CID_STR_MAX], url[1200];
    *lied = false;
    snprintf(url, sizeof url, "%s/ipfs/%s?format=raw", base, ia_cid_str(cid, cs));
    ia__http_resp r = {0};
    ia_status st = http_retry(s, "GET", url, "application/vnd.ipld.raw", NULL, 0, NULL,
                              MAX_BLOCK_BYTES, &r);
    if (st)
        return st;
    if (r.status != 200) {
        ia__buf_free(&r.body);
        return ia__error(IA_ERR_NOT_FOUND, "%s: HTTP %ld", url, r.status);
    }
    if ((st = ia_cid_verify(cid, r.body.p, r.body.len))) {
        ia__buf_free(&r.body);
        *lied = true;
        return ia__error(IA_ERR_VERIFY, "gateway %s served wrong bytes for %s", base, cs);
    }
    if (!r.body.p && !(r.body.p = ia__malloc(1)))
        return ia__error(IA_ERR_NOMEM, "block");
    *data = r.body.p;
    *len = r.body.len;
    return IA_OK;
}

/* Multiaddr of an HTTP(S) gateway provider to a base URL. */
static bool maddr_url(const char *ma, char *out, size_t cap)
{
    char host[256], proto[16];
    unsigned port;
    const char *fmt;
    if (sscanf(ma, "/ip4/%255[^/]/tcp/%u/%15s", host, &port, proto) == 3)
        fmt = "%s://%s:%u";
    else if (sscanf(ma, "/ip6/%255[^/]/tcp/%u/%15s", host, &port, proto) == 3)
        fmt = "%s://[%s]:%u";
    else if ((sscanf(ma, "/dns/%255[^/]/tcp/%u/%15s", host, &port, proto) == 3) ||
             (sscanf(ma, "/dns4/%255[^/]/tcp/%u/%15s", host, &port, proto) == 3) ||
             (sscanf(ma, "/dns6/%255[^/]/tcp/%u/%15s", host, &port, proto) == 3))
        fmt = "%s://%s:%u";
    else
        return false;
    const char *scheme;
    if (!strcmp(proto, "http"))
        scheme = "http";
    else if (!strcmp(proto, "https") || !strncmp(proto, "tls", 3))
        scheme = "https";
    else
        return false;
    snprintf(out, cap, fmt, scheme, host, port);
    return true;
}

/* Ask the routers for HTTP gateway providers of cid; calls try for each
 * until it returns true. */
static ia_status routed_gateways(ia_store *s, const ia_cid *cid,
                                 bool (*try_gw)(void *ctx, const char *url), void *ctx)
{
    char cs[IA_CID_STR_MAX], url[1200];
    ia_cid v1;
    ia_cid_to_v1(cid, &v1);
    ia_cid_str(&v1, cs);
    for (size_t i = 0; i < s->n_routers; i++) {
        snprintf(url, sizeof url, "%s/routing/v1/providers/%s", s->routers[i], cs);
        ia__http_resp r = {0};
        if (http_retry(s, "GET", url, "application/json", NULL, 0, NULL, 1 << 20, &r))
            continue;
        if (r.status == 200) {
            cJSON *j = cJSON_ParseWithLength((const char *)r.body.p, r.body.len);
            const cJSON *provs = cJSON_GetObjectItemCaseSensitive(j, "Providers"), *p;
            bool done = false;
            cJSON_ArrayForEach(p, provs)
            {
                const cJSON *addrs = cJSON_GetObjectItemCaseSensitive(p, "Addrs"), *a;
                cJSON_ArrayForEach(a, addrs)
                {
                    char base[600];
                    if (!done && cJSON_IsString(a) && maddr_url(a->valuestring, base, sizeof base))
                        done = try_gw(ctx, base);
                }
            }
            cJSON_Delete(j);
            ia__buf_free(&r.body);
            if (done)
                return IA_OK;
        } else {
            ia__buf_free(&r.body);
        }
    }
    return IA_ERR_NOT_FOUND;
}

typedef struct routed_try {
    ia_store *s;
    const ia_cid *cid;
    uint8_t *data;
    size_t len;
} routed_try;

static bool try_routed(void *ctx, const char *url)
{
    routed_try *t = ctx;
    bool lied;
    if (!gateway_block(t->s, url, t->cid, &t->data, &t->len, &lied))
        return true;
    if (lied)
        ia__log(IA_LOG_WARN, "%s", ia_errmsg());
    return false;
}

static void keep(ia_store *s, const ia_cid *cid, const uint8_t *data, size_t len)
{
    mem_put(s, cid, data, len);
    if (ia_blockstore_put(s->bs, cid, data, len))
        ia__log(IA_LOG_WARN, "could not store a fetched block: %s", ia_errmsg());
}

ia_status ia_store_get(ia_store *s, const ia_cid *cid, uint8_t **data, size_t *len)
{
    ia__error_clear();
    IA_NEED(s);
    IA_NEED(cid);
    IA_NEED(data);
    IA_NEED(len);
    char cs[IA_CID_STR_MAX];
    ia_cid_str(cid, cs);
    if (mem_get(s, cid, data, len))
        return IA_OK;
    ia_status st = ia_blockstore_get(s->bs, cid, data, len);
    if (!st) {
        mem_put(s, cid, *data, *len);
        return IA_OK;
    }
    if (st != IA_ERR_NOT_FOUND && st != IA_ERR_VERIFY)
        return st;
    if (s->offline)
        return ia__error(IA_ERR_NOT_FOUND, "block %s is not in the blockstore (offline)", cs);
    char tried[1400] = "blockstore";
    size_t tl = strlen(tried);
    if (s->kubo && atomic_load(&s->kubo_dead_until) > now_ms()) {
        pthread_mutex_lock(&s->mu);
        tl += (size_t)snprintf(tried + tl, sizeof tried - tl, "; kubo RPC %s skipped (unreachable: %s)",
                               s->kubo, s->kubo_why);
        pthread_mutex_unlock(&s->mu);
    } else if (s->kubo) {
        st = IA_ERR_IO;
        for (int attempt = 0; attempt <= s->retries && st; attempt++) {
            if (attempt)
                backoff(attempt - 1);
            st = ia_kubo_block_get(s->kubo, cid, s->timeout, data, len);
            if (st == IA_ERR_NOT_FOUND || st == IA_ERR_VERIFY)
                break;
        }
        if (!st) {
            keep(s, cid, *data, *len);
            return IA_OK;
        }
        if (st == IA_ERR_IO || st == IA_ERR_TIMEOUT) {
            pthread_mutex_lock(&s->mu);
            snprintf(s->kubo_why, sizeof s->kubo_why, "%s", ia_errmsg());
            pthread_mutex_unlock(&s->mu);
            atomic_store(&s->kubo_dead_until, now_ms() + DEAD_MS);
        }
        ia__log(IA_LOG_DEBUG, "kubo: %s", ia_errmsg());
        tl += (size_t)snprintf(tried + tl, sizeof tried - tl, "; kubo RPC: %s", ia_errmsg());
    }
    for (size_t i = 0; i < s->n_gw; i++) {
        gateway *g = &s->gw[i];
        bool liar = atomic_load(&g->bad);
        if (liar || atomic_load(&g->dead_until) > now_ms()) {
            char why[200];
            gw_why(s, g, why, sizeof why);
            if (tl < sizeof tried)
                tl += (size_t)snprintf(tried + tl, sizeof tried - tl, "; %s skipped (%s: %s)",
                                       g->url, liar ? "it served wrong bytes" : "unreachable",
                                       why);
            continue;
        }
        bool lied;
        st = gateway_block(s, g->url, cid, data, len, &lied);
        if (!st) {
            keep(s, cid, *data, *len);
            return IA_OK;
        }
        if (lied) {
            gw_mark(s, g, true, ia_errmsg());
            ia__log(IA_LOG_WARN, "%s; not asking it again", ia_errmsg());
        } else {
            if (st == IA_ERR_TIMEOUT || st == IA_ERR_IO)
                gw_mark(s, g, false, ia_errmsg());
            ia__log(IA_LOG_DEBUG, "%s", ia_errmsg());
        }
        if (tl < sizeof tried)
            tl += (size_t)snprintf(tried + tl, sizeof tried - tl, "; %s", ia_errmsg());
    }
    if (s->n_routers) {
        routed_try t = {s, cid, NULL, 0};
        if (!routed_gateways(s, cid, try_routed, &t)) {
            *data = t.data;
            *len = t.len;
            keep(s, cid, *data, *len);
            return IA_OK;
        }
        if (tl < sizeof tried)
            tl += (size_t)snprintf(tried + tl, sizeof tried - tl, "; providers from %zu router(s)",
                                   s->n_routers);
    }
    return ia__error(IA_ERR_NOT_FOUND, "block %s not found (tried %.900s)", cs, tried);
}

static ia_status src_get(void *ctx, const ia_cid *cid, const uint8_t **data, size_t *len)
{
    uint8_t *d;
    ia_status st = ia_store_get(ctx, cid, &d, len);
    if (!st)
        *data = d;
    return st;
}

static void src_release(void *ctx, const uint8_t *data)
{
    (void)ctx;
    ia__free((void *)data);
}

void ia_store_source(ia_store *s, ia_block_source *src)
{
    /* A NULL s still gives a source; its gets fail with IA_ERR_INVALID. */
    if (!src)
        return;
    src->get = src_get;
    src->release = src_release;
    src->ctx = s;
}

/* ---- whole DAGs ---- */

/* Try one gateway's CAR of the DAG; keeps every verified block. The CAR
 * goes to an anonymous temporary file, so memory stays flat. */
static void fetch_car(ia_store *s, gateway *g, const ia_cid *root, uint64_t *n_new)
{
    char cs[IA_CID_STR_MAX], url[1200];
    snprintf(url, sizeof url, "%s/ipfs/%s?format=car&dag-scope=all", g->url, ia_cid_str(root, cs));
    ia__http_resp r = {0};
    memset(&r, 0, sizeof r);
    if (!(r.file = tmpfile())) {
        ia__log(IA_LOG_WARN, "no temporary file for a CAR: %s", strerror(errno));
        return;
    }
    ia_status st = http_retry(s, "GET", url, "application/vnd.ipld.car;version=1;order=dfs;dups=n",
                              NULL, 0, NULL, MAX_CAR_BYTES, &r);
    if (st == IA_ERR_TIMEOUT || st == IA_ERR_IO)
        gw_mark(s, g, false, ia_errmsg());
    long size = st || r.status != 200 || fflush(r.file) ? -1 : ftell(r.file);
    void *map = size > 0 ? mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fileno(r.file), 0)
                         : MAP_FAILED;
    ia_car_reader *car = NULL;
    if (map != MAP_FAILED && ia_car_open_mem(map, (size_t)size, &car))
        ia__log(IA_LOG_WARN, "gateway %s: bad CAR for %s: %s", g->url, cs, ia_errmsg());
    for (; car;) {
        ia_cid c;
        const uint8_t *d;
        size_t l;
        bool done;
        st = ia_car_next(car, &c, &d, &l, &done);
        if (st == IA_ERR_VERIFY) {
            char why[300];
            snprintf(why, sizeof why, "a wrong block in a CAR: %s", ia_errmsg());
            gw_mark(s, g, true, why);
            ia__log(IA_LOG_WARN, "gateway %s served wrong bytes (%s); not asking it again", g->url, why);
        }
        if (st || done)
            break;
        if (!ia_blockstore_has(s->bs, &c) && !ia_blockstore_put(s->bs, &c, d, l))
            (*n_new)++;
    }
    ia_car_close(car);
    if (map != MAP_FAILED)
        munmap(map, (size_t)size);
    fclose(r.file);
}

typedef struct frontier {
    ia_cid *c;
    size_t n, cap;
    ia__cidmap *seen;
} frontier;

static ia_status push_new(void *ctx, const ia_cid *cid)
{
    frontier *f = ctx;
    bool existed;
    if (cid->mh_code == IA_MH_IDENTITY)
        return IA_OK;
    ia_status st = ia__cidmap_put(f->seen, cid, 0, 0, &existed);
    if (st || existed)
        return st;
    ia_cid *nc = ia__grow(f->c, f->n, &f->cap, sizeof *nc, 64);
    if (!nc)
        return ia__error(IA_ERR_NOMEM, "DAG walk");
    f->c = nc;
    f->c[f->n++] = *cid;
    return IA_OK;
}

typedef struct level_job {
    ia_store *s;
    frontier *cur;
    frontier *next;
    atomic_size_t idx;
    atomic_ullong fetched;
    pthread_mutex_t mu;
    ia_status st;
    char err[1024];
} level_job;

static void *level_worker(void *arg)
{
    level_job *j = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&j->idx, 1);
        if (i >= j->cur->n)
            break;
        const ia_cid *c = &j->cur->c[i];
        bool local = ia_blockstore_has(j->s->bs, c);
        uint8_t *d;
        size_t l;
        ia_status st = ia_store_get(j->s, c, &d, &l);
        pthread_mutex_lock(&j->mu);
        if (st) {
            if (!j->st) {
                j->st = st;
                snprintf(j->err, sizeof j->err, "%s", ia_errmsg());
            }
        } else {
            if (!local)
                atomic_fetch_add(&j->fetched, 1);
            st = ia__block_links(c, d, l, push_new, j->next);
            if (st == IA_ERR_UNSUPPORTED)
                st = IA_OK;
            if (st && !j->st) {
                j->st = st;
                snprintf(j->err, sizeof j->err, "%s", ia_errmsg());
            }
            ia__free(d);
        }
        pthread_mutex_unlock(&j->mu);
        if (j->st)
            break;
    }
    return NULL;
}

ia_status ia_store_fetch_dag(ia_store *s, const ia_cid *root, uint64_t *n_fetched)
{
    ia__error_clear();
    IA_NEED(s);
    IA_NEED(root);
    uint64_t n_car = 0;
    if (!s->offline && !ia_blockstore_has(s->bs, root)) {
        for (size_t i = 0; i < s->n_gw && !ia_blockstore_has(s->bs, root); i++)
            if (!atomic_load(&s->gw[i].bad) && atomic_load(&s->gw[i].dead_until) <= now_ms())
                fetch_car(s, &s->gw[i], root, &n_car);
    }
    ia__cidmap seen = {0};
    frontier cur = {NULL, 0, 0, &seen}, next = {NULL, 0, 0, &seen};
    ia_status st = push_new(&cur, root);
    uint64_t fetched = n_car;
    while (!st && cur.n) {
        level_job j;
        memset(&j, 0, sizeof j);
        j.s = s;
        j.cur = &cur;
        j.next = &next;
        atomic_init(&j.idx, 0);
        atomic_init(&j.fetched, 0);
        pthread_mutex_init(&j.mu, NULL);
        size_t nt = IA_MIN((size_t)s->parallel, cur.n);
        pthread_t th[64];
        nt = IA_MIN(nt, IA_ARRAY_LEN(th));
        size_t started = 0;
        for (size_t t = 1; t < nt; t++)
            if (!pthread_create(&th[started], NULL, level_worker, &j))
                started++;
        level_worker(&j);
        for (size_t t = 0; t < started; t++)
            pthread_join(th[t], NULL);
        pthread_mutex_destroy(&j.mu);
        fetched += atomic_load(&j.fetched);
        if (j.st) {
            st = ia__error(j.st, "%s", j.err);
            break;
        }
        frontier tmp = cur;
        cur = next;
        next = tmp;
        next.n = 0;
    }
    ia__free(cur.c);
    ia__free(next.c);
    ia__cidmap_free(&seen);
    if (n_fetched)
        *n_fetched = fetched;
    return st;
}

ia_status ia_ipfs_ref_parse(const char *ref, ia_cid *cid, const char **subpath)
{
    ia__error_clear();
    IA_NEED(ref);
    IA_NEED(cid);
    const char *p = ref;
    if (!strncmp(p, "ipfs://", 7))
        p += 7;
    else if (!strncmp(p, "/ipfs/", 6))
        p += 6;
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    char buf[IA_CID_STR_MAX];
    if (n == 0 || n >= sizeof buf)
        return ia__error(IA_ERR_INVALID, "\"%s\" is not an IPFS reference (ipfs://CID, /ipfs/CID or CID)", ref);
    memcpy(buf, p, n);
    buf[n] = 0;
    ia_status st = ia_cid_parse(buf, cid);
    if (st)
        return ia__error_wrap(st, "IPFS reference \"%s\"", ref);
    if (subpath) {
        const char *r = p + n;
        while (*r == '/')
            r++;
        *subpath = r;
    }
    return IA_OK;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

ia_status ia_store_materialize(ia_store *s, const ia_cid *root, char **path)
{
    ia__error_clear();
    IA_NEED(s);
    IA_NEED(root);
    IA_NEED(path);
    char cs[IA_CID_STR_MAX], dir[4096], final[4300], tmp[4400];
    ia_cid v1;
    ia_cid_to_v1(root, &v1);
    ia_cid_str(&v1, cs);
    snprintf(dir, sizeof dir, "%s/materialized", ia_blockstore_home(s->bs));
    snprintf(final, sizeof final, "%s/%s", dir, cs);
    if (mkdir(dir, 0755) && errno != EEXIST)
        return ia__error(IA_ERR_IO, "%s: %s", dir, strerror(errno));
    struct stat sb;
    if (stat(final, &sb)) {
        ia_status st = ia_store_fetch_dag(s, root, NULL);
        if (st)
            return ia__error_wrap(st, "fetching %s", cs);
        snprintf(tmp, sizeof tmp, "%s/.tmp-%ld-%s", dir, (long)getpid(), cs);
        ia_block_source src;
        ia_store_source(s, &src);
        st = ia_unixfs_get(&src, root, tmp);
        if (!st && rename(tmp, final) && errno != ENOTEMPTY && errno != EEXIST)
            st = ia__error(IA_ERR_IO, "%s: %s", final, strerror(errno));
        /* a concurrent materialization won, or ours failed: drop ours */
        if ((st || ia__file_exists(tmp)) && nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS) && !st)
            st = ia__error(IA_ERR_IO, "%s: cannot remove", tmp);
        if (st)
            return st;
    }
    if (!(*path = ia__strdup(final)))
        return ia__error(IA_ERR_NOMEM, "path");
    return IA_OK;
}

bool ia_ipfs_is_ref(const char *ref)
{
    return ref && (!strncmp(ref, "ipfs://", 7) || !strncmp(ref, "/ipfs/", 6));
}

ia_status ia_ipfs_materialize_ref(const char *ref, char **path)
{
    ia__error_clear();
    IA_NEED(ref);
    IA_NEED(path);
    ia_cid root, target;
    const char *sub;
    ia_status st = ia_ipfs_ref_parse(ref, &root, &sub);
    if (st)
        return st;
    ia_store *s;
    if ((st = ia_store_open(NULL, &s)))
        return st;
    ia_block_source src;
    ia_store_source(s, &src);
    st = ia_unixfs_resolve(&src, &root, sub, &target);
    if (!st)
        st = ia_store_materialize(s, &target, path);
    ia_store_close(s);
    return st ? ia__error_wrap(st, "%s", ref) : IA_OK;
}
