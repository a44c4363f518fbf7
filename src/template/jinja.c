/*
 * The Jinja interpreter's evaluator and its API (jinja.h): walks the syntax
 * tree of jinja_parse.c with jinja2's semantics: scopes as jinja2 compiles
 * them (each loop iteration, macro call, {% set %} block, {% filter %}
 * block and {% generation %} body has its own; {% if %} does not), the
 * `loop` object, macros with defaults, varargs and kwargs, namespaces,
 * Python arithmetic (int overflow is an error, not a wrong number), chained
 * comparisons, `in`, slicing, the sandbox's attribute and item lookup, and
 * the globals transformers defines. The context comes in as a cJSON
 * object; the output is one growing buffer.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "template/jinja-impl.h"

enum { JB_RANGE, JB_DICT, JB_NAMESPACE, JB_RAISE, JB_STRFTIME, JB_LIPSUM, JB_CYCLER, JB_JOINER };
static const char *const builtin_names[] = {"range", "dict", "namespace", "raise_exception",
                                            "strftime_now", "lipsum", "cycler", "joiner"};

/* The sandbox's range limit (jinja2.sandbox.MAX_RANGE). */
#define MAX_RANGE 100000

static bool eval(R *r, const node *x, scope *sc, jv *out);

/* ---- scopes ---- */

static scope *scope_new(R *r, scope *parent)
{
    scope *s = ia__calloc(1, sizeof *s);
    if (!s) {
        ia__jinja_oom(r);
        return NULL;
    }
    s->g.h.rc = 1;
    s->g.h.type = JV_SCOPE_TYPE;
    s->names = s->small_names;
    s->vals = s->small_vals;
    s->cap = IA_ARRAY_LEN(s->small_vals);
    s->parent = parent;
    if (parent)
        parent->g.h.rc++;
    ia__gc_link(r, &s->g);
    return s;
}

static void scope_release(R *r, scope *s)
{
    if (s)
        ia__obj_release(r, &s->g.h);
}

/* Bind name in s (takes v). */
static bool scope_set(R *r, scope *s, const char *name, jv v)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->names[i] == name || !strcmp(s->names[i], name)) {
            jv old = s->vals[i];
            s->vals[i] = v;
            ia__jv_release(r, old);
            return true;
        }
    }
    if (s->n == s->cap) {
        size_t cap = s->cap * 2;
        const char **nn = ia__malloc(cap * sizeof *nn);
        jv *nv = ia__malloc(cap * sizeof *nv);
        if (!nn || !nv) {
            ia__free(nn);
            ia__free(nv);
            ia__jv_release(r, v);
            return ia__jinja_oom(r);
        }
        memcpy(nn, s->names, s->n * sizeof *nn);
        memcpy(nv, s->vals, s->n * sizeof *nv);
        if (s->names != s->small_names) {
            ia__free(s->names);
            ia__free(s->vals);
        }
        s->names = nn;
        s->vals = nv;
        s->cap = cap;
    }
    s->names[s->n] = name;
    s->vals[s->n++] = v;
    return true;
}

static jv *scope_find(scope *s, const char *name)
{
    for (; s; s = s->parent)
        for (size_t i = 0; i < s->n; i++)
            if (s->names[i] == name || !strcmp(s->names[i], name))
                return &s->vals[i];
    return NULL;
}

static jv lookup(R *r, scope *s, const char *name)
{
    jv *v = scope_find(s, name);
    if (v)
        return jv_ref(*v);
    v = ia__dict_get_str(r->vars, name, strlen(name));
    if (v)
        return jv_ref(*v);
    for (int i = 0; i < (int)IA_ARRAY_LEN(builtin_names); i++)
        if (!strcmp(name, builtin_names[i]))
            return (jv){.t = JV_FUNC, .u.fn = i};
    return jv_undef(name);
}

/* ---- errors about undefined values ---- */

static bool fail_undefined(R *r, jv v)
{
    const char *h = v.u.hint;
    if (h && strchr(h, ' '))
        return RFAIL(r, IA_ERR_INVALID, "%s", h);
    if (h && *h)
        return RFAIL(r, IA_ERR_INVALID, "'%s' is undefined", h);
    return RFAIL(r, IA_ERR_INVALID, "an undefined value (a missing key, index or attribute) was used");
}

/* ---- attribute and item access ---- */

static bool loop_attr(R *r, jv lv, const char *name, jv *out)
{
    jloop *lp = (jloop *)lv.u.o;
    size_t i = lp->i, n = lp->items->n;
    if (!strcmp(name, "index"))
        *out = jv_int((int64_t)i + 1);
    else if (!strcmp(name, "index0"))
        *out = jv_int((int64_t)i);
    else if (!strcmp(name, "revindex"))
        *out = jv_int((int64_t)(n - i));
    else if (!strcmp(name, "revindex0"))
        *out = jv_int((int64_t)(n - i - 1));
    else if (!strcmp(name, "first"))
        *out = jv_bool(i == 0);
    else if (!strcmp(name, "last"))
        *out = jv_bool(i + 1 == n);
    else if (!strcmp(name, "length"))
        *out = jv_int((int64_t)n);
    else if (!strcmp(name, "depth"))
        *out = jv_int(1);
    else if (!strcmp(name, "depth0"))
        *out = jv_int(0);
    else if (!strcmp(name, "previtem"))
        *out = i > 0 ? jv_ref(lp->items->v[i - 1]) : jv_undef("previtem");
    else if (!strcmp(name, "nextitem"))
        *out = i + 1 < n ? jv_ref(lp->items->v[i + 1]) : jv_undef("nextitem");
    else
        *out = ia__jinja_method_get(r, lv, name);
    return !r->err;
}

bool ia__jinja_getattr(R *r, jv obj, const char *name, jv *out)
{
    *out = JV_UNDEF_V;
    switch (obj.t) {
    case JV_UNDEF:
        return fail_undefined(r, obj);
    case JV_DICT: {
        jv m = ia__jinja_method_get(r, obj, name);
        if (m.t != JV_UNDEF || (m.u.hint && !strncmp(m.u.hint, "access to", 9))) {
            *out = m;
            return !r->err;
        }
        jv *v = ia__dict_get_str(jv_d(obj), name, strlen(name));
        *out = v ? jv_ref(*v) : jv_undef(name);
        return true;
    }
    case JV_NS: {
        jns *ns = (jns *)obj.u.o;
        jv *v = ns->d ? ia__dict_get_str(ns->d, name, strlen(name)) : NULL;
        *out = v ? jv_ref(*v) : jv_undef(name);
        return true;
    }
    case JV_LOOP:
        return loop_attr(r, obj, name, out);
    default:
        *out = ia__jinja_method_get(r, obj, name);
        if (out->t == JV_UNDEF && !out->u.hint)
            out->u.hint = name;
        return !r->err;
    }
}

static bool int_index(jv k, int64_t *i)
{
    if (k.t == JV_INT) {
        *i = k.u.i;
        return true;
    }
    if (k.t == JV_BOOL) {
        *i = k.u.b;
        return true;
    }
    return false;
}

