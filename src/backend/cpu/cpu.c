/*
 * The CPU backend: host memory; linear layers through oneDNN's GEMMs (f32
 * sgemm, u8 x s8 int8 GEMM with VNNI), which measure fastest here and do not
 * depend on OPENBLAS_CORETYPE; the other ops as kernels picked at run time
 * for the CPU's instruction set (kernels.inc: AVX-512, AVX2, portable C).
 *
 * Threads: one OpenMP pool shared with oneDNN (built on OpenMP too), never
 * nested. A linear layer of many rows is split into row chunks, each
 * thread running a single-threaded GEMM on its chunk and then the chunk's
 * epilogue (bias + activation, or residual + LayerNorm) while it is still
 * in cache; few rows go to one multi-threaded GEMM instead.
 */
#include <dnnl.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/cpu-impl.h"

enum { PREC_FP32, PREC_INT8, PREC_BF16 };
static const char *const prec_names[] = {"fp32", "int8", "bf16"};

struct ia_linear {
    int n_out, n_in, prec;
    float *w;      /* fp32: (n_out, n_in) */
    float *b;      /* (n_out) or NULL */
    int8_t *wq;    /* int8: (n_out, n_in), per-output-row scale */
    float *wscale; /* int8: (n_out) */
    int32_t *comp; /* int8: -128 * sum_k wq[j][k], the u8 zero point's share */
};

static int n_threads_set;
static int prec_want = PREC_FP32;

static int threads(void) { return n_threads_set > 0 ? n_threads_set : omp_get_num_procs(); }

/* instruction set ------------------------------------------------------- */

static ia__cpu_isa isa_level = IA_CPU_ISA_PORTABLE;
static const ia__cpu_kernels *kern = &ia__cpu_kernels_portable;
static bool have_vnni;
static pthread_once_t isa_once = PTHREAD_ONCE_INIT;

static void isa_init(void)
{
    ia__cpu_isa best = IA_CPU_ISA_PORTABLE;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        best = IA_CPU_ISA_AVX2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        best = IA_CPU_ISA_AVX512;
    have_vnni = best == IA_CPU_ISA_AVX512 && __builtin_cpu_supports("avx512vnni");
#endif
    const char *env = getenv("IA_CPU_ISA");
    ia__cpu_isa want = best;
    if (env && *env) {
        if (!strcmp(env, "portable"))
            want = IA_CPU_ISA_PORTABLE;
        else if (!strcmp(env, "avx2"))
            want = IA_CPU_ISA_AVX2;
        else if (!strcmp(env, "avx512"))
            want = IA_CPU_ISA_AVX512;
        else
            ia__log(IA_LOG_WARN, "IA_CPU_ISA=%s: unknown (portable, avx2, avx512); using the CPU's best", env);
        if (want > best) {
            ia__log(IA_LOG_WARN, "IA_CPU_ISA=%s: this CPU lacks it; using %s", env,
                    best == IA_CPU_ISA_AVX2 ? "avx2" : "portable");
            want = best;
        }
    }
    isa_level = want;
    kern = want == IA_CPU_ISA_AVX512 ? &ia__cpu_kernels_avx512
         : want == IA_CPU_ISA_AVX2   ? &ia__cpu_kernels_avx2
                                     : &ia__cpu_kernels_portable;
    if (want < best) { /* keep oneDNN at the same level */
        have_vnni = false;
        dnnl_set_max_cpu_isa(want == IA_CPU_ISA_AVX2 ? dnnl_cpu_isa_avx2 : dnnl_cpu_isa_sse41);
    }
}

ia__cpu_isa ia__cpu_isa_level(void)
{
    pthread_once(&isa_once, isa_init);
    return isa_level;
}

const char *ia__cpu_isa_name(void)
{
    static const char *const names[] = {"portable", "avx2", "avx512"};
    return names[ia__cpu_isa_level()];
}

