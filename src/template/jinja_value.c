/*
 * Values of the Jinja interpreter with Python's semantics: construction and
 * reference counting (freed from a queue, never by recursion), dicts with
 * insertion order and a hash index, str() and repr() as CPython writes
 * them (float repr is the shortest round-trip form), ==, < and hashing as
 * Python compares, json.dumps as transformers' tojson filter calls it, and
 * the UTF-8 helpers the string operations share. See jinja-impl.h.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "template/jinja-impl.h"

/* Containers nest at most this deep; repr/json recurse at most this far. */
#define MAX_VALUE_DEPTH 500
#define MAX_RECURSION 1000

bool ia__jinja_fail(R *r, ia_status st, const char *fmt, ...)
{
    if (r->err)
        return false;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->err = st;
    ia__error(st, "template line %u: %s", (unsigned)r->line, msg);
    return false;
}

bool ia__jinja_oom(R *r) { return RFAIL(r, IA_ERR_NOMEM, "out of memory"); }

bool ia__jinja_charge(R *r, size_t n)
{
    if (n > IA_JINJA_MAX_MEMORY - r->allocated)
        return RFAIL(r, IA_ERR_INVALID, "template allocates more than %zu bytes", IA_JINJA_MAX_MEMORY);
    r->allocated += n;
    return true;
}

/* ---- string builder ---- */

bool ia__sb_put(R *r, sb *b, const char *s, size_t n)
{
    if (r->err)
        return false;
    if (n > IA_JINJA_MAX_OUTPUT - b->n)
        return RFAIL(r, IA_ERR_INVALID, "output or string longer than %zu bytes", IA_JINJA_MAX_OUTPUT);
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        if (!ia__jinja_charge(r, cap - b->cap))
            return false;
        char *p = ia__realloc(b->p, cap);
        if (!p)
            return ia__jinja_oom(r);
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return true;
}

bool ia__sb_putc(R *r, sb *b, char c) { return ia__sb_put(r, b, &c, 1); }

bool ia__sb_printf(R *r, sb *b, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return RFAIL(r, IA_ERR_INVALID, "formatting failed");
    return ia__sb_put(r, b, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

jv ia__sb_str(R *r, sb *b, bool markup)
{
    jv v = ia__jv_str(r, b->p ? b->p : "", b->n, markup);
    b->n = 0;
    return v;
}

/* ---- UTF-8 ---- */

uint32_t ia__utf8_next(const char *s, size_t n, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t k = *i;
    uint32_t c = u[k];
    if (c < 0x80) {
        *i = k + 1;
        return c;
    }
    int extra = c >= 0xf0 && c < 0xf8 ? 3 : c >= 0xe0 && c < 0xf0 ? 2 : c >= 0xc0 && c < 0xe0 ? 1 : -1;
    if (extra < 0 || n - k <= (size_t)extra) {
        *i = k + 1;
        return 0xfffd;
    }
    uint32_t cp = c & (0x3fu >> extra);
    for (int j = 1; j <= extra; j++) {
        if ((u[k + (size_t)j] & 0xc0) != 0x80) {
            *i = k + 1;
            return 0xfffd;
        }
        cp = cp << 6 | (u[k + (size_t)j] & 0x3f);
    }
    *i = k + 1 + (size_t)extra;
    return cp;
}

size_t ia__utf8_put(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

size_t ia__utf8_len(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n;) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
        } else {
            ia__utf8_next(s, n, &i);
        }
        c++;
    }
    return c;
}

size_t ia__utf8_offset(const jstr *s, size_t i)
{
    if (s->ncp == s->len)
        return i;
    size_t off = 0;
    for (size_t k = 0; k < i && off < s->len; k++)
        ia__utf8_next(s->s, s->len, &off);
    return off;
}

bool ia__py_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
           c == 0x3000;
}

/* ---- objects ---- */

static void *obj_alloc(R *r, size_t size, jv_type t)
{
    if (!ia__jinja_charge(r, size))
        return NULL;
    jobj *o = ia__calloc(1, size);
    if (!o) {
        ia__jinja_oom(r);
        return NULL;
    }
    o->rc = 1;
    o->type = (uint8_t)t;
    return o;
}

jv ia__jv_str(R *r, const char *s, size_t n, bool markup)
{
    if (r->err)
        return JV_UNDEF_V;
    if (n > IA_JINJA_MAX_OUTPUT) {
        RFAIL(r, IA_ERR_INVALID, "string longer than %zu bytes", IA_JINJA_MAX_OUTPUT);
        return JV_UNDEF_V;
    }
    jstr *o = obj_alloc(r, sizeof(jstr) + n + 1, JV_STR);
    if (!o)
        return JV_UNDEF_V;
    if (n)
        memcpy(o->s, s, n);
    o->s[n] = '\0';
    o->len = n;
    o->ncp = ia__utf8_len(s, n);
    o->h.flags = markup ? JF_MARKUP : 0;
    return (jv){.t = JV_STR, .u.o = &o->h};
}

jv ia__jv_cstr(R *r, const char *s) { return ia__jv_str(r, s, strlen(s), false); }

jv ia__jv_str_const(ia_jinja *t, const char *s, size_t n)
{
    jstr *o = ia__jinja_arena(t, sizeof(jstr) + n + 1);
    if (!o)
        return JV_UNDEF_V;
    o->h.rc = -1;
    o->h.type = JV_STR;
    if (n)
        memcpy(o->s, s, n);
    o->s[n] = '\0';
    o->len = n;
    o->ncp = ia__utf8_len(s, n);
    return (jv){.t = JV_STR, .u.o = &o->h};
}

