/*
 * Inside the Jinja interpreter (jinja.h): the values it computes with, the
 * syntax tree the parser builds, and the render state, shared by
 * jinja_parse.c (lexer, parser), jinja_value.c (values: Python semantics
 * for str(), repr(), ==, <, json.dumps), jinja_filters.c (filters, tests,
 * methods of str/dict/list) and jinja.c (the evaluator and the API).
 *
 * Values are Python's, by reference: a jv is a small tagged value; strings,
 * lists, dicts and the rest live on the heap with a reference count. Lists
 * and dicts never change once built (transformers' sandbox forbids
 * list.append and friends), so sharing them is safe; namespaces and scopes
 * are the only mutable objects, and the only ones that can form cycles:
 * every render keeps them on a list and clears what is left of them at the
 * end. Objects that reach a count of zero are freed from a queue, not by
 * recursion, so no nesting of values can exhaust the C stack. Constants of
 * a compiled template (strings in the syntax tree) are immortal (count -1)
 * and never written, which is what makes one template renderable from
 * many threads at once. Never installed.
 */
#ifndef IA_TEMPLATE_JINJA_IMPL_H
#define IA_TEMPLATE_JINJA_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "template/jinja.h"

/* ---- values ---- */

typedef enum jv_type {
    JV_UNDEF,  /* jinja2's Undefined: "", falsy, an error on most uses */
    JV_NONE,
    JV_BOOL,
    JV_INT,    /* int64; an overflow is an error, never a wrong number */
    JV_FLOAT,
    JV_STR,    /* UTF-8; flag JF_MARKUP for markupsafe.Markup */
    JV_LIST,   /* also tuples, ranges, dict views and one-shot iterators */
    JV_DICT,   /* insertion-ordered */
    JV_NS,     /* namespace(): the one mutable value */
    JV_MACRO,
    JV_LOOP,   /* the `loop` of a for loop */
    JV_FUNC,   /* a global function: range, dict, namespace, ... */
    JV_METHOD, /* a bound method of a str, dict, list or loop */
} jv_type;

typedef struct jobj jobj;
typedef struct jv {
    uint8_t t;
    union {
        bool b;
        int64_t i;
        double f;
        jobj *o;          /* JV_STR and after (not JV_FUNC) */
        const char *hint; /* JV_UNDEF: the name that was missing, or NULL */
        int fn;           /* JV_FUNC: a JB_* id */
    } u;
} jv;

/* Heap object header. rc < 0: immortal. */
struct jobj {
    int32_t rc;
    uint8_t type;  /* the jv_type */
    uint8_t flags; /* JF_* */
    jobj *dead_next;
};

enum {
    JF_MARKUP = 1, /* str: a markupsafe.Markup */
    JF_TUPLE = 1,  /* list: a tuple */
    JF_GEN = 2,    /* list: a one-shot iterator (generator, reversed()) */
    JF_RANGE = 4,  /* list: a range object */
    JF_ITEMS = 8,  /* list: dict_items / dict_keys / dict_values */
    JF_KEYS = 16,
    JF_VALUES = 32,
};

typedef struct jstr {
    jobj h;
    size_t len; /* bytes */
    size_t ncp; /* code points */
    char s[];   /* NUL-terminated */
} jstr;

typedef struct jlist {
    jobj h;
    int depth; /* nesting of containers below, bounded */
    size_t n, cap;
    size_t pos; /* JF_GEN: items before pos were consumed */
    int64_t r_start, r_stop, r_step; /* JF_RANGE */
    jv *v;
} jlist;

typedef struct jdict {
    jobj h;
    int depth;
    size_t n, cap;
    jv *k, *v;
    uint32_t *idx; /* open addressing over entries (index + 1), from 8 on */
    size_t nidx;
} jdict;

/* Mutable objects that can form cycles, on the render's list. */
typedef struct jgc {
    jobj h;
    struct jgc *prev, *next;
} jgc;

