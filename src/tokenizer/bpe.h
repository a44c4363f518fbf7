/*
 * BPE tokenizers of the text-generation decoders (Llama 2/3, Qwen2,
 * Mistral, GPT-2, SmolLM2, StarCoder, DeepSeek, Phi-3): byte-level BPE
 * (GPT-2's byte-to-unicode mapping, split by the model's pre-tokenizer
 * pattern) and SentencePiece-style BPE ("▁" for spaces, a prefix space,
 * <0xNN> byte fallback, merges by score or by rank). Loaded from the
 * tokenizer metadata of a GGUF file (tokenizer.ggml.*) or from a Hugging
 * Face tokenizer.json; the ids equal those of llama.cpp and of Hugging
 * Face `tokenizers` for the same vocabulary (docs/tokenizers.md).
 *
 * A loaded ia_bpe is immutable: encode, decode and every accessor take a
 * const pointer and are safe from any number of threads at once (each call
 * keeps its scratch memory to itself). A stream decoder belongs to one
 * thread at a time. Internal, never installed.
 */
#ifndef IA_TOKENIZER_BPE_H
#define IA_TOKENIZER_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core-impl.h"
#include "tokenizer/tokenizer-impl.h"

typedef struct ia_bpe ia_bpe;
struct ia_gguf;

/* From the tokenizer.ggml.* metadata of an open GGUF file (model "gpt2":
 * byte-level, with tokenizer.ggml.pre naming the split pattern; model
 * "llama": SentencePiece BPE by score). The file may hold no tensors. It
 * may be closed once this returns (nothing points into it).
 * IA_ERR_FORMAT names the file and key at fault (a missing or mistyped
 * array, a merge of unknown tokens, an id out of range);
 * IA_ERR_UNSUPPORTED names a tokenizer model or pre-tokenizer we lack.
 * *out is set only on success; free it with ia__bpe_free. */
ia_status ia__bpe_from_gguf(const struct ia_gguf *g, ia_bpe **out);

/* From a Hugging Face tokenizer.json whose model is BPE (merges as "a b"
 * strings or [a, b] pairs; byte_fallback, fuse_unk, ignore_merges), with
 * the normalizers Prepend, Replace (string), NFC/NFD/NFKC/NFKD and
 * Sequence, the pre-tokenizers ByteLevel, Split, Digits, Metaspace,
 * Punctuation, WhitespaceSplit and Sequence, added tokens (special or not;
 * lstrip, rstrip, single_word) and the TemplateProcessing, Roberta/Bert,
 * ByteLevel and Sequence post-processors. bos/eos come from a
 * tokenizer_config.json beside it when there is one. Errors name the file
 * and the field ("tokenizer.json: model.merges[12]: unknown token 'xy'").
 * `from_json_text` parses `len` bytes already in memory (`name` is used in
 * messages; no sibling files are read). */
ia_status ia__bpe_from_json(const char *path, ia_bpe **out);
ia_status ia__bpe_from_json_text(const char *text, size_t len, const char *name, ia_bpe **out);

/* NULL is a no-op. */
void ia__bpe_free(ia_bpe *b);

/* Append the ids of `len` bytes of `text` to *ids. Invalid UTF-8 is
 * replaced by U+FFFD first (each maximal invalid subsequence), so any
 * bytes are accepted. add_special: put the model's own specials around the
 * text (bos for Llama, nothing for Qwen2/GPT-2: tokenizer.ggml.add_bos_token,
 * or the tokenizer.json post-processor). parse_special: special-token
 * strings in the text ("<|im_start|>") become their ids, as a rendered chat
 * template needs; when false they are encoded as plain text, so user text
 * can never produce a special token (non-special added tokens are matched
 * either way, as `tokenizers` does). IA_ERR_NOMEM; IA_ERR_INVALID for a
 * text over 2 GiB or one the split pattern cannot match within PCRE2's
 * limits (named in the message). On failure *ids may hold part of the
 * result. */
ia_status ia__bpe_encode(const ia_bpe *b, const char *text, size_t len, bool add_special,
                         bool parse_special, ia_i32vec *ids);

/* A rendered chat prompt: as ia__bpe_encode with parse_special and no
 * add_special (the template writes the model's specials itself), except
 * that inside the byte ranges [plain[2k], plain[2k + 1]) for k < n_plain
 * (the messages' own text) special-token strings stay text: a user cannot
 * type a control token. IA_ERR_INVALID for text that is not valid UTF-8
 * or a range outside it. */
