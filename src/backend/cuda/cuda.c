/*
 * The CUDA backend: a plugin (libia-backend-cuda.so, docs/cuda.md) that
 * the registry loads with dlopen (plugin.c), so one build of the library
 * runs with or without an NVIDIA driver. It links the CUDA runtime
 * statically; the runtime opens the driver (libcuda.so.1) itself, and
 * without one, or without a device, device_count() is 0 with the runtime's
 * reason logged. cuBLAS is opened when an instance is, so the plugin loads
 * where only the driver is installed and says what is missing.
 *
 * It computes every op of the engine core (tensor.h) on f32 activations,
 * the kernels in kernels.cu: matmul on weights in f32, f16, bf16, i8 and
 * the GGUF block formats (q8_0, q4_0, q4_1, q4_K, q5_K, q6_K), through
 * cuBLAS for more than CU_MMV_MAX rows (block weights dequantized first;
 * for q8_0, q4_0 and q4_1 the activations rounded through the 8-bit blocks
 * the CPU backend multiplies), and a fused matrix-vector kernel below that
 * (decoding: 8-bit activations and integer dot products for those three
 * formats); add, mul, scale, the activations, GLU, softmax, LayerNorm,
 * RMSNorm, rope, attention (packed sequences, every mask, grouped heads,
 * f32 or f16 keys and values, relative-position and ALiBi biases, flash
 * style: no score matrix), get_rows and copies. Precision fp16 or bf16
 * stores prepared weights in that type and rounds the activations into
 * their products, which accumulate in f32; everything else stays f32.
 *
 * One instance: one device, one stream, one cuBLAS handle. Memory comes
 * from the device's stream-ordered pool (cudaMallocAsync; freeing does not
 * wait for the device), and the instance keeps a table of its allocations
 * by address so that a node naming memory that is not its own is refused,
 * not run. Uploads go through a pinned staging buffer of two halves and do
 * not wait; a graph's nodes are enqueued in order and waited for once at
 * the end, where what the kernels found wrong in the data (an id out of
 * range) is read back. Small tables the host computes (rope's
 * frequencies, attention's buckets) are uploaded once and kept.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "backend/backend-impl.h"
#include "backend/cuda/cuda-impl.h"

_Static_assert(CU_F32 == (int)IA_DTYPE_F32 && CU_F16 == (int)IA_DTYPE_F16 && CU_BF16 == (int)IA_DTYPE_BF16 &&
                   CU_I32 == (int)IA_DTYPE_I32 && CU_I8 == (int)IA_DTYPE_I8 && CU_Q8_0 == (int)IA_DTYPE_Q8_0 &&
                   CU_Q4_0 == (int)IA_DTYPE_Q4_0 && CU_Q4_1 == (int)IA_DTYPE_Q4_1 && CU_Q4_K == (int)IA_DTYPE_Q4_K &&
                   CU_Q5_K == (int)IA_DTYPE_Q5_K && CU_Q6_K == (int)IA_DTYPE_Q6_K,
               "cuda-impl.h numbers the dtypes as tensor/dtype.h");
_Static_assert(CU_ACT_SILU == (int)IA_ACT_SILU && CU_ACT_GELU == (int)IA_ACT_GELU, "activations as ia_act");

#ifndef IA_CUDA_SASS
#define IA_CUDA_SASS "90" /* the architectures kernels.cu has machine code for (CMakeLists.txt) */
#endif
#ifndef IA_CUDA_PTX
#define IA_CUDA_PTX 90 /* and the one whose PTX it carries */
#endif

static const ia_plugin_host *host; /* the library's services, set by the entry point */

enum { TAB_ROPE = 1, TAB_BUCKETS };

enum {
    MAX_DEVICES = 16,
    STAGE_BYTES = 8 << 20, /* each half of the pinned staging buffer */
    N_TABLES = 16,         /* host-computed tables kept per instance */
};

/* ------------------------------------------------------------------ devices */

static struct {
    pthread_once_t once;
    int n;
    int ordinal[MAX_DEVICES]; /* the runtime's device numbers */
    char name[MAX_DEVICES][320];
    char why[320]; /* why there is no device */
} cu = {.once = PTHREAD_ONCE_INIT};

/* Has kernels.cu code the device can run: machine code of its major
 * version at or below its minor one, or PTX at or below it? */
static bool runnable(int cc)
{
    for (const char *s = IA_CUDA_SASS; *s;) {
        const int a = (int)strtol(s, (char **)&s, 10);
        if (a / 10 == cc / 10 && a <= cc)
            return true;
        while (*s == ',' || *s == ';' || *s == ' ')
            s++;
    }
    return IA_CUDA_PTX <= cc;
}

static void cu_probe(void)
{
    int n = 0, drv = 0, rt = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(cu.why, sizeof cu.why, "the CUDA runtime finds no device: %s (%s)%s", cudaGetErrorString(e),
                 cudaGetErrorName(e),
                 e == cudaErrorInsufficientDriver ? ": no NVIDIA driver (libcuda.so.1), or one older than CUDA 13"
                                                  : "");
        cudaGetLastError();
        n = 0;
    }
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    int skipped = 0;
    for (int i = 0; i < n && cu.n < MAX_DEVICES; i++) {
        struct cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess)
            continue;
        const int cc = 10 * p.major + p.minor;
        if (!runnable(cc)) {
            host->log(IA_LOG_INFO, "cuda backend: device %d (%s, compute capability %d.%d) skipped: this build has "
                      "code for sm_%s and PTX %d", i, p.name, p.major, p.minor, IA_CUDA_SASS, IA_CUDA_PTX);
            skipped++;
            continue;
        }
        cu.ordinal[cu.n] = i;
        snprintf(cu.name[cu.n], sizeof cu.name[0],
                 "%s (compute capability %d.%d, %d SMs, %.1f GiB; driver %d.%d, runtime %d.%d)", p.name, p.major,
                 p.minor, p.multiProcessorCount, (double)p.totalGlobalMem / 1073741824.0, drv / 1000,
                 drv % 1000 / 10, rt / 1000, rt % 1000 / 10);
        cu.n++;
    }
    if (!cu.n && !cu.why[0])
        snprintf(cu.why, sizeof cu.why, "%d CUDA device%s, %d without code in this build", n, n == 1 ? "" : "s",
                 skipped);
    if (!cu.n)
        host->log(IA_LOG_INFO, "cuda backend: %s", cu.why);
}

