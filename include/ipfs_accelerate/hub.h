/*
 * Models by Hugging Face id: the hub's download protocol and its local
 * cache, shared with Python tools (huggingface_hub, transformers,
 * sentence-transformers) so a model downloaded by either is used by both.
 *
 * Cache layout (huggingface_hub's): CACHE/models--ORG--NAME/
 *   refs/REVISION            the commit a branch or tag points to
 *   blobs/ETAG               file contents, named by their hash
 *   snapshots/COMMIT/FILE -> ../../blobs/ETAG
 * CACHE is $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.
 *
 * Downloads: GET $HF_ENDPOINT/api/models/ID/revision/REV lists the files;
 * GET $HF_ENDPOINT/ID/resolve/REV/FILE fetches each one (HF_ENDPOINT
 * defaults to https://huggingface.co). Every file is verified against
 * the hash the hub announces (X-Linked-Etag: SHA-256 of an LFS file;
 * ETag: git blob SHA-1 of a small one) before it enters the cache.
 * Only the files an embedding model needs are fetched (configuration,
 * tokenizer, safetensors weights, sentence-transformers modules).
 *
 * Thread-safe; concurrent downloads of the same model write through
 * temporary files and rename, so readers never see a partial file.
 */
#ifndef IPFS_ACCELERATE_HUB_H
#define IPFS_ACCELERATE_HUB_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Progress of a download: file name, bytes so far and in all (0 if not
 * known yet). Called from the downloading thread. */
typedef void (*ia_hub_progress_fn)(const char *file, uint64_t done, uint64_t total, void *user);

/* Every field's zero value is its default; size is the caller's sizeof
 * (IA_HUB_OPTIONS_INIT; 0: this header's), so the struct can grow. */
typedef struct ia_hub_options {
    size_t size;
    const char *endpoint;  /* NULL: $HF_ENDPOINT, else https://huggingface.co */
    const char *cache_dir; /* NULL: as described above */
    const char *revision;  /* NULL: "main" */
    const char *token;     /* NULL: $HF_TOKEN (sent as a Bearer token) */
    bool offline;          /* only the cache; also set by HF_HUB_OFFLINE=1 */
    long timeout_s;        /* per request; 0: 30 s to connect, 300 s in all */
    ia_hub_progress_fn progress;
    void *progress_user;
} ia_hub_options;

#define IA_HUB_OPTIONS_INIT {.size = sizeof(ia_hub_options)}

/* Is ref a hub id ("org/name" or "name", optionally "hf:"-prefixed and
 * "@revision"-suffixed) rather than a path? Paths that exist win. */
IA_API bool ia_hub_is_id(const char *ref);

/* The local snapshot folder of a hub model, downloading what is missing
 * (unless offline). *path is owned by the caller (ia_free). Errors name
 * the id, URL or file: IA_ERR_NOT_FOUND (unknown id or revision, or not
 * cached when offline), IA_ERR_IO (network), IA_ERR_VERIFY (a file whose
 * bytes do not match the hub's hash). */
IA_API ia_status ia_hub_snapshot(const char *id, const ia_hub_options *opt, char **path);

#ifdef __cplusplus
}
#endif
#endif
