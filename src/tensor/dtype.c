/*
 * Element types: the traits table, the plain types' conversions (f16 and
 * bf16 rounding bit by bit, F16C for whole rows where the CPU has it) and
 * the 32-element block formats q8_0, q4_0, q4_1. The k-quants are in
 * dtype-kquants.c. Every block format's bytes and every rounding follow
 * ggml's reference code (ggml-quants.c), so a row quantized here is the row
 * llama.cpp's quantizer writes, and a GGUF tensor reads back to the floats
 * ggml gets from it.
 */
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include "core/core-impl.h"
#include "tensor/dtype.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the block layouts are little-endian; a big-endian port must swap their fields"
#endif

/* ggml's reference rounds every product and sum on its own; a fused
 * multiply-add would round a*b + c once and change bits, so contraction is
 * off in the block-format files whatever the flags (GCC contracts in GNU
 * mode with FMA enabled, clang by default). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ------------------------------------------------------------------ f16 */

float ia__f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0x1f) /* inf, or NaN made quiet */
        return bits_f32(sign | 0x7f800000u | (mant ? 0x400000u | mant << 13 : 0));
    if (exp == 0) { /* zero or subnormal: mant * 2^-24, exact in float */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | (exp + 127 - 15) << 23 | mant << 13);
}

uint16_t ia__f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)(x >> 16 & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* NaN: quiet, top 9 payload bits kept */
        return sign | 0x7e00 | (uint16_t)(ax >> 13 & 0x3ff);
    if (ax >= 0x477ff000u) /* >= 65520, half-way past 65504: infinity */
        return sign | 0x7c00;
    if (ax >= 0x38800000u) { /* a normal half (>= 2^-14) */
        /* round the 13 dropped bits to nearest even; a carry moves into
         * the exponent, which is what rounding up to it means */
        uint32_t r = ax + 0xfff + (ax >> 13 & 1);
        return sign | (uint16_t)((r - ((uint32_t)(127 - 15) << 23)) >> 13);
    }
    if (ax <= 0x33000000u) /* <= 2^-25, half of the least subnormal: zero */
        return sign;
    /* subnormal half: round(|f| / 2^-24) = mantissa >> (126 - exp) */
    uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
    unsigned shift = 126 - e; /* 14 .. 24 */
    uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1)))
        q++; /* may become 0x400, the least normal: still right */
    return sign | (uint16_t)q;
}

/* ----------------------------------------------------------------- bf16 */

float ia__bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t ia__f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) /* NaN: quiet, as ggml does */
        return (uint16_t)(x >> 16 | 0x40);
    return (uint16_t)((x + 0x7fff + (x >> 16 & 1)) >> 16);
}

/* --------------------------------------------------------- plain rows */

static inline uint16_t load16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static inline void store16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void f32_to_f32(const void *src, float *dst, int64_t n) { memmove(dst, src, (size_t)n * 4); }
static void f32_from_f32(const float *src, void *dst, int64_t n) { memmove(dst, src, (size_t)n * 4); }

/* The F16C instructions convert exactly as the functions above (the tests
 * hold them to it over every half); only whole rows use them. */
#if defined(__x86_64__) || defined(__i386__)
#define HAVE_F16C_PATH 1

__attribute__((target("f16c"))) static int64_t f16c_to_f32(const uint8_t *s, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128i h = _mm_loadl_epi64((const __m128i *)(const void *)(s + 2 * i));
        _mm_storeu_ps(dst + i, _mm_cvtph_ps(h));
    }
    return i;
}

__attribute__((target("f16c"))) static int64_t f16c_from_f32(const float *src, uint8_t *d, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128i h = _mm_cvtps_ph(_mm_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storel_epi64((__m128i *)(void *)(d + 2 * i), h);
    }
    return i;
}

/* F16C, and AVX state enabled by the OS (its VEX encoding needs it). The
 * answer is cached; racing first callers store the same value. */
static bool have_f16c(void)
{
    static _Atomic int state; /* 0 unknown, 1 no, 2 yes */
    int s = atomic_load_explicit(&state, memory_order_relaxed);
    if (!s) {
        unsigned a, b, c, d;
        bool ok = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE) && (c & bit_AVX) && (c & bit_F16C);
        if (ok) {
            unsigned lo, hi;
            __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
            ok = (lo & 6) == 6; /* XMM and YMM state */
        }
        s = ok ? 2 : 1;
        atomic_store_explicit(&state, s, memory_order_relaxed);
    }
    return s == 2;
}
#else
#define HAVE_F16C_PATH 0
static int64_t f16c_to_f32(const uint8_t *s, float *dst, int64_t n) { return 0; }
static int64_t f16c_from_f32(const float *src, uint8_t *d, int64_t n) { return 0; }
static bool have_f16c(void) { return false; }
#endif

