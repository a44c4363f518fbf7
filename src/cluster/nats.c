/*
 * The cluster over NATS JetStream (cluster-impl.h has the stream and
 * subject map): the connection and the streams it makes, the worker loop,
 * the submitter's jobs and `cluster status`. Built only when libnats is
 * found; nats-none.c stands in otherwise.
 *
 * Delivery is at least once and results are idempotent: a worker stores
 * the result (waiting for JetStream's ack) before it acks the task, so a
 * crash between the two redelivers a task whose result exists, which the
 * next worker only acks. Results are keyed by the shard's content hash, so
 * a second copy of a result is the same bytes under the same key.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <nats/nats.h>

#include "cluster/cluster-impl.h"
#include "core/core-impl.h"
#include "ipfs_accelerate/store.h"
#include "model/model-impl.h"

#define NS_PER_S 1000000000LL
#define WORKER_TTL_S 30    /* an advert outlives its worker by this much */
#define ADVERT_EVERY_S 2.0 /* how often a worker refreshes its advert */
#define LIVE_S 6.0         /* an advert newer than this is a live worker (three adverts) */
#define PROVIDERS_EVERY_S 1.0 /* a submitter's view of who holds which model is at most this old */
#define FETCH_RETRY_MS 500 /* a task whose model could not be fetched comes back after this */
#define MAX_SLOTS 8        /* models a worker holds at most */
#define UNLOAD_IDLE_S 2.0  /* a model taken up is unloaded for another only after this long unused */
#define SPREAD_EVERY_S 2.0 /* how often an idle worker with room looks for a model whose tasks wait */
#define SPREAD_BACKOFF_S 30.0 /* a model that could not be taken up is not tried again for this long */
#define PROBE_EVERY_S 0.1  /* a busy worker asks a consumer for its waiting tasks at most this often */
#define MAX_SOURCES (MAX_SLOTS * 2 * IA_CLUSTER_PRIORITIES + IA_CLUSTER_PRIORITIES)
#define IDLE_WAIT_MS 500   /* an idle worker's long poll on level 0; higher levels are looked at after it */
#define SWEEP_S 5.0        /* how often a level above 0 is fetched from unasked (its redeliveries) */
#define DEFAULT_MAX_TASKS 100000
#define DEFAULT_MAX_TASK_BYTES (1LL << 30)

#define DEFAULT_CACHE_BYTES (64LL << 20)
#define DEFAULT_DISK_BYTES (1LL << 30)
#define DEFAULT_RESULT_TTL_S 86400.0
#define DEFAULT_RESULT_MAX_BYTES (1LL << 30)
#define CACHE_MAX_ENTRIES 4096 /* the memory tier is searched linearly: keep it short */
#define REPORT_EVERY_S 1.0     /* a submitter's counters, to ia_clients, at most this often */

/* One result in the memory tier: rows x dim floats, most recent first. */
typedef struct cached {
    struct cached *prev, *next;
    char id[IA_CLUSTER_ID_LEN + 1];
    float *vecs;
    size_t n;
    int dim;
    ia_cluster_provenance prov;
} cached;

struct ia_cluster {
    natsConnection *nc;
    jsCtx *js;
    kvStore *workers, *clients;
    char url[512];
    char name[160]; /* this process's key in ia_clients */
    /* the memory tier and the counters, under lock */
    pthread_mutex_t lock;
    cached *head, *tail;
    size_t entries, bytes, max_bytes;
    unsigned long hits_memory, hits_cluster, misses, hits_disk;
    char disk[1024];            /* the disk tier's folder ("": none) */
    size_t disk_max, disk_bytes;
    double reported;       /* when the counters were last put in ia_clients */
    unsigned long changes; /* counted since */
    pthread_cond_t wake;   /* the reporter thread's */
    pthread_t reporter;
    bool reporting, quit;
    /* which models live workers hold (their CIDs), as last read */
    pthread_mutex_t prov_lock;
    char (*prov)[IA_CID_STR_MAX];
    size_t n_prov;
    double prov_at;
};

/* A copy of task id's result from this process's memory, moved to the
 * front; false if it is not there. */
static bool cache_get(ia_cluster *c, const char *id, float **vecs, size_t *n, int *dim, ia_cluster_provenance *prov)
{
    bool hit = false;
    pthread_mutex_lock(&c->lock);
    for (cached *e = c->head; e; e = e->next) {
        if (memcmp(e->id, id, IA_CLUSTER_ID_LEN))
            continue;
        size_t bytes = e->n * (size_t)e->dim * sizeof *e->vecs;
        float *v = ia__malloc(bytes ? bytes : 1);
        if (v) {
            memcpy(v, e->vecs, bytes);
            *vecs = v;
            *n = e->n;
            *dim = e->dim;
            if (prov)
                *prov = e->prov;
            hit = true;
            if (e != c->head) { /* most recently used first */
                e->prev->next = e->next;
                if (e->next)
                    e->next->prev = e->prev;
                else
                    c->tail = e->prev;
                e->prev = NULL;
                e->next = c->head;
                c->head->prev = e;
                c->head = e;
            }
        }
        break;
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

static bool cache_has(ia_cluster *c, const char *id)
{
    pthread_mutex_lock(&c->lock);
    cached *e = c->head;
    while (e && memcmp(e->id, id, IA_CLUSTER_ID_LEN))
        e = e->next;
    pthread_mutex_unlock(&c->lock);
    return e != NULL;
}

/* Keep a copy of a result; the least recently used go beyond the bound. */
static void cache_put(ia_cluster *c, const char *id, const float *vecs, size_t n, int dim,
                      const ia_cluster_provenance *prov)
{
    size_t bytes = n * (size_t)dim * sizeof *vecs;
    if (!c->max_bytes || bytes > c->max_bytes || cache_has(c, id))
        return;
    cached *e = ia__calloc(1, sizeof *e);
    if (!e || !(e->vecs = ia__malloc(bytes ? bytes : 1))) {
        ia__free(e);
        return; /* a cache: nothing lost but the copy */
    }
    memcpy(e->id, id, IA_CLUSTER_ID_LEN);
    memcpy(e->vecs, vecs, bytes);
    e->n = n;
    e->dim = dim;
    if (prov)
        e->prov = *prov;
    pthread_mutex_lock(&c->lock);
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
    c->entries++;
    c->bytes += bytes;
    while (c->tail && c->tail != e && (c->bytes > c->max_bytes || c->entries > CACHE_MAX_ENTRIES)) {
        cached *old = c->tail;
        c->tail = old->prev;
        c->tail->next = NULL;
        c->entries--;
        c->bytes -= old->n * (size_t)old->dim * sizeof *old->vecs;
        ia__free(old->vecs);
        ia__free(old);
    }
    pthread_mutex_unlock(&c->lock);
}


/* ---- the disk tier: results as files, <dir>/<id[0..1]>/<id> ---- */

/* A file: "IAD1", three (u32 length, bytes) strings (the provenance:
 * worker, backend, precision), then the result body exactly as stored in
 * the bucket. Written to a temporary name and renamed: a reader sees a
 * whole file or none. A file's mtime is its last use: the least recently
 * used go first beyond the bound. */
static void disk_path(const ia_cluster *c, const char *id, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%.2s/%s", c->disk, id, id);
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* The stored body of result id (ia__free), and who computed it. */
static bool disk_get(ia_cluster *c, const char *id, uint8_t **body, size_t *len, ia_cluster_provenance *prov)
{
    if (!c->disk[0])
        return false;
    char path[1200];
    disk_path(c, id, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    uint8_t *b = NULL;
    size_t n = 0;
    bool ok = false;
    if (!fseek(f, 0, SEEK_END)) {
        long size = ftell(f);
        if (size >= 16 && size < (1L << 30) && !fseek(f, 0, SEEK_SET) && (b = ia__malloc((size_t)size)) &&
            fread(b, 1, (size_t)size, f) == (size_t)size)
            n = (size_t)size;
    }
    fclose(f);
    size_t off = 4;
    char *fields[3] = {prov->worker, prov->backend, prov->precision};
    size_t caps[3] = {sizeof prov->worker, sizeof prov->backend, sizeof prov->precision};
    if (n && !memcmp(b, "IAD1", 4)) {
        ok = true;
        for (int k = 0; k < 3 && ok; k++) {
            uint32_t l = off + 4 <= n ? rd32(b + off) : UINT32_MAX;
            ok = l < caps[k] && off + 4 + l <= n;
            if (ok) {
                memcpy(fields[k], b + off + 4, l);
                fields[k][l] = '\0';
                off += 4 + l;
            }
        }
    }
    if (!ok || n - off < 12 || memcmp(b + off, "IAR1", 4)) { /* not ours, or damaged: a miss */
        ia__free(b);
        return false;
    }
    memmove(b, b + off, n - off);
    *body = b;
    *len = n - off;
    utimensat(AT_FDCWD, path, NULL, 0); /* used now */
    return true;
}

typedef struct disk_file {
    char path[1200];
    time_t mtime;
    off_t size;
} disk_file;

static int by_mtime(const void *a, const void *b)
{
    const disk_file *x = a, *y = b;
    return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/* The files of the tier (their paths, times and sizes; *n of them, the
 * caller's) and their total size. */
static disk_file *disk_scan(ia_cluster *c, size_t *n, size_t *total)
{
    disk_file *files = NULL;
    size_t cap = 0;
    *n = *total = 0;
    DIR *top = opendir(c->disk);
    struct dirent *d;
    while (top && (d = readdir(top))) {
        if (strlen(d->d_name) != 2 || d->d_name[0] == '.')
            continue;
        char sub[1100];
        snprintf(sub, sizeof sub, "%s/%s", c->disk, d->d_name);
        DIR *dd = opendir(sub);
        struct dirent *e;
        while (dd && (e = readdir(dd))) {
            struct stat sb;
            disk_file f;
            snprintf(f.path, sizeof f.path, "%s/%s", sub, e->d_name);
            if (e->d_name[0] == '.' || stat(f.path, &sb) || !S_ISREG(sb.st_mode))
                continue;
            f.mtime = sb.st_mtime;
            f.size = sb.st_size;
            disk_file *g = ia__grow(files, *n, &cap, sizeof *files, 256);
            if (!g)
                break;
            files = g;
            files[(*n)++] = f;
            *total += (size_t)sb.st_size;
        }
        if (dd)
            closedir(dd);
    }
    if (top)
        closedir(top);
    return files;
}

/* Beyond the bound: the least recently used files go until the tier holds
 * at most 90 % of it (so eviction is not paid on every write). */
static void disk_evict(ia_cluster *c)
{
    size_t n, total;
    disk_file *files = disk_scan(c, &n, &total);
    qsort(files, n, sizeof *files, by_mtime);
    size_t goal = c->disk_max / 10 * 9;
    for (size_t i = 0; i < n && total > goal; i++)
        if (!unlink(files[i].path))
            total -= (size_t)files[i].size;
    ia__free(files);
    pthread_mutex_lock(&c->lock);
    c->disk_bytes = total;
    pthread_mutex_unlock(&c->lock);
}

static void disk_put(ia_cluster *c, const char *id, const uint8_t *body, size_t len, const ia_cluster_provenance *prov)
{
    if (!c->disk[0] || len + 256 > c->disk_max)
        return;
    char path[1200], tmp[1300], dir[1100];
    disk_path(c, id, path, sizeof path);
    if (!access(path, F_OK))
        return; /* the same bytes are there */
    snprintf(dir, sizeof dir, "%s/%.2s", c->disk, id);
    if (mkdir(dir, 0755) && errno != EEXIST)
        return; /* a cache: the copy is lost, nothing else */
    snprintf(tmp, sizeof tmp, "%s/.tmp-%ld-%lx", dir, (long)getpid(), (unsigned long)pthread_self());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return;
    const char *fields[3] = {prov ? prov->worker : "", prov ? prov->backend : "", prov ? prov->precision : ""};
    bool ok = fwrite("IAD1", 1, 4, f) == 4;
    for (int k = 0; k < 3 && ok; k++) {
        uint32_t l = (uint32_t)strlen(fields[k]);
        uint8_t b[4] = {(uint8_t)l, (uint8_t)(l >> 8), (uint8_t)(l >> 16), (uint8_t)(l >> 24)};
        ok = fwrite(b, 1, 4, f) == 4 && fwrite(fields[k], 1, l, f) == l;
    }
    ok = ok && fwrite(body, 1, len, f) == len;
    ok = !fclose(f) && ok;
    if (!ok || rename(tmp, path)) {
        unlink(tmp);
        return;
    }
    pthread_mutex_lock(&c->lock);
    c->disk_bytes += len + 16;
    bool over = c->disk_bytes > c->disk_max;
    pthread_mutex_unlock(&c->lock);
    if (over)
        disk_evict(c);
}

/* The decoded form's bytes (the format is exact: the same floats give the
 * same body). */
static void disk_put_vecs(ia_cluster *c, const char *id, const float *vecs, size_t n, int dim,
                          const ia_cluster_provenance *prov)
{
    uint8_t *body;
    size_t len;
    if (!c->disk[0] || ia__cluster_result_encode(vecs, n, dim, &body, &len))
        return;
    disk_put(c, id, body, len, prov);
    ia__free(body);
}

static ia_status disk_open(ia_cluster *c, const char *dir, long long max_bytes)
{
    if (!dir || !dir[0])
        return IA_OK;
    if (strlen(dir) >= sizeof c->disk - 80)
        return ia__error(IA_ERR_INVALID, "result cache folder %s: the path is too long", dir);
    char p[sizeof c->disk];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++) /* mkdir -p */
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    if (mkdir(p, 0755) && errno != EEXIST)
        return ia__error(IA_ERR_IO, "result cache folder %s: %s", dir, strerror(errno));
    if (access(p, W_OK))
        return ia__error(IA_ERR_IO, "result cache folder %s: not writable: %s", dir, strerror(errno));
    snprintf(c->disk, sizeof c->disk, "%s", dir);
    c->disk_max = max_bytes > 0 ? (size_t)max_bytes : (size_t)DEFAULT_DISK_BYTES;
    size_t n, total;
    ia__free(disk_scan(c, &n, &total));
    c->disk_bytes = total;
    if (total > c->disk_max)
        disk_evict(c);
    return IA_OK;
}

/* This process's counters, for `cluster status`: put in ia_clients by a
 * thread of the connection every REPORT_EVERY_S when they changed (so a
 * submit never waits on it), and when the connection is freed. */
static void report(ia_cluster *c, bool now)
{
    pthread_mutex_lock(&c->lock);
    bool due = c->changes && (now || ia__now() - c->reported >= REPORT_EVERY_S);
    char v[256];
    if (due) {
        snprintf(v, sizeof v, "{\"hits_memory\":%lu,\"hits_disk\":%lu,\"hits_cluster\":%lu,\"misses\":%lu,"
                 "\"last_seen\":%lld}", c->hits_memory, c->hits_disk, c->hits_cluster, c->misses, (long long)time(NULL));
        c->reported = ia__now();
        c->changes = 0;
    }
    pthread_mutex_unlock(&c->lock);
    if (due && c->clients)
        kvStore_PutString(NULL, c->clients, c->name, v); /* best effort: counters, not results */
}

static void count(ia_cluster *c, int found)
{
    pthread_mutex_lock(&c->lock);
    if (found == IA_FOUND_MEMORY)
        c->hits_memory++;
    else if (found == IA_FOUND_DISK)
        c->hits_disk++;
    else if (found == IA_FOUND_CLUSTER)
        c->hits_cluster++;
    else
        c->misses++;
    c->changes++;
    pthread_mutex_unlock(&c->lock);
}

static void *reporter_main(void *arg)
{
    ia_cluster *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->quit) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)REPORT_EVERY_S;
        pthread_cond_timedwait(&c->wake, &c->lock, &ts);
        if (c->quit)
            break;
        pthread_mutex_unlock(&c->lock);
        report(c, false);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

void ia__cluster_cache_stats(ia_cluster *c, ia_cluster_cache_stats *out)
{
    pthread_mutex_lock(&c->lock);
    *out = (ia_cluster_cache_stats){c->hits_memory, c->hits_cluster, c->misses, c->entries, c->bytes, c->hits_disk,
                                    c->disk_bytes, c->disk_max};
    pthread_mutex_unlock(&c->lock);
}

static ia_status nats_fail(ia_status st, natsStatus s, jsErrCode jerr, const char *what)
{
    if (jerr)
        return ia__error(st, "%s: %s (JetStream error %d)", what, natsStatus_GetText(s), (int)jerr);
    /* The client's detail reads "(file.c:N): text"; keep the text when it
     * says more than the status. */
    const char *last = nats_GetLastError(NULL), *text = last ? strstr(last, "): ") : NULL;
    text = text ? text + 3 : last;
    if (text && *text && strcmp(text, natsStatus_GetText(s)))
        return ia__error(st, "%s: %s: %s", what, natsStatus_GetText(s), text);
    return ia__error(st, "%s: %s", what, natsStatus_GetText(s));
}

/* The stream if it exists, else made; two processes making it at once is
 * fine. max_msgs, max_bytes > 0: bounded, refusing new messages beyond. */
static ia_status ensure_stream(ia_cluster *c, const char *name, const char *subject, jsRetentionPolicy ret,
                               int64_t max_age_s, int64_t per_subject, int64_t max_msgs, int64_t max_bytes)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, c->js, name, NULL, &jerr);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return IA_OK;
    }
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subjects[] = {subject};
    sc.Name = name;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Retention = ret;
    sc.Storage = js_FileStorage;
    sc.MaxAge = max_age_s * NS_PER_S;
    sc.MaxMsgsPerSubject = per_subject;
    sc.Duplicates = 10 * 60 * NS_PER_S; /* Nats-Msg-Id dedupe window */
    sc.AllowDirect = true;
    if (max_msgs > 0 || max_bytes > 0) {
        sc.MaxMsgs = max_msgs > 0 ? max_msgs : -1;
        sc.MaxBytes = max_bytes > 0 ? max_bytes : -1;
        sc.Discard = js_DiscardNew; /* a full queue pushes back on the submitter */
    }
    s = js_AddStream(&si, c->js, &sc, NULL, &jerr);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return IA_OK;
    }
    if (js_GetStreamInfo(&si, c->js, name, NULL, NULL) == NATS_OK) { /* another process won */
        jsStreamInfo_Destroy(si);
        return IA_OK;
    }
    char what[128];
    snprintf(what, sizeof what, "%s: making stream %s", c->url, name);
    return nats_fail(IA_ERR_IO, s, jerr, what);
}

