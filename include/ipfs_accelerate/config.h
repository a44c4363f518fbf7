/*
 * Configuration: one object the CLI, the server and the Python binding
 * share, built from (highest precedence first)
 *
 *   command line    ia_config_set()
 *   environment     IPFS_ACCELERATE_<SECTION>_<KEY>, e.g.
 *                   IPFS_ACCELERATE_HARDWARE_PRECISION=fp32
 *   user file       $IPFS_ACCELERATE_HOME/config.json, else
 *                   $HOME/.ipfs_accelerate/config.json
 *   project file    ./ipfs_accelerate.json
 *   defaults
 *
 * Files are JSON objects of sections: {"hardware": {"precision": "fp32"}}.
 * Keys are "section.name" (ia_config_key() lists them all). An unknown key
 * is a warning naming the file and key (logged, and kept: see
 * ia_config_warning()); a bad value is an IA_ERR_INVALID error naming the
 * file, the key and what is allowed. Sizes accept units: 512MiB, 8GB.
 *
 * A config object is immutable after loading except through
 * ia_config_set(); reading it from several threads is safe.
 */
#ifndef IPFS_ACCELERATE_CONFIG_H
#define IPFS_ACCELERATE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ia_config ia_config;

typedef enum ia_config_source {
    IA_CONFIG_DEFAULT = 0,
    IA_CONFIG_PROJECT_FILE = 1, /* ./ipfs_accelerate.json */
    IA_CONFIG_USER_FILE = 2,    /* ~/.ipfs_accelerate/config.json */
    IA_CONFIG_ENV = 3,          /* IPFS_ACCELERATE_* */
    IA_CONFIG_COMMAND_LINE = 4,
} ia_config_source;

/* Zero fields are defaults; size is the caller's sizeof
 * (IA_CONFIG_LOAD_OPTIONS_INIT; 0: this header's), so the struct can grow. */
typedef struct ia_config_load_options {
    size_t size;
    const char *user_file;    /* NULL: $IPFS_ACCELERATE_HOME/config.json or
                                 $HOME/.ipfs_accelerate/config.json; "": none
                                 (the CLI's --config FILE, read as the project file) */
    const char *project_file; /* NULL: ./ipfs_accelerate.json */
    bool no_files;            /* defaults and environment only */
    bool no_env;              /* ignore IPFS_ACCELERATE_* */
} ia_config_load_options;

#define IA_CONFIG_LOAD_OPTIONS_INIT {.size = sizeof(ia_config_load_options)}

/* Defaults, then the files and the environment as above (opt may be NULL).
 * Missing files are skipped; an unreadable or malformed one is an error
 * naming it. *out is owned by the caller (ia_config_free). */
IA_API ia_status ia_config_load(const ia_config_load_options *opt, ia_config **out);
/* Defaults only. */
IA_API ia_status ia_config_new(ia_config **out);
IA_API void ia_config_free(ia_config *cfg);

/* Set key from the command line (source IA_CONFIG_COMMAND_LINE). value is
 * text as on the command line; lists are comma-separated. Errors:
 * IA_ERR_NOT_FOUND for an unknown key, IA_ERR_INVALID for a bad value. */
IA_API ia_status ia_config_set(ia_config *cfg, const char *key, const char *value);
/* The same from any source; origin names it in `config show` (a file
 * path, "IPFS_ACCELERATE_X", "--device"); NULL: the source's name. */
IA_API ia_status ia_config_set_from(ia_config *cfg, const char *key, const char *value,
                                    ia_config_source src, const char *origin);

/* Every key, in display order: key(i) for i < count, then NULL. */
IA_API const char *ia_config_key(size_t i);

/* The effective value as canonical text ("fp32", "true", "8589934592",
 * "https://a,https://b"); NULL for an unknown key. Borrowed until the
 * key is set again or cfg is freed. */
IA_API const char *ia_config_get(const ia_config *cfg, const char *key);
/* Typed reads; an unknown key or another type gives 0 / false / NULL. */
IA_API bool ia_config_get_bool(const ia_config *cfg, const char *key);
IA_API int64_t ia_config_get_int(const ia_config *cfg, const char *key);
IA_API uint64_t ia_config_get_size(const ia_config *cfg, const char *key); /* bytes */
IA_API double ia_config_get_seconds(const ia_config *cfg, const char *key);
/* Lists (ipfs.gateways): number of items, and item i (borrowed). */
IA_API size_t ia_config_list_count(const ia_config *cfg, const char *key);
IA_API const char *ia_config_list_item(const ia_config *cfg, const char *key, size_t i);

/* Where the effective value came from. */
IA_API ia_config_source ia_config_source_of(const ia_config *cfg, const char *key);
/* "default", "command line", "environment", "user file", "project file" */
IA_API const char *ia_config_source_name(ia_config_source src);
/* The exact origin: "default", the file's path, the variable's name, or
 * the command-line option. Borrowed. */
IA_API const char *ia_config_origin(const ia_config *cfg, const char *key);
/* One line describing key: type, allowed values and meaning. */
IA_API const char *ia_config_describe(const char *key);

/* Warnings collected while loading (unknown keys...): i < count. */
IA_API size_t ia_config_warning_count(const ia_config *cfg);
IA_API const char *ia_config_warning(const ia_config *cfg, size_t i);
/* The files that were considered and whether each was read:
 * "path" and loaded flag for i < 2 (project file, then user file). */
IA_API const char *ia_config_file(const ia_config *cfg, size_t i, bool *loaded);

/* {"key": {"value": ..., "source": ..., "origin": ...}, ...} plus
 * "files" and "warnings". *out is owned by the caller (ia_free). */
IA_API ia_status ia_config_to_json(const ia_config *cfg, char **out);

/* Make cfg the process-wide configuration the library uses where no
 * explicit one is passed: backend selection (hardware.*) when a model is
 * loaded. The library copies what it needs; cfg may be freed afterwards.
 * NULL: forget it; each later use then reads defaults, files and
 * environment afresh. (Logging is the front end's: it sets ia_log_set()
 * from logging.level and logging.file.) */
IA_API ia_status ia_config_use(const ia_config *cfg);

/* Parse a size: a whole or decimal number with an optional unit, B, kB/KB,
 * MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024),
 * case-insensitive, blanks allowed before the unit. A bare number is
 * bytes. "8G" is refused as ambiguous. IA_ERR_INVALID on anything else. */
IA_API ia_status ia_parse_size(const char *text, uint64_t *out);

#ifdef __cplusplus
}
#endif
#endif
