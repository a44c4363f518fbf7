/*
 * The performance model's arithmetic (src/benchdb/perfmodel.c) against
 * hand calculation: op counts for all-MiniLM-L6-v2's shapes (a BERT
 * encoder) and SmolLM2-135M's (a Llama decoder), each expected figure
 * written out below as the arithmetic on the shapes, not through the
 * code's helpers; the parameter totals against the models' published
 * sizes; the roofline; the calibration's fit on samples made from known
 * coefficients; errors naming the input at fault; the peaks' table in
 * the database (stored, read back, keyed by the hardware fingerprint and
 * threads). Only the last check times anything: the peak measurements
 * run briefly and must give positive figures.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>
#include <unistd.h>

#include "benchdb/benchdb.h"
#include "benchdb/perfmodel.h"
#include "ipfs_accelerate/model.h"
#include "model/decoder.h"
#include "test.h"

#define REL_EQ(a, b)                                                                                      \
    CHECK_MSG(fabs((a) - (b)) <= 1e-12 * fabs(b), "%s = %.17g, expected %s = %.17g", #a, (double)(a), #b, \
              (double)(b))

/* all-MiniLM-L6-v2: 6 layers, hidden 384, 12 heads, intermediate 1536,
 * vocabulary 30522, 512 positions, 2 token types. Batch 2 x 128 tokens:
 * T = 256 token rows. Per layer, the linear weights are
 *   QKV 384 x 1152 + output 384 x 384 + FFN 384 x 1536 + 1536 x 384
 *   = 4 * 384^2 + 2 * 384 * 1536 = 589824 + 1179648 = 1769472. */
static void minilm(void)
{
    ia_pm_arch a = {.n_layers = 6, .hidden = 384, .n_heads = 12, .n_kv_heads = 12, .head_dim = 32,
                    .intermediate = 1536, .vocab = 30522, .max_position = 512, .type_vocab = 2};
    ia_pm_cost c;
    CHECK_OK(ia__pm_encoder(&a, "fp32", 2, 128, &c));
    /* 2 FLOPs per multiply-add: 2 * 256 rows * 6 layers * 1769472 = 5435817984. */
    REL_EQ(c.flops[IA_PM_LINEAR], 5435817984.0);
    REL_EQ(c.flops[IA_PM_LINEAR], 2.0 * 256 * 6 * 1769472);
    /* Weights 4 B each, biases (1152 + 384 + 1536 + 384 = 3456 f32), and
     * each matmul's input and output rows in f32:
     * (384 + 1152) + (384 + 384) + (384 + 1536) + (1536 + 384) = 6144 per row.
     * 6 * (4 * 1769472 + 4 * 3456 + 4 * 256 * 6144) = 6 * 13383168 = 80299008. */
    REL_EQ(c.bytes[IA_PM_LINEAR], 6.0 * (4 * 1769472 + 4 * 3456 + 4 * 256 * 6144));
    REL_EQ(c.bytes[IA_PM_LINEAR], 80299008.0);
    /* QK^T and PV within each sequence: 2 * 2 * batch 2 * 128^2 * 384 per
     * layer = 50331648; 6 layers 301989888. */
    REL_EQ(c.flops[IA_PM_ATTENTION], 301989888.0);
    /* Q, K, V read and the context written, f32: 4 * 256 * 4 * 384 = 1572864
     * per layer; 6 layers 9437184. */
    REL_EQ(c.bytes[IA_PM_ATTENTION], 9437184.0);
    /* Elementwise, over T * H = 98304 values: embeddings' sum 2 and
     * LayerNorm 8 (983040); per layer two LayerNorms 16 * 98304 = 1572864
     * and GELU 8 * 256 * 1536 = 3145728 (4718592, x6 = 28311552); mean
     * pooling 98304. Total 983040 + 28311552 + 98304 = 29392896. */
    REL_EQ(c.flops[IA_PM_OTHER], 29392896.0);
    /* Bytes: three embedding rows read and the sum written (4 * 98304 * 4 =
     * 1572864), its LayerNorm read and written (786432) with gamma and beta
     * (3072); per layer two LayerNorms each reading x and the residual and
     * writing x (2 * 4 * 98304 * 3 = 2359296) with their parameters (6144),
     * x6 = 14192640; pooling reads 393216. 1572864 + 786432 + 3072 +
     * 14192640 + 393216 = 16948224. */
    REL_EQ(c.bytes[IA_PM_OTHER], 16948224.0);
    /* Parameters: embeddings 384 * (30522 + 512 + 2) = 11917824 and their
     * LayerNorm 768; per layer 1769472 + 3456 biases + 1536 LayerNorm =
     * 1774464, x6 = 10646784. 22565376 parameters: the published 22713216
     * less the pooler (384 * 384 + 384 = 147840) sentence-transformers
     * does not use. At 4 B: 90261504 bytes. */
    REL_EQ(c.weight_bytes, 4.0 * 22565376);
    REL_EQ(22565376.0 + 147840, 22713216.0);
    /* Live activations: 4 * 256 * (5 * 384 + 1536) = 3538944. */
    REL_EQ(c.act_bytes, 3538944.0);
    REL_EQ(c.kv_bytes, 0.0);

    /* int8 weights: only the linear weights shrink, to 1 B each:
     * 6 * 1769472 * 3 bytes fewer. */
    ia_pm_cost c8;
    CHECK_OK(ia__pm_encoder(&a, "int8", 2, 128, &c8));
    REL_EQ(c.bytes[IA_PM_LINEAR] - c8.bytes[IA_PM_LINEAR], 6.0 * 1769472 * 3);
    REL_EQ(c8.flops[IA_PM_LINEAR], c.flops[IA_PM_LINEAR]);
}

