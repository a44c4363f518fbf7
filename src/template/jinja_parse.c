/*
 * Lexer and parser of Jinja templates, following jinja2 3.1's lexer.py and
 * parser.py rule for rule (with trim_blocks and lstrip_blocks on, as
 * transformers sets them): the whitespace control of {%- -%} {%+ +%},
 * trailing-newline removal, string escapes as Python's unicode-escape
 * reads them, the precedence of every operator, filters binding tighter
 * than arithmetic, tests taking one bare argument. The result is the
 * syntax tree of jinja-impl.h, allocated in the template's arena.
 *
 * After parsing, one pass resolves filter and test names the way jinja2's
 * compiler does: an unknown name is a compile error unless it sits inside
 * an {% if %} or a conditional expression, where it only fails if reached.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "template/jinja-impl.h"

/* ---- arena ---- */

struct arena_blk {
    arena_blk *next;
    size_t used, cap;
    max_align_t data[];
};

void *ia__jinja_arena(ia_jinja *t, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    arena_blk *b = t->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        b = ia__malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = t->blocks;
        t->blocks = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

void ia__jinja_arena_free(ia_jinja *t)
{
    while (t->blocks) {
        arena_blk *b = t->blocks;
        t->blocks = b->next;
        ia__free(b);
    }
}

/* ---- tokens ---- */

enum { T_DATA, T_VBEGIN, T_VEND, T_BBEGIN, T_BEND, T_NAME, T_STRING, T_INT, T_FLOAT, T_OP, T_EOF };
enum {
    O_ADD, O_SUB, O_DIV, O_FLOORDIV, O_MUL, O_MOD, O_POW, O_TILDE, O_LBRACKET, O_RBRACKET, O_LPAREN, O_RPAREN,
    O_LBRACE, O_RBRACE, O_EQ, O_NE, O_GT, O_GE, O_LT, O_LE, O_ASSIGN, O_DOT, O_COLON, O_PIPE, O_COMMA,
    O_SEMICOLON,
};
static const char *const op_text[] = {"+", "-", "/", "//", "*", "%", "**", "~", "[", "]", "(", ")", "{",
                                      "}", "==", "!=", ">", ">=", "<", "<=", "=", ".", ":", "|", ",", ";"};

typedef struct tok {
    uint8_t t, op;
    uint32_t line;
    const char *s; /* T_DATA, T_NAME, T_STRING: arena text */
    size_t len;
    int64_t i;
    double f;
} tok;

typedef struct P {
    ia_jinja *t;
    const char *src;
    size_t n;
    tok *toks;
    size_t ntok, cap;
    size_t pos;
    ia_status err;
    int depth;
    int loop_depth;
    node *macro;
} P;

static bool pfail(P *p, ia_status st, uint32_t line, const char *fmt, ...) IA_PRINTF(4, 5);
static bool pfail(P *p, ia_status st, uint32_t line, const char *fmt, ...)
{
    if (p->err)
        return false;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->err = st;
    ia__error(st, "template line %u: %s", (unsigned)line, msg);
    return false;
}

static bool poom(P *p) { return pfail(p, IA_ERR_NOMEM, 0, "out of memory"); }

static void *palloc(P *p, size_t n)
{
    void *x = ia__jinja_arena(p->t, n);
    if (!x)
        poom(p);
    return x;
}

static tok *emit(P *p, int type, uint32_t line)
{
    if (p->ntok == p->cap) {
        tok *nt = ia__grow(p->toks, p->ntok, &p->cap, sizeof(tok), 256);
        if (!nt) {
            poom(p);
            return NULL;
        }
        p->toks = nt;
    }
    tok *k = &p->toks[p->ntok++];
    memset(k, 0, sizeof *k);
    k->t = (uint8_t)type;
    k->line = line;
    return k;
}

static size_t count_nl(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += s[i] == '\n';
    return c;
}

/* Python whitespace (\s) at s[i]: its byte length, 0 if none. */
static size_t space_at(const char *s, size_t n, size_t i)
{
    if (i >= n)
        return 0;
    size_t k = i;
    uint32_t c = ia__utf8_next(s, n, &k);
    return ia__py_space(c) ? k - i : 0;
}

static size_t skip_space(const char *s, size_t n, size_t i)
{
    size_t w;
    while ((w = space_at(s, n, i)))
        i += w;
    return i;
}

/* Length of text with trailing Python whitespace removed (str.rstrip()). */
static size_t rstrip_len(const char *s, size_t n)
{
    size_t end = n;
    while (end > 0) {
        size_t st = end - 1;
        while (st > 0 && ((unsigned char)s[st] & 0xc0) == 0x80)
            st--;
        size_t k = st;
        uint32_t c = ia__utf8_next(s, n, &k);
        if (k != end || !ia__py_space(c))
            break;
        end = st;
    }
    return end;
}

static bool all_space(const char *s, size_t n)
{
    return n > 0 && skip_space(s, n, 0) == n;
}

/* Data before a tag, with the tag's whitespace control applied. */
static bool emit_data(P *p, const char *text, size_t len, char sign, bool lstrip, bool line_starting, uint32_t line)
{
    if (sign == '-') {
        len = rstrip_len(text, len);
    } else if (sign != '+' && lstrip) {
        size_t l_pos = len;
        while (l_pos > 0 && text[l_pos - 1] != '\n')
            l_pos--;
        if ((l_pos > 0 || line_starting) && all_space(text + l_pos, len - l_pos))
            len = l_pos;
    }
    if (!len)
        return true;
    tok *k = emit(p, T_DATA, line);
    if (!k)
        return false;
    k->s = text;
    k->len = len;
    return true;
}

/* {%[-+]?\s*raw\s*(-%}\s*|%}) at i: its end in *end and its sign. */
static bool match_raw(const char *s, size_t n, size_t i, size_t *end, char *sign)
{
    size_t k = i + 2;
    *sign = 0;
    if (k < n && (s[k] == '-' || s[k] == '+'))
        *sign = s[k++];
    k = skip_space(s, n, k);
    if (n - k < 3 || memcmp(s + k, "raw", 3))
        return false;
    k = skip_space(s, n, k + 3);
    if (n - k >= 3 && !memcmp(s + k, "-%}", 3)) {
        *end = skip_space(s, n, k + 3);
        return true;
    }
    if (n - k >= 2 && !memcmp(s + k, "%}", 2)) {
        *end = k + 2;
        return true;
    }
    return false;
}

/* {%[-+]?\s*endraw\s*(+%}|-%}\s*|%}\n?) at i. */
static bool match_endraw(const char *s, size_t n, size_t i, size_t *end, char *sign)
{
    if (n - i < 2 || s[i] != '{' || s[i + 1] != '%')
        return false;
    size_t k = i + 2;
    *sign = 0;
    if (k < n && (s[k] == '-' || s[k] == '+'))
        *sign = s[k++];
    k = skip_space(s, n, k);
    if (n - k < 6 || memcmp(s + k, "endraw", 6))
        return false;
    k = skip_space(s, n, k + 6);
    if (n - k >= 3 && !memcmp(s + k, "+%}", 3)) {
        *end = k + 3;
        return true;
    }
    if (n - k >= 3 && !memcmp(s + k, "-%}", 3)) {
        *end = skip_space(s, n, k + 3);
        return true;
    }
    if (n - k >= 2 && !memcmp(s + k, "%}", 2)) {
        *end = k + 2 + (k + 2 < n && s[k + 2] == '\n');
        return true;
    }
    return false;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

/* (\d+_)*\d+ at i: its end, or i when it does not match. */
static size_t digits_at(const char *s, size_t n, size_t i)
{
    size_t k = i;
    if (k >= n || !is_digit(s[k]))
        return i;
    for (;;) {
        while (k < n && is_digit(s[k]))
            k++;
        if (k + 1 < n && s[k] == '_' && is_digit(s[k + 1]))
            k++;
        else
            return k;
    }
}

/* jinja2's float_re at i (not after a '.'): its end or i. */
static size_t float_at(const char *s, size_t n, size_t i)
{
    if (i > 0 && s[i - 1] == '.')
        return i;
    size_t a = digits_at(s, n, i);
    if (a == i)
        return i;
    /* (\.digits)?e[+-]?digits */
    size_t k = a;
    if (k < n && s[k] == '.') {
        size_t f = digits_at(s, n, k + 1);
        if (f != k + 1 && f < n && (s[f] == 'e' || s[f] == 'E')) {
            size_t e = f + 1;
            if (e < n && (s[e] == '+' || s[e] == '-'))
                e++;
            size_t d = digits_at(s, n, e);
            if (d != e)
                return d;
        }
    }
    if (k < n && (s[k] == 'e' || s[k] == 'E')) {
        size_t e = k + 1;
        if (e < n && (s[e] == '+' || s[e] == '-'))
            e++;
        size_t d = digits_at(s, n, e);
        if (d != e)
            return d;
    }
    if (k < n && s[k] == '.') {
        size_t f = digits_at(s, n, k + 1);
        if (f != k + 1)
            return f;
    }
    return i;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* jinja2's integer_re at i; the value in *v (false: too large). */
static size_t int_at(const char *s, size_t n, size_t i, int64_t *v, bool *big)
{
    *big = false;
    *v = 0;
    int base = 10;
    size_t k = i;
    if (k + 1 < n && s[k] == '0' && s[k + 1] && strchr("bBoOxX", s[k + 1])) {
        char c = (char)(s[k + 1] | 0x20);
        base = c == 'b' ? 2 : c == 'o' ? 8 : 16;
        size_t j = k + 2, end = k + 2;
        for (;;) {
            size_t q = j;
            if (q < n && s[q] == '_')
                q++;
            int d = q < n ? hexval(s[q]) : -1;
            if (d < 0 || d >= base)
                break;
            j = end = q + 1;
        }
        if (end == k + 2)
            goto decimal;
        uint64_t acc = 0;
        for (size_t q = k + 2; q < end; q++) {
            if (s[q] == '_')
                continue;
            uint64_t d = (uint64_t)hexval(s[q]);
            if (acc > (UINT64_MAX - d) / (uint64_t)base || acc * (uint64_t)base + d > (uint64_t)INT64_MAX)
                *big = true;
            acc = acc * (uint64_t)base + d;
        }
        *v = (int64_t)acc;
        return end;
    }
decimal:
    if (k >= n || !is_digit(s[k]))
        return i;
    size_t end;
    if (s[k] == '0') {
        size_t j = k + 1;
        for (;;) {
            size_t q = j;
            if (q < n && s[q] == '_')
                q++;
            if (q < n && s[q] == '0')
                j = q + 1;
            else
                break;
        }
        return j;
    }
    size_t j = k + 1;
    for (;;) {
        size_t q = j;
        if (q < n && s[q] == '_')
            q++;
        if (q < n && is_digit(s[q]))
            j = q + 1;
        else
            break;
    }
    end = j;
    uint64_t acc = 0;
    for (size_t q = k; q < end; q++) {
        if (s[q] == '_')
            continue;
        uint64_t d = (uint64_t)(s[q] - '0');
        if (acc > (UINT64_MAX - d) / 10 || acc * 10 + d > (uint64_t)INT64_MAX)
            *big = true;
        acc = acc * 10 + d;
    }
    *v = (int64_t)acc;
    return end;
}

/* A string literal's body unescaped as Python's unicode-escape codec does. */
static bool unescape(P *p, const char *s, size_t n, uint32_t line, tok *k)
{
    char *o = palloc(p, n + 1);
    if (!o)
        return false;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            o[w++] = s[i++];
            continue;
        }
        if (i + 1 >= n)
            return pfail(p, IA_ERR_FORMAT, line, "\\ at end of string");
        char c = s[i + 1];
        uint32_t cp;
        int want = 0;
        i += 2;
        switch (c) {
        case '\n': continue;
        case '\\': o[w++] = '\\'; continue;
        case '\'': o[w++] = '\''; continue;
        case '"': o[w++] = '"'; continue;
        case 'a': o[w++] = 7; continue;
        case 'b': o[w++] = 8; continue;
        case 'f': o[w++] = 12; continue;
        case 'n': o[w++] = '\n'; continue;
        case 'r': o[w++] = '\r'; continue;
        case 't': o[w++] = '\t'; continue;
        case 'v': o[w++] = 11; continue;
        case 'x': want = 2; break;
        case 'u': want = 4; break;
        case 'U': want = 8; break;
        case 'N':
            return pfail(p, IA_ERR_UNSUPPORTED, line, "\\N{...} escapes in strings are not supported");
        default:
            if (c >= '0' && c <= '7') {
                cp = (uint32_t)(c - '0');
                for (int j = 0; j < 2 && i < n && s[i] >= '0' && s[i] <= '7'; j++)
                    cp = cp * 8 + (uint32_t)(s[i++] - '0');
                char u[4];
                size_t m = ia__utf8_put(cp, u);
                memcpy(o + w, u, m);
                w += m;
                continue;
            }
            o[w++] = '\\';
            i--;
            continue;
        }
        cp = 0;
        for (int j = 0; j < want; j++) {
            int h = i < n ? hexval(s[i]) : -1;
            if (h < 0)
                return pfail(p, IA_ERR_FORMAT, line, "truncated \\%cXX escape in a string", c);
            cp = cp * 16 + (uint32_t)h;
            i++;
        }
        if (cp > 0x10ffff)
            return pfail(p, IA_ERR_FORMAT, line, "illegal Unicode character in a string");
        char u[4];
        size_t m = ia__utf8_put(cp, u);
        /* \\x escapes are at most 4 bytes; the source had >= 4 for them */
        memcpy(o + w, u, m);
        w += m;
    }
    o[w] = '\0';
    k->s = o;
    k->len = w;
    return true;
}

static bool lex_tag(P *p, size_t *pos_io, uint32_t *line_io, bool *line_starting, bool block)
{
    const char *s = p->src;
    size_t n = p->n, pos = *pos_io;
    uint32_t line = *line_io;
    uint8_t stack[IA_JINJA_MAX_SYNTAX_DEPTH];
    size_t depth = 0;
    for (;;) {
        if (pos >= n)
            break; /* the parser reports the missing end */
        if (!depth) {
            size_t end = 0;
            if (block) {
                if (n - pos >= 3 && !memcmp(s + pos, "+%}", 3))
                    end = pos + 3;
                else if (n - pos >= 3 && !memcmp(s + pos, "-%}", 3))
                    end = skip_space(s, n, pos + 3);
                else if (n - pos >= 2 && !memcmp(s + pos, "%}", 2))
                    end = pos + 2 + (pos + 2 < n && s[pos + 2] == '\n');
            } else {
                if (n - pos >= 3 && !memcmp(s + pos, "-}}", 3))
                    end = skip_space(s, n, pos + 3);
                else if (n - pos >= 2 && !memcmp(s + pos, "}}", 2))
                    end = pos + 2;
            }
            if (end) {
                if (!emit(p, block ? T_BEND : T_VEND, line))
                    return false;
                line += (uint32_t)count_nl(s + pos, end - pos);
                *line_starting = s[end - 1] == '\n';
                *pos_io = end;
                *line_io = line;
                return true;
            }
        }
        size_t w = space_at(s, n, pos);
        if (w) {
            size_t e = skip_space(s, n, pos);
            line += (uint32_t)count_nl(s + pos, e - pos);
            pos = e;
            continue;
        }
        char c = s[pos];
        if (is_digit(c)) {
            size_t e = float_at(s, n, pos);
            if (e != pos) {
                char buf[128];
                size_t m = 0;
                for (size_t q = pos; q < e && m < sizeof buf - 1; q++)
                    if (s[q] != '_')
                        buf[m++] = s[q];
                buf[m] = '\0';
                tok *k = emit(p, T_FLOAT, line);
                if (!k)
                    return false;
                k->f = strtod(buf, NULL);
                pos = e;
                continue;
            }
            int64_t v;
            bool big;
            e = int_at(s, n, pos, &v, &big);
            if (e != pos) {
                if (big)
                    return pfail(p, IA_ERR_UNSUPPORTED, line, "integer literal larger than 64 bits is not supported");
                tok *k = emit(p, T_INT, line);
                if (!k)
                    return false;
                k->i = v;
                pos = e;
                continue;
            }
        }
        if (is_name_start(c)) {
            size_t e = pos + 1;
            while (e < n && is_name_char(s[e]))
                e++;
            if (e < n && (unsigned char)s[e] >= 0x80)
                return pfail(p, IA_ERR_UNSUPPORTED, line, "non-ASCII names are not supported");
            tok *k = emit(p, T_NAME, line);
            if (!k)
                return false;
            char *nm = palloc(p, e - pos + 1);
            if (!nm)
                return false;
            memcpy(nm, s + pos, e - pos);
            k->s = nm;
            k->len = e - pos;
            pos = e;
            continue;
        }
        if (c == '\'' || c == '"') {
            size_t e = pos + 1;
            while (e < n && s[e] != c) {
                if (s[e] == '\\' && e + 1 < n)
                    e++;
                e++;
            }
            if (e < n) {
                tok *k = emit(p, T_STRING, line);
                if (!k || !unescape(p, s + pos + 1, e - pos - 1, line, k))
                    return false;
                line += (uint32_t)count_nl(s + pos, e + 1 - pos);
                pos = e + 1;
                continue;
            }
            return pfail(p, IA_ERR_FORMAT, line, "unterminated string literal");
        }
        int op = -1;
        size_t oplen = 0;
        for (int o = 0; o < (int)IA_ARRAY_LEN(op_text); o++) {
            size_t l = strlen(op_text[o]);
            if (l > oplen && n - pos >= l && !memcmp(s + pos, op_text[o], l)) {
                op = o;
                oplen = l;
            }
        }
        if (op < 0) {
            if ((unsigned char)c >= 0x80) {
                size_t k = pos;
                uint32_t cp = ia__utf8_next(s, n, &k);
                utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
                if (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO)
                    return pfail(p, IA_ERR_UNSUPPORTED, line, "non-ASCII names are not supported");
            }
            return pfail(p, IA_ERR_FORMAT, line, "unexpected char '%c'", c);
        }
        if (op == O_LPAREN || op == O_LBRACKET || op == O_LBRACE) {
            if (depth == sizeof stack)
                return pfail(p, IA_ERR_FORMAT, line, "brackets nested deeper than %d", IA_JINJA_MAX_SYNTAX_DEPTH);
            stack[depth++] = (uint8_t)(op == O_LPAREN ? O_RPAREN : op == O_LBRACKET ? O_RBRACKET : O_RBRACE);
        } else if (op == O_RPAREN || op == O_RBRACKET || op == O_RBRACE) {
            if (!depth)
                return pfail(p, IA_ERR_FORMAT, line, "unexpected '%s'", op_text[op]);
            if (stack[depth - 1] != op)
                return pfail(p, IA_ERR_FORMAT, line, "unexpected '%s', expected '%s'", op_text[op],
                             op_text[stack[depth - 1]]);
            depth--;
        }
        tok *k = emit(p, T_OP, line);
        if (!k)
            return false;
        k->op = (uint8_t)op;
        pos += oplen;
    }
    *pos_io = pos;
    *line_io = line;
    return true;
}

static bool lex(P *p)
{
    const char *s = p->src;
    size_t n = p->n, pos = 0;
    uint32_t line = 1;
    bool line_starting = true;
    while (pos < n) {
        size_t q = pos;
        while (q + 1 < n && !(s[q] == '{' && (s[q + 1] == '{' || s[q + 1] == '%' || s[q + 1] == '#')))
            q++;
        if (q + 1 >= n) {
            tok *k = emit(p, T_DATA, line);
            if (!k)
                return false;
            k->s = s + pos;
            k->len = n - pos;
            line += (uint32_t)count_nl(s + pos, n - pos);
            pos = n;
            break;
        }
        char kind = s[q + 1];
        size_t after = q + 2;
        char sign = after < n && (s[after] == '-' || s[after] == '+') ? s[after] : 0;
        size_t raw_end = 0;
        char raw_sign = 0;
        bool raw = kind == '%' && match_raw(s, n, q, &raw_end, &raw_sign);
        if (raw)
            sign = raw_sign;
        if (!emit_data(p, s + pos, q - pos, sign, kind != '{', line_starting, line))
            return false;
        line += (uint32_t)count_nl(s + pos, q - pos);
        line_starting = false;
        if (raw) {
            line += (uint32_t)count_nl(s + q, raw_end - q);
            line_starting = s[raw_end - 1] == '\n';
            size_t e = raw_end, end = 0;
            char es = 0;
            while (e < n && !match_endraw(s, n, e, &end, &es))
                e++;
            if (e >= n)
                return pfail(p, IA_ERR_FORMAT, line, "missing end of raw directive");
            if (!emit_data(p, s + raw_end, e - raw_end, es, true, line_starting, line))
                return false;
            line += (uint32_t)count_nl(s + raw_end, end - raw_end);
            line_starting = s[end - 1] == '\n';
            pos = end;
            continue;
        }
        pos = after + (sign ? 1 : 0);
        if (kind == '#') {
            size_t e = pos, end = 0;
            for (; e < n; e++) {
                if (n - e >= 3 && s[e] == '+' && !memcmp(s + e + 1, "#}", 2)) {
                    end = e + 3;
                    break;
                }
                if (n - e >= 3 && s[e] == '-' && !memcmp(s + e + 1, "#}", 2)) {
                    end = skip_space(s, n, e + 3);
                    break;
                }
                if (n - e >= 2 && s[e] == '#' && s[e + 1] == '}') {
                    end = e + 2 + (e + 2 < n && s[e + 2] == '\n');
                    break;
                }
            }
            if (!end)
                return pfail(p, IA_ERR_FORMAT, line, "missing end of comment tag");
            line += (uint32_t)count_nl(s + q, end - q);
            line_starting = s[end - 1] == '\n';
            pos = end;
            continue;
        }
        if (!emit(p, kind == '{' ? T_VBEGIN : T_BBEGIN, line))
            return false;
        if (!lex_tag(p, &pos, &line, &line_starting, kind == '%'))
            return false;
    }
    return emit(p, T_EOF, line) != NULL;
}

/* ---- parser ---- */

static tok *cur(P *p) { return &p->toks[p->pos]; }
static tok *look(P *p) { return &p->toks[p->pos + 1 < p->ntok ? p->pos + 1 : p->pos]; }
static void next(P *p)
{
    if (p->toks[p->pos].t != T_EOF)
        p->pos++;
}
static bool is_op(const tok *k, int op) { return k->t == T_OP && k->op == op; }
static bool is_name(const tok *k, const char *nm) { return k->t == T_NAME && !strcmp(k->s, nm); }

static const char *describe(const tok *k)
{
    switch (k->t) {
    case T_DATA: return "template data";
    case T_VBEGIN: return "begin of print statement";
    case T_VEND: return "end of print statement";
    case T_BBEGIN: return "begin of statement block";
    case T_BEND: return "end of statement block";
    case T_NAME: return k->s;
    case T_STRING: return "string";
    case T_INT: return "integer";
    case T_FLOAT: return "float";
    case T_OP: return op_text[k->op];
    default: return "end of template";
    }
}

static bool expect_op(P *p, int op)
{
    if (is_op(cur(p), op)) {
        next(p);
        return true;
    }
    if (cur(p)->t == T_EOF)
        return pfail(p, IA_ERR_FORMAT, cur(p)->line, "unexpected end of template, expected '%s'", op_text[op]);
    return pfail(p, IA_ERR_FORMAT, cur(p)->line, "expected token '%s', got '%s'", op_text[op], describe(cur(p)));
}

static bool expect_type(P *p, int t, const char *what)
{
    if (cur(p)->t == t) {
        next(p);
        return true;
    }
    if (cur(p)->t == T_EOF)
        return pfail(p, IA_ERR_FORMAT, cur(p)->line, "unexpected end of template, expected '%s'", what);
    return pfail(p, IA_ERR_FORMAT, cur(p)->line, "expected token '%s', got '%s'", what, describe(cur(p)));
}

static node *nnew(P *p, int k, uint32_t line)
{
    node *x = palloc(p, sizeof *x);
    if (x) {
        x->k = (uint8_t)k;
        x->line = line;
        x->id = -1;
    }
    return x;
}

typedef struct vec {
    node **v;
    size_t n, cap;
    const char **names;
} vec;

static bool vpush_raw(P *p, vec *v, node *x, const char *name)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        node **nv = palloc(p, cap * sizeof *nv);
        const char **nn = palloc(p, cap * sizeof *nn);
        if (!nv || !nn)
            return false;
        if (v->n) {
            memcpy(nv, v->v, v->n * sizeof *nv);
            memcpy(nn, v->names, v->n * sizeof *nn);
        }
        v->v = nv;
        v->names = nn;
        v->cap = cap;
    }
    v->names[v->n] = name;
    v->v[v->n++] = x;
    return true;
}

