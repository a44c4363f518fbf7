/* The library's only way to speak: a user callback, set once, thread-safe. */
#include <pthread.h>
#include <stdio.h>

#include "core-impl.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static ia_log_fn log_fn;
static void *log_user;
static ia_log_level log_min = IA_LOG_INFO;

void ia_log_set(ia_log_fn fn, void *user, ia_log_level min_level)
{
    pthread_mutex_lock(&log_lock);
    log_fn = fn;
    log_user = user;
    log_min = min_level;
    pthread_mutex_unlock(&log_lock);
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
    pthread_mutex_lock(&log_lock);
    bool on = log_fn && level >= log_min;
    pthread_mutex_unlock(&log_lock);
    return on;
}

void ia__log(ia_log_level level, const char *fmt, ...)
{
    char msg[2048];
    pthread_mutex_lock(&log_lock);
    if (log_fn && level >= log_min) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        log_fn(level, msg, log_user);
    }
    pthread_mutex_unlock(&log_lock);
}

const char *ia_version(void) { return IA_VERSION_STRING; }
