/*
 * Our engine's side of `make bench-generate` (bench/generate.py drives it):
 * text generation timed inside the process, on token ids the driver gives,
 * so that llama.cpp (bench/llama_gen_bench.c) computes the same tokens.
 * Prefill is one ia__session_eval over the whole prompt, decode is one
 * ia__session_eval per token after a greedy pick (argmax, as the llama.cpp
 * harness does); neither tokenization nor text streaming is in the times.
 * Prints one JSON object on stdout.
 *
 * Usage: ia_gen_bench --model F.gguf MODE [--threads T] [--device D]
 *   --tokenize TEXT_FILE --first N --ids-out F [--text-out F]
 *        the first N token ids of the text (no specials added) into F, one
 *        line, space-separated, and their text into --text-out
 *   --ids F [--decode N] [--repeat R]
 *        single stream: a warm-up, then R times: prefill all of F's ids,
 *        then N greedy tokens; times of each, the first tokens generated,
 *        peak RSS (getrusage), the file's size and the KV cache's bytes,
 *        the backend that computed (--device: cpu, the default, cuda...)
 *   --ids F --streams S [--prompt-tokens P] [--decode N] [--repeat R]
 *        S sessions of one decoder (continuous batching's engine path):
 *        each prefilled with its own P ids of F, then N steps of one
 *        ia__session_eval_batch carrying one token of every session
 *   --ids F --prefix SYS_TOKENS [--repeat R]
 *        the prefix cache through ia__lm_generate on one session: the first
 *        SYS_TOKENS ids plus a 16-token "user" tail, then the same prefix
 *        with another tail (the session is rewound to the common prefix);
 *        first-token times of both (R rounds, fresh session each)
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "model/lm.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, ia_status rc)
{
    fprintf(stderr, "ia_gen_bench: %s: %s: %s\n", what, ia_strerror(rc), ia_errmsg());
    exit(1);
}

static long parse_long(const char *s, const char *name)
{
    char *end;
    const long v = strtol(s, &end, 10);
    if (end == s || *end || v < 0) {
        fprintf(stderr, "ia_gen_bench: bad %s \"%s\"\n", name, s);
        exit(2);
    }
    return v;
}

/* A whole file, NUL-terminated (caller frees); *len its size. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    size_t n = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (cap - n < 2 && !(buf = realloc(buf, cap *= 2)))
            break;
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "ia_gen_bench: out of memory reading %s\n", path);
        exit(1);
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Whitespace-separated token ids from a file. */
static int32_t *read_ids(const char *path, int *n)
{
    size_t len;
    char *text = read_file(path, &len);
    int32_t *ids = malloc((len / 2 + 1) * sizeof *ids);
    int k = 0;
    for (char *p = text, *end; ids; p = end) {
        const long v = strtol(p, &end, 10);
        if (end == p)
            break;
        ids[k++] = (int32_t)v;
    }
    free(text);
    if (!ids || !k) {
        fprintf(stderr, "ia_gen_bench: no token ids in %s\n", path);
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

static int tokenize(const ia_lm *lm, const char *text_file, int first, const char *ids_out, const char *text_out)
{
    size_t len;
    char *text = read_file(text_file, &len);
    ia_i32vec ids = {0};
    ia_status rc = ia__bpe_encode(lm->tok, text, len, false, false, &ids);
    if (rc)
        die("tokenizing", rc);
    if ((int)ids.n < first) {
        fprintf(stderr, "ia_gen_bench: %s has only %zu tokens, %d asked\n", text_file, ids.n, first);
        return 1;
    }
    FILE *f = fopen(ids_out, "w");
    if (!f) {
        perror(ids_out);
        return 1;
    }
    for (int i = 0; i < first; i++)
        fprintf(f, "%s%d", i ? " " : "", ids.v[i]);
    fputc('\n', f);
    fclose(f);
    if (text_out) {
        size_t n = 0;
        ia__bpe_decode(lm->tok, ids.v, (size_t)first, false, NULL, 0, &n);
        char *buf = malloc(n + 1);
        if (!buf || (rc = ia__bpe_decode(lm->tok, ids.v, (size_t)first, false, buf, n + 1, &n)))
            die("decoding", rc ? rc : IA_ERR_NOMEM);
        if (!(f = fopen(text_out, "wb"))) {
            perror(text_out);
            return 1;
        }
        fwrite(buf, 1, n, f);
        fclose(f);
        free(buf);
    }
    printf("{\"tokens\": %d, \"text_tokens\": %zu}\n", first, ids.n);
    ia__i32vec_free(&ids);
    free(text);
    return 0;
}

/* One stream: prefill, then n_decode greedy tokens; *first_ids (may be
 * NULL) gets the first 16 generated. */
static void one_round(ia_session *s, const int32_t *ids, int n, int n_decode, float *logits, int n_vocab,
                      double *prefill_s, double *decode_s, int *gen)
{
    ia__session_truncate(s, 0);
    double t0 = now();
    ia_status rc = ia__session_eval(s, ids, n, logits, NULL);
    if (rc)
        die("prefill", rc);
    double t1 = now();
    for (int i = 0; i < n_decode; i++) {
        const int32_t tok = argmax(logits, n_vocab);
        if (gen && i < 16)
            gen[i] = tok;
        if ((rc = ia__session_eval(s, &tok, 1, logits, NULL)))
            die("decode", rc);
    }
    *prefill_s = t1 - t0;
    *decode_s = now() - t1;
}

static int single(const ia_lm *lm, const char *model, const int32_t *ids, int n, int n_decode, int repeat)
{
    const ia_decoder_config *c = ia__decoder_config(lm->dec);
    const int n_ctx = n + n_decode + 1;
    ia_session *s = NULL;
    ia_status rc = ia__session_new(lm->dec, n_ctx, &s);
    if (rc)
        die("session", rc);
    float *logits = malloc((size_t)c->n_vocab * sizeof *logits);
    double *pre = calloc((size_t)repeat, sizeof *pre), *dec = calloc((size_t)repeat, sizeof *dec);
    int gen[16] = {0};
    double w0, w1;
    one_round(s, ids, n, n_decode < 8 ? n_decode : 8, logits, c->n_vocab, &w0, &w1, NULL); /* warm-up */
    for (int r = 0; r < repeat; r++)
        one_round(s, ids, n, n_decode, logits, c->n_vocab, &pre[r], &dec[r], r ? NULL : gen);
    struct stat st;
    const long long file_bytes = stat(model, &st) ? -1 : (long long)st.st_size;
    printf("{\"engine\": \"ours\", \"backend\": \"%s\", \"prompt_tokens\": %d, \"decode_tokens\": %d, ", lm->be->name,
           n, n_decode);
    print_times("prefill_s", pre, repeat);
    printf(", ");
    print_times("decode_s", dec, repeat);
    printf(", \"first_tokens\": [");
    for (int i = 0; i < 16 && i < n_decode; i++)
        printf("%s%d", i ? ", " : "", gen[i]);
    printf("], \"max_rss_kb\": %ld, \"file_bytes\": %lld, \"kv_bytes\": %zu, \"n_ctx\": %d, "
           "\"n_layer\": %d, \"n_head_kv\": %d, \"head_dim\": %d}\n",
           max_rss_kb(), file_bytes, ia__session_kv_bytes(s), ia__session_n_ctx(s), c->n_layer, c->n_head_kv,
           c->head_dim);
    free(pre);
    free(dec);
    free(logits);
    ia__session_free(s);
    return 0;
}

static int streams(const ia_lm *lm, const int32_t *ids, int n, int n_seq, int prompt, int n_decode, int repeat)
{
    const ia_decoder_config *c = ia__decoder_config(lm->dec);
    if (n_seq < 1 || n_seq > 64 || prompt < 1 || prompt + n_seq > n) {
        fprintf(stderr, "ia_gen_bench: --streams %d with --prompt-tokens %d needs more than %d ids\n", n_seq,
                prompt, n);
        return 2;
    }
    ia_session **s = calloc((size_t)n_seq, sizeof *s);
    int32_t *tok = calloc((size_t)n_seq, sizeof *tok);
    const int32_t **tp = calloc((size_t)n_seq, sizeof *tp);
    int *ones = calloc((size_t)n_seq, sizeof *ones);
    bool *want = calloc((size_t)n_seq, sizeof *want);
    float *logits = malloc((size_t)n_seq * (size_t)c->n_vocab * sizeof *logits);
    double *times = calloc((size_t)repeat, sizeof *times);
    for (int i = 0; i < n_seq; i++) {
        ia_status rc = ia__session_new(lm->dec, prompt + n_decode + 1, &s[i]);
        if (rc)
            die("session", rc);
        tp[i] = &tok[i];
        ones[i] = 1;
        want[i] = true;
    }
    for (int r = -1; r < repeat; r++) { /* r = -1: warm-up */
        for (int i = 0; i < n_seq; i++) {
            ia__session_truncate(s[i], 0);
            /* each its own prompt: ids shifted by i */
            ia_status rc = ia__session_eval(s[i], ids + i, prompt, logits + (size_t)i * c->n_vocab, NULL);
            if (rc)
                die("prefill", rc);
        }
        const int steps = r < 0 ? (n_decode < 8 ? n_decode : 8) : n_decode;
        const double t0 = now();
        for (int k = 0; k < steps; k++) {
            for (int i = 0; i < n_seq; i++)
                tok[i] = argmax(logits + (size_t)i * c->n_vocab, c->n_vocab);
            ia_status rc = ia__session_eval_batch(s, tp, ones, n_seq, want, logits);
            if (rc)
                die("batched decode", rc);
        }
        if (r >= 0)
            times[r] = now() - t0;
    }
    printf("{\"engine\": \"ours\", \"streams\": %d, \"prompt_tokens\": %d, \"decode_tokens\": %d, ", n_seq, prompt,
           n_decode);
    print_times("decode_s", times, repeat);
    printf(", \"max_rss_kb\": %ld}\n", max_rss_kb());
    for (int i = 0; i < n_seq; i++)
        ia__session_free(s[i]);
    free(s);
    free(tok);
    free(tp);
    free(ones);
    free(want);
    free(logits);
    free(times);
    return 0;
}

static bool discard(const char *text, size_t len, void *user)
{
    (void)text, (void)len, (void)user;
    return true;
}

static int prefix(const ia_lm *lm, const int32_t *ids, int n, int sys, int repeat)
{
    enum { TAIL = 16 };
    if (sys < 1 || sys + 2 * TAIL > n) {
        fprintf(stderr, "ia_gen_bench: --prefix %d needs %d ids, the file has %d\n", sys, sys + 2 * TAIL, n);
        return 2;
    }
    int32_t *a = malloc((size_t)(sys + TAIL) * sizeof *a), *b = malloc((size_t)(sys + TAIL) * sizeof *b);
    memcpy(a, ids, (size_t)sys * sizeof *a);
    memcpy(b, ids, (size_t)sys * sizeof *b);
    memcpy(a + sys, ids + sys, TAIL * sizeof *a);         /* user A */
    memcpy(b + sys, ids + sys + TAIL, TAIL * sizeof *b);  /* user B */
    double *t1 = calloc((size_t)repeat + 1, sizeof *t1), *t2 = calloc((size_t)repeat + 1, sizeof *t2);
    int cached = 0;
    const ia_gen_params gp = {.max_tokens = 4, .ignore_eos = true};
    for (int r = 0; r <= repeat; r++) { /* r = 0: warm-up */
        ia_session *s = NULL;
        ia_gen_result res = {0};
        ia_status rc = ia__session_new(lm->dec, sys + TAIL + 8, &s);
        if (!rc)
            rc = ia__lm_generate(lm, s, a, sys + TAIL, &gp, discard, NULL, &res);
        t1[r] = res.first_token_s;
        if (!rc)
            rc = ia__lm_generate(lm, s, b, sys + TAIL, &gp, discard, NULL, &res);
        if (rc)
            die("generate", rc);
        t2[r] = res.first_token_s;
        cached = res.cached_tokens;
        ia__session_free(s);
    }
    printf("{\"engine\": \"ours\", \"prefix_tokens\": %d, \"prompt_tokens\": %d, \"cached_tokens\": %d, ", sys,
           sys + TAIL, cached);
    print_times("first_ttft_s", t1 + 1, repeat);
    printf(", ");
    print_times("second_ttft_s", t2 + 1, repeat);
    printf("}\n");
    free(a);
    free(b);
    free(t1);
    free(t2);
    return 0;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *ids_file = NULL, *text_file = NULL, *ids_out = NULL, *text_out = NULL,
               *device = "cpu";
    long threads = 2, first = 0, n_decode = 128, repeat = 3, n_streams = 0, prompt = 32, sys = 0;
    static const struct option opts[] = {
        {"model", 1, 0, 'm'}, {"threads", 1, 0, 't'}, {"tokenize", 1, 0, 'T'}, {"first", 1, 0, 'f'},
        {"ids-out", 1, 0, 'o'}, {"text-out", 1, 0, 'x'}, {"ids", 1, 0, 'i'}, {"decode", 1, 0, 'n'},
        {"repeat", 1, 0, 'r'}, {"streams", 1, 0, 's'}, {"prompt-tokens", 1, 0, 'p'}, {"prefix", 1, 0, 'P'},
        {"device", 1, 0, 'd'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 't': threads = parse_long(optarg, "--threads"); break;
        case 'T': text_file = optarg; break;
        case 'f': first = parse_long(optarg, "--first"); break;
        case 'o': ids_out = optarg; break;
        case 'x': text_out = optarg; break;
        case 'i': ids_file = optarg; break;
        case 'n': n_decode = parse_long(optarg, "--decode"); break;
        case 'r': repeat = parse_long(optarg, "--repeat"); break;
        case 's': n_streams = parse_long(optarg, "--streams"); break;
        case 'p': prompt = parse_long(optarg, "--prompt-tokens"); break;
        case 'P': sys = parse_long(optarg, "--prefix"); break;
        case 'd': device = optarg; break;
        default: return 2;
        }
    }
    if (!model || (!ids_file && !(text_file && ids_out && first > 0)) || repeat < 1 || n_decode < 1) {
        fprintf(stderr, "usage: ia_gen_bench --model F.gguf (--tokenize TEXT --first N --ids-out F | --ids F "
                        "[--streams S | --prefix N]) [--decode N] [--repeat R] [--threads T]\n");
        return 2;
    }
    ia_lm *lm = NULL;
    ia_status rc = ia__lm_load(model, device, (int)threads, NULL, &lm);
    if (rc)
        die(model, rc);
    int st;
    if (text_file) {
        st = tokenize(lm, text_file, (int)first, ids_out, text_out);
    } else {
        int n;
        int32_t *ids = read_ids(ids_file, &n);
        if (n_streams)
            st = streams(lm, ids, n, (int)n_streams, (int)prompt, (int)n_decode, (int)repeat);
        else if (sys)
            st = prefix(lm, ids, n, (int)sys, (int)repeat);
        else
            st = single(lm, model, ids, n, (int)n_decode, (int)repeat);
        free(ids);
    }
    ia__lm_free(lm);
    return st;
}
