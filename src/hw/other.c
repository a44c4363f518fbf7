/*
 * Probes for the platforms reached through vendor frameworks or a browser:
 * OpenVINO (its C API library), Apple MPS (macOS only), Qualcomm QNN (the
 * HTP library plus a Hexagon DSP device node), and WebGPU / WebNN, which
 * this engine can only reach through a connected browser worker.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "hw/hw-impl.h"

/* OpenVINO C API (openvino/c/ov_core.h). */
typedef struct ov_available_devices {
    char **devices;
    size_t size;
} ov_available_devices;
typedef struct ov_version {
    const char *buildNumber;
    const char *description;
} ov_version;
typedef int (*ov_core_create_fn)(void **);
typedef void (*ov_core_free_fn)(void *);
typedef int (*ov_core_devices_fn)(const void *, ov_available_devices *);
typedef void (*ov_devices_free_fn)(ov_available_devices *);
typedef int (*ov_get_version_fn)(ov_version *);
typedef void (*ov_version_free_fn)(ov_version *);

void ia__hw_probe_openvino(const ia_hw_loader *ld, ia_hw_platform *p)
{
    static const char *const libs[] = {"libopenvino_c.so", "libopenvino_c.so.2500", "libopenvino_c.so.2024",
                                       NULL};
    const char *lib_name;
    char err[2048];
    p->state = IA_HW_NOT_PRESENT;
    void *lib = ia__hw_open_any(ld, libs, &lib_name, err, sizeof err);
    if (!lib) {
        IA_HW_SET(p->probe, "dlopen libopenvino_c.so (the OpenVINO C API)");
        IA_HW_SET(p->reason, "no OpenVINO runtime: %s", err);
        return;
    }
    IA_HW_SET(p->probe, "dlopen %s, ov_core_create, ov_core_get_available_devices", lib_name);
    ov_core_create_fn create = (ov_core_create_fn)ld->sym(ld->ud, lib, "ov_core_create");
    ov_core_free_fn core_free = (ov_core_free_fn)ld->sym(ld->ud, lib, "ov_core_free");
    ov_core_devices_fn devices = (ov_core_devices_fn)ld->sym(ld->ud, lib, "ov_core_get_available_devices");
    ov_devices_free_fn devices_free = (ov_devices_free_fn)ld->sym(ld->ud, lib, "ov_available_devices_free");
    ov_get_version_fn get_version = (ov_get_version_fn)ld->sym(ld->ud, lib, "ov_get_openvino_version");
    ov_version_free_fn version_free = (ov_version_free_fn)ld->sym(ld->ud, lib, "ov_version_free");
    if (!create || !core_free || !devices || !devices_free) {
        IA_HW_SET(p->reason, "%s lacks the OpenVINO C API entry points", lib_name);
        goto done;
    }
    ov_version v = {0};
    if (get_version && get_version(&v) == 0) {
        cJSON *x = ia__hw_extra(p);
        if (x && v.buildNumber)
            cJSON_AddStringToObject(x, "version", v.buildNumber);
        if (version_free)
            version_free(&v);
    }
    void *core = NULL;
    int rc = create(&core);
    if (rc || !core) {
        IA_HW_SET(p->reason, "%s loaded, but ov_core_create failed (status %d)", lib_name, rc);
        goto done;
    }
    ov_available_devices ad = {0};
    rc = devices(core, &ad);
    if (rc || ad.size == 0) {
        IA_HW_SET(p->reason, "%s: OpenVINO reports no devices (status %d)", lib_name, rc);
    } else {
        for (size_t i = 0; i < ad.size; i++) {
            ia_hw_device *d = ia__hw_add_device(p);
            if (!d)
                break;
            IA_HW_SET(d->name, "%s", ad.devices[i]);
            IA_HW_SET(d->kind, "%s", !strncmp(ad.devices[i], "GPU", 3) ? "gpu"
                                     : !strncmp(ad.devices[i], "CPU", 3) ? "cpu"
                                     : !strncmp(ad.devices[i], "NPU", 3) ? "npu"
                                     : "other");
            IA_HW_SET(d->detail, "OpenVINO device");
        }
        p->state = IA_HW_DETECTED;
        IA_HW_SET(p->reason, "%zu OpenVINO device%s via %s", ad.size, ad.size == 1 ? "" : "s", lib_name);
        devices_free(&ad);
    }
    core_free(core);
done:
    ld->close(ld->ud, lib);
}

