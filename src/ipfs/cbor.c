/*
 * The slice of dag-cbor this layer needs: CAR headers ({roots, version})
 * in both directions, and finding the CIDs (tag 42) inside a dag-cbor
 * block to walk a DAG. The decoder is bounded (lengths checked against the
 * bytes left, nesting at most 64) and accepts only definite lengths, as
 * dag-cbor requires.
 */
#include <string.h>

#include "ipfs-impl.h"

#define MAX_NEST 64

typedef struct cr {
    const uint8_t *b;
    size_t n, pos;
} cr;

/* Read an item head: major type and argument. */
static ia_status head(cr *r, unsigned *major, uint64_t *arg)
{
    if (r->pos >= r->n)
        return ia__error(IA_ERR_FORMAT, "CBOR truncated at offset %zu", r->pos);
    uint8_t ib = r->b[r->pos++];
    *major = ib >> 5;
    unsigned ai = ib & 31;
    if (ai < 24) {
        *arg = ai;
        return IA_OK;
    }
    if (ai > 27)
        return ia__error(IA_ERR_FORMAT, "CBOR: indefinite or reserved length at offset %zu",
                         r->pos - 1);
    size_t k = (size_t)1 << (ai - 24);
    if (r->n - r->pos < k)
        return ia__error(IA_ERR_FORMAT, "CBOR truncated at offset %zu", r->pos);
    uint64_t v = 0;
    for (size_t i = 0; i < k; i++)
        v = v << 8 | r->b[r->pos++];
    *arg = v;
    return IA_OK;
}

static ia_status take(cr *r, uint64_t len, const uint8_t **p)
{
    if (len > r->n - r->pos)
        return ia__error(IA_ERR_FORMAT, "CBOR string of %llu bytes overruns the input at offset %zu",
                         (unsigned long long)len, r->pos);
    *p = r->b + r->pos;
    r->pos += (size_t)len;
    return IA_OK;
}

/* A tag-42 CID: byte string with a leading 0x00 (the identity multibase). */
static ia_status tag42(cr *r, ia_cid *cid)
{
    unsigned mj = 0;
    uint64_t len = 0;
    const uint8_t *p = NULL;
    ia_status st = head(r, &mj, &len);
    if (st)
        return st;
    if (mj != 2)
        return ia__error(IA_ERR_FORMAT, "CBOR tag 42 is not on a byte string");
    if ((st = take(r, len, &p)))
        return st;
    if (len < 2 || p[0] != 0)
        return ia__error(IA_ERR_FORMAT, "CBOR tag 42 without its 0x00 prefix");
    return ia_cid_from_bytes(p + 1, (size_t)len - 1, cid, NULL);
}

static ia_status walk(cr *r, int depth, ia__cid_fn_t fn, void *ctx)
{
    if (depth > MAX_NEST)
        return ia__error(IA_ERR_FORMAT, "CBOR nested deeper than %d", MAX_NEST);
    unsigned mj = 0;
    uint64_t arg = 0;
    const uint8_t *p = NULL;
    ia_status st = head(r, &mj, &arg);
    if (st)
        return st;
    switch (mj) {
    case 0:
    case 1: return IA_OK;
    case 2:
    case 3: return take(r, arg, &p);
    case 4:
    case 5: {
        uint64_t items = mj == 5 ? arg * 2 : arg;
        if (arg > r->n - r->pos || items > r->n - r->pos)
            return ia__error(IA_ERR_FORMAT, "CBOR container of %llu items overruns the input",
                             (unsigned long long)arg);
        for (uint64_t i = 0; i < items; i++)
            if ((st = walk(r, depth + 1, fn, ctx)))
                return st;
        return IA_OK;
    }
    case 6:
        if (arg == 42) {
            ia_cid c;
            if ((st = tag42(r, &c)))
                return st;
            return fn ? fn(ctx, &c) : IA_OK;
        }
        return walk(r, depth + 1, fn, ctx);
    default: /* 7: simple values and floats; the argument was consumed */
        return IA_OK;
    }
}

ia_status ia__cbor_links(const uint8_t *b, size_t n, ia__cid_fn_t fn, void *ctx)
{
    cr r = {b, n, 0};
    ia_status st = walk(&r, 0, fn, ctx);
    if (!st && r.pos != n)
        st = ia__error(IA_ERR_FORMAT, "%zu trailing bytes after the CBOR item", n - r.pos);
    return st;
}