/* SmolLM2-135M: 30 layers, hidden 576, 9 heads and 3 KV heads of 64,
 * intermediate 1536, vocabulary 49152, tied embeddings. Per layer:
 *   Q 576 x 576 = 331776, K and V 576 x 192 = 110592 each, O 331776:
 *   884736; gate, up 576 x 1536 and down 1536 x 576: 3 * 884736 = 2654208;
 *   3538944 in all. LM head 576 x 49152 = 28311552. */
static void smollm2(void)
{
    ia_pm_arch a = {.decoder = true, .n_layers = 30, .hidden = 576, .n_heads = 9, .n_kv_heads = 3,
                    .head_dim = 64, .intermediate = 1536, .vocab = 49152, .tied = true};
    ia_pm_cost c;
    /* Prefill of 100 tokens, bf16 weights. */
    CHECK_OK(ia__pm_prefill(&a, "bf16", 100, &c));
    /* 2 * 100 * 30 * 3538944 + 2 * 1 * 28311552 (the last token's logits)
     * = 21233664000 + 56623104 = 21290287104. */
    REL_EQ(c.flops[IA_PM_LINEAR], 21290287104.0);
    /* Weights 2 B: 30 * 3538944 * 2 + 28311552 * 2 = 268959744; rows in f32,
     * per token and layer (576 + 576) + 2 * (576 + 192) + (576 + 576) +
     * 2 * (576 + 1536) + (1536 + 576) = 10176 values: 4 * 100 * 30 * 10176 =
     * 122112000; the head's row in and out 4 * (576 + 49152) = 198912.
     * 268959744 + 122112000 + 198912 = 391270656. */
    REL_EQ(c.bytes[IA_PM_LINEAR], 391270656.0);
    /* Causal: token i sees i + 1 keys, sum 100 * 101 / 2 = 5050 query-key
     * pairs per head; QK^T and PV over 9 heads of 64: 2 * 2 * 5050 * 576 =
     * 11635200 per layer, 30 layers 349056000. */
    REL_EQ(c.flops[IA_PM_ATTENTION], 349056000.0);
    /* f32: Q read and output written 2 * 100 * 576, K and V written 2 * 100
     * * 192, the cache's 100 positions of K and V read 2 * 100 * 192:
     * 4 * (115200 + 38400 + 38400) = 768000 per layer, 23040000. */
    REL_EQ(c.bytes[IA_PM_ATTENTION], 23040000.0);
    /* Resident: the token table once (tied) 49152 * 576 * 2 = 56623104,
     * layers 30 * 3538944 * 2 = 212336640, RMSNorm weights f32
     * 4 * (30 * 2 * 576 + 576) = 140544: 269100288 bytes. In parameters:
     * 28311552 + 106168320 + 35136 = 134515008, SmolLM2-135M's published
     * 134.5M. */
    REL_EQ(c.weight_bytes, 269100288.0);
    REL_EQ(28311552.0 + 30 * 3538944 + 30 * 2 * 576 + 576, 134515008.0);
    /* KV cache: 100 positions * K and V * 192 * 30 layers * 4 B = 4608000. */
    REL_EQ(c.kv_bytes, 4608000.0);

    /* One decode step at KV length 1024, q8_0 weights (34 B per 32). */
    CHECK_OK(ia__pm_decode(&a, "q8_0", 1024, &c));
    /* 2 * 1 * (30 * 3538944 + 28311552) = 268959744. */
    REL_EQ(c.flops[IA_PM_LINEAR], 268959744.0);
    /* 1024 keys per head: 2 * 2 * 1024 * 576 * 30 = 70778880. */
    REL_EQ(c.flops[IA_PM_ATTENTION], 70778880.0);
    /* Weights (30 * 3538944 + 28311552) * 34 / 32 = 142884864 read; rows
     * 4 * (30 * 10176 + 576 + 49152) = 1420032. */
    REL_EQ(c.bytes[IA_PM_LINEAR], (30.0 * 3538944 + 28311552) * 34 / 32 + 4.0 * (30 * 10176 + 576 + 49152));
    /* Attention reads the cache: 4 * (2 * 576 + 2 * 192 + 2 * 1024 * 192) =
     * 1579008 per layer, 47370240: decode is memory-bound. */
    REL_EQ(c.bytes[IA_PM_ATTENTION], 47370240.0);
    REL_EQ(c.kv_bytes, 4.0 * 2 * 1024 * 192 * 30);
    /* A file of mixed types gives its average bytes per weight: the same
     * counts as the precision of that size. */
    ia_pm_cost avg;
    a.weight_bytes = 34.0 / 32;
    CHECK_OK(ia__pm_decode(&a, "fp32", 1024, &avg));
    REL_EQ(avg.bytes[IA_PM_LINEAR], c.bytes[IA_PM_LINEAR]);
    REL_EQ(avg.weight_bytes, c.weight_bytes);
    a.weight_bytes = 0;

    /* Predictions: decode against the bandwidth, a storage type's
     * linear layers against the fp32 peak, int8 only with its own. */
    ia_pm_peaks pk = {.n_gemm = 1, .mem_bw = 2e10};
    pk.gemm[0] = (ia_pm_gemm_peak){"fp32", 2e11, 0.5, 512, 1024, 1024};
    ia_pm_prediction pd;
    CHECK_OK(ia__pm_predict_decoder(&a, "q8_0", &pk, NULL, true, 1024, &pd));
    REL_EQ(pd.t[IA_PM_LINEAR], fmax(c.flops[IA_PM_LINEAR] / 2e11, c.bytes[IA_PM_LINEAR] / 2e10));
    REL_EQ(pd.t[IA_PM_LINEAR], c.bytes[IA_PM_LINEAR] / 2e10); /* memory-bound */
    REL_EQ(pd.latency_s, pd.roofline_s);
    REL_EQ(pd.tokens_per_s, 1 / pd.latency_s);
    REL_EQ(pd.memory_bytes, c.weight_bytes + c.act_bytes + c.kv_bytes);
    CHECK(ia__pm_predict_decoder(&a, "int8", &pk, NULL, false, 64, &pd) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "int8");

    /* A prefill of one token is a decode step at KV length 1. */
    ia_pm_cost p1, d1;
    CHECK_OK(ia__pm_prefill(&a, "fp32", 1, &p1));
    CHECK_OK(ia__pm_decode(&a, "fp32", 1, &d1));
    CHECK(!memcmp(&p1, &d1, sizeof p1));
}

