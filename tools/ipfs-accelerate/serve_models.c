/*
 * The models `serve` serves: the configuration's server.models list
 * (serve --config FILE, or any configuration file, IPFS_ACCELERATE_SERVER_MODELS
 * or --set server.models=JSON; validated by the configuration layer) with
 * the command line's --model [NAME=]PATH on top. A --model whose name (NAME,
 * else PATH's last component) is an entry's name (its "name", else its
 * path's last component) replaces that entry where it stands; any other
 * --model is added after the entries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"

/* The last component of path, without trailing slashes, into buf. */
static const char *base_name(const char *path, char *buf, size_t cap)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    const char *s = path + n;
    while (s > path && s[-1] != '/')
        s--;
    snprintf(buf, cap, "%.*s", (int)(n - (size_t)(s - path)), s);
    return buf;
}

static const char *name_of(const cli_serve_model *m, char *buf, size_t cap)
{
    return m->name ? m->name : base_name(m->path, buf, cap);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

void cli_serve_models_free(cli_serve_models *ms)
{
    for (int i = 0; i < ms->n; i++) {
        free(ms->m[i].name);
        free(ms->m[i].path);
        free(ms->m[i].pooling);
    }
    ms->n = 0;
}

int cli_serve_models_get(const ia_config *cfg, char *const *cli_models, int n_cli, cli_serve_models *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->origin, sizeof out->origin, "%s", ia_config_origin(cfg, "server.models"));
    cJSON *list = cJSON_Parse(ia_config_get(cfg, "server.models"));
    const cJSON *e;
    int i = 0;
    cJSON_ArrayForEach(e, list) /* validated when it was loaded: at most CLI_SERVE_MAX_MODELS */
    {
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(e, "path"),
                    *name = cJSON_GetObjectItemCaseSensitive(e, "name"),
                    *pool = cJSON_GetObjectItemCaseSensitive(e, "pooling"),
                    *seq = cJSON_GetObjectItemCaseSensitive(e, "max_seq_length");
        cli_serve_model *m = &out->m[out->n];
        m->entry = i++;
        m->path = strdup(path->valuestring);
        m->name = dup_or_null(name ? name->valuestring : NULL);
        m->pooling = dup_or_null(pool ? pool->valuestring : NULL);
        m->max_seq = seq ? (long)seq->valuedouble : 0;
        out->n++;
        if (!m->path || (name && !m->name) || (pool && !m->pooling)) {
            cJSON_Delete(list);
            cli_serve_models_free(out);
            return cli_fail(0, "out of memory");
        }
    }
    cJSON_Delete(list);
    /* derived names may collide where given ones were checked */
    for (int a = 0; a < out->n; a++)
        for (int b = 0; b < a; b++) {
            char x[256], y[256];
            if (!strcmp(name_of(&out->m[a], x, sizeof x), name_of(&out->m[b], y, sizeof y))) {
                int rc = cli_fail(0, "%s: server.models[%d]: its name '%s' is also entry %d's; give one a \"name\"",
                                  out->origin, a, x, b);
                cli_serve_models_free(out);
                return rc;
            }
        }
    for (int k = 0; k < n_cli; k++) {
        const char *arg = cli_models[k], *eq = strchr(arg, '=');
        cli_serve_model c = {.entry = -1};
        c.path = strdup(eq && eq > arg ? eq + 1 : arg);
        c.name = eq && eq > arg ? strndup(arg, (size_t)(eq - arg)) : NULL;
        if (!c.path || (eq && eq > arg && !c.name)) {
            free(c.path);
            free(c.name);
            cli_serve_models_free(out);
            return cli_fail(0, "out of memory");
        }
        char x[256], y[256];
        int at = out->n;
        for (int j = 0; j < out->n; j++) /* two --model of one name: the server refuses them */
            if (out->m[j].entry >= 0 && !strcmp(name_of(&out->m[j], x, sizeof x), name_of(&c, y, sizeof y))) {
                at = j;
                break;
            }
        if (at == CLI_SERVE_MAX_MODELS) {
            free(c.path);
            free(c.name);
            cli_serve_models_free(out);
            return cli_usage("serve", "at most %d models (server.models and --model together)", CLI_SERVE_MAX_MODELS);
        }
        if (at < out->n) { /* the command line's replaces the configuration's */
            free(out->m[at].name);
            free(out->m[at].path);
            free(out->m[at].pooling);
        } else {
            out->n++;
        }
        out->m[at] = c;
    }
    return 0;
}
