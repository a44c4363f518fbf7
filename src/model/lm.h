/*
 * Language models: a decoder with its tokenizer and chat template, and text
 * generation over a session. Loaded once, immutable, shared by threads;
 * each conversation has its session. Never installed.
 */
#ifndef IA_MODEL_LM_H
#define IA_MODEL_LM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/decoder.h"
#include "model/sampler.h"
#include "tokenizer/bpe.h"

struct cJSON;
struct ia_jinja;

/* A folder's generation_config.json: what its authors generate with. */
typedef struct ia_lm_gen_config {
    bool present;             /* the file was there */
    int32_t eos[8];           /* eos_token_id (one or a list): generation ends at these too */
    int n_eos;
    /* temperature, top_k, top_p, min_p and repetition_penalty as given:
     * the defaults of requests that leave them out, as vLLM applies them
     * (do_sample is not read); absent ones NAN, top_k -1 */
    ia_sampling sampling;
    int max_new_tokens;       /* 0: not given */
} ia_lm_gen_config;

typedef struct ia_lm {
    const ia_backend *be;
    void *bctx;             /* the instance: threads, precision */
    ia_decoder *dec;
    ia_bpe *tok;
    char *chat_template;    /* tokenizer.chat_template (GGUF), tokenizer_config.json's or chat_template.jinja (folder), or NULL */
    struct ia_jinja *tmpl;  /* it, compiled (NULL: none, or it did not compile: tmpl_error says why) */
    char tmpl_error[256];
    char *path;
    ia_lm_gen_config gen;   /* folders only */
} ia_lm;

/* Load a decoder and its tokenizer on `device` ("cpu", "auto", NULL: the
 * configured one) with n_threads (0: all cores): a GGUF file (tokenizer
 * and chat template from its metadata) or a Hugging Face folder
 * (config.json, safetensors, tokenizer.json, tokenizer_config.json,
 * generation_config.json, chat_template.jinja), its sessions' KV caches
 * as ia__lm_set_kv_cache says for kv_cache. */
ia_status ia__lm_load(const char *path, const char *device, int n_threads, const char *kv_cache, ia_lm **out);
/* The KV caches of sessions made from now on: "f16" or "f32" (NULL or "":
 * the default, f16 on the CPU, else f32). */
ia_status ia__lm_set_kv_cache(ia_lm *lm, const char *type);
void ia__lm_free(ia_lm *lm);
/* Whether generation ends at tok: the tokenizer's end-of-generation
 * tokens (ia__bpe_is_eog) and generation_config.json's eos ids. */
bool ia__lm_is_eog(const ia_lm *lm, int32_t tok);

/* The prompt of a conversation: `messages` (a JSON array of {role,
 * content}; content a string or a list of {type: "text", text} parts) and
 * `tools` (an array, or NULL) rendered with the model's chat template as
 * transformers renders it, then tokenized with the template's special
 * tokens recognized and the messages' own text kept as text (a user
 * cannot type a control token). *rendered (may be NULL) gets the text
 * (caller frees). */
ia_status ia__lm_chat_prompt(const ia_lm *lm, const struct cJSON *messages, const struct cJSON *tools,
                             bool add_generation_prompt, ia_i32vec *ids, char **rendered);

/* Each generated token with its log-probability and, if asked, the
 * top_logprobs most likely alternatives (most likely first). */
typedef void (*ia_gen_token_fn)(int32_t token, float logprob, const int32_t *top, const float *top_logprobs,
                                int n_top, void *user);

typedef struct ia_gen_params {
    ia_sampling sampling;
    int max_tokens;           /* 0: until the context is full */
    const char *const *stop;  /* strings that end the text (not included) */
    size_t n_stop;
    bool ignore_eos;          /* keep going past end-of-generation tokens */
    ia_gen_token_fn on_token; /* may be NULL; gets the on_text user pointer */
    int top_logprobs;         /* alternatives per token for on_token, 0..20 */
} ia_gen_params;

typedef struct ia_gen_result {
    int prompt_tokens;        /* evaluated for this call */
    int cached_tokens;        /* of the prompt, already in the session */
    int completion_tokens;
    const char *finish_reason; /* "stop", "length" or "cancelled" */
    double first_token_s;     /* from the call to the first token */
    double total_s;
} ia_gen_result;

/* Text as it becomes final (never half a UTF-8 character, never part of a
 * stop string); return false to cancel. */
typedef bool (*ia_gen_fn)(const char *text, size_t len, void *user);

/* Continue the session with prompt[0..n) and generate. The part of the
 * prompt the session already holds (from an earlier turn) is not computed
 * again: the session is rewound to the longest common prefix. */
ia_status ia__lm_generate(const ia_lm *lm, ia_session *s, const int32_t *prompt, int n, const ia_gen_params *p,
                          ia_gen_fn on_text, void *user, ia_gen_result *res);

/* The same, one step at a time, so that a server can put many generations
 * into one forward (continuous batching):
 *   ia__gen_new      checks the prompt, rewinds the session to the common
 *                    prefix (the cached tokens);
 *   ia__gen_next     the tokens the next forward evaluates for it: up to max
 *                    tokens of the prompt still to evaluate, or the last
 *                    sampled token; 0 once done. *need_logits: whether that
 *                    forward must give the logits after the last of them;
 *   ia__gen_advance  after the forward (which moved the session): samples
 *                    from logits when they were needed, streams the text,
 *                    and decides whether it is done.
 * The session belongs to the generation until it is freed. */
typedef struct ia_gen ia_gen;
ia_status ia__gen_new(const ia_lm *lm, ia_session *s, const int32_t *prompt, int n, const ia_gen_params *p,
                      ia_gen_fn on_text, void *user, ia_gen **out);
int ia__gen_next(const ia_gen *g, int max, const int32_t **tokens, bool *need_logits);
ia_status ia__gen_advance(ia_gen *g, const float *logits);
bool ia__gen_done(const ia_gen *g);
/* Stop now, finish_reason "cancelled" (a client went away). */
void ia__gen_cancel(ia_gen *g);
void ia__gen_result(const ia_gen *g, ia_gen_result *res);
ia_session *ia__gen_session(const ia_gen *g);
void ia__gen_free(ia_gen *g);

#endif
