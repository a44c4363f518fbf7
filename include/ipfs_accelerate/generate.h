/*
 * Text generation with decoder language models (Llama family: llama,
 * qwen2, qwen3, mistral in GGUF files): load a model, open a session (one
 * conversation: its KV cache and the tokens in it), and generate from a
 * prompt text or from chat messages (the OpenAI shape, rendered with the
 * model's chat template), streaming the text as it is produced. Sampling
 * options are named like the OpenAI API's fields.
 *
 *     ia_lm *lm;  ia_lm_session *s;  char *text;
 *     ia_lm_load("SmolLM2-135M-Instruct.Q4_1.gguf", NULL, &lm);
 *     ia_lm_session_new(lm, 0, &s);
 *     ia_lm_gen_options go = IA_LM_GEN_OPTIONS_INIT;  go.max_tokens = 64;
 *     ia_lm_session_chat(s, "[{\"role\": \"user\", \"content\": \"Hi!\"}]", NULL,
 *                        &go, NULL, NULL, &text, NULL);
 *
 * A session keeps the tokens it has computed: a call whose prompt begins
 * with them (the next turn of a chat: the earlier messages and answers)
 * computes only the rest. ia_lm_result.cached_tokens says how many were
 * reused.
 *
 * Thread safety: a loaded ia_lm is immutable; any number of threads may
 * use it at once (sessions, tokenize, templates). A session is used by
 * one thread at a time: a call on a session another call is using fails
 * with IA_ERR_INVALID (nothing changed).
 */
#ifndef IPFS_ACCELERATE_GENERATE_H
#define IPFS_ACCELERATE_GENERATE_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ia_lm ia_lm;
typedef struct ia_lm_session ia_lm_session;

/* As the other option structs: size first (the _INIT macro; 0 is taken as
 * this header's size), every other field's zero value its default. */
typedef struct ia_lm_options {
    size_t size;        /* sizeof(ia_lm_options) (IA_LM_OPTIONS_INIT) */
    int n_threads;      /* worker threads; 0: one per core */
    const char *device; /* "auto", "cpu"...; NULL: the configured hardware.device */
    const char *kv_cache; /* the sessions' KV caches: "f16" (half the memory
                             and the bytes a decode step reads; the default
                             on the CPU, as in llama.cpp) or "f32" (the
                             default on the other devices); NULL: default */
} ia_lm_options;

#define IA_LM_OPTIONS_INIT {.size = sizeof(ia_lm_options)}

/* Load a decoder and its tokenizer and chat template. `ref` is a GGUF
 * file, or what ia_model_resolve() resolves (a folder, a Hugging Face id
 * in the cache, an IPFS reference "ipfs://CID[/path]", which may name a
 * file). opt may be NULL for defaults. *out is owned by the caller
 * (ia_lm_free). Errors name the file and the key or tensor at fault:
 * IA_ERR_NOT_FOUND, IA_ERR_FORMAT (not GGUF, bad metadata),
 * IA_ERR_UNSUPPORTED (an architecture or tensor type not implemented). A
 * chat template that cannot be run does not fail the load: the chat calls
 * fail, saying why. */
IA_API ia_status ia_lm_load(const char *ref, const ia_lm_options *opt, ia_lm **out);
IA_API void ia_lm_free(ia_lm *lm);

typedef struct ia_lm_info {
    const char *path;          /* the file (or folder) it was loaded from */
    const char *architecture;  /* general.architecture: "llama", "qwen2"... */
    int vocab_size;
    int context_length;        /* positions it was trained for: a session's default size */
    int n_layers, n_heads, n_heads_kv, n_embd;
    bool has_chat_template;    /* the chat calls can run */
    const char *chat_template; /* its source (tokenizer.chat_template), or NULL */
    const char *tokenizer;     /* description, e.g. "byte-level BPE, pre-tokenizer smollm (GGUF)" */
    const char *backend;       /* backend that computes, e.g. "cpu" */
} ia_lm_info;

