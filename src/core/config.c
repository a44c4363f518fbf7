/*
 * Configuration: a fixed table of keys (section.name, type, default, what
 * is allowed), values layered from defaults, ./ipfs_accelerate.json,
 * ~/.ipfs_accelerate/config.json, IPFS_ACCELERATE_* and the command line,
 * each remembering where it came from so `config show` can say.
 *
 * Every value, whatever its source, goes through one validator as text and
 * is stored in canonical text form; typed getters parse that form.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config-impl.h"

typedef enum ktype { T_BOOL, T_INT, T_SIZE, T_SECONDS, T_ENUM, T_STRING, T_URL, T_URL_LIST, T_DEVICE, T_MODELS } ktype;

typedef struct key_spec {
    const char *key;     /* "hardware.precision" */
    ktype type;
    const char *def;     /* default, as text */
    const char *allowed; /* T_ENUM: "a|b|c" (first spelling canonical) */
    long long lo, hi;    /* T_INT bounds */
    const char *help;
} key_spec;

static const key_spec keys[] = {
    {"hardware.device", T_DEVICE, "auto", NULL, 0, 0,
     "backend device: auto, cpu, cuda[:N], rocm[:N], mps, openvino, vulkan[:N], opencl[:N], qnn, webgpu, webnn"},
    {"hardware.fallback", T_BOOL, "true", NULL, 0, 0,
     "when the device is not usable, fall back to the CPU (false: fail)"},
    {"hardware.prefer_cuda", T_BOOL, "true", NULL, 0, 0,
     "auto puts CUDA first (false: after the other accelerators)"},
    {"hardware.allow_openvino", T_BOOL, "true", NULL, 0, 0, "auto may select OpenVINO"},
    {"hardware.precision", T_ENUM, "auto", IA_PRECISIONS, 0, 0,
     "compute precision; auto: the backend's native one"},
    {"hardware.memory_limit", T_SIZE, "0", NULL, 0, 0,
     "device memory a backend may use, with units (8GB, 512MiB); 0: no limit"},
    {"ipfs.gateways", T_URL_LIST, "https://trustless-gateway.link,https://ipfs.io", NULL, 0, 0,
     "trustless HTTP gateways, in order (comma-separated in the environment)"},
    {"ipfs.local_node", T_URL, "http://127.0.0.1:5001", NULL, 0, 0,
     "kubo RPC API address; empty: none"},
    {"ipfs.timeout", T_SECONDS, "30", NULL, 0, 0, "network timeout in seconds (30, 2.5, 500ms, 2m)"},
    {"performance.cache_size", T_SIZE, "1GiB", NULL, 0, 0, "in-memory content cache, with units"},
    {"performance.parallel_requests", T_INT, "4", NULL, 1, 4096,
     "requests served or fetched at once (1-4096)"},
    {"performance.enable_profiling", T_BOOL, "false", NULL, 0, 0, "log each embedding call's per-op time profile (info level)"},
    {"logging.level", T_ENUM, "warning", "warning|debug|info|error", 0, 0,
     "least severe message logged: debug, info, warning, error"},
    {"logging.file", T_STRING, "", NULL, 0, 0, "append log messages to this file; empty: stderr"},
    {"server.models", T_MODELS, "[]", NULL, 2, 1 << 20,
     "the models `serve` serves: a JSON list of {\"path\", \"name\", \"pooling\", \"max_seq_length\"}"},
};
#define N_KEYS IA_ARRAY_LEN(keys)

typedef struct value {
    char *text;          /* canonical text */
    char **items;        /* T_URL_LIST: the items */
    size_t n_items;
    ia_config_source src;
    char *origin;
} value;

#define N_WARN_MAX 64

struct ia_config {
    value v[N_KEYS];
    char *warnings[N_WARN_MAX];
    size_t n_warnings;
    char *files[2];
    bool loaded[2];
};

static const key_spec *find_spec(const char *key, size_t *idx)
{
    for (size_t i = 0; key && i < N_KEYS; i++)
        if (!strcmp(keys[i].key, key)) {
            if (idx)
                *idx = i;
            return &keys[i];
        }
    return NULL;
}

const char *ia_config_key(size_t i) { return i < N_KEYS ? keys[i].key : NULL; }

const char *ia_config_describe(const char *key)
{
    const key_spec *s = find_spec(key, NULL);
    return s ? s->help : NULL;
}

