/*
 * Backend registry and selection: the built-in backends are registered
 * once, on first use, followed by the plugins of IPFS_ACCELERATE_BACKEND_PATH
 * or, without it, those installed beside the library (plugin.c); others
 * register the same way. Lookup is by name; "auto" takes
 * the first usable backend in priority order, except those that compute
 * not yet tuned for speed (explicit_only: vulkan, whose plain shaders can
 * be slower than the CPU), which are used only when named.
 * Selection (ia_backend_select) turns a device request and the hardware.*
 * configuration into one backend, falling back to the CPU with a reason,
 * or failing in strict mode.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/backend-impl.h"
#include "core/config-impl.h"
#include "hw/hw-impl.h"
#include "ipfs_accelerate/hardware.h"

#define MAX_BACKENDS 16

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;
static const ia_backend *backends[MAX_BACKENDS];
static int n_backends;

static ia_status register_locked(const ia_backend *be)
{
    if (be->api_version != IA_BACKEND_API_VERSION)
        return ia__error(IA_ERR_UNSUPPORTED, "backend '%s' has interface version %d, this library speaks %d",
                         be->name, be->api_version, IA_BACKEND_API_VERSION);
    for (int i = 0; i < n_backends; i++)
        if (!strcmp(backends[i]->name, be->name))
            return ia__error(IA_ERR_INVALID, "backend '%s' is already registered", be->name);
    if (n_backends == MAX_BACKENDS)
        return ia__error(IA_ERR_NOMEM, "too many backends");
    backends[n_backends++] = be;
    return IA_OK;
}

static ia_status register_plugin(const ia_backend *be)
{
    pthread_mutex_lock(&reg_lock);
    ia_status rc = register_locked(be);
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

static void register_builtins(void)
{
    pthread_mutex_lock(&reg_lock);
    register_locked(ia__backend_cpu());
#ifdef IA_HAVE_VULKAN
    register_locked(ia__backend_vulkan());
#endif
    pthread_mutex_unlock(&reg_lock);
    /* Plugins come after the built-ins, so a plugin cannot take a
     * built-in's name. The registry is not yet usable from other threads
     * (they wait in pthread_once), and the entry points do not call it. */
    const char *dirs = getenv(IA_BACKEND_PATH_ENV);
    char defaults[2 * 4096 + 2];
    ia__plugin_load_dirs(dirs ? dirs : ia__plugin_default_dirs(defaults, sizeof defaults), register_plugin);
    ia__error_clear();
}

ia_status ia__backend_register(const ia_backend *be)
{
    pthread_once(&builtins_once, register_builtins);
    pthread_mutex_lock(&reg_lock);
    ia_status rc = register_locked(be);
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

static const ia_backend *find_exact(const char *name)
{
    pthread_once(&builtins_once, register_builtins);
    const ia_backend *found = NULL;
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < n_backends && !found; i++)
        if (!strcmp(backends[i]->name, name))
            found = backends[i];
    pthread_mutex_unlock(&reg_lock);
    return found;
}

static bool usable(const ia_backend *be)
{
    return be && be->iface.device_count && be->iface.device_count() >= 1;
}

bool ia__backend_device_parse(const char *text, const char **id, int *index)
{
    const char *colon = strchr(text, ':');
    const size_t n = colon ? (size_t)(colon - text) : strlen(text);
    char name[64];
    if (!n || n >= sizeof name)
        return false;
    memcpy(name, text, n);
    name[n] = '\0';
    const ia_backend *be = find_exact(name);
    if (!be)
        return false;
    char *end = NULL;
    const long v = colon ? strtol(colon + 1, &end, 10) : -1;
    if (colon && (end == colon + 1 || *end || v < 0 || v > 1023))
        return false;
    *id = be->name;
    *index = (int)v;
    return true;
}

/* Default priority; the configuration moves cuda and drops openvino. */
static const char *const priority[] = {"cuda", "rocm", "mps", "openvino", "vulkan", "opencl", "cpu"};

