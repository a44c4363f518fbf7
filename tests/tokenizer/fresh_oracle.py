#!/usr/bin/env python3
"""Our tokenizer against Hugging Face `tokenizers` on fresh random inputs
(a new seed each run, printed so a failure can be replayed with
IA_TOKENIZER_SEED): single texts, then text pairs (ids and token types)
through the file's TemplateProcessing, BertProcessing, RobertaProcessing
and no post-processor, untruncated and truncated longest-first; then a
RoBERTa-style byte-level BPE tokenizer (trained here by `tokenizers` on
fresh random text, with RobertaProcessing and an lstrip <mask>) on texts
and pairs.
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

from tokenizers import AddedToken, ByteLevelBPETokenizer, Tokenizer, processors


def one_line(t):
    return t.replace("\n", " ").replace("\r", " ").replace("\t", " ")


pairs = [(one_line(gen.random_text(rng)), one_line(gen.random_text(rng))) for _ in range(300)]
data = "".join(a + "\t" + b + "\n" for a, b in pairs).encode("utf-8", "surrogatepass")
base = json.load(open(os.path.join(gen.TOKENIZER, "tokenizer.json"), encoding="utf-8"))
post_processors = {
    "TemplateProcessing": base["post_processor"],
    "BertProcessing": {"type": "BertProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101]},
    "RobertaProcessing": {"type": "RobertaProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101],
                          "trim_offsets": True, "add_prefix_space": False},
    "none": None,
}
with tempfile.TemporaryDirectory() as d:
    for name, pp in post_processors.items():
        with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(dict(base, post_processor=pp), f)
        hf = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        hf.no_padding()
        for max_len, left in ((0, False), (rng.randint(6, 12), False), (rng.randint(16, 40), False),
                              (rng.randint(6, 30), True)):
            if max_len:
                hf.enable_truncation(max_len, direction="left" if left else "right")
            else:
                hf.no_truncation()
            want = [hf.encode(a, b) for a, b in pairs]
            args = [cli, "tokenize", "--model", d, "--pairs", "-"] + (["--max-length", str(max_len)] if max_len else []) \
                + (["--truncate-left"] if left else [])
            got = [json.loads(l) for l in subprocess.run(args, input=data, capture_output=True,
                                                         check=True).stdout.decode().splitlines()]
            bad = [i for i in range(len(pairs)) if i >= len(got) or got[i]["ids"] != want[i].ids
                   or got[i]["types"] != want[i].type_ids]
            for i in bad[:3]:
                print(f"pair differs ({name}, max length {max_len}): {pairs[i]!r}\n"
                      f"  ours {got[i] if i < len(got) else None}\n  hf   {want[i].ids} {want[i].type_ids}")
            print(f"pairs, {name}, max length {max_len or 'none'}{' (left)' if left else ''}: "
                  f"{len(pairs) - len(bad)} passed, {len(bad)} failed")
            failed += len(bad)


def compare(what, folder, hf, max_len):
    """texts and pairs through `tokenize` against hf; returns the failures."""
    hf.enable_truncation(max_len) if max_len else hf.no_truncation()
    extra = ["--max-length", str(max_len)] if max_len else []
    n_bad = 0
    for kind, items, data in (("texts", texts, "".join(t + "\n" for t in texts)),
                              ("pairs", pairs, "".join(a + "\t" + b + "\n" for a, b in pairs))):
        args = [cli, "tokenize", "--model", folder, "-"] + (["--pairs"] if kind == "pairs" else []) + extra
        got = [json.loads(l) for l in subprocess.run(args, input=data.encode("utf-8", "surrogatepass"),
                                                     capture_output=True, check=True).stdout.decode().splitlines()]
        want = [hf.encode(*x) if kind == "pairs" else hf.encode(x) for x in items]
        bad = [i for i in range(len(items)) if i >= len(got) or got[i]["ids"] != want[i].ids
               or (kind == "pairs" and got[i]["types"] != want[i].type_ids)]
        for i in bad[:3]:
            print(f"differs ({what}, max length {max_len}): {items[i]!r}\n  ours {got[i] if i < len(got) else None}"
                  f"\n  hf   {want[i].ids}")
        print(f"{kind}, {what}, max length {max_len or 'none'}: {len(items) - len(bad)} passed, {len(bad)} failed")
        n_bad += len(bad)
    return n_bad


texts = [one_line(gen.random_text(rng)) + (" <mask> end" if i % 7 == 0 else "") for i in range(300)]
bpe = ByteLevelBPETokenizer()
bpe.train_from_iterator((gen.random_text(rng) for _ in range(2000)), vocab_size=800, min_frequency=2,
                        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False)
hf = bpe._tokenizer
hf.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
hf.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
with tempfile.TemporaryDirectory() as d:
    hf.save(os.path.join(d, "tokenizer.json"))
    for max_len in (0, rng.randint(8, 40)):
        failed += compare("byte-level BPE, RobertaProcessing", d, hf, max_len)
sys.exit(1 if failed else 0)
