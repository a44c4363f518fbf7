/*
 * Hardware detection and backend selection tests.
 *
 * Real probes on this machine: the CPU probe's features against
 * /proc/cpuinfo, its counts against /proc and /sys, and the invariants of
 * the whole report (every platform answered, nothing present without
 * devices a probe saw). The absent-library, failing-library and
 * working-library paths of the dlopen probes run through an injected
 * loader whose "libraries" are the functions below: test code only.
 * The machine's GPU drivers (lavapipe, pocl) seen through the real Vulkan
 * and OpenCL loaders, or hidden from them (IA_TEST_GPU_DRIVERS=hidden,
 * tests.cmake). Then the acceleration switch, fallback and strict mode.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend-impl.h"
#include "hw/hw-impl.h"
#include "ipfs_accelerate/ipfs_accelerate.h"
#include "test.h"

/* /proc/cpuinfo --------------------------------------------------------- */

static char cpuinfo_flags[8192];
static char cpuinfo_model[256];
static int cpuinfo_processors;

static void read_cpuinfo(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        const char *val = colon + 1;
        while (*val == ' ')
            val++;
        if (!strncmp(line, "processor", 9))
            cpuinfo_processors++;
        else if (!cpuinfo_flags[0] && (!strncmp(line, "flags", 5) || !strncmp(line, "Features", 8)))
            snprintf(cpuinfo_flags, sizeof cpuinfo_flags, " %s ", val);
        else if (!cpuinfo_model[0] && !strncmp(line, "model name", 10))
            snprintf(cpuinfo_model, sizeof cpuinfo_model, "%s", val);
    }
    fclose(f);
}

static bool has_flag(const char *name)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s ", name);
    return strstr(cpuinfo_flags, pat) != NULL;
}

static void test_cpu_probe(void)
{
    read_cpuinfo();
    ia_cpu_info ci;
    ia__cpu_info(&ci);
    CHECK(ci.logical >= 1);
    CHECK(ci.usable >= 1 && ci.usable <= ci.logical);
    CHECK(ci.mem_total > 0);
    CHECK(ci.n_feat > 0);
    if (cpuinfo_processors)
        CHECK_MSG(ci.logical == cpuinfo_processors, "logical %d, /proc/cpuinfo %d", ci.logical, cpuinfo_processors);
    if (cpuinfo_model[0])
        CHECK_MSG(!strcmp(ci.model, cpuinfo_model), "model \"%s\" vs \"%s\"", ci.model, cpuinfo_model);
    if (ci.cores)
        CHECK(ci.cores <= ci.logical);
    /* Every feature the probe names must agree with the kernel's list. */
    int compared = 0;
    for (int i = 0; i < ci.n_feat && cpuinfo_flags[0]; i++) {
        const ia_cpu_feature *f = &ci.feat[i];
        const char *kname = f->name;
#if defined(__aarch64__)
        if (!strcmp(kname, "neon"))
            kname = "asimd";
        if (!strcmp(kname, "avx2") || !strcmp(kname, "avx512f"))
            continue;
#else
        if (!strcmp(kname, "neon"))
            continue;
#endif
        CHECK_MSG(f->hw == has_flag(kname), "feature %s: probe %d, /proc/cpuinfo %d", f->name, f->hw,
                  has_flag(kname));
        CHECK(!f->usable || f->hw);
        compared++;
    }
    CHECK(compared >= 5 || !cpuinfo_flags[0]);
#if defined(__x86_64__)
    CHECK(ia__cpu_feature(&ci, "avx2") && ia__cpu_feature(&ci, "avx512f") &&
          ia__cpu_feature(&ci, "avx512_vnni") && ia__cpu_feature(&ci, "avx512_bf16") &&
          ia__cpu_feature(&ci, "amx_tile"));
#endif
    printf("cpu: %s, %d cores, %d threads, %d caches, %d features compared with /proc/cpuinfo\n", ci.model,
           ci.cores, ci.logical, ci.n_cache, compared);
}

static const char *const all_ids[] = {"cpu", "cuda", "rocm", "mps", "openvino", "vulkan", "opencl", "qnn", "webgpu",
                                      "webnn"};

