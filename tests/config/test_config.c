/*
 * Configuration tests: defaults, precedence (project file < user file <
 * environment < command line) with $IPFS_ACCELERATE_HOME and $HOME, sizes
 * with units, unknown keys (warnings naming file and key), bad values
 * (errors naming file, key and what is allowed), lists, JSON output, and
 * every allocation failing in turn.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config-impl.h"
#include "ipfs_accelerate/ipfs_accelerate.h"
#include "test.h"

static char dir[256];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static char *path_in(const char *name)
{
    static char buf[4][512];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static int n_warn;
static char last_warn[1024];

static void capture(ia_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level == IA_LOG_WARN) {
        n_warn++;
        snprintf(last_warn, sizeof last_warn, "%s", msg);
    }
}

static void clear_env(void)
{
    for (size_t i = 0; ia_config_key(i); i++) {
        char name[96] = "IPFS_ACCELERATE_";
        size_t n = strlen(name);
        for (const char *c = ia_config_key(i); *c; c++)
            name[n++] = *c == '.' ? '_' : (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
        name[n] = '\0';
        unsetenv(name);
    }
}

static void test_sizes(void)
{
    static const struct {
        const char *text;
        uint64_t bytes;
    } ok[] = {
        {"0", 0}, {"100", 100}, {"8GB", 8000000000ull}, {"512MiB", 536870912ull}, {"1.5GiB", 1610612736ull},
        {"8 gb", 8000000000ull}, {" 2KiB ", 2048}, {"3kB", 3000}, {"1TiB", 1099511627776ull}, {"7B", 7},
        {"0.5KiB", 512},
    };
    for (size_t i = 0; i < IA_ARRAY_LEN(ok); i++) {
        uint64_t v = 1;
        CHECK_OK(ia_parse_size(ok[i].text, &v));
        CHECK_MSG(v == ok[i].bytes, "\"%s\" -> %llu", ok[i].text, (unsigned long long)v);
    }
    static const char *const bad[] = {"", "GB", "-1", "abc", "10XB", "1.5", "8G", "8m", "1e30GB", "5 MiBs"};
    for (size_t i = 0; i < IA_ARRAY_LEN(bad); i++) {
        uint64_t v;
        CHECK_MSG(ia_parse_size(bad[i], &v) == IA_ERR_INVALID, "\"%s\" accepted", bad[i]);
    }
    uint64_t v;
    ia_parse_size("8G", &v);
    CHECK_STR_CONTAINS(ia_errmsg(), "ambiguous");
}

static void test_defaults(void)
{
    ia_config *cfg = NULL;
    CHECK_OK(ia_config_new(&cfg));
    size_t n = 0;
    for (; ia_config_key(n); n++) {
        CHECK(ia_config_get(cfg, ia_config_key(n)) != NULL);
        CHECK(ia_config_source_of(cfg, ia_config_key(n)) == IA_CONFIG_DEFAULT);
        CHECK(ia_config_describe(ia_config_key(n)) != NULL);
    }
    CHECK(n == 15);
    CHECK(!strcmp(ia_config_get(cfg, "hardware.device"), "auto"));
    CHECK(ia_config_get_bool(cfg, "hardware.fallback"));
    CHECK(ia_config_get_bool(cfg, "hardware.prefer_cuda"));
    CHECK(ia_config_get_bool(cfg, "hardware.allow_openvino"));
    CHECK(!strcmp(ia_config_get(cfg, "hardware.precision"), "auto"));
    CHECK(ia_config_get_size(cfg, "hardware.memory_limit") == 0);
    CHECK(ia_config_list_count(cfg, "ipfs.gateways") == 2);
    CHECK(ia_config_get_seconds(cfg, "ipfs.timeout") == 30);
    CHECK(ia_config_get_size(cfg, "performance.cache_size") == 1073741824ull);
    CHECK(ia_config_get_int(cfg, "performance.parallel_requests") == 4);
    CHECK(!ia_config_get_bool(cfg, "performance.enable_profiling"));
    CHECK(!strcmp(ia_config_get(cfg, "logging.level"), "warning"));
    CHECK(!strcmp(ia_config_get(cfg, "logging.file"), ""));
    CHECK(ia_config_get(cfg, "no.such") == NULL);
    CHECK(ia_config_set(cfg, "no.such", "1") == IA_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(ia_errmsg(), "\"no.such\"");
    /* typed getters on the wrong type give zero */
    CHECK(!ia_config_get_bool(cfg, "hardware.device"));
    CHECK(ia_config_get_size(cfg, "logging.level") == 0);
    ia_config_free(cfg);
    ia_config_free(NULL);
}

