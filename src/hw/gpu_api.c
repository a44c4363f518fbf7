/*
 * OpenCL and Vulkan probes: open the ICD loader with the loader (never
 * linked at build time) and enumerate platforms and devices. A loader
 * library with no driver behind it (no ICD installed) is common: that is
 * "not present", with the loader's own error code as the reason.
 */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <string.h>

#include "hw/hw-impl.h"

/* OpenCL (CL/cl.h). */
typedef int (*cl_platform_ids_fn)(uint32_t, void **, uint32_t *);
typedef int (*cl_platform_info_fn)(void *, uint32_t, size_t, void *, size_t *);
typedef int (*cl_device_ids_fn)(void *, uint64_t, uint32_t, void **, uint32_t *);
typedef int (*cl_device_info_fn)(void *, uint32_t, size_t, void *, size_t *);

enum {
    CL_PLATFORM_VERSION = 0x0901,
    CL_PLATFORM_NAME = 0x0902,
    CL_PLATFORM_VENDOR = 0x0903,
    CL_DEVICE_TYPE = 0x1000,
    CL_DEVICE_MAX_COMPUTE_UNITS = 0x1002,
    CL_DEVICE_GLOBAL_MEM_SIZE = 0x101F,
    CL_DEVICE_NAME = 0x102B,
    CL_DEVICE_VERSION = 0x102F,
};
#define CL_DEVICE_TYPE_ALL 0xFFFFFFFFull
#define CL_PLATFORM_NOT_FOUND_KHR (-1001)
#define CL_DEVICE_NOT_FOUND (-1)

static const char *cl_type(uint64_t t)
{
    return t & 4 ? "gpu" : t & 2 ? "cpu" : t & 8 ? "accelerator" : "other";
}

void ia__hw_probe_opencl(const ia_hw_loader *ld, ia_hw_platform *p)
{
    static const char *const libs[] = {"libOpenCL.so.1", "libOpenCL.so", NULL};
    const char *lib_name;
    char err[1024];
    p->state = IA_HW_NOT_PRESENT;
    void *lib = ia__hw_open_any(ld, libs, &lib_name, err, sizeof err);
    if (!lib) {
        IA_HW_SET(p->probe, "dlopen libOpenCL.so.1 (the OpenCL ICD loader)");
        IA_HW_SET(p->reason, "no OpenCL ICD loader: %s", err);
        return;
    }
    IA_HW_SET(p->probe, "dlopen %s, clGetPlatformIDs, clGetDeviceIDs", lib_name);
    cl_platform_ids_fn plat_ids = (cl_platform_ids_fn)ld->sym(ld->ud, lib, "clGetPlatformIDs");
    cl_platform_info_fn plat_info = (cl_platform_info_fn)ld->sym(ld->ud, lib, "clGetPlatformInfo");
    cl_device_ids_fn dev_ids = (cl_device_ids_fn)ld->sym(ld->ud, lib, "clGetDeviceIDs");
    cl_device_info_fn dev_info = (cl_device_info_fn)ld->sym(ld->ud, lib, "clGetDeviceInfo");
    if (!plat_ids || !plat_info || !dev_ids || !dev_info) {
        IA_HW_SET(p->reason, "%s lacks the OpenCL entry points (clGetPlatformIDs, ...)", lib_name);
        goto done;
    }
    void *plats[8];
    uint32_t np = 0;
    int rc = plat_ids(8, plats, &np);
    if (rc || np == 0) {
        IA_HW_SET(p->reason, "%s loaded, but no OpenCL platform is installed (clGetPlatformIDs: %s%d)",
                  lib_name, rc == CL_PLATFORM_NOT_FOUND_KHR ? "CL_PLATFORM_NOT_FOUND_KHR " : "", rc);
        goto done;
    }
    if (np > 8)
        np = 8;
    cJSON *x = ia__hw_extra(p), *pa = x ? cJSON_AddArrayToObject(x, "platforms") : NULL;
    int total = 0;
    for (uint32_t i = 0; i < np; i++) {
        char pname[256] = "", vendor[256] = "", version[256] = "";
        plat_info(plats[i], CL_PLATFORM_NAME, sizeof pname - 1, pname, NULL);
        plat_info(plats[i], CL_PLATFORM_VENDOR, sizeof vendor - 1, vendor, NULL);
        plat_info(plats[i], CL_PLATFORM_VERSION, sizeof version - 1, version, NULL);
        void *devs[IA_HW_MAX_DEVICES];
        uint32_t nd = 0;
        rc = dev_ids(plats[i], CL_DEVICE_TYPE_ALL, IA_HW_MAX_DEVICES, devs, &nd);
        if (rc)
            nd = 0;
        if (nd > IA_HW_MAX_DEVICES)
            nd = IA_HW_MAX_DEVICES;
        cJSON *po = pa ? cJSON_CreateObject() : NULL;
        if (po) {
            cJSON_AddStringToObject(po, "name", pname);
            cJSON_AddStringToObject(po, "vendor", vendor);
            cJSON_AddStringToObject(po, "version", version);
            cJSON_AddNumberToObject(po, "devices", nd);
            cJSON_AddItemToArray(pa, po);
        }
        for (uint32_t k = 0; k < nd; k++) {
            ia_hw_device *d = ia__hw_add_device(p);
            if (!d)
                break;
            uint64_t type = 0, gmem = 0;
            uint32_t cus = 0;
            char dver[128] = "";
            dev_info(devs[k], CL_DEVICE_NAME, sizeof d->name - 1, d->name, NULL);
            dev_info(devs[k], CL_DEVICE_TYPE, sizeof type, &type, NULL);
            dev_info(devs[k], CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gmem, &gmem, NULL);
            dev_info(devs[k], CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cus, &cus, NULL);
            dev_info(devs[k], CL_DEVICE_VERSION, sizeof dver - 1, dver, NULL);
            IA_HW_SET(d->kind, "%s", cl_type(type));
            d->memory = gmem;
            IA_HW_SET(d->detail, "platform \"%s\", %s, %u compute units", pname, dver, cus);
            total++;
        }
    }
    if (total == 0) {
        IA_HW_SET(p->reason, "%u OpenCL platform%s, but no devices", np, np == 1 ? "" : "s");
        goto done;
    }
    p->state = IA_HW_DETECTED;
    IA_HW_SET(p->reason, "%d device%s on %u platform%s via %s", total, total == 1 ? "" : "s", np,
              np == 1 ? "" : "s", lib_name);
done:
    ld->close(ld->ud, lib);
}

