/*
 * BPE encoding and decoding (the layout is in bpe-impl.h, loading in
 * bpe-load.c, the text steps in bpe-pre.c).
 *
 * The merge loop is the one `tokenizers` (models/bpe/word.rs) and
 * llama.cpp run: the symbols of a piece form a linked list, every pair of
 * neighbours that can merge waits in a binary heap ordered by (rank,
 * position), a popped pair that has gone stale (one side merged
 * elsewhere since) is dropped, and a merge pushes the new pairs on either
 * side. So a piece of n symbols costs O(n log n), long words included.
 * With merges by score (SentencePiece BPE in GGUF) the rank of a pair is
 * the score order of the token its concatenation spells.
 *
 * Special tokens never come out of merges or whole-piece lookups: only
 * the added-token matcher, with parse_special, produces them.
 */
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/bpe-impl.h"

/* ---- UTF-8 ------------------------------------------------------------ */

enum { SEQ_BAD = 0, SEQ_OK = 1, SEQ_SHORT = -1 };

/* The UTF-8 sequence starting s[0..n), n > 0: SEQ_OK and its length;
 * SEQ_BAD and the length of its maximal invalid subpart (what one U+FFFD
 * replaces); SEQ_SHORT when all n bytes are a valid but unfinished start. */
static size_t utf8_seq(const unsigned char *s, size_t n, int *state)
{
    unsigned c = s[0], lo = 0x80, hi = 0xbf;
    size_t need;
    if (c < 0x80) {
        *state = SEQ_OK;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        need = 1;
    else if (c == 0xe0)
        need = 2, lo = 0xa0;
    else if (c == 0xed)
        need = 2, hi = 0x9f;
    else if (c >= 0xe1 && c <= 0xef)
        need = 2;
    else if (c == 0xf0)
        need = 3, lo = 0x90;
    else if (c == 0xf4)
        need = 3, hi = 0x8f;
    else if (c >= 0xf1 && c <= 0xf3)
        need = 3;
    else {
        *state = SEQ_BAD;
        return 1;
    }
    for (size_t k = 1; k <= need; k++) {
        if (k >= n) {
            *state = SEQ_SHORT;
            return n;
        }
        unsigned d = s[k];
        if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xbf)) {
            *state = SEQ_BAD;
            return k;
        }
    }
    *state = SEQ_OK;
    return need + 1;
}

static const char REPLACEMENT[] = "\xef\xbf\xbd";

/* s[0..n) as valid UTF-8 in *out (each maximal invalid subpart one
 * U+FFFD). Returns false when out of memory. Only called on invalid text. */
static bool utf8_clean(const char *s, size_t n, ia_textbuf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    bool ok = true;
    for (size_t i = 0; ok && i < n;) {
        int st;
        size_t k = utf8_seq(u + i, n - i, &st);
        ok = st == SEQ_OK ? ia__textbuf_put(out, s + i, k) : ia__textbuf_put(out, REPLACEMENT, 3);
        i += k;
    }
    return ok;
}

static bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        int st;
        i += utf8_seq(u + i, n - i, &st);
        if (st != SEQ_OK)
            return false;
    }
    return true;
}

/* The code point at s[i] (valid UTF-8) and the index after it. */
static int32_t utf8_at(const char *str, size_t i, size_t *next)
{
    const unsigned char *s = (const unsigned char *)str + i;
    if (s[0] < 0x80) {
        *next = i + 1;
        return s[0];
    }
    if (s[0] < 0xe0) {
        *next = i + 2;
        return (int32_t)(((s[0] & 0x1fu) << 6) | (s[1] & 0x3fu));
    }
    if (s[0] < 0xf0) {
        *next = i + 3;
        return (int32_t)(((s[0] & 0x0fu) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu));
    }
    *next = i + 4;
    return (int32_t)(((s[0] & 0x07u) << 18) | ((s[1] & 0x3fu) << 12) | ((s[2] & 0x3fu) << 6) |
                     (s[3] & 0x3fu));
}

/* The start of the character before s[i] (i > 0). */
static size_t utf8_back(const char *s, size_t i)
{
    do
        i--;
    while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80);
    return i;
}