/* Fill *info. Strings are borrowed from the model. A NULL model or info:
 * nothing. (Fields are only ever appended; a larger struct comes with a
 * new function.) */
IA_API void ia_lm_get_info(const ia_lm *lm, ia_lm_info *info);

/* Tokens of `len` bytes of text, with the model's own specials around it
 * when add_special (a BOS for Llama; nothing for SmolLM2/Qwen2), and
 * special-token text ("<|im_start|>") turned into those tokens only when
 * parse_special (else it stays text). Writes up to cap ids (ids may be
 * NULL when cap is 0) and sets *n_ids to how many there are: call again
 * with a larger buffer if *n_ids > cap. */
IA_API ia_status ia_lm_tokenize(const ia_lm *lm, const char *text, size_t len, bool add_special,
                                bool parse_special, int32_t *ids, size_t cap, size_t *n_ids);

/* The text of ids[0..n) (skip_special: without bos, eos, <|im_end|>...).
 * *text is owned by the caller (ia_free), NUL-terminated; *len (may be
 * NULL) its length. IA_ERR_INVALID names an id outside the vocabulary. */
IA_API ia_status ia_lm_detokenize(const ia_lm *lm, const int32_t *ids, size_t n, bool skip_special,
                                  char **text, size_t *len);

/* The model's chat template applied to messages_json (a JSON array of
 * {"role", "content"}, content a string or a list of {"type": "text",
 * "text"} parts, as in OpenAI chat requests) and tools_json (a JSON array
 * of tools, or NULL), as transformers' apply_chat_template renders it;
 * add_generation_prompt opens the assistant's turn. *text is owned by the
 * caller (ia_free). IA_ERR_UNSUPPORTED when the model has no template that
 * can run; IA_ERR_INVALID for malformed messages. */
IA_API ia_status ia_lm_apply_chat_template(const ia_lm *lm, const char *messages_json, const char *tools_json,
                                           bool add_generation_prompt, char **text);

/* A session of up to n_ctx positions (0: the model's context_length).
 * Memory for its KV cache grows as the context fills. The model must
 * outlive it. *out is owned by the caller (ia_lm_session_free). */
IA_API ia_status ia_lm_session_new(const ia_lm *lm, int n_ctx, ia_lm_session **out);
IA_API void ia_lm_session_free(ia_lm_session *s);
/* Forget the conversation (the next call computes its whole prompt);
 * nothing while a generation is using the session. */
IA_API void ia_lm_session_reset(ia_lm_session *s);
/* Tokens the session holds (computed positions), and its size; 0 for NULL.
 * Between generations (like every other call on a session). */
IA_API int ia_lm_session_n_tokens(const ia_lm_session *s);
IA_API int ia_lm_session_n_ctx(const ia_lm_session *s);

/* Text as it becomes final: whole UTF-8 characters, never part of a stop
 * string. Return false to stop the generation (finish_reason
 * "cancelled"). Called on the thread that called the generation. */
typedef bool (*ia_lm_text_fn)(const char *text, size_t len, void *user);

/* Each generated token, its log-probability under the model, and (if
 * top_logprobs > 0) the n_top most likely tokens with theirs, most likely
 * first (OpenAI's logprobs). Arrays are borrowed for the call. */
typedef void (*ia_lm_token_fn)(int32_t token, float logprob, const int32_t *top, const float *top_logprobs,
                               int n_top, void *user);

/* A bias added to one token's logit before sampling (OpenAI's logit_bias):
 * -100 or less bans the token, 100 all but forces it. */
typedef struct ia_lm_logit_bias {
    int32_t token;
    float bias;
} ia_lm_logit_bias;

