#!/usr/bin/env python3
"""Regenerates jinja_cases.inc, the expected outputs test_jinja.c checks:
each case rendered by Python jinja2 set up as transformers sets it up
(jinja_env.py), with strftime_now at 2024-07-26 12:00 UTC.

  TZ=UTC .cache/venv/bin/python tests/template/gen_jinja_cases.py > tests/template/jinja_cases.inc
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jinja_env import make_env, render  # noqa: E402

env = make_env(1721995200)
CTX = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi <b> & 'you'"},
                    {"role": "assistant", "content": "Hello!"}],
       "add_generation_prompt": True, "bos_token": "<s>", "eos_token": "</s>", "tools": None, "n": 3, "f": 2.5,
       "names": ["b", "A", "c"], "d": {"z": 1, "a": [1, 2.5, None, True, "é\"\n"]}}
cases = [
 # whitespace control, trim_blocks / lstrip_blocks
 "a\n  {% if true %}\n    x\n  {% endif %}\nb",
 "  {%- if true -%}  x  {%- endif -%}  y",
 "  {%+ if true %}x{% endif +%}\nafter",
 "  {# comment #}\nx\n  {#- c -#}   y",
 "{% raw %}  {{ kept }} {% too %}{% endraw %}|",
 "a {{- ' b ' -}} c {{ 'd' }}\n",
 "line1\nline2\n",
 "x\r\ny\r\n",
 "{% for m in messages %}\n  {{ m.role }}: {{ m.content }}\n{% endfor %}",
 "{%- for m in messages -%}\n<|{{ m.role }}|>\n{{ m.content | trim }}\n{% endfor -%}\n{%- if add_generation_prompt %}<|assistant|>\n{% endif -%}",
 # loops
 "{% for x in [10, 20, 30] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
 "{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}",
 "{% for x in [1, 2, 3, 4] if x is even %}{{ x }}/{{ loop.length }}{% else %}none{% endfor %}|{% for x in [] %}{% else %}empty{% endfor %}",
 "{% for k, v in d|dictsort %}{{ k }}={{ v }};{% endfor %}",
 "{% for x in range(10) %}{% if x is odd %}{% continue %}{% endif %}{% if x > 6 %}{% break %}{% endif %}{{ x }}{{ loop.cycle('a', 'b') }}{% endfor %}",
 "{% set c = 0 %}{% for i in range(3) %}{% set c = c + 1 %}{{ c }}{% endfor %}{{ c }}",
 # namespace
 "{% set ns = namespace(n=0, seen=false) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% if m.role == 'user' %}{% set ns.seen = true %}{% endif %}{% endfor %}{{ ns.n }} {{ ns.seen }}",
 # macros
 "{% macro greet(name, punct='!') -%}\nHi {{ name }}{{ punct }}\n{%- endmacro %}{{ greet('a') }} {{ greet('b', punct='?') }} {{ greet(name='c') }}",
 "{% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}",
 "{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(4) }}",
 "{% set x = 1 %}{% macro show() %}{{ x }}{% endmacro %}{% set x = 2 %}{{ show() }}",
 # set blocks, filter blocks, with
 "{% set s | upper | trim %}  abc  {% endset %}[{{ s }}]{% filter title %}hello world{% endfilter %}{% with a = 1 %}{{ a }}{% endwith %}",
 # numbers: Python repr and arithmetic
 "{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e15 }} {{ 1.5e-5 }} {{ 0.0001 }} {{ 1/3 }} {{ 10/2 }} {{ -0.0 }} {{ 2**0.5 }} {{ 1e300*1e10 }}",
 "{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 2**10 }} {{ 2**-1 }} {{ true + 1 }} {{ 3 * 'ab' }}",
 "{{ f|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 42|round }} {{ '3.7'|int }} {{ 'x'|int(5) }} {{ '2.5'|float }} {{ -3|abs }}",
 # slicing
 "{{ messages[1:]|length }} {{ 'abcdef'[1:4] }} {{ 'abcdef'[::-2] }} {{ [1, 2, 3][-1:] }} {{ [1, 2, 3][::-1] }} {{ 'héllo'[::-1] }} {{ (1, 2, 3)[1:] }} {{ range(10)[2:8:3] }}",
 # tojson
 "{{ d|tojson }}",
 "{{ d|tojson(indent=2) }}",
 "{{ {'b': 1, 'a': 'x'}|tojson(sort_keys=true, separators=(',', ':')) }} {{ 'é😀<>&\\u2028'|tojson }} {{ 'é😀\\x7f'|tojson(ensure_ascii=true) }} {{ '\\x01\\t'|tojson }} {{ [1e100, 0.5, -0.0]|tojson }}",
 # repr of containers
 "{{ [1, 'a', none, true, 2.5] }} {{ (1,) }} {{ {'k': (1, 'it\\'s')} }} {{ ['\\n\\t\\x01é\\u200b'] }} {{ d.items()|list }} {{ {'a': 1}.keys() }}",
 # strings, filters, tests
 "{{ '  x  '|trim }}|{{ 'hello world'|title }}|{{ 'hELLO'|capitalize }}|{{ names|sort|join(',') }}|{{ names|sort(case_sensitive=true)|join(',') }}|{{ 'abc'|center(7) }}|",
 "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|first }} {{ messages|rejectattr('role', 'in', ['user', 'system'])|list|length }} {{ messages|map(attribute='role')|join('/') }}",
 "{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ '<b>'|e }}|{{ ('<'|safe) + '<' }}|{{ 'x' ~ 1 ~ none }}",
 "{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a.b.c'.rsplit('.', 1) }} {{ 'Hello'.startswith(('x', 'H')) }} {{ '{} {x}'.format(1, x=2) }} {{ '%s=%d' % ('k', 3) }}",
 "{{ x is defined }} {{ none is none }} {{ tools is none }} {{ d is mapping }} {{ names is iterable }} {{ 'a' is string }} {{ 3 is odd }} {{ 6 is divisibleby 3 }} {{ 1 is number }} {{ 1.0 is integer }}",
 "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 'b' in 'abc' }} {{ 'z' not in d }} {{ 1 == 1.0 }} {{ (1, 2) == [1, 2] }} {{ messages[0] == {'role': 'system', 'content': 'Be brief.'} }}",
 "{{ x|default('dflt') }} {{ ''|default('e', true) }} {{ (x.y is defined) if x is defined else 'no' }} {{ messages[9] is defined }} {{ none.attr is defined }}",
 "{% if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] %}{% set rest = messages[1:] %}{% endif %}{{ sys }}|{{ rest|length }}",
 "{{ bos_token }}{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
 "{{ strftime_now('%d %b %Y') }} {% generation %}gen{% endgeneration %}",
]
errs = [
 "{{ raise_exception('roles must alternate') }}",
 "{{ x.y }}",
 "{{ 'a' + 1 }}",
 "{% set l = [1] %}{% set _ = l.append(2) %}",
 "{% for x in none %}{% endfor %}",
 "{% set ns = namespace(_p=1) %}",
]
def cstr(s):
    out = '"'
    for ch in s.encode('utf-8'):
        c = chr(ch)
        if c == '"': out += '\\"'
        elif c == '\\': out += '\\\\'
        elif c == '\n': out += '\\n'
        elif c == '\t': out += '\\t'
        elif c == '\r': out += '\\r'
        elif 32 <= ch < 127: out += c
        else: out += '\\%03o' % ch
    return out + '"'
print("/* Generated by tests/template/gen_jinja_cases.py from jinja2 %s: do not edit. */" % __import__("jinja2").__version__)
print("static const char CTX[] =")
j = json.dumps(CTX, ensure_ascii=False)
print("    " + cstr(j) + ";")
print("static const struct { const char *src, *want; } cases[] = {")
for c in cases:
    ok, out = render(env, c, CTX)
    assert ok, (c, out)
    print("    {" + cstr(c) + ",\n     " + cstr(out) + "},")
print("};")
print("static const char *const jinja2_errors[] = {")
for c in errs:
    ok, out = render(env, c, CTX)
    assert not ok, c
    print("    " + cstr(c) + ", /* " + out.replace("*/", "* /")[:90] + " */")
print("};")
