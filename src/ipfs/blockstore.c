/*
 * The on-disk blockstore: kubo flatfs layout (blocks/<shard>/<KEY>.data,
 * KEY the unpadded upper-case base32 of the multihash, shard its
 * next-to-last two characters), atomic writes, pins and a size-capped,
 * least-recently-used-first garbage collector.
 *
 * Crash safety: a block is written to a temporary name in its shard
 * directory, fsynced, then renamed over its real name, so a real name
 * always holds a complete block. Readers verify anyway. Temporaries left
 * by a crash are removed by verify and gc once they are old.
 *
 * Use time: a block's mtime is its last use; reads refresh it at most
 * once an hour so reading stays cheap.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ipfs_accelerate/store.h"
#include "ipfs-impl.h"

#define TOUCH_AFTER_S 3600
#define STALE_TMP_S 600

struct ia_blockstore {
    char *home, *blocks, *pins;
};

static atomic_uint tmp_counter;

ia_status ia_store_home(char *buf, size_t cap)
{
    ia__error_clear();
    IA_NEED(buf);
    const char *h = getenv("IPFS_ACCELERATE_HOME");
    int n;
    if (h && *h) {
        n = snprintf(buf, cap, "%s", h);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home)
            return ia__error(IA_ERR_INVALID, "neither IPFS_ACCELERATE_HOME nor HOME is set");
        n = snprintf(buf, cap, "%s/.ipfs_accelerate", home);
    }
    if (n < 0 || (size_t)n >= cap)
        return ia__error(IA_ERR_INVALID, "store home path is too long");
    return IA_OK;
}

static ia_status mkdir_p(const char *path)
{
    char tmp[4096];
    size_t l = strlen(path);
    if (l >= sizeof tmp)
        return ia__error(IA_ERR_INVALID, "%s: path too long", path);
    memcpy(tmp, path, l + 1);
    for (size_t i = 1; i <= l; i++) {
        if (tmp[i] == '/' || tmp[i] == 0) {
            char c = tmp[i];
            tmp[i] = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST)
                return ia__error(IA_ERR_IO, "%s: %s", tmp, strerror(errno));
            tmp[i] = c;
        }
    }
    return IA_OK;
}

static ia_status write_atomic(const char *dir, const char *final, const void *data, size_t len)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s/.tmp-%ld-%u-%ld", dir, (long)getpid(),
             atomic_fetch_add(&tmp_counter, 1), (long)time(NULL));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return ia__error(IA_ERR_IO, "%s: %s", tmp, strerror(errno));
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            ia_status st = ia__error(IA_ERR_IO, "%s: write: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return st;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) || close(fd)) {
        ia_status st = ia__error(IA_ERR_IO, "%s: fsync: %s", tmp, strerror(errno));
        unlink(tmp);
        return st;
    }
    if (rename(tmp, final)) {
        ia_status st = ia__error(IA_ERR_IO, "%s: rename: %s", final, strerror(errno));
        unlink(tmp);
        return st;
    }
    return IA_OK;
}

ia_status ia_blockstore_open(const char *home, ia_blockstore **out)
{
    ia__error_clear();
    IA_NEED(out);
    char def[4096];
    if (!home) {
        ia_status st = ia_store_home(def, sizeof def);
        if (st)
            return st;
        home = def;
    }
    ia_blockstore *bs = ia__calloc(1, sizeof *bs);
    if (!bs)
        return ia__error(IA_ERR_NOMEM, "blockstore");
    bs->home = ia__strdup(home);
    bs->blocks = ia__path_join(home, "blocks");
    bs->pins = ia__path_join(home, "pins");
    ia_status st = IA_OK;
    if (!bs->home || !bs->blocks || !bs->pins)
        st = ia__error(IA_ERR_NOMEM, "blockstore");
    if (!st)
        st = mkdir_p(bs->blocks);
    if (!st)
        st = mkdir_p(bs->pins);
    if (!st) {
        char *shard = ia__path_join(bs->blocks, "SHARDING");
        if (shard && !ia__file_exists(shard)) {
            const char *v = "/repo/flatfs/shard/v1/next-to-last/2\n";
            st = write_atomic(bs->blocks, shard, v, strlen(v));
        }
        ia__free(shard);
    }
    if (st) {
        st = ia__error_wrap(st, "opening the blockstore at %s", home);
        ia_blockstore_close(bs);
        return st;
    }
    *out = bs;
    return IA_OK;
}

void ia_blockstore_close(ia_blockstore *bs)
{
    if (!bs)
        return;
    ia__free(bs->home);
    ia__free(bs->blocks);
    ia__free(bs->pins);
    ia__free(bs);
}

const char *ia_blockstore_home(const ia_blockstore *bs) { return bs ? bs->home : NULL; }

void ia_blockstore_free(void *p) { ia__free(p); }

/* KEY of a CID: base32 upper, unpadded, of its multihash. */
static void block_key(const ia_cid *c, char *key, size_t cap)
{
    uint8_t mh[IA_CID_MAX_BYTES];
    size_t n = 0;
    n += ia__varint_put(mh + n, c->mh_code);
    n += ia__varint_put(mh + n, c->mh_len);
    memcpy(mh + n, c->digest, c->mh_len);
    n += c->mh_len;
    char tmp[IA_CID_STR_MAX];
    if (ia__multibase_encode(IA_MULTIBASE_BASE32_UPPER, mh, n, tmp, sizeof tmp))
        tmp[1] = 0;
    snprintf(key, cap, "%s", tmp + 1);
}

