/*
 * The public text-generation API (generate.h) on the real SmolLM2-135M
 * Q4_1 GGUF (argv[1]), through the public header only: info, tokens,
 * the chat template, greedy text equal streamed or not, a session reusing
 * its tokens (a repeated prompt, the next turn of a chat), stop strings,
 * cancellation, seeds, logprobs, a session refusing a second caller,
 * arguments refused with messages naming them, and two threads sharing
 * the model. Exit 77 without a model.
 */
#include <pthread.h>
#include <stdlib.h>

#include "ipfs_accelerate/ipfs_accelerate.h"
#include "test.h"

#ifdef IA_TEST_SANITIZED
enum { N_TOK = 8 };
#else
enum { N_TOK = 24 };
#endif

typedef struct pieces {
    char text[8192];
    size_t len;
    int calls, cancel_after;
    ia_lm_session *s; /* for the re-entrant call */
    ia_status inner;
    int tokens, bad_tokens; /* on_token calls, and those that look wrong */
} pieces;

static bool collect(const char *t, size_t n, void *user)
{
    pieces *p = user;
    if (p->len + n < sizeof p->text) {
        memcpy(p->text + p->len, t, n);
        p->len += n;
        p->text[p->len] = '\0';
    }
    if (p->s && p->calls == 0) /* a second call on a session in use */
        p->inner = ia_lm_session_generate(p->s, "Hello", NULL, NULL, NULL, NULL, NULL);
    return ++p->calls != p->cancel_after;
}

static void on_token(int32_t token, float logprob, const int32_t *top, const float *top_lp, int n_top, void *user)
{
    pieces *p = user;
    p->tokens++;
    /* greedy: the token is the most likely, and alternatives come sorted */
    if (!(logprob <= 0) || n_top != 3 || top[0] != token || fabsf(top_lp[0] - logprob) > 1e-4f ||
        top_lp[1] > top_lp[0] || top_lp[2] > top_lp[1])
        p->bad_tokens++;
}

/* The first generated token, into *(int32_t *)user. */
static void on_token_first(int32_t token, float logprob, const int32_t *top, const float *top_lp, int n_top,
                           void *user)
{
    (void)logprob, (void)top, (void)top_lp, (void)n_top;
    *(int32_t *)user = token;
}

static void info_and_tokens(const ia_lm *lm)
{
    ia_lm_info info;
    ia_lm_get_info(lm, &info);
    printf("%s: %s, vocabulary %d, context %d, %d layers, %s, chat template: %s\n", info.path, info.architecture,
           info.vocab_size, info.context_length, info.n_layers, info.backend, info.has_chat_template ? "yes" : "no");
    CHECK(!strcmp(info.architecture, "llama") && info.vocab_size == 49152 && info.context_length == 8192);
    CHECK(info.n_layers == 30 && info.n_heads == 9 && info.n_heads_kv == 3 && info.n_embd == 576);
    CHECK(info.has_chat_template && strstr(info.chat_template, "<|im_start|>") && !strcmp(info.backend, "cpu"));

    const char *text = "Hello world, <|im_start|> stays text";
    size_t n = 0;
    CHECK_OK(ia_lm_tokenize(lm, text, strlen(text), true, false, NULL, 0, &n)); /* measure */
    int32_t ids[64];
    size_t n2 = 0;
    CHECK_OK(ia_lm_tokenize(lm, text, strlen(text), true, false, ids, 64, &n2));
    CHECK(n > 5 && n == n2 && ids[0] == 19556); /* "Hello" (SmolLM2 adds no BOS) */
    size_t n3 = 0;
    CHECK_OK(ia_lm_tokenize(lm, text, strlen(text), true, true, ids, 64, &n3));
    CHECK(n3 < n2); /* "<|im_start|>" is one token now */
    char *back = NULL;
    size_t blen = 0;
    CHECK_OK(ia_lm_detokenize(lm, ids, n3, false, &back, &blen));
    CHECK_MSG(back && !strcmp(back, text) && blen == strlen(text), "\"%s\"", back ? back : "(null)");
    ia_free(back);
    CHECK_OK(ia_lm_detokenize(lm, ids, n3, true, &back, NULL));
    CHECK(back && !strstr(back, "<|im_start|>"));
    ia_free(back);
    const int32_t bad = 1 << 30;
    CHECK(ia_lm_detokenize(lm, &bad, 1, false, &back, NULL) == IA_ERR_INVALID && !back);

    char *r = NULL;
    CHECK_OK(ia_lm_apply_chat_template(lm, "[{\"role\": \"user\", \"content\": \"Hi\"}]", NULL, true, &r));
    CHECK_MSG(r && strstr(r, "<|im_start|>user\nHi<|im_end|>\n") &&
                  !strcmp(r + strlen(r) - strlen("<|im_start|>assistant\n"), "<|im_start|>assistant\n"),
              "rendered \"%s\"", r ? r : "(null)");
    ia_free(r);
}

