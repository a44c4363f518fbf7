/*
 * ia-synth-model: writes a BERT model folder with deterministic
 * pseudo-random weights, a real architecture and the real all-MiniLM-L6-v2
 * tokenizer, so fast tests and sanitizer runs need no downloaded weights.
 * scripts/gen-model-goldens.py runs sentence-transformers on the same
 * folders to make the goldens the tests compare against.
 *
 * Usage: ia-synth-model OUT_DIR PRESET [options]
 *   PRESET: tiny (hidden 32, 2 layers) or minilm (all-MiniLM-L6-v2's shapes)
 *   --dtype F32|F16|BF16   --prefix        (names under "bert.")
 *   --shards N             --act gelu|gelu_new|relu
 *   --pooling mean|cls|max --no-normalize  --tokenizer-dir DIR
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct spec {
    int vocab, hidden, layers, heads, inter, max_pos, types;
    const char *dtype, *act, *pooling;
    int prefix, shards, normalize;
} spec;

typedef struct tensor {
    char name[160];
    int n_dims;
    long shape[2];
    float *data;
} tensor;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t splitmix64(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1), exactly representable steps of 2^-23. */
static float uniform(void) { return (float)((int64_t)(splitmix64() >> 40) - (1 << 23)) / (float)(1 << 23); }

static tensor *tensors;
static int n_tensors;

static void add(const spec *s, const char *name, long d0, long d1, float scale, float offset)
{
    tensor *t = &tensors[n_tensors++];
    snprintf(t->name, sizeof t->name, "%s%s", s->prefix ? "bert." : "", name);
    t->n_dims = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    size_t n = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    t->data = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        t->data[i] = offset + scale * uniform();
}

static void build(const spec *s)
{
    tensors = calloc((size_t)(8 + 16 * s->layers), sizeof *tensors);
    const int H = s->hidden, I = s->inter;
    /* Scales chosen so activations stay in a healthy range through the
     * layers (BERT's own init, std 0.02, makes near-constant outputs). */
    float wh = 1.7f / sqrtf((float)H), wi = 1.7f / sqrtf((float)I);
    add(s, "embeddings.word_embeddings.weight", s->vocab, H, 1.0f, 0);
    add(s, "embeddings.position_embeddings.weight", s->max_pos, H, 0.5f, 0);
    add(s, "embeddings.token_type_embeddings.weight", s->types, H, 0.5f, 0);
    add(s, "embeddings.LayerNorm.weight", H, 0, 0.2f, 1.0f);
    add(s, "embeddings.LayerNorm.bias", H, 0, 0.1f, 0);
    for (int l = 0; l < s->layers; l++) {
        char n[160];
#define L(fmt, d0, d1, sc, off) (snprintf(n, sizeof n, "encoder.layer.%d." fmt, l), add(s, n, d0, d1, sc, off))
        L("attention.self.query.weight", H, H, wh, 0);
        L("attention.self.query.bias", H, 0, 0.1f, 0);
        L("attention.self.key.weight", H, H, wh, 0);
        L("attention.self.key.bias", H, 0, 0.1f, 0);
        L("attention.self.value.weight", H, H, wh, 0);
        L("attention.self.value.bias", H, 0, 0.1f, 0);
        L("attention.output.dense.weight", H, H, wh, 0);
        L("attention.output.dense.bias", H, 0, 0.1f, 0);
        L("attention.output.LayerNorm.weight", H, 0, 0.2f, 1.0f);
        L("attention.output.LayerNorm.bias", H, 0, 0.1f, 0);
        L("intermediate.dense.weight", I, H, wh, 0);
        L("intermediate.dense.bias", I, 0, 0.1f, 0);
        L("output.dense.weight", H, I, wi, 0);
        L("output.dense.bias", H, 0, 0.1f, 0);
        L("output.LayerNorm.weight", H, 0, 0.2f, 1.0f);
        L("output.LayerNorm.bias", H, 0, 0.1f, 0);
#undef L
    }
}

static size_t esize(const char *dtype) { return strcmp(dtype, "F32") ? 2 : 4; }

