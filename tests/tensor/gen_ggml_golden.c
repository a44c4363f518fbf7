/*
 * Writes ggml_golden.txt: what ggml itself makes of the rows of
 * dtype_cases.h, for test_dtype to hold src/tensor/ to. Built and run by
 * gen_ggml_golden.sh against a ggml (or llama.cpp) checkout; not part of
 * the build (ggml is a test oracle only, never linked into the product).
 *
 * For every type and case one line:
 *   <type> <case> <FNV-1a of the quantized bytes> <FNV-1a of ggml's
 *   dequantization of those bytes, as little-endian f32>
 * and per case an "input" line with the FNV-1a of the input floats, so a
 * drift of the generator shows as such and not as a quantizer bug.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "ggml.h"

#include "dtype_cases.h"

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        enum ggml_type type;
    } types[] = {
        {"f16", GGML_TYPE_F16},   {"bf16", GGML_TYPE_BF16}, {"q8_0", GGML_TYPE_Q8_0},
        {"q4_0", GGML_TYPE_Q4_0}, {"q4_1", GGML_TYPE_Q4_1}, {"q4_K", GGML_TYPE_Q4_K},
        {"q5_K", GGML_TYPE_Q5_K}, {"q6_K", GGML_TYPE_Q6_K},
    };
    /* ggml_init fills the f16 table that ggml's dequantizers read */
    struct ggml_init_params params = {1 << 16, NULL, false};
    ggml_free(ggml_init(params));

    static float x[DT_CASE_N], y[DT_CASE_N];
    static uint8_t q[DT_CASE_N * 4];
    printf("# ggml's quantization of tests/tensor/dtype_cases.h (gen_ggml_golden.sh%s%s)\n",
           argc > 1 ? ", ggml " : "", argc > 1 ? argv[1] : "");
    for (int c = 0; c < DT_N_CASES; c++) {
        dt_case(c, x);
        printf("input %s %016" PRIx64 "\n", dt_case_names[c], dt_fnv(x, sizeof x));
    }
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        for (int c = 0; c < DT_N_CASES; c++) {
            dt_case(c, x);
            size_t nb = ggml_quantize_chunk(types[t].type, x, q, 0, 1, DT_CASE_N, NULL);
            ggml_get_type_traits(types[t].type)->to_float(q, y, DT_CASE_N);
            printf("%s %s %016" PRIx64 " %016" PRIx64 "\n", types[t].name, dt_case_names[c],
                   dt_fnv(q, nb), dt_fnv(y, sizeof y));
        }
    }
    return 0;
}
