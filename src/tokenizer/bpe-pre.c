/*
 * The text steps of a BPE tokenizer: normalizers (Prepend, Replace, NFC...)
 * and pre-tokenizers (split patterns, ByteLevel's prefix space, Metaspace),
 * applied in order to every current piece of a segment, as `tokenizers`
 * applies a Sequence. Split patterns run on PCRE2 (UTF, UCP, JIT where
 * available) after two rewrites that give them Oniguruma's meaning, the
 * engine `tokenizers` uses: \s and \S become the White_Space property
 * (PCRE2's \s also takes U+180E), and $ ends any line (Ruby syntax).
 *
 * Also the split patterns of the GGUF pre-tokenizer names
 * (tokenizer.ggml.pre), spelled as in the models' tokenizer.json: llama.cpp
 * rewrites some of them for std::regex; the originals are what produced
 * the models' reference ids.
 */
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/bpe-impl.h"

/* ---- the GGUF pre-tokenizer names ------------------------------------- */

#define CONTRACTIONS "(?i:'s|'t|'re|'ve|'m|'ll|'d)"
#define GPT2_SPLIT "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
static const char *const GPT2[] = {GPT2_SPLIT, NULL};
static const char *const LLAMA3[] = {
    CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                 "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const QWEN2[] = {
    CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                 "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const QWEN35[] = {
    CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|"
                 "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
/* Digits(individual_digits) then ByteLevel. */
static const char *const STARCODER[] = {"\\p{N}", GPT2_SPLIT, NULL};
/* Punctuation, ByteLevel, Digits, Split("[0-9][0-9][0-9]"): the last two
 * run on the byte-level spelling (BPE_BYTES_HERE), as in `tokenizers`. */
static const char *const FALCON[] = {"[\\p{P}!-/:-@\\[-`{-~]+", GPT2_SPLIT, BPE_BYTES_HERE, "\\p{N}+",
                                     "[0-9][0-9][0-9]", NULL};
/* llama.cpp's choice for files without tokenizer.ggml.pre. */
static const char *const DEFAULT[] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_SPLIT, "\\p{N}+",
                                      "[0-9][0-9][0-9]", NULL};
/* Patterns with characters beyond ASCII are written with \x{...} escapes:
 * an editor that normalizes the source (NFC turns U+1F7D into U+03CE)
 * would otherwise change their ranges. */
static const char *const DEEPSEEK_LLM[] = {
    "[\r\n]",
    "\\s?[A-Za-z\\x{b5}\\x{c0}-\\x{d6}\\x{d8}-\\x{f6}\\x{f8}-\\x{1ba}\\x{1bc}-\\x{1bf}\\x{1c4}-\\x{293}"
    "\\x{295}-\\x{2af}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37b}-\\x{37d}\\x{37f}\\x{386}\\x{388}-\\x{38a}"
    "\\x{38c}\\x{38e}-\\x{3a1}\\x{3a3}-\\x{3f5}\\x{3f7}-\\x{481}\\x{48a}-\\x{52f}\\x{531}-\\x{556}"
    "\\x{10a0}-\\x{10c5}\\x{13a0}-\\x{13f5}\\x{13f8}-\\x{13fd}\\x{1c90}-\\x{1cba}\\x{1cbd}-\\x{1cbf}"
    "\\x{1d00}-\\x{1d2b}\\x{1d6b}-\\x{1d77}\\x{1d79}-\\x{1d9a}\\x{1e00}-\\x{1f15}\\x{1f18}-\\x{1f1d}"
    "\\x{1f20}-\\x{1f45}\\x{1f48}-\\x{1f4d}\\x{1f50}-\\x{1f57}\\x{1f59}\\x{1f5b}\\x{1f5d}\\x{1f5f}-\\x{1f7d}"
    "\\x{1f80}-\\x{1fb4}\\x{1fb6}-\\x{1fbc}\\x{1fbe}\\x{1fc2}-\\x{1fc4}\\x{1fc6}-\\x{1fcc}\\x{1fd0}-\\x{1fd3}"
    "\\x{1fd6}-\\x{1fdb}\\x{1fe0}-\\x{1fec}\\x{1ff2}-\\x{1ff4}\\x{1ff6}-\\x{1ffc}\\x{2102}\\x{2107}"
    "\\x{210a}-\\x{2113}\\x{2115}\\x{2119}-\\x{211d}\\x{2124}\\x{2126}\\x{2128}\\x{212a}-\\x{212d}"
    "\\x{212f}-\\x{2134}\\x{2139}\\x{213c}-\\x{213f}\\x{2145}-\\x{2149}\\x{214e}\\x{2183}\\x{2184}"
    "\\x{2c00}-\\x{2c7b}\\x{2c7e}-\\x{2ce4}\\x{2ceb}-\\x{2cee}\\x{2cf2}\\x{2cf3}\\x{a640}-\\x{a66d}"
    "\\x{a680}-\\x{a69b}\\x{a722}-\\x{a76f}\\x{a771}-\\x{a787}\\x{a78b}-\\x{a78e}\\x{ab70}-\\x{abbf}"
    "\\x{fb00}-\\x{fb06}\\x{fb13}-\\x{fb17}\\x{ff21}-\\x{ff3a}\\x{ff41}-\\x{ff5a}\\x{10400}-\\x{1044f}"
    "\\x{104b0}-\\x{104d3}\\x{104d8}-\\x{104fb}\\x{10c80}-\\x{10cb2}\\x{10cc0}-\\x{10cf2}"
    "\\x{118a0}-\\x{118df}\\x{1e900}-\\x{1e943}]+",
    "\\s?[!-/:-~\\x{ff01}-\\x{ff0f}\\x{ff1a}-\\x{ff5e}\\x{2018}-\\x{201f}\\x{3000}-\\x{3002}]+",
    "\\s+$",
    "[\\x{4e00}-\\x{9fa5}\\x{800}-\\x{4e00}\\x{ac00}-\\x{d7ff}]+",
    "\\p{N}+",
    NULL};
