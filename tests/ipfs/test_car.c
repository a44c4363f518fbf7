/*
 * Exporter and CAR against the shared fixtures (ipld specs and
 * gateway-conformance), plus importer -> CAR -> exporter round trips with
 * byte ranges across chunk and node boundaries.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipfs/ipfs-impl.h"
#include "ipfs_accelerate/car.h"
#include "test.h"

#define FIX IA_SHARED "/fixtures/car/"

typedef struct membuf {
    uint8_t *p;
    size_t n, cap;
} membuf;

static ia_status mem_write(void *ctx, const uint8_t *d, size_t n)
{
    membuf *m = ctx;
    if (m->n + n > m->cap) {
        m->cap = (m->n + n) * 2;
        m->p = realloc(m->p, m->cap);
    }
    memcpy(m->p + m->n, d, n);
    m->n += n;
    return IA_OK;
}

static ia_car_reader *open_fix(const char *name, ia_block_source *src)
{
    ia_car_reader *r = NULL;
    char path[512];
    snprintf(path, sizeof path, FIX "%s", name);
    CHECK_OK(ia_car_open(path, &r));
    if (r && src)
        CHECK_OK(ia_car_block_source(r, src, NULL));
    return r;
}

static size_t count_blocks(ia_car_reader *r)
{
    size_t n = 0;
    ia_cid c;
    const uint8_t *d;
    size_t l;
    bool done = false;
    ia_car_rewind(r);
    while (!done) {
        ia_status st = ia_car_next(r, &c, &d, &l, &done);
        CHECK_OK(st);
        if (st)
            break;
        n += !done;
    }
    return n;
}

static void test_basic(void)
{
    ia_car_reader *v1 = open_fix("carv1-basic.car", NULL), *v2 = open_fix("carv2-basic.car", NULL);
    if (!v1 || !v2)
        return;
    CHECK(ia_car_version(v1) == 1 && ia_car_version(v2) == 2);
    size_t n1, n2;
    const ia_cid *r1 = ia_car_roots(v1, &n1), *r2 = ia_car_roots(v2, &n2);
    char s[IA_CID_STR_MAX];
    CHECK(n1 == 2 && n2 == 1);
    CHECK(!strcmp(ia_cid_str(&r1[0], s), "bafyreihyrpefhacm6kkp4ql6j6udakdit7g3dmkzfriqfykhjw6cad5lrm"));
    CHECK(!strcmp(ia_cid_str(&r2[0], s), "QmfEoLyB5NndqeKieExd1rtJzTduQUPEV8TwAYcUiy3H5Z"));
    CHECK(count_blocks(v1) == 8);
    CHECK(count_blocks(v2) == 5);
    ia_car_close(v1);
    ia_car_close(v2);
}

typedef struct names {
    char list[64][128];
    ia_cid cid[64];
    int n;
} names;

static ia_status collect_name(void *ctx, const ia_unixfs_entry *e)
{
    names *nm = ctx;
    if (nm->n < 64) {
        snprintf(nm->list[nm->n], 128, "%s", e->name);
        nm->cid[nm->n++] = e->cid;
    }
    return IA_OK;
}

static void test_dirs(void)
{
    ia_block_source src;
    ia_car_reader *r = open_fix("subdir-with-two-single-block-files.car", &src);
    if (!r)
        return;
    size_t nr;
    const ia_cid *root = ia_car_roots(r, &nr);
    names nm = {.n = 0};
    CHECK_OK(ia_unixfs_ls(&src, root, collect_name, &nm));
    CHECK(nm.n == 1 && !strcmp(nm.list[0], "subdir"));
    ia_cid sub, f;
    CHECK_OK(ia_unixfs_resolve(&src, root, "subdir", &sub));
    names nm2 = {.n = 0};
    CHECK_OK(ia_unixfs_ls(&src, &sub, collect_name, &nm2));
    CHECK(nm2.n == 2);
    char path[300];
    snprintf(path, sizeof path, "subdir/%s", nm2.list[1]);
    CHECK_OK(ia_unixfs_resolve(&src, root, path, &f));
    CHECK(ia_cid_equal(&f, &nm2.cid[1]));
    CHECK(ia_unixfs_resolve(&src, root, "subdir/nope", &f) == IA_ERR_NOT_FOUND);
    membuf m = {0};
    CHECK_OK(ia_unixfs_cat(&src, &f, 0, UINT64_MAX, mem_write, &m));
    CHECK(m.n > 0);
    free(m.p);
    ia_car_close(r);

    /* the HAMT: list, resolve every name through the shard, cat, get */
    r = open_fix("single-layer-hamt-with-multi-block-files.car", &src);
    if (!r)
        return;
    root = ia_car_roots(r, &nr);
    names h = {.n = 0};
    CHECK_OK(ia_unixfs_ls(&src, root, collect_name, &h));
    CHECK_MSG(h.n > 10, "HAMT entries: %d", h.n);
    ia_unixfs_stat stt;
    CHECK_OK(ia_unixfs_stat_cid(&src, root, &stt));
    CHECK(stt.type == IA_UNIXFS_HAMT_SHARD);
    for (int i = 0; i < h.n; i++) {
        ia_cid c;
        CHECK_OK(ia_unixfs_resolve(&src, root, h.list[i], &c));
        CHECK(ia_cid_equal(&c, &h.cid[i]));
    }
    char tmpl[] = "/tmp/ia-car-test-XXXXXX";
    char *tmp = mkdtemp(tmpl);
    char dest[300];
    snprintf(dest, sizeof dest, "%s/hamt", tmp);
    CHECK_OK(ia_unixfs_get(&src, root, dest));
    /* get and cat agree on one multi-block file */
    membuf m2 = {0};
    CHECK_OK(ia_unixfs_cat(&src, &h.cid[0], 0, UINT64_MAX, mem_write, &m2));
    char fp[600];
    snprintf(fp, sizeof fp, "%s/%s", dest, h.list[0]);
    struct stat sb;
    CHECK(stat(fp, &sb) == 0 && (size_t)sb.st_size == m2.n);
    free(m2.p);
    ia_car_close(r);

    r = open_fix("dir-with-files.car", &src);
    if (r) {
        root = ia_car_roots(r, &nr);
        snprintf(dest, sizeof dest, "%s/dwf", tmp);
        CHECK_OK(ia_unixfs_get(&src, root, dest));
        CHECK(ia_unixfs_get(&src, root, dest) == IA_ERR_INVALID); /* exists */
        ia_car_close(r);
    }

    /* missing blocks: reported, never filled in, no partial file left */
    r = open_fix("file-3k-and-3-blocks-missing-block.car", &src);
    if (r) {
        root = ia_car_roots(r, &nr);
        membuf m3 = {0};
        ia_status st = ia_unixfs_cat(&src, root, 0, UINT64_MAX, mem_write, &m3);
        CHECK(st == IA_ERR_NOT_FOUND);
        CHECK_STR_CONTAINS(ia_errmsg(), "missing");
        free(m3.p);
        snprintf(dest, sizeof dest, "%s/partial", tmp);
        CHECK(ia_unixfs_get(&src, root, dest) == IA_ERR_NOT_FOUND);
        CHECK(access(dest, F_OK) != 0);
        snprintf(dest, sizeof dest, "%s/missing.car", tmp);
        CHECK(ia_car_export(&src, root, dest, NULL) == IA_ERR_NOT_FOUND);
        CHECK(access(dest, F_OK) != 0);
        ia_car_close(r);
    }

    r = open_fix("gateway-raw-block.car", &src);
    if (r) {
        root = ia_car_roots(r, &nr);
        /* its raw block, found by walking the sections */
        ia_cid c, raw = {0};
        const uint8_t *d;
        size_t l, raw_len = 0;
        bool done = false;
        while (!done && !ia_car_next(r, &c, &d, &l, &done))
            if (!done && c.codec == IA_CODEC_RAW) {
                raw = c;
                raw_len = l;
            }
        CHECK(raw.codec == IA_CODEC_RAW);
        membuf m4 = {0};
        CHECK_OK(ia_unixfs_cat(&src, &raw, 0, UINT64_MAX, mem_write, &m4));
        CHECK(m4.n == raw_len);
        CHECK(m4.n > 0);
        free(m4.p);
        ia_car_close(r);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
}

