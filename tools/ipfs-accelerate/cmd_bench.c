/*
 * `ipfs-accelerate bench`: measure a model over a matrix of batch sizes,
 * sequence lengths and precisions, with statistics, and store every run in
 * the benchmark database (src/benchdb/, docs/benchmarks.md);
 * `ipfs-accelerate bench list` prints what is stored. Inputs are built from
 * the model's own tokenizer to exactly the requested token count (checked
 * by encoding them, and again by the engine's token count). Each point is
 * warmed up, then timed call by call until the 95% confidence interval of
 * the mean latency is within --target-ci of it, or --time-limit passes.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "backend/backend-impl.h"
#include "benchdb/advise.h"
#include "benchdb/benchdb.h"
#include "benchdb/report.h"
#include "core/config-impl.h"
#include "cli.h"
#include "model/decoder.h"
#include "model/gguf-impl.h"
#include "model/lm.h"
#include "model/model-impl.h"

static const char bench_help[] =
    "Usage: ipfs-accelerate bench --model M [options]\n"
    "       ipfs-accelerate bench list [--db PATH] [--json]\n"
    "       ipfs-accelerate bench peaks [--db PATH] [--remeasure] [--json]\n"
    "       ipfs-accelerate bench validate --model M [--db PATH] [--json]\n"
    "       ipfs-accelerate bench predict --model M [-b LIST] [-s LIST] [--db PATH] [--json]\n"
    "       ipfs-accelerate bench report -o report.html [--db PATH]\n"
    "\n"
    "Measure embedding throughput and latency of model M (a folder, a Hugging\n"
    "Face id or ipfs://CID) at every point of the matrix batch size x sequence\n"
    "length x precision, and store each run in the benchmark database.\n"
    "Each point is warmed up, then timed call by call until the 95% confidence\n"
    "interval (Student t) of the mean latency is within --target-ci of it, or\n"
    "its time limit passes. Outliers (beyond 1.5 IQR) are counted, not dropped.\n"
    "\n"
    "  -m, --model M           the model\n"
    "  -b, --batch-sizes LIST  texts per call, e.g. 1,8,32 (default 1,8,32)\n"
    "  -s, --seq-lens LIST     tokens per text, specials included (default 16,128)\n"
    "      --precision LIST    fp32, int8, bf16 (default fp32)\n"
    "  -j, --threads N         worker threads (default: one per core)\n"
    "      --target-ci F       relative half-width of the 95% CI to reach (default 0.05)\n"
    "      --time-limit S      seconds of timed calls per point at most (default 10)\n"
    "      --warmup N          untimed calls before each point (default 2)\n"
    "      --min-samples N     timed calls per point at least (default 5)\n"
    "      --db PATH           the database (default $IPFS_ACCELERATE_HOME/bench.db,\n"
    "                          else ~/.ipfs_accelerate/bench.db)\n"
    "      --no-store          measure and print only\n"
    "      --cid               record the model folder's CID (hashes every file, as\n"
    "                          'model add --only-hash'); a model loaded by ipfs://CID\n"
    "                          has it recorded anyway\n"
    "      --json              one JSON document on stdout: {\"db\", \"runs\": [...]}\n"
    "  -q, --quiet             no progress line (it is shown only on a terminal)\n"
    "\n"
    "Recorded per run: texts/s and tokens/s, latency mean, CI, p50/p90/p99,\n"
    "peak resident memory, and RAPL package energy where readable (else null;\n"
    "IPFS_ACCELERATE_POWERCAP_DIR replaces /sys/class/powercap, for tests).\n";

enum { OPT_PRECISION = 0x2000, OPT_TARGET_CI, OPT_TIME_LIMIT, OPT_WARMUP, OPT_MIN_SAMPLES, OPT_DB, OPT_JSON,
       OPT_NO_STORE, OPT_CID };

#define MAX_LIST 32

typedef struct bench_args {
    const char *model, *db_path;
    long batches[MAX_LIST], seqs[MAX_LIST];
    size_t n_batches, n_seqs;
    char *precisions[MAX_LIST];
    size_t n_precisions;
    char *precision_buf;
    long threads, warmup, min_samples;
    double target_ci, time_limit;
    bool json, quiet, store, cid;
} bench_args;

static bool parse_longs(const char *s, long lo, long hi, long *out, size_t *n)
{
    *n = 0;
    const char *p = s;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        char tmp[32];
        if (l == 0 || l >= sizeof tmp || *n >= MAX_LIST)
            return false;
        memcpy(tmp, p, l);
        tmp[l] = 0;
        if (!cli_parse_long(tmp, lo, hi, &out[(*n)++]))
            return false;
        p += l + (comma ? 1 : 0);
        if (comma && !*p)
            return false;
    }
    return *n > 0;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static bool precision_ok(const char *p)
{
    return !strcmp(p, "fp32") || !strcmp(p, "int8") || !strcmp(p, "bf16");
}

/* The options `bench`, `bench validate` and `bench predict` share, into *a:
 * --batch-sizes, --seq-lens, --threads, --time-limit, --db, --json and
 * --quiet (each subcommand's option table says which it takes). 0 when c
 * is one of them and its value good, cli_usage's status when the value is
 * bad, -1 when c is none of them. */
static int grid_option(int c, bench_args *a)
{
    switch (c) {
    case 'b':
        if (!parse_longs(optarg, 1, 1 << 16, a->batches, &a->n_batches))
            return cli_usage("bench", "--batch-sizes: a comma-separated list of 1..65536 (at most %d)", MAX_LIST);
        return 0;
    case 's':
        if (!parse_longs(optarg, 1, 1 << 20, a->seqs, &a->n_seqs))
            return cli_usage("bench", "--seq-lens: a comma-separated list of token counts (at most %d)", MAX_LIST);
        return 0;
    case 'j':
        if (!cli_parse_long(optarg, 0, 4096, &a->threads))
            return cli_usage("bench", "--threads: a number from 0 to 4096");
        return 0;
    case OPT_TIME_LIMIT:
        if (!parse_double(optarg, 0, 86400, &a->time_limit))
            return cli_usage("bench", "--time-limit: seconds, 0 to 86400");
        return 0;
    case OPT_DB: a->db_path = optarg; return 0;
    case OPT_JSON: a->json = true; return 0;
    case 'q': a->quiet = true; return 0;
    default: return -1;
    }
}

/* ---- the context of a run: hardware and software ------------------------ */

typedef struct bench_ctx {
    char *detect_json;  /* ia_hardware_detect_json's (ia_free) */
    char *detect_copy;  /* or a copy of one given (free) */
    cJSON *detect;
    char *flags, *gpus;
    char os[256];
    ia_bench_hardware hw;
    ia_bench_software sw;
} bench_ctx;

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(j) ? j->valuedouble : 0;
}

/* The fingerprint from the library's own hardware detection. */
/* detect_json: a detection made earlier (serve makes it once, on its main
 * thread: probing Vulkan and OpenCL from a handler thread leaves LLVM's
 * signal stack behind in it); NULL: detect now. */
static int ctx_init_from(bench_ctx *c, const char *detect_json)
{
    memset(c, 0, sizeof *c);
    ia_status st = IA_OK;
    if (detect_json) {
        size_t n = strlen(detect_json) + 1;
        c->detect_copy = malloc(n);
        if (!c->detect_copy)
            return cli_fail(IA_ERR_NOMEM, "hardware detection");
        memcpy(c->detect_copy, detect_json, n);
    } else if ((st = ia_hardware_detect_json(&c->detect_json))) {
        return cli_fail(st, "hardware detection");
    }
    const char *json = c->detect_json ? c->detect_json : c->detect_copy;
    c->detect = cJSON_Parse(json);
    cJSON *gpus = cJSON_CreateArray();
    size_t flags_cap = 1024;
    c->flags = calloc(1, flags_cap);
    if (!c->detect || !gpus || !c->flags) {
        cJSON_Delete(gpus);
        return cli_fail(IA_ERR_NOMEM, "hardware detection");
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c->detect, "platforms"))
    {
        const char *id = jstr(p, "id");
        if (id && !strcmp(id, "cpu")) {
            const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(p, "cpu");
            c->hw.cpu_model = jstr(cpu, "model");
            c->hw.cpu_vendor = jstr(cpu, "vendor");
            c->hw.arch = jstr(cpu, "arch");
            c->hw.cores = (int)jnum(cpu, "cores");
            c->hw.logical_cpus = (int)jnum(cpu, "logical_cpus");
            c->hw.memory_bytes = (int64_t)jnum(cpu, "memory_total");
            const cJSON *f;
            cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(cpu, "features"))
            {
                if (!cJSON_IsTrue(f))
                    continue;
                size_t l = strlen(c->flags);
                snprintf(c->flags + l, flags_cap - l, "%s%s", l ? " " : "", f->string);
            }
            continue;
        }
        const char *state = jstr(p, "state");
        if (!state || !strcmp(state, "not_present") || !strcmp(state, "not present"))
            continue;
        const cJSON *d;
        cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(p, "devices"))
        {
            cJSON *g = cJSON_CreateObject();
            cJSON_AddStringToObject(g, "platform", id ? id : "");
            cJSON_AddStringToObject(g, "name", jstr(d, "name") ? jstr(d, "name") : "");
            /* The machine's identity: a CPU device's memory (pocl's,
             * lavapipe's) follows the host's free memory, so it is left
             * out; the host's total is in the row already. */
            const char *kind = jstr(d, "kind");
            if (!kind || strcmp(kind, "cpu"))
                cJSON_AddNumberToObject(g, "memory", jnum(d, "memory"));
            if (jstr(d, "driver"))
                cJSON_AddStringToObject(g, "driver", jstr(d, "driver"));
            if (jstr(d, "detail"))
                cJSON_AddStringToObject(g, "detail", jstr(d, "detail"));
            cJSON_AddItemToArray(gpus, g);
        }
    }
    c->gpus = cJSON_PrintUnformatted(gpus);
    cJSON_Delete(gpus);
    c->hw.cpu_flags = c->flags;
    c->hw.gpus = c->gpus;
    c->hw.detect_json = json;

    struct utsname u;
    if (uname(&u) == 0)
        snprintf(c->os, sizeof c->os, "%s %s %s", u.sysname, u.release, u.machine);
    c->sw.engine_version = ia_version();
#if defined(__clang__)
    c->sw.compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
    c->sw.compiler = "gcc " __VERSION__;
#else
    c->sw.compiler = "unknown";
#endif
    c->sw.os = c->os;
    return 0;
}

static int ctx_init(bench_ctx *c) { return ctx_init_from(c, NULL); }

static void ctx_close(bench_ctx *c)
{
    cJSON_Delete(c->detect);
    ia_free(c->detect_json);
    free(c->detect_copy);
    free(c->flags);
    cJSON_free(c->gpus);
}

/* ---- inputs of an exact token length ------------------------------------ */

static size_t count_tokens(const ia_tokenizer *tok, const char *text, size_t len, size_t limit, bool *trunc)
{
    size_t cap = limit + 8, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids)
        return 0;
    ia_encoding_stats es = {0};
    if (ia_tokenizer_encode(tok, text, len, limit, ids, cap, &n, &es))
        n = 0;
    free(ids);
    if (trunc)
        *trunc = es.n_truncated > 0;
    return n;
}

/* A word the tokenizer keeps as one token each time it is repeated. */
static const char *one_token_word(const ia_tokenizer *tok, size_t n_special)
{
    static const char *const words[] = {"hello", "the", "a", "word", "test", "time", "x", "and"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        char four[64];
        int l = snprintf(four, sizeof four, "%s %s %s %s", words[i], words[i], words[i], words[i]);
        if (count_tokens(tok, four, (size_t)l, 64, NULL) == n_special + 4)
            return words[i];
    }
    return NULL;
}

/* Text of exactly seq_len tokens (specials included), checked by encoding;
 * NULL with *why filled when it cannot be built. Caller frees. */
static char *exact_text(const ia_tokenizer *tok, long seq_len, const char **why)
{
    size_t n_special = count_tokens(tok, "", 0, 64, NULL);
    if ((size_t)seq_len <= n_special) {
        *why = "is not above the tokenizer's special tokens";
        return NULL;
    }
    const char *w = one_token_word(tok, n_special);
    if (!w) {
        *why = "cannot be built: no plain word of the vocabulary encodes as one token";
        return NULL;
    }
    size_t k = (size_t)seq_len - n_special, wl = strlen(w);
    char *text = malloc(k * (wl + 1) + 1);
    if (!text) {
        *why = "out of memory";
        return NULL;
    }
    char *p = text;
    for (size_t i = 0; i < k; i++) {
        if (i)
            *p++ = ' ';
        memcpy(p, w, wl);
        p += wl;
    }
    *p = 0;
    bool trunc = false;
    size_t n = count_tokens(tok, text, (size_t)(p - text), (size_t)seq_len + 4, &trunc);
    if (n != (size_t)seq_len || trunc) {
        free(text);
        *why = "cannot be reached exactly with this tokenizer";
        return NULL;
    }
    return text;
}

/* ---- one point of the matrix --------------------------------------------- */

typedef struct progress {
    bool on;
    size_t done, total;
    double start, limit;
    const char *label;
} progress;

static void progress_show(const progress *pg, size_t n, double elapsed, double rel_ci)
{
    if (!pg->on)
        return;
    /* ETA: the rest of this point's time limit (an upper bound: it may
     * converge sooner), then the points left at the average pace of the
     * finished ones (the time limit before any has finished). */
    double spent = cli_now() - pg->start;
    double per_point = pg->done ? (spent - elapsed) / (double)pg->done : pg->limit;
    double eta = (pg->limit > elapsed ? pg->limit - elapsed : 0) + per_point * (double)(pg->total - pg->done - 1);
    int width = 20, fill = (int)((double)width * ((double)pg->done + (pg->limit > 0 ? elapsed / pg->limit : 0)) /
                                 (double)pg->total);
    if (fill > width)
        fill = width;
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r\033[K[%s] %zu/%zu %s: %zu calls, CI %s%.1f%%, ETA %d:%02d", bar, pg->done + 1, pg->total,
            pg->label, n, rel_ci > 0 ? "\xc2\xb1" : "", rel_ci * 100, (int)eta / 60, (int)eta % 60);
    fflush(stderr);
}

typedef struct point_result {
    ia_bench_run run;
} point_result;

