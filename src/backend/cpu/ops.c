/*
 * The CPU backend's engine core: every op of src/tensor/tensor.h computed
 * on host tensors, for the backend table's `supports` and `graph_compute`
 * (ops-impl.h says what is supported). Written for correctness first, with
 * the heavy part where it pays: matmul runs oneDNN's sgemm for f32
 * weights and the quantized / f16 / bf16 kernels of qmatmul.c for the
 * others (any other weight dtype, or weight rows that are not packed, is
 * dequantized to f32 rows and goes through sgemm). The rest are plain
 * row loops split over the instance's OpenMP threads; activations reuse
 * the ISA-dispatched kernels (kernels.inc) so that matmul epilogues and
 * unary ops compute the same function as the linear layers.
 *
 * Inputs are read through their strides: a source row whose elements are
 * not f32 and adjacent is converted into per-thread scratch first (f16 and
 * block types with their dtype's to_f32), so views (a KV-cache slice, a
 * column block of a wider matrix, a transposed V) cost a copy, not a
 * special case. Statistics (norms, softmax sums) accumulate in double;
 * rope angles are computed in double, then applied in f32.
 */
#include <dnnl.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "backend/cpu/cpu-impl.h"
#include "backend/cpu/ops-impl.h"
#include "backend/cpu/qmatmul-impl.h"

/* tensor access --------------------------------------------------------- */

/* Byte offset of row r, rows counted over ne[1], ne[2], ne[3] in order. */
static inline size_t row_off(const ia_tensor *t, int64_t r)
{
    const int64_t i1 = r % t->ne[1], q = r / t->ne[1];
    return (size_t)i1 * t->nb[1] + (size_t)(q % t->ne[2]) * t->nb[2] + (size_t)(q / t->ne[2]) * t->nb[3];
}

static inline const char *row_at(const ia_tensor *t, int64_t r) { return (const char *)t->data + row_off(t, r); }

/* Row of n elements at p of t as f32: p itself for f32 with adjacent
 * elements, else converted into tmp (n floats). */
static const float *load_row(const ia_tensor *t, const char *p, int64_t n, float *tmp)
{
    const ia_dtype_traits *tr = ia__dtype(t->dtype);
    if (tr->quantized || t->nb[0] == tr->block_bytes) {
        if (t->dtype == IA_DTYPE_F32)
            return (const float *)(const void *)p;
        tr->to_f32(p, tmp, n);
        return tmp;
    }
    for (int64_t i = 0; i < n; i++) /* strided plain elements */
        tr->to_f32(p + (size_t)i * t->nb[0], tmp + i, 1);
    return tmp;
}

/* Element k (in ne order, ne[0] fastest) of an i32 tensor of any strides. */
static int32_t read_i32(const ia_tensor *t, int64_t k)
{
    const int64_t i0 = k % t->ne[0], q1 = k / t->ne[0], i1 = q1 % t->ne[1], q2 = q1 / t->ne[1];
    const int64_t i2 = q2 % t->ne[2], i3 = q2 / t->ne[2];
    int32_t v;
    memcpy(&v, (const char *)t->data + (size_t)i0 * t->nb[0] + (size_t)i1 * t->nb[1] + (size_t)i2 * t->nb[2] +
                   (size_t)i3 * t->nb[3], sizeof v);
    return v;
}

/* Threads for `units` independent pieces of work. */
static int threads_for(int nt, int64_t units) { return units < nt ? (units < 1 ? 1 : (int)units) : nt; }

/* The same for `units` holding `work` elements (or multiply-adds) in all:
 * one thread below SMALL_WORK, where waking the others costs more than it
 * saves (a decode step has hundreds of such ops: a norm, a rope or a copy
 * of one row per sequence). Each unit's result does not depend on the
 * thread count, so neither does the op's. */
enum { SMALL_WORK = 16384 };
static int threads_for_work(int nt, int64_t units, int64_t work)
{
    return work < SMALL_WORK ? 1 : threads_for(nt, units);
}

/* The first `rows` rows (n0 elements each) of t as packed f32 rows in dst. */
static void pack_rows(const ia_tensor *t, int64_t rows, int64_t n0, float *dst, int nt)
{
    const int tn = threads_for_work(nt, rows, rows * n0);
#pragma omp parallel for num_threads(tn) schedule(static) if (tn > 1)
    for (int64_t r = 0; r < rows; r++) {
        const float *s = load_row(t, row_at(t, r), n0, dst + r * n0);
        if (s != dst + r * n0)
            memcpy(dst + r * n0, s, (size_t)n0 * sizeof *dst);
    }
}

/* The elements of a small f32 tensor (a bias, a norm weight) in ne order:
 * its data when contiguous, else a copy in *own (caller frees). NULL when
 * out of memory. */
static const float *flat_f32(const ia_tensor *t, float **own)
{
    *own = NULL;
    if (!t)
        return NULL;
    if (ia__tensor_contiguous(t))
        return t->data;
    const int64_t n0 = t->ne[0], rows = ia__tensor_nrows(t);
    float *f = ia__malloc((size_t)(n0 * rows) * sizeof *f + 1);
    if (!f)
        return NULL;
    pack_rows(t, rows, n0, f, 1);
    *own = f;
    return f;
}

/* Per-thread scratch of `per` floats each for nt threads (+ slack so that
 * a zero size still allocates). */
static float *scratch_new(int nt, size_t per) { return ia__malloc(((size_t)nt * per + 16) * sizeof(float)); }

#define NOMEM(what) ia__error(IA_ERR_NOMEM, "out of memory for %s", what)

/* what the backend handles --------------------------------------------- */

static size_t align_of(ia_dtype t)
{
    return t == IA_DTYPE_F32 || t == IA_DTYPE_I32 ? 4 : t == IA_DTYPE_I8 ? 1 : 2;
}