typedef struct jns {
    jgc g;
    jdict *d;
} jns;

/* The heap type tag of a scope (not a value). */
#define JV_SCOPE_TYPE 0xff

typedef struct node node;
typedef struct scope {
    jgc g;
    struct scope *parent;
    size_t n, cap;
    const char **names; /* from the syntax tree (or static), never freed here */
    jv *vals;
    const char *small_names[4]; /* names and vals while n <= 4 */
    jv small_vals[4];
} scope;

typedef struct jmacro {
    jobj h;
    const node *def;
    scope *closure;
} jmacro;

typedef struct jloop {
    jobj h;
    jlist *items; /* what is iterated (after the loop's `if`) */
    size_t i;
} jloop;

typedef struct jmethod {
    jobj h;
    jv self;
    int id; /* JM_* */
} jmethod;

#define JV_UNDEF_V ((jv){.t = JV_UNDEF})
#define JV_NONE_V ((jv){.t = JV_NONE})

static inline jv jv_bool(bool b) { return (jv){.t = JV_BOOL, .u.b = b}; }
static inline jv jv_int(int64_t i) { return (jv){.t = JV_INT, .u.i = i}; }
static inline jv jv_float(double f) { return (jv){.t = JV_FLOAT, .u.f = f}; }
static inline jv jv_undef(const char *hint) { return (jv){.t = JV_UNDEF, .u.hint = hint}; }
static inline bool jv_heap(jv v) { return v.t >= JV_STR && v.t != JV_FUNC; }
static inline jstr *jv_s(jv v) { return (jstr *)v.u.o; }
static inline jlist *jv_l(jv v) { return (jlist *)v.u.o; }
static inline jdict *jv_d(jv v) { return (jdict *)v.u.o; }
static inline jv jv_ref(jv v)
{
    if (jv_heap(v) && v.u.o->rc >= 0)
        v.u.o->rc++;
    return v;
}
static inline bool jv_is_str(jv v) { return v.t == JV_STR; }
static inline bool jv_markup(jv v) { return v.t == JV_STR && (v.u.o->flags & JF_MARKUP); }
static inline bool jv_numeric(jv v) { return v.t == JV_BOOL || v.t == JV_INT || v.t == JV_FLOAT; }

/* ---- syntax tree ---- */

typedef enum node_kind {
    /* expressions */
    NK_CONST,  /* val */
    NK_NAME,   /* name */
    NK_ATTR,   /* a.name */
    NK_ITEM,   /* a[b] */
    NK_SLICE,  /* a[b:c:d], each of b, c, d may be NULL */
    NK_CALL,   /* a(v..., kn=kv...) */
    NK_FILTER, /* a|name(v..., kn=kv...); a NULL: the block's text */
    NK_TEST,   /* a is name(v..., kn=kv...); op 1: is not */
    NK_NOT,
    NK_NEG,
    NK_POS,
    NK_BIN,    /* a op b, op a BIN_* */
    NK_AND,
    NK_OR,
    NK_CONCAT, /* v[0] ~ v[1] ~ ... */
    NK_CMP,    /* a, then v[i] (NK_OPERAND: op CMP_*, a) */
    NK_OPERAND,
    NK_COND,   /* b if a else c (c may be NULL) */
    NK_LIST,
    NK_TUPLE,
    NK_DICT,   /* keys v, values kv */
    NK_NSREF,  /* assignment target name.name2 */
    /* statements */
    NK_BODY,   /* v */
    NK_OUTPUT, /* v: NK_CONST text and expressions, in order */
    NK_IF,     /* if a: v, else b (NK_BODY or an elif's NK_IF, or NULL) */
    NK_FOR,    /* for a in b if c: v, else d */
    NK_SET,    /* a = b */
    NK_SETBLOCK, /* a = text of v, through filter b if not NULL */
    NK_MACRO,  /* name(kn = kv defaults...): v */
    NK_FILTERBLOCK, /* text of v through filter b */
    NK_SCOPE,  /* v in a scope of its own ({% generation %}) */
    NK_WITH,   /* b (NK_BODY of NK_SET) then v, in a scope of its own */
    NK_BREAK,
    NK_CONTINUE,
} node_kind;

enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_FLOORDIV, BIN_MOD, BIN_POW };
enum { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE, CMP_IN, CMP_NOTIN };
/* NK_MACRO flags */
enum { MF_VARARGS = 1, MF_KWARGS = 2, MF_CALLER = 4 };

struct node {
    uint8_t k;  /* node_kind */
    uint8_t op; /* BIN_*, CMP_*, NK_TEST: negated, NK_MACRO: MF_* */
    int16_t id; /* NK_FILTER / NK_TEST: F_* / T_* id; -1 unknown to jinja2 */
    uint32_t line;
    const char *name, *name2;
    jv val;
    node *a, *b, *c, *d;
    node **v;
    uint32_t n;
    uint32_t nk;
    node **kv;
    const char **kn;
};

/* ---- compile-time tables (jinja_filters.c) ---- */

/* Filters and tests by name: id >= 0 for jinja2's own (implemented or
 * not), -1 for a name jinja2 does not know either. */
int ia__jinja_filter_id(const char *name);
int ia__jinja_test_id(const char *name);

/* ---- the compiled template ---- */

typedef struct arena_blk arena_blk;
struct ia_jinja {
    arena_blk *blocks;
    node *root; /* NK_BODY */
};

void *ia__jinja_arena(ia_jinja *t, size_t n); /* zeroed, aligned; NULL: out of memory */
void ia__jinja_arena_free(ia_jinja *t);

/* Parse src into t->root (jinja_parse.c). */
ia_status ia__jinja_parse(ia_jinja *t, const char *src, size_t len);

/* ---- rendering ---- */

typedef struct sb {
    char *p;
    size_t n, cap;
} sb;

typedef struct R {
    const ia_jinja *t;
    ia_status err;  /* the first error (its detail is in ia_errmsg) */
    uint32_t line;  /* of the node being evaluated, for messages */
    jdict *vars;    /* the context */
    jobj *dead;     /* objects to free */
    bool draining;
    jgc reg;        /* list head: live namespaces and scopes */
    int depth;      /* macro calls */
    int edepth;     /* nesting of eval / exec_node calls */
    int rdepth;     /* recursion of value operations */
    long steps;
    size_t allocated; /* bytes allocated for values so far */
    int64_t now;
    int loopctl;    /* 1 break, 2 continue */
    jv block_input; /* the text a filter block's filters apply to */
} R;

/* Record an error (the first one wins) as "template line N: ..."; false. */
bool ia__jinja_fail(R *r, ia_status st, const char *fmt, ...) IA_PRINTF(3, 4);
#define RFAIL(r, st, ...) ia__jinja_fail((r), (st), __VA_ARGS__)
/* Out of memory; false. */
bool ia__jinja_oom(R *r);
/* Count n more bytes allocated for values (IA_JINJA_MAX_MEMORY); false
 * with the error recorded when over. */
bool ia__jinja_charge(R *r, size_t n);

/* Strings: a copy of n bytes (valid UTF-8), as str or Markup. */
jv ia__jv_str(R *r, const char *s, size_t n, bool markup);
jv ia__jv_cstr(R *r, const char *s);
/* An immortal string in the template's arena (compile time). */
jv ia__jv_str_const(ia_jinja *t, const char *s, size_t n);
jlist *ia__list_new(R *r, size_t cap, uint8_t flags);
bool ia__list_push(R *r, jlist *l, jv v); /* takes v */
jdict *ia__dict_new(R *r);
bool ia__dict_set(R *r, jdict *d, jv k, jv v); /* takes k and v; keys must be hashable */
jv *ia__dict_get(R *r, const jdict *d, jv k);  /* borrowed; NULL absent (or error: r->err) */
jv *ia__dict_get_str(const jdict *d, const char *s, size_t n);
jns *ia__ns_new(R *r);
void ia__jv_release(R *r, jv v);
void ia__obj_release(R *r, jobj *o);
/* Free what cycles kept alive: at the end of a render. */
void ia__jinja_gc_all(R *r);
void ia__gc_link(R *r, jgc *g);