ia_status ia__bpe_encode_chat(const ia_bpe *b, const char *text, size_t len, const size_t *plain,
                              size_t n_plain, ia_i32vec *ids);

/* The bytes of ids[0..n): byte-level tokens mapped back to their bytes,
 * "▁" to spaces, <0xNN> to the byte, the SentencePiece prefix space of
 * the first token dropped (as `tokenizers` decodes). skip_special leaves
 * out special tokens (bos, eos, <|im_end|>...). The bytes need not be valid
 * UTF-8 (a byte token alone is half a character); the stream decoder
 * below never returns half a character. Writes at most `cap` bytes to buf
 * (NUL-terminated when they fit with room to spare) and sets *len to the
 * full length, so a call with cap 0 measures. IA_ERR_INVALID names an id
 * outside the vocabulary. */
ia_status ia__bpe_decode(const ia_bpe *b, const int32_t *ids, size_t n, bool skip_special,
                         char *buf, size_t cap, size_t *len);

/* What id decodes to on its own (no prefix-space stripping); NULL for an
 * id outside the vocabulary. Borrowed, `*len` bytes, not NUL-terminated
 * where the piece holds a NUL. */
const char *ia__bpe_piece(const ia_bpe *b, int32_t id, size_t *len);
/* The token's string as the vocabulary spells it ("Ġthe", "▁the",
 * "<0x0A>"); NULL for an id outside the vocabulary or without a token.
 * Borrowed, NUL-terminated. */
const char *ia__bpe_token(const ia_bpe *b, int32_t id);
/* The id of a token string as the vocabulary spells it, or -1. */
int32_t ia__bpe_find(const ia_bpe *b, const char *tok, size_t len);

size_t ia__bpe_n_vocab(const ia_bpe *b);
/* Special ids, -1 where the model has none. */
int32_t ia__bpe_bos(const ia_bpe *b);
int32_t ia__bpe_eos(const ia_bpe *b);
int32_t ia__bpe_eot(const ia_bpe *b); /* end of turn (<|eot_id|>, <|im_end|>...) */
int32_t ia__bpe_pad(const ia_bpe *b);
/* Whether add_special puts a bos / eos around a text. */
bool ia__bpe_adds_bos(const ia_bpe *b);
bool ia__bpe_adds_eos(const ia_bpe *b);
/* Whether generation ends at this token: eos, eot, and the special
 * tokens models end a turn with (<|im_end|>, <|eot_id|>, <|end|>,
 * <|endoftext|>, <end_of_turn>...), as llama.cpp counts them. */
bool ia__bpe_is_eog(const ia_bpe *b, int32_t id);
/* Whether the token is special (control): matched in text only with
 * parse_special, left out by skip_special. */
bool ia__bpe_is_special(const ia_bpe *b, int32_t id);
/* "byte-level BPE, pre-tokenizer qwen2 (GGUF)". Borrowed. */
const char *ia__bpe_describe(const ia_bpe *b);

/* Streaming decoder: fed one id at a time (as a model generates them),
 * returns the text that is complete so far: only whole UTF-8 characters,
 * an incomplete trailing sequence is held back until the bytes that
 * complete it arrive; a sequence that can no longer become valid is
 * replaced by U+FFFD (each maximal invalid subsequence, as Python's
 * errors="replace"). The concatenation of all pushes and the final flush
 * equals the lossy UTF-8 of ia__bpe_decode over the same ids. */
typedef struct ia_bpe_stream ia_bpe_stream;

/* *out owned by the caller (ia__bpe_stream_free). b must outlive it. */
ia_status ia__bpe_stream_new(const ia_bpe *b, bool skip_special, ia_bpe_stream **out);
/* Decode one more id; *text (borrowed, valid until the next call on s)
 * and *len are what became complete, possibly nothing (len 0).
 * IA_ERR_INVALID for an id outside the vocabulary (the stream is
 * unchanged); IA_ERR_NOMEM. */
ia_status ia__bpe_stream_push(ia_bpe_stream *s, int32_t id, const char **text, size_t *len);
/* The end of the sequence: whatever is still held back, as U+FFFD (an
 * incomplete character can no longer complete). The stream then starts
 * afresh (the next push is the start of a new text). */
ia_status ia__bpe_stream_flush(ia_bpe_stream *s, const char **text, size_t *len);
/* NULL is a no-op. */
void ia__bpe_stream_free(ia_bpe_stream *s);

#endif