static int measure_point(const ia_model *m, const char *text, long batch, long seq_len, const bench_args *a,
                         progress *pg, point_result *pr)
{
    int dim = ia_model_dim(m);
    const char **texts = malloc((size_t)batch * sizeof *texts);
    size_t *lens = malloc((size_t)batch * sizeof *lens);
    float *out = malloc((size_t)batch * (size_t)dim * sizeof *out);
    size_t cap = 1024, n = 0;
    double *samples = malloc(cap * sizeof *samples);
    int rc = 0;
    if (!texts || !lens || !out || !samples) {
        rc = cli_fail(IA_ERR_NOMEM, "bench");
        goto done;
    }
    size_t tl = strlen(text);
    for (long i = 0; i < batch; i++) {
        texts[i] = text;
        lens[i] = tl;
    }
    ia_embed_options eo = IA_EMBED_OPTIONS_INIT;
    eo.prompt_name = ""; /* the text as built: a prompt would add tokens */
    for (long w = 0; w < (a->warmup > 0 ? a->warmup : 1); w++) {
        ia_embed_stats es = {0};
        ia_status st = ia_model_embed_opts(m, texts, lens, (size_t)batch, &eo, out, &es);
        if (st) {
            rc = cli_fail(st, "embedding (batch %ld, %ld tokens)", batch, seq_len);
            goto done;
        }
        /* The engine's own count: every text reached it whole. */
        if (es.n_tokens != (size_t)(batch * seq_len) || es.n_truncated_texts) {
            rc = cli_fail(IA_ERR_INVALID, "the engine computed %zu tokens for %ld texts of %ld (%zu truncated)",
                          es.n_tokens, batch, seq_len, es.n_truncated_texts);
            goto done;
        }
    }
    pr->run.n_warmup = (size_t)(a->warmup > 0 ? a->warmup : 1);

    bool rss_reset = ia__bench_rss_reset();
    ia_bench_energy en;
    ia__bench_energy_start(&en, getenv("IPFS_ACCELERATE_POWERCAP_DIR"));
    double t_start = cli_now(), last_show = 0, rel = 0;
    double mean = 0, m2 = 0;
    bool converged = false;
    for (;;) {
        double t0 = cli_now();
        ia_status st = ia_model_embed_opts(m, texts, lens, (size_t)batch, &eo, out, NULL);
        double dt = cli_now() - t0;
        if (st) {
            rc = cli_fail(st, "embedding (batch %ld, %ld tokens)", batch, seq_len);
            goto done;
        }
        if (n == cap) {
            double *g = realloc(samples, 2 * cap * sizeof *samples);
            if (!g) {
                rc = cli_fail(IA_ERR_NOMEM, "bench samples");
                goto done;
            }
            samples = g;
            cap *= 2;
        }
        samples[n++] = dt;
        double d = dt - mean;
        mean += d / (double)n;
        m2 += d * (dt - mean);
        double elapsed = cli_now() - t_start;
        /* The t quantile is computed, not tabled: check every call while
         * samples are few, then every tenth. */
        if (n >= 2 && (n <= 50 || n % 10 == 0)) {
            double ci = ia__bench_t95((double)(n - 1)) * sqrt(m2 / (double)(n - 1)) / sqrt((double)n);
            rel = mean > 0 ? ci / mean : 0;
            if (n >= (size_t)a->min_samples && ci <= a->target_ci * mean) {
                converged = true;
                break;
            }
        }
        if (elapsed >= a->time_limit && n >= 2)
            break;
        if (pg->on && elapsed - last_show >= 0.2) {
            progress_show(pg, n, elapsed, rel);
            last_show = elapsed;
        }
    }
    pr->run.duration_s = cli_now() - t_start;
    pr->run.energy_j = ia__bench_energy_joules(&en);
    pr->run.peak_rss = ia__bench_peak_rss();
    pr->run.rss_scope = rss_reset ? "run" : "process";
    if (ia__bench_summarize(samples, n, &pr->run.lat, NULL)) {
        rc = cli_fail(IA_ERR_NOMEM, "bench statistics");
        goto done;
    }
    pr->run.converged = converged;
    pr->run.target_ci = a->target_ci;
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += samples[i];
    pr->run.texts_per_s = total > 0 ? (double)n * (double)batch / total : 0;
    pr->run.tokens_per_s = pr->run.texts_per_s * (double)seq_len;
done:
    free(texts);
    free(lens);
    free(out);
    free(samples);
    return rc;
}

/* ---- output --------------------------------------------------------------- */

static void print_header(void)
{
    printf("%-5s %5s %-5s %-5s %6s %10s %7s %10s %10s %10s %10s %11s %8s %9s %s\n", "batch", "seq", "prec",
           "ran", "calls", "mean_ms", "ci95", "p50_ms", "p90_ms", "p99_ms", "texts/s", "tokens/s", "rss_MiB",
           "energy_J", "flags");
}

static void print_row(const ia_bench_shape *s, const ia_bench_run *r)
{
    char energy[32];
    if (r->energy_j >= 0)
        snprintf(energy, sizeof energy, "%.3f", r->energy_j);
    else
        snprintf(energy, sizeof energy, "null");
    char flags[64] = "";
    if (!r->converged)
        snprintf(flags, sizeof flags, "time-limit");
    if (r->lat.n_outliers) {
        size_t l = strlen(flags);
        snprintf(flags + l, sizeof flags - l, "%s%zu outlier%s", l ? "," : "", r->lat.n_outliers,
                 r->lat.n_outliers == 1 ? "" : "s");
    }
    printf("%-5d %5d %-5s %-5s %6zu %10.3f %6.1f%% %10.3f %10.3f %10.3f %10.1f %11.1f %8.1f %9s %s\n",
           s->batch_size, s->seq_len, s->precision, r->precision_used ? r->precision_used : "?", r->lat.n,
           r->lat.mean * 1e3, r->lat.mean > 0 ? 100 * r->lat.ci95 / r->lat.mean : 0, r->lat.p50 * 1e3,
           r->lat.p90 * 1e3, r->lat.p99 * 1e3, r->texts_per_s, r->tokens_per_s,
           (double)r->peak_rss / (1024.0 * 1024.0), energy, flags);
    fflush(stdout);
}

static cJSON *run_json(int64_t id, const ia_bench_model *bm, const ia_bench_hardware *hw,
                       const ia_bench_shape *s, const ia_bench_run *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (id > 0)
        cJSON_AddNumberToObject(o, "id", (double)id);
    else
        cJSON_AddNullToObject(o, "id");
    cJSON_AddStringToObject(o, "model", bm->name);
    if (bm->cid)
        cJSON_AddStringToObject(o, "model_cid", bm->cid);
    else
        cJSON_AddNullToObject(o, "model_cid");
    cJSON_AddStringToObject(o, "hardware_type", hw->type ? hw->type : "cpu");
    cJSON_AddStringToObject(o, "device", hw->device ? hw->device : "");
    cJSON_AddNumberToObject(o, "batch_size", s->batch_size);
    cJSON_AddNumberToObject(o, "seq_len", s->seq_len);
    cJSON_AddStringToObject(o, "precision", s->precision);
    cJSON_AddStringToObject(o, "precision_used", r->precision_used ? r->precision_used : "");
    cJSON_AddNumberToObject(o, "threads", s->threads);
    cJSON_AddNumberToObject(o, "n_warmup", (double)r->n_warmup);
    cJSON_AddNumberToObject(o, "n_samples", (double)r->lat.n);
    cJSON_AddNumberToObject(o, "n_outliers", (double)r->lat.n_outliers);
    cJSON_AddBoolToObject(o, "converged", r->converged);
    cJSON_AddNumberToObject(o, "target_ci", r->target_ci);
    cJSON *l = cJSON_AddObjectToObject(o, "latency_s");
    cJSON_AddNumberToObject(l, "mean", r->lat.mean);
    cJSON_AddNumberToObject(l, "stddev", r->lat.stddev);
    cJSON_AddNumberToObject(l, "ci95", r->lat.ci95);
    cJSON_AddNumberToObject(l, "min", r->lat.min);
    cJSON_AddNumberToObject(l, "p50", r->lat.p50);
    cJSON_AddNumberToObject(l, "p90", r->lat.p90);
    cJSON_AddNumberToObject(l, "p99", r->lat.p99);
    cJSON_AddNumberToObject(l, "max", r->lat.max);
    cJSON_AddNumberToObject(o, "texts_per_s", r->texts_per_s);
    cJSON_AddNumberToObject(o, "tokens_per_s", r->tokens_per_s);
    cJSON_AddNumberToObject(o, "peak_rss_bytes", (double)r->peak_rss);
    cJSON_AddStringToObject(o, "rss_scope", r->rss_scope);
    if (r->energy_j >= 0)
        cJSON_AddNumberToObject(o, "energy_j", r->energy_j);
    else
        cJSON_AddNullToObject(o, "energy_j");
    cJSON_AddNumberToObject(o, "duration_s", r->duration_s);
    return o;
}

/* ---- bench list ------------------------------------------------------------ */

static int open_db(const char *path_opt, char *path, size_t cap, ia_benchdb **db)
{
    if (path_opt)
        snprintf(path, cap, "%s", path_opt);
    else {
        ia_status st = ia__benchdb_default_path(path, cap);
        if (st)
            return cli_fail(st, "benchmark database");
    }
    ia_status st = ia__benchdb_open(path, db);
    return st ? cli_fail(st, "opening the benchmark database") : 0;
}

static int bench_list(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, OPT_DB}, {"json", no_argument, 0, OPT_JSON},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0},
    };
    const char *db_opt = NULL;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_DB: db_opt = optarg; break;
        case OPT_JSON: json = true; break;
        case 'h': fputs(bench_help, stdout); return 0;
        default: return cli_usage("bench", "bad option");
        }
    }
    if (optind < argc)
        return cli_usage("bench", "bench list takes no operands");
    char path[4096];
    if (db_opt)
        snprintf(path, sizeof path, "%s", db_opt);
    else if (ia__benchdb_default_path(path, sizeof path))
        return cli_fail(IA_ERR_INVALID, "benchmark database");
    struct stat sb;
    if (stat(path, &sb) != 0) { /* listing creates nothing */
        if (json)
            puts("[]");
        fprintf(stderr, "ipfs-accelerate: no runs stored: %s does not exist\n", path);
        return 0;
    }
    ia_benchdb *db;
    ia_status st = ia__benchdb_open(path, &db);
    if (st)
        return cli_fail(st, "opening the benchmark database");
    char *txt;
    st = ia__benchdb_list_json(db, &txt);
    ia__benchdb_close(db);
    if (st)
        return cli_fail(st, "listing %s", path);
    if (json) {
        printf("%s\n", txt);
        ia_free(txt);
        return 0;
    }
    cJSON *arr = cJSON_Parse(txt);
    ia_free(txt);
    if (!arr)
        return cli_fail(IA_ERR_NOMEM, "listing %s", path);
    printf("%-5s %-20s %-24s %-4s %5s %5s %-5s %6s %10s %7s %10s %11s %8s %s\n", "id", "timestamp", "model", "hw",
           "batch", "seq", "prec", "calls", "mean_ms", "ci95", "texts/s", "tokens/s", "rss_MiB", "energy_J");
    const cJSON *r;
    cJSON_ArrayForEach(r, arr)
    {
        const char *model = jstr(r, "model_name");
        size_t ml = model ? strlen(model) : 0;
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "energy_j");
        char energy[32] = "null";
        if (cJSON_IsNumber(e))
            snprintf(energy, sizeof energy, "%.3f", e->valuedouble);
        double mean = jnum(r, "latency_mean_s");
        printf("%-5.0f %-20s %-24s %-4s %5.0f %5.0f %-5s %6.0f %10.3f %6.1f%% %10.1f %11.1f %8.1f %s\n",
               jnum(r, "id"), jstr(r, "timestamp") ? jstr(r, "timestamp") : "",
               ml > 24 ? model + ml - 24 : (model ? model : ""), jstr(r, "hardware_type") ? jstr(r, "hardware_type") : "",
               jnum(r, "batch_size"), jnum(r, "seq_len"), jstr(r, "precision") ? jstr(r, "precision") : "",
               jnum(r, "n_samples"), mean * 1e3, mean > 0 ? 100 * jnum(r, "latency_ci95_s") / mean : 0,
               jnum(r, "texts_per_s"), jnum(r, "tokens_per_s"), jnum(r, "peak_rss_bytes") / (1024.0 * 1024.0),
               energy);
    }
    if (!cJSON_GetArraySize(arr))
        fprintf(stderr, "ipfs-accelerate: no runs stored in %s\n", path);
    cJSON_Delete(arr);
    return 0;
}

/* ---- bench peaks -------------------------------------------------------------- */

/* The peaks of device (NULL: the CPU) from db, measured (and stored) when
 * absent or when remeasure. *measured says which. */
static int get_peaks_of(ia_benchdb *db, const char *db_path, bench_ctx *ctx, const char *device, int threads,
                        bool remeasure, bool quiet, ia_pm_peaks *p, bool *measured)
{
    *measured = false;
    ia_status st = remeasure ? IA_ERR_NOT_FOUND : ia__benchdb_peaks_get(db, &ctx->hw, device, threads, p);
    if (st != IA_ERR_NOT_FOUND)
        return st ? cli_fail(st, "reading the peaks from %s", db_path) : 0;
    if (!quiet)
        fprintf(stderr, "ipfs-accelerate: measuring the peaks of %s (GEMM per precision, memory bandwidth)...\n",
                device ? device : "this machine's CPU");
    st = ia__pm_measure_peaks(device, threads, 0.5, p);
    if (st)
        return cli_fail(st, "measuring the peaks of %s", device ? device : "the CPU");
    st = ia__benchdb_peaks_put(db, &ctx->hw, ctx->sw.engine_version, p);
    if (st)
        return cli_fail(st, "storing the peaks in %s", db_path);
    *measured = true;
    return 0;
}

static int get_peaks(ia_benchdb *db, const char *db_path, bench_ctx *ctx, int threads, bool remeasure, bool quiet,
                     ia_pm_peaks *p, bool *measured)
{
    return get_peaks_of(db, db_path, ctx, NULL, threads, remeasure, quiet, p, measured);
}

static cJSON *peaks_json(const ia_pm_peaks *p, bool measured)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "device", p->device);
    cJSON_AddBoolToObject(o, "measured_now", measured);
    cJSON_AddNumberToObject(o, "threads", p->threads);
    if (p->measured_at[0])
        cJSON_AddStringToObject(o, "measured_at", p->measured_at);
    cJSON *g = cJSON_AddObjectToObject(o, "gemm_flops");
    for (int i = 0; i < p->n_gemm; i++)
        cJSON_AddNumberToObject(g, p->gemm[i].precision, p->gemm[i].flops);
    cJSON_AddNumberToObject(o, "memory_bandwidth_bytes_per_s", p->mem_bw);
    cJSON_AddNumberToObject(o, "memory_buffer_bytes", p->mem_bytes);
    return o;
}

static const char peaks_help[] =
    "Usage: ipfs-accelerate bench peaks [--device D] [--db PATH] [--remeasure] [--threads N] [--json]\n"
    "\n"
    "This machine's peaks for the performance model, stored in the benchmark\n"
    "database under its hardware fingerprint: GEMM throughput per precision the\n"
    "CPU backend computes (fp32 always; int8 and bf16 where the CPU has them),\n"
    "timed through the engine's own linear layers on a 512x1024x1024 matmul for\n"
    "about 0.5 s each, and memory bandwidth, a streaming read of a buffer four\n"
    "times the last-level cache (256 MiB to 1 GiB). Measured when absent or with\n"
    "--remeasure; otherwise read back. With --device vulkan[:N] (or another\n"
    "built backend's device): its GEMMs (fp32, and fp16 where it computes it)\n"
    "through its own matmul at the largest doubling of 64x256x256 whose call\n"
    "takes under an eighth of a second, and an add over up to 3 x 64 MiB of its\n"
    "memory (the largest doubling from 3 x 1 MiB under an eighth of a second).\n"
    "\n"
    "  -d, --device D    the device measured (default cpu)\n"
    "  -j, --threads N   the CPU's worker threads (default 0: one per core, as bench)\n";

static int bench_peaks(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, OPT_DB},    {"json", no_argument, 0, OPT_JSON},
        {"remeasure", no_argument, 0, 'r'},      {"threads", required_argument, 0, 'j'},
        {"device", required_argument, 0, 'd'},   {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *db_opt = NULL, *device = NULL;
    bool json = false, remeasure = false;
    long threads = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:j:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_DB: db_opt = optarg; break;
        case OPT_JSON: json = true; break;
        case 'r': remeasure = true; break;
        case 'd': device = optarg; break;
        case 'j':
            if (!cli_parse_long(optarg, 0, 4096, &threads))
                return cli_usage("bench", "--threads: a number from 0 to 4096");
            break;
        case 'h': fputs(peaks_help, stdout); return 0;
        default: return cli_usage("bench", "bad option");
        }
    }
    if (optind < argc)
        return cli_usage("bench", "bench peaks takes no operands");
    char dev[48] = "";
    if (device) { /* canonical "name:N", as the database keys it */
        const char *id;
        int index;
        if (!ia__backend_device_parse(device, &id, &index))
            return cli_usage("bench", "--device %s: no such backend in this build", device);
        if (strcmp(id, "cpu"))
            snprintf(dev, sizeof dev, "%s:%d", id, index < 0 ? 0 : index);
        else if (index > 0)
            return cli_usage("bench", "--device %s: the CPU is cpu:0", device);
    }
    if (dev[0] && threads)
        return cli_usage("bench", "--threads is the CPU's: not with --device %s", dev);
    cli_log_init(IA_LOG_WARN);
    bench_ctx ctx;
    char path[4096];
    ia_benchdb *db = NULL;
    ia_pm_peaks p;
    bool measured = false;
    int rc = ctx_init(&ctx);
    if (!rc)
        rc = open_db(db_opt, path, sizeof path, &db);
    if (!rc)
        rc = get_peaks_of(db, path, &ctx, dev[0] ? dev : NULL, (int)threads, remeasure, json, &p, &measured);
    if (!rc && json) {
        cJSON *o = peaks_json(&p, measured);
        cJSON_AddStringToObject(o, "db", path);
        char *txt = cJSON_PrintUnformatted(o);
        if (txt)
            printf("%s\n", txt);
        cJSON_free(txt);
        cJSON_Delete(o);
    } else if (!rc) {
        printf("%-10s %10s\n", "peak", "value");
        for (int i = 0; i < p.n_gemm; i++)
            printf("gemm %-5s %10.1f GFLOP/s  (%dx%dx%d)\n", p.gemm[i].precision, p.gemm[i].flops / 1e9, p.gemm[i].m,
                   p.gemm[i].k, p.gemm[i].n);
        printf(dev[0] ? "memory     %10.2f GB/s     (an add over %.0f MiB in all)\n"
                      : "memory     %10.2f GB/s     (streaming read of %.0f MiB)\n",
               p.mem_bw / 1e9, p.mem_bytes / (1024.0 * 1024.0));
        if (dev[0])
            fprintf(stderr, "ipfs-accelerate: %s, %s %s\n", dev, measured ? "measured now, stored in" : "stored in", path);
        else
            fprintf(stderr, "ipfs-accelerate: %s %s (threads %ld%s)\n",
                    measured ? "measured now, stored in" : "stored in", path, threads, threads ? "" : ": one per core");
    }
    ia__benchdb_close(db);
    ctx_close(&ctx);
    return rc;
}

