/*
 * The benchmark database and its measurements (`ipfs-accelerate bench`,
 * docs/benchmarks.md): statistics over timed samples (mean, Student-t
 * confidence interval, percentiles, Tukey outliers), the machine's own
 * meters (peak RSS, RAPL energy), and the SQLite store of runs with its
 * numbered migrations. Built as its own static library (ia_benchdb) so the
 * engine library does not depend on SQLite; the CLI and the tests link it.
 * Internal: never installed. Errors are recorded like the library's
 * (ia_errmsg() names what was wrong).
 */
#ifndef IA_BENCHDB_H
#define IA_BENCHDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "benchdb/perfmodel.h"
#include "ipfs_accelerate/common.h"

/* ---- statistics (stats.c) --------------------------------------------- */

typedef struct ia_bench_summary {
    size_t n;            /* samples */
    double mean, stddev; /* sample standard deviation (n - 1) */
    double ci95;         /* half-width of the 95% CI of the mean (Student t);
                            0 when n < 2 */
    double min, max;
    double q1, p50, q3, p90, p99; /* linear interpolation (numpy's default) */
    size_t n_outliers;   /* beyond 1.5 IQR from the quartiles (Tukey) */
} ia_bench_summary;

/* The two-sided 95% critical value of Student's t with df degrees of
 * freedom (df >= 1): 12.706 for 1, 2.776 for 4, -> 1.960. */
double ia__bench_t95(double df);
/* Student t CDF at t with df degrees of freedom. */
double ia__bench_t_cdf(double t, double df);
/* The q-quantile (0..1) of sorted[0..n-1], linearly interpolated. */
double ia__bench_quantile(const double *sorted, size_t n, double q);
/* Summarize x[0..n-1] (not modified; n may be 0). outlier, when not NULL,
 * gets n flags in the order of x. IA_ERR_NOMEM only. */
ia_status ia__bench_summarize(const double *x, size_t n, ia_bench_summary *s, bool *outlier);
/* The stopping rule: at least min_n samples and the CI's half-width within
 * rel_target of the mean. */
bool ia__bench_precise_enough(const ia_bench_summary *s, size_t min_n, double rel_target);

/* ---- meters (meters.c) ------------------------------------------------- */

/* Reset the kernel's peak-RSS mark of this process (/proc/self/clear_refs
 * "5"); false where the kernel refuses, then ia__bench_peak_rss reports the
 * process's lifetime peak instead. */
bool ia__bench_rss_reset(void);
/* Peak resident set in bytes: VmHWM from /proc/self/status, else
 * getrusage's ru_maxrss; 0 when neither can be read. */
uint64_t ia__bench_peak_rss(void);

/* Package energy counters of RAPL under root (NULL: /sys/class/powercap):
 * the top-level intel-rapl:N zones whose energy_uj is readable. */
typedef struct ia_bench_energy {
    int n;                    /* zones read; 0: energy unavailable */
    uint64_t uj[16];          /* energy_uj at the start */
    uint64_t range_uj[16];    /* max_energy_range_uj (wrap-around); 0 unknown */
    char root[512];
} ia_bench_energy;
/* Start: read the counters. Returns the number of zones (0 when none is
 * readable: no RAPL, or not permitted, as usual for non-root users). */
int ia__bench_energy_start(ia_bench_energy *e, const char *root);
/* Joules since the start (counters that wrapped are corrected once), or
 * a negative value when no zone could be read again. */
double ia__bench_energy_joules(const ia_bench_energy *e);

/* ---- the database (db.c) ------------------------------------------------ */

typedef struct ia_benchdb ia_benchdb;

/* The newest schema version this build knows. */
#define IA_BENCHDB_SCHEMA_VERSION 5

/* The default database: $IPFS_ACCELERATE_HOME/bench.db (the store's home,
 * ia_store_home: else ~/.ipfs_accelerate). */
ia_status ia__benchdb_default_path(char *buf, size_t cap);
/* Open (creating the file and its folder if needed) and migrate to the
 * newest schema: WAL journal, a busy timeout so concurrent writers wait
 * for each other, migrations applied in order in one transaction.
 * IA_ERR_FORMAT when the file is newer than this build (its version is
 * named) or not a database; IA_ERR_IO when it cannot be opened. */
ia_status ia__benchdb_open(const char *path, ia_benchdb **out);
/* Open and migrate only up to version (tests: an older schema). */
ia_status ia__benchdb_open_version(const char *path, int version, ia_benchdb **out);
void ia__benchdb_close(ia_benchdb *db);
/* The schema version of the open database. */
int ia__benchdb_version(ia_benchdb *db);
/* The underlying sqlite3 handle (borrowed), for tests and queries. */
struct sqlite3 *ia__benchdb_handle(ia_benchdb *db);

