/*
 * The element-type layer (src/tensor/dtype.h): the traits table, row sizes,
 * f16/bf16 rounding against values worked out here independently (exact
 * decoding with ldexp and a search for the nearest representable value),
 * the F16C row path against the portable one, the block layouts built by
 * hand, and the quantizers against ggml's own output on the rows of
 * dtype_cases.h (ggml_golden.txt, from gen_ggml_golden.sh).
 *
 * Usage: test_dtype [ggml_golden.txt]
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/dtype.h"
#include "test.h"

#include "dtype_cases.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bitsf(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ------------------------------------------------------------- traits */

static void test_traits(void)
{
    static const struct {
        ia_dtype t;
        const char *name;
        int block;
        size_t bytes;
        bool quantized, convertible;
    } want[] = {
        {IA_DTYPE_F32, "f32", 1, 4, false, true},      {IA_DTYPE_F16, "f16", 1, 2, false, true},
        {IA_DTYPE_BF16, "bf16", 1, 2, false, true},    {IA_DTYPE_I64, "i64", 1, 8, false, false},
        {IA_DTYPE_OTHER, "other", 1, 0, false, false}, {IA_DTYPE_I32, "i32", 1, 4, false, true},
        {IA_DTYPE_I8, "i8", 1, 1, false, true},        {IA_DTYPE_Q8_0, "q8_0", 32, 34, true, true},
        {IA_DTYPE_Q4_0, "q4_0", 32, 18, true, true},   {IA_DTYPE_Q4_1, "q4_1", 32, 20, true, true},
        {IA_DTYPE_Q4_K, "q4_K", 256, 144, true, true}, {IA_DTYPE_Q5_K, "q5_K", 256, 176, true, true},
        {IA_DTYPE_Q6_K, "q6_K", 256, 210, true, true},
    };
    CHECK(LEN(want) == IA_DTYPE_COUNT);
    for (size_t i = 0; i < LEN(want); i++) {
        const ia_dtype_traits *tr = ia__dtype(want[i].t);
        CHECK_MSG(tr != NULL, "type %d", (int)want[i].t);
        if (!tr)
            continue;
        CHECK_MSG(!strcmp(tr->name, want[i].name), "%s != %s", tr->name, want[i].name);
        CHECK(!strcmp(ia__dtype_name(want[i].t), want[i].name));
        CHECK_MSG(tr->block == want[i].block && tr->block_bytes == want[i].bytes, "%s: %d/%zu",
                  want[i].name, tr->block, tr->block_bytes);
        CHECK_MSG(tr->quantized == want[i].quantized, "%s", want[i].name);
        CHECK_MSG((tr->to_f32 != NULL) == want[i].convertible && (tr->from_f32 != NULL) == want[i].convertible,
                  "%s", want[i].name);
    }
    CHECK(ia__dtype(IA_DTYPE_COUNT) == NULL);
    CHECK(ia__dtype((ia_dtype)-1) == NULL);
    CHECK(!strcmp(ia__dtype_name(IA_DTYPE_COUNT), "invalid"));

    CHECK(ia__dtype_row_bytes(IA_DTYPE_F32, 10) == 40);
    CHECK(ia__dtype_row_bytes(IA_DTYPE_F16, 7) == 14);
    CHECK(ia__dtype_row_bytes(IA_DTYPE_I64, 3) == 24);
    CHECK(ia__dtype_row_bytes(IA_DTYPE_I8, 5) == 5);
    CHECK(ia__dtype_row_bytes(IA_DTYPE_F32, 0) == 0);
    CHECK(ia__dtype_row_bytes(IA_DTYPE_F32, -4) == 0);
    CHECK(ia__dtype_row_bytes(IA_DTYPE_OTHER, 4) == 0);
    CHECK(ia__dtype_row_bytes(IA_DTYPE_Q8_0, 64) == 68);
    CHECK(ia__dtype_row_bytes(IA_DTYPE_Q4_0, 4096) == 128 * 18);
    CHECK(ia__dtype_row_bytes(IA_DTYPE_Q4_0, 33) == 0);
    CHECK(ia__dtype_row_bytes(IA_DTYPE_Q4_1, 32) == 20);
    CHECK(ia__dtype_row_bytes(IA_DTYPE_Q4_K, 512) == 288);
    CHECK(ia__dtype_row_bytes(IA_DTYPE_Q4_K, 32) == 0);
    CHECK(ia__dtype_row_bytes(IA_DTYPE_Q5_K, 768) == 3 * 176);
    CHECK(ia__dtype_row_bytes(IA_DTYPE_Q6_K, 256) == 210);
    CHECK(ia__dtype_row_bytes(IA_DTYPE_COUNT, 256) == 0);
    /* sizes past size_t give 0, not a wrapped count */
    CHECK(ia__dtype_row_bytes(IA_DTYPE_I64, INT64_MAX) == 0 || sizeof(size_t) > 8);
    CHECK(ia__dtype_row_bytes(IA_DTYPE_F32, INT64_MAX / 2 + 1) == 0 || sizeof(size_t) > 8);
    CHECK(ia__dtype_row_bytes(IA_DTYPE_Q6_K, INT64_MAX / 256 * 256) == (size_t)(INT64_MAX / 256) * 210);
}

