/*
 * Request bodies of the embedding routes, parsed and validated before
 * anything is queued: OpenAI `POST /v1/embeddings` and TEI `POST /embed`
 * and `POST /tokenize`. Every error names the field at fault ("input[3]
 * must be a string") and carries the HTTP status the routes answer with.
 * Pure (no HTTP, no model): the fuzz target drives it directly.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "server/server-impl.h"

void ia__srv_error_set(srv_error *e, int status, const char *param, const char *fmt, ...)
{
    e->status = status;
    e->openai_type = status == 401 ? "invalid_request_error"
                   : status == 429 ? "rate_limit_error"
                   : status >= 500 ? "server_error" : "invalid_request_error";
    e->tei_type = status == 429 ? "Overloaded"
                : status == 503 ? "Unhealthy"
                : status >= 500 ? "Backend" : "Validation";
    e->code = NULL;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

void ia__srv_input_req_free(srv_input_req *r)
{
    if (!r)
        return;
    cJSON_Delete(r->root);
    for (size_t i = 0; r->ids && i < r->n; i++)
        ia__free(r->ids[i]);
    ia__free(r->ids);
    ia__free(r->n_ids);
    ia__free(r->texts);
    ia__free(r->lens);
    memset(r, 0, sizeof *r);
}

const cJSON *ia__srv_field(const cJSON *root, const char *name)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, name);
    return f && !cJSON_IsNull(f) ? f : NULL;
}

int ia__srv_opt_bool(const cJSON *root, const char *name, bool def, bool *out, srv_error *err)
{
    const cJSON *f = ia__srv_field(root, name);
    *out = def;
    if (!f)
        return 0;
    if (!cJSON_IsBool(f)) {
        ia__srv_error_set(err, 422, name, "%s must be true or false", name);
        return 422;
    }
    *out = cJSON_IsTrue(f);
    return 0;
}

/* A token-id input: a non-empty array of integers in [0, 2^31). */
static bool is_ids(const cJSON *v)
{
    if (!cJSON_IsArray(v) || !v->child)
        return false;
    for (const cJSON *e = v->child; e; e = e->next)
        if (!cJSON_IsNumber(e))
            return false;
    return true;
}

static int take_ids(const cJSON *v, const char *where, srv_input_req *out, size_t i, srv_error *err)
{
    const size_t n = (size_t)cJSON_GetArraySize(v);
    int32_t *ids = ia__malloc(n * sizeof *ids);
    if (!ids) {
        ia__srv_error_set(err, 500, "", "out of memory for %zu token ids", n);
        return 500;
    }
    size_t k = 0;
    for (const cJSON *e = v->child; e; e = e->next, k++) {
        if (e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 || e->valuedouble > 2147483647.0) {
            ia__srv_error_set(err, 422, where, "%s[%zu] must be a token id (an integer >= 0)", where, k);
            ia__free(ids);
            return 422;
        }
        ids[k] = (int32_t)e->valuedouble;
    }
    out->ids[i] = ids;
    out->n_ids[i] = n;
    return 0;
}

/* The inputs: a text, an array of token ids, or an array of texts and
 * token-id arrays (as TEI and OpenAI take them). */
static int parse_inputs(const cJSON *root, const char *name, bool openai, size_t max_inputs,
                        srv_input_req *out, srv_error *err)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!in || cJSON_IsNull(in)) {
        ia__srv_error_set(err, 422, name, "missing field %s (a string or an array of strings)", name);
        return 422;
    }
    size_t n;
    if (cJSON_IsString(in) || is_ids(in)) {
        n = 1;
        out->single = true;
    } else if (cJSON_IsArray(in)) {
        n = (size_t)cJSON_GetArraySize(in);
        if (n == 0) {
            ia__srv_error_set(err, 400, name, "%s is an empty array: give at least one text", name);
            err->tei_type = "Empty";
            return 400;
        }
        if (n > max_inputs) {
            ia__srv_error_set(err, 413, name,
                              "%s has %zu texts, more than the %zu this server takes in one request "
                              "(--max-client-batch-size)", name, n, max_inputs);
            return 413;
        }
    } else {
        ia__srv_error_set(err, 422, name, "%s must be a string or an array of strings", name);
        return 422;
    }
    out->texts = ia__calloc(n, sizeof *out->texts);
    out->lens = ia__calloc(n, sizeof *out->lens);
    out->ids = ia__calloc(n, sizeof *out->ids);
    out->n_ids = ia__calloc(n, sizeof *out->n_ids);
    if (!out->texts || !out->lens || !out->ids || !out->n_ids) {
        ia__srv_error_set(err, 500, "", "out of memory for %zu inputs", n);
        return 500;
    }
    out->n = n; /* set now: the ids taken so far are freed on failure */
    const cJSON *item = out->single ? in : in->child;
    for (size_t i = 0; i < n; i++, item = item->next) {
        char where[48];
        if (out->single)
            snprintf(where, sizeof where, "%s", name);
        else
            snprintf(where, sizeof where, "%s[%zu]", name, i);
        if (is_ids(item)) {
            int st = take_ids(item, where, out, i, err);
            if (st)
                return st;
            out->texts[i] = "";
            continue;
        }
        if (!cJSON_IsString(item)) {
            ia__srv_error_set(err, 422, where, "%s must be a string or an array of token ids", where);
            return 422;
        }
        size_t len = strlen(item->valuestring);
        if (len == 0) {
            ia__srv_error_set(err, 400, where, "%s is an empty string", where);
            err->tei_type = openai ? "Validation" : "Empty";
            return 400;
        }
        out->texts[i] = item->valuestring;
        out->lens[i] = len;
    }
    return 0;
}

