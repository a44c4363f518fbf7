/*
 * The BERT text pipeline, step for step as Hugging Face `tokenizers` does
 * it (normalizers/bert.rs, pre_tokenizers/bert.rs, models/wordpiece):
 *
 *   BertNormalizer: drop NUL, U+FFFD and "other" characters (Cc, Cf, Co,
 *   Cs, except \t \n \r; unassigned ones stay), turn whitespace into ' ', put spaces around
 *   CJK ideographs, strip accents (NFD, then drop Mn), lowercase.
 *   BertPreTokenizer: split on whitespace, isolate punctuation (ASCII
 *   punctuation and Unicode P*).
 *   WordPiece: greedy longest match, "##" on continuations, a word that
 *   cannot be covered (or is over 100 characters) becomes [UNK].
 *
 * Unicode properties come from utf8proc. Character classes follow Rust's
 * definitions (char::is_whitespace is the White_Space property).
 */
#include <stdint.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tokenizer-impl.h"

bool ia__textbuf_put(ia_textbuf *b, const void *p, size_t n)
{
    if (b->cap - b->n < n + 1) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->n < n + 1) {
            if (cap > SIZE_MAX / 2)
                return false;
            cap *= 2;
        }
        char *q = ia__realloc(b->p, cap);
        if (!q)
            return false;
        b->p = q;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
    return true;
}

/* Code points that Hugging Face `tokenizers` leaves as they are when it
 * normalizes (its Unicode tables, 12.0, predate them: no decomposition,
 * combining class 0) while utf8proc's (15.0) decompose, compose or
 * reorder them. Found by normalizing every code point c, and "a" c U+0301,
 * in NFC, NFD, NFKC and NFKD with both (tokenizers 0.22, utf8proc 2.8). */
static const struct {
    int32_t lo, hi;
} newer_than_hf[] = {
    {0x07FD, 0x07FD},
    {0x0899, 0x089B},
    {0x08CF, 0x08D3},
    {0x0C3C, 0x0C3C},
    {0x0D3B, 0x0D3C},
    {0x0EBA, 0x0EBA},
    {0x1715, 0x1715},
    {0x1ABF, 0x1AC0},
    {0x1AC3, 0x1AC4},
    {0x1ACA, 0x1ACA},
    {0x1DF6, 0x1DFA},
    {0x32FF, 0x32FF},
    {0xA7F2, 0xA7F4},
    {0xA82C, 0xA82C},
    {0xAB69, 0xAB69},
    {0x10781, 0x10785},
    {0x10787, 0x107B0},
    {0x107B2, 0x107BA},
    {0x10EFD, 0x10EFF},
    {0x10F46, 0x10F47},
    {0x10F4B, 0x10F4B},
    {0x10F4D, 0x10F50},
    {0x10F83, 0x10F83},
    {0x10F85, 0x10F85},
    {0x11070, 0x11070},
    {0x1133B, 0x1133B},
    {0x11839, 0x1183A},
    {0x11938, 0x11938},
    {0x1193D, 0x1193E},
    {0x11943, 0x11943},
    {0x119E0, 0x119E0},
    {0x11A34, 0x11A34},
    {0x11A47, 0x11A47},
    {0x11A99, 0x11A99},
    {0x11D42, 0x11D42},
    {0x11D44, 0x11D45},
    {0x11D97, 0x11D97},
    {0x11F41, 0x11F42},
    {0x16FF0, 0x16FF1},
    {0x1E030, 0x1E06D},
    {0x1E4EC, 0x1E4EE},
    {0x1F16C, 0x1F16C},
    {0x1FBF0, 0x1FBF9},
};