/* ------------------------------------------------------- f16 and bf16 */

/* The exact value of a half, from its fields. */
static double half_value(uint16_t h)
{
    int e = h >> 10 & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return h & 0x8000 ? -v : v;
}

/* The exact value of a bfloat16, from its fields. */
static double bf16_value(uint16_t h)
{
    int e = h >> 7 & 0xff, m = h & 0x7f;
    double v = e == 0 ? ldexp(m, -133) : e == 255 ? (m ? NAN : INFINITY) : ldexp(128 + m, e - 134);
    return h & 0x8000 ? -v : v;
}

/* Round |f| to the nearest of the magnitudes value(0 .. top), ties to the
 * even code, by binary search; values at or past the half-way point to
 * `top + 1` (infinity) go there. Independent of the code under test. */
static uint16_t nearest_code(double a, double (*value)(uint16_t), uint16_t top, double past_top)
{
    uint16_t lo = 0, hi = top; /* largest code with value <= a */
    while (lo < hi) {
        uint16_t mid = (uint16_t)((lo + hi + 1) / 2);
        if (value(mid) <= a)
            lo = mid;
        else
            hi = (uint16_t)(mid - 1);
    }
    double below = value(lo), above = lo == top ? past_top : value((uint16_t)(lo + 1));
    if (a - below < above - a)
        return lo;
    if (a - below > above - a)
        return (uint16_t)(lo + 1);
    return lo & 1 ? (uint16_t)(lo + 1) : lo;
}

static uint16_t expect_f16(float f)
{
    uint16_t sign = fbits(f) >> 31 ? 0x8000 : 0;
    if (isnan(f))
        return 0; /* checked separately */
    double a = fabs((double)f);
    if (isinf(f))
        return sign | 0x7c00;
    return sign | nearest_code(a, half_value, 0x7bff, 65536.0);
}

static uint16_t expect_bf16(float f)
{
    uint16_t sign = fbits(f) >> 31 ? 0x8000 : 0;
    double a = fabs((double)f);
    if (isinf(f))
        return sign | 0x7f80;
    return sign | nearest_code(a, bf16_value, 0x7f7f, ldexp(1, 128));
}

static void check_f32_to_f16(float f)
{
    uint16_t got = ia__f32_to_f16(f);
    if (isnan(f)) {
        uint32_t u = fbits(f);
        uint16_t want = (uint16_t)(u >> 16 & 0x8000) | 0x7e00 | (uint16_t)(u >> 13 & 0x3ff);
        CHECK_MSG(got == want, "f16(NaN %08x) = %04x, want %04x", u, got, want);
        return;
    }
    uint16_t want = expect_f16(f);
    CHECK_MSG(got == want, "f16(%a) = %04x, want %04x", (double)f, got, want);
}

static void check_f32_to_bf16(float f)
{
    uint16_t got = ia__f32_to_bf16(f);
    if (isnan(f)) {
        uint32_t u = fbits(f);
        uint16_t want = (uint16_t)(u >> 16) | 0x40;
        CHECK_MSG(got == want, "bf16(NaN %08x) = %04x, want %04x", u, got, want);
        return;
    }
    uint16_t want = expect_bf16(f);
    CHECK_MSG(got == want, "bf16(%a) = %04x, want %04x", (double)f, got, want);
}

