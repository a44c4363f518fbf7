/*
 * The benchmark database (src/benchdb/db.c):
 *   migrate     a file at schema version 1 (the seed's table alone, with a
 *               row in it), and one from before versioning, are migrated to
 *               the newest version with their rows kept; a newer file and a
 *               file that is not a database are refused with a reason.
 *   concurrent  two writer processes open the same new file at once (both
 *               try to migrate it) and each inserts N runs in its own
 *               transactions: all 2N are there, migrations applied once.
 * Usage: test_benchdb_db migrate|concurrent WORKDIR
 */
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchdb/benchdb.h"
#include "core/core-impl.h"

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

static long long scalar(ia_benchdb *db, const char *sql)
{
    sqlite3_stmt *q;
    long long v = -1;
    if (sqlite3_prepare_v2(ia__benchdb_handle(db), sql, -1, &q, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(ia__benchdb_handle(db)));
        return -1;
    }
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

/* A plausible run; figures are the caller's, not measured here. */
static ia_status insert_run(ia_benchdb *db, int batch, int seq, const char *precision, double mean_s, int64_t *id)
{
    ia_bench_hardware hw = {.type = "cpu", .device = "cpu:0", .device_name = "Test CPU", .cpu_model = "Test CPU",
                            .cpu_vendor = "Test", .arch = "x86_64", .cpu_flags = "avx2 fma", .cores = 4,
                            .logical_cpus = 8, .memory_bytes = 1 << 30, .gpus = "[]", .detect_json = "{}"};
    ia_bench_software sw = {.engine_version = "0.0.0-test", .compiler = "cc", .os = "TestOS"};
    ia_bench_model m = {.name = "tiny", .path = "/models/tiny", .architecture = "bert", .n_params = 1000,
                        .dim = 32, .n_layers = 2, .hidden_size = 32, .weights_dtype = "F32"};
    ia_bench_shape s = {.batch_size = batch, .seq_len = seq, .precision = precision, .threads = 0};
    double x[5] = {mean_s * 0.98, mean_s * 0.99, mean_s, mean_s * 1.01, mean_s * 1.02};
    ia_bench_run r = {.precision_used = precision, .n_warmup = 1, .converged = true, .target_ci = 0.05,
                      .duration_s = 5 * mean_s, .peak_rss = 100 << 20, .rss_scope = "run", .energy_j = -1};
    ia__bench_summarize(x, 5, &r.lat, NULL);
    r.texts_per_s = batch / mean_s;
    r.tokens_per_s = r.texts_per_s * seq;
    return ia__benchdb_insert(db, &hw, &sw, &m, &s, &r, id);
}

static void test_migrate(const char *dir)
{
    char path[1024];

    /* Version 1 with a row of the seed's table. */
    snprintf(path, sizeof path, "%s/v1.db", dir);
    ia_benchdb *db;
    CHECK(ia__benchdb_open_version(path, 1, &db) == IA_OK, "open at v1: %s", ia_errmsg());
    CHECK(ia__benchdb_version(db) == 1, "version %d", ia__benchdb_version(db));
    CHECK(sqlite3_exec(ia__benchdb_handle(db),
                       "INSERT INTO benchmark_results (timestamp, model_name, hardware_type, inference_time,"
                       " throughput, memory_usage, accuracy_score, metadata)"
                       " VALUES ('2025-01-01T00:00:00Z', 'bert-base-uncased', 'cuda', 12.5, 80, 512, 0.9, '{}')",
                       NULL, NULL, NULL) == SQLITE_OK,
          "seed row");
    CHECK(scalar(db, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'runs'") == 0, "no runs table at v1");
    ia__benchdb_close(db);

    CHECK(ia__benchdb_open(path, &db) == IA_OK, "migrate v1: %s", ia_errmsg());
    CHECK(ia__benchdb_version(db) == IA_BENCHDB_SCHEMA_VERSION, "version %d", ia__benchdb_version(db));
    CHECK(scalar(db, "SELECT COUNT(*) FROM schema_version") == IA_BENCHDB_SCHEMA_VERSION, "one row per version");
    CHECK(scalar(db, "SELECT COUNT(*) FROM benchmark_results WHERE model_name = 'bert-base-uncased'"
                     " AND accuracy_score = 0.9") == 1,
          "the seed row survives");
    int64_t id = 0;
    CHECK(insert_run(db, 8, 128, "fp32", 0.010, &id) == IA_OK, "insert after migration: %s", ia_errmsg());
    CHECK(id == 2, "id %lld", (long long)id);
    CHECK(scalar(db, "SELECT COUNT(*) FROM bench_runs") == 1, "the view joins the new run only");
    CHECK(scalar(db, "SELECT COUNT(*) FROM benchmark_results") == 2, "two results");
    CHECK(scalar(db, "SELECT CAST(inference_time * 1000 AS INTEGER) FROM benchmark_results WHERE id = 2") == 10000,
          "inference_time in ms");
    CHECK(scalar(db, "SELECT json_extract(metadata, '$.seq_len') FROM benchmark_results WHERE id = 2") == 128,
          "metadata JSON");
    /* The same context again reuses its dimension rows. */
    CHECK(insert_run(db, 8, 128, "fp32", 0.011, NULL) == IA_OK, "second insert");
    CHECK(insert_run(db, 1, 16, "int8", 0.002, NULL) == IA_OK, "third insert");
    CHECK(scalar(db, "SELECT COUNT(*) FROM hardware") == 1 && scalar(db, "SELECT COUNT(*) FROM software") == 1 &&
              scalar(db, "SELECT COUNT(*) FROM models") == 1 && scalar(db, "SELECT COUNT(*) FROM shapes") == 2,
          "dimension rows shared");
    CHECK(scalar(db, "PRAGMA foreign_key_check") == -1, "foreign keys hold");
    char *json = NULL;
    CHECK(ia__benchdb_list_json(db, &json) == IA_OK, "list");
    cJSON *arr = cJSON_Parse(json);
    CHECK(cJSON_GetArraySize(arr) == 3, "3 listed runs");
    cJSON *first = cJSON_GetArrayItem(arr, 0);
    CHECK(cJSON_GetObjectItem(first, "energy_j") && cJSON_IsNull(cJSON_GetObjectItem(first, "energy_j")),
          "energy null when not measured");
    cJSON_Delete(arr);
    ia_free(json);
    ia__benchdb_close(db);

    /* Version 4's peaks (no device column) become the CPU's. */
    snprintf(path, sizeof path, "%s/v4.db", dir);
    CHECK(ia__benchdb_open_version(path, 4, &db) == IA_OK, "open at v4: %s", ia_errmsg());
    CHECK(sqlite3_exec(ia__benchdb_handle(db),
                       "INSERT INTO hardware (fingerprint, cpu_model) VALUES ('f', 'Old CPU');"
                       "INSERT INTO machine_peaks VALUES (1, 'gemm', 'fp32', 0, 1e11, '{}', 'v', 'x');"
                       "INSERT INTO machine_peaks VALUES (1, 'memory', '', 0, 2e10, '{}', 'v', 'x');",
                       NULL, NULL, NULL) == SQLITE_OK,
          "v4 peaks: %s", sqlite3_errmsg(ia__benchdb_handle(db)));
    ia__benchdb_close(db);
    CHECK(ia__benchdb_open(path, &db) == IA_OK, "migrate v4: %s", ia_errmsg());
    CHECK(scalar(db, "SELECT COUNT(*) FROM machine_peaks WHERE device = 'cpu:0'") == 2, "peaks kept as cpu:0");
    CHECK(sqlite3_exec(ia__benchdb_handle(db),
                       "INSERT INTO machine_peaks VALUES (1, 'vulkan:0', 'gemm', 'fp32', 0, 1e9, '{}', 'v', 'x')", NULL,
                       NULL, NULL) == SQLITE_OK,
          "a device's peaks beside the CPU's: %s", sqlite3_errmsg(ia__benchdb_handle(db)));
    ia__benchdb_close(db);

    /* Reopening a current file changes nothing. */
    CHECK(ia__benchdb_open(path, &db) == IA_OK, "reopen");
    CHECK(scalar(db, "SELECT COUNT(*) FROM schema_version") == IA_BENCHDB_SCHEMA_VERSION, "no new versions");
    ia__benchdb_close(db);

    /* A file from before versioning: the seed's table, nothing else. */
    snprintf(path, sizeof path, "%s/unversioned.db", dir);
    sqlite3 *raw;
    CHECK(sqlite3_open(path, &raw) == SQLITE_OK, "raw open");
    CHECK(sqlite3_exec(raw,
                       "CREATE TABLE benchmark_results (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL,"
                       " model_name TEXT NOT NULL, hardware_type TEXT NOT NULL, inference_time REAL, throughput REAL,"
                       " memory_usage REAL, accuracy_score REAL, metadata TEXT);"
                       "INSERT INTO benchmark_results (timestamp, model_name, hardware_type)"
                       " VALUES ('2024-06-01T00:00:00Z', 'old', 'cpu');",
                       NULL, NULL, NULL) == SQLITE_OK,
          "unversioned file");
    sqlite3_close(raw);
    CHECK(ia__benchdb_open(path, &db) == IA_OK, "adopt an unversioned file: %s", ia_errmsg());
    CHECK(ia__benchdb_version(db) == IA_BENCHDB_SCHEMA_VERSION, "migrated");
    CHECK(scalar(db, "SELECT COUNT(*) FROM benchmark_results WHERE model_name = 'old'") == 1, "old row kept");
    ia__benchdb_close(db);

    /* A file from a newer build: refused, untouched. */
    snprintf(path, sizeof path, "%s/newer.db", dir);
    CHECK(ia__benchdb_open(path, &db) == IA_OK, "create");
    CHECK(sqlite3_exec(ia__benchdb_handle(db),
                       "INSERT INTO schema_version VALUES (99, '2030-01-01T00:00:00Z', 'from the future')", NULL,
                       NULL, NULL) == SQLITE_OK,
          "version 99");
    ia__benchdb_close(db);
    ia_benchdb *db2 = NULL;
    CHECK(ia__benchdb_open(path, &db2) == IA_ERR_FORMAT && !db2, "newer file refused");
    CHECK(strstr(ia_errmsg(), "99") != NULL, "the message names the version: %s", ia_errmsg());

    /* Not a database. */
    snprintf(path, sizeof path, "%s/text.db", dir);
    FILE *f = fopen(path, "w");
    fputs("this is not an SQLite file, just some text long enough to have a header..........\n", f);
    fclose(f);
    CHECK(ia__benchdb_open(path, &db2) == IA_ERR_FORMAT && !db2, "not a database: %s", ia_errmsg());

    /* Every allocation of open, insert and list failing in turn: each
     * step fails cleanly (IA_ERR_NOMEM, nothing leaked: ASan) or succeeds. */
    snprintf(path, sizeof path, "%s/oom.db", dir);
    for (long n = 1; n < 1000; n++) {
        ia__alloc_fail_after(n);
        ia_benchdb *d = NULL;
        char *js = NULL;
        ia_status st = ia__benchdb_open(path, &d);
        if (!st)
            st = insert_run(d, 4, 32, "fp32", 0.003, NULL);
        if (!st)
            st = ia__benchdb_list_json(d, &js);
        bool hit = ia__alloc_fail_pending() == 0;
        ia__alloc_fail_after(0);
        ia_free(js);
        ia__benchdb_close(d);
        CHECK(st == IA_OK || st == IA_ERR_NOMEM, "allocation %ld failing: %d %s", n, st, ia_errmsg());
        if (!hit) {
            CHECK(st == IA_OK, "no failure injected, yet %s", ia_errmsg());
            break;
        }
    }

    /* The default path sits under IPFS_ACCELERATE_HOME. */
    setenv("IPFS_ACCELERATE_HOME", "/some/home", 1);
    char def[256];
    CHECK(ia__benchdb_default_path(def, sizeof def) == IA_OK && !strcmp(def, "/some/home/bench.db"), "%s", def);
    unsetenv("IPFS_ACCELERATE_HOME");
    setenv("HOME", "/h", 1);
    CHECK(ia__benchdb_default_path(def, sizeof def) == IA_OK && !strcmp(def, "/h/.ipfs_accelerate/bench.db"), "%s",
          def);
}

enum { PER_WRITER = 200 };

static int writer(const char *path, int who, int go_fd)
{
    char c;
    if (read(go_fd, &c, 1) != 1) /* start together */
        return 3;
    ia_benchdb *db;
    if (ia__benchdb_open(path, &db) != IA_OK) {
        fprintf(stderr, "writer %d: open: %s\n", who, ia_errmsg());
        return 1;
    }
    for (int i = 0; i < PER_WRITER; i++) {
        if (insert_run(db, 1 + who, 16 + i % 4, "fp32", 0.001 * (1 + i), NULL) != IA_OK) {
            fprintf(stderr, "writer %d: insert %d: %s\n", who, i, ia_errmsg());
            ia__benchdb_close(db);
            return 1;
        }
    }
    ia__benchdb_close(db);
    return 0;
}

static void test_concurrent(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/concurrent.db", dir);
    unlink(path);
    int go[2];
    CHECK(pipe(go) == 0, "pipe");
    pid_t pids[2];
    for (int w = 0; w < 2; w++) {
        pids[w] = fork();
        if (pids[w] == 0) {
            close(go[1]);
            _exit(writer(path, w, go[0]));
        }
    }
    close(go[0]);
    if (write(go[1], "gg", 2) != 2)
        perror("write");
    close(go[1]);
    for (int w = 0; w < 2; w++) {
        int status = 0;
        waitpid(pids[w], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d exited with %d", w, status);
    }
    ia_benchdb *db;
    CHECK(ia__benchdb_open(path, &db) == IA_OK, "open after: %s", ia_errmsg());
    if (!db)
        return;
    CHECK(scalar(db, "SELECT COUNT(*) FROM benchmark_results") == 2 * PER_WRITER, "%lld results",
          scalar(db, "SELECT COUNT(*) FROM benchmark_results"));
    CHECK(scalar(db, "SELECT COUNT(*) FROM runs") == 2 * PER_WRITER, "runs");
    CHECK(scalar(db, "SELECT COUNT(*) FROM bench_runs WHERE batch_size = 1") == PER_WRITER, "writer 0's runs");
    CHECK(scalar(db, "SELECT COUNT(*) FROM bench_runs WHERE batch_size = 2") == PER_WRITER, "writer 1's runs");
    CHECK(scalar(db, "SELECT COUNT(*) FROM schema_version") == IA_BENCHDB_SCHEMA_VERSION, "migrated once");
    CHECK(scalar(db, "SELECT COUNT(*) FROM hardware") == 1, "one hardware row");
    /* Not a check (scheduling decides it), a sign the writers overlapped:
     * how often consecutive ids change writer. */
    printf("writer changes between consecutive runs: %lld\n",
           scalar(db, "SELECT COUNT(*) FROM bench_runs a JOIN bench_runs b ON b.id = a.id + 1"
                      " WHERE a.batch_size != b.batch_size"));
    ia__benchdb_close(db);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s migrate|concurrent WORKDIR\n", argv[0]);
        return 2;
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", argv[2], argv[2]);
    if (system(cmd) != 0)
        return 2;
    if (!strcmp(argv[1], "migrate"))
        test_migrate(argv[2]);
    else if (!strcmp(argv[1], "concurrent"))
        test_concurrent(argv[2]);
    else
        return 2;
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("benchdb %s: ok\n", argv[1]);
    return 0;
}
