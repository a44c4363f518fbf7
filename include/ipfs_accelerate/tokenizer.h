/*
 * Tokenizers of Hugging Face model folders: tokenizer.json (WordPiece with
 * BertNormalizer and BertPreTokenizer; byte-level BPE as RoBERTa's;
 * SentencePiece Unigram as XLM-RoBERTa's and CamemBERT's; the
 * TemplateProcessing, BertProcessing or RobertaProcessing post-processor)
 * or, where that file is absent, vocab.txt with tokenizer_config.json. The
 * ids equal those of Hugging Face's `tokenizers` for the same files.
 *
 * A loaded tokenizer is immutable: encoding from several threads at once is
 * safe.
 */
#ifndef IPFS_ACCELERATE_TOKENIZER_H
#define IPFS_ACCELERATE_TOKENIZER_H

#include <stdbool.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ia_tokenizer ia_tokenizer;

/* Load the tokenizer of the model folder `dir`. *out is owned by the caller
 * (ia_tokenizer_free). Fails with IA_ERR_NOT_FOUND when the folder has
 * neither tokenizer.json nor vocab.txt, IA_ERR_FORMAT on a malformed file,
 * IA_ERR_UNSUPPORTED on a model/normalizer type we do not implement. */
IA_API ia_status ia_tokenizer_load(const char *dir, ia_tokenizer **out);

IA_API void ia_tokenizer_free(ia_tokenizer *tok);

typedef struct ia_encoding_stats {
    size_t n_invalid_utf8;  /* invalid byte sequences replaced by U+FFFD */
    size_t n_truncated;     /* tokens dropped by truncation */
} ia_encoding_stats;

/* Encode `len` bytes of `text` (UTF-8; invalid sequences are replaced by
 * U+FFFD and counted) into token ids with the special tokens of the
 * template ([CLS] ... [SEP]). At most max_tokens ids are produced,
 * specials included (0: the tokenizer's own limit); longer input is
 * truncated at the right. Writes up to `cap` ids and sets *n_ids to the
 * number produced (if *n_ids > cap, call again with a larger buffer).
 * stats may be NULL. */
IA_API ia_status ia_tokenizer_encode(const ia_tokenizer *tok, const char *text,
                                     size_t len, size_t max_tokens,
                                     int32_t *ids, size_t cap, size_t *n_ids,
                                     ia_encoding_stats *stats);

/* Encode a pair of texts (a query and a document, a sentence pair) with
 * the template for pairs ([CLS] A [SEP] B [SEP] for BERT, <s> A </s></s> B
 * </s> for RoBERTa), as ia_tokenizer_encode does one text. Over
 * max_tokens, the longer text loses tokens first (Hugging Face's
 * longest_first), at its end, or at its start with truncate_left
 * (truncation_direction "Left"). types, when not NULL, receives each id's
 * token type (segment: 0 for A's part, 1 for B's in BERT), cap entries. b
 * NULL encodes a alone. IA_ERR_UNSUPPORTED when the tokenizer has no
 * template for pairs. */
IA_API ia_status ia_tokenizer_encode_pair(const ia_tokenizer *tok, const char *a, size_t alen,
                                          const char *b, size_t blen, size_t max_tokens, bool truncate_left,
                                          int32_t *ids, int32_t *types, size_t cap, size_t *n_ids,
                                          ia_encoding_stats *stats);

/* Vocabulary size, and the id of a token string (-1 if absent). */
IA_API size_t ia_tokenizer_vocab_size(const ia_tokenizer *tok);
IA_API int32_t ia_tokenizer_token_id(const ia_tokenizer *tok, const char *token);
/* Token string of an id, or NULL. Borrowed. */
IA_API const char *ia_tokenizer_id_token(const ia_tokenizer *tok, int32_t id);

/* "wordpiece (tokenizer.json)" or "wordpiece (vocab.txt)". Borrowed. */
IA_API const char *ia_tokenizer_describe(const ia_tokenizer *tok);

/* The tokenizer's own truncation limit from its files (0: none). */
IA_API size_t ia_tokenizer_max_length(const ia_tokenizer *tok);

#ifdef __cplusplus
}
#endif
#endif
