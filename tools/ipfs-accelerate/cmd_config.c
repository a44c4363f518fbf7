/*
 * `ipfs-accelerate config show`: every configuration key's effective value
 * and where it came from; and cli_config_load(), which the commands that
 * honour configuration call first: it loads the library's configuration
 * object (files, environment), applies the command line on top, makes it
 * the library's (ia_config_use) and routes log messages by logging.level
 * and logging.file.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static FILE *log_file;
static pthread_mutex_t log_file_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_to_file(ia_log_level level, const char *msg, void *user)
{
    (void)user;
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    pthread_mutex_lock(&log_file_lock);
    fprintf(log_file, "%s ipfs-accelerate: %s: %s\n", stamp, ia_log_level_name(level), msg);
    fflush(log_file);
    pthread_mutex_unlock(&log_file_lock);
}

static ia_log_level level_of(const char *name)
{
    return !strcmp(name, "debug") ? IA_LOG_DEBUG
         : !strcmp(name, "info")  ? IA_LOG_INFO
         : !strcmp(name, "error") ? IA_LOG_ERROR
                                  : IA_LOG_WARN;
}

int cli_config_load(const char *cmd, const cli_config_args *args, ia_config **out)
{
    ia_config *cfg;
    *out = NULL;
    /* --config FILE: that file instead of ./ipfs_accelerate.json and the
     * user's; it must exist */
    ia_config_load_options lo = IA_CONFIG_LOAD_OPTIONS_INIT;
    if (args && args->file) {
        lo.project_file = args->file;
        lo.user_file = "";
    }
    ia_status st = ia_config_load(&lo, &cfg);
    if (st)
        return cli_fail(st, "configuration");
    bool loaded;
    if (args && args->file && (ia_config_file(cfg, 0, &loaded), !loaded)) {
        ia_config_free(cfg);
        return cli_fail(0, "--config %s: no such file", args->file);
    }
    for (size_t i = 0; args && i < args->n_sets; i++) {
        const char *kv = args->sets[i], *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
            ia_config_free(cfg);
            return cli_usage(cmd, "--set wants KEY=VALUE, not '%s'", kv);
        }
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
        if ((st = ia_config_set_from(cfg, key, eq + 1, IA_CONFIG_COMMAND_LINE, "--set"))) {
            ia_config_free(cfg);
            return cli_fail(st, "invalid setting");
        }
    }
    if (args && args->device && (st = ia_config_set_from(cfg, "hardware.device", args->device,
                                                          IA_CONFIG_COMMAND_LINE, "--device"))) {
        ia_config_free(cfg);
        return cli_fail(st, "invalid setting");
    }
    if (args && args->no_fallback &&
        (st = ia_config_set_from(cfg, "hardware.fallback", "false", IA_CONFIG_COMMAND_LINE, "--no-fallback"))) {
        ia_config_free(cfg);
        return cli_fail(st, "invalid setting");
    }
    ia_log_level level = level_of(ia_config_get(cfg, "logging.level"));
    const char *file = ia_config_get(cfg, "logging.file");
    if (file && *file) {
        FILE *f = fopen(file, "a");
        if (!f) {
            int e = errno;
            const char *origin = ia_config_origin(cfg, "logging.file");
            ia_config_free(cfg);
            return cli_fail(0, "logging.file (from %s): %s: %s", origin, file, strerror(e));
        }
        if (log_file)
            fclose(log_file);
        log_file = f;
        ia_log_set(log_to_file, NULL, level);
    } else {
        cli_log_init(level);
    }
    ia_config_use(cfg);
    *out = cfg;
    return 0;
}

bool cli_config_option(int c, const char *arg, cli_config_args *args)
{
    switch (c) {
    case CLI_OPT_SET:
        if (args->n_sets < sizeof args->sets / sizeof *args->sets)
            args->sets[args->n_sets++] = arg;
        return true;
    case CLI_OPT_DEVICE: args->device = arg; return true;
    case CLI_OPT_NO_FALLBACK: args->no_fallback = true; return true;
    case CLI_OPT_CONFIG: args->file = arg; return true;
    }
    return false;
}

