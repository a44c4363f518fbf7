/*
 * The CPU matmul on every weight dtype (src/backend/cpu/qmatmul-impl.h) on
 * SmolLM2-135M's FFN shapes: x (M, K) . W^T with (K, N) = (576, 1536) (up /
 * gate) and (1536, 576) (down), M = 1 (decode), M = 16 (prompt rows) and
 * M = 512 (a prompt of 512 tokens, which the default run leaves out).
 * Per dtype: the time of a call (median of many), weight bytes read per second, the
 * speed against our own f32 kernel and against oneDNN's dnnl_sgemm on the
 * same f32 weights (both ratios: their time / this time), and the error of
 * the result against x . W_deq^T in double (W_deq: the dtype's own to_f32),
 * ||y - ref|| / ||ref||, beside the weights' own quantization error
 * against the f32 weights they came from.
 *
 * Two regimes: "hot" calls reuse one copy of W (in cache when it fits:
 * the L3 here holds even the f32 weights), "cold" calls cycle through
 * copies of W totalling at least 256 MiB, so every call reads its weights
 * from DRAM, as decoding a whole model does.
 *
 * The k-quants need K a multiple of 256, so they run on the (1536, 576)
 * shapes only (GGUF files of this model store the K = 576 matrices in
 * other types for that reason).
 *
 * Usage: qmatmul_bench [threads...]   (default: 1 2)
 *        env QMM_BENCH_SECONDS: time spent per measurement (default 0.25)
 *            QMM_BENCH_TYPES: only these dtypes (comma-separated names;
 *            f32 always runs, the ratios need it)
 *            QMM_BENCH_M: only the shapes with this many rows (1, 16 or 512)
 */
#include <dnnl.h>
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/cpu-impl.h"
#include "backend/cpu/qmatmul-impl.h"
#include "tensor/dtype.h"

static const ia_dtype types[] = {IA_DTYPE_F32,  IA_DTYPE_F16,  IA_DTYPE_BF16,
                                 IA_DTYPE_Q8_0, IA_DTYPE_Q4_0, IA_DTYPE_Q4_1,
                                 IA_DTYPE_Q4_K, IA_DTYPE_Q5_K, IA_DTYPE_Q6_K};
enum { NTYPES = sizeof types / sizeof types[0] };
static const size_t COLD_BYTES = (size_t)256 << 20;
static double seconds_per = 0.25;
static const char *only_types; /* QMM_BENCH_TYPES */

static bool wanted(ia_dtype t)
{
    if (!only_types || t == IA_DTYPE_F32)
        return true;
    const char *name = ia__dtype_name(t), *p = only_types;
    const size_t n = strlen(name);
    while ((p = strstr(p, name))) {
        if ((p == only_types || p[-1] == ',') && (p[n] == ',' || !p[n]))
            return true;
        p += n;
    }
    return false;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The load average, for the header: timings are only as good as the
 * machine is idle (2 threads on a 2-core machine shared with anything
 * else wait for their second core a scheduler slice at a time). */
static void print_loadavg(const char *when)
{
    char buf[128] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            buf[0] = 0;
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = 0;
    printf("load average %s: %s\n", when, buf);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}
static float nrand(void) /* standard normal (Box-Muller) */
{
    float u = 0.5f * (frand() + 1.0f), v = frand();
    if (u < 1e-12f)
        u = 1e-12f;
    return sqrtf(-2.0f * logf(u)) * cosf(3.14159265f * v);
}

static void *xalloc(size_t n)
{
    void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);
    if (!p) {
        fprintf(stderr, "qmatmul_bench: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* What one measured call runs. */
typedef struct job {
    int kind; /* 0: ours, 1: dnnl_sgemm */
    ia_dtype t;
    int64_t M, N, K;
    const float *x;
    float *y;
    uint8_t **w; /* ncopies copies of the weights */
    int ncopies, threads;
    void *scratch;
} job;

static void call(const job *j, int i)
{
    const void *w = j->w[i % j->ncopies];
    if (j->kind == 0) {
        ia_status st = ia__cpu_qmatmul(w, j->t, j->N, j->K, j->x, j->M, NULL, j->y, j->threads, j->scratch);
        if (st) {
            fprintf(stderr, "qmatmul_bench: %s: %s\n", ia_strerror(st), ia_errmsg());
            exit(1);
        }
    } else {
        dnnl_status_t st = dnnl_sgemm('N', 'T', j->M, j->N, j->K, 1.0f, j->x, j->K, w, j->K, 0.0f,
                                      j->y, j->N);
        if (st != dnnl_success) {
            fprintf(stderr, "qmatmul_bench: dnnl_sgemm failed (%d)\n", (int)st);
            exit(1);
        }
    }
}

/* The time of one call: the median of as many calls as fit in
 * seconds_per, in three rounds, the best round's median (other programs
 * on the machine can take a core for a while; a round they hit is
 * dropped, where a single median would take their share). */
static double median_time(const job *j)
{
    for (int i = 0; i < 3; i++)
        call(j, i);
    double t0 = now();
    int probe = 0;
    while (now() - t0 < 0.02 || probe < 3)
        call(j, probe++);
    const double est = (now() - t0) / probe;
    int reps = (int)(seconds_per / 3 / est);
    reps = reps < 9 ? 9 : reps > 10000 ? 10000 : reps;
    double *ts = malloc(sizeof(double) * (size_t)reps), best = 1e30;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < reps; i++) {
            const double a = now();
            call(j, probe + round * reps + i);
            ts[i] = now() - a;
        }
        qsort(ts, (size_t)reps, sizeof(double), cmp_double);
        best = ts[reps / 2] < best ? ts[reps / 2] : best;
    }
    free(ts);
    return best;
}

static double rel_err(const float *y, const double *ref, size_t n)
{
    double e = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        e += (y[i] - ref[i]) * (y[i] - ref[i]);
        r += ref[i] * ref[i];
    }
    return sqrt(e / r);
}

