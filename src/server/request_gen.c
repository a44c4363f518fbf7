/*
 * Request bodies of the text-generation routes, parsed and validated
 * before anything is queued: OpenAI `POST /v1/chat/completions` and
 * `POST /v1/completions`, with the extra sampling fields llama-server and
 * vLLM accept (top_k, min_p, repetition_penalty, ignore_eos). Every error
 * names the field at fault. Pure (no HTTP, no model): fuzzed directly.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server-impl.h"

void ia__srv_gen_req_free(srv_gen_req *r)
{
    if (!r)
        return;
    cJSON_Delete(r->root);
    ia__free(r->prompt_ids);
    ia__free(r->bias);
    memset(r, 0, sizeof *r);
}

static const cJSON *field(const cJSON *root, const char *name)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, name);
    return f && !cJSON_IsNull(f) ? f : NULL;
}

static int bad(srv_error *err, const char *param, const char *what)
{
    ia__srv_error_set(err, 400, param, "%s %s", param, what);
    return 400;
}

static int opt_bool(const cJSON *root, const char *name, bool *out, srv_error *err)
{
    const cJSON *f = field(root, name);
    if (f && !cJSON_IsBool(f))
        return bad(err, name, "must be true or false");
    if (f)
        *out = cJSON_IsTrue(f);
    return 0;
}

/* A number in [lo, hi] (integral when whole). */
static int opt_num(const cJSON *root, const char *name, double lo, double hi, bool whole, double *out,
                   srv_error *err)
{
    const cJSON *f = field(root, name);
    if (!f)
        return 0;
    const double v = cJSON_IsNumber(f) ? f->valuedouble : NAN;
    if (!(v >= lo && v <= hi) || (whole && v != floor(v))) {
        ia__srv_error_set(err, 400, name, "%s must be %s in [%g, %g]", name, whole ? "an integer" : "a number",
                          lo, hi);
        return 400;
    }
    *out = v;
    return 0;
}

static int parse_stop(const cJSON *root, srv_gen_req *r, srv_error *err)
{
    const cJSON *f = field(root, "stop");
    if (!f)
        return 0;
    if (cJSON_IsString(f)) {
        r->stop[r->n_stop++] = f->valuestring;
        return 0;
    }
    if (!cJSON_IsArray(f) || cJSON_GetArraySize(f) > SRV_MAX_STOP)
        return bad(err, "stop", "must be a string or an array of at most 4 strings");
    const cJSON *e;
    cJSON_ArrayForEach(e, f) {
        if (!cJSON_IsString(e))
            return bad(err, "stop", "must be a string or an array of at most 4 strings");
        r->stop[r->n_stop++] = e->valuestring;
    }
    return 0;
}

/* {"token id": bias, ...}, biases in [-100, 100]. */
static int parse_logit_bias(const cJSON *root, srv_gen_req *r, srv_error *err)
{
    const cJSON *f = field(root, "logit_bias");
    if (!f)
        return 0;
    if (!cJSON_IsObject(f))
        return bad(err, "logit_bias", "must be an object of token id: bias");
    const int n = cJSON_GetArraySize(f);
    if (n > 1024)
        return bad(err, "logit_bias", "has more than 1024 entries");
    r->bias = ia__calloc((size_t)(n ? n : 1), sizeof *r->bias);
    if (!r->bias) {
        ia__srv_error_set(err, 500, "", "out of memory");
        return 500;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, f) {
        char *end;
        const long id = strtol(e->string, &end, 10);
        if (!e->string[0] || *end || id < 0 || id > INT32_MAX || !cJSON_IsNumber(e) ||
            !(e->valuedouble >= -100 && e->valuedouble <= 100))
            return bad(err, "logit_bias", "must map token ids to numbers in [-100, 100]");
        r->bias[r->n_bias++] = (ia_logit_bias){(int32_t)id, (float)e->valuedouble};
    }
    return 0;
}