static void f16_to_f32(const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src;
    int64_t i = HAVE_F16C_PATH && have_f16c() ? f16c_to_f32(s, dst, n) : 0;
    for (; i < n; i++)
        dst[i] = ia__f16_to_f32(load16(s + 2 * i));
}

static void f16_from_f32(const float *src, void *dst, int64_t n)
{
    uint8_t *d = dst;
    int64_t i = HAVE_F16C_PATH && have_f16c() ? f16c_from_f32(src, d, n) : 0;
    for (; i < n; i++)
        store16(d + 2 * i, ia__f32_to_f16(src[i]));
}

static void bf16_to_f32(const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = ia__bf16_to_f32(load16(s + 2 * i));
}

static void bf16_from_f32(const float *src, void *dst, int64_t n)
{
    uint8_t *d = dst;
    for (int64_t i = 0; i < n; i++)
        store16(d + 2 * i, ia__f32_to_bf16(src[i]));
}

static void i32_to_f32(const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src;
    for (int64_t i = 0; i < n; i++) {
        int32_t v;
        memcpy(&v, s + 4 * i, 4);
        dst[i] = (float)v;
    }
}

static void i32_from_f32(const float *src, void *dst, int64_t n)
{
    uint8_t *d = dst;
    for (int64_t i = 0; i < n; i++) {
        float f = src[i];
        /* 2^31 is the first float past INT32_MAX */
        int32_t v = f != f ? 0 : f >= 0x1p31f ? INT32_MAX : f <= -0x1p31f ? INT32_MIN : (int32_t)f;
        memcpy(d + 4 * i, &v, 4);
    }
}

static void i8_to_f32(const void *src, float *dst, int64_t n)
{
    const int8_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)s[i];
}

static void i8_from_f32(const float *src, void *dst, int64_t n)
{
    int8_t *d = dst;
    for (int64_t i = 0; i < n; i++) {
        float f = src[i];
        d[i] = (int8_t)(f != f ? 0 : f >= 127.0f ? 127 : f <= -128.0f ? -128 : (int)f);
    }
}

/* ------------------------------------------------ 32-element blocks */

#define MAXF(a, b) ((a) > (b) ? (a) : (b)) /* ggml's MAX: NaN-order matters */

/* The reference quantizers convert floats to int8_t with a C cast, which is
 * undefined past the int8 range (a NaN or infinity appears when a block's
 * scale is subnormal, so that its inverse overflows). What x86-64 builds of
 * ggml and numpy (gguf-py) do there, cvttss2si to 32 bits then the low byte,
 * is defined here instead, so every input has one answer. */
static inline int8_t cast_i8(float f)
{
    int32_t v = f > -0x1p31f && f < 0x1p31f ? (int32_t)f : INT32_MIN;
    return (int8_t)(uint8_t)((uint32_t)v & 0xff);
}

/* q8_0: d = absmax / 127, q = round(x / d) (half away from zero). */
void ia__q8_0_from_f32(const float *src, void *dst, int64_t n)
{
    ia_block_q8_0 *y = dst;
    for (int64_t b = 0; b < n / IA_QK; b++, src += IA_QK) {
        float amax = 0.0f;
        for (int j = 0; j < IA_QK; j++)
            amax = MAXF(amax, fabsf(src[j]));
        float d = amax / 127;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = ia__f32_to_f16(d);
        for (int j = 0; j < IA_QK; j++)
            y[b].qs[j] = cast_i8(roundf(src[j] * id));
    }
}

void ia__q8_0_to_f32(const void *src, float *dst, int64_t n)
{
    const ia_block_q8_0 *x = src;
    for (int64_t b = 0; b < n / IA_QK; b++, dst += IA_QK) {
        float d = ia__f16_to_f32(x[b].d);
        for (int j = 0; j < IA_QK; j++)
            dst[j] = x[b].qs[j] * d;
    }
}

/* q4_0: d = -(the value of largest magnitude) / 8, q = x/d + 8 truncated
 * after adding 0.5, capped at 15. */
