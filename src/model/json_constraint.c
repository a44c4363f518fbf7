/*
 * JSON output constraints (json_constraint.h). Three parts:
 *
 * The compiler turns a JSON Schema into an array of nodes, one per schema
 * object (a $ref is the node it points at, so recursion is a cycle of
 * indices). A node accepts a set of value classes (object, array, string,
 * number, true, false, null: what the first byte tells apart); anyOf is a
 * node that hands each class to one alternative; enum and const make a
 * node of literals, their compact texts sorted so that the ones sharing
 * the bytes read so far are a range. Then, per node and class, the fewest
 * frames a value needs (a fixed point over the required members and
 * minItems): the recognizer starts a value only where it fits under
 * IA_JSONC_MAX_DEPTH, which with the bounds on numbers and whitespace is
 * what keeps every reachable state completable.
 *
 * The recognizer reads one byte at a time over a stack of frames. A
 * number, or a literal that a longer one extends ("1" of 1 and 12), ends
 * when a byte cannot continue it; that byte then goes to the parent.
 *
 * The vocabulary index is a trie of the tokens' bytes, its nodes in
 * preorder with the index past each subtree, so that the mask is one
 * forward pass that copies the parent's state, feeds one byte and skips
 * the subtree when the byte fails. Inside a string (where most of a
 * document's tokens are generated and nearly every token fits), tokens of
 * plain string bytes are decided at once by their code-point count, and
 * only the others are walked, in a second trie.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "model/json_constraint.h"

/* ---------------------------------------------------------------------- */
/* Compiled schemas */

enum { C_OBJECT, C_ARRAY, C_STRING, C_NUMBER, C_TRUE, C_FALSE, C_NULL, N_CLASS };
#define ALL_CLASSES ((1u << N_CLASS) - 1)
#define NEED_INF 255          /* no value of the class fits */
#define BYTES_INF (UINT64_C(1) << 48)
#define NO_PROP UINT32_MAX    /* an object member that is not a named property */
#define MAX_SCHEMA_DEPTH 64   /* nested schema objects the compiler follows */
#define MAX_NODES 65536
#define MAX_LITERALS 65535    /* of one node: candidates are uint16_t */

typedef struct jbytes {
    char *p;
    uint32_t len;
} jbytes;

typedef struct jnode {
    uint8_t types;    /* classes accepted (1 << C_*) */
    bool integer;     /* numbers: digits only */
    bool alt;         /* anyOf / oneOf: a value of class k is alts[k]'s */
    bool literal;     /* enum / const: one of lits[lit_first, +n_lits) */
    bool types_final; /* compiling: types known (anyOf may look) */
    int32_t alts[N_CLASS];
    uint32_t prop_first, n_props; /* names sorted by bytes */
    int32_t additional;           /* members not named; -1: none */
    uint64_t required;            /* over the sorted properties */
    int32_t items;
    uint32_t min_items, max_items;
    uint32_t min_len, max_len; /* code points */
    uint32_t lit_first, n_lits;
    uint8_t need[N_CLASS]; /* frames a value of the class needs at least */
    uint8_t need_min;
    uint64_t bytes[N_CLASS]; /* bytes of the shortest value of the class (BYTES_INF: none) */
    uint64_t bytes_min;
} jnode;

struct ia_jsonc {
    jnode *nodes;
    size_t n_nodes, cap_nodes;
    jbytes *pnames; /* property names, per node a sorted run */
    int32_t *pnodes;
    size_t n_props, cap_props;
    jbytes *lits; /* literal texts, per node a sorted run */
    size_t n_lits, cap_lits;
    int32_t root;
};

static void jsonc_free_parts(ia_jsonc *c)
{
    for (size_t i = 0; i < c->n_props; i++)
        ia__free(c->pnames[i].p);
    for (size_t i = 0; i < c->n_lits; i++)
        ia__free(c->lits[i].p);
    ia__free(c->nodes);
    ia__free(c->pnames);
    ia__free(c->pnodes);
    ia__free(c->lits);
}

void ia__jsonc_free(ia_jsonc *c)
{
    if (!c)
        return;
    jsonc_free_parts(c);
    ia__free(c);
}

/* ---------------------------------------------------------------------- */
/* The recognizer */

enum { K_OBJECT = 1, K_ARRAY, K_STRING, K_NUMBER, K_LITERAL, K_WORD };
enum { O_START, O_NEXT, O_COLON, O_VALUE, O_AFTER };                        /* object phases */
enum { A_START, A_NEXT, A_AFTER };                                          /* array phases */
enum { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };        /* number phases */
enum { SUR_NONE, SUR_D, SUR_HIGH, SUR_NEED_LOW, SUR_LOW };                  /* \u surrogates */
enum { F_KEY = 1, F_FREE = 2, F_NAMES = 4, F_NOITEMS = 8 };                 /* frame flags */
enum { R_REJECT, R_CONSUMED, R_END };                                       /* scalar steps */

static const char *const words[N_CLASS] = {[C_TRUE] = "true", [C_FALSE] = "false", [C_NULL] = "null"};
static const uint8_t word_len[N_CLASS] = {[C_TRUE] = 4, [C_FALSE] = 5, [C_NULL] = 4};

/* The class a value starting with byte b has, or -1. */
static int byte_class(uint8_t b)
{
    switch (b) {
    case '{': return C_OBJECT;
    case '[': return C_ARRAY;
    case '"': return C_STRING;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9': return C_NUMBER;
    case 't': return C_TRUE;
    case 'f': return C_FALSE;
    case 'n': return C_NULL;
    default: return -1;
    }
}

static bool is_ws(uint8_t b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }

static int hexval(uint8_t b)
{
    if (b >= '0' && b <= '9')
        return b - '0';
    if (b >= 'a' && b <= 'f')
        return b - 'a' + 10;
    if (b >= 'A' && b <= 'F')
        return b - 'A' + 10;
    return -1;
}

static uint64_t range_mask(uint32_t lo, uint32_t hi)
{
    if (lo >= hi)
        return 0;
    const uint64_t below_hi = hi >= 64 ? ~0ull : (1ull << hi) - 1;
    return below_hi & ~((1ull << lo) - 1);
}

static uint64_t all_props(uint32_t n) { return range_mask(0, n); }

/* Whitespace between tokens: a bounded run with at most one newline, so a
 * model cannot stall in it. */
static bool ws_step(ia_jsonc_state *s, uint8_t b)
{
    if (b == '\r' || s->ws >= IA_JSONC_MAX_WS)
        return false;
    if (b == '\n') {
        if (s->nl)
            return false;
        s->nl = 1;
    }
    s->ws++;
    return true;
}

/* Candidates [*lo, *hi) of sorted strings share their first pos bytes:
 * keep those whose byte pos is b (at most one has only pos bytes, and it
 * sorts first). */
static void narrow(const jbytes *v, uint32_t pos, uint8_t b, uint16_t *lo, uint16_t *hi)
{
    uint32_t l = *lo, h = *hi;
    if (l < h && v[l].len == pos)
        l++;
    uint32_t a = l, z = h;
    while (a < z) {
        const uint32_t m = (a + z) / 2;
        if ((uint8_t)v[m].p[pos] < b)
            a = m + 1;
        else
            z = m;
    }
    const uint32_t first = a;
    z = h;
    while (a < z) {
        const uint32_t m = (a + z) / 2;
        if ((uint8_t)v[m].p[pos] <= b)
            a = m + 1;
        else
            z = m;
    }
    *lo = (uint16_t)first;
    *hi = (uint16_t)a;
}

/* The top frame has been read whole and popped: its parent moves on. */
static void value_done(ia_jsonc_state *s)
{
    if (s->depth == 0) {
        s->done = 1;
        return;
    }
    ia_jsonc_frame *p = &s->f[s->depth - 1];
    if (p->kind == K_OBJECT) {
        p->phase = O_AFTER;
    } else {
        p->count++;
        p->phase = A_AFTER;
    }
}

static void pop_done(ia_jsonc_state *s)
{
    s->depth--;
    value_done(s);
}

static bool number_endable(uint8_t phase)
{
    return phase == N_ZERO || phase == N_INT || phase == N_FRAC || phase == N_EXP;
}

static int number_step(const ia_jsonc *c, ia_jsonc_frame *f, uint8_t b)
{
    const bool digit = b >= '0' && b <= '9', integer = c->nodes[f->node].integer;
    int next = -1;
    switch (f->phase) {
    case N_MINUS: next = b == '0' ? N_ZERO : digit ? N_INT : -1; break;
    case N_ZERO:
    case N_INT:
        next = digit && f->phase == N_INT ? N_INT
               : integer                  ? -1
               : b == '.'                 ? N_DOT
               : b == 'e' || b == 'E'     ? N_E
                                          : -1;
        break;
    case N_DOT: next = digit ? N_FRAC : -1; break;
    case N_FRAC: next = digit ? N_FRAC : b == 'e' || b == 'E' ? N_E : -1; break;
    case N_E: next = digit ? N_EXP : b == '+' || b == '-' ? N_ESIGN : -1; break;
    case N_ESIGN:
    case N_EXP: next = digit ? N_EXP : -1; break;
    }
    if (next >= 0) {
        /* room left to finish: a digit after '-', '.', 'e' or its sign */
        const uint32_t more = next == N_DOT || next == N_E || next == N_ESIGN ? 1 : 0;
        if (f->count + 1 + more <= IA_JSONC_MAX_NUMBER) {
            f->phase = (uint8_t)next;
            f->count++;
            return R_CONSUMED;
        }
    }
    return number_endable(f->phase) ? R_END : R_REJECT;
}

