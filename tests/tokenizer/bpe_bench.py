#!/usr/bin/env python3
"""Encoding speed of our BPE tokenizer against Hugging Face `tokenizers`, on
this machine, in one run: every line of a corpus encoded as its own text
(as a server sees requests), no specials, one thread, best of 5 runs, the
same ids required of both.

Ours: ia-bpe-tool's bench mode, through the GGUF and the tokenizer.json
loader. Theirs: Tokenizer.encode_batch with TOKENIZERS_PARALLELISM=false
(one thread, no Python call per text) on the reference tokenizer.json files
bpe_oracle.py builds in its work folder (run that test first).

Usage: bpe_bench.py IA_BPE_TOOL FETCH_LLAMA_CPP_SRC FETCH_SMOLLM2 ORACLE_WORKDIR CORPUS
(not part of the suite: docs/tokenizers.md quotes its output)
"""
import os, subprocess, sys, time

os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer

tool, fetch_llama, fetch_smollm2, work, corpus = sys.argv[1:6]
run = lambda cmd: subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
llama, smol = run([fetch_llama]), run([fetch_smollm2])
text = open(corpus, encoding="utf-8").read()
lines = text.split("\n")
mb = len(text.encode()) / 1e6
print(f"{corpus}: {len(text.encode())} bytes, {len(lines)} lines; MB/s, one thread, best of 5")
print(f"{'tokenizer':<12}{'ours, gguf':>12}{'ours, json':>12}{'tokenizers':>12}{'ratio':>8}")
for name, gguf in [("smollm2", smol), ("llama-bpe", f"{llama}/models/ggml-vocab-llama-bpe.gguf"),
                   ("qwen2", f"{llama}/models/ggml-vocab-qwen2.gguf"),
                   ("llama-spm", f"{llama}/models/ggml-vocab-llama-spm.gguf")]:
    js = f"{work}/{name}.json"
    tok = Tokenizer.from_file(js)
    tok.encode_special_tokens = True
    theirs, n_hf = 1e9, 0
    for _ in range(5):
        t0 = time.perf_counter()
        n_hf = sum(len(e.ids) for e in tok.encode_batch(lines, add_special_tokens=False))
        theirs = min(theirs, time.perf_counter() - t0)
    ours = {}
    for kind, path in [("gguf", gguf), ("json", js)]:
        r = subprocess.run([tool, kind, path, "bench"], input=text.encode(), capture_output=True, check=True)
        secs, _, n_ids = r.stdout.split()
        assert int(n_ids) == n_hf, f"{name} {kind}: {n_ids} ids, tokenizers {n_hf}"
        ours[kind] = float(secs)
    print(f"{name:<12}{mb / ours['gguf']:>12.1f}{mb / ours['json']:>12.1f}{mb / theirs:>12.1f}"
          f"{theirs / ours['gguf']:>7.1f}x")
