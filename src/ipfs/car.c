/*
 * CAR files: reading CARv1 and CARv2 (via its inner CARv1 payload),
 * writing CARv1, and streaming a DAG out as a CARv1 (export and the
 * gateway's application/vnd.ipld.car responses).
 *
 * A file is memory-mapped; sections are parsed with every length checked
 * against the bytes left, and each block is verified against its CID when
 * read. https://ipld.io/specs/transport/car/
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipfs_accelerate/car.h"
#include "ipfs-impl.h"

#define MAX_HEADER (1u << 20)
#define MAX_BLOCK (8u << 20)
static const uint8_t carv2_pragma[11] = {0x0a, 0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x02};

struct ia_car_reader {
    uint8_t *map;   /* mmap of the file, or NULL for memory */
    size_t map_len;
    const uint8_t *b; /* the CARv1 payload */
    size_t n;
    size_t first, pos; /* first section, next section */
    int version;
    ia_cid *roots;
    size_t n_roots;
    ia__cidmap index; /* CID -> (offset of block data in b, length) */
    bool indexed;
};

static ia_status parse_v1_header(ia_car_reader *r, const char *what)
{
    uint64_t hl, ver = 0;
    size_t k = ia__uvarint_get(r->b, r->n, &hl);
    if (!k || hl == 0 || hl > r->n - k || hl > MAX_HEADER)
        return ia__error(IA_ERR_FORMAT, "%s: bad CAR header length", what);
    ia_status st = ia__car_header_decode(r->b + k, (size_t)hl, &ver, &r->roots, &r->n_roots);
    if (st)
        return ia__error_wrap(st, "%s", what);
    if (ver != 1)
        return ia__error(IA_ERR_FORMAT, "%s: inner CAR header has version %llu, expected 1", what,
                         (unsigned long long)ver);
    r->first = r->pos = k + (size_t)hl;
    return IA_OK;
}

static ia_status open_bytes(ia_car_reader *r, const uint8_t *b, size_t n, const char *what)
{
    if (n >= 11 + 40 && !memcmp(b, carv2_pragma, 11)) {
        const uint8_t *h = b + 11 + 16;
        uint64_t off = 0, size = 0;
        for (int i = 7; i >= 0; i--) {
            off = off << 8 | h[i];
            size = size << 8 | h[8 + i];
        }
        if (off < 51 || off > n || size > n - off)
            return ia__error(IA_ERR_FORMAT, "%s: CARv2 data offset %llu and size %llu exceed the file (%zu bytes)",
                             what, (unsigned long long)off, (unsigned long long)size, n);
        r->version = 2;
        r->b = b + off;
        r->n = (size_t)size;
    } else {
        r->version = 1;
        r->b = b;
        r->n = n;
    }
    return parse_v1_header(r, what);
}

ia_status ia_car_open_mem(const uint8_t *bytes, size_t len, ia_car_reader **out)
{
    ia__error_clear();
    IA_NEED(out);
    if (!bytes && len)
        return ia__error(IA_ERR_INVALID, "%s: bytes is NULL with len %zu", __func__, len);
    ia_car_reader *r = ia__calloc(1, sizeof *r);
    if (!r)
        return ia__error(IA_ERR_NOMEM, "car reader");
    ia_status st = open_bytes(r, bytes, len, "CAR in memory");
    if (st) {
        ia_car_close(r);
        return st;
    }
    *out = r;
    return IA_OK;
}

ia_status ia_car_open(const char *path, ia_car_reader **out)
{
    ia__error_clear();
    IA_NEED(path);
    IA_NEED(out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ia__error(errno == ENOENT ? IA_ERR_NOT_FOUND : IA_ERR_IO, "%s: %s", path,
                         strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ia__error(IA_ERR_IO, "%s: not a regular file", path);
    }
    ia_car_reader *r = ia__calloc(1, sizeof *r);
    if (!r) {
        close(fd);
        return ia__error(IA_ERR_NOMEM, "car reader");
    }
    if (sb.st_size > 0) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            close(fd);
            ia__free(r);
            return ia__error(IA_ERR_IO, "%s: mmap: %s", path, strerror(errno));
        }
        r->map = m;
        r->map_len = (size_t)sb.st_size;
    }
    close(fd);
    ia_status st = open_bytes(r, r->map, r->map_len, path);
    if (st) {
        ia_car_close(r);
        return st;
    }
    *out = r;
    return IA_OK;
}