/* Rust's char::is_whitespace (the White_Space property). */
static bool is_space(int32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

/* Letters, numbers and '_' (what single_word added tokens must not touch). */
static bool is_word(int32_t c)
{
    if (c == '_')
        return true;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return true;
    default:
        return false;
    }
}

/* ---- the merge loop --------------------------------------------------- */

typedef struct bpe_sym {
    int32_t id; /* -1: no token (yet) */
    int32_t prev, next;
    uint32_t start, len; /* bytes of the piece; len 0: merged away */
} bpe_sym;

typedef struct bpe_pair {
    uint32_t rank;
    int32_t left, right;
    uint32_t size; /* left.len + right.len when pushed (stale otherwise) */
    int32_t id;    /* the merged token */
} bpe_pair;

typedef struct bpe_enc {
    bpe_work w;
    bpe_sym *sym;
    size_t sym_cap;
    bpe_pair *heap;
    size_t heap_n, heap_cap;
    const char *s;  /* the piece being merged */
} bpe_enc;

static bool pair_less(const bpe_pair *a, const bpe_pair *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static bool heap_push(bpe_enc *e, bpe_pair p)
{
    bpe_pair *h = ia__grow(e->heap, e->heap_n, &e->heap_cap, sizeof *h, 64);
    if (!h)
        return false;
    e->heap = h;
    size_t i = e->heap_n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!pair_less(&p, &h[up]))
            break;
        h[i] = h[up];
        i = up;
    }
    h[i] = p;
    return true;
}

static bpe_pair heap_pop(bpe_enc *e)
{
    bpe_pair *h = e->heap, top = h[0], last = h[--e->heap_n];
    size_t n = e->heap_n, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && pair_less(&h[c + 1], &h[c]))
            c++;
        if (!pair_less(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (n)
        h[i] = last;
    return top;
}

static bool merge_find(const ia_bpe *b, int32_t l, int32_t r, uint32_t *rank, int32_t *id)
{
    if (!b->mcap || l < 0 || r < 0)
        return false;
    uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    for (size_t i = ia__bpe_merge_slot(key, b->mcap); b->mkeys[i] != UINT64_MAX;
         i = (i + 1) & (b->mcap - 1))
        if (b->mkeys[i] == key) {
            *rank = b->mrank[i];
            *id = b->mid[i];
            return true;
        }
    return false;
}

static bool try_pair(bpe_enc *e, int32_t l, int32_t r)
{
    if (l < 0 || r < 0)
        return true;
    const ia_bpe *b = e->w.b;
    const bpe_sym *L = &e->sym[l], *R = &e->sym[r];
    uint32_t rank;
    int32_t id;
    if (b->by_score && (L->id < 0 || R->id < 0)) {
        /* A character without a token may still start or end one (the
         * pair table holds only pairs of tokens). Symbols stay contiguous
         * in this mode: the concatenation is a slice of the piece. */
        id = ia__vocab_find(&b->vocab, e->s + L->start, (size_t)L->len + R->len);
        if (id < 0 || (b->flags[id] & BPE_SPECIAL))
            return true;
        rank = b->score_rank[id];
    } else if (!merge_find(b, L->id, R->id, &rank, &id)) {
        return true;
    }
    return heap_push(e, (bpe_pair){rank, l, r, L->len + R->len, id});
}

static bool push_ids(ia_i32vec *ids, const int32_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!ia__i32vec_push(ids, v[i]))
            return false;
    return true;
}

/* A symbol no token covers: its <0xNN> tokens, else the unk fallback,
 * else nothing. */
static bool push_unknown(const ia_bpe *b, const char *s, size_t n, ia_i32vec *ids)
{
    bool bytes = b->byte_fallback || b->by_score;
    for (size_t k = 0; bytes && k < n; k++)
        bytes = b->byte_id[(unsigned char)s[k]] >= 0;
    if (bytes) {
        for (size_t k = 0; k < n; k++)
            if (!ia__i32vec_push(ids, b->byte_id[(unsigned char)s[k]]))
                return false;
        return true;
    }
    return b->unk_fallback < 0 || ia__i32vec_push(ids, b->unk_fallback);
}