static bool vpush(P *p, vec *v, node *x, const char *name) { return x && vpush_raw(p, v, x, name); }

static bool enter(P *p)
{
    if (++p->depth > IA_JINJA_MAX_SYNTAX_DEPTH)
        return pfail(p, IA_ERR_FORMAT, cur(p)->line, "template nested deeper than %d", IA_JINJA_MAX_SYNTAX_DEPTH);
    return true;
}

static node *parse_expression(P *p, bool with_condexpr);
static node *parse_tuple(P *p, bool simplified, bool with_condexpr, const char *const *extra_end, bool explicit_paren);
static node *parse_primary(P *p);
static node *parse_postfix(P *p, node *x);
static node *parse_unary(P *p, bool with_filter);

static bool parse_call_args(P *p, node *x)
{
    vec args = {0}, kw = {0};
    if (!expect_op(p, O_LPAREN))
        return false;
    bool need_comma = false;
    while (!is_op(cur(p), O_RPAREN)) {
        if (need_comma) {
            if (!expect_op(p, O_COMMA))
                return false;
            if (is_op(cur(p), O_RPAREN))
                break;
        }
        if (is_op(cur(p), O_MUL) || is_op(cur(p), O_POW))
            return pfail(p, IA_ERR_UNSUPPORTED, cur(p)->line, "*args and **kwargs in calls are not supported");
        if (cur(p)->t == T_NAME && is_op(look(p), O_ASSIGN)) {
            const char *key = cur(p)->s;
            next(p);
            next(p);
            if (!vpush(p, &kw, parse_expression(p, true), key))
                return false;
        } else {
            if (kw.n)
                return pfail(p, IA_ERR_FORMAT, cur(p)->line, "invalid syntax for function call expression");
            if (!vpush(p, &args, parse_expression(p, true), NULL))
                return false;
        }
        need_comma = true;
    }
    if (!expect_op(p, O_RPAREN))
        return false;
    x->v = args.v;
    x->n = (uint32_t)args.n;
    x->kv = kw.v;
    x->kn = kw.names;
    x->nk = (uint32_t)kw.n;
    return true;
}