/* A key-value bucket, made if missing, with a TTL. */
static ia_status ensure_kv(ia_cluster *c, const char *bucket, int64_t ttl_s, kvStore **kv)
{
    natsStatus s = js_KeyValue(kv, c->js, bucket);
    if (s != NATS_OK) {
        kvConfig kc;
        kvConfig_Init(&kc);
        kc.Bucket = bucket;
        kc.TTL = ttl_s * NS_PER_S;
        kc.History = 1;
        s = js_CreateKeyValue(kv, c->js, &kc);
        if (s != NATS_OK)
            s = js_KeyValue(kv, c->js, bucket);
    }
    if (s == NATS_OK)
        return IA_OK;
    char what[600];
    snprintf(what, sizeof what, "%s: key-value bucket %s (is JetStream on? nats-server -js)", c->url, bucket);
    return nats_fail(IA_ERR_IO, s, 0, what);
}

/* The result bucket ia_results: a key-value bucket's stream (one value per
 * key, direct get, rollups, no deletes), made here rather than with
 * js_CreateKeyValue because a cache must drop its oldest values when full
 * (discard old), where a bucket made by the client refuses new ones. */
static ia_status ensure_results(ia_cluster *c, double ttl_s, int64_t max_bytes)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    if (js_GetStreamInfo(&si, c->js, IA_CLUSTER_STREAM_RESULTS, NULL, NULL) == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return IA_OK;
    }
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subjects[] = {IA_CLUSTER_RESULT_PREFIX ">"};
    sc.Name = IA_CLUSTER_STREAM_RESULTS;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Retention = js_LimitsPolicy;
    sc.Storage = js_FileStorage;
    sc.MaxAge = (int64_t)(ttl_s * NS_PER_S);
    sc.MaxBytes = max_bytes;
    sc.MaxMsgsPerSubject = 1;
    sc.Discard = js_DiscardOld;
    sc.Duplicates = IA_MIN(sc.MaxAge, 2 * 60 * NS_PER_S); /* Nats-Msg-Id dedupe, within the TTL */
    sc.AllowRollup = true;
    sc.DenyDelete = true;
    sc.AllowDirect = true;
    natsStatus s = js_AddStream(&si, c->js, &sc, NULL, &jerr);
    if (s == NATS_OK || js_GetStreamInfo(&si, c->js, IA_CLUSTER_STREAM_RESULTS, NULL, NULL) == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return IA_OK;
    }
    char what[600];
    snprintf(what, sizeof what, "%s: making the result bucket %s", c->url, IA_CLUSTER_KV_RESULTS);
    return nats_fail(IA_ERR_IO, s, jerr, what);
}

ia_status ia_cluster_connect(const char *url, const ia_cluster_options *opt, ia_cluster **out)
{
    IA_NEED(url);
    IA_NEED(out);
    *out = NULL;
    ia_cluster_options o;
    ia__opts_copy(&o, sizeof o, opt);
    const char *client_name = o.client_name ? o.client_name : "ipfs-accelerate";
    ia_cluster *c = ia__calloc(1, sizeof *c);
    if (!c)
        return ia__error(IA_ERR_NOMEM, "cluster: out of memory");
    snprintf(c->url, sizeof c->url, "%s", url);
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->prov_lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    c->prov_at = -1e9;
    c->max_bytes = o.cache_bytes < 0 ? 0 : o.cache_bytes ? (size_t)o.cache_bytes : (size_t)DEFAULT_CACHE_BYTES;
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(c->name, sizeof c->name, "%s-%ld", host, (long)getpid());
    for (char *p = c->name; *p; p++) /* a key: letters, digits, '-', '_' */
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'))
            *p = '_';
    natsOptions *opts = NULL;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(opts, url);
    if (s == NATS_OK)
        s = natsOptions_SetName(opts, client_name);
    const char *bad = NULL; /* which credential or TLS option the client refused */
    if (s == NATS_OK && (o.user || o.password) && (s = natsOptions_SetUserInfo(opts, o.user, o.password)))
        bad = "user and password";
    if (s == NATS_OK && o.token && (s = natsOptions_SetToken(opts, o.token)))
        bad = "token";
    if (s == NATS_OK && o.creds_file && (s = natsOptions_SetUserCredentialsFromFiles(opts, o.creds_file, NULL)))
        bad = o.creds_file;
    if (s == NATS_OK && (o.tls_ca || o.tls_cert || o.tls_key) && (s = natsOptions_SetSecure(opts, true)))
        bad = "TLS (is the NATS client built with it?)";
    if (s == NATS_OK && o.tls_ca && (s = natsOptions_LoadCATrustedCertificates(opts, o.tls_ca)))
        bad = o.tls_ca;
    if (s == NATS_OK && (o.tls_cert || o.tls_key) &&
        (s = natsOptions_LoadCertificatesChain(opts, o.tls_cert, o.tls_key)))
        bad = o.tls_cert ? o.tls_cert : "tls_key without tls_cert";
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(opts, -1); /* a server restart is survived */
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(opts, 200);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(opts, 2000);
    if (s != NATS_OK) {
        natsOptions_Destroy(opts);
        ia_cluster_free(c);
        char what[600];
        snprintf(what, sizeof what, "NATS connection options for %s%s%s", url, bad ? ": " : "", bad ? bad : "");
        return nats_fail(IA_ERR_INVALID, s, 0, what);
    }
    double t0 = ia__now();
    while ((s = natsConnection_Connect(&c->nc, opts)) == NATS_NO_SERVER && ia__now() - t0 < 10)
        nats_Sleep(250);
    natsOptions_Destroy(opts);
    if (s != NATS_OK) {
        ia_cluster_free(c);
        char what[700];
        const char *last = nats_GetLastError(NULL);
        bool auth = s == NATS_NOT_PERMITTED || (last && strstr(last, "uthorization"));
        snprintf(what, sizeof what, "cannot connect to NATS at %s%s", url,
                 auth ? (o.user || o.password || o.token || o.creds_file
                             ? " (the server refused these credentials)"
                             : " (the server asks for credentials: user and password, token or .creds file)")
                      : "");
        return nats_fail(IA_ERR_IO, s, 0, what);
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    s = natsConnection_JetStream(&c->js, c->nc, &jo);
    ia_status st = IA_OK;
    if (s != NATS_OK)
        st = nats_fail(IA_ERR_IO, s, 0, url);
    if (!st)
        st = disk_open(c, o.cache_dir, o.cache_dir_bytes);
    if (!st)
        st = ensure_stream(c, IA_CLUSTER_STREAM_TASKS, "ia.task.>", js_WorkQueuePolicy, 7 * 86400, -1,
                           o.max_tasks > 0 ? o.max_tasks : DEFAULT_MAX_TASKS,
                           o.max_task_bytes > 0 ? o.max_task_bytes : DEFAULT_MAX_TASK_BYTES);
    if (!st)
        st = ensure_results(c, o.result_ttl_s > 0 ? o.result_ttl_s : DEFAULT_RESULT_TTL_S,
                            o.result_max_bytes > 0 ? o.result_max_bytes : DEFAULT_RESULT_MAX_BYTES);
    if (!st)
        st = ensure_stream(c, IA_CLUSTER_STREAM_DEAD, "ia.dead.>", js_LimitsPolicy, 7 * 86400, 1, 0, 0);
    if (!st)
        st = ensure_kv(c, IA_CLUSTER_KV_WORKERS, WORKER_TTL_S, &c->workers);
    if (!st)
        st = ensure_kv(c, IA_CLUSTER_KV_CLIENTS, (int64_t)DEFAULT_RESULT_TTL_S, &c->clients);
    if (!st && !(c->reporting = pthread_create(&c->reporter, NULL, reporter_main, c) == 0))
        st = ia__error(IA_ERR_NOMEM, "%s: cannot start a thread", url);
    if (st) {
        ia_cluster_free(c);
        return st;
    }
    *out = c;
    return IA_OK;
}

void ia_cluster_free(ia_cluster *c)
{
    if (!c)
        return;
    if (c->reporting) {
        pthread_mutex_lock(&c->lock);
        c->quit = true;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->reporter, NULL);
    }
    if (c->clients)
        report(c, true);
    for (cached *e = c->head, *next; e; e = next) {
        next = e->next;
        ia__free(e->vecs);
        ia__free(e);
    }
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->prov_lock);
    ia__free(c->prov);
    kvStore_Destroy(c->clients);
    kvStore_Destroy(c->workers);
    jsCtx_Destroy(c->js);
    if (c->nc) {
        natsConnection_FlushTimeout(c->nc, 1000);
        natsConnection_Destroy(c->nc);
    }
    ia__free(c);
}

/* The last message on subject in stream, or NULL (absent, or unreachable:
 * *err tells which). */
static natsMsg *last_msg(ia_cluster *c, const char *stream, const char *subject, bool *err)
{
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetLastMsg(&m, c->js, stream, subject, NULL, &jerr);
    *err = s != NATS_OK && s != NATS_NOT_FOUND && jerr != JSNoMessageFoundErr;
    return s == NATS_OK ? m : NULL;
}

/* ---- adverts: who holds which model ---- */

/* fn for every worker advert in ia_workers, with its age in seconds. */
typedef void (*advert_fn)(void *ud, const cJSON *advert, double age_s);
static natsStatus each_advert(ia_cluster *c, advert_fn fn, void *ud)
{
    kvKeysList keys = {0};
    natsStatus s = kvStore_Keys(&keys, c->workers, NULL);
    time_t now = time(NULL);
    for (int i = 0; s == NATS_OK && i < keys.Count; i++) {
        kvEntry *e = NULL;
        if (kvStore_Get(&e, c->workers, keys.Keys[i]) != NATS_OK)
            continue;
        cJSON *w = cJSON_ParseWithLength(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e));
        kvEntry_Destroy(e);
        if (!w)
            continue;
        const cJSON *seen = cJSON_GetObjectItem(w, "last_seen");
        fn(ud, w, cJSON_IsNumber(seen) ? (double)now - seen->valuedouble : 1e9);
        cJSON_Delete(w);
    }
    kvKeysList_Destroy(&keys);
    return s == NATS_NOT_FOUND ? NATS_OK : s;
}

static bool advert_holds(const cJSON *w, const char *cid)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(w, "models")) {
        const cJSON *v = cJSON_GetObjectItem(m, "cid");
        if (cJSON_IsString(v) && !strcmp(v->valuestring, cid))
            return true;
    }
    return false;
}

typedef struct prov_list {
    char (*cids)[IA_CID_STR_MAX];
    size_t n, cap;
} prov_list;

