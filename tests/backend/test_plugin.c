/*
 * Backend plugins (src/backend/plugin.c, registry.c): at registry start-up
 * every *.so of the IPFS_ACCELERATE_BACKEND_PATH directories is loaded;
 * the example plugin registers, and each broken one (bad_plugin.c, and a
 * junk file that is no shared object) is skipped with a warning naming the
 * file and the reason. Then selection: a backend with a device is given
 * models (auto takes the first by priority), one without is not (an
 * explicit request falls back to the CPU saying why, or fails in strict
 * mode); and a real model runs on the example plugin, the nodes it does not
 * compute going to the CPU, with the CPU's results.
 */
#include <math.h>
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
    /* the built-ins (cpu, and vulkan where built), then the plugin */
    const int n = ia__backend_count();
    const ia_backend *ex = ia__backend_find("example");
    CHECK(n == 2 || (n == 3 && ia__backend_find("vulkan")));
    CHECK(ex && ia__backend_at(n - 1) == ex && !strcmp(ia__backend_at(0)->name, "cpu"));
    if (ex) {
        CHECK(ex->iface.device_count() == 1);
        CHECK(!strcmp(ex->iface.device_name(0), "example device (plain C)"));
        void *ctx = NULL;
        CHECK_OK(ex->iface.open(0, 2, "fp32", false, &ctx));
        void *none = NULL;
        CHECK(ex->iface.open(1, 2, "fp32", false, &none) == IA_ERR_INVALID && !none);
        CHECK_STR_CONTAINS(ia_errmsg(), "no device 1");
        ex->iface.close(ctx);
    }
    printf("start-up warnings:\n%s", warnings);
    char null_reason[96], old_reason[96];
    snprintf(null_reason, sizeof null_reason, "returned NULL: it cannot serve backend interface version %d",
             IA_BACKEND_API_VERSION);
    snprintf(old_reason, sizeof old_reason, "interface version %d, this library speaks %d", IA_BACKEND_API_VERSION - 1,
             IA_BACKEND_API_VERSION);
    const struct {
        const char *file, *reason;
    } skipped[] = {
        {"bad_nosym.so", "no entry point ia_backend_plugin()"},
        {"bad_null.so", null_reason},
        {"bad_oldtable.so", old_reason},
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
static int none(void) { return 0; }
static const char *fp32(const char *want) { return "fp32"; }

/* The example plugin's table under a name selection knows, with n devices. */
static ia_backend renamed(const char *name, int (*count)(void))
{
    const ia_backend *ex = ia__backend_find("example");
    ia_backend b = ex ? *ex : (ia_backend){.api_version = IA_BACKEND_API_VERSION};
    b.name = name;
    b.iface.device_count = count;
    b.iface.resolve_precision = fp32;
    return b;
}

static void test_selection(void)
{
    static ia_backend opencl, cuda;
    opencl = renamed("opencl", none);
    cuda = renamed("cuda", one);
    CHECK_OK(ia__backend_register(&opencl));
    CHECK_OK(ia__backend_register(&cuda));

    ia_config *cfg = NULL;
    CHECK_OK(ia_config_new(&cfg));
    CHECK_OK(ia_config_use(cfg));
    ia_selection s;
    /* auto: cuda comes first by priority */
    CHECK_OK(ia_backend_select(NULL, &s));
    CHECK(!strcmp(s.backend, "cuda") && !s.fallback);
    /* explicit, without a device: fall back, saying why */
    warn_len = 0;
    warnings[0] = '\0';
    CHECK_OK(ia_backend_select("opencl", &s));
    CHECK(!strcmp(s.backend, "cpu") && s.fallback);
    CHECK_STR_CONTAINS(s.reason, "the opencl backend has no usable device");
    CHECK_STR_CONTAINS(warnings, "opencl");
    const ia_backend *be = NULL;
    CHECK_OK(ia__backend_select("cuda:0", &s, &be));
    CHECK(be == &cuda && !s.fallback);
    ia_config_free(cfg);

    /* strict: an error */
    CHECK_OK(ia_config_new(&cfg));
    CHECK_OK(ia_config_set(cfg, "hardware.fallback", "false"));
    CHECK_OK(ia_config_use(cfg));
    CHECK(ia_backend_select("opencl", &s) == IA_ERR_BACKEND);
    CHECK_STR_CONTAINS(ia_errmsg(), "has no usable device");
    CHECK_STR_CONTAINS(ia_errmsg(), "fallback is off");
    ia_config_free(cfg);
    ia_config_use(NULL);
}

/* The synthetic BERT on the example plugin: its add nodes there, the rest
 * on the CPU, the same embeddings as on the CPU alone. */
static void test_model_on_plugin(const char *model_dir)
{
    static const char *texts[] = {"a model on a plugin", "the scheduler moves what it cannot do", "x"};
    const size_t n = IA_ARRAY_LEN(texts);
    float out[2][3 * 512];
    const char *devices[2] = {"cpu", "example"};
    size_t dim = 0;
    for (int d = 0; d < 2; d++) {
        ia_model_options mo = IA_MODEL_OPTIONS_INIT;
        mo.device = devices[d];
        mo.n_threads = 2;
        ia_model *m = NULL;
        CHECK_OK(ia_model_load(model_dir, &mo, &m));
        if (!m)
            return;
        ia_model_info info;
        ia_model_get_info(m, &info);
        CHECK_MSG(!strcmp(info.backend, devices[d]), "model on %s, asked for %s", info.backend, devices[d]);
        dim = info.hidden_size;
        CHECK(dim * n <= sizeof out[d] / sizeof(float));
        if (dim * n <= sizeof out[d] / sizeof(float))
            CHECK_OK(ia_model_embed(m, texts, NULL, n, out[d], NULL));
        ia_model_free(m);
    }
    double worst = 0;
    for (size_t i = 0; i < dim * n; i++)
        worst = fmax(worst, fabs((double)out[0][i] - out[1][i]));
    printf("model on the example plugin: max |cpu - example| %.3g\n", worst);
    CHECK(worst < 1e-5);
}

int main(int argc, char **argv)
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
    if (argc > 1)
        test_model_on_plugin(argv[1]);
    return test_summary("test_plugin");
}
