/*
 * The performance model's arithmetic (perfmodel.h): op counts of encoders
 * and decoders from their shapes, the roofline per op class, and the
 * calibration fitted on stored runs. Conventions, the same everywhere: a
 * multiply-add is 2 FLOPs; activations are f32 (the engine computes in
 * f32 between ops, whatever the weights' precision); a matmul reads its
 * weight once per call and its input and output rows once each; the
 * fused attention op reads Q, K, V and writes its output without a scores
 * matrix in memory. Elementwise FLOPs per element, as counted: LayerNorm
 * 8 (residual add, mean, variance 2, normalize 2, scale, shift), RMSNorm 4,
 * GELU and SiLU gating 8 (their transcendental approximated as a few),
 * rope 3, adds 1. They are small next to the matmuls; their bytes matter.
 */
#include <math.h>
#include <string.h>

#include "benchdb/perfmodel.h"
#include "core/core-impl.h"
#include "ipfs_accelerate/model.h"
#include "model/decoder.h"

const char *ia__pm_class_name(ia_pm_class c)
{
    static const char *const names[] = {"linear", "attention", "other"};
    return c >= 0 && c < IA_PM_N_CLASSES ? names[c] : "?";
}

double ia__pm_weight_bytes(const char *p)
{
    static const struct {
        const char *name;
        double bytes;
    } t[] = {{"fp32", 4},        {"f32", 4},         {"bf16", 2}, {"f16", 2}, {"fp16", 2}, {"int8", 1},
             {"q8_0", 34.0 / 32}, {"q4_1", 20.0 / 32}};
    for (size_t i = 0; p && i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(p, t[i].name))
            return t[i].bytes;
    return -1;
}

/* rows x (n_in -> n_out), weight of wb bytes per element, f32 bias if any. */
static void linear(ia_pm_cost *c, double rows, double n_in, double n_out, double wb, bool bias)
{
    double w = wb * n_in * n_out + (bias ? 4 * n_out : 0);
    c->flops[IA_PM_LINEAR] += 2 * rows * n_in * n_out;
    c->bytes[IA_PM_LINEAR] += w + 4 * rows * (n_in + n_out);
    c->weight_bytes += w;
}

/* n elements, f flops each, reading `in` and writing `out` f32 values per element. */
static void elementwise(ia_pm_cost *c, double n, double f, double in, double out)
{
    c->flops[IA_PM_OTHER] += n * f;
    c->bytes[IA_PM_OTHER] += 4 * n * (in + out);
}

/* A norm's f32 parameters (gamma, and beta when with_beta) over width. */
static void norm_params(ia_pm_cost *c, double width, bool with_beta)
{
    double b = 4 * width * (with_beta ? 2 : 1);
    c->bytes[IA_PM_OTHER] += b;
    c->weight_bytes += b;
}

static ia_status check(const ia_pm_arch *a, const char *precision, bool decoder, double *wb)
{
    IA_NEED(a);
    if (a->decoder != decoder)
        return ia__error(IA_ERR_INVALID, "performance model: the architecture is %s, not %s",
                         a->decoder ? "a decoder" : "an encoder", decoder ? "a decoder" : "an encoder");
    *wb = a->weight_bytes > 0 ? a->weight_bytes : ia__pm_weight_bytes(precision);
    if (*wb < 0)
        return ia__error(IA_ERR_INVALID,
                         "performance model: precision \"%s\": unknown (fp32, bf16, f16, int8, q8_0, q4_1)",
                         precision ? precision : "(null)");
    const struct {
        const char *name;
        int v;
    } f[] = {{"n_layers", a->n_layers},       {"hidden", a->hidden},       {"n_heads", a->n_heads},
             {"n_kv_heads", a->n_kv_heads},   {"head_dim", a->head_dim},   {"intermediate", a->intermediate},
             {"vocab", a->vocab}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v < 1)
            return ia__error(IA_ERR_INVALID, "performance model: %s is %d (must be at least 1)", f[i].name, f[i].v);
    if (a->n_heads % a->n_kv_heads)
        return ia__error(IA_ERR_INVALID, "performance model: n_heads %d is not a multiple of n_kv_heads %d",
                         a->n_heads, a->n_kv_heads);
    return IA_OK;
}

