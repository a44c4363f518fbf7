/*
 * The UnixFS exporter: read files (whole or a byte range), list and walk
 * directories (plain and HAMT-sharded), and write a DAG back out to the
 * file system. Every block comes through ia__block_get, which verifies it
 * against its CID; a block the source lacks stops the export with
 * IA_ERR_NOT_FOUND naming it. Nothing is ever filled in.
 *
 * The structure of a DAG is checked as it is read: a file node's
 * blocksizes must match its links, and each child must deliver exactly the
 * bytes its parent declares, so a malformed DAG fails instead of yielding
 * wrong bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipfs-impl.h"

#define MAX_DEPTH 128

/* A fetched and decoded block. */
typedef struct node {
    const ia_block_source *src;
    ia_cid cid;
    const uint8_t *bytes;
    size_t len;
    bool pb;            /* dag-pb (else raw) */
    ia_dagpb_node pn;   /* when pb */
    ia_unixfs_data ud;  /* when pb */
} node;

static void node_free(node *n)
{
    if (n->pb) {
        ia_dagpb_node_clear(&n->pn);
        ia_unixfs_data_clear(&n->ud);
    }
    if (n->bytes)
        ia__block_release(n->src, &n->cid, n->bytes);
    memset(n, 0, sizeof *n);
}

static ia_status node_load(const ia_block_source *src, const ia_cid *cid, node *n)
{
    char s[IA_CID_STR_MAX];
    memset(n, 0, sizeof *n);
    n->src = src;
    n->cid = *cid;
    if (cid->codec != IA_CODEC_RAW && cid->codec != IA_CODEC_DAG_PB)
        return ia__error(IA_ERR_UNSUPPORTED, "%s: codec %s is not UnixFS", ia_cid_str(cid, s),
                         ia_codec_name(cid->codec) ? ia_codec_name(cid->codec) : "(unknown)");
    ia_status st = ia__block_get(src, cid, &n->bytes, &n->len);
    if (st) {
        n->bytes = NULL;
        return st;
    }
    if (cid->codec == IA_CODEC_RAW)
        return IA_OK;
    n->pb = true;
    st = ia_dagpb_decode(n->bytes, n->len, &n->pn);
    if (!st) {
        if (!n->pn.has_data)
            st = ia__error(IA_ERR_FORMAT, "dag-pb node has no UnixFS Data");
        else
            st = ia_unixfs_data_decode(n->pn.data, n->pn.data_len, &n->ud);
    }
    if (st) {
        n->pb = false;
        ia_dagpb_node_clear(&n->pn);
        st = ia__error_wrap(st, "block %s", ia_cid_str(cid, s));
        node_free(n);
    }
    return st;
}

/* ---- files ---- */

typedef struct cat_ctx {
    const ia_block_source *src;
    uint64_t off, end; /* wanted range, absolute file offsets */
    ia_write_fn write;
    void *ctx;
} cat_ctx;

static ia_status emit_range(cat_ctx *c, uint64_t pos, const uint8_t *p, size_t n)
{
    uint64_t a = IA_MAX(pos, c->off), b = IA_MIN(pos + n, c->end);
    if (a >= b)
        return IA_OK;
    return c->write(c->ctx, p + (a - pos), (size_t)(b - a));
}

/* Output the part of the file node at cid that lies in the wanted range;
 * the node starts at file offset pos and must hold exactly `expect` bytes
 * (UINT64_MAX: whatever it declares). *got gets the size it holds. */