static void roofline_and_errors(void)
{
    ia_pm_cost c = {.flops = {100, 10, 1}, .bytes = {10, 50, 20}};
    double t[IA_PM_N_CLASSES];
    /* 10 FLOP/s (attention 0.5), 5 B/s: linear max(10, 2) = 10, attention
     * max(20, 10) = 20, other max(0.1, 4) = 4. */
    const double peak[3] = {10, 0.5, 10};
    REL_EQ(ia__pm_roofline(&c, peak, 5, t), 34.0);
    REL_EQ(t[IA_PM_LINEAR], 10.0);
    REL_EQ(t[IA_PM_ATTENTION], 20.0);
    REL_EQ(t[IA_PM_OTHER], 4.0);

    ia_pm_arch a = {.n_layers = 6, .hidden = 384, .n_heads = 12, .n_kv_heads = 12, .head_dim = 32,
                    .intermediate = 1536, .vocab = 30522};
    CHECK(ia__pm_encoder(&a, "fp8", 1, 8, &c) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "\"fp8\"");
    CHECK(ia__pm_encoder(&a, "fp32", 0, 8, &c) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "batch 0");
    a.intermediate = 0;
    CHECK(ia__pm_encoder(&a, "fp32", 1, 8, &c) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "intermediate is 0");
    a.intermediate = 1536;
    CHECK(ia__pm_prefill(&a, "fp32", 8, &c) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "not a decoder");
    a.decoder = true;
    a.n_kv_heads = 5;
    CHECK(ia__pm_decode(&a, "fp32", 8, &c) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "n_kv_heads 5");
    REL_EQ(ia__pm_weight_bytes("q4_1"), 0.625);
    REL_EQ(ia__pm_weight_bytes("q8_0"), 1.0625);
}