static const char *const DEEPSEEK_CODER[] = {
    "[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\\x{4e00}-\\x{9fa5}\\x{800}-\\x{4e00}\\x{ac00}-\\x{d7ff}]+",
    "\\p{N}", NULL};
static const char *const DEEPSEEK3[] = {
    "\\p{N}{1,3}",
    "[\\x{4e00}-\\x{9fa5}\\x{3040}-\\x{309f}\\x{30a0}-\\x{30ff}]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
    " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const TEKKEN[] = {
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|"
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const GPT4O[] = {
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" CONTRACTIONS "?|"
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" CONTRACTIONS "?|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
#define BLOOM_PATTERN " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{ff0c}\\x{3001}\\x{964}\\x{6d4}\\x{60c})]+"
static const char *const BLOOM[] = {BLOOM_PATTERN, NULL};
static const char *const VIKING[] = {BLOOM_PATTERN, "\\p{N}", NULL};

static const bpe_pre_family FAMILIES[] = {
    /* names, patterns, nfc, ignore_merges, add_bos */
    {"default", DEFAULT, false, false, false},
    {"llama3 llama-v3 llama-bpe falcon3 falcon-h1 pixtral midm-2.0 lfm2", LLAMA3, false, true, true},
    {"dbrx smaug-bpe chatglm-bpe", LLAMA3, false, false, false},
    {"glm4", LLAMA3, false, true, false},
    {"gpt-2 phi-2 mpt olmo jais trillion jina-es jina-de jina-v2-es jina-v2-de jina-v1-en "
     "jina-v2-code roberta-bpe gigachat a.x-4.0 mellum modern-bert exaone4",
     GPT2, false, false, false},
    {"starcoder refact command-r smollm codeshell exaone minerva-7b", STARCODER, false, false, false},
    {"qwen2 deepseek-r1-qwen", QWEN2, true, false, false},
    {"megrez stablelm2", QWEN2, false, false, false},
    {"qwen35", QWEN35, false, false, false},
    {"falcon", FALCON, false, false, false},
    {"deepseek-llm", DEEPSEEK_LLM, false, false, false},
    {"deepseek-coder", DEEPSEEK_CODER, false, false, false},
    {"deepseek-v3", DEEPSEEK3, false, false, false},
    {"tekken", TEKKEN, false, true, true},
    {"gpt-4o llama4", GPT4O, false, false, false},
    {"bloom poro-chat gpt3-finnish", BLOOM, false, false, false},
    {"viking", VIKING, false, false, false},
};

static bool name_in(const char *names, const char *name, size_t len)
{
    for (const char *p = names; *p;) {
        size_t n = strcspn(p, " ");
        if (n == len && !memcmp(p, name, len))
            return true;
        p += n + (p[n] == ' ');
    }
    return false;
}

const bpe_pre_family *ia__bpe_pre_family(const char *name, size_t len)
{
    for (size_t i = 0; i < IA_ARRAY_LEN(FAMILIES); i++)
        if (name_in(FAMILIES[i].names, name, len))
            return &FAMILIES[i];
    return NULL;
}

void ia__bpe_pre_names(char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < IA_ARRAY_LEN(FAMILIES) && n < cap; i++)
        for (const char *p = FAMILIES[i].names; *p && n < cap;) {
            size_t k = strcspn(p, " ");
            n += (size_t)snprintf(buf + n, cap - n, "%s%.*s", n ? ", " : "", (int)k, p);
            p += k + (p[k] == ' ');
        }
}

/* ---- compiling patterns ----------------------------------------------- */

ia_status ia__bpe_add_op(ia_bpe *b, bpe_op *op)
{
    bpe_op *ops = ia__realloc(b->ops, (b->n_ops + 1) * sizeof *ops);
    if (!ops) {
        pcre2_code_free(op->re);
        ia__free(op->str);
        ia__free(op->from);
        return ia__error(IA_ERR_NOMEM, "out of memory");
    }
    b->ops = ops;
    b->ops[b->n_ops++] = *op;
    *op = (bpe_op){0};
    return IA_OK;
}

ia_status ia__bpe_op_split(ia_bpe *b, bpe_op *op, const char *pattern, size_t len, bool literal,
                           bpe_split_behavior behavior, bool invert, const char *what)
{
    /* \s -> \p{WSpace}, \S -> \P{WSpace}; other escapes stay as they are. */
    ia_textbuf pat = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < len; i++) {
        if (!literal && pattern[i] == '\\' && i + 1 < len) {
            char c = pattern[++i];
            if (c == 's')
                ok = ia__textbuf_put(&pat, "\\p{WSpace}", 10);
            else if (c == 'S')
                ok = ia__textbuf_put(&pat, "\\P{WSpace}", 10);
            else
                ok = ia__textbuf_put(&pat, pattern + i - 1, 2);
        } else {
            ok = ia__textbuf_put(&pat, pattern + i, 1);
        }
    }
    if (!ok) {
        ia__free(pat.p);
        return ia__error(IA_ERR_NOMEM, "out of memory");
    }
    pcre2_compile_context *cc = pcre2_compile_context_create(b->gctx);
    if (!cc) {
        ia__free(pat.p);
        return ia__error(IA_ERR_NOMEM, "out of memory");
    }
    int err;
    PCRE2_SIZE at;
    uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP | PCRE2_MULTILINE);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(pat.p ? pat.p : ""), pat.n, opts, &err, &at, cc);
    pcre2_compile_context_free(cc);
    ia__free(pat.p);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        if (err == PCRE2_ERROR_HEAP_FAILED)
            return ia__error(IA_ERR_NOMEM, "out of memory");
        return ia__error(IA_ERR_UNSUPPORTED, "%s: pattern \"%.*s%s\" cannot be compiled at offset %zu: %s",
                         what, (int)IA_MIN(len, 60), pattern, len > 60 ? "..." : "", (size_t)at,
                         (const char *)msg);
    }
    /* JIT where the platform has it; the interpreter otherwise. */
    if (pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == PCRE2_ERROR_NOMEMORY) {
        pcre2_code_free(re);
        return ia__error(IA_ERR_NOMEM, "out of memory");
    }
    uint32_t groups = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &groups);
    b->max_groups = IA_MAX(b->max_groups, groups + 1);
    *op = (bpe_op){.kind = BPE_OP_SPLIT, .re = re, .behavior = behavior, .invert = invert};
    return IA_OK;
}

