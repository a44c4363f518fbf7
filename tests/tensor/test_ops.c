/*
 * The op harness, after ggml's test-backend-ops: every registered backend
 * (ia__backend_count / ia__backend_at; an instance on device 0 with 2
 * threads in fp32) computes every op of the engine core (tensor.h) over
 * each relevant dtype and several shapes, and the result is compared with
 * a plain double-precision reference written here. The reference never
 * calls backend code: it reads inputs through the dtype's to_f32 (so a
 * quantized table or weight means exactly the numbers its bytes hold) and
 * computes in double. A backend added to the registry is tested with no
 * new code here; one that says it does not support a node (supports()) is
 * reported "not supported" for that row, except the CPU backend, which
 * must support everything.
 *
 * Tensors live in the backend's own buffers (buf_alloc, upload, download),
 * as views into larger buffers where a case asks for strides: a column
 * block of a wider matrix, a KV cache of (head_dim, n_ctx, n_kv_heads)
 * seen as (head_dim, n_kv_heads, n), a transposed V. Bytes of a dst buffer
 * outside the dst view must come back unchanged, and the view starts
 * poisoned (all-ones bytes, NaN in every float type) so an element left
 * unwritten fails.
 *
 * The error of a case is max |got - want| / max |want| over dst (the
 * max-norm relative error); each op and dtype has its tolerance, justified
 * where it is set. Malformed nodes must be refused with IA_ERR_INVALID
 * naming the node and op. Prints a table: op | dtype | shapes | worst
 * error | tolerance | result per backend.
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend-impl.h"
#include "tensor/tensor.h"
#include "test.h"

/* ------------------------------------------------------------------------
 * Backends under test */

enum { MAX_BE = 8, MAX_ROWS = 128, N_SLOTS = 6 };

typedef struct be_inst {
    const ia_backend *be;
    void *ctx; /* NULL: not opened (no device) */
    bool is_cpu;
} be_inst;

static be_inst insts[MAX_BE];
static int n_insts;
static bool verbose; /* IA_TEST_OPS_VERBOSE=1: a line per case and backend */

/* ------------------------------------------------------------------------
 * Table rows: one per (op, dtype label); each case adds to one. */

typedef struct be_result {
    double err, tol; /* the case with the largest err / tol */
    double ratio;
    int fail, unsup;
} be_result;

typedef struct trow {
    char op[16], dtype[40];
    int n;
    be_result r[MAX_BE];
} trow;

static trow rows[MAX_ROWS];
static int n_rows;

static trow *row_for(const char *op, const char *dtype)
{
    for (int i = 0; i < n_rows; i++)
        if (!strcmp(rows[i].op, op) && !strcmp(rows[i].dtype, dtype))
            return &rows[i];
    if (n_rows == MAX_ROWS) {
        fprintf(stderr, "test_ops: more than %d table rows\n", MAX_ROWS);
        exit(2);
    }
    trow *r = &rows[n_rows++];
    memset(r, 0, sizeof *r);
    snprintf(r->op, sizeof r->op, "%s", op);
    snprintf(r->dtype, sizeof r->dtype, "%s", dtype);
    return r;
}

/* ------------------------------------------------------------------------
 * Random numbers: splitmix64, fixed seed (every run tests the same inputs). */

static uint64_t rng = 0x243F6A8885A308D3ull;

static double urand(void) /* uniform in [-1, 1) */
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-52 - 1.0;
}

/* ------------------------------------------------------------------------
 * Cases: a node over tensors that are views into host buffers. Slot 0 is
 * dst, slot 1 + i is src[i], slot 5 an attention's bias table. */

enum { LEAD = 64, TAIL = 64 }; /* guard bytes around each buffer's parent tensor */

typedef struct tslot {
    bool used;
    ia_tensor v;        /* the view (data into buf) */
    unsigned char *buf; /* LEAD + parent + TAIL bytes */
    size_t bytes, off;  /* buffer size; v.data - buf */
    int alias;          /* > 0: a view into slot `alias`'s buffer (dst in place, fused QKV) */
} tslot;

typedef struct tcase {
    const char *op;
    char dtype[32];
    char note[64];
    ia_node node; /* op and params; tensor pointers are set per run */
    tslot s[N_SLOTS];
    double *want; /* reference dst in ne order */
    double tol;
    /* Optional: errors are relative to the largest output but at least
     * `floor` (for outputs that may all be near 0); with rms set, the error
     * is the RMS error relative to the RMS output (ggml's NMSE, square
     * rooted), and every element must also be within max_tol of the
     * largest output. */
    double floor, max_tol;
    bool rms;
    /* matmul: W (slot 2) goes to the backend's weight_prepare and the node
     * carries only the prepared form (W's data NULL). */
    bool prepare_w;
} tcase;

static int64_t nel(const ia_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }

static void tc_init(tcase *c, const char *op, ia_op kind, const char *dtype)
{
    memset(c, 0, sizeof *c);
    c->op = op;
    c->node.op = kind;
    snprintf(c->dtype, sizeof c->dtype, "%s", dtype);
}

static void tc_free(tcase *c)
{
    for (int i = 0; i < N_SLOTS; i++)
        if (c->s[i].used && !c->s[i].alias)
            free(c->s[i].buf);
    free(c->want);
}

/* Fill n f32 values of a row to store as dtype t: uniform in [-range,
 * range]; integer types get integers (i8 within its range). */
static void rand_row(float *f, int64_t n, ia_dtype t, double range)
{
    for (int64_t i = 0; i < n; i++) {
        double v = urand() * range;
        if (t == IA_DTYPE_I8)
            v = round(urand() * 100);
        else if (t == IA_DTYPE_I32)
            v = round(v);
        f[i] = (float)v;
    }
}

/*
 * Slot i: a view of shape ne into a fresh buffer holding a contiguous
 * parent tensor of shape pne filled with random values of dtype dt in
 * [-range, range]. View dimension d walks parent dimension perm[d] (NULL:
 * the same), starting at parent index off[parent dim] (NULL: 0).
 */
static ia_tensor *tc_view(tcase *c, int slot, ia_dtype dt, const int64_t ne[4], const int64_t pne[4],
                          const int perm[4], const int64_t off[4], double range)
{
    tslot *s = &c->s[slot];
    const ia_tensor p = ia__tensor(dt, pne[0], pne[1], pne[2], pne[3], NULL);
    /* Each tensor's values depend only on its case and place (FNV-1a of
     * them), not on how many cases ran before: adding a case changes no
     * other case's inputs. */
    uint64_t h = 0xcbf29ce484222325ull;
    char key[256];
    int kn = snprintf(key, sizeof key, "%s|%s|%d|%d|%s", c->op, c->dtype, slot, (int)dt, c->note);
    for (int d = 0; d < 4 && kn < (int)sizeof key; d++)
        kn += snprintf(key + kn, sizeof key - (size_t)kn, "|%lld,%lld,%d,%lld", (long long)ne[d], (long long)pne[d],
                       perm ? perm[d] : d, off ? (long long)off[d] : 0LL);
    for (int i = 0; i < kn && i < (int)sizeof key; i++)
        h = (h ^ (unsigned char)key[i]) * 0x100000001b3ull;
    rng = h;
    const size_t pbytes = (size_t)(pne[1] * pne[2] * pne[3]) * p.nb[1];
    s->used = true;
    s->bytes = LEAD + pbytes + TAIL;
    s->buf = malloc(s->bytes);
    memset(s->buf, 0xA5, s->bytes);
    float *row = malloc((size_t)pne[0] * sizeof *row + 1);
    for (int64_t r = 0; r < pne[1] * pne[2] * pne[3]; r++) {
        rand_row(row, pne[0], dt, range);
        ia__dtype(dt)->from_f32(row, s->buf + LEAD + (size_t)r * p.nb[1], pne[0]);
    }
    free(row);
    size_t o = LEAD;
    for (int d = 0; d < 4; d++) {
        const int pd = perm ? perm[d] : d;
        s->v.ne[d] = ne[d];
        s->v.nb[d] = p.nb[pd];
        if (off)
            o += (size_t)off[d] * p.nb[d] / (size_t)(d == 0 ? ia__dtype(dt)->block : 1);
    }
    s->v.dtype = dt;
    s->off = o;
    s->v.data = s->buf + o;
    return &s->v;
}

static ia_tensor *tc_tensor(tcase *c, int slot, ia_dtype dt, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3,
                            double range)
{
    const int64_t ne[4] = {ne0, ne1, ne2, ne3};
    return tc_view(c, slot, dt, ne, ne, NULL, NULL, range);
}

/* A view whose rows are a column block of a wider matrix: it starts
 * `pad` elements (a whole block for block types) into each row and one
 * row down, so nb[1] exceeds the row and data is not the buffer's start. */
static ia_tensor *tc_padded(tcase *c, int slot, ia_dtype dt, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3,
                            double range)
{
    const int64_t pad = ia__dtype(dt)->block > 1 ? ia__dtype(dt)->block : 3;
    const int64_t ne[4] = {ne0, ne1, ne2, ne3}, pne[4] = {ne0 + 2 * pad, ne1 + 1, ne2, ne3};
    const int64_t off[4] = {pad, 1, 0, 0};
    return tc_view(c, slot, dt, ne, pne, NULL, off, range);
}

/* An input: a column-block view when `view`, else contiguous. */
static ia_tensor *tc_in(tcase *c, int slot, ia_dtype dt, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3,
                        double range, bool view)
{
    return (view ? tc_padded : tc_tensor)(c, slot, dt, ne0, ne1, ne2, ne3, range);
}

/* dst: a contiguous tensor, poisoned. */
static ia_tensor *tc_dst(tcase *c, ia_dtype dt, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3)
{
    ia_tensor *t = tc_tensor(c, 0, dt, ne0, ne1, ne2, ne3, 1);
    memset(c->s[0].buf + LEAD, 0xFF, c->s[0].bytes - LEAD - TAIL);
    return t;
}

/* dst as exactly the view of src slot k (in place). */
static void tc_in_place(tcase *c, int k)
{
    c->s[0] = c->s[k];
    c->s[0].alias = k;
}

static void set_i32(const ia_tensor *t, int64_t k, int32_t v)
{
    const int64_t i0 = k % t->ne[0], q1 = k / t->ne[0], i1 = q1 % t->ne[1], q2 = q1 / t->ne[1];
    memcpy((char *)t->data + i0 * t->nb[0] + i1 * t->nb[1] + (q2 % t->ne[2]) * t->nb[2] + (q2 / t->ne[2]) * t->nb[3],
           &v, sizeof v);
}

/* The elements of a view in ne order, as doubles, read with to_f32 only. */
static double *dense(const ia_tensor *t)
{
    const ia_dtype_traits *tr = ia__dtype(t->dtype);
    const int64_t ne0 = t->ne[0], n = nel(t);
    double *out = malloc((size_t)n * sizeof *out + 8);
    float *row = malloc((size_t)ne0 * sizeof *row + 4);
    for (int64_t r = 0; r < t->ne[1] * t->ne[2] * t->ne[3]; r++) {
        const int64_t i1 = r % t->ne[1], i2 = r / t->ne[1] % t->ne[2], i3 = r / t->ne[1] / t->ne[2];
        const char *p = (const char *)t->data + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3];
        if (tr->quantized)
            tr->to_f32(p, row, ne0);
        else
            for (int64_t i = 0; i < ne0; i++)
                tr->to_f32(p + i * t->nb[0], row + i, 1);
        for (int64_t i = 0; i < ne0; i++)
            out[r * ne0 + i] = row[i];
    }
    free(row);
    return out;
}

static const ia_tensor *S(const tcase *c, int i) { return c->s[1 + i].used ? &c->s[1 + i].v : NULL; }
static double *dense_src(const tcase *c, int i) { return S(c, i) ? dense(S(c, i)) : NULL; }

static void shape_str(const ia_tensor *t, char *buf, size_t cap)
{
    bool cont = ia__tensor_contiguous(t);
    snprintf(buf, cap, "%s[%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 "]%s", ia__dtype_name(t->dtype), t->ne[0],
             t->ne[1], t->ne[2], t->ne[3], cont ? "" : "(view)");
}

