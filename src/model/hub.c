/*
 * The Hugging Face hub client and cache (see include/ipfs_accelerate/hub.h
 * for the protocol and layout). Files are downloaded into blobs/ under a
 * temporary name, hashed, checked against the hash the hub announced,
 * renamed into place and linked from snapshots/COMMIT/, exactly as
 * huggingface_hub does, so either tool finds what the other fetched.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core-impl.h"
#include "ipfs_accelerate/hub.h"

#define DEFAULT_ENDPOINT "https://huggingface.co"

/* ids and paths ------------------------------------------------------- */

static bool id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
}

/* Split "hf:org/name@rev" into id and revision (NULL if none). */
static bool parse_id(const char *ref, char *id, size_t cap, char *rev, size_t rev_cap)
{
    if (!strncmp(ref, "hf:", 3))
        ref += 3;
    const char *at = strchr(ref, '@');
    size_t n = at ? (size_t)(at - ref) : strlen(ref);
    if (!n || n >= cap || (at && (!at[1] || strlen(at + 1) >= rev_cap)))
        return false;
    int slashes = 0;
    for (size_t i = 0; i < n; i++) {
        if (ref[i] == '/')
            slashes++;
        else if (!id_char(ref[i]))
            return false;
    }
    if (slashes > 1 || ref[0] == '/' || ref[n - 1] == '/' || strstr(ref, ".."))
        return false;
    for (size_t i = 0; i < n; i++) /* each part starts with a letter or digit, as the hub's */
        if ((i == 0 || ref[i - 1] == '/') && !((ref[i] >= 'a' && ref[i] <= 'z') || (ref[i] >= 'A' && ref[i] <= 'Z') ||
                                              (ref[i] >= '0' && ref[i] <= '9')))
            return false;
    memcpy(id, ref, n);
    id[n] = '\0';
    rev[0] = '\0';
    if (at)
        snprintf(rev, rev_cap, "%s", at + 1);
    for (const char *p = rev; *p; p++)
        if (!id_char(*p) && *p != '/')
            return false;
    return !strstr(rev, "..");
}

bool ia_hub_is_id(const char *ref)
{
    char id[256], rev[128];
    struct stat sb;
    if (!ref || !parse_id(ref, id, sizeof id, rev, sizeof rev))
        return false;
    return !strncmp(ref, "hf:", 3) || stat(ref, &sb) != 0;
}

static char *cache_root(const ia_hub_options *opt)
{
    const char *env;
    char buf[4096];
    if (opt && opt->cache_dir)
        return ia__strdup(opt->cache_dir);
    if ((env = getenv("HF_HUB_CACHE")) && *env)
        return ia__strdup(env);
    if ((env = getenv("HF_HOME")) && *env)
        snprintf(buf, sizeof buf, "%s/hub", env);
    else if ((env = getenv("XDG_CACHE_HOME")) && *env)
        snprintf(buf, sizeof buf, "%s/huggingface/hub", env);
    else
        snprintf(buf, sizeof buf, "%s/.cache/huggingface/hub", getenv("HOME") ? getenv("HOME") : ".");
    return ia__strdup(buf);
}

static ia_status mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return ia__error(IA_ERR_IO, "%s: cannot create folder: %s", buf, strerror(errno));
            if (!(*p = c))
                break;
        }
    }
    return IA_OK;
}

/* The files of a repository an embedding model needs. */
static bool wanted(const char *f)
{
    static const char *top[] = {"config.json", "config_sentence_transformers.json",
                                "sentence_bert_config.json", "modules.json", "tokenizer.json",
                                "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                                "model.safetensors.index.json"};
    const char *slash = strchr(f, '/');
    if (!slash) {
        for (size_t i = 0; i < IA_ARRAY_LEN(top); i++)
            if (!strcmp(f, top[i]))
                return true;
        size_t n = strlen(f);
        return n > 12 && !strcmp(f + n - 12, ".safetensors");
    }
    /* sentence-transformers module folders: "1_Pooling/config.json" */
    return f[0] >= '0' && f[0] <= '9' && strchr(f, '_') && strchr(f, '_') < slash &&
           !strchr(slash + 1, '/') && !strcmp(slash + 1, "config.json");
}

/* HTTP ------------------------------------------------------------------ */

typedef struct http_get {
    FILE *file;           /* body goes here, or into buf */
    char *buf;
    size_t len, cap;
    char commit[64], etag[80], linked_etag[80];
    bool first_response_done;
    const char *name;
    const ia_hub_options *opt;
    curl_off_t total;
} http_get;

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
    http_get *g = user;
    size_t bytes = size * n;
    if (g->file)
        return fwrite(data, 1, bytes, g->file);
    if (g->len + bytes + 1 > g->cap) {
        size_t cap = (g->len + bytes + 1) * 2;
        char *b = ia__realloc(g->buf, cap);
        if (!b)
            return 0;
        g->buf = b;
        g->cap = cap;
    }
    memcpy(g->buf + g->len, data, bytes);
    g->len += bytes;
    g->buf[g->len] = '\0';
    return bytes;
}