/* ---- decoders ------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median seconds of `fn` over calls until 3 and `budget` seconds. */
typedef ia_status (*timed_fn)(void *ud);
static ia_status time_median(timed_fn fn, void *ud, double budget, double *median, int *n_calls)
{
    double t[256];
    int n = 0;
    ia_status st = fn(ud); /* warm-up */
    double t0 = cli_now();
    while (!st && n < 256 && (n < 3 || cli_now() - t0 < budget)) {
        double c0 = cli_now();
        st = fn(ud);
        t[n++] = cli_now() - c0;
    }
    if (!st) {
        qsort(t, (size_t)n, sizeof *t, cmp_double);
        *median = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
        *n_calls = n;
    }
    return st;
}

typedef struct dec_run {
    ia_session *s;
    int32_t *ids;
    int n, start; /* evaluate ids[0..n) at position start */
} dec_run;

static ia_status dec_step(void *ud)
{
    dec_run *r = ud;
    ia__session_truncate(r->s, r->start);
    return ia__session_eval(r->s, r->ids, r->n, NULL, NULL);
}

/* A decoder's architecture, and its matrices' bytes per weight as stored
 * (a file mixes types: the token table often q8_0 or q6_K beside q4_1
 * layers) into arch->weight_bytes; types gets their names ("q8_0,q4_1"). */
static int decoder_arch(const ia_lm *lm, const char *ref, ia_pm_arch *arch, char *types, size_t cap)
{
    const ia_gguf *g = ia__decoder_gguf(lm->dec);
    if (!g)
        return cli_fail(IA_ERR_UNSUPPORTED, "--model %s: decoders from GGUF files only", ref);
    ia_status st = ia__pm_arch_from_decoder(ia__decoder_config(lm->dec), arch);
    if (st)
        return cli_fail(st, "--model %s", ref);
    double wbytes = 0, welems = 0;
    types[0] = 0;
    for (size_t i = 0; i < ia__gguf_tensor_count(g); i++) {
        const ia_gguf_tensor_info *t = ia__gguf_tensor_at(g, i);
        if (t->n_dims < 2)
            continue;
        wbytes += (double)t->nbytes;
        welems += (double)t->ne[0] * (double)t->ne[1] * (double)t->ne[2] * (double)t->ne[3];
        if (!strstr(types, t->type_name)) {
            size_t l = strlen(types);
            snprintf(types + l, cap - l, "%s%s", l ? "," : "", t->type_name);
        }
    }
    if (!(welems > 0))
        return cli_fail(IA_ERR_FORMAT, "--model %s: no weight matrices", ref);
    arch->weight_bytes = wbytes / welems;
    return 0;
}

/* ---- bench validate ------------------------------------------------------------ */

static const char validate_help[] =
    "Usage: ipfs-accelerate bench validate --model M [--model M2 ...] [options]\n"
    "\n"
    "Check the performance model against measurements: every point of the grid\n"
    "batch size x sequence length of each model is measured (as bench does) and\n"
    "stored, or with --reuse read back when stored. The calibration is fitted on\n"
    "the stored runs of half the grid (a checkerboard: batch index + length\n"
    "index even) and the other half, which the fit never saw, is predicted.\n"
    "Prints the table (config, predicted ms, measured ms, error %) and the share\n"
    "of held-out points within +-20%. Latency is the median of the calls (robust\n"
    "to other processes on the machine); the peaks come from 'bench peaks' (measured\n"
    "first when absent).\n"
    "\n"
    "A decoder (a .gguf file) is validated on prefill lengths and decode KV\n"
    "lengths instead, each phase fitted on its 1st, 3rd... points and checked on\n"
    "the others (stored as runs with their phase).\n"
    "\n"
    "  -m, --model M           a model (repeatable, up to 8)\n"
    "  -b, --batch-sizes LIST  default 1,4,8\n"
    "  -s, --seq-lens LIST     default 16,32,64,128 (capped at the model's limit)\n"
    "      --prefill LIST      decoders: prompt lengths (default 8,16,32,64,128,256)\n"
    "      --kv-len LIST       decoders: KV lengths of a decode step (default 16,64,128,256,512,1024)\n"
    "      --precision P       fp32, int8 or bf16 (default fp32)\n"
    "  -j, --threads N         worker threads (default 1: steadier on a shared machine)\n"
    "      --time-limit S      seconds of timed calls per point at most (default 1)\n"
    "      --reuse             use stored runs of the grid where present\n"
    "      --db PATH           the database (default as bench)\n"
    "      --json              one JSON document on stdout\n"
    "  -q, --quiet             no progress line\n";

enum { OPT_REUSE = 0x2100, OPT_PREFILL, OPT_KV_LEN, OPT_MEASURE };

typedef struct vrow {
    int batch, seq;
    bool held_out;
    double pred_s, meas_s, err_pct, pred_mem, meas_rss;
} vrow;

static const ia_bench_point *find_point(const ia_bench_point *pts, size_t n, int batch, int seq)
{
    for (size_t i = 0; i < n; i++)
        if (pts[i].batch_size == batch && pts[i].seq_len == seq)
            return &pts[i];
    return NULL;
}

/* Per-call seconds of each op class and the backend's linear FLOPs, from
 * a model instance loaded with the backend's profile on. */
typedef struct op_profile {
    bool have;
    double op_s[IA_PM_N_CLASSES], linear_flop;
    long calls;
} op_profile;

static ia_status profile_point(const ia_model *mp, const char *text, long batch, double budget_s, op_profile *op)
{
    const char **texts = malloc((size_t)batch * sizeof *texts);
    float *out = malloc((size_t)batch * (size_t)ia_model_dim(mp) * sizeof *out);
    ia_status st = texts && out ? IA_OK : IA_ERR_NOMEM;
    for (long i = 0; !st && i < batch; i++)
        texts[i] = text;
    ia_embed_options eo = IA_EMBED_OPTIONS_INIT;
    eo.prompt_name = "";
    if (!st)
        st = ia_model_embed_opts(mp, texts, NULL, (size_t)batch, &eo, out, NULL); /* warm-up */
    ia_backend_profile p0, p1;
    ia__model_profile(mp, &p0);
    double t0 = cli_now();
    long n = 0;
    while (!st && (n < 3 || cli_now() - t0 < budget_s)) {
        st = ia_model_embed_opts(mp, texts, NULL, (size_t)batch, &eo, out, NULL);
        n++;
    }
    ia__model_profile(mp, &p1);
    if (!st) {
        op->have = true;
        op->calls = n;
        op->op_s[IA_PM_LINEAR] = (p1.linear_s - p0.linear_s) / (double)n;
        op->op_s[IA_PM_ATTENTION] = (p1.attention_s - p0.attention_s) / (double)n;
        op->op_s[IA_PM_OTHER] = (p1.other_s - p0.other_s) / (double)n;
        op->linear_flop = (p1.linear_flop - p0.linear_flop) / (double)n;
    }
    free(texts);
    free(out);
    return st;
}

/* A second instance of the model with the backend's profile on
 * (performance.enable_profiling, set for this load only). */
static ia_status load_profiled(const char *ref, const ia_model_options *mo, ia_model **mp)
{
    static const char var[] = "IPFS_ACCELERATE_PERFORMANCE_ENABLE_PROFILING";
    const char *old = getenv(var);
    char *saved = old ? strdup(old) : NULL;
    setenv(var, "true", 1);
    ia_status st = ia_model_load(ref, mo, mp);
    if (saved)
        setenv(var, saved, 1);
    else
        unsetenv(var);
    free(saved);
    return st;
}

/* The calibration of a model from the stored points where use[i] (NULL:
 * all of them), with the memory base their peak RSS gives. */
static int fit_points(const ia_pm_arch *arch, const char *prec, const ia_pm_peaks *pk, const ia_bench_point *pts,
                      size_t npts, const bool *use, const char *name, const char *phase, ia_pm_calib *k)
{
    ia_pm_sample *cal = calloc(npts ? npts : 1, sizeof *cal);
    double *mem = calloc(npts ? npts : 1, sizeof *mem);
    size_t nc = 0, nm = 0;
    int rc = cal && mem ? 0 : cli_fail(IA_ERR_NOMEM, "calibration");
    for (size_t i = 0; i < npts && !rc; i++) {
        if (use && !use[i])
            continue;
        const ia_bench_point *pt = &pts[i];
        ia_pm_prediction pp;
        const bool decode = phase && !strcmp(phase, "decode");
        ia_status st = phase ? ia__pm_predict_decoder(arch, "fp32", pk, NULL, decode, pt->seq_len, &pp)
                             : ia__pm_predict_encoder(arch, prec, pk, NULL, pt->batch_size, pt->seq_len, &pp);
        if (st) {
            rc = cli_fail(st, "%s", name);
            break;
        }
        cal[nc] = (ia_pm_sample){.tokens = decode ? 1 : (double)pt->batch_size * pt->seq_len,
                                 .measured_s = pt->latency_p50_s};
        memcpy(cal[nc].t, pp.t, sizeof pp.t);
        memcpy(cal[nc].tf, pp.tf, sizeof pp.tf);
        memcpy(cal[nc].tb, pp.tb, sizeof pp.tb);
        memcpy(cal[nc++].op_s, pt->op_s, sizeof pt->op_s);
        if (pt->peak_rss_bytes > 0)
            mem[nm++] = pt->peak_rss_bytes - pp.memory_bytes;
    }
    ia_status st;
    if (!rc && (st = ia__pm_calibrate(cal, (int)nc, k)))
        rc = cli_fail(st, "calibrating %s", name);
    if (!rc && nm) {
        qsort(mem, nm, sizeof *mem, cmp_double);
        k->mem_base = nm % 2 ? mem[nm / 2] : (mem[nm / 2 - 1] + mem[nm / 2]) / 2;
    }
    free(cal);
    free(mem);
    return rc;
}

/* One model: measure (or reuse) the grid, calibrate on half, predict the
 * rest. The measured points are timed first, then profiled on a second
 * instance loaded only then (so that the timed calls' peak RSS is this
 * instance's alone), and stored with their per-class times in the run's
 * metadata. Rows go to rows[0..*n_rows). */