static ia_status cat_rec(cat_ctx *c, const ia_cid *cid, uint64_t pos, uint64_t expect,
                         int depth, uint64_t *got)
{
    char s[IA_CID_STR_MAX];
    if (depth > MAX_DEPTH)
        return ia__error(IA_ERR_FORMAT, "%s: file DAG deeper than %d", ia_cid_str(cid, s), MAX_DEPTH);
    node n;
    ia_status st = node_load(c->src, cid, &n);
    if (st)
        return st;
    uint64_t size = 0;
    if (!n.pb) {
        size = n.len;
        if (expect != UINT64_MAX && size != expect) {
            st = ia__error(IA_ERR_FORMAT, "%s: raw leaf of %llu bytes where its parent says %llu",
                           ia_cid_str(cid, s), (unsigned long long)size, (unsigned long long)expect);
        } else {
            st = emit_range(c, pos, n.bytes, n.len);
        }
        node_free(&n);
        *got = size;
        return st;
    }
    const ia_unixfs_data *d = &n.ud;
    if (d->type != IA_UNIXFS_FILE && d->type != IA_UNIXFS_RAW) {
        st = ia__error(IA_ERR_INVALID, "%s is not a file (UnixFS type %d)", ia_cid_str(cid, s),
                       (int)d->type);
        goto out;
    }
    if (n.pn.n_links != d->n_blocksizes) {
        st = ia__error(IA_ERR_FORMAT, "%s: %zu links but %zu blocksizes", ia_cid_str(cid, s),
                       n.pn.n_links, d->n_blocksizes);
        goto out;
    }
    size = d->data_len;
    for (size_t i = 0; i < d->n_blocksizes; i++) {
        if (size + d->blocksizes[i] < size) {
            st = ia__error(IA_ERR_FORMAT, "%s: blocksizes overflow", ia_cid_str(cid, s));
            goto out;
        }
        size += d->blocksizes[i];
    }
    if (expect != UINT64_MAX && size != expect) {
        st = ia__error(IA_ERR_FORMAT, "%s holds %llu bytes where its parent says %llu",
                       ia_cid_str(cid, s), (unsigned long long)size, (unsigned long long)expect);
        goto out;
    }
    if ((st = emit_range(c, pos, d->data, d->data_len)))
        goto out;
    uint64_t p = pos + d->data_len;
    for (size_t i = 0; i < n.pn.n_links && !st; i++) {
        uint64_t bs = d->blocksizes[i];
        if (p < c->end && p + bs > c->off) {
            uint64_t g;
            st = cat_rec(c, &n.pn.links[i].cid, p, bs, depth + 1, &g);
        }
        p += bs;
    }
out:
    node_free(&n);
    *got = size;
    return st;
}

ia_status ia_unixfs_cat(const ia_block_source *src, const ia_cid *cid, uint64_t offset,
                        uint64_t length, ia_write_fn write, void *ctx)
{
    ia__error_clear();
    IA_NEED(src);
    IA_NEED(cid);
    IA_NEED(write);
    cat_ctx c = {src, offset, length > UINT64_MAX - offset ? UINT64_MAX : offset + length, write,
                 ctx};
    uint64_t got;
    return cat_rec(&c, cid, 0, UINT64_MAX, 0, &got);
}

ia_status ia_unixfs_stat_cid(const ia_block_source *src, const ia_cid *cid, ia_unixfs_stat *out)
{
    ia__error_clear();
    IA_NEED(src);
    IA_NEED(cid);
    IA_NEED(out);
    node n;
    ia_status st = node_load(src, cid, &n);
    if (st)
        return st;
    memset(out, 0, sizeof *out);
    out->block_size = n.len;
    out->cumulative = n.len;
    if (!n.pb) {
        out->type = IA_UNIXFS_RAW;
        out->size = n.len;
    } else {
        out->type = n.ud.type;
        out->n_links = n.pn.n_links;
        for (size_t i = 0; i < n.pn.n_links; i++)
            out->cumulative += n.pn.links[i].tsize;
        if (n.ud.type == IA_UNIXFS_FILE || n.ud.type == IA_UNIXFS_RAW) {
            uint64_t sz = n.ud.data_len;
            for (size_t i = 0; i < n.ud.n_blocksizes; i++)
                sz += n.ud.blocksizes[i];
            out->size = n.ud.has_filesize ? n.ud.filesize : sz;
        } else if (n.ud.type == IA_UNIXFS_SYMLINK) {
            out->size = n.ud.data_len;
        }
    }
    node_free(&n);
    return IA_OK;
}

