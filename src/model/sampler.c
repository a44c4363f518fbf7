/*
 * Token sampling (sampler.h). Order, as llama.cpp's default chain and
 * vLLM's: logit biases, penalties over the tokens seen so far, then greedy,
 * or temperature, top-k, top-p, min-p and a draw from what is left. The
 * candidates are ordered (by logit, ties by id so that the order never
 * depends on the sort), as far as the cuts and the draw reach, and cut in
 * that order.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/sampler.h"

struct ia_sampler {
    ia_sampling p;
    ia_logit_bias *bias;
    int n_vocab;
    uint32_t *count;   /* times each token was seen */
    uint64_t rng[4];   /* xoshiro256** */
    float *work;       /* processed logits */
    int32_t *order;    /* candidate ids */
};

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* Uniform in [0, 1) with 53 random bits. */
static double next_unit(ia_sampler *s)
{
    uint64_t *r = s->rng;
    const uint64_t out = rotl(r[1] * 5, 7) * 9, t = r[1] << 17;
    r[2] ^= r[0];
    r[3] ^= r[1];
    r[1] ^= r[2];
    r[0] ^= r[3];
    r[2] ^= t;
    r[3] = rotl(r[3], 45);
    return (double)(out >> 11) * 0x1.0p-53;
}

ia_status ia__sampler_new(const ia_sampling *p, int n_vocab, ia_sampler **out)
{
    *out = NULL;
    if (n_vocab < 1)
        return ia__error(IA_ERR_INVALID, "sampling: a vocabulary of %d tokens", n_vocab);
    if (isnan(p->temperature) || p->top_k < 0 || !(p->top_p >= 0 && p->top_p <= 1) ||
        !(p->min_p >= 0 && p->min_p <= 1) || !(p->repetition_penalty >= 0) || !isfinite(p->presence_penalty) ||
        !isfinite(p->frequency_penalty) || !isfinite(p->repetition_penalty))
        return ia__error(IA_ERR_INVALID, "sampling: %s is out of range",
                         p->top_k < 0                                  ? "top_k (must be >= 0)"
                         : !(p->top_p >= 0 && p->top_p <= 1)           ? "top_p (must be in [0, 1])"
                         : !(p->min_p >= 0 && p->min_p <= 1)           ? "min_p (must be in [0, 1])"
                         : !(p->repetition_penalty >= 0) || !isfinite(p->repetition_penalty)
                             ? "repetition_penalty (must be > 0)"
                         : isnan(p->temperature)                       ? "temperature"
                                                                       : "presence_penalty or frequency_penalty");
    for (size_t i = 0; i < p->n_logit_bias; i++)
        if (p->logit_bias[i].token < 0 || p->logit_bias[i].token >= n_vocab || isnan(p->logit_bias[i].bias))
            return ia__error(IA_ERR_INVALID, "sampling: logit_bias for token %d: outside the vocabulary of %d or "
                             "not a number", (int)p->logit_bias[i].token, n_vocab);
    ia_sampler *s = ia__calloc(1, sizeof *s);
    if (!s)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->count = ia__calloc((size_t)n_vocab, sizeof *s->count);
    s->work = ia__malloc((size_t)n_vocab * sizeof *s->work);
    s->order = ia__malloc((size_t)n_vocab * sizeof *s->order);
    s->bias = p->n_logit_bias ? ia__malloc(p->n_logit_bias * sizeof *s->bias) : NULL;
    if (!s->count || !s->work || !s->order || (p->n_logit_bias && !s->bias)) {
        ia__sampler_free(s);
        return ia__error(IA_ERR_NOMEM, "out of memory for a sampler over %d tokens", n_vocab);
    }
    if (p->n_logit_bias)
        memcpy(s->bias, p->logit_bias, p->n_logit_bias * sizeof *s->bias);
    s->p.logit_bias = s->bias;
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix(&x);
    *out = s;
    return IA_OK;
}

void ia__sampler_free(ia_sampler *s)
{
    if (!s)
        return;
    ia__free(s->count);
    ia__free(s->work);
    ia__free(s->order);
    ia__free(s->bias);
    ia__free(s);
}

void ia__sampler_accept(ia_sampler *s, int32_t token)
{
    if (token >= 0 && token < s->n_vocab && s->count[token] < UINT32_MAX)
        s->count[token]++;
}

/* By logit (ctx: the logits), largest first; equal logits by id. */
static int by_logit(const void *a, const void *b, void *ctx)
{
    const float *keys = ctx;
    const int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    const float x = keys[i], y = keys[j];
    return x > y ? -1 : x < y ? 1 : (i > j) - (i < j);
}

/* Make o[0 .. m) the m best of o[0 .. n) (by_logit), in order, given that
 * o[0 .. *have) already are; then *have >= m. Grows the ordered part four
 * times at a time (a quickselect of the rest, then a sort of what it
 * moved to the front), so a walk down the candidates costs about what it
 * reaches, not a sort of all of them. */
static void best_first(int32_t *o, int n, int m, const float *w, int *have)
{
    if (m <= *have)
        return;
    if (m < 4 * *have)
        m = 4 * *have;
    if (m > n)
        m = n;
    int lo = *have, hi = n; /* o[lo .. hi) holds the k-th best, k = m - 1 */
    while (hi - lo > 1) {
        int32_t *a = o + lo, t;
        const int len = hi - lo, mid = len / 2;
        t = a[mid], a[mid] = a[len - 1], a[len - 1] = t; /* the middle as the pivot, at the end */
        const int32_t piv = a[len - 1];
        int store = 0;
        for (int i = 0; i < len - 1; i++)
            if (by_logit(&a[i], &piv, (void *)w) < 0) {
                t = a[i], a[i] = a[store], a[store] = t;
                store++;
            }
        t = a[store], a[store] = a[len - 1], a[len - 1] = t; /* the pivot in its place */
        const int p = lo + store;
        if (p == m - 1)
            break;
        if (p < m - 1)
            lo = p + 1;
        else
            hi = p;
    }
    qsort_r(o + *have, (size_t)(m - *have), sizeof *o, by_logit, (void *)w);
    *have = m;
}

