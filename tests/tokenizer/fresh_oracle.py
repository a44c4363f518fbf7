#!/usr/bin/env python3
"""Our tokenizer against Hugging Face `tokenizers` on fresh random inputs
(a new seed each run, printed so a failure can be replayed with
IA_TOKENIZER_SEED). Usage: fresh_oracle.py IPFS_ACCELERATE_CLI"""
import json, os, random, subprocess, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
gen = __import__("gen-tokenizer-goldens")

cli = sys.argv[1]
seed = int(os.environ.get("IA_TOKENIZER_SEED", time.time_ns() % 2**32))
rng = random.Random(seed)
# One text per line: no line breaks inside a text.
texts = [gen.random_text(rng).replace("\n", " ").replace("\r", " ") for _ in range(300)]
texts = [t.rstrip("\r") for t in texts]
tok = gen.oracle()
want = [tok.encode(t).ids for t in texts]
data = "".join(t + "\n" for t in texts).encode("utf-8", "surrogatepass")
out = subprocess.run([cli, "tokenize", "--model", gen.TOKENIZER, "-"], input=data,
                     capture_output=True, check=True).stdout.decode().splitlines()
got = [json.loads(l)["ids"] for l in out]
bad = [i for i in range(len(texts)) if i >= len(got) or got[i] != want[i]]
for i in bad[:5]:
    print(f"differs: {texts[i]!r}\n  ours {got[i] if i < len(got) else None}\n  hf   {want[i]}")
print(f"tokenizer fresh oracle: seed {seed}: {len(texts) - len(bad)} passed, {len(bad)} failed")
sys.exit(1 if bad else 0)