bool ia__unicode_newer_than_hf(int32_t c)
{
    if (c < newer_than_hf[0].lo) /* most text */
        return false;
    size_t lo = 0, hi = sizeof newer_than_hf / sizeof newer_than_hf[0];
    while (lo < hi) {
        const size_t mid = (lo + hi) / 2;
        if (c < newer_than_hf[mid].lo)
            hi = mid;
        else if (c > newer_than_hf[mid].hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

/* The UTF-8 sequence at s (n bytes left): its code point when it is one
 * of those code points, else -1 (also for what is not UTF-8, left to
 * utf8proc, which refuses it); *len: its bytes (1 if not UTF-8). */
static int32_t newer_at(const unsigned char *s, size_t n, size_t *len)
{
    if (*s < 0x80) { /* ASCII: below the table */
        *len = 1;
        return -1;
    }
    utf8proc_int32_t c;
    const utf8proc_ssize_t k = utf8proc_iterate(s, (utf8proc_ssize_t)n, &c);
    *len = k > 0 ? (size_t)k : 1;
    return k > 0 && ia__unicode_newer_than_hf(c) ? c : -1;
}

static ia_status normalize_run(const char *s, size_t n, int options, char **out, size_t *len);

/* As tokenizers does it: the code points newer than its tables are copied
 * as they are, each acting as a starter that decomposes and composes with
 * nothing, so the text between them is normalized on its own. */
ia_status ia__utf8_normalize(const char *s, size_t n, int options, char **out, size_t *len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, step = 1;
    while (i < n && newer_at(u + i, n - i, &step) < 0)
        i += step;
    if (i == n)
        return normalize_run(s, n, options, out, len);
    ia_textbuf b = {0};
    size_t start = 0;
    ia_status rc = IA_OK;
    for (;;) { /* [start, i) to normalize, then the code point at i (step bytes) unless i == n */
        char *part = NULL;
        size_t plen = 0;
        rc = i > start ? normalize_run(s + start, i - start, options, &part, &plen) : IA_OK;
        if (!rc && (!ia__textbuf_put(&b, part, plen) || (i < n && !ia__textbuf_put(&b, s + i, step))))
            rc = ia__error(IA_ERR_NOMEM, "out of memory");
        ia__free(part);
        if (rc || i == n)
            break;
        start = i += step;
        while (i < n && newer_at(u + i, n - i, &step) < 0)
            i += step;
    }
    if (rc) {
        ia__free(b.p);
        *out = NULL;
        *len = 0;
        return rc;
    }
    *out = b.p ? b.p : ia__calloc(1, 1);
    *len = b.n;
    return *out ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory");
}

static ia_status normalize_run(const char *s, size_t n, int options, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    /* utf8proc into our own memory: decompose (growing the buffer once if
     * the text expands), compose, re-encode in place. */
    size_t cap = n + 4;
    utf8proc_int32_t *cps = NULL;
    utf8proc_ssize_t k = 0;
    while (!cps) {
        if (!(cps = ia__malloc(cap * sizeof *cps)))
            return ia__error(IA_ERR_NOMEM, "out of memory");
        k = n ? utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, cps, (utf8proc_ssize_t)cap,
                                   options)
              : 0;
        if (k < 0) {
            ia__free(cps);
            return ia__error(IA_ERR_INVALID, "unicode normalization failed: %s", utf8proc_errmsg(k));
        }
        if ((size_t)k > cap) {
            cap = (size_t)k;
            ia__free(cps);
            cps = NULL;
        }
    }
    k = utf8proc_normalize_utf32(cps, k, options);
    if (k >= 0)
        k = utf8proc_reencode(cps, k, options);
    if (k < 0) {
        ia__free(cps);
        return ia__error(IA_ERR_INVALID, "unicode normalization failed: %s", utf8proc_errmsg(k));
    }
    *out = (char *)cps; /* reencode wrote UTF-8 bytes over the code points */
    *len = (size_t)k;
    return IA_OK;
}

long ia__utf8_decode(const char *str, size_t len, ia_i32vec *out)
{
    const unsigned char *s = (const unsigned char *)str;
    long bad = 0;
    size_t i = 0;
    while (i < len) {
        unsigned b = s[i];
        int32_t cp;
        if (b < 0x80) {
            cp = (int32_t)b;
            i++;
        } else {
            int need;
            unsigned lo = 0x80, hi = 0xbf;
            if (b >= 0xc2 && b <= 0xdf) need = 1, cp = (int32_t)(b & 0x1f);
            else if (b == 0xe0) need = 2, lo = 0xa0, cp = (int32_t)(b & 0x0f);
            else if (b == 0xed) need = 2, hi = 0x9f, cp = (int32_t)(b & 0x0f);
            else if (b >= 0xe1 && b <= 0xef) need = 2, cp = (int32_t)(b & 0x0f);
            else if (b == 0xf0) need = 3, lo = 0x90, cp = (int32_t)(b & 0x07);
            else if (b == 0xf4) need = 3, hi = 0x8f, cp = (int32_t)(b & 0x07);
            else if (b >= 0xf1 && b <= 0xf3) need = 3, cp = (int32_t)(b & 0x07);
            else need = 0, cp = -1;
            size_t k = 1;
            for (; cp >= 0 && k <= (size_t)need; k++) {
                unsigned c = i + k < len ? s[i + k] : 0;
                if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xbf))
                    cp = -1; /* the valid prefix s[i..i+k) is one bad sequence */
                else
                    cp = (cp << 6) | (int32_t)(c & 0x3f);
            }
            i += cp >= 0 ? k : k > 1 ? k - 1 : 1;
            if (cp < 0) {
                cp = 0xfffd;
                bad++;
            }
        }
        if (!ia__i32vec_push(out, cp))
            return -1;
    }
    return bad;
}

