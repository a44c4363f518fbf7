/*
 * The CPU backend: host memory; linear layers through oneDNN's GEMMs (f32
 * and bf16 matmul primitives with prepacked weights, sgemm), which measure
 * fastest here and do not depend on OPENBLAS_CORETYPE, and through our own
 * where oneDNN's are slower: int8 (u8 x s8 with VNNI or AVX2,
 * i8gemm-*.c) and fp32 at the AVX2 level (f32gemm-avx2.c); the other ops
 * as kernels picked at run time for the CPU's instruction set
 * (kernels.inc: AVX-512, AVX2, portable C).
 *
 * Threads: one OpenMP pool shared with oneDNN (built on OpenMP too), never
 * nested. A linear layer of many rows is split into row chunks, each
 * thread running a single-threaded GEMM on its chunk and then the chunk's
 * epilogue (bias + activation, or residual + LayerNorm) while it is still
 * in cache; few rows go to one multi-threaded GEMM instead.
 */
#include <dnnl.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu-impl.h"
#include "backend/cpu/ops-impl.h"
#include "hw/hw-impl.h"

enum { PREC_FP32, PREC_INT8, PREC_BF16 };
static const char *const prec_names[] = {"fp32", "int8", "bf16"};

struct ia_linear {
    int n_out, n_in, prec;
    float *w;      /* fp32: (n_out, n_in) */
    float *b;      /* (n_out) or NULL */
    int8_t *wp;    /* int8: wq (n_out, n_in) packed for ia__i8_gemm (VNNI) or ia__i8_gemm_avx2 */
    float *wscale; /* int8: (n_out), W[j] ~ wscale[j] wq[j] */
    float *wsum;   /* int8: wscale[j] * sum_k wq[j][k], for the rows' zero points */
    float *inv_s;  /* int8: per input channel 1/s (SmoothQuant), or NULL */
    float *wf;     /* fp32 at the AVX2 level: w packed for ia__f32_gemm (no oneDNN) */
    dnnl_memory_t wmem; /* fp32/bf16 through a matmul primitive: packed weights */
    dnnl_memory_t bmem; /* the bias (1, n_out) for primitives that add it */
};

/* An instance: one model's threads, precision and profile. */
typedef struct cpu_ctx {
    int n_threads; /* > 0 */
    int prec;      /* PREC_*, as the CPU can do it */
    bool profile;
    int layer_counter; /* linear layers made, for IA_CPU_PREC_LAYERS */
    pthread_mutex_t prof_lock;
    ia_backend_profile prof;
} cpu_ctx;

/* instruction set ------------------------------------------------------- */

static ia__cpu_isa isa_level = IA_CPU_ISA_PORTABLE;
static const ia__cpu_kernels *kern = &ia__cpu_kernels_portable;
static bool have_vnni, have_avx_vnni, have_bf16;
static pthread_once_t isa_once = PTHREAD_ONCE_INIT;

/* The int8 linear layers' GEMM in force (isa_init), the panel width its
 * packed weights have, and whether they need the pair bound (below). */
typedef void (*i8_gemm_fn)(int, int, int, const uint8_t *, size_t, const int8_t *, int, int, const ia__i8_out *);
static struct {
    i8_gemm_fn gemm;
    int panel;
    bool pair_bound;
} i8 = {ia__i8_gemm_avx2, IA_I8_PANEL_AVX2, true};

/* From the hardware report's cpuid probe (src/hw), which also checks that
 * the OS saves the registers. */
static void isa_init(void)
{
    ia_cpu_info ci = {0};
    ia__cpu_features(&ci);
    const ia_cpu_feature *f;
#define HAS(name) ((f = ia__cpu_feature(&ci, name)) && f->usable)
    ia__cpu_isa best = IA_CPU_ISA_PORTABLE;
    if (HAS("avx2") && HAS("fma"))
        best = IA_CPU_ISA_AVX2;
    if (HAS("avx512f") && HAS("avx512bw") && HAS("avx512dq") && HAS("avx512vl"))
        best = IA_CPU_ISA_AVX512;
    have_vnni = best == IA_CPU_ISA_AVX512 && HAS("avx512_vnni");
    have_bf16 = best == IA_CPU_ISA_AVX512 && HAS("avx512_bf16");
    const bool cpu_avx_vnni = best >= IA_CPU_ISA_AVX2 && HAS("avx_vnni");
#undef HAS
    const char *env = getenv("IA_CPU_ISA");
    ia__cpu_isa want = best;
    bool want_avx_vnni = true; /* IA_CPU_ISA=avx2 turns it off */
    char off[64];
    if (!ia__accelerate_enabled_env(off, sizeof off)) {
        want = IA_CPU_ISA_PORTABLE; /* the plain path: no vector kernels */
        ia__log(IA_LOG_INFO, "%s=%s: CPU kernels in portable C, oneDNN at its SSE4.1 baseline", IA_ENV_ENABLED, off);
    } else if (env && *env) {
        if (!strcmp(env, "portable"))
            want = IA_CPU_ISA_PORTABLE;
        else if (!strcmp(env, "avx2"))
            want = IA_CPU_ISA_AVX2, want_avx_vnni = false;
        else if (!strcmp(env, "avx-vnni"))
            want = IA_CPU_ISA_AVX2;
        else if (!strcmp(env, "avx512"))
            want = IA_CPU_ISA_AVX512;
        else
            ia__log(IA_LOG_WARN, "IA_CPU_ISA=%s: unknown (portable, avx2, avx-vnni, avx512); using the CPU's best",
                    env);
        if (!strcmp(env, "avx-vnni") && !cpu_avx_vnni)
            ia__log(IA_LOG_WARN, "IA_CPU_ISA=avx-vnni: this CPU lacks AVX-VNNI; int8 at the AVX2 level without it");
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
        have_vnni = have_bf16 = false;
        dnnl_set_max_cpu_isa(want == IA_CPU_ISA_AVX2 ? dnnl_cpu_isa_avx2 : dnnl_cpu_isa_sse41);
    }
    have_avx_vnni = want >= IA_CPU_ISA_AVX2 && !have_vnni && cpu_avx_vnni && want_avx_vnni;
    if (have_vnni)
        i8.gemm = ia__i8_gemm, i8.panel = IA_I8_PANEL, i8.pair_bound = false;
    else if (have_avx_vnni)
        i8.gemm = ia__i8_gemm_avx_vnni, i8.pair_bound = false;
}

ia__cpu_isa ia__cpu_isa_level(void)
{
    pthread_once(&isa_once, isa_init);
    return isa_level;
}

bool ia__cpu_has_vnni(void)
{
    pthread_once(&isa_once, isa_init);
    return have_vnni;
}

bool ia__cpu_has_avx_vnni(void)
{
    pthread_once(&isa_once, isa_init);
    return have_avx_vnni;
}

