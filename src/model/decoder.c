/*
 * Llama-family decoders from GGUF files, as graphs of engine-core ops:
 * token embeddings, then per layer RMSNorm, Q/K/V projections (with biases
 * for qwen2), rotary positions, attention over the session's KV cache
 * (causal, or sliding-window), the output projection and residual, RMSNorm
 * and a SwiGLU feed-forward network with its residual; a final RMSNorm and
 * the vocabulary projection (the token table itself when tied).
 *
 * GGUF's llama Q and K rows are permuted so that rotary pairs are adjacent
 * (llama.cpp's convert_hf_to_gguf.py does it): "normal" rope. qwen2 keeps
 * Hugging Face's order: neox rope.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/decoder.h"
#include "model/gguf-impl.h"

typedef struct dec_layer {
    ia_tensor attn_norm, wq, wk, wv, wo, bq, bk, bv, ffn_norm, w_gate, w_up, w_down;
    bool has_bias;
} dec_layer;

struct ia_decoder {
    ia_decoder_config cfg;
    ia_gguf *g;
    const ia_backend *be;
    void *bctx;
    ia_tensor tok_embd, out_norm, output;
    dec_layer *layers;
    void **bufs; /* backend copies of the weights (device memory only) */
    size_t n_bufs;
};

/* config ------------------------------------------------------------------ */

static ia_status get_i(const ia_gguf *g, const char *arch, const char *key, int64_t lo, int64_t hi, bool need,
                       int dflt, int *out)
{
    char k[96];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (!ia__gguf_find(g, k) && !need) {
        *out = dflt;
        return IA_OK;
    }
    int64_t v;
    ia_status rc = ia__gguf_get_int(g, k, lo, hi, &v);
    *out = (int)v;
    return rc;
}

static ia_status get_f(const ia_gguf *g, const char *arch, const char *key, double dflt, double *out)
{
    char k[96];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (!ia__gguf_find(g, k)) {
        *out = dflt;
        return IA_OK;
    }
    return ia__gguf_get_float(g, k, out);
}

static ia_status read_config(const ia_gguf *g, ia_decoder_config *c)
{
    const char *path = ia__gguf_path(g), *arch;
    size_t len;
    ia_status rc = ia__gguf_get_str(g, "general.architecture", &arch, &len);
    if (rc)
        return rc;
    if (len >= sizeof c->arch)
        len = sizeof c->arch - 1;
    memcpy(c->arch, arch, len);
    c->arch[len] = '\0';
    const bool qwen2 = !strcmp(c->arch, "qwen2");
    if (strcmp(c->arch, "llama") && !qwen2 && strcmp(c->arch, "mistral"))
        return ia__error(IA_ERR_UNSUPPORTED, "%s: general.architecture \"%s\" is not a decoder this build runs "
                         "(llama, qwen2, mistral)", path, c->arch);
    const char *a = c->arch;
    double eps, theta, factor = 0;
    if ((rc = get_i(g, a, "block_count", 1, 1024, true, 0, &c->n_layer)) ||
        (rc = get_i(g, a, "embedding_length", 1, 1 << 20, true, 0, &c->n_embd)) ||
        (rc = get_i(g, a, "feed_forward_length", 1, 1 << 22, true, 0, &c->n_ff)) ||
        (rc = get_i(g, a, "attention.head_count", 1, 4096, true, 0, &c->n_head)) ||
        (rc = get_i(g, a, "attention.head_count_kv", 1, 4096, false, c->n_head, &c->n_head_kv)) ||
        (rc = get_i(g, a, "context_length", 1, 1 << 24, true, 0, &c->n_ctx_train)) ||
        (rc = get_i(g, a, "attention.sliding_window", 0, 1 << 24, false, 0, &c->sliding_window)) ||
        (rc = get_f(g, a, "attention.layer_norm_rms_epsilon", 1e-5, &eps)) ||
        (rc = get_f(g, a, "rope.freq_base", 10000.0, &theta)) ||
        (rc = get_f(g, a, "rope.scaling.factor", 0, &factor)))
        return rc;
    if (c->n_embd % c->n_head || c->n_head % c->n_head_kv)
        return ia__error(IA_ERR_FORMAT, "%s: %d heads do not divide embedding_length %d, or %d kv heads do not "
                         "divide them", path, c->n_head, c->n_embd, c->n_head_kv);
    c->head_dim = c->n_embd / c->n_head;
    int n_rot;
    if ((rc = get_i(g, a, "rope.dimension_count", 2, c->head_dim, false, c->head_dim, &n_rot)))
        return rc;
    if (!(eps > 0 && eps < 1) || !(theta > 0))
        return ia__error(IA_ERR_FORMAT, "%s: rms epsilon %g or rope.freq_base %g out of range", path, eps, theta);
    c->norm_eps = (float)eps;
    c->rope = (ia_rope_params){.mode = qwen2 ? IA_ROPE_NEOX : IA_ROPE_NORMAL, .n_dims = n_rot, .theta = (float)theta};
    const char *scaling;
    char key[96];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    if (ia__gguf_find(g, key) && !ia__gguf_get_str(g, key, &scaling, &len) && len == 6 &&
        !memcmp(scaling, "linear", 6) && factor > 0) {
        c->rope.scaling = IA_ROPE_SCALE_LINEAR;
        c->rope.factor = (float)factor;
    } else if (ia__gguf_find(g, key) && !(len == 4 && !memcmp(scaling, "none", 4))) {
        return ia__error(IA_ERR_UNSUPPORTED, "%s: %s \"%.*s\" (supported: none, linear)", path, key, (int)len,
                         scaling);
    }
    /* the vocabulary: the token table's rows */
    const ia_gguf_tensor_info *t = ia__gguf_tensor_find(g, "token_embd.weight");
    if (!t)
        return ia__error(IA_ERR_NOT_FOUND, "%s: tensor token_embd.weight is missing", path);
    c->n_vocab = (int)t->ne[1];
    c->tied_embeddings = !ia__gguf_tensor_find(g, "output.weight");
    return IA_OK;
}

