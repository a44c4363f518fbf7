/*
 * Decoder language models on the engine core: the Llama family (llama,
 * qwen2, qwen3, mistral) and GPT-2, from GGUF files or Hugging Face folders
 * (config.json and model.safetensors, sharded or not). A loaded decoder is
 * immutable and may be shared by any number of threads; everything one
 * conversation changes lives in its session: the KV cache (grown in
 * blocks of IA_KV_BLOCK positions as the context fills) and the tokens at
 * its positions. A forward's scratch comes from the backend's buffers for
 * the call. Never installed.
 *
 * Weights stay in the dtype their file stores (q4_1, q8_0, f16, bf16...).
 * On a backend whose memory is host memory they are used where the file
 * is mapped, so a model's resident size is about its file size; other
 * backends get copies in their own memory. Only what the ops cannot take
 * as stored is converted at load (norm weights and biases to f32, GPT-2's
 * transposed Conv1D matrices of Hugging Face files).
 */
#ifndef IA_MODEL_DECODER_H
#define IA_MODEL_DECODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend-impl.h"

typedef enum ia_decoder_kind {
    IA_DEC_LLAMA, /* RMSNorm, rotary positions, SwiGLU: llama, qwen2, qwen3, mistral */
    IA_DEC_GPT2,  /* LayerNorm, learned positions, GELU MLP, biases everywhere */
} ia_decoder_kind;

typedef struct ia_decoder_config {
    char arch[32];           /* llama, qwen2, qwen3, mistral, gpt2 */
    ia_decoder_kind kind;
    char format[16];         /* where it came from: "gguf" or "safetensors" */
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    int n_ctx_train;         /* the context it was trained for (gpt2: the rows of its position table) */
    float norm_eps;          /* RMSNorm or LayerNorm epsilon */
    ia_act act;              /* the feed-forward activation (SiLU gate; gpt2's gelu) */
    ia_rope_params rope;     /* IA_DEC_LLAMA */
    float attn_scale;        /* of the scores: 1/sqrt(head_dim), YaRN's attention factor squared */
    int sliding_window;      /* 0: none */
    bool bidirectional;      /* every token attends to every other (embedders whose config.json says
                              * "is_causal": false or "use_bidirectional_attention": true) */
    bool tied_embeddings;    /* the output projection is the token table */
} ia_decoder_config;

typedef struct ia_decoder ia_decoder;

/* Load a decoder onto an instance bctx of backend be (which must outlive
 * it): a GGUF file, or a Hugging Face folder (config.json, then
 * model.safetensors or the shards model.safetensors.index.json names).
 * Errors name the file and the key or tensor at fault; IA_ERR_UNSUPPORTED
 * for architectures, rope scalings and dtypes this build does not run. */
ia_status ia__decoder_load_gguf(const char *path, const ia_backend *be, void *bctx, ia_decoder **out);
ia_status ia__decoder_load_hf(const char *dir, const ia_backend *be, void *bctx, ia_decoder **out);
/* The base model alone, as a sentence-transformers embedder's folder holds
 * it (Qwen2Model: weight names with or without the "model." prefix, no
 * lm_head): ia__decoder_hidden only, its sessions give no logits. */
ia_status ia__decoder_load_hf_base(const char *dir, const ia_backend *be, void *bctx, ia_decoder **out);
void ia__decoder_free(ia_decoder *d);
const ia_decoder_config *ia__decoder_config(const ia_decoder *d);
/* The GGUF file the decoder reads its weights (and tokenizer) from; NULL
 * for a folder. */
const struct ia_gguf *ia__decoder_gguf(const ia_decoder *d);

/* Positions per KV-cache block. */
#define IA_KV_BLOCK 256

typedef struct ia_session ia_session;

/* A session of up to n_ctx positions (0: the model's training context;
 * with learned positions, as gpt2's, no more than it: IA_ERR_INVALID). */
/* The dtype of the KV caches of sessions made from now on: IA_DTYPE_F32
 * (a new decoder's) or IA_DTYPE_F16 (half the bytes; keys and values
 * rounded to 11 bits). */
ia_status ia__decoder_set_kv_dtype(ia_decoder *d, ia_dtype t);
ia_status ia__session_new(const ia_decoder *d, int n_ctx, ia_session **out);
void ia__session_free(ia_session *s);
/* Positions filled so far, and the tokens at them (borrowed, valid until
 * the next eval or truncate). */
int ia__session_pos(const ia_session *s);
const int32_t *ia__session_tokens(const ia_session *s);
/* The context's size in positions. */
int ia__session_n_ctx(const ia_session *s);
/* Bytes of KV cache the session holds now. */
size_t ia__session_kv_bytes(const ia_session *s);
/* Forget positions from `pos` on (0: all). */
void ia__session_truncate(ia_session *s, int pos);

/* Run tokens[0..n) at the next positions, in batches of at most
 * IA_DECODE_BATCH tokens. logits (n_vocab floats, may be NULL): those
 * after the last token; all_logits (n x n_vocab, may be NULL): after each
 * one. IA_ERR_INVALID (nothing changed) for an id outside the vocabulary
 * or more tokens than the context has left. */
#define IA_DECODE_BATCH 512
ia_status ia__session_eval(ia_session *s, const int32_t *tokens, int n, float *logits, float *all_logits);

/* One forward for several sessions of one decoder (continuous batching):
 * tokens[i][0..n[i]) at the next positions of sessions[i], at most
 * IA_DECODE_BATCH tokens in all. logits gets, for each i with
 * want_logits[i], in order, the n_vocab logits after its last token. The
 * sessions must be distinct; on an error none of them moved. */
ia_status ia__session_eval_batch(ia_session *const *sessions, const int32_t *const *tokens, const int *n, int n_seq,
                                 const bool *want_logits, float *logits);

/* The hidden states after the final norm (n_tok, n_embd), in backend
 * memory, of packed texts (ids, offsets: text i is ids[offsets[i] ..
 * offsets[i + 1])), each from position 0 and attending causally to itself
 * alone, as the base model computes them for one text: what last-token
 * pooling of decoder embedders reads. IA_ERR_INVALID for an empty text or
 * an id outside the vocabulary. */
ia_status ia__decoder_hidden(const ia_decoder *d, const int32_t *ids, const int *offsets, int n_seqs, float *hidden);

/* Make dst hold src's first n positions (KV rows and tokens), as if it had
 * evaluated them: a prefix shared between requests is computed once. */
ia_status ia__session_copy_prefix(ia_session *dst, const ia_session *src, int n);

#endif