static void block_paths(const ia_blockstore *bs, const ia_cid *c, char *dir, char *file, size_t cap)
{
    char key[IA_CID_STR_MAX];
    block_key(c, key, sizeof key);
    size_t l = strlen(key);
    char shard[3] = {'_', '_', 0};
    if (l >= 3) {
        shard[0] = key[l - 3];
        shard[1] = key[l - 2];
    }
    snprintf(dir, cap, "%s/%s", bs->blocks, shard);
    snprintf(file, cap, "%s/%s/%s.data", bs->blocks, shard, key);
}

/* multihash-only key: pins and gc compare blocks by multihash, as flatfs
 * stores them */
static ia_cid mh_only(const ia_cid *c)
{
    ia_cid k = *c;
    k.version = 1;
    k.codec = IA_CODEC_RAW;
    return k;
}

static ia_status key_to_cid(const char *name, ia_cid *out)
{
    size_t l = strlen(name);
    if (l < 6 || strcmp(name + l - 5, ".data"))
        return IA_ERR_FORMAT;
    char txt[IA_CID_STR_MAX];
    if (l - 5 + 2 > sizeof txt)
        return IA_ERR_FORMAT;
    txt[0] = 'B';
    memcpy(txt + 1, name, l - 5);
    txt[l - 4] = 0;
    uint8_t mh[IA_CID_MAX_BYTES + 8];
    size_t n;
    if (ia_multibase_decode(txt, mh, sizeof mh, &n, NULL))
        return IA_ERR_FORMAT;
    /* a multihash parses as a CIDv0 only for sha2-256; build v1 raw */
    uint8_t b[IA_CID_MAX_BYTES + 16];
    if (n + 2 > sizeof b)
        return IA_ERR_FORMAT;
    b[0] = 1;
    b[1] = IA_CODEC_RAW;
    memcpy(b + 2, mh, n);
    return ia_cid_from_bytes(b, n + 2, out, NULL) ? IA_ERR_FORMAT : IA_OK;
}

