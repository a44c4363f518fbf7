/*
 * Generation over a session (src/model/lm.c) on the real SmolLM2-135M
 * Q4_1 GGUF (argv[1]): greedy text equals the decoded greedy tokens (whose
 * agreement with llama.cpp is llamacpp_test.py's business), max_tokens,
 * stop strings (cut before, never sent in part), cancellation from the
 * callback, the session's earlier tokens reused by a longer prompt, seeds
 * (the same seed gives the same text), refused input, and the KV caches'
 * types.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/lm.h"
#include "test.h"

typedef struct sink {
    char text[8192];
    size_t len;
    int calls, cancel_after;
} sink;

static bool collect(const char *t, size_t n, void *user)
{
    sink *s = user;
    if (s->len + n < sizeof s->text) {
        memcpy(s->text + s->len, t, n);
        s->len += n;
        s->text[s->len] = '\0';
    }
    return ++s->calls != s->cancel_after;
}

static ia_status run(const ia_lm *lm, ia_session *ses, const char *prompt, const ia_gen_params *p, sink *out,
                     ia_gen_result *res)
{
    ia_i32vec ids = {0};
    ia_status rc = ia__bpe_encode(lm->tok, prompt, strlen(prompt), true, false, &ids);
    if (!rc)
        rc = ia__lm_generate(lm, ses, ids.v, (int)ids.n, p, collect, out, res);
    ia__i32vec_free(&ids);
    return rc;
}

/* Three generations stepped through shared forwards (prompt chunks of 3
 * tokens next to other requests' decodes) give the texts each gives alone:
 * greedy, and sampled with a seed. A session given another's prefix by
 * copy generates the same, with that prefix cached. */
