/*
 * JSON output constraints (src/model/json_constraint.c): documents read
 * byte by byte (valid ones accepted, invalid ones refused at the byte at
 * fault), schema keywords, refused and unsatisfiable schemas, UTF-8 split
 * across feeds, the token mask against feeding every token to a copy of
 * the state, end of generation only when complete, and the property that
 * matters: a walk that always picks a random allowed token ends in a
 * document that cJSON parses and that satisfies the schema (checked here
 * by a small independent validator), for many seeds and schemas. Prints
 * the time of a mask over a synthetic 49,152-token byte-level vocabulary.
 *
 * `test_json_constraint --bench GGUF` times the mask over a real model's
 * vocabulary instead (scripts/fetch-smollm2.sh prints SmolLM2's).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "model/gguf-impl.h"
#include "model/json_constraint.h"
#include "test.h"
#include "tokenizer/bpe.h"

/* ---------------------------------------------------------------------- */
/* Helpers */

static ia_jsonc *compile_text(const char *schema)
{
    cJSON *j = NULL;
    if (schema) {
        j = cJSON_Parse(schema);
        CHECK_MSG(j != NULL, "test schema does not parse: %s", schema);
        if (!j)
            return NULL;
    }
    ia_jsonc *c = NULL;
    const ia_status st = ia__jsonc_new(j, &c);
    CHECK_MSG(st == IA_OK, "%s -> %d (%s)", schema ? schema : "(any object)", st, ia_errmsg());
    cJSON_Delete(j);
    return c;
}

/* The index of the first byte refused, or -1 when all are read. */
static long refused_at(const ia_jsonc *c, const char *text, size_t n)
{
    ia_jsonc_state s;
    ia__jsonc_start(c, &s);
    for (size_t i = 0; i < n; i++)
        if (!ia__jsonc_feed(c, &s, text + i, 1))
            return (long)i;
    return -1;
}

static bool accepts(const ia_jsonc *c, const char *text)
{
    ia_jsonc_state s;
    ia__jsonc_start(c, &s);
    const size_t n = strlen(text);
    CHECK(ia__jsonc_remaining(c, &s) <= n);
    for (size_t i = 0; i < n; i++) {
        if (!ia__jsonc_feed(c, &s, text + i, 1))
            return false;
        /* the shortest completion is no longer than the rest of this one */
        CHECK_MSG(ia__jsonc_remaining(c, &s) <= n - i - 1, "%s: %llu bytes left after %zu", text,
                  (unsigned long long)ia__jsonc_remaining(c, &s), i + 1);
    }
    return ia__jsonc_complete(c, &s) && ia__jsonc_remaining(c, &s) == 0;
}

#define CHECK_ACCEPTS(c, text) CHECK_MSG(accepts((c), (text)), "refused: %s (at byte %ld)", (text), \
                                         refused_at((c), (text), strlen(text)))
#define CHECK_REFUSED_AT(c, text, at)                                                                      \
    do {                                                                                                   \
        const long got_ = refused_at((c), (text), strlen(text));                                           \
        CHECK_MSG(got_ == (long)(at), "%s: refused at byte %ld, expected %ld", (text), got_, (long)(at));   \
    } while (0)

static ia_status compile_status(const char *schema)
{
    cJSON *j = cJSON_Parse(schema);
    CHECK(j != NULL);
    ia_jsonc *c = NULL;
    const ia_status st = ia__jsonc_new(j, &c);
    CHECK(st == IA_OK ? c != NULL : c == NULL);
    ia__jsonc_free(c);
    cJSON_Delete(j);
    return st;
}

#define CHECK_COMPILE_FAILS(schema, want, words)                                                         \
    do {                                                                                                 \
        const ia_status st_ = compile_status(schema);                                                    \
        CHECK_MSG(st_ == (want), "%s -> %d, expected %d", schema, st_, want);                             \
        CHECK_STR_CONTAINS(ia_errmsg(), words);                                                          \
    } while (0)

static uint64_t rng_state;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---------------------------------------------------------------------- */
/* An independent validator: JSON Schema's meaning of the keywords used
 * here (additionalProperties absent allows any member, as the standard
 * says; the constraint is stricter, which is allowed). */

static const cJSON *deref(const cJSON *root, const char *ref)
{
    if (!strcmp(ref, "#"))
        return root;
    const char *prefix = "#/$defs/";
    if (strncmp(ref, prefix, strlen(prefix)))
        return NULL;
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "$defs"), ref + strlen(prefix));
}

static size_t code_points(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((uint8_t)*s & 0xC0) != 0x80;
    return n;
}

static bool validate(const cJSON *v, const cJSON *sch, const cJSON *root)
{
    if (cJSON_IsBool(sch))
        return cJSON_IsTrue(sch);
    const cJSON *k;
    if ((k = cJSON_GetObjectItemCaseSensitive(sch, "$ref")))
        return validate(v, deref(root, k->valuestring), root);
    if ((k = cJSON_GetObjectItemCaseSensitive(sch, "anyOf")) || (k = cJSON_GetObjectItemCaseSensitive(sch, "oneOf"))) {
        int ok = 0;
        for (const cJSON *a = k->child; a; a = a->next)
            ok += validate(v, a, root);
        if (ok == 0 || (ok > 1 && !strcmp(k->string, "oneOf")))
            return false;
    }
    if ((k = cJSON_GetObjectItemCaseSensitive(sch, "allOf")))
        for (const cJSON *a = k->child; a; a = a->next)
            if (!validate(v, a, root))
                return false;
    if ((k = cJSON_GetObjectItemCaseSensitive(sch, "type"))) {
        bool ok = false;
        for (const cJSON *t = cJSON_IsArray(k) ? k->child : k; t && !ok; t = cJSON_IsArray(k) ? t->next : NULL) {
            const char *n = t->valuestring;
            ok = (!strcmp(n, "object") && cJSON_IsObject(v)) || (!strcmp(n, "array") && cJSON_IsArray(v)) ||
                 (!strcmp(n, "string") && cJSON_IsString(v)) || (!strcmp(n, "number") && cJSON_IsNumber(v)) ||
                 (!strcmp(n, "integer") && cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble)) ||
                 (!strcmp(n, "boolean") && cJSON_IsBool(v)) || (!strcmp(n, "null") && cJSON_IsNull(v));
        }
        if (!ok)
            return false;
    }
    if ((k = cJSON_GetObjectItemCaseSensitive(sch, "enum"))) {
        bool ok = false;
        for (const cJSON *e = k->child; e && !ok; e = e->next)
            ok = cJSON_Compare(v, e, true);
        if (!ok)
            return false;
    }
    if ((k = cJSON_GetObjectItemCaseSensitive(sch, "const")) && !cJSON_Compare(v, k, true))
        return false;
    if (cJSON_IsObject(v)) {
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(sch, "properties");
        const cJSON *addl = cJSON_GetObjectItemCaseSensitive(sch, "additionalProperties");
        for (const cJSON *m = v->child; m; m = m->next) {
            const cJSON *p = props ? cJSON_GetObjectItemCaseSensitive(props, m->string) : NULL;
            for (const cJSON *o = v->child; o != m && p; o = o->next)
                if (!strcmp(o->string, m->string))
                    return false; /* a named property twice: never written (other names may repeat) */
            if (p ? !validate(m, p, root) : addl && !validate(m, addl, root))
                return false;
        }
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(sch, "required");
        for (const cJSON *r = req ? req->child : NULL; r; r = r->next)
            if (!cJSON_GetObjectItemCaseSensitive(v, r->valuestring))
                return false;
    }
    if (cJSON_IsArray(v)) {
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(sch, "items");
        const int n = cJSON_GetArraySize(v);
        if ((k = cJSON_GetObjectItemCaseSensitive(sch, "minItems")) && n < k->valueint)
            return false;
        if ((k = cJSON_GetObjectItemCaseSensitive(sch, "maxItems")) && n > k->valueint)
            return false;
        for (const cJSON *e = v->child; e && items; e = e->next)
            if (!validate(e, items, root))
                return false;
    }
    if (cJSON_IsString(v)) {
        const size_t n = code_points(v->valuestring);
        if ((k = cJSON_GetObjectItemCaseSensitive(sch, "minLength")) && n < (size_t)k->valueint)
            return false;
        if ((k = cJSON_GetObjectItemCaseSensitive(sch, "maxLength")) && n > (size_t)k->valueint)
            return false;
    }
    return true;
}

