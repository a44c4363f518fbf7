/*
 * Building a BPE tokenizer (bpe-impl.h) from the tokenizer.ggml.* metadata
 * of a GGUF file, as llama.cpp reads it (llama-vocab.cpp), or from a
 * Hugging Face tokenizer.json, as `tokenizers` reads it. Both end in the
 * same layout: the vocabulary with token flags, the merge table (or score
 * ranks), the text steps, the added-token matcher, the decoded piece of
 * every token and the special ids.
 *
 * GGUF token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5
 * unused, 6 byte. Control and unknown tokens are special (matched in text
 * only with parse_special); user-defined ones are matched always; both are
 * stored as plain text, not byte-level spelled (convert_hf_to_gguf.py
 * writes them decoded).
 */
#include <cjson/cJSON.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "model/gguf-impl.h"
#include "tokenizer/bpe-impl.h"

static ia_status nomem(void)
{
    return ia__error(IA_ERR_NOMEM, "out of memory");
}

/* ---- shared ----------------------------------------------------------- */

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

ia_status ia__bpe_new(ia_bpe **out)
{
    ia_bpe *b = ia__calloc(1, sizeof *b);
    if (!b)
        return nomem();
    b->bos = b->eos = b->eot = b->pad = b->unk_fallback = -1;
    for (int i = 0; i < 256; i++)
        b->byte_id[i] = -1;
    if (!(b->gctx = pcre2_general_context_create(pmalloc, pfree, NULL))) {
        ia__free(b);
        return nomem();
    }
    *out = b;
    return IA_OK;
}

/* Make room for the merge table of up to n merges. */
static ia_status merges_init(ia_bpe *b, size_t n)
{
    b->mcap = 16;
    while (b->mcap < n * 2)
        b->mcap *= 2;
    b->mkeys = ia__malloc(b->mcap * sizeof *b->mkeys);
    b->mrank = ia__malloc(b->mcap * sizeof *b->mrank);
    b->mid = ia__malloc(b->mcap * sizeof *b->mid);
    if (!b->mkeys || !b->mrank || !b->mid)
        return nomem();
    memset(b->mkeys, 0xff, b->mcap * sizeof *b->mkeys);
    return IA_OK;
}

/* Add merge (l, r) -> id of rank; a pair given twice keeps its first rank. */
static void merge_add(ia_bpe *b, int32_t l, int32_t r, uint32_t rank, int32_t id)
{
    uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    size_t i = ia__bpe_merge_slot(key, b->mcap);
    while (b->mkeys[i] != UINT64_MAX) {
        if (b->mkeys[i] == key)
            return;
        i = (i + 1) & (b->mcap - 1);
    }
    b->mkeys[i] = key;
    b->mrank[i] = rank;
    b->mid[i] = id;
    b->n_merges++;
}

/* Merge "left right" given as two strings: look both and their
 * concatenation up. `what` names the merge in messages. */
static ia_status merge_strings(ia_bpe *b, const char *l, size_t ln, const char *r, size_t rn,
                               uint32_t rank, ia_textbuf *tmp, const char *what)
{
    int32_t li = ia__vocab_find(&b->vocab, l, ln), ri = ia__vocab_find(&b->vocab, r, rn);
    if (li < 0 || ri < 0)
        return ia__error(IA_ERR_FORMAT, "%s: unknown token '%.*s'", what,
                         (int)IA_MIN(li < 0 ? ln : rn, 100), li < 0 ? l : r);
    tmp->n = 0;
    if (!ia__textbuf_put(tmp, l, ln) || !ia__textbuf_put(tmp, r, rn))
        return nomem();
    int32_t id = ia__vocab_find(&b->vocab, tmp->p, tmp->n);
    if (id < 0)
        return ia__error(IA_ERR_FORMAT, "%s: '%.*s' + '%.*s' is not a token", what,
                         (int)IA_MIN(ln, 100), l, (int)IA_MIN(rn, 100), r);
    /* A merge never spells a special token: user text cannot become one. */
    if (!(b->flags[id] & BPE_SPECIAL))
        merge_add(b, li, ri, rank, id);
    return IA_OK;
}

static ia_status add_added(ia_bpe *b, int32_t id, bool special, bool lstrip, bool rstrip,
                           bool single_word)
{
    const char *t = b->vocab.tokens[id];
    if (!t || !b->vocab.lens[id])
        return IA_OK;
    bpe_added *a = ia__grow(b->added, b->n_added, &b->added_cap, sizeof *a, 16);
    if (!a)
        return nomem();
    b->added = a;
    b->added[b->n_added++] = (bpe_added){.id = id, .len = b->vocab.lens[id], .text = t,
                                         .special = special, .lstrip = lstrip,
                                         .rstrip = rstrip, .single_word = single_word};
    b->flags[id] |= BPE_ADDED | (special ? BPE_SPECIAL : 0);
    return IA_OK;
}

static int added_cmp(const void *pa, const void *pb)
{
    const bpe_added *a = pa, *b = pb;
    unsigned ca = (unsigned char)a->text[0], cb = (unsigned char)b->text[0];
    if (ca != cb)
        return ca < cb ? -1 : 1;
    if (a->len != b->len)
        return a->len > b->len ? -1 : 1; /* longest first */
    return a->id < b->id ? -1 : a->id > b->id;
}

static bool is_eog_name(const char *t)
{
    static const char *const names[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>",
        "<|endoftext|>", "<|eom_id|>", "<EOT>", "<|end_of_text|>", "<｜end▁of▁sentence｜>"};
    for (size_t i = 0; i < IA_ARRAY_LEN(names); i++)
        if (!strcmp(t, names[i]))
            return true;
    return false;
}

static void eog_add(ia_bpe *b, int32_t id)
{
    if (id < 0 || b->n_eog == BPE_MAX_EOG)
        return;
    for (size_t i = 0; i < b->n_eog; i++)
        if (b->eog[i] == id)
            return;
    b->eog[b->n_eog++] = id;
}