static int device_count(void)
{
    pthread_once(&cu.once, cu_probe);
    return cu.n;
}

static const char *device_name(int d)
{
    return d >= 0 && d < device_count() ? cu.name[d] : NULL;
}

/* fp16 and bf16: prepared weights stored in that type and the activations
 * rounded into their products (f32 sums); other names compute in fp32. */
static const char *resolve_precision(const char *want)
{
    return !want ? NULL : !strcmp(want, "fp16") ? "fp16" : !strcmp(want, "bf16") ? "bf16" : "fp32";
}

/* ------------------------------------------------------------------- cuBLAS */

#define BLAS_FNS(X)                                                                                              \
    X(cublasCreate_v2)                                                                                           \
    X(cublasDestroy_v2)                                                                                          \
    X(cublasSetStream_v2)                                                                                        \
    X(cublasSetMathMode)                                                                                         \
    X(cublasGemmEx)                                                                                              \
    X(cublasGetStatusString)

/* Opened once, for the process (never closed, like the driver). */
static struct {
    pthread_once_t once;
    bool ok;
    char why[600];
#define DECLARE(f) __typeof__(&f) f;
    BLAS_FNS(DECLARE)
#undef DECLARE
} blas = {.once = PTHREAD_ONCE_INIT};

static void blas_load(void)
{
    /* the plugin's RUNPATH names the toolkit it was built with; then the
     * loader's usual places */
    static const char *const names[] = {"libcublas.so.13", "libcublas.so"};
    void *lib = NULL;
    size_t len = 0;
    for (size_t i = 0; i < IA_ARRAY_LEN(names) && !lib; i++)
        if (!(lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL)) && len < sizeof blas.why)
            len += (size_t)snprintf(blas.why + len, sizeof blas.why - len, "%s%s", len ? "; " : "", dlerror());
    if (!lib)
        return;