/* ---------------------------------------------------------------------- */
/* Documents, byte by byte */

static void test_any_object(void)
{
    ia_jsonc *c = compile_text(NULL);
    if (!c)
        return;
    CHECK_ACCEPTS(c, "{}");
    CHECK_ACCEPTS(c, "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\\u00e9\\n\\/\"},\"e\":-0.5e+10}");
    CHECK_ACCEPTS(c, "  {\"a\" : [ 1 , 2 ] ,\n  \"b\": {}, \"c\": []}");
    CHECK_ACCEPTS(c, "{\"k\":\"\\ud83d\\ude00\",\"l\":\"\\uD83D\\uDE00x\"}");
    CHECK_ACCEPTS(c, "{\"k\":\"\xc3\xa9\xf0\x9f\x98\x80\xe6\x97\xa5\"}");
    CHECK_ACCEPTS(c, "{\"\":0,\"\\\"\":-0,\"x\":1E5,\"y\":2.25e-3,\"z\":\"\\u0000\"}");
    CHECK_ACCEPTS(c, "{\"a\":{\"a\":{\"a\":[[[{}]]]}}}");

    CHECK_REFUSED_AT(c, "[1]", 0);
    CHECK_REFUSED_AT(c, "\"x\"", 0);
    CHECK_REFUSED_AT(c, "{\"a\":01}", 6);
    CHECK_REFUSED_AT(c, "{\"a\":1,}", 7);
    CHECK_REFUSED_AT(c, "{\"a\" 1}", 5);
    CHECK_REFUSED_AT(c, "{\"a\":tru}", 8);
    CHECK_REFUSED_AT(c, "{\"a\":\"\x01\"}", 6);
    CHECK_REFUSED_AT(c, "{\"a\":\"\\ud800x\"}", 12);
    CHECK_REFUSED_AT(c, "{\"a\":\"\\ud800\\n\"}", 13);
    CHECK_REFUSED_AT(c, "{\"a\":\"\\udc00\"}", 9);
    CHECK_REFUSED_AT(c, "{\"a\":\"\\ud800\\ud800\"}", 15);
    CHECK_REFUSED_AT(c, "{\"a\":\"\\x\"}", 7);
    CHECK_REFUSED_AT(c, "{\"a\":\"\\u12g4\"}", 10);
    CHECK_REFUSED_AT(c, "{\"a\":\"\xff\"}", 6);
    CHECK_REFUSED_AT(c, "{\"a\":\"\xe0\x80\x80\"}", 7);        /* overlong */
    CHECK_REFUSED_AT(c, "{\"a\":\"\xed\xa0\x80\"}", 7);        /* a surrogate in UTF-8 */
    CHECK_REFUSED_AT(c, "{\"a\":\"\xf4\x90\x80\x80\"}", 7);    /* past U+10FFFF */
    CHECK_REFUSED_AT(c, "{\"a\":\"\xc3\"}", 7);                /* cut short */
    CHECK_REFUSED_AT(c, "{} ", 2);                             /* nothing after the document */
    CHECK_REFUSED_AT(c, "{}}", 2);
    CHECK_REFUSED_AT(c, "{\"a\":-}", 6);
    CHECK_REFUSED_AT(c, "{\"a\":1.}", 7);
    CHECK_REFUSED_AT(c, "{\"a\":1e}", 7);
    CHECK_REFUSED_AT(c, "{\"a\":1e+}", 8);
    CHECK_REFUSED_AT(c, "{\"a\":.5}", 5);
    CHECK_REFUSED_AT(c, "{\"a\":+1}", 5);
    CHECK_REFUSED_AT(c, "{\"a\":nul}", 8);
    CHECK_REFUSED_AT(c, "{\"a\":1 2}", 7);
    CHECK_REFUSED_AT(c, "{\"a\":[1,]}", 8);
    CHECK_REFUSED_AT(c, "{\"a\":[1}", 7);
    CHECK_REFUSED_AT(c, "{a:1}", 1);
    CHECK_REFUSED_AT(c, "{\"a\":1\r}", 6);

    /* bounded whitespace: a run of IA_JSONC_MAX_WS, one newline */
    char buf[256];
    memset(buf, ' ', IA_JSONC_MAX_WS);
    snprintf(buf + IA_JSONC_MAX_WS, sizeof buf - IA_JSONC_MAX_WS, "{}");
    CHECK_ACCEPTS(c, buf);
    memset(buf, ' ', IA_JSONC_MAX_WS + 1);
    snprintf(buf + IA_JSONC_MAX_WS + 1, sizeof buf - IA_JSONC_MAX_WS - 1, "{}");
    CHECK_REFUSED_AT(c, buf, IA_JSONC_MAX_WS);
    CHECK_ACCEPTS(c, "{\n    \"a\": [\n        1\n    ]\n}");
    CHECK_REFUSED_AT(c, "{\n\n\"a\":1}", 2);
    CHECK_REFUSED_AT(c, "{\"a\":\n \n1}", 7);

    /* bounded numbers: IA_JSONC_MAX_NUMBER bytes, room kept to finish */
    char num[128] = "{\"a\":";
    size_t n = strlen(num);
    for (int i = 0; i < IA_JSONC_MAX_NUMBER; i++)
        num[n++] = '7';
    snprintf(num + n, sizeof num - n, "}");
    CHECK_ACCEPTS(c, num);
    num[n] = '7';
    snprintf(num + n + 1, sizeof num - n - 1, "}");
    CHECK_REFUSED_AT(c, num, n);
    memcpy(num, "{\"a\":", 5);
    memset(num + 5, '1', IA_JSONC_MAX_NUMBER - 1);
    snprintf(num + 5 + IA_JSONC_MAX_NUMBER - 1, 16, ".5}"); /* a '.' with no room for its digit */
    CHECK_REFUSED_AT(c, num, 5 + IA_JSONC_MAX_NUMBER - 1);

    /* nesting: the object and 31 arrays fill IA_JSONC_MAX_DEPTH frames */
    char deep[256] = "{\"a\":";
    n = 5;
    for (int i = 0; i < IA_JSONC_MAX_DEPTH - 1; i++)
        deep[n++] = '[';
    for (int i = 0; i < IA_JSONC_MAX_DEPTH - 1; i++)
        deep[n++] = ']';
    snprintf(deep + n, sizeof deep - n, "}");
    CHECK_ACCEPTS(c, deep);
    memmove(deep + 6, deep + 5, strlen(deep + 5) + 1);
    deep[5] = '[';
    CHECK_REFUSED_AT(c, deep, 5 + IA_JSONC_MAX_DEPTH - 1);
    memcpy(deep, "{\"a\":", 5); /* 30 arrays hold no scalar at depth 32 either... */
    n = 5;
    for (int i = 0; i < IA_JSONC_MAX_DEPTH - 1; i++)
        deep[n++] = '[';
    snprintf(deep + n, sizeof deep - n, "1");
    CHECK_REFUSED_AT(c, deep, n); /* ...since the scalar needs a frame */

    /* complete only at the end; no text after the end */
    ia_jsonc_state s;
    ia__jsonc_start(c, &s);
    CHECK(!ia__jsonc_complete(c, &s));
    CHECK(ia__jsonc_remaining(c, &s) == 2); /* {} */
    CHECK(ia__jsonc_feed(c, &s, "{\"a\":[1]", 8) && !ia__jsonc_complete(c, &s));
    CHECK(ia__jsonc_feed(c, &s, "}", 1) && ia__jsonc_complete(c, &s));
    ia_jsonc_state t = s;
    CHECK(!ia__jsonc_feed(c, &t, "\n", 1));

    /* a character split across feeds, as byte-level tokens split it */
    ia__jsonc_start(c, &s);
    CHECK(ia__jsonc_feed(c, &s, "{\"k\":\"", 6));
    CHECK(ia__jsonc_feed(c, &s, "\xf0\x9f", 2));
    t = s;
    CHECK(!ia__jsonc_feed(c, &t, "\"", 1)); /* not before the character ends */
    t = s;
    CHECK(!ia__jsonc_feed(c, &t, "\x28", 1));
    CHECK(ia__jsonc_feed(c, &s, "\x98", 1));
    CHECK(ia__jsonc_feed(c, &s, "\x80\"}", 3) && ia__jsonc_complete(c, &s));
    ia__jsonc_start(c, &s); /* and an escape split across feeds */
    CHECK(ia__jsonc_feed(c, &s, "{\"k\":\"\\ud8", 10) && ia__jsonc_feed(c, &s, "3d\\", 3) &&
          ia__jsonc_feed(c, &s, "ude00\"}", 7) && ia__jsonc_complete(c, &s));
    ia__jsonc_free(c);
}

