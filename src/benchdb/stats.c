/*
 * Statistics of timed samples for `ipfs-accelerate bench`: mean, sample
 * standard deviation, the 95% confidence interval of the mean from
 * Student's t (computed from the regularized incomplete beta function, not
 * a table, so any number of samples gets its exact critical value),
 * percentiles by linear interpolation (numpy's default), and outliers by
 * Tukey's fences (1.5 IQR beyond the quartiles). Checked on known
 * distributions by tests/benchdb/test_benchdb_stats.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "benchdb/benchdb.h"
#include "core/core-impl.h"

/* Continued fraction of the incomplete beta function (modified Lentz). */
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300, eps = 1e-15;
    double qab = a + b, qap = a + 1, qam = a - 1;
    double c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny)
        d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 1000; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < eps)
            break;
    }
    return h;
}

/* Regularized incomplete beta I_x(a, b). */
static double beta_inc(double a, double b, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1) / (a + b + 2))
        return exp(lbt) * beta_cf(a, b, x) / a;
    return 1 - exp(lbt) * beta_cf(b, a, 1 - x) / b;
}

double ia__bench_t_cdf(double t, double df)
{
    double tail = 0.5 * beta_inc(df / 2, 0.5, df / (df + t * t));
    return t >= 0 ? 1 - tail : tail;
}

double ia__bench_t95(double df)
{
    if (!(df >= 1))
        df = 1;
    if (df > 1e7)
        return 1.959963984540054;
    /* The CDF is monotone in t: bisect for 0.975. t(1) = 12.706 < 64. */
    double lo = 0, hi = 64;
    for (int i = 0; i < 100; i++) {
        double mid = 0.5 * (lo + hi);
        if (ia__bench_t_cdf(mid, df) < 0.975)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

double ia__bench_quantile(const double *sorted, size_t n, double q)
{
    if (n == 0)
        return 0;
    if (q <= 0)
        return sorted[0];
    if (q >= 1)
        return sorted[n - 1];
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    double frac = pos - (double)i;
    if (i + 1 >= n)
        return sorted[n - 1];
    return sorted[i] + frac * (sorted[i + 1] - sorted[i]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

ia_status ia__bench_summarize(const double *x, size_t n, ia_bench_summary *s, bool *outlier)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    if (n == 0)
        return IA_OK;
    double *sorted = ia__malloc(n * sizeof *sorted);
    if (!sorted)
        return ia__error(IA_ERR_NOMEM, "bench statistics: %zu samples", n);
    memcpy(sorted, x, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_double);

    /* Welford: one pass, no catastrophic cancellation on close values. */
    double mean = 0, m2 = 0;
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - mean;
        mean += d / (double)(i + 1);
        m2 += d * (x[i] - mean);
    }
    s->mean = mean;
    s->stddev = n > 1 ? sqrt(m2 / (double)(n - 1)) : 0;
    s->ci95 = n > 1 ? ia__bench_t95((double)(n - 1)) * s->stddev / sqrt((double)n) : 0;
    s->min = sorted[0];
    s->max = sorted[n - 1];
    s->q1 = ia__bench_quantile(sorted, n, 0.25);
    s->p50 = ia__bench_quantile(sorted, n, 0.50);
    s->q3 = ia__bench_quantile(sorted, n, 0.75);
    s->p90 = ia__bench_quantile(sorted, n, 0.90);
    s->p99 = ia__bench_quantile(sorted, n, 0.99);
    double iqr = s->q3 - s->q1, lo = s->q1 - 1.5 * iqr, hi = s->q3 + 1.5 * iqr;
    for (size_t i = 0; i < n; i++) {
        bool out = x[i] < lo || x[i] > hi;
        s->n_outliers += out;
        if (outlier)
            outlier[i] = out;
    }
    ia__free(sorted);
    return IA_OK;
}

bool ia__bench_precise_enough(const ia_bench_summary *s, size_t min_n, double rel_target)
{
    if (s->n < min_n || s->n < 2 || !(s->mean > 0))
        return false;
    return s->ci95 <= rel_target * s->mean;
}