static void describe(const tcase *c, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "%s %s:", c->op, c->dtype);
    for (int i = 0; i < N_SLOTS && n < cap; i++) {
        if (!c->s[i].used)
            continue;
        char sh[96];
        shape_str(&c->s[i].v, sh, sizeof sh);
        static const char *const names[N_SLOTS] = {"dst", "src0", "src1", "src2", "src3", "bias"};
        n += (size_t)snprintf(buf + n, cap - n, " %s %s%s", names[i], sh, i == 0 && c->s[0].alias ? "(in place)" : "");
    }
    if (c->note[0] && n < cap)
        snprintf(buf + n, cap - n, " %s", c->note);
}

/* ------------------------------------------------------------------------
 * Running a case on every backend */

static ia_status be_upload(const be_inst *b, void *dst, const void *src, size_t n)
{
    if (b->be->iface.upload)
        return b->be->iface.upload(b->ctx, dst, src, n);
    memcpy(dst, src, n);
    return IA_OK;
}

static ia_status be_download(const be_inst *b, void *dst, const void *src, size_t n)
{
    if (b->be->iface.download)
        return b->be->iface.download(b->ctx, dst, src, n);
    memcpy(dst, src, n);
    return IA_OK;
}

/* Bytes of buffer s covered by its view's rows (the view's rows are dense
 * inside: every dst here has nb[0] the element size). */
static unsigned char *covered(const tslot *s)
{
    unsigned char *m = calloc(s->bytes, 1);
    const ia_tensor *t = &s->v;
    const size_t rb = ia__dtype_row_bytes(t->dtype, t->ne[0]);
    for (int64_t r = 0; r < t->ne[1] * t->ne[2] * t->ne[3]; r++) {
        const int64_t i1 = r % t->ne[1], i2 = r / t->ne[1] % t->ne[2], i3 = r / t->ne[1] / t->ne[2];
        memset(m + s->off + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3], 1, rb);
    }
    return m;
}

/* 1: passed, 0: failed, -1: not supported. *err: the case's error. */
static int run_on(const be_inst *b, tcase *c, double *err)
{
    void *dev[N_SLOTS] = {0};
    ia_tensor bt[N_SLOTS];
    int result = 0;
    *err = INFINITY;
    for (int i = 0; i < N_SLOTS; i++) {
        if (!c->s[i].used)
            continue;
        bt[i] = c->s[i].v;
        if (c->s[i].alias) {
            bt[i].data = (char *)dev[c->s[i].alias] + c->s[i].off;
            continue;
        }
        dev[i] = b->be->iface.buf_alloc(b->ctx, c->s[i].bytes);
        if (!dev[i] || be_upload(b, dev[i], c->s[i].buf, c->s[i].bytes)) {
            fprintf(stderr, "%s: could not place a %zu-byte buffer\n", b->be->name, c->s[i].bytes);
            goto out;
        }
        bt[i].data = (char *)dev[i] + c->s[i].off;
    }
    /* aliases point at buffers made after them in slot order: redo */
    for (int i = 0; i < N_SLOTS; i++)
        if (c->s[i].used && c->s[i].alias)
            bt[i].data = (char *)dev[c->s[i].alias] + c->s[i].off;
    ia_node n = c->node;
    n.dst = &bt[0];
    for (int i = 0; i < 4; i++)
        n.src[i] = c->s[1 + i].used ? &bt[1 + i] : NULL;
    if (n.op == IA_OP_ATTENTION)
        n.p.attn.bias_table = c->s[5].used ? &bt[5] : NULL;
    void *prepared = NULL;
    if (c->prepare_w) { /* from the host copy, as model code does */
        if (!b->be->iface.weight_prepare) {
            result = -1;
            goto out;
        }
        ia_status prc = b->be->iface.weight_prepare(b->ctx, &c->s[2].v, n.src[2], NULL, &prepared);
        if (prc) {
            fprintf(stderr, "%s: weight_prepare -> %d (%s)\n", b->be->name, prc, ia_errmsg());
            goto out;
        }
        bt[2].data = NULL;
        bt[2].extra = prepared;
    }
    if (!b->be->iface.supports || !b->be->iface.graph_compute || !b->be->iface.supports(b->ctx, &n)) {
        /* a node the backend does not support is refused, never computed */
        if (b->be->iface.graph_compute)
            CHECK_MSG(b->be->iface.graph_compute(b->ctx, &n, 1) != IA_OK, "%s computed a node it does not support",
                      b->be->name);
        result = -1;
        goto out;
    }
    ia_status rc = b->be->iface.graph_compute(b->ctx, &n, 1);
    char desc[400];
    describe(c, desc, sizeof desc);
    if (rc) {
        fprintf(stderr, "%s: %s: graph_compute -> %d (%s)\n", b->be->name, desc, rc, ia_errmsg());
        goto out;
    }
    const tslot *d = &c->s[0];
    const int dslot = d->alias ? d->alias : 0;
    unsigned char *host = malloc(d->bytes);
    if (be_download(b, host, dev[dslot], d->bytes)) {
        fprintf(stderr, "%s: download failed\n", b->be->name);
        free(host);
        goto out;
    }
    /* outside the view: unchanged */
    unsigned char *m = covered(d);
    size_t stray = 0;
    for (size_t i = 0; i < d->bytes; i++)
        if (!m[i] && host[i] != c->s[dslot].buf[i])
            stray++;
    free(m);
    ia_tensor got_v = d->v;
    got_v.data = host + d->off;
    double *got = dense(&got_v);
    double mx = c->floor, worst = 0, se = 0, sw = 0;
    const int64_t ne = nel(&d->v);
    for (int64_t i = 0; i < ne; i++) {
        const double e = fabs(got[i] - c->want[i]);
        mx = fmax(mx, fabs(c->want[i]));
        worst = isnan(e) ? INFINITY : fmax(worst, e);
        se += e * e;
        sw += c->want[i] * c->want[i];
    }
    free(got);
    free(host);
    const double max_err = mx > 0 ? worst / mx : worst;
    *err = c->rms ? (sw > 0 ? sqrt(se / sw) : sqrt(se)) : max_err;
    if (isnan(*err))
        *err = INFINITY;
    result = *err <= c->tol && (!c->rms || max_err <= c->max_tol) && !stray;
    if (c->rms && max_err > c->max_tol)
        fprintf(stderr, "%s: %s: an element is off by %.3g of the largest output (> %.3g)\n", b->be->name, desc,
                max_err, c->max_tol);
    if (stray)
        fprintf(stderr, "%s: %s: %zu bytes outside dst changed\n", b->be->name, desc, stray);
    else if (!result)
        fprintf(stderr, "%s: %s: error %.3g > tolerance %.3g\n", b->be->name, desc, *err, c->tol);
out:
    if (prepared)
        b->be->iface.weight_release(b->ctx, prepared);
    for (int i = 0; i < N_SLOTS; i++)
        if (dev[i])
            b->be->iface.buf_free(b->ctx, dev[i]);
    return result;
}


/* Run a case on every backend and add it to its table row. */
static void run(tcase *c)
{
    trow *r = row_for(c->op, c->dtype);
    r->n++;
    for (int k = 0; k < n_insts; k++) {
        be_result *br = &r->r[k];
        if (!insts[k].ctx)
            continue;
        double err;
        const int res = run_on(&insts[k], c, &err);
        if (res < 0) {
            br->unsup++;
            char desc[400];
            describe(c, desc, sizeof desc);
            CHECK_MSG(!insts[k].is_cpu, "the cpu backend must support %s", desc);
            continue;
        }
        br->fail += !res;
        CHECK_MSG(res == 1, "%s %s on %s", c->op, c->dtype, insts[k].be->name);
        if (verbose) {
            char desc[400];
            describe(c, desc, sizeof desc);
            printf("%s: %s: error %.3g (tolerance %.3g)\n", insts[k].be->name, desc, err, c->tol);
        }
        const double ratio = c->tol > 0 ? err / c->tol : err > 0 ? INFINITY : 0;
        if (ratio >= br->ratio) {
            br->ratio = ratio;
            br->err = err;
            br->tol = c->tol;
        }
    }
    tc_free(c);
}

/* ------------------------------------------------------------------------
 * References, in double */

static double act_ref(ia_act a, double x)
{
    switch (a) {
    case IA_ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case IA_ACT_GELU_TANH: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case IA_ACT_RELU: return x > 0 ? x : 0;
    case IA_ACT_SILU: return x / (1 + exp(-x));
    default: return x;
    }
}

static double *alloc_want(tcase *c)
{
    c->want = calloc((size_t)nel(&c->s[0].v) + 1, sizeof *c->want);
    return c->want;
}

static const ia_act acts[] = {IA_ACT_NONE, IA_ACT_GELU, IA_ACT_SILU, IA_ACT_GELU_TANH, IA_ACT_RELU};
static const ia_act unary_acts[] = {IA_ACT_GELU, IA_ACT_GELU_TANH, IA_ACT_RELU, IA_ACT_SILU};

#define F32 IA_DTYPE_F32
#define F16 IA_DTYPE_F16
#define BF16 IA_DTYPE_BF16
#define I32 IA_DTYPE_I32

/* A view of shape ne whose dimension d walks dimension perm[d] of a
 * contiguous parent (a transposed matrix when perm swaps 0 and 1: its
 * elements are not adjacent). pne: the parent's shape (NULL: ne permuted). */
static ia_tensor *tc_perm(tcase *c, int slot, ia_dtype dt, const int64_t ne[4], const int perm[4],
                          const int64_t *pne_in, double range)
{
    int64_t pne[4];
    for (int d = 0; d < 4; d++)
        pne[perm[d]] = ne[d];
    if (pne_in)
        memcpy(pne, pne_in, sizeof pne);
    return tc_view(c, slot, dt, ne, pne, perm, NULL, range);
}

static const int TRANSPOSE[4] = {1, 0, 2, 3};

/* matmul ---------------------------------------------------------------- */

enum { X_VIEW = 1, W_VIEW = 2 };

enum { PREPARED = 4 };

static void case_matmul(ia_dtype wt, int64_t K, int64_t M, int64_t N, bool bias, ia_act act, int views, double tol)
{
    tcase c;
    char label[32];
    snprintf(label, sizeof label, "%s%s", ia__dtype_name(wt), views & PREPARED ? ", prepared" : "");
    tc_init(&c, "matmul", IA_OP_MATMUL, label);
    c.prepare_w = views & PREPARED;
    const ia_tensor *x = tc_in(&c, 1, F32, K, M, 1, 1, 1, views & X_VIEW);
    const ia_tensor *W = tc_in(&c, 2, wt, K, N, 1, 1, 1, views & W_VIEW);
    if (bias)
        tc_tensor(&c, 3, F32, N, 1, 1, 1, 1);
    tc_dst(&c, F32, N, M, 1, 1);
    c.node.p.act = act;
    snprintf(c.note, sizeof c.note, "%s, act %s", bias ? "bias" : "no bias", ia__act_name(act));
    double *xd = dense(x), *wd = dense(W), *bd = dense_src(&c, 2), *want = alloc_want(&c);
    for (int64_t m = 0; m < M; m++)
        for (int64_t j = 0; j < N; j++) {
            double s = bd ? bd[j] : 0;
            for (int64_t k = 0; k < K; k++)
                s += xd[m * K + k] * wd[j * K + k];
            want[m * N + j] = act_ref(act, s);
        }
    free(xd), free(wd), free(bd);
    c.tol = tol;
    if (ia__dtype(wt)->quantized || wt == IA_DTYPE_I8) {
        c.rms = true;
        c.max_tol = 3e-2;
    }
    run(&c);
}

