/*
 * Hardware detection internals: one probe per platform, each filling an
 * ia_hw_platform with what it saw and why it decided the state. GPU
 * runtimes are reached through an ia_hw_loader (dlopen by default), so unit
 * tests can drive the absent-library and failing-library paths with a
 * loader of their own. Never installed.
 */
#ifndef IA_HW_IMPL_H
#define IA_HW_IMPL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core-impl.h"
#include "ipfs_accelerate/hardware.h"

/* How probes open shared libraries. open() returns NULL and writes a reason
 * to err when the library cannot be loaded; sym() returns NULL for a
 * missing symbol. */
typedef struct ia_hw_loader {
    void *(*open)(void *ud, const char *name, char *err, size_t errlen);
    void *(*sym)(void *ud, void *lib, const char *name);
    void (*close)(void *ud, void *lib);
    void *ud;
} ia_hw_loader;

/* dlopen/dlsym/dlclose. */
const ia_hw_loader *ia__hw_dl_loader(void);

/* Open the first of names (NULL-terminated) that loads; *which gets its
 * name. On failure err holds every attempt's reason. */
void *ia__hw_open_any(const ia_hw_loader *ld, const char *const *names, const char **which,
                      char *err, size_t errlen);

#define IA_HW_MAX_DEVICES 16

typedef struct ia_hw_device {
    char name[256];
    char kind[16];      /* "gpu", "cpu", "accelerator", "npu", "other" */
    uint64_t memory;    /* bytes, 0 when unknown */
    char detail[256];   /* "compute capability 8.0, 132 SMs" */
} ia_hw_device;

typedef struct ia_hw_platform {
    const char *id;     /* "cuda": also the backend and --device name */
    const char *name;   /* "NVIDIA CUDA" */
    ia_hw_state state;
    bool backend_built; /* a backend called id is registered */
    char probe[256];    /* what was tried: "dlopen libcuda.so.1, cuInit" */
    char reason[512];   /* why the state: "libcuda.so.1: cannot open ..." */
    int n_devices;
    ia_hw_device dev[IA_HW_MAX_DEVICES];
    cJSON *extra;       /* more facts (driver version...), or NULL; owned */
} ia_hw_platform;

/* A probe decides present (IA_HW_DETECTED) or not; the caller upgrades
 * DETECTED to AVAILABLE when the backend is built and sees a device. */
typedef void (*ia_hw_probe_fn)(const ia_hw_loader *ld, ia_hw_platform *p);

void ia__hw_probe_cpu(const ia_hw_loader *ld, ia_hw_platform *p);
void ia__hw_probe_cuda(const ia_hw_loader *ld, ia_hw_platform *p);
void ia__hw_probe_rocm(const ia_hw_loader *ld, ia_hw_platform *p);
void ia__hw_probe_mps(const ia_hw_loader *ld, ia_hw_platform *p);
void ia__hw_probe_openvino(const ia_hw_loader *ld, ia_hw_platform *p);
void ia__hw_probe_vulkan(const ia_hw_loader *ld, ia_hw_platform *p);
void ia__hw_probe_opencl(const ia_hw_loader *ld, ia_hw_platform *p);
void ia__hw_probe_qnn(const ia_hw_loader *ld, ia_hw_platform *p);
void ia__hw_probe_webgpu(const ia_hw_loader *ld, ia_hw_platform *p);
void ia__hw_probe_webnn(const ia_hw_loader *ld, ia_hw_platform *p);

/* printf into a fixed field. */
void ia__hw_setf(char *dst, size_t cap, const char *fmt, ...) IA_PRINTF(3, 4);
#define IA_HW_SET(field, ...) ia__hw_setf((field), sizeof(field), __VA_ARGS__)
/* Add a device (ignored past IA_HW_MAX_DEVICES); returns it or NULL. */
ia_hw_device *ia__hw_add_device(ia_hw_platform *p);
/* p->extra, created on first use (NULL on allocation failure). */
cJSON *ia__hw_extra(ia_hw_platform *p);

