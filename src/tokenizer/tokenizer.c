/*
 * Tokenizers of Hugging Face model folders. tokenizer.json is read as
 * `tokenizers` writes it: a WordPiece model with BertNormalizer and
 * BertPreTokenizer, a BPE model (RoBERTa's byte-level BPE, ModernBERT's),
 * which the decoders' BPE tokenizer (bpe.c) runs, or a Unigram model
 * (XLM-RoBERTa's SentencePiece, unigram.c); then a TemplateProcessing,
 * BertProcessing or RobertaProcessing post-processor. Without it, vocab.txt
 * and tokenizer_config.json give BERT's pipeline, as transformers'
 * BertTokenizerFast builds it.
 *
 * Encoding a text: the added tokens ([CLS], [SEP], [MASK], ...) are cut out
 * of the raw text first (leftmost, longest match; they are never
 * normalized), each piece between them goes through the BERT pipeline
 * (bert_text.c) or the Unigram one (unigram.c), the result is truncated at
 * the right to leave room for the template's special tokens, and the
 * template wraps it.
 */
#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

#include "ipfs_accelerate/tokenizer.h"
#include "tokenizer/bpe.h"
#include "tokenizer/tokenizer-impl.h"
#include "tokenizer/unigram.h"

/* A post-processor template: the special tokens and the sequences in
 * their order, each with its token type (segment). */
typedef struct tmpl_item {
    int32_t id;   /* the special token's id, when seq < 0 */
    int8_t seq;   /* -1: a special token; 0: sequence A; 1: sequence B */
    uint8_t type; /* token type id */
} tmpl_item;

typedef struct tmpl {
    tmpl_item *v;
    size_t n, n_special; /* n 0: none (a pair without a pair template) */
} tmpl;

typedef struct added_token {
    char *content;
    size_t len;
    int32_t id;
    bool lstrip, rstrip;
    bool special; /* left out of a decode that skips special tokens */
    bool fold;    /* "normalized" under a lowercasing normalizer: ASCII case ignored */
} added_token;

struct ia_tokenizer {
    ia_bpe *bpe; /* a BPE model: it encodes and decodes */
    ia_unigram *ug; /* a Unigram model: it encodes and decodes the pieces; else WordPiece: */
    ia_vocab vocab;
    ia_bert_text bt;
    added_token *added; /* (n_added) matched in the raw text */
    size_t n_added;
    tmpl single, pair; /* the post-processor's templates */
    size_t max_length; /* the files' truncation limit; 0: none */
    const char *describe;
    /* the WordPiece decoder: continuation prefix, and tokenizers' cleanup
     * of spaces before punctuation and contractions */
    char dec_prefix[16];
    bool dec_cleanup;
    const char *dec_unsupported; /* another decoder's type: no decoding */
};

void ia_tokenizer_free(ia_tokenizer *tok)
{
    if (!tok)
        return;
    ia__vocab_free(&tok->vocab);
    ia__bpe_free(tok->bpe);
    ia__unigram_free(tok->ug);
    for (size_t i = 0; i < tok->n_added; i++)
        ia__free(tok->added[i].content);
    ia__free(tok->added);
    ia__free(tok->single.v);
    ia__free(tok->pair.v);
    ia__free(tok);
}

static ia_status add_token(ia_tokenizer *t, const char *content, int32_t id, bool lstrip, bool rstrip,
                           bool special, bool fold)
{
    if (!content[0])
        return IA_OK;
    added_token *a = ia__realloc(t->added, (t->n_added + 1) * sizeof *a);
    if (!a)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    t->added = a;
    a += t->n_added;
    *a = (added_token){.content = ia__strdup(content), .len = strlen(content), .id = id,
                       .lstrip = lstrip, .rstrip = rstrip, .special = special, .fold = fold};
    if (!a->content)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    t->n_added++;
    return IA_OK;
}

static size_t n_vocab(const ia_tokenizer *t)
{
    return t->bpe ? ia__bpe_n_vocab(t->bpe) : t->ug ? ia__unigram_n_vocab(t->ug) : t->vocab.n;
}

static ia_status tmpl_push(tmpl *t, int32_t id, int seq, int type)
{
    tmpl_item *v = ia__realloc(t->v, (t->n + 1) * sizeof *v);
    if (!v)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    v[t->n++] = (tmpl_item){.id = id, .seq = (int8_t)seq, .type = (uint8_t)type};
    t->n_special += seq < 0;
    t->v = v;
    return IA_OK;
}

/* BERT's templates, [CLS] A [SEP] and [CLS] A [SEP] B [SEP] with B's part
 * of type 1; RoBERTa's (roberta: true) <s> A </s> and <s> A </s></s> B
 * </s>, all of type 0. */
