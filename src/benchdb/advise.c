/*
 * The advisor's decision (advise.h): for each (device, precision) whether
 * the model fits and can run, its figures from the performance model, and
 * the recommendation with its reasons. Pure: everything it knows comes in
 * through the device table, so tests fake machines.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "benchdb/advise.h"
#include "core/core-impl.h"

int ia__adv_cpu_precisions(const char *flags, char p[IA_ADV_MAX_PREC][8])
{
    int n = 0;
    snprintf(p[n++], 8, "fp32");
    /* As the CPU backend resolves them (docs/benchmarks.md): int8 needs
     * AVX2 (VNNI is faster, not required), bf16 needs AVX512_BF16. */
    const char *f = flags ? flags : "";
    bool avx2 = false, bf16 = false;
    for (const char *s = f; *s;) {
        size_t l = strcspn(s, " ");
        avx2 |= l == 4 && !strncmp(s, "avx2", 4);
        bf16 |= l == 11 && !strncmp(s, "avx512_bf16", 11);
        s += l;
        s += *s == ' ';
    }
    if (avx2)
        snprintf(p[n++], 8, "int8");
    if (bf16)
        snprintf(p[n++], 8, "bf16");
    return n;
}

static void reason(ia_adv_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reason(ia_adv_result *r, const char *fmt, ...)
{
    if (r->n_reasons >= IA_ADV_MAX_REASONS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reasons[r->n_reasons++], sizeof r->reasons[0], fmt, ap);
    va_end(ap);
}

static double mib(double b) { return b / (1024.0 * 1024.0); }

/* Memory of one call without peaks: weights, activations, KV. */
static ia_status cost_memory(const ia_adv_request *rq, const char *prec, int batch, double *bytes)
{
    ia_pm_cost c;
    ia_status st = rq->arch.decoder ? ia__pm_decode(&rq->arch, prec, rq->context, &c)
                                    : ia__pm_encoder(&rq->arch, prec, batch, rq->context, &c);
    *bytes = st ? 0 : c.weight_bytes + c.act_bytes + c.kv_bytes;
    return st;
}

/* An option's figures at batch b: false when the peaks cannot predict it. */
static bool predict_at(const ia_adv_request *rq, const ia_adv_device *d, const char *prec, const ia_pm_calib *k,
                       int b, ia_adv_option *o)
{
    ia_pm_prediction pp;
    if (rq->arch.decoder) {
        /* A GGUF file's types run on the fp32 peak (perfmodel.h). */
        if (ia__pm_predict_decoder(&rq->arch, "fp32", d->peaks, k, true, rq->context, &pp))
            return false;
        o->latency_s = pp.latency_s;
        o->throughput = 1 / pp.latency_s;
        o->memory_bytes = pp.memory_bytes;
        ia_pm_prediction pf;
        o->prefill_s = ia__pm_predict_decoder(&rq->arch, "fp32", d->peaks, NULL, false, rq->context, &pf) ? 0
                                                                                                           : pf.latency_s;
        return true;
    }
    if (ia__pm_predict_encoder(&rq->arch, prec, d->peaks, k, b, rq->context, &pp))
        return false;
    o->latency_s = pp.latency_s;
    o->throughput = pp.texts_per_s;
    o->memory_bytes = pp.memory_bytes;
    return true;
}

/* Is a better than b for the goal? Both usable. */
static bool better(const ia_adv_request *rq, const ia_adv_option *a, const ia_adv_option *b)
{
    if (a->predicted != b->predicted)
        return a->predicted;
    if (!a->predicted)
        return false; /* the table's order: detection's priority */
    if (rq->latency_budget_s > 0 && a->meets_budget != b->meets_budget)
        return a->meets_budget;
    if (rq->throughput || (rq->latency_budget_s > 0 && a->meets_budget))
        return a->throughput > b->throughput;
    return a->latency_s < b->latency_s;
}

ia_status ia__advise(const ia_adv_device *dev, int n_dev, const ia_adv_request *rq, ia_adv_result *out)
{
    IA_NEED(out);
    IA_NEED(rq);
    memset(out, 0, sizeof *out);
    out->best = -1;
    if (n_dev < 0 || (n_dev && !dev))
        return ia__error(IA_ERR_INVALID, "advise: no device table");
    if (rq->context < 1)
        return ia__error(IA_ERR_INVALID, "advise: context %d (must be at least 1 token)", rq->context);
    if (rq->arch.decoder && !rq->fixed_precision)
        return ia__error(IA_ERR_INVALID, "advise: a decoder needs its file's weight types");
    if (rq->arch.max_position > 0 && rq->context > rq->arch.max_position)
        return ia__error(IA_ERR_INVALID, "advise: context %d is beyond the model's %d positions", rq->context,
                         rq->arch.max_position);
    const int max_batch = rq->arch.decoder ? 1 : rq->max_batch > 0 ? rq->max_batch : 128;
    const double head = rq->mem_headroom > 0 ? rq->mem_headroom : 0.9;

    for (int di = 0; di < n_dev; di++) {
        const ia_adv_device *d = &dev[di];
        int p0 = 0, np = rq->arch.decoder ? 1 : d->n_prec;
        if (rq->auto_choice && !rq->arch.decoder) { /* the one precision the device would compute in */
            for (int pi = 0; rq->precision && pi < d->n_prec; pi++)
                p0 = strcmp(d->precisions[pi], rq->precision) ? p0 : pi;
            np = p0 + 1;
        }
        for (int pi = p0; pi < np && out->n_opts < IA_ADV_MAX_OPTS; pi++) {
            ia_adv_option *o = &out->opt[out->n_opts++];
            memset(o, 0, sizeof *o);
            o->device = di;
            o->batch = 1;
            const char *prec = rq->arch.decoder ? rq->fixed_precision : d->precisions[pi];
            snprintf(o->precision, sizeof o->precision, "%s", prec);
            if (!d->backend_built) {
                snprintf(o->why, sizeof o->why, "%s detected, but this build has no %s backend", d->id,
                         d->platform);
                continue;
            }
            if (rq->auto_choice && d->explicit_only) {
                snprintf(o->why, sizeof o->why, "not chosen by auto: used only when named (--device %s)", d->id);
                continue;
            }
            double need;
            if (cost_memory(rq, rq->arch.decoder ? "fp32" : prec, 1, &need)) {
                snprintf(o->why, sizeof o->why, "the performance model does not count %s", prec);
                continue;
            }
            o->memory_bytes = need;
            if (d->memory_bytes > 0 && need > head * d->memory_bytes) {
                snprintf(o->why, sizeof o->why, "needs %.0f MiB at %d %s, over %.0f%% of its %.0f MiB", mib(need),
                         rq->context, rq->arch.decoder ? "KV positions" : "tokens", 100 * head,
                         mib(d->memory_bytes));
                continue;
            }
            o->usable = true;
            const ia_pm_calib *k = pi < IA_ADV_MAX_PREC && !rq->arch.decoder ? d->calib[pi] : d->calib[0];
            ia_adv_option cand = *o;
            if (!d->peaks || !predict_at(rq, d, prec, k, 1, &cand)) {
                snprintf(o->why, sizeof o->why, "not predicted: no measured %s peaks for %s ('bench peaks --device %s')",
                         prec, d->id, d->id);
                continue;
            }
            /* Batch: 1 for latency; else the smallest whose throughput is
             * within 5% of the most that fits (and stays within the budget,
             * when one is set): a larger batch only adds latency and memory. */
            cand.predicted = true;
            cand.calibrated = k != NULL;
            cand.meets_budget = !(rq->latency_budget_s > 0) || cand.latency_s <= rq->latency_budget_s;
            *o = cand;
            ia_adv_option tried[16];
            int n_tried = 0;
            double top = cand.throughput;
            tried[n_tried++] = cand;
            bool want_batch = rq->throughput || (rq->latency_budget_s > 0 && cand.meets_budget);
            for (int b = 2; want_batch && b <= max_batch && n_tried < 16; b *= 2) {
                ia_adv_option t = cand;
                if (!predict_at(rq, d, prec, k, b, &t))
                    break;
                if (d->memory_bytes > 0 && t.memory_bytes > head * d->memory_bytes)
                    break;
                t.batch = b;
                t.meets_budget = !(rq->latency_budget_s > 0) || t.latency_s <= rq->latency_budget_s;
                if (!t.meets_budget)
                    break; /* latency grows with the batch */
                tried[n_tried++] = t;
                top = t.throughput > top ? t.throughput : top;
            }
            for (int i = 0; i < n_tried; i++)
                if (tried[i].throughput >= 0.95 * top) {
                    *o = tried[i];
                    break;
                }
            snprintf(o->why, sizeof o->why, "%s", k ? "calibrated on stored runs" : "the bare roofline (no runs stored)");
        }
    }

    for (int i = 0; i < out->n_opts; i++)
        if (out->opt[i].usable && (out->best < 0 || better(rq, &out->opt[i], &out->opt[out->best])))
            out->best = i;
    if (out->best < 0) {
        reason(out, "no device can run the model: %s", out->n_opts ? out->opt[0].why : "no devices");
        return IA_OK;
    }
    const ia_adv_option *b = &out->opt[out->best];
    const ia_adv_device *d = &dev[b->device];
    out->threads = !strcmp(d->platform, "cpu") ? (d->threads ? d->threads : d->cores) : 0;
    int n_usable = 0, n_pred = 0;
    for (int i = 0; i < out->n_opts; i++) {
        n_usable += out->opt[i].usable;
        n_pred += out->opt[i].predicted;
    }
    reason(out, "%d of %d device and precision pairs can run it (memory fit at %d %s, precisions each backend "
                "computes)", n_usable, out->n_opts, rq->context, rq->arch.decoder ? "KV positions" : "tokens");
    if (!b->predicted) {
        reason(out, "%s chosen by the engine's priority order: no peaks are measured for any usable device, "
                    "so nothing is predicted ('bench peaks [--device D]' measures them)", d->id);
        return IA_OK;
    }
    const char *goal = rq->throughput ? "the most throughput"
                       : rq->latency_budget_s > 0 ? "the most throughput within the latency budget"
                                                  : "the lowest latency";
    reason(out, "%s in %s: %s among %d predicted option%s", d->id, b->precision, goal, n_pred, n_pred == 1 ? "" : "s");
    if (rq->latency_budget_s > 0 && !b->meets_budget)
        reason(out, "no option meets %.3f ms: the fastest call predicted takes %.3f ms", rq->latency_budget_s * 1e3,
               b->latency_s * 1e3);
    if (!rq->arch.decoder && b->batch > 1)
        reason(out, "batch %d: %s", b->batch,
               "the smallest batch within 5% of the most throughput predicted"
               " (larger ones add latency and memory, not throughput)");
    if (rq->arch.decoder)
        reason(out, "decoders run one sequence per session: batch 1; one decode step at %d positions, prefill of "
                    "%d tokens %.1f ms (roofline)", rq->context, rq->context, b->prefill_s * 1e3);
    if (!strcmp(b->precision, "int8"))
        reason(out, "int8 trades accuracy: worst cosine 0.991 to fp32 on the test sentences (bf16 0.99994)");
    else if (!strcmp(b->precision, "bf16"))
        reason(out, "bf16: worst cosine 0.99994 to fp32 on the test sentences");
    if (!strcmp(d->platform, "cpu"))
        reason(out, "%d thread%s: as the peaks%s were measured", out->threads, out->threads == 1 ? "" : "s",
               b->calibrated ? " and calibration runs" : "");
    /* A bare roofline beside calibrated figures is not a like-for-like
     * comparison: say how far the roofline was off where it was checked. */
    int ci = -1; /* the same precision calibrated elsewhere (another thread count) first */
    for (int i = 0; !b->calibrated && i < out->n_opts; i++)
        if (out->opt[i].calibrated && (ci < 0 || !strcmp(out->opt[i].precision, b->precision)))
            ci = ci >= 0 && !strcmp(out->opt[ci].precision, b->precision) ? ci : i;
    for (int i = ci; i >= 0 && i < out->n_opts; i = out->n_opts) {
        const ia_adv_option *c = &out->opt[i];
        ia_adv_option bare = *c;
        if (!predict_at(rq, &dev[c->device], c->precision, NULL, c->batch, &bare))
            continue;
        reason(out, "caution: %s in %s calibrated takes %.3f ms where its bare roofline says %.3f ms (%.2fx); "
                    "the recommendation's roofline may be as optimistic: 'bench validate --precision %s' checks it",
               dev[c->device].id, c->precision, c->latency_s * 1e3, bare.latency_s * 1e3,
               c->latency_s / bare.latency_s, b->precision);
        break;
    }
    reason(out, "%s", b->calibrated ? "figures calibrated on the runs stored for it"
                                    : "figures from the bare roofline: no runs stored for it ('bench validate' "
                                      "calibrates)");
    if (d->explicit_only)
        reason(out, "%s is used only when named: --device %s", d->id, d->platform);
    return IA_OK;
}