static int literal_step(const ia_jsonc *c, ia_jsonc_state *s, ia_jsonc_frame *f, uint8_t b)
{
    const jbytes *v = c->lits + c->nodes[f->node].lit_first;
    uint16_t lo = f->lo, hi = f->hi;
    narrow(v, f->pos, b, &lo, &hi);
    if (lo == hi)
        return v[f->lo].len == f->pos ? R_END : R_REJECT;
    f->lo = lo;
    f->hi = hi;
    f->pos++;
    if (hi - lo == 1 && v[lo].len == f->pos) /* nothing can extend it */
        pop_done(s);
    return R_CONSUMED;
}

static bool begin_value(const ia_jsonc *c, ia_jsonc_state *s, int32_t n, uint8_t b)
{
    const int cls = byte_class(b);
    if (cls < 0)
        return false;
    const jnode *d = &c->nodes[n];
    for (int hops = 0; d->alt; hops++) {
        n = d->alts[cls];
        if (n < 0 || hops > 64)
            return false;
        d = &c->nodes[n];
    }
    if (s->depth + (unsigned)d->need[cls] > IA_JSONC_MAX_DEPTH)
        return false;
    ia_jsonc_frame *f = &s->f[s->depth++];
    memset(f, 0, sizeof *f);
    f->node = n;
    if (d->literal) {
        f->kind = K_LITERAL;
        f->hi = (uint16_t)d->n_lits;
        return literal_step(c, s, f, b) == R_CONSUMED;
    }
    const unsigned used = s->depth;
    switch (cls) {
    case C_OBJECT:
        f->kind = K_OBJECT;
        f->phase = O_START;
        /* properties whose values cannot fit from here are ruled out now */
        for (uint32_t i = 0; i < d->n_props; i++)
            if (used + c->nodes[c->pnodes[d->prop_first + i]].need_min > IA_JSONC_MAX_DEPTH)
                f->seen |= 1ull << i;
        if (d->additional >= 0 && used + c->nodes[d->additional].need_min <= IA_JSONC_MAX_DEPTH)
            f->flags |= F_FREE;
        return true;
    case C_ARRAY:
        f->kind = K_ARRAY;
        f->phase = A_START;
        if (used + c->nodes[d->items].need_min > IA_JSONC_MAX_DEPTH)
            f->flags |= F_NOITEMS;
        return true;
    case C_STRING: f->kind = K_STRING; return true;
    case C_NUMBER:
        f->kind = K_NUMBER;
        f->phase = b == '-' ? N_MINUS : b == '0' ? N_ZERO : N_INT;
        f->count = 1;
        return true;
    default:
        f->kind = K_WORD;
        f->phase = (uint8_t)cls;
        f->pos = 1;
        return true;
    }
}

/* A content byte of a key: the names it may still be. */
static bool key_byte(const ia_jsonc *c, const ia_jsonc_state *s, ia_jsonc_frame *f, uint8_t b)
{
    if (!(f->flags & F_NAMES) || f->lo == f->hi)
        return true; /* a free key (F_FREE, or no names at all) */
    narrow(c->pnames + c->nodes[f->node].prop_first, f->pos, b, &f->lo, &f->hi);
    f->pos++;
    return (f->flags & F_FREE) || (range_mask(f->lo, f->hi) & ~s->f[s->depth - 2].seen);
}

static bool string_close(const ia_jsonc *c, ia_jsonc_state *s, ia_jsonc_frame *f)
{
    if (!(f->flags & F_KEY)) {
        if (f->count < c->nodes[f->node].min_len)
            return false;
        pop_done(s);
        return true;
    }
    ia_jsonc_frame *o = f - 1;
    uint32_t idx = NO_PROP;
    if ((f->flags & F_NAMES) && f->lo < f->hi &&
        c->pnames[c->nodes[f->node].prop_first + f->lo].len == f->pos)
        idx = f->lo;
    if (idx != NO_PROP && (o->seen >> idx & 1))
        return false; /* a repeat, or a property that cannot fit */
    if (idx == NO_PROP && !(f->flags & F_FREE))
        return false;
    s->depth--;
    o->phase = O_COLON;
    o->pos = idx;
    if (idx != NO_PROP)
        o->seen |= 1ull << idx;
    return true;
}

static bool string_step(const ia_jsonc *c, ia_jsonc_state *s, ia_jsonc_frame *f, uint8_t b)
{
    static const uint8_t cont_lo[5] = {0x80, 0xA0, 0x80, 0x90, 0x80}, cont_hi[5] = {0xBF, 0xBF, 0x9F, 0xBF, 0x8F};
    const bool key = f->flags & F_KEY;
    if (f->utf8) { /* inside a UTF-8 sequence: low 2 bits left, above them the range of the next */
        const unsigned r = f->utf8 >> 2;
        if (b < cont_lo[r] || b > cont_hi[r])
            return false;
        f->utf8 = (uint8_t)((f->utf8 & 3) - 1);
        return !key || key_byte(c, s, f, b);
    }
    if (f->esc == 1) { /* after a backslash */
        if (b == 'u') {
            f->esc = 2;
            if (f->sur == SUR_NEED_LOW)
                f->sur = SUR_LOW;
            return true;
        }
        if (f->sur == SUR_NEED_LOW || !memchr("\"\\/bfnrt", b, 8))
            return false;
        f->esc = 0;
        return true;
    }
    if (f->esc >= 2) { /* hex digit esc - 2 of \uXXXX */
        const int h = hexval(b);
        if (h < 0)
            return false;
        const unsigned k = f->esc - 2u;
        if (f->sur == SUR_LOW) {
            if ((k == 0 && h != 0xD) || (k == 1 && h < 0xC))
                return false;
        } else if (k == 0) {
            f->sur = h == 0xD ? SUR_D : SUR_NONE;
        } else if (k == 1 && f->sur == SUR_D) {
            if (h >= 0xC)
                return false; /* a low surrogate alone */
            f->sur = h >= 0x8 ? SUR_HIGH : SUR_NONE;
        }
        if (++f->esc == 6) {
            f->esc = 0;
            f->sur = f->sur == SUR_HIGH ? SUR_NEED_LOW : SUR_NONE;
        }
        return true;
    }
    if (f->sur == SUR_NEED_LOW) { /* a high surrogate wants its low half */
        if (b != '\\')
            return false;
        f->esc = 1;
        return true;
    }
    if (b == '"')
        return string_close(c, s, f);
    if (b == '\\') {
        if (key) {
            if (f->flags & F_NAMES)
                return false; /* keys match names byte for byte */
        } else {
            if (f->count >= c->nodes[f->node].max_len)
                return false;
            f->count++;
        }
        f->esc = 1;
        return true;
    }
    if (b < 0x20)
        return false;
    if (b >= 0x80) {
        if (b >= 0xC2 && b <= 0xDF)
            f->utf8 = 1;
        else if (b == 0xE0)
            f->utf8 = 2 | 1 << 2;
        else if (b == 0xED)
            f->utf8 = 2 | 2 << 2;
        else if (b >= 0xE1 && b <= 0xEF)
            f->utf8 = 2;
        else if (b == 0xF0)
            f->utf8 = 3 | 3 << 2;
        else if (b >= 0xF1 && b <= 0xF3)
            f->utf8 = 3;
        else if (b == 0xF4)
            f->utf8 = 3 | 4 << 2;
        else
            return false;
    }
    if (key)
        return key_byte(c, s, f, b);
    if (f->count >= c->nodes[f->node].max_len) {
        f->utf8 = 0;
        return false;
    }
    f->count++;
    return true;
}

static bool keys_possible(const jnode *d, const ia_jsonc_frame *f)
{
    return (f->flags & F_FREE) || (all_props(d->n_props) & ~f->seen);
}

