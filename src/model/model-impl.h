/* Internal model entry points for tests and tools. Never installed. */
#ifndef IA_MODEL_IMPL_H
#define IA_MODEL_IMPL_H

#include "backend/backend-impl.h"
#include "core/core-impl.h"
#include "ipfs_accelerate/model.h"

/* Last-layer hidden states (n_tokens, hidden) of one text, specials
 * included; *states is owned by the caller (ia__free). */
ia_status ia__model_token_states(const ia_model *m, const char *text, float **states,
                                 size_t *n_tokens);

/* Embed n texts already tokenized by the model's tokenizer (ids[i] of
 * n_ids[i] tokens, specials included, at most max_seq_length each): the
 * server tokenizes once, to count and check, and hands the ids over. */
ia_status ia__model_embed_ids(const ia_model *m, const int32_t *const *ids, const size_t *n_ids, size_t n,
                              bool normalize, float *out, ia_embed_stats *stats);

/* The last layer's hidden states of texts already tokenized: out gets
 * n_ids[0] + n_ids[1] + ... rows of hidden_size floats, input by input
 * (TEI's /embed_all; sentence-transformers' token_embeddings). */
ia_status ia__model_token_states_ids(const ia_model *m, const int32_t *const *ids, const size_t *n_ids, size_t n,
                                    float *out, ia_embed_stats *stats);

/* ia_model_classify on texts or pairs already tokenized (types: each
 * input's token types, or NULL): the server's reranking and /predict. */
ia_status ia__model_classify_ids(const ia_model *m, const int32_t *const *ids, const int32_t *const *types,
                                 const size_t *n_ids, size_t n, bool raw, float *out, ia_embed_stats *stats);

/* ia_model_resolve's resolution; allow_file: an existing file is taken
 * too (a GGUF decoder is one file), made absolute. */
ia_status ia__model_resolve_path(const char *ref, bool allow_file, const struct ia_hub_options *hub, char **path);

/* The model's per-op profile so far (zeros unless
 * performance.enable_profiling was on when it loaded). */
void ia__model_profile(const ia_model *m, ia_backend_profile *p);

#endif
