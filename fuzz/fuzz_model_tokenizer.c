/* Fuzz target: a small BERT model (fuzz_tiny_bert, written once at start:
 * 64-token vocabulary, 16 positions) whose tokenizer.json is the input, loaded and
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

static char dir[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(dir, sizeof dir, "/tmp/ia-fuzz-model-tok-%ld", (long)getpid());
    if (!fuzz_tiny_bert(dir))
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
    float out[3 * FUZZ_BERT_H];
    if (ia_model_embed(m, texts, NULL, 3, out, NULL) == IA_OK)
        for (int i = 0; i < 3 * FUZZ_BERT_H; i++)
            if (!isfinite(out[i]))
                abort();
    ia_model_free(m);
    return 0;
}
