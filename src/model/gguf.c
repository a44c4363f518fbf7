/*
 * GGUF: "GGUF", a u32 version, u64 tensor and key/value counts, the
 * key/values (a string key, a u32 type, the value; arrays are a u32
 * element type, a u64 count and the elements, which may be arrays
 * themselves), the tensor infos (name, u32 n_dims, n_dims u64 dims with
 * ne[0] innermost, u32 ggml type, u64 offset into the data section), then
 * padding to general.alignment and the data section. All little-endian.
 *
 * The whole header is walked once at open with every length, count and
 * offset checked against the bytes that remain, in 64-bit arithmetic that
 * cannot wrap, so that afterwards every view handed out lies inside the
 * file; the same decoder serves the accessors later (docs/gguf.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/gguf-impl.h"

#define GGUF_HEADER_BYTES 24
#define GGUF_DEFAULT_ALIGNMENT 32
/* The least bytes a key/value pair and a tensor info can take: key length,
 * one key byte, type, a one-byte value; name length, n_dims, type, offset. */
#define MIN_KV_BYTES 14
#define MIN_TENSOR_INFO_BYTES 24

/* Open-addressing hash index from names to item positions (+1; 0 empty). */
struct name_index {
    size_t *slots;
    size_t cap; /* a power of two, at least twice the items */
};

struct ia_gguf {
    char *path;
    const uint8_t *base;
    size_t size;
    uint32_t version, alignment;
    size_t data_offset;
    ia_gguf_kv *kvs;
    size_t n_kvs, cap_kvs;
    ia_gguf_tensor_info *tensors;
    size_t n_tensors, cap_tensors;
    struct name_index kv_index, tensor_index;
};

/* ggml's tensor types (ggml.h enum ggml_type, sizes from ggml's type
 * traits; gguf-py's GGML_QUANT_SIZES agrees except q8_1, see docs/gguf.md).
 * Ids ggml has retired (4, 5, 31-33, 36-38) or not yet assigned have no
 * name: a file using them is refused, as ggml and gguf-py refuse it. */
static const struct ggml_type_info {
    const char *name;
    uint32_t block; /* elements per block */
    uint32_t bytes; /* bytes per block */
    ia_dtype dtype; /* IA_DTYPE_OTHER: listed, not computed with */
} ggml_types[] = {
    [0] = {"f32", 1, 4, IA_DTYPE_F32},
    [1] = {"f16", 1, 2, IA_DTYPE_F16},
    [2] = {"q4_0", 32, 18, IA_DTYPE_Q4_0},
    [3] = {"q4_1", 32, 20, IA_DTYPE_Q4_1},
    [6] = {"q5_0", 32, 22, IA_DTYPE_OTHER},
    [7] = {"q5_1", 32, 24, IA_DTYPE_OTHER},
    [8] = {"q8_0", 32, 34, IA_DTYPE_Q8_0},
    [9] = {"q8_1", 32, 36, IA_DTYPE_OTHER},
    [10] = {"q2_K", 256, 84, IA_DTYPE_OTHER},
    [11] = {"q3_K", 256, 110, IA_DTYPE_OTHER},
    [12] = {"q4_K", 256, 144, IA_DTYPE_Q4_K},
    [13] = {"q5_K", 256, 176, IA_DTYPE_Q5_K},
    [14] = {"q6_K", 256, 210, IA_DTYPE_Q6_K},
    [15] = {"q8_K", 256, 292, IA_DTYPE_OTHER},
    [16] = {"iq2_xxs", 256, 66, IA_DTYPE_OTHER},
    [17] = {"iq2_xs", 256, 74, IA_DTYPE_OTHER},
    [18] = {"iq3_xxs", 256, 98, IA_DTYPE_OTHER},
    [19] = {"iq1_s", 256, 50, IA_DTYPE_OTHER},
    [20] = {"iq4_nl", 32, 18, IA_DTYPE_OTHER},
    [21] = {"iq3_s", 256, 110, IA_DTYPE_OTHER},
    [22] = {"iq2_s", 256, 82, IA_DTYPE_OTHER},
    [23] = {"iq4_xs", 256, 136, IA_DTYPE_OTHER},
    [24] = {"i8", 1, 1, IA_DTYPE_I8},
    [25] = {"i16", 1, 2, IA_DTYPE_OTHER},
    [26] = {"i32", 1, 4, IA_DTYPE_I32},
    [27] = {"i64", 1, 8, IA_DTYPE_I64},
    [28] = {"f64", 1, 8, IA_DTYPE_OTHER},
    [29] = {"iq1_m", 256, 56, IA_DTYPE_OTHER},
    [30] = {"bf16", 1, 2, IA_DTYPE_BF16},
    [34] = {"tq1_0", 256, 54, IA_DTYPE_OTHER},
    [35] = {"tq2_0", 256, 66, IA_DTYPE_OTHER},
    [39] = {"mxfp4", 32, 17, IA_DTYPE_OTHER},
    [40] = {"nvfp4", 64, 36, IA_DTYPE_OTHER},
    [41] = {"q1_0", 128, 18, IA_DTYPE_OTHER},
};

static const struct ggml_type_info *ggml_type(uint32_t id)
{
    return id < IA_ARRAY_LEN(ggml_types) && ggml_types[id].name ? &ggml_types[id] : NULL;
}