jlist *ia__list_new(R *r, size_t cap, uint8_t flags)
{
    jlist *l = obj_alloc(r, sizeof *l, JV_LIST);
    if (!l)
        return NULL;
    l->h.flags = flags;
    if (cap) {
        if (cap > IA_JINJA_MAX_MEMORY / sizeof(jv) || !ia__jinja_charge(r, cap * sizeof(jv))) {
            if (!r->err)
                ia__jinja_charge(r, SIZE_MAX);
            ia__free(l);
            return NULL;
        }
        l->v = ia__malloc(cap * sizeof(jv));
        if (!l->v) {
            ia__free(l);
            ia__jinja_oom(r);
            return NULL;
        }
        l->cap = cap;
    }
    return l;
}

static int depth_of(jv v)
{
    if (v.t == JV_LIST)
        return jv_l(v)->depth + 1;
    if (v.t == JV_DICT)
        return jv_d(v)->depth + 1;
    return 0;
}

bool ia__list_push(R *r, jlist *l, jv v)
{
    if (r->err) {
        ia__jv_release(r, v);
        return false;
    }
    int d = depth_of(v);
    if (d > MAX_VALUE_DEPTH) {
        ia__jv_release(r, v);
        return RFAIL(r, IA_ERR_INVALID, "value nested deeper than %d", MAX_VALUE_DEPTH);
    }
    if (l->n == l->cap) {
        if (!ia__jinja_charge(r, (l->cap ? l->cap : 4) * sizeof(jv))) {
            ia__jv_release(r, v);
            return false;
        }
        jv *nv = ia__grow(l->v, l->n, &l->cap, sizeof(jv), 4);
        if (!nv) {
            ia__jv_release(r, v);
            return ia__jinja_oom(r);
        }
        l->v = nv;
    }
    if (d > l->depth)
        l->depth = d;
    l->v[l->n++] = v;
    return true;
}

jdict *ia__dict_new(R *r) { return obj_alloc(r, sizeof(jdict), JV_DICT); }

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

bool ia__hashable(jv v)
{
    switch (v.t) {
    case JV_UNDEF: case JV_NONE: case JV_BOOL: case JV_INT: case JV_FLOAT: case JV_STR:
        return true;
    case JV_LIST:
        if ((jv_l(v)->h.flags & (JF_TUPLE | JF_GEN | JF_RANGE)) != JF_TUPLE)
            return false;
        for (size_t i = 0; i < jv_l(v)->n; i++)
            if (!ia__hashable(jv_l(v)->v[i]))
                return false;
        return true;
    default:
        return false;
    }
}

uint64_t ia__hash_jv(jv v)
{
    switch (v.t) {
    case JV_UNDEF: return 0x51ed27;
    case JV_NONE: return 0x9e3779b9;
    case JV_BOOL: return mix64((uint64_t)v.u.b);
    case JV_INT: return mix64((uint64_t)v.u.i);
    case JV_FLOAT:
        if (v.u.f == floor(v.u.f) && fabs(v.u.f) < 9.2e18)
            return mix64((uint64_t)(int64_t)v.u.f);
        {
            uint64_t bits;
            memcpy(&bits, &v.u.f, 8);
            return mix64(bits ^ 0x5555);
        }
    case JV_STR: return ia__hash(jv_s(v)->s, jv_s(v)->len);
    case JV_LIST: {
        uint64_t h = 0x345678;
        for (size_t i = 0; i < jv_l(v)->n; i++)
            h = mix64(h ^ ia__hash_jv(jv_l(v)->v[i]));
        return h;
    }
    default: return (uint64_t)(uintptr_t)v.u.o;
    }
}

/* == on hashable keys (no errors possible). */
static bool key_eq(jv a, jv b)
{
    if (jv_numeric(a) && jv_numeric(b)) {
        if (a.t == JV_FLOAT || b.t == JV_FLOAT) {
            double x = a.t == JV_FLOAT ? a.u.f : a.t == JV_INT ? (double)a.u.i : a.u.b;
            double y = b.t == JV_FLOAT ? b.u.f : b.t == JV_INT ? (double)b.u.i : b.u.b;
            return x == y;
        }
        int64_t x = a.t == JV_INT ? a.u.i : a.u.b, y = b.t == JV_INT ? b.u.i : b.u.b;
        return x == y;
    }
    if (a.t != b.t)
        return false;
    switch (a.t) {
    case JV_UNDEF: case JV_NONE: return true;
    case JV_STR: return jv_s(a)->len == jv_s(b)->len && !memcmp(jv_s(a)->s, jv_s(b)->s, jv_s(a)->len);
    case JV_LIST: {
        jlist *x = jv_l(a), *y = jv_l(b);
        if (x->n != y->n || (x->h.flags & JF_TUPLE) != (y->h.flags & JF_TUPLE))
            return false;
        for (size_t i = 0; i < x->n; i++)
            if (!key_eq(x->v[i], y->v[i]))
                return false;
        return true;
    }
    default: return a.u.o == b.u.o;
    }
}

static bool dict_reindex(R *r, jdict *d, size_t nidx)
{
    if (!ia__jinja_charge(r, nidx * sizeof(uint32_t)))
        return false;
    uint32_t *idx = ia__calloc(nidx, sizeof *idx);
    if (!idx)
        return ia__jinja_oom(r);
    for (size_t i = 0; i < d->n; i++) {
        size_t h = (size_t)ia__hash_jv(d->k[i]) & (nidx - 1);
        while (idx[h])
            h = (h + 1) & (nidx - 1);
        idx[h] = (uint32_t)(i + 1);
    }
    ia__free(d->idx);
    d->idx = idx;
    d->nidx = nidx;
    return true;
}