static bool object_step(const ia_jsonc *c, ia_jsonc_state *s, ia_jsonc_frame *f, uint8_t b)
{
    const jnode *d = &c->nodes[f->node];
    if (is_ws(b))
        return ws_step(s, b);
    switch (f->phase) {
    case O_START:
    case O_NEXT:
        if (b == '}' && f->phase == O_START) {
            if (d->required & ~f->seen)
                return false;
            pop_done(s);
            return true;
        }
        if (b != '"' || !keys_possible(d, f))
            return false;
        {
            ia_jsonc_frame *k = &s->f[s->depth++];
            memset(k, 0, sizeof *k);
            k->node = f->node;
            k->kind = K_STRING;
            k->flags = (uint8_t)(F_KEY | (f->flags & F_FREE) | (d->n_props ? F_NAMES : 0));
            k->hi = (uint16_t)d->n_props;
        }
        return true;
    case O_COLON:
        if (b != ':')
            return false;
        f->phase = O_VALUE;
        return true;
    case O_VALUE:
        return begin_value(c, s, f->pos == NO_PROP ? d->additional : c->pnodes[d->prop_first + f->pos], b);
    default: /* O_AFTER */
        if (b == ',') {
            if (!keys_possible(d, f))
                return false;
            f->phase = O_NEXT;
            return true;
        }
        if (b != '}' || (d->required & ~f->seen))
            return false;
        pop_done(s);
        return true;
    }
}

static bool array_step(const ia_jsonc *c, ia_jsonc_state *s, ia_jsonc_frame *f, uint8_t b)
{
    const jnode *d = &c->nodes[f->node];
    if (is_ws(b))
        return ws_step(s, b);
    if (f->phase == A_AFTER) {
        if (b == ',') {
            if (f->count >= d->max_items)
                return false;
            f->phase = A_NEXT;
            return true;
        }
        if (b != ']' || f->count < d->min_items)
            return false;
        pop_done(s);
        return true;
    }
    if (b == ']' && f->phase == A_START) {
        if (d->min_items > 0)
            return false;
        pop_done(s);
        return true;
    }
    if ((f->flags & F_NOITEMS) || f->count >= d->max_items)
        return false;
    return begin_value(c, s, d->items, b);
}

static bool step(const ia_jsonc *c, ia_jsonc_state *s, uint8_t b)
{
    if (!is_ws(b)) {
        s->ws = 0;
        s->nl = 0;
    }
    for (;;) {
        if (s->depth == 0) {
            if (s->done)
                return false;
            return is_ws(b) ? ws_step(s, b) : begin_value(c, s, s->root, b);
        }
        ia_jsonc_frame *f = &s->f[s->depth - 1];
        int r;
        switch (f->kind) {
        case K_OBJECT: return object_step(c, s, f, b);
        case K_ARRAY: return array_step(c, s, f, b);
        case K_STRING: return string_step(c, s, f, b);
        case K_WORD:
            if ((uint8_t)words[f->phase][f->pos] != b)
                return false;
            if (++f->pos == word_len[f->phase])
                pop_done(s);
            return true;
        case K_NUMBER: r = number_step(c, f, b); break;
        default: r = literal_step(c, s, f, b); break;
        }
        if (r != R_END)
            return r == R_CONSUMED;
        pop_done(s); /* the number or literal ended before b: b is its parent's */
    }
}

static void start_at(ia_jsonc_state *s, int32_t root)
{
    memset(s, 0, sizeof *s);
    s->root = root;
}

void ia__jsonc_start(const ia_jsonc *c, ia_jsonc_state *s) { start_at(s, c->root); }

bool ia__jsonc_feed(const ia_jsonc *c, ia_jsonc_state *s, const char *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!step(c, s, (uint8_t)bytes[i]))
            return false;
    return true;
}

bool ia__jsonc_complete(const ia_jsonc *c, const ia_jsonc_state *s)
{
    if (s->depth == 0)
        return s->done;
    if (s->depth != 1)
        return false;
    const ia_jsonc_frame *f = &s->f[0];
    if (f->kind == K_NUMBER)
        return number_endable(f->phase);
    if (f->kind == K_LITERAL)
        return c->lits[c->nodes[f->node].lit_first + f->lo].len == f->pos;
    return false;
}

static uint64_t object_rest(const ia_jsonc *c, const jnode *d, uint64_t seen, bool after);
static uint64_t add_sat(uint64_t a, uint64_t b) { return a + b >= BYTES_INF ? BYTES_INF : a + b; }
static uint64_t mul_sat(uint64_t a, uint64_t n) { return n && a >= BYTES_INF / n ? BYTES_INF : a * n; }

/* Bytes that finish a string's escape or character in progress. */
static uint64_t string_pending(const ia_jsonc_frame *f)
{
    if (f->utf8)
        return f->utf8 & 3;
    if (f->esc == 1)
        return f->sur == SUR_NEED_LOW ? 5 : 1;
    if (f->esc >= 2)
        return 6u - f->esc + (f->sur == SUR_HIGH || f->sur == SUR_NEED_LOW ? 6 : 0);
    return f->sur == SUR_NEED_LOW ? 6 : 0;
}

/* A key being read, to the end of its member and of its object. */
static uint64_t key_remaining(const ia_jsonc *c, const ia_jsonc_frame *f, const ia_jsonc_frame *o)
{
    const jnode *d = &c->nodes[f->node];
    uint64_t best = BYTES_INF;
    const uint32_t first = d->prop_first;
    if (f->flags & F_NAMES)
        for (uint32_t i = f->lo; i < f->hi; i++)
            if (!(o->seen >> i & 1))
                best = IA_MIN(best, add_sat(c->pnames[first + i].len - f->pos + 2u,
                                            add_sat(c->nodes[c->pnodes[first + i]].bytes_min,
                                                    object_rest(c, d, o->seen | 1ull << i, true))));
    if (f->flags & F_FREE) {
        /* the key as it stands, or one byte more when it spells a name */
        const bool named = (f->flags & F_NAMES) && f->lo < f->hi && c->pnames[first + f->lo].len == f->pos;
        best = IA_MIN(best, add_sat(string_pending(f) + named + 2u,
                                    add_sat(c->nodes[d->additional].bytes_min, object_rest(c, d, o->seen, true))));
    }
    return best;
}

uint64_t ia__jsonc_remaining(const ia_jsonc *c, const ia_jsonc_state *s)
{
    if (s->depth == 0)
        return s->done ? 0 : c->nodes[s->root].bytes_min;
    int i = s->depth - 1;
    const ia_jsonc_frame *f = &s->f[i];
    const jnode *d = &c->nodes[f->node];
    uint64_t r = 0;
    switch (f->kind) {
    case K_NUMBER: r = number_endable(f->phase) ? 0 : 1; break;
    case K_WORD: r = word_len[f->phase] - f->pos; break;
    case K_LITERAL:
        r = BYTES_INF;
        for (uint32_t j = f->lo; j < f->hi; j++)
            r = IA_MIN(r, (uint64_t)c->lits[d->lit_first + j].len - f->pos);
        break;
    case K_STRING:
        if (f->flags & F_KEY) { /* the object below is counted with it */
            r = key_remaining(c, f, f - 1);
            i--;
        } else {
            r = string_pending(f) + (f->count < d->min_len ? d->min_len - f->count : 0) + 1;
        }
        break;
    case K_OBJECT: {
        const bool member_phase = f->phase == O_COLON || f->phase == O_VALUE;
        const int32_t member = !member_phase       ? -1
                               : f->pos == NO_PROP ? d->additional
                                                   : c->pnodes[d->prop_first + f->pos];
        switch (f->phase) {
        case O_START: r = object_rest(c, d, f->seen, false); break;
        case O_NEXT:
            if (d->required & ~f->seen) {
                r = object_rest(c, d, f->seen, false);
            } else { /* one more member, the cheapest that may come */
                r = BYTES_INF;
                for (uint32_t j = 0; j < d->n_props; j++)
                    if (!(f->seen >> j & 1))
                        r = IA_MIN(r, add_sat(c->pnames[d->prop_first + j].len + 4u,
                                              c->nodes[c->pnodes[d->prop_first + j]].bytes_min));
                if (f->flags & F_FREE) {
                    const bool empty_named = d->n_props && c->pnames[d->prop_first].len == 0;
                    r = IA_MIN(r, add_sat(4u + empty_named, c->nodes[d->additional].bytes_min));
                }
            }
            break;
        case O_COLON: r = add_sat(1 + c->nodes[member].bytes_min, object_rest(c, d, f->seen, true)); break;
        case O_VALUE: r = add_sat(c->nodes[member].bytes_min, object_rest(c, d, f->seen, true)); break;
        default: r = object_rest(c, d, f->seen, true); break;
        }
        break;
    }
    default: { /* K_ARRAY */
        const uint64_t item = add_sat(c->nodes[d->items].bytes_min, 1);
        const uint32_t left = f->count < d->min_items ? d->min_items - f->count : 0;
        if (f->phase == A_START)
            r = left ? mul_sat(item, left) : 1;
        else if (f->phase == A_NEXT)
            r = mul_sat(item, IA_MAX(left, 1u));
        else
            r = add_sat(mul_sat(item, left), 1);
        break;
    }
    }
    /* the frames below, each from just after its child value */
    for (i--; i >= 0; i--) {
        const ia_jsonc_frame *p = &s->f[i];
        const jnode *pd = &c->nodes[p->node];
        if (p->kind == K_OBJECT) {
            r = add_sat(r, object_rest(c, pd, p->seen, true));
        } else {
            const uint32_t done = p->count + 1;
            const uint32_t left = done < pd->min_items ? pd->min_items - done : 0;
            r = add_sat(r, add_sat(mul_sat(add_sat(c->nodes[pd->items].bytes_min, 1), left), 1));
        }
    }
    return r;
}

