/*
 * The benchmark database: an embedded SQLite file (default
 * $IPFS_ACCELERATE_HOME/bench.db) holding every `ipfs-accelerate bench`
 * run. The seed's benchmark_results table is kept as it was named (so its
 * queries still work), and each row is joined through `runs` to what made
 * the figure: the hardware fingerprint, the software versions, the model
 * and the shape. The schema is versioned: schema_version lists the
 * numbered migrations applied, and opening a file applies the missing ones
 * in order inside one IMMEDIATE transaction, so two processes opening a
 * new file at once cannot both migrate it. WAL mode and a busy timeout let
 * concurrent writers (several bench processes) wait for each other rather
 * than fail. The schema is documented in docs/benchmarks.md.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "benchdb/benchdb.h"
#include "core/core-impl.h"
#include "ipfs_accelerate/store.h"

struct ia_benchdb {
    sqlite3 *db;
    char *path;
};

/* Append-only: a released migration is never edited; changes come as a
 * new number. Version 1 is the seed's table alone (IF NOT EXISTS: a file
 * that already has it, from before versioning, is adopted as version 1). */
static const struct migration {
    int version;
    const char *description;
    const char *sql;
} migrations[] = {
    {1, "the seed's benchmark_results table",
     "CREATE TABLE IF NOT EXISTS benchmark_results (\n"
     "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
     "  timestamp TEXT NOT NULL,      -- ISO 8601, UTC\n"
     "  model_name TEXT NOT NULL,\n"
     "  hardware_type TEXT NOT NULL,  -- the backend that ran: cpu, cuda, ...\n"
     "  inference_time REAL,          -- mean latency of one call (one batch), ms\n"
     "  throughput REAL,              -- texts per second\n"
     "  memory_usage REAL,            -- peak resident set, MiB\n"
     "  accuracy_score REAL,          -- NULL: not measured by bench\n"
     "  metadata TEXT                 -- JSON object\n"
     ");\n"},
    {2, "hardware, software, models, shapes and runs",
     "CREATE TABLE hardware (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  fingerprint TEXT NOT NULL UNIQUE,\n"
     "  cpu_model TEXT, cpu_vendor TEXT, arch TEXT,\n"
     "  cpu_flags TEXT,               -- features the probe saw, space-separated\n"
     "  cores INTEGER, logical_cpus INTEGER,\n"
     "  memory_bytes INTEGER,\n"
     "  gpus TEXT,                    -- JSON array\n"
     "  detect_json TEXT              -- ia_hardware_detect_json at first sight\n"
     ");\n"
     "CREATE TABLE software (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  engine_version TEXT NOT NULL, compiler TEXT NOT NULL,\n"
     "  sqlite_version TEXT NOT NULL, os TEXT NOT NULL,\n"
     "  UNIQUE (engine_version, compiler, sqlite_version, os)\n"
     ");\n"
     "CREATE TABLE models (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  fingerprint TEXT NOT NULL UNIQUE,\n"
     "  name TEXT NOT NULL, path TEXT, architecture TEXT,\n"
     "  n_params INTEGER, dim INTEGER, n_layers INTEGER, hidden_size INTEGER,\n"
     "  weights_dtype TEXT,\n"
     "  cid TEXT                      -- IPFS CID when loaded by CID\n"
     ");\n"
     "CREATE TABLE shapes (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  batch_size INTEGER NOT NULL, seq_len INTEGER NOT NULL,\n"
     "  precision TEXT NOT NULL,      -- requested\n"
     "  threads INTEGER NOT NULL,      -- requested; 0: one per core\n"
     "  UNIQUE (batch_size, seq_len, precision, threads)\n"
     ");\n"
     "CREATE TABLE runs (\n"
     "  result_id INTEGER PRIMARY KEY REFERENCES benchmark_results(id) ON DELETE CASCADE,\n"
     "  hardware_id INTEGER NOT NULL REFERENCES hardware(id),\n"
     "  software_id INTEGER NOT NULL REFERENCES software(id),\n"
     "  model_id INTEGER NOT NULL REFERENCES models(id),\n"
     "  shape_id INTEGER NOT NULL REFERENCES shapes(id),\n"
     "  device TEXT, device_name TEXT,\n"
     "  precision_used TEXT,          -- what the engine computed in\n"
     "  n_warmup INTEGER, n_samples INTEGER, n_outliers INTEGER,\n"
     "  converged INTEGER NOT NULL,   -- 1: CI within target_ci before the limit\n"
     "  target_ci REAL,\n"
     "  latency_mean_s REAL, latency_stddev_s REAL, latency_ci95_s REAL,\n"
     "  latency_min_s REAL, latency_p50_s REAL, latency_p90_s REAL,\n"
     "  latency_p99_s REAL, latency_max_s REAL,\n"
     "  texts_per_s REAL, tokens_per_s REAL,\n"
     "  peak_rss_bytes INTEGER,\n"
     "  rss_scope TEXT,               -- run: peak reset before it; process: lifetime\n"
     "  energy_j REAL,                -- RAPL package energy; NULL: not readable\n"
     "  duration_s REAL\n"
     ");\n"
     "CREATE INDEX runs_model ON runs(model_id);\n"
     "CREATE INDEX runs_hardware ON runs(hardware_id);\n"
     "CREATE VIEW bench_runs AS\n"
     "SELECT r.id, r.timestamp, r.model_name, r.hardware_type,\n"
     "       s.batch_size, s.seq_len, s.precision, s.threads, x.precision_used,\n"
     "       x.device, x.device_name, x.n_samples, x.n_outliers, x.converged, x.target_ci,\n"
     "       x.latency_mean_s, x.latency_ci95_s, x.latency_p50_s, x.latency_p90_s,\n"
     "       x.latency_p99_s, x.texts_per_s, x.tokens_per_s, x.peak_rss_bytes,\n"
     "       x.energy_j, x.duration_s,\n"
     "       m.path AS model_path, m.architecture, m.n_params, m.cid AS model_cid,\n"
     "       h.cpu_model, h.cores, h.logical_cpus, h.memory_bytes, h.cpu_flags,\n"
     "       w.engine_version, w.compiler, w.os\n"
     "FROM benchmark_results r\n"
     "JOIN runs x ON x.result_id = r.id\n"
     "JOIN shapes s ON s.id = x.shape_id\n"
     "JOIN models m ON m.id = x.model_id\n"
     "JOIN hardware h ON h.id = x.hardware_id\n"
     "JOIN software w ON w.id = x.software_id;\n"},
    {3, "measured machine peaks",
     "CREATE TABLE machine_peaks (\n"
     "  hardware_id INTEGER NOT NULL REFERENCES hardware(id),\n"
     "  kind TEXT NOT NULL,            -- gemm: FLOP/s (a multiply-add is 2); memory: bytes/s\n"
     "  precision TEXT NOT NULL,       -- gemm: fp32, int8, bf16; memory: ''\n"
     "  threads INTEGER NOT NULL,      -- requested; 0: one per core\n"
     "  value REAL NOT NULL,\n"
     "  detail TEXT,                   -- JSON: the GEMM's shape and seconds, or the buffer read\n"
     "  engine_version TEXT,\n"
     "  measured_at TEXT NOT NULL,     -- ISO 8601, UTC\n"
     "  PRIMARY KEY (hardware_id, kind, precision, threads)\n"
     ");\n"},
    {4, "the phase of a decoder's run",
     "-- NULL: an embedding run; a decoder's prefill (seq_len tokens) or decode\n"
     "-- (one step at KV length seq_len)\n"
     "ALTER TABLE runs ADD COLUMN phase TEXT;\n"},
    {5, "peaks per device",
     "-- SQLite cannot change a primary key: the table is rebuilt with the\n"
     "-- device in it, the CPU's rows kept as cpu:0.\n"
     "CREATE TABLE machine_peaks_v5 (\n"
     "  hardware_id INTEGER NOT NULL REFERENCES hardware(id),\n"
     "  device TEXT NOT NULL,          -- cpu:0, vulkan:0, ...\n"
     "  kind TEXT NOT NULL,            -- gemm: FLOP/s (a multiply-add is 2); memory: bytes/s\n"
     "  precision TEXT NOT NULL,       -- gemm: fp32, int8, bf16, fp16; memory: ''\n"
     "  threads INTEGER NOT NULL,      -- requested; 0: one per core (other devices: 0)\n"
     "  value REAL NOT NULL,\n"
     "  detail TEXT,                   -- JSON: the GEMM's shape and seconds, or the buffer read\n"
     "  engine_version TEXT,\n"
     "  measured_at TEXT NOT NULL,     -- ISO 8601, UTC\n"
     "  PRIMARY KEY (hardware_id, device, kind, precision, threads)\n"
     ");\n"
     "INSERT INTO machine_peaks_v5 SELECT hardware_id, 'cpu:0', kind, precision, threads, value, detail,\n"
     "  engine_version, measured_at FROM machine_peaks;\n"
     "DROP TABLE machine_peaks;\n"
     "ALTER TABLE machine_peaks_v5 RENAME TO machine_peaks;\n"},
};
#define N_MIGRATIONS (sizeof migrations / sizeof migrations[0])