const char *ia__cpu_isa_name(void)
{
    static const char *const names[] = {"portable", "avx2", "avx512"};
    return names[ia__cpu_isa_level()];
}

const ia__cpu_kernels *ia__cpu_kernels_active(void)
{
    pthread_once(&isa_once, isa_init);
    return kern;
}

/* profile --------------------------------------------------------------- */

/* Layers of n_out * n_in >= 384 * 1152 over more than 256 rows: the
 * "large" GEMMs whose efficiency docs/benchmarks.md reports. */
static void prof_linear(cpu_ctx *c, const ia_linear *lin, int rows, double t)
{
    const double flop = 2.0 * rows * lin->n_out * lin->n_in;
    pthread_mutex_lock(&c->prof_lock);
    c->prof.linear_s += t;
    c->prof.linear_flop += flop;
    c->prof.linear_calls++;
    if ((long)lin->n_out * lin->n_in >= 384L * 1152 && rows > 256) {
        c->prof.large_s += t;
        c->prof.large_flop += flop;
    }
    pthread_mutex_unlock(&c->prof_lock);
}

void ia__cpu_prof_op(void *ctx, ia_op op, double seconds, double flop)
{
    cpu_ctx *c = ctx;
    if (!c->profile)
        return;
    pthread_mutex_lock(&c->prof_lock);
    if (op == IA_OP_MATMUL) {
        c->prof.linear_s += seconds;
        c->prof.linear_flop += flop;
        c->prof.linear_calls++;
    } else if (op == IA_OP_ATTENTION) {
        c->prof.attention_s += seconds;
    } else {
        c->prof.other_s += seconds;
    }
    pthread_mutex_unlock(&c->prof_lock);
}

bool ia__cpu_ctx_profiling(void *ctx) { return ((cpu_ctx *)ctx)->profile; }

static void profile(void *ctx, ia_backend_profile *p)
{
    cpu_ctx *c = ctx;
    pthread_mutex_lock(&c->prof_lock);
    p->linear_s += c->prof.linear_s;
    p->linear_flop += c->prof.linear_flop;
    p->linear_calls += c->prof.linear_calls;
    p->large_s += c->prof.large_s;
    p->large_flop += c->prof.large_flop;
    p->attention_s += c->prof.attention_s;
    p->other_s += c->prof.other_s;
    pthread_mutex_unlock(&c->prof_lock);
}

/* buffers --------------------------------------------------------------- */

void ia__cpu_use_threads(int n)
{
    omp_set_dynamic(0); /* OMP_DYNAMIC=true would let the runtime grant fewer */
    omp_set_num_threads(n);
}

static int device_count(void) { return 1; }

static const char *device_name(int device)
{
    static const char *const names[] = {"host CPU (portable kernels)", "host CPU (AVX2 kernels)",
                                        "host CPU (AVX-512 kernels)"};
    return ia__cpu_has_avx_vnni() ? "host CPU (AVX2 kernels, AVX-VNNI)" : names[ia__cpu_isa_level()];
}

/* Activation buffers (tens of MB per batch) are kept for reuse once freed:
 * fresh pages from the kernel cost a fault and a zeroing per 4 KiB, which
 * measured 8% of a batch. At most BUF_KEEP buffers and BUF_KEEP_BYTES are
 * kept (a batch under the default token budget uses about 100 MB). Each
 * buffer is 64-byte aligned, with a header in front holding its capacity
 * and the block malloc returned. */
enum { BUF_HEAD = 64, BUF_BIG = 1 << 20, BUF_KEEP = 8 };
#define BUF_KEEP_BYTES ((size_t)512 << 20)
typedef struct buf_head { void *block; size_t cap; } buf_head;
static struct { void *buf; size_t cap; } buf_pool[BUF_KEEP];
static size_t buf_kept; /* bytes in buf_pool */
static pthread_mutex_t buf_lock = PTHREAD_MUTEX_INITIALIZER;

static void *buf_alloc(void *ctx, size_t bytes)
{
    if (bytes > SIZE_MAX / 2)
        return NULL;
    if (bytes >= BUF_BIG) { /* the smallest kept buffer that fits */
        int best = -1;
        pthread_mutex_lock(&buf_lock);
        for (int i = 0; i < BUF_KEEP; i++)
            if (buf_pool[i].buf && buf_pool[i].cap >= bytes &&
                (best < 0 || buf_pool[i].cap < buf_pool[best].cap))
                best = i;
        void *buf = best >= 0 ? buf_pool[best].buf : NULL;
        if (buf) {
            buf_pool[best].buf = NULL;
            buf_kept -= buf_pool[best].cap;
        }
        pthread_mutex_unlock(&buf_lock);
        if (buf)
            return buf;
        bytes += bytes / 4; /* room for the next, somewhat larger batch */
    }
    char *block = ia__malloc(bytes + 2 * BUF_HEAD);
    if (!block)
        return NULL;
    char *buf = (char *)(((uintptr_t)block + 2 * BUF_HEAD - 1) & ~(uintptr_t)(BUF_HEAD - 1));
    *(buf_head *)(buf - BUF_HEAD) = (buf_head){block, bytes};
    return buf;
}

static void buf_free(void *ctx, void *buf)
{
    if (!buf)
        return;
    const size_t cap = ((buf_head *)((char *)buf - BUF_HEAD))->cap;
    if (cap >= BUF_BIG) { /* keep it, in place of the smallest kept one */
        pthread_mutex_lock(&buf_lock);
        int slot = 0;
        for (int i = 0; i < BUF_KEEP; i++) {
            if (!buf_pool[i].buf) {
                slot = i;
                break;
            }
            if (buf_pool[i].cap < buf_pool[slot].cap)
                slot = i;
        }
        void *out = buf_pool[slot].buf;
        const size_t out_cap = out ? buf_pool[slot].cap : 0;
        if ((!out || out_cap < cap) && buf_kept - out_cap + cap <= BUF_KEEP_BYTES) {
            buf_pool[slot].buf = buf;
            buf_pool[slot].cap = cap;
            buf_kept += cap - out_cap;
            buf = out;
        }
        pthread_mutex_unlock(&buf_lock);
    }
    if (buf)
        ia__free(((buf_head *)((char *)buf - BUF_HEAD))->block);
}

/* linear layers --------------------------------------------------------- */

/* oneDNN matmul primitives (brgemm kernels on AVX-512) with weights
 * reordered once into the blocked layout the kernels read, which does not
 * depend on the number of rows M. Primitives are made per exact M and
 * cached (see matmul_rows for which M occur). */
static dnnl_engine_t engine;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static bool engine_ok;

static void engine_init(void)
{
    pthread_once(&isa_once, isa_init);
    engine_ok = dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success;
}

/* post: what the primitive adds after the product: POST_BIAS, plus the
 * activation (ia_act) in the bits above. */