/* ---------------------------------------------------------------------- */
/* Compiling */

typedef struct memo {
    const cJSON *sch;
    int32_t node; /* -2: a $ref being followed from here */
} memo;

typedef struct comp {
    ia_jsonc *c;
    const cJSON *doc;
    memo *memo;
    size_t n_memo, cap_memo;
    ia_status st;
    int depth;
    int32_t never; /* the node of schema false, -1 until needed */
    char path[512];
} comp;

static const char *const refused_kw[] = {
    "pattern",         "patternProperties", "propertyNames",    "minimum",          "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf",       "minProperties",    "maxProperties",
    "prefixItems",     "additionalItems",   "contains",         "minContains",      "maxContains",
    "unevaluatedItems", "unevaluatedProperties", "dependentRequired", "dependentSchemas", "dependencies",
    "if",              "then",              "else",             "not",              "$dynamicRef",
    "$recursiveRef"};

/* The keywords this compiler enforces: beside $ref or anyOf they would
 * have to be intersected, which it does not do. */
static const char *const enforced_kw[] = {"type",     "enum",     "const",     "properties", "required",
                                          "additionalProperties", "items",     "minItems",   "maxItems",
                                          "minLength", "maxLength", "anyOf",   "oneOf",      "allOf",
                                          "$ref"};

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, list[i]))
            return true;
    return false;
}

static int32_t fail(comp *cp, ia_status st, const char *fmt, ...) IA_PRINTF(3, 4);
static int32_t fail(comp *cp, ia_status st, const char *fmt, ...)
{
    if (cp->st == IA_OK) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        cp->st = ia__error(st, "#%s: %s", cp->path, msg);
    }
    return -1;
}

static int32_t oom(comp *cp) { return fail(cp, IA_ERR_NOMEM, "out of memory"); }

/* Append "/seg" to the path; returns the length to restore. */
static size_t path_push(comp *cp, const char *a, const char *b)
{
    const size_t n = strlen(cp->path);
    snprintf(cp->path + n, sizeof cp->path - n, "/%s%s%s", a, b ? "/" : "", b ? b : "");
    return n;
}

static int32_t new_node(comp *cp)
{
    ia_jsonc *c = cp->c;
    if (c->n_nodes >= MAX_NODES)
        return fail(cp, IA_ERR_UNSUPPORTED, "more than %d schemas", MAX_NODES);
    jnode *p = ia__grow(c->nodes, c->n_nodes, &c->cap_nodes, sizeof *p, 16);
    if (!p)
        return oom(cp);
    c->nodes = p;
    jnode *d = &p[c->n_nodes];
    memset(d, 0, sizeof *d);
    d->types = ALL_CLASSES;
    d->additional = 0;
    d->items = 0;
    d->max_items = d->max_len = UINT32_MAX;
    for (int k = 0; k < N_CLASS; k++)
        d->alts[k] = -1;
    memset(d->need, NEED_INF, sizeof d->need);
    d->need_min = NEED_INF;
    return (int32_t)c->n_nodes++;
}

static bool memo_add(comp *cp, const cJSON *sch, int32_t node)
{
    memo *m = ia__grow(cp->memo, cp->n_memo, &cp->cap_memo, sizeof *m, 16);
    if (!m)
        return false;
    cp->memo = m;
    m[cp->n_memo++] = (memo){sch, node};
    return true;
}

static memo *memo_find(comp *cp, const cJSON *sch)
{
    for (size_t i = 0; i < cp->n_memo; i++)
        if (cp->memo[i].sch == sch)
            return &cp->memo[i];
    return NULL;
}

/* A local JSON pointer ("#", "#/$defs/a") in the document, or NULL. */
static const cJSON *resolve_ref(const cJSON *doc, const char *ref)
{
    if (ref[0] != '#')
        return NULL;
    const cJSON *cur = doc;
    const char *p = ref + 1;
    while (*p) {
        if (*p != '/')
            return NULL;
        p++;
        char seg[256];
        size_t n = 0;
        while (*p && *p != '/') {
            char ch = *p++;
            if (ch == '~') {
                if (*p == '0')
                    ch = '~';
                else if (*p == '1')
                    ch = '/';
                else
                    return NULL;
                p++;
            }
            if (n + 1 >= sizeof seg)
                return NULL;
            seg[n++] = ch;
        }
        seg[n] = '\0';
        if (cJSON_IsObject(cur)) {
            cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
        } else if (cJSON_IsArray(cur)) {
            if (n == 0 || n > 9 || strspn(seg, "0123456789") != n)
                return NULL;
            cur = cJSON_GetArrayItem(cur, (int)strtol(seg, NULL, 10));
        } else {
            return NULL;
        }
        if (!cur)
            return NULL;
    }
    return cur;
}

static bool valid_utf8(const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        const uint8_t b = p[i];
        size_t len;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b < 0x80) {
            i++;
            continue;
        } else if (b >= 0xC2 && b <= 0xDF) {
            len = 2;
        } else if (b >= 0xE0 && b <= 0xEF) {
            len = 3;
            if (b == 0xE0)
                lo = 0xA0;
            if (b == 0xED)
                hi = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            len = 4;
            if (b == 0xF0)
                lo = 0x90;
            if (b == 0xF4)
                hi = 0x8F;
        } else {
            return false;
        }
        if (i + len > n || p[i + 1] < lo || p[i + 1] > hi)
            return false;
        for (size_t k = 2; k < len; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF)
                return false;
        i += len;
    }
    return true;
}

/* A count keyword (minItems...): a non-negative integer, or absent. */
static bool get_count(comp *cp, const cJSON *sch, const char *kw, uint32_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(sch, kw);
    if (!v)
        return true;
    const double x = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!(x >= 0) || x != floor(x)) {
        fail(cp, IA_ERR_INVALID, "'%s' must be a non-negative integer", kw);
        return false;
    }
    *out = x >= (double)UINT32_MAX ? UINT32_MAX - 1 : (uint32_t)x;
    return true;
}

static int cmp_jbytes(const jbytes *a, const jbytes *b)
{
    const int r = memcmp(a->p, b->p, IA_MIN(a->len, b->len));
    return r ? r : (a->len > b->len) - (a->len < b->len);
}

typedef struct tprop {
    jbytes name;
    int32_t node;
} tprop;

static int cmp_tprop(const void *a, const void *b) { return cmp_jbytes(&((const tprop *)a)->name, &((const tprop *)b)->name); }
static int cmp_lit(const void *a, const void *b) { return cmp_jbytes(a, b); }

static int32_t compile(comp *cp, const cJSON *sch);

/* A member name the recognizer can match byte for byte, and new. */
static bool check_name(comp *cp, const char *what, const char *name, size_t len, const tprop *tp, size_t n)
{
    if (!valid_utf8(name, len))
        return fail(cp, IA_ERR_INVALID, "a %s is not valid UTF-8", what) >= 0;
    for (size_t i = 0; i < len; i++)
        if ((uint8_t)name[i] < 0x20 || name[i] == '"' || name[i] == '\\')
            return fail(cp, IA_ERR_UNSUPPORTED, "%s '%s' needs escapes in JSON (not supported)", what, name) >= 0;
    for (size_t i = 0; i < n; i++)
        if (tp[i].name.len == len && !memcmp(tp[i].name.p, name, len))
            return fail(cp, IA_ERR_INVALID, "%s '%s' is listed twice", what, name) >= 0;
    return true;
}

