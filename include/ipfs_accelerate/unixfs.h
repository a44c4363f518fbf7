/*
 * UnixFS: files and directories as IPLD DAGs, byte-compatible with kubo's
 * `ipfs add` (same CIDs for the same input and options) and readable back
 * with full verification.
 *
 * Storage is not this module's business: the importer hands every block it
 * makes to an ia_block_sink, and the exporter asks an ia_block_source for
 * the blocks it needs. A blockstore, a CAR file or a network client plugs
 * in by filling one of these small tables.
 *
 * Importer: streams. A file is read chunk by chunk, each chunk hashed once
 * where it was read; memory stays bounded by the chunk size and the DAG
 * depth, never by the file size. Regular files of 8 chunks or more have
 * their leaves hashed on all cores (same DAG, same order of sink calls).
 * Directories are walked in byte order of their entry names; dotfiles are
 * skipped unless opts.hidden.
 *
 * Exporter: verifies every block it reads against its CID before using it
 * and reports a missing block as IA_ERR_NOT_FOUND naming the CID: it never
 * fills in content it could not read.
 *
 * Thread safety: independent calls may run on different threads; a sink or
 * source is only called from the thread that called into this module.
 * (SHA-256 of leaves may run on helper threads; sink calls never do.)
 */
#ifndef IPFS_ACCELERATE_UNIXFS_H
#define IPFS_ACCELERATE_UNIXFS_H

#include <stdbool.h>
#include <stdio.h>

#include "cid.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- block interfaces ---- */

/* Where new blocks go. put() is called once per block the importer makes
 * (a block repeated in the DAG, such as identical chunks, may be put more
 * than once); data is only valid during the call. A failure stops the
 * import and is returned from it. */
typedef struct ia_block_sink {
    ia_status (*put)(void *ctx, const ia_cid *cid, const uint8_t *data, size_t len);
    void *ctx;
} ia_block_sink;

/* Where blocks come from. get() returns IA_ERR_NOT_FOUND for a block it
 * does not have; on success *data and *len stay valid until release(ctx,
 * *data) is called, or, when release is NULL, as long as the source lives.
 * The caller verifies the bytes against the CID; the source need not. */
typedef struct ia_block_source {
    ia_status (*get)(void *ctx, const ia_cid *cid, const uint8_t **data, size_t *len);
    void (*release)(void *ctx, const uint8_t *data); /* optional */
    void *ctx;
} ia_block_source;

/* ---- the UnixFS Data message (inside a dag-pb node's Data) ---- */

typedef enum ia_unixfs_type {
    IA_UNIXFS_RAW = 0,
    IA_UNIXFS_DIRECTORY = 1,
    IA_UNIXFS_FILE = 2,
    IA_UNIXFS_METADATA = 3,
    IA_UNIXFS_SYMLINK = 4,
    IA_UNIXFS_HAMT_SHARD = 5,
} ia_unixfs_type;

typedef struct ia_unixfs_data {
    ia_unixfs_type type;
    const uint8_t *data; /* borrowed from the decoded bytes; NULL if absent */
    size_t data_len;
    uint64_t filesize;
    uint64_t *blocksizes; /* n_blocksizes, owned (ia_unixfs_data_clear) */
    size_t n_blocksizes;
    uint64_t hash_type;
    uint64_t fanout;
    uint32_t mode;
    int64_t mtime_seconds;
    uint32_t mtime_nanos;
    bool has_data, has_filesize, has_hash_type, has_fanout, has_mode, has_mtime,
        has_mtime_nanos;
} ia_unixfs_data;

/* Decode a UnixFS Data message. Rejects wrong wire types, duplicated
 * singular fields and a missing Type; unknown fields are skipped. */
IA_API ia_status ia_unixfs_data_decode(const uint8_t *bytes, size_t len, ia_unixfs_data *out);
IA_API void ia_unixfs_data_clear(ia_unixfs_data *d);

/* ---- importer ---- */

typedef enum ia_unixfs_layout {
    IA_UNIXFS_BALANCED = 0, /* kubo's default */
    IA_UNIXFS_TRICKLE = 1,  /* `ipfs add --trickle` */
} ia_unixfs_layout;

/* How a directory's size is estimated for the HAMT sharding decision
 * (kubo's Import.UnixFSHAMTDirectorySizeEstimation). */
typedef enum ia_hamt_estimation {
    IA_HAMT_EST_LINKS = 0,    /* kubo default: sum of len(name) + CID bytes */
    IA_HAMT_EST_BLOCK = 1,    /* exact serialized size of the directory block */
    IA_HAMT_EST_DISABLED = 2, /* never shard */
} ia_hamt_estimation;

typedef enum ia_raw_leaves {
    IA_RAW_LEAVES_AUTO = 0, /* as kubo: on for CIDv1, off for v0 */
    IA_RAW_LEAVES_ON = 1,
    IA_RAW_LEAVES_OFF = 2,
} ia_raw_leaves;

