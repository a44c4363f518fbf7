/*
 * Internals shared by the IPFS format code (src/ipfs/): unsigned varints,
 * SHA-256, a growable byte buffer with protobuf writers, the minimal
 * dag-cbor needed for CAR headers and link walking, and murmur3 for HAMT
 * directories. Never installed.
 */
#ifndef IA_IPFS_IMPL_H
#define IA_IPFS_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/core-impl.h"
#include "ipfs_accelerate/cid.h"
#include "ipfs_accelerate/dagpb.h"
#include "ipfs_accelerate/unixfs.h"

/* ---- varints ---- */

#define IA_VARINT_MAX 10

/* Write v as an unsigned LEB128 varint; returns the byte count (1..10). */
size_t ia__varint_put(uint8_t *buf, uint64_t v);
size_t ia__varint_len(uint64_t v);
/* Multiformats unsigned-varint: at most 9 bytes, minimal encoding. Returns
 * bytes consumed, or 0 if truncated, overlong or not minimal. */
size_t ia__uvarint_get(const uint8_t *b, size_t n, uint64_t *v);
/* Protobuf varint: up to 10 bytes, 64-bit. Returns bytes consumed or 0. */
size_t ia__pb_varint_get(const uint8_t *b, size_t n, uint64_t *v);

/* ---- hashing ---- */

void ia__sha256(const uint8_t *data, size_t len, uint8_t out[32]);
/* MurmurHash3 x64 128, seed 0: the first 64-bit half, big-endian (as the
 * UnixFS HAMT's "murmur3-x64-64" hash). */
void ia__murmur3_x64_64(const uint8_t *data, size_t len, uint8_t out[8]);
/* HAMT placement: `bits` bits of an 8-byte hash from bit `at`, most
 * significant first (boxo's hashBits.Next). */
unsigned ia__hamt_index(const uint8_t h[8], unsigned at, unsigned bits);
/* Hex digits of a HAMT link-name prefix: those of fanout-1 (2 for 256). */
int ia__hamt_pad(uint64_t fanout);

/* A callback over CIDs (links of a block, ...). */
typedef ia_status (*ia__cid_fn_t)(void *ctx, const ia_cid *cid);

/* ---- byte buffer ---- */

typedef struct ia__buf {
    uint8_t *p;
    size_t len, cap;
} ia__buf;

ia_status ia__buf_reserve(ia__buf *b, size_t extra);
ia_status ia__buf_put(ia__buf *b, const void *data, size_t len);
ia_status ia__buf_varint(ia__buf *b, uint64_t v);
/* Protobuf field helpers: tag (field << 3 | wire type), then the value. */
ia_status ia__buf_pb_varint(ia__buf *b, unsigned field, uint64_t v);
ia_status ia__buf_pb_bytes(ia__buf *b, unsigned field, const void *data, size_t len);
void ia__buf_free(ia__buf *b);

/* ---- multibase / CIDs ---- */

/* ia_multibase_decode over n characters (no NUL needed). */
/* ia_multibase_encode without clearing the error detail (for the library's
 * own callers, which may be writing a message). */
ia_status ia__multibase_encode(ia_multibase base, const uint8_t *data, size_t len, char *out, size_t cap);
ia_status ia__multibase_decode_n(const char *text, size_t n, uint8_t *out, size_t cap,
                                 size_t *len, ia_multibase *base);

/* Write the binary CID (no checks; buf holds IA_CID_MAX_BYTES). */
size_t ia__cid_put(const ia_cid *cid, uint8_t *buf);
/* Get a block's bytes from a source and verify them against cid. Identity
 * CIDs are answered from the CID itself without asking the source. Pass
 * the bytes back to ia__block_release when done. */
ia_status ia__block_get(const ia_block_source *src, const ia_cid *cid,
                        const uint8_t **data, size_t *len);
void ia__block_release(const ia_block_source *src, const ia_cid *cid, const uint8_t *data);

/* ---- UnixFS Data encoding (importer) ---- */

/* Encode a UnixFS Data message with the fields kubo writes. */
ia_status ia__unixfs_data_encode(ia__buf *b, const ia_unixfs_data *d);