static int parse_openai(const cJSON *root, size_t max_inputs, srv_input_req *out, srv_error *err)
{
    int st = parse_inputs(root, "input", true, max_inputs, out, err);
    if (st)
        return st;
    const cJSON *f = ia__srv_field(root, "model");
    if (f && !cJSON_IsString(f)) {
        ia__srv_error_set(err, 422, "model", "model must be a string (a name from GET /v1/models)");
        return 422;
    }
    out->model = f ? f->valuestring : NULL;
    if ((f = ia__srv_field(root, "encoding_format"))) {
        size_t k = 0;
        while (k < SRV_ENC_COUNT && !(cJSON_IsString(f) && !strcmp(f->valuestring, ia__srv_encoding_names[k])))
            k++;
        if (k == SRV_ENC_COUNT) {
            char list[128] = "";
            for (size_t i = 0; i < SRV_ENC_COUNT; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"",
                         !i ? "" : i + 1 < SRV_ENC_COUNT ? ", " : " or ", ia__srv_encoding_names[i]);
            ia__srv_error_set(err, 422, "encoding_format", "encoding_format must be %s", list);
            return 422;
        }
        out->encoding = (srv_encoding)k;
    }
    if ((f = ia__srv_field(root, "dimensions"))) {
        double d = cJSON_IsNumber(f) ? f->valuedouble : -1;
        if (!cJSON_IsNumber(f) || d != floor(d) || d < 1 || d > 1e6) {
            ia__srv_error_set(err, 422, "dimensions", "dimensions must be a whole number >= 1");
            return 422;
        }
        out->dimensions = (int)d;
    }
    if ((f = ia__srv_field(root, "user")) && !cJSON_IsString(f)) {
        ia__srv_error_set(err, 422, "user", "user must be a string");
        return 422;
    }
    return 0;
}

/* prompt_name: a string or null (the model's default prompt); the route
 * checks the name against the model's prompts. */
static int parse_prompt_name(const cJSON *root, srv_body_kind kind, srv_input_req *out, srv_error *err)
{
    const cJSON *f = ia__srv_field(root, "prompt_name");
    if (!f)
        return 0;
    if (!cJSON_IsString(f))
        ia__srv_error_set(err, 422, "prompt_name", "prompt_name must be a string or null");
    else if (kind == SRV_BODY_TOKENIZE)
        ia__srv_error_set(err, 422, "prompt_name", "prompt_name is for /embed: /tokenize shows the text's own tokens");
    else
        out->prompt_name = f->valuestring;
    return out->prompt_name ? 0 : 422;
}

/* TEI /similarity's inputs: {"source_sentence": text, "sentences": [text, ...]}
 * as the texts source, sentences... */