/* name or name.name... (filters and tests may be dotted in jinja2) */
static const char *dotted_name(P *p)
{
    if (cur(p)->t != T_NAME) {
        expect_type(p, T_NAME, "name");
        return NULL;
    }
    const char *nm = cur(p)->s;
    next(p);
    while (is_op(cur(p), O_DOT)) {
        next(p);
        if (cur(p)->t != T_NAME) {
            expect_type(p, T_NAME, "name");
            return NULL;
        }
        size_t a = strlen(nm), b = cur(p)->len;
        char *j = palloc(p, a + b + 2);
        if (!j)
            return NULL;
        memcpy(j, nm, a);
        j[a] = '.';
        memcpy(j + a + 1, cur(p)->s, b);
        nm = j;
        next(p);
    }
    return nm;
}

static node *parse_filter(P *p, node *x, bool start_inline)
{
    while (is_op(cur(p), O_PIPE) || start_inline) {
        if (!start_inline)
            next(p);
        uint32_t line = cur(p)->line;
        const char *nm = dotted_name(p);
        if (!nm)
            return NULL;
        node *f = nnew(p, NK_FILTER, line);
        if (!f)
            return NULL;
        f->a = x;
        f->name = nm;
        if (is_op(cur(p), O_LPAREN) && !parse_call_args(p, f))
            return NULL;
        x = f;
        start_inline = false;
    }
    return x;
}