static void test_schemas(void)
{
    ia_jsonc *c = compile_text("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
                               "\"age\":{\"type\":\"integer\"},\"nick\":{\"type\":\"string\"}},"
                               "\"required\":[\"name\",\"age\"]}");
    if (c) {
        CHECK_ACCEPTS(c, "{\"name\":\"Bob\",\"age\":42}");
        ia_jsonc_state s;
        ia__jsonc_start(c, &s);
        CHECK(ia__jsonc_remaining(c, &s) == strlen("{\"name\":\"\",\"age\":0}"));
        CHECK(ia__jsonc_feed(c, &s, "{\"age\":1,\"ni", 12));
        CHECK(ia__jsonc_remaining(c, &s) == strlen("ck\":\"\",\"name\":\"\"}"));
        CHECK_ACCEPTS(c, "{\"age\":-3, \"nick\":\"b\", \"name\":\"Bob\"}");
        CHECK_REFUSED_AT(c, "{\"name\":\"Bob\"}", 13);            /* age is required */
        CHECK_REFUSED_AT(c, "{}", 1);
        CHECK_REFUSED_AT(c, "{\"name\":\"Bob\",\"age\":4.5}", 21);  /* an integer */
        CHECK_REFUSED_AT(c, "{\"name\":\"Bob\",\"age\":1e3}", 21);
        CHECK_REFUSED_AT(c, "{\"nam\":\"x\"}", 5);                 /* only the names listed */
        CHECK_REFUSED_AT(c, "{\"x\":1}", 2);
        CHECK_REFUSED_AT(c, "{\"name\":\"a\",\"name\":\"b\"}", 14); /* never twice ("n" may be "nick") */
        CHECK_REFUSED_AT(c, "{\"name\":1}", 8);
        CHECK_REFUSED_AT(c, "{\"n\\u0061me\":\"a\"}", 3);          /* names byte for byte */
        /* once every property is present, no ',' */
        CHECK_REFUSED_AT(c, "{\"name\":\"a\",\"age\":1,\"nick\":\"c\",", 30);
        ia__jsonc_free(c);
    }
    c = compile_text("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},\"additionalProperties\":true}");
    if (c) {
        CHECK_ACCEPTS(c, "{\"name\":\"a\",\"extra\":[1,{\"k\":null}],\"nam\":2,\"names\":3}");
        CHECK_REFUSED_AT(c, "{\"name\":1}", 8);
        CHECK_REFUSED_AT(c, "{\"name\":\"a\",\"name\":2}", 17);   /* the repeat is refused at its end */
        CHECK_REFUSED_AT(c, "{\"na\\u006de\":1}", 4);            /* no escapes in keys beside names */
        ia__jsonc_free(c);
    }
    c = compile_text("{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}");
    if (c) {
        CHECK_ACCEPTS(c, "{\"a\":1,\"b\\n\":2}");
        CHECK_REFUSED_AT(c, "{\"a\":\"x\"}", 5);
        ia__jsonc_free(c);
    }
    c = compile_text("{\"type\":\"object\"}"); /* no properties named: any members */
    if (c) {
        CHECK_ACCEPTS(c, "{\"a\":[1,\"x\"]}");
        ia__jsonc_free(c);
    }
    /* required names missing from properties: any value */
    c = compile_text("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"null\"}},\"required\":[\"b\"]}");
    if (c) {
        CHECK_ACCEPTS(c, "{\"b\":[1],\"a\":null}");
        CHECK_REFUSED_AT(c, "{\"a\":null}", 9);
        CHECK_REFUSED_AT(c, "{\"c\":1}", 2);
        ia__jsonc_free(c);
    }
    c = compile_text("{\"type\":\"object\",\"properties\":{\"color\":{\"enum\":[\"red\",\"green\",\"blue\",\"gr\"]},"
                     "\"n\":{\"enum\":[1,12,3.5,null,{\"x\":[true]}]}},\"required\":[\"color\"],"
                     "\"additionalProperties\":false}");
    if (c) {
        CHECK_ACCEPTS(c, "{\"color\":\"green\"}");
        CHECK_ACCEPTS(c, "{ \"color\" : \"gr\" , \"n\" : 1 }");
        CHECK_ACCEPTS(c, "{\"color\":\"red\",\"n\":12}");
        CHECK_ACCEPTS(c, "{\"color\":\"red\",\"n\":3.5}");
        CHECK_ACCEPTS(c, "{\"color\":\"red\",\"n\":null}");
        CHECK_ACCEPTS(c, "{\"color\":\"red\",\"n\":{\"x\":[true]}}");
        CHECK_REFUSED_AT(c, "{\"color\":\"gray\"}", 12);
        CHECK_REFUSED_AT(c, "{\"color\":\"gre\"}", 13);
        CHECK_REFUSED_AT(c, "{\"color\":\"red\",\"n\":13}", 20);
        CHECK_REFUSED_AT(c, "{\"color\":\"red\",\"n\":{\"x\": [true]}}", 24); /* compact form only */
        CHECK_REFUSED_AT(c, "{\"color\":\"red\",\"n\":2}", 19);
        ia__jsonc_free(c);
    }
    c = compile_text("{\"enum\":[1,12]}"); /* a number at the top level ends when complete */
    if (c) {
        ia_jsonc_state s;
        ia__jsonc_start(c, &s);
        CHECK(ia__jsonc_feed(c, &s, "1", 1) && ia__jsonc_complete(c, &s));
        CHECK(ia__jsonc_feed(c, &s, "2", 1) && ia__jsonc_complete(c, &s));
        CHECK(!ia__jsonc_feed(c, &s, "2", 1));
        ia__jsonc_free(c);
    }
    c = compile_text("{\"const\":{\"a\":[1,2]}}");
    if (c) {
        CHECK_ACCEPTS(c, "{\"a\":[1,2]}");
        CHECK_REFUSED_AT(c, "{\"a\":[1,3]}", 8);
        ia__jsonc_free(c);
    }
    /* literals the other keywords refuse are dropped */
    c = compile_text("{\"type\":\"string\",\"enum\":[\"a\",\"bcd\",1],\"maxLength\":2}");
    if (c) {
        CHECK_ACCEPTS(c, "\"a\"");
        CHECK_REFUSED_AT(c, "\"b", 1);
        CHECK_REFUSED_AT(c, "1", 0);
        ia__jsonc_free(c);
    }
    c = compile_text("{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1},"
                     "\"maxItems\":2}");
    if (c) {
        CHECK_ACCEPTS(c, "[[1],[2,3]]");
        CHECK_ACCEPTS(c, "[]");
        CHECK_REFUSED_AT(c, "[[]", 2);
        CHECK_REFUSED_AT(c, "[[1],[2],[3]]", 8);
        CHECK_REFUSED_AT(c, "[1]", 1);
        ia__jsonc_free(c);
    }
    c = compile_text("{\"type\":\"array\",\"minItems\":2,\"maxItems\":2,\"items\":{\"type\":\"boolean\"}}");
    if (c) {
        CHECK_ACCEPTS(c, "[true,false]");
        CHECK_REFUSED_AT(c, "[true]", 5);
        CHECK_REFUSED_AT(c, "[]", 1);
        ia__jsonc_free(c);
    }
    c = compile_text("{\"type\":[\"string\",\"null\"]}");
    if (c) {
        CHECK_ACCEPTS(c, "\"x\"");
        CHECK_ACCEPTS(c, "null");
        CHECK_REFUSED_AT(c, "1", 0);
        ia__jsonc_free(c);
    }
    c = compile_text("{\"anyOf\":[{\"type\":\"string\",\"maxLength\":3},{\"type\":\"integer\"},{\"type\":\"null\"}],"
                     "\"description\":\"d\",\"default\":null}");
    if (c) {
        CHECK_ACCEPTS(c, "\"abc\"");
        CHECK_ACCEPTS(c, "\"\xe6\x97\xa5\xe6\x97\xa5\\n\"");
        CHECK_REFUSED_AT(c, "\"abcd\"", 4);
        CHECK_REFUSED_AT(c, "\"ab\\n\\t\"", 5);
        CHECK_ACCEPTS(c, "null");
        CHECK_ACCEPTS(c, "-5");
        CHECK_REFUSED_AT(c, "1.5", 1);
        CHECK_REFUSED_AT(c, "true", 0);
        ia__jsonc_free(c);
    }
    c = compile_text("{\"type\":\"string\",\"minLength\":2}");
    if (c) {
        CHECK_REFUSED_AT(c, "\"a\"", 2);
        CHECK_ACCEPTS(c, "\"\\ud83d\\ude00a\"");
        CHECK_REFUSED_AT(c, "\"\\ud83d\\ude00\"", 13); /* a pair is one code point */
        ia__jsonc_free(c);
    }
    /* recursion through $ref, anyOf with a reference, allOf of one */
    c = compile_text("{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
                     "\"next\":{\"anyOf\":[{\"$ref\":\"#/$defs/node\"},{\"type\":\"null\"}]}},"
                     "\"required\":[\"v\",\"next\"],\"additionalProperties\":false}},"
                     "\"allOf\":[{\"$ref\":\"#/$defs/node\"}],\"title\":\"list\"}");
    if (c) {
        CHECK_ACCEPTS(c, "{\"v\":1,\"next\":{\"v\":2,\"next\":null}}");
        CHECK_REFUSED_AT(c, "{\"v\":1,\"next\":{\"v\":2}}", 20);
        /* as deep as the frames allow, then only null */
        char buf[1024];
        size_t n = 0;
        int levels = 0;
        for (; levels < 40; levels++) {
            const size_t m = (size_t)snprintf(buf + n, sizeof buf - n, "{\"v\":1,\"next\":");
            if (refused_at(c, buf, n + m) >= 0)
                break;
            n += m;
        }
        CHECK_MSG(levels == IA_JSONC_MAX_DEPTH - 1, "%d levels", levels);
        ia__jsonc_free(c);
    }
    c = compile_text("{\"type\":\"object\",\"properties\":{\"t\":{\"$ref\":\"#\"}},\"format\":\"x\",\"x-extra\":1}");
    if (c) {
        CHECK_ACCEPTS(c, "{\"t\":{\"t\":{}}}");
        ia__jsonc_free(c);
    }
    c = compile_text("true");
    if (c) {
        CHECK_ACCEPTS(c, "[1,\"a\",{}]");
        CHECK_ACCEPTS(c, "3");
        ia__jsonc_free(c);
    }
    c = compile_text("{\"type\":\"object\",\"properties\":{\"a\":false,\"b\":{\"type\":\"integer\"}}}");
    if (c) { /* a property no value satisfies is never started */
        CHECK_REFUSED_AT(c, "{\"a", 2);
        CHECK_ACCEPTS(c, "{\"b\":1}");
        ia__jsonc_free(c);
    }
    c = compile_text("{\"type\":\"object\",\"properties\":{\"\xc3\xa9t\xc3\xa9\":{\"type\":\"boolean\"}},"
                     "\"required\":[\"\xc3\xa9t\xc3\xa9\"]}");
    if (c) {
        CHECK_ACCEPTS(c, "{\"\xc3\xa9t\xc3\xa9\":true}");
        CHECK_REFUSED_AT(c, "{\"\xc3\xa8", 3);
        ia__jsonc_free(c);
    }

    /* from response_format */
    cJSON *rf = cJSON_Parse("{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"strict\":true,"
                            "\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
                            "\"required\":[\"a\"],\"additionalProperties\":false}}}");
    c = NULL;
    CHECK_OK(ia__jsonc_from_response_format(rf, &c));
    if (c) {
        CHECK_ACCEPTS(c, "{\"a\":\"b\"}");
        ia__jsonc_free(c);
    }
    cJSON_Delete(rf);
    rf = cJSON_Parse("{\"type\":\"text\"}");
    c = (ia_jsonc *)1;
    CHECK_OK(ia__jsonc_from_response_format(rf, &c));
    CHECK(c == NULL);
    cJSON_Delete(rf);
    rf = cJSON_Parse("{\"type\":\"json_object\"}");
    CHECK_OK(ia__jsonc_from_response_format(rf, &c));
    if (c) {
        CHECK_ACCEPTS(c, "{\"z\":[]}");
        ia__jsonc_free(c);
    }
    cJSON_Delete(rf);
    rf = cJSON_Parse("{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\"}}");
    CHECK(ia__jsonc_from_response_format(rf, &c) == IA_ERR_INVALID && c == NULL);
    CHECK_STR_CONTAINS(ia_errmsg(), "json_schema.schema");
    cJSON_Delete(rf);
    rf = cJSON_Parse("{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{\"properties\":{\"z\":{\"pattern\":\"a\"}}}}}");
    CHECK(ia__jsonc_from_response_format(rf, &c) == IA_ERR_UNSUPPORTED && c == NULL);
    CHECK_STR_CONTAINS(ia_errmsg(), "response_format");
    CHECK_STR_CONTAINS(ia_errmsg(), "#/properties/z: 'pattern'");
    cJSON_Delete(rf);
    rf = cJSON_Parse("{\"type\":\"xml\"}");
    CHECK(ia__jsonc_from_response_format(rf, &c) == IA_ERR_INVALID);
    cJSON_Delete(rf);
}

