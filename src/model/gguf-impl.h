/*
 * GGUF reader (llama.cpp's model file, versions 2 and 3, little-endian):
 * maps the file read-only, checks every length, count, offset and size in
 * it against the file before anything is used, and indexes its metadata
 * (typed key/values, arrays of any type, nested arrays) and its tensor
 * infos. Nothing is copied: values are views into the mapping, tensors are
 * ia_tensor views of their bytes where they lie (docs/gguf.md).
 *
 * An open file is immutable: every accessor below takes a const pointer
 * and is safe from any number of threads at once. Views stay valid until
 * ia__gguf_close. The file must not be truncated while it is open (the
 * mapping would fault, as for any mmap reader). Never installed.
 */
#ifndef IA_GGUF_IMPL_H
#define IA_GGUF_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core-impl.h"
#include "tensor/dtype.h"
#include "tensor/tensor.h"

typedef struct ia_gguf ia_gguf;

/* Metadata value types, numbered as in the file (gguf_type in ggml). */
typedef enum ia_gguf_type {
    IA_GGUF_U8 = 0,
    IA_GGUF_I8 = 1,
    IA_GGUF_U16 = 2,
    IA_GGUF_I16 = 3,
    IA_GGUF_U32 = 4,
    IA_GGUF_I32 = 5,
    IA_GGUF_F32 = 6,
    IA_GGUF_BOOL = 7,
    IA_GGUF_STRING = 8,
    IA_GGUF_ARRAY = 9,
    IA_GGUF_U64 = 10,
    IA_GGUF_I64 = 11,
    IA_GGUF_F64 = 12,
    IA_GGUF_TYPE_COUNT
} ia_gguf_type;

/* Arrays may hold arrays down to this depth (a key's own array is depth 1). */
#define IA_GGUF_MAX_DEPTH 16

/* One metadata value: where it lies in the mapping and what it is. A
 * string is `n` bytes at `data`, NOT NUL-terminated (and may hold NULs);
 * an array is `n` elements of type `elem`, the first at `data`. Scalars:
 * n is 1, `data` their little-endian bytes (read them with the getters). */
typedef struct ia_gguf_value {
    const ia_gguf *g;  /* the file, for messages */
    ia_gguf_type type;
    ia_gguf_type elem; /* arrays only */
    uint64_t n;
    const uint8_t *data;
    size_t offset;     /* byte offset of the value in the file (messages) */
    size_t size;       /* bytes the whole value takes in the file */
    int depth;         /* array nesting of this value (0: a key's value) */
} ia_gguf_value;

typedef struct ia_gguf_kv {
    const char *key;   /* NUL-terminated copy (keys holding a NUL are refused) */
    size_t offset;     /* byte offset of the key/value pair in the file */
    ia_gguf_value value;
} ia_gguf_kv;

typedef struct ia_gguf_tensor_info {
    const char *name;      /* NUL-terminated copy */
    uint32_t ggml_type;    /* the file's type id (ggml_type) */
    const char *type_name; /* ggml's spelling: "q4_K", "q5_0" */
    ia_dtype dtype;        /* ours; IA_DTYPE_OTHER where we have none */
    int n_dims;            /* 0..4 as written */
    int64_t ne[IA_TENSOR_DIMS]; /* ne[0] innermost, unused dims 1 */
    uint64_t offset;       /* from the start of the data section, as written */
    size_t file_offset;    /* of its first byte in the file */
    size_t nbytes;
    const uint8_t *data;   /* into the mapping: nbytes bytes, inside the file */
    size_t info_offset;    /* byte offset of its tensor info (messages) */
} ia_gguf_tensor_info;

/* Map and index `path`. IA_ERR_NOT_FOUND / IA_ERR_IO for the file itself;
 * IA_ERR_FORMAT for anything malformed, the message naming the file, the
 * byte offset and the field; IA_ERR_UNSUPPORTED for GGUF versions other
 * than 2 and 3 and big-endian files; IA_ERR_NOMEM. *out is set only on
 * success; close it with ia__gguf_close. */
ia_status ia__gguf_open(const char *path, ia_gguf **out);
/* NULL is a no-op. Invalidates every view taken from g. */
void ia__gguf_close(ia_gguf *g);

const char *ia__gguf_path(const ia_gguf *g);
uint32_t ia__gguf_version(const ia_gguf *g);
uint32_t ia__gguf_alignment(const ia_gguf *g);   /* general.alignment, default 32 */
size_t ia__gguf_data_offset(const ia_gguf *g);   /* where the data section starts */
/* The mapping: the file's bytes (for checks that a view lies inside). */
const uint8_t *ia__gguf_base(const ia_gguf *g);
size_t ia__gguf_size(const ia_gguf *g);