static void test_precedence(void)
{
    char home[400], user_dir[400], work[400], old_cwd[512];
    snprintf(home, sizeof home, "%s/home", dir);
    snprintf(user_dir, sizeof user_dir, "%s/.ipfs_accelerate", home);
    snprintf(work, sizeof work, "%s/work", dir);
    mkdir(home, 0700);
    mkdir(user_dir, 0700);
    mkdir(work, 0700);
    CHECK(getcwd(old_cwd, sizeof old_cwd) != NULL);
    CHECK(chdir(work) == 0);
    write_file("ipfs_accelerate.json",
               "{\"hardware\": {\"precision\": \"fp16\", \"prefer_cuda\": false, \"memory_limit\": \"512MiB\"},"
               " \"ipfs\": {\"timeout\": 2.5, \"gateways\": [\"https://a.example\", \"http://b.example:8080\"]}}");
    char user_file[512];
    snprintf(user_file, sizeof user_file, "%s/config.json", user_dir);
    write_file(user_file, "{\"hardware\": {\"precision\": \"BF16\"}, \"performance\": {\"cache_size\": 1000000,"
                          " \"parallel_requests\": 16}, \"logging\": {\"level\": \"WARN\"}}");
    setenv("HOME", home, 1);
    unsetenv("IPFS_ACCELERATE_HOME");

    ia_config *cfg = NULL;
    CHECK_OK(ia_config_load(NULL, &cfg));
    bool loaded;
    CHECK(!strcmp(ia_config_file(cfg, 0, &loaded), "./ipfs_accelerate.json") && loaded);
    CHECK(!strcmp(ia_config_file(cfg, 1, &loaded), user_file) && loaded);
    CHECK(!strcmp(ia_config_get(cfg, "hardware.precision"), "bf16"));
    CHECK(ia_config_source_of(cfg, "hardware.precision") == IA_CONFIG_USER_FILE);
    CHECK(!strcmp(ia_config_origin(cfg, "hardware.precision"), user_file));
    CHECK(!ia_config_get_bool(cfg, "hardware.prefer_cuda"));
    CHECK(ia_config_source_of(cfg, "hardware.prefer_cuda") == IA_CONFIG_PROJECT_FILE);
    CHECK(ia_config_get_size(cfg, "hardware.memory_limit") == 536870912ull);
    CHECK(ia_config_get_seconds(cfg, "ipfs.timeout") == 2.5);
    CHECK(ia_config_list_count(cfg, "ipfs.gateways") == 2);
    CHECK(!strcmp(ia_config_list_item(cfg, "ipfs.gateways", 1), "http://b.example:8080"));
    CHECK(ia_config_list_item(cfg, "ipfs.gateways", 2) == NULL);
    CHECK(ia_config_get_size(cfg, "performance.cache_size") == 1000000);
    CHECK(ia_config_get_int(cfg, "performance.parallel_requests") == 16);
    CHECK(!strcmp(ia_config_get(cfg, "logging.level"), "warning"));
    CHECK(ia_config_source_of(cfg, "hardware.device") == IA_CONFIG_DEFAULT);
    CHECK(ia_config_warning_count(cfg) == 0);
    ia_config_free(cfg);

    /* environment over both files */
    setenv("IPFS_ACCELERATE_HARDWARE_PRECISION", "int8", 1);
    setenv("IPFS_ACCELERATE_IPFS_GATEWAYS", " https://x.example , https://y.example,", 1);
    setenv("IPFS_ACCELERATE_PERFORMANCE_ENABLE_PROFILING", "yes", 1);
    CHECK_OK(ia_config_load(NULL, &cfg));
    CHECK(!strcmp(ia_config_get(cfg, "hardware.precision"), "int8"));
    CHECK(ia_config_source_of(cfg, "hardware.precision") == IA_CONFIG_ENV);
    CHECK(!strcmp(ia_config_origin(cfg, "hardware.precision"), "IPFS_ACCELERATE_HARDWARE_PRECISION"));
    CHECK(!strcmp(ia_config_get(cfg, "ipfs.gateways"), "https://x.example,https://y.example"));
    CHECK(ia_config_get_bool(cfg, "performance.enable_profiling"));
    /* command line over the environment */
    CHECK_OK(ia_config_set(cfg, "hardware.precision", "FP32"));
    CHECK(!strcmp(ia_config_get(cfg, "hardware.precision"), "fp32"));
    CHECK(ia_config_source_of(cfg, "hardware.precision") == IA_CONFIG_COMMAND_LINE);
    CHECK_OK(ia_config_set_from(cfg, "hardware.device", "CUDA:1", IA_CONFIG_COMMAND_LINE, "--device"));
    CHECK(!strcmp(ia_config_get(cfg, "hardware.device"), "cuda:1"));
    CHECK(!strcmp(ia_config_origin(cfg, "hardware.device"), "--device"));
    CHECK_OK(ia_config_set(cfg, "hardware.device", "hip"));
    CHECK(!strcmp(ia_config_get(cfg, "hardware.device"), "rocm"));
    /* a bad command-line value leaves the old one */
    CHECK(ia_config_set(cfg, "hardware.precision", "fp8") == IA_ERR_INVALID);
    CHECK(!strcmp(ia_config_get(cfg, "hardware.precision"), "fp32"));
    /* JSON output carries values, sources and files */
    char *s = NULL;
    CHECK_OK(ia_config_to_json(cfg, &s));
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    const cJSON *keys = cJSON_GetObjectItem(j, "keys");
    CHECK(cJSON_GetArraySize(keys) == 15);
    const cJSON *p = cJSON_GetObjectItem(keys, "hardware.precision");
    CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(p, "source")), "command line"));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(keys, "performance.enable_profiling"), "value")));
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(keys, "ipfs.gateways"), "value")) == 2);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(keys, "hardware.memory_limit"), "value")) ==
          536870912.0);
    cJSON_Delete(j);
    ia_free(s);
    /* hardware settings for selection */
    ia_hw_settings hw;
    ia__config_hw_settings_of(cfg, &hw);
    CHECK(!strcmp(hw.device, "rocm") && !strcmp(hw.precision, "fp32") && !hw.prefer_cuda && hw.fallback);
    ia_config_free(cfg);
    unsetenv("IPFS_ACCELERATE_HARDWARE_PRECISION");
    unsetenv("IPFS_ACCELERATE_IPFS_GATEWAYS");
    unsetenv("IPFS_ACCELERATE_PERFORMANCE_ENABLE_PROFILING");

    /* IPFS_ACCELERATE_HOME replaces ~/.ipfs_accelerate */
    setenv("IPFS_ACCELERATE_HOME", work, 1);
    CHECK_OK(ia_config_load(NULL, &cfg));
    CHECK(!strcmp(ia_config_get(cfg, "hardware.precision"), "fp16"));
    CHECK(strstr(ia_config_file(cfg, 1, &loaded), "/work/config.json") && !loaded);
    ia_config_free(cfg);
    unsetenv("IPFS_ACCELERATE_HOME");

    /* no_files / no_env */
    setenv("IPFS_ACCELERATE_LOGGING_LEVEL", "debug", 1);
    ia_config_load_options lo = {.no_files = true};
    CHECK_OK(ia_config_load(&lo, &cfg));
    CHECK(!strcmp(ia_config_get(cfg, "hardware.precision"), "auto"));
    CHECK(!strcmp(ia_config_get(cfg, "logging.level"), "debug"));
    ia_config_free(cfg);
    lo = (ia_config_load_options){.no_env = true};
    CHECK_OK(ia_config_load(&lo, &cfg));
    CHECK(!strcmp(ia_config_get(cfg, "logging.level"), "warning"));
    ia_config_free(cfg);
    unsetenv("IPFS_ACCELERATE_LOGGING_LEVEL");

    unlink("ipfs_accelerate.json");
    unlink(user_file);
    CHECK(chdir(old_cwd) == 0);
}