static void collect_providers(void *ud, const cJSON *w, double age)
{
    prov_list *pl = ud;
    if (age > LIVE_S || cJSON_IsTrue(cJSON_GetObjectItem(w, "draining")))
        return;
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(w, "models")) {
        const cJSON *v = cJSON_GetObjectItem(m, "cid");
        if (!cJSON_IsString(v) || strlen(v->valuestring) >= IA_CID_STR_MAX)
            continue;
        void *g = ia__grow(pl->cids, pl->n, &pl->cap, sizeof *pl->cids, 16);
        if (!g)
            return;
        pl->cids = g;
        snprintf(pl->cids[pl->n++], IA_CID_STR_MAX, "%s", v->valuestring);
    }
}

/* Does a live worker (an advert newer than LIVE_S, not draining) hold the
 * model? From a view of the adverts at most PROVIDERS_EVERY_S old, so a
 * submit costs no request most of the time. When the bucket cannot be read
 * the last view is kept. */
static bool provider_live(ia_cluster *c, const char *cid)
{
    pthread_mutex_lock(&c->prov_lock);
    if (ia__now() - c->prov_at >= PROVIDERS_EVERY_S) {
        prov_list pl = {0};
        if (each_advert(c, collect_providers, &pl) == NATS_OK) {
            ia__free(c->prov);
            c->prov = pl.cids;
            c->n_prov = pl.n;
            c->prov_at = ia__now();
        } else {
            ia__free(pl.cids);
        }
    }
    bool live = false;
    for (size_t i = 0; i < c->n_prov && !live; i++)
        live = !strcmp(c->prov[i], cid);
    pthread_mutex_unlock(&c->prov_lock);
    return live;
}

typedef struct gw_list {
    const char *cid, *own;
    bool holders; /* this pass: gateways of workers that hold cid, else the others */
    char *buf;
    size_t cap, len;
} gw_list;

static void collect_gateways(void *ud, const cJSON *w, double age)
{
    (void)age; /* a stopped or draining worker's gateway may still serve: the store skips it if not */
    gw_list *g = ud;
    const cJSON *v = cJSON_GetObjectItem(w, "gateway");
    if (!cJSON_IsString(v) || !v->valuestring[0] || (g->own && !strcmp(v->valuestring, g->own)) ||
        advert_holds(w, g->cid) != g->holders || strchr(v->valuestring, ','))
        return;
    size_t n = strlen(v->valuestring);
    for (const char *p = g->buf; p && (p = strstr(p, v->valuestring)); p += n)
        if ((p == g->buf || p[-1] == ',') && (p[n] == ',' || !p[n]))
            return; /* listed already */
    if (g->len + n + 2 > g->cap)
        return;
    g->len += (size_t)snprintf(g->buf + g->len, g->cap - g->len, "%s%s", g->len ? "," : "", v->valuestring);
}

/* The trustless gateways of the cluster's workers, those that advertise
 * the model first, comma-separated into buf ("" if none). */
static void peer_gateways(ia_cluster *c, const char *cid, const char *own, char *buf, size_t cap)
{
    gw_list g = {.cid = cid, .own = own, .holders = true, .buf = buf, .cap = cap};
    buf[0] = '\0';
    each_advert(c, collect_gateways, &g);
    g.holders = false;
    each_advert(c, collect_gateways, &g);
}

/* ---- worker ---- */

/* A model the worker holds: the one it was started with, or one it
 * fetched by CID. */
typedef struct slot {
    char cid[IA_CID_STR_MAX]; /* "" : unknown (its tasks are by name only) */
    char name[64];            /* its name consumers' model name; "" for a fetched model */
    ia_model *model;
    bool owned;               /* loaded here: freed here */
    bool kept;                /* the worker's --model: never unloaded */
    double used;              /* when it last computed a task (or was taken up) */
} slot;

/* A consumer the worker pulls from. */
typedef struct source {
    natsSubscription *sub;
    char durable[128];
    int level;
    int slot; /* -1: the any consumer (tasks of models nobody holds) */
    double swept;
    double probed;      /* when its waiting tasks were last asked */
    uint64_t pending;   /* tasks waiting then, less those fetched since */
    int64_t in_flight;
} source;

typedef struct worker {
    ia_cluster *c;
    const ia_cluster_worker_config *cfg;
    int64_t ack_wait_ns;
    long done, skipped, failed, dead, hits_disk;
    double started, last_advert;
    long advertised; /* tasks in the last advert */
    int advertised_draining;
    char host[128];
    slot slots[MAX_SLOTS];
    int n_slots, max_slots;
    source src[MAX_SOURCES];
    int n_src;
    /* taking up models whose tasks wait for their holders */
    char fetching[IA_CID_STR_MAX]; /* advertised while a model is fetched ("": none) */
    double next_spread;
    unsigned seed;
    struct {
        char cid[IA_CID_STR_MAX];
        double until;
    } refused[4]; /* models that could not be taken up lately */
    /* the in-progress ticker */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    natsMsg *busy; /* the task being computed, NULL when idle */
    bool quit;
} worker;

static void advertise(worker *w)
{
    const ia_cluster_worker_config *cfg = w->cfg;
    cJSON *j = cJSON_CreateObject(), *models = cJSON_CreateArray(), *hw = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", cfg->name);
    cJSON_AddStringToObject(j, "host", w->host);
    cJSON_AddNumberToObject(j, "pid", (double)getpid());
    /* model, model_cid: the first model, as earlier versions advertised */
    cJSON_AddStringToObject(j, "model", w->n_slots ? (w->slots[0].name[0] ? w->slots[0].name : w->slots[0].cid) : "");
    cJSON_AddStringToObject(j, "model_cid", w->n_slots ? w->slots[0].cid : "");
    for (int i = 0; i < w->n_slots; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "cid", w->slots[i].cid);
        cJSON_AddStringToObject(m, "name", w->slots[i].name);
        cJSON_AddBoolToObject(m, "fetched", w->slots[i].owned);
        cJSON_AddItemToArray(models, m);
    }
    cJSON_AddItemToObject(j, "models", models);
    cJSON_AddNumberToObject(j, "max_models", w->max_slots);
    if (w->fetching[0])
        cJSON_AddStringToObject(j, "fetching", w->fetching);
    cJSON_AddStringToObject(j, "gateway", cfg->gateway_url ? cfg->gateway_url : "");
    cJSON_AddBoolToObject(j, "draining", cfg->draining && *cfg->draining);
    if (w->n_slots) {
        ia_model_info info;
        ia_model_get_info(w->slots[0].model, &info);
        cJSON_AddStringToObject(hw, "backend", info.backend ? info.backend : "");
        cJSON_AddStringToObject(hw, "device", info.device ? info.device : "");
        cJSON_AddStringToObject(hw, "precision", info.precision ? info.precision : "");
    }
    cJSON_AddNumberToObject(hw, "cpus", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddItemToObject(j, "hardware", hw);
    cJSON_AddNumberToObject(j, "threads", cfg->threads);
    cJSON_AddNumberToObject(j, "tasks_done", (double)w->done);
    cJSON_AddNumberToObject(j, "tasks_skipped", (double)w->skipped);
    cJSON_AddNumberToObject(j, "tasks_failed", (double)w->failed);
    cJSON_AddNumberToObject(j, "dead_letters", (double)w->dead);
    cJSON_AddNumberToObject(j, "hits_disk", (double)w->hits_disk);
    cJSON_AddNumberToObject(j, "uptime_s", (double)(long long)(ia__now() - w->started));
    cJSON_AddNumberToObject(j, "last_seen", (double)time(NULL));
    char *v = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (v)
        kvStore_PutString(NULL, w->c->workers, cfg->name, v); /* best effort: refreshed every few seconds */
    cJSON_free(v);
    w->last_advert = ia__now();
    w->advertised_draining = cfg->draining && *cfg->draining;
}

/* While a task computes, tell JetStream every third of the ack wait that
 * it is still in progress, so a long task is not redelivered. */