static void bench_shape(int64_t M, int64_t K, int64_t N, const int *threads, int nthreads)
{
    const size_t nw = (size_t)(N * K);
    float *wf = xalloc(nw * sizeof(float));
    float *x = xalloc(sizeof(float) * (size_t)(M * K));
    float *y = xalloc(sizeof(float) * (size_t)(M * N));
    for (size_t i = 0; i < nw; i++)
        wf[i] = 0.02f * nrand();
    for (int64_t i = 0; i < M * K; i++)
        x[i] = nrand();
    double *ref_f32 = xalloc(sizeof(double) * (size_t)(M * N));
    double *ref = xalloc(sizeof(double) * (size_t)(M * N));
    float *wdeq = xalloc(nw * sizeof(float));
    for (int64_t r = 0; r < M; r++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++)
                s += (double)x[r * K + k] * wf[j * K + k];
            ref_f32[r * N + j] = s;
        }

    /* time[threads][dtype][hot/cold], plus dnnl's */
    double t_ours[4][NTYPES][2], t_dnnl[4][2], err[NTYPES], qerr[NTYPES];
    size_t wbytes[NTYPES];
    uint8_t **f32_copies = NULL;
    int f32_ncopies = 0;
    for (int ti = 0; ti < NTYPES; ti++) {
        const ia_dtype t = types[ti];
        const size_t bytes = ia__dtype_row_bytes(t, K) * (size_t)N;
        wbytes[ti] = wanted(t) ? bytes : 0;
        if (!wbytes[ti]) /* K is not a multiple of the block (k-quants at K = 576) */
            continue;
        const int ncopies = (int)((COLD_BYTES + bytes - 1) / bytes);
        uint8_t **copies = malloc(sizeof(uint8_t *) * (size_t)ncopies);
        copies[0] = xalloc(bytes);
        ia__dtype(t)->from_f32(wf, copies[0], (int64_t)nw);
        for (int c = 1; c < ncopies; c++) {
            copies[c] = xalloc(bytes);
            memcpy(copies[c], copies[0], bytes);
        }
        /* errors: against the dequantized weights, and theirs against f32 */
        ia__dtype(t)->to_f32(copies[0], wdeq, (int64_t)nw);
        for (int64_t r = 0; r < M; r++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++)
                    s += (double)x[r * K + k] * wdeq[j * K + k];
                ref[r * N + j] = s;
            }
        if (ia__cpu_qmatmul(copies[0], t, N, K, x, M, NULL, y, 1, NULL)) {
            fprintf(stderr, "qmatmul_bench: %s: %s\n", ia__dtype_name(t), ia_errmsg());
            exit(1);
        }
        err[ti] = rel_err(y, ref, (size_t)(M * N));
        qerr[ti] = 0;
        {
            double e = 0, rr = 0;
            for (int64_t i = 0; i < M * N; i++) {
                e += (ref[i] - ref_f32[i]) * (ref[i] - ref_f32[i]);
                rr += ref_f32[i] * ref_f32[i];
            }
            qerr[ti] = sqrt(e / rr);
        }
        void *scratch = NULL;
        const size_t sb = ia__cpu_qmatmul_scratch(t, K, M);
        if (sb)
            scratch = xalloc(sb);
        for (int h = 0; h < nthreads; h++)
            for (int cold = 0; cold < 2; cold++) {
                job j = {0, t, M, N, K, x, y, copies, cold ? ncopies : 1, threads[h], scratch};
                t_ours[h][ti][cold] = median_time(&j);
            }
        free(scratch);
        if (t == IA_DTYPE_F32) {
            f32_copies = copies, f32_ncopies = ncopies;
            for (int h = 0; h < nthreads; h++) {
                omp_set_num_threads(threads[h]);
                for (int cold = 0; cold < 2; cold++) {
                    job j = {1, t, M, N, K, x, y, copies, cold ? ncopies : 1, threads[h], NULL};
                    t_dnnl[h][cold] = median_time(&j);
                }
            }
        } else {
            for (int c = 0; c < ncopies; c++)
                free(copies[c]);
            free(copies);
        }
    }
    for (int c = 0; c < f32_ncopies; c++)
        free(f32_copies[c]);
    free(f32_copies);

    for (int h = 0; h < nthreads; h++)
        for (int cold = 0; cold < 2; cold++) {
            printf("\n### M=%lld K=%lld N=%lld, %d thread%s, %s weights (%s kernels)\n\n", (long long)M,
                   (long long)K, (long long)N, threads[h], threads[h] > 1 ? "s" : "", cold ? "cold" : "hot",
                   ia__qmm_kernels_get()->name);
            printf("| dtype | weight KiB | us/call | GB/s | vs our f32 | vs dnnl_sgemm | rel err vs W_deq | W quant err |\n");
            printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
            printf("| dnnl_sgemm f32 | %.0f | %.1f | %.1f | %.2fx | 1.00x | - | - |\n", wbytes[0] / 1024.0,
                   t_dnnl[h][cold] * 1e6, wbytes[0] / t_dnnl[h][cold] * 1e-9,
                   t_ours[h][0][cold] / t_dnnl[h][cold]);
            for (int ti = 0; ti < NTYPES; ti++) {
                if (!wanted(types[ti]))
                    continue;
                if (!wbytes[ti]) {
                    printf("| %s | - | - | - | - | - | - | - |  (K %% %d != 0)\n", ia__dtype_name(types[ti]),
                           ia__dtype(types[ti])->block);
                    continue;
                }
                const double t = t_ours[h][ti][cold];
                printf("| %s | %.0f | %.1f | %.1f | %.2fx | %.2fx | %.2e | %.2e |\n", ia__dtype_name(types[ti]),
                       wbytes[ti] / 1024.0, t * 1e6, wbytes[ti] / t * 1e-9, t_ours[h][0][cold] / t,
                       t_dnnl[h][cold] / t, err[ti], qerr[ti]);
            }
        }
    fflush(stdout);
    free(wf), free(x), free(y), free(ref_f32), free(ref), free(wdeq);
}

