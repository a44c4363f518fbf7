/* Tensor views and the rules of each op (tensor.h), checked once here so
 * every backend refuses the same malformed nodes with the same message. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tensor/tensor.h"

ia_tensor ia__tensor(ia_dtype t, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3, void *data)
{
    const ia_dtype_traits *tr = ia__dtype(t);
    ia_tensor x = {.dtype = t, .ne = {ne0, ne1, ne2, ne3}, .data = data};
    x.nb[0] = tr->block_bytes;
    x.nb[1] = ia__dtype_row_bytes(t, ne0);
    x.nb[2] = x.nb[1] * (size_t)ne1;
    x.nb[3] = x.nb[2] * (size_t)ne2;
    return x;
}

ia_tensor ia__tensor_rows(const ia_tensor *t, int64_t first, int64_t n)
{
    ia_tensor v = *t;
    v.ne[1] = n;
    v.data = t->data ? (char *)t->data + (size_t)first * t->nb[1] : NULL;
    return v;
}

int64_t ia__tensor_nelements(const ia_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }

int64_t ia__tensor_nrows(const ia_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

size_t ia__tensor_nbytes(const ia_tensor *t)
{
    if (!ia__tensor_nelements(t))
        return 0;
    size_t n = ia__dtype_row_bytes(t->dtype, t->ne[0]);
    for (int d = 1; d < IA_TENSOR_DIMS; d++)
        n += (size_t)(t->ne[d] - 1) * t->nb[d];
    return n;
}

bool ia__tensor_contiguous(const ia_tensor *t)
{
    return t->nb[0] == ia__dtype(t->dtype)->block_bytes && t->nb[1] == ia__dtype_row_bytes(t->dtype, t->ne[0]) &&
           t->nb[2] == t->nb[1] * (size_t)t->ne[1] && t->nb[3] == t->nb[2] * (size_t)t->ne[2];
}

bool ia__tensor_same_shape(const ia_tensor *a, const ia_tensor *b)
{
    for (int d = 0; d < IA_TENSOR_DIMS; d++)
        if (a->ne[d] != b->ne[d])
            return false;
    return true;
}

const char *ia__op_name(ia_op op)
{
    static const char *const names[IA_OP_COUNT] = {
        [IA_OP_MATMUL] = "matmul", [IA_OP_LAYERNORM] = "layernorm", [IA_OP_RMSNORM] = "rmsnorm",
        [IA_OP_ADD] = "add", [IA_OP_MUL] = "mul", [IA_OP_SCALE] = "scale", [IA_OP_UNARY] = "unary",
        [IA_OP_GLU] = "glu", [IA_OP_ROPE] = "rope", [IA_OP_SOFTMAX] = "softmax",
        [IA_OP_ATTENTION] = "attention", [IA_OP_GET_ROWS] = "get_rows", [IA_OP_CPY] = "cpy",
    };
    return op >= 0 && op < IA_OP_COUNT ? names[op] : "?";
}

const char *ia__act_name(ia_act act)
{
    static const char *const names[] = {"none", "gelu", "gelu_tanh", "relu", "silu"};
    return act >= 0 && act <= IA_ACT_SILU ? names[act] : "?";
}

size_t ia__tensor_span(const ia_tensor *t)
{
    const ia_dtype_traits *tr = ia__dtype(t->dtype);
    if (!ia__tensor_nelements(t))
        return 0;
    size_t n = tr->quantized ? ia__dtype_row_bytes(t->dtype, t->ne[0])
                             : (size_t)(t->ne[0] - 1) * t->nb[0] + tr->block_bytes;
    for (int d = 1; d < IA_TENSOR_DIMS; d++)
        n += (size_t)(t->ne[d] - 1) * t->nb[d];
    return n;
}


/* checks ---------------------------------------------------------------- */

#define BAD(...) return ia__error(IA_ERR_INVALID, __VA_ARGS__)