static bool compile_object(comp *cp, int32_t idx, const cJSON *sch)
{
    ia_jsonc *c = cp->c;
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(sch, "properties");
    const cJSON *addl = cJSON_GetObjectItemCaseSensitive(sch, "additionalProperties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(sch, "required");
    if (props && !cJSON_IsObject(props))
        return fail(cp, IA_ERR_INVALID, "'properties' must be an object"), false;
    if (req && !cJSON_IsArray(req))
        return fail(cp, IA_ERR_INVALID, "'required' must be an array of strings"), false;
    int32_t additional = props ? -1 : 0; /* absent: only the named ones, or any when none is named */
    if (addl) {
        if (cJSON_IsBool(addl)) {
            additional = cJSON_IsTrue(addl) ? 0 : -1;
        } else {
            const size_t mark = path_push(cp, "additionalProperties", NULL);
            additional = compile(cp, addl);
            cp->path[mark] = '\0';
            if (additional < 0)
                return false;
        }
    }
    const int n_named = props ? cJSON_GetArraySize(props) : 0, n_req = req ? cJSON_GetArraySize(req) : 0;
    tprop *tp = ia__calloc((size_t)n_named + (size_t)n_req + 1, sizeof *tp);
    if (!tp)
        return oom(cp), false;
    size_t n = 0;
    bool ok = true;
    for (const cJSON *p = props ? props->child : NULL; p && ok; p = p->next) {
        const size_t len = strlen(p->string);
        if (!(ok = check_name(cp, "property", p->string, len, tp, n)))
            break;
        const size_t mark = path_push(cp, "properties", p->string);
        tp[n].node = compile(cp, p);
        cp->path[mark] = '\0';
        tp[n].name.p = p->string; /* borrowed until copied below */
        tp[n].name.len = (uint32_t)len;
        ok = tp[n++].node >= 0;
    }
    /* required names not listed take additionalProperties' schema */
    for (const cJSON *r = req ? req->child : NULL; r && ok; r = r->next) {
        if (!cJSON_IsString(r)) {
            ok = fail(cp, IA_ERR_INVALID, "'required' must be an array of strings") >= 0;
            break;
        }
        const size_t len = strlen(r->valuestring);
        bool found = false;
        for (size_t i = 0; i < n && !found; i++)
            found = tp[i].name.len == len && !memcmp(tp[i].name.p, r->valuestring, len);
        if (found)
            continue;
        if (addl && cJSON_IsFalse(addl)) {
            ok = fail(cp, IA_ERR_INVALID, "required '%s' is not in 'properties' and additionalProperties is false",
                      r->valuestring) >= 0;
            break;
        }
        if (!(ok = check_name(cp, "required name", r->valuestring, len, tp, n)))
            break;
        tp[n].name.p = r->valuestring;
        tp[n].name.len = (uint32_t)len;
        tp[n++].node = additional >= 0 ? additional : 0;
    }
    if (ok && n > IA_JSONC_MAX_PROPERTIES)
        ok = fail(cp, IA_ERR_UNSUPPORTED, "more than %d properties", IA_JSONC_MAX_PROPERTIES) >= 0;
    if (!ok) {
        ia__free(tp);
        return false;
    }
    qsort(tp, n, sizeof *tp, cmp_tprop);
    uint64_t required = 0;
    for (const cJSON *r = req ? req->child : NULL; r; r = r->next)
        for (size_t i = 0; i < n; i++)
            if (tp[i].name.len == strlen(r->valuestring) && !memcmp(tp[i].name.p, r->valuestring, tp[i].name.len))
                required |= 1ull << i;
    /* copy the names into the node's run */
    if (c->n_props + n > c->cap_props) {
        const size_t cap = IA_MAX(c->cap_props * 2, c->n_props + n + 16);
        jbytes *pn = ia__realloc(c->pnames, cap * sizeof *pn);
        if (pn)
            c->pnames = pn;
        int32_t *pd = pn ? ia__realloc(c->pnodes, cap * sizeof *pd) : NULL;
        if (pd)
            c->pnodes = pd;
        if (!pn || !pd) {
            ia__free(tp);
            return oom(cp), false;
        }
        c->cap_props = cap;
    }
    jnode *d = &c->nodes[idx];
    d->prop_first = (uint32_t)c->n_props;
    d->required = required;
    d->additional = additional;
    for (size_t i = 0; i < n; i++) {
        char *copy = ia__strndup(tp[i].name.p, tp[i].name.len);
        if (!copy) {
            ia__free(tp);
            return oom(cp), false;
        }
        c->pnames[c->n_props] = (jbytes){copy, tp[i].name.len};
        c->pnodes[c->n_props++] = tp[i].node;
        d->n_props++;
    }
    ia__free(tp);
    return true;
}

static bool compile_literals(comp *cp, int32_t idx, const cJSON *sch)
{
    ia_jsonc *c = cp->c;
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(sch, "enum");
    const cJSON *co = cJSON_GetObjectItemCaseSensitive(sch, "const");
    if (en && (!cJSON_IsArray(en) || cJSON_GetArraySize(en) == 0))
        return fail(cp, IA_ERR_INVALID, "'enum' must be a non-empty array"), false;
    if (en && cJSON_GetArraySize(en) > MAX_LITERALS)
        return fail(cp, IA_ERR_UNSUPPORTED, "'enum' of more than %d values", MAX_LITERALS), false;
    c->nodes[idx].literal = true;
    c->nodes[idx].lit_first = (uint32_t)c->n_lits;
    const size_t first = c->n_lits;
    for (const cJSON *v = co ? co : en->child; v; v = co ? NULL : v->next) {
        if (co && en) { /* both: const, if enum has it */
            bool in = false;
            for (const cJSON *e = en->child; e && !in; e = e->next)
                in = cJSON_Compare(co, e, true);
            if (!in)
                break;
        }
        char *text = cJSON_PrintUnformatted(v);
        if (!text)
            return oom(cp), false;
        const size_t len = strlen(text);
        jbytes *l = ia__grow(c->lits, c->n_lits, &c->cap_lits, sizeof *l, 16);
        char *copy = l ? ia__strndup(text, len) : NULL;
        cJSON_free(text);
        if (l)
            c->lits = l;
        if (!copy)
            return oom(cp), false;
        c->lits[c->n_lits++] = (jbytes){copy, (uint32_t)len};
    }
    /* sorted, without repeats */
    size_t n = c->n_lits - first;
    qsort(c->lits + first, n, sizeof *c->lits, cmp_lit);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        jbytes *l = c->lits + first;
        if (w > 0 && !cmp_jbytes(&l[w - 1], &l[i])) {
            ia__free(l[i].p);
            continue;
        }
        l[w++] = l[i];
    }
    c->n_lits = first + w;
    jnode *d = &c->nodes[idx];
    d->n_lits = (uint32_t)w;
    uint8_t classes = 0;
    for (size_t i = 0; i < w; i++) {
        const int k = byte_class((uint8_t)c->lits[first + i].p[0]);
        if (k >= 0)
            classes |= (uint8_t)(1u << k);
    }
    d->types &= classes;
    return true;
}

static bool compile_alternatives(comp *cp, int32_t idx, const cJSON *sch, const char *kw, const cJSON *alts)
{
    if (!cJSON_IsArray(alts) || cJSON_GetArraySize(alts) == 0)
        return fail(cp, IA_ERR_INVALID, "'%s' must be a non-empty array of schemas", kw), false;
    int i = 0;
    int32_t owner[N_CLASS];
    for (int k = 0; k < N_CLASS; k++)
        owner[k] = -1;
    uint8_t types = 0;
    static const char *const class_name[N_CLASS] = {"objects", "arrays", "strings", "numbers", "true", "false", "null"};
    for (const cJSON *a = alts->child; a; a = a->next, i++) {
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        const size_t mark = path_push(cp, kw, num);
        const int32_t n = compile(cp, a);
        if (n >= 0 && !cp->c->nodes[n].types_final)
            fail(cp, IA_ERR_UNSUPPORTED, "an alternative that refers back to its '%s'", kw);
        cp->path[mark] = '\0';
        if (cp->st != IA_OK)
            return false;
        const uint8_t t = cp->c->nodes[n].types;
        for (int k = 0; k < N_CLASS; k++) {
            if (!(t >> k & 1))
                continue;
            if (owner[k] >= 0)
                return fail(cp, IA_ERR_UNSUPPORTED,
                            "'%s' alternatives %d and %d both allow %s (alternatives must differ in JSON type)", kw,
                            owner[k], i, class_name[k]),
                       false;
            owner[k] = i;
            cp->c->nodes[idx].alts[k] = n;
        }
        types |= t;
    }
    jnode *d = &cp->c->nodes[idx];
    d->alt = true;
    d->types = types;
    d->types_final = true;
    return true;
}

static int32_t compile_at(comp *cp, const cJSON *sch);

static int32_t compile(comp *cp, const cJSON *sch)
{
    if (cp->depth >= MAX_SCHEMA_DEPTH)
        return fail(cp, IA_ERR_UNSUPPORTED, "schemas nested deeper than %d", MAX_SCHEMA_DEPTH);
    cp->depth++;
    const int32_t n = compile_at(cp, sch);
    cp->depth--;
    return n;
}

/* $ref, or allOf of one schema: this schema is that one. */
static int32_t compile_alias(comp *cp, const cJSON *sch, const char *kw, const cJSON *target, const char *target_path)
{
    for (const cJSON *k = sch->child; k; k = k->next)
        if (strcmp(k->string, kw) && in_list(k->string, enforced_kw, IA_ARRAY_LEN(enforced_kw)))
            return fail(cp, IA_ERR_UNSUPPORTED, "'%s' beside '%s' is not supported", k->string, kw);
    memo *m = memo_find(cp, target);
    if (m && m->node == -2)
        return fail(cp, IA_ERR_INVALID, "'%s' refers to itself", kw);
    if (m)
        return m->node;
    if (!memo_add(cp, sch, -2))
        return oom(cp);
    char saved[sizeof cp->path];
    memcpy(saved, cp->path, sizeof saved);
    if (target_path)
        snprintf(cp->path, sizeof cp->path, "%s", target_path + 1); /* without its '#' */
    else
        path_push(cp, kw, "0");
    const int32_t n = compile(cp, target);
    memcpy(cp->path, saved, sizeof saved);
    m = memo_find(cp, sch);
    m->node = n; /* -1 on failure: nothing reads it then */
    return n;
}