void ia_car_close(ia_car_reader *r)
{
    if (!r)
        return;
    if (r->map)
        munmap(r->map, r->map_len);
    ia__free(r->roots);
    ia__cidmap_free(&r->index);
    ia__free(r);
}

int ia_car_version(const ia_car_reader *r) { return r ? r->version : 0; }

const ia_cid *ia_car_roots(const ia_car_reader *r, size_t *n)
{
    if (n)
        *n = r ? r->n_roots : 0;
    return r ? r->roots : NULL;
}

ia_status ia_car_rewind(ia_car_reader *r)
{
    ia__error_clear();
    IA_NEED(r);
    r->pos = r->first;
    return IA_OK;
}

/* Parse the section at r->pos without verifying; *at gets the offset of
 * the block data. */
static ia_status section(ia_car_reader *r, ia_cid *cid, size_t *at, size_t *len, bool *done)
{
    *done = false;
    if (r->pos >= r->n) {
        *done = true;
        return IA_OK;
    }
    uint64_t sl;
    size_t off = r->pos;
    size_t k = ia__uvarint_get(r->b + off, r->n - off, &sl);
    if (!k || sl > r->n - off - k)
        return ia__error(IA_ERR_FORMAT, "CAR section at offset %zu: bad or overlong length", off);
    if (sl == 0) {
        /* zero-length sections pad some CARv2 payloads: the end */
        *done = true;
        return IA_OK;
    }
    size_t used;
    ia_status st = ia_cid_from_bytes(r->b + off + k, (size_t)sl, cid, &used);
    if (st)
        return ia__error_wrap(st, "CAR section at offset %zu", off);
    *at = off + k + used;
    *len = (size_t)sl - used;
    r->pos = off + k + (size_t)sl;
    return IA_OK;
}

ia_status ia_car_next(ia_car_reader *r, ia_cid *cid, const uint8_t **data, size_t *len, bool *done)
{
    ia__error_clear();
    IA_NEED(r);
    IA_NEED(cid);
    IA_NEED(data);
    IA_NEED(len);
    IA_NEED(done);
    size_t at = 0;
    ia_status st = section(r, cid, &at, len, done);
    if (st || *done)
        return st;
    *data = r->b + at;
    return ia_cid_verify(cid, *data, *len);
}

static ia_status index_all(ia_car_reader *r)
{
    if (r->indexed)
        return IA_OK;
    size_t save = r->pos;
    r->pos = r->first;
    ia_status st = IA_OK;
    for (;;) {
        ia_cid c;
        size_t at = 0, len = 0;
        bool done;
        if ((st = section(r, &c, &at, &len, &done)) || done)
            break;
        if ((st = ia_cid_verify(&c, r->b + at, len)))
            break;
        if ((st = ia__cidmap_put(&r->index, &c, at, len, NULL)))
            break;
    }
    r->pos = save;
    if (!st)
        r->indexed = true;
    return st;
}

static ia_status car_src_get(void *ctx, const ia_cid *cid, const uint8_t **data, size_t *len)
{
    ia_car_reader *r = ctx;
    uint64_t at, l;
    char s[IA_CID_STR_MAX];
    if (!ia__cidmap_get(&r->index, cid, &at, &l))
        return ia__error(IA_ERR_NOT_FOUND, "block %s is not in the CAR", ia_cid_str(cid, s));
    *data = r->b + at;
    *len = (size_t)l;
    return IA_OK;
}

ia_status ia_car_block_source(ia_car_reader *r, ia_block_source *src, size_t *n_blocks)
{
    ia__error_clear();
    IA_NEED(r);
    IA_NEED(src);
    ia_status st = index_all(r);
    if (st)
        return st;
    src->get = car_src_get;
    src->release = NULL;
    src->ctx = r;
    if (n_blocks)
        *n_blocks = r->index.n;
    return IA_OK;
}

/* ---- writer ---- */

struct ia_car_writer {
    char *path, *tmp, *spool;
    FILE *f;      /* final temp file, or the spool when roots are deferred */
    bool deferred;
    ia__cidmap seen;
};