static jv *dict_find(const jdict *d, jv k)
{
    if (d->idx) {
        size_t h = (size_t)ia__hash_jv(k) & (d->nidx - 1);
        while (d->idx[h]) {
            size_t i = d->idx[h] - 1;
            if (key_eq(d->k[i], k))
                return &d->v[i];
            h = (h + 1) & (d->nidx - 1);
        }
        return NULL;
    }
    for (size_t i = 0; i < d->n; i++)
        if (key_eq(d->k[i], k))
            return &d->v[i];
    return NULL;
}

jv *ia__dict_get(R *r, const jdict *d, jv k)
{
    if (!ia__hashable(k)) {
        RFAIL(r, IA_ERR_INVALID, "unhashable type: '%s'", ia__type_name(k));
        return NULL;
    }
    return dict_find(d, k);
}

jv *ia__dict_get_str(const jdict *d, const char *s, size_t n)
{
    if (d->idx) {
        size_t h = (size_t)ia__hash(s, n) & (d->nidx - 1);
        while (d->idx[h]) {
            size_t i = d->idx[h] - 1;
            jv k = d->k[i];
            if (k.t == JV_STR && jv_s(k)->len == n && !memcmp(jv_s(k)->s, s, n))
                return &d->v[i];
            h = (h + 1) & (d->nidx - 1);
        }
        return NULL;
    }
    for (size_t i = 0; i < d->n; i++) {
        jv k = d->k[i];
        if (k.t == JV_STR && jv_s(k)->len == n && !memcmp(jv_s(k)->s, s, n))
            return &d->v[i];
    }
    return NULL;
}

