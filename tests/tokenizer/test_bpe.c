/*
 * Unit tests of the BPE tokenizer (src/tokenizer/bpe*.c) on small
 * hand-made vocabularies whose ids are worked out by hand: a byte-level
 * one (tokenizer.json and GGUF), a SentencePiece-style one (tokenizer.json
 * with merges, GGUF with scores). Covers the merge order, whole-piece
 * lookups, added tokens (special or not, lstrip/rstrip, single_word),
 * parse_special, merges that would spell a special token, invalid UTF-8,
 * byte fallback and unk, decoding and the stream decoder, the error
 * messages of broken files, failed allocations, threads, and a long word.
 * The comparisons with outside references are test_bpe_vocab (llama.cpp's
 * vectors) and bpe_oracle.py (Hugging Face tokenizers).
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <utf8proc.h>

#include "model/gguf-impl.h"
#include "test.h"
#include "tokenizer/bpe-impl.h"
#include "tokenizer/tokenizer-impl.h"

/* ---- building files --------------------------------------------------- */

typedef struct sb {
    char *p;
    size_t n, cap;
} sb;

static void sb_put(sb *b, const void *d, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(sb *b, const char *s) { sb_put(b, s, strlen(s)); }

/* s as a JSON string literal. */
static void sb_json(sb *b, const char *s)
{
    sb_str(b, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            char e[2] = {'\\', *s};
            sb_put(b, e, 2);
        } else {
            sb_put(b, s, 1);
        }
    }
    sb_str(b, "\"");
}

/* The UTF-8 of the character standing for byte c. */
static const char *bytechar(int c)
{
    static _Thread_local char s[8];
    int32_t u = ia__bpe_byte_char(c);
    if (u < 0x80) {
        s[0] = (char)u;
        s[1] = 0;
    } else {
        s[0] = (char)(0xc0 | (u >> 6));
        s[1] = (char)(0x80 | (u & 0x3f));
        s[2] = 0;
    }
    return s;
}

/* The byte-level vocabulary: ids 0-255 the bytes, then these merges in
 * rank order (result ids 256...), then added tokens. */