void ia__bpe_ops_free(ia_bpe *b)
{
    for (size_t i = 0; i < b->n_ops; i++) {
        pcre2_code_free(b->ops[i].re);
        ia__free(b->ops[i].str);
        ia__free(b->ops[i].from);
    }
    ia__free(b->ops);
    b->ops = NULL;
    b->n_ops = 0;
}

/* ---- running the steps ------------------------------------------------ */

static bool push_piece(bpe_pieces *p, size_t off, size_t len, bool first)
{
    bpe_piece *v = ia__grow(p->v, p->n, &p->cap, sizeof *v, 16);
    if (!v)
        return false;
    p->v = v;
    p->v[p->n++] = (bpe_piece){off, len, first};
    return true;
}

static size_t utf8_next(const char *s, size_t n, size_t i)
{
    i++;
    while (i < n && ((unsigned char)s[i] & 0xc0) == 0x80)
        i++;
    return i;
}

/* The pattern's matches in piece p of text, as `tokenizers` finds them:
 * (range, is_match) in order, covering the piece. In w->segs, `first`
 * holding is_match. */
static ia_status find_matches(bpe_work *w, const bpe_op *op, const char *text, const bpe_piece *p)
{
    const char *s = text + p->off;
    size_t n = p->len, start = 0, last = 0;
    w->segs.n = 0;
    while (start <= n) {
        int rc = pcre2_match(op->re, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, w->md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            rc = pcre2_match(op->re, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                             w->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc == PCRE2_ERROR_NOMEMORY)
            return ia__error(IA_ERR_NOMEM, "out of memory");
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return ia__error(IA_ERR_INVALID, "pre-tokenizer pattern failed on a piece of %zu bytes: %s",
                             n, (const char *)msg);
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
        size_t ms = ov[0], me = ov[1];
        if (me < ms || me > n) /* \K tricks; none of ours */
            return ia__error(IA_ERR_INVALID, "pre-tokenizer pattern gave an odd match");
        if (ms > last && !push_piece(&w->segs, last, ms - last, false))
            return ia__error(IA_ERR_NOMEM, "out of memory");
        if (!push_piece(&w->segs, ms, me - ms, true))
            return ia__error(IA_ERR_NOMEM, "out of memory");
        last = me;
        if (me == ms) { /* an empty match: search on from the next character */
            if (ms >= n)
                break;
            start = utf8_next(s, n, ms);
        } else {
            start = me;
        }
    }
    if (last < n && !push_piece(&w->segs, last, n - last, false))
        return ia__error(IA_ERR_NOMEM, "out of memory");
    return IA_OK;
}

/* Apply the split behaviour to w->segs (relative to p) and append the
 * resulting non-empty pieces to out. */
static bool emit_split(bpe_work *w, const bpe_op *op, const bpe_piece *p, bpe_pieces *out)
{
    bpe_piece *sg = w->segs.v;
    size_t n = w->segs.n;
    if (op->invert)
        for (size_t i = 0; i < n; i++)
            sg[i].first = !sg[i].first;
    /* Fold into (range, is_match) groups in place, as split.rs does. */
    size_t m = 0;
    bool prev_match = false;
    switch (op->behavior) {
    case BPE_SPLIT_ISOLATED:
    case BPE_SPLIT_REMOVED:
        m = n;
        break;
    case BPE_SPLIT_MERGED_WITH_PREVIOUS:
        for (size_t i = 0; i < n; i++) {
            bool is = sg[i].first;
            if (is && !prev_match && m > 0)
                sg[m - 1].len = sg[i].off + sg[i].len - sg[m - 1].off;
            else
                sg[m++] = sg[i];
            prev_match = is;
        }
        break;
    case BPE_SPLIT_MERGED_WITH_NEXT: {
        /* Right to left: a match joins the group after it. */
        size_t k = n;
        for (size_t i = n; i-- > 0;) {
            bool is = sg[i].first;
            if (is && !prev_match && k < n) {
                sg[k].len += sg[k].off - sg[i].off;
                sg[k].off = sg[i].off;
            } else {
                sg[--k] = sg[i];
            }
            prev_match = is;
        }
        memmove(sg, sg + k, (n - k) * sizeof *sg);
        m = n - k;
        break;
    }
    case BPE_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < n; i++) {
            bool is = sg[i].first;
            if (m > 0 && is == prev_match)
                sg[m - 1].len = sg[i].off + sg[i].len - sg[m - 1].off;
            else
                sg[m++] = sg[i];
            prev_match = is;
        }
        break;
    }
    for (size_t i = 0; i < m; i++) {
        if (!sg[i].len || (op->behavior == BPE_SPLIT_REMOVED && sg[i].first))
            continue;
        if (!push_piece(out, p->off + sg[i].off, sg[i].len, p->first && sg[i].off == 0))
            return false;
    }
    return true;
}