/* Samples made exactly from k = {1.5, 4, 10} (linear, attention, other),
 * 2 us per token and 1 ms per call. Without measured class times the
 * classes and the call are found from the latency alone (tokens left
 * out, so none here); with them, every coefficient; from one sample, a
 * single term; a non-positive sample is refused by its index. */
static void calibration(void)
{
    ia_pm_sample s[6];
    const double t[6][3] = {{1e-3, 1e-5, 2e-5},  {5e-3, 8e-5, 1e-4}, {2e-2, 1e-3, 4e-4},
                            {1e-3, 4e-4, 1e-5},  {4e-2, 2e-4, 9e-4}, {8e-3, 3e-3, 2e-4}};
    const double tok[6] = {16, 64, 512, 32, 1024, 256}, k3[3] = {1.5, 4, 10};
    for (int i = 0; i < 6; i++) {
        memcpy(s[i].t, t[i], sizeof t[i]);
        memcpy(s[i].tf, t[i], sizeof t[i]); /* compute-bound: tb 0 */
        s[i].tokens = tok[i];
        s[i].measured_s = 1.5 * t[i][0] + 4 * t[i][1] + 10 * t[i][2] + 1e-3;
        for (int c = 0; c < 3; c++)
            s[i].op_s[c] = -1;
    }
    ia_pm_calib k;
    CHECK_OK(ia__pm_calibrate(s, 6, &k));
    CHECK_MSG(!k.per_class && fabs(k.k[0] - 1.5) < 1e-6 && fabs(k.k[1] - 4) < 1e-6 && fabs(k.k[2] - 10) < 1e-6 &&
                  k.k_tok == 0 && fabs(k.k_call - 1e-3) < 1e-9,
              "k = %g %g %g %g %g", k.k[0], k.k[1], k.k[2], k.k_tok, k.k_call);
    CHECK(k.n_runs == 6 && k.rms_rel < 1e-6);
    const double tp[3] = {0.1, 0.01, 0.001};
    const double zero[3] = {0};
    CHECK(fabs(ia__pm_predict(&k, tp, tp, zero, 100) - (1.5 * 0.1 + 4 * 0.01 + 10 * 0.001 + 1e-3)) < 1e-6);

    for (int i = 0; i < 6; i++) {
        for (int c = 0; c < 3; c++)
            s[i].op_s[c] = k3[c] * t[i][c];
        s[i].measured_s += 2e-6 * tok[i];
    }
    CHECK_OK(ia__pm_calibrate(s, 6, &k));
    CHECK_MSG(k.per_class && fabs(k.k[0] - 1.5) < 1e-9 && fabs(k.k[1] - 4) < 1e-9 && fabs(k.k[2] - 10) < 1e-9 &&
                  fabs(k.k_tok - 2e-6) < 1e-12 && fabs(k.k_call - 1e-3) < 1e-9,
              "k = %g %g %g %g %g", k.k[0], k.k[1], k.k[2], k.k_tok, k.k_call);
    CHECK(k.rms_rel < 1e-9);
    CHECK(fabs(ia__pm_predict(&k, tp, tp, zero, 100) - (1.5 * 0.1 + 4 * 0.01 + 10 * 0.001 + 2e-6 * 100 + 1e-3)) <
          1e-9);
    CHECK(k.basis[0] == IA_PM_BASIS_ROOFLINE && k.basis[1] == IA_PM_BASIS_ROOFLINE); /* ties: the roofline */

    /* Attention measured in proportion to its memory time, which the
     * roofline's max hides where compute is larger: the bytes basis. */
    ia_pm_sample a[6];
    memcpy(a, s, sizeof a);
    const double tb_att[6] = {1e-6, 5e-6, 9e-6, 2e-6, 3e-6, 7e-6};
    for (int i = 0; i < 6; i++) {
        a[i].tb[1] = tb_att[i];
        a[i].op_s[1] = 50 * tb_att[i];
        a[i].measured_s = a[i].op_s[0] + a[i].op_s[1] + a[i].op_s[2] + 2e-6 * tok[i] + 1e-3;
    }
    CHECK_OK(ia__pm_calibrate(a, 6, &k));
    CHECK_MSG(k.basis[1] == IA_PM_BASIS_BYTES && fabs(k.k[1] - 50) < 1e-6 && k.basis[0] == IA_PM_BASIS_ROOFLINE,
              "basis %s, k %g", ia__pm_basis_name(k.basis[1]), k.k[1]);
    CHECK(k.rms_rel < 1e-9);

    for (int c = 0; c < 3; c++)
        s[0].op_s[c] = -1;
    CHECK_OK(ia__pm_calibrate(s, 1, &k));
    int nonzero = (k.k[0] > 0) + (k.k[1] > 0) + (k.k[2] > 0) + (k.k_tok > 0) + (k.k_call > 0);
    CHECK(!k.per_class && nonzero == 1 && k.rms_rel < 1e-9);
    s[2].measured_s = 0;
    CHECK(ia__pm_calibrate(s, 6, &k) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "run 2");
}