static const char *const BL_MERGES[][2] = {
    {"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"l", "l"}, {"e", "ll"}, {"H", "ell"},
    {"Hell", "o"}, {"a", "a"}, {"aa", "aa"}, {"Ã", "©"}, {"<", "|"}, {"<|", "x"},
    {"<|x", "|"}, {"<|x|", ">"}, /* 269: spells the special token <|x|> */
};
enum { T_GT = 256, T_HE, T_GTHE, T_LL, T_ELL, T_HELL, T_HELLO, T_AA, T_AAAA, T_EACUTE,
       T_LTBAR, T_LTBARX, T_LTBARXBAR, T_X_SPECIAL, T_IM_START, T_IM_END, T_TOOL, T_WORD };

static char *bytelevel_json(bool use_regex, bool ignore_merges, bool merge_strings)
{
    sb b = {0};
    sb_str(&b, "{\"version\":\"1.0\",\"added_tokens\":[");
    static const struct { int id; const char *s; bool special, lstrip, rstrip, single; } added[] = {
        {T_X_SPECIAL, "<|x|>", true, false, false, false},
        {T_IM_START, "<|im_start|>", true, false, false, false},
        {T_IM_END, "<|im_end|>", true, false, false, false},
        {T_TOOL, "<tool>", false, true, true, false},
        {T_WORD, "[w]", false, false, false, true},
    };
    for (size_t i = 0; i < IA_ARRAY_LEN(added); i++) {
        char head[64];
        snprintf(head, sizeof head, "%s{\"id\":%d,\"content\":", i ? "," : "", added[i].id);
        sb_str(&b, head);
        sb_json(&b, added[i].s);
        char tail[160];
        snprintf(tail, sizeof tail, ",\"single_word\":%s,\"lstrip\":%s,\"rstrip\":%s,\"normalized\":false,\"special\":%s}",
                 added[i].single ? "true" : "false", added[i].lstrip ? "true" : "false",
                 added[i].rstrip ? "true" : "false", added[i].special ? "true" : "false");
        sb_str(&b, tail);
    }
    sb_str(&b, "],\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
               "\"trim_offsets\":true,\"use_regex\":");
    sb_str(&b, use_regex ? "true" : "false");
    sb_str(&b, "},\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":["
               "{\"SpecialToken\":{\"id\":\"<|im_start|>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
               "{\"SpecialToken\":{\"id\":\"<|im_end|>\",\"type_id\":0}}],\"pair\":[],\"special_tokens\":{"
               "\"<|im_start|>\":{\"id\":\"<|im_start|>\",\"ids\":[270],\"tokens\":[\"<|im_start|>\"]},"
               "\"<|im_end|>\":{\"id\":\"<|im_end|>\",\"ids\":[271],\"tokens\":[\"<|im_end|>\"]}}},"
               "\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"dropout\":null,"
               "\"unk_token\":null,\"fuse_unk\":false,\"byte_fallback\":false,\"ignore_merges\":");
    sb_str(&b, ignore_merges ? "true" : "false");
    sb_str(&b, ",\"vocab\":{");
    for (int c = 0; c < 256; c++) {
        char id[32];
        if (c)
            sb_str(&b, ",");
        sb_json(&b, bytechar(c));
        snprintf(id, sizeof id, ":%d", c);
        sb_str(&b, id);
    }
    for (size_t i = 0; i < IA_ARRAY_LEN(BL_MERGES); i++) {
        char tok[64], id[32];
        snprintf(tok, sizeof tok, "%s%s", BL_MERGES[i][0], BL_MERGES[i][1]);
        sb_str(&b, ",");
        sb_json(&b, tok);
        snprintf(id, sizeof id, ":%zu", 256 + i);
        sb_str(&b, id);
    }
    sb_str(&b, "},\"merges\":[");
    for (size_t i = 0; i < IA_ARRAY_LEN(BL_MERGES); i++) {
        sb_str(&b, i ? "," : "");
        if (merge_strings) {
            char m[64];
            snprintf(m, sizeof m, "%s %s", BL_MERGES[i][0], BL_MERGES[i][1]);
            sb_json(&b, m);
        } else {
            sb_str(&b, "[");
            sb_json(&b, BL_MERGES[i][0]);
            sb_str(&b, ",");
            sb_json(&b, BL_MERGES[i][1]);
            sb_str(&b, "]");
        }
    }
    sb_str(&b, "]}}");
    return b.p;
}

static ia_bpe *load_json(const char *json)
{
    ia_bpe *b = NULL;
    ia_status st = ia__bpe_from_json_text(json, strlen(json), "test.json", &b);
    CHECK_MSG(st == IA_OK, "load: %s", ia_errmsg());
    return b;
}

/* Encode and compare with the expected ids (ending at -1). */
static void expect_ids(const ia_bpe *b, const char *text, size_t len, bool add, bool parse,
                       const int32_t *want, const char *what)
{
    ia_i32vec ids = {0};
    ia_status st = ia__bpe_encode(b, text, len, add, parse, &ids);
    size_t n = 0;
    while (want[n] >= 0)
        n++;
    bool same = st == IA_OK && ids.n == n && (!n || !memcmp(ids.v, want, n * sizeof *want));
    CHECK_MSG(same, "%s: %zu ids, wanted %zu (%s)", what, ids.n, n, st ? ia_errmsg() : "");
    if (!same) {
        fprintf(stderr, "  got:");
        for (size_t i = 0; i < ids.n; i++)
            fprintf(stderr, " %d", ids.v[i]);
        fprintf(stderr, "\n  want:");
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %d", want[i]);
        fputc('\n', stderr);
    }
    ia__i32vec_free(&ids);
}

#define IDS(...) ((const int32_t[]){__VA_ARGS__, -1})
#define NOIDS ((const int32_t[]){-1})
#define EXPECT(b, text, add, parse, ...) expect_ids(b, text, strlen(text), add, parse, IDS(__VA_ARGS__), text)

static void expect_decode(const ia_bpe *b, const int32_t *ids, size_t n, bool skip, const char *want)
{
    char buf[256];
    size_t len;
    ia_status st = ia__bpe_decode(b, ids, n, skip, buf, sizeof buf, &len);
    CHECK_MSG(st == IA_OK && len == strlen(want) && !memcmp(buf, want, len), "decode gave \"%.*s\", wanted \"%s\"",
              (int)(st ? 0 : len), buf, want);
}

/* ---- byte-level ------------------------------------------------------- */

static void test_bytelevel(const ia_bpe *b, bool regex)
{
    /* Merges by rank: l+l, e+ll, H+ell, Hell+o; Ġ+t, h+e, Ġt+he. */
    EXPECT(b, "Hello the", false, false, T_HELLO, T_GTHE);
    /* Equal ranks: leftmost first, so aaaaaaaa is aaaa aaaa, and an odd
     * count leaves the last a. */
    EXPECT(b, "aaaaaaaa", false, false, T_AAAA, T_AAAA);
    EXPECT(b, "aaaaa", false, false, T_AAAA, 'a');
    /* A character in two byte tokens merged, and invalid UTF-8 as U+FFFD. */
    EXPECT(b, "é", false, false, T_EACUTE);
    expect_ids(b, "a\xff", 2, false, false, IDS('a', 0xef, 0xbf, 0xbd), "invalid byte");
    expect_ids(b, "\xe6\x97", 2, false, false, IDS(0xef, 0xbf, 0xbd), "truncated character");
    expect_ids(b, "", 0, false, false, NOIDS, "empty");
    expect_ids(b, "", 0, true, false, IDS(T_IM_START, T_IM_END), "empty with specials");
    expect_ids(b, "a\0b", 3, false, false, IDS('a', 0, 'b'), "NUL");
    /* Specials: parsed only when asked; never from merges or a lookup of
     * the whole piece. */
    EXPECT(b, "a<|x|>b", false, true, 'a', T_X_SPECIAL, 'b');
    EXPECT(b, "<|im_start|>hi<|im_end|>", true, true, T_IM_START, T_IM_START, 'h', 'i', T_IM_END, T_IM_END);
    if (regex)
        EXPECT(b, "<|x|>", false, false, T_LTBAR, 'x', '|', '>');
    else
        EXPECT(b, "<|x|>", false, false, T_LTBARXBAR, '>');
    /* Non-special added tokens match either way; lstrip/rstrip eat the
     * spaces around; single_word wants no letter beside it. */
    EXPECT(b, "x  <tool>  y", false, false, 'x', T_TOOL, 'y');
    if (regex) {
        EXPECT(b, "a [w] b", false, false, 'a', ' ', T_WORD, ' ', 'b');
        EXPECT(b, "a[w]b", false, false, 'a', '[', 'w', ']', 'b');
    }
}

/* Decoding and the stream decoder on the byte-level vocabulary. */
static void test_decode(const ia_bpe *b)
{
    expect_decode(b, IDS(T_HELLO, T_GTHE), 2, false, "Hello the");
    expect_decode(b, IDS(T_IM_START, T_HELLO, T_IM_END), 3, true, "Hello");
    expect_decode(b, IDS(T_IM_START, T_HELLO, T_IM_END), 3, false, "<|im_start|>Hello<|im_end|>");
    char small[4];
    size_t len;
    CHECK(ia__bpe_decode(b, IDS(T_HELLO, T_GTHE), 2, false, small, sizeof small, &len) == IA_OK &&
          len == 9 && !memcmp(small, "Hell", 4));
    CHECK(ia__bpe_decode(b, NULL, 0, false, NULL, 0, &len) == IA_OK && len == 0);
    CHECK(ia__bpe_decode(b, IDS(100000), 1, false, small, sizeof small, &len) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "100000");
    size_t pl;
    CHECK(ia__bpe_piece(b, 0xc3, &pl) && pl == 1);
    CHECK(!ia__bpe_piece(b, -1, &pl) && pl == 0);
    CHECK(!strcmp(ia__bpe_token(b, T_GTHE), "Ġthe"));
    CHECK(ia__bpe_find(b, "Ġthe", strlen("Ġthe")) == T_GTHE);
    CHECK(ia__bpe_is_special(b, T_IM_END) && !ia__bpe_is_special(b, T_TOOL));
    CHECK(ia__bpe_is_eog(b, T_IM_END) && !ia__bpe_is_eog(b, T_IM_START));
    CHECK(ia__bpe_eot(b) == T_IM_END);
    CHECK(ia__bpe_n_vocab(b) == T_WORD + 1);

    /* The stream: é arrives as two byte tokens, 😀 as four. */
    ia_bpe_stream *s;
    CHECK_OK(ia__bpe_stream_new(b, true, &s));
    struct { int32_t id; const char *out; } steps[] = {
        {'a', "a"}, {0xc3, ""}, {0xa9, "é"}, {0xf0, ""}, {0x9f, ""}, {0x98, ""}, {0x80, "😀"},
        {T_IM_END, ""},                     /* skipped special */
        {0xff, "\xef\xbf\xbd"},              /* never valid */
        {0xc3, ""}, {'a', "\xef\xbf\xbd" "a"}, /* a start that did not continue */
        {0xe6, ""}, {0x97, ""}, {T_IM_START, ""}, {0xa5, "日"},
        {0xe6, ""}, {0x97, ""},              /* left unfinished: the flush */
    };
    for (size_t i = 0; i < IA_ARRAY_LEN(steps); i++) {
        const char *t;
        size_t tl;
        CHECK_OK(ia__bpe_stream_push(s, steps[i].id, &t, &tl));
        CHECK_MSG(tl == strlen(steps[i].out) && !memcmp(t, steps[i].out, tl),
                  "stream step %zu: \"%.*s\", wanted \"%s\"", i, (int)tl, t, steps[i].out);
    }
    const char *t;
    size_t tl;
    CHECK(ia__bpe_stream_push(s, -5, &t, &tl) == IA_ERR_INVALID);
    CHECK_OK(ia__bpe_stream_flush(s, &t, &tl));
    CHECK(tl == 3 && !memcmp(t, "\xef\xbf\xbd", 3));
    CHECK_OK(ia__bpe_stream_flush(s, &t, &tl));
    CHECK(tl == 0);
    ia__bpe_stream_free(s);
    ia__bpe_stream_free(NULL);
}

/* ---- SentencePiece-style ---------------------------------------------- */

static char *spm_json(bool byte_fallback, bool metaspace)
{
    sb b = {0};
    sb_str(&b, "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true},"
               "{\"id\":1,\"content\":\"<s>\",\"special\":true},{\"id\":2,\"content\":\"</s>\",\"special\":true}],");
    if (metaspace)
        sb_str(&b, "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"▁\","
                   "\"prepend_scheme\":\"first\",\"split\":false},");
    else
        sb_str(&b, "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"▁\"},"
                   "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"▁\"}]},\"pre_tokenizer\":null,");
    sb_str(&b, "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\"}},"
               "{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[1]}}},"
               "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"▁\"},"
               "\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \","
               "\"start\":1,\"stop\":0}]},\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,"
               "\"byte_fallback\":");
    sb_str(&b, byte_fallback ? "true" : "false");
    sb_str(&b, ",\"vocab\":{\"<unk>\":0,\"<s>\":1,\"</s>\":2");
    for (int c = 0; c < 256; c++) {
        char e[32];
        snprintf(e, sizeof e, ",\"<0x%02X>\":%d", c, 3 + c);
        sb_str(&b, e);
    }
    sb_str(&b, ",\"▁\":259,\"a\":260,\"b\":261,\"▁a\":262,\"ab\":263,\"▁ab\":264,\"c\":265},"
               "\"merges\":[\"▁ a\",\"a b\",\"▁a b\"]}}");
    return b.p;
}

static void test_spm(void)
{
    char *js = spm_json(true, false);
    ia_bpe *b = load_json(js);
    free(js);
    if (!b)
        return;
    EXPECT(b, "ab c", false, false, 264, 259, 265);
    EXPECT(b, "ab c", true, false, 1, 264, 259, 265);
    EXPECT(b, " a", false, false, 259, 262);
    EXPECT(b, "é", false, false, 259, 3 + 0xc3, 3 + 0xa9);
    EXPECT(b, "<s>a", false, false, 259, 3 + '<', 3 + 's', 3 + '>', 260);
    EXPECT(b, "<s>a", false, true, 1, 262); /* the prefix space after the special, as tokenizers' Prepend */
    expect_decode(b, IDS(264, 259, 265), 3, false, "ab c");
    expect_decode(b, IDS(1, 264), 2, false, "<s> ab");
    expect_decode(b, IDS(1, 264), 2, true, "ab");
    expect_decode(b, IDS(259, 3 + 0xc3, 3 + 0xa9), 3, false, "é");
    CHECK(ia__bpe_bos(b) == 1 && ia__bpe_adds_bos(b) && !ia__bpe_adds_eos(b));
    /* Streaming drops the prefix space once. */
    ia_bpe_stream *s;
    const char *t;
    size_t tl;
    CHECK_OK(ia__bpe_stream_new(b, false, &s));
    CHECK_OK(ia__bpe_stream_push(s, 262, &t, &tl));
    CHECK(tl == 1 && t[0] == 'a');
    CHECK_OK(ia__bpe_stream_push(s, 262, &t, &tl));
    CHECK(tl == 2 && !memcmp(t, " a", 2));
    ia__bpe_stream_free(s);
    ia__bpe_free(b);

    js = spm_json(false, false);
    b = load_json(js);
    free(js);
    if (b)
        EXPECT(b, "éé c", false, false, 259, 0, 259, 265); /* fused unk */
    ia__bpe_free(b);

    js = spm_json(true, true);
    b = load_json(js);
    free(js);
    if (b) {
        EXPECT(b, "ab c", false, false, 264, 259, 265);
        EXPECT(b, "<s>a", false, true, 1, 260); /* "first": no prefix after the special */
        EXPECT(b, " a", false, false, 262);     /* already starts with ▁ */
    }
    ia__bpe_free(b);
}

/* ---- GGUF ------------------------------------------------------------- */

static char dir[64];

typedef struct gkv {
    const char *key;
    int type; /* 4 u32, 7 bool, 8 str, 9: array of str (strs), 10: array of i32, 11: array of f32 */
    uint32_t u;
    const char *s;
    const char *const *strs;
    size_t n;
    const int32_t *i32;
    const float *f32;
} gkv;

static void le(sb *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        char c = (char)(v >> 8 * i);
        sb_put(b, &c, 1);
    }
}

static void gstr(sb *b, const char *s)
{
    le(b, strlen(s), 8);
    sb_put(b, s, strlen(s));
}

static const char *write_gguf(const char *name, const gkv *kv, size_t n_kv)
{
    static char path[128];
    sb b = {0};
    sb_put(&b, "GGUF", 4);
    le(&b, 3, 4);
    le(&b, 0, 8); /* no tensors: a vocabulary-only file, as llama.cpp's */
    le(&b, n_kv, 8);
    for (size_t i = 0; i < n_kv; i++) {
        gstr(&b, kv[i].key);
        switch (kv[i].type) {
        case 4: le(&b, 4, 4); le(&b, kv[i].u, 4); break;
        case 7: le(&b, 7, 4); le(&b, kv[i].u, 1); break;
        case 8: le(&b, 8, 4); gstr(&b, kv[i].s); break;
        case 9:
            le(&b, 9, 4); le(&b, 8, 4); le(&b, kv[i].n, 8);
            for (size_t k = 0; k < kv[i].n; k++)
                gstr(&b, kv[i].strs[k]);
            break;
        case 10:
            le(&b, 9, 4); le(&b, 5, 4); le(&b, kv[i].n, 8);
            for (size_t k = 0; k < kv[i].n; k++)
                le(&b, (uint32_t)kv[i].i32[k], 4);
            break;
        case 11:
            le(&b, 9, 4); le(&b, 6, 4); le(&b, kv[i].n, 8);
            for (size_t k = 0; k < kv[i].n; k++) {
                uint32_t u;
                memcpy(&u, &kv[i].f32[k], 4);
                le(&b, u, 4);
            }
            break;
        }
    }
    while (b.n % 32)
        sb_put(&b, "", 1);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b.p, 1, b.n, f) != b.n || fclose(f)) {
        perror(path);
        exit(1);
    }
    free(b.p);
    return path;
}