static ia_status nomem(void)
{
    return ia__error(IA_ERR_NOMEM, "out of memory");
}

/* BPE over one piece s[0..n), appending its ids. */
static ia_status encode_piece(bpe_enc *e, const char *s, size_t n, ia_i32vec *ids)
{
    const ia_bpe *b = e->w.b;
    if (!n)
        return IA_OK;
    if (b->ignore_merges) {
        int32_t id = ia__vocab_find(&b->vocab, s, n);
        if (id >= 0 && !(b->flags[id] & BPE_SPECIAL))
            return ia__i32vec_push(ids, id) ? IA_OK : nomem();
    }
    if (n > e->sym_cap) {
        bpe_sym *sym = ia__realloc(e->sym, n * sizeof *sym);
        if (!sym)
            return nomem();
        e->sym = sym;
        e->sym_cap = n;
    }
    bpe_sym *sym = e->sym;
    size_t ns = 0;
    bool prev_unk = false;
    for (size_t i = 0, j; i < n; i = j) {
        j = i + 1;
        while (j < n && ((unsigned char)s[j] & 0xc0) == 0x80)
            j++;
        /* Byte-level text is mostly characters standing for bytes: a table. */
        size_t nx;
        int byte = b->byte_level && j - i <= 2 ? ia__bpe_char_byte(utf8_at(s, i, &nx)) : -1;
        int32_t id = byte >= 0 ? b->byte_id[byte] : ia__vocab_find(&b->vocab, s + i, j - i);
        if (id >= 0 && (b->flags[id] & BPE_SPECIAL))
            id = -1;
        if (id < 0 && !b->by_score) {
            /* As `tokenizers` does before merging: the bytes, else unk. */
            bool bytes = b->byte_fallback && !b->byte_level;
            for (size_t k = i; bytes && k < j; k++)
                bytes = b->byte_id[(unsigned char)s[k]] >= 0;
            if (bytes) {
                for (size_t k = i; k < j; k++)
                    sym[ns++] = (bpe_sym){.id = b->byte_id[(unsigned char)s[k]],
                                          .start = (uint32_t)k, .len = 1};
                prev_unk = false;
            } else if (b->unk_fallback >= 0) {
                if (b->fuse_unk && prev_unk)
                    sym[ns - 1].len += (uint32_t)(j - i);
                else
                    sym[ns++] = (bpe_sym){.id = b->unk_fallback, .start = (uint32_t)i,
                                          .len = (uint32_t)(j - i)};
                prev_unk = true;
            }
            continue;
        }
        sym[ns++] = (bpe_sym){.id = id, .start = (uint32_t)i, .len = (uint32_t)(j - i)};
        prev_unk = false;
    }
    if (!ns)
        return IA_OK;
    for (size_t i = 0; i < ns; i++) {
        sym[i].prev = (int32_t)i - 1;
        sym[i].next = i + 1 < ns ? (int32_t)i + 1 : -1;
    }
    e->s = s;
    e->heap_n = 0;
    for (size_t i = 0; i + 1 < ns; i++)
        if (!try_pair(e, (int32_t)i, (int32_t)i + 1))
            return nomem();
    while (e->heap_n) {
        bpe_pair p = heap_pop(e);
        bpe_sym *L = &sym[p.left], *R = &sym[p.right];
        if (!L->len || !R->len || L->next != p.right || L->len + R->len != p.size)
            continue;
        L->len += R->len;
        L->id = p.id;
        L->next = R->next;
        if (R->next >= 0)
            sym[R->next].prev = p.left;
        R->len = 0;
        if (!try_pair(e, L->prev, p.left) || !try_pair(e, p.left, L->next))
            return nomem();
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) {
        bool ok = sym[i].id >= 0 ? ia__i32vec_push(ids, sym[i].id)
                                 : push_unknown(b, s + sym[i].start, sym[i].len, ids);
        if (!ok)
            return nomem();
    }
    return IA_OK;
}

