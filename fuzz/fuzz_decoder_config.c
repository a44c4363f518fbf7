/* Fuzz target: a decoder's config.json (a Hugging Face folder: every field
 * an architecture needs, rope scaling, read and checked) as the folder
 * loader reads it. The folder has no weights, so loading always fails
 * after the configuration; what matters is that no input crashes it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/lm.h"

static char dir[64], file[96];

static void cleanup(void)
{
    remove(file);
    remove(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/ia-fuzz-decoder-XXXXXX");
        if (!mkdtemp(dir))
            return 0;
        snprintf(file, sizeof file, "%s/config.json", dir);
        atexit(cleanup);
    }
    FILE *f = fopen(file, "wb");
    if (!f)
        return 0;
    const bool ok = fwrite(data, 1, size, f) == size;
    if (fclose(f) || !ok)
        return 0;
    ia_lm *lm = NULL;
    if (ia__lm_load(dir, "cpu", 1, NULL, &lm) == IA_OK) /* no weights: cannot succeed */
        __builtin_trap();
    return 0;
}