/* weights ----------------------------------------------------------------- */

/* Tensor `name` checked against [ne0, ne1] (ne1 0: a vector), in its
 * stored dtype: the file's bytes themselves on host memory, else a copy in
 * the backend's. */
static ia_status weight(ia_decoder *d, const char *name, int64_t ne0, int64_t ne1, bool optional, ia_tensor *out)
{
    const ia_gguf_tensor_info *t = ia__gguf_tensor_find(d->g, name);
    if (!t && optional) {
        memset(out, 0, sizeof *out);
        return IA_OK;
    }
    ia_status rc = ia__gguf_get_tensor(d->g, name, out);
    if (rc)
        return rc;
    if (out->ne[0] != ne0 || out->ne[1] != (ne1 ? ne1 : 1) || out->ne[2] != 1 || out->ne[3] != 1)
        return ia__error(IA_ERR_FORMAT, "%s: tensor %s is [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
                         ia__gguf_path(d->g), name, (long long)out->ne[0], (long long)out->ne[1],
                         (long long)out->ne[2], (long long)out->ne[3], (long long)ne0, (long long)(ne1 ? ne1 : 1));
    if (!ne1 && out->dtype != IA_DTYPE_F32)
        return ia__error(IA_ERR_UNSUPPORTED, "%s: tensor %s is %s; norm weights and biases must be f32",
                         ia__gguf_path(d->g), name, ia__dtype_name(out->dtype));
    if (!d->be->iface.upload)
        return IA_OK; /* host memory: used where it lies */
    const size_t bytes = ia__tensor_nbytes(out);
    void *buf = d->be->iface.buf_alloc(d->bctx, bytes);
    void **l = buf ? ia__realloc(d->bufs, (d->n_bufs + 1) * sizeof *l) : NULL;
    if (!l) {
        if (buf)
            d->be->iface.buf_free(d->bctx, buf);
        return ia__error(IA_ERR_NOMEM, "backend %s: out of memory for %s (%zu bytes)", d->be->name, name, bytes);
    }
    d->bufs = l;
    d->bufs[d->n_bufs++] = buf;
    rc = d->be->iface.upload(d->bctx, buf, out->data, bytes);
    out->data = buf;
    return rc;
}

