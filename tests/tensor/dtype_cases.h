/*
 * Deterministic input rows for the block-format tests, the same on every
 * machine: values are built from integers of a fixed generator and scaled
 * by powers of two, so no libm call or rounding mode can change a bit.
 * Shared by test_dtype.c and gen_ggml_golden.c (which records what ggml
 * makes of them in ggml_golden.txt). Changing a case means regenerating
 * the goldens (gen_ggml_golden.sh).
 */
#ifndef IA_TEST_DTYPE_CASES_H
#define IA_TEST_DTYPE_CASES_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define DT_CASE_N 1024 /* 4 super-blocks, 32 blocks of 32 */

static uint64_t dt_rng(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* About N(0, 1): the sum of four uniform 20-bit integers, centred, over
 * 2^19 (exactly representable). */
static float dt_gauss(uint64_t *s)
{
    int64_t sum = 0;
    for (int k = 0; k < 4; k++)
        sum += (int64_t)(dt_rng(s) >> 44);
    sum -= 4 * (int64_t)(1 << 19);
    return ldexpf((float)sum, -19) * 1.75f; /* sd of the sum is 2^19 * 0.577 */
}

static const char *const dt_case_names[] = {
    "gauss", "gauss_small", "gauss_large", "zeros", "const_pos", "const_neg",
    "outlier", "neg_only", "pos_only", "huge", "near_max", "tiny",
    "subnormal", "mixed_exp", "sparse", "small_ints", "alt_scales", "ramp",
};
#define DT_N_CASES ((int)(sizeof dt_case_names / sizeof dt_case_names[0]))

/* Fill x[DT_CASE_N] with case c. */
static void dt_case(int c, float *x)
{
    uint64_t s = 0x1234567ull + (uint64_t)c * 0x9e3779b9ull;
    const char *name = dt_case_names[c];
    for (int i = 0; i < DT_CASE_N; i++) {
        float g = dt_gauss(&s);
        float v = g;
        if (!strcmp(name, "gauss_small"))
            v = ldexpf(g, -12);
        else if (!strcmp(name, "gauss_large"))
            v = ldexpf(g, 12);
        else if (!strcmp(name, "zeros"))
            v = 0.0f;
        else if (!strcmp(name, "const_pos"))
            v = 0.375f + (float)(i / 256) * 0.5f;
        else if (!strcmp(name, "const_neg"))
            v = -1.625f;
        else if (!strcmp(name, "outlier"))
            v = i % 256 == 77 ? 1000.0f : g;
        else if (!strcmp(name, "neg_only"))
            v = -fabsf(g) - 0.125f;
        else if (!strcmp(name, "pos_only"))
            v = fabsf(g) + 0.125f;
        else if (!strcmp(name, "huge"))
            v = ldexpf(g, 100);
        else if (!strcmp(name, "near_max"))
            v = ldexpf(g, 125);
        else if (!strcmp(name, "tiny"))
            v = ldexpf(g, -100);
        else if (!strcmp(name, "subnormal"))
            v = ldexpf(g, -135);
        else if (!strcmp(name, "mixed_exp"))
            v = ldexpf(g, (int)(dt_rng(&s) % 41) - 20);
        else if (!strcmp(name, "sparse"))
            v = dt_rng(&s) % 16 == 0 ? g : 0.0f;
        else if (!strcmp(name, "small_ints"))
            v = (float)((int)(dt_rng(&s) % 9) - 4);
        else if (!strcmp(name, "alt_scales"))
            v = ldexpf(g, (i / 16) % 2 ? 8 : -8);
        else if (!strcmp(name, "ramp"))
            v = (float)(i % 256) / 64.0f - 2.0f;
        x[i] = v;
    }
}

/* FNV-1a over bytes: what the goldens record. */
static uint64_t dt_fnv(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

#endif