/* Python semantics. Each returns false with r->err set on error. */
bool ia__truthy(jv v);
bool ia__to_str(R *r, jv v, sb *out);   /* str(v) appended */
bool ia__repr(R *r, jv v, sb *out);     /* repr(v) appended */
jv ia__str_of(R *r, jv v);              /* str(v) as a value; str values returned as is (new ref) */
bool ia__eq(R *r, jv a, jv b, bool *eq);
bool ia__lt(R *r, jv a, jv b, bool *lt); /* a < b, TypeError for mixed types */
bool ia__hashable(jv v);
uint64_t ia__hash_jv(jv v);
const char *ia__type_name(jv v); /* Python's type name: 'str', 'NoneType', ... */
bool ia__json(R *r, jv v, sb *out, bool ensure_ascii, const char *indent, size_t indent_len,
              const char *item_sep, size_t item_sep_len, const char *key_sep, size_t key_sep_len,
              bool sort_keys);
void ia__float_repr(double f, char buf[40]);
/* Iterate: the items of any iterable as a list (strings: their characters,
 * dicts: their keys); a one-shot iterator is consumed. *out is a new ref. */
bool ia__iterate(R *r, jv v, jlist **out);
size_t ia__utf8_len(const char *s, size_t n);
/* Byte offset of code point i of s (i <= ncp). */
size_t ia__utf8_offset(const jstr *s, size_t i);
uint32_t ia__utf8_next(const char *s, size_t n, size_t *i);
size_t ia__utf8_put(uint32_t cp, char out[4]);
bool ia__py_space(uint32_t cp);
bool ia__sb_put(R *r, sb *b, const char *s, size_t n);
bool ia__sb_putc(R *r, sb *b, char c);
bool ia__sb_printf(R *r, sb *b, const char *fmt, ...) IA_PRINTF(3, 4);
jv ia__sb_str(R *r, sb *b, bool markup); /* the text as a value; b is emptied */
bool ia__escape_html(R *r, const char *s, size_t n, sb *out);
/* Markup(value): str(value) escaped unless it is Markup already. */
jv ia__markup_escape(R *r, jv v);

/* jinja_filters.c: filters and tests by id, methods by name. */
bool ia__jinja_filter(R *r, int id, const char *name, jv val, const jv *args, size_t nargs,
                      const char *const *kn, const jv *kv, size_t nk, jv *out);
bool ia__jinja_test(R *r, int id, const char *name, jv val, const jv *args, size_t nargs, bool *out);
/* The method `name` of v (a jv JV_METHOD, or undefined when v has none). */
jv ia__jinja_method_get(R *r, jv v, const char *name);
bool ia__jinja_method_call(R *r, const jmethod *m, const jv *args, size_t nargs, const char *const *kn,
                           const jv *kv, size_t nk, jv *out);
/* environment.getattr / getitem as the sandbox does them. */
bool ia__jinja_getattr(R *r, jv obj, const char *name, jv *out);
bool ia__jinja_getitem(R *r, jv obj, jv key, jv *out);
/* Call a callable value (a macro, a global, a method) from a filter (map,
 * select...) or the evaluator. */
bool ia__jinja_call(R *r, jv f, const jv *args, size_t nargs, const char *const *kn, const jv *kv, size_t nk,
                    jv *out);
/* Python's a <op> b (BIN_*) and `item in container`. */
bool ia__jinja_binop(R *r, int op, jv a, jv b, jv *out);
bool ia__jinja_contains(R *r, jv container, jv item, bool *res);
/* Printf-style `fmt % args` (Python's str.__mod__). */
bool ia__percent_format(R *r, jv fmt, jv args, jv *out);

#endif