void ia__decoder_free(ia_decoder *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_bufs; i++)
        d->be->iface.buf_free(d->bctx, d->bufs[i]);
    ia__free(d->bufs);
    ia__free(d->layers);
    ia__gguf_close(d->g);
    ia__free(d);
}

ia_status ia__decoder_load_gguf(const char *path, const ia_backend *be, void *bctx, ia_decoder **out)
{
    *out = NULL;
    ia_decoder *d = ia__calloc(1, sizeof *d);
    if (!d)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    d->be = be;
    d->bctx = bctx;
    ia_status rc = ia__gguf_open(path, &d->g);
    if (!rc)
        rc = read_config(d->g, &d->cfg);
    const ia_decoder_config *c = &d->cfg;
    const int64_t E = c->n_embd, Ekv = (int64_t)c->n_head_kv * c->head_dim, F = c->n_ff, V = c->n_vocab;
    if (!rc && !(d->layers = ia__calloc((size_t)c->n_layer, sizeof *d->layers)))
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = weight(d, "token_embd.weight", E, V, false, &d->tok_embd);
    if (!rc)
        rc = weight(d, "output_norm.weight", E, 0, false, &d->out_norm);
    if (!rc)
        rc = c->tied_embeddings ? (d->output = d->tok_embd, IA_OK) : weight(d, "output.weight", E, V, false, &d->output);
    for (int l = 0; l < c->n_layer && !rc; l++) {
        dec_layer *L = &d->layers[l];
        const struct {
            const char *name;
            ia_tensor *t;
            int64_t ne0, ne1;
            bool optional;
        } w[] = {
            {"attn_norm.weight", &L->attn_norm, E, 0, false}, {"attn_q.weight", &L->wq, E, E, false},
            {"attn_k.weight", &L->wk, E, Ekv, false},         {"attn_v.weight", &L->wv, E, Ekv, false},
            {"attn_output.weight", &L->wo, E, E, false},      {"attn_q.bias", &L->bq, E, 0, true},
            {"attn_k.bias", &L->bk, Ekv, 0, true},            {"attn_v.bias", &L->bv, Ekv, 0, true},
            {"ffn_norm.weight", &L->ffn_norm, E, 0, false},   {"ffn_gate.weight", &L->w_gate, E, F, false},
            {"ffn_up.weight", &L->w_up, E, F, false},         {"ffn_down.weight", &L->w_down, F, E, false},
        };
        for (size_t i = 0; i < IA_ARRAY_LEN(w) && !rc; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s", l, w[i].name);
            rc = weight(d, name, w[i].ne0, w[i].ne1, w[i].optional, w[i].t);
        }
        L->has_bias = L->bq.data && L->bk.data && L->bv.data;
        if (!rc && !L->has_bias && (L->bq.data || L->bk.data || L->bv.data))
            rc = ia__error(IA_ERR_FORMAT, "%s: layer %d has biases for some of Q, K, V but not all", path, l);
    }
    if (rc) {
        ia__decoder_free(d);
        return rc;
    }
    *out = d;
    return IA_OK;
}

const ia_decoder_config *ia__decoder_config(const ia_decoder *d) { return &d->cfg; }
const struct ia_gguf *ia__decoder_gguf(const ia_decoder *d) { return d->g; }

/* sessions ---------------------------------------------------------------- */

struct ia_session {
    const ia_decoder *d;
    int n_ctx, pos, cap;   /* positions allowed, filled, allocated */
    float **k, **v;        /* per layer (head_dim, n_head_kv, cap) f32 in backend memory */
    int32_t *tokens;       /* (n_ctx) the tokens at positions 0..pos */
};

static size_t kv_layer_bytes(const ia_decoder_config *c, int positions)
{
    return (size_t)positions * (size_t)c->n_head_kv * (size_t)c->head_dim * sizeof(float);
}

