/*
 * Jinja chat templates: the interpreter that renders a model's
 * tokenizer.chat_template as Hugging Face transformers renders it (Python
 * jinja2 3.1 with transformers' settings: ImmutableSandboxedEnvironment,
 * trim_blocks, lstrip_blocks, the loopcontrols extension, the
 * {% generation %} tag, its own `tojson` filter and the `raise_exception`,
 * `strftime_now`, `dict` and `namespace` globals). The subset of Jinja
 * that is implemented, and how it is checked against jinja2 on real
 * templates, is in docs/templates.md. Never installed.
 *
 * A construct outside that subset is an error naming it and its template
 * line ("template line 12: filter 'xmlattr' is not supported"), never a
 * silently different output. Recursion, output size and work are bounded,
 * so any template source and any context is safe to render.
 */
#ifndef IA_TEMPLATE_JINJA_H
#define IA_TEMPLATE_JINJA_H

#include <stddef.h>
#include <stdint.h>

#include "core/core-impl.h"

struct cJSON;
typedef struct ia_jinja ia_jinja;

/* Compile len bytes of template source (UTF-8; NUL bytes allowed) into *out
 * (free with ia__jinja_free). Newlines are normalized and one trailing
 * newline dropped, as jinja2 does. Errors: IA_ERR_FORMAT for a syntax
 * error (unterminated tag or string, unknown filter outside a conditional,
 * misplaced endfor...), IA_ERR_UNSUPPORTED for a tag we do not implement
 * ({% include %}, {% call %}, {% block %}...), IA_ERR_NOMEM; the detail
 * names the template line. */
ia_status ia__jinja_compile(const char *src, size_t len, ia_jinja **out);

/* Render with the variables of `context`, a cJSON object (or NULL): its
 * keys become template variables (messages, tools, add_generation_prompt,
 * bos_token, ... as transformers passes them). `tools` and `documents` are
 * None when the context lacks them, as transformers always passes them
 * (tools=None: templates test `tools is not none`). JSON values map to
 * Python values: null -> None, true/false -> bool, strings -> str, arrays
 * -> list, objects -> dict (key order kept). A number is an int when its
 * value is integral and fits in 64 bits, a float otherwise (cJSON keeps no
 * source text, so 1.0 is the int 1); a cJSON raw item (cJSON_CreateRaw) holding a
 * JSON number is an int or a float by its text ("1.0" is a float).
 * `now` is the time strftime_now() formats (seconds since the epoch, local
 * time as datetime.now() uses); 0 means the current time.
 *
 * *out receives the output (NUL-terminated, *len bytes without the NUL;
 * len may be NULL), owned by the caller (ia__free). Errors: IA_ERR_INVALID
 * for what jinja2 raises at render time (raise_exception(msg), whose
 * message is kept; an undefined value used, a type error, a sandbox
 * refusal) or a context that is not an object of valid UTF-8 strings,
 * IA_ERR_UNSUPPORTED for a filter, test, method or global we do not
 * implement, reached at render time; IA_ERR_NOMEM. The output is bounded
 * (IA_JINJA_MAX_OUTPUT) as is the work (IA_JINJA_MAX_STEPS). A compiled
 * template is immutable: any number of threads may render it at once. */
ia_status ia__jinja_render(const ia_jinja *t, const struct cJSON *context, int64_t now, char **out,
                           size_t *len);

void ia__jinja_free(ia_jinja *t);

/* Limits of one render, each an error when passed: bytes of output (and
 * of any one string); bytes allocated for values over the whole render
 * (freed ones included, so this also bounds the copying work); nesting of
 * macro calls; nesting of evaluation over all macro calls (the C stack a
 * render takes: under 256 KiB, about 1 MiB under ASan); evaluation steps
 * (an expression node, a statement, a call count one, a loop iteration
 * four; real chat templates take thousands). Limits of compilation: the
 * nesting of the syntax (brackets, statements, unary operators) and the
 * depth of the syntax tree (which chains like a+a+...+a or x|f|f|...|f
 * also make). */
#define IA_JINJA_MAX_OUTPUT ((size_t)64 << 20)
#define IA_JINJA_MAX_MEMORY ((size_t)1 << 30)
#define IA_JINJA_MAX_CALL_DEPTH 64
#define IA_JINJA_MAX_EVAL_DEPTH 500
#define IA_JINJA_MAX_SYNTAX_DEPTH 200
#define IA_JINJA_MAX_TREE_DEPTH 256
#define IA_JINJA_MAX_STEPS 5000000L

#endif