/* Rust's char::is_whitespace: the White_Space property. */
static bool is_white_space(int32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

static bool is_other(int32_t c)
{
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CS: /* not Cn: unassigned code points are kept */
        return true;
    default:
        return false;
    }
}

static bool is_punctuation(int32_t c)
{
    if (c < 0x80)
        return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) ||
               (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return true;
    default:
        return false;
    }
}

static bool is_chinese_char(int32_t c)
{
    return (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) ||
           (c >= 0x20000 && c <= 0x2a6df) || (c >= 0x2a700 && c <= 0x2b73f) ||
           (c >= 0x2b740 && c <= 0x2b81f) || (c >= 0x2b920 && c <= 0x2ceaf) ||
           (c >= 0xf900 && c <= 0xfaff) || (c >= 0x2f800 && c <= 0x2fa1f);
}

/* c's canonical combining class as tokenizers knows it (0 for the code
 * points newer than its tables). */
static int hf_combining_class(int32_t c)
{
    return ia__unicode_newer_than_hf(c) ? 0 : utf8proc_get_property(c)->combining_class;
}

/* Canonical decomposition of c appended to out, marks in canonical order
 * (stable sort by combining class within each run of marks); the code
 * points newer than tokenizers' tables as they are. */
static bool push_nfd(ia_i32vec *out, int32_t c)
{
    utf8proc_int32_t buf[32];
    int last = 0;
    utf8proc_ssize_t n =
        ia__unicode_newer_than_hf(c) ? -1 : utf8proc_decompose_char(c, buf, 32, UTF8PROC_DECOMPOSE, &last);
    if (n < 0 || n > 32) {
        buf[0] = c;
        n = 1;
    }
    for (utf8proc_ssize_t i = 0; i < n; i++) {
        if (!ia__i32vec_push(out, buf[i]))
            return false;
        int cc = hf_combining_class(buf[i]);
        for (size_t j = out->n - 1; cc && j > 0; j--) {
            int prev = hf_combining_class(out->v[j - 1]);
            if (prev <= cc)
                break;
            int32_t t = out->v[j - 1];
            out->v[j - 1] = out->v[j];
            out->v[j] = t;
        }
    }
    return true;
}

static ia_status normalize(const ia_bert_text *bt, const int32_t *cps, size_t n, ia_i32vec *out)
{
    ia_i32vec a = {0};
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        int32_t c = cps[i];
        if (bt->clean_text) {
            if (c == 0 || c == 0xfffd || (c != '\t' && c != '\n' && c != '\r' && is_other(c)))
                continue;
            if (is_white_space(c))
                c = ' ';
        }
        if (bt->handle_chinese_chars && is_chinese_char(c))
            ok = ia__i32vec_push(&a, ' ') && ia__i32vec_push(&a, c) && ia__i32vec_push(&a, ' ');
        else
            ok = ia__i32vec_push(&a, c);
    }
    for (size_t i = 0; i < a.n && ok; i++) {
        int32_t c = a.v[i];
        if (bt->strip_accents) {
            size_t from = out->n;
            if (!(ok = push_nfd(out, c)))
                break;
            size_t to = from; /* drop nonspacing marks */
            for (size_t j = from; j < out->n; j++)
                if (utf8proc_category(out->v[j]) != UTF8PROC_CATEGORY_MN)
                    out->v[to++] = out->v[j];
            out->n = to;
        } else {
            ok = ia__i32vec_push(out, c);
        }
    }
    if (ok && bt->lowercase) {
        size_t n0 = out->n;
        for (size_t i = 0; i < n0 && ok; i++) {
            if (out->v[i] == 0x130) /* İ: the one full lowercase mapping that grows */
                ok = ia__i32vec_push(out, 0); /* placeholder, fixed below */
            else
                out->v[i] = utf8proc_tolower(out->v[i]);
        }
        if (ok && out->n > n0) { /* expand each İ into i + U+0307, back to front */
            size_t w = out->n;
            for (size_t r = n0; r-- > 0;) {
                if (out->v[r] == 0x130) {
                    out->v[--w] = 0x307;
                    out->v[--w] = 'i';
                } else {
                    out->v[--w] = out->v[r];
                }
            }
        }
    }
    ia__i32vec_free(&a);
    return ok ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory normalizing text");
}