ia_status ia__session_new(const ia_decoder *d, int n_ctx, ia_session **out)
{
    *out = NULL;
    if (n_ctx < 0)
        return ia__error(IA_ERR_INVALID, "session: n_ctx %d must be >= 0", n_ctx);
    ia_session *s = ia__calloc(1, sizeof *s);
    if (s) {
        s->k = ia__calloc((size_t)d->cfg.n_layer, sizeof *s->k);
        s->v = ia__calloc((size_t)d->cfg.n_layer, sizeof *s->v);
    }
    if (!s || !s->k || !s->v) {
        ia__session_free(s);
        return ia__error(IA_ERR_NOMEM, "out of memory");
    }
    s->d = d;
    s->n_ctx = n_ctx ? n_ctx : d->cfg.n_ctx_train;
    if (!(s->tokens = ia__malloc((size_t)s->n_ctx * sizeof *s->tokens))) {
        ia__session_free(s);
        return ia__error(IA_ERR_NOMEM, "out of memory for a session of %d positions", s->n_ctx);
    }
    *out = s;
    return IA_OK;
}

void ia__session_free(ia_session *s)
{
    if (!s)
        return;
    const ia_decoder *d = s->d;
    for (int l = 0; d && l < d->cfg.n_layer; l++) {
        if (s->k && s->k[l])
            d->be->iface.buf_free(d->bctx, s->k[l]);
        if (s->v && s->v[l])
            d->be->iface.buf_free(d->bctx, s->v[l]);
    }
    ia__free(s->k);
    ia__free(s->v);
    ia__free(s->tokens);
    ia__free(s);
}

int ia__session_pos(const ia_session *s) { return s->pos; }
const int32_t *ia__session_tokens(const ia_session *s) { return s->tokens; }
int ia__session_n_ctx(const ia_session *s) { return s->n_ctx; }
size_t ia__session_kv_bytes(const ia_session *s) { return 2 * (size_t)s->d->cfg.n_layer * kv_layer_bytes(&s->d->cfg, s->cap); }

void ia__session_truncate(ia_session *s, int pos)
{
    if (pos >= 0 && pos < s->pos)
        s->pos = pos;
}

/* Room for `need` positions: the caches grow by whole blocks, the filled
 * part copied over by the backend (one cpy node per cache). */
static ia_status kv_reserve(ia_session *s, int need)
{
    if (need <= s->cap)
        return IA_OK;
    const ia_decoder *d = s->d;
    const ia_decoder_config *c = &d->cfg;
    int cap = (need + IA_KV_BLOCK - 1) / IA_KV_BLOCK * IA_KV_BLOCK;
    if (cap > s->n_ctx)
        cap = s->n_ctx;
    const int L = c->n_layer;
    float **nk = ia__calloc((size_t)L, sizeof *nk), **nv = ia__calloc((size_t)L, sizeof *nv);
    ia_node *cp = ia__calloc((size_t)(2 * L), sizeof *cp);
    ia_tensor *ts = ia__calloc((size_t)(4 * L), sizeof *ts);
    ia_status rc = nk && nv && cp && ts ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory");
    for (int l = 0; l < L && !rc; l++) {
        nk[l] = d->be->iface.buf_alloc(d->bctx, kv_layer_bytes(c, cap));
        nv[l] = d->be->iface.buf_alloc(d->bctx, kv_layer_bytes(c, cap));
        if (!nk[l] || !nv[l])
            rc = ia__error(IA_ERR_NOMEM, "backend %s: out of memory for a KV cache of %d positions", d->be->name,
                           cap);
    }
    int n = 0;
    for (int l = 0; l < L && !rc && s->pos > 0; l++)
        for (int kv = 0; kv < 2; kv++) {
            ia_tensor *src = &ts[4 * l + 2 * kv], *dst = src + 1;
            *src = ia__tensor(IA_DTYPE_F32, c->head_dim, c->n_head_kv, s->pos, 1, kv ? s->v[l] : s->k[l]);
            *dst = ia__tensor(IA_DTYPE_F32, c->head_dim, c->n_head_kv, s->pos, 1, kv ? nv[l] : nk[l]);
            cp[n++] = (ia_node){.op = IA_OP_CPY, .dst = dst, .src = {src}};
        }
    if (!rc && n)
        rc = ia__graph_run(d->be, d->bctx, cp, n, NULL);
    float **drop_k = rc ? nk : s->k, **drop_v = rc ? nv : s->v;
    for (int l = 0; drop_k && drop_v && l < L; l++) {
        if (drop_k[l])
            d->be->iface.buf_free(d->bctx, drop_k[l]);
        if (drop_v[l])
            d->be->iface.buf_free(d->bctx, drop_v[l]);
    }
    if (!rc) {
        ia__free(s->k);
        ia__free(s->v);
        s->k = nk;
        s->v = nv;
        s->cap = cap;
    } else {
        ia__free(nk);
        ia__free(nv);
    }
    ia__free(cp);
    ia__free(ts);
    return rc;
}