static void test_roundtrip(int cid_version, int layout, size_t chunk)
{
    size_t n = 700 * 1000 + 123;
    uint8_t *data = malloc(n);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245 + 12345;
        data[i] = (uint8_t)(x >> 16);
    }
    char tmpl[] = "/tmp/ia-car-rt-XXXXXX";
    char *tmp = mkdtemp(tmpl);
    char car[300], car2[300];
    snprintf(car, sizeof car, "%s/a.car", tmp);
    snprintf(car2, sizeof car2, "%s/b.car", tmp);
    ia_car_writer *w;
    CHECK_OK(ia_car_writer_open(car, NULL, 0, &w));
    ia_block_sink sink;
    ia_car_writer_sink(w, &sink);
    ia_unixfs_options o;
    ia_unixfs_options_init(&o);
    o.cid_version = cid_version;
    o.layout = (ia_unixfs_layout)layout;
    o.chunk_size = chunk;
    o.max_links = 7; /* deep trees with a small input */
    ia_cid root;
    CHECK_OK(ia_unixfs_add_bytes(data, n, &o, &sink, &root));
    CHECK_OK(ia_car_writer_finish(w, &root, 1));
    ia_car_reader *r;
    CHECK_OK(ia_car_open(car, &r));
    ia_block_source src;
    size_t nb;
    CHECK_OK(ia_car_block_source(r, &src, &nb));
    ia_unixfs_stat st;
    CHECK_OK(ia_unixfs_stat_cid(&src, &root, &st));
    CHECK(st.size == n);
    uint64_t ranges[][2] = {{0, UINT64_MAX}, {0, 1}, {chunk - 1, 2}, {chunk * 7 - 3, chunk * 8},
                            {n - 1, 10}, {n, 5}, {12345, 0}, {chunk * 49 + 7, 100000}};
    for (size_t i = 0; i < IA_ARRAY_LEN(ranges); i++) {
        membuf m = {0};
        uint64_t off = ranges[i][0], len = ranges[i][1];
        CHECK_OK(ia_unixfs_cat(&src, &root, off, len, mem_write, &m));
        uint64_t want = off >= n ? 0 : IA_MIN(len, n - off);
        CHECK_MSG(m.n == want && (!want || !memcmp(m.p, data + off, want)),
                  "range %llu+%llu: %zu bytes", (unsigned long long)off, (unsigned long long)len, m.n);
        free(m.p);
    }
    /* export again: same blocks, same bytes (the writer wrote DAG order) */
    size_t ne;
    CHECK_OK(ia_car_export(&src, &root, car2, &ne));
    CHECK(ne == nb);
    ia_car_reader *r2;
    CHECK_OK(ia_car_open(car2, &r2));
    size_t nr;
    CHECK(ia_cid_equal(&ia_car_roots(r2, &nr)[0], &root) && nr == 1);
    CHECK(count_blocks(r2) == nb);
    ia_car_close(r2);
    ia_car_close(r);
    /* a flipped byte in a block is caught */
    FILE *f = fopen(car2, "r+b");
    fseek(f, -5, SEEK_END);
    int c = fgetc(f);
    fseek(f, -5, SEEK_END);
    fputc(c ^ 1, f);
    fclose(f);
    CHECK_OK(ia_car_open(car2, &r2));
    CHECK(ia_car_block_source(r2, &src, NULL) == IA_ERR_VERIFY);
    ia_car_close(r2);
    /* truncated */
    CHECK(truncate(car2, 30) == 0);
    ia_status ts = ia_car_open(car2, &r2);
    if (!ts) {
        CHECK(ia_car_block_source(r2, &src, NULL) == IA_ERR_FORMAT);
        ia_car_close(r2);
    }
    unlink(car);
    unlink(car2);
    rmdir(tmp);
    free(data);
}

