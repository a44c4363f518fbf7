/*
 * jinja2's filters and tests (jinja2/filters.py, tests.py, 3.1) with
 * transformers' tojson, the methods templates call on str, dict and list
 * values (Python's str.split, strip, format...), and printf-style `%`
 * formatting. Each follows the Python it replaces, quirks included: `map`,
 * `select` and friends return one-shot iterators, `title` is jinja2's own
 * word split, `int` retries through float, `round` rounds half to even.
 * A filter or test jinja2 has that is not here fails naming itself.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "template/jinja-impl.h"

/* ---- names ---- */

enum {
    F_ABS, F_ATTR, F_BATCH, F_CAPITALIZE, F_CENTER, F_COUNT, F_D, F_DEFAULT, F_DICTSORT, F_E, F_ESCAPE,
    F_FILESIZEFORMAT, F_FIRST, F_FLOAT, F_FORCEESCAPE, F_FORMAT, F_GROUPBY, F_INDENT, F_INT, F_ITEMS, F_JOIN,
    F_LAST, F_LENGTH, F_LIST, F_LOWER, F_MAP, F_MAX, F_MIN, F_PPRINT, F_RANDOM, F_REJECT, F_REJECTATTR, F_REPLACE,
    F_REVERSE, F_ROUND, F_SAFE, F_SELECT, F_SELECTATTR, F_SLICE, F_SORT, F_STRING, F_STRIPTAGS, F_SUM, F_TITLE,
    F_TOJSON, F_TRIM, F_TRUNCATE, F_UNIQUE, F_UPPER, F_URLENCODE, F_URLIZE, F_WORDCOUNT, F_WORDWRAP, F_XMLATTR,
};
static const char *const filter_names[] = {
    "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
    "filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent", "int", "items", "join",
    "last", "length", "list", "lower", "map", "max", "min", "pprint", "random", "reject", "rejectattr", "replace",
    "reverse", "round", "safe", "select", "selectattr", "slice", "sort", "string", "striptags", "sum", "title",
    "tojson", "trim", "truncate", "unique", "upper", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr",
};

enum {
    T_ODD, T_EVEN, T_DIVISIBLEBY, T_DEFINED, T_UNDEFINED, T_FILTER, T_TEST, T_NONE, T_BOOLEAN, T_FALSE, T_TRUE,
    T_INTEGER, T_FLOAT, T_NUMBER, T_LOWER, T_UPPER, T_STRING, T_MAPPING, T_SEQUENCE, T_ITERABLE, T_CALLABLE,
    T_SAMEAS, T_ESCAPED, T_IN, T_EQ, T_NE, T_GT, T_GE, T_LT, T_LE,
};
static const struct {
    const char *name;
    int id;
} test_names[] = {
    {"odd", T_ODD}, {"even", T_EVEN}, {"divisibleby", T_DIVISIBLEBY}, {"defined", T_DEFINED},
    {"undefined", T_UNDEFINED}, {"filter", T_FILTER}, {"test", T_TEST}, {"none", T_NONE},
    {"boolean", T_BOOLEAN}, {"false", T_FALSE}, {"true", T_TRUE}, {"integer", T_INTEGER}, {"float", T_FLOAT},
    {"number", T_NUMBER}, {"lower", T_LOWER}, {"upper", T_UPPER}, {"string", T_STRING}, {"mapping", T_MAPPING},
    {"sequence", T_SEQUENCE}, {"iterable", T_ITERABLE}, {"callable", T_CALLABLE}, {"sameas", T_SAMEAS},
    {"escaped", T_ESCAPED}, {"in", T_IN}, {"==", T_EQ}, {"eq", T_EQ}, {"equalto", T_EQ}, {"!=", T_NE},
    {"ne", T_NE}, {">", T_GT}, {"gt", T_GT}, {"greaterthan", T_GT}, {">=", T_GE}, {"ge", T_GE}, {"<", T_LT},
    {"lt", T_LT}, {"lessthan", T_LT}, {"<=", T_LE}, {"le", T_LE},
};

int ia__jinja_filter_id(const char *name)
{
    for (int i = 0; i < (int)IA_ARRAY_LEN(filter_names); i++)
        if (!strcmp(name, filter_names[i]))
            return i;
    return -1;
}

int ia__jinja_test_id(const char *name)
{
    for (size_t i = 0; i < IA_ARRAY_LEN(test_names); i++)
        if (!strcmp(name, test_names[i].name))
            return test_names[i].id;
    return -1;
}

/* ---- helpers ---- */

static const char MISSING[] = "";
#define MISS ((jv){.t = JV_UNDEF, .u.hint = MISSING})
static bool missing(jv v) { return v.t == JV_UNDEF && v.u.hint == MISSING; }
static jv mkstr(R *r, const char *s, size_t n, bool m) { return ia__jv_str(r, s, n, m); }
static jv list_v(jlist *l) { return (jv){.t = JV_LIST, .u.o = &l->h}; }
static int64_t as_int(jv v) { return v.t == JV_INT ? v.u.i : v.t == JV_BOOL ? (int64_t)v.u.b : 0; }
static bool is_intlike(jv v) { return v.t == JV_INT || v.t == JV_BOOL; }

/* Python argument binding of positional and keyword arguments to params;
 * slots are borrowed, MISS where not given. */
static bool bind(R *r, const char *what, const char *fname, const char *const *params, size_t np, const jv *args,
                 size_t nargs, const char *const *kn, const jv *kv, size_t nk, jv *slots)
{
    for (size_t i = 0; i < np; i++)
        slots[i] = MISS;
    if (nargs > np)
        return RFAIL(r, IA_ERR_INVALID, "%s '%s' takes at most %zu argument(s), %zu given", what, fname, np, nargs);
    for (size_t i = 0; i < nargs; i++)
        slots[i] = args[i];
    for (size_t k = 0; k < nk; k++) {
        size_t j = 0;
        while (j < np && strcmp(params[j], kn[k]))
            j++;
        if (j == np)
            return RFAIL(r, IA_ERR_INVALID, "%s '%s' got an unexpected keyword argument '%s'", what, fname, kn[k]);
        if (!missing(slots[j]))
            return RFAIL(r, IA_ERR_INVALID, "%s '%s' got multiple values for argument '%s'", what, fname, kn[k]);
        slots[j] = kv[k];
    }
    return true;
}

#define NOARGS(what, name)                                                                               \
    if (nargs || nk)                                                                                     \
    return RFAIL(r, IA_ERR_INVALID, "%s '%s' takes no arguments", what, name)

#define BIND(what, name, ...)                                                                            \
    static const char *const params_[] = {__VA_ARGS__};                                                  \
    jv a_[IA_ARRAY_LEN(params_)];                                                                        \
    if (!bind(r, what, name, params_, IA_ARRAY_LEN(params_), args, nargs, kn, kv, nk, a_))               \
        return false

static bool need_str(R *r, jv v, const char *what)
{
    if (v.t != JV_STR)
        return RFAIL(r, IA_ERR_INVALID, "%s must be str, not %s", what, ia__type_name(v));
    return true;
}

static bool need_int(R *r, jv v, const char *what, int64_t *out)
{
    if (!is_intlike(v))
        return RFAIL(r, IA_ERR_INVALID, "%s: '%s' object cannot be interpreted as an integer", what,
                     ia__type_name(v));
    *out = as_int(v);
    return true;
}

/* soft_str: str values as they are (Markup stays Markup), others str(). */
static jv soft_str(R *r, jv v) { return ia__str_of(r, v); }

static jv gen_of(R *r, jlist *l)
{
    l->h.flags = (uint8_t)((l->h.flags & ~(JF_TUPLE | JF_RANGE)) | JF_GEN);
    (void)r;
    return list_v(l);
}

/* ---- case mapping (utf8proc's simple mappings, plus ß and İ) ---- */

enum { CASE_UPPER, CASE_LOWER, CASE_TITLE, CASE_SWAP };

static bool is_cased(uint32_t c)
{
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}
static bool is_upper_cp(uint32_t c)
{
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LT;
}
static bool is_lower_cp(uint32_t c) { return utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_LL; }

static bool put_cp(R *r, sb *out, uint32_t c)
{
    char u[4];
    return ia__sb_put(r, out, u, ia__utf8_put(c, u));
}

static bool case_cp(R *r, uint32_t c, int mode, sb *out)
{
    if (c < 0x80) {
        char ch = (char)c;
        if (mode == CASE_UPPER || mode == CASE_TITLE || (mode == CASE_SWAP && ch >= 'a' && ch <= 'z')) {
            if (ch >= 'a' && ch <= 'z')
                ch = (char)(ch - 32);
        } else if (ch >= 'A' && ch <= 'Z') {
            ch = (char)(ch + 32);
        }
        return ia__sb_putc(r, out, ch);
    }
    if (mode == CASE_SWAP)
        mode = is_upper_cp(c) ? CASE_LOWER : is_lower_cp(c) ? CASE_UPPER : -1;
    if (c == 0xdf && (mode == CASE_UPPER))
        return ia__sb_put(r, out, "SS", 2);
    if (c == 0xdf && mode == CASE_TITLE)
        return ia__sb_put(r, out, "Ss", 2);
    if (c == 0x130 && mode == CASE_LOWER)
        return ia__sb_put(r, out, "i\xcc\x87", 3);
    uint32_t m = c;
    if (mode == CASE_UPPER)
        m = (uint32_t)utf8proc_toupper((utf8proc_int32_t)c);
    else if (mode == CASE_LOWER)
        m = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
    else if (mode == CASE_TITLE)
        m = (uint32_t)utf8proc_totitle((utf8proc_int32_t)c);
    return put_cp(r, out, m);
}

static bool case_map(R *r, const char *s, size_t n, int mode, sb *out)
{
    for (size_t i = 0; i < n;) {
        uint32_t c = ia__utf8_next(s, n, &i);
        if (!case_cp(r, c, mode, out))
            return false;
    }
    return true;
}

/* str.title(), str.capitalize() */
static bool py_title(R *r, const char *s, size_t n, sb *out)
{
    bool prev_cased = false;
    for (size_t i = 0; i < n;) {
        uint32_t c = ia__utf8_next(s, n, &i);
        if (!case_cp(r, c, prev_cased ? CASE_LOWER : CASE_TITLE, out))
            return false;
        prev_cased = is_cased(c);
    }
    return true;
}

static bool py_capitalize(R *r, const char *s, size_t n, sb *out)
{
    for (size_t i = 0; i < n;) {
        size_t st = i;
        uint32_t c = ia__utf8_next(s, n, &i);
        if (!case_cp(r, c, st == 0 ? CASE_TITLE : CASE_LOWER, out))
            return false;
    }
    return true;
}

/* A str (Markup if m) from a case mapping. */
static bool case_value(R *r, jv s, int how, jv *out)
{
    sb b = {0};
    bool ok;
    const jstr *x = jv_s(s);
    if (how == 10)
        ok = py_title(r, x->s, x->len, &b);
    else if (how == 11)
        ok = py_capitalize(r, x->s, x->len, &b);
    else
        ok = case_map(r, x->s, x->len, how, &b);
    if (ok)
        *out = mkstr(r, b.p ? b.p : "", b.n, jv_markup(s));
    ia__free(b.p);
    return ok && !r->err;
}

/* ---- strip, split ---- */

static bool in_chars(uint32_t c, const jstr *chars)
{
    if (!chars)
        return ia__py_space(c);
    for (size_t i = 0; i < chars->len;)
        if (ia__utf8_next(chars->s, chars->len, &i) == c)
            return true;
    return false;
}

/* Byte range [*a, *b) of s after stripping (which: 1 left, 2 right, 3 both). */
static void strip_range(const jstr *s, const jstr *chars, int which, size_t *a, size_t *b)
{
    size_t x = 0, y = s->len;
    if (which & 1) {
        while (x < y) {
            size_t k = x;
            uint32_t c = ia__utf8_next(s->s, s->len, &k);
            if (!in_chars(c, chars))
                break;
            x = k;
        }
    }
    if (which & 2) {
        while (y > x) {
            size_t st = y - 1;
            while (st > x && ((unsigned char)s->s[st] & 0xc0) == 0x80)
                st--;
            size_t k = st;
            uint32_t c = ia__utf8_next(s->s, s->len, &k);
            if (!in_chars(c, chars))
                break;
            y = st;
        }
    }
    *a = x;
    *b = y;
}

static bool strip_value(R *r, jv s, jv chars, int which, jv *out)
{
    if (!missing(chars) && chars.t != JV_NONE && chars.t != JV_STR)
        return RFAIL(r, IA_ERR_INVALID, "strip arg must be None or str");
    size_t a, b;
    strip_range(jv_s(s), chars.t == JV_STR ? jv_s(chars) : NULL, which, &a, &b);
    *out = mkstr(r, jv_s(s)->s + a, b - a, jv_markup(s));
    return !r->err;
}

static size_t space_len(const char *s, size_t n, size_t i)
{
    size_t k = i;
    return i < n && ia__py_space(ia__utf8_next(s, n, &k)) ? k - i : 0;
}

static bool split_value(R *r, jv s, jv sep, jv maxsplit, bool right, jv *out)
{
    int64_t max = -1;
    if (!missing(maxsplit) && !need_int(r, maxsplit, "split", &max))
        return false;
    if (!missing(sep) && sep.t != JV_NONE && sep.t != JV_STR)
        return RFAIL(r, IA_ERR_INVALID, "must be str or None, not %s", ia__type_name(sep));
    const jstr *x = jv_s(s);
    bool m = jv_markup(s);
    jlist *l = ia__list_new(r, 0, 0);
    if (!l)
        return false;
    bool ok = true;
    /* pieces as byte ranges, collected in order (reversed for rsplit) */
    size_t cap = 8, np = 0;
    size_t *pa = ia__malloc(cap * 2 * sizeof *pa);
    if (!pa) {
        ia__obj_release(r, &l->h);
        return ia__jinja_oom(r);
    }
#define ADD(A, B)                                                                \
    do {                                                                         \
        if (np == cap) {                                                         \
            size_t *q_ = ia__realloc(pa, cap * 4 * sizeof *pa);                  \
            if (!q_) {                                                           \
                ok = ia__jinja_oom(r);                                           \
                goto done;                                                       \
            }                                                                    \
            pa = q_;                                                             \
            cap *= 2;                                                            \
        }                                                                        \
        pa[2 * np] = (A);                                                        \
        pa[2 * np + 1] = (B);                                                    \
        np++;                                                                    \
    } while (0)
    if (sep.t != JV_STR) {
        if (!right) {
            size_t i = 0, w;
            int64_t splits = 0;
            for (;;) {
                while ((w = space_len(x->s, x->len, i)))
                    i += w;
                if (i >= x->len)
                    break;
                if (max >= 0 && splits >= max) {
                    ADD(i, x->len);
                    break;
                }
                size_t st = i;
                while (i < x->len && !space_len(x->s, x->len, i))
                    ia__utf8_next(x->s, x->len, &i);
                ADD(st, i);
                splits++;
            }
        } else {
            size_t e = x->len;
            int64_t splits = 0;
            for (;;) {
                /* skip trailing whitespace */
                while (e > 0) {
                    size_t st = e - 1;
                    while (st > 0 && ((unsigned char)x->s[st] & 0xc0) == 0x80)
                        st--;
                    if (!space_len(x->s, x->len, st))
                        break;
                    e = st;
                }
                if (e == 0)
                    break;
                if (max >= 0 && splits >= max) {
                    ADD(0, e);
                    break;
                }
                size_t st = e;
                while (st > 0) {
                    size_t q = st - 1;
                    while (q > 0 && ((unsigned char)x->s[q] & 0xc0) == 0x80)
                        q--;
                    if (space_len(x->s, x->len, q))
                        break;
                    st = q;
                }
                ADD(st, e);
                e = st;
                splits++;
            }
        }
    } else {
        const jstr *sp = jv_s(sep);
        if (!sp->len) {
            ok = RFAIL(r, IA_ERR_INVALID, "empty separator");
            goto done;
        }
        if (!right) {
            size_t i = 0;
            int64_t splits = 0;
            for (;;) {
                const char *f = max >= 0 && splits >= max ? NULL : memmem(x->s + i, x->len - i, sp->s, sp->len);
                if (!f) {
                    ADD(i, x->len);
                    break;
                }
                ADD(i, (size_t)(f - x->s));
                i = (size_t)(f - x->s) + sp->len;
                splits++;
            }
        } else {
            size_t e = x->len;
            int64_t splits = 0;
            for (;;) {
                const char *f = NULL;
                if (!(max >= 0 && splits >= max) && e >= sp->len) {
                    for (size_t q = e - sp->len + 1; q-- > 0;)
                        if (!memcmp(x->s + q, sp->s, sp->len)) {
                            f = x->s + q;
                            break;
                        }
                }
                if (!f) {
                    ADD(0, e);
                    break;
                }
                ADD((size_t)(f - x->s) + sp->len, e);
                e = (size_t)(f - x->s);
                splits++;
            }
        }
    }
    for (size_t k = 0; ok && k < np; k++) {
        size_t idx = right ? np - 1 - k : k;
        ok = ia__list_push(r, l, mkstr(r, x->s + pa[2 * idx], pa[2 * idx + 1] - pa[2 * idx], m));
    }
#undef ADD
done:
    ia__free(pa);
    if (!ok || r->err) {
        ia__obj_release(r, &l->h);
        return false;
    }
    *out = list_v(l);
    return true;
}