bool ia__jinja_getitem(R *r, jv obj, jv key, jv *out)
{
    *out = JV_UNDEF_V;
    int64_t i;
    switch (obj.t) {
    case JV_UNDEF:
        return fail_undefined(r, obj);
    case JV_DICT:
        if (ia__hashable(key)) {
            jv *v = ia__dict_get(r, jv_d(obj), key);
            if (v) {
                *out = jv_ref(*v);
                return true;
            }
        }
        break;
    case JV_LIST: {
        jlist *l = jv_l(obj);
        if (!(l->h.flags & (JF_GEN | JF_ITEMS | JF_KEYS | JF_VALUES)) && int_index(key, &i)) {
            if (i < 0)
                i += (int64_t)l->n;
            if (i >= 0 && (uint64_t)i < l->n)
                *out = jv_ref(l->v[i]);
            return true;
        }
        break;
    }
    case JV_STR: {
        jstr *s = jv_s(obj);
        if (int_index(key, &i)) {
            if (i < 0)
                i += (int64_t)s->ncp;
            if (i >= 0 && (uint64_t)i < s->ncp) {
                size_t a = ia__utf8_offset(s, (size_t)i), b = a;
                ia__utf8_next(s->s, s->len, &b);
                *out = ia__jv_str(r, s->s + a, b - a, jv_markup(obj));
            }
            return !r->err;
        }
        break;
    }
    default:
        break;
    }
    if (key.t == JV_STR) {
        bool ok = ia__jinja_getattr(r, obj, jv_s(key)->s, out);
        /* an undefined value's hint must outlive the key */
        if (out->t == JV_UNDEF && out->u.hint == jv_s(key)->s)
            out->u.hint = NULL;
        return ok;
    }
    return true;
}

/* Python's slice indices for a sequence of n: start, count and step of
 * the items taken. Slices bypass the sandbox's getitem in jinja2, so a
 * bad index is a TypeError, never an undefined value. */
static bool slice_indices(R *r, jv vstart, jv vstop, jv vstep, size_t n, int64_t *start, int64_t *count,
                          int64_t *step)
{
    int64_t a = 0, b = 0, s = 1;
    const jv *bad = NULL;
    if (vstart.t != JV_NONE && !int_index(vstart, &a))
        bad = &vstart;
    if (vstop.t != JV_NONE && !int_index(vstop, &b))
        bad = &vstop;
    if (vstep.t != JV_NONE && !int_index(vstep, &s))
        bad = &vstep;
    if (bad) {
        if (bad->t == JV_UNDEF)
            return fail_undefined(r, *bad);
        return RFAIL(r, IA_ERR_INVALID, "slice indices must be integers or None or have an __index__ method");
    }
    if (s == 0)
        return RFAIL(r, IA_ERR_INVALID, "slice step cannot be zero");
    int64_t len = (int64_t)n;
    if (vstart.t == JV_NONE) {
        a = s < 0 ? len - 1 : 0;
    } else if (a < 0) {
        a += len;
        if (a < 0)
            a = s < 0 ? -1 : 0;
    } else if (a >= len) {
        a = s < 0 ? len - 1 : len;
    }
    if (vstop.t == JV_NONE) {
        b = s < 0 ? -1 : len;
    } else if (b < 0) {
        b += len;
        if (b < 0)
            b = s < 0 ? -1 : 0;
    } else if (b >= len) {
        b = s < 0 ? len - 1 : len;
    }
    int64_t c = 0;
    if (s > 0 && a < b)
        c = (b - a - 1) / s + 1;
    else if (s < 0 && b < a)
        c = (a - b - 1) / (-s) + 1;
    *start = a;
    *count = c;
    *step = s;
    return true;
}

static bool slice_value(R *r, jv obj, jv vstart, jv vstop, jv vstep, jv *out)
{
    *out = JV_UNDEF_V;
    if (obj.t == JV_UNDEF)
        return fail_undefined(r, obj);
    int64_t a, c, s;
    if (obj.t == JV_LIST && !(jv_l(obj)->h.flags & (JF_GEN | JF_ITEMS | JF_KEYS | JF_VALUES))) {
        jlist *l = jv_l(obj);
        if (!slice_indices(r, vstart, vstop, vstep, l->n, &a, &c, &s))
            return false;
        jlist *res = ia__list_new(r, (size_t)c, l->h.flags & (JF_TUPLE | JF_RANGE));
        if (!res)
            return false;
        for (int64_t k = 0; k < c; k++)
            if (!ia__list_push(r, res, jv_ref(l->v[a + k * s]))) {
                ia__obj_release(r, &res->h);
                return false;
            }
        if (l->h.flags & JF_RANGE) {
            res->r_step = l->r_step * s;
            res->r_start = l->r_start + a * l->r_step;
            res->r_stop = res->r_start + c * res->r_step;
        }
        *out = (jv){.t = JV_LIST, .u.o = &res->h};
        return true;
    }
    if (obj.t == JV_STR) {
        jstr *str = jv_s(obj);
        if (!slice_indices(r, vstart, vstop, vstep, str->ncp, &a, &c, &s))
            return false;
        sb b = {0};
        if (s == 1) {
            size_t x = ia__utf8_offset(str, (size_t)a), y = ia__utf8_offset(str, (size_t)(a + c));
            *out = ia__jv_str(r, str->s + x, y - x, jv_markup(obj));
            return !r->err;
        }
        /* general step: offsets of every code point */
        size_t *off = ia__malloc((str->ncp + 1) * sizeof *off);
        if (!off)
            return ia__jinja_oom(r);
        size_t p = 0;
        for (size_t k = 0; k < str->ncp; k++) {
            off[k] = p;
            ia__utf8_next(str->s, str->len, &p);
        }
        off[str->ncp] = str->len;
        bool good = true;
        for (int64_t k = 0; good && k < c; k++) {
            size_t ix = (size_t)(a + k * s);
            good = ia__sb_put(r, &b, str->s + off[ix], off[ix + 1] - off[ix]);
        }
        ia__free(off);
        if (good)
            *out = ia__jv_str(r, b.p ? b.p : "", b.n, jv_markup(obj));
        ia__free(b.p);
        return !r->err;
    }
    if (obj.t == JV_DICT)
        return RFAIL(r, IA_ERR_INVALID, "unhashable type: 'slice'");
    return RFAIL(r, IA_ERR_INVALID, "'%s' object is not subscriptable", ia__type_name(obj));
}

/* ---- arithmetic ---- */

static int64_t as_int(jv v) { return v.t == JV_INT ? v.u.i : v.t == JV_BOOL ? (int64_t)v.u.b : 0; }
static double as_f(jv v) { return v.t == JV_FLOAT ? v.u.f : (double)as_int(v); }

static bool overflow(R *r) { return RFAIL(r, IA_ERR_UNSUPPORTED, "integer overflow (Python would use a big integer)"); }

static bool type_error(R *r, const char *op, jv a, jv b)
{
    return RFAIL(r, IA_ERR_INVALID, "unsupported operand type(s) for %s: '%s' and '%s'", op, ia__type_name(a),
                 ia__type_name(b));
}

static bool repeat(R *r, jv seq, int64_t n, jv *out)
{
    if (n < 0)
        n = 0;
    if (seq.t == JV_STR) {
        jstr *s = jv_s(seq);
        if (!s->len || n == 0) {
            *out = ia__jv_str(r, "", 0, jv_markup(seq));
            return !r->err;
        }
        if (s->len && (uint64_t)n > IA_JINJA_MAX_OUTPUT / s->len)
            return RFAIL(r, IA_ERR_INVALID, "string longer than %zu bytes", IA_JINJA_MAX_OUTPUT);
        sb b = {0};
        bool ok = true;
        for (int64_t i = 0; ok && i < n; i++)
            ok = ia__sb_put(r, &b, s->s, s->len);
        if (ok)
            *out = ia__jv_str(r, b.p ? b.p : "", b.n, jv_markup(seq));
        ia__free(b.p);
        return !r->err;
    }
    jlist *l = jv_l(seq);
    if (!l->n)
        n = 0;
    if (l->n && (uint64_t)n > (IA_JINJA_MAX_OUTPUT / 16) / l->n)
        return RFAIL(r, IA_ERR_INVALID, "list too long");
    jlist *res = ia__list_new(r, l->n * (size_t)n, l->h.flags & JF_TUPLE);
    if (!res)
        return false;
    for (int64_t i = 0; i < n; i++)
        for (size_t k = 0; k < l->n; k++)
            if (!ia__list_push(r, res, jv_ref(l->v[k]))) {
                ia__obj_release(r, &res->h);
                return false;
            }
    *out = (jv){.t = JV_LIST, .u.o = &res->h};
    return true;
}

