/*
 * Unsigned varints (multiformats and protobuf flavours) and the growable
 * byte buffer the encoders write into.
 */
#include <string.h>

#include "ipfs-impl.h"

size_t ia__varint_put(uint8_t *buf, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        buf[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    buf[n++] = (uint8_t)v;
    return n;
}

size_t ia__varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* The multiformats spec caps varints at 9 bytes (63 bits) and requires
 * the shortest encoding, so every value has exactly one form. */
size_t ia__uvarint_get(const uint8_t *b, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < n && i < 9; i++) {
        x |= (uint64_t)(b[i] & 0x7f) << (7 * i);
        if (!(b[i] & 0x80)) {
            if (b[i] == 0 && i > 0)
                return 0; /* not minimal */
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

size_t ia__pb_varint_get(const uint8_t *b, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < n && i < 10; i++) {
        if (i == 9 && b[i] > 1)
            return 0; /* overflows 64 bits */
        x |= (uint64_t)(b[i] & 0x7f) << (7 * i);
        if (!(b[i] & 0x80)) {
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

ia_status ia__buf_reserve(ia__buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return IA_OK;
    size_t need = b->len + extra;
    if (need < b->len)
        return ia__error(IA_ERR_NOMEM, "buffer size overflow");
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap * 2 > cap ? cap * 2 : need;
    uint8_t *p = ia__realloc(b->p, cap);
    if (!p)
        return ia__error(IA_ERR_NOMEM, "out of memory growing a buffer to %zu bytes", cap);
    b->p = p;
    b->cap = cap;
    return IA_OK;
}

ia_status ia__buf_put(ia__buf *b, const void *data, size_t len)
{
    ia_status st = ia__buf_reserve(b, len);
    if (st)
        return st;
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    return IA_OK;
}

ia_status ia__buf_varint(ia__buf *b, uint64_t v)
{
    ia_status st = ia__buf_reserve(b, IA_VARINT_MAX);
    if (st)
        return st;
    b->len += ia__varint_put(b->p + b->len, v);
    return IA_OK;
}

ia_status ia__buf_pb_varint(ia__buf *b, unsigned field, uint64_t v)
{
    ia_status st = ia__buf_varint(b, (uint64_t)field << 3 | 0);
    return st ? st : ia__buf_varint(b, v);
}

ia_status ia__buf_pb_bytes(ia__buf *b, unsigned field, const void *data, size_t len)
{
    ia_status st = ia__buf_varint(b, (uint64_t)field << 3 | 2);
    if (!st)
        st = ia__buf_varint(b, len);
    return st ? st : ia__buf_put(b, data, len);
}

void ia__buf_free(ia__buf *b)
{
    ia__free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
