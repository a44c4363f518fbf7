/*
 * Internals of the tokenizer module: the vocabulary (id <-> token with a
 * hash index) and the BERT text pipeline (normalizer, pre-tokenizer,
 * WordPiece) that tokenizer.c drives. Never installed.
 */
#ifndef IA_TOKENIZER_IMPL_H
#define IA_TOKENIZER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core-impl.h"

/* A growable array of int32 (token ids or code points). */
typedef struct ia_i32vec {
    int32_t *v;
    size_t n, cap;
} ia_i32vec;

/* A growable, NUL-terminated byte buffer (scratch of one encode call). */
typedef struct ia_textbuf {
    char *p;
    size_t n, cap;
} ia_textbuf;

/* Append n bytes; false when out of memory. */
bool ia__textbuf_put(ia_textbuf *b, const void *p, size_t n);

bool ia__i32vec_push(ia_i32vec *a, int32_t x);
void ia__i32vec_free(ia_i32vec *a);

/* Token strings by id, and id by token string (open-addressing hash). */
typedef struct ia_vocab {
    char **tokens;   /* (n) NUL-terminated; NULL for ids not in the file */
    uint32_t *lens;  /* (n) byte lengths */
    size_t n;
    int32_t *slots;  /* (cap) id or -1; cap is a power of two */
    size_t cap;
} ia_vocab;

/* Make room for ids 0..n-1, all absent. */
ia_status ia__vocab_init(ia_vocab *v, size_t n);
/* Set token `id`; IA_ERR_FORMAT if the id or the string is taken. */
ia_status ia__vocab_set(ia_vocab *v, int32_t id, const char *tok, size_t len);
/* Build the hash index once every id is set. */
ia_status ia__vocab_index(ia_vocab *v);
int32_t ia__vocab_find(const ia_vocab *v, const char *tok, size_t len);
void ia__vocab_free(ia_vocab *v);

/* What BertNormalizer + BertPreTokenizer + WordPiece do, as configured. */
typedef struct ia_bert_text {
    bool clean_text, handle_chinese_chars, strip_accents, lowercase;
    int32_t unk_id;
    size_t max_input_chars_per_word; /* longer words become unk */
    char prefix[16];                 /* continuing-subword prefix, "##" */
} ia_bert_text;

/* Decode UTF-8 into code points, replacing each maximal invalid
 * subsequence by U+FFFD (as Python's errors="replace" does). Returns the
 * number of replacements, or -1 when out of memory. */
long ia__utf8_decode(const char *s, size_t len, ia_i32vec *out);

/* s[0..n) normalized by utf8proc with `options` (UTF8PROC_STABLE |
 * UTF8PROC_COMPOSE ...: NFC, NFD, NFKC, NFKD): *out a new buffer of *len
 * bytes (ia__free). IA_ERR_NOMEM, or IA_ERR_INVALID for text utf8proc
 * refuses. */
ia_status ia__utf8_normalize(const char *s, size_t n, int options, char **out, size_t *len);
/* Whether tokenizers' Unicode tables lack c where utf8proc's would
 * normalize it (ia__utf8_normalize leaves it as it is). */
bool ia__unicode_newer_than_hf(int32_t c);


/* Normalize, pre-tokenize and WordPiece-encode code points cps[0..n),
 * appending ids to *ids. */
ia_status ia__bert_encode(const ia_bert_text *bt, const ia_vocab *v, const int32_t *cps,
                          size_t n, ia_i32vec *ids);

/* Special tokens the template adds around every text ([CLS], [SEP]). */
struct ia_tokenizer;
size_t ia__tokenizer_n_specials(const struct ia_tokenizer *tok);
/* The special tokens of the template for pairs, and whether there is one. */
size_t ia__tokenizer_n_specials_pair(const struct ia_tokenizer *tok);
bool ia__tokenizer_has_pairs(const struct ia_tokenizer *tok);
/* Of a single text's special tokens, how many come before the text. */
size_t ia__tokenizer_n_prefix(const struct ia_tokenizer *tok);

/* The text of ids as Hugging Face tokenizers' decode gives it with the
 * WordPiece decoder: pieces joined by spaces, continuation pieces (the
 * decoder's prefix, "##") glued on, its cleanup of spaces before
 * punctuation and contractions; skip_special leaves out added tokens
 * marked special; ids outside the vocabulary give nothing. *out is the
 * caller's (ia__free). IA_ERR_UNSUPPORTED for a tokenizer.json whose
 * decoder is not WordPiece. */
ia_status ia__tokenizer_decode(const struct ia_tokenizer *tok, const int32_t *ids, size_t n, bool skip_special,
                              char **out);
/* Texts encoded so far in this process (a test counter: work done once). */
long ia__tokenizer_encode_calls(void);

#endif