static ia_status tmpl_bert(ia_tokenizer *t, int32_t cls, int32_t sep, bool roberta)
{
    const int tb = roberta ? 0 : 1;
    ia_status rc;
    if ((rc = tmpl_push(&t->single, cls, -1, 0)) || (rc = tmpl_push(&t->single, 0, 0, 0)) ||
        (rc = tmpl_push(&t->single, sep, -1, 0)) || (rc = tmpl_push(&t->pair, cls, -1, 0)) ||
        (rc = tmpl_push(&t->pair, 0, 0, 0)) || (rc = tmpl_push(&t->pair, sep, -1, 0)) ||
        (roberta && (rc = tmpl_push(&t->pair, sep, -1, 0))) || (rc = tmpl_push(&t->pair, 0, 1, tb)))
        return rc;
    return tmpl_push(&t->pair, sep, -1, tb);
}

/* tokenizer.json ------------------------------------------------------- */

static const cJSON *get(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static bool flag(const cJSON *obj, const char *key, bool dflt)
{
    const cJSON *v = get(obj, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static ia_status json_model(ia_tokenizer *t, const cJSON *model, const char *path)
{
    const cJSON *type = get(model, "type"), *vocab = get(model, "vocab");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "WordPiece"))
        return ia__error(IA_ERR_UNSUPPORTED, "%s: model type \"%s\" is not supported (supported: WordPiece, BPE, "
                         "Unigram)",
                         path, cJSON_IsString(type) ? type->valuestring : "?");
    if (!cJSON_IsObject(vocab))
        return ia__error(IA_ERR_FORMAT, "%s: model.vocab must be an object", path);
    int max_id = -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 1e7 ||
            e->valuedouble != (double)(int)e->valuedouble)
            return ia__error(IA_ERR_FORMAT, "%s: model.vocab[\"%s\"] is not a token id", path, e->string);
        max_id = IA_MAX(max_id, e->valueint);
    }
    if (max_id < 0)
        return ia__error(IA_ERR_FORMAT, "%s: model.vocab is empty", path);
    ia_status rc = ia__vocab_init(&t->vocab, (size_t)max_id + 1);
    cJSON_ArrayForEach(e, vocab) {
        if (rc)
            break;
        rc = ia__vocab_set(&t->vocab, e->valueint, e->string, strlen(e->string));
    }
    if (!rc)
        rc = ia__vocab_index(&t->vocab);
    if (rc)
        return ia__error_wrap(rc, "%s", path);

    const cJSON *unk = get(model, "unk_token"), *pre = get(model, "continuing_subword_prefix"),
                *maxc = get(model, "max_input_chars_per_word");
    const char *unk_s = cJSON_IsString(unk) ? unk->valuestring : "[UNK]";
    if ((t->bt.unk_id = ia__vocab_find(&t->vocab, unk_s, strlen(unk_s))) < 0)
        return ia__error(IA_ERR_FORMAT, "%s: unk_token \"%s\" is not in the vocabulary", path, unk_s);
    const char *prefix = cJSON_IsString(pre) ? pre->valuestring : "##";
    if (strlen(prefix) >= sizeof t->bt.prefix)
        return ia__error(IA_ERR_FORMAT, "%s: continuing_subword_prefix is too long", path);
    strcpy(t->bt.prefix, prefix);
    t->bt.max_input_chars_per_word = cJSON_IsNumber(maxc) && maxc->valuedouble >= 1 &&
                                     maxc->valuedouble <= 1000 ? (size_t)maxc->valuedouble : 100;
    return IA_OK;
}

static ia_status json_normalizer(ia_tokenizer *t, const cJSON *n, const char *path)
{
    if (cJSON_IsNull(n) || !n)
        return IA_OK; /* all flags stay false: the text is used as is */
    const cJSON *type = get(n, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "BertNormalizer"))
        return ia__error(IA_ERR_UNSUPPORTED, "%s: normalizer \"%s\" is not supported (supported: BertNormalizer)",
                         path, cJSON_IsString(type) ? type->valuestring : "?");
    t->bt.clean_text = flag(n, "clean_text", true);
    t->bt.handle_chinese_chars = flag(n, "handle_chinese_chars", true);
    t->bt.lowercase = flag(n, "lowercase", true);
    t->bt.strip_accents = flag(n, "strip_accents", t->bt.lowercase); /* null: as lowercase */
    return IA_OK;
}

/* The ids of the template's special token `name`, pushed onto t with
 * their type. */
static ia_status special_ids(const ia_tokenizer *tok, const cJSON *specials, const char *name, int type, tmpl *t,
                             const char *path)
{
    const cJSON *sp = get(specials, name), *ids = get(sp, "ids"), *id;
    if (!cJSON_IsArray(ids))
        return ia__error(IA_ERR_FORMAT, "%s: post_processor special token \"%s\" is not defined", path, name);
    cJSON_ArrayForEach(id, ids) {
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= (double)n_vocab(tok))
            return ia__error(IA_ERR_FORMAT, "%s: special token \"%s\" has a bad id", path, name);
        ia_status rc = tmpl_push(t, id->valueint, -1, type);
        if (rc)
            return rc;
    }
    return IA_OK;
}