bool ia__dict_set(R *r, jdict *d, jv k, jv v)
{
    if (r->err || !ia__hashable(k)) {
        if (!r->err)
            RFAIL(r, IA_ERR_INVALID, "unhashable type: '%s'", ia__type_name(k));
        ia__jv_release(r, k);
        ia__jv_release(r, v);
        return false;
    }
    jv *slot = dict_find(d, k);
    if (slot) {
        jv old = *slot;
        *slot = v;
        ia__jv_release(r, old);
        ia__jv_release(r, k);
        return true;
    }
    int dep = depth_of(v);
    if (dep > MAX_VALUE_DEPTH) {
        ia__jv_release(r, k);
        ia__jv_release(r, v);
        return RFAIL(r, IA_ERR_INVALID, "value nested deeper than %d", MAX_VALUE_DEPTH);
    }
    if (d->n == d->cap) {
        if (!ia__jinja_charge(r, 2 * (d->cap ? d->cap : 4) * sizeof(jv))) {
            ia__jv_release(r, k);
            ia__jv_release(r, v);
            return false;
        }
        size_t cap = d->cap;
        jv *nk = ia__grow(d->k, d->n, &cap, sizeof(jv), 4);
        if (nk)
            d->k = nk;
        size_t cap2 = d->cap;
        jv *nv = nk ? ia__grow(d->v, d->n, &cap2, sizeof(jv), 4) : NULL;
        if (!nk || !nv) {
            ia__jv_release(r, k);
            ia__jv_release(r, v);
            return ia__jinja_oom(r);
        }
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = k;
    d->v[d->n] = v;
    d->n++;
    if (dep > d->depth)
        d->depth = dep;
    if (d->n >= 8 && d->n * 2 > d->nidx) {
        if (!dict_reindex(r, d, d->nidx ? d->nidx * 2 : 32))
            return false;
    } else if (d->idx) {
        size_t h = (size_t)ia__hash_jv(k) & (d->nidx - 1);
        while (d->idx[h])
            h = (h + 1) & (d->nidx - 1);
        d->idx[h] = (uint32_t)d->n;
    }
    return true;
}

void ia__gc_link(R *r, jgc *g)
{
    g->next = r->reg.next;
    g->prev = &r->reg;
    r->reg.next->prev = g;
    r->reg.next = g;
}

jns *ia__ns_new(R *r)
{
    jns *ns = obj_alloc(r, sizeof *ns, JV_NS);
    if (!ns)
        return NULL;
    ns->d = ia__dict_new(r);
    if (!ns->d) {
        ia__free(ns);
        return NULL;
    }
    ia__gc_link(r, &ns->g);
    return ns;
}


static void destroy(R *r, jobj *o)
{
    switch (o->type) {
    case JV_LIST: {
        jlist *l = (jlist *)o;
        for (size_t i = 0; i < l->n; i++)
            ia__jv_release(r, l->v[i]);
        ia__free(l->v);
        break;
    }
    case JV_DICT: {
        jdict *d = (jdict *)o;
        for (size_t i = 0; i < d->n; i++) {
            ia__jv_release(r, d->k[i]);
            ia__jv_release(r, d->v[i]);
        }
        ia__free(d->k);
        ia__free(d->v);
        ia__free(d->idx);
        break;
    }
    case JV_NS: {
        jns *ns = (jns *)o;
        ns->g.prev->next = ns->g.next;
        ns->g.next->prev = ns->g.prev;
        if (ns->d)
            ia__obj_release(r, &ns->d->h);
        break;
    }
    case JV_SCOPE_TYPE: {
        scope *s = (scope *)o;
        s->g.prev->next = s->g.next;
        s->g.next->prev = s->g.prev;
        for (size_t i = 0; i < s->n; i++)
            ia__jv_release(r, s->vals[i]);
        if (s->names != s->small_names) {
            ia__free(s->vals);
            ia__free(s->names);
        }
        if (s->parent)
            ia__obj_release(r, &s->parent->g.h);
        break;
    }
    case JV_MACRO:
        if (((jmacro *)o)->closure)
            ia__obj_release(r, &((jmacro *)o)->closure->g.h);
        break;
    case JV_LOOP:
        if (((jloop *)o)->items)
            ia__obj_release(r, &((jloop *)o)->items->h);
        break;
    case JV_METHOD:
        ia__jv_release(r, ((jmethod *)o)->self);
        break;
    default:
        break;
    }
    ia__free(o);
}

void ia__obj_release(R *r, jobj *o)
{
    if (!o || o->rc < 0)
        return;
    if (--o->rc > 0)
        return;
    o->dead_next = r->dead;
    r->dead = o;
    if (r->draining)
        return;
    r->draining = true;
    while (r->dead) {
        jobj *d = r->dead;
        r->dead = d->dead_next;
        destroy(r, d);
    }
    r->draining = false;
}

void ia__jv_release(R *r, jv v)
{
    if (jv_heap(v))
        ia__obj_release(r, v.u.o);
}

void ia__jinja_gc_all(R *r)
{
    size_t n = 0;
    for (jgc *g = r->reg.next; g != &r->reg; g = g->next)
        n++;
    if (!n)
        return;
    jgc **all = ia__malloc(n * sizeof *all);
    if (!all) {
        /* Without room for the list, clear in place: safe because pinned
         * objects are not freed while the list is walked. */
        for (jgc *g = r->reg.next; g != &r->reg; g = g->next)
            g->h.rc++;
        for (jgc *g = r->reg.next; g != &r->reg; g = g->next) {
            if (g->h.type == JV_NS && ((jns *)g)->d) {
                jdict *d = ((jns *)g)->d;
                ((jns *)g)->d = NULL;
                ia__obj_release(r, &d->h);
            } else if (g->h.type == JV_SCOPE_TYPE) {
                scope *s = (scope *)g;
                for (size_t i = 0; i < s->n; i++)
                    ia__jv_release(r, s->vals[i]);
                s->n = 0;
            }
        }
        /* The objects stay pinned: leaked rather than freed wrongly. */
        return;
    }
    size_t i = 0;
    for (jgc *g = r->reg.next; g != &r->reg; g = g->next) {
        g->h.rc++;
        all[i++] = g;
    }
    for (i = 0; i < n; i++) {
        jgc *g = all[i];
        if (g->h.type == JV_NS) {
            jdict *d = ((jns *)g)->d;
            ((jns *)g)->d = NULL;
            if (d)
                ia__obj_release(r, &d->h);
        } else {
            scope *s = (scope *)g;
            size_t k = s->n;
            s->n = 0;
            for (size_t j = 0; j < k; j++)
                ia__jv_release(r, s->vals[j]);
            scope *p = s->parent;
            s->parent = NULL;
            if (p)
                ia__obj_release(r, &p->g.h);
        }
    }
    for (i = 0; i < n; i++)
        ia__obj_release(r, &all[i]->h);
    ia__free(all);
}

/* ---- truthiness, names ---- */

bool ia__truthy(jv v)
{
    switch (v.t) {
    case JV_UNDEF: case JV_NONE: return false;
    case JV_BOOL: return v.u.b;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0;
    case JV_STR: return jv_s(v)->len != 0;
    case JV_LIST: return (jv_l(v)->h.flags & JF_GEN) || jv_l(v)->n != 0;
    case JV_DICT: return jv_d(v)->n != 0;
    default: return true;
    }
}

const char *ia__type_name(jv v)
{
    switch (v.t) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return jv_markup(v) ? "Markup" : "str";
    case JV_LIST: {
        uint8_t f = jv_l(v)->h.flags;
        return f & JF_TUPLE ? "tuple" : f & JF_GEN ? "generator" : f & JF_RANGE ? "range"
             : f & JF_ITEMS ? "dict_items" : f & JF_KEYS ? "dict_keys" : f & JF_VALUES ? "dict_values" : "list";
    }
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_MACRO: return "Macro";
    case JV_LOOP: return "LoopContext";
    case JV_FUNC: return "function";
    default: return "builtin_function_or_method";
    }
}

/* ---- float repr ---- */

void ia__float_repr(double f, char buf[40])
{
    if (isnan(f)) {
        strcpy(buf, "nan");
        return;
    }
    if (isinf(f)) {
        strcpy(buf, f < 0 ? "-inf" : "inf");
        return;
    }
    char e[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, f);
        if (strtod(e, NULL) == f)
            break;
    }
    /* e: [-]d[.ddd]e[+-]XX */
    const char *p = e;
    bool neg = *p == '-';
    if (neg)
        p++;
    char digits[24];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && nd < sizeof digits - 1)
            digits[nd++] = *p;
    int ex = *p == 'e' ? atoi(p + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    int decpt = ex + 1;
    char *o = buf;
    if (neg)
        *o++ = '-';
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -decpt; i++)
                *o++ = '0';
            memcpy(o, digits, nd);
            o += nd;
        } else if ((size_t)decpt >= nd) {
            memcpy(o, digits, nd);
            o += nd;
            for (size_t i = nd; i < (size_t)decpt; i++)
                *o++ = '0';
            *o++ = '.';
            *o++ = '0';
        } else {
            memcpy(o, digits, (size_t)decpt);
            o += decpt;
            *o++ = '.';
            memcpy(o, digits + decpt, nd - (size_t)decpt);
            o += nd - (size_t)decpt;
        }
        *o = '\0';
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, nd - 1);
            o += nd - 1;
        }
        snprintf(o, 12, "e%c%02d", decpt - 1 < 0 ? '-' : '+', abs(decpt - 1));
    }
}