#define LOAD(f)                                                                                                  \
    {                                                                                                            \
        void *sym = dlsym(lib, #f);                                                                              \
        if (!sym) {                                                                                              \
            snprintf(blas.why, sizeof blas.why, "cuBLAS lacks %s", #f);                                          \
            return;                                                                                              \
        }                                                                                                        \
        memcpy(&blas.f, &sym, sizeof sym);                                                                       \
    }
    BLAS_FNS(LOAD)
#undef LOAD
    blas.ok = true;
}

/* ----------------------------------------------------------------- instance */

typedef struct region {
    uintptr_t p;
    size_t n;
} region;

typedef struct table {
    int kind; /* TAB_* */
    size_t klen;
    unsigned char key[48];
    void *dev;
} table;

typedef struct ctx {
    pthread_mutex_t lock; /* everything below; one graph at a time */
    int dev;              /* the runtime's device number */
    int prec;             /* CU_F32, CU_F16 or CU_BF16 */
    bool pools;           /* stream-ordered allocation */
    cudaStream_t stream;
    cublasHandle_t blas;
    region *al; /* allocations, by address */
    int n_al, cap_al;
    char *pin; /* pinned staging, two halves */
    cudaEvent_t pin_ev[2];
    bool pin_used[2];
    int pin_next;
    int *flag_d, *flag_h; /* what kernels found wrong (cuda-impl.h CU_FLAG); flag_h pinned */
    void *scr[3];         /* scratch: a dequantized weight, converted activations, 8-bit activations */
    size_t scr_n[3];
    table tabs[N_TABLES];
    int next_tab;
    unsigned long n_up, n_down;
    uint64_t bytes_up, bytes_down;
} ctx;

static ia_status cuda_error(cudaError_t e, const char *what)
{
    cudaGetLastError(); /* clear it where it is not sticky */
    return host->error(e == cudaErrorMemoryAllocation ? IA_ERR_NOMEM : IA_ERR_BACKEND, "cuda backend: %s: %s (%s)",
                       what, cudaGetErrorString(e), cudaGetErrorName(e));
}

/* The allocation holding [p, p + bytes), or NULL (lock held). */
static const region *find_buf(const ctx *c, const void *p, size_t bytes)
{
    const uintptr_t a = (uintptr_t)p;
    int lo = 0, hi = c->n_al; /* the last region starting at or below a */
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (c->al[mid].p <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!lo)
        return NULL;
    const region *r = &c->al[lo - 1];
    return a + bytes <= r->p + r->n && a + bytes >= a ? r : NULL;
}

/* Device memory of the instance (lock held), NULL when there is none. */
static void *dev_alloc(ctx *c, size_t bytes)
{
    bytes = bytes ? (bytes + 255) & ~(size_t)255 : 256;
    if (c->n_al == c->cap_al) {
        const int cap = c->cap_al ? 2 * c->cap_al : 64;
        region *grown = realloc(c->al, (size_t)cap * sizeof *grown);
        if (!grown)
            return NULL;
        c->al = grown, c->cap_al = cap;
    }
    void *p = NULL;
    const cudaError_t e = c->pools ? cudaMallocAsync(&p, bytes, c->stream) : cudaMalloc(&p, bytes);
    if (e != cudaSuccess || !p) {
        cudaGetLastError();
        return NULL;
    }
    int i = c->n_al;
    while (i > 0 && c->al[i - 1].p > (uintptr_t)p)
        i--;
    memmove(&c->al[i + 1], &c->al[i], (size_t)(c->n_al - i) * sizeof *c->al);
    c->al[i] = (region){(uintptr_t)p, bytes};
    c->n_al++;
    return p;
}

static void dev_free(ctx *c, void *p)
{
    const region *r = p ? find_buf(c, p, 1) : NULL;
    if (!r || r->p != (uintptr_t)p)
        return;
    const int i = (int)(r - c->al);
    memmove(&c->al[i], &c->al[i + 1], (size_t)(c->n_al - i - 1) * sizeof *c->al);
    c->n_al--;
    if (c->pools)
        cudaFreeAsync(p, c->stream); /* after the work already enqueued */
    else
        cudaFree(p);
}

/* Scratch i of at least bytes (lock held); grown, never shrunk. */
static void *scratch(ctx *c, int i, size_t bytes)
{
    if (c->scr_n[i] >= bytes)
        return c->scr[i];
    dev_free(c, c->scr[i]);
    c->scr_n[i] = 0;
    if (!(c->scr[i] = dev_alloc(c, bytes + bytes / 4)))
        return NULL;
    c->scr_n[i] = bytes + bytes / 4;
    return c->scr[i];
}

/* Copy host bytes into device memory through the pinned staging buffer,
 * without waiting: a half is refilled once its last copy has run (lock
 * held). */
static ia_status stage_up(ctx *c, char *dst, const char *src, size_t bytes)
{
    for (size_t done = 0; done < bytes;) {
        const int h = c->pin_next;
        c->pin_next ^= 1;
        cudaError_t e = c->pin_used[h] ? cudaEventSynchronize(c->pin_ev[h]) : cudaSuccess;
        const size_t n = bytes - done < STAGE_BYTES ? bytes - done : STAGE_BYTES;
        if (e == cudaSuccess) {
            memcpy(c->pin + (size_t)h * STAGE_BYTES, src + done, n);
            e = cudaMemcpyAsync(dst + done, c->pin + (size_t)h * STAGE_BYTES, n, cudaMemcpyHostToDevice, c->stream);
        }
        if (e == cudaSuccess)
            e = cudaEventRecord(c->pin_ev[h], c->stream);
        if (e != cudaSuccess)
            return cuda_error(e, "uploading");
        c->pin_used[h] = true;
        done += n;
    }
    return IA_OK;
}

/* Copy device bytes to the host, waiting for the stream (lock held). */
static ia_status stage_down(ctx *c, char *dst, const char *src, size_t bytes)
{
    for (size_t done = 0; done < bytes;) {
        const size_t n = bytes - done < STAGE_BYTES ? bytes - done : STAGE_BYTES;
        cudaError_t e = cudaMemcpyAsync(c->pin, src + done, n, cudaMemcpyDeviceToHost, c->stream);
        if (e == cudaSuccess)
            e = cudaStreamSynchronize(c->stream);
        if (e != cudaSuccess)
            return cuda_error(e, "downloading");
        memcpy(dst + done, c->pin, n);
        done += n;
    }
    return IA_OK;
}

static void close_instance(void *p)
{
    ctx *c = p;
    if (!c)
        return;
    cudaSetDevice(c->dev);
    if (c->stream)
        cudaStreamSynchronize(c->stream);
    for (int i = c->n_al - 1; i >= 0; i--) /* the model's buffers were freed; these are ours */
        dev_free(c, (void *)c->al[i].p);
    if (c->stream)
        cudaStreamSynchronize(c->stream);
    cudaMemPool_t pool; /* what the pool kept goes back to the driver */
    if (c->pools && cudaDeviceGetDefaultMemPool(&pool, c->dev) == cudaSuccess)
        cudaMemPoolTrimTo(pool, 0);
    if (c->n_up || c->n_down)
        host->log(IA_LOG_INFO, "cuda: %lu uploads (%.1f MiB), %lu downloads (%.1f MiB) through pinned staging",
                  c->n_up, c->bytes_up / 1048576.0, c->n_down, c->bytes_down / 1048576.0);
    if (c->blas)
        blas.cublasDestroy_v2(c->blas);
    for (int h = 0; h < 2; h++)
        if (c->pin_ev[h])
            cudaEventDestroy(c->pin_ev[h]);
    if (c->pin)
        cudaFreeHost(c->pin);
    if (c->flag_h)
        cudaFreeHost(c->flag_h);
    if (c->stream)
        cudaStreamDestroy(c->stream);
    cudaGetLastError();
    free(c->al);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static ia_status open_instance(int device, int n_threads, const char *precision, bool profile, void **out)
{
    (void)n_threads, (void)profile;
    *out = NULL;
    if (device < 0 || device >= device_count())
        return host->error(IA_ERR_INVALID, "cuda backend: no device %d (%d here%s%s)", device, device_count(),
                           cu.n ? "" : ": ", cu.n ? "" : cu.why);
    if (precision && strcmp(precision, "fp32") && strcmp(precision, "fp16") && strcmp(precision, "bf16"))
        return host->error(IA_ERR_INVALID, "cuda backend: precision %s: fp32, fp16 or bf16", precision);
    pthread_once(&blas.once, blas_load);
    if (!blas.ok)
        return host->error(IA_ERR_BACKEND, "cuda backend: cuBLAS (libcublas.so.13) cannot be used: %s", blas.why);
    ctx *c = calloc(1, sizeof *c);
    if (!c)
        return host->error(IA_ERR_NOMEM, "cuda backend: out of memory");
    pthread_mutex_init(&c->lock, NULL);
    c->dev = cu.ordinal[device];
    c->prec = !precision || !strcmp(precision, "fp32") ? CU_F32 : !strcmp(precision, "fp16") ? CU_F16 : CU_BF16;
    const char *what = "cudaSetDevice";
    cudaError_t e = cudaSetDevice(c->dev);
    int pools = 0;
    if (e == cudaSuccess && (e = cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, c->dev)) == cudaSuccess &&
        pools) {
        /* keep freed memory in the pool: a forward's buffers come back at
         * the next one without asking the driver */
        cudaMemPool_t pool;
        uint64_t keep = UINT64_MAX;
        what = "configuring the memory pool";
        if ((e = cudaDeviceGetDefaultMemPool(&pool, c->dev)) == cudaSuccess)
            e = cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
    }
    c->pools = pools != 0;
    if (e == cudaSuccess)
        what = "creating a stream", e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
    if (e == cudaSuccess)
        what = "allocating pinned memory", e = cudaMallocHost((void **)&c->pin, 2 * (size_t)STAGE_BYTES);
    if (e == cudaSuccess)
        e = cudaMallocHost((void **)&c->flag_h, sizeof *c->flag_h);
    for (int h = 0; h < 2 && e == cudaSuccess; h++)
        what = "creating events", e = cudaEventCreateWithFlags(&c->pin_ev[h], cudaEventDisableTiming);
    if (e != cudaSuccess) {
        close_instance(c);
        return cuda_error(e, what);
    }
    if (!(c->flag_d = dev_alloc(c, sizeof *c->flag_d))) {
        close_instance(c);
        return host->error(IA_ERR_NOMEM, "cuda backend: out of device memory");
    }
    /* fp32: plain f32 products (no TF32), so that results match the CPU's */
    cublasStatus_t st = blas.cublasCreate_v2(&c->blas);
    if (st == CUBLAS_STATUS_SUCCESS && (st = blas.cublasSetStream_v2(c->blas, c->stream)) == CUBLAS_STATUS_SUCCESS)
        st = blas.cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH);
    if (st != CUBLAS_STATUS_SUCCESS) {
        close_instance(c);
        return host->error(st == CUBLAS_STATUS_ALLOC_FAILED ? IA_ERR_NOMEM : IA_ERR_BACKEND,
                           "cuda backend: starting cuBLAS: %s", blas.cublasGetStatusString(st));
    }
    *out = c;
    return IA_OK;
}