/* The decoded bytes of token id into out. */
static bool piece_of(const ia_bpe *b, int32_t id, ia_textbuf *out)
{
    const char *t = b->vocab.tokens[id];
    size_t n = b->vocab.lens[id];
    if (!t)
        return true;
    if (b->flags[id] & BPE_BYTE) {
        unsigned v = 0;
        sscanf(t + 3, "%2x", &v);
        char c = (char)v;
        return ia__textbuf_put(out, &c, 1);
    }
    /* Added tokens are plain text (GGUF stores them so, and llama.cpp
     * prints them as they are). */
    if (b->flags[id] & BPE_ADDED)
        return ia__textbuf_put(out, t, n);
    if (b->byte_level) {
        /* Every character back to its byte; a token with any other
         * character stands for itself, as tokenizers' ByteLevel decoder has it. */
        size_t at = out->n;
        for (size_t i = 0; i < n;) {
            utf8proc_int32_t c;
            utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)t + i,
                                                  (utf8proc_ssize_t)(n - i), &c);
            int byte = k > 0 ? ia__bpe_char_byte(c) : -1;
            if (byte < 0) {
                out->n = at;
                return ia__textbuf_put(out, t, n);
            }
            char ch = (char)byte;
            if (!ia__textbuf_put(out, &ch, 1))
                return false;
            i += (size_t)k;
        }
        return true;
    }
    /* SentencePiece: "▁" stands for a space. */
    for (size_t i = 0; i < n;) {
        if (n - i >= 3 && !memcmp(t + i, "\xe2\x96\x81", 3)) {
            if (!ia__textbuf_put(out, " ", 1))
                return false;
            i += 3;
        } else {
            if (!ia__textbuf_put(out, t + i, 1))
                return false;
            i++;
        }
    }
    return true;
}

/* Merges by score as a pair table: every token that splits (at a
 * character boundary) into two tokens is the merge of that pair, ranked by
 * its score. The same as looking the concatenation of two neighbours up,
 * as llama.cpp does, without hashing strings in the merge loop. */
static ia_status score_pairs(ia_bpe *b)
{
    size_t n = b->vocab.n, pairs = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t t = 0; t < n; t++) {
            const char *s = b->vocab.tokens[t];
            size_t len = b->vocab.lens[t];
            if (!s || (b->flags[t] & BPE_SPECIAL))
                continue;
            for (size_t k = 1; k < len; k++) {
                if (((unsigned char)s[k] & 0xc0) == 0x80)
                    continue;
                int32_t l = ia__vocab_find(&b->vocab, s, k), r = ia__vocab_find(&b->vocab, s + k, len - k);
                if (l < 0 || r < 0)
                    continue;
                if (pass)
                    merge_add(b, l, r, b->score_rank[t], (int32_t)t);
                else
                    pairs++;
            }
        }
        if (!pass) {
            ia_status rc = merges_init(b, pairs);
            if (rc)
                return rc;
        }
    }
    return IA_OK;
}

struct scored {
    float score;
    int32_t id;
};

static int scored_cmp(const void *pa, const void *pb)
{
    const struct scored *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* What both loaders do once the vocabulary, flags, merges, steps and added
 * tokens are in place. scores: SentencePiece token scores (merges by
 * score), else NULL. */
static ia_status finish(ia_bpe *b, const float *scores)
{
    size_t n = b->vocab.n;
    /* The byte tokens. */
    for (int c = 0; c < 256; c++) {
        char s[8];
        size_t len;
        if (b->byte_level) {
            int32_t u = ia__bpe_byte_char(c);
            len = u < 0x80 ? 1 : 2;
            s[0] = (char)(u < 0x80 ? u : 0xc0 | (u >> 6));
            s[1] = (char)(0x80 | (u & 0x3f));
        } else {
            len = (size_t)snprintf(s, sizeof s, "<0x%02X>", c);
        }
        int32_t id = ia__vocab_find(&b->vocab, s, len);
        if (id >= 0 && (b->flags[id] & BPE_SPECIAL))
            id = -1;
        b->byte_id[c] = id;
        if (id >= 0 && !b->byte_level)
            b->flags[id] |= BPE_BYTE;
    }
    /* The added-token matcher: by first byte, longest first. */
    if (b->n_added)
        qsort(b->added, b->n_added, sizeof *b->added, added_cmp);
    for (unsigned c = 0, k = 0; c <= 256; c++) {
        while (k < b->n_added && (unsigned char)b->added[k].text[0] < c)
            k++;
        b->added_at[c] = k;
    }
    b->added_at[256] = (uint32_t)b->n_added;
    /* Decoded pieces. */
    ia_textbuf arena = {0};
    if (!(b->piece_at = ia__malloc((n + 1) * sizeof *b->piece_at)))
        return nomem();
    for (size_t id = 0; id < n; id++) {
        b->piece_at[id] = arena.n;
        if (!piece_of(b, (int32_t)id, &arena)) {
            ia__free(arena.p);
            return nomem();
        }
    }
    b->piece_at[n] = arena.n;
    b->pieces = arena.p ? arena.p : ia__calloc(1, 1);
    if (!b->pieces)
        return nomem();
    /* Score ranks: tokens by score, highest first; equal scores share a rank. */
    if (scores) {
        struct scored *v = ia__malloc((n ? n : 1) * sizeof *v);
        if (!v || !(b->score_rank = ia__malloc((n ? n : 1) * sizeof *b->score_rank))) {
            ia__free(v);
            return nomem();
        }
        for (size_t i = 0; i < n; i++)
            v[i] = (struct scored){scores[i], (int32_t)i};
        qsort(v, n, sizeof *v, scored_cmp);
        uint32_t rank = 0;
        for (size_t i = 0; i < n; i++) {
            if (i > 0 && v[i].score != v[i - 1].score)
                rank = (uint32_t)i;
            b->score_rank[v[i].id] = rank;
        }
        ia__free(v);
        ia_status rc = score_pairs(b);
        if (rc)
            return rc;
    }
    /* End of generation: eos, eot, and the special tokens that end a turn. */
    if (b->eot < 0) {
        static const char *const eot_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>",
                                                "<end_of_turn>", "<|endoftext|>", "<EOT>"};
        for (size_t i = 0; b->eot < 0 && i < IA_ARRAY_LEN(eot_names); i++) {
            int32_t id = ia__vocab_find(&b->vocab, eot_names[i], strlen(eot_names[i]));
            if (id >= 0 && (b->flags[id] & BPE_SPECIAL))
                b->eot = id;
        }
    }
    eog_add(b, b->eos);
    eog_add(b, b->eot);
    for (size_t i = 0; i < b->n_added; i++)
        if (b->added[i].special && is_eog_name(b->added[i].text))
            eog_add(b, b->added[i].id);
    return IA_OK;
}

