/*
 * The dag-pb codec (multicodec 0x70): the protobuf node format that carries
 * UnixFS files and directories. https://ipld.io/specs/codecs/dag-pb/spec/
 *
 * Decoding is strict, as the spec asks: PBLink fields in field order
 * (Hash, Name, Tsize), Hash present and a valid CID, no duplicate fields,
 * no unknown fields or wire types, all Links before Data (as go-codec-dagpb
 * and js-dag-pb require).
 * Encoding writes the canonical form: Links (in the order given; callers
 * sort by name) then Data.
 *
 * A decoded node borrows from the bytes it was decoded from: names and Data
 * point into them, so keep the block alive while you use the node.
 */
#ifndef IPFS_ACCELERATE_DAGPB_H
#define IPFS_ACCELERATE_DAGPB_H

#include <stdbool.h>

#include "cid.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ia_dagpb_link {
    ia_cid cid;
    const char *name; /* not NUL-terminated; borrowed; NULL when absent */
    size_t name_len;
    uint64_t tsize;
    bool has_name;
    bool has_tsize;
} ia_dagpb_link;

typedef struct ia_dagpb_node {
    ia_dagpb_link *links; /* n_links, owned by the node */
    size_t n_links;
    const uint8_t *data;  /* borrowed; NULL when absent */
    size_t data_len;
    bool has_data;
} ia_dagpb_node;

/* Decode a dag-pb block. On success *out owns its links array: release it
 * with ia_dagpb_node_clear(). IA_ERR_FORMAT names the offset and rule. */
IA_API ia_status ia_dagpb_decode(const uint8_t *bytes, size_t len, ia_dagpb_node *out);
IA_API void ia_dagpb_node_clear(ia_dagpb_node *node);

/* Encode a node; *out is allocated (free with ia_dagpb_free). Links with
 * has_name false omit the Name field; has_tsize false omits Tsize. */
IA_API ia_status ia_dagpb_encode(const ia_dagpb_node *node, uint8_t **out, size_t *len);
IA_API void ia_dagpb_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