static void test_refused(void)
{
    CHECK_COMPILE_FAILS("{\"type\":\"object\",\"properties\":{\"zip\":{\"type\":\"string\",\"pattern\":\"^[0-9]+$\"}}}",
                        IA_ERR_UNSUPPORTED, "#/properties/zip: 'pattern' is not supported");
    CHECK_COMPILE_FAILS("{\"type\":\"integer\",\"minimum\":0}", IA_ERR_UNSUPPORTED, "'minimum'");
    CHECK_COMPILE_FAILS("{\"type\":\"array\",\"items\":{\"type\":\"number\",\"multipleOf\":2}}", IA_ERR_UNSUPPORTED,
                        "#/items: 'multipleOf'");
    CHECK_COMPILE_FAILS("{\"type\":\"array\",\"uniqueItems\":true}", IA_ERR_UNSUPPORTED, "'uniqueItems'");
    CHECK_COMPILE_FAILS("{\"not\":{}}", IA_ERR_UNSUPPORTED, "'not'");
    CHECK_COMPILE_FAILS("{\"type\":\"array\",\"prefixItems\":[{}]}", IA_ERR_UNSUPPORTED, "'prefixItems'");
    CHECK_COMPILE_FAILS("{\"type\":\"array\",\"items\":[{}]}", IA_ERR_UNSUPPORTED, "'items' as a list");
    CHECK_COMPILE_FAILS("{\"anyOf\":[{\"type\":\"object\"},{\"type\":\"object\",\"properties\":{}}]}",
                        IA_ERR_UNSUPPORTED, "'anyOf' alternatives 0 and 1 both allow objects");
    CHECK_COMPILE_FAILS("{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}", IA_ERR_UNSUPPORTED,
                        "both allow numbers");
    CHECK_COMPILE_FAILS("{\"anyOf\":[{\"type\":\"null\"}],\"type\":\"null\"}", IA_ERR_UNSUPPORTED,
                        "'type' beside 'anyOf'");
    CHECK_COMPILE_FAILS("{\"allOf\":[{\"type\":\"null\"},{}]}", IA_ERR_UNSUPPORTED, "'allOf' of more than one");
    CHECK_COMPILE_FAILS("{\"$ref\":\"http://x/y.json\"}", IA_ERR_UNSUPPORTED, "only local references");
    CHECK_COMPILE_FAILS("{\"$ref\":\"#/$defs/missing\"}", IA_ERR_INVALID, "points at nothing");
    CHECK_COMPILE_FAILS("{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}},\"$ref\":\"#/$defs/a\"}",
                        IA_ERR_INVALID, "refers to itself");
    CHECK_COMPILE_FAILS("{\"$defs\":{\"a\":{\"anyOf\":[{\"$ref\":\"#/$defs/a\"},{\"type\":\"null\"}]}},"
                        "\"$ref\":\"#/$defs/a\"}",
                        IA_ERR_UNSUPPORTED, "refers back");
    CHECK_COMPILE_FAILS("{\"type\":\"object\",\"properties\":{\"a\":{}},\"required\":[\"b\"],"
                        "\"additionalProperties\":false}",
                        IA_ERR_INVALID, "required 'b' is not in 'properties'");
    CHECK_COMPILE_FAILS("{\"type\":\"strin\"}", IA_ERR_INVALID, "'type' 'strin' is not");
    CHECK_COMPILE_FAILS("{\"type\":\"array\",\"minItems\":-1}", IA_ERR_INVALID, "'minItems' must be");
    CHECK_COMPILE_FAILS("{\"enum\":[]}", IA_ERR_INVALID, "'enum' must be a non-empty array");
    CHECK_COMPILE_FAILS("{\"type\":\"object\",\"properties\":{\"a\\\"b\":{}}}", IA_ERR_UNSUPPORTED, "needs escapes");
    CHECK_COMPILE_FAILS("[1]", IA_ERR_INVALID, "a schema must be an object or a boolean");
    /* no value satisfies these */
    CHECK_COMPILE_FAILS("{\"type\":\"array\",\"minItems\":3,\"maxItems\":2}", IA_ERR_INVALID, "no value satisfies");
    CHECK_COMPILE_FAILS("{\"type\":\"integer\",\"enum\":[\"a\",1.5]}", IA_ERR_INVALID, "no value satisfies");
    CHECK_COMPILE_FAILS("false", IA_ERR_INVALID, "no value satisfies");
    CHECK_COMPILE_FAILS("{\"$defs\":{\"a\":{\"type\":\"object\",\"properties\":{\"x\":{\"$ref\":\"#/$defs/a\"}},"
                        "\"required\":[\"x\"]}},\"$ref\":\"#/$defs/a\"}",
                        IA_ERR_INVALID, "no value satisfies");
    /* 64 properties are fine, 65 are not */
    char big[4096];
    size_t n = (size_t)snprintf(big, sizeof big, "{\"type\":\"object\",\"properties\":{");
    for (int i = 0; i < 65; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%s\"p%d\":{}", i ? "," : "", i);
    snprintf(big + n, sizeof big - n, "}}");
    CHECK_COMPILE_FAILS(big, IA_ERR_UNSUPPORTED, "more than 64 properties");
    /* harmless keywords are ignored */
    CHECK(compile_status("{\"title\":\"t\",\"description\":\"d\",\"format\":\"date-time\",\"examples\":[1],"
                         "\"$schema\":\"x\",\"$comment\":\"c\",\"uniqueItems\":false,\"x-unknown\":{}}") == IA_OK);

    /* allocation failures end in IA_ERR_NOMEM, never a crash or a leak */
    const char *schema = "{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"v\":{\"enum\":[1,2,\"x\"]},"
                         "\"k\":{\"anyOf\":[{\"$ref\":\"#/$defs/n\"},{\"type\":\"null\"}]}},\"required\":[\"v\"]}},"
                         "\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/n\"}}";
    cJSON *j = cJSON_Parse(schema);
    bool saw_ok = false;
    for (long k = 1; k < 400 && !saw_ok; k++) {
        ia_jsonc *c = NULL;
        ia__alloc_fail_after(k);
        const ia_status st = ia__jsonc_new(j, &c);
        ia__alloc_fail_after(0);
        CHECK(st == IA_OK || (st == IA_ERR_NOMEM && c == NULL));
        saw_ok = st == IA_OK;
        ia__jsonc_free(c);
    }
    CHECK(saw_ok);
    cJSON_Delete(j);
}