ia_status ia__pm_encoder(const ia_pm_arch *a, const char *precision, int batch, int seq, ia_pm_cost *c)
{
    double wb;
    ia_status st = check(a, precision, false, &wb);
    if (st)
        return st;
    IA_NEED(c);
    if (batch < 1 || seq < 1)
        return ia__error(IA_ERR_INVALID, "performance model: batch %d x seq %d (both must be at least 1)", batch,
                         seq);
    memset(c, 0, sizeof *c);
    const double B = batch, S = seq, T = B * S, H = a->hidden, I = a->intermediate;
    /* Embeddings: word, position and token-type rows summed, LayerNorm. */
    double emb = 4 * H * ((double)a->vocab + a->max_position + a->type_vocab);
    c->weight_bytes += emb;
    elementwise(c, T * H, 2, 3, 1);
    elementwise(c, T * H, 8, 1, 1);
    norm_params(c, H, true);
    for (int l = 0; l < a->n_layers; l++) {
        linear(c, T, H, 3 * H, wb, true); /* Q, K, V as one */
        /* Each sequence attends to itself only: QK^T and PV per head. */
        c->flops[IA_PM_ATTENTION] += 2 * 2 * B * S * S * H;
        c->bytes[IA_PM_ATTENTION] += 4 * T * 4 * H;
        linear(c, T, H, H, wb, true);
        elementwise(c, T * H, 8, 2, 1); /* residual + LayerNorm */
        norm_params(c, H, true);
        linear(c, T, H, I, wb, true);
        c->flops[IA_PM_OTHER] += T * I * 8; /* GELU, in the matmul's epilogue: no bytes of its own */
        linear(c, T, I, H, wb, true);
        elementwise(c, T * H, 8, 2, 1);
        norm_params(c, H, true);
    }
    elementwise(c, T * H, 1, 1, 0); /* mean pooling */
    /* Live at once: x, the QKV output, the FFN's inner rows, one more (T, H). */
    c->act_bytes = 4 * T * (5 * H + I);
    return IA_OK;
}

/* n new tokens of one sequence attending to kv positions, the first of
 * them at position kv - n. */
static ia_status decoder(const ia_pm_arch *a, const char *precision, int n_new, int kv, ia_pm_cost *c)
{
    double wb;
    ia_status st = check(a, precision, true, &wb);
    if (st)
        return st;
    IA_NEED(c);
    memset(c, 0, sizeof *c);
    const double P = n_new, H = a->hidden, I = a->intermediate, V = a->vocab;
    const double q = (double)a->n_heads * a->head_dim, kvw = (double)a->n_kv_heads * a->head_dim;
    /* Keys summed over the new tokens: token i (0-based) sees kv - n + i + 1. */
    const double keys = P * (kv - P) + P * (P + 1) / 2;
    /* The token table: read one row per token, resident once. */
    c->weight_bytes += wb * V * H;
    c->bytes[IA_PM_OTHER] += wb * P * H + 4 * P * H;
    for (int l = 0; l < a->n_layers; l++) {
        elementwise(c, P * H, 4, 1, 1); /* RMSNorm */
        norm_params(c, H, false);
        linear(c, P, H, q, wb, false);
        linear(c, P, H, kvw, wb, false);
        linear(c, P, H, kvw, wb, false);
        elementwise(c, P * (q + kvw), 3, 1, 1); /* rope on Q and K */
        c->flops[IA_PM_ATTENTION] += 2 * 2 * keys * q;
        /* Q read, output written, new K and V written to the cache, the
         * cache's kv positions of K and V read. */
        c->bytes[IA_PM_ATTENTION] += 4 * (2 * P * q + 2 * P * kvw + 2 * kv * kvw);
        linear(c, P, q, H, wb, false);
        elementwise(c, P * H, 1, 2, 1); /* residual */
        elementwise(c, P * H, 4, 1, 1);
        norm_params(c, H, false);
        linear(c, P, H, I, wb, false); /* gate */
        linear(c, P, H, I, wb, false); /* up */
        elementwise(c, P * I, 8, 2, 1); /* silu(gate) * up */
        linear(c, P, I, H, wb, false);
        elementwise(c, P * H, 1, 2, 1);
    }
    elementwise(c, 1 * H, 4, 1, 1); /* the final RMSNorm, of the last token only */
    norm_params(c, H, false);
    linear(c, 1, H, V, wb, false);
    if (a->tied)
        c->weight_bytes -= wb * V * H; /* the head is the token table */
    c->kv_bytes = 4 * 2 * (double)kv * kvw * a->n_layers;
    /* Live at once: x, normed x, Q, K, V, attention output, gate, up, and
     * the logits row. */
    c->act_bytes = 4 * (P * (2 * H + 2 * q + 2 * kvw + 2 * I) + V);
    return IA_OK;
}

