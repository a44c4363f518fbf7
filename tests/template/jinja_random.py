"""Random templates for differential testing against jinja2: typed
expressions (strings, ints, floats, bools, lists, dicts) combined with the
filters, tests, methods and operators chat templates use, inside random
statements (if/elif/else, for with loop variables, filters and else, set,
set blocks, namespaces, macros, filter blocks) under random whitespace
control. Typed, so that most templates render rather than fail, which is
what makes the comparison worth something; jinja_oracle.py renders them
with both engines. Deterministic for a seed.
"""
import random

CONTEXT = {
    "messages": [
        {"role": "system", "content": "Be nice."},
        {"role": "user", "content": "Hi <b> & 'you'\nsecond line"},
        {"role": "assistant", "content": "Hello!", "tool_calls": [
            {"type": "function", "function": {"name": "f", "arguments": {"x": 1, "y": [1.5, None]}}}]},
        {"role": "user", "content": [{"type": "text", "text": "part one"}, {"type": "text", "text": " two"}]},
    ],
    "s": "Hello World", "u": "ünï cödé ß", "w": "  padded\ttext \n", "n": 3, "k": -7, "f": 2.5, "g": 0.1,
    "l": [3, 1, 2], "names": ["bob", "Alice", "carol", "alice"], "d": {"b": 2, "a": 1, "c": [1, {"k": None}]},
    "e": [], "t": True, "z": None, "tools": None, "documents": None, "bos_token": "<s>", "eos_token": "</s>",
}

STR_LIT = ["''", "'a'", "'Ab c'", "'héllo wörld'", "' x '", "'1'", "'<&>'", "\"it's\"", "'a,b,,c'", "'line1\\nline2'",
           "'tab\\tsep'", "'%s-%d'", "'{}|{x}'", "'é😀'"]
STR_VAR = ["s", "u", "w", "messages[0].content", "messages[1]['content']", "names[0]", "names[-1]", "d.c|string",
           "bos_token", "eos_token"]
INT_LIT = ["0", "1", "2", "3", "7", "-1", "-5", "10", "100"]
INT_VAR = ["n", "k", "l[0]", "l|length", "names|length", "messages|length", "d.a", "d['b']"]
FLOAT_LIT = ["0.5", "1.25", "-2.75", "2.0", "1e20", "0.1", "3.14159", "1e-7"]
FLOAT_VAR = ["f", "g"]
LIST_VAR = ["l", "names", "e", "messages", "d.c", "[1, 'a', none]", "['b', 'a', 'C']", "[3, 1, 2]", "(1, 'x')",
            "[[1, 2], [3]]", "messages|map(attribute='role')|list"]
