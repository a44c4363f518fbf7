/*
 * Content identifiers: multibase text encodings, multihashes and CIDs
 * (v0 and v1), the addressing layer every other IPFS piece builds on.
 *
 * An ia_cid is a plain value (copy it with `=`): version, codec and the
 * multihash it names. Parsing checks the whole input and fails with
 * IA_ERR_FORMAT and a detail naming the input; formatting never allocates.
 * All functions here are thread-safe.
 */
#ifndef IPFS_ACCELERATE_CID_H
#define IPFS_ACCELERATE_CID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Multicodec codes of the codecs we handle. */
#define IA_CODEC_RAW 0x55
#define IA_CODEC_DAG_PB 0x70
#define IA_CODEC_DAG_CBOR 0x71
#define IA_CODEC_LIBP2P_KEY 0x72
#define IA_CODEC_DAG_JSON 0x0129

/* Multihash function codes. Only these two can be computed and verified;
 * others parse and format but verification reports IA_ERR_UNSUPPORTED. */
#define IA_MH_IDENTITY 0x00
#define IA_MH_SHA2_256 0x12

/* Longest digest an ia_cid holds (identity CIDs inline data as the
 * "digest"; longer ones are rejected with IA_ERR_UNSUPPORTED). */
#define IA_CID_MAX_DIGEST 64
/* Longest binary CID: version + codec + mh code + mh length + digest. */
#define IA_CID_MAX_BYTES (4 * 9 + IA_CID_MAX_DIGEST)
/* Buffer size that holds any formatted CID with its NUL (base16 is widest). */
#define IA_CID_STR_MAX (2 + 2 * IA_CID_MAX_BYTES + 1)

typedef enum ia_multibase {
    IA_MULTIBASE_DEFAULT = 0,  /* formatting: v0 → base58btc (no prefix), v1 → base32 */
    IA_MULTIBASE_BASE58BTC = 'z',
    IA_MULTIBASE_BASE32 = 'b',    /* RFC 4648 lower case, no padding */
    IA_MULTIBASE_BASE32_UPPER = 'B',
    IA_MULTIBASE_BASE16 = 'f',    /* lower-case hex */
    IA_MULTIBASE_BASE16_UPPER = 'F',
    IA_MULTIBASE_BASE64URL = 'u', /* RFC 4648 URL alphabet, no padding */
} ia_multibase;

typedef struct ia_cid {
    uint8_t version;  /* 0 or 1 */
    uint64_t codec;   /* IA_CODEC_*; always IA_CODEC_DAG_PB for v0 */
    uint64_t mh_code; /* IA_MH_*; always IA_MH_SHA2_256 for v0 */
    uint8_t mh_len;   /* digest length in bytes */
    uint8_t digest[IA_CID_MAX_DIGEST];
} ia_cid;

/* ---- multibase ---- */

/* Encode len bytes with the base's prefix character into out (cap bytes,
 * NUL-terminated). IA_ERR_INVALID if the base is unknown or out too small. */
IA_API ia_status ia_multibase_encode(ia_multibase base, const uint8_t *data, size_t len,
                                     char *out, size_t cap);
/* Decode a multibase string (prefix + text) into out (cap bytes); *len gets
 * the decoded length and *base (may be NULL) the base. Accepts
 * base58btc, base32 (either case, no padding), base16 (either case) and
 * base64url; IA_ERR_FORMAT names the first bad character. */
IA_API ia_status ia_multibase_decode(const char *text, uint8_t *out, size_t cap,
                                     size_t *len, ia_multibase *base);

/* ---- multihash ---- */

/* Compute the multihash code (IA_MH_SHA2_256 or IA_MH_IDENTITY) of data
 * into a CID's mh_code/mh_len/digest; version and codec are left alone. */
IA_API ia_status ia_multihash_sum(uint64_t mh_code, const uint8_t *data, size_t len,
                                  ia_cid *cid);

/* ---- CID ---- */

/* Make a CID of version 0 or 1 with the given codec and hash function over
 * data. v0 requires dag-pb and sha2-256 (IA_ERR_INVALID otherwise). */
IA_API ia_status ia_cid_sum(int version, uint64_t codec, uint64_t mh_code,
                            const uint8_t *data, size_t len, ia_cid *out);

/* Parse a text CID: v0 ("Qm..." base58btc, 46 characters) or a multibase
 * v1. Trailing characters are an error. */
IA_API ia_status ia_cid_parse(const char *text, ia_cid *out);

/* Parse a binary CID from the start of bytes. With consumed NULL the CID
 * must fill all len bytes; otherwise *consumed gets its length. */
IA_API ia_status ia_cid_from_bytes(const uint8_t *bytes, size_t len, ia_cid *out,
                                   size_t *consumed);

/* Length of the binary form. */
IA_API size_t ia_cid_byte_len(const ia_cid *cid);

/* Write the binary form into buf (cap bytes); *len gets its length.
 * IA_ERR_INVALID if cap is too small (IA_CID_MAX_BYTES always suffices). */
IA_API ia_status ia_cid_to_bytes(const ia_cid *cid, uint8_t *buf, size_t cap, size_t *len);

/* Format as text. v0 only formats as base58btc (IA_MULTIBASE_DEFAULT or
 * IA_MULTIBASE_BASE58BTC, without a prefix); v1 in any base. */
IA_API ia_status ia_cid_format(const ia_cid *cid, ia_multibase base, char *buf, size_t cap);

/* Convenience for messages: format with the default base into a buffer of
 * IA_CID_STR_MAX bytes and return it ("<invalid cid>" on failure). */
IA_API const char *ia_cid_str(const ia_cid *cid, char buf[IA_CID_STR_MAX]);

/* v0 → v1 (same codec and multihash); a v1 is copied unchanged. */
IA_API ia_status ia_cid_to_v1(const ia_cid *in, ia_cid *out);
/* v1 → v0; IA_ERR_INVALID unless dag-pb with a 32-byte sha2-256. */
IA_API ia_status ia_cid_to_v0(const ia_cid *in, ia_cid *out);

/* Same version, codec and multihash; false if either is NULL. */
IA_API bool ia_cid_equal(const ia_cid *a, const ia_cid *b);

/* Check that data hashes to the CID's multihash: IA_OK, IA_ERR_VERIFY
 * (mismatch, detail names the CID) or IA_ERR_UNSUPPORTED (hash function). */
IA_API ia_status ia_cid_verify(const ia_cid *cid, const uint8_t *data, size_t len);

/* Name of a codec ("dag-pb", "raw", ...) or NULL if unknown. */
IA_API const char *ia_codec_name(uint64_t codec);

#ifdef __cplusplus
}
#endif
#endif