/* Append the UTF-8 of c to buf (4 bytes of room); returns the length. */
static size_t utf8_put(char *buf, int32_t c)
{
    return (size_t)utf8proc_encode_char(c, (utf8proc_uint8_t *)buf);
}

/* WordPiece one word (code points w[0..n)). */
static ia_status wordpiece(const ia_bert_text *bt, const ia_vocab *v, const int32_t *w, size_t n,
                           ia_i32vec *ids)
{
    if (n > bt->max_input_chars_per_word)
        return ia__i32vec_push(ids, bt->unk_id) ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory");
    /* bytes: the word in UTF-8 behind room for the prefix; at[i]: offset of char i */
    size_t plen = strlen(bt->prefix);
    char stackbuf[512];
    size_t at_stack[129];
    size_t need = plen + 4 * n + 1;
    char *bytes = need <= sizeof stackbuf ? stackbuf : ia__malloc(need);
    size_t *at = n + 1 <= IA_ARRAY_LEN(at_stack) ? at_stack : ia__malloc((n + 1) * sizeof *at);
    ia_status rc = bytes && at ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory");
    size_t first = ids->n;
    if (!rc) {
        char *word = bytes + plen;
        at[0] = 0;
        for (size_t i = 0; i < n; i++)
            at[i + 1] = at[i] + utf8_put(word + at[i], w[i]);
        for (size_t start = 0; start < n && !rc;) {
            int32_t id = -1;
            size_t end = n;
            for (; end > start; end--) {
                char *piece = word + at[start];
                size_t len = at[end] - at[start];
                if (start > 0) { /* "##" + piece, written just before it */
                    piece -= plen;
                    char saved[16];
                    memcpy(saved, piece, plen);
                    memcpy(piece, bt->prefix, plen);
                    id = ia__vocab_find(v, piece, len + plen);
                    memcpy(piece, saved, plen);
                } else {
                    id = ia__vocab_find(v, piece, len);
                }
                if (id >= 0)
                    break;
            }
            if (id < 0) { /* the whole word is unknown */
                ids->n = first;
                if (!ia__i32vec_push(ids, bt->unk_id))
                    rc = ia__error(IA_ERR_NOMEM, "out of memory");
                break;
            }
            if (!ia__i32vec_push(ids, id))
                rc = ia__error(IA_ERR_NOMEM, "out of memory");
            start = end;
        }
    }
    if (bytes != stackbuf)
        ia__free(bytes);
    if (at != at_stack)
        ia__free(at);
    return rc;
}

ia_status ia__bert_encode(const ia_bert_text *bt, const ia_vocab *v, const int32_t *cps,
                          size_t n, ia_i32vec *ids)
{
    ia_i32vec norm = {0};
    ia_status rc = normalize(bt, cps, n, &norm);
    size_t start = 0;
    for (size_t i = 0; i <= norm.n && !rc; i++) {
        int32_t c = i < norm.n ? norm.v[i] : ' ';
        bool space = is_white_space(c), punct = !space && is_punctuation(c);
        if (!space && !punct)
            continue;
        if (i > start)
            rc = wordpiece(bt, v, norm.v + start, i - start, ids);
        if (!rc && punct)
            rc = wordpiece(bt, v, norm.v + i, 1, ids);
        start = i + 1;
    }
    ia__i32vec_free(&norm);
    return rc;
}
