/*
 * The Unigram (SentencePiece) tokenizer model of Hugging Face
 * tokenizer.json files, as XLM-RoBERTa, multilingual-e5, bge-m3 and
 * CamemBERT use it: the model (`model.vocab` as [piece, score] pairs,
 * unk_id, byte_fallback; Viterbi segmentation with tokenizers' unknown
 * handling and fuse_unk), its normalizers (Precompiled, the SentencePiece
 * precompiled_charsmap applied per grapheme cluster; Replace, Strip,
 * Lowercase, Prepend, NFC/NFD/NFKC/NFKD, Sequence), its pre-tokenizers
 * (Metaspace, WhitespaceSplit, Sequence), the added tokens matched after
 * normalization (`normalized: true`) and the Metaspace decoder.
 *
 * tokenizer.c cuts the raw added tokens out of the text and runs the
 * post-processor; each piece between raw added tokens comes here. The ids
 * equal those of Hugging Face `tokenizers` for the same file
 * (docs/tokenizers.md). A loaded ia_unigram is immutable and may be used
 * from several threads at once. Internal, never installed.
 */
#ifndef IA_TOKENIZER_UNIGRAM_H
#define IA_TOKENIZER_UNIGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core-impl.h"
#include "tokenizer/tokenizer-impl.h"

typedef struct ia_unigram ia_unigram;
struct cJSON;

/* From a parsed tokenizer.json whose model type is "Unigram": its model,
 * normalizer, pre_tokenizer and decoder (added tokens and the
 * post-processor are the caller's). Errors name `path` and the field
 * ("tokenizer.json: model.vocab[12]: not a [piece, score] pair");
 * IA_ERR_UNSUPPORTED names a normalizer or pre-tokenizer type we lack. A
 * decoder other than Metaspace is not an error: decoding then fails.
 * *out is set only on success. */
ia_status ia__unigram_from_json(const struct cJSON *root, const char *path, ia_unigram **out);

/* NULL is a no-op. */
void ia__unigram_free(ia_unigram *u);

/* An added token with `normalized: true`: matched, as its content after
 * the normalizer, in the normalized text (leftmost, longest; lstrip,
 * rstrip and single_word as tokenizers applies them). special: left out
 * of decoding with skip_special (ia__unigram_special). IA_ERR_FORMAT for
 * content that is not UTF-8. */
ia_status ia__unigram_add_token(ia_unigram *u, const char *content, int32_t id, bool lstrip, bool rstrip,
                                bool single_word, bool special);
/* Whether id is a special added token given to ia__unigram_add_token. */
bool ia__unigram_special(const ia_unigram *u, int32_t id);

/* Append the ids of `len` bytes of valid UTF-8 (a piece of the text
 * between raw added tokens) to *ids: normalizer, normalized added tokens,
 * pre-tokenizers, Viterbi. at_start: the piece starts the text (for
 * Metaspace's prepend_scheme "first"). IA_ERR_NOMEM; IA_ERR_INVALID when
 * the text has a character the vocabulary lacks and the model has no
 * unk_id. */
ia_status ia__unigram_encode(const ia_unigram *u, const char *text, size_t len, bool at_start, ia_i32vec *ids);

size_t ia__unigram_n_vocab(const ia_unigram *u);
/* The piece of id (NUL-terminated, borrowed), or NULL outside the vocabulary. */
const char *ia__unigram_token(const ia_unigram *u, int32_t id);
/* The id of a piece (the last one when the vocabulary repeats it, as
 * tokenizers' map keeps), or -1. */
int32_t ia__unigram_find(const ia_unigram *u, const char *tok, size_t len);

/* The Metaspace decoder over tokens[0..n) (already filtered by the
 * caller): the replacement character becomes a space, except in the first
 * token when a prefix space was prepended. *out is the caller's
 * (ia__free). IA_ERR_UNSUPPORTED when the file's decoder is not Metaspace. */
ia_status ia__unigram_decode(const ia_unigram *u, const char *const *tokens, size_t n, char **out);

/* Unicode White_Space (Rust's char::is_whitespace, regex \s) around
 * positions of a byte string that need not be valid UTF-8: the bytes of
 * the whitespace characters that end s[lo..end), and of those that start
 * s[at..len). Used for added tokens' lstrip and rstrip. */
size_t ia__ws_before(const char *s, size_t lo, size_t end);
size_t ia__ws_after(const char *s, size_t at, size_t len);

#endif