ia_status ia__car_header_decode(const uint8_t *b, size_t n, uint64_t *version, ia_cid **roots,
                                size_t *n_roots)
{
    cr r = {b, n, 0};
    unsigned mj = 0;
    uint64_t pairs = 0;
    bool have_version = false;
    ia_cid *rs = NULL;
    size_t nr = 0;
    ia_status st = head(&r, &mj, &pairs);
    if (!st && mj != 5)
        st = ia__error(IA_ERR_FORMAT, "CAR header is not a CBOR map");
    for (uint64_t i = 0; !st && i < pairs; i++) {
        uint64_t kl = 0;
        const uint8_t *k = NULL;
        if ((st = head(&r, &mj, &kl)))
            break;
        if (mj != 3) {
            st = ia__error(IA_ERR_FORMAT, "CAR header has a non-string key");
            break;
        }
        if ((st = take(&r, kl, &k)))
            break;
        if (kl == 7 && !memcmp(k, "version", 7)) {
            if ((st = head(&r, &mj, version)))
                break;
            if (mj != 0) {
                st = ia__error(IA_ERR_FORMAT, "CAR header version is not an integer");
                break;
            }
            have_version = true;
        } else if (kl == 5 && !memcmp(k, "roots", 5)) {
            uint64_t cnt = 0;
            if ((st = head(&r, &mj, &cnt)))
                break;
            if (mj != 4 || cnt > r.n - r.pos || rs) {
                st = ia__error(IA_ERR_FORMAT, "CAR header roots is not a list");
                break;
            }
            rs = ia__calloc((size_t)cnt, sizeof *rs);
            if (!rs) {
                st = ia__error(IA_ERR_NOMEM, "CAR header with %llu roots", (unsigned long long)cnt);
                break;
            }
            for (uint64_t j = 0; j < cnt && !st; j++) {
                uint64_t tag = 0;
                if ((st = head(&r, &mj, &tag)))
                    break;
                if (mj != 6 || tag != 42)
                    st = ia__error(IA_ERR_FORMAT, "CAR header root %llu is not a CID",
                                   (unsigned long long)j);
                else
                    st = tag42(&r, &rs[nr++]);
            }
        } else {
            st = walk(&r, 1, NULL, NULL);
        }
    }
    if (!st && r.pos != n)
        st = ia__error(IA_ERR_FORMAT, "CAR header has %zu trailing bytes", n - r.pos);
    if (!st && !have_version)
        st = ia__error(IA_ERR_FORMAT, "CAR header has no version");
    if (st) {
        ia__free(rs);
        return st;
    }
    if (roots)
        *roots = rs;
    else
        ia__free(rs);
    if (n_roots)
        *n_roots = nr;
    return IA_OK;
}

static ia_status put_head(ia__buf *b, unsigned major, uint64_t v)
{
    uint8_t h[9];
    size_t k;
    if (v < 24) {
        h[0] = (uint8_t)(major << 5 | v);
        k = 1;
    } else {
        unsigned ai = v <= 0xff ? 24 : v <= 0xffff ? 25 : v <= 0xffffffffu ? 26 : 27;
        size_t bytes = (size_t)1 << (ai - 24);
        h[0] = (uint8_t)(major << 5 | ai);
        for (size_t i = 0; i < bytes; i++)
            h[1 + i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
        k = 1 + bytes;
    }
    return ia__buf_put(b, h, k);
}

ia_status ia__car_header_encode(ia__buf *b, const ia_cid *roots, size_t n_roots)
{
    /* dag-cbor map keys sort by length first: "roots" before "version". */
    ia_status st = put_head(b, 5, 2);
    if (!st)
        st = put_head(b, 3, 5);
    if (!st)
        st = ia__buf_put(b, "roots", 5);
    if (!st)
        st = put_head(b, 4, n_roots);
    for (size_t i = 0; i < n_roots && !st; i++) {
        uint8_t cb[IA_CID_MAX_BYTES + 1];
        cb[0] = 0;
        size_t cn = ia__cid_put(&roots[i], cb + 1);
        st = put_head(b, 6, 42);
        if (!st)
            st = put_head(b, 2, cn + 1);
        if (!st)
            st = ia__buf_put(b, cb, cn + 1);
    }
    if (!st)
        st = put_head(b, 3, 7);
    if (!st)
        st = ia__buf_put(b, "version", 7);
    if (!st)
        st = put_head(b, 0, 1);
    return st;
}