static int parse_similarity(const cJSON *root, size_t max_inputs, srv_input_req *out, srv_error *err)
{
    const cJSON *in = ia__srv_field(root, "inputs");
    const cJSON *src = cJSON_IsObject(in) ? ia__srv_field(in, "source_sentence") : NULL;
    const cJSON *list = cJSON_IsObject(in) ? ia__srv_field(in, "sentences") : NULL;
    if (!cJSON_IsString(src) || !cJSON_IsArray(list)) {
        ia__srv_error_set(err, 422, "inputs",
                          "inputs must be {\"source_sentence\": a string, \"sentences\": an array of strings}");
        return 422;
    }
    const size_t n = 1 + (size_t)cJSON_GetArraySize(list);
    if (n == 1) {
        ia__srv_error_set(err, 400, "inputs.sentences", "inputs.sentences is empty: give at least one text");
        err->tei_type = "Empty";
        return 400;
    }
    if (n > max_inputs) {
        ia__srv_error_set(err, 413, "inputs.sentences",
                          "%zu texts, more than the %zu this server takes in one request (--max-client-batch-size)",
                          n, max_inputs);
        return 413;
    }
    out->texts = ia__calloc(n, sizeof *out->texts);
    out->lens = ia__calloc(n, sizeof *out->lens);
    if (!out->texts || !out->lens) {
        ia__srv_error_set(err, 500, "", "out of memory for %zu inputs", n);
        return 500;
    }
    const cJSON *item = src;
    for (size_t i = 0; i < n; i++, item = i == 1 ? list->child : item->next) {
        char where[48];
        snprintf(where, sizeof where, i ? "inputs.sentences[%zu]" : "inputs.source_sentence", i - 1);
        if (!cJSON_IsString(item) || !item->valuestring[0]) {
            ia__srv_error_set(err, cJSON_IsString(item) ? 400 : 422, where, "%s must be a non-empty string", where);
            if (cJSON_IsString(item))
                err->tei_type = "Empty";
            return err->status;
        }
        out->texts[i] = item->valuestring;
        out->lens[i] = strlen(item->valuestring);
    }
    out->n = n;
    return 0;
}

static int parse_tei(const cJSON *root, srv_body_kind kind, size_t max_inputs, srv_input_req *out,
                     srv_error *err)
{
    int st = kind == SRV_BODY_SIMILARITY ? parse_similarity(root, max_inputs, out, err)
                                         : parse_inputs(root, "inputs", false, max_inputs, out, err);
    if (st || (st = parse_prompt_name(root, kind, out, err)))
        return st;
    if (kind == SRV_BODY_TOKENIZE) {
        for (size_t i = 0; out->ids && i < out->n; i++)
            if (out->ids[i]) {
                ia__srv_error_set(err, 422, "inputs", "/tokenize takes texts, not token ids");
                return 422;
            }
        return ia__srv_opt_bool(root, "add_special_tokens", true, &out->add_special_tokens, err);
    }
    if ((st = ia__srv_opt_bool(root, "normalize", true, &out->normalize, err)) ||
        (st = ia__srv_opt_bool(root, "truncate", false, &out->truncate, err)))
        return st;
    const cJSON *f = ia__srv_field(root, "truncation_direction");
    if (f && !(cJSON_IsString(f) && (!strcmp(f->valuestring, "Right") || !strcmp(f->valuestring, "Left")))) {
        ia__srv_error_set(err, 422, "truncation_direction", "truncation_direction must be \"Right\" or \"Left\"");
        return 422;
    }
    out->truncate_left = f && !strcmp(f->valuestring, "Left");
    return 0;
}

int ia__srv_parse_object(const char *body, size_t len, cJSON **root, srv_error *err)
{
    *root = NULL;
    size_t bad;
    if (len == 0) {
        ia__srv_error_set(err, 400, "", "empty request body: expected a JSON object");
        return 400;
    }
    if (!ia__utf8_valid(body, len, &bad)) {
        ia__srv_error_set(err, 400, "", "request body is not valid UTF-8 (byte %zu)", bad);
        return 400;
    }
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (!v) {
        size_t at = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        ia__srv_error_set(err, 400, "", "malformed JSON in the request body near byte %zu", at);
        return 400;
    }
    /* Only whitespace may follow the value. */
    for (const char *p = end; p && p < body + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            ia__srv_error_set(err, 400, "", "malformed JSON: data after the value at byte %zu",
                              (size_t)(p - body));
            cJSON_Delete(v);
            return 400;
        }
    if (!cJSON_IsObject(v)) {
        ia__srv_error_set(err, 422, "", "the request body must be a JSON object");
        cJSON_Delete(v);
        return 422;
    }
    *root = v;
    return 0;
}

int ia__srv_parse_request(srv_body_kind kind, const char *body, size_t len, size_t max_inputs,
                          srv_input_req *out, srv_error *err)
{
    memset(out, 0, sizeof *out);
    int code = ia__srv_parse_object(body, len, &out->root, err);
    if (code)
        return code;
    out->normalize = true;
    out->add_special_tokens = true;
    int st = kind == SRV_BODY_EMBEDDINGS ? parse_openai(out->root, max_inputs, out, err)
                                         : parse_tei(out->root, kind, max_inputs, out, err);
    if (st)
        ia__srv_input_req_free(out);
    return st;
}