static void test_report(void)
{
    char *doc = NULL;
    CHECK_OK(ia_hardware_detect_json(&doc));
    cJSON *root = doc ? cJSON_Parse(doc) : NULL;
    CHECK(root != NULL);
    const cJSON *plats = cJSON_GetObjectItem(root, "platforms"), *p;
    CHECK(cJSON_GetArraySize(plats) == (int)IA_ARRAY_LEN(all_ids));
    int i = 0;
    cJSON_ArrayForEach(p, plats)
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(p, "id"));
        const char *state = cJSON_GetStringValue(cJSON_GetObjectItem(p, "state"));
        const char *reason = cJSON_GetStringValue(cJSON_GetObjectItem(p, "reason"));
        const char *probe = cJSON_GetStringValue(cJSON_GetObjectItem(p, "probe"));
        int ndev = cJSON_GetArraySize(cJSON_GetObjectItem(p, "devices"));
        CHECK(id && i < (int)IA_ARRAY_LEN(all_ids) && !strcmp(id, all_ids[i]));
        CHECK(state && reason && probe && *reason && *probe);
        /* nothing is present without a device a probe saw */
        if (state && strcmp(state, "not_present"))
            CHECK_MSG(ndev > 0, "%s is %s with no devices", id, state);
        else
            CHECK(ndev == 0);
        bool built = cJSON_IsTrue(cJSON_GetObjectItem(p, "backend_built"));
        CHECK(built == (ia__backend_find(id ? id : "") != NULL));
        if (state && !strcmp(state, "available"))
            CHECK(built);
        if (state && !strcmp(state, "detected"))
            CHECK(!built);
        printf("  %-9s %-12s %s\n", id ? id : "?", state ? state : "?", reason ? reason : "?");
        i++;
    }
    const cJSON *cpu = cJSON_GetArrayItem(plats, 0);
    CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(cpu, "state")), "available"));
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(cJSON_GetObjectItem(cpu, "cpu"), "features")));
    cJSON_Delete(root);
    ia_free(doc);
}

/* An injected loader: "libraries" are tables of our own functions ------- */

typedef struct fake_sym {
    const char *name;
    void *fn;
} fake_sym;

typedef struct fake_loader {
    const char *fail_message; /* open() fails with this, when set */
    const fake_sym *syms;     /* the one "library" every open() returns */
    int opens, closes;
} fake_loader;

static void *fake_open(void *ud, const char *name, char *err, size_t errlen)
{
    fake_loader *fl = ud;
    if (fl->fail_message) {
        snprintf(err, errlen, "%s: %s", name, fl->fail_message);
        return NULL;
    }
    fl->opens++;
    return (void *)fl->syms;
}

static void *fake_sym_fn(void *ud, void *lib, const char *name)
{
    (void)ud;
    for (const fake_sym *s = lib; s->name; s++)
        if (!strcmp(s->name, name))
            return s->fn;
    return NULL;
}

static void fake_close(void *ud, void *lib)
{
    (void)lib;
    ((fake_loader *)ud)->closes++;
}

static ia_hw_loader loader_for(fake_loader *fl)
{
    return (ia_hw_loader){fake_open, fake_sym_fn, fake_close, fl};
}

/* CUDA driver stand-ins. */
static int cu_init_fail(unsigned f) { (void)f; return 100; } /* CUDA_ERROR_NO_DEVICE */
static int cu_init_ok(unsigned f) { (void)f; return 0; }
static int cu_err_name(int rc, const char **s)
{
    *s = rc == 100 ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_UNKNOWN";
    return 0;
}
static int cu_count2(int *n) { *n = 2; return 0; }
static int cu_version(int *v) { *v = 12040; return 0; }
static int cu_get(int *d, int i) { *d = i; return 0; }
static int cu_name(char *buf, int len, int d)
{
    snprintf(buf, (size_t)len, "Test GPU %d", d);
    return 0;
}
static int cu_mem(size_t *b, int d) { *b = (size_t)(d + 1) << 30; return 0; }
static int cu_attr(int *v, int attr, int d)
{
    (void)d;
    *v = attr == 75 ? 9 : attr == 76 ? 0 : attr == 16 ? 132 : 0;
    return 0;
}