static ia_status gen(ia_lm_session *s, const char *prompt, const ia_lm_gen_options *o, pieces *p, char **text,
                     ia_lm_result *res)
{
    return ia_lm_session_generate(s, prompt, o, p ? collect : NULL, p, text, res);
}

static void generation(const ia_lm *lm, char *greedy_out, size_t cap)
{
    ia_lm_session *s = NULL;
    CHECK_OK(ia_lm_session_new(lm, 512, &s));
    if (!s)
        return;
    CHECK(ia_lm_session_n_ctx(s) == 512 && ia_lm_session_n_tokens(s) == 0);
    const char *prompt = "The capital of France is";
    ia_lm_gen_options go = IA_LM_GEN_OPTIONS_INIT;
    go.max_tokens = N_TOK;
    ia_lm_result r;

    /* greedy: the returned text is the streamed pieces */
    pieces a = {0};
    char *text = NULL;
    CHECK_OK(gen(s, prompt, &go, &a, &text, &r));
    printf("greedy: \"%s\" (%d+%d tokens, %s, %.0f ms)\n", text ? text : "", r.prompt_tokens, r.completion_tokens,
           r.finish_reason, r.total_s * 1e3);
    CHECK(text && !strcmp(text, a.text) && a.calls > 1);
    CHECK(r.prompt_tokens == 5 && r.cached_tokens == 0 && r.completion_tokens == N_TOK);
    CHECK(!strcmp(r.finish_reason, "length") && r.first_token_s > 0 && r.total_s >= r.first_token_s);
    CHECK_STR_CONTAINS(a.text, "Paris");
    CHECK(ia_lm_session_n_tokens(s) == 5 + N_TOK - 1);
    snprintf(greedy_out, cap, "%s", text ? text : "");

    /* the same prompt again: its tokens are reused (all but the last,
     * evaluated again for its logits), the text is the same; no text
     * wanted, no callback */
    char *again = NULL;
    CHECK_OK(gen(s, prompt, &go, NULL, &again, &r));
    CHECK(r.cached_tokens == 4 && again && text && !strcmp(again, text));
    ia_free(again);
    CHECK_OK(gen(s, prompt, &go, NULL, NULL, NULL));

    /* a stop string taken from the greedy text: the text ends before it */
    const char *cut = text ? strstr(text, "Paris") : NULL;
    const char *stops[] = {"zzz", "Paris"};
    go.stop = stops;
    go.n_stop = 2;
    char *stopped = NULL;
    CHECK_OK(gen(s, prompt, &go, NULL, &stopped, &r));
    CHECK(cut && stopped && strlen(stopped) == (size_t)(cut - text) && !strncmp(stopped, text, strlen(stopped)));
    CHECK(!strcmp(r.finish_reason, "stop"));
    ia_free(stopped);
    go.stop = NULL;
    go.n_stop = 0;

    /* cancelled by the callback after two pieces: IA_OK, "cancelled" */
    pieces c = {.cancel_after = 2};
    char *part = NULL;
    CHECK_OK(gen(s, prompt, &go, &c, &part, &r));
    CHECK(!strcmp(r.finish_reason, "cancelled") && c.calls == 2 && part && !strcmp(part, c.text));
    ia_free(part);

    /* the session refuses a second caller while in use */
    pieces d = {.s = s};
    CHECK_OK(gen(s, prompt, &go, &d, NULL, &r));
    CHECK(d.inner == IA_ERR_INVALID);

    /* logprobs: one call per token, the greedy token the most likely */
    pieces lp = {0};
    go.on_token = on_token;
    go.top_logprobs = 3;
    CHECK_OK(gen(s, prompt, &go, &lp, NULL, &r));
    CHECK_MSG(lp.tokens == r.completion_tokens && lp.bad_tokens == 0, "%d calls, %d bad", lp.tokens, lp.bad_tokens);
    go.on_token = NULL;
    go.top_logprobs = 0;

    /* the same seed, the same text (sampled) */
    ia_lm_gen_options hot = go;
    hot.temperature = 0.9f;
    hot.top_p = 0.95f;
    hot.seed = 7;
    char *h1 = NULL, *h2 = NULL;
    CHECK_OK(gen(s, prompt, &hot, NULL, &h1, &r));
    CHECK_OK(gen(s, prompt, &hot, NULL, &h2, &r));
    CHECK_MSG(h1 && h2 && !strcmp(h1, h2), "seed 7 twice: \"%s\" vs \"%s\"", h1 ? h1 : "", h2 ? h2 : "");
    ia_free(h1);
    ia_free(h2);

    /* the prompt as token ids: the same text */
    int32_t ids[16];
    size_t n_ids = 0;
    CHECK_OK(ia_lm_tokenize(lm, prompt, strlen(prompt), true, false, ids, 16, &n_ids));
    char *by_ids = NULL;
    CHECK_OK(ia_lm_session_generate_ids(s, ids, n_ids, &go, NULL, NULL, &by_ids, &r));
    CHECK_MSG(by_ids && text && !strcmp(by_ids, text), "ids: \"%s\"", by_ids ? by_ids : "");
    ia_free(by_ids);
    const int32_t bad_id[] = {ids[0], 1 << 30};
    CHECK(ia_lm_session_generate_ids(s, bad_id, 2, &go, NULL, NULL, NULL, &r) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "ids[1]");
    CHECK(ia_lm_session_generate_ids(s, ids, 0, &go, NULL, NULL, NULL, &r) == IA_ERR_INVALID);

    /* logit_bias: the greedy text's first token banned, then another forced */
    int32_t first[8];
    size_t n_first = 0;
    CHECK_OK(ia_lm_tokenize(lm, text ? text : "", text ? strlen(text) : 0, false, false, first, 8, &n_first));
    ia_lm_logit_bias lb = {.token = n_first ? first[0] : 0, .bias = -100};
    ia_lm_gen_options biased = go;
    biased.max_tokens = 1;
    biased.on_token = on_token_first;
    biased.logit_bias = &lb;
    biased.n_logit_bias = 1;
    int32_t got = -1;
    CHECK_OK(ia_lm_session_generate(s, prompt, &biased, NULL, &got, NULL, &r));
    CHECK_MSG(n_first && got >= 0 && got != first[0], "banned %d, got %d", (int)lb.token, (int)got);
    lb = (ia_lm_logit_bias){.token = 42, .bias = 100};
    CHECK_OK(ia_lm_session_generate(s, prompt, &biased, NULL, &got, NULL, &r));
    CHECK_MSG(got == 42, "forced 42, got %d", (int)got);
    biased.n_logit_bias = 1, biased.logit_bias = NULL;
    CHECK(ia_lm_session_generate(s, prompt, &biased, NULL, NULL, NULL, &r) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "logit_bias");

    /* refused, naming what is wrong; the session is still usable */
    ia_lm_gen_options b = go;
    b.temperature = -1;
    char *none = (char *)"x";
    CHECK(gen(s, prompt, &b, NULL, &none, &r) == IA_ERR_INVALID && !none);
    CHECK_STR_CONTAINS(ia_errmsg(), "temperature");
    b = go;
    b.top_p = 2;
    CHECK(gen(s, prompt, &b, NULL, NULL, &r) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "top_p");
    b = go;
    const char *empty[] = {""};
    b.stop = empty;
    b.n_stop = 1;
    CHECK(gen(s, prompt, &b, NULL, NULL, &r) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "stop string 0 is empty");
    CHECK(gen(s, "", &go, NULL, NULL, &r) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "empty");
    char *longp = malloc(4096);
    for (int i = 0; i < 4095; i++)
        longp[i] = "ab "[i % 3];
    longp[4095] = '\0';
    CHECK(gen(s, longp, &go, NULL, NULL, &r) == IA_ERR_INVALID); /* more tokens than 512 positions */
    CHECK_STR_CONTAINS(ia_errmsg(), "context");
    free(longp);
    CHECK_OK(gen(s, prompt, &go, NULL, NULL, &r));
    CHECK(!ia_errmsg()[0]);
    ia_lm_session_reset(s);
    CHECK(ia_lm_session_n_tokens(s) == 0);
    ia_free(text);
    ia_lm_session_free(s);
}

