"""The reference renderer: Python jinja2 set up exactly as Hugging Face
transformers sets it up for chat templates (transformers 5.x,
utils/chat_template_utils.py: _cached_compile_jinja_template and
render_jinja_template). Only those settings are copied, not transformers:

  ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
      extensions=[AssistantTracker, jinja2.ext.loopcontrols])
  filters["tojson"]        json.dumps(x, ensure_ascii=False, indent=None,
                           separators=None, sort_keys=False)
  globals["raise_exception"], globals["strftime_now"] (datetime.now()),
  globals["dict"] (a dict() constructor), globals["namespace"] (a
  Namespace that refuses names starting with "_")
  render(messages=..., tools=None, documents=None,
         add_generation_prompt=..., **kwargs)

AssistantTracker's {% generation %} tag renders its body as a caller
block, which is what it does when no assistant mask is requested.
strftime_now reads the clock given to make_env (seconds since the epoch,
local time) so that our output and the reference can be compared.
"""
import copy
import datetime
import json

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.utils
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment


class AssistantTracker(Extension):
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _generation_support(self, context, caller):
        return caller()


def make_env(now):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.datetime.fromtimestamp(now).strftime(format)

    class TemplateDict:
        def __call__(self, *args, **kwargs):
            return dict(*args, **kwargs)

        def fromkeys(self, *args, **kwargs):
            return dict.fromkeys(*args, **kwargs)

    class TemplateNamespace(jinja2.utils.Namespace):
        def __init__(*args, **kwargs):
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                TemplateNamespace._check_name(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name, value):
            TemplateNamespace._check_name(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check_name(name):
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(
                    f"Chat templates cannot store underscore-prefixed attributes on a namespace, but got {name!r}.")

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    env.globals["dict"] = TemplateDict()
    env.globals["namespace"] = TemplateNamespace
    return env


def render(env, source, context):
    """(True, text) or (False, "ExceptionType: message"). context is the
    variables as a dict: messages, tools, add_generation_prompt...; tools
    and documents default to None as transformers passes them."""
    return render_many(env, source, [context])[0]


def render_many(env, source, contexts):
    """render() of one source on several contexts, compiling it once."""
    try:
        template = env.from_string(source)
    except Exception as e:  # a template jinja2 refuses fails every render
        return [(False, f"{type(e).__name__}: {e}")] * len(contexts)
    results = []
    for context in contexts:
        try:
            ctx = {"tools": None, "documents": None}
            ctx.update(copy.deepcopy(context))  # a template may change what it is given
            results.append((True, template.render(**ctx)))
        except Exception as e:  # the template's own error is the expected outcome
            results.append((False, f"{type(e).__name__}: {e}"))
    return results
