/*
 * The advisor's choices (src/benchdb/advise.c) on faked device tables: a
 * machine with AVX-512 BF16 and VNNI, one with AVX2 only, one without a
 * GPU backend built, one with too little memory for a decoder's KV cache,
 * a GPU without measured peaks; the goal (latency, throughput, a latency
 * budget) moving the batch; --device auto's choice among devices. The peaks are made up, so the expected choices
 * follow from the roofline by hand: int8's GEMM peak is 4x fp32's here.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "benchdb/advise.h"
#include "test.h"

static const ia_pm_arch minilm = {.n_layers = 6, .hidden = 384, .n_heads = 12, .n_kv_heads = 12, .head_dim = 32,
                                  .intermediate = 1536, .vocab = 30522, .max_position = 512, .type_vocab = 2};
static const ia_pm_arch smollm2 = {.decoder = true, .n_layers = 30, .hidden = 576, .n_heads = 9, .n_kv_heads = 3,
                                   .head_dim = 64, .intermediate = 1536, .vocab = 49152, .tied = true,
                                   .weight_bytes = 0.717};

static ia_pm_peaks peaks(bool int8, bool bf16)
{
    ia_pm_peaks p = {.mem_bw = 30e9, .threads = 0};
    p.gemm[p.n_gemm++] = (ia_pm_gemm_peak){.precision = "fp32", .flops = 250e9};
    if (int8)
        p.gemm[p.n_gemm++] = (ia_pm_gemm_peak){.precision = "int8", .flops = 1000e9};
    if (bf16)
        p.gemm[p.n_gemm++] = (ia_pm_gemm_peak){.precision = "bf16", .flops = 500e9};
    return p;
}

static ia_adv_device cpu(const char *flags, const ia_pm_peaks *pk, double mem)
{
    ia_adv_device d = {.id = "cpu:0", .platform = "cpu", .name = "Fake CPU", .backend_built = true,
                       .memory_bytes = mem, .cores = 2, .peaks = pk};
    d.n_prec = ia__adv_cpu_precisions(flags, d.precisions);
    return d;
}

static const char *best_prec(const ia_adv_result *r) { return r->best >= 0 ? r->opt[r->best].precision : "-"; }

static void precisions_from_flags(void)
{
    char p[IA_ADV_MAX_PREC][8];
    CHECK(ia__adv_cpu_precisions("sse4_2 avx fma avx2 avx512f avx512_vnni avx512_bf16", p) == 3);
    CHECK(!strcmp(p[0], "fp32") && !strcmp(p[1], "int8") && !strcmp(p[2], "bf16"));
    CHECK(ia__adv_cpu_precisions("sse4_2 avx fma avx2", p) == 2 && !strcmp(p[1], "int8"));
    CHECK(ia__adv_cpu_precisions("neon", p) == 1 && !strcmp(p[0], "fp32"));
    CHECK(ia__adv_cpu_precisions("avx2_x avx512_bf16x", p) == 1); /* whole words only */
    CHECK(ia__adv_cpu_precisions(NULL, p) == 1);
}