enum { POST_BIAS = 1 };
typedef struct pkey { int m, n, k, prec, post; } pkey;
/* The primitive cache: at most pcache_limit primitives, the least recently
 * used one not running anywhere evicted to make room. An open-addressing
 * table of twice the largest limit; evicted slots become tombstones.
 * Scratchpads are ours (user mode), one per thread: the library's shared
 * one is not safe for primitives running at once on several threads. */
#define PCACHE_MAX 4096
typedef struct pentry {
    pkey key;
    dnnl_primitive_t prim; /* NULL: empty slot (tomb: was used) */
    dnnl_memory_desc_t pad;
    unsigned long used;    /* clock of the last lookup */
    int refs;              /* calls running it now */
    bool tomb;
} pentry;
static pentry pcache[2 * PCACHE_MAX];
static size_t pcache_live, pcache_limit = PCACHE_MAX;
static unsigned long pcache_clock, pcache_evicted;
static pthread_mutex_t pcache_lock = PTHREAD_MUTEX_INITIALIZER;

static bool pcache_evict_locked(void);

void ia__cpu_pcache_limit(size_t n)
{
    pthread_mutex_lock(&pcache_lock);
    pcache_limit = n < 1 ? 1 : n > PCACHE_MAX ? PCACHE_MAX : n;
    while (pcache_live > pcache_limit && pcache_evict_locked())
        ;
    pthread_mutex_unlock(&pcache_lock);
}

void ia__cpu_pcache_stats(size_t *live, unsigned long *evicted)
{
    pthread_mutex_lock(&pcache_lock);
    *live = pcache_live;
    *evicted = pcache_evicted;
    pthread_mutex_unlock(&pcache_lock);
}

/* The primitives are fp32 or bf16 (int8 runs our own GEMMs). */
static dnnl_data_type_t src_dt(int prec) { return prec == PREC_BF16 ? dnnl_bf16 : dnnl_f32; }
static dnnl_data_type_t wei_dt(int prec) { return src_dt(prec); }
static dnnl_data_type_t dst_dt(int prec) { return (void)prec, dnnl_f32; }
static size_t src_size(int prec) { return prec == PREC_BF16 ? 2 : 4; }

static dnnl_status_t make_pd(int m, int n, int k, int prec, bool any_weights, int post,
                             dnnl_primitive_desc_t *pd)
{
    dnnl_memory_desc_t smd, wmd, dmd, bmd;
    dnnl_dims_t sd = {m, k}, wd = {k, n}, dd = {m, n}, bd = {1, n};
    dnnl_status_t st;
    if ((st = dnnl_memory_desc_init_by_tag(&smd, 2, sd, src_dt(prec), dnnl_ab)) ||
        (st = dnnl_memory_desc_init_by_tag(&wmd, 2, wd, wei_dt(prec),
                                           any_weights ? dnnl_format_tag_any : dnnl_ba)) ||
        (st = dnnl_memory_desc_init_by_tag(&dmd, 2, dd, dst_dt(prec), dnnl_ab)))
        return st;
    if ((post & POST_BIAS) && (st = dnnl_memory_desc_init_by_tag(&bmd, 2, bd, dnnl_f32, dnnl_ab)))
        return st;
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr;
    if ((st = dnnl_matmul_desc_init(&md, &smd, &wmd, (post & POST_BIAS) ? &bmd : NULL, &dmd)) ||
        (st = dnnl_primitive_attr_create(&attr)))
        return st;
    st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    const int act = post >> 1;
    if (!st && act != IA_ACT_NONE) {
        dnnl_post_ops_t po;
        if (!(st = dnnl_post_ops_create(&po))) {
            st = dnnl_post_ops_append_eltwise(po, 1.0f,
                                              act == IA_ACT_GELU ? dnnl_eltwise_gelu_erf
                                              : act == IA_ACT_GELU_TANH ? dnnl_eltwise_gelu_tanh
                                              : act == IA_ACT_SILU ? dnnl_eltwise_swish
                                                                   : dnnl_eltwise_relu,
                                              act == IA_ACT_SILU ? 1.0f : 0.0f, 0.0f);
            if (!st)
                st = dnnl_primitive_attr_set_post_ops(attr, po);
            dnnl_post_ops_destroy(po);
        }
    }
    if (!st)
        st = dnnl_primitive_desc_create(pd, &md, attr, engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

/* A primitive in use: cached (e) or made for this call alone. */
typedef struct prim_ref {
    dnnl_primitive_t prim;
    dnnl_memory_desc_t pad; /* its scratchpad layout */
    pentry *e;
} prim_ref;

static dnnl_primitive_t make_prim(const pkey *key, dnnl_memory_desc_t *pad)
{
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim = NULL;
    if (make_pd(key->m, key->n, key->k, key->prec, true, key->post, &pd) != dnnl_success)
        return NULL;
    if (dnnl_primitive_create(&prim, pd) != dnnl_success)
        prim = NULL;
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd)
        *pad = *smd;
    else
        memset(pad, 0, sizeof *pad);
    dnnl_primitive_desc_destroy(pd);
    return prim;
}

/* Evict the least recently used idle primitive; false if all are running. */
static bool pcache_evict_locked(void)
{
    pentry *lru = NULL;
    for (size_t i = 0; i < IA_ARRAY_LEN(pcache); i++) {
        pentry *e = &pcache[i];
        if (e->prim && !e->refs && (!lru || e->used < lru->used))
            lru = e;
    }
    if (!lru)
        return false;
    dnnl_primitive_destroy(lru->prim);
    lru->prim = NULL;
    lru->tomb = true;
    pcache_live--;
    pcache_evicted++;
    return true;
}

/* The primitive for key, made on first use; false on failure. Release it
 * with prim_put. Primitives are made outside the lock (0.15 ms each). */
static bool prim_get(int m, int n, int k, int prec, int post, prim_ref *r)
{
    const pkey key = {m, n, k, prec, post};
    const size_t cap = IA_ARRAY_LEN(pcache);
    const size_t h = (((unsigned)m * 2654435761u) ^ ((unsigned)n * 40503u) ^ ((unsigned)k * 97u) ^
                      (unsigned)prec ^ ((unsigned)post << 4)) % cap;
    memset(r, 0, sizeof *r);
    pthread_mutex_lock(&pcache_lock);
    for (size_t i = 0; i < cap; i++) {
        pentry *e = &pcache[(h + i) % cap];
        if (!e->prim && !e->tomb)
            break;
        if (e->prim && !memcmp(&e->key, &key, sizeof key)) {
            e->refs++;
            e->used = ++pcache_clock;
            *r = (prim_ref){e->prim, e->pad, e};
            pthread_mutex_unlock(&pcache_lock);
            return true;
        }
    }
    pthread_mutex_unlock(&pcache_lock);

    if (!(r->prim = make_prim(&key, &r->pad)))
        return false;
    pthread_mutex_lock(&pcache_lock);
    while (pcache_live >= pcache_limit && pcache_evict_locked())
        ;
    if (pcache_live < pcache_limit) { /* else all are running: this one stays uncached */
        for (size_t i = 0; i < cap; i++) {
            pentry *e = &pcache[(h + i) % cap];
            if (e->prim && !memcmp(&e->key, &key, sizeof key)) { /* another thread made it too */
                dnnl_primitive_destroy(r->prim);
                e->refs++;
                e->used = ++pcache_clock;
                *r = (prim_ref){e->prim, e->pad, e};
                break;
            }
            if (!e->prim) {
                *e = (pentry){.key = key, .prim = r->prim, .pad = r->pad, .used = ++pcache_clock, .refs = 1};
                r->e = e;
                pcache_live++;
                break;
            }
        }
    }
    pthread_mutex_unlock(&pcache_lock);
    return true;
}

static void prim_put(prim_ref *r)
{
    if (!r->e) {
        dnnl_primitive_destroy(r->prim);
        return;
    }
    pthread_mutex_lock(&pcache_lock);
    r->e->refs--;
    pthread_mutex_unlock(&pcache_lock);
}

static void weight_release(void *ctx, void *prepared)
{
    (void)ctx;
    ia_linear *lin = prepared;
    if (!lin)
        return;
    if (lin->wmem)
        dnnl_memory_destroy(lin->wmem);
    if (lin->bmem)
        dnnl_memory_destroy(lin->bmem);
    ia__free(lin->w);
    ia__free(lin->b);
    ia__free(lin->wp);
    ia__free(lin->wf);
    ia__free(lin->wscale);
    ia__free(lin->wsum);
    ia__free(lin->inv_s);
    ia__free(lin);
}

/* Diagnostics for the per-layer error report: IA_CPU_PREC_LAYERS="0,5-7"
 * keeps the requested reduced precision for those linear layers only (in
 * the order a model makes them; BERT makes qkv, attn_out, ffn_in, ffn_out
 * per layer) and fp32 for the others. Unset: all layers. */
static bool layer_selected(int idx)
{
    const char *e = getenv("IA_CPU_PREC_LAYERS");
    if (!e || !*e)
        return true;
    while (*e) {
        char *end;
        long lo = strtol(e, &end, 10), hi = lo;
        if (end == e)
            return false;
        if (*end == '-')
            hi = strtol(end + 1, &end, 10);
        if (idx >= lo && idx <= hi)
            return true;
        e = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return false;
    }
    return false;
}

/* What this CPU computes when asked for precision p. */
static int effective_prec(int p)
{
    pthread_once(&isa_once, isa_init);
    if (p == PREC_INT8 && isa_level < IA_CPU_ISA_AVX2)
        return PREC_FP32;
    if (p == PREC_BF16 && !have_bf16)
        return PREC_FP32;
    return p;
}

/* Reorder W (n_out, n_in), f32, into the primitive's weights layout and
 * type. */
static bool pack_weights(ia_linear *lin, const void *W)
{
    pthread_once(&engine_once, engine_init);
    if (!engine_ok)
        return false;
    dnnl_primitive_desc_t pd = NULL, rpd = NULL;
    dnnl_primitive_t rp = NULL;
    dnnl_memory_t user = NULL;
    dnnl_stream_t stream = NULL;
    dnnl_memory_desc_t umd;
    dnnl_dims_t wd = {lin->n_in, lin->n_out};
    bool ok = make_pd(64, lin->n_out, lin->n_in, lin->prec, true, 0, &pd) == dnnl_success &&
              dnnl_memory_desc_init_by_tag(&umd, 2, wd, dnnl_f32, dnnl_ba) == dnnl_success;
    const dnnl_memory_desc_t *wmd = ok ? dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0) : NULL;
    ok = ok && wmd && dnnl_memory_create(&user, &umd, engine, (void *)W) == dnnl_success &&
         dnnl_memory_create(&lin->wmem, wmd, engine, DNNL_MEMORY_ALLOCATE) == dnnl_success &&
         dnnl_reorder_primitive_desc_create(&rpd, &umd, engine, wmd, engine, NULL) == dnnl_success &&
         dnnl_primitive_create(&rp, rpd) == dnnl_success &&
         dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, lin->wmem}};
        ok = dnnl_primitive_execute(rp, stream, 2, args) == dnnl_success &&
             dnnl_stream_wait(stream) == dnnl_success;
    }
    if (stream) dnnl_stream_destroy(stream);
    if (rp) dnnl_primitive_destroy(rp);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (user) dnnl_memory_destroy(user);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (!ok && lin->wmem) {
        dnnl_memory_destroy(lin->wmem);
        lin->wmem = NULL;
    }
    return ok;
}

