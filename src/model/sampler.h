/*
 * Choosing the next token from a decoder's logits: greedy or random with
 * temperature, top-k, top-p (nucleus) and min-p, after logit biases and
 * repetition / presence / frequency penalties, as llama.cpp and vLLM apply
 * them. Each sampler has its own random generator seeded by the request, so
 * the same seed gives the same tokens whatever else runs in the batch.
 * Never installed.
 */
#ifndef IA_MODEL_SAMPLER_H
#define IA_MODEL_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core-impl.h"
#include "ipfs_accelerate/generate.h"

/* token, and the bias added to its logit; -100 or less bans it */
typedef ia_lm_logit_bias ia_logit_bias;

/* Zero is the default of every field but the penalties' 1. */
typedef struct ia_sampling {
    float temperature;        /* <= 0: greedy (the most likely token) */
    int top_k;                /* keep the k most likely (0: all) */
    float top_p;              /* keep the smallest set whose probability reaches p (0 or 1: all) */
    float min_p;              /* keep tokens at least min_p times the most likely's probability (0: all) */
    float repetition_penalty; /* seen tokens' logits / it (if > 0) or * it (0 or 1: off) */
    float presence_penalty;   /* - it for each seen token */
    float frequency_penalty;  /* - it times each seen token's count */
    uint64_t seed;
    const ia_logit_bias *logit_bias;
    size_t n_logit_bias;
} ia_sampling;

typedef struct ia_sampler ia_sampler;

/* IA_ERR_INVALID naming the field for values out of range (negative
 * top_k, top_p or min_p outside [0, 1], a bias for a token outside the
 * vocabulary...). */
ia_status ia__sampler_new(const ia_sampling *p, int n_vocab, ia_sampler **out);
void ia__sampler_free(ia_sampler *s);
/* Count a token of the context (prompt or generated) for the penalties. */
void ia__sampler_accept(ia_sampler *s, int32_t token);
/* The next token from logits (n_vocab, left unchanged). *logprob (may be
 * NULL): its log-probability under the model's own distribution (the raw
 * logits' softmax). */
int32_t ia__sampler_sample(ia_sampler *s, const float *logits, float *logprob);

/* The n most likely tokens under the raw logits, most likely first, with
 * their log-probabilities (OpenAI's top_logprobs). Returns how many (<= n). */
int ia__top_logprobs(const float *logits, int n_vocab, int n, int32_t *tokens, float *logprobs);

#endif