/* ---- str() and repr() ---- */

static bool printable(uint32_t c)
{
    if (c < 0x80)
        return c >= 0x20 && c < 0x7f;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP: case UTF8PROC_CATEGORY_ZS:
        return false;
    default:
        return true;
    }
}

static bool repr_str(R *r, const char *s, size_t n, sb *out)
{
    bool sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
    char q = sq && !dq ? '"' : '\'';
    if (!ia__sb_putc(r, out, q))
        return false;
    for (size_t i = 0; i < n;) {
        size_t st = i;
        uint32_t c = ia__utf8_next(s, n, &i);
        char esc[16];
        if (c == (uint32_t)q || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            esc[2] = 0;
        } else if (c == '\t') {
            strcpy(esc, "\\t");
        } else if (c == '\n') {
            strcpy(esc, "\\n");
        } else if (c == '\r') {
            strcpy(esc, "\\r");
        } else if (printable(c)) {
            if (!ia__sb_put(r, out, s + st, i - st))
                return false;
            continue;
        } else if (c < 0x100) {
            snprintf(esc, sizeof esc, "\\x%02x", c);
        } else if (c < 0x10000) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
        } else {
            snprintf(esc, sizeof esc, "\\U%08x", c);
        }
        if (!ia__sb_put(r, out, esc, strlen(esc)))
            return false;
    }
    return ia__sb_putc(r, out, q);
}

static bool repr_rec(R *r, jv v, sb *out, bool top_str);

static bool repr_items(R *r, const jlist *l, sb *out, const char *open, const char *close, bool one_comma)
{
    if (!ia__sb_put(r, out, open, strlen(open)))
        return false;
    for (size_t i = 0; i < l->n; i++) {
        if (i && !ia__sb_put(r, out, ", ", 2))
            return false;
        if (!repr_rec(r, l->v[i], out, false))
            return false;
    }
    if (one_comma && l->n == 1 && !ia__sb_putc(r, out, ','))
        return false;
    return ia__sb_put(r, out, close, strlen(close));
}

static bool repr_dict(R *r, const jdict *d, sb *out)
{
    if (!ia__sb_putc(r, out, '{'))
        return false;
    for (size_t i = 0; i < d->n; i++) {
        if (i && !ia__sb_put(r, out, ", ", 2))
            return false;
        if (!repr_rec(r, d->k[i], out, false) || !ia__sb_put(r, out, ": ", 2) ||
            !repr_rec(r, d->v[i], out, false))
            return false;
    }
    return ia__sb_putc(r, out, '}');
}

static bool repr_rec(R *r, jv v, sb *out, bool top_str)
{
    if (r->err)
        return false;
    char buf[48];
    switch (v.t) {
    case JV_UNDEF:
        return top_str ? true : ia__sb_put(r, out, "Undefined", 9);
    case JV_NONE: return ia__sb_put(r, out, "None", 4);
    case JV_BOOL: return v.u.b ? ia__sb_put(r, out, "True", 4) : ia__sb_put(r, out, "False", 5);
    case JV_INT:
        snprintf(buf, sizeof buf, "%" PRId64, v.u.i);
        return ia__sb_put(r, out, buf, strlen(buf));
    case JV_FLOAT:
        ia__float_repr(v.u.f, buf);
        return ia__sb_put(r, out, buf, strlen(buf));
    case JV_STR:
        if (top_str)
            return ia__sb_put(r, out, jv_s(v)->s, jv_s(v)->len);
        if (jv_markup(v))
            return ia__sb_put(r, out, "Markup(", 7) && repr_str(r, jv_s(v)->s, jv_s(v)->len, out) &&
                   ia__sb_putc(r, out, ')');
        return repr_str(r, jv_s(v)->s, jv_s(v)->len, out);
    default:
        break;
    }
    if (++r->rdepth > MAX_RECURSION) {
        r->rdepth--;
        return RFAIL(r, IA_ERR_INVALID, "value nested too deeply to print");
    }
    bool ok;
    switch (v.t) {
    case JV_LIST: {
        jlist *l = jv_l(v);
        uint8_t f = l->h.flags;
        if (f & JF_GEN)
            ok = RFAIL(r, IA_ERR_INVALID, "cannot print a generator or iterator (jinja2 prints its address)");
        else if (f & JF_TUPLE)
            ok = repr_items(r, l, out, "(", ")", true);
        else if (f & JF_RANGE)
            ok = l->r_step == 1 ? ia__sb_printf(r, out, "range(%" PRId64 ", %" PRId64 ")", l->r_start, l->r_stop)
                                : ia__sb_printf(r, out, "range(%" PRId64 ", %" PRId64 ", %" PRId64 ")", l->r_start,
                                                l->r_stop, l->r_step);
        else if (f & JF_ITEMS)
            ok = repr_items(r, l, out, "dict_items([", "])", false);
        else if (f & JF_KEYS)
            ok = repr_items(r, l, out, "dict_keys([", "])", false);
        else if (f & JF_VALUES)
            ok = repr_items(r, l, out, "dict_values([", "])", false);
        else
            ok = repr_items(r, l, out, "[", "]", false);
        break;
    }
    case JV_DICT: ok = repr_dict(r, jv_d(v), out); break;
    case JV_NS: {
        jns *ns = (jns *)v.u.o;
        ok = ia__sb_put(r, out, "<Namespace ", 11) &&
             (ns->d ? repr_dict(r, ns->d, out) : ia__sb_put(r, out, "{}", 2)) && ia__sb_putc(r, out, '>');
        break;
    }
    case JV_MACRO: {
        const node *def = ((jmacro *)v.u.o)->def;
        ok = ia__sb_put(r, out, "<Macro ", 7) && repr_str(r, def->name, strlen(def->name), out) &&
             ia__sb_putc(r, out, '>');
        break;
    }
    case JV_LOOP: {
        jloop *lp = (jloop *)v.u.o;
        ok = ia__sb_printf(r, out, "<LoopContext %zu/%zu>", lp->i + 1, lp->items->n);
        break;
    }
    default:
        ok = RFAIL(r, IA_ERR_INVALID, "cannot print a function (jinja2 prints its address)");
        break;
    }
    r->rdepth--;
    return ok;
}

