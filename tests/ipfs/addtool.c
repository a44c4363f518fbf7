/*
 * Test helper: `ia-addtool [--cid-version N] [--raw-leaves] [--trickle]
 * [--chunker size-N] [-r] [-H] PATH...` prints "added CID NAME" for every
 * entry like `ipfs add --only-hash` does, so the kubo cross-check can diff
 * the two outputs line for line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipfs_accelerate/unixfs.h"

static void added(void *user, const char *path, const ia_cid *cid, uint64_t size)
{
    char s[IA_CID_STR_MAX];
    (void)user;
    (void)size;
    printf("added %s %s\n", ia_cid_str(cid, s), path);
}

int main(int argc, char **argv)
{
    ia_unixfs_options o;
    ia_unixfs_options_init(&o);
    bool rec = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--cid-version") && i + 1 < argc)
            o.cid_version = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--raw-leaves"))
            o.raw_leaves = IA_RAW_LEAVES_ON;
        else if (!strcmp(argv[i], "--trickle"))
            o.layout = IA_UNIXFS_TRICKLE;
        else if (!strcmp(argv[i], "--chunker") && i + 1 < argc && !strncmp(argv[i + 1], "size-", 5))
            o.chunk_size = (size_t)strtoul(argv[++i] + 5, NULL, 10);
        else if (!strcmp(argv[i], "-r"))
            rec = true;
        else if (!strcmp(argv[i], "-H"))
            o.hidden = true;
        else {
            fprintf(stderr, "ia-addtool: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    for (; i < argc; i++) {
        ia_cid root;
        ia_status st = ia_unixfs_add_path(argv[i], rec, &o, NULL, added, NULL, &root);
        if (st) {
            fprintf(stderr, "ia-addtool: %s: %s\n", argv[i], ia_errmsg());
            return 1;
        }
    }
    return 0;
}