typedef struct ia_lm_gen_options {
    size_t size;              /* sizeof(ia_lm_gen_options) (IA_LM_GEN_OPTIONS_INIT) */
    int max_tokens;           /* tokens to generate at most; 0: until the model ends
                                 the text or the context is full */
    float temperature;        /* 0: greedy (the most likely token); > 0: sample */
    float top_p;              /* nucleus sampling, in [0, 1] (0 or 1: off) */
    int top_k;                /* sample from the k most likely (0: off) */
    float min_p;              /* drop tokens under min_p x the most likely's
                                 probability, in [0, 1] (0: off) */
    float repetition_penalty; /* > 0 (0 or 1: off), as llama.cpp applies it */
    float presence_penalty;   /* in [-2, 2], as OpenAI defines it */
    float frequency_penalty;  /* in [-2, 2] */
    uint64_t seed;            /* the same seed and options, the same text */
    const char *const *stop;  /* n_stop non-empty strings that end the text
                                 (not included in it) */
    size_t n_stop;
    bool ignore_eos;          /* go on past end-of-text tokens */
    ia_lm_token_fn on_token;  /* may be NULL; gets the call's user pointer */
    int top_logprobs;         /* alternatives per token for on_token, 0..20 */
    const ia_lm_logit_bias *logit_bias; /* n_logit_bias tokens' biases, in [-100, 100] */
    size_t n_logit_bias;
} ia_lm_gen_options;

#define IA_LM_GEN_OPTIONS_INIT {.size = sizeof(ia_lm_gen_options)}

typedef struct ia_lm_result {
    int prompt_tokens;         /* tokens of this call's prompt */
    int cached_tokens;         /* of them, already in the session (not computed again) */
    int completion_tokens;     /* generated */
    const char *finish_reason; /* "stop" (end of text or a stop string),
                                  "length" (max_tokens or the context) or
                                  "cancelled" (the text callback returned false);
                                  constant */
    double first_token_s;      /* seconds from the call to the first token */
    double total_s;            /* seconds for the whole call */
} ia_lm_result;

/* Continue the session with `prompt` (text, NUL-terminated; tokenized
 * with the model's own specials in front and special-token text kept as
 * text, as `ipfs-accelerate generate` does; no chat template) and
 * generate. The session's tokens that begin the new prompt are reused;
 * afterwards it holds the prompt and the generated text.
 *
 * on_text (may be NULL) streams the text; user goes to it and to
 * opt->on_token. text (may be NULL) gets the whole generated text, owned
 * by the caller (ia_free). res (may be NULL) gets the counts and timings,
 * on failure too. opt NULL: defaults (greedy, until the end of text).
 * A cancelled generation returns IA_OK with finish_reason "cancelled".
 * IA_ERR_INVALID for an option out of range (named), an empty prompt, or
 * a prompt longer than the session's context. */
IA_API ia_status ia_lm_session_generate(ia_lm_session *s, const char *prompt, const ia_lm_gen_options *opt,
                                        ia_lm_text_fn on_text, void *user, char **text, ia_lm_result *res);

/* The same with the prompt as n_ids token ids (no specials added: the ids
 * are the prompt as they are). IA_ERR_INVALID for an id outside the
 * vocabulary (named) or n_ids of 0. */
IA_API ia_status ia_lm_session_generate_ids(ia_lm_session *s, const int32_t *ids, size_t n_ids,
                                            const ia_lm_gen_options *opt, ia_lm_text_fn on_text, void *user,
                                            char **text, ia_lm_result *res);

/* The same for a chat: messages_json and tools_json (NULL: none) as for
 * ia_lm_apply_chat_template, the assistant's turn opened; the text is the
 * assistant's answer. Message text is kept as text: a user cannot type a
 * control token. For the next turn, send the messages again with the
 * answer appended (as the OpenAI API does): the session recognizes the
 * conversation so far and computes only what is new. */
IA_API ia_status ia_lm_session_chat(ia_lm_session *s, const char *messages_json, const char *tools_json,
                                    const ia_lm_gen_options *opt, ia_lm_text_fn on_text, void *user,
                                    char **text, ia_lm_result *res);

#ifdef __cplusplus
}
#endif
#endif