/* Why tensor t cannot be read or written here, or NULL. */
static const char *placement(const ia_tensor *t)
{
    if (!ia__tensor_nelements(t))
        return NULL;
    if (!t->data)
        return "has no memory";
    const ia_dtype_traits *tr = ia__dtype(t->dtype);
    const size_t a = align_of(t->dtype);
    if ((uintptr_t)t->data % a)
        return "is not aligned for its dtype";
    for (int d = 0; d < IA_TENSOR_DIMS; d++)
        if (t->ne[d] > (d == 0 ? tr->block : 1) && t->nb[d] % a)
            return "has strides that are not a multiple of its element's alignment";
    if (tr->quantized && t->ne[0] > tr->block && t->nb[0] != tr->block_bytes)
        return "is a block type whose rows are not packed blocks";
    if (t->ne[0] > INT_MAX)
        return "has rows of more than 2^31 elements";
    return NULL;
}

/* dst rows are dense inside and no two rows share a byte: the dims with
 * more than one index, by increasing stride, each step past the whole
 * extent of the ones before. */
static bool rows_disjoint(const ia_tensor *t)
{
    const ia_dtype_traits *tr = ia__dtype(t->dtype);
    if (t->ne[0] > tr->block && t->nb[0] != tr->block_bytes)
        return false;
    int64_t ne[3];
    size_t nb[3];
    int k = 0;
    for (int d = 1; d < IA_TENSOR_DIMS; d++) {
        if (t->ne[d] < 2)
            continue;
        int i = k++;
        for (; i > 0 && nb[i - 1] > t->nb[d]; i--) {
            nb[i] = nb[i - 1];
            ne[i] = ne[i - 1];
        }
        nb[i] = t->nb[d];
        ne[i] = t->ne[d];
    }
    size_t extent = ia__dtype_row_bytes(t->dtype, t->ne[0]);
    for (int i = 0; i < k; i++) {
        if (nb[i] < extent)
            return false;
        extent += nb[i] * (size_t)(ne[i] - 1);
    }
    return true;
}

static bool overlap(const ia_tensor *a, const ia_tensor *b)
{
    const size_t na = ia__tensor_span(a), nb = ia__tensor_span(b);
    const char *pa = a->data, *pb = b->data;
    if (!na || !nb || !pa || !pb) /* no bytes, or none yet: nothing shared (and NULL + n is undefined) */
        return false;
    return pa < pb + nb && pb < pa + na;
}

static bool same_view(const ia_tensor *a, const ia_tensor *b)
{
    if (a->data != b->data || a->dtype != b->dtype || !ia__tensor_same_shape(a, b))
        return false;
    for (int d = 0; d < IA_TENSOR_DIMS; d++)
        if (a->ne[d] > 1 && a->nb[d] != b->nb[d])
            return false;
    return true;
}

/* Ops whose dst row r depends only on row r of inputs of dst's shape, read
 * before it is written: dst may be exactly such an input (in place). */
static bool row_wise(ia_op op)
{
    switch (op) {
    case IA_OP_LAYERNORM: case IA_OP_RMSNORM: case IA_OP_ADD: case IA_OP_MUL: case IA_OP_SCALE:
    case IA_OP_UNARY: case IA_OP_GLU: case IA_OP_ROPE: case IA_OP_SOFTMAX:
        return true;
    default:
        return false;
    }
}

/* Why the backend cannot compute this (checked) node, in buf, or NULL. */
static const char *why_not(const ia_node *n, char *buf, size_t cap)
{
    const ia_tensor *d = n->dst;
    const char *w = placement(d);
    if (w) {
        snprintf(buf, cap, "dst %s", w);
        return buf;
    }
    for (int i = 0; i < 4; i++)
        if (n->src[i] && !(n->op == IA_OP_MATMUL && i == 1 && n->src[1]->extra) && (w = placement(n->src[i]))) {
            snprintf(buf, cap, "src%d %s", i, w);
            return buf;
        }
    if (!rows_disjoint(d))
        return "dst rows must be dense inside (nb[0] the element size) and must not overlap one another";
    if (n->op == IA_OP_MATMUL && !ia__tensor_contiguous(d))
        return "matmul writes a contiguous dst only";
    if (n->op == IA_OP_MATMUL && n->src[1]->extra) {
        int n_out, n_in;
        ia__cpu_linear_dims(n->src[1]->extra, &n_out, &n_in);
        if (n_out != n->src[1]->ne[1] || n_in != n->src[1]->ne[0])
            return "the prepared weight was made for another shape";
    }
    if (n->flags & IA_NODE_W_INTERLEAVED8) {
        const ia_tensor *W = n->src[n->op == IA_OP_MATMUL ? 1 : 0];
        if (W->extra || W->nb[1] != ia__dtype_row_bytes(W->dtype, W->ne[0]))
            return "interleaved rows must be packed, not prepared";
    }
    if (n->op == IA_OP_GET_ROWS && n->src[0]->ne[2] * n->src[0]->ne[3] != 1)
        return "get_rows takes a table of one matrix (ne[2] = ne[3] = 1)";
    const ia_tensor *bt = n->op == IA_OP_ATTENTION ? n->p.attn.bias_table : NULL;
    if (bt && (w = placement(bt))) {
        snprintf(buf, cap, "the attention bias table %s", w);
        return buf;
    }
    if (bt && overlap(d, bt))
        return "dst overlaps the attention bias table";
    for (int i = 0; i < 4; i++)
        if (n->src[i] && overlap(d, n->src[i]) && !(row_wise(n->op) && same_view(d, n->src[i]))) {
            snprintf(buf, cap,
                     "dst overlaps src%d (in place is only for a row-wise op on exactly the same view)", i);
            return buf;
        }
    return NULL;
}

bool ia__cpu_supports(void *ctx, const ia_node *node)
{
    char saved[1024], why[160];
    snprintf(saved, sizeof saved, "%s", ia_errmsg());
    const bool ok = ia__node_check(node) == IA_OK && !why_not(node, why, sizeof why);
    if (saved[0])
        ia__error(IA_OK, "%s", saved);
    else
        ia__error_clear();
    return ok;
}

/* matmul ----------------------------------------------------------------- */

/* y (N, M) = x (K, M) . W (K, N)^T (+ bias when *bias_done comes back
 * true): f32 weights through sgemm as they lie (any row stride), weights
 * qmatmul.c has kernels for through it when their rows are packed (it adds
 * the bias; x8: W's rows interleaved in 8s), anything else dequantized to
 * f32 rows first. */
