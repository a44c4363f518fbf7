/*
 * `bench report`: one self-contained HTML page of the stored runs with
 * inline SVG plots drawn here (no scripts, fonts or images from anywhere):
 * throughput against batch size per model, device, precision and length;
 * the latency distribution (p50, p90, p99) of the newest runs; predicted
 * against measured latency (the points the caller predicts); throughput
 * across engine versions. Axes are logarithmic where the figures span
 * decades. Internal; the CLI writes the page (report.h).
 */
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "benchdb/report.h"
#include "core/core-impl.h"

typedef struct sb {
    char *p;
    size_t len, cap;
    bool oom;
} sb;

static void put(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sb *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 65536) + (size_t)n;
        char *q = ia__realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

/* Text for HTML and SVG: &, <, >, " escaped. */
static void put_esc(sb *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': put(b, "&amp;"); break;
        case '<': put(b, "&lt;"); break;
        case '>': put(b, "&gt;"); break;
        case '"': put(b, "&quot;"); break;
        default: put(b, "%c", *s);
        }
    }
}

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                                      "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"};
#define N_COLORS (sizeof palette / sizeof palette[0])

/* ---- a plot frame ------------------------------------------------------- */

enum { W = 720, H = 360, ML = 70, MR = 190, MT = 30, MB = 50 };

typedef struct axis {
    double lo, hi;
    bool log;
} axis;

static double ax_pos(const axis *a, double v, double from, double to)
{
    double f = a->log ? (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo)) : (v - a->lo) / (a->hi - a->lo);
    return from + f * (to - from);
}
static double px(const axis *a, double v) { return ax_pos(a, v, ML, W - MR); }
static double py(const axis *a, double v) { return ax_pos(a, v, H - MB, MT); }

/* Widen a range that is one point, and pad a log range to whole decades. */
static void ax_fix(axis *a)
{
    if (a->log) {
        if (!(a->lo > 0))
            a->lo = a->hi > 0 ? a->hi / 10 : 1;
        a->lo = pow(10, floor(log10(a->lo)));
        a->hi = pow(10, ceil(log10(a->hi)));
        if (a->hi <= a->lo)
            a->hi = a->lo * 10;
    } else {
        if (a->hi <= a->lo)
            a->hi = a->lo + 1;
        a->lo = a->lo > 0 ? 0 : a->lo;
        a->hi *= 1.05;
    }
}

/* xticks false: the caller labels the x axis (categories). */
static void frame(sb *b, const char *title, const char *xl, const axis *x, const char *yl, const axis *y, bool xticks)
{
    put(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">"
           "<title>", W, H, W, H);
    put_esc(b, title);
    put(b, "</title><rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>", W, H);
    put(b, "<path class=\"axis\" d=\"M%d %d V%d H%d\" stroke=\"#333\" fill=\"none\"/>", ML, MT, H - MB, W - MR);
    const axis *as[2] = {x, y};
    for (int k = xticks ? 0 : 1; k < 2; k++) {
        const axis *a = as[k];
        int nt = 5;
        for (int i = 0; i <= nt * 6; i++) {
            double v;
            if (a->log) {
                v = a->lo * pow(10, i);
                if (v > a->hi * 1.0001)
                    break;
            } else {
                if (i > nt)
                    break;
                v = a->lo + (a->hi - a->lo) * i / nt;
            }
            char lab[32];
            snprintf(lab, sizeof lab, "%g", fabs(v) < 1e-12 ? 0 : v);
            if (k == 0)
                put(b, "<path d=\"M%.1f %d V%d\" stroke=\"#ddd\"/><text x=\"%.1f\" y=\"%d\" font-size=\"11\" "
                       "text-anchor=\"middle\">%s</text>", px(a, v), MT, H - MB, px(a, v), H - MB + 15, lab);
            else
                put(b, "<path d=\"M%d %.1f H%d\" stroke=\"#ddd\"/><text x=\"%d\" y=\"%.1f\" font-size=\"11\" "
                       "text-anchor=\"end\">%s</text>", ML, py(a, v), W - MR, ML - 4, py(a, v) + 4, lab);
        }
    }
    put(b, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">", (ML + W - MR) / 2, H - 12);
    put_esc(b, xl);
    put(b, "</text><text x=\"14\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 %d)\">",
        (MT + H - MB) / 2, (MT + H - MB) / 2);
    put_esc(b, yl);
    put(b, "</text>");
}