static ia_status push_id(int32_t **v, size_t *n, int32_t id)
{
    int32_t *a = ia__realloc(*v, (*n + 1) * sizeof *a);
    if (!a)
        return nomem();
    a[(*n)++] = id;
    *v = a;
    return IA_OK;
}

static ia_status add_text_op(ia_bpe *b, bpe_op_kind kind, const char *str, const char *from,
                             bpe_prepend_when when, int uopts)
{
    bpe_op op = {.kind = kind, .when = when, .uopts = uopts};
    op.str = str ? ia__strdup(str) : NULL;
    op.from = from ? ia__strdup(from) : NULL;
    if ((str && !op.str) || (from && !op.from)) {
        ia__free(op.str);
        ia__free(op.from);
        return nomem();
    }
    op.len = str ? strlen(str) : 0;
    op.from_len = from ? strlen(from) : 0;
    return ia__bpe_add_op(b, &op);
}

static ia_status add_split(ia_bpe *b, const char *pattern, size_t len, bool literal,
                           bpe_split_behavior behavior, bool invert, const char *what)
{
    bpe_op op;
    ia_status rc = ia__bpe_op_split(b, &op, pattern, len, literal, behavior, invert, what);
    return rc ? rc : ia__bpe_add_op(b, &op);
}

/* ---- GGUF ------------------------------------------------------------- */

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

static bool str_is(const char *s, size_t n, const char *lit)
{
    return n == strlen(lit) && !memcmp(s, lit, n);
}

/* An optional token id key: -1 when absent; out of range: logged, -1. */
static ia_status gguf_id(const ia_gguf *g, const char *key, size_t n_vocab, int32_t *id)
{
    int64_t v;
    ia_status rc = ia__gguf_get_int(g, key, INT64_MIN, INT64_MAX, &v);
    if (rc == IA_ERR_NOT_FOUND) {
        ia__error_clear();
        return IA_OK;
    }
    if (rc)
        return rc;
    if (v < 0 || (uint64_t)v >= n_vocab) {
        ia__log(IA_LOG_WARN, "%s: %s = %lld is outside the vocabulary of %zu tokens; ignored",
                ia__gguf_path(g), key, (long long)v, n_vocab);
        *id = -1;
        return IA_OK;
    }
    *id = (int32_t)v;
    return IA_OK;
}

static ia_status gguf_bool(const ia_gguf *g, const char *key, bool *v)
{
    ia_status rc = ia__gguf_get_bool(g, key, v);
    if (rc == IA_ERR_NOT_FOUND) {
        ia__error_clear();
        return IA_OK;
    }
    return rc;
}