/* Length of the line break at s[i] (0 if none), as str.splitlines sees them. */
static size_t line_break(const char *s, size_t n, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    if (c == '\r')
        return i + 1 < n && s[i + 1] == '\n' ? 2 : 1;
    if (c == '\n' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e)
        return 1;
    if (c >= 0x80) {
        size_t k = i;
        uint32_t cp = ia__utf8_next(s, n, &k);
        if (cp == 0x85 || cp == 0x2028 || cp == 0x2029)
            return k - i;
    }
    return 0;
}

static bool splitlines(R *r, const jstr *x, bool keepends, bool m, jlist **out)
{
    jlist *l = ia__list_new(r, 0, 0);
    if (!l)
        return false;
    size_t st = 0;
    bool ok = true;
    for (size_t i = 0; ok && i < x->len;) {
        size_t b = line_break(x->s, x->len, i);
        if (!b) {
            ia__utf8_next(x->s, x->len, &i);
            continue;
        }
        ok = ia__list_push(r, l, mkstr(r, x->s + st, (keepends ? i + b : i) - st, m));
        i += b;
        st = i;
    }
    if (ok && st < x->len)
        ok = ia__list_push(r, l, mkstr(r, x->s + st, x->len - st, m));
    if (!ok) {
        ia__obj_release(r, &l->h);
        return false;
    }
    *out = l;
    return true;
}

/* ---- attribute getters (jinja2's make_attrgetter) ---- */

/* item -> item[part][part]... ; attribute a str with dots, or an int. */
static bool attr_get(R *r, jv item, jv attribute, jv dflt, jv *out)
{
    *out = jv_ref(item);
    if (missing(attribute) || attribute.t == JV_NONE)
        return true;
    if (attribute.t == JV_STR) {
        const jstr *a = jv_s(attribute);
        size_t st = 0;
        for (size_t i = 0; i <= a->len; i++) {
            if (i < a->len && a->s[i] != '.')
                continue;
            bool digits = i > st;
            for (size_t k = st; k < i; k++)
                digits = digits && a->s[k] >= '0' && a->s[k] <= '9';
            jv key;
            if (digits && i - st < 18) {
                key = jv_int(strtoll(a->s + st, NULL, 10));
            } else {
                key = mkstr(r, a->s + st, i - st, false);
                if (r->err)
                    return false;
            }
            jv next;
            bool ok = ia__jinja_getitem(r, *out, key, &next);
            ia__jv_release(r, key);
            ia__jv_release(r, *out);
            *out = next;
            if (!ok)
                return false;
            st = i + 1;
        }
    } else {
        jv next;
        bool ok = ia__jinja_getitem(r, *out, attribute, &next);
        ia__jv_release(r, *out);
        *out = next;
        if (!ok)
            return false;
    }
    if (!missing(dflt) && dflt.t != JV_NONE && out->t == JV_UNDEF) {
        *out = jv_ref(dflt);
    }
    return true;
}

/* ignore_case: str values lowercased */
static jv lower_key(R *r, jv v, bool case_sensitive)
{
    if (case_sensitive || v.t != JV_STR)
        return v;
    sb b = {0};
    jv res = JV_UNDEF_V;
    if (case_map(r, jv_s(v)->s, jv_s(v)->len, CASE_LOWER, &b))
        res = mkstr(r, b.p ? b.p : "", b.n, jv_markup(v));
    ia__free(b.p);
    ia__jv_release(r, v);
    return res;
}

/* Sort keys for items: attribute may be "a,b" (a list of keys then). */
static bool sort_key(R *r, jv item, jv attribute, bool case_sensitive, jv *out)
{
    if (attribute.t == JV_STR && memchr(jv_s(attribute)->s, ',', jv_s(attribute)->len)) {
        jlist *l = ia__list_new(r, 0, 0);
        if (!l)
            return false;
        const jstr *a = jv_s(attribute);
        size_t st = 0;
        for (size_t i = 0; i <= a->len; i++) {
            if (i < a->len && a->s[i] != ',')
                continue;
            jv part = mkstr(r, a->s + st, i - st, false), k;
            bool ok = !r->err && attr_get(r, item, part, MISS, &k);
            ia__jv_release(r, part);
            if (!ok || !ia__list_push(r, l, lower_key(r, k, case_sensitive)) || r->err) {
                ia__obj_release(r, &l->h);
                return false;
            }
            st = i + 1;
        }
        *out = list_v(l);
        return true;
    }
    /* jinja2's make_multi_attrgetter: the key is always a list, so equal
     * keys (undefined ones too) compare without '<' */
    jv k;
    if (!attr_get(r, item, attribute, MISS, &k))
        return false;
    jlist *l = ia__list_new(r, 1, 0);
    if (!l || !ia__list_push(r, l, lower_key(r, k, case_sensitive)) || r->err) {
        if (l)
            ia__obj_release(r, &l->h);
        else
            ia__jv_release(r, k);
        return false;
    }
    *out = list_v(l);
    return true;
}

static bool msort(R *r, jv *keys, size_t *idx, size_t *tmp, size_t n, bool reverse)
{
    if (n < 2)
        return true;
    size_t h = n / 2;
    if (!msort(r, keys, idx, tmp, h, reverse) || !msort(r, keys, idx + h, tmp, n - h, reverse))
        return false;
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        bool lt;
        if (!(reverse ? ia__lt(r, keys[idx[i]], keys[idx[j]], &lt) : ia__lt(r, keys[idx[j]], keys[idx[i]], &lt)))
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

/* A stably sorted copy of items by keys (both of n). */
static bool sorted(R *r, const jv *items, jv *keys, size_t n, bool reverse, jlist **out)
{
    size_t *idx = ia__malloc((2 * n + 1) * sizeof *idx);
    if (!idx)
        return ia__jinja_oom(r);
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    /* Python's reverse=True keeps equal items in order: sort the reversed
     * list stably, then reverse back. */
    bool ok;
    if (reverse) {
        for (size_t i = 0; i < n; i++)
            idx[i] = n - 1 - i;
        ok = msort(r, keys, idx, idx + n, n, false);
        for (size_t i = 0; ok && i < n / 2; i++) {
            size_t t = idx[i];
            idx[i] = idx[n - 1 - i];
            idx[n - 1 - i] = t;
        }
    } else {
        ok = msort(r, keys, idx, idx + n, n, false);
    }
    jlist *l = ok ? ia__list_new(r, n, 0) : NULL;
    for (size_t i = 0; l && i < n; i++)
        if (!ia__list_push(r, l, jv_ref(items[idx[i]]))) {
            ia__obj_release(r, &l->h);
            l = NULL;
        }
    ia__free(idx);
    *out = l;
    return l != NULL;
}

static void release_all(R *r, jv *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ia__jv_release(r, v[i]);
    ia__free(v);
}

/* ---- numbers from strings, as Python's int() and float() parse them ---- */

static bool py_parse_int(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    while (i < n && space_len(s, n, i))
        i += space_len(s, n, i);
    while (n > i && space_len(s, n, n - 1))
        n--;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i >= n || s[i] < '0' || s[i] > '9')
        return false;
    uint64_t acc = 0;
    bool prev_us = false;
    for (; i < n; i++) {
        if (s[i] == '_') {
            if (prev_us)
                return false;
            prev_us = true;
            continue;
        }
        if (s[i] < '0' || s[i] > '9')
            return false;
        prev_us = false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (acc > (UINT64_MAX - d) / 10)
            return false;
        acc = acc * 10 + d;
    }
    if (prev_us || acc > (uint64_t)INT64_MAX + neg)
        return false;
    *out = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return true;
}

static bool py_parse_float(const char *s, size_t n, double *out)
{
    size_t i = 0;
    while (i < n && space_len(s, n, i))
        i += space_len(s, n, i);
    while (n > i && space_len(s, n, n - 1))
        n--;
    if (i >= n || n - i > 300)
        return false;
    char buf[320];
    size_t w = 0;
    for (size_t k = i; k < n; k++) {
        if (s[k] == '_') {
            if (k == i || k + 1 >= n || !(s[k - 1] >= '0' && s[k - 1] <= '9') || !(s[k + 1] >= '0' && s[k + 1] <= '9'))
                return false;
            continue;
        }
        if (!strchr("0123456789+-.eEinfatyINFATY", s[k]))
            return false;
        buf[w++] = s[k];
    }
    buf[w] = '\0';
    const char *b = buf + (buf[0] == '+' || buf[0] == '-');
    if (!strcasecmp(b, "inf") || !strcasecmp(b, "infinity") || !strcasecmp(b, "nan")) {
        double v = b[0] == 'n' || b[0] == 'N' ? NAN : INFINITY;
        *out = buf[0] == '-' ? -v : v;
        return true;
    }
    if (strpbrk(b, "iInNaAtTyY") || strchr(b, 'x') || strchr(b, 'X'))
        return false;
    char *end;
    double v = strtod(buf, &end);
    if (*end)
        return false;
    *out = v;
    return true;
}

static bool str_replace(R *r, jv s, const jv *args, size_t nargs, jv *out);

/* ---- the filters ---- */

static bool do_round(R *r, jv v, jv prec, jv method, jv *out)
{
    int64_t p = 0;
    if (!missing(prec) && !need_int(r, prec, "round", &p))
        return false;
    const char *m = "common";
    if (!missing(method)) {
        if (!need_str(r, method, "round method"))
            return false;
        m = jv_s(method)->s;
    }
    if (strcmp(m, "common") && strcmp(m, "ceil") && strcmp(m, "floor"))
        return RFAIL(r, IA_ERR_INVALID, "method must be common, ceil or floor");
    if (v.t == JV_UNDEF)
        return RFAIL(r, IA_ERR_INVALID, "type Undefined doesn't define __round__ method");
    if (!jv_numeric(v))
        return RFAIL(r, IA_ERR_INVALID, "type %s doesn't define __round__ method", ia__type_name(v));
    if (strcmp(m, "common")) {
        double x = v.t == JV_FLOAT ? v.u.f : (double)as_int(v), sc = pow(10.0, (double)p);
        /* math.ceil / math.floor return ints: no negative zero */
        double y = (!strcmp(m, "ceil") ? ceil(x * sc) : floor(x * sc)) + 0.0;
        if (!isfinite(y))
            return RFAIL(r, IA_ERR_INVALID, "cannot convert float %s to integer", isnan(y) ? "NaN" : "infinity");
        *out = jv_float(y / sc);
        return true;
    }
    if (v.t != JV_FLOAT) {
        int64_t x = as_int(v);
        if (p >= 0) {
            *out = jv_int(x);
            return true;
        }
        if (p < -18) {
            *out = jv_int(0);
            return true;
        }
        int64_t pw = 1;
        for (int64_t i = 0; i < -p; i++)
            pw *= 10;
        int64_t q = x / pw, rem = x % pw;
        if (rem < 0) {
            rem += pw;
            q--;
        }
        if (rem * 2 > pw || (rem * 2 == pw && (q & 1)))
            q++;
        int64_t res;
        if (__builtin_mul_overflow(q, pw, &res))
            return RFAIL(r, IA_ERR_UNSUPPORTED, "integer overflow");
        *out = jv_int(res);
        return true;
    }
    double x = v.u.f;
    if (!isfinite(x) || p > 323) {
        *out = jv_float(x);
        return true;
    }
    if (p < -308) {
        *out = jv_float(0.0 * x);
        return true;
    }
    if (p >= 0) {
        char buf[400];
        snprintf(buf, sizeof buf, "%.*f", (int)p, x);
        *out = jv_float(strtod(buf, NULL));
        return true;
    }
    double pw = pow(10.0, (double)-p), y = nearbyint(x / pw) * pw;
    *out = jv_float(y);
    return true;
}

static bool do_indent(R *r, jv s, jv width, jv first, jv blank, jv *out)
{
    if (s.t != JV_STR)
        return RFAIL(r, IA_ERR_INVALID, "indent: unsupported operand type(s) for +=: '%s' and 'str'",
                     ia__type_name(s));
    sb ind = {0}, res = {0};
    bool ok = true, m = jv_markup(s);
    if (!missing(width) && width.t == JV_STR) {
        ok = ia__sb_put(r, &ind, jv_s(width)->s, jv_s(width)->len);
    } else {
        int64_t w = 4;
        if (!missing(width))
            ok = need_int(r, width, "indent", &w);
        if (ok && w > 100000)
            ok = RFAIL(r, IA_ERR_INVALID, "indent: width %" PRId64 " is too large", w);
        for (int64_t i = 0; ok && i < w; i++)
            ok = ia__sb_putc(r, &ind, ' ');
    }
    jv str = ok ? soft_str(r, s) : JV_UNDEF_V;
    if (ok && str.t == JV_STR) {
        /* s += "\n"; then splitlines */
        sb tmp = {0};
        ok = ia__sb_put(r, &tmp, jv_s(str)->s, jv_s(str)->len) && ia__sb_putc(r, &tmp, '\n');
        jv t = ok ? mkstr(r, tmp.p, tmp.n, false) : JV_UNDEF_V;
        ia__free(tmp.p);
        jlist *lines = NULL;
        if (ok && t.t == JV_STR)
            ok = splitlines(r, jv_s(t), false, false, &lines);
        ia__jv_release(r, t);
        const char *is = ind.p ? ind.p : "";
        if (ok && lines) {
            if (!missing(blank) && ia__truthy(blank)) {
                for (size_t i = 0; ok && i < lines->n; i++) {
                    if (i)
                        ok = ia__sb_putc(r, &res, '\n') && ia__sb_put(r, &res, is, ind.n);
                    ok = ok && ia__sb_put(r, &res, jv_s(lines->v[i])->s, jv_s(lines->v[i])->len);
                }
            } else {
                for (size_t i = 0; ok && i < lines->n; i++) {
                    const jstr *ln = jv_s(lines->v[i]);
                    if (i) {
                        ok = ia__sb_putc(r, &res, '\n');
                        if (ok && ln->len)
                            ok = ia__sb_put(r, &res, is, ind.n);
                    }
                    ok = ok && ia__sb_put(r, &res, ln->s, ln->len);
                }
            }
        }
        if (lines)
            ia__obj_release(r, &lines->h);
        if (ok && !missing(first) && ia__truthy(first)) {
            sb f = {0};
            ok = ia__sb_put(r, &f, is, ind.n) && ia__sb_put(r, &f, res.p ? res.p : "", res.n);
            ia__free(res.p);
            res = f;
        }
        if (ok)
            *out = mkstr(r, res.p ? res.p : "", res.n, m);
    }
    ia__jv_release(r, str);
    ia__free(ind.p);
    ia__free(res.p);
    return ok && !r->err;
}