static void cases_matmul(void)
{
    static const struct {
        ia_dtype t;
        int64_t k0, k1;
        double tol;
    } W[] = {
        /* f32, f16 and bf16 weights multiply the f32 activations as they
         * are: the only error is f32 rounding over K <= 512 products, far
         * below 1e-5 of the largest output. */
        {F32, 7, 64, 1e-5},
        {F16, 7, 64, 1e-5},
        {BF16, 7, 64, 1e-5},
        /* Integer and block weights: a backend may quantize the activations
         * to 8 bits per block (ggml's q8_0 / q8_K; the CPU backend does),
         * moving each by up to d/2, d = 1/127 of its block's largest: an
         * error of rms d/sqrt(12) = 2.3e-3 against rms(x) = 0.58 for
         * x uniform in [-1, 1]. With random signs the outputs move by
         * about 4e-3 of their RMS. So the check is on the RMS error
         * relative to the RMS output (stable however few the outputs):
         * 1e-2; and no output may be off by more than 3e-2 of the largest
         * (a max over few outputs fluctuates, ~2.5x the RMS seen here). */
        {IA_DTYPE_I8, 5, 64, 1e-2},
        {IA_DTYPE_Q8_0, 32, 96, 1e-2},
        {IA_DTYPE_Q4_0, 32, 96, 1e-2},
        {IA_DTYPE_Q4_1, 32, 96, 1e-2},
        {IA_DTYPE_Q4_K, 256, 512, 1e-2},
        {IA_DTYPE_Q5_K, 256, 512, 1e-2},
        {IA_DTYPE_Q6_K, 256, 512, 1e-2},
    };
    static const int64_t Ms[] = {1, 3, 17};
    for (size_t i = 0; i < sizeof W / sizeof W[0]; i++) {
        int a = 0;
        for (size_t m = 0; m < 3; m++)
            for (int kk = 0; kk < 2; kk++, a++)
                case_matmul(W[i].t, kk ? W[i].k1 : W[i].k0, Ms[m], 33, m != 1, acts[a % 5], 0, W[i].tol);
        case_matmul(W[i].t, W[i].k1, 17, 1, true, IA_ACT_GELU, 0, W[i].tol);
        case_matmul(W[i].t, 2 * W[i].k1, 17, 130, true, IA_ACT_SILU, 0, W[i].tol); /* several chunks per thread */
        case_matmul(W[i].t, W[i].k1, 3, 5, false, IA_ACT_NONE, X_VIEW, W[i].tol);
        case_matmul(W[i].t, W[i].k0, 3, 5, true, IA_ACT_SILU, W_VIEW, W[i].tol);
    }
    /* Weights in the backend's prepared form (weight_prepare: the CPU packs
     * them for oneDNN in its precision, fp32 here), from plain and strided
     * host weights, over row counts on both sides of its chunking (256-row
     * chunks split over threads from 512 rows). */
    static const int64_t Mp[] = {1, 17, 600};
    for (int i = 0; i < 3; i++)
        for (size_t m = 0; m < 3; m++)
            case_matmul(W[i].t, 64 + 7 * (int64_t)m, Mp[m], 40, m != 1, acts[m + 1], PREPARED | (m == 2 ? X_VIEW : 0),
                        1e-5);
    case_matmul(F32, 48, 9, 33, true, IA_ACT_NONE, PREPARED | W_VIEW, 1e-5);
}

/* layernorm, rmsnorm ------------------------------------------------------ */

enum { N_RES = 1, N_W = 2, N_B = 4, N_VIEW = 8, N_INPLACE = 16 };

static void case_norm(ia_op op, int64_t ne0, int64_t ne1, int64_t ne2, int flags)
{
    tcase c;
    tc_init(&c, op == IA_OP_LAYERNORM ? "layernorm" : "rmsnorm", op, "f32");
    const ia_tensor *a = tc_in(&c, 1, F32, ne0, ne1, ne2, 1, 2, flags & N_VIEW);
    if (flags & N_RES)
        tc_tensor(&c, 2, F32, ne0, ne1, ne2, 1, 1);
    if (flags & N_W)
        tc_tensor(&c, 3, F32, ne0, 1, 1, 1, 1.5);
    if (flags & N_B)
        tc_tensor(&c, 4, F32, ne0, 1, 1, 1, 1);
    if (flags & N_INPLACE)
        tc_in_place(&c, 1);
    else
        tc_dst(&c, F32, ne0, ne1, ne2, 1);
    c.node.p.eps = 1e-5f;
    snprintf(c.note, sizeof c.note, "%s%s%s", flags & N_RES ? "residual " : "", flags & N_W ? "weight " : "",
             flags & N_B ? "bias" : "");
    double *ad = dense(a), *rd = dense_src(&c, 1), *wd = dense_src(&c, 2), *bd = dense_src(&c, 3);
    double *want = alloc_want(&c), *v = malloc((size_t)ne0 * sizeof *v + 8);
    for (int64_t r = 0; r < ne1 * ne2; r++) {
        double mean = 0, var = 0, ms = 0;
        for (int64_t i = 0; i < ne0; i++) {
            v[i] = ad[r * ne0 + i] + (rd ? rd[r * ne0 + i] : 0);
            mean += v[i] / ne0;
            ms += v[i] * v[i] / ne0;
        }
        for (int64_t i = 0; i < ne0; i++)
            var += (v[i] - mean) * (v[i] - mean) / ne0;
        for (int64_t i = 0; i < ne0; i++) {
            double y = op == IA_OP_LAYERNORM ? (v[i] - mean) / sqrt(var + 1e-5f) : v[i] / sqrt(ms + 1e-5f);
            want[r * ne0 + i] = y * (wd ? wd[i] : 1) + (bd ? bd[i] : 0);
        }
    }
    free(ad), free(rd), free(wd), free(bd), free(v);
    /* f32 inputs normalized by statistics the backend may sum in f32:
     * relative rounding of about 1e-6 for rows up to 384. */
    c.tol = 1e-5;
    run(&c);
}

static void cases_norm(void)
{
    static const int64_t shapes[][2] = {{7, 1}, {64, 3}, {384, 17}};
    static const int ln_flags[] = {N_W | N_B, N_RES | N_W | N_B, 0, N_RES};
    for (int s = 0; s < 3; s++) {
        for (int f = 0; f < 4; f++)
            case_norm(IA_OP_LAYERNORM, shapes[s][0], shapes[s][1], 1, ln_flags[f]);
        case_norm(IA_OP_RMSNORM, shapes[s][0], shapes[s][1], 1, N_W);
        case_norm(IA_OP_RMSNORM, shapes[s][0], shapes[s][1], 1, 0);
    }
    case_norm(IA_OP_LAYERNORM, 16, 3, 2, N_RES | N_W | N_B | N_VIEW);
    case_norm(IA_OP_LAYERNORM, 64, 3, 1, N_W | N_B | N_INPLACE);
    case_norm(IA_OP_LAYERNORM, 1, 3, 1, N_W | N_B);
    case_norm(IA_OP_RMSNORM, 16, 3, 2, N_W | N_VIEW);
    case_norm(IA_OP_RMSNORM, 64, 17, 1, N_W | N_INPLACE);
}

/* add, mul, scale ------------------------------------------------------------ */

enum { E_VIEW = 1, E_TRANSPOSED = 2, E_INPLACE = 4, E_B_VIEW = 8, E_FREQ = 16 };

static void case_binary(ia_op op, const int64_t ne[4], const int64_t bne[4], int flags)
{
    tcase c;
    tc_init(&c, ia__op_name(op), op, "f32");
    const ia_tensor *a = flags & E_VIEW         ? tc_padded(&c, 1, F32, ne[0], ne[1], ne[2], ne[3], 2)
                         : flags & E_TRANSPOSED ? tc_perm(&c, 1, F32, ne, TRANSPOSE, NULL, 2)
                                                : tc_tensor(&c, 1, F32, ne[0], ne[1], ne[2], ne[3], 2);
    const ia_tensor *b = flags & E_B_VIEW ? tc_padded(&c, 2, F32, bne[0], bne[1], bne[2], bne[3], 2)
                                          : tc_tensor(&c, 2, F32, bne[0], bne[1], bne[2], bne[3], 2);
    if (flags & E_INPLACE)
        tc_in_place(&c, 1);
    else
        tc_dst(&c, F32, ne[0], ne[1], ne[2], ne[3]);
    snprintf(c.note, sizeof c.note, "src1 [%d,%d,%d,%d]", (int)bne[0], (int)bne[1], (int)bne[2], (int)bne[3]);
    double *ad = dense(a), *bd = dense(b), *want = alloc_want(&c);
    for (int64_t i3 = 0; i3 < ne[3]; i3++)
        for (int64_t i2 = 0; i2 < ne[2]; i2++)
            for (int64_t i1 = 0; i1 < ne[1]; i1++)
                for (int64_t i0 = 0; i0 < ne[0]; i0++) {
                    const int64_t ia = i0 + ne[0] * (i1 + ne[1] * (i2 + ne[2] * i3));
                    const int64_t ib =
                        i0 % bne[0] + bne[0] * (i1 % bne[1] + bne[1] * (i2 % bne[2] + bne[2] * (i3 % bne[3])));
                    want[ia] = op == IA_OP_ADD ? ad[ia] + bd[ib] : ad[ia] * bd[ib];
                }
    free(ad), free(bd);
    c.tol = 1e-6; /* one f32 rounding per element */
    run(&c);
}

static void cases_binary(void)
{
    static const int64_t shapes[][4] = {{7, 3, 2, 1}, {64, 17, 1, 1}, {1, 3, 1, 1}, {5, 2, 3, 2}};
    for (int op = 0; op < 2; op++) {
        const ia_op o = op ? IA_OP_MUL : IA_OP_ADD;
        for (int s = 0; s < 4; s++) {
            const int64_t *ne = shapes[s];
            const int64_t b[5][4] = {{ne[0], ne[1], ne[2], ne[3]}, {ne[0], 1, 1, 1}, {1, ne[1], ne[2], ne[3]},
                                     {ne[0], 1, ne[2], 1}, {1, 1, 1, 1}};
            for (int k = 0; k < 5; k++)
                case_binary(o, ne, b[k], 0);
        }
        const int64_t ne[4] = {9, 3, 2, 1}, full[4] = {9, 3, 2, 1}, row[4] = {9, 1, 1, 1};
        case_binary(o, ne, row, E_VIEW);
        case_binary(o, ne, full, E_TRANSPOSED | E_B_VIEW);
        case_binary(o, ne, row, E_INPLACE);
    }
}

/* scale, unary, softmax: one input, one output of its shape */
static void case_unary_like(ia_op op, ia_act act, float scale, const int64_t ne[4], int flags, double range)
{
    tcase c;
    tc_init(&c, ia__op_name(op), op, op == IA_OP_UNARY ? ia__act_name(act) : "f32");
    const ia_tensor *a = flags & E_VIEW         ? tc_padded(&c, 1, F32, ne[0], ne[1], ne[2], ne[3], range)
                         : flags & E_TRANSPOSED ? tc_perm(&c, 1, F32, ne, TRANSPOSE, NULL, range)
                                                : tc_tensor(&c, 1, F32, ne[0], ne[1], ne[2], ne[3], range);
    if (flags & E_INPLACE)
        tc_in_place(&c, 1);
    else
        tc_dst(&c, F32, ne[0], ne[1], ne[2], ne[3]);
    if (op == IA_OP_UNARY)
        c.node.p.act = act;
    else
        c.node.p.scale = scale;
    snprintf(c.note, sizeof c.note, "inputs within +-%g%s", range, op == IA_OP_UNARY ? "" : ", scaled");
    double *ad = dense(a), *want = alloc_want(&c);
    const int64_t n = nel(a);
    for (int64_t r = 0; r < n / ne[0]; r++) {
        const double *x = ad + r * ne[0];
        double *y = want + r * ne[0], mx = -INFINITY, sum = 0;
        for (int64_t i = 0; i < ne[0]; i++)
            mx = fmax(mx, x[i] * scale);
        for (int64_t i = 0; i < ne[0]; i++) {
            if (op == IA_OP_SCALE)
                y[i] = x[i] * scale;
            else if (op == IA_OP_UNARY)
                y[i] = act_ref(act, x[i]);
            else
                sum += (y[i] = exp(x[i] * scale - mx));
        }
        if (op == IA_OP_SOFTMAX)
            for (int64_t i = 0; i < ne[0]; i++)
                y[i] /= sum;
    }
    free(ad);
    /* scale: one f32 rounding. unary and softmax: exp, erf and tanh may be
     * vectorized approximations (relative ~2e-7 in the CPU kernels) and
     * softmax sums in f32; 1e-5 of the largest output. */
    c.tol = op == IA_OP_SCALE ? 1e-6 : 1e-5;
    /* gelu(-6) is -6e-9: measured against outputs of at least 1, the
     * inputs' scale, not against such a tiny largest output */
    c.floor = op == IA_OP_UNARY ? 1 : 0;
    run(&c);
}