const char *ia_config_source_name(ia_config_source src)
{
    switch (src) {
    case IA_CONFIG_DEFAULT: return "default";
    case IA_CONFIG_PROJECT_FILE: return "project file";
    case IA_CONFIG_USER_FILE: return "user file";
    case IA_CONFIG_ENV: return "environment";
    case IA_CONFIG_COMMAND_LINE: return "command line";
    }
    return "unknown";
}

/* sizes and durations ----------------------------------------------------- */

static bool ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
    return *a == *b;
}

ia_status ia_parse_size(const char *text, uint64_t *out)
{
    ia__error_clear();
    IA_NEED(text);
    IA_NEED(out);
    static const struct {
        const char *unit;
        double mul;
    } units[] = {
        {"", 1},          {"b", 1},          {"kb", 1e3},          {"mb", 1e6},
        {"gb", 1e9},      {"tb", 1e12},      {"kib", 1024.0},      {"mib", 1048576.0},
        {"gib", 1073741824.0}, {"tib", 1099511627776.0},
    };
    const char *s = text;
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s) && *s != '.')
        return ia__error(IA_ERR_INVALID, "size \"%s\": expected a number with an optional unit (512MiB, 8GB)", text);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || !isfinite(v) || v < 0)
        return ia__error(IA_ERR_INVALID, "size \"%s\": not a valid number", text);
    while (isspace((unsigned char)*end))
        end++;
    char unit[8];
    size_t n = strlen(end);
    while (n && isspace((unsigned char)end[n - 1]))
        n--;
    if (n >= sizeof unit)
        return ia__error(IA_ERR_INVALID, "size \"%s\": unknown unit (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", text);
    memcpy(unit, end, n);
    unit[n] = '\0';
    for (size_t i = 0; i < IA_ARRAY_LEN(units); i++)
        if (ieq(unit, units[i].unit)) {
            double bytes = v * units[i].mul;
            if (bytes >= 18446744073709551615.0)
                return ia__error(IA_ERR_INVALID, "size \"%s\": too large", text);
            if (bytes != floor(bytes))
                return ia__error(IA_ERR_INVALID, "size \"%s\": not a whole number of bytes", text);
            *out = (uint64_t)bytes;
            return IA_OK;
        }
    if (n == 1 && strchr("kKmMgGtT", unit[0]))
        return ia__error(IA_ERR_INVALID, "size \"%s\": unit \"%s\" is ambiguous; write %cB (powers of 1000) or %ciB (powers of 1024)",
                         text, unit, toupper((unsigned char)unit[0]), toupper((unsigned char)unit[0]));
    return ia__error(IA_ERR_INVALID, "size \"%s\": unknown unit \"%s\" (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)",
                     text, unit);
}

static bool parse_seconds(const char *text, double *out)
{
    char *end;
    errno = 0;
    while (isspace((unsigned char)*text))
        text++;
    if (!isdigit((unsigned char)*text) && *text != '.')
        return false;
    double v = strtod(text, &end);
    if (errno || !isfinite(v) || v < 0)
        return false;
    while (isspace((unsigned char)*end))
        end++;
    if (!*end || ieq(end, "s"))
        ;
    else if (ieq(end, "ms"))
        v /= 1000;
    else if (ieq(end, "m") || ieq(end, "min"))
        v *= 60;
    else
        return false;
    if (v > 1e7)
        return false;
    *out = v;
    return true;
}

/* devices ------------------------------------------------------------------ */

static const struct {
    const char *name, *id;
    bool indexed;
} devices[] = {
    {"auto", "auto", false},   {"cpu", "cpu", true},         {"cuda", "cuda", true},
    {"rocm", "rocm", true},    {"hip", "rocm", true},        {"mps", "mps", true},
    {"openvino", "openvino", true}, {"vulkan", "vulkan", true}, {"opencl", "opencl", true},
    {"qnn", "qnn", true},      {"webgpu", "webgpu", true},   {"webnn", "webnn", true},
};

const char *ia__device_names(void)
{
    return "auto, cpu, cuda[:N], rocm[:N] (or hip), mps, openvino, vulkan[:N], opencl[:N], qnn, webgpu, webnn";
}

bool ia__device_parse(const char *text, const char **id, int *index)
{
    if (!text)
        return false;
    char name[32];
    const char *colon = strchr(text, ':');
    size_t n = colon ? (size_t)(colon - text) : strlen(text);
    if (n == 0 || n >= sizeof name)
        return false;
    for (size_t i = 0; i < n; i++)
        name[i] = (char)tolower((unsigned char)text[i]);
    name[n] = '\0';
    for (size_t i = 0; i < IA_ARRAY_LEN(devices); i++) {
        if (strcmp(name, devices[i].name))
            continue;
        int idx = -1;
        if (colon) {
            if (!devices[i].indexed || !isdigit((unsigned char)colon[1]) || strlen(colon + 1) > 4)
                return false;
            char *end;
            long v = strtol(colon + 1, &end, 10);
            if (*end || v < 0 || v > 1023)
                return false;
            idx = (int)v;
        }
        *id = devices[i].id;
        *index = idx;
        return true;
    }
    return false;
}