static void batched(const ia_lm *lm)
{
    const char *prompts[3] = {"The capital of France is", "Once upon a time, in a small village,",
                              "List three colors:"};
    const ia_gen_params params[3] = {{.max_tokens = 20},
                                     {.max_tokens = 24, .sampling = {.temperature = 0.8f, .top_k = 40, .seed = 11}},
                                     {.max_tokens = 16}};
    static sink alone[3], together[3];
    ia_session *ss[3] = {0};
    ia_gen *g[3] = {0};
    ia_gen_result r;
    for (int i = 0; i < 3; i++) {
        ia_session *s1 = NULL;
        CHECK_OK(ia__session_new(lm->dec, 256, &s1));
        CHECK_OK(run(lm, s1, prompts[i], &params[i], &alone[i], &r));
        ia__session_free(s1);
        CHECK_OK(ia__session_new(lm->dec, 256, &ss[i]));
        ia_i32vec ids = {0};
        CHECK_OK(ia__bpe_encode(lm->tok, prompts[i], strlen(prompts[i]), true, false, &ids));
        CHECK_OK(ia__gen_new(lm, ss[i], ids.v, (int)ids.n, &params[i], collect, &together[i], &g[i]));
        ia__i32vec_free(&ids);
    }
    const int V = ia__decoder_config(lm->dec)->n_vocab;
    float *logits = malloc(3 * (size_t)V * sizeof *logits);
    int steps = 0;
    for (;; steps++) {
        ia_session *bs[3];
        const int32_t *bt[3];
        int bn[3], who[3], n = 0;
        bool need[3];
        for (int i = 0; i < 3; i++)
            if (g[i] && (bn[n] = ia__gen_next(g[i], 3, &bt[n], &need[n])) > 0) {
                bs[n] = ss[i];
                who[n++] = i;
            }
        if (!n)
            break;
        const ia_status rc = ia__session_eval_batch(bs, bt, bn, n, need, logits);
        CHECK_OK(rc);
        if (rc)
            break;
        for (int j = 0, k = 0; j < n; j++)
            CHECK_OK(ia__gen_advance(g[who[j]], need[j] ? logits + (size_t)V * k++ : NULL));
    }
    printf("batched: %d shared forwards\n", steps);
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(!strcmp(alone[i].text, together[i].text), "prompt %d alone \"%s\", batched \"%s\"", i,
                  alone[i].text, together[i].text);
        ia__gen_free(g[i]);
    }
    /* a prefix copied from another session counts as cached */
    ia_session *s2 = NULL;
    CHECK_OK(ia__session_new(lm->dec, 256, &s2));
    CHECK_OK(ia__session_copy_prefix(s2, ss[0], 5));
    sink c = {0};
    CHECK_OK(run(lm, s2, prompts[0], &params[0], &c, &r));
    CHECK(r.cached_tokens == 4 && !strcmp(c.text, alone[0].text));
    CHECK(ia__session_copy_prefix(s2, ss[0], 1000) == IA_ERR_INVALID);
    ia__session_free(s2);
    for (int i = 0; i < 3; i++)
        ia__session_free(ss[i]);
    free(logits);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !argv[1][0]) {
        printf("test_generate: no model (skipped)\n");
        return 77;
    }
    ia_lm *lm = NULL;
    ia_session *s = NULL;
    CHECK_OK(ia__lm_load(argv[1], "cpu", 2, NULL, &lm));
    if (!lm)
        return test_summary("test_generate");
    CHECK_OK(ia__session_new(lm->dec, 512, &s));
    const char *prompt = "The capital of France is";
    ia_gen_result r;

    /* greedy, 24 tokens: the text is the decode of the greedy tokens */
    sink a = {0};
    const ia_gen_params greedy = {.max_tokens = 24};
    CHECK_OK(run(lm, s, prompt, &greedy, &a, &r));
    printf("greedy: \"%s\" (%d tokens, %s, first token %.1f ms, %.1f ms in all)\n", a.text, r.completion_tokens,
           r.finish_reason, r.first_token_s * 1e3, r.total_s * 1e3);
    CHECK(r.completion_tokens == 24 && !strcmp(r.finish_reason, "length") && r.prompt_tokens == 5);
    const int32_t *toks = ia__session_tokens(s);
    char dec[8192];
    size_t dlen;
    /* the session holds prompt + 23 generated (the last one sampled is not evaluated) */
    CHECK(ia__session_pos(s) == 5 + 23);
    CHECK_OK(ia__bpe_decode(lm->tok, toks + 5, (size_t)ia__session_pos(s) - 5, true, dec, sizeof dec, &dlen));
    CHECK_MSG(dlen <= a.len && !memcmp(dec, a.text, dlen), "streamed text \"%s\" vs decoded \"%.*s\"", a.text,
              (int)dlen, dec);
    CHECK_STR_CONTAINS(a.text, "Paris");

    /* a longer prompt that begins with what the session holds: not recomputed */
    char longer[8192];
    snprintf(longer, sizeof longer, "%s%s", prompt, a.text);
    sink b = {0};
    CHECK_OK(run(lm, s, longer, &(ia_gen_params){.max_tokens = 4}, &b, &r));
    printf("continued: %d of %d prompt tokens cached\n", r.cached_tokens, r.prompt_tokens);
    CHECK(r.cached_tokens >= 5 + 20 && r.cached_tokens < r.prompt_tokens);

    /* stop strings: the text ends before the first one; nothing of it is sent */
    const char *stops[] = {"Paris", "zzz"};
    sink c = {0};
    CHECK_OK(run(lm, s, prompt, &(ia_gen_params){.max_tokens = 24, .stop = stops, .n_stop = 2}, &c, &r));
    CHECK(!strcmp(r.finish_reason, "stop") && !strstr(c.text, "Par") && strlen(c.text) < strlen(a.text));
    CHECK_MSG(!strncmp(a.text, c.text, c.len), "\"%s\" is not the start of \"%s\"", c.text, a.text);

    /* cancellation from the callback */
    sink d = {.cancel_after = 2};
    CHECK_OK(run(lm, s, prompt, &greedy, &d, &r));
    CHECK(!strcmp(r.finish_reason, "cancelled") && d.calls == 2);

    /* seeds: the same seed, the same text */
    const ia_gen_params hot = {.max_tokens = 16, .sampling = {.temperature = 0.9f, .top_p = 0.95f, .seed = 7}};
    sink e1 = {0}, e2 = {0};
    CHECK_OK(run(lm, s, prompt, &hot, &e1, &r));
    CHECK_OK(run(lm, s, prompt, &hot, &e2, &r));
    CHECK_MSG(!strcmp(e1.text, e2.text), "seed 7 twice: \"%s\" vs \"%s\"", e1.text, e2.text);

    /* refused */
    sink f = {0};
    CHECK(ia__lm_generate(lm, s, NULL, 0, &greedy, collect, &f, &r) == IA_ERR_INVALID);
    const int32_t bad = 1 << 30;
    CHECK(ia__lm_generate(lm, s, &bad, 1, &greedy, collect, &f, &r) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "outside the vocabulary");
    CHECK(ia__lm_generate(lm, s, ia__session_tokens(s), 0, &(ia_gen_params){.sampling = {.top_k = -1}}, collect,
                          &f, &r) == IA_ERR_INVALID);
    batched(lm);

    /* KV caches: f16 on the CPU by default, f32 on request (twice the
     * bytes; its text parts from f16's at a near tie after " Paris."); no
     * third type */
    const ia_decoder_config *cfg = ia__decoder_config(lm->dec);
    const size_t f16_bytes = ia__session_kv_bytes(s);
    CHECK_MSG(f16_bytes && f16_bytes % ((size_t)2 * cfg->n_layer * cfg->n_head_kv * cfg->head_dim * 2) == 0,
              "%zu bytes of f16 caches", f16_bytes);
    CHECK_OK(ia__lm_set_kv_cache(lm, "f32"));
    ia_session *s32 = NULL;
    CHECK_OK(ia__session_new(lm->dec, 512, &s32));
    sink g = {0};
    if (s32) {
        CHECK_OK(run(lm, s32, prompt, &greedy, &g, &r));
        CHECK_MSG(ia__session_kv_bytes(s32) == 2 * f16_bytes, "f32 caches %zu bytes, f16 %zu",
                  ia__session_kv_bytes(s32), f16_bytes);
        CHECK_MSG(r.completion_tokens == 24 && !strncmp(g.text, a.text, 7), "f32 caches: \"%s\", f16: \"%s\"",
                  g.text, a.text);
    }
    ia__session_free(s32);
    CHECK(ia__lm_set_kv_cache(lm, "q8_0") == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "q8_0");
    ia__session_free(s);
    ia__lm_free(lm);
    return test_summary("test_generate");
}
