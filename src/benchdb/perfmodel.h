/*
 * The performance model of the benchmark database (docs/benchmarks.md):
 * what a forward pass costs, counted from the architecture (FLOPs and
 * bytes moved per op class), the machine's measured peaks (GEMM throughput
 * per precision, memory bandwidth), and a roofline per op class summed and
 * calibrated on stored runs. Counts are exact arithmetic on the shapes of
 * the ops the engine runs (src/model/bert.c, decoder.c); what they leave
 * out (biases fused into epilogues, softmax's exponentials, the tokenizer)
 * is said where it is counted. Internal: never installed.
 */
#ifndef IA_BENCHDB_PERFMODEL_H
#define IA_BENCHDB_PERFMODEL_H

#include <stdbool.h>

#include "ipfs_accelerate/common.h"

/* ---- op counts (perfmodel.c) -------------------------------------------- */

typedef enum ia_pm_class {
    IA_PM_LINEAR,    /* matmuls with a weight (projections, FFN, LM head) */
    IA_PM_ATTENTION, /* scores and weighted values over keys (and the KV cache) */
    IA_PM_OTHER,     /* norms, activations, residual adds, rope, embeddings, pooling */
    IA_PM_N_CLASSES
} ia_pm_class;

const char *ia__pm_class_name(ia_pm_class c);

typedef struct ia_pm_arch {
    bool decoder;        /* Llama-style decoder; false: BERT-style encoder */
    int n_layers, hidden, n_heads;
    int n_kv_heads;      /* decoder; an encoder has n_heads */
    int head_dim;        /* decoder (may differ from hidden / n_heads); encoder: hidden / n_heads */
    int intermediate, vocab;
    int max_position, type_vocab; /* encoder: rows of its position and token-type tables (memory only) */
    bool tied;           /* decoder: the LM head is the token table (stored once) */
    double weight_bytes; /* bytes per matrix weight, when not 0 (a GGUF file of mixed
                            types: their average); else the precision's */
} ia_pm_arch;

typedef struct ia_pm_cost {
    double flops[IA_PM_N_CLASSES]; /* multiply-adds count 2 */
    double bytes[IA_PM_N_CLASSES]; /* moved to or from memory in one call */
    double weight_bytes;           /* resident: every parameter at its stored size */
    double act_bytes;              /* resident: the activations live at once in one call (f32) */
    double kv_bytes;               /* resident: the KV cache (f32), decoders */
} ia_pm_cost;

/* Bytes per weight of a linear layer stored in `precision`: fp32/f32 4,
 * bf16/f16 2, int8 1, q8_0 34/32, q4_1 20/32 (blocks of 32 with their
 * scales); -1 for a name not known. */
double ia__pm_weight_bytes(const char *precision);

/* An encoder (BERT: post-LayerNorm, GELU FFN, biases, mean pooling) over
 * batch sequences of seq tokens each, linear weights in precision, every
 * other parameter f32. IA_ERR_INVALID names the field at fault. */
ia_status ia__pm_encoder(const ia_pm_arch *a, const char *precision, int batch, int seq, ia_pm_cost *c);
/* A decoder (Llama: RMSNorm, rope, GQA, SwiGLU) prefilling n_tokens of one
 * sequence from an empty cache, logits for the last token only. */
ia_status ia__pm_prefill(const ia_pm_arch *a, const char *precision, int n_tokens, ia_pm_cost *c);
/* One decode step of one sequence: one new token attending to kv_len
 * positions (itself included), logits for it. */
ia_status ia__pm_decode(const ia_pm_arch *a, const char *precision, int kv_len, ia_pm_cost *c);

/* The architecture of a loaded embedding model (ia_model_get_info) or
 * decoder (its config): IA_ERR_UNSUPPORTED naming an architecture these
 * counts do not describe (gpt2, a model_type not BERT-like). */
