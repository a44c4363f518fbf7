/* Fuzz target: strict dag-pb decoding, the UnixFS Data message and the
 * dag-cbor link walker on arbitrary bytes. A node that decodes must
 * re-encode to bytes that decode to the same node. */
#include <stdlib.h>
#include <string.h>

#include "ipfs/ipfs-impl.h"

static ia_status count(void *ctx, const ia_cid *cid)
{
    (void)cid;
    (*(size_t *)ctx)++;
    return IA_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ia_dagpb_node n;
    if (!ia_dagpb_decode(data, size, &n)) {
        uint8_t *enc;
        size_t len;
        if (!ia_dagpb_encode(&n, &enc, &len)) {
            ia_dagpb_node m;
            if (ia_dagpb_decode(enc, len, &m) || m.n_links != n.n_links || m.has_data != n.has_data ||
                m.data_len != n.data_len)
                abort();
            for (size_t i = 0; i < n.n_links; i++)
                if (!ia_cid_equal(&m.links[i].cid, &n.links[i].cid) ||
                    m.links[i].name_len != n.links[i].name_len || m.links[i].tsize != n.links[i].tsize)
                    abort();
            ia_dagpb_node_clear(&m);
            ia_dagpb_free(enc);
        }
        ia_unixfs_data d;
        if (n.has_data && !ia_unixfs_data_decode(n.data, n.data_len, &d)) {
            ia__buf b = {0};
            ia__unixfs_data_encode(&b, &d);
            ia__buf_free(&b);
            ia_unixfs_data_clear(&d);
        }
        ia_dagpb_node_clear(&n);
    }
    ia_unixfs_data d;
    if (!ia_unixfs_data_decode(data, size, &d))
        ia_unixfs_data_clear(&d);
    size_t links = 0;
    ia__cbor_links(data, size, count, &links);
    uint64_t ver;
    ia_cid *roots = NULL;
    size_t nr;
    if (!ia__car_header_decode(data, size, &ver, &roots, &nr))
        ia__free(roots);
    return 0;
}
