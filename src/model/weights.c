/*
 * Loading an encoder's weights into a backend, and putting a forward's
 * inputs there (weights-impl.h): shared by the BERT family (bert.c),
 * ModernBERT (modernbert.c) and the gated BERT families (gated_bert.c).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/weights-impl.h"

bool ia__wl_has(const ia_wloader *ld, const char *name)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", ld->prefix, name);
    return ia__st_find(ld->st, full) != NULL;
}

ia_status ia__wl_fetch(ia_wloader *ld, const char *name, int64_t d0, int64_t d1, float **out)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", ld->prefix, name);
    const ia_st_tensor *t = ia__st_find(ld->st, full);
    if (!t) { /* old TensorFlow-converted checkpoints say gamma/beta */
        char alt[256];
        size_t n = strlen(full);
        if (n > 16 && !strcmp(full + n - 16, "LayerNorm.weight"))
            snprintf(alt, sizeof alt, "%.*sLayerNorm.gamma", (int)(n - 16), full);
        else if (n > 14 && !strcmp(full + n - 14, "LayerNorm.bias"))
            snprintf(alt, sizeof alt, "%.*sLayerNorm.beta", (int)(n - 14), full);
        else
            alt[0] = '\0';
        t = alt[0] ? ia__st_find(ld->st, alt) : NULL;
    }
    int want_dims = d1 ? 2 : 1;
    char want[64];
    if (d1)
        snprintf(want, sizeof want, "[%lld, %lld]", (long long)d0, (long long)d1);
    else
        snprintf(want, sizeof want, "[%lld]", (long long)d0);
    if (!t)
        return ia__error(IA_ERR_NOT_FOUND, "weights: tensor '%s' %s is missing", full, want);
    if (t->n_dims != want_dims || t->shape[0] != d0 || (d1 && t->shape[1] != d1)) {
        char got[96] = "[";
        for (int i = 0; i < t->n_dims; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "",
                     (long long)t->shape[i]);
        strncat(got, "]", sizeof got - strlen(got) - 1);
        return ia__error(IA_ERR_FORMAT, "%s: tensor '%s': expected shape %s, found %s", t->file,
                         full, want, got);
    }
    if (t->dtype != IA_DTYPE_F32 && t->dtype != IA_DTYPE_F16 && t->dtype != IA_DTYPE_BF16)
        return ia__error(IA_ERR_FORMAT, "%s: tensor '%s': expected dtype F32, F16 or BF16, found %s",
                         t->file, full, t->dtype_name);
    float *f = ia__malloc(ia__st_numel(t) * sizeof(float));
    if (!f)
        return ia__error(IA_ERR_NOMEM, "out of memory loading '%s'", full);
    ia__st_to_f32(t, f);
    ld->n_params += ia__st_numel(t);
    ld->last = t;
    if (!ld->dtype)
        ld->dtype = ia__st_dtype_name(t->dtype);
    *out = f;
    return IA_OK;
}

/* Remember backend memory (or a prepared weight) to free with the model. */
static bool keep(void ***list, size_t *n, void *p)
{
    void **l = ia__realloc(*list, (*n + 1) * sizeof *l);
    if (!l)
        return false;
    l[(*n)++] = p;
    *list = l;
    return true;
}

ia_status ia__weights_put(ia_weights *w, ia_tensor *t, ia_dtype dt, int64_t ne0, int64_t ne1, const void *host)
{
    *t = ia__tensor(dt, ne0, ne1, 1, 1, NULL);
    const size_t bytes = ia__tensor_nbytes(t);
    void *buf = w->be->iface.buf_alloc(w->bctx, bytes ? bytes : 1);
    if (!buf || !keep(&w->bufs, &w->n_bufs, buf)) {
        if (buf)
            w->be->iface.buf_free(w->bctx, buf);
        return ia__error(IA_ERR_NOMEM, "backend %s: out of memory for a [%lld, %lld] weight", w->be->name,
                         (long long)ne0, (long long)ne1);
    }
    t->data = buf;
    if (w->be->iface.upload)
        return w->be->iface.upload(w->bctx, buf, host, bytes);
    memcpy(buf, host, bytes);
    return IA_OK;
}

ia_status ia__weights_load(ia_weights *w, ia_wloader *ld, const char *name, int64_t d0, int64_t d1, bool as_stored,
                           ia_tensor *t)
{
    float *f = NULL;
    ia_status rc = ia__wl_fetch(ld, name, d0, d1, &f);
    if (rc)
        return rc;
    const int64_t ne0 = d1 ? d1 : d0, ne1 = d1 ? d0 : 1;
    const ia_dtype dt = as_stored && ld->last ? ld->last->dtype : IA_DTYPE_F32;
    rc = ia__weights_put(w, t, dt, ne0, ne1, dt == IA_DTYPE_F32 ? (const void *)f : (const void *)ld->last->data);
    ia__free(f);
    return rc;
}