/* Backends not yet tuned for speed (vulkan: plain shaders, no
 * cooperative matrices): used when asked for by name, never by auto. */
static bool explicit_only(const char *id)
{
    return !strcmp(id, "vulkan");
}

static const ia_backend *first_usable(const ia_hw_settings *hw, char *order, size_t cap)
{
    const char *list[IA_ARRAY_LEN(priority)];
    size_t n = 0, len = 0;
    for (size_t i = 0; i < IA_ARRAY_LEN(priority); i++) {
        const char *id = priority[i];
        if (hw && !hw->prefer_cuda && !strcmp(id, "cuda"))
            continue;
        if (hw && !hw->allow_openvino && !strcmp(id, "openvino"))
            continue;
        if (hw && !hw->prefer_cuda && !strcmp(id, "cpu"))
            list[n++] = "cuda";
        list[n++] = id;
    }
    const ia_backend *found = NULL;
    if (order)
        order[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (order && len < cap)
            len += (size_t)snprintf(order + len, cap - len, "%s%s", i ? " > " : "", list[i]);
        const ia_backend *be = find_exact(list[i]);
        if (!found && !explicit_only(list[i]) && usable(be))
            found = be;
    }
    return found;
}

int ia__backend_auto_devices(char *named_only, size_t cap)
{
    ia_hw_settings hw;
    if (ia__config_hw_settings(&hw))
        return 0;
    if (named_only && cap)
        named_only[0] = '\0';
    int n = 0;
    size_t len = 0;
    for (size_t i = 0; i < IA_ARRAY_LEN(priority); i++) {
        const ia_backend *be = find_exact(priority[i]);
        if (!usable(be) || (!hw.allow_openvino && !strcmp(priority[i], "openvino")))
            continue;
        if (!explicit_only(priority[i]))
            n += be->iface.device_count();
        else if (named_only && len < cap)
            len += (size_t)snprintf(named_only + len, cap - len, "%s%s", len ? ", " : "", priority[i]);
    }
    return n;
}

int ia__backend_count(void)
{
    pthread_once(&builtins_once, register_builtins);
    pthread_mutex_lock(&reg_lock);
    int n = n_backends;
    pthread_mutex_unlock(&reg_lock);
    return n;
}

const ia_backend *ia__backend_at(int i)
{
    pthread_once(&builtins_once, register_builtins);
    pthread_mutex_lock(&reg_lock);
    const ia_backend *be = i >= 0 && i < n_backends ? backends[i] : NULL;
    pthread_mutex_unlock(&reg_lock);
    return be;
}

const ia_backend *ia__backend_find(const char *name)
{
    if (!strcmp(name, "auto"))
        return first_usable(NULL, NULL, 0);
    return find_exact(name);
}

/* selection ---------------------------------------------------------------- */

static void fill(ia_selection *out, const ia_backend *be, int device, const char *requested)
{
    snprintf(out->backend, sizeof out->backend, "%s", be->name);
    snprintf(out->device, sizeof out->device, "%s:%d", be->name, device);
    snprintf(out->device_name, sizeof out->device_name, "%s",
             be->iface.device_name ? be->iface.device_name(device) : be->name);
    snprintf(out->precision, sizeof out->precision, "%s", be->iface.resolve_precision("fp32"));
    snprintf(out->requested, sizeof out->requested, "%s", requested);
}

/* The precision the backend computes in when asked for want (it may not
 * offer it). */
