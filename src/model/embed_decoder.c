/*
 * Decoders as sentence embedders (gte-Qwen2-*-instruct, Qwen3-Embedding,
 * e5-mistral-7b-instruct and the like): the sentence-transformers folder
 * holds the base model (Qwen2Model, Qwen3Model, MistralModel, LlamaModel) whose final hidden states,
 * after the last RMSNorm, are pooled, usually from the last token
 * (Pooling's lasttoken): with causal attention only the last token has
 * seen the whole text. The forward is the decoder's (src/model/decoder.c),
 * run for hidden states instead of logits; every text starts at position 0
 * and sees only itself, so texts are packed without padding like the
 * encoders' and each keeps its own last token, whatever side the original
 * tokenizer pads. The tokenizer's post-processor is followed as
 * tokenizer.json states it (gte-Qwen2 appends <|endoftext|>).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model/arch-impl.h"
#include "model/decoder.h"

/* What model.c needs of config.json (sizes, positions); the decoder's load
 * reads and checks the rest (rope, biases, sliding window) itself. */
static ia_status parse_config(const cJSON *c, const char *path, ia_encoder_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    ia_status rc;
    if ((rc = ia__cfg_refuse_cls_head(c, path, "decoder", "scored on the last token")) ||
        (rc = ia__cfg_int(c, path, "vocab_size", 1, 1 << 24, 0, &cfg->vocab_size)) ||
        (rc = ia__cfg_int(c, path, "hidden_size", 1, 1 << 20, 0, &cfg->hidden_size)) ||
        (rc = ia__cfg_int(c, path, "num_hidden_layers", 1, 1024, 0, &cfg->n_layers)) ||
        (rc = ia__cfg_int(c, path, "num_attention_heads", 1, 4096, 0, &cfg->n_heads)) ||
        (rc = ia__cfg_int(c, path, "intermediate_size", 1, 1 << 22, 0, &cfg->intermediate_size)) ||
        (rc = ia__cfg_int(c, path, "max_position_embeddings", 1, 1 << 24, 0, &cfg->max_position)))
        return rc;
    /* the caches' width: num_key_value_heads x head_dim (checked again at load) */
    int kv_heads = cfg->n_heads, head_dim = cfg->hidden_size / cfg->n_heads;
    if ((rc = ia__cfg_int(c, path, "num_key_value_heads", 1, 4096, kv_heads, &kv_heads)) ||
        (rc = ia__cfg_int(c, path, "head_dim", 1, 1 << 16, head_dim > 0 ? head_dim : 1, &head_dim)))
        return rc;
    const int64_t extra = 2 * (int64_t)cfg->n_layers * kv_heads * head_dim + cfg->intermediate_size;
    cfg->extra_per_token = extra > INT32_MAX ? INT32_MAX : (int)extra;
    cfg->pad_token_id = -1; /* no position numbering from a padding id */
    cfg->act = IA_ACT_SILU;
    snprintf(cfg->act_name, sizeof cfg->act_name, "silu");
    return IA_OK;
}

static ia_status load_dir(const ia_encoder_config *cfg, const char *dir, const ia_safetensors *st,
                          const ia_backend *be, void *bctx, void **state, size_t *n_params, const char **weights_dtype)
{
    ia_decoder *d;
    ia_status rc = ia__decoder_load_hf_base(dir, be, bctx, &d);
    if (rc)
        return rc;
    (void)cfg; /* the decoder read the same config.json */
    *n_params = 0;
    for (size_t i = 0; i < ia__st_count(st); i++)
        *n_params += ia__st_numel(ia__st_at(st, i));
    const ia_st_tensor *emb = ia__st_find(st, "embed_tokens.weight");
    if (!emb)
        emb = ia__st_find(st, "model.embed_tokens.weight");
    *weights_dtype = emb ? ia__st_dtype_name(emb->dtype) : "F32";
    *state = d;
    return IA_OK;
}

static void dec_free(void *state) { ia__decoder_free(state); }

/* types: a decoder has none (and no pair classifier reaches it). */
static ia_status forward(const void *state, const int32_t *ids, const int32_t *types, const int *offsets, int n_seqs,
                         float *hidden)
{
    (void)types;
    return ia__decoder_hidden(state, ids, offsets, n_seqs, hidden);
}

/* The decoder reads each family's differences (qwen2's Q/K/V biases,
 * qwen3's per-head q/k norms, mistral's sliding window) from config.json itself. */
#define DECODER_ARCH(var, type)                                                                        \
    static const ia_arch var = {                                                                       \
        .api_version = IA_ARCH_API_VERSION,                                                            \
        .model_type = type,                                                                            \
        .iface = {.parse_config = parse_config,                                                        \
                  .free = dec_free,                                                                    \
                  .forward = forward,                                                                  \
                  .load_dir = load_dir,                                                                \
                  .precision = "fp32"}, /* as the decoder computes, on the stored weights */         \
    }
DECODER_ARCH(qwen2_arch, "qwen2");
DECODER_ARCH(qwen3_arch, "qwen3");
DECODER_ARCH(mistral_arch, "mistral");
DECODER_ARCH(llama_arch, "llama");

const ia_arch *ia__arch_qwen2(void) { return &qwen2_arch; }
const ia_arch *ia__arch_qwen3(void) { return &qwen3_arch; }
const ia_arch *ia__arch_mistral(void) { return &mistral_arch; }
const ia_arch *ia__arch_llama(void) { return &llama_arch; }
