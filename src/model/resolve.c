/*
 * Model references -> local model folders, in one place for the C API, the
 * CLI and the Python binding: a folder path, an IPFS reference (fetched and
 * verified through the content store) or a Hugging Face id (the shared hub
 * cache, downloading what is missing). A bare name ("all-MiniLM-L6-v2")
 * is also tried as "sentence-transformers/NAME", as sentence-transformers
 * does. A decoder may also be a single file (GGUF): the internal
 * ia__model_resolve_path takes existing files too.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core-impl.h"
#include "ipfs_accelerate/hub.h"
#include "ipfs_accelerate/model.h"
#include "ipfs_accelerate/store.h"
#include "model/model-impl.h"

static bool looks_like_path(const char *ref)
{
    return ref[0] == '/' || ref[0] == '~' || !strncmp(ref, "./", 2) || !strncmp(ref, "../", 3) ||
           !strcmp(ref, ".") || !strcmp(ref, "..");
}

/* ref with a leading "~/" expanded from $HOME, in a new string. */
static char *expand_home(const char *ref)
{
    const char *home = getenv("HOME");
    if (!strncmp(ref, "~/", 2) && home && *home)
        return ia__path_join(home, ref + 2);
    return ia__strdup(ref);
}

/* The hub snapshot of id, trying "sentence-transformers/" + id for a bare
 * name: first both from the cache alone, then both from the hub. */
static ia_status resolve_hub(const char *ref, const ia_hub_options *hub, char **out)
{
    const char *id = strncmp(ref, "hf:", 3) ? ref : ref + 3;
    const char *at = strchr(id, '@');
    const size_t name_len = at ? (size_t)(at - id) : strlen(id);
    char alt[512] = "";
    if (!memchr(id, '/', name_len))
        snprintf(alt, sizeof alt, "sentence-transformers/%s", id);
    const char *ids[2] = {id, alt};
    const int n = alt[0] ? 2 : 1;
    ia_hub_options o;
    ia__opts_copy(&o, sizeof o, hub);
    const bool offline_only = o.offline;
    o.offline = true;
    ia_status rc = IA_ERR_NOT_FOUND;
    for (int i = 0; i < n && rc; i++)
        rc = ia_hub_snapshot(ids[i], &o, out);
    if (rc && !offline_only) {
        o.offline = false;
        rc = ia_hub_snapshot(ids[0], &o, out);
        if (rc == IA_ERR_NOT_FOUND && n == 2) /* only a missing name tries the other */
            rc = ia_hub_snapshot(ids[1], &o, out);
    }
    if (!rc)
        return IA_OK;
    if (n == 2)
        return ia__error_wrap(rc, "model '%s' (no such folder; tried the Hugging Face ids %s and %s)", ref, id,
                              alt);
    return ia__error_wrap(rc, "model '%s' (no such folder; as a Hugging Face id)", ref);
}

ia_status ia_model_resolve(const char *ref, const ia_hub_options *hub, char **path)
{
    ia__error_clear();
    if (!path)
        return ia__error(IA_ERR_INVALID, "ia_model_resolve: path is NULL");
    return ia__model_resolve_path(ref, false, hub, path);
}

ia_status ia__model_resolve_path(const char *ref, bool allow_file, const ia_hub_options *hub, char **path)
{
    *path = NULL;
    if (!ref || !*ref)
        return ia__error(IA_ERR_INVALID, "model reference is empty");
    if (ia_ipfs_is_ref(ref)) { /* fetched and verified block by block */
        ia_status rc = ia_ipfs_materialize_ref(ref, path);
        return rc ? ia__error_wrap(rc, "model '%s'", ref) : IA_OK;
    }
    char *local = expand_home(ref);
    if (!local)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    struct stat sb;
    const bool exists = stat(local, &sb) == 0;
    if (exists && (S_ISDIR(sb.st_mode) || (allow_file && S_ISREG(sb.st_mode)))) {
        char *abs = realpath(local, NULL);
        ia__free(local);
        if (!abs)
            return ia__error(IA_ERR_IO, "model '%s': cannot resolve its path", ref);
        *path = ia__strdup(abs);
        free(abs);
        return *path ? IA_OK : ia__error(IA_ERR_NOMEM, "out of memory");
    }
    ia__free(local);
    if (exists)
        return ia__error(IA_ERR_NOT_FOUND, "model folder '%s' is not a folder", ref);
    const size_t n = strlen(ref);
    if (looks_like_path(ref) || (allow_file && n > 5 && !strcmp(ref + n - 5, ".gguf")))
        return ia__error(IA_ERR_NOT_FOUND, "model %s '%s' does not exist", allow_file ? "file or folder" : "folder",
                         ref);
    if (!ia_hub_is_id(ref))
        return ia__error(IA_ERR_NOT_FOUND, "model '%s' is neither a %s, a Hugging Face id (org/name) nor an "
                         "ipfs:// reference", ref, allow_file ? "file, a folder" : "folder");
    return resolve_hub(ref, hub, path);
}