/* ---- CID hash map: CID -> two 64-bit values (offsets, sizes, flags) ---- */

typedef struct ia__cidmap_slot {
    ia_cid key;
    uint64_t a, b;
    bool used;
} ia__cidmap_slot;

typedef struct ia__cidmap {
    ia__cidmap_slot *slots;
    size_t cap, n; /* cap is 0 or a power of two */
} ia__cidmap;

/* Insert or overwrite; *existed (may be NULL) says whether it was there. */
ia_status ia__cidmap_put(ia__cidmap *m, const ia_cid *c, uint64_t a, uint64_t b, bool *existed);
bool ia__cidmap_get(const ia__cidmap *m, const ia_cid *c, uint64_t *a, uint64_t *b);
/* Remove; false if it was not there. */
bool ia__cidmap_del(ia__cidmap *m, const ia_cid *c);
void ia__cidmap_free(ia__cidmap *m);

/* ---- walking a DAG's links (dag-pb, raw, dag-cbor) ---- */

/* Call fn for each link of the block (none for raw). */
ia_status ia__block_links(const ia_cid *cid, const uint8_t *b, size_t n, ia__cid_fn_t fn, void *ctx);

/* What of a DAG to send (the trustless gateway's dag-scope). */
typedef enum ia__dag_scope {
    IA_SCOPE_ALL = 0,    /* every block reachable */
    IA_SCOPE_ENTITY = 1, /* the file (all its blocks) or the directory node(s) alone */
    IA_SCOPE_BLOCK = 2,  /* the root block only */
} ia__dag_scope;

/* Write a CARv1 (header with root, then blocks depth-first in link order,
 * each once, verified) through write. A missing block fails with
 * IA_ERR_NOT_FOUND after whatever was written. */
typedef ia_status (*ia__write_fn)(void *ctx, const uint8_t *p, size_t n);
ia_status ia__car_stream(const ia_block_source *src, const ia_cid *root, ia__dag_scope scope,
                         ia__write_fn write, void *ctx, size_t *n_blocks);
/* The same with a header root different from the streamed DAG's root and
 * some blocks first (the blocks of a path from header_root to root). */
ia_status ia__car_stream_ex(const ia_block_source *src, const ia_cid *header_root,
                            const ia_cid *pre, size_t n_pre, const ia_cid *root,
                            ia__dag_scope scope, ia__write_fn write, void *ctx, size_t *n_blocks);

/* ---- HTTP client (libcurl) ---- */

typedef struct ia__http_resp {
    long status;  /* HTTP status; 0 when no response came */
    ia__buf body; /* the body, unless file was set */
    FILE *file;   /* set by the caller: the body is written here instead */
    char content_type[128];
} ia__http_resp;

/* One request; out must be zero-initialized except for file. accept may be NULL. With multipart_field set the body is
 * sent as multipart/form-data in that field. A body larger than max_bytes
 * aborts the transfer (IA_ERR_FORMAT). A timeout gives IA_ERR_TIMEOUT, a
 * connection failure IA_ERR_IO; any HTTP status is IA_OK (check status).
 * Free out->body with ia__buf_free. */
ia_status ia__http(const char *method, const char *url, const char *accept, const uint8_t *body,
                   size_t body_len, const char *multipart_field, double timeout_s,
                   size_t max_bytes, ia__http_resp *out);

/* ---- dag-cbor (CAR headers, link walking) ---- */

/* Parse a CARv1 header body (dag-cbor map {roots: [CID...], version: 1}):
 * *version gets the version; roots (owned, ia__free) and *n_roots are
 * filled when present. A header with version 2 is returned as such (the
 * CARv2 pragma) with no roots. */
ia_status ia__car_header_decode(const uint8_t *b, size_t n, uint64_t *version,
                                ia_cid **roots, size_t *n_roots);
ia_status ia__car_header_encode(ia__buf *b, const ia_cid *roots, size_t n_roots);

/* Call fn for every CID (tag 42) in a dag-cbor block. Fails on malformed
 * CBOR or nesting deeper than 64. */
ia_status ia__cbor_links(const uint8_t *b, size_t n, ia__cid_fn_t fn, void *ctx);

#endif