/* A linear layer from f32 weights W (n_out, n_in) and bias b (n_out) or
 * NULL, copied: packed in the instance's precision for the GEMM that runs
 * it (ours for int8 and for fp32 at the AVX2 level, else oneDNN's). */
static ia_status linear_new(cpu_ctx *c, const float *W, const float *b, int n_out, int n_in,
                            const float *in_scale, ia_linear **out)
{
    ia_linear *lin = ia__calloc(1, sizeof *lin);
    if (!lin)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    lin->n_out = n_out;
    lin->n_in = n_in;
    lin->prec = c->prec;
    if (lin->prec != PREC_FP32 && !layer_selected(__atomic_fetch_add(&c->layer_counter, 1, __ATOMIC_RELAXED)))
        lin->prec = PREC_FP32;
    const size_t nw = (size_t)n_out * n_in;
    bool ok = true;
    if (b) {
        ok = (lin->b = ia__malloc((size_t)n_out * sizeof(float))) != NULL;
        if (ok)
            memcpy(lin->b, b, (size_t)n_out * sizeof(float));
    }
    if (ok && lin->prec == PREC_INT8) {
        int8_t *wq = ia__malloc(nw);
        lin->wp = ia__malloc(ia__i8_packed_bytes(n_out, n_in, i8.panel));
        lin->wscale = ia__malloc((size_t)n_out * sizeof(float));
        lin->wsum = ia__malloc((size_t)n_out * sizeof(float));
        ok = wq && lin->wp && lin->wscale && lin->wsum;
        /* SmoothQuant with alpha 1/2: s_k = sqrt(a_k / max_j |W[j][k]|),
         * x_k / s_k and W[j][k] s_k quantize with less error when a few
         * input channels are much larger than the rest. */
        float *ws = NULL;
        if (ok && in_scale) {
            lin->inv_s = ia__malloc((size_t)n_in * sizeof(float));
            ws = ia__malloc((size_t)n_in * sizeof(float));
            ok = lin->inv_s && ws;
            if (ok) {
                float *cmax = ws;
                for (int k = 0; k < n_in; k++)
                    cmax[k] = 0;
                for (int j = 0; j < n_out; j++)
                    for (int k = 0; k < n_in; k++)
                        cmax[k] = fmaxf(cmax[k], fabsf(W[(size_t)j * n_in + k]));
                for (int k = 0; k < n_in; k++) {
                    float a = fmaxf(fabsf(in_scale[k]), 1e-6f), w = fmaxf(cmax[k], 1e-6f);
                    float sk = sqrtf(a / w);
                    ws[k] = sk;
                    lin->inv_s[k] = 1.0f / sk;
                }
            }
        }
        float *row = ok ? ia__malloc((size_t)n_in * sizeof(float)) : NULL;
        ok = ok && row;
        /* i8.pair_bound: without VNNI or AVX-VNNI the int8 GEMM adds the
         * u8 x s8 products of inputs k and k+1 (k even) in 16 bits with
         * saturation. A row's scale then also keeps |q_k| + |q_k+1| <=
         * 128, which makes every pair sum exact (255 x 128 < 32768) at 7
         * to 8 bits a weight. */
        for (int j = 0; ok && j < n_out; j++) {
            for (int k = 0; k < n_in; k++)
                row[k] = W[(size_t)j * n_in + k] * (ws ? ws[k] : 1.0f);
            float mx = 0, pair = 0;
            for (int k = 0; k < n_in; k++)
                mx = fmaxf(mx, fabsf(row[k]));
            for (int k = 0; k + 1 < n_in; k += 2)
                pair = fmaxf(pair, fabsf(row[k]) + fabsf(row[k + 1]));
            float inv = mx > 0 ? 127.0f / mx : 0.0f;
            if (i8.pair_bound && pair * inv > 128.0f)
                inv = 128.0f / pair;
            int32_t sum = 0;
            for (int k = 0; k < n_in; k++) {
                int q = (int)lrintf(row[k] * inv);
                if (i8.pair_bound && k % 2 && abs(q) + abs(wq[(size_t)j * n_in + k - 1]) > 128)
                    q += q > 0 ? -1 : 1; /* both rounded up past the bound */
                q = q > 127 ? 127 : q < -127 ? -127 : q;
                wq[(size_t)j * n_in + k] = (int8_t)q;
                sum += q;
            }
            lin->wscale[j] = inv > 0 ? 1.0f / inv : 0.0f;
            lin->wsum[j] = lin->wscale[j] * (float)sum;
        }
        if (ok)
            ia__i8_pack(wq, n_out, n_in, i8.panel, lin->wp);
        ia__free(row);
        ia__free(ws);
        ia__free(wq);
    } else if (ok && lin->prec == PREC_FP32 && ia__cpu_isa_level() == IA_CPU_ISA_AVX2) {
        ok = (lin->wf = ia__malloc(ia__f32_packed_floats(n_out, n_in) * sizeof(float))) != NULL;
        if (ok)
            ia__f32_pack(W, n_out, n_in, lin->wf);
    } else if (ok && pack_weights(lin, W)) {
        dnnl_memory_desc_t bmd;
        dnnl_dims_t bd = {1, n_out};
        if (lin->b && (dnnl_memory_desc_init_by_tag(&bmd, 2, bd, dnnl_f32, dnnl_ab) != dnnl_success ||
                       dnnl_memory_create(&lin->bmem, &bmd, engine, lin->b) != dnnl_success))
            lin->bmem = NULL; /* the epilogue adds the bias */
    } else if (ok) { /* no primitive for this layer: fp32 through sgemm */
        if (lin->prec == PREC_BF16)
            lin->prec = PREC_FP32;
        ok = (lin->w = ia__malloc(nw * sizeof(float))) != NULL;
        if (ok)
            memcpy(lin->w, W, nw * sizeof(float));
    }
    if (!ok) {
        weight_release(c, lin);
        return ia__error(IA_ERR_NOMEM, "out of memory for a %dx%d layer", n_out, n_in);
    }
    *out = lin;
    return IA_OK;
}

