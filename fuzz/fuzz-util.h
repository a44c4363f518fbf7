/* What the fuzz targets share: putting the input (or a fixture) where a
 * loader that reads files can find it. */
#ifndef IA_FUZZ_UTIL_H
#define IA_FUZZ_UTIL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* dir/name (dir NULL: name is the path) holds exactly n bytes of data. */
static inline bool fuzz_write_file(const char *dir, const char *name, const void *data, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    const bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* The input as an in-memory file: its fd (close it), path in path[64]. */
static inline int fuzz_memfd(const char *name, const void *data, size_t n, char path[64])
{
    int fd = memfd_create(name, 0);
    if (fd < 0 || write(fd, data, n) != (ssize_t)n) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

/* A safetensors file at path of n f32 tensors (d1 0: one dimension),
 * values 0.5 sin(k), "LayerNorm.weight" ones 1. */
typedef struct fuzz_tensor {
    const char *name;
    int d0, d1;
} fuzz_tensor;

static inline bool fuzz_write_safetensors(const char *path, const fuzz_tensor *t, size_t n)
{
    char header[4096];
    size_t len = 0, off = 0;
    len += (size_t)snprintf(header + len, sizeof header - len, "{");
    for (size_t i = 0; i < n; i++) {
        const size_t count = (size_t)t[i].d0 * (t[i].d1 ? t[i].d1 : 1);
        char shape[32];
        if (t[i].d1)
            snprintf(shape, sizeof shape, "[%d,%d]", t[i].d0, t[i].d1);
        else
            snprintf(shape, sizeof shape, "[%d]", t[i].d0);
        len += (size_t)snprintf(header + len, sizeof header - len,
                                "%s\"%s\":{\"dtype\":\"F32\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}", i ? "," : "",
                                t[i].name, shape, off, off + 4 * count);
        off += 4 * count;
    }
    len += (size_t)snprintf(header + len, sizeof header - len, "}");
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    const uint64_t hl = len;
    bool ok = fwrite(&hl, 8, 1, f) == 1 && fwrite(header, 1, len, f) == len;
    for (size_t i = 0, k = 0; i < n && ok; i++) {
        const size_t count = (size_t)t[i].d0 * (t[i].d1 ? t[i].d1 : 1);
        const bool ln_weight = strstr(t[i].name, "LayerNorm.weight") != NULL;
        for (size_t j = 0; j < count && ok; j++, k++) {
            const float v = ln_weight ? 1.0f : 0.5f * sinf((float)k);
            ok = fwrite(&v, 4, 1, f) == 1;
        }
    }
    return fclose(f) == 0 && ok;
}

/* A one-layer BERT in dir (made if missing): config.json and
 * model.safetensors of FUZZ_BERT_VOCAB tokens, 16 positions, hidden size
 * FUZZ_BERT_H; no tokenizer. */
enum { FUZZ_BERT_VOCAB = 64, FUZZ_BERT_H = 8 };

static inline bool fuzz_tiny_bert(const char *dir)
{
    enum { V = FUZZ_BERT_VOCAB, H = FUZZ_BERT_H, I = 16, POS = 16 };
    static const fuzz_tensor t[] = {
        {"embeddings.word_embeddings.weight", V, H},
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
    char cmd[128], config[512], path[256];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    snprintf(config, sizeof config,
             "{\"model_type\": \"bert\", \"vocab_size\": %d, \"hidden_size\": %d, \"num_hidden_layers\": 1, "
             "\"num_attention_heads\": 2, \"intermediate_size\": %d, \"max_position_embeddings\": %d}",
             V, H, I, POS);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    return !system(cmd) && fuzz_write_file(dir, "config.json", config, strlen(config)) &&
           fuzz_write_safetensors(path, t, sizeof t / sizeof t[0]);
}

#endif
