/*
 * dag-pb (the protobuf node format under UnixFS) and the UnixFS Data
 * message it carries. Decoders are strict in the ways the dag-pb spec asks
 * (see include/ipfs_accelerate/dagpb.h) and bounded: every length is
 * checked against the bytes left before it is used.
 */
#include <string.h>

#include "ipfs-impl.h"

#define WT_VARINT 0
#define WT_I64 1
#define WT_LEN 2
#define WT_I32 5

/* A reader over untrusted protobuf bytes. */
typedef struct pbr {
    const uint8_t *b;
    size_t n, pos;
    const char *what; /* for messages: "dag-pb node", "UnixFS Data" */
} pbr;

static ia_status pbr_varint(pbr *r, uint64_t *v)
{
    size_t k = ia__pb_varint_get(r->b + r->pos, r->n - r->pos, v);
    if (!k)
        return ia__error(IA_ERR_FORMAT, "%s: bad varint at offset %zu", r->what, r->pos);
    r->pos += k;
    return IA_OK;
}

static ia_status pbr_bytes(pbr *r, const uint8_t **p, size_t *len)
{
    uint64_t l;
    ia_status st = pbr_varint(r, &l);
    if (st)
        return st;
    if (l > r->n - r->pos)
        return ia__error(IA_ERR_FORMAT, "%s: field of %llu bytes at offset %zu overruns the %zu bytes left",
                         r->what, (unsigned long long)l, r->pos, r->n - r->pos);
    *p = r->b + r->pos;
    *len = (size_t)l;
    r->pos += (size_t)l;
    return IA_OK;
}

/* dag-pb tags are all single bytes; a multi-byte tag is a non-canonical or
 * unknown field either way. */
static ia_status pbr_tag(pbr *r, unsigned *field, unsigned *wt)
{
    uint8_t t = r->b[r->pos];
    if (t & 0x80)
        return ia__error(IA_ERR_FORMAT, "%s: unknown field (tag 0x%02x...) at offset %zu", r->what,
                         t, r->pos);
    *field = t >> 3;
    *wt = t & 7;
    r->pos++;
    return IA_OK;
}

static ia_status decode_link(const uint8_t *b, size_t n, size_t base, ia_dagpb_link *l)
{
    pbr r = {b, n, 0, "dag-pb link"};
    unsigned last = 0;
    bool has_hash = false;
    memset(l, 0, sizeof *l);
    while (r.pos < r.n) {
        unsigned field = 0, wt = 0;
        size_t at = base + r.pos;
        ia_status st = pbr_tag(&r, &field, &wt);
        if (st)
            return st;
        if (field < 1 || field > 3)
            return ia__error(IA_ERR_FORMAT, "dag-pb link: unknown field %u at offset %zu", field, at);
        if (field <= last)
            return ia__error(IA_ERR_FORMAT,
                             "dag-pb link: field %u at offset %zu is %s (fields must be Hash, Name, Tsize, once each)",
                             field, at, field == last ? "duplicated" : "out of order");
        last = field;
        if (field == 3) {
            if (wt != WT_VARINT)
                return ia__error(IA_ERR_FORMAT, "dag-pb link: Tsize with wire type %u at offset %zu", wt, at);
            if ((st = pbr_varint(&r, &l->tsize)))
                return st;
            l->has_tsize = true;
            continue;
        }
        if (wt != WT_LEN)
            return ia__error(IA_ERR_FORMAT, "dag-pb link: %s with wire type %u at offset %zu",
                             field == 1 ? "Hash" : "Name", wt, at);
        const uint8_t *p;
        size_t len;
        if ((st = pbr_bytes(&r, &p, &len)))
            return st;
        if (field == 1) {
            if ((st = ia_cid_from_bytes(p, len, &l->cid, NULL)))
                return ia__error_wrap(st, "dag-pb link: Hash at offset %zu", at);
            has_hash = true;
        } else {
            l->name = (const char *)p;
            l->name_len = len;
            l->has_name = true;
        }
    }
    if (!has_hash)
        return ia__error(IA_ERR_FORMAT, "dag-pb link at offset %zu has no Hash", base);
    return IA_OK;
}

