/*
 * Element types of tensors: plain (f32, f16, bf16, i32, i8, i64) and the
 * GGUF block formats (q8_0, q4_0, q4_1, q4_K, q5_K, q6_K), whose bytes are
 * exactly ggml's, so weights from a GGUF file are used as they lie in the
 * mapping. A quantized row of n elements is n / block blocks (n must be a
 * multiple of block). Never installed.
 */
#ifndef IA_TENSOR_DTYPE_H
#define IA_TENSOR_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ia_dtype {
    IA_DTYPE_F32,
    IA_DTYPE_F16,
    IA_DTYPE_BF16,
    IA_DTYPE_I64,   /* storage only (safetensors index tensors) */
    IA_DTYPE_OTHER, /* a file's type we do not compute with */
    IA_DTYPE_I32,
    IA_DTYPE_I8,
    IA_DTYPE_Q8_0,  /* 32 elements: f16 scale, 32 x int8 */
    IA_DTYPE_Q4_0,  /* 32 elements: f16 scale, 16 bytes of 4-bit values (offset 8) */
    IA_DTYPE_Q4_1,  /* 32 elements: f16 scale, f16 min, 16 bytes of 4-bit values */
    IA_DTYPE_Q4_K,  /* 256 elements: super-block of 8 x 32, 6-bit scales and mins */
    IA_DTYPE_Q5_K,  /* 256 elements: as q4_K plus a fifth bit per value */
    IA_DTYPE_Q6_K,  /* 256 elements: 16 x 16, 8-bit scales, 6-bit values */
    IA_DTYPE_COUNT
} ia_dtype;

typedef struct ia_dtype_traits {
    const char *name;   /* "f32", "q4_K" (GGUF's spelling) */
    int block;          /* elements per block (1 for plain types) */
    size_t block_bytes; /* bytes per block */
    bool quantized;
    /* n elements (a multiple of block) from this type to f32; NULL for
     * storage-only types */
    void (*to_f32)(const void *src, float *dst, int64_t n);
    /* the reference conversion of n f32 elements to this type (rounding
     * as ggml's reference quantizers round); NULL for storage-only types */
    void (*from_f32)(const float *src, void *dst, int64_t n);
} ia_dtype_traits;

/* The traits of t (t < IA_DTYPE_COUNT; NULL for any other value). The
 * table is constant: safe from any thread. For IA_DTYPE_OTHER block is 1
 * and block_bytes 0 (its size is unknown). Row conversions of block types
 * need src and dst aligned to 2 bytes (GGUF aligns tensors to 32); plain
 * types take any alignment. i32 and i8 from f32 truncate toward zero as a
 * C cast does, saturating out-of-range values, NaN to 0. */
const ia_dtype_traits *ia__dtype(ia_dtype t);
/* "f32", "q4_K"... ("invalid" for a value out of range) */
const char *ia__dtype_name(ia_dtype t);
/* Bytes of a row of n elements of t; 0 if n is not a multiple of its block
 * (or negative, or the size overflows size_t), and 0 for IA_DTYPE_OTHER. */
size_t ia__dtype_row_bytes(ia_dtype t, int64_t n);

/* IEEE half and bfloat16 conversions (round to nearest even). Subnormals
 * are kept, not flushed; magnitudes from 65520 (half-way past the largest
 * half, 65504) round to infinity. A NaN stays a NaN of the same sign with the top bits of its
 * payload, made quiet, as the F16C instructions do (f16 both ways, bf16
 * from f32 as ggml does; bf16 to f32 is exact and keeps any NaN as is). */
float ia__f16_to_f32(uint16_t h);
uint16_t ia__f32_to_f16(float f);
float ia__bf16_to_f32(uint16_t h);
uint16_t ia__f32_to_bf16(float f);

/*
 * The block layouts, byte for byte those of ggml (ggml-common.h). Halves
 * ("d", "dmin", "m") are IEEE binary16 bits, little-endian as every field.
 */
#define IA_QK 32   /* elements per q8_0, q4_0, q4_1 block */
#define IA_QK_K 256 /* elements per k-quant super-block */

typedef struct ia_block_q8_0 {
    uint16_t d;        /* scale */
    int8_t qs[IA_QK];  /* value j = qs[j] * d */
} ia_block_q8_0;

typedef struct ia_block_q4_0 {
    uint16_t d;
    uint8_t qs[IA_QK / 2]; /* element j < 16: low nibble of qs[j]; j >= 16:
                            * high nibble of qs[j - 16]; value (q - 8) * d */
} ia_block_q4_0;

typedef struct ia_block_q4_1 {
    uint16_t d, m;         /* value = q * d + m, nibbles as in q4_0 */
    uint8_t qs[IA_QK / 2];
} ia_block_q4_1;

/* q4_K and q5_K: 8 sub-blocks of 32, each with a 6-bit scale sc and min mn
 * packed in scales[12] (j < 4: sc = scales[j] & 63, mn = scales[j+4] & 63;
 * j >= 4: the low 4 bits in scales[j+4], the top 2 in the top bits of
 * scales[j-4] (sc) and scales[j] (mn)). value = d*sc * q - dmin*mn. The
 * values of sub-blocks 2i and 2i+1 share qs[32i .. 32i+31]: low nibbles,
 * then high nibbles. */
typedef struct ia_block_q4_K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[IA_QK_K / 2];
} ia_block_q4_K;