/* forward ----------------------------------------------------------------- */

enum { LAYER_NODES = 12, SEQ_NODES = 4, SEQ_TENSORS = 9, SCRATCH = 11 };

/* One forward of n_seq sequences together: ns[i] tokens tok[i] at the next
 * positions of session ss[i] (distinct sessions, caches reserved). The
 * matmuls run on all rows at once; rotary positions, cache writes and
 * attention per sequence. Logits of the concatenated rows rows[0..nl) go to
 * logits (nl, n_vocab). */
static ia_status eval_seqs(ia_session *const *ss, const int32_t *const *tok, const int *ns, int n_seq,
                           const int32_t *rows, int nl, float *logits)
{
    const ia_decoder *d = ss[0]->d;
    const ia_decoder_config *c = &d->cfg;
    const struct ia_backend_i *op = &d->be->iface;
    void *bc = d->bctx;
    const int64_t E = c->n_embd, hd = c->head_dim, H = c->n_head, Hk = c->n_head_kv, F = c->n_ff, V = c->n_vocab;
    int n = 0;
    for (int i = 0; i < n_seq; i++)
        n += ns[i];

    /* scratch: x, h (E); q, att (E); k, v (Hk hd); gate, up (F); ids,
     * positions, logit rows; logits; the logit rows' states */
    const size_t fsz = sizeof(float);
    const size_t sizes[SCRATCH] = {(size_t)(n * E) * fsz, (size_t)(n * E) * fsz, (size_t)(n * E) * fsz,
                                   (size_t)(n * E) * fsz, (size_t)(n * Hk * hd) * fsz, (size_t)(n * Hk * hd) * fsz,
                                   (size_t)(n * F) * fsz, (size_t)(n * F) * fsz,
                                   (size_t)(2 * n + nl) * sizeof(int32_t), (size_t)(nl ? nl * V : 1) * fsz,
                                   (size_t)(nl ? nl * E : 1) * fsz};
    void *buf[SCRATCH] = {0};
    ia_status rc = IA_OK;
    for (int i = 0; i < SCRATCH && !rc; i++)
        if (!(buf[i] = op->buf_alloc(bc, sizes[i])))
            rc = ia__error(IA_ERR_NOMEM, "backend %s: out of memory for a batch of %d tokens", d->be->name, n);
    int32_t *host_in = ia__malloc((size_t)(2 * n + nl) * sizeof(int32_t));
    const int n_nodes = 1 + (LAYER_NODES + SEQ_NODES * n_seq) * c->n_layer + 3;
    ia_node *g = ia__calloc((size_t)n_nodes, sizeof *g);
    ia_tensor *t = ia__calloc((size_t)(17 + SEQ_TENSORS * n_seq * c->n_layer), sizeof *t);
    if (!rc && (!host_in || !g || !t))
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    if (!rc) {
        for (int i = 0, r = 0; i < n_seq; i++)
            for (int j = 0; j < ns[i]; j++, r++) {
                host_in[r] = tok[i][j];
                host_in[n + r] = ss[i]->pos + j;
            }
        memcpy(host_in + 2 * n, rows, (size_t)nl * sizeof *rows);
        if (op->upload)
            rc = op->upload(bc, buf[8], host_in, sizes[8]);
        else
            memcpy(buf[8], host_in, sizes[8]);
    }
    if (!rc) {
        ia_tensor *x = &t[0], *h = &t[1], *q = &t[2], *att2 = &t[3], *k = &t[4], *v = &t[5], *gate = &t[6],
                  *up = &t[7], *ids = &t[8], *pos = &t[9], *lrows = &t[10], *xl = &t[11], *hl = &t[12],
                  *lg = &t[13];
        *x = ia__tensor(IA_DTYPE_F32, E, n, 1, 1, buf[0]);
        *h = ia__tensor(IA_DTYPE_F32, E, n, 1, 1, buf[1]);
        *q = ia__tensor(IA_DTYPE_F32, E, n, 1, 1, buf[2]);
        *att2 = ia__tensor(IA_DTYPE_F32, E, n, 1, 1, buf[3]);
        *k = ia__tensor(IA_DTYPE_F32, Hk * hd, n, 1, 1, buf[4]);
        *v = ia__tensor(IA_DTYPE_F32, Hk * hd, n, 1, 1, buf[5]);
        *gate = ia__tensor(IA_DTYPE_F32, F, n, 1, 1, buf[6]);
        *up = ia__tensor(IA_DTYPE_F32, F, n, 1, 1, buf[7]);
        *ids = ia__tensor(IA_DTYPE_I32, n, 1, 1, 1, buf[8]);
        *pos = ia__tensor(IA_DTYPE_I32, n, 1, 1, 1, (int32_t *)buf[8] + n);
        *lrows = ia__tensor(IA_DTYPE_I32, nl, 1, 1, 1, (int32_t *)buf[8] + 2 * n);
        *xl = ia__tensor(IA_DTYPE_F32, E, nl, 1, 1, buf[10]);
        *hl = *xl;
        *lg = ia__tensor(IA_DTYPE_F32, V, nl, 1, 1, buf[9]);
        ia_node *nd = g;
        *nd++ = (ia_node){.op = IA_OP_GET_ROWS, .dst = x, .src = {&d->tok_embd, ids}};
        ia_tensor *st = &t[17];
        for (int l = 0; l < c->n_layer; l++) {
            const dec_layer *L = &d->layers[l];
            const ia_tensor *bq = L->has_bias ? &L->bq : NULL, *bk = L->has_bias ? &L->bk : NULL,
                            *bv = L->has_bias ? &L->bv : NULL;
            *nd++ = (ia_node){.op = IA_OP_RMSNORM, .dst = h, .src = {x, NULL, &L->attn_norm}, .p.eps = c->norm_eps};
            *nd++ = (ia_node){.op = IA_OP_MATMUL, .dst = q, .src = {h, &L->wq, bq}};
            *nd++ = (ia_node){.op = IA_OP_MATMUL, .dst = k, .src = {h, &L->wk, bk}};
            *nd++ = (ia_node){.op = IA_OP_MATMUL, .dst = v, .src = {h, &L->wv, bv}};
            for (int i = 0, r = 0; i < n_seq; r += ns[i], i++) {
                ia_session *s = ss[i];
                const int m = ns[i];
                ia_tensor *q3 = st++, *k3 = st++, *v3 = st++, *kc = st++, *vc = st++, *kall = st++, *vall = st++,
                          *att = st++, *p = st++;
                const size_t row = (size_t)r * Hk * hd;
                *q3 = ia__tensor(IA_DTYPE_F32, hd, H, m, 1, (float *)buf[2] + (size_t)r * E);
                *att = ia__tensor(IA_DTYPE_F32, hd, H, m, 1, (float *)buf[3] + (size_t)r * E);
                *k3 = ia__tensor(IA_DTYPE_F32, hd, Hk, m, 1, (float *)buf[4] + row);
                *v3 = ia__tensor(IA_DTYPE_F32, hd, Hk, m, 1, (float *)buf[5] + row);
                *p = ia__tensor(IA_DTYPE_I32, m, 1, 1, 1, (int32_t *)buf[8] + n + r);
                /* this batch's rows of the caches, and all rows so far */
                *kc = ia__tensor(IA_DTYPE_F32, hd, Hk, m, 1, s->k[l] + (size_t)s->pos * Hk * hd);
                *vc = ia__tensor(IA_DTYPE_F32, hd, Hk, m, 1, s->v[l] + (size_t)s->pos * Hk * hd);
                *kall = ia__tensor(IA_DTYPE_F32, hd, Hk, s->pos + m, 1, s->k[l]);
                *vall = ia__tensor(IA_DTYPE_F32, hd, Hk, s->pos + m, 1, s->v[l]);
                const ia_attn_params ap = {.mask = c->sliding_window ? IA_MASK_SLIDING : IA_MASK_CAUSAL,
                                           .window = c->sliding_window, .scale = 1.0f / sqrtf((float)hd),
                                           .pos_q0 = s->pos};
                *nd++ = (ia_node){.op = IA_OP_ROPE, .dst = q3, .src = {q3, p}, .p.rope = c->rope};
                *nd++ = (ia_node){.op = IA_OP_ROPE, .dst = kc, .src = {k3, p}, .p.rope = c->rope};
                *nd++ = (ia_node){.op = IA_OP_CPY, .dst = vc, .src = {v3}};
                *nd++ = (ia_node){.op = IA_OP_ATTENTION, .dst = att, .src = {q3, kall, vall}, .p.attn = ap};
            }
            *nd++ = (ia_node){.op = IA_OP_MATMUL, .dst = h, .src = {att2, &L->wo}};
            *nd++ = (ia_node){.op = IA_OP_ADD, .dst = x, .src = {x, h}};
            *nd++ = (ia_node){.op = IA_OP_RMSNORM, .dst = h, .src = {x, NULL, &L->ffn_norm}, .p.eps = c->norm_eps};
            *nd++ = (ia_node){.op = IA_OP_MATMUL, .dst = gate, .src = {h, &L->w_gate}};
            *nd++ = (ia_node){.op = IA_OP_MATMUL, .dst = up, .src = {h, &L->w_up}};
            *nd++ = (ia_node){.op = IA_OP_GLU, .dst = gate, .src = {gate, up}, .p.act = IA_ACT_SILU};
            *nd++ = (ia_node){.op = IA_OP_MATMUL, .dst = h, .src = {gate, &L->w_down}};
            *nd++ = (ia_node){.op = IA_OP_ADD, .dst = x, .src = {x, h}};
        }
        if (nl) {
            *nd++ = (ia_node){.op = IA_OP_GET_ROWS, .dst = xl, .src = {x, lrows}};
            *nd++ = (ia_node){.op = IA_OP_RMSNORM, .dst = hl, .src = {xl, NULL, &d->out_norm}, .p.eps = c->norm_eps};
            *nd++ = (ia_node){.op = IA_OP_MATMUL, .dst = lg, .src = {hl, &d->output}};
        }
        rc = ia__graph_run(d->be, bc, g, (int)(nd - g), NULL);
    }
    if (!rc && logits && nl) {
        if (op->download)
            rc = op->download(bc, logits, buf[9], sizes[9]);
        else
            memcpy(logits, buf[9], sizes[9]);
    }
    for (int i = 0; i < n_seq && !rc; i++) {
        memcpy(ss[i]->tokens + ss[i]->pos, tok[i], (size_t)ns[i] * sizeof *tok[i]);
        ss[i]->pos += ns[i];
    }
    for (int i = 0; i < SCRATCH; i++)
        if (buf[i])
            op->buf_free(bc, buf[i]);
    ia__free(host_in);
    ia__free(g);
    ia__free(t);
    return rc;
}

