/*
 * The UnixFS importer: files and directories into dag-pb/raw blocks with
 * exactly the CIDs kubo's `ipfs add` gives (boxo's importer, mirrored
 * step by step: the balanced and trickle layouts, the size-N chunker,
 * raw leaves, directories sorted by name, and HAMT sharding above the
 * size threshold).
 *
 * Speed: a chunk is read into a buffer that has room in front of and
 * behind it, so a leaf block (protobuf header + chunk + filesize trailer)
 * is assembled in place and hashed once without copying. Big regular files
 * hash their leaves on several threads (see "parallel leaf hashing").
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipfs-impl.h"

#define LEAF_HEAD 32 /* room for the leaf's protobuf prefix */
#define LEAF_TAIL 16 /* room for the filesize trailer */
#define MAX_CHUNK (2u * 1024 * 1024 - 256)
#define TRICKLE_DEPTH_REPEAT 4

void ia_unixfs_options_init(ia_unixfs_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
}

/* The caller's options (NULL, or as many fields as its size says) with
 * kubo's defaults for the fields left zero. */
static void resolve_options(const ia_unixfs_options *in, ia_unixfs_options *o)
{
    ia__opts_copy(o, sizeof *o, in);
    if (!o->chunk_size)
        o->chunk_size = 262144;
    if (!o->max_links)
        o->max_links = 174;
    if (!o->hamt_threshold)
        o->hamt_threshold = 262144;
    if (!o->hamt_fanout)
        o->hamt_fanout = 256;
}

/* ---- import context ---- */

typedef struct importer {
    ia_unixfs_options opt; /* the caller's, defaults filled in */
    const ia_unixfs_options *o; /* &opt */
    const ia_block_sink *sink;
    bool raw_leaves;
    /* chunker: one chunk of lookahead, read fully like io.ReadFull */
    ia_read_fn read;
    void *read_ctx;
    uint8_t *buf; /* LEAF_HEAD + chunk_size + LEAF_TAIL */
    size_t chunk_len;
    bool have, eof;
    uint64_t total;
    ia__buf node; /* scratch for encoding internal nodes */
    ia__buf data; /* scratch for UnixFS data */
    struct pool *pool; /* parallel leaf hashing (big regular files), or NULL */
    ia_unixfs_type leaf_type; /* File (balanced) or Raw (trickle) */
} importer;

/* A child link of a file node being filled: CID, Tsize, file bytes. */
typedef struct flink {
    ia_cid cid;
    uint64_t tsize, filesize;
} flink;

typedef struct fnode {
    flink *links;
    size_t n, cap;
} fnode;

static ia_status emit(importer *im, const ia_cid *cid, const uint8_t *b, size_t n)
{
    if (!im->sink || !im->sink->put)
        return IA_OK;
    return im->sink->put(im->sink->ctx, cid, b, n);
}

static ia_status pool_wait(importer *im);

static ia_status prefetch(importer *im)
{
    if (im->have || im->eof)
        return IA_OK;
    if (im->pool)
        return pool_wait(im);
    size_t want = im->o->chunk_size, got = 0;
    uint8_t *p = im->buf + LEAF_HEAD;
    while (got < want) {
        long r = im->read(im->read_ctx, p + got, want - got);
        if (r < 0)
            return ia__error(IA_ERR_IO, "reading input after %llu bytes: %s",
                             (unsigned long long)(im->total + got), strerror(errno));
        if (r == 0) {
            im->eof = true;
            break;
        }
        got += (size_t)r;
    }
    if (got) {
        im->have = true;
        im->chunk_len = got;
        im->total += got;
    }
    return IA_OK;
}

static ia_status done(importer *im, bool *d)
{
    ia_status st = prefetch(im);
    *d = !im->have;
    return st;
}

/* Build and hash the leaf for the n bytes at data (which has LEAF_HEAD
 * bytes of room before it and LEAF_TAIL after); blk and blen get the block. */