static ia_status matmul_product(const ia_tensor *x, const ia_tensor *W, bool x8, const float *bias, float *y,
                                int nt, bool *bias_done)
{
    const int64_t K = x->ne[0], M = x->ne[1], N = W->ne[1];
    *bias_done = false;
    if (K == 0) {
        memset(y, 0, (size_t)(M * N) * sizeof *y);
        return IA_OK;
    }
    /* x rows as sgemm reads them: adjacent f32 elements, rows lda apart */
    int64_t lda = M == 1 ? K : (int64_t)(x->nb[1] / sizeof(float));
    const float *xf = x->data;
    const bool x_direct = x->nb[0] == sizeof(float) && lda >= K;
    const bool w_packed = N == 1 || W->nb[1] == ia__dtype_row_bytes(W->dtype, K);
    const bool via_qmm = x8 || (W->dtype != IA_DTYPE_F32 && ia__qmm_act_of(W->dtype) != IA_QMM_ACT_NONE && w_packed);
    float *xown = NULL, *wown = NULL;
    if (!x_direct || (via_qmm && lda != K)) { /* pack x */
        if (!(xown = ia__malloc((size_t)(K * M) * sizeof(float))))
            return NOMEM("packed matmul activations");
        pack_rows(x, M, K, xown, nt);
        xf = xown;
        lda = K;
    }
    if (via_qmm) {
        ia_status rc = (x8 ? ia__cpu_qmatmul_x8 : ia__cpu_qmatmul)(W->data, W->dtype, N, K, xf, M, bias, y, nt, NULL);
        ia__free(xown);
        *bias_done = true;
        return rc;
    }
    const float *wf = W->data;
    int64_t ldb = N == 1 ? K : (int64_t)(W->nb[1] / sizeof(float));
    if (W->dtype != IA_DTYPE_F32 || W->nb[0] != sizeof(float) || ldb < K) { /* dequantize W rows */
        if (!(wown = ia__malloc((size_t)(K * N) * sizeof(float)))) {
            ia__free(xown);
            return NOMEM("dequantized matmul weights");
        }
        pack_rows(W, N, K, wown, nt);
        wf = wown;
        ldb = K;
    }
    ia__cpu_use_threads(nt); /* oneDNN's OpenMP threads for this call */
    const dnnl_status_t st = dnnl_sgemm('N', 'T', M, N, K, 1.0f, xf, lda, wf, ldb, 0.0f, y, N);
    ia__free(xown);
    ia__free(wown);
    if (st != dnnl_success)
        return ia__error(IA_ERR_BACKEND, "oneDNN sgemm of [%lld, %lld] x [%lld, %lld]^T failed (status %d)",
                         (long long)M, (long long)K, (long long)N, (long long)K, (int)st);
    return IA_OK;
}

/* dst (N, M) = act(x (K, M) . W (K, N)^T + bias): the product, then the
 * bias (unless the product added it) and the activation per row. */
static ia_status op_matmul(void *ctx, const ia_node *n, int nt)
{
    const int64_t M = n->src[0]->ne[1], N = n->src[1]->ne[1];
    if (n->src[1]->extra) { /* prepared: oneDNN-packed, bias inside */
        const ia_tensor *xt = n->src[0];
        const float *x = xt->data;
        float *own = NULL;
        if (!ia__tensor_contiguous(xt)) {
            if (!(own = ia__malloc((size_t)(xt->ne[0] * M) * sizeof(float))))
                return NOMEM("packed matmul activations");
            pack_rows(xt, M, xt->ne[0], own, nt);
            x = own;
        }
        ia_status rc = ia__cpu_linear(ctx, n->src[1]->extra, x, n->dst->data, (int)M, n->p.act);
        ia__free(own);
        return rc;
    }
    float *y = n->dst->data, *bias_own;
    const float *bias = flat_f32(n->src[2], &bias_own);
    if (n->src[2] && !bias)
        return NOMEM("the matmul bias");
    bool bias_done;
    ia_status rc = matmul_product(n->src[0], n->src[1], n->flags & IA_NODE_W_INTERLEAVED8, bias, y, nt, &bias_done);
    if (!rc && (n->p.act != IA_ACT_NONE || (bias && !bias_done))) {
        const ia__cpu_kernels *k = ia__cpu_kernels_active();
        const float *b = bias_done ? NULL : bias;
        const int tn = threads_for_work(nt, M, M * N);
#pragma omp parallel for num_threads(tn) schedule(static) if (tn > 1)
        for (int64_t r = 0; r < M; r++)
            k->bias_act(y + r * N, 1, (int)N, b, n->p.act);
    }
    ia__free(bias_own);
    return rc;
}

/* row-wise ops ------------------------------------------------------------ */