static bool plain_seq(jv v, bool *tuple)
{
    if (v.t != JV_LIST || (jv_l(v)->h.flags & ~JF_TUPLE))
        return false;
    *tuple = jv_l(v)->h.flags & JF_TUPLE;
    return true;
}

static bool binop(R *r, int op, jv a, jv b, jv *out)
{
    static const char *const names[] = {"+", "-", "*", "/", "//", "%", "**"};
    *out = JV_UNDEF_V;
    if (a.t == JV_UNDEF)
        return fail_undefined(r, a);
    if (b.t == JV_UNDEF)
        return fail_undefined(r, b);
    bool num = jv_numeric(a) && jv_numeric(b), flt = num && (a.t == JV_FLOAT || b.t == JV_FLOAT);
    int64_t x = 0, y = 0, z;
    double fx = 0, fy = 0;
    if (num) {
        x = as_int(a);
        y = as_int(b);
        fx = as_f(a);
        fy = as_f(b);
    }
    switch (op) {
    case BIN_ADD:
        if (num) {
            if (flt)
                *out = jv_float(fx + fy);
            else if (__builtin_add_overflow(x, y, &z))
                return overflow(r);
            else
                *out = jv_int(z);
            return true;
        }
        if (a.t == JV_STR && b.t == JV_STR) {
            bool m = jv_markup(a) || jv_markup(b);
            sb s = {0};
            bool ok;
            if (m && !jv_markup(a))
                ok = ia__escape_html(r, jv_s(a)->s, jv_s(a)->len, &s);
            else
                ok = ia__sb_put(r, &s, jv_s(a)->s, jv_s(a)->len);
            if (ok && m && !jv_markup(b))
                ok = ia__escape_html(r, jv_s(b)->s, jv_s(b)->len, &s);
            else if (ok)
                ok = ia__sb_put(r, &s, jv_s(b)->s, jv_s(b)->len);
            if (ok)
                *out = ia__jv_str(r, s.p ? s.p : "", s.n, m);
            ia__free(s.p);
            return !r->err;
        }
        {
            bool ta, tb;
            if (plain_seq(a, &ta) && plain_seq(b, &tb)) {
                if (ta != tb)
                    return RFAIL(r, IA_ERR_INVALID, "can only concatenate %s (not \"%s\") to %s", ia__type_name(a),
                                 ia__type_name(b), ia__type_name(a));
                jlist *la = jv_l(a), *lb = jv_l(b);
                jlist *res = ia__list_new(r, la->n + lb->n, ta ? JF_TUPLE : 0);
                if (!res)
                    return false;
                for (size_t i = 0; i < la->n + lb->n; i++)
                    if (!ia__list_push(r, res, jv_ref(i < la->n ? la->v[i] : lb->v[i - la->n]))) {
                        ia__obj_release(r, &res->h);
                        return false;
                    }
                *out = (jv){.t = JV_LIST, .u.o = &res->h};
                return true;
            }
        }
        if (a.t == JV_STR || (a.t == JV_LIST && !(jv_l(a)->h.flags & ~JF_TUPLE)))
            return RFAIL(r, IA_ERR_INVALID, "can only concatenate %s (not \"%s\") to %s", ia__type_name(a),
                         ia__type_name(b), ia__type_name(a));
        return type_error(r, "+", a, b);
    case BIN_SUB:
        if (!num)
            return type_error(r, "-", a, b);
        if (flt)
            *out = jv_float(fx - fy);
        else if (__builtin_sub_overflow(x, y, &z))
            return overflow(r);
        else
            *out = jv_int(z);
        return true;
    case BIN_MUL:
        if (num) {
            if (flt)
                *out = jv_float(fx * fy);
            else if (__builtin_mul_overflow(x, y, &z))
                return overflow(r);
            else
                *out = jv_int(z);
            return true;
        }
        {
            bool t;
            if ((a.t == JV_STR || plain_seq(a, &t)) && (b.t == JV_INT || b.t == JV_BOOL))
                return repeat(r, a, as_int(b), out);
            if ((b.t == JV_STR || plain_seq(b, &t)) && (a.t == JV_INT || a.t == JV_BOOL))
                return repeat(r, b, as_int(a), out);
        }
        return type_error(r, "*", a, b);
    case BIN_DIV:
        if (!num)
            return type_error(r, "/", a, b);
        if (fy == 0)
            return RFAIL(r, IA_ERR_INVALID, "division by zero");
        *out = jv_float(fx / fy);
        return true;
    case BIN_FLOORDIV:
    case BIN_MOD:
        if (op == BIN_MOD && a.t == JV_STR)
            return ia__percent_format(r, a, b, out);
        if (!num)
            return type_error(r, names[op], a, b);
        if (!flt) {
            if (y == 0)
                return RFAIL(r, IA_ERR_INVALID, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1)
                return op == BIN_MOD ? (*out = jv_int(0), true) : overflow(r);
            int64_t q = x / y, m = x % y;
            if (m && ((m < 0) != (y < 0))) {
                m += y;
                q--;
            }
            *out = jv_int(op == BIN_MOD ? m : q);
            return true;
        } else {
            if (fy == 0)
                return RFAIL(r, IA_ERR_INVALID, "float divmod()");
            double mod = fmod(fx, fy), div = (fx - mod) / fy, fl;
            if (mod) {
                if ((fy < 0) != (mod < 0)) {
                    mod += fy;
                    div -= 1.0;
                }
            } else {
                mod = copysign(0.0, fy);
            }
            if (div) {
                fl = floor(div);
                if (div - fl > 0.5)
                    fl += 1.0;
            } else {
                fl = copysign(0.0, fx / fy);
            }
            *out = jv_float(op == BIN_MOD ? mod : fl);
            return true;
        }
    case BIN_POW:
        if (!num)
            return type_error(r, "**", a, b);
        if (!flt && y >= 0) {
            int64_t res = 1, base = x, e = y;
            while (e) {
                if (e & 1 && __builtin_mul_overflow(res, base, &res))
                    return overflow(r);
                e >>= 1;
                if (e && __builtin_mul_overflow(base, base, &base))
                    return overflow(r);
            }
            *out = jv_int(res);
            return true;
        }
        if (fx == 0 && fy < 0)
            return RFAIL(r, IA_ERR_INVALID, "0.0 cannot be raised to a negative power");
        if (fx < 0 && fy != floor(fy))
            return RFAIL(r, IA_ERR_UNSUPPORTED, "complex numbers are not supported");
        *out = jv_float(pow(fx, fy));
        if (isinf(out->u.f) && !isinf(fx))
            return RFAIL(r, IA_ERR_INVALID, "(34, 'Numerical result out of range')");
        return true;
    default:
        return RFAIL(r, IA_ERR_INVALID, "unknown operator");
    }
}

static bool contains(R *r, jv container, jv item, bool *res)
{
    *res = false;
    switch (container.t) {
    case JV_UNDEF:
        return true;
    case JV_STR:
        if (item.t != JV_STR)
            return RFAIL(r, IA_ERR_INVALID, "'in <string>' requires string as left operand, not %s",
                         ia__type_name(item));
        *res = jv_s(item)->len == 0 ||
               memmem(jv_s(container)->s, jv_s(container)->len, jv_s(item)->s, jv_s(item)->len) != NULL;
        return true;
    case JV_DICT:
        if (!ia__hashable(item))
            return RFAIL(r, IA_ERR_INVALID, "unhashable type: '%s'", ia__type_name(item));
        *res = ia__dict_get(r, jv_d(container), item) != NULL;
        return !r->err;
    case JV_LIST: {
        jlist *l = jv_l(container);
        size_t i = l->h.flags & JF_GEN ? l->pos : 0;
        for (; i < l->n; i++) {
            bool e;
            if (!ia__eq(r, l->v[i], item, &e))
                return false;
            if (e) {
                *res = true;
                break;
            }
        }
        if (l->h.flags & JF_GEN)
            l->pos = i < l->n ? i + 1 : l->n;
        return true;
    }
    case JV_LOOP:
        return RFAIL(r, IA_ERR_UNSUPPORTED, "'in' on a loop object is not supported");
    default:
        return RFAIL(r, IA_ERR_INVALID, "argument of type '%s' is not iterable", ia__type_name(container));
    }
}

