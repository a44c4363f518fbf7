/*
 * decoder_greedy MODEL.gguf N: for each line of stdin (a prompt's token ids,
 * space-separated), N greedy tokens from a fresh session on the CPU (2
 * threads), printed space-separated on one line, with f16 KV caches as
 * ia__lm_load makes them on the CPU (and llama.cpp by default). The other
 * side of llamacpp_test.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/decoder.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: decoder_greedy MODEL.gguf N < prompts\n");
        return 2;
    }
    const int N = atoi(argv[2]);
    const ia_backend *cpu = ia__backend_find("cpu");
    void *ctx = NULL;
    ia_decoder *d = NULL;
    if (cpu->iface.open(0, 2, "fp32", false, &ctx) || ia__decoder_load_gguf(argv[1], cpu, ctx, &d) ||
        ia__decoder_set_kv_dtype(d, IA_DTYPE_F16)) {
        fprintf(stderr, "decoder_greedy: %s\n", ia_errmsg());
        return 1;
    }
    const int V = ia__decoder_config(d)->n_vocab;
    float *logits = malloc(sizeof(float) * (size_t)V);
    static char line[1 << 16];
    int32_t ids[4096];
    while (fgets(line, sizeof line, stdin)) {
        int n = 0;
        for (char *p = strtok(line, " \n"); p && n < 4096; p = strtok(NULL, " \n"))
            ids[n++] = atoi(p);
        ia_session *s = NULL;
        if (ia__session_new(d, 1024, &s) || ia__session_eval(s, ids, n, logits, NULL)) {
            fprintf(stderr, "decoder_greedy: %s\n", ia_errmsg());
            return 1;
        }
        for (int i = 0; i < N; i++) {
            int32_t best = 0;
            for (int t = 1; t < V; t++)
                if (logits[t] > logits[best])
                    best = t;
            printf(i ? " %d" : "%d", (int)best);
            if (i + 1 < N && ia__session_eval(s, &best, 1, logits, NULL)) {
                fprintf(stderr, "decoder_greedy: %s\n", ia_errmsg());
                return 1;
            }
        }
        putchar('\n');
        fflush(stdout);
        ia__session_free(s);
    }
    free(logits);
    ia__decoder_free(d);
    cpu->iface.close(ctx);
    return 0;
}