typedef struct ia_bench_hardware {
    const char *type;        /* hardware_type: the backend that ran, "cpu" */
    const char *device;      /* "cpu:0" */
    const char *device_name; /* the backend's name of the device */
    const char *cpu_model, *cpu_vendor, *arch;
    const char *cpu_flags;   /* the features the probe saw, space-separated */
    int cores, logical_cpus;
    int64_t memory_bytes;
    const char *gpus;        /* JSON array of GPUs seen ("[]" none) */
    const char *detect_json; /* the whole ia_hardware_detect_json document */
} ia_bench_hardware;

typedef struct ia_bench_software {
    const char *engine_version; /* ia_version() */
    const char *compiler;       /* __VERSION__ of the build */
    const char *os;             /* uname: "Linux 6.1.0 x86_64" */
} ia_bench_software;

typedef struct ia_bench_model {
    const char *name;          /* as given on the command line */
    const char *path;          /* the folder it was loaded from */
    const char *architecture;  /* "bert" */
    int64_t n_params;
    int dim, n_layers, hidden_size;
    const char *weights_dtype; /* "F32" */
    const char *cid;           /* IPFS CID when loaded by CID, else NULL */
} ia_bench_model;

typedef struct ia_bench_shape {
    int batch_size;        /* texts per call */
    int seq_len;           /* tokens per text, specials included */
    const char *precision; /* requested: "fp32" */
    int threads;           /* requested; 0 = one per core */
} ia_bench_shape;

typedef struct ia_bench_run {
    const char *precision_used; /* what the engine computed in */
    size_t n_warmup;
    ia_bench_summary lat;   /* latency of one call, seconds */
    bool converged;         /* the CI reached the target before the limit */
    double target_ci;       /* relative */
    double duration_s;      /* timed calls, wall clock */
    double texts_per_s, tokens_per_s;
    uint64_t peak_rss;      /* bytes */
    const char *rss_scope;  /* "run" (peak reset before it) or "process" */
    double energy_j;        /* < 0: not available (stored as NULL) */
    const char *metadata;   /* extra JSON object, or NULL */
    const char *phase;      /* NULL: embedding; a decoder's "prefill" (seq_len tokens) or
                               "decode" (one step at KV length seq_len) */
} ia_bench_run;

/* Store one run and its context in one transaction; *id (may be NULL)
 * gets benchmark_results.id. */
ia_status ia__benchdb_insert(ia_benchdb *db, const ia_bench_hardware *hw, const ia_bench_software *sw,
                             const ia_bench_model *m, const ia_bench_shape *shape,
                             const ia_bench_run *run, int64_t *id);

/* The machine's measured peaks (perfmodel.h), keyed by its hardware
 * fingerprint, the device (p->device; empty or NULL: cpu:0) and the thread
 * count asked for (0: one per core; other devices 0): put replaces what
 * was stored in one transaction; get fills *p or answers IA_ERR_NOT_FOUND
 * (nothing measured here yet, the message says so). */
ia_status ia__benchdb_peaks_put(ia_benchdb *db, const ia_bench_hardware *hw, const char *engine_version,
                                const ia_pm_peaks *p);
ia_status ia__benchdb_peaks_get(ia_benchdb *db, const ia_bench_hardware *hw, const char *device, int threads,
                                ia_pm_peaks *p);

/* The newest stored run of each (batch, seq_len) of one model (by the
 * folder or file it was loaded from), precision requested, thread count
 * and phase (NULL: embedding runs) on this machine (its hardware
 * fingerprint), in order of batch then seq_len. *out owned by the caller
 * (ia_free); *n may be 0. */
typedef struct ia_bench_point {
    int64_t id;
    int batch_size, seq_len;
    double latency_mean_s, latency_p50_s;
    double peak_rss_bytes; /* 0: not recorded */
    /* Seconds per call in linear, attention and other ops, from the
     * backend's profile when the run recorded it (metadata "op_seconds",
     * as `bench validate` does); negative: not recorded. */
    double op_s[3];
    double linear_flop;    /* the backend's count per call; 0: not recorded */
} ia_bench_point;
ia_status ia__benchdb_points(ia_benchdb *db, const ia_bench_hardware *hw, const char *model_path,
                             const char *precision, int threads, const char *phase, ia_bench_point **out,
                             size_t *n);

/* The stored runs, oldest first, as a JSON array of objects (one per run,
 * with its model, shape, hardware and figures). *out owned by the caller
 * (ia_free). */
ia_status ia__benchdb_list_json(ia_benchdb *db, char **out);

#endif