/* LayerNorm (with residual), RMSNorm: statistics in double. */
static ia_status op_norm(const ia_node *n, int nt)
{
    const ia_tensor *a = n->src[0], *res = n->op == IA_OP_LAYERNORM ? n->src[1] : NULL, *d = n->dst;
    const int64_t ne0 = a->ne[0], rows = ia__tensor_nrows(a);
    float *wown = NULL, *bown = NULL;
    const float *w = flat_f32(n->src[2], &wown);
    const float *b = n->op == IA_OP_LAYERNORM ? flat_f32(n->src[3], &bown) : NULL;
    const int tn = threads_for_work(nt, rows, rows * ne0);
    if (n->op == IA_OP_LAYERNORM && w && b && same_view(a, d) && ia__tensor_contiguous(d) &&
        (!res || ia__tensor_contiguous(res)) && ne0 <= INT_MAX) {
        /* in place on contiguous rows: the ISA kernel of the fused linear
         * epilogue, each thread a block of rows */
        const ia__cpu_kernels *k = ia__cpu_kernels_active();
        const int64_t blk = (rows + tn - 1) / tn;
#pragma omp parallel for num_threads(tn) schedule(static) if (tn > 1)
        for (int t = 0; t < tn; t++) {
            const int64_t lo = t * blk, hi = IA_MIN(rows, lo + blk);
            if (lo < hi)
                k->add_ln((float *)d->data + lo * ne0, res ? (const float *)res->data + lo * ne0 : NULL, NULL, w, b,
                          (int)(hi - lo), (int)ne0, n->p.eps);
        }
        ia__free(wown);
        ia__free(bown);
        return IA_OK;
    }
    const size_t per = 3 * (size_t)ne0;
    float *scr = scratch_new(tn, per);
    if ((n->src[2] && !w) || (n->op == IA_OP_LAYERNORM && n->src[3] && !b) || !scr) {
        ia__free(wown);
        ia__free(bown);
        ia__free(scr);
        return NOMEM("a norm's rows");
    }
    const double eps = n->p.eps;
#pragma omp parallel for num_threads(tn) schedule(static) if (tn > 1)
    for (int64_t r = 0; r < rows; r++) {
        float *t = scr + (size_t)omp_get_thread_num() * per;
        const float *v = load_row(a, row_at(a, r), ne0, t);
        if (res) {
            const float *rr = load_row(res, row_at(res, r), ne0, t + ne0);
            for (int64_t i = 0; i < ne0; i++)
                t[2 * ne0 + i] = v[i] + rr[i];
            v = t + 2 * ne0;
        }
        float *o = (float *)(void *)((char *)d->data + row_off(d, r));
        if (n->op == IA_OP_LAYERNORM) {
            double sum = 0, sq = 0;
            for (int64_t i = 0; i < ne0; i++)
                sum += v[i];
            const double mean = sum / (double)ne0;
            for (int64_t i = 0; i < ne0; i++)
                sq += (v[i] - mean) * (v[i] - mean);
            const double inv = 1.0 / sqrt(sq / (double)ne0 + eps);
            for (int64_t i = 0; i < ne0; i++) { /* x - mean in double: rows far from 0 keep their digits */
                float y = (float)((v[i] - mean) * inv);
                if (w)
                    y *= w[i];
                if (b)
                    y += b[i];
                o[i] = y;
            }
        } else {
            double sq = 0;
            for (int64_t i = 0; i < ne0; i++)
                sq += (double)v[i] * v[i];
            const float fi = (float)(1.0 / sqrt(sq / (double)ne0 + eps));
            for (int64_t i = 0; i < ne0; i++)
                o[i] = w ? v[i] * fi * w[i] : v[i] * fi;
        }
    }
    ia__free(wown);
    ia__free(bown);
    ia__free(scr);
    return IA_OK;
}

/* add, mul (src1 broadcast where its dimension is 1), scale, unary, glu,
 * softmax: one dst row at a time. */
static ia_status op_rows(const ia_node *n, int nt)
{
    const ia_tensor *a = n->src[0], *b = n->src[1], *d = n->dst;
    const int64_t ne0 = d->ne[0], rows = ia__tensor_nrows(d);
    const int64_t an = a->ne[0]; /* glu without src1: 2 ne0 */
    const ia__cpu_kernels *k = ia__cpu_kernels_active();
    const int tn = threads_for_work(nt, rows, rows * ne0);
    const size_t per = 2 * (size_t)an + (size_t)ne0;
    float *scr = scratch_new(tn, per);
    if (!scr)
        return NOMEM("row scratch");
    const ia_op op = n->op;
#pragma omp parallel for num_threads(tn) schedule(static) if (tn > 1)
    for (int64_t r = 0; r < rows; r++) {
        float *t = scr + (size_t)omp_get_thread_num() * per, *t2 = t + an, *t3 = t2 + an;
        const float *x = load_row(a, row_at(a, r), an, t);
        float *o = (float *)(void *)((char *)d->data + row_off(d, r));
        const float *y = NULL;
        int64_t ystep = 1;
        if (b) { /* src1's row for dst row r: index 0 along its broadcast dims */
            const int64_t i1 = r % d->ne[1], q = r / d->ne[1], i2 = q % d->ne[2], i3 = q / d->ne[2];
            const char *p = (const char *)b->data + (size_t)(i1 % b->ne[1]) * b->nb[1] +
                            (size_t)(i2 % b->ne[2]) * b->nb[2] + (size_t)(i3 % b->ne[3]) * b->nb[3];
            y = load_row(b, p, b->ne[0], t2);
            ystep = b->ne[0] == 1 && ne0 > 1 ? 0 : 1;
        }
        switch (op) {
        case IA_OP_ADD:
            for (int64_t i = 0; i < ne0; i++)
                o[i] = x[i] + y[i * ystep];
            break;
        case IA_OP_MUL:
            for (int64_t i = 0; i < ne0; i++)
                o[i] = x[i] * y[i * ystep];
            break;
        case IA_OP_SCALE:
            for (int64_t i = 0; i < ne0; i++)
                o[i] = x[i] * n->p.scale;
            break;
        case IA_OP_UNARY:
            if (o != x)
                memmove(o, x, (size_t)ne0 * sizeof *o);
            k->bias_act(o, 1, (int)ne0, NULL, n->p.act);
            break;
        case IA_OP_GLU: { /* act(gate) * up; gate and up halves of x without src1 */
            const float *up = b ? y : x + ne0;
            memcpy(t3, x, (size_t)ne0 * sizeof *t3);
            k->bias_act(t3, 1, (int)ne0, NULL, n->p.act);
            for (int64_t i = 0; i < ne0; i++)
                o[i] = t3[i] * up[i];
            break;
        }
        case IA_OP_SOFTMAX: {
            const float s = n->p.scale;
            float mx = -INFINITY;
            for (int64_t i = 0; i < ne0; i++)
                mx = fmaxf(mx, x[i] * s);
            double sum = 0;
            for (int64_t i = 0; i < ne0; i++) {
                o[i] = expf(x[i] * s - mx);
                sum += o[i];
            }
            const float inv = (float)(1.0 / sum);
            for (int64_t i = 0; i < ne0; i++)
                o[i] *= inv;
            break;
        }
        default:
            break;
        }
    }
    ia__free(scr);
    return IA_OK;
}

/* rope ---------------------------------------------------------------------- */

