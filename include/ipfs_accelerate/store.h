/*
 * The content store: where blocks live and where they are fetched from.
 *
 * ia_blockstore is the on-disk layer under $IPFS_ACCELERATE_HOME (default
 * ~/.ipfs_accelerate): blocks/<shard>/<KEY>.data like kubo's flatfs
 * (KEY = base32 of the multihash, shard = its next-to-last two
 * characters), each written atomically (temp file, fsync, rename) so a
 * crash never leaves a partial block under a real name, and several
 * processes can share one store. Pins protect blocks (recursively: a
 * whole DAG) from garbage collection; gc removes unpinned blocks least
 * recently used first until the store fits a size cap.
 *
 * ia_store layers the retrieval order: memory cache, blockstore, a kubo
 * node's RPC API (when configured), then trustless HTTP gateways (from
 * configuration and from Delegated Routing V1 providers). Every block is
 * hashed and checked against its CID before it is used or stored; a
 * source that serves wrong bytes is skipped and the next one tried.
 *
 * Thread safety: an ia_blockstore may be used from several threads; an
 * ia_store's block source may be called from several threads.
 */
#ifndef IPFS_ACCELERATE_STORE_H
#define IPFS_ACCELERATE_STORE_H

#include <stdbool.h>

#include "cid.h"
#include "config.h"
#include "unixfs.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ia_blockstore ia_blockstore;
typedef struct ia_store ia_store;

/* The store's home: $IPFS_ACCELERATE_HOME, else ~/.ipfs_accelerate. Into
 * buf (cap bytes). */
IA_API ia_status ia_store_home(char *buf, size_t cap);

/* Open (and create if needed) the blockstore under home (NULL: the
 * default home). */
IA_API ia_status ia_blockstore_open(const char *home, ia_blockstore **out);
IA_API void ia_blockstore_close(ia_blockstore *bs);
/* The home directory; borrowed. */
IA_API const char *ia_blockstore_home(const ia_blockstore *bs);

/* Store a block after checking it against cid (IA_ERR_VERIFY otherwise).
 * Storing a block that is already there only refreshes its use time. */
IA_API ia_status ia_blockstore_put(ia_blockstore *bs, const ia_cid *cid, const uint8_t *data,
                                   size_t len);
/* Read and verify a block; *data is allocated (free with
 * ia_blockstore_free). IA_ERR_NOT_FOUND if absent, IA_ERR_VERIFY if the
 * file is damaged. */
IA_API ia_status ia_blockstore_get(ia_blockstore *bs, const ia_cid *cid, uint8_t **data,
                                   size_t *len);
IA_API void ia_blockstore_free(void *p);
IA_API bool ia_blockstore_has(ia_blockstore *bs, const ia_cid *cid);
IA_API ia_status ia_blockstore_delete(ia_blockstore *bs, const ia_cid *cid);

/* Adapters for the importer and exporter. */
IA_API void ia_blockstore_sink(ia_blockstore *bs, ia_block_sink *sink);
IA_API void ia_blockstore_source(ia_blockstore *bs, ia_block_source *src);

/* ---- pins ---- */

/* Pin cid; recursive pins also protect every block reachable from it. */
IA_API ia_status ia_pin_add(ia_blockstore *bs, const ia_cid *cid, bool recursive);
IA_API ia_status ia_pin_rm(ia_blockstore *bs, const ia_cid *cid);
typedef ia_status (*ia_pin_fn)(void *ctx, const ia_cid *cid, bool recursive);
IA_API ia_status ia_pin_ls(ia_blockstore *bs, ia_pin_fn fn, void *ctx);

/* ---- maintenance ---- */

typedef struct ia_store_stat {
    uint64_t blocks, bytes;   /* blocks stored and their total size */
    uint64_t pins;
} ia_store_stat;

IA_API ia_status ia_blockstore_stat(ia_blockstore *bs, ia_store_stat *out);

typedef struct ia_gc_result {
    uint64_t removed_blocks, removed_bytes;
    uint64_t kept_blocks, kept_bytes;
} ia_gc_result;

/* Remove unpinned blocks, least recently used first, until the store
 * holds at most max_bytes (0: remove every unpinned block). Blocks used
 * within the last grace_s seconds are kept (an add in progress elsewhere
 * has not pinned its blocks yet). One gc at a time per home. */
IA_API ia_status ia_blockstore_gc(ia_blockstore *bs, uint64_t max_bytes, double grace_s,
                                  ia_gc_result *out);

/* Re-hash every block. damaged (may be NULL) is called for each bad one
 * with its file path and the problem; stray temporary files from
 * interrupted writes are removed. *n_bad gets the count. */
typedef void (*ia_verify_fn)(void *ctx, const char *path, const char *problem);
IA_API ia_status ia_blockstore_verify(ia_blockstore *bs, ia_verify_fn damaged, void *ctx,
                                      uint64_t *n_ok, uint64_t *n_bad);