static ia_status load_gguf(const char *path, ia_bpe **b)
{
    ia_gguf *g;
    *b = NULL;
    ia_status st = ia__gguf_open(path, &g);
    if (st == IA_OK)
        st = ia__bpe_from_gguf(g, b);
    ia__gguf_close(g);
    return st;
}

#define N_BL (256 + IA_ARRAY_LEN(BL_MERGES) + 4)

static void test_gguf(void)
{
    /* The byte-level vocabulary as convert_hf_to_gguf.py writes it. */
    static char tokbuf[N_BL][24];
    const char *tokens[N_BL];
    int32_t types[N_BL];
    for (int c = 0; c < 256; c++)
        snprintf(tokbuf[c], sizeof tokbuf[c], "%s", bytechar(c));
    for (size_t i = 0; i < IA_ARRAY_LEN(BL_MERGES); i++)
        snprintf(tokbuf[256 + i], sizeof tokbuf[0], "%s%s", BL_MERGES[i][0], BL_MERGES[i][1]);
    snprintf(tokbuf[T_IM_START], sizeof tokbuf[0], "<|im_start|>");
    snprintf(tokbuf[T_IM_END], sizeof tokbuf[0], "<|im_end|>");
    snprintf(tokbuf[T_TOOL], sizeof tokbuf[0], "<tool>");
    snprintf(tokbuf[T_WORD], sizeof tokbuf[0], "[w]");
    for (size_t i = 0; i < N_BL; i++) {
        tokens[i] = tokbuf[i];
        types[i] = i == T_X_SPECIAL || i == T_IM_START || i == T_IM_END ? 3 : i >= T_TOOL ? 4 : 1;
    }
    static char mbuf[IA_ARRAY_LEN(BL_MERGES)][24];
    const char *merges[IA_ARRAY_LEN(BL_MERGES)];
    for (size_t i = 0; i < IA_ARRAY_LEN(BL_MERGES); i++) {
        snprintf(mbuf[i], sizeof mbuf[i], "%s %s", BL_MERGES[i][0], BL_MERGES[i][1]);
        merges[i] = mbuf[i];
    }
    gkv kv[] = {
        {.key = "tokenizer.ggml.model", .type = 8, .s = "gpt2"},
        {.key = "tokenizer.ggml.pre", .type = 8, .s = "gpt-2"},
        {.key = "tokenizer.ggml.tokens", .type = 9, .strs = tokens, .n = N_BL},
        {.key = "tokenizer.ggml.token_type", .type = 10, .i32 = types, .n = N_BL},
        {.key = "tokenizer.ggml.merges", .type = 9, .strs = merges, .n = IA_ARRAY_LEN(merges)},
        {.key = "tokenizer.ggml.bos_token_id", .type = 4, .u = T_IM_START},
        {.key = "tokenizer.ggml.eos_token_id", .type = 4, .u = T_IM_END},
        {.key = "tokenizer.ggml.add_bos_token", .type = 7, .u = 1},
    };
    ia_bpe *b;
    ia_status st = load_gguf(write_gguf("bl.gguf", kv, IA_ARRAY_LEN(kv)), &b);
    CHECK_MSG(st == IA_OK, "gguf: %s", ia_errmsg());
    if (b) {
        EXPECT(b, "Hello the", false, false, T_HELLO, T_GTHE);
        EXPECT(b, "Hello the", true, false, T_IM_START, T_HELLO, T_GTHE);
        EXPECT(b, "a<|x|>b", false, true, 'a', T_X_SPECIAL, 'b');
        EXPECT(b, "<|x|>", false, false, T_LTBAR, 'x', '|', '>');
        EXPECT(b, "x <tool> y", false, false, 'x', ' ', T_TOOL, ' ', 'y'); /* no lstrip in GGUF */
        CHECK(ia__bpe_bos(b) == T_IM_START && ia__bpe_eos(b) == T_IM_END && ia__bpe_adds_bos(b));
        CHECK_STR_CONTAINS(ia__bpe_describe(b), "gpt-2");
        test_decode(b);
    }
    ia__bpe_free(b);

    /* Broken ones: each error names the file, the key and the problem. */
    struct { const char *name; size_t at; gkv kv; ia_status want; const char *needle; } bad[] = {
        {"model", 0, {.key = "tokenizer.ggml.model", .type = 8, .s = "bert"}, IA_ERR_UNSUPPORTED,
         "tokenizer.ggml.model \"bert\" is not supported"},
        {"pre", 1, {.key = "tokenizer.ggml.pre", .type = 8, .s = "nonsense"}, IA_ERR_UNSUPPORTED,
         "tokenizer.ggml.pre \"nonsense\" is not supported"},
        {"merge", 4, {.key = "tokenizer.ggml.merges", .type = 9, .strs = (const char *[]){"Ġ t", "h zz"}, .n = 2},
         IA_ERR_FORMAT, "tokenizer.ggml.merges[1]: unknown token 'zz'"},
        {"merge2", 4, {.key = "tokenizer.ggml.merges", .type = 9, .strs = (const char *[]){"ht"}, .n = 1},
         IA_ERR_FORMAT, "tokenizer.ggml.merges[0]: \"ht\" is not two tokens"},
        {"merge3", 4, {.key = "tokenizer.ggml.merges", .type = 9, .strs = (const char *[]){"x y"}, .n = 1},
         IA_ERR_FORMAT, "tokenizer.ggml.merges[0]: 'x' + 'y' is not a token"},
        {"tokens", 2, {.key = "tokenizer.ggml.tokens", .type = 4, .u = 3}, IA_ERR_FORMAT, "tokenizer.ggml.tokens"},
        {"dup", 2, {.key = "tokenizer.ggml.tokens", .type = 9, .strs = (const char *[]){"a", "a"}, .n = 2},
         IA_ERR_FORMAT, "appears twice"},
        {"types", 3, {.key = "tokenizer.ggml.token_type", .type = 10, .i32 = types, .n = 3}, IA_ERR_FORMAT,
         "tokenizer.ggml.token_type has 3 entries"},
    };
    for (size_t i = 0; i < IA_ARRAY_LEN(bad); i++) {
        gkv k2[IA_ARRAY_LEN(kv)];
        memcpy(k2, kv, sizeof kv);
        k2[bad[i].at] = bad[i].kv;
        char name[32];
        snprintf(name, sizeof name, "bad-%s.gguf", bad[i].name);
        const char *path = write_gguf(name, k2, IA_ARRAY_LEN(k2));
        st = load_gguf(path, &b);
        CHECK_MSG(st == bad[i].want && !b, "%s: status %d (%s)", bad[i].name, st, ia_errmsg());
        CHECK_STR_CONTAINS(ia_errmsg(), bad[i].needle);
        CHECK_STR_CONTAINS(ia_errmsg(), name);
    }
    /* No merges at all. */
    st = load_gguf(write_gguf("nomerges.gguf", kv, 4), &b);
    CHECK(st == IA_ERR_NOT_FOUND && !b);
    CHECK_STR_CONTAINS(ia_errmsg(), "tokenizer.ggml.merges");

    /* SentencePiece by score: ▁a (-1) beats ab (-2), then ▁ab (-0.5). */
    static char sbuf[3 + 256 + 7][12];
    const char *stoks[3 + 256 + 7];
    float scores[3 + 256 + 7];
    int32_t stypes[3 + 256 + 7];
    const char *fixed[] = {"<unk>", "<s>", "</s>"}, *tail[] = {"▁", "a", "b", "▁a", "ab", "▁ab", "c"};
    const float tail_scores[] = {-3, -4, -4, -1, -2, -0.5f, -4};
    for (int i = 0; i < 3; i++)
        snprintf(sbuf[i], sizeof sbuf[i], "%s", fixed[i]), stypes[i] = i ? 3 : 2, scores[i] = 0;
    for (int c = 0; c < 256; c++)
        snprintf(sbuf[3 + c], sizeof sbuf[0], "<0x%02X>", c), stypes[3 + c] = 6, scores[3 + c] = 0;
    for (int i = 0; i < 7; i++)
        snprintf(sbuf[259 + i], sizeof sbuf[0], "%s", tail[i]), stypes[259 + i] = 1, scores[259 + i] = tail_scores[i];
    for (size_t i = 0; i < IA_ARRAY_LEN(stoks); i++)
        stoks[i] = sbuf[i];
    gkv skv[] = {
        {.key = "tokenizer.ggml.model", .type = 8, .s = "llama"},
        {.key = "tokenizer.ggml.tokens", .type = 9, .strs = stoks, .n = IA_ARRAY_LEN(stoks)},
        {.key = "tokenizer.ggml.scores", .type = 11, .f32 = scores, .n = IA_ARRAY_LEN(stoks)},
        {.key = "tokenizer.ggml.token_type", .type = 10, .i32 = stypes, .n = IA_ARRAY_LEN(stoks)},
    };
    st = load_gguf(write_gguf("spm.gguf", skv, IA_ARRAY_LEN(skv)), &b);
    CHECK_MSG(st == IA_OK, "spm gguf: %s", ia_errmsg());
    if (b) {
        EXPECT(b, "ab c", false, false, 264, 259, 265);
        EXPECT(b, "ab c", true, false, 1, 264, 259, 265); /* bos by default */
        EXPECT(b, "é", false, false, 259, 3 + 0xc3, 3 + 0xa9);
        EXPECT(b, "<s>a", false, false, 259, 3 + '<', 3 + 's', 3 + '>', 260);
        EXPECT(b, "<s>a", false, true, 1, 262);
        expect_decode(b, IDS(264, 259, 265), 3, false, "ab c");
        CHECK(ia__bpe_bos(b) == 1 && ia__bpe_eos(b) == 2 && ia__bpe_is_eog(b, 2));
    }
    ia__bpe_free(b);
}