bool ia__jinja_binop(R *r, int op, jv a, jv b, jv *out) { return binop(r, op, a, b, out); }
bool ia__jinja_contains(R *r, jv container, jv item, bool *res) { return contains(r, container, item, res); }

static bool compare(R *r, int op, jv a, jv b, bool *res)
{
    bool lt, eq;
    switch (op) {
    case CMP_EQ:
    case CMP_NE:
        if (!ia__eq(r, a, b, &eq))
            return false;
        *res = op == CMP_EQ ? eq : !eq;
        return true;
    case CMP_IN:
    case CMP_NOTIN:
        if (!contains(r, b, a, &eq))
            return false;
        *res = op == CMP_IN ? eq : !eq;
        return true;
    default:
        break;
    }
    if (a.t == JV_UNDEF)
        return fail_undefined(r, a);
    if (b.t == JV_UNDEF)
        return fail_undefined(r, b);
    if (op == CMP_LT)
        return ia__lt(r, a, b, res);
    if (op == CMP_GT)
        return ia__lt(r, b, a, res);
    if (!(op == CMP_LE ? ia__lt(r, a, b, &lt) : ia__lt(r, b, a, &lt)))
        return false;
    if (lt) {
        *res = true;
        return true;
    }
    if (!ia__eq(r, a, b, &eq))
        return false;
    *res = eq;
    return true;
}

/* ---- calls ---- */

static bool exec_list(R *r, node *const *v, uint32_t n, scope *sc, sb *out);

static bool call_macro(R *r, const jmacro *m, const jv *args, size_t nargs, const char *const *kn, const jv *kv,
                       size_t nk, jv *out)
{
    const node *def = m->def;
    size_t np = def->nk;
    if (r->depth >= IA_JINJA_MAX_CALL_DEPTH)
        return RFAIL(r, IA_ERR_INVALID, "macro calls nested deeper than %d", IA_JINJA_MAX_CALL_DEPTH);
    if (nargs > np && !(def->op & MF_VARARGS))
        return RFAIL(r, IA_ERR_INVALID, "macro '%s' takes not more than %zu argument(s)", def->name, np);
    /* keyword arguments for parameters not given positionally */
    bool *used = nk ? ia__calloc(nk, sizeof *used) : NULL;
    if (nk && !used)
        return ia__jinja_oom(r);
    scope *ms = scope_new(r, m->closure);
    bool ok = ms != NULL;
    r->depth++;
    for (size_t i = 0; ok && i < np; i++) {
        const char *pn = def->kn[i];
        jv v = JV_UNDEF_V;
        bool have = false;
        if (i < nargs) {
            v = jv_ref(args[i]);
            have = true;
        } else {
            for (size_t k = 0; k < nk; k++)
                if (!used[k] && !strcmp(kn[k], pn)) {
                    used[k] = true;
                    v = jv_ref(kv[k]);
                    have = true;
                    break;
                }
        }
        if (!have) {
            if (def->kv[i]) {
                /* defaults see the parameters before them */
                ok = eval(r, def->kv[i], ms, &v);
            } else {
                v = jv_undef(pn);
            }
        }
        ok = ok && scope_set(r, ms, pn, v);
    }
    if (ok && (def->op & MF_KWARGS)) {
        jdict *d = ia__dict_new(r);
        ok = d != NULL;
        for (size_t k = 0; ok && k < nk; k++)
            if (!used[k])
                ok = ia__dict_set(r, d, ia__jv_cstr(r, kn[k]), jv_ref(kv[k]));
        if (d)
            ok = scope_set(r, ms, "kwargs", (jv){.t = JV_DICT, .u.o = &d->h}) && ok;
    } else if (ok) {
        for (size_t k = 0; k < nk; k++)
            if (!used[k]) {
                ok = RFAIL(r, IA_ERR_INVALID, "macro '%s' takes no keyword argument '%s'", def->name, kn[k]);
                break;
            }
    }
    if (ok && (def->op & MF_VARARGS)) {
        jlist *va = ia__list_new(r, nargs > np ? nargs - np : 0, JF_TUPLE);
        ok = va != NULL;
        for (size_t i = np; ok && i < nargs; i++)
            ok = ia__list_push(r, va, jv_ref(args[i]));
        if (va)
            ok = scope_set(r, ms, "varargs", (jv){.t = JV_LIST, .u.o = &va->h}) && ok;
    }
    if (ok && (def->op & MF_CALLER))
        ok = scope_set(r, ms, "caller", jv_undef("caller"));
    sb b = {0};
    if (ok)
        ok = exec_list(r, def->v, def->n, ms, &b);
    if (ok)
        *out = ia__jv_str(r, b.p ? b.p : "", b.n, false);
    ia__free(b.p);
    ia__free(used);
    scope_release(r, ms);
    r->depth--;
    return ok && !r->err;
}

static bool no_kwargs(R *r, const char *fn, size_t nk)
{
    if (nk)
        return RFAIL(r, IA_ERR_INVALID, "%s() takes no keyword arguments", fn);
    return true;
}

/* dict(*args, **kwargs) as Python builds it. */
static bool make_dict(R *r, const char *fn, const jv *args, size_t nargs, const char *const *kn, const jv *kv,
                      size_t nk, jdict **out)
{
    *out = NULL;
    if (nargs > 1)
        return RFAIL(r, IA_ERR_INVALID, "%s expected at most 1 argument, got %zu", fn, nargs);
    jdict *d = ia__dict_new(r);
    if (!d)
        return false;
    bool ok = true;
    if (nargs == 1) {
        jv a = args[0];
        if (a.t == JV_DICT) {
            for (size_t i = 0; ok && i < jv_d(a)->n; i++)
                ok = ia__dict_set(r, d, jv_ref(jv_d(a)->k[i]), jv_ref(jv_d(a)->v[i]));
        } else if (a.t == JV_UNDEF) {
            ok = fail_undefined(r, a);
        } else {
            jlist *items;
            ok = ia__iterate(r, a, &items);
            for (size_t i = 0; ok && i < items->n; i++) {
                jlist *pair;
                ok = ia__iterate(r, items->v[i], &pair);
                if (!ok)
                    break;
                if (pair->n != 2)
                    ok = RFAIL(r, IA_ERR_INVALID,
                               "dictionary update sequence element #%zu has length %zu; 2 is required", i, pair->n);
                else
                    ok = ia__dict_set(r, d, jv_ref(pair->v[0]), jv_ref(pair->v[1]));
                ia__obj_release(r, &pair->h);
            }
            if (items)
                ia__obj_release(r, &items->h);
        }
    }
    for (size_t k = 0; ok && k < nk; k++)
        ok = ia__dict_set(r, d, ia__jv_cstr(r, kn[k]), jv_ref(kv[k]));
    if (!ok) {
        ia__obj_release(r, &d->h);
        return false;
    }
    *out = d;
    return true;
}