static void chat(const ia_lm *lm)
{
    ia_lm_session *s = NULL;
    CHECK_OK(ia_lm_session_new(lm, 0, &s));
    if (!s)
        return;
    CHECK(ia_lm_session_n_ctx(s) == 8192);
    ia_lm_gen_options go = IA_LM_GEN_OPTIONS_INIT;
    go.max_tokens = 16; /* the whole answer, "The answer to this classic math problem is 4." */
    ia_lm_result r1, r2;
    char *a1 = NULL, *a2 = NULL;
    const char *turn1 = "[{\"role\": \"user\", \"content\": \"What is 2+2?\"}]";
    CHECK_OK(ia_lm_session_chat(s, turn1, NULL, &go, NULL, NULL, &a1, &r1));
    printf("chat: \"%s\" (%d prompt tokens, %s)\n", a1 ? a1 : "", r1.prompt_tokens, r1.finish_reason);
    CHECK(a1 && strstr(a1, "4"));
    /* the next turn: the conversation so far is not computed again */
    char turn2[4096];
    char *quoted = NULL;
    {
        /* the answer as a JSON string */
        size_t n = strlen(a1 ? a1 : ""), k = 0;
        quoted = malloc(2 * n + 3);
        quoted[k++] = '"';
        for (size_t i = 0; i < n; i++) {
            if (a1[i] == '"' || a1[i] == '\\')
                quoted[k++] = '\\', quoted[k++] = a1[i];
            else if (a1[i] == '\n')
                quoted[k++] = '\\', quoted[k++] = 'n';
            else
                quoted[k++] = a1[i];
        }
        quoted[k++] = '"';
        quoted[k] = '\0';
    }
    snprintf(turn2, sizeof turn2,
             "[{\"role\": \"user\", \"content\": \"What is 2+2?\"}, "
             "{\"role\": \"assistant\", \"content\": %s}, {\"role\": \"user\", \"content\": \"And 3+3?\"}]",
             quoted);
    CHECK_OK(ia_lm_session_chat(s, turn2, NULL, &go, NULL, NULL, &a2, &r2));
    printf("chat, turn 2: %d of %d prompt tokens cached\n", r2.cached_tokens, r2.prompt_tokens);
    CHECK(r2.cached_tokens >= r1.prompt_tokens && r2.cached_tokens < r2.prompt_tokens);
    free(quoted);
    ia_free(a1);
    ia_free(a2);

    /* malformed messages are refused, naming the problem */
    char *t = NULL;
    CHECK(ia_lm_session_chat(s, "[{\"role\": ", NULL, &go, NULL, NULL, &t, NULL) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "not valid JSON");
    CHECK(ia_lm_session_chat(s, "{}", NULL, &go, NULL, NULL, &t, NULL) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "array");
    CHECK(ia_lm_session_chat(s, "[{\"content\": \"x\"}]", NULL, &go, NULL, NULL, &t, NULL) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "message 0 has no string \"role\"");
    CHECK(ia_lm_session_chat(s, turn1, "{\"type\": 1}", &go, NULL, NULL, &t, NULL) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "tools must be a JSON array");
    CHECK(!t);
    ia_lm_session_free(s);
}

