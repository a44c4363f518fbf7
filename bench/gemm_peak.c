/*
 * The machine's GEMM peaks on the model's shapes, with oneDNN (the fastest
 * library here, see docs/benchmarks.md), best of several runs on the
 * threads OpenMP is given (OMP_NUM_THREADS): dnnl_sgemm and the matmul
 * primitive (brgemm kernels, weights prepacked) in f32, the matmul in bf16
 * where the CPU has AVX512_BF16, and dnnl_gemm_u8s8s32 in int8. Prints one
 * JSON object per shape on stdout.
 *
 * Usage: gemm_peak [reps]
 */
#include <dnnl.h>
#include <math.h>
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

/* Best time of the matmul primitive (M, N, K) in f32 or bf16 (weights
 * prepacked), all threads; 0 where oneDNN cannot make it. */
static double matmul_best(int M, int N, int K, dnnl_data_type_t dt, int reps)
{
    dnnl_engine_t eng;
    dnnl_stream_t st;
    if (dnnl_engine_create(&eng, dnnl_cpu, 0) || dnnl_stream_create(&st, eng, dnnl_stream_default_flags))
        return 0;
    dnnl_memory_desc_t smd, wmd, dmd;
    dnnl_dims_t sd = {M, K}, wd = {K, N}, dd = {M, N};
    dnnl_memory_desc_init_by_tag(&smd, 2, sd, dt, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&wmd, 2, wd, dt, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&dmd, 2, dd, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    if (dnnl_matmul_desc_init(&md, &smd, &wmd, NULL, &dmd) ||
        dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL) || dnnl_primitive_create(&prim, pd))
        return 0;
    const char *impl = "";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    if (dt == dnnl_bf16 && !strstr(impl, "bf16"))
        return 0; /* emulated on this CPU: not a peak */
    dnnl_memory_t s, w, d;
    dnnl_memory_create(&s, &smd, eng, DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&w, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), eng, DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&d, &dmd, eng, DNNL_MEMORY_ALLOCATE);
    void *sp;
    dnnl_memory_get_data_handle(s, &sp);
    memset(sp, 0, (size_t)M * K * (dt == dnnl_bf16 ? 2 : 4));
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, s}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, d}};
    double best = 1e9;
    for (int r = 0; r < reps + 1; r++) {
        double t = now();
        dnnl_primitive_execute(prim, st, 3, args);
        dnnl_stream_wait(st);
        t = now() - t;
        if (r && t < best)
            best = t;
    }
    dnnl_memory_destroy(s), dnnl_memory_destroy(w), dnnl_memory_destroy(d);
    dnnl_primitive_destroy(prim), dnnl_primitive_desc_destroy(pd);
    dnnl_stream_destroy(st), dnnl_engine_destroy(eng);
    return best;
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
        double mm_f = matmul_best(M, N, K, dnnl_f32, reps), mm_b = matmul_best(M, N, K, dnnl_bf16, reps);
        printf("{\"M\": %d, \"N\": %d, \"K\": %d, \"sgemm_gflops\": %.1f, \"matmul_f32_gflops\": %.1f, "
               "\"f32_gflops\": %.1f, \"bf16_gflops\": %.1f, \"int8_gops\": %.1f}\n",
               M, N, K, flop / best_f * 1e-9, mm_f > 0 ? flop / mm_f * 1e-9 : 0,
               fmax(flop / best_f, mm_f > 0 ? flop / mm_f : 0) * 1e-9, mm_b > 0 ? flop / mm_b * 1e-9 : 0,
               flop / best_i * 1e-9);
        free(A), free(B), free(C), free(Au), free(Bs), free(Ci);
    }
    return 0;
}