bool ia__to_str(R *r, jv v, sb *out) { return repr_rec(r, v, out, true); }
bool ia__repr(R *r, jv v, sb *out) { return repr_rec(r, v, out, false); }

jv ia__str_of(R *r, jv v)
{
    if (v.t == JV_STR)
        return jv_ref(v);
    sb b = {0};
    jv s = JV_UNDEF_V;
    if (ia__to_str(r, v, &b))
        s = ia__jv_str(r, b.p ? b.p : "", b.n, false);
    ia__free(b.p);
    return s;
}

/* ---- comparisons ---- */

/* -1, 0, 1 comparing two numbers; 2 unordered (nan). */
static int num_cmp(jv a, jv b)
{
    if (a.t != JV_FLOAT && b.t != JV_FLOAT) {
        int64_t x = a.t == JV_INT ? a.u.i : a.u.b, y = b.t == JV_INT ? b.u.i : b.u.b;
        return x < y ? -1 : x > y;
    }
    if (a.t == JV_FLOAT && b.t == JV_FLOAT)
        return isnan(a.u.f) || isnan(b.u.f) ? 2 : a.u.f < b.u.f ? -1 : a.u.f > b.u.f;
    /* int against float, exactly */
    int64_t i = a.t == JV_FLOAT ? (b.t == JV_INT ? b.u.i : b.u.b) : (a.t == JV_INT ? a.u.i : a.u.b);
    double f = a.t == JV_FLOAT ? a.u.f : b.u.f;
    int c;
    if (isnan(f))
        return 2;
    if (f >= 9223372036854775808.0)
        c = -1;
    else if (f < -9223372036854775808.0)
        c = 1;
    else {
        double fl = floor(f);
        int64_t fi = (int64_t)fl;
        c = i < fi ? -1 : i > fi ? 1 : (f > fl ? -1 : 0);
    }
    return a.t == JV_FLOAT ? -c : c;
}

bool ia__eq(R *r, jv a, jv b, bool *eq)
{
    if (jv_numeric(a) && jv_numeric(b)) {
        *eq = num_cmp(a, b) == 0;
        return true;
    }
    *eq = false;
    if (a.t != b.t)
        return true;
    switch (a.t) {
    case JV_UNDEF: case JV_NONE: *eq = true; return true;
    case JV_STR:
        *eq = jv_s(a)->len == jv_s(b)->len && !memcmp(jv_s(a)->s, jv_s(b)->s, jv_s(a)->len);
        return true;
    case JV_LIST: {
        jlist *x = jv_l(a), *y = jv_l(b);
        if (x == y) {
            *eq = true;
            return true;
        }
        uint8_t fx = x->h.flags, fy = y->h.flags;
        if ((fx & JF_GEN) || (fy & JF_GEN) || (fx & (JF_ITEMS | JF_KEYS | JF_VALUES)) ||
            (fy & (JF_ITEMS | JF_KEYS | JF_VALUES)) || fx != fy)
            return true;
        if (x->n != y->n)
            return true;
        for (size_t i = 0; i < x->n; i++) {
            bool e;
            if (!ia__eq(r, x->v[i], y->v[i], &e))
                return false;
            if (!e)
                return true;
        }
        *eq = true;
        return true;
    }
    case JV_DICT: {
        jdict *x = jv_d(a), *y = jv_d(b);
        if (x->n != y->n)
            return true;
        for (size_t i = 0; i < x->n; i++) {
            jv *o = dict_find(y, x->k[i]);
            bool e;
            if (!o)
                return true;
            if (!ia__eq(r, x->v[i], *o, &e))
                return false;
            if (!e)
                return true;
        }
        *eq = true;
        return true;
    }
    case JV_FUNC: *eq = a.u.fn == b.u.fn; return true;
    default: *eq = a.u.o == b.u.o; return true;
    }
}