/* ---------------------------------------------------------------------- */
/* Vocabularies, masks and random walks */

typedef struct vocab {
    size_t n, cap;
    char **bytes;
    size_t *len;
    uint8_t *eog;
} vocab;

static void vocab_add(vocab *v, const char *p, size_t n, bool eog)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 256;
        v->bytes = realloc(v->bytes, v->cap * sizeof *v->bytes);
        v->len = realloc(v->len, v->cap * sizeof *v->len);
        v->eog = realloc(v->eog, v->cap * sizeof *v->eog);
    }
    v->bytes[v->n] = malloc(n + 1);
    memcpy(v->bytes[v->n], p, n);
    v->bytes[v->n][n] = '\0';
    v->len[v->n] = n;
    v->eog[v->n] = eog;
    v->n++;
}

static void vocab_free(vocab *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->bytes[i]);
    free(v->bytes);
    free(v->len);
    free(v->eog);
}

/* Every byte, JSON fragments, names of the schemas below, pieces of UTF-8
 * and escapes, random strings over a JSON-ish alphabet (some repeated:
 * two tokens may spell the same bytes), specials without bytes and one
 * end-of-generation token. */
static void small_vocab(vocab *v)
{
    memset(v, 0, sizeof *v);
    vocab_add(v, "", 0, false);
    vocab_add(v, "", 0, true); /* end of generation */
    for (int b = 0; b < 256; b++) {
        const char ch = (char)b;
        vocab_add(v, &ch, 1, false);
    }
    static const char *const frags[] = {
        "{\"", "\":", "\",", "\"}", "},", "],", "[{", "}]", "true", "false", "null", " \"", "\n  ", "  ", "    ",
        "12", "0.", "e+", "-1", "\\u", "\\n", "d83d", "\\ude00", "\\ud83d", "name", "age", "color", "red", "gre",
        "green", "en", "blue", "next", "\"v\":", "\"next\":", "{\"v\":", "nick", "\":\"", "\", \"", "\": ", "x",
        "\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f", "\x98\x80", "\xe6\x97", "\xa5", " the", " and", "ing",
        "\"\n}", "\n}", "\n]", "[]", "{}", "\"\"", ",\n", ", ", "1,", "2]", "3}", "\"a\"", "tags", "items", "id",
        "\xc3", "\xa9\"", "\\\"", "\\\\", "\\/", "\\t", "\\u00", "e9", "\"\\u", " {", " [", "\t", "\n\n", "\r\n",
        "\xc3\xa9t\xc3\xa9", "\"\xc3\xa9t", "]]", "[[", "null}", "true,", "0", "00", "1e5", "-0", ".25"};
    for (size_t i = 0; i < IA_ARRAY_LEN(frags); i++)
        vocab_add(v, frags[i], strlen(frags[i]), false);
    vocab_add(v, "\"", 1, false); /* the same bytes as another token */
    /* past the walk's kept levels (16 bytes), and past the trie (255) */
    static const char *const longer[] = {"\"abcdefghijklmnopqrstuvwxyz0123456789\":", "12345678901234567890",
                                         "                    ", "\\u00e9\\u00e9\\u00e9\\u00e9"};
    for (size_t i = 0; i < IA_ARRAY_LEN(longer); i++)
        vocab_add(v, longer[i], strlen(longer[i]), false);
    char big[300];
    memset(big, 'a', sizeof big);
    vocab_add(v, big, sizeof big, false);
    big[0] = big[sizeof big - 1] = '"';
    vocab_add(v, big, sizeof big, false);
    static const char alphabet[] = "{}[]\",: \n\t0123456789-+.eEabcdefnrstuxyz\\\xc3\xa9\xf0\x9f\x98\x80\xe2\x82\xac";
    rng_state = 12345;
    for (int i = 0; i < 300; i++) {
        char tok[8];
        const size_t n = 2 + rnd() % 6;
        for (size_t k = 0; k < n; k++)
            tok[k] = alphabet[rnd() % (sizeof alphabet - 1)];
        vocab_add(v, tok, n, false);
    }
    vocab_add(v, "", 0, false);
}

