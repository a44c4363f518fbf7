/*
 * The tokenizer against Hugging Face `tokenizers` (ids in
 * tests/data/tokenizer/minilm.jsonl, made by scripts/gen-tokenizer-goldens.py
 * on the real all-MiniLM-L6-v2 files): through tokenizer.json and through
 * the vocab.txt + tokenizer_config.json fallback. Then truncation, invalid
 * UTF-8 and broken files.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/core-impl.h"
#include "ipfs_accelerate/tokenizer.h"
#include "test.h"

#define TOKDIR IA_SHARED "/models/all-MiniLM-L6-v2-tokenizer"

static int compare_goldens(const ia_tokenizer *tok, const char *label)
{
    char *text;
    CHECK_OK(ia__read_file(IA_TEST_DATA "/tokenizer/minilm.jsonl", &text, NULL));
    int n = 0, bad = 0;
    int32_t ids[4096];
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *t = cJSON_GetObjectItem(j, "text"), *want = cJSON_GetObjectItem(j, "ids");
        const char *hex = cJSON_GetObjectItem(j, "utf8")->valuestring;
        size_t len = strlen(hex) / 2, got = 0;
        char *bytes = malloc(len + 1);
        for (size_t i = 0; i < len; i++)
            sscanf(hex + 2 * i, "%2hhx", (unsigned char *)&bytes[i]);
        ia_status st = ia_tokenizer_encode(tok, bytes, len, 100000, ids, IA_ARRAY_LEN(ids), &got, NULL);
        free(bytes);
        bool same = st == IA_OK && got == (size_t)cJSON_GetArraySize(want);
        for (size_t i = 0; same && i < got; i++)
            same = ids[i] == cJSON_GetArrayItem(want, (int)i)->valueint;
        if (!same && bad++ < 5) {
            fprintf(stderr, "%s: input %d %s differs (%zu ids, want %d):", label, n,
                    cJSON_PrintUnformatted(t), got, cJSON_GetArraySize(want));
            for (size_t i = 0; i < got && i < 40; i++)
                fprintf(stderr, " %d", ids[i]);
            fputc('\n', stderr);
        }
        n++;
        cJSON_Delete(j);
    }
    ia__free(text);
    CHECK_MSG(n >= 410, "%d golden inputs (README.md states 410)", n);
    CHECK_MSG(bad == 0, "%s: %d of %d inputs differ from Hugging Face tokenizers", label, bad, n);
    printf("%s: %d inputs, %d differ\n", label, n, bad);
    return bad;
}

static void copy_file(const char *from, const char *to)
{
    char *buf;
    size_t len;
    CHECK_OK(ia__read_file(from, &buf, &len));
    FILE *f = fopen(to, "wb");
    CHECK(f != NULL);
    if (f) {
        fwrite(buf, 1, len, f);
        fclose(f);
    }
    ia__free(buf);
}

static void write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs(content, f);
        fclose(f);
    }
}

int main(void)
{
    ia_tokenizer *tok;
    CHECK_OK(ia_tokenizer_load(TOKDIR, &tok));
    if (!tok)
        return test_summary("test_tokenizer");
    CHECK_STR_CONTAINS(ia_tokenizer_describe(tok), "tokenizer.json");
    CHECK(ia_tokenizer_vocab_size(tok) == 30522);
    CHECK(ia_tokenizer_token_id(tok, "[CLS]") == 101);
    CHECK(!strcmp(ia_tokenizer_id_token(tok, 102), "[SEP]"));
    compare_goldens(tok, "tokenizer.json");

    /* Truncation keeps room for [CLS] and [SEP]; counts what it dropped. */
    int32_t ids[16];
    size_t n = 0;
    ia_encoding_stats st = {0};
    CHECK_OK(ia_tokenizer_encode(tok, "one two three four five six seven", 33, 5, ids, 16, &n, &st));
    CHECK(n == 5 && ids[0] == 101 && ids[4] == 102 && st.n_truncated == 4);
    /* A buffer too small: *n_ids says how many are needed. */
    CHECK_OK(ia_tokenizer_encode(tok, "one two three", 13, 0, ids, 2, &n, NULL));
    CHECK(n == 5);
    /* Invalid UTF-8: each maximal bad sequence is one U+FFFD, counted. */
    st = (ia_encoding_stats){0};
    CHECK_OK(ia_tokenizer_encode(tok, "caf\xc3 ok \xff\xfe \xe2\x82", 13, 0, ids, 16, &n, &st));
    CHECK_MSG(st.n_invalid_utf8 == 4, "%zu invalid sequences", st.n_invalid_utf8);
    CHECK(n == 4); /* [CLS] caf ok [SEP]: U+FFFD is dropped by the normalizer */
    /* Empty text. */
    CHECK_OK(ia_tokenizer_encode(tok, "", 0, 0, ids, 16, &n, NULL));
    CHECK(n == 2 && ids[0] == 101 && ids[1] == 102);
    ia_tokenizer_free(tok);

    /* The vocab.txt fallback gives the same ids. */
    char dir[] = "/tmp/ia-tok-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], path2[256];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    copy_file(TOKDIR "/vocab.txt", path);
    snprintf(path2, sizeof path2, "%s/tokenizer_config.json", dir);
    copy_file(TOKDIR "/tokenizer_config.json", path2);
    CHECK_OK(ia_tokenizer_load(dir, &tok));
    if (tok) {
        CHECK_STR_CONTAINS(ia_tokenizer_describe(tok), "vocab.txt");
        compare_goldens(tok, "vocab.txt");
        ia_tokenizer_free(tok);
    }

    /* Broken files: clear errors naming the file. */
    char json[256];
    snprintf(json, sizeof json, "%s/tokenizer.json", dir);
    write_file(json, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": ");
    CHECK(ia_tokenizer_load(dir, &tok) == IA_ERR_FORMAT);
    CHECK_STR_CONTAINS(ia_errmsg(), "tokenizer.json");
    write_file(json, "{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}"); /* BPE without merges */
    CHECK(ia_tokenizer_load(dir, &tok) == IA_ERR_FORMAT);
    CHECK_STR_CONTAINS(ia_errmsg(), "merges");
    write_file(json, "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
    CHECK(ia_tokenizer_load(dir, &tok) == IA_ERR_FORMAT);
    CHECK_STR_CONTAINS(ia_errmsg(), "model.vocab");
    write_file(json, "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}}");
    CHECK(ia_tokenizer_load(dir, &tok) == IA_ERR_UNSUPPORTED);
    CHECK_STR_CONTAINS(ia_errmsg(), "WordLevel");
    write_file(json, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0, \"b\": 0}}}");
    CHECK(ia_tokenizer_load(dir, &tok) == IA_ERR_FORMAT);
    unlink(json);
    unlink(path);
    unlink(path2);
    CHECK(ia_tokenizer_load(dir, &tok) == IA_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(ia_errmsg(), dir);
    rmdir(dir);

    /* Allocation failures are reported, never crash or leak. */
    for (long k = 1; k < 400; k += 7) {
        ia__alloc_fail_after(k);
        ia_status s = ia_tokenizer_load(TOKDIR, &tok);
        ia__alloc_fail_after(0);
        CHECK(s == IA_OK || s == IA_ERR_NOMEM);
        if (s == IA_OK)
            ia_tokenizer_free(tok);
    }
    return test_summary("test_tokenizer");
}