bool ia__lt(R *r, jv a, jv b, bool *lt)
{
    *lt = false;
    if (jv_numeric(a) && jv_numeric(b)) {
        *lt = num_cmp(a, b) == -1;
        return true;
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        jstr *x = jv_s(a), *y = jv_s(b);
        int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
        *lt = c < 0 || (c == 0 && x->len < y->len);
        return true;
    }
    if (a.t == JV_LIST && b.t == JV_LIST) {
        jlist *x = jv_l(a), *y = jv_l(b);
        uint8_t fx = x->h.flags, fy = y->h.flags;
        if (fx == fy && !(fx & ~JF_TUPLE)) {
            size_t n = x->n < y->n ? x->n : y->n;
            for (size_t i = 0; i < n; i++) {
                bool e;
                if (!ia__eq(r, x->v[i], y->v[i], &e))
                    return false;
                if (!e)
                    return ia__lt(r, x->v[i], y->v[i], lt);
            }
            *lt = x->n < y->n;
            return true;
        }
    }
    return RFAIL(r, IA_ERR_INVALID, "'<' not supported between instances of '%s' and '%s'", ia__type_name(a),
                 ia__type_name(b));
}

/* ---- JSON (json.dumps) ---- */

typedef struct jsonopt {
    bool ascii, sort;
    const char *indent, *isep, *ksep;
    size_t indent_len, isep_len, ksep_len;
} jsonopt;

static bool json_str(R *r, const char *s, size_t n, bool ascii, sb *out)
{
    if (!ia__sb_putc(r, out, '"'))
        return false;
    size_t run = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char buf[16];
        uint32_t cp;
        if (c >= 0x20 && c != '"' && c != '\\' && (c < 0x7f || (!ascii && c >= 0x7f))) {
            i++;
            continue;
        }
        if (i > run && !ia__sb_put(r, out, s + run, i - run))
            return false;
        cp = ia__utf8_next(s, n, &i);
        switch (cp) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (cp < 0x10000) {
                snprintf(buf, sizeof buf, "\\u%04x", cp);
            } else {
                uint32_t v = cp - 0x10000;
                snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
            }
            esc = buf;
        }
        if (!ia__sb_put(r, out, esc, strlen(esc)))
            return false;
        run = i;
    }
    if (n > run && !ia__sb_put(r, out, s + run, n - run))
        return false;
    return ia__sb_putc(r, out, '"');
}

static bool json_float(R *r, double f, sb *out)
{
    char buf[40];
    if (isnan(f))
        strcpy(buf, "NaN");
    else if (isinf(f))
        strcpy(buf, f < 0 ? "-Infinity" : "Infinity");
    else
        ia__float_repr(f, buf);
    return ia__sb_put(r, out, buf, strlen(buf));
}

static bool json_newline(R *r, const jsonopt *o, int level, sb *out)
{
    if (!ia__sb_putc(r, out, '\n'))
        return false;
    for (int i = 0; i < level; i++)
        if (!ia__sb_put(r, out, o->indent, o->indent_len))
            return false;
    return true;
}

static bool json_rec(R *r, jv v, const jsonopt *o, int level, sb *out);

static bool json_key(R *r, jv k, sb *out, const jsonopt *o)
{
    char buf[48];
    switch (k.t) {
    case JV_STR: return json_str(r, jv_s(k)->s, jv_s(k)->len, o->ascii, out);
    case JV_BOOL: return ia__sb_put(r, out, k.u.b ? "\"true\"" : "\"false\"", k.u.b ? 6 : 7);
    case JV_NONE: return ia__sb_put(r, out, "\"null\"", 6);
    case JV_INT:
        snprintf(buf, sizeof buf, "\"%" PRId64 "\"", k.u.i);
        return ia__sb_put(r, out, buf, strlen(buf));
    case JV_FLOAT: {
        sb t = {0};
        bool ok = json_float(r, k.u.f, &t) && json_str(r, t.p, t.n, false, out);
        ia__free(t.p);
        return ok;
    }
    default:
        return RFAIL(r, IA_ERR_INVALID, "tojson: keys must be str, int, float, bool or None, not %s",
                     ia__type_name(k));
    }
}

/* Stable merge sort of n indexes by keys[idx] with Python's <. */
static bool sort_idx(R *r, const jv *keys, size_t *idx, size_t *tmp, size_t n)
{
    if (n < 2)
        return true;
    size_t h = n / 2;
    if (!sort_idx(r, keys, idx, tmp, h) || !sort_idx(r, keys, idx + h, tmp, n - h))
        return false;
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        bool lt;
        if (!ia__lt(r, keys[idx[j]], keys[idx[i]], &lt))
            return false;
        tmp[k++] = lt ? idx[j++] : idx[i++];
    }
    while (i < h)
        tmp[k++] = idx[i++];
    while (j < n)
        tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
    return true;
}

static bool json_dict(R *r, const jdict *d, const jsonopt *o, int level, sb *out)
{
    if (!d->n)
        return ia__sb_put(r, out, "{}", 2);
    size_t *idx = ia__malloc(2 * d->n * sizeof *idx);
    if (!idx)
        return ia__jinja_oom(r);
    for (size_t i = 0; i < d->n; i++)
        idx[i] = i;
    bool ok = !o->sort || sort_idx(r, d->k, idx, idx + d->n, d->n);
    ok = ok && ia__sb_putc(r, out, '{');
    if (ok && o->indent)
        ok = json_newline(r, o, level + 1, out);
    for (size_t i = 0; ok && i < d->n; i++) {
        if (i) {
            ok = ia__sb_put(r, out, o->isep, o->isep_len);
            if (ok && o->indent)
                ok = json_newline(r, o, level + 1, out);
        }
        ok = ok && json_key(r, d->k[idx[i]], out, o) && ia__sb_put(r, out, o->ksep, o->ksep_len) &&
             json_rec(r, d->v[idx[i]], o, level + 1, out);
    }
    if (ok && o->indent)
        ok = json_newline(r, o, level, out);
    ok = ok && ia__sb_putc(r, out, '}');
    ia__free(idx);
    return ok;
}

