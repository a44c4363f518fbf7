/*
 * The cluster's wire formats and content-derived ids (cluster-impl.h): what
 * a submitter and a worker must agree on byte for byte, kept apart from the
 * NATS code so it builds, and can be tested, without libnats.
 */
#include <string.h>

#include <openssl/evp.h>

#include "cluster/cluster-impl.h"
#include "core/core-impl.h"
#include "ipfs_accelerate/store.h"

ia_status ia__cluster_model_name(const char *model, char out[64])
{
    IA_NEED(model);
    size_t len = strlen(model);
    while (len > 1 && model[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && model[start - 1] != '/')
        start--;
    size_t n = len - start;
    if (n == 0 || (n == 1 && model[start] == '.') || (n == 2 && !strncmp(model + start, "..", 2)))
        return ia__error(IA_ERR_INVALID, "model '%s': cannot name it (use the model folder's path)", model);
    if (n > 63)
        n = 63;
    for (size_t i = 0; i < n; i++) {
        char ch = model[start + i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '_' || ch == '-';
        out[i] = ok ? ch : '_';
    }
    out[n] = '\0';
    return IA_OK;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A task id: the first bytes of its SHA-256, in lowercase hex. */
static void id_of_digest(const uint8_t md[32], char id[IA_CLUSTER_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < IA_CLUSTER_ID_LEN / 2; i++) {
        id[2 * i] = hex[md[i] >> 4];
        id[2 * i + 1] = hex[md[i] & 15];
    }
    id[IA_CLUSTER_ID_LEN] = '\0';
}

ia_status ia__cluster_shard_id(const char *model_name, const ia_cluster_task_opts *o,
                               const char *const *texts, const size_t *lens, size_t n,
                               char id[IA_CLUSTER_ID_LEN + 1])
{
    IA_NEED(model_name);
    IA_NEED(o);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return ia__error(IA_ERR_NOMEM, "shard id: out of memory");
    uint8_t b[8];
    bool ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
              EVP_DigestUpdate(ctx, "ia-embed-v1", 12) &&
              EVP_DigestUpdate(ctx, model_name, strlen(model_name) + 1);
    put_u32(b, (uint32_t)o->dimensions);
    put_u32(b + 4, o->prompt_name ? (uint32_t)strlen(o->prompt_name) : 0xffffffffu);
    ok = ok && EVP_DigestUpdate(ctx, b, 8);
    if (o->prompt_name)
        ok = ok && EVP_DigestUpdate(ctx, o->prompt_name, strlen(o->prompt_name));
    put_u32(b, (uint32_t)n);
    ok = ok && EVP_DigestUpdate(ctx, b, 4);
    for (size_t i = 0; i < n && ok; i++) {
        put_u32(b, (uint32_t)lens[i]);
        ok = EVP_DigestUpdate(ctx, b, 4) && EVP_DigestUpdate(ctx, texts[i], lens[i]);
    }
    uint8_t md[32];
    unsigned mdlen = 0;
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return ia__error(IA_ERR_BACKEND, "shard id: SHA-256 failed");
    id_of_digest(md, id);
    return IA_OK;
}

ia_status ia__cluster_task_encode(const ia_cluster_task_opts *o, const char *const *texts,
                                  const size_t *lens, size_t n, uint8_t **out, size_t *out_len)
{
    size_t plen = o->prompt_name ? strlen(o->prompt_name) : 0;
    size_t total = 4 + 4 + 4 + plen + 4;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] > UINT32_MAX)
            return ia__error(IA_ERR_INVALID, "text %zu of the shard is longer than 4 GiB", i);
        total += 4 + lens[i];
    }
    uint8_t *p = ia__malloc(total);
    if (!p)
        return ia__error(IA_ERR_NOMEM, "task of %zu bytes: out of memory", total);
    uint8_t *w = p;
    memcpy(w, "IAT1", 4), w += 4;
    put_u32(w, (uint32_t)o->dimensions), w += 4;
    put_u32(w, o->prompt_name ? (uint32_t)plen : 0xffffffffu), w += 4;
    if (plen)
        memcpy(w, o->prompt_name, plen), w += plen;
    put_u32(w, (uint32_t)n), w += 4;
    for (size_t i = 0; i < n; i++) {
        put_u32(w, (uint32_t)lens[i]), w += 4;
        if (lens[i])
            memcpy(w, texts[i], lens[i]), w += lens[i];
    }
    *out = p;
    *out_len = total;
    return IA_OK;
}

