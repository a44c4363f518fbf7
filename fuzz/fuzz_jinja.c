/* Fuzz target: the Jinja interpreter (src/template/) on an arbitrary
 * template source, rendered against a fixed conversation (messages with
 * tool calls and content lists, tools, special tokens). Whatever the
 * source, compiling and rendering must end in an output or an error,
 * inside the interpreter's limits; a template that renders must render
 * the same bytes twice (renders share nothing). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "template/jinja.h"

#define REQUIRE(c)                                                                                                 \
    do {                                                                                                           \
        if (!(c)) {                                                                                                \
            fprintf(stderr, "fuzz_jinja: %s:%d: %s\n", __FILE__, __LINE__, #c);                                    \
            abort();                                                                                               \
        }                                                                                                          \
    } while (0)

static cJSON *ctx;

static const char conversation[] =
    "{\"messages\": ["
    "{\"role\": \"system\", \"content\": \"You are helpful.\"},"
    "{\"role\": \"user\", \"content\": \"Hi <b> & 'you'\\n\\u00e9\"},"
    "{\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"id\": \"abc123DEF\", \"type\": \"function\","
    " \"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}}]},"
    "{\"role\": \"tool\", \"tool_call_id\": \"abc123DEF\", \"content\": \"{\\\"t\\\": 21.5}\"},"
    "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"and now?\"}]}],"
    "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Weather\","
    " \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}},"
    " \"required\": [\"city\"]}}}],"
    "\"documents\": null, \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\","
    " \"n\": 3, \"f\": 2.5}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ctx = cJSON_Parse(conversation);
    REQUIRE(ctx != NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx)
        LLVMFuzzerInitialize(NULL, NULL);
    ia_jinja *t = NULL;
    if (ia__jinja_compile((const char *)data, size, &t) != IA_OK) {
        REQUIRE(t == NULL);
        REQUIRE(strstr(ia_errmsg(), "template line ") != NULL);
        return 0;
    }
    char *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    double t0 = ia__now();
    ia_status sa = ia__jinja_render(t, ctx, 1721995200, &a, &la);
    if (sa == IA_OK) {
        REQUIRE(a != NULL && a[la] == '\0' && la <= IA_JINJA_MAX_OUTPUT);
        /* the second render only when the first was quick: a template may
         * take its whole step budget, seconds under the sanitizers */
        if (ia__now() - t0 < 0.5) {
            ia_status sb = ia__jinja_render(t, ctx, 1721995200, &b, &lb);
            REQUIRE(sb == IA_OK && lb == la && !memcmp(a, b, la));
        }
    } else {
        REQUIRE(a == NULL);
        REQUIRE(strstr(ia_errmsg(), "template line ") != NULL);
    }
    ia__free(a);
    ia__free(b);
    ia__jinja_free(t);
    return 0;
}
