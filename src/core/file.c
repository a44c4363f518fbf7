/* Small file, clock and hashing utilities shared by the loaders. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core-impl.h"

ia_status ia__read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ia__error(errno == ENOENT ? IA_ERR_NOT_FOUND : IA_ERR_IO,
                         "%s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = ia__malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1)
            break;
        char *bigger = ia__realloc(buf, cap * 2);
        if (!bigger) {
            ia__free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf)
        return ia__error(IA_ERR_NOMEM, "%s: out of memory reading file", path);
    if (failed) {
        ia__free(buf);
        return ia__error(IA_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return IA_OK;
}

ia_status ia__read_json(const char *path, cJSON **out)
{
    char *text = NULL;
    *out = NULL;
    ia_status rc = ia__read_file(path, &text, NULL);
    if (rc)
        return rc;
    cJSON *root = cJSON_Parse(text);
    ia__free(text);
    if (!cJSON_IsObject(root) && !cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return ia__error(IA_ERR_FORMAT, "%s: not valid JSON", path);
    }
    *out = root;
    return IA_OK;
}

char *ia__path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    bool slash = a > 0 && dir[a - 1] != '/';
    char *r = ia__malloc(a + slash + b + 1);
    if (!r)
        return NULL;
    memcpy(r, dir, a);
    if (slash)
        r[a] = '/';
    memcpy(r + a + slash, name, b + 1);
    return r;
}

bool ia__file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

uint64_t ia__hash(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3u;
    return h;
}

double ia__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
