/*
 * Hardware detection: the table of platform probes, the dlopen loader they
 * use, the `hw --json` document and the acceleration status that the CLI's
 * `status` and the Python binding report.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend-impl.h"
#include "hw/hw-impl.h"

/* loader ----------------------------------------------------------------- */

static void *dl_open(void *ud, const char *name, char *err, size_t errlen)
{
    (void)ud;
    /* NODELETE: some drivers (libcuda) start threads and exit handlers
     * on init and must not be unmapped afterwards. */
    void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) {
        const char *e = dlerror();
        snprintf(err, errlen, "%s", e ? e : "dlopen failed");
    }
    return h;
}

static void *dl_sym(void *ud, void *lib, const char *name)
{
    (void)ud;
    return dlsym(lib, name);
}

static void dl_close(void *ud, void *lib)
{
    (void)ud;
    dlclose(lib);
}

static const ia_hw_loader dl_loader = {dl_open, dl_sym, dl_close, NULL};

const ia_hw_loader *ia__hw_dl_loader(void) { return &dl_loader; }

void *ia__hw_open_any(const ia_hw_loader *ld, const char *const *names, const char **which,
                      char *err, size_t errlen)
{
    /* The reason is the first name's error; the others are listed. */
    size_t len = 0;
    err[0] = '\0';
    for (size_t i = 0; names[i]; i++) {
        char one[512];
        void *h = ld->open(ld->ud, names[i], one, sizeof one);
        if (h) {
            *which = names[i];
            return h;
        }
        if (len < errlen)
            len += (size_t)snprintf(err + len, errlen - len, "%s%s", i == 0 ? one : i == 1 ? " (also tried " : ", ",
                                    i == 0 ? "" : names[i]);
    }
    if (names[0] && names[1] && len < errlen)
        snprintf(err + len, errlen - len, ")");
    *which = NULL;
    return NULL;
}

/* helpers ---------------------------------------------------------------- */

