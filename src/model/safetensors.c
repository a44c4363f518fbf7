/*
 * safetensors: an 8-byte little-endian header length, a JSON header
 * {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
 * then the raw tensor bytes. Everything the header claims is checked against
 * the file size before any byte is read, so truncated or hostile files fail
 * with a message instead of a crash.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/safetensors-impl.h"

struct mapping {
    char *path;
    void *base;
    size_t size;
};

struct ia_safetensors {
    struct mapping *maps;
    size_t n_maps;
    ia_st_tensor *tensors;
    size_t n_tensors, cap_tensors;
};

const char *ia__st_dtype_name(ia_dtype dt)
{
    switch (dt) {
    case IA_DTYPE_F32: return "F32";
    case IA_DTYPE_F16: return "F16";
    case IA_DTYPE_BF16: return "BF16";
    case IA_DTYPE_I64: return "I64";
    default: break;
    }
    return "other";
}

static size_t dtype_size(const char *name)
{
    static const struct { const char *n; size_t s; } sizes[] = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
        {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1},
        {"U16", 2}, {"U32", 4}, {"U64", 8}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
    };
    for (size_t i = 0; i < IA_ARRAY_LEN(sizes); i++)
        if (!strcmp(sizes[i].n, name))
            return sizes[i].s;
    return 0;
}

static ia_dtype dtype_of(const char *name)
{
    if (!strcmp(name, "F32")) return IA_DTYPE_F32;
    if (!strcmp(name, "F16")) return IA_DTYPE_F16;
    if (!strcmp(name, "BF16")) return IA_DTYPE_BF16;
    if (!strcmp(name, "I64")) return IA_DTYPE_I64;
    return IA_DTYPE_OTHER;
}

void ia__st_close(ia_safetensors *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n_tensors; i++)
        ia__free(st->tensors[i].name);
    for (size_t i = 0; i < st->n_maps; i++) {
        if (st->maps[i].base)
            munmap(st->maps[i].base, st->maps[i].size);
        ia__free(st->maps[i].path);
    }
    ia__free(st->tensors);
    ia__free(st->maps);
    ia__free(st);
}

static ia_status add_tensor(ia_safetensors *st, const struct mapping *m,
                            size_t data_start, const cJSON *item)
{
    const char *name = item->string, *path = m->path;
    if (!cJSON_IsObject(item))
        return ia__error(IA_ERR_FORMAT, "%s: tensor '%s': header entry is not an object", path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
        cJSON_GetArraySize(offs) != 2)
        return ia__error(IA_ERR_FORMAT, "%s: tensor '%s': needs dtype, shape and data_offsets[2]", path, name);
    size_t esize = dtype_size(dt->valuestring);
    if (!esize || strlen(dt->valuestring) >= sizeof st->tensors[0].dtype_name)
        return ia__error(IA_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", path, name, dt->valuestring);
    int nd = cJSON_GetArraySize(shape);
    if (nd > IA_MAX_DIMS)
        return ia__error(IA_ERR_UNSUPPORTED, "%s: tensor '%s': %d dimensions (at most %d supported)", path, name, nd, IA_MAX_DIMS);

    ia_st_tensor t = {0};
    t.dtype = dtype_of(dt->valuestring);
    strcpy(t.dtype_name, dt->valuestring);
    t.n_dims = nd;
    t.file = m->path;
    uint64_t numel = 1;
    for (int i = 0; i < nd; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 1e12 ||
            d->valuedouble != (double)(int64_t)d->valuedouble)
            return ia__error(IA_ERR_FORMAT, "%s: tensor '%s': bad shape", path, name);
        t.shape[i] = (int64_t)d->valuedouble;
        if (t.shape[i] && numel > UINT64_MAX / (uint64_t)t.shape[i])
            return ia__error(IA_ERR_FORMAT, "%s: tensor '%s': shape overflows", path, name);
        numel *= (uint64_t)t.shape[i];
    }
    double b = cJSON_GetArrayItem(offs, 0)->valuedouble;
    double e = cJSON_GetArrayItem(offs, 1)->valuedouble;
    size_t avail = m->size - data_start;
    if (!(b >= 0 && e >= b && e <= (double)avail))
        return ia__error(IA_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets [%.0f, %.0f] outside the %zu data bytes (file truncated?)",
                         path, name, b, e, avail);
    t.nbytes = (size_t)e - (size_t)b;
    if (numel > SIZE_MAX / esize || numel * esize != t.nbytes)
        return ia__error(IA_ERR_FORMAT, "%s: tensor '%s': %zu bytes do not hold %llu elements of %s",
                         path, name, t.nbytes, (unsigned long long)numel, t.dtype_name);
    t.data = (const uint8_t *)m->base + data_start + (size_t)b;

    ia_st_tensor *nt = ia__grow(st->tensors, st->n_tensors, &st->cap_tensors, sizeof *nt, 64);
    if (!nt)
        return ia__error(IA_ERR_NOMEM, "%s: out of memory", path);
    st->tensors = nt;
    if (!(t.name = ia__strdup(name)))
        return ia__error(IA_ERR_NOMEM, "%s: out of memory", path);
    st->tensors[st->n_tensors++] = t;
    return IA_OK;
}

/* Map `path` and index its tensors into st. */
static ia_status load_file(ia_safetensors *st, const char *path)
{
    struct mapping *maps = ia__realloc(st->maps, (st->n_maps + 1) * sizeof *maps);
    if (!maps)
        return ia__error(IA_ERR_NOMEM, "%s: out of memory", path);
    st->maps = maps;
    struct mapping *m = &maps[st->n_maps];
    *m = (struct mapping){0};
    if (!(m->path = ia__strdup(path)))
        return ia__error(IA_ERR_NOMEM, "%s: out of memory", path);
    st->n_maps++;

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ia__error(errno == ENOENT ? IA_ERR_NOT_FOUND : IA_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return ia__error(IA_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (sb.st_size < 8) {
        close(fd);
        return ia__error(IA_ERR_FORMAT, "%s: %lld bytes, too short for a safetensors file", path, (long long)sb.st_size);
    }
    m->size = (size_t)sb.st_size;
    m->base = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m->base == MAP_FAILED) {
        m->base = NULL;
        return ia__error(IA_ERR_IO, "%s: mmap: %s", path, strerror(errno));
    }
    const uint8_t *p = m->base;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | p[i];
    if (hlen == 0 || hlen > m->size - 8 || hlen > 100u << 20)
        return ia__error(IA_ERR_FORMAT, "%s: header length %llu does not fit the %zu-byte file (not safetensors, or truncated)",
                         path, (unsigned long long)hlen, m->size);
    cJSON *hdr = cJSON_ParseWithLength((const char *)p + 8, (size_t)hlen);
    if (!cJSON_IsObject(hdr)) {
        cJSON_Delete(hdr);
        return ia__error(IA_ERR_FORMAT, "%s: header is not a JSON object", path);
    }
    ia_status rc = IA_OK;
    const cJSON *item;
    cJSON_ArrayForEach(item, hdr) {
        if (!strcmp(item->string, "__metadata__"))
            continue;
        if ((rc = add_tensor(st, m, 8 + (size_t)hlen, item)) != IA_OK)
            break;
    }
    cJSON_Delete(hdr);
    if (rc == IA_OK)
        madvise(m->base, m->size, MADV_WILLNEED);
    return rc;
}

ia_status ia__st_open_file(const char *path, ia_safetensors **out)
{
    ia_safetensors *st = ia__calloc(1, sizeof *st);
    if (!st)
        return ia__error(IA_ERR_NOMEM, "out of memory");
    ia_status rc = load_file(st, path);
    if (rc != IA_OK) {
        ia__st_close(st);
        return rc;
    }
    *out = st;
    return IA_OK;
}

/* Sharded checkpoints: the index maps tensor names to shard files; each
 * distinct shard is loaded once. */
static ia_status load_index(ia_safetensors *st, const char *dir, const char *index_path)
{
    cJSON *idx;
    ia_status rc = ia__read_json(index_path, &idx);
    if (rc != IA_OK)
        return rc;
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(idx, "weight_map");
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(idx);
        return ia__error(IA_ERR_FORMAT, "%s: no \"weight_map\" object", index_path);
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, map) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/') || e->valuestring[0] == '.') {
            rc = ia__error(IA_ERR_FORMAT, "%s: weight_map entry '%s' is not a plain file name", index_path, e->string);
            break;
        }
        char *shard = ia__path_join(dir, e->valuestring);
        if (!shard) {
            rc = ia__error(IA_ERR_NOMEM, "out of memory");
            break;
        }
        bool seen = false;
        for (size_t i = 0; i < st->n_maps && !seen; i++)
            seen = !strcmp(st->maps[i].path, shard);
        if (!seen)
            rc = load_file(st, shard);
        ia__free(shard);
        if (rc != IA_OK)
            break;
    }
    cJSON_Delete(idx);
    return rc;
}

