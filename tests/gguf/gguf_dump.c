/*
 * ia-gguf-dump: what our GGUF reader (src/model/gguf.c) sees in a file, in
 * the canonical text that gguf_expect.py makes from gguf-py's GGUFReader,
 * so the two can be compared line for line. Along the way it cross-checks
 * the reader's own accessors against each other (find by name, typed
 * getters by key and by value, array_at against the iterator, views
 * against the infos) and reports any disagreement on stderr (exit 1).
 *
 * Usage: ia-gguf-dump FILE         the dump (tensor bytes as SHA-256)
 *        ia-gguf-dump --rss FILE   open, dequantize the first block of
 *                                  every tensor, print the growth of
 *                                  anonymous and file-backed resident
 *                                  memory of each step (nothing is copied)
 *
 * Lines: "header version=V alignment=A data_offset=D kv_count=K tensor_count=T",
 * "kv HEXKEY VALUE" (VALUE: u8:5 i64:-3 f32:BITS f64:BITS bool:1 str:HEX
 * arr:TYPE:N[V,V...]), "tensor HEXNAME type=ID:NAME dims=D0,D1
 * offset=O file_offset=F nbytes=N sha256=H", then "view HEXNAME ok
 * dtype=T ne=.. nb=.." or "view HEXNAME err=STATUS".
 */
#include <inttypes.h>
#include <math.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf-impl.h"

static int mismatches;

#define MISMATCH(...)                                                                                              \
    do {                                                                                                           \
        mismatches++;                                                                                              \
        fprintf(stderr, "ia-gguf-dump: MISMATCH: ");                                                               \
        fprintf(stderr, __VA_ARGS__);                                                                              \
        fputc('\n', stderr);                                                                                       \
    } while (0)

static void hex(FILE *o, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        fprintf(o, "%02x", b[i]);
}

static bool same_value(const ia_gguf_value *a, const ia_gguf_value *b)
{
    return a->type == b->type && a->offset == b->offset && a->size == b->size && a->n == b->n && a->data == b->data;
}

static bool is_signed_int(ia_gguf_type t)
{
    return t == IA_GGUF_I8 || t == IA_GGUF_I16 || t == IA_GGUF_I32 || t == IA_GGUF_I64;
}

static bool is_unsigned_int(ia_gguf_type t)
{
    return t == IA_GGUF_U8 || t == IA_GGUF_U16 || t == IA_GGUF_U32 || t == IA_GGUF_U64;
}

