/*
 * The Unigram (SentencePiece) model of tokenizer.json files, with the
 * normalizers, pre-tokenizers and decoder those files use (unigram.h).
 * Every step follows Hugging Face `tokenizers` (models/unigram/model.rs,
 * normalizers/precompiled.rs with the spm_precompiled crate,
 * pre_tokenizers/metaspace.rs, tokenizer/added_vocabulary.rs), which is
 * also what the tests compare against (tests/tokenizer/unigram_oracle.py):
 *
 *   piece of raw text (between raw added tokens, valid UTF-8)
 *     -> normalizers in order (Precompiled, Strip, Replace ...)
 *     -> added tokens with `normalized: true` cut out of the result
 *     -> pre-tokenizers (Metaspace: " " -> "▁", a prefix "▁", split
 *        before each "▁")
 *     -> Viterbi over each piece: the path of highest total score, ties
 *        to the first found; a character no piece covers alone is unk
 *        (score: the lowest score - 10), consecutive unks fuse into one
 *        piece that is looked up again (byte_fallback: its <0xNN> tokens).
 *
 * Pieces are found with a byte trie kept as a hash of (node, byte) ->
 * child, which also maps piece strings to ids.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/unigram.h"

#define UNK_PENALTY 10.0 /* tokenizers' K_UNK_PENALTY */

typedef enum norm_kind { N_PRECOMPILED, N_STRIP, N_REPLACE, N_LOWERCASE, N_UNICODE, N_PREPEND } norm_kind;

typedef struct norm_op {
    norm_kind kind;
    bool left, right;   /* STRIP */
    pcre2_code *re;     /* REPLACE */
    char *str;          /* REPLACE: the content; PREPEND: the prefix */
    size_t len;
    int uopts;          /* UNICODE: utf8proc options */
    uint32_t *units;    /* PRECOMPILED: the double-array trie */
    size_t n_units;
    char *normalized;   /* PRECOMPILED: NUL-separated replacement strings */
    size_t n_normalized;
} norm_op;

enum { SCHEME_ALWAYS, SCHEME_FIRST, SCHEME_NEVER };

typedef struct pre_op {
    bool metaspace;     /* else WhitespaceSplit */
    char repl[8];       /* the replacement character's UTF-8 */
    size_t repl_len;
    int scheme;
    bool split;
} pre_op;

typedef struct norm_token {
    char *text; /* the content after the normalizer */
    size_t len;
    int32_t id;
    bool lstrip, rstrip, single_word, special;
} norm_token;

struct ia_unigram {
    size_t n;          /* vocabulary size */
    char *arena;       /* the pieces, NUL-terminated, one after another */
    size_t *at;        /* (n + 1) offsets into arena */
    double *score;     /* (n) */
    double min_score;
    int32_t unk_id;    /* -1: none */
    bool byte_fallback;
    int32_t byte_id[256]; /* <0xNN>; -1: absent */

    /* the trie: (node << 8 | byte) -> child node, open addressing */
    uint64_t *tkeys;   /* UINT64_MAX: empty */
    int32_t *tchild;
    size_t tcap;
    int32_t *tid;      /* (n_nodes) the piece ending there, -1: none */
    size_t n_nodes, nodes_cap;

    norm_op *norms;
    size_t n_norms;
    pre_op *pres;
    size_t n_pres;
    norm_token *ntoks;
    size_t n_ntoks;
    pcre2_general_context *gctx;

    bool dec_metaspace, dec_none; /* else unsupported (dec_name) */
    pre_op dec;
    char dec_name[48];
};

/* small helpers ---------------------------------------------------------- */

static ia_status nomem(void) { return ia__error(IA_ERR_NOMEM, "out of memory"); }

/* The byte length of the (valid) UTF-8 character at s[i]. */
static size_t char_len(const char *s, size_t n, size_t i)
{
    const unsigned char c = (unsigned char)s[i];
    size_t l = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    return i + l <= n ? l : n - i;
}

static int32_t char_at(const char *s, size_t n, size_t i, size_t *l)
{
    utf8proc_int32_t c = -1;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
    *l = k > 0 ? (size_t)k : 1;
    return k > 0 ? c : -1;
}

static bool put_char(ia_textbuf *b, int32_t c)
{
    utf8proc_uint8_t u[4];
    return ia__textbuf_put(b, u, (size_t)utf8proc_encode_char(c, u));
}

static bool valid_utf8(const char *s, size_t n)
{
    size_t l;
    for (size_t i = 0; i < n; i += l)
        if (char_at(s, n, i, &l) < 0)
            return false;
    return true;
}

static bool is_ws(int32_t c)
{
    return (c >= 9 && c <= 13) || c == ' ' || c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
           c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* The whitespace character whose encoding ends at s[end) (not below lo):
 * its byte length, or 0. Whitespace encodings start with a lead byte, so
 * a match is a whole character even in invalid UTF-8. */
static size_t ws_len_ending(const char *s, size_t lo, size_t end)
{
    for (size_t l = 1; l <= 3 && l <= end - lo; l++) {
        const size_t st = end - l;
        size_t k;
        int32_t c = char_at(s, end, st, &k);
        if (c >= 0 && k == l && is_ws(c))
            return l;
    }
    return 0;
}

size_t ia__ws_before(const char *s, size_t lo, size_t end)
{
    size_t e = end, l;
    while (e > lo && (l = ws_len_ending(s, lo, e)))
        e -= l;
    return end - e;
}

size_t ia__ws_after(const char *s, size_t at, size_t len)
{
    size_t i = at, l;
    int32_t c;
    while (i < len && (c = char_at(s, len, i, &l)) >= 0 && is_ws(c))
        i += l;
    return i - at;
}

/* Rust regex's \w, near enough: letters, marks, numbers, connector
 * punctuation, ZWNJ/ZWJ. */
static bool is_word(int32_t c)
{
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
        return true;
    default:
        return c == 0x200c || c == 0x200d;
    }
}