static ia_status apply_precision(const ia_backend *be, const char *want, bool strict, ia_selection *out)
{
    const char *got = be->iface.resolve_precision(want);
    if (!got)
        got = be->iface.resolve_precision("fp32");
    if (strcmp(got, want)) {
        if (strict)
            return ia__error(IA_ERR_BACKEND, "hardware.precision=%s: the %s backend computes in %s; fallback is off "
                             "(--no-fallback / hardware.fallback=false)", want, be->name, got);
        size_t len = strlen(out->reason);
        snprintf(out->reason + len, sizeof out->reason - len, "; precision %s is not available on %s, using %s",
                 want, be->name, got);
        out->fallback = true;
        ia__log(IA_LOG_WARN, "hardware.precision=%s is not available on the %s backend; computing in %s", want,
                be->name, got);
    }
    snprintf(out->precision, sizeof out->precision, "%s", got);
    return IA_OK;
}

/* Appends to why what the hardware probe saw of platform id, where it
 * has a probe: " (hardware detected: REASON)". */
static void add_probe(char *why, size_t cap, const char *id)
{
    ia_hw_platform p;
    if (!ia__hw_detect_one(NULL, id, &p))
        return;
    size_t n = strlen(why);
    snprintf(why + n, cap - n, " (hardware %s: %s)", p.state == IA_HW_NOT_PRESENT ? "not present" : "detected",
             p.reason);
    cJSON_Delete(p.extra);
}

/* Select a backend for request (NULL: the configured device). With
 * apply, the configured precision is also set on the chosen backend (as a
 * model load does); without, nothing changes (status reports). */
static ia_status select_impl(const char *request, const char *precision, ia_selection *out,
                             const ia_backend **be_out, bool apply)
{
    if (!out)
        return ia__error(IA_ERR_INVALID, "ia_backend_select: out is NULL");
    memset(out, 0, sizeof *out);
    ia_hw_settings hw;
    ia_status rc = ia__config_hw_settings(&hw);
    if (rc)
        return rc;
    if (precision && *precision) { /* the caller's request beats hardware.precision */
        if (!ia__precision_canon(precision, hw.precision, sizeof hw.precision))
            return ia__error(IA_ERR_INVALID, "precision \"%s\": unknown (%s)", precision, IA_PRECISIONS);
    }
    const char *origin = "the request";
    if (!request || !*request) {
        request = hw.device;
        origin = hw.device_origin;
    }
    const char *id;
    int index;
    if (!ia__device_parse(request, &id, &index) && !ia__backend_device_parse(request, &id, &index))
        return ia__error(IA_ERR_INVALID, "device \"%s\" (from %s): unknown device (known: %s, and the "
                         "backends loaded as plugins)", request, origin, ia__device_names());
    char req[64];
    if (index >= 0)
        snprintf(req, sizeof req, "%s:%d", id, index);
    else
        snprintf(req, sizeof req, "%s", id);
    char env[64];
    bool enabled = ia__accelerate_enabled_env(env, sizeof env);
    const bool strict = !hw.fallback;
    const ia_backend *cpu = find_exact("cpu");
    if (!cpu)
        return ia__error(IA_ERR_BACKEND, "no cpu backend registered");
    const ia_backend *be = NULL;
    char why[400] = "";
    (void)apply;

    if (!enabled) {
        if (strcmp(id, "auto") && strcmp(id, "cpu")) {
            snprintf(why, sizeof why, "acceleration is switched off by %s=%s", IA_ENV_ENABLED, env);
        } else {
            fill(out, cpu, 0, req);
            snprintf(out->reason, sizeof out->reason, "acceleration switched off by %s=%s: plain CPU path, %s",
                     IA_ENV_ENABLED, env, out->device_name);
            be = cpu;
        }
    } else if (!strcmp(id, "auto")) {
        char order[160];
        be = first_usable(&hw, order, sizeof order);
        if (!be)
            return ia__error(IA_ERR_BACKEND, "no usable backend (priority %s)", order);
        fill(out, be, 0, req);
        snprintf(out->reason, sizeof out->reason, "auto: first usable backend in priority order %s", order);
    } else {
        const ia_backend *want = find_exact(id);
        if (!strcmp(id, "openvino") && !hw.allow_openvino) {
            snprintf(why, sizeof why, "OpenVINO is disallowed by hardware.allow_openvino=false");
        } else if (!want) {
            snprintf(why, sizeof why, "no %s backend in this build", id);
            add_probe(why, sizeof why, id);
        } else if (!usable(want)) {
            snprintf(why, sizeof why, "the %s backend has no usable device", id);
            add_probe(why, sizeof why, id);
        } else if (index >= want->iface.device_count()) {
            int n = want->iface.device_count();
            snprintf(why, sizeof why, "%s has %d device%s (0-%d), no device %d", id, n, n == 1 ? "" : "s",
                     n - 1, index);
        } else {
            be = want;
            fill(out, be, index < 0 ? 0 : index, req);
            snprintf(out->reason, sizeof out->reason, "requested %s (from %s)", req, origin);
        }
    }
    if (!be) {
        if (strict)
            return ia__error(IA_ERR_BACKEND, "device \"%s\" (from %s) is not usable: %s; fallback is off "
                             "(--no-fallback / hardware.fallback=false)", req, origin, why);
        be = cpu;
        fill(out, cpu, 0, req);
        out->fallback = true;
        snprintf(out->reason, sizeof out->reason, "device %s is not usable: %s; falling back to cpu", req, why);
        ia__log(IA_LOG_WARN, "%s", out->reason);
    }

    /* Precision: "auto" keeps the backend's own. Another one is applied
     * when a model loads (apply); the backend may not offer it. With
     * acceleration off the plain path computes in fp32. */
    snprintf(out->precision_requested, sizeof out->precision_requested, "%s", hw.precision);
    if (!enabled && strcmp(hw.precision, "auto") && strcmp(hw.precision, "fp32")) {
        size_t len = strlen(out->reason);
        snprintf(out->reason + len, sizeof out->reason - len, "; hardware.precision=%s ignored: plain fp32",
                 hw.precision);
        snprintf(hw.precision, sizeof hw.precision, "fp32");
    }
    if (strcmp(hw.precision, "auto")) {
        if (apply) {
            rc = apply_precision(be, hw.precision, strict, out);
            if (rc)
                return rc;
        } else if (strcmp(hw.precision, out->precision)) {
            size_t len = strlen(out->reason);
            snprintf(out->reason + len, sizeof out->reason - len,
                     "; precision %s requested (applied when a model loads)", hw.precision);
        }
    }
    if (be_out)
        *be_out = be;
    return IA_OK;
}