typedef struct worker {
    const ia_lm *lm;
    char text[4096];
    ia_status rc;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    ia_lm_session *s = NULL;
    w->rc = ia_lm_session_new(w->lm, 256, &s);
    ia_lm_gen_options go = IA_LM_GEN_OPTIONS_INIT;
    go.max_tokens = N_TOK;
    char *text = NULL;
    if (!w->rc)
        w->rc = ia_lm_session_generate(s, "The capital of France is", &go, NULL, NULL, &text, NULL);
    snprintf(w->text, sizeof w->text, "%s", text ? text : "");
    ia_free(text);
    ia_lm_session_free(s);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !argv[1][0]) {
        printf("test_lm_api: no model (skipped)\n");
        return 77;
    }
    ia_lm *lm = NULL;
    CHECK(ia_lm_load("/nonexistent/model.gguf", NULL, &lm) == IA_ERR_NOT_FOUND && !lm);
    CHECK_STR_CONTAINS(ia_errmsg(), "/nonexistent/model.gguf");
    ia_lm_options lo = IA_LM_OPTIONS_INIT;
    lo.device = "cpu";
    lo.n_threads = 2;
    CHECK_OK(ia_lm_load(argv[1], &lo, &lm));
    if (!lm)
        return test_summary("test_lm_api");
    info_and_tokens(lm);
    char greedy[8192] = "";
    generation(lm, greedy, sizeof greedy);
    chat(lm);

    /* two threads, each with its session, share the model */
    worker w[2] = {{.lm = lm}, {.lm = lm}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, work, &w[i]);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        CHECK_MSG(w[i].rc == IA_OK && !strcmp(w[i].text, greedy), "thread %d: \"%s\" vs \"%s\"", i, w[i].text,
                  greedy);
    }
    ia_lm_free(lm);
    return test_summary("test_lm_api");
}