/* Every field's zero value is kubo's `ipfs add` default; size is the
 * caller's sizeof (ia_unixfs_options_init sets it; 0: this header's), so
 * the struct can grow. NULL options: all defaults. */
typedef struct ia_unixfs_options {
    size_t size;
    int cid_version;          /* 0 (default) or 1 */
    ia_raw_leaves raw_leaves;
    size_t chunk_size;        /* bytes per leaf; 0: 262144; at most 2 MiB - 256 */
    unsigned max_links;       /* links per file node; 0: 174 */
    ia_unixfs_layout layout;
    bool hidden;              /* include names starting with '.' */
    size_t hamt_threshold;    /* bytes; 0: 262144; shard when estimate > it */
    unsigned hamt_fanout;     /* power of two, 8..1024; 0: 256 */
    ia_hamt_estimation hamt_estimation;
} ia_unixfs_options;

/* kubo `ipfs add` defaults (all zero) with the size set. */
IA_API void ia_unixfs_options_init(ia_unixfs_options *opts);

/* Called for every file, symlink and directory added, in kubo's order
 * (files as they are imported, then directories, children first). path is
 * relative to the added path's parent, like kubo prints it. */
typedef void (*ia_unixfs_added_fn)(void *user, const char *path, const ia_cid *cid,
                                   uint64_t size);

/* Reads up to cap bytes; returns the count, 0 at end, or -1 on error. */
typedef long (*ia_read_fn)(void *ctx, uint8_t *buf, size_t cap);

/* Import a stream as a file. sink NULL computes CIDs only (`--only-hash`).
 * *root gets the file's CID; *size (may be NULL) its byte count. */
IA_API ia_status ia_unixfs_add_stream(ia_read_fn read, void *read_ctx,
                                      const ia_unixfs_options *opts,
                                      const ia_block_sink *sink, ia_cid *root,
                                      uint64_t *size);

/* Import bytes in memory as a file. */
IA_API ia_status ia_unixfs_add_bytes(const uint8_t *data, size_t len,
                                     const ia_unixfs_options *opts,
                                     const ia_block_sink *sink, ia_cid *root);

/* Import a file, symlink or (recursively) directory from the file system.
 * A directory requires recursive (IA_ERR_INVALID otherwise, like kubo
 * without -r). added (may be NULL) reports each entry. */
IA_API ia_status ia_unixfs_add_path(const char *path, bool recursive,
                                    const ia_unixfs_options *opts,
                                    const ia_block_sink *sink,
                                    ia_unixfs_added_fn added, void *user,
                                    ia_cid *root);

/* ---- exporter ---- */

typedef struct ia_unixfs_stat {
    ia_unixfs_type type;   /* IA_UNIXFS_RAW for a raw-codec block */
    uint64_t size;         /* file bytes; symlink target length; 0 for dirs */
    uint64_t block_size;   /* bytes of the root block */
    uint64_t cumulative;   /* block size + Tsize of all links */
    size_t n_links;
} ia_unixfs_stat;

IA_API ia_status ia_unixfs_stat_cid(const ia_block_source *src, const ia_cid *cid,
                                    ia_unixfs_stat *out);

/* Receives file bytes in order; a non-OK return stops the export. */
typedef ia_status (*ia_write_fn)(void *ctx, const uint8_t *data, size_t len);

/* Write bytes [offset, offset+length) of the file at cid (length
 * UINT64_MAX: to the end). Only the blocks that hold the range are read. */
IA_API ia_status ia_unixfs_cat(const ia_block_source *src, const ia_cid *cid,
                               uint64_t offset, uint64_t length,
                               ia_write_fn write, void *ctx);

/* One directory entry. */
typedef struct ia_unixfs_entry {
    const char *name; /* NUL-terminated, borrowed for the call */
    ia_cid cid;
    uint64_t tsize;
} ia_unixfs_entry;

typedef ia_status (*ia_unixfs_entry_fn)(void *ctx, const ia_unixfs_entry *entry);

/* List a directory (plain or HAMT-sharded); entries of a plain directory
 * come in link order, those of a sharded one in shard order. */
IA_API ia_status ia_unixfs_ls(const ia_block_source *src, const ia_cid *dir,
                              ia_unixfs_entry_fn fn, void *ctx);

/* Follow a slash-separated path of names from root ("a/b/c"; "" is the
 * root itself) through plain and sharded directories. */
IA_API ia_status ia_unixfs_resolve(const ia_block_source *src, const ia_cid *root,
                                   const char *path, ia_cid *out);

/* Write the file, symlink or directory tree at cid to dest (which must not
 * exist). Names that are empty, ".", "..", or contain '/' are rejected. */
IA_API ia_status ia_unixfs_get(const ia_block_source *src, const ia_cid *cid,
                               const char *dest);

#ifdef __cplusplus
}
#endif
#endif