static void build_leaf(uint8_t *data, size_t n, ia_unixfs_type type, bool raw, int cid_version,
                       flink *out, const uint8_t **blk, size_t *blen)
{
    if (raw) {
        *blk = data;
        *blen = n;
        ia_cid_sum(1, IA_CODEC_RAW, IA_MH_SHA2_256, data, n, &out->cid);
    } else {
        /* PBNode{Data: UnixFS{Type, Data (if any), filesize}} */
        size_t inner = 2 + (n ? 1 + ia__varint_len(n) + n : 0) + 1 + ia__varint_len(n);
        uint8_t head[LEAF_HEAD];
        size_t h = 0;
        head[h++] = 0x0a;
        h += ia__varint_put(head + h, inner);
        head[h++] = 0x08;
        head[h++] = (uint8_t)type;
        if (n) {
            head[h++] = 0x12;
            h += ia__varint_put(head + h, n);
        }
        uint8_t *start = data - h;
        memcpy(start, head, h);
        size_t t = 0;
        data[n + t++] = 0x18;
        t += ia__varint_put(data + n + t, n);
        *blk = start;
        *blen = h + n + t;
        ia_cid_sum(cid_version, IA_CODEC_DAG_PB, IA_MH_SHA2_256, *blk, *blen, &out->cid);
    }
    out->tsize = *blen;
    out->filesize = n;
}

static ia_status pool_take(importer *im, flink *out);

/* Build, hash and emit the leaf for the current chunk (len 0 with no chunk:
 * the empty file's leaf). type is File (balanced) or Raw (trickle). */
static ia_status leaf(importer *im, ia_unixfs_type type, flink *out)
{
    if (im->pool && im->have)
        return pool_take(im, out);
    size_t n = im->have ? im->chunk_len : 0;
    im->have = false;
    const uint8_t *blk;
    size_t blen;
    build_leaf(im->buf + LEAF_HEAD, n, type, im->raw_leaves, im->o->cid_version, out, &blk, &blen);
    return emit(im, &out->cid, blk, blen);
}

static ia_status next_leaf(importer *im, ia_unixfs_type type, flink *out)
{
    ia_status st = prefetch(im);
    return st ? st : leaf(im, type, out);
}

/* ---- parallel leaf hashing (big regular files) ----
 *
 * Worker threads read the file chunk by chunk (in order, under the lock)
 * into a ring of slots and build and hash the leaves in parallel; the
 * builder takes the leaves in order, so the DAG, the CIDs and the order of
 * sink calls are exactly those of the sequential path. */

enum { SLOT_FREE, SLOT_BUSY, SLOT_READY, SLOT_END, SLOT_ERR };

typedef struct pool_slot {
    uint8_t *buf; /* LEAF_HEAD + chunk_size + LEAF_TAIL */
    int state;
    flink leaf;
    const uint8_t *blk;
    size_t blen;
} pool_slot;

#define POOL_MAX_THREADS 8

struct pool {
    importer *im;
    int fd;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pool_slot *slots;
    size_t n_slots;
    uint64_t next_read, next_take; /* chunk sequence numbers */
    bool end, stop;
    int read_errno;
    pthread_t th[POOL_MAX_THREADS];
    size_t n_th;
};

static void *pool_worker(void *arg)
{
    struct pool *p = arg;
    importer *im = p->im;
    size_t cs = im->o->chunk_size;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && !p->end && p->next_read - p->next_take >= p->n_slots)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop || p->end)
            break;
        uint64_t seq = p->next_read++;
        pool_slot *sl = &p->slots[seq % p->n_slots];
        sl->state = SLOT_BUSY;
        uint8_t *d = sl->buf + LEAF_HEAD;
        size_t got = 0;
        int err = 0;
        while (got < cs) { /* io.ReadFull, in file order */
            ssize_t r = read(p->fd, d + got, cs - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                err = errno;
                break;
            }
            if (r == 0)
                break;
            got += (size_t)r;
        }
        if (err || !got) {
            sl->state = err ? SLOT_ERR : SLOT_END;
            p->read_errno = err;
            p->end = true;
            pthread_cond_broadcast(&p->cv);
            continue;
        }
        if (got < cs)
            p->end = true; /* a short chunk is the last one */
        im->total += got;
        pthread_mutex_unlock(&p->mu);
        build_leaf(d, got, im->leaf_type, im->raw_leaves, im->o->cid_version, &sl->leaf, &sl->blk,
                   &sl->blen);
        pthread_mutex_lock(&p->mu);
        sl->state = SLOT_READY;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* The builder's prefetch: wait for the next chunk's leaf, or the end. */
