/*
 * Shared vocabulary of the public API: status codes, error details, logging
 * and version. Every other public header includes this one.
 *
 * Errors: a function that fails returns a negative ia_status and leaves a
 * human-readable detail (naming the file, field or input at fault) that
 * ia_errmsg() returns on the same thread until the next call there that
 * returns an ia_status. A required pointer argument that is NULL is
 * IA_ERR_INVALID naming the function and argument; ia_*_free(NULL) and
 * ia_*_close(NULL) do nothing.
 *
 * Logging: the library never prints. It hands messages to the callback set
 * with ia_log_set(); with none set, messages are dropped.
 */
#ifndef IPFS_ACCELERATE_COMMON_H
#define IPFS_ACCELERATE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define IA_API __attribute__((visibility("default")))
#else
#define IA_API
#endif

typedef enum ia_status {
    IA_OK = 0,
    IA_ERR_INVALID = -1,     /* bad argument or malformed input */
    IA_ERR_NOMEM = -2,       /* allocation failed */
    IA_ERR_IO = -3,          /* a file or the network failed */
    IA_ERR_FORMAT = -4,      /* bytes from outside do not follow their format */
    IA_ERR_UNSUPPORTED = -5, /* valid, but not something we implement */
    IA_ERR_NOT_FOUND = -6,   /* a named file, tensor, key or block is absent */
    IA_ERR_VERIFY = -7,      /* content does not match its hash */
    IA_ERR_TIMEOUT = -8,
    IA_ERR_BACKEND = -9,     /* the compute backend failed or is unusable */
    IA_ERR_BUSY = -10,       /* a bounded queue is full: retry later (HTTP 429) */
} ia_status;

/* Short constant description of a status ("invalid argument"). */
IA_API const char *ia_strerror(ia_status st);

/* Detail of the failure of the last call on this thread that returned an
 * ia_status; "" if that call succeeded (or none was made). Borrowed,
 * valid until the next such call on this thread. */
IA_API const char *ia_errmsg(void);

typedef enum ia_log_level {
    IA_LOG_DEBUG = 0,
    IA_LOG_INFO = 1,
    IA_LOG_WARN = 2,
    IA_LOG_ERROR = 3,
} ia_log_level;

typedef void (*ia_log_fn)(ia_log_level level, const char *msg, void *user);

/* Route library messages at or above min_level to fn (NULL: drop them).
 * Thread-safe. The callback may be called from any library thread, from
 * several at once; it may call the library, except ia_log_set (which waits
 * for running callbacks to return, so once it returns the old callback is
 * never called again). */
IA_API void ia_log_set(ia_log_fn fn, void *user, ia_log_level min_level);

IA_API const char *ia_log_level_name(ia_log_level level);

/* Free memory the library returned with ownership (a JSON string from
 * ia_hardware_detect_json(), ...). ia_free(NULL) is a no-op. */
IA_API void ia_free(void *p);

/* The version of these headers. The library's soname carries MAJOR.MINOR
 * while MAJOR is 0 (each 0.x release may change the ABI), MAJOR after. */
#define IA_VERSION_MAJOR 0
#define IA_VERSION_MINOR 2
#define IA_VERSION_PATCH 0

/* Library version, "MAJOR.MINOR.PATCH"; compare with the IA_VERSION_*
 * macros to check that headers and library match. */
IA_API const char *ia_version(void);

/* The layout of the public structs other languages mirror, as JSON:
 * {"ia_model_options": {"size": N, "fields": {"size": 0, ...}}, ...}.
 * Constant; borrowed. */
IA_API const char *ia_abi_layouts(void);

#ifdef __cplusplus
}
#endif
#endif