static void test_f16(void)
{
    /* every half to f32: exact, NaN quiet with its payload and sign */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float got = ia__f16_to_f32((uint16_t)h);
        double want = half_value((uint16_t)h);
        bool ok;
        if (isnan(want))
            ok = fbits(got) == ((h & 0x8000) << 16 | 0x7fc00000u | (h & 0x3ff) << 13);
        else
            ok = (double)got == want && !!signbit(got) == ((h & 0x8000) != 0);
        if (!ok && bad++ < 5)
            fprintf(stderr, "f16 %04x -> %a (%08x), want %a\n", h, (double)got, fbits(got), want);
        /* every finite half survives the trip back */
        if (!isnan(want) && ia__f32_to_f16(got) != h && bad++ < 5)
            fprintf(stderr, "f16 %04x does not round-trip: %04x\n", h, ia__f32_to_f16(got));
    }
    CHECK_MSG(bad == 0, "%d halves wrong", bad);

    /* named edge cases */
    static const struct { float f; uint16_t h; } cases[] = {
        {0.0f, 0x0000}, {-0.0f, 0x8000}, {1.0f, 0x3c00}, {-2.0f, 0xc000},
        {65504.0f, 0x7bff}, {65519.99f, 0x7bff}, {65520.0f, 0x7c00}, {1e10f, 0x7c00},
        {-65520.0f, 0xfc00}, {0x1p-24f, 0x0001}, {0x1p-25f, 0x0000}, {0x1.000002p-25f, 0x0001},
        {0x1.8p-24f, 0x0002}, {0x1.4p-23f, 0x0002}, {0x1p-14f, 0x0400}, {0x1.ff8p-15f, 0x03ff},
        {0x1.ffcp-15f, 0x0400}, {0x1.ffbfep-15f, 0x03ff}, {1.0f + 0x1p-11f, 0x3c00}, {1.0f + 0x1.8p-11f, 0x3c01},
        {1.0f + 0x1p-10f + 0x1p-11f, 0x3c02}, {0x1p-149f, 0x0000}, {-0x1p-149f, 0x8000},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        uint16_t got = ia__f32_to_f16(cases[i].f);
        CHECK_MSG(got == cases[i].h, "f16(%a) = %04x, want %04x", (double)cases[i].f, got, cases[i].h);
        check_f32_to_f16(cases[i].f);
    }
    CHECK(ia__f32_to_f16(INFINITY) == 0x7c00 && ia__f32_to_f16(-INFINITY) == 0xfc00);
    CHECK(ia__f32_to_f16(bitsf(0x7fc00000u)) == 0x7e00);
    CHECK(ia__f32_to_f16(bitsf(0xff800001u)) == 0xfe00); /* signalling: quiet */
    CHECK(ia__f32_to_f16(bitsf(0x7fbfe000u)) == 0x7fff);

    /* every midpoint between neighbouring halves, and a float either side */
    for (uint32_t h = 0; h < 0x7bff; h++) {
        double mid = (half_value((uint16_t)h) + half_value((uint16_t)(h + 1))) / 2;
        float m = (float)mid; /* exact: 12 significant bits */
        check_f32_to_f16(m);
        check_f32_to_f16(-m);
        check_f32_to_f16(nextafterf(m, 0));
        check_f32_to_f16(nextafterf(m, INFINITY));
    }
    /* a spread of arbitrary bit patterns */
    uint64_t s = 12345;
    for (int i = 0; i < 200000; i++)
        check_f32_to_f16(bitsf((uint32_t)dt_rng(&s)));
}

