/*
 * Multibase: self-describing text encodings of bytes (a prefix character
 * names the base). We speak the bases CIDs use in practice: base58btc
 * (CIDv0 and peer IDs), base32 (the CIDv1 default), base16 and base64url.
 */
#include <string.h>

#include "ipfs-impl.h"

static const char b58_alpha[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
static const char b32_lower[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char b32_upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";

/* Base58 as a big number: repeated division by 58 over the input bytes.
 * Quadratic, fine for identifiers. out is written without a prefix. */
static ia_status b58_encode(const uint8_t *d, size_t n, char *out, size_t cap)
{
    size_t zeros = 0;
    while (zeros < n && d[zeros] == 0)
        zeros++;
    /* log(256)/log(58) < 1.37 */
    size_t size = (n - zeros) * 138 / 100 + 1;
    uint8_t tmp[IA_CID_STR_MAX * 2];
    uint8_t *buf = tmp;
    if (size > sizeof tmp) {
        buf = ia__malloc(size);
        if (!buf)
            return ia__error(IA_ERR_NOMEM, "base58 encode of %zu bytes", n);
    }
    memset(buf, 0, size);
    size_t high = size;
    for (size_t i = zeros; i < n; i++) {
        unsigned carry = d[i];
        size_t j = size;
        while (j > 0 && (j > high || carry)) {
            j--;
            carry += 256u * buf[j];
            buf[j] = (uint8_t)(carry % 58);
            carry /= 58;
        }
        high = j;
    }
    size_t k = 0;
    while (k < size && buf[k] == 0)
        k++;
    size_t total = zeros + (size - k);
    ia_status st = IA_OK;
    if (total + 1 > cap) {
        st = ia__error(IA_ERR_INVALID, "base58 output needs %zu bytes, buffer has %zu",
                       total + 1, cap);
    } else {
        memset(out, '1', zeros);
        for (size_t i = 0; k + i < size; i++)
            out[zeros + i] = b58_alpha[buf[k + i]];
        out[total] = 0;
    }
    if (buf != tmp)
        ia__free(buf);
    return st;
}

static int b58_value(char c)
{
    const char *p = c ? strchr(b58_alpha, c) : NULL;
    return p ? (int)(p - b58_alpha) : -1;
}

static ia_status b58_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len)
{
    size_t zeros = 0;
    while (zeros < n && s[zeros] == '1')
        zeros++;
    if (zeros > cap)
        return ia__error(IA_ERR_FORMAT, "base58 text decodes to more than %zu bytes", cap);
    /* Accumulate big-endian into out[zeros..cap), growing from the right. */
    size_t room = cap - zeros, used = 0;
    uint8_t *num = out + zeros;
    for (size_t i = zeros; i < n; i++) {
        int v = b58_value(s[i]);
        if (v < 0)
            return ia__error(IA_ERR_FORMAT, "invalid base58 character '%c' at offset %zu",
                             s[i], i);
        unsigned carry = (unsigned)v;
        for (size_t j = 0; j < used; j++) {
            carry += 58u * num[room - 1 - j];
            num[room - 1 - j] = (uint8_t)carry;
            carry >>= 8;
        }
        while (carry) {
            if (used == room)
                return ia__error(IA_ERR_FORMAT, "base58 text decodes to more than %zu bytes",
                                 cap);
            num[room - 1 - used++] = (uint8_t)carry;
            carry >>= 8;
        }
    }
    memmove(num, num + room - used, used);
    memset(out, 0, zeros);
    *len = zeros + used;
    return IA_OK;
}

/* Generic RFC 4648 style encoder for 2^bits alphabets without padding. */
static ia_status rfc4648_encode(const char *alpha, unsigned bits, const uint8_t *d, size_t n,
                                char *out, size_t cap)
{
    size_t need = (n * 8 + bits - 1) / bits + 1;
    if (need > cap)
        return ia__error(IA_ERR_INVALID, "multibase output needs %zu bytes, buffer has %zu",
                         need, cap);
    uint32_t acc = 0;
    unsigned have = 0;
    size_t o = 0;
    const uint32_t mask = (1u << bits) - 1;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | d[i];
        have += 8;
        while (have >= bits) {
            have -= bits;
            out[o++] = alpha[(acc >> have) & mask];
        }
        acc &= (1u << have) - 1;
    }
    if (have)
        out[o++] = alpha[(acc << (bits - have)) & mask];
    out[o] = 0;
    return IA_OK;
}

static int alpha_value(const char *alpha, char c)
{
    const char *p = c ? strchr(alpha, c) : NULL;
    return p ? (int)(p - alpha) : -1;
}