static void *ticker(void *arg)
{
    worker *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->quit) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + w->ack_wait_ns / 3;
        ts.tv_sec += ns / NS_PER_S;
        ts.tv_nsec = ns % NS_PER_S;
        int rc = pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        if (rc && w->busy)
            natsMsg_InProgress(w->busy, NULL);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void set_busy(worker *w, natsMsg *m)
{
    pthread_mutex_lock(&w->mu);
    w->busy = m;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* One line: NATS headers cannot hold line breaks. */
static void one_line(char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            *s = ' ';
}

/* The task with its error on ia.dead.<shard>, then terminated: it is not
 * delivered again. */
static void dead_letter(worker *w, natsMsg *m, const char *shard, const char *model, uint64_t deliveries,
                        const char *error)
{
    char subj[64 + IA_CLUSTER_ID_LEN], err[512], count[32];
    snprintf(subj, sizeof subj, "ia.dead.%s", shard);
    snprintf(err, sizeof err, "%s", error);
    one_line(err);
    snprintf(count, sizeof count, "%llu", (unsigned long long)deliveries);
    natsMsg *d = NULL;
    natsStatus s = natsMsg_Create(&d, subj, NULL, natsMsg_GetData(m), natsMsg_GetDataLength(m));
    if (s == NATS_OK)
        s = natsMsgHeader_Set(d, "Ia-Error", err);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(d, "Ia-Worker", w->cfg->name);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(d, "Ia-Deliveries", count);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(d, "Ia-Model", model);
    if (s == NATS_OK)
        s = js_PublishMsg(NULL, w->c->js, d, NULL, NULL);
    natsMsg_Destroy(d);
    if (s != NATS_OK) { /* not stored: leave the task to be redelivered and tried again */
        ia__log(IA_LOG_WARN, "worker %s: shard %s: storing the dead letter failed: %s", w->cfg->name, shard,
                natsStatus_GetText(s));
        return;
    }
    natsMsg_Term(m, NULL);
    w->dead++;
    ia__log(IA_LOG_WARN, "worker %s: shard %s: dead letter after %llu deliveries: %s", w->cfg->name, shard,
            (unsigned long long)deliveries, err);
}

/* An IAT1 task (texts): its rows (*vecs, *n x *dim). key: the model's name
 * in the shard id (its CID for a task by CID). *forever: the task is
 * malformed, not the worker at fault. */
static ia_status compute_texts(worker *w, natsMsg *m, const slot *sl, const char *key, const uint8_t *body,
                               size_t len, const char *shard, float **vecs, size_t *n, int *dim, bool *forever)
{
    ia_cluster_task t;
    ia_status st = ia__cluster_task_decode(body, len, &t);
    if (st) {
        *forever = true;
        return st;
    }
    /* Results are filed under the shard id: it must be this content's. */
    char id[IA_CLUSTER_ID_LEN + 1];
    if (!ia__cluster_shard_id(key, &t.opts, t.texts, t.lens, t.n, id) && strcmp(id, shard)) {
        ia__cluster_task_close(&t);
        *forever = true;
        return ia__error(IA_ERR_INVALID, "the task's Ia-Shard is not the hash of its model, options and texts");
    }
    ia_model_info info;
    ia_model_get_info(sl->model, &info);
    int d = t.opts.dimensions ? t.opts.dimensions : info.dim;
    float *v = NULL;
    if (d <= 0 || d > info.dim)
        st = ia__error(IA_ERR_INVALID, "dimensions %d must be from 1 to the model's %d", t.opts.dimensions, info.dim);
    else if (!(v = ia__malloc((t.n ? t.n : 1) * (size_t)d * sizeof *v)))
        st = ia__error(IA_ERR_NOMEM, "%zu texts: out of memory", t.n);
    if (!st) {
        ia_embed_options eo = IA_EMBED_OPTIONS_INIT;
        eo.dimensions = t.opts.dimensions;
        eo.prompt_name = t.opts.prompt_name;
        set_busy(w, m);
        st = t.n ? ia_model_embed_opts(sl->model, t.texts, t.lens, t.n, &eo, v, NULL) : IA_OK;
        set_busy(w, NULL);
    }
    *n = t.n;
    ia__cluster_task_close(&t);
    if (st) {
        ia__free(v);
        return st;
    }
    *vecs = v;
    *dim = d;
    return IA_OK;
}

/* An IAI1 task (token ids, from serve --cluster): the engine call the
 * sending server would have made, on these weights only. key: as for
 * compute_texts (the model's CID; its name for a task of an earlier
 * server, by name). */
static ia_status compute_ids(worker *w, natsMsg *m, const slot *sl, const char *key, const uint8_t *body,
                             size_t len, const char *shard, float **vecs, size_t *n, int *dim, bool *forever)
{
    const ia_cluster_worker_config *cfg = w->cfg;
    char id[IA_CLUSTER_ID_LEN + 1];
    ia_cluster_ids_task t;
    ia_status st = ia__cluster_ids_shard_id(key, body, len, id);
    if (!st && strcmp(id, shard))
        st = ia__error(IA_ERR_INVALID, "the task's Ia-Shard is not the hash of its model and body");
    if (!st)
        st = ia__cluster_ids_decode(body, len, &t);
    if (st) {
        *forever = true;
        return st;
    }
    ia_model_info info;
    ia_model_get_info(sl->model, &info);
    const int want = t.kind == IA_IDS_STATES ? info.hidden_size
                   : t.kind == IA_IDS_EMBED  ? info.dim
                                             : ia_model_num_labels(sl->model);
    size_t rows = t.kind == IA_IDS_STATES ? 0 : t.n;
    for (size_t i = 0; t.kind == IA_IDS_STATES && i < t.n; i++)
        rows += t.n_ids[i];
    float *v = NULL;
    ia_embed_stats stats = {0};
    /* Another worker may hold the weights asked for: not for ever. */
    if (!sl->cid[0] || strcmp(sl->cid, t.model_cid))
        st = ia__error(IA_ERR_INVALID, "worker %s has model %s as %s, the task asks for %s (other weights or "
                       "files under the same folder name)", cfg->name, sl->name,
                       sl->cid[0] ? sl->cid : "(no CID)", t.model_cid);
    else if (want != t.dim)
        st = ia__error(IA_ERR_INVALID, "worker %s's model gives %d values a row, the task expects %d (a different "
                       "pooling or head?)", cfg->name, want, t.dim);
    else if (!(v = ia__malloc((rows ? rows : 1) * (size_t)t.dim * sizeof *v)))
        st = ia__error(IA_ERR_NOMEM, "%zu rows: out of memory", rows);
    else if (t.n) {
        const int32_t *const *ids = (const int32_t *const *)t.ids;
        set_busy(w, m);
        st = t.kind == IA_IDS_STATES ? ia__model_token_states_ids(sl->model, ids, t.n_ids, t.n, v, &stats)
           : t.kind == IA_IDS_EMBED  ? ia__model_embed_ids(sl->model, ids, t.n_ids, t.n, t.normalize, v, &stats)
                                     : ia__model_classify_ids(sl->model, ids, (const int32_t *const *)t.types,
                                                              t.n_ids, t.n, t.kind == IA_IDS_CLASSIFY_RAW, v, &stats);
        set_busy(w, NULL);
    }
    *dim = t.dim;
    ia__cluster_ids_close(&t);
    if (st) {
        ia__free(v);
        return st;
    }
    *vecs = v;
    *n = rows;
    return IA_OK;
}

/* The durable pull consumer durable on subject, made if missing, bound. */
static ia_status bind_consumer(worker *w, const char *durable, const char *subject, natsSubscription **sub)
{
    ia_cluster *c = w->c;
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetConsumerInfo(&ci, c->js, IA_CLUSTER_STREAM_TASKS, durable, NULL, &jerr);
    if (s != NATS_OK) {
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = durable;
        cc.FilterSubject = subject;
        cc.AckPolicy = js_AckExplicit;
        cc.AckWait = (int64_t)w->cfg->ack_wait_s * NS_PER_S;
        cc.MaxDeliver = -1; /* the worker counts deliveries and dead-letters */
        cc.MaxAckPending = 10000;
        s = js_AddConsumer(&ci, c->js, IA_CLUSTER_STREAM_TASKS, &cc, NULL, &jerr);
        if (s != NATS_OK)
            s = js_GetConsumerInfo(&ci, c->js, IA_CLUSTER_STREAM_TASKS, durable, NULL, &jerr);
    }
    if (s != NATS_OK) {
        char what[256];
        snprintf(what, sizeof what, "%s: consumer %s on %s", c->url, durable, IA_CLUSTER_STREAM_TASKS);
        return nats_fail(IA_ERR_IO, s, jerr, what);
    }
    int64_t aw = ci->Config && ci->Config->AckWait > 0 ? ci->Config->AckWait : 30 * NS_PER_S;
    if (!w->ack_wait_ns || aw < w->ack_wait_ns) /* the ticker keeps the shortest one's tasks alive */
        w->ack_wait_ns = aw;
    jsConsumerInfo_Destroy(ci);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = IA_CLUSTER_STREAM_TASKS;
    so.Consumer = durable;
    s = js_PullSubscribe(sub, c->js, subject, durable, NULL, &so, &jerr);
    if (s != NATS_OK) {
        char what[256];
        snprintf(what, sizeof what, "%s: binding consumer %s", c->url, durable);
        return nats_fail(IA_ERR_IO, s, jerr, what);
    }
    return IA_OK;
}

/* The consumers of one kind, a level each: kind 'n' (slot's name), 'c'
 * (slot's CID), 'a' (any: slot -1). */
static ia_status add_sources(worker *w, char kind, int slot_i)
{
    const slot *sl = slot_i >= 0 ? &w->slots[slot_i] : NULL;
    for (int p = 0; p < IA_CLUSTER_PRIORITIES; p++) {
        if (w->n_src >= MAX_SOURCES)
            return ia__error(IA_ERR_INVALID, "worker %s: too many consumers", w->cfg->name);
        source *src = &w->src[w->n_src];
        memset(src, 0, sizeof *src);
        char subject[160];
        if (kind == 'n') {
            snprintf(src->durable, sizeof src->durable, "embed-%s-p%d", sl->name, p);
            snprintf(subject, sizeof subject, "ia.task.embed.%s.p%d.*", sl->name, p);
        } else if (kind == 'c') {
            snprintf(src->durable, sizeof src->durable, "cid-%s-p%d", sl->cid, p);
            snprintf(subject, sizeof subject, "ia.task.cid.%s.p%d.*", sl->cid, p);
        } else {
            snprintf(src->durable, sizeof src->durable, "any-p%d", p);
            snprintf(subject, sizeof subject, "ia.task.any.p%d.*", p);
        }
        src->level = p;
        src->slot = slot_i;
        ia_status st = bind_consumer(w, src->durable, subject, &src->sub);
        if (st)
            return st;
        w->n_src++;
    }
    return IA_OK;
}

static int find_slot(const worker *w, const char *cid)
{
    for (int i = 0; i < w->n_slots; i++)
        if (w->slots[i].cid[0] && !strcmp(w->slots[i].cid, cid))
            return i;
    return -1;
}

/* One try at fetching model cid's DAG from the gateways listed (NULL: the
 * configured sources; "": none, what the store has) into the worker's
 * store, every block verified, and writing it out as a folder: *dir
 * (ia_blockstore_free). */
static ia_status fetch_from(worker *w, const ia_cid *root, const char *gateways, char **dir)
{
    ia_store_options so;
    ia_store_options_init(&so);
    so.home = w->cfg->store_home;
    so.gateways = gateways;
    so.kubo_rpc = gateways ? "" : NULL; /* the peers only, or everything configured */
    so.routers = gateways ? "" : NULL;
    so.offline = gateways && !gateways[0]; /* "": what the store has */
    ia_store *s = NULL;
    ia_status st = ia_store_open(&so, &s);
    if (!st && !gateways && !ia_store_online(s)) {
        ia_blockstore *bs = ia_store_blockstore(s);
        if (!ia_blockstore_has(bs, root)) /* nothing to ask, and not here */
            st = ia__error(IA_ERR_NOT_FOUND, "no gateway, kubo node or router is configured (ipfs.gateways, "
                           "ipfs.local_node)");
    }
    if (!st)
        st = ia_store_materialize(s, root, dir);
    if (!st)
        st = ia_pin_add(ia_store_blockstore(s), root, true); /* kept: gc leaves it */
    ia_store_close(s);
    return st;
}

/* Slot i gone: its consumers unbound (the durable consumers stay, for the
 * model's other holders), its model freed if loaded here; its blocks and
 * folder stay in the store (pinned), so taking it up again is a load from
 * disk. The advert follows. */
static void drop_slot(worker *w, int i)
{
    slot *sl = &w->slots[i];
    int k = 0;
    for (int j = 0; j < w->n_src; j++) {
        source *src = &w->src[j];
        if (src->slot == i) {
            natsSubscription_Unsubscribe(src->sub);
            natsSubscription_Destroy(src->sub);
            continue;
        }
        if (src->slot > i)
            src->slot--;
        w->src[k++] = *src;
    }
    w->n_src = k;
    if (sl->owned)
        ia_model_free(sl->model);
    memmove(sl, sl + 1, (size_t)(w->n_slots - i - 1) * sizeof *sl);
    w->n_slots--;
    advertise(w);
}

static void unload(worker *w, int i)
{
    ia__log(IA_LOG_INFO, "worker %s: unloading model %s (least recently used, idle %.1f s; kept in the store)",
            w->cfg->name, w->slots[i].cid, ia__now() - w->slots[i].used);
    drop_slot(w, i);
}

/* The model to unload for another when every slot is taken: the least
 * recently used one taken up (never the --model one), if it has been
 * idle for UNLOAD_IDLE_S (no thrashing between models in use); -1: none. */
static int unloadable(const worker *w)
{
    int lru = -1;
    for (int i = 0; i < w->n_slots; i++)
        if (!w->slots[i].kept && (lru < 0 || w->slots[i].used < w->slots[lru].used))
            lru = i;
    return lru >= 0 && ia__now() - w->slots[lru].used >= UNLOAD_IDLE_S ? lru : -1;
}

static bool has_room(const worker *w)
{
    return w->n_slots < w->max_slots || unloadable(w) >= 0;
}

/* Room for model cid: a free slot, else an unloadable model unloaded;
 * else IA_ERR_BUSY. */
static ia_status make_room(worker *w, const char *cid)
{
    if (w->n_slots < w->max_slots)
        return IA_OK;
    int i = unloadable(w);
    if (i < 0)
        return ia__error(IA_ERR_BUSY, "worker %s holds %d models (--max-models %d), none idle for %.0f s: no room "
                         "for model %s", w->cfg->name, w->n_slots, w->max_slots, UNLOAD_IDLE_S, cid);
    unload(w, i);
    return IA_OK;
}

/* Take up model cid: from the worker's own store if it is there (taken up
 * and unloaded before), else fetched from the peers' gateways (those that
 * hold it first; then the configured gateways), every block verified, kept
 * and pinned in the worker's store; loaded, its consumers bound, and
 * advertised. A model is unloaded to make room if need be (make_room).
 * *out: its slot. */
static ia_status take_model(worker *w, const char *cid, int *out)
{
    const ia_cluster_worker_config *cfg = w->cfg;
    if ((*out = find_slot(w, cid)) >= 0)
        return IA_OK;
    ia_cid root;
    ia_status st = ia_cid_parse(cid, &root);
    if (st)
        return ia__error_wrap(IA_ERR_INVALID, "model %s", cid);
    if ((st = make_room(w, cid)))
        return st;
    snprintf(w->fetching, sizeof w->fetching, "%s", cid); /* said at once: others count it as a holder */
    advertise(w);
    double t0 = ia__now();
    char *dir = NULL, peers[4096] = "", first[1024] = "";
    bool local = !fetch_from(w, &root, "", &dir); /* no source: only what the store has */
    if (!local) {
        peer_gateways(w->c, cid, cfg->gateway_url, peers, sizeof peers);
        st = IA_ERR_NOT_FOUND;
        if (peers[0]) {
            ia__log(IA_LOG_INFO, "worker %s: fetching model %s from the peers' gateways %s", cfg->name, cid, peers);
            if ((st = fetch_from(w, &root, peers, &dir)))
                snprintf(first, sizeof first, "%s", ia_errmsg());
        }
        if (st && (st = fetch_from(w, &root, NULL, &dir))) {
            char second[1024];
            snprintf(second, sizeof second, "%s", ia_errmsg());
            w->fetching[0] = '\0';
            advertise(w);
            return ia__error(st == IA_ERR_VERIFY ? IA_ERR_VERIFY : IA_ERR_NOT_FOUND,
                             "worker %s: model %s could not be fetched: from the peers' gateways: %s; from the "
                             "configured sources: %s", cfg->name, cid, peers[0] ? first : "no worker advertises a "
                             "gateway", second);
        }
    }
    double t_fetch = ia__now() - t0;
    ia_model_options mo = IA_MODEL_OPTIONS_INIT;
    mo.n_threads = cfg->threads;
    mo.device = cfg->device;
    ia_model *model = NULL;
    st = ia_model_load(dir, &mo, &model);
    w->fetching[0] = '\0';
    if (st) {
        st = ia__error_wrap(st, "worker %s: model %s (fetched to %s)", cfg->name, cid, dir);
        ia_blockstore_free(dir);
        advertise(w);
        return st;
    }
    if (local)
        ia__log(IA_LOG_INFO, "worker %s: model %s loaded from its store (%s)", cfg->name, cid, dir);
    else
        ia__log(IA_LOG_INFO, "worker %s: model %s fetched and verified in %.2f s, loaded from %s", cfg->name, cid,
                t_fetch, dir);
    ia_blockstore_free(dir);
    slot *sl = &w->slots[w->n_slots];
    memset(sl, 0, sizeof *sl);
    snprintf(sl->cid, sizeof sl->cid, "%s", cid);
    sl->model = model;
    sl->owned = true;
    sl->used = ia__now();
    w->n_slots++;
    if ((st = add_sources(w, 'c', w->n_slots - 1))) {
        drop_slot(w, w->n_slots - 1);
        return st;
    }
    *out = w->n_slots - 1;
    advertise(w);
    return IA_OK;
}

/* Live workers (not draining) that hold model cid or are fetching it. */
typedef struct holders {
    const char *cid;
    int n;
} holders;

static void count_holders(void *ud, const cJSON *w, double age)
{
    holders *h = ud;
    const cJSON *f = cJSON_GetObjectItem(w, "fetching");
    if (age <= LIVE_S && !cJSON_IsTrue(cJSON_GetObjectItem(w, "draining")) &&
        (advert_holds(w, h->cid) || (cJSON_IsString(f) && !strcmp(f->valuestring, h->cid))))
        h->n++;
}

/* How long the oldest task waiting on consumer ci (not yet delivered) has
 * been queued, in seconds; 0 when none or unknown. One direct get: the
 * next message on the consumer's subject after the last one it delivered. */
static double oldest_waiting_s(worker *w, const jsConsumerInfo *ci)
{
    if (!ci->NumPending || !ci->Config || !ci->Config->FilterSubject)
        return 0;
    jsDirectGetMsgOptions o;
    jsDirectGetMsgOptions_Init(&o);
    o.Sequence = ci->Delivered.Stream + 1;
    o.NextBySubject = ci->Config->FilterSubject;
    natsMsg *m = NULL;
    if (js_DirectGetMsg(&m, w->c->js, IA_CLUSTER_STREAM_TASKS, NULL, &o) != NATS_OK)
        return 0;
    int64_t queued = natsMsg_GetTime(m);
    natsMsg_Destroy(m);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double age = ((double)ts.tv_sec * 1e9 + (double)ts.tv_nsec - (double)queued) / 1e9;
    return queued > 0 && age > 0 ? age : 0;
}

/* The model CID of a consumer named cid-<CID>-p<level> into cid, if it
 * is one (in the canonical form tasks use). */
static bool consumer_cid(const char *name, char cid[IA_CID_STR_MAX])
{
    size_t len = name ? strlen(name) : 0;
    char key[IA_CID_STR_MAX];
    if (len < 8 || strncmp(name, "cid-", 4) || strncmp(name + len - 3, "-p", 2) || len - 7 >= IA_CID_STR_MAX)
        return false;
    snprintf(cid, IA_CID_STR_MAX, "%.*s", (int)(len - 7), name + 4);
    return !ia__cluster_cid_key(cid, key) && !strcmp(key, cid);
}

static bool backed_off(const worker *w, const char *cid, double now)
{
    for (size_t i = 0; i < IA_ARRAY_LEN(w->refused); i++)
        if (w->refused[i].until > now && !strcmp(w->refused[i].cid, cid))
            return true;
    return false;
}

/* A hot model spreads: an idle worker with room (a free slot, or a model
 * idle for UNLOAD_IDLE_S to unload) looks every SPREAD_EVERY_S or so
 * (jittered, so idle workers do not all look at once) at the task
 * stream's consumers (one request) and takes up the model of the
 * cid-<CID>-p<level> consumer whose oldest waiting task has waited
 * longest, if that is spread_after_s or more and more tasks wait than
 * workers hold or are fetching the model (a backlog draws no more helpers
 * than it has tasks). The tasks stay where they are: the worker binds the
 * model's consumers as its holders do, so each task is still delivered to
 * one worker at a time and acked only after its result is stored. */
static void spread(worker *w)
{
    const ia_cluster_worker_config *cfg = w->cfg;
    double now = ia__now(), every = IA_MIN(SPREAD_EVERY_S, cfg->spread_after_s);
    if (cfg->spread_after_s <= 0 || now < w->next_spread)
        return;
    w->next_spread = now + every * (0.75 + 0.5 * rand_r(&w->seed) / (double)RAND_MAX);
    if (!has_room(w))
        return;
    jsConsumerInfoList *cl = NULL;
    if (js_Consumers(&cl, w->c->js, IA_CLUSTER_STREAM_TASKS, NULL, NULL) != NATS_OK)
        return;
    char best[IA_CID_STR_MAX] = "", cid[IA_CID_STR_MAX];
    double best_age = 0;
    uint64_t waiting = 0;
    for (int i = 0; i < cl->Count; i++) {
        const jsConsumerInfo *ci = cl->List[i];
        if (!ci->NumPending || !consumer_cid(ci->Name, cid) || find_slot(w, cid) >= 0 || backed_off(w, cid, now))
            continue;
        double age = oldest_waiting_s(w, ci);
        if (age > best_age) {
            best_age = age;
            waiting = ci->NumPending;
            snprintf(best, sizeof best, "%s", cid);
        }
    }
    jsConsumerInfoList_Destroy(cl);
    if (!best[0] || best_age < cfg->spread_after_s)
        return;
    holders h = {.cid = best};
    if (each_advert(w->c, count_holders, &h) != NATS_OK || waiting <= (uint64_t)h.n)
        return;
    ia__log(IA_LOG_INFO, "worker %s: tasks of model %s have waited %.1f s (%llu waiting, %d worker%s on it): "
            "taking it up", cfg->name, best, best_age, (unsigned long long)waiting, h.n, h.n == 1 ? "" : "s");
    int si;
    if (take_model(w, best, &si)) {
        ia__log(IA_LOG_WARN, "%s; not tried again for %.0f s", ia_errmsg(), SPREAD_BACKOFF_S);
        size_t k = 0; /* the slot that expires first */
        for (size_t i = 1; i < IA_ARRAY_LEN(w->refused); i++)
            if (w->refused[i].until < w->refused[k].until)
                k = i;
        snprintf(w->refused[k].cid, sizeof w->refused[k].cid, "%s", best);
        w->refused[k].until = ia__now() + SPREAD_BACKOFF_S;
    }
}

/* Store a result in the bucket, then ack its task m (only a stored
 * result is acked; on failure the task is handed back). how: for the log
 * line. */
static ia_status store_result(worker *w, const char *rsubj, const char *shard, const uint8_t *body, size_t len,
                              const ia_cluster_provenance *prov, natsMsg *m, const char *how)
{
    const ia_cluster_worker_config *cfg = w->cfg;
    natsMsg *r = NULL;
    char rid[8 + IA_CLUSTER_ID_LEN];
    snprintf(rid, sizeof rid, "r-%s", shard);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = rid;
    jsErrCode jerr = 0;
    natsStatus s = natsMsg_Create(&r, rsubj, NULL, (const char *)body, (int)len);
    if (s == NATS_OK) /* who and what computed it: a server says so in its answer */
        s = natsMsgHeader_Set(r, "Ia-Worker", prov->worker);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(r, "Ia-Backend", prov->backend);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(r, "Ia-Precision", prov->precision);
    jsPubAck *pa = NULL;
    if (s == NATS_OK)
        s = js_PublishMsg(&pa, w->c->js, r, &po, &jerr);
    bool duplicate = pa && pa->Duplicate; /* another delivery stored it first */
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(r);
    if (s != NATS_OK) {
        ia__log(IA_LOG_WARN, "worker %s: shard %s: storing the result failed (%s): the task will be redelivered",
                cfg->name, shard, natsStatus_GetText(s));
        natsMsg_NakWithDelay(m, 500, NULL);
        return IA_ERR_IO;
    }
    s = natsMsg_AckSync(m, NULL, &jerr);
    if (duplicate)
        w->skipped++;
    else if (strcmp(prov->worker, cfg->name) == 0 && strncmp(how, "from", 4))
        w->done++;
    ia__log(IA_LOG_INFO, "worker %s: shard %s %s %s%s", cfg->name, shard,
            duplicate ? "computed again, its result was already stored" : "stored", how,
            s == NATS_OK ? "" : "; the ack was lost, a redelivery will find the result");
    return IA_OK;
}

static void handle(worker *w, natsMsg *m, const source *from)
{
    const ia_cluster_worker_config *cfg = w->cfg;
    const char *shard = NULL, *by_cid = NULL;
    if (natsMsgHeader_Get(m, "Ia-Shard", &shard) != NATS_OK || !shard ||
        strlen(shard) != IA_CLUSTER_ID_LEN || strspn(shard, "0123456789abcdef") != IA_CLUSTER_ID_LEN) {
        dead_letter(w, m, "unknown", from->slot >= 0 ? w->slots[from->slot].name : "", 1,
                    "task without a valid Ia-Shard header");
        return;
    }
    if (natsMsgHeader_Get(m, "Ia-Model-Cid", &by_cid) != NATS_OK)
        by_cid = NULL;
    const char *key = by_cid ? by_cid : from->slot >= 0 ? w->slots[from->slot].name : "";
    jsMsgMetaData *meta = NULL;
    uint64_t delivered = 1;
    if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
        delivered = meta->NumDelivered;
        jsMsgMetaData_Destroy(meta);
    }
    char rsubj[64 + IA_CLUSTER_ID_LEN];
    snprintf(rsubj, sizeof rsubj, IA_CLUSTER_RESULT_PREFIX "%s", shard);
    bool err;
    natsMsg *have = last_msg(w->c, IA_CLUSTER_STREAM_RESULTS, rsubj, &err);
    if (have) { /* a redelivery after its result was stored: ack, nothing more */
        natsMsg_Destroy(have);
        natsMsg_AckSync(m, NULL, NULL);
        w->skipped++;
        ia__log(IA_LOG_INFO, "worker %s: shard %s already has a result: acked", cfg->name, shard);
        return;
    }
    if (err) { /* cannot tell: leave the task for later */
        natsMsg_NakWithDelay(m, 1000, NULL);
        return;
    }
    if ((int64_t)delivered > cfg->max_deliver) {
        char e[128];
        snprintf(e, sizeof e, "delivered %llu times without a result (workers crashed or stalled on it)",
                 (unsigned long long)delivered);
        dead_letter(w, m, shard, key, delivered, e);
        return;
    }
    ia_cluster_provenance dprov;
    uint8_t *dbody = NULL;
    size_t dlen = 0;
    if (disk_get(w->c, shard, &dbody, &dlen, &dprov)) { /* computed here before (the bucket lost it) */
        ia_status pst = store_result(w, rsubj, shard, dbody, dlen, &dprov, m, "from the disk cache");
        ia__free(dbody);
        if (!pst)
            w->hits_disk++;
        return;
    }
    const uint8_t *body_in = (const uint8_t *)natsMsg_GetData(m);
    size_t in_len = (size_t)natsMsg_GetDataLength(m), n = 0;
    float *vecs = NULL;
    int dim = 0;
    bool forever = false; /* the task itself is at fault: retrying cannot help */
    double t0 = ia__now();
    ia_status st = IA_OK;
    int si = from->slot;
    if (si >= 0) /* the model whose consumer gave this task is not unloaded to make room while it runs */
        w->slots[si].used = ia__now();
    if (by_cid) { /* the model it names, fetched first when it came from the any consumer */
        char k[IA_CID_STR_MAX];
        if (ia__cluster_cid_key(by_cid, k) || strcmp(k, by_cid)) {
            forever = true;
            st = ia__error(IA_ERR_INVALID, "the task's Ia-Model-Cid '%s' is not a model CID in its canonical form",
                           by_cid);
        } else if ((si = find_slot(w, by_cid)) < 0) {
            set_busy(w, m); /* a large model takes a while: the task stays ours */
            st = take_model(w, by_cid, &si);
            set_busy(w, NULL);
        }
    } else if (si < 0) {
        forever = true;
        st = ia__error(IA_ERR_INVALID, "a task on the any subject without an Ia-Model-Cid header");
    }
    const slot *sl = si >= 0 ? &w->slots[si] : NULL;
    if (sl)
        w->slots[si].used = ia__now();
    if (!st)
        st = in_len >= 4 && !memcmp(body_in, "IAI1", 4)
           ? compute_ids(w, m, sl, key, body_in, in_len, shard, &vecs, &n, &dim, &forever)
           : compute_texts(w, m, sl, key, body_in, in_len, shard, &vecs, &n, &dim, &forever);
    uint8_t *body = NULL;
    size_t body_len = 0;
    if (!st)
        st = ia__cluster_result_encode(vecs, n, dim, &body, &body_len);
    if (!st && (int64_t)body_len + 1024 > natsConnection_GetMaxPayload(w->c->nc))
        st = ia__error(IA_ERR_UNSUPPORTED, "the result (%zu x %d floats, %zu bytes) exceeds the server's max_payload "
                       "(%lld bytes): submit smaller shards (--batch-size)", n, dim, body_len,
                       (long long)natsConnection_GetMaxPayload(w->c->nc));
    ia__free(vecs);
    if (st) {
        w->failed++;
        char e[1024];
        snprintf(e, sizeof e, "%s", ia_errmsg()[0] ? ia_errmsg() : ia_strerror(st));
        ia__free(body);
        if (forever || (int64_t)delivered >= cfg->max_deliver) {
            dead_letter(w, m, shard, key, delivered, e);
        } else {
            ia__log(IA_LOG_WARN, "worker %s: shard %s failed (delivery %llu of %d): %s", cfg->name, shard,
                    (unsigned long long)delivered, cfg->max_deliver, e);
            natsMsg_NakWithDelay(m, by_cid && si < 0 ? FETCH_RETRY_MS : 0, NULL);
        }
        return;
    }
    ia_model_info info;
    ia_model_get_info(sl->model, &info);
    ia_cluster_provenance prov;
    snprintf(prov.worker, sizeof prov.worker, "%s", cfg->name);
    snprintf(prov.backend, sizeof prov.backend, "%s", info.backend ? info.backend : "");
    snprintf(prov.precision, sizeof prov.precision, "%s", info.precision ? info.precision : "");
    char how[96];
    snprintf(how, sizeof how, "(%zu texts, %.1f ms)", n, (ia__now() - t0) * 1e3);
    if (!store_result(w, rsubj, shard, body, body_len, &prov, m, how))
        disk_put(w->c, shard, body, body_len, &prov);
    ia__free(body);
}

