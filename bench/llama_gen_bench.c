/*
 * llama.cpp's side of `make bench-generate`: the same measurements as
 * bench/gen_bench.c through llama.cpp's C API, on the same token ids, the
 * same GGUF file and the same threads. Not part of the product build:
 * bench/generate.py compiles it against the llama.h of the very release
 * whose libllama it links (node-llama-cpp's prebuilt binaries, whose npm
 * package carries that release's source; or llama-cpp-python's build with
 * its vendored headers). Only the fields every recent release has are set
 * on top of llama_*_default_params(): threads, context and batch sizes.
 * Everything else (KV cache type, flash attention...) is llama.cpp's
 * default.
 *
 * Usage: llama_gen_bench --model F.gguf --ids F [--backends DIR]
 *                        [--decode N] [--repeat R] [--threads T]
 *                        [--streams S [--prompt-tokens P]]
 *   --backends DIR: load ggml's backends (the CPU variants) from DIR, for
 *   builds made with GGML_BACKEND_DL (node-llama-cpp's).
 * Prints one JSON object on stdout, the same fields as ia_gen_bench.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llama.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void quiet(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

static int32_t *read_ids(const char *path, int *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    int cap = 1024, k = 0;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    long v;
    while (ids && fscanf(f, "%ld", &v) == 1) {
        if (k == cap && !(ids = realloc(ids, (size_t)(cap *= 2) * sizeof *ids)))
            break;
        ids[k++] = (int32_t)v;
    }
    fclose(f);
    if (!ids || !k) {
        fprintf(stderr, "llama_gen_bench: no token ids in %s\n", path);
        exit(1);
    }
    *n = k;
    return ids;
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static void print_times(const char *name, const double *t, int n)
{
    printf("\"%s\": [", name);
    for (int i = 0; i < n; i++)
        printf("%s%.6f", i ? ", " : "", t[i]);
    printf("]");
}

/* Peak RSS of this process: VmHWM, not getrusage's ru_maxrss, which Linux
 * carries over an exec from the parent (a big Python driver). */
static long max_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

/* Put tokens[0..n) of sequence seq at positions pos.. into b (appending);
 * logits only for the last when want_last. */
static void batch_add(struct llama_batch *b, const int32_t *tokens, int n, int pos, int seq, int want_last)
{
    for (int i = 0; i < n; i++) {
        const int k = b->n_tokens++;
        b->token[k] = tokens[i];
        b->pos[k] = pos + i;
        b->n_seq_id[k] = 1;
        b->seq_id[k][0] = seq;
        b->logits[k] = want_last && i == n - 1;
    }
}