const char *ia__gguf_ggml_type_name(uint32_t id)
{
    const struct ggml_type_info *t = ggml_type(id);
    return t ? t->name : NULL;
}

static const char *const type_names[IA_GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64",
};
/* Bytes of a scalar; for strings and arrays the least they can take. */
static const uint8_t type_min_bytes[IA_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};

const char *ia__gguf_type_name(ia_gguf_type t)
{
    return (unsigned)t < IA_GGUF_TYPE_COUNT ? type_names[t] : "?";
}

static bool fixed_size(ia_gguf_type t) { return t != IA_GGUF_STRING && t != IA_GGUF_ARRAY; }

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* ---- messages -------------------------------------------------------- */

/* What is being read, as a chain from the key or tensor down to the array
 * element, formatted only when something is wrong. */
struct field {
    const struct field *up;
    const char *label; /* NULL: element `index` of up */
    uint64_t index;
};

static void field_format(const struct field *f, char *buf, size_t cap)
{
    if (!f) {
        buf[0] = '\0';
        return;
    }
    field_format(f->up, buf, cap);
    size_t n = strlen(buf);
    if (f->label)
        snprintf(buf + n, cap - n, "%s%s", n ? " " : "", f->label);
    else
        snprintf(buf + n, cap - n, "[%" PRIu64 "]", f->index);
}

/* A name from the file, printable: control bytes and quotes escaped, cut
 * after 64 bytes. */
static void quote(char *buf, size_t cap, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 64) {
            o += (size_t)snprintf(buf + o, cap - o, "...");
            break;
        }
        if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\')
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    buf[o] = '\0';
}

static ia_status fail(ia_status st, const ia_gguf *g, size_t at, const struct field *f, const char *fmt, ...)
    IA_PRINTF(5, 6);