struct ia_model_info;
struct ia_decoder_config;
ia_status ia__pm_arch_from_model(const struct ia_model_info *info, ia_pm_arch *a);
ia_status ia__pm_arch_from_decoder(const struct ia_decoder_config *c, ia_pm_arch *a);

double ia__pm_total_flops(const ia_pm_cost *c);
double ia__pm_total_bytes(const ia_pm_cost *c);

/* ---- machine peaks (peaks.c) -------------------------------------------- */

#define IA_PM_MAX_PREC 3 /* the CPU backend's fp32, int8, bf16; a GPU's fp32, fp16 */

typedef struct ia_pm_gemm_peak {
    char precision[8]; /* as the backend names it */
    double flops;      /* per second (int8: integer multiply-adds count 2 too) */
    double seconds;    /* spent measuring */
    int m, n, k;       /* the GEMM's shape: x (m, k) times W (k, n) */
} ia_pm_gemm_peak;

typedef struct ia_pm_peaks {
    int n_gemm;
    ia_pm_gemm_peak gemm[IA_PM_MAX_PREC];
    double mem_bw;         /* bytes per second, streaming read */
    double mem_bytes;      /* the buffer read */
    int threads;           /* worker threads measured with (0 asked: one per core; other devices 0) */
    char measured_at[32];  /* ISO 8601, when read from the database */
    char device[48];       /* "cpu:0", "vulkan:0"; empty: the CPU */
} ia_pm_peaks;

/* The GEMM peak of `precision` on device ("cpu", "vulkan:0"; NULL: the
 * CPU) with n_threads (the CPU's; 0: one per core): an (m x k) x (k x n)
 * matmul through the backend's own prepared linear layer, repeated for
 * about `seconds`; the CPU at 512x1024x1024, another device at the largest
 * of a doubling series whose call fits a quarter of the time.
 * IA_ERR_UNSUPPORTED when the backend computes that precision as another
 * (no VNNI, no AVX512_BF16), IA_ERR_INVALID when it does not know it. */
ia_status ia__pm_measure_gemm(const char *device, const char *precision, int n_threads, double seconds,
                              double *flops, int *m, int *n, int *k);
/* Streaming read bandwidth (bytes/s) of a buffer well above the last-level
 * cache, read by n_threads OpenMP threads (0: one per core). */
ia_status ia__pm_measure_bandwidth(int n_threads, double seconds, double *bytes_per_s, double *buffer_bytes);
/* Every peak of device (NULL: the CPU): fp32 always, int8, bf16 and fp16
 * where its backend computes them; the memory bandwidth (another device:
 * an elementwise add over up to 3 x 64 MiB of its memory). */
ia_status ia__pm_measure_peaks(const char *device, int n_threads, double seconds_each, ia_pm_peaks *p);
/* The GEMM peak of precision in p, or 0 when not measured. */
double ia__pm_peak_flops(const ia_pm_peaks *p, const char *precision);

/* ---- prediction (perfmodel.c) -------------------------------------------- */

/* Roofline seconds per class: max(flops / peak[class], bytes /
 * bandwidth); the total returned. t may be NULL. */
double ia__pm_roofline(const ia_pm_cost *c, const double peak[IA_PM_N_CLASSES], double bw,
                       double t[IA_PM_N_CLASSES]);

/* The calibration of one (model, device, precision): predicted latency
 * = sum over classes of k[c] * roofline seconds of c
 *   + k_tok * tokens + k_call.
 * 1 / k[c] is the efficiency the engine reaches on class c against the
 * roofline (a small model's attention runs far below the GEMM peak);
 * k_tok and k_call take up what no op accounts for (tokenizing, packing,
 * the thread pool's start, per token and per call).
 *
 * With each run's measured time per class (the backend's profile), k[c]
 * is fitted per class on it and k_tok, k_call on what the classes leave
 * of the latency: every coefficient a measured figure. Without, the
 * classes and k_call are fitted together on the latency (k_tok 0), and
 * classes that grow alike with the shape (linear and other both with the
 * tokens) cannot be told apart: their coefficients then describe the
 * fit, not the classes. All non-negative, least squares on relative
 * error. */