/* mask[t] by feeding every token to a copy of the state. */
static void brute_mask(const ia_jsonc *c, const vocab *v, const ia_jsonc_state *s, uint8_t *mask)
{
    for (size_t t = 0; t < v->n; t++) {
        if (v->eog[t]) {
            mask[t] = ia__jsonc_complete(c, s);
            continue;
        }
        ia_jsonc_state q = *s;
        mask[t] = v->len[t] > 0 && ia__jsonc_feed(c, &q, v->bytes[t], v->len[t]);
    }
}

static const char *const walk_schemas[] = {
    NULL,
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":12},"
    "\"age\":{\"type\":\"integer\"},\"nick\":{\"type\":[\"string\",\"null\"],\"minLength\":2},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"red\",\"green\",\"blue\",1,12]},\"minItems\":1,\"maxItems\":3}},"
    "\"required\":[\"name\",\"age\",\"tags\"]}",
    "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"number\"},"
    "\"next\":{\"anyOf\":[{\"$ref\":\"#/$defs/node\"},{\"type\":\"null\"}]}},"
    "\"required\":[\"v\",\"next\"],\"additionalProperties\":false}},\"$ref\":\"#/$defs/node\"}",
    "{\"type\":\"object\",\"properties\":{\"id\":{\"const\":\"x\"},\"color\":{\"enum\":[\"red\",\"gr\",\"green\"]},"
    "\"items\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"boolean\"}},"
    "\"additionalProperties\":{\"type\":\"string\",\"maxLength\":3}}}},\"additionalProperties\":true,"
    "\"required\":[\"id\"]}",
    "{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1},"
    "\"maxItems\":4}",
    "{\"anyOf\":[{\"type\":\"string\",\"minLength\":3,\"maxLength\":5},{\"type\":\"integer\"},{\"type\":\"null\"},"
    "{\"type\":\"array\",\"items\":{\"$ref\":\"#\"},\"maxItems\":3}]}",
    "{\"type\":\"object\",\"properties\":{\"\xc3\xa9t\xc3\xa9\":{\"type\":\"boolean\"},\"a\":{\"type\":\"object\","
    "\"properties\":{\"b\":{\"type\":\"object\",\"properties\":{\"c\":{\"type\":\"string\"}},\"required\":[\"c\"]}},"
    "\"required\":[\"b\"]}},\"required\":[\"\xc3\xa9t\xc3\xa9\",\"a\"],\"additionalProperties\":false}",
    "{\"type\":\"integer\"}",
};