static ia_status op_rope(const ia_node *n, int nt)
{
    const ia_tensor *a = n->src[0], *pos = n->src[1], *d = n->dst;
    const ia_rope_params *p = &n->p.rope;
    const int64_t hd = a->ne[0], nh = a->ne[1], ntok = a->ne[2], rows = ia__tensor_nrows(a);
    const int half = p->n_dims / 2;
    /* cos and sin per (token, pair), shared by the heads */
    float *cs = ia__malloc((size_t)(2 * ntok * half) * sizeof *cs + 1);
    double *freq = ia__malloc((size_t)half * sizeof *freq + 1);
    const int tn = threads_for_work(nt, rows, rows * hd);
    float *scr = scratch_new(tn, (size_t)(hd > half ? hd : half));
    if (!cs || !freq || !scr) {
        ia__free(cs);
        ia__free(freq);
        ia__free(scr);
        return NOMEM("rope tables");
    }
    const float *ff = n->src[2] ? load_row(n->src[2], n->src[2]->data, half, scr) : NULL;
    for (int i = 0; i < half; i++)
        freq[i] = ia__rope_inv_freq(p, i) / (ff ? ff[i] : 1.0);
    const int tt = threads_for_work(nt, ntok, 16 * ntok * half); /* a cos and a sin in double: ~16 */
#pragma omp parallel for num_threads(tt) schedule(static) if (tt > 1)
    for (int64_t t = 0; t < ntok; t++) {
        const double ps = read_i32(pos, t);
        for (int i = 0; i < half; i++) {
            const double th = ps * freq[i];
            cs[2 * (t * half + i)] = (float)cos(th);
            cs[2 * (t * half + i) + 1] = (float)sin(th);
        }
    }
    const bool neox = p->mode == IA_ROPE_NEOX;
#pragma omp parallel for num_threads(tn) schedule(static) if (tn > 1)
    for (int64_t r = 0; r < rows; r++) {
        const float *x = load_row(a, row_at(a, r), hd, scr + (size_t)omp_get_thread_num() * hd);
        float *o = (float *)(void *)((char *)d->data + row_off(d, r));
        const float *c = cs + 2 * (r / nh % ntok) * half;
        for (int i = 0; i < half; i++) {
            const int64_t i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
            const float x0 = x[i0], x1 = x[i1], co = c[2 * i], si = c[2 * i + 1];
            o[i0] = x0 * co - x1 * si;
            o[i1] = x0 * si + x1 * co;
        }
        if (o != x)
            memmove(o + p->n_dims, x + p->n_dims, (size_t)(hd - p->n_dims) * sizeof *o);
    }
    ia__free(cs);
    ia__free(freq);
    ia__free(scr);
    return IA_OK;
}

/* attention ------------------------------------------------------------------ */

/* Sequence offsets of a packed batch (src3), checked: 0 = off[0] <=
 * off[1] <= ... <= off[n_seqs] = n_tok. */
static ia_status read_offsets(const ia_tensor *t, int64_t n_tok, int32_t **out)
{
    const int64_t n = ia__tensor_nelements(t);
    int32_t *off = ia__malloc((size_t)n * sizeof *off);
    if (!off)
        return NOMEM("sequence offsets");
    for (int64_t i = 0; i < n; i++)
        off[i] = read_i32(t, i);
    for (int64_t i = 0; i < n; i++)
        if ((i == 0 && off[0] != 0) || (i > 0 && off[i] < off[i - 1]) || (i == n - 1 && off[i] != n_tok)) {
            ia__free(off);
            return ia__error(IA_ERR_INVALID, "attention: sequence offsets must rise from 0 to %lld tokens "
                             "(offset %lld is %d)", (long long)n_tok, (long long)i, (int)read_i32(t, i));
        }
    *out = off;
    return IA_OK;
}

/* Q, K and V are the three column blocks of one contiguous f32 matrix
 * (n_tok, 3 * dim) and dst is contiguous: BERT's fused projection, for
 * the tuned kernel. */
static bool fused_qkv(const ia_node *n)
{
    const ia_tensor *q = n->src[0], *k = n->src[1], *v = n->src[2], *d = n->dst;
    const size_t dim = (size_t)(q->ne[0] * q->ne[1]) * sizeof(float);
    return k->dtype == IA_DTYPE_F32 && v->dtype == IA_DTYPE_F32 && q->ne[1] == k->ne[1] &&
           n->p.attn.mask == IA_MASK_NONE && q->nb[0] == 4 && k->nb[0] == 4 && v->nb[0] == 4 &&
           q->nb[1] == (size_t)q->ne[0] * 4 && k->nb[1] == q->nb[1] && v->nb[1] == q->nb[1] &&
           q->nb[2] == 3 * dim && k->nb[2] == q->nb[2] && v->nb[2] == q->nb[2] &&
           (char *)k->data == (char *)q->data + dim && (char *)v->data == (char *)q->data + 2 * dim &&
           ia__tensor_contiguous(d);
}

/* The position bias of every head at every relative position r (key -
 * query) in [rmin, rmax]: rb[h * span + r - rmin], span = rmax - rmin + 1
 * (a few thousand floats, where the scores they bias are queries x keys). */
static ia_status rel_bias_new(const ia_attn_params *p, int64_t H, int64_t rmin, int64_t rmax, float **out)
{
    const int64_t span = rmax - rmin + 1;
    float *rb = ia__malloc((size_t)(H * span) * sizeof *rb);
    if (!rb)
        return NOMEM("the attention position bias");
    ia__attn_bias_fill(p, p->bias_table->data, H, rmin, span, rb);
    *out = rb;
    return IA_OK;
}

/* One task per (head, query): scores against the keys its mask lets it
 * see (inside its own sequence when src3 packs several), plus the
 * position bias, a max-subtracted softmax, then the weighted sum of
 * values. K and V rows are read through their strides (f16 widened per
 * row). */
