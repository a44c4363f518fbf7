/*
 * The on-disk blockstore: flatfs layout, put/get/has/delete, damage
 * detection, pins, gc (unpinned only, least recently used first, size
 * cap) and a crash in the middle of writes (a child killed with SIGKILL)
 * leaving no corrupt block behind.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipfs/ipfs-impl.h"
#include "ipfs_accelerate/store.h"
#include "test.h"

static char home[64];

static void fill(uint8_t *b, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        b[i] = (uint8_t)(seed >> 24);
    }
}

static ia_cid add(ia_blockstore *bs, const uint8_t *d, size_t n, int v)
{
    ia_unixfs_options o;
    ia_unixfs_options_init(&o);
    o.cid_version = v;
    o.chunk_size = 4096;
    ia_block_sink sink;
    ia_blockstore_sink(bs, &sink);
    ia_cid root;
    memset(&root, 0, sizeof root);
    CHECK_OK(ia_unixfs_add_bytes(d, n, &o, &sink, &root));
    return root;
}

static ia_status cmp_write(void *ctx, const uint8_t *p, size_t n)
{
    const uint8_t **want = ctx;
    if (memcmp(*want, p, n))
        return IA_ERR_VERIFY;
    *want += n;
    return IA_OK;
}

static void set_age(ia_blockstore *bs, const ia_cid *root, time_t when)
{
    /* age every block of a DAG by walking it */
    ia_block_source src;
    ia_blockstore_source(bs, &src);
    const uint8_t *d;
    size_t n;
    if (ia__block_get(&src, root, &d, &n))
        return;
    char key[IA_CID_STR_MAX];
    (void)key;
    struct timespec ts[2] = {{when, 0}, {when, 0}};
    /* path of the block: recompute like the store does */
    uint8_t mh[40];
    size_t k = ia__varint_put(mh, root->mh_code);
    k += ia__varint_put(mh + k, root->mh_len);
    memcpy(mh + k, root->digest, root->mh_len);
    char txt[IA_CID_STR_MAX];
    ia_multibase_encode(IA_MULTIBASE_BASE32_UPPER, mh, k + root->mh_len, txt, sizeof txt);
    size_t l = strlen(txt + 1);
    char path[512];
    snprintf(path, sizeof path, "%s/blocks/%c%c/%s.data", home, txt[1 + l - 3], txt[1 + l - 2], txt + 1);
    CHECK_MSG(utimensat(AT_FDCWD, path, ts, 0) == 0, "%s", path);
    if (root->codec == IA_CODEC_DAG_PB) {
        ia_dagpb_node pn;
        if (!ia_dagpb_decode(d, n, &pn)) {
            for (size_t i = 0; i < pn.n_links; i++)
                set_age(bs, &pn.links[i].cid, when);
            ia_dagpb_node_clear(&pn);
        }
    }
    ia__block_release(&src, root, d);
}

static void on_damage(void *ctx, const char *path, const char *problem)
{
    (void)path;
    (void)problem;
    (*(int *)ctx)++;
}