/* Random walks over the allowed tokens: each must end in a document that
 * cJSON parses and the schema accepts. A walk picks any allowed token for
 * a while, then heads for the end: among the allowed tokens, one that
 * leaves the fewest bytes to write (ia__jsonc_remaining), which must
 * always lower it. No state on the way may allow nothing. The first
 * `checked` seeds compare every mask against feeding each token. */
static void walks(const char *schema_text, const vocab *v, const ia_jsonc_vocab *iv, int seeds, int checked)
{
    ia_jsonc *c = compile_text(schema_text);
    cJSON *schema = schema_text ? cJSON_Parse(schema_text) : cJSON_Parse("{\"type\":\"object\"}");
    if (!c || !schema) {
        ia__jsonc_free(c);
        cJSON_Delete(schema);
        return;
    }
    uint8_t *mask = malloc(v->n), *want = malloc(v->n);
    int32_t *allowed = malloc(v->n * sizeof *allowed);
    size_t cap = 1 << 16;
    char *text = malloc(cap);
    int mismatches = 0, dead = 0, unfinished = 0, bad = 0, no_progress = 0;
    long steps = 0;
    for (int seed = 0; seed < seeds; seed++) {
        rng_state = 0x1234567ull * (uint64_t)(seed + 1);
        ia_jsonc_state s;
        ia__jsonc_start(c, &s);
        size_t len = 0;
        bool ended = false;
        for (int step = 0; step < 20000 && !ended; step++, steps++) {
            CHECK_OK(ia__jsonc_mask(c, iv, &s, mask));
            if (seed < checked) {
                brute_mask(c, v, &s, want);
                if (memcmp(mask, want, v->n) && mismatches++ < 3) {
                    for (size_t t = 0; t < v->n; t++)
                        if (mask[t] != want[t])
                            fprintf(stderr, "mask mismatch after \"%.*s\": token %zu \"%s\": mask %d, fed %d\n",
                                    (int)len, text, t, v->bytes[t], mask[t], want[t]);
                }
            }
            const uint64_t left = ia__jsonc_remaining(c, &s);
            if (left >= (UINT64_C(1) << 48))
                dead++;
            const bool finishing = step >= 100 + seed % 300;
            size_t n_allowed = 0;
            uint64_t best = UINT64_MAX;
            for (size_t t = 0; t < v->n; t++) {
                if (v->eog[t] && mask[t] != ia__jsonc_complete(c, &s))
                    mismatches++;
                if (!mask[t])
                    continue;
                uint64_t r = 0;
                if (finishing && !v->eog[t]) {
                    ia_jsonc_state q = s;
                    ia__jsonc_feed(c, &q, v->bytes[t], v->len[t]);
                    r = ia__jsonc_remaining(c, &q) + 1;
                }
                if (r < best)
                    n_allowed = 0, best = r;
                if (r == best)
                    allowed[n_allowed++] = (int32_t)t;
            }
            if (finishing && n_allowed && best > left && no_progress++ < 3)
                fprintf(stderr, "no token brings the end closer than %llu bytes after \"%.*s\"\n",
                        (unsigned long long)left, (int)len, text);
            if (n_allowed == 0) {
                if (dead++ < 3)
                    fprintf(stderr, "dead end after \"%.*s\"\n", (int)len, text);
                break;
            }
            const int32_t t = allowed[rnd() % n_allowed];
            if (v->eog[t]) {
                ended = true;
                break;
            }
            CHECK(ia__jsonc_feed(c, &s, v->bytes[t], v->len[t]));
            if (len + v->len[t] + 1 > cap)
                text = realloc(text, cap *= 2);
            memcpy(text + len, v->bytes[t], v->len[t]);
            len += v->len[t];
        }
        text[len] = '\0';
        if (!ended) {
            if (unfinished++ < 3)
                fprintf(stderr, "no end after %zu bytes: \"%.200s...\"\n", len, text);
            continue;
        }
        const char *end = NULL;
        cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, false);
        const bool ok = doc && end == text + len && validate(doc, schema, schema);
        if (!ok && bad++ < 3)
            fprintf(stderr, "%s: \"%.300s\"\n", doc ? "the schema refuses" : "cJSON cannot parse", text);
        cJSON_Delete(doc);
    }
    CHECK_MSG(mismatches == 0, "%s: %d masks differ from feeding each token", schema_text ? schema_text : "{}",
              mismatches);
    CHECK_MSG(dead == 0, "%s: %d dead ends", schema_text ? schema_text : "{}", dead);
    CHECK_MSG(no_progress == 0, "%s: %d states where no token gets closer to the end",
              schema_text ? schema_text : "{}", no_progress);
    CHECK_MSG(unfinished == 0, "%s: %d walks without an end", schema_text ? schema_text : "{}", unfinished);
    CHECK_MSG(bad == 0, "%s: %d bad documents", schema_text ? schema_text : "{}", bad);
    free(mask);
    free(want);
    free(allowed);
    free(text);
    cJSON_Delete(schema);
    ia__jsonc_free(c);
}

static void test_walks(bool quick)
{
    vocab v;
    small_vocab(&v);
    ia_jsonc_vocab *iv = NULL;
    CHECK_OK(ia__jsonc_vocab_new(v.n, (const char *const *)v.bytes, v.len, v.eog, &iv));
    if (!iv) {
        vocab_free(&v);
        return;
    }
    CHECK(ia__jsonc_vocab_size(iv) == v.n);
    for (size_t i = 0; i < IA_ARRAY_LEN(walk_schemas); i++)
        walks(walk_schemas[i], &v, iv, quick ? 60 : 300, quick ? 8 : 40);
    ia__jsonc_vocab_free(iv);

    /* failed allocations while indexing */
    for (long k = 1; k < 40; k++) {
        ia_jsonc_vocab *w = NULL;
        ia__alloc_fail_after(k);
        const ia_status st = ia__jsonc_vocab_new(v.n, (const char *const *)v.bytes, v.len, v.eog, &w);
        ia__alloc_fail_after(0);
        CHECK(st == IA_OK || (st == IA_ERR_NOMEM && w == NULL));
        ia__jsonc_vocab_free(w);
    }
    CHECK(ia__jsonc_vocab_new(0, (const char *const *)v.bytes, v.len, NULL, &iv) == IA_ERR_INVALID);
    vocab_free(&v);
}

/* ---------------------------------------------------------------------- */
/* Timing */

/* A byte-level vocabulary of n tokens shaped like a BPE one: every byte,
 * words with and without a leading space, capitalized, punctuation runs,
 * spaces and newlines, numbers, characters of 2-4 bytes and pieces of
 * them. */
