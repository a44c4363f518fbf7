/*
 * The layout of the public structs other languages mirror (the Python
 * binding's ctypes classes): each struct's size and its fields' offsets,
 * as JSON. The binding compares its mirrors with this when it loads the
 * library, so a field added on one side only is an error, not silently
 * shifted data.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>

#include "core/core-impl.h"
#include "ipfs_accelerate/ipfs_accelerate.h"

#define FIELD(type, f) {#f, offsetof(type, f)}
typedef struct layout_field { const char *name; size_t offset; } layout_field;
typedef struct layout { const char *name; size_t size; layout_field fields[24]; } layout;

static const layout layouts[] = {
    {"ia_model_options", sizeof(ia_model_options),
     {FIELD(ia_model_options, size), FIELD(ia_model_options, n_threads), FIELD(ia_model_options, device),
      FIELD(ia_model_options, max_seq_length), FIELD(ia_model_options, batch_tokens),
      FIELD(ia_model_options, precision), FIELD(ia_model_options, pooling)}},
    {"ia_model_info", sizeof(ia_model_info),
     {FIELD(ia_model_info, path), FIELD(ia_model_info, architecture),
      FIELD(ia_model_info, n_params), FIELD(ia_model_info, dim), FIELD(ia_model_info, n_layers),
      FIELD(ia_model_info, n_heads), FIELD(ia_model_info, hidden_size), FIELD(ia_model_info, intermediate_size),
      FIELD(ia_model_info, vocab_size), FIELD(ia_model_info, max_position), FIELD(ia_model_info, max_seq_length),
      FIELD(ia_model_info, activation), FIELD(ia_model_info, weights_dtype), FIELD(ia_model_info, pooling),
      FIELD(ia_model_info, normalize), FIELD(ia_model_info, tokenizer), FIELD(ia_model_info, backend),
      FIELD(ia_model_info, precision), FIELD(ia_model_info, device), FIELD(ia_model_info, backend_reason)}},
    {"ia_embed_options", sizeof(ia_embed_options),
     {FIELD(ia_embed_options, size), FIELD(ia_embed_options, normalize), FIELD(ia_embed_options, max_tokens),
      FIELD(ia_embed_options, prompt_name), FIELD(ia_embed_options, dimensions),
      FIELD(ia_embed_options, chunk_tokens), FIELD(ia_embed_options, chunk_overlap),
      FIELD(ia_embed_options, truncate_left)}},
    {"ia_classify_options", sizeof(ia_classify_options),
     {FIELD(ia_classify_options, size), FIELD(ia_classify_options, max_tokens),
      FIELD(ia_classify_options, raw_scores)}},
    {"ia_embed_stats", sizeof(ia_embed_stats),
     {FIELD(ia_embed_stats, n_tokens), FIELD(ia_embed_stats, n_truncated_texts),
      FIELD(ia_embed_stats, n_invalid_utf8)}},
    {"ia_lm_options", sizeof(ia_lm_options),
     {FIELD(ia_lm_options, size), FIELD(ia_lm_options, n_threads), FIELD(ia_lm_options, device),
      FIELD(ia_lm_options, kv_cache)}},
    {"ia_lm_info", sizeof(ia_lm_info),
     {FIELD(ia_lm_info, path), FIELD(ia_lm_info, architecture), FIELD(ia_lm_info, vocab_size),
      FIELD(ia_lm_info, context_length), FIELD(ia_lm_info, n_layers), FIELD(ia_lm_info, n_heads),
      FIELD(ia_lm_info, n_heads_kv), FIELD(ia_lm_info, n_embd), FIELD(ia_lm_info, has_chat_template),
      FIELD(ia_lm_info, chat_template), FIELD(ia_lm_info, tokenizer), FIELD(ia_lm_info, backend)}},
    {"ia_lm_gen_options", sizeof(ia_lm_gen_options),
     {FIELD(ia_lm_gen_options, size), FIELD(ia_lm_gen_options, max_tokens), FIELD(ia_lm_gen_options, temperature),
      FIELD(ia_lm_gen_options, top_p), FIELD(ia_lm_gen_options, top_k), FIELD(ia_lm_gen_options, min_p),
      FIELD(ia_lm_gen_options, repetition_penalty), FIELD(ia_lm_gen_options, presence_penalty),
      FIELD(ia_lm_gen_options, frequency_penalty), FIELD(ia_lm_gen_options, seed), FIELD(ia_lm_gen_options, stop),
      FIELD(ia_lm_gen_options, n_stop), FIELD(ia_lm_gen_options, ignore_eos), FIELD(ia_lm_gen_options, on_token),
      FIELD(ia_lm_gen_options, top_logprobs), FIELD(ia_lm_gen_options, logit_bias),
      FIELD(ia_lm_gen_options, n_logit_bias)}},
    {"ia_lm_logit_bias", sizeof(ia_lm_logit_bias),
     {FIELD(ia_lm_logit_bias, token), FIELD(ia_lm_logit_bias, bias)}},
    {"ia_lm_result", sizeof(ia_lm_result),
     {FIELD(ia_lm_result, prompt_tokens), FIELD(ia_lm_result, cached_tokens),
      FIELD(ia_lm_result, completion_tokens), FIELD(ia_lm_result, finish_reason),
      FIELD(ia_lm_result, first_token_s), FIELD(ia_lm_result, total_s)}},
    {"ia_hub_options", sizeof(ia_hub_options),
     {FIELD(ia_hub_options, size), FIELD(ia_hub_options, endpoint), FIELD(ia_hub_options, cache_dir), FIELD(ia_hub_options, revision),
      FIELD(ia_hub_options, token), FIELD(ia_hub_options, offline), FIELD(ia_hub_options, timeout_s),
      FIELD(ia_hub_options, progress), FIELD(ia_hub_options, progress_user)}},
    {"ia_selection", sizeof(ia_selection),
     {FIELD(ia_selection, backend), FIELD(ia_selection, device), FIELD(ia_selection, device_name),
      FIELD(ia_selection, precision), FIELD(ia_selection, precision_requested), FIELD(ia_selection, requested),
      FIELD(ia_selection, fallback), FIELD(ia_selection, reason)}},
    {"ia_cluster_options", sizeof(ia_cluster_options),
     {FIELD(ia_cluster_options, size), FIELD(ia_cluster_options, client_name), FIELD(ia_cluster_options, max_tasks),
      FIELD(ia_cluster_options, max_task_bytes), FIELD(ia_cluster_options, user),
      FIELD(ia_cluster_options, password), FIELD(ia_cluster_options, token), FIELD(ia_cluster_options, creds_file),
      FIELD(ia_cluster_options, tls_ca), FIELD(ia_cluster_options, tls_cert), FIELD(ia_cluster_options, tls_key),
      FIELD(ia_cluster_options, cache_bytes), FIELD(ia_cluster_options, result_ttl_s),
      FIELD(ia_cluster_options, result_max_bytes), FIELD(ia_cluster_options, cache_dir),
      FIELD(ia_cluster_options, cache_dir_bytes)}},
    {"ia_cluster_submit_options", sizeof(ia_cluster_submit_options),
     {FIELD(ia_cluster_submit_options, size), FIELD(ia_cluster_submit_options, dimensions),
      FIELD(ia_cluster_submit_options, prompt_name), FIELD(ia_cluster_submit_options, priority),
      FIELD(ia_cluster_submit_options, wait_s)}},
};

static char json[8192];
static pthread_once_t json_once = PTHREAD_ONCE_INIT;

static void write_json(void)
{
    size_t n = 0;
    n += (size_t)snprintf(json + n, sizeof json - n, "{");
    for (size_t i = 0; i < IA_ARRAY_LEN(layouts); i++) {
        const layout *l = &layouts[i];
        n += (size_t)snprintf(json + n, sizeof json - n, "%s\"%s\": {\"size\": %zu, \"fields\": {", i ? ", " : "",
                              l->name, l->size);
        for (size_t f = 0; f < IA_ARRAY_LEN(l->fields) && l->fields[f].name; f++)
            n += (size_t)snprintf(json + n, sizeof json - n, "%s\"%s\": %zu", f ? ", " : "", l->fields[f].name,
                                  l->fields[f].offset);
        n += (size_t)snprintf(json + n, sizeof json - n, "}}");
    }
    snprintf(json + n, sizeof json - n, "}");
}

const char *ia_abi_layouts(void)
{
    pthread_once(&json_once, write_json);
    return json;
}
