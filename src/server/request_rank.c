/*
 * Request bodies of the classification routes: TEI's `POST /rerank` and
 * `POST /predict`, and the Cohere/Jina-style `POST /v1/rerank` that vLLM
 * and llama-server also accept. Every error names the field at fault and
 * carries the HTTP status. Pure (no HTTP, no model): fuzzed with the
 * other request parsers.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "server/server-impl.h"

void ia__srv_rank_req_free(srv_rank_req *r)
{
    if (!r)
        return;
    cJSON_Delete(r->root);
    ia__free(r->texts);
    ia__free(r->seconds);
    ia__free(r->lens);
    ia__free(r->second_lens);
    memset(r, 0, sizeof *r);
}

/* A non-empty string, or 400/422 naming `where`. */
static int text_at(const cJSON *v, const char *where, const char **s, size_t *len, srv_error *err)
{
    if (!cJSON_IsString(v)) {
        ia__srv_error_set(err, 422, where, "%s must be a string", where);
        return 422;
    }
    if (!v->valuestring[0]) {
        ia__srv_error_set(err, 400, where, "%s is an empty string", where);
        err->tei_type = "Empty";
        return 400;
    }
    *s = v->valuestring;
    *len = strlen(v->valuestring);
    return 0;
}

/* The list field `name`: present, an array of 1 to max_inputs items. */
static int list_at(const cJSON *root, const char *name, size_t max_inputs, const cJSON **list, size_t *n,
                   srv_error *err)
{
    const cJSON *l = ia__srv_field(root, name);
    if (!cJSON_IsArray(l)) {
        ia__srv_error_set(err, 422, name, "%s must be an array of strings", name);
        return 422;
    }
    *n = (size_t)cJSON_GetArraySize(l);
    if (*n == 0) {
        ia__srv_error_set(err, 400, name, "%s is an empty array: give at least one text", name);
        err->tei_type = "Empty";
        return 400;
    }
    if (*n > max_inputs) {
        ia__srv_error_set(err, 413, name, "%s has %zu texts, more than the %zu this server takes in one request "
                          "(--max-client-batch-size)", name, *n, max_inputs);
        return 413;
    }
    *list = l;
    return 0;
}

static int alloc_inputs(srv_rank_req *out, size_t n, bool seconds, srv_error *err)
{
    out->texts = ia__calloc(n, sizeof *out->texts);
    out->lens = ia__calloc(n, sizeof *out->lens);
    if (seconds) {
        out->seconds = ia__calloc(n, sizeof *out->seconds);
        out->second_lens = ia__calloc(n, sizeof *out->second_lens);
    }
    if (!out->texts || !out->lens || (seconds && (!out->seconds || !out->second_lens))) {
        ia__srv_error_set(err, 500, "", "out of memory for %zu inputs", n);
        return 500;
    }
    out->n = n;
    return 0;
}

static int parse_rerank(const cJSON *root, bool cohere, size_t max_inputs, srv_rank_req *out, srv_error *err)
{
    const char *name = cohere ? "documents" : "texts";
    const cJSON *list, *item;
    size_t n;
    int st = text_at(ia__srv_field(root, "query"), "query", &out->query, &out->query_len, err);
    if (st || (st = list_at(root, name, max_inputs, &list, &n, err)) || (st = alloc_inputs(out, n, false, err)))
        return st;
    size_t i = 0;
    cJSON_ArrayForEach(item, list) {
        char where[48];
        snprintf(where, sizeof where, "%s[%zu]", name, i);
        const cJSON *doc = item;
        if (cohere && cJSON_IsObject(item)) { /* {"text": ...} as Cohere's v1 API allows */
            snprintf(where, sizeof where, "%s[%zu].text", name, i);
            doc = ia__srv_field(item, "text");
        }
        if ((st = text_at(doc, where, &out->texts[i], &out->lens[i], err)))
            return st;
        i++;
    }
    if (!cohere)
        return (st = ia__srv_opt_bool(root, "raw_scores", false, &out->raw_scores, err)) ||
               (st = ia__srv_opt_bool(root, "return_text", false, &out->return_text, err)) ||
               (st = ia__srv_opt_bool(root, "truncate", false, &out->truncate, err)) ? st : 0;
    out->truncate = true; /* Cohere truncates long documents */
    const cJSON *f = ia__srv_field(root, "model");
    if (f && !cJSON_IsString(f)) {
        ia__srv_error_set(err, 422, "model", "model must be a string (a name from GET /v1/models)");
        return 422;
    }
    out->model = f ? f->valuestring : NULL;
    if ((f = ia__srv_field(root, "top_n"))) {
        if (!cJSON_IsNumber(f) || f->valuedouble != floor(f->valuedouble) || f->valuedouble < 1 ||
            f->valuedouble > 1e9) {
            ia__srv_error_set(err, 422, "top_n", "top_n must be a whole number >= 1");
            return 422;
        }
        out->top_n = (size_t)f->valuedouble;
    }
    return ia__srv_opt_bool(root, "return_documents", true, &out->return_text, err);
}