static void test_absent_libraries(void)
{
    fake_loader fl = {.fail_message = "cannot open shared object file: No such file or directory"};
    ia_hw_loader ld = loader_for(&fl);
    static const char *const dl_ids[] = {"cuda", "rocm", "openvino", "vulkan", "opencl", "qnn"};
    for (size_t i = 0; i < IA_ARRAY_LEN(dl_ids); i++) {
        ia_hw_platform p;
        CHECK(ia__hw_detect_one(&ld, dl_ids[i], &p));
        CHECK_MSG(p.state == IA_HW_NOT_PRESENT, "%s: state %d", dl_ids[i], p.state);
        CHECK(p.n_devices == 0);
        CHECK_STR_CONTAINS(p.reason, "No such file or directory");
        CHECK_STR_CONTAINS(p.probe, "dlopen");
        cJSON_Delete(p.extra);
    }
    CHECK(fl.opens == 0 && fl.closes == 0);
    ia_hw_platform p;
    CHECK(!ia__hw_detect_one(&ld, "tpu", &p));
}

static void test_failing_libraries(void)
{
    /* a library without the entry points */
    static const fake_sym empty[] = {{NULL, NULL}};
    fake_loader fl = {.syms = empty};
    ia_hw_loader ld = loader_for(&fl);
    static const char *const dl_ids[] = {"cuda", "rocm", "openvino", "vulkan", "opencl", "qnn"};
    for (size_t i = 0; i < IA_ARRAY_LEN(dl_ids); i++) {
        ia_hw_platform p;
        CHECK(ia__hw_detect_one(&ld, dl_ids[i], &p));
        CHECK_MSG(p.state == IA_HW_NOT_PRESENT && p.n_devices == 0, "%s: state %d", dl_ids[i], p.state);
        CHECK_MSG(strstr(p.reason, "lacks") || strstr(p.reason, "no QNN interface"), "%s: %s", dl_ids[i], p.reason);
        cJSON_Delete(p.extra);
    }
    CHECK(fl.opens == (int)IA_ARRAY_LEN(dl_ids) && fl.closes == fl.opens);

    /* a CUDA driver whose cuInit fails */
    static const fake_sym cuda_fail[] = {
        {"cuInit", (void *)cu_init_fail}, {"cuDeviceGetCount", (void *)cu_count2},
        {"cuDeviceGet", (void *)cu_get},  {"cuDeviceGetName", (void *)cu_name},
        {"cuDeviceGetAttribute", (void *)cu_attr}, {"cuGetErrorName", (void *)cu_err_name},
        {NULL, NULL},
    };
    fake_loader f2 = {.syms = cuda_fail};
    ld = loader_for(&f2);
    ia_hw_platform p;
    CHECK(ia__hw_detect_one(&ld, "cuda", &p));
    CHECK(p.state == IA_HW_NOT_PRESENT && p.n_devices == 0);
    CHECK_STR_CONTAINS(p.reason, "cuInit failed");
    CHECK_STR_CONTAINS(p.reason, "CUDA_ERROR_NO_DEVICE");
    CHECK(f2.closes == 1);
    cJSON_Delete(p.extra);
}

static void test_working_library(void)
{
    /* test-only stand-in for a driver with two GPUs: detected, and since
     * no CUDA backend is built, "detected, no backend built" */
    static const fake_sym cuda_ok[] = {
        {"cuInit", (void *)cu_init_ok},        {"cuDeviceGetCount", (void *)cu_count2},
        {"cuDriverGetVersion", (void *)cu_version}, {"cuDeviceGet", (void *)cu_get},
        {"cuDeviceGetName", (void *)cu_name},  {"cuDeviceTotalMem_v2", (void *)cu_mem},
        {"cuDeviceGetAttribute", (void *)cu_attr}, {"cuGetErrorName", (void *)cu_err_name},
        {NULL, NULL},
    };
    fake_loader fl = {.syms = cuda_ok};
    ia_hw_loader ld = loader_for(&fl);
    ia_hw_platform p;
    CHECK(ia__hw_detect_one(&ld, "cuda", &p));
    bool built = ia__backend_find("cuda") != NULL;
    CHECK(p.state == (built ? IA_HW_AVAILABLE : IA_HW_DETECTED));
    CHECK(p.n_devices == 2);
    CHECK(!strcmp(p.dev[1].name, "Test GPU 1"));
    CHECK(p.dev[1].memory == (2ull << 30));
    CHECK_STR_CONTAINS(p.dev[0].detail, "compute capability 9.0, 132 SMs");
    CHECK_STR_CONTAINS(p.reason, "driver 12.4");
    cJSON *j = ia__hw_platform_json(&p);
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    CHECK(s && strstr(s, "\"state_text\":\"detected, no backend built\"") != NULL);
    CHECK(s && strstr(s, "\"driver_version\":\"12.4\"") != NULL);
    cJSON_free(s);
    cJSON_Delete(j);
    cJSON_Delete(p.extra);
    CHECK(fl.opens == 1 && fl.closes == 1);
}