static int validate_model(const char *ref, bench_args *a, bool reuse, ia_benchdb *db, const char *db_path,
                          bench_ctx *ctx, const ia_pm_peaks *pk, progress *pg, cJSON *jmodels, vrow *rows,
                          size_t *n_rows)
{
    const char *prec = a->precisions[0];
    ia_model_options mo = IA_MODEL_OPTIONS_INIT;
    mo.n_threads = (int)a->threads;
    mo.precision = prec;
    ia_model *m, *mp = NULL;
    ia_status st = ia_model_load(ref, &mo, &m);
    if (st)
        return cli_fail(st, "loading %s", ref);
    ia_model_info info;
    ia_model_get_info(m, &info);
    ia_pm_arch arch;
    int rc = 0;
    st = ia__pm_arch_from_model(&info, &arch);
    if (st) {
        ia_model_free(m);
        return cli_fail(st, "--model %s", ref);
    }
    if (strcmp(info.precision, prec)) {
        ia_model_free(m);
        return cli_fail(IA_ERR_UNSUPPORTED, "--precision %s: this CPU computes it as %s", prec, info.precision);
    }
    struct stat sb;
    const char *slash = strrchr(info.path, '/');
    const char *name = stat(ref, &sb) == 0 && S_ISDIR(sb.st_mode) && slash && slash[1] ? slash + 1 : ref;
    ia_bench_model bm = {.name = name, .path = info.path, .architecture = info.architecture,
                         .n_params = (int64_t)info.n_params, .dim = info.dim, .n_layers = info.n_layers,
                         .hidden_size = info.hidden_size, .weights_dtype = info.weights_dtype};
    ctx->hw.type = info.backend;
    ctx->hw.device = info.device;
    ctx->hw.device_name = info.backend && !strcmp(info.backend, "cpu") ? ctx->hw.cpu_model : info.device;

    const size_t ng = a->n_batches * a->n_seqs;
    char *texts[MAX_LIST] = {0};
    op_profile *ops = calloc(ng, sizeof *ops);
    point_result *prs = calloc(ng, sizeof *prs);
    bool *todo = calloc(ng, sizeof *todo);
    ia_bench_point *pts = NULL;
    size_t npts = 0, n_todo = 0;
    if (!ops || !prs || !todo)
        rc = cli_fail(IA_ERR_NOMEM, "bench validate");
    if (!rc && reuse &&
        (st = ia__benchdb_points(db, &ctx->hw, info.path, prec, (int)a->threads, NULL, &pts, &npts)))
        rc = cli_fail(st, "reading %s", db_path);
    for (size_t si = 0; si < a->n_seqs && !rc; si++) {
        const char *why = NULL;
        if ((size_t)a->seqs[si] > info.max_seq_length)
            rc = cli_fail(IA_ERR_INVALID, "--seq-lens %ld: above %s's limit of %zu tokens", a->seqs[si], name,
                          info.max_seq_length);
        else if (!(texts[si] = exact_text(ia_model_tokenizer(m), a->seqs[si], &why)))
            rc = cli_fail(IA_ERR_INVALID, "--seq-lens %ld: a text of that many tokens %s", a->seqs[si], why);
        for (size_t bi = 0; bi < a->n_batches && !rc; bi++) {
            todo[si * a->n_batches + bi] = !(reuse && find_point(pts, npts, (int)a->batches[bi], (int)a->seqs[si]));
            n_todo += todo[si * a->n_batches + bi];
        }
    }
    /* The timed calls first, with this instance alone in memory. */
    for (size_t g = 0; g < ng && !rc; g++) {
        long b = a->batches[g % a->n_batches], sq = a->seqs[g / a->n_batches];
        if (!todo[g]) {
            pg->done++;
            continue;
        }
        char label[128];
        snprintf(label, sizeof label, "%s b=%ld s=%ld", name, b, sq);
        pg->label = label;
        prs[g].run.precision_used = info.precision;
        rc = measure_point(m, texts[g / a->n_batches], b, sq, a, pg, &prs[g]);
        pg->done++;
        if (pg->on)
            fputs("\r\033[K", stderr);
    }
    if (!rc && n_todo && (st = load_profiled(ref, &mo, &mp)))
        rc = cli_fail(st, "loading %s with the profile on", ref);
    for (size_t g = 0; g < ng && !rc; g++)
        if (todo[g] && (st = profile_point(mp, texts[g / a->n_batches], a->batches[g % a->n_batches],
                                           0.25 * a->time_limit, &ops[g])))
            rc = cli_fail(st, "profiling %s (batch %ld, %ld tokens)", name, a->batches[g % a->n_batches],
                          a->seqs[g / a->n_batches]);
    ia_model_free(mp);
    for (size_t g = 0; g < ng && !rc; g++) {
        if (!todo[g])
            continue;
        char meta[512];
        snprintf(meta, sizeof meta,
                 "{\"op_seconds\":{\"linear\":%.9g,\"attention\":%.9g,\"other\":%.9g},\"linear_flop\":%.17g,"
                 "\"op_profile_calls\":%ld}",
                 ops[g].op_s[IA_PM_LINEAR], ops[g].op_s[IA_PM_ATTENTION], ops[g].op_s[IA_PM_OTHER],
                 ops[g].linear_flop, ops[g].calls);
        prs[g].run.metadata = meta;
        ia_bench_shape shape = {.batch_size = (int)a->batches[g % a->n_batches],
                                .seq_len = (int)a->seqs[g / a->n_batches], .precision = prec,
                                .threads = (int)a->threads};
        st = ia__benchdb_insert(db, &ctx->hw, &ctx->sw, &bm, &shape, &prs[g].run, NULL);
        if (st)
            rc = cli_fail(st, "storing the run in %s", db_path);
    }
    ia_free(pts);
    pts = NULL;
    /* The calibration reads what is stored, like any later prediction. */
    if (!rc && (st = ia__benchdb_points(db, &ctx->hw, info.path, prec, (int)a->threads, NULL, &pts, &npts)))
        rc = cli_fail(st, "reading %s", db_path);
    /* The fit sees the checkerboard's stored runs only. */
    bool *fit = rc ? NULL : calloc(npts ? npts : 1, sizeof *fit);
    if (!rc && !fit)
        rc = cli_fail(IA_ERR_NOMEM, "bench validate");
    for (size_t g = 0; g < ng && !rc; g++) {
        size_t bi = g % a->n_batches, si = g / a->n_batches;
        const ia_bench_point *pt = find_point(pts, npts, (int)a->batches[bi], (int)a->seqs[si]);
        if (pt && (bi + si) % 2 == 0)
            fit[pt - pts] = true;
    }
    ia_pm_calib k = {0};
    if (!rc)
        rc = fit_points(&arch, prec, pk, pts, npts, fit, name, NULL, &k);
    free(fit);
    cJSON *jm = cJSON_CreateObject(), *jrows = cJSON_AddArrayToObject(jm, "rows");
    cJSON_AddStringToObject(jm, "model", name);
    cJSON_AddStringToObject(jm, "path", info.path);
    cJSON *jk = cJSON_AddObjectToObject(jm, "calibration");
    cJSON_AddBoolToObject(jk, "per_class", k.per_class);
    cJSON_AddNumberToObject(jk, "k_linear", k.k[IA_PM_LINEAR]);
    cJSON_AddNumberToObject(jk, "k_attention", k.k[IA_PM_ATTENTION]);
    cJSON_AddNumberToObject(jk, "k_other", k.k[IA_PM_OTHER]);
    cJSON *jb = cJSON_AddObjectToObject(jk, "basis");
    for (int c = 0; c < IA_PM_N_CLASSES; c++)
        cJSON_AddStringToObject(jb, ia__pm_class_name(c), ia__pm_basis_name(k.basis[c]));
    cJSON_AddNumberToObject(jk, "k_token_s", k.k_tok);
    cJSON_AddNumberToObject(jk, "k_call_s", k.k_call);
    cJSON_AddNumberToObject(jk, "memory_base_bytes", k.mem_base);
    cJSON_AddNumberToObject(jk, "runs", k.n_runs);
    cJSON_AddNumberToObject(jk, "rms_relative_error", k.rms_rel);
    cJSON_AddItemToArray(jmodels, jm);
    double roof[MAX_LIST * MAX_LIST];
    for (size_t si = 0; si < a->n_seqs && !rc; si++)
        for (size_t bi = 0; bi < a->n_batches && !rc; bi++) {
            int b = (int)a->batches[bi], sq = (int)a->seqs[si];
            const ia_bench_point *pt = find_point(pts, npts, b, sq);
            ia_pm_prediction pp;
            if (!pt)
                continue;
            if ((st = ia__pm_predict_encoder(&arch, prec, pk, &k, b, sq, &pp))) {
                rc = cli_fail(st, "%s", name);
                break;
            }
            roof[*n_rows] = pp.roofline_s;
            vrow *r = &rows[(*n_rows)++];
            *r = (vrow){b, sq, (bi + si) % 2 == 1, pp.latency_s, pt->latency_p50_s,
                        100 * (pp.latency_s - pt->latency_p50_s) / pt->latency_p50_s, pp.memory_bytes,
                        pt->peak_rss_bytes};
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "batch_size", b);
            cJSON_AddNumberToObject(o, "seq_len", sq);
            cJSON_AddStringToObject(o, "role", r->held_out ? "held-out" : "calibration");
            cJSON_AddNumberToObject(o, "roofline_ms", pp.roofline_s * 1e3);
            cJSON_AddNumberToObject(o, "predicted_ms", r->pred_s * 1e3);
            cJSON_AddNumberToObject(o, "measured_ms", r->meas_s * 1e3);
            cJSON_AddNumberToObject(o, "error_pct", r->err_pct);
            cJSON_AddNumberToObject(o, "predicted_texts_per_s", pp.texts_per_s);
            cJSON_AddNumberToObject(o, "predicted_memory_bytes", pp.memory_bytes);
            cJSON_AddNumberToObject(o, "measured_peak_rss_bytes", pt->peak_rss_bytes);
            cJSON *cr = cJSON_AddObjectToObject(o, "roofline_op_ms");
            cJSON *cm = cJSON_AddObjectToObject(o, "measured_op_ms");
            for (int c = 0; c < IA_PM_N_CLASSES; c++) {
                cJSON_AddNumberToObject(cr, ia__pm_class_name(c), pp.t[c] * 1e3);
                if (pt->op_s[c] >= 0)
                    cJSON_AddNumberToObject(cm, ia__pm_class_name(c), pt->op_s[c] * 1e3);
            }
            /* The op count against the backend's own, where profiled. */
            cJSON_AddNumberToObject(o, "linear_flop_model", pp.cost.flops[IA_PM_LINEAR]);
            if (pt->linear_flop > 0)
                cJSON_AddNumberToObject(o, "linear_flop_engine", pt->linear_flop);
            else
                cJSON_AddNullToObject(o, "linear_flop_engine");
            cJSON_AddNumberToObject(o, "run_id", (double)pt->id);
            cJSON_AddItemToArray(jrows, o);
        }
    if (!rc && !a->json) {
        printf("%s (%s, %d thread%s): fitted on %d runs%s: latency = %.3g x linear (%s) + %.3g x attention (%s) + "
               "%.3g x other (%s) + %.3g us/token + %.3f ms/call (rms %.1f%%); memory base %.1f MiB\n",
               name, prec, (int)a->threads, a->threads == 1 ? "" : a->threads ? "s" : "s: one per core", k.n_runs,
               k.per_class ? " and their profiles" : "", k.k[IA_PM_LINEAR], ia__pm_basis_name(k.basis[IA_PM_LINEAR]),
               k.k[IA_PM_ATTENTION], ia__pm_basis_name(k.basis[IA_PM_ATTENTION]), k.k[IA_PM_OTHER],
               ia__pm_basis_name(k.basis[IA_PM_OTHER]), k.k_tok * 1e6, k.k_call * 1e3, 100 * k.rms_rel,
               k.mem_base / (1024.0 * 1024.0));
        printf("  %-5s %5s %-11s %11s %12s %12s %8s %10s %10s\n", "batch", "seq", "role", "roofline_ms",
               "predicted_ms", "measured_ms", "error", "pred_MiB", "rss_MiB");
        for (size_t i = 0; i < *n_rows; i++) {
            const vrow *r = &rows[i];
            printf("  %-5d %5d %-11s %11.3f %12.3f %12.3f %+7.1f%% %10.1f %10.1f\n", r->batch, r->seq,
                   r->held_out ? "held-out" : "calibration", roof[i] * 1e3, r->pred_s * 1e3, r->meas_s * 1e3,
                   r->err_pct, r->pred_mem / (1024.0 * 1024.0), r->meas_rss / (1024.0 * 1024.0));
        }
    }
    for (size_t si = 0; si < a->n_seqs; si++)
        free(texts[si]);
    free(ops);
    free(prs);
    free(todo);
    ia_free(pts);
    ia_model_free(m); /* last: name and info's strings are its own */
    return rc;
}

/* Time one decoder point on sess: a prefill of n tokens from an empty
 * cache, or one decode step at KV length n (the cache filled to n - 1
 * once), call by call as measure_point does. */
static int measure_decoder(ia_session *sess, int32_t *ids, bool decode, int n, const bench_args *a,
                           ia_bench_run *run)
{
    dec_run r = {sess, ids, decode ? 1 : n, decode ? n - 1 : 0};
    size_t cap = 256, ns = 0;
    double *samples = malloc(cap * sizeof *samples);
    ia_status st = samples ? IA_OK : IA_ERR_NOMEM;
    if (!st && decode) {
        ia__session_truncate(sess, 0);
        st = ia__session_eval(sess, ids, n - 1, NULL, NULL);
    }
    if (!st)
        st = dec_step(&r); /* warm-up */
    bool rss_reset = ia__bench_rss_reset();
    double t_start = cli_now();
    while (!st) {
        double t0 = cli_now();
        st = dec_step(&r);
        double dt = cli_now() - t0;
        if (ns == cap) {
            double *g = realloc(samples, 2 * cap * sizeof *samples);
            if (!g) {
                st = IA_ERR_NOMEM;
                break;
            }
            samples = g, cap *= 2;
        }
        samples[ns++] = dt;
        if (ns >= (size_t)a->min_samples) {
            ia_bench_summary sm;
            if (ia__bench_summarize(samples, ns, &sm, NULL) == IA_OK && sm.ci95 <= a->target_ci * sm.mean) {
                run->converged = true;
                break;
            }
        }
        if (cli_now() - t_start >= a->time_limit && ns >= 2)
            break;
    }
    if (!st)
        st = ia__bench_summarize(samples, ns, &run->lat, NULL);
    free(samples);
    if (st)
        return cli_fail(st, "%s %d tokens", decode ? "decoding at" : "prefilling", n);
    run->duration_s = cli_now() - t_start;
    run->n_warmup = 1;
    run->target_ci = a->target_ci;
    run->texts_per_s = 1 / run->lat.mean;
    run->tokens_per_s = (decode ? 1 : n) / run->lat.mean;
    run->peak_rss = ia__bench_peak_rss();
    run->rss_scope = rss_reset ? "run" : "process";
    run->energy_j = -1;
    run->phase = decode ? "decode" : "prefill";
    return 0;
}

/* validate_model for a decoder (a GGUF file): prefill lengths and decode
 * KV lengths, each phase calibrated on its even-indexed points and
 * checked on the odd ones; no profile (the decoder's instance has none),
 * so the classes and the call fitted together on the latency. */
static int validate_decoder(const char *ref, bench_args *a, const long *kv, size_t n_kv, bool reuse,
                            ia_benchdb *db, const char *db_path, bench_ctx *ctx, const ia_pm_peaks *pk,
                            cJSON *jmodels, size_t *held, size_t *within)
{
    ia_lm_options lo = IA_LM_OPTIONS_INIT;
    lo.n_threads = (int)a->threads;
    ia_lm *lm = NULL;
    ia_session *sess = NULL;
    int32_t *ids = NULL;
    ia_pm_arch arch;
    char types[128] = "";
    ia_status st = ia_lm_load(ref, &lo, &lm);
    if (st)
        return cli_fail(st, "loading %s", ref);
    int rc = decoder_arch(lm, ref, &arch, types, sizeof types);
    ia_lm_info li;
    ia_lm_get_info(lm, &li);
    const char *slash = strrchr(ref, '/');
    const char *name = slash && slash[1] ? slash + 1 : ref;
    const ia_decoder_config *cfg = ia__decoder_config(lm->dec);
    /* Parameters: the counted weights at 4 bytes each. */
    ia_pm_arch a4 = arch;
    ia_pm_cost c4 = {0};
    a4.weight_bytes = 4;
    if (!rc && (st = ia__pm_prefill(&a4, "fp32", 1, &c4)))
        rc = cli_fail(st, "--model %s", ref);
    ia_bench_model bm = {.name = name, .path = li.path, .architecture = li.architecture,
                         .n_params = (int64_t)(c4.weight_bytes / 4), .dim = cfg->n_embd, .n_layers = cfg->n_layer,
                         .hidden_size = cfg->n_embd, .weights_dtype = types};
    ctx->hw.type = li.backend;
    ctx->hw.device = "cpu:0";
    ctx->hw.device_name = ctx->hw.cpu_model;
    int n_max = 1;
    for (size_t i = 0; i < a->n_seqs; i++)
        n_max = a->seqs[i] > n_max ? (int)a->seqs[i] : n_max;
    for (size_t i = 0; i < n_kv; i++)
        n_max = kv[i] > n_max ? (int)kv[i] : n_max;
    if (!rc && (st = ia__session_new(lm->dec, n_max, &sess)))
        rc = cli_fail(st, "a session of %d positions", n_max);
    if (!rc && !(ids = malloc((size_t)n_max * sizeof *ids)))
        rc = cli_fail(IA_ERR_NOMEM, "bench validate");
    for (int i = 0; ids && i < n_max; i++)
        ids[i] = 100 + i % 1000; /* ordinary tokens; the cost does not depend on which */
    cJSON *jm = cJSON_CreateObject(), *jrows = cJSON_AddArrayToObject(jm, "rows");
    cJSON_AddStringToObject(jm, "model", name);
    cJSON_AddStringToObject(jm, "path", li.path);
    cJSON_AddStringToObject(jm, "weight_types", types);
    cJSON_AddBoolToObject(jm, "decoder", true);
    cJSON *jcal = cJSON_AddObjectToObject(jm, "calibration");
    cJSON_AddItemToArray(jmodels, jm);
    for (int phase = 0; phase < 2 && !rc; phase++) {
        const char *ph = phase ? "decode" : "prefill";
        const long *lens = phase ? kv : a->seqs;
        size_t nl = phase ? n_kv : a->n_seqs;
        ia_bench_point *pts = NULL;
        size_t npts = 0;
        if (reuse && (st = ia__benchdb_points(db, &ctx->hw, li.path, types, (int)a->threads, ph, &pts, &npts)))
            rc = cli_fail(st, "reading %s", db_path);
        for (size_t i = 0; i < nl && !rc; i++) {
            if (reuse && find_point(pts, npts, 1, (int)lens[i]))
                continue;
            ia_bench_run run = {.precision_used = types};
            rc = measure_decoder(sess, ids, phase == 1, (int)lens[i], a, &run);
            if (rc)
                break;
            ia_bench_shape shape = {.batch_size = 1, .seq_len = (int)lens[i], .precision = types,
                                    .threads = (int)a->threads};
            st = ia__benchdb_insert(db, &ctx->hw, &ctx->sw, &bm, &shape, &run, NULL);
            if (st)
                rc = cli_fail(st, "storing the run in %s", db_path);
        }
        ia_free(pts);
        pts = NULL;
        if (!rc && (st = ia__benchdb_points(db, &ctx->hw, li.path, types, (int)a->threads, ph, &pts, &npts)))
            rc = cli_fail(st, "reading %s", db_path);
        bool *fit = rc ? NULL : calloc(npts ? npts : 1, sizeof *fit);
        if (!rc && !fit)
            rc = cli_fail(IA_ERR_NOMEM, "bench validate");
        for (size_t i = 0; i < nl && !rc; i++) {
            const ia_bench_point *pt = find_point(pts, npts, 1, (int)lens[i]);
            if (pt && i % 2 == 0)
                fit[pt - pts] = true;
        }
        ia_pm_calib k = {0};
        if (!rc)
            rc = fit_points(&arch, "fp32", pk, pts, npts, fit, name, ph, &k);
        free(fit);
        if (!rc) {
            cJSON *jk = cJSON_AddObjectToObject(jcal, ph);
            cJSON_AddNumberToObject(jk, "k_linear", k.k[IA_PM_LINEAR]);
            cJSON_AddNumberToObject(jk, "k_attention", k.k[IA_PM_ATTENTION]);
            cJSON_AddNumberToObject(jk, "k_other", k.k[IA_PM_OTHER]);
            cJSON_AddNumberToObject(jk, "k_call_s", k.k_call);
            cJSON_AddNumberToObject(jk, "runs", k.n_runs);
            cJSON_AddNumberToObject(jk, "rms_relative_error", k.rms_rel);
            if (!a->json) {
                printf("%s%s (%s, %d thread%s) %s: fitted on %d runs: latency = %.3g x linear + %.3g x attention + "
                       "%.3g x other roofline + %.3f ms/call (rms %.1f%%)\n",
                       phase ? "\n" : "", name, types, (int)a->threads, a->threads == 1 ? "" : "s", ph, k.n_runs,
                       k.k[IA_PM_LINEAR], k.k[IA_PM_ATTENTION], k.k[IA_PM_OTHER], k.k_call * 1e3, 100 * k.rms_rel);
                printf("  %-7s %6s %-11s %11s %12s %12s %8s %10s %10s\n", ph, phase ? "kv_len" : "tokens", "role",
                       "roofline_ms", "predicted_ms", "measured_ms", "error", "pred_MiB", "rss_MiB");
            }
        }
        for (size_t i = 0; i < nl && !rc; i++) {
            const ia_bench_point *pt = find_point(pts, npts, 1, (int)lens[i]);
            ia_pm_prediction pp;
            if (!pt)
                continue;
            if ((st = ia__pm_predict_decoder(&arch, "fp32", pk, &k, phase == 1, (int)lens[i], &pp))) {
                rc = cli_fail(st, "%s", name);
                break;
            }
            bool ho = i % 2 == 1;
            double err = 100 * (pp.latency_s - pt->latency_p50_s) / pt->latency_p50_s;
            if (ho) {
                (*held)++;
                *within += fabs(err) <= 20;
            }
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "phase", ph);
            cJSON_AddNumberToObject(o, phase ? "kv_len" : "tokens", (double)lens[i]);
            cJSON_AddStringToObject(o, "role", ho ? "held-out" : "calibration");
            cJSON_AddNumberToObject(o, "roofline_ms", pp.roofline_s * 1e3);
            cJSON_AddNumberToObject(o, "predicted_ms", pp.latency_s * 1e3);
            cJSON_AddNumberToObject(o, "measured_ms", pt->latency_p50_s * 1e3);
            cJSON_AddNumberToObject(o, "error_pct", err);
            cJSON_AddNumberToObject(o, "predicted_tokens_per_s", pp.tokens_per_s);
            cJSON_AddNumberToObject(o, "predicted_memory_bytes", pp.memory_bytes);
            cJSON_AddNumberToObject(o, "kv_bytes", pp.cost.kv_bytes);
            cJSON_AddNumberToObject(o, "measured_peak_rss_bytes", pt->peak_rss_bytes);
            cJSON_AddNumberToObject(o, "run_id", (double)pt->id);
            cJSON_AddItemToArray(jrows, o);
            if (!a->json)
                printf("  %-7s %6ld %-11s %11.3f %12.3f %12.3f %+7.1f%% %10.1f %10.1f\n", "", lens[i],
                       ho ? "held-out" : "calibration", pp.roofline_s * 1e3, pp.latency_s * 1e3,
                       pt->latency_p50_s * 1e3, err, pp.memory_bytes / (1024.0 * 1024.0),
                       pt->peak_rss_bytes / (1024.0 * 1024.0));
        }
        ia_free(pts);
    }
    free(ids);
    ia__session_free(sess);
    ia_lm_free(lm);
    return rc;
}