static ia_status encode_segment(bpe_enc *e, const char *seg, size_t len, bool at_start,
                                ia_i32vec *ids)
{
    if (!len)
        return IA_OK;
    const char *text;
    const bpe_pieces *pcs;
    ia_status rc = ia__bpe_steps(&e->w, seg, len, at_start, &text, &pcs);
    for (size_t i = 0; !rc && i < pcs->n; i++)
        rc = encode_piece(e, text + pcs->v[i].off, pcs->v[i].len, ids);
    return rc;
}

/* Byte ranges [plain[2k], plain[2k+1]) where special tokens are text. */
typedef struct plain_spans {
    const size_t *v;
    size_t n;
} plain_spans;

static bool in_plain(const plain_spans *p, size_t start, size_t end)
{
    for (size_t k = 0; p && k < p->n; k++)
        if (start < p->v[2 * k + 1] && p->v[2 * k] < end)
            return true;
    return false;
}

/* The leftmost, longest added token in s[from..n) that may match; false
 * when none does. */
static bool find_added(const ia_bpe *b, const char *s, size_t n, size_t from, bool parse_special,
                       const plain_spans *plain, size_t *at, const bpe_added **tok)
{
    for (size_t i = from; i < n; i++) {
        unsigned c = (unsigned char)s[i];
        for (uint32_t k = b->added_at[c]; k < b->added_at[c + 1]; k++) {
            const bpe_added *a = &b->added[k];
            if ((a->special && !parse_special) || a->len > n - i || memcmp(s + i, a->text, a->len) ||
                (a->special && in_plain(plain, i, i + a->len)))
                continue;
            if (a->single_word) {
                size_t nx;
                if (i > 0 && is_word(utf8_at(s, utf8_back(s, i), &nx)))
                    continue;
                if (i + a->len < n && is_word(utf8_at(s, i + a->len, &nx)))
                    continue;
            }
            *at = i;
            *tok = a;
            return true;
        }
    }
    return false;
}

static ia_status encode(const ia_bpe *b, const char *text, size_t len, bool add_special, bool parse_special,
                        const plain_spans *plain, ia_i32vec *ids)
{
    if (!b || !ids || (!text && len))
        return ia__error(IA_ERR_INVALID, "ia__bpe_encode: NULL argument");
    if (len > INT32_MAX)
        return ia__error(IA_ERR_INVALID, "a text of %zu bytes is longer than the 2 GiB one encode takes",
                         len);
    bpe_enc e = {.w.b = b};
    ia_textbuf clean = {0};
    const char *s = text ? text : "";
    size_t n = len;
    ia_status rc = IA_OK;
    if (!utf8_valid(s, n)) {
        if (!utf8_clean(s, n, &clean)) {
            ia__free(clean.p);
            return nomem();
        }
        s = clean.p;
        n = clean.n;
    }
    if (b->n_ops && !(e.w.md = pcre2_match_data_create(b->max_groups ? b->max_groups : 1, b->gctx)))
        rc = nomem();
    if (!rc && add_special && !push_ids(ids, b->prefix, b->n_prefix))
        rc = nomem();
    size_t seg = 0, at;
    const bpe_added *a;
    while (!rc && b->n_added && find_added(b, s, n, seg, parse_special, plain, &at, &a)) {
        size_t start = at, end = at + a->len, nx;
        if (a->lstrip)
            while (start > seg && is_space(utf8_at(s, utf8_back(s, start), &nx)))
                start = utf8_back(s, start);
        if (a->rstrip)
            while (end < n && is_space(utf8_at(s, end, &nx)))
                end = nx;
        rc = encode_segment(&e, s + seg, start - seg, seg == 0, ids);
        if (!rc && !ia__i32vec_push(ids, a->id))
            rc = nomem();
        seg = end;
    }
    if (!rc)
        rc = encode_segment(&e, s + seg, n - seg, seg == 0, ids);
    if (!rc && add_special && !push_ids(ids, b->suffix, b->n_suffix))
        rc = nomem();
    pcre2_match_data_free(e.w.md);
    for (int i = 0; i < 2; i++) {
        ia__free(e.w.text[i].p);
        ia__free(e.w.pcs[i].v);
    }
    ia__free(e.w.segs.v);
    ia__free(e.sym);
    ia__free(e.heap);
    ia__free(clean.p);
    return rc;
}