ia_status ia__pm_prefill(const ia_pm_arch *a, const char *precision, int n_tokens, ia_pm_cost *c)
{
    if (n_tokens < 1)
        return ia__error(IA_ERR_INVALID, "performance model: prefill of %d tokens (at least 1)", n_tokens);
    return decoder(a, precision, n_tokens, n_tokens, c);
}

ia_status ia__pm_decode(const ia_pm_arch *a, const char *precision, int kv_len, ia_pm_cost *c)
{
    if (kv_len < 1)
        return ia__error(IA_ERR_INVALID, "performance model: decode at KV length %d (at least 1)", kv_len);
    return decoder(a, precision, 1, kv_len, c);
}

ia_status ia__pm_arch_from_model(const ia_model_info *info, ia_pm_arch *a)
{
    IA_NEED(info);
    IA_NEED(a);
    /* The encoders the engine loads with BERT's layer (post-LayerNorm,
     * fused QKV, two-matmul FFN); only their embedding tables differ. */
    static const char *const bert_like[] = {"bert", "roberta", "xlm-roberta", "camembert", "electra", "mpnet"};
    const char *arch = info->architecture ? info->architecture : "";
    size_t i = 0;
    while (i < sizeof bert_like / sizeof bert_like[0] && strcmp(arch, bert_like[i]))
        i++;
    if (i == sizeof bert_like / sizeof bert_like[0])
        return ia__error(IA_ERR_UNSUPPORTED, "performance model: %s: architecture \"%s\" is not BERT-like",
                         info->path ? info->path : "model", arch);
    if (info->n_heads < 1 || info->hidden_size % info->n_heads)
        return ia__error(IA_ERR_INVALID, "performance model: %s: hidden_size %d is not a multiple of %d heads",
                         info->path ? info->path : "model", info->hidden_size, info->n_heads);
    *a = (ia_pm_arch){.n_layers = info->n_layers, .hidden = info->hidden_size, .n_heads = info->n_heads,
                      .n_kv_heads = info->n_heads, .head_dim = info->hidden_size / info->n_heads,
                      .intermediate = info->intermediate_size, .vocab = info->vocab_size,
                      .max_position = info->max_position,
                      /* token types: BERT's two; RoBERTa's family has one, MPNet none */
                      .type_vocab = !strcmp(arch, "bert") || !strcmp(arch, "electra") ? 2 : i < 4 ? 1 : 0};
    return IA_OK;
}

ia_status ia__pm_arch_from_decoder(const ia_decoder_config *c, ia_pm_arch *a)
{
    IA_NEED(c);
    IA_NEED(a);
    if (c->kind != IA_DEC_LLAMA)
        return ia__error(IA_ERR_UNSUPPORTED, "performance model: decoder \"%s\" is not Llama-like", c->arch);
    *a = (ia_pm_arch){.decoder = true, .n_layers = c->n_layer, .hidden = c->n_embd, .n_heads = c->n_head,
                      .n_kv_heads = c->n_head_kv, .head_dim = c->head_dim, .intermediate = c->n_ff,
                      .vocab = c->n_vocab, .tied = c->tied_embeddings};
    return IA_OK;
}

double ia__pm_total_flops(const ia_pm_cost *c)
{
    return c->flops[IA_PM_LINEAR] + c->flops[IA_PM_ATTENTION] + c->flops[IA_PM_OTHER];
}

double ia__pm_total_bytes(const ia_pm_cost *c)
{
    return c->bytes[IA_PM_LINEAR] + c->bytes[IA_PM_ATTENTION] + c->bytes[IA_PM_OTHER];
}

/* ---- prediction ------------------------------------------------------------ */

