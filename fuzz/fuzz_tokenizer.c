/* Fuzz target: encoding arbitrary bytes (invalid UTF-8, control and
 * combining characters, special-token look-alikes) with the real
 * all-MiniLM-L6-v2 tokenizer, with and without truncation. */
#include <stdint.h>
#include <stdlib.h>

#include "ipfs_accelerate/tokenizer.h"

static ia_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (ia_tokenizer_load(IA_SHARED "/models/all-MiniLM-L6-v2-tokenizer", &tok) != IA_OK)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int32_t ids[512];
    size_t n = 0;
    ia_encoding_stats st = {0};
    ia_tokenizer_encode(tok, (const char *)data, size, 0, ids, 512, &n, &st);
    size_t limit = size ? 2 + data[0] % 64 : 2;
    ia_tokenizer_encode(tok, (const char *)data, size, limit, ids, 512, &n, &st);
    if (n > limit)
        abort(); /* truncation must hold */
    return 0;
}
