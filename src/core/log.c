/* The library's only way to speak: a user callback, thread-safe. Callbacks
 * run under a read lock, so several may run at once and may call the
 * library (which may log again); ia_log_set takes the write lock, so it
 * waits for running callbacks and the old one is never called after it
 * returns. */
#include <pthread.h>
#include <stdio.h>

#include "core-impl.h"

static pthread_rwlock_t log_lock = PTHREAD_RWLOCK_INITIALIZER;
static ia_log_fn log_fn;
static void *log_user;
static ia_log_level log_min = IA_LOG_INFO;

void ia_log_set(ia_log_fn fn, void *user, ia_log_level min_level)
{
    pthread_rwlock_wrlock(&log_lock);
    log_fn = fn;
    log_user = user;
    log_min = min_level;
    pthread_rwlock_unlock(&log_lock);
}

const char *ia_log_level_name(ia_log_level level)
{
    switch (level) {
    case IA_LOG_DEBUG: return "debug";
    case IA_LOG_INFO: return "info";
    case IA_LOG_WARN: return "warning";
    case IA_LOG_ERROR: return "error";
    }
    return "log";
}

bool ia__log_enabled(ia_log_level level)
{
    pthread_rwlock_rdlock(&log_lock);
    bool on = log_fn && level >= log_min;
    pthread_rwlock_unlock(&log_lock);
    return on;
}

void ia__log(ia_log_level level, const char *fmt, ...)
{
    char msg[2048];
    pthread_rwlock_rdlock(&log_lock);
    if (log_fn && level >= log_min) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        log_fn(level, msg, log_user);
    }
    pthread_rwlock_unlock(&log_lock);
}

const char *ia_version(void) { return IA_VERSION_STRING; }