static void cases_elementwise(void)
{
    static const int64_t shapes[][4] = {{7, 3, 1, 1}, {64, 17, 1, 1}, {1, 1, 1, 1}, {5, 3, 2, 1}};
    for (int s = 0; s < 4; s++) {
        case_unary_like(IA_OP_SCALE, 0, s % 2 ? -3.0f : 0.125f, shapes[s], 0, 2);
        for (int a = 0; a < 4; a++)
            case_unary_like(IA_OP_UNARY, unary_acts[a], 0, shapes[s], 0, 6);
        case_unary_like(IA_OP_SOFTMAX, 0, s % 2 ? 0.125f : 1.0f, shapes[s], 0, 3);
    }
    const int64_t ne[4] = {9, 4, 2, 1}, wide[4] = {1000, 2, 1, 1};
    case_unary_like(IA_OP_SCALE, 0, 0.5f, ne, E_VIEW, 2);
    case_unary_like(IA_OP_SCALE, 0, 0.5f, ne, E_INPLACE, 2);
    for (int a = 0; a < 4; a++) {
        case_unary_like(IA_OP_UNARY, unary_acts[a], 0, ne, E_TRANSPOSED, 6);
        case_unary_like(IA_OP_UNARY, unary_acts[a], 0, ne, E_INPLACE, 6);
    }
    /* softmax of values up to 200: exp overflows f32 unless the row's
     * maximum is subtracted first */
    case_unary_like(IA_OP_SOFTMAX, 0, 1.0f, wide, 0, 200);
    case_unary_like(IA_OP_SOFTMAX, 0, 1.0f, ne, E_TRANSPOSED, 200);
    case_unary_like(IA_OP_SOFTMAX, 0, 0.5f, ne, E_VIEW, 3);
    case_unary_like(IA_OP_SOFTMAX, 0, 1.0f, ne, E_INPLACE, 3);
}

/* glu ----------------------------------------------------------------------- */

static void case_glu(ia_act act, bool split, int64_t ne0, int64_t ne1, int64_t ne2, int flags)
{
    tcase c;
    char label[32];
    snprintf(label, sizeof label, "%s, %s", ia__act_name(act), split ? "[gate|up]" : "gate * up");
    tc_init(&c, "glu", IA_OP_GLU, label);
    const int64_t an = split ? 2 * ne0 : ne0;
    const ia_tensor *a = tc_in(&c, 1, F32, an, ne1, ne2, 1, 4, flags & E_VIEW);
    const ia_tensor *b = split ? NULL : tc_tensor(&c, 2, F32, ne0, ne1, ne2, 1, 2);
    if (flags & E_INPLACE)
        tc_in_place(&c, 1);
    else
        tc_dst(&c, F32, ne0, ne1, ne2, 1);
    c.node.p.act = act;
    double *ad = dense(a), *bd = b ? dense(b) : NULL, *want = alloc_want(&c);
    for (int64_t r = 0; r < ne1 * ne2; r++)
        for (int64_t i = 0; i < ne0; i++)
            want[r * ne0 + i] = act_ref(act, ad[r * an + i]) * (split ? ad[r * an + ne0 + i] : bd[r * ne0 + i]);
    free(ad), free(bd);
    c.tol = 1e-5; /* as unary, against outputs of at least 1 */
    c.floor = 1;
    run(&c);
}

static void cases_glu(void)
{
    for (int a = 0; a < 4; a++)
        for (int split = 0; split < 2; split++) {
            case_glu(unary_acts[a], split, 7, 3, 1, 0);
            case_glu(unary_acts[a], split, 64, 17, 1, 0);
            case_glu(unary_acts[a], split, 1, 1, 1, 0);
            case_glu(unary_acts[a], split, 5, 3, 2, E_VIEW);
            if (!split)
                case_glu(unary_acts[a], split, 9, 4, 1, E_INPLACE);
        }
}

/* rope ------------------------------------------------------------------------ */

/* inv_freq of pair i as Hugging Face computes it (modeling_rope_utils):
 * _compute_default_rope_parameters, then _compute_linear_scaling_rope_-
 * parameters or _compute_llama3_parameters, statement by statement. */
static double hf_inv_freq(const ia_rope_params *p, int i)
{
    const double base = p->theta, dim = p->n_dims;
    const double inv_freq = 1.0 / pow(base, (2.0 * i) / dim);
    if (p->scaling == IA_ROPE_SCALE_LINEAR)
        return inv_freq / p->factor;
    if (p->scaling != IA_ROPE_SCALE_LLAMA3)
        return inv_freq;
    const double factor = p->factor, low_freq_factor = p->low_freq_factor, high_freq_factor = p->high_freq_factor;
    const double old_context_len = p->original_max_position;
    const double low_freq_wavelen = old_context_len / low_freq_factor;
    const double high_freq_wavelen = old_context_len / high_freq_factor;
    const double wavelen = 2 * M_PI / inv_freq;
    double inv_freq_llama = wavelen > low_freq_wavelen ? inv_freq / factor : inv_freq;
    const double smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
    const double smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama;
    const bool is_medium_freq = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
    return is_medium_freq ? smoothed_inv_freq : inv_freq_llama;
}

static void case_rope(ia_rope_mode mode, ia_rope_scaling sc, int64_t hd, int n_dims, int64_t nh, int64_t nt,
                      const int32_t *pos, int flags)
{
    tcase c;
    static const char *const sn[] = {"", ", linear x4", ", llama3"};
    char label[32];
    snprintf(label, sizeof label, "%s%s%s", mode == IA_ROPE_NEOX ? "neox" : "normal", sn[sc],
             flags & E_FREQ ? ", freq factors" : "");
    tc_init(&c, "rope", IA_OP_ROPE, label);
    const ia_tensor *a = tc_in(&c, 1, F32, hd, nh, nt, 1, 1, flags & E_VIEW);
    const ia_tensor *pt = tc_tensor(&c, 2, I32, nt, 1, 1, 1, 0);
    int32_t maxpos = 0;
    for (int64_t t = 0; t < nt; t++) {
        set_i32(pt, t, pos[t]);
        maxpos = pos[t] > maxpos ? pos[t] : maxpos;
    }
    /* per-pair frequency factors in [1, 8] (llama.cpp's rope_freqs) */
    double ff[64];
    for (int i = 0; i < n_dims / 2; i++)
        ff[i] = 1;
    if (flags & E_FREQ) {
        const ia_tensor *ft = tc_tensor(&c, 3, F32, n_dims / 2, 1, 1, 1, 1);
        for (int i = 0; i < n_dims / 2; i++) {
            const float v = (float)(1 + 7 * fabs(urand()));
            memcpy((float *)ft->data + i, &v, sizeof v);
            ff[i] = v;
        }
    }
    if (flags & E_INPLACE)
        tc_in_place(&c, 1);
    else
        tc_dst(&c, F32, hd, nh, nt, 1);
    ia_rope_params *p = &c.node.p.rope;
    *p = (ia_rope_params){.mode = mode, .n_dims = n_dims, .theta = 10000.0f, .scaling = sc};
    if (sc == IA_ROPE_SCALE_LINEAR)
        p->factor = 4;
    if (sc == IA_ROPE_SCALE_LLAMA3) /* Llama 3.1's configuration */
        *p = (ia_rope_params){.mode = mode, .n_dims = n_dims, .theta = 500000.0f, .scaling = sc, .factor = 8,
                              .low_freq_factor = 1, .high_freq_factor = 4, .original_max_position = 8192};
    snprintf(c.note, sizeof c.note, "n_dims %d, theta %g, positions up to %d", n_dims, p->theta, (int)maxpos);
    double *ad = dense(a), *want = alloc_want(&c);
    memcpy(want, ad, (size_t)nel(a) * sizeof *want);
    const int half = n_dims / 2;
    for (int64_t t = 0; t < nt; t++)
        for (int64_t h = 0; h < nh; h++)
            for (int i = 0; i < half; i++) {
                const double th = pos[t] * (hf_inv_freq(p, i) / ff[i]);
                const int64_t base = (t * nh + h) * hd;
                const int64_t i0 = base + (mode == IA_ROPE_NEOX ? i : 2 * i);
                const int64_t i1 = base + (mode == IA_ROPE_NEOX ? i + half : 2 * i + 1);
                want[i0] = ad[i0] * cos(th) - ad[i1] * sin(th);
                want[i1] = ad[i0] * sin(th) + ad[i1] * cos(th);
            }
    free(ad);
    /* A backend computing the angle pos * inv_freq in f32 is off by a few
     * ulps of it, about 4 pos 2^-24 radians, and the output by as much
     * relative to its largest; 1e-5 besides for the rotation's rounding. */
    c.tol = 1e-5 + 4.0 * maxpos * 0x1.0p-24;
    run(&c);
}

static void cases_rope(void)
{
    static const int32_t pos7[] = {3, 0, 1, 17, 500, 2047, 4095}, pos3[] = {5, 6, 7}, pos1[] = {123};
    for (int mode = 0; mode < 2; mode++)
        for (int sc = 0; sc < 3; sc++) {
            case_rope(mode, sc, 64, 64, 4, 7, pos7, 0);
            case_rope(mode, sc, 64, 32, 3, 1, pos1, 0);
            case_rope(mode, sc, 10, 6, 2, 3, pos3, 0);
            case_rope(mode, sc, 128, 128, 2, 3, pos3, E_VIEW);
            case_rope(mode, sc, 16, 16, 4, 7, pos7, E_INPLACE);
            case_rope(mode, sc, 64, 64, 4, 7, pos7, E_FREQ);
            case_rope(mode, sc, 16, 16, 4, 7, pos7, E_FREQ | E_INPLACE);
        }
}

/* attention ----------------------------------------------------------------------- */

enum { KV_CONTIG, KV_CACHE, KV_CACHE_VT };

/* Relative-position buckets (IA_ATTN_BIAS_REL_BUCKET), written from
 * Hugging Face's MPNet relative_position_bucket; checked against values
 * that function gave (torch, transformers 4.47) in bucket_values(). */
static int ref_bucket(int64_t r, int num_buckets, int max_distance)
{
    const int half = num_buckets / 2, exact = half / 2;
    const int64_t n = llabs(r);
    int ret = r > 0 ? half : 0;
    if (n < exact)
        return ret + (int)n;
    const double large = exact + floor(log((double)n / exact) / log((double)max_distance / exact) * (half - exact) +
                                       1e-9);
    return ret + (int)fmin(large, half - 1);
}

static void bucket_values(void)
{
    static const int t32[][2] = {
        {0, 0}, {1, 17}, {-1, 1}, {7, 23}, {-7, 7}, {8, 24}, {-8, 8}, {11, 24}, {-11, 8}, {15, 25}, {-15, 9},
        {16, 26}, {-16, 10}, {17, 26}, {-17, 10}, {22, 26}, {-23, 11}, {31, 27}, {-31, 11}, {32, 28}, {-32, 12},
        {45, 28}, {-45, 12}, {63, 29}, {-64, 14}, {64, 30}, {90, 30}, {-91, 15}, {127, 31}, {-127, 15}, {128, 31},
        {-128, 15}, {129, 31}, {-129, 15}, {1000, 31}, {-1000, 15}};
    static const int t16[][2] = {{0, 0}, {1, 9}, {-1, 1}, {3, 11}, {-4, 4}, {5, 12}, {-6, 4}, {9, 13}, {-12, 5},
                                 {20, 14}, {-33, 7}, {63, 15}, {64, 15}, {-64, 7}, {65, 15}, {200, 15}, {-300, 7}};
    for (size_t i = 0; i < sizeof t32 / sizeof t32[0]; i++) {
        CHECK_MSG(ref_bucket(t32[i][0], 32, 128) == t32[i][1], "reference bucket of %d", t32[i][0]);
        CHECK_MSG(ia__attn_rel_bucket(t32[i][0], 32, 128) == t32[i][1], "ia__attn_rel_bucket(%d, 32, 128) = %d, not %d",
                  t32[i][0], ia__attn_rel_bucket(t32[i][0], 32, 128), t32[i][1]);
    }
    for (size_t i = 0; i < sizeof t16 / sizeof t16[0]; i++)
        CHECK_MSG(ia__attn_rel_bucket(t16[i][0], 16, 64) == t16[i][1], "ia__attn_rel_bucket(%d, 16, 64) = %d, not %d",
                  t16[i][0], ia__attn_rel_bucket(t16[i][0], 16, 64), t16[i][1]);
}

/* With buckets > 0: a relative-position bias table (H, buckets) in slot
 * 5, max_distance `md`; with buckets ALIBI_CASE: ALiBi slopes (H) there.
 * bias(h, r) in double for the references. */
