/*
 * Hardware detection, backend selection and the acceleration switch.
 *
 * Detection runs one probe per platform the project targets (CPU, CUDA,
 * ROCm/HIP, OpenCL, Vulkan, OpenVINO, Apple MPS, Qualcomm QNN, WebGPU,
 * WebNN). GPU runtimes are opened with dlopen at run time, so the library
 * never depends on their SDKs. Each platform ends in one of three states:
 *
 *   available             a probe saw it and this build has a backend for it
 *   detected, no backend  a probe saw it, but no backend for it is built
 *   not present           the probe did not see it; the reason says why
 *
 * Nothing is reported present unless a probe saw it.
 *
 * Selection picks the backend that computes: "auto" takes the first usable
 * one in priority order (cuda > rocm > mps > openvino > vulkan > opencl >
 * cpu, adjusted by the hardware.* configuration); a requested device that
 * is not usable falls back to the CPU with a logged reason, or fails when
 * fallback is off (hardware.fallback=false, the CLI's --no-fallback).
 * IPFS_ACCELERATE_ENABLED=0|false|no|disabled turns acceleration off: the
 * plain CPU path only.
 *
 * All functions are thread-safe.
 */
#ifndef IPFS_ACCELERATE_HARDWARE_H
#define IPFS_ACCELERATE_HARDWARE_H

#include <stdbool.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The environment variable that switches acceleration off. */
#define IA_ENV_ENABLED "IPFS_ACCELERATE_ENABLED"

typedef enum ia_hw_state {
    IA_HW_NOT_PRESENT = 0,
    IA_HW_DETECTED = 1,  /* seen by its probe, no backend built for it */
    IA_HW_AVAILABLE = 2, /* seen by its probe and a backend is built */
} ia_hw_state;

/* "not present", "detected, no backend built", "available (backend built)" */
IA_API const char *ia_hw_state_name(ia_hw_state s);

/* False when IPFS_ACCELERATE_ENABLED is 0, false, no or disabled (any
 * case, surrounding blanks ignored); true otherwise, unset included. Read
 * on every call. */
IA_API bool ia_accelerate_enabled(void);

/* Run every probe now and describe what they saw, as the JSON document
 * that `ipfs-accelerate hw --json` prints:
 *   {"platforms": [{"id", "name", "state", "state_text", "backend_built",
 *                   "probe", "reason", "devices": [...], ...}, ...],
 *    "cpu": {...}, "acceleration_enabled": bool, "version"}
 * *out is owned by the caller (ia_free). Fails only with IA_ERR_NOMEM. */
IA_API ia_status ia_hardware_detect_json(char **out);

/* State of the acceleration layer as one JSON object, with the field
 * names of the Python get_accelerate_status() so a binding can return it
 * unchanged:
 *   available     bool: a backend can run (false when switched off)
 *   enabled       bool: not switched off by IPFS_ACCELERATE_ENABLED
 *   env_disabled  bool: switched off by IPFS_ACCELERATE_ENABLED
 *   env_var       the variable's value, lower-cased ("1" when unset)
 *   import_error  null (the library is loaded; kept for compatibility)
 * plus "env_var_name", "version", "backends" (an object: one entry per
 * platform with "state", "backend_built", "usable", "reason") and
 * "selected" (what "auto", or the configured device, selects now:
 * "backend", "device", "device_name", "precision", "requested",
 * "fallback", "reason"). *out is owned by the caller (ia_free). */
IA_API ia_status ia_accelerate_status_json(char **out);

/* What a device request resolves to, as the engine would load a model:
 * request is "auto", "cpu", "cuda", "cuda:1", ... (NULL: the configured
 * hardware.device). Fills the caller's fields with borrowed constant
 * strings or its own buffers. Fails with IA_ERR_INVALID for an unknown
 * device name, and with IA_ERR_BACKEND when the device is not usable and
 * fallback is off; otherwise falls back to the CPU and says why. */
typedef struct ia_selection {
    char backend[32];      /* "cpu" */
    char device[48];       /* "cpu:0", "cuda:1" */
    char device_name[256]; /* the backend's name for the device */
    char precision[16];    /* what the backend computes in now: "fp32" */
    char precision_requested[16]; /* hardware.precision: "auto", "int8" */
    char requested[64];    /* the request, after configuration: "auto" */
    bool fallback;         /* the request could not be honoured */
    char reason[512];      /* why this backend (always filled) */
} ia_selection;

IA_API ia_status ia_backend_select(const char *request, ia_selection *out);

#ifdef __cplusplus
}
#endif
#endif