static ia_status gguf_load(ia_bpe *b, const ia_gguf *g)
{
    const char *path = ia__gguf_path(g);
    const char *model, *pre = "default";
    size_t model_len, pre_len = 7;
    ia_status rc = ia__gguf_get_str(g, "tokenizer.ggml.model", &model, &model_len);
    if (rc)
        return rc;
    bool spm = str_is(model, model_len, "llama"), bytelevel = str_is(model, model_len, "gpt2");
    if (!spm && !bytelevel)
        return ia__error(IA_ERR_UNSUPPORTED,
                         "%s: tokenizer.ggml.model \"%.*s\" is not supported (supported: gpt2, llama)",
                         path, (int)IA_MIN(model_len, 64), model);
    ia_gguf_value tokens, types = {0}, scores = {0}, merges = {0};
    bool has_types = false, has_scores = false;
    if ((rc = ia__gguf_get_array(g, "tokenizer.ggml.tokens", IA_GGUF_STRING, &tokens)))
        return rc;
    size_t n = (size_t)tokens.n;
    if (n == 0 || tokens.n > INT32_MAX)
        return ia__error(IA_ERR_FORMAT, "%s: tokenizer.ggml.tokens has %llu tokens", path,
                         (unsigned long long)tokens.n);
    if (ia__gguf_find(g, "tokenizer.ggml.token_type")) {
        if ((rc = ia__gguf_get_array(g, "tokenizer.ggml.token_type", IA_GGUF_TYPE_COUNT, &types)))
            return rc;
        if (types.n < n)
            return ia__error(IA_ERR_FORMAT, "%s: tokenizer.ggml.token_type has %llu entries for %zu tokens",
                             path, (unsigned long long)types.n, n);
        has_types = true;
    }
    if (ia__gguf_find(g, "tokenizer.ggml.scores")) {
        if ((rc = ia__gguf_get_array(g, "tokenizer.ggml.scores", IA_GGUF_TYPE_COUNT, &scores)))
            return rc;
        if (scores.n < n)
            return ia__error(IA_ERR_FORMAT, "%s: tokenizer.ggml.scores has %llu entries for %zu tokens",
                             path, (unsigned long long)scores.n, n);
        has_scores = true;
    }
    if ((rc = ia__vocab_init(&b->vocab, n)))
        return rc;
    if (!(b->flags = ia__calloc(n, 1)))
        return nomem();
    ia_gguf_iter it = ia__gguf_iter(&tokens);
    ia_gguf_value e;
    for (size_t i = 0; ia__gguf_next(&it, &e); i++) {
        const char *s;
        size_t len;
        char empty[32];
        if ((rc = ia__gguf_value_str(&e, &s, &len)))
            return rc;
        if (!len) { /* as llama.cpp does */
            len = (size_t)snprintf(empty, sizeof empty, "[EMPTY_%zu]", i);
            s = empty;
        }
        if ((rc = ia__vocab_set(&b->vocab, (int32_t)i, s, len)))
            return ia__error_wrap(rc, "%s: tokenizer.ggml.tokens[%zu]", path, i);
    }
    if ((rc = ia__vocab_index(&b->vocab)))
        return ia__error_wrap(rc, "%s: tokenizer.ggml.tokens", path);

    /* Special ids and flags. */
    int32_t unk = spm ? 0 : -1, eom = -1;
    if (spm) {
        b->bos = 1;
        b->eos = 2;
    }
    struct { const char *key; int32_t *id; } ids[] = {
        {"tokenizer.ggml.bos_token_id", &b->bos},     {"tokenizer.ggml.eos_token_id", &b->eos},
        {"tokenizer.ggml.eot_token_id", &b->eot},     {"tokenizer.ggml.eom_token_id", &eom},
        {"tokenizer.ggml.unknown_token_id", &unk},    {"tokenizer.ggml.padding_token_id", &b->pad},
    };
    for (size_t i = 0; i < IA_ARRAY_LEN(ids); i++)
        if ((rc = gguf_id(g, ids[i].key, n, ids[i].id)))
            return rc;
    if ((size_t)b->bos >= n)
        b->bos = -1;
    if ((size_t)b->eos >= n)
        b->eos = -1;
    if (unk >= 0 && (size_t)unk >= n)
        unk = -1;
    for (size_t i = 0; has_types && i < n; i++) {
        ia_gguf_value v;
        int64_t t;
        if ((rc = ia__gguf_array_at(&types, i, &v)) ||
            (rc = ia__gguf_value_int(&v, INT32_MIN, INT32_MAX, &t)))
            return rc;
        if (t == TT_CONTROL || t == TT_UNKNOWN || t == TT_USER)
            if ((rc = add_added(b, (int32_t)i, t != TT_USER, false, false, false)))
                return rc;
    }

    bool ignore_merges = false, add_bos = spm, add_eos = false, add_space_prefix = true;
    float *raw = NULL; /* SentencePiece scores */
    if (bytelevel) {
        b->byte_level = true;
        if (ia__gguf_find(g, "tokenizer.ggml.pre") &&
            (rc = ia__gguf_get_str(g, "tokenizer.ggml.pre", &pre, &pre_len)))
            return rc;
        const bpe_pre_family *fam = ia__bpe_pre_family(pre, pre_len);
        if (!fam) {
            char names[600];
            ia__bpe_pre_names(names, sizeof names);
            return ia__error(IA_ERR_UNSUPPORTED,
                             "%s: tokenizer.ggml.pre \"%.*s\" is not supported (supported: %s)", path,
                             (int)IA_MIN(pre_len, 64), pre, names);
        }
        const char *const *pats = fam->patterns;
        ignore_merges = fam->ignore_merges;
        add_bos = fam->add_bos;
        if (fam->nfc && (rc = add_text_op(b, BPE_OP_UNICODE, NULL, NULL, BPE_PREPEND_ALWAYS,
                                          UTF8PROC_STABLE | UTF8PROC_COMPOSE)))
            return rc;
        char what[160];
        snprintf(what, sizeof what, "%s: tokenizer.ggml.pre \"%.*s\"", path, (int)IA_MIN(pre_len, 64), pre);
        bool mapped = false;
        for (size_t i = 0; pats[i]; i++) {
            if (!pats[i][0]) {
                mapped = true;
                rc = add_text_op(b, BPE_OP_BYTES, NULL, NULL, BPE_PREPEND_ALWAYS, 0);
            } else {
                rc = add_split(b, pats[i], strlen(pats[i]), false, BPE_SPLIT_ISOLATED, false, what);
            }
            if (rc)
                return rc;
        }
        if (!mapped && (rc = add_text_op(b, BPE_OP_BYTES, NULL, NULL, BPE_PREPEND_ALWAYS, 0)))
            return rc;
        if ((rc = ia__gguf_get_array(g, "tokenizer.ggml.merges", IA_GGUF_STRING, &merges)))
            return rc;
        if ((rc = merges_init(b, (size_t)merges.n)))
            return rc;
        ia_textbuf tmp = {0};
        it = ia__gguf_iter(&merges);
        for (uint64_t i = 0; !rc && ia__gguf_next(&it, &e); i++) {
            const char *s;
            size_t len;
            if ((rc = ia__gguf_value_str(&e, &s, &len)))
                break;
            const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
            char what2[160];
            snprintf(what2, sizeof what2, "%s: tokenizer.ggml.merges[%llu]", path, (unsigned long long)i);
            if (!sp) {
                rc = ia__error(IA_ERR_FORMAT, "%s: \"%.*s\" is not two tokens", what2,
                               (int)IA_MIN(len, 100), s);
                break;
            }
            rc = merge_strings(b, s, (size_t)(sp - s), sp + 1, len - (size_t)(sp - s) - 1,
                               (uint32_t)i, &tmp, what2);
        }
        ia__free(tmp.p);
        if (rc)
            return rc;
    } else {
        /* SentencePiece BPE: merges by score, "▁" for spaces, a prefix
         * space, <0xNN> byte fallback. */
        if ((rc = gguf_bool(g, "tokenizer.ggml.add_space_prefix", &add_space_prefix)))
            return rc;
        b->by_score = true;
        b->byte_fallback = true;
        b->unk_fallback = unk;
        b->strip_space = add_space_prefix;
        if (!(raw = ia__calloc(n, sizeof *raw)))
            return nomem();
        for (size_t i = 0; has_scores && i < n; i++) {
            ia_gguf_value v;
            double d;
            if ((rc = ia__gguf_array_at(&scores, i, &v)))
                goto fail;
            if (v.type == IA_GGUF_F32 || v.type == IA_GGUF_F64) {
                if ((rc = ia__gguf_value_float(&v, &d)))
                    goto fail;
            } else {
                int64_t k;
                if ((rc = ia__gguf_value_int(&v, INT32_MIN, INT32_MAX, &k)))
                    goto fail;
                d = (double)k;
            }
            raw[i] = d == d ? (float)d : -FLT_MAX; /* a NaN ranks last */
        }
        if ((rc = add_text_op(b, BPE_OP_REPLACE, "\xe2\x96\x81", " ", BPE_PREPEND_ALWAYS, 0)))
            goto fail;
        if (add_space_prefix &&
            (rc = add_text_op(b, BPE_OP_PREPEND, "\xe2\x96\x81", NULL, BPE_PREPEND_ALWAYS, 0)))
            goto fail;
    }
    b->ignore_merges = ignore_merges;
    if ((rc = gguf_bool(g, "tokenizer.ggml.add_bos_token", &add_bos)) ||
        (rc = gguf_bool(g, "tokenizer.ggml.add_eos_token", &add_eos)))
        goto fail;
    if (add_bos && b->bos >= 0 && (rc = push_id(&b->prefix, &b->n_prefix, b->bos)))
        goto fail;
    if (add_eos && b->eos >= 0 && (rc = push_id(&b->suffix, &b->n_suffix, b->eos)))
        goto fail;
    rc = finish(b, raw);
fail:
    ia__free(raw);
    if (rc)
        return rc;
    eog_add(b, eom);
    if (spm)
        snprintf(b->describe, sizeof b->describe, "SentencePiece BPE (GGUF)");
    else
        snprintf(b->describe, sizeof b->describe, "byte-level BPE, pre-tokenizer %.*s (GGUF)",
                 (int)IA_MIN(pre_len, 40), pre);
    return IA_OK;
}