static ia_status fail(ia_status st, const ia_gguf *g, size_t at, const struct field *f, const char *fmt, ...)
{
    char where[256], detail[512];
    field_format(f, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return ia__error(st, "%s: byte %zu: %s: %s", g->path, at, where, detail);
}

#define BAD(...) fail(IA_ERR_FORMAT, __VA_ARGS__)

/* ---- values ---------------------------------------------------------- */

/* The value of type t at byte pos, checked whole: every length and count
 * against the bytes left, bools 0 or 1, element types, nesting depth. */
static ia_status decode(const ia_gguf *g, ia_gguf_type t, size_t pos, int depth, const struct field *f,
                        ia_gguf_value *v)
{
    const uint8_t *p = g->base + pos;
    size_t left = g->size - pos;
    *v = (ia_gguf_value){.g = g, .type = t, .n = 1, .data = p, .offset = pos, .depth = depth};
    if ((unsigned)t >= IA_GGUF_TYPE_COUNT)
        return BAD(g, pos, f, "type %u is not a GGUF value type", (unsigned)t);
    if (left < type_min_bytes[t])
        return BAD(g, pos, f, "a %s needs %u bytes, %zu left (truncated?)", type_names[t], type_min_bytes[t], left);

    if (t == IA_GGUF_STRING) {
        uint64_t len = rd64(p);
        if (len > left - 8)
            return BAD(g, pos, f, "string of %" PRIu64 " bytes runs past the end of the file (%zu bytes left)", len,
                       left - 8);
        v->n = len;
        v->data = p + 8;
        v->size = 8 + (size_t)len;
        return IA_OK;
    }
    if (t != IA_GGUF_ARRAY) {
        if (t == IA_GGUF_BOOL && *p > 1)
            return BAD(g, pos, f, "bool is %u, not 0 or 1", *p);
        v->size = type_min_bytes[t];
        return IA_OK;
    }

    uint32_t et = rd32(p);
    uint64_t n = rd64(p + 4);
    if (et >= IA_GGUF_TYPE_COUNT)
        return BAD(g, pos, f, "array element type %" PRIu32 " is not a GGUF value type", et);
    if (et == IA_GGUF_ARRAY && depth + 2 > IA_GGUF_MAX_DEPTH)
        return BAD(g, pos, f, "arrays nested more than %d deep", IA_GGUF_MAX_DEPTH);
    left -= 12;
    if (n > left / type_min_bytes[et])
        return BAD(g, pos, f, "array of %" PRIu64 " %s needs at least %u bytes each, %zu bytes left", n,
                   type_names[et], type_min_bytes[et], left);
    v->elem = (ia_gguf_type)et;
    v->n = n;
    v->data = p + 12;
    if (fixed_size(v->elem)) {
        if (et == IA_GGUF_BOOL)
            for (uint64_t i = 0; i < n; i++)
                if (v->data[i] > 1) {
                    struct field ef = {f, NULL, i};
                    return BAD(g, pos + 12 + (size_t)i, &ef, "bool is %u, not 0 or 1", v->data[i]);
                }
        v->size = 12 + (size_t)n * type_min_bytes[et];
        return IA_OK;
    }
    size_t q = pos + 12;
    for (uint64_t i = 0; i < n; i++) {
        struct field ef = {f, NULL, i};
        ia_gguf_value e;
        ia_status rc = decode(g, v->elem, q, depth + 1, &ef, &e);
        if (rc != IA_OK)
            return rc;
        q += e.size;
    }
    v->size = q - pos;
    return IA_OK;
}

ia_gguf_iter ia__gguf_iter(const ia_gguf_value *arr)
{
    ia_gguf_iter it = {.arr = *arr, .i = 0, .pos = arr->offset + 12};
    return it;
}

bool ia__gguf_next(ia_gguf_iter *it, ia_gguf_value *out)
{
    if (it->arr.type != IA_GGUF_ARRAY || it->i >= it->arr.n)
        return false;
    /* Checked at open: this cannot fail, and costs O(the element). */
    struct field arr = {NULL, "array", 0}, f = {&arr, NULL, it->i};
    if (decode(it->arr.g, it->arr.elem, it->pos, it->arr.depth + 1, &f, out) != IA_OK)
        return false;
    it->pos += out->size;
    it->i++;
    return true;
}

ia_status ia__gguf_array_at(const ia_gguf_value *arr, uint64_t i, ia_gguf_value *out)
{
    if (arr->type != IA_GGUF_ARRAY)
        return ia__error(IA_ERR_INVALID, "%s: byte %zu: a %s is not an array", arr->g->path, arr->offset,
                         type_names[arr->type]);
    if (i >= arr->n)
        return ia__error(IA_ERR_INVALID, "%s: byte %zu: element %" PRIu64 " of an array of %" PRIu64,
                         arr->g->path, arr->offset, i, arr->n);
    if (fixed_size(arr->elem)) {
        struct field a = {NULL, "array", 0}, f = {&a, NULL, i};
        return decode(arr->g, arr->elem, arr->offset + 12 + (size_t)i * type_min_bytes[arr->elem],
                      arr->depth + 1, &f, out);
    }
    ia_gguf_iter it = ia__gguf_iter(arr);
    for (uint64_t k = 0; k <= i; k++)
        if (!ia__gguf_next(&it, out))
            return ia__error(IA_ERR_FORMAT, "%s: byte %zu: element %" PRIu64 " unreadable", arr->g->path,
                             arr->offset, k);
    return IA_OK;
}

/* The typed reads, for a value described by `what` in messages. */
static ia_status want_type(const ia_gguf_value *v, const char *what, ia_gguf_type t)
{
    if (v->type == t)
        return IA_OK;
    return ia__error(IA_ERR_FORMAT, "%s: byte %zu: %s: is %s, wanted %s", v->g->path, v->offset, what,
                     type_names[v->type], type_names[t]);
}

static ia_status read_str(const ia_gguf_value *v, const char *what, const char **s, size_t *len)
{
    ia_status rc = want_type(v, what, IA_GGUF_STRING);
    if (rc == IA_OK) {
        *s = (const char *)v->data;
        *len = (size_t)v->n;
    }
    return rc;
}

/* Any integer: *neg and its magnitude-correct value in *s (negative) or
 * *u (non-negative). */
static ia_status read_integer(const ia_gguf_value *v, const char *what, bool *neg, int64_t *s, uint64_t *u)
{
    const uint8_t *p = v->data;
    int64_t sv = 0;
    bool is_signed = true;
    switch (v->type) {
    case IA_GGUF_U8: *u = p[0]; is_signed = false; break;
    case IA_GGUF_U16: *u = (uint64_t)(p[0] | p[1] << 8); is_signed = false; break;
    case IA_GGUF_U32: *u = rd32(p); is_signed = false; break;
    case IA_GGUF_U64: *u = rd64(p); is_signed = false; break;
    case IA_GGUF_I8: sv = (int8_t)p[0]; break;
    case IA_GGUF_I16: sv = (int16_t)(uint16_t)(p[0] | p[1] << 8); break;
    case IA_GGUF_I32: sv = (int32_t)rd32(p); break;
    case IA_GGUF_I64: sv = (int64_t)rd64(p); break;
    default:
        return ia__error(IA_ERR_FORMAT, "%s: byte %zu: %s: is %s, wanted an integer", v->g->path, v->offset, what,
                         type_names[v->type]);
    }
    *neg = is_signed && sv < 0;
    if (is_signed) {
        *s = sv;
        if (sv >= 0)
            *u = (uint64_t)sv;
    }
    return IA_OK;
}

static ia_status read_int(const ia_gguf_value *v, const char *what, int64_t min, int64_t max, int64_t *out)
{
    bool neg = false;
    int64_t s = 0;
    uint64_t u = 0;
    ia_status rc = read_integer(v, what, &neg, &s, &u);
    if (rc != IA_OK)
        return rc;
    if (neg ? (s < min || s > max) : (u > (uint64_t)INT64_MAX || (int64_t)u > max || (int64_t)u < min)) {
        char val[32];
        if (neg)
            snprintf(val, sizeof val, "%" PRId64, s);
        else
            snprintf(val, sizeof val, "%" PRIu64, u);
        return ia__error(IA_ERR_FORMAT, "%s: byte %zu: %s: %s %s is outside [%" PRId64 ", %" PRId64 "]",
                         v->g->path, v->offset, what, type_names[v->type], val, min, max);
    }
    *out = neg ? s : (int64_t)u;
    return IA_OK;
}

static ia_status read_uint(const ia_gguf_value *v, const char *what, uint64_t max, uint64_t *out)
{
    bool neg = false;
    int64_t s = 0;
    uint64_t u = 0;
    ia_status rc = read_integer(v, what, &neg, &s, &u);
    if (rc != IA_OK)
        return rc;
    if (neg || u > max) {
        char val[32];
        if (neg)
            snprintf(val, sizeof val, "%" PRId64, s);
        else
            snprintf(val, sizeof val, "%" PRIu64, u);
        return ia__error(IA_ERR_FORMAT, "%s: byte %zu: %s: %s %s is outside [0, %" PRIu64 "]", v->g->path,
                         v->offset, what, type_names[v->type], val, max);
    }
    *out = u;
    return IA_OK;
}

static ia_status read_float(const ia_gguf_value *v, const char *what, double *out)
{
    if (v->type == IA_GGUF_F32) {
        uint32_t b = rd32(v->data);
        float f;
        memcpy(&f, &b, 4);
        *out = f;
        return IA_OK;
    }
    if (v->type == IA_GGUF_F64) {
        uint64_t b = rd64(v->data);
        memcpy(out, &b, 8);
        return IA_OK;
    }
    return ia__error(IA_ERR_FORMAT, "%s: byte %zu: %s: is %s, wanted f32 or f64", v->g->path, v->offset, what,
                     type_names[v->type]);
}

static ia_status read_bool(const ia_gguf_value *v, const char *what, bool *out)
{
    ia_status rc = want_type(v, what, IA_GGUF_BOOL);
    if (rc == IA_OK)
        *out = v->data[0] != 0;
    return rc;
}

ia_status ia__gguf_value_str(const ia_gguf_value *v, const char **s, size_t *len)
{
    return read_str(v, "value", s, len);
}

ia_status ia__gguf_value_int(const ia_gguf_value *v, int64_t min, int64_t max, int64_t *out)
{
    return read_int(v, "value", min, max, out);
}

ia_status ia__gguf_value_uint(const ia_gguf_value *v, uint64_t max, uint64_t *out)
{
    return read_uint(v, "value", max, out);
}

ia_status ia__gguf_value_float(const ia_gguf_value *v, double *out) { return read_float(v, "value", out); }

ia_status ia__gguf_value_bool(const ia_gguf_value *v, bool *out) { return read_bool(v, "value", out); }

/* ---- name index ------------------------------------------------------ */

/* The index reads each item's name as its first member. */
_Static_assert(offsetof(ia_gguf_kv, key) == 0, "kv name first");
_Static_assert(offsetof(ia_gguf_tensor_info, name) == 0, "tensor name first");
#define NAME_AT(items, stride, i) (*(const char *const *)((const char *)(items) + (i) * (stride)))

/* Index n items whose name is the first member (a const char *) of each
 * item, `stride` bytes apart. A name already present: *dup is set to the
 * two positions and IA_ERR_FORMAT returned (the caller words it). */
static ia_status index_build(struct name_index *ix, const void *items, size_t n, size_t stride, size_t dup[2])
{
    size_t cap = 8;
    while (cap < 2 * n)
        cap *= 2;
    if (!(ix->slots = ia__calloc(cap, sizeof *ix->slots)))
        return ia__error(IA_ERR_NOMEM, "out of memory");
    ix->cap = cap;
    for (size_t i = 0; i < n; i++) {
        const char *name = NAME_AT(items, stride, i);
        for (size_t h = (size_t)ia__hash(name, strlen(name)) & (cap - 1);; h = (h + 1) & (cap - 1)) {
            if (!ix->slots[h]) {
                ix->slots[h] = i + 1;
                break;
            }
            if (!strcmp(NAME_AT(items, stride, ix->slots[h] - 1), name)) {
                dup[0] = ix->slots[h] - 1;
                dup[1] = i;
                return IA_ERR_FORMAT;
            }
        }
    }
    return IA_OK;
}

/* Position of `name`, or SIZE_MAX. */
static size_t index_find(const struct name_index *ix, const void *items, size_t stride, const char *name)
{
    if (!ix->cap || !name)
        return SIZE_MAX;
    for (size_t h = (size_t)ia__hash(name, strlen(name)) & (ix->cap - 1); ix->slots[h]; h = (h + 1) & (ix->cap - 1))
        if (!strcmp(NAME_AT(items, stride, ix->slots[h] - 1), name))
            return ix->slots[h] - 1;
    return SIZE_MAX;
}

/* ---- open ------------------------------------------------------------ */

/* A key or tensor name at pos: a non-empty-if-key string without NULs,
 * copied to *copy. */
static ia_status read_name(ia_gguf *g, size_t *pos, const struct field *f, bool is_key, char **copy)
{
    ia_gguf_value s;
    ia_status rc = decode(g, IA_GGUF_STRING, *pos, 0, f, &s);
    if (rc != IA_OK)
        return rc;
    if (is_key && s.n == 0)
        return BAD(g, *pos, f, "the key is empty");
    if (memchr(s.data, 0, (size_t)s.n))
        return BAD(g, *pos, f, "holds a NUL byte");
    if (!(*copy = ia__strndup((const char *)s.data, (size_t)s.n)))
        return ia__error(IA_ERR_NOMEM, "%s: out of memory", g->path);
    *pos += s.size;
    return IA_OK;
}

static ia_status read_header(ia_gguf *g, uint64_t *n_tensors, uint64_t *n_kvs)
{
    const uint8_t *p = g->base;
    const struct field magic = {NULL, "magic", 0}, version = {NULL, "version", 0};
    if (g->size < 4)
        return BAD(g, 0, &magic, "the file has %zu bytes, not even the 4-byte magic \"GGUF\"", g->size);
    if (memcmp(p, "GGUF", 4)) {
        char got[32];
        quote(got, sizeof got, (const char *)p, 4);
        return BAD(g, 0, &magic, "'%s' is not \"GGUF\": not a GGUF file", got);
    }
    if (g->size < 8)
        return BAD(g, 4, &version, "needs 4 bytes, %zu left (truncated?)", g->size - 4);
    g->version = rd32(p + 4);
    if (g->version == 0)
        return BAD(g, 4, &version, "version 0 does not exist");
    if ((g->version & 0xffff) == 0)
        return fail(IA_ERR_UNSUPPORTED, g, 4, &version,
                    "0x%08" PRIx32 " reads as a big-endian file (version %" PRIu32 "); only little-endian GGUF is read",
                    g->version, __builtin_bswap32(g->version));
    if (g->version == 1)
        return fail(IA_ERR_UNSUPPORTED, g, 4, &version,
                    "GGUF version 1 (32-bit lengths) is not read; convert the file with a current llama.cpp");
    if (g->version != 2 && g->version != 3)
        return fail(IA_ERR_UNSUPPORTED, g, 4, &version, "GGUF version %" PRIu32 "; this reader reads versions 2 and 3",
                    g->version);
    const struct field nt = {NULL, "tensor count", 0}, nk = {NULL, "key/value count", 0};
    if (g->size < 16)
        return BAD(g, 8, &nt, "needs 8 bytes, %zu left (truncated?)", g->size - 8);
    if (g->size < GGUF_HEADER_BYTES)
        return BAD(g, 16, &nk, "needs 8 bytes, %zu left (truncated?)", g->size - 16);
    *n_tensors = rd64(p + 8);
    *n_kvs = rd64(p + 16);
    size_t left = g->size - GGUF_HEADER_BYTES;
    if (*n_kvs > left / MIN_KV_BYTES)
        return BAD(g, 16, &nk, "%" PRIu64 " key/values need at least %d bytes each, %zu bytes follow the header",
                   *n_kvs, MIN_KV_BYTES, left);
    if (*n_tensors > left / MIN_TENSOR_INFO_BYTES)
        return BAD(g, 8, &nt, "%" PRIu64 " tensor infos need at least %d bytes each, %zu bytes follow the header",
                   *n_tensors, MIN_TENSOR_INFO_BYTES, left);
    return IA_OK;
}

static ia_status read_kvs(ia_gguf *g, size_t *pos, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        size_t start = *pos;
        char label[160];
        snprintf(label, sizeof label, "key %" PRIu64, i);
        struct field f = {NULL, label, 0};
        ia_gguf_kv *kvs = ia__grow(g->kvs, g->n_kvs, &g->cap_kvs, sizeof *kvs, 16);
        if (!kvs)
            return ia__error(IA_ERR_NOMEM, "%s: out of memory", g->path);
        g->kvs = kvs;
        ia_gguf_kv *kv = &kvs[g->n_kvs];
        *kv = (ia_gguf_kv){.offset = start};
        char *key = NULL;
        ia_status rc = read_name(g, pos, &f, true, &key);
        if (rc != IA_OK)
            return rc;
        kv->key = key;
        g->n_kvs++; /* owns key from here */
        char q[100];
        quote(q, sizeof q, key, strlen(key));
        snprintf(label, sizeof label, "key %" PRIu64 " '%s'", i, q);
        if (g->size - *pos < 4)
            return BAD(g, *pos, &f, "value type: needs 4 bytes, %zu left (truncated?)", g->size - *pos);
        uint32_t t = rd32(g->base + *pos);
        if (t >= IA_GGUF_TYPE_COUNT)
            return BAD(g, *pos, &f, "value type %" PRIu32 " is not a GGUF value type", t);
        *pos += 4;
        if ((rc = decode(g, (ia_gguf_type)t, *pos, 0, &f, &kv->value)) != IA_OK)
            return rc;
        *pos += kv->value.size;
    }
    size_t dup[2] = {0, 0};
    ia_status rc = index_build(&g->kv_index, g->kvs, g->n_kvs, sizeof *g->kvs, dup);
    if (rc == IA_ERR_FORMAT) {
        const ia_gguf_kv *a = &g->kvs[dup[0]], *b = &g->kvs[dup[1]];
        char q[100];
        quote(q, sizeof q, b->key, strlen(b->key));
        return ia__error(IA_ERR_FORMAT, "%s: byte %zu: key %zu '%s': duplicate of key %zu at byte %zu", g->path,
                         b->offset, dup[1], q, dup[0], a->offset);
    }
    return rc;
}