enum { ALIBI_CASE = -1 };

static const ia_tensor *attn_bias_table(tcase *c, int64_t H, int buckets, int md)
{
    if (!buckets)
        return NULL;
    if (buckets == ALIBI_CASE) {
        /* slopes of either sign up to 0.05: biases up to 15 at 300
         * positions, scores whose f32 rounding stays inside the tolerance */
        c->node.p.attn.bias = IA_ATTN_BIAS_ALIBI;
        return tc_tensor(c, 5, F32, H, 1, 1, 1, 0.05);
    }
    const ia_tensor *t = tc_tensor(c, 5, F32, H, buckets, 1, 1, 2);
    c->node.p.attn.bias = IA_ATTN_BIAS_REL_BUCKET;
    c->node.p.attn.num_buckets = buckets;
    c->node.p.attn.max_distance = md;
    return t;
}

static double bias_ref(const double *tab, int64_t H, int64_t h, int64_t r, int buckets, int md)
{
    if (tab && buckets == ALIBI_CASE)
        return -tab[h] * (double)(r < 0 ? -r : r);
    return tab ? tab[(int64_t)ref_bucket(r, buckets, md) * H + h] : 0.0;
}

static const char *bias_label(int buckets)
{
    return buckets == ALIBI_CASE ? ", alibi" : buckets ? ", rel bias" : "";
}

/* The cases' masks (window 3) by name, and whether key position kp is
 * seen from query position qp under them. */
static const char *mask_label(ia_mask mask)
{
    return mask == IA_MASK_NONE ? "no mask" : mask == IA_MASK_CAUSAL ? "causal" : mask == IA_MASK_SLIDING ? "sliding 3"
                                                                                                        : "local 3";
}

static bool mask_seen(ia_mask mask, int64_t kp, int64_t qp)
{
    if (mask == IA_MASK_LOCAL)
        return kp >= qp - 3 && kp <= qp + 3;
    return mask == IA_MASK_NONE || (kp <= qp && (mask == IA_MASK_CAUSAL || kp > qp - 3));
}

static void case_attention(ia_dtype kvt, ia_mask mask, int64_t hd, int64_t H, int64_t Hk, int64_t nq, int64_t pos_q0,
                           int64_t nkv, int layout, int buckets)
{
    tcase c;
    char label[48];
    snprintf(label, sizeof label, "%s kv, %s%s", ia__dtype_name(kvt), mask_label(mask), bias_label(buckets));
    tc_init(&c, "attention", IA_OP_ATTENTION, label);
    const ia_tensor *q = tc_in(&c, 1, F32, hd, H, nq, 1, 2, layout == KV_CACHE_VT);
    const int64_t ne[4] = {hd, Hk, nkv, 1}, nctx = nkv + 5;
    const ia_tensor *k, *v;
    if (layout == KV_CONTIG) {
        k = tc_tensor(&c, 2, kvt, hd, Hk, nkv, 1, 1);
        v = tc_tensor(&c, 3, kvt, hd, Hk, nkv, 1, 1);
    } else { /* a cache of (hd, n_ctx, Hk) seen as (hd, Hk, nkv) */
        static const int heads_outer[4] = {0, 2, 1, 3}, vt[4] = {1, 2, 0, 3};
        const int64_t cache[4] = {hd, nctx, Hk, 1}, cache_t[4] = {nctx, hd, Hk, 1};
        k = tc_perm(&c, 2, kvt, ne, heads_outer, cache, 1);
        /* V transposed as ggml keeps it without flash attention: (n_ctx, hd, Hk) */
        v = layout == KV_CACHE ? tc_perm(&c, 3, kvt, ne, heads_outer, cache, 1)
                               : tc_perm(&c, 3, kvt, ne, vt, cache_t, 1);
    }
    tc_dst(&c, F32, hd, H, nq, 1);
    c.node.p.attn =
        (ia_attn_params){.mask = mask, .window = 3, .scale = (float)(1 / sqrt((double)hd)), .pos_q0 = pos_q0};
    snprintf(c.note, sizeof c.note, "%d heads / %d kv heads, %d queries from position %d, %d keys", (int)H, (int)Hk,
             (int)nq, (int)pos_q0, (int)nkv);
    const int md = buckets == 32 ? 128 : 20;
    const ia_tensor *bt = attn_bias_table(&c, H, buckets, md);
    double *qd = dense(q), *kd = dense(k), *vd = dense(v), *want = alloc_want(&c), *bd = bt ? dense(bt) : NULL;
    double *s = malloc((size_t)nkv * sizeof *s);
    const double scale = c.node.p.attn.scale;
    for (int64_t i = 0; i < nq; i++)
        for (int64_t h = 0; h < H; h++) {
            const int64_t g = h / (H / Hk), qp = pos_q0 + i;
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < nkv; j++) {
                const bool seen = mask_seen(mask, j, qp);
                s[j] = -INFINITY;
                if (!seen)
                    continue;
                double d = 0;
                for (int64_t e = 0; e < hd; e++)
                    d += qd[(i * H + h) * hd + e] * kd[(j * Hk + g) * hd + e];
                s[j] = d * scale + bias_ref(bd, H, h, j - qp, buckets, md);
                mx = fmax(mx, s[j]);
            }
            for (int64_t j = 0; j < nkv; j++)
                sum += (s[j] = s[j] == -INFINITY ? 0 : exp(s[j] - mx));
            for (int64_t e = 0; e < hd; e++) {
                double o = 0;
                for (int64_t j = 0; j < nkv; j++)
                    o += s[j] * vd[(j * Hk + g) * hd + e];
                want[(i * H + h) * hd + e] = o / sum;
            }
        }
    free(qd), free(kd), free(vd), free(s), free(bd);
    /* f32 K and V: products and sums in f32, 1e-5 of the largest output.
     * f16 K and V: a backend may also round q and the probabilities to f16
     * for f16 products, as flash-attention kernels do: 2^-11 relative. */
    c.tol = kvt == F16 ? 5e-4 : 1e-5;
    run(&c);
}

static void cases_attention(void)
{
    /* groups of 1, 2, 4 and 3 query heads per key/value head */
    static const int64_t heads[][2] = {{4, 4}, {4, 2}, {4, 1}, {6, 2}};
    static const int64_t qs[][3] = {{1, 9, 10}, {7, 5, 14}}; /* queries, first position, keys */
    for (int t = 0; t < 2; t++)
        for (int m = 0; m <= IA_MASK_LOCAL; m++) {
            int layout = 0;
            for (int h = 0; h < 4; h++)
                for (int qi = 0; qi < 2; qi++, layout++)
                    case_attention(t ? F16 : F32, (ia_mask)m, 16, heads[h][0], heads[h][1], qs[qi][0], qs[qi][1],
                                   qs[qi][2], layout % 3, 0);
            case_attention(t ? F16 : F32, (ia_mask)m, 64, 8, 2, 7, 33, 40, KV_CACHE_VT, 0);
            case_attention(t ? F16 : F32, (ia_mask)m, 128, 8, 2, 7, 290, 300, KV_CACHE, 0);
            /* a head size that is no multiple of 8; a group of 5 (4 + 1 per call) */
            case_attention(t ? F16 : F32, (ia_mask)m, 12, 10, 2, 7, 5, 14, KV_CACHE, 0);
            /* relative-position bias: keys up to 300 positions from the
             * queries (past max_distance 128), groups of 1 and 3, and
             * 16 buckets up to 20 */
            case_attention(t ? F16 : F32, (ia_mask)m, 16, 4, 4, 7, 5, 14, KV_CONTIG, 16);
            case_attention(t ? F16 : F32, (ia_mask)m, 64, 6, 2, 9, 290, 300, t ? KV_CACHE : KV_CONTIG, 32);
            case_attention(t ? F16 : F32, (ia_mask)m, 12, 10, 2, 7, 150, 160, KV_CACHE_VT, 32);
            /* ALiBi slopes: keys up to 300 positions away */
            case_attention(t ? F16 : F32, (ia_mask)m, 16, 4, 4, 7, 5, 14, KV_CONTIG, ALIBI_CASE);
            case_attention(t ? F16 : F32, (ia_mask)m, 64, 6, 2, 9, 290, 300, KV_CACHE, ALIBI_CASE);
        }
}

/* Packed sequences (src3 offsets) of lens[0..n_seqs), self-attention: Q,
 * K, V separate, or (fused) the three column blocks of one (T, 3 H hd)
 * matrix, BERT's fused projection. */
static void case_attention_seqs(ia_mask mask, int64_t hd, int64_t H, int64_t Hk, const int *lens, int n_seqs,
                                bool fused, int buckets)
{
    tcase c;
    char label[48];
    snprintf(label, sizeof label, "%s, seqs%s%s", mask_label(mask), fused ? ", fused qkv" : "", bias_label(buckets));
    tc_init(&c, "attention", IA_OP_ATTENTION, label);
    int64_t T = 0;
    for (int s = 0; s < n_seqs; s++)
        T += lens[s];
    snprintf(c.note, sizeof c.note, "%d heads / %d kv heads, %d sequences, %d tokens", (int)H, (int)Hk, n_seqs, (int)T);
    const ia_tensor *q, *k, *v;
    if (fused) { /* parent (hd, 3H, T): Q heads 0..H-1, K heads H.., V heads 2H.. */
        const int64_t ne[4] = {hd, H, T, 1}, pne[4] = {hd, 3 * H, T, 1};
        q = tc_view(&c, 1, F32, ne, pne, NULL, NULL, 2);
        for (int part = 1; part <= 2; part++) {
            c.s[1 + part] = c.s[1];
            c.s[1 + part].alias = 1;
            c.s[1 + part].off += (size_t)(part * H * hd) * sizeof(float);
            c.s[1 + part].v.data = c.s[1].buf + c.s[1 + part].off;
        }
        k = &c.s[2].v;
        v = &c.s[3].v;
    } else {
        q = tc_tensor(&c, 1, F32, hd, H, T, 1, 2);
        k = tc_tensor(&c, 2, F32, hd, Hk, T, 1, 1);
        v = tc_tensor(&c, 3, F32, hd, Hk, T, 1, 1);
    }
    const ia_tensor *off = tc_tensor(&c, 4, IA_DTYPE_I32, n_seqs + 1, 1, 1, 1, 1);
    for (int s = 0, o = 0; s <= n_seqs; o += s < n_seqs ? lens[s] : 0, s++)
        set_i32(off, s, o);
    tc_dst(&c, F32, hd, H, T, 1);
    c.node.p.attn = (ia_attn_params){.mask = mask, .window = 3, .scale = (float)(1 / sqrt((double)hd))};
    const int md = buckets == 32 ? 128 : 20;
    const ia_tensor *bt = attn_bias_table(&c, H, buckets, md);
    double *qd = dense(q), *kd = dense(k), *vd = dense(v), *want = alloc_want(&c), *bd = bt ? dense(bt) : NULL;
    double *sc = malloc((size_t)T * sizeof *sc);
    const double scale = c.node.p.attn.scale;
    for (int s = 0, first = 0; s < n_seqs; first += lens[s], s++)
        for (int64_t i = first; i < first + lens[s]; i++)
            for (int64_t h = 0; h < H; h++) {
                const int64_t g = h / (H / Hk), qp = i - first;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = first; j < first + lens[s]; j++) {
                    const int64_t kp = j - first;
                    const bool seen = mask_seen(mask, kp, qp);
                    sc[j] = -INFINITY;
                    if (!seen)
                        continue;
                    double d = 0;
                    for (int64_t e = 0; e < hd; e++)
                        d += qd[(i * H + h) * hd + e] * kd[(j * Hk + g) * hd + e];
                    sc[j] = d * scale + bias_ref(bd, H, h, kp - qp, buckets, md);
                    mx = fmax(mx, sc[j]);
                }
                for (int64_t j = first; j < first + lens[s]; j++)
                    sum += (sc[j] = sc[j] == -INFINITY ? 0 : exp(sc[j] - mx));
                for (int64_t e = 0; e < hd; e++) {
                    double o = 0;
                    for (int64_t j = first; j < first + lens[s]; j++)
                        o += sc[j] * vd[(j * Hk + g) * hd + e];
                    want[(i * H + h) * hd + e] = o / sum;
                }
            }
    free(qd), free(kd), free(vd), free(sc), free(bd);
    c.tol = 1e-5;
    run(&c);
}