static bool json_rec(R *r, jv v, const jsonopt *o, int level, sb *out)
{
    char buf[48];
    if (r->err)
        return false;
    switch (v.t) {
    case JV_NONE: return ia__sb_put(r, out, "null", 4);
    case JV_BOOL: return v.u.b ? ia__sb_put(r, out, "true", 4) : ia__sb_put(r, out, "false", 5);
    case JV_INT:
        snprintf(buf, sizeof buf, "%" PRId64, v.u.i);
        return ia__sb_put(r, out, buf, strlen(buf));
    case JV_FLOAT: return json_float(r, v.u.f, out);
    case JV_STR: return json_str(r, jv_s(v)->s, jv_s(v)->len, o->ascii, out);
    case JV_LIST:
        if (jv_l(v)->h.flags & ~JF_TUPLE)
            break;
        /* fall through */
    case JV_DICT: {
        if (++r->rdepth > MAX_RECURSION) {
            r->rdepth--;
            return RFAIL(r, IA_ERR_INVALID, "tojson: value nested too deeply");
        }
        bool ok;
        if (v.t == JV_DICT) {
            ok = json_dict(r, jv_d(v), o, level, out);
        } else {
            jlist *l = jv_l(v);
            if (!l->n) {
                ok = ia__sb_put(r, out, "[]", 2);
            } else {
                ok = ia__sb_putc(r, out, '[');
                if (ok && o->indent)
                    ok = json_newline(r, o, level + 1, out);
                for (size_t i = 0; ok && i < l->n; i++) {
                    if (i) {
                        ok = ia__sb_put(r, out, o->isep, o->isep_len);
                        if (ok && o->indent)
                            ok = json_newline(r, o, level + 1, out);
                    }
                    ok = ok && json_rec(r, l->v[i], o, level + 1, out);
                }
                if (ok && o->indent)
                    ok = json_newline(r, o, level, out);
                ok = ok && ia__sb_putc(r, out, ']');
            }
        }
        r->rdepth--;
        return ok;
    }
    default:
        break;
    }
    return RFAIL(r, IA_ERR_INVALID, "tojson: Object of type %s is not JSON serializable", ia__type_name(v));
}

bool ia__json(R *r, jv v, sb *out, bool ensure_ascii, const char *indent, size_t indent_len, const char *item_sep,
              size_t item_sep_len, const char *key_sep, size_t key_sep_len, bool sort_keys)
{
    jsonopt o = {ensure_ascii, sort_keys, indent, item_sep, key_sep, indent_len, item_sep_len, key_sep_len};
    return json_rec(r, v, &o, 0, out);
}

/* ---- iteration ---- */

bool ia__iterate(R *r, jv v, jlist **out)
{
    *out = NULL;
    switch (v.t) {
    case JV_UNDEF:
        *out = ia__list_new(r, 0, 0);
        return *out != NULL;
    case JV_LIST: {
        jlist *l = jv_l(v);
        if (!(l->h.flags & JF_GEN)) {
            l->h.rc += l->h.rc >= 0;
            *out = l;
            return true;
        }
        jlist *c = ia__list_new(r, l->n - l->pos, 0);
        if (!c)
            return false;
        for (size_t i = l->pos; i < l->n; i++)
            if (!ia__list_push(r, c, jv_ref(l->v[i]))) {
                ia__obj_release(r, &c->h);
                return false;
            }
        l->pos = l->n;
        *out = c;
        return true;
    }
    case JV_DICT: {
        jdict *d = jv_d(v);
        jlist *c = ia__list_new(r, d->n, 0);
        if (!c)
            return false;
        for (size_t i = 0; i < d->n; i++)
            if (!ia__list_push(r, c, jv_ref(d->k[i]))) {
                ia__obj_release(r, &c->h);
                return false;
            }
        *out = c;
        return true;
    }
    case JV_STR: {
        jstr *s = jv_s(v);
        jlist *c = ia__list_new(r, s->ncp, 0);
        if (!c)
            return false;
        /* iterating a Markup yields plain str characters (str.__iter__) */
        for (size_t i = 0; i < s->len;) {
            size_t st = i;
            ia__utf8_next(s->s, s->len, &i);
            if (!ia__list_push(r, c, ia__jv_str(r, s->s + st, i - st, false))) {
                ia__obj_release(r, &c->h);
                return false;
            }
        }
        *out = c;
        return true;
    }
    default:
        return RFAIL(r, IA_ERR_INVALID, "'%s' object is not iterable", ia__type_name(v));
    }
}

/* ---- HTML escaping (markupsafe) ---- */

bool ia__escape_html(R *r, const char *s, size_t n, sb *out)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e;
        switch (s[i]) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '\'': e = "&#39;"; break;
        case '"': e = "&#34;"; break;
        default: continue;
        }
        if (!ia__sb_put(r, out, s + run, i - run) || !ia__sb_put(r, out, e, strlen(e)))
            return false;
        run = i + 1;
    }
    return ia__sb_put(r, out, s + run, n - run);
}

jv ia__markup_escape(R *r, jv v)
{
    if (jv_markup(v))
        return jv_ref(v);
    jv s = ia__str_of(r, v);
    if (s.t != JV_STR)
        return s;
    sb b = {0};
    jv res = JV_UNDEF_V;
    if (ia__escape_html(r, jv_s(s)->s, jv_s(s)->len, &b))
        res = ia__jv_str(r, b.p ? b.p : "", b.n, true);
    ia__free(b.p);
    ia__jv_release(r, s);
    return res;
}
