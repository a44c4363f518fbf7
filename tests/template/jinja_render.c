/*
 * ia-jinja-render: renders one chat template on a list of contexts with
 * src/template/jinja.c, for tests/template/jinja_oracle.py to compare with
 * Python jinja2.
 *
 *   ia-jinja-render TEMPLATE CONTEXTS.json [NOW]
 *   ia-jinja-render --many TEMPLATES.json CONTEXT.json [NOW]
 *
 * CONTEXTS.json is a JSON array of context objects (or one object). Prints
 * a JSON array with one result per context: {"ok": true, "out": TEXT} or
 * {"ok": false, "status": N, "error": MESSAGE}; a template that does not
 * compile gives that error for every context. NOW is the time
 * strftime_now() sees (seconds since the epoch). With --many, TEMPLATES.json
 * is a JSON array of template sources, each rendered on the one context:
 * one result per template. Exit 0 unless the
 * arguments or files are unusable (then 2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core/core-impl.h"
#include "template/jinja.h"

static cJSON *result(ia_status st, const char *text, size_t len)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", st == IA_OK);
    if (st == IA_OK) {
        char *copy = malloc(len + 1);
        if (copy) {
            memcpy(copy, text, len);
            copy[len] = '\0';
            /* embedded NULs would be cut by cJSON: flag them */
            if (strlen(copy) != len)
                cJSON_AddBoolToObject(o, "nul", 1);
            cJSON_AddStringToObject(o, "out", copy);
            free(copy);
        }
    } else {
        cJSON_AddNumberToObject(o, "status", st);
        cJSON_AddStringToObject(o, "error", ia_errmsg());
    }
    return o;
}

static int many(int argc, char **argv)
{
    char *tt, *ct;
    size_t tl, cl;
    if (argc < 4 || ia__read_file(argv[2], &tt, &tl) || ia__read_file(argv[3], &ct, &cl)) {
        fprintf(stderr, "usage: %s --many TEMPLATES.json CONTEXT.json [NOW]\n", argv[0]);
        return 2;
    }
    int64_t now = argc >= 5 ? strtoll(argv[4], NULL, 10) : 0;
    cJSON *ts = cJSON_ParseWithLength(tt, tl), *ctx = cJSON_ParseWithLength(ct, cl);
    if (!cJSON_IsArray(ts) || !cJSON_IsObject(ctx)) {
        fprintf(stderr, "%s: bad input\n", argv[0]);
        return 2;
    }
    cJSON *results = cJSON_CreateArray();
    const cJSON *src;
    cJSON_ArrayForEach(src, ts)
    {
        const char *s = cJSON_GetStringValue(src);
        ia_jinja *t = NULL;
        char *out = NULL;
        size_t len = 0;
        ia_status st = ia__jinja_compile(s ? s : "", s ? strlen(s) : 0, &t);
        if (!st)
            st = ia__jinja_render(t, ctx, now, &out, &len);
        cJSON_AddItemToArray(results, result(st, out, len));
        ia__free(out);
        ia__jinja_free(t);
    }
    char *text = cJSON_PrintUnformatted(results);
    fputs(text, stdout);
    fputc('\n', stdout);
    cJSON_free(text);
    cJSON_Delete(results);
    cJSON_Delete(ts);
    cJSON_Delete(ctx);
    ia__free(tt);
    ia__free(ct);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "--many"))
        return many(argc, argv);
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s TEMPLATE CONTEXTS.json [NOW]\n", argv[0]);
        return 2;
    }
    char *src, *ctx_text;
    size_t src_len, ctx_len;
    if (ia__read_file(argv[1], &src, &src_len) || ia__read_file(argv[2], &ctx_text, &ctx_len)) {
        fprintf(stderr, "%s\n", ia_errmsg());
        return 2;
    }
    int64_t now = argc == 4 ? strtoll(argv[3], NULL, 10) : 0;
    cJSON *ctxs = cJSON_ParseWithLength(ctx_text, ctx_len);
    if (!ctxs) {
        fprintf(stderr, "%s: not JSON\n", argv[2]);
        return 2;
    }
    cJSON *list = ctxs;
    if (cJSON_IsObject(ctxs)) {
        list = cJSON_CreateArray();
        cJSON_AddItemReferenceToArray(list, ctxs);
    }
    ia_jinja *t = NULL;
    ia_status cst = ia__jinja_compile(src, src_len, &t);
    char cmsg[1024];
    snprintf(cmsg, sizeof cmsg, "%s", ia_errmsg());
    cJSON *results = cJSON_CreateArray();
    const cJSON *c;
    cJSON_ArrayForEach(c, list)
    {
        if (cst) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddBoolToObject(o, "ok", 0);
            cJSON_AddNumberToObject(o, "status", cst);
            cJSON_AddStringToObject(o, "error", cmsg);
            cJSON_AddItemToArray(results, o);
            continue;
        }
        char *out = NULL;
        size_t len = 0;
        ia_status st = ia__jinja_render(t, c, now, &out, &len);
        cJSON_AddItemToArray(results, result(st, out, len));
        ia__free(out);
    }
    char *text = cJSON_PrintUnformatted(results);
    fputs(text, stdout);
    fputc('\n', stdout);
    cJSON_free(text);
    cJSON_Delete(results);
    if (list != ctxs)
        cJSON_Delete(list);
    cJSON_Delete(ctxs);
    ia__jinja_free(t);
    ia__free(src);
    ia__free(ctx_text);
    return 0;
}