/* values ------------------------------------------------------------------- */

static void value_clear(value *v)
{
    ia__free(v->text);
    for (size_t i = 0; i < v->n_items; i++)
        ia__free(v->items[i]);
    ia__free(v->items);
    ia__free(v->origin);
    memset(v, 0, sizeof *v);
}

static bool is_url(const char *s)
{
    return (!strncmp(s, "http://", 7) && s[7]) || (!strncmp(s, "https://", 8) && s[8]);
}

/* server.models: a JSON list of objects, each with a "path" (a model folder,
 * .gguf file or reference) and optionally a "name", a "pooling" and a
 * "max_seq_length" (lo..hi). Canonical text: the list printed compactly.
 * Errors name the entry and its field. */
#define SERVER_MODELS_MAX 16
static ia_status models_canonical(const key_spec *k, const char *text, const char *origin, value *nv)
{
    static const char *const fields[] = {"path", "name", "pooling", "max_seq_length"};
    cJSON *list = cJSON_Parse(text);
    ia_status rc = IA_OK;
    int i = 0;
    const cJSON *e;
#define ENTRY_BAD(field, ...)                                                                             \
    do {                                                                                                  \
        char what_[256];                                                                                  \
        snprintf(what_, sizeof what_, __VA_ARGS__);                                                       \
        rc = ia__error(IA_ERR_INVALID, "%s: %s[%d]%s%s: %s", origin, k->key, i, (field) ? "." : "",      \
                       (field) ? (field) : "", what_);                                                    \
        goto done;                                                                                        \
    } while (0)
    if (!cJSON_IsArray(list)) {
        rc = ia__error(IA_ERR_INVALID, "%s: %s: not a JSON list of models ([{\"path\": \"DIR\", \"name\": \"NAME\"}, ...])",
                       origin, k->key);
        goto done;
    }
    if (cJSON_GetArraySize(list) > SERVER_MODELS_MAX) {
        rc = ia__error(IA_ERR_INVALID, "%s: %s: %d models; at most %d", origin, k->key, cJSON_GetArraySize(list),
                       SERVER_MODELS_MAX);
        goto done;
    }
    cJSON_ArrayForEach(e, list)
    {
        if (!cJSON_IsObject(e))
            ENTRY_BAD(NULL, "must be an object with a \"path\" (and \"name\", \"pooling\", \"max_seq_length\")");
        const cJSON *f;
        cJSON_ArrayForEach(f, e)
        {
            size_t n = 0;
            while (n < IA_ARRAY_LEN(fields) && strcmp(f->string, fields[n]))
                n++;
            if (n == IA_ARRAY_LEN(fields))
                ENTRY_BAD(f->string, "unknown field (allowed: path, name, pooling, max_seq_length)");
            if (n < 3 && (!cJSON_IsString(f) || !f->valuestring[0]))
                ENTRY_BAD(f->string, "must be a non-empty string");
            if (n == 1 && strchr(f->valuestring, '='))
                ENTRY_BAD(f->string, "\"%s\" has an '=' (names are as in serve --model NAME=PATH)", f->valuestring);
            if (n == 3 && !(cJSON_IsNumber(f) && f->valuedouble == floor(f->valuedouble) &&
                             f->valuedouble >= (double)k->lo && f->valuedouble <= (double)k->hi))
                ENTRY_BAD(f->string, "must be a whole number from %lld to %lld", k->lo, k->hi);
        }
        if (!cJSON_GetObjectItemCaseSensitive(e, "path"))
            ENTRY_BAD("path", "missing (the model folder, .gguf file or model reference to serve)");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
        int j = 0;
        const cJSON *o;
        cJSON_ArrayForEach(o, list)
        {
            if (j == i)
                break;
            const cJSON *on = cJSON_GetObjectItemCaseSensitive(o, "name");
            if (name && on && !strcmp(name->valuestring, on->valuestring))
                ENTRY_BAD("name", "\"%s\" is also entry %d's name", name->valuestring, j);
            j++;
        }
        i++;
    }
    char *p = cJSON_PrintUnformatted(list);
    if (!p || !(nv->text = ia__strdup(p)))
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    cJSON_free(p);
#undef ENTRY_BAD
done:
    cJSON_Delete(list);
    return rc;
}

