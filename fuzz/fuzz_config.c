/* Fuzz target: a configuration file of arbitrary content (malformed JSON,
 * wrong types, unknown keys, bad sizes, long lists) loaded as
 * ./ipfs_accelerate.json would be, and the same bytes as a size and a
 * device name. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-util.h"
#include "core/config-impl.h"
#include "ipfs_accelerate/ipfs_accelerate.h"

static char path[96], absent[96];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(path, sizeof path, "/tmp/ia-fuzz-config-%ld.json", (long)getpid());
    snprintf(absent, sizeof absent, "/tmp/ia-fuzz-config-%ld-absent.json", (long)getpid());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_write_file(NULL, path, data, size))
        return 0;
    ia_config_load_options lo = {.project_file = path, .user_file = absent, .no_env = true};
    ia_config *cfg;
    if (ia_config_load(&lo, &cfg) == IA_OK) {
        char *s;
        if (ia_config_to_json(cfg, &s) == IA_OK)
            ia_free(s);
        ia_config_free(cfg);
    }
    char *text = malloc(size + 1);
    if (text) {
        memcpy(text, data, size);
        text[size] = '\0';
        uint64_t v;
        ia_parse_size(text, &v);
        const char *id;
        int idx;
        ia__device_parse(text, &id, &idx);
        free(text);
    }
    unlink(path);
    return 0;
}
