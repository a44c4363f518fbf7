/*
 * Backend plugins: shared objects found in the directories of
 * IPFS_ACCELERATE_BACKEND_PATH, opened with dlopen at registry start-up
 * (registry.c), each exporting the entry point of the plugin ABI
 * (backend-impl.h). A plugin links nothing of ours: the library's internal
 * symbols are hidden, so the services a plugin needs (node checks, error
 * messages, logging) are lent to it in an ia_plugin_host table. A file that
 * cannot be used is skipped with a warning naming it and the reason.
 * Without the variable, the plugins installed beside the library are
 * loaded (ia__plugin_default_dirs).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend-impl.h"

static const ia_plugin_host host = {
    .api_version = IA_BACKEND_API_VERSION,
    .node_check = ia__node_check,
    .op_name = ia__op_name,
    .tensor_contiguous = ia__tensor_contiguous,
    .tensor_nelements = ia__tensor_nelements,
    .error = ia__error,
    .error_wrap = ia__error_wrap,
    .log = ia__log,
    .dtype = ia__dtype,
    .tensor_span = ia__tensor_span,
    .rope_inv_freq = ia__rope_inv_freq,
    .attn_rel_bucket = ia__attn_rel_bucket,
};

/* The first required slot `be` lacks, or NULL. */
static const char *missing_required(const ia_backend *be)
{
    const struct ia_backend_i *f = &be->iface;
    if (!be->name || !*be->name)
        return "name";
    if (!f->device_count)
        return "device_count";
    if (!f->resolve_precision)
        return "resolve_precision";
    if (!f->open)
        return "open";
    if (!f->close)
        return "close";
    if (!f->buf_alloc)
        return "buf_alloc";
    if (!f->buf_free)
        return "buf_free";
    if (!f->supports)
        return "supports";
    if (!f->graph_compute)
        return "graph_compute";
    if (!f->weight_prepare != !f->weight_release)
        return f->weight_prepare ? "weight_release (weight_prepare is set)" : "weight_prepare (weight_release is set)";
    return NULL;
}

ia_status ia__plugin_open(const char *path, const ia_backend **out)
{
    *out = NULL;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        return ia__error(IA_ERR_BACKEND, "backend plugin %s: dlopen failed: %s", path, e ? e : "unknown error");
    }
    dlerror();
    /* POSIX: a data pointer from dlsym converts to a function pointer. */
    void *sym = dlsym(h, IA_BACKEND_PLUGIN_ENTRY);
    ia_backend_plugin_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    if (!sym) {
        dlclose(h);
        return ia__error(IA_ERR_BACKEND, "backend plugin %s: no entry point %s() (not a backend plugin?)", path,
                         IA_BACKEND_PLUGIN_ENTRY);
    }
    const ia_backend *be = entry(IA_BACKEND_API_VERSION, &host);
    ia_status rc = IA_OK;
    const char *miss;
    if (!be)
        rc = ia__error(IA_ERR_UNSUPPORTED, "backend plugin %s: %s(%d) returned NULL: it cannot serve backend "
                       "interface version %d", path, IA_BACKEND_PLUGIN_ENTRY, IA_BACKEND_API_VERSION,
                       IA_BACKEND_API_VERSION);
    else if (be->api_version != IA_BACKEND_API_VERSION)
        rc = ia__error(IA_ERR_UNSUPPORTED, "backend plugin %s: backend '%s' has interface version %d, this library "
                       "speaks %d", path, be->name ? be->name : "?", be->api_version, IA_BACKEND_API_VERSION);
    else if ((miss = missing_required(be)))
        rc = ia__error(IA_ERR_BACKEND, "backend plugin %s: backend '%s' lacks the required slot %s", path,
                       be->name ? be->name : "?", miss);
    if (rc) {
        dlclose(h);
        return rc;
    }
    *out = be; /* the handle stays open for the life of the process */
    return IA_OK;
}

static int is_so(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 3 && !strcmp(d->d_name + n - 3, ".so");
}

int ia__plugin_load_dirs(const char *dirs, ia_status (*reg)(const ia_backend *be))
{
    if (!dirs || !*dirs)
        return 0;
    int loaded = 0;
    const char *p = dirs;
    while (*p) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char dir[4096];
        if (len > 0 && len < sizeof dir) {
            memcpy(dir, p, len);
            dir[len] = '\0';
            struct dirent **names = NULL;
            int n = scandir(dir, &names, is_so, alphasort);
            if (n < 0)
                ia__log(IA_LOG_WARN, "%s: directory %s cannot be read; no plugins from it", IA_BACKEND_PATH_ENV, dir);
            for (int i = 0; i < n; i++) {
                char path[4096 + 256];
                snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
                free(names[i]);
                const ia_backend *be;
                ia_status rc = ia__plugin_open(path, &be);
                if (!rc) {
                    rc = reg(be);
                    if (rc) {
                        /* Not registered: nothing refers to it. dlopen of the
                         * same file again returns the same handle, so close
                         * it once to drop only this load's reference. */
                        ia__error_wrap(rc, "backend plugin %s", path);
                        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
                        if (h) {
                            dlclose(h);
                            dlclose(h);
                        }
                    }
                }
                if (rc)
                    ia__log(IA_LOG_WARN, "skipping backend plugin: %s", ia_errmsg());
                else {
                    loaded++;
                    ia__log(IA_LOG_INFO, "backend plugin %s: registered backend '%s'", path, be->name);
                }
            }
            free(names);
        } else if (len >= sizeof dir) {
            ia__log(IA_LOG_WARN, "%s: a directory name of %zu bytes is too long; skipped", IA_BACKEND_PATH_ENV, len);
        }
        p += len;
        if (*p == ':')
            p++;
    }
    return loaded;
}

#ifndef IA_PLUGIN_LIBDIR
#define IA_PLUGIN_LIBDIR "lib" /* CMAKE_INSTALL_LIBDIR */
#endif

/* Append dir to the list in buf when it exists and is not there yet. */
static void add_dir(char *buf, size_t cap, const char *dir)
{
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(dir, real) || stat(real, &st) || !S_ISDIR(st.st_mode))
        return;
    const size_t n = strlen(real);
    for (const char *p = buf; *p;) { /* already listed */
        const char *end = strchr(p, ':');
        const size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !memcmp(p, real, n))
            return;
        p += len + (end != NULL);
    }
    const size_t used = strlen(buf);
    if (used + n + 2 <= cap)
        snprintf(buf + used, cap - used, "%s%s", used ? ":" : "", real);
}

const char *ia__plugin_default_dirs(char *buf, size_t cap)
{
    buf[0] = '\0';
    /* The file holding this code: the shared library, or the program it
     * is linked into (whose name dladdr gives only as typed, so it is read
     * from /proc). */
    Dl_info info;
    struct link_map *lm = NULL;
    char self[PATH_MAX];
    if (!dladdr1((void *)(uintptr_t)ia__plugin_default_dirs, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
        return buf;
    if (lm->l_name && lm->l_name[0])
        snprintf(self, sizeof self, "%s", lm->l_name);
    else {
        const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            return buf;
        self[n] = '\0';
    }
    char *slash = strrchr(self, '/');
    if (!slash)
        return buf;
    *slash = '\0';
    char dir[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/" IA_PLUGIN_SUBDIR, self);
    add_dir(buf, cap, dir);
    snprintf(dir, sizeof dir, "%s/../" IA_PLUGIN_LIBDIR "/" IA_PLUGIN_SUBDIR, self);
    add_dir(buf, cap, dir);
    return buf;
}