static void print_value(FILE *o, const ia_gguf_value *v)
{
    const uint8_t *base = ia__gguf_base(v->g);
    if (v->data < base || v->offset + v->size > ia__gguf_size(v->g))
        MISMATCH("value at byte %zu lies outside the file", v->offset);
    fprintf(o, "%s:", ia__gguf_type_name(v->type));
    int64_t s;
    uint64_t u;
    double d;
    bool b;
    const char *str;
    size_t len;
    if (is_signed_int(v->type)) {
        if (ia__gguf_value_int(v, INT64_MIN, INT64_MAX, &s) != IA_OK)
            MISMATCH("value_int at byte %zu: %s", v->offset, ia_errmsg());
        fprintf(o, "%" PRId64, s);
        if (s < 0 && ia__gguf_value_uint(v, UINT64_MAX, &u) != IA_ERR_FORMAT)
            MISMATCH("value_uint accepted the negative value at byte %zu", v->offset);
        return;
    }
    if (is_unsigned_int(v->type)) {
        if (ia__gguf_value_uint(v, UINT64_MAX, &u) != IA_OK)
            MISMATCH("value_uint at byte %zu: %s", v->offset, ia_errmsg());
        fprintf(o, "%" PRIu64, u);
        ia_status rc = ia__gguf_value_int(v, INT64_MIN, INT64_MAX, &s);
        if ((u > INT64_MAX) != (rc == IA_ERR_FORMAT) || (rc == IA_OK && (uint64_t)s != u))
            MISMATCH("value_int of u %" PRIu64 " at byte %zu: %d", u, v->offset, rc);
        if (u > 0 && u - 1 <= INT64_MAX && ia__gguf_value_int(v, 0, (int64_t)(u - 1), &s) != IA_ERR_FORMAT)
            MISMATCH("value_int ignored its range at byte %zu", v->offset);
        return;
    }
    switch (v->type) {
    case IA_GGUF_F32: {
        uint32_t bits = (uint32_t)v->data[0] | (uint32_t)v->data[1] << 8 | (uint32_t)v->data[2] << 16 |
                        (uint32_t)v->data[3] << 24;
        fprintf(o, "%08" PRIx32, bits);
        float f;
        memcpy(&f, &bits, 4);
        if (ia__gguf_value_float(v, &d) != IA_OK || (!isnan(f) && d != f) || (isnan(f) && !isnan(d)))
            MISMATCH("value_float at byte %zu", v->offset);
        break;
    }
    case IA_GGUF_F64: {
        uint64_t bits = 0;
        for (int i = 7; i >= 0; i--)
            bits = bits << 8 | v->data[i];
        fprintf(o, "%016" PRIx64, bits);
        double want;
        memcpy(&want, &bits, 8);
        if (ia__gguf_value_float(v, &d) != IA_OK || memcmp(&d, &want, 8))
            MISMATCH("value_float at byte %zu", v->offset);
        break;
    }
    case IA_GGUF_BOOL:
        if (ia__gguf_value_bool(v, &b) != IA_OK)
            MISMATCH("value_bool at byte %zu: %s", v->offset, ia_errmsg());
        fprintf(o, "%d", b);
        break;
    case IA_GGUF_STRING:
        if (ia__gguf_value_str(v, &str, &len) != IA_OK || len != v->n)
            MISMATCH("value_str at byte %zu: %s", v->offset, ia_errmsg());
        hex(o, str, len);
        break;
    case IA_GGUF_ARRAY: {
        fprintf(o, "%s:%" PRIu64 "[", ia__gguf_type_name(v->elem), v->n);
        ia_gguf_iter it = ia__gguf_iter(v);
        ia_gguf_value e;
        uint64_t i = 0;
        while (ia__gguf_next(&it, &e)) {
            if (i)
                fputc(',', o);
            if (e.type != v->elem || e.depth != v->depth + 1)
                MISMATCH("element %" PRIu64 " of the array at byte %zu: type %d depth %d", i, v->offset, e.type,
                         e.depth);
            /* array_at agrees with the iterator (first, middle, last) */
            if (i == 0 || i == v->n / 2 || i + 1 == v->n) {
                ia_gguf_value a;
                if (ia__gguf_array_at(v, i, &a) != IA_OK || !same_value(&a, &e))
                    MISMATCH("array_at(%" PRIu64 ") of the array at byte %zu", i, v->offset);
            }
            print_value(o, &e);
            i++;
        }
        if (i != v->n)
            MISMATCH("iterated %" PRIu64 " of %" PRIu64 " elements at byte %zu", i, v->n, v->offset);
        ia_gguf_value a;
        if (ia__gguf_array_at(v, v->n, &a) != IA_ERR_INVALID)
            MISMATCH("array_at past the end at byte %zu", v->offset);
        fputc(']', o);
        break;
    }
    default:
        MISMATCH("type %d", v->type);
    }
    /* a getter of another type refuses the value */
    if (v->type != IA_GGUF_BOOL && ia__gguf_value_bool(v, &b) != IA_ERR_FORMAT)
        MISMATCH("value_bool accepted a %s", ia__gguf_type_name(v->type));
    if (v->type != IA_GGUF_STRING && ia__gguf_value_str(v, &str, &len) != IA_ERR_FORMAT)
        MISMATCH("value_str accepted a %s", ia__gguf_type_name(v->type));
    if (ia__gguf_value_int(v, INT64_MIN, INT64_MAX, &s) != IA_ERR_FORMAT)
        MISMATCH("value_int accepted a %s", ia__gguf_type_name(v->type));
}