/* W (n_in, n_out) in any dtype and layout, as contiguous f32 rows. */
static ia_status weight_prepare(void *ctx, const ia_tensor *W, const ia_tensor *bias, const float *in_scale,
                                void **prepared)
{
    const int64_t n_in = W->ne[0], n_out = W->ne[1];
    const ia_dtype_traits *tr = ia__dtype(W->dtype);
    if (!tr->to_f32 || W->ne[2] * W->ne[3] != 1 || n_in < 1 || n_out < 1 || n_in > INT_MAX || n_out > INT_MAX ||
        (tr->quantized && n_in % tr->block) || !W->data)
        return ia__error(IA_ERR_INVALID, "cpu backend: cannot prepare a %s weight [%lld, %lld, %lld, %lld]",
                         ia__dtype_name(W->dtype), (long long)W->ne[0], (long long)W->ne[1], (long long)W->ne[2],
                         (long long)W->ne[3]);
    if (bias && (bias->dtype != IA_DTYPE_F32 || ia__tensor_nelements(bias) != n_out || !ia__tensor_contiguous(bias)))
        return ia__error(IA_ERR_INVALID, "cpu backend: a weight's bias must be contiguous f32 [%lld]",
                         (long long)n_out);
    const bool direct = W->dtype == IA_DTYPE_F32 && ia__tensor_contiguous(W);
    float *f = direct ? NULL : ia__malloc((size_t)(n_in * n_out) * sizeof(float));
    if (!direct && !f)
        return ia__error(IA_ERR_NOMEM, "out of memory converting a %lldx%lld weight", (long long)n_out,
                         (long long)n_in);
    for (int64_t r = 0; f && r < n_out; r++) {
        const char *row = (const char *)W->data + (size_t)r * W->nb[1];
        if (tr->quantized || W->nb[0] == tr->block_bytes)
            tr->to_f32(row, f + r * n_in, n_in);
        else
            for (int64_t i = 0; i < n_in; i++)
                tr->to_f32(row + (size_t)i * W->nb[0], f + r * n_in + i, 1);
    }
    ia_linear *lin = NULL;
    ia_status rc = linear_new(ctx, direct ? W->data : f, bias ? bias->data : NULL, (int)n_out, (int)n_in,
                              in_scale, &lin);
    ia__free(f);
    *prepared = lin;
    return rc;
}

void ia__cpu_linear_dims(const ia_linear *lin, int *n_out, int *n_in)
{
    *n_out = lin->n_out;
    *n_in = lin->n_in;
}

/* What follows the GEMM of a row chunk. */
typedef struct epilogue {
    ia_act act;
    float *res; /* non-NULL: res = LN(res + y + b) */
    const float *gamma, *beta;
    float eps;
} epilogue;

/* Rows per chunk when a linear layer is split over threads. */
enum { CHUNK_ROWS = 256 };

/* Rows per block of an int8 layer, or of an fp32 one through our own
 * AVX2 GEMM (gemm_rows): 64 x 4 x 1536 bytes of int32 products or floats
 * stay in L2 for the epilogue. */
enum { BLOCK_ROWS = 64 };