/* Tasks waiting (not yet delivered) on a consumer, from its info, which
 * the server answers at once: an empty fetch waits its whole timeout
 * instead (libnats 3.4 ignores the no-wait reply). */
static uint64_t waiting(worker *w, const source *src, int64_t *in_flight)
{
    jsConsumerInfo *ci = NULL;
    *in_flight = 0;
    if (js_GetConsumerInfo(&ci, w->c->js, IA_CLUSTER_STREAM_TASKS, src->durable, NULL, NULL) != NATS_OK)
        return 0;
    uint64_t n = ci->NumPending;
    *in_flight = ci->NumAckPending;
    jsConsumerInfo_Destroy(ci);
    return n;
}

/* A task from src if it has one waiting (or, every SWEEP_S, tasks in
 * flight that may be due for redelivery). Its count of waiting tasks is
 * asked at most every PROBE_EVERY_S and counted down as tasks are taken,
 * so short tasks do not pay a request per consumer each; a task queued on
 * an empty consumer is seen within PROBE_EVERY_S. */
static natsStatus probe(worker *w, source *src, natsMsgList *list, jsErrCode *jerr)
{
    double now = ia__now();
    if (now - src->probed >= PROBE_EVERY_S) {
        src->pending = waiting(w, src, &src->in_flight);
        src->probed = now;
    }
    bool sweep = false;
    if (!src->pending) {
        if (!src->in_flight || now - src->swept < SWEEP_S)
            return NATS_TIMEOUT;
        src->swept = now;
        sweep = true;
    }
    natsStatus s = natsSubscription_Fetch(list, src->sub, 1, sweep ? 50 : 250, jerr);
    if (s == NATS_OK && src->pending)
        src->pending--;
    else if (s == NATS_TIMEOUT)
        src->pending = 0; /* another worker took it: ask again next time */
    return s;
}

static void worker_close(worker *w)
{
    for (int i = 0; i < w->n_src; i++) {
        natsSubscription_Unsubscribe(w->src[i].sub); /* the durable consumers stay */
        natsSubscription_Destroy(w->src[i].sub);
    }
    for (int i = 0; i < w->n_slots; i++)
        if (w->slots[i].owned)
            ia_model_free(w->slots[i].model);
}