static void put_value(FILE *f, const char *dtype, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    if (!strcmp(dtype, "F32")) {
        fwrite(&v, 4, 1, f);
    } else if (!strcmp(dtype, "BF16")) { /* round to nearest even */
        uint16_t h = (uint16_t)((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
        fwrite(&h, 2, 1, f);
    } else { /* F16, values here are normal and small */
        uint32_t sign = (bits >> 16) & 0x8000;
        int exp = (int)((bits >> 23) & 0xff) - 127 + 15;
        uint32_t mant = bits & 0x7fffff;
        uint16_t h;
        if (exp <= 0) {
            h = (uint16_t)sign; /* flush tiny values to zero */
        } else {
            uint32_t m = mant >> 13, rest = mant & 0x1fff;
            if (rest > 0x1000 || (rest == 0x1000 && (m & 1)))
                m++;
            if (m == 0x400) {
                m = 0;
                exp++;
            }
            h = (uint16_t)(sign | (uint32_t)exp << 10 | m);
        }
        fwrite(&h, 2, 1, f);
    }
}

static int write_file(const char *path, const spec *s, int first, int last)
{
    char *hdr = malloc(1 << 20);
    size_t len = 0, off = 0;
    len += (size_t)sprintf(hdr + len, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = first; i < last; i++) {
        tensor *t = &tensors[i];
        size_t n = (size_t)t->shape[0] * (size_t)(t->n_dims == 2 ? t->shape[1] : 1);
        size_t bytes = n * esize(s->dtype);
        if (t->n_dims == 2)
            len += (size_t)sprintf(hdr + len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%ld,%ld],\"data_offsets\":[%zu,%zu]}",
                                   t->name, s->dtype, t->shape[0], t->shape[1], off, off + bytes);
        else
            len += (size_t)sprintf(hdr + len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%ld],\"data_offsets\":[%zu,%zu]}",
                                   t->name, s->dtype, t->shape[0], off, off + bytes);
        off += bytes;
    }
    len += (size_t)sprintf(hdr + len, "}");
    while (len % 8)
        hdr[len++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "ia-synth-model: %s: %s\n", path, strerror(errno));
        return 1;
    }
    uint64_t hl = len;
    fwrite(&hl, 8, 1, f);
    fwrite(hdr, 1, len, f);
    for (int i = first; i < last; i++) {
        tensor *t = &tensors[i];
        size_t n = (size_t)t->shape[0] * (size_t)(t->n_dims == 2 ? t->shape[1] : 1);
        for (size_t k = 0; k < n; k++)
            put_value(f, s->dtype, t->data[k]);
    }
    free(hdr);
    return fclose(f) != 0;
}

static int write_text(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    fputs(text, f);
    return fclose(f) != 0;
}