ia_status ia_blockstore_put(ia_blockstore *bs, const ia_cid *cid, const uint8_t *data, size_t len)
{
    ia__error_clear();
    IA_NEED(bs);
    IA_NEED(cid);
    if (!data && len)
        return ia__error(IA_ERR_INVALID, "%s: data is NULL with len %zu", __func__, len);
    if (cid->mh_code == IA_MH_IDENTITY)
        return ia_cid_verify(cid, data, len);
    ia_status st = ia_cid_verify(cid, data, len);
    if (st)
        return st;
    char dir[4200], file[4300];
    block_paths(bs, cid, dir, file, sizeof dir);
    struct stat sb;
    if (!stat(file, &sb) && (uint64_t)sb.st_size == len) {
        utimensat(AT_FDCWD, file, NULL, 0);
        return IA_OK;
    }
    if (mkdir(dir, 0755) && errno != EEXIST)
        return ia__error(IA_ERR_IO, "%s: %s", dir, strerror(errno));
    return write_atomic(dir, file, data, len);
}

ia_status ia_blockstore_get(ia_blockstore *bs, const ia_cid *cid, uint8_t **data, size_t *len)
{
    ia__error_clear();
    IA_NEED(bs);
    IA_NEED(cid);
    IA_NEED(data);
    IA_NEED(len);
    char s[IA_CID_STR_MAX];
    if (cid->mh_code == IA_MH_IDENTITY) {
        *data = ia__malloc(cid->mh_len);
        if (!*data)
            return ia__error(IA_ERR_NOMEM, "block");
        memcpy(*data, cid->digest, cid->mh_len);
        *len = cid->mh_len;
        return IA_OK;
    }
    char dir[4200], file[4300];
    block_paths(bs, cid, dir, file, sizeof dir);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return ia__error(IA_ERR_NOT_FOUND, "block %s is not in the blockstore", ia_cid_str(cid, s));
        return ia__error(IA_ERR_IO, "%s: %s", file, strerror(errno));
    }
    struct stat sb;
    if (fstat(fd, &sb) || sb.st_size > (off_t)(64u << 20)) {
        close(fd);
        return ia__error(IA_ERR_IO, "%s: cannot stat or too large", file);
    }
    size_t n = (size_t)sb.st_size, got = 0;
    uint8_t *b = ia__malloc(n);
    if (!b) {
        close(fd);
        return ia__error(IA_ERR_NOMEM, "block of %zu bytes", n);
    }
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    ia_status st = got == n ? ia_cid_verify(cid, b, n)
                            : ia__error(IA_ERR_IO, "%s: short read", file);
    if (st) {
        ia__free(b);
        return st == IA_ERR_VERIFY ? ia__error(IA_ERR_VERIFY, "%s: damaged block (run store verify)", file)
                                   : st;
    }
    if (time(NULL) - sb.st_mtime > TOUCH_AFTER_S)
        utimensat(AT_FDCWD, file, NULL, 0);
    *data = b;
    *len = n;
    return IA_OK;
}

bool ia_blockstore_has(ia_blockstore *bs, const ia_cid *cid)
{
    if (!bs || !cid)
        return false;
    if (cid->mh_code == IA_MH_IDENTITY)
        return true;
    char dir[4200], file[4300];
    block_paths(bs, cid, dir, file, sizeof dir);
    return ia__file_exists(file);
}

ia_status ia_blockstore_delete(ia_blockstore *bs, const ia_cid *cid)
{
    ia__error_clear();
    IA_NEED(bs);
    IA_NEED(cid);
    char dir[4200], file[4300], s[IA_CID_STR_MAX];
    block_paths(bs, cid, dir, file, sizeof dir);
    if (unlink(file))
        return ia__error(errno == ENOENT ? IA_ERR_NOT_FOUND : IA_ERR_IO, "block %s: %s",
                         ia_cid_str(cid, s), strerror(errno));
    return IA_OK;
}

static ia_status bs_sink_put(void *ctx, const ia_cid *cid, const uint8_t *data, size_t len)
{
    return ia_blockstore_put(ctx, cid, data, len);
}

