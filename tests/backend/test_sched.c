/*
 * The scheduler (src/backend/sched.c) on the example backend plugin
 * (loaded from IPFS_ACCELERATE_BACKEND_PATH, set by CTest): a graph mixing
 * ops it computes (scale, add, mul, relu) with ops it does not (softmax,
 * gelu, rmsnorm) runs in splits on it and on the CPU, and gives exactly the
 * result of the whole graph on the CPU (add, mul, scale and relu are one
 * f32 rounding each, so any correct backend agrees to the bit). Also:
 * malformed nodes before anything runs, errors naming the node by its
 * index in the whole graph, and a backend with device memory: the moved
 * nodes' operands copied, exactly the ones they need, counted.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend-impl.h"
#include "test.h"

enum { C = 16, R = 5, NT = C * R, N_NODES = 7, N_BUF = 9 };

static float buf[N_BUF][NT];
static ia_tensor t[N_BUF], w;
static float wrow[C];

/* x -> scale -> add b -> softmax -> mul w (row broadcast) -> relu -> gelu -> rmsnorm */
static void build(ia_node nodes[N_NODES])
{
    for (int i = 0; i < N_BUF; i++)
        t[i] = ia__tensor(IA_DTYPE_F32, C, R, 1, 1, buf[i]);
    w = ia__tensor(IA_DTYPE_F32, C, 1, 1, 1, wrow);
    const ia_node g[N_NODES] = {
        {.op = IA_OP_SCALE, .dst = &t[2], .src = {&t[0]}, .p.scale = 1.75f},              /* example */
        {.op = IA_OP_ADD, .dst = &t[3], .src = {&t[2], &t[1]}},                           /* example */
        {.op = IA_OP_SOFTMAX, .dst = &t[4], .src = {&t[3]}, .p.scale = 2.0f},             /* cpu */
        {.op = IA_OP_MUL, .dst = &t[5], .src = {&t[4], &w}},                              /* example */
        {.op = IA_OP_UNARY, .dst = &t[6], .src = {&t[5]}, .p.act = IA_ACT_RELU},          /* example */
        {.op = IA_OP_UNARY, .dst = &t[7], .src = {&t[6]}, .p.act = IA_ACT_GELU},          /* cpu */
        {.op = IA_OP_RMSNORM, .dst = &t[8], .src = {&t[7]}, .p.eps = 1e-6f},              /* cpu */
    };
    memcpy(nodes, g, sizeof g);
}

static void fill_inputs(void)
{
    unsigned s = 12345;
    for (int i = 0; i < NT; i++) {
        s = s * 1103515245u + 12345u;
        buf[0][i] = (float)((s >> 8) % 2001) / 1000.0f - 1.0f;
        s = s * 1103515245u + 12345u;
        buf[1][i] = (float)((s >> 8) % 2001) / 1000.0f - 1.0f;
    }
    for (int i = 0; i < C; i++)
        wrow[i] = (float)(i % 5) - 1.5f; /* negative weights: relu has work */
    for (int i = 2; i < N_BUF; i++)
        memset(buf[i], 0xff, sizeof buf[i]); /* NaN: an unwritten output fails */
}

/* "Device memory" for the test: the example backend's host memory, but
 * reached only through counted copies, as the scheduler must. */
static int n_up, n_down;
static ia_status upload_count(void *ctx, void *dst, const void *src, size_t bytes)
{
    memcpy(dst, src, bytes);
    n_up++;
    return IA_OK;
}
static ia_status download_count(void *ctx, void *dst, const void *src, size_t bytes)
{
    memcpy(dst, src, bytes);
    n_down++;
    return IA_OK;
}