/* Validate text for spec; on success fill nv (canonical form). Errors name
 * origin, key, the value and what is allowed. */

/* The spelling in allowed ("a|b|c") that text names, ignoring case, into
 * buf; false if none does. */
static bool enum_canon(const char *allowed, const char *text, char *buf, size_t cap)
{
    for (const char *a = allowed; *a;) {
        const char *bar = strchr(a, '|');
        size_t n = bar ? (size_t)(bar - a) : strlen(a);
        if (n < cap) {
            memcpy(buf, a, n);
            buf[n] = '\0';
            if (ieq(text, buf))
                return true;
        }
        a += n + (bar ? 1 : 0);
    }
    return false;
}

bool ia__precision_canon(const char *name, char *buf, size_t cap)
{
    return enum_canon(IA_PRECISIONS, name, buf, cap);
}
static ia_status canonical(const key_spec *k, const char *text, const char *origin, value *nv)
{
    char buf[128];
    const char *canon = NULL;
    memset(nv, 0, sizeof *nv);
#define BAD(...)                                                                              \
    do {                                                                                      \
        char what_[256];                                                                      \
        snprintf(what_, sizeof what_, __VA_ARGS__);                                           \
        return ia__error(IA_ERR_INVALID, "%s: %s: \"%s\" is not allowed (%s)", origin, k->key, \
                         text, what_);                                                        \
    } while (0)
    switch (k->type) {
    case T_MODELS: return models_canonical(k, text, origin, nv);
    case T_BOOL: {
        static const char *const t[] = {"true", "1", "yes", "on"}, *const f[] = {"false", "0", "no", "off"};
        for (size_t i = 0; i < 4 && !canon; i++)
            if (ieq(text, t[i]))
                canon = "true";
            else if (ieq(text, f[i]))
                canon = "false";
        if (!canon)
            BAD("allowed: true or false");
        break;
    }
    case T_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (errno || end == text || *end || v < k->lo || v > k->hi)
            BAD("allowed: a whole number from %lld to %lld", k->lo, k->hi);
        snprintf(buf, sizeof buf, "%lld", v);
        canon = buf;
        break;
    }
    case T_SIZE: {
        uint64_t v;
        if (ia_parse_size(text, &v))
            BAD("allowed: a size such as 512MiB or 8GB; units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB; %s",
                ia_errmsg());
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
        canon = buf;
        break;
    }
    case T_SECONDS: {
        double v;
        if (!parse_seconds(text, &v))
            BAD("allowed: seconds, such as 30, 2.5, 500ms or 2m");
        snprintf(buf, sizeof buf, "%g", v);
        canon = buf;
        break;
    }
    case T_ENUM: {
        if (enum_canon(k->allowed, text, buf, sizeof buf))
            canon = buf;
        if (!canon && !strcmp(k->key, "logging.level") && ieq(text, "warn"))
            canon = "warning";
        if (!canon) {
            char list[160];
            size_t n = 0;
            for (const char *c = k->allowed; *c && n + 3 < sizeof list; c++) {
                if (*c == '|') {
                    list[n++] = ',';
                    list[n++] = ' ';
                } else {
                    list[n++] = *c;
                }
            }
            list[n] = '\0';
            BAD("allowed: %s", list);
        }
        break;
    }
    case T_STRING: canon = text; break;
    case T_URL:
        if (*text && !is_url(text))
            BAD("allowed: an http:// or https:// URL, or empty for none");
        canon = text;
        break;
    case T_URL_LIST: {
        /* comma-separated, blanks around items ignored, empty items dropped */
        size_t cap = 0;
        const char *s = text;
        while (*s) {
            while (*s == ',' || isspace((unsigned char)*s))
                s++;
            const char *e = s;
            while (*e && *e != ',')
                e++;
            const char *t = e;
            while (t > s && isspace((unsigned char)t[-1]))
                t--;
            if (t > s) {
                char *item = ia__strndup(s, (size_t)(t - s));
                if (!item || !is_url(item)) {
                    ia__free(item);
                    value_clear(nv);
                    if (!item)
                        return ia__error(IA_ERR_NOMEM, "out of memory");
                    BAD("allowed: http:// or https:// URLs, comma-separated");
                }
                char **ni = ia__grow(nv->items, nv->n_items, &cap, sizeof *ni, 4);
                if (!ni) {
                    ia__free(item);
                    value_clear(nv);
                    return ia__error(IA_ERR_NOMEM, "out of memory");
                }
                nv->items = ni;
                nv->items[nv->n_items++] = item;
            }
            s = e;
        }
        size_t len = 1;
        for (size_t i = 0; i < nv->n_items; i++)
            len += strlen(nv->items[i]) + 1;
        if (!(nv->text = ia__malloc(len))) {
            value_clear(nv);
            return ia__error(IA_ERR_NOMEM, "out of memory");
        }
        size_t at = 0;
        for (size_t i = 0; i < nv->n_items; i++) {
            size_t n = strlen(nv->items[i]);
            if (i)
                nv->text[at++] = ',';
            memcpy(nv->text + at, nv->items[i], n);
            at += n;
        }
        nv->text[at] = '\0';
        return IA_OK;
    }
    case T_DEVICE: {
        const char *id;
        int idx;
        if (!ia__device_parse(text, &id, &idx) && !ia__backend_device_parse(text, &id, &idx))
            BAD("allowed: %s, or a backend plugin's name", ia__device_names());
        if (idx >= 0)
            snprintf(buf, sizeof buf, "%s:%d", id, idx);
        else
            snprintf(buf, sizeof buf, "%s", id);
        canon = buf;
        break;
    }
    }