ia_status ia_backend_select(const char *request, ia_selection *out)
{
    ia__error_clear();
    return select_impl(request, NULL, out, NULL, false);
}

bool ia__backend_fallback(ia_status rc, ia_selection *sel, const ia_backend **be)
{
    ia_hw_settings hw;
    const ia_backend *cpu = find_exact("cpu");
    if (!cpu || *be == cpu || (rc != IA_ERR_NOMEM && rc != IA_ERR_BACKEND && rc != IA_ERR_UNSUPPORTED) ||
        ia__config_hw_settings(&hw) || !hw.fallback)
        return false;
    char why[400], req[64];
    snprintf(why, sizeof why, "%s", ia_errmsg());
    snprintf(req, sizeof req, "%s", sel->requested);
    const char *device = sel->device;
    char was[48];
    snprintf(was, sizeof was, "%s", device);
    fill(sel, cpu, 0, req);
    sel->fallback = true;
    snprintf(sel->reason, sizeof sel->reason, "device %s failed: %s; falling back to cpu", was, why);
    ia__log(IA_LOG_WARN, "%s", sel->reason);
    ia__error_clear();
    *be = cpu;
    return true;
}

ia_status ia__backend_select(const char *request, ia_selection *out, const ia_backend **be)
{
    return select_impl(request, NULL, out, be, true);
}

ia_status ia__backend_select_precision(const char *request, const char *precision, ia_selection *out,
                                       const ia_backend **be)
{
    return select_impl(request, precision, out, be, true);
}