void ia__q4_0_from_f32(const float *src, void *dst, int64_t n)
{
    ia_block_q4_0 *y = dst;
    for (int64_t b = 0; b < n / IA_QK; b++, src += IA_QK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < IA_QK; j++) {
            if (amax < fabsf(src[j])) {
                amax = fabsf(src[j]);
                max = src[j];
            }
        }
        float d = max / -8;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = ia__f32_to_f16(d);
        for (int j = 0; j < IA_QK / 2; j++) {
            int q0 = cast_i8(src[j] * id + 8.5f), q1 = cast_i8(src[j + IA_QK / 2] * id + 8.5f);
            uint8_t lo = (uint8_t)(q0 < 15 ? q0 : 15), hi = (uint8_t)(q1 < 15 ? q1 : 15);
            y[b].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

void ia__q4_0_to_f32(const void *src, float *dst, int64_t n)
{
    const ia_block_q4_0 *x = src;
    for (int64_t b = 0; b < n / IA_QK; b++, dst += IA_QK) {
        float d = ia__f16_to_f32(x[b].d);
        for (int j = 0; j < IA_QK / 2; j++) {
            dst[j] = ((x[b].qs[j] & 0xf) - 8) * d;
            dst[j + IA_QK / 2] = ((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

/* q4_1: d = (max - min) / 15, m = min, q = (x - min)/d truncated after
 * adding 0.5, capped at 15. */
void ia__q4_1_from_f32(const float *src, void *dst, int64_t n)
{
    ia_block_q4_1 *y = dst;
    for (int64_t b = 0; b < n / IA_QK; b++, src += IA_QK) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < IA_QK; j++) {
            if (src[j] < min)
                min = src[j];
            if (src[j] > max)
                max = src[j];
        }
        float d = (max - min) / 15;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = ia__f32_to_f16(d);
        y[b].m = ia__f32_to_f16(min);
        for (int j = 0; j < IA_QK / 2; j++) {
            int q0 = cast_i8((src[j] - min) * id + 0.5f);
            int q1 = cast_i8((src[j + IA_QK / 2] - min) * id + 0.5f);
            uint8_t lo = (uint8_t)(q0 < 15 ? q0 : 15), hi = (uint8_t)(q1 < 15 ? q1 : 15);
            y[b].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

void ia__q4_1_to_f32(const void *src, float *dst, int64_t n)
{
    const ia_block_q4_1 *x = src;
    for (int64_t b = 0; b < n / IA_QK; b++, dst += IA_QK) {
        float d = ia__f16_to_f32(x[b].d), m = ia__f16_to_f32(x[b].m);
        for (int j = 0; j < IA_QK / 2; j++) {
            float v0 = (x[b].qs[j] & 0xf) * d, v1 = (x[b].qs[j] >> 4) * d;
            dst[j] = v0 + m;
            dst[j + IA_QK / 2] = v1 + m;
        }
    }
}

/* ---------------------------------------------------------- traits */

static const ia_dtype_traits traits[IA_DTYPE_COUNT] = {
    [IA_DTYPE_F32] = {"f32", 1, 4, false, f32_to_f32, f32_from_f32},
    [IA_DTYPE_F16] = {"f16", 1, 2, false, f16_to_f32, f16_from_f32},
    [IA_DTYPE_BF16] = {"bf16", 1, 2, false, bf16_to_f32, bf16_from_f32},
    [IA_DTYPE_I64] = {"i64", 1, 8, false, NULL, NULL},
    [IA_DTYPE_OTHER] = {"other", 1, 0, false, NULL, NULL},
    [IA_DTYPE_I32] = {"i32", 1, 4, false, i32_to_f32, i32_from_f32},
    [IA_DTYPE_I8] = {"i8", 1, 1, false, i8_to_f32, i8_from_f32},
    [IA_DTYPE_Q8_0] = {"q8_0", IA_QK, sizeof(ia_block_q8_0), true, ia__q8_0_to_f32, ia__q8_0_from_f32},
    [IA_DTYPE_Q4_0] = {"q4_0", IA_QK, sizeof(ia_block_q4_0), true, ia__q4_0_to_f32, ia__q4_0_from_f32},
    [IA_DTYPE_Q4_1] = {"q4_1", IA_QK, sizeof(ia_block_q4_1), true, ia__q4_1_to_f32, ia__q4_1_from_f32},
    [IA_DTYPE_Q4_K] = {"q4_K", IA_QK_K, sizeof(ia_block_q4_K), true, ia__q4_K_to_f32, ia__q4_K_from_f32},
    [IA_DTYPE_Q5_K] = {"q5_K", IA_QK_K, sizeof(ia_block_q5_K), true, ia__q5_K_to_f32, ia__q5_K_from_f32},
    [IA_DTYPE_Q6_K] = {"q6_K", IA_QK_K, sizeof(ia_block_q6_K), true, ia__q6_K_to_f32, ia__q6_K_from_f32},
};

const ia_dtype_traits *ia__dtype(ia_dtype t)
{
    return (unsigned)t < IA_DTYPE_COUNT ? &traits[t] : NULL;
}

const char *ia__dtype_name(ia_dtype t)
{
    return (unsigned)t < IA_DTYPE_COUNT ? traits[t].name : "invalid";
}

size_t ia__dtype_row_bytes(ia_dtype t, int64_t n)
{
    const ia_dtype_traits *tr = ia__dtype(t);
    if (!tr || n < 0 || n % tr->block)
        return 0;
    uint64_t blocks = (uint64_t)(n / tr->block);
    if (tr->block_bytes && blocks > SIZE_MAX / tr->block_bytes)
        return 0;
    return (size_t)blocks * tr->block_bytes;
}

bool ia__dtype_interleavable(ia_dtype t)
{
    return t == IA_DTYPE_Q8_0 || t == IA_DTYPE_Q4_0 || t == IA_DTYPE_Q4_1;
}

/* Where row i's fields of block b of an interleaved group lie: its d (and
 * m), and its 4-byte piece c of qs (c < 8 for q8_0, < 4 for q4). */
typedef struct x8_slot {
    size_t d, m, qs, piece_stride; /* byte offsets in the group's block; qs of piece 0 */
} x8_slot;

static x8_slot x8_slot_of(ia_dtype t, int i)
{
    const size_t heads = t == IA_DTYPE_Q4_1 ? 32 : 16; /* d[8] (and m[8]) */
    return (x8_slot){.d = 2 * (size_t)i, .m = 16 + 2 * (size_t)i, .qs = heads + 4 * (size_t)i, .piece_stride = 32};
}

bool ia__dtype_interleave8(ia_dtype t, void *data, int64_t n_rows, int64_t n_cols)
{
    const size_t row = ia__dtype_row_bytes(t, n_cols);
    if (!ia__dtype_interleavable(t) || !data || !row || n_rows < 0 || n_rows % 8)
        return false;
    const size_t bb = traits[t].block_bytes, qsb = t == IA_DTYPE_Q8_0 ? IA_QK : IA_QK / 2;
    const size_t head = bb - qsb; /* d (and m) before qs in a plain block */
    const int64_t nb = n_cols / IA_QK;
    uint8_t *tmp = ia__malloc(8 * row);
    if (!tmp)
        return false;
    for (int64_t g = 0; g < n_rows / 8; g++) {
        uint8_t *grp = (uint8_t *)data + (size_t)g * 8 * row;
        memcpy(tmp, grp, 8 * row);
        for (int64_t b = 0; b < nb; b++)
            for (int i = 0; i < 8; i++) {
                const uint8_t *src = tmp + (size_t)i * row + (size_t)b * bb;
                uint8_t *blk = grp + (size_t)b * 8 * bb;
                const x8_slot sl = x8_slot_of(t, i);
                memcpy(blk + sl.d, src, 2);
                if (t == IA_DTYPE_Q4_1)
                    memcpy(blk + sl.m, src + 2, 2);
                for (size_t c = 0; c < qsb / 4; c++)
                    memcpy(blk + sl.qs + c * sl.piece_stride, src + head + 4 * c, 4);
            }
    }
    ia__free(tmp);
    return true;
}

void ia__dtype_interleaved8_row(ia_dtype t, const void *data, int64_t n_cols, int64_t r, float *dst)
{
    const size_t bb = traits[t].block_bytes, qsb = t == IA_DTYPE_Q8_0 ? IA_QK : IA_QK / 2;
    const size_t row = ia__dtype_row_bytes(t, n_cols);
    const uint8_t *grp = (const uint8_t *)data + (size_t)(r / 8) * 8 * row;
    const x8_slot sl = x8_slot_of(t, (int)(r % 8));
    _Alignas(4) uint8_t plain[36]; /* one block of row r, as it was */
    for (int64_t b = 0; b < n_cols / IA_QK; b++) {
        const uint8_t *blk = grp + (size_t)b * 8 * bb;
        memcpy(plain, blk + sl.d, 2);
        if (t == IA_DTYPE_Q4_1)
            memcpy(plain + 2, blk + sl.m, 2);
        for (size_t c = 0; c < qsb / 4; c++)
            memcpy(plain + (bb - qsb) + 4 * c, blk + sl.qs + c * sl.piece_stride, 4);
        traits[t].to_f32(plain, dst + b * IA_QK, IA_QK);
    }
}