/* the trie --------------------------------------------------------------- */

static size_t slot(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdu;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

static int32_t child(const ia_unigram *u, int32_t node, unsigned char b)
{
    const uint64_t key = (uint64_t)node << 8 | b;
    for (size_t i = slot(key, u->tcap);; i = (i + 1) & (u->tcap - 1)) {
        if (u->tkeys[i] == key)
            return u->tchild[i];
        if (u->tkeys[i] == UINT64_MAX)
            return -1;
    }
}

static void hash_put(uint64_t *keys, int32_t *vals, size_t cap, uint64_t key, int32_t v)
{
    size_t i = slot(key, cap);
    while (keys[i] != UINT64_MAX)
        i = (i + 1) & (cap - 1);
    keys[i] = key;
    vals[i] = v;
}

static ia_status trie_grow(ia_unigram *u)
{
    const size_t cap = u->tcap ? u->tcap * 2 : 1024;
    uint64_t *keys = ia__malloc(cap * sizeof *keys);
    int32_t *vals = ia__malloc(cap * sizeof *vals);
    if (!keys || !vals) {
        ia__free(keys);
        ia__free(vals);
        return nomem();
    }
    memset(keys, 0xff, cap * sizeof *keys);
    for (size_t i = 0; i < u->tcap; i++)
        if (u->tkeys[i] != UINT64_MAX)
            hash_put(keys, vals, cap, u->tkeys[i], u->tchild[i]);
    ia__free(u->tkeys);
    ia__free(u->tchild);
    u->tkeys = keys;
    u->tchild = vals;
    u->tcap = cap;
    return IA_OK;
}

static ia_status new_node(ia_unigram *u, int32_t *out)
{
    if (u->n_nodes == u->nodes_cap) {
        const size_t cap = u->nodes_cap ? u->nodes_cap * 2 : 1024;
        int32_t *t = ia__realloc(u->tid, cap * sizeof *t);
        if (!t)
            return nomem();
        u->tid = t;
        u->nodes_cap = cap;
    }
    if (u->n_nodes >= INT32_MAX >> 1)
        return ia__error(IA_ERR_FORMAT, "vocabulary too large");
    u->tid[u->n_nodes] = -1;
    *out = (int32_t)u->n_nodes++;
    return IA_OK;
}

/* Insert piece s[0..len) as id (a later id replaces an earlier one). */
static ia_status trie_insert(ia_unigram *u, const char *s, size_t len, int32_t id)
{
    int32_t node = 0;
    ia_status rc;
    for (size_t i = 0; i < len; i++) {
        int32_t c = child(u, node, (unsigned char)s[i]);
        if (c < 0) {
            if ((u->n_nodes + 1) * 2 > u->tcap && (rc = trie_grow(u)))
                return rc;
            if ((rc = new_node(u, &c)))
                return rc;
            hash_put(u->tkeys, u->tchild, u->tcap, (uint64_t)node << 8 | (unsigned char)s[i], c);
        }
        node = c;
    }
    u->tid[node] = id;
    return IA_OK;
}

int32_t ia__unigram_find(const ia_unigram *u, const char *tok, size_t len)
{
    int32_t node = 0;
    for (size_t i = 0; i < len && node >= 0; i++)
        node = child(u, node, (unsigned char)tok[i]);
    return node >= 0 ? u->tid[node] : -1;
}

size_t ia__unigram_n_vocab(const ia_unigram *u) { return u->n; }

const char *ia__unigram_token(const ia_unigram *u, int32_t id)
{
    return id >= 0 && (size_t)id < u->n ? u->arena + u->at[id] : NULL;
}

/* the Precompiled normalizer ---------------------------------------------- */

/* The replacement of the shortest key of the charsmap that prefixes
 * s[0..n) (as spm_precompiled takes results[0]), or NULL. A NUL byte ends
 * the key. A malformed trie gives no match. */
static const char *charsmap_lookup(const norm_op *op, const char *s, size_t n, size_t *out_len)
{
    if (!op->n_units)
        return NULL;
    size_t pos = 0;
    uint32_t unit = op->units[0];
#define DA_OFFSET(u) ((size_t)((u) >> 10) << (((u) & (1u << 9)) >> 6))
    pos ^= DA_OFFSET(unit);
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)s[i];
        if (!c)
            break;
        pos ^= c;
        if (pos >= op->n_units)
            return NULL;
        unit = op->units[pos];
        if ((unit & ((1u << 31) | 0xff)) != c)
            return NULL;
        pos ^= DA_OFFSET(unit);
        if ((unit >> 8) & 1) {
            if (pos >= op->n_units)
                return NULL;
            const size_t at = op->units[pos] & ((1u << 31) - 1);
            /* (a replacement starting inside a character would not be
             * UTF-8: spm_precompiled panics there) */
            if (at > op->n_normalized || ((unsigned char)op->normalized[at] & 0xc0) == 0x80)
                return NULL;
            const char *r = op->normalized + at;
            *out_len = strnlen(r, op->n_normalized - at);
            return r;
        }
    }
#undef DA_OFFSET
    return NULL;
}

static bool precompiled(const norm_op *op, const char *s, size_t n, ia_textbuf *dst)
{
    utf8proc_int32_t state = 0;
    size_t i = 0;
    while (i < n) {
        /* one extended grapheme cluster s[i..e) */
        size_t l, e;
        int32_t prev = char_at(s, n, i, &l);
        for (e = i + l; e < n; e += l) {
            int32_t c = char_at(s, n, e, &l);
            if (utf8proc_grapheme_break_stateful(prev, c, &state))
                break;
            prev = c;
        }
        state = 0;
        size_t rl;
        const char *r = e - i < 6 ? charsmap_lookup(op, s + i, e - i, &rl) : NULL;
        if (r) {
            if (!ia__textbuf_put(dst, r, rl))
                return false;
        } else {
            for (size_t k = i; k < e; k += l) {
                l = char_len(s, e, k);
                r = charsmap_lookup(op, s + k, l, &rl);
                if (!(r ? ia__textbuf_put(dst, r, rl) : ia__textbuf_put(dst, s + k, l)))
                    return false;
            }
        }
        i = e;
    }
    return true;
}