/* The i-th best candidate of o[0 .. n). */
static int32_t nth_best(int32_t *o, int n, int i, const float *w, int *have)
{
    best_first(o, n, i + 1, w, have);
    return o[i];
}

/* log of the sum of exp(logits) (max subtracted), in double. */
static double log_sum_exp(const float *l, int n, float mx)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)l[i] - mx);
    return log(sum) + mx;
}

static float max_of(const float *l, int n)
{
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int i = 0; i < n; i++)
        mx = l[i] > mx ? l[i] : mx;
    return mx;
}

/* Greedy: the first of the largest (0 when l[0] is NaN; other NaNs are
 * never the largest), in two loops the compiler vectorizes. */
static int32_t first_max(const float *l, int n)
{
    const float mx = max_of(l, n);
    for (int i = 0; i < n && l[0] == l[0]; i++)
        if (l[i] == mx)
            return i;
    return 0;
}

int32_t ia__sampler_sample(ia_sampler *s, const float *logits, float *logprob)
{
    const ia_sampling *p = &s->p;
    const int V = s->n_vocab;
    const bool greedy = !(p->temperature > 0);
    const bool rep = p->repetition_penalty > 0 && p->repetition_penalty != 1;
    const bool penalties = rep || p->presence_penalty != 0 || p->frequency_penalty != 0;
    /* the logits as changed by biases, penalties and temperature: a copy
     * only where something changes them */
    const bool changed = p->n_logit_bias || penalties;
    float *w = s->work;
    if (changed || !greedy)
        memcpy(w, logits, (size_t)V * sizeof *w);
    for (size_t i = 0; i < p->n_logit_bias; i++)
        w[p->logit_bias[i].token] += p->logit_bias[i].bias;
    if (penalties)
        for (int t = 0; t < V; t++) {
            const uint32_t c = s->count[t];
            if (!c)
                continue;
            if (rep)
                w[t] = w[t] > 0 ? w[t] / p->repetition_penalty : w[t] * p->repetition_penalty;
            w[t] -= p->presence_penalty + p->frequency_penalty * (float)c;
        }
    int32_t pick;
    if (greedy) {
        pick = first_max(changed ? w : logits, V);
    } else {
        for (int t = 0; t < V; t++) {
            s->order[t] = t;
            w[t] /= p->temperature;
        }
        /* candidates in order (by_logit), put in order only as far as a
         * cut or the draw reaches: usually a few dozen of 10^5 */
        int32_t *o = s->order;
        int have = 0; /* o[0 .. have) are the best, in order */
        int n = V;
        if (p->top_k > 0 && p->top_k < n)
            n = p->top_k;
        best_first(o, V, n < V ? n : 64, w, &have);
        const float mx = w[o[0]];
        double total = 0;
        if (n == V)
            for (int t = 0; t < V; t++)
                total += exp((double)w[t] - mx);
        else
            for (int i = 0; i < n; i++)
                total += exp((double)w[o[i]] - mx);
        if (p->top_p > 0 && p->top_p < 1) {
            double cum = 0;
            int keep = 0;
            while (keep < n && cum < p->top_p * total)
                cum += exp((double)w[nth_best(o, n, keep++, w, &have)] - mx);
            n = keep > 0 ? keep : 1;
            total = cum > 0 ? cum : 1;
        }
        if (p->min_p > 0) { /* probability ratio to the top one: exp(w - mx) */
            int keep = 1;
            double kept = 1;
            while (keep < n && exp((double)w[nth_best(o, n, keep, w, &have)] - mx) >= p->min_p) {
                kept += exp((double)w[o[keep]] - mx);
                keep++;
            }
            n = keep;
            total = kept;
        }
        const double u = next_unit(s) * total;
        double cum = 0;
        pick = -1;
        for (int i = 0; i < n && pick < 0; i++) {
            cum += exp((double)w[nth_best(o, n, i, w, &have)] - mx);
            if (u < cum)
                pick = o[i];
        }
        if (pick < 0) /* rounding left u past the sum: the last candidate */
            pick = nth_best(o, n, n - 1, w, &have);
    }
    if (logprob) {
        const float mx = max_of(logits, V);
        *logprob = (float)((double)logits[pick] - log_sum_exp(logits, V, mx));
    }
    return pick;
}

int ia__top_logprobs(const float *logits, int n_vocab, int n, int32_t *tokens, float *logprobs)
{
    if (n > n_vocab)
        n = n_vocab;
    if (n <= 0)
        return 0;
    const float mx = max_of(logits, n_vocab);
    const double lse = log_sum_exp(logits, n_vocab, mx);
    int have = 0;
    /* insertion into the n best so far: n is small (OpenAI allows 20) */
    for (int t = 0; t < n_vocab; t++) {
        const float v = logits[t];
        if (have == n && !(v > logits[tokens[n - 1]]))
            continue;
        int i = have < n ? have++ : n - 1;
        while (i > 0 && v > logits[tokens[i - 1]]) {
            tokens[i] = tokens[i - 1];
            i--;
        }
        tokens[i] = t;
    }
    for (int i = 0; i < have; i++)
        logprobs[i] = (float)((double)logits[tokens[i]] - lse);
    return have;
}
