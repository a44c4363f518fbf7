/* Fuzz target: the BPE tokenizers (src/tokenizer/bpe*.c) on arbitrary
 * bytes. The first byte picks a tokenizer and the flags (bit 6
 * add_special, bit 7 parse_special); the rest is the text, encoded,
 * decoded and streamed back one id at a time. Checked on every input: ids
 * inside the vocabulary; without parse_special no special token at all
 * (user text never becomes one); the stream returns only valid UTF-8 and,
 * all told, the lossy UTF-8 of the batch decode; where the vocabulary
 * covers every byte and nothing normalizes, decode(encode(x)) is x.
 *
 * The tokenizers: three small built-in tokenizer.json pipelines (byte-level
 * with Split + ByteLevel, NFC, Digits and added tokens with lstrip/rstrip/
 * single_word; SentencePiece-style with Prepend/Replace and byte fallback;
 * Metaspace with Punctuation), plus the real vocabularies of llama.cpp's
 * test files (gpt-2, llama-bpe, qwen2, llama-spm, deepseek-llm, falcon)
 * and SmolLM2 when scripts/fetch-llama-cpp-src.sh / fetch-smollm2.sh have
 * cached them. A first byte of 0 instead loads the rest as a tokenizer.json
 * (the loader on arbitrary JSON) and encodes a fixed text with it. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf-impl.h"
#include "tokenizer/bpe.h"

typedef struct fz_tok {
    ia_bpe *b;
    bool roundtrip; /* decode(encode(x)) == x */
} fz_tok;

static fz_tok toks[16];
static size_t n_toks;

static char *build(const char *const *parts)
{
    size_t n = 0;
    for (size_t i = 0; parts[i]; i++)
        n += strlen(parts[i]);
    char *s = malloc(n + 1), *p = s;
    for (size_t i = 0; parts[i]; i++)
        p += sprintf(p, "%s", parts[i]);
    return s;
}

/* The byte-level vocabulary: byte b is id b (as its GPT-2 character),
 * then a few merges. */
static char *bytelevel_json(const char *pre, const char *normalizer, bool strip)
{
    static char vocab[256 * 16 + 512];
    char *v = vocab;
    for (int c = 0; c < 256; c++) {
        int u = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174) ? c
                : c <= 32 ? 256 + c : c <= 160 ? 289 + c - 127 : 323;
        v += sprintf(v, "%s\"", c ? "," : "");
        if (u == '"' || u == '\\')
            v += sprintf(v, "\\%c", u);
        else if (u < 0x80)
            v += sprintf(v, "%c", u);
        else
            v += sprintf(v, "%c%c", 0xc0 | (u >> 6), 0x80 | (u & 0x3f));
        v += sprintf(v, "\":%d", c);
    }
    sprintf(v, ",\"Ġt\":256,\"he\":257,\"Ġthe\":258,\"aa\":259,\"Ã©\":260,\"12\":261,\"<|\":262,\"<|x\":263,"
               "\"<|x|\":264,\"<|x|>\":265,\"<|im_end|>\":266,\"<tool>\":267,\"[w]\":268");
    const char *parts[] = {
        "{\"added_tokens\":[{\"id\":265,\"content\":\"<|x|>\",\"special\":true},"
        "{\"id\":266,\"content\":\"<|im_end|>\",\"special\":true},"
        "{\"id\":267,\"content\":\"<tool>\",\"special\":false,",
        strip ? "\"lstrip\":true,\"rstrip\":true}," : "\"lstrip\":false},",
        "{\"id\":268,\"content\":\"[w]\",\"single_word\":true,\"special\":false}],\"normalizer\":",
        normalizer, ",\"pre_tokenizer\":", pre,
        ",\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"A\"}},"
        "{\"SpecialToken\":{\"id\":\"<|im_end|>\"}}],\"special_tokens\":{\"<|im_end|>\":{\"ids\":[266]}}},"
        "\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"ignore_merges\":true,\"vocab\":{",
        vocab,
        "},\"merges\":[[\"Ġ\",\"t\"],[\"h\",\"e\"],[\"Ġt\",\"he\"],[\"a\",\"a\"],[\"Ã\",\"©\"],[\"1\",\"2\"],"
        "[\"<\",\"|\"],[\"<|\",\"x\"],[\"<|x\",\"|\"],[\"<|x|\",\">\"]]}}",
        NULL};
    return build(parts);
}