static node *parse_test(P *p, node *x)
{
    uint32_t line = cur(p)->line;
    next(p); /* is */
    bool negated = false;
    if (is_name(cur(p), "not")) {
        next(p);
        negated = true;
    }
    const char *nm = dotted_name(p);
    if (!nm)
        return NULL;
    node *t = nnew(p, NK_TEST, line);
    if (!t)
        return NULL;
    t->a = x;
    t->name = nm;
    tok *c = cur(p);
    if (is_op(c, O_LPAREN)) {
        if (!parse_call_args(p, t))
            return NULL;
    } else if ((c->t == T_NAME || c->t == T_STRING || c->t == T_INT || c->t == T_FLOAT || is_op(c, O_LBRACKET) ||
                is_op(c, O_LBRACE)) &&
               !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
        if (is_name(c, "is"))
            return pfail(p, IA_ERR_FORMAT, c->line, "You cannot chain multiple tests with is"), NULL;
        node *arg = parse_primary(p);
        arg = arg ? parse_postfix(p, arg) : NULL;
        if (!arg)
            return NULL;
        t->v = palloc(p, sizeof(node *));
        if (!t->v)
            return NULL;
        t->v[0] = arg;
        t->n = 1;
    }
    if (!negated)
        return t;
    node *n = nnew(p, NK_NOT, line);
    if (n)
        n->a = t;
    return n;
}

