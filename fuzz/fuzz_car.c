/* Fuzz target: the CAR reader (v1 and v2) on arbitrary bytes, then the
 * exporter over what it accepts: cat (capped), ls and resolve of every
 * root, as a client would do with a CAR from an untrusted gateway. */
#include <stdlib.h>
#include <string.h>

#include "ipfs/ipfs-impl.h"
#include "ipfs_accelerate/car.h"

static ia_status sink(void *ctx, const uint8_t *p, size_t n)
{
    size_t *total = ctx;
    (void)p;
    *total += n;
    return *total > (1u << 20) ? IA_ERR_INVALID : IA_OK;
}

static ia_status entry(void *ctx, const ia_unixfs_entry *e)
{
    size_t *n = ctx;
    (void)e;
    return ++*n > 10000 ? IA_ERR_INVALID : IA_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ia_car_reader *r;
    if (ia_car_open_mem(data, size, &r))
        return 0;
    for (int i = 0; i < 100000; i++) {
        ia_cid c;
        const uint8_t *d;
        size_t l;
        bool done;
        if (ia_car_next(r, &c, &d, &l, &done) || done)
            break;
        if (d < data || d + l > data + size)
            abort();
    }
    ia_block_source src;
    if (!ia_car_block_source(r, &src, NULL)) {
        size_t nr;
        const ia_cid *roots = ia_car_roots(r, &nr);
        for (size_t i = 0; i < nr && i < 4; i++) {
            size_t total = 0, n = 0;
            ia_unixfs_stat st;
            ia_cid out;
            ia_unixfs_stat_cid(&src, &roots[i], &st);
            ia_unixfs_cat(&src, &roots[i], 0, UINT64_MAX, sink, &total);
            total = 0;
            ia_unixfs_cat(&src, &roots[i], 100, 1000, sink, &total);
            ia_unixfs_ls(&src, &roots[i], entry, &n);
            ia_unixfs_resolve(&src, &roots[i], "a/b", &out);
        }
    }
    ia_car_close(r);
    return 0;
}