static const ia__cpu_kernels *K(void)
{
    pthread_once(&isa_once, isa_init);
    return kern;
}

/* profile --------------------------------------------------------------- */

static int prof_on = -1;
static ia__cpu_profile prof;

static bool profiling(void)
{
    if (prof_on < 0) {
        const char *e = getenv("IA_CPU_PROFILE");
        prof_on = e && !strcmp(e, "1");
    }
    return prof_on;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void prof_add(const ia_linear *lin, int rows, double t)
{
    double flop = 2.0 * rows * lin->n_out * lin->n_in;
#pragma omp critical(ia_cpu_prof)
    {
        prof.gemm_s += t;
        prof.gemm_flop += flop;
        prof.gemm_calls++;
        if ((long)lin->n_out * lin->n_in >= 384L * 1152 && rows > 256) {
            prof.big_s += t;
            prof.big_flop += flop;
        }
    }
}

void ia__cpu_profile_reset(void) { memset(&prof, 0, sizeof prof); }
void ia__cpu_profile_get(ia__cpu_profile *p) { *p = prof; }

/* buffers --------------------------------------------------------------- */

static int device_count(void *ctx) { return 1; }

static const char *device_name(void *ctx, int device)
{
    (void)device;
    return "host CPU";
}

static void *buf_alloc(void *ctx, size_t bytes) { return ia__malloc(bytes); }
static void buf_free(void *ctx, void *buf) { ia__free(buf); }

/* linear layers --------------------------------------------------------- */

static void linear_free(void *ctx, ia_linear *lin)
{
    if (!lin)
        return;
    ia__free(lin->w);
    ia__free(lin->b);
    ia__free(lin->wq);
    ia__free(lin->wscale);
    ia__free(lin->comp);
    ia__free(lin);
}

static int effective_prec(void)
{
    if (prec_want == PREC_INT8 && !have_vnni)
        return PREC_FP32; /* u8 x s8 without VNNI saturates in 16 bits */
    if (prec_want == PREC_BF16)
        return PREC_FP32; /* no bf16 GEMM in this build yet */
    return prec_want;
}

static ia_status linear_new(void *ctx, const float *W, const float *b, int n_out, int n_in,
                            ia_linear **out)
{
    pthread_once(&isa_once, isa_init);
    ia_linear *lin = ia__calloc(1, sizeof *lin);
    if (!lin)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    lin->n_out = n_out;
    lin->n_in = n_in;
    lin->prec = effective_prec();
    const size_t nw = (size_t)n_out * n_in;
    bool ok = true;
    if (b) {
        ok = (lin->b = ia__malloc((size_t)n_out * sizeof(float))) != NULL;
        if (ok)
            memcpy(lin->b, b, (size_t)n_out * sizeof(float));
    }
    if (ok && lin->prec == PREC_INT8) {
        lin->wq = ia__malloc(nw);
        lin->wscale = ia__malloc((size_t)n_out * sizeof(float));
        lin->comp = ia__malloc((size_t)n_out * sizeof(int32_t));
        ok = lin->wq && lin->wscale && lin->comp;
        for (int j = 0; ok && j < n_out; j++) {
            const float *row = W + (size_t)j * n_in;
            float mx = 0;
            for (int k = 0; k < n_in; k++)
                mx = fmaxf(mx, fabsf(row[k]));
            const float inv = mx > 0 ? 127.0f / mx : 0.0f;
            int32_t sum = 0;
            for (int k = 0; k < n_in; k++) {
                int q = (int)lrintf(row[k] * inv);
                q = q > 127 ? 127 : q < -127 ? -127 : q;
                lin->wq[(size_t)j * n_in + k] = (int8_t)q;
                sum += q;
            }
            lin->wscale[j] = mx / 127.0f;
            lin->comp[j] = -128 * sum;
        }
    } else if (ok) {
        ok = (lin->w = ia__malloc(nw * sizeof(float))) != NULL;
        if (ok)
            memcpy(lin->w, W, nw * sizeof(float));
    }
    if (!ok) {
        linear_free(ctx, lin);
        return ia__error(IA_ERR_NOMEM, "out of memory for a %dx%d layer", n_out, n_in);
    }
    *out = lin;
    return IA_OK;
}

/* What follows the GEMM of a row chunk. */
typedef struct epilogue {
    ia_activation act;
    float *res; /* non-NULL: res = LN(res + y + b) */
    const float *gamma, *beta;
    float eps;
} epilogue;

static int chunk_rows(void)
{
    static int ch = -1;
    if (ch < 0) {
        const char *e = getenv("IA_CPU_CHUNK");
        ch = e && atoi(e) >= 8 ? atoi(e) : 128;
    }
    return ch;
}

/* y (rows, n_out) = x (rows, n_in) W^T for one chunk, then its epilogue.
 * qbuf/ibuf/sbuf: int8 scratch of rows * n_in bytes, rows * n_out int32s
 * and rows floats. */
static void chunk(const ia_linear *lin, const float *x, float *y, int rows, const epilogue *ep,
                  unsigned char *qbuf, int32_t *ibuf, float *sbuf)
{
    const int N = lin->n_out, Kd = lin->n_in;
    const ia__cpu_kernels *k = K();
    if (lin->prec == PREC_INT8) {
        k->quantize_rows(x, rows, Kd, qbuf, sbuf);
        dnnl_gemm_u8s8s32('N', 'T', 'R', rows, N, Kd, 1.0f, qbuf, Kd, 0, lin->wq, Kd, 0, 0.0f,
                          ibuf, N, lin->comp);
        for (int r = 0; r < rows; r++) {
            const int32_t *ir = ibuf + (size_t)r * N;
            float *yr = y + (size_t)r * N;
            const float sa = sbuf[r];
            const float *sw = lin->wscale;
#pragma omp simd
            for (int j = 0; j < N; j++)
                yr[j] = (float)ir[j] * sa * sw[j];
        }
    } else {
        dnnl_sgemm('N', 'T', rows, N, Kd, 1.0f, x, Kd, lin->w, Kd, 0.0f, y, N);
    }
    if (ep->res)
        k->add_ln(ep->res, y, lin->b, ep->gamma, ep->beta, rows, N, ep->eps);
    else if (lin->b || ep->act != IA_ACT_NONE)
        k->bias_act(y, rows, N, lin->b, ep->act);
}

static void run_linear(const ia_linear *lin, const float *x, float *y, int n_rows,
                       const epilogue *ep)
{
    const int nt = threads(), N = lin->n_out, Kd = lin->n_in, ch = chunk_rows();
    const bool prof_it = profiling();
    const double t0 = prof_it ? now() : 0;
    const bool int8 = lin->prec == PREC_INT8;
    if (n_rows < 2 * ch || nt == 1) {
        /* Few rows: one GEMM over all threads (they split the columns),
         * then the epilogue split by rows. */
        omp_set_num_threads(nt);
        unsigned char *q = NULL;
        int32_t *ib = NULL;
        float *sb = NULL;
        if (int8) {
            q = ia__malloc((size_t)n_rows * Kd);
            ib = ia__malloc((size_t)n_rows * N * sizeof(int32_t));
            sb = ia__malloc((size_t)n_rows * sizeof(float));
            if (!q || !ib || !sb)
                abort(); /* small scratch: as the allocator's own policy */
            K()->quantize_rows(x, n_rows, Kd, q, sb);
            dnnl_gemm_u8s8s32('N', 'T', 'R', n_rows, N, Kd, 1.0f, q, Kd, 0, lin->wq, Kd, 0, 0.0f,
                              ib, N, lin->comp);
            for (int r = 0; r < n_rows; r++)
                for (int j = 0; j < N; j++)
                    y[(size_t)r * N + j] = (float)ib[(size_t)r * N + j] * sb[r] * lin->wscale[j];
            ia__free(q);
            ia__free(ib);
            ia__free(sb);
        } else {
            dnnl_sgemm('N', 'T', n_rows, N, Kd, 1.0f, x, Kd, lin->w, Kd, 0.0f, y, N);
        }
        const ia__cpu_kernels *k = K();
        if (ep->res)
            k->add_ln(ep->res, y, lin->b, ep->gamma, ep->beta, n_rows, N, ep->eps);
        else if (lin->b || ep->act != IA_ACT_NONE)
            k->bias_act(y, n_rows, N, lin->b, ep->act);
    } else {
        const int n_chunks = (n_rows + ch - 1) / ch;
#pragma omp parallel num_threads(nt)
        {
            unsigned char *q = NULL;
            int32_t *ib = NULL;
            float *sb = NULL;
            if (int8) {
                q = ia__malloc((size_t)ch * Kd);
                ib = ia__malloc((size_t)ch * N * sizeof(int32_t));
                sb = ia__malloc((size_t)ch * sizeof(float));
                if (!q || !ib || !sb)
                    abort();
            }
#pragma omp for schedule(dynamic, 1)
            for (int c = 0; c < n_chunks; c++) {
                const int lo = c * ch, rows = n_rows - lo < ch ? n_rows - lo : ch;
                epilogue e = *ep;
                if (e.res)
                    e.res += (size_t)lo * N;
                chunk(lin, x + (size_t)lo * Kd, y + (size_t)lo * N, rows, &e, q, ib, sb);
            }
            ia__free(q);
            ia__free(ib);
            ia__free(sb);
        }
    }
    if (prof_it)
        prof_add(lin, n_rows, now() - t0);
}

static void linear(void *ctx, const ia_linear *lin, const float *x, float *y, int n_rows,
                   ia_activation act)
{
    epilogue ep = {.act = act};
    run_linear(lin, x, y, n_rows, &ep);
}

static void linear_add_layernorm(void *ctx, const ia_linear *lin, const float *x, float *res,
                                 float *tmp, int n_rows, const float *gamma, const float *beta,
                                 float eps)
{
    epilogue ep = {.act = IA_ACT_NONE, .res = res, .gamma = gamma, .beta = beta, .eps = eps};
    run_linear(lin, x, tmp, n_rows, &ep);
}

/* other ops ------------------------------------------------------------- */

static void embed(void *ctx, const int32_t *ids, const int *offsets, int n_seqs,
                  const float *word, const float *pos, const float *type, int dim, float *x)
{
#pragma omp parallel for num_threads(threads()) schedule(static)
    for (int s = 0; s < n_seqs; s++) {
        for (int t = offsets[s]; t < offsets[s + 1]; t++) {
            const float *w = word + (size_t)ids[t] * dim;
            const float *p = pos + (size_t)(t - offsets[s]) * dim;
            float *o = x + (size_t)t * dim;
            for (int j = 0; j < dim; j++)
                o[j] = w[j] + p[j] + type[j];
        }
    }
}

static void add_layernorm(void *ctx, float *x, const float *residual, const float *gamma,
                          const float *beta, int n_rows, int dim, float eps)
{
    const ia__cpu_kernels *k = K();
    const int nt = threads(), per = (n_rows + nt - 1) / nt;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        const int lo = t * per, hi = IA_MIN(n_rows, lo + per);
        if (lo < hi)
            k->add_ln(x + (size_t)lo * dim, residual ? residual + (size_t)lo * dim : NULL, NULL,
                      gamma, beta, hi - lo, dim, eps);
    }
}