double ia__pm_roofline(const ia_pm_cost *c, const double peak[IA_PM_N_CLASSES], double bw,
                       double t[IA_PM_N_CLASSES])
{
    double sum = 0;
    for (int i = 0; i < IA_PM_N_CLASSES; i++) {
        double tf = peak[i] > 0 ? c->flops[i] / peak[i] : 0, tb = bw > 0 ? c->bytes[i] / bw : 0;
        double ti = tf > tb ? tf : tb;
        if (t)
            t[i] = ti;
        sum += ti;
    }
    return sum;
}

const char *ia__pm_basis_name(ia_pm_basis b)
{
    static const char *const names[] = {"roofline", "flops", "bytes"};
    return b >= 0 && b <= IA_PM_BASIS_BYTES ? names[b] : "?";
}

static double basis_time(ia_pm_basis b, int c, const double *t, const double *tf, const double *tb)
{
    return b == IA_PM_BASIS_FLOPS ? tf[c] : b == IA_PM_BASIS_BYTES ? tb[c] : t[c];
}

double ia__pm_predict(const ia_pm_calib *k, const double t[IA_PM_N_CLASSES], const double tf[IA_PM_N_CLASSES],
                      const double tb[IA_PM_N_CLASSES], double tokens)
{
    double s = k->k_tok * tokens + k->k_call;
    for (int c = 0; c < IA_PM_N_CLASSES; c++)
        s += k->k[c] * basis_time(k->basis[c], c, t, tf, tb);
    return s;
}

enum { MAX_TERMS = IA_PM_N_CLASSES + 2 };

/* Solve the normal equations of the m columns idx of X (rows of `stride`
 * values) against y (Gaussian elimination with partial pivoting). false
 * when singular: a column that is (nearly) a multiple of the others. */
static bool solve_cols(const double *X, int stride, const double *y, int n, const int *idx, int m, double *beta)
{
    double A[MAX_TERMS][MAX_TERMS + 1] = {{0}};
    for (int r = 0; r < m; r++) {
        for (int s = 0; s < m; s++)
            for (int i = 0; i < n; i++)
                A[r][s] += X[i * stride + idx[r]] * X[i * stride + idx[s]];
        for (int i = 0; i < n; i++)
            A[r][m] += X[i * stride + idx[r]] * y[i];
    }
    double scale = 0;
    for (int r = 0; r < m; r++)
        scale = fmax(scale, A[r][r]);
    for (int col = 0; col < m; col++) {
        int piv = col;
        for (int r = col + 1; r < m; r++)
            if (fabs(A[r][col]) > fabs(A[piv][col]))
                piv = r;
        if (!(fabs(A[piv][col]) > 1e-12 * scale))
            return false;
        for (int s = 0; s <= m; s++) {
            double tmp = A[col][s];
            A[col][s] = A[piv][s];
            A[piv][s] = tmp;
        }
        for (int r = 0; r < m; r++) {
            if (r == col)
                continue;
            double f = A[r][col] / A[col][col];
            for (int s = col; s <= m; s++)
                A[r][s] -= f * A[col][s];
        }
    }
    for (int r = 0; r < m; r++)
        beta[r] = A[r][m] / A[r][r];
    return true;
}

/* Non-negative least squares of y on the columns of X (n rows of `cols`),
 * by trying every subset of columns no larger than n, `need` (a mask)
 * among them when not 0: the best fit with no negative coefficient. The
 * empty subset (all zero) competes when need is 0. Returns its residual
 * sum of squares (INFINITY: none). */
static double nnls(const double *X, int cols, const double *y, int n, unsigned need, double *beta)
{
    double best = INFINITY;
    for (int j = 0; j < cols; j++)
        beta[j] = 0;
    for (unsigned mask = 0; mask < (1u << cols); mask++) {
        int idx[MAX_TERMS], m = 0;
        double b[MAX_TERMS];
        for (int j = 0; j < cols; j++)
            if (mask >> j & 1)
                idx[m++] = j;
        if ((need && !(mask & need)) || m > n || (m && !solve_cols(X, cols, y, n, idx, m, b)))
            continue;
        bool neg = false;
        for (int r = 0; r < m; r++)
            neg = neg || b[r] < 0;
        if (neg)
            continue;
        double rss = 0;
        for (int i = 0; i < n; i++) {
            double r = -y[i];
            for (int q = 0; q < m; q++)
                r += X[i * cols + idx[q]] * b[q];
            rss += r * r;
        }
        /* Fewer terms win ties (subsets come in increasing masks, not size:
         * only a clearly better fit replaces). */
        if (rss < best * (1 - 1e-9) - 1e-18) {
            best = rss;
            for (int j = 0; j < cols; j++)
                beta[j] = 0;
            for (int q = 0; q < m; q++)
                beta[idx[q]] = b[q];
        }
    }
    return best;
}

