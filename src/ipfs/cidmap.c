/*
 * A small open-addressing hash map keyed by CID, used for CAR indexes,
 * "seen" sets of DAG walks and the blockstore's bookkeeping. Keys are
 * hashes already, so the slot is picked from the digest's first bytes.
 */
#include <string.h>

#include "ipfs-impl.h"

static size_t slot_of(const ia_cid *c, size_t mask)
{
    uint64_t h = c->codec * 0x9e3779b97f4a7c15ULL ^ c->mh_code ^ c->version;
    for (size_t i = 0; i < c->mh_len && i < 8; i++)
        h = h * 131 + c->digest[i];
    h ^= h >> 29;
    return (size_t)(h * 0xbf58476d1ce4e5b9ULL >> 7) & mask;
}

static ia_status grow(ia__cidmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    ia__cidmap_slot *s = ia__calloc(cap, sizeof *s);
    if (!s)
        return ia__error(IA_ERR_NOMEM, "CID map of %zu slots", cap);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].used)
            continue;
        size_t j = slot_of(&m->slots[i].key, cap - 1);
        while (s[j].used)
            j = (j + 1) & (cap - 1);
        s[j] = m->slots[i];
    }
    ia__free(m->slots);
    m->slots = s;
    m->cap = cap;
    return IA_OK;
}

ia_status ia__cidmap_put(ia__cidmap *m, const ia_cid *c, uint64_t a, uint64_t b, bool *existed)
{
    if ((m->n + 1) * 4 > m->cap * 3) {
        ia_status st = grow(m);
        if (st)
            return st;
    }
    size_t j = slot_of(c, m->cap - 1);
    while (m->slots[j].used) {
        if (ia_cid_equal(&m->slots[j].key, c)) {
            m->slots[j].a = a;
            m->slots[j].b = b;
            if (existed)
                *existed = true;
            return IA_OK;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->slots[j].key = *c;
    m->slots[j].a = a;
    m->slots[j].b = b;
    m->slots[j].used = true;
    m->n++;
    if (existed)
        *existed = false;
    return IA_OK;
}

bool ia__cidmap_get(const ia__cidmap *m, const ia_cid *c, uint64_t *a, uint64_t *b)
{
    if (!m->cap)
        return false;
    size_t j = slot_of(c, m->cap - 1);
    while (m->slots[j].used) {
        if (ia_cid_equal(&m->slots[j].key, c)) {
            if (a)
                *a = m->slots[j].a;
            if (b)
                *b = m->slots[j].b;
            return true;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return false;
}

/* Backward-shift deletion keeps every probe chain unbroken. */
bool ia__cidmap_del(ia__cidmap *m, const ia_cid *c)
{
    if (!m->cap)
        return false;
    size_t mask = m->cap - 1, j = slot_of(c, mask);
    while (m->slots[j].used && !ia_cid_equal(&m->slots[j].key, c))
        j = (j + 1) & mask;
    if (!m->slots[j].used)
        return false;
    m->slots[j].used = false;
    m->n--;
    for (size_t i = (j + 1) & mask; m->slots[i].used; i = (i + 1) & mask) {
        size_t h = slot_of(&m->slots[i].key, mask);
        /* the entry at i may move to the hole at j unless its home h lies
         * cyclically in (j, i] */
        bool stays = j < i ? (h > j && h <= i) : (h > j || h <= i);
        if (!stays) {
            m->slots[j] = m->slots[i];
            m->slots[i].used = false;
            j = i;
        }
    }
    return true;
}

void ia__cidmap_free(ia__cidmap *m)
{
    ia__free(m->slots);
    memset(m, 0, sizeof *m);
}