static int bench_validate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},     {"batch-sizes", required_argument, 0, 'b'},
        {"seq-lens", required_argument, 0, 's'},  {"precision", required_argument, 0, OPT_PRECISION},
        {"threads", required_argument, 0, 'j'},   {"time-limit", required_argument, 0, OPT_TIME_LIMIT},
        {"reuse", no_argument, 0, OPT_REUSE},     {"db", required_argument, 0, OPT_DB},
        {"json", no_argument, 0, OPT_JSON},       {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},            {"prefill", required_argument, 0, OPT_PREFILL},
        {"kv-len", required_argument, 0, OPT_KV_LEN}, {0, 0, 0, 0},
    };
    enum { MAX_MODELS = 8 };
    long prefill[MAX_LIST] = {8, 16, 32, 64, 128, 256}, kv[MAX_LIST] = {16, 64, 128, 256, 512, 1024};
    size_t n_prefill = 6, n_kv = 6;
    const char *models[MAX_MODELS];
    size_t n_models = 0;
    bench_args a = {0};
    char *prec = "fp32";
    bool reuse = false;
    a.batches[0] = 1, a.batches[1] = 4, a.batches[2] = 8, a.n_batches = 3;
    a.seqs[0] = 16, a.seqs[1] = 32, a.seqs[2] = 64, a.seqs[3] = 128, a.n_seqs = 4;
    a.threads = 1, a.time_limit = 1, a.warmup = 1, a.min_samples = 3, a.target_ci = 0.05;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:b:s:j:qh", opts, NULL)) != -1) {
        int r = grid_option(c, &a);
        if (r >= 0) {
            if (r)
                return r;
            continue;
        }
        switch (c) {
        case 'm':
            if (n_models == MAX_MODELS)
                return cli_usage("bench", "--model: at most %d", MAX_MODELS);
            models[n_models++] = optarg;
            break;
        case OPT_PRECISION:
            if (!precision_ok(optarg))
                return cli_usage("bench", "--precision: fp32, int8 or bf16, not '%s'", optarg);
            prec = optarg;
            break;
        case OPT_REUSE: reuse = true; break;
        case OPT_PREFILL:
            if (!parse_longs(optarg, 1, 1 << 20, prefill, &n_prefill) || n_prefill < 2)
                return cli_usage("bench", "--prefill: a comma-separated list of at least 2 token counts");
            break;
        case OPT_KV_LEN:
            if (!parse_longs(optarg, 1, 1 << 20, kv, &n_kv) || n_kv < 2)
                return cli_usage("bench", "--kv-len: a comma-separated list of at least 2 KV lengths");
            break;
        case 'h': fputs(validate_help, stdout); return 0;
        default: return cli_usage("bench", "bad option");
        }
    }
    if (optind < argc)
        return cli_usage("bench", "unexpected operand '%s'", argv[optind]);
    if (!n_models)
        return cli_usage("bench", "bench validate: --model is required");
    if (a.n_batches * a.n_seqs < 4)
        return cli_usage("bench", "bench validate: the grid needs at least 4 points (2 to fit, 2 held out)");
    a.precisions[0] = prec;
    a.n_precisions = 1;
    cli_log_init(IA_LOG_WARN);

    bench_ctx ctx;
    char path[4096];
    ia_benchdb *db = NULL;
    ia_pm_peaks pk;
    bool measured = false;
    vrow *rows = calloc(MAX_LIST * MAX_LIST, sizeof *rows);
    cJSON *doc = cJSON_CreateObject(), *jmodels = cJSON_AddArrayToObject(doc, "models");
    int rc = ctx_init(&ctx);
    if (!rc && !rows)
        rc = cli_fail(IA_ERR_NOMEM, "bench validate");
    if (!rc)
        rc = open_db(a.db_path, path, sizeof path, &db);
    if (!rc)
        rc = get_peaks(db, path, &ctx, (int)a.threads, false, a.json || a.quiet, &pk, &measured);
    progress pg = {.on = !a.quiet && !a.json && cli_stderr_is_tty(), .total = n_models * a.n_batches * a.n_seqs,
                   .start = cli_now(), .limit = a.time_limit};
    size_t held = 0, within = 0;
    for (size_t i = 0; i < n_models && !rc; i++) {
        size_t n_rows = 0;
        if (!a.json && i)
            putchar('\n');
        size_t ml = strlen(models[i]);
        if (ml > 5 && !strcmp(models[i] + ml - 5, ".gguf")) {
            bench_args da = a;
            memcpy(da.seqs, prefill, sizeof prefill);
            da.n_seqs = n_prefill;
            rc = validate_decoder(models[i], &da, kv, n_kv, reuse, db, path, &ctx, &pk, jmodels, &held, &within);
            continue;
        }
        rc = validate_model(models[i], &a, reuse, db, path, &ctx, &pk, &pg, jmodels, rows, &n_rows);
        for (size_t r = 0; r < n_rows; r++)
            if (rows[r].held_out) {
                held++;
                within += fabs(rows[r].err_pct) <= 20;
            }
    }
    if (!rc) {
        if (a.json) {
            cJSON_AddStringToObject(doc, "db", path);
            cJSON_AddStringToObject(doc, "precision", prec);
            cJSON_AddNumberToObject(doc, "threads", (double)a.threads);
            cJSON_AddItemToObject(doc, "peaks", peaks_json(&pk, measured));
            cJSON_AddNumberToObject(doc, "held_out", (double)held);
            cJSON_AddNumberToObject(doc, "within_20pct", (double)within);
            cJSON_AddNumberToObject(doc, "share_within_20pct", held ? (double)within / (double)held : 0);
            char *txt = cJSON_PrintUnformatted(doc);
            if (txt)
                printf("%s\n", txt);
            cJSON_free(txt);
        } else {
            printf("\nheld out: %zu, within +-20%%: %zu (%.0f%%); peaks: %s %.1f GFLOP/s, memory %.2f GB/s\n", held,
                   within, held ? 100.0 * (double)within / (double)held : 0.0, prec,
                   ia__pm_peak_flops(&pk, prec) / 1e9, pk.mem_bw / 1e9);
        }
    }
    cJSON_Delete(doc);
    free(rows);
    ia__benchdb_close(db);
    ctx_close(&ctx);
    return rc;
}

/* ---- bench predict ------------------------------------------------------------- */

static const char predict_help[] =
    "Usage: ipfs-accelerate bench predict --model M [-b LIST] [-s LIST] [options]\n"
    "\n"
    "Predict latency, throughput and memory of model M on this machine at each\n"
    "batch size x sequence length, from its op counts, this machine's peaks\n"
    "('bench peaks'; measured first when absent) and a calibration fitted on the\n"
    "runs of M stored for this precision and thread count (the profiled ones\n"
    "that 'bench validate' stores when there are any, else every stored run).\n"
    "With none stored, the bare roofline is printed, marked uncalibrated.\n"
    "\n"
    "A decoder (a .gguf file): prefill and one decode step, each phase calibrated\n"
    "on the runs 'bench validate' stored for it (else the bare roofline); with\n"
    "--measure each point timed beside it (the median of the calls).\n"
    "\n"
    "  -m, --model M           the model\n"
    "  -b, --batch-sizes LIST  default 1,8,32\n"
    "  -s, --seq-lens LIST     default 128\n"
    "      --prefill LIST      decoder: prompt lengths (default 128,512)\n"
    "      --kv-len LIST       decoder: KV lengths of a decode step (default 128,1024)\n"
    "      --measure           decoder: time each point too\n"
    "      --precision P       fp32, int8 or bf16 (default fp32)\n"
    "  -j, --threads N         as the runs to calibrate on were measured (default 1)\n"
    "      --db PATH           the database (default as bench)\n"
    "      --json              one JSON document on stdout\n";

/* bench predict for a decoder (a GGUF file): prefill and decode from the
 * op counts and the peaks, each phase calibrated on the runs `bench
 * validate` stored for it (else the bare roofline); with measure, each
 * point timed beside it. */
static int predict_decoder(const bench_args *a, const long *kv, size_t n_kv, bool measure)
{
    bench_ctx ctx;
    char path[4096];
    ia_benchdb *db = NULL;
    ia_lm *lm = NULL;
    ia_session *sess = NULL;
    int32_t *ids = NULL;
    ia_pm_peaks pk;
    ia_pm_arch arch;
    bool measured = false;
    ia_status st;
    ia_lm_options lo = IA_LM_OPTIONS_INIT;
    lo.n_threads = (int)a->threads;
    int rc = ctx_init(&ctx);
    if (!rc)
        rc = open_db(a->db_path, path, sizeof path, &db);
    if (!rc && (st = ia_lm_load(a->model, &lo, &lm)))
        rc = cli_fail(st, "loading %s", a->model);
    char types[128] = "";
    if (!rc)
        rc = decoder_arch(lm, a->model, &arch, types, sizeof types);
    if (!rc)
        rc = get_peaks(db, path, &ctx, (int)a->threads, false, true, &pk, &measured);
    /* Per phase, the calibration from the runs `bench validate` stored
     * (the file's types as their precision), else the bare roofline. */
    static const char *const phases[2] = {"prefill", "decode"};
    ia_pm_calib k[2];
    memset(k, 0, sizeof k);
    bool cal[2] = {false, false};
    ia_lm_info li;
    if (!rc)
        ia_lm_get_info(lm, &li);
    for (int ph = 0; ph < 2 && !rc; ph++) {
        ia_bench_point *pts = NULL;
        size_t npts = 0;
        if ((st = ia__benchdb_points(db, &ctx.hw, li.path, types, (int)a->threads, phases[ph], &pts, &npts)))
            rc = cli_fail(st, "reading %s", path);
        else if (npts)
            cal[ph] = !(rc = fit_points(&arch, "fp32", &pk, pts, npts, NULL, a->model, phases[ph], &k[ph]));
        ia_free(pts);
    }
    int n_max = 1;
    for (size_t i = 0; i < a->n_seqs; i++)
        n_max = a->seqs[i] > n_max ? (int)a->seqs[i] : n_max;
    for (size_t i = 0; i < n_kv; i++)
        n_max = kv[i] > n_max ? (int)kv[i] : n_max;
    if (!rc && measure && (st = ia__session_new(lm->dec, n_max, &sess)))
        rc = cli_fail(st, "a session of %d positions", n_max);
    if (!rc && measure && !(ids = malloc((size_t)n_max * sizeof *ids)))
        rc = cli_fail(IA_ERR_NOMEM, "bench predict");
    for (int i = 0; ids && i < n_max; i++)
        ids[i] = 100 + i % 1000; /* ordinary tokens; the cost does not depend on which */
    cJSON *doc = cJSON_CreateObject(), *jrows = cJSON_AddArrayToObject(doc, "predictions");
    if (!rc && !a->json)
        printf("%-8s %6s %12s %12s %10s %12s %8s\n", "phase", "tokens", "latency_ms", "tokens/s", "mem_MiB",
               "measured_ms", "ratio");
    for (int phase = 0; phase < 2 && !rc; phase++) {
        size_t n_pts = phase ? n_kv : a->n_seqs;
        for (size_t i = 0; i < n_pts && !rc; i++) {
            int n = (int)(phase ? kv[i] : a->seqs[i]);
            ia_pm_prediction pp;
            if ((st = ia__pm_predict_decoder(&arch, "fp32", &pk, cal[phase] ? &k[phase] : NULL, phase == 1, n,
                                             &pp))) {
                rc = cli_fail(st, "%s", a->model);
                break;
            }
            double meas = 0;
            int calls = 0;
            if (sess) {
                dec_run r = {sess, ids, phase ? 1 : n, phase ? n - 1 : 0};
                if (phase) { /* the cache filled up to n - 1 once */
                    ia__session_truncate(sess, 0);
                    st = ia__session_eval(sess, ids, n - 1, NULL, NULL);
                }
                if (!st)
                    st = time_median(dec_step, &r, phase ? 0.3 : 1.0, &meas, &calls);
                if (st) {
                    rc = cli_fail(st, "%s %d tokens", phase ? "decoding at" : "prefilling", n);
                    break;
                }
            }
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "phase", phase ? "decode" : "prefill");
            cJSON_AddBoolToObject(o, "calibrated", cal[phase]);
            cJSON_AddNumberToObject(o, phase ? "kv_len" : "tokens", n);
            cJSON_AddNumberToObject(o, "latency_ms", pp.latency_s * 1e3);
            cJSON_AddNumberToObject(o, "tokens_per_s", pp.tokens_per_s);
            cJSON_AddNumberToObject(o, "memory_bytes", pp.memory_bytes);
            cJSON_AddNumberToObject(o, "kv_bytes", pp.cost.kv_bytes);
            cJSON *f = cJSON_AddObjectToObject(o, "flops"), *by = cJSON_AddObjectToObject(o, "bytes");
            for (int cl = 0; cl < IA_PM_N_CLASSES; cl++) {
                cJSON_AddNumberToObject(f, ia__pm_class_name(cl), pp.cost.flops[cl]);
                cJSON_AddNumberToObject(by, ia__pm_class_name(cl), pp.cost.bytes[cl]);
            }
            if (sess)
                cJSON_AddNumberToObject(o, "measured_ms", meas * 1e3);
            else
                cJSON_AddNullToObject(o, "measured_ms");
            cJSON_AddItemToArray(jrows, o);
            if (!a->json) {
                char m1[32] = "-", m2[32] = "-";
                if (sess) {
                    snprintf(m1, sizeof m1, "%.3f", meas * 1e3);
                    snprintf(m2, sizeof m2, "%.2f", meas / pp.latency_s);
                }
                printf("%-8s %6d %12.3f %12.1f %10.1f %12s %8s\n", phase ? "decode" : "prefill", n,
                       pp.latency_s * 1e3, pp.tokens_per_s, pp.memory_bytes / (1024.0 * 1024.0), m1, m2);
            }
        }
    }
    if (!rc && a->json) {
        cJSON_AddStringToObject(doc, "db", path);
        cJSON_AddStringToObject(doc, "model", a->model);
        cJSON_AddStringToObject(doc, "weight_types", types);
        cJSON_AddNumberToObject(doc, "weight_bytes_per_param", arch.weight_bytes);
        cJSON_AddNumberToObject(doc, "threads", (double)a->threads);
        cJSON *jc = cJSON_AddObjectToObject(doc, "calibration_runs");
        for (int ph = 0; ph < 2; ph++)
            cJSON_AddNumberToObject(jc, phases[ph], cal[ph] ? k[ph].n_runs : 0);
        char *txt = cJSON_PrintUnformatted(doc);
        if (txt)
            printf("%s\n", txt);
        cJSON_free(txt);
    } else if (!rc) {
        for (int ph = 0; ph < 2; ph++)
            if (cal[ph])
                fprintf(stderr, "ipfs-accelerate: %s calibrated on %d stored run%s (rms %.1f%%)\n", phases[ph],
                        k[ph].n_runs, k[ph].n_runs == 1 ? "" : "s", 100 * k[ph].rms_rel);
            else
                fprintf(stderr,
                        "ipfs-accelerate: %s: the bare roofline, uncalibrated (no runs stored for %s with %ld "
                        "thread%s: 'bench validate --model %s' stores them)\n",
                        phases[ph], types, a->threads, a->threads == 1 ? "" : "s", a->model);
        fprintf(stderr, "ipfs-accelerate: %s (%s, %.3f bytes per weight)%s\n", a->model, types, arch.weight_bytes,
                sess ? "; measured: the median of the calls" : "");
    }
    cJSON_Delete(doc);
    free(ids);
    ia__session_free(sess);
    ia_lm_free(lm);
    ia__benchdb_close(db);
    ctx_close(&ctx);
    return rc;
}

