/* The single allocation wrapper, with a fault-injection hook for tests. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core-impl.h"

static atomic_long fail_countdown;

void ia__alloc_fail_after(long n) { atomic_store(&fail_countdown, n); }

long ia__alloc_fail_pending(void) { return atomic_load(&fail_countdown); }

static bool should_fail(void)
{
    long n = atomic_load(&fail_countdown);
    if (n <= 0)
        return false;
    return atomic_fetch_sub(&fail_countdown, 1) == 1;
}

void *ia__malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *ia__calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *ia__realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void ia__free(void *p) { free(p); }

void ia_free(void *p) { ia__free(p); }

void *ia__grow(void *p, size_t n, size_t *cap, size_t size, size_t first)
{
    if (n < *cap)
        return p;
    const size_t nc = *cap ? *cap * 2 : first;
    if (nc <= *cap || nc > SIZE_MAX / size)
        return NULL;
    void *np = ia__realloc(p, nc * size);
    if (np)
        *cap = nc;
    return np;
}

void ia__opts_copy(void *dst, size_t dst_size, const void *src)
{
    memset(dst, 0, dst_size);
    if (!src)
        return;
    size_t n = *(const size_t *)src;
    memcpy(dst, src, n && n < dst_size ? n : dst_size);
    *(size_t *)dst = dst_size;
}

char *ia__strndup(const char *s, size_t n)
{
    char *r = ia__malloc(n + 1);
    if (r) {
        memcpy(r, s, n);
        r[n] = '\0';
    }
    return r;
}

char *ia__strdup(const char *s) { return ia__strndup(s, strlen(s)); }