/* Vulkan (vulkan_core.h): only the leading fields of the structures we
 * read are declared; the driver writes whole structures into buffers large
 * enough for them. */
typedef struct vk_app_info {
    int sType; /* VK_STRUCTURE_TYPE_APPLICATION_INFO = 0 */
    const void *pNext;
    const char *pApplicationName;
    uint32_t applicationVersion;
    const char *pEngineName;
    uint32_t engineVersion;
    uint32_t apiVersion;
} vk_app_info;

typedef struct vk_instance_info {
    int sType; /* VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO = 1 */
    const void *pNext;
    uint32_t flags;
    const vk_app_info *pApplicationInfo;
    uint32_t enabledLayerCount;
    const char *const *ppEnabledLayerNames;
    uint32_t enabledExtensionCount;
    const char *const *ppEnabledExtensionNames;
} vk_instance_info;

typedef void (*vk_void_fn)(void);
typedef vk_void_fn (*vk_proc_addr_fn)(void *, const char *);
typedef int (*vk_create_instance_fn)(const vk_instance_info *, const void *, void **);
typedef void (*vk_destroy_instance_fn)(void *, const void *);
typedef int (*vk_enum_devices_fn)(void *, uint32_t *, void **);
typedef void (*vk_get_props_fn)(void *, void *);

static const char *vk_type(uint32_t t, char *kind, size_t cap)
{
    static const char *const names[] = {"other", "integrated GPU", "discrete GPU", "virtual GPU", "CPU"};
    snprintf(kind, cap, "%s", t == 4 ? "cpu" : t >= 1 && t <= 3 ? "gpu" : "other");
    return t < 5 ? names[t] : "unknown type";
}

/* The Vulkan loader dlopens its drivers (ICDs), their dependencies and
 * implicit layers in vkCreateInstance and dlcloses them in
 * vkDestroyInstance. A driver's one-time setup is never freed when it is
 * unmapped, so each probe would leak it again (lavapipe: 128 bytes from a
 * pthread_once), reported from a module already gone, which no LSan
 * suppression can name; and LLVM-based drivers are slow to reload. So
 * what the instance brought in stays mapped (RTLD_NODELETE), like the
 * loader itself. These are the process's real objects: with an injected
 * loader there are none to pin. */
typedef struct vk_objects {
    uintptr_t base[512]; /* load addresses before vkCreateInstance */
    size_t n;
    const char *added[128];
    size_t n_added;
    bool after;
} vk_objects;

static int vk_object(struct dl_phdr_info *info, size_t size, void *ud)
{
    (void)size;
    vk_objects *o = ud;
    if (!o->after) {
        if (o->n < IA_ARRAY_LEN(o->base))
            o->base[o->n++] = info->dlpi_addr;
        return 0;
    }
    for (size_t i = 0; i < o->n; i++)
        if (o->base[i] == info->dlpi_addr)
            return 0;
    if (info->dlpi_name[0] && o->n_added < IA_ARRAY_LEN(o->added))
        o->added[o->n_added++] = info->dlpi_name;
    return 0;
}