static ia_status read_alignment(ia_gguf *g)
{
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const ia_gguf_kv *kv = ia__gguf_find(g, "general.alignment");
    if (!kv)
        return IA_OK;
    const struct field f = {NULL, "key 'general.alignment'", 0};
    if (kv->value.type != IA_GGUF_U32)
        return BAD(g, kv->offset, &f, "is %s; it must be u32", type_names[kv->value.type]);
    uint32_t a = rd32(kv->value.data);
    if (a == 0 || (a & (a - 1)))
        return BAD(g, kv->value.offset, &f, "%" PRIu32 " is not a power of two", a);
    g->alignment = a;
    return IA_OK;
}

static ia_status read_tensor_info(ia_gguf *g, size_t *pos, uint64_t i)
{
    size_t start = *pos;
    char label[160];
    snprintf(label, sizeof label, "tensor %" PRIu64, i);
    struct field f = {NULL, label, 0};
    ia_gguf_tensor_info *ts = ia__grow(g->tensors, g->n_tensors, &g->cap_tensors, sizeof *ts, 64);
    if (!ts)
        return ia__error(IA_ERR_NOMEM, "%s: out of memory", g->path);
    g->tensors = ts;
    ia_gguf_tensor_info *t = &ts[g->n_tensors];
    *t = (ia_gguf_tensor_info){.info_offset = start, .ne = {1, 1, 1, 1}};
    char *name = NULL;
    ia_status rc = read_name(g, pos, &f, false, &name);
    if (rc != IA_OK)
        return rc;
    t->name = name;
    g->n_tensors++; /* owns name from here */
    char q[100];
    quote(q, sizeof q, name, strlen(name));
    snprintf(label, sizeof label, "tensor %" PRIu64 " '%s'", i, q);

    const uint8_t *p = g->base;
    if (g->size - *pos < 4)
        return BAD(g, *pos, &f, "n_dims: needs 4 bytes, %zu left (truncated?)", g->size - *pos);
    uint32_t nd = rd32(p + *pos);
    if (nd > IA_TENSOR_DIMS)
        return BAD(g, *pos, &f, "n_dims %" PRIu32 " is more than %d", nd, IA_TENSOR_DIMS);
    *pos += 4;
    t->n_dims = (int)nd;
    if (g->size - *pos < 8 * (size_t)nd)
        return BAD(g, *pos, &f, "%" PRIu32 " dims need %zu bytes, %zu left (truncated?)", nd, 8 * (size_t)nd,
                   g->size - *pos);
    /* The element count, and the count with zero dims taken as one (so that
     * the strides of a view cannot overflow even for an empty tensor). */
    uint64_t nel = 1, span = 1;
    for (uint32_t d = 0; d < nd; d++, *pos += 8) {
        uint64_t ne = rd64(p + *pos);
        if (ne > (uint64_t)INT64_MAX)
            return BAD(g, *pos, &f, "ne[%" PRIu32 "] = %" PRIu64 " is negative as ggml's int64", d, ne);
        if (ne > 1 && span > (uint64_t)INT64_MAX / ne)
            return BAD(g, *pos, &f, "dims overflow: ne[0..%" PRIu32 "] multiply past 2^63 - 1", d);
        span *= ne ? ne : 1;
        nel *= ne;
        t->ne[d] = (int64_t)ne;
    }
    if (g->size - *pos < 4)
        return BAD(g, *pos, &f, "type: needs 4 bytes, %zu left (truncated?)", g->size - *pos);
    t->ggml_type = rd32(p + *pos);
    const struct ggml_type_info *ti = ggml_type(t->ggml_type);
    if (!ti)
        return BAD(g, *pos, &f, "ggml type %" PRIu32 " is not one ggml defines", t->ggml_type);
    t->type_name = ti->name;
    t->dtype = ti->dtype;
    if (t->ne[0] % ti->block)
        return BAD(g, *pos, &f, "ne[0] = %" PRId64 " is not a multiple of %s's block of %" PRIu32, t->ne[0], ti->name,
                   ti->block);
    /* span / block * bytes fits size_t, hence every stride of a view does */
    uint64_t span_blocks = span / ti->block + (span % ti->block != 0);
    if (span_blocks > SIZE_MAX / ti->bytes)
        return BAD(g, *pos, &f, "%" PRIu64 " elements of %s overflow a size in bytes", span, ti->name);
    t->nbytes = (size_t)(nel / ti->block) * ti->bytes;
    *pos += 4;
    if (g->size - *pos < 8)
        return BAD(g, *pos, &f, "offset: needs 8 bytes, %zu left (truncated?)", g->size - *pos);
    t->offset = rd64(p + *pos);
    if (t->offset % g->alignment)
        return BAD(g, *pos, &f, "offset %" PRIu64 " is not a multiple of the alignment %" PRIu32, t->offset,
                   g->alignment);
    *pos += 8;
    return IA_OK;
}