static void cases_attention_seqs(void)
{
    static const int lens[][4] = {{5, 1, 9, 0}, {1, 0, 17, 2}, {40, 0, 0, 0}}; /* an empty sequence too */
    for (int m = 0; m <= IA_MASK_LOCAL; m++)
        for (int l = 0; l < 3; l++) {
            case_attention_seqs((ia_mask)m, 16, 4, 4, lens[l], l == 2 ? 1 : 4, true, 0);
            case_attention_seqs((ia_mask)m, 16, 4, 2, lens[l], l == 2 ? 1 : 4, false, 0);
            case_attention_seqs((ia_mask)m, 16, 4, 4, lens[l], l == 2 ? 1 : 4, true, 16);
            case_attention_seqs((ia_mask)m, 16, 4, 2, lens[l], l == 2 ? 1 : 4, false, 32);
        }
    case_attention_seqs(IA_MASK_NONE, 32, 12, 12, lens[0], 4, true, 0); /* BERT's shape */
    /* MPNet's: relative-position bias, sequences with tokens up to 199
     * apart (past max_distance 128) packed with short ones; head sizes
     * the tuned kernels take (16, 64, 128) and one they do not (24) */
    static const int longs[][4] = {{200, 3, 0, 141}, {130, 17, 1, 0}};
    case_attention_seqs(IA_MASK_NONE, 64, 4, 4, longs[0], 4, true, 32);
    case_attention_seqs(IA_MASK_NONE, 64, 4, 4, longs[0], 4, false, 32);
    case_attention_seqs(IA_MASK_NONE, 16, 3, 3, longs[1], 4, true, 32);
    case_attention_seqs(IA_MASK_NONE, 128, 2, 2, longs[1], 3, true, 32);
    case_attention_seqs(IA_MASK_NONE, 24, 2, 2, longs[1], 4, true, 32);
    case_attention_seqs(IA_MASK_CAUSAL, 64, 4, 2, longs[1], 4, false, 32);
    /* Jina BERT's: ALiBi, fused and not, long and short sequences */
    case_attention_seqs(IA_MASK_NONE, 64, 4, 4, longs[0], 4, true, ALIBI_CASE);
    case_attention_seqs(IA_MASK_NONE, 16, 3, 3, longs[1], 4, false, ALIBI_CASE);
    case_attention_seqs(IA_MASK_LOCAL, 16, 4, 4, lens[0], 4, true, ALIBI_CASE);
}

/* get_rows -------------------------------------------------------------------------- */

/* Row length for dtype t: `plain` for plain types, two blocks for block types. */
static int64_t row_elems(ia_dtype t, int64_t plain)
{
    return ia__dtype(t)->block == 1 ? plain : 2 * ia__dtype(t)->block;
}

/* x8: the table's rows interleaved in groups of 8 (tensor/dtype.h) */
static void case_get_rows(ia_dtype t, int64_t nid, bool views, bool x8)
{
    tcase c;
    tc_init(&c, "get_rows", IA_OP_GET_ROWS, ia__dtype_name(t));
    const int64_t ne0 = row_elems(t, 7), n_tab = x8 ? 16 : 13;
    const double range = t == I32 ? 1000 : 1;
    const ia_tensor *tab = tc_in(&c, 1, t, ne0, n_tab, 1, 1, range, views);
    const ia_tensor *ids = tc_in(&c, 2, I32, nid, 1, 1, 1, 0, views);
    for (int64_t i = 0; i < nid; i++)
        set_i32(ids, i, (int32_t)(i == 1 ? n_tab - 1 : (i * 5 + 3) % n_tab));
    tc_dst(&c, F32, ne0, nid, 1, 1);
    double *td = dense(tab), *want = alloc_want(&c);
    double *idd = dense(ids);
    for (int64_t i = 0; i < nid; i++)
        memcpy(want + i * ne0, td + (int64_t)idd[i] * ne0, (size_t)ne0 * sizeof *want);
    free(td), free(idd);
    if (x8) {
        CHECK(ia__dtype_interleave8(t, tab->data, n_tab, ne0));
        c.node.flags = IA_NODE_W_INTERLEAVED8;
    }
    /* a copy for plain types (exact); dequantizing is a multiply (and add)
     * per element, which a backend may fuse: one f32 rounding */
    c.tol = ia__dtype(t)->quantized ? 1e-6 : 0;
    run(&c);
}

static void cases_get_rows(void)
{
    static const ia_dtype types[] = {F32, F16, BF16, I32, IA_DTYPE_I8, IA_DTYPE_Q8_0, IA_DTYPE_Q4_0,
                                     IA_DTYPE_Q4_1, IA_DTYPE_Q4_K, IA_DTYPE_Q5_K, IA_DTYPE_Q6_K};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        case_get_rows(types[i], 1, false, false);
        case_get_rows(types[i], 3, false, false);
        case_get_rows(types[i], 17, false, false);
        case_get_rows(types[i], 5, true, false);
        if (ia__dtype_interleavable(types[i]))
            case_get_rows(types[i], 17, false, true);
    }
}

/* cpy ---------------------------------------------------------------------------------- */

enum { C_SRC_T = 1, C_DST_CACHE = 2 };

static void case_cpy(ia_dtype st, ia_dtype dt, int64_t ne1, int64_t ne2, int flags)
{
    tcase c;
    char label[32];
    snprintf(label, sizeof label, "%s -> %s", ia__dtype_name(st), ia__dtype_name(dt));
    tc_init(&c, "cpy", IA_OP_CPY, label);
    const int64_t ne0 = IA_MAX(row_elems(st, 7), row_elems(dt, 7));
    const int64_t ne[4] = {ne0, ne1, ne2, 1};
    const double range = dt == I32 || dt == IA_DTYPE_I8 ? 100 : 1;
    const ia_tensor *a = flags & C_SRC_T ? tc_perm(&c, 1, st, ne, TRANSPOSE, NULL, range)
                                          : tc_tensor(&c, 1, st, ne0, ne1, ne2, 1, range);
    if (flags & C_DST_CACHE) { /* rows of a (ne0, n_ctx, ne1) cache seen as (ne0, ne1, ne2) */
        static const int heads_outer[4] = {0, 2, 1, 3};
        const int64_t cache[4] = {ne0, ne2 + 4, ne1, 1};
        tc_perm(&c, 0, dt, ne, heads_outer, cache, 1);
        memset(c.s[0].buf + LEAD, 0xFF, c.s[0].bytes - LEAD - TAIL);
    } else {
        tc_dst(&c, dt, ne0, ne1, ne2, 1);
    }
    double *ad = dense(a), *want = alloc_want(&c);
    const int64_t n = nel(a);
    memcpy(want, ad, (size_t)n * sizeof *want);
    /* The tolerance is the error of dst's own reference conversion of
     * these very values (round to nearest even for f16 / bf16, ggml's
     * reference quantizers for block types, truncation for integers): a
     * plain type has one right answer, a block type's quantizer may differ
     * but not be worse than the reference's by more than a quarter. */
    const ia_dtype_traits *tr = ia__dtype(dt);
    float *f = malloc((size_t)ne0 * sizeof *f), *g = malloc((size_t)ne0 * sizeof *g);
    unsigned char *q = malloc(ia__dtype_row_bytes(dt, ne0));
    double mx = 0, worst = 0;
    for (int64_t r = 0; r < n / ne0; r++) {
        for (int64_t i = 0; i < ne0; i++)
            f[i] = (float)ad[r * ne0 + i];
        tr->from_f32(f, q, ne0);
        tr->to_f32(q, g, ne0);
        for (int64_t i = 0; i < ne0; i++) {
            mx = fmax(mx, fabs(ad[r * ne0 + i]));
            worst = fmax(worst, fabs(g[i] - ad[r * ne0 + i]));
        }
    }
    free(ad), free(f), free(g), free(q);
    c.tol = (tr->quantized ? 1.25 : 1.0) * (mx > 0 ? worst / mx : worst) + 1e-6;
    run(&c);
}

static void cases_cpy(void)
{
    static const ia_dtype pairs[][2] = {
        {F32, F32}, {F32, F16}, {F32, BF16}, {F16, F32}, {BF16, F32}, {F16, F16}, {F32, I32}, {IA_DTYPE_I8, F32},
        {F32, IA_DTYPE_Q8_0}, {F32, IA_DTYPE_Q4_0}, {F32, IA_DTYPE_Q4_1}, {F32, IA_DTYPE_Q4_K},
        {F32, IA_DTYPE_Q5_K}, {F32, IA_DTYPE_Q6_K}, {IA_DTYPE_Q8_0, F32}, {IA_DTYPE_Q4_K, F32},
        {IA_DTYPE_Q6_K, F32}, {F16, IA_DTYPE_Q8_0}, {IA_DTYPE_Q4_0, F16},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const ia_dtype s = pairs[i][0], d = pairs[i][1];
        case_cpy(s, d, 1, 1, 0);
        case_cpy(s, d, 3, 1, 0);
        case_cpy(s, d, 17, 1, 0);
        case_cpy(s, d, 3, 2, C_DST_CACHE);
        if (!ia__dtype(s)->quantized)
            case_cpy(s, d, 4, 1, C_SRC_T);
    }
}

/* a graph of several nodes ----------------------------------------------------------- */

/* rmsnorm -> matmul (f16 weights, bias) -> glu [gate|up] with silu: each
 * node reads the previous one's dst, in one graph_compute call. */
static void graph_chain(void)
{
    enum { D = 32, F = 24, M = 5 };
    tcase c; /* holds the host tensors: x, weight, W, bias; the intermediates are made per backend */
    tc_init(&c, "graph", IA_OP_RMSNORM, "rmsnorm>matmul>glu");
    const ia_tensor *x = tc_tensor(&c, 1, F32, D, M, 1, 1, 2), *w = tc_tensor(&c, 2, F32, D, 1, 1, 1, 1);
    const ia_tensor *W = tc_tensor(&c, 3, F16, D, 2 * F, 1, 1, 0.3), *bias = tc_tensor(&c, 4, F32, 2 * F, 1, 1, 1, 0.2);
    double *xd = dense(x), *wd = dense(w), *Wd = dense(W), *bd = dense(bias);
    double want[F * M], h[D], y[2 * F];
    for (int m = 0; m < M; m++) {
        double ms = 0;
        for (int i = 0; i < D; i++)
            ms += xd[m * D + i] * xd[m * D + i] / D;
        for (int i = 0; i < D; i++)
            h[i] = xd[m * D + i] / sqrt(ms + 1e-6f) * wd[i];
        for (int j = 0; j < 2 * F; j++) {
            y[j] = bd[j];
            for (int i = 0; i < D; i++)
                y[j] += h[i] * Wd[j * D + i];
        }
        for (int j = 0; j < F; j++)
            want[m * F + j] = act_ref(IA_ACT_SILU, y[j]) * y[F + j];
    }
    free(xd), free(wd), free(Wd), free(bd);
    trow *r = row_for("graph", c.dtype);
    r->n++;
    for (int k = 0; k < n_insts; k++) {
        const be_inst *b = &insts[k];
        if (!b->ctx)
            continue;
        void *buf[7] = {0};
        ia_tensor t[7];
        const size_t bytes[7] = {0, D * M * 4, D * 4, D * 2 * F * 2, 2 * F * 4, D * M * 4 + 2 * F * M * 4, F * M * 4};
        bool placed = true;
        for (int i = 1; i < 7; i++) {
            buf[i] = b->be->iface.buf_alloc(b->ctx, bytes[i]);
            placed = placed && buf[i] && (i > 4 || !be_upload(b, buf[i], c.s[i].v.data, bytes[i]));
        }
        for (int i = 1; i < 5; i++) {
            t[i] = c.s[i].v;
            t[i].data = buf[i];
        }
        t[5] = ia__tensor(F32, D, M, 1, 1, buf[5]); /* h, then y behind it in the same buffer */
        t[0] = ia__tensor(F32, 2 * F, M, 1, 1, buf[5] ? (char *)buf[5] + D * M * 4 : NULL);
        t[6] = ia__tensor(F32, F, M, 1, 1, buf[6]);
        ia_node nodes[3] = {
            {.op = IA_OP_RMSNORM, .dst = &t[5], .src = {&t[1], NULL, &t[2]}, .p.eps = 1e-6f},
            {.op = IA_OP_MATMUL, .dst = &t[0], .src = {&t[5], &t[3], &t[4]}, .p.act = IA_ACT_NONE},
            {.op = IA_OP_GLU, .dst = &t[6], .src = {&t[0]}, .p.act = IA_ACT_SILU},
        };
        bool sup = placed && b->be->iface.supports && b->be->iface.graph_compute;
        for (int i = 0; i < 3 && sup; i++)
            sup = b->be->iface.supports(b->ctx, &nodes[i]);
        if (!sup) {
            r->r[k].unsup++;
            CHECK_MSG(!b->is_cpu, "the cpu backend must compute the chain");
        } else {
            ia_status rc = b->be->iface.graph_compute(b->ctx, nodes, 3);
            CHECK_MSG(rc == IA_OK, "%s: chain -> %d (%s)", b->be->name, rc, ia_errmsg());
            float got[F * M];
            double err = INFINITY;
            if (!rc && !be_download(b, got, buf[6], sizeof got)) {
                double mx = 0, worst = 0;
                for (int i = 0; i < F * M; i++) {
                    mx = fmax(mx, fabs(want[i]));
                    worst = isnan(got[i]) ? INFINITY : fmax(worst, fabs(got[i] - want[i]));
                }
                err = worst / mx;
            }
            const double tol = 1e-5; /* f32 norm, f16 weights on f32 activations, silu: as each op alone */
            CHECK_MSG(err <= tol, "%s: chain error %.3g > %.3g", b->be->name, err, tol);
            r->r[k].fail += !(err <= tol);
            if (err / tol >= r->r[k].ratio) {
                r->r[k].ratio = err / tol;
                r->r[k].err = err;
                r->r[k].tol = tol;
            }
        }
        for (int i = 1; i < 7; i++)
            if (buf[i])
                b->be->iface.buf_free(b->ctx, buf[i]);
    }
    tc_free(&c);
}