/* Per-thread scratch for one linear call. */
typedef struct scratch {
    unsigned char *q;  /* int8: rows * n_in */
    float *rs, *rz;    /* int8: rows' scales and zero points */
    uint16_t *h;       /* bf16: rows * n_in */
    dnnl_stream_t stream;
    void *pad;         /* the primitives' scratchpad */
    size_t pad_size;
    bool ok;
} lin_scratch;

static void scratch_init(lin_scratch *sc, const ia_linear *lin, int rows)
{
    memset(sc, 0, sizeof *sc);
    sc->ok = true;
    if (lin->prec == PREC_INT8) {
        sc->q = ia__malloc((size_t)rows * lin->n_in + 4); /* the GEMM reads k rounded up to 4 */
        sc->rs = ia__malloc((size_t)rows * sizeof(float));
        sc->rz = ia__malloc((size_t)rows * sizeof(float));
        sc->ok = sc->q && sc->rs && sc->rz;
    } else if (lin->wmem && lin->prec == PREC_BF16) {
        sc->ok = (sc->h = ia__malloc((size_t)rows * lin->n_in * sizeof(uint16_t))) != NULL;
    }
    if (lin->wmem)
        sc->ok = sc->ok && dnnl_stream_create(&sc->stream, engine, dnnl_stream_default_flags) == dnnl_success;
}

static void scratch_free(lin_scratch *sc)
{
    ia__free(sc->q);
    ia__free(sc->rs);
    ia__free(sc->rz);
    ia__free(sc->h);
    ia__free(sc->pad);
    if (sc->stream)
        dnnl_stream_destroy(sc->stream);
}

/* One primitive call over m rows. */
static bool matmul_block(const ia_linear *lin, const void *x, void *y, int m, int post,
                         lin_scratch *sc)
{
    const int N = lin->n_out, Kd = lin->n_in;
    prim_ref pr;
    if (!prim_get(m, N, Kd, lin->prec, post, &pr))
        return false;
    const dnnl_memory_desc_t pmd = pr.pad;
    const size_t need = dnnl_memory_desc_get_size(&pmd);
    if (need > sc->pad_size) {
        ia__free(sc->pad);
        sc->pad_size = 0;
        if (!(sc->pad = ia__malloc(need))) {
            prim_put(&pr);
            return false;
        }
        sc->pad_size = need;
    }
    dnnl_memory_desc_t smd, dmd;
    dnnl_dims_t sd = {m, Kd}, dd = {m, N};
    dnnl_memory_t src = NULL, dst = NULL, padm = NULL;
    bool ok = dnnl_memory_desc_init_by_tag(&smd, 2, sd, src_dt(lin->prec), dnnl_ab) == dnnl_success &&
              dnnl_memory_desc_init_by_tag(&dmd, 2, dd, dst_dt(lin->prec), dnnl_ab) == dnnl_success &&
              dnnl_memory_create(&src, &smd, engine, (void *)x) == dnnl_success &&
              dnnl_memory_create(&dst, &dmd, engine, y) == dnnl_success &&
              (!need || dnnl_memory_create(&padm, &pmd, engine, sc->pad) == dnnl_success);
    if (ok) {
        dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, lin->wmem},
                                   {DNNL_ARG_DST, dst}};
        int na = 3;
        if (post & POST_BIAS)
            args[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, lin->bmem};
        if (need)
            args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, padm};
        ok = dnnl_primitive_execute(pr.prim, sc->stream, na, args) == dnnl_success &&
             dnnl_stream_wait(sc->stream) == dnnl_success;
    }
    prim_put(&pr);
    if (src) dnnl_memory_destroy(src);
    if (dst) dnnl_memory_destroy(dst);
    if (padm) dnnl_memory_destroy(padm);
    return ok;
}

/* y (rows, n_out) = x (rows, n_in) W^T through matmul primitives. Rows go
 * in blocks of 256, 128, 64 and 32, and a rest under 32 as it is, so that
 * at most 35 primitives per layer shape are ever made (each holds about
 * 64 KB of JIT code and tables). Padding the rest instead would double the
 * work of a 17-token query. */
static bool matmul_rows(const ia_linear *lin, const void *x, void *y, int rows, int post,
                        lin_scratch *sc)
{
    bool r = true;
    const size_t esz = src_size(lin->prec);
    for (int done = 0; r && done < rows;) {
        const int left = rows - done;
        int m = 256;
        while (m > left && m > 32)
            m /= 2;
        if (m > left)
            m = left;
        r = matmul_block(lin, (const char *)x + (size_t)done * lin->n_in * esz,
                         (char *)y + (size_t)done * lin->n_out * 4, m, post, sc);
        done += m;
    }
    return r;
}

/* An int8 layer (lin->wp). x ~ z + s q (per row), W ~ sw wq (per output):
 * y[r][j] = s[r] sw[j] (q wq^T)[r][j] + z[r] sw[j] sum_k wq[j][k]. Blocks
 * of rows quantized, then the int8 GEMM, which dequantizes and adds the
 * bias and activation as it stores; before a LayerNorm it adds into the
 * residual rows, which are then normalized (y is not written). Outside a
 * parallel region (few rows) the threads split the output panels. */
static bool i8_rows(const ia_linear *lin, const float *x, float *y, int rows, const epilogue *ep,
                    lin_scratch *sc)
{
    const int N = lin->n_out, Kd = lin->n_in, np = (N + i8.panel - 1) / i8.panel;
    const int nt = omp_in_parallel() ? 1 : IA_MIN(omp_get_max_threads(), np);
    const ia__cpu_kernels *k = ia__cpu_kernels_active();
    for (int r0 = 0; r0 < rows; r0 += BLOCK_ROWS) {
        const int m = rows - r0 < BLOCK_ROWS ? rows - r0 : BLOCK_ROWS;
        k->quantize_rows(x + (size_t)r0 * Kd, m, Kd, lin->inv_s, sc->q, sc->rs, sc->rz);
        const ia__i8_out o = {.rs = sc->rs, .rz = sc->rz, .sw = lin->wscale, .ws = lin->wsum, .b = lin->b,
                              .act = ep->res ? IA_ACT_NONE : ep->act, .add = ep->res != NULL,
                              .y = (ep->res ? ep->res : y) + (size_t)r0 * N, .ldy = (size_t)N};
        if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static, 1)
            for (int t = 0; t < nt; t++)
                i8.gemm(m, N, Kd, sc->q, (size_t)Kd, lin->wp, np * t / nt, np * (t + 1) / nt, &o);
        } else {
            i8.gemm(m, N, Kd, sc->q, (size_t)Kd, lin->wp, 0, np, &o);
        }
        if (ep->res)
            k->add_ln(ep->res + (size_t)r0 * N, NULL, NULL, ep->gamma, ep->beta, m, N, ep->eps);
    }
    return true;
}

/* An fp32 layer at the AVX2 level (lin->wf): blocks of rows through
 * ia__f32_gemm, each block's epilogue while it is in L2; outside a
 * parallel region the threads split the output panels. */