ia_status ia__cluster_worker_run(ia_cluster *c, const ia_cluster_worker_config *cfg)
{
    IA_NEED(c);
    IA_NEED(cfg);
    IA_NEED(cfg->stop);
    if (!cfg->model && !cfg->fetch_cid && cfg->max_models < 0)
        return ia__error(IA_ERR_INVALID, "worker %s: no model and no room to fetch one", cfg->name);
    worker w = {.c = c, .cfg = cfg, .started = ia__now(), .seed = (unsigned)getpid() ^ (unsigned)time(NULL)};
    w.max_slots = cfg->max_models > 0 ? IA_MIN(cfg->max_models, MAX_SLOTS) : 2;
    if (gethostname(w.host, sizeof w.host) != 0)
        snprintf(w.host, sizeof w.host, "unknown");
    w.host[sizeof w.host - 1] = '\0';
    ia_status st = IA_OK;
    if (cfg->model) {
        slot *sl = &w.slots[w.n_slots++];
        sl->model = cfg->model;
        sl->kept = true;
        snprintf(sl->name, sizeof sl->name, "%s", cfg->model_name ? cfg->model_name : "");
        snprintf(sl->cid, sizeof sl->cid, "%s", cfg->model_cid ? cfg->model_cid : "");
        if (sl->name[0])
            st = add_sources(&w, 'n', 0);
        if (!st && sl->cid[0])
            st = add_sources(&w, 'c', 0);
    }
    if (!st)
        st = add_sources(&w, 'a', -1);
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    pthread_t tick;
    if (!st && pthread_create(&tick, NULL, ticker, &w) != 0)
        st = ia__error(IA_ERR_NOMEM, "worker %s: cannot start a thread", cfg->name);
    else if (!st && cfg->fetch_cid && !cfg->model) {
        int si;
        set_busy(&w, NULL);
        if (!(st = take_model(&w, cfg->fetch_cid, &si))) {
            w.slots[si].kept = true; /* --model ipfs://CID: never unloaded */
        } else {
            pthread_mutex_lock(&w.mu);
            w.quit = true;
            pthread_cond_signal(&w.cv);
            pthread_mutex_unlock(&w.mu);
            pthread_join(tick, NULL);
        }
    }
    if (st) {
        worker_close(&w);
        pthread_cond_destroy(&w.cv);
        pthread_mutex_destroy(&w.mu);
        return st;
    }
    advertise(&w);
    ia__log(IA_LOG_INFO, "worker %s: %d model%s%s%s%s, room for %d, %d threads, ack wait %.0f s%s%s", cfg->name,
            w.n_slots, w.n_slots == 1 ? "" : "s", w.n_slots ? " (" : "", w.n_slots ? w.slots[0].cid : "",
            w.n_slots ? ")" : "", w.max_slots - w.n_slots, cfg->threads, (double)w.ack_wait_ns / NS_PER_S,
            cfg->gateway_url ? ", gateway " : "", cfg->gateway_url ? cfg->gateway_url : "");
    bool down = false;
    while (!*cfg->stop) {
        long tasks = w.done + w.skipped + w.failed;
        int draining = cfg->draining && *cfg->draining;
        if (ia__now() - w.last_advert >= (tasks != w.advertised ? 1.0 : ADVERT_EVERY_S) ||
            draining != w.advertised_draining) {
            if (draining != w.advertised_draining)
                ia__log(IA_LOG_INFO, "worker %s: %s", cfg->name, draining ? "draining: taking no task (the "
                        "gateway still serves)" : "taking tasks again");
            w.advertised = tasks;
            advertise(&w);
        }
        if (draining) {
            nats_Sleep(100);
            continue;
        }
        /* Before each task, the highest level above 0 with tasks waiting
         * on any of this worker's consumers (one consumer-info request
         * each), so a backlog is taken in priority order; then the other
         * level-0 consumers; else a long poll on the main one (the first
         * model's, or the any consumer's), where most tasks are. A task
         * from the any consumer whose model this worker holds is computed;
         * one for another model is fetched while there is room, else
         * handed back for a worker with room (a delivery). An idle worker
         * sees another consumer's task when its long poll ends
         * (IDLE_WAIT_MS). A task due for redelivery is counted as in
         * flight, not waiting, so a consumer with tasks in flight is also
         * fetched from every SWEEP_S, briefly. */
        source *main_src = NULL;
        for (int i = 0; i < w.n_src && !main_src; i++)
            if (w.src[i].level == 0)
                main_src = &w.src[i];
        natsMsgList list = {0};
        jsErrCode jerr = 0;
        natsStatus s = NATS_TIMEOUT;
        source *from = NULL;
        for (int p = IA_CLUSTER_PRIORITIES - 1; p >= 0 && s == NATS_TIMEOUT; p--)
            for (int i = 0; i < w.n_src && s == NATS_TIMEOUT; i++) {
                source *src = &w.src[i];
                if (src->level != p || src == main_src)
                    continue;
                s = probe(&w, src, &list, &jerr);
                from = src;
            }
        if (s == NATS_TIMEOUT) {
            from = main_src;
            s = natsSubscription_Fetch(&list, main_src->sub, 1, IDLE_WAIT_MS, &jerr);
        }
        if (s == NATS_TIMEOUT) { /* idle */
            spread(&w);
            continue;
        }
        if (s != NATS_OK) { /* the server is away: wait for the reconnect */
            if (!down)
                ia__log(IA_LOG_WARN, "worker %s: fetching tasks: %s; retrying", cfg->name, natsStatus_GetText(s));
            down = true;
            nats_Sleep(250);
            continue;
        }
        if (down)
            ia__log(IA_LOG_INFO, "worker %s: fetching tasks again", cfg->name);
        down = false;
        for (int i = 0; i < list.Count; i++)
            handle(&w, list.Msgs[i], from);
        natsMsgList_Destroy(&list);
    }
    pthread_mutex_lock(&w.mu);
    w.quit = true;
    pthread_cond_signal(&w.cv);
    pthread_mutex_unlock(&w.mu);
    pthread_join(tick, NULL);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    worker_close(&w);
    kvStore_Delete(c->workers, cfg->name);
    ia__log(IA_LOG_INFO, "worker %s: stopped after %ld tasks (%ld already done, %ld failed, %ld dead letters)",
            cfg->name, w.done, w.skipped, w.failed, w.dead);
    return IA_OK;
}

/* ---- submitter ---- */

typedef struct shard {
    char id[IA_CLUSTER_ID_LEN + 1];
    size_t first, n; /* its texts: [first, first + n) of the job */
    float *vecs;     /* n x dim once its result is in */
    int dim;
    bool done;
    uint8_t *task;   /* the task body until the result is in: to queue it again */
    size_t task_len;
    int requeued;    /* times queued again after its task was lost */
    char route;      /* where its task was queued: 'n' by name, 'c' its model's holders, 'a' any worker */
} shard;

struct ia_cluster_job {
    ia_cluster *c;
    char model[IA_CID_STR_MAX]; /* a name, or a CID (opts.by_cid) */
    ia_cluster_task_opts opts;
    char *prompt;
    shard *shards;
    size_t n_shards, cap, texts;
    size_t emitted, done, found, texts_done;
    natsSubscription *results, *dead;
    size_t *index; /* open addressing: shard id -> shard + 1 */
    size_t index_cap;
    char id[17];
    bool warned_full; /* the queue was full once: said once */
};

ia_status ia__cluster_job_new(ia_cluster *c, const char *model_name, const ia_cluster_task_opts *o,
                              ia_cluster_job **out)
{
    IA_NEED(c);
    IA_NEED(model_name);
    IA_NEED(o);
    if (o->priority < 0 || o->priority >= IA_CLUSTER_PRIORITIES)
        return ia__error(IA_ERR_INVALID, "priority %d: the levels are 0 (default) to %d (taken first)", o->priority,
                         IA_CLUSTER_PRIORITIES - 1);
    ia_cluster_job *j = ia__calloc(1, sizeof *j);
    if (!j)
        return ia__error(IA_ERR_NOMEM, "job: out of memory");
    j->c = c;
    snprintf(j->model, sizeof j->model, "%s", model_name);
    j->opts = *o;
    if (o->prompt_name && !(j->prompt = ia__strdup(o->prompt_name))) {
        ia__free(j);
        return ia__error(IA_ERR_NOMEM, "job: out of memory");
    }
    j->opts.prompt_name = j->prompt;
    /* Subscribed before any task is queued, so no result is missed; what
     * is missed anyway (a reconnect) is read from the streams on a stall. */
    natsStatus s = natsConnection_SubscribeSync(&j->results, c->nc, IA_CLUSTER_RESULT_PREFIX "*");
    if (s == NATS_OK)
        s = natsConnection_SubscribeSync(&j->dead, c->nc, "ia.dead.*");
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(j->results, 1 << 22, 1 << 30);
    if (s != NATS_OK) {
        ia__cluster_job_free(j);
        return nats_fail(IA_ERR_IO, s, 0, "subscribing to results");
    }
    *out = j;
    return IA_OK;
}

void ia__cluster_job_free(ia_cluster_job *j)
{
    if (!j)
        return;
    natsSubscription_Destroy(j->results);
    natsSubscription_Destroy(j->dead);
    for (size_t i = 0; i < j->n_shards; i++) {
        ia__free(j->shards[i].vecs);
        ia__free(j->shards[i].task);
    }
    ia__free(j->shards);
    ia__free(j->index);
    ia__free(j->prompt);
    ia__free(j);
}

static void provenance(natsMsg *m, ia_cluster_provenance *p);

/* A result's body for shard sh; on_disk: read from the disk tier (else
 * it is kept there). */
static bool take_body(ia_cluster_job *j, shard *sh, const uint8_t *body, size_t len, const ia_cluster_provenance *prov,
                      bool on_disk)
{
    float *v;
    size_t n;
    int dim;
    if (ia__cluster_result_decode(body, len, &v, &n, &dim))
        return false;
    if (n != sh->n) {
        ia__free(v);
        return false;
    }
    if (!on_disk)
        disk_put(j->c, sh->id, body, len, prov);
    sh->vecs = v;
    sh->dim = dim;
    sh->done = true;
    ia__free(sh->task);
    sh->task = NULL;
    j->done++;
    j->texts_done += n;
    return true;
}

static bool take_result(ia_cluster_job *j, shard *sh, natsMsg *m)
{
    ia_cluster_provenance p;
    provenance(m, &p);
    return take_body(j, sh, (const uint8_t *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &p, false);
}

/* A task's subject: by model name (route 'n'), for the workers that hold
 * model CID ('c'), or for any worker ('a', the CID in Ia-Model-Cid). */
static void task_subject(char *buf, size_t size, const char *model, char route, int priority, const char *id)
{
    if (route == 'c')
        snprintf(buf, size, "ia.task.cid.%s.p%d.%s", model, priority, id);
    else if (route == 'a')
        snprintf(buf, size, "ia.task.any.p%d.%s", priority, id);
    else
        snprintf(buf, size, "ia.task.embed.%s.p%d.%s", model, priority, id);
}

/* Where a task goes: by name; or, by CID, to the model's holders while a
 * live worker advertises it, else to any worker (which fetches it). */
static char route_of(ia_cluster *c, const char *model, bool by_cid)
{
    return !by_cid ? 'n' : provider_live(c, model) ? 'c' : 'a';
}

/* JetStream refused the task for the task stream's bound (discard new). */
static bool queue_full(natsStatus s, jsErrCode jerr)
{
    if (s == NATS_OK || jerr != JSStreamStoreFailedErr)
        return false;
    const char *e = nats_GetLastError(NULL);
    return e && (strstr(e, "maximum messages") || strstr(e, "maximum bytes"));
}

/* IA_ERR_BUSY naming the bound the task queue is at. */
static ia_status busy_error(ia_cluster *c, const char *what, double waited)
{
    jsStreamInfo *si = NULL;
    char state[160] = "";
    if (js_GetStreamInfo(&si, c->js, IA_CLUSTER_STREAM_TASKS, NULL, NULL) == NATS_OK) {
        snprintf(state, sizeof state, " (%llu tasks, %llu bytes; bound %lld tasks, %lld bytes)",
                 (unsigned long long)si->State.Msgs, (unsigned long long)si->State.Bytes,
                 (long long)si->Config->MaxMsgs, (long long)si->Config->MaxBytes);
        jsStreamInfo_Destroy(si);
    }
    return ia__error(IA_ERR_BUSY, "%s: the task queue %s at %s is full%s after waiting %.1f s for room: retry "
                     "later, start more workers, or raise the bound", what, IA_CLUSTER_STREAM_TASKS, c->url, state,
                     waited);
}

/* Publish a task on ia.task.embed.<model>.p<priority>.<id> and wait for
 * JetStream's ack, retrying while the server is away (a restart) for up
 * to outage_s, and while the queue is full for up to wait_s (< 0: for ever;
 * *warned: it was said once). The Nats-Msg-Id makes a second publish of
 * the same task a no-op. */
static ia_status publish_task(ia_cluster *c, const char *model, char route, int priority, const char *id,
                              const char *msg_id, const uint8_t *body, size_t len, double wait_s, double outage_s,
                              bool *warned, const char *what)
{
    char subj[160];
    task_subject(subj, sizeof subj, model, route, priority, id);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = msg_id;
    double t0 = ia__now(), t_full = 0;
    for (;;) {
        natsMsg *m = NULL;
        jsErrCode jerr = 0;
        natsStatus s = natsMsg_Create(&m, subj, NULL, (const char *)body, (int)len);
        if (s == NATS_OK)
            s = natsMsgHeader_Set(m, "Ia-Shard", id);
        if (s == NATS_OK && route != 'n')
            s = natsMsgHeader_Set(m, "Ia-Model-Cid", model);
        if (s == NATS_OK)
            s = js_PublishMsg(NULL, c->js, m, &po, &jerr);
        natsMsg_Destroy(m);
        if (s == NATS_OK)
            return IA_OK;
        double now = ia__now();
        if (queue_full(s, jerr)) {
            if (!t_full)
                t_full = now;
            if (wait_s >= 0 && now - t_full >= wait_s)
                return busy_error(c, what, now - t_full);
            if (!*warned)
                ia__log(IA_LOG_WARN, "%s: the task queue %s is full: waiting for the workers to make room", what,
                        IA_CLUSTER_STREAM_TASKS);
            *warned = true;
            nats_Sleep(wait_s >= 0 ? (int64_t)IA_MIN(250, wait_s * 1000 + 1) : 250);
            t0 = ia__now(); /* the server is there: restart the outage clock */
            continue;
        }
        if (jerr || now - t0 > outage_s)
            return nats_fail(IA_ERR_IO, s, jerr, what);
        nats_Sleep(250);
    }
}

/* Shard i's task (the shard id as Nats-Msg-Id, with a suffix when it is
 * queued again after the server lost it). */
static ia_status queue_task(ia_cluster_job *j, size_t i)
{
    shard *sh = &j->shards[i];
    char msg_id[IA_CLUSTER_ID_LEN + 16];
    sh->route = route_of(j->c, j->model, j->opts.by_cid);
    if (sh->requeued)
        snprintf(msg_id, sizeof msg_id, "%s-%d", sh->id, sh->requeued);
    else
        snprintf(msg_id, sizeof msg_id, "%s", sh->id);
    char what[128];
    snprintf(what, sizeof what, "job %s: queueing shard %zu (texts %zu-%zu)", j->id[0] ? j->id : "(new)", i,
             sh->first, sh->first + sh->n - 1);
    return publish_task(j->c, j->model, sh->route, j->opts.priority, sh->id, msg_id, sh->task, sh->task_len, -1,
                        60, &j->warned_full, what);
}

ia_status ia__cluster_job_add(ia_cluster_job *j, const char *const *texts, const size_t *lens, size_t n)
{
    IA_NEED(j);
    shard *grown = ia__grow(j->shards, j->n_shards, &j->cap, sizeof *j->shards, 64);
    if (!grown)
        return ia__error(IA_ERR_NOMEM, "job: out of memory");
    j->shards = grown;
    shard *sh = &j->shards[j->n_shards];
    memset(sh, 0, sizeof *sh);
    ia_status st = ia__cluster_shard_id(j->model, &j->opts, texts, lens, n, sh->id);
    if (st)
        return st;
    sh->first = j->texts;
    sh->n = n;
    j->n_shards++;
    j->texts += n;

    float *v;
    size_t vn;
    int vd;
    if (cache_get(j->c, sh->id, &v, &vn, &vd, NULL)) { /* this process computed it */
        if (vn == n) {
            sh->vecs = v;
            sh->dim = vd;
            sh->done = true;
            j->done++;
            j->texts_done += n;
            j->found++;
            count(j->c, IA_FOUND_MEMORY);
            return IA_OK;
        }
        ia__free(v);
    }
    ia_cluster_provenance dprov;
    uint8_t *dbody;
    size_t dlen;
    if (disk_get(j->c, sh->id, &dbody, &dlen, &dprov)) { /* this machine had it */
        bool ok = take_body(j, sh, dbody, dlen, &dprov, true);
        ia__free(dbody);
        if (ok) {
            j->found++;
            count(j->c, IA_FOUND_DISK);
            return IA_OK;
        }
    }
    char subj[64 + IA_CLUSTER_ID_LEN];
    snprintf(subj, sizeof subj, IA_CLUSTER_RESULT_PREFIX "%s", sh->id);
    bool err;
    natsMsg *have = last_msg(j->c, IA_CLUSTER_STREAM_RESULTS, subj, &err);
    if (have) { /* done in an earlier run (or by another submitter) */
        bool ok = take_result(j, sh, have);
        natsMsg_Destroy(have);
        if (ok) {
            j->found++;
            count(j->c, IA_FOUND_CLUSTER);
            return IA_OK;
        }
    }
    if ((st = ia__cluster_task_encode(&j->opts, texts, lens, n, &sh->task, &sh->task_len)))
        return st;
    if ((st = queue_task(j, j->n_shards - 1)))
        return st;
    count(j->c, IA_FOUND_NONE);
    return IA_OK;
}

static uint64_t id_hash(const char *id)
{
    return ia__hash(id, IA_CLUSTER_ID_LEN);
}

static ia_status build_index(ia_cluster_job *j)
{
    size_t cap = 16;
    while (cap < 2 * j->n_shards)
        cap *= 2;
    ia__free(j->index);
    if (!(j->index = ia__calloc(cap, sizeof *j->index)))
        return ia__error(IA_ERR_NOMEM, "job: out of memory");
    j->index_cap = cap;
    for (size_t i = 0; i < j->n_shards; i++) {
        size_t k = id_hash(j->shards[i].id) & (cap - 1);
        while (j->index[k]) { /* equal shards (repeated input) all get their slot */
            k = (k + 1) & (cap - 1);
        }
        j->index[k] = i + 1;
    }
    /* the job's id: a hash of its shard ids */
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < j->n_shards; i++)
        h = h * 1099511628211ULL ^ id_hash(j->shards[i].id);
    snprintf(j->id, sizeof j->id, "%016llx", (unsigned long long)h);
    return IA_OK;
}