/* A prepared matmul whose output is scratch, then the LayerNorm that adds
 * it to the residual in place: what BERT's layers do, and what a backend
 * may fuse into one pass (the CPU does). On every backend that prepares
 * weights, over 600 rows (several row chunks) against double. */
static void fused_matmul_layernorm(void)
{
    enum { K = 48, N = 40, M = 600 };
    tcase c;
    tc_init(&c, "graph", IA_OP_MATMUL, "matmul>layernorm, fused");
    const ia_tensor *x = tc_tensor(&c, 1, F32, K, M, 1, 1, 1), *W = tc_tensor(&c, 2, F32, K, N, 1, 1, 0.3);
    const ia_tensor *bias = tc_tensor(&c, 3, F32, N, 1, 1, 1, 0.2), *res = tc_tensor(&c, 4, F32, N, M, 1, 1, 2);
    float gbuf[2][N]; /* LayerNorm gamma, beta */
    for (int i = 0; i < N; i++)
        gbuf[0][i] = 1.0f + 0.01f * (float)i, gbuf[1][i] = 0.1f - 0.005f * (float)i;
    double *xd = dense(x), *Wd = dense(W), *bd = dense(bias), *rd = dense(res);
    double *want = malloc(sizeof(double) * N * M), y[N];
    for (int m = 0; m < M; m++) {
        double mean = 0, var = 0;
        for (int j = 0; j < N; j++) {
            y[j] = bd[j] + rd[m * N + j];
            for (int k = 0; k < K; k++)
                y[j] += xd[m * K + k] * Wd[j * K + k];
            mean += y[j] / N;
        }
        for (int j = 0; j < N; j++)
            var += (y[j] - mean) * (y[j] - mean) / N;
        for (int j = 0; j < N; j++)
            want[m * N + j] = (y[j] - mean) / sqrt(var + 1e-12) * gbuf[0][j] + gbuf[1][j];
    }
    free(xd), free(Wd), free(bd), free(rd);
    trow *r = row_for("graph", c.dtype);
    r->n++;
    for (int k = 0; k < n_insts; k++) {
        const be_inst *b = &insts[k];
        if (!b->ctx)
            continue;
        if (!b->be->iface.weight_prepare) {
            r->r[k].unsup++;
            CHECK_MSG(!b->is_cpu, "the cpu backend prepares weights");
            continue;
        }
        const size_t bytes[6] = {M * K * 4, N * 4, N * M * 4, N * M * 4, N * 4, N * 4};
        const void *from[6] = {x->data, bias->data, res->data, NULL, gbuf[0], gbuf[1]};
        void *buf[6] = {0};
        bool placed = true;
        for (int i = 0; i < 6; i++) {
            buf[i] = b->be->iface.buf_alloc(b->ctx, bytes[i]);
            placed = placed && buf[i] && (!from[i] || !be_upload(b, buf[i], from[i], bytes[i]));
        }
        ia_tensor tx = ia__tensor(F32, K, M, 1, 1, buf[0]), tb = ia__tensor(F32, N, 1, 1, 1, buf[1]);
        ia_tensor tres = ia__tensor(F32, N, M, 1, 1, buf[2]), ttmp = ia__tensor(F32, N, M, 1, 1, buf[3]);
        ia_tensor tg = ia__tensor(F32, N, 1, 1, 1, buf[4]), tbeta = ia__tensor(F32, N, 1, 1, 1, buf[5]);
        ia_tensor tw = *W; /* prepared from the host copy */
        void *prep = NULL;
        ia_status rc = placed ? b->be->iface.weight_prepare(b->ctx, &tw, &tb, NULL, &prep) : IA_ERR_NOMEM;
        CHECK_MSG(rc == IA_OK, "%s: weight_prepare: %s", b->be->name, ia_errmsg());
        tw.data = NULL;
        tw.extra = prep;
        ia_node nodes[2] = {
            {.op = IA_OP_MATMUL, .flags = IA_NODE_DST_SCRATCH, .dst = &ttmp, .src = {&tx, &tw, &tb}},
            {.op = IA_OP_LAYERNORM, .dst = &tres, .src = {&tres, &ttmp, &tg, &tbeta}, .p.eps = 1e-12f},
        };
        if (!rc)
            rc = b->be->iface.graph_compute(b->ctx, nodes, 2);
        CHECK_MSG(rc == IA_OK, "%s: fused pair -> %d (%s)", b->be->name, rc, ia_errmsg());
        float *got = malloc(sizeof(float) * N * M);
        double err = INFINITY;
        if (!rc && !be_download(b, got, buf[2], bytes[2])) {
            double mx = 0, worst = 0;
            for (int i = 0; i < N * M; i++) {
                mx = fmax(mx, fabs(want[i]));
                worst = isnan(got[i]) ? INFINITY : fmax(worst, fabs(got[i] - want[i]));
            }
            err = worst / mx;
        }
        const double tol = 1e-5; /* f32 GEMM over K = 48, LayerNorm statistics in f32 */
        CHECK_MSG(err <= tol, "%s: fused pair error %.3g > %.3g", b->be->name, err, tol);
        r->r[k].fail += !(err <= tol);
        if (err / tol >= r->r[k].ratio) {
            r->r[k].ratio = err / tol;
            r->r[k].err = err;
            r->r[k].tol = tol;
        }
        free(got);
        if (prep)
            b->be->iface.weight_release(b->ctx, prep);
        for (int i = 0; i < 6; i++)
            if (buf[i])
                b->be->iface.buf_free(b->ctx, buf[i]);
    }
    free(want);
    tc_free(&c);
}

/* malformed nodes ------------------------------------------------------------------------ */

/* Each must be refused with IA_ERR_INVALID naming "node <i>" and the op,
 * and supports() must say no. Their tensors point at host memory no
 * backend reads: the check comes first. */