/* Completions' prompt: a string, or an array of token ids. */
static int parse_prompt(const cJSON *root, srv_gen_req *r, srv_error *err)
{
    const cJSON *p = field(root, "prompt");
    if (!p)
        return bad(err, "prompt", "is missing (a string or an array of token ids)");
    if (cJSON_IsString(p)) {
        r->prompt = p->valuestring;
        r->prompt_len = strlen(p->valuestring);
        return 0;
    }
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(p->child)) {
        r->prompt = p->child->valuestring; /* ["text"]: one prompt */
        r->prompt_len = strlen(p->child->valuestring);
        return 0;
    }
    const int n = cJSON_IsArray(p) ? cJSON_GetArraySize(p) : 0;
    if (n < 1)
        return bad(err, "prompt", "must be a string or a non-empty array of token ids (one prompt per request)");
    if (!(r->prompt_ids = ia__malloc((size_t)n * sizeof *r->prompt_ids))) {
        ia__srv_error_set(err, 500, "", "out of memory");
        return 500;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, p) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > INT32_MAX ||
            e->valuedouble != floor(e->valuedouble))
            return bad(err, "prompt", "must be a string or an array of token ids (non-negative integers)");
        r->prompt_ids[r->n_prompt_ids++] = (int32_t)e->valuedouble;
    }
    return 0;
}

static int parse_response_format(const cJSON *root, srv_gen_req *r, srv_error *err)
{
    const cJSON *f = field(root, "response_format");
    if (!f)
        return 0;
    const cJSON *type = cJSON_IsObject(f) ? cJSON_GetObjectItemCaseSensitive(f, "type") : NULL;
    if (!cJSON_IsString(type))
        return bad(err, "response_format", "must be {\"type\": \"text\" | \"json_object\" | \"json_schema\"}");
    if (!strcmp(type->valuestring, "text"))
        return 0;
    if (!strcmp(type->valuestring, "json_object")) {
        r->json = true;
        return 0;
    }
    if (strcmp(type->valuestring, "json_schema"))
        return bad(err, "response_format.type", "must be \"text\", \"json_object\" or \"json_schema\"");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(f, "json_schema");
    const cJSON *schema = cJSON_IsObject(js) ? cJSON_GetObjectItemCaseSensitive(js, "schema") : NULL;
    if (!cJSON_IsObject(schema))
        return bad(err, "response_format.json_schema.schema", "must be a JSON Schema object");
    r->json = true;
    r->schema = schema;
    return 0;
}

void ia__srv_gen_defaults(srv_gen_req *r, const ia_lm_gen_config *gc)
{
    const ia_sampling *d = gc && gc->present ? &gc->sampling : NULL;
    ia_sampling *s = &r->sampling;
#define DEFAULT(f, api) s->f = !isnan(s->f) ? s->f : d && !isnan(d->f) ? d->f : (api)
    DEFAULT(temperature, 1.0f); /* OpenAI's default */
    DEFAULT(top_p, 1.0f);
    DEFAULT(min_p, 0.0f);
    DEFAULT(repetition_penalty, 1.0f);
#undef DEFAULT
    if (s->top_k < 0)
        s->top_k = d && d->top_k >= 0 ? d->top_k : 0;
    if (!r->max_tokens && d)
        r->max_tokens = gc->max_new_tokens;
}