static bool do_center(R *r, jv s, int64_t width, const char *fill, size_t fill_len, int how, jv *out)
{
    /* how: 0 center, 1 ljust, 2 rjust */
    const jstr *x = jv_s(s);
    sb b = {0};
    bool ok = true;
    if (width <= (int64_t)x->ncp) {
        *out = jv_ref(s);
        return true;
    }
    if ((uint64_t)width > IA_JINJA_MAX_OUTPUT)
        return RFAIL(r, IA_ERR_INVALID, "string longer than %zu bytes", IA_JINJA_MAX_OUTPUT);
    size_t marg = (size_t)width - x->ncp, left;
    if (how == 0)
        left = marg / 2 + (marg & (size_t)width & 1);
    else
        left = how == 1 ? 0 : marg;
    for (size_t i = 0; ok && i < left; i++)
        ok = ia__sb_put(r, &b, fill, fill_len);
    ok = ok && ia__sb_put(r, &b, x->s, x->len);
    for (size_t i = left; ok && i < marg; i++)
        ok = ia__sb_put(r, &b, fill, fill_len);
    if (ok)
        *out = mkstr(r, b.p ? b.p : "", b.n, jv_markup(s));
    ia__free(b.p);
    return ok && !r->err;
}

static bool tojson(R *r, jv v, const jv *args, size_t nargs, const char *const *kn, const jv *kv, size_t nk, jv *out)
{
    BIND("filter", "tojson", "ensure_ascii", "indent", "separators", "sort_keys");
    bool ascii = !missing(a_[0]) && ia__truthy(a_[0]);
    bool sort = !missing(a_[3]) && ia__truthy(a_[3]);
    char spaces[64];
    sb ind = {0};
    const char *indent = NULL;
    size_t indent_len = 0;
    jv in = a_[1];
    if (!missing(in) && in.t != JV_NONE) {
        if (in.t == JV_STR) {
            indent = jv_s(in)->s;
            indent_len = jv_s(in)->len;
        } else if (is_intlike(in)) {
            int64_t w = as_int(in);
            if (w > 1000)
                return RFAIL(r, IA_ERR_INVALID, "tojson: indent too large");
            if (w < (int64_t)sizeof spaces) {
                memset(spaces, ' ', sizeof spaces);
                indent = spaces;
                indent_len = w > 0 ? (size_t)w : 0;
            } else {
                for (int64_t i = 0; i < w; i++)
                    if (!ia__sb_putc(r, &ind, ' '))
                        return false;
                indent = ind.p;
                indent_len = ind.n;
            }
        } else {
            return RFAIL(r, IA_ERR_INVALID, "tojson: can't multiply sequence by non-int of type '%s'",
                         ia__type_name(in));
        }
    }
    const char *isep = indent ? "," : ", ", *ksep = ": ";
    size_t isep_len = indent ? 1 : 2, ksep_len = 2;
    jv sep = a_[2];
    if (!missing(sep) && sep.t != JV_NONE) {
        if (sep.t != JV_LIST || (jv_l(sep)->h.flags & ~JF_TUPLE) || jv_l(sep)->n != 2 ||
            jv_l(sep)->v[0].t != JV_STR || jv_l(sep)->v[1].t != JV_STR) {
            ia__free(ind.p);
            return RFAIL(r, IA_ERR_INVALID, "tojson: separators must be a pair of strings");
        }
        isep = jv_s(jv_l(sep)->v[0])->s;
        isep_len = jv_s(jv_l(sep)->v[0])->len;
        ksep = jv_s(jv_l(sep)->v[1])->s;
        ksep_len = jv_s(jv_l(sep)->v[1])->len;
    }
    sb b = {0};
    bool ok = ia__json(r, v, &b, ascii, indent, indent_len, isep, isep_len, ksep, ksep_len, sort);
    if (ok)
        *out = mkstr(r, b.p ? b.p : "", b.n, false);
    ia__free(b.p);
    ia__free(ind.p);
    return ok && !r->err;
}

/* select / reject / selectattr / rejectattr */
static bool select_filter(R *r, jv v, const jv *args, size_t nargs, const char *const *kn, const jv *kv, size_t nk,
                          bool attr, bool want, jv *out)
{
    size_t off = 0;
    jv attribute = MISS;
    if (attr) {
        if (!nargs)
            return RFAIL(r, IA_ERR_INVALID, "Missing parameter for attribute name");
        attribute = args[0];
        off = 1;
    }
    int tid = -1;
    const char *tname = NULL;
    if (nargs > off) {
        if (!need_str(r, args[off], "test name"))
            return false;
        tname = jv_s(args[off])->s;
        tid = ia__jinja_test_id(tname);
        if (tid < 0)
            return RFAIL(r, IA_ERR_FORMAT, "no test named '%s'", tname);
        if (nk)
            return RFAIL(r, IA_ERR_UNSUPPORTED, "keyword arguments to tests are not supported");
    }
    jlist *res = ia__list_new(r, 0, 0);
    if (!res)
        return false;
    if (!ia__truthy(v)) {
        *out = gen_of(r, res);
        return true;
    }
    jlist *items;
    if (!ia__iterate(r, v, &items)) {
        ia__obj_release(r, &res->h);
        return false;
    }
    bool ok = true;
    for (size_t i = 0; ok && i < items->n; i++) {
        jv x;
        ok = attr_get(r, items->v[i], attribute, MISS, &x);
        if (!ok)
            break;
        bool t;
        if (tname)
            ok = ia__jinja_test(r, tid, tname, x, args + off + 1, nargs - off - 1, &t);
        else
            t = ia__truthy(x);
        ia__jv_release(r, x);
        if (ok && t == want)
            ok = ia__list_push(r, res, jv_ref(items->v[i]));
    }
    ia__obj_release(r, &items->h);
    if (!ok) {
        ia__obj_release(r, &res->h);
        return false;
    }
    *out = gen_of(r, res);
    return true;
}

static bool map_filter(R *r, jv v, const jv *args, size_t nargs, const char *const *kn, const jv *kv, size_t nk,
                       jv *out)
{
    jv attribute = MISS, dflt = MISS;
    int fid = -1;
    const char *fname = NULL;
    if (!nargs) {
        for (size_t k = 0; k < nk; k++) {
            if (!strcmp(kn[k], "attribute"))
                attribute = kv[k];
            else if (!strcmp(kn[k], "default"))
                dflt = kv[k];
            else
                return RFAIL(r, IA_ERR_INVALID, "Unexpected keyword argument '%s'", kn[k]);
        }
        if (missing(attribute))
            return RFAIL(r, IA_ERR_INVALID, "map requires a filter argument");
    } else {
        if (!need_str(r, args[0], "map filter name"))
            return false;
        fname = jv_s(args[0])->s;
        fid = ia__jinja_filter_id(fname);
        if (fid < 0)
            return RFAIL(r, IA_ERR_FORMAT, "no filter named '%s'", fname);
    }
    jlist *res = ia__list_new(r, 0, 0);
    if (!res)
        return false;
    if (!ia__truthy(v)) {
        *out = gen_of(r, res);
        return true;
    }
    jlist *items;
    if (!ia__iterate(r, v, &items)) {
        ia__obj_release(r, &res->h);
        return false;
    }
    bool ok = true;
    for (size_t i = 0; ok && i < items->n; i++) {
        jv x;
        if (fname)
            ok = ia__jinja_filter(r, fid, fname, items->v[i], args + 1, nargs - 1, kn, kv, nk, &x);
        else
            ok = attr_get(r, items->v[i], attribute, dflt, &x);
        ok = ok && ia__list_push(r, res, x);
    }
    ia__obj_release(r, &items->h);
    if (!ok) {
        ia__obj_release(r, &res->h);
        return false;
    }
    *out = gen_of(r, res);
    return true;
}

static bool len_of(R *r, jv v, int64_t *n)
{
    switch (v.t) {
    case JV_UNDEF: *n = 0; return true;
    case JV_STR: *n = (int64_t)jv_s(v)->ncp; return true;
    case JV_DICT: *n = (int64_t)jv_d(v)->n; return true;
    case JV_NS: break;
    case JV_LOOP: *n = (int64_t)((jloop *)v.u.o)->items->n; return true;
    case JV_LIST:
        if (!(jv_l(v)->h.flags & JF_GEN)) {
            *n = (int64_t)jv_l(v)->n;
            return true;
        }
        break;
    default: break;
    }
    return RFAIL(r, IA_ERR_INVALID, "object of type '%s' has no len()", ia__type_name(v));
}

/* min / max */
static bool minmax(R *r, jv v, const jv *args, size_t nargs, const char *const *kn, const jv *kv, size_t nk,
                   bool want_max, jv *out)
{
    BIND("filter", want_max ? "max" : "min", "case_sensitive", "attribute");
    bool cs = !missing(a_[0]) && ia__truthy(a_[0]);
    jlist *items;
    if (!ia__iterate(r, v, &items))
        return false;
    if (!items->n) {
        ia__obj_release(r, &items->h);
        *out = jv_undef("No aggregated item, sequence was empty.");
        return true;
    }
    bool ok = true;
    size_t best = 0;
    jv bk = JV_UNDEF_V;
    for (size_t i = 0; ok && i < items->n; i++) {
        jv k;
        ok = attr_get(r, items->v[i], a_[1], MISS, &k);
        if (!ok)
            break;
        k = lower_key(r, k, cs);
        if (i == 0) {
            bk = k;
            continue;
        }
        bool lt;
        ok = want_max ? ia__lt(r, bk, k, &lt) : ia__lt(r, k, bk, &lt);
        if (ok && lt) {
            ia__jv_release(r, bk);
            bk = k;
            best = i;
        } else {
            ia__jv_release(r, k);
        }
    }
    ia__jv_release(r, bk);
    if (ok)
        *out = jv_ref(items->v[best]);
    ia__obj_release(r, &items->h);
    return ok;
}

static bool int_filter(R *r, jv v, jv dflt, jv base, jv *out)
{
    int64_t b = 10;
    if (!missing(base) && !need_int(r, base, "int", &b))
        return false;
    jv d = missing(dflt) ? jv_int(0) : dflt;
    if (v.t == JV_UNDEF)
        return RFAIL(r, IA_ERR_INVALID, "'%s' is undefined", v.u.hint ? v.u.hint : "value");
    if (v.t == JV_INT || v.t == JV_BOOL) {
        *out = jv_int(as_int(v));
        return true;
    }
    if (v.t == JV_FLOAT) {
        if (isnan(v.u.f)) {
            *out = jv_ref(d);
            return true;
        }
        if (!(fabs(v.u.f) < 9.2e18))
            return RFAIL(r, IA_ERR_UNSUPPORTED, "int: %g does not fit in 64 bits", v.u.f);
        *out = jv_int((int64_t)v.u.f);
        return true;
    }
    if (v.t == JV_STR) {
        int64_t x;
        double f;
        if (b != 10)
            return RFAIL(r, IA_ERR_UNSUPPORTED, "int filter with base %" PRId64 " is not supported", b);
        if (py_parse_int(jv_s(v)->s, jv_s(v)->len, &x)) {
            *out = jv_int(x);
            return true;
        }
        if (py_parse_float(jv_s(v)->s, jv_s(v)->len, &f)) {
            if (isnan(f) || isinf(f))
                return isnan(f) ? (*out = jv_ref(d), true)
                                : RFAIL(r, IA_ERR_INVALID, "cannot convert float infinity to integer");
            if (!(fabs(f) < 9.2e18))
                return RFAIL(r, IA_ERR_UNSUPPORTED, "int: value does not fit in 64 bits");
            *out = jv_int((int64_t)f);
            return true;
        }
    }
    *out = jv_ref(d);
    return true;
}

static bool batch_or_slice(R *r, jv v, jv count, jv fill, bool slice, jv *out)
{
    int64_t c = 0;
    if (!need_int(r, count, slice ? "slice" : "batch", &c))
        return false;
    jlist *items;
    if (!ia__iterate(r, v, &items))
        return false;
    jlist *res = ia__list_new(r, 0, 0);
    bool ok = res != NULL;
    bool has_fill = !missing(fill) && fill.t != JV_NONE;
    if (ok && has_fill && !slice && c > (int64_t)(IA_JINJA_MAX_OUTPUT / 16))
        ok = RFAIL(r, IA_ERR_INVALID, "batch: line count %" PRId64 " is too large", c);
    if (ok && !slice) {
        if (c <= 0 && items->n)
            ok = RFAIL(r, IA_ERR_INVALID, "batch: line count must be positive");
        jlist *tmp = NULL;
        for (size_t i = 0; ok && i < items->n; i++) {
            if (tmp && (int64_t)tmp->n == c) {
                ok = ia__list_push(r, res, list_v(tmp));
                tmp = NULL;
            }
            if (ok && !tmp)
                ok = (tmp = ia__list_new(r, 0, 0)) != NULL;
            ok = ok && ia__list_push(r, tmp, jv_ref(items->v[i]));
        }
        if (ok && tmp) {
            while (ok && has_fill && (int64_t)tmp->n < c)
                ok = ia__list_push(r, tmp, jv_ref(fill));
            ok = ok && ia__list_push(r, res, list_v(tmp));
            tmp = NULL;
        }
        if (tmp)
            ia__obj_release(r, &tmp->h);
    } else if (ok) {
        if (c <= 0)
            ok = RFAIL(r, IA_ERR_INVALID, "integer division or modulo by zero");
        int64_t len = (int64_t)items->n, per = ok ? len / c : 0, extra = ok ? len % c : 0, offset = 0;
        if (ok && c > 100000)
            ok = RFAIL(r, IA_ERR_INVALID, "slice: too many slices");
        for (int64_t k = 0; ok && k < c; k++) {
            int64_t start = offset + k * per;
            if (k < extra)
                offset++;
            int64_t end = offset + (k + 1) * per;
            jlist *tmp = ia__list_new(r, 0, 0);
            ok = tmp != NULL;
            for (int64_t i = start; ok && i < end; i++)
                ok = ia__list_push(r, tmp, jv_ref(items->v[i]));
            if (ok && has_fill && k >= extra)
                ok = ia__list_push(r, tmp, jv_ref(fill));
            if (tmp)
                ok = ia__list_push(r, res, list_v(tmp)) && ok;
        }
    }
    ia__obj_release(r, &items->h);
    if (!ok) {
        if (res)
            ia__obj_release(r, &res->h);
        return false;
    }
    *out = gen_of(r, res);
    return true;
}