static ia_status read_tensors(ia_gguf *g, size_t *pos, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        ia_status rc = read_tensor_info(g, pos, i);
        if (rc != IA_OK)
            return rc;
    }
    uint64_t pad = (g->alignment - *pos % g->alignment) % g->alignment;
    const struct field data = {NULL, "data section", 0};
    if (n && pad > g->size - *pos)
        return BAD(g, *pos, &data, "starts at byte %" PRIu64 " (padded to %" PRIu32 "), past the end of the %zu-byte file",
                   (uint64_t)*pos + pad, g->alignment, g->size);
    g->data_offset = *pos + (size_t)pad;
    for (size_t i = 0; i < g->n_tensors; i++) {
        ia_gguf_tensor_info *t = &g->tensors[i];
        size_t avail = g->size - g->data_offset;
        if (t->offset > avail || t->nbytes > avail - (size_t)t->offset) {
            char label[160], q[100];
            quote(q, sizeof q, t->name, strlen(t->name));
            snprintf(label, sizeof label, "tensor %zu '%s' data", i, q);
            const struct field f = {NULL, label, 0};
            return BAD(g, t->info_offset, &f,
                       "%zu bytes at offset %" PRIu64 " of the data section (byte %zu) run past the end of the "
                       "%zu-byte file (truncated?)",
                       t->nbytes, t->offset, g->data_offset, g->size);
        }
        t->file_offset = g->data_offset + (size_t)t->offset;
        t->data = g->base + t->file_offset;
    }
    size_t dup[2] = {0, 0};
    ia_status rc = index_build(&g->tensor_index, g->tensors, g->n_tensors, sizeof *g->tensors, dup);
    if (rc == IA_ERR_FORMAT) {
        const ia_gguf_tensor_info *a = &g->tensors[dup[0]], *b = &g->tensors[dup[1]];
        char q[100];
        quote(q, sizeof q, b->name, strlen(b->name));
        return ia__error(IA_ERR_FORMAT, "%s: byte %zu: tensor %zu '%s': duplicate of tensor %zu at byte %zu",
                         g->path, b->info_offset, dup[1], q, dup[0], a->info_offset);
    }
    return rc;
}