/* TemplateProcessing's "single" or "pair" list into t. */
static ia_status json_template(ia_tokenizer *tok, const cJSON *list, const cJSON *specials, bool pair, tmpl *t,
                               const char *path)
{
    const char *which = pair ? "pair" : "single";
    const cJSON *item;
    bool seen[2] = {false, false};
    cJSON_ArrayForEach(item, list) {
        const cJSON *st = get(item, "SpecialToken"), *seq = get(item, "Sequence");
        const cJSON *body = st ? st : seq, *type = get(body, "type_id"), *id = get(body, "id");
        const int ty = cJSON_IsNumber(type) && type->valuedouble >= 0 && type->valuedouble < 256 ? type->valueint : 0;
        ia_status rc;
        if (st && cJSON_IsString(id)) {
            rc = special_ids(tok, specials, id->valuestring, ty, t, path);
        } else if (seq && cJSON_IsString(id) && (!strcmp(id->valuestring, "A") ||
                                                 (pair && !strcmp(id->valuestring, "B")))) {
            const int which_seq = id->valuestring[0] == 'B';
            if (seen[which_seq])
                return ia__error(IA_ERR_UNSUPPORTED, "%s: post_processor.%s repeats sequence %s", path, which,
                                 id->valuestring);
            seen[which_seq] = true;
            rc = tmpl_push(t, 0, which_seq, ty);
        } else {
            rc = ia__error(IA_ERR_FORMAT, "%s: post_processor.%s has an item that is neither a SpecialToken nor "
                           "Sequence A%s", path, which, pair ? " or B" : "");
        }
        if (rc)
            return rc;
    }
    if (!seen[0] || (pair && !seen[1]))
        return ia__error(IA_ERR_FORMAT, "%s: post_processor.%s lacks sequence %s", path, which, seen[0] ? "B" : "A");
    return IA_OK;
}

/* A text without template: the sequence alone (and a pair, A then B
 * with B of type 1, as tokenizers merges them). */
static ia_status tmpl_plain(ia_tokenizer *t)
{
    ia_status rc = tmpl_push(&t->single, 0, 0, 0);
    if (!rc)
        rc = tmpl_push(&t->pair, 0, 0, 0);
    return rc ? rc : tmpl_push(&t->pair, 0, 1, 1);
}

static ia_status json_post_processor(ia_tokenizer *t, const cJSON *pp, const char *path)
{
    if (!pp || cJSON_IsNull(pp))
        return tmpl_plain(t);
    const cJSON *type = get(pp, "type");
    const char *ty = cJSON_IsString(type) ? type->valuestring : "?";
    if (!strcmp(ty, "TemplateProcessing")) {
        const cJSON *specials = get(pp, "special_tokens"), *pair = get(pp, "pair");
        ia_status rc = json_template(t, get(pp, "single"), specials, false, &t->single, path);
        if (!rc && cJSON_IsArray(pair))
            rc = json_template(t, pair, specials, true, &t->pair, path);
        return rc;
    }
    if (!strcmp(ty, "BertProcessing") || !strcmp(ty, "RobertaProcessing")) {
        const cJSON *cls = cJSON_GetArrayItem(get(pp, "cls"), 1), *sep = cJSON_GetArrayItem(get(pp, "sep"), 1);
        if (!cJSON_IsNumber(cls) || !cJSON_IsNumber(sep))
            return ia__error(IA_ERR_FORMAT, "%s: %s needs cls and sep as [token, id]", path, ty);
        /* the ids index the model's embedding table */
        if (cls->valuedouble < 0 || cls->valuedouble >= (double)n_vocab(t) || sep->valuedouble < 0 ||
            sep->valuedouble >= (double)n_vocab(t))
            return ia__error(IA_ERR_FORMAT, "%s: %s cls id %g or sep id %g is outside the vocabulary "
                             "(%zu tokens)", path, ty, cls->valuedouble, sep->valuedouble, n_vocab(t));
        return tmpl_bert(t, cls->valueint, sep->valueint, ty[0] == 'R');
    }
    if (!strcmp(ty, "ByteLevel")) /* it trims offsets, adds no tokens (Qwen2's) */
        return tmpl_plain(t);
    if (!strcmp(ty, "Sequence")) { /* ByteLevel (offsets) and at most one that adds tokens: gte-Qwen2 */
        const cJSON *list = get(pp, "processors"), *p, *adds = NULL;
        if (!cJSON_IsArray(list))
            return ia__error(IA_ERR_FORMAT, "%s: post_processor.processors must be an array", path);
        cJSON_ArrayForEach(p, list) {
            const cJSON *pt = get(p, "type");
            if (cJSON_IsString(pt) && !strcmp(pt->valuestring, "ByteLevel"))
                continue;
            if (adds)
                return ia__error(IA_ERR_UNSUPPORTED, "%s: post_processor Sequence: more than one processor that "
                                 "adds tokens is not supported", path);
            adds = p;
        }
        return json_post_processor(t, adds, path);
    }
    return ia__error(IA_ERR_UNSUPPORTED, "%s: post_processor \"%s\" is not supported (supported: "
                     "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence)", path, ty);
}