/* "u8", "str", "arr"... ("?" out of range) */
const char *ia__gguf_type_name(ia_gguf_type t);
/* ggml's name of a tensor type id ("q5_0"); NULL for ids ggml does not
 * define (the file is refused then). */
const char *ia__gguf_ggml_type_name(uint32_t ggml_type);

/* ---- metadata -------------------------------------------------------- */

size_t ia__gguf_kv_count(const ia_gguf *g);
/* i < ia__gguf_kv_count(g); in file order. */
const ia_gguf_kv *ia__gguf_kv_at(const ia_gguf *g, size_t i);
/* NULL if absent. */
const ia_gguf_kv *ia__gguf_find(const ia_gguf *g, const char *key);

/* Typed getters by key: IA_ERR_NOT_FOUND if absent, IA_ERR_FORMAT (naming
 * the file, key and offset) if the value has another type or is out of
 * range. Outputs are written only on success. */
ia_status ia__gguf_get(const ia_gguf *g, const char *key, ia_gguf_value *out);
/* A view of the string (not NUL-terminated; `len` bytes). */
ia_status ia__gguf_get_str(const ia_gguf *g, const char *key, const char **s, size_t *len);
/* Any integer type (u8..u64, i8..i64) whose value lies in [min, max]. */
ia_status ia__gguf_get_int(const ia_gguf *g, const char *key, int64_t min, int64_t max, int64_t *out);
/* Any integer type whose value lies in [0, max] (for u64 beyond INT64_MAX). */
ia_status ia__gguf_get_uint(const ia_gguf *g, const char *key, uint64_t max, uint64_t *out);
/* f32 (widened exactly) or f64. */
ia_status ia__gguf_get_float(const ia_gguf *g, const char *key, double *out);
ia_status ia__gguf_get_bool(const ia_gguf *g, const char *key, bool *out);
/* An array whose elements have type elem (IA_GGUF_TYPE_COUNT: any). */
ia_status ia__gguf_get_array(const ia_gguf *g, const char *key, ia_gguf_type elem, ia_gguf_value *out);

/* The same on a value (an element of an array, a kv's value). Messages
 * name the value by its byte offset. */
ia_status ia__gguf_value_str(const ia_gguf_value *v, const char **s, size_t *len);
ia_status ia__gguf_value_int(const ia_gguf_value *v, int64_t min, int64_t max, int64_t *out);
ia_status ia__gguf_value_uint(const ia_gguf_value *v, uint64_t max, uint64_t *out);
ia_status ia__gguf_value_float(const ia_gguf_value *v, double *out);
ia_status ia__gguf_value_bool(const ia_gguf_value *v, bool *out);

/* Element i of an array value: O(1) for fixed-size elements, O(i) for
 * strings and arrays (use an iterator to walk those). IA_ERR_INVALID if
 * arr is not an array or i >= arr->n. */
ia_status ia__gguf_array_at(const ia_gguf_value *arr, uint64_t i, ia_gguf_value *out);

/* Walks the elements of an array in order, each in O(its size):
 *     ia_gguf_iter it = ia__gguf_iter(&arr);
 *     ia_gguf_value e;
 *     while (ia__gguf_next(&it, &e)) ...
 * next returns false after the last element (or, for a value that is not
 * an array, at once). */
typedef struct ia_gguf_iter {
    ia_gguf_value arr;
    uint64_t i;
    size_t pos; /* file offset of element i */
} ia_gguf_iter;
ia_gguf_iter ia__gguf_iter(const ia_gguf_value *arr);
bool ia__gguf_next(ia_gguf_iter *it, ia_gguf_value *out);

/* ---- tensors --------------------------------------------------------- */

size_t ia__gguf_tensor_count(const ia_gguf *g);
/* i < ia__gguf_tensor_count(g); in file order. */
const ia_gguf_tensor_info *ia__gguf_tensor_at(const ia_gguf *g, size_t i);
/* NULL if absent. */
const ia_gguf_tensor_info *ia__gguf_tensor_find(const ia_gguf *g, const char *name);

/* A contiguous ia_tensor view of t's bytes in the mapping (no copy; the
 * memory is read-only: never write through it). IA_ERR_UNSUPPORTED, naming
 * the tensor and its type, for ggml types we have no dtype for (q5_0,
 * iq2_xs, f64...) and for data not aligned as our kernels need (element
 * size for plain types, 2 bytes for block types: only possible in files
 * with general.alignment below that). */
ia_status ia__gguf_tensor(const ia_gguf *g, const ia_gguf_tensor_info *t, ia_tensor *out);
/* By name: also IA_ERR_NOT_FOUND naming the file. */
ia_status ia__gguf_get_tensor(const ia_gguf *g, const char *name, ia_tensor *out);

#endif