int main(void)
{
    const ia_backend *cpu = ia__backend_find("cpu"), *ex = ia__backend_find("example");
    CHECK_MSG(ex != NULL, "the example plugin is not loaded (IPFS_ACCELERATE_BACKEND_PATH=%s)",
              getenv(IA_BACKEND_PATH_ENV) ? getenv(IA_BACKEND_PATH_ENV) : "(unset)");
    if (!ex)
        return test_summary("test_sched");
    void *cctx = NULL, *ectx = NULL;
    CHECK_OK(cpu->iface.open(0, 2, "fp32", false, &cctx));
    CHECK_OK(ex->iface.open(0, 2, "fp32", false, &ectx));
    ia_node nodes[N_NODES];
    build(nodes);

    /* reference: everything on the cpu, one split */
    fill_inputs();
    ia_sched_stats st;
    CHECK_OK(ia__graph_run_on(cpu, cctx, NULL, 2, nodes, N_NODES, &st));
    CHECK(st.nodes_backend == N_NODES && st.nodes_cpu == 0 && st.splits == 1 && st.copies == 0);
    static float want[N_BUF][NT];
    memcpy(want, buf, sizeof buf);

    /* mixed: example, example | cpu | example, example | cpu, cpu */
    const bool on_ex[N_NODES] = {1, 1, 0, 1, 1, 0, 0};
    for (int i = 0; i < N_NODES; i++)
        CHECK_MSG(ex->iface.supports(ectx, &nodes[i]) == on_ex[i], "example supports node %d (%s)", i,
                  ia__op_name(nodes[i].op));
    for (int pass = 0; pass < 2; pass++) { /* a cpu instance of its own, then the caller's */
        fill_inputs();
        CHECK_OK(pass ? ia__graph_run_on(ex, ectx, cctx, 2, nodes, N_NODES, &st)
                      : ia__graph_run(ex, ectx, nodes, N_NODES, &st));
        printf("pass %d: %d nodes on example, %d on cpu, %d splits, %d copies\n", pass, st.nodes_backend,
               st.nodes_cpu, st.splits, st.copies);
        CHECK(st.nodes_backend == 4 && st.nodes_cpu == 3 && st.splits == 4 && st.copies == 0);
        for (int b = 2; b < N_BUF; b++)
            CHECK_MSG(!memcmp(buf[b], want[b], sizeof buf[b]), "pass %d: tensor %d differs from the cpu's", pass, b);
        double mx = 0;
        for (int i = 0; i < NT; i++)
            mx = fmax(mx, fabs(buf[8][i]));
        CHECK(mx > 0.5 && isfinite(mx));
    }
    /* relu really clipped something (mul by negative weights) */
    int zeros = 0;
    for (int i = 0; i < NT; i++)
        zeros += buf[6][i] == 0.0f;
    CHECK(zeros > 0 && zeros < NT);

    /* a malformed node: refused before anything runs, named by its index */
    fill_inputs();
    ia_node bad[N_NODES];
    memcpy(bad, nodes, sizeof bad);
    bad[5].p.act = IA_ACT_NONE; /* unary without an activation */
    CHECK(ia__graph_run(ex, ectx, bad, N_NODES, &st) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "graph node 5 (unary)");
    CHECK(st.splits == 0 && isnan(buf[2][0]));

    /* a node neither backend computes (misaligned f32): the cpu's refusal,
     * named by its index in the whole graph; earlier splits stand */
    fill_inputs();
    memcpy(bad, nodes, sizeof bad);
    ia_tensor odd = ia__tensor(IA_DTYPE_F32, C - 1, R, 1, 1, (char *)buf[7] + 2);
    ia_tensor odd_dst = ia__tensor(IA_DTYPE_F32, C - 1, R, 1, 1, buf[8]);
    bad[6] = (ia_node){.op = IA_OP_SCALE, .dst = &odd_dst, .src = {&odd}, .p.scale = 1};
    CHECK(ia__graph_run(ex, ectx, bad, N_NODES, &st) == IA_ERR_UNSUPPORTED);
    CHECK_STR_CONTAINS(ia_errmsg(), "scheduler: nodes 5-6 on cpu");
    CHECK(st.splits == 4 && !memcmp(buf[5], want[5], sizeof buf[5]));

    /* a backend with device memory: each moved node (softmax, gelu,
     * rmsnorm, each one input and a whole output) is one download and one
     * upload; the result is the cpu's to the bit */
    ia_backend dev = *ex;
    dev.name = "example-device-memory";
    dev.iface.upload = upload_count;
    dev.iface.download = download_count;
    fill_inputs();
    CHECK_OK(ia__graph_run_on(&dev, ectx, cctx, 2, nodes, N_NODES, &st));
    printf("device memory: %d nodes on it, %d on cpu, %d copies (%d down, %d up)\n", st.nodes_backend,
           st.nodes_cpu, st.copies, n_down, n_up);
    CHECK(st.nodes_backend == 4 && st.nodes_cpu == 3 && st.copies == 6 && n_down == 3 && n_up == 3);
    for (int b = 2; b < N_BUF; b++)
        CHECK_MSG(!memcmp(buf[b], want[b], sizeof buf[b]), "device memory: tensor %d differs from the cpu's", b);
    /* in place on a strided view: the dst is its input's copy, downloaded once */
    fill_inputs();
    memcpy(buf[3], want[3], sizeof buf[3]);
    ia_tensor cols = ia__tensor(IA_DTYPE_F32, C / 2, R, 1, 1, buf[3]); /* the left half of each row */
    cols.nb[1] = C * sizeof(float);
    ia_node inplace = {.op = IA_OP_UNARY, .dst = &cols, .src = {&cols}, .p.act = IA_ACT_GELU};
    n_up = n_down = 0;
    CHECK_OK(ia__graph_run_on(&dev, ectx, cctx, 2, &inplace, 1, &st));
    CHECK(st.nodes_cpu == 1 && st.copies == 2 && n_down == 1 && n_up == 1);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            const float x = want[3][r * C + c], y = buf[3][r * C + c];
            const float g = (float)(0.5 * x * (1 + erf(x / sqrt(2.0))));
            CHECK_MSG(c < C / 2 ? fabsf(y - g) < 1e-6f : y == x, "in place: [%d][%d] is %g", r, c, y);
        }
    /* a weight that exists only in the backend's prepared form cannot move */
    ia_tensor prepared = w;
    prepared.data = NULL;
    prepared.extra = &prepared;
    ia_node mm = {.op = IA_OP_MATMUL, .dst = &t[2], .src = {&t[0], &prepared}};
    prepared.ne[1] = C; /* W (C, C) */
    CHECK(ia__graph_run_on(&dev, ectx, cctx, 2, &mm, 1, &st) == IA_ERR_UNSUPPORTED);
    CHECK_STR_CONTAINS(ia_errmsg(), "exists only in example-device-memory's prepared form");

    CHECK(ia__graph_run(ex, NULL, nodes, 1, &st) == IA_ERR_INVALID);
    CHECK_OK(ia__graph_run(ex, ectx, nodes, 0, &st));
    CHECK(st.splits == 0);

    ex->iface.close(ectx);
    cpu->iface.close(cctx);
    return test_summary("test_sched");
}