static void test_bf16(void)
{
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float got = ia__bf16_to_f32((uint16_t)h);
        double want = bf16_value((uint16_t)h);
        bool ok = isnan(want) ? fbits(got) == h << 16 : (double)got == want && !!signbit(got) == ((h & 0x8000) != 0);
        if (!ok && bad++ < 5)
            fprintf(stderr, "bf16 %04x -> %a, want %a\n", h, (double)got, want);
    }
    CHECK_MSG(bad == 0, "%d bf16 values wrong", bad);

    static const struct { uint32_t f; uint16_t h; } cases[] = {
        {0x3f800000u, 0x3f80}, {0x3f808000u, 0x3f80}, {0x3f818000u, 0x3f82}, {0x3f808001u, 0x3f81},
        {0x7f7f8000u, 0x7f80}, {0x7f7f7fffu, 0x7f7f}, {0x00008000u, 0x0000}, {0x00018000u, 0x0002},
        {0x80000001u, 0x8000}, {0x7f800000u, 0x7f80}, {0x7f800001u, 0x7fc0}, {0xffc12345u, 0xffc1},
    };
    for (size_t i = 0; i < LEN(cases); i++) {
        uint16_t got = ia__f32_to_bf16(bitsf(cases[i].f));
        CHECK_MSG(got == cases[i].h, "bf16(%08x) = %04x, want %04x", cases[i].f, got, cases[i].h);
        check_f32_to_bf16(bitsf(cases[i].f));
    }
    uint64_t s = 777;
    for (int i = 0; i < 200000; i++)
        check_f32_to_bf16(bitsf((uint32_t)dt_rng(&s)));
}

/* The traits' rows (which take F16C where the CPU has it) equal the
 * scalar conversions, NaN bits included, at every length. */
static void test_plain_rows(void)
{
    enum { N = 65536 + 3 };
    uint8_t *h = malloc(2 * N);
    float *f = malloc(4 * N), *g = malloc(4 * N);
    uint8_t *h2 = malloc(2 * N);
    if (!h || !f || !g || !h2)
        abort();
    const ia_dtype_traits *f16 = ia__dtype(IA_DTYPE_F16), *bf16 = ia__dtype(IA_DTYPE_BF16);
    for (int i = 0; i < N; i++) {
        h[2 * i] = (uint8_t)i;
        h[2 * i + 1] = (uint8_t)(i >> 8);
    }
    int bad = 0;
    f16->to_f32(h, f, N);
    for (int i = 0; i < N; i++)
        bad += fbits(f[i]) != fbits(ia__f16_to_f32((uint16_t)(h[2 * i] | h[2 * i + 1] << 8)));
    CHECK_MSG(bad == 0, "f16 row to f32: %d differ from the scalar conversion", bad);
    bad = 0;
    bf16->to_f32(h, f, N);
    for (int i = 0; i < N; i++)
        bad += fbits(f[i]) != (uint32_t)(h[2 * i] | h[2 * i + 1] << 8) << 16;
    CHECK_MSG(bad == 0, "bf16 row: %d differ", bad);

    /* floats: arbitrary bits, NaNs, midpoints, subnormal results */
    uint64_t s = 99;
    for (int i = 0; i < N; i++) {
        uint32_t u = (uint32_t)dt_rng(&s);
        if (i % 4 == 1)
            u = (u & 0x807fffffu) | (uint32_t)(103 + i % 40) << 23; /* near f16's range */
        if (i % 64 == 2)
            u |= 0x7f800000u; /* inf or NaN */
        g[i] = bitsf(u);
    }
    f16->from_f32(g, h2, N);
    bad = 0;
    for (int i = 0; i < N; i++)
        bad += (uint16_t)(h2[2 * i] | h2[2 * i + 1] << 8) != ia__f32_to_f16(g[i]);
    CHECK_MSG(bad == 0, "f16 row from f32: %d differ from the scalar conversion", bad);
    for (int n = 0; n < 9; n++) { /* tails shorter than a vector */
        memset(h2, 0xee, 20);
        f16->from_f32(g, h2, n);
        for (int i = 0; i < n; i++)
            CHECK((uint16_t)(h2[2 * i] | h2[2 * i + 1] << 8) == ia__f32_to_f16(g[i]));
        CHECK(h2[2 * n] == 0xee);
    }
    bf16->from_f32(g, h2, N);
    bad = 0;
    for (int i = 0; i < N; i++)
        bad += (uint16_t)(h2[2 * i] | h2[2 * i + 1] << 8) != ia__f32_to_bf16(g[i]);
    CHECK_MSG(bad == 0, "bf16 row from f32: %d differ", bad);

    /* f32 copies; i32 and i8 convert as C casts do, saturating */
    float in[8] = {1.5f, -2.75f, 0.0f, 1e10f, -1e10f, NAN, 126.9f, -128.5f}, out[8];
    uint8_t buf[32];
    ia__dtype(IA_DTYPE_F32)->from_f32(in, buf, 8);
    ia__dtype(IA_DTYPE_F32)->to_f32(buf, out, 8);
    CHECK(!memcmp(in, out, sizeof in));
    int32_t i32[8];
    ia__dtype(IA_DTYPE_I32)->from_f32(in, buf, 8);
    memcpy(i32, buf, sizeof i32);
    CHECK(i32[0] == 1 && i32[1] == -2 && i32[2] == 0 && i32[3] == INT32_MAX && i32[4] == INT32_MIN &&
          i32[5] == 0 && i32[6] == 126 && i32[7] == -128);
    ia__dtype(IA_DTYPE_I32)->to_f32(buf, out, 8);
    CHECK(out[0] == 1.0f && out[1] == -2.0f && out[3] == 2147483648.0f && out[4] == -2147483648.0f);
    ia__dtype(IA_DTYPE_I8)->from_f32(in, buf, 8);
    int8_t i8[8];
    memcpy(i8, buf, 8);
    CHECK(i8[0] == 1 && i8[1] == -2 && i8[2] == 0 && i8[3] == 127 && i8[4] == -128 && i8[5] == 0 &&
          i8[6] == 126 && i8[7] == -128);
    ia__dtype(IA_DTYPE_I8)->to_f32(buf, out, 8);
    CHECK(out[3] == 127.0f && out[4] == -128.0f && out[1] == -2.0f);
    free(h);
    free(h2);
    free(f);
    free(g);
}