ia_status ia__bpe_from_gguf(const ia_gguf *g, ia_bpe **out)
{
    if (!g || !out)
        return ia__error(IA_ERR_INVALID, "ia__bpe_from_gguf: NULL argument");
    ia_bpe *b = NULL;
    ia_status rc = ia__bpe_new(&b);
    if (!rc)
        rc = gguf_load(b, g);
    if (rc) {
        ia__bpe_free(b);
        return rc;
    }
    *out = b;
    return IA_OK;
}

/* ---- tokenizer.json --------------------------------------------------- */

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static bool flag(const cJSON *o, const char *key, bool dflt)
{
    const cJSON *v = get(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static const char *type_of(const cJSON *o)
{
    const cJSON *t = get(o, "type");
    return cJSON_IsString(t) ? t->valuestring : "";
}

/* A JSON number that is a token id below limit. */
static bool json_id(const cJSON *v, double limit, int32_t *id)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= limit ||
        v->valuedouble != (double)(int32_t)v->valuedouble)
        return false;
    *id = (int32_t)v->valuedouble;
    return true;
}

#define MAX_JSON_VOCAB 1e8

typedef struct json_ctx {
    ia_bpe *b;
    const char *path;
    bool strip_decoder; /* the decoder drops the first space */
} json_ctx;

static ia_status json_normalizer(json_ctx *c, const cJSON *n, const char *where)
{
    ia_bpe *b = c->b;
    if (!n || cJSON_IsNull(n))
        return IA_OK;
    const char *t = type_of(n);
    ia_status rc = IA_OK;
    if (!strcmp(t, "Sequence")) {
        const cJSON *e;
        const cJSON *list = get(n, "normalizers");
        if (!cJSON_IsArray(list))
            return ia__error(IA_ERR_FORMAT, "%s: %s.normalizers must be an array", c->path, where);
        cJSON_ArrayForEach(e, list) if ((rc = json_normalizer(c, e, where))) return rc;
        return IA_OK;
    }
    if (!strcmp(t, "Prepend")) {
        const cJSON *p = get(n, "prepend");
        if (!cJSON_IsString(p))
            return ia__error(IA_ERR_FORMAT, "%s: %s: Prepend.prepend must be a string", c->path, where);
        return add_text_op(b, BPE_OP_PREPEND, p->valuestring, NULL, BPE_PREPEND_ALWAYS, 0);
    }
    if (!strcmp(t, "Replace")) {
        const cJSON *pat = get(n, "pattern"), *content = get(n, "content");
        const cJSON *str = get(pat, "String");
        if (!cJSON_IsString(str) || !cJSON_IsString(content))
            return ia__error(IA_ERR_UNSUPPORTED,
                             "%s: %s: Replace is supported with a String pattern and content",
                             c->path, where);
        return add_text_op(b, BPE_OP_REPLACE, content->valuestring, str->valuestring,
                           BPE_PREPEND_ALWAYS, 0);
    }
    static const struct { const char *name; int opts; } uni[] = {
        {"NFC", UTF8PROC_STABLE | UTF8PROC_COMPOSE},
        {"NFD", UTF8PROC_STABLE | UTF8PROC_DECOMPOSE},
        {"NFKC", UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT},
        {"NFKD", UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT},
    };
    for (size_t i = 0; i < IA_ARRAY_LEN(uni); i++)
        if (!strcmp(t, uni[i].name))
            return add_text_op(b, BPE_OP_UNICODE, NULL, NULL, BPE_PREPEND_ALWAYS, uni[i].opts);
    if (!strcmp(t, "ByteLevel")) {
        b->byte_level = true;
        return add_text_op(b, BPE_OP_BYTES, NULL, NULL, BPE_PREPEND_ALWAYS, 0);
    }
    return ia__error(IA_ERR_UNSUPPORTED,
                     "%s: %s type \"%s\" is not supported (supported: Sequence, Prepend, Replace, "
                     "NFC, NFD, NFKC, NFKD, ByteLevel)", c->path, where, t);
}

static ia_status behavior_of(json_ctx *c, const cJSON *n, bpe_split_behavior dflt,
                             bpe_split_behavior *out)
{
    static const struct { const char *name; bpe_split_behavior v; } names[] = {
        {"Isolated", BPE_SPLIT_ISOLATED}, {"Removed", BPE_SPLIT_REMOVED},
        {"MergedWithPrevious", BPE_SPLIT_MERGED_WITH_PREVIOUS},
        {"MergedWithNext", BPE_SPLIT_MERGED_WITH_NEXT}, {"Contiguous", BPE_SPLIT_CONTIGUOUS}};
    const cJSON *v = get(n, "behavior");
    *out = dflt;
    if (!v)
        return IA_OK;
    for (size_t i = 0; cJSON_IsString(v) && i < IA_ARRAY_LEN(names); i++)
        if (!strcmp(v->valuestring, names[i].name)) {
            *out = names[i].v;
            return IA_OK;
        }
    return ia__error(IA_ERR_FORMAT, "%s: pre_tokenizer: unknown split behavior", c->path);
}