ia_status ia_dagpb_decode(const uint8_t *bytes, size_t len, ia_dagpb_node *out)
{
    ia__error_clear();
    IA_NEED(out);
    if (!bytes && len)
        return ia__error(IA_ERR_INVALID, "%s: bytes is NULL with len %zu", __func__, len);
    memset(out, 0, sizeof *out);
    pbr r = {bytes, len, 0, "dag-pb node"};
    size_t cap = 0;
    ia_status st = IA_OK;
    while (r.pos < r.n) {
        unsigned field = 0, wt = 0;
        size_t at = r.pos;
        if ((st = pbr_tag(&r, &field, &wt)))
            goto fail;
        if (wt != WT_LEN || (field != 1 && field != 2)) {
            st = ia__error(IA_ERR_FORMAT, "dag-pb node: unknown field %u (wire type %u) at offset %zu",
                           field, wt, at);
            goto fail;
        }
        const uint8_t *p;
        size_t l;
        if ((st = pbr_bytes(&r, &p, &l)))
            goto fail;
        if (field == 1) {
            if (out->has_data) {
                st = ia__error(IA_ERR_FORMAT, "dag-pb node: duplicate Data at offset %zu", at);
                goto fail;
            }
            out->has_data = true;
            out->data = p;
            out->data_len = l;
            continue;
        }
        if (out->has_data) {
            st = ia__error(IA_ERR_FORMAT, "dag-pb node: Links after Data at offset %zu (Links must come first)", at);
            goto fail;
        }
        ia_dagpb_link *nl = ia__grow(out->links, out->n_links, &cap, sizeof *nl, 8);
        if (!nl) {
            st = ia__error(IA_ERR_NOMEM, "dag-pb node: %zu links", out->n_links + 1);
            goto fail;
        }
        out->links = nl;
        if ((st = decode_link(p, l, (size_t)(p - bytes), &out->links[out->n_links])))
            goto fail;
        out->n_links++;
    }
    return IA_OK;
fail:
    ia_dagpb_node_clear(out);
    return st;
}

void ia_dagpb_node_clear(ia_dagpb_node *node)
{
    if (!node)
        return;
    ia__free(node->links);
    memset(node, 0, sizeof *node);
}

static size_t link_body_len(const ia_dagpb_link *l)
{
    size_t c = ia_cid_byte_len(&l->cid);
    size_t n = 1 + ia__varint_len(c) + c;
    if (l->has_name)
        n += 1 + ia__varint_len(l->name_len) + l->name_len;
    if (l->has_tsize)
        n += 1 + ia__varint_len(l->tsize);
    return n;
}

ia_status ia_dagpb_encode(const ia_dagpb_node *node, uint8_t **out, size_t *len)
{
    ia__error_clear();
    IA_NEED(node);
    IA_NEED(out);
    IA_NEED(len);
    ia__buf b = {0};
    ia_status st = IA_OK;
    for (size_t i = 0; i < node->n_links && !st; i++) {
        const ia_dagpb_link *l = &node->links[i];
        uint8_t cb[IA_CID_MAX_BYTES];
        size_t cn = ia__cid_put(&l->cid, cb);
        st = ia__buf_varint(&b, 2 << 3 | WT_LEN);
        if (!st)
            st = ia__buf_varint(&b, link_body_len(l));
        if (!st)
            st = ia__buf_pb_bytes(&b, 1, cb, cn);
        if (!st && l->has_name)
            st = ia__buf_pb_bytes(&b, 2, l->name, l->name_len);
        if (!st && l->has_tsize)
            st = ia__buf_pb_varint(&b, 3, l->tsize);
    }
    if (!st && node->has_data)
        st = ia__buf_pb_bytes(&b, 1, node->data, node->data_len);
    if (!st)
        st = ia__buf_reserve(&b, 1); /* a zero-length node still gets a buffer */
    if (st) {
        ia__buf_free(&b);
        return st;
    }
    *out = b.p;
    *len = b.len;
    return IA_OK;
}

void ia_dagpb_free(void *p) { ia__free(p); }

/* ---- UnixFS Data ---- */

