/* The vocabulary: token strings by id and ids by string (hash index,
 * linear probing), plus the growable int32 array the tokenizer uses. */
#include <string.h>

#include "tokenizer/tokenizer-impl.h"

bool ia__i32vec_push(ia_i32vec *a, int32_t x)
{
    int32_t *v = ia__grow(a->v, a->n, &a->cap, sizeof *v, 64);
    if (!v)
        return false;
    a->v = v;
    a->v[a->n++] = x;
    return true;
}

void ia__i32vec_free(ia_i32vec *a)
{
    ia__free(a->v);
    *a = (ia_i32vec){0};
}

ia_status ia__vocab_init(ia_vocab *v, size_t n)
{
    *v = (ia_vocab){0};
    v->tokens = ia__calloc(n ? n : 1, sizeof *v->tokens);
    v->lens = ia__calloc(n ? n : 1, sizeof *v->lens);
    if (!v->tokens || !v->lens) {
        ia__vocab_free(v);
        return ia__error(IA_ERR_NOMEM, "out of memory for a vocabulary of %zu tokens", n);
    }
    v->n = n;
    return IA_OK;
}

ia_status ia__vocab_set(ia_vocab *v, int32_t id, const char *tok, size_t len)
{
    if (id < 0 || (size_t)id >= v->n)
        return ia__error(IA_ERR_FORMAT, "token id %d is out of range", (int)id);
    if (v->tokens[id])
        return ia__error(IA_ERR_FORMAT, "token id %d is given twice", (int)id);
    if (!(v->tokens[id] = ia__strndup(tok, len)))
        return ia__error(IA_ERR_NOMEM, "out of memory");
    v->lens[id] = (uint32_t)len;
    return IA_OK;
}

ia_status ia__vocab_index(ia_vocab *v)
{
    v->cap = 16;
    while (v->cap < v->n * 2)
        v->cap *= 2;
    if (!(v->slots = ia__malloc(v->cap * sizeof *v->slots)))
        return ia__error(IA_ERR_NOMEM, "out of memory");
    memset(v->slots, 0xff, v->cap * sizeof *v->slots);
    for (size_t id = 0; id < v->n; id++) {
        if (!v->tokens[id])
            continue;
        if (ia__vocab_find(v, v->tokens[id], v->lens[id]) >= 0)
            return ia__error(IA_ERR_FORMAT, "token \"%s\" appears twice", v->tokens[id]);
        size_t i = ia__hash(v->tokens[id], v->lens[id]) & (v->cap - 1);
        while (v->slots[i] >= 0)
            i = (i + 1) & (v->cap - 1);
        v->slots[i] = (int32_t)id;
    }
    return IA_OK;
}

int32_t ia__vocab_find(const ia_vocab *v, const char *tok, size_t len)
{
    for (size_t i = ia__hash(tok, len) & (v->cap - 1); v->slots[i] >= 0; i = (i + 1) & (v->cap - 1)) {
        int32_t id = v->slots[i];
        if (v->lens[id] == len && !memcmp(v->tokens[id], tok, len))
            return id;
    }
    return -1;
}

void ia__vocab_free(ia_vocab *v)
{
    if (v->tokens)
        for (size_t i = 0; i < v->n; i++)
            ia__free(v->tokens[i]);
    ia__free(v->tokens);
    ia__free(v->lens);
    ia__free(v->slots);
    *v = (ia_vocab){0};
}