/* The architecture as the engine reports it: MiniLM's ia_model_info and
 * SmolLM2's decoder config give the shapes counted above. */
static void arch_from_engine(void)
{
    ia_model_info info = {.path = "minilm", .architecture = "bert", .n_layers = 6, .n_heads = 12,
                          .hidden_size = 384, .intermediate_size = 1536, .vocab_size = 30522,
                          .max_position = 512};
    ia_pm_arch a;
    CHECK_OK(ia__pm_arch_from_model(&info, &a));
    CHECK(!a.decoder && a.head_dim == 32 && a.n_kv_heads == 12 && a.type_vocab == 2 && a.intermediate == 1536);
    info.architecture = "t5";
    CHECK(ia__pm_arch_from_model(&info, &a) == IA_ERR_UNSUPPORTED);
    CHECK_STR_CONTAINS(ia_errmsg(), "\"t5\"");
    ia_decoder_config dc = {.arch = "llama", .kind = IA_DEC_LLAMA, .n_vocab = 49152, .n_embd = 576, .n_layer = 30,
                            .n_head = 9, .n_head_kv = 3, .head_dim = 64, .n_ff = 1536, .tied_embeddings = true};
    CHECK_OK(ia__pm_arch_from_decoder(&dc, &a));
    CHECK(a.decoder && a.n_kv_heads == 3 && a.head_dim == 64 && a.tied);
    dc.kind = IA_DEC_GPT2;
    CHECK(ia__pm_arch_from_decoder(&dc, &a) == IA_ERR_UNSUPPORTED);
}