/* The key-level getters agree with the value-level ones. */
static void check_key_getters(const ia_gguf *g, const ia_gguf_kv *kv)
{
    const ia_gguf_value *v = &kv->value;
    ia_gguf_value got;
    if (ia__gguf_get(g, kv->key, &got) != IA_OK || !same_value(&got, v))
        MISMATCH("get('%s')", kv->key);
    int64_t s1, s2;
    uint64_t u1, u2;
    double d1, d2;
    bool b1, b2;
    const char *p1, *p2;
    size_t l1, l2;
    ia_status r1, r2;
    r1 = ia__gguf_get_int(g, kv->key, INT64_MIN, INT64_MAX, &s1);
    r2 = ia__gguf_value_int(v, INT64_MIN, INT64_MAX, &s2);
    if (r1 != r2 || (r1 == IA_OK && s1 != s2))
        MISMATCH("get_int('%s')", kv->key);
    r1 = ia__gguf_get_uint(g, kv->key, UINT64_MAX, &u1);
    r2 = ia__gguf_value_uint(v, UINT64_MAX, &u2);
    if (r1 != r2 || (r1 == IA_OK && u1 != u2))
        MISMATCH("get_uint('%s')", kv->key);
    r1 = ia__gguf_get_float(g, kv->key, &d1);
    r2 = ia__gguf_value_float(v, &d2);
    if (r1 != r2 || (r1 == IA_OK && memcmp(&d1, &d2, sizeof d1)))
        MISMATCH("get_float('%s')", kv->key);
    r1 = ia__gguf_get_bool(g, kv->key, &b1);
    r2 = ia__gguf_value_bool(v, &b2);
    if (r1 != r2 || (r1 == IA_OK && b1 != b2))
        MISMATCH("get_bool('%s')", kv->key);
    r1 = ia__gguf_get_str(g, kv->key, &p1, &l1);
    r2 = ia__gguf_value_str(v, &p2, &l2);
    if (r1 != r2 || (r1 == IA_OK && (p1 != p2 || l1 != l2)))
        MISMATCH("get_str('%s')", kv->key);
    r1 = ia__gguf_get_array(g, kv->key, IA_GGUF_TYPE_COUNT, &got);
    if ((r1 == IA_OK) != (v->type == IA_GGUF_ARRAY))
        MISMATCH("get_array('%s')", kv->key);
    if (v->type == IA_GGUF_ARRAY) {
        if (ia__gguf_get_array(g, kv->key, v->elem, &got) != IA_OK)
            MISMATCH("get_array('%s', its element type)", kv->key);
        if (ia__gguf_get_array(g, kv->key, v->elem == IA_GGUF_U8 ? IA_GGUF_I8 : IA_GGUF_U8, &got) != IA_ERR_FORMAT)
            MISMATCH("get_array('%s', another element type)", kv->key);
    }
}

static void dump(const ia_gguf *g, FILE *o)
{
    size_t nk = ia__gguf_kv_count(g), nt = ia__gguf_tensor_count(g);
    fprintf(o, "header version=%" PRIu32 " alignment=%" PRIu32 " data_offset=%zu kv_count=%zu tensor_count=%zu\n",
            ia__gguf_version(g), ia__gguf_alignment(g), ia__gguf_data_offset(g), nk, nt);
    for (size_t i = 0; i < nk; i++) {
        const ia_gguf_kv *kv = ia__gguf_kv_at(g, i);
        if (ia__gguf_find(g, kv->key) != kv)
            MISMATCH("find('%s') is not key %zu", kv->key, i);
        check_key_getters(g, kv);
        fprintf(o, "kv ");
        hex(o, kv->key, strlen(kv->key));
        fputc(' ', o);
        print_value(o, &kv->value);
        fputc('\n', o);
    }
    const uint8_t *base = ia__gguf_base(g);
    for (size_t i = 0; i < nt; i++) {
        const ia_gguf_tensor_info *t = ia__gguf_tensor_at(g, i);
        if (ia__gguf_tensor_find(g, t->name) != t)
            MISMATCH("tensor_find('%s') is not tensor %zu", t->name, i);
        if (t->data != base + t->file_offset || t->file_offset + t->nbytes > ia__gguf_size(g) ||
            t->file_offset != ia__gguf_data_offset(g) + t->offset)
            MISMATCH("tensor '%s' data outside the file", t->name);
        fprintf(o, "tensor ");
        hex(o, t->name, strlen(t->name));
        fprintf(o, " type=%" PRIu32 ":%s dims=", t->ggml_type, t->type_name);
        for (int d = 0; d < t->n_dims; d++)
            fprintf(o, "%s%" PRId64, d ? "," : "", t->ne[d]);
        uint8_t sha[SHA256_DIGEST_LENGTH];
        SHA256(t->data, t->nbytes, sha);
        fprintf(o, " offset=%" PRIu64 " file_offset=%zu nbytes=%zu sha256=", t->offset, t->file_offset, t->nbytes);
        hex(o, sha, sizeof sha);
        fputc('\n', o);
    }
    for (size_t i = 0; i < nt; i++) {
        const ia_gguf_tensor_info *t = ia__gguf_tensor_at(g, i);
        ia_tensor v, v2;
        ia_status rc = ia__gguf_tensor(g, t, &v);
        if (ia__gguf_get_tensor(g, t->name, &v2) != rc)
            MISMATCH("get_tensor('%s') disagrees with tensor()", t->name);
        fprintf(o, "view ");
        hex(o, t->name, strlen(t->name));
        if (rc != IA_OK) {
            fprintf(o, " err=%d\n", rc);
            continue;
        }
        if (v.data != t->data || v2.data != v.data || v2.dtype != v.dtype || memcmp(v.ne, v2.ne, sizeof v.ne) ||
            memcmp(v.nb, v2.nb, sizeof v.nb) || v.dtype != t->dtype ||
            (ia__tensor_nelements(&v) && ia__tensor_nbytes(&v) != t->nbytes) || !ia__tensor_contiguous(&v))
            MISMATCH("view of '%s'", t->name);
        fprintf(o, " ok dtype=%s ne=%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 " nb=%zu,%zu,%zu,%zu\n",
                ia__dtype_name(v.dtype), v.ne[0], v.ne[1], v.ne[2], v.ne[3], v.nb[0], v.nb[1], v.nb[2], v.nb[3]);
    }
    ia_tensor v;
    if (ia__gguf_get_tensor(g, "no such tensor \x01", &v) != IA_ERR_NOT_FOUND || ia__gguf_find(g, "") != NULL)
        MISMATCH("lookup of absent names");
}