static void shape_str(const ia_tensor *t, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s [%lld, %lld, %lld, %lld]", ia__dtype_name(t->dtype), (long long)t->ne[0],
             (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
}

static ia_status need(const ia_node *n, int i, bool f32, const char *what)
{
    const ia_tensor *t = i < 0 ? n->dst : n->src[i];
    if (!t)
        BAD("%s: %s is missing", ia__op_name(n->op), what);
    if (f32 && t->dtype != IA_DTYPE_F32) {
        char s[96];
        shape_str(t, s, sizeof s);
        BAD("%s: %s must be f32, is %s", ia__op_name(n->op), what, s);
    }
    for (int d = 0; d < IA_TENSOR_DIMS; d++)
        if (t->ne[d] < 0 || (d > 0 && t->ne[d] < 1))
            BAD("%s: %s has dimension %d of %lld", ia__op_name(n->op), what, d, (long long)t->ne[d]);
    if (ia__dtype(t->dtype)->quantized && t->ne[0] % ia__dtype(t->dtype)->block)
        BAD("%s: %s rows of %lld are not whole %s blocks", ia__op_name(n->op), what, (long long)t->ne[0],
            ia__dtype_name(t->dtype));
    return IA_OK;
}

static ia_status same(const ia_node *n, const ia_tensor *a, const ia_tensor *b, const char *wa, const char *wb)
{
    if (ia__tensor_same_shape(a, b))
        return IA_OK;
    char sa[96], sb[96];
    shape_str(a, sa, sizeof sa);
    shape_str(b, sb, sizeof sb);
    BAD("%s: %s %s and %s %s differ in shape", ia__op_name(n->op), wa, sa, wb, sb);
}

/* b broadcasts to a: each dimension equal or 1 in b. */
static ia_status broadcast(const ia_node *n, const ia_tensor *a, const ia_tensor *b)
{
    for (int d = 0; d < IA_TENSOR_DIMS; d++)
        if (b->ne[d] != a->ne[d] && b->ne[d] != 1) {
            char sa[96], sb[96];
            shape_str(a, sa, sizeof sa);
            shape_str(b, sb, sizeof sb);
            BAD("%s: src1 %s does not broadcast to src0 %s", ia__op_name(n->op), sb, sa);
        }
    return IA_OK;
}

static ia_status row_param(const ia_node *n, int i, const char *what)
{
    const ia_tensor *t = n->src[i];
    if (t && (t->dtype != IA_DTYPE_F32 || t->ne[0] != n->src[0]->ne[0] || ia__tensor_nrows(t) != 1))
        BAD("%s: %s must be f32 [%lld]", ia__op_name(n->op), what, (long long)n->src[0]->ne[0]);
    return IA_OK;
}

ia_status ia__node_check(const ia_node *n)
{
    if (!n || n->op < 0 || n->op >= IA_OP_COUNT)
        BAD("graph: a node with an unknown op");
    ia_status rc = need(n, -1, n->op != IA_OP_CPY, "dst");
    if (rc)
        return rc;
    if (n->flags & IA_NODE_W_INTERLEAVED8) { /* a matmul's weight or a get_rows table */
        const ia_tensor *w = n->op == IA_OP_MATMUL ? n->src[1] : n->op == IA_OP_GET_ROWS ? n->src[0] : NULL;
        if (!w)
            BAD("%s: only a matmul's weight or a get_rows table can be interleaved", ia__op_name(n->op));
        if (!ia__dtype_interleavable(w->dtype) || w->ne[1] % 8 || w->ne[2] * w->ne[3] != 1)
            BAD("%s: interleaved rows must be q8_0, q4_0 or q4_1, a matrix of rows a multiple of 8 (%s [%lld, "
                "%lld, %lld])", ia__op_name(n->op), ia__dtype_name(w->dtype), (long long)w->ne[0],
                (long long)w->ne[1], (long long)(w->ne[2] * w->ne[3]));
    }
    const ia_tensor *d = n->dst, *a = n->src[0], *b = n->src[1];
    switch (n->op) {
    case IA_OP_MATMUL: /* x (K, M), W (K, N), bias (N) -> (N, M) */
        if ((rc = need(n, 0, true, "x")) || (rc = need(n, 1, false, "W")))
            return rc;
        if (!ia__dtype(b->dtype)->to_f32)
            BAD("matmul: W has dtype %s, which holds no numbers", ia__dtype_name(b->dtype));
        if (a->ne[0] != b->ne[0] || d->ne[0] != b->ne[1] || d->ne[1] != a->ne[1] || a->ne[2] * a->ne[3] != 1 ||
            b->ne[2] * b->ne[3] != 1 || d->ne[2] * d->ne[3] != 1)
            BAD("matmul: x [%lld, %lld] times W [%lld, %lld] into dst [%lld, %lld]: shapes do not fit "
                "(x [K, M], W [K, N], dst [N, M])", (long long)a->ne[0], (long long)a->ne[1], (long long)b->ne[0],
                (long long)b->ne[1], (long long)d->ne[0], (long long)d->ne[1]);
        if (n->src[2] && (n->src[2]->dtype != IA_DTYPE_F32 || ia__tensor_nelements(n->src[2]) != b->ne[1]))
            BAD("matmul: bias must be f32 [%lld]", (long long)b->ne[1]);
        if (n->p.act < IA_ACT_NONE || n->p.act > IA_ACT_SILU)
            BAD("matmul: unknown activation %d", (int)n->p.act);
        return IA_OK;
    case IA_OP_LAYERNORM:
    case IA_OP_RMSNORM:
        if ((rc = need(n, 0, true, "src0")) || (rc = same(n, d, a, "dst", "src0")))
            return rc;
        if (n->op == IA_OP_LAYERNORM && b && ((rc = need(n, 1, true, "residual")) || (rc = same(n, a, b, "src0", "residual"))))
            return rc;
        if ((rc = row_param(n, 2, "weight")) || (n->op == IA_OP_LAYERNORM && (rc = row_param(n, 3, "bias"))))
            return rc;
        if (!(n->p.eps > 0))
            BAD("%s: eps %g must be > 0", ia__op_name(n->op), n->p.eps);
        return IA_OK;
    case IA_OP_ADD:
    case IA_OP_MUL:
        if ((rc = need(n, 0, true, "src0")) || (rc = need(n, 1, true, "src1")) || (rc = same(n, d, a, "dst", "src0")))
            return rc;
        return broadcast(n, a, b);
    case IA_OP_SCALE:
    case IA_OP_SOFTMAX:
        if ((rc = need(n, 0, true, "src0")))
            return rc;
        return same(n, d, a, "dst", "src0");
    case IA_OP_UNARY:
        if ((rc = need(n, 0, true, "src0")) || (rc = same(n, d, a, "dst", "src0")))
            return rc;
        if (n->p.act <= IA_ACT_NONE || n->p.act > IA_ACT_SILU)
            BAD("unary: activation %d is not one of gelu, gelu_tanh, relu, silu", (int)n->p.act);
        return IA_OK;
    case IA_OP_GLU:
        if ((rc = need(n, 0, true, "src0")))
            return rc;
        if (n->p.act <= IA_ACT_NONE || n->p.act > IA_ACT_SILU)
            BAD("glu: activation %d is not one of gelu, gelu_tanh, relu, silu", (int)n->p.act);
        if (b)
            return (rc = need(n, 1, true, "src1")) ? rc : (rc = same(n, a, b, "gate", "up")) ? rc : same(n, d, a, "dst", "gate");
        if (a->ne[0] % 2 || d->ne[0] != a->ne[0] / 2 || d->ne[1] != a->ne[1] || d->ne[2] != a->ne[2] ||
            d->ne[3] != a->ne[3])
            BAD("glu: [gate | up] rows of %lld make dst rows of %lld, not %lld", (long long)a->ne[0],
                (long long)a->ne[0] / 2, (long long)d->ne[0]);
        return IA_OK;
    case IA_OP_ROPE: {
        if ((rc = need(n, 0, true, "src0")) || (rc = same(n, d, a, "dst", "src0")) || (rc = need(n, 1, false, "positions")))
            return rc;
        const ia_rope_params *r = &n->p.rope;
        if (b->dtype != IA_DTYPE_I32 || ia__tensor_nelements(b) != a->ne[2])
            BAD("rope: positions must be i32 [%lld] (one per token)", (long long)a->ne[2]);
        const ia_tensor *ff = n->src[2];
        if (ff && (ff->dtype != IA_DTYPE_F32 || ff->ne[0] != r->n_dims / 2 || ia__tensor_nrows(ff) != 1))
            BAD("rope: frequency factors must be f32 [%d] (n_dims / 2)", r->n_dims / 2);
        if (r->n_dims <= 0 || r->n_dims > a->ne[0] || r->n_dims % 2)
            BAD("rope: n_dims %d must be even and in 2..head_dim %lld", r->n_dims, (long long)a->ne[0]);
        if (!(r->theta > 0) || (r->scaling != IA_ROPE_SCALE_NONE && !(r->factor > 0)))
            BAD("rope: theta %g and scaling factor %g must be > 0", r->theta, r->factor);
        if (r->scaling == IA_ROPE_SCALE_LLAMA3 &&
            (!(r->low_freq_factor > 0) || !(r->high_freq_factor > r->low_freq_factor) || r->original_max_position <= 0))
            BAD("rope: llama3 scaling needs 0 < low_freq_factor < high_freq_factor and original_max_position > 0");
        return IA_OK;
    }
    case IA_OP_ATTENTION: {
        const ia_tensor *k = b, *v = n->src[2];
        if ((rc = need(n, 0, true, "q")) || (rc = need(n, 1, false, "k")) || (rc = need(n, 2, false, "v")) ||
            (rc = same(n, d, a, "dst", "q")) || (rc = same(n, k, v, "k", "v")))
            return rc;
        if ((k->dtype != IA_DTYPE_F32 && k->dtype != IA_DTYPE_F16) || (v->dtype != IA_DTYPE_F32 && v->dtype != IA_DTYPE_F16))
            BAD("attention: k and v must be f32 or f16");
        if (k->ne[0] != a->ne[0] || k->ne[1] < 1 || a->ne[1] % k->ne[1] || a->ne[3] != 1 || k->ne[3] != 1)
            BAD("attention: q [%lld, %lld heads] and k [%lld, %lld heads]: head sizes differ or heads are not a "
                "multiple of the kv heads", (long long)a->ne[0], (long long)a->ne[1], (long long)k->ne[0],
                (long long)k->ne[1]);
        const ia_attn_params *p = &n->p.attn;
        if (p->mask < IA_MASK_NONE || p->mask > IA_MASK_LOCAL || (p->mask == IA_MASK_SLIDING && p->window < 1) ||
            (p->mask == IA_MASK_LOCAL && p->window < 0) ||
            p->pos_q0 < 0 || !(p->scale > 0))
            BAD("attention: bad mask, window, first position or scale");
        const ia_tensor *off = n->src[3];
        if (off && (off->dtype != IA_DTYPE_I32 || ia__tensor_nelements(off) < 2 || a->ne[2] != k->ne[2] ||
                    p->pos_q0 != 0))
            BAD("attention: sequence offsets must be i32 [n_seqs + 1 >= 2], with as many queries as keys "
                "and pos_q0 0");
        if (p->mask != IA_MASK_NONE && p->pos_q0 + a->ne[2] > k->ne[2])
            BAD("attention: queries at positions %lld..%lld but only %lld keys", (long long)p->pos_q0,
                (long long)(p->pos_q0 + a->ne[2] - 1), (long long)k->ne[2]);
        const ia_tensor *bt = p->bias_table;
        if (p->bias == IA_ATTN_BIAS_NONE) {
            if (bt)
                BAD("attention: a bias table without a bias kind");
            return IA_OK;
        }
        if (p->bias == IA_ATTN_BIAS_ALIBI) {
            if (!bt || !bt->data || bt->dtype != IA_DTYPE_F32 || bt->ne[0] != a->ne[1] || ia__tensor_nrows(bt) != 1)
                BAD("attention: the ALiBi slopes must be f32 [%lld heads]", (long long)a->ne[1]);
            return IA_OK;
        }
        if (p->bias != IA_ATTN_BIAS_REL_BUCKET)
            BAD("attention: unknown position bias %d", (int)p->bias);
        if (p->num_buckets < 4 || p->num_buckets % 2 || p->num_buckets > 1 << 20 ||
            p->max_distance <= p->num_buckets / 4)
            BAD("attention: relative-position buckets %d must be even and >= 4, max_distance %d above a quarter "
                "of them", p->num_buckets, p->max_distance);
        if (!bt || !bt->data || bt->dtype != IA_DTYPE_F32 || bt->ne[0] != a->ne[1] || bt->ne[1] != p->num_buckets ||
            bt->ne[2] != 1 || bt->ne[3] != 1)
            BAD("attention: the relative-position bias table must be f32 [%lld heads, %d buckets]",
                (long long)a->ne[1], p->num_buckets);
        return IA_OK;
    }
    case IA_OP_GET_ROWS:
        if ((rc = need(n, 0, false, "table")) || (rc = need(n, 1, false, "ids")))
            return rc;
        if (b->dtype != IA_DTYPE_I32 || !ia__dtype(a->dtype)->to_f32)
            BAD("get_rows: ids must be i32 and the table numeric");
        if (d->ne[0] != a->ne[0] || d->ne[1] != ia__tensor_nelements(b) || d->ne[2] * d->ne[3] != 1)
            BAD("get_rows: dst must be [%lld, %lld]", (long long)a->ne[0], (long long)ia__tensor_nelements(b));
        return IA_OK;
    case IA_OP_CPY:
        if ((rc = need(n, 0, false, "src0")) || (rc = same(n, d, a, "dst", "src0")))
            return rc;
        if (!ia__dtype(a->dtype)->to_f32 || !ia__dtype(d->dtype)->from_f32)
            BAD("cpy: %s to %s is not a conversion", ia__dtype_name(a->dtype), ia__dtype_name(d->dtype));
        return IA_OK;
    case IA_OP_COUNT:
        break;
    }
    BAD("graph: a node with an unknown op");
}

/* The frequency of rotated pair i (of n_dims / 2), as Hugging Face computes
 * inv_freq: base^(-2i / n_dims), divided by the factor for linear scaling,
 * and for Llama 3.1 (`_compute_llama3_parameters`) divided by the factor
 * for wavelengths above original_max_position / low_freq_factor, kept for
 * those below original_max_position / high_freq_factor, and blended in
 * between. In double: positions in the thousands need the digits. */
double ia__rope_inv_freq(const ia_rope_params *p, int i)
{
    const double inv = 1.0 / pow((double)p->theta, 2.0 * i / p->n_dims);
    if (p->scaling == IA_ROPE_SCALE_LINEAR)
        return inv / p->factor;
    if (p->scaling != IA_ROPE_SCALE_LLAMA3)
        return inv;
    const double old = p->original_max_position, lo = p->low_freq_factor, hi = p->high_freq_factor;
    const double wavelen = 2 * M_PI / inv;
    if (wavelen < old / hi)
        return inv;
    if (wavelen > old / lo)
        return inv / p->factor;
    const double smooth = (old / wavelen - lo) / (hi - lo);
    return (1 - smooth) * inv / p->factor + smooth * inv;
}

void ia__attn_bias_fill(const ia_attn_params *p, const char *tab, int64_t H, int64_t rmin, int64_t span, float *out)
{
    const ia_tensor *t = p->bias_table;
    for (int64_t r = rmin; r < rmin + span; r++) {
        if (p->bias == IA_ATTN_BIAS_ALIBI) { /* as Jina's table: the f32 slope times the f32 distance */
            const float dist = (float)(r < 0 ? -r : r);
            for (int64_t h = 0; h < H; h++) {
                float slope;
                memcpy(&slope, tab + (size_t)h * t->nb[0], sizeof slope);
                out[h * span + r - rmin] = -(slope * dist);
            }
            continue;
        }
        const char *row = tab + (size_t)ia__attn_rel_bucket(r, p->num_buckets, p->max_distance) * t->nb[1];
        for (int64_t h = 0; h < H; h++)
            memcpy(&out[h * span + r - rmin], row + (size_t)h * t->nb[0], sizeof(float));
    }
}

int ia__attn_rel_bucket(int64_t r, int num_buckets, int max_distance)
{
    const int half = num_buckets / 2, exact = half / 2, base = r > 0 ? half : 0;
    const int64_t n = r < 0 ? -r : r;
    if (n < exact)
        return base + (int)n;
    /* exact + floor(log(n / exact) / log(max_distance / exact) (half -
     * exact)); the tiny nudge keeps the log steps' edges (n = 16, 32, 64
     * for 32 buckets and 128) in the upper bucket, where PyTorch's float
     * arithmetic puts them. */
    const double v = log((double)n / exact) / log((double)max_distance / exact) * (half - exact) + 1e-9;
    return base + (v >= half - exact ? half - 1 : exact + (int)v);
}