#undef BAD
    if (!(nv->text = ia__strdup(canon)))
        return ia__error(IA_ERR_NOMEM, "out of memory");
    return IA_OK;
}

ia_status ia_config_set_from(ia_config *cfg, const char *key, const char *text, ia_config_source src,
                             const char *origin)
{
    ia__error_clear();
    IA_NEED(cfg);
    IA_NEED(key);
    if (!text)
        return ia__error(IA_ERR_INVALID, "%s: value is NULL", __func__);
    size_t i;
    const key_spec *k = find_spec(key, &i);
    if (!origin)
        origin = ia_config_source_name(src);
    if (!k)
        return ia__error(IA_ERR_NOT_FOUND, "%s: unknown configuration key \"%s\" (see `ipfs-accelerate config show`)",
                         origin, key);
    value nv;
    ia_status rc = canonical(k, text, origin, &nv);
    if (rc)
        return rc;
    nv.src = src;
    if (!(nv.origin = ia__strdup(origin))) {
        value_clear(&nv);
        return ia__error(IA_ERR_NOMEM, "out of memory");
    }
    value_clear(&cfg->v[i]);
    cfg->v[i] = nv;
    return IA_OK;
}

ia_status ia_config_set(ia_config *cfg, const char *key, const char *value_text)
{
    ia__error_clear();
    IA_NEED(cfg);
    IA_NEED(key);
    if (!value_text)
        return ia__error(IA_ERR_INVALID, "%s: value is NULL", __func__);
    return ia_config_set_from(cfg, key, value_text, IA_CONFIG_COMMAND_LINE, NULL);
}

static ia_status add_warning(ia_config *cfg, const char *fmt, ...) IA_PRINTF(2, 3);
static ia_status add_warning(ia_config *cfg, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ia__log(IA_LOG_WARN, "%s", msg);
    if (cfg->n_warnings < N_WARN_MAX) {
        if (!(cfg->warnings[cfg->n_warnings] = ia__strdup(msg)))
            return ia__error(IA_ERR_NOMEM, "out of memory");
        cfg->n_warnings++;
    }
    return IA_OK;
}

ia_status ia_config_new(ia_config **out)
{
    ia__error_clear();
    if (!out)
        return ia__error(IA_ERR_INVALID, "ia_config_new: out is NULL");
    *out = NULL;
    ia_config *cfg = ia__calloc(1, sizeof *cfg);
    if (!cfg)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < N_KEYS; i++) {
        ia_status rc = ia_config_set_from(cfg, keys[i].key, keys[i].def, IA_CONFIG_DEFAULT, "default");
        if (rc) {
            ia_config_free(cfg);
            return rc;
        }
    }
    *out = cfg;
    return IA_OK;
}

void ia_config_free(ia_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < N_KEYS; i++)
        value_clear(&cfg->v[i]);
    for (size_t i = 0; i < cfg->n_warnings; i++)
        ia__free(cfg->warnings[i]);
    ia__free(cfg->files[0]);
    ia__free(cfg->files[1]);
    ia__free(cfg);
}

/* files -------------------------------------------------------------------- */