/* ---- tokenizer.json errors -------------------------------------------- */

static void expect_json_error(const char *json, ia_status want, const char *needle)
{
    ia_bpe *b = NULL;
    ia_status st = ia__bpe_from_json_text(json, strlen(json), "bad.json", &b);
    CHECK_MSG(st == want && !b, "status %d (%s), wanted %d for %.60s", st, ia_errmsg(), want, json);
    CHECK_STR_CONTAINS(ia_errmsg(), needle);
    CHECK_STR_CONTAINS(ia_errmsg(), "bad.json");
    ia__bpe_free(b);
}

static void test_json_errors(void)
{
    expect_json_error("{", IA_ERR_FORMAT, "not a JSON object");
    expect_json_error("[]", IA_ERR_FORMAT, "not a JSON object");
    expect_json_error("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", IA_ERR_UNSUPPORTED,
                      "model type \"WordPiece\"");
    expect_json_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}",
                      IA_ERR_FORMAT, "model.merges[0]: 'a' + 'b' is not a token");
    expect_json_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\",\"x y\"]}}",
                      IA_ERR_FORMAT, "model.merges[1]: unknown token 'x'");
    expect_json_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b c\"]}}",
                      IA_ERR_FORMAT, "model.merges[0]: not two tokens");
    expect_json_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}", IA_ERR_FORMAT,
                      "model.vocab[\"a\"] is not a token id");
    expect_json_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0},\"merges\":[]}}", IA_ERR_FORMAT,
                      "given twice");
    expect_json_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
                      "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}}", IA_ERR_UNSUPPORTED,
                      "pre_tokenizer type \"BertPreTokenizer\" is not supported");
    expect_json_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
                      "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(a\"},\"behavior\":\"Isolated\"}}",
                      IA_ERR_UNSUPPORTED, "cannot be compiled");
    expect_json_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
                      "\"normalizer\":{\"type\":\"BertNormalizer\"}}", IA_ERR_UNSUPPORTED,
                      "normalizer type \"BertNormalizer\" is not supported");
    expect_json_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[],\"unk_token\":\"<unk>\"}}",
                      IA_ERR_FORMAT, "unk_token \"<unk>\" is not in the vocabulary");
    expect_json_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
                      "\"added_tokens\":[{\"id\":0,\"content\":\"b\"}]}", IA_ERR_FORMAT,
                      "added_tokens[0]: id 0 is \"a\" in model.vocab, not \"b\"");
    expect_json_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[],\"dropout\":0.1}}",
                      IA_ERR_UNSUPPORTED, "dropout");
    ia_bpe *b;
    CHECK(ia__bpe_from_json("/nonexistent/tokenizer.json", &b) == IA_ERR_NOT_FOUND);
    CHECK(ia__bpe_encode(NULL, "a", 1, false, false, NULL) == IA_ERR_INVALID);
    ia__bpe_free(NULL);
}