static void vk_pin_added(vk_objects *o)
{
    o->after = true;
    dl_iterate_phdr(vk_object, o);
    for (size_t i = 0; i < o->n_added; i++) {
        void *h = dlopen(o->added[i], RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
        if (h)
            dlclose(h); /* NODELETE stays set; this only drops our reference */
    }
}

void ia__hw_probe_vulkan(const ia_hw_loader *ld, ia_hw_platform *p)
{
    static const char *const libs[] = {"libvulkan.so.1", "libvulkan.so", NULL};
    const char *lib_name;
    char err[1024];
    p->state = IA_HW_NOT_PRESENT;
    void *lib = ia__hw_open_any(ld, libs, &lib_name, err, sizeof err);
    if (!lib) {
        IA_HW_SET(p->probe, "dlopen libvulkan.so.1 (the Vulkan loader)");
        IA_HW_SET(p->reason, "no Vulkan loader: %s", err);
        return;
    }
    IA_HW_SET(p->probe, "dlopen %s, vkCreateInstance, vkEnumeratePhysicalDevices", lib_name);
    vk_proc_addr_fn gipa = (vk_proc_addr_fn)ld->sym(ld->ud, lib, "vkGetInstanceProcAddr");
    vk_create_instance_fn create = gipa ? (vk_create_instance_fn)gipa(NULL, "vkCreateInstance") : NULL;
    if (!create) {
        IA_HW_SET(p->reason, "%s lacks vkGetInstanceProcAddr / vkCreateInstance", lib_name);
        goto done;
    }
    vk_app_info app = {0, NULL, "ipfs-accelerate", 1, "ipfs-accelerate", 1, 1u << 22};
    vk_instance_info ci = {1, NULL, 0, &app, 0, NULL, 0, NULL};
    void *inst = NULL;
    vk_objects objs = {0};
    dl_iterate_phdr(vk_object, &objs);
    int rc = create(&ci, NULL, &inst);
    if (rc || !inst) {
        IA_HW_SET(p->reason, "%s loaded, but vkCreateInstance failed (VkResult %d%s)", lib_name, rc,
                  rc == -9 ? ", VK_ERROR_INCOMPATIBLE_DRIVER: no Vulkan driver installed" : "");
        goto done;
    }
    vk_destroy_instance_fn destroy = (vk_destroy_instance_fn)gipa(inst, "vkDestroyInstance");
    vk_enum_devices_fn enumerate = (vk_enum_devices_fn)gipa(inst, "vkEnumeratePhysicalDevices");
    vk_get_props_fn props = (vk_get_props_fn)gipa(inst, "vkGetPhysicalDeviceProperties");
    vk_get_props_fn mprops = (vk_get_props_fn)gipa(inst, "vkGetPhysicalDeviceMemoryProperties");
    void *devs[IA_HW_MAX_DEVICES];
    uint32_t n = IA_HW_MAX_DEVICES;
    rc = enumerate && props ? enumerate(inst, &n, devs) : -1;
    if ((rc != 0 && rc != 5 /* VK_INCOMPLETE */) || n == 0) {
        IA_HW_SET(p->reason, "%s: Vulkan instance created, but no physical devices (VkResult %d)",
                  lib_name, rc);
    } else {
        for (uint32_t i = 0; i < n; i++) {
            ia_hw_device *d = ia__hw_add_device(p);
            if (!d)
                break;
            /* VkPhysicalDeviceProperties: apiVersion, driverVersion,
             * vendorID, deviceID, deviceType, deviceName[256], ... */
            uint64_t buf[512] = {0};
            props(devs[i], buf);
            const unsigned char *b = (const unsigned char *)buf;
            uint32_t api, vendor, type;
            memcpy(&api, b, 4);
            memcpy(&vendor, b + 8, 4);
            memcpy(&type, b + 16, 4);
            IA_HW_SET(d->name, "%.255s", (const char *)b + 20);
            const char *tname = vk_type(type, d->kind, sizeof d->kind);
            IA_HW_SET(d->detail, "%s, vendor 0x%04x, Vulkan %u.%u.%u", tname, vendor, api >> 22,
                      (api >> 12) & 0x3ff, api & 0xfff);
            if (mprops) {
                /* VkPhysicalDeviceMemoryProperties: memoryTypeCount,
                 * memoryTypes[32] (8 bytes each), memoryHeapCount, then
                 * memoryHeaps[16] of {VkDeviceSize size; flags} at 264. */
                uint64_t mb[128] = {0};
                mprops(devs[i], mb);
                const unsigned char *m = (const unsigned char *)mb;
                uint32_t nh;
                memcpy(&nh, m + 260, 4);
                for (uint32_t h = 0; h < nh && h < 16; h++) {
                    uint64_t size;
                    uint32_t flags;
                    memcpy(&size, m + 264 + 16 * h, 8);
                    memcpy(&flags, m + 264 + 16 * h + 8, 4);
                    if (flags & 1) /* VK_MEMORY_HEAP_DEVICE_LOCAL_BIT */
                        d->memory += size;
                }
            }
        }
        p->state = IA_HW_DETECTED;
        IA_HW_SET(p->reason, "%u physical device%s via %s", n, n == 1 ? "" : "s", lib_name);
    }
    vk_pin_added(&objs);
    if (destroy)
        destroy(inst, NULL);
done:
    ld->close(ld->ud, lib);
}