static bool f32_rows(const ia_linear *lin, const float *x, float *y, int rows, const epilogue *ep)
{
    const int N = lin->n_out, Kd = lin->n_in, np = (N + IA_F32_PANEL - 1) / IA_F32_PANEL;
    const int nt = omp_in_parallel() ? 1 : IA_MIN(omp_get_max_threads(), np);
    const ia__cpu_kernels *k = ia__cpu_kernels_active();
    for (int r0 = 0; r0 < rows; r0 += BLOCK_ROWS) {
        const int m = rows - r0 < BLOCK_ROWS ? rows - r0 : BLOCK_ROWS;
        const float *xb = x + (size_t)r0 * Kd;
        float *yb = y + (size_t)r0 * N;
        if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static, 1)
            for (int t = 0; t < nt; t++)
                ia__f32_gemm(m, N, Kd, xb, (size_t)Kd, lin->wf, np * t / nt, np * (t + 1) / nt, yb, (size_t)N);
        } else {
            ia__f32_gemm(m, N, Kd, xb, (size_t)Kd, lin->wf, 0, np, yb, (size_t)N);
        }
        if (ep->res)
            k->add_ln(ep->res + (size_t)r0 * N, yb, lin->b, ep->gamma, ep->beta, m, N, ep->eps);
        else if (lin->b || ep->act != IA_ACT_NONE)
            k->bias_act(yb, m, N, lin->b, ep->act);
    }
    return true;
}

/* y = x W^T for `rows` rows, then the epilogue. */
static bool gemm_rows(const ia_linear *lin, const float *x, float *y, int rows, const epilogue *ep,
                      lin_scratch *sc)
{
    const int N = lin->n_out, Kd = lin->n_in;
    const ia__cpu_kernels *k = ia__cpu_kernels_active();
    if (!sc->ok)
        return false;
    if (lin->wp) {
        return i8_rows(lin, x, y, rows, ep, sc);
    } else if (lin->wf) {
        return f32_rows(lin, x, y, rows, ep);
    } else if (lin->wmem) {
        const void *src = x;
        if (lin->prec == PREC_BF16) {
            k->to_bf16(x, (size_t)rows * Kd, sc->h);
            src = sc->h;
        }
        /* bias and activation inside the GEMM (oneDNN post-op) unless a
         * LayerNorm epilogue follows */
        const int post = ep->res || !lin->bmem ? 0 : POST_BIAS | (int)ep->act << 1;
        if (!matmul_rows(lin, src, y, rows, post, sc))
            return false;
        if (post)
            return true;
    } else if (dnnl_sgemm('N', 'T', rows, N, Kd, 1.0f, x, Kd, lin->w, Kd, 0.0f, y, N) != dnnl_success) {
        return false;
    }
    if (ep->res)
        k->add_ln(ep->res, y, lin->b, ep->gamma, ep->beta, rows, N, ep->eps);
    else if (lin->b || ep->act != IA_ACT_NONE)
        k->bias_act(y, rows, N, lin->b, ep->act);
    return true;
}

static ia_status run_linear(cpu_ctx *c, const ia_linear *lin, const float *x, float *y, int n_rows,
                            const epilogue *ep)
{
    const int nt = c->n_threads, N = lin->n_out, ch = CHUNK_ROWS;
    const double t0 = c->profile ? ia__now() : 0;
    bool ok = true;
    ia__cpu_use_threads(nt);
    if (n_rows < 2 * ch || nt == 1 || lin->n_out * lin->n_in < 65536) {
        /* Few rows: one GEMM over all threads (they split the columns). */
        lin_scratch sc;
        scratch_init(&sc, lin, n_rows);
        ok = gemm_rows(lin, x, y, n_rows, ep, &sc);
        scratch_free(&sc);
    } else {
        /* Row chunks, one thread each: GEMM then epilogue while hot. */
        const int n_chunks = (n_rows + ch - 1) / ch;
        int failed = 0;
#pragma omp parallel num_threads(nt) reduction(+ : failed)
        {
            lin_scratch sc;
            scratch_init(&sc, lin, ch);
#pragma omp for schedule(dynamic, 1)
            for (int chunk = 0; chunk < n_chunks; chunk++) {
                const int lo = chunk * ch, rows = n_rows - lo < ch ? n_rows - lo : ch;
                epilogue e = *ep;
                if (e.res)
                    e.res += (size_t)lo * N;
                if (!gemm_rows(lin, x + (size_t)lo * lin->n_in, y + (size_t)lo * N, rows, &e, &sc))
                    failed++;
            }
            scratch_free(&sc);
        }
        ok = !failed;
    }
    if (c->profile)
        prof_linear(c, lin, n_rows, ia__now() - t0);
    return ok ? IA_OK
              : ia__error(IA_ERR_NOMEM, "cpu backend: a %dx%d linear layer over %d rows failed "
                          "(out of memory or a oneDNN error)", N, lin->n_in, n_rows);
}

ia_status ia__cpu_linear(void *ctx, const ia_linear *lin, const float *x, float *y, int n_rows, ia_act act)
{
    epilogue ep = {.act = act};
    return run_linear(ctx, lin, x, y, n_rows, &ep);
}

ia_status ia__cpu_linear_add_ln(void *ctx, const ia_linear *lin, const float *x, float *res, float *tmp,
                                int n_rows, const float *gamma, const float *beta, float eps)
{
    epilogue ep = {.act = IA_ACT_NONE, .res = res, .gamma = gamma, .beta = beta, .eps = eps};
    return run_linear(ctx, lin, x, tmp, n_rows, &ep);
}

/* int8 layers only: fp32 and bf16 GEMMs slow down on blocks small enough
 * for the intermediate to stay in L2 (all-MiniLM-L6-v2 in fp32: 5-9%
 * slower in blocks of 64 rows, no faster in blocks of 256), so they run
 * one layer after the other. */
