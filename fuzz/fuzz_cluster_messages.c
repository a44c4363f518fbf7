/* Fuzz target: the cluster's task and result bodies as a worker and a
 * submitter decode them (src/cluster/protocol.c): any bytes from the
 * network give a well-formed task or result, or IA_ERR_FORMAT; a decoded
 * task (texts, or serve --cluster's token ids) encodes back to the same
 * bytes. */
#include <stdint.h>
#include <string.h>

#include "cluster/cluster-impl.h"
#include "core/core-impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ia_cluster_task t;
    ia_status st = ia__cluster_task_decode(data, size, &t);
    if (st == IA_OK) {
        uint8_t *again = NULL;
        size_t len = 0;
        if (ia__cluster_task_encode(&t.opts, t.texts, t.lens, t.n, &again, &len) == IA_OK &&
            (len != size || memcmp(again, data, size)))
            __builtin_trap();
        ia__free(again);
        ia__cluster_task_close(&t);
    } else if (st != IA_ERR_FORMAT && st != IA_ERR_NOMEM) {
        __builtin_trap();
    }
    ia_cluster_ids_task it;
    st = ia__cluster_ids_decode(data, size, &it);
    if (st == IA_OK) {
        uint8_t *again = NULL;
        size_t len = 0;
        if (ia__cluster_ids_encode(&it, &again, &len) == IA_OK && (len != size || memcmp(again, data, size)))
            __builtin_trap();
        ia__free(again);
        ia__cluster_ids_close(&it);
    } else if (st != IA_ERR_FORMAT && st != IA_ERR_NOMEM) {
        __builtin_trap();
    }
    float *vecs = NULL;
    size_t n = 0;
    int dim = 0;
    st = ia__cluster_result_decode(data, size, &vecs, &n, &dim);
    if (st == IA_OK && (dim < 0 || (n && dim && !vecs)))
        __builtin_trap();
    if (st != IA_OK && st != IA_ERR_FORMAT && st != IA_ERR_NOMEM)
        __builtin_trap();
    ia__free(vecs);
    return 0;
}