static void legend(sb *b, int i, const char *label)
{
    int y = MT + 4 + 16 * i;
    put(b, "<path d=\"M%d %d h16\" stroke=\"%s\" stroke-width=\"2\"/><text x=\"%d\" y=\"%d\" font-size=\"11\">",
        W - MR + 8, y, palette[i % N_COLORS], W - MR + 28, y + 4);
    put_esc(b, label);
    put(b, "</text>");
}

/* ---- data ------------------------------------------------------------------ */

typedef struct pt {
    char key[160];  /* the series */
    char label[96]; /* a point's own label */
    double x, y, y2, y3;
} pt;

/* Rows of a query as points: columns key, x, y[, y2, y3][, label]. */
static ia_status query(sqlite3 *db, const char *sql, int ny, pt **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return ia__error(IA_ERR_FORMAT, "bench report: %s", sqlite3_errmsg(db));
    size_t cap = 0;
    ia_status st = IA_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            pt *p = ia__realloc(*out, cap * sizeof *p);
            if (!p) {
                st = IA_ERR_NOMEM;
                break;
            }
            *out = p;
        }
        pt *p = &(*out)[(*n)++];
        memset(p, 0, sizeof *p);
        const char *k = (const char *)sqlite3_column_text(q, 0);
        snprintf(p->key, sizeof p->key, "%s", k ? k : "");
        p->x = sqlite3_column_double(q, 1);
        p->y = sqlite3_column_double(q, 2);
        if (ny > 1) {
            p->y2 = sqlite3_column_double(q, 3);
            p->y3 = sqlite3_column_double(q, 4);
        }
        int lc = ny > 1 ? 5 : 3; /* the optional label column */
        const char *l = sqlite3_column_count(q) > lc ? (const char *)sqlite3_column_text(q, lc) : NULL;
        snprintf(p->label, sizeof p->label, "%s", l ? l : "");
    }
    if (!st && rc != SQLITE_DONE)
        st = ia__error(IA_ERR_IO, "bench report: %s", sqlite3_errmsg(db));
    sqlite3_finalize(q);
    if (st) {
        ia_free(*out);
        *out = NULL;
        *n = 0;
    }
    return st;
}

/* Lines, one per key (points in x order), on a frame fitted to them. */
static void lines(sb *b, const char *title, const char *xl, bool xlog, const char *yl, bool ylog, const pt *p,
                  size_t n, const char *const *xnames)
{
    axis x = {INFINITY, -INFINITY, xlog}, y = {INFINITY, -INFINITY, ylog};
    for (size_t i = 0; i < n; i++) {
        x.lo = fmin(x.lo, p[i].x), x.hi = fmax(x.hi, p[i].x);
        y.lo = fmin(y.lo, p[i].y), y.hi = fmax(y.hi, p[i].y);
    }
    if (!xlog && !xnames) {
        ax_fix(&x);
    } else if (xnames) { /* categories 0..k-1 */
        x.lo = -0.5, x.hi = x.hi + 0.5;
    } else {
        ax_fix(&x);
    }
    ax_fix(&y);
    frame(b, title, xl, &x, yl, &y, !xnames);
    if (xnames)
        for (int i = 0; i <= (int)(x.hi - 0.5); i++) {
            put(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">", px(&x, i), H - MB + 15);
            put_esc(b, xnames[i]);
            put(b, "</text>");
        }
    int series = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && !strcmp(p[j].key, p[i].key))
            j++;
        const char *col = palette[series % N_COLORS];
        put(b, "<path class=\"series\" d=\"");
        for (size_t k = i; k < j; k++)
            put(b, "%s%.1f %.1f", k == i ? "M" : " L", px(&x, p[k].x), py(&y, p[k].y));
        put(b, "\" stroke=\"%s\" stroke-width=\"2\" fill=\"none\"/>", col);
        for (size_t k = i; k < j; k++)
            put(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%g, %.4g</title></circle>",
                px(&x, p[k].x), py(&y, p[k].y), col, p[k].x, p[k].y);
        if (series < 18)
            legend(b, series, p[i].key);
        series++;
        i = j;
    }
    put(b, "</svg>\n");
}