void ia__hw_setf(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

ia_hw_device *ia__hw_add_device(ia_hw_platform *p)
{
    if (p->n_devices >= IA_HW_MAX_DEVICES)
        return NULL;
    ia_hw_device *d = &p->dev[p->n_devices++];
    memset(d, 0, sizeof *d);
    return d;
}

cJSON *ia__hw_extra(ia_hw_platform *p)
{
    if (!p->extra)
        p->extra = cJSON_CreateObject();
    return p->extra;
}

const char *ia_hw_state_name(ia_hw_state s)
{
    switch (s) {
    case IA_HW_AVAILABLE: return "available (backend built)";
    case IA_HW_DETECTED: return "detected, no backend built";
    case IA_HW_NOT_PRESENT: return "not present";
    }
    return "unknown";
}

static const char *state_id(ia_hw_state s)
{
    return s == IA_HW_AVAILABLE ? "available" : s == IA_HW_DETECTED ? "detected" : "not_present";
}

/* the probes, in display order -------------------------------------------- */

static const struct {
    const char *id, *name;
    ia_hw_probe_fn probe;
} platforms[IA_HW_N_PLATFORMS] = {
    {"cpu", "CPU", ia__hw_probe_cpu},
    {"cuda", "NVIDIA CUDA", ia__hw_probe_cuda},
    {"rocm", "AMD ROCm/HIP", ia__hw_probe_rocm},
    {"mps", "Apple MPS", ia__hw_probe_mps},
    {"openvino", "Intel OpenVINO", ia__hw_probe_openvino},
    {"vulkan", "Vulkan", ia__hw_probe_vulkan},
    {"opencl", "OpenCL", ia__hw_probe_opencl},
    {"qnn", "Qualcomm QNN", ia__hw_probe_qnn},
    {"webgpu", "WebGPU", ia__hw_probe_webgpu},
    {"webnn", "WebNN", ia__hw_probe_webnn},
};

/* Drivers may print to stdout while a probe runs, into the middle of what
 * the caller prints (`status --json`). During a probe fd 1 is pointed at
 * stderr, so their words stay visible but apart. fd 1 is the process's:
 * probes run one at a time, and another thread's stdout output during a
 * probe goes to stderr too. */
static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;

static int stdout_aside(void)
{
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    if (saved >= 0 && dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
        close(saved);
        saved = -1;
    }
    return saved;
}

static void stdout_back(int saved)
{
    if (saved < 0)
        return;
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
}

static void run_probe(const ia_hw_loader *ld, int i, ia_hw_platform *p)
{
    memset(p, 0, sizeof *p);
    p->id = platforms[i].id;
    p->name = platforms[i].name;
    pthread_mutex_lock(&probe_lock);
    int saved = stdout_aside();
    platforms[i].probe(ld ? ld : &dl_loader, p);
    stdout_back(saved);
    pthread_mutex_unlock(&probe_lock);
    /* available: the backend is built and sees a device too (a plugin
     * whose runtime cannot use the driver, or has no code for the GPU,
     * sees none) */
    const ia_backend *be = ia__backend_find(p->id);
    p->backend_built = be != NULL;
    if (p->state == IA_HW_DETECTED && be && be->iface.device_count() >= 1)
        p->state = IA_HW_AVAILABLE;
}

/* The state in words; a platform with its backend built but no device
 * for it says so. */
static const char *state_text(const ia_hw_platform *p)
{
    if (p->backend_built && p->state == IA_HW_NOT_PRESENT)
        return "not present, backend built";
    if (p->backend_built && p->state == IA_HW_DETECTED)
        return "detected, backend sees none";
    return ia_hw_state_name(p->state);
}

bool ia__hw_detect_one(const ia_hw_loader *ld, const char *id, ia_hw_platform *p)
{
    for (int i = 0; i < IA_HW_N_PLATFORMS; i++)
        if (!strcmp(platforms[i].id, id)) {
            run_probe(ld, i, p);
            return true;
        }
    return false;
}

void ia__hw_detect(const ia_hw_loader *ld, ia_hw_report *r)
{
    r->n = IA_HW_N_PLATFORMS;
    for (int i = 0; i < IA_HW_N_PLATFORMS; i++)
        run_probe(ld, i, &r->p[i]);
}

void ia__hw_report_clear(ia_hw_report *r)
{
    for (int i = 0; i < r->n; i++) {
        cJSON_Delete(r->p[i].extra);
        r->p[i].extra = NULL;
    }
    r->n = 0;
}

cJSON *ia__hw_platform_json(const ia_hw_platform *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "id", p->id);
    cJSON_AddStringToObject(o, "name", p->name);
    cJSON_AddStringToObject(o, "state", state_id(p->state));
    cJSON_AddStringToObject(o, "state_text", state_text(p));
    cJSON_AddBoolToObject(o, "backend_built", p->backend_built);
    cJSON_AddStringToObject(o, "probe", p->probe);
    cJSON_AddStringToObject(o, "reason", p->reason);
    cJSON *devs = cJSON_AddArrayToObject(o, "devices");
    for (int i = 0; devs && i < p->n_devices; i++) {
        cJSON *d = cJSON_CreateObject();
        if (!d)
            break;
        cJSON_AddNumberToObject(d, "index", i);
        cJSON_AddStringToObject(d, "name", p->dev[i].name);
        cJSON_AddStringToObject(d, "kind", p->dev[i].kind);
        if (p->dev[i].memory)
            cJSON_AddNumberToObject(d, "memory", (double)p->dev[i].memory);
        else
            cJSON_AddNullToObject(d, "memory");
        cJSON_AddStringToObject(d, "detail", p->dev[i].detail);
        cJSON_AddItemToArray(devs, d);
    }
    if (p->extra)
        for (cJSON *it = p->extra->child; it; it = it->next) {
            cJSON *copy = cJSON_Duplicate(it, true);
            if (copy)
                cJSON_AddItemToObject(o, it->string, copy);
        }
    return o;
}

