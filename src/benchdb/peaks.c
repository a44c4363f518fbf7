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
#include "core/config-impl.h"

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

/* Fill n floats of dst, a buffer of be's instance ctx, from the host. */
static ia_status fill(const ia_backend *be, void *ctx, float *dst, size_t n, float scale, uint32_t *r)
{
    float *host = be->iface.upload ? ia__malloc(n * sizeof(float)) : dst;
    if (!host)
        return ia__error(IA_ERR_NOMEM, "peaks: out of memory for %zu floats", n);
    for (size_t i = 0; i < n; i++) {
        *r = *r * 1664525u + 1013904223u;
        host[i] = ((float)(*r >> 8) / 16777216.0f - 0.5f) * scale;
    }
    ia_status st = be->iface.upload ? be->iface.upload(ctx, dst, host, n * sizeof(float)) : IA_OK;
    if (host != dst)
        ia__free(host);
    return st;
}

/* The fastest of the calls of node made in about seconds (at least 3): a
 * peak, as STREAM reports the best pass (another process on the machine
 * slows some calls, never speeds one up). The first call is a warm-up. */
static ia_status fastest(const ia_backend *be, void *ctx, const ia_node *node, double seconds, double *best)
{
    ia_status st = be->iface.graph_compute(ctx, node, 1);
    long calls = 0;
    double t0 = now_s(), t = t0;
    *best = INFINITY;
    while (!st && (t - t0 < seconds || calls < 3)) {
        double c0 = now_s();
        st = be->iface.graph_compute(ctx, node, 1);
        calls++;
        t = now_s();
        *best = fmin(*best, t - c0);
    }
    return st;
}

/* One (m x k) x (k x n) matmul through the instance's own prepared linear
 * layer (the code the models run: packing, conversion to the compute
 * precision, int8 activation quantization, fork-join or submission). */
static ia_status gemm_once(const ia_backend *be, void *ctx, int m, int k, int n, double seconds, double *best)
{
    float *W = ia__malloc((size_t)n * k * sizeof(float));
    float *x = be->iface.buf_alloc(ctx, (size_t)m * k * sizeof(float));
    float *y = be->iface.buf_alloc(ctx, (size_t)m * n * sizeof(float));
    void *prep = NULL;
    ia_status st = IA_OK;
    if (!W || !x || !y)
        st = ia__error(IA_ERR_NOMEM, "peaks: out of memory for a %dx%dx%d GEMM", m, k, n);
    /* Values of a trained layer's magnitude; their pattern does not
     * change the time of a dense kernel. */
    uint32_t r = 12345;
    for (size_t i = 0; !st && i < (size_t)n * k; i++) {
        r = r * 1664525u + 1013904223u;
        W[i] = ((float)(r >> 8) / 16777216.0f - 0.5f) * 0.1f;
    }
    if (!st)
        st = fill(be, ctx, x, (size_t)m * k, 1.0f, &r);
    ia_tensor tw = ia__tensor(IA_DTYPE_F32, k, n, 1, 1, W);
    if (!st && be->iface.weight_prepare) {
        st = be->iface.weight_prepare(ctx, &tw, NULL, NULL, &prep);
        tw.extra = prep;
    }
    ia_tensor tx = ia__tensor(IA_DTYPE_F32, k, m, 1, 1, x);
    ia_tensor ty = ia__tensor(IA_DTYPE_F32, n, m, 1, 1, y);
    ia_node node = {.op = IA_OP_MATMUL, .dst = &ty, .src = {&tx, &tw, NULL}};
    if (!st)
        st = fastest(be, ctx, &node, seconds, best);
    if (prep)
        be->iface.weight_release(ctx, prep);
    if (x)
        be->iface.buf_free(ctx, x);
    if (y)
        be->iface.buf_free(ctx, y);
    ia__free(W);
    return st;
}

/* The backend named by device ("cpu", "vulkan:1") and its index. */
static ia_status find_device(const char *device, const ia_backend **be, int *index)
{
    const char *id;
    *index = 0;
    if (!device || !*device)
        device = "cpu";
    if (!ia__backend_device_parse(device, &id, index) || !(*be = ia__backend_find(id)))
        return ia__error(IA_ERR_INVALID, "peaks: device \"%s\": no such backend in this build", device);
    *index = *index < 0 ? 0 : *index;
    if (!(*be)->iface.device_count || *index >= (*be)->iface.device_count())
        return ia__error(IA_ERR_NOT_FOUND, "peaks: device \"%s\": the %s backend has no device %d", device, id,
                         *index);
    return IA_OK;
}

ia_status ia__pm_measure_gemm(const char *device, const char *precision, int n_threads, double seconds,
                              double *flops, int *m, int *n, int *k)
{
    IA_NEED(precision);
    IA_NEED(flops);
    *flops = 0;
    const ia_backend *be;
    int index;
    ia_status st = find_device(device, &be, &index);
    if (st)
        return st;
    const char *used = be->iface.resolve_precision(precision);
    if (!used)
        return ia__error(IA_ERR_INVALID, "peaks: precision \"%s\": unknown to the %s backend", precision, be->name);
    if (strcmp(used, precision))
        return ia__error(IA_ERR_UNSUPPORTED, "peaks: the %s backend computes %s as %s", be->name, precision, used);
    void *ctx = NULL;
    if ((st = be->iface.open(index, n_threads, precision, false, &ctx)))
        return st;
    /* The CPU: the one shape every stored peak has. Another device (a GPU
     * thousands of times faster, or lavapipe a hundred times slower than
     * the CPU): the largest of a doubling series up to 8x the CPU's whose
     * one call stays within a quarter of the budget. */
    int gm = GEMM_M, gk = GEMM_K, gn = GEMM_N;
    double best = INFINITY;
    if (strcmp(be->name, "cpu")) {
        gm = 64, gk = 256, gn = 256;
        for (int step = 0; !st; step++) {
            st = gemm_once(be, ctx, gm, gk, gn, 0, &best);
            if (st || best > seconds / 4 || step == 9)
                break;
            int *grow = step % 3 == 0 ? &gm : step % 3 == 1 ? &gn : &gk; /* m, n, k in turn */
            *grow *= 2;
        }
    }
    if (!st)
        st = gemm_once(be, ctx, gm, gk, gn, seconds, &best);
    if (!st)
        *flops = 2.0 * gm * gk * gn / best;
    if (m)
        *m = gm, *n = gn, *k = gk;
    be->iface.close(ctx);
    return st;
}