static int32_t compile_at(comp *cp, const cJSON *sch)
{
    ia_jsonc *c = cp->c;
    if (cJSON_IsTrue(sch))
        return 0;
    if (cJSON_IsFalse(sch)) {
        if (cp->never < 0) {
            cp->never = new_node(cp);
            if (cp->never >= 0) {
                c->nodes[cp->never].types = 0;
                c->nodes[cp->never].types_final = true;
            }
        }
        return cp->never;
    }
    if (!cJSON_IsObject(sch))
        return fail(cp, IA_ERR_INVALID, "a schema must be an object or a boolean");
    for (const cJSON *k = sch->child; k; k = k->next) {
        if (in_list(k->string, refused_kw, IA_ARRAY_LEN(refused_kw)) ||
            (!strcmp(k->string, "uniqueItems") && !cJSON_IsFalse(k)))
            return fail(cp, IA_ERR_UNSUPPORTED, "'%s' is not supported (it would not be enforced)", k->string);
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(sch, "$ref");
    if (ref) {
        if (!cJSON_IsString(ref))
            return fail(cp, IA_ERR_INVALID, "'$ref' must be a string");
        if (ref->valuestring[0] != '#')
            return fail(cp, IA_ERR_UNSUPPORTED, "'$ref' '%s': only local references (\"#...\") are supported",
                        ref->valuestring);
        const cJSON *target = resolve_ref(cp->doc, ref->valuestring);
        if (!target)
            return fail(cp, IA_ERR_INVALID, "'$ref' '%s' points at nothing", ref->valuestring);
        return compile_alias(cp, sch, "$ref", target, ref->valuestring);
    }
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(sch, "allOf");
    if (all) {
        if (!cJSON_IsArray(all) || cJSON_GetArraySize(all) == 0)
            return fail(cp, IA_ERR_INVALID, "'allOf' must be a non-empty array of schemas");
        if (cJSON_GetArraySize(all) > 1)
            return fail(cp, IA_ERR_UNSUPPORTED, "'allOf' of more than one schema is not supported");
        return compile_alias(cp, sch, "allOf", all->child, NULL);
    }
    const int32_t idx = new_node(cp);
    if (idx < 0 || !memo_add(cp, sch, idx))
        return idx < 0 ? idx : oom(cp);

    const char *alt_kw = cJSON_GetObjectItemCaseSensitive(sch, "anyOf")   ? "anyOf"
                         : cJSON_GetObjectItemCaseSensitive(sch, "oneOf") ? "oneOf"
                                                                          : NULL;
    if (alt_kw) {
        for (const cJSON *k = sch->child; k; k = k->next)
            if (strcmp(k->string, alt_kw) && in_list(k->string, enforced_kw, IA_ARRAY_LEN(enforced_kw)))
                return fail(cp, IA_ERR_UNSUPPORTED, "'%s' beside '%s' is not supported", k->string, alt_kw);
        return compile_alternatives(cp, idx, sch, alt_kw, cJSON_GetObjectItemCaseSensitive(sch, alt_kw)) ? idx : -1;
    }

    const cJSON *type = cJSON_GetObjectItemCaseSensitive(sch, "type");
    if (type) {
        static const char *const names[] = {"object", "array", "string", "number", "boolean", "null", "integer"};
        static const uint8_t bits[] = {1u << C_OBJECT, 1u << C_ARRAY, 1u << C_STRING, 1u << C_NUMBER,
                                       1u << C_TRUE | 1u << C_FALSE, 1u << C_NULL, 1u << C_NUMBER};
        uint8_t types = 0;
        bool number = false, integer = false;
        const bool list = cJSON_IsArray(type);
        if (!list && !cJSON_IsString(type))
            return fail(cp, IA_ERR_INVALID, "'type' must be a string or an array of strings");
        for (const cJSON *t = list ? type->child : type; t; t = list ? t->next : NULL) {
            size_t k = 0;
            while (k < IA_ARRAY_LEN(names) && !(cJSON_IsString(t) && !strcmp(t->valuestring, names[k])))
                k++;
            if (k == IA_ARRAY_LEN(names))
                return fail(cp, IA_ERR_INVALID, "'type' %s%s%s is not a JSON Schema type",
                            cJSON_IsString(t) ? "'" : "", cJSON_IsString(t) ? t->valuestring : "(not a string)",
                            cJSON_IsString(t) ? "'" : "");
            types |= bits[k];
            number |= k == 3;
            integer |= k == 6;
        }
        c->nodes[idx].types = types;
        c->nodes[idx].integer = integer && !number;
    }
    if (cJSON_GetObjectItemCaseSensitive(sch, "enum") || cJSON_GetObjectItemCaseSensitive(sch, "const"))
        if (!compile_literals(cp, idx, sch))
            return -1;
    c->nodes[idx].types_final = true;

    if (c->nodes[idx].types >> C_OBJECT & 1)
        if (!compile_object(cp, idx, sch))
            return -1;
    if (c->nodes[idx].types >> C_ARRAY & 1) {
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(sch, "items");
        if (items) {
            if (cJSON_IsArray(items))
                return fail(cp, IA_ERR_UNSUPPORTED, "'items' as a list (tuples) is not supported");
            const size_t mark = path_push(cp, "items", NULL);
            const int32_t it = compile(cp, items);
            cp->path[mark] = '\0';
            if (it < 0)
                return -1;
            c->nodes[idx].items = it;
        }
        if (!get_count(cp, sch, "minItems", &c->nodes[idx].min_items) ||
            !get_count(cp, sch, "maxItems", &c->nodes[idx].max_items))
            return -1;
    }
    if (c->nodes[idx].types >> C_STRING & 1)
        if (!get_count(cp, sch, "minLength", &c->nodes[idx].min_len) ||
            !get_count(cp, sch, "maxLength", &c->nodes[idx].max_len))
            return -1;
    return idx;
}

/* The fewest frames a value of class k of node n needs, given the table. */
static uint8_t need_of(const ia_jsonc *c, const jnode *d, int k)
{
    if (d->alt)
        return d->alts[k] < 0 ? NEED_INF : c->nodes[d->alts[k]].need[k];
    if (!(d->types >> k & 1))
        return NEED_INF;
    if (d->literal)
        return 1;
    unsigned m = 1;
    if (k == C_OBJECT) {
        for (uint32_t i = 0; i < d->n_props; i++)
            if (d->required >> i & 1)
                m = IA_MAX(m, 1u + c->nodes[c->pnodes[d->prop_first + i]].need_min);
    } else if (k == C_ARRAY) {
        if (d->min_items > d->max_items)
            return NEED_INF;
        if (d->min_items > 0)
            m = 1u + c->nodes[d->items].need_min;
    } else if (k == C_STRING) {
        if (d->min_len > d->max_len)
            return NEED_INF;
    }
    return m >= NEED_INF ? NEED_INF : (uint8_t)m;
}

static void set_need(ia_jsonc *c, jnode *d)
{
    d->need_min = NEED_INF;
    for (int k = 0; k < N_CLASS; k++) {
        d->need[k] = need_of(c, d, k);
        d->need_min = IA_MIN(d->need_min, d->need[k]);
    }
}

static void compute_needs(ia_jsonc *c)
{
    for (size_t i = 0; i < c->n_nodes; i++) {
        memset(c->nodes[i].need, NEED_INF, N_CLASS);
        c->nodes[i].need_min = NEED_INF;
    }
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < c->n_nodes; i++) {
            jnode *d = &c->nodes[i];
            for (int k = 0; k < N_CLASS; k++) {
                const uint8_t v = need_of(c, d, k);
                if (v < d->need[k]) {
                    d->need[k] = v;
                    d->need_min = IA_MIN(d->need_min, v);
                    changed = true;
                }
            }
        }
    }
}


/* Bytes of the members an object still needs: the required ones not
 * seen, each after a comma when `after` a member, and the '}'. */
static uint64_t object_rest(const ia_jsonc *c, const jnode *d, uint64_t seen, bool after)
{
    uint64_t sum = 1;
    unsigned k = 0;
    for (uint32_t i = 0; i < d->n_props; i++)
        if ((d->required & ~seen) >> i & 1) {
            const uint32_t p = d->prop_first + i;
            sum = add_sat(sum, add_sat(c->pnames[p].len + 3u, c->nodes[c->pnodes[p]].bytes_min));
            k++;
        }
    return add_sat(sum, after ? k : k ? k - 1 : 0);
}