static bool strftime_now(R *r, jv fmt, jv *out)
{
    if (fmt.t != JV_STR)
        return RFAIL(r, IA_ERR_INVALID, "strftime_now() argument must be str, not %s", ia__type_name(fmt));
    /* %f (microseconds) is Python's own: the clock here has whole seconds */
    sb f = {0};
    const jstr *s = jv_s(fmt);
    bool ok = true;
    for (size_t i = 0; ok && i < s->len; i++) {
        if (s->s[i] == '%' && i + 1 < s->len && s->s[i + 1] == 'f') {
            ok = ia__sb_put(r, &f, "000000", 6);
            i++;
        } else if (s->s[i] == '%' && i + 1 < s->len && s->s[i + 1] == '%') {
            ok = ia__sb_put(r, &f, "%%", 2);
            i++;
        } else {
            ok = ia__sb_putc(r, &f, s->s[i]);
        }
    }
    time_t t = (time_t)r->now;
    struct tm tm;
    if (ok && !localtime_r(&t, &tm))
        ok = RFAIL(r, IA_ERR_INVALID, "strftime_now: time out of range");
    if (ok) {
        size_t cap = 256 + f.n * 8;
        char *buf = ia__malloc(cap);
        if (!buf) {
            ok = ia__jinja_oom(r);
        } else {
            size_t n = f.n ? strftime(buf, cap, f.p, &tm) : 0;
            if (f.n && !n)
                buf[0] = '\0';
            *out = ia__jv_str(r, buf, n, false);
            ia__free(buf);
        }
    }
    ia__free(f.p);
    return ok && !r->err;
}

static bool call_builtin(R *r, int fn, const jv *args, size_t nargs, const char *const *kn, const jv *kv, size_t nk,
                         jv *out)
{
    switch (fn) {
    case JB_RANGE: {
        int64_t a = 0, b, s = 1;
        if (!no_kwargs(r, "range", nk))
            return false;
        if (nargs < 1 || nargs > 3)
            return RFAIL(r, IA_ERR_INVALID, "range expected 1 to 3 arguments, got %zu", nargs);
        for (size_t i = 0; i < nargs; i++)
            if (args[i].t != JV_INT && args[i].t != JV_BOOL)
                return RFAIL(r, IA_ERR_INVALID, "'%s' object cannot be interpreted as an integer",
                             ia__type_name(args[i]));
        if (nargs == 1) {
            b = as_int(args[0]);
        } else {
            a = as_int(args[0]);
            b = as_int(args[1]);
            if (nargs == 3)
                s = as_int(args[2]);
        }
        if (s == 0)
            return RFAIL(r, IA_ERR_INVALID, "range() arg 3 must not be zero");
        double len = 0;
        if (s > 0 && a < b)
            len = ((double)b - (double)a - 1) / (double)s + 1;
        else if (s < 0 && b < a)
            len = ((double)a - (double)b - 1) / -(double)s + 1;
        if (len > MAX_RANGE)
            return RFAIL(r, IA_ERR_INVALID, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).",
                         MAX_RANGE);
        size_t n = (size_t)len;
        jlist *l = ia__list_new(r, n, JF_RANGE);
        if (!l)
            return false;
        l->r_start = a;
        l->r_stop = b;
        l->r_step = s;
        for (size_t i = 0; i < n; i++)
            ia__list_push(r, l, jv_int(a + (int64_t)i * s));
        *out = (jv){.t = JV_LIST, .u.o = &l->h};
        return !r->err;
    }
    case JB_DICT: {
        jdict *d;
        if (!make_dict(r, "dict", args, nargs, kn, kv, nk, &d))
            return false;
        *out = (jv){.t = JV_DICT, .u.o = &d->h};
        return true;
    }
    case JB_NAMESPACE: {
        jdict *d;
        if (!make_dict(r, "namespace", args, nargs, kn, kv, nk, &d))
            return false;
        for (size_t i = 0; i < d->n; i++)
            if (d->k[i].t == JV_STR && jv_s(d->k[i])->s[0] == '_') {
                RFAIL(r, IA_ERR_INVALID,
                      "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '%s'.",
                      jv_s(d->k[i])->s);
                ia__obj_release(r, &d->h);
                return false;
            }
        jns *ns = ia__ns_new(r);
        if (!ns) {
            ia__obj_release(r, &d->h);
            return false;
        }
        ia__obj_release(r, &ns->d->h);
        ns->d = d;
        *out = (jv){.t = JV_NS, .u.o = &ns->g.h};
        return true;
    }
    case JB_RAISE: {
        if (nargs + nk != 1)
            return RFAIL(r, IA_ERR_INVALID, "raise_exception() takes exactly one argument");
        jv m = ia__str_of(r, nargs ? args[0] : kv[0]);
        if (m.t == JV_STR)
            RFAIL(r, IA_ERR_INVALID, "raise_exception: %s", jv_s(m)->s);
        ia__jv_release(r, m);
        return false;
    }
    case JB_STRFTIME:
        if (nargs + nk != 1)
            return RFAIL(r, IA_ERR_INVALID, "strftime_now() takes exactly one argument");
        return strftime_now(r, nargs ? args[0] : kv[0], out);
    default:
        return RFAIL(r, IA_ERR_UNSUPPORTED, "global '%s' is not supported", builtin_names[fn]);
    }
}

bool ia__jinja_call(R *r, jv f, const jv *args, size_t nargs, const char *const *kn, const jv *kv, size_t nk, jv *out)
{
    *out = JV_UNDEF_V;
    if (++r->steps > IA_JINJA_MAX_STEPS)
        return RFAIL(r, IA_ERR_INVALID, "template takes more than %ld steps", IA_JINJA_MAX_STEPS);
    switch (f.t) {
    case JV_UNDEF:
        return fail_undefined(r, f);
    case JV_FUNC:
        return call_builtin(r, f.u.fn, args, nargs, kn, kv, nk, out);
    case JV_MACRO:
        return call_macro(r, (const jmacro *)f.u.o, args, nargs, kn, kv, nk, out);
    case JV_METHOD:
        return ia__jinja_method_call(r, (const jmethod *)f.u.o, args, nargs, kn, kv, nk, out);
    default:
        return RFAIL(r, IA_ERR_INVALID, "'%s' object is not callable", ia__type_name(f));
    }
}

/* ---- expressions ---- */

typedef struct argv {
    jv *args, *kv;
    size_t n, nk;
    jv small[8];
} argv;

static bool eval_args(R *r, const node *x, scope *sc, argv *a)
{
    a->n = x->n;
    a->nk = x->nk;
    a->args = x->n + x->nk <= IA_ARRAY_LEN(a->small) ? a->small : ia__calloc(x->n + x->nk, sizeof(jv));
    if (!a->args) {
        a->n = a->nk = 0;
        return ia__jinja_oom(r);
    }
    a->kv = a->args + x->n;
    for (size_t i = 0; i < x->n + x->nk; i++)
        a->args[i] = JV_UNDEF_V;
    for (size_t i = 0; i < x->n; i++)
        if (!eval(r, x->v[i], sc, &a->args[i]))
            return false;
    for (size_t i = 0; i < x->nk; i++)
        if (!eval(r, x->kv[i], sc, &a->kv[i]))
            return false;
    return true;
}

static void free_args(R *r, argv *a)
{
    for (size_t i = 0; i < a->n + a->nk; i++)
        ia__jv_release(r, a->args[i]);
    if (a->args != a->small)
        ia__free(a->args);
}

static bool eval_filter(R *r, const node *x, scope *sc, jv *out)
{
    jv val;
    if (x->a) {
        if (!eval(r, x->a, sc, &val))
            return false;
    } else {
        val = jv_ref(r->block_input);
    }
    argv a;
    bool ok = eval_args(r, x, sc, &a);
    r->line = x->line;
    if (ok) {
        if (++r->steps > IA_JINJA_MAX_STEPS)
            ok = RFAIL(r, IA_ERR_INVALID, "template takes more than %ld steps", IA_JINJA_MAX_STEPS);
        else if (x->id < 0)
            ok = RFAIL(r, IA_ERR_FORMAT, "no filter named '%s'", x->name);
        else
            ok = ia__jinja_filter(r, x->id, x->name, val, a.args, a.n, x->kn, a.kv, a.nk, out);
    }
    free_args(r, &a);
    ia__jv_release(r, val);
    return ok;
}

