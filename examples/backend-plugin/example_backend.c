/*
 * An example backend plugin: the smallest complete backend written against
 * the plugin ABI (src/backend/backend-impl.h), loaded with dlopen from a
 * directory of IPFS_ACCELERATE_BACKEND_PATH. One device ("example device
 * (plain C)") on host memory; it computes ADD, MUL, SCALE and UNARY(relu)
 * on contiguous f32 tensors in plain C and says "not supported" for the
 * rest, so the op harness shows its column and the scheduler (sched.c)
 * runs the other nodes on the CPU. Its legacy encoder slots are NULL: it
 * is never given a model.
 *
 * It links nothing of the library: the checks, error messages and logging
 * it needs come in the host table its entry point receives.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend-impl.h"

static const ia_plugin_host *host; /* set once by the entry point */

typedef struct instance {
    int n_threads; /* kept for show: this backend computes on the caller's thread */
} instance;

static int device_count(void) { return 1; }

static const char *device_name(int device) { return device == 0 ? "example device (plain C)" : NULL; }

static const char *resolve_precision(const char *want)
{
    /* fp32 only; any other known name falls back to it */
    return want ? "fp32" : NULL;
}

static ia_status open_instance(int device, int n_threads, const char *precision, bool profile, void **ctx)
{
    *ctx = NULL;
    if (device != 0)
        return host->error(IA_ERR_INVALID, "example backend: no device %d (it has device 0 only)", device);
    instance *in = calloc(1, sizeof *in);
    if (!in)
        return host->error(IA_ERR_NOMEM, "example backend: out of memory");
    in->n_threads = n_threads;
    *ctx = in;
    return IA_OK;
}

static void close_instance(void *ctx) { free(ctx); }

static const char *precision(void *ctx) { return "fp32"; }

static void *buf_alloc(void *ctx, size_t bytes) { return malloc(bytes ? bytes : 1); }

static void buf_free(void *ctx, void *buf) { free(buf); }

/* Why this backend does not compute a node ia__node_check accepted, or NULL. */
static const char *why_not(const ia_node *n)
{
    switch (n->op) {
    case IA_OP_ADD:
    case IA_OP_MUL:
    case IA_OP_SCALE:
        break;
    case IA_OP_UNARY:
        if (n->p.act != IA_ACT_RELU)
            return "only relu among the activations";
        break;
    default:
        return "only add, mul, scale and unary(relu)";
    }
    const int n_src = n->op == IA_OP_ADD || n->op == IA_OP_MUL ? 2 : 1;
    const ia_tensor *t[3] = {n->dst, n->src[0], n->src[1]};
    for (int i = 0; i <= n_src; i++) {
        if (t[i]->dtype != IA_DTYPE_F32)
            return "f32 tensors only";
        if (!host->tensor_contiguous(t[i]))
            return "contiguous tensors only";
        if (!t[i]->data || (uintptr_t)t[i]->data % sizeof(float))
            return "tensors without memory or misaligned";
    }
    /* dst may be exactly an input (in place), never partly over one */
    const char *d0 = n->dst->data, *d1 = d0 + host->tensor_nelements(n->dst) * sizeof(float);
    for (int i = 1; i <= n_src; i++) {
        const char *s0 = t[i]->data, *s1 = s0 + host->tensor_nelements(t[i]) * sizeof(float);
        if (s0 < d1 && d0 < s1 && !(s0 == d0 && s1 == d1))
            return "dst overlaps an input";
    }
    return NULL;
}

static bool supports(void *ctx, const ia_node *node)
{
    return node && host->node_check(node) == IA_OK && !why_not(node);
}

/* The element of contiguous src1 (broadcast where it has 1) that pairs with
 * element (i0, i1, i2, i3) of dst. */
static float bcast(const ia_tensor *b, const int64_t i[4])
{
    int64_t off = 0, stride = 1;
    for (int d = 0; d < 4; d++) {
        off += (b->ne[d] == 1 ? 0 : i[d]) * stride;
        stride *= b->ne[d];
    }
    return ((const float *)b->data)[off];
}

static void compute(const ia_node *n)
{
    const ia_tensor *dt = n->dst;
    float *d = dt->data;
    const float *a = n->src[0]->data;
    const int64_t total = host->tensor_nelements(dt);
    switch (n->op) {
    case IA_OP_SCALE:
        for (int64_t k = 0; k < total; k++)
            d[k] = a[k] * n->p.scale;
        return;
    case IA_OP_UNARY:
        for (int64_t k = 0; k < total; k++)
            d[k] = a[k] > 0 ? a[k] : 0;
        return;
    default: { /* add, mul */
        const bool add = n->op == IA_OP_ADD;
        int64_t i[4], k = 0;
        for (i[3] = 0; i[3] < dt->ne[3]; i[3]++)
            for (i[2] = 0; i[2] < dt->ne[2]; i[2]++)
                for (i[1] = 0; i[1] < dt->ne[1]; i[1]++)
                    for (i[0] = 0; i[0] < dt->ne[0]; i[0]++, k++) {
                        const float b = bcast(n->src[1], i);
                        d[k] = add ? a[k] + b : a[k] * b;
                    }
        return;
    }
    }
}

static ia_status graph_compute(void *ctx, const ia_node *nodes, int n_nodes)
{
    if (!ctx || n_nodes < 0 || (n_nodes && !nodes))
        return host->error(IA_ERR_INVALID, "example graph_compute: %s", !ctx ? "no instance" : "bad node list");
    /* Every node is checked before any runs: malformed first (the same
     * message as every backend), then this backend's limits. */
    for (int i = 0; i < n_nodes; i++) {
        ia_status rc = host->node_check(&nodes[i]);
        if (rc)
            return host->error_wrap(rc, "graph node %d (%s)", i, host->op_name(nodes[i].op));
        const char *why = why_not(&nodes[i]);
        if (why)
            return host->error(IA_ERR_UNSUPPORTED, "graph node %d (%s): the example backend does not compute it: %s",
                               i, host->op_name(nodes[i].op), why);
    }
    for (int i = 0; i < n_nodes; i++)
        compute(&nodes[i]);
    return IA_OK;
}

static const ia_backend example_backend = {
    .api_version = IA_BACKEND_API_VERSION,
    .name = "example",
    .iface = {
        .device_count = device_count,
        .device_name = device_name,
        .resolve_precision = resolve_precision,
        .open = open_instance,
        .close = close_instance,
        .precision = precision,
        .buf_alloc = buf_alloc,
        .buf_free = buf_free,
        /* host memory: upload/download NULL; no weight_prepare: matmuls
         * read weights as they lie */
        .supports = supports,
        .graph_compute = graph_compute,
    },
};

__attribute__((visibility("default"))) const ia_backend *ia_backend_plugin(int host_api_version,
                                                                          const ia_plugin_host *h);

const ia_backend *ia_backend_plugin(int host_api_version, const ia_plugin_host *h)
{
    if (host_api_version != IA_BACKEND_API_VERSION || !h || h->api_version != IA_BACKEND_API_VERSION)
        return NULL;
    host = h;
    return &example_backend;
}