/* normalizers -------------------------------------------------------------- */

static ia_status apply_norm(const ia_unigram *u, const norm_op *op, const char *s, size_t n, ia_textbuf *dst)
{
    bool ok = true;
    size_t l;
    switch (op->kind) {
    case N_PRECOMPILED:
        ok = precompiled(op, s, n, dst);
        break;
    case N_STRIP: {
        size_t a = 0, b = n;
        if (op->left)
            a = ia__ws_after(s, 0, n);
        if (op->right)
            b -= ia__ws_before(s, a, n);
        ok = ia__textbuf_put(dst, s + a, b - a);
        break;
    }
    case N_REPLACE: {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(op->re, u->gctx);
        if (!md)
            return nomem();
        size_t pos = 0, last = 0;
        int r = 0;
        while (ok && pos <= n) {
            r = pcre2_match(op->re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
            if (r < 0)
                break;
            const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            if (ov[1] <= ov[0]) { /* an empty match replaces nothing */
                pos = ov[0] < n ? ov[0] + char_len(s, n, ov[0]) : n + 1;
                continue;
            }
            ok = ia__textbuf_put(dst, s + last, ov[0] - last) && ia__textbuf_put(dst, op->str, op->len);
            last = pos = ov[1];
        }
        pcre2_match_data_free(md);
        if (r < 0 && r != PCRE2_ERROR_NOMATCH) {
            if (r == PCRE2_ERROR_NOMEMORY || r == PCRE2_ERROR_HEAPLIMIT)
                return nomem();
            return ia__error(IA_ERR_INVALID, "normalizer Replace: the pattern could not be matched (PCRE2 error %d)",
                             r);
        }
        ok = ok && ia__textbuf_put(dst, s + last, n - last);
        break;
    }
    case N_LOWERCASE:
        for (size_t i = 0; ok && i < n; i += l) {
            int32_t c = char_at(s, n, i, &l);
            if (c == 0x130) /* the one unconditional multi-character lowercase */
                ok = ia__textbuf_put(dst, "i\xcc\x87", 3);
            else
                ok = put_char(dst, utf8proc_tolower(c));
        }
        break;
    case N_PREPEND:
        ok = !n || (ia__textbuf_put(dst, op->str, op->len) && ia__textbuf_put(dst, s, n));
        break;
    case N_UNICODE: {
        char *norm;
        size_t len;
        ia_status rc = ia__utf8_normalize(s, n, op->uopts, &norm, &len);
        if (rc)
            return rc;
        ok = ia__textbuf_put(dst, norm, len);
        ia__free(norm);
        break;
    }
    }
    return ok ? IA_OK : nomem();
}

/* Run the normalizers over s[0..n); the result is *out (in one of bufs, or
 * s itself when there are none). */
static ia_status normalize(const ia_unigram *u, const char *s, size_t n, ia_textbuf bufs[2], const char **out,
                           size_t *out_n)
{
    for (size_t k = 0; k < u->n_norms; k++) {
        ia_textbuf *dst = &bufs[k & 1];
        dst->n = 0;
        ia_status rc = apply_norm(u, &u->norms[k], s, n, dst);
        if (rc)
            return rc;
        if (!dst->p && !ia__textbuf_put(dst, "", 0))
            return nomem();
        s = dst->p;
        n = dst->n;
    }
    *out = s;
    *out_n = n;
    return IA_OK;
}

/* pre-tokenizers ----------------------------------------------------------- */

typedef struct upiece {
    size_t off, len;
    bool first; /* starts at the original text's offset 0 */
} upiece;

typedef struct upieces {
    upiece *v;
    size_t n, cap;
} upieces;

static bool push_piece(upieces *p, size_t off, size_t len, bool first)
{
    if (!len)
        return true;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        upiece *v = ia__realloc(p->v, cap * sizeof *v);
        if (!v)
            return false;
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = (upiece){off, len, first};
    return true;
}

static bool metaspace(const pre_op *op, const char *s, const upiece *p, ia_textbuf *dst, upieces *out)
{
    const size_t at = dst->n, rl = op->repl_len;
    const char *t = s + p->off;
    const bool starts = p->len && (t[0] == ' ' || (p->len >= rl && !memcmp(t, op->repl, rl)));
    if (p->len && !starts && (op->scheme == SCHEME_ALWAYS || (op->scheme == SCHEME_FIRST && p->first)) &&
        !ia__textbuf_put(dst, op->repl, rl))
        return false;
    for (size_t i = 0; i < p->len; i++)
        if (!(t[i] == ' ' ? ia__textbuf_put(dst, op->repl, rl) : ia__textbuf_put(dst, t + i, 1)))
            return false;
    if (!op->split)
        return push_piece(out, at, dst->n - at, p->first);
    size_t start = at;
    for (size_t i = at; i < dst->n;) {
        const size_t l = char_len(dst->p, dst->n, i);
        if (i > start && l == rl && !memcmp(dst->p + i, op->repl, rl)) {
            if (!push_piece(out, start, i - start, p->first && start == at))
                return false;
            start = i;
        }
        i += l;
    }
    return push_piece(out, start, dst->n - start, p->first && start == at);
}

static bool whitespace_split(const char *s, const upiece *p, ia_textbuf *dst, upieces *out)
{
    const size_t at = dst->n;
    if (!ia__textbuf_put(dst, s + p->off, p->len))
        return false;
    size_t start = at, l;
    for (size_t i = at; i <= dst->n; i += l) {
        l = 1;
        const bool ws = i < dst->n && is_ws(char_at(dst->p, dst->n, i, &l));
        if (i == dst->n || ws) {
            if (!push_piece(out, start, i - start, p->first && start == at))
                return false;
            start = i + l;
        }
    }
    return true;
}

/* the model ---------------------------------------------------------------- */

typedef struct uwork {
    ia_textbuf nb[2], pb[2];
    upieces pp[2];
    double *sc;
    int32_t *from, *id; /* best path ending at each byte: start, token */
    size_t *cut;        /* the path's token boundaries, backwards */
    size_t cap;
} uwork;

static void work_free(uwork *w)
{
    for (int k = 0; k < 2; k++) {
        ia__free(w->nb[k].p);
        ia__free(w->pb[k].p);
        ia__free(w->pp[k].v);
    }
    ia__free(w->sc);
    ia__free(w->from);
    ia__free(w->id);
    ia__free(w->cut);
}

/* The ids of one fused piece s[0..n) looked up as tokenizers does. */
static ia_status emit(const ia_unigram *u, const char *s, size_t n, ia_i32vec *ids)
{
    int32_t id = ia__unigram_find(u, s, n);
    if (id < 0 && u->byte_fallback) {
        size_t k = 0;
        while (k < n && u->byte_id[(unsigned char)s[k]] >= 0)
            k++;
        if (k == n) {
            for (k = 0; k < n; k++)
                if (!ia__i32vec_push(ids, u->byte_id[(unsigned char)s[k]]))
                    return nomem();
            return IA_OK;
        }
    }
    if (id < 0)
        id = u->unk_id;
    if (id < 0)
        return ia__error(IA_ERR_INVALID, "unigram: a piece is not in the vocabulary and the model has no unk_id");
    return ia__i32vec_push(ids, id) ? IA_OK : nomem();
}

static ia_status viterbi(const ia_unigram *u, const char *s, size_t n, uwork *w, ia_i32vec *ids)
{
    if (n + 1 > w->cap) {
        ia__free(w->sc);
        ia__free(w->from);
        ia__free(w->id);
        ia__free(w->cut);
        w->sc = ia__malloc((n + 1) * sizeof *w->sc);
        w->from = ia__malloc((n + 1) * sizeof *w->from);
        w->id = ia__malloc((n + 1) * sizeof *w->id);
        w->cut = ia__malloc((n + 1) * sizeof *w->cut);
        w->cap = w->sc && w->from && w->id && w->cut ? n + 1 : 0;
        if (!w->cap)
            return nomem();
    }
    const double unk_score = u->min_score - UNK_PENALTY;
    for (size_t i = 0; i <= n; i++) {
        w->sc[i] = 0;
        w->from[i] = -1;
        w->id[i] = -1;
    }
    for (size_t i = 0; i < n;) {
        const size_t mblen = char_len(s, n, i);
        const double base = w->sc[i];
        bool single = false;
        int32_t node = 0;
        for (size_t k = i; k < n; k++) {
            if ((node = child(u, node, (unsigned char)s[k])) < 0)
                break;
            const int32_t id = u->tid[node];
            if (id < 0)
                continue;
            const size_t end = k + 1;
            const double cand = u->score[id] + base;
            if (w->from[end] < 0 || cand > w->sc[end]) {
                w->sc[end] = cand;
                w->from[end] = (int32_t)i;
                w->id[end] = id;
            }
            single |= end - i == mblen;
        }
        if (!single) {
            if (u->unk_id < 0)
                return ia__error(IA_ERR_INVALID, "unigram: a character is not in the vocabulary and the model has "
                                 "no unk_id");
            const size_t end = i + mblen;
            const double cand = unk_score + base;
            if (w->from[end] < 0 || cand > w->sc[end]) {
                w->sc[end] = cand;
                w->from[end] = (int32_t)i;
                w->id[end] = u->unk_id;
            }
        }
        i += mblen;
    }
    /* back from the end: boundaries of the tokens, consecutive unks fused */
    size_t nc = 0, end = n;
    w->cut[nc++] = n;
    while (end > 0) {
        const size_t start = (size_t)w->from[end];
        const bool unk = w->id[end] == u->unk_id;
        const bool prev_unk = start > 0 && w->id[start] == u->unk_id;
        if (!(unk && prev_unk)) /* fuse_unk: no cut between two unks */
            w->cut[nc++] = start;
        end = start;
    }
    for (size_t k = nc - 1; k > 0; k--) {
        ia_status rc = emit(u, s + w->cut[k], w->cut[k - 1] - w->cut[k], ids);
        if (rc)
            return rc;
    }
    return IA_OK;
}

/* encoding --------------------------------------------------------------- */

/* Pre-tokenize and segment s[0..n) (normalized, without added tokens). */
static ia_status encode_segment(const ia_unigram *u, const char *s, size_t n, bool first, uwork *w, ia_i32vec *ids)
{
    w->pp[0].n = 0;
    if (!push_piece(&w->pp[0], 0, n, first))
        return nomem();
    const char *text = s;
    int cur = 0;
    for (size_t k = 0; k < u->n_pres; k++) {
        const int nx = cur ^ 1;
        ia_textbuf *dst = &w->pb[nx];
        dst->n = 0;
        w->pp[nx].n = 0;
        if (!ia__textbuf_put(dst, "", 0))
            return nomem();
        for (size_t i = 0; i < w->pp[cur].n; i++) {
            const upiece *p = &w->pp[cur].v[i];
            bool ok = u->pres[k].metaspace ? metaspace(&u->pres[k], text, p, dst, &w->pp[nx])
                                           : whitespace_split(text, p, dst, &w->pp[nx]);
            if (!ok)
                return nomem();
        }
        text = dst->p;
        cur = nx;
    }
    for (size_t i = 0; i < w->pp[cur].n; i++) {
        ia_status rc = viterbi(u, text + w->pp[cur].v[i].off, w->pp[cur].v[i].len, w, ids);
        if (rc)
            return rc;
    }
    return IA_OK;
}

/* The normalized added token that starts at s[i] (longest), or NULL. */
static const norm_token *ntoken_at(const ia_unigram *u, const char *s, size_t n, size_t i)
{
    const norm_token *best = NULL;
    for (size_t k = 0; k < u->n_ntoks; k++) {
        const norm_token *t = &u->ntoks[k];
        if (t->len <= n - i && (!best || t->len > best->len) && !memcmp(s + i, t->text, t->len))
            best = t;
    }
    return best;
}

/* Whether the character that ends s[0..at) is a word character. */
static bool word_before(const char *s, size_t at)
{
    size_t k = at, l;
    while (k > 0 && ((unsigned char)s[k - 1] & 0xc0) == 0x80)
        k--;
    return k > 0 && is_word(char_at(s, at, k - 1, &l));
}

ia_status ia__unigram_encode(const ia_unigram *u, const char *text, size_t len, bool at_start, ia_i32vec *ids)
{
    uwork w = {0};
    const char *s = text;
    size_t n = 0;
    ia_status rc = normalize(u, text, len, w.nb, &s, &n);
    size_t start_offset = 0, pos = 0;
    while (!rc && pos < n && u->n_ntoks) { /* tokenizers' find_matches on the normalized text */
        const norm_token *t = NULL;
        size_t i = pos;
        for (; i < n && !(t = ntoken_at(u, s, n, i)); i++)
            ;
        if (!t)
            break;
        size_t start = i, stop = i + t->len;
        pos = stop;
        if (t->single_word) { /* only between non-word characters */
            size_t l;
            if (word_before(s, start) || (stop < n && is_word(char_at(s, n, stop, &l))))
                continue;
        }
        if (t->lstrip)
            start = IA_MAX(start - ia__ws_before(s, 0, start), start_offset);
        if (t->rstrip)
            stop += ia__ws_after(s, stop, n);
        if (start_offset < start)
            rc = encode_segment(u, s + start_offset, start - start_offset, at_start && start_offset == 0, &w, ids);
        if (!rc && !ia__i32vec_push(ids, t->id))
            rc = nomem();
        start_offset = pos = stop;
    }
    if (!rc && start_offset < n)
        rc = encode_segment(u, s + start_offset, n - start_offset, at_start && start_offset == 0, &w, ids);
    work_free(&w);
    return rc;
}

/* decoding --------------------------------------------------------------- */

ia_status ia__unigram_decode(const ia_unigram *u, const char *const *tokens, size_t n, char **out)
{
    *out = NULL;
    if (!u->dec_metaspace && !u->dec_none)
        return ia__error(IA_ERR_UNSUPPORTED, "decoding: the tokenizer's decoder \"%s\" is not supported "
                         "(supported: Metaspace, none)", u->dec_name);
    ia_textbuf b = {0};
    bool ok = ia__textbuf_put(&b, "", 0);
    for (size_t i = 0; ok && i < n; i++) {
        const char *t = tokens[i];
        const size_t tl = strlen(t);
        if (u->dec_none) {
            ok = (!i || ia__textbuf_put(&b, " ", 1)) && ia__textbuf_put(&b, t, tl);
            continue;
        }
        const pre_op *d = &u->dec;
        for (size_t k = 0; ok && k < tl;) {
            const size_t l = char_len(t, tl, k);
            if (l == d->repl_len && !memcmp(t + k, d->repl, l))
                ok = (i == 0 && d->scheme != SCHEME_NEVER) || ia__textbuf_put(&b, " ", 1);
            else
                ok = ia__textbuf_put(&b, t + k, l);
            k += l;
        }
    }
    if (!ok) {
        ia__free(b.p);
        return nomem();
    }
    *out = b.p;
    return IA_OK;
}

/* loading ---------------------------------------------------------------- */

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

static bool flag(const cJSON *o, const char *k, bool dflt)
{
    const cJSON *v = get(o, k);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static void *pmalloc(size_t n, void *ud)
{
    (void)ud;
    return ia__malloc(n);
}

static void pfree(void *p, void *ud)
{
    (void)ud;
    ia__free(p);
}

static int b64(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52
         : c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* The charsmap's bytes: base64 text or (older files) an array of bytes. */
static ia_status charsmap_bytes(const cJSON *v, const char *path, unsigned char **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        size_t sl = strlen(s);
        unsigned char *b = ia__malloc(sl / 4 * 3 + 3);
        if (!b)
            return nomem();
        uint32_t acc = 0;
        int bits = 0;
        size_t k = 0, i = 0;
        for (; i < sl && s[i] != '='; i++) {
            int d = b64((unsigned char)s[i]);
            if (d < 0) {
                ia__free(b);
                return ia__error(IA_ERR_FORMAT, "%s: normalizer Precompiled: precompiled_charsmap is not base64 "
                                 "(character %zu)", path, i);
            }
            acc = acc << 6 | (uint32_t)d;
            if ((bits += 6) >= 8) {
                bits -= 8;
                b[k++] = (unsigned char)(acc >> bits);
            }
        }
        *out = b;
        *n = k;
        return IA_OK;
    }
    if (cJSON_IsArray(v)) {
        const size_t m = (size_t)cJSON_GetArraySize(v);
        unsigned char *b = ia__malloc(m + 1);
        if (!b)
            return nomem();
        size_t k = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 255) {
                ia__free(b);
                return ia__error(IA_ERR_FORMAT, "%s: normalizer Precompiled: precompiled_charsmap[%zu] is not a "
                                 "byte", path, k);
            }
            b[k++] = (unsigned char)e->valueint;
        }
        *out = b;
        *n = k;
        return IA_OK;
    }
    return ia__error(IA_ERR_FORMAT, "%s: normalizer Precompiled: precompiled_charsmap is missing (base64 string)",
                     path);
}