_Static_assert(IA_BENCHDB_SCHEMA_VERSION == 5, "add the migration to migrations[] too");

static ia_status db_error(ia_benchdb *db, int rc, const char *what)
{
    ia_status st = rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT ? IA_ERR_FORMAT
                   : rc == SQLITE_NOMEM                          ? IA_ERR_NOMEM
                                                                 : IA_ERR_IO;
    return ia__error(st, "%s: %s: %s", db->path, what, db->db ? sqlite3_errmsg(db->db) : sqlite3_errstr(rc));
}

static ia_status exec(ia_benchdb *db, const char *sql, const char *what)
{
    int rc = sqlite3_exec(db->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? IA_OK : db_error(db, rc, what);
}

static void rollback(ia_benchdb *db)
{
    sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
}

static void utc_now(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

ia_status ia__benchdb_default_path(char *buf, size_t cap)
{
    char home[4096];
    ia_status st = ia_store_home(home, sizeof home);
    if (st)
        return st;
    int n = snprintf(buf, cap, "%s/bench.db", home);
    if (n < 0 || (size_t)n >= cap)
        return ia__error(IA_ERR_INVALID, "benchmark database path is too long");
    return IA_OK;
}

static ia_status mkdir_parent(const char *path)
{
    char tmp[4096];
    size_t l = strlen(path);
    if (l >= sizeof tmp)
        return ia__error(IA_ERR_INVALID, "%s: path too long", path);
    memcpy(tmp, path, l + 1);
    char *slash = strrchr(tmp, '/');
    if (!slash || slash == tmp)
        return IA_OK;
    *slash = 0;
    for (char *p = tmp + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST)
                return ia__error(IA_ERR_IO, "%s: %s", tmp, strerror(errno));
            *p = c;
            if (!c)
                break;
        }
    }
    return IA_OK;
}