static ia_status skip_field(pbr *r, unsigned wt, size_t at)
{
    uint64_t v;
    const uint8_t *p;
    size_t l;
    switch (wt) {
    case WT_VARINT: return pbr_varint(r, &v);
    case WT_LEN: return pbr_bytes(r, &p, &l);
    case WT_I64:
    case WT_I32: {
        size_t k = wt == WT_I64 ? 8 : 4;
        if (r->n - r->pos < k)
            return ia__error(IA_ERR_FORMAT, "%s: truncated fixed field at offset %zu", r->what, at);
        r->pos += k;
        return IA_OK;
    }
    }
    return ia__error(IA_ERR_FORMAT, "%s: wire type %u at offset %zu", r->what, wt, at);
}

static ia_status push_blocksize(ia_unixfs_data *d, size_t *cap, uint64_t v)
{
    uint64_t *nb = ia__grow(d->blocksizes, d->n_blocksizes, cap, sizeof *nb, 16);
    if (!nb)
        return ia__error(IA_ERR_NOMEM, "UnixFS Data: %zu blocksizes", d->n_blocksizes + 1);
    d->blocksizes = nb;
    d->blocksizes[d->n_blocksizes++] = v;
    return IA_OK;
}

static ia_status decode_mtime(const uint8_t *b, size_t n, ia_unixfs_data *d)
{
    pbr r = {b, n, 0, "UnixFS mtime"};
    bool secs = false;
    while (r.pos < r.n) {
        unsigned field = 0, wt = 0;
        size_t at = r.pos;
        ia_status st = pbr_tag(&r, &field, &wt);
        if (st)
            return st;
        if (field == 1 && wt == WT_VARINT && !secs) {
            uint64_t v;
            if ((st = pbr_varint(&r, &v)))
                return st;
            d->mtime_seconds = (int64_t)v;
            secs = true;
        } else if (field == 2 && wt == WT_I32 && !d->has_mtime_nanos) {
            if (r.n - r.pos < 4)
                return ia__error(IA_ERR_FORMAT, "UnixFS mtime: truncated nanos");
            const uint8_t *p = r.b + r.pos;
            d->mtime_nanos = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24;
            r.pos += 4;
            d->has_mtime_nanos = true;
        } else if (field == 1 || field == 2) {
            return ia__error(IA_ERR_FORMAT, "UnixFS mtime: bad or duplicate field %u at offset %zu",
                             field, at);
        } else if ((st = skip_field(&r, wt, at))) {
            return st;
        }
    }
    if (!secs)
        return ia__error(IA_ERR_FORMAT, "UnixFS mtime without seconds");
    return IA_OK;
}