/* The platforms, in display order. */
#define IA_HW_N_PLATFORMS 10
typedef struct ia_hw_report {
    ia_hw_platform p[IA_HW_N_PLATFORMS];
    int n;
} ia_hw_report;

/* Run every probe with loader ld (NULL: dlopen). Release with
 * ia__hw_report_clear. */
void ia__hw_detect(const ia_hw_loader *ld, ia_hw_report *r);
/* Run one platform's probe ("cuda"); false for an unknown id. */
bool ia__hw_detect_one(const ia_hw_loader *ld, const char *id, ia_hw_platform *p);
void ia__hw_report_clear(ia_hw_report *r);
/* The report as the `hw --json` document; NULL on allocation failure. */
cJSON *ia__hw_report_json(const ia_hw_report *r);
cJSON *ia__hw_platform_json(const ia_hw_platform *p);

/* CPU facts, gathered by ia__cpu_info (Linux files) and the architecture's
 * ia__cpu_features (cpuid on x86, hwcaps on Arm). */
#define IA_CPU_MAX_FEATURES 32
#define IA_CPU_MAX_CACHES 8
typedef struct ia_cpu_feature {
    const char *name; /* as /proc/cpuinfo spells it: "avx512_vnni" */
    bool hw;          /* the processor reports it */
    bool usable;      /* ... and the OS enabled its state (XCR0...) */
} ia_cpu_feature;

typedef struct ia_cpu_info {
    char arch[16];
    char vendor[64];
    char model[128];
    int logical;     /* online logical processors */
    int usable;      /* in this process's affinity mask */
    int cores;       /* physical cores (0: unknown) */
    int sockets;
    uint64_t mem_total, mem_available, mem_cgroup_limit; /* bytes, 0: unknown / none */
    struct {
        int level;
        char type[16];
        uint64_t size;
        int shared_by; /* logical CPUs sharing one instance */
    } cache[IA_CPU_MAX_CACHES];
    int n_cache;
    ia_cpu_feature feat[IA_CPU_MAX_FEATURES];
    int n_feat;
    char feature_probe[128];
} ia_cpu_info;

void ia__cpu_info(ia_cpu_info *ci);
/* Architecture-specific; each arch's file defines it, a generic one for
 * other architectures. */
void ia__cpu_features(ia_cpu_info *ci);
void ia__cpu_add_feature(ia_cpu_info *ci, const char *name, bool hw, bool usable);
const ia_cpu_feature *ia__cpu_feature(const ia_cpu_info *ci, const char *name);
cJSON *ia__cpu_json(const ia_cpu_info *ci);

/* Selection as a model load does it: ia_backend_select() plus the
 * configured precision applied to the chosen backend; *be gets it. */
struct ia_backend;
ia_status ia__backend_select(const char *request, ia_selection *out, const struct ia_backend **be);
/* The same with the caller's precision request ("int8"; NULL or "": the
 * configured hardware.precision), as ia_model_options.precision gives it.
 * out->precision is what the backend really computes in afterwards. */
ia_status ia__backend_select_precision(const char *request, const char *precision, ia_selection *out,
                                       const struct ia_backend **be);

/* A model's load failed with rc on the selected backend *be (opening the
 * device or placing the weights: out of device memory, a lost device).
 * Unless *be is already the CPU, rc is no device's fault (a bad file, an
 * invalid argument) or fallback is off (--no-fallback /
 * hardware.fallback=false): *sel and *be become the CPU's, with the
 * reason (the device's error) noted in sel and logged, and true comes
 * back for the caller to load again. */
bool ia__backend_fallback(ia_status rc, ia_selection *sel, const struct ia_backend **be);

/* Acceleration switch: false when IPFS_ACCELERATE_ENABLED disables it;
 * value gets the lower-cased value ("1" when unset). */
bool ia__accelerate_enabled_env(char *value, size_t cap);

#endif