static int current_version(ia_benchdb *db, int *version)
{
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(db->db, "SELECT COALESCE(MAX(version), 0) FROM schema_version", -1, &q, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int(q, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(q);
    return rc;
}

/* Apply the migrations above the file's version up to target, in one
 * transaction. IMMEDIATE takes the write lock first, so a second process
 * waits (busy timeout) and then finds the work done. */
static ia_status migrate(ia_benchdb *db, int target)
{
    ia_status st = exec(db, "BEGIN IMMEDIATE", "starting the migration");
    if (st)
        return st;
    st = exec(db,
              "CREATE TABLE IF NOT EXISTS schema_version (\n"
              "  version INTEGER PRIMARY KEY,\n"
              "  applied_at TEXT NOT NULL,\n"
              "  description TEXT NOT NULL\n"
              ")",
              "creating schema_version");
    int have = 0;
    if (!st) {
        int rc = current_version(db, &have);
        if (rc != SQLITE_OK)
            st = db_error(db, rc, "reading schema_version");
    }
    if (!st && have > IA_BENCHDB_SCHEMA_VERSION)
        st = ia__error(IA_ERR_FORMAT,
                       "%s: schema version %d is newer than this build's %d (upgrade ipfs-accelerate)", db->path,
                       have, IA_BENCHDB_SCHEMA_VERSION);
    char now[32];
    utc_now(now, sizeof now);
    for (size_t i = 0; !st && i < N_MIGRATIONS; i++) {
        const struct migration *m = &migrations[i];
        if (m->version <= have || m->version > target)
            continue;
        char what[96];
        snprintf(what, sizeof what, "migration %d (%s)", m->version, m->description);
        st = exec(db, m->sql, what);
        if (st)
            break;
        sqlite3_stmt *q;
        int rc = sqlite3_prepare_v2(db->db, "INSERT INTO schema_version VALUES (?, ?, ?)", -1, &q, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int(q, 1, m->version);
            sqlite3_bind_text(q, 2, now, -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 3, m->description, -1, SQLITE_STATIC);
            rc = sqlite3_step(q);
            sqlite3_finalize(q);
            rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
        if (rc != SQLITE_OK)
            st = db_error(db, rc, "recording the schema version");
    }
    if (st) {
        rollback(db);
        return st;
    }
    return exec(db, "COMMIT", "committing the migration");
}

ia_status ia__benchdb_open_version(const char *path, int version, ia_benchdb **out)
{
    ia__error_clear();
    IA_NEED(path);
    IA_NEED(out);
    *out = NULL;
    if (version < 1 || version > IA_BENCHDB_SCHEMA_VERSION)
        return ia__error(IA_ERR_INVALID, "benchmark database: no schema version %d", version);
    ia_status st = mkdir_parent(path);
    if (st)
        return st;
    ia_benchdb *db = ia__calloc(1, sizeof *db);
    if (!db || !(db->path = ia__strdup(path))) {
        ia__free(db);
        return ia__error(IA_ERR_NOMEM, "opening %s", path);
    }
    int rc = sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        st = db_error(db, rc, "opening");
        ia__benchdb_close(db);
        return st;
    }
    sqlite3_busy_timeout(db->db, 30000);
    /* Switching to WAL needs a moment of exclusive access. When another
     * process is opening the same new file, SQLite can answer BUSY at once
     * without calling the busy handler (waiting could deadlock on the
     * shared lock this connection holds), so retry here, for as long as
     * the busy timeout. journal_mode answers with the mode in force. */
    sqlite3_stmt *q = NULL;
    for (int attempt = 0; attempt < 3000; attempt++) {
        rc = sqlite3_prepare_v2(db->db, "PRAGMA journal_mode=WAL", -1, &q, NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(q);
            if (rc == SQLITE_ROW) {
                const char *mode = (const char *)sqlite3_column_text(q, 0);
                rc = mode && !strcmp(mode, "wal") ? SQLITE_OK : SQLITE_ERROR;
                if (rc)
                    st = ia__error(IA_ERR_IO, "%s: cannot use WAL journal mode (got %s)", path,
                                   mode ? mode : "none");
            }
        }
        sqlite3_finalize(q);
        q = NULL;
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
            break;
        sqlite3_sleep(10);
    }
    if (!st && rc != SQLITE_OK)
        st = db_error(db, rc, "setting WAL mode");
    if (!st)
        st = exec(db, "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL", "setting pragmas");
    if (!st)
        st = migrate(db, version);
    if (st) {
        ia__benchdb_close(db);
        return st;
    }
    *out = db;
    return IA_OK;
}

ia_status ia__benchdb_open(const char *path, ia_benchdb **out)
{
    return ia__benchdb_open_version(path, IA_BENCHDB_SCHEMA_VERSION, out);
}

void ia__benchdb_close(ia_benchdb *db)
{
    if (!db)
        return;
    sqlite3_close(db->db);
    ia__free(db->path);
    ia__free(db);
}

int ia__benchdb_version(ia_benchdb *db)
{
    int v = 0;
    if (db && current_version(db, &v) != SQLITE_OK)
        v = 0;
    return v;
}

struct sqlite3 *ia__benchdb_handle(ia_benchdb *db) { return db ? db->db : NULL; }

/* ---- inserting a run ---------------------------------------------------- */

static void bind_text(sqlite3_stmt *q, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(q, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(q, i);
}

static void bind_real(sqlite3_stmt *q, int i, double v, bool present)
{
    if (present)
        sqlite3_bind_double(q, i, v);
    else
        sqlite3_bind_null(q, i);
}

/* A prepared statement run once; binds through the callback. */
typedef void (*binder)(sqlite3_stmt *q, const void *ud);

static ia_status run_stmt(ia_benchdb *db, const char *sql, binder bind, const void *ud, int64_t *rowid,
                          const char *what)
{
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(db->db, sql, -1, &q, NULL);
    if (rc != SQLITE_OK)
        return db_error(db, rc, what);
    if (bind)
        bind(q, ud);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW && rowid)
        *rowid = sqlite3_column_int64(q, 0);
    else if (rc == SQLITE_DONE && rowid)
        *rowid = sqlite3_last_insert_rowid(db->db);
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? IA_OK : db_error(db, rc, what);
}

static void key_append(char *buf, size_t cap, const char *s)
{
    size_t l = strlen(buf);
    snprintf(buf + l, cap - l, "%s\x1f", s ? s : "");
}

static void hw_key(const ia_bench_hardware *hw, char *key, size_t cap)
{
    char num[64];
    key[0] = 0;
    key_append(key, cap, hw->cpu_model);
    key_append(key, cap, hw->cpu_vendor);
    key_append(key, cap, hw->arch);
    key_append(key, cap, hw->cpu_flags);
    snprintf(num, sizeof num, "%d/%d/%lld", hw->cores, hw->logical_cpus, (long long)hw->memory_bytes);
    key_append(key, cap, num);
    key_append(key, cap, hw->gpus);
}

/* A dimension row and its fingerprint (the UNIQUE key it is found by). */
struct keyed {
    const void *row;
    const char *key;
};

static void bind_key(sqlite3_stmt *q, const void *ud)
{
    bind_text(q, 1, ((const struct keyed *)ud)->key);
}

static void bind_hw(sqlite3_stmt *q, const void *ud)
{
    const struct keyed *k = ud;
    const ia_bench_hardware *hw = k->row;
    bind_text(q, 1, k->key);
    bind_text(q, 2, hw->cpu_model);
    bind_text(q, 3, hw->cpu_vendor);
    bind_text(q, 4, hw->arch);
    bind_text(q, 5, hw->cpu_flags);
    sqlite3_bind_int(q, 6, hw->cores);
    sqlite3_bind_int(q, 7, hw->logical_cpus);
    sqlite3_bind_int64(q, 8, hw->memory_bytes);
    bind_text(q, 9, hw->gpus ? hw->gpus : "[]");
    bind_text(q, 10, hw->detect_json);
}

/* The hardware row of hw's fingerprint: added when `add`, else
 * IA_ERR_NOT_FOUND when absent. */
static ia_status hardware_id(ia_benchdb *db, const ia_bench_hardware *hw, bool add, int64_t *id)
{
    char hkey[2048];
    hw_key(hw, hkey, sizeof hkey);
    struct keyed hwk = {hw, hkey};
    *id = 0;
    ia_status st = IA_OK;
    if (add)
        st = run_stmt(db,
                      "INSERT INTO hardware (fingerprint, cpu_model, cpu_vendor, arch, cpu_flags, cores,"
                      " logical_cpus, memory_bytes, gpus, detect_json) VALUES (?,?,?,?,?,?,?,?,?,?)"
                      " ON CONFLICT (fingerprint) DO NOTHING",
                      bind_hw, &hwk, NULL, "storing the hardware");
    if (st)
        return st;
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(db->db, "SELECT id FROM hardware WHERE fingerprint = ?", -1, &q, NULL);
    if (rc != SQLITE_OK)
        return db_error(db, rc, "finding the hardware");
    bind_key(q, &hwk);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    if (rc == SQLITE_DONE)
        return ia__error(IA_ERR_NOT_FOUND, "%s: this machine (%s) has no row in hardware", db->path,
                         hw->cpu_model ? hw->cpu_model : "unknown CPU");
    return rc == SQLITE_ROW ? IA_OK : db_error(db, rc, "finding the hardware");
}

static void bind_sw(sqlite3_stmt *q, const void *ud)
{
    const ia_bench_software *sw = ud;
    bind_text(q, 1, sw->engine_version ? sw->engine_version : "");
    bind_text(q, 2, sw->compiler ? sw->compiler : "");
    bind_text(q, 3, sqlite3_libversion());
    bind_text(q, 4, sw->os ? sw->os : "");
}

static void model_key(const ia_bench_model *m, char *key, size_t cap)
{
    char num[96];
    key[0] = 0;
    key_append(key, cap, m->name);
    key_append(key, cap, m->path);
    key_append(key, cap, m->architecture);
    snprintf(num, sizeof num, "%lld/%d/%d/%d", (long long)m->n_params, m->dim, m->n_layers, m->hidden_size);
    key_append(key, cap, num);
    key_append(key, cap, m->weights_dtype);
    key_append(key, cap, m->cid);
}

static void bind_model(sqlite3_stmt *q, const void *ud)
{
    const struct keyed *k = ud;
    const ia_bench_model *m = k->row;
    bind_text(q, 1, k->key);
    bind_text(q, 2, m->name ? m->name : "");
    bind_text(q, 3, m->path);
    bind_text(q, 4, m->architecture);
    sqlite3_bind_int64(q, 5, m->n_params);
    sqlite3_bind_int(q, 6, m->dim);
    sqlite3_bind_int(q, 7, m->n_layers);
    sqlite3_bind_int(q, 8, m->hidden_size);
    bind_text(q, 9, m->weights_dtype);
    bind_text(q, 10, m->cid);
}

static void bind_shape(sqlite3_stmt *q, const void *ud)
{
    const ia_bench_shape *s = ud;
    sqlite3_bind_int(q, 1, s->batch_size);
    sqlite3_bind_int(q, 2, s->seq_len);
    bind_text(q, 3, s->precision ? s->precision : "fp32");
    sqlite3_bind_int(q, 4, s->threads);
}

struct result_row {
    const char *timestamp, *model_name, *hardware_type, *metadata;
    const ia_bench_run *run;
};

static void bind_result(sqlite3_stmt *q, const void *ud)
{
    const struct result_row *r = ud;
    bind_text(q, 1, r->timestamp);
    bind_text(q, 2, r->model_name);
    bind_text(q, 3, r->hardware_type);
    bind_real(q, 4, r->run->lat.mean * 1e3, r->run->lat.n > 0);
    bind_real(q, 5, r->run->texts_per_s, r->run->lat.n > 0);
    bind_real(q, 6, (double)r->run->peak_rss / (1024.0 * 1024.0), r->run->peak_rss > 0);
    bind_text(q, 7, r->metadata);
}

struct run_row {
    int64_t result_id, hw_id, sw_id, model_id, shape_id;
    const ia_bench_hardware *hw;
    const ia_bench_run *run;
};

static void bind_run(sqlite3_stmt *q, const void *ud)
{
    const struct run_row *r = ud;
    const ia_bench_run *x = r->run;
    const ia_bench_summary *l = &x->lat;
    int i = 1;
    sqlite3_bind_int64(q, i++, r->result_id);
    sqlite3_bind_int64(q, i++, r->hw_id);
    sqlite3_bind_int64(q, i++, r->sw_id);
    sqlite3_bind_int64(q, i++, r->model_id);
    sqlite3_bind_int64(q, i++, r->shape_id);
    bind_text(q, i++, r->hw->device);
    bind_text(q, i++, r->hw->device_name);
    bind_text(q, i++, x->precision_used);
    sqlite3_bind_int64(q, i++, (int64_t)x->n_warmup);
    sqlite3_bind_int64(q, i++, (int64_t)l->n);
    sqlite3_bind_int64(q, i++, (int64_t)l->n_outliers);
    sqlite3_bind_int(q, i++, x->converged);
    sqlite3_bind_double(q, i++, x->target_ci);
    bool has = l->n > 0;
    bind_real(q, i++, l->mean, has);
    bind_real(q, i++, l->stddev, l->n > 1);
    bind_real(q, i++, l->ci95, l->n > 1);
    bind_real(q, i++, l->min, has);
    bind_real(q, i++, l->p50, has);
    bind_real(q, i++, l->p90, has);
    bind_real(q, i++, l->p99, has);
    bind_real(q, i++, l->max, has);
    bind_real(q, i++, x->texts_per_s, has);
    bind_real(q, i++, x->tokens_per_s, has);
    if (x->peak_rss)
        sqlite3_bind_int64(q, i++, (int64_t)x->peak_rss);
    else
        sqlite3_bind_null(q, i++);
    bind_text(q, i++, x->rss_scope);
    bind_real(q, i++, x->energy_j, x->energy_j >= 0);
    sqlite3_bind_double(q, i++, x->duration_s);
    bind_text(q, i++, x->phase);
}

/* The seed-compatible metadata: everything a reader of benchmark_results
 * alone needs, merged with the caller's extra object. */
static char *result_metadata(const ia_bench_hardware *hw, const ia_bench_software *sw, const ia_bench_model *m,
                             const ia_bench_shape *s, const ia_bench_run *x)
{
    cJSON *o = NULL;
    if (x->metadata)
        o = cJSON_Parse(x->metadata);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        o = cJSON_CreateObject();
    }
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "batch_size", s->batch_size);
    cJSON_AddNumberToObject(o, "seq_len", s->seq_len);
    cJSON_AddStringToObject(o, "precision", s->precision ? s->precision : "fp32");
    if (x->precision_used)
        cJSON_AddStringToObject(o, "precision_used", x->precision_used);
    cJSON_AddNumberToObject(o, "threads", s->threads);
    if (hw->device)
        cJSON_AddStringToObject(o, "device", hw->device);
    if (m->architecture)
        cJSON_AddStringToObject(o, "architecture", m->architecture);
    if (m->cid)
        cJSON_AddStringToObject(o, "model_cid", m->cid);
    if (sw->engine_version)
        cJSON_AddStringToObject(o, "engine_version", sw->engine_version);
    cJSON_AddNumberToObject(o, "n_samples", (double)x->lat.n);
    cJSON_AddNumberToObject(o, "n_outliers", (double)x->lat.n_outliers);
    cJSON_AddBoolToObject(o, "converged", x->converged);
    cJSON_AddNumberToObject(o, "tokens_per_s", x->tokens_per_s);
    cJSON *lat = cJSON_AddObjectToObject(o, "latency_ms");
    if (lat) {
        cJSON_AddNumberToObject(lat, "mean", x->lat.mean * 1e3);
        cJSON_AddNumberToObject(lat, "ci95", x->lat.ci95 * 1e3);
        cJSON_AddNumberToObject(lat, "p50", x->lat.p50 * 1e3);
        cJSON_AddNumberToObject(lat, "p90", x->lat.p90 * 1e3);
        cJSON_AddNumberToObject(lat, "p99", x->lat.p99 * 1e3);
    }
    if (x->energy_j >= 0)
        cJSON_AddNumberToObject(o, "energy_j", x->energy_j);
    else
        cJSON_AddNullToObject(o, "energy_j");
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return txt;
}