/* An OpenCL driver that prints on stdout while it enumerates. */
static int cl_ids_noisy(uint32_t n, void **plats, uint32_t *np)
{
    (void)n;
    (void)plats;
    printf("driver noise via stdio\n");
    ssize_t w = write(STDOUT_FILENO, "driver noise via fd 1\n", 22);
    (void)w;
    *np = 0;
    return -1001; /* CL_PLATFORM_NOT_FOUND_KHR */
}
static int cl_info_stub(void *obj, uint32_t what, size_t cap, void *val, size_t *len)
{
    (void)obj;
    (void)what;
    (void)cap;
    (void)val;
    (void)len;
    return 0;
}
static int cl_dev_ids_stub(void *plat, uint64_t type, uint32_t n, void **devs, uint32_t *nd)
{
    (void)plat;
    (void)type;
    (void)n;
    (void)devs;
    *nd = 0;
    return 0;
}

static size_t read_all(FILE *f, char *buf, size_t cap)
{
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    return n;
}

static void test_driver_stdout(void)
{
    /* what a driver prints must not land in the caller's stdout (the
     * `status --json` document), but stay visible on stderr */
    static const fake_sym noisy[] = {
        {"clGetPlatformIDs", (void *)cl_ids_noisy}, {"clGetPlatformInfo", (void *)cl_info_stub},
        {"clGetDeviceIDs", (void *)cl_dev_ids_stub}, {"clGetDeviceInfo", (void *)cl_info_stub},
        {NULL, NULL},
    };
    fake_loader fl = {.syms = noisy};
    ia_hw_loader ld = loader_for(&fl);
    FILE *out = tmpfile(), *err = tmpfile();
    CHECK(out && err);
    if (!out || !err) {
        if (out)
            fclose(out);
        if (err)
            fclose(err);
        return;
    }
    fflush(stdout);
    fflush(stderr);
    int o = dup(STDOUT_FILENO), e = dup(STDERR_FILENO);
    dup2(fileno(out), STDOUT_FILENO);
    dup2(fileno(err), STDERR_FILENO);
    printf("before\n"); /* still buffered when the probe starts */
    ia_hw_platform p;
    bool found = ia__hw_detect_one(&ld, "opencl", &p);
    printf("after\n");
    fflush(stdout);
    fflush(stderr);
    dup2(o, STDOUT_FILENO);
    dup2(e, STDERR_FILENO);
    close(o);
    close(e);
    char so[256], se[256];
    read_all(out, so, sizeof so);
    read_all(err, se, sizeof se);
    fclose(out);
    fclose(err);
    CHECK(found && p.state == IA_HW_NOT_PRESENT);
    CHECK_STR_CONTAINS(p.reason, "CL_PLATFORM_NOT_FOUND_KHR");
    CHECK_MSG(!strcmp(so, "before\nafter\n"), "stdout was \"%s\"", so);
    CHECK_STR_CONTAINS(se, "driver noise via stdio");
    CHECK_STR_CONTAINS(se, "driver noise via fd 1");
    cJSON_Delete(p.extra);
}

/* the machine's GPU drivers ------------------------------------------------ */

/* The path of the first file in dirs whose name starts with prefix. */
static bool find_file(const char *const *dirs, const char *prefix, char *path, size_t cap)
{
    for (size_t i = 0; dirs[i]; i++) {
        DIR *d = opendir(dirs[i]);
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (!strncmp(e->d_name, prefix, strlen(prefix))) {
                snprintf(path, cap, "%s/%s", dirs[i], e->d_name);
                closedir(d);
                return true;
            }
        if (d)
            closedir(d);
    }
    return false;
}

static const ia_hw_device *device_named(const ia_hw_platform *p, const char *kind, const char *name,
                                        const char *detail)
{
    for (int i = 0; i < p->n_devices; i++)
        if (!strcmp(p->dev[i].kind, kind) && strstr(p->dev[i].name, name) && strstr(p->dev[i].detail, detail))
            return &p->dev[i];
    return NULL;
}