static ia_status json_pre(json_ctx *c, const cJSON *n)
{
    ia_bpe *b = c->b;
    if (!n || cJSON_IsNull(n))
        return IA_OK;
    const char *t = type_of(n);
    char what[300];
    snprintf(what, sizeof what, "%s: pre_tokenizer %s", c->path, t);
    ia_status rc = IA_OK;
    bpe_split_behavior beh;
    if (!strcmp(t, "Sequence")) {
        const cJSON *e, *list = get(n, "pretokenizers");
        if (!cJSON_IsArray(list))
            return ia__error(IA_ERR_FORMAT, "%s: pre_tokenizer.pretokenizers must be an array", c->path);
        cJSON_ArrayForEach(e, list) if ((rc = json_pre(c, e))) return rc;
        return IA_OK;
    }
    if (!strcmp(t, "ByteLevel")) {
        static const char gpt2[] =
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
        b->byte_level = true;
        if (flag(n, "add_prefix_space", true) &&
            (rc = add_text_op(b, BPE_OP_PREPEND, " ", NULL, BPE_PREPEND_UNLESS_THERE, 0)))
            return rc;
        if (flag(n, "use_regex", true) &&
            (rc = add_split(b, gpt2, sizeof gpt2 - 1, false, BPE_SPLIT_ISOLATED, false, what)))
            return rc;
        return add_text_op(b, BPE_OP_BYTES, NULL, NULL, BPE_PREPEND_ALWAYS, 0);
    }
    if (!strcmp(t, "Split")) {
        const cJSON *pat = get(n, "pattern"), *re = get(pat, "Regex"), *str = get(pat, "String");
        if (!cJSON_IsString(re) && !cJSON_IsString(str))
            return ia__error(IA_ERR_FORMAT,
                             "%s: pre_tokenizer Split: pattern must be {\"Regex\": ...} or {\"String\": ...}",
                             c->path);
        if ((rc = behavior_of(c, n, BPE_SPLIT_ISOLATED, &beh)))
            return rc;
        const char *p = cJSON_IsString(re) ? re->valuestring : str->valuestring;
        return add_split(b, p, strlen(p), !cJSON_IsString(re), beh, flag(n, "invert", false), what);
    }
    if (!strcmp(t, "Digits")) {
        bool one = flag(n, "individual_digits", false);
        return add_split(b, one ? "\\p{N}" : "\\p{N}+", one ? 5 : 6, false, BPE_SPLIT_ISOLATED, false, what);
    }
    if (!strcmp(t, "Punctuation")) {
        static const char punct[] = "[\\p{P}!-/:-@\\[-`{-~]";
        if ((rc = behavior_of(c, n, BPE_SPLIT_ISOLATED, &beh)))
            return rc;
        return add_split(b, punct, sizeof punct - 1, false, beh, false, what);
    }
    if (!strcmp(t, "WhitespaceSplit"))
        return add_split(b, "\\s+", 3, false, BPE_SPLIT_REMOVED, false, what);
    if (!strcmp(t, "Metaspace")) {
        const cJSON *r = get(n, "replacement"), *scheme = get(n, "prepend_scheme");
        const char *rep = cJSON_IsString(r) ? r->valuestring : "\xe2\x96\x81";
        bool prepend = flag(n, "add_prefix_space", true), first = false;
        if (cJSON_IsString(scheme)) {
            prepend = strcmp(scheme->valuestring, "never") != 0;
            first = !strcmp(scheme->valuestring, "first");
        }
        if ((rc = add_text_op(b, BPE_OP_REPLACE, rep, " ", BPE_PREPEND_ALWAYS, 0)))
            return rc;
        if (prepend && (rc = add_text_op(b, BPE_OP_PREPEND, rep, NULL,
                                         first ? BPE_PREPEND_FIRST : BPE_PREPEND_UNLESS_THERE, 0)))
            return rc;
        if (flag(n, "split", true))
            rc = add_split(b, rep, strlen(rep), true, BPE_SPLIT_MERGED_WITH_NEXT, false, what);
        return rc;
    }
    return ia__error(IA_ERR_UNSUPPORTED,
                     "%s: pre_tokenizer type \"%s\" is not supported (supported: Sequence, ByteLevel, "
                     "Split, Digits, Punctuation, WhitespaceSplit, Metaspace)", c->path, t);
}

static ia_status json_decoder(json_ctx *c, const cJSON *n)
{
    if (!n || cJSON_IsNull(n))
        return IA_OK;
    const char *t = type_of(n);
    if (!strcmp(t, "Sequence")) {
        const cJSON *e, *list = get(n, "decoders");
        ia_status rc;
        if (!cJSON_IsArray(list))
            return ia__error(IA_ERR_FORMAT, "%s: decoder.decoders must be an array", c->path);
        cJSON_ArrayForEach(e, list) if ((rc = json_decoder(c, e))) return rc;
        return IA_OK;
    }
    if (!strcmp(t, "Strip")) {
        const cJSON *start = get(n, "start"), *content = get(n, "content");
        if (cJSON_IsNumber(start) && start->valuedouble >= 1 &&
            (!cJSON_IsString(content) || !strcmp(content->valuestring, " ")))
            c->strip_decoder = true;
        return IA_OK;
    }
    if (!strcmp(t, "Metaspace")) {
        const cJSON *scheme = get(n, "prepend_scheme");
        bool prepend = cJSON_IsString(scheme) ? strcmp(scheme->valuestring, "never") != 0
                                              : flag(n, "add_prefix_space", true);
        c->strip_decoder = c->strip_decoder || prepend;
        return IA_OK;
    }
    if (!strcmp(t, "ByteLevel") || !strcmp(t, "Replace") || !strcmp(t, "ByteFallback") ||
        !strcmp(t, "Fuse"))
        return IA_OK;
    return ia__error(IA_ERR_UNSUPPORTED,
                     "%s: decoder type \"%s\" is not supported (supported: Sequence, ByteLevel, "
                     "Metaspace, Replace, ByteFallback, Fuse, Strip)", c->path, t);
}

/* The ids of special token `name` in TemplateProcessing.special_tokens. */
static ia_status template_ids(json_ctx *c, const cJSON *specials, const char *name, int32_t **v,
                              size_t *n)
{
    const cJSON *ids = get(get(specials, name), "ids"), *e;
    if (!cJSON_IsArray(ids))
        return ia__error(IA_ERR_FORMAT, "%s: post_processor: special token \"%s\" has no ids", c->path, name);
    cJSON_ArrayForEach(e, ids) {
        int32_t id;
        ia_status rc;
        if (!json_id(e, (double)c->b->vocab.n, &id))
            return ia__error(IA_ERR_FORMAT, "%s: post_processor: special token \"%s\": bad id",
                             c->path, name);
        if ((rc = push_id(v, n, id)))
            return rc;
    }
    return IA_OK;
}

