/* Fuzz target: the GGUF reader (src/model/gguf.c) on arbitrary bytes. A
 * file it accepts is walked whole: every key found again by name and read
 * through every typed getter, every array element (nested ones too) by the
 * iterator and by index, every tensor found by name, viewed, its bytes
 * summed and its first block converted. Everything handed out must lie
 * inside the file (checked here, since a read past the file's end inside
 * the mapping's last page would escape ASan). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz-util.h"
#include "model/gguf-impl.h"

#define REQUIRE(c)                                                                                                 \
    do {                                                                                                           \
        if (!(c)) {                                                                                                \
            fprintf(stderr, "fuzz_gguf: %s:%d: %s\n", __FILE__, __LINE__, #c);                                     \
            abort();                                                                                               \
        }                                                                                                          \
    } while (0)

static volatile unsigned sink;

static void inside(const ia_gguf *g, const void *p, size_t n)
{
    const uint8_t *b = ia__gguf_base(g), *q = p;
    REQUIRE(q >= b && (size_t)(q - b) <= ia__gguf_size(g) && n <= ia__gguf_size(g) - (size_t)(q - b));
}

static void walk_value(const ia_gguf *g, const ia_gguf_value *v)
{
    REQUIRE(v->offset + v->size <= ia__gguf_size(g));
    inside(g, ia__gguf_base(g) + v->offset, v->size);
    int64_t s;
    uint64_t u;
    double d;
    bool b;
    const char *str;
    size_t len;
    if (ia__gguf_value_int(v, INT64_MIN, INT64_MAX, &s) == IA_OK)
        sink += (unsigned)s;
    if (ia__gguf_value_uint(v, UINT64_MAX, &u) == IA_OK)
        sink += (unsigned)u;
    if (ia__gguf_value_float(v, &d) == IA_OK)
        sink += d == d;
    if (ia__gguf_value_bool(v, &b) == IA_OK)
        sink += b;
    if (ia__gguf_value_str(v, &str, &len) == IA_OK) {
        inside(g, str, len);
        for (size_t i = 0; i < len; i++)
            sink += (unsigned char)str[i];
    }
    if (v->type != IA_GGUF_ARRAY)
        return;
    ia_gguf_iter it = ia__gguf_iter(v);
    ia_gguf_value e, a;
    uint64_t i = 0;
    while (ia__gguf_next(&it, &e)) {
        REQUIRE(e.type == v->elem);
        walk_value(g, &e);
        i++;
    }
    REQUIRE(i == v->n);
    if (v->n) {
        REQUIRE(ia__gguf_array_at(v, v->n - 1, &a) == IA_OK && a.offset + a.size <= v->offset + v->size);
        REQUIRE(ia__gguf_array_at(v, 0, &a) == IA_OK);
    }
    REQUIRE(ia__gguf_array_at(v, v->n, &a) == IA_ERR_INVALID);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfd("fuzz.gguf", data, size, path);
    if (fd < 0)
        return 0;
    ia_gguf *g;
    if (ia__gguf_open(path, &g) == IA_OK) {
        for (size_t i = 0; i < ia__gguf_kv_count(g); i++) {
            const ia_gguf_kv *kv = ia__gguf_kv_at(g, i);
            REQUIRE(ia__gguf_find(g, kv->key) == kv);
            walk_value(g, &kv->value);
            int64_t s;
            double d;
            ia_gguf_value v;
            (void)ia__gguf_get_int(g, kv->key, -1000, 1000, &s);
            (void)ia__gguf_get_float(g, kv->key, &d);
            (void)ia__gguf_get_array(g, kv->key, IA_GGUF_STRING, &v);
        }
        float block[IA_QK_K];
        for (size_t i = 0; i < ia__gguf_tensor_count(g); i++) {
            const ia_gguf_tensor_info *t = ia__gguf_tensor_at(g, i);
            REQUIRE(ia__gguf_tensor_find(g, t->name) == t);
            inside(g, t->data, t->nbytes);
            for (size_t k = 0; k < t->nbytes; k++)
                sink += t->data[k];
            ia_tensor v;
            if (ia__gguf_tensor(g, t, &v) != IA_OK || !ia__tensor_nelements(&v))
                continue;
            REQUIRE(ia__tensor_nbytes(&v) == t->nbytes);
            const ia_dtype_traits *tr = ia__dtype(v.dtype);
            if (tr->to_f32) {
                tr->to_f32(v.data, block, tr->block);
                sink += block[0] == block[0];
            }
        }
        ia__gguf_close(g);
    }
    close(fd);
    return 0;
}