static bool starts_with(const char *s, size_t n, const char *pre, size_t pn)
{
    return n >= pn && !memcmp(s, pre, pn);
}

/* Rewrite piece p of text into dst (PREPEND, REPLACE, UNICODE). */
static ia_status rewrite(bpe_work *w, const bpe_op *op, const char *text, const bpe_piece *p,
                         ia_textbuf *dst, bpe_pieces *out)
{
    const char *s = text + p->off;
    size_t n = p->len, at = dst->n;
    bool ok = true;
    switch (op->kind) {
    case BPE_OP_PREPEND: {
        bool add = n > 0;
        if (op->when != BPE_PREPEND_ALWAYS)
            add = !starts_with(s, n, op->str, op->len) && (op->when != BPE_PREPEND_FIRST || p->first);
        if (add)
            ok = ia__textbuf_put(dst, op->str, op->len);
        ok = ok && ia__textbuf_put(dst, s, n);
        break;
    }
    case BPE_OP_REPLACE:
        for (size_t i = 0; ok && i < n;) {
            if (op->from_len && starts_with(s + i, n - i, op->from, op->from_len)) {
                ok = ia__textbuf_put(dst, op->str, op->len);
                i += op->from_len;
            } else {
                size_t j = utf8_next(s, n, i);
                ok = ia__textbuf_put(dst, s + i, j - i);
                i = j;
            }
        }
        break;
    case BPE_OP_UNICODE: {
        size_t ascii = 0;
        while (ascii < n && (unsigned char)s[ascii] < 0x80)
            ascii++;
        if (ascii == n) { /* every normalization form leaves ASCII alone */
            ok = ia__textbuf_put(dst, s, n);
            break;
        }
        char *norm;
        size_t len;
        ia_status rc = ia__utf8_normalize(s, n, op->uopts, &norm, &len);
        if (rc)
            return rc;
        ok = ia__textbuf_put(dst, norm, len);
        ia__free(norm);
        break;
    }
    case BPE_OP_BYTES:
        for (size_t i = 0; ok && i < n; i++) {
            int32_t c = ia__bpe_byte_char((unsigned char)s[i]);
            char u[2] = {(char)(c < 0x80 ? c : 0xc0 | (c >> 6)), (char)(0x80 | (c & 0x3f))};
            ok = ia__textbuf_put(dst, u, c < 0x80 ? 1 : 2);
        }
        break;
    case BPE_OP_SPLIT:
        break;
    }
    if (!ok)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    if (dst->n > at && !push_piece(out, at, dst->n - at, p->first))
        return ia__error(IA_ERR_NOMEM, "out of memory");
    return IA_OK;
}

