/*
 * Embedding models: load a Hugging Face model folder (config.json,
 * safetensors weights, tokenizer, sentence-transformers module files) and
 * turn texts into sentence embeddings.
 *
 * A loaded model is immutable; ia_model_embed() may be called from several
 * threads at once (each call uses its own scratch memory).
 */
#ifndef IPFS_ACCELERATE_MODEL_H
#define IPFS_ACCELERATE_MODEL_H

#include <stdbool.h>

#include "common.h"
#include "tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ia_model ia_model;

/* Option structs start with their size, so they can grow without breaking
 * programs built against older headers: set it with the _INIT macro (0 is
 * taken as this header's size). Every other field's zero value is its
 * default, so `ia_model_options mo = {0};` means defaults. */
typedef struct ia_model_options {
    size_t size;           /* sizeof(ia_model_options) (IA_MODEL_OPTIONS_INIT) */
    int n_threads;         /* worker threads; 0: one per core */
    const char *device;    /* "auto", "cpu", "cuda:1"...; NULL: the configured
                              hardware.device (see hardware.h) */
    size_t max_seq_length; /* tokens per text, specials included; 0: from
                              sentence_bert_config.json, else the model's
                              position limit */
    size_t batch_tokens;   /* tokens per forward batch; 0: default (8192) */
    const char *precision; /* compute precision (NULL: hardware.precision from
                              the configuration, default fp32): "fp32", or opt-in
                              "int8" (int8 weights, needs AVX-512 VNNI) or
                              "bf16" (needs AVX512_BF16); where the CPU lacks
                              them the model computes in fp32, and
                              ia_model_info.precision says which ran */
    const char *pooling;   /* NULL: as the folder's modules.json says; else
                              "mean", "cls", "max", "mean_sqrt_len_tokens",
                              "weightedmean", "lasttoken", or "splade" (a
                              *ForMaskedLM model's logits, max over tokens of
                              log(1 + relu): vocabulary-sized sparse vectors,
                              as text-embeddings-inference's --pooling splade) */
} ia_model_options;

#define IA_MODEL_OPTIONS_INIT {.size = sizeof(ia_model_options)}

/* Load a model: `ref` is a model folder, a Hugging Face id ("org/name",
 * "hf:org/name@revision") taken from the Hugging Face cache or downloaded
 * into it (see hub.h), or an IPFS reference ("ipfs://CID[/path]",
 * "/ipfs/CID[/path]") fetched through the content store (see store.h). opt may be NULL for defaults. *out is
 * owned by the caller (ia_model_free). Errors name the file, tensor or
 * field at fault: IA_ERR_NOT_FOUND (missing file or tensor, unknown id),
 * IA_ERR_FORMAT (wrong shape or dtype, malformed JSON, truncated
 * safetensors), IA_ERR_UNSUPPORTED (unknown architecture or activation),
 * IA_ERR_IO / IA_ERR_VERIFY (download failures). */
IA_API ia_status ia_model_load(const char *ref, const ia_model_options *opt, ia_model **out);

/* The local folder a model reference names, as ia_model_load resolves it:
 * an existing folder ("~/" expanded; made absolute); an IPFS reference,
 * fetched and verified into $IPFS_ACCELERATE_HOME/materialized/; or a
 * Hugging Face id, taken from the hub cache if there, else downloaded (hub
 * options: NULL for defaults; their revision applies when ref has no
 * "@revision"). A bare name is also tried as "sentence-transformers/NAME",
 * as sentence-transformers does, first from the cache. *path is owned by
 * the caller (ia_free). IA_ERR_NOT_FOUND names what was tried. */
struct ia_hub_options;
IA_API ia_status ia_model_resolve(const char *ref, const struct ia_hub_options *hub, char **path);
IA_API void ia_model_free(ia_model *m);

typedef struct ia_model_info {
    const char *path;          /* the folder it was loaded from */
    const char *architecture;  /* config.json model_type, e.g. "bert" */
    size_t n_params;           /* encoder parameters */
    int dim;                   /* embedding size */
    int n_layers, n_heads, hidden_size, intermediate_size;
    int vocab_size, max_position;
    size_t max_seq_length;     /* effective truncation limit */
    const char *activation;    /* "gelu", "gelu_new", "relu" */
    const char *weights_dtype; /* dtype in the files: "F32", "F16", "BF16" */
    const char *pooling;       /* "mean", "cls", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken" */
    bool normalize;            /* L2-normalized output (Normalize module) */
    const char *tokenizer;     /* tokenizer description */
    const char *backend;       /* backend that computes, e.g. "cpu" */
    const char *precision;     /* compute precision, e.g. "fp32" */
    const char *device;        /* device that computes, e.g. "cpu:0" */
    const char *backend_reason; /* why this backend (fallback reason...) */
} ia_model_info;

/* Fill *info. Strings are borrowed from the model. A NULL model or info:
 * nothing. (Fields are only ever appended; a larger info struct comes with
 * a new function.) */
