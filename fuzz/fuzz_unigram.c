/* Fuzz target: the Unigram tokenizer (src/tokenizer/unigram.c). The first
 * byte picks what the rest is:
 *   0: a whole tokenizer.json (the loader on arbitrary JSON), then a fixed
 *      multilingual text, a pair and a decode with whatever loaded;
 *   1: a text, encoded (alone and as a pair) and decoded with a built-in
 *      XLM-R-style tokenizer (a small Precompiled charsmap, Strip, Replace,
 *      Metaspace, a normalized <mask> with lstrip, byte fallback);
 *   2: a precompiled_charsmap's raw bytes (two length bytes, then that
 *      many), then a text: the double-array walk on arbitrary tries.
 * Checked on every input: ids inside the vocabulary; decoding the ids
 * succeeds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-util.h"
#include "ipfs_accelerate/tokenizer.h"
#include "tokenizer/tokenizer-impl.h"

static char dir_json[64], dir_builtin[64], dir_charsmap[64];
static ia_tokenizer *builtin;

static char *base64(const uint8_t *b, size_t n)
{
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
    return out;
}

/* A tokenizer.json whose Precompiled normalizer has charsmap cm (base64). */
static char *tokenizer_json(const char *cm)
{
    static const char fmt[] =
        "{\"added_tokens\":["
        "{\"id\":0,\"content\":\"<unk>\",\"normalized\":false,\"special\":true},"
        "{\"id\":1,\"content\":\"<s>\",\"normalized\":false,\"special\":true},"
        "{\"id\":2,\"content\":\"</s>\",\"normalized\":false,\"special\":true},"
        "{\"id\":3,\"content\":\"<mask>\",\"lstrip\":true,\"normalized\":true,\"special\":true}],"
        "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Precompiled\",\"precompiled_charsmap\":"
        "\"%s\"},{\"type\":\"Strip\",\"strip_left\":false,\"strip_right\":true},"
        "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" {2,}\"},\"content\":\"\xe2\x96\x81\"}]},"
        "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"always\"},"
        "\"post_processor\":{\"type\":\"RobertaProcessing\",\"sep\":[\"</s>\",2],\"cls\":[\"<s>\",1]},"
        "\"decoder\":{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"always\"},"
        "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"byte_fallback\":true,\"vocab\":["
        "[\"<unk>\",0],[\"<s>\",0],[\"</s>\",0],[\"<mask>\",0],[\"\xe2\x96\x81\",-2],[\"\xe2\x96\x81he\",-3],"
        "[\"llo\",-3],[\"a\",-3.5],[\"\xe6\xb7\xb1\",-4],[\"<0xC3>\",-9],[\"<0xA9>\",-9],[\"<0xF0>\",-9],"
        "[\"x\",-4.25],[\"xx\",-8.5],[\"\xe2\x96\x81x\",-4.1]]}}";
    size_t n = sizeof fmt + strlen(cm);
    char *s = malloc(n);
    snprintf(s, n, fmt, cm);
    return s;
}

/* The built-in charsmap: "A" -> "a" and "B" -> "" in a 512-unit trie. */
static char *builtin_charsmap(void)
{
    uint8_t b[4 + 512 * 4 + 3] = {0};
    uint32_t units[512] = {0};
    units[0] = 1u << 10;
    units[1 ^ 'A'] = 'A' | 1u << 8 | 1u << 10;
    units[(1 ^ 'A') ^ 1] = 0;
    units[1 ^ 'B'] = 'B' | 1u << 8 | 1u << 10;
    units[(1 ^ 'B') ^ 1] = 2;
    const uint32_t size = sizeof units;
    memcpy(b, &size, 4);
    memcpy(b + 4, units, sizeof units);
    memcpy(b + 4 + sizeof units, "a\0", 3);
    return base64(b, sizeof b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const long pid = (long)getpid();
    snprintf(dir_json, sizeof dir_json, "/tmp/ia-fuzz-ug-%ld-json", pid);
    snprintf(dir_builtin, sizeof dir_builtin, "/tmp/ia-fuzz-ug-%ld-builtin", pid);
    snprintf(dir_charsmap, sizeof dir_charsmap, "/tmp/ia-fuzz-ug-%ld-charsmap", pid);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mkdir -p %s %s %s", dir_json, dir_builtin, dir_charsmap);
    if (system(cmd))
        return 1;
    char *cm = builtin_charsmap(), *json = tokenizer_json(cm);
    bool ok = fuzz_write_file(dir_builtin, "tokenizer.json", json, strlen(json));
    free(cm);
    free(json);
    if (!ok || ia_tokenizer_load(dir_builtin, &builtin) != IA_OK)
        abort();
    return 0;
}

/* Encode text (alone and paired with itself), check the ids, decode them. */
static void exercise(const ia_tokenizer *tok, const char *text, size_t len)
{
    int32_t ids[512], types[512];
    size_t n = 0;
    const size_t nv = ia_tokenizer_vocab_size(tok);
    if (ia_tokenizer_encode(tok, text, len, 0, ids, 512, &n, NULL) == IA_OK) {
        for (size_t i = 0; i < n && i < 512; i++)
            if (ids[i] < 0 || (size_t)ids[i] >= nv)
                abort();
        char *out = NULL;
        ia_status st = ia__tokenizer_decode(tok, ids, n < 512 ? n : 512, true, &out);
        if (st != IA_OK && st != IA_ERR_UNSUPPORTED)
            abort();
        ia__free(out);
    }
    if (ia_tokenizer_encode_pair(tok, text, len, text, len, 24, len % 2, ids, types, 512, &n, NULL) == IA_OK && n > 24)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size)
        return 0;
    const uint8_t mode = data[0] % 3;
    data++, size--;
    if (mode == 0) {
        if (!fuzz_write_file(dir_json, "tokenizer.json", data, size))
            return 0;
        ia_tokenizer *tok;
        if (ia_tokenizer_load(dir_json, &tok) == IA_OK) {
            static const char text[] = "Hello, w\xc3\xb6rld! <mask> \xe6\xb7\xb1\xe5\xba\xa6  <s>x\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd";
            exercise(tok, text, sizeof text - 1);
            ia_tokenizer_free(tok);
        }
    } else if (mode == 1) {
        exercise(builtin, (const char *)data, size);
    } else {
        size_t cl = size >= 2 ? (size_t)data[0] | (size_t)data[1] << 8 : 0;
        cl = cl > size - (size >= 2 ? 2 : size) ? size - (size >= 2 ? 2 : size) : cl;
        const uint8_t *cm = data + (size >= 2 ? 2 : size), *text = cm + cl;
        char *b64 = base64(cm, cl), *json = tokenizer_json(b64);
        ia_tokenizer *tok;
        if (fuzz_write_file(dir_charsmap, "tokenizer.json", json, strlen(json)) &&
            ia_tokenizer_load(dir_charsmap, &tok) == IA_OK) {
            exercise(tok, (const char *)text, (size_t)(data + size - text));
            ia_tokenizer_free(tok);
        }
        free(b64);
        free(json);
    }
    return 0;
}
