/*
 * Bad model folders fail with a clear message naming the problem, and
 * never crash: missing files, unknown architecture, wrong tensor shapes
 * and dtypes, truncated or hostile safetensors, bad configuration values.
 * Each case copies the tiny synthetic model and breaks one thing.
 */
#include <stdlib.h>
#include <unistd.h>

#include "ipfs_accelerate/ipfs_accelerate.h"
#include "model/safetensors-impl.h"
#include "test.h"

#define TINY IA_BUILD_DIR "/tests/models/tiny-f32"

static char tmp[256];

static void fresh_copy(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf %s && cp -r %s %s", tmp, TINY, tmp);
    CHECK(system(cmd) == 0);
}

static void write_file(const char *name, const void *data, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static void sh(const char *fmt, const char *arg)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, tmp, arg);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
}

/* Load must fail with `want` and a message containing `needle`. */
static void expect_fail(const char *what, ia_status want, const char *needle)
{
    ia_model *m = NULL;
    ia_status st = ia_model_load(tmp, NULL, &m);
    CHECK_MSG(st == want, "%s: got status %d (%s), want %d", what, st, ia_errmsg(), want);
    CHECK_MSG(strstr(ia_errmsg(), needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, ia_errmsg(), needle);
    CHECK(m == NULL);
    ia_model_free(m);
}

/* Rewrite one tensor's header entry: replace `from` by `to` in the header
 * (same length, so offsets stay valid). */
static void patch_header(const char *from, const char *to)
{
    char path[512], *buf;
    size_t len;
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    CHECK_OK(ia__read_file(path, &buf, &len));
    char *hit = memmem(buf, len, from, strlen(from));
    CHECK_MSG(hit != NULL, "header lacks %s", from);
    if (hit)
        memcpy(hit, to, strlen(to));
    write_file("model.safetensors", buf, len);
    ia__free(buf);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/ia-test-model-errors-%d", (int)getpid());

    ia_model *m = NULL;
    CHECK(ia_model_load("/nonexistent/model", NULL, &m) == IA_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(ia_errmsg(), "/nonexistent/model");

    fresh_copy();
    CHECK_OK(ia_model_load(tmp, NULL, &m));
    ia_model_free(m);

    fresh_copy();
    sh("rm %s/config.json", "");
    expect_fail("missing config", IA_ERR_NOT_FOUND, "config.json");

    fresh_copy();
    sh("rm %s/model.safetensors", "");
    expect_fail("missing weights", IA_ERR_NOT_FOUND, "model.safetensors");

    fresh_copy();
    sh("rm %s/tokenizer.json %s/vocab.txt", tmp);
    expect_fail("missing tokenizer", IA_ERR_NOT_FOUND, "tokenizer");

    fresh_copy();
    sh("sed -i 's/\"model_type\": \"bert\"/\"model_type\": \"gpt2\"/' %s/config.json", "");
    expect_fail("unknown architecture", IA_ERR_UNSUPPORTED, "gpt2");

    fresh_copy();
    sh("sed -i 's/\"hidden_act\": \"gelu\"/\"hidden_act\": \"swish\"/' %s/config.json", "");
    expect_fail("unknown activation", IA_ERR_UNSUPPORTED, "swish");

    fresh_copy();
    sh("sed -i 's/\"num_attention_heads\": 4/\"num_attention_heads\": 5/' %s/config.json", "");
    expect_fail("heads do not divide hidden", IA_ERR_FORMAT, "num_attention_heads");

    fresh_copy();
    sh("sed -i 's/\"hidden_size\": 32/\"hidden_size\": \"32\"/' %s/config.json", "");
    expect_fail("string hidden size", IA_ERR_FORMAT, "hidden_size");

    fresh_copy();
    write_file("config.json", "{\"model_type\": \"bert\", ", 24);
    expect_fail("malformed config", IA_ERR_FORMAT, "config.json");

    /* config says 3 layers; the weights have 2 */
    fresh_copy();
    sh("sed -i 's/\"num_hidden_layers\": 2/\"num_hidden_layers\": 3/' %s/config.json", "");
    expect_fail("missing layer", IA_ERR_NOT_FOUND, "encoder.layer.2.attention.self.query.weight");

    /* intermediate size mismatch names tensor, expected and found */
    fresh_copy();
    sh("sed -i 's/\"intermediate_size\": 64/\"intermediate_size\": 65/' %s/config.json", "");
    expect_fail("wrong shape", IA_ERR_FORMAT, "expected shape [65, 32], found [64, 32]");

    /* dtype in the header changed to I32 (same size as F32) */
    fresh_copy();
    patch_header("\"embeddings.LayerNorm.bias\":{\"dtype\":\"F32\"", "\"embeddings.LayerNorm.bias\":{\"dtype\":\"I32\"");
    expect_fail("wrong dtype", IA_ERR_FORMAT, "found I32");

    /* truncated weights */
    fresh_copy();
    sh("truncate -s 2000000 %s/model.safetensors", "");
    expect_fail("truncated safetensors", IA_ERR_FORMAT, "truncated");
    fresh_copy();
    sh("truncate -s 5 %s/model.safetensors", "");
    expect_fail("tiny safetensors", IA_ERR_FORMAT, "too short");
    fresh_copy();
    write_file("model.safetensors", "\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10);
    expect_fail("huge header length", IA_ERR_FORMAT, "header length");
    fresh_copy();
    write_file("model.safetensors", "\x04\0\0\0\0\0\0\0[1,]", 12);
    expect_fail("header not an object", IA_ERR_FORMAT, "not a JSON object");

    /* unsupported pooling */
    fresh_copy();
    sh("sed -i 's/\"pooling_mode_mean_sqrt_len_tokens\": false/\"pooling_mode_mean_sqrt_len_tokens\": true/' %s/1_Pooling/config.json", "");
    expect_fail("two pooling modes", IA_ERR_UNSUPPORTED, "pooling");

    /* token ids a tokenizer.json declares must index the embedding table */
    fresh_copy();
    sh("python3 -c \"import json,sys; p=sys.argv[1]; d=json.load(open(p)); "
       "d['post_processor']={'type':'BertProcessing','sep':['[SEP]',102],'cls':['[CLS]',99999999]}; "
       "json.dump(d,open(p,'w'))\" %s/tokenizer.json", "");
    expect_fail("BertProcessing cls id outside the vocabulary", IA_ERR_FORMAT, "outside the vocabulary");

    /* room for text past the special tokens: 2 specials here */
    fresh_copy();
    write_file("sentence_bert_config.json", "{\"max_seq_length\": 2}", 21);
    expect_fail("max_seq_length of the specials alone", IA_ERR_INVALID, "leaves no room for text");
    fresh_copy();
    {
        ia_model_options mo = {.max_seq_length = 2};
        CHECK(ia_model_load(tmp, &mo, &m) == IA_ERR_INVALID && !m);
        CHECK_STR_CONTAINS(ia_errmsg(), "max_seq_length 2");
        /* longer than the position table: cut to it */
        mo.max_seq_length = 100000;
        CHECK_OK(ia_model_load(tmp, &mo, &m));
    }
    if (m) {
        ia_model_info info;
        ia_model_get_info(m, &info);
        CHECK(info.max_seq_length == 512);
        static char long_text[8000];
        for (size_t i = 0; i + 2 < sizeof long_text; i += 2)
            memcpy(long_text + i, "a ", 2);
        const char *texts[2] = {long_text, "hello"};
        float out[2 * 32];
        ia_embed_stats stats = {0};
        CHECK_OK(ia_model_embed(m, texts, NULL, 2, out, &stats));
        CHECK_MSG(stats.n_tokens == 512 + 3, "n_tokens = %zu", stats.n_tokens);
        ia_embed_options eo = {.max_tokens = 2};
        CHECK(ia_model_embed_opts(m, texts, NULL, 2, &eo, out, NULL) == IA_ERR_INVALID);
        CHECK_STR_CONTAINS(ia_errmsg(), "special tokens");
        eo.max_tokens = 3;
        stats.n_tokens = 0;
        CHECK_OK(ia_model_embed_opts(m, texts, NULL, 2, &eo, out, &stats));
        CHECK_MSG(stats.n_tokens == 6, "n_tokens = %zu", stats.n_tokens);
        /* zeroed options are the defaults: the model's Normalize module */
        ia_embed_options zero = {0};
        float dflt[2 * 32], zeroed[2 * 32];
        CHECK_OK(ia_model_embed(m, texts, NULL, 2, dflt, NULL));
        CHECK_OK(ia_model_embed_opts(m, texts, NULL, 2, &zero, zeroed, NULL));
        CHECK(!memcmp(dflt, zeroed, sizeof dflt));
        double norm = 0;
        for (int j = 0; j < 32; j++)
            norm += (double)zeroed[j] * zeroed[j];
        CHECK_MSG(fabs(norm - 1) < 1e-5, "|v|^2 = %f: zeroed options did not normalize", norm);
        int32_t ids[8];
        size_t n_ids = 0;
        CHECK(ia_tokenizer_encode(ia_model_tokenizer(m), "hello", 5, 1, ids, 8, &n_ids, NULL) == IA_ERR_INVALID);
        ia_model_free(m);
        m = NULL;
    }

    /* invalid UTF-8 and empty texts embed, and the bad bytes are counted */
    fresh_copy();
    CHECK_OK(ia_model_load(tmp, NULL, &m));
    if (m) {
        const char *texts[3] = {"ok \xff\xfe bad", "", "caf\xc3"};
        float out[3 * 32];
        ia_embed_stats stats = {0};
        CHECK_OK(ia_model_embed(m, texts, NULL, 3, out, &stats));
        CHECK_MSG(stats.n_invalid_utf8 == 3, "n_invalid_utf8 = %zu", stats.n_invalid_utf8);
        for (int i = 0; i < 3 * 32; i++)
            CHECK(isfinite(out[i]));
        /* allocation failure is an error, not a crash */
        ia__alloc_fail_after(3);
        ia_status st = ia_model_embed(m, texts, NULL, 3, out, NULL);
        ia__alloc_fail_after(0);
        CHECK(st == IA_ERR_NOMEM);
        ia_model_free(m);
    }
    /* The README's example: a bare name is also tried as
     * sentence-transformers/NAME, in C (Python uses the same function). */
    {
        char cache[300], cmd[1024];
        snprintf(cache, sizeof cache, "%s-hf", tmp);
        const char *sha = "0123456789abcdef0123456789abcdef01234567";
        snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s/models--sentence-transformers--tiny-x/snapshots "
                 "%s/models--sentence-transformers--tiny-x/refs && cp -r %s %s/models--sentence-transformers--tiny-x/"
                 "snapshots/%s && printf %s > %s/models--sentence-transformers--tiny-x/refs/main",
                 cache, cache, cache, TINY, cache, sha, sha, cache);
        CHECK(system(cmd) == 0);
        setenv("HF_HUB_CACHE", cache, 1);
        setenv("HF_HUB_OFFLINE", "1", 1);
        char *dir = NULL;
        CHECK_OK(ia_model_resolve("tiny-x", NULL, &dir));
        CHECK_MSG(dir && strstr(dir, "models--sentence-transformers--tiny-x/snapshots/"), "%s", dir ? dir : "");
        ia_free(dir);
        CHECK_OK(ia_model_load("tiny-x", NULL, &m));
        ia_model_free(m);
        m = NULL;
        CHECK(ia_model_load("no-such-model", NULL, &m) == IA_ERR_NOT_FOUND);
        CHECK_STR_CONTAINS(ia_errmsg(), "sentence-transformers/no-such-model");
        CHECK(ia_model_resolve("./no/such/folder", NULL, &dir) == IA_ERR_NOT_FOUND);
        CHECK_STR_CONTAINS(ia_errmsg(), "does not exist");
        unsetenv("HF_HUB_CACHE");
        unsetenv("HF_HUB_OFFLINE");
        snprintf(cmd, sizeof cmd, "rm -rf %s", cache);
        CHECK(system(cmd) == 0);
    }

    sh("rm -rf %s", "");
    return test_summary("test_model_errors");
}