static int bench_predict(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},    {"batch-sizes", required_argument, 0, 'b'},
        {"seq-lens", required_argument, 0, 's'}, {"precision", required_argument, 0, OPT_PRECISION},
        {"threads", required_argument, 0, 'j'},  {"db", required_argument, 0, OPT_DB},
        {"json", no_argument, 0, OPT_JSON},      {"help", no_argument, 0, 'h'},
        {"prefill", required_argument, 0, OPT_PREFILL}, {"kv-len", required_argument, 0, OPT_KV_LEN},
        {"measure", no_argument, 0, OPT_MEASURE}, {0, 0, 0, 0},
    };
    bench_args a = {0};
    const char *prec = "fp32";
    long kv[MAX_LIST] = {128, 1024}, prefill[MAX_LIST] = {128, 512};
    size_t n_kv = 2, n_prefill = 2;
    bool measure = false;
    a.batches[0] = 1, a.batches[1] = 8, a.batches[2] = 32, a.n_batches = 3;
    a.seqs[0] = 128, a.n_seqs = 1;
    a.threads = 1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:b:s:j:h", opts, NULL)) != -1) {
        int r = grid_option(c, &a);
        if (r >= 0) {
            if (r)
                return r;
            continue;
        }
        switch (c) {
        case 'm': a.model = optarg; break;
        case OPT_PRECISION:
            if (!precision_ok(optarg))
                return cli_usage("bench", "--precision: fp32, int8 or bf16, not '%s'", optarg);
            prec = optarg;
            break;
        case OPT_PREFILL:
            if (!parse_longs(optarg, 1, 1 << 20, prefill, &n_prefill))
                return cli_usage("bench", "--prefill: a comma-separated list of token counts (at most %d)", MAX_LIST);
            break;
        case OPT_KV_LEN:
            if (!parse_longs(optarg, 1, 1 << 20, kv, &n_kv))
                return cli_usage("bench", "--kv-len: a comma-separated list of KV lengths (at most %d)", MAX_LIST);
            break;
        case OPT_MEASURE: measure = true; break;
        case 'h': fputs(predict_help, stdout); return 0;
        default: return cli_usage("bench", "bad option");
        }
    }
    if (optind < argc)
        return cli_usage("bench", "unexpected operand '%s'", argv[optind]);
    if (!a.model)
        return cli_usage("bench", "bench predict: --model is required");
    cli_log_init(IA_LOG_WARN);
    size_t ml = strlen(a.model);
    if (ml > 5 && !strcmp(a.model + ml - 5, ".gguf")) {
        memcpy(a.seqs, prefill, sizeof prefill);
        a.n_seqs = n_prefill;
        return predict_decoder(&a, kv, n_kv, measure);
    }

    bench_ctx ctx;
    char path[4096];
    ia_benchdb *db = NULL;
    ia_model *m = NULL;
    ia_bench_point *pts = NULL;
    bool *use = NULL;
    size_t npts = 0;
    ia_pm_peaks pk;
    ia_pm_arch arch;
    ia_model_info info;
    bool measured = false, calibrated = false;
    ia_pm_calib k = {0};
    ia_status st;
    ia_model_options mo = IA_MODEL_OPTIONS_INIT;
    mo.n_threads = (int)a.threads;
    mo.precision = prec;
    int rc = ctx_init(&ctx);
    if (!rc)
        rc = open_db(a.db_path, path, sizeof path, &db);
    if (!rc && (st = ia_model_load(a.model, &mo, &m)))
        rc = cli_fail(st, "loading %s", a.model);
    if (!rc) {
        ia_model_get_info(m, &info);
        if ((st = ia__pm_arch_from_model(&info, &arch)))
            rc = cli_fail(st, "--model %s", a.model);
        else if (strcmp(info.precision, prec))
            rc = cli_fail(IA_ERR_UNSUPPORTED, "--precision %s: this CPU computes it as %s", prec, info.precision);
    }
    if (!rc)
        rc = get_peaks(db, path, &ctx, (int)a.threads, false, true, &pk, &measured);
    if (!rc && (st = ia__benchdb_points(db, &ctx.hw, info.path, prec, (int)a.threads, NULL, &pts, &npts)))
        rc = cli_fail(st, "reading %s", path);
    if (!rc && npts) {
        /* The profiled runs when there are any: a fit per class. */
        size_t n_prof = 0;
        use = calloc(npts, sizeof *use);
        for (size_t i = 0; use && i < npts; i++)
            n_prof += use[i] = pts[i].op_s[0] >= 0;
        if (!use)
            rc = cli_fail(IA_ERR_NOMEM, "bench predict");
        else
            rc = fit_points(&arch, prec, &pk, pts, npts, n_prof ? use : NULL, info.path, NULL, &k);
        calibrated = !rc;
    }
    if (!rc && !calibrated)
        fprintf(stderr,
                "ipfs-accelerate: no runs of %s stored for %s with %ld thread%s on this machine: the bare roofline, "
                "uncalibrated (run 'bench validate --model %s' to calibrate)\n",
                info.path, prec, a.threads, a.threads == 1 ? "" : "s", a.model);
    cJSON *doc = cJSON_CreateObject(), *jrows = cJSON_AddArrayToObject(doc, "predictions");
    if (!rc && !a.json)
        printf("%-5s %6s %12s %12s %12s %10s %12s\n", "batch", "seq", "latency_ms", "texts/s", "tokens/s", "mem_MiB",
               "measured_ms");
    for (size_t si = 0; si < a.n_seqs && !rc; si++)
        for (size_t bi = 0; bi < a.n_batches && !rc; bi++) {
            int b = (int)a.batches[bi], sq = (int)a.seqs[si];
            ia_pm_prediction pp;
            if ((st = ia__pm_predict_encoder(&arch, prec, &pk, calibrated ? &k : NULL, b, sq, &pp))) {
                rc = cli_fail(st, "%s", a.model);
                break;
            }
            const ia_bench_point *pt = find_point(pts, npts, b, sq);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "batch_size", b);
            cJSON_AddNumberToObject(o, "seq_len", sq);
            cJSON_AddNumberToObject(o, "latency_ms", pp.latency_s * 1e3);
            cJSON_AddNumberToObject(o, "texts_per_s", pp.texts_per_s);
            cJSON_AddNumberToObject(o, "tokens_per_s", pp.tokens_per_s);
            cJSON_AddNumberToObject(o, "memory_bytes", pp.memory_bytes);
            cJSON_AddNumberToObject(o, "roofline_ms", pp.roofline_s * 1e3);
            cJSON *f = cJSON_AddObjectToObject(o, "flops"), *by = cJSON_AddObjectToObject(o, "bytes");
            for (int cl = 0; cl < IA_PM_N_CLASSES; cl++) {
                cJSON_AddNumberToObject(f, ia__pm_class_name(cl), pp.cost.flops[cl]);
                cJSON_AddNumberToObject(by, ia__pm_class_name(cl), pp.cost.bytes[cl]);
            }
            if (pt)
                cJSON_AddNumberToObject(o, "measured_ms", pt->latency_p50_s * 1e3);
            else
                cJSON_AddNullToObject(o, "measured_ms");
            cJSON_AddItemToArray(jrows, o);
            if (!a.json) {
                char meas[32] = "-";
                if (pt)
                    snprintf(meas, sizeof meas, "%.3f", pt->latency_p50_s * 1e3);
                printf("%-5d %6d %12.3f %12.1f %12.1f %10.1f %12s\n", b, sq, pp.latency_s * 1e3, pp.texts_per_s,
                       pp.tokens_per_s, pp.memory_bytes / (1024.0 * 1024.0), meas);
            }
        }
    if (!rc && a.json) {
        cJSON_AddStringToObject(doc, "db", path);
        cJSON_AddStringToObject(doc, "model", info.path);
        cJSON_AddStringToObject(doc, "precision", prec);
        cJSON_AddNumberToObject(doc, "threads", (double)a.threads);
        cJSON_AddBoolToObject(doc, "calibrated", calibrated);
        cJSON_AddNumberToObject(doc, "calibration_runs", calibrated ? k.n_runs : 0);
        cJSON_AddBoolToObject(doc, "per_class", calibrated && k.per_class);
        char *txt = cJSON_PrintUnformatted(doc);
        if (txt)
            printf("%s\n", txt);
        cJSON_free(txt);
    } else if (!rc && calibrated) {
        fprintf(stderr, "ipfs-accelerate: calibrated on %d stored run%s%s (rms %.1f%%)\n", k.n_runs,
                k.n_runs == 1 ? "" : "s", k.per_class ? " and their profiles" : "", 100 * k.rms_rel);
    }
    cJSON_Delete(doc);
    free(use);
    ia_free(pts);
    ia_model_free(m);
    ia__benchdb_close(db);
    ctx_close(&ctx);
    return rc;
}

/* ---- bench report -------------------------------------------------------------- */

static const char report_help[] =
    "Usage: ipfs-accelerate bench report -o report.html [--db PATH]\n"
    "\n"
    "Write the stored runs as one self-contained HTML page (no scripts or\n"
    "resources from elsewhere) with SVG plots: throughput against batch size per\n"
    "model, device, precision and length; the latency distribution (p50, p90,\n"
    "p99) of the newest runs; predicted against measured latency for the runs\n"
    "'bench validate' profiled on this machine (each model loaded to count its\n"
    "operations, calibrated on those runs, with the peaks stored for their\n"
    "thread count); throughput across engine versions.\n"
    "\n"
    "  -o, --output FILE   the page to write\n"
    "      --db PATH       the database (default as bench)\n";

/* Predicted against measured for each embedding model, precision and
 * thread count with profiled runs on this machine: calibrated on them as
 * bench predict is. Models that cannot be loaded here are skipped, said. */
static int report_predictions(bench_ctx *ctx, ia_benchdb *db, const char *path, ia_report_pred **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(ia__benchdb_handle(db),
                           "SELECT DISTINCT m.path, s.precision, s.threads FROM runs x "
                           "JOIN models m ON m.id = x.model_id JOIN shapes s ON s.id = x.shape_id "
                           "JOIN benchmark_results r ON r.id = x.result_id "
                           "WHERE x.phase IS NULL AND r.metadata LIKE '%\"op_seconds\"%' ORDER BY 1, 2, 3",
                           -1, &q, NULL) != SQLITE_OK)
        return cli_fail(IA_ERR_FORMAT, "%s: %s", path, sqlite3_errmsg(ia__benchdb_handle(db)));
    size_t cap = 0;
    int rc = 0;
    while (!rc && sqlite3_step(q) == SQLITE_ROW) {
        const char *mp = (const char *)sqlite3_column_text(q, 0), *prec = (const char *)sqlite3_column_text(q, 1);
        int threads = sqlite3_column_int(q, 2);
        if (!mp || !prec)
            continue;
        ia_pm_peaks pk;
        ia_pm_arch arch;
        ia_model_info info;
        ia_model *m = NULL;
        ia_model_options mo = IA_MODEL_OPTIONS_INIT;
        mo.precision = prec;
        ia_bench_point *pts = NULL;
        size_t npts = 0;
        if (ia__benchdb_peaks_get(db, &ctx->hw, NULL, threads, &pk) || ia_model_load(mp, &mo, &m)) {
            fprintf(stderr, "ipfs-accelerate: report: %s (%s, %d threads) not predicted: %s\n", mp, prec, threads,
                    ia_errmsg());
            continue;
        }
        ia_model_get_info(m, &info);
        ia_pm_calib k;
        bool *use = NULL;
        if (!ia__pm_arch_from_model(&info, &arch) &&
            !ia__benchdb_points(db, &ctx->hw, mp, prec, threads, NULL, &pts, &npts) && npts &&
            (use = calloc(npts, sizeof *use))) {
            for (size_t i = 0; i < npts; i++)
                use[i] = pts[i].op_s[0] >= 0;
            if (!fit_points(&arch, prec, &pk, pts, npts, use, mp, NULL, &k)) {
                for (size_t i = 0; i < npts && !rc; i++) {
                    ia_pm_prediction pp;
                    if (!use[i] || ia__pm_predict_encoder(&arch, prec, &pk, &k, pts[i].batch_size, pts[i].seq_len,
                                                          &pp))
                        continue;
                    if (*n_out == cap) {
                        cap = cap ? cap * 2 : 64;
                        ia_report_pred *r = realloc(*out, cap * sizeof *r);
                        if (!r) {
                            rc = cli_fail(IA_ERR_NOMEM, "bench report");
                            break;
                        }
                        *out = r;
                    }
                    ia_report_pred *r = &(*out)[(*n_out)++];
                    const char *slash = strrchr(mp, '/');
                    snprintf(r->label, sizeof r->label, "%s %s %dt b=%d s=%d", slash ? slash + 1 : mp, prec, threads,
                             pts[i].batch_size, pts[i].seq_len);
                    r->predicted_ms = pp.latency_s * 1e3;
                    r->measured_ms = pts[i].latency_p50_s * 1e3;
                }
            }
        }
        free(use);
        ia_free(pts);
        ia_model_free(m);
    }
    sqlite3_finalize(q);
    return rc;
}