static ia_status op_attention(void *ctx, const ia_node *n, int nt)
{
    const ia_tensor *q = n->src[0], *k = n->src[1], *v = n->src[2], *d = n->dst;
    const ia_attn_params *p = &n->p.attn;
    const int64_t hd = q->ne[0], H = q->ne[1], nq = q->ne[2], Hk = k->ne[1], nkv = k->ne[2];
    const int64_t group = H / Hk;
    int32_t *off = NULL;
    int64_t n_seqs = 1;
    /* relative positions met: key 0 .. nkv - 1 against query pos_q0 ..
     * pos_q0 + nq - 1, or inside the longest packed sequence */
    int64_t rmin = -(p->pos_q0 + nq - 1), rmax = nkv - 1 - p->pos_q0;
    float *rb = NULL;
    if (n->src[3]) {
        ia_status rc = read_offsets(n->src[3], nq, &off);
        if (rc)
            return rc;
        n_seqs = ia__tensor_nelements(n->src[3]) - 1;
        int64_t longest = 1;
        for (int64_t s = 0; s < n_seqs; s++)
            longest = IA_MAX(longest, (int64_t)(off[s + 1] - off[s]));
        rmin = -(longest - 1), rmax = longest - 1;
    }
    if (rmax < rmin)
        rmax = rmin;
    const int64_t span = rmax - rmin + 1;
    if (p->bias != IA_ATTN_BIAS_NONE) {
        ia_status rc = rel_bias_new(p, H, rmin, rmax, &rb);
        if (rc) {
            ia__free(off);
            return rc;
        }
    }
    if (off && fused_qkv(n)) {
        /* rb - rmin: each head's vector at relative position 0 */
        ia_status rc = ia__cpu_attention_packed(ctx, q->data, d->data, off, (int)n_seqs, (int)H, (int)hd, p->scale,
                                                rb ? rb - rmin : NULL, (size_t)span);
        ia__free(off);
        ia__free(rb);
        return rc;
    }
    /* rows of adjacent elements (keys and values f32, or f16 where the
     * kernels take them) go to the ISA kernel, up to four heads of one
     * key/value group (same position, same keys) per call */
    const ia__cpu_kernels *kern = ia__cpu_kernels_active();
    const bool half = k->dtype == IA_DTYPE_F16 && v->dtype == IA_DTYPE_F16 && kern->attend_f16 && hd % 8 == 0;
    const size_t esz = half ? 2 : 4; /* bytes of a key or value element */
    const bool plain = q->dtype == IA_DTYPE_F32 && (half || (k->dtype == IA_DTYPE_F32 && v->dtype == IA_DTYPE_F32)) &&
                       d->dtype == IA_DTYPE_F32 && q->nb[0] == 4 && k->nb[0] == esz && v->nb[0] == esz &&
                       k->nb[2] % esz == 0 && v->nb[2] % esz == 0 && k->nb[1] % esz == 0 && v->nb[1] % esz == 0 &&
                       d->nb[0] == 4 && q->nb[1] % 4 == 0 && d->nb[1] % 4 == 0 && hd <= INT_MAX && nkv <= INT_MAX;
    const int64_t per_group = plain ? (group + 3) / 4 : group; /* calls per group and position */
    const int64_t tasks = Hk * per_group * nq;
    /* each token's sequence: [first, end) */
    int32_t *seq_of = ia__malloc((size_t)(nq + 1) * sizeof *seq_of);
    const int tn = threads_for_work(nt, tasks, H * nq * nkv * hd); /* q.k and p v: at most that, twice */
    const size_t per = 4 * (size_t)nkv + 4 * (size_t)hd;
    float *scr = seq_of ? scratch_new(tn, per) : NULL;
    if (!scr) {
        ia__free(off);
        ia__free(seq_of);
        ia__free(rb);
        return NOMEM("attention scores");
    }
    for (int64_t s = 0, i = 0; i < nq; i++) {
        while (off && i >= off[s + 1])
            s++;
        seq_of[i] = (int32_t)s;
    }
    const float scale = p->scale;
    /* Tasks round-robin: under a causal mask a query's work grows with its
     * position, and contiguous halves left one thread a quarter of a
     * prompt's attention and the other three quarters. */
#pragma omp parallel for num_threads(tn) schedule(static, 1) if (tn > 1)
    for (int64_t task = 0; task < tasks; task++) {
        const int64_t c = task % (Hk * per_group), i = task / (Hk * per_group), g = c / per_group;
        const int64_t h = g * group + (plain ? 4 * (c % per_group) : c % per_group);
        const int G = plain ? (int)IA_MIN((int64_t)4, (g + 1) * group - h) : 1;
        const int64_t first = off ? off[seq_of[i]] : 0, end = off ? off[seq_of[i] + 1] : nkv;
        float *s = scr + (size_t)omp_get_thread_num() * per, *qt = s + 4 * nkv, *kt = qt + hd, *vt = kt + hd,
              *acc = vt + hd;
        const int64_t qpos = p->pos_q0 + i - first; /* positions count from the sequence's start */
        int64_t j0 = first, j1 = end - 1; /* keys j0..j1 */
        if (p->mask == IA_MASK_CAUSAL || p->mask == IA_MASK_SLIDING)
            j1 = IA_MIN(first + qpos, end - 1);
        if (p->mask == IA_MASK_SLIDING)
            j0 = IA_MAX(first, first + qpos - p->window + 1);
        if (p->mask == IA_MASK_LOCAL) {
            j0 = IA_MAX(first, first + qpos - p->window);
            j1 = IA_MIN(end - 1, first + qpos + p->window);
        }
        float *o = (float *)(void *)((char *)d->data + (size_t)h * d->nb[1] + (size_t)i * d->nb[2]);
        /* head h's bias of key j0 (relative position j0 - first - qpos); the next head's span further */
        const float *bj = rb ? rb + h * span + (j0 - first - qpos - rmin) : NULL;
        if (plain) {
            if (j1 >= j0)
                kern->attend_rows(
                    (const float *)(const void *)((const char *)q->data + (size_t)h * q->nb[1] + (size_t)i * q->nb[2]),
                    q->nb[1] / sizeof(float), G, (const char *)k->data + (size_t)g * k->nb[1] + (size_t)j0 * k->nb[2],
                    k->nb[2] / esz, (const char *)v->data + (size_t)g * v->nb[1] + (size_t)j0 * v->nb[2],
                    v->nb[2] / esz, (int)(j1 - j0 + 1), (int)hd, scale, s, o, d->nb[1] / sizeof(float), bj,
                    (size_t)span, nq < 8, half);
            else
                for (int r = 0; r < G; r++)
                    memset((char *)o + (size_t)r * d->nb[1], 0, (size_t)hd * sizeof(float));
            continue;
        }
        const float *qr = load_row(q, (const char *)q->data + (size_t)h * q->nb[1] + (size_t)i * q->nb[2], hd, qt);
        float mx = -INFINITY;
        for (int64_t j = j0; j <= j1; j++) {
            const float *kr =
                load_row(k, (const char *)k->data + (size_t)g * k->nb[1] + (size_t)j * k->nb[2], hd, kt);
            float dot = 0;
#pragma omp simd reduction(+ : dot)
            for (int64_t e = 0; e < hd; e++)
                dot += qr[e] * kr[e];
            s[j - j0] = dot * scale + (bj ? bj[j - j0] : 0.0f);
            mx = fmaxf(mx, s[j - j0]);
        }
        for (int64_t e = 0; e < hd; e++)
            acc[e] = 0;
        double sum = 0;
        for (int64_t j = j0; j <= j1; j++) {
            const float w = expf(s[j - j0] - mx);
            sum += w;
            const float *vr =
                load_row(v, (const char *)v->data + (size_t)g * v->nb[1] + (size_t)j * v->nb[2], hd, vt);
#pragma omp simd
            for (int64_t e = 0; e < hd; e++)
                acc[e] += w * vr[e];
        }
        const float inv = sum > 0 ? (float)(1.0 / sum) : 0.0f;
        for (int64_t e = 0; e < hd; e++)
            o[e] = acc[e] * inv;
    }
    ia__free(scr);
    ia__free(seq_of);
    ia__free(off);
    ia__free(rb);
    return IA_OK;
}