ia_status ia__cluster_task_decode(const uint8_t *body, size_t len, ia_cluster_task *t)
{
    memset(t, 0, sizeof *t);
    if (len < 16 || memcmp(body, "IAT1", 4))
        return ia__error(IA_ERR_FORMAT, "task: not an IAT1 task body (%zu bytes)", len);
    const uint8_t *r = body + 4, *end = body + len;
    uint32_t dims = get_u32(r), plen = get_u32(r + 4);
    r += 8;
    if (dims > (1u << 20))
        return ia__error(IA_ERR_FORMAT, "task: dimensions %u out of range", dims);
    t->opts.dimensions = (int)dims;
    if (plen != 0xffffffffu) {
        if (plen > (size_t)(end - r))
            return ia__error(IA_ERR_FORMAT, "task: prompt name runs past the end");
        if (memchr(r, '\0', plen)) /* a name is a C string */
            return ia__error(IA_ERR_FORMAT, "task: the prompt name holds a NUL byte");
        if (!(t->prompt = ia__strndup((const char *)r, plen)))
            return ia__error(IA_ERR_NOMEM, "task: out of memory");
        t->opts.prompt_name = t->prompt;
        r += plen;
    }
    if (end - r < 4) {
        ia__cluster_task_close(t);
        return ia__error(IA_ERR_FORMAT, "task: truncated before the text count");
    }
    uint32_t n = get_u32(r);
    r += 4;
    if (n > (size_t)(end - r) / 4) {
        ia__cluster_task_close(t);
        return ia__error(IA_ERR_FORMAT, "task: %u texts cannot fit in %zu bytes", n, (size_t)(end - r));
    }
    t->texts = ia__calloc(n ? n : 1, sizeof *t->texts);
    t->lens = ia__calloc(n ? n : 1, sizeof *t->lens);
    if (!t->texts || !t->lens) {
        ia__cluster_task_close(t);
        return ia__error(IA_ERR_NOMEM, "task: out of memory");
    }
    for (uint32_t i = 0; i < n; i++) {
        if (end - r < 4 || get_u32(r) > (size_t)(end - r - 4)) {
            ia__cluster_task_close(t);
            return ia__error(IA_ERR_FORMAT, "task: text %u runs past the end", i);
        }
        t->lens[i] = get_u32(r);
        t->texts[i] = (const char *)r + 4;
        r += 4 + t->lens[i];
    }
    if (r != end) {
        ia__cluster_task_close(t);
        return ia__error(IA_ERR_FORMAT, "task: %zu bytes after the last text", (size_t)(end - r));
    }
    t->n = n;
    return IA_OK;
}

void ia__cluster_task_close(ia_cluster_task *t)
{
    ia__free(t->prompt);
    ia__free(t->texts);
    ia__free(t->lens);
    memset(t, 0, sizeof *t);
}

ia_status ia__cluster_result_encode(const float *vecs, size_t n, int dim, uint8_t **out, size_t *out_len)
{
    size_t count = n * (size_t)dim, total = 12 + count * 4;
    uint8_t *p = ia__malloc(total);
    if (!p)
        return ia__error(IA_ERR_NOMEM, "result of %zu bytes: out of memory", total);
    memcpy(p, "IAR1", 4);
    put_u32(p + 4, (uint32_t)n);
    put_u32(p + 8, (uint32_t)dim);
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &vecs[i], 4);
        put_u32(p + 12 + 4 * i, bits);
    }
    *out = p;
    *out_len = total;
    return IA_OK;
}