static int bench_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'}, {"db", required_argument, 0, OPT_DB},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    const char *db_opt = NULL, *outp = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': outp = optarg; break;
        case OPT_DB: db_opt = optarg; break;
        case 'h': fputs(report_help, stdout); return 0;
        default: return cli_usage("bench", "bad option");
        }
    }
    if (optind < argc)
        return cli_usage("bench", "bench report takes no operands");
    if (!outp)
        return cli_usage("bench", "bench report: -o FILE is required");
    cli_log_init(IA_LOG_ERROR);
    char path[4096];
    if (db_opt)
        snprintf(path, sizeof path, "%s", db_opt);
    else if (ia__benchdb_default_path(path, sizeof path))
        return cli_fail(IA_ERR_INVALID, "benchmark database");
    struct stat sb;
    if (stat(path, &sb) != 0) /* a report creates no database */
        return cli_fail(IA_ERR_NOT_FOUND, "no benchmark database at %s (--db names one)", path);
    bench_ctx ctx;
    ia_benchdb *db = NULL;
    ia_report_pred *pred = NULL;
    size_t n_pred = 0;
    char *html = NULL;
    ia_status st;
    int rc = ctx_init(&ctx);
    bool ctx_ok = !rc;
    if (!rc && (st = ia__benchdb_open(path, &db)))
        rc = cli_fail(st, "opening %s", path);
    if (!rc)
        rc = report_predictions(&ctx, db, path, &pred, &n_pred);
    if (!rc && (st = ia__benchdb_report_html(db, path, pred, n_pred, &html)))
        rc = cli_fail(st, "the report of %s", path);
    if (!rc) {
        FILE *f = fopen(outp, "wb");
        size_t len = strlen(html);
        if (!f || fwrite(html, 1, len, f) != len || fclose(f) != 0) {
            if (f)
                fclose(f);
            rc = cli_fail(IA_ERR_IO, "writing %s: %s", outp, strerror(errno));
        } else {
            fprintf(stderr, "ipfs-accelerate: wrote %s (%zu bytes; %zu predicted points)\n", outp, len, n_pred);
        }
    }
    ia_free(html);
    free(pred);
    ia__benchdb_close(db);
    if (ctx_ok)
        ctx_close(&ctx);
    return rc;
}

/* ---- bench ------------------------------------------------------------------ */

static int parse_args(int argc, char **argv, bench_args *a)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},
        {"batch-sizes", required_argument, 0, 'b'},
        {"seq-lens", required_argument, 0, 's'},
        {"precision", required_argument, 0, OPT_PRECISION},
        {"threads", required_argument, 0, 'j'},
        {"target-ci", required_argument, 0, OPT_TARGET_CI},
        {"time-limit", required_argument, 0, OPT_TIME_LIMIT},
        {"warmup", required_argument, 0, OPT_WARMUP},
        {"min-samples", required_argument, 0, OPT_MIN_SAMPLES},
        {"db", required_argument, 0, OPT_DB},
        {"no-store", no_argument, 0, OPT_NO_STORE},
        {"cid", no_argument, 0, OPT_CID},
        {"json", no_argument, 0, OPT_JSON},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *precisions = "fp32";
    a->batches[0] = 1, a->batches[1] = 8, a->batches[2] = 32, a->n_batches = 3;
    a->seqs[0] = 16, a->seqs[1] = 128, a->n_seqs = 2;
    a->target_ci = 0.05, a->time_limit = 10, a->warmup = 2, a->min_samples = 5, a->store = true;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:b:s:j:qh", opts, NULL)) != -1) {
        int r = grid_option(c, a);
        if (r >= 0) {
            if (r)
                return r;
            continue;
        }
        switch (c) {
        case 'm': a->model = optarg; break;
        case OPT_PRECISION: precisions = optarg; break;
        case OPT_TARGET_CI:
            if (!parse_double(optarg, 1e-6, 10, &a->target_ci))
                return cli_usage("bench", "--target-ci: a relative half-width such as 0.05");
            break;
        case OPT_WARMUP:
            if (!cli_parse_long(optarg, 1, 1000000, &a->warmup))
                return cli_usage("bench", "--warmup: at least 1 (the first call also checks the token count)");
            break;
        case OPT_MIN_SAMPLES:
            if (!cli_parse_long(optarg, 2, 1000000, &a->min_samples))
                return cli_usage("bench", "--min-samples: at least 2");
            break;
        case OPT_NO_STORE: a->store = false; break;
        case OPT_CID: a->cid = true; break;
        case 'h': fputs(bench_help, stdout); return 0;
        default: return cli_usage("bench", "bad option");
        }
    }
    if (optind < argc)
        return cli_usage("bench", "unexpected operand '%s'", argv[optind]);
    if (!a->model)
        return cli_usage("bench", "--model is required");
    a->precision_buf = strdup(precisions);
    if (!a->precision_buf)
        return cli_fail(IA_ERR_NOMEM, "bench");
    char *save = NULL;
    for (char *t = strtok_r(a->precision_buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!precision_ok(t))
            return cli_usage("bench", "--precision: fp32, int8 or bf16, not '%s'", t);
        if (a->n_precisions == MAX_LIST)
            return cli_usage("bench", "--precision: at most %d", MAX_LIST);
        a->precisions[a->n_precisions++] = t;
    }
    if (!a->n_precisions)
        return cli_usage("bench", "--precision: empty list");
    return -1;
}

/* The CID of a model named by IPFS reference; NULL otherwise (a folder's
 * CID would mean hashing it all: `ipfs-accelerate model add` does that). */
static char *model_cid(const char *ref)
{
    const char *p = NULL;
    if (!strncmp(ref, "ipfs://", 7))
        p = ref + 7;
    else if (!strncmp(ref, "/ipfs/", 6))
        p = ref + 6;
    if (!p || !*p)
        return NULL;
    return strndup(p, strcspn(p, "/?#"));
}

int cmd_bench(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "list"))
        return bench_list(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "peaks"))
        return bench_peaks(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "validate"))
        return bench_validate(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "predict"))
        return bench_predict(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "report"))
        return bench_report(argc - 1, argv + 1);
    bench_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) {
        free(a.precision_buf);
        return rc;
    }
    cli_log_init(IA_LOG_WARN);

    bench_ctx ctx = {0};
    ia_benchdb *db = NULL;
    char db_path[4096] = "";
    cJSON *doc = cJSON_CreateObject(), *runs = cJSON_AddArrayToObject(doc, "runs");
    char *cid = model_cid(a.model);
    rc = ctx_init(&ctx);
    if (!rc && a.store)
        rc = open_db(a.db_path, db_path, sizeof db_path, &db);
    if (rc)
        goto out;
    progress pg = {.on = !a.quiet && cli_stderr_is_tty(), .total = a.n_precisions * a.n_seqs * a.n_batches,
                   .start = cli_now(), .limit = a.time_limit};
    for (size_t pi = 0; pi < a.n_precisions && !rc; pi++) {
        ia_model_options mo = IA_MODEL_OPTIONS_INIT;
        mo.n_threads = (int)a.threads;
        mo.precision = a.precisions[pi];
        ia_model *m;
        ia_status st = ia_model_load(a.model, &mo, &m);
        if (st) {
            rc = cli_fail(st, "loading %s", a.model);
            break;
        }
        ia_model_info info;
        ia_model_get_info(m, &info);
        /* A folder is named by its last component, as a hub id names it. */
        struct stat sb;
        const char *slash = strrchr(info.path, '/');
        const char *name = stat(a.model, &sb) == 0 && S_ISDIR(sb.st_mode) && slash && slash[1] ? slash + 1 : a.model;
        if (!cid && a.cid) {
            ia_cid root;
            char cs[IA_CID_STR_MAX];
            st = ia_unixfs_add_path(info.path, true, NULL, NULL, NULL, NULL, &root);
            if (st || !(cid = strdup(ia_cid_str(&root, cs)))) {
                rc = cli_fail(st ? st : IA_ERR_NOMEM, "the CID of %s", info.path);
                ia_model_free(m);
                break;
            }
        }
        ia_bench_model bm = {.name = name, .path = info.path, .architecture = info.architecture,
                             .n_params = (int64_t)info.n_params, .dim = info.dim, .n_layers = info.n_layers,
                             .hidden_size = info.hidden_size, .weights_dtype = info.weights_dtype, .cid = cid};
        ctx.hw.type = info.backend;
        ctx.hw.device = info.device;
        ctx.hw.device_name = info.backend && !strcmp(info.backend, "cpu") ? ctx.hw.cpu_model : info.device;
        for (size_t si = 0; si < a.n_seqs && !rc; si++) {
            const char *why = NULL;
            char *text = NULL;
            if ((size_t)a.seqs[si] > info.max_seq_length) {
                rc = cli_fail(IA_ERR_INVALID, "--seq-lens %ld: above the model's limit of %zu tokens", a.seqs[si],
                              info.max_seq_length);
                break;
            }
            text = exact_text(ia_model_tokenizer(m), a.seqs[si], &why);
            if (!text) {
                rc = cli_fail(IA_ERR_INVALID, "--seq-lens %ld: a text of that many tokens %s", a.seqs[si], why);
                break;
            }
            for (size_t bi = 0; bi < a.n_batches && !rc; bi++) {
                char label[96];
                snprintf(label, sizeof label, "%s b=%ld s=%ld", a.precisions[pi], a.batches[bi], a.seqs[si]);
                pg.label = label;
                point_result pr = {0};
                pr.run.precision_used = info.precision;
                rc = measure_point(m, text, a.batches[bi], a.seqs[si], &a, &pg, &pr);
                if (rc)
                    break;
                pg.done++;
                if (pg.on)
                    fputs("\r\033[K", stderr);
                ia_bench_shape shape = {.batch_size = (int)a.batches[bi], .seq_len = (int)a.seqs[si],
                                        .precision = a.precisions[pi], .threads = (int)a.threads};
                int64_t id = 0;
                if (db) {
                    st = ia__benchdb_insert(db, &ctx.hw, &ctx.sw, &bm, &shape, &pr.run, &id);
                    if (st) {
                        rc = cli_fail(st, "storing the run in %s", db_path);
                        break;
                    }
                }
                if (a.json) {
                    cJSON_AddItemToArray(runs, run_json(id, &bm, &ctx.hw, &shape, &pr.run));
                } else {
                    if (pg.done == 1)
                        print_header();
                    print_row(&shape, &pr.run);
                }
            }
            free(text);
        }
        ia_model_free(m);
    }
    if (!rc && a.json) {
        if (db)
            cJSON_AddStringToObject(doc, "db", db_path);
        else
            cJSON_AddNullToObject(doc, "db");
        char *txt = cJSON_PrintUnformatted(doc);
        if (txt)
            printf("%s\n", txt);
        cJSON_free(txt);
    } else if (!rc && db) {
        fprintf(stderr, "ipfs-accelerate: %zu run%s stored in %s\n", pg.done, pg.done == 1 ? "" : "s", db_path);
    }
out:
    ctx_close(&ctx);
    ia__benchdb_close(db);
    cJSON_Delete(doc);
    free(cid);
    free(a.precision_buf);
    return rc;
}

/* ---- advise ------------------------------------------------------------------ */

static const char advise_help[] =
    "Usage: ipfs-accelerate advise --model M [--latency-ms X | --throughput] [--context N]\n"
    "                              [--db PATH] [--json]\n"
    "\n"
    "Which devices and precisions of this machine can run model M (memory fit,\n"
    "with a decoder's KV cache at the context length; the precisions each built\n"
    "backend computes), and which to use: device, precision, batch size and\n"
    "threads, with latency, throughput and memory predicted by the performance\n"
    "model ('bench predict': calibrated on the runs stored for it, else the bare\n"
    "roofline, said so) and the reasons. The CPU's peaks are measured first when\n"
    "none are stored ('bench peaks', about 2 s); another device's only by\n"
    "'bench peaks --device D'. Devices without measured peaks\n"
    "are listed as usable but not predicted.\n"
    "\n"
    "  -m, --model M        a model folder, hub id or ipfs://CID, or a .gguf decoder\n"
    "      --latency-ms X   the most throughput whose call stays within X ms\n"
    "      --throughput     the most texts (decoder: tokens) per second\n"
    "                       (default: the lowest latency of one call)\n"
    "      --context N      tokens per text (default 128), decoder: KV positions\n"
    "                       (default 2048)\n"
    "      --db PATH        the benchmark database (default as bench)\n"
    "      --json           one JSON document on stdout\n";

enum { OPT_LATENCY_MS = 0x2200, OPT_THROUGHPUT, OPT_CONTEXT };

/* The device table from hardware detection: the CPU (all cores, and one
 * thread where peaks for it are stored), then every other device seen. */
typedef struct advise_table {
    ia_adv_device dev[16];
    int n;
    ia_pm_peaks peaks[16]; /* each row's */
    ia_pm_calib calib[2][IA_ADV_MAX_PREC];
} advise_table;

static int advise_devices(bench_ctx *ctx, ia_benchdb *db, const char *path, bool measure, bool all_cores_only,
                          advise_table *t)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(ctx->detect, "platforms"))
    {
        const char *id = jstr(p, "id"), *state = jstr(p, "state");
        if (!id || !state || !strcmp(state, "not_present"))
            continue;
        if (!strcmp(id, "cpu")) {
            const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(p, "cpu");
            for (int th = 0; th < 2 && t->n < 16; th++) {
                bool measured = false;
                ia_pm_peaks *slot = &t->peaks[t->n]; /* the row about to be added */
                const ia_pm_peaks *pk = slot;
                if (th == 0 && measure) {
                    int rc = get_peaks(db, path, ctx, 0, false, false, slot, &measured);
                    if (rc)
                        return rc;
                } else if (th == 0) {
                    ia_status st = db ? ia__benchdb_peaks_get(db, &ctx->hw, NULL, 0, slot) : IA_ERR_NOT_FOUND;
                    if (st && st != IA_ERR_NOT_FOUND)
                        return cli_fail(st, "reading the peaks from %s", path);
                    pk = st ? NULL : pk; /* none stored: the CPU unpredicted */
                } else if (all_cores_only || !db || ctx->hw.cores <= 1 ||
                           ia__benchdb_peaks_get(db, &ctx->hw, NULL, 1, slot)) {
                    continue; /* one thread only where its peaks are stored */
                }
                ia_adv_device *d = &t->dev[t->n++];
                memset(d, 0, sizeof *d);
                snprintf(d->id, sizeof d->id, "cpu:0");
                snprintf(d->platform, sizeof d->platform, "cpu");
                snprintf(d->name, sizeof d->name, "%s", ctx->hw.cpu_model ? ctx->hw.cpu_model : "CPU");
                d->backend_built = true;
                d->memory_bytes = jnum(cpu, "memory_available");
                d->threads = th; /* 0: one per core */
                d->cores = ctx->hw.cores;
                d->n_prec = ia__adv_cpu_precisions(ctx->hw.cpu_flags, d->precisions);
                d->peaks = pk;
            }
            continue;
        }
        const cJSON *jd;
        cJSON_ArrayForEach(jd, cJSON_GetObjectItemCaseSensitive(p, "devices"))
        {
            if (t->n >= 16)
                break;
            ia_adv_device *d = &t->dev[t->n++];
            memset(d, 0, sizeof *d);
            snprintf(d->id, sizeof d->id, "%s:%d", id, (int)jnum(jd, "index"));
            snprintf(d->platform, sizeof d->platform, "%s", id);
            snprintf(d->name, sizeof d->name, "%s", jstr(jd, "name") ? jstr(jd, "name") : id);
            d->backend_built = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "backend_built"));
            d->explicit_only = !strcmp(id, "vulkan"); /* as the backend registry */
            d->memory_bytes = jnum(jd, "memory");
            /* The Vulkan backend computes fp32 and fp16; the others are
             * not built, so what they would offer is not claimed. */
            d->n_prec = 1;
            snprintf(d->precisions[0], 8, "fp32");
            if (!strcmp(id, "vulkan"))
                snprintf(d->precisions[d->n_prec++], 8, "fp16");
            /* Its peaks where 'bench peaks --device' stored them. */
            ia_pm_peaks *pk = &t->peaks[t->n - 1];
            ia_status st = db && d->backend_built ? ia__benchdb_peaks_get(db, &ctx->hw, d->id, 0, pk)
                                                  : IA_ERR_NOT_FOUND;
            if (st && st != IA_ERR_NOT_FOUND)
                return cli_fail(st, "reading the peaks from %s", path);
            d->peaks = st ? NULL : pk;
        }
    }
    return 0;
}

