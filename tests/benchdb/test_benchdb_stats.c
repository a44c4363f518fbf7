/*
 * The statistics and meters of `ipfs-accelerate bench` (src/benchdb/):
 * Student t critical values against published tables, percentiles against
 * numpy's linear interpolation, Tukey outliers, and the 95% confidence
 * interval's coverage on samples drawn from known distributions (a normal
 * with n = 5, where a normal-quantile interval would cover only ~88%); the
 * RAPL reader on a fake powercap tree (sub-zones skipped, wrap-around
 * corrected, unreadable zones reported as no energy). Deterministic: the
 * samples come from a fixed-seed generator, nothing is timed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "benchdb/benchdb.h"

static int failures;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
            failures++;                                                     \
        }                                                                   \
    } while (0)

#define NEAR(a, b, tol) (fabs((a) - (b)) <= (tol))

/* xorshift64*: a fixed sequence, the same on every machine. */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double uniform(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return ((rng * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}
static double normal(void)
{
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static void test_t(void)
{
    /* Two-sided 95% critical values (t_{0.975, df}), standard tables. */
    static const struct { double df, t; } table[] = {
        {1, 12.7062}, {2, 4.3027}, {3, 3.1824}, {4, 2.7764}, {5, 2.5706}, {9, 2.2622},
        {10, 2.2281}, {20, 2.0860}, {30, 2.0423}, {60, 2.0003}, {120, 1.9799}, {1e9, 1.9600},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        double t = ia__bench_t95(table[i].df);
        CHECK(NEAR(t, table[i].t, 1e-3), "t95(%g) = %.5f, want %.4f", table[i].df, t, table[i].t);
    }
    CHECK(NEAR(ia__bench_t_cdf(0, 7), 0.5, 1e-12), "cdf(0)");
    /* df = 1 is the Cauchy distribution: CDF = 1/2 + atan(t)/pi. */
    for (double t = -5; t <= 5; t += 0.5)
        CHECK(NEAR(ia__bench_t_cdf(t, 1), 0.5 + atan(t) / M_PI, 1e-9), "cauchy cdf(%g)", t);
}

static void test_quantiles(void)
{
    double x[100];
    for (int i = 0; i < 100; i++)
        x[i] = 100 - i; /* 100..1, unsorted on purpose */
    ia_bench_summary s;
    bool out[100];
    CHECK(ia__bench_summarize(x, 100, &s, out) == IA_OK, "summarize");
    /* numpy.percentile(np.arange(1, 101), [25, 50, 75, 90, 99]) */
    CHECK(NEAR(s.mean, 50.5, 1e-12), "mean %g", s.mean);
    CHECK(NEAR(s.q1, 25.75, 1e-12), "q1 %g", s.q1);
    CHECK(NEAR(s.p50, 50.5, 1e-12), "p50 %g", s.p50);
    CHECK(NEAR(s.q3, 75.25, 1e-12), "q3 %g", s.q3);
    CHECK(NEAR(s.p90, 90.1, 1e-9), "p90 %g", s.p90);
    CHECK(NEAR(s.p99, 99.01, 1e-9), "p99 %g", s.p99);
    CHECK(s.min == 1 && s.max == 100, "min/max");
    /* sample sd of 1..100 = sqrt(100*101/12) = 29.0115 */
    CHECK(NEAR(s.stddev, sqrt(100.0 * 101.0 / 12.0), 1e-9), "sd %g", s.stddev);
    CHECK(NEAR(s.ci95, ia__bench_t95(99) * s.stddev / 10, 1e-12), "ci %g", s.ci95);
    CHECK(s.n_outliers == 0, "no outliers in a uniform grid, got %zu", s.n_outliers);

    /* One slow call among steady ones: flagged, and only it. */
    double y[21];
    for (int i = 0; i < 20; i++)
        y[i] = 10 + 0.1 * (i % 5);
    y[20] = 50;
    bool fl[21];
    CHECK(ia__bench_summarize(y, 21, &s, fl) == IA_OK, "summarize");
    CHECK(s.n_outliers == 1 && fl[20], "outlier: %zu flagged, last %d", s.n_outliers, fl[20]);
    for (int i = 0; i < 20; i++)
        CHECK(!fl[i], "sample %d flagged", i);

    /* Degenerate sizes. */
    CHECK(ia__bench_summarize(y, 0, &s, NULL) == IA_OK && s.n == 0 && s.ci95 == 0, "n=0");
    CHECK(ia__bench_summarize(y, 1, &s, NULL) == IA_OK && s.mean == 10 && s.ci95 == 0 && s.p99 == 10, "n=1");
    CHECK(!ia__bench_precise_enough(&s, 2, 0.05), "one sample is never precise enough");
}

/* The interval covers the true mean 95% of the time; with n = 5 a
 * normal-quantile (1.96) interval would cover ~88%. 4000 trials: the
 * binomial standard error is 0.34%, the bounds ~4 of them. */
static void test_coverage(void)
{
    const int trials = 4000, n = 5;
    int covered = 0, covered_z = 0;
    for (int t = 0; t < trials; t++) {
        double x[5];
        for (int i = 0; i < n; i++)
            x[i] = 3.0 + 0.5 * normal();
        ia_bench_summary s;
        ia__bench_summarize(x, (size_t)n, &s, NULL);
        covered += fabs(s.mean - 3.0) <= s.ci95;
        covered_z += fabs(s.mean - 3.0) <= 1.96 * s.stddev / sqrt((double)n);
    }
    double c = (double)covered / trials, cz = (double)covered_z / trials;
    CHECK(c > 0.935 && c < 0.965, "Student t CI coverage %.4f", c);
    CHECK(cz < 0.91, "the normal-quantile interval should under-cover at n=5: %.4f", cz);

    /* A large exponential(1) sample: mean 1, median ln 2, p90 ln 10. */
    size_t big = 200000;
    double *e = malloc(big * sizeof *e);
    for (size_t i = 0; i < big; i++)
        e[i] = -log(1 - uniform());
    ia_bench_summary s;
    ia__bench_summarize(e, big, &s, NULL);
    CHECK(NEAR(s.mean, 1, 0.01), "exp mean %g", s.mean);
    CHECK(NEAR(s.p50, log(2), 0.01), "exp median %g", s.p50);
    CHECK(NEAR(s.p90, log(10), 0.03), "exp p90 %g", s.p90);
    CHECK(NEAR(s.p99, log(100), 0.1), "exp p99 %g", s.p99);
    /* Tukey's upper fence of exp(1) is q3 + 1.5 IQR = ln4 + 1.5 ln3:
     * P(X > fence) = exp(-fence) = 1/(4 * 3^1.5) = 4.81%. */
    double frac = (double)s.n_outliers / (double)big;
    CHECK(NEAR(frac, 0.0481, 0.003), "exp outlier fraction %g", frac);
    CHECK(ia__bench_precise_enough(&s, 5, 0.05), "200000 samples are precise enough");
    free(e);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static void test_meters(void)
{
    CHECK(ia__bench_peak_rss() > 0, "peak RSS");

    char root[] = "/tmp/ia-benchdb-rapl-XXXXXX", p[512];
    CHECK(mkdtemp(root) != NULL, "mkdtemp");
    const char *zones[] = {"intel-rapl:0", "intel-rapl:0:0", "intel-rapl:1"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", root, zones[i]);
        mkdir(p, 0755);
    }
    snprintf(p, sizeof p, "%s/intel-rapl:0/energy_uj", root);
    write_file(p, "1000000\n");
    snprintf(p, sizeof p, "%s/intel-rapl:0/max_energy_range_uj", root);
    write_file(p, "262143328850\n");
    snprintf(p, sizeof p, "%s/intel-rapl:0:0/energy_uj", root);
    write_file(p, "5\n");
    snprintf(p, sizeof p, "%s/intel-rapl:1/energy_uj", root);
    write_file(p, "262143000000\n");
    snprintf(p, sizeof p, "%s/intel-rapl:1/max_energy_range_uj", root);
    write_file(p, "262143328850\n");
    ia_bench_energy e;
    CHECK(ia__bench_energy_start(&e, root) == 2, "two package zones, got %d", e.n);
    snprintf(p, sizeof p, "%s/intel-rapl:0/energy_uj", root);
    write_file(p, "3500000\n"); /* +2.5 J */
    snprintf(p, sizeof p, "%s/intel-rapl:0:0/energy_uj", root);
    write_file(p, "999999999\n"); /* a sub-zone: not added again */
    snprintf(p, sizeof p, "%s/intel-rapl:1/energy_uj", root);
    write_file(p, "671150\n"); /* wrapped: 328850 + 671150 uJ = 1 J */
    double j = ia__bench_energy_joules(&e);
    CHECK(NEAR(j, 3.5, 1e-9), "energy %g J, want 3.5", j);

    /* A zone that cannot be read: no energy at all, not a partial sum. */
    snprintf(p, sizeof p, "%s/intel-rapl:1/energy_uj", root);
    unlink(p);
    CHECK(ia__bench_energy_joules(&e) < 0, "a vanished zone gives no figure");
    CHECK(ia__bench_energy_start(&e, root) == 0, "an unreadable zone: unavailable");
    CHECK(ia__bench_energy_start(&e, "/nonexistent/powercap") == 0 && ia__bench_energy_joules(&e) < 0,
          "no powercap: unavailable");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
}

int main(void)
{
    test_t();
    test_quantiles();
    test_coverage();
    test_meters();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    puts("benchdb statistics: ok");
    return 0;
}