static bool eval_test(R *r, const node *x, scope *sc, jv *out)
{
    jv val;
    if (!eval(r, x->a, sc, &val))
        return false;
    argv a;
    bool ok = eval_args(r, x, sc, &a), res = false;
    r->line = x->line;
    if (ok) {
        if (x->id < 0)
            ok = RFAIL(r, IA_ERR_FORMAT, "no test named '%s'", x->name);
        else if (a.nk)
            ok = RFAIL(r, IA_ERR_UNSUPPORTED, "keyword arguments to tests are not supported");
        else
            ok = ia__jinja_test(r, x->id, x->name, val, a.args, a.n, &res);
    }
    free_args(r, &a);
    ia__jv_release(r, val);
    if (ok)
        *out = jv_bool(res);
    return ok;
}

static bool eval_call(R *r, const node *x, scope *sc, jv *out)
{
    jv f;
    if (!eval(r, x->a, sc, &f))
        return false;
    argv a;
    bool ok = eval_args(r, x, sc, &a);
    r->line = x->line;
    if (ok)
        ok = ia__jinja_call(r, f, a.args, a.n, x->kn, a.kv, a.nk, out);
    free_args(r, &a);
    ia__jv_release(r, f);
    return ok;
}

static bool eval_seq(R *r, const node *x, scope *sc, jv *out)
{
    jlist *l = ia__list_new(r, x->n, x->k == NK_TUPLE ? JF_TUPLE : 0);
    if (!l)
        return false;
    for (uint32_t i = 0; i < x->n; i++) {
        jv v;
        if (!eval(r, x->v[i], sc, &v) || !ia__list_push(r, l, v)) {
            ia__obj_release(r, &l->h);
            return false;
        }
    }
    *out = (jv){.t = JV_LIST, .u.o = &l->h};
    return true;
}

static bool eval_dict(R *r, const node *x, scope *sc, jv *out)
{
    jdict *d = ia__dict_new(r);
    if (!d)
        return false;
    for (uint32_t i = 0; i < x->n; i++) {
        jv k, v;
        if (!eval(r, x->v[i], sc, &k))
            goto fail;
        if (!eval(r, x->kv[i], sc, &v)) {
            ia__jv_release(r, k);
            goto fail;
        }
        r->line = x->line;
        if (!ia__dict_set(r, d, k, v))
            goto fail;
    }
    *out = (jv){.t = JV_DICT, .u.o = &d->h};
    return true;
fail:
    ia__obj_release(r, &d->h);
    return false;
}

/* eval and exec_node count their nesting, which macro calls add up: the
 * C stack they take is bounded whatever the template. */
#define ENTER(r)                                                                                    \
    do {                                                                                            \
        if (++(r)->edepth > IA_JINJA_MAX_EVAL_DEPTH) {                                              \
            (r)->edepth--;                                                                          \
            return RFAIL((r), IA_ERR_INVALID, "evaluation nested deeper than %d (macros calling "   \
                         "macros in deep expressions)", IA_JINJA_MAX_EVAL_DEPTH);                   \
        }                                                                                           \
    } while (0)

static bool eval_node(R *r, const node *x, scope *sc, jv *out);

static bool eval(R *r, const node *x, scope *sc, jv *out)
{
    *out = JV_UNDEF_V;
    ENTER(r);
    bool ok = eval_node(r, x, sc, out);
    r->edepth--;
    return ok;
}

static bool eval_node(R *r, const node *x, scope *sc, jv *out)
{
    if (r->err)
        return false;
    r->line = x->line;
    if (++r->steps > IA_JINJA_MAX_STEPS)
        return RFAIL(r, IA_ERR_INVALID, "template takes more than %ld steps", IA_JINJA_MAX_STEPS);
    jv a, b;
    bool ok;
    switch (x->k) {
    case NK_CONST:
        *out = jv_ref(x->val);
        return true;
    case NK_NAME:
        *out = lookup(r, sc, x->name);
        return true;
    case NK_ATTR:
        if (!eval(r, x->a, sc, &a))
            return false;
        r->line = x->line;
        ok = ia__jinja_getattr(r, a, x->name, out);
        ia__jv_release(r, a);
        return ok;
    case NK_ITEM:
        if (!eval(r, x->a, sc, &a))
            return false;
        if (x->b->k == NK_SLICE) {
            jv s[3] = {JV_NONE_V, JV_NONE_V, JV_NONE_V};
            const node *part[3] = {x->b->a, x->b->b, x->b->c};
            ok = true;
            for (int i = 0; ok && i < 3; i++)
                if (part[i])
                    ok = eval(r, part[i], sc, &s[i]);
            r->line = x->line;
            if (ok)
                ok = slice_value(r, a, s[0], s[1], s[2], out);
            for (int i = 0; i < 3; i++)
                ia__jv_release(r, s[i]);
            ia__jv_release(r, a);
            return ok;
        }
        if (!eval(r, x->b, sc, &b)) {
            ia__jv_release(r, a);
            return false;
        }
        r->line = x->line;
        ok = ia__jinja_getitem(r, a, b, out);
        ia__jv_release(r, a);
        ia__jv_release(r, b);
        return ok;
    case NK_SLICE:
        return RFAIL(r, IA_ERR_UNSUPPORTED, "a slice inside a tuple subscript is not supported");
    case NK_CALL:
        return eval_call(r, x, sc, out);
    case NK_FILTER:
        return eval_filter(r, x, sc, out);
    case NK_TEST:
        return eval_test(r, x, sc, out);
    case NK_NOT:
        if (!eval(r, x->a, sc, &a))
            return false;
        *out = jv_bool(!ia__truthy(a));
        ia__jv_release(r, a);
        return true;
    case NK_NEG:
    case NK_POS:
        if (!eval(r, x->a, sc, &a))
            return false;
        r->line = x->line;
        if (a.t == JV_UNDEF)
            return fail_undefined(r, a);
        if (!jv_numeric(a)) {
            ok = RFAIL(r, IA_ERR_INVALID, "bad operand type for unary %c: '%s'", x->k == NK_NEG ? '-' : '+',
                       ia__type_name(a));
            ia__jv_release(r, a);
            return ok;
        }
        if (a.t == JV_FLOAT)
            *out = jv_float(x->k == NK_NEG ? -a.u.f : a.u.f);
        else if (x->k == NK_NEG && as_int(a) == INT64_MIN)
            return overflow(r);
        else
            *out = jv_int(x->k == NK_NEG ? -as_int(a) : as_int(a));
        return true;
    case NK_BIN:
        if (!eval(r, x->a, sc, &a))
            return false;
        if (!eval(r, x->b, sc, &b)) {
            ia__jv_release(r, a);
            return false;
        }
        r->line = x->line;
        ok = binop(r, x->op, a, b, out);
        ia__jv_release(r, a);
        ia__jv_release(r, b);
        return ok;
    case NK_AND:
    case NK_OR:
        if (!eval(r, x->a, sc, &a))
            return false;
        if (ia__truthy(a) == (x->k == NK_OR)) {
            *out = a;
            return true;
        }
        ia__jv_release(r, a);
        return eval(r, x->b, sc, out);
    case NK_CONCAT: {
        sb s = {0};
        ok = true;
        for (uint32_t i = 0; ok && i < x->n; i++) {
            ok = eval(r, x->v[i], sc, &a);
            if (ok)
                ok = ia__to_str(r, a, &s);
            ia__jv_release(r, a);
        }
        if (ok)
            *out = ia__jv_str(r, s.p ? s.p : "", s.n, false);
        ia__free(s.p);
        return ok && !r->err;
    }
    case NK_CMP: {
        if (!eval(r, x->a, sc, &a))
            return false;
        bool res = true;
        ok = true;
        for (uint32_t i = 0; ok && res && i < x->n; i++) {
            ok = eval(r, x->v[i]->a, sc, &b);
            r->line = x->v[i]->line;
            if (ok)
                ok = compare(r, x->v[i]->op, a, b, &res);
            ia__jv_release(r, a);
            a = b;
            b = JV_UNDEF_V;
        }
        ia__jv_release(r, a);
        if (ok)
            *out = jv_bool(res);
        return ok;
    }
    case NK_COND:
        if (!eval(r, x->a, sc, &a))
            return false;
        ok = ia__truthy(a);
        ia__jv_release(r, a);
        if (ok)
            return eval(r, x->b, sc, out);
        if (x->c)
            return eval(r, x->c, sc, out);
        *out = JV_UNDEF_V;
        return true;
    case NK_LIST:
    case NK_TUPLE:
        return eval_seq(r, x, sc, out);
    case NK_DICT:
        return eval_dict(r, x, sc, out);
    default:
        return RFAIL(r, IA_ERR_INVALID, "internal error: not an expression");
    }
}