static uint64_t bytes_of(const ia_jsonc *c, const jnode *d, int k)
{
    static const uint8_t word_bytes[N_CLASS] = {[C_NUMBER] = 1, [C_TRUE] = 4, [C_FALSE] = 5, [C_NULL] = 4};
    if (d->alt)
        return d->alts[k] < 0 ? BYTES_INF : c->nodes[d->alts[k]].bytes[k];
    if (!(d->types >> k & 1))
        return BYTES_INF;
    if (d->literal) {
        uint64_t m = BYTES_INF;
        for (uint32_t i = 0; i < d->n_lits; i++) {
            const jbytes *l = &c->lits[d->lit_first + i];
            if (byte_class((uint8_t)l->p[0]) == k)
                m = IA_MIN(m, (uint64_t)l->len);
        }
        return m;
    }
    switch (k) {
    case C_OBJECT: return add_sat(1, object_rest(c, d, 0, false));
    case C_ARRAY:
        if (d->min_items > d->max_items)
            return BYTES_INF;
        return d->min_items ? add_sat(mul_sat(add_sat(c->nodes[d->items].bytes_min, 1), d->min_items), 1) : 2;
    case C_STRING: return d->min_len > d->max_len ? BYTES_INF : 2u + (uint64_t)d->min_len;
    default: return word_bytes[k];
    }
}

static void compute_bytes(ia_jsonc *c)
{
    for (size_t i = 0; i < c->n_nodes; i++) {
        for (int k = 0; k < N_CLASS; k++)
            c->nodes[i].bytes[k] = BYTES_INF;
        c->nodes[i].bytes_min = BYTES_INF;
    }
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < c->n_nodes; i++) {
            jnode *d = &c->nodes[i];
            for (int k = 0; k < N_CLASS; k++) {
                const uint64_t v = bytes_of(c, d, k);
                if (v < d->bytes[k]) {
                    d->bytes[k] = v;
                    d->bytes_min = IA_MIN(d->bytes_min, v);
                    changed = true;
                }
            }
        }
    }
}

/* Keep the literals that the node's other keywords accept (read by the
 * recognizer itself from a copy of the node without them); repeat while
 * any is dropped, since literals inside literals are checked against
 * their own nodes' lists. Returns false when out of memory. */
static bool filter_literals(ia_jsonc *c)
{
    for (bool changed = true; changed;) {
        changed = false;
        compute_needs(c);
        const size_t n_nodes = c->n_nodes;
        for (size_t i = 0; i < n_nodes; i++) {
            if (!c->nodes[i].literal || c->nodes[i].n_lits == 0)
                continue;
            jnode *p = ia__grow(c->nodes, c->n_nodes, &c->cap_nodes, sizeof *p, 16);
            if (!p)
                return false;
            c->nodes = p;
            const int32_t tmp = (int32_t)c->n_nodes++;
            p[tmp] = p[i];
            p[tmp].literal = false; /* its types: "type"'s, within the literals' classes */
            set_need(c, &p[tmp]);
            jnode *d = &c->nodes[i];
            jbytes *l = c->lits + d->lit_first;
            uint32_t w = 0;
            uint8_t classes = 0;
            for (uint32_t j = 0; j < d->n_lits; j++) {
                ia_jsonc_state s;
                start_at(&s, tmp);
                if (ia__jsonc_feed(c, &s, l[j].p, l[j].len) && ia__jsonc_complete(c, &s)) {
                    classes |= (uint8_t)(1u << byte_class((uint8_t)l[j].p[0]));
                    l[w++] = l[j];
                } else {
                    ia__free(l[j].p);
                    l[j].p = NULL;
                    changed = true;
                }
            }
            /* the dropped ones' slots stay in the pool, empty */
            for (uint32_t j = w; j < d->n_lits; j++)
                l[j] = (jbytes){NULL, 0};
            d->n_lits = w;
            d->types &= classes;
            c->n_nodes--;
        }
    }
    compute_needs(c);
    compute_bytes(c);
    return true;
}

static ia_status finish(comp *cp, int32_t root, ia_jsonc **out)
{
    ia_jsonc *c = cp->c;
    ia__free(cp->memo);
    if (cp->st == IA_OK && root < 0) /* every failure records its status: a broken invariant */
        cp->st = ia__error(IA_ERR_INVALID, "#: the schema did not compile");
    if (cp->st == IA_OK && !filter_literals(c))
        cp->st = ia__error(IA_ERR_NOMEM, "compiling a JSON schema: out of memory");
    if (cp->st == IA_OK && c->nodes[root].need_min > IA_JSONC_MAX_DEPTH)
        cp->st = ia__error(IA_ERR_INVALID, "#: no value satisfies the schema within %d levels of nesting",
                           IA_JSONC_MAX_DEPTH);
    if (cp->st != IA_OK) {
        ia__jsonc_free(c);
        return cp->st;
    }
    c->root = root;
    *out = c;
    return IA_OK;
}

ia_status ia__jsonc_new(const cJSON *schema, ia_jsonc **out)
{
    IA_NEED(out);
    *out = NULL;
    ia__error_clear();
    comp cp = {.never = -1};
    cp.c = ia__calloc(1, sizeof *cp.c);
    if (!cp.c)
        return ia__error(IA_ERR_NOMEM, "compiling a JSON schema: out of memory");
    cp.doc = schema;
    /* node 0: any value */
    int32_t root = new_node(&cp);
    if (root >= 0)
        cp.c->nodes[0].types_final = true;
    if (root >= 0 && !schema) { /* any object */
        root = new_node(&cp);
        if (root >= 0) {
            cp.c->nodes[root].types = 1u << C_OBJECT;
            cp.c->nodes[root].types_final = true;
        }
    } else if (root >= 0) {
        root = compile(&cp, schema);
    }
    return finish(&cp, root, out);
}

ia_status ia__jsonc_from_response_format(const cJSON *rf, ia_jsonc **out)
{
    IA_NEED(out);
    *out = NULL;
    ia__error_clear();
    const cJSON *type = cJSON_IsObject(rf) ? cJSON_GetObjectItemCaseSensitive(rf, "type") : NULL;
    if (!cJSON_IsString(type))
        return ia__error(IA_ERR_INVALID, "response_format: 'type' must be \"text\", \"json_object\" or \"json_schema\"");
    if (!strcmp(type->valuestring, "text"))
        return IA_OK;
    if (!strcmp(type->valuestring, "json_object"))
        return ia__jsonc_new(NULL, out);
    if (strcmp(type->valuestring, "json_schema"))
        return ia__error(IA_ERR_INVALID, "response_format: unknown type '%s'", type->valuestring);
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
    const cJSON *schema = cJSON_IsObject(js) ? cJSON_GetObjectItemCaseSensitive(js, "schema") : NULL;
    if (!cJSON_IsObject(schema) && !cJSON_IsBool(schema))
        return ia__error(IA_ERR_INVALID, "response_format: json_schema.schema must be a JSON Schema object");
    const ia_status st = ia__jsonc_new(schema, out);
    return st == IA_OK ? st : ia__error_wrap(st, "response_format: json_schema.schema");
}

/* ---------------------------------------------------------------------- */
/* The vocabulary index */

typedef struct trie {
    uint32_t n;         /* nodes, in preorder, children by byte */
    uint8_t *byte;      /* (n) the byte leading to the node */
    uint8_t *depth;     /* (n) bytes from the root, 1..TRIE_DEPTH */
    uint32_t *skip;     /* (n) the index past the node's subtree */
    uint32_t *tok_off;  /* (n + 1) tokens ending at node i: tok[tok_off[i], tok_off[i + 1]) */
    int32_t *tok;
} trie;

#define TRIE_DEPTH 255 /* longer tokens are checked one by one */
#define WALK_LEVELS 16 /* states the walk keeps (on the stack); deeper nodes re-read from the last */

struct ia_jsonc_vocab {
    size_t n_vocab;
    trie full;     /* every token that has bytes */
    trie special;  /* those that are not plain string content */
    uint8_t *plain_cp; /* (n_vocab) code points of a plain-content token (< 255), else 255 */
    int32_t *eog;
    size_t n_eog;
    jbytes *long_bytes; /* tokens over TRIE_DEPTH bytes, and their ids */
    int32_t *long_ids;
    size_t n_long;
};

typedef struct vtok {
    const uint8_t *p;
    uint32_t len;
    int32_t id;
} vtok;

