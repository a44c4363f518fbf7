/*
 * A minimal scheduler over two backends: a graph is computed in order on
 * one backend, and each node that backend does not support (supports())
 * runs on the CPU instead. Consecutive nodes on the same side are one
 * graph_compute call (a split). A backend on host memory shares its
 * tensors with the CPU as they are; for one with device memory
 * (upload/download set) each moved node gets host copies of exactly its
 * inputs (downloads) and its output (uploaded after), one node at a time.
 * Weights a backend prepared (tensor `extra`) are its own: a moved node
 * reads the plain data, and fails if there is none.
 */
#include <stdlib.h>
#include <string.h>

#include "backend/backend-impl.h"

/* Compute nodes[first, first + count) on one backend, naming the failing
 * node by its index in the whole graph. */
static ia_status run_split(const ia_backend *be, void *ctx, const ia_node *nodes, int first, int count)
{
    ia_status rc = be->iface.graph_compute(ctx, nodes + first, count);
    if (rc)
        return ia__error_wrap(rc, "scheduler: nodes %d-%d on %s", first, first + count - 1, be->name);
    return IA_OK;
}

/* Node `i` on the CPU, for a backend `be` whose tensors are not the
 * CPU's: its operands without be's prepared forms, and with device
 * memory, in host copies (inputs downloaded; the output downloaded too
 * unless the op overwrites all of it, then uploaded back). */
static ia_status run_moved(const ia_backend *be, void *ctx, const ia_backend *cpu, void *cpu_ctx,
                           const ia_node *node, int i, int *copies)
{
    const bool device = be->iface.upload || be->iface.download;
    ia_node n = *node;
    /* operands: src0..3, dst, and an attention's bias table (an input) */
    enum { OPS = 6 };
    ia_tensor ts[OPS];
    void *host[OPS] = {0};
    const ia_tensor *orig[OPS] = {node->src[0], node->src[1], node->src[2], node->src[3], node->dst,
                                  node->op == IA_OP_ATTENTION ? node->p.attn.bias_table : NULL};
    ia_status rc = IA_OK;
    for (int k = 0; k < OPS && !rc; k++) {
        if (!orig[k])
            continue;
        ts[k] = *orig[k];
        ts[k].extra = NULL;
        if (!ts[k].data && ia__tensor_nelements(&ts[k])) {
            rc = ia__error(IA_ERR_UNSUPPORTED, "scheduler: graph node %d (%s) runs on the cpu, but its %s "
                           "exists only in %s's prepared form", i, ia__op_name(node->op),
                           k == 4 ? "dst" : k == 1 ? "src1 (a weight?)" : "operand", be->name);
            break;
        }
        if (device && ts[k].data) {
            int same = -1; /* in place: the dst shares its input's copy */
            for (int j = 0; j < k && same < 0; j++)
                if (orig[j] && orig[j]->data == orig[k]->data &&
                    ia__tensor_span(orig[j]) == ia__tensor_span(orig[k]))
                    same = j;
            const size_t bytes = ia__tensor_span(&ts[k]);
            if (same >= 0 && host[same]) {
                ts[k].data = host[same];
            } else if (bytes) {
                if (!(host[k] = malloc(bytes))) {
                    rc = ia__error(IA_ERR_NOMEM, "scheduler: out of memory for a host copy of %zu bytes", bytes);
                    break;
                }
                const bool whole = k == 4 && ia__tensor_contiguous(&ts[k]);
                if (!whole) {
                    rc = be->iface.download(ctx, host[k], orig[k]->data, bytes);
                    ++*copies;
                }
                ts[k].data = host[k];
            }
        }
        if (k < 4)
            n.src[k] = &ts[k];
        else if (k == 4)
            n.dst = &ts[k];
        else
            n.p.attn.bias_table = &ts[k];
    }
    if (!rc)
        rc = run_split(cpu, cpu_ctx, &n, 0, 1);
    if (!rc && device && n.dst->data && ia__tensor_span(n.dst)) {
        rc = be->iface.upload(ctx, node->dst->data, n.dst->data, ia__tensor_span(n.dst));
        ++*copies;
    }
    for (int k = 0; k < OPS; k++)
        free(host[k]);
    if (rc)
        return ia__error_wrap(rc, "scheduler: graph node %d (%s) moved to the cpu", i, ia__op_name(node->op));
    return IA_OK;
}

/* Does a node of the list read a prepared weight? */
static bool prepared_in(const ia_node *nodes, int n)
{
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 4; k++)
            if (nodes[i].src[k] && nodes[i].src[k]->extra)
                return true;
        if (nodes[i].op == IA_OP_ATTENTION && nodes[i].p.attn.bias_table && nodes[i].p.attn.bias_table->extra)
            return true;
    }
    return false;
}

ia_status ia__graph_run_on(const ia_backend *be, void *ctx, void *cpu_ctx, int n_threads, const ia_node *nodes,
                           int n, ia_sched_stats *stats)
{
    ia_sched_stats st = {0};
    if (stats)
        *stats = st;
    if (!be || !ctx || n < 0 || (n && !nodes))
        return ia__error(IA_ERR_INVALID, "scheduler: %s", !be ? "no backend" : !ctx ? "no instance" : "bad node list");
    for (int i = 0; i < n; i++) {
        ia_status rc = ia__node_check(&nodes[i]);
        if (rc)
            return ia__error_wrap(rc, "graph node %d (%s)", i, ia__op_name(nodes[i].op));
    }
    const ia_backend *cpu = ia__backend_cpu();
    const bool be_is_cpu = be == cpu || !strcmp(be->name, "cpu");
    const bool has_graph = be->iface.supports && be->iface.graph_compute;

    ia_status rc = IA_OK;
    bool opened = false;
    int i = 0;
    while (i < n && !rc) {
        const bool here = be_is_cpu || (has_graph && be->iface.supports(ctx, &nodes[i]));
        int j = i + 1;
        while (j < n && (be_is_cpu || (has_graph && be->iface.supports(ctx, &nodes[j]))) == here)
            j++;
        if (here) {
            rc = run_split(be, ctx, nodes, i, j - i);
            st.nodes_backend += j - i;
        } else {
            if (!cpu_ctx) {
                rc = cpu->iface.open(0, n_threads, "fp32", false, &cpu_ctx);
                if (rc) {
                    rc = ia__error_wrap(rc, "scheduler: opening a cpu instance");
                    break;
                }
                opened = true;
            }
            if (!be->iface.upload && !be->iface.download && !prepared_in(nodes + i, j - i))
                rc = run_split(cpu, cpu_ctx, nodes, i, j - i); /* shared host memory: as they are */
            else /* one node at a time, with its own operands */
                for (int k = i; k < j && !rc; k++)
                    rc = run_moved(be, ctx, cpu, cpu_ctx, &nodes[k], k, &st.copies);
            st.nodes_cpu += j - i;
        }
        st.splits++;
        i = j;
    }
    if (opened)
        cpu->iface.close(cpu_ctx);
    if (stats)
        *stats = st;
    return rc;
}

ia_status ia__graph_run(const ia_backend *be, void *ctx, const ia_node *nodes, int n, ia_sched_stats *stats)
{
    return ia__graph_run_on(be, ctx, NULL, 0, nodes, n, stats);
}
