/*
 * The CPU backend: host memory, GEMMs through oneDNN's sgemm (the fastest
 * f32 GEMM measured on this class of machine, and independent of
 * OPENBLAS_CORETYPE), the other ops as plain loops parallelized with OpenMP
 * over rows, sequences and heads. It is the reference every other backend
 * is checked against, so clarity wins over tricks here.
 */
#include <dnnl.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "backend/backend-impl.h"

struct ia_linear {
    float *w; /* (n_out, n_in) */
    float *b; /* (n_out) or NULL */
    int n_out, n_in;
};

static int n_threads_set;

static int threads(void) { return n_threads_set > 0 ? n_threads_set : omp_get_num_procs(); }

static int device_count(void *ctx) { return 1; }

static const char *device_name(void *ctx, int device)
{
    (void)device;
    return "host CPU";
}

static void *buf_alloc(void *ctx, size_t bytes) { return ia__malloc(bytes); }
static void buf_free(void *ctx, void *buf) { ia__free(buf); }

static ia_status linear_new(void *ctx, const float *W, const float *b, int n_out, int n_in,
                            ia_linear **out)
{
    ia_linear *lin = ia__calloc(1, sizeof *lin);
    if (!lin)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    lin->n_out = n_out;
    lin->n_in = n_in;
    lin->w = ia__malloc((size_t)n_out * n_in * sizeof(float));
    lin->b = b ? ia__malloc((size_t)n_out * sizeof(float)) : NULL;
    if (!lin->w || (b && !lin->b)) {
        ia__free(lin->w);
        ia__free(lin->b);
        ia__free(lin);
        return ia__error(IA_ERR_NOMEM, "out of memory for a %dx%d layer", n_out, n_in);
    }
    memcpy(lin->w, W, (size_t)n_out * n_in * sizeof(float));
    if (b)
        memcpy(lin->b, b, (size_t)n_out * sizeof(float));
    *out = lin;
    return IA_OK;
}

static void linear_free(void *ctx, ia_linear *lin)
{
    if (!lin)
        return;
    ia__free(lin->w);
    ia__free(lin->b);
    ia__free(lin);
}

static float gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

static float gelu_tanh(float x)
{
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

static void linear(void *ctx, const ia_linear *lin, const float *x, float *y, int n_rows,
                   ia_activation act)
{
    const int N = lin->n_out, K = lin->n_in;
    omp_set_num_threads(threads());
    dnnl_sgemm('N', 'T', n_rows, N, K, 1.0f, x, K, lin->w, K, 0.0f, y, N);
    const float *b = lin->b;
    if (!b && act == IA_ACT_NONE)
        return;
#pragma omp parallel for num_threads(threads()) schedule(static)
    for (int r = 0; r < n_rows; r++) {
        float *row = y + (size_t)r * N;
        if (b)
            for (int j = 0; j < N; j++)
                row[j] += b[j];
        switch (act) {
        case IA_ACT_NONE: break;
        case IA_ACT_GELU: for (int j = 0; j < N; j++) row[j] = gelu(row[j]); break;
        case IA_ACT_GELU_TANH: for (int j = 0; j < N; j++) row[j] = gelu_tanh(row[j]); break;
        case IA_ACT_RELU: for (int j = 0; j < N; j++) row[j] = row[j] > 0 ? row[j] : 0; break;
        }
    }
}

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
#pragma omp parallel for num_threads(threads()) schedule(static)
    for (int r = 0; r < n_rows; r++) {
        float *v = x + (size_t)r * dim;
        if (residual) {
            const float *res = residual + (size_t)r * dim;
            for (int j = 0; j < dim; j++)
                v[j] += res[j];
        }
        float mean = 0, var = 0;
        for (int j = 0; j < dim; j++)
            mean += v[j];
        mean /= (float)dim;
        for (int j = 0; j < dim; j++)
            var += (v[j] - mean) * (v[j] - mean);
        float inv = 1.0f / sqrtf(var / (float)dim + eps);
        for (int j = 0; j < dim; j++)
            v[j] = (v[j] - mean) * inv * gamma[j] + beta[j];
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

    const int nt = threads();
    float *scratch = ia__malloc((size_t)nt * max_len * sizeof(float));
    if (!scratch)
        return ia__error(IA_ERR_NOMEM, "out of memory for attention scores");
#pragma omp parallel num_threads(nt)
    {
        float *p = scratch + (size_t)omp_get_thread_num() * max_len;
#pragma omp for schedule(dynamic) collapse(2)
        for (int s = 0; s < n_seqs; s++) {
            for (int h = 0; h < n_heads; h++) {
                const int start = offsets[s], len = offsets[s + 1] - start;
                const float *q0 = qkv + (size_t)start * stride + h * head_dim;
                const float *k0 = q0 + dim, *v0 = q0 + 2 * dim;
                for (int i = 0; i < len; i++) {
                    const float *q = q0 + (size_t)i * stride;
                    float mx = -INFINITY;
                    for (int j = 0; j < len; j++) {
                        const float *k = k0 + (size_t)j * stride;
                        float d = 0;
                        for (int e = 0; e < head_dim; e++)
                            d += q[e] * k[e];
                        p[j] = d * scale;
                        mx = p[j] > mx ? p[j] : mx;
                    }
                    float sum = 0;
                    for (int j = 0; j < len; j++)
                        sum += p[j] = expf(p[j] - mx);
                    float *o = out + (size_t)(start + i) * dim + h * head_dim;
                    memset(o, 0, (size_t)head_dim * sizeof(float));
                    for (int j = 0; j < len; j++) {
                        const float *v = v0 + (size_t)j * stride, w = p[j] / sum;
                        for (int e = 0; e < head_dim; e++)
                            o[e] += w * v[e];
                    }
                }
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
static const char *precision(void *ctx) { return "fp32"; }

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
    },
};

const ia_backend *ia__backend_cpu(void) { return &cpu_backend; }