/* ------------------------------------------------------ block layouts */

/* Hand-built blocks read back where the layout says their values are. */
static void test_layouts(void)
{
    float y[256];
    ia_block_q8_0 q8 = {.d = 0x3800}; /* 0.5 */
    for (int j = 0; j < 32; j++)
        q8.qs[j] = (int8_t)(j * 8 - 128);
    ia__q8_0_to_f32(&q8, y, 32);
    for (int j = 0; j < 32; j++)
        CHECK(y[j] == (float)(j * 8 - 128) * 0.5f);

    ia_block_q4_0 q40 = {.d = 0x4000}; /* 2 */
    for (int j = 0; j < 16; j++)
        q40.qs[j] = (uint8_t)(j | (15 - j) << 4);
    ia__q4_0_to_f32(&q40, y, 32);
    for (int j = 0; j < 16; j++) {
        CHECK_MSG(y[j] == (float)(j - 8) * 2, "q4_0[%d] = %g", j, (double)y[j]);
        CHECK_MSG(y[j + 16] == (float)(15 - j - 8) * 2, "q4_0[%d] = %g", j + 16, (double)y[j + 16]);
    }

    ia_block_q4_1 q41 = {.d = 0x3c00, .m = 0xbc00}; /* 1, -1 */
    memcpy(q41.qs, q40.qs, 16);
    ia__q4_1_to_f32(&q41, y, 32);
    for (int j = 0; j < 16; j++)
        CHECK(y[j] == (float)j - 1 && y[j + 16] == (float)(15 - j) - 1);

    /* q4_K: scales 1..8 and mins 9..16 for the 8 sub-blocks, six bits
     * each, then element e = nibble (e % 16) */
    ia_block_q4_K k4 = {.d = 0x3c00, .dmin = 0x3800}; /* 1, 0.5 */
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; j++) {
        sc[j] = (uint8_t)(j == 5 ? 63 : j + 1);
        mn[j] = (uint8_t)(j == 6 ? 62 : j + 9);
    }
    for (int j = 0; j < 4; j++) {
        k4.scales[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        k4.scales[j + 4] = (uint8_t)(mn[j] | (mn[j + 4] >> 4) << 6);
        k4.scales[j + 8] = (uint8_t)((sc[j + 4] & 15) | (mn[j + 4] & 15) << 4);
    }
    for (int e = 0; e < 256; e++) {
        int pair = e / 64, hi = (e / 32) % 2, l = e % 32;
        uint8_t v = (uint8_t)(e % 16);
        k4.qs[32 * pair + l] |= (uint8_t)(hi ? v << 4 : v);
    }
    ia__q4_K_to_f32(&k4, y, 256);
    for (int e = 0; e < 256; e++) {
        int j = e / 32;
        float want = (float)sc[j] * (float)(e % 16) - 0.5f * (float)mn[j];
        CHECK_MSG(y[e] == want, "q4_K[%d] = %g, want %g", e, (double)y[e], (double)want);
    }

    /* q5_K: the same scales, element e = e % 32 with its fifth bit in qh */
    ia_block_q5_K k5 = {.d = k4.d, .dmin = k4.dmin};
    memcpy(k5.scales, k4.scales, 12);
    for (int e = 0; e < 256; e++) {
        int pair = e / 64, hi = (e / 32) % 2, l = e % 32;
        uint8_t v = (uint8_t)(e % 32);
        k5.qs[32 * pair + l] |= (uint8_t)(hi ? (v & 15) << 4 : v & 15);
        if (v & 16)
            k5.qh[l] |= (uint8_t)(1u << (2 * pair + hi));
    }
    ia__q5_K_to_f32(&k5, y, 256);
    for (int e = 0; e < 256; e++) {
        int j = e / 32;
        float want = (float)sc[j] * (float)(e % 32) - 0.5f * (float)mn[j];
        CHECK_MSG(y[e] == want, "q5_K[%d] = %g, want %g", e, (double)y[e], (double)want);
    }

    /* q6_K: element e = (e * 5) % 64 - 32, scale of sub-block s = s - 8 */
    ia_block_q6_K k6 = {.d = 0x3c00};
    for (int s = 0; s < 16; s++)
        k6.scales[s] = (int8_t)(s - 8);
    for (int e = 0; e < 256; e++) {
        int half = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
        uint8_t q = (uint8_t)((e * 5) % 64);
        uint8_t *ql = k6.ql + 64 * half + (quarter % 2) * 32 + l;
        *ql |= (uint8_t)(quarter < 2 ? q & 15 : (q & 15) << 4);
        k6.qh[32 * half + l] |= (uint8_t)((q >> 4) << (2 * quarter));
    }
    ia__q6_K_to_f32(&k6, y, 256);
    for (int e = 0; e < 256; e++) {
        float want = (float)(e / 16 - 8) * (float)((e * 5) % 64 - 32);
        CHECK_MSG(y[e] == want, "q6_K[%d] = %g, want %g", e, (double)y[e], (double)want);
    }
}