static char *spm_json(const char *normalizer, const char *pre)
{
    static char vocab[256 * 16 + 256];
    char *v = vocab;
    v += sprintf(v, "\"<unk>\":0,\"<s>\":1,\"</s>\":2");
    for (int c = 0; c < 256; c++)
        v += sprintf(v, ",\"<0x%02X>\":%d", c, 3 + c);
    sprintf(v, ",\"▁\":259,\"a\":260,\"b\":261,\"▁a\":262,\"ab\":263,\"▁ab\":264,\"c\":265,\".\":266");
    const char *parts[] = {
        "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true},{\"id\":1,\"content\":\"<s>\","
        "\"special\":true},{\"id\":2,\"content\":\"</s>\",\"special\":true}],\"normalizer\":",
        normalizer, ",\"pre_tokenizer\":", pre,
        ",\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\"}},"
        "{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{\"<s>\":{\"ids\":[1]}}},"
        "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"▁\"},"
        "\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \","
        "\"start\":1,\"stop\":0}]},\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,"
        "\"byte_fallback\":true,\"vocab\":{",
        vocab, "},\"merges\":[\"▁ a\",\"a b\",\"▁a b\"]}}", NULL};
    return build(parts);
}

static void add_json(char *json, bool roundtrip)
{
    ia_bpe *b;
    if (ia__bpe_from_json_text(json, strlen(json), "fuzz.json", &b) != IA_OK) {
        fprintf(stderr, "fuzz_bpe: built-in tokenizer: %s\n", ia_errmsg());
        abort();
    }
    toks[n_toks++] = (fz_tok){b, roundtrip};
    free(json);
}

static void add_gguf(const char *path, bool roundtrip)
{
    ia_gguf *g;
    ia_bpe *b;
    if (n_toks == sizeof toks / sizeof *toks || ia__gguf_open(path, &g) != IA_OK)
        return;
    if (ia__bpe_from_gguf(g, &b) == IA_OK)
        toks[n_toks++] = (fz_tok){b, roundtrip};
    ia__gguf_close(g);
}

/* The cache scripts/fetch-*.sh fill (nothing is downloaded here). */
static void add_cached(void)
{
    char cache[512], dir[1024], path[1400];
    const char *env = getenv("IA_DEV_CACHE"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (env)
        snprintf(cache, sizeof cache, "%s", env);
    else if (xdg)
        snprintf(cache, sizeof cache, "%s/ipfs-accelerate-dev", xdg);
    else if (home)
        snprintf(cache, sizeof cache, "%s/.cache/ipfs-accelerate-dev", home);
    else
        return;
    DIR *d = opendir(cache);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strncmp(e->d_name, "llama-cpp-python-", 17))
            continue;
        snprintf(dir, sizeof dir, "%s/%s/vendor/llama.cpp/models", cache, e->d_name);
        static const struct { const char *name; bool roundtrip; } vocabs[] = {
            {"gpt-2", true}, {"llama-bpe", true}, {"qwen2", false}, /* NFC */
            {"llama-spm", false}, {"deepseek-llm", true}, {"falcon", false}}; /* 28 bytes lack tokens */
        for (size_t i = 0; i < sizeof vocabs / sizeof *vocabs; i++) {
            snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", dir, vocabs[i].name);
            add_gguf(path, vocabs[i].roundtrip);
        }
        break;
    }
    if (d)
        closedir(d);
    snprintf(path, sizeof path, "%s/models/smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf", cache);
    add_gguf(path, false); /* its vocabulary lacks some bytes */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    add_json(bytelevel_json(
                 "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\",\"individual_digits\":false},"
                 "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?"
                 "\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},"
                 "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                 "\"use_regex\":false}]}",
                 "null", false),
             true);
    add_json(bytelevel_json("{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"use_regex\":true}",
                            "{\"type\":\"NFC\"}", true),
             false);
    add_json(spm_json("{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"▁\"},"
                      "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"▁\"}]}",
                      "null"),
             false);
    add_json(spm_json("null", "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Punctuation\",\"behavior\":"
                              "\"Contiguous\"},{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":"
                              "\"always\",\"split\":true}]}"),
             false);
    add_cached();
    return 0;
}

