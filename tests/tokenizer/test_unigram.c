/*
 * The Unigram tokenizer (src/tokenizer/unigram.c) on a hand-made
 * tokenizer.json in XLM-RoBERTa's layout (a tiny Precompiled charsmap built
 * here that maps "A" to "a", Strip, Replace, Metaspace, a normalized <mask>
 * with lstrip): ids and decoded text as Hugging Face `tokenizers` 0.21
 * gives them for the same file (worked out once with it; the fresh random
 * comparison is unigram_oracle.py). Then malformed files: clear errors
 * naming the file and the field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core-impl.h"
#include "ipfs_accelerate/tokenizer.h"
#include "test.h"
#include "tokenizer/tokenizer-impl.h"

static char dir[] = "/tmp/ia-unigram-XXXXXX";
static char path[256];

static void write_file(const char *p, const char *content)
{
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(content, f);
        fclose(f);
    }
}

/* The charsmap: a darts-clone double array of 512 units whose one key "A"
 * leads to offset 0 of the strings "a\0", then those strings; base64. */
static char *charsmap(size_t n_units, uint32_t trie_bytes, const char *strings, size_t slen)
{
    size_t n = 4 + n_units * 4 + slen;
    unsigned char *b = calloc(1, n);
    uint32_t units[512] = {0};
    units[0] = 1u << 10;                        /* root: children at offset 1 */
    units[1 ^ 'A'] = 'A' | 1u << 8 | 1u << 10;  /* label 'A', has a leaf, offset 1 */
    units[(1 ^ 'A') ^ 1] = 0;                   /* the leaf: strings[0..] */
    memcpy(b, &trie_bytes, 4);
    for (size_t i = 0; i < n_units; i++)
        memcpy(b + 4 + 4 * i, &units[i % 512], 4);
    memcpy(b + 4 + 4 * n_units, strings, slen);
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(n / 3 * 4 + 8), *w = out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16 | (i + 1 < n ? (uint32_t)b[i + 1] << 8 : 0) | (i + 2 < n ? b[i + 2] : 0);
        *w++ = a[v >> 18];
        *w++ = a[(v >> 12) & 63];
        *w++ = i + 1 < n ? a[(v >> 6) & 63] : '=';
        *w++ = i + 2 < n ? a[v & 63] : '=';
    }
    *w = '\0';
    free(b);
    return out;
}

