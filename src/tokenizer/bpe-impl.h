/*
 * The layout of a BPE tokenizer, shared by its three files: bpe.c (encode,
 * decode, the stream decoder), bpe-pre.c (normalizer and pre-tokenizer
 * steps, the split patterns run with PCRE2) and bpe-load.c (building one
 * from GGUF metadata or a tokenizer.json). Never installed.
 *
 * Encoding a text, as Hugging Face `tokenizers` does it:
 *
 *   added tokens cut out of the raw text (leftmost, longest)
 *     -> each segment between them: the steps (normalizers, then
 *        pre-tokenizers) turn it into pieces
 *     -> each piece: BPE (symbols are bytes for byte-level models, UTF-8
 *        characters otherwise; the pair of lowest rank merges first)
 *     -> ids, with the post-processor's specials around them.
 */
#ifndef IA_TOKENIZER_BPE_IMPL_H
#define IA_TOKENIZER_BPE_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer/bpe.h"

/* Token flags (ia_bpe.flags[id]). */
enum {
    BPE_SPECIAL = 1, /* control token: matched only with parse_special, skipped by skip_special */
    BPE_ADDED = 2,   /* matched in the raw text before normalization */
    BPE_BYTE = 4,    /* <0xNN>: stands for one byte */
};

/* One normalizer or pre-tokenizer step, applied to every current piece. */
typedef enum bpe_op_kind {
    BPE_OP_SPLIT,   /* regex: the matches and the text between them, as `behavior` says */
    BPE_OP_PREPEND, /* put `str` before the piece */
    BPE_OP_REPLACE, /* every `from` becomes `str` */
    BPE_OP_UNICODE, /* NFC/NFD/NFKC/NFKD (utf8proc options in `uopts`) */
    BPE_OP_BYTES,   /* ByteLevel: each byte becomes the character standing for it */
} bpe_op_kind;

/* SplitDelimiterBehavior of `tokenizers`. */
typedef enum bpe_split_behavior {
    BPE_SPLIT_ISOLATED,
    BPE_SPLIT_REMOVED,
    BPE_SPLIT_MERGED_WITH_PREVIOUS,
    BPE_SPLIT_MERGED_WITH_NEXT,
    BPE_SPLIT_CONTIGUOUS,
} bpe_split_behavior;

/* When BPE_OP_PREPEND applies. */
typedef enum bpe_prepend_when {
    BPE_PREPEND_ALWAYS,       /* Prepend normalizer: any non-empty piece */
    BPE_PREPEND_UNLESS_THERE, /* ByteLevel add_prefix_space, Metaspace "always" */
    BPE_PREPEND_FIRST,        /* Metaspace "first": only at the start of the text */
} bpe_prepend_when;

typedef struct bpe_op {
    bpe_op_kind kind;
    pcre2_code *re;              /* SPLIT */
    bpe_split_behavior behavior; /* SPLIT */
    bool invert;                 /* SPLIT: the pattern marks what is kept */
    bpe_prepend_when when;       /* PREPEND */
    char *str, *from;            /* PREPEND: the prefix; REPLACE: from -> str */
    size_t len, from_len;
    int uopts;                   /* UNICODE */
} bpe_op;

/* An added token, matched in the raw text. */
typedef struct bpe_added {
    int32_t id;
    uint32_t len;
    const char *text; /* the vocabulary's string of id (not owned) */
    bool special, lstrip, rstrip, single_word;
} bpe_added;

/* Longest EOG list kept (llama.cpp's names plus eos/eot). */
#define BPE_MAX_EOG 16

struct ia_bpe {
    ia_vocab vocab;  /* token strings as the vocabulary spells them */
    uint8_t *flags;  /* (vocab.n) BPE_* */

    /* Merges by rank: (left id, right id) -> (rank, merged id), open
     * addressing on keys[] (UINT64_MAX: empty slot). */
    uint64_t *mkeys;
    uint32_t *mrank;
    int32_t *mid;
    size_t mcap, n_merges;
    /* Merges by score (SentencePiece in GGUF): any two neighbours whose
     * concatenation is a token merge, the highest score first; score_rank
     * orders the tokens by score (0: the highest; equal scores, equal rank). */
    bool by_score;
    uint32_t *score_rank; /* (vocab.n) */

    bool byte_level;    /* symbols are bytes, byte_id[] their tokens */
    bool byte_fallback; /* an unknown character becomes its <0xNN> tokens */
    bool fuse_unk;      /* consecutive unknowns become one unk */
    bool ignore_merges; /* a piece that is a token is that token */
    int32_t byte_id[256]; /* byte-level: the token of each byte; else <0xNN>; -1: none */
    int32_t unk_fallback; /* what an unknown character becomes; -1: dropped */