static void test_unknown_keys(void)
{
    char *f = path_in("unknown.json");
    write_file(f, "{\"hardware\": {\"precison\": \"fp16\", \"precision\": \"fp32\"}, \"general\": {\"debug\": true},"
                  " \"api\": 1}");
    ia_config_load_options lo = {.project_file = f, .user_file = path_in("absent.json"), .no_env = true};
    ia_config *cfg = NULL;
    n_warn = 0;
    CHECK_OK(ia_config_load(&lo, &cfg));
    CHECK(ia_config_warning_count(cfg) == 3);
    CHECK(n_warn == 3);
    const char *w0 = ia_config_warning(cfg, 0);
    CHECK(w0 && strstr(w0, f) && strstr(w0, "unknown key \"hardware.precison\""));
    CHECK(ia_config_warning(cfg, 1) && strstr(ia_config_warning(cfg, 1), "\"general\""));
    CHECK(ia_config_warning(cfg, 3) == NULL);
    CHECK(!strcmp(ia_config_get(cfg, "hardware.precision"), "fp32"));
    ia_config_free(cfg);
}

static void expect_bad(const char *name, const char *json, const char *k, const char *what)
{
    char *f = path_in(name);
    write_file(f, json);
    ia_config_load_options lo = {.project_file = f, .user_file = path_in("absent.json"), .no_env = true};
    ia_config *cfg = (ia_config *)1;
    ia_status st = ia_config_load(&lo, &cfg);
    CHECK_MSG(st == IA_ERR_INVALID, "%s: status %d", json, st);
    CHECK(cfg == (ia_config *)1); /* untouched on failure */
    CHECK_STR_CONTAINS(ia_errmsg(), f);
    if (k)
        CHECK_STR_CONTAINS(ia_errmsg(), k);
    CHECK_STR_CONTAINS(ia_errmsg(), what);
}

