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

typedef struct ia_lm {
    const ia_backend *be;
    void *bctx;             /* the instance: threads, precision */
    ia_decoder *dec;
    ia_bpe *tok;
    char *chat_template;    /* the file's tokenizer.chat_template, or NULL */
    struct ia_jinja *tmpl;  /* it, compiled (NULL: none, or it did not compile: tmpl_error says why) */
    char tmpl_error[256];
    char *path;
} ia_lm;

/* Load a GGUF decoder and its tokenizer on `device` ("cpu", "auto", NULL:
 * the configured one) with n_threads (0: all cores). */
ia_status ia__lm_load(const char *path, const char *device, int n_threads, ia_lm **out);
void ia__lm_free(ia_lm *lm);

/* The prompt of a conversation: `messages` (a JSON array of {role,
 * content}; content a string or a list of {type: "text", text} parts) and
 * `tools` (an array, or NULL) rendered with the model's chat template as
 * transformers renders it, then tokenized with the template's special
 * tokens recognized and the messages' own text kept as text (a user
 * cannot type a control token). *rendered (may be NULL) gets the text
 * (caller frees). */
ia_status ia__lm_chat_prompt(const ia_lm *lm, const struct cJSON *messages, const struct cJSON *tools,
                             bool add_generation_prompt, ia_i32vec *ids, char **rendered);

typedef struct ia_gen_params {
    ia_sampling sampling;
    int max_tokens;           /* 0: until the context is full */
    const char *const *stop;  /* strings that end the text (not included) */
    size_t n_stop;
    bool ignore_eos;          /* keep going past end-of-generation tokens */
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

#endif