static ia_status check_tokens(const ia_session *s, const int32_t *tokens, int n)
{
    if (n < 1 || !tokens)
        return ia__error(IA_ERR_INVALID, "session: nothing to evaluate");
    if (n > s->n_ctx - s->pos)
        return ia__error(IA_ERR_INVALID, "session: %d tokens after %d would exceed the context of %d", n, s->pos,
                         s->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= s->d->cfg.n_vocab)
            return ia__error(IA_ERR_INVALID, "session: token id %d (position %d of the input) is outside the "
                             "vocabulary of %d", (int)tokens[i], i, s->d->cfg.n_vocab);
    return IA_OK;
}

ia_status ia__session_eval(ia_session *s, const int32_t *tokens, int n, float *logits, float *all_logits)
{
    const ia_decoder_config *c = &s->d->cfg;
    ia_status rc = check_tokens(s, tokens, n);
    if (!rc)
        rc = kv_reserve(s, s->pos + n);
    int32_t *rows = rc ? NULL : ia__malloc((size_t)IA_DECODE_BATCH * sizeof *rows);
    if (!rc && !rows)
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    for (int done = 0; !rc && done < n;) {
        const int m = IA_MIN(n - done, IA_DECODE_BATCH), last = done + m == n;
        /* logits of every row for all_logits, else of the last row only */
        int nl = 0;
        if (all_logits)
            for (; nl < m; nl++)
                rows[nl] = nl;
        else if (last && logits)
            rows[nl++] = m - 1;
        float *dst = all_logits ? all_logits + (size_t)done * c->n_vocab : last ? logits : NULL;
        const int32_t *tk = tokens + done;
        rc = eval_seqs(&s, &tk, &m, 1, rows, nl, dst);
        done += m;
    }
    ia__free(rows);
    if (!rc && all_logits && logits)
        memcpy(logits, all_logits + (size_t)(n - 1) * c->n_vocab, (size_t)c->n_vocab * sizeof(float));
    return rc;
}

