/*
 * Token sampling (src/model/sampler.c) against the definitions, computed
 * here in double: the frequencies of 40,000 draws against the expected
 * distribution after temperature, top-k, top-p and min-p (a chi-square
 * bound), greedy, the penalties' arithmetic, logit biases, seeds (same
 * seed, same tokens; another seed, others), log-probabilities, and
 * refused parameters.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/sampler.h"
#include "test.h"

enum { V = 8, DRAWS = 40000 };

static const float logits[V] = {2.0f, 1.5f, 1.5f, 0.3f, -0.7f, -1.0f, -3.0f, 0.9f};

/* Expected probabilities with the cuts applied, as the definitions say. */
static void expected(float temp, int top_k, float top_p, float min_p, double *pr)
{
    int order[V];
    for (int i = 0; i < V; i++)
        order[i] = i;
    for (int i = 0; i < V; i++) /* by logit, ties by id */
        for (int j = i + 1; j < V; j++)
            if (logits[order[j]] > logits[order[i]] ||
                (logits[order[j]] == logits[order[i]] && order[j] < order[i])) {
                const int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    double p[V], sum = 0;
    for (int i = 0; i < V; i++)
        sum += p[i] = exp(logits[order[i]] / (double)temp);
    int n = top_k > 0 && top_k < V ? top_k : V;
    double kept = 0;
    for (int i = 0; i < n; i++)
        kept += p[i];
    if (top_p > 0 && top_p < 1) { /* smallest prefix whose mass reaches top_p of what is left */
        double cum = 0;
        int k = 0;
        while (k < n && cum < top_p * kept)
            cum += p[k++];
        n = k;
    }
    if (min_p > 0) {
        int k = 1;
        while (k < n && p[k] / p[0] >= min_p)
            k++;
        n = k;
    }
    kept = 0;
    for (int i = 0; i < n; i++)
        kept += p[i];
    for (int i = 0; i < V; i++)
        pr[i] = 0;
    for (int i = 0; i < n; i++)
        pr[order[i]] = p[i] / kept;
    (void)sum;
}

static void check_distribution(const char *what, ia_sampling sp)
{
    ia_sampler *s = NULL;
    CHECK_OK(ia__sampler_new(&sp, V, &s));
    if (!s)
        return;
    long seen[V] = {0};
    for (int i = 0; i < DRAWS; i++)
        seen[ia__sampler_sample(s, logits, NULL)]++;
    ia__sampler_free(s);
    double pr[V], chi2 = 0;
    expected(sp.temperature, sp.top_k, sp.top_p, sp.min_p, pr);
    int df = -1;
    for (int t = 0; t < V; t++) {
        if (pr[t] == 0) {
            CHECK_MSG(seen[t] == 0, "%s: token %d drawn %ld times but cut", what, t, seen[t]);
            continue;
        }
        const double e = pr[t] * DRAWS;
        chi2 += (seen[t] - e) * (seen[t] - e) / e;
        df++;
    }
    /* the chi-square distribution's 0.999 quantile for 1..7 degrees of freedom */
    static const double q999[8] = {0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32};
    printf("%-50s chi2 %6.2f, %d degrees of freedom (bound %.2f)\n", what, chi2, df, q999[df]);
    CHECK_MSG(df >= 1 && chi2 < q999[df], "%s: chi-square %.2f: the draws do not follow the distribution", what, chi2);
}

/* A vocabulary of 4000 flat-ish logits, so that the candidates the sampler
 * puts in order must grow far past its first few dozen: the draws' ranks,
 * in 5 bins, against the definitions. */
static void check_large(const char *what, ia_sampling sp)
{
    enum { LV = 4000, BINS = 5 };
    const int LD = getenv("IA_TEST_QUICK") ? 5000 : 20000; /* the sanitizer builds: 10-20x slower */
    static float big[LV];
    static int rank_of[LV], order[LV];
    uint64_t r = 88172645463325252ull;
    for (int i = 0; i < LV; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        big[i] = (float)((double)(r >> 11) / 9007199254740992.0 * 3.0);
        order[i] = i;
    }
    for (int i = 1; i < LV; i++) /* by logit, ties by id (insertion sort) */
        for (int j = i; j > 0 && (big[order[j]] > big[order[j - 1]] ||
                                  (big[order[j]] == big[order[j - 1]] && order[j] < order[j - 1])); j--) {
            const int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    for (int i = 0; i < LV; i++)
        rank_of[order[i]] = i;
    /* the definitions over the ranks */
    static double pr[LV];
    double tot = 0;
    int n = sp.top_k > 0 && sp.top_k < LV ? sp.top_k : LV;
    for (int i = 0; i < n; i++)
        tot += pr[i] = exp((big[order[i]] - big[order[0]]) / sp.temperature);
    if (sp.top_p > 0 && sp.top_p < 1) {
        double cum = 0;
        int k = 0;
        while (k < n && cum < sp.top_p * tot)
            cum += pr[k++];
        n = k, tot = cum;
    }
    if (sp.min_p > 0) {
        int k = 1;
        double kept = pr[0];
        while (k < n && pr[k] / pr[0] >= sp.min_p)
            kept += pr[k++];
        n = k, tot = kept;
    }
    static const int edge[BINS + 1] = {0, 4, 64, 256, 1024, LV};
    double want[BINS] = {0};
    for (int i = 0; i < n; i++)
        for (int b = 0; b < BINS; b++)
            if (i >= edge[b] && i < edge[b + 1])
                want[b] += pr[i] / tot;
    ia_sampler *s = NULL;
    CHECK_OK(ia__sampler_new(&sp, LV, &s));
    if (!s)
        return;
    long seen[BINS] = {0}, past = 0;
    for (int i = 0; i < LD; i++) {
        const int k = rank_of[ia__sampler_sample(s, big, NULL)];
        past += k >= n;
        for (int b = 0; b < BINS; b++)
            seen[b] += k >= edge[b] && k < edge[b + 1];
    }
    ia__sampler_free(s);
    double chi2 = 0;
    int df = -1;
    for (int b = 0; b < BINS; b++)
        if (want[b] > 0) {
            const double e = want[b] * LD;
            chi2 += (seen[b] - e) * (seen[b] - e) / e;
            df++;
        }
    static const double q999[5] = {0, 10.83, 13.82, 16.27, 18.47};
    printf("%-50s chi2 %6.2f, %d degrees of freedom (bound %.2f), %d candidates\n", what, chi2, df, q999[df], n);
    CHECK_MSG(past == 0, "%s: %ld draws past the cut at %d", what, past, n);
    CHECK_MSG(df >= 1 && chi2 < q999[df], "%s: chi-square %.2f: the draws do not follow the distribution", what, chi2);
}

int main(void)
{
    check_large("4000 tokens, temperature 1", (ia_sampling){.temperature = 1, .seed = 11});
    check_large("4000 tokens, temperature 0.7, top_p 0.9", (ia_sampling){.temperature = 0.7f, .top_p = 0.9f, .seed = 12});
    check_large("4000 tokens, top_k 800, min_p 0.1", (ia_sampling){.temperature = 1, .top_k = 800, .min_p = 0.1f, .seed = 13});
    check_distribution("temperature 1", (ia_sampling){.temperature = 1, .seed = 1});
    check_distribution("temperature 0.5", (ia_sampling){.temperature = 0.5f, .seed = 2});
    check_distribution("temperature 2, top_k 3", (ia_sampling){.temperature = 2, .top_k = 3, .seed = 3});
    for (uint64_t seed = 4; seed < 8; seed++)
        check_distribution("temperature 1, top_p 0.6", (ia_sampling){.temperature = 1, .top_p = 0.6f, .seed = seed});
    check_distribution("temperature 1, min_p 0.2", (ia_sampling){.temperature = 1, .min_p = 0.2f, .seed = 5});
    check_distribution("temperature 1.3, top_k 5, top_p 0.9, min_p 0.05",
                       (ia_sampling){.temperature = 1.3f, .top_k = 5, .top_p = 0.9f, .min_p = 0.05f, .seed = 6});

    /* greedy: the largest, the first of equals */
    ia_sampler *s = NULL;
    float lp = 0;
    CHECK_OK(ia__sampler_new(&(ia_sampling){0}, V, &s));
    CHECK(ia__sampler_sample(s, logits, &lp) == 0);
    double lse = 0;
    for (int t = 0; t < V; t++)
        lse += exp(logits[t]);
    CHECK(fabs(lp - (logits[0] - log(lse))) < 1e-6);
    const float tie[V] = {0, 5, 5, 0, 0, 0, 0, 0};
    CHECK(ia__sampler_sample(s, tie, NULL) == 1);
    /* penalties: token 0 seen twice, token 1 once */
    ia__sampler_free(s);
    CHECK_OK(ia__sampler_new(&(ia_sampling){.repetition_penalty = 2}, V, &s));
    ia__sampler_accept(s, 0);
    CHECK(ia__sampler_sample(s, logits, NULL) == 1); /* 2.0 / 2 = 1.0 < 1.5 */
    ia__sampler_free(s);
    const float neg[V] = {-0.5f, -0.8f, -9, -9, -9, -9, -9, -9};
    CHECK_OK(ia__sampler_new(&(ia_sampling){.repetition_penalty = 2}, V, &s));
    ia__sampler_accept(s, 0);
    CHECK(ia__sampler_sample(s, neg, NULL) == 1); /* -0.5 * 2 = -1.0 < -0.8 */
    ia__sampler_free(s);
    CHECK_OK(ia__sampler_new(&(ia_sampling){.presence_penalty = 0.3f, .frequency_penalty = 0.2f}, V, &s));
    ia__sampler_accept(s, 0);
    CHECK(ia__sampler_sample(s, logits, NULL) == 0); /* 2.0 - 0.3 - 0.2 = 1.5: tie with 1, 0 first */
    ia__sampler_accept(s, 0);
    CHECK(ia__sampler_sample(s, logits, NULL) == 1); /* 2.0 - 0.3 - 0.4 = 1.3 */
    ia__sampler_free(s);
    /* logit_bias */
    const ia_logit_bias ban[2] = {{0, -100}, {6, 10}};
    CHECK_OK(ia__sampler_new(&(ia_sampling){.logit_bias = ban, .n_logit_bias = 2}, V, &s));
    CHECK(ia__sampler_sample(s, logits, NULL) == 6);
    ia__sampler_free(s);

    /* seeds */
    int32_t a[64], b[64], c[64];
    for (int run = 0; run < 3; run++) {
        CHECK_OK(ia__sampler_new(&(ia_sampling){.temperature = 1, .seed = run == 2 ? 43 : 42}, V, &s));
        for (int i = 0; i < 64; i++)
            (run == 0 ? a : run == 1 ? b : c)[i] = ia__sampler_sample(s, logits, NULL);
        ia__sampler_free(s);
    }
    CHECK(!memcmp(a, b, sizeof a) && memcmp(a, c, sizeof a));

    /* top log-probabilities */
    int32_t tok[3];
    float lps[3];
    CHECK(ia__top_logprobs(logits, V, 3, tok, lps) == 3);
    CHECK(tok[0] == 0 && tok[1] == 1 && tok[2] == 2);
    CHECK(fabs(lps[1] - (1.5 - log(lse))) < 1e-6 && lps[0] >= lps[1]);

    /* refused */
    CHECK(ia__sampler_new(&(ia_sampling){.top_p = 1.5f}, V, &s) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "top_p");
    CHECK(ia__sampler_new(&(ia_sampling){.top_k = -1}, V, &s) == IA_ERR_INVALID);
    CHECK(ia__sampler_new(&(ia_sampling){.min_p = -0.1f}, V, &s) == IA_ERR_INVALID);
    CHECK(ia__sampler_new(&(ia_sampling){.temperature = NAN}, V, &s) == IA_ERR_INVALID);
    const ia_logit_bias bad[1] = {{V, 1}};
    CHECK(ia__sampler_new(&(ia_sampling){.logit_bias = bad, .n_logit_bias = 1}, V, &s) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "logit_bias for token 8");
    return test_summary("test_sampler");
}
