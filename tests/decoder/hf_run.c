/*
 * hf_run: the test driver of hf_test.py and hf_smollm2_test.py. Loads a
 * decoder with its tokenizer (ia__lm_load: a .gguf file or a Hugging Face
 * folder) on the CPU with 2 threads, KV caches in f32 (the comparisons
 * with transformers are of the f32 computation).
 *
 *   hf_run logits MODEL OUT.f32 PROMPT STEPS OTHER
 *     PROMPT, STEPS, OTHER: comma-separated token ids. Session A evaluates
 *     PROMPT in one call (the logits after each of its tokens), then STEPS
 *     one token at a time through the KV cache; OUT gets those
 *     (|PROMPT| + |STEPS|) x n_vocab float32 logits. Then (unless OTHER is
 *     "") sessions B and C run together in one forward per call
 *     (ia__session_eval_batch): B the same tokens, C the prompt OTHER and
 *     then STEPS; B must give A's logits, C those of a session D that runs
 *     alone. Prints one JSON line: the config, the largest difference of
 *     the batched logits relative to the largest logit, and timings.
 *   hf_run greedy MODEL N TEXT
 *     TEXT tokenized with the model's specials (and special-token strings
 *     in it parsed, as in a rendered chat prompt), N tokens generated
 *     greedily (eos ignored); prints one JSON line with the prompt's ids,
 *     the generated ids and text.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/lm.h"

static int parse_ids(const char *s, int32_t **out)
{
    int n = 0, cap = 16;
    int32_t *v = malloc(sizeof *v * (size_t)cap);
    for (char *end; *s; s = *end == ',' ? end + 1 : end) {
        long x = strtol(s, &end, 10);
        if (end == s)
            break;
        if (n == cap)
            v = realloc(v, sizeof *v * (size_t)(cap *= 2));
        v[n++] = (int32_t)x;
    }
    *out = v;
    return n;
}

static double max_abs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, isnan(a[i]) || isnan(b[i]) ? INFINITY : fabs((double)a[i] - b[i]));
    return m;
}

static int fail(const char *what)
{
    fprintf(stderr, "hf_run: %s: %s\n", what, ia_errmsg());
    return 1;
}

static void json_str(const char *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        const unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

typedef struct text_buf {
    char *s;
    size_t n;
} text_buf;

static bool on_text(const char *text, size_t len, void *user)
{
    text_buf *t = user;
    t->s = realloc(t->s, t->n + len + 1);
    memcpy(t->s + t->n, text, len);
    t->n += len;
    return true;
}

static int32_t gen_ids[4096];
static int n_gen;

static void on_token(int32_t token, float lp, const int32_t *top, const float *tlp, int n_top, void *user)
{
    if (n_gen < 4096)
        gen_ids[n_gen++] = token;
}

static int greedy(ia_lm *lm, int n, const char *text)
{
    ia_i32vec ids = {0};
    ia_session *s;
    if (ia__bpe_encode(lm->tok, text, strlen(text), true, true, &ids) || ia__session_new(lm->dec, 512, &s))
        return fail("greedy");
    ia_gen_params p = {.max_tokens = n, .ignore_eos = true, .on_token = on_token};
    text_buf t = {0};
    ia_gen_result res;
    if (ia__lm_generate(lm, s, ids.v, (int)ids.n, &p, on_text, &t, &res))
        return fail("generate");
    printf("{\"prompt_ids\": [");
    for (size_t i = 0; i < ids.n; i++)
        printf("%s%d", i ? ", " : "", (int)ids.v[i]);
    printf("], \"ids\": [");
    for (int i = 0; i < n_gen; i++)
        printf("%s%d", i ? ", " : "", (int)gen_ids[i]);
    printf("], \"text\": ");
    json_str(t.s ? t.s : "", t.n);
    printf("}\n");
    free(t.s);
    ia__i32vec_free(&ids);
    ia__session_free(s);
    return 0;
}

/* Sessions B and C in one forward per call: B the prompt and steps of a
 * (session A's logits), C other[0..no) and the steps; D runs C's tokens
 * alone. The largest differences, relative to A's largest logit, go to
 * *diff_b and *diff_c. */