/* The parallel leaf hashing of big regular files must hand blocks to the
 * sink in exactly the sequential order: a CAR written from add_path (file
 * of 40 chunks, hashed on several threads) equals one from add_bytes. */
static void test_parallel_order(void)
{
    size_t n = 40 * 4096 + 77;
    uint8_t *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 131 + (i >> 11));
    char tmpl[] = "/tmp/ia-car-par-XXXXXX";
    char *tmp = mkdtemp(tmpl);
    char file[300], a[300], b[300];
    snprintf(file, sizeof file, "%s/f.bin", tmp);
    snprintf(a, sizeof a, "%s/a.car", tmp);
    snprintf(b, sizeof b, "%s/b.car", tmp);
    FILE *f = fopen(file, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
    for (int layout = 0; layout < 2; layout++) {
        ia_unixfs_options o;
        ia_unixfs_options_init(&o);
        o.chunk_size = 4096;
        o.max_links = 5;
        o.layout = (ia_unixfs_layout)layout;
        ia_cid ra, rb;
        ia_car_writer *w;
        ia_block_sink sink;
        CHECK_OK(ia_car_writer_open(a, NULL, 0, &w));
        ia_car_writer_sink(w, &sink);
        CHECK_OK(ia_unixfs_add_path(file, false, &o, &sink, NULL, NULL, &ra));
        CHECK_OK(ia_car_writer_finish(w, &ra, 1));
        CHECK_OK(ia_car_writer_open(b, NULL, 0, &w));
        ia_car_writer_sink(w, &sink);
        CHECK_OK(ia_unixfs_add_bytes(data, n, &o, &sink, &rb));
        CHECK_OK(ia_car_writer_finish(w, &rb, 1));
        CHECK(ia_cid_equal(&ra, &rb));
        char cmd[700];
        snprintf(cmd, sizeof cmd, "cmp -s %s %s", a, b);
        CHECK_MSG(system(cmd) == 0, "layout %d: parallel and sequential CARs differ", layout);
    }
    unlink(file);
    unlink(a);
    unlink(b);
    rmdir(tmp);
    free(data);
}

int main(void)
{
    test_parallel_order();
    test_basic();
    test_dirs();
    test_roundtrip(0, 0, 1000);
    test_roundtrip(1, 0, 4096);
    test_roundtrip(0, 1, 1000);
    test_roundtrip(1, 1, 333);
    return test_summary("test_car");
}