/* ---- failed allocations ----------------------------------------------- */

static void test_alloc_failures(const char *json)
{
    bool done = false;
    for (long k = 1; k < 100000 && !done; k++) {
        ia_bpe *b = NULL;
        ia_i32vec ids = {0};
        ia_bpe_stream *s = NULL;
        char buf[64];
        size_t len;
        const char *t;
        ia__alloc_fail_after(k);
        ia_status st = ia__bpe_from_json_text(json, strlen(json), "t.json", &b);
        if (!st)
            st = ia__bpe_encode(b, "Hello the <|im_start|>é\xff aaaaaa", 30, true, true, &ids);
        if (!st)
            st = ia__bpe_stream_new(b, false, &s);
        for (size_t i = 0; !st && i < ids.n; i++)
            st = ia__bpe_stream_push(s, ids.v[i], &t, &len);
        if (!st)
            st = ia__bpe_decode(b, ids.v, ids.n, false, buf, sizeof buf, &len);
        bool failed = ia__alloc_fail_pending() == 0;
        ia__alloc_fail_after(0);
        CHECK_MSG(st == IA_OK ? !failed : failed, "allocation %ld: status %d (%s), failed %d", k, st,
                  ia_errmsg(), failed);
        if (st != IA_OK)
            CHECK_MSG(st == IA_ERR_NOMEM, "allocation %ld: status %d (%s)", k, st, ia_errmsg());
        done = st == IA_OK;
        ia__bpe_stream_free(s);
        ia__i32vec_free(&ids);
        ia__bpe_free(b);
    }
    CHECK(done);
}