ia_status ia__bpe_encode(const ia_bpe *b, const char *text, size_t len, bool add_special,
                         bool parse_special, ia_i32vec *ids)
{
    return encode(b, text, len, add_special, parse_special, NULL, ids);
}

ia_status ia__bpe_encode_chat(const ia_bpe *b, const char *text, size_t len, const size_t *plain,
                              size_t n_plain, ia_i32vec *ids)
{
    if (text && !utf8_valid(text, len))
        return ia__error(IA_ERR_INVALID, "a rendered chat prompt must be valid UTF-8");
    for (size_t k = 0; k < n_plain; k++)
        if (plain[2 * k] > plain[2 * k + 1] || plain[2 * k + 1] > len)
            return ia__error(IA_ERR_INVALID, "plain-text span %zu [%zu, %zu) is outside the %zu-byte text", k,
                             plain[2 * k], plain[2 * k + 1], len);
    const plain_spans p = {plain, n_plain};
    return encode(b, text, len, false, true, &p, ids);
}

/* ---- decoding --------------------------------------------------------- */

static bool valid_id(const ia_bpe *b, int32_t id)
{
    return id >= 0 && (size_t)id < b->vocab.n;
}

const char *ia__bpe_piece(const ia_bpe *b, int32_t id, size_t *len)
{
    if (!b || !valid_id(b, id)) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = b->piece_at[id + 1] - b->piece_at[id];
    return b->pieces + b->piece_at[id];
}

ia_status ia__bpe_decode(const ia_bpe *b, const int32_t *ids, size_t n, bool skip_special,
                         char *buf, size_t cap, size_t *len)
{
    if (!b || !len || (!ids && n) || (!buf && cap))
        return ia__error(IA_ERR_INVALID, "ia__bpe_decode: NULL argument");
    size_t total = 0;
    bool strip = b->strip_space;
    for (size_t i = 0; i < n; i++) {
        if (!valid_id(b, ids[i]))
            return ia__error(IA_ERR_INVALID, "token id %d (at %zu) is outside the vocabulary of %zu",
                             (int)ids[i], i, b->vocab.n);
        if (skip_special && (b->flags[ids[i]] & BPE_SPECIAL))
            continue;
        size_t pl;
        const char *p = ia__bpe_piece(b, ids[i], &pl);
        if (strip && pl) {
            if (p[0] == ' ')
                p++, pl--;
            strip = false;
        }
        if (total < cap)
            memcpy(buf + total, p, IA_MIN(pl, cap - total));
        total += pl;
    }
    if (total < cap)
        buf[total] = '\0';
    *len = total;
    return IA_OK;
}

struct ia_bpe_stream {
    const ia_bpe *b;
    bool skip_special;
    bool strip;    /* the next non-empty piece loses a leading ' ' */
    ia_textbuf held;  /* bytes of an unfinished character */
    ia_textbuf out;
};

ia_status ia__bpe_stream_new(const ia_bpe *b, bool skip_special, ia_bpe_stream **out)
{
    if (!b || !out)
        return ia__error(IA_ERR_INVALID, "ia__bpe_stream_new: NULL argument");
    ia_bpe_stream *s = ia__calloc(1, sizeof *s);
    if (!s)
        return nomem();
    *s = (ia_bpe_stream){.b = b, .skip_special = skip_special, .strip = b->strip_space};
    *out = s;
    return IA_OK;
}

