/*
 * ia-dtype-tool: the element-type conversions on files, for oracle scripts
 * (gguf_oracle.py) to compare with other implementations.
 *
 *   ia-dtype-tool from_f32 TYPE IN OUT   IN: little-endian f32; OUT: TYPE rows
 *   ia-dtype-tool to_f32 TYPE IN OUT     IN: TYPE rows; OUT: f32
 *
 * TYPE is a name from the traits ("q4_K", "bf16"). Exit status 0 on
 * success, 2 on bad usage or input, with a message on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/dtype.h"

/* The whole file (malloc'd: aligned for any block type), or NULL. */
static void *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    long size = 0;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)size + 1)) && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = buf ? (size_t)size : 0;
    return buf;
}

static int fail(const char *msg, const char *arg)
{
    fprintf(stderr, "ia-dtype-tool: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "from_f32") && strcmp(argv[1], "to_f32")))
        return fail("usage: ia-dtype-tool from_f32|to_f32 TYPE IN OUT", NULL);
    const ia_dtype_traits *tr = NULL;
    ia_dtype t = IA_DTYPE_COUNT;
    for (int i = 0; i < IA_DTYPE_COUNT; i++)
        if (!strcmp(ia__dtype_name((ia_dtype)i), argv[2]))
            tr = ia__dtype(t = (ia_dtype)i);
    if (!tr || !tr->to_f32)
        return fail("no conversions for type", argv[2]);

    size_t len;
    void *in = read_all(argv[3], &len);
    if (!in)
        return fail("cannot read", argv[3]);
    bool from = !strcmp(argv[1], "from_f32");
    int64_t n = from ? (int64_t)(len / 4) : (int64_t)(len / tr->block_bytes) * tr->block;
    size_t in_bytes = from ? (size_t)n * 4 : ia__dtype_row_bytes(t, n);
    size_t out_bytes = from ? ia__dtype_row_bytes(t, n) : (size_t)n * 4;
    if (in_bytes != len || (from && n % tr->block))
        return fail("input is not a whole number of rows", argv[3]);
    void *out = malloc(out_bytes ? out_bytes : 1);
    if (!out)
        return fail("out of memory", NULL);
    if (from)
        tr->from_f32(in, out, n);
    else
        tr->to_f32(in, out, n);
    FILE *f = fopen(argv[4], "wb");
    if (!f || fwrite(out, 1, out_bytes, f) != out_bytes || fclose(f) != 0)
        return fail("cannot write", argv[4]);
    free(in);
    free(out);
    return 0;
}