ia_status ia__session_eval_batch(ia_session *const *ss, const int32_t *const *tokens, const int *n, int n_seq,
                                 const bool *want_logits, float *logits)
{
    if (n_seq < 1)
        return ia__error(IA_ERR_INVALID, "session batch: no sequences");
    int total = 0, nl = 0;
    ia_status rc = IA_OK;
    for (int i = 0; i < n_seq && !rc; i++) {
        if (ss[i]->d != ss[0]->d)
            return ia__error(IA_ERR_INVALID, "session batch: sequence %d belongs to another model", i);
        for (int j = 0; j < i; j++)
            if (ss[j] == ss[i])
                return ia__error(IA_ERR_INVALID, "session batch: sequences %d and %d share a session", j, i);
        rc = check_tokens(ss[i], tokens[i], n[i]);
        total += n[i];
        nl += want_logits[i];
    }
    if (!rc && total > IA_DECODE_BATCH)
        rc = ia__error(IA_ERR_INVALID, "session batch: %d tokens, more than a forward takes (%d)", total,
                       IA_DECODE_BATCH);
    for (int i = 0; i < n_seq && !rc; i++)
        rc = kv_reserve(ss[i], ss[i]->pos + n[i]);
    int32_t *rows = rc ? NULL : ia__malloc((size_t)(nl ? nl : 1) * sizeof *rows);
    if (!rc && !rows)
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    for (int i = 0, r = 0, k = 0; i < n_seq && !rc; r += n[i], i++)
        if (want_logits[i])
            rows[k++] = r + n[i] - 1;
    if (!rc)
        rc = eval_seqs(ss, tokens, n, n_seq, rows, nl, logits);
    ia__free(rows);
    return rc;
}

