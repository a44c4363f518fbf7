/* Status strings and the per-thread error detail behind ia_errmsg(). */
#include <stdio.h>
#include <string.h>

#include "core-impl.h"

static _Thread_local char last_error[1024];

const char *ia_strerror(ia_status st)
{
    switch (st) {
    case IA_OK: return "ok";
    case IA_ERR_INVALID: return "invalid argument or input";
    case IA_ERR_NOMEM: return "out of memory";
    case IA_ERR_IO: return "input/output error";
    case IA_ERR_FORMAT: return "malformed data";
    case IA_ERR_UNSUPPORTED: return "unsupported";
    case IA_ERR_NOT_FOUND: return "not found";
    case IA_ERR_VERIFY: return "verification failed";
    case IA_ERR_TIMEOUT: return "timed out";
    case IA_ERR_BACKEND: return "backend failure";
    case IA_ERR_BUSY: return "busy: the queue is full";
    }
    return "unknown error";
}

const char *ia_errmsg(void) { return last_error; }

void ia__error_clear(void) { last_error[0] = '\0'; }

ia_status ia__error(ia_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return st;
}

ia_status ia__error_wrap(ia_status st, const char *fmt, ...)
{
    char prefix[512], old[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    if (old[0])
        snprintf(last_error, sizeof last_error, "%s: %s", prefix, old);
    else
        snprintf(last_error, sizeof last_error, "%s: %s", prefix, ia_strerror(st));
    return st;
}