/* get_rows, cpy -------------------------------------------------------------- */

/* (x8: the table's rows interleaved in groups of 8, tensor/dtype.h) */
static ia_status op_get_rows(const ia_node *n, int nt)
{
    const bool x8 = n->flags & IA_NODE_W_INTERLEAVED8;
    const ia_tensor *tab = n->src[0], *ids = n->src[1], *d = n->dst;
    const int64_t ne0 = tab->ne[0], nid = ia__tensor_nelements(ids);
    for (int64_t i = 0; i < nid; i++) { /* all ids first: nothing written for a bad one */
        const int32_t id = read_i32(ids, i);
        if (id < 0 || id >= tab->ne[1])
            return ia__error(IA_ERR_INVALID, "get_rows: id %d (ids[%lld]) is out of range: the table has %lld rows",
                             (int)id, (long long)i, (long long)tab->ne[1]);
    }
    const int tn = threads_for_work(nt, nid, nid * tab->ne[0]);
#pragma omp parallel for num_threads(tn) schedule(static) if (tn > 1)
    for (int64_t i = 0; i < nid; i++) {
        float *o = (float *)(void *)((char *)d->data + row_off(d, i));
        if (x8) {
            ia__dtype_interleaved8_row(tab->dtype, tab->data, ne0, read_i32(ids, i), o);
            continue;
        }
        const float *s = load_row(tab, (const char *)tab->data + (size_t)read_i32(ids, i) * tab->nb[1], ne0, o);
        if (s != o)
            memcpy(o, s, (size_t)ne0 * sizeof *o);
    }
    return IA_OK;
}

static ia_status op_cpy(const ia_node *n, int nt)
{
    const ia_tensor *a = n->src[0], *d = n->dst;
    const int64_t ne0 = a->ne[0], rows = ia__tensor_nrows(a);
    const ia_dtype_traits *dt = ia__dtype(d->dtype);
    const int tn = threads_for_work(nt, rows, rows * ne0);
    float *scr = scratch_new(tn, (size_t)ne0);
    if (!scr)
        return NOMEM("cpy rows");
#pragma omp parallel for num_threads(tn) schedule(static) if (tn > 1)
    for (int64_t r = 0; r < rows; r++) {
        const float *f = load_row(a, row_at(a, r), ne0, scr + (size_t)omp_get_thread_num() * ne0);
        dt->from_f32(f, (char *)d->data + row_off(d, r), ne0);
    }
    ia__free(scr);
    return IA_OK;
}

/* the graph ---------------------------------------------------------------------- */

static ia_status compute(void *ctx, const ia_node *n, int nt)
{
    switch (n->op) {
    case IA_OP_MATMUL: return op_matmul(ctx, n, nt);
    case IA_OP_LAYERNORM:
    case IA_OP_RMSNORM: return op_norm(n, nt);
    case IA_OP_ROPE: return op_rope(n, nt);
    case IA_OP_ATTENTION: return op_attention(ctx, n, nt);
    case IA_OP_GET_ROWS: return op_get_rows(n, nt);
    case IA_OP_CPY: return op_cpy(n, nt);
    default: return op_rows(n, nt);
    }
}

/* A prepared matmul whose dst is scratch, then the LayerNorm that adds it
 * to the residual in place: one pass (the LayerNorm runs on each row
 * chunk while its GEMM output is in cache). */
static bool fusable(const ia_node *mm, const ia_node *ln)
{
    const ia_tensor *x = mm->src[0];
    return mm->op == IA_OP_MATMUL && mm->src[1]->extra && (mm->flags & IA_NODE_DST_SCRATCH) &&
           mm->p.act == IA_ACT_NONE && ia__tensor_contiguous(x) && ln->op == IA_OP_LAYERNORM && ln->src[1] &&
           same_view(ln->src[1], mm->dst) && same_view(ln->src[0], ln->dst) && ia__tensor_contiguous(ln->dst) &&
           ln->src[2] && ln->src[3] && ia__tensor_contiguous(ln->src[2]) && ia__tensor_contiguous(ln->src[3]) &&
           !overlap(ln->dst, x) && !overlap(ln->dst, mm->dst);
}

/* A prepared matmul with scratch dst feeding a fusable pair (the
 * feed-forward block of an encoder layer): all three at once. Its input
 * may be the LayerNorm's output (rows are read before they are written). */
static bool ffn_fusable(const ia_node *up, const ia_node *down, const ia_node *ln)
{
    const ia_tensor *x = up->src[0];
    return up->op == IA_OP_MATMUL && up->src[1]->extra && (up->flags & IA_NODE_DST_SCRATCH) &&
           x->ne[1] >= IA_CPU_FFN_MIN_ROWS && ia__tensor_contiguous(x) && ia__tensor_contiguous(up->dst) &&
           fusable(down, ln) && same_view(down->src[0], up->dst) && down->src[0]->ne[1] == x->ne[1] &&
           (same_view(x, ln->dst) || !overlap(x, ln->dst)) && !overlap(x, up->dst);
}

/* A decode step's attention, per sequence: its cache writes and its
 * attention, a group that ends in the ATTENTION node. */
