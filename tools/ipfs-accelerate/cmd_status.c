/*
 * `ipfs-accelerate status`: is acceleration on, what can run, and what the
 * engine would select now, with the configuration and command line applied.
 * --json prints the library's ia_accelerate_status_json() document, whose
 * field names match the Python get_accelerate_status().
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char status_help[] =
    "Usage: ipfs-accelerate status [--json] [--device NAME] [--no-fallback] [--set KEY=VALUE]...\n"
    "\n"
    "Say whether acceleration is enabled (IPFS_ACCELERATE_ENABLED), the state\n"
    "of every backend, and which backend, device and precision a model would\n"
    "be loaded on now, and why.\n"
    "\n"
    "      --json              the status document (available, enabled,\n"
    "                          env_disabled, env_var, backends, selected)\n"
    "      --device NAME       ask for this device: auto, cpu, cuda[:N], ...\n"
    "      --no-fallback       an unusable device is an error, not the CPU\n"
    "      --set KEY=VALUE     override a configuration key\n";

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(j) ? j->valuestring : "";
}

static bool yes(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

int cmd_status(int argc, char **argv)
{
    bool json = false;
    cli_config_args ca = {0};
    int rc = cli_parse_json_opts("status", status_help, argc, argv, &json, &ca);
    if (rc >= 0)
        return rc;
    if (optind < argc)
        return cli_usage("status", "unexpected argument '%s'", argv[optind]);
    ia_config *cfg;
    rc = cli_config_load("status", &ca, &cfg);
    if (rc)
        return rc;
    ia_config_free(cfg);
    char *doc;
    ia_status st = ia_accelerate_status_json(&doc);
    if (st)
        return cli_fail(st, "status");
    cJSON *root = cJSON_Parse(doc);
    const cJSON *sel = cJSON_GetObjectItemCaseSensitive(root, "selected");
    bool failed = sel && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(sel, "backend"));
    char why[1024] = "";
    if (failed)
        snprintf(why, sizeof why, "%s", str(sel, "error"));
    if (json) {
        puts(doc);
    } else if (root) {
        printf("acceleration: %s (%s=%s)\n", yes(root, "enabled") ? "enabled" : "switched off",
               str(root, "env_var_name"), str(root, "env_var"));
        printf("available:    %s\n", yes(root, "available") ? "yes" : "no");
        if (failed)
            printf("selected:     none: %s\n", str(sel, "error"));
        else
            printf("selected:     %s (%s, %s), %s%s\n              %s\n", str(sel, "backend"), str(sel, "device"),
                   str(sel, "device_name"), str(sel, "precision"), yes(sel, "fallback") ? ", after fallback" : "",
                   str(sel, "reason"));
        printf("backends:\n");
        const cJSON *b;
        cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(root, "backends"))
        {
            printf("  %-10s %-28s %s\n", b->string, str(b, "state_text"),
                   yes(b, "usable") ? "usable" : str(b, "reason"));
        }
    }
    cJSON_Delete(root);
    ia_free(doc);
    if (failed) /* strict mode and nothing usable: say so in the exit status */
        return cli_fail(0, "no usable backend: %s", why);
    return 0;
}