static ia_status load_json(ia_tokenizer *t, const char *path)
{
    cJSON *root;
    ia_status rc = ia__read_json(path, &root);
    if (rc)
        return rc;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ia__error(IA_ERR_FORMAT, "%s: not a JSON object", path);
    }
    const cJSON *mtype = get(get(root, "model"), "type");
    if (cJSON_IsString(mtype) && !strcmp(mtype->valuestring, "BPE")) {
        /* the BPE tokenizer reads its model, normalizer, pre-tokenizer and
         * added tokens; the post-processor's templates are ours */
        rc = ia__bpe_from_json(path, &t->bpe);
        if (!rc)
            rc = json_post_processor(t, get(root, "post_processor"), path);
        const cJSON *ml = get(get(root, "truncation"), "max_length");
        if (cJSON_IsNumber(ml) && ml->valuedouble >= 1)
            t->max_length = (size_t)ml->valuedouble;
        cJSON_Delete(root);
        t->describe = "byte-level BPE (tokenizer.json)";
        return rc;
    }
    const bool unigram = cJSON_IsString(mtype) && !strcmp(mtype->valuestring, "Unigram");
    if (unigram) { /* its model, normalizer, pre-tokenizer and decoder */
        rc = ia__unigram_from_json(root, path, &t->ug);
    } else {
        rc = json_model(t, get(root, "model"), path);
        if (!rc)
            rc = json_normalizer(t, get(root, "normalizer"), path);
        const cJSON *pre = get(root, "pre_tokenizer"), *pt = get(pre, "type");
        if (!rc && !(cJSON_IsString(pt) && !strcmp(pt->valuestring, "BertPreTokenizer")))
            rc = ia__error(IA_ERR_UNSUPPORTED, "%s: pre_tokenizer \"%s\" is not supported (supported: "
                           "BertPreTokenizer)", path, cJSON_IsString(pt) ? pt->valuestring : "null");
    }
    if (!rc)
        rc = json_post_processor(t, get(root, "post_processor"), path);
    const cJSON *added = get(root, "added_tokens"), *a;
    cJSON_ArrayForEach(a, added) {
        const cJSON *content = get(a, "content"), *id = get(a, "id");
        if (rc)
            break;
        if (!cJSON_IsString(content) || !cJSON_IsNumber(id) || id->valueint < 0 ||
            (size_t)id->valueint >= n_vocab(t)) {
            rc = ia__error(IA_ERR_FORMAT, "%s: added_tokens entry without a valid content and id", path);
            break;
        }
        /* A "normalized" token is matched in the normalized text: for the
         * ASCII tokens of BERT files (MPNet's <unk>) that means ignoring
         * case where the normalizer lowercases. */
        const bool normalized = flag(a, "normalized", false);
        bool ascii = true;
        for (const char *c = content->valuestring; *c; c++)
            ascii &= (unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f;
        if (unigram && flag(a, "normalized", !flag(a, "special", false))) /* XLM-R's <mask> */
            rc = ia__unigram_add_token(t->ug, content->valuestring, id->valueint, flag(a, "lstrip", false),
                                       flag(a, "rstrip", false), flag(a, "single_word", false),
                                       flag(a, "special", false));
        else if (normalized && !ascii)
            rc = ia__error(IA_ERR_UNSUPPORTED, "%s: added token \"%s\" is normalized and not ASCII; such tokens are "
                           "not supported", path, content->valuestring);
        else
            rc = add_token(t, content->valuestring, id->valueint, flag(a, "lstrip", false), flag(a, "rstrip", false),
                           flag(a, "special", false), normalized && t->bt.lowercase);
    }
    const cJSON *trunc = get(root, "truncation"), *ml = get(trunc, "max_length");
    if (cJSON_IsNumber(ml) && ml->valuedouble >= 1)
        t->max_length = (size_t)ml->valuedouble;
    const cJSON *dec = get(root, "decoder"), *dt = get(dec, "type"), *pfx = get(dec, "prefix");
    if (!unigram && cJSON_IsString(dt) && strcmp(dt->valuestring, "WordPiece"))
        t->dec_unsupported = "a decoder other than WordPiece";
    if (cJSON_IsString(pfx) && strlen(pfx->valuestring) < sizeof t->dec_prefix)
        snprintf(t->dec_prefix, sizeof t->dec_prefix, "%s", pfx->valuestring);
    t->dec_cleanup = flag(dec, "cleanup", true);
    cJSON_Delete(root);
    t->describe = unigram ? "unigram (tokenizer.json)" : "wordpiece (tokenizer.json)";
    return rc;
}