static int batch_check(const ia_lm *lm, const int32_t *prompt, int np, const int32_t *steps, int ns,
                       const int32_t *other, int no, const float *a, double *diff_b, double *diff_c)
{
    const size_t V = (size_t)ia__decoder_config(lm->dec)->n_vocab;
    float *b = malloc(sizeof(float) * (size_t)(np + ns) * V), *cc = malloc(sizeof(float) * (size_t)(no + ns) * V);
    float *dd = malloc(sizeof(float) * (size_t)(no + ns) * V), *pair = malloc(sizeof(float) * 2 * V);
    ia_session *sb, *sc, *sd;
    if (ia__session_new(lm->dec, 0, &sb) || ia__session_new(lm->dec, 0, &sc) || ia__session_new(lm->dec, 0, &sd))
        return fail("session");
    if (ia__session_eval(sd, other, no, dd + (size_t)(no - 1) * V, NULL))
        return fail("other");
    for (int i = 0; i < ns; i++)
        if (ia__session_eval(sd, steps + i, 1, dd + (size_t)(no + i) * V, NULL))
            return fail("other step");
    ia_session *bc[2] = {sb, sc};
    const bool want[2] = {true, true};
    const int32_t *tk[2] = {prompt, other};
    int n[2] = {np, no};
    if (ia__session_eval_batch(bc, tk, n, 2, want, pair))
        return fail("batch");
    memcpy(b + (size_t)(np - 1) * V, pair, V * sizeof(float));
    memcpy(cc + (size_t)(no - 1) * V, pair + V, V * sizeof(float));
    for (int i = 0; i < ns; i++) {
        tk[0] = tk[1] = steps + i;
        n[0] = n[1] = 1;
        if (ia__session_eval_batch(bc, tk, n, 2, want, pair))
            return fail("batch step");
        memcpy(b + (size_t)(np + i) * V, pair, V * sizeof(float));
        memcpy(cc + (size_t)(no + i) * V, pair + V, V * sizeof(float));
    }
    /* the rows computed both ways: the prompts' last and the steps */
    const size_t off_a = (size_t)(np - 1) * V, off_c = (size_t)(no - 1) * V, len = (size_t)(ns + 1) * V;
    const double scale = fmax(max_abs(a + off_a, len), 1e-30);
    *diff_b = max_diff(a + off_a, b + off_a, len) / scale;
    *diff_c = max_diff(dd + off_c, cc + off_c, len) / scale;
    ia__session_free(sb), ia__session_free(sc), ia__session_free(sd);
    free(b), free(cc), free(dd), free(pair);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "greedy")) {
        ia_lm *lm;
        if (ia__lm_load(argv[2], "cpu", 2, "f32", &lm))
            return fail(argv[2]);
        const int rc = greedy(lm, atoi(argv[3]), argv[4]);
        ia__lm_free(lm);
        return rc;
    }
    if (argc != 7 || strcmp(argv[1], "logits")) {
        fprintf(stderr, "usage: hf_run logits MODEL OUT.f32 PROMPT STEPS OTHER | hf_run greedy MODEL N TEXT\n");
        return 2;
    }
    int32_t *prompt, *steps, *other;
    const int np = parse_ids(argv[4], &prompt), ns = parse_ids(argv[5], &steps), no = parse_ids(argv[6], &other);
    if (np < 1)
        return fprintf(stderr, "hf_run: empty prompt\n"), 2;
    double t0 = ia__now();
    ia_lm *lm;
    if (ia__lm_load(argv[2], "cpu", 2, "f32", &lm))
        return fail(argv[2]);
    const double t_load = ia__now() - t0;
    const ia_decoder_config *c = ia__decoder_config(lm->dec);
    const size_t V = (size_t)c->n_vocab, rows = (size_t)(np + ns);
    float *a = malloc(sizeof(float) * rows * V);
    ia_session *sa;
    if (ia__session_new(lm->dec, 0, &sa))
        return fail("session");
    /* A alone: the prompt whole, then steps through the cache */
    t0 = ia__now();
    if (ia__session_eval(sa, prompt, np, NULL, a))
        return fail("prompt");
    for (int i = 0; i < ns; i++)
        if (ia__session_eval(sa, steps + i, 1, a + (size_t)(np + i) * V, NULL))
            return fail("step");
    const double t_eval = ia__now() - t0;
    double diff_b = 0, diff_c = 0;
    if (no > 0 && batch_check(lm, prompt, np, steps, ns, other, no, a, &diff_b, &diff_c))
        return 1;
    FILE *f = fopen(argv[3], "wb");
    if (!f || fwrite(a, sizeof(float), rows * V, f) != rows * V || fclose(f))
        return fprintf(stderr, "hf_run: cannot write %s\n", argv[3]), 1;
    printf("{\"arch\": \"%s\", \"format\": \"%s\", \"n_vocab\": %d, \"n_layer\": %d, \"n_head\": %d, "
           "\"n_head_kv\": %d, \"head_dim\": %d, \"sliding_window\": %d, \"rope_scaling\": %d, "
           "\"tied\": %s, \"chat_template\": %s, \"gen_config\": %s, \"gen_eos\": %d, \"gen_temperature\": %g, "
           "\"batch_rel_diff\": %.3g, \"batch_other_rel_diff\": %.3g, \"load_s\": %.3f, \"eval_s\": %.3f}\n",
           c->arch, c->format, c->n_vocab, c->n_layer, c->n_head, c->n_head_kv, c->head_dim, c->sliding_window,
           (int)c->rope.scaling, c->tied_embeddings ? "true" : "false", lm->tmpl ? "true" : "false",
           lm->gen.present ? "true" : "false", lm->gen.n_eos ? (int)lm->gen.eos[0] : -1,
           isnan(lm->gen.sampling.temperature) ? -1.0 : (double)lm->gen.sampling.temperature, diff_b, diff_c, t_load, t_eval);
    ia__session_free(sa);
    ia__lm_free(lm);
    free(a), free(prompt), free(steps), free(other);
    return 0;
}