/* ---- the layered store (memory, blockstore, kubo RPC, gateways) ---- */

/* Unset fields (NULL, 0) take the configuration's values (config.h:
 * command line > IPFS_ACCELERATE_<SECTION>_<KEY> > config files >
 * defaults): ipfs.local_node, ipfs.gateways, ipfs.timeout,
 * performance.parallel_requests, performance.cache_size. An empty string
 * disables a layer. */
/* Every field's zero value is its default; size is the caller's sizeof
 * (ia_store_options_init sets it; 0: this header's), so the struct can
 * grow. NULL options: all defaults. */
typedef struct ia_store_options {
    size_t size;
    const char *home;       /* blockstore home; NULL: ia_store_home() */
    const char *kubo_rpc;   /* kubo RPC base URL ("http://127.0.0.1:5001") */
    const char *gateways;   /* trustless gateway base URLs, comma-separated */
    const char *routers;    /* Delegated Routing V1 base URLs, comma-separated;
                               NULL: $IPFS_ACCELERATE_ROUTERS, else none */
    double timeout_s;       /* per HTTP request; 0: ipfs.timeout, else 30 s */
    int retries;            /* extra tries per source on timeouts and 5xx; 0: 2;
                               IA_STORE_NO_RETRIES: none */
    int parallel;           /* blocks fetched at once; 0: from the configuration, else 8 */
    size_t memory_bytes;    /* memory cache; 0: performance.cache_size, else 64 MiB */
    bool offline;           /* memory and blockstore only (no configuration read) */
    const ia_config *config; /* NULL: ia_config_load() defaults, files, environment */
} ia_store_options;

#define IA_STORE_NO_RETRIES (-1)

IA_API void ia_store_options_init(ia_store_options *o);
IA_API ia_status ia_store_open(const ia_store_options *o, ia_store **out);
IA_API void ia_store_close(ia_store *s);
/* True when a network layer (kubo RPC, gateways, routers) is configured
 * and the store is not offline. */
IA_API bool ia_store_online(const ia_store *s);
/* The store's blockstore; borrowed. */
IA_API ia_blockstore *ia_store_blockstore(ia_store *s);

/* Get a block through the layers, verified; a block fetched from the
 * network is written to the blockstore. *data allocated (ia_blockstore_free).
 * IA_ERR_NOT_FOUND (detail lists what was tried) when no layer has it. */
IA_API ia_status ia_store_get(ia_store *s, const ia_cid *cid, uint8_t **data, size_t *len);
/* A block source over ia_store_get (thread-safe). */
IA_API void ia_store_source(ia_store *s, ia_block_source *src);

/* Make every block of the DAG under root local: one CAR request per
 * gateway first (each block verified; a gateway that lies is dropped),
 * then the missing blocks one by one, `parallel` at a time. *n_fetched
 * (may be NULL) gets the number of blocks that came from the network. */
IA_API ia_status ia_store_fetch_dag(ia_store *s, const ia_cid *root, uint64_t *n_fetched);

/* Fetch the DAG and write it out as files under
 * <home>/materialized/<CIDv1> (once; later calls reuse it). *path is
 * allocated (ia_blockstore_free). The way `--model ipfs://CID` loads. */
IA_API ia_status ia_store_materialize(ia_store *s, const ia_cid *root, char **path);

/* Parse "ipfs://CID[/path]", "/ipfs/CID[/path]" or a bare CID: *cid gets
 * the root, *subpath (may be NULL) the rest ("" if none; borrowed from ref). */
IA_API ia_status ia_ipfs_ref_parse(const char *ref, ia_cid *cid, const char **subpath);

/* True for "ipfs://..." and "/ipfs/..." model references. */
IA_API bool ia_ipfs_is_ref(const char *ref);
/* The one call a model loader needs: open the store as configured by the
 * environment (IPFS_ACCELERATE_HOME, _GATEWAYS, _KUBO_RPC, _ROUTERS),
 * resolve ref ("ipfs://CID[/path]" or "/ipfs/CID[/path]"), fetch its DAG
 * with every block verified and materialize it; *path (allocated, free
 * with ia_blockstore_free) is the local folder or file. */
IA_API ia_status ia_ipfs_materialize_ref(const char *ref, char **path);

/* ---- kubo RPC client (POST only, as kubo requires) ---- */

/* POST {rpc}/api/v0/block/get?arg=CID; the bytes are verified. */
IA_API ia_status ia_kubo_block_get(const char *rpc, const ia_cid *cid, double timeout_s,
                                   uint8_t **data, size_t *len);
/* POST {rpc}/api/v0/block/put (multipart) with the CID's codec and hash;
 * fails with IA_ERR_VERIFY if kubo reports a different CID. */
IA_API ia_status ia_kubo_block_put(const char *rpc, const ia_cid *cid, const uint8_t *data,
                                   size_t len, double timeout_s);

#ifdef __cplusplus
}
#endif
#endif