/* vocab.txt + tokenizer_config.json ------------------------------------ */

static ia_status load_vocab_txt(ia_tokenizer *t, const char *dir, const char *path)
{
    char *text = NULL;
    ia_status rc = ia__read_file(path, &text, NULL);
    if (rc)
        return rc;
    size_t n = 0;
    for (char *p = text; *p; p++)
        n += *p == '\n';
    if (text[0] && text[strlen(text) - 1] != '\n')
        n++;
    rc = ia__vocab_init(&t->vocab, n);
    char *line = text;
    for (size_t id = 0; !rc && id < n; id++) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len && line[len - 1] == '\r')
            len--;
        rc = ia__vocab_set(&t->vocab, (int32_t)id, line, len);
        line = nl ? nl + 1 : line + len;
    }
    ia__free(text);
    if (!rc)
        rc = ia__vocab_index(&t->vocab);
    if (rc)
        return ia__error_wrap(rc, "%s", path);

    /* tokenizer_config.json, as BertTokenizerFast reads it (all optional) */
    cJSON *cfg = NULL;
    char *cpath = ia__path_join(dir, "tokenizer_config.json");
    if (!cpath)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    if (ia__file_exists(cpath) && !(rc = ia__read_json(cpath, &cfg)) && !cJSON_IsObject(cfg))
        rc = ia__error(IA_ERR_FORMAT, "%s: not a JSON object", cpath);
    const char *names[5] = {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};
    static const char *keys[5] = {"unk_token", "sep_token", "pad_token", "cls_token", "mask_token"};
    for (int i = 0; i < 5 && !rc; i++) {
        const cJSON *v = get(cfg, keys[i]);
        if (cJSON_IsString(v))
            names[i] = v->valuestring;
        else if (cJSON_IsString(get(v, "content")))
            names[i] = get(v, "content")->valuestring;
    }
    int32_t ids[5];
    for (int i = 0; i < 5 && !rc; i++)
        if ((ids[i] = ia__vocab_find(&t->vocab, names[i], strlen(names[i]))) >= 0)
            rc = add_token(t, names[i], ids[i], false, false, true, false);
    if (!rc && (ids[0] < 0 || ids[1] < 0 || ids[3] < 0))
        rc = ia__error(IA_ERR_FORMAT, "%s: the vocabulary lacks %s, %s or %s", path, names[0], names[1], names[3]);
    if (!rc) {
        t->bt.unk_id = ids[0];
        t->bt.lowercase = flag(cfg, "do_lower_case", true);
        t->bt.strip_accents = flag(cfg, "strip_accents", t->bt.lowercase);
        t->bt.handle_chinese_chars = flag(cfg, "tokenize_chinese_chars", true);
        t->bt.clean_text = true;
        t->bt.max_input_chars_per_word = 100;
        strcpy(t->bt.prefix, "##");
        const cJSON *ml = get(cfg, "model_max_length");
        if (cJSON_IsNumber(ml) && ml->valuedouble >= 2 && ml->valuedouble < 1e6)
            t->max_length = (size_t)ml->valuedouble;
        rc = tmpl_bert(t, ids[3], ids[1], false);
    }
    cJSON_Delete(cfg);
    ia__free(cpath);
    t->describe = "wordpiece (vocab.txt)";
    return rc;
}

ia_status ia_tokenizer_load(const char *dir, ia_tokenizer **out)
{
    ia__error_clear();
    IA_NEED(dir);
    IA_NEED(out);
    *out = NULL;
    ia_tokenizer *t = ia__calloc(1, sizeof *t);
    char *json = ia__path_join(dir, "tokenizer.json"), *txt = ia__path_join(dir, "vocab.txt");
    ia_status rc = t && json && txt ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory");
    if (!rc) { /* BERT's decoder unless tokenizer.json says otherwise */
        snprintf(t->dec_prefix, sizeof t->dec_prefix, "##");
        t->dec_cleanup = true;
        if (ia__file_exists(json))
            rc = load_json(t, json);
        else if (ia__file_exists(txt))
            rc = load_vocab_txt(t, dir, txt);
        else
            rc = ia__error(IA_ERR_NOT_FOUND, "%s: no tokenizer (neither tokenizer.json nor vocab.txt)", dir);
    }
    ia__free(json);
    ia__free(txt);
    if (rc) {
        ia_tokenizer_free(t);
        return rc;
    }
    *out = t;
    return IA_OK;
}