static void test_gpu_drivers(void)
{
    static const char *const vk_dirs[] = {"/usr/share/vulkan/icd.d", "/usr/local/share/vulkan/icd.d",
                                          "/etc/vulkan/icd.d", NULL};
    static const char *const cl_dirs[] = {"/etc/OpenCL/vendors", NULL};
    const char *mode = getenv("IA_TEST_GPU_DRIVERS");
    bool hidden = mode && !strcmp(mode, "hidden");
    char lvp_manifest[512], pocl_icd[512];
    bool lavapipe = !hidden && !getenv("VK_DRIVER_FILES") && !getenv("VK_ICD_FILENAMES") &&
                    find_file(vk_dirs, "lvp_icd", lvp_manifest, sizeof lvp_manifest);
    bool pocl = !hidden && !getenv("OCL_ICD_VENDORS") && find_file(cl_dirs, "pocl", pocl_icd, sizeof pocl_icd);
    ia_hw_platform vk, cl;
    CHECK(ia__hw_detect_one(NULL, "vulkan", &vk));
    CHECK(ia__hw_detect_one(NULL, "opencl", &cl));
    printf("gpu drivers %s: vulkan: %s; opencl: %s\n", hidden ? "hidden" : "visible", vk.reason, cl.reason);
    if (hidden) {
        /* the loaders honoured the test's environment */
        CHECK(vk.state == IA_HW_NOT_PRESENT && vk.n_devices == 0);
        CHECK_MSG(strstr(vk.reason, "VK_ERROR_INCOMPATIBLE_DRIVER") || strstr(vk.reason, "no Vulkan loader"), "%s",
                  vk.reason);
        CHECK(cl.state == IA_HW_NOT_PRESENT && cl.n_devices == 0);
        CHECK_MSG(strstr(cl.reason, "CL_PLATFORM_NOT_FOUND_KHR") || strstr(cl.reason, "no OpenCL ICD loader"),
                  "%s", cl.reason);
    }
    if (lavapipe) {
        CHECK_MSG(vk.state != IA_HW_NOT_PRESENT, "%s: %s", lvp_manifest, vk.reason);
        CHECK_MSG(device_named(&vk, "cpu", "llvmpipe", "CPU"), "no lavapipe CPU device (%s)", lvp_manifest);
        /* the driver stays mapped after vkDestroyInstance (gpu_api.c) */
        FILE *f = fopen(lvp_manifest, "r");
        char json[2048] = "";
        if (f) {
            read_all(f, json, sizeof json);
            fclose(f);
        }
        cJSON *m = cJSON_Parse(json);
        const char *lib = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "ICD"), "library_path"));
        void *h = lib ? dlopen(lib, RTLD_LAZY | RTLD_NOLOAD) : NULL;
        CHECK_MSG(h, "%s is no longer loaded", lib ? lib : lvp_manifest);
        if (h)
            dlclose(h);
        cJSON_Delete(m);
    } else if (!hidden) {
        printf("  lavapipe not installed or overridden: Vulkan driver checks skipped\n");
    }
    if (pocl) {
        CHECK_MSG(cl.state != IA_HW_NOT_PRESENT, "%s: %s", pocl_icd, cl.reason);
        CHECK_MSG(device_named(&cl, "cpu", "", "Portable Computing Language"), "no pocl CPU device (%s)", pocl_icd);
    } else if (!hidden) {
        printf("  pocl not installed or overridden: OpenCL driver checks skipped\n");
    }
    cJSON_Delete(vk.extra);
    cJSON_Delete(cl.extra);
}

/* switch, selection, fallback, strict mode --------------------------------- */

static char last_warning[1024];
static int n_warnings;

static void capture(ia_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level >= IA_LOG_WARN) {
        n_warnings++;
        snprintf(last_warning, sizeof last_warning, "%s", msg);
    }
}