/* ---- directories ---- */

static ia_status hamt_check(const node *n, const ia_cid *cid)
{
    char s[IA_CID_STR_MAX];
    uint64_t f = n->ud.fanout;
    if (!n->ud.has_fanout || f < 2 || f > 4096 || (f & (f - 1)))
        return ia__error(IA_ERR_FORMAT, "HAMT shard %s: bad fanout %llu", ia_cid_str(cid, s),
                         (unsigned long long)f);
    if (n->ud.hash_type != 0x22)
        return ia__error(IA_ERR_UNSUPPORTED, "HAMT shard %s: hash type 0x%llx is not murmur3",
                         ia_cid_str(cid, s), (unsigned long long)n->ud.hash_type);
    return IA_OK;
}

typedef struct ls_ctx {
    const ia_block_source *src;
    ia_unixfs_entry_fn fn;
    void *ctx;
} ls_ctx;

static ia_status emit_entry(ls_ctx *l, const char *name, size_t name_len, const ia_dagpb_link *lk)
{
    char buf[1024];
    char *nm = name_len < sizeof buf ? buf : ia__malloc(name_len + 1);
    if (!nm)
        return ia__error(IA_ERR_NOMEM, "directory entry name");
    memcpy(nm, name, name_len);
    nm[name_len] = 0;
    ia_unixfs_entry e = {nm, lk->cid, lk->tsize};
    ia_status st = l->fn(l->ctx, &e);
    if (nm != buf)
        ia__free(nm);
    return st;
}

static ia_status ls_hamt(ls_ctx *l, node *n, int depth)
{
    ia_status st = hamt_check(n, &n->cid);
    if (st)
        return st;
    size_t pad = (size_t)ia__hamt_pad(n->ud.fanout);
    for (size_t i = 0; i < n->pn.n_links && !st; i++) {
        const ia_dagpb_link *lk = &n->pn.links[i];
        char s[IA_CID_STR_MAX];
        if (!lk->has_name || lk->name_len < pad)
            return ia__error(IA_ERR_FORMAT, "HAMT shard %s: link %zu has a bad name",
                             ia_cid_str(&n->cid, s), i);
        if (lk->name_len == pad) {
            if (depth >= MAX_DEPTH)
                return ia__error(IA_ERR_FORMAT, "HAMT deeper than %d", MAX_DEPTH);
            node sub;
            if ((st = node_load(l->src, &lk->cid, &sub)))
                return st;
            if (!sub.pb || sub.ud.type != IA_UNIXFS_HAMT_SHARD)
                st = ia__error(IA_ERR_FORMAT, "HAMT shard %s: child %.*s is not a shard",
                               ia_cid_str(&n->cid, s), (int)lk->name_len, lk->name);
            else
                st = ls_hamt(l, &sub, depth + 1);
            node_free(&sub);
        } else {
            st = emit_entry(l, lk->name + pad, lk->name_len - pad, lk);
        }
    }
    return st;
}

ia_status ia_unixfs_ls(const ia_block_source *src, const ia_cid *dir, ia_unixfs_entry_fn fn,
                       void *ctx)
{
    ia__error_clear();
    IA_NEED(src);
    IA_NEED(dir);
    IA_NEED(fn);
    char s[IA_CID_STR_MAX];
    node n;
    ia_status st = node_load(src, dir, &n);
    if (st)
        return st;
    ls_ctx l = {src, fn, ctx};
    if (n.pb && n.ud.type == IA_UNIXFS_DIRECTORY) {
        for (size_t i = 0; i < n.pn.n_links && !st; i++) {
            const ia_dagpb_link *lk = &n.pn.links[i];
            st = emit_entry(&l, lk->name ? lk->name : "", lk->name_len, lk);
        }
    } else if (n.pb && n.ud.type == IA_UNIXFS_HAMT_SHARD) {
        st = ls_hamt(&l, &n, 0);
    } else {
        st = ia__error(IA_ERR_INVALID, "%s is not a directory", ia_cid_str(dir, s));
    }
    node_free(&n);
    return st;
}