static ia_status attention(void *ctx, const float *qkv, float *out, const int *offsets,
                           int n_seqs, int n_heads, int head_dim)
{
    const int dim = n_heads * head_dim, stride = 3 * dim;
    const float scale = 1.0f / sqrtf((float)head_dim);
    int max_len = 0;
    for (int s = 0; s < n_seqs; s++)
        max_len = IA_MAX(max_len, offsets[s + 1] - offsets[s]);
    const size_t lp = (size_t)(max_len + 15) & ~(size_t)15;
    const size_t per = (size_t)head_dim * lp + 4 * (size_t)head_dim + 4 * lp + 64;
    const int nt = threads();
    float *scratch = ia__malloc((size_t)nt * per * sizeof(float));
    if (!scratch)
        return ia__error(IA_ERR_NOMEM, "out of memory for attention scores");
    const ia__cpu_kernels *k = K();
#pragma omp parallel num_threads(nt)
    {
        float *sc = scratch + (size_t)omp_get_thread_num() * per;
#pragma omp for schedule(dynamic) collapse(2)
        for (int s = 0; s < n_seqs; s++) {
            for (int h = 0; h < n_heads; h++) {
                const int start = offsets[s], len = offsets[s + 1] - start;
                const float *q = qkv + (size_t)start * stride + h * head_dim;
                k->attention_head(q, q + dim, q + 2 * dim, stride, len, head_dim, scale,
                                  out + (size_t)start * dim + h * head_dim, dim, sc);
            }
        }
    }
    ia__free(scratch);
    return IA_OK;
}

