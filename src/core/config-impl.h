/*
 * Configuration internals shared with the backend registry: the hardware
 * settings selection needs, and the device-name parser both use. Never
 * installed.
 */
#ifndef IA_CONFIG_IMPL_H
#define IA_CONFIG_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core-impl.h"
#include "ipfs_accelerate/config.h"

/* The compute precisions a request may name; "auto" keeps the backend's
 * own. The one list: configuration, model options and selection use it. */
#define IA_PRECISIONS "auto|fp32|fp16|bf16|int8"

/* The canonical (lower-case) spelling of precision name into buf; false
 * if it is not one of IA_PRECISIONS. */
bool ia__precision_canon(const char *name, char *buf, size_t cap);

typedef struct ia_hw_settings {
    char device[64];         /* canonical: "auto", "cpu", "cuda:1" */
    char device_origin[160]; /* where it came from */
    bool fallback;           /* false: strict, an unusable device fails */
    bool prefer_cuda;
    bool allow_openvino;
    char precision[16];      /* "auto", "fp32", ... */
    uint64_t memory_limit;   /* bytes, 0: none */
    bool profiling;          /* performance.enable_profiling */
} ia_hw_settings;

/* The hardware.* settings (and performance.enable_profiling) of the
 * configuration given to ia_config_use(), or, when
 * none was, of defaults + files + environment read now. */
ia_status ia__config_hw_settings(ia_hw_settings *out);
ia_status ia__config_hw_settings_of(const ia_config *cfg, ia_hw_settings *out);

/* Device names: "auto", "cpu", "cuda", "cuda:1", "hip" (= rocm)... *id
 * gets the canonical platform id (a constant string), *index the device
 * number or -1 when none was given. False for anything else. */
bool ia__device_parse(const char *text, const char **id, int *index);
/* "NAME" or "NAME:N" naming a registered backend (a plugin's name:
 * backend/registry.c): its registered name in *id. */
bool ia__backend_device_parse(const char *text, const char **id, int *index);
/* "auto, cpu, cuda[:N], ..." for messages. */
const char *ia__device_names(void);

#endif