static const char *precision(void *p)
{
    const ctx *c = p;
    return !c || c->prec == CU_F32 ? "fp32" : c->prec == CU_F16 ? "fp16" : "bf16";
}

static void *buf_alloc(void *p, size_t bytes)
{
    ctx *c = p;
    pthread_mutex_lock(&c->lock);
    void *buf = cudaSetDevice(c->dev) == cudaSuccess ? dev_alloc(c, bytes) : NULL;
    pthread_mutex_unlock(&c->lock);
    return buf;
}

static void buf_free(void *p, void *buf)
{
    ctx *c = p;
    if (!buf)
        return;
    pthread_mutex_lock(&c->lock);
    cudaSetDevice(c->dev);
    dev_free(c, buf);
    pthread_mutex_unlock(&c->lock);
}

static ia_status transfer(void *p, void *dst, const void *src, size_t bytes, bool up)
{
    ctx *c = p;
    const void *dev = up ? dst : src;
    pthread_mutex_lock(&c->lock);
    ia_status rc = IA_OK;
    if (!find_buf(c, dev, bytes))
        rc = host->error(IA_ERR_INVALID, "cuda backend: %s %zu bytes at %p: not this instance's memory",
                         up ? "upload of" : "download of", bytes, dev);
    else if (cudaSetDevice(c->dev) != cudaSuccess)
        rc = cuda_error(cudaGetLastError(), "cudaSetDevice");
    else if (up) {
        rc = stage_up(c, dst, src, bytes);
        c->n_up++, c->bytes_up += bytes;
    } else {
        rc = stage_down(c, dst, src, bytes);
        c->n_down++, c->bytes_down += bytes;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static ia_status upload(void *p, void *dst, const void *src, size_t bytes)
{
    return transfer(p, dst, src, bytes, true);
}

static ia_status download(void *p, void *dst, const void *src, size_t bytes)
{
    return transfer(p, dst, src, bytes, false);
}

/* ------------------------------------------------------------------ weights */

/* Every dtype the kernels decode (cu_dequant). */
static bool decodable(ia_dtype t)
{
    return t == IA_DTYPE_F32 || t == IA_DTYPE_F16 || t == IA_DTYPE_BF16 || t == IA_DTYPE_I32 || t == IA_DTYPE_I8 ||
           t == IA_DTYPE_Q8_0 || t == IA_DTYPE_Q4_0 || t == IA_DTYPE_Q4_1 || t == IA_DTYPE_Q4_K ||
           t == IA_DTYPE_Q5_K || t == IA_DTYPE_Q6_K;
}

static size_t row_bytes(ia_dtype t, int64_t n)
{
    const ia_dtype_traits *tr = host->dtype(t);
    return (size_t)(n / tr->block) * tr->block_bytes;
}

static cu_view view(const ia_tensor *t)
{
    cu_view v = {0};
    if (!t)
        return v;
    v.p = t->data;
    v.type = (int)t->dtype;
    for (int d = 0; d < 4; d++)
        v.ne[d] = t->ne[d], v.nb[d] = (int64_t)t->nb[d];
    return v;
}

/* A matmul weight in the instance's precision, on the device. */
typedef struct prepared {
    ia_tensor w; /* (n_in, n_out), contiguous, f32, f16 or bf16 */
} prepared;

static ia_status weight_prepare(void *p, const ia_tensor *W, const ia_tensor *bias, const float *in_scale,
                                void **out)
{
    ctx *c = p;
    (void)bias, (void)in_scale;
    *out = NULL;
    const int64_t K = W->ne[0], N = W->ne[1] * W->ne[2] * W->ne[3];
    if (!decodable(W->dtype) || W->ne[2] * W->ne[3] != 1)
        return host->error(IA_ERR_UNSUPPORTED, "cuda backend: a %s weight [%lld, %lld] cannot be prepared",
                           host->dtype(W->dtype)->name, (long long)K, (long long)N);
    const size_t row = row_bytes(W->dtype, K), esz = c->prec == CU_F32 ? 4 : 2;
    prepared *pr = calloc(1, sizeof *pr);
    if (!pr)
        return host->error(IA_ERR_NOMEM, "cuda backend: out of memory");
    pthread_mutex_lock(&c->lock);
    ia_status rc = cudaSetDevice(c->dev) == cudaSuccess ? IA_OK : cuda_error(cudaGetLastError(), "cudaSetDevice");
    char *dst = rc ? NULL : dev_alloc(c, esz * (size_t)(K * N));
    /* the host's rows as they are, then converted on the device (unless
     * they are already in the compute type) */
    char *raw = (int)W->dtype == c->prec ? dst : dst ? dev_alloc(c, row * (size_t)N) : NULL;
    if (!rc && !raw)
        rc = host->error(IA_ERR_NOMEM, "cuda backend: out of device memory for a [%lld, %lld] weight", (long long)K,
                         (long long)N);
    if (!rc && W->nb[1] == row)
        rc = stage_up(c, raw, W->data, row * (size_t)N);
    for (int64_t r = 0; !rc && W->nb[1] != row && r < N; r++)
        rc = stage_up(c, raw + (size_t)r * row, (const char *)W->data + (size_t)r * W->nb[1], row);
    if (!rc && raw != dst) {
        cu_view rv = view(W);
        rv.p = raw, rv.nb[1] = (int64_t)row, rv.nb[2] = rv.nb[3] = (int64_t)(row * (size_t)N);
        const cudaError_t e = cu_dequant(c->stream, dst, c->prec, rv);
        if (e != cudaSuccess)
            rc = cuda_error(e, "converting a weight");
    }
    if (raw != dst)
        dev_free(c, raw);
    if (rc)
        dev_free(c, dst);
    pthread_mutex_unlock(&c->lock);
    if (rc) {
        free(pr);
        return rc;
    }
    pr->w = (ia_tensor){.dtype = (ia_dtype)c->prec, .ne = {K, N, 1, 1},
                        .nb = {esz, esz * (size_t)K, esz * (size_t)(K * N), esz * (size_t)(K * N)}, .data = dst};
    *out = pr;
    return IA_OK;
}

static void weight_release(void *p, void *prep)
{
    prepared *pr = prep;
    if (pr)
        buf_free(p, pr->w.data);
    free(pr);
}

/* A matmul's weight as the kernels read it: its prepared form where it
 * has one. */
static const ia_tensor *weight_of(const ia_node *n)
{
    return n->src[1]->extra ? &((const prepared *)n->src[1]->extra)->w : n->src[1];
}

/* ------------------------------------------------------------------- checks */

/* The alignment a kernel reads t's elements with. */
static size_t align_of(ia_dtype t)
{
    return t == IA_DTYPE_F32 || t == IA_DTYPE_I32 || t == IA_DTYPE_Q4_1 ? 4 : t == IA_DTYPE_I8 ? 1 : 2;
}

/* t lies in the instance's memory, aligned for its elements, every byte
 * stride too (lock held). */
static bool in_memory(const ctx *c, const ia_tensor *t)
{
    const size_t a = align_of(t->dtype);
    if (!t->data || (uintptr_t)t->data % a || !find_buf(c, t->data, host->tensor_span(t)))
        return false;
    for (int d = 0; d < 4; d++)
        if (t->nb[d] % a)
            return false;
    return true;
}

/* Elements next to each other along ne[0] (for block types: nb[0] is the
 * block's size, as tensor.h has it). */
static bool elems_adjacent(const ia_tensor *t)
{
    return t->nb[0] == host->dtype(t->dtype)->block_bytes;
}

static bool contiguous(const ia_tensor *t)
{
    return host->tensor_contiguous(t);
}

/* Why this backend does not compute a node ia__node_check accepted, or
 * NULL (lock held). */
static const char *why_not(const ctx *c, const ia_node *n)
{
    if (n->flags & IA_NODE_W_INTERLEAVED8)
        return "weight rows interleaved in 8s (the CPU backend's layout)";
    const ia_tensor *s0 = n->src[0], *s1 = n->src[1], *d = n->dst;
    switch (n->op) {
    case IA_OP_MATMUL: {
        const ia_tensor *w = weight_of(n);
        if (!decodable(w->dtype) || w->dtype == IA_DTYPE_I32)
            return "a weight of a dtype it does not decode";
        if (!elems_adjacent(s0) || !elems_adjacent(w) || !elems_adjacent(d) || (n->src[2] && !contiguous(n->src[2])))
            return "matrices whose rows are not adjacent elements";
        if (s0->ne[0] > INT_MAX || s0->ne[1] > INT_MAX || w->ne[1] > INT_MAX || w->nb[1] / 2 > INT_MAX ||
            s0->nb[1] / 4 > INT_MAX || d->nb[1] / 4 > INT_MAX)
            return "a matrix past cuBLAS's 32-bit sizes";
        if (!in_memory(c, w))
            return "a weight outside this backend's memory";
        break;
    }
    case IA_OP_LAYERNORM:
    case IA_OP_RMSNORM:
    case IA_OP_SOFTMAX:
        if (!elems_adjacent(s0) || !elems_adjacent(d) || (n->op == IA_OP_LAYERNORM && s1 && !elems_adjacent(s1)) ||
            (n->src[2] && !contiguous(n->src[2])) || (n->src[3] && !contiguous(n->src[3])))
            return "rows that are not adjacent elements";
        if (d->ne[1] * d->ne[2] * d->ne[3] > INT_MAX)
            return "more than 2^31 rows";
        break;
    case IA_OP_ADD:
    case IA_OP_MUL:
    case IA_OP_SCALE:
    case IA_OP_UNARY:
    case IA_OP_GLU:
        break;
    case IA_OP_ROPE:
        if (!elems_adjacent(s0) || !elems_adjacent(d) || s0->ne[3] != 1 || !contiguous(s1) ||
            (n->src[2] && !contiguous(n->src[2])))
            return "rows that are not adjacent elements, or a fourth dimension";
        break;
    case IA_OP_ATTENTION: {
        const ia_tensor *k = s1, *v = n->src[2];
        if (k->dtype != v->dtype)
            return "keys and values of different dtypes";
        if (s0->ne[0] > CU_ATT_MAX_HD || s0->ne[1] > 65535)
            return "heads larger than 256 or more than 65535 heads";
        if (!elems_adjacent(s0) || !elems_adjacent(k) || !elems_adjacent(v) || !elems_adjacent(d) ||
            (n->src[3] && !contiguous(n->src[3])))
            return "rows that are not adjacent elements";
        if (n->p.attn.bias != IA_ATTN_BIAS_NONE && !in_memory(c, n->p.attn.bias_table))
            return "a position bias table outside this backend's memory";
        if (n->p.attn.bias == IA_ATTN_BIAS_REL_BUCKET &&
            s0->ne[2] + k->ne[2] + n->p.attn.pos_q0 > ((int64_t)1 << 26))
            return "more than 2^26 relative positions";
        break;
    }
    case IA_OP_GET_ROWS:
        if (!decodable(s0->dtype) || !elems_adjacent(s0) || !contiguous(s1) || !elems_adjacent(d))
            return "a table of a dtype it does not decode, or rows that are not adjacent elements";
        break;
    case IA_OP_CPY:
        if (!decodable(s0->dtype) || (host->dtype(s0->dtype)->quantized && !elems_adjacent(s0)))
            return "a copy from a dtype it does not decode";
        if (d->dtype != IA_DTYPE_F32 && d->dtype != IA_DTYPE_F16 && d->dtype != IA_DTYPE_BF16 &&
            d->dtype != IA_DTYPE_I32 && d->dtype != IA_DTYPE_I8)
            return "a copy into a block format (the CPU backend quantizes)";
        break;
    default:
        return "an op it does not know";
    }
    const ia_tensor *t[6] = {d, s0, n->op == IA_OP_MATMUL ? NULL : s1, n->src[2], n->src[3], NULL};
    for (int i = 0; i < 6; i++)
        if (t[i] && !in_memory(c, t[i]))
            return "a tensor outside this backend's memory";
    return NULL;
}

static bool supports(void *p, const ia_node *node)
{
    ctx *c = p;
    if (!c || !node || host->node_check(node) != IA_OK)
        return false;
    pthread_mutex_lock(&c->lock);
    const bool ok = !why_not(c, node);
    pthread_mutex_unlock(&c->lock);
    return ok;
}

/* -------------------------------------------------------------------- graph */

/* A small table computed here, on the device (kept: the same rope or
 * bucket parameters come back every forward). NULL out of memory (lock
 * held). */
static const void *table_find(const ctx *c, int kind, const void *key, size_t klen)
{
    for (int i = 0; i < N_TABLES; i++)
        if (c->tabs[i].dev && c->tabs[i].kind == kind && c->tabs[i].klen == klen && !memcmp(c->tabs[i].key, key, klen))
            return c->tabs[i].dev;
    return NULL;
}

static const void *table_for(ctx *c, int kind, const void *key, size_t klen, const void *data, size_t bytes)
{
    table *t = &c->tabs[c->next_tab];
    c->next_tab = (c->next_tab + 1) % N_TABLES;
    dev_free(c, t->dev); /* after the nodes already enqueued have read it */
    t->klen = 0;
    if (!(t->dev = dev_alloc(c, bytes)))
        return NULL;
    if (stage_up(c, t->dev, data, bytes)) {
        dev_free(c, t->dev);
        t->dev = NULL;
        return NULL;
    }
    memcpy(t->key, key, klen);
    t->kind = kind, t->klen = klen;
    return t->dev;
}

/* Rope's pair frequencies under the node's scaling, in double. */
static const double *rope_table(ctx *c, const ia_rope_params *rp)
{
    _Static_assert(sizeof *rp <= sizeof c->tabs[0].key, "a rope key fits");
    const void *t = table_find(c, TAB_ROPE, rp, sizeof *rp);
    if (t)
        return t;
    const int half = rp->n_dims / 2;
    double *f = malloc((size_t)half * sizeof *f + 1);
    if (!f)
        return NULL;
    for (int i = 0; i < half; i++)
        f[i] = host->rope_inv_freq(rp, i);
    t = table_for(c, TAB_ROPE, rp, sizeof *rp, f, (size_t)half * sizeof *f);
    free(f);
    return t;
}

/* The bucket of every relative position in [rmin, rmin + span). */
static const int32_t *bucket_table(ctx *c, int num_buckets, int max_distance, int64_t rmin, int64_t span)
{
    const int64_t key[4] = {num_buckets, max_distance, rmin, span};
    const void *t = table_find(c, TAB_BUCKETS, key, sizeof key);
    if (t)
        return t;
    int32_t *b = malloc((size_t)span * sizeof *b);
    if (!b)
        return NULL;
    for (int64_t r = 0; r < span; r++)
        b[r] = host->attn_rel_bucket(rmin + r, num_buckets, max_distance);
    t = table_for(c, TAB_BUCKETS, key, sizeof key, b, (size_t)span * sizeof *b);
    free(b);
    return t;
}

static size_t type_size(int t)
{
    return t == CU_F32 ? 4 : 2;
}

/* dst = act(x W^T + bias) (lock held). */
static ia_status run_matmul(ctx *c, const ia_node *n, const char **what)
{
    const ia_tensor *W = weight_of(n);
    const cu_view d = view(n->dst), x = view(n->src[0]), w = view(W);
    const float *bias = n->src[2] ? n->src[2]->data : NULL;
    const int64_t K = x.ne[0], M = x.ne[1], N = w.ne[1];
    const int wt = w.type;
    const bool q8w = wt == CU_Q8_0 || wt == CU_Q4_0 || wt == CU_Q4_1;
    cudaError_t e;
    if (M <= CU_MMV_MAX) { /* decoding: one pass over the weights */
        const void *q8 = NULL;
        if (q8w) {
            *what = "quantizing the activations";
            if (!(q8 = scratch(c, 2, CU_Q8_BYTES(M, K))))
                return host->error(IA_ERR_NOMEM, "cuda backend: out of device memory for activations");
            if ((e = cu_quant_q8(c->stream, (void *)q8, x)) != cudaSuccess)
                return cuda_error(e, *what);
        }
        *what = "the matrix-vector product";
        const int xt = c->prec != CU_F32 && (wt == CU_F16 || wt == CU_BF16) ? wt : CU_F32;
        e = cu_mmv(c->stream, d, x, w, q8, bias, (int)n->p.act, xt);
        return e == cudaSuccess ? IA_OK : cuda_error(e, *what);
    }
    /* cuBLAS is column-major: dst^T (N x M) = W^T (N x K) x (K x M) */
    int gt = CU_F32; /* the product's input type */
    const void *A = w.p, *B = x.p;
    int64_t lda = w.nb[1] / 4, ldb = x.nb[1] / 4;
    if ((wt == CU_F16 || wt == CU_BF16) && c->prec != CU_F32) {
        gt = wt, lda = w.nb[1] / 2, ldb = K; /* the weights as they are, the activations rounded to them */
        *what = "converting the activations";
        void *xb = scratch(c, 1, (size_t)(M * K) * 2);
        if (!xb || (e = cu_convert(c->stream, xb, gt, x, 0)) != cudaSuccess)
            return xb ? cuda_error(e, *what) : host->error(IA_ERR_NOMEM, "cuda backend: out of device memory");
        B = xb;
    } else if (wt != CU_F32) {
        /* other weights decoded into the precision's type; for q8_0, q4_0
         * and q4_1 the activations through their 8-bit blocks, so that the
         * products are the CPU backend's */
        gt = c->prec, lda = K;
        *what = "decoding the weights";
        void *wb = scratch(c, 0, (size_t)(N * K) * type_size(gt));
        if (!wb || (e = cu_dequant(c->stream, wb, gt, w)) != cudaSuccess)
            return wb ? cuda_error(e, *what) : host->error(IA_ERR_NOMEM, "cuda backend: out of device memory");
        A = wb;
        if (q8w || gt != CU_F32) {
            *what = "converting the activations";
            void *xb = scratch(c, 1, (size_t)(M * K) * type_size(gt));
            if (!xb || (e = cu_convert(c->stream, xb, gt, x, q8w)) != cudaSuccess)
                return xb ? cuda_error(e, *what) : host->error(IA_ERR_NOMEM, "cuda backend: out of device memory");
            B = xb, ldb = K;
        }
    }
    const cudaDataType_t dt = gt == CU_F16 ? CUDA_R_16F : gt == CU_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    const float one = 1, zero = 0;
    *what = "cublasGemmEx";
    const cublasStatus_t st = blas.cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)K, &one, A,
                                                dt, (int)lda, B, dt, (int)ldb, &zero, d.p, CUDA_R_32F,
                                                (int)(d.nb[1] / 4), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS)
        return host->error(st == CUBLAS_STATUS_ALLOC_FAILED ? IA_ERR_NOMEM : IA_ERR_BACKEND,
                           "cuda backend: cublasGemmEx (%lld x %lld x %lld): %s", (long long)N, (long long)M,
                           (long long)K, blas.cublasGetStatusString(st));
    *what = "bias and activation";
    e = cu_bias_act(c->stream, d, bias, (int)n->p.act);
    return e == cudaSuccess ? IA_OK : cuda_error(e, *what);
}

