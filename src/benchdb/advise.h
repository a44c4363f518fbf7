/*
 * The advisor (`ipfs-accelerate advise`, docs/benchmarks.md): which devices
 * and precisions can run a model, and which to use. The decision is a pure
 * function of a device table (what hardware detection saw, what this build
 * can run on it, the measured peaks and the calibrations of stored runs) and
 * the model's architecture, so tests can fake the table (no AVX-512, no GPU,
 * little memory) and check the choices. The CLI builds the table from
 * ia_hardware_detect_json and the benchmark database. Internal.
 */
#ifndef IA_BENCHDB_ADVISE_H
#define IA_BENCHDB_ADVISE_H

#include <stdbool.h>

#include "benchdb/perfmodel.h"

#define IA_ADV_MAX_PREC 4
#define IA_ADV_MAX_OPTS 32
#define IA_ADV_MAX_REASONS 8

typedef struct ia_adv_device {
    char id[48];           /* "cpu:0", "vulkan:0" */
    char platform[16];     /* hardware detection's id: cpu, vulkan, cuda, ... */
    char name[128];
    bool backend_built;    /* this build has a backend for it */
    bool explicit_only;    /* never chosen by --device auto (computes part of a model): named only */
    double memory_bytes;   /* its memory (the CPU: available RAM); 0 unknown */
    int threads;           /* CPU: worker threads these peaks and runs used (0 one per core) */
    int cores;             /* CPU: physical cores, to say what threads 0 means */
    int n_prec;            /* precisions its backend computes natively, best known first */
    char precisions[IA_ADV_MAX_PREC][8];
    const ia_pm_peaks *peaks;                      /* measured; NULL: none, nothing predicted */
    const ia_pm_calib *calib[IA_ADV_MAX_PREC];     /* per precision; NULL: the bare roofline */
} ia_adv_device;

/* The precisions the CPU backend computes natively given the features its
 * probe saw (space-separated, as hardware detection names them): fp32
 * always, int8 with AVX2 (VNNI or not), bf16 with AVX512_BF16. Returns the
 * count written into p. */
int ia__adv_cpu_precisions(const char *flags, char p[IA_ADV_MAX_PREC][8]);

typedef struct ia_adv_request {
    ia_pm_arch arch;
    const char *fixed_precision; /* a decoder's file types ("q8_0,q4_1"): the only precision; NULL encoders */
    int context;                 /* encoder: tokens per text; decoder: the KV length to fit and predict */
    bool throughput;             /* most texts (tokens) per second; else the lowest latency */
    double latency_budget_s;     /* > 0: the most throughput whose call stays within it */
    int max_batch;               /* encoder batches tried: 1, 2, 4, ... up to it (0: 128) */
    double mem_headroom;         /* fraction of a device's memory usable (0: 0.9) */
    /* --device auto (docs/benchmarks.md): only devices auto may use (built,
     * not named-only), each in one precision: precision when the device
     * computes it, else its own (its first), as the backend would. */
    bool auto_choice;
    const char *precision;       /* auto_choice: the precision asked for; NULL or "auto": each device's own */
} ia_adv_request;

typedef struct ia_adv_option {
    int device;                /* index into the table */
    char precision[32];
    bool usable;               /* fits and can run */
    bool predicted, calibrated;
    int batch;                 /* chosen for the goal (encoder), 1 (decoder) */
    double latency_s;          /* a call of batch (decoder: one decode step at context) */
    double prefill_s;          /* decoder: a prefill of context tokens */
    double throughput;         /* texts/s (encoder), tokens/s of decode steps (decoder) */
    double memory_bytes;       /* weights + activations + KV at context (+ the calibrated base) */
    bool meets_budget;
    char why[256];             /* why not usable, or what the figures rest on */
} ia_adv_option;

typedef struct ia_adv_result {
    int n_opts;
    ia_adv_option opt[IA_ADV_MAX_OPTS];
    int best;                  /* into opt; -1: nothing can run the model */
    int threads;               /* recommended worker threads (CPU), 0 otherwise */
    int n_reasons;
    char reasons[IA_ADV_MAX_REASONS][256];
} ia_adv_result;

/* Fill out: one option per (device, precision), usable ones with their
 * predicted figures, and the recommendation with its reasons in plain
 * words. Predicted options rank above unpredicted ones (no peaks for the
 * device); among them the goal decides (throughput, or latency within the
 * budget, else the lowest). IA_ERR_INVALID names a bad request field. */
ia_status ia__advise(const ia_adv_device *dev, int n_dev, const ia_adv_request *rq, ia_adv_result *out);

#endif