DICT_VAR = ["d", "messages[0]", "messages[2]", "{'k': 1, 'j': 'v'}", "{}", "dict(a=1, b='x')", "messages[2].tool_calls[0].function"]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.loop_vars = []

    def pick(self, xs):
        return self.r.choice(xs)

    def chance(self, p):
        return self.r.random() < p

    def paren(self, e):
        return "(" + e + ")"

    # typed expressions -------------------------------------------------
    def str_e(self, d):
        r = self.r.random()
        if d <= 0 or r < 0.25:
            if self.loop_vars and self.chance(0.3):
                v, kind = self.pick(self.loop_vars)
                if kind == "msg":
                    return f"{v}.role"
                if kind == "str":
                    return v
            return self.pick(STR_LIT + STR_VAR)
        a = self.paren(self.str_e(d - 1))
        if r < 0.45:
            f = self.pick(["upper", "lower", "title", "capitalize", "trim", "string", "e", "safe", "tojson", "reverse",
                           "center(12)", "indent(2)", "indent(2, true)", "truncate(8)", "replace('l', 'L')",
                           "replace('a', '')", "default('dflt')", "wordcount|string", "length|string", "trim('H')",
                           "first", "last", "list|join('-')", "tojson(ensure_ascii=true)"])
            return f"{a}|{f}"
        if r < 0.6:
            m = self.pick(["strip()", "lstrip()", "rstrip()", "upper()", "lower()", "title()", "capitalize()",
                           "swapcase()", "replace('o', '0')", "split()|join(',')", "split(' ', 1)|join('+')",
                           "rsplit(',', 1)|last", "strip('H')", "center(9, '*')", "ljust(6, '.')", "zfill(8)",
                           "removeprefix('He')", "removesuffix('ld')", "partition(' ')|join('/')",
                           "splitlines()|join('|')", "format(1, x=2)"])
            return f"{a}.{m}"
        if r < 0.72:
            return f"{a} {self.pick(['+', '~'])} {self.paren(self.str_e(d - 1))}"
        if r < 0.8:
            return f"{a} ~ {self.paren(self.any_e(d - 1))}"
        if r < 0.87:
            return f"{a}[{self.pick(['0', '-1', '1:', ':3', '::-1', '1:4:2', '-3:', '::2'])}]"
        if r < 0.93:
            return f"{a} if {self.bool_e(d - 1)} else {self.paren(self.str_e(d - 1))}"
        return f"{self.paren(self.list_e(d - 1))}|join({self.pick(STR_LIT[:6])})"

    def int_e(self, d):
        r = self.r.random()
        if d <= 0 or r < 0.3:
            if self.loop_vars and self.chance(0.3):
                v, kind = self.pick(self.loop_vars)
                if kind == "int":
                    return v
                return self.pick(["loop.index", "loop.index0", "loop.length", "loop.revindex"])
            return self.pick(INT_LIT + INT_VAR)
        a = self.paren(self.int_e(d - 1))
        if r < 0.55:
            op = self.pick(["+", "-", "*", "//", "%", "**"])
            b = self.pick(["1", "2", "3", "7", "-2"]) if op in ("//", "%", "**") else self.paren(self.int_e(d - 1))
            return f"{a} {op} {b}"
        if r < 0.7:
            f = self.pick(["length", "count"])
            return f"{self.paren(self.list_e(d - 1))}|{f}"
        if r < 0.8:
            return f"{self.paren(self.str_e(d - 1))}.{self.pick(['find', 'rfind', 'count'])}({self.pick(STR_LIT[:5])})"
        if r < 0.9:
            return f"{a}|{self.pick(['abs', 'int', 'round', 'string|length', 'float|int'])}"
        return f"-{a}"

    def float_e(self, d):
        r = self.r.random()
        if d <= 0 or r < 0.35:
            return self.pick(FLOAT_LIT + FLOAT_VAR)
        a = self.paren(self.num_e(d - 1))
        if r < 0.65:
            op = self.pick(["+", "-", "*", "/"])
            b = self.pick(["2", "0.5", "3", "-4.0"]) if op == "/" else self.paren(self.num_e(d - 1))
            return f"{a} {op} {b}"
        if r < 0.85:
            f = self.pick(["float", "round(2)", "round(1, 'floor')", "round(0, 'ceil')", "abs"])
            return f"{a}|{f}"
        return f"{a} / {self.pick(['3', '7', '0.1'])}"

    def num_e(self, d):
        return self.int_e(d) if self.chance(0.5) else self.float_e(d)

    def bool_e(self, d):
        r = self.r.random()
        if d <= 0 or r < 0.15:
            return self.pick(["true", "false", "t", "z is none", "x is defined", "tools is none", "messages"])
        if r < 0.35:
            t = self.pick(["string", "number", "integer", "float", "mapping", "iterable", "sequence", "defined",
                           "none", "boolean", "odd", "even", "divisibleby 3", "in ['a', 1, none]", "eq 1", "lower",
                           "upper", "true", "false", "sameas none"])
            neg = "not " if self.chance(0.3) else ""
            arg = self.any_e(d - 1)
            if t in ("odd", "even", "divisibleby 3"):
                arg = self.int_e(d - 1)
            if t in ("lower", "upper"):
                arg = self.str_e(d - 1)
            return f"{self.paren(arg)} is {neg}{t}"
        if r < 0.55:
            kind = self.pick(["num", "str", "list"])
            if kind == "num":
                a, b = self.num_e(d - 1), self.num_e(d - 1)
            elif kind == "str":
                a, b = self.str_e(d - 1), self.str_e(d - 1)
            else:
                a, b = self.list_e(d - 1), self.list_e(d - 1)
            op = self.pick(["==", "!=", "<", ">", "<=", ">="]) if kind != "list" else self.pick(["==", "!="])
            return f"{self.paren(a)} {op} {self.paren(b)}"
        if r < 0.7:
            return f"{self.paren(self.str_e(d - 1))} {self.pick(['in', 'not in'])} {self.paren(self.str_e(d - 1))}"
        if r < 0.8:
            return f"{self.paren(self.any_e(d - 1))} {self.pick(['in', 'not in'])} {self.paren(self.list_e(d - 1))}"
        if r < 0.9:
            return f"{self.paren(self.bool_e(d - 1))} {self.pick(['and', 'or'])} {self.paren(self.any_e(d - 1))}"
        return f"not {self.paren(self.any_e(d - 1))}"

    def list_e(self, d):
        r = self.r.random()
        if d <= 0 or r < 0.3:
            return self.pick(LIST_VAR)
        a = self.paren(self.list_e(d - 1))
        if r < 0.55:
            f = self.pick(["sort|list", "reverse|list", "unique|list", "list",
                           "map('string')|list", "batch(2)|list", "slice(2)|list", "sort(reverse=true)",
                           "reject('none')|list", "select|list"])
            return f"{a}|{f}"
        if r < 0.65:
            return f"{a}[{self.pick(['1:', ':2', '::-1', '-2:', '1:3'])}]"
        if r < 0.72:
            return f"{a} + {self.paren(self.list_e(d - 1))}"
        if r < 0.8:
            sep = self.pick(["", "' '", "','"])
            return f"{self.paren(self.str_e(d - 1))}.split({sep})"
        if r < 0.87:
            return f"{self.paren(self.dict_e(d - 1))}|dictsort"
        if r < 0.93:
            return f"range({self.pick(['3', '0', '1, 5', '5, 0, -2', 'n'])})|list"
        return f"[{self.any_e(d - 1)}, {self.any_e(d - 1)}]"

    def dict_e(self, d):
        if d <= 0 or self.chance(0.6):
            return self.pick(DICT_VAR)
        return f"{{'x': {self.any_e(d - 1)}, 'y': {self.any_e(d - 1)}}}"

    def any_e(self, d):
        return self.pick([self.str_e, self.int_e, self.float_e, self.bool_e, self.list_e, self.dict_e])(d)

    def out_e(self, d):
        e = self.any_e(d)
        if self.chance(0.25):
            args = self.pick(["", "(indent=2)", "(sort_keys=true)", "(separators=(',', ':'))"])
            e = f"{self.paren(e)}|tojson{args}"
        return e

    # statements ---------------------------------------------------------
    def tag(self, body):
        return self.pick(["{%", "{%-", "{%+", "{% "]) + " " + body + " " + self.pick(["%}", "-%}", "+%}", " %}"])

    def ws(self):
        return self.pick(["", "", " ", "\n", "  \n", "\n  ", "\t", "\n\n", "text", " t\n"])

    def out(self):
        return self.ws() + self.pick(["{{", "{{-"]) + " " + self.out_e(2) + " " + self.pick(["}}", "-}}"]) + self.ws()

    def block(self, d):
        return "".join(self.stmt(d) for _ in range(self.r.randint(1, 3)))

    def stmt(self, d):
        r = self.r.random()
        if d <= 0 or r < 0.35:
            return self.out()
        if r < 0.5:
            s = self.ws() + self.tag(f"if {self.bool_e(2)}") + self.block(d - 1)
            if self.chance(0.3):
                s += self.ws() + self.tag(f"elif {self.bool_e(2)}") + self.block(d - 1)
            if self.chance(0.5):
                s += self.ws() + self.tag("else") + self.block(d - 1)
            return s + self.ws() + self.tag("endif")
        if r < 0.68:
            i = len(self.loop_vars)
            var = f"it{i}"
            src, kind = self.pick([("messages", "msg"), ("names", "str"), ("l", "int"), ("range(4)", "int"),
                                   ("'abc'", "str"), ("d", "str"), ("e", "int"), ("names|sort", "str")])
            cond = f" if {var}{' != 2' if kind == 'int' else ' is defined'}" if self.chance(0.25) else ""
            self.loop_vars.append((var, kind))
            body = self.block(d - 1)
            if self.chance(0.2):
                body += self.tag(f"if loop.index > {self.pick(['1', '2'])}") + self.tag(self.pick(["break", "continue"])) + self.tag("endif")
            self.loop_vars.pop()
            s = self.ws() + self.tag(f"for {var} in {src}{cond}") + body
            if self.chance(0.2):
                s += self.tag("else") + "E"
            return s + self.ws() + self.tag("endfor")
        if r < 0.78:
            return self.ws() + self.tag(f"set v = {self.any_e(2)}") + "{{ v }}"
        if r < 0.86:
            return (self.ws() + self.tag("set ns = namespace(a=0, b='')") + self.tag("for m in messages") +
                    self.tag("set ns.a = ns.a + loop.index") + self.tag(f"set ns.b = ns.b ~ m.role[{self.pick(['0', ':2', '-1'])}]") +
                    self.tag("endfor") + "{{ ns.a }}|{{ ns.b }}")
        if r < 0.93:
            return (self.ws() + self.tag("macro mm(p, q=2)") + "[{{ p }}|{{ q }}]" + self.block(d - 1) + self.tag("endmacro") +
                    "{{ mm(" + self.any_e(1) + ") }}" + "{{ mm(" + self.any_e(1) + ", q=" + self.any_e(1) + ") }}")
        if r < 0.97:
            return self.ws() + self.tag(f"set blk{self.pick(['', ' | trim', ' | upper'])}") + self.block(d - 1) + self.tag("endset") + "{{ blk }}"
        return self.ws() + self.tag(f"filter {self.pick(['upper', 'trim', 'title', 'indent(2)'])}") + self.block(d - 1) + self.tag("endfilter")


def random_templates(seed, count):
    g = Gen(seed)
    return [g.block(3) for _ in range(count)]
