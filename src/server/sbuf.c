/*
 * A growable string buffer for building response bodies, with the writers
 * the API needs: JSON strings, float arrays (as JSON numbers or base64 of
 * little-endian float32) and a UTF-8 validator for request bodies.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "server/server-impl.h"

static bool reserve(sbuf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = ia__realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void ia__sbuf_put(sbuf *b, const void *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void ia__sbuf_puts(sbuf *b, const char *s) { ia__sbuf_put(b, s, strlen(s)); }

void ia__sbuf_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s[0..n), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0], min;
    size_t k;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        k = 1, min = 0x80, c &= 0x1f;
    else if ((c & 0xf0) == 0xe0)
        k = 2, min = 0x800, c &= 0x0f;
    else if ((c & 0xf8) == 0xf0)
        k = 3, min = 0x10000, c &= 0x07;
    else
        return 0;
    if (n <= k)
        return 0;
    for (size_t j = 1; j <= k; j++) {
        if ((s[j] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[j] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    return k + 1;
}

/* Invalid UTF-8 (a name cut in the middle of a character, a path) comes
 * out as U+FFFD, so every body we write is valid JSON text. */
void ia__sbuf_json_str(sbuf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    if (!reserve(b, n + 2))
        return;
    ia__sbuf_put(b, "\"", 1);
    size_t run = 0, i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t k = utf8_seq(s + i, n - i);
            if (k) {
                i += k;
                continue;
            }
            ia__sbuf_put(b, s + run, i - run);
            ia__sbuf_put(b, "\xef\xbf\xbd", 3);
            run = ++i;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        ia__sbuf_put(b, s + run, i - run);
        run = ++i;
        char esc[6] = {'\\', 0};
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            ia__sbuf_put(b, esc, 6);
            continue;
        }
        ia__sbuf_put(b, esc, 2);
    }
    ia__sbuf_put(b, s + run, n - run);
    ia__sbuf_put(b, "\"", 1);
}

void ia__sbuf_json_floats(sbuf *b, const float *v, size_t n)
{
    if (!reserve(b, n * 16 + 2))
        return;
    b->p[b->len++] = '[';
    for (size_t i = 0; i < n; i++) {
        if (!reserve(b, 18))
            return;
        if (i)
            b->p[b->len++] = ',';
        int w = snprintf(b->p + b->len, 17, "%.9g", (double)v[i]);
        b->len += (size_t)(w > 16 ? 16 : w);
    }
    b->p[b->len++] = ']';
    b->p[b->len] = '\0';
}

void ia__sbuf_base64_floats(sbuf *b, const float *v, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t nbytes = n * 4;
    if (!reserve(b, (nbytes + 2) / 3 * 4 + 2))
        return;
    unsigned char *bytes = ia__malloc(nbytes ? nbytes : 1);
    if (!bytes) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) { /* little-endian on every host */
        uint32_t u;
        memcpy(&u, &v[i], 4);
        bytes[4 * i] = (unsigned char)u;
        bytes[4 * i + 1] = (unsigned char)(u >> 8);
        bytes[4 * i + 2] = (unsigned char)(u >> 16);
        bytes[4 * i + 3] = (unsigned char)(u >> 24);
    }
    char *o = b->p + b->len;
    *o++ = '"';
    size_t i = 0;
    for (; i + 3 <= nbytes; i += 3) {
        uint32_t t = (uint32_t)bytes[i] << 16 | (uint32_t)bytes[i + 1] << 8 | bytes[i + 2];
        *o++ = tab[t >> 18];
        *o++ = tab[(t >> 12) & 63];
        *o++ = tab[(t >> 6) & 63];
        *o++ = tab[t & 63];
    }
    if (i < nbytes) {
        uint32_t t = (uint32_t)bytes[i] << 16 | (i + 1 < nbytes ? (uint32_t)bytes[i + 1] << 8 : 0);
        *o++ = tab[t >> 18];
        *o++ = tab[(t >> 12) & 63];
        *o++ = i + 1 < nbytes ? tab[(t >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o++ = '"';
    *o = '\0';
    b->len = (size_t)(o - b->p);
    ia__free(bytes);
}

char *ia__sbuf_take(sbuf *b, size_t *len)
{
    if (!b->oom && !b->p)
        reserve(b, 0);
    if (b->oom) {
        ia__sbuf_free(b);
        return NULL;
    }
    char *p = b->p;
    if (len)
        *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void ia__sbuf_free(sbuf *b)
{
    ia__free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

bool ia__utf8_valid(const char *str, size_t n, size_t *bad)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        size_t k = s[i] < 0x80 ? 1 : utf8_seq(s + i, n - i);
        if (!k) {
            if (bad)
                *bad = i;
            return false;
        }
        i += k;
    }
    return true;
}
