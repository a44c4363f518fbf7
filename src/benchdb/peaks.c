/*
 * The machine's measured peaks for the performance model (perfmodel.h):
 * GEMM throughput per precision, timed through the CPU backend's own
 * prepared linear layers (the code the models run, packing, int8
 * activation quantization and thread fork-join included), and memory
 * bandwidth as a streaming read of a buffer well above the last-level
 * cache by the same number of OpenMP threads; each the fastest call or
 * pass seen in about half a second. Measured once per machine
 * (`ipfs-accelerate bench peaks`) and stored in the database.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend-impl.h"
#include "benchdb/perfmodel.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A square-ish shape: large enough that packing and the threads' start
 * are amortized, small enough for a call in tens of milliseconds on a
 * few cores (2 * 512 * 1024 * 1024 = 1.07 GFLOP). */
enum { GEMM_M = 512, GEMM_K = 1024, GEMM_N = 1024 };

ia_status ia__pm_measure_gemm(const char *precision, int n_threads, double seconds, double *flops, int *m, int *n,
                              int *k)
{
    IA_NEED(precision);
    IA_NEED(flops);
    *flops = 0;
    const ia_backend *be = ia__backend_find("cpu");
    if (!be)
        return ia__error(IA_ERR_BACKEND, "peaks: no cpu backend");
    const char *used = be->iface.resolve_precision(precision);
    if (!used)
        return ia__error(IA_ERR_INVALID, "peaks: precision \"%s\": unknown to the cpu backend", precision);
    if (strcmp(used, precision))
        return ia__error(IA_ERR_UNSUPPORTED, "peaks: this CPU computes %s as %s", precision, used);
    void *ctx = NULL;
    ia_status st = be->iface.open(0, n_threads, precision, false, &ctx);
    if (st)
        return st;
    float *W = ia__malloc((size_t)GEMM_N * GEMM_K * sizeof(float));
    float *x = be->iface.buf_alloc(ctx, (size_t)GEMM_M * GEMM_K * sizeof(float));
    float *y = be->iface.buf_alloc(ctx, (size_t)GEMM_M * GEMM_N * sizeof(float));
    void *prep = NULL;
    if (!W || !x || !y)
        st = ia__error(IA_ERR_NOMEM, "peaks: out of memory for a %dx%dx%d GEMM", GEMM_M, GEMM_K, GEMM_N);
    /* Values of a trained layer's magnitude; their pattern does not
     * change the time of a dense kernel. */
    uint32_t r = 12345;
    for (size_t i = 0; !st && i < (size_t)GEMM_N * GEMM_K; i++) {
        r = r * 1664525u + 1013904223u;
        W[i] = ((float)(r >> 8) / 16777216.0f - 0.5f) * 0.1f;
    }
    for (size_t i = 0; !st && i < (size_t)GEMM_M * GEMM_K; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = (float)(r >> 8) / 16777216.0f - 0.5f;
    }
    ia_tensor tw = ia__tensor(IA_DTYPE_F32, GEMM_K, GEMM_N, 1, 1, W);
    if (!st && be->iface.weight_prepare) {
        st = be->iface.weight_prepare(ctx, &tw, NULL, NULL, 0, &prep);
        tw.extra = prep;
    }
    ia_tensor tx = ia__tensor(IA_DTYPE_F32, GEMM_K, GEMM_M, 1, 1, x);
    ia_tensor ty = ia__tensor(IA_DTYPE_F32, GEMM_N, GEMM_M, 1, 1, y);
    ia_node node = {.op = IA_OP_MATMUL, .dst = &ty, .src = {&tx, &tw, NULL}};
    if (!st)
        st = be->iface.graph_compute(ctx, &node, 1); /* warm-up: first-touch, primitives' creation */
    /* The fastest call: a peak, as STREAM reports the best pass (another
     * process on the machine slows some calls, never speeds one up). */
    long calls = 0;
    double t0 = now_s(), t = t0, best = INFINITY;
    while (!st && (t - t0 < seconds || calls < 3)) {
        double c0 = now_s();
        st = be->iface.graph_compute(ctx, &node, 1);
        calls++;
        t = now_s();
        best = fmin(best, t - c0);
    }
    if (!st)
        *flops = 2.0 * GEMM_M * GEMM_K * GEMM_N / best;
    if (m)
        *m = GEMM_M, *n = GEMM_N, *k = GEMM_K;
    if (prep)
        be->iface.weight_release(ctx, prep);
    if (x)
        be->iface.buf_free(ctx, x);
    if (y)
        be->iface.buf_free(ctx, y);
    ia__free(W);
    be->iface.close(ctx);
    return st;
}

