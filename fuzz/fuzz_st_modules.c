/* Fuzz target: a sentence-transformers folder's module files around a
 * small BERT (fuzz_tiny_bert, a 64-word vocab.txt, and a Dense layer's
 * weights of 8 -> 4 in 2_Dense/): the input is modules.json,
 * 1_Pooling/config.json and 2_Dense/config.json, separated by NUL bytes.
 * Whatever they say, the load refuses them with an error or the vectors
 * come out finite. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-util.h"
#include "ipfs_accelerate/model.h"

static char dir[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(dir, sizeof dir, "/tmp/ia-fuzz-st-modules-%ld", (long)getpid());
    char sub[128], vocab[1024] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
    for (int i = 5; i < FUZZ_BERT_VOCAB; i++)
        snprintf(vocab + strlen(vocab), sizeof vocab - strlen(vocab), "w%d\n", i);
    static const fuzz_tensor dense[] = {{"linear.weight", 4, FUZZ_BERT_H}, {"linear.bias", 4, 0}};
    snprintf(sub, sizeof sub, "mkdir -p %s/1_Pooling %s/2_Dense", dir, dir);
    if (!fuzz_tiny_bert(dir) || system(sub) || !fuzz_write_file(dir, "vocab.txt", vocab, strlen(vocab)))
        abort();
    snprintf(sub, sizeof sub, "%s/2_Dense/model.safetensors", dir);
    if (!fuzz_write_safetensors(sub, dense, 2))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *files[3] = {"modules.json", "1_Pooling/config.json", "2_Dense/config.json"};
    const uint8_t *p = data, *end = data + size;
    for (int i = 0; i < 3; i++) { /* the parts; missing ones empty */
        const uint8_t *z = memchr(p, 0, (size_t)(end - p));
        const uint8_t *e = z ? z : end;
        if (!fuzz_write_file(dir, files[i], p, (size_t)(e - p)))
            return 0;
        p = z ? z + 1 : end;
    }
    ia_model_options mo = {.n_threads = 1, .device = "cpu"};
    ia_model *m;
    if (ia_model_load(dir, &mo, &m) != IA_OK)
        return 0;
    static const char *texts[2] = {"w5 w6 w7", ""};
    const int dim = ia_model_dim(m);
    float *out = malloc(sizeof(float) * 2 * (size_t)(dim > 0 ? dim : 1));
    if (out && ia_model_embed(m, texts, NULL, 2, out, NULL) == IA_OK)
        for (int i = 0; i < 2 * dim; i++)
            if (!isfinite(out[i]))
                abort();
    free(out);
    ia_model_free(m);
    return 0;
}