static ia_status parse_charsmap(norm_op *op, const cJSON *v, const char *path)
{
    unsigned char *b;
    size_t n;
    ia_status rc = charsmap_bytes(v, path, &b, &n);
    if (rc)
        return rc;
    uint32_t trie_size = n >= 4 ? (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24
                                : 0;
    if (n < 4 || trie_size % 4 || trie_size > n - 4) {
        ia__free(b);
        return ia__error(IA_ERR_FORMAT, "%s: normalizer Precompiled: precompiled_charsmap is malformed (%zu bytes, "
                         "trie size %u)", path, n, (unsigned)trie_size);
    }
    op->n_units = trie_size / 4;
    op->n_normalized = n - 4 - trie_size;
    op->units = ia__malloc((op->n_units + 1) * sizeof *op->units);
    op->normalized = ia__malloc(op->n_normalized + 1);
    if (!op->units || !op->normalized) {
        ia__free(b);
        return nomem();
    }
    for (size_t i = 0; i < op->n_units; i++) {
        const unsigned char *p = b + 4 + 4 * i;
        op->units[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    }
    memcpy(op->normalized, b + 4 + trie_size, op->n_normalized);
    op->normalized[op->n_normalized] = '\0';
    ia__free(b);
    if (!valid_utf8(op->normalized, op->n_normalized)) /* tokenizers requires it too */
        return ia__error(IA_ERR_FORMAT, "%s: normalizer Precompiled: the charsmap's strings are not UTF-8", path);
    return IA_OK;
}

static ia_status add_norm(ia_unigram *u, norm_op *op)
{
    norm_op *v = ia__realloc(u->norms, (u->n_norms + 1) * sizeof *v);
    if (!v) {
        if (op->re)
            pcre2_code_free(op->re);
        ia__free(op->str);
        ia__free(op->units);
        ia__free(op->normalized);
        return nomem();
    }
    u->norms = v;
    v[u->n_norms++] = *op;
    return IA_OK;
}

static ia_status json_normalizer(ia_unigram *u, const cJSON *n, const char *path, int depth)
{
    if (!n || cJSON_IsNull(n))
        return IA_OK;
    const cJSON *type = get(n, "type");
    const char *ty = cJSON_IsString(type) ? type->valuestring : "?";
    if (depth > 8)
        return ia__error(IA_ERR_FORMAT, "%s: normalizer: Sequence nested too deeply", path);
    norm_op op = {0};
    if (!strcmp(ty, "Sequence")) {
        const cJSON *list = get(n, "normalizers"), *e;
        if (!cJSON_IsArray(list))
            return ia__error(IA_ERR_FORMAT, "%s: normalizer Sequence: normalizers must be a list", path);
        cJSON_ArrayForEach(e, list) {
            ia_status rc = json_normalizer(u, e, path, depth + 1);
            if (rc)
                return rc;
        }
        return IA_OK;
    } else if (!strcmp(ty, "Precompiled")) {
        op.kind = N_PRECOMPILED;
        ia_status rc = parse_charsmap(&op, get(n, "precompiled_charsmap"), path);
        if (rc) {
            ia__free(op.units);
            ia__free(op.normalized);
            return rc;
        }
    } else if (!strcmp(ty, "Strip")) {
        op = (norm_op){.kind = N_STRIP, .left = flag(n, "strip_left", false), .right = flag(n, "strip_right", false)};
    } else if (!strcmp(ty, "Lowercase")) {
        op.kind = N_LOWERCASE;
    } else if (!strcmp(ty, "NFC") || !strcmp(ty, "NFD") || !strcmp(ty, "NFKC") || !strcmp(ty, "NFKD")) {
        op.kind = N_UNICODE;
        op.uopts = UTF8PROC_STABLE | (ty[2] == 'K' ? UTF8PROC_COMPAT : 0) |
                   (ty[strlen(ty) - 1] == 'C' ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE);
    } else if (!strcmp(ty, "Prepend") || !strcmp(ty, "Replace")) {
        const bool prepend = ty[0] == 'P';
        const cJSON *c = get(n, prepend ? "prepend" : "content");
        if (!cJSON_IsString(c))
            return ia__error(IA_ERR_FORMAT, "%s: normalizer %s: %s must be a string", path, ty,
                             prepend ? "prepend" : "content");
        op.kind = prepend ? N_PREPEND : N_REPLACE;
        op.len = strlen(c->valuestring);
        if (!valid_utf8(c->valuestring, op.len)) /* the pipeline keeps the text valid UTF-8 */
            return ia__error(IA_ERR_FORMAT, "%s: normalizer %s: %s is not UTF-8", path, ty,
                             prepend ? "prepend" : "content");
        if (!(op.str = ia__strdup(c->valuestring)))
            return nomem();
        if (!prepend) {
            const cJSON *pat = get(n, "pattern"), *str = get(pat, "String"), *re = get(pat, "Regex");
            const cJSON *p = cJSON_IsString(str) ? str : re;
            if (!cJSON_IsString(p)) {
                ia__free(op.str);
                return ia__error(IA_ERR_FORMAT, "%s: normalizer Replace: pattern must be {\"String\": ...} or "
                                 "{\"Regex\": ...}", path);
            }
            int err;
            PCRE2_SIZE at;
            pcre2_compile_context *cc = pcre2_compile_context_create(u->gctx);
            op.re = cc ? pcre2_compile((PCRE2_SPTR)p->valuestring, strlen(p->valuestring),
                                       PCRE2_UTF | (p == str ? PCRE2_LITERAL : PCRE2_UCP), &err, &at, cc)
                       : NULL;
            pcre2_compile_context_free(cc);
            if (!op.re) {
                ia__free(op.str);
                if (!cc || err == PCRE2_ERROR_HEAP_FAILED)
                    return nomem();
                return ia__error(IA_ERR_UNSUPPORTED, "%s: normalizer Replace: pattern \"%s\" does not compile "
                                 "(at %zu)", path, p->valuestring, (size_t)at);
            }
        }
    } else {
        return ia__error(IA_ERR_UNSUPPORTED, "%s: normalizer \"%s\" is not supported with a Unigram model "
                         "(supported: Precompiled, Replace, Strip, Lowercase, Prepend, NFC, NFD, NFKC, NFKD, "
                         "Sequence)", path, ty);
    }
    return add_norm(u, &op);
}

/* A Metaspace pre-tokenizer's or decoder's settings into op. */
static ia_status json_metaspace(pre_op *op, const cJSON *m, const char *path, const char *what)
{
    const cJSON *r = get(m, "replacement"), *ps = get(m, "prepend_scheme"), *aps = get(m, "add_prefix_space");
    size_t l;
    if (!cJSON_IsString(r) || !r->valuestring[0] || char_at(r->valuestring, strlen(r->valuestring), 0, &l) < 0 ||
        l != strlen(r->valuestring))
        return ia__error(IA_ERR_FORMAT, "%s: %s Metaspace: replacement must be one character", path, what);
    *op = (pre_op){.metaspace = true, .repl_len = l, .scheme = SCHEME_ALWAYS, .split = flag(m, "split", true)};
    memcpy(op->repl, r->valuestring, l);
    if (cJSON_IsString(ps)) {
        const char *s = ps->valuestring;
        op->scheme = !strcmp(s, "always") ? SCHEME_ALWAYS : !strcmp(s, "first") ? SCHEME_FIRST
                   : !strcmp(s, "never") ? SCHEME_NEVER : -1;
        if (op->scheme < 0)
            return ia__error(IA_ERR_FORMAT, "%s: %s Metaspace: prepend_scheme \"%s\" (expected always, first or "
                             "never)", path, what, s);
    }
    if (cJSON_IsFalse(aps)) { /* the legacy field */
        if (cJSON_IsString(ps) && op->scheme != SCHEME_NEVER)
            return ia__error(IA_ERR_FORMAT, "%s: %s Metaspace: add_prefix_space does not match prepend_scheme",
                             path, what);
        op->scheme = SCHEME_NEVER;
    }
    return IA_OK;
}

static ia_status json_pre(ia_unigram *u, const cJSON *p, const char *path, int depth)
{
    if (!p || cJSON_IsNull(p))
        return IA_OK;
    const cJSON *type = get(p, "type");
    const char *ty = cJSON_IsString(type) ? type->valuestring : "?";
    if (depth > 8)
        return ia__error(IA_ERR_FORMAT, "%s: pre_tokenizer: Sequence nested too deeply", path);
    if (!strcmp(ty, "Sequence")) {
        const cJSON *list = get(p, "pretokenizers"), *e;
        if (!cJSON_IsArray(list))
            return ia__error(IA_ERR_FORMAT, "%s: pre_tokenizer Sequence: pretokenizers must be a list", path);
        cJSON_ArrayForEach(e, list) {
            ia_status rc = json_pre(u, e, path, depth + 1);
            if (rc)
                return rc;
        }
        return IA_OK;
    }
    pre_op op = {0};
    if (!strcmp(ty, "Metaspace")) {
        ia_status rc = json_metaspace(&op, p, path, "pre_tokenizer");
        if (rc)
            return rc;
    } else if (strcmp(ty, "WhitespaceSplit")) {
        return ia__error(IA_ERR_UNSUPPORTED, "%s: pre_tokenizer \"%s\" is not supported with a Unigram model "
                         "(supported: Metaspace, WhitespaceSplit, Sequence)", path, ty);
    }
    pre_op *v = ia__realloc(u->pres, (u->n_pres + 1) * sizeof *v);
    if (!v)
        return nomem();
    u->pres = v;
    v[u->n_pres++] = op;
    return IA_OK;
}

/* A score as tokenizers reads it: serde_json (without its float_roundtrip
 * feature) parses a number as its digits, an integer rounded to a double,
 * then multiplied or divided by a power of ten, which differs from the
 * correctly rounded value (cJSON's) by one ulp for some 17-digit numbers,
 * and Viterbi's ties depend on that. The digits are recovered from d as
 * the shortest text that reads back as d, which is how tokenizers (ryu)
 * and Python write them. */
static double serde_f64(double d)
{
    if (d == 0 || !isfinite(d))
        return d;
    char buf[48];
    /* up to 15 digits the integer is exact and so is one multiplication
     * or division by an exact power of ten: the correctly rounded d */
    snprintf(buf, sizeof buf, "%.14e", d);
    const bool short15 = strtod(buf, NULL) == d;
    if (short15 && fabs(d) < 1e15 && fabs(d) > 1e-7)
        return d;
    for (int prec = short15 ? 0 : 15; prec < 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    uint64_t sig = 0;
    int frac = 0, exp10 = 0;
    const char *p = buf + (buf[0] == '-');
    bool dot = false;
    for (; *p && *p != 'e'; p++) {
        if (*p == '.') {
            dot = true;
            continue;
        }
        sig = sig * 10 + (uint64_t)(*p - '0');
        frac += dot;
    }
    if (*p == 'e')
        exp10 = (int)strtol(p + 1, NULL, 10);
    int e = exp10 - frac;
    double f = (double)sig;
    char pw[16];
    while (e < -308 && f != 0) {
        f /= 1e308;
        e += 308;
    }
    if (e > 308)
        return d;
    snprintf(pw, sizeof pw, "1e%d", e < 0 ? -e : e);
    const double pow10 = strtod(pw, NULL);
    f = e >= 0 ? f * pow10 : f / pow10;
    return buf[0] == '-' ? -f : f;
}

static ia_status json_vocab(ia_unigram *u, const cJSON *model, const char *path)
{
    const cJSON *vocab = get(model, "vocab"), *unk = get(model, "unk_id"), *e;
    if (!cJSON_IsArray(vocab))
        return ia__error(IA_ERR_FORMAT, "%s: model.vocab is missing or not a list of [piece, score] pairs", path);
    u->n = (size_t)cJSON_GetArraySize(vocab);
    size_t bytes = 0, i = 0;
    cJSON_ArrayForEach(e, vocab) {
        const cJSON *p = cJSON_GetArrayItem(e, 0), *s = cJSON_GetArrayItem(e, 1);
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2 || !cJSON_IsString(p) || !cJSON_IsNumber(s) ||
            !isfinite(s->valuedouble))
            return ia__error(IA_ERR_FORMAT, "%s: model.vocab[%zu]: not a [piece, score] pair", path, i);
        bytes += strlen(p->valuestring) + 1;
        i++;
    }
    if (!u->n) /* tokenizers accepts it, but it can encode nothing */
        return ia__error(IA_ERR_FORMAT, "%s: model.vocab of the Unigram model is empty", path);
    if (u->n > INT32_MAX / 2)
        return ia__error(IA_ERR_FORMAT, "%s: model.vocab has too many pieces", path);
    u->unk_id = -1;
    if (cJSON_IsNumber(unk)) {
        if (unk->valuedouble < 0 || unk->valuedouble >= (double)u->n || unk->valuedouble != (double)unk->valueint)
            return ia__error(IA_ERR_FORMAT, "%s: model.unk_id %g is outside the vocabulary (%zu pieces)", path,
                             unk->valuedouble, u->n);
        u->unk_id = unk->valueint;
    } else if (unk && !cJSON_IsNull(unk)) {
        return ia__error(IA_ERR_FORMAT, "%s: model.unk_id must be a number or null", path);
    }
    u->byte_fallback = flag(model, "byte_fallback", false);
    u->arena = ia__malloc(bytes + 1);
    u->at = ia__malloc((u->n + 1) * sizeof *u->at);
    u->score = ia__malloc((u->n + 1) * sizeof *u->score);
    if (!u->arena || !u->at || !u->score)
        return nomem();
    ia_status rc = trie_grow(u);
    int32_t root;
    if (!rc)
        rc = new_node(u, &root);
    size_t off = 0;
    i = 0;
    u->min_score = INFINITY;
    cJSON_ArrayForEach(e, vocab) {
        if (rc)
            return rc;
        const char *p = cJSON_GetArrayItem(e, 0)->valuestring;
        const size_t l = strlen(p);
        memcpy(u->arena + off, p, l + 1);
        u->at[i] = off;
        u->score[i] = serde_f64(cJSON_GetArrayItem(e, 1)->valuedouble);
        u->min_score = IA_MIN(u->min_score, u->score[i]);
        rc = trie_insert(u, p, l, (int32_t)i);
        off += l + 1;
        i++;
    }
    u->at[u->n] = off;
    for (int b = 0; b < 256 && !rc; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        u->byte_id[b] = ia__unigram_find(u, name, 6);
    }
    return rc;
}

ia_status ia__unigram_from_json(const cJSON *root, const char *path, ia_unigram **out)
{
    *out = NULL;
    ia_unigram *u = ia__calloc(1, sizeof *u);
    if (!u)
        return nomem();
    if (!(u->gctx = pcre2_general_context_create(pmalloc, pfree, NULL))) {
        ia__free(u);
        return nomem();
    }
    ia_status rc = json_vocab(u, get(root, "model"), path);
    if (!rc)
        rc = json_normalizer(u, get(root, "normalizer"), path, 0);
    if (!rc)
        rc = json_pre(u, get(root, "pre_tokenizer"), path, 0);
    const cJSON *dec = get(root, "decoder"), *dt = get(dec, "type");
    if (!rc && (!dec || cJSON_IsNull(dec))) {
        u->dec_none = true;
    } else if (!rc && cJSON_IsString(dt) && !strcmp(dt->valuestring, "Metaspace")) {
        u->dec_metaspace = true;
        rc = json_metaspace(&u->dec, dec, path, "decoder");
    } else if (!rc) {
        snprintf(u->dec_name, sizeof u->dec_name, "%s", cJSON_IsString(dt) ? dt->valuestring : "?");
    }
    if (rc) {
        ia__unigram_free(u);
        return rc;
    }
    *out = u;
    return IA_OK;
}

bool ia__unigram_special(const ia_unigram *u, int32_t id)
{
    for (size_t i = 0; i < u->n_ntoks; i++)
        if (u->ntoks[i].id == id && u->ntoks[i].special)
            return true;
    return false;
}

ia_status ia__unigram_add_token(ia_unigram *u, const char *content, int32_t id, bool lstrip, bool rstrip,
                                bool single_word, bool special)
{
    ia_textbuf bufs[2] = {{0}, {0}};
    const char *s = content;
    size_t n = 0;
    if (!valid_utf8(content, strlen(content)))
        return ia__error(IA_ERR_FORMAT, "added token %d is not UTF-8", id);
    ia_status rc = normalize(u, content, strlen(content), bufs, &s, &n);
    norm_token *v = rc || !n ? NULL : ia__realloc(u->ntoks, (u->n_ntoks + 1) * sizeof *v);
    if (!rc && n && !v)
        rc = nomem();
    if (v) {
        u->ntoks = v;
        v += u->n_ntoks;
        *v = (norm_token){.text = ia__malloc(n + 1), .len = n, .id = id, .lstrip = lstrip, .rstrip = rstrip,
                          .single_word = single_word, .special = special};
        if (v->text) {
            memcpy(v->text, s, n);
            v->text[n] = '\0';
            u->n_ntoks++;
        } else {
            rc = nomem();
        }
    }
    ia__free(bufs[0].p);
    ia__free(bufs[1].p);
    return rc;
}

void ia__unigram_free(ia_unigram *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->n_norms; i++) {
        if (u->norms[i].re)
            pcre2_code_free(u->norms[i].re);
        ia__free(u->norms[i].str);
        ia__free(u->norms[i].units);
        ia__free(u->norms[i].normalized);
    }
    for (size_t i = 0; i < u->n_ntoks; i++)
        ia__free(u->ntoks[i].text);
    ia__free(u->ntoks);
    ia__free(u->norms);
    ia__free(u->pres);
    ia__free(u->arena);
    ia__free(u->at);
    ia__free(u->score);
    ia__free(u->tkeys);
    ia__free(u->tchild);
    ia__free(u->tid);
    if (u->gctx)
        pcre2_general_context_free(u->gctx);
    ia__free(u);
}