cJSON *ia__hw_report_json(const ia_hw_report *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "version", ia_version());
    cJSON_AddBoolToObject(o, "acceleration_enabled", ia_accelerate_enabled());
    cJSON *arr = cJSON_AddArrayToObject(o, "platforms");
    bool ok = arr != NULL;
    for (int i = 0; ok && i < r->n; i++) {
        cJSON *p = ia__hw_platform_json(&r->p[i]);
        ok = p != NULL;
        if (p)
            cJSON_AddItemToArray(arr, p);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static ia_status to_text(cJSON *o, char **out)
{
    *out = NULL;
    if (!o)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    /* cJSON allocates with malloc; hand back memory ia_free() releases. */
    *out = ia__strdup(s);
    cJSON_free(s);
    return *out ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory");
}

/* "selected": what the configured device resolves to now, or why nothing. */
static void add_selected(cJSON *o)
{
    ia_selection sel;
    ia_status st = ia_backend_select(NULL, &sel);
    cJSON *s = o ? cJSON_AddObjectToObject(o, "selected") : NULL;
    if (!s)
        return;
    if (st) {
        cJSON_AddNullToObject(s, "backend");
        cJSON_AddStringToObject(s, "error", ia_errmsg());
        return;
    }
    cJSON_AddStringToObject(s, "backend", sel.backend);
    cJSON_AddStringToObject(s, "device", sel.device);
    cJSON_AddStringToObject(s, "device_name", sel.device_name);
    cJSON_AddStringToObject(s, "precision", sel.precision);
    cJSON_AddStringToObject(s, "requested", sel.requested);
    cJSON_AddBoolToObject(s, "fallback", sel.fallback);
    cJSON_AddStringToObject(s, "reason", sel.reason);
}

ia_status ia_hardware_detect_json(char **out)
{
    ia__error_clear();
    if (!out)
        return ia__error(IA_ERR_INVALID, "ia_hardware_detect_json: out is NULL");
    ia_hw_report r;
    ia__hw_detect(NULL, &r);
    cJSON *o = ia__hw_report_json(&r);
    ia__hw_report_clear(&r);
    add_selected(o);
    return to_text(o, out);
}

/* the acceleration switch and status ------------------------------------- */

bool ia__accelerate_enabled_env(char *value, size_t cap)
{
    const char *v = getenv(IA_ENV_ENABLED);
    char low[64];
    size_t n = 0;
    if (!v)
        v = "1";
    while (isspace((unsigned char)*v))
        v++;
    for (; v[n] && n + 1 < sizeof low; n++)
        low[n] = (char)tolower((unsigned char)v[n]);
    while (n && isspace((unsigned char)low[n - 1]))
        n--;
    low[n] = '\0';
    if (value)
        snprintf(value, cap, "%s", low);
    return strcmp(low, "0") && strcmp(low, "false") && strcmp(low, "no") && strcmp(low, "disabled");
}

bool ia_accelerate_enabled(void) { return ia__accelerate_enabled_env(NULL, 0); }

ia_status ia_accelerate_status_json(char **out)
{
    ia__error_clear();
    if (!out)
        return ia__error(IA_ERR_INVALID, "ia_accelerate_status_json: out is NULL");
    char env[64];
    bool enabled = ia__accelerate_enabled_env(env, sizeof env);
    ia_hw_report r;
    ia__hw_detect(NULL, &r);
    bool any_usable = false;
    cJSON *o = cJSON_CreateObject();
    cJSON *bes = o ? cJSON_CreateObject() : NULL;
    for (int i = 0; bes && i < r.n; i++) {
        const ia_hw_platform *p = &r.p[i];
        cJSON *b = cJSON_CreateObject();
        if (!b)
            break;
        bool usable = p->state == IA_HW_AVAILABLE && (enabled || !strcmp(p->id, "cpu"));
        any_usable |= usable;
        cJSON_AddStringToObject(b, "state", state_id(p->state));
        cJSON_AddStringToObject(b, "state_text", state_text(p));
        cJSON_AddBoolToObject(b, "backend_built", p->backend_built);
        cJSON_AddBoolToObject(b, "usable", usable);
        cJSON_AddNumberToObject(b, "devices", p->n_devices);
        cJSON_AddStringToObject(b, "reason", p->reason);
        cJSON_AddItemToObject(bes, p->id, b);
    }
    ia__hw_report_clear(&r);
    if (o) {
        cJSON_AddBoolToObject(o, "available", false); /* set below, once "selected" is known */
        cJSON_AddBoolToObject(o, "enabled", enabled);
        cJSON_AddNullToObject(o, "import_error");
        cJSON_AddBoolToObject(o, "env_disabled", !enabled);
        cJSON_AddStringToObject(o, "env_var", env);
        cJSON_AddStringToObject(o, "env_var_name", IA_ENV_ENABLED);
        /* what the switch turns off (docs/configuration.md) */
        cJSON *off = cJSON_AddArrayToObject(o, "switched_off");
        static const char *const parts[] = {"accelerator backends", "reduced precision",
                                            "vector kernels", "distributed compute"};
        for (size_t i = 0; off && !enabled && i < IA_ARRAY_LEN(parts); i++)
            cJSON_AddItemToArray(off, cJSON_CreateString(parts[i]));
        cJSON_AddStringToObject(o, "version", ia_version());
        if (bes)
            cJSON_AddItemToObject(o, "backends", bes);
        add_selected(o);
        const cJSON *sel = cJSON_GetObjectItemCaseSensitive(o, "selected");
        bool ok = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(sel, "backend"));
        cJSON_ReplaceItemInObjectCaseSensitive(o, "available", cJSON_CreateBool(enabled && any_usable && ok));
    } else {
        cJSON_Delete(bes);
    }
    return to_text(o, out);
}