/* Enqueue node i (lock held, checked). */
static ia_status run_node(ctx *c, const ia_node *n, int i)
{
    const char *what = host->op_name(n->op);
    cudaError_t e = cudaSuccess;
    const cu_view d = view(n->dst), a = view(n->src[0]), b = view(n->src[1]);
    switch (n->op) {
    case IA_OP_MATMUL: return run_matmul(c, n, &what);
    case IA_OP_LAYERNORM:
        e = cu_rows(c->stream, CU_LAYERNORM, d, a, b, n->src[2] ? n->src[2]->data : NULL,
                    n->src[3] ? n->src[3]->data : NULL, n->p.eps);
        break;
    case IA_OP_RMSNORM:
        e = cu_rows(c->stream, CU_RMSNORM, d, a, view(NULL), n->src[2] ? n->src[2]->data : NULL, NULL, n->p.eps);
        break;
    case IA_OP_SOFTMAX: e = cu_rows(c->stream, CU_SOFTMAX, d, a, view(NULL), NULL, NULL, n->p.scale); break;
    case IA_OP_ADD: e = cu_eltwise(c->stream, CU_ADD, d, a, b, 0, 0); break;
    case IA_OP_MUL: e = cu_eltwise(c->stream, CU_MUL, d, a, b, 0, 0); break;
    case IA_OP_SCALE: e = cu_eltwise(c->stream, CU_SCALE, d, a, b, 0, n->p.scale); break;
    case IA_OP_UNARY: e = cu_eltwise(c->stream, CU_UNARY, d, a, b, (int)n->p.act, 0); break;
    case IA_OP_GLU: e = cu_eltwise(c->stream, CU_GLU, d, a, b, (int)n->p.act, 0); break;
    case IA_OP_ROPE: {
        const double *f = rope_table(c, &n->p.rope);
        if (!f)
            return host->error(IA_ERR_NOMEM, "cuda backend: out of memory for rope's frequencies");
        e = cu_rope(c->stream, d, a, n->src[1]->data, n->src[2] ? n->src[2]->data : NULL, f, n->p.rope.n_dims,
                    n->p.rope.mode == IA_ROPE_NEOX);
        break;
    }
    case IA_OP_ATTENTION: {
        const ia_attn_params *ap = &n->p.attn;
        const ia_tensor *off = n->src[3], *bt = ap->bias_table;
        cu_attn p = {.mask = (int)ap->mask, .window = ap->window, .scale = ap->scale, .pos_q0 = ap->pos_q0,
                     .off = off ? off->data : NULL, .n_seqs = off ? (int)(host->tensor_nelements(off) - 1) : 0,
                     .flag = c->flag_d, .node = i};
        if (ap->bias != IA_ATTN_BIAS_NONE) {
            p.bias = ap->bias == IA_ATTN_BIAS_REL_BUCKET ? 1 : 2;
            p.tab = bt->data, p.tab_s0 = (int64_t)bt->nb[0] / 4, p.tab_s1 = (int64_t)bt->nb[1] / 4;
        }
        if (ap->bias == IA_ATTN_BIAS_REL_BUCKET) {
            /* every relative position key - query can take here (within
             * packed sequences they stay inside this range too) */
            const int64_t nq = n->src[0]->ne[2], nkv = n->src[1]->ne[2];
            const int64_t rmin = -(ap->pos_q0 + nq - 1), rmax = nkv - 1 - ap->pos_q0;
            p.rmin = rmin;
            if (!(p.bucket = bucket_table(c, ap->num_buckets, ap->max_distance, rmin, (rmax < rmin ? rmin : rmax) - rmin + 1)))
                return host->error(IA_ERR_NOMEM, "cuda backend: out of memory for attention's buckets");
        }
        e = cu_attention(c->stream, d, a, b, view(n->src[2]), &p);
        break;
    }
    case IA_OP_GET_ROWS: e = cu_get_rows(c->stream, d, a, n->src[1]->data, c->flag_d, i); break;
    case IA_OP_CPY: e = cu_cpy(c->stream, d, a); break;
    default: return host->error(IA_ERR_UNSUPPORTED, "cuda backend: op %d", (int)n->op);
    }
    return e == cudaSuccess ? IA_OK : cuda_error(e, what);
}