/* ---- statements ---- */

static bool assign(R *r, const node *target, jv v, scope *sc)
{
    if (target->k == NK_NAME)
        return scope_set(r, sc, target->name, v);
    if (target->k == NK_NSREF) {
        jv *ns = scope_find(sc, target->name);
        jv nsv = ns ? *ns : JV_UNDEF_V;
        if (!ns) {
            jv *cv = ia__dict_get_str(r->vars, target->name, strlen(target->name));
            if (cv)
                nsv = *cv;
        }
        r->line = target->line;
        bool ok;
        if (nsv.t != JV_NS)
            ok = RFAIL(r, IA_ERR_INVALID, "cannot assign attribute on non-namespace object");
        else if (target->name2[0] == '_')
            ok = RFAIL(r, IA_ERR_INVALID,
                       "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '%s'.",
                       target->name2);
        else if (!((jns *)nsv.u.o)->d)
            ok = RFAIL(r, IA_ERR_INVALID, "namespace is gone");
        else {
            jv k = ia__jv_cstr(r, target->name2);
            ok = k.t == JV_STR && ia__dict_set(r, ((jns *)nsv.u.o)->d, k, v);
            v = JV_UNDEF_V;
        }
        ia__jv_release(r, v);
        return ok;
    }
    /* tuple unpacking */
    jlist *items;
    if (!ia__iterate(r, v, &items)) {
        ia__jv_release(r, v);
        return false;
    }
    bool ok = true;
    if (items->n != target->n) {
        r->line = target->line;
        ok = items->n > target->n
                 ? RFAIL(r, IA_ERR_INVALID, "too many values to unpack (expected %u)", (unsigned)target->n)
                 : RFAIL(r, IA_ERR_INVALID, "not enough values to unpack (expected %u, got %zu)", (unsigned)target->n,
                         items->n);
    }
    for (uint32_t i = 0; ok && i < target->n; i++)
        ok = assign(r, target->v[i], jv_ref(items->v[i]), sc);
    ia__obj_release(r, &items->h);
    ia__jv_release(r, v);
    return ok;
}

static bool exec_node(R *r, const node *x, scope *sc, sb *out);

static bool exec_list(R *r, node *const *v, uint32_t n, scope *sc, sb *out)
{
    for (uint32_t i = 0; i < n; i++) {
        if (!exec_node(r, v[i], sc, out))
            return false;
        if (r->loopctl)
            return true;
    }
    return true;
}

/* The text of body in a scope of its own, through filter f if any. */
static bool capture(R *r, const node *x, scope *sc, jv *text)
{
    scope *inner = scope_new(r, sc);
    if (!inner)
        return false;
    sb b = {0};
    bool ok = exec_list(r, x->v, x->n, inner, &b);
    scope_release(r, inner);
    if (ok)
        *text = ia__jv_str(r, b.p ? b.p : "", b.n, false);
    ia__free(b.p);
    if (!ok || r->err)
        return false;
    if (x->b) {
        jv saved = r->block_input, res;
        r->block_input = *text;
        ok = eval(r, x->b, sc, &res);
        r->block_input = saved;
        ia__jv_release(r, *text);
        *text = ok ? res : JV_UNDEF_V;
    }
    return ok;
}

static bool exec_for(R *r, const node *x, scope *sc, sb *out)
{
    jv it;
    if (!eval(r, x->b, sc, &it))
        return false;
    r->line = x->line;
    jlist *items;
    bool ok = ia__iterate(r, it, &items);
    ia__jv_release(r, it);
    if (!ok)
        return false;
    if (x->c) {
        jlist *kept = ia__list_new(r, items->n, 0);
        ok = kept != NULL;
        for (size_t i = 0; ok && i < items->n; i++) {
            scope *fs = scope_new(r, sc);
            jv t;
            ok = fs && assign(r, x->a, jv_ref(items->v[i]), fs) && eval(r, x->c, fs, &t);
            if (ok) {
                if (ia__truthy(t))
                    ok = ia__list_push(r, kept, jv_ref(items->v[i]));
                ia__jv_release(r, t);
            }
            scope_release(r, fs);
        }
        ia__obj_release(r, &items->h);
        if (!ok) {
            if (kept)
                ia__obj_release(r, &kept->h);
            return false;
        }
        items = kept;
    }
    if (!items->n) {
        ia__obj_release(r, &items->h);
        if (!x->d)
            return true;
        scope *es = scope_new(r, sc);
        ok = es && exec_list(r, x->d->v, x->d->n, es, out);
        scope_release(r, es);
        return ok;
    }
    for (size_t i = 0; ok && i < items->n; i++) {
        /* an iteration allocates a scope and a loop object: it counts 4 */
        if ((r->steps += 4) > IA_JINJA_MAX_STEPS) {
            ok = RFAIL(r, IA_ERR_INVALID, "template takes more than %ld steps", IA_JINJA_MAX_STEPS);
            break;
        }
        scope *is = scope_new(r, sc);
        jloop *lp = is ? ia__calloc(1, sizeof *lp) : NULL;
        if (!lp) {
            scope_release(r, is);
            ok = ia__jinja_oom(r);
            break;
        }
        lp->h.rc = 1;
        lp->h.type = JV_LOOP;
        lp->items = items;
        items->h.rc++;
        lp->i = i;
        ok = scope_set(r, is, "loop", (jv){.t = JV_LOOP, .u.o = &lp->h}) && assign(r, x->a, jv_ref(items->v[i]), is) &&
             exec_list(r, x->v, x->n, is, out);
        scope_release(r, is);
        if (r->loopctl == 1) {
            r->loopctl = 0;
            break;
        }
        r->loopctl = 0;
    }
    ia__obj_release(r, &items->h);
    return ok;
}

static bool exec_stmt(R *r, const node *x, scope *sc, sb *out);

static bool exec_node(R *r, const node *x, scope *sc, sb *out)
{
    ENTER(r);
    bool ok = exec_stmt(r, x, sc, out);
    r->edepth--;
    return ok;
}

