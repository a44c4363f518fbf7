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

#ifdef __cplusplus
}
#endif
#endif