static ia_status bs_src_get(void *ctx, const ia_cid *cid, const uint8_t **data, size_t *len)
{
    uint8_t *b;
    ia_status st = ia_blockstore_get(ctx, cid, &b, len);
    if (!st)
        *data = b;
    return st;
}

static void bs_src_release(void *ctx, const uint8_t *data)
{
    (void)ctx;
    ia__free((void *)data);
}

void ia_blockstore_sink(ia_blockstore *bs, ia_block_sink *sink)
{
    /* A NULL bs still gives a sink; its puts fail with IA_ERR_INVALID. */
    if (!sink)
        return;
    sink->put = bs_sink_put;
    sink->ctx = bs;
}

void ia_blockstore_source(ia_blockstore *bs, ia_block_source *src)
{
    if (!src)
        return;
    src->get = bs_src_get;
    src->release = bs_src_release;
    src->ctx = bs;
}

/* ---- pins ---- */

static void pin_path(ia_blockstore *bs, const ia_cid *cid, char *out, size_t cap)
{
    ia_cid v1;
    char s[IA_CID_STR_MAX];
    ia_cid_to_v1(cid, &v1);
    snprintf(out, cap, "%s/%s", bs->pins, ia_cid_str(&v1, s));
}

ia_status ia_pin_add(ia_blockstore *bs, const ia_cid *cid, bool recursive)
{
    ia__error_clear();
    IA_NEED(bs);
    IA_NEED(cid);
    char p[4300];
    pin_path(bs, cid, p, sizeof p);
    const char *v = recursive ? "recursive\n" : "direct\n";
    return write_atomic(bs->pins, p, v, strlen(v));
}

ia_status ia_pin_rm(ia_blockstore *bs, const ia_cid *cid)
{
    ia__error_clear();
    IA_NEED(bs);
    IA_NEED(cid);
    char p[4300], s[IA_CID_STR_MAX];
    pin_path(bs, cid, p, sizeof p);
    if (unlink(p))
        return ia__error(errno == ENOENT ? IA_ERR_NOT_FOUND : IA_ERR_IO, "%s is not pinned",
                         ia_cid_str(cid, s));
    return IA_OK;
}

