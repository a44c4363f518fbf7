/* Fuzz target: loading a tokenizer.json of arbitrary content (malformed
 * JSON, wrong types, bad ids, unsupported pipelines), then encoding with
 * whatever loaded. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz-util.h"
#include "ipfs_accelerate/tokenizer.h"

static char dir[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(dir, sizeof dir, "/tmp/ia-fuzz-tok-%ld", (long)getpid());
    char cmd[128];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    return system(cmd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_write_file(dir, "tokenizer.json", data, size))
        return 0;
    ia_tokenizer *tok;
    if (ia_tokenizer_load(dir, &tok) == IA_OK) {
        int32_t ids[64];
        size_t n;
        ia_tokenizer_encode(tok, "Hello, wörld! [CLS] 深度", 25, 0, ids, 64, &n, NULL);
        ia_tokenizer_free(tok);
    }
    return 0;
}