static void malformed(const be_inst *b)
{
    static float mem[4096];
    static int32_t ids_mem[4] = {0, 1, 2, 3};
    ia_tensor x = ia__tensor(F32, 64, 3, 1, 1, mem), W = ia__tensor(F32, 32, 5, 1, 1, mem);
    ia_tensor W64 = ia__tensor(F32, 64, 5, 1, 1, mem), d53 = ia__tensor(F32, 5, 3, 1, 1, mem);
    ia_tensor d43 = ia__tensor(F32, 4, 3, 1, 1, mem), w63 = ia__tensor(F32, 63, 1, 1, 1, mem);
    ia_tensor a73 = ia__tensor(F32, 7, 3, 1, 1, mem), b32 = ia__tensor(F32, 3, 2, 1, 1, mem);
    ia_tensor d33 = ia__tensor(F32, 3, 3, 1, 1, mem), q = ia__tensor(F32, 16, 3, 2, 1, mem);
    ia_tensor k = ia__tensor(F32, 16, 2, 4, 1, mem), q4 = ia__tensor(F32, 16, 4, 7, 1, mem);
    ia_tensor posf = ia__tensor(F32, 2, 1, 1, 1, mem), posi = ia__tensor(I32, 7, 1, 1, 1, ids_mem);
    ia_tensor ids3 = ia__tensor(I32, 3, 1, 1, 1, ids_mem), tab = ia__tensor(F32, 8, 4, 1, 1, mem);
    ia_tensor d82 = ia__tensor(F32, 8, 2, 1, 1, mem), Wq = ia__tensor(IA_DTYPE_Q4_0, 32, 5, 1, 1, mem);
    ia_tensor x48 = ia__tensor(F32, 48, 3, 1, 1, mem);
    Wq.ne[0] = 48; /* not whole blocks of 32 */
    const struct {
        const char *what;
        ia_node n;
    } bad[] = {
        {"matmul K differs", {.op = IA_OP_MATMUL, .dst = &d53, .src = {&x, &W}}},
        {"matmul dst", {.op = IA_OP_MATMUL, .dst = &d43, .src = {&x, &W64}}},
        {"matmul q4_0 rows not whole blocks", {.op = IA_OP_MATMUL, .dst = &d53, .src = {&x48, &Wq}}},
        {"matmul interleaved f32 weights",
         {.op = IA_OP_MATMUL, .flags = IA_NODE_W_INTERLEAVED8, .dst = &d53, .src = {&x, &W64}}},
        {"interleaved add", {.op = IA_OP_ADD, .flags = IA_NODE_W_INTERLEAVED8, .dst = &a73, .src = {&a73, &a73}}},
        {"get_rows interleaved f32 table",
         {.op = IA_OP_GET_ROWS, .flags = IA_NODE_W_INTERLEAVED8, .dst = &d82, .src = {&tab, &ids3}}},
        {"layernorm weight", {.op = IA_OP_LAYERNORM, .dst = &x, .src = {&x, NULL, &w63}, .p.eps = 1e-5f}},
        {"rmsnorm eps 0", {.op = IA_OP_RMSNORM, .dst = &x, .src = {&x}, .p.eps = 0}},
        {"add no broadcast", {.op = IA_OP_ADD, .dst = &a73, .src = {&a73, &b32}}},
        {"glu odd split", {.op = IA_OP_GLU, .dst = &d33, .src = {&a73}, .p.act = IA_ACT_SILU}},
        {"unary none", {.op = IA_OP_UNARY, .dst = &a73, .src = {&a73}, .p.act = IA_ACT_NONE}},
        {"softmax dst", {.op = IA_OP_SOFTMAX, .dst = &d33, .src = {&a73}, .p.scale = 1}},
        {"rope f32 positions",
         {.op = IA_OP_ROPE, .dst = &q, .src = {&q, &posf}, .p.rope = {.n_dims = 16, .theta = 1e4f}}},
        {"rope odd n_dims",
         {.op = IA_OP_ROPE, .dst = &q4, .src = {&q4, &posi}, .p.rope = {.n_dims = 3, .theta = 1e4f}}},
        {"rope frequency factors not n_dims / 2",
         {.op = IA_OP_ROPE, .dst = &q4, .src = {&q4, &posi, &a73}, .p.rope = {.n_dims = 16, .theta = 1e4f}}},
        {"attention heads", {.op = IA_OP_ATTENTION, .dst = &q, .src = {&q, &k, &k}, .p.attn = {.scale = 0.25f}}},
        {"attention past the keys",
         {.op = IA_OP_ATTENTION, .dst = &q4, .src = {&q4, &k, &k}, .p.attn = {.mask = IA_MASK_CAUSAL, .scale = 0.25f}}},
        {"attention bias table of other heads",
         {.op = IA_OP_ATTENTION, .dst = &q4, .src = {&q4, &q4, &q4},
          .p.attn = {.scale = 0.25f, .bias = IA_ATTN_BIAS_REL_BUCKET, .num_buckets = 4, .max_distance = 8,
                     .bias_table = &tab}}},
        {"attention odd buckets",
         {.op = IA_OP_ATTENTION, .dst = &q4, .src = {&q4, &q4, &q4},
          .p.attn = {.scale = 0.25f, .bias = IA_ATTN_BIAS_REL_BUCKET, .num_buckets = 3, .max_distance = 8,
                     .bias_table = &tab}}},
        {"attention local window < 0",
         {.op = IA_OP_ATTENTION, .dst = &q4, .src = {&q4, &q4, &q4},
          .p.attn = {.mask = IA_MASK_LOCAL, .window = -1, .scale = 0.25f}}},
        {"attention alibi slopes of other heads",
         {.op = IA_OP_ATTENTION, .dst = &q4, .src = {&q4, &q4, &q4},
          .p.attn = {.scale = 0.25f, .bias = IA_ATTN_BIAS_ALIBI, .bias_table = &tab}}},
        {"attention bias table without a kind",
         {.op = IA_OP_ATTENTION, .dst = &q4, .src = {&q4, &q4, &q4}, .p.attn = {.scale = 0.25f, .bias_table = &tab}}},
        {"get_rows dst", {.op = IA_OP_GET_ROWS, .dst = &d82, .src = {&tab, &ids3}}},
        {"cpy shapes", {.op = IA_OP_CPY, .dst = &d33, .src = {&a73}}},
        {"unknown op", {.op = IA_OP_COUNT, .dst = &x, .src = {&x}}},
        {"missing src", {.op = IA_OP_ADD, .dst = &a73, .src = {&a73}}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const ia_node *n = &bad[i].n;
        CHECK_MSG(!b->be->iface.supports(b->ctx, n), "%s: supports(%s) is true", b->be->name, bad[i].what);
        const ia_status rc = b->be->iface.graph_compute(b->ctx, n, 1);
        CHECK_MSG(rc == IA_ERR_INVALID, "%s: %s -> %d, not IA_ERR_INVALID", b->be->name, bad[i].what, rc);
        const char *op = n->op < IA_OP_COUNT ? ia__op_name(n->op) : "node 0";
        CHECK_MSG(strstr(ia_errmsg(), "node 0") && strstr(ia_errmsg(), op), "%s: %s: message \"%s\" lacks node 0 / %s",
                  b->be->name, bad[i].what, ia_errmsg(), op);
    }
    /* the second node of two is the bad one */
    ia_node two[2] = {{.op = IA_OP_SCALE, .dst = &a73, .src = {&a73}, .p.scale = 1}, bad[0].n};
    CHECK(b->be->iface.graph_compute(b->ctx, two, 2) == IA_ERR_INVALID);
    CHECK_MSG(strstr(ia_errmsg(), "node 1") && strstr(ia_errmsg(), "matmul"), "%s: \"%s\"", b->be->name, ia_errmsg());

    /* ids out of range: found at compute time, in the backend's memory */
    const int32_t bad_ids[][3] = {{0, 4, 1}, {2, -1, 0}};
    for (int t = 0; t < 2; t++) {
        void *tb = b->be->iface.buf_alloc(b->ctx, 8 * 4 * 4), *ib = b->be->iface.buf_alloc(b->ctx, 12);
        void *db = b->be->iface.buf_alloc(b->ctx, 8 * 3 * 4);
        CHECK(tb && ib && db);
        if (tb && ib && db && !be_upload(b, tb, mem, 8 * 4 * 4) && !be_upload(b, ib, bad_ids[t], 12)) {
            ia_tensor tt = ia__tensor(F32, 8, 4, 1, 1, tb), it = ia__tensor(I32, 3, 1, 1, 1, ib);
            ia_tensor dt = ia__tensor(F32, 8, 3, 1, 1, db);
            ia_node n = {.op = IA_OP_GET_ROWS, .dst = &dt, .src = {&tt, &it}};
            if (!b->be->iface.supports(b->ctx, &n)) { /* a backend without get_rows (the example plugin) */
                CHECK(b->be->iface.graph_compute(b->ctx, &n, 1) == IA_ERR_UNSUPPORTED);
                CHECK(!b->is_cpu);
            } else {
                CHECK(b->be->iface.graph_compute(b->ctx, &n, 1) == IA_ERR_INVALID);
                CHECK_MSG(strstr(ia_errmsg(), t ? "-1" : "4") && strstr(ia_errmsg(), "get_rows") &&
                              strstr(ia_errmsg(), "node 0"),
                          "%s: \"%s\" should name the id", b->be->name, ia_errmsg());
            }
        }
        b->be->iface.buf_free(b->ctx, tb);
        b->be->iface.buf_free(b->ctx, ib);
        b->be->iface.buf_free(b->ctx, db);
    }
}

/* What the CPU backend says it does not compute (ops-impl.h) is refused
 * by supports() and by graph_compute with IA_ERR_UNSUPPORTED naming the
 * node: outputs overlapping inputs (other than exactly in place for a
 * row-wise op), misaligned f32 data, a non-contiguous matmul dst. */
static void cpu_refusals(const be_inst *b)
{
    float *m = b->be->iface.buf_alloc(b->ctx, 4096 * sizeof(float));
    CHECK(m != NULL);
    if (!m)
        return;
    memset(m, 0, 4096 * sizeof(float));
    ia_tensor x = ia__tensor(F32, 8, 4, 1, 1, m), W = ia__tensor(F32, 8, 8, 1, 1, m + 1024);
    ia_tensor y_on_x = ia__tensor(F32, 8, 4, 1, 1, m + 8); /* x's rows 1.. */
    ia_tensor odd = ia__tensor(F32, 8, 4, 1, 1, (char *)(m + 2048) + 2), ok = ia__tensor(F32, 8, 4, 1, 1, m + 3072);
    ia_tensor strided_dst = ia__tensor(F32, 8, 4, 1, 1, m + 3072);
    strided_dst.nb[1] = 64;
    ia_tensor self_overlap = ok;
    self_overlap.nb[1] = 16; /* rows of 32 bytes 16 apart */
    const struct {
        const char *what;
        ia_node n;
    } no[] = {
        {"matmul into its input", {.op = IA_OP_MATMUL, .dst = &y_on_x, .src = {&x, &W}}},
        {"add shifted one row over its input", {.op = IA_OP_ADD, .dst = &y_on_x, .src = {&x, &x}}},
        {"misaligned f32", {.op = IA_OP_SCALE, .dst = &ok, .src = {&odd}, .p.scale = 1}},
        {"matmul into a strided dst", {.op = IA_OP_MATMUL, .dst = &strided_dst, .src = {&x, &W}}},
        {"dst rows overlapping each other", {.op = IA_OP_SCALE, .dst = &self_overlap, .src = {&x}, .p.scale = 1}},
    };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        CHECK_MSG(!b->be->iface.supports(b->ctx, &no[i].n), "cpu supports %s", no[i].what);
        const ia_status rc = b->be->iface.graph_compute(b->ctx, &no[i].n, 1);
        CHECK_MSG(rc == IA_ERR_UNSUPPORTED && strstr(ia_errmsg(), "node 0"), "cpu: %s -> %d (%s)", no[i].what, rc,
                  ia_errmsg());
    }
    /* and in place on exactly the same view is fine for a row-wise op */
    ia_node in_place = {.op = IA_OP_ADD, .dst = &x, .src = {&x, &x}};
    CHECK(b->be->iface.supports(b->ctx, &in_place));
    b->be->iface.buf_free(b->ctx, m);
}

/* main ------------------------------------------------------------------------------------ */

static void print_table(void)
{
    printf("\n%-10s | %-26s | %6s", "op", "dtype", "shapes");
    for (int k = 0; k < n_insts; k++)
        printf(" | %-40s", insts[k].be->name);
    printf("\n%-10s | %-26s | %6s", "", "", "");
    for (int k = 0; k < n_insts; k++)
        printf(" | %-40s", "error (tolerance) result");
    printf("\n-----------+----------------------------+-------");
    for (int k = 0; k < n_insts; k++)
        printf("-+-----------------------------------------");
    printf("\n");
    for (int i = 0; i < n_rows; i++) {
        const trow *r = &rows[i];
        printf("%-10s | %-26s | %6d", r->op, r->dtype, r->n);
        for (int k = 0; k < n_insts; k++) {
            const be_result *br = &r->r[k];
            char res[48], cell[64];
            if (!insts[k].ctx)
                snprintf(res, sizeof res, "no device");
            else if (br->fail)
                snprintf(res, sizeof res, "FAIL (%d of %d)", br->fail, r->n);
            else if (br->unsup == r->n)
                snprintf(res, sizeof res, "not supported");
            else if (br->unsup)
                snprintf(res, sizeof res, "ok, %d not supported", br->unsup);
            else
                snprintf(res, sizeof res, "ok");
            if (br->unsup == r->n || !insts[k].ctx)
                snprintf(cell, sizeof cell, "%s", res);
            else
                snprintf(cell, sizeof cell, "%8.2e (%7.1e) %s", br->err, br->tol, res);
            printf(" | %-40s", cell);
        }
        printf("\n");
    }
    printf("error: max |got - want| / max |want|; for matmul on i8 and block weights the RMS error / RMS\n"
           "output (and every element within 3e-2 of the largest). tolerance: that of the row's worst case.\n\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    verbose = getenv("IA_TEST_OPS_VERBOSE") && !strcmp(getenv("IA_TEST_OPS_VERBOSE"), "1");
    const int nb = ia__backend_count();
    bool have_cpu = false;
    for (int i = 0; i < nb && n_insts < MAX_BE; i++) {
        be_inst *in = &insts[n_insts++];
        in->be = ia__backend_at(i);
        in->is_cpu = !strcmp(in->be->name, "cpu");
        have_cpu |= in->is_cpu;
        if (!in->be->iface.device_count || in->be->iface.device_count() < 1) {
            printf("backend %s: no device here, not tested\n", in->be->name);
            CHECK_MSG(!in->is_cpu, "the cpu backend has no device");
            continue;
        }
        ia_status rc = in->be->iface.open(0, 2, "fp32", false, &in->ctx);
        CHECK_MSG(rc == IA_OK, "opening %s: %s", in->be->name, ia_errmsg());
        if (rc)
            in->ctx = NULL;
        else
            printf("backend %s: %s, device 0 (%s), 2 threads, %s\n", in->be->name,
                   in->be->iface.device_name ? in->be->iface.device_name(0) : "?", in->be->name,
                   in->be->iface.precision ? in->be->iface.precision(in->ctx) : "fp32");
    }
    CHECK_MSG(have_cpu, "no cpu backend registered");
    /* IA_TEST_OPS_REQUIRE=NAME: a run for that backend (the CUDA plugin's),
     * which must be registered; without a device the run is skipped (77),
     * not passed on the CPU alone. */
    const char *need = getenv("IA_TEST_OPS_REQUIRE");
    if (need && *need) {
        int k = 0;
        while (k < n_insts && strcmp(insts[k].be->name, need))
            k++;
        CHECK_MSG(k < n_insts, "IA_TEST_OPS_REQUIRE=%s: no such backend registered", need);
        if (k < n_insts && !insts[k].ctx && insts[k].be->iface.device_count() < 1) {
            printf("backend %s has no device here: skipped\n", need);
            return 77;
        }
    }

    cases_matmul();
    cases_norm();
    cases_binary();
    cases_elementwise();
    cases_glu();
    cases_rope();
    bucket_values();
    cases_attention();
    cases_attention_seqs();
    cases_get_rows();
    cases_cpy();
    graph_chain();
    fused_matmul_layernorm();
    for (int k = 0; k < n_insts; k++) {
        if (!insts[k].ctx)
            continue;
        if (insts[k].be->iface.supports && insts[k].be->iface.graph_compute) {
            malformed(&insts[k]);
            if (insts[k].is_cpu)
                cpu_refusals(&insts[k]);
        }
        else
            CHECK_MSG(!insts[k].is_cpu, "the cpu backend has no supports / graph_compute");
    }
    print_table();
    for (int k = 0; k < n_insts; k++)
        if (insts[k].ctx)
            insts[k].be->iface.close(insts[k].ctx);
    return test_summary("test_ops");
}