/* Sub-block j's scale and min from the packed scales[12] of q4_K / q5_K. */
static inline void ia__k4_scale_min(const uint8_t *s, int j, uint8_t *sc, uint8_t *mn)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *mn = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0xf) | (s[j - 4] >> 6) << 4);
        *mn = (uint8_t)((s[j + 4] >> 4) | (s[j] >> 6) << 4);
    }
}

/* As q4_K; the fifth bit of element 64i + l (l < 32) is bit 2i of qh[l],
 * of element 64i + 32 + l bit 2i + 1. */
typedef struct ia_block_q5_K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[IA_QK_K / 8];
    uint8_t qs[IA_QK_K / 2];
} ia_block_q5_K;

/* 16 sub-blocks of 16 with int8 scales; value = d * scales[e/16] * (q - 32)
 * for element e, q six bits. In each half of 128 elements (64 bytes of ql,
 * 32 of qh) and for l < 32: ql[l] holds the low 4 bits of elements l (low
 * nibble) and l+64 (high), ql[l+32] those of l+32 and l+96; qh[l] the top
 * 2 bits of l, l+32, l+64, l+96 at bits 0, 2, 4, 6. */
typedef struct ia_block_q6_K {
    uint8_t ql[IA_QK_K / 2];
    uint8_t qh[IA_QK_K / 4];
    int8_t scales[IA_QK_K / 16];
    uint16_t d;
} ia_block_q6_K;

/*
 * q8_0, q4_0 and q4_1 rows interleaved in groups of 8, the layout in which
 * a CPU kernel reads one block of 8 rows per vector (a node says its
 * weight or table lies so with IA_NODE_W_INTERLEAVED8). Rows 8g .. 8g + 7
 * keep their bytes (the same 8 rows' worth), rearranged block by block:
 * for block b the 8 rows' d (then q4_1's m) in row order, then pieces of
 * 32 bytes, piece c holding bytes 4c .. 4c + 3 of each row's qs in row
 * order (8 pieces for q8_0; 4 for q4_0 and q4_1, whose low nibbles are
 * then elements 4c .. 4c + 3 of the 8 rows, the high ones 16 + 4c ..).
 */
typedef struct ia_block_q8_0x8 {
    uint16_t d[8];
    int8_t qs[8 * IA_QK];
} ia_block_q8_0x8;

typedef struct ia_block_q4_0x8 {
    uint16_t d[8];
    uint8_t qs[8 * IA_QK / 2];
} ia_block_q4_0x8;

typedef struct ia_block_q4_1x8 {
    uint16_t d[8], m[8];
    uint8_t qs[8 * IA_QK / 2];
} ia_block_q4_1x8;

/* Whether t has that layout (q8_0, q4_0, q4_1). */
bool ia__dtype_interleavable(ia_dtype t);
/* Rearrange n_rows (a multiple of 8) contiguous rows of n_cols elements of
 * t in place into that layout. false (nothing changed) for another dtype
 * or shape, or when a scratch of 8 rows cannot be had. */
bool ia__dtype_interleave8(ia_dtype t, void *data, int64_t n_rows, int64_t n_cols);
/* Row r (n_cols elements) of such a matrix at data, as f32. */
void ia__dtype_interleaved8_row(ia_dtype t, const void *data, int64_t n_cols, int64_t r, float *dst);

_Static_assert(sizeof(ia_block_q8_0) == 34, "q8_0 block layout");
_Static_assert(sizeof(ia_block_q4_0) == 18, "q4_0 block layout");
_Static_assert(sizeof(ia_block_q4_1) == 20, "q4_1 block layout");
_Static_assert(sizeof(ia_block_q8_0x8) == 8 * 34 && sizeof(ia_block_q4_0x8) == 8 * 18 &&
                   sizeof(ia_block_q4_1x8) == 8 * 20,
               "interleaved layouts");
_Static_assert(sizeof(ia_block_q4_K) == 144, "q4_K block layout");
_Static_assert(sizeof(ia_block_q5_K) == 176, "q5_K block layout");
_Static_assert(sizeof(ia_block_q6_K) == 210, "q6_K block layout");

/* The traits' row conversions of the block types, for code that knows its
 * type statically (n a multiple of the block). from_f32 is ggml's reference
 * quantizer (quantize_row_*_ref), bit for bit; where the reference's C is
 * undefined (a float cast to int8 out of range, as for blocks so small
 * that 1/d overflows, or NaN inputs) the result is what x86-64 builds of
 * ggml give. to_f32 is ggml's dequantizer, unfused: no multiply-add. */
void ia__q8_0_to_f32(const void *src, float *dst, int64_t n);
void ia__q8_0_from_f32(const float *src, void *dst, int64_t n);
void ia__q4_0_to_f32(const void *src, float *dst, int64_t n);
void ia__q4_0_from_f32(const float *src, void *dst, int64_t n);
void ia__q4_1_to_f32(const void *src, float *dst, int64_t n);
void ia__q4_1_from_f32(const float *src, void *dst, int64_t n);
void ia__q4_K_to_f32(const void *src, float *dst, int64_t n);
void ia__q4_K_from_f32(const float *src, void *dst, int64_t n);
void ia__q5_K_to_f32(const void *src, float *dst, int64_t n);
void ia__q5_K_from_f32(const float *src, void *dst, int64_t n);
void ia__q6_K_to_f32(const void *src, float *dst, int64_t n);
void ia__q6_K_from_f32(const float *src, void *dst, int64_t n);

#endif