/* Resident memory in KiB: anonymous (the process's own: what a copy of the
 * weights would grow) and file-backed (page cache mapped in, shared and
 * evictable; its granularity is the kernel's: with large folios, touching
 * one byte can map a megabyte). */
struct rss {
    long anon, file;
};

static struct rss rss_now(void)
{
    struct rss r = {-1, -1};
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "RssAnon:", 8))
            r.anon = strtol(line + 8, NULL, 10);
        else if (!strncmp(line, "RssFile:", 8))
            r.file = strtol(line + 8, NULL, 10);
    }
    if (f)
        fclose(f);
    return r;
}

static int rss_mode(const char *path)
{
    struct rss r0 = rss_now();
    ia_gguf *g;
    if (ia__gguf_open(path, &g) != IA_OK) {
        fprintf(stderr, "ia-gguf-dump: %s\n", ia_errmsg());
        return 1;
    }
    struct rss r1 = rss_now();
    size_t walked = 0;
    float acc = 0, block[IA_QK_K];
    for (size_t i = 0; i < ia__gguf_tensor_count(g); i++) {
        ia_tensor v;
        if (ia__gguf_tensor(g, ia__gguf_tensor_at(g, i), &v) != IA_OK || !ia__tensor_nelements(&v))
            continue;
        const ia_dtype_traits *tr = ia__dtype(v.dtype);
        if (!tr->to_f32)
            continue;
        tr->to_f32(v.data, block, tr->block);
        for (int k = 0; k < tr->block; k++)
            acc += block[k];
        walked++;
    }
    struct rss r2 = rss_now();
    const char *arch = "";
    size_t arch_len = 0;
    ia_status rc = ia__gguf_get_str(g, "general.architecture", &arch, &arch_len);
    printf("rss file_size=%zu open_anon_kb=%ld open_file_kb=%ld walk_anon_kb=%ld walk_file_kb=%ld tensors=%zu "
           "walked=%zu finite=%d arch=%.*s\n",
           ia__gguf_size(g), r1.anon - r0.anon, r1.file - r0.file, r2.anon - r1.anon, r2.file - r1.file,
           ia__gguf_tensor_count(g), walked, isfinite(acc) ? 1 : 0, rc == IA_OK ? (int)arch_len : 0, arch);
    ia__gguf_close(g);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--rss"))
        return rss_mode(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: ia-gguf-dump [--rss] FILE\n");
        return 2;
    }
    ia_gguf *g;
    if (ia__gguf_open(argv[1], &g) != IA_OK) {
        fprintf(stderr, "ia-gguf-dump: %s\n", ia_errmsg());
        return 1;
    }
    dump(g, stdout);
    ia__gguf_close(g);
    fflush(stdout);
    return mismatches ? 1 : 0;
}