ia_status ia__bpe_steps(bpe_work *w, const char *seg, size_t len, bool at_start,
                        const char **text, const bpe_pieces **pcs)
{
    const ia_bpe *b = w->b;
    int t = 0, p = 0; /* which text and piece list are current */
    w->text[0].n = 0;
    w->pcs[0].n = 0;
    const char *cur = seg; /* the segment itself until a step rewrites it */
    if (!push_piece(&w->pcs[0], 0, len, at_start))
        return ia__error(IA_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < b->n_ops; i++) {
        const bpe_op *op = &b->ops[i];
        bpe_pieces *in = &w->pcs[p], *out = &w->pcs[1 - p];
        out->n = 0;
        if (op->kind == BPE_OP_SPLIT) {
            for (size_t k = 0; k < in->n; k++) {
                ia_status rc = find_matches(w, op, cur, &in->v[k]);
                if (rc)
                    return rc;
                if (!emit_split(w, op, &in->v[k], out))
                    return ia__error(IA_ERR_NOMEM, "out of memory");
            }
        } else {
            ia_textbuf *dst = &w->text[1 - t];
            dst->n = 0;
            for (size_t k = 0; k < in->n; k++) {
                ia_status rc = rewrite(w, op, cur, &in->v[k], dst, out);
                if (rc)
                    return rc;
            }
            t = 1 - t;
            cur = dst->p ? dst->p : "";
        }
        p = 1 - p;
    }
    *text = cur;
    *pcs = &w->pcs[p];
    return IA_OK;
}