/* What a class's measured time is fitted against: the roofline's max of
 * its compute and memory times, or one of them alone (a small model's
 * attention follows its FLOPs, not the bytes, even where the roofline
 * says memory; activations that stay in cache follow neither bound). */
typedef enum ia_pm_basis { IA_PM_BASIS_ROOFLINE, IA_PM_BASIS_FLOPS, IA_PM_BASIS_BYTES } ia_pm_basis;
const char *ia__pm_basis_name(ia_pm_basis b);

typedef struct ia_pm_calib {
    double k[IA_PM_N_CLASSES], k_tok, k_call;
    ia_pm_basis basis[IA_PM_N_CLASSES]; /* per class, from the profiles (else the roofline) */
    bool per_class;    /* fitted on measured class times */
    int n_runs;        /* runs fitted */
    double rms_rel;    /* root-mean-square relative error of the latency on them */
    double mem_base;   /* bytes: the process's own (code, tokenizer, runtime) over the
                          model's weights and activations, the median over the runs
                          fitted with a peak RSS (0: none) */
} ia_pm_calib;

typedef struct ia_pm_sample {
    double t[IA_PM_N_CLASSES];    /* the roofline seconds per class */
    double tf[IA_PM_N_CLASSES];   /* its compute time: flops / peak */
    double tb[IA_PM_N_CLASSES];   /* its memory time: bytes / bandwidth */
    double tokens;                /* tokens in the call */
    double measured_s;            /* the latency measured */
    double op_s[IA_PM_N_CLASSES]; /* measured seconds per class; negative: not measured */
} ia_pm_sample;

/* Fit from n >= 1 samples (per class when every sample has op_s: each
 * class's basis the one its measured times fit best, relative error).
 * IA_ERR_INVALID names a sample that is not positive, or says no fit has
 * non-negative coefficients. */
ia_status ia__pm_calibrate(const ia_pm_sample *s, int n, ia_pm_calib *out);
/* The calibrated latency of a call: t, tf, tb as in ia_pm_sample. */
double ia__pm_predict(const ia_pm_calib *k, const double t[IA_PM_N_CLASSES], const double tf[IA_PM_N_CLASSES],
                      const double tb[IA_PM_N_CLASSES], double tokens);

/* A prediction for an encoder call of batch texts of seq tokens computed
 * in precision (fp32, int8, bf16: the linear weights' bytes and the GEMM
 * peak of that name; attention and the other ops compute in f32 whatever
 * the precision, against the fp32 peak) on a machine of peaks pk,
 * calibrated by k (NULL: the bare roofline). IA_ERR_INVALID names a
 * precision without a measured peak. */
typedef struct ia_pm_prediction {
    ia_pm_cost cost;
    double t[IA_PM_N_CLASSES]; /* roofline seconds per class */
    double tf[IA_PM_N_CLASSES], tb[IA_PM_N_CLASSES]; /* its compute and memory times */
    double roofline_s;
    double latency_s;          /* calibrated */
    double texts_per_s, tokens_per_s;
    double memory_bytes;       /* weights + activations + KV (+ k->mem_base) */
} ia_pm_prediction;

ia_status ia__pm_predict_encoder(const ia_pm_arch *a, const char *precision, const ia_pm_peaks *pk,
                                 const ia_pm_calib *k, int batch, int seq, ia_pm_prediction *out);
/* The same for a decoder: a prefill of n tokens (decode false) or one
 * decode step at KV length n. The linear layers against the precision's
 * GEMM peak where one was measured under that name, else fp32's (GGUF
 * block types run through the engine's own kernels, not measured as
 * peaks). texts_per_s is 0; tokens_per_s counts the tokens computed. */
ia_status ia__pm_predict_decoder(const ia_pm_arch *a, const char *precision, const ia_pm_peaks *pk,
                                 const ia_pm_calib *k, bool decode, int n, ia_pm_prediction *out);

#endif