ia_status ia__pm_calibrate(const ia_pm_sample *s, int n, ia_pm_calib *out)
{
    IA_NEED(out);
    memset(out, 0, sizeof *out);
    if (!s || n < 1)
        return ia__error(IA_ERR_INVALID, "calibration: no runs to fit");
    bool per_class = true;
    for (int i = 0; i < n; i++) {
        double sum = 0;
        bool ok = s[i].measured_s > 0 && isfinite(s[i].measured_s) && s[i].tokens > 0;
        for (int c = 0; c < IA_PM_N_CLASSES; c++) {
            ok = ok && s[i].t[c] >= 0 && isfinite(s[i].t[c]);
            sum += s[i].t[c];
            per_class = per_class && s[i].op_s[c] >= 0 && isfinite(s[i].op_s[c]);
        }
        if (!ok || !(sum > 0))
            return ia__error(IA_ERR_INVALID, "calibration: run %d has roofline %g s, %g tokens, measured %g s", i, sum,
                             s[i].tokens, s[i].measured_s);
    }
    const int cols = IA_PM_N_CLASSES + 2; /* the classes, tokens, the call */
    double *X = ia__malloc((size_t)n * cols * sizeof *X), *y = ia__malloc((size_t)n * sizeof *y);
    if (!X || !y) {
        ia__free(X);
        ia__free(y);
        return ia__error(IA_ERR_NOMEM, "calibration");
    }
    /* Relative error: each row divided by what it fits, so that a 0.1 ms
     * run counts as much as a 500 ms one. */
    double beta[MAX_TERMS] = {0};
    if (per_class) {
        for (int c = 0; c < IA_PM_N_CLASSES; c++) {
            /* Per basis, k minimizing sum ((k x - m) / m)^2 is
             * sum(x/m) / sum((x/m)^2) over the runs where the class took
             * time; the basis with the least residual kept (the roofline
             * on ties). */
            double best = INFINITY;
            for (int b = IA_PM_BASIS_ROOFLINE; b <= IA_PM_BASIS_BYTES; b++) {
                double num = 0, den = 0, kb, rss = 0;
                for (int i = 0; i < n; i++)
                    if (s[i].op_s[c] > 0) {
                        double r = basis_time(b, c, s[i].t, s[i].tf, s[i].tb) / s[i].op_s[c];
                        num += r;
                        den += r * r;
                    }
                if (!(den > 0))
                    continue;
                kb = num / den;
                for (int i = 0; i < n; i++)
                    if (s[i].op_s[c] > 0) {
                        double r = kb * basis_time(b, c, s[i].t, s[i].tf, s[i].tb) / s[i].op_s[c] - 1;
                        rss += r * r;
                    }
                if (rss < best * (1 - 1e-9) - 1e-18) {
                    best = rss;
                    beta[c] = kb;
                    out->basis[c] = b;
                }
            }
        }
        /* What the classes leave, per token and per call. */
        for (int i = 0; i < n; i++) {
            double rest = s[i].measured_s;
            for (int c = 0; c < IA_PM_N_CLASSES; c++)
                rest -= beta[c] * basis_time(out->basis[c], c, s[i].t, s[i].tf, s[i].tb);
            X[i * 2] = s[i].tokens / s[i].measured_s;
            X[i * 2 + 1] = 1 / s[i].measured_s;
            y[i] = rest / s[i].measured_s;
        }
        nnls(X, 2, y, n, 0, beta + IA_PM_N_CLASSES);
    } else {
        /* Classes and the call together on the latency (tokens left out:
         * they grow as linear and other do). */
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < IA_PM_N_CLASSES; c++)
                X[i * (cols - 1) + c] = s[i].t[c] / s[i].measured_s;
            X[i * (cols - 1) + IA_PM_N_CLASSES] = 1 / s[i].measured_s;
            y[i] = 1;
        }
        double b[MAX_TERMS];
        if (isfinite(nnls(X, cols - 1, y, n, (1u << IA_PM_N_CLASSES) - 1, b))) {
            for (int c = 0; c < IA_PM_N_CLASSES; c++)
                beta[c] = b[c];
            beta[IA_PM_N_CLASSES + 1] = b[IA_PM_N_CLASSES];
        } else {
            beta[0] = -1;
        }
    }
    ia__free(X);
    ia__free(y);
    double k_sum = 0;
    for (int c = 0; c < IA_PM_N_CLASSES; c++)
        k_sum += beta[c];
    if (!(k_sum > 0) || beta[0] < 0)
        return ia__error(IA_ERR_INVALID, "calibration: no fit with non-negative coefficients from %d runs", n);
    for (int c = 0; c < IA_PM_N_CLASSES; c++)
        out->k[c] = beta[c];
    if (!per_class)
        memset(out->basis, 0, sizeof out->basis);
    out->k_tok = beta[IA_PM_N_CLASSES];
    out->k_call = beta[IA_PM_N_CLASSES + 1];
    out->per_class = per_class;
    out->n_runs = n;
    double rss = 0;
    for (int i = 0; i < n; i++) {
        double r = ia__pm_predict(out, s[i].t, s[i].tf, s[i].tb, s[i].tokens) / s[i].measured_s - 1;
        rss += r * r;
    }
    out->rms_rel = sqrt(rss / n);
    return IA_OK;
}

