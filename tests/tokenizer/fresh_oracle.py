#!/usr/bin/env python3
"""Our tokenizer against Hugging Face `tokenizers` on fresh random inputs
(a new seed each run, printed so a failure can be replayed with
IA_TOKENIZER_SEED): single texts, then text pairs (ids and token types)
through the file's TemplateProcessing, BertProcessing, RobertaProcessing
and no post-processor, untruncated and truncated longest-first.
Usage: fresh_oracle.py IPFS_ACCELERATE_CLI"""
import json, os, random, subprocess, sys, tempfile, time

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
failed = len(bad)

from tokenizers import Tokenizer


def one_line(t):
    return t.replace("\n", " ").replace("\r", " ").replace("\t", " ")


pairs = [(one_line(gen.random_text(rng)), one_line(gen.random_text(rng))) for _ in range(300)]
data = "".join(a + "\t" + b + "\n" for a, b in pairs).encode("utf-8", "surrogatepass")
base = json.load(open(os.path.join(gen.TOKENIZER, "tokenizer.json"), encoding="utf-8"))
processors = {
    "TemplateProcessing": base["post_processor"],
    "BertProcessing": {"type": "BertProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101]},
    "RobertaProcessing": {"type": "RobertaProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101],
                          "trim_offsets": True, "add_prefix_space": False},
    "none": None,
}
with tempfile.TemporaryDirectory() as d:
    for name, pp in processors.items():
        with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(dict(base, post_processor=pp), f)
        hf = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        hf.no_padding()
        for max_len in (0, rng.randint(6, 12), rng.randint(16, 40)):
            hf.enable_truncation(max_len) if max_len else hf.no_truncation()
            want = [hf.encode(a, b) for a, b in pairs]
            args = [cli, "tokenize", "--model", d, "--pairs", "-"] + (["--max-length", str(max_len)] if max_len else [])
            got = [json.loads(l) for l in subprocess.run(args, input=data, capture_output=True,
                                                         check=True).stdout.decode().splitlines()]
            bad = [i for i in range(len(pairs)) if i >= len(got) or got[i]["ids"] != want[i].ids
                   or got[i]["types"] != want[i].type_ids]
            for i in bad[:3]:
                print(f"pair differs ({name}, max length {max_len}): {pairs[i]!r}\n"
                      f"  ours {got[i] if i < len(got) else None}\n  hf   {want[i].ids} {want[i].type_ids}")
            print(f"pairs, {name}, max length {max_len or 'none'}: {len(pairs) - len(bad)} passed, {len(bad)} failed")
            failed += len(bad)
sys.exit(1 if failed else 0)