static void pool(void *ctx, const float *x, const int *offsets, int n_seqs, int dim,
                 ia_pool_mode mode, float *out)
{
#pragma omp parallel for num_threads(threads()) schedule(static)
    for (int s = 0; s < n_seqs; s++) {
        const int start = offsets[s], len = offsets[s + 1] - start;
        float *o = out + (size_t)s * dim;
        const float *first = x + (size_t)start * dim;
        memcpy(o, first, (size_t)dim * sizeof(float));
        if (mode == IA_POOL_CLS)
            continue;
        for (int t = 1; t < len; t++) {
            const float *row = first + (size_t)t * dim;
            for (int j = 0; j < dim; j++)
                o[j] = mode == IA_POOL_MAX ? (row[j] > o[j] ? row[j] : o[j]) : o[j] + row[j];
        }
        if (mode == IA_POOL_MEAN)
            for (int j = 0; j < dim; j++)
                o[j] /= (float)len;
    }
}

static void set_threads(void *ctx, int n) { n_threads_set = n; }

static ia_status set_precision(void *ctx, const char *name)
{
    pthread_once(&isa_once, isa_init);
    for (int p = 0; p < (int)IA_ARRAY_LEN(prec_names); p++) {
        if (name && !strcmp(name, prec_names[p])) {
            prec_want = p;
            if (effective_prec() != p)
                ia__log(IA_LOG_INFO, "precision %s: this CPU (or IA_CPU_ISA) lacks %s; computing in fp32",
                        name, p == PREC_INT8 ? "AVX-512 VNNI" : "a bf16 GEMM");
            return IA_OK;
        }
    }
    return ia__error(IA_ERR_INVALID, "precision \"%s\": unknown (fp32, int8, bf16)", name ? name : "(null)");
}

static const char *precision(void *ctx)
{
    pthread_once(&isa_once, isa_init);
    return prec_names[effective_prec()];
}

static const ia_backend cpu_backend = {
    .api_version = IA_BACKEND_API_VERSION,
    .name = "cpu",
    .iface = {
        .device_count = device_count,
        .device_name = device_name,
        .buf_alloc = buf_alloc,
        .buf_free = buf_free,
        .linear_new = linear_new,
        .linear_free = linear_free,
        .linear = linear,
        .embed = embed,
        .add_layernorm = add_layernorm,
        .attention = attention,
        .pool = pool,
        .set_threads = set_threads,
        .precision = precision,
        .linear_add_layernorm = linear_add_layernorm,
        .set_precision = set_precision,
    },
};

const ia_backend *ia__backend_cpu(void) { return &cpu_backend; }