/* The calibration of each CPU row and precision from the runs stored for
 * the model (the profiled ones when any), as bench predict does. */
static int advise_calibrate(bench_ctx *ctx, ia_benchdb *db, const char *path, const ia_pm_arch *arch,
                            const char *model_path, const char *types, advise_table *t)
{
    for (int i = 0; db && i < t->n; i++) {
        ia_adv_device *d = &t->dev[i];
        if (strcmp(d->platform, "cpu") || !d->peaks)
            continue; /* nothing to calibrate a prediction of */
        int row = d->threads ? 1 : 0;
        int np = arch->decoder ? 1 : d->n_prec;
        for (int pi = 0; pi < np; pi++) {
            const char *prec = arch->decoder ? types : d->precisions[pi];
            ia_bench_point *pts = NULL;
            size_t n = 0;
            ia_status st = ia__benchdb_points(db, &ctx->hw, model_path, prec, d->threads,
                                              arch->decoder ? "decode" : NULL, &pts, &n);
            if (st)
                return cli_fail(st, "reading %s", path);
            bool *use = n ? calloc(n, sizeof *use) : NULL;
            size_t n_prof = 0;
            for (size_t j = 0; use && j < n; j++)
                n_prof += use[j] = pts[j].op_s[0] >= 0;
            int rc = n && !use ? cli_fail(IA_ERR_NOMEM, "advise") : 0;
            if (!rc && n)
                rc = fit_points(arch, prec, d->peaks, pts, n, n_prof ? use : NULL, model_path,
                                arch->decoder ? "decode" : NULL, &t->calib[row][pi]);
            if (!rc && n)
                d->calib[pi] = &t->calib[row][pi];
            free(use);
            ia_free(pts);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static cJSON *option_json(const ia_adv_result *r, const ia_adv_option *o, const ia_adv_device *dev, bool decoder)
{
    const ia_adv_device *d = &dev[o->device];
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "device", d->id);
    cJSON_AddStringToObject(j, "device_name", d->name);
    cJSON_AddStringToObject(j, "platform", d->platform);
    if (!strcmp(d->platform, "cpu"))
        cJSON_AddNumberToObject(j, "threads", d->threads ? d->threads : d->cores);
    cJSON_AddStringToObject(j, "precision", o->precision);
    cJSON_AddBoolToObject(j, "usable", o->usable);
    cJSON_AddBoolToObject(j, "predicted", o->predicted);
    cJSON_AddBoolToObject(j, "calibrated", o->calibrated);
    cJSON_AddBoolToObject(j, "recommended", r->best >= 0 && &r->opt[r->best] == o);
    cJSON_AddNumberToObject(j, "batch_size", o->batch);
    if (o->predicted) {
        cJSON_AddNumberToObject(j, "latency_ms", o->latency_s * 1e3);
        cJSON_AddNumberToObject(j, decoder ? "tokens_per_s" : "texts_per_s", o->throughput);
        if (decoder)
            cJSON_AddNumberToObject(j, "prefill_ms", o->prefill_s * 1e3);
    }
    if (o->memory_bytes > 0)
        cJSON_AddNumberToObject(j, "memory_bytes", o->memory_bytes);
    cJSON_AddStringToObject(j, "why", o->why);
    return j;
}

/* The advice as a JSON document (*out, the caller's: cJSON_Delete): the
 * CLI prints it or a table from it, `serve` answers /v1/advise with it.
 * measure_peaks false (the server): the CPU is left unpredicted when no
 * peaks are stored, rather than timing GEMMs beside the requests. */
/* The architecture of the model at a->model (loaded on the CPU in fp32). */
static int advise_arch(const cli_advise_args *a, bool decoder, ia_adv_request *rq, char *model_path, size_t path_cap,
                       char *types, size_t types_cap)
{
    ia_status st;
    int rc = 0;
    if (decoder) {
        ia_lm *lm = NULL;
        ia_lm_options lo = IA_LM_OPTIONS_INIT;
        if ((st = ia_lm_load(a->model, &lo, &lm)))
            rc = cli_fail(st, "loading --model %s", a->model);
        else if (!(rc = decoder_arch(lm, a->model, &rq->arch, types, types_cap))) {
            ia_lm_info li;
            ia_lm_get_info(lm, &li);
            snprintf(model_path, path_cap, "%s", li.path);
            rq->fixed_precision = types;
        }
        ia_lm_free(lm);
        return rc;
    }
    ia_model *m = NULL;
    ia_model_options mo = IA_MODEL_OPTIONS_INIT;
    mo.device = "cpu";
    ia_model_info info;
    if ((st = ia_model_load(a->model, &mo, &m)))
        rc = cli_fail(st, "loading --model %s", a->model);
    else {
        ia_model_get_info(m, &info);
        snprintf(model_path, path_cap, "%s", info.path);
        if ((st = ia__pm_arch_from_model(&info, &rq->arch)))
            rc = cli_fail(st, "--model %s", a->model);
    }
    ia_model_free(m);
    return rc;
}

/* The advice as a JSON document (*out, the caller's: cJSON_Delete): the
 * CLI prints it or a table from it, `serve` answers /v1/advise with it.
 * measure_peaks false (the server): the CPU is left unpredicted when no
 * peaks are stored, rather than timing GEMMs beside the requests. */
int cli_advise_json(const cli_advise_args *a, cJSON **out)
{
    *out = NULL;
    size_t ml = strlen(a->model);
    bool decoder = ml > 5 && !strcmp(a->model + ml - 5, ".gguf");
    bench_ctx ctx;
    char path[4096], types[128] = "", model_path[4096];
    snprintf(model_path, sizeof model_path, "%s", a->model);
    ia_benchdb *db = NULL;
    ia_adv_request rq = {.throughput = a->throughput, .latency_budget_s = a->latency_ms / 1e3,
                         .auto_choice = a->auto_choice, .precision = a->precision};
    advise_table *t = calloc(1, sizeof *t);
    ia_adv_result *r = calloc(1, sizeof *r);
    ia_status st;
    int rc = t && r ? ctx_init_from(&ctx, a->detect_json) : cli_fail(IA_ERR_NOMEM, "advise");
    bool ctx_ok = !rc;
    if (!rc && a->auto_choice) { /* read what is stored; make no database */
        struct stat sb;
        if (a->db)
            snprintf(path, sizeof path, "%s", a->db);
        else if ((st = ia__benchdb_default_path(path, sizeof path)))
            rc = cli_fail(st, "benchmark database");
        if (!rc && !stat(path, &sb))
            rc = open_db(a->db, path, sizeof path, &db);
    } else if (!rc) {
        rc = open_db(a->db, path, sizeof path, &db);
    }
    if (!rc)
        rc = advise_devices(&ctx, db, path, a->measure_peaks, a->auto_choice, t);
    if (!rc)
        rc = advise_arch(a, decoder, &rq, model_path, sizeof model_path, types, sizeof types);
    rq.context = a->context ? (int)a->context : decoder ? 2048 : 128;
    if (!rc && !a->context && rq.arch.max_position > 0 && rq.context > rq.arch.max_position)
        rq.context = rq.arch.max_position;
    if (!rc)
        rc = advise_calibrate(&ctx, db, path, &rq.arch, model_path, types, t);
    if (!rc && (st = ia__advise(t->dev, t->n, &rq, r)))
        rc = cli_fail(st, "--model %s --context %d", a->model, rq.context);
    cJSON *doc = rc ? NULL : cJSON_CreateObject();
    if (doc) {
        cJSON_AddStringToObject(doc, "model", model_path);
        cJSON_AddStringToObject(doc, "kind", decoder ? "decoder" : "encoder");
        cJSON_AddStringToObject(doc, "goal", rq.throughput ? "throughput" : rq.latency_budget_s > 0 ? "latency_budget"
                                                                                                     : "latency");
        if (rq.latency_budget_s > 0)
            cJSON_AddNumberToObject(doc, "latency_budget_ms", rq.latency_budget_s * 1e3);
        cJSON_AddNumberToObject(doc, "context", rq.context);
        cJSON_AddStringToObject(doc, "db", path);
        cJSON *opts_j = cJSON_AddArrayToObject(doc, "options");
        for (int i = 0; i < r->n_opts; i++)
            cJSON_AddItemToArray(opts_j, option_json(r, &r->opt[i], t->dev, decoder));
        if (r->best >= 0) {
            cJSON *rec = option_json(r, &r->opt[r->best], t->dev, decoder);
            cJSON_ReplaceItemInObjectCaseSensitive(rec, "threads", cJSON_CreateNumber(r->threads));
            if (!cJSON_GetObjectItemCaseSensitive(rec, "threads"))
                cJSON_AddNumberToObject(rec, "threads", r->threads);
            cJSON_AddItemToObject(doc, "recommendation", rec);
        } else {
            cJSON_AddNullToObject(doc, "recommendation");
        }
        cJSON *rs = cJSON_AddArrayToObject(doc, "reasons");
        for (int i = 0; i < r->n_reasons; i++)
            cJSON_AddItemToArray(rs, cJSON_CreateString(r->reasons[i]));
    }
    *out = doc;
    free(t);
    free(r);
    ia__benchdb_close(db);
    if (ctx_ok)
        ctx_close(&ctx);
    return rc;
}

void cli_device_choose(const char *model, const char *device, const char *precision, const char *detect_json,
                       bool verbose, char *out, size_t cap)
{
    out[0] = '\0';
    ia_hw_settings hw;
    if (!model || ia__config_hw_settings(&hw) || strcmp(device ? device : hw.device, "auto"))
        return;
    char named[128];
    if (ia__backend_auto_devices(named, sizeof named) <= 1) { /* nothing to compare: no detection, no model */
        if (verbose)
            fprintf(stderr, "ipfs-accelerate: --device auto: one device to choose from, nothing for the performance "
                            "model to compare%s%s%s\n", named[0] ? " (used only when named: " : "", named,
                    named[0] ? ")" : "");
        return;
    }
    if (!precision)
        precision = hw.precision;
    cli_advise_args a = {.model = model, .detect_json = detect_json, .auto_choice = true, .precision = precision};
    cJSON *doc = NULL;
    /* The advisor's own failures (a model it cannot count, an unreadable
     * database) leave the choice to the registry, said with --verbose;
     * loading reports the rest. */
    cli_fail_mute(!verbose);
    int rc = cli_advise_json(&a, &doc);
    cli_fail_mute(false);
    const cJSON *rec = doc ? cJSON_GetObjectItemCaseSensitive(doc, "recommendation") : NULL;
    const char *dev = cJSON_IsObject(rec) ? jstr(rec, "device") : NULL;
    if (dev)
        snprintf(out, cap, "%s", dev);
    if (verbose) {
        if (!dev)
            fprintf(stderr, "ipfs-accelerate: --device auto: %s; the backends' priority order decides\n",
                    rc ? "the performance model could not advise (above)" : "no device can run the model");
        else
            fprintf(stderr, "ipfs-accelerate: --device auto: %s chosen by the performance model%s\n", dev,
                    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "predicted")) ? "" : " (nothing predicted)");
        const cJSON *why, *reasons = doc ? cJSON_GetObjectItemCaseSensitive(doc, "reasons") : NULL;
        cJSON_ArrayForEach(why, reasons)
        fprintf(stderr, "  - %s\n", why->valuestring);
    }
    cJSON_Delete(doc);
}

static const char *jstr_or(const cJSON *o, const char *k) { return jstr(o, k) ? jstr(o, k) : ""; }

static double jnum_or(const cJSON *o, const char *k, double dflt)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(j) ? j->valuedouble : dflt;
}

int cmd_advise(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},         {"latency-ms", required_argument, 0, OPT_LATENCY_MS},
        {"throughput", no_argument, 0, OPT_THROUGHPUT}, {"context", required_argument, 0, OPT_CONTEXT},
        {"db", required_argument, 0, OPT_DB},          {"json", no_argument, 0, OPT_JSON},
        {"help", no_argument, 0, 'h'},                 {0, 0, 0, 0},
    };
    cli_advise_args a = {.measure_peaks = true};
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a.model = optarg; break;
        case OPT_LATENCY_MS:
            if (!parse_double(optarg, 1e-6, 1e9, &a.latency_ms))
                return cli_usage("advise", "--latency-ms: a positive number of milliseconds, not '%s'", optarg);
            break;
        case OPT_THROUGHPUT: a.throughput = true; break;
        case OPT_CONTEXT:
            if (!cli_parse_long(optarg, 1, 1 << 20, &a.context))
                return cli_usage("advise", "--context: a token count from 1 to 1048576, not '%s'", optarg);
            break;
        case OPT_DB: a.db = optarg; break;
        case OPT_JSON: json = true; break;
        case 'h': fputs(advise_help, stdout); return 0;
        default: return cli_usage("advise", "bad option");
        }
    }
    if (optind < argc)
        return cli_usage("advise", "unexpected operand '%s'", argv[optind]);
    if (!a.model)
        return cli_usage("advise", "--model is required");
    if (a.throughput && a.latency_ms > 0)
        return cli_usage("advise", "--latency-ms and --throughput: one goal, not both");
    cli_log_init(IA_LOG_WARN);
    cJSON *doc;
    int rc = cli_advise_json(&a, &doc);
    if (rc)
        return rc;
    if (json) {
        char *txt = cJSON_PrintUnformatted(doc);
        if (txt)
            printf("%s\n", txt);
        cJSON_free(txt);
        cJSON_Delete(doc);
        return 0;
    }
    bool decoder = !strcmp(jstr_or(doc, "kind"), "decoder");
    printf("%-10s %-4s %-10s %5s %6s %12s %14s %10s  %s\n", "device", "thr", "precision", "fits", "batch",
           "latency_ms", decoder ? "tokens/s" : "texts/s", "mem_MiB", "");
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(doc, "options"))
    {
        char lat[32] = "-", thr[32] = "-", th[16] = "-";
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "predicted"))) {
            snprintf(lat, sizeof lat, "%.3f", jnum(o, "latency_ms"));
            snprintf(thr, sizeof thr, "%.1f", jnum(o, decoder ? "tokens_per_s" : "texts_per_s"));
        }
        if (jnum_or(o, "threads", -1) >= 0)
            snprintf(th, sizeof th, "%.0f", jnum(o, "threads"));
        bool rec = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "recommended"));
        printf("%-10s %-4s %-10s %5s %6.0f %12s %14s %10.1f  %s%s\n", jstr_or(o, "device"), th, jstr_or(o, "precision"),
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "usable")) ? "yes" : "no", jnum(o, "batch_size"), lat,
               thr, jnum(o, "memory_bytes") / (1024.0 * 1024.0), rec ? "<- recommended; " : "", jstr_or(o, "why"));
    }
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(doc, "recommendation");
    if (cJSON_IsObject(b)) {
        printf("\nrecommended: %s, %s, batch %.0f", jstr_or(b, "device"), jstr_or(b, "precision"), jnum(b, "batch_size"));
        if (jnum(b, "threads") > 0)
            printf(", %.0f thread%s", jnum(b, "threads"), jnum(b, "threads") == 1 ? "" : "s");
        putchar('\n');
    }
    const cJSON *why;
    cJSON_ArrayForEach(why, cJSON_GetObjectItemCaseSensitive(doc, "reasons"))
    printf("  - %s\n", why->valuestring);
    cJSON_Delete(doc);
    return 0;
}