static ia_status pool_wait(importer *im)
{
    struct pool *p = im->pool;
    ia_status st = IA_OK;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->next_take >= p->next_read) {
            if (p->end) {
                im->eof = true;
                break;
            }
        } else {
            pool_slot *sl = &p->slots[p->next_take % p->n_slots];
            if (sl->state == SLOT_READY) {
                im->have = true;
                im->chunk_len = (size_t)sl->leaf.filesize;
                break;
            }
            if (sl->state == SLOT_END) {
                im->eof = true;
                break;
            }
            if (sl->state == SLOT_ERR) {
                st = ia__error(IA_ERR_IO, "reading input after %llu bytes: %s",
                               (unsigned long long)im->total, strerror(p->read_errno));
                break;
            }
        }
        pthread_cond_wait(&p->cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return st;
}

/* The builder's leaf: emit the ready leaf and free its slot. */
static ia_status pool_take(importer *im, flink *out)
{
    struct pool *p = im->pool;
    pool_slot *sl = &p->slots[p->next_take % p->n_slots];
    im->have = false;
    *out = sl->leaf;
    ia_status st = emit(im, &out->cid, sl->blk, sl->blen);
    pthread_mutex_lock(&p->mu);
    sl->state = SLOT_FREE;
    p->next_take++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return st;
}

static void pool_stop(importer *im)
{
    struct pool *p = im->pool;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < p->n_th; i++)
        pthread_join(p->th[i], NULL);
    for (size_t i = 0; i < p->n_slots; i++)
        ia__free(p->slots[i].buf);
    ia__free(p->slots);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    ia__free(p);
    im->pool = NULL;
}

/* Start hashing fd's chunks on `threads` threads; false if it cannot (the
 * caller then reads sequentially). */
static bool pool_start(importer *im, int fd, size_t threads)
{
    struct pool *p = ia__calloc(1, sizeof *p);
    if (!p)
        return false;
    p->im = im;
    p->fd = fd;
    p->n_slots = 2 * threads + 2;
    p->slots = ia__calloc(p->n_slots, sizeof *p->slots);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    im->pool = p;
    bool ok = p->slots != NULL;
    for (size_t i = 0; ok && i < p->n_slots; i++)
        ok = (p->slots[i].buf = ia__malloc(LEAF_HEAD + im->o->chunk_size + LEAF_TAIL)) != NULL;
    for (size_t i = 0; ok && i < threads; i++)
        if (!pthread_create(&p->th[p->n_th], NULL, pool_worker, p))
            p->n_th++;
    if (!ok || !p->n_th) {
        pool_stop(im);
        return false;
    }
    return true;
}

static ia_status fnode_add(fnode *f, const flink *l)
{
    flink *nl = ia__grow(f->links, f->n, &f->cap, sizeof *nl, 16);
    if (!nl)
        return ia__error(IA_ERR_NOMEM, "importer: file node with %zu links", f->n + 1);
    f->links = nl;
    f->links[f->n++] = *l;
    return IA_OK;
}

static ia_status put_link(ia__buf *b, const ia_cid *cid, const char *name, size_t name_len,
                          uint64_t tsize);

/* Encode a file node (links with empty names, then UnixFS File data with
 * filesize and blocksizes) and emit it. */
static ia_status fnode_commit(importer *im, fnode *f, flink *out)
{
    ia__buf *b = &im->node, *d = &im->data;
    b->len = d->len = 0;
    uint64_t filesize = 0, tsum = 0;
    ia_status st = ia__buf_pb_varint(d, 1, IA_UNIXFS_FILE);
    for (size_t i = 0; i < f->n; i++)
        filesize += f->links[i].filesize;
    if (!st)
        st = ia__buf_pb_varint(d, 3, filesize);
    for (size_t i = 0; i < f->n && !st; i++)
        st = ia__buf_pb_varint(d, 4, f->links[i].filesize);
    for (size_t i = 0; i < f->n && !st; i++) {
        st = put_link(b, &f->links[i].cid, "", 0, f->links[i].tsize); /* Name "" as kubo */
        tsum += f->links[i].tsize;
    }
    if (!st)
        st = ia__buf_pb_bytes(b, 1, d->p, d->len);
    if (st)
        return st;
    ia_cid_sum(im->o->cid_version, IA_CODEC_DAG_PB, IA_MH_SHA2_256, b->p, b->len, &out->cid);
    out->tsize = b->len + tsum;
    out->filesize = filesize;
    f->n = 0;
    return emit(im, &out->cid, b->p, b->len);
}