/* Find name in the directory node n (plain or HAMT). */
static ia_status lookup(const ia_block_source *src, node *n, const char *name, size_t nl,
                        ia_cid *out)
{
    char s[IA_CID_STR_MAX];
    if (n->pb && n->ud.type == IA_UNIXFS_DIRECTORY) {
        for (size_t i = 0; i < n->pn.n_links; i++) {
            const ia_dagpb_link *lk = &n->pn.links[i];
            if (lk->name_len == nl && (!nl || !memcmp(lk->name, name, nl))) {
                *out = lk->cid;
                return IA_OK;
            }
        }
        return ia__error(IA_ERR_NOT_FOUND, "no entry \"%.*s\" in directory %s", (int)nl, name,
                         ia_cid_str(&n->cid, s));
    }
    if (!n->pb || n->ud.type != IA_UNIXFS_HAMT_SHARD)
        return ia__error(IA_ERR_INVALID, "%s is not a directory (looking up \"%.*s\")",
                         ia_cid_str(&n->cid, s), (int)nl, name);
    uint8_t h[8];
    ia__murmur3_x64_64((const uint8_t *)name, nl, h);
    node cur = *n, sub;
    bool owned = false;
    ia_status st = IA_OK;
    for (unsigned depth = 0;; depth++) {
        if ((st = hamt_check(&cur, &cur.cid)))
            break;
        unsigned bits = 0;
        while ((1ull << bits) < cur.ud.fanout)
            bits++;
        if ((depth + 1) * bits > 64) {
            st = ia__error(IA_ERR_FORMAT, "HAMT too deep looking up \"%.*s\"", (int)nl, name);
            break;
        }
        unsigned idx = ia__hamt_index(h, depth * bits, bits);
        int pad = ia__hamt_pad(cur.ud.fanout);
        char pre[8];
        snprintf(pre, sizeof pre, "%0*X", pad, idx);
        const ia_dagpb_link *hit = NULL;
        for (size_t i = 0; i < cur.pn.n_links; i++) {
            const ia_dagpb_link *lk = &cur.pn.links[i];
            if (lk->name_len >= (size_t)pad && !memcmp(lk->name, pre, (size_t)pad)) {
                hit = lk;
                break;
            }
        }
        if (!hit) {
            st = ia__error(IA_ERR_NOT_FOUND, "no entry \"%.*s\" in sharded directory %s",
                           (int)nl, name, ia_cid_str(&n->cid, s));
            break;
        }
        if (hit->name_len > (size_t)pad) {
            if (hit->name_len - (size_t)pad == nl && !memcmp(hit->name + pad, name, nl))
                *out = hit->cid;
            else
                st = ia__error(IA_ERR_NOT_FOUND, "no entry \"%.*s\" in sharded directory %s",
                               (int)nl, name, ia_cid_str(&n->cid, s));
            break;
        }
        ia_cid next = hit->cid;
        if ((st = node_load(src, &next, &sub)))
            break;
        if (owned)
            node_free(&cur);
        cur = sub;
        owned = true;
        if (!cur.pb || cur.ud.type != IA_UNIXFS_HAMT_SHARD) {
            st = ia__error(IA_ERR_FORMAT, "HAMT child %s is not a shard", ia_cid_str(&next, s));
            break;
        }
    }
    if (owned)
        node_free(&cur);
    return st;
}