ia_status ia_pin_ls(ia_blockstore *bs, ia_pin_fn fn, void *ctx)
{
    ia__error_clear();
    IA_NEED(bs);
    IA_NEED(fn);
    DIR *d = opendir(bs->pins);
    if (!d)
        return ia__error(IA_ERR_IO, "%s: %s", bs->pins, strerror(errno));
    struct dirent *de;
    ia_status st = IA_OK;
    while (!st && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        ia_cid c;
        if (ia_cid_parse(de->d_name, &c))
            continue;
        char p[4300], buf[16] = {0};
        snprintf(p, sizeof p, "%s/%s", bs->pins, de->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        (void)k;
        ia_cid v0; /* show dag-pb sha2-256 pins as CIDv0, as kubo does */
        st = fn(ctx, ia_cid_to_v0(&c, &v0) ? &c : &v0, !strncmp(buf, "recursive", 9));
    }
    closedir(d);
    return st;
}

/* ---- enumeration, stat, gc, verify ---- */

typedef struct bfile {
    ia_cid key;
    uint64_t size;
    time_t mtime;
    char rel[96]; /* shard/KEY.data under blocks/ */
} bfile;

typedef ia_status (*each_fn)(void *ctx, const char *path, const char *name, const struct stat *sb);

/* Visit every file in every shard directory. */
static ia_status each_file(ia_blockstore *bs, each_fn fn, void *ctx)
{
    DIR *top = opendir(bs->blocks);
    if (!top)
        return ia__error(IA_ERR_IO, "%s: %s", bs->blocks, strerror(errno));
    struct dirent *sd;
    ia_status st = IA_OK;
    while (!st && (sd = readdir(top))) {
        if (sd->d_name[0] == '.' || !strcmp(sd->d_name, "SHARDING"))
            continue;
        char sp[4200];
        snprintf(sp, sizeof sp, "%s/%s", bs->blocks, sd->d_name);
        DIR *sh = opendir(sp);
        if (!sh)
            continue;
        struct dirent *fe;
        while (!st && (fe = readdir(sh))) {
            if (!strcmp(fe->d_name, ".") || !strcmp(fe->d_name, ".."))
                continue;
            char fp[4400];
            snprintf(fp, sizeof fp, "%s/%s", sp, fe->d_name);
            struct stat sb;
            if (lstat(fp, &sb) || !S_ISREG(sb.st_mode))
                continue;
            st = fn(ctx, fp, fe->d_name, &sb);
        }
        closedir(sh);
    }
    closedir(top);
    return st;
}

static ia_status stat_one(void *ctx, const char *path, const char *name, const struct stat *sb)
{
    ia_store_stat *s = ctx;
    (void)path;
    if (name[0] == '.')
        return IA_OK;
    s->blocks++;
    s->bytes += (uint64_t)sb->st_size;
    return IA_OK;
}

static ia_status count_pin(void *ctx, const ia_cid *cid, bool rec)
{
    (void)cid;
    (void)rec;
    (*(uint64_t *)ctx)++;
    return IA_OK;
}

ia_status ia_blockstore_stat(ia_blockstore *bs, ia_store_stat *out)
{
    ia__error_clear();
    IA_NEED(bs);
    IA_NEED(out);
    memset(out, 0, sizeof *out);
    ia_status st = each_file(bs, stat_one, out);
    return st ? st : ia_pin_ls(bs, count_pin, &out->pins);
}

typedef struct mark_ctx {
    ia_blockstore *bs;
    ia__cidmap *live;
    int depth;
} mark_ctx;

static ia_status mark(void *ctx, const ia_cid *cid)
{
    mark_ctx *m = ctx;
    ia_cid k = mh_only(cid);
    bool existed;
    ia_status st = ia__cidmap_put(m->live, &k, 0, 0, &existed);
    if (st || existed || m->depth > 4096)
        return st;
    uint8_t *b;
    size_t n;
    if (ia_blockstore_get(m->bs, cid, &b, &n))
        return IA_OK; /* absent or damaged: nothing below it to keep */
    m->depth++;
    st = ia__block_links(cid, b, n, mark, m);
    m->depth--;
    ia__free(b);
    if (st == IA_ERR_UNSUPPORTED || st == IA_ERR_FORMAT)
        st = IA_OK; /* an opaque block keeps only itself */
    return st;
}

static ia_status pin_mark(void *ctx, const ia_cid *cid, bool rec)
{
    mark_ctx *m = ctx;
    if (rec)
        return mark(m, cid);
    ia_cid k = mh_only(cid);
    return ia__cidmap_put(m->live, &k, 0, 0, NULL);
}

typedef struct gc_list {
    ia_blockstore *bs;
    bfile *f;
    size_t n, cap;
    uint64_t total;
    time_t now;
} gc_list;

static ia_status gc_collect(void *ctx, const char *path, const char *name, const struct stat *sb)
{
    gc_list *g = ctx;
    if (name[0] == '.') {
        if (!strncmp(name, ".tmp-", 5) && g->now - sb->st_mtime > STALE_TMP_S)
            unlink(path);
        return IA_OK;
    }
    ia_cid c;
    if (key_to_cid(name, &c))
        return IA_OK;
    bfile *nf = ia__grow(g->f, g->n, &g->cap, sizeof *nf, 256);
    if (!nf)
        return ia__error(IA_ERR_NOMEM, "gc: %zu blocks", g->n + 1);
    g->f = nf;
    bfile *b = &g->f[g->n++];
    b->key = c;
    b->size = (uint64_t)sb->st_size;
    b->mtime = sb->st_mtime;
    const char *slash = strrchr(path, '/');
    size_t off = slash && slash - path >= 3 ? (size_t)(slash - path) - 2 : 0;
    snprintf(b->rel, sizeof b->rel, "%s", path + off);
    g->total += b->size;
    return IA_OK;
}

static int by_mtime(const void *a, const void *b)
{
    const bfile *x = a, *y = b;
    return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

ia_status ia_blockstore_gc(ia_blockstore *bs, uint64_t max_bytes, double grace_s, ia_gc_result *out)
{
    ia__error_clear();
    IA_NEED(bs);
    char lp[4200];
    snprintf(lp, sizeof lp, "%s/gc.lock", bs->home);
    int lfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lfd < 0)
        return ia__error(IA_ERR_IO, "%s: %s", lp, strerror(errno));
    if (flock(lfd, LOCK_EX | LOCK_NB)) {
        close(lfd);
        return ia__error(IA_ERR_IO, "%s: another gc is running", bs->home);
    }
    ia__cidmap live = {0};
    mark_ctx m = {bs, &live, 0};
    gc_list g = {bs, NULL, 0, 0, 0, time(NULL)};
    ia_gc_result r = {0};
    ia_status st = ia_pin_ls(bs, pin_mark, &m);
    if (!st)
        st = each_file(bs, gc_collect, &g);
    if (!st) {
        qsort(g.f, g.n, sizeof *g.f, by_mtime);
        uint64_t total = g.total;
        for (size_t i = 0; i < g.n; i++) {
            bfile *b = &g.f[i];
            bool keep = ia__cidmap_get(&live, &b->key, NULL, NULL) ||
                        (double)(g.now - b->mtime) < grace_s ||
                        (max_bytes && total <= max_bytes);
            char fp[4400];
            snprintf(fp, sizeof fp, "%s/%s", bs->blocks, b->rel);
            if (!keep && !unlink(fp)) {
                total -= b->size;
                r.removed_blocks++;
                r.removed_bytes += b->size;
            } else {
                r.kept_blocks++;
                r.kept_bytes += b->size;
            }
        }
    }
    ia__free(g.f);
    ia__cidmap_free(&live);
    flock(lfd, LOCK_UN);
    close(lfd);
    if (!st && out)
        *out = r;
    return st;
}

typedef struct verify_ctx {
    ia_verify_fn fn;
    void *ctx;
    uint64_t ok, bad;
    time_t now;
} verify_ctx;

static ia_status verify_one(void *ctx, const char *path, const char *name, const struct stat *sb)
{
    verify_ctx *v = ctx;
    if (name[0] == '.') {
        if (!strncmp(name, ".tmp-", 5) && v->now - sb->st_mtime > STALE_TMP_S)
            unlink(path);
        return IA_OK;
    }
    ia_cid c;
    char *data = NULL;
    size_t n = 0;
    const char *problem = NULL;
    if (key_to_cid(name, &c))
        problem = "file name is not a block key";
    else if (ia__read_file(path, &data, &n))
        problem = "unreadable";
    else if (c.mh_code != IA_MH_SHA2_256 && c.mh_code != IA_MH_IDENTITY)
        problem = NULL; /* cannot check this hash function: counted ok */
    else if (ia_cid_verify(&c, (const uint8_t *)data, n))
        problem = "content does not match its hash";
    ia__free(data);
    if (problem) {
        v->bad++;
        if (v->fn)
            v->fn(v->ctx, path, problem);
    } else {
        v->ok++;
    }
    return IA_OK;
}

ia_status ia_blockstore_verify(ia_blockstore *bs, ia_verify_fn damaged, void *ctx, uint64_t *n_ok,
                               uint64_t *n_bad)
{
    ia__error_clear();
    IA_NEED(bs);
    verify_ctx v = {damaged, ctx, 0, 0, time(NULL)};
    ia_status st = each_file(bs, verify_one, &v);
    if (n_ok)
        *n_ok = v.ok;
    if (n_bad)
        *n_bad = v.bad;
    return st;
}