ia_status ia_unixfs_data_decode(const uint8_t *bytes, size_t len, ia_unixfs_data *d)
{
    ia__error_clear();
    IA_NEED(d);
    if (!bytes && len)
        return ia__error(IA_ERR_INVALID, "%s: bytes is NULL with len %zu", __func__, len);
    memset(d, 0, sizeof *d);
    pbr r = {bytes, len, 0, "UnixFS Data"};
    bool has_type = false;
    size_t cap = 0;
    ia_status st = IA_OK;
    while (r.pos < r.n) {
        unsigned field = 0, wt = 0;
        size_t at = r.pos;
        uint64_t v = 0;
        if ((st = pbr_tag(&r, &field, &wt)))
            goto fail;
        /* Expected wire type per field; blocksizes may also come packed. */
        static const int want[9] = {-1, WT_VARINT, WT_LEN, WT_VARINT, WT_VARINT,
                                    WT_VARINT, WT_VARINT, WT_VARINT, WT_LEN};
        if (field < 1 || field > 8) {
            if ((st = skip_field(&r, wt, at)))
                goto fail;
            continue;
        }
        if ((int)wt != want[field] && !(field == 4 && wt == WT_LEN)) {
            st = ia__error(IA_ERR_FORMAT, "UnixFS Data: field %u with wire type %u at offset %zu",
                           field, wt, at);
            goto fail;
        }
        bool dup = false;
        switch (field) {
        case 1:
            dup = has_type;
            if (!dup && !(st = pbr_varint(&r, &v))) {
                if (v > IA_UNIXFS_HAMT_SHARD) {
                    st = ia__error(IA_ERR_FORMAT, "UnixFS Data: unknown Type %llu", (unsigned long long)v);
                    goto fail;
                }
                d->type = (ia_unixfs_type)v;
                has_type = true;
            }
            break;
        case 2:
            dup = d->has_data;
            if (!dup && !(st = pbr_bytes(&r, &d->data, &d->data_len)))
                d->has_data = true;
            break;
        case 3:
            dup = d->has_filesize;
            if (!dup && !(st = pbr_varint(&r, &d->filesize)))
                d->has_filesize = true;
            break;
        case 4:
            if (wt == WT_LEN) {
                const uint8_t *p;
                size_t l;
                if ((st = pbr_bytes(&r, &p, &l)))
                    goto fail;
                pbr pr = {p, l, 0, "UnixFS blocksizes"};
                while (pr.pos < pr.n && !st) {
                    if (!(st = pbr_varint(&pr, &v)))
                        st = push_blocksize(d, &cap, v);
                }
            } else if (!(st = pbr_varint(&r, &v))) {
                st = push_blocksize(d, &cap, v);
            }
            break;
        case 5:
            dup = d->has_hash_type;
            if (!dup && !(st = pbr_varint(&r, &d->hash_type)))
                d->has_hash_type = true;
            break;
        case 6:
            dup = d->has_fanout;
            if (!dup && !(st = pbr_varint(&r, &d->fanout)))
                d->has_fanout = true;
            break;
        case 7:
            dup = d->has_mode;
            if (!dup && !(st = pbr_varint(&r, &v))) {
                d->mode = (uint32_t)v;
                d->has_mode = true;
            }
            break;
        case 8: {
            dup = d->has_mtime;
            const uint8_t *p;
            size_t l;
            if (!dup && !(st = pbr_bytes(&r, &p, &l)) && !(st = decode_mtime(p, l, d)))
                d->has_mtime = true;
            break;
        }
        }
        if (dup) {
            st = ia__error(IA_ERR_FORMAT, "UnixFS Data: duplicate field %u at offset %zu", field, at);
            goto fail;
        }
        if (st)
            goto fail;
    }
    if (!has_type) {
        st = ia__error(IA_ERR_FORMAT, "UnixFS Data has no Type");
        goto fail;
    }
    return IA_OK;
fail:
    ia_unixfs_data_clear(d);
    return st;
}

void ia_unixfs_data_clear(ia_unixfs_data *d)
{
    if (!d)
        return;
    ia__free(d->blocksizes);
    memset(d, 0, sizeof *d);
}

ia_status ia__unixfs_data_encode(ia__buf *b, const ia_unixfs_data *d)
{
    ia_status st = ia__buf_pb_varint(b, 1, (uint64_t)d->type);
    if (!st && d->has_data)
        st = ia__buf_pb_bytes(b, 2, d->data, d->data_len);
    if (!st && d->has_filesize)
        st = ia__buf_pb_varint(b, 3, d->filesize);
    for (size_t i = 0; i < d->n_blocksizes && !st; i++)
        st = ia__buf_pb_varint(b, 4, d->blocksizes[i]);
    if (!st && d->has_hash_type)
        st = ia__buf_pb_varint(b, 5, d->hash_type);
    if (!st && d->has_fanout)
        st = ia__buf_pb_varint(b, 6, d->fanout);
    if (!st && d->has_mode)
        st = ia__buf_pb_varint(b, 7, d->mode);
    if (!st && d->has_mtime) {
        ia__buf m = {0};
        st = ia__buf_pb_varint(&m, 1, (uint64_t)d->mtime_seconds);
        if (!st && d->has_mtime_nanos) {
            uint8_t f[5] = {2 << 3 | WT_I32, (uint8_t)d->mtime_nanos, (uint8_t)(d->mtime_nanos >> 8),
                            (uint8_t)(d->mtime_nanos >> 16), (uint8_t)(d->mtime_nanos >> 24)};
            st = ia__buf_put(&m, f, 5);
        }
        if (!st)
            st = ia__buf_pb_bytes(b, 8, m.p, m.len);
        ia__buf_free(&m);
    }
    return st;
}