static void test_env_switch(void)
{
    static const char *const off[] = {"0", "false", "no", "disabled", "FALSE", " No ", "Disabled"};
    static const char *const on[] = {"1", "true", "yes", "", "enabled", "2"};
    for (size_t i = 0; i < IA_ARRAY_LEN(off); i++) {
        setenv(IA_ENV_ENABLED, off[i], 1);
        CHECK_MSG(!ia_accelerate_enabled(), "\"%s\" should switch acceleration off", off[i]);
    }
    for (size_t i = 0; i < IA_ARRAY_LEN(on); i++) {
        setenv(IA_ENV_ENABLED, on[i], 1);
        CHECK_MSG(ia_accelerate_enabled(), "\"%s\" should leave acceleration on", on[i]);
    }
    unsetenv(IA_ENV_ENABLED);
    CHECK(ia_accelerate_enabled());

    char *doc = NULL;
    CHECK_OK(ia_accelerate_status_json(&doc));
    cJSON *j = doc ? cJSON_Parse(doc) : NULL;
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "available")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "enabled")));
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "env_disabled")));
    CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "env_var")), "1"));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "import_error")));
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "backends"), "cuda")));
    CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "selected"), "backend")), "cpu"));
    cJSON_Delete(j);
    ia_free(doc);

    setenv(IA_ENV_ENABLED, "Disabled", 1);
    CHECK_OK(ia_accelerate_status_json(&doc));
    j = doc ? cJSON_Parse(doc) : NULL;
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "available")));
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "enabled")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "env_disabled")));
    CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "env_var")), "disabled"));
    const cJSON *sel = cJSON_GetObjectItem(j, "selected");
    CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(sel, "backend")), "cpu"));
    CHECK_STR_CONTAINS(cJSON_GetStringValue(cJSON_GetObjectItem(sel, "reason")), "IPFS_ACCELERATE_ENABLED");
    cJSON_Delete(j);
    ia_free(doc);

    ia_selection s;
    CHECK_OK(ia_backend_select("cuda", &s));
    CHECK(!strcmp(s.backend, "cpu") && s.fallback);
    CHECK_STR_CONTAINS(s.reason, "IPFS_ACCELERATE_ENABLED=disabled");
    unsetenv(IA_ENV_ENABLED);
}

static ia_config *use(const char *k1, const char *v1, const char *k2, const char *v2)
{
    ia_config *cfg = NULL;
    CHECK_OK(ia_config_new(&cfg));
    if (k1)
        CHECK_OK(ia_config_set(cfg, k1, v1));
    if (k2)
        CHECK_OK(ia_config_set(cfg, k2, v2));
    CHECK_OK(ia_config_use(cfg));
    return cfg;
}