/* A JSON value as the text the validator takes. */
static ia_status json_text(const cJSON *j, const char *path, const char *key, bool list, char **out)
{
    char buf[64];
    *out = NULL;
    if (!strcmp(key, "server.models")) { /* a JSON value of its own: its text */
        char *p = cJSON_PrintUnformatted(j);
        *out = p ? ia__strdup(p) : NULL;
        cJSON_free(p);
    } else if (cJSON_IsBool(j)) {
        *out = ia__strdup(cJSON_IsTrue(j) ? "true" : "false");
    } else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) < 9e15)
            snprintf(buf, sizeof buf, "%.0f", d);
        else
            snprintf(buf, sizeof buf, "%.17g", d);
        *out = ia__strdup(buf);
    } else if (cJSON_IsString(j)) {
        *out = ia__strdup(j->valuestring);
    } else if (cJSON_IsArray(j) && list) {
        size_t len = 1;
        const cJSON *it;
        cJSON_ArrayForEach(it, j)
        {
            if (!cJSON_IsString(it))
                return ia__error(IA_ERR_INVALID, "%s: %s: list items must be strings (URLs)", path, key);
            if (strchr(it->valuestring, ','))
                return ia__error(IA_ERR_INVALID, "%s: %s: \"%s\" is not allowed (a URL without commas)", path,
                                 key, it->valuestring);
            len += strlen(it->valuestring) + 1;
        }
        if ((*out = ia__malloc(len))) {
            size_t at = 0;
            cJSON_ArrayForEach(it, j)
            {
                size_t n = strlen(it->valuestring);
                if (at)
                    (*out)[at++] = ',';
                memcpy(*out + at, it->valuestring, n);
                at += n;
            }
            (*out)[at] = '\0';
        }
    } else {
        return ia__error(IA_ERR_INVALID, "%s: %s: a %s is not allowed (%s)", path, key,
                         cJSON_IsNull(j) ? "null" : cJSON_IsArray(j) ? "list" : cJSON_IsObject(j) ? "object" : "value",
                         list ? "a list of URLs or a comma-separated string" : "a string, number or boolean");
    }
    return *out ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory");
}

static bool known_section(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strncmp(keys[i].key, name, n) && keys[i].key[n] == '.')
            return true;
    return false;
}

static ia_status load_file(ia_config *cfg, const char *path, ia_config_source src, bool *loaded)
{
    *loaded = false;
    if (!ia__file_exists(path))
        return IA_OK;
    char *text = NULL;
    ia_status rc = ia__read_file(path, &text, NULL);
    if (rc)
        return ia__error_wrap(rc, "configuration file %s", path);
    cJSON *root = cJSON_Parse(text);
    ia__free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ia__error(IA_ERR_INVALID, "%s: not a JSON object of sections ({\"hardware\": {...}, ...})", path);
    }
    *loaded = true;
    const cJSON *sec;
    cJSON_ArrayForEach(sec, root)
    {
        if (!known_section(sec->string)) {
            if ((rc = add_warning(cfg, "%s: unknown key \"%s\" (ignored; sections: hardware, ipfs, performance, logging, server)",
                                  path, sec->string)))
                break;
            continue;
        }
        if (!cJSON_IsObject(sec)) {
            rc = ia__error(IA_ERR_INVALID, "%s: %s: must be an object of keys", path, sec->string);
            break;
        }
        const cJSON *kv;
        cJSON_ArrayForEach(kv, sec)
        {
            char key[160];
            snprintf(key, sizeof key, "%s.%s", sec->string, kv->string);
            const key_spec *k = find_spec(key, NULL);
            if (!k) {
                if ((rc = add_warning(cfg, "%s: unknown key \"%s\" (ignored)", path, key)))
                    break;
                continue;
            }
            char *vt;
            if ((rc = json_text(kv, path, key, k->type == T_URL_LIST, &vt)))
                break;
            rc = ia_config_set_from(cfg, key, vt, src, path);
            ia__free(vt);
            if (rc)
                break;
        }
        if (rc)
            break;
    }
    cJSON_Delete(root);
    return rc;
}

static char *user_file_path(void)
{
    const char *home = getenv("IPFS_ACCELERATE_HOME");
    if (home && *home)
        return ia__path_join(home, "config.json");
    home = getenv("HOME");
    char *dir = ia__path_join(home && *home ? home : ".", ".ipfs_accelerate");
    char *p = dir ? ia__path_join(dir, "config.json") : NULL;
    ia__free(dir);
    return p;
}