static ia_status rfc4648_decode(const char *alpha, unsigned bits, const char *s, size_t n,
                                uint8_t *out, size_t cap, size_t *len)
{
    uint32_t acc = 0;
    unsigned have = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = alpha_value(alpha, s[i]);
        if (v < 0)
            return ia__error(IA_ERR_FORMAT, "invalid character '%c' at offset %zu", s[i], i);
        acc = (acc << bits) | (uint32_t)v;
        have += bits;
        if (have >= 8) {
            have -= 8;
            if (o == cap)
                return ia__error(IA_ERR_FORMAT, "text decodes to more than %zu bytes", cap);
            out[o++] = (uint8_t)(acc >> have);
            acc &= (1u << have) - 1;
        }
    }
    /* Leftover bits must be fewer than a byte's worth of a whole symbol:
     * base32 lengths 1, 3, 6 (mod 8) and base64 length 1 (mod 4) are
     * impossible encodings. */
    if (have >= bits)
        return ia__error(IA_ERR_FORMAT, "truncated text (%zu characters)", n);
    *len = o;
    return IA_OK;
}

static ia_status hex_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len)
{
    if (n % 2)
        return ia__error(IA_ERR_FORMAT, "odd number of hex digits (%zu)", n);
    if (n / 2 > cap)
        return ia__error(IA_ERR_FORMAT, "text decodes to more than %zu bytes", cap);
    for (size_t i = 0; i < n; i += 2) {
        int hi = alpha_value(hex_lower, s[i]), lo = alpha_value(hex_lower, s[i + 1]);
        if (hi < 0)
            hi = alpha_value(hex_upper, s[i]);
        if (lo < 0)
            lo = alpha_value(hex_upper, s[i + 1]);
        if (hi < 0 || lo < 0)
            return ia__error(IA_ERR_FORMAT, "invalid hex digit at offset %zu", hi < 0 ? i : i + 1);
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return IA_OK;
}

ia_status ia_multibase_encode(ia_multibase base, const uint8_t *data, size_t len, char *out,
                              size_t cap)
{
    ia__error_clear();
    IA_NEED(out);
    if (!data && len)
        return ia__error(IA_ERR_INVALID, "%s: data is NULL with len %zu", __func__, len);
    return ia__multibase_encode(base, data, len, out, cap);
}

ia_status ia__multibase_encode(ia_multibase base, const uint8_t *data, size_t len, char *out, size_t cap)
{
    if (cap < 2)
        return ia__error(IA_ERR_INVALID, "ia_multibase_encode: output buffer of %zu bytes is too small", cap);
    out[0] = (char)base;
    switch (base) {
    case IA_MULTIBASE_BASE58BTC: return b58_encode(data, len, out + 1, cap - 1);
    case IA_MULTIBASE_BASE32: return rfc4648_encode(b32_lower, 5, data, len, out + 1, cap - 1);
    case IA_MULTIBASE_BASE32_UPPER:
        return rfc4648_encode(b32_upper, 5, data, len, out + 1, cap - 1);
    case IA_MULTIBASE_BASE16: return rfc4648_encode(hex_lower, 4, data, len, out + 1, cap - 1);
    case IA_MULTIBASE_BASE16_UPPER:
        return rfc4648_encode(hex_upper, 4, data, len, out + 1, cap - 1);
    case IA_MULTIBASE_BASE64URL: return rfc4648_encode(b64url, 6, data, len, out + 1, cap - 1);
    case IA_MULTIBASE_DEFAULT: break;
    }
    out[0] = 0;
    return ia__error(IA_ERR_INVALID, "unknown multibase %d", (int)base);
}

ia_status ia__multibase_decode_n(const char *text, size_t n, uint8_t *out, size_t cap,
                                 size_t *len, ia_multibase *base)
{
    if (n < 1)
        return ia__error(IA_ERR_FORMAT, "empty multibase string");
    const char *s = text + 1;
    size_t m = n - 1;
    ia_status st;
    switch (text[0]) {
    case 'z': st = b58_decode(s, m, out, cap, len); break;
    case 'b': st = rfc4648_decode(b32_lower, 5, s, m, out, cap, len); break;
    case 'B': st = rfc4648_decode(b32_upper, 5, s, m, out, cap, len); break;
    case 'f':
    case 'F': st = hex_decode(s, m, out, cap, len); break;
    case 'u': st = rfc4648_decode(b64url, 6, s, m, out, cap, len); break;
    default:
        return ia__error(IA_ERR_UNSUPPORTED, "unsupported multibase prefix '%c'", text[0]);
    }
    if (st)
        return st;
    if (base)
        *base = (ia_multibase)text[0];
    return IA_OK;
}

ia_status ia_multibase_decode(const char *text, uint8_t *out, size_t cap, size_t *len,
                              ia_multibase *base)
{
    ia__error_clear();
    IA_NEED(text);
    IA_NEED(out);
    IA_NEED(len);
    ia_status st = ia__multibase_decode_n(text, strlen(text), out, cap, len, base);
    if (st)
        return ia__error_wrap(st, "multibase \"%.80s\"", text);
    return IA_OK;
}
