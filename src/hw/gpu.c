/*
 * CUDA and ROCm/HIP probes: open the vendor's driver/runtime library with
 * the loader (never linked at build time), initialize it and ask for its
 * devices. A library that is absent, that lacks a symbol, or whose init
 * fails means "not present", with the library's own words as the reason.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hw/hw-impl.h"

/* CUDA driver API (cuda.h), the few entry points and constants we use. */
typedef int (*cu_init_fn)(unsigned);
typedef int (*cu_int_fn)(int *);
typedef int (*cu_device_get_fn)(int *, int);
typedef int (*cu_device_name_fn)(char *, int, int);
typedef int (*cu_device_mem_fn)(size_t *, int);
typedef int (*cu_device_attr_fn)(int *, int, int);
typedef int (*cu_error_name_fn)(int, const char **);

enum {
    CU_ATTR_MULTIPROCESSOR_COUNT = 16,
    CU_ATTR_CC_MAJOR = 75,
    CU_ATTR_CC_MINOR = 76,
};

static const char *cu_err(cu_error_name_fn name_fn, int rc, char *buf, size_t cap)
{
    const char *s = NULL;
    if (name_fn && name_fn(rc, &s) == 0 && s)
        snprintf(buf, cap, "%s (%d)", s, rc);
    else
        snprintf(buf, cap, "error %d", rc);
    return buf;
}

void ia__hw_probe_cuda(const ia_hw_loader *ld, ia_hw_platform *p)
{
    static const char *const libs[] = {"libcuda.so.1", "libcuda.so", NULL};
    const char *lib_name;
    char err[1024], eb[96];
    p->state = IA_HW_NOT_PRESENT;
    void *lib = ia__hw_open_any(ld, libs, &lib_name, err, sizeof err);
    if (!lib) {
        IA_HW_SET(p->probe, "dlopen libcuda.so.1 (the NVIDIA driver library)");
        IA_HW_SET(p->reason, "no NVIDIA driver library: %s", err);
        return;
    }
    IA_HW_SET(p->probe, "dlopen %s, cuInit, cuDeviceGetCount", lib_name);
    cu_init_fn init = (cu_init_fn)ld->sym(ld->ud, lib, "cuInit");
    cu_int_fn version = (cu_int_fn)ld->sym(ld->ud, lib, "cuDriverGetVersion");
    cu_int_fn count = (cu_int_fn)ld->sym(ld->ud, lib, "cuDeviceGetCount");
    cu_device_get_fn get = (cu_device_get_fn)ld->sym(ld->ud, lib, "cuDeviceGet");
    cu_device_name_fn name = (cu_device_name_fn)ld->sym(ld->ud, lib, "cuDeviceGetName");
    cu_device_mem_fn mem = (cu_device_mem_fn)ld->sym(ld->ud, lib, "cuDeviceTotalMem_v2");
    cu_device_attr_fn attr = (cu_device_attr_fn)ld->sym(ld->ud, lib, "cuDeviceGetAttribute");
    cu_error_name_fn ename = (cu_error_name_fn)ld->sym(ld->ud, lib, "cuGetErrorName");
    if (!init || !count || !get || !name || !attr) {
        IA_HW_SET(p->reason, "%s lacks the CUDA driver entry points (cuInit, cuDeviceGetCount, ...)",
                  lib_name);
        goto done;
    }
    int rc = init(0), n = 0, drv = 0;
    if (rc) {
        IA_HW_SET(p->reason, "%s loaded, but cuInit failed: %s", lib_name,
                  cu_err(ename, rc, eb, sizeof eb));
        goto done;
    }
    if ((rc = count(&n))) {
        IA_HW_SET(p->reason, "cuDeviceGetCount failed: %s", cu_err(ename, rc, eb, sizeof eb));
        goto done;
    }
    if (version && version(&drv) == 0) {
        cJSON *x = ia__hw_extra(p);
        char v[32];
        snprintf(v, sizeof v, "%d.%d", drv / 1000, drv % 1000 / 10);
        if (x)
            cJSON_AddStringToObject(x, "driver_version", v);
    }
    if (n <= 0) {
        IA_HW_SET(p->reason, "%s loaded and initialized, but it reports no CUDA devices", lib_name);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        int dev, major = 0, minor = 0, sms = 0;
        ia_hw_device *d = ia__hw_add_device(p);
        if (!d)
            break;
        IA_HW_SET(d->kind, "gpu");
        if ((rc = get(&dev, i))) {
            IA_HW_SET(d->name, "device %d: cuDeviceGet failed: %s", i, cu_err(ename, rc, eb, sizeof eb));
            continue;
        }
        if (name(d->name, (int)sizeof d->name, dev))
            IA_HW_SET(d->name, "CUDA device %d", i);
        size_t bytes = 0;
        if (mem && mem(&bytes, dev) == 0)
            d->memory = bytes;
        attr(&major, CU_ATTR_CC_MAJOR, dev);
        attr(&minor, CU_ATTR_CC_MINOR, dev);
        attr(&sms, CU_ATTR_MULTIPROCESSOR_COUNT, dev);
        IA_HW_SET(d->detail, "compute capability %d.%d, %d SMs", major, minor, sms);
    }
    p->state = IA_HW_DETECTED;
    IA_HW_SET(p->reason, "%d CUDA device%s via %s (driver %d.%d)", n, n == 1 ? "" : "s", lib_name,
              drv / 1000, drv % 1000 / 10);
done:
    ld->close(ld->ud, lib);
}