static void peaks_db(void)
{
    char dir[] = "/tmp/ia-perfmodel-XXXXXX", path[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/bench.db", dir);
    ia_benchdb *db;
    CHECK_OK(ia__benchdb_open(path, &db));
    if (!db)
        return;
    ia_bench_hardware hw = {.cpu_model = "Test CPU", .cpu_vendor = "Test", .arch = "x86_64", .cpu_flags = "avx2",
                            .cores = 2, .logical_cpus = 2, .memory_bytes = 1 << 30, .gpus = "[]"};
    ia_pm_peaks p = {.n_gemm = 2, .mem_bw = 2e10, .mem_bytes = 1 << 28, .threads = 0};
    p.gemm[0] = (ia_pm_gemm_peak){"fp32", 1e11, 0.5, 512, 1024, 1024};
    p.gemm[1] = (ia_pm_gemm_peak){"int8", 3e11, 0.5, 512, 1024, 1024};
    ia_pm_peaks q;
    CHECK(ia__benchdb_peaks_get(db, &hw, NULL, 0, &q) == IA_ERR_NOT_FOUND); /* no such machine yet */
    CHECK_STR_CONTAINS(ia_errmsg(), "Test CPU");
    CHECK_OK(ia__benchdb_peaks_put(db, &hw, "0.0.0-test", &p));
    CHECK_OK(ia__benchdb_peaks_get(db, &hw, NULL, 0, &q));
    CHECK(q.n_gemm == 2 && q.mem_bw == 2e10 && q.mem_bytes == 1 << 28 && q.measured_at[0]);
    CHECK(ia__pm_peak_flops(&q, "fp32") == 1e11 && ia__pm_peak_flops(&q, "int8") == 3e11);
    CHECK(ia__pm_peak_flops(&q, "bf16") == 0 && q.gemm[0].m == 512);
    CHECK(ia__benchdb_peaks_get(db, &hw, NULL, 4, &q) == IA_ERR_NOT_FOUND); /* measured with 0 threads only */
    CHECK_STR_CONTAINS(ia_errmsg(), "4 threads");
    p.gemm[0].flops = 2e11; /* a remeasurement replaces */
    CHECK_OK(ia__benchdb_peaks_put(db, &hw, "0.0.0-test", &p));
    CHECK_OK(ia__benchdb_peaks_get(db, &hw, NULL, 0, &q));
    CHECK(ia__pm_peak_flops(&q, "fp32") == 2e11 && !strcmp(q.device, "cpu:0"));
    /* A GPU's peaks, keyed by its device, beside the CPU's. */
    CHECK(ia__benchdb_peaks_get(db, &hw, "vulkan:0", 0, &q) == IA_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(ia_errmsg(), "vulkan:0");
    ia_pm_peaks g = {.n_gemm = 2, .mem_bw = 9e11, .mem_bytes = 3 << 26, .device = "vulkan:0"};
    g.gemm[0] = (ia_pm_gemm_peak){"fp32", 5e13, 0.5, 4096, 4096, 4096};
    g.gemm[1] = (ia_pm_gemm_peak){"fp16", 2e14, 0.5, 4096, 4096, 4096};
    CHECK_OK(ia__benchdb_peaks_put(db, &hw, "0.0.0-test", &g));
    CHECK_OK(ia__benchdb_peaks_get(db, &hw, "vulkan:0", 0, &q));
    CHECK(ia__pm_peak_flops(&q, "fp16") == 2e14 && q.mem_bw == 9e11 && !strcmp(q.device, "vulkan:0"));
    CHECK_OK(ia__benchdb_peaks_get(db, &hw, NULL, 0, &q));
    CHECK(ia__pm_peak_flops(&q, "fp32") == 2e11 && ia__pm_peak_flops(&q, "fp16") == 0);
    ia__benchdb_close(db);
    unlink(path);
    char side[300];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    rmdir(dir);

    double f = 0, bw = 0, bytes = 0;
    int m, n, k;
    CHECK_OK(ia__pm_measure_gemm(NULL, "fp32", 1, 0.01, &f, &m, &n, &k));
    CHECK(f > 0 && isfinite(f) && m > 0 && n > 0 && k > 0);
    CHECK(ia__pm_measure_gemm(NULL, "fp64", 1, 0.01, &f, &m, &n, &k) == IA_ERR_INVALID);
    CHECK(ia__pm_measure_gemm("nosuch:0", "fp32", 1, 0.01, &f, &m, &n, &k) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "nosuch:0");
    CHECK(ia__pm_measure_gemm("cpu:3", "fp32", 1, 0.01, &f, &m, &n, &k) == IA_ERR_NOT_FOUND);
    CHECK_OK(ia__pm_measure_bandwidth(1, 0.01, &bw, &bytes));
    CHECK(bw > 0 && isfinite(bw) && bytes >= 256.0 * 1024 * 1024);
}

int main(void)
{
    peaks_db();
    arch_from_engine();
    minilm();
    smollm2();
    roofline_and_errors();
    calibration();
    return test_summary("test_benchdb_perfmodel");
}