static const char *const head =
    "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":["
    "{\"id\":0,\"content\":\"<unk>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
    "{\"id\":1,\"content\":\"<s>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
    "{\"id\":2,\"content\":\"</s>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
    "{\"id\":3,\"content\":\"<mask>\",\"single_word\":false,\"lstrip\":true,\"rstrip\":false,\"normalized\":true,\"special\":true}],"
    "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Precompiled\",\"precompiled_charsmap\":";
static const char *const tail =
    "},{\"type\":\"Strip\",\"strip_left\":false,\"strip_right\":true},"
    "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" {2,}\"},\"content\":\"\xe2\x96\x81\"}]},"
    "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"always\",\"split\":true},"
    "\"post_processor\":{\"type\":\"TemplateProcessing\","
    "\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
    "{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}}],"
    "\"pair\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
    "{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}},"
    "{\"Sequence\":{\"id\":\"B\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}}],"
    "\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[1],\"tokens\":[\"<s>\"]},"
    "\"</s>\":{\"id\":\"</s>\",\"ids\":[2],\"tokens\":[\"</s>\"]}}},"
    "\"decoder\":{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"always\",\"split\":true},"
    "\"model\":{\"type\":\"Unigram\",\"unk_id\":%s,\"vocab\":%s,\"byte_fallback\":false}}";
static const char *const vocab =
    "[[\"<unk>\",0.0],[\"<s>\",0.0],[\"</s>\",0.0],[\"<mask>\",0.0],[\"\xe2\x96\x81\",-2.0],"
    "[\"\xe2\x96\x81he\",-3.0],[\"llo\",-3.0],[\"\xe2\x96\x81hello\",-6.5],[\"h\",-5.0],[\"e\",-5.0],[\"l\",-5.0],"
    "[\"o\",-5.0],[\"\xe2\x96\x81w\",-4.0],[\"or\",-4.0],[\"ld\",-4.0],[\"a\",-3.5],[\"x\",-4.5],[\"y\",-4.5],"
    "[\"<0x41>\",-9.0],[\"\xe2\x96\x81" "a\",-3.0]]";

/* tokenizer.json from its parts; NULL parts take the good ones. */
static void write_tokenizer(const char *cm_json, const char *unk, const char *voc)
{
    char *cm = charsmap(512, 2048, "a", 2), *good = malloc(strlen(cm) + 3);
    snprintf(good, strlen(cm) + 3, "\"%s\"", cm);
    const char *c = cm_json ? cm_json : good;
    size_t n = strlen(head) + strlen(c) + strlen(tail) + strlen(voc ? voc : vocab) + 64;
    char *fmt = malloc(n), *json = malloc(n);
    snprintf(fmt, n, "%s%s%s", head, c, tail);
    snprintf(json, n, fmt, unk ? unk : "0", voc ? voc : vocab);
    write_file(path, json);
    free(cm);
    free(good);
    free(fmt);
    free(json);
}

static void check_ids(const ia_tokenizer *tok, const char *text, const int32_t *want, size_t n_want)
{
    int32_t ids[64];
    size_t n = 0;
    CHECK_OK(ia_tokenizer_encode(tok, text, strlen(text), 0, ids, 64, &n, NULL));
    bool same = n == n_want;
    for (size_t i = 0; same && i < n; i++)
        same = ids[i] == want[i];
    CHECK_MSG(same, "\"%s\": %zu ids, first %d", text, n, n ? ids[0] : -1);
}

static void check_decode(const ia_tokenizer *tok, const int32_t *ids, size_t n, bool skip, const char *want)
{
    char *text = NULL;
    CHECK_OK(ia__tokenizer_decode(tok, ids, n, skip, &text));
    CHECK_MSG(text && !strcmp(text, want), "decode: \"%s\", want \"%s\"", text ? text : "(null)", want);
    ia__free(text);
}

static void check_error(ia_status want, const char *needle)
{
    ia_tokenizer *tok = NULL;
    ia_status st = ia_tokenizer_load(dir, &tok);
    CHECK_MSG(st == want, "status %d, want %d (%s)", st, want, ia_errmsg());
    CHECK_STR_CONTAINS(ia_errmsg(), "tokenizer.json");
    CHECK_STR_CONTAINS(ia_errmsg(), needle);
    ia_tokenizer_free(tok);
}

#define IDS(...) (const int32_t[]){__VA_ARGS__}, sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t)

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    write_tokenizer(NULL, NULL, NULL);
    ia_tokenizer *tok = NULL;
    CHECK_OK(ia_tokenizer_load(dir, &tok));
    if (tok) {
        CHECK_STR_CONTAINS(ia_tokenizer_describe(tok), "unigram");
        CHECK(ia_tokenizer_vocab_size(tok) == 20);
        CHECK(ia_tokenizer_token_id(tok, "\xe2\x96\x81he") == 5);
        CHECK(!strcmp(ia_tokenizer_id_token(tok, 13), "or"));
        check_ids(tok, "hello world", IDS(1, 5, 6, 12, 13, 14, 2));
        check_ids(tok, "hello  world ", IDS(1, 5, 6, 12, 13, 14, 2));
        check_ids(tok, "A", IDS(1, 19, 2));                 /* the charsmap: A -> a */
        check_ids(tok, "xAy", IDS(1, 4, 16, 15, 17, 2));
        check_ids(tok, "A\xcc\x81" "b", IDS(1, 19, 0, 2));  /* the grapheme A + U+0301 becomes "a" */
        check_ids(tok, "zz qq", IDS(1, 4, 0, 4, 0, 2));     /* unknown characters fuse */
        check_ids(tok, "he <mask>llo", IDS(1, 5, 3, 4, 6, 2));
        check_ids(tok, "   ", IDS(1, 2));
        check_ids(tok, "h\xc3\xa9llo", IDS(1, 4, 8, 0, 6, 2));
        check_ids(tok, "<s>hello</s>", IDS(1, 1, 5, 6, 2, 2));
        check_ids(tok, "a\xe3\x80\x80<mask>", IDS(1, 19, 3, 2)); /* lstrip takes U+3000 */
        check_decode(tok, IDS(1, 7, 12, 13, 14, 2), true, "hello world");
        check_decode(tok, IDS(1, 7, 12, 13, 14, 2), false, "<s> hello world</s>");
        check_decode(tok, IDS(7, 4, 15), true, "hello a");
        check_decode(tok, IDS(4, 4, 15, 12), true, " a w");
        check_decode(tok, IDS(1, 3, 7, 2), false, "<s><mask> hello</s>");
        check_decode(tok, IDS(1, 3, 7, 2), true, "hello"); /* <mask> is special, and normalized */
        /* invalid UTF-8 is counted and encoded as U+FFFD (unknown here) */
        ia_encoding_stats st = {0};
        int32_t ids[16];
        size_t n = 0;
        CHECK_OK(ia_tokenizer_encode(tok, "x\xff" "y", 3, 0, ids, 16, &n, &st));
        CHECK(st.n_invalid_utf8 == 1 && n == 6 && ids[3] == 0);
        ia_tokenizer_free(tok);
    }

    /* Malformed files. */
    write_tokenizer(NULL, NULL, "{\"a\": 1}");
    check_error(IA_ERR_FORMAT, "model.vocab");
    write_tokenizer(NULL, NULL, "[[\"a\", -1.0], [\"b\"]]");
    check_error(IA_ERR_FORMAT, "model.vocab[1]");
    write_tokenizer(NULL, NULL, "[]");
    check_error(IA_ERR_FORMAT, "model.vocab");
    write_tokenizer(NULL, "99", NULL);
    check_error(IA_ERR_FORMAT, "unk_id");
    write_tokenizer("\"AAA*\"", NULL, NULL);
    check_error(IA_ERR_FORMAT, "precompiled_charsmap");
    write_tokenizer("\"AAAA\"", NULL, NULL); /* three bytes: no trie size */
    check_error(IA_ERR_FORMAT, "precompiled_charsmap");
    char *cm = charsmap(4, 4096, "", 0), bad[256]; /* trie size past the end */
    snprintf(bad, sizeof bad, "\"%s\"", cm);
    free(cm);
    write_tokenizer(bad, NULL, NULL);
    check_error(IA_ERR_FORMAT, "precompiled_charsmap");
    cm = charsmap(512, 2048, "\xff\xfe", 2); /* strings that are not UTF-8 */
    char *bad2 = malloc(strlen(cm) + 3);
    snprintf(bad2, strlen(cm) + 3, "\"%s\"", cm);
    free(cm);
    write_tokenizer(bad2, NULL, NULL);
    free(bad2);
    check_error(IA_ERR_FORMAT, "UTF-8");
    write_tokenizer("null", NULL, NULL);
    check_error(IA_ERR_FORMAT, "precompiled_charsmap");
    write_file(path, "{\"normalizer\": {\"type\": \"BertNormalizer\"}, \"model\": {\"type\": \"Unigram\", "
                     "\"vocab\": [[\"a\", 0]]}}");
    check_error(IA_ERR_UNSUPPORTED, "BertNormalizer");
    write_file(path, "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"Unigram\", "
                     "\"vocab\": [[\"a\", 0]]}}");
    check_error(IA_ERR_UNSUPPORTED, "ByteLevel");
    write_file(path, "{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"ab\"}, \"model\": "
                     "{\"type\": \"Unigram\", \"vocab\": [[\"a\", 0]]}}");
    check_error(IA_ERR_FORMAT, "replacement");

    /* No unk_id: an unknown character is an error, not a crash. */
    write_file(path, "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0]]}}");
    CHECK_OK(ia_tokenizer_load(dir, &tok));
    if (tok) {
        int32_t ids[8];
        size_t n;
        CHECK_OK(ia_tokenizer_encode(tok, "aa", 2, 0, ids, 8, &n, NULL));
        CHECK(n == 2 && ids[0] == 0 && ids[1] == 0);
        CHECK(ia_tokenizer_encode(tok, "ab", 2, 0, ids, 8, &n, NULL) == IA_ERR_INVALID);
        CHECK_STR_CONTAINS(ia_errmsg(), "unk_id");
        ia_tokenizer_free(tok);
    }
    /* Allocation failures are reported, never crash or leak. */
    write_tokenizer(NULL, NULL, NULL);
    for (long k = 1; k < 400; k += 3) {
        ia__alloc_fail_after(k);
        ia_status s = ia_tokenizer_load(dir, &tok);
        if (s == IA_OK) {
            int32_t ids[32];
            size_t n;
            static const char text[] = "hello  A\xcc\x81 <mask>zz \xe3\x80\x80<mask> world ";
            s = ia_tokenizer_encode(tok, text, sizeof text - 1, 0, ids, 32, &n, NULL);
            ia_tokenizer_free(tok);
        }
        ia__alloc_fail_after(0);
        CHECK_MSG(s == IA_OK || s == IA_ERR_NOMEM, "failing allocation %ld: status %d (%s)", k, s, ia_errmsg());
    }
    unlink(path);
    rmdir(dir);
    return test_summary("test_unigram");
}