/* Copy a header's value (quotes and W/ stripped) into out. */
static void header_value(const char *line, size_t n, size_t name_len, char *out, size_t cap)
{
    const char *v = line + name_len, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    if (end - v >= 2 && v[0] == 'W' && v[1] == '/')
        v += 2;
    if (end > v && *v == '"')
        v++;
    if (end > v && end[-1] == '"')
        end--;
    snprintf(out, cap, "%.*s", (int)(end - v), v);
}

static size_t on_header(char *line, size_t size, size_t n, void *user)
{
    http_get *g = user;
    size_t len = size * n;
    if (len >= 5 && !strncmp(line, "HTTP/", 5) && g->etag[0])
        g->first_response_done = true; /* ETag of a redirect target is the CDN's, not the hub's */
    if (len > 14 && !strncasecmp(line, "x-repo-commit:", 14))
        header_value(line, len, 14, g->commit, sizeof g->commit);
    else if (len > 14 && !strncasecmp(line, "x-linked-etag:", 14))
        header_value(line, len, 14, g->linked_etag, sizeof g->linked_etag);
    else if (len > 5 && !strncasecmp(line, "etag:", 5) && !g->first_response_done)
        header_value(line, len, 5, g->etag, sizeof g->etag);
    return len;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ut, curl_off_t un)
{
    http_get *g = user;
    if (g->opt && g->opt->progress && g->name)
        g->opt->progress(g->name, (uint64_t)dlnow, (uint64_t)dltotal, g->opt->progress_user);
    g->total = dltotal;
    return 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static ia_status http_fetch(const char *url, const ia_hub_options *opt, http_get *g)
{
    pthread_once(&curl_once, curl_init);
    CURL *c = curl_easy_init();
    if (!c)
        return ia__error(IA_ERR_NOMEM, "cannot start an HTTP client");
    struct curl_slist *hdrs = NULL;
    char auth[512];
    const char *token = opt && opt->token ? opt->token : getenv("HF_TOKEN");
    if (token && *token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    long timeout = opt && opt->timeout_s > 0 ? opt->timeout_s : 300;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout < 30 ? timeout : 30L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ipfs-accelerate/" IA_VERSION_STRING);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, g);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, g);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, g);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    if (cc != CURLE_OK)
        return ia__error(cc == CURLE_OPERATION_TIMEDOUT ? IA_ERR_TIMEOUT : IA_ERR_IO, "%s: %s", url,
                         curl_easy_strerror(cc));
    if (status == 404)
        return ia__error(IA_ERR_NOT_FOUND, "%s: not found (HTTP 404)", url);
    if (status == 401 || status == 403)
        return ia__error(IA_ERR_NOT_FOUND, "%s: HTTP %ld: the model is gated or private; set HF_TOKEN", url, status);
    if (status < 200 || status >= 300)
        return ia__error(IA_ERR_IO, "%s: HTTP %ld", url, status);
    return IA_OK;
}

/* hashing --------------------------------------------------------------- */

/* Hex digest of a file: SHA-256 of its bytes, or (git) SHA-1 of
 * "blob LEN\0" + bytes. */
static ia_status hash_file(const char *path, bool git_sha1, char *hex)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ia__error(IA_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    fstat(fileno(f), &sb);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, git_sha1 ? EVP_sha1() : EVP_sha256(), NULL);
    if (git_sha1) {
        char head[64];
        int n = snprintf(head, sizeof head, "blob %lld", (long long)sb.st_size);
        EVP_DigestUpdate(ctx, head, (size_t)n + 1);
    }
    unsigned char buf[1 << 16], md[EVP_MAX_MD_SIZE];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(ctx, buf, n);
    unsigned md_len = 0;
    EVP_DigestFinal_ex(ctx, md, &md_len);
    EVP_MD_CTX_free(ctx);
    bool failed = ferror(f);
    fclose(f);
    if (failed)
        return ia__error(IA_ERR_IO, "%s: read error", path);
    for (unsigned i = 0; i < md_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return IA_OK;
}

static bool is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* snapshot -------------------------------------------------------------- */

static ia_status download_file(const char *endpoint, const char *id, const char *commit,
                               const char *repo, const char *file, const ia_hub_options *opt)
{
    char url[4096], blob_dir[4096], tmp[4200], blob[4200], link[4200], target[4200];
    snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", endpoint, id, commit, file);
    snprintf(blob_dir, sizeof blob_dir, "%s/blobs", repo);
    ia_status rc = mkdirs(blob_dir);
    if (rc)
        return rc;
    snprintf(tmp, sizeof tmp, "%s/.%ld.%d.incomplete", blob_dir, (long)getpid(), rand());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return ia__error(IA_ERR_IO, "%s: %s", tmp, strerror(errno));
    http_get g = {.file = f, .name = file, .opt = opt};
    rc = http_fetch(url, opt, &g);
    if (fclose(f) != 0 && !rc)
        rc = ia__error(IA_ERR_IO, "%s: write error", tmp);
    const char *etag = g.linked_etag[0] ? g.linked_etag : g.etag;
    char got[2 * EVP_MAX_MD_SIZE + 1] = "";
    if (!rc && is_hex(etag, 64))
        rc = hash_file(tmp, false, got);
    else if (!rc && is_hex(etag, 40))
        rc = hash_file(tmp, true, got);
    else if (!rc)
        rc = ia__error(IA_ERR_VERIFY, "%s: the server announced no SHA-256 or git hash (ETag \"%s\"), "
                       "so the file cannot be verified", url, etag);
    if (!rc && strcmp(got, etag))
        rc = ia__error(IA_ERR_VERIFY, "%s: content hash %s does not match the hub's %s", url, got, etag);
    if (rc) {
        unlink(tmp);
        return rc;
    }
    snprintf(blob, sizeof blob, "%s/%s", blob_dir, etag);
    if (rename(tmp, blob) != 0) {
        unlink(tmp);
        return ia__error(IA_ERR_IO, "%s: %s", blob, strerror(errno));
    }
    /* snapshots/COMMIT/FILE -> ../../blobs/ETAG (one more ../ per folder level) */
    snprintf(link, sizeof link, "%s/snapshots/%s/%s", repo, commit, file);
    char *slash = strrchr(link, '/');
    *slash = '\0';
    if ((rc = mkdirs(link)))
        return rc;
    *slash = '/';
    size_t up = 2;
    for (const char *p = file; *p; p++)
        up += *p == '/';
    size_t w = 0;
    for (size_t i = 0; i < up; i++)
        w += (size_t)snprintf(target + w, sizeof target - w, "../");
    snprintf(target + w, sizeof target - w, "blobs/%s", etag);
    unlink(link);
    if (symlink(target, link) != 0)
        return ia__error(IA_ERR_IO, "%s: cannot link to %s: %s", link, target, strerror(errno));
    return IA_OK;
}

static ia_status write_ref(const char *repo, const char *rev, const char *commit)
{
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/refs/%s", repo, rev);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    ia_status rc = mkdirs(path);
    *slash = '/';
    if (rc)
        return rc;
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f || fputs(commit, f) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return ia__error(IA_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    return IA_OK;
}

/* The snapshot folder for rev from the cache alone, or NULL. */
static char *cached_snapshot(const char *repo, const char *rev)
{
    char commit[128] = "", path[4200];
    if (is_hex(rev, 40)) {
        snprintf(commit, sizeof commit, "%s", rev);
    } else {
        snprintf(path, sizeof path, "%s/refs/%s", repo, rev);
        FILE *f = fopen(path, "rb");
        if (!f)
            return NULL;
        size_t n = fread(commit, 1, sizeof commit - 1, f);
        fclose(f);
        commit[n] = '\0';
        commit[strcspn(commit, " \r\n")] = '\0';
        if (!is_hex(commit, 40))
            return NULL;
    }
    snprintf(path, sizeof path, "%s/snapshots/%s/config.json", repo, commit);
    if (!ia__file_exists(path))
        return NULL;
    path[strlen(path) - strlen("/config.json")] = '\0';
    return ia__strdup(path);
}

ia_status ia_hub_snapshot(const char *ref, const ia_hub_options *opt, char **out)
{
    ia__error_clear();
    IA_NEED(ref);
    IA_NEED(out);
    *out = NULL;
    ia_hub_options opts;
    ia__opts_copy(&opts, sizeof opts, opt);
    opt = &opts;
    char id[256], rev[128];
    if (!parse_id(ref, id, sizeof id, rev, sizeof rev))
        return ia__error(IA_ERR_INVALID, "'%s' is not a Hugging Face model id (ORG/NAME[@REVISION])",
                         ref);
    if (!rev[0])
        snprintf(rev, sizeof rev, "%s", opt && opt->revision ? opt->revision : "main");
    char *root = cache_root(opt);
    if (!root)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    char repo[4096];
    snprintf(repo, sizeof repo, "%s/models--%s", root, id);
    for (char *p = repo + strlen(root) + 8; *p; p++) /* org/name -> org--name */
        if (*p == '/') {
            memmove(p + 2, p + 1, strlen(p + 1) + 1);
            p[0] = p[1] = '-';
        }
    ia__free(root);

    const char *off = getenv("HF_HUB_OFFLINE");
    bool offline = (opt && opt->offline) || (off && (!strcmp(off, "1") || !strcasecmp(off, "true")));
    if ((*out = cached_snapshot(repo, rev)) && (offline || is_hex(rev, 40)))
        return IA_OK;
    if (offline) {
        ia__free(*out);
        *out = NULL;
        return ia__error(IA_ERR_NOT_FOUND, "%s@%s is not in the Hugging Face cache %s (offline)", id, rev, repo);
    }
    ia__free(*out); /* a branch may have moved: ask the hub */
    *out = NULL;

    const char *endpoint = opt && opt->endpoint ? opt->endpoint : getenv("HF_ENDPOINT");
    if (!endpoint || !*endpoint)
        endpoint = DEFAULT_ENDPOINT;
    char url[4096];
    snprintf(url, sizeof url, "%s/api/models/%s/revision/%s", endpoint, id, rev);
    http_get g = {.opt = NULL};
    ia_status rc = http_fetch(url, opt, &g);
    cJSON *info = rc ? NULL : cJSON_Parse(g.buf ? g.buf : "");
    ia__free(g.buf);
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(info, "sha");
    const cJSON *siblings = cJSON_GetObjectItemCaseSensitive(info, "siblings");
    if (!rc && (!cJSON_IsString(sha) || !is_hex(sha->valuestring, 40) || !cJSON_IsArray(siblings)))
        rc = ia__error(IA_ERR_FORMAT, "%s: the answer lacks a commit sha or the file list", url);
    bool has_config = false;
    const cJSON *s;
    cJSON_ArrayForEach(s, siblings) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(s, "rfilename");
        if (rc)
            break;
        if (!cJSON_IsString(name) || !wanted(name->valuestring))
            continue;
        const char *f = name->valuestring;
        if (strstr(f, "..") || f[0] == '/')
            rc = ia__error(IA_ERR_FORMAT, "%s: unsafe file name \"%s\"", url, f);
        has_config |= !strcmp(f, "config.json");
        char have[8192];
        snprintf(have, sizeof have, "%s/snapshots/%s/%s", repo, sha->valuestring, f);
        if (!rc && !ia__file_exists(have))
            rc = download_file(endpoint, id, sha->valuestring, repo, f, opt);
    }
    if (!rc && !has_config)
        rc = ia__error(IA_ERR_FORMAT, "%s@%s has no config.json: not a model this engine can load", id, rev);
    if (!rc && strcmp(rev, sha->valuestring))
        rc = write_ref(repo, rev, sha->valuestring);
    if (!rc) {
        char path[4200];
        snprintf(path, sizeof path, "%s/snapshots/%s", repo, sha->valuestring);
        if (!(*out = ia__strdup(path)))
            rc = ia__error(IA_ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(info);
    return rc;
}