/* ---------------------------------------------- quantizer behaviour */

static const ia_dtype block_types[] = {IA_DTYPE_Q8_0, IA_DTYPE_Q4_0, IA_DTYPE_Q4_1,
                                       IA_DTYPE_Q4_K, IA_DTYPE_Q5_K, IA_DTYPE_Q6_K};

/* Round trips land near the input: the error of every element within a
 * bound of its block's range, and zeros stay exact zeros. */
static void test_round_trip(void)
{
    static float x[DT_CASE_N], y[DT_CASE_N];
    static uint8_t q[DT_CASE_N * 2];
    /* worst error over the range of a block, per type, with slack for the
     * scale's f16 rounding and the k-quants' 6-bit sub-block scales */
    static const double tol[] = {0.6 / 127, 1.1 / 8, 1.1 / 15, 2.5 / 15, 2.5 / 31, 3.0 / 63};
    for (size_t t = 0; t < LEN(block_types); t++) {
        const ia_dtype_traits *tr = ia__dtype(block_types[t]);
        for (const char *which = "gauss"; which; which = !strcmp(which, "gauss") ? "ramp" : NULL) {
            int c = 0;
            while (strcmp(dt_case_names[c], which))
                c++;
            dt_case(c, x);
            tr->from_f32(x, q, DT_CASE_N);
            tr->to_f32(q, y, DT_CASE_N);
            double worst = 0;
            for (int b = 0; b < DT_CASE_N; b += 256) { /* per super-block range */
                float lo = x[b], hi = x[b];
                for (int i = b; i < b + 256; i++) {
                    lo = fminf(lo, x[i]);
                    hi = fmaxf(hi, x[i]);
                }
                for (int i = b; i < b + 256; i++)
                    worst = fmax(worst, fabs((double)y[i] - x[i]) / (hi - lo));
            }
            CHECK_MSG(worst < tol[t], "%s on %s: error %.4f of the range (bound %.4f)", tr->name, which,
                      worst, tol[t]);
            if (getenv("IA_TEST_VERBOSE"))
                printf("%s on %s: worst error %.4f of the range\n", tr->name, which, worst);
        }
        memset(x, 0, sizeof x);
        memset(q, 0x55, sizeof q);
        tr->from_f32(x, q, DT_CASE_N);
        tr->to_f32(q, y, DT_CASE_N);
        bool zero = true;
        for (int i = 0; i < DT_CASE_N; i++)
            zero &= y[i] == 0.0f;
        CHECK_MSG(zero, "%s: zeros do not come back as zeros", tr->name);
    }
}