ia_status ia__pm_measure_bandwidth(int n_threads, double seconds, double *bytes_per_s, double *buffer_bytes)
{
    IA_NEED(bytes_per_s);
    *bytes_per_s = 0;
    /* Four times the last-level cache the system reports (a VM may report
     * the whole socket's), at least 256 MiB, at most 1 GiB. */
    long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
    size_t bytes = llc > 0 ? 4 * (size_t)llc : 0;
    bytes = bytes < ((size_t)256 << 20) ? (size_t)256 << 20 : bytes > ((size_t)1 << 30) ? (size_t)1 << 30 : bytes;
    size_t n = bytes / sizeof(double);
    double *buf = ia__malloc(n * sizeof(double));
    if (!buf)
        return ia__error(IA_ERR_NOMEM, "peaks: out of memory for a %zu MiB buffer", bytes >> 20);
    int threads = n_threads > 0 ? n_threads : omp_get_num_procs();
    /* Written by the threads that read it (first touch places its pages). */
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; i++)
        buf[i] = (double)(i & 7);
    double sink = 0, t0 = now_s(), t = t0, best = INFINITY;
    long passes = 0;
    while (t - t0 < seconds || passes < 2) {
        double s = 0, p0 = now_s();
#pragma omp parallel for simd num_threads(threads) schedule(static) reduction(+ : s)
        for (size_t i = 0; i < n; i++)
            s += buf[i];
        sink += s;
        passes++;
        t = now_s();
        best = fmin(best, t - p0); /* the fastest pass, as for the GEMMs */
    }
    ia__free(buf);
    /* The sum is checked so that the reads cannot be optimized away. */
    if (sink != (double)passes * (double)(n / 8) * 28.0 + (double)passes * (double)((n % 8) * ((n % 8) - 1) / 2))
        return ia__error(IA_ERR_BACKEND, "peaks: the bandwidth loop summed %g (memory error?)", sink);
    *bytes_per_s = (double)bytes / best;
    if (buffer_bytes)
        *buffer_bytes = (double)bytes;
    return IA_OK;
}

ia_status ia__pm_measure_peaks(int n_threads, double seconds_each, ia_pm_peaks *p)
{
    IA_NEED(p);
    memset(p, 0, sizeof *p);
    p->threads = n_threads;
    static const char *const precs[IA_PM_MAX_PREC] = {"fp32", "int8", "bf16"};
    for (int i = 0; i < IA_PM_MAX_PREC; i++) {
        double f, t0 = now_s();
        int m, n, k;
        ia_status st = ia__pm_measure_gemm(precs[i], n_threads, seconds_each, &f, &m, &n, &k);
        if (st == IA_ERR_UNSUPPORTED && i > 0)
            continue; /* fp32 always; the others where the CPU has them */
        if (st)
            return st;
        snprintf(p->gemm[p->n_gemm].precision, sizeof p->gemm[0].precision, "%s", precs[i]);
        p->gemm[p->n_gemm].flops = f;
        p->gemm[p->n_gemm].seconds = now_s() - t0;
        p->gemm[p->n_gemm].m = m, p->gemm[p->n_gemm].n = n, p->gemm[p->n_gemm].k = k;
        p->n_gemm++;
    }
    ia__error_clear();
    return ia__pm_measure_bandwidth(n_threads, seconds_each, &p->mem_bw, &p->mem_bytes);
}

double ia__pm_peak_flops(const ia_pm_peaks *p, const char *precision)
{
    for (int i = 0; p && precision && i < p->n_gemm; i++)
        if (!strcmp(p->gemm[i].precision, precision))
            return p->gemm[i].flops;
    return 0;
}