static void encoder_choices(void)
{
    ia_pm_peaks full = peaks(true, true), avx2 = peaks(true, false), f32 = peaks(false, false);
    ia_adv_result r;
    ia_adv_request rq = {.arch = minilm, .context = 128};

    /* AVX-512 with VNNI and BF16: three precisions; int8 (the fastest
     * peak) wins on latency, batch 1, threads = cores. */
    ia_adv_device d1 = cpu("avx2 avx512f avx512_vnni avx512_bf16", &full, 16e9);
    CHECK_OK(ia__advise(&d1, 1, &rq, &r));
    CHECK(r.n_opts == 3 && r.best >= 0);
    CHECK_MSG(!strcmp(best_prec(&r), "int8"), "best %s", best_prec(&r));
    CHECK(r.opt[r.best].batch == 1 && r.opt[r.best].predicted && !r.opt[r.best].calibrated);
    CHECK(r.threads == 2 && r.n_reasons >= 3);
    for (int i = 0; i < r.n_opts; i++)
        CHECK(r.opt[i].usable && r.opt[i].latency_s > 0 && r.opt[i].memory_bytes > 22e6 * 1);

    /* No AVX-512: fp32 and int8, never bf16. */
    ia_adv_device d2 = cpu("sse4_2 avx fma avx2", &avx2, 16e9);
    CHECK_OK(ia__advise(&d2, 1, &rq, &r));
    CHECK(r.n_opts == 2 && !strcmp(best_prec(&r), "int8"));
    for (int i = 0; i < r.n_opts; i++)
        CHECK(strcmp(r.opt[i].precision, "bf16"));

    /* Portable CPU: fp32 only. */
    ia_adv_device d3 = cpu("neon", &f32, 16e9);
    CHECK_OK(ia__advise(&d3, 1, &rq, &r));
    CHECK(r.n_opts == 1 && !strcmp(best_prec(&r), "fp32"));

    /* Throughput, 8-token texts (batch 1 bound by the weights' bytes, 90
     * MB at 30 GB/s = 3 ms, against 0.36 GFLOP at 250 GFLOP/s = 1.4 ms):
     * a batch above 1 raises texts/s until the FLOPs bound it. */
    rq.context = 8;
    rq.throughput = true;
    CHECK_OK(ia__advise(&d3, 1, &rq, &r));
    CHECK(r.best >= 0 && r.opt[r.best].batch > 1);
    ia_adv_option thr = r.opt[r.best];

    /* A latency budget between batch 1's latency and the throughput
     * batch's: a batch in between, within the budget. */
    rq.throughput = false;
    rq.latency_budget_s = 0;
    CHECK_OK(ia__advise(&d3, 1, &rq, &r));
    double lat1 = r.opt[r.best].latency_s;
    rq.latency_budget_s = lat1 * 1.05;
    CHECK_OK(ia__advise(&d3, 1, &rq, &r));
    CHECK(r.opt[r.best].meets_budget && r.opt[r.best].latency_s <= rq.latency_budget_s);
    CHECK_MSG(r.opt[r.best].batch > 1 && r.opt[r.best].batch <= thr.batch, "batch %d (throughput's %d)",
              r.opt[r.best].batch, thr.batch);
    CHECK(r.opt[r.best].throughput > 1.5 / lat1);
    /* A budget nothing meets: the fastest, said so. */
    rq.latency_budget_s = lat1 / 10;
    CHECK_OK(ia__advise(&d3, 1, &rq, &r));
    CHECK(r.best >= 0 && !r.opt[r.best].meets_budget && r.opt[r.best].batch == 1);
    bool said = false;
    for (int i = 0; i < r.n_reasons; i++)
        said |= strstr(r.reasons[i], "no option meets") != NULL;
    CHECK(said);

    /* A calibration is used and reported: latency doubled by k. */
    rq.latency_budget_s = 0;
    rq.context = 128;
    CHECK_OK(ia__advise(&d3, 1, &rq, &r));
    lat1 = r.opt[r.best].latency_s;
    ia_pm_calib k = {.k = {2, 2, 2}, .n_runs = 6};
    d3.calib[0] = &k;
    CHECK_OK(ia__advise(&d3, 1, &rq, &r));
    CHECK(r.opt[r.best].calibrated && fabs(r.opt[r.best].latency_s - 2 * lat1) < 1e-12);
    /* fp32 calibrated 2x slower than its roofline, int8 bare: int8 is
     * recommended on its roofline, with the caution naming the 2x. */
    ia_adv_device d5 = cpu("avx2", &avx2, 16e9);
    d5.calib[0] = &k;
    CHECK_OK(ia__advise(&d5, 1, &rq, &r));
    said = false;
    for (int i = 0; i < r.n_reasons; i++)
        said |= strstr(r.reasons[i], "caution") && strstr(r.reasons[i], "(2.00x)");
    CHECK(!strcmp(best_prec(&r), "int8") && !r.opt[r.best].calibrated && said);

    /* Tiny memory: nothing fits, nothing recommended, the reason names it. */
    ia_adv_device d4 = cpu("avx2", &avx2, 50e6);
    CHECK_OK(ia__advise(&d4, 1, &rq, &r));
    CHECK(r.best == -1 && !r.opt[0].usable && strstr(r.opt[0].why, "MiB"));
    CHECK(r.n_reasons == 1 && strstr(r.reasons[0], "no device can run"));

    /* Errors name the field. */
    rq.context = 1000;
    CHECK(ia__advise(&d1, 1, &rq, &r) == IA_ERR_INVALID);
    rq.context = 0;
    CHECK(ia__advise(&d1, 1, &rq, &r) == IA_ERR_INVALID);
}

static void devices(void)
{
    ia_pm_peaks f32 = peaks(false, false);
    ia_adv_request rq = {.arch = minilm, .context = 128};
    ia_adv_result r;
    /* A CUDA GPU detected without a backend built, a Vulkan GPU built
     * (explicit only) without peaks, and the CPU: the CPU is the only one
     * predicted, so it is chosen; the others say why not. */
    ia_adv_device d[3] = {
        {.id = "cuda:0", .platform = "cuda", .memory_bytes = 24e9, .n_prec = 1, .precisions = {"fp32"}},
        {.id = "vulkan:0", .platform = "vulkan", .backend_built = true, .explicit_only = true, .memory_bytes = 8e9,
         .n_prec = 2, .precisions = {"fp32", "fp16"}},
        cpu("neon", &f32, 16e9),
    };
    CHECK_OK(ia__advise(d, 3, &rq, &r));
    CHECK(r.n_opts == 4 && r.best == 3 && r.opt[r.best].device == 2);
    CHECK(!r.opt[0].usable && strstr(r.opt[0].why, "no cuda backend"));
    CHECK(r.opt[1].usable && !r.opt[1].predicted && strstr(r.opt[1].why, "no measured"));
    /* A GPU-less machine whose CPU has no peaks measured: the CPU still
     * runs it, chosen by priority, unpredicted, said so. */
    ia_adv_device c = cpu("avx2", NULL, 16e9);
    CHECK_OK(ia__advise(&c, 1, &rq, &r));
    CHECK(r.best == 0 && !r.opt[0].predicted && r.opt[0].usable);
    CHECK(strstr(r.reasons[1], "priority"));
}