static void test_bad_values(void)
{
    expect_bad("b1.json", "{\"hardware\": {\"precision\": \"fp8\"}}", "hardware.precision",
               "\"fp8\" is not allowed (allowed: auto, fp32, fp16, bf16, int8)");
    expect_bad("b2.json", "{\"hardware\": {\"memory_limit\": \"8G\"}}", "hardware.memory_limit", "ambiguous");
    expect_bad("b3.json", "{\"hardware\": {\"fallback\": \"maybe\"}}", "hardware.fallback", "true or false");
    expect_bad("b4.json", "{\"performance\": {\"parallel_requests\": 0}}", "performance.parallel_requests",
               "from 1 to 4096");
    expect_bad("b5.json", "{\"ipfs\": {\"gateways\": [\"ftp://x\"]}}", "ipfs.gateways", "http:// or https://");
    expect_bad("b6.json", "{\"ipfs\": {\"local_node\": \"localhost:5001\"}}", "ipfs.local_node", "URL");
    expect_bad("b7.json", "{\"ipfs\": {\"timeout\": \"soon\"}}", "ipfs.timeout", "seconds");
    expect_bad("b8.json", "{\"hardware\": {\"device\": \"tpu\"}}", "hardware.device", "cuda[:N]");
    expect_bad("b9.json", "{\"hardware\": {\"precision\": null}}", "hardware.precision", "null");
    expect_bad("b10.json", "{\"hardware\": 3}", "hardware", "must be an object");
    expect_bad("b11.json", "[1, 2]", NULL, "not a JSON object");
    expect_bad("b12.json", "{\"hardware\": {", NULL, "not a JSON object");
    expect_bad("b13.json", "{\"logging\": {\"level\": \"verbose\"}}", "logging.level",
               "allowed: warning, debug, info, error");
    expect_bad("b14.json", "{\"ipfs\": {\"gateways\": [1]}}", "ipfs.gateways", "strings");
    /* server.models: the entry's index and field */
    expect_bad("b15.json", "{\"server\": {\"models\": [{\"path\": \"a\"}, {\"name\": \"b\"}]}}",
               "server.models[1].path", "missing");
    expect_bad("b16.json", "{\"server\": {\"models\": [{\"path\": \"a\", \"dtype\": 1}]}}",
               "server.models[0].dtype", "unknown field (allowed: path, name, pooling, max_seq_length)");
    expect_bad("b17.json", "{\"server\": {\"models\": [{\"path\": \"a\", \"max_seq_length\": 1}]}}",
               "server.models[0].max_seq_length", "from 2 to 1048576");
    expect_bad("b18.json", "{\"server\": {\"models\": [{\"path\": \"\"}]}}", "server.models[0].path",
               "non-empty string");
    expect_bad("b19.json", "{\"server\": {\"models\": [{\"path\": \"a\", \"name\": \"x\"}, "
               "{\"path\": \"b\", \"name\": \"x\"}]}}", "server.models[1].name", "\"x\" is also entry 0's name");
    expect_bad("b20.json", "{\"server\": {\"models\": \"a\"}}", "server.models", "not a JSON list");
    expect_bad("b21.json", "{\"server\": {\"models\": [{\"path\": \"a\", \"name\": \"n=1\"}]}}",
               "server.models[0].name", "'='");

    /* a bad environment value names the variable */
    setenv("IPFS_ACCELERATE_PERFORMANCE_CACHE_SIZE", "lots", 1);
    ia_config *cfg;
    ia_config_load_options lo = {.no_files = true};
    CHECK(ia_config_load(&lo, &cfg) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "IPFS_ACCELERATE_PERFORMANCE_CACHE_SIZE: performance.cache_size: \"lots\"");
    unsetenv("IPFS_ACCELERATE_PERFORMANCE_CACHE_SIZE");
    /* selection reports a bad configuration rather than guessing */
    setenv("IPFS_ACCELERATE_HARDWARE_DEVICE", "gpu", 1);
    ia_selection sel;
    CHECK(ia_backend_select(NULL, &sel) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "IPFS_ACCELERATE_HARDWARE_DEVICE");
    unsetenv("IPFS_ACCELERATE_HARDWARE_DEVICE");
}

