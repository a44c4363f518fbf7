/* Fuzz target: a small BERT model (written once at start: 64-token
 * vocabulary, 16 positions) whose tokenizer.json is the input, loaded and
 * used to embed texts. Whatever ids or specials the file declares, the
 * load refuses it or the embedding stays inside the model's tables. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-util.h"
#include "ipfs_accelerate/model.h"

enum { VOCAB = 64, POS = 16, H = 8, I = 16 };
static char dir[64];

static const struct { const char *name; int d0, d1; } tensors[] = {
    {"embeddings.word_embeddings.weight", VOCAB, H},
    {"embeddings.position_embeddings.weight", POS, H},
    {"embeddings.token_type_embeddings.weight", 2, H},
    {"embeddings.LayerNorm.weight", H, 0},
    {"embeddings.LayerNorm.bias", H, 0},
    {"encoder.layer.0.attention.self.query.weight", H, H},
    {"encoder.layer.0.attention.self.query.bias", H, 0},
    {"encoder.layer.0.attention.self.key.weight", H, H},
    {"encoder.layer.0.attention.self.key.bias", H, 0},
    {"encoder.layer.0.attention.self.value.weight", H, H},
    {"encoder.layer.0.attention.self.value.bias", H, 0},
    {"encoder.layer.0.attention.output.dense.weight", H, H},
    {"encoder.layer.0.attention.output.dense.bias", H, 0},
    {"encoder.layer.0.attention.output.LayerNorm.weight", H, 0},
    {"encoder.layer.0.attention.output.LayerNorm.bias", H, 0},
    {"encoder.layer.0.intermediate.dense.weight", I, H},
    {"encoder.layer.0.intermediate.dense.bias", I, 0},
    {"encoder.layer.0.output.dense.weight", H, I},
    {"encoder.layer.0.output.dense.bias", H, 0},
    {"encoder.layer.0.output.LayerNorm.weight", H, 0},
    {"encoder.layer.0.output.LayerNorm.bias", H, 0},
};
#define N_TENSORS (sizeof tensors / sizeof tensors[0])

/* model.safetensors: every tensor F32, values sin(k) (LayerNorm weights 1). */
static int write_weights(void)
{
    char header[4096];
    size_t n = 0, off = 0;
    n += (size_t)snprintf(header + n, sizeof header - n, "{");
    for (size_t i = 0; i < N_TENSORS; i++) {
        size_t count = (size_t)tensors[i].d0 * (tensors[i].d1 ? tensors[i].d1 : 1);
        char shape[32];
        if (tensors[i].d1)
            snprintf(shape, sizeof shape, "[%d,%d]", tensors[i].d0, tensors[i].d1);
        else
            snprintf(shape, sizeof shape, "[%d]", tensors[i].d0);
        n += (size_t)snprintf(header + n, sizeof header - n, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":%s,"
                              "\"data_offsets\":[%zu,%zu]}", i ? "," : "", tensors[i].name, shape, off,
                              off + 4 * count);
        off += 4 * count;
    }
    n += (size_t)snprintf(header + n, sizeof header - n, "}");
    char path[128];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    uint64_t len = n;
    fwrite(&len, 8, 1, f);
    fwrite(header, 1, n, f);
    for (size_t i = 0, k = 0; i < N_TENSORS; i++) {
        size_t count = (size_t)tensors[i].d0 * (tensors[i].d1 ? tensors[i].d1 : 1);
        const bool ln_weight = strstr(tensors[i].name, "LayerNorm.weight") != NULL;
        for (size_t j = 0; j < count; j++, k++) {
            float v = ln_weight ? 1.0f : 0.5f * sinf((float)k);
            fwrite(&v, 4, 1, f);
        }
    }
    return fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(dir, sizeof dir, "/tmp/ia-fuzz-model-tok-%ld", (long)getpid());
    char cmd[128];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    char config[512];
    snprintf(config, sizeof config,
             "{\"model_type\": \"bert\", \"vocab_size\": %d, \"hidden_size\": %d, \"num_hidden_layers\": 1, "
             "\"num_attention_heads\": 2, \"intermediate_size\": %d, \"max_position_embeddings\": %d}",
             VOCAB, H, I, POS);
    if (system(cmd) || !fuzz_write_file(dir, "config.json", config, strlen(config)) || write_weights())
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_write_file(dir, "tokenizer.json", data, size))
        return 0;
    ia_model_options mo = {.n_threads = 1, .device = "cpu"};
    ia_model *m;
    if (ia_model_load(dir, &mo, &m) != IA_OK)
        return 0;
    static const char *texts[3] = {
        "hello world", "",
        "a long text that runs past the sixteen positions of this model: a b c d e f g h i j k l m n o p [CLS] [SEP]"};
    float out[3 * H];
    if (ia_model_embed(m, texts, NULL, 3, out, NULL) == IA_OK)
        for (int i = 0; i < 3 * H; i++)
            if (!isfinite(out[i]))
                abort();
    ia_model_free(m);
    return 0;
}