void ia__hw_probe_mps(const ia_hw_loader *ld, ia_hw_platform *p)
{
    (void)ld;
    struct utsname u;
    const char *os = uname(&u) == 0 ? u.sysname : "unknown";
    p->state = IA_HW_NOT_PRESENT;
    IA_HW_SET(p->probe, "uname (Metal Performance Shaders exist only on macOS)");
    IA_HW_SET(p->reason, "this system is %s, not macOS (Darwin)", os);
    if (!strcmp(os, "Darwin"))
        IA_HW_SET(p->reason, "macOS, but this build has no Metal probe; not checked");
}

/* A Hexagon DSP device node: /dev/fastrpc-* or /dev/adsprpc-smd. */
static bool dsp_node(char *which, size_t cap)
{
    if (access("/dev/adsprpc-smd", F_OK) == 0) {
        snprintf(which, cap, "/dev/adsprpc-smd");
        return true;
    }
    DIR *d = opendir("/dev");
    if (!d)
        return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d)))
        if (!strncmp(e->d_name, "fastrpc-", 8)) {
            snprintf(which, cap, "/dev/%s", e->d_name);
            found = true;
        }
    closedir(d);
    return found;
}

typedef int (*qnn_providers_fn)(const void ***, uint32_t *);

void ia__hw_probe_qnn(const ia_hw_loader *ld, ia_hw_platform *p)
{
    static const char *const libs[] = {"libQnnHtp.so", NULL};
    const char *lib_name;
    char err[1024], node[300];
    p->state = IA_HW_NOT_PRESENT;
    void *lib = ia__hw_open_any(ld, libs, &lib_name, err, sizeof err);
    if (!lib) {
        IA_HW_SET(p->probe, "dlopen libQnnHtp.so (the QNN HTP backend library)");
        IA_HW_SET(p->reason, "no Qualcomm QNN runtime: %s", err);
        return;
    }
    IA_HW_SET(p->probe, "dlopen %s, QnnInterface_getProviders, Hexagon DSP device node", lib_name);
    qnn_providers_fn providers = (qnn_providers_fn)ld->sym(ld->ud, lib, "QnnInterface_getProviders");
    const void **list = NULL;
    uint32_t n = 0;
    if (!providers || providers(&list, &n) != 0 || n == 0)
        IA_HW_SET(p->reason, "%s loaded, but it offers no QNN interface providers", lib_name);
    else if (!dsp_node(node, sizeof node))
        IA_HW_SET(p->reason, "%s loaded, but no Hexagon DSP device node (/dev/fastrpc-*, /dev/adsprpc-smd)",
                  lib_name);
    else {
        ia_hw_device *d = ia__hw_add_device(p);
        if (d) {
            IA_HW_SET(d->name, "Qualcomm Hexagon NPU (%s)", node);
            IA_HW_SET(d->kind, "npu");
            IA_HW_SET(d->detail, "%u QNN interface provider%s", n, n == 1 ? "" : "s");
        }
        p->state = IA_HW_DETECTED;
        IA_HW_SET(p->reason, "QNN HTP library %s and DSP node %s", lib_name, node);
    }
    ld->close(ld->ud, lib);
}

static void browser(ia_hw_platform *p, const char *api)
{
    p->state = IA_HW_NOT_PRESENT;
    IA_HW_SET(p->probe, "connected browser workers (%s runs only inside a browser)", api);
    IA_HW_SET(p->reason, "no browser worker connected: browser workers are not implemented yet");
}

void ia__hw_probe_webgpu(const ia_hw_loader *ld, ia_hw_platform *p)
{
    (void)ld;
    browser(p, "WebGPU");
}

void ia__hw_probe_webnn(const ia_hw_loader *ld, ia_hw_platform *p)
{
    (void)ld;
    browser(p, "WebNN");
}
