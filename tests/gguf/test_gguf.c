/*
 * The GGUF reader (src/model/gguf.c) on files built byte by byte here: a
 * small valid file with every value type, nested and empty arrays, a
 * string holding a NUL, a scalar and an empty tensor, read back through
 * every accessor; the same file cut at every byte (each cut must fail with
 * IA_ERR_FORMAT naming the file and a byte offset, never crash: the suite
 * also runs this under ASan+UBSan); then one malformed file per check the
 * reader makes (bad magic and versions, huge counts, lengths and tensor
 * data past the end, misaligned offsets, n_dims > 4, overflowing dims,
 * duplicate names, bad bools, nesting too deep...), unsupported and
 * misaligned tensors that still open, and failed allocations.
 */
#include <float.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/gguf-impl.h"
#include "test.h"

static char dir[64], path[128];

struct buf {
    uint8_t *p;
    size_t n, cap;
};

static void put(struct buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void u8_(struct buf *b, uint8_t v) { put(b, &v, 1); }
static void u16_(struct buf *b, uint16_t v) { uint8_t x[2] = {v & 255, v >> 8}; put(b, x, 2); }
static void u32_(struct buf *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        u8_(b, (uint8_t)(v >> 8 * i));
}
static void u64_(struct buf *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        u8_(b, (uint8_t)(v >> 8 * i));
}
static void strn_(struct buf *b, const char *s, size_t n)
{
    u64_(b, n);
    put(b, s, n);
}
static void str_(struct buf *b, const char *s) { strn_(b, s, strlen(s)); }
static void header(struct buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    put(b, "GGUF", 4);
    u32_(b, version);
    u64_(b, n_tensors);
    u64_(b, n_kv);
}
static void key(struct buf *b, const char *k, uint32_t type)
{
    str_(b, k);
    u32_(b, type);
}
static void arr_(struct buf *b, uint32_t elem, uint64_t n)
{
    u32_(b, elem);
    u64_(b, n);
}
static void tinfo(struct buf *b, const char *name, uint32_t nd, const uint64_t *dims, uint32_t type, uint64_t off)
{
    str_(b, name);
    u32_(b, nd);
    for (uint32_t i = 0; i < nd; i++)
        u64_(b, dims[i]);
    u32_(b, type);
    u64_(b, off);
}
static void pad_to(struct buf *b, size_t align)
{
    while (b->n % align)
        u8_(b, 0);
}
static void fill(struct buf *b, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        u8_(b, (uint8_t)(seed + i * 7));
}

static void write_file(const struct buf *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b->p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static ia_status open_bytes(const struct buf *b, size_t n, ia_gguf **g)
{
    write_file(b, n);
    *g = NULL;
    return ia__gguf_open(path, g);
}

/* The file must fail with `want`, the message naming the file, a byte
 * offset (for format errors) and `needle`. */
static void expect_fail(const char *name, const struct buf *b, ia_status want, const char *needle)
{
    ia_gguf *g;
    ia_status rc = open_bytes(b, b->n, &g);
    CHECK_MSG(rc == want, "%s: status %d (%s), wanted %d", name, rc, ia_errmsg(), want);
    if (rc == IA_OK) {
        ia__gguf_close(g);
        return;
    }
    const char *msg = ia_errmsg();
    CHECK_MSG(strstr(msg, path) && strstr(msg, needle) && (want != IA_ERR_FORMAT || strstr(msg, ": byte ")),
              "%s: message \"%s\" lacks the path, a byte offset or \"%s\"", name, msg, needle);
}

/* ------------------------------------------------------- the valid file */

enum { N_KV = 22, N_TENSORS = 4 };
static const char str_with_nul[] = "h\xc3\xa9llo\0x"; /* 8 bytes, UTF-8, a NUL inside */

/* Every value type, nested and empty arrays; tensors f32 (3, 2), an empty
 * f16 (0, 7), q8_0 (64) and an f32 scalar (n_dims 0) whose data ends the
 * file exactly, so that any cut loses some of it. */
static void build_valid(struct buf *b, uint32_t version)
{
    header(b, version, N_TENSORS, N_KV);
    key(b, "general.architecture", IA_GGUF_STRING), str_(b, "llama");
    key(b, "t.u8", IA_GGUF_U8), u8_(b, 255);
    key(b, "t.i8", IA_GGUF_I8), u8_(b, 0x80);
    key(b, "t.u16", IA_GGUF_U16), u16_(b, 65535);
    key(b, "t.i16", IA_GGUF_I16), u16_(b, 0x8000);
    key(b, "t.u32", IA_GGUF_U32), u32_(b, 4000000000u);
    key(b, "t.i32", IA_GGUF_I32), u32_(b, (uint32_t)-7);
    float f = 1.5f;
    uint32_t fb;
    memcpy(&fb, &f, 4);
    key(b, "t.f32", IA_GGUF_F32), u32_(b, fb);
    key(b, "t.bool", IA_GGUF_BOOL), u8_(b, 1);
    key(b, "t.u64", IA_GGUF_U64), u64_(b, UINT64_MAX);
    key(b, "t.i64", IA_GGUF_I64), u64_(b, (uint64_t)INT64_MIN);
    double d = -2.25;
    uint64_t db;
    memcpy(&db, &d, 8);
    key(b, "t.f64", IA_GGUF_F64), u64_(b, db);
    key(b, "t.str", IA_GGUF_STRING), strn_(b, str_with_nul, 8);
    key(b, "t.empty_str", IA_GGUF_STRING), str_(b, "");
    key(b, "t.arr_u32", IA_GGUF_ARRAY), arr_(b, IA_GGUF_U32, 3), u32_(b, 1), u32_(b, 2), u32_(b, 3);
    key(b, "t.arr_str", IA_GGUF_ARRAY), arr_(b, IA_GGUF_STRING, 3), str_(b, "a"), str_(b, ""), str_(b, "ccc");
    /* [[7], ["x"], [], [[-1]]]: inner arrays of differing element types */
    key(b, "t.nested", IA_GGUF_ARRAY), arr_(b, IA_GGUF_ARRAY, 4);
    arr_(b, IA_GGUF_U8, 1), u8_(b, 7);
    arr_(b, IA_GGUF_STRING, 1), str_(b, "x");
    arr_(b, IA_GGUF_F32, 0);
    arr_(b, IA_GGUF_ARRAY, 1), arr_(b, IA_GGUF_I16, 1), u16_(b, 0xffff);
    key(b, "t.empty_arr", IA_GGUF_ARRAY), arr_(b, IA_GGUF_I64, 0);
    key(b, "t.arr_bool", IA_GGUF_ARRAY), arr_(b, IA_GGUF_BOOL, 2), u8_(b, 1), u8_(b, 0);
    key(b, "t.arr_f64", IA_GGUF_ARRAY), arr_(b, IA_GGUF_F64, 1), u64_(b, db);
    key(b, "t.unicode.ключ", IA_GGUF_I32), u32_(b, 42);
    key(b, "general.alignment", IA_GGUF_U32), u32_(b, 32);

    tinfo(b, "w", 2, (const uint64_t[]){3, 2}, 0, 0);
    tinfo(b, "empty", 2, (const uint64_t[]){0, 7}, 1, 32);
    tinfo(b, "q", 1, (const uint64_t[]){64}, 8, 32);
    tinfo(b, "scalar", 0, NULL, 0, 128);
    pad_to(b, 32);
    size_t data = b->n;
    float w[6] = {1, 2, 3, 4, 5, 6};
    put(b, w, sizeof w);
    pad_to(b, 32);
    fill(b, 68, 3);
    while (b->n < data + 128)
        u8_(b, 0);
    f = -3.0f;
    put(b, &f, 4);
}

static void test_valid(void)
{
    struct buf b = {0};
    build_valid(&b, 3);
    ia_gguf *g;
    CHECK_OK(open_bytes(&b, b.n, &g));
    if (!g)
        return;
    CHECK(ia__gguf_version(g) == 3);
    CHECK(ia__gguf_alignment(g) == 32);
    CHECK(ia__gguf_kv_count(g) == N_KV);
    CHECK(ia__gguf_tensor_count(g) == N_TENSORS);
    CHECK(ia__gguf_size(g) == b.n);
    CHECK(!strcmp(ia__gguf_path(g), path));
    size_t data = ia__gguf_data_offset(g);
    CHECK(data % 32 == 0 && data + 132 == b.n);

    const char *s;
    size_t len;
    CHECK_OK(ia__gguf_get_str(g, "general.architecture", &s, &len));
    CHECK(len == 5 && !memcmp(s, "llama", 5));
    CHECK_OK(ia__gguf_get_str(g, "t.str", &s, &len));
    CHECK(len == 8 && !memcmp(s, str_with_nul, 8));
    CHECK_OK(ia__gguf_get_str(g, "t.empty_str", &s, &len));
    CHECK(len == 0);

    int64_t i;
    uint64_t u;
    CHECK_OK(ia__gguf_get_int(g, "t.u8", 0, 255, &i));
    CHECK(i == 255);
    CHECK(ia__gguf_get_int(g, "t.u8", 0, 254, &i) == IA_ERR_FORMAT);
    CHECK_STR_CONTAINS(ia_errmsg(), "outside [0, 254]");
    CHECK_STR_CONTAINS(ia_errmsg(), "key 't.u8'");
    CHECK_OK(ia__gguf_get_int(g, "t.i8", INT8_MIN, INT8_MAX, &i));
    CHECK(i == -128);
    CHECK(ia__gguf_get_uint(g, "t.i8", UINT64_MAX, &u) == IA_ERR_FORMAT);
    CHECK_OK(ia__gguf_get_int(g, "t.u16", 0, INT64_MAX, &i));
    CHECK(i == 65535);
    CHECK_OK(ia__gguf_get_int(g, "t.i16", INT64_MIN, INT64_MAX, &i));
    CHECK(i == -32768);
    CHECK_OK(ia__gguf_get_uint(g, "t.u32", UINT32_MAX, &u));
    CHECK(u == 4000000000u);
    CHECK(ia__gguf_get_int(g, "t.u32", INT32_MIN, INT32_MAX, &i) == IA_ERR_FORMAT);
    CHECK_OK(ia__gguf_get_int(g, "t.i32", -7, -7, &i));
    CHECK(i == -7);
    CHECK_OK(ia__gguf_get_uint(g, "t.u64", UINT64_MAX, &u));
    CHECK(u == UINT64_MAX);
    CHECK(ia__gguf_get_int(g, "t.u64", INT64_MIN, INT64_MAX, &i) == IA_ERR_FORMAT);
    CHECK_OK(ia__gguf_get_int(g, "t.i64", INT64_MIN, INT64_MAX, &i));
    CHECK(i == INT64_MIN);
    double d;
    CHECK_OK(ia__gguf_get_float(g, "t.f32", &d));
    CHECK(d == 1.5);
    CHECK_OK(ia__gguf_get_float(g, "t.f64", &d));
    CHECK(d == -2.25);
    CHECK(ia__gguf_get_float(g, "t.u8", &d) == IA_ERR_FORMAT);
    bool bo = false;
    CHECK_OK(ia__gguf_get_bool(g, "t.bool", &bo));
    CHECK(bo);
    CHECK(ia__gguf_get_bool(g, "t.u8", &bo) == IA_ERR_FORMAT);
    CHECK_STR_CONTAINS(ia_errmsg(), "is u8, wanted bool");
    CHECK(ia__gguf_get_str(g, "t.u32", &s, &len) == IA_ERR_FORMAT);
    CHECK(ia__gguf_get_str(g, "no.such.key", &s, &len) == IA_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(ia_errmsg(), "no key 'no.such.key'");
    CHECK_OK(ia__gguf_get_int(g, "t.unicode.ключ", 42, 42, &i));

    ia_gguf_value arr, e;
    CHECK_OK(ia__gguf_get_array(g, "t.arr_u32", IA_GGUF_U32, &arr));
    CHECK(arr.n == 3);
    CHECK_OK(ia__gguf_array_at(&arr, 2, &e));
    CHECK(ia__gguf_value_int(&e, 3, 3, &i) == IA_OK);
    CHECK(ia__gguf_array_at(&arr, 3, &e) == IA_ERR_INVALID);
    CHECK(ia__gguf_get_array(g, "t.arr_u32", IA_GGUF_I32, &arr) == IA_ERR_FORMAT);
    CHECK(ia__gguf_get_array(g, "t.u8", IA_GGUF_TYPE_COUNT, &arr) == IA_ERR_FORMAT);

    CHECK_OK(ia__gguf_get_array(g, "t.arr_str", IA_GGUF_STRING, &arr));
    const char *want_str[] = {"a", "", "ccc"};
    ia_gguf_iter it = ia__gguf_iter(&arr);
    uint64_t k = 0;
    while (ia__gguf_next(&it, &e)) {
        CHECK(ia__gguf_value_str(&e, &s, &len) == IA_OK && len == strlen(want_str[k]) &&
              !memcmp(s, want_str[k], len));
        k++;
    }
    CHECK(k == 3);
    CHECK_OK(ia__gguf_array_at(&arr, 2, &e));
    CHECK(e.n == 3 && !memcmp(e.data, "ccc", 3));

    CHECK_OK(ia__gguf_get_array(g, "t.nested", IA_GGUF_ARRAY, &arr));
    CHECK(arr.n == 4);
    ia_gguf_value in, in2;
    CHECK_OK(ia__gguf_array_at(&arr, 0, &in));
    CHECK(in.type == IA_GGUF_ARRAY && in.elem == IA_GGUF_U8 && in.n == 1 && in.depth == 1);
    CHECK_OK(ia__gguf_array_at(&arr, 1, &in));
    CHECK(in.elem == IA_GGUF_STRING && in.n == 1);
    CHECK_OK(ia__gguf_array_at(&arr, 2, &in));
    CHECK(in.elem == IA_GGUF_F32 && in.n == 0 && in.size == 12);
    CHECK_OK(ia__gguf_array_at(&arr, 3, &in));
    CHECK(in.elem == IA_GGUF_ARRAY && in.n == 1);
    CHECK_OK(ia__gguf_array_at(&in, 0, &in2));
    CHECK(in2.elem == IA_GGUF_I16 && in2.depth == 2);
    CHECK_OK(ia__gguf_array_at(&in2, 0, &e));
    CHECK(ia__gguf_value_int(&e, -1, -1, &i) == IA_OK);
    CHECK(arr.size == 12 + (12 + 1) + (12 + 9) + 12 + (12 + 12 + 2));

    CHECK_OK(ia__gguf_get_array(g, "t.empty_arr", IA_GGUF_I64, &arr));
    it = ia__gguf_iter(&arr);
    CHECK(arr.n == 0 && !ia__gguf_next(&it, &e));
    CHECK_OK(ia__gguf_get_array(g, "t.arr_bool", IA_GGUF_BOOL, &arr));
    CHECK(ia__gguf_array_at(&arr, 1, &e) == IA_OK && ia__gguf_value_bool(&e, &bo) == IA_OK && !bo);
    /* an iterator over a non-array ends at once */
    ia_gguf_value sc;
    CHECK_OK(ia__gguf_get(g, "t.u8", &sc));
    it = ia__gguf_iter(&sc);
    CHECK(!ia__gguf_next(&it, &e));

    /* keys in file order, found by name */
    CHECK(!strcmp(ia__gguf_kv_at(g, 0)->key, "general.architecture"));
    CHECK(ia__gguf_kv_at(g, 0)->offset == 24);
    for (size_t j = 0; j < ia__gguf_kv_count(g); j++)
        CHECK(ia__gguf_find(g, ia__gguf_kv_at(g, j)->key) == ia__gguf_kv_at(g, j));
    CHECK(ia__gguf_find(g, "t.") == NULL);

    /* tensors */
    const ia_gguf_tensor_info *t = ia__gguf_tensor_find(g, "w");
    CHECK(t && t == ia__gguf_tensor_at(g, 0));
    if (t) {
        CHECK(t->n_dims == 2 && t->ne[0] == 3 && t->ne[1] == 2 && t->ne[2] == 1 && t->ne[3] == 1);
        CHECK(t->dtype == IA_DTYPE_F32 && t->ggml_type == 0 && !strcmp(t->type_name, "f32"));
        CHECK(t->nbytes == 24 && t->file_offset == data && t->data == ia__gguf_base(g) + data);
    }
    ia_tensor v;
    CHECK_OK(ia__gguf_get_tensor(g, "w", &v));
    CHECK(v.dtype == IA_DTYPE_F32 && v.ne[0] == 3 && v.ne[1] == 2 && v.nb[0] == 4 && v.nb[1] == 12 &&
          v.nb[2] == 24 && v.nb[3] == 24);
    CHECK(((const float *)v.data)[5] == 6.0f);
    CHECK_OK(ia__gguf_get_tensor(g, "empty", &v));
    CHECK(v.dtype == IA_DTYPE_F16 && v.ne[0] == 0 && v.ne[1] == 7 && ia__tensor_nelements(&v) == 0);
    CHECK(ia__gguf_tensor_find(g, "empty")->nbytes == 0);
    CHECK_OK(ia__gguf_get_tensor(g, "q", &v));
    CHECK(v.dtype == IA_DTYPE_Q8_0 && v.ne[0] == 64 && v.nb[0] == 34 && v.nb[1] == 68);
    CHECK(ia__gguf_tensor_find(g, "q")->nbytes == 68);
    CHECK_OK(ia__gguf_get_tensor(g, "scalar", &v));
    CHECK(v.ne[0] == 1 && v.ne[1] == 1 && ((const float *)v.data)[0] == -3.0f);
    CHECK(ia__gguf_tensor_find(g, "scalar")->n_dims == 0);
    CHECK(ia__gguf_get_tensor(g, "nope", &v) == IA_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(ia_errmsg(), "no tensor 'nope'");
    ia__gguf_close(g);

    /* version 2 has the same layout */
    b.n = 0;
    build_valid(&b, 2);
    CHECK_OK(open_bytes(&b, b.n, &g));
    if (g) {
        CHECK(ia__gguf_version(g) == 2 && ia__gguf_tensor_count(g) == N_TENSORS);
        ia__gguf_close(g);
    }
    ia__gguf_close(NULL);
    free(b.p);
}

/* Cut at every byte: IA_ERR_FORMAT each time, naming file and offset. */
static void test_truncated(void)
{
    struct buf b = {0};
    build_valid(&b, 3);
    int bad = 0;
    for (size_t n = 0; n < b.n; n++) {
        ia_gguf *g;
        ia_status rc = open_bytes(&b, n, &g);
        const char *msg = ia_errmsg();
        if (rc != IA_ERR_FORMAT || !strstr(msg, path) || !strstr(msg, "byte ")) {
            if (bad++ < 5)
                fprintf(stderr, "cut at %zu of %zu: status %d: %s\n", n, b.n, rc, msg);
            if (rc == IA_OK)
                ia__gguf_close(g);
        }
    }
    CHECK_MSG(bad == 0, "%d of %zu cuts did not fail cleanly", bad, b.n);
    free(b.p);
}

/* Allocation failing at each point of an open: IA_ERR_NOMEM, no leak. */
static void test_alloc_failures(void)
{
    struct buf b = {0};
    build_valid(&b, 3);
    write_file(&b, b.n);
    int opened = 0;
    for (long k = 1; k < 1000 && !opened; k++) {
        ia_gguf *g = NULL;
        ia__alloc_fail_after(k);
        ia_status rc = ia__gguf_open(path, &g);
        bool failed_alloc = ia__alloc_fail_pending() == 0;
        ia__alloc_fail_after(0);
        if (rc == IA_OK) {
            CHECK_MSG(!failed_alloc, "allocation %ld failed, open succeeded", k);
            ia__gguf_close(g);
            opened = 1;
        } else {
            CHECK_MSG(rc == IA_ERR_NOMEM && failed_alloc, "allocation %ld: status %d (%s)", k, rc, ia_errmsg());
        }
    }
    CHECK(opened);
    free(b.p);
}

/* A one-tensor file: `name` of type `type` with dims, at offset `off`,
 * then `data_bytes` of data after padding to 32. */
static void one_tensor(struct buf *b, uint32_t nd, const uint64_t *dims, uint32_t type, uint64_t off,
                       size_t data_bytes)
{
    header(b, 3, 1, 0);
    tinfo(b, "t", nd, dims, type, off);
    pad_to(b, 32);
    fill(b, data_bytes, 1);
}

static void test_malformed(void)
{
    struct buf b = {0};
#define RESET() (b.n = 0)

    RESET(), build_valid(&b, 3), memcpy(b.p, "GGUG", 4);
    expect_fail("bad magic", &b, IA_ERR_FORMAT, "not a GGUF file");
    RESET(), put(&b, "GG", 2);
    expect_fail("2 bytes", &b, IA_ERR_FORMAT, "magic");
    RESET(), build_valid(&b, 1);
    expect_fail("version 1", &b, IA_ERR_UNSUPPORTED, "version 1");
    RESET(), build_valid(&b, 4);
    expect_fail("version 4", &b, IA_ERR_UNSUPPORTED, "reads versions 2 and 3");
    RESET(), build_valid(&b, 0);
    expect_fail("version 0", &b, IA_ERR_FORMAT, "version 0");
    RESET(), build_valid(&b, 0x03000000);
    expect_fail("big-endian", &b, IA_ERR_UNSUPPORTED, "big-endian");
    RESET(), build_valid(&b, 0xdeadbeef);
    expect_fail("version garbage", &b, IA_ERR_UNSUPPORTED, "version 3735928559");

    RESET(), header(&b, 3, 0, UINT64_MAX), fill(&b, 100, 0);
    expect_fail("huge kv count", &b, IA_ERR_FORMAT, "key/value count");
    RESET(), header(&b, 3, UINT64_MAX / 2, 0), fill(&b, 100, 0);
    expect_fail("huge tensor count", &b, IA_ERR_FORMAT, "tensor count");
    RESET(), header(&b, 3, 0, 2), key(&b, "a", IA_GGUF_U8), u8_(&b, 1), fill(&b, 14, 0);
    expect_fail("one kv short", &b, IA_ERR_FORMAT, "key 1");

    RESET(), header(&b, 3, 0, 1), u64_(&b, 1ull << 40), put(&b, "abcdefghijklmnop", 16);
    expect_fail("key length past the end", &b, IA_ERR_FORMAT, "runs past the end");
    RESET(), header(&b, 3, 0, 1), u64_(&b, UINT64_MAX), put(&b, "abcdefghijklmnop", 16);
    expect_fail("key length 2^64-1", &b, IA_ERR_FORMAT, "runs past the end");
    RESET(), header(&b, 3, 0, 1), key(&b, "s", IA_GGUF_STRING), u64_(&b, 100), put(&b, "short", 5);
    expect_fail("string past the end", &b, IA_ERR_FORMAT, "key 0 's'");
    RESET(), header(&b, 3, 0, 1), key(&b, "a", IA_GGUF_ARRAY), arr_(&b, IA_GGUF_U32, 1ull << 62), u32_(&b, 1);
    expect_fail("array count", &b, IA_ERR_FORMAT, "array of");
    RESET(), header(&b, 3, 0, 1), key(&b, "a", IA_GGUF_ARRAY), arr_(&b, IA_GGUF_STRING, 3), str_(&b, "x"),
        u64_(&b, UINT64_MAX - 3), fill(&b, 20, 0);
    expect_fail("string element past the end", &b, IA_ERR_FORMAT, "key 0 'a'[1]: string of");
    RESET(), header(&b, 3, 0, 1), key(&b, "a", IA_GGUF_ARRAY), arr_(&b, 13, 1), u32_(&b, 1);
    expect_fail("element type 13", &b, IA_ERR_FORMAT, "element type 13");
    RESET(), header(&b, 3, 0, 1), key(&b, "a", 13), u32_(&b, 1);
    expect_fail("value type 13", &b, IA_ERR_FORMAT, "value type 13");
    RESET(), header(&b, 3, 0, 1), key(&b, "a", IA_GGUF_BOOL), u8_(&b, 2);
    expect_fail("bool 2", &b, IA_ERR_FORMAT, "not 0 or 1");
    RESET(), header(&b, 3, 0, 1), key(&b, "a", IA_GGUF_ARRAY), arr_(&b, IA_GGUF_BOOL, 3), put(&b, "\1\0\xff", 3);
    expect_fail("bool 255 in an array", &b, IA_ERR_FORMAT, "key 0 'a'[2]: bool is 255");
    RESET(), header(&b, 3, 0, 1), key(&b, "", IA_GGUF_U8), u8_(&b, 1), u8_(&b, 0);
    expect_fail("empty key", &b, IA_ERR_FORMAT, "empty");
    RESET(), header(&b, 3, 0, 1), strn_(&b, "a\0b", 3), u32_(&b, IA_GGUF_U8), u8_(&b, 1);
    expect_fail("NUL in key", &b, IA_ERR_FORMAT, "NUL");
    RESET(), header(&b, 3, 0, 3), key(&b, "a", IA_GGUF_U8), u8_(&b, 1), key(&b, "b", IA_GGUF_U8), u8_(&b, 1),
        key(&b, "a", IA_GGUF_U8), u8_(&b, 2);
    expect_fail("duplicate key", &b, IA_ERR_FORMAT, "duplicate of key 0");

    /* nesting: 16 levels open, 17 do not */
    for (int levels = 16; levels <= 17; levels++) {
        RESET(), header(&b, 3, 0, 1), key(&b, "deep", IA_GGUF_ARRAY);
        for (int l = 1; l < levels; l++)
            arr_(&b, IA_GGUF_ARRAY, 1);
        arr_(&b, IA_GGUF_U8, 1), u8_(&b, 9);
        ia_gguf *g;
        ia_status rc = open_bytes(&b, b.n, &g);
        if (levels == 16) {
            CHECK_MSG(rc == IA_OK, "16 levels: %s", ia_errmsg());
            if (rc == IA_OK)
                ia__gguf_close(g);
        } else {
            expect_fail("17 levels", &b, IA_ERR_FORMAT, "nested more than 16");
        }
    }
    /* an array of a billion empty arrays: bounded by the bytes there are */
    RESET(), header(&b, 3, 0, 1), key(&b, "a", IA_GGUF_ARRAY), arr_(&b, IA_GGUF_ARRAY, 1000000000);
    for (int k = 0; k < 10; k++)
        arr_(&b, IA_GGUF_U8, 0);
    expect_fail("many empty arrays", &b, IA_ERR_FORMAT, "array of 1000000000 arr");

    RESET(), header(&b, 3, 0, 1), key(&b, "general.alignment", IA_GGUF_U64), u64_(&b, 32);
    expect_fail("alignment u64", &b, IA_ERR_FORMAT, "must be u32");
    RESET(), header(&b, 3, 0, 1), key(&b, "general.alignment", IA_GGUF_U32), u32_(&b, 48);
    expect_fail("alignment 48", &b, IA_ERR_FORMAT, "48 is not a power of two");
    RESET(), header(&b, 3, 0, 1), key(&b, "general.alignment", IA_GGUF_U32), u32_(&b, 0);
    expect_fail("alignment 0", &b, IA_ERR_FORMAT, "0 is not a power of two");

    RESET(), one_tensor(&b, 5, (const uint64_t[]){1, 1, 1, 1, 1}, 0, 0, 4);
    expect_fail("n_dims 5", &b, IA_ERR_FORMAT, "n_dims 5 is more than 4");
    RESET(), one_tensor(&b, 2, (const uint64_t[]){1ull << 32, 1ull << 32}, 0, 0, 64);
    expect_fail("dims overflow", &b, IA_ERR_FORMAT, "dims overflow");
    RESET(), one_tensor(&b, 4, (const uint64_t[]){1ull << 16, 1ull << 16, 1ull << 16, 1ull << 16}, 24, 0, 64);
    expect_fail("dims overflow at 4", &b, IA_ERR_FORMAT, "dims overflow");
    RESET(), one_tensor(&b, 3, (const uint64_t[]){0, 1ull << 40, 1ull << 40}, 0, 0, 64);
    expect_fail("empty but overflowing strides", &b, IA_ERR_FORMAT, "dims overflow");
    RESET(), one_tensor(&b, 1, (const uint64_t[]){1ull << 63}, 0, 0, 64);
    expect_fail("negative dim", &b, IA_ERR_FORMAT, "negative");
    RESET(), one_tensor(&b, 2, (const uint64_t[]){1ull << 61, 2}, 0, 0, 64);
    expect_fail("bytes overflow", &b, IA_ERR_FORMAT, "overflow a size in bytes");
    RESET(), one_tensor(&b, 1, (const uint64_t[]){31}, 8, 0, 64);
    expect_fail("ne0 not a multiple of the block", &b, IA_ERR_FORMAT, "not a multiple of q8_0's block of 32");
    RESET(), one_tensor(&b, 1, (const uint64_t[]){32}, 42, 0, 64);
    expect_fail("unknown ggml type 42", &b, IA_ERR_FORMAT, "ggml type 42 is not one ggml defines");
    RESET(), one_tensor(&b, 1, (const uint64_t[]){32}, 4, 0, 64);
    expect_fail("retired ggml type 4", &b, IA_ERR_FORMAT, "ggml type 4 is not");
    RESET(), one_tensor(&b, 1, (const uint64_t[]){1}, 0, 1, 64);
    expect_fail("misaligned offset", &b, IA_ERR_FORMAT, "offset 1 is not a multiple of the alignment 32");
    RESET(), one_tensor(&b, 1, (const uint64_t[]){16}, 0, 32, 64);
    expect_fail("data past the end", &b, IA_ERR_FORMAT, "run past the end");
    RESET(), one_tensor(&b, 1, (const uint64_t[]){1}, 0, UINT64_MAX - 31, 64);
    expect_fail("offset near 2^64", &b, IA_ERR_FORMAT, "run past the end");
    RESET(), one_tensor(&b, 2, (const uint64_t[]){1ull << 30, 1ull << 20}, 0, 0, 64);
    expect_fail("huge tensor", &b, IA_ERR_FORMAT, "run past the end");
    RESET(), header(&b, 3, 1, 0), tinfo(&b, "t", 1, (const uint64_t[]){0}, 0, 0);
    expect_fail("data section past the end", &b, IA_ERR_FORMAT, "data section");
    RESET(), header(&b, 3, 1, 0), str_(&b, "t"), u32_(&b, 1), u64_(&b, 4), u32_(&b, 0), u32_(&b, 0);
    expect_fail("tensor info cut", &b, IA_ERR_FORMAT, "tensor 0 't': offset: needs 8 bytes, 4 left");
    RESET(), header(&b, 3, 2, 0), tinfo(&b, "t", 1, (const uint64_t[]){1}, 0, 0),
        tinfo(&b, "t", 1, (const uint64_t[]){1}, 0, 32), pad_to(&b, 32), fill(&b, 64, 0);
    expect_fail("duplicate tensor", &b, IA_ERR_FORMAT, "duplicate of tensor 0");
    RESET(), header(&b, 3, 1, 0), strn_(&b, "a\0", 2), u32_(&b, 1), u64_(&b, 1), u32_(&b, 0), u64_(&b, 0),
        pad_to(&b, 32), fill(&b, 4, 0);
    expect_fail("NUL in tensor name", &b, IA_ERR_FORMAT, "NUL");

    RESET(), put(&b, "GGUF", 4);
    expect_fail("magic only", &b, IA_ERR_FORMAT, "version");
    RESET();
    expect_fail("empty file", &b, IA_ERR_FORMAT, "empty");
    ia_gguf *g;
    CHECK(ia__gguf_open("/nonexistent/x.gguf", &g) == IA_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(ia_errmsg(), "/nonexistent/x.gguf");
    CHECK(ia__gguf_open(dir, &g) == IA_ERR_IO);
    CHECK_STR_CONTAINS(ia_errmsg(), "not a regular file");
    free(b.p);
}

/* Files that open, with tensors we cannot view. */
static void test_unsupported_tensors(void)
{
    struct buf b = {0};
    ia_gguf *g;
    /* q5_0 and f64: listed with their sizes, refused as views */
    header(&b, 3, 2, 0);
    tinfo(&b, "q5", 2, (const uint64_t[]){64, 2}, 6, 0);
    tinfo(&b, "d", 1, (const uint64_t[]){3}, 28, 96);
    pad_to(&b, 32);
    fill(&b, 96 + 24, 5);
    CHECK_OK(open_bytes(&b, b.n, &g));
    if (g) {
        const ia_gguf_tensor_info *t = ia__gguf_tensor_find(g, "q5");
        CHECK(t && t->dtype == IA_DTYPE_OTHER && !strcmp(t->type_name, "q5_0") && t->nbytes == 88);
        ia_tensor v;
        CHECK(ia__gguf_get_tensor(g, "q5", &v) == IA_ERR_UNSUPPORTED);
        CHECK_STR_CONTAINS(ia_errmsg(), "q5_0");
        CHECK_STR_CONTAINS(ia_errmsg(), "tensor 'q5'");
        t = ia__gguf_tensor_find(g, "d");
        CHECK(t && t->nbytes == 24 && !strcmp(t->type_name, "f64"));
        CHECK(ia__gguf_get_tensor(g, "d", &v) == IA_ERR_UNSUPPORTED);
        CHECK(!strcmp(ia__gguf_ggml_type_name(41), "q1_0") && ia__gguf_ggml_type_name(31) == NULL);
        ia__gguf_close(g);
    }

    /* alignment 1: an f32 and a q4_0 at odd addresses open but cannot be
     * viewed; an i8 can */
    b.n = 0;
    header(&b, 3, 3, 1);
    key(&b, "general.alignment", IA_GGUF_U32), u32_(&b, 1);
    size_t infos = b.n + 3 * (8 + 1 + 4 + 8 + 4 + 8);
    uint64_t o = (5 - infos % 4) % 4; /* data_offset + o = 1 mod 4 */
    tinfo(&b, "f", 1, (const uint64_t[]){2}, 0, o);
    tinfo(&b, "h", 1, (const uint64_t[]){32}, 2, o + 8);
    tinfo(&b, "c", 1, (const uint64_t[]){3}, 24, o + 26);
    CHECK(b.n == infos);
    fill(&b, o + 29, 9);
    CHECK_OK(open_bytes(&b, b.n, &g));
    if (g) {
        CHECK(ia__gguf_alignment(g) == 1 && ia__gguf_data_offset(g) == infos);
        ia_tensor v;
        CHECK(ia__gguf_get_tensor(g, "f", &v) == IA_ERR_UNSUPPORTED);
        CHECK_STR_CONTAINS(ia_errmsg(), "not 4-byte aligned");
        CHECK(ia__gguf_get_tensor(g, "h", &v) == IA_ERR_UNSUPPORTED);
        CHECK_STR_CONTAINS(ia_errmsg(), "not 2-byte aligned");
        CHECK_OK(ia__gguf_get_tensor(g, "c", &v));
        ia__gguf_close(g);
    }
    free(b.p);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ia-gguf-test-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/t.gguf", dir);
    test_valid();
    test_truncated();
    test_alloc_failures();
    test_malformed();
    test_unsupported_tensors();
    unlink(path);
    rmdir(dir);
    return test_summary("test_gguf");
}
