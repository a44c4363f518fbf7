/*
 * decoder_run MODEL.gguf OUT.f32 ID... : load the decoder on the CPU (2
 * threads), evaluate the ids as one prompt and write the logits after
 * each position to OUT.f32 (n x n_vocab float32). Then, checked here:
 * the same ids fed one at a time through the KV cache, and as two chunks
 * after a truncation, give the same logits. Prints one JSON line: the
 * file size, the peak RSS (after loading and after evaluating), the KV
 * cache size and the largest difference between the three ways.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/decoder.h"

/* Peak resident memory of this process image: VmHWM (getrusage's
 * ru_maxrss would include the parent's before exec). */
static long peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, isnan(a[i]) || isnan(b[i]) ? INFINITY : fabs((double)a[i] - b[i]));
    return m;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: decoder_run MODEL.gguf OUT.f32 ID...\n");
        return 2;
    }
    const int n = argc - 3;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++)
        ids[i] = atoi(argv[3 + i]);
    const ia_backend *cpu = ia__backend_find("cpu");
    void *ctx = NULL;
    ia_decoder *d = NULL;
    ia_session *s = NULL;
    if (cpu->iface.open(0, 2, "fp32", false, &ctx) || ia__decoder_load_gguf(argv[1], cpu, ctx, &d)) {
        fprintf(stderr, "decoder_run: %s\n", ia_errmsg());
        return 1;
    }
    const long rss_loaded = peak_rss_kb();
    const int V = ia__decoder_config(d)->n_vocab;
    float *all = malloc(sizeof(float) * (size_t)n * V), *one = malloc(sizeof(float) * (size_t)V);
    float *chunk = malloc(sizeof(float) * (size_t)n * V);
    int rc = ia__session_new(d, 256, &s) || ia__session_eval(s, ids, n, NULL, all);
    if (rc) {
        fprintf(stderr, "decoder_run: %s\n", ia_errmsg());
        return 1;
    }
    const long rss_eval = peak_rss_kb();
    const size_t kv = ia__session_kv_bytes(s);
    /* one token at a time through the cache */
    double d_step = 0;
    ia__session_truncate(s, 0);
    for (int i = 0; i < n && !rc; i++) {
        rc = ia__session_eval(s, ids + i, 1, one, NULL);
        d_step = fmax(d_step, max_diff(one, all + (size_t)i * V, (size_t)V));
    }
    /* two chunks, the second re-evaluated after a truncation */
    double d_chunk = 0;
    if (n >= 2) {
        const int h = n / 2;
        ia__session_truncate(s, 0);
        rc = rc || ia__session_eval(s, ids, h, NULL, chunk) ||
             ia__session_eval(s, ids + h, n - h, NULL, chunk + (size_t)h * V);
        ia__session_truncate(s, h);
        rc = rc || ia__session_eval(s, ids + h, n - h, NULL, chunk + (size_t)h * V) || ia__session_pos(s) != n;
        d_chunk = rc ? INFINITY : max_diff(chunk, all, (size_t)n * V);
    }
    /* bad input: refused, nothing changed */
    int32_t bad = V;
    const int refused = ia__session_eval(s, &bad, 1, one, NULL) == IA_ERR_INVALID && ia__session_pos(s) == n;
    FILE *f = fopen(argv[2], "wb");
    if (rc || !f || fwrite(all, sizeof(float), (size_t)n * V, f) != (size_t)n * V || fclose(f)) {
        fprintf(stderr, "decoder_run: %s\n", rc ? ia_errmsg() : "cannot write the logits");
        return 1;
    }
    struct stat st;
    stat(argv[1], &st);
#if defined(__SANITIZE_ADDRESS__)
    const char *sanitized = "true"; /* shadow memory and quarantine: RSS says nothing of ours */
#else
    const char *sanitized = "false";
#endif
    printf("{\"file_bytes\": %lld, \"rss_loaded_kb\": %ld, \"rss_eval_kb\": %ld, \"kv_bytes\": %zu, "
           "\"max_diff_stepwise\": %g, \"max_diff_chunked\": %g, \"bad_id_refused\": %s, \"sanitized\": %s}\n",
           (long long)st.st_size, rss_loaded, rss_eval, kv, d_step, d_chunk, refused ? "true" : "false", sanitized);
    ia__session_free(s);
    ia__decoder_free(d);
    cpu->iface.close(ctx);
    free(ids), free(all), free(one), free(chunk);
    return 0;
}