/* HIP runtime (hip_runtime_api.h). */
typedef int (*hip_init_fn)(unsigned);
typedef int (*hip_int_fn)(int *);
typedef int (*hip_name_fn)(char *, int, int);
typedef int (*hip_mem_fn)(size_t *, int);
typedef const char *(*hip_err_fn)(int);

void ia__hw_probe_rocm(const ia_hw_loader *ld, ia_hw_platform *p)
{
    static const char *const libs[] = {"libamdhip64.so.6", "libamdhip64.so.5", "libamdhip64.so", NULL};
    const char *lib_name;
    char err[1024];
    p->state = IA_HW_NOT_PRESENT;
    bool kfd = access("/dev/kfd", F_OK) == 0;
    void *lib = ia__hw_open_any(ld, libs, &lib_name, err, sizeof err);
    if (!lib) {
        IA_HW_SET(p->probe, "dlopen libamdhip64.so (the HIP runtime)");
        IA_HW_SET(p->reason, "no HIP runtime library%s: %s",
                  kfd ? " (though /dev/kfd exists: install ROCm)" : "", err);
        return;
    }
    IA_HW_SET(p->probe, "dlopen %s, hipInit, hipGetDeviceCount", lib_name);
    hip_init_fn init = (hip_init_fn)ld->sym(ld->ud, lib, "hipInit");
    hip_int_fn count = (hip_int_fn)ld->sym(ld->ud, lib, "hipGetDeviceCount");
    hip_int_fn version = (hip_int_fn)ld->sym(ld->ud, lib, "hipDriverGetVersion");
    hip_name_fn name = (hip_name_fn)ld->sym(ld->ud, lib, "hipDeviceGetName");
    hip_mem_fn mem = (hip_mem_fn)ld->sym(ld->ud, lib, "hipDeviceTotalMem");
    hip_err_fn ename = (hip_err_fn)ld->sym(ld->ud, lib, "hipGetErrorName");
    if (!init || !count || !name) {
        IA_HW_SET(p->reason, "%s lacks the HIP entry points (hipInit, hipGetDeviceCount, ...)", lib_name);
        goto done;
    }
    int rc = init(0), n = 0, drv = 0;
    if (rc) {
        IA_HW_SET(p->reason, "%s loaded, but hipInit failed: %s (%d)", lib_name,
                  ename && ename(rc) ? ename(rc) : "error", rc);
        goto done;
    }
    if ((rc = count(&n)) || n <= 0) {
        IA_HW_SET(p->reason, "%s loaded, but it reports no HIP devices%s", lib_name,
                  rc ? " (hipGetDeviceCount failed)" : "");
        goto done;
    }
    if (version && version(&drv) == 0) {
        cJSON *x = ia__hw_extra(p);
        if (x)
            cJSON_AddNumberToObject(x, "driver_version", drv);
    }
    for (int i = 0; i < n; i++) {
        ia_hw_device *d = ia__hw_add_device(p);
        if (!d)
            break;
        IA_HW_SET(d->kind, "gpu");
        if (name(d->name, (int)sizeof d->name, i))
            IA_HW_SET(d->name, "HIP device %d", i);
        size_t bytes = 0;
        if (mem && mem(&bytes, i) == 0)
            d->memory = bytes;
    }
    p->state = IA_HW_DETECTED;
    IA_HW_SET(p->reason, "%d HIP device%s via %s", n, n == 1 ? "" : "s", lib_name);
done:
    ld->close(ld->ud, lib);
}