ia_status ia__cpu_ffn_add_ln(void *ctx, const ia_linear *up, ia_act act, const ia_linear *down, const float *x,
                             float *h_tmp, float *y_tmp, float *res, int n_rows, const float *gamma,
                             const float *beta, float eps)
{
    if (up->prec != PREC_INT8 || down->prec != PREC_INT8) {
        ia_status rc = ia__cpu_linear(ctx, up, x, h_tmp, n_rows, act);
        return rc ? rc : ia__cpu_linear_add_ln(ctx, down, h_tmp, res, y_tmp, n_rows, gamma, beta, eps);
    }
    cpu_ctx *c = ctx;
    const int nt = c->n_threads, B = BLOCK_ROWS, H = up->n_out, N = down->n_out, Kd = up->n_in;
    const int n_blocks = (n_rows + B - 1) / B;
    const double t0 = c->profile ? ia__now() : 0;
    double t_up = 0, t_down = 0; /* thread time in each layer: splits the wall time in the profile */
    int failed = 0;
    ia__cpu_use_threads(nt);
#pragma omp parallel num_threads(nt) reduction(+ : failed, t_up, t_down)
    {
        lin_scratch su, sd;
        scratch_init(&su, up, B);
        scratch_init(&sd, down, B);
        float *h = ia__malloc((size_t)B * H * sizeof(float));
        const bool ok = h != NULL;
#pragma omp for schedule(dynamic, 1)
        for (int b = 0; b < n_blocks; b++) {
            const int r0 = b * B, m = n_rows - r0 < B ? n_rows - r0 : B;
            const epilogue e1 = {.act = act};
            const epilogue e2 = {.act = IA_ACT_NONE, .res = res + (size_t)r0 * N, .gamma = gamma, .beta = beta,
                                 .eps = eps};
            const double ta = ia__now();
            if (!ok || !gemm_rows(up, x + (size_t)r0 * Kd, h, m, &e1, &su)) {
                failed++;
                continue;
            }
            const double tb = ia__now();
            if (!gemm_rows(down, h, NULL, m, &e2, &sd)) /* its output stays in sd's scratch */
                failed++;
            t_up += tb - ta;
            t_down += ia__now() - tb;
        }
        ia__free(h);
        scratch_free(&su);
        scratch_free(&sd);
    }
    if (c->profile) {
        const double dt = ia__now() - t0, share = t_up + t_down > 0 ? t_up / (t_up + t_down) : 0.5;
        prof_linear(c, up, n_rows, dt * share);
        prof_linear(c, down, n_rows, dt * (1 - share));
    }
    return !failed ? IA_OK
                   : ia__error(IA_ERR_NOMEM, "cpu backend: a %dx%d and %dx%d feed-forward pair over %d rows failed "
                               "(out of memory or a oneDNN error)", H, Kd, N, down->n_in, n_rows);
}

/* other ops ------------------------------------------------------------- */

ia_status ia__cpu_attention_packed(void *ctx, const float *qkv, float *out, const int32_t *offsets,
                                   int n_seqs, int n_heads, int head_dim, float scale, const float *bias,
                                   size_t bias_stride)
{
    cpu_ctx *c = ctx;
    const int dim = n_heads * head_dim, stride = 3 * dim;
    int max_len = 0;
    for (int s = 0; s < n_seqs; s++)
        max_len = IA_MAX(max_len, offsets[s + 1] - offsets[s]);
    const size_t per = IA_CPU_ATTN_SCRATCH(max_len, head_dim) + (size_t)max_len * (stride + dim);
    const int nt = c->n_threads;
    float *scratch = buf_alloc(ctx, (size_t)nt * per * sizeof(float));
    if (!scratch)
        return ia__error(IA_ERR_NOMEM, "cpu backend: out of memory for the attention scores of %d-token sequences",
                         max_len);
    const ia__cpu_kernels *k = ia__cpu_kernels_active();
#pragma omp parallel num_threads(nt)
    {
        float *sc = scratch + (size_t)omp_get_thread_num() * per;
        float *local = sc + IA_CPU_ATTN_SCRATCH(max_len, head_dim);
        float *lout = local + (size_t)max_len * stride;
        /* Whole sequences per thread: their Q|K|V rows copied in with one
         * streaming read (each head's strided 128-byte reads straight from
         * the batch measured latency-bound), every head run there, and
         * the output rows copied out. */
#pragma omp for schedule(dynamic, 1)
        for (int s = 0; s < n_seqs; s++) {
            const int start = offsets[s], len = offsets[s + 1] - start;
            memcpy(local, qkv + (size_t)start * stride, (size_t)len * stride * sizeof(float));
            for (int h = 0; h < n_heads; h++) {
                const float *q = local + h * head_dim;
                k->attention_head(q, q + dim, q + 2 * dim, stride, len, head_dim, scale,
                                  lout + h * head_dim, dim, sc, bias ? bias + (size_t)h * bias_stride : NULL);
            }
            memcpy(out + (size_t)start * dim, lout, (size_t)len * dim * sizeof(float));
        }
    }
    buf_free(ctx, scratch);
    return IA_OK;
}

/* instances ------------------------------------------------------------- */

static int prec_index(const char *name)
{
    for (int p = 0; p < (int)IA_ARRAY_LEN(prec_names); p++)
        if (name && !strcmp(name, prec_names[p]))
            return p;
    return -1;
}

static const char *resolve_precision(const char *want)
{
    const int p = prec_index(want);
    return p < 0 ? NULL : prec_names[effective_prec(p)];
}

static ia_status open_instance(int device, int n_threads, const char *precision, bool profile, void **out)
{
    const int p = prec_index(precision);
    if (p < 0)
        return ia__error(IA_ERR_INVALID, "cpu backend: precision \"%s\": unknown (fp32, int8, bf16)",
                         precision ? precision : "(null)");
    if (device != 0)
        return ia__error(IA_ERR_INVALID, "cpu backend: no device %d (one device, cpu:0)", device);
    cpu_ctx *c = ia__calloc(1, sizeof *c);
    if (!c)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    /* oneDNN plans a primitive's work for the threads it asks for and
     * computes only part of it when OpenMP grants fewer: never ask for
     * more than OMP_THREAD_LIMIT allows (and see use_threads). */
    c->n_threads = IA_MIN(n_threads > 0 ? n_threads : omp_get_num_procs(), omp_get_thread_limit());
    c->prec = effective_prec(p);
    c->profile = profile;
    pthread_mutex_init(&c->prof_lock, NULL);
    if (c->prec != p)
        ia__log(IA_LOG_INFO, "precision %s: this CPU (or IA_CPU_ISA) lacks %s; computing in fp32", precision,
                p == PREC_INT8 ? "AVX2" : "AVX512_BF16");
    *out = c;
    return IA_OK;
}

static void close_instance(void *ctx)
{
    cpu_ctx *c = ctx;
    if (!c)
        return;
    pthread_mutex_destroy(&c->prof_lock);
    ia__free(c);
}

static const char *precision(void *ctx) { return prec_names[((cpu_ctx *)ctx)->prec]; }

int ia__cpu_ctx_threads(void *ctx) { return ((cpu_ctx *)ctx)->n_threads; }

static const ia_backend cpu_backend = {
    .api_version = IA_BACKEND_API_VERSION,
    .name = "cpu",
    .iface = {
        .device_count = device_count,
        .device_name = device_name,
        .resolve_precision = resolve_precision,
        .open = open_instance,
        .close = close_instance,
        .precision = precision,
        .profile = profile,
        .buf_alloc = buf_alloc,
        .buf_free = buf_free,
        .supports = ia__cpu_supports,
        .graph_compute = ia__cpu_graph_compute,
        .weight_prepare = weight_prepare,
        .weight_release = weight_release,
    },
};

const ia_backend *ia__backend_cpu(void) { return &cpu_backend; }