static node *parse_subscribed(P *p)
{
    uint32_t line = cur(p)->line;
    node *args[3] = {NULL, NULL, NULL};
    if (is_op(cur(p), O_COLON)) {
        next(p);
    } else {
        node *x = parse_expression(p, true);
        if (!x || !is_op(cur(p), O_COLON))
            return x;
        next(p);
        args[0] = x;
    }
    if (!is_op(cur(p), O_COLON) && !is_op(cur(p), O_RBRACKET) && !is_op(cur(p), O_COMMA)) {
        if (!(args[1] = parse_expression(p, true)))
            return NULL;
    }
    if (is_op(cur(p), O_COLON)) {
        next(p);
        if (!is_op(cur(p), O_RBRACKET) && !is_op(cur(p), O_COMMA)) {
            if (!(args[2] = parse_expression(p, true)))
                return NULL;
        }
    }
    node *s = nnew(p, NK_SLICE, line);
    if (s) {
        s->a = args[0];
        s->b = args[1];
        s->c = args[2];
    }
    return s;
}

static node *parse_subscript(P *p, node *x)
{
    tok *t = cur(p);
    uint32_t line = t->line;
    next(p);
    if (t->t == T_OP && t->op == O_DOT) {
        tok *a = cur(p);
        if (a->t == T_NAME) {
            next(p);
            node *g = nnew(p, NK_ATTR, line);
            if (g) {
                g->a = x;
                g->name = a->s;
            }
            return g;
        }
        if (a->t == T_INT) {
            next(p);
            node *g = nnew(p, NK_ITEM, line), *k = nnew(p, NK_CONST, line);
            if (!g || !k)
                return NULL;
            k->val = jv_int(a->i);
            g->a = x;
            g->b = k;
            return g;
        }
        return pfail(p, IA_ERR_FORMAT, a->line, "expected name or number"), NULL;
    }
    /* [ */
    vec args = {0};
    while (!is_op(cur(p), O_RBRACKET)) {
        if (args.n && !expect_op(p, O_COMMA))
            return NULL;
        if (!vpush(p, &args, parse_subscribed(p), NULL))
            return NULL;
    }
    if (!expect_op(p, O_RBRACKET))
        return NULL;
    node *g = nnew(p, NK_ITEM, line);
    if (!g)
        return NULL;
    g->a = x;
    if (args.n == 1) {
        g->b = args.v[0];
    } else {
        node *tu = nnew(p, NK_TUPLE, line);
        if (!tu)
            return NULL;
        tu->v = args.v;
        tu->n = (uint32_t)args.n;
        g->b = tu;
    }
    return g;
}

static node *parse_call(P *p, node *x)
{
    node *c = nnew(p, NK_CALL, cur(p)->line);
    if (!c)
        return NULL;
    c->a = x;
    return parse_call_args(p, c) ? c : NULL;
}

static node *parse_postfix(P *p, node *x)
{
    while (x) {
        if (is_op(cur(p), O_DOT) || is_op(cur(p), O_LBRACKET))
            x = parse_subscript(p, x);
        else if (is_op(cur(p), O_LPAREN))
            x = parse_call(p, x);
        else
            break;
    }
    return x;
}

static node *parse_filter_expr(P *p, node *x)
{
    while (x) {
        if (is_op(cur(p), O_PIPE))
            x = parse_filter(p, x, false);
        else if (is_name(cur(p), "is"))
            x = parse_test(p, x);
        else if (is_op(cur(p), O_LPAREN))
            x = parse_call(p, x);
        else
            break;
    }
    return x;
}

static node *parse_list_or_dict(P *p, bool dict)
{
    uint32_t line = cur(p)->line;
    next(p);
    vec keys = {0}, vals = {0};
    int close = dict ? O_RBRACE : O_RBRACKET;
    while (!is_op(cur(p), close)) {
        if (keys.n && !expect_op(p, O_COMMA))
            return NULL;
        if (is_op(cur(p), close))
            break;
        if (!vpush(p, &keys, parse_expression(p, true), NULL))
            return NULL;
        if (dict) {
            if (!expect_op(p, O_COLON) || !vpush(p, &vals, parse_expression(p, true), NULL))
                return NULL;
        }
    }
    if (!expect_op(p, close))
        return NULL;
    node *x = nnew(p, dict ? NK_DICT : NK_LIST, line);
    if (!x)
        return NULL;
    x->v = keys.v;
    x->n = (uint32_t)keys.n;
    x->kv = vals.v;
    x->nk = (uint32_t)vals.n;
    return x;
}

static node *parse_primary(P *p)
{
    if (!enter(p))
        return NULL;
    tok *t = cur(p);
    node *x = NULL;
    if (t->t == T_NAME) {
        if (!strcmp(t->s, "true") || !strcmp(t->s, "True") || !strcmp(t->s, "false") || !strcmp(t->s, "False")) {
            if ((x = nnew(p, NK_CONST, t->line)))
                x->val = jv_bool(t->s[0] == 't' || t->s[0] == 'T');
        } else if (!strcmp(t->s, "none") || !strcmp(t->s, "None")) {
            if ((x = nnew(p, NK_CONST, t->line)))
                x->val = JV_NONE_V;
        } else {
            if ((x = nnew(p, NK_NAME, t->line))) {
                x->name = t->s;
                if (p->macro && !strcmp(t->s, "varargs"))
                    p->macro->op |= MF_VARARGS;
                if (p->macro && !strcmp(t->s, "kwargs"))
                    p->macro->op |= MF_KWARGS;
                if (p->macro && !strcmp(t->s, "caller"))
                    p->macro->op |= MF_CALLER;
            }
        }
        next(p);
    } else if (t->t == T_STRING) {
        uint32_t line = t->line;
        size_t total = 0, k = p->pos;
        while (p->toks[k].t == T_STRING)
            total += p->toks[k++].len;
        char *buf = palloc(p, total + 1);
        if (buf) {
            size_t w = 0;
            while (cur(p)->t == T_STRING) {
                memcpy(buf + w, cur(p)->s, cur(p)->len);
                w += cur(p)->len;
                next(p);
            }
            if ((x = nnew(p, NK_CONST, line))) {
                x->val = ia__jv_str_const(p->t, buf, w);
                if (x->val.t != JV_STR)
                    x = NULL, poom(p);
            }
        }
    } else if (t->t == T_INT || t->t == T_FLOAT) {
        if ((x = nnew(p, NK_CONST, t->line)))
            x->val = t->t == T_INT ? jv_int(t->i) : jv_float(t->f);
        next(p);
    } else if (is_op(t, O_LPAREN)) {
        next(p);
        x = parse_tuple(p, false, true, NULL, true);
        if (x && !expect_op(p, O_RPAREN))
            x = NULL;
    } else if (is_op(t, O_LBRACKET) || is_op(t, O_LBRACE)) {
        x = parse_list_or_dict(p, is_op(t, O_LBRACE));
    } else if (t->t == T_EOF) {
        pfail(p, IA_ERR_FORMAT, t->line, "unexpected end of template");
    } else {
        pfail(p, IA_ERR_FORMAT, t->line, "unexpected '%s'", describe(t));
    }
    p->depth--;
    return x;
}

static node *parse_unary(P *p, bool with_filter)
{
    if (!enter(p))
        return NULL;
    tok *t = cur(p);
    node *x;
    if (is_op(t, O_SUB) || is_op(t, O_ADD)) {
        next(p);
        x = nnew(p, is_op(t, O_SUB) ? NK_NEG : NK_POS, t->line);
        if (x && !(x->a = parse_unary(p, false)))
            x = NULL;
    } else {
        x = parse_primary(p);
    }
    x = x ? parse_postfix(p, x) : NULL;
    if (x && with_filter)
        x = parse_filter_expr(p, x);
    p->depth--;
    return x;
}