/* encoding -------------------------------------------------------------- */

/* Unigram's pieces must be valid UTF-8: when text[0..len) is not, *out
 * is a copy with each maximal invalid subsequence replaced by U+FFFD
 * (counted in *n_invalid); else *out stays NULL. */
static ia_status utf8_valid_copy(const char *text, size_t len, ia_i32vec *cps, size_t *n_invalid, char **out)
{
    cps->n = 0;
    const long bad = ia__utf8_decode(text, len, cps);
    if (bad < 0)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    *n_invalid += (size_t)bad;
    if (!bad)
        return IA_OK;
    char *s = ia__malloc(cps->n * 4 + 1);
    if (!s)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    size_t w = 0;
    for (size_t k = 0; k < cps->n; k++)
        w += (size_t)utf8proc_encode_char(cps->v[k], (utf8proc_uint8_t *)s + w);
    s[w] = '\0';
    *out = s;
    return IA_OK;
}

/* The added token that starts at s[i] (longest), or NULL. */
static const added_token *added_at(const ia_tokenizer *t, const char *s, size_t len, size_t i)
{
    const added_token *best = NULL;
    for (size_t k = 0; k < t->n_added; k++) {
        const added_token *a = &t->added[k];
        if (a->len <= len - i && (!best || a->len > best->len) &&
            !(a->fold ? strncasecmp(s + i, a->content, a->len) : memcmp(s + i, a->content, a->len)))
            best = a;
    }
    return best;
}

static ia_status encode_piece(const ia_tokenizer *t, const char *s, size_t len, ia_i32vec *cps,
                              ia_i32vec *ids, size_t *n_invalid)
{
    cps->n = 0;
    long bad = ia__utf8_decode(s, len, cps);
    if (bad < 0)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    *n_invalid += (size_t)bad;
    return ia__bert_encode(&t->bt, &t->vocab, cps->v, cps->n, ids);
}

static atomic_long encode_calls;

long ia__tokenizer_encode_calls(void) { return atomic_load(&encode_calls); }

/* The ids of a text before the template: the added tokens cut out of the
 * raw text, the pieces between them through the BERT pipeline. */
static ia_status encode_raw(const ia_tokenizer *tok, const char *text, size_t len, ia_i32vec *seq,
                            size_t *n_invalid)
{
    if (tok->bpe) { /* special tokens in the text are matched, as tokenizers does */
        ia_i32vec cps = {0};
        const long bad = ia__utf8_decode(text, len, &cps); /* to count what BPE replaces */
        ia__i32vec_free(&cps);
        if (bad < 0)
            return ia__error(IA_ERR_NOMEM, "out of memory");
        *n_invalid += (size_t)bad;
        return ia__bpe_encode(tok->bpe, text, len, false, true, seq);
    }
    ia_i32vec cps = {0};
    size_t piece = 0, i = 0;
    ia_status rc = IA_OK;
    char *valid = NULL; /* Unigram: the text as valid UTF-8 (invalid sequences as U+FFFD) */
    if (tok->ug && (rc = utf8_valid_copy(text, len, &cps, n_invalid, &valid)) == IA_OK && valid) {
        text = valid;
        len = strlen(valid);
    }
    while (i <= len && !rc) {
        const added_token *a = i < len ? added_at(tok, text, len, i) : NULL;
        if (!a && i < len) {
            i++;
            continue;
        }
        size_t end = i, next = a ? i + a->len : len + 1;
        if (a && a->lstrip) /* Unicode White_Space, as tokenizers' \s */
            end -= ia__ws_before(text, piece, end);
        if (end > piece)
            rc = tok->ug ? ia__unigram_encode(tok->ug, text + piece, end - piece, piece == 0, seq)
                         : encode_piece(tok, text + piece, end - piece, &cps, seq, n_invalid);
        if (!rc && a && !ia__i32vec_push(seq, a->id))
            rc = ia__error(IA_ERR_NOMEM, "out of memory");
        if (a && a->rstrip && next < len)
            next += ia__ws_after(text, next, len);
        piece = i = next;
    }
    ia__i32vec_free(&cps);
    ia__free(valid);
    return rc;
}

/* How many ids of A (na) and B (nb) to keep within `budget`: tokenizers'
 * longest_first truncation (the longer one loses tokens first; when both
 * are long, they get half each, the extra one to the longer). */
static void longest_first(size_t na, size_t nb, size_t budget, size_t *ka, size_t *kb)
{
    if (na + nb <= budget) {
        *ka = na;
        *kb = nb;
        return;
    }
    const bool swap = na > nb;
    size_t n_short = swap ? nb : na, n_long;
    n_long = n_short > budget ? n_short : IA_MAX(n_short, budget - n_short);
    if (n_short + n_long > budget) {
        n_short = budget / 2;
        n_long = n_short + budget % 2;
    }
    *ka = IA_MIN(na, swap ? n_long : n_short);
    *kb = IA_MIN(nb, swap ? n_short : n_long);
}

