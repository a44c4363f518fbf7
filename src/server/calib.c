/*
 * The int8 and uint8 encodings of /v1/embeddings: sentence-transformers'
 * quantize_embeddings(precision="int8" | "uint8", calibration_embeddings=...)
 * with a fixed set of calibration sentences (calib_text.c) per model.
 *
 * Those buckets need each dimension's range over representative vectors.
 * sentence-transformers takes them from calibration embeddings the caller
 * brings; Infinity embeds a fixed calibration text with each model it
 * serves. Here the engine thread embeds the calibration sentences the first
 * time a model is asked for int8 or uint8 (never for a server that is not),
 * alone in one engine call and exactly as /v1/embeddings embeds a text, and
 * the model keeps the rows. Ranges are taken from the rows for every
 * request, so that a request for `dimensions` N gets the ranges of the
 * calibration vectors shortened to N and renormalized as its own are.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/model-impl.h"
#include "server/server-impl.h"

const char *const ia__srv_encoding_names[SRV_ENC_COUNT] = {
    [SRV_ENC_FLOAT] = "float", [SRV_ENC_BASE64] = "base64", [SRV_ENC_BINARY] = "binary",
    [SRV_ENC_UBINARY] = "ubinary", [SRV_ENC_INT8] = "int8", [SRV_ENC_UINT8] = "uint8",
};

void ia__srv_calib_init(srv_calib *c, int dim)
{
    pthread_mutex_init(&c->lock, NULL);
    atomic_init(&c->rows, NULL);
    c->dim = dim;
}

void ia__srv_calib_close(srv_calib *c)
{
    ia__free(atomic_load(&c->rows));
    atomic_store(&c->rows, NULL);
    pthread_mutex_destroy(&c->lock);
}

/* Tokenize the calibration sentences as the route tokenizes an input (the
 * default prompt in front, cut at the model's limit) and embed them. */
static ia_status calibrate(const ia_model *m, int dim, float **out, char *msg, size_t cap)
{
    const int n = ia__srv_calib_count;
    ia_model_info info;
    ia_model_get_info(m, &info);
    const ia_tokenizer *tok = ia_model_tokenizer(m);
    const size_t limit = info.max_seq_length;
    const char *prompt = NULL;
    ia_status st = ia_model_prompt(m, NULL, &prompt);
    const size_t pl = prompt ? strlen(prompt) : 0;
    int32_t **ids = ia__calloc((size_t)n, sizeof *ids);
    size_t *n_ids = ia__calloc((size_t)n, sizeof *n_ids);
    float *rows = ia__malloc((size_t)n * (size_t)dim * sizeof *rows);
    char *text = NULL;
    if (!st && (!ids || !n_ids || !rows))
        st = ia__error(IA_ERR_NOMEM, "out of memory");
    for (int i = 0; !st && i < n; i++) {
        const size_t len = strlen(ia__srv_calib_text[i]);
        char *t = ia__realloc(text, pl + len + 1);
        if (!t || !(ids[i] = ia__malloc(limit * sizeof **ids))) {
            if (t)
                text = t;
            st = ia__error(IA_ERR_NOMEM, "out of memory");
            break;
        }
        text = t;
        memcpy(text, prompt ? prompt : "", pl);
        memcpy(text + pl, ia__srv_calib_text[i], len + 1);
        ia_encoding_stats es = {0};
        st = ia_tokenizer_encode_pair(tok, text, pl + len, NULL, 0, limit, false, ids[i], NULL, limit, &n_ids[i],
                                      &es);
    }
    if (!st)
        st = ia__model_embed_ids(m, (const int32_t *const *)ids, n_ids, (size_t)n, info.normalize, rows, NULL);
    for (int i = 0; !st && i < n * dim; i++)
        if (!isfinite(rows[i]))
            st = ia__error(IA_ERR_BACKEND, "calibration sentence %d gave a non-finite value", i / dim);
    if (st) {
        snprintf(msg, cap, "the int8/uint8 calibration failed: %s", ia_errmsg()[0] ? ia_errmsg() : ia_strerror(st));
        ia__free(rows);
        rows = NULL;
    }
    for (int i = 0; ids && i < n; i++)
        ia__free(ids[i]);
    ia__free(ids);
    ia__free(n_ids);
    ia__free(text);
    *out = rows;
    return st;
}

ia_status ia__srv_calib_ensure(srv_calib *c, const ia_model *m, char *msg, size_t cap)
{
    if (atomic_load(&c->rows))
        return IA_OK;
    pthread_mutex_lock(&c->lock);
    ia_status st = IA_OK;
    if (!atomic_load(&c->rows)) {
        float *rows = NULL;
        const double t0 = ia__now();
        st = calibrate(m, c->dim, &rows, msg, cap);
        if (!st) {
            atomic_store(&c->rows, rows);
            ia__log(IA_LOG_INFO, "int8/uint8 calibration: %d sentences embedded in %.2f s", ia__srv_calib_count,
                    ia__now() - t0);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return st;
}

void ia__srv_shorten(const float *v, int d, float *out)
{
    double ss = 0;
    for (int j = 0; j < d; j++)
        ss += (double)v[j] * v[j];
    const float scale = (float)(1.0 / fmax(sqrt(ss), 1e-12));
    for (int j = 0; j < d; j++)
        out[j] = v[j] * scale;
}

void ia__srv_calib_ranges(const srv_calib *c, int d, bool shorten, float *lo, float *step, float *tmp)
{
    const float *rows = atomic_load(&c->rows);
    float *hi = step; /* the maxima until the steps replace them */
    for (int i = 0; i < ia__srv_calib_count; i++) {
        const float *v = rows + (size_t)i * (size_t)c->dim;
        if (shorten) {
            ia__srv_shorten(v, d, tmp);
            v = tmp;
        }
        for (int j = 0; j < d; j++) {
            if (!i || v[j] < lo[j])
                lo[j] = v[j];
            if (!i || v[j] > hi[j])
                hi[j] = v[j];
        }
    }
    for (int j = 0; j < d; j++) {
        const float s = (hi[j] - lo[j]) / 255.0f; /* float32, as numpy computes it */
        step[j] = s == 0 ? 1.0f : s;
    }
}

void ia__srv_quantize(const float *v, int d, const float *lo, const float *step, bool is_signed, int *out)
{
    for (int j = 0; j < d; j++) {
        const float q = floorf((v[j] - lo[j]) / step[j]);
        const int b = q < 0 ? 0 : q > 255 ? 255 : (int)q;
        out[j] = is_signed ? b - 128 : b;
    }
}