int ia__srv_parse_gen_request(bool chat, const char *body, size_t len, srv_gen_req *r, srv_error *err)
{
    memset(r, 0, sizeof *r);
    r->chat = chat;
    r->n = 1;
    /* unset: the model's generation_config.json or the API's defaults
     * fill them in (ia__srv_gen_defaults) */
    r->sampling = (ia_sampling){.temperature = NAN, .top_k = -1, .top_p = NAN, .min_p = NAN,
                                .repetition_penalty = NAN};
    size_t bad_at;
    if (!ia__utf8_valid(body, len, &bad_at)) {
        ia__srv_error_set(err, 400, "", "the body is not valid UTF-8 (byte %zu)", bad_at);
        return 400;
    }
    r->root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(r->root)) {
        ia__srv_error_set(err, 400, "", "the body is not a JSON object");
        return 400;
    }
    const cJSON *root = r->root, *f;
    if ((f = field(root, "model"))) {
        if (!cJSON_IsString(f))
            return bad(err, "model", "must be a string");
        r->model = f->valuestring;
    }
    int rc;
    if (chat) {
        r->messages = field(root, "messages");
        if (!cJSON_IsArray(r->messages) || !cJSON_GetArraySize(r->messages))
            return bad(err, "messages", "must be a non-empty array of {role, content}");
        const cJSON *m;
        int i = 0;
        cJSON_ArrayForEach(m, r->messages) {
            const cJSON *role = cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, "role") : NULL;
            if (!cJSON_IsString(role)) {
                char where[32];
                snprintf(where, sizeof where, "messages[%d]", i);
                ia__srv_error_set(err, 400, where, "%s must be an object with a string \"role\"", where);
                return 400;
            }
            i++;
        }
        if ((f = field(root, "tools")) && !cJSON_IsArray(f))
            return bad(err, "tools", "must be an array");
        r->tools = f;
    } else if ((rc = parse_prompt(root, r, err))) {
        return rc;
    }
    double v;
    if ((v = 1, rc = opt_num(root, "n", 1, SRV_MAX_CHOICES, true, &v, err)))
        return rc;
    r->n = (int)v;
    v = 0;
    if ((rc = opt_num(root, "max_tokens", 1, 1 << 24, true, &v, err)) ||
        (rc = opt_num(root, "max_completion_tokens", 1, 1 << 24, true, &v, err)))
        return rc;
    r->max_tokens = (int)v;
    ia_sampling *s = &r->sampling;
    struct {
        const char *name;
        double lo, hi;
        bool whole;
        float *dst;
    } nums[] = {
        {"temperature", 0, 2, false, &s->temperature},    {"top_p", 0, 1, false, &s->top_p},
        {"min_p", 0, 1, false, &s->min_p},                {"repetition_penalty", 0, 10, false, &s->repetition_penalty},
        {"presence_penalty", -2, 2, false, &s->presence_penalty},
        {"frequency_penalty", -2, 2, false, &s->frequency_penalty},
    };
    for (size_t i = 0; i < IA_ARRAY_LEN(nums); i++) {
        v = *nums[i].dst;
        if ((rc = opt_num(root, nums[i].name, nums[i].lo, nums[i].hi, nums[i].whole, &v, err)))
            return rc;
        *nums[i].dst = (float)v;
    }
    v = -1;
    if ((rc = opt_num(root, "top_k", -1, 1 << 20, true, &v, err)))
        return rc;
    s->top_k = !field(root, "top_k") ? -1 : v < 0 ? 0 : (int)v; /* vLLM's -1: all */
    v = 0;
    if ((rc = opt_num(root, "seed", -9007199254740991.0, 9007199254740991.0, true, &v, err)))
        return rc;
    r->seed = field(root, "seed") != NULL;
    s->seed = (uint64_t)(int64_t)v;
    if ((rc = parse_stop(root, r, err)) || (rc = parse_logit_bias(root, r, err)) ||
        (rc = parse_response_format(root, r, err)) || (rc = opt_bool(root, "stream", &r->stream, err)) ||
        (rc = opt_bool(root, "ignore_eos", &r->ignore_eos, err)))
        return rc;
    s->logit_bias = r->bias;
    s->n_logit_bias = r->n_bias;
    if ((f = field(root, "stream_options"))) {
        if (!cJSON_IsObject(f))
            return bad(err, "stream_options", "must be an object");
        if ((rc = opt_bool(f, "include_usage", &r->include_usage, err)))
            return rc;
    }
    /* logprobs: chat has a bool and top_logprobs; completions an integer */
    if (chat) {
        v = 0;
        if ((rc = opt_bool(root, "logprobs", &r->logprobs, err)) ||
            (rc = opt_num(root, "top_logprobs", 0, 20, true, &v, err)))
            return rc;
        r->top_logprobs = (int)v;
    } else if ((f = field(root, "logprobs"))) {
        v = 0;
        if ((rc = opt_num(root, "logprobs", 0, 20, true, &v, err)))
            return rc;
        r->logprobs = true;
        r->top_logprobs = (int)v;
    }
    if ((rc = opt_bool(root, "echo", &r->echo, err)))
        return rc;
    if (r->echo && (r->chat || r->stream))
        return bad(err, "echo", "is only for non-streaming /v1/completions");
    return 0;
}