const char *ia__cluster_job_id(ia_cluster_job *j) { return j->id; }

/* A result or dead letter for subject ia.<kind>.<id>: every shard of the
 * job with that id (inputs may repeat). Returns how many shards it made done. */
static int on_result(ia_cluster_job *j, natsMsg *m, const char *id)
{
    if (strlen(id) != IA_CLUSTER_ID_LEN)
        return 0;
    int got = 0;
    size_t k = id_hash(id) & (j->index_cap - 1);
    for (; j->index[k]; k = (k + 1) & (j->index_cap - 1)) {
        shard *sh = &j->shards[j->index[k] - 1];
        if (!sh->done && !memcmp(sh->id, id, IA_CLUSTER_ID_LEN))
            got += take_result(j, sh, m);
    }
    return got;
}

static ia_status dead_error(ia_cluster_job *j, natsMsg *m, const char *id)
{
    if (strlen(id) != IA_CLUSTER_ID_LEN)
        return IA_OK;
    for (size_t k = id_hash(id) & (j->index_cap - 1); j->index[k]; k = (k + 1) & (j->index_cap - 1)) {
        size_t i = j->index[k] - 1;
        shard *sh = &j->shards[i];
        if (sh->done || memcmp(sh->id, id, IA_CLUSTER_ID_LEN))
            continue;
        const char *err = NULL, *who = NULL, *count = NULL;
        natsMsgHeader_Get(m, "Ia-Error", &err);
        natsMsgHeader_Get(m, "Ia-Worker", &who);
        natsMsgHeader_Get(m, "Ia-Deliveries", &count);
        return ia__error(IA_ERR_BACKEND, "shard %zu (texts %zu-%zu, id %s) failed on worker %s after %s deliveries "
                         "and is in the dead letters (ia.dead.%s): %s", i, sh->first, sh->first + sh->n - 1,
                         sh->id, who ? who : "?", count ? count : "?", sh->id, err ? err : "unknown error");
    }
    return IA_OK;
}

/* After a stall (a reconnect can lose core messages): read the streams,
 * for the next 256 shards not yet written (a bounded load on the server;
 * the window moves on as they complete). A shard with neither a task in
 * the queue, nor a result, nor a dead letter lost its task (a server that
 * crashed before writing what it had acknowledged): it is queued again.
 * The task is looked at first: a worker stores the result before it acks
 * the task, so a task gone before a result was looked for means a result
 * stored before it, unless it was lost too. */
static ia_status poll_missing(ia_cluster_job *j)
{
    char subj[128];
    for (size_t i = j->emitted; i < j->n_shards && i < j->emitted + 256; i++) {
        shard *sh = &j->shards[i];
        if (sh->done)
            continue;
        bool err, task_err;
        task_subject(subj, sizeof subj, j->model, sh->route, j->opts.priority, sh->id);
        natsMsg *task = last_msg(j->c, IA_CLUSTER_STREAM_TASKS, subj, &task_err);
        bool queued = task != NULL;
        natsMsg_Destroy(task);
        if (queued && sh->route == 'c' && sh->task && !provider_live(j->c, j->model)) {
            /* Queued for the model's holders, and none is left (they
             * stopped or crashed): queued again for any worker, which
             * fetches the model. The first copy stays; a worker that takes
             * it later finds the result and only acks it. */
            char msg_id[IA_CLUSTER_ID_LEN + 16], what[160];
            snprintf(msg_id, sizeof msg_id, "%s-a%d", sh->id, sh->requeued);
            snprintf(what, sizeof what, "job %s: queueing shard %zu for any worker", j->id, i);
            ia__log(IA_LOG_WARN, "job %s: shard %zu waits for model %s, which no live worker holds now: queued for "
                    "any worker", j->id, i, j->model);
            sh->route = 'a';
            ia_status st = publish_task(j->c, j->model, 'a', j->opts.priority, sh->id, msg_id, sh->task,
                                        sh->task_len, -1, 60, &j->warned_full, what);
            if (st)
                return st;
            continue;
        }
        snprintf(subj, sizeof subj, IA_CLUSTER_RESULT_PREFIX "%s", sh->id);
        natsMsg *m = last_msg(j->c, IA_CLUSTER_STREAM_RESULTS, subj, &err);
        if (m) {
            on_result(j, m, sh->id);
            natsMsg_Destroy(m);
            continue;
        }
        if (err || task_err)
            return IA_OK; /* the server is away; the next stall tries again */
        snprintf(subj, sizeof subj, "ia.dead.%s", sh->id);
        if ((m = last_msg(j->c, IA_CLUSTER_STREAM_DEAD, subj, &err))) {
            ia_status st = dead_error(j, m, sh->id);
            natsMsg_Destroy(m);
            if (st)
                return st;
            continue;
        }
        if (!queued && !err && sh->task) {
            sh->requeued++;
            ia__log(IA_LOG_WARN, "job %s: shard %zu (id %s) has no task, result or dead letter: queueing it again",
                    j->id, i, sh->id);
            ia_status st = queue_task(j, i);
            if (st)
                return st;
        }
    }
    return IA_OK;
}

ia_status ia__cluster_job_wait(ia_cluster_job *j, double timeout_s, ia_cluster_rows_fn rows,
                               ia_cluster_progress_fn progress, void *ud)
{
    IA_NEED(j);
    IA_NEED(rows);
    ia_status st = build_index(j);
    if (st)
        return st;
    double last_progress = ia__now(), last_report = 0, last_poll = ia__now();
    size_t seen_done = j->done;
    for (;;) {
        while (j->emitted < j->n_shards && j->shards[j->emitted].done) {
            shard *sh = &j->shards[j->emitted++];
            rows(ud, sh->vecs, sh->n, sh->dim);
            ia__free(sh->vecs);
            sh->vecs = NULL;
        }
        double now = ia__now();
        if (progress && (now - last_report >= 0.5 || j->emitted == j->n_shards)) {
            ia_cluster_progress p = {j->n_shards, j->done, j->found, j->texts, j->texts_done};
            progress(ud, &p);
            last_report = now;
        }
        if (j->emitted == j->n_shards)
            return IA_OK;
        if (j->done != seen_done) {
            seen_done = j->done;
            last_progress = now;
        }
        if (timeout_s > 0 && now - last_progress > timeout_s)
            return ia__error(IA_ERR_TIMEOUT, "job %s: no shard finished in %.0f s (%zu of %zu done); are workers "
                             "running for model %s? (ipfs-accelerate cluster status)", j->id, timeout_s, j->done,
                             j->n_shards, j->model);
        if (now - last_progress > 2 && now - last_poll > 2) {
            if ((st = poll_missing(j)))
                return st;
            last_poll = ia__now();
            continue;
        }
        natsMsg *m = NULL;
        while (natsSubscription_NextMsg(&m, j->dead, 0) == NATS_OK) {
            const char *subj = natsMsg_GetSubject(m);
            st = dead_error(j, m, subj + strlen("ia.dead."));
            natsMsg_Destroy(m);
            if (st)
                return st;
        }
        natsStatus s = natsSubscription_NextMsg(&m, j->results, 200);
        if (s == NATS_OK) {
            on_result(j, m, natsMsg_GetSubject(m) + strlen(IA_CLUSTER_RESULT_PREFIX));
            natsMsg_Destroy(m);
        } else if (s != NATS_TIMEOUT) {
            nats_Sleep(100);
        }
    }
}

/* ---- single tasks (the public API, for the Python coordinator) ---- */

static void provenance(natsMsg *m, ia_cluster_provenance *p)
{
    const char *v[3] = {NULL, NULL, NULL};
    natsMsgHeader_Get(m, "Ia-Worker", &v[0]);
    natsMsgHeader_Get(m, "Ia-Backend", &v[1]);
    natsMsgHeader_Get(m, "Ia-Precision", &v[2]);
    snprintf(p->worker, sizeof p->worker, "%s", v[0] ? v[0] : "");
    snprintf(p->backend, sizeof p->backend, "%s", v[1] ? v[1] : "");
    snprintf(p->precision, sizeof p->precision, "%s", v[2] ? v[2] : "");
}

/* Where task id's result is: in this process's memory, on this machine's
 * disk or in the result bucket (then copied to memory, for the
 * ia_cluster_result that follows, and to disk), or nowhere yet
 * (IA_FOUND_*). */
