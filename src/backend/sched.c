/*
 * A minimal scheduler over two backends: a graph is computed in order on
 * one backend, and each node that backend does not support (supports())
 * runs on the CPU instead. Consecutive nodes on the same side are one
 * graph_compute call (a split). Every backend here keeps tensors in host
 * memory, so a node can move to the CPU with no copy; a backend with
 * device memory (upload/download set) would need copies of exactly the
 * moved node's inputs and output, which this scheduler does not make yet:
 * it refuses such a graph instead of computing garbage.
 */
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
    const bool host_memory = !be->iface.upload && !be->iface.download;

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
            if (!host_memory) {
                rc = ia__error(IA_ERR_UNSUPPORTED, "scheduler: graph node %d (%s) is not supported by %s, whose "
                               "memory is not host memory: moving it to the CPU needs copies of its inputs and "
                               "output, not implemented", i, ia__op_name(nodes[i].op), be->name);
                break;
            }
            if (!cpu_ctx) {
                rc = cpu->iface.open(0, n_threads, "fp32", false, &cpu_ctx);
                if (rc) {
                    rc = ia__error_wrap(rc, "scheduler: opening a cpu instance");
                    break;
                }
                opened = true;
            }
            rc = run_split(cpu, cpu_ctx, nodes, i, j - i);
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