static ia_status check_encode_args(const char *text, size_t len, const int32_t *ids, size_t cap)
{
    if (!text && len)
        return ia__error(IA_ERR_INVALID, "ia_tokenizer_encode: text is NULL with len %zu", len);
    if (!ids && cap)
        return ia__error(IA_ERR_INVALID, "ia_tokenizer_encode: ids is NULL with cap %zu", cap);
    return IA_OK;
}

ia_status ia_tokenizer_encode_pair(const ia_tokenizer *tok, const char *a, size_t alen, const char *b,
                                   size_t blen, size_t max_tokens, bool truncate_left, int32_t *ids, int32_t *types,
                                   size_t cap, size_t *n_ids, ia_encoding_stats *stats)
{
    atomic_fetch_add_explicit(&encode_calls, 1, memory_order_relaxed);
    ia__error_clear();
    IA_NEED(tok);
    IA_NEED(n_ids);
    ia_status rc = check_encode_args(a, alen, ids, cap);
    if (!rc && b)
        rc = check_encode_args(b, blen, ids, cap);
    const tmpl *t = b ? &tok->pair : &tok->single;
    if (!rc && !t->n)
        rc = ia__error(IA_ERR_UNSUPPORTED, "this tokenizer has no template for text pairs (its tokenizer.json "
                       "post_processor defines none)");
    if (rc)
        return rc;
    ia_i32vec seq[2] = {{0}, {0}};
    size_t n_invalid = 0;
    rc = encode_raw(tok, a, alen, &seq[0], &n_invalid);
    if (!rc && b)
        rc = encode_raw(tok, b, blen, &seq[1], &n_invalid);
    const size_t specials = t->n_special, limit = max_tokens ? max_tokens : tok->max_length;
    if (!rc && limit && limit < specials)
        rc = ia__error(IA_ERR_INVALID, "max_tokens %zu is less than the tokenizer's %zu special tokens", limit,
                       specials);
    if (rc) {
        ia__i32vec_free(&seq[0]);
        ia__i32vec_free(&seq[1]);
        return rc;
    }
    size_t keep[2] = {seq[0].n, seq[1].n};
    if (limit)
        longest_first(seq[0].n, seq[1].n, limit - specials, &keep[0], &keep[1]);
    size_t w = 0;
    for (size_t k = 0; k < t->n; k++) {
        const tmpl_item *it = &t->v[k];
        const size_t n = it->seq < 0 ? 1 : keep[it->seq];
        for (size_t j = 0; j < n; j++, w++) {
            if (w >= cap)
                continue;
            ids[w] = it->seq < 0              ? it->id
                   : truncate_left ? seq[it->seq].v[seq[it->seq].n - n + j] /* the last n */
                                   : seq[it->seq].v[j];
            if (types)
                types[w] = it->type;
        }
    }
    *n_ids = w;
    if (stats) {
        stats->n_invalid_utf8 += n_invalid;
        stats->n_truncated += seq[0].n - keep[0] + seq[1].n - keep[1];
    }
    ia__i32vec_free(&seq[0]);
    ia__i32vec_free(&seq[1]);
    return IA_OK;
}

ia_status ia_tokenizer_encode(const ia_tokenizer *tok, const char *text, size_t len,
                              size_t max_tokens, int32_t *ids, size_t cap, size_t *n_ids,
                              ia_encoding_stats *stats)
{
    return ia_tokenizer_encode_pair(tok, text, len, NULL, 0, max_tokens, false, ids, NULL, cap, n_ids, stats);
}

size_t ia_tokenizer_vocab_size(const ia_tokenizer *tok) { return tok ? n_vocab(tok) : 0; }

int32_t ia_tokenizer_token_id(const ia_tokenizer *tok, const char *token)
{
    if (!tok || !token)
        return -1;
    if (tok->ug)
        return ia__unigram_find(tok->ug, token, strlen(token));
    return tok->bpe ? ia__bpe_find(tok->bpe, token, strlen(token)) : ia__vocab_find(&tok->vocab, token, strlen(token));
}

/* tokenizers' WordPiece cleanup of one decoded piece, in place. */
static void dec_cleanup(char *s)
{
    static const char *const from[] = {" .", " ?", " !", " ,", " ' ", " n't", " 'm", " do not", " 's", " 've", " 're"};
    static const char *const to[] = {".", "?", "!", ",", "'", "n't", "'m", " don't", "'s", "'ve", "'re"};
    for (size_t k = 0; k < IA_ARRAY_LEN(from); k++) { /* each replaced everywhere in turn, as str::replace */
        const size_t fl = strlen(from[k]), tl = strlen(to[k]);
        char *w = s;
        for (const char *r = s; *r;) {
            if (!strncmp(r, from[k], fl)) {
                memmove(w, to[k], tl); /* never longer than from: w stays behind r */
                w += tl, r += fl;
            } else {
                *w++ = *r++;
            }
        }
        *w = '\0';
    }
}