static ia_status graph_compute(void *p, const ia_node *nodes, int n_nodes)
{
    ctx *c = p;
    if (!c || n_nodes < 0 || (n_nodes && !nodes))
        return host->error(IA_ERR_INVALID, "cuda graph_compute: %s", !c ? "no instance" : "bad node list");
    pthread_mutex_lock(&c->lock);
    ia_status rc = IA_OK;
    /* every node checked before any runs: malformed first (the message
     * every backend gives), then this backend's limits */
    for (int i = 0; i < n_nodes && !rc; i++)
        if ((rc = host->node_check(&nodes[i])) != IA_OK)
            rc = host->error_wrap(rc, "graph node %d (%s)", i, host->op_name(nodes[i].op));
    for (int i = 0; i < n_nodes && !rc; i++) {
        const char *why = why_not(c, &nodes[i]);
        if (why)
            rc = host->error(IA_ERR_UNSUPPORTED, "graph node %d (%s): the cuda backend does not compute it: %s", i,
                             host->op_name(nodes[i].op), why);
    }
    bool started = false;
    if (!rc && n_nodes) {
        cudaError_t e = cudaSetDevice(c->dev);
        if (e == cudaSuccess)
            e = cudaMemsetAsync(c->flag_d, 0, sizeof *c->flag_d, c->stream);
        if (e != cudaSuccess)
            rc = cuda_error(e, "starting a graph");
        started = e == cudaSuccess;
    }
    for (int i = 0; started && i < n_nodes && !rc; i++)
        if ((rc = run_node(c, &nodes[i], i)) != IA_OK)
            rc = host->error_wrap(rc, "graph node %d (%s)", i, host->op_name(nodes[i].op));
    if (started) {
        /* wait for what was enqueued, also after a failure */
        cudaError_t w = cudaMemcpyAsync(c->flag_h, c->flag_d, sizeof *c->flag_d, cudaMemcpyDeviceToHost, c->stream);
        if (w == cudaSuccess)
            w = cudaStreamSynchronize(c->stream);
        if (w != cudaSuccess && !rc)
            rc = host->error(w == cudaErrorMemoryAllocation ? IA_ERR_NOMEM : IA_ERR_BACKEND,
                             "cuda backend: running the graph (%d nodes): %s (%s)%s", n_nodes, cudaGetErrorString(w),
                             cudaGetErrorName(w),
                             w == cudaErrorIllegalAddress || w == cudaErrorLaunchFailure
                                 ? "; the device context is lost"
                                 : "");
        if (w == cudaSuccess && !rc && *c->flag_h) {
            const int code = *c->flag_h >> 24, node = (*c->flag_h & 0xffffff) - 1;
            const ia_node *bad = node >= 0 && node < n_nodes ? &nodes[node] : NULL;
            if (code == CU_BAD_ROW_ID)
                rc = host->error(IA_ERR_INVALID, "graph node %d (get_rows): a row id is out of range: the table has "
                                 "%lld rows", node, bad ? (long long)bad->src[0]->ne[1] : -1LL);
            else
                rc = host->error(IA_ERR_INVALID, "graph node %d (attention): sequence offsets must rise from 0 to "
                                 "%lld tokens", node, bad ? (long long)bad->src[0]->ne[2] : -1LL);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* ------------------------------------------------------------------- plugin */

static const ia_backend cuda_backend = {
    .api_version = IA_BACKEND_API_VERSION,
    .name = "cuda",
    .iface = {
        .device_count = device_count,
        .device_name = device_name,
        .resolve_precision = resolve_precision,
        .open = open_instance,
        .close = close_instance,
        .precision = precision,
        .buf_alloc = buf_alloc,
        .buf_free = buf_free,
        .upload = upload,
        .download = download,
        .supports = supports,
        .graph_compute = graph_compute,
        .weight_prepare = weight_prepare,
        .weight_release = weight_release,
    },
};

__attribute__((visibility("default"))) const ia_backend *ia_backend_plugin(int host_api_version,
                                                                            const ia_plugin_host *h)
{
    if (host_api_version != IA_BACKEND_API_VERSION || !h || h->api_version != IA_BACKEND_API_VERSION)
        return NULL;
    host = h;
    return &cuda_backend;
}
