/* Fuzz target: the JSON output constraint (src/model/json_constraint.c).
 * The input is a JSON Schema, a NUL byte, then bytes a model might write
 * (no NUL: the bytes alone, under json_object). A schema compiles or ends
 * in an error naming its path. Then the bytes are read one at a time up to
 * the first refused, and in every state reached: the token mask over a
 * small vocabulary (every byte, JSON fragments, pieces of UTF-8) equals
 * feeding each token to a copy of the state, something is allowed unless
 * the document is complete, and end of generation exactly when it is.
 * Last, from where the bytes stopped, the tokens that leave the fewest
 * bytes to write must lead to a complete document that cJSON parses. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "model/json_constraint.h"

#define REQUIRE(c)                                                                                                 \
    do {                                                                                                           \
        if (!(c)) {                                                                                                \
            fprintf(stderr, "fuzz_json_constraint: %s:%d: %s\n", __FILE__, __LINE__, #c);                          \
            abort();                                                                                               \
        }                                                                                                          \
    } while (0)

enum { MAX_DOC = 512, MAX_TOKENS = 400 };

static const char *tok[MAX_TOKENS];
static size_t tok_len[MAX_TOKENS];
static uint8_t tok_eog[MAX_TOKENS];
static size_t n_tok;
static char singles[256];
static ia_jsonc_vocab *vocab;

static void add(const char *p, size_t n, bool eog)
{
    tok[n_tok] = p;
    tok_len[n_tok] = n;
    tok_eog[n_tok++] = eog;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const frags[] = {
        "{\"", "\":", "\",", "\"}", "},", "],", "[{", "}]", "true", "false", "null", " \"", "\n  ", "  ", "12",
        "0.", "e+", "-1", "\\u", "\\n", "d83d", "\\ude00", "\\ud83d", "\":\"", "\": ", "\xc3\xa9", "\xf0\x9f",
        "\x98\x80", "\xe6\x97\xa5", "[]", "{}", "\"\"", ", ", "1,", "name", "type", "id", "a", "\"a\":", "\\\"",
        "\\u00", "e9", "1e5", ".25", "]]", "[[", "\t", "\n"};
    add("", 0, false);
    add("", 0, true);
    for (int b = 0; b < 256; b++) {
        singles[b] = (char)b;
        add(&singles[b], 1, false);
    }
    for (size_t i = 0; i < sizeof frags / sizeof frags[0]; i++)
        add(frags[i], strlen(frags[i]), false);
    REQUIRE(ia__jsonc_vocab_new(n_tok, tok, tok_len, tok_eog, &vocab) == IA_OK);
    return 0;
}

/* Every state: the mask as feeding each token says, never empty before the end. */
static void check_state(const ia_jsonc *c, const ia_jsonc_state *s)
{
    uint8_t mask[MAX_TOKENS];
    REQUIRE(ia__jsonc_mask(c, vocab, s, mask) == IA_OK);
    const bool complete = ia__jsonc_complete(c, s);
    bool any = false;
    for (size_t t = 0; t < n_tok; t++) {
        bool want;
        if (tok_eog[t]) {
            want = complete;
        } else {
            ia_jsonc_state q = *s;
            want = tok_len[t] > 0 && ia__jsonc_feed(c, &q, tok[t], tok_len[t]);
        }
        REQUIRE(mask[t] == want);
        any |= want;
    }
    REQUIRE(any);
    REQUIRE(ia__jsonc_remaining(c, s) < (UINT64_C(1) << 48));
    REQUIRE(!complete || ia__jsonc_remaining(c, s) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!vocab)
        LLVMFuzzerInitialize(NULL, NULL);
    const uint8_t *nul = memchr(data, 0, size);
    cJSON *schema = NULL;
    const char *doc = (const char *)data;
    size_t n = size;
    if (nul) {
        schema = cJSON_ParseWithLength((const char *)data, (size_t)(nul - data));
        if (!schema)
            return 0;
        doc = (const char *)nul + 1;
        n = size - (size_t)(nul - data) - 1;
    }
    ia_jsonc *c = NULL;
    const ia_status st = ia__jsonc_new(schema, &c);
    cJSON_Delete(schema);
    if (st != IA_OK) {
        REQUIRE(c == NULL);
        REQUIRE(ia_errmsg()[0] == '#');
        return 0;
    }
    if (n > MAX_DOC)
        n = MAX_DOC;
    char *text = malloc(n + 64 * 1024);
    REQUIRE(text != NULL);
    ia_jsonc_state s;
    ia__jsonc_start(c, &s);
    check_state(c, &s);
    size_t len = 0;
    for (; len < n; len++) {
        ia_jsonc_state q = s;
        if (!ia__jsonc_feed(c, &q, doc + len, 1))
            break;
        s = q;
        text[len] = doc[len];
        check_state(c, &s);
    }
    /* finish it: the single bytes that leave the fewest to write */
    for (int steps = 0; !ia__jsonc_complete(c, &s); steps++) {
        REQUIRE(steps < 60 * 1024);
        uint64_t best = UINT64_MAX;
        int pick = -1;
        for (int b = 0; b < 256; b++) {
            ia_jsonc_state q = s;
            const char ch = (char)b;
            if (!ia__jsonc_feed(c, &q, &ch, 1))
                continue;
            const uint64_t r = ia__jsonc_remaining(c, &q);
            if (r < best)
                best = r, pick = b;
        }
        REQUIRE(pick >= 0);
        text[len++] = (char)pick;
        const char ch = (char)pick;
        REQUIRE(ia__jsonc_feed(c, &s, &ch, 1));
    }
    REQUIRE(ia__jsonc_remaining(c, &s) == 0);
    const char *end = NULL;
    cJSON *parsed = cJSON_ParseWithLengthOpts(text, len, &end, false);
    REQUIRE(parsed != NULL && end == text + len);
    cJSON_Delete(parsed);
    free(text);
    ia__jsonc_free(c);
    return 0;
}