static ia_status json_post(json_ctx *c, const cJSON *n)
{
    ia_bpe *b = c->b;
    if (!n || cJSON_IsNull(n))
        return IA_OK;
    const char *t = type_of(n);
    ia_status rc;
    if (!strcmp(t, "Sequence")) {
        const cJSON *e, *list = get(n, "processors");
        if (!cJSON_IsArray(list))
            return ia__error(IA_ERR_FORMAT, "%s: post_processor.processors must be an array", c->path);
        cJSON_ArrayForEach(e, list) if ((rc = json_post(c, e))) return rc;
        return IA_OK;
    }
    if (!strcmp(t, "ByteLevel"))
        return IA_OK;
    if (!strcmp(t, "TemplateProcessing")) {
        const cJSON *single = get(n, "single"), *specials = get(n, "special_tokens"), *e;
        bool seen_seq = false;
        if (!cJSON_IsArray(single))
            return ia__error(IA_ERR_FORMAT, "%s: post_processor.single must be an array", c->path);
        cJSON_ArrayForEach(e, single) {
            const cJSON *sp = get(e, "SpecialToken"), *id = get(sp, "id");
            if (get(e, "Sequence")) {
                seen_seq = true;
            } else if (cJSON_IsString(id)) {
                rc = seen_seq ? template_ids(c, specials, id->valuestring, &b->suffix, &b->n_suffix)
                              : template_ids(c, specials, id->valuestring, &b->prefix, &b->n_prefix);
                if (rc)
                    return rc;
            } else {
                return ia__error(IA_ERR_FORMAT, "%s: post_processor.single: unknown item", c->path);
            }
        }
        return IA_OK;
    }
    if (!strcmp(t, "RobertaProcessing") || !strcmp(t, "BertProcessing")) {
        int32_t cls, sep;
        if (!json_id(cJSON_GetArrayItem(get(n, "cls"), 1), (double)b->vocab.n, &cls) ||
            !json_id(cJSON_GetArrayItem(get(n, "sep"), 1), (double)b->vocab.n, &sep))
            return ia__error(IA_ERR_FORMAT, "%s: post_processor %s: bad cls/sep", c->path, t);
        if ((rc = push_id(&b->prefix, &b->n_prefix, cls)))
            return rc;
        return push_id(&b->suffix, &b->n_suffix, sep);
    }
    return ia__error(IA_ERR_UNSUPPORTED,
                     "%s: post_processor type \"%s\" is not supported (supported: TemplateProcessing, "
                     "ByteLevel, RobertaProcessing, BertProcessing, Sequence)", c->path, t);
}

/* A token named in tokenizer_config.json ("<s>" or {"content": "<s>"}). */
static int32_t config_token(const ia_bpe *b, const cJSON *cfg, const char *key)
{
    const cJSON *v = get(cfg, key);
    if (cJSON_IsObject(v))
        v = get(v, "content");
    return cJSON_IsString(v) ? ia__vocab_find(&b->vocab, v->valuestring, strlen(v->valuestring)) : -1;
}

