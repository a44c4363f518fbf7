/*
 * Real quantized weights through the engine core: every 2-D weight of the
 * first layer of SmolLM2-135M (q4_1, q8_0 or f32 as the GGUF file stores
 * them) is read as a view into the mapping, multiplied on the CPU backend
 * (a one-node graph) by random activations, and compared with a double
 * product of the dequantized weights.
 *   test_gguf_matmul FILE.gguf
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend-impl.h"
#include "model/gguf-impl.h"
#include "test.h"

enum { M = 3 };

/* Relative RMS error of y against the double reference, for one weight. */
static double check_weight(const ia_backend *cpu, void *inst, const ia_tensor *w, const char *name)
{
    const int64_t K = w->ne[0], N = w->ne[1];
    float *x = malloc(sizeof(float) * K * M), *y = malloc(sizeof(float) * N * M);
    float *row = malloc(sizeof(float) * K);
    unsigned seed = 12345;
    for (int64_t i = 0; i < K * M; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = ((float)(seed >> 8) / (float)(1u << 24)) * 2.0f - 1.0f;
    }
    ia_tensor tx = ia__tensor(IA_DTYPE_F32, K, M, 1, 1, x), ty = ia__tensor(IA_DTYPE_F32, N, M, 1, 1, y);
    ia_node node = {.op = IA_OP_MATMUL, .dst = &ty, .src = {&tx, w}, .p.act = IA_ACT_NONE};
    CHECK_MSG(cpu->iface.supports(inst, &node), "%s: matmul on %s not supported", name,
              ia__dtype_name(w->dtype));
    CHECK_OK(cpu->iface.graph_compute(inst, &node, 1));
    double err2 = 0, ref2 = 0;
    for (int64_t n = 0; n < N; n++) {
        ia__dtype(w->dtype)->to_f32((const char *)w->data + (size_t)n * w->nb[1], row, K);
        for (int m = 0; m < M; m++) {
            double ref = 0;
            for (int64_t k = 0; k < K; k++)
                ref += (double)row[k] * x[m * K + k];
            const double d = y[m * N + n] - ref;
            err2 += d * d;
            ref2 += ref * ref;
        }
    }
    free(x);
    free(y);
    free(row);
    return sqrt(err2 / (ref2 > 0 ? ref2 : 1));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_gguf_matmul FILE.gguf\n");
        return 2;
    }
    ia_gguf *g = NULL;
    CHECK_OK(ia__gguf_open(argv[1], &g));
    const ia_backend *cpu = ia__backend_find("cpu");
    void *inst = NULL;
    CHECK_OK(cpu->iface.open(0, 2, "fp32", false, &inst));
    int tested = 0;
    for (size_t i = 0; g && inst && i < ia__gguf_tensor_count(g); i++) {
        const ia_gguf_tensor_info *info = ia__gguf_tensor_at(g, i);
        ia_tensor w;
        if (strncmp(info->name, "blk.0.", 6) || ia__gguf_tensor(g, info, &w) || w.ne[1] == 1 || w.ne[2] != 1)
            continue;
        const double err = check_weight(cpu, inst, &w, info->name);
        /* 8-bit activations: about 5e-3 relative (docs/engine-core.md);
         * f32 weights: rounding only */
        const double bound = w.dtype == IA_DTYPE_F32 ? 1e-5 : 1.5e-2;
        printf("%-28s %-5s [%lld, %lld]: relative RMS error %.2e (bound %.1e)\n", info->name,
               ia__dtype_name(w.dtype), (long long)w.ne[0], (long long)w.ne[1], err, bound);
        CHECK_MSG(err < bound, "%s: error %.3e", info->name, err);
        tested++;
    }
    CHECK_MSG(tested >= 7, "only %d weights of blk.0 tested", tested);
    if (inst)
        cpu->iface.close(inst);
    ia__gguf_close(g);
    return test_summary("test_gguf_matmul");
}