static node *bin(P *p, int kind, int op, uint32_t line, node *a, node *b)
{
    if (!a || !b)
        return NULL;
    node *x = nnew(p, kind, line);
    if (x) {
        x->op = (uint8_t)op;
        x->a = a;
        x->b = b;
    }
    return x;
}

static node *parse_pow(P *p)
{
    node *x = parse_unary(p, true);
    while (x && is_op(cur(p), O_POW)) {
        uint32_t line = cur(p)->line;
        next(p);
        x = bin(p, NK_BIN, BIN_POW, line, x, parse_unary(p, true));
    }
    return x;
}

static node *parse_math2(P *p)
{
    node *x = parse_pow(p);
    for (;;) {
        tok *t = cur(p);
        int op = is_op(t, O_MUL) ? BIN_MUL : is_op(t, O_DIV) ? BIN_DIV : is_op(t, O_FLOORDIV) ? BIN_FLOORDIV
               : is_op(t, O_MOD) ? BIN_MOD : -1;
        if (!x || op < 0)
            return x;
        next(p);
        x = bin(p, NK_BIN, op, t->line, x, parse_pow(p));
    }
}

static node *parse_concat(P *p)
{
    node *x = parse_math2(p);
    if (!x || !is_op(cur(p), O_TILDE))
        return x;
    vec v = {0};
    uint32_t line = cur(p)->line;
    if (!vpush(p, &v, x, NULL))
        return NULL;
    while (is_op(cur(p), O_TILDE)) {
        next(p);
        if (!vpush(p, &v, parse_math2(p), NULL))
            return NULL;
    }
    node *c = nnew(p, NK_CONCAT, line);
    if (c) {
        c->v = v.v;
        c->n = (uint32_t)v.n;
    }
    return c;
}

static node *parse_math1(P *p)
{
    node *x = parse_concat(p);
    for (;;) {
        tok *t = cur(p);
        int op = is_op(t, O_ADD) ? BIN_ADD : is_op(t, O_SUB) ? BIN_SUB : -1;
        if (!x || op < 0)
            return x;
        next(p);
        x = bin(p, NK_BIN, op, t->line, x, parse_concat(p));
    }
}

static node *parse_compare(P *p)
{
    uint32_t line = cur(p)->line;
    node *x = parse_math1(p);
    vec ops = {0};
    while (x) {
        tok *t = cur(p);
        int op;
        if (t->t == T_OP && t->op >= O_EQ && t->op <= O_LE) {
            static const int map[] = {CMP_EQ, CMP_NE, CMP_GT, CMP_GE, CMP_LT, CMP_LE};
            op = map[t->op - O_EQ];
            next(p);
        } else if (is_name(t, "in")) {
            op = CMP_IN;
            next(p);
        } else if (is_name(t, "not") && is_name(look(p), "in")) {
            op = CMP_NOTIN;
            next(p);
            next(p);
        } else {
            break;
        }
        node *o = nnew(p, NK_OPERAND, t->line);
        if (!o)
            return NULL;
        o->op = (uint8_t)op;
        if (!(o->a = parse_math1(p)) || !vpush(p, &ops, o, NULL))
            return NULL;
    }
    if (!x || !ops.n)
        return x;
    node *c = nnew(p, NK_CMP, line);
    if (c) {
        c->a = x;
        c->v = ops.v;
        c->n = (uint32_t)ops.n;
    }
    return c;
}

static node *parse_not(P *p)
{
    if (is_name(cur(p), "not")) {
        if (!enter(p))
            return NULL;
        uint32_t line = cur(p)->line;
        next(p);
        node *x = nnew(p, NK_NOT, line);
        if (x && !(x->a = parse_not(p)))
            x = NULL;
        p->depth--;
        return x;
    }
    return parse_compare(p);
}

static node *parse_and(P *p)
{
    node *x = parse_not(p);
    while (x && is_name(cur(p), "and")) {
        uint32_t line = cur(p)->line;
        next(p);
        x = bin(p, NK_AND, 0, line, x, parse_not(p));
    }
    return x;
}

static node *parse_or(P *p)
{
    node *x = parse_and(p);
    while (x && is_name(cur(p), "or")) {
        uint32_t line = cur(p)->line;
        next(p);
        x = bin(p, NK_OR, 0, line, x, parse_and(p));
    }
    return x;
}

static node *parse_condexpr(P *p)
{
    node *x = parse_or(p);
    while (x && is_name(cur(p), "if")) {
        uint32_t line = cur(p)->line;
        next(p);
        node *c = nnew(p, NK_COND, line);
        if (!c)
            return NULL;
        c->b = x;
        if (!(c->a = parse_or(p)))
            return NULL;
        if (is_name(cur(p), "else")) {
            next(p);
            if (!enter(p))
                return NULL;
            c->c = parse_condexpr(p);
            p->depth--;
            if (!c->c)
                return NULL;
        }
        x = c;
    }
    return x;
}

static node *parse_expression(P *p, bool with_condexpr)
{
    /* nesting is counted where it recurses: parse_primary, parse_unary,
     * parse_not, the else of a conditional, statements */
    return with_condexpr ? parse_condexpr(p) : parse_or(p);
}

static bool tuple_end(P *p, const char *const *extra_end)
{
    tok *t = cur(p);
    if (t->t == T_VEND || t->t == T_BEND || is_op(t, O_RPAREN))
        return true;
    for (; extra_end && *extra_end; extra_end++)
        if (is_name(t, *extra_end))
            return true;
    return false;
}

static node *parse_tuple(P *p, bool simplified, bool with_condexpr, const char *const *extra_end, bool explicit_paren)
{
    uint32_t line = cur(p)->line;
    vec args = {0};
    bool is_tuple = false;
    for (;;) {
        if (args.n && !expect_op(p, O_COMMA))
            return NULL;
        if (tuple_end(p, extra_end))
            break;
        node *x = simplified ? parse_primary(p) : parse_expression(p, with_condexpr);
        if (!vpush(p, &args, x, NULL))
            return NULL;
        if (is_op(cur(p), O_COMMA))
            is_tuple = true;
        else
            break;
    }
    if (!is_tuple) {
        if (args.n)
            return args.v[0];
        if (!explicit_paren)
            return pfail(p, IA_ERR_FORMAT, cur(p)->line, "Expected an expression, got '%s'", describe(cur(p))), NULL;
    }
    node *t = nnew(p, NK_TUPLE, line);
    if (t) {
        t->v = args.v;
        t->n = (uint32_t)args.n;
    }
    return t;
}

static bool can_assign(const node *x)
{
    if (x->k == NK_NAME)
        return true;
    if (x->k != NK_TUPLE)
        return false;
    for (uint32_t i = 0; i < x->n; i++)
        if (!can_assign(x->v[i]))
            return false;
    return true;
}

static node *parse_assign_target(P *p, bool with_namespace, const char *const *extra_end)
{
    uint32_t line = cur(p)->line;
    if (with_namespace && cur(p)->t == T_NAME && is_op(look(p), O_DOT)) {
        const char *nm = cur(p)->s;
        next(p);
        next(p);
        if (cur(p)->t != T_NAME)
            return expect_type(p, T_NAME, "name"), NULL;
        node *x = nnew(p, NK_NSREF, line);
        if (x) {
            x->name = nm;
            x->name2 = cur(p)->s;
        }
        next(p);
        return x;
    }
    node *x = parse_tuple(p, true, true, extra_end, false);
    if (x && !can_assign(x))
        return pfail(p, IA_ERR_FORMAT, line, "can't assign to '%s'", x->k == NK_CONST ? "a constant" : "an expression"),
               NULL;
    return x;
}

static node *subparse(P *p, const char *const *end);