static ia_status map_file(ia_gguf *g)
{
    int fd = open(g->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ia__error(errno == ENOENT ? IA_ERR_NOT_FOUND : IA_ERR_IO, "%s: %s", g->path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return ia__error(IA_ERR_IO, "%s: %s", g->path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ia__error(IA_ERR_IO, "%s: not a regular file", g->path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return ia__error(IA_ERR_FORMAT, "%s: byte 0: magic: the file is empty, not GGUF", g->path);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return ia__error(IA_ERR_UNSUPPORTED, "%s: %lld bytes do not fit this address space", g->path,
                         (long long)sb.st_size);
    }
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED)
        return ia__error(IA_ERR_IO, "%s: mmap: %s", g->path, strerror(e));
    g->base = m;
    g->size = (size_t)sb.st_size;
    return IA_OK;
}

void ia__gguf_close(ia_gguf *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_kvs; i++)
        ia__free((char *)g->kvs[i].key);
    for (size_t i = 0; i < g->n_tensors; i++)
        ia__free((char *)g->tensors[i].name);
    ia__free(g->kvs);
    ia__free(g->tensors);
    ia__free(g->kv_index.slots);
    ia__free(g->tensor_index.slots);
    if (g->base)
        munmap((void *)g->base, g->size);
    ia__free(g->path);
    ia__free(g);
}

ia_status ia__gguf_open(const char *path, ia_gguf **out)
{
    ia_gguf *g = ia__calloc(1, sizeof *g);
    if (!g || !(g->path = ia__strdup(path))) {
        ia__free(g);
        return ia__error(IA_ERR_NOMEM, "%s: out of memory", path);
    }
    uint64_t n_tensors = 0, n_kvs = 0;
    size_t pos = GGUF_HEADER_BYTES;
    ia_status rc = map_file(g);
    if (rc == IA_OK)
        rc = read_header(g, &n_tensors, &n_kvs);
    if (rc == IA_OK)
        rc = read_kvs(g, &pos, n_kvs);
    if (rc == IA_OK)
        rc = read_alignment(g);
    if (rc == IA_OK)
        rc = read_tensors(g, &pos, n_tensors);
    if (rc != IA_OK) {
        ia__gguf_close(g);
        return rc;
    }
    ia__log(IA_LOG_DEBUG, "gguf: %s: version %" PRIu32 ", %zu keys, %zu tensors, data at byte %zu", path,
            g->version, g->n_kvs, g->n_tensors, g->data_offset);
    *out = g;
    return IA_OK;
}

/* ---- accessors ------------------------------------------------------- */

const char *ia__gguf_path(const ia_gguf *g) { return g->path; }
uint32_t ia__gguf_version(const ia_gguf *g) { return g->version; }
uint32_t ia__gguf_alignment(const ia_gguf *g) { return g->alignment; }
size_t ia__gguf_data_offset(const ia_gguf *g) { return g->data_offset; }
const uint8_t *ia__gguf_base(const ia_gguf *g) { return g->base; }
size_t ia__gguf_size(const ia_gguf *g) { return g->size; }

size_t ia__gguf_kv_count(const ia_gguf *g) { return g->n_kvs; }
const ia_gguf_kv *ia__gguf_kv_at(const ia_gguf *g, size_t i) { return &g->kvs[i]; }

const ia_gguf_kv *ia__gguf_find(const ia_gguf *g, const char *key)
{
    size_t i = index_find(&g->kv_index, g->kvs, sizeof *g->kvs, key);
    return i == SIZE_MAX ? NULL : &g->kvs[i];
}

/* The key's value, and its description for messages in what[]. */
static ia_status find_kv(const ia_gguf *g, const char *key, const ia_gguf_value **v, char *what, size_t cap)
{
    const ia_gguf_kv *kv = ia__gguf_find(g, key);
    char q[100];
    quote(q, sizeof q, key ? key : "(null)", key ? strlen(key) : 6);
    if (!kv)
        return ia__error(IA_ERR_NOT_FOUND, "%s: no key '%s'", g->path, q);
    snprintf(what, cap, "key '%s'", q);
    *v = &kv->value;
    return IA_OK;
}

ia_status ia__gguf_get(const ia_gguf *g, const char *key, ia_gguf_value *out)
{
    const ia_gguf_value *v;
    char what[128];
    ia_status rc = find_kv(g, key, &v, what, sizeof what);
    if (rc == IA_OK)
        *out = *v;
    return rc;
}

ia_status ia__gguf_get_str(const ia_gguf *g, const char *key, const char **s, size_t *len)
{
    const ia_gguf_value *v;
    char what[128];
    ia_status rc = find_kv(g, key, &v, what, sizeof what);
    return rc != IA_OK ? rc : read_str(v, what, s, len);
}

ia_status ia__gguf_get_int(const ia_gguf *g, const char *key, int64_t min, int64_t max, int64_t *out)
{
    const ia_gguf_value *v;
    char what[128];
    ia_status rc = find_kv(g, key, &v, what, sizeof what);
    return rc != IA_OK ? rc : read_int(v, what, min, max, out);
}

ia_status ia__gguf_get_uint(const ia_gguf *g, const char *key, uint64_t max, uint64_t *out)
{
    const ia_gguf_value *v;
    char what[128];
    ia_status rc = find_kv(g, key, &v, what, sizeof what);
    return rc != IA_OK ? rc : read_uint(v, what, max, out);
}

ia_status ia__gguf_get_float(const ia_gguf *g, const char *key, double *out)
{
    const ia_gguf_value *v;
    char what[128];
    ia_status rc = find_kv(g, key, &v, what, sizeof what);
    return rc != IA_OK ? rc : read_float(v, what, out);
}

ia_status ia__gguf_get_bool(const ia_gguf *g, const char *key, bool *out)
{
    const ia_gguf_value *v;
    char what[128];
    ia_status rc = find_kv(g, key, &v, what, sizeof what);
    return rc != IA_OK ? rc : read_bool(v, what, out);
}

ia_status ia__gguf_get_array(const ia_gguf *g, const char *key, ia_gguf_type elem, ia_gguf_value *out)
{
    const ia_gguf_value *v;
    char what[128];
    ia_status rc = find_kv(g, key, &v, what, sizeof what);
    if (rc == IA_OK)
        rc = want_type(v, what, IA_GGUF_ARRAY);
    if (rc == IA_OK && elem != IA_GGUF_TYPE_COUNT && v->elem != elem)
        rc = ia__error(IA_ERR_FORMAT, "%s: byte %zu: %s: is an array of %s, wanted an array of %s", g->path,
                       v->offset, what, type_names[v->elem], ia__gguf_type_name(elem));
    if (rc == IA_OK)
        *out = *v;
    return rc;
}

size_t ia__gguf_tensor_count(const ia_gguf *g) { return g->n_tensors; }
const ia_gguf_tensor_info *ia__gguf_tensor_at(const ia_gguf *g, size_t i) { return &g->tensors[i]; }

const ia_gguf_tensor_info *ia__gguf_tensor_find(const ia_gguf *g, const char *name)
{
    size_t i = index_find(&g->tensor_index, g->tensors, sizeof *g->tensors, name);
    return i == SIZE_MAX ? NULL : &g->tensors[i];
}

ia_status ia__gguf_tensor(const ia_gguf *g, const ia_gguf_tensor_info *t, ia_tensor *out)
{
    char q[100];
    quote(q, sizeof q, t->name, strlen(t->name));
    if (t->dtype == IA_DTYPE_OTHER)
        return ia__error(IA_ERR_UNSUPPORTED,
                         "%s: tensor '%s': ggml type %s (%" PRIu32 ") is not supported (we compute with f32, f16, "
                         "bf16, q8_0, q4_0, q4_1, q4_K, q5_K, q6_K, i8, i32, i64)",
                         g->path, q, t->type_name, t->ggml_type);
    const ia_dtype_traits *tr = ia__dtype(t->dtype);
    size_t need = tr->quantized ? 2 : tr->block_bytes;
    if ((uintptr_t)t->data % need)
        return ia__error(IA_ERR_UNSUPPORTED,
                         "%s: tensor '%s': its %s data at byte %zu is not %zu-byte aligned (the file's alignment is "
                         "%" PRIu32 "), as a view of it must be",
                         g->path, q, t->type_name, t->file_offset, need, g->alignment);
    *out = ia__tensor(t->dtype, t->ne[0], t->ne[1], t->ne[2], t->ne[3], (void *)t->data);
    return IA_OK;
}

ia_status ia__gguf_get_tensor(const ia_gguf *g, const char *name, ia_tensor *out)
{
    const ia_gguf_tensor_info *t = ia__gguf_tensor_find(g, name);
    if (!t) {
        char q[100];
        quote(q, sizeof q, name ? name : "(null)", name ? strlen(name) : 6);
        return ia__error(IA_ERR_NOT_FOUND, "%s: no tensor '%s'", g->path, q);
    }
    return ia__gguf_tensor(g, t, out);
}