/* server.models: a file's list kept as JSON text, its origin the file,
 * listed as JSON by ia_config_to_json; --set takes JSON text. */
static void test_server_models(void)
{
    char *f = path_in("models.json");
    write_file(f, "{\"server\": {\"models\": [{\"path\": \"/m/a\", \"name\": \"a\", \"max_seq_length\": 64}, "
                  "{\"path\": \"/m/b\", \"pooling\": \"cls\"}]}}");
    ia_config_load_options lo = {.project_file = f, .user_file = "", .no_env = true};
    ia_config *cfg = NULL;
    CHECK_OK(ia_config_load(&lo, &cfg));
    if (!cfg)
        return;
    CHECK(!strcmp(ia_config_get(cfg, "server.models"),
                  "[{\"path\":\"/m/a\",\"name\":\"a\",\"max_seq_length\":64},{\"path\":\"/m/b\",\"pooling\":\"cls\"}]"));
    CHECK(!strcmp(ia_config_origin(cfg, "server.models"), f));
    bool loaded = true;
    CHECK(!strcmp(ia_config_file(cfg, 1, &loaded), "") && !loaded); /* "": no user file */
    char *s = NULL;
    CHECK_OK(ia_config_to_json(cfg, &s));
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "keys"), "server.models"), "value");
    CHECK(cJSON_GetArraySize(v) == 2);
    cJSON_Delete(j);
    ia_free(s);
    CHECK_OK(ia_config_set(cfg, "server.models", "[]"));
    CHECK(!strcmp(ia_config_get(cfg, "server.models"), "[]"));
    CHECK(ia_config_set(cfg, "server.models", "[{\"path\": 1}]") == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "command line: server.models[0].path: must be a non-empty string");
    ia_config_free(cfg);
}

static void test_device_names(void)
{
    const char *id;
    int idx;
    CHECK(ia__device_parse("cuda:3", &id, &idx) && !strcmp(id, "cuda") && idx == 3);
    CHECK(ia__device_parse("Vulkan", &id, &idx) && !strcmp(id, "vulkan") && idx == -1);
    CHECK(ia__device_parse("hip:0", &id, &idx) && !strcmp(id, "rocm") && idx == 0);
    static const char *const bad[] = {"", ":1", "cuda:", "cuda:-1", "cuda:1x", "cuda:99999", "auto:0", "gpu",
                                      "cuda:1:2"};
    for (size_t i = 0; i < IA_ARRAY_LEN(bad); i++)
        CHECK_MSG(!ia__device_parse(bad[i], &id, &idx), "\"%s\" accepted", bad[i]);
}

/* Every allocation of a full load fails in turn: no crash, no leak. */
static void test_alloc_failures(void)
{
    char *f = path_in("full.json");
    write_file(f, "{\"hardware\": {\"precision\": \"fp16\", \"bogus\": 1}, \"ipfs\": {\"gateways\": "
                  "[\"https://a.example\", \"https://b.example\"]}}");
    ia_config_load_options lo = {.project_file = f, .user_file = path_in("absent.json"), .no_env = true};
    int failures = 0;
    for (long n = 1; n < 2000; n++) {
        ia_config *cfg = NULL;
        ia__alloc_fail_after(n);
        ia_status st = ia_config_load(&lo, &cfg);
        ia__alloc_fail_after(0);
        if (st == IA_OK) {
            char *s = NULL;
            ia__alloc_fail_after(1);
            CHECK(ia_config_to_json(cfg, &s) == IA_ERR_NOMEM && s == NULL);
            ia__alloc_fail_after(0);
            ia_config_free(cfg);
            break;
        }
        CHECK_MSG(st == IA_ERR_NOMEM, "allocation %ld: status %d (%s)", n, st, ia_errmsg());
        failures++;
    }
    CHECK(failures > 20);
}

int main(void)
{
    ia_log_set(capture, NULL, IA_LOG_WARN);
    snprintf(dir, sizeof dir, "%s/ia-config-test-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    clear_env();
    setenv("IPFS_ACCELERATE_HOME", dir, 1); /* never the developer's own file */
    test_sizes();
    test_defaults();
    test_precedence();
    setenv("IPFS_ACCELERATE_HOME", dir, 1);
    test_unknown_keys();
    test_bad_values();
    test_device_names();
    test_server_models();
    test_alloc_failures();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return test_summary("test_config");
}