ia_status ia_unixfs_resolve(const ia_block_source *src, const ia_cid *root, const char *path,
                            ia_cid *out)
{
    ia__error_clear();
    IA_NEED(src);
    IA_NEED(root);
    IA_NEED(path);
    IA_NEED(out);
    ia_cid cur = *root;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, '/');
        size_t nl = e ? (size_t)(e - p) : strlen(p);
        node n;
        ia_status st = node_load(src, &cur, &n);
        if (st)
            return st;
        ia_cid next;
        st = lookup(src, &n, p, nl, &next);
        node_free(&n);
        if (st)
            return st;
        cur = next;
        p += nl;
    }
    *out = cur;
    return IA_OK;
}

/* ---- get: write a DAG to the file system ---- */

typedef struct fd_sink {
    int fd;
    const char *path;
} fd_sink;

static ia_status fd_write(void *ctx, const uint8_t *p, size_t n)
{
    fd_sink *f = ctx;
    while (n) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return ia__error(IA_ERR_IO, "%s: %s", f->path, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return IA_OK;
}

static bool bad_name(const char *n)
{
    return !*n || !strcmp(n, ".") || !strcmp(n, "..") || strchr(n, '/');
}

static ia_status get_rec(const ia_block_source *src, const ia_cid *cid, const char *dest, int depth);

typedef struct get_ctx {
    const ia_block_source *src;
    const char *dir;
    int depth;
} get_ctx;

static ia_status get_entry(void *ctx, const ia_unixfs_entry *e)
{
    get_ctx *g = ctx;
    if (bad_name(e->name))
        return ia__error(IA_ERR_FORMAT, "directory entry name \"%s\" is not allowed", e->name);
    char *p = ia__path_join(g->dir, e->name);
    if (!p)
        return ia__error(IA_ERR_NOMEM, "path");
    ia_status st = get_rec(g->src, &e->cid, p, g->depth + 1);
    ia__free(p);
    return st;
}

static ia_status get_rec(const ia_block_source *src, const ia_cid *cid, const char *dest, int depth)
{
    if (depth > MAX_DEPTH)
        return ia__error(IA_ERR_FORMAT, "directory tree deeper than %d", MAX_DEPTH);
    node n;
    ia_status st = node_load(src, cid, &n);
    if (st)
        return st;
    bool is_dir = n.pb && (n.ud.type == IA_UNIXFS_DIRECTORY || n.ud.type == IA_UNIXFS_HAMT_SHARD);
    bool is_link = n.pb && n.ud.type == IA_UNIXFS_SYMLINK;
    char target[4097];
    if (is_link) {
        if (n.ud.data_len >= sizeof target || memchr(n.ud.data, 0, n.ud.data_len))
            st = ia__error(IA_ERR_FORMAT, "symlink target too long or has NUL");
        else {
            memcpy(target, n.ud.data, n.ud.data_len);
            target[n.ud.data_len] = 0;
        }
    }
    node_free(&n);
    if (st)
        return st;
    if (is_dir) {
        if (mkdir(dest, 0755))
            return ia__error(IA_ERR_IO, "%s: %s", dest, strerror(errno));
        get_ctx g = {src, dest, depth};
        return ia_unixfs_ls(src, cid, get_entry, &g);
    }
    if (is_link) {
        if (symlink(target, dest))
            return ia__error(IA_ERR_IO, "%s: %s", dest, strerror(errno));
        return IA_OK;
    }
    int fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return ia__error(IA_ERR_IO, "%s: %s", dest, strerror(errno));
    fd_sink f = {fd, dest};
    st = ia_unixfs_cat(src, cid, 0, UINT64_MAX, fd_write, &f);
    if (close(fd) && !st)
        st = ia__error(IA_ERR_IO, "%s: %s", dest, strerror(errno));
    if (st)
        unlink(dest);
    return st;
}

ia_status ia_unixfs_get(const ia_block_source *src, const ia_cid *cid, const char *dest)
{
    ia__error_clear();
    IA_NEED(src);
    IA_NEED(cid);
    IA_NEED(dest);
    struct stat sb;
    if (!lstat(dest, &sb))
        return ia__error(IA_ERR_INVALID, "%s already exists", dest);
    return get_rec(src, cid, dest, 0);
}
