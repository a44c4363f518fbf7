/*
 * Backend registry: the built-in backends are registered once, on first
 * use; later ones (dlopen'ed CUDA, OpenCL...) register the same way.
 * Lookup is by name; "auto" takes the first registered in priority order.
 */
#include <pthread.h>
#include <string.h>

#include "backend/backend-impl.h"

#define MAX_BACKENDS 16

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;
static const ia_backend *backends[MAX_BACKENDS];
static int n_backends;

static ia_status register_locked(const ia_backend *be)
{
    if (be->api_version != IA_BACKEND_API_VERSION)
        return ia__error(IA_ERR_UNSUPPORTED, "backend '%s' has interface version %d, this library speaks %d",
                         be->name, be->api_version, IA_BACKEND_API_VERSION);
    for (int i = 0; i < n_backends; i++)
        if (!strcmp(backends[i]->name, be->name))
            return ia__error(IA_ERR_INVALID, "backend '%s' is already registered", be->name);
    if (n_backends == MAX_BACKENDS)
        return ia__error(IA_ERR_NOMEM, "too many backends");
    backends[n_backends++] = be;
    return IA_OK;
}

static void register_builtins(void)
{
    pthread_mutex_lock(&reg_lock);
    register_locked(ia__backend_cpu());
    pthread_mutex_unlock(&reg_lock);
}

ia_status ia__backend_register(const ia_backend *be)
{
    pthread_once(&builtins_once, register_builtins);
    pthread_mutex_lock(&reg_lock);
    ia_status rc = register_locked(be);
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

const ia_backend *ia__backend_find(const char *name)
{
    pthread_once(&builtins_once, register_builtins);
    const ia_backend *found = NULL;
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < n_backends && !found; i++)
        if (!strcmp(name, "auto") || !strcmp(backends[i]->name, name))
            found = backends[i];
    pthread_mutex_unlock(&reg_lock);
    return found;
}