static int copy_file(const char *src_dir, const char *dst_dir, const char *name)
{
    char a[4096], b[4096], buf[65536];
    snprintf(a, sizeof a, "%s/%s", src_dir, name);
    snprintf(b, sizeof b, "%s/%s", dst_dir, name);
    FILE *in = fopen(a, "rb"), *out = in ? fopen(b, "wb") : NULL;
    if (!in || !out) {
        fprintf(stderr, "ia-synth-model: cannot copy %s\n", a);
        if (in)
            fclose(in);
        return 1;
    }
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    return fclose(out) != 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: ia-synth-model OUT_DIR tiny|minilm [options]\n");
        return 2;
    }
    const char *out = argv[1], *tok_dir = IA_SHARED "/models/all-MiniLM-L6-v2-tokenizer";
    spec s = {.vocab = 30522, .max_pos = 512, .types = 2, .dtype = "F32", .act = "gelu",
              .pooling = "mean", .shards = 1, .normalize = 1};
    if (!strcmp(argv[2], "tiny")) {
        s.hidden = 32, s.layers = 2, s.heads = 4, s.inter = 64;
    } else if (!strcmp(argv[2], "minilm")) {
        s.hidden = 384, s.layers = 6, s.heads = 12, s.inter = 1536;
    } else {
        fprintf(stderr, "ia-synth-model: unknown preset '%s'\n", argv[2]);
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--dtype")) s.dtype = v, i++;
        else if (!strcmp(a, "--act")) s.act = v, i++;
        else if (!strcmp(a, "--pooling")) s.pooling = v, i++;
        else if (!strcmp(a, "--shards")) s.shards = atoi(v), i++;
        else if (!strcmp(a, "--tokenizer-dir")) tok_dir = v, i++;
        else if (!strcmp(a, "--prefix")) s.prefix = 1;
        else if (!strcmp(a, "--no-normalize")) s.normalize = 0;
        else {
            fprintf(stderr, "ia-synth-model: unknown option '%s'\n", a);
            return 2;
        }
    }
    char path[4096], text[4096];
    mkdir(out, 0777);
    snprintf(path, sizeof path, "%s/1_Pooling", out);
    mkdir(path, 0777);
    build(&s);

    int rc = 0;
    if (s.shards <= 1) {
        snprintf(path, sizeof path, "%s/model.safetensors", out);
        rc |= write_file(path, &s, 0, n_tensors);
    } else {
        size_t len = (size_t)snprintf(text, sizeof text, "{\"metadata\":{},\"weight_map\":{");
        char *index = malloc(1 << 20);
        len = (size_t)sprintf(index, "%s", text);
        for (int k = 0; k < s.shards; k++) {
            int first = n_tensors * k / s.shards, last = n_tensors * (k + 1) / s.shards;
            char name[64];
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", k + 1, s.shards);
            snprintf(path, sizeof path, "%s/%s", out, name);
            rc |= write_file(path, &s, first, last);
            for (int i = first; i < last; i++)
                len += (size_t)sprintf(index + len, "%s\"%s\":\"%s\"", i ? "," : "", tensors[i].name, name);
        }
        sprintf(index + len, "}}\n");
        rc |= write_text(out, "model.safetensors.index.json", index);
        free(index);
    }
    snprintf(text, sizeof text,
             "{\n  \"architectures\": [\"BertModel\"],\n  \"model_type\": \"bert\",\n"
             "  \"vocab_size\": %d,\n  \"hidden_size\": %d,\n  \"num_hidden_layers\": %d,\n"
             "  \"num_attention_heads\": %d,\n  \"intermediate_size\": %d,\n"
             "  \"max_position_embeddings\": %d,\n  \"type_vocab_size\": %d,\n"
             "  \"hidden_act\": \"%s\",\n  \"layer_norm_eps\": 1e-12,\n  \"pad_token_id\": 0,\n"
             "  \"hidden_dropout_prob\": 0.1,\n  \"attention_probs_dropout_prob\": 0.1,\n"
             "  \"position_embedding_type\": \"absolute\"\n}\n",
             s.vocab, s.hidden, s.layers, s.heads, s.inter, s.max_pos, s.types, s.act);
    rc |= write_text(out, "config.json", text);
    snprintf(text, sizeof text,
             "[\n  {\"idx\": 0, \"name\": \"0\", \"path\": \"\", \"type\": \"sentence_transformers.models.Transformer\"},\n"
             "  {\"idx\": 1, \"name\": \"1\", \"path\": \"1_Pooling\", \"type\": \"sentence_transformers.models.Pooling\"}%s\n]\n",
             s.normalize ? ",\n  {\"idx\": 2, \"name\": \"2\", \"path\": \"2_Normalize\", \"type\": \"sentence_transformers.models.Normalize\"}" : "");
    rc |= write_text(out, "modules.json", text);
    snprintf(text, sizeof text,
             "{\n  \"word_embedding_dimension\": %d,\n  \"pooling_mode_cls_token\": %s,\n"
             "  \"pooling_mode_mean_tokens\": %s,\n  \"pooling_mode_max_tokens\": %s,\n"
             "  \"pooling_mode_mean_sqrt_len_tokens\": false\n}\n",
             s.hidden, strcmp(s.pooling, "cls") ? "false" : "true",
             strcmp(s.pooling, "mean") ? "false" : "true", strcmp(s.pooling, "max") ? "false" : "true");
    rc |= write_text(out, "1_Pooling/config.json", text);
    rc |= write_text(out, "sentence_bert_config.json", "{\n  \"max_seq_length\": 256,\n  \"do_lower_case\": false\n}\n");
    static const char *tok_files[] = {"tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"};
    for (size_t i = 0; i < sizeof tok_files / sizeof *tok_files; i++)
        rc |= copy_file(tok_dir, out, tok_files[i]);
    for (int i = 0; i < n_tensors; i++)
        free(tensors[i].data);
    free(tensors);
    if (rc)
        fprintf(stderr, "ia-synth-model: writing %s failed\n", out);
    return rc;
}