/* ---- balanced layout (boxo importer/balanced) ---- */

static ia_status fill_node_rec(importer *im, fnode *node, int depth, flink *out)
{
    ia_status st = IA_OK;
    bool d;
    while (node->n < im->o->max_links) {
        if ((st = done(im, &d)) || d)
            break;
        flink child;
        if (depth == 1) {
            st = next_leaf(im, IA_UNIXFS_FILE, &child);
        } else {
            fnode sub = {0};
            st = fill_node_rec(im, &sub, depth - 1, &child);
            ia__free(sub.links);
        }
        if (!st)
            st = fnode_add(node, &child);
        if (st)
            break;
    }
    return st ? st : fnode_commit(im, node, out);
}

static ia_status layout_balanced(importer *im, flink *root)
{
    bool d;
    ia_status st = done(im, &d);
    if (st)
        return st;
    if (d)
        return leaf(im, IA_UNIXFS_FILE, root); /* empty file */
    if ((st = next_leaf(im, IA_UNIXFS_FILE, root)))
        return st;
    for (int depth = 1;; depth++) {
        if ((st = done(im, &d)) || d)
            return st;
        fnode nr = {0};
        st = fnode_add(&nr, root);
        if (!st)
            st = fill_node_rec(im, &nr, depth, root);
        ia__free(nr.links);
        if (st)
            return st;
    }
}

/* ---- trickle layout (boxo importer/trickle) ---- */

static ia_status fill_trickle_rec(importer *im, fnode *node, int max_depth, flink *out)
{
    ia_status st = IA_OK;
    bool d;
    /* FillNodeLayer: leaves of UnixFS type Raw (or raw blocks) */
    while (node->n < im->o->max_links) {
        if ((st = done(im, &d)))
            return st;
        if (d)
            break;
        flink child;
        if ((st = next_leaf(im, IA_UNIXFS_RAW, &child)) || (st = fnode_add(node, &child)))
            return st;
    }
    for (int depth = 1; max_depth == -1 || depth < max_depth; depth++) {
        if ((st = done(im, &d)))
            return st;
        if (d)
            break;
        for (int rep = 0; rep < TRICKLE_DEPTH_REPEAT; rep++) {
            if ((st = done(im, &d)))
                return st;
            if (d)
                break;
            fnode sub = {0};
            flink child;
            st = fill_trickle_rec(im, &sub, depth, &child);
            ia__free(sub.links);
            if (st || (st = fnode_add(node, &child)))
                return st;
        }
    }
    return fnode_commit(im, node, out);
}

static ia_status import_file(importer *im, flink *root)
{
    ia_status st;
    if (im->o->layout == IA_UNIXFS_TRICKLE) {
        fnode r = {0};
        st = fill_trickle_rec(im, &r, -1, root);
        ia__free(r.links);
    } else {
        st = layout_balanced(im, root);
    }
    return st;
}

static ia_status check_options(const ia_unixfs_options *o)
{
    if (o->cid_version != 0 && o->cid_version != 1)
        return ia__error(IA_ERR_INVALID, "cid version %d is not 0 or 1", o->cid_version);
    if (o->chunk_size < 1 || o->chunk_size > MAX_CHUNK)
        return ia__error(IA_ERR_INVALID, "chunk size %zu is outside 1..%u", o->chunk_size,
                         MAX_CHUNK);
    if (o->max_links < 2)
        return ia__error(IA_ERR_INVALID, "max links %u is below 2", o->max_links);
    unsigned f = o->hamt_fanout;
    if (f < 8 || f > 1024 || (f & (f - 1)))
        return ia__error(IA_ERR_INVALID, "HAMT fanout %u is not a power of two in 8..1024", f);
    return IA_OK;
}

