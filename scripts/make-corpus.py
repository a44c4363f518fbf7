#!/usr/bin/env python3
"""Build data/corpus.txt: real English sentences of 5 to 120 words, in a
fixed shuffled order, taken from the docstrings of Python's standard
library (the text every machine here has). Used by `make run` and the
benchmarks; committed, so this script only documents where it came from.

Usage: python3 scripts/make-corpus.py [N] > data/corpus.txt
"""
import contextlib, importlib, inspect, io, random, re, sys, warnings

warnings.filterwarnings("ignore")
want = int(sys.argv[1]) if len(sys.argv) > 1 else 2500
skip = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "test", "lib2to3"}
docs = []
for mod in sorted(sys.stdlib_module_names):
    if mod.startswith("_") or mod in skip:
        continue
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            m = importlib.import_module(mod)
    except Exception:
        continue
    for _, obj in sorted(inspect.getmembers(m), key=lambda kv: kv[0]):
        d = inspect.getdoc(obj) if (inspect.isfunction(obj) or inspect.isclass(obj)) else None
        if d:
            docs.append(d)
    if m.__doc__:
        docs.append(m.__doc__)

sentences, seen = [], set()
for d in docs:
    for para in re.split(r"\n\s*\n", d):
        if re.search(r"(>>>|::|\|)", para):
            continue
        text = " ".join(para.split())
        for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text):
            n = len(s.split())
            if 5 <= n <= 120 and s not in seen and s[0].isalpha():
                seen.add(s)
                sentences.append(s)
random.Random(42).shuffle(sentences)
for s in sentences[:want]:
    print(s)