ia_status ia__bpe_stream_push(ia_bpe_stream *s, int32_t id, const char **text, size_t *len)
{
    if (!s || !text || !len)
        return ia__error(IA_ERR_INVALID, "ia__bpe_stream_push: NULL argument");
    *text = "";
    *len = 0;
    const ia_bpe *b = s->b;
    if (!valid_id(b, id))
        return ia__error(IA_ERR_INVALID, "token id %d is outside the vocabulary of %zu", (int)id,
                         b->vocab.n);
    if (s->skip_special && (b->flags[id] & BPE_SPECIAL))
        return IA_OK;
    size_t pl;
    const char *p = ia__bpe_piece(b, id, &pl);
    if (!pl)
        return IA_OK;
    size_t held = s->held.n;
    bool was_strip = s->strip, strip = s->strip && p[0] == ' ';
    if (!ia__textbuf_put(&s->held, p + strip, pl - strip))
        return nomem();
    s->strip = false;
    s->out.n = 0;
    const unsigned char *u = (const unsigned char *)s->held.p;
    size_t i = 0, n = s->held.n;
    bool ok = true;
    while (ok && i < n) {
        int st;
        size_t k = utf8_seq(u + i, n - i, &st);
        if (st == SEQ_SHORT)
            break;
        ok = st == SEQ_OK ? ia__textbuf_put(&s->out, u + i, k)
                          : ia__textbuf_put(&s->out, REPLACEMENT, 3);
        i += k;
    }
    if (!ok) {
        s->held.n = held; /* as it was: the push did not happen */
        s->strip = was_strip;
        return nomem();
    }
    memmove(s->held.p, s->held.p + i, n - i);
    s->held.n = n - i;
    *text = s->out.p ? s->out.p : "";
    *len = s->out.n;
    return IA_OK;
}

ia_status ia__bpe_stream_flush(ia_bpe_stream *s, const char **text, size_t *len)
{
    if (!s || !text || !len)
        return ia__error(IA_ERR_INVALID, "ia__bpe_stream_flush: NULL argument");
    s->out.n = 0;
    if (s->held.n && !ia__textbuf_put(&s->out, REPLACEMENT, 3))
        return nomem();
    s->held.n = 0;
    s->strip = s->b->strip_space;
    *text = s->out.p ? s->out.p : "";
    *len = s->out.n;
    return IA_OK;
}

void ia__bpe_stream_free(ia_bpe_stream *s)
{
    if (!s)
        return;
    ia__free(s->held.p);
    ia__free(s->out.p);
    ia__free(s);
}

/* ---- accessors -------------------------------------------------------- */

const char *ia__bpe_token(const ia_bpe *b, int32_t id)
{
    return b && valid_id(b, id) ? b->vocab.tokens[id] : NULL;
}

int32_t ia__bpe_find(const ia_bpe *b, const char *tok, size_t len)
{
    return b && tok ? ia__vocab_find(&b->vocab, tok, len) : -1;
}

size_t ia__bpe_n_vocab(const ia_bpe *b) { return b ? b->vocab.n : 0; }
int32_t ia__bpe_bos(const ia_bpe *b) { return b ? b->bos : -1; }
int32_t ia__bpe_eos(const ia_bpe *b) { return b ? b->eos : -1; }
int32_t ia__bpe_eot(const ia_bpe *b) { return b ? b->eot : -1; }
int32_t ia__bpe_pad(const ia_bpe *b) { return b ? b->pad : -1; }
const char *ia__bpe_describe(const ia_bpe *b) { return b ? b->describe : ""; }

bool ia__bpe_adds_bos(const ia_bpe *b)
{
    return b && b->bos >= 0 && b->n_prefix && b->prefix[0] == b->bos;
}

bool ia__bpe_adds_eos(const ia_bpe *b)
{
    return b && b->eos >= 0 && b->n_suffix && b->suffix[b->n_suffix - 1] == b->eos;
}

bool ia__bpe_is_eog(const ia_bpe *b, int32_t id)
{
    if (!b || id < 0)
        return false;
    for (size_t i = 0; i < b->n_eog; i++)
        if (b->eog[i] == id)
            return true;
    return false;
}

bool ia__bpe_is_special(const ia_bpe *b, int32_t id)
{
    return b && valid_id(b, id) && (b->flags[id] & BPE_SPECIAL);
}

void ia__bpe_free(ia_bpe *b)
{
    if (!b)
        return;
    ia__vocab_free(&b->vocab);
    ia__free(b->flags);
    ia__free(b->mkeys);
    ia__free(b->mrank);
    ia__free(b->mid);
    ia__free(b->score_rank);
    ia__bpe_ops_free(b);
    pcre2_general_context_free(b->gctx);
    ia__free(b->added);
    ia__free(b->pieces);
    ia__free(b->piece_at);
    ia__free(b->prefix);
    ia__free(b->suffix);
    ia__free(b);
}