/* ------------------------------------------------------ ggml goldens */

static const char *golden_type_name(const char *s, ia_dtype *t)
{
    for (int i = 0; i < IA_DTYPE_COUNT; i++)
        if (!strcmp(ia__dtype_name((ia_dtype)i), s)) {
            *t = (ia_dtype)i;
            return s;
        }
    return NULL;
}

static void test_goldens(const char *path)
{
    FILE *f = fopen(path, "r");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f)
        return;
    static float x[DT_CASE_N], y[DT_CASE_N];
    static uint8_t q[DT_CASE_N * 4];
    char line[256], tname[32], cname[64];
    int lines = 0, bad_q = 0, bad_dq = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        uint64_t hq = 0, hdq = 0;
        int n = sscanf(line, "%31s %63s %" SCNx64 " %" SCNx64, tname, cname, &hq, &hdq);
        int c = 0;
        while (c < DT_N_CASES && strcmp(dt_case_names[c], cname))
            c++;
        CHECK_MSG(c < DT_N_CASES, "%s: unknown case in: %s", path, line);
        if (c == DT_N_CASES)
            continue;
        dt_case(c, x);
        if (!strcmp(tname, "input")) {
            CHECK_MSG(n == 3 && dt_fnv(x, sizeof x) == hq, "case %s: inputs differ from the goldens' "
                      "(dtype_cases.h changed? run gen_ggml_golden.sh)", cname);
            continue;
        }
        ia_dtype t;
        CHECK_MSG(n == 4 && golden_type_name(tname, &t), "%s: bad line: %s", path, line);
        if (n != 4 || !golden_type_name(tname, &t))
            continue;
        const ia_dtype_traits *tr = ia__dtype(t);
        tr->from_f32(x, q, DT_CASE_N);
        tr->to_f32(q, y, DT_CASE_N);
        uint64_t gq = dt_fnv(q, ia__dtype_row_bytes(t, DT_CASE_N)), gdq = dt_fnv(y, sizeof y);
        lines++;
        if (gq != hq) {
            bad_q++;
            fprintf(stderr, "%s %s: quantized bytes differ from ggml's\n", tname, cname);
        } else if (gdq != hdq) {
            bad_dq++;
            fprintf(stderr, "%s %s: dequantized values differ from ggml's\n", tname, cname);
        }
    }
    fclose(f);
    CHECK_MSG(lines >= 8 * DT_N_CASES, "%s: only %d golden lines", path, lines);
    CHECK_MSG(bad_q == 0 && bad_dq == 0, "%d of %d rows quantize, %d dequantize unlike ggml", bad_q, lines,
              bad_dq);
    printf("goldens: %d rows (8 types x %d cases) against ggml\n", lines, DT_N_CASES);
}

int main(int argc, char **argv)
{
    test_traits();
    test_f16();
    test_bf16();
    test_plain_rows();
    test_layouts();
    test_round_trip();
    test_goldens(argc > 1 ? argv[1] : "tests/tensor/ggml_golden.txt");
    return test_summary("test_dtype");
}