ia_status ia__cluster_result_decode(const uint8_t *body, size_t len, float **vecs, size_t *n, int *dim)
{
    if (len < 12 || memcmp(body, "IAR1", 4))
        return ia__error(IA_ERR_FORMAT, "result: not an IAR1 result body (%zu bytes)", len);
    uint32_t rn = get_u32(body + 4), rd = get_u32(body + 8);
    if (rd == 0 || rd > (1u << 20) || (uint64_t)rn * rd * 4 != len - 12)
        return ia__error(IA_ERR_FORMAT, "result: %u x %u floats do not fill %zu bytes", rn, rd, len - 12);
    size_t count = (size_t)rn * rd;
    float *v = ia__malloc(count ? count * sizeof *v : 1);
    if (!v)
        return ia__error(IA_ERR_NOMEM, "result: out of memory");
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = get_u32(body + 12 + 4 * i);
        memcpy(&v[i], &bits, 4);
    }
    *vecs = v;
    *n = rn;
    *dim = (int)rd;
    return IA_OK;
}

/* ---- ids tasks (serve --cluster) ---- */

ia_status ia__cluster_ids_encode(const ia_cluster_ids_task *t, uint8_t **out, size_t *out_len)
{
    size_t clen = strlen(t->model_cid), total = 4 + 4 + clen + 5 * 4;
    for (size_t i = 0; i < t->n; i++) {
        if (t->n_ids[i] > (1u << 24))
            return ia__error(IA_ERR_INVALID, "input %zu of the task has %zu tokens, too many", i, t->n_ids[i]);
        total += 4 + t->n_ids[i] * 4 * (t->types ? 2 : 1);
    }
    uint8_t *p = ia__malloc(total);
    if (!p)
        return ia__error(IA_ERR_NOMEM, "task of %zu bytes: out of memory", total);
    uint8_t *w = p;
    memcpy(w, "IAI1", 4), w += 4;
    put_u32(w, (uint32_t)clen), w += 4;
    memcpy(w, t->model_cid, clen), w += clen;
    put_u32(w, (uint32_t)t->kind), w += 4;
    put_u32(w, t->normalize ? 1 : 0), w += 4;
    put_u32(w, (uint32_t)t->dim), w += 4;
    put_u32(w, (uint32_t)t->n), w += 4;
    put_u32(w, t->types ? 1 : 0), w += 4;
    for (size_t i = 0; i < t->n; i++) {
        put_u32(w, (uint32_t)t->n_ids[i]), w += 4;
        for (size_t k = 0; k < t->n_ids[i]; k++, w += 4)
            put_u32(w, (uint32_t)t->ids[i][k]);
        for (size_t k = 0; t->types && k < t->n_ids[i]; k++, w += 4)
            put_u32(w, (uint32_t)(t->types[i] ? t->types[i][k] : 0));
    }
    *out = p;
    *out_len = total;
    return IA_OK;
}

void ia__cluster_ids_close(ia_cluster_ids_task *t)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->ids)
            ia__free((void *)t->ids[i]);
        if (t->types)
            ia__free((void *)t->types[i]);
    }
    ia__free(t->ids);
    ia__free(t->types);
    ia__free(t->n_ids);
    memset(t, 0, sizeof *t);
}