/* ---- threads and a long word ------------------------------------------ */

typedef struct targ {
    const ia_bpe *b;
    const char *text;
    ia_i32vec want;
    int bad;
} targ;

static void *encode_many(void *p)
{
    targ *a = p;
    for (int i = 0; i < 200; i++) {
        ia_i32vec ids = {0};
        if (ia__bpe_encode(a->b, a->text, strlen(a->text), true, i % 2, &ids) != IA_OK ||
            (i % 2 && (ids.n != a->want.n || memcmp(ids.v, a->want.v, ids.n * sizeof *ids.v))))
            a->bad++;
        ia__i32vec_free(&ids);
    }
    return NULL;
}

static void test_threads(const ia_bpe *b)
{
    const char *text = "Hello the <|im_start|>x  <tool>  y aaaaaaaaa é 日本 \xff";
    targ a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (targ){.b = b, .text = text};
        CHECK_OK(ia__bpe_encode(b, text, strlen(text), true, true, &a[i].want));
    }
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&th[i], NULL, encode_many, &a[i]) == 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_MSG(a[i].bad == 0, "thread %d: %d encodes differ", i, a[i].bad);
        ia__i32vec_free(&a[i].want);
    }
}

static void test_long_word(const ia_bpe *b)
{
    /* One piece of a million letters: the heap keeps this O(n log n). */
    size_t n = 1 << 20;
    char *text = malloc(n);
    memset(text, 'a', n);
    ia_i32vec ids = {0};
    double t0 = ia__now();
    CHECK_OK(ia__bpe_encode(b, text, n, false, false, &ids));
    double dt = ia__now() - t0;
    CHECK_MSG(ids.n == n / 4, "%zu ids", ids.n);
    bool all = true;
    for (size_t i = 0; i < ids.n; i++)
        all = all && ids.v[i] == T_AAAA;
    CHECK(all);
    CHECK_MSG(dt < 20, "a 1 MiB word took %.1f s", dt);
    printf("a 1 MiB word: %.3f s\n", dt);
    ia__i32vec_free(&ids);
    free(text);
}

