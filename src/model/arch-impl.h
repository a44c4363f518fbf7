/*
 * Model architectures: each transformer family (bert, ...) implements this
 * table once against the backend ops; the registry finds it by the
 * model_type of config.json. Never installed.
 */
#ifndef IA_ARCH_IMPL_H
#define IA_ARCH_IMPL_H

#include <cjson/cJSON.h>

#include "backend/backend-impl.h"
#include "model/safetensors-impl.h"

/* The hyperparameters of an encoder, read from config.json. */
typedef struct ia_encoder_config {
    int vocab_size, hidden_size, n_layers, n_heads, intermediate_size;
    /* max_position: the longest sequence, in tokens; the position table
     * has max_position + pos_offset rows (RoBERTa-style models number
     * positions from pos_offset = padding_idx + 1, BERT from 0). */
    int max_position, type_vocab_size, pad_token_id;
    int pos_offset;
    /* Relative-position attention bias (MPNet): rel_buckets rows in the
     * table (0: none), buckets as T5's up to rel_max_distance. */
    int rel_buckets, rel_max_distance;
    float layer_norm_eps;
    /* Rotary encoders (ModernBERT): the rope base of the global layers
     * and of the local ones, whose attention sees keys at most
     * local_window positions away on either side; every global_every-th
     * layer, from layer 0, is global. Optional biases of the LayerNorms,
     * the attention's projections and the feed-forward network's. */
    float rope_theta, rope_theta_local;
    int local_window, global_every;
    bool norm_bias, attn_bias, mlp_bias;
    /* Gated post-LN encoders (gated_bert.c: NomicBERT, GTE's "new", Jina
     * BERT v2; attn_bias above for the attention's projections):
     * rope_dims rotated dimensions per head (0: no rotary positions), in
     * pairs (i, i + rope_dims / 2), or (2i, 2i + 1) when rope_interleaved;
     * rope_ntk_factor > 0: the frequencies divided by GTE's fixed NTK
     * factors (mixed when rope_ntk_mixed_b > 0); ALiBi biases instead of
     * positions; the feed-forward network gated (GLU, act on the gate) or
     * plain (act after its first linear layer), with or without the
     * biases of its two linear layers; RMSNorm in the layers (GTE's
     * layer_norm_type rms_norm). */
    int rope_dims;
    float rope_ntk_factor, rope_ntk_mixed_b;
    bool rope_interleaved, alibi, ffn_gated, ffn_in_bias, ffn_out_bias, rms_norm;
    /* Decoders: floats per token of the per-text KV caches (K and V of
     * every layer) and of their second feed-forward buffer (gate and up);
     * 0 for encoders. For the memory limit's estimate. */
    int extra_per_token;
    ia_act act;
    char act_name[32];
} ia_encoder_config;

#define IA_ARCH_API_VERSION 3

struct ia_arch_i {
    /* Read config.json into *cfg; errors name `config_path` and the key. */
    ia_status (*parse_config)(const cJSON *config, const char *config_path,
                              ia_encoder_config *cfg);
    /* Check and convert the weights in st into the backend instance bctx
     * (of be); *state is the architecture's. */
    ia_status (*load)(const ia_encoder_config *cfg, const ia_safetensors *st,
                      const ia_backend *be, void *bctx, void **state, size_t *n_params,
                      const char **weights_dtype);
    void (*free)(void *state);
    /* Hidden states (n_tok, hidden) of packed sequences (ids, offsets);
     * types: each token's segment (token type), NULL for all 0. */
    ia_status (*forward)(const void *state, const int32_t *ids, const int32_t *types, const int *offsets,
                         int n_seqs, float *hidden);
    /* Optional (NULL: load is called): load given the model's folder too,
     * for weights that stay mapped from the folder's own files while the
     * model lives (the decoders'); st is closed after the call. When set,
     * it is called instead of load. Since api_version 3. */
    ia_status (*load_dir)(const ia_encoder_config *cfg, const char *dir, const ia_safetensors *st,
                          const ia_backend *be, void *bctx, void **state, size_t *n_params,
                          const char **weights_dtype);
    /* Optional (NULL: any): the one compute precision the architecture
     * runs, chosen for it; another one asked for is refused. Since
     * api_version 3. */
    const char *precision;
};

typedef struct ia_arch {
    int api_version;
    const char *model_type; /* config.json "model_type" */
    struct ia_arch_i iface;
} ia_arch;

/* The architecture for a model_type, or NULL. */
const ia_arch *ia__arch_find(const char *model_type);
/* Comma-separated list of supported model types, for messages. */
const char *ia__arch_names(void);

const ia_arch *ia__arch_bert(void);
const ia_arch *ia__arch_distilbert(void);
const ia_arch *ia__arch_mpnet(void);
const ia_arch *ia__arch_roberta(void);
const ia_arch *ia__arch_xlm_roberta(void);
const ia_arch *ia__arch_camembert(void);
/* src/model/modernbert.c */
const ia_arch *ia__arch_modernbert(void);
/* src/model/gated_bert.c: nomic_bert, new (GTE), and Jina BERT v2, whose
 * config.json says model_type "bert" with position_embedding_type
 * "alibi" (found through ia__arch_for_config) */
const ia_arch *ia__arch_nomic_bert(void);
const ia_arch *ia__arch_gte_new(void);
const ia_arch *ia__arch_jina_bert(void);
/* config.json readers (src/model/config_json.c), each naming path and key
 * in its error: an integer in [lo, hi] (absent or null: dflt, unless dflt
 * < lo, then required), a number in (0, hi] (absent or null: dflt), a
 * boolean (absent or null: dflt). */
ia_status ia__cfg_int(const cJSON *c, const char *path, const char *key, int lo, int hi, int dflt, int *out);
ia_status ia__cfg_num(const cJSON *c, const char *path, const char *key, double hi, double dflt, double *out);
ia_status ia__cfg_bool(const cJSON *c, const char *path, const char *key, bool dflt, bool *out);
/* IA_ERR_UNSUPPORTED naming the entry when config.json's architectures
 * name a *ForSequenceClassification, for families whose heads are not run
 * (why: what is missing); else IA_OK. */
ia_status ia__cfg_refuse_cls_head(const cJSON *c, const char *path, const char *family, const char *why);
/* The architecture for a config.json: by its model_type, except the
 * families that share another's (Jina BERT v2 says "bert"); NULL when
 * none. */
const ia_arch *ia__arch_for_config(const cJSON *config, const char *model_type);
/* decoder embedders, src/model/embed_decoder.c */
const ia_arch *ia__arch_qwen2(void);
const ia_arch *ia__arch_qwen3(void);
const ia_arch *ia__arch_mistral(void);
const ia_arch *ia__arch_llama(void);

#endif