static ia_status json_model(json_ctx *c, const cJSON *root)
{
    ia_bpe *b = c->b;
    const char *path = c->path;
    const cJSON *model = get(root, "model"), *vocab = get(model, "vocab"), *merges = get(model, "merges");
    const cJSON *added = get(root, "added_tokens"), *e;
    ia_status rc;
    if (!cJSON_IsObject(model))
        return ia__error(IA_ERR_FORMAT, "%s: no model object", path);
    if (strcmp(type_of(model), "BPE") && (get(model, "type") || !merges))
        return ia__error(IA_ERR_UNSUPPORTED, "%s: model type \"%s\" is not supported here (supported: BPE)",
                         path, type_of(model));
    if (!cJSON_IsObject(vocab))
        return ia__error(IA_ERR_FORMAT, "%s: model.vocab must be an object", path);
    if (!cJSON_IsArray(merges))
        return ia__error(IA_ERR_FORMAT, "%s: model.merges must be an array", path);
    const cJSON *dropout = get(model, "dropout");
    if (cJSON_IsNumber(dropout) && dropout->valuedouble != 0)
        return ia__error(IA_ERR_UNSUPPORTED, "%s: model.dropout (BPE dropout) is not supported", path);
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (size_t i = 0; i < IA_ARRAY_LEN(affixes); i++) {
        const cJSON *v = get(model, affixes[i]);
        if (cJSON_IsString(v) && v->valuestring[0])
            return ia__error(IA_ERR_UNSUPPORTED, "%s: model.%s is not supported", path, affixes[i]);
    }
    if (added && !cJSON_IsArray(added))
        return ia__error(IA_ERR_FORMAT, "%s: added_tokens must be an array", path);

    /* The vocabulary: the model's, then the added tokens beyond it. */
    int32_t max_id = -1, id;
    cJSON_ArrayForEach(e, vocab) {
        if (!json_id(e, MAX_JSON_VOCAB, &id))
            return ia__error(IA_ERR_FORMAT, "%s: model.vocab[\"%.100s\"] is not a token id", path, e->string);
        max_id = IA_MAX(max_id, id);
    }
    int idx = 0;
    cJSON_ArrayForEach(e, added) {
        if (!json_id(get(e, "id"), MAX_JSON_VOCAB, &id) || !cJSON_IsString(get(e, "content")))
            return ia__error(IA_ERR_FORMAT, "%s: added_tokens[%d] needs an id and a content", path, idx);
        max_id = IA_MAX(max_id, id);
        idx++;
    }
    if (max_id < 0)
        return ia__error(IA_ERR_FORMAT, "%s: model.vocab is empty", path);
    size_t n = (size_t)max_id + 1;
    if ((rc = ia__vocab_init(&b->vocab, n)))
        return rc;
    if (!(b->flags = ia__calloc(n, 1)))
        return nomem();
    cJSON_ArrayForEach(e, vocab) {
        if ((rc = ia__vocab_set(&b->vocab, (int32_t)e->valuedouble, e->string, strlen(e->string))))
            return ia__error_wrap(rc, "%s: model.vocab", path);
    }
    idx = 0;
    cJSON_ArrayForEach(e, added) {
        const char *content = get(e, "content")->valuestring;
        json_id(get(e, "id"), MAX_JSON_VOCAB, &id);
        const char *have = b->vocab.tokens[id];
        if (have && strcmp(have, content))
            return ia__error(IA_ERR_FORMAT,
                             "%s: added_tokens[%d]: id %d is \"%.100s\" in model.vocab, not \"%.100s\"",
                             path, idx, (int)id, have, content);
        if (!have && (rc = ia__vocab_set(&b->vocab, id, content, strlen(content))))
            return ia__error_wrap(rc, "%s: added_tokens[%d]", path, idx);
        idx++;
    }
    if ((rc = ia__vocab_index(&b->vocab)))
        return ia__error_wrap(rc, "%s", path);
    cJSON_ArrayForEach(e, added) {
        json_id(get(e, "id"), MAX_JSON_VOCAB, &id);
        if ((rc = add_added(b, id, flag(e, "special", false), flag(e, "lstrip", false),
                            flag(e, "rstrip", false), flag(e, "single_word", false))))
            return rc;
    }

    /* Merges: "a b" strings or [a, b] pairs. */
    size_t n_merges = (size_t)cJSON_GetArraySize(merges);
    if ((rc = merges_init(b, n_merges)))
        return rc;
    ia_textbuf tmp = {0};
    idx = 0;
    cJSON_ArrayForEach(e, merges) {
        char what[300];
        snprintf(what, sizeof what, "%s: model.merges[%d]", path, idx);
        const char *l = NULL, *r = NULL;
        size_t ln = 0, rn = 0;
        if (cJSON_IsString(e)) {
            const char *s = e->valuestring, *sp = strchr(s, ' ');
            if (sp && !strchr(sp + 1, ' ')) {
                l = s, ln = (size_t)(sp - s), r = sp + 1, rn = strlen(sp + 1);
            }
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 0)) && cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            l = cJSON_GetArrayItem(e, 0)->valuestring, ln = strlen(l);
            r = cJSON_GetArrayItem(e, 1)->valuestring, rn = strlen(r);
        }
        if (!l) {
            ia__free(tmp.p);
            return ia__error(IA_ERR_FORMAT, "%s: not two tokens (\"a b\" or [\"a\", \"b\"])", what);
        }
        if ((rc = merge_strings(b, l, ln, r, rn, (uint32_t)idx, &tmp, what))) {
            ia__free(tmp.p);
            return rc;
        }
        idx++;
    }
    ia__free(tmp.p);

    b->byte_fallback = flag(model, "byte_fallback", false);
    b->fuse_unk = flag(model, "fuse_unk", false);
    b->ignore_merges = flag(model, "ignore_merges", false);
    const cJSON *unk = get(model, "unk_token");
    if (cJSON_IsString(unk)) {
        b->unk_fallback = ia__vocab_find(&b->vocab, unk->valuestring, strlen(unk->valuestring));
        if (b->unk_fallback < 0)
            return ia__error(IA_ERR_FORMAT, "%s: model.unk_token \"%.100s\" is not in the vocabulary",
                             path, unk->valuestring);
    }
    if ((rc = json_normalizer(c, get(root, "normalizer"), "normalizer")) ||
        (rc = json_pre(c, get(root, "pre_tokenizer"))) ||
        (rc = json_decoder(c, get(root, "decoder"))) ||
        (rc = json_post(c, get(root, "post_processor"))))
        return rc;
    b->strip_space = !b->byte_level && c->strip_decoder;
    return IA_OK;
}

static ia_status json_load(ia_bpe *b, const char *text, size_t len, const char *path,
                           const char *config)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ia__error(IA_ERR_FORMAT, "%s: not a JSON object", path);
    }
    json_ctx c = {.b = b, .path = path};
    ia_status rc = json_model(&c, root);
    cJSON_Delete(root);
    if (rc)
        return rc;
    /* bos/eos/pad: tokenizer_config.json beside the file, else the
     * template's first special token as bos. */
    cJSON *cfg = NULL;
    if (config && ia__file_exists(config)) {
        if ((rc = ia__read_json(config, &cfg)))
            return rc;
        b->bos = config_token(b, cfg, "bos_token");
        b->eos = config_token(b, cfg, "eos_token");
        b->pad = config_token(b, cfg, "pad_token");
        cJSON_Delete(cfg);
    } else if (b->n_prefix && (b->flags[b->prefix[0]] & BPE_SPECIAL)) {
        b->bos = b->prefix[0];
    }
    if ((rc = finish(b, NULL)))
        return rc;
    snprintf(b->describe, sizeof b->describe, "%s BPE (tokenizer.json)",
             b->byte_level ? "byte-level" : "SentencePiece-style");
    return IA_OK;
}

ia_status ia__bpe_from_json_text(const char *text, size_t len, const char *name, ia_bpe **out)
{
    if (!text || !out)
        return ia__error(IA_ERR_INVALID, "ia__bpe_from_json_text: NULL argument");
    ia_bpe *b = NULL;
    ia_status rc = ia__bpe_new(&b);
    if (!rc)
        rc = json_load(b, text, len, name ? name : "tokenizer.json", NULL);
    if (rc) {
        ia__bpe_free(b);
        return rc;
    }
    *out = b;
    return IA_OK;
}

ia_status ia__bpe_from_json(const char *path, ia_bpe **out)
{
    if (!path || !out)
        return ia__error(IA_ERR_INVALID, "ia__bpe_from_json: NULL argument");
    char *text, *config = NULL;
    size_t len;
    ia_status rc = ia__read_file(path, &text, &len);
    if (rc)
        return rc;
    const char *slash = strrchr(path, '/');
    if (slash) {
        char *dir = ia__strndup(path, (size_t)(slash - path) + 1);
        config = dir ? ia__path_join(dir, "tokenizer_config.json") : NULL;
        ia__free(dir);
    } else {
        config = ia__strdup("tokenizer_config.json");
    }
    ia_bpe *b = NULL;
    if (!config)
        rc = nomem();
    if (!rc)
        rc = ia__bpe_new(&b);
    if (!rc)
        rc = json_load(b, text, len, path, config);
    ia__free(text);
    ia__free(config);
    if (rc) {
        ia__bpe_free(b);
        return rc;
    }
    *out = b;
    return IA_OK;
}