ia_status ia__cluster_ids_decode(const uint8_t *body, size_t len, ia_cluster_ids_task *t)
{
    memset(t, 0, sizeof *t);
    if (len < 8 || memcmp(body, "IAI1", 4))
        return ia__error(IA_ERR_FORMAT, "task: not an IAI1 task body (%zu bytes)", len);
    const uint8_t *r = body + 4, *end = body + len;
    uint32_t clen = get_u32(r);
    r += 4;
    if (clen >= IA_CID_STR_MAX || clen > (size_t)(end - r) || (size_t)(end - r) - clen < 20)
        return ia__error(IA_ERR_FORMAT, "task: the model CID runs past the end");
    if (memchr(r, '\0', clen))
        return ia__error(IA_ERR_FORMAT, "task: the model CID holds a NUL byte");
    memcpy(t->model_cid, r, clen);
    t->model_cid[clen] = '\0';
    r += clen;
    uint32_t kind = get_u32(r), norm = get_u32(r + 4), dim = get_u32(r + 8), n = get_u32(r + 12),
             has_types = get_u32(r + 16);
    r += 20;
    if (kind > IA_IDS_CLASSIFY_RAW || norm > 1 || has_types > 1 || dim == 0 || dim > (1u << 20))
        return ia__error(IA_ERR_FORMAT, "task: kind %u, normalize %u, dim %u or types %u out of range", kind, norm,
                         dim, has_types);
    if (n > (size_t)(end - r) / 4)
        return ia__error(IA_ERR_FORMAT, "task: %u inputs cannot fit in %zu bytes", n, (size_t)(end - r));
    t->kind = (int)kind;
    t->normalize = norm;
    t->dim = (int)dim;
    t->ids = ia__calloc(n ? n : 1, sizeof *t->ids);
    t->n_ids = ia__calloc(n ? n : 1, sizeof *t->n_ids);
    t->types = has_types ? ia__calloc(n ? n : 1, sizeof *t->types) : NULL;
    if (!t->ids || !t->n_ids || (has_types && !t->types)) {
        ia__cluster_ids_close(t);
        return ia__error(IA_ERR_NOMEM, "task: out of memory");
    }
    t->n = n;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t cnt = end - r >= 4 ? get_u32(r) : UINT32_MAX;
        size_t need = (size_t)cnt * 4 * (has_types ? 2 : 1);
        if (cnt == UINT32_MAX || cnt > (1u << 24) || need > (size_t)(end - r - 4)) {
            ia__cluster_ids_close(t);
            return ia__error(IA_ERR_FORMAT, "task: input %u runs past the end", i);
        }
        r += 4;
        int32_t *ids = ia__malloc((cnt ? cnt : 1) * sizeof *ids), *types = NULL;
        if (has_types)
            types = ia__malloc((cnt ? cnt : 1) * sizeof *types);
        t->ids[i] = ids;
        if (has_types)
            t->types[i] = types;
        if (!ids || (has_types && !types)) {
            ia__cluster_ids_close(t);
            return ia__error(IA_ERR_NOMEM, "task: out of memory");
        }
        for (uint32_t k = 0; k < cnt; k++, r += 4)
            ids[k] = (int32_t)get_u32(r);
        for (uint32_t k = 0; has_types && k < cnt; k++, r += 4)
            types[k] = (int32_t)get_u32(r);
        t->n_ids[i] = cnt;
    }
    if (r != end) {
        ia__cluster_ids_close(t);
        return ia__error(IA_ERR_FORMAT, "task: %zu bytes after the last input", (size_t)(end - r));
    }
    return IA_OK;
}

ia_status ia__cluster_ids_shard_id(const char *model_name, const uint8_t *body, size_t len,
                                   char id[IA_CLUSTER_ID_LEN + 1])
{
    IA_NEED(model_name);
    uint8_t md[32];
    unsigned mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, "ia-ids-v1", 10) &&
              EVP_DigestUpdate(ctx, model_name, strlen(model_name) + 1) && EVP_DigestUpdate(ctx, body, len) &&
              EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return ia__error(IA_ERR_BACKEND, "task id: SHA-256 failed");
    id_of_digest(md, id);
    return IA_OK;
}

ia_status ia__cluster_model_cid(const char *dir, char out[IA_CID_STR_MAX])
{
    IA_NEED(dir);
    ia_cid root;
    ia_status st = ia_unixfs_add_path(dir, true, NULL, NULL, NULL, NULL, &root);
    if (st)
        return ia__error_wrap(st, "the CID of model folder %s", dir);
    ia_cid_str(&root, out);
    return IA_OK;
}

ia_status ia__cluster_cid_key(const char *ref, char out[IA_CID_STR_MAX])
{
    IA_NEED(ref);
    ia_cid cid;
    const char *sub = NULL;
    ia_status st = ia_ipfs_ref_parse(ref, &cid, &sub);
    if (st)
        return ia__error_wrap(IA_ERR_INVALID, "model '%s' is not ipfs://CID, /ipfs/CID or a CID", ref);
    if (sub && *sub)
        return ia__error(IA_ERR_INVALID, "model '%s': a model is named by its folder's CID, without a path "
                         "(add the subfolder with `ipfs-accelerate model add` for its own CID)", ref);
    ia_cid v0;
    if (cid.codec == IA_CODEC_DAG_PB && cid.mh_code == IA_MH_SHA2_256 && cid.mh_len == 32 &&
        !ia_cid_to_v0(&cid, &v0))
        cid = v0; /* one spelling per DAG: a subject token and a key */
    ia_cid_str(&cid, out);
    return IA_OK;
}