ia_status ia__session_copy_prefix(ia_session *dst, const ia_session *src, int n)
{
    const ia_decoder *d = dst->d;
    const ia_decoder_config *c = &d->cfg;
    if (src->d != d || n < 0 || n > src->pos || n > dst->n_ctx)
        return ia__error(IA_ERR_INVALID, "session: cannot copy %d positions of a session holding %d", n, src->pos);
    dst->pos = 0;
    if (!n)
        return IA_OK;
    ia_status rc = kv_reserve(dst, n);
    const int L = c->n_layer;
    ia_node *cp = rc ? NULL : ia__calloc((size_t)(2 * L), sizeof *cp);
    ia_tensor *ts = rc ? NULL : ia__calloc((size_t)(4 * L), sizeof *ts);
    if (!rc && (!cp || !ts))
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    for (int l = 0, k = 0; l < L && !rc; l++)
        for (int kv = 0; kv < 2; kv++, k++) {
            ts[2 * k] = ia__tensor(IA_DTYPE_F32, c->head_dim, c->n_head_kv, n, 1, kv ? src->v[l] : src->k[l]);
            ts[2 * k + 1] = ia__tensor(IA_DTYPE_F32, c->head_dim, c->n_head_kv, n, 1, kv ? dst->v[l] : dst->k[l]);
            cp[k] = (ia_node){.op = IA_OP_CPY, .dst = &ts[2 * k + 1], .src = {&ts[2 * k]}};
        }
    if (!rc)
        rc = ia__graph_run(d->be, d->bctx, cp, 2 * L, NULL);
    if (!rc) {
        memcpy(dst->tokens, src->tokens, (size_t)n * sizeof *dst->tokens);
        dst->pos = n;
    }
    ia__free(cp);
    ia__free(ts);
    return rc;
}