/* The roofline, calibrated latency and figures of a counted call. */
static ia_status predict(const char *precision, const ia_pm_peaks *pk, const ia_pm_calib *k, double tokens,
                         ia_pm_prediction *out)
{
    double lin = ia__pm_peak_flops(pk, precision);
    const double f32 = ia__pm_peak_flops(pk, "fp32");
    if (!(lin > 0) && ia__pm_weight_bytes(precision) >= 0 && strcmp(precision, "int8") && strcmp(precision, "bf16"))
        lin = f32; /* a storage type (f16, q8_0, q4_1): fp32's peak */
    if (!(lin > 0) || !(f32 > 0) || !(pk->mem_bw > 0))
        return ia__error(IA_ERR_INVALID,
                         "performance model: no measured %s and fp32 GEMM peaks and bandwidth on this machine",
                         precision);
    const double peak[IA_PM_N_CLASSES] = {[IA_PM_LINEAR] = lin, [IA_PM_ATTENTION] = f32, [IA_PM_OTHER] = f32};
    out->roofline_s = ia__pm_roofline(&out->cost, peak, pk->mem_bw, out->t);
    for (int c = 0; c < IA_PM_N_CLASSES; c++) {
        out->tf[c] = out->cost.flops[c] / peak[c];
        out->tb[c] = out->cost.bytes[c] / pk->mem_bw;
    }
    out->latency_s = k ? ia__pm_predict(k, out->t, out->tf, out->tb, tokens) : out->roofline_s;
    out->tokens_per_s = tokens / out->latency_s;
    out->memory_bytes = out->cost.weight_bytes + out->cost.act_bytes + out->cost.kv_bytes + (k ? k->mem_base : 0);
    return IA_OK;
}

ia_status ia__pm_predict_encoder(const ia_pm_arch *a, const char *precision, const ia_pm_peaks *pk,
                                 const ia_pm_calib *k, int batch, int seq, ia_pm_prediction *out)
{
    IA_NEED(pk);
    IA_NEED(out);
    memset(out, 0, sizeof *out);
    ia_status st = ia__pm_encoder(a, precision, batch, seq, &out->cost);
    if (!st)
        st = predict(precision, pk, k, (double)batch * seq, out);
    if (!st)
        out->texts_per_s = batch / out->latency_s;
    return st;
}

ia_status ia__pm_predict_decoder(const ia_pm_arch *a, const char *precision, const ia_pm_peaks *pk,
                                 const ia_pm_calib *k, bool decode, int n, ia_pm_prediction *out)
{
    IA_NEED(pk);
    IA_NEED(out);
    IA_NEED(precision);
    memset(out, 0, sizeof *out);
    ia_status st = decode ? ia__pm_decode(a, precision, n, &out->cost) : ia__pm_prefill(a, precision, n, &out->cost);
    return st ? st : predict(precision, pk, k, decode ? 1 : n, out);
}