static void synthetic_vocab(vocab *v, size_t n)
{
    memset(v, 0, sizeof *v);
    for (int b = 0; b < 256; b++) {
        const char ch = (char)b;
        vocab_add(v, &ch, 1, false);
    }
    vocab_add(v, "", 0, true);
    rng_state = 777;
    static const char *const punct[] = {"\",", "\":", "{\"", "},", "\"}", "],", "([", ")]", "();", "//", "->",
                                        "==", "!=", "...", "\n\n", "\n  ", "    ", "        ", "\t\t", "\\n"};
    for (size_t i = 0; i < IA_ARRAY_LEN(punct); i++)
        vocab_add(v, punct[i], strlen(punct[i]), false);
    while (v->n < n) {
        char tok[32];
        size_t k = 0;
        const uint64_t kind = rnd() % 100;
        if (kind < 80) { /* a word */
            if (rnd() % 2)
                tok[k++] = ' ';
            const size_t len = 2 + rnd() % 9;
            for (size_t j = 0; j < len; j++)
                tok[k++] = (char)('a' + rnd() % 26);
            if (rnd() % 5 == 0)
                tok[k - len] = (char)(tok[k - len] - 32);
        } else if (kind < 86) { /* punctuation */
            const size_t len = 2 + rnd() % 3;
            for (size_t j = 0; j < len; j++)
                tok[k++] = "{}[]\",:.;!?()<>=+-*/'\\ \n"[rnd() % 25];
        } else if (kind < 90) { /* a number */
            k = (size_t)snprintf(tok, sizeof tok, "%s%u", rnd() % 2 ? " " : "", (unsigned)(rnd() % 1000));
        } else { /* UTF-8: whole characters, or a piece of one */
            const uint32_t cp = 0x80 + (uint32_t)(rnd() % 0x7000);
            char ch[4];
            size_t m;
            if (cp < 0x800) {
                ch[0] = (char)(0xC0 | cp >> 6), ch[1] = (char)(0x80 | (cp & 0x3F)), m = 2;
            } else {
                ch[0] = (char)(0xE0 | cp >> 12), ch[1] = (char)(0x80 | (cp >> 6 & 0x3F));
                ch[2] = (char)(0x80 | (cp & 0x3F)), m = 3;
            }
            if (rnd() % 2)
                tok[k++] = ' ';
            const size_t take = kind < 95 ? m : 1 + rnd() % (m - 1); /* whole, or the first bytes */
            memcpy(tok + k, ch, take);
            k += take;
        }
        vocab_add(v, tok, k, false);
    }
}

typedef struct timing {
    const char *what;
    const char *prefix;
} timing;

static void time_masks(const char *label, const vocab *v, const char *schema_text, const timing *cases, size_t n_cases,
                       int reps)
{
    ia_jsonc_vocab *iv = NULL;
    double t0 = ia__now();
    CHECK_OK(ia__jsonc_vocab_new(v->n, (const char *const *)v->bytes, v->len, v->eog, &iv));
    const double t_index = ia__now() - t0;
    ia_jsonc *c = compile_text(schema_text);
    if (!iv || !c) {
        ia__jsonc_vocab_free(iv);
        ia__jsonc_free(c);
        return;
    }
    printf("%s: %zu tokens, indexed in %.1f ms\n", label, v->n, t_index * 1e3);
    uint8_t *mask = malloc(v->n);
    for (size_t i = 0; i < n_cases; i++) {
        ia_jsonc_state s;
        ia__jsonc_start(c, &s);
        CHECK(ia__jsonc_feed(c, &s, cases[i].prefix, strlen(cases[i].prefix)));
        double us = 1e30; /* the best of 5 batches: others share the machine */
        for (int batch = 0; batch < 5; batch++) {
            t0 = ia__now();
            for (int r = 0; r < reps; r++)
                ia__jsonc_mask(c, iv, &s, mask);
            us = IA_MIN(us, (ia__now() - t0) / reps * 1e6);
        }
        size_t allowed = 0;
        for (size_t t = 0; t < v->n; t++)
            allowed += mask[t];
        printf("  %-34s %8.1f us per mask (%zu tokens allowed)\n", cases[i].what, us, allowed);
    }
    /* the mean over a generated document: random allowed tokens */
    rng_state = 99;
    ia_jsonc_state s;
    ia__jsonc_start(c, &s);
    int32_t *allowed = malloc(v->n * sizeof *allowed);
    int steps = 0;
    t0 = ia__now();
    double t_masks = 0;
    for (; steps < 2000; steps++) {
        const double t1 = ia__now();
        ia__jsonc_mask(c, iv, &s, mask);
        t_masks += ia__now() - t1;
        size_t na = 0;
        for (size_t t = 0; t < v->n; t++)
            if (mask[t])
                allowed[na++] = (int32_t)t;
        if (na == 0)
            break;
        const int32_t t = allowed[rnd() % na];
        if (v->eog[t])
            break;
        ia__jsonc_feed(c, &s, v->bytes[t], v->len[t]);
    }
    printf("  %-34s %8.1f us per mask over %d tokens\n", "random walk (mean)", t_masks / (steps + 1) * 1e6, steps + 1);
    free(allowed);
    free(mask);
    ia__jsonc_free(c);
    ia__jsonc_vocab_free(iv);
}

static const char bench_schema[] =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\"},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"color\":{\"enum\":[\"red\",\"green\"]},"
    "\"extra\":{\"type\":\"object\",\"additionalProperties\":true}},\"required\":[\"name\",\"age\"]}";

static const timing bench_cases[] = {
    {"start of the document", ""},
    {"after '{' (a key)", "{"},
    {"inside a key with names", "{\"na"},
    {"after ':' (a value)", "{\"name\":"},
    {"inside a string value", "{\"name\":\"Alice Smi"},
    {"inside a number", "{\"name\":\"A\",\"age\":4"},
    {"inside a free key", "{\"name\":\"A\",\"age\":4,\"extra\":{\"ke"},
    {"after a value", "{\"name\":\"A\",\"age\":4"},
};

static int bench_gguf(const char *path)
{
    ia_gguf *g = NULL;
    ia_bpe *b = NULL;
    if (ia__gguf_open(path, &g) != IA_OK || ia__bpe_from_gguf(g, &b) != IA_OK) {
        fprintf(stderr, "%s: %s\n", path, ia_errmsg());
        ia__gguf_close(g);
        return 1;
    }
    ia__gguf_close(g);
    vocab v;
    memset(&v, 0, sizeof v);
    const size_t n = ia__bpe_n_vocab(b);
    for (size_t t = 0; t < n; t++) {
        size_t len = 0;
        const char *p = ia__bpe_piece(b, (int32_t)t, &len);
        const bool special = ia__bpe_is_special(b, (int32_t)t) || !p;
        vocab_add(&v, special ? "" : p, special ? 0 : len, ia__bpe_is_eog(b, (int32_t)t));
    }
    ia__bpe_free(b);
    time_masks(path, &v, bench_schema, bench_cases, IA_ARRAY_LEN(bench_cases), 200);
    vocab_free(&v);
    return test_failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--bench"))
        return bench_gguf(argv[2]);
#if defined(__SANITIZE_ADDRESS__)
    const bool quick = true; /* the sanitizers compute 10-20x slower */
#else
    const bool quick = getenv("IA_TEST_QUICK") != NULL;
#endif
    test_any_object();
    test_schemas();
    test_refused();
    test_walks(quick);

    vocab v;
    synthetic_vocab(&v, 49152);
    time_masks("synthetic byte-level vocabulary", &v, bench_schema, bench_cases, IA_ARRAY_LEN(bench_cases),
               quick ? 5 : 50);
    vocab_free(&v);
    return test_summary("test_json_constraint");
}
