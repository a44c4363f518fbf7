/* Fuzz target: the safetensors reader (header JSON, offsets, dtypes) on
 * arbitrary bytes, then conversion of every tensor it accepts. */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "fuzz-util.h"
#include "model/safetensors-impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfd("fuzz.safetensors", data, size, path);
    if (fd < 0)
        return 0;
    ia_safetensors *st;
    if (ia__st_open_file(path, &st) == IA_OK) {
        for (size_t i = 0; i < ia__st_count(st); i++) {
            const ia_st_tensor *t = ia__st_at(st, i);
            size_t n = ia__st_numel(t);
            if ((t->dtype == IA_DTYPE_F32 || t->dtype == IA_DTYPE_F16 || t->dtype == IA_DTYPE_BF16) &&
                n < (1u << 20)) {
                float *f = ia__malloc(n * sizeof(float) + 1);
                if (f)
                    ia__st_to_f32(t, f);
                ia__free(f);
            }
        }
        ia__st_close(st);
    }
    close(fd);
    return 0;
}
