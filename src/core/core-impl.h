/*
 * Internal helpers every subsystem uses: the one allocation wrapper (so tests
 * can make allocation fail), error recording, logging and small file
 * utilities. Never installed.
 */
#ifndef IA_CORE_IMPL_H
#define IA_CORE_IMPL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipfs_accelerate/common.h"

#if defined(__GNUC__)
#define IA_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define IA_PRINTF(f, a)
#endif

/* Allocation. All library memory goes through these. */
void *ia__malloc(size_t n);
void *ia__calloc(size_t n, size_t size);
void *ia__realloc(void *p, size_t n);
void ia__free(void *p);
char *ia__strdup(const char *s);
/* Public option structs start with `size_t size` (the caller's sizeof; 0:
 * this library's). The caller's options (src, NULL for defaults) into dst
 * of this library's layout; fields the caller does not have are zero,
 * which is every field's default. */
void ia__opts_copy(void *dst, size_t dst_size, const void *src);
char *ia__strndup(const char *s, size_t n);
/* Room for one more element in array p of n used and *cap allocated
 * elements of `size` bytes: p itself while n < *cap, else p reallocated to
 * twice the capacity (`first` elements the first time) with *cap updated.
 * NULL when out of memory; p and *cap are then unchanged. */
void *ia__grow(void *p, size_t n, size_t *cap, size_t size, size_t first);
/* Test hook: the n-th allocation from now fails (0 disables), once;
 * ia__alloc_fail_pending() is how many allocations remain before it (0
 * once it has failed). */
void ia__alloc_fail_after(long n);
long ia__alloc_fail_pending(void);

/* Record the error detail for this thread and return st, so a failure reads
 * `return ia__error(IA_ERR_FORMAT, "%s: ...", path);`. */
ia_status ia__error(ia_status st, const char *fmt, ...) IA_PRINTF(2, 3);
/* Forget the detail: every public function that returns an ia_status
 * starts with this, so ia_errmsg() never shows an older call's failure. */
void ia__error_clear(void);
/* In a public function: a required pointer argument that is NULL fails
 * with IA_ERR_INVALID naming the function and the argument. */
#define IA_NEED(arg)                                                                        \
    do {                                                                                    \
        if (!(arg))                                                                         \
            return ia__error(IA_ERR_INVALID, "%s: %s is NULL", __func__, #arg);            \
    } while (0)
/* Prefix the current detail with more context ("loading X: <detail>"). */
ia_status ia__error_wrap(ia_status st, const char *fmt, ...) IA_PRINTF(2, 3);

void ia__log(ia_log_level level, const char *fmt, ...) IA_PRINTF(2, 3);
bool ia__log_enabled(ia_log_level level);

/* Read a whole file; *out is NUL-terminated and owned by the caller. */
ia_status ia__read_file(const char *path, char **out, size_t *len);
/* Read and parse a JSON file whose top level is an object or array; *out
 * is owned by the caller (cJSON_Delete). IA_ERR_FORMAT names the file. */
struct cJSON;
ia_status ia__read_json(const char *path, struct cJSON **out);
/* "dir/name" in a new string (NULL on allocation failure). */
char *ia__path_join(const char *dir, const char *name);
bool ia__file_exists(const char *path);

/* FNV-1a of n bytes: the hash of the name indexes (vocabulary, GGUF). */
uint64_t ia__hash(const void *p, size_t n);

/* Seconds on a monotonic clock. */
double ia__now(void);

#define IA_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define IA_MIN(a, b) ((a) < (b) ? (a) : (b))
#define IA_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