float *ia__weights_ln_hint(const ia_weights *w, const ia_tensor *g, const ia_tensor *b)
{
    const int n = (int)g->ne[0];
    float *out = w->be->iface.upload ? NULL : ia__malloc((size_t)n * sizeof(float));
    for (int i = 0; out && i < n; i++)
        out[i] = fabsf(((const float *)g->data)[i]) + (b ? fabsf(((const float *)b->data)[i]) : 0.0f);
    return out;
}

ia_status ia__weights_put_linear(ia_weights *w, const float *W, const float *bias, int n_out, int n_in,
                                 const float *hint, ia_tensor *wt, ia_tensor *bt)
{
    ia_status rc = bias ? ia__weights_put(w, bt, IA_DTYPE_F32, n_out, 1, bias) : IA_OK;
    if (rc || !w->be->iface.weight_prepare)
        return rc ? rc : ia__weights_put(w, wt, IA_DTYPE_F32, n_in, n_out, W);
    *wt = ia__tensor(IA_DTYPE_F32, n_in, n_out, 1, 1, (void *)W);
    void *prep = NULL;
    rc = w->be->iface.weight_prepare(w->bctx, wt, bias ? bt : NULL, hint, &prep);
    if (!rc && !keep(&w->prepared, &w->n_prepared, prep)) {
        w->be->iface.weight_release(w->bctx, prep);
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    }
    wt->data = NULL; /* only the prepared form is kept */
    wt->extra = rc ? NULL : prep;
    return rc;
}

ia_status ia__weights_linear(ia_weights *w, ia_wloader *ld, const char *base, int n_out, int n_in, bool with_bias,
                             const float *hint, ia_tensor *wt, ia_tensor *bt)
{
    char wn[200], bn[200];
    snprintf(wn, sizeof wn, "%s.weight", base);
    snprintf(bn, sizeof bn, "%s.bias", base);
    float *W = NULL, *B = NULL;
    ia_status rc = ia__wl_fetch(ld, wn, n_out, n_in, &W);
    if (!rc && with_bias)
        rc = ia__wl_fetch(ld, bn, n_out, 0, &B);
    if (!rc)
        rc = ia__weights_put_linear(w, W, B, n_out, n_in, hint, wt, bt);
    ia__free(W);
    ia__free(B);
    return rc;
}

void ia__weights_release(ia_weights *w)
{
    for (size_t i = 0; i < w->n_prepared; i++)
        w->be->iface.weight_release(w->bctx, w->prepared[i]);
    for (size_t i = 0; i < w->n_bufs; i++)
        w->be->iface.buf_free(w->bctx, w->bufs[i]);
    ia__free(w->prepared);
    ia__free(w->bufs);
    memset(w, 0, sizeof *w);
}

ia_status ia__encoder_inputs(const ia_weights *w, const ia_encoder_config *c, const char *family,
                             const int32_t *ids, const int32_t *types, const int *offsets, int n_seqs, int32_t **in)
{
    *in = NULL;
    const int64_t T = offsets[n_seqs];
    for (int s = 0; s < n_seqs; s++)
        if (offsets[s + 1] - offsets[s] > c->max_position)
            return ia__error(IA_ERR_INVALID, "%s: a sequence of %d tokens exceeds max_position_embeddings %d", family,
                             offsets[s + 1] - offsets[s], c->max_position);
    for (int64_t t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= c->vocab_size)
            return ia__error(IA_ERR_INVALID, "%s: token id %d is outside the vocabulary (vocab_size %d)", family,
                             (int)ids[t], c->vocab_size);
    for (int64_t t = 0; types && t < T; t++)
        if (types[t] < 0 || types[t] >= c->type_vocab_size)
            return ia__error(IA_ERR_INVALID, "%s: token type %d is outside the model's %d (type_vocab_size)", family,
                             (int)types[t], c->type_vocab_size);
    const struct ia_backend_i *op = &w->be->iface;
    const size_t n = (size_t)(2 * T + n_seqs + 1 + (types ? T : 0));
    int32_t *buf = op->buf_alloc(w->bctx, n * sizeof(int32_t));
    int32_t *host = op->upload ? ia__malloc(n * sizeof(int32_t)) : buf;
    ia_status rc = buf && host ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory for a batch of %lld tokens",
                                                   (long long)T);
    if (!rc) {
        memcpy(host, ids, (size_t)T * sizeof(int32_t));
        const int pad = c->pos_offset - 1;
        for (int s = 0; s < n_seqs; s++)
            for (int t = offsets[s], next = c->pos_offset; t < offsets[s + 1]; t++)
                host[T + t] = pad < 0 ? t - offsets[s] : ids[t] == pad ? pad : next++;
        for (int s = 0; s <= n_seqs; s++)
            host[2 * T + s] = offsets[s];
        if (types)
            memcpy(host + 2 * T + n_seqs + 1, types, (size_t)T * sizeof(int32_t));
        if (op->upload)
            rc = op->upload(w->bctx, buf, host, n * sizeof(int32_t));
    }
    if (host != buf)
        ia__free(host);
    if (rc && buf)
        op->buf_free(w->bctx, buf);
    else
        *in = buf;
    return rc;
}