int main(int argc, char **argv)
{
    int threads[4] = {1, 2}, nthreads = 2;
    if (argc > 1) {
        nthreads = 0;
        for (int i = 1; i < argc && nthreads < 4; i++) {
            char *end;
            long v = strtol(argv[i], &end, 10);
            if (*end || v < 1 || v > 1024) {
                fprintf(stderr, "usage: qmatmul_bench [threads...] (1 to 4 counts)\n");
                return 2;
            }
            threads[nthreads++] = (int)v;
        }
    }
    only_types = getenv("QMM_BENCH_TYPES");
    const char *only_m = getenv("QMM_BENCH_M");
    const char *s = getenv("QMM_BENCH_SECONDS");
    if (s && atof(s) > 0)
        seconds_per = atof(s);
    printf("qmatmul_bench: kernels %s, backend ISA %s; median of many calls; ratios are the other's time / this time\n",
           ia__qmm_kernels_get()->name, ia__cpu_isa_name());
    print_loadavg("at start");
    static const int64_t shapes[][3] = {{1, 576, 1536}, {1, 1536, 576}, {16, 576, 1536}, {16, 1536, 576},
                                        {512, 576, 1536}, {512, 1536, 576}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (only_m ? atol(only_m) == shapes[i][0] : shapes[i][0] < 512)
            bench_shape(shapes[i][0], shapes[i][1], shapes[i][2], threads, nthreads);
    printf("\n");
    print_loadavg("at end");
    return 0;
}