/* One /predict input: a text, or a pair [a, b]. */
static int predict_input(const cJSON *v, const char *where, srv_rank_req *out, size_t i, srv_error *err)
{
    if (!cJSON_IsArray(v))
        return text_at(v, where, &out->texts[i], &out->lens[i], err);
    char w[64];
    if (cJSON_GetArraySize(v) != 2) {
        ia__srv_error_set(err, 422, where, "%s must be a text or a pair of texts [a, b]", where);
        return 422;
    }
    snprintf(w, sizeof w, "%s[0]", where);
    int st = text_at(v->child, w, &out->texts[i], &out->lens[i], err);
    snprintf(w, sizeof w, "%s[1]", where);
    return st ? st : text_at(v->child->next, w, &out->seconds[i], &out->second_lens[i], err);
}

static int parse_predict(const cJSON *root, size_t max_inputs, srv_rank_req *out, srv_error *err)
{
    const cJSON *in = ia__srv_field(root, "inputs"), *item;
    int st;
    /* TEI reads a string, or two strings, as one input; else a list */
    out->single = cJSON_IsString(in) ||
                  (cJSON_IsArray(in) && cJSON_GetArraySize(in) == 2 && cJSON_IsString(in->child) &&
                   cJSON_IsString(in->child->next));
    if (out->single) {
        if ((st = alloc_inputs(out, 1, true, err)) || (st = predict_input(in, "inputs", out, 0, err)))
            return st;
    } else {
        size_t n;
        if ((st = list_at(root, "inputs", max_inputs, &in, &n, err)) || (st = alloc_inputs(out, n, true, err)))
            return st;
        size_t i = 0;
        cJSON_ArrayForEach(item, in) {
            char where[48];
            snprintf(where, sizeof where, "inputs[%zu]", i);
            if ((st = predict_input(item, where, out, i++, err)))
                return st;
        }
    }
    return (st = ia__srv_opt_bool(root, "raw_scores", false, &out->raw_scores, err)) ? st
         : ia__srv_opt_bool(root, "truncate", false, &out->truncate, err);
}

int ia__srv_parse_rank_request(srv_rank_kind kind, const char *body, size_t len, size_t max_inputs,
                               srv_rank_req *out, srv_error *err)
{
    memset(out, 0, sizeof *out);
    int st = ia__srv_parse_object(body, len, &out->root, err);
    if (!st)
        st = kind == SRV_PREDICT ? parse_predict(out->root, max_inputs, out, err)
                                 : parse_rerank(out->root, kind == SRV_RANK_COHERE, max_inputs, out, err);
    if (!st) {
        const cJSON *f = ia__srv_field(out->root, "truncation_direction");
        if (f && !(cJSON_IsString(f) && (!strcmp(f->valuestring, "Right") || !strcmp(f->valuestring, "Left")))) {
            ia__srv_error_set(err, 422, "truncation_direction", "truncation_direction must be \"Right\" or \"Left\"");
            st = 422;
        }
        out->truncate_left = f && !st && !strcmp(f->valuestring, "Left");
    }
    if (st)
        ia__srv_rank_req_free(out);
    return st;
}