static void section(sb *b, const char *h, const char *what)
{
    put(b, "<h2>");
    put_esc(b, h);
    put(b, "</h2><p>");
    put_esc(b, what);
    put(b, "</p>\n");
}

static void none(sb *b, const char *why)
{
    put(b, "<p class=\"none\">");
    put_esc(b, why);
    put(b, "</p>\n");
}

ia_status ia__benchdb_report_html(ia_benchdb *bdb, const char *db_path, const ia_report_pred *pred, size_t n_pred,
                                  char **out)
{
    IA_NEED(bdb);
    IA_NEED(out);
    *out = NULL;
    sqlite3 *db = ia__benchdb_handle(bdb);
    sb b = {0};
    ia_status st = IA_OK;
    pt *p = NULL;
    size_t n = 0;
    put(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ipfs-accelerate benchmark "
            "report</title><style>body{font-family:sans-serif;max-width:960px;margin:1em auto;color:#222}"
            "svg{display:block;margin:.5em 0}.none{color:#777;font-style:italic}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}</style></head><body>\n"
            "<h1>ipfs-accelerate benchmark report</h1><p>From ");
    put_esc(&b, db_path);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*), MIN(timestamp), MAX(timestamp) FROM benchmark_results", -1, &q,
                           NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW) {
        put(&b, ": %d runs", sqlite3_column_int(q, 0));
        if (sqlite3_column_text(q, 1)) {
            put(&b, ", ");
            put_esc(&b, (const char *)sqlite3_column_text(q, 1));
            put(&b, " to ");
            put_esc(&b, (const char *)sqlite3_column_text(q, 2));
        }
    }
    sqlite3_finalize(q);
    put(&b, ".</p>\n");

    /* 1. Throughput against batch size: embedding runs (no phase), the
     * mean of the runs of each point, one plot per model. */
    section(&b, "Throughput against batch size",
            "Texts per second (the mean of the runs of each point) per device, precision computed and sequence "
            "length; one plot per model. Embedding runs only.");
    char **models = NULL;
    size_t n_models = 0;
    if (!(st = query(db,
                     "SELECT DISTINCT v.model_name, 0, 0 FROM bench_runs v JOIN runs x ON x.result_id = v.id "
                     "WHERE x.phase IS NULL ORDER BY v.model_name",
                     1, &p, &n))) {
        models = n ? ia__calloc(n, sizeof *models) : NULL;
        for (size_t i = 0; models && i < n; i++)
            models[n_models++] = p[i].key;
        if (n && !models)
            st = IA_ERR_NOMEM;
    }
    if (!st && !n_models)
        none(&b, "No embedding runs stored ('ipfs-accelerate bench --model M' stores them).");
    for (size_t mi = 0; mi < n_models && !st; mi++) {
        char *sql = sqlite3_mprintf(
            "SELECT v.device || ' ' || v.precision_used || ' s=' || v.seq_len, v.batch_size, AVG(v.texts_per_s) "
            "FROM bench_runs v JOIN runs x ON x.result_id = v.id WHERE x.phase IS NULL AND v.model_name = %Q "
            "GROUP BY v.device, v.precision_used, v.seq_len, v.batch_size "
            "ORDER BY v.device, v.precision_used, v.seq_len, v.batch_size",
            models[mi]);
        pt *s = NULL;
        size_t ns = 0;
        st = sql ? query(db, sql, 1, &s, &ns) : IA_ERR_NOMEM;
        sqlite3_free(sql);
        if (!st && ns) {
            put(&b, "<h3>");
            put_esc(&b, models[mi]);
            put(&b, "</h3>");
            lines(&b, models[mi], "batch size (texts per call)", true, "texts/s", true, s, ns, NULL);
        }
        ia_free(s);
    }
    ia_free(models);
    ia_free(p);
    p = NULL;

    /* 2. Latency distribution of the newest runs. */
    if (!st) {
        section(&b, "Latency distribution",
                "The newest 30 runs: p50 (dot), p90 (tick) and p99 (square) of one call, milliseconds, log scale.");
        st = query(db,
                   "SELECT v.model_name || ' b=' || v.batch_size || ' s=' || v.seq_len || ' ' || v.precision_used "
                   "|| COALESCE(' ' || x.phase, ''), v.id, v.latency_p50_s * 1e3, v.latency_p90_s * 1e3, "
                   "v.latency_p99_s * 1e3 FROM bench_runs v JOIN runs x ON x.result_id = v.id "
                   "WHERE v.latency_p50_s > 0 ORDER BY v.id DESC LIMIT 30",
                   3, &p, &n);
    }
    if (!st && !n)
        none(&b, "No runs stored.");
    if (!st && n) {
        axis x = {INFINITY, -INFINITY, true};
        for (size_t i = 0; i < n; i++)
            x.lo = fmin(x.lo, p[i].y), x.hi = fmax(x.hi, fmax(p[i].y3, p[i].y2));
        ax_fix(&x);
        /* A taller frame: one row per run, labels on the left. */
        int h = 40 + 18 * (int)n;
        put(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                "role=\"img\"><title>latency distribution</title><rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>",
            W + 200, h, W + 200, h, W + 200, h);
        int x0 = 300, x1 = W + 180;
        for (double v = x.lo; v <= x.hi * 1.0001; v *= 10) {
            double xv = x0 + (log10(v) - log10(x.lo)) / (log10(x.hi) - log10(x.lo)) * (x1 - x0);
            put(&b, "<path d=\"M%.1f 10 V%d\" stroke=\"#ddd\"/><text x=\"%.1f\" y=\"%d\" font-size=\"11\" "
                    "text-anchor=\"middle\">%g ms</text>", xv, h - 25, xv, h - 10, v);
        }
        for (size_t i = 0; i < n; i++) {
            double yy = 20 + 18 * (double)i;
#define XV(v) (x0 + (log10(v) - log10(x.lo)) / (log10(x.hi) - log10(x.lo)) * (x1 - x0))
            double a = XV(p[i].y), m = XV(p[i].y2), z = XV(p[i].y3);
#undef XV
            put(&b, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">", x0 - 8, yy + 4);
            put_esc(&b, p[i].key);
            put(&b, "</text><path class=\"series\" d=\"M%.1f %.1f H%.1f\" stroke=\"%s\" stroke-width=\"2\"/>"
                    "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>"
                    "<path d=\"M%.1f %.1f v10\" stroke=\"%s\" stroke-width=\"2\"/>"
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"6\" height=\"6\" fill=\"%s\"><title>p50 %.4g, p90 %.4g, "
                    "p99 %.4g ms</title></rect>",
                a, yy, z, palette[0], a, yy, palette[0], m, yy - 5, palette[1], z - 3, yy - 3, palette[2], p[i].y,
                p[i].y2, p[i].y3);
        }
        put(&b, "</svg>\n");
    }
    ia_free(p);
    p = NULL;

    /* 3. Predicted against measured. */
    if (!st) {
        section(&b, "Predicted against measured",
                "Latency predicted by the performance model (calibrated on the stored runs of each model, "
                "precision and thread count that 'bench validate' profiled) against the measured median, "
                "log-log; the diagonal is exact, the band +-20%.");
        if (!n_pred) {
            none(&b, "No validation runs stored ('ipfs-accelerate bench validate --model M' stores them), or "
                     "their models could not be loaded to count their operations.");
        } else {
            axis a = {INFINITY, -INFINITY, true};
            for (size_t i = 0; i < n_pred; i++) {
                a.lo = fmin(a.lo, fmin(pred[i].predicted_ms, pred[i].measured_ms));
                a.hi = fmax(a.hi, fmax(pred[i].predicted_ms, pred[i].measured_ms));
            }
            ax_fix(&a);
            frame(&b, "predicted against measured", "measured latency, ms", &a, "predicted latency, ms", &a, true);
            put(&b, "<path class=\"band\" d=\"M%.1f %.1f L%.1f %.1f L%.1f %.1f L%.1f %.1f Z\" fill=\"#eee\"/>",
                px(&a, a.lo), py(&a, fmax(a.lo, a.lo * 1.2)), px(&a, a.hi / 1.2), py(&a, a.hi), px(&a, a.hi),
                py(&a, a.hi * 0.8), px(&a, a.lo), py(&a, a.lo * 0.8));
            put(&b, "<path class=\"diagonal\" d=\"M%.1f %.1f L%.1f %.1f\" stroke=\"#333\" stroke-dasharray=\"4 3\"/>",
                px(&a, a.lo), py(&a, a.lo), px(&a, a.hi), py(&a, a.hi));
            int within = 0;
            for (size_t i = 0; i < n_pred; i++) {
                double e = pred[i].predicted_ms / pred[i].measured_ms - 1;
                within += fabs(e) <= 0.2;
                put(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"><title>", px(&a, pred[i].measured_ms),
                    py(&a, pred[i].predicted_ms), fabs(e) <= 0.2 ? palette[0] : palette[1]);
                put_esc(&b, pred[i].label);
                put(&b, ": %+.1f%%</title></circle>", 100 * e);
            }
            put(&b, "</svg>\n<p>%d of %zu within +-20%%.</p>\n", within, n_pred);
        }
    }

    /* 4. History across engine versions. */
    if (!st) {
        section(&b, "History across engine versions",
                "Texts per second of each configuration (model, device, precision, batch, length; mean of its "
                "runs) per engine version, in the order the versions first ran; configurations run on at least "
                "one version, at most 12 shown.");
        st = query(db,
                   "WITH c AS (SELECT v.model_name || ' ' || v.device || ' ' || v.precision_used || ' b=' || "
                   "v.batch_size || ' s=' || v.seq_len AS k, v.engine_version AS ver, v.texts_per_s AS t, "
                   "v.timestamp AS ts FROM bench_runs v JOIN runs x ON x.result_id = v.id WHERE x.phase IS NULL), "
                   "vers AS (SELECT ver, MIN(ts) AS first FROM c GROUP BY ver), "
                   "ord AS (SELECT ver, (SELECT COUNT(*) FROM vers w WHERE w.first < vers.first) AS i FROM vers), "
                   "keys AS (SELECT k FROM c GROUP BY k ORDER BY COUNT(DISTINCT ver) DESC, k LIMIT 12) "
                   "SELECT c.k, ord.i, AVG(c.t), 0, 0, c.ver FROM c JOIN ord USING (ver) WHERE c.k IN keys "
                   "GROUP BY c.k, ord.i ORDER BY c.k, ord.i",
                   3, &p, &n);
        if (!st && !n)
            none(&b, "No embedding runs stored.");
        if (!st && n) {
            const char *names[64] = {0};
            int maxi = 0;
            for (size_t i = 0; i < n; i++)
                if (p[i].x >= 0 && p[i].x < 64) {
                    names[(int)p[i].x] = p[i].label;
                    maxi = (int)p[i].x > maxi ? (int)p[i].x : maxi;
                }
            for (int i = 0; i <= maxi; i++)
                names[i] = names[i] ? names[i] : "?";
            lines(&b, "history across versions", "engine version", false, "texts/s", true, p, n, names);
        }
        ia_free(p);
        p = NULL;
    }
    put(&b, "<p>Generated by ipfs-accelerate %s.</p></body></html>\n", ia_version());
    if (!st && b.oom)
        st = IA_ERR_NOMEM;
    if (st) {
        ia_free(b.p);
        return st;
    }
    *out = b.p;
    return IA_OK;
}