static ia_status write_all(FILE *f, const void *p, size_t n, const char *path)
{
    if (n && fwrite(p, 1, n, f) != n)
        return ia__error(IA_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return IA_OK;
}

static ia_status write_header(FILE *f, const ia_cid *roots, size_t n_roots, const char *path)
{
    ia__buf h = {0};
    ia_status st = ia__car_header_encode(&h, roots, n_roots);
    uint8_t v[IA_VARINT_MAX];
    if (!st)
        st = write_all(f, v, ia__varint_put(v, h.len), path);
    if (!st)
        st = write_all(f, h.p, h.len, path);
    ia__buf_free(&h);
    return st;
}

static char *suffixed(const char *path, const char *suf)
{
    size_t a = strlen(path), b = strlen(suf);
    char *s = ia__malloc(a + b + 1);
    if (s) {
        memcpy(s, path, a);
        memcpy(s + a, suf, b + 1);
    }
    return s;
}

void ia_car_writer_abort(ia_car_writer *w)
{
    if (!w)
        return;
    if (w->f)
        fclose(w->f);
    if (w->tmp)
        unlink(w->tmp);
    if (w->spool)
        unlink(w->spool);
    ia__free(w->path);
    ia__free(w->tmp);
    ia__free(w->spool);
    ia__cidmap_free(&w->seen);
    ia__free(w);
}

/* header: write the header now (roots known); otherwise spool blocks
 * when roots are deferred, or write nothing (the caller streams it all) */
static ia_status writer_open(const char *path, const ia_cid *roots, size_t n_roots, bool header,
                             ia_car_writer **out)
{
    ia_car_writer *w = ia__calloc(1, sizeof *w);
    if (!w)
        return ia__error(IA_ERR_NOMEM, "car writer");
    w->path = ia__strdup(path);
    w->tmp = suffixed(path, ".part");
    w->deferred = header && n_roots == 0;
    if (w->deferred)
        w->spool = suffixed(path, ".spool");
    if (!w->path || !w->tmp || (w->deferred && !w->spool)) {
        ia_car_writer_abort(w);
        return ia__error(IA_ERR_NOMEM, "car writer");
    }
    const char *target = w->deferred ? w->spool : w->tmp;
    w->f = fopen(target, w->deferred ? "w+b" : "wb");
    if (!w->f) {
        ia_status st = ia__error(IA_ERR_IO, "%s: %s", target, strerror(errno));
        ia_car_writer_abort(w);
        return st;
    }
    ia_status st = header && !w->deferred ? write_header(w->f, roots, n_roots, path) : IA_OK;
    if (st) {
        ia_car_writer_abort(w);
        return st;
    }
    *out = w;
    return IA_OK;
}

ia_status ia_car_writer_open(const char *path, const ia_cid *roots, size_t n_roots,
                             ia_car_writer **out)
{
    ia__error_clear();
    IA_NEED(path);
    IA_NEED(out);
    if (n_roots && !roots)
        return ia__error(IA_ERR_INVALID, "%s: roots is NULL with n_roots %zu", __func__, n_roots);
    return writer_open(path, roots, n_roots, true, out);
}

ia_status ia_car_writer_put(ia_car_writer *w, const ia_cid *cid, const uint8_t *data, size_t len)
{
    ia__error_clear();
    IA_NEED(w);
    IA_NEED(cid);
    if (!data && len)
        return ia__error(IA_ERR_INVALID, "%s: data is NULL with len %zu", __func__, len);
    bool existed;
    ia_status st = ia__cidmap_put(&w->seen, cid, 0, 0, &existed);
    if (st || existed)
        return st;
    uint8_t cb[IA_CID_MAX_BYTES], v[IA_VARINT_MAX];
    size_t cn = ia__cid_put(cid, cb);
    st = write_all(w->f, v, ia__varint_put(v, cn + len), w->path);
    if (!st)
        st = write_all(w->f, cb, cn, w->path);
    if (!st)
        st = write_all(w->f, data, len, w->path);
    return st;
}

static ia_status sink_put(void *ctx, const ia_cid *cid, const uint8_t *data, size_t len)
{
    return ia_car_writer_put(ctx, cid, data, len);
}

void ia_car_writer_sink(ia_car_writer *w, ia_block_sink *sink)
{
    /* A NULL w still gives a sink; its puts fail with IA_ERR_INVALID. */
    if (!sink)
        return;
    sink->put = sink_put;
    sink->ctx = w;
}

ia_status ia_car_writer_finish(ia_car_writer *w, const ia_cid *roots, size_t n_roots)
{
    ia__error_clear();
    IA_NEED(w);
    ia_status st = IA_OK;
    if (w->deferred) {
        if (!n_roots || !roots) {
            st = ia__error(IA_ERR_INVALID, "%s: a CAR needs at least one root", w->path);
            goto fail;
        }
        if (fflush(w->f)) {
            st = ia__error(IA_ERR_IO, "%s: %s", w->spool, strerror(errno));
            goto fail;
        }
        FILE *spool = w->f;
        w->f = fopen(w->tmp, "wb");
        if (!w->f) {
            fclose(spool);
            st = ia__error(IA_ERR_IO, "%s: %s", w->tmp, strerror(errno));
            goto fail;
        }
        st = write_header(w->f, roots, n_roots, w->path);
        rewind(spool);
        uint8_t buf[1 << 16];
        size_t k;
        while (!st && (k = fread(buf, 1, sizeof buf, spool)) > 0)
            st = write_all(w->f, buf, k, w->path);
        if (!st && ferror(spool))
            st = ia__error(IA_ERR_IO, "%s: read failed", w->spool);
        fclose(spool);
        if (st)
            goto fail;
    }
    if (fflush(w->f) || fsync(fileno(w->f))) {
        st = ia__error(IA_ERR_IO, "%s: %s", w->tmp, strerror(errno));
        goto fail;
    }
    fclose(w->f);
    w->f = NULL;
    if (rename(w->tmp, w->path)) {
        st = ia__error(IA_ERR_IO, "%s: rename: %s", w->path, strerror(errno));
        goto fail;
    }
    ia__free(w->tmp);
    w->tmp = NULL;
fail:
    ia_car_writer_abort(w);
    return st;
}

/* ---- DAG walking and streaming ---- */

typedef struct pb_links_ctx {
    ia__cid_fn_t fn;
    void *ctx;
} pb_links_ctx;

ia_status ia__block_links(const ia_cid *cid, const uint8_t *b, size_t n, ia__cid_fn_t fn, void *ctx)
{
    char s[IA_CID_STR_MAX];
    switch (cid->codec) {
    case IA_CODEC_RAW: return IA_OK;
    case IA_CODEC_DAG_PB: {
        ia_dagpb_node pn;
        ia_status st = ia_dagpb_decode(b, n, &pn);
        if (st)
            return ia__error_wrap(st, "block %s", ia_cid_str(cid, s));
        for (size_t i = 0; i < pn.n_links && !st; i++)
            st = fn(ctx, &pn.links[i].cid);
        ia_dagpb_node_clear(&pn);
        return st;
    }
    case IA_CODEC_DAG_CBOR: {
        ia_status st = ia__cbor_links(b, n, fn, ctx);
        return st ? ia__error_wrap(st, "block %s", ia_cid_str(cid, s)) : IA_OK;
    }
    }
    return ia__error(IA_ERR_UNSUPPORTED, "block %s: cannot follow links of codec 0x%llx",
                     ia_cid_str(cid, s), (unsigned long long)cid->codec);
}

typedef struct stream_ctx {
    const ia_block_source *src;
    ia__write_fn write;
    void *ctx;
    ia__cidmap seen;
    size_t n_blocks;
    ia__dag_scope scope;
} stream_ctx;

typedef struct child_list {
    ia_cid *c;
    size_t n, cap;
} child_list;

static ia_status collect(void *ctx, const ia_cid *cid)
{
    child_list *l = ctx;
    ia_cid *nc = ia__grow(l->c, l->n, &l->cap, sizeof *nc, 16);
    if (!nc)
        return ia__error(IA_ERR_NOMEM, "link list");
    l->c = nc;
    l->c[l->n++] = *cid;
    return IA_OK;
}

static ia_status emit_section(stream_ctx *s, const ia_cid *cid, const uint8_t *data, size_t len)
{
    uint8_t hdr[IA_VARINT_MAX + IA_CID_MAX_BYTES];
    uint8_t cb[IA_CID_MAX_BYTES];
    size_t cn = ia__cid_put(cid, cb);
    size_t h = ia__varint_put(hdr, cn + len);
    memcpy(hdr + h, cb, cn);
    ia_status st = s->write(s->ctx, hdr, h + cn);
    if (!st && len)
        st = s->write(s->ctx, data, len);
    s->n_blocks++;
    return st;
}

/* Whether to descend from a block under the entity scope: files (and the
 * shards of a HAMT directory) yes, entries of a directory no. */
static bool entity_descends(const ia_cid *cid, const uint8_t *b, size_t n, bool *hamt)
{
    *hamt = false;
    if (cid->codec != IA_CODEC_DAG_PB)
        return cid->codec != IA_CODEC_RAW;
    ia_dagpb_node pn;
    if (ia_dagpb_decode(b, n, &pn))
        return false;
    bool down = true;
    ia_unixfs_data d;
    if (pn.has_data && !ia_unixfs_data_decode(pn.data, pn.data_len, &d)) {
        if (d.type == IA_UNIXFS_DIRECTORY)
            down = false;
        else if (d.type == IA_UNIXFS_HAMT_SHARD)
            *hamt = true;
        ia_unixfs_data_clear(&d);
    }
    ia_dagpb_node_clear(&pn);
    return down;
}

static ia_status stream_rec(stream_ctx *s, const ia_cid *cid, int depth, bool in_hamt)
{
    char str[IA_CID_STR_MAX];
    bool existed;
    if (depth > 4096)
        return ia__error(IA_ERR_FORMAT, "DAG deeper than 4096 at %s", ia_cid_str(cid, str));
    ia_status st = ia__cidmap_put(&s->seen, cid, 0, 0, &existed);
    if (st || existed)
        return st;
    const uint8_t *data;
    size_t len;
    if ((st = ia__block_get(s->src, cid, &data, &len)))
        return st;
    st = emit_section(s, cid, data, len);
    bool down = s->scope == IA_SCOPE_ALL;
    bool hamt = false;
    if (!st && s->scope == IA_SCOPE_ENTITY)
        down = entity_descends(cid, data, len, &hamt) || in_hamt;
    child_list kids = {0};
    if (!st && down && s->scope != IA_SCOPE_BLOCK)
        st = ia__block_links(cid, data, len, collect, &kids);
    ia__block_release(s->src, cid, data);
    for (size_t i = 0; i < kids.n && !st; i++) {
        if (s->scope == IA_SCOPE_ENTITY && hamt) {
            /* a HAMT's sub-shards belong to the entity, its entries do not */
            const uint8_t *kd;
            size_t kl;
            bool sub_hamt = false;
            if ((st = ia__block_get(s->src, &kids.c[i], &kd, &kl)))
                break;
            entity_descends(&kids.c[i], kd, kl, &sub_hamt);
            ia__block_release(s->src, &kids.c[i], kd);
            if (!sub_hamt)
                continue;
        }
        st = stream_rec(s, &kids.c[i], depth + 1, false);
    }
    ia__free(kids.c);
    return st;
}

ia_status ia__car_stream_ex(const ia_block_source *src, const ia_cid *header_root,
                            const ia_cid *pre, size_t n_pre, const ia_cid *root,
                            ia__dag_scope scope, ia__write_fn write, void *ctx, size_t *n_blocks)
{
    ia__buf h = {0};
    ia_status st = ia__car_header_encode(&h, header_root, 1);
    uint8_t v[IA_VARINT_MAX];
    if (!st)
        st = write(ctx, v, ia__varint_put(v, h.len));
    if (!st)
        st = write(ctx, h.p, h.len);
    ia__buf_free(&h);
    if (st)
        return st;
    stream_ctx s = {src, write, ctx, {0}, 0, scope};
    for (size_t i = 0; i < n_pre && !st; i++) {
        bool existed;
        const uint8_t *d;
        size_t l;
        if ((st = ia__cidmap_put(&s.seen, &pre[i], 0, 0, &existed)) || existed)
            continue;
        if ((st = ia__block_get(src, &pre[i], &d, &l)))
            break;
        st = emit_section(&s, &pre[i], d, l);
        ia__block_release(src, &pre[i], d);
    }
    if (!st)
        st = stream_rec(&s, root, 0, false);
    ia__cidmap_free(&s.seen);
    if (n_blocks)
        *n_blocks = s.n_blocks;
    return st;
}

ia_status ia__car_stream(const ia_block_source *src, const ia_cid *root, ia__dag_scope scope,
                         ia__write_fn write, void *ctx, size_t *n_blocks)
{
    return ia__car_stream_ex(src, root, NULL, 0, root, scope, write, ctx, n_blocks);
}

static ia_status file_write(void *ctx, const uint8_t *p, size_t n)
{
    ia_car_writer *w = ctx;
    return write_all(w->f, p, n, w->path);
}

ia_status ia_car_export(const ia_block_source *src, const ia_cid *root, const char *path,
                        size_t *n_blocks)
{
    ia__error_clear();
    IA_NEED(src);
    IA_NEED(root);
    IA_NEED(path);
    ia_car_writer *w;
    ia_status st = writer_open(path, NULL, 0, false, &w); /* the stream writes the header */
    if (st)
        return st;
    st = ia__car_stream(src, root, IA_SCOPE_ALL, file_write, w, n_blocks);
    if (st) {
        ia_car_writer_abort(w);
        return st;
    }
    return ia_car_writer_finish(w, NULL, 0);
}