static int cmp_vtok(const void *a, const void *b)
{
    const vtok *x = a, *y = b;
    const int r = memcmp(x->p, y->p, IA_MIN(x->len, y->len));
    if (r)
        return r;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void trie_free(trie *t)
{
    ia__free(t->byte);
    ia__free(t->depth);
    ia__free(t->skip);
    ia__free(t->tok_off);
    ia__free(t->tok);
    memset(t, 0, sizeof *t);
}

/* tk: n tokens sorted by bytes, none empty. */
static ia_status trie_build(trie *t, const vtok *tk, size_t n)
{
    memset(t, 0, sizeof *t);
    size_t nodes = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t l = 0;
        if (i > 0)
            while (l < tk[i].len && l < tk[i - 1].len && tk[i].p[l] == tk[i - 1].p[l])
                l++;
        nodes += tk[i].len - l;
    }
    t->byte = ia__malloc(nodes + 1);
    t->depth = ia__malloc((nodes + 1) * sizeof *t->depth);
    t->skip = ia__malloc((nodes + 1) * sizeof *t->skip);
    t->tok_off = ia__malloc((nodes + 1) * sizeof *t->tok_off);
    t->tok = ia__malloc((n + 1) * sizeof *t->tok);
    uint32_t path[TRIE_DEPTH];
    if (!t->byte || !t->depth || !t->skip || !t->tok_off || !t->tok) {
        trie_free(t);
        return ia__error(IA_ERR_NOMEM, "indexing a vocabulary: out of memory");
    }
    uint32_t cnt = 0, open = 0, ntok = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t l = 0;
        if (i > 0)
            while (l < tk[i].len && l < tk[i - 1].len && tk[i].p[l] == tk[i - 1].p[l])
                l++;
        for (; open > l; open--)
            t->skip[path[open - 1]] = cnt;
        for (uint32_t d = l; d < tk[i].len; d++) {
            t->byte[cnt] = tk[i].p[d];
            t->depth[cnt] = (uint8_t)(d + 1);
            t->tok_off[cnt] = ntok;
            path[d] = cnt++;
        }
        open = tk[i].len;
        t->tok[ntok++] = tk[i].id;
    }
    for (; open > 0; open--)
        t->skip[path[open - 1]] = cnt;
    t->tok_off[cnt] = ntok;
    t->n = cnt;
    return IA_OK;
}

/* Code points of a token that is plain string content (valid UTF-8, no
 * quote, backslash or control byte), else 255. */
static uint8_t plain_code_points(const uint8_t *p, size_t n)
{
    if (n == 0 || !valid_utf8((const char *)p, n))
        return 255;
    size_t cps = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] == '"' || p[i] == '\\')
            return 255;
        cps += (p[i] & 0xC0) != 0x80;
    }
    return cps < 255 ? (uint8_t)cps : 255;
}

void ia__jsonc_vocab_free(ia_jsonc_vocab *v)
{
    if (!v)
        return;
    trie_free(&v->full);
    trie_free(&v->special);
    ia__free(v->plain_cp);
    ia__free(v->eog);
    for (size_t i = 0; i < v->n_long; i++)
        ia__free(v->long_bytes[i].p);
    ia__free(v->long_bytes);
    ia__free(v->long_ids);
    ia__free(v);
}

size_t ia__jsonc_vocab_size(const ia_jsonc_vocab *v) { return v->n_vocab; }

ia_status ia__jsonc_vocab_new(size_t n_vocab, const char *const *bytes, const size_t *len, const uint8_t *eog,
                              ia_jsonc_vocab **out)
{
    IA_NEED(out);
    *out = NULL;
    IA_NEED(bytes);
    IA_NEED(len);
    ia__error_clear();
    if (n_vocab == 0 || n_vocab > INT32_MAX)
        return ia__error(IA_ERR_INVALID, "indexing a vocabulary: %zu tokens", n_vocab);
    ia_jsonc_vocab *v = ia__calloc(1, sizeof *v);
    vtok *tk = ia__malloc(n_vocab * sizeof *tk);
    if (v) {
        v->n_vocab = n_vocab;
        v->plain_cp = ia__malloc(n_vocab);
        v->eog = ia__malloc(n_vocab * sizeof *v->eog);
    }
    if (!v || !tk || !v->plain_cp || !v->eog) {
        ia__free(tk);
        ia__jsonc_vocab_free(v);
        return ia__error(IA_ERR_NOMEM, "indexing a vocabulary: out of memory");
    }
    size_t n = 0, n_special = 0, cap_long = 0;
    for (size_t t = 0; t < n_vocab; t++) {
        v->plain_cp[t] = 255;
        if (eog && eog[t]) {
            v->eog[v->n_eog++] = (int32_t)t;
            continue;
        }
        if (len[t] == 0)
            continue;
        if (!bytes[t] || len[t] > UINT32_MAX) {
            ia__free(tk);
            ia__jsonc_vocab_free(v);
            return ia__error(IA_ERR_INVALID, "indexing a vocabulary: token %zu: %zu bytes at %p", t, len[t],
                             (const void *)bytes[t]);
        }
        v->plain_cp[t] = plain_code_points((const uint8_t *)bytes[t], len[t]);
        if (len[t] > TRIE_DEPTH && v->plain_cp[t] == 255) {
            jbytes *lb = ia__grow(v->long_bytes, v->n_long, &cap_long, sizeof *lb, 4);
            char *copy = lb ? ia__malloc(len[t]) : NULL;
            if (lb)
                v->long_bytes = lb;
            int32_t *li = copy ? ia__realloc(v->long_ids, cap_long * sizeof *li) : NULL;
            if (!li) {
                ia__free(copy);
                ia__free(tk);
                ia__jsonc_vocab_free(v);
                return ia__error(IA_ERR_NOMEM, "indexing a vocabulary: out of memory");
            }
            memcpy(copy, bytes[t], len[t]);
            v->long_ids = li;
            v->long_ids[v->n_long] = (int32_t)t;
            v->long_bytes[v->n_long++] = (jbytes){copy, (uint32_t)len[t]};
            continue;
        }
        tk[n++] = (vtok){(const uint8_t *)bytes[t], (uint32_t)len[t], (int32_t)t};
    }
    qsort(tk, n, sizeof *tk, cmp_vtok);
    ia_status st = trie_build(&v->full, tk, n);
    if (st == IA_OK) { /* the same order, filtered */
        for (size_t i = 0; i < n; i++)
            if (v->plain_cp[tk[i].id] == 255)
                tk[n_special++] = tk[i];
        st = trie_build(&v->special, tk, n_special);
    }
    ia__free(tk);
    if (st != IA_OK) {
        ia__jsonc_vocab_free(v);
        return st;
    }
    *out = v;
    return IA_OK;
}

/* The frames in use only: a few, where a whole state is a kilobyte. */
_Static_assert(offsetof(ia_jsonc_state, f) == 8, "copy_state copies the header field by field");
static inline void copy_state(ia_jsonc_state *dst, const ia_jsonc_state *src)
{
    dst->root = src->root;
    dst->depth = src->depth;
    dst->ws = src->ws;
    dst->nl = src->nl;
    dst->done = src->done;
    for (unsigned i = 0; i < src->depth; i++)
        dst->f[i] = src->f[i];
}

/* Mark every token of t that s can read: the state after each node's
 * bytes comes from its parent's, kept per level. */
static void walk(const ia_jsonc *c, const trie *t, const ia_jsonc_state *s, uint8_t *mask)
{
    ia_jsonc_state st[WALK_LEVELS + 1], deep;
    uint8_t path[TRIE_DEPTH];
    copy_state(&st[0], s);
    for (uint32_t i = 0; i < t->n;) {
        const unsigned k = t->depth[i];
        bool ok;
        path[k - 1] = t->byte[i];
        if (k <= WALK_LEVELS) {
            copy_state(&st[k], &st[k - 1]);
            ok = step(c, &st[k], t->byte[i]);
        } else { /* rare: a token that long still fits */
            copy_state(&deep, &st[WALK_LEVELS]);
            ok = true;
            for (unsigned j = WALK_LEVELS; j < k && ok; j++)
                ok = step(c, &deep, path[j]);
        }
        if (!ok) {
            i = t->skip[i];
            continue;
        }
        for (uint32_t j = t->tok_off[i]; j < t->tok_off[i + 1]; j++)
            mask[t->tok[j]] = 1;
        i++;
    }
}

ia_status ia__jsonc_mask(const ia_jsonc *c, const ia_jsonc_vocab *v, const ia_jsonc_state *s, uint8_t *mask)
{
    const size_t n = v->n_vocab;
    const trie *t = &v->full;
    const ia_jsonc_frame *f = s->depth ? &s->f[s->depth - 1] : NULL;
    if (f && f->kind == K_STRING && !f->esc && !f->utf8 && f->sur == SUR_NONE && !(f->flags & F_NAMES)) {
        /* plain content keeps the string open: only its length matters */
        uint32_t rem = 254;
        if (!(f->flags & F_KEY))
            rem = (uint32_t)IA_MIN((uint64_t)rem, (uint64_t)c->nodes[f->node].max_len - f->count);
        const uint8_t r = (uint8_t)rem, *cp = v->plain_cp;
        for (size_t i = 0; i < n; i++)
            mask[i] = cp[i] <= r;
        t = &v->special;
    } else {
        memset(mask, 0, n);
    }
    if (!(s->depth == 0 && s->done)) {
        walk(c, t, s, mask);
        for (size_t i = 0; i < v->n_long; i++) {
            ia_jsonc_state q;
            copy_state(&q, s);
            mask[v->long_ids[i]] = ia__jsonc_feed(c, &q, v->long_bytes[i].p, v->long_bytes[i].len);
        }
    }
    if (ia__jsonc_complete(c, s))
        for (size_t i = 0; i < v->n_eog; i++)
            mask[v->eog[i]] = 1;
    return IA_OK;
}