static ia_status importer_init(importer *im, const ia_unixfs_options *opts, const ia_block_sink *sink)
{
    memset(im, 0, sizeof *im);
    resolve_options(opts, &im->opt);
    const ia_unixfs_options *o = im->o = &im->opt;
    ia_status st = check_options(o);
    if (st)
        return st;
    if (o->raw_leaves > IA_RAW_LEAVES_OFF)
        return ia__error(IA_ERR_INVALID, "raw_leaves %d is not IA_RAW_LEAVES_AUTO, _ON or _OFF", (int)o->raw_leaves);
    im->sink = sink;
    im->leaf_type = o->layout == IA_UNIXFS_TRICKLE ? IA_UNIXFS_RAW : IA_UNIXFS_FILE; /* before any worker reads it */
    im->raw_leaves = o->raw_leaves == IA_RAW_LEAVES_AUTO ? o->cid_version == 1 : o->raw_leaves == IA_RAW_LEAVES_ON;
    im->buf = ia__malloc(LEAF_HEAD + o->chunk_size + LEAF_TAIL);
    if (!im->buf)
        return ia__error(IA_ERR_NOMEM, "importer: chunk buffer of %zu bytes", o->chunk_size);
    return IA_OK;
}

static void importer_close(importer *im)
{
    ia__free(im->buf);
    ia__buf_free(&im->node);
    ia__buf_free(&im->data);
}

static ia_status import_stream(importer *im, ia_read_fn read, void *ctx, flink *root)
{
    im->read = read;
    im->read_ctx = ctx;
    im->have = im->eof = false;
    im->total = 0;
    return import_file(im, root);
}

ia_status ia_unixfs_add_stream(ia_read_fn read, void *read_ctx, const ia_unixfs_options *opts,
                               const ia_block_sink *sink, ia_cid *root, uint64_t *size)
{
    ia__error_clear();
    IA_NEED(read);
    IA_NEED(root);
    importer im;
    ia_status st = importer_init(&im, opts, sink);
    if (st)
        return st;
    flink r;
    st = import_stream(&im, read, read_ctx, &r);
    if (!st) {
        *root = r.cid;
        if (size)
            *size = im.total;
    }
    importer_close(&im);
    return st;
}

typedef struct mem_reader {
    const uint8_t *p;
    size_t left;
} mem_reader;

static long mem_read(void *ctx, uint8_t *buf, size_t cap)
{
    mem_reader *m = ctx;
    size_t n = IA_MIN(cap, m->left);
    if (n)
        memcpy(buf, m->p, n);
    m->p += n;
    m->left -= n;
    return (long)n;
}

ia_status ia_unixfs_add_bytes(const uint8_t *data, size_t len, const ia_unixfs_options *opts,
                              const ia_block_sink *sink, ia_cid *root)
{
    ia__error_clear();
    IA_NEED(root);
    if (!data && len)
        return ia__error(IA_ERR_INVALID, "%s: data is NULL with len %zu", __func__, len);
    mem_reader m = {data, len};
    return ia_unixfs_add_stream(mem_read, &m, opts, sink, root, NULL);
}

/* ---- directories ---- */

typedef struct dentry {
    char *name;
    size_t name_len;
    ia_cid cid;
    uint64_t tsize;
    uint8_t hash[8]; /* murmur3 of the name, for HAMT placement */
} dentry;

