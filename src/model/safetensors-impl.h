/*
 * safetensors reader: maps one file (or the shards listed by a
 * model.safetensors.index.json) read-only and indexes its tensors by name.
 * Nothing is copied until a caller asks for a tensor as float32.
 */
#ifndef IA_SAFETENSORS_IMPL_H
#define IA_SAFETENSORS_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "core/core-impl.h"
#include "tensor/dtype.h"

#define IA_MAX_DIMS 4

typedef struct ia_st_tensor {
    char *name;
    ia_dtype dtype;     /* F32, F16, BF16, I64 or OTHER (any other) */
    char dtype_name[8]; /* as written in the file ("F32", "I8") */
    int n_dims;
    int64_t shape[IA_MAX_DIMS];
    const uint8_t *data; /* into the mapping */
    size_t nbytes;
    const char *file;    /* the file it came from, for messages */
} ia_st_tensor;

typedef struct ia_safetensors ia_safetensors;

/* Open `dir/model.safetensors` or, if absent, the shards named by
 * `dir/model.safetensors.index.json`. */
ia_status ia__st_open_dir(const char *dir, ia_safetensors **out);
/* Open one file (used by the directory form and by tests). */
ia_status ia__st_open_file(const char *path, ia_safetensors **out);
void ia__st_close(ia_safetensors *st);

size_t ia__st_count(const ia_safetensors *st);
const ia_st_tensor *ia__st_at(const ia_safetensors *st, size_t i);
/* NULL if absent. */
const ia_st_tensor *ia__st_find(const ia_safetensors *st, const char *name);

/* Convert a tensor of any float dtype to float32 in dst (n elements). */
void ia__st_to_f32(const ia_st_tensor *t, float *dst);
size_t ia__st_numel(const ia_st_tensor *t);
/* The file's spelling of dt: "F32", "F16", "BF16", "I64", else "other". */
const char *ia__st_dtype_name(ia_dtype dt);

#endif