static void test_selection(void)
{
    ia_selection s;
    ia_config *cfg = use(NULL, NULL, NULL, NULL);

    CHECK_OK(ia_backend_select(NULL, &s));
    CHECK(!strcmp(s.backend, "cpu") && !strcmp(s.device, "cpu:0") && !s.fallback);
    CHECK(!strcmp(s.requested, "auto"));
    CHECK_STR_CONTAINS(s.reason, "cuda > rocm > mps > openvino > vulkan > opencl > cpu");
    CHECK(s.precision[0] && s.device_name[0]);

    CHECK_OK(ia_backend_select("CPU", &s));
    CHECK(!strcmp(s.backend, "cpu") && !s.fallback);

    /* a device that is not usable falls back, logs the reason */
    n_warnings = 0;
    CHECK_OK(ia_backend_select("cuda:1", &s));
    CHECK(!strcmp(s.backend, "cpu") && s.fallback);
    CHECK(!strcmp(s.requested, "cuda:1"));
    CHECK_STR_CONTAINS(s.reason, "cuda:1 is not usable");
    CHECK(n_warnings == 1);
    CHECK_STR_CONTAINS(last_warning, "falling back to cpu");
    CHECK_OK(ia_backend_select("cpu:7", &s));
    CHECK(s.fallback);
    CHECK_STR_CONTAINS(s.reason, "no device 7");

    /* unknown names are errors, never fallbacks */
    CHECK(ia_backend_select("cdua", &s) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "\"cdua\"");
    CHECK(ia_backend_select("cuda:x", &s) == IA_ERR_INVALID);
    CHECK(ia_backend_select("auto:1", &s) == IA_ERR_INVALID);
    ia_config_free(cfg);

    /* strict mode */
    cfg = use("hardware.fallback", "false", NULL, NULL);
    CHECK(ia_backend_select("cuda", &s) == IA_ERR_BACKEND);
    CHECK_STR_CONTAINS(ia_errmsg(), "\"cuda\"");
    CHECK_STR_CONTAINS(ia_errmsg(), "fallback is off");
    CHECK_OK(ia_backend_select("cpu", &s));
    CHECK_OK(ia_backend_select("auto", &s));
    setenv(IA_ENV_ENABLED, "0", 1);
    CHECK(ia_backend_select("cuda", &s) == IA_ERR_BACKEND);
    CHECK_STR_CONTAINS(ia_errmsg(), "IPFS_ACCELERATE_ENABLED=0");
    CHECK_OK(ia_backend_select(NULL, &s));
    CHECK(!strcmp(s.backend, "cpu"));
    unsetenv(IA_ENV_ENABLED);
    ia_config_free(cfg);

    /* the configured device is used when the request is NULL */
    cfg = use("hardware.device", "opencl:0", NULL, NULL);
    CHECK_OK(ia_backend_select(NULL, &s));
    CHECK(!strcmp(s.requested, "opencl:0") && s.fallback);
    ia_config_free(cfg);
    cfg = use("hardware.device", "opencl", "hardware.fallback", "no");
    CHECK(ia_backend_select(NULL, &s) == IA_ERR_BACKEND);
    CHECK_STR_CONTAINS(ia_errmsg(), "command line");
    ia_config_free(cfg);

    /* priority adjustments */
    cfg = use("hardware.prefer_cuda", "false", "hardware.allow_openvino", "false");
    CHECK_OK(ia_backend_select("auto", &s));
    CHECK_STR_CONTAINS(s.reason, "rocm > mps > vulkan > opencl > cuda > cpu");
    CHECK_OK(ia_backend_select("openvino", &s));
    CHECK(s.fallback);
    CHECK_STR_CONTAINS(s.reason, "hardware.allow_openvino=false");
    ia_config_free(cfg);

    /* precision: fp16 is not a CPU precision; applied as a model load does */
    const ia_backend *be = NULL;
    cfg = use("hardware.precision", "fp16", NULL, NULL);
    CHECK_OK(ia_backend_select("cpu", &s));
    CHECK(!strcmp(s.precision_requested, "fp16"));
    CHECK_OK(ia__backend_select("cpu", &s, &be));
    CHECK(be && !strcmp(be->name, "cpu"));
    CHECK(s.fallback && strcmp(s.precision, "fp16"));
    CHECK_STR_CONTAINS(s.reason, "precision fp16 is not available on cpu");
    ia_config_free(cfg);
    cfg = use("hardware.precision", "fp16", "hardware.fallback", "false");
    CHECK(ia__backend_select("cpu", &s, &be) == IA_ERR_BACKEND);
    CHECK_STR_CONTAINS(ia_errmsg(), "hardware.precision=fp16");
    ia_config_free(cfg);
    /* with acceleration off, the plain path ignores other precisions */
    cfg = use("hardware.precision", "int8", NULL, NULL);
    setenv(IA_ENV_ENABLED, "0", 1);
    CHECK_OK(ia__backend_select(NULL, &s, &be));
    CHECK(!strcmp(s.precision, "fp32"));
    CHECK_STR_CONTAINS(s.reason, "hardware.precision=int8 ignored");
    unsetenv(IA_ENV_ENABLED);
    ia_config_free(cfg);
    /* the caller's precision beats the configured one */
    cfg = use("hardware.precision", "fp16", NULL, NULL);
    CHECK_OK(ia__backend_select_precision("cpu", "FP32", &s, &be));
    CHECK(!strcmp(s.precision, "fp32") && !strcmp(s.precision_requested, "fp32") && !s.fallback);
    CHECK(ia__backend_select_precision("cpu", "fp64", &s, &be) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "\"fp64\"");
    ia_config_free(cfg);
    cfg = use("hardware.precision", "fp32", NULL, NULL); /* leave the CPU backend at fp32 */
    CHECK_OK(ia__backend_select("cpu", &s, &be));
    CHECK(!strcmp(s.precision, "fp32") && !s.fallback);
    ia_config_free(cfg);

    ia_config_use(NULL);
}

int main(void)
{
    ia_log_set(capture, NULL, IA_LOG_WARN);
    /* keep the developer's own configuration out of these tests */
    setenv("IPFS_ACCELERATE_HOME", "/nonexistent/ipfs-accelerate-test-home", 1);
    unsetenv(IA_ENV_ENABLED);
    test_cpu_probe();
    test_report();
    test_absent_libraries();
    test_failing_libraries();
    test_working_library();
    test_driver_stdout();
    test_gpu_drivers();
    test_env_switch();
    test_selection();
    return test_summary("test_hw");
}
