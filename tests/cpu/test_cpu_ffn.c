/*
 * The CPU backend's fused feed-forward block (ops.c: ffn_fusable, cpu.c:
 * ia__cpu_ffn_add_ln): up-projection with GELU, down-projection, residual
 * add and LayerNorm in place over the up-projection's own input, as BERT's
 * layers run it. Row counts past IA_CPU_FFN_MIN_ROWS (one op; int8 in
 * blocks of rows, with a partial last block) and under it (three nodes).
 * Each precision the CPU offers against the same graph computed a node at
 * a time: int8 identical (its products are exact integers and the
 * epilogues run the same kernels), fp32 (which runs the layers one after
 * the other) within 1e-5, and against double.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend-impl.h"
#include "backend/cpu/ops-impl.h"
#include "tensor/tensor.h"
#include "test.h"

enum { D = 40, H = 96 }; /* model width, intermediate width */

static uint64_t rng = 0x2545f4914f6cdd1dull;
static float frand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

typedef struct weights {
    float up[H * D], bu[H], down[D * H], bd[D], g[D], beta[D];
} weights;

/* x (M, D) <- LN(x + GELU(x U^T + bu) D^T + bd) in double. */
static void reference(const weights *w, const float *x, int M, double *out)
{
    for (int m = 0; m < M; m++) {
        double h[H], y[D], mean = 0, var = 0;
        for (int j = 0; j < H; j++) {
            double v = w->bu[j];
            for (int k = 0; k < D; k++)
                v += (double)x[m * D + k] * w->up[j * D + k];
            h[j] = 0.5 * v * (1 + erf(v / sqrt(2.0)));
        }
        for (int j = 0; j < D; j++) {
            y[j] = (double)x[m * D + j] + w->bd[j];
            for (int k = 0; k < H; k++)
                y[j] += h[k] * w->down[j * H + k];
            mean += y[j] / D;
        }
        for (int j = 0; j < D; j++)
            var += (y[j] - mean) * (y[j] - mean) / D;
        for (int j = 0; j < D; j++)
            out[m * D + j] = (y[j] - mean) / sqrt(var + 1e-12) * w->g[j] + w->beta[j];
    }
}

/* The three nodes over x (M rows, in place) on an open CPU instance, as
 * one graph or (split) a node per call. */
static ia_status run(const ia_backend *be, void *ctx, weights *w, float *x, int M, bool split)
{
    ia_tensor tU = ia__tensor(IA_DTYPE_F32, D, H, 1, 1, w->up), tbu = ia__tensor(IA_DTYPE_F32, H, 1, 1, 1, w->bu);
    ia_tensor tD = ia__tensor(IA_DTYPE_F32, H, D, 1, 1, w->down), tbd = ia__tensor(IA_DTYPE_F32, D, 1, 1, 1, w->bd);
    ia_tensor tg = ia__tensor(IA_DTYPE_F32, D, 1, 1, 1, w->g), tb = ia__tensor(IA_DTYPE_F32, D, 1, 1, 1, w->beta);
    float *h = malloc(sizeof(float) * (size_t)M * H), *y = malloc(sizeof(float) * (size_t)M * D);
    ia_tensor tx = ia__tensor(IA_DTYPE_F32, D, M, 1, 1, x), th = ia__tensor(IA_DTYPE_F32, H, M, 1, 1, h);
    ia_tensor ty = ia__tensor(IA_DTYPE_F32, D, M, 1, 1, y);
    void *pu = NULL, *pd = NULL;
    ia_status rc = h && y ? IA_OK : IA_ERR_NOMEM;
    if (!rc)
        rc = be->iface.weight_prepare(ctx, &tU, &tbu, NULL, &pu);
    if (!rc)
        rc = be->iface.weight_prepare(ctx, &tD, &tbd, NULL, &pd);
    tU.extra = pu, tD.extra = pd;
    const ia_node nodes[3] = {
        {.op = IA_OP_MATMUL, .flags = IA_NODE_DST_SCRATCH, .dst = &th, .src = {&tx, &tU, &tbu}, .p.act = IA_ACT_GELU},
        {.op = IA_OP_MATMUL, .flags = IA_NODE_DST_SCRATCH, .dst = &ty, .src = {&th, &tD, &tbd}},
        {.op = IA_OP_LAYERNORM, .dst = &tx, .src = {&tx, &ty, &tg, &tb}, .p.eps = 1e-12f},
    };
    for (int i = 0; !rc && i < 3; i += split ? 1 : 3)
        rc = be->iface.graph_compute(ctx, nodes + i, split ? 1 : 3);
    if (pu)
        be->iface.weight_release(ctx, pu);
    if (pd)
        be->iface.weight_release(ctx, pd);
    free(h);
    free(y);
    return rc;
}