ia_status ia__st_open_dir(const char *dir, ia_safetensors **out)
{
    char *single = ia__path_join(dir, "model.safetensors");
    char *index = ia__path_join(dir, "model.safetensors.index.json");
    ia_safetensors *st = ia__calloc(1, sizeof *st);
    ia_status rc;
    if (!single || !index || !st)
        rc = ia__error(IA_ERR_NOMEM, "out of memory");
    else if (ia__file_exists(single))
        rc = load_file(st, single);
    else if (ia__file_exists(index))
        rc = load_index(st, dir, index);
    else
        rc = ia__error(IA_ERR_NOT_FOUND, "%s: no model.safetensors or model.safetensors.index.json "
                       "(only safetensors weights are supported)", dir);
    ia__free(single);
    ia__free(index);
    if (rc != IA_OK) {
        ia__st_close(st);
        return rc;
    }
    *out = st;
    return IA_OK;
}

size_t ia__st_count(const ia_safetensors *st) { return st->n_tensors; }
const ia_st_tensor *ia__st_at(const ia_safetensors *st, size_t i) { return &st->tensors[i]; }

const ia_st_tensor *ia__st_find(const ia_safetensors *st, const char *name)
{
    for (size_t i = 0; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i].name, name))
            return &st->tensors[i];
    return NULL;
}

size_t ia__st_numel(const ia_st_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->n_dims; i++)
        n *= (size_t)t->shape[i];
    return n;
}

void ia__st_to_f32(const ia_st_tensor *t, float *dst)
{
    size_t n = ia__st_numel(t);
    const uint8_t *s = t->data;
    switch (t->dtype) {
    case IA_DTYPE_F32:
        memcpy(dst, s, n * 4);
        break;
    case IA_DTYPE_F16:
        for (size_t i = 0; i < n; i++)
            dst[i] = ia__f16_to_f32((uint16_t)(s[2 * i] | s[2 * i + 1] << 8));
        break;
    case IA_DTYPE_BF16:
        for (size_t i = 0; i < n; i++)
            dst[i] = ia__bf16_to_f32((uint16_t)(s[2 * i] | s[2 * i + 1] << 8));
        break;
    default:
        memset(dst, 0, n * 4); /* callers check the dtype first */
        break;
    }
}