    bpe_op *ops;
    size_t n_ops;
    pcre2_general_context *gctx; /* PCRE2's memory through ia__malloc */
    uint32_t max_groups;         /* capture pairs the match data needs */

    bpe_added *added; /* sorted by first byte, then longest first */
    size_t n_added, added_cap;
    uint32_t added_at[257]; /* added[added_at[c] .. added_at[c+1]) start with byte c */

    /* Decoding: what each token stands for, in one arena. */
    char *pieces;
    size_t *piece_at;  /* (vocab.n + 1) offsets into pieces */
    bool strip_space;  /* decoding drops one leading ' ' (SentencePiece prefix) */

    int32_t *prefix, *suffix; /* put around a text by add_special */
    size_t n_prefix, n_suffix;
    int32_t bos, eos, eot, pad;
    int32_t eog[BPE_MAX_EOG];
    size_t n_eog;
    char describe[96];
};

/* A piece of the current text: bytes [off, off + len); `first` when it
 * starts the whole text (for Metaspace's "first" scheme). */
typedef struct bpe_piece {
    size_t off, len;
    bool first;
} bpe_piece;

typedef struct bpe_pieces {
    bpe_piece *v;
    size_t n, cap;
} bpe_pieces;

/* Scratch of one encode call on one thread. */
typedef struct bpe_work {
    const ia_bpe *b;
    ia_textbuf text[2];  /* the segment as the steps rewrite it */
    bpe_pieces pcs[2];
    bpe_pieces segs;     /* split: the pattern's matches and gaps */
    pcre2_match_data *md;
} bpe_work;

/* Run b's steps over seg[0..len) (valid UTF-8): on return *text holds the
 * rewritten segment and *pcs its pieces (both owned by w). at_start: the
 * segment starts the text. */
ia_status ia__bpe_steps(bpe_work *w, const char *seg, size_t len, bool at_start,
                        const char **text, const bpe_pieces **pcs);

/* Compile a split pattern (`tokenizers`/Oniguruma syntax: \s is the
 * White_Space property, $ also ends a line) into op. `what` names it in
 * messages. */
ia_status ia__bpe_op_split(ia_bpe *b, bpe_op *op, const char *pattern, size_t len, bool literal,
                           bpe_split_behavior behavior, bool invert, const char *what);
/* Append an op (moved in: *op's pointers now belong to b). */
ia_status ia__bpe_add_op(ia_bpe *b, bpe_op *op);
/* In a pattern list: the byte-level mapping happens here (else after the
 * last pattern). */
#define BPE_BYTES_HERE ""
/* What a tokenizer.ggml.pre name stands for: the split patterns as
 * Hugging Face `tokenizers` runs them (a NULL-terminated list, each step
 * Isolated), whether the family's tokenizer.json has an NFC normalizer
 * (llama.cpp skips it; we follow the tokenizer.json), and what it does by
 * default about whole-piece tokens (ignore_merges) and bos. */
typedef struct bpe_pre_family {
    const char *names; /* space-separated tokenizer.ggml.pre values */
    const char *const *patterns;
    bool nfc, ignore_merges, add_bos;
} bpe_pre_family;
/* NULL for names we do not know. */
const bpe_pre_family *ia__bpe_pre_family(const char *name, size_t len);
/* The names ia__bpe_pre_family knows, comma-separated, into buf (for
 * messages; cut to cap bytes). */
void ia__bpe_pre_names(char *buf, size_t cap);
void ia__bpe_ops_free(ia_bpe *b);

/* The slot of merge key (left << 32 | right) in a table of cap slots. */
static inline size_t ia__bpe_merge_slot(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdu;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

/* Loading helpers shared by the GGUF and JSON loaders (bpe-load.c). */
ia_status ia__bpe_new(ia_bpe **out);

/* GPT-2's byte <-> unicode mapping: the printable bytes stand for
 * themselves, the others (0-32, 127-160, 173) for U+0100 onwards. */
static inline int32_t ia__bpe_byte_char(int b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))
        return b;
    if (b <= 32)
        return 256 + b;
    if (b <= 160)
        return 289 + (b - 127);
    return 323; /* 173 */
}

/* The byte code point c stands for, or -1. */
static inline int ia__bpe_char_byte(int32_t c)
{
    if ((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255))
        return c;
    if (c >= 256 && c <= 288)
        return c - 256;
    if (c >= 289 && c <= 322)
        return c - 289 + 127;
    return c == 323 ? 173 : -1;
}

#endif