/* Parses `%}` body up to one of end (not consumed) and checks it was found. */
static node *parse_statements(P *p, const char *const *end, bool drop_needle)
{
    if (is_op(cur(p), O_COLON))
        next(p);
    if (!expect_type(p, T_BEND, "end of statement block"))
        return NULL;
    node *body = subparse(p, end);
    if (!body)
        return NULL;
    if (cur(p)->t == T_EOF) {
        char want[96] = "";
        for (const char *const *e = end; *e; e++) {
            size_t l = strlen(want);
            snprintf(want + l, sizeof want - l, "%s'%s'", l ? " or " : "", *e);
        }
        return pfail(p, IA_ERR_FORMAT, cur(p)->line, "unexpected end of template, expected %s", want), NULL;
    }
    if (drop_needle)
        next(p);
    return body;
}

static node *parse_for(P *p, uint32_t line)
{
    static const char *const in_end[] = {"in", NULL}, *const rec_end[] = {"recursive", NULL};
    static const char *const body_end[] = {"endfor", "else", NULL}, *const else_end[] = {"endfor", NULL};
    node *x = nnew(p, NK_FOR, line);
    if (!x || !(x->a = parse_assign_target(p, false, in_end)))
        return NULL;
    if (!is_name(cur(p), "in"))
        return pfail(p, IA_ERR_FORMAT, cur(p)->line, "expected token 'in', got '%s'", describe(cur(p))), NULL;
    next(p);
    if (!(x->b = parse_tuple(p, false, false, rec_end, false)))
        return NULL;
    if (is_name(cur(p), "if")) {
        next(p);
        if (!(x->c = parse_expression(p, true)))
            return NULL;
    }
    if (is_name(cur(p), "recursive"))
        return pfail(p, IA_ERR_UNSUPPORTED, cur(p)->line, "recursive for loops are not supported"), NULL;
    p->loop_depth++;
    node *body = parse_statements(p, body_end, false);
    p->loop_depth--;
    if (!body)
        return NULL;
    x->v = body->v;
    x->n = body->n;
    bool has_else = is_name(cur(p), "else");
    next(p);
    if (has_else && !(x->d = parse_statements(p, else_end, true)))
        return NULL;
    return x;
}

static node *parse_if(P *p, uint32_t line)
{
    static const char *const body_end[] = {"elif", "else", "endif", NULL}, *const else_end[] = {"endif", NULL};
    node *top = nnew(p, NK_IF, line), *x = top;
    if (!x || !(x->a = parse_tuple(p, false, false, NULL, false)))
        return NULL;
    for (;;) {
        node *body = parse_statements(p, body_end, false);
        if (!body)
            return NULL;
        x->v = body->v;
        x->n = body->n;
        tok *t = cur(p);
        next(p);
        if (is_name(t, "elif")) {
            node *e = nnew(p, NK_IF, t->line);
            if (!e || !(e->a = parse_tuple(p, false, false, NULL, false)))
                return NULL;
            x->b = e;
            x = e;
            continue;
        }
        if (is_name(t, "else") && !(x->b = parse_statements(p, else_end, true)))
            return NULL;
        return top;
    }
}

static node *parse_set(P *p, uint32_t line)
{
    static const char *const end[] = {"endset", NULL};
    node *target = parse_assign_target(p, true, NULL);
    if (!target)
        return NULL;
    if (is_op(cur(p), O_ASSIGN)) {
        next(p);
        node *x = nnew(p, NK_SET, line);
        if (x && !(x->b = parse_tuple(p, false, true, NULL, false)))
            return NULL;
        if (x)
            x->a = target;
        return x;
    }
    node *x = nnew(p, NK_SETBLOCK, line);
    if (!x)
        return NULL;
    x->a = target;
    if (is_op(cur(p), O_PIPE) && !(x->b = parse_filter(p, NULL, false)))
        return NULL;
    node *body = parse_statements(p, end, true);
    if (!body)
        return NULL;
    x->v = body->v;
    x->n = body->n;
    return x;
}

static node *parse_macro(P *p, uint32_t line)
{
    static const char *const end[] = {"endmacro", NULL};
    node *x = nnew(p, NK_MACRO, line);
    if (!x)
        return NULL;
    if (cur(p)->t != T_NAME)
        return expect_type(p, T_NAME, "name"), NULL;
    x->name = cur(p)->s;
    next(p);
    if (!expect_op(p, O_LPAREN))
        return NULL;
    vec params = {0};
    bool defaults = false;
    while (!is_op(cur(p), O_RPAREN)) {
        if (params.n && !expect_op(p, O_COMMA))
            return NULL;
        if (cur(p)->t != T_NAME)
            return expect_type(p, T_NAME, "name"), NULL;
        const char *nm = cur(p)->s;
        next(p);
        node *def = NULL;
        if (is_op(cur(p), O_ASSIGN)) {
            next(p);
            if (!(def = parse_expression(p, true)))
                return NULL;
            defaults = true;
        } else if (defaults) {
            return pfail(p, IA_ERR_FORMAT, cur(p)->line, "non-default argument follows default argument"), NULL;
        }
        /* kv[i] NULL: the parameter has no default */
        if (!vpush_raw(p, &params, def, nm))
            return NULL;
    }
    next(p);
    node *saved_macro = p->macro;
    int saved_loop = p->loop_depth;
    p->macro = x;
    p->loop_depth = 0;
    node *body = parse_statements(p, end, true);
    p->macro = saved_macro;
    p->loop_depth = saved_loop;
    if (!body)
        return NULL;
    x->v = body->v;
    x->n = body->n;
    x->kv = params.v;
    x->kn = params.names;
    x->nk = (uint32_t)params.n;
    return x;
}

static node *parse_block_body(P *p, node *x, const char *endname, bool reset_loop)
{
    const char *end[] = {endname, NULL};
    int saved = p->loop_depth;
    if (reset_loop)
        p->loop_depth = 0;
    node *body = parse_statements(p, end, true);
    p->loop_depth = saved;
    if (!body)
        return NULL;
    x->v = body->v;
    x->n = body->n;
    return x;
}

static node *parse_with(P *p, uint32_t line)
{
    node *x = nnew(p, NK_WITH, line), *sets = nnew(p, NK_BODY, line);
    if (!x || !sets)
        return NULL;
    vec v = {0};
    while (cur(p)->t != T_BEND) {
        if (v.n && !expect_op(p, O_COMMA))
            return NULL;
        node *s = nnew(p, NK_SET, cur(p)->line);
        if (!s || !(s->a = parse_assign_target(p, false, NULL)) || !expect_op(p, O_ASSIGN) ||
            !(s->b = parse_expression(p, true)) || !vpush(p, &v, s, NULL))
            return NULL;
    }
    sets->v = v.v;
    sets->n = (uint32_t)v.n;
    x->b = sets;
    return parse_block_body(p, x, "endwith", false);
}