ia_status ia__benchdb_insert(ia_benchdb *db, const ia_bench_hardware *hw, const ia_bench_software *sw,
                             const ia_bench_model *m, const ia_bench_shape *shape, const ia_bench_run *run,
                             int64_t *id)
{
    ia__error_clear();
    IA_NEED(db);
    IA_NEED(hw);
    IA_NEED(sw);
    IA_NEED(m);
    IA_NEED(shape);
    IA_NEED(run);
    char *meta = result_metadata(hw, sw, m, shape, run);
    if (!meta)
        return ia__error(IA_ERR_NOMEM, "benchmark metadata");
    char now[32];
    utc_now(now, sizeof now);
    struct run_row rr = {.hw = hw, .run = run};
    struct result_row res = {now, m->name ? m->name : "", hw->type ? hw->type : "cpu", meta, run};

    char mkey[8192];
    model_key(m, mkey, sizeof mkey);
    struct keyed mk = {m, mkey};

    ia_status st = exec(db, "BEGIN IMMEDIATE", "starting the insert");
    if (!st)
        st = hardware_id(db, hw, true, &rr.hw_id);
    if (!st)
        st = run_stmt(db,
                      "INSERT INTO software (engine_version, compiler, sqlite_version, os) VALUES (?,?,?,?)"
                      " ON CONFLICT DO NOTHING",
                      bind_sw, sw, NULL, "storing the software");
    if (!st)
        st = run_stmt(db,
                      "SELECT id FROM software WHERE engine_version = ?1 AND compiler = ?2"
                      " AND sqlite_version = ?3 AND os = ?4",
                      bind_sw, sw, &rr.sw_id, "finding the software");
    if (!st)
        st = run_stmt(db,
                      "INSERT INTO models (fingerprint, name, path, architecture, n_params, dim, n_layers,"
                      " hidden_size, weights_dtype, cid) VALUES (?,?,?,?,?,?,?,?,?,?)"
                      " ON CONFLICT (fingerprint) DO NOTHING",
                      bind_model, &mk, NULL, "storing the model");
    if (!st)
        st = run_stmt(db,
                      "SELECT id FROM models WHERE fingerprint = ?", bind_key, &mk, &rr.model_id,
                      "finding the model");
    if (!st)
        st = run_stmt(db,
                      "INSERT INTO shapes (batch_size, seq_len, precision, threads) VALUES (?,?,?,?)"
                      " ON CONFLICT DO NOTHING",
                      bind_shape, shape, NULL, "storing the shape");
    if (!st)
        st = run_stmt(db,
                      "SELECT id FROM shapes WHERE batch_size = ?1 AND seq_len = ?2 AND precision = ?3"
                      " AND threads = ?4",
                      bind_shape, shape, &rr.shape_id, "finding the shape");
    if (!st)
        st = run_stmt(db,
                      "INSERT INTO benchmark_results (timestamp, model_name, hardware_type, inference_time,"
                      " throughput, memory_usage, accuracy_score, metadata) VALUES (?,?,?,?,?,?,NULL,?)",
                      bind_result, &res, &rr.result_id, "storing the result");
    if (!st)
        st = run_stmt(db,
                      "INSERT INTO runs (result_id, hardware_id, software_id, model_id, shape_id, device,"
                      " device_name, precision_used, n_warmup, n_samples, n_outliers, converged, target_ci,"
                      " latency_mean_s, latency_stddev_s, latency_ci95_s, latency_min_s, latency_p50_s,"
                      " latency_p90_s, latency_p99_s, latency_max_s, texts_per_s, tokens_per_s,"
                      " peak_rss_bytes, rss_scope, energy_j, duration_s, phase)"
                      " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                      bind_run, &rr, NULL, "storing the run");
    if (!st)
        st = exec(db, "COMMIT", "committing the run");
    else
        rollback(db);
    cJSON_free(meta);
    if (!st && id)
        *id = rr.result_id;
    return st;
}

/* ---- machine peaks --------------------------------------------------------- */

ia_status ia__benchdb_peaks_put(ia_benchdb *db, const ia_bench_hardware *hw, const char *engine_version,
                                const ia_pm_peaks *p)
{
    ia__error_clear();
    IA_NEED(db);
    IA_NEED(hw);
    IA_NEED(p);
    char now[32];
    utc_now(now, sizeof now);
    int64_t hw_id = 0;
    ia_status st = exec(db, "BEGIN IMMEDIATE", "starting to store the peaks");
    if (!st)
        st = hardware_id(db, hw, true, &hw_id);
    /* The GEMMs, then the bandwidth (index n_gemm). */
    for (int i = 0; !st && i <= p->n_gemm; i++) {
        char detail[160];
        if (i < p->n_gemm)
            snprintf(detail, sizeof detail, "{\"m\":%d,\"n\":%d,\"k\":%d,\"seconds\":%.3f}", p->gemm[i].m,
                     p->gemm[i].n, p->gemm[i].k, p->gemm[i].seconds);
        else
            snprintf(detail, sizeof detail, "{\"buffer_bytes\":%.0f}", p->mem_bytes);
        sqlite3_stmt *q;
        int rc = sqlite3_prepare_v2(db->db,
                                    "INSERT OR REPLACE INTO machine_peaks (hardware_id, kind, precision, threads,"
                                    " value, detail, engine_version, measured_at, device)"
                                    " VALUES (?,?,?,?,?,?,?,?,?)",
                                    -1, &q, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(q, 1, hw_id);
            bind_text(q, 2, i < p->n_gemm ? "gemm" : "memory");
            bind_text(q, 3, i < p->n_gemm ? p->gemm[i].precision : "");
            sqlite3_bind_int(q, 4, p->threads);
            sqlite3_bind_double(q, 5, i < p->n_gemm ? p->gemm[i].flops : p->mem_bw);
            bind_text(q, 6, detail);
            bind_text(q, 7, engine_version);
            bind_text(q, 8, now);
            bind_text(q, 9, p->device[0] ? p->device : "cpu:0");
            rc = sqlite3_step(q);
            sqlite3_finalize(q);
            rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
        if (rc != SQLITE_OK)
            st = db_error(db, rc, "storing the peaks");
    }
    if (!st)
        st = exec(db, "COMMIT", "committing the peaks");
    else
        rollback(db);
    return st;
}

ia_status ia__benchdb_peaks_get(ia_benchdb *db, const ia_bench_hardware *hw, const char *device, int threads,
                                ia_pm_peaks *p)
{
    ia__error_clear();
    IA_NEED(db);
    IA_NEED(hw);
    IA_NEED(p);
    memset(p, 0, sizeof *p);
    p->threads = threads;
    snprintf(p->device, sizeof p->device, "%s", device && *device ? device : "cpu:0");
    int64_t hw_id;
    ia_status st = hardware_id(db, hw, false, &hw_id);
    if (st)
        return st;
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(db->db,
                                "SELECT kind, precision, value, measured_at, json_extract(detail, '$.m'),"
                                " json_extract(detail, '$.n'), json_extract(detail, '$.k'),"
                                " json_extract(detail, '$.buffer_bytes') FROM machine_peaks"
                                " WHERE hardware_id = ? AND threads = ? AND device = ?"
                                " ORDER BY kind, CASE precision WHEN 'fp32' THEN 0 WHEN 'int8' THEN 1 ELSE 2 END",
                                -1, &q, NULL);
    if (rc != SQLITE_OK)
        return db_error(db, rc, "reading the peaks");
    sqlite3_bind_int64(q, 1, hw_id);
    sqlite3_bind_int(q, 2, threads);
    bind_text(q, 3, p->device);
    bool have_mem = false;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(q, 0);
        const char *prec = (const char *)sqlite3_column_text(q, 1);
        const char *at = (const char *)sqlite3_column_text(q, 3);
        if (at)
            snprintf(p->measured_at, sizeof p->measured_at, "%s", at);
        if (kind && !strcmp(kind, "memory")) {
            p->mem_bw = sqlite3_column_double(q, 2);
            p->mem_bytes = sqlite3_column_double(q, 7);
            have_mem = true;
        } else if (kind && !strcmp(kind, "gemm") && prec && p->n_gemm < IA_PM_MAX_PREC) {
            snprintf(p->gemm[p->n_gemm].precision, sizeof p->gemm[0].precision, "%s", prec);
            p->gemm[p->n_gemm].flops = sqlite3_column_double(q, 2);
            p->gemm[p->n_gemm].m = sqlite3_column_int(q, 4);
            p->gemm[p->n_gemm].n = sqlite3_column_int(q, 5);
            p->gemm[p->n_gemm].k = sqlite3_column_int(q, 6);
            p->n_gemm++;
        }
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return db_error(db, rc, "reading the peaks");
    if (!have_mem || !p->n_gemm)
        return strcmp(p->device, "cpu:0")
                   ? ia__error(IA_ERR_NOT_FOUND, "%s: no peaks measured for %s on this machine", db->path, p->device)
                   : ia__error(IA_ERR_NOT_FOUND, "%s: no peaks measured on this machine with %d threads%s", db->path,
                               threads, threads ? "" : " (one per core)");
    return IA_OK;
}

ia_status ia__benchdb_points(ia_benchdb *db, const ia_bench_hardware *hw, const char *model_path,
                             const char *precision, int threads, const char *phase, ia_bench_point **out, size_t *n)
{
    ia__error_clear();
    IA_NEED(db);
    IA_NEED(hw);
    IA_NEED(model_path);
    IA_NEED(precision);
    IA_NEED(out);
    IA_NEED(n);
    *out = NULL;
    *n = 0;
    int64_t hw_id;
    ia_status st = hardware_id(db, hw, false, &hw_id);
    if (st == IA_ERR_NOT_FOUND) {
        ia__error_clear();
        return IA_OK; /* nothing measured on this machine */
    }
    if (st)
        return st;
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(db->db,
                                "SELECT x.result_id, s.batch_size, s.seq_len, x.latency_mean_s, x.latency_p50_s,"
                                " x.peak_rss_bytes, json_extract(r.metadata, '$.op_seconds.linear'),"
                                " json_extract(r.metadata, '$.op_seconds.attention'),"
                                " json_extract(r.metadata, '$.op_seconds.other'),"
                                " json_extract(r.metadata, '$.linear_flop') FROM runs x"
                                " JOIN benchmark_results r ON r.id = x.result_id"
                                " JOIN shapes s ON s.id = x.shape_id JOIN models m ON m.id = x.model_id"
                                " WHERE x.hardware_id = ?1 AND m.path = ?2 AND s.precision = ?3 AND s.threads = ?4"
                                " AND x.phase IS ?5"
                                " AND x.latency_mean_s > 0 AND x.result_id = (SELECT MAX(y.result_id) FROM runs y"
                                "  JOIN models m2 ON m2.id = y.model_id WHERE y.hardware_id = x.hardware_id"
                                "  AND y.shape_id = x.shape_id AND m2.path = m.path AND y.phase IS ?5"
                                "  AND y.latency_mean_s > 0)"
                                " ORDER BY s.batch_size, s.seq_len",
                                -1, &q, NULL);
    if (rc != SQLITE_OK)
        return db_error(db, rc, "reading the runs");
    sqlite3_bind_int64(q, 1, hw_id);
    sqlite3_bind_text(q, 2, model_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, precision, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 4, threads);
    bind_text(q, 5, phase);
    size_t cap = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            ia_bench_point *g = ia__realloc(*out, nc * sizeof *g);
            if (!g) {
                st = ia__error(IA_ERR_NOMEM, "reading the runs");
                break;
            }
            *out = g;
            cap = nc;
        }
        ia_bench_point *pt = &(*out)[(*n)++];
        memset(pt, 0, sizeof *pt);
        pt->id = sqlite3_column_int64(q, 0);
        pt->batch_size = sqlite3_column_int(q, 1);
        pt->seq_len = sqlite3_column_int(q, 2);
        pt->latency_mean_s = sqlite3_column_double(q, 3);
        pt->latency_p50_s = sqlite3_column_double(q, 4);
        pt->peak_rss_bytes = sqlite3_column_double(q, 5);
        for (int c = 0; c < 3; c++)
            pt->op_s[c] = sqlite3_column_type(q, 6 + c) == SQLITE_NULL ? -1 : sqlite3_column_double(q, 6 + c);
        pt->linear_flop = sqlite3_column_double(q, 9);
    }
    sqlite3_finalize(q);
    if (!st && rc != SQLITE_DONE)
        st = db_error(db, rc, "reading the runs");
    if (st) {
        ia__free(*out);
        *out = NULL;
        *n = 0;
    }
    return st;
}