static bool exec_stmt(R *r, const node *x, scope *sc, sb *out)
{
    if (r->err)
        return false;
    r->line = x->line;
    if (++r->steps > IA_JINJA_MAX_STEPS)
        return RFAIL(r, IA_ERR_INVALID, "template takes more than %ld steps", IA_JINJA_MAX_STEPS);
    jv v;
    bool ok;
    switch (x->k) {
    case NK_OUTPUT:
        for (uint32_t i = 0; i < x->n; i++) {
            const node *e = x->v[i];
            if (e->k == NK_CONST && e->val.t == JV_STR) {
                if (!ia__sb_put(r, out, jv_s(e->val)->s, jv_s(e->val)->len))
                    return false;
                continue;
            }
            if (!eval(r, e, sc, &v))
                return false;
            r->line = e->line;
            ok = ia__to_str(r, v, out);
            ia__jv_release(r, v);
            if (!ok)
                return false;
        }
        return true;
    case NK_IF:
        for (const node *c = x; c;) {
            if (c->k != NK_IF)
                return exec_list(r, c->v, c->n, sc, out);
            if (!eval(r, c->a, sc, &v))
                return false;
            ok = ia__truthy(v);
            ia__jv_release(r, v);
            if (ok)
                return exec_list(r, c->v, c->n, sc, out);
            c = c->b;
        }
        return true;
    case NK_FOR:
        return exec_for(r, x, sc, out);
    case NK_SET:
        if (!eval(r, x->b, sc, &v))
            return false;
        return assign(r, x->a, v, sc);
    case NK_SETBLOCK:
        if (!capture(r, x, sc, &v))
            return false;
        return assign(r, x->a, v, sc);
    case NK_FILTERBLOCK:
        if (!capture(r, x, sc, &v))
            return false;
        ok = ia__to_str(r, v, out);
        ia__jv_release(r, v);
        return ok;
    case NK_MACRO: {
        jmacro *m = ia__calloc(1, sizeof *m);
        if (!m)
            return ia__jinja_oom(r);
        m->h.rc = 1;
        m->h.type = JV_MACRO;
        m->def = x;
        m->closure = sc;
        sc->g.h.rc++;
        return scope_set(r, sc, x->name, (jv){.t = JV_MACRO, .u.o = &m->h});
    }
    case NK_SCOPE: {
        scope *inner = scope_new(r, sc);
        ok = inner && exec_list(r, x->v, x->n, inner, out);
        scope_release(r, inner);
        return ok;
    }
    case NK_WITH: {
        scope *inner = scope_new(r, sc);
        ok = inner != NULL;
        /* values are computed in the outer scope, then bound */
        for (uint32_t i = 0; ok && i < x->b->n; i++) {
            ok = eval(r, x->b->v[i]->b, sc, &v) && assign(r, x->b->v[i]->a, v, inner);
        }
        ok = ok && exec_list(r, x->v, x->n, inner, out);
        scope_release(r, inner);
        return ok;
    }
    case NK_BODY:
        return exec_list(r, x->v, x->n, sc, out);
    case NK_BREAK:
        r->loopctl = 1;
        return true;
    case NK_CONTINUE:
        r->loopctl = 2;
        return true;
    default:
        return RFAIL(r, IA_ERR_INVALID, "internal error: not a statement");
    }
}

/* ---- context ---- */

static bool valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = i;
        uint32_t c = ia__utf8_next(s, n, &k);
        if (c == 0xfffd && (k - i != 3 || memcmp(s + i, "\xef\xbf\xbd", 3)))
            return false;
        if (c >= 0xd800 && c < 0xe000)
            return false;
        if ((k - i == 2 && c < 0x80) || (k - i == 3 && c < 0x800) || (k - i == 4 && (c < 0x10000 || c > 0x10ffff)))
            return false;
        i = k;
    }
    return true;
}

static bool from_json(R *r, const cJSON *j, jv *out, int depth)
{
    *out = JV_UNDEF_V;
    if (depth > 500)
        return RFAIL(r, IA_ERR_INVALID, "context nested deeper than 500");
    if (cJSON_IsNull(j)) {
        *out = JV_NONE_V;
    } else if (cJSON_IsBool(j)) {
        *out = jv_bool(cJSON_IsTrue(j));
    } else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) < 9.2e18)
            *out = jv_int((int64_t)d);
        else
            *out = jv_float(d);
    } else if (cJSON_IsRaw(j)) {
        const char *t = j->valuestring ? j->valuestring : "";
        char *end;
        bool isf = strpbrk(t, ".eE") != NULL;
        if (!isf) {
            long long v = strtoll(t, &end, 10);
            if (*t && !*end && t[0] != '+') {
                *out = jv_int(v);
                return true;
            }
        }
        double d = strtod(t, &end);
        if (!*t || *end || t[0] == '+' || isnan(d))
            return RFAIL(r, IA_ERR_INVALID, "context: raw item '%.40s' is not a JSON number", t);
        *out = jv_float(d);
    } else if (cJSON_IsString(j)) {
        const char *s = j->valuestring ? j->valuestring : "";
        size_t n = strlen(s);
        if (!valid_utf8(s, n))
            return RFAIL(r, IA_ERR_INVALID, "context: a string is not valid UTF-8");
        *out = ia__jv_str(r, s, n, false);
    } else if (cJSON_IsArray(j)) {
        jlist *l = ia__list_new(r, 0, 0);
        if (!l)
            return false;
        for (const cJSON *c = j->child; c; c = c->next) {
            jv v;
            if (!from_json(r, c, &v, depth + 1) || !ia__list_push(r, l, v)) {
                ia__obj_release(r, &l->h);
                return false;
            }
        }
        *out = (jv){.t = JV_LIST, .u.o = &l->h};
    } else if (cJSON_IsObject(j)) {
        jdict *d = ia__dict_new(r);
        if (!d)
            return false;
        for (const cJSON *c = j->child; c; c = c->next) {
            jv v;
            const char *k = c->string ? c->string : "";
            if (!valid_utf8(k, strlen(k))) {
                RFAIL(r, IA_ERR_INVALID, "context: a key is not valid UTF-8");
                ia__obj_release(r, &d->h);
                return false;
            }
            if (!from_json(r, c, &v, depth + 1) || !ia__dict_set(r, d, ia__jv_cstr(r, k), v)) {
                ia__obj_release(r, &d->h);
                return false;
            }
        }
        *out = (jv){.t = JV_DICT, .u.o = &d->h};
    } else {
        return RFAIL(r, IA_ERR_INVALID, "context: unsupported JSON item");
    }
    return !r->err;
}

/* ---- API ---- */

ia_status ia__jinja_compile(const char *src, size_t len, ia_jinja **out)
{
    if (!out || (!src && len))
        return ia__error(IA_ERR_INVALID, "ia__jinja_compile: src or out is NULL");
    *out = NULL;
    ia_jinja *t = ia__calloc(1, sizeof *t);
    if (!t)
        return ia__error(IA_ERR_NOMEM, "template: out of memory");
    ia_status st = ia__jinja_parse(t, src ? src : "", len);
    if (st) {
        ia__jinja_free(t);
        return st;
    }
    *out = t;
    return IA_OK;
}

ia_status ia__jinja_render(const ia_jinja *t, const cJSON *context, int64_t now, char **out, size_t *len)
{
    if (!t || !out)
        return ia__error(IA_ERR_INVALID, "ia__jinja_render: template or out is NULL");
    *out = NULL;
    if (len)
        *len = 0;
    if (context && !cJSON_IsObject(context))
        return ia__error(IA_ERR_INVALID, "ia__jinja_render: the context is not a JSON object");
    R r = {0};
    r.t = t;
    r.reg.next = r.reg.prev = &r.reg;
    r.now = now ? now : (int64_t)time(NULL);
    jv ctx = JV_UNDEF_V;
    scope *root = NULL;
    sb o = {0};
    if (context) {
        from_json(&r, context, &ctx, 0);
    } else {
        jdict *d = ia__dict_new(&r);
        if (d)
            ctx = (jv){.t = JV_DICT, .u.o = &d->h};
    }
    /* transformers always passes tools= and documents=, None by default */
    static const char *const always[] = {"tools", "documents"};
    for (size_t i = 0; i < IA_ARRAY_LEN(always) && !r.err; i++)
        if (!ia__dict_get_str(jv_d(ctx), always[i], strlen(always[i])))
            ia__dict_set(&r, jv_d(ctx), ia__jv_cstr(&r, always[i]), JV_NONE_V);
    if (!r.err) {
        r.vars = jv_d(ctx);
        root = scope_new(&r, NULL);
        if (root && exec_list(&r, t->root->v, t->root->n, root, &o) && !r.err && !o.p)
            ia__sb_put(&r, &o, "", 0);
    }
    scope_release(&r, root);
    ia__jv_release(&r, ctx);
    ia__jinja_gc_all(&r);
    if (r.err) {
        ia__free(o.p);
        return r.err;
    }
    *out = o.p;
    if (len)
        *len = o.n;
    return IA_OK;
}

void ia__jinja_free(ia_jinja *t)
{
    if (!t)
        return;
    ia__jinja_arena_free(t);
    ia__free(t);
}
