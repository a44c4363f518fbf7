/*
 * Backend plugins (src/backend/plugin.c, registry.c): at registry start-up
 * every *.so of the IPFS_ACCELERATE_BACKEND_PATH directories is loaded;
 * the example plugin registers, and each broken one (bad_plugin.c, and a
 * junk file that is no shared object) is skipped with a warning naming the
 * file and the reason. Then selection: a backend without the legacy
 * encoder slots is never given a model (auto skips it, an explicit request
 * falls back to the CPU naming what is missing, or fails in strict mode).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/backend-impl.h"
#include "hw/hw-impl.h"
#include "ipfs_accelerate/ipfs_accelerate.h"
#include "test.h"

static char warnings[8192];
static size_t warn_len;

static void on_log(ia_log_level level, const char *msg, void *user)
{
    if (level == IA_LOG_WARN && warn_len < sizeof warnings)
        warn_len += (size_t)snprintf(warnings + warn_len, sizeof warnings - warn_len, "%s\n", msg);
}

/* The warning line naming file, or "". */
static const char *warning_for(const char *file)
{
    static char line[1024];
    line[0] = '\0';
    const char *p = strstr(warnings, file);
    if (!p)
        return line;
    while (p > warnings && p[-1] != '\n')
        p--;
    const char *e = strchr(p, '\n');
    snprintf(line, sizeof line, "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
    return line;
}

static void test_startup(void)
{
    /* registry start-up: only through the first call below */
    CHECK(ia__backend_count() == 2);
    const ia_backend *ex = ia__backend_find("example");
    CHECK(ex && ia__backend_at(1) == ex && !strcmp(ia__backend_at(0)->name, "cpu"));
    if (ex) {
        CHECK(ex->iface.device_count() == 1);
        CHECK(!strcmp(ex->iface.device_name(0), "example device (plain C)"));
        void *ctx = NULL;
        CHECK_OK(ex->iface.open(0, 2, "fp32", false, &ctx));
        void *none = NULL;
        CHECK(ex->iface.open(1, 2, "fp32", false, &none) == IA_ERR_INVALID && !none);
        CHECK_STR_CONTAINS(ia_errmsg(), "no device 1");
        ex->iface.close(ctx);
        char miss[128];
        CHECK(ia__backend_encoder_missing(ex, miss, sizeof miss) != NULL);
        CHECK_STR_CONTAINS(miss, "linear_new");
        CHECK(!ia__backend_encoder_missing(ia__backend_find("cpu"), miss, sizeof miss));
    }
    printf("start-up warnings:\n%s", warnings);
    const struct {
        const char *file, *reason;
    } skipped[] = {
        {"bad_nosym.so", "no entry point ia_backend_plugin()"},
        {"bad_null.so", "returned NULL: it cannot serve backend interface version 3"},
        {"bad_oldtable.so", "interface version 2, this library speaks 3"},
        {"bad_dup.so", "backend 'example' is already registered"},
        {"bad_missing.so", "lacks the required slot open"},
        {"junk.so", "dlopen failed"},
        {"/nonexistent-plugin-dir", "cannot be read"},
    };
    for (size_t i = 0; i < IA_ARRAY_LEN(skipped); i++)
        CHECK_MSG(strstr(warning_for(skipped[i].file), skipped[i].reason), "no warning \"%s\" for %s in:\n%s",
                  skipped[i].reason, skipped[i].file, warnings);
    CHECK(!strstr(warnings, "example_backend.so"));
}

/* The loader on one file: a status and a message naming it. */
static void test_open_one(void)
{
    const ia_backend *be;
    CHECK_OK(ia__plugin_open(IA_EXAMPLE_PLUGIN_DIR "/example_backend.so", &be));
    CHECK(be == ia__backend_find("example")); /* the same handle, the same table */
    CHECK(ia__backend_register(be) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "already registered");

    CHECK(ia__plugin_open(IA_BAD_PLUGIN_DIR "/bad_nosym.so", &be) == IA_ERR_BACKEND && !be);
    CHECK_STR_CONTAINS(ia_errmsg(), "bad_nosym.so");
    CHECK(ia__plugin_open(IA_BAD_PLUGIN_DIR "/bad_null.so", &be) == IA_ERR_UNSUPPORTED && !be);
    CHECK(ia__plugin_open(IA_BAD_PLUGIN_DIR "/bad_oldtable.so", &be) == IA_ERR_UNSUPPORTED && !be);
    CHECK(ia__plugin_open(IA_BAD_PLUGIN_DIR "/bad_missing.so", &be) == IA_ERR_BACKEND && !be);
    CHECK(ia__plugin_open("/nonexistent/x.so", &be) == IA_ERR_BACKEND && !be);
    CHECK_STR_CONTAINS(ia_errmsg(), "/nonexistent/x.so");
    CHECK(ia__plugin_load_dirs("", NULL) == 0);
    CHECK(ia__plugin_load_dirs(NULL, NULL) == 0);
}

/* selection ------------------------------------------------------------------ */

static int one(void) { return 1; }
static const char *fp32(const char *want) { return "fp32"; }

/* A backend that has devices but no encoder ops, under a name selection
 * knows. */
static ia_backend graph_only(const char *name)
{
    const ia_backend *ex = ia__backend_find("example");
    ia_backend b = ex ? *ex : (ia_backend){.api_version = IA_BACKEND_API_VERSION};
    b.name = name;
    b.iface.device_count = one;
    b.iface.resolve_precision = fp32;
    return b;
}

static void test_selection(void)
{
    static ia_backend vulkan, cuda;
    vulkan = graph_only("vulkan");
    cuda = graph_only("cuda");
    CHECK_OK(ia__backend_register(&vulkan));
    CHECK_OK(ia__backend_register(&cuda));

    ia_config *cfg = NULL;
    CHECK_OK(ia_config_new(&cfg));
    CHECK_OK(ia_config_use(cfg));
    ia_selection s;
    /* auto: cuda comes first by priority but cannot run a model */
    CHECK_OK(ia_backend_select(NULL, &s));
    CHECK(!strcmp(s.backend, "cpu") && !s.fallback);
    CHECK(ia__backend_find("auto") == ia__backend_find("cpu"));
    /* explicit: fall back, naming what is missing */
    warn_len = 0;
    warnings[0] = '\0';
    CHECK_OK(ia_backend_select("vulkan", &s));
    CHECK(!strcmp(s.backend, "cpu") && s.fallback);
    CHECK_STR_CONTAINS(s.reason, "the vulkan backend cannot run models: it lacks the encoder ops linear_new");
    CHECK_STR_CONTAINS(s.reason, "pool");
    CHECK_STR_CONTAINS(warnings, "linear_new");
    const ia_backend *be = NULL;
    CHECK_OK(ia__backend_select("cuda:0", &s, &be));
    CHECK(be == ia__backend_find("cpu") && s.fallback);
    ia_config_free(cfg);

    /* strict: an error */
    CHECK_OK(ia_config_new(&cfg));
    CHECK_OK(ia_config_set(cfg, "hardware.fallback", "false"));
    CHECK_OK(ia_config_use(cfg));
    CHECK(ia_backend_select("vulkan", &s) == IA_ERR_BACKEND);
    CHECK_STR_CONTAINS(ia_errmsg(), "lacks the encoder ops linear_new");
    CHECK_STR_CONTAINS(ia_errmsg(), "fallback is off");
    CHECK_OK(ia_backend_select("auto", &s));
    CHECK(!strcmp(s.backend, "cpu"));
    ia_config_free(cfg);
    ia_config_use(NULL);
}

int main(void)
{
    ia_log_set(on_log, NULL, IA_LOG_DEBUG);
    /* A junk "plugin": a file named .so that is no shared object. */
    mkdir(IA_PLUGIN_TMP, 0755);
    FILE *f = fopen(IA_PLUGIN_TMP "/junk.so", "w");
    CHECK(f != NULL);
    if (f) {
        fputs("not an ELF file\n", f);
        fclose(f);
    }
    setenv(IA_BACKEND_PATH_ENV,
           IA_EXAMPLE_PLUGIN_DIR ":" IA_BAD_PLUGIN_DIR "::" IA_PLUGIN_TMP ":/nonexistent-plugin-dir", 1);
    test_startup();
    test_open_one();
    test_selection();
    return test_summary("test_plugin");
}