static bool is_word_cp(uint32_t c)
{
    if (c == '_')
        return true;
    if (c < 0x80)
        return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
           (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

/* jinja2's title: words split at runs of [-\s({\[<]; each word's first
 * character upper-cased, the rest lower-cased. */
static bool jinja_title(R *r, const jstr *s, sb *out)
{
    bool start = true;
    for (size_t i = 0; i < s->len;) {
        uint32_t c = ia__utf8_next(s->s, s->len, &i);
        bool sep = ia__py_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
        if (sep) {
            if (!put_cp(r, out, c))
                return false;
            start = true;
            continue;
        }
        if (!case_cp(r, c, start ? CASE_UPPER : CASE_LOWER, out))
            return false;
        start = false;
    }
    return true;
}

bool ia__jinja_filter(R *r, int id, const char *name, jv v, const jv *args, size_t nargs, const char *const *kn,
                      const jv *kv, size_t nk, jv *out)
{
    *out = JV_UNDEF_V;
    switch (id) {
    case F_ABS: {
        NOARGS("filter", name);
        if (v.t == JV_FLOAT)
            *out = jv_float(fabs(v.u.f));
        else if (is_intlike(v)) {
            if (as_int(v) == INT64_MIN)
                return RFAIL(r, IA_ERR_UNSUPPORTED, "integer overflow");
            *out = jv_int(llabs(as_int(v)));
        } else
            return RFAIL(r, IA_ERR_INVALID, "bad operand type for abs(): '%s'", ia__type_name(v));
        return true;
    }
    case F_ATTR: {
        BIND("filter", name, "name");
        if (!need_str(r, a_[0], "attr name"))
            return false;
        bool ok;
        if (v.t == JV_NS || v.t == JV_LOOP)
            ok = ia__jinja_getattr(r, v, jv_s(a_[0])->s, out);
        else if (v.t == JV_UNDEF)
            return RFAIL(r, IA_ERR_INVALID, "'%s' is undefined", v.u.hint ? v.u.hint : "value");
        else
            ok = (*out = ia__jinja_method_get(r, v, jv_s(a_[0])->s), !r->err);
        if (out->t == JV_UNDEF && out->u.hint == jv_s(a_[0])->s)
            out->u.hint = NULL; /* the hint must outlive the argument */
        return ok;
    }
    case F_BATCH:
    case F_SLICE: {
        static const char *const bparams[] = {"linecount", "fill_with"}, *const sparams[] = {"slices", "fill_with"};
        jv a_[2];
        if (!bind(r, "filter", name, id == F_BATCH ? bparams : sparams, 2, args, nargs, kn, kv, nk, a_))
            return false;
        if (missing(a_[0]))
            return RFAIL(r, IA_ERR_INVALID, "filter '%s' missing a required argument", name);
        return batch_or_slice(r, v, a_[0], a_[1], id == F_SLICE, out);
    }
    case F_CAPITALIZE:
    case F_LOWER:
    case F_UPPER: {
        NOARGS("filter", name);
        jv s = soft_str(r, v);
        int how = id == F_CAPITALIZE ? 11 : id == F_LOWER ? CASE_LOWER : CASE_UPPER;
        bool ok = s.t == JV_STR && case_value(r, s, how, out);
        ia__jv_release(r, s);
        return ok;
    }
    case F_TITLE: {
        NOARGS("filter", name);
        jv s = soft_str(r, v);
        sb b = {0};
        bool ok = s.t == JV_STR && jinja_title(r, jv_s(s), &b);
        if (ok)
            *out = mkstr(r, b.p ? b.p : "", b.n, false);
        ia__free(b.p);
        ia__jv_release(r, s);
        return ok && !r->err;
    }
    case F_CENTER: {
        BIND("filter", name, "width");
        int64_t w = 80;
        if (!missing(a_[0]) && !need_int(r, a_[0], "center", &w))
            return false;
        jv s = soft_str(r, v);
        bool ok = s.t == JV_STR && do_center(r, s, w, " ", 1, 0, out);
        ia__jv_release(r, s);
        return ok;
    }
    case F_COUNT:
    case F_LENGTH: {
        NOARGS("filter", name);
        int64_t n = 0;
        if (!len_of(r, v, &n))
            return false;
        *out = jv_int(n);
        return true;
    }
    case F_D:
    case F_DEFAULT: {
        BIND("filter", name, "default_value", "boolean");
        bool boolean = !missing(a_[1]) && ia__truthy(a_[1]);
        if (v.t == JV_UNDEF || (boolean && !ia__truthy(v)))
            *out = missing(a_[0]) ? mkstr(r, "", 0, false) : jv_ref(a_[0]);
        else
            *out = jv_ref(v);
        return !r->err;
    }
    case F_DICTSORT: {
        BIND("filter", name, "case_sensitive", "by", "reverse");
        bool cs = !missing(a_[0]) && ia__truthy(a_[0]);
        bool rev = !missing(a_[2]) && ia__truthy(a_[2]);
        int pos = 0;
        if (!missing(a_[1])) {
            if (a_[1].t == JV_STR && !strcmp(jv_s(a_[1])->s, "value"))
                pos = 1;
            else if (!(a_[1].t == JV_STR && !strcmp(jv_s(a_[1])->s, "key")))
                return RFAIL(r, IA_ERR_INVALID, "You can only sort by either \"key\" or \"value\"");
        }
        if (v.t != JV_DICT)
            return RFAIL(r, IA_ERR_INVALID, "'%s' object has no attribute 'items'", ia__type_name(v));
        jdict *d = jv_d(v);
        jv *items = ia__calloc(d->n + 1, sizeof(jv)), *keys = ia__calloc(d->n + 1, sizeof(jv));
        bool ok = items && keys;
        if (!ok)
            ia__jinja_oom(r);
        size_t made = 0;
        for (size_t i = 0; ok && i < d->n; i++, made++) {
            jlist *t = ia__list_new(r, 2, JF_TUPLE);
            ok = t && ia__list_push(r, t, jv_ref(d->k[i])) && ia__list_push(r, t, jv_ref(d->v[i]));
            items[i] = t ? list_v(t) : JV_UNDEF_V;
            keys[i] = ok ? lower_key(r, jv_ref(pos ? d->v[i] : d->k[i]), cs) : JV_UNDEF_V;
            ok = ok && !r->err;
        }
        jlist *res = NULL;
        if (ok)
            ok = sorted(r, items, keys, d->n, rev, &res);
        if (items)
            release_all(r, items, made);
        if (keys)
            release_all(r, keys, made);
        if (ok)
            *out = list_v(res);
        return ok;
    }
    case F_E:
    case F_ESCAPE:
    case F_FORCEESCAPE: {
        NOARGS("filter", name);
        if (id == F_FORCEESCAPE && jv_markup(v)) {
            sb b = {0};
            bool ok = ia__escape_html(r, jv_s(v)->s, jv_s(v)->len, &b);
            if (ok)
                *out = mkstr(r, b.p ? b.p : "", b.n, true);
            ia__free(b.p);
            return ok && !r->err;
        }
        *out = ia__markup_escape(r, v);
        return !r->err;
    }
    case F_FIRST: {
        NOARGS("filter", name);
        if (v.t == JV_LIST && (jv_l(v)->h.flags & JF_GEN)) {
            jlist *l = jv_l(v);
            if (l->pos < l->n)
                *out = jv_ref(l->v[l->pos++]);
            else
                *out = jv_undef("No first item, sequence was empty.");
            return true;
        }
        jlist *items;
        if (!ia__iterate(r, v, &items))
            return false;
        *out = items->n ? jv_ref(items->v[0]) : jv_undef("No first item, sequence was empty.");
        ia__obj_release(r, &items->h);
        return true;
    }
    case F_LAST: {
        NOARGS("filter", name);
        if ((v.t == JV_LIST && (jv_l(v)->h.flags & JF_GEN)) || v.t == JV_NS || jv_numeric(v) || v.t == JV_NONE)
            return RFAIL(r, IA_ERR_INVALID, "'%s' object is not reversible", ia__type_name(v));
        jlist *items;
        if (!ia__iterate(r, v, &items))
            return false;
        *out = items->n ? jv_ref(items->v[items->n - 1]) : jv_undef("No last item, sequence was empty.");
        ia__obj_release(r, &items->h);
        return true;
    }
    case F_FLOAT: {
        BIND("filter", name, "default");
        jv d = missing(a_[0]) ? jv_float(0.0) : a_[0];
        double f;
        if (v.t == JV_UNDEF)
            return RFAIL(r, IA_ERR_INVALID, "'%s' is undefined", v.u.hint ? v.u.hint : "value");
        if (v.t == JV_FLOAT)
            *out = v;
        else if (is_intlike(v))
            *out = jv_float((double)as_int(v));
        else if (v.t == JV_STR && py_parse_float(jv_s(v)->s, jv_s(v)->len, &f))
            *out = jv_float(f);
        else
            *out = jv_ref(d);
        return true;
    }
    case F_FORMAT: {
        if (nargs && nk)
            return RFAIL(r, IA_ERR_INVALID, "can't handle positional and keyword arguments at the same time");
        jv s = soft_str(r, v);
        if (s.t != JV_STR)
            return false;
        jv fa;
        bool ok = true;
        if (nk) {
            jdict *d = ia__dict_new(r);
            ok = d != NULL;
            for (size_t k = 0; ok && k < nk; k++)
                ok = ia__dict_set(r, d, ia__jv_cstr(r, kn[k]), jv_ref(kv[k]));
            fa = d ? (jv){.t = JV_DICT, .u.o = &d->h} : JV_UNDEF_V;
        } else {
            jlist *t = ia__list_new(r, nargs, JF_TUPLE);
            ok = t != NULL;
            for (size_t i = 0; ok && i < nargs; i++)
                ok = ia__list_push(r, t, jv_ref(args[i]));
            fa = t ? list_v(t) : JV_UNDEF_V;
        }
        if (ok)
            ok = ia__percent_format(r, s, fa, out);
        ia__jv_release(r, fa);
        ia__jv_release(r, s);
        return ok;
    }
    case F_INDENT: {
        BIND("filter", name, "width", "first", "blank");
        return do_indent(r, v, a_[0], a_[1], a_[2], out);
    }
    case F_INT: {
        BIND("filter", name, "default", "base");
        return int_filter(r, v, a_[0], a_[1], out);
    }
    case F_ITEMS: {
        NOARGS("filter", name);
        jlist *res = ia__list_new(r, 0, 0);
        if (!res)
            return false;
        if (v.t != JV_UNDEF) {
            if (v.t != JV_DICT) {
                ia__obj_release(r, &res->h);
                return RFAIL(r, IA_ERR_INVALID, "Can only get item pairs from a mapping.");
            }
            for (size_t i = 0; i < jv_d(v)->n; i++) {
                jlist *t = ia__list_new(r, 2, JF_TUPLE);
                bool ok = t && ia__list_push(r, t, jv_ref(jv_d(v)->k[i])) && ia__list_push(r, t, jv_ref(jv_d(v)->v[i]));
                if (!ok && t)
                    ia__obj_release(r, &t->h);
                if (!ok || !ia__list_push(r, res, list_v(t))) {
                    ia__obj_release(r, &res->h);
                    return false;
                }
            }
        }
        *out = gen_of(r, res);
        return true;
    }
    case F_JOIN: {
        BIND("filter", name, "d", "attribute");
        jv sep = missing(a_[0]) ? JV_UNDEF_V : soft_str(r, a_[0]);
        if (r->err)
            return false;
        jlist *items;
        if (!ia__iterate(r, v, &items)) {
            ia__jv_release(r, sep);
            return false;
        }
        sb b = {0};
        bool ok = true;
        for (size_t i = 0; ok && i < items->n; i++) {
            if (i && sep.t == JV_STR)
                ok = ia__sb_put(r, &b, jv_s(sep)->s, jv_s(sep)->len);
            jv x;
            ok = ok && attr_get(r, items->v[i], a_[1], MISS, &x);
            if (ok) {
                ok = ia__to_str(r, x, &b);
                ia__jv_release(r, x);
            }
        }
        if (ok)
            *out = mkstr(r, b.p ? b.p : "", b.n, false);
        ia__free(b.p);
        ia__obj_release(r, &items->h);
        ia__jv_release(r, sep);
        return ok && !r->err;
    }
    case F_LIST: {
        NOARGS("filter", name);
        jlist *items;
        if (!ia__iterate(r, v, &items))
            return false;
        jlist *c = ia__list_new(r, items->n, 0);
        bool ok = c != NULL;
        for (size_t i = 0; ok && i < items->n; i++)
            ok = ia__list_push(r, c, jv_ref(items->v[i]));
        ia__obj_release(r, &items->h);
        if (!ok) {
            if (c)
                ia__obj_release(r, &c->h);
            return false;
        }
        *out = list_v(c);
        return true;
    }
    case F_MAP:
        return map_filter(r, v, args, nargs, kn, kv, nk, out);
    case F_MAX:
    case F_MIN:
        return minmax(r, v, args, nargs, kn, kv, nk, id == F_MAX, out);
    case F_REJECT:
    case F_SELECT:
        return select_filter(r, v, args, nargs, kn, kv, nk, false, id == F_SELECT, out);
    case F_REJECTATTR:
    case F_SELECTATTR:
        return select_filter(r, v, args, nargs, kn, kv, nk, true, id == F_SELECTATTR, out);
    case F_REPLACE: {
        BIND("filter", name, "old", "new", "count");
        if (missing(a_[0]) || missing(a_[1]))
            return RFAIL(r, IA_ERR_INVALID, "filter 'replace' missing a required argument");
        jv s = ia__str_of(r, v), o = ia__str_of(r, a_[0]), n = ia__str_of(r, a_[1]);
        bool ok = !r->err;
        int64_t count = -1;
        if (ok && !missing(a_[2]) && a_[2].t != JV_NONE)
            ok = need_int(r, a_[2], "replace", &count);
        if (ok) {
            /* plain str: replace works on str(s) with autoescape off */
            jv plain = mkstr(r, jv_s(s)->s, jv_s(s)->len, false);
            jv cargs[3] = {o, n, jv_int(count)};
            ok = plain.t == JV_STR && str_replace(r, plain, cargs, 3, out);
            ia__jv_release(r, plain);
        }
        ia__jv_release(r, s);
        ia__jv_release(r, o);
        ia__jv_release(r, n);
        return ok;
    }
    case F_REVERSE: {
        NOARGS("filter", name);
        if (v.t == JV_STR) {
            const jstr *x = jv_s(v);
            sb b = {0};
            bool ok = true;
            size_t e = x->len;
            while (ok && e > 0) {
                size_t st = e - 1;
                while (st > 0 && ((unsigned char)x->s[st] & 0xc0) == 0x80)
                    st--;
                ok = ia__sb_put(r, &b, x->s + st, e - st);
                e = st;
            }
            if (ok)
                *out = mkstr(r, b.p ? b.p : "", b.n, jv_markup(v));
            ia__free(b.p);
            return ok && !r->err;
        }
        bool gen = v.t == JV_LIST && (jv_l(v)->h.flags & JF_GEN);
        if (!(v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF))
            return RFAIL(r, IA_ERR_INVALID, "argument must be iterable");
        jlist *items;
        if (!ia__iterate(r, v, &items))
            return false;
        jlist *c = ia__list_new(r, items->n, 0);
        bool ok = c != NULL;
        for (size_t i = items->n; ok && i-- > 0;)
            ok = ia__list_push(r, c, jv_ref(items->v[i]));
        ia__obj_release(r, &items->h);
        if (!ok) {
            if (c)
                ia__obj_release(r, &c->h);
            return false;
        }
        *out = gen ? list_v(c) : gen_of(r, c);
        return true;
    }
    case F_ROUND: {
        BIND("filter", name, "precision", "method");
        return do_round(r, v, a_[0], a_[1], out);
    }
    case F_SAFE: {
        NOARGS("filter", name);
        jv s = ia__str_of(r, v);
        if (s.t != JV_STR)
            return false;
        *out = mkstr(r, jv_s(s)->s, jv_s(s)->len, true);
        ia__jv_release(r, s);
        return !r->err;
    }
    case F_SORT: {
        BIND("filter", name, "reverse", "case_sensitive", "attribute");
        bool rev = !missing(a_[0]) && ia__truthy(a_[0]);
        bool cs = !missing(a_[1]) && ia__truthy(a_[1]);
        jlist *items;
        if (!ia__iterate(r, v, &items))
            return false;
        jv *keys = ia__calloc(items->n + 1, sizeof(jv));
        bool ok = keys != NULL;
        if (!ok)
            ia__jinja_oom(r);
        size_t made = 0;
        for (size_t i = 0; ok && i < items->n; i++, made++)
            ok = sort_key(r, items->v[i], a_[2], cs, &keys[i]);
        jlist *res = NULL;
        if (ok)
            ok = sorted(r, items->v, keys, items->n, rev, &res);
        if (keys)
            release_all(r, keys, made);
        ia__obj_release(r, &items->h);
        if (ok)
            *out = list_v(res);
        return ok;
    }
    case F_STRING: {
        NOARGS("filter", name);
        *out = soft_str(r, v);
        return !r->err;
    }
    case F_SUM: {
        BIND("filter", name, "attribute", "start");
        jlist *items;
        if (!ia__iterate(r, v, &items))
            return false;
        jv acc = missing(a_[1]) ? jv_int(0) : jv_ref(a_[1]);
        if (acc.t == JV_STR) {
            ia__obj_release(r, &items->h);
            ia__jv_release(r, acc);
            return RFAIL(r, IA_ERR_INVALID, "sum() can't sum strings [use ''.join(seq) instead]");
        }
        bool ok = true;
        for (size_t i = 0; ok && i < items->n; i++) {
            jv x, s2;
            ok = attr_get(r, items->v[i], a_[0], MISS, &x);
            if (!ok)
                break;
            ok = ia__jinja_binop(r, BIN_ADD, acc, x, &s2);
            ia__jv_release(r, x);
            ia__jv_release(r, acc);
            acc = ok ? s2 : JV_UNDEF_V;
        }
        ia__obj_release(r, &items->h);
        if (!ok) {
            ia__jv_release(r, acc);
            return false;
        }
        *out = acc;
        return true;
    }
    case F_TOJSON:
        return tojson(r, v, args, nargs, kn, kv, nk, out);
    case F_TRIM: {
        BIND("filter", name, "chars");
        jv s = soft_str(r, v);
        bool ok = s.t == JV_STR && strip_value(r, s, a_[0], 3, out);
        ia__jv_release(r, s);
        return ok;
    }
    case F_TRUNCATE: {
        BIND("filter", name, "length", "killwords", "end", "leeway");
        int64_t length = 255, leeway = 5;
        if (!missing(a_[0]) && !need_int(r, a_[0], "truncate", &length))
            return false;
        if (!missing(a_[3]) && a_[3].t != JV_NONE && !need_int(r, a_[3], "truncate", &leeway))
            return false;
        int64_t vlen = 0;
        if (!len_of(r, v, &vlen))
            return false;
        jv end = missing(a_[2]) ? JV_UNDEF_V : a_[2];
        const char *es = "...";
        size_t el = 3, encp = 3;
        if (end.t == JV_STR) {
            es = jv_s(end)->s;
            el = jv_s(end)->len;
            encp = jv_s(end)->ncp;
        } else if (!missing(a_[2])) {
            return need_str(r, end, "truncate end");
        }
        if (length < (int64_t)encp)
            return RFAIL(r, IA_ERR_INVALID, "expected length >= %zu, got %" PRId64, encp, length);
        if (leeway < 0)
            return RFAIL(r, IA_ERR_INVALID, "expected leeway >= 0, got %" PRId64, leeway);
        if (vlen <= length + leeway) {
            *out = jv_ref(v);
            return true;
        }
        if (!need_str(r, v, "truncate value"))
            return false;
        const jstr *s = jv_s(v);
        size_t cut = ia__utf8_offset(s, (size_t)(length - (int64_t)encp));
        if (!missing(a_[1]) && ia__truthy(a_[1])) {
            /* killwords: cut there */
        } else {
            /* rsplit(" ", 1)[0] */
            size_t q = cut;
            while (q > 0 && s->s[q - 1] != ' ')
                q--;
            if (q > 0)
                cut = q - 1;
        }
        sb b = {0};
        bool ok = ia__sb_put(r, &b, s->s, cut) && ia__sb_put(r, &b, es, el);
        if (ok)
            *out = mkstr(r, b.p ? b.p : "", b.n, jv_markup(v));
        ia__free(b.p);
        return ok && !r->err;
    }
    case F_UNIQUE: {
        BIND("filter", name, "case_sensitive", "attribute");
        bool cs = !missing(a_[0]) && ia__truthy(a_[0]);
        jlist *items;
        if (!ia__iterate(r, v, &items))
            return false;
        jlist *res = ia__list_new(r, 0, 0);
        jdict *seen = ia__dict_new(r);
        bool ok = res && seen;
        for (size_t i = 0; ok && i < items->n; i++) {
            jv k;
            ok = attr_get(r, items->v[i], a_[1], MISS, &k);
            if (!ok)
                break;
            k = lower_key(r, k, cs);
            jv *f = ok && !r->err ? ia__dict_get(r, seen, k) : NULL;
            if (r->err) {
                ia__jv_release(r, k);
                ok = false;
            } else if (f) {
                ia__jv_release(r, k);
            } else {
                ok = ia__dict_set(r, seen, k, JV_NONE_V) && ia__list_push(r, res, jv_ref(items->v[i]));
            }
        }
        ia__obj_release(r, &items->h);
        if (seen)
            ia__obj_release(r, &seen->h);
        if (!ok) {
            if (res)
                ia__obj_release(r, &res->h);
            return false;
        }
        *out = gen_of(r, res);
        return true;
    }
    case F_WORDCOUNT: {
        NOARGS("filter", name);
        jv s = soft_str(r, v);
        if (s.t != JV_STR)
            return false;
        int64_t words = 0;
        bool in = false;
        for (size_t i = 0; i < jv_s(s)->len;) {
            bool w = is_word_cp(ia__utf8_next(jv_s(s)->s, jv_s(s)->len, &i));
            words += w && !in;
            in = w;
        }
        ia__jv_release(r, s);
        *out = jv_int(words);
        return true;
    }
    default:
        return RFAIL(r, IA_ERR_UNSUPPORTED, "filter '%s' is not supported", name);
    }
}

/* ---- tests ---- */

static bool py_mod2(R *r, jv v, int64_t d, jv *m)
{
    if (v.t == JV_UNDEF)
        return RFAIL(r, IA_ERR_INVALID, "'%s' is undefined", v.u.hint ? v.u.hint : "value");
    if (is_intlike(v)) {
        if (d == 0)
            return RFAIL(r, IA_ERR_INVALID, "integer division or modulo by zero");
        int64_t x = as_int(v), q = x % d;
        if (q && ((q < 0) != (d < 0)))
            q += d;
        *m = jv_int(q);
        return true;
    }
    if (v.t == JV_FLOAT) {
        if (d == 0)
            return RFAIL(r, IA_ERR_INVALID, "float modulo");
        double q = fmod(v.u.f, (double)d);
        if (q && ((q < 0) != (d < 0)))
            q += (double)d;
        *m = jv_float(q);
        return true;
    }
    return RFAIL(r, IA_ERR_INVALID, "unsupported operand type(s) for %%: '%s' and 'int'", ia__type_name(v));
}

static bool str_all(const jstr *s, int want_lower, bool *out)
{
    /* islower / isupper: some cased char, none of the other case */
    bool cased = false;
    for (size_t i = 0; i < s->len;) {
        uint32_t c = ia__utf8_next(s->s, s->len, &i);
        if (want_lower ? is_upper_cp(c) : is_lower_cp(c)) {
            *out = false;
            return true;
        }
        cased = cased || (want_lower ? is_lower_cp(c) : is_upper_cp(c));
    }
    *out = cased;
    return true;
}

bool ia__jinja_test(R *r, int id, const char *name, jv v, const jv *args, size_t nargs, bool *out)
{
    *out = false;
    size_t want = (id == T_DIVISIBLEBY || id == T_SAMEAS || id == T_IN || id >= T_EQ) ? 1 : 0;
    if (nargs != want)
        return RFAIL(r, IA_ERR_INVALID, "test '%s' takes %zu argument(s), %zu given", name, want, nargs);
    jv m;
    bool eq;
    switch (id) {
    case T_ODD:
    case T_EVEN:
        if (!py_mod2(r, v, 2, &m))
            return false;
        *out = (m.t == JV_INT ? m.u.i : (int64_t)m.u.f) == (id == T_ODD ? 1 : 0) &&
               (m.t == JV_INT || m.u.f == floor(m.u.f));
        return true;
    case T_DIVISIBLEBY: {
        if (!is_intlike(args[0]) && args[0].t != JV_FLOAT)
            return RFAIL(r, IA_ERR_INVALID, "divisibleby needs a number");
        if (args[0].t == JV_FLOAT) {
            if (!jv_numeric(v))
                return RFAIL(r, IA_ERR_INVALID, "unsupported operand type(s) for %%");
            double x = v.t == JV_FLOAT ? v.u.f : (double)as_int(v);
            if (args[0].u.f == 0)
                return RFAIL(r, IA_ERR_INVALID, "float modulo");
            *out = fmod(x, args[0].u.f) == 0;
            return true;
        }
        if (!py_mod2(r, v, as_int(args[0]), &m))
            return false;
        *out = m.t == JV_INT ? m.u.i == 0 : m.u.f == 0;
        return true;
    }
    case T_DEFINED: *out = v.t != JV_UNDEF; return true;
    case T_UNDEFINED: *out = v.t == JV_UNDEF; return true;
    case T_FILTER: *out = v.t == JV_STR && ia__jinja_filter_id(jv_s(v)->s) >= 0; return true;
    case T_TEST: *out = v.t == JV_STR && ia__jinja_test_id(jv_s(v)->s) >= 0; return true;
    case T_NONE: *out = v.t == JV_NONE; return true;
    case T_BOOLEAN: *out = v.t == JV_BOOL; return true;
    case T_FALSE: *out = v.t == JV_BOOL && !v.u.b; return true;
    case T_TRUE: *out = v.t == JV_BOOL && v.u.b; return true;
    case T_INTEGER: *out = v.t == JV_INT; return true;
    case T_FLOAT: *out = v.t == JV_FLOAT; return true;
    case T_NUMBER: *out = jv_numeric(v); return true;
    case T_LOWER:
    case T_UPPER: {
        jv s = ia__str_of(r, v);
        if (s.t != JV_STR)
            return false;
        str_all(jv_s(s), id == T_LOWER, out);
        ia__jv_release(r, s);
        return true;
    }
    case T_STRING: *out = v.t == JV_STR; return true;
    case T_MAPPING: *out = v.t == JV_DICT; return true;
    case T_SEQUENCE:
        *out = v.t == JV_STR || v.t == JV_DICT || v.t == JV_UNDEF ||
               (v.t == JV_LIST && !(jv_l(v)->h.flags & (JF_GEN | JF_ITEMS | JF_KEYS | JF_VALUES)));
        return true;
    case T_ITERABLE:
        *out = v.t == JV_STR || v.t == JV_DICT || v.t == JV_UNDEF || v.t == JV_LIST || v.t == JV_LOOP;
        return true;
    case T_CALLABLE:
        *out = v.t == JV_MACRO || v.t == JV_FUNC || v.t == JV_METHOD || v.t == JV_UNDEF;
        return true;
    case T_SAMEAS: {
        jv o = args[0];
        if (v.t != o.t) {
            *out = false;
        } else if (v.t == JV_NONE || v.t == JV_UNDEF) {
            *out = v.t == JV_NONE || v.u.hint == o.u.hint;
        } else if (v.t == JV_BOOL) {
            *out = v.u.b == o.u.b;
        } else if (v.t == JV_INT) {
            *out = v.u.i == o.u.i && v.u.i >= -5 && v.u.i <= 256;
        } else if (v.t == JV_FLOAT) {
            *out = false;
        } else if (v.t == JV_FUNC) {
            *out = v.u.fn == o.u.fn;
        } else {
            *out = v.u.o == o.u.o;
        }
        return true;
    }
    case T_ESCAPED: *out = jv_markup(v); return true;
    case T_IN: {
        return ia__jinja_contains(r, args[0], v, out);
    }
    case T_EQ:
    case T_NE:
        if (!ia__eq(r, v, args[0], &eq))
            return false;
        *out = id == T_EQ ? eq : !eq;
        return true;
    case T_LT: return ia__lt(r, v, args[0], out);
    case T_GT: return ia__lt(r, args[0], v, out);
    case T_LE:
    case T_GE: {
        bool lt;
        if (!(id == T_LE ? ia__lt(r, v, args[0], &lt) : ia__lt(r, args[0], v, &lt)))
            return false;
        if (lt) {
            *out = true;
            return true;
        }
        if (!ia__eq(r, v, args[0], &eq))
            return false;
        *out = eq;
        return true;
    }
    default:
        return RFAIL(r, IA_ERR_UNSUPPORTED, "test '%s' is not supported", name);
    }
}

/* ---- methods ---- */

enum {
    JM_UNSUPPORTED,
    /* str */
    JM_STRIP, JM_LSTRIP, JM_RSTRIP, JM_SPLIT, JM_RSPLIT, JM_SPLITLINES, JM_STARTSWITH, JM_ENDSWITH, JM_UPPER,
    JM_LOWER, JM_TITLE, JM_CAPITALIZE, JM_SWAPCASE, JM_CASEFOLD, JM_REPLACE, JM_FIND, JM_RFIND, JM_INDEX,
    JM_RINDEX, JM_COUNT, JM_JOIN, JM_FORMAT, JM_ISDIGIT, JM_ISALPHA, JM_ISALNUM, JM_ISSPACE, JM_ISUPPER,
    JM_ISLOWER, JM_ISNUMERIC, JM_ISDECIMAL, JM_ISTITLE, JM_ISASCII, JM_ZFILL, JM_CENTER, JM_LJUST, JM_RJUST,
    JM_REMOVEPREFIX, JM_REMOVESUFFIX, JM_PARTITION, JM_RPARTITION,
    /* dict */
    JM_GET, JM_ITEMS, JM_KEYS, JM_VALUES, JM_DCOPY,
    /* list */
    JM_LINDEX, JM_LCOUNT, JM_LCOPY,
    /* loop */
    JM_CYCLE, JM_CHANGED,
};

static const struct {
    const char *name;
    int id;
} str_methods[] = {
    {"strip", JM_STRIP}, {"lstrip", JM_LSTRIP}, {"rstrip", JM_RSTRIP}, {"split", JM_SPLIT}, {"rsplit", JM_RSPLIT},
    {"splitlines", JM_SPLITLINES}, {"startswith", JM_STARTSWITH}, {"endswith", JM_ENDSWITH}, {"upper", JM_UPPER},
    {"lower", JM_LOWER}, {"title", JM_TITLE}, {"capitalize", JM_CAPITALIZE}, {"swapcase", JM_SWAPCASE},
    {"casefold", JM_CASEFOLD}, {"replace", JM_REPLACE}, {"find", JM_FIND}, {"rfind", JM_RFIND},
    {"index", JM_INDEX}, {"rindex", JM_RINDEX}, {"count", JM_COUNT}, {"join", JM_JOIN}, {"format", JM_FORMAT},
    {"isdigit", JM_ISDIGIT}, {"isalpha", JM_ISALPHA}, {"isalnum", JM_ISALNUM}, {"isspace", JM_ISSPACE},
    {"isupper", JM_ISUPPER}, {"islower", JM_ISLOWER}, {"isnumeric", JM_ISNUMERIC}, {"isdecimal", JM_ISDECIMAL},
    {"istitle", JM_ISTITLE}, {"isascii", JM_ISASCII}, {"zfill", JM_ZFILL}, {"center", JM_CENTER},
    {"ljust", JM_LJUST}, {"rjust", JM_RJUST}, {"removeprefix", JM_REMOVEPREFIX},
    {"removesuffix", JM_REMOVESUFFIX}, {"partition", JM_PARTITION}, {"rpartition", JM_RPARTITION},
    {"encode", JM_UNSUPPORTED}, {"expandtabs", JM_UNSUPPORTED}, {"format_map", JM_UNSUPPORTED},
    {"isidentifier", JM_UNSUPPORTED}, {"isprintable", JM_UNSUPPORTED}, {"maketrans", JM_UNSUPPORTED},
    {"translate", JM_UNSUPPORTED},
};
static const char *const dict_unsafe[] = {"clear", "pop", "popitem", "setdefault", "update"};
static const char *const list_unsafe[] = {"append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort"};

/* "access to attribute 'x' of 'T' object is unsafe." messages, made once
 * per name: the hint of the undefined value a refused method is. */
static const char *unsafe_hint(const char *type, const char *name)
{
    static const char *const dict_msgs[] = {
        "access to attribute 'clear' of 'dict' object is unsafe.",
        "access to attribute 'pop' of 'dict' object is unsafe.",
        "access to attribute 'popitem' of 'dict' object is unsafe.",
        "access to attribute 'setdefault' of 'dict' object is unsafe.",
        "access to attribute 'update' of 'dict' object is unsafe.",
    };
    static const char *const list_msgs[] = {
        "access to attribute 'append' of 'list' object is unsafe.",
        "access to attribute 'clear' of 'list' object is unsafe.",
        "access to attribute 'extend' of 'list' object is unsafe.",
        "access to attribute 'insert' of 'list' object is unsafe.",
        "access to attribute 'pop' of 'list' object is unsafe.",
        "access to attribute 'remove' of 'list' object is unsafe.",
        "access to attribute 'reverse' of 'list' object is unsafe.",
        "access to attribute 'sort' of 'list' object is unsafe.",
    };
    if (!strcmp(type, "dict")) {
        for (size_t i = 0; i < IA_ARRAY_LEN(dict_unsafe); i++)
            if (!strcmp(name, dict_unsafe[i]))
                return dict_msgs[i];
    } else {
        for (size_t i = 0; i < IA_ARRAY_LEN(list_unsafe); i++)
            if (!strcmp(name, list_unsafe[i]))
                return list_msgs[i];
    }
    return NULL;
}

static jv make_method(R *r, jv self, int id, const char *name)
{
    jmethod *m = ia__calloc(1, sizeof *m + strlen(name) + 1);
    if (!m) {
        ia__jinja_oom(r);
        return JV_UNDEF_V;
    }
    m->h.rc = 1;
    m->h.type = JV_METHOD;
    m->self = jv_ref(self);
    m->id = id;
    char *nm = (char *)(m + 1);
    strcpy(nm, name);
    return (jv){.t = JV_METHOD, .u.o = &m->h};
}

static const char *method_name(const jmethod *m) { return (const char *)(m + 1); }

jv ia__jinja_method_get(R *r, jv v, const char *name)
{
    if (v.t == JV_STR) {
        for (size_t i = 0; i < IA_ARRAY_LEN(str_methods); i++)
            if (!strcmp(name, str_methods[i].name))
                return make_method(r, v, str_methods[i].id, name);
    } else if (v.t == JV_DICT) {
        static const struct {
            const char *n;
            int id;
        } dm[] = {{"get", JM_GET}, {"items", JM_ITEMS}, {"keys", JM_KEYS}, {"values", JM_VALUES}, {"copy", JM_DCOPY},
                  {"fromkeys", JM_UNSUPPORTED}};
        for (size_t i = 0; i < IA_ARRAY_LEN(dm); i++)
            if (!strcmp(name, dm[i].n))
                return make_method(r, v, dm[i].id, name);
        const char *h = unsafe_hint("dict", name);
        if (h)
            return jv_undef(h);
    } else if (v.t == JV_LIST && !(jv_l(v)->h.flags & (JF_GEN | JF_ITEMS | JF_KEYS | JF_VALUES))) {
        if (!strcmp(name, "index"))
            return make_method(r, v, JM_LINDEX, name);
        if (!strcmp(name, "count"))
            return make_method(r, v, JM_LCOUNT, name);
        if (!strcmp(name, "copy") && !(jv_l(v)->h.flags & (JF_TUPLE | JF_RANGE)))
            return make_method(r, v, JM_LCOPY, name);
        if (!(jv_l(v)->h.flags & (JF_TUPLE | JF_RANGE))) {
            const char *h = unsafe_hint("list", name);
            if (h)
                return jv_undef(h);
        }
    } else if (v.t == JV_LOOP) {
        if (!strcmp(name, "cycle"))
            return make_method(r, v, JM_CYCLE, name);
        if (!strcmp(name, "changed"))
            return make_method(r, v, JM_CHANGED, name);
    }
    return JV_UNDEF_V;
}

/* Code point index <-> byte offset for find/index with start and end. */
static bool cp_range(R *r, const jstr *s, jv start, jv end, size_t *a, size_t *b)
{
    int64_t n = (int64_t)s->ncp, x = 0, y = n;
    if (!missing(start) && start.t != JV_NONE) {
        if (!need_int(r, start, "slice index", &x))
            return false;
        if (x < 0)
            x = x + n < 0 ? 0 : x + n;
    }
    if (!missing(end) && end.t != JV_NONE) {
        if (!need_int(r, end, "slice index", &y))
            return false;
        if (y < 0)
            y = y + n < 0 ? 0 : y + n;
    }
    if (x > n)
        x = n + 1; /* empty, and past the end (find returns -1) */
    if (y > n)
        y = n;
    *a = x > n ? s->len + 1 : ia__utf8_offset(s, (size_t)x);
    *b = ia__utf8_offset(s, (size_t)(y < x ? x > n ? n : x : y));
    return true;
}

static bool str_replace(R *r, jv s, const jv *args, size_t nargs, jv *out)
{
    if (nargs < 2 || nargs > 3)
        return RFAIL(r, IA_ERR_INVALID, "replace expected 2 or 3 arguments, got %zu", nargs);
    if (!need_str(r, args[0], "replace() argument 1") || !need_str(r, args[1], "replace() argument 2"))
        return false;
    int64_t count = -1;
    if (nargs == 3 && !need_int(r, args[2], "replace", &count))
        return false;
    bool m = jv_markup(s);
    const jstr *x = jv_s(s), *o = jv_s(args[0]);
    sb nb = {0};
    bool ok = true;
    /* Markup.replace escapes its arguments */
    if (m && !jv_markup(args[1]))
        ok = ia__escape_html(r, jv_s(args[1])->s, jv_s(args[1])->len, &nb);
    else
        ok = ia__sb_put(r, &nb, jv_s(args[1])->s, jv_s(args[1])->len);
    sb ob = {0};
    if (ok && m && !jv_markup(args[0]))
        ok = ia__escape_html(r, o->s, o->len, &ob);
    else if (ok)
        ok = ia__sb_put(r, &ob, o->s, o->len);
    sb b = {0};
    int64_t done = 0;
    if (ok && ob.n == 0) {
        /* empty old: new inserted before every character and at the end */
        for (size_t i = 0; ok && i <= x->len;) {
            if (count < 0 || done < count) {
                ok = ia__sb_put(r, &b, nb.p ? nb.p : "", nb.n);
                done++;
            }
            if (i == x->len)
                break;
            size_t st = i;
            ia__utf8_next(x->s, x->len, &i);
            ok = ok && ia__sb_put(r, &b, x->s + st, i - st);
        }
    } else if (ok) {
        size_t i = 0;
        while (ok) {
            const char *f = count >= 0 && done >= count ? NULL : memmem(x->s + i, x->len - i, ob.p, ob.n);
            if (!f) {
                ok = ia__sb_put(r, &b, x->s + i, x->len - i);
                break;
            }
            ok = ia__sb_put(r, &b, x->s + i, (size_t)(f - x->s) - i) && ia__sb_put(r, &b, nb.p ? nb.p : "", nb.n);
            i = (size_t)(f - x->s) + ob.n;
            done++;
        }
    }
    if (ok)
        *out = mkstr(r, b.p ? b.p : "", b.n, m);
    ia__free(b.p);
    ia__free(nb.p);
    ia__free(ob.p);
    return ok && !r->err;
}

static bool affix_match(R *r, const jstr *s, jv affix, jv start, jv end, bool at_end, bool *out)
{
    size_t a, b;
    if (!cp_range(r, s, start, end, &a, &b))
        return false;
    *out = false;
    if (a > s->len)
        return true;
    if (b < a)
        b = a;
    jv one[1] = {affix};
    const jv *list = one;
    size_t n = 1;
    if (affix.t == JV_LIST && (jv_l(affix)->h.flags & JF_TUPLE)) {
        list = jv_l(affix)->v;
        n = jv_l(affix)->n;
    }
    for (size_t i = 0; i < n; i++) {
        if (list[i].t != JV_STR)
            return RFAIL(r, IA_ERR_INVALID, "%s first arg must be str or a tuple of str, not %s",
                         at_end ? "endswith" : "startswith", ia__type_name(list[i]));
        const jstr *p = jv_s(list[i]);
        if (p->len > b - a)
            continue;
        if (!memcmp(at_end ? s->s + b - p->len : s->s + a, p->s, p->len)) {
            *out = true;
            return true;
        }
    }
    return true;
}

static bool str_is(const jstr *s, int id)
{
    if (!s->len)
        return false;
    if (id == JM_ISTITLE) {
        bool prev_cased = false, any = false;
        for (size_t i = 0; i < s->len;) {
            uint32_t c = ia__utf8_next(s->s, s->len, &i);
            if (is_upper_cp(c)) {
                if (prev_cased)
                    return false;
                prev_cased = any = true;
            } else if (is_lower_cp(c)) {
                if (!prev_cased)
                    return false;
                prev_cased = any = true;
            } else {
                prev_cased = false;
            }
        }
        return any;
    }
    for (size_t i = 0; i < s->len;) {
        uint32_t c = ia__utf8_next(s->s, s->len, &i);
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
        bool alpha = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
        bool dec = cat == UTF8PROC_CATEGORY_ND, num = cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO;
        bool ok;
        switch (id) {
        case JM_ISDIGIT: ok = dec || (cat == UTF8PROC_CATEGORY_NO && c >= 0xb2 && c <= 0xb9); break;
        case JM_ISDECIMAL: ok = dec; break;
        case JM_ISNUMERIC: ok = num; break;
        case JM_ISALPHA: ok = alpha; break;
        case JM_ISALNUM: ok = alpha || num; break;
        case JM_ISSPACE: ok = ia__py_space(c); break;
        case JM_ISASCII: ok = c < 0x80; break;
        default: ok = false;
        }
        if (!ok)
            return false;
    }
    return true;
}

static bool str_format(R *r, jv fmt, const jv *args, size_t nargs, const char *const *kn, const jv *kv, size_t nk,
                       jv *out);

static bool str_method(R *r, const jmethod *m, const jv *args, size_t nargs, const char *const *kn, const jv *kv,
                       size_t nk, jv *out)
{
    jv s = m->self;
    const jstr *x = jv_s(s);
    const char *name = method_name(m);
    bool mk = jv_markup(s);
    switch (m->id) {
    case JM_STRIP:
    case JM_LSTRIP:
    case JM_RSTRIP: {
        BIND("method", name, "chars");
        if (nk)
            return RFAIL(r, IA_ERR_INVALID, "%s() takes no keyword arguments", name);
        return strip_value(r, s, a_[0], m->id == JM_STRIP ? 3 : m->id == JM_LSTRIP ? 1 : 2, out);
    }
    case JM_SPLIT:
    case JM_RSPLIT: {
        BIND("method", name, "sep", "maxsplit");
        return split_value(r, s, a_[0], a_[1], m->id == JM_RSPLIT, out);
    }
    case JM_SPLITLINES: {
        BIND("method", name, "keepends");
        jlist *l;
        if (!splitlines(r, x, !missing(a_[0]) && ia__truthy(a_[0]), mk, &l))
            return false;
        *out = list_v(l);
        return true;
    }
    case JM_STARTSWITH:
    case JM_ENDSWITH: {
        BIND("method", name, "prefix", "start", "end");
        if (nk || missing(a_[0]))
            return RFAIL(r, IA_ERR_INVALID, "%s() takes at least 1 positional argument", name);
        bool res;
        if (!affix_match(r, x, a_[0], a_[1], a_[2], m->id == JM_ENDSWITH, &res))
            return false;
        *out = jv_bool(res);
        return true;
    }
    case JM_UPPER: case JM_LOWER: case JM_TITLE: case JM_CAPITALIZE: case JM_SWAPCASE: case JM_CASEFOLD: {
        NOARGS("method", name);
        int how = m->id == JM_UPPER ? CASE_UPPER : m->id == JM_LOWER || m->id == JM_CASEFOLD ? CASE_LOWER
                : m->id == JM_SWAPCASE ? CASE_SWAP : m->id == JM_TITLE ? 10 : 11;
        return case_value(r, s, how, out);
    }
    case JM_REPLACE:
        if (nk)
            return RFAIL(r, IA_ERR_INVALID, "replace() takes no keyword arguments");
        return str_replace(r, s, args, nargs, out);
    case JM_FIND: case JM_RFIND: case JM_INDEX: case JM_RINDEX: case JM_COUNT: {
        BIND("method", name, "sub", "start", "end");
        if (nk || missing(a_[0]))
            return RFAIL(r, IA_ERR_INVALID, "%s() takes at least 1 positional argument", name);
        if (!need_str(r, a_[0], "substring"))
            return false;
        size_t a, b;
        if (!cp_range(r, x, a_[1], a_[2], &a, &b))
            return false;
        const jstr *sub = jv_s(a_[0]);
        int64_t found = -1, count = 0;
        if (a <= x->len) {
            if (b < a)
                b = a;
            if (m->id == JM_COUNT) {
                if (!sub->len) {
                    count = (int64_t)ia__utf8_len(x->s + a, b - a) + 1;
                } else {
                    for (size_t i = a; i + sub->len <= b;) {
                        const char *f = memmem(x->s + i, b - i, sub->s, sub->len);
                        if (!f)
                            break;
                        count++;
                        i = (size_t)(f - x->s) + sub->len;
                    }
                }
                *out = jv_int(count);
                return true;
            }
            if (m->id == JM_FIND || m->id == JM_INDEX) {
                const char *f = sub->len ? memmem(x->s + a, b - a, sub->s, sub->len) : x->s + a;
                if (f && (size_t)(f - x->s) + sub->len <= b)
                    found = (int64_t)ia__utf8_len(x->s, (size_t)(f - x->s));
            } else if (sub->len <= b - a) {
                for (size_t q = b - sub->len + 1; q-- > a;)
                    if (!memcmp(x->s + q, sub->s, sub->len)) {
                        found = (int64_t)ia__utf8_len(x->s, q);
                        break;
                    }
            }
        } else if (m->id == JM_COUNT) {
            *out = jv_int(0);
            return true;
        }
        if (found < 0 && (m->id == JM_INDEX || m->id == JM_RINDEX))
            return RFAIL(r, IA_ERR_INVALID, "substring not found");
        *out = jv_int(found);
        return true;
    }
    case JM_JOIN: {
        BIND("method", name, "iterable");
        if (nk || missing(a_[0]))
            return RFAIL(r, IA_ERR_INVALID, "join() takes exactly one argument");
        jlist *items;
        if (!ia__iterate(r, a_[0], &items))
            return false;
        sb b = {0};
        bool ok = true;
        for (size_t i = 0; ok && i < items->n; i++) {
            jv it = items->v[i];
            if (it.t != JV_STR) {
                ok = RFAIL(r, IA_ERR_INVALID, "sequence item %zu: expected str instance, %s found", i,
                           ia__type_name(it));
                break;
            }
            if (i)
                ok = ia__sb_put(r, &b, x->s, x->len);
            if (ok && mk && !jv_markup(it))
                ok = ia__escape_html(r, jv_s(it)->s, jv_s(it)->len, &b);
            else if (ok)
                ok = ia__sb_put(r, &b, jv_s(it)->s, jv_s(it)->len);
        }
        if (ok)
            *out = mkstr(r, b.p ? b.p : "", b.n, mk);
        ia__free(b.p);
        ia__obj_release(r, &items->h);
        return ok && !r->err;
    }
    case JM_FORMAT:
        return str_format(r, s, args, nargs, kn, kv, nk, out);
    case JM_ISDIGIT: case JM_ISALPHA: case JM_ISALNUM: case JM_ISSPACE: case JM_ISNUMERIC: case JM_ISDECIMAL:
    case JM_ISTITLE: case JM_ISASCII: {
        NOARGS("method", name);
        *out = jv_bool(m->id == JM_ISASCII && !x->len ? true : str_is(x, m->id));
        return true;
    }
    case JM_ISUPPER:
    case JM_ISLOWER: {
        NOARGS("method", name);
        bool res;
        str_all(x, m->id == JM_ISLOWER, &res);
        *out = jv_bool(res);
        return true;
    }
    case JM_ZFILL: {
        BIND("method", name, "width");
        int64_t w = 0;
        if (missing(a_[0]) || !need_int(r, a_[0], "zfill", &w))
            return !r->err ? RFAIL(r, IA_ERR_INVALID, "zfill() takes exactly one argument") : false;
        if (w <= (int64_t)x->ncp) {
            *out = jv_ref(s);
            return true;
        }
        if ((uint64_t)w > IA_JINJA_MAX_OUTPUT)
            return RFAIL(r, IA_ERR_INVALID, "string longer than %zu bytes", IA_JINJA_MAX_OUTPUT);
        sb b = {0};
        size_t sign = x->len && (x->s[0] == '+' || x->s[0] == '-');
        bool ok = ia__sb_put(r, &b, x->s, sign);
        for (int64_t i = 0; ok && i < w - (int64_t)x->ncp; i++)
            ok = ia__sb_putc(r, &b, '0');
        ok = ok && ia__sb_put(r, &b, x->s + sign, x->len - sign);
        if (ok)
            *out = mkstr(r, b.p ? b.p : "", b.n, mk);
        ia__free(b.p);
        return ok && !r->err;
    }
    case JM_CENTER:
    case JM_LJUST:
    case JM_RJUST: {
        BIND("method", name, "width", "fillchar");
        int64_t w = 0;
        if (nk || missing(a_[0]) || !need_int(r, a_[0], name, &w))
            return !r->err ? RFAIL(r, IA_ERR_INVALID, "%s() takes a width", name) : false;
        const char *fill = " ";
        size_t fl = 1;
        if (!missing(a_[1])) {
            if (a_[1].t != JV_STR || jv_s(a_[1])->ncp != 1)
                return RFAIL(r, IA_ERR_INVALID, "The fill character must be exactly one character long");
            fill = jv_s(a_[1])->s;
            fl = jv_s(a_[1])->len;
        }
        return do_center(r, s, w, fill, fl, m->id == JM_CENTER ? 0 : m->id == JM_LJUST ? 1 : 2, out);
    }
    case JM_REMOVEPREFIX:
    case JM_REMOVESUFFIX: {
        BIND("method", name, "affix");
        if (nk || missing(a_[0]) || !need_str(r, a_[0], name))
            return !r->err ? RFAIL(r, IA_ERR_INVALID, "%s() takes exactly one argument", name) : false;
        const jstr *p = jv_s(a_[0]);
        if (p->len <= x->len && !memcmp(m->id == JM_REMOVEPREFIX ? x->s : x->s + x->len - p->len, p->s, p->len))
            *out = m->id == JM_REMOVEPREFIX ? mkstr(r, x->s + p->len, x->len - p->len, mk)
                                            : mkstr(r, x->s, x->len - p->len, mk);
        else
            *out = jv_ref(s);
        return !r->err;
    }
    case JM_PARTITION:
    case JM_RPARTITION: {
        BIND("method", name, "sep");
        if (nk || missing(a_[0]) || !need_str(r, a_[0], name))
            return !r->err ? RFAIL(r, IA_ERR_INVALID, "%s() takes exactly one argument", name) : false;
        const jstr *p = jv_s(a_[0]);
        if (!p->len)
            return RFAIL(r, IA_ERR_INVALID, "empty separator");
        const char *f = NULL;
        if (m->id == JM_PARTITION) {
            f = memmem(x->s, x->len, p->s, p->len);
        } else if (p->len <= x->len) {
            for (size_t q = x->len - p->len + 1; q-- > 0;)
                if (!memcmp(x->s + q, p->s, p->len)) {
                    f = x->s + q;
                    break;
                }
        }
        jlist *t = ia__list_new(r, 3, JF_TUPLE);
        if (!t)
            return false;
        bool ok;
        if (f) {
            size_t at = (size_t)(f - x->s);
            ok = ia__list_push(r, t, mkstr(r, x->s, at, mk)) && ia__list_push(r, t, jv_ref(a_[0])) &&
                 ia__list_push(r, t, mkstr(r, x->s + at + p->len, x->len - at - p->len, mk));
        } else if (m->id == JM_PARTITION) {
            ok = ia__list_push(r, t, jv_ref(s)) && ia__list_push(r, t, mkstr(r, "", 0, mk)) &&
                 ia__list_push(r, t, mkstr(r, "", 0, mk));
        } else {
            ok = ia__list_push(r, t, mkstr(r, "", 0, mk)) && ia__list_push(r, t, mkstr(r, "", 0, mk)) &&
                 ia__list_push(r, t, jv_ref(s));
        }
        if (!ok) {
            ia__obj_release(r, &t->h);
            return false;
        }
        *out = list_v(t);
        return true;
    }
    default:
        return RFAIL(r, IA_ERR_UNSUPPORTED, "str method '%s' is not supported", name);
    }
}

bool ia__jinja_method_call(R *r, const jmethod *m, const jv *args, size_t nargs, const char *const *kn, const jv *kv,
                           size_t nk, jv *out)
{
    *out = JV_UNDEF_V;
    jv s = m->self;
    const char *name = method_name(m);
    if (s.t == JV_STR)
        return str_method(r, m, args, nargs, kn, kv, nk, out);
    switch (m->id) {
    case JM_GET: {
        BIND("method", name, "key", "default");
        if (nk || missing(a_[0]))
            return RFAIL(r, IA_ERR_INVALID, "get expected at least 1 argument");
        jv *v = ia__dict_get(r, jv_d(s), a_[0]);
        if (r->err)
            return false;
        *out = v ? jv_ref(*v) : missing(a_[1]) ? JV_NONE_V : jv_ref(a_[1]);
        return true;
    }
    case JM_ITEMS:
    case JM_KEYS:
    case JM_VALUES: {
        NOARGS("method", name);
        jdict *d = jv_d(s);
        jlist *l = ia__list_new(r, d->n, m->id == JM_ITEMS ? JF_ITEMS : m->id == JM_KEYS ? JF_KEYS : JF_VALUES);
        if (!l)
            return false;
        for (size_t i = 0; i < d->n; i++) {
            jv e;
            if (m->id == JM_ITEMS) {
                jlist *t = ia__list_new(r, 2, JF_TUPLE);
                if (!t || !ia__list_push(r, t, jv_ref(d->k[i])) || !ia__list_push(r, t, jv_ref(d->v[i]))) {
                    if (t)
                        ia__obj_release(r, &t->h);
                    ia__obj_release(r, &l->h);
                    return false;
                }
                e = list_v(t);
            } else {
                e = jv_ref(m->id == JM_KEYS ? d->k[i] : d->v[i]);
            }
            if (!ia__list_push(r, l, e)) {
                ia__obj_release(r, &l->h);
                return false;
            }
        }
        *out = list_v(l);
        return true;
    }
    case JM_DCOPY: {
        NOARGS("method", name);
        *out = jv_ref(s); /* dicts never change: a copy is the same dict */
        return true;
    }
    case JM_LCOPY: {
        NOARGS("method", name);
        jlist *l = jv_l(s), *c = ia__list_new(r, l->n, 0);
        if (!c)
            return false;
        for (size_t i = 0; i < l->n; i++)
            ia__list_push(r, c, jv_ref(l->v[i]));
        *out = list_v(c);
        return !r->err;
    }
    case JM_LINDEX:
    case JM_LCOUNT: {
        if (nk || nargs != 1)
            return RFAIL(r, IA_ERR_INVALID, "%s() takes exactly one argument", name);
        jlist *l = jv_l(s);
        int64_t c = 0;
        for (size_t i = 0; i < l->n; i++) {
            bool e;
            if (!ia__eq(r, l->v[i], args[0], &e))
                return false;
            if (e && m->id == JM_LINDEX) {
                *out = jv_int((int64_t)i);
                return true;
            }
            c += e;
        }
        if (m->id == JM_LINDEX)
            return RFAIL(r, IA_ERR_INVALID, "x not in list");
        *out = jv_int(c);
        return true;
    }
    case JM_CYCLE: {
        if (nk)
            return RFAIL(r, IA_ERR_INVALID, "cycle() takes no keyword arguments");
        if (!nargs)
            return RFAIL(r, IA_ERR_INVALID, "no items for cycling given");
        *out = jv_ref(args[((jloop *)s.u.o)->i % nargs]);
        return true;
    }
    case JM_CHANGED:
        return RFAIL(r, IA_ERR_UNSUPPORTED, "loop.changed() is not supported");
    default:
        return RFAIL(r, IA_ERR_UNSUPPORTED, "method '%s' of '%s' is not supported", name, ia__type_name(s));
    }
}

/* ---- formatting: printf-style % and str.format ---- */

typedef struct spec {
    char fill[5];
    size_t fill_len;
    char align; /* < > ^ = or 0 */
    char sign;  /* + - space or 0 */
    bool alt, zero;
    int64_t width, prec; /* -1: none */
    char group;          /* , _ or 0 */
    char type;
} spec;

static bool pad(R *r, sb *out, const char *body, size_t len, size_t ncp, const spec *sp, char dflt_align)
{
    char align = sp->align ? sp->align : dflt_align;
    size_t w = sp->width > 0 ? (size_t)sp->width : 0, padn = w > ncp ? w - ncp : 0, left = 0;
    const char *fill = sp->fill_len ? sp->fill : " ";
    size_t fl = sp->fill_len ? sp->fill_len : 1;
    if (align == '>')
        left = padn;
    else if (align == '^')
        left = padn / 2;
    else if (align == '=') {
        /* after the sign */
        size_t sg = len && strchr("+- ", body[0]) ? 1 : 0;
        bool ok = ia__sb_put(r, out, body, sg);
        for (size_t i = 0; ok && i < padn; i++)
            ok = ia__sb_put(r, out, fill, fl);
        return ok && ia__sb_put(r, out, body + sg, len - sg);
    }
    bool ok = true;
    for (size_t i = 0; ok && i < left; i++)
        ok = ia__sb_put(r, out, fill, fl);
    ok = ok && ia__sb_put(r, out, body, len);
    for (size_t i = left; ok && i < padn; i++)
        ok = ia__sb_put(r, out, fill, fl);
    return ok;
}

static bool parse_spec(R *r, const char *s, size_t n, spec *sp)
{
    memset(sp, 0, sizeof *sp);
    sp->width = sp->prec = -1;
    size_t i = 0;
    if (n) {
        size_t k = 0;
        ia__utf8_next(s, n, &k);
        if (k < n && strchr("<>^=", s[k])) {
            memcpy(sp->fill, s, k);
            sp->fill_len = k;
            sp->align = s[k];
            i = k + 1;
        } else if (strchr("<>^=", s[0])) {
            sp->align = s[0];
            i = 1;
        }
    }
    if (i < n && strchr("+- ", s[i]))
        sp->sign = s[i++];
    if (i < n && s[i] == '#') {
        sp->alt = true;
        i++;
    }
    if (i < n && s[i] == '0') {
        sp->zero = true;
        i++;
    }
    if (i < n && s[i] >= '0' && s[i] <= '9') {
        sp->width = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9' && sp->width < 100000)
            sp->width = sp->width * 10 + (s[i++] - '0');
    }
    if (i < n && (s[i] == ',' || s[i] == '_'))
        sp->group = s[i++];
    if (i < n && s[i] == '.') {
        i++;
        sp->prec = 0;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return RFAIL(r, IA_ERR_INVALID, "Format specifier missing precision");
        while (i < n && s[i] >= '0' && s[i] <= '9' && sp->prec < 100000)
            sp->prec = sp->prec * 10 + (s[i++] - '0');
    }
    if (i < n)
        sp->type = s[i++];
    if (i < n)
        return RFAIL(r, IA_ERR_INVALID, "Invalid format specifier");
    if (sp->zero && !sp->align) {
        sp->align = '=';
        sp->fill[0] = '0';
        sp->fill_len = 1;
    }
    if (sp->width > 10000 || sp->prec > 1000)
        return RFAIL(r, IA_ERR_INVALID, "format width or precision too large");
    return true;
}

/* format(v, spec) for the specs templates use: strings, ints, floats. */
static bool format_value(R *r, jv v, const char *s, size_t n, sb *out)
{
    if (!n)
        return ia__to_str(r, v, out);
    spec sp;
    if (!parse_spec(r, s, n, &sp))
        return false;
    char buf[1200];
    if (v.t == JV_STR) {
        if (sp.type && sp.type != 's')
            return RFAIL(r, IA_ERR_INVALID, "Unknown format code '%c' for object of type 'str'", sp.type);
        if (sp.sign || sp.alt || sp.group || sp.align == '=')
            return RFAIL(r, IA_ERR_INVALID, "invalid format specifier for str");
        const jstr *x = jv_s(v);
        size_t len = x->len, ncp = x->ncp;
        if (sp.prec >= 0 && (size_t)sp.prec < ncp) {
            len = ia__utf8_offset(x, (size_t)sp.prec);
            ncp = (size_t)sp.prec;
        }
        return pad(r, out, x->s, len, ncp, &sp, '<');
    }
    if (v.t == JV_INT || v.t == JV_BOOL) {
        if (v.t == JV_BOOL && !sp.type && !sp.width && !sp.sign)
            return ia__to_str(r, v, out);
        int64_t x = as_int(v);
        char t = sp.type ? sp.type : 'd';
        if (strchr("eEfFgG%", t)) {
            v = jv_float((double)x);
            goto flt;
        }
        if (sp.group)
            return RFAIL(r, IA_ERR_UNSUPPORTED, "digit grouping in format specs is not supported");
        uint64_t u = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
        char digits[80];
        const char *prefix = "";
        switch (t) {
        case 'd': case 'n': snprintf(digits, sizeof digits, "%" PRIu64, u); break;
        case 'x': snprintf(digits, sizeof digits, "%" PRIx64, u); prefix = sp.alt ? "0x" : ""; break;
        case 'X': snprintf(digits, sizeof digits, "%" PRIX64, u); prefix = sp.alt ? "0X" : ""; break;
        case 'o': snprintf(digits, sizeof digits, "%" PRIo64, u); prefix = sp.alt ? "0o" : ""; break;
        case 'b': {
            size_t k = 0;
            char tmp[70];
            do {
                tmp[k++] = (char)('0' + (u & 1));
                u >>= 1;
            } while (u);
            for (size_t i = 0; i < k; i++)
                digits[i] = tmp[k - 1 - i];
            digits[k] = '\0';
            prefix = sp.alt ? "0b" : "";
            break;
        }
        case 'c': {
            if (x < 0 || x > 0x10ffff)
                return RFAIL(r, IA_ERR_INVALID, "%%c arg not in range(0x110000)");
            sb t2 = {0};
            bool ok = put_cp(r, &t2, (uint32_t)x) && pad(r, out, t2.p, t2.n, 1, &sp, '<');
            ia__free(t2.p);
            return ok;
        }
        default:
            return RFAIL(r, IA_ERR_INVALID, "Unknown format code '%c' for object of type 'int'", t);
        }
        snprintf(buf, sizeof buf, "%s%s%s", x < 0 ? "-" : sp.sign == '+' ? "+" : sp.sign == ' ' ? " " : "", prefix,
                 digits);
        return pad(r, out, buf, strlen(buf), strlen(buf), &sp, '>');
    }
    if (v.t == JV_FLOAT) {
    flt:;
        double f = v.u.f;
        char t = sp.type;
        if (sp.group)
            return RFAIL(r, IA_ERR_UNSUPPORTED, "digit grouping in format specs is not supported");
        char sign = f < 0 || (f == 0 && signbit(f)) ? '-' : sp.sign == '+' ? '+' : sp.sign == ' ' ? ' ' : 0;
        double af = fabs(f);
        char body[1100];
        if (!t && sp.prec < 0) {
            ia__float_repr(af, body);
        } else if (!t) {
            /* like 'g' but keeps one digit after the point when fixed */
            snprintf(body, sizeof body, sp.alt ? "%#.*g" : "%.*g", (int)(sp.prec ? sp.prec : 1), af);
            if (!strpbrk(body, ".einf"))
                strcat(body, ".0");
        } else if (strchr("eEfFgG", t)) {
            char f2[8];
            snprintf(f2, sizeof f2, "%%%s.*%c", sp.alt ? "#" : "", t);
            snprintf(body, sizeof body, f2, (int)(sp.prec >= 0 ? sp.prec : 6), af);
        } else if (t == '%') {
            snprintf(body, sizeof body, sp.alt ? "%#.*f%%" : "%.*f%%", (int)(sp.prec >= 0 ? sp.prec : 6), af * 100);
        } else {
            return RFAIL(r, IA_ERR_INVALID, "Unknown format code '%c' for object of type 'float'", t);
        }
        snprintf(buf, sizeof buf, "%s%s", sign ? (char[]){sign, 0} : "", body);
        return pad(r, out, buf, strlen(buf), strlen(buf), &sp, '>');
    }
    return RFAIL(r, IA_ERR_INVALID, "unsupported format string passed to %s.__format__", ia__type_name(v));
}

static bool str_format(R *r, jv fmt, const jv *args, size_t nargs, const char *const *kn, const jv *kv, size_t nk,
                       jv *out)
{
    const jstr *f = jv_s(fmt);
    bool mk = jv_markup(fmt);
    sb b = {0};
    bool ok = true;
    size_t auto_idx = 0;
    int numbering = 0; /* 1 auto, 2 manual */
    for (size_t i = 0; ok && i < f->len;) {
        char c = f->s[i];
        if (c == '}') {
            if (i + 1 < f->len && f->s[i + 1] == '}') {
                ok = ia__sb_putc(r, &b, '}');
                i += 2;
                continue;
            }
            ok = RFAIL(r, IA_ERR_INVALID, "Single '}' encountered in format string");
            break;
        }
        if (c != '{') {
            ok = ia__sb_putc(r, &b, c);
            i++;
            continue;
        }
        if (i + 1 < f->len && f->s[i + 1] == '{') {
            ok = ia__sb_putc(r, &b, '{');
            i += 2;
            continue;
        }
        size_t e = i + 1;
        while (e < f->len && f->s[e] != '}' && f->s[e] != '{')
            e++;
        if (e >= f->len || f->s[e] == '{') {
            ok = e < f->len ? RFAIL(r, IA_ERR_UNSUPPORTED, "nested replacement fields in str.format are not supported")
                            : RFAIL(r, IA_ERR_INVALID, "Single '{' encountered in format string");
            break;
        }
        const char *fld = f->s + i + 1;
        size_t fl = e - i - 1, nl = 0;
        while (nl < fl && fld[nl] != '!' && fld[nl] != ':' && fld[nl] != '.' && fld[nl] != '[')
            nl++;
        jv val = JV_UNDEF_V;
        bool have = false;
        if (nl == 0) {
            if (numbering == 2) {
                ok = RFAIL(r, IA_ERR_INVALID,
                           "cannot switch from manual field specification to automatic field numbering");
                break;
            }
            numbering = 1;
            if (auto_idx >= nargs) {
                ok = RFAIL(r, IA_ERR_INVALID, "Replacement index %zu out of range for positional args tuple", auto_idx);
                break;
            }
            val = jv_ref(args[auto_idx++]);
            have = true;
        } else if (fld[0] >= '0' && fld[0] <= '9') {
            if (numbering == 1) {
                ok = RFAIL(r, IA_ERR_INVALID,
                           "cannot switch from automatic field numbering to manual field specification");
                break;
            }
            numbering = 2;
            size_t idx = 0;
            for (size_t k = 0; k < nl && idx < 100000; k++)
                idx = idx * 10 + (size_t)(fld[k] - '0');
            if (idx >= nargs) {
                ok = RFAIL(r, IA_ERR_INVALID, "Replacement index %zu out of range for positional args tuple", idx);
                break;
            }
            val = jv_ref(args[idx]);
            have = true;
        } else {
            for (size_t k = 0; k < nk; k++)
                if (strlen(kn[k]) == nl && !memcmp(kn[k], fld, nl)) {
                    val = jv_ref(kv[k]);
                    have = true;
                    break;
                }
            if (!have) {
                ok = RFAIL(r, IA_ERR_INVALID, "KeyError: '%.*s'", (int)nl, fld);
                break;
            }
        }
        size_t k = nl;
        while (ok && k < fl && (fld[k] == '.' || fld[k] == '[')) {
            size_t st = k + 1, en = st;
            if (fld[k] == '.') {
                while (en < fl && fld[en] != '.' && fld[en] != '[' && fld[en] != '!' && fld[en] != ':')
                    en++;
            } else {
                while (en < fl && fld[en] != ']')
                    en++;
            }
            char key[128];
            size_t kl = en - st < sizeof key - 1 ? en - st : sizeof key - 1;
            memcpy(key, fld + st, kl);
            key[kl] = '\0';
            jv nv;
            if (fld[k] == '.') {
                ok = ia__jinja_getattr(r, val, key, &nv);
                if (nv.t == JV_UNDEF && nv.u.hint == key)
                    nv.u.hint = NULL;
                k = en;
            } else {
                bool digits = kl > 0;
                for (size_t q = 0; q < kl; q++)
                    digits = digits && key[q] >= '0' && key[q] <= '9';
                jv kk = digits ? jv_int(strtoll(key, NULL, 10)) : ia__jv_cstr(r, key);
                ok = !r->err && ia__jinja_getitem(r, val, kk, &nv);
                ia__jv_release(r, kk);
                k = en + 1;
            }
            ia__jv_release(r, val);
            val = ok ? nv : JV_UNDEF_V;
        }
        char conv = 0;
        if (ok && k < fl && fld[k] == '!') {
            conv = k + 1 < fl ? fld[k + 1] : 0;
            k += 2;
            if (conv != 'r' && conv != 's' && conv != 'a')
                ok = RFAIL(r, IA_ERR_INVALID, "Unknown conversion specifier %c", conv ? conv : '?');
        }
        const char *specs = "";
        size_t spn = 0;
        if (ok && k < fl) {
            if (fld[k] != ':')
                ok = RFAIL(r, IA_ERR_INVALID, "expected ':' after conversion specifier");
            specs = fld + k + 1;
            spn = fl - k - 1;
        }
        if (ok && conv) {
            sb t = {0};
            ok = conv == 's' ? ia__to_str(r, val, &t) : ia__repr(r, val, &t);
            ia__jv_release(r, val);
            val = ok ? mkstr(r, t.p ? t.p : "", t.n, false) : JV_UNDEF_V;
            ia__free(t.p);
        }
        if (ok) {
            if (mk && !jv_markup(val) && !jv_numeric(val)) {
                sb t = {0};
                ok = format_value(r, val, specs, spn, &t) && ia__escape_html(r, t.p ? t.p : "", t.n, &b);
                ia__free(t.p);
            } else {
                ok = format_value(r, val, specs, spn, &b);
            }
        }
        ia__jv_release(r, val);
        i = e + 1;
    }
    if (ok)
        *out = mkstr(r, b.p ? b.p : "", b.n, mk);
    ia__free(b.p);
    return ok && !r->err;
}

bool ia__percent_format(R *r, jv fmt, jv args, jv *out)
{
    const jstr *f = jv_s(fmt);
    bool mk = jv_markup(fmt);
    const jv *list = &args;
    size_t n = 1, used = 0;
    bool tuple = args.t == JV_LIST && (jv_l(args)->h.flags & JF_TUPLE);
    if (tuple) {
        list = jv_l(args)->v;
        n = jv_l(args)->n;
    }
    bool mapping = args.t == JV_DICT;
    sb b = {0};
    bool ok = true, used_map = false;
    for (size_t i = 0; ok && i < f->len;) {
        if (f->s[i] != '%') {
            size_t st = i;
            while (i < f->len && f->s[i] != '%')
                i++;
            ok = ia__sb_put(r, &b, f->s + st, i - st);
            continue;
        }
        i++;
        if (i >= f->len) {
            ok = RFAIL(r, IA_ERR_INVALID, "incomplete format");
            break;
        }
        jv val = JV_UNDEF_V;
        bool have = false;
        if (f->s[i] == '(') {
            size_t e = i + 1;
            int depth = 1;
            while (e < f->len && depth) {
                depth += f->s[e] == '(';
                depth -= f->s[e] == ')';
                e++;
            }
            if (depth) {
                ok = RFAIL(r, IA_ERR_INVALID, "incomplete format key");
                break;
            }
            if (!mapping) {
                ok = RFAIL(r, IA_ERR_INVALID, "format requires a mapping");
                break;
            }
            jv *x = ia__dict_get_str(jv_d(args), f->s + i + 1, e - i - 2);
            if (!x) {
                ok = RFAIL(r, IA_ERR_INVALID, "KeyError: '%.*s'", (int)(e - i - 2), f->s + i + 1);
                break;
            }
            val = *x;
            have = used_map = true;
            i = e;
        }
        bool left = false, plus = false, space = false, alt = false, zero = false;
        for (; i < f->len && strchr("-+ #0", f->s[i]); i++) {
            left |= f->s[i] == '-';
            plus |= f->s[i] == '+';
            space |= f->s[i] == ' ';
            alt |= f->s[i] == '#';
            zero |= f->s[i] == '0';
        }
        int64_t width = -1, prec = -1;
        if (i < f->len && f->s[i] == '*') {
            if (used >= n || !is_intlike(list[used])) {
                ok = RFAIL(r, IA_ERR_INVALID, "* wants int");
                break;
            }
            width = as_int(list[used++]);
            if (width < 0) {
                left = true;
                width = -width;
            }
            i++;
        } else {
            while (i < f->len && f->s[i] >= '0' && f->s[i] <= '9' && width < 100000)
                width = (width < 0 ? 0 : width * 10) + (f->s[i++] - '0');
        }
        if (i < f->len && f->s[i] == '.') {
            i++;
            prec = 0;
            if (i < f->len && f->s[i] == '*') {
                if (used >= n || !is_intlike(list[used])) {
                    ok = RFAIL(r, IA_ERR_INVALID, "* wants int");
                    break;
                }
                prec = as_int(list[used++]);
                i++;
            } else {
                while (i < f->len && f->s[i] >= '0' && f->s[i] <= '9' && prec < 100000)
                    prec = prec * 10 + (f->s[i++] - '0');
            }
        }
        while (i < f->len && strchr("hlL", f->s[i]))
            i++;
        if (i >= f->len) {
            ok = RFAIL(r, IA_ERR_INVALID, "incomplete format");
            break;
        }
        if (width > 10000 || prec > 1000) {
            ok = RFAIL(r, IA_ERR_INVALID, "format width or precision too large");
            break;
        }
        char t = f->s[i++];
        if (t == '%') {
            ok = ia__sb_putc(r, &b, '%');
            continue;
        }
        if (!have) {
            if (mapping && !tuple) {
                val = args;
                used_map = true;
            } else if (used < n) {
                val = list[used++];
            } else {
                ok = RFAIL(r, IA_ERR_INVALID, "not enough arguments for format string");
                break;
            }
        }
        sb body = {0};
        spec sp;
        memset(&sp, 0, sizeof sp);
        sp.width = width;
        sp.align = left ? '<' : '>';
        switch (t) {
        case 's':
        case 'r':
        case 'a': {
            ok = t == 's' ? ia__to_str(r, val, &body) : ia__repr(r, val, &body);
            if (ok && prec >= 0) {
                size_t keep = ia__utf8_len(body.p ? body.p : "", body.n);
                if ((size_t)prec < keep) {
                    size_t off = 0;
                    for (int64_t k = 0; k < prec; k++)
                        ia__utf8_next(body.p, body.n, &off);
                    body.n = off;
                }
            }
            if (ok && mk && !jv_markup(val) && !jv_numeric(val)) {
                sb esc = {0};
                ok = ia__escape_html(r, body.p ? body.p : "", body.n, &esc);
                ia__free(body.p);
                body = esc;
            }
            if (ok)
                ok = pad(r, &b, body.p ? body.p : "", body.n, ia__utf8_len(body.p ? body.p : "", body.n), &sp, '>');
            break;
        }
        case 'd': case 'i': case 'u': case 'x': case 'X': case 'o': case 'c': {
            int64_t x;
            if (is_intlike(val)) {
                x = as_int(val);
            } else if (val.t == JV_FLOAT && t != 'c' && t != 'x' && t != 'X' && t != 'o') {
                if (!(fabs(val.u.f) < 9.2e18)) {
                    ok = RFAIL(r, IA_ERR_UNSUPPORTED, "%%d of a float beyond 64 bits");
                    break;
                }
                x = (int64_t)val.u.f;
            } else if (t == 'c' && val.t == JV_STR && jv_s(val)->ncp == 1) {
                ok = pad(r, &b, jv_s(val)->s, jv_s(val)->len, 1, &sp, '>');
                break;
            } else {
                ok = RFAIL(r, IA_ERR_INVALID, "%%%c format: a number is required, not %s", t, ia__type_name(val));
                break;
            }
            if (t == 'c') {
                if (x < 0 || x > 0x10ffff) {
                    ok = RFAIL(r, IA_ERR_INVALID, "%%c arg not in range(0x110000)");
                    break;
                }
                ok = put_cp(r, &body, (uint32_t)x) && pad(r, &b, body.p, body.n, 1, &sp, '>');
                break;
            }
            uint64_t u = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
            char digits[80], num[200];
            if (t == 'x')
                snprintf(digits, sizeof digits, "%" PRIx64, u);
            else if (t == 'X')
                snprintf(digits, sizeof digits, "%" PRIX64, u);
            else if (t == 'o')
                snprintf(digits, sizeof digits, "%" PRIo64, u);
            else
                snprintf(digits, sizeof digits, "%" PRIu64, u);
            const char *pre = alt ? (t == 'x' ? "0x" : t == 'X' ? "0X" : t == 'o' ? "0o" : "") : "";
            const char *sg = x < 0 ? "-" : plus ? "+" : space ? " " : "";
            size_t dl = strlen(digits);
            int zeros = prec > (int64_t)dl ? (int)(prec - (int64_t)dl) : 0;
            if (zero && !left && width > 0) {
                int64_t rest = width - (int64_t)(strlen(sg) + strlen(pre) + dl) - zeros;
                if (rest > 0)
                    zeros += (int)rest;
            }
            if (zeros > 10000)
                zeros = 10000;
            snprintf(num, sizeof num, "%s%s", sg, pre);
            ok = ia__sb_put(r, &body, num, strlen(num));
            for (int k = 0; ok && k < zeros; k++)
                ok = ia__sb_putc(r, &body, '0');
            ok = ok && ia__sb_put(r, &body, digits, dl);
            if (ok)
                ok = pad(r, &b, body.p, body.n, body.n, &sp, '>');
            break;
        }
        case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': {
            double x;
            if (val.t == JV_FLOAT)
                x = val.u.f;
            else if (is_intlike(val))
                x = (double)as_int(val);
            else {
                ok = RFAIL(r, IA_ERR_INVALID, "must be real number, not %s", ia__type_name(val));
                break;
            }
            char cf[16], num[1200];
            snprintf(cf, sizeof cf, "%%%s%s%s%s%s*.*%c", left ? "-" : "", plus ? "+" : "", space ? " " : "",
                     alt ? "#" : "", zero ? "0" : "", t);
            snprintf(num, sizeof num, cf, (int)(width < 0 ? 0 : width), (int)(prec < 0 ? 6 : prec), x);
            ok = ia__sb_put(r, &b, num, strlen(num));
            break;
        }
        default:
            ok = RFAIL(r, IA_ERR_INVALID, "unsupported format character '%c'", t);
        }
        ia__free(body.p);
    }
    if (ok && !mapping && used < n && !(args.t != JV_LIST && n == 1 && used == 1))
        ok = RFAIL(r, IA_ERR_INVALID, "not all arguments converted during string formatting");
    (void)used_map;
    if (ok)
        *out = mkstr(r, b.p ? b.p : "", b.n, mk);
    ia__free(b.p);
    return ok && !r->err;
}