static bool seq_op(ia_op op) { return op == IA_OP_CPY || op == IA_OP_ATTENTION; }

enum { MAX_GROUPS = 64, MAX_RUN = 256 }; /* per run: the checks below are quadratic */

static int group_end(const ia_node *nodes, int i, int n_nodes)
{
    for (int j = i; j < n_nodes && seq_op(nodes[j].op); j++)
        if (nodes[j].op == IA_OP_ATTENTION)
            return j + 1;
    return i;
}

/* The bytes a node's tensors span: [0] its dst, [1..4] its sources. */
typedef struct {
    const char *lo, *hi;
} byte_range;

static void node_ranges(const ia_node *n, byte_range r[5])
{
    for (int k = 0; k < 5; k++) {
        const ia_tensor *t = k ? n->src[k - 1] : n->dst;
        const size_t bytes = t ? ia__tensor_span(t) : 0;
        r[k].lo = bytes ? (const char *)t->data : NULL;
        r[k].hi = bytes ? r[k].lo + bytes : NULL;
    }
}

static bool writes_into(const byte_range *w, const byte_range *o)
{
    for (int k = 0; k < 5; k++)
        if (w[0].lo && o[k].lo && w[0].lo < o[k].hi && o[k].lo < w[0].hi)
            return true;
    return false;
}

/* From node i, consecutive groups of which none writes what another reads
 * or writes: their end, or i when fewer than two. Each such group is a few
 * tiny ops (one row per op at a decode step), so their threads come from
 * running whole groups side by side, not from splitting each op. */
static int independent_groups(const ia_node *nodes, int i, int n_nodes, int nt)
{
    if (nt < 2)
        return i;
    byte_range r[MAX_RUN][5]; /* of nodes i .. end, each found once */
    int end = i, groups = 0;
    for (int e; groups < MAX_GROUPS && (e = group_end(nodes, end, n_nodes)) > end && e - i <= MAX_RUN;
         end = e, groups++)
        for (int a = end; a < e; a++) {
            node_ranges(&nodes[a], r[a - i]);
            for (int b = i; b < end; b++)
                if (writes_into(r[a - i], r[b - i]) || writes_into(r[b - i], r[a - i]))
                    return groups >= 2 ? end : i;
        }
    return groups >= 2 ? end : i;
}

static ia_status compute_groups(void *ctx, const ia_node *nodes, int i, int end, int nt)
{
    int starts[MAX_GROUPS + 1], ng = 0;
    ia_status rc = IA_OK;
    for (int j = i; j < end; j = group_end(nodes, j, end))
        starts[ng++] = j;
    starts[ng] = end;
#pragma omp parallel for num_threads(IA_MIN(nt, ng)) schedule(dynamic, 1)
    for (int g = 0; g < ng; g++)
        for (int j = starts[g]; j < starts[g + 1]; j++) {
            ia_status r = compute(ctx, &nodes[j], 1);
            if (r) {
#pragma omp critical(ia_cpu_groups)
                if (!rc)
                    rc = ia__error_wrap(r, "graph node %d (%s)", j, ia__op_name(nodes[j].op));
                break;
            }
        }
    return rc;
}

ia_status ia__cpu_graph_compute(void *ctx, const ia_node *nodes, int n_nodes)
{
    if (!ctx || n_nodes < 0 || (n_nodes && !nodes))
        return ia__error(IA_ERR_INVALID, "cpu graph_compute: %s", !ctx ? "no instance" : "bad node list");
    for (int i = 0; i < n_nodes; i++) {
        const ia_node *n = &nodes[i];
        ia_status rc = ia__node_check(n);
        if (rc)
            return ia__error_wrap(rc, "graph node %d (%s)", i, ia__op_name(n->op));
        char buf[160];
        const char *why = why_not(n, buf, sizeof buf);
        if (why)
            return ia__error(IA_ERR_UNSUPPORTED, "graph node %d (%s): the cpu backend does not compute it: %s", i,
                             ia__op_name(n->op), why);
    }
    const int nt = ia__cpu_ctx_threads(ctx);
    const bool prof = ia__cpu_ctx_profiling(ctx);
    for (int i = 0; i < n_nodes; i++) {
        const ia_node *n = &nodes[i];
        const double t0 = prof ? ia__now() : 0;
        ia_status rc;
        int end;
        if ((end = independent_groups(nodes, i, n_nodes, nt)) > i) {
            rc = compute_groups(ctx, nodes, i, end, nt);
            if (rc)
                return rc;
            if (prof)
                ia__cpu_prof_op(ctx, IA_OP_ATTENTION, ia__now() - t0, 0);
            i = end - 1;
            continue;
        } else if (i + 2 < n_nodes && ffn_fusable(n, &nodes[i + 1], &nodes[i + 2])) {
            const ia_node *down = &nodes[i + 1], *ln = &nodes[i + 2];
            i += 2;
            rc = ia__cpu_ffn_add_ln(ctx, n->src[1]->extra, n->p.act, down->src[1]->extra, n->src[0]->data,
                                    n->dst->data, down->dst->data, ln->dst->data, (int)n->src[0]->ne[1],
                                    ln->src[2]->data, ln->src[3]->data, ln->p.eps);
        } else if (i + 1 < n_nodes && fusable(n, &nodes[i + 1])) {
            const ia_node *ln = &nodes[++i];
            rc = ia__cpu_linear_add_ln(ctx, n->src[1]->extra, n->src[0]->data, ln->dst->data, n->dst->data,
                                       (int)n->src[0]->ne[1], ln->src[2]->data, ln->src[3]->data, ln->p.eps);
        } else {
            rc = compute(ctx, n, nt);
            /* prepared matmuls profile themselves, with their epilogues */
            if (prof && !(n->op == IA_OP_MATMUL && n->src[1]->extra))
                ia__cpu_prof_op(ctx, n->op, ia__now() - t0,
                                n->op == IA_OP_MATMUL ? 2.0 * (double)n->src[0]->ne[0] *
                                                            (double)n->src[0]->ne[1] * (double)n->src[1]->ne[1]
                                                      : 0);
        }
        if (rc)
            return ia__error_wrap(rc, "graph node %d (%s)", i, ia__op_name(nodes[i].op));
    }
    return IA_OK;
}