static int dentry_cmp(const void *a, const void *b)
{
    const dentry *x = a, *y = b;
    size_t n = IA_MIN(x->name_len, y->name_len);
    int c = memcmp(x->name, y->name, n);
    if (c)
        return c;
    return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

/* Encode one named link into b. */
static ia_status put_link(ia__buf *b, const ia_cid *cid, const char *name, size_t name_len,
                          uint64_t tsize)
{
    uint8_t cb[IA_CID_MAX_BYTES];
    size_t cn = ia__cid_put(cid, cb);
    size_t body = 1 + ia__varint_len(cn) + cn + 1 + ia__varint_len(name_len) + name_len + 1 +
                  ia__varint_len(tsize);
    ia_status st = ia__buf_varint(b, 0x12);
    if (!st)
        st = ia__buf_varint(b, body);
    if (!st)
        st = ia__buf_pb_bytes(b, 1, cb, cn);
    if (!st)
        st = ia__buf_pb_bytes(b, 2, name, name_len);
    if (!st)
        st = ia__buf_pb_varint(b, 3, tsize);
    return st;
}

static ia_status emit_node(importer *im, ia__buf *b, uint64_t tsum, ia_cid *cid, uint64_t *tsize)
{
    ia_cid_sum(im->o->cid_version, IA_CODEC_DAG_PB, IA_MH_SHA2_256, b->p, b->len, cid);
    *tsize = b->len + tsum;
    return emit(im, cid, b->p, b->len);
}

static ia_status basic_dir(importer *im, const dentry *e, size_t n, ia_cid *cid, uint64_t *tsize)
{
    ia__buf b = {0};
    uint64_t tsum = 0;
    ia_status st = IA_OK;
    for (size_t i = 0; i < n && !st; i++) {
        st = put_link(&b, &e[i].cid, e[i].name, e[i].name_len, e[i].tsize);
        tsum += e[i].tsize;
    }
    if (!st)
        st = ia__buf_put(&b, "\x0a\x02\x08\x01", 4);
    if (!st)
        st = emit_node(im, &b, tsum, cid, tsize);
    ia__buf_free(&b);
    return st;
}

/* One HAMT shard over entries e[0..n) (all sharing the first depth*bits
 * bits of their hash), children placed by the next bits. */
static ia_status hamt_shard(importer *im, dentry *e, size_t n, unsigned depth, ia_cid *cid,
                            uint64_t *tsize)
{
    unsigned fanout = im->o->hamt_fanout, bits = 0;
    while ((1u << bits) < fanout)
        bits++;
    if ((depth + 1) * bits > 64)
        return ia__error(IA_ERR_UNSUPPORTED, "HAMT directory too deep (hash collision on \"%.*s\")",
                         (int)e[0].name_len, e[0].name);
    int pad = ia__hamt_pad(fanout);
    /* Bucket the entries by index: sort a permutation by (index, name). */
    size_t *idx = ia__malloc(n * sizeof *idx);
    unsigned *slot = ia__malloc(n * sizeof *slot);
    uint8_t *bitfield = ia__calloc(fanout / 8, 1);
    ia__buf b = {0};
    ia_status st = IA_OK;
    if (!idx || !slot || !bitfield) {
        st = ia__error(IA_ERR_NOMEM, "HAMT shard of %zu entries", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        slot[i] = ia__hamt_index(e[i].hash, depth * bits, bits);
        idx[i] = i;
    }
    /* insertion sort by slot would be quadratic; counting sort instead */
    {
        size_t *count = ia__calloc(fanout + 1, sizeof *count);
        if (!count) {
            st = ia__error(IA_ERR_NOMEM, "HAMT shard");
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            count[slot[i] + 1]++;
        for (unsigned s = 0; s < fanout; s++)
            count[s + 1] += count[s];
        for (size_t i = 0; i < n; i++) /* stable: keeps name order within a slot */
            idx[count[slot[i]]++] = i;
        ia__free(count);
    }
    /* Gather each slot's entries contiguously (they are sorted by name
     * already, so a sub-shard sees its entries in name order). */
    dentry *sorted = ia__malloc(n * sizeof *sorted);
    if (!sorted) {
        st = ia__error(IA_ERR_NOMEM, "HAMT shard");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        sorted[i] = e[idx[i]];
    uint64_t tsum = 0;
    for (size_t i = 0; i < n && !st;) {
        unsigned s = slot[idx[i]];
        size_t j = i;
        while (j < n && slot[idx[j]] == s)
            j++;
        bitfield[fanout / 8 - 1 - s / 8] |= (uint8_t)(1u << (s % 8));
        char name[8 + 4096];
        int pl = 0;
        static const char hx[] = "0123456789ABCDEF";
        for (int k = pad - 1; k >= 0; k--)
            name[pl++] = hx[(s >> (4 * k)) & 15];
        if (j - i == 1) {
            dentry *x = &sorted[i];
            if (x->name_len > sizeof name - 8) {
                st = ia__error(IA_ERR_UNSUPPORTED, "name of %zu bytes is too long", x->name_len);
                break;
            }
            memcpy(name + pl, x->name, x->name_len);
            st = put_link(&b, &x->cid, name, (size_t)pl + x->name_len, x->tsize);
            tsum += x->tsize;
        } else {
            ia_cid sub;
            uint64_t sub_size = 0;
            st = hamt_shard(im, sorted + i, j - i, depth + 1, &sub, &sub_size);
            if (!st)
                st = put_link(&b, &sub, name, (size_t)pl, sub_size);
            tsum += sub_size;
        }
        i = j;
    }
    ia__free(sorted);
    if (!st) {
        /* UnixFS{Type: HAMTShard, Data: bitfield (leading zero bytes
         * dropped, as go-bitfield's Bytes()), hashType: murmur3, fanout} */
        size_t skip = 0;
        while (skip < fanout / 8 && !bitfield[skip])
            skip++;
        ia__buf d = {0};
        st = ia__buf_pb_varint(&d, 1, IA_UNIXFS_HAMT_SHARD);
        if (!st && skip < fanout / 8)
            st = ia__buf_pb_bytes(&d, 2, bitfield + skip, fanout / 8 - skip);
        if (!st)
            st = ia__buf_pb_varint(&d, 5, 0x22);
        if (!st)
            st = ia__buf_pb_varint(&d, 6, fanout);
        if (!st)
            st = ia__buf_pb_bytes(&b, 1, d.p, d.len);
        ia__buf_free(&d);
    }
    if (!st)
        st = emit_node(im, &b, tsum, cid, tsize);
out:
    ia__free(idx);
    ia__free(slot);
    ia__free(bitfield);
    ia__buf_free(&b);
    return st;
}

/* Make a directory node from its (name-sorted) entries: basic, or a HAMT
 * when the size estimate passes the threshold (boxo BasicDirectory). */
static ia_status dir_node(importer *im, dentry *e, size_t n, ia_cid *cid, uint64_t *tsize)
{
    const ia_unixfs_options *o = im->o;
    bool shard = false;
    if (o->hamt_threshold > 0 && o->hamt_estimation != IA_HAMT_EST_DISABLED) {
        uint64_t est = 0;
        if (o->hamt_estimation == IA_HAMT_EST_BLOCK) {
            est = 4; /* Data field: 0a 02 08 01 */
            for (size_t i = 0; i < n; i++) {
                size_t cn = ia_cid_byte_len(&e[i].cid);
                size_t ll = 1 + ia__varint_len(cn) + cn + 1 + ia__varint_len(e[i].name_len) +
                            e[i].name_len + 1 + ia__varint_len(e[i].tsize);
                est += 1 + ia__varint_len(ll) + ll;
            }
        } else {
            for (size_t i = 0; i < n; i++)
                est += e[i].name_len + ia_cid_byte_len(&e[i].cid);
        }
        shard = est > o->hamt_threshold;
    }
    if (!shard)
        return basic_dir(im, e, n, cid, tsize);
    for (size_t i = 0; i < n; i++)
        ia__murmur3_x64_64((const uint8_t *)e[i].name, e[i].name_len, e[i].hash);
    return hamt_shard(im, e, n, 0, cid, tsize);
}

typedef struct walk {
    importer *im;
    bool recursive;
    ia_unixfs_added_fn added;
    void *user;
} walk;

static long fd_read(void *ctx, uint8_t *buf, size_t cap)
{
    int fd = *(int *)ctx;
    for (;;) {
        ssize_t r = read(fd, buf, cap);
        if (r >= 0 || errno != EINTR)
            return (long)r;
    }
}

static void free_entries(dentry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ia__free(e[i].name);
    ia__free(e);
}

static ia_status add_any(walk *w, const char *path, const char *rel, ia_cid *cid, uint64_t *tsize,
                         uint64_t *size);

static ia_status add_dir(walk *w, const char *path, const char *rel, ia_cid *cid, uint64_t *tsize)
{
    DIR *d = opendir(path);
    if (!d)
        return ia__error(IA_ERR_IO, "%s: %s", path, strerror(errno));
    dentry *e = NULL;
    size_t n = 0, cap = 0;
    ia_status st = IA_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (!strcmp(nm, ".") || !strcmp(nm, ".."))
            continue;
        if (nm[0] == '.' && !w->im->o->hidden)
            continue;
        dentry *ne = ia__grow(e, n, &cap, sizeof *ne, 32);
        if (!ne) {
            st = ia__error(IA_ERR_NOMEM, "%s: directory of %zu entries", path, n + 1);
            break;
        }
        e = ne;
        memset(&e[n], 0, sizeof e[n]);
        e[n].name_len = strlen(nm);
        if (!(e[n].name = ia__strdup(nm))) {
            st = ia__error(IA_ERR_NOMEM, "%s: entry name", path);
            break;
        }
        n++;
    }
    closedir(d);
    if (!st && n)
        qsort(e, n, sizeof *e, dentry_cmp);
    for (size_t i = 0; i < n && !st; i++) {
        char *child = ia__path_join(path, e[i].name);
        char *crel = ia__path_join(rel, e[i].name);
        if (!child || !crel)
            st = ia__error(IA_ERR_NOMEM, "%s: path", path);
        else
            st = add_any(w, child, crel, &e[i].cid, &e[i].tsize, NULL);
        ia__free(child);
        ia__free(crel);
    }
    if (!st)
        st = dir_node(w->im, e, n, cid, tsize);
    free_entries(e, n);
    return st;
}

static ia_status add_any(walk *w, const char *path, const char *rel, ia_cid *cid, uint64_t *tsize,
                         uint64_t *size)
{
    struct stat sb;
    if (lstat(path, &sb))
        return ia__error(errno == ENOENT ? IA_ERR_NOT_FOUND : IA_ERR_IO, "%s: %s", path,
                         strerror(errno));
    ia_status st;
    uint64_t sz = 0;
    if (S_ISDIR(sb.st_mode)) {
        if (!w->recursive)
            return ia__error(IA_ERR_INVALID, "%s is a directory (add it recursively)", path);
        st = add_dir(w, path, rel, cid, tsize);
    } else if (S_ISLNK(sb.st_mode)) {
        char target[4096];
        ssize_t tl = readlink(path, target, sizeof target);
        if (tl < 0 || (size_t)tl >= sizeof target)
            return ia__error(IA_ERR_IO, "%s: cannot read symlink", path);
        ia__buf d = {0}, b = {0};
        st = ia__buf_pb_varint(&d, 1, IA_UNIXFS_SYMLINK);
        if (!st)
            st = ia__buf_pb_bytes(&d, 2, target, (size_t)tl);
        if (!st)
            st = ia__buf_pb_bytes(&b, 1, d.p, d.len);
        if (!st)
            st = emit_node(w->im, &b, 0, cid, tsize);
        ia__buf_free(&d);
        ia__buf_free(&b);
        sz = (uint64_t)tl;
    } else if (S_ISREG(sb.st_mode)) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return ia__error(IA_ERR_IO, "%s: %s", path, strerror(errno));
#ifdef POSIX_FADV_SEQUENTIAL
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
        flink r;
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        size_t threads = ncpu > 1 ? (size_t)IA_MIN(ncpu, POOL_MAX_THREADS) : 0;
        w->im->have = w->im->eof = false;
        w->im->total = 0;
        if (threads && (uint64_t)sb.st_size >= 8 * (uint64_t)w->im->o->chunk_size &&
            pool_start(w->im, fd, threads)) {
            st = import_file(w->im, &r);
            pool_stop(w->im);
        } else {
            st = import_stream(w->im, fd_read, &fd, &r);
        }
        close(fd);
        if (st)
            return ia__error_wrap(st, "%s", path);
        *cid = r.cid;
        *tsize = r.tsize;
        sz = w->im->total;
    } else {
        return ia__error(IA_ERR_UNSUPPORTED, "%s: not a regular file, directory or symlink", path);
    }
    if (!st && w->added)
        w->added(w->user, rel, cid, sz);
    if (size)
        *size = sz;
    return st;
}

ia_status ia_unixfs_add_path(const char *path, bool recursive, const ia_unixfs_options *opts,
                             const ia_block_sink *sink, ia_unixfs_added_fn added, void *user,
                             ia_cid *root)
{
    ia__error_clear();
    IA_NEED(path);
    IA_NEED(root);
    importer im;
    ia_status st = importer_init(&im, opts, sink);
    if (st)
        return st;
    /* The name kubo prints: the last path component. */
    size_t l = strlen(path);
    while (l > 1 && path[l - 1] == '/')
        l--;
    size_t s = l;
    while (s > 0 && path[s - 1] != '/')
        s--;
    char *rel = ia__strndup(path + s, l - s);
    if (!rel) {
        importer_close(&im);
        return ia__error(IA_ERR_NOMEM, "unixfs add");
    }
    walk w = {&im, recursive, added, user};
    uint64_t tsize;
    st = add_any(&w, path, rel, root, &tsize, NULL);
    ia__free(rel);
    importer_close(&im);
    return st;
}
