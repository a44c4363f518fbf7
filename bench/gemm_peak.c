/*
 * The machine's GEMM peaks on the model's shapes, with oneDNN (the fastest
 * library here, see docs/benchmarks.md): f32 sgemm and u8 x s8 -> s32 int8
 * GEMM, best of several runs, on the threads OpenMP is given
 * (OMP_NUM_THREADS). Prints one JSON object per shape on stdout.
 *
 * Usage: gemm_peak [reps]
 */
#include <dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 20;
    /* (M, N, K): tokens x out x in, the four linears of a MiniLM layer at
     * 1024 and 4096 tokens, plus the shape quoted in the issue. */
    static const int shapes[][3] = {
        {1024, 1536, 384}, {1024, 1152, 384}, {1024, 384, 384}, {1024, 384, 1536},
        {4096, 1536, 384}, {4096, 1152, 384}, {4096, 384, 384}, {4096, 384, 1536},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * N * K),
              *C = malloc(sizeof(float) * M * N);
        uint8_t *Au = malloc((size_t)M * K);
        int8_t *Bs = malloc((size_t)N * K);
        int32_t *Ci = malloc(sizeof(int32_t) * M * N);
        for (long i = 0; i < (long)M * K; i++) A[i] = (float)((i * 7) % 13) / 13.0f - 0.5f, Au[i] = (uint8_t)(i * 7);
        for (long i = 0; i < (long)N * K; i++) B[i] = (float)((i * 5) % 11) / 11.0f - 0.5f, Bs[i] = (int8_t)(i * 5);
        double flop = 2.0 * M * N * K, best_f = 1e9, best_i = 1e9;
        for (int r = 0; r < reps; r++) {
            double t = now();
            dnnl_sgemm('N', 'T', M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
            t = now() - t;
            if (t < best_f) best_f = t;
        }
        int32_t co = 0;
        for (int r = 0; r < reps; r++) {
            double t = now();
            dnnl_gemm_u8s8s32('N', 'T', 'F', M, N, K, 1.0f, Au, K, 0, Bs, K, 0, 0.0f, Ci, N, &co);
            t = now() - t;
            if (t < best_i) best_i = t;
        }
        printf("{\"M\": %d, \"N\": %d, \"K\": %d, \"f32_gflops\": %.1f, \"int8_gops\": %.1f}\n", M, N,
               K, flop / best_f * 1e-9, flop / best_i * 1e-9);
        free(A), free(B), free(C), free(Au), free(Bs), free(Ci);
    }
    return 0;
}