static ia_status load_env(ia_config *cfg)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        char name[96] = "IPFS_ACCELERATE_";
        size_t n = strlen(name);
        for (const char *c = keys[i].key; *c && n + 1 < sizeof name; c++)
            name[n++] = *c == '.' ? '_' : (char)toupper((unsigned char)*c);
        name[n] = '\0';
        const char *v = getenv(name);
        if (!v)
            continue;
        ia_status rc = ia_config_set_from(cfg, keys[i].key, v, IA_CONFIG_ENV, name);
        if (rc)
            return rc;
    }
    return IA_OK;
}

ia_status ia_config_load(const ia_config_load_options *opt, ia_config **out)
{
    ia__error_clear();
    IA_NEED(out);
    ia_config_load_options opts;
    ia__opts_copy(&opts, sizeof opts, opt);
    opt = &opts;
    ia_config *cfg;
    ia_status rc = ia_config_new(&cfg);
    if (rc)
        return rc;
    cfg->files[0] = ia__strdup(opt && opt->project_file ? opt->project_file : "./ipfs_accelerate.json");
    cfg->files[1] = opt && opt->user_file ? ia__strdup(opt->user_file) : user_file_path();
    if (!cfg->files[0] || !cfg->files[1])
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    if (!rc && !(opt && opt->no_files))
        rc = load_file(cfg, cfg->files[0], IA_CONFIG_PROJECT_FILE, &cfg->loaded[0]);
    if (!rc && !(opt && opt->no_files))
        rc = load_file(cfg, cfg->files[1], IA_CONFIG_USER_FILE, &cfg->loaded[1]);
    if (!rc && !(opt && opt->no_env))
        rc = load_env(cfg);
    if (rc) {
        ia_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return IA_OK;
}

/* reading ------------------------------------------------------------------ */

static const value *get_value(const ia_config *cfg, const char *key, ktype *type)
{
    size_t i;
    const key_spec *k = cfg ? find_spec(key, &i) : NULL;
    if (!k)
        return NULL;
    if (type)
        *type = k->type;
    return &cfg->v[i];
}

const char *ia_config_get(const ia_config *cfg, const char *key)
{
    const value *v = get_value(cfg, key, NULL);
    return v ? v->text : NULL;
}

bool ia_config_get_bool(const ia_config *cfg, const char *key)
{
    ktype t;
    const value *v = get_value(cfg, key, &t);
    return v && t == T_BOOL && !strcmp(v->text, "true");
}

int64_t ia_config_get_int(const ia_config *cfg, const char *key)
{
    ktype t;
    const value *v = get_value(cfg, key, &t);
    return v && (t == T_INT || t == T_SIZE) ? (int64_t)strtoll(v->text, NULL, 10) : 0;
}

uint64_t ia_config_get_size(const ia_config *cfg, const char *key)
{
    ktype t;
    const value *v = get_value(cfg, key, &t);
    return v && (t == T_SIZE || t == T_INT) ? (uint64_t)strtoull(v->text, NULL, 10) : 0;
}

double ia_config_get_seconds(const ia_config *cfg, const char *key)
{
    ktype t;
    const value *v = get_value(cfg, key, &t);
    return v && t == T_SECONDS ? strtod(v->text, NULL) : 0;
}

size_t ia_config_list_count(const ia_config *cfg, const char *key)
{
    ktype t;
    const value *v = get_value(cfg, key, &t);
    return v && t == T_URL_LIST ? v->n_items : 0;
}

const char *ia_config_list_item(const ia_config *cfg, const char *key, size_t i)
{
    ktype t;
    const value *v = get_value(cfg, key, &t);
    return v && t == T_URL_LIST && i < v->n_items ? v->items[i] : NULL;
}

ia_config_source ia_config_source_of(const ia_config *cfg, const char *key)
{
    const value *v = get_value(cfg, key, NULL);
    return v ? v->src : IA_CONFIG_DEFAULT;
}

const char *ia_config_origin(const ia_config *cfg, const char *key)
{
    const value *v = get_value(cfg, key, NULL);
    return v ? v->origin : NULL;
}

size_t ia_config_warning_count(const ia_config *cfg) { return cfg ? cfg->n_warnings : 0; }

const char *ia_config_warning(const ia_config *cfg, size_t i)
{
    return cfg && i < cfg->n_warnings ? cfg->warnings[i] : NULL;
}

const char *ia_config_file(const ia_config *cfg, size_t i, bool *loaded)
{
    if (!cfg || i > 1) {
        if (loaded)
            *loaded = false;
        return NULL;
    }
    if (loaded)
        *loaded = cfg->loaded[i];
    return cfg->files[i];
}

ia_status ia_config_to_json(const ia_config *cfg, char **out)
{
    ia__error_clear();
    if (!cfg || !out)
        return ia__error(IA_ERR_INVALID, "ia_config_to_json: NULL argument");
    *out = NULL;
    cJSON *o = cJSON_CreateObject(), *ks = o ? cJSON_AddObjectToObject(o, "keys") : NULL;
    for (size_t i = 0; ks && i < N_KEYS; i++) {
        const value *v = &cfg->v[i];
        cJSON *e = cJSON_CreateObject();
        if (!e)
            break;
        switch (keys[i].type) {
        case T_BOOL: cJSON_AddBoolToObject(e, "value", !strcmp(v->text, "true")); break;
        case T_INT:
        case T_SIZE:
        case T_SECONDS: cJSON_AddNumberToObject(e, "value", strtod(v->text, NULL)); break;
        case T_MODELS: cJSON_AddItemToObject(e, "value", cJSON_Parse(v->text)); break;
        case T_URL_LIST: {
            cJSON *a = cJSON_AddArrayToObject(e, "value");
            for (size_t k = 0; a && k < v->n_items; k++)
                cJSON_AddItemToArray(a, cJSON_CreateString(v->items[k]));
            break;
        }
        default: cJSON_AddStringToObject(e, "value", v->text); break;
        }
        cJSON_AddStringToObject(e, "source", ia_config_source_name(v->src));
        cJSON_AddStringToObject(e, "origin", v->origin);
        cJSON_AddStringToObject(e, "description", keys[i].help);
        cJSON_AddItemToObject(ks, keys[i].key, e);
    }
    cJSON *fs = o ? cJSON_AddArrayToObject(o, "files") : NULL;
    for (size_t i = 0; fs && i < 2; i++) {
        cJSON *f = cJSON_CreateObject();
        if (!f)
            break;
        cJSON_AddStringToObject(f, "path", cfg->files[i] ? cfg->files[i] : "");
        cJSON_AddStringToObject(f, "source", ia_config_source_name(i ? IA_CONFIG_USER_FILE : IA_CONFIG_PROJECT_FILE));
        cJSON_AddBoolToObject(f, "loaded", cfg->loaded[i]);
        cJSON_AddItemToArray(fs, f);
    }
    cJSON *ws = o ? cJSON_AddArrayToObject(o, "warnings") : NULL;
    for (size_t i = 0; ws && i < cfg->n_warnings; i++)
        cJSON_AddItemToArray(ws, cJSON_CreateString(cfg->warnings[i]));
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    *out = ia__strdup(s);
    cJSON_free(s);
    return *out ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory");
}

/* the process-wide configuration -------------------------------------------- */

static pthread_mutex_t use_lock = PTHREAD_MUTEX_INITIALIZER;
static bool use_set;
static ia_hw_settings use_hw;

ia_status ia__config_hw_settings_of(const ia_config *cfg, ia_hw_settings *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->device, sizeof out->device, "%s", ia_config_get(cfg, "hardware.device"));
    snprintf(out->device_origin, sizeof out->device_origin, "%s", ia_config_origin(cfg, "hardware.device"));
    out->fallback = ia_config_get_bool(cfg, "hardware.fallback");
    out->prefer_cuda = ia_config_get_bool(cfg, "hardware.prefer_cuda");
    out->allow_openvino = ia_config_get_bool(cfg, "hardware.allow_openvino");
    snprintf(out->precision, sizeof out->precision, "%s", ia_config_get(cfg, "hardware.precision"));
    out->memory_limit = ia_config_get_size(cfg, "hardware.memory_limit");
    out->profiling = ia_config_get_bool(cfg, "performance.enable_profiling");
    return IA_OK;
}

ia_status ia_config_use(const ia_config *cfg)
{
    ia__error_clear();
    ia_hw_settings hw;
    if (cfg)
        ia__config_hw_settings_of(cfg, &hw);
    pthread_mutex_lock(&use_lock);
    use_set = cfg != NULL;
    if (cfg)
        use_hw = hw;
    pthread_mutex_unlock(&use_lock);
    return IA_OK;
}

ia_status ia__config_hw_settings(ia_hw_settings *out)
{
    pthread_mutex_lock(&use_lock);
    bool set = use_set;
    if (set)
        *out = use_hw;
    pthread_mutex_unlock(&use_lock);
    if (set)
        return IA_OK;
    ia_config *cfg;
    ia_status rc = ia_config_load(NULL, &cfg);
    if (rc)
        return rc;
    ia__config_hw_settings_of(cfg, out);
    ia_config_free(cfg);
    return IA_OK;
}