static bool valid_utf8(const char *s, size_t n)
{
    ia_i32vec cps = {0};
    long bad = ia__utf8_decode(s, n, &cps);
    ia__i32vec_free(&cps);
    return bad == 0;
}

/* The lossy UTF-8 of s[0..n) (each invalid subsequence one U+FFFD). */
static char *lossy(const char *s, size_t n, size_t *out_n)
{
    ia_i32vec cps = {0};
    ia__utf8_decode(s, n, &cps);
    char *o = malloc(cps.n * 4 + 1), *p = o;
    for (size_t i = 0; i < cps.n; i++) {
        uint32_t c = (uint32_t)cps.v[i];
        if (c < 0x80)
            *p++ = (char)c;
        else if (c < 0x800)
            *p++ = (char)(0xc0 | c >> 6), *p++ = (char)(0x80 | (c & 0x3f));
        else if (c < 0x10000)
            *p++ = (char)(0xe0 | c >> 12), *p++ = (char)(0x80 | ((c >> 6) & 0x3f)), *p++ = (char)(0x80 | (c & 0x3f));
        else
            *p++ = (char)(0xf0 | c >> 18), *p++ = (char)(0x80 | ((c >> 12) & 0x3f)),
            *p++ = (char)(0x80 | ((c >> 6) & 0x3f)), *p++ = (char)(0x80 | (c & 0x3f));
    }
    ia__i32vec_free(&cps);
    *out_n = (size_t)(p - o);
    return o;
}

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_bpe: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    if (data[0] == 0) { /* the rest is a tokenizer.json */
        ia_bpe *b;
        if (ia__bpe_from_json_text(text, n, "fuzz.json", &b) == IA_OK) {
            ia_i32vec ids = {0};
            ia__bpe_encode(b, "Hello, wörld! <s> 123 日本 😀 \xff", 33, true, true, &ids);
            ia__i32vec_free(&ids);
            ia__bpe_free(b);
        }
        return 0;
    }
    const fz_tok *t = &toks[(data[0] & 0x3f) % n_toks];
    bool add = data[0] & 0x40, parse = data[0] & 0x80, skip = data[1 % size] & 1;
    ia_i32vec ids = {0};
    check(ia__bpe_encode(t->b, text, n, add, parse, &ids) == IA_OK, "encode failed");
    size_t nv = ia__bpe_n_vocab(t->b), len;
    for (size_t i = 0; i < ids.n; i++) {
        check(ids.v[i] >= 0 && (size_t)ids.v[i] < nv, "id outside the vocabulary");
        if (!parse && !add)
            check(!ia__bpe_is_special(t->b, ids.v[i]), "user text became a special token");
    }
    check(ia__bpe_decode(t->b, ids.v, ids.n, skip, NULL, 0, &len) == IA_OK, "decode failed");
    char *dec = malloc(len + 1);
    check(ia__bpe_decode(t->b, ids.v, ids.n, skip, dec, len + 1, &len) == IA_OK, "decode failed");
    size_t ln;
    char *want = lossy(dec, len, &ln);
    if (t->roundtrip && !add && !(parse && skip)) {
        size_t xn;
        char *x = lossy(text, n, &xn);
        check(xn == ln && !memcmp(x, want, xn), "decode(encode(x)) != x");
        free(x);
    }
    ia_bpe_stream *s;
    check(ia__bpe_stream_new(t->b, skip, &s) == IA_OK, "stream");
    char *got = malloc(ln + 8);
    size_t gn = 0;
    for (size_t i = 0; i <= ids.n; i++) {
        const char *p;
        size_t pn;
        ia_status st = i < ids.n ? ia__bpe_stream_push(s, ids.v[i], &p, &pn) : ia__bpe_stream_flush(s, &p, &pn);
        check(st == IA_OK && valid_utf8(p, pn), "the stream returned invalid UTF-8");
        check(gn + pn <= ln, "the stream returned more than the decode");
        memcpy(got + gn, p, pn);
        gn += pn;
    }
    check(gn == ln && !memcmp(got, want, ln), "the stream differs from the decode");
    ia__bpe_stream_free(s);
    free(got);
    free(want);
    free(dec);
    ia__i32vec_free(&ids);
    return 0;
}