int main(void)
{
    snprintf(home, sizeof home, "/tmp/ia-store-test-XXXXXX");
    if (!mkdtemp(home))
        return 1;
    ia_blockstore *bs;
    CHECK_OK(ia_blockstore_open(home, &bs));
    char p[256];
    snprintf(p, sizeof p, "%s/blocks/SHARDING", home);
    CHECK(ia__file_exists(p));

    /* the kubo flatfs name of "hello world\n"'s block */
    ia_cid hw;
    CHECK_OK(ia_unixfs_add_bytes((const uint8_t *)"hello world\n", 12, NULL, NULL, &hw));
    ia_block_sink sink;
    ia_blockstore_sink(bs, &sink);
    CHECK_OK(ia_unixfs_add_bytes((const uint8_t *)"hello world\n", 12, NULL, &sink, &hw));
    CHECK(ia_blockstore_has(bs, &hw));
    uint8_t *d;
    size_t n;
    CHECK_OK(ia_blockstore_get(bs, &hw, &d, &n));
    CHECK(n == 20);
    ia_blockstore_free(d);
    /* wrong bytes are refused */
    CHECK(ia_blockstore_put(bs, &hw, (const uint8_t *)"x", 1) == IA_ERR_VERIFY);

    uint8_t *a = malloc(300000), *b = malloc(200000);
    fill(a, 300000, 1);
    fill(b, 200000, 2);
    ia_cid ra = add(bs, a, 300000, 0), rb = add(bs, b, 200000, 1);
    ia_block_source src;
    ia_blockstore_source(bs, &src);
    const uint8_t *cur = a;
    CHECK_OK(ia_unixfs_cat(&src, &ra, 0, UINT64_MAX, cmp_write, &cur));
    CHECK(cur == a + 300000);
    ia_store_stat s0;
    CHECK_OK(ia_blockstore_stat(bs, &s0));
    CHECK(s0.blocks > 100 && s0.bytes > 500000);

    /* pins + gc: pin a recursively; gc to 0 keeps exactly a's blocks */
    CHECK_OK(ia_pin_add(bs, &ra, true));
    CHECK_OK(ia_pin_add(bs, &hw, false));
    ia_gc_result r;
    CHECK_OK(ia_blockstore_gc(bs, 0, 0, &r));
    CHECK(r.removed_blocks > 40);
    CHECK(!ia_blockstore_has(bs, &rb));
    CHECK(ia_blockstore_has(bs, &hw));
    cur = a;
    CHECK_OK(ia_unixfs_cat(&src, &ra, 0, UINT64_MAX, cmp_write, &cur));

    /* LRU with a size cap: b (older) goes before c (newer) */
    rb = add(bs, b, 200000, 1);
    uint8_t *c = malloc(200000);
    fill(c, 200000, 3);
    ia_cid rc = add(bs, c, 200000, 1);
    time_t now = time(NULL);
    set_age(bs, &rb, now - 5000);
    set_age(bs, &rc, now - 100);
    ia_store_stat s1;
    CHECK_OK(ia_blockstore_stat(bs, &s1));
    CHECK_OK(ia_blockstore_gc(bs, s1.bytes - 100000, 0, &r));
    CHECK(r.removed_bytes >= 100000 && r.removed_bytes < 200000);
    cur = c; /* the newer DAG is untouched */
    CHECK_OK(ia_unixfs_cat(&src, &rc, 0, UINT64_MAX, cmp_write, &cur));
    ia_store_stat s2;
    CHECK_OK(ia_blockstore_stat(bs, &s2));
    CHECK(s2.bytes <= s1.bytes - 100000);
    /* grace keeps recently used blocks */
    CHECK_OK(ia_blockstore_gc(bs, 0, 3600, &r));
    CHECK(r.removed_blocks > 0 && !ia_blockstore_has(bs, &rb));
    cur = c;
    CHECK_OK(ia_unixfs_cat(&src, &rc, 0, UINT64_MAX, cmp_write, &cur));
    CHECK_OK(ia_pin_rm(bs, &hw));
    CHECK(ia_pin_rm(bs, &hw) == IA_ERR_NOT_FOUND);

    /* damage: flip a byte of a stored block; get and verify notice */
    uint64_t ok = 0, bad = 0;
    int damaged = 0;
    CHECK_OK(ia_blockstore_verify(bs, on_damage, &damaged, &ok, &bad));
    CHECK(bad == 0 && ok > 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "f=$(ls %s/blocks/*/*.data | head -1); printf 'Z' | dd of=$f bs=1 seek=3 conv=notrunc 2>/dev/null",
             home);
    CHECK(system(cmd) == 0);
    CHECK_OK(ia_blockstore_verify(bs, on_damage, &damaged, &ok, &bad));
    CHECK(bad == 1 && damaged == 1);

    /* crash mid-write: a child writes big blocks until killed */
    pid_t pid = fork();
    if (pid == 0) {
        ia_blockstore *cbs;
        if (ia_blockstore_open(home, &cbs))
            _exit(1);
        uint8_t *big = malloc(1 << 20);
        for (uint32_t i = 0;; i++) {
            fill(big, 1 << 20, 1000 + i);
            ia_cid cid;
            ia_cid_sum(1, IA_CODEC_RAW, IA_MH_SHA2_256, big, 1 << 20, &cid);
            ia_blockstore_put(cbs, &cid, big, 1 << 20);
        }
    }
    usleep(300000);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    damaged = 0;
    CHECK_OK(ia_blockstore_verify(bs, on_damage, &damaged, &ok, &bad));
    CHECK_MSG(bad == 1, "after the crash: %llu bad (1 flipped on purpose)", (unsigned long long)bad);

    /* several processes adding overlapping content at once, one of them
     * running gc: no damaged block, every DAG complete afterwards */
    uint8_t *shared = malloc(1 << 20);
    fill(shared, 1 << 20, 77);
    ia_cid rs;
    CHECK_OK(ia_unixfs_add_bytes(shared, 1 << 20, NULL, NULL, &rs));
    pid_t kids[3];
    for (int k = 0; k < 3; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            ia_blockstore *kbs;
            if (ia_blockstore_open(home, &kbs))
                _exit(1);
            ia_block_sink ks;
            ia_blockstore_sink(kbs, &ks);
            ia_cid kr;
            int bad_exit = 0;
            for (int round = 0; round < 3; round++) {
                if (ia_unixfs_add_bytes(shared, 1 << 20, NULL, &ks, &kr))
                    bad_exit = 1;
                if (k == 2) {
                    ia_gc_result gr;
                    ia_status gst = ia_blockstore_gc(kbs, 0, 3600, &gr);
                    if (gst && gst != IA_ERR_IO)
                        bad_exit = 1;
                }
            }
            ia_blockstore_close(kbs);
            _exit(bad_exit);
        }
    }
    for (int k = 0; k < 3; k++) {
        int wst = 0;
        waitpid(kids[k], &wst, 0);
        CHECK_MSG(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "concurrent adder %d failed", k);
    }
    damaged = 0;
    CHECK_OK(ia_blockstore_verify(bs, on_damage, &damaged, &ok, &bad));
    CHECK_MSG(bad == 1, "after concurrent adds: %llu bad (1 flipped on purpose)", (unsigned long long)bad);
    cur = shared;
    CHECK_OK(ia_unixfs_cat(&src, &rs, 0, UINT64_MAX, cmp_write, &cur));
    free(shared);

    /* a model folder by CID: add a tree, materialize it from the store */
    char tree[128];
    snprintf(tree, sizeof tree, "%s-tree", home);
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/1_Pooling && echo '{\"model_type\":\"bert\"}' > %s/config.json && "
             "head -c 700000 /dev/urandom > %s/model.safetensors && echo '{}' > %s/1_Pooling/config.json",
             tree, tree, tree, tree);
    CHECK(system(cmd) == 0);
    ia_cid model;
    CHECK_OK(ia_unixfs_add_path(tree, true, NULL, &sink, NULL, NULL, &model));
    setenv("IPFS_ACCELERATE_HOME", home, 1);
    setenv("IPFS_ACCELERATE_IPFS_GATEWAYS", "", 1); /* nothing outside this machine */
    setenv("IPFS_ACCELERATE_IPFS_LOCAL_NODE", "", 1);
    unsetenv("IPFS_ACCELERATE_ROUTERS");
    char ref[200], cs[IA_CID_STR_MAX];
    snprintf(ref, sizeof ref, "ipfs://%s", ia_cid_str(&model, cs));
    CHECK(ia_ipfs_is_ref(ref) && !ia_ipfs_is_ref(tree));
    char *mp = NULL;
    CHECK_OK(ia_ipfs_materialize_ref(ref, &mp));
    if (mp) {
        snprintf(cmd, sizeof cmd, "diff -r %s %s", tree, mp);
        CHECK(system(cmd) == 0);
        ia_blockstore_free(mp);
        mp = NULL;
    }
    CHECK_OK(ia_ipfs_materialize_ref(ref, &mp)); /* second time: reused */
    ia_blockstore_free(mp);
    snprintf(ref, sizeof ref, "/ipfs/%s/1_Pooling", cs);
    CHECK_OK(ia_ipfs_materialize_ref(ref, &mp));
    if (mp) {
        snprintf(cmd, sizeof cmd, "diff -r %s/1_Pooling %s", tree, mp);
        CHECK(system(cmd) == 0);
        ia_blockstore_free(mp);
    }
    CHECK(ia_ipfs_materialize_ref("ipfs://notacid", &mp) != IA_OK);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tree);
    CHECK(system(cmd) == 0);

    free(a);
    free(b);
    free(c);
    ia_blockstore_close(bs);
    snprintf(cmd, sizeof cmd, "rm -rf %s", home);
    CHECK(system(cmd) == 0);
    return test_summary("test_store");
}