/* NFKC as tokenizers does it: code points newer than its Unicode tables
 * (U+1FBF3 SEGMENTED DIGIT THREE, U+32FF) stay as they are, acting as
 * starters, and the text around them is normalized. */
static void test_normalize_newer(void)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"\xef\xac\x81", "fi"},                                     /* U+FB01 */
        {"\xf0\x9f\xaf\xb3", "\xf0\x9f\xaf\xb3"},                 /* U+1FBF3 */
        {"\xef\xac\x81\xf0\x9f\xaf\xb3" "e\xcc\x81\xe3\x8b\xbf", /* fi, U+1FBF3, e + U+0301, U+32FF */
         "fi\xf0\x9f\xaf\xb3\xc3\xa9\xe3\x8b\xbf"},
        {"", ""},
    };
    CHECK(ia__unicode_newer_than_hf(0x1fbf3) && ia__unicode_newer_than_hf(0x07fd));
    CHECK(!ia__unicode_newer_than_hf('3') && !ia__unicode_newer_than_hf(0xfb01));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        size_t len = 0;
        CHECK_OK(ia__utf8_normalize(cases[i].in, strlen(cases[i].in), UTF8PROC_STABLE | UTF8PROC_COMPOSE |
                                    UTF8PROC_COMPAT, &out, &len));
        CHECK_MSG(out && len == strlen(cases[i].want) && !memcmp(out, cases[i].want, len), "case %zu: %.*s", i,
                  (int)len, out ? out : "");
        ia__free(out);
    }
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ia-test-bpe-%ld", (long)getpid());
    char cmd[128];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd))
        return 1;

    for (int v = 0; v < 3; v++) {
        char *js = bytelevel_json(v != 1, v == 1, v == 2);
        ia_bpe *b = load_json(js);
        if (b) {
            test_bytelevel(b, v != 1);
            if (v == 0) {
                test_decode(b);
                test_threads(b);
                test_long_word(b);
                CHECK_STR_CONTAINS(ia__bpe_describe(b), "byte-level");
            }
        }
        ia__bpe_free(b);
        if (v == 0)
            test_alloc_failures(js);
        free(js);
    }
    test_spm();
    test_gguf();
    test_json_errors();
    test_normalize_newer();

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd))
        fprintf(stderr, "could not remove %s\n", dir);
    return test_summary("test_bpe");
}