/* Unigram: the tokens of ids (added tokens' content first, as tokenizers
 * looks them up; special ones left out with skip_special) through its
 * decoder. */
static ia_status decode_unigram(const ia_tokenizer *tok, const int32_t *ids, size_t n, bool skip_special, char **out)
{
    const char **toks = ia__malloc((n + 1) * sizeof *toks);
    if (!toks)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = ia_tokenizer_id_token(tok, ids[i]);
        bool skip = skip_special && ia__unigram_special(tok->ug, ids[i]);
        for (size_t a = 0; a < tok->n_added; a++)
            if (tok->added[a].id == ids[i]) {
                t = tok->added[a].content;
                skip = skip_special && tok->added[a].special;
            }
        if (t && !skip)
            toks[k++] = t;
    }
    ia_status rc = ia__unigram_decode(tok->ug, toks, k, out);
    ia__free(toks);
    return rc;
}

ia_status ia__tokenizer_decode(const ia_tokenizer *tok, const int32_t *ids, size_t n, bool skip_special, char **out)
{
    *out = NULL;
    if (tok->bpe) { /* its byte-level decoder */
        size_t len = 0;
        ia_status rc = ia__bpe_decode(tok->bpe, ids, n, skip_special, NULL, 0, &len);
        char *text = rc ? NULL : ia__malloc(len + 1);
        if (!rc && !text)
            rc = ia__error(IA_ERR_NOMEM, "out of memory");
        if (!rc)
            rc = ia__bpe_decode(tok->bpe, ids, n, skip_special, text, len + 1, &len);
        if (rc) {
            ia__free(text);
            return rc;
        }
        *out = text;
        return IA_OK;
    }
    if (tok->dec_unsupported)
        return ia__error(IA_ERR_UNSUPPORTED, "decoding: the tokenizer has %s", tok->dec_unsupported);
    if (tok->ug)
        return decode_unigram(tok, ids, n, skip_special, out);
    size_t cap = 1;
    for (size_t i = 0; i < n; i++) {
        const char *t = ia_tokenizer_id_token(tok, ids[i]);
        cap += t ? strlen(t) + 1 : 0;
    }
    char *text = ia__malloc(cap), *piece = ia__malloc(cap + 1);
    if (!text || !piece) {
        ia__free(text);
        ia__free(piece);
        return ia__error(IA_ERR_NOMEM, "out of memory");
    }
    const size_t pl = strlen(tok->dec_prefix);
    size_t len = 0, kept = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = ia_tokenizer_id_token(tok, ids[i]);
        bool skip = !t; /* ids outside the vocabulary decode to nothing, as in tokenizers */
        for (size_t a = 0; skip_special && !skip && a < tok->n_added; a++)
            skip = tok->added[a].id == ids[i] && tok->added[a].special;
        if (skip)
            continue;
        if (kept++ && pl && !strncmp(t, tok->dec_prefix, pl))
            snprintf(piece, cap + 1, "%s", t + pl);
        else
            snprintf(piece, cap + 1, "%s%s", kept > 1 ? " " : "", t);
        if (tok->dec_cleanup)
            dec_cleanup(piece);
        const size_t l = strlen(piece);
        memcpy(text + len, piece, l);
        len += l;
    }
    text[len] = '\0';
    ia__free(piece);
    *out = text;
    return IA_OK;
}

const char *ia_tokenizer_id_token(const ia_tokenizer *tok, int32_t id)
{
    if (tok && tok->bpe)
        return ia__bpe_token(tok->bpe, id);
    if (tok && tok->ug)
        return ia__unigram_token(tok->ug, id);
    return tok && id >= 0 && (size_t)id < tok->vocab.n ? tok->vocab.tokens[id] : NULL;
}

const char *ia_tokenizer_describe(const ia_tokenizer *tok) { return tok ? tok->describe : NULL; }

size_t ia_tokenizer_max_length(const ia_tokenizer *tok) { return tok ? tok->max_length : 0; }

size_t ia__tokenizer_n_specials(const ia_tokenizer *tok) { return tok->single.n_special; }
size_t ia__tokenizer_n_specials_pair(const ia_tokenizer *tok) { return tok->pair.n_special; }
bool ia__tokenizer_has_pairs(const ia_tokenizer *tok) { return tok->pair.n > 0; }

size_t ia__tokenizer_n_prefix(const ia_tokenizer *tok)
{
    size_t n = 0;
    while (n < tok->single.n && tok->single.v[n].seq < 0)
        n++;
    return n;
}
