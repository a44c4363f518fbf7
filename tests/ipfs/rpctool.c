/*
 * Test helper for the kubo RPC client: `ia-rpctool RPC put FILE` stores
 * FILE as a raw block through POST /api/v0/block/put and prints its CID;
 * `ia-rpctool RPC get CID` prints the (verified) block from
 * /api/v0/block/get.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core-impl.h"
#include "ipfs_accelerate/store.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: ia-rpctool RPC put FILE | RPC get CID\n");
        return 2;
    }
    if (!strcmp(argv[2], "put")) {
        char *data;
        size_t n;
        ia_cid cid;
        char s[IA_CID_STR_MAX];
        if (ia__read_file(argv[3], &data, &n) ||
            ia_cid_sum(1, IA_CODEC_RAW, IA_MH_SHA2_256, (uint8_t *)data, n, &cid) ||
            ia_kubo_block_put(argv[1], &cid, (uint8_t *)data, n, 10)) {
            fprintf(stderr, "ia-rpctool: %s\n", ia_errmsg());
            return 1;
        }
        printf("%s\n", ia_cid_str(&cid, s));
        ia__free(data);
        return 0;
    }
    ia_cid cid;
    uint8_t *d;
    size_t n;
    if (ia_cid_parse(argv[3], &cid) || ia_kubo_block_get(argv[1], &cid, 10, &d, &n)) {
        fprintf(stderr, "ia-rpctool: %s\n", ia_errmsg());
        return 1;
    }
    fwrite(d, 1, n, stdout);
    ia_blockstore_free(d);
    return 0;
}