/* ---- reading ------------------------------------------------------------- */

ia_status ia__benchdb_list_json(ia_benchdb *db, char **out)
{
    ia__error_clear();
    IA_NEED(db);
    IA_NEED(out);
    *out = NULL;
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(db->db, "SELECT * FROM bench_runs ORDER BY id", -1, &q, NULL);
    if (rc != SQLITE_OK)
        return db_error(db, rc, "listing runs");
    cJSON *arr = cJSON_CreateArray();
    bool oom = !arr;
    while (!oom && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        cJSON *row = cJSON_CreateObject();
        if (!row || !cJSON_AddItemToArray(arr, row)) {
            cJSON_Delete(row);
            oom = true;
            break;
        }
        for (int c = 0; c < sqlite3_column_count(q); c++) {
            const char *name = sqlite3_column_name(q, c);
            cJSON *v;
            switch (sqlite3_column_type(q, c)) {
            case SQLITE_INTEGER:
                v = cJSON_CreateNumber((double)sqlite3_column_int64(q, c));
                break;
            case SQLITE_FLOAT:
                v = cJSON_CreateNumber(sqlite3_column_double(q, c));
                break;
            case SQLITE_NULL:
                v = cJSON_CreateNull();
                break;
            default:
                v = cJSON_CreateString((const char *)sqlite3_column_text(q, c));
                break;
            }
            if (!v || !cJSON_AddItemToObject(row, name, v)) {
                cJSON_Delete(v);
                oom = true;
                break;
            }
        }
    }
    sqlite3_finalize(q);
    if (oom) {
        cJSON_Delete(arr);
        return ia__error(IA_ERR_NOMEM, "listing runs");
    }
    if (rc != SQLITE_DONE) {
        cJSON_Delete(arr);
        return db_error(db, rc, "listing runs");
    }
    char *txt = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    if (!txt)
        return ia__error(IA_ERR_NOMEM, "listing runs");
    *out = ia__strdup(txt);
    cJSON_free(txt);
    return *out ? IA_OK : ia__error(IA_ERR_NOMEM, "listing runs");
}