/* One dst = a + b over n floats each, timed as fastest() does. */
static ia_status add_once(const ia_backend *be, void *ctx, int64_t n, double seconds, double *best)
{
    float *a = be->iface.buf_alloc(ctx, (size_t)n * sizeof(float));
    float *b = be->iface.buf_alloc(ctx, (size_t)n * sizeof(float));
    float *d = be->iface.buf_alloc(ctx, (size_t)n * sizeof(float));
    uint32_t r = 777;
    ia_status st = IA_OK;
    if (!a || !b || !d)
        st = ia__error(IA_ERR_NOMEM, "peaks: out of %s memory for 3 x %lld MiB", be->name, (long long)(n >> 18));
    if (!st)
        st = fill(be, ctx, a, (size_t)n, 1.0f, &r);
    if (!st)
        st = fill(be, ctx, b, (size_t)n, 1.0f, &r);
    ia_tensor ta = ia__tensor(IA_DTYPE_F32, n, 1, 1, 1, a), tb = ia__tensor(IA_DTYPE_F32, n, 1, 1, 1, b);
    ia_tensor td = ia__tensor(IA_DTYPE_F32, n, 1, 1, 1, d);
    ia_node node = {.op = IA_OP_ADD, .dst = &td, .src = {&ta, &tb, NULL}};
    if (!st)
        st = fastest(be, ctx, &node, seconds, best);
    if (a)
        be->iface.buf_free(ctx, a);
    if (b)
        be->iface.buf_free(ctx, b);
    if (d)
        be->iface.buf_free(ctx, d);
    return st;
}

/* A device's memory bandwidth: dst = a + b, 3 x 4 bytes moved per element,
 * over the largest of 1, 2, 4 ... 64 MiB a buffer (above any GPU's
 * last-level cache at the top) whose call fits a quarter of the time. */
static ia_status device_bandwidth(const ia_backend *be, int index, double seconds, double *bytes_per_s,
                                  double *buffer_bytes)
{
    void *ctx = NULL;
    ia_status st = be->iface.open(index, 0, "fp32", false, &ctx);
    if (st)
        return st;
    int64_t n = (int64_t)1 << 18;
    double best = INFINITY;
    while (!st && n < ((int64_t)16 << 20)) {
        st = add_once(be, ctx, n, 0, &best);
        if (st || best > seconds / 4)
            break;
        n *= 2;
    }
    if (!st)
        st = add_once(be, ctx, n, seconds, &best);
    if (!st) {
        *bytes_per_s = 3.0 * (double)n * sizeof(float) / best;
        *buffer_bytes = 3.0 * (double)n * sizeof(float);
    }
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

ia_status ia__pm_measure_peaks(const char *device, int n_threads, double seconds_each, ia_pm_peaks *p)
{
    IA_NEED(p);
    memset(p, 0, sizeof *p);
    const ia_backend *be;
    int index;
    ia_status st = find_device(device, &be, &index);
    if (st)
        return st;
    const bool cpu = !strcmp(be->name, "cpu");
    snprintf(p->device, sizeof p->device, "%s:%d", be->name, index);
    p->threads = cpu ? n_threads : 0;
    /* fp32 always; the others where the backend computes them. */
    static const char *const precs[] = {"fp32", "int8", "bf16", "fp16"};
    for (size_t i = 0; i < sizeof precs / sizeof precs[0] && p->n_gemm < IA_PM_MAX_PREC; i++) {
        double f, t0 = now_s();
        int m, n, k;
        st = ia__pm_measure_gemm(p->device, precs[i], n_threads, seconds_each, &f, &m, &n, &k);
        if ((st == IA_ERR_UNSUPPORTED || st == IA_ERR_INVALID) && i > 0)
            continue;
        if (st)
            return st;
        snprintf(p->gemm[p->n_gemm].precision, sizeof p->gemm[0].precision, "%s", precs[i]);
        p->gemm[p->n_gemm].flops = f;
        p->gemm[p->n_gemm].seconds = now_s() - t0;
        p->gemm[p->n_gemm].m = m, p->gemm[p->n_gemm].n = n, p->gemm[p->n_gemm].k = k;
        p->n_gemm++;
    }
    ia__error_clear();
    return cpu ? ia__pm_measure_bandwidth(n_threads, seconds_each, &p->mem_bw, &p->mem_bytes)
               : device_bandwidth(be, index, seconds_each, &p->mem_bw, &p->mem_bytes);
}

double ia__pm_peak_flops(const ia_pm_peaks *p, const char *precision)
{
    for (int i = 0; p && precision && i < p->n_gemm; i++)
        if (!strcmp(p->gemm[i].precision, precision))
            return p->gemm[i].flops;
    return 0;
}