int main(void)
{
    const ia_backend *be = ia__backend_find("cpu");
    CHECK(be != NULL);
    if (!be)
        return 1;
    weights w;
    for (int i = 0; i < H * D; i++)
        w.up[i] = 0.3f * frand(), w.down[i] = 0.2f * frand();
    for (int j = 0; j < H; j++)
        w.bu[j] = 0.2f * frand();
    for (int j = 0; j < D; j++)
        w.bd[j] = 0.2f * frand(), w.g[j] = 1 + 0.2f * frand(), w.beta[j] = 0.1f * frand();
    const int rows[] = {IA_CPU_FFN_MIN_ROWS + 5, 3 * IA_CPU_FFN_MIN_ROWS, 100};
    const char *precs[] = {"fp32", "int8"};
    for (int p = 0; p < 2; p++) {
        const char *got_prec = be->iface.resolve_precision(precs[p]);
        if (!got_prec || strcmp(got_prec, precs[p])) {
            printf("%s: not on this CPU, not tested\n", precs[p]);
            continue;
        }
        void *ctx = NULL;
        ia_status rc = be->iface.open(0, 2, precs[p], false, &ctx);
        CHECK_MSG(rc == IA_OK, "open %s: %s", precs[p], ia_errmsg());
        for (size_t r = 0; !rc && r < sizeof rows / sizeof rows[0]; r++) {
            const int M = rows[r];
            float *x = malloc(sizeof(float) * (size_t)M * D), *x1 = malloc(sizeof(float) * (size_t)M * D);
            double *want = malloc(sizeof(double) * (size_t)M * D);
            for (int i = 0; i < M * D; i++)
                x[i] = 2 * frand();
            memcpy(x1, x, sizeof(float) * (size_t)M * D);
            reference(&w, x, M, want);
            CHECK_MSG(run(be, ctx, &w, x, M, false) == IA_OK, "%s, %d rows: %s", precs[p], M, ia_errmsg());
            CHECK_MSG(run(be, ctx, &w, x1, M, true) == IA_OK, "%s, %d rows, split: %s", precs[p], M, ia_errmsg());
            double split_err = 0, ref_err = 0;
            for (int i = 0; i < M * D; i++) {
                split_err = fmax(split_err, fabs((double)x[i] - x1[i]));
                ref_err = fmax(ref_err, fabs(x[i] - want[i]));
            }
            printf("%s, %d rows: against a node at a time %.3g, against double %.3g\n", precs[p], M, split_err,
                   ref_err);
            if (!strcmp(precs[p], "int8"))
                CHECK_MSG(split_err == 0, "int8, %d rows: fused and split differ by %g", M, split_err);
            else
                CHECK_MSG(split_err <= 1e-5 && ref_err <= 1e-4, "fp32, %d rows: errors %g, %g", M, split_err,
                          ref_err);
            free(x);
            free(x1);
            free(want);
        }
        if (ctx)
            be->iface.close(ctx);
    }
    return test_summary("test_cpu_ffn");
}