static const char show_help[] =
    "Usage: ipfs-accelerate config show [--json] [--config FILE] [--set KEY=VALUE]...\n"
    "\n"
    "Print every configuration key's effective value and where it came from.\n"
    "Precedence: command line > environment (IPFS_ACCELERATE_<SECTION>_<KEY>)\n"
    "> $IPFS_ACCELERATE_HOME/config.json (else ~/.ipfs_accelerate/config.json)\n"
    "> ./ipfs_accelerate.json > defaults. See docs/configuration.md.\n"
    "\n"
    "      --json              one JSON object\n"
    "      --config FILE       read FILE in place of ./ipfs_accelerate.json and the\n"
    "                          user file (as serve --config FILE would)\n"
    "      --set KEY=VALUE     override a key as the command line would\n"
    "      --device NAME       the same as --set hardware.device=NAME\n"
    "      --no-fallback       the same as --set hardware.fallback=false\n";

static void human_size(char *buf, size_t cap, unsigned long long b)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, cap, v == (double)(long long)v ? "%.0f %s" : "%.1f %s", v, units[u]);
}

int cmd_config_show(int argc, char **argv)
{
    bool json = false;
    cli_config_args ca = {0};
    int rc = cli_parse_json_opts("config show", show_help, argc, argv, &json, &ca);
    if (rc >= 0)
        return rc;
    if (optind < argc)
        return cli_usage("config show", "unexpected argument '%s'", argv[optind]);
    ia_config *cfg;
    rc = cli_config_load("config show", &ca, &cfg);
    if (rc)
        return rc;
    if (json) {
        char *s;
        ia_status st = ia_config_to_json(cfg, &s);
        ia_config_free(cfg);
        if (st)
            return cli_fail(st, "config show");
        puts(s);
        ia_free(s);
        return 0;
    }
    printf("files (lowest precedence first):\n");
    for (size_t i = 0; i < 2; i++) {
        bool loaded;
        const char *path = ia_config_file(cfg, i, &loaded);
        if (!*path) /* --config FILE: no user file */
            printf("  %-13s (none: --config)\n", ia_config_source_name(IA_CONFIG_USER_FILE));
        else
            printf("  %-13s %s (%s)\n", ia_config_source_name(i ? IA_CONFIG_USER_FILE : IA_CONFIG_PROJECT_FILE),
                   path, loaded ? "read" : "not found");
    }
    printf("\n%-30s %-48s %s\n", "KEY", "VALUE", "FROM");
    for (size_t i = 0; ia_config_key(i); i++) {
        const char *key = ia_config_key(i), *val = ia_config_get(cfg, key);
        char shown[512];
        if (strstr(key, "memory_limit") || strstr(key, "cache_size")) {
            char h[32];
            unsigned long long b = ia_config_get_size(cfg, key);
            human_size(h, sizeof h, b);
            if (b == 0 && strstr(key, "memory_limit"))
                snprintf(shown, sizeof shown, "0 (no limit)");
            else
                snprintf(shown, sizeof shown, "%s (%s)", val, h);
        } else if (strstr(key, "timeout")) {
            snprintf(shown, sizeof shown, "%s s", val);
        } else if (!*val) {
            snprintf(shown, sizeof shown, "\"\"%s", !strcmp(key, "logging.file") ? " (stderr)" : " (none)");
        } else {
            snprintf(shown, sizeof shown, "%s", val);
        }
        ia_config_source src = ia_config_source_of(cfg, key);
        const char *origin = ia_config_origin(cfg, key);
        if (src == IA_CONFIG_DEFAULT)
            printf("%-30s %-48s default\n", key, shown);
        else
            printf("%-30s %-48s %s (%s)\n", key, shown, ia_config_source_name(src), origin);
    }
    size_t nw = ia_config_warning_count(cfg);
    if (nw)
        printf("\n%zu warning%s while loading (also logged):\n", nw, nw == 1 ? "" : "s");
    for (size_t i = 0; i < nw; i++)
        printf("  %s\n", ia_config_warning(cfg, i));
    ia_config_free(cfg);
    return 0;
}

int cmd_config(int argc, char **argv)
{
    bool help = argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
    if (!help && argc > 1)
        fprintf(stderr, "ipfs-accelerate: config: unknown subcommand '%s'\n", argv[1]);
    fputs("Usage: ipfs-accelerate config show [--json] [--set KEY=VALUE]...\n", help ? stdout : stderr);
    return help ? 0 : 2;
}