/* --device auto's choice (auto_choice): only devices auto may use, each
 * in the one precision it would compute in; the fastest predicted wins. */
static void auto_choices(void)
{
    ia_pm_peaks slow = peaks(true, false), fast = peaks(false, false);
    fast.gemm[0].flops = 10e12; /* a GPU 40x the CPU's fp32 GEMM, 30x its bandwidth */
    fast.mem_bw = 900e9;
    ia_adv_request rq = {.arch = minilm, .context = 128, .auto_choice = true};
    ia_adv_result r;
    ia_adv_device d[3] = {
        cpu("avx2", &slow, 16e9),
        {.id = "cuda:0", .platform = "cuda", .backend_built = true, .memory_bytes = 24e9, .n_prec = 2,
         .precisions = {"fp32", "fp16"}, .peaks = &fast},
        {.id = "vulkan:0", .platform = "vulkan", .backend_built = true, .explicit_only = true, .memory_bytes = 8e9,
         .n_prec = 1, .precisions = {"fp32"}, .peaks = &fast},
    };
    /* One option per device, in its own precision (the CPU's fp32, not
     * its faster int8: auto changes the device, not the numbers); the
     * named-only Vulkan device is no candidate, however fast. */
    CHECK_OK(ia__advise(d, 3, &rq, &r));
    CHECK(r.n_opts == 3 && r.best == 1 && !strcmp(best_prec(&r), "fp32"));
    CHECK(!strcmp(r.opt[0].precision, "fp32") && r.opt[0].predicted);
    CHECK(!r.opt[2].usable && strstr(r.opt[2].why, "used only when named"));
    /* Asked for int8: the CPU computes it, the GPU does not (its own, fp32). */
    rq.precision = "int8";
    CHECK_OK(ia__advise(d, 3, &rq, &r));
    CHECK(!strcmp(r.opt[0].precision, "int8") && !strcmp(r.opt[1].precision, "fp32") && r.best == 1);
    /* Without the GPU's peaks the predicted CPU wins over it. */
    d[1].peaks = NULL;
    CHECK_OK(ia__advise(d, 3, &rq, &r));
    CHECK(r.best == 0 && r.opt[1].usable && !r.opt[1].predicted);
    /* A GPU too small for the model is passed over with the reason. */
    d[1].peaks = &fast;
    d[1].memory_bytes = 10e6;
    CHECK_OK(ia__advise(d, 3, &rq, &r));
    CHECK(r.best == 0 && !r.opt[1].usable && strstr(r.opt[1].why, "MiB"));
}

static void decoder_choices(void)
{
    ia_pm_peaks f32 = peaks(false, false);
    ia_adv_result r;
    ia_adv_request rq = {.arch = smollm2, .fixed_precision = "q8_0,q4_1", .context = 2048};
    ia_adv_device d = cpu("avx2", &f32, 16e9);
    CHECK_OK(ia__advise(&d, 1, &rq, &r));
    CHECK(r.n_opts == 1 && r.best == 0 && !strcmp(r.opt[0].precision, "q8_0,q4_1"));
    CHECK(r.opt[0].batch == 1 && r.opt[0].prefill_s > r.opt[0].latency_s && r.opt[0].throughput > 0);
    /* KV cache at 2048 positions, f32: 2 (K, V) x 30 layers x 3 heads x 64
     * x 4 B x 2048 = 94 371 840 B; weights 134.5M params, matrices at
     * 0.717 B: about 100 MB. 150 MB of memory at 0.9 fits 135 MB: the
     * weights fit, weights + KV do not. */
    double kv = 2.0 * 30 * 3 * 64 * 4 * 2048;
    CHECK(r.opt[0].memory_bytes > kv);
    ia_adv_device small = cpu("avx2", &f32, 150e6);
    CHECK_OK(ia__advise(&small, 1, &rq, &r));
    CHECK_MSG(r.best == -1 && strstr(r.opt[0].why, "KV positions"), "%s", r.opt[0].why);
    rq.context = 64; /* a short context fits the same memory */
    CHECK_OK(ia__advise(&small, 1, &rq, &r));
    CHECK(r.best == 0);
    rq.fixed_precision = NULL;
    CHECK(ia__advise(&small, 1, &rq, &r) == IA_ERR_INVALID);
}

int main(void)
{
    precisions_from_flags();
    encoder_choices();
    devices();
    auto_choices();
    decoder_choices();
    return test_summary("test_benchdb_advise");
}