static void decode(struct llama_context *ctx, struct llama_batch *b, const char *what)
{
    const int rc = llama_decode(ctx, *b);
    if (rc) {
        fprintf(stderr, "llama_gen_bench: llama_decode (%s): %d\n", what, rc);
        exit(1);
    }
    llama_synchronize(ctx);
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *ids_file = NULL, *backends = NULL;
    int threads = 2, n_decode = 128, repeat = 3, n_seq = 0, prompt = 32;
    static const struct option opts[] = {
        {"model", 1, 0, 'm'}, {"ids", 1, 0, 'i'}, {"backends", 1, 0, 'b'}, {"threads", 1, 0, 't'},
        {"decode", 1, 0, 'n'}, {"repeat", 1, 0, 'r'}, {"streams", 1, 0, 's'}, {"prompt-tokens", 1, 0, 'p'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'i': ids_file = optarg; break;
        case 'b': backends = optarg; break;
        case 't': threads = (int)strtol(optarg, NULL, 10); break;
        case 'n': n_decode = (int)strtol(optarg, NULL, 10); break;
        case 'r': repeat = (int)strtol(optarg, NULL, 10); break;
        case 's': n_seq = (int)strtol(optarg, NULL, 10); break;
        case 'p': prompt = (int)strtol(optarg, NULL, 10); break;
        default: return 2;
        }
    }
    if (!model_path || !ids_file || repeat < 1 || n_decode < 1 || threads < 1 || n_seq < 0 || n_seq > 64) {
        fprintf(stderr, "usage: llama_gen_bench --model F.gguf --ids F [--backends DIR] [--decode N] [--repeat R] "
                        "[--threads T] [--streams S [--prompt-tokens P]]\n");
        return 2;
    }
    int n;
    int32_t *ids = read_ids(ids_file, &n);
    if (n_seq && prompt + n_seq > n) {
        fprintf(stderr, "llama_gen_bench: --streams %d with --prompt-tokens %d needs more than %d ids\n", n_seq,
                prompt, n);
        return 2;
    }

    llama_log_set(quiet, NULL);
    if (backends)
        ggml_backend_load_all_from_path(backends);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(model_path, mp);
    if (!model) {
        fprintf(stderr, "llama_gen_bench: cannot load %s\n", model_path);
        return 1;
    }
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    const int n_streams = n_seq ? n_seq : 1, n_prompt = n_seq ? prompt : n;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(n_streams * (n_prompt + n_decode + 1));
    cp.n_batch = cp.n_ubatch = (uint32_t)(n_prompt > n_streams ? n_prompt : n_streams);
    cp.n_seq_max = (uint32_t)n_streams;
    cp.n_threads = cp.n_threads_batch = threads;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "llama_gen_bench: cannot create a context\n");
        return 1;
    }
    struct llama_batch b = llama_batch_init((int32_t)(n_prompt > n_streams ? n_prompt : n_streams), 0, n_streams);
    double *pre = calloc((size_t)repeat, sizeof *pre), *dec = calloc((size_t)repeat, sizeof *dec);
    int32_t *tok = calloc((size_t)n_streams, sizeof *tok);
    int gen[16] = {0};
    for (int r = -1; r < repeat; r++) { /* r = -1: warm-up */
        const int steps = r < 0 ? (n_decode < 8 ? n_decode : 8) : n_decode;
        llama_memory_clear(llama_get_memory(ctx), true);
        /* prefill: one stream, the whole prompt; streams: each its own
         * prompt (ids shifted by i), one at a time as ours does */
        const double t0 = now();
        for (int i = 0; i < n_streams; i++) {
            b.n_tokens = 0;
            batch_add(&b, ids + (n_seq ? i : 0), n_prompt, 0, i, 1);
            decode(ctx, &b, "prefill");
            tok[i] = argmax(llama_get_logits_ith(ctx, -1), n_vocab);
        }
        const double t1 = now();
        for (int k = 0; k < steps; k++) {
            b.n_tokens = 0;
            for (int i = 0; i < n_streams; i++)
                batch_add(&b, &tok[i], 1, n_prompt + k, i, 1);
            if (r == 0 && !n_seq && k < 16)
                gen[k] = tok[0];
            decode(ctx, &b, "decode");
            for (int i = 0; i < n_streams; i++)
                tok[i] = argmax(llama_get_logits_ith(ctx, i), n_vocab);
        }
        if (r >= 0) {
            pre[r] = t1 - t0;
            dec[r] = now() - t1;
        }
    }
    if (n_seq) {
        printf("{\"engine\": \"llama.cpp\", \"streams\": %d, \"prompt_tokens\": %d, \"decode_tokens\": %d, ", n_seq,
               prompt, n_decode);
        print_times("decode_s", dec, repeat);
        printf(", \"max_rss_kb\": %ld}\n", max_rss_kb());
    } else {
        printf("{\"engine\": \"llama.cpp\", \"prompt_tokens\": %d, \"decode_tokens\": %d, ", n, n_decode);
        print_times("prefill_s", pre, repeat);
        printf(", ");
        print_times("decode_s", dec, repeat);
        printf(", \"first_tokens\": [");
        for (int i = 0; i < 16 && i < n_decode; i++)
            printf("%s%d", i ? ", " : "", gen[i]);
        printf("], \"max_rss_kb\": %ld, \"n_ctx\": %u, \"system_info\": \"", max_rss_kb(), llama_n_ctx(ctx));
        for (const char *p = llama_print_system_info(); *p; p++) /* what the CPU backend was built for */
            if (*p >= ' ' && *p != '"' && *p != '\\')
                putchar(*p);
        printf("\"}\n");
    }
    llama_batch_free(b);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    free(pre);
    free(dec);
    free(tok);
    free(ids);
    return 0;
}