static int cached_result(ia_cluster *c, const char *id)
{
    if (cache_has(c, id))
        return IA_FOUND_MEMORY;
    ia_cluster_provenance dp;
    uint8_t *db;
    size_t dl, dn;
    float *dv;
    int dd;
    if (disk_get(c, id, &db, &dl, &dp)) {
        bool ok = !ia__cluster_result_decode(db, dl, &dv, &dn, &dd);
        ia__free(db);
        if (ok) {
            cache_put(c, id, dv, dn, dd, &dp);
            ia__free(dv);
            return IA_FOUND_DISK;
        }
    }
    char subj[64 + IA_CLUSTER_ID_LEN];
    snprintf(subj, sizeof subj, IA_CLUSTER_RESULT_PREFIX "%s", id);
    bool err;
    natsMsg *m = last_msg(c, IA_CLUSTER_STREAM_RESULTS, subj, &err);
    if (!m)
        return IA_FOUND_NONE;
    float *v;
    size_t n;
    int dim;
    if (!ia__cluster_result_decode((const uint8_t *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &v, &n,
                                   &dim)) {
        ia_cluster_provenance p;
        provenance(m, &p);
        cache_put(c, id, v, n, dim, &p);
        disk_put(c, id, (const uint8_t *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &p);
        ia__free(v);
    }
    natsMsg_Destroy(m);
    return IA_FOUND_CLUSTER;
}

ia_status ia_cluster_submit(ia_cluster *c, const char *model, const char *const *texts, const size_t *lens,
                           size_t n, const ia_cluster_submit_options *opt, char task_id[IA_CLUSTER_TASK_ID_LEN + 1])
{
    IA_NEED(c);
    IA_NEED(model);
    IA_NEED(task_id);
    if (n && (!texts || !lens))
        return ia__error(IA_ERR_INVALID, "ia_cluster_submit: texts and lens are required for %zu texts", n);
    task_id[0] = '\0';
    ia_cluster_submit_options o;
    ia__opts_copy(&o, sizeof o, opt);
    if (o.dimensions < 0)
        return ia__error(IA_ERR_INVALID, "ia_cluster_submit: dimensions %d is negative", o.dimensions);
    char name[IA_CID_STR_MAX];
    bool by_cid = ia_ipfs_is_ref(model); /* ipfs://CID: routed to the workers that hold it */
    ia_status st = by_cid ? ia__cluster_cid_key(model, name) : ia__cluster_model_name(model, name);
    if (st)
        return st;
    if (o.priority < 0 || o.priority >= IA_CLUSTER_PRIORITIES)
        return ia__error(IA_ERR_INVALID, "ia_cluster_submit: priority %d: the levels are 0 (default) to %d "
                         "(taken first)", o.priority, IA_CLUSTER_PRIORITIES - 1);
    ia_cluster_task_opts to = {.dimensions = o.dimensions, .prompt_name = o.prompt_name, .priority = o.priority,
                               .by_cid = by_cid};
    char id[IA_CLUSTER_ID_LEN + 1];
    if ((st = ia__cluster_shard_id(name, &to, texts, lens, n, id)))
        return st;
    int found = cached_result(c, id);
    if (found) { /* computed before: nothing to queue */
        count(c, found);
        memcpy(task_id, id, sizeof id);
        return IA_OK;
    }
    uint8_t *body;
    size_t len;
    if ((st = ia__cluster_task_encode(&to, texts, lens, n, &body, &len)))
        return st;
    char what[160];
    snprintf(what, sizeof what, "%s: queueing task %s for model %s", c->url, id, name);
    bool warned = true; /* the caller hears IA_ERR_BUSY; no log line */
    st = publish_task(c, name, route_of(c, name, by_cid), o.priority, id, id, body, len, o.wait_s, 60, &warned,
                      what);
    ia__free(body);
    if (!st) {
        count(c, IA_FOUND_NONE);
        memcpy(task_id, id, sizeof id);
    }
    return st;
}

ia_status ia__cluster_submit_ids(ia_cluster *c, const char *cid, const uint8_t *body, size_t len, int priority,
                                 double wait_s, double outage_s, char id[IA_CLUSTER_ID_LEN + 1], int *found)
{
    IA_NEED(c);
    IA_NEED(cid);
    IA_NEED(body);
    *found = IA_FOUND_NONE;
    if (priority < 0 || priority >= IA_CLUSTER_PRIORITIES)
        return ia__error(IA_ERR_INVALID, "priority %d: the levels are 0 (default) to %d", priority,
                         IA_CLUSTER_PRIORITIES - 1);
    ia_status st = ia__cluster_ids_shard_id(cid, body, len, id);
    if (st)
        return st;
    if (cache_has(c, id)) { /* no NATS needed */
        *found = IA_FOUND_MEMORY;
        count(c, *found);
        return IA_OK;
    }
    /* Disconnected (a server restart): wait for the reconnect up to
     * outage_s, rather than let each request below wait out its timeout. */
    for (double t0 = ia__now(); natsConnection_Status(c->nc) != NATS_CONN_STATUS_CONNECTED;) {
        if (ia__now() - t0 >= outage_s)
            return ia__error(IA_ERR_IO, "%s: not connected to NATS for %.1f s (reconnecting)", c->url, outage_s);
        nats_Sleep(50);
    }
    if ((*found = cached_result(c, id))) {
        count(c, *found);
        return IA_OK;
    }
    char what[160];
    snprintf(what, sizeof what, "%s: queueing task %s for model %s", c->url, id, cid);
    bool warned = true; /* the caller answers IA_ERR_BUSY; no log line */
    st = publish_task(c, cid, route_of(c, cid, true), priority, id, id, body, len, wait_s, outage_s, &warned, what);
    if (!st)
        count(c, IA_FOUND_NONE);
    return st;
}

/* The result or the dead letter of task id, if either is stored: IA_OK
 * with *vecs set, IA_ERR_BACKEND for a dead letter, IA_ERR_NOT_FOUND for
 * neither (or the server away). */
static ia_status stored_result(ia_cluster *c, const char *id, float **vecs, size_t *n, int *dim,
                               ia_cluster_provenance *prov)
{
    char subj[64 + IA_CLUSTER_ID_LEN];
    snprintf(subj, sizeof subj, IA_CLUSTER_RESULT_PREFIX "%s", id);
    bool err;
    natsMsg *m = last_msg(c, IA_CLUSTER_STREAM_RESULTS, subj, &err);
    if (m) {
        ia_status st = ia__cluster_result_decode((const uint8_t *)natsMsg_GetData(m),
                                                 (size_t)natsMsg_GetDataLength(m), vecs, n, dim);
        provenance(m, prov);
        natsMsg_Destroy(m);
        return st;
    }
    snprintf(subj, sizeof subj, "ia.dead.%s", id);
    if ((m = last_msg(c, IA_CLUSTER_STREAM_DEAD, subj, &err))) {
        const char *e = NULL, *who = NULL, *count = NULL;
        natsMsgHeader_Get(m, "Ia-Error", &e);
        natsMsgHeader_Get(m, "Ia-Worker", &who);
        natsMsgHeader_Get(m, "Ia-Deliveries", &count);
        ia_status st = ia__error(IA_ERR_BACKEND, "task %s failed on worker %s after %s deliveries and is in the "
                                 "dead letters (ia.dead.%s): %s", id, who ? who : "?", count ? count : "?", id,
                                 e ? e : "unknown error");
        natsMsg_Destroy(m);
        return st;
    }
    return IA_ERR_NOT_FOUND;
}

ia_status ia_cluster_result(ia_cluster *c, const char *task_id, double timeout_s, float **vecs, size_t *n, int *dim)
{
    IA_NEED(c); /* here, for messages that name the public function */
    IA_NEED(task_id);
    IA_NEED(vecs);
    IA_NEED(n);
    IA_NEED(dim);
    return ia__cluster_result_ex(c, task_id, timeout_s, vecs, n, dim, NULL);
}

ia_status ia__cluster_result_ex(ia_cluster *c, const char *task_id, double timeout_s, float **vecs, size_t *n,
                                int *dim, ia_cluster_provenance *prov_out)
{
    IA_NEED(c);
    IA_NEED(task_id);
    IA_NEED(vecs);
    IA_NEED(n);
    IA_NEED(dim);
    *vecs = NULL;
    *n = 0;
    *dim = 0;
    if (strlen(task_id) != IA_CLUSTER_ID_LEN || strspn(task_id, "0123456789abcdef") != IA_CLUSTER_ID_LEN)
        return ia__error(IA_ERR_INVALID, "ia_cluster_result: '%s' is not a task id (%d hex digits)", task_id,
                         IA_CLUSTER_ID_LEN);
    ia_cluster_provenance prov;
    memset(&prov, 0, sizeof prov);
    if (cache_get(c, task_id, vecs, n, dim, &prov)) {
        if (prov_out)
            *prov_out = prov;
        return IA_OK;
    }
    uint8_t *db;
    size_t dl;
    if (disk_get(c, task_id, &db, &dl, &prov)) {
        ia_status dst = ia__cluster_result_decode(db, dl, vecs, n, dim);
        ia__free(db);
        if (!dst) {
            cache_put(c, task_id, *vecs, *n, *dim, &prov);
            if (prov_out)
                *prov_out = prov;
            return IA_OK;
        }
    }
    /* Subscribed before looking, so a result stored in between is heard. */
    char subj[64 + IA_CLUSTER_ID_LEN];
    natsSubscription *sub = NULL, *dead = NULL;
    snprintf(subj, sizeof subj, IA_CLUSTER_RESULT_PREFIX "%s", task_id);
    natsStatus s = natsConnection_SubscribeSync(&sub, c->nc, subj);
    snprintf(subj, sizeof subj, "ia.dead.%s", task_id);
    if (s == NATS_OK)
        s = natsConnection_SubscribeSync(&dead, c->nc, subj);
    if (s != NATS_OK) {
        natsSubscription_Destroy(sub);
        return nats_fail(IA_ERR_IO, s, 0, "subscribing to the result");
    }
    double t0 = ia__now(), last_look = 0;
    ia_status st;
    for (;;) {
        /* Look in the streams at first and every 2 s: a reconnect can lose
         * the core message that announced the result. */
        double now = ia__now();
        if (now - last_look >= 2) {
            last_look = now;
            if ((st = stored_result(c, task_id, vecs, n, dim, &prov)) != IA_ERR_NOT_FOUND)
                break;
        }
        double left = timeout_s < 0 ? 2 : t0 + timeout_s - ia__now();
        if (left <= 0) {
            st = ia__error(IA_ERR_TIMEOUT, "task %s: no result after %.1f s; are workers running for its model? "
                           "(ipfs-accelerate cluster status)", task_id, timeout_s);
            break;
        }
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, dead, 0) == NATS_OK) { /* a dead letter: its headers, as stored */
            natsMsg_Destroy(m);
            last_look = 0;
            continue;
        }
        /* short waits, so a dead letter is seen soon */
        s = natsSubscription_NextMsg(&m, sub, (int64_t)(IA_MIN(left, 0.1) * 1000) + 1);
        if (s == NATS_OK) {
            st = ia__cluster_result_decode((const uint8_t *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m),
                                           vecs, n, dim);
            provenance(m, &prov);
            natsMsg_Destroy(m);
            break;
        } else if (s != NATS_TIMEOUT) {
            nats_Sleep(100);
        }
    }
    natsSubscription_Destroy(sub);
    natsSubscription_Destroy(dead);
    if (!st) {
        cache_put(c, task_id, *vecs, *n, *dim, &prov);
        disk_put_vecs(c, task_id, *vecs, *n, *dim, &prov);
        if (prov_out)
            *prov_out = prov;
    }
    return st;
}

ia_status ia_cluster_status_json(ia_cluster *c, char **out)
{
    IA_NEED(c);
    IA_NEED(out);
    *out = NULL;
    cJSON *j;
    ia_status st = ia__cluster_status(c, &j);
    if (st)
        return st;
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text)
        return ia__error(IA_ERR_NOMEM, "cluster status: out of memory");
    *out = ia__strdup(text);
    cJSON_free(text);
    return *out ? IA_OK : ia__error(IA_ERR_NOMEM, "cluster status: out of memory");
}

/* ---- status ---- */

/* A copy of each advert into the workers array, with its age. */
static void status_advert(void *ud, const cJSON *advert, double age_s)
{
    cJSON *w = cJSON_Duplicate(advert, 1);
    if (!w)
        return;
    if (cJSON_IsNumber(cJSON_GetObjectItem(w, "last_seen")))
        cJSON_AddNumberToObject(w, "last_seen_s", age_s);
    cJSON_AddItemToArray(ud, w);
}

ia_status ia__cluster_status(ia_cluster *c, cJSON **out)
{
    IA_NEED(c);
    IA_NEED(out);
    cJSON *root = cJSON_CreateObject(), *workers = cJSON_AddArrayToObject(root, "workers");
    natsStatus s = each_advert(c, status_advert, workers);
    if (s != NATS_OK) {
        cJSON_Delete(root);
        return nats_fail(IA_ERR_IO, s, 0, "listing workers");
    }
    cJSON *q = cJSON_AddObjectToObject(root, "queue");
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    if ((s = js_GetStreamInfo(&si, c->js, IA_CLUSTER_STREAM_TASKS, NULL, &jerr)) != NATS_OK) {
        cJSON_Delete(root);
        return nats_fail(IA_ERR_IO, s, jerr, "stream " IA_CLUSTER_STREAM_TASKS);
    }
    cJSON_AddNumberToObject(q, "tasks", (double)si->State.Msgs);
    double age = 0;
    if (si->State.Msgs && si->State.FirstTime > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        age = ((double)ts.tv_sec * 1e9 + (double)ts.tv_nsec - (double)si->State.FirstTime) / 1e9;
    }
    cJSON_AddNumberToObject(q, "oldest_age_s", age < 0 ? 0 : age);
    cJSON_AddNumberToObject(q, "bytes", (double)si->State.Bytes);
    cJSON_AddNumberToObject(q, "max_tasks", (double)si->Config->MaxMsgs);
    cJSON_AddNumberToObject(q, "max_bytes", (double)si->Config->MaxBytes);
    jsStreamInfo_Destroy(si);
    jsConsumerInfoList *cl = NULL;
    double in_flight = 0, redelivered = 0, by_priority[IA_CLUSTER_PRIORITIES] = {0};
    if (js_Consumers(&cl, c->js, IA_CLUSTER_STREAM_TASKS, NULL, NULL) == NATS_OK) {
        for (int i = 0; i < cl->Count; i++) {
            in_flight += (double)cl->List[i]->NumAckPending;
            redelivered += (double)cl->List[i]->NumRedelivered;
            /* embed-<model>-p<level>: its waiting tasks count at that level */
            const char *name = cl->List[i]->Name, *p = name ? strrchr(name, '-') : NULL;
            if (p && p[1] == 'p' && p[2] >= '0' && p[2] < '0' + IA_CLUSTER_PRIORITIES && !p[3])
                by_priority[p[2] - '0'] += (double)cl->List[i]->NumPending;
        }
        jsConsumerInfoList_Destroy(cl);
    }
    cJSON_AddNumberToObject(q, "in_flight", in_flight);
    cJSON_AddNumberToObject(q, "redelivered", redelivered);
    cJSON_AddItemToObject(q, "by_priority", cJSON_CreateDoubleArray(by_priority, IA_CLUSTER_PRIORITIES));
    const char *counted[][2] = {{"results", IA_CLUSTER_STREAM_RESULTS}, {"dead_letters", IA_CLUSTER_STREAM_DEAD}};
    for (size_t i = 0; i < 2; i++) {
        double msgs = 0;
        if (js_GetStreamInfo(&si, c->js, counted[i][1], NULL, NULL) == NATS_OK) {
            msgs = (double)si->State.Msgs;
            jsStreamInfo_Destroy(si);
        }
        cJSON_AddNumberToObject(root, counted[i][0], msgs);
    }
    /* The result cache: the bucket's state, and the hits and misses the
     * submitters reported (ia_clients). */
    cJSON *cache = cJSON_AddObjectToObject(root, "cache");
    if (js_GetStreamInfo(&si, c->js, IA_CLUSTER_STREAM_RESULTS, NULL, NULL) == NATS_OK) {
        cJSON_AddNumberToObject(cache, "entries", (double)si->State.Msgs);
        cJSON_AddNumberToObject(cache, "bytes", (double)si->State.Bytes);
        cJSON_AddNumberToObject(cache, "max_bytes", (double)si->Config->MaxBytes);
        cJSON_AddNumberToObject(cache, "ttl_s", (double)si->Config->MaxAge / NS_PER_S);
        jsStreamInfo_Destroy(si);
    }
    double sums[4] = {0};
    const char *fields[4] = {"hits_memory", "hits_cluster", "misses", "hits_disk"};
    kvKeysList ck = {0};
    if (kvStore_Keys(&ck, c->clients, NULL) == NATS_OK) {
        for (int i = 0; i < ck.Count; i++) {
            kvEntry *e = NULL;
            if (kvStore_Get(&e, c->clients, ck.Keys[i]) != NATS_OK)
                continue;
            cJSON *v = cJSON_ParseWithLength(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e));
            kvEntry_Destroy(e);
            for (int k = 0; k < 4; k++) {
                const cJSON *f = cJSON_GetObjectItem(v, fields[k]);
                sums[k] += cJSON_IsNumber(f) ? f->valuedouble : 0;
            }
            cJSON_Delete(v);
        }
        kvKeysList_Destroy(&ck);
    }
    for (int k = 0; k < 4; k++)
        cJSON_AddNumberToObject(cache, fields[k], sums[k]);
    double lookups = sums[0] + sums[1] + sums[2] + sums[3];
    cJSON_AddNumberToObject(cache, "hit_rate", lookups > 0 ? (sums[0] + sums[1] + sums[3]) / lookups : 0);
    /* the workers' disk tiers: tasks answered there instead of computed */
    double worker_disk = 0;
    const cJSON *wk;
    cJSON_ArrayForEach(wk, workers) {
        const cJSON *f = cJSON_GetObjectItem(wk, "hits_disk");
        worker_disk += cJSON_IsNumber(f) ? f->valuedouble : 0;
    }
    cJSON_AddNumberToObject(cache, "worker_hits_disk", worker_disk);
    *out = root;
    return IA_OK;
}