static node *parse_statement(P *p)
{
    tok *t = cur(p);
    if (t->t != T_NAME)
        return pfail(p, IA_ERR_FORMAT, t->line, "tag name expected"), NULL;
    if (!enter(p))
        return NULL;
    uint32_t line = t->line;
    const char *nm = t->s;
    node *x = NULL;
    next(p);
    if (!strcmp(nm, "for")) {
        x = parse_for(p, line);
    } else if (!strcmp(nm, "if")) {
        x = parse_if(p, line);
    } else if (!strcmp(nm, "set")) {
        x = parse_set(p, line);
    } else if (!strcmp(nm, "macro")) {
        x = parse_macro(p, line);
    } else if (!strcmp(nm, "filter")) {
        if ((x = nnew(p, NK_FILTERBLOCK, line)) && (x->b = parse_filter(p, NULL, true)))
            x = parse_block_body(p, x, "endfilter", false);
        else
            x = NULL;
    } else if (!strcmp(nm, "generation")) {
        if ((x = nnew(p, NK_SCOPE, line)))
            x = parse_block_body(p, x, "endgeneration", true);
    } else if (!strcmp(nm, "with")) {
        x = parse_with(p, line);
    } else if (!strcmp(nm, "print")) {
        vec v = {0};
        while (cur(p)->t != T_BEND) {
            if (v.n && !expect_op(p, O_COMMA))
                break;
            if (!vpush(p, &v, parse_expression(p, true), NULL))
                break;
        }
        if (!p->err && (x = nnew(p, NK_OUTPUT, line))) {
            x->v = v.v;
            x->n = (uint32_t)v.n;
        }
    } else if (!strcmp(nm, "break") || !strcmp(nm, "continue")) {
        if (!p->loop_depth)
            pfail(p, IA_ERR_FORMAT, line, "'%s' outside loop", nm);
        else
            x = nnew(p, nm[0] == 'b' ? NK_BREAK : NK_CONTINUE, line);
    } else if (!strcmp(nm, "block") || !strcmp(nm, "extends") || !strcmp(nm, "include") ||
               !strcmp(nm, "import") || !strcmp(nm, "from") || !strcmp(nm, "call") || !strcmp(nm, "autoescape")) {
        pfail(p, IA_ERR_UNSUPPORTED, line, "tag '%s' is not supported", nm);
    } else {
        pfail(p, IA_ERR_FORMAT, line, "unknown tag '%s'", nm);
    }
    p->depth--;
    return x;
}

static node *subparse(P *p, const char *const *end)
{
    node *body = nnew(p, NK_BODY, cur(p)->line);
    vec stmts = {0}, out = {0};
    uint32_t out_line = 0;
    if (!body)
        return NULL;
#define FLUSH()                                                                                   \
    do {                                                                                          \
        if (out.n) {                                                                              \
            node *o_ = nnew(p, NK_OUTPUT, out_line);                                              \
            if (!o_)                                                                              \
                return NULL;                                                                      \
            o_->v = out.v;                                                                        \
            o_->n = (uint32_t)out.n;                                                              \
            if (!vpush(p, &stmts, o_, NULL))                                                      \
                return NULL;                                                                      \
            out = (vec){0};                                                                       \
        }                                                                                         \
    } while (0)
    while (cur(p)->t != T_EOF) {
        tok *t = cur(p);
        if (t->t == T_DATA) {
            node *d = nnew(p, NK_CONST, t->line);
            if (!d)
                return NULL;
            d->val = ia__jv_str_const(p->t, t->s, t->len);
            if (d->val.t != JV_STR)
                return poom(p), NULL;
            if (!out.n)
                out_line = t->line;
            if (!vpush(p, &out, d, NULL))
                return NULL;
            next(p);
        } else if (t->t == T_VBEGIN) {
            next(p);
            if (!out.n)
                out_line = t->line;
            if (!vpush(p, &out, parse_tuple(p, false, true, NULL, false), NULL))
                return NULL;
            if (!expect_type(p, T_VEND, "end of print statement"))
                return NULL;
        } else if (t->t == T_BBEGIN) {
            FLUSH();
            next(p);
            if (end && cur(p)->t == T_NAME) {
                for (const char *const *e = end; *e; e++)
                    if (!strcmp(cur(p)->s, *e))
                        goto done;
            }
            if (!vpush(p, &stmts, parse_statement(p), NULL))
                return NULL;
            if (!expect_type(p, T_BEND, "end of statement block"))
                return NULL;
        } else {
            return pfail(p, IA_ERR_FORMAT, t->line, "unexpected '%s'", describe(t)), NULL;
        }
    }
    FLUSH();
done:
#undef FLUSH
    body->v = stmts.v;
    body->n = (uint32_t)stmts.n;
    return body;
}

/* ---- filter and test names, as jinja2's compiler checks them ---- */

static bool check_names(P *p, node *x, bool soft);

static bool check_list(P *p, node **v, uint32_t n, bool soft)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i] && !check_names(p, v[i], soft))
            return false;
    return true;
}

static bool check_names(P *p, node *x, bool soft)
{
    if (!x)
        return true;
    if (++p->depth > IA_JINJA_MAX_TREE_DEPTH)
        return pfail(p, IA_ERR_FORMAT, x->line, "template nested deeper than %d (its syntax tree)",
                     IA_JINJA_MAX_TREE_DEPTH);
    bool ok = true;
    switch (x->k) {
    case NK_FILTER:
    case NK_TEST:
        x->id = (int16_t)(x->k == NK_FILTER ? ia__jinja_filter_id(x->name) : ia__jinja_test_id(x->name));
        if (x->id < 0 && !soft)
            ok = pfail(p, IA_ERR_FORMAT, x->line, "no %s named '%s'", x->k == NK_FILTER ? "filter" : "test",
                       x->name);
        ok = ok && check_names(p, x->a, soft) && check_list(p, x->v, x->n, soft) && check_list(p, x->kv, x->nk, soft);
        break;
    case NK_IF:
    case NK_COND:
        ok = check_names(p, x->a, true) && check_names(p, x->b, true) && check_names(p, x->c, true) &&
             check_list(p, x->v, x->n, true);
        break;
    case NK_FOR:
        ok = check_names(p, x->b, soft) && check_names(p, x->c, false) && check_list(p, x->v, x->n, false) &&
             check_names(p, x->d, false);
        break;
    case NK_MACRO:
        ok = check_list(p, x->kv, x->nk, false) && check_list(p, x->v, x->n, false);
        break;
    case NK_SETBLOCK:
    case NK_FILTERBLOCK:
    case NK_SCOPE:
        ok = check_names(p, x->b, false) && check_list(p, x->v, x->n, false);
        break;
    case NK_WITH:
        ok = check_names(p, x->b, soft) && check_list(p, x->v, x->n, false);
        break;
    default:
        ok = check_names(p, x->a, soft) && check_names(p, x->b, soft) && check_names(p, x->c, soft) &&
             check_names(p, x->d, soft) && check_list(p, x->v, x->n, soft) && check_list(p, x->kv, x->nk, soft);
        break;
    }
    p->depth--;
    return ok;
}

ia_status ia__jinja_parse(ia_jinja *t, const char *src, size_t len)
{
    P p = {.t = t};
    /* Source: valid UTF-8, newlines normalized, one trailing newline off. */
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)src + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0) {
            return ia__error(IA_ERR_FORMAT, "template line %u: the template is not valid UTF-8 (byte %zu)",
                             (unsigned)(count_nl(src, i) + 1), i);
        }
        i += (size_t)k;
    }
    char *norm = ia__jinja_arena(t, len + 1);
    if (!norm)
        return ia__error(IA_ERR_NOMEM, "template: out of memory");
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            norm[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n')
                i++;
        } else {
            norm[n++] = src[i];
        }
    }
    if (n && norm[n - 1] == '\n')
        n--;
    norm[n] = '\0';
    p.src = norm;
    p.n = n;
    ia_status st = IA_OK;
    if (!lex(&p)) {
        st = p.err;
    } else {
        node *root = subparse(&p, NULL);
        if (root && !p.err) {
            p.depth = 0;
            if (check_names(&p, root, false))
                t->root = root;
        }
        st = p.err;
        if (!st && !t->root)
            st = ia__error(IA_ERR_FORMAT, "template line %u: parse failed", (unsigned)cur(&p)->line);
    }
    ia__free(p.toks);
    return st;
}
