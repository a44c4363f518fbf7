/*
 * CAR (Content Addressable aRchive) files: a header naming root CIDs and a
 * sequence of (CID, block) sections. Reads CARv1 and CARv2 (whose inner
 * CARv1 payload is used; its index is ignored and rebuilt in memory);
 * writes CARv1. https://ipld.io/specs/transport/car/
 *
 * The reader checks every block against its CID as it reads it
 * (IA_ERR_VERIFY names the CID). A CAR need not hold a complete DAG: the
 * block source of a reader returns IA_ERR_NOT_FOUND for absent blocks, so
 * an export from it stops at the first missing block.
 *
 * A reader or writer is used from one thread at a time.
 */
#ifndef IPFS_ACCELERATE_CAR_H
#define IPFS_ACCELERATE_CAR_H

#include <stdbool.h>

#include "cid.h"
#include "unixfs.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ia_car_reader ia_car_reader;
typedef struct ia_car_writer ia_car_writer;

/* Open a CAR file and read its header. */
IA_API ia_status ia_car_open(const char *path, ia_car_reader **out);
/* Read a CAR from memory; bytes must outlive the reader (not copied). */
IA_API ia_status ia_car_open_mem(const uint8_t *bytes, size_t len, ia_car_reader **out);
IA_API void ia_car_close(ia_car_reader *r);

/* 1 or 2. */
IA_API int ia_car_version(const ia_car_reader *r);
/* Root CIDs from the (inner v1) header; borrowed. */
IA_API const ia_cid *ia_car_roots(const ia_car_reader *r, size_t *n);

/* Next block in file order. On success with *done false, *cid, *data and
 * *len describe a verified block; *data is valid until the next call.
 * *done true at the end. A block whose hash function we cannot compute
 * fails with IA_ERR_UNSUPPORTED naming its CID. */
IA_API ia_status ia_car_next(ia_car_reader *r, ia_cid *cid, const uint8_t **data,
                             size_t *len, bool *done);
/* Start again at the first block. */
IA_API ia_status ia_car_rewind(ia_car_reader *r);

/* Index every block (one pass; verifies each) and fill *src with a source
 * that serves them by CID. The source is valid while the reader is open.
 * *n_blocks (may be NULL) gets the number of distinct blocks. */
IA_API ia_status ia_car_block_source(ia_car_reader *r, ia_block_source *src,
                                     size_t *n_blocks);

/* Create a CARv1 file. With n_roots 0 the roots are given later to
 * ia_car_writer_finish (blocks are then spooled to a temporary file
 * beside path and copied after the header). */
IA_API ia_status ia_car_writer_open(const char *path, const ia_cid *roots, size_t n_roots,
                                    ia_car_writer **out);
/* Append a block; a CID already written is skipped. */
IA_API ia_status ia_car_writer_put(ia_car_writer *w, const ia_cid *cid,
                                   const uint8_t *data, size_t len);
/* A sink that calls ia_car_writer_put. */
IA_API void ia_car_writer_sink(ia_car_writer *w, ia_block_sink *sink);
/* Write the header (when roots were deferred), flush and close. roots may
 * be NULL when they were given to open. Frees w. */
IA_API ia_status ia_car_writer_finish(ia_car_writer *w, const ia_cid *roots, size_t n_roots);
/* Abandon: close and delete the file. Frees w; NULL is a no-op. */
IA_API void ia_car_writer_abort(ia_car_writer *w);

/* Write every block reachable from root (dag-pb, raw and dag-cbor links
 * are followed; depth-first, each block once, as `ipfs dag export`) to a
 * new CARv1 at path with root as its only root. A missing block fails
 * with IA_ERR_NOT_FOUND and removes the partial file. */
IA_API ia_status ia_car_export(const ia_block_source *src, const ia_cid *root,
                               const char *path, size_t *n_blocks);

#ifdef __cplusplus
}
#endif
#endif