IA_API void ia_model_get_info(const ia_model *m, ia_model_info *info);
/* Embedding size (0 for NULL). */
IA_API int ia_model_dim(const ia_model *m);
/* The model's tokenizer, borrowed (NULL for NULL). */
IA_API const ia_tokenizer *ia_model_tokenizer(const ia_model *m);

typedef struct ia_embed_stats {
    size_t n_tokens;          /* tokens computed, specials included */
    size_t n_truncated_texts; /* texts cut at max_seq_length */
    size_t n_invalid_utf8;    /* invalid UTF-8 sequences replaced by U+FFFD */
} ia_embed_stats;

/* Embed n texts into out (n, dim), row i for texts[i]. lens[i] gives the
 * byte length of texts[i]; lens may be NULL for NUL-terminated texts.
 * stats may be NULL; counts are added to it. Texts are batched by length
 * inside a call, so grouping texts into calls differently changes a
 * vector only by float rounding (cosine >= 0.999999); the same texts in
 * the same calls give the same bits. */
IA_API ia_status ia_model_embed(const ia_model *m, const char *const *texts,
                                const size_t *lens, size_t n, float *out,
                                ia_embed_stats *stats);

typedef enum ia_normalize {
    IA_NORMALIZE_MODEL = 0, /* as the model's modules say (a Normalize module) */
    IA_NORMALIZE_YES = 1,   /* L2-normalized */
    IA_NORMALIZE_NO = 2,    /* the raw pooled vectors */
} ia_normalize;

typedef struct ia_embed_options {
    size_t size;            /* sizeof(ia_embed_options) (IA_EMBED_OPTIONS_INIT) */
    ia_normalize normalize;
    size_t max_tokens;      /* truncate to this many tokens (specials included);
                               0 or above the model's limit: the model's limit;
                               it must leave room past the special tokens */
    const char *prompt_name; /* the model's prompt put before every text
                               (ia_model_prompt); NULL: its default prompt,
                               if it has one; "": none */
    int dimensions;         /* Matryoshka: the first this many of each vector
                               (then out is n x dimensions), L2-normalized
                               again when the output is normalized; 0: all */
    size_t chunk_tokens;    /* long texts: 0 truncates at the limit; else a text
                               over this many tokens (specials included) is cut
                               into windows of it, embedded apart, its vector the
                               token-weighted mean of theirs (then normalized) */
    size_t chunk_overlap;   /* tokens each window repeats of the one before */
    bool truncate_left;     /* a text over the limit loses its start, not its end */
} ia_embed_options;

#define IA_EMBED_OPTIONS_INIT {.size = sizeof(ia_embed_options)}

/* The text of the model's prompt `name`, from the "prompts" of its
 * config_sentence_transformers.json (e.g. "query" -> "query: "), owned by
 * the model; name NULL: its default_prompt_name's, or NULL when it names
 * none; "": NULL. IA_ERR_INVALID when the model has no prompt of that name
 * (the message lists those it has). */
IA_API ia_status ia_model_prompt(const ia_model *m, const char *name, const char **text);

/* ia_model_embed with options (NULL: defaults). */
IA_API ia_status ia_model_embed_opts(const ia_model *m, const char *const *texts,
                                     const size_t *lens, size_t n,
                                     const ia_embed_options *opt, float *out,
                                     ia_embed_stats *stats);

/* Classification and reranking: a model whose config.json names a
 * *ForSequenceClassification architecture (a cross-encoder such as
 * ms-marco-MiniLM, a bge reranker, a sentiment classifier) has a head that
 * scores each text, or each pair of texts (query, document), per label.
 * The number of labels (0: no head; such a model computes embeddings), and
 * a label's name from config.json's id2label (borrowed; NULL when out of
 * range). */
IA_API int ia_model_num_labels(const ia_model *m);
IA_API const char *ia_model_label(const ia_model *m, int i);

typedef struct ia_classify_options {
    size_t size;       /* sizeof(ia_classify_options) (IA_CLASSIFY_OPTIONS_INIT) */
    size_t max_tokens; /* truncate each text or pair to this many tokens, specials
                          included (a pair: the longer text first); 0 or above the
                          model's limit: the model's limit */
    bool raw_scores;   /* the head's logits; false: the sigmoid of a single label
                          (a relevance score in (0, 1)) or the softmax over several,
                          as text-embeddings-inference reports them */
} ia_classify_options;

#define IA_CLASSIFY_OPTIONS_INIT {.size = sizeof(ia_classify_options)}

/* Score n texts, or n pairs (texts[i], pairs[i]) when pairs is not NULL,
 * into out (n x ia_model_num_labels). lens and pair_lens may be NULL for
 * NUL-terminated texts; opt NULL: defaults. IA_ERR_UNSUPPORTED when the
 * model has no classification head, or its tokenizer no template for
 * pairs. Safe to call from several threads at once. */
IA_API ia_status ia_model_classify(const ia_model *m, const char *const *texts, const size_t *lens,
                                   const char *const *pairs, const size_t *pair_lens, size_t n,
                                   const ia_classify_options *opt, float *out, ia_embed_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
