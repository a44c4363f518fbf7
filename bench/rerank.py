#!/usr/bin/env python3
"""`make bench-rerank`: reranking, ours against ONNX Runtime on the same
cross-encoder and the same (query, document) pairs, one run, same threads.

The model: a cross-encoder of ms-marco-MiniLM-L-6-v2's shape
(BertForSequenceClassification, one label; 6 layers, 384 wide, 12 heads,
all-MiniLM-L6-v2's WordPiece vocabulary), random weights from a fixed seed
(the hub is out of reach here; the speed depends on the shape only), saved
as a Hugging Face folder and exported to ONNX (logits out) once, under
.cache/bench/rerank/. The work: Q queries (corpus lines of 5-15 words),
each against 100 documents (the next corpus lines), both engines scoring
the 100 pairs of a query in one call (raw logits; ours through the Python
binding's predict(), ONNX Runtime on pairs tokenized by HF `tokenizers`
and padded to the longest pair). The scores are checked against each other
(max |ours - ORT| <= 1e-4 of the largest), then timed: median over rounds,
engines taking turns.

Usage: rerank.py [--threads 2] [--queries 20] [--rounds 5]
"""
import argparse, json, os, shutil, statistics, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--queries", type=int, default=20)
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--docs", type=int, default=100)
a = ap.parse_args()
os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))

import numpy as np
import torch

torch.set_num_threads(a.threads)
work = os.path.join(ROOT, ".cache", "bench", "rerank")
model_dir = os.path.join(work, "cross-encoder-minilm-l6")
onnx_path = os.path.join(work, "cross-encoder-minilm-l6.onnx")
minilm = os.popen(os.path.join(ROOT, "scripts", "fetch-model.sh")).read().strip()

if not os.path.exists(os.path.join(model_dir, "model.safetensors")):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(1234)
    cfg = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                     intermediate_size=1536, max_position_embeddings=512, num_labels=1)
    m = BertForSequenceClassification(cfg).eval()
    tmp = model_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    m.save_pretrained(tmp, safe_serialization=True)
    for f in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if os.path.exists(os.path.join(minilm, f)):
            shutil.copy(os.path.join(minilm, f), tmp)
    os.replace(tmp, model_dir)
    print(f"rerank: wrote {model_dir}", file=sys.stderr)

if not os.path.exists(onnx_path):
    from transformers import BertForSequenceClassification

    m = BertForSequenceClassification.from_pretrained(model_dir, attn_implementation="eager").eval()

    class Logits(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    ids = torch.ones(2, 16, dtype=torch.int64)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    tmp = onnx_path + ".tmp"
    with torch.no_grad():
        try:
            torch.onnx.export(Logits(m).eval(), (ids, torch.ones_like(ids), torch.zeros_like(ids)), tmp,
                              input_names=names, output_names=["logits"],
                              dynamic_axes={n: {0: "batch", 1: "seq"} for n in names}, opset_version=17, dynamo=False)
        except Exception as e:  # newer torch: only the dynamo exporter
            print(f"rerank: TorchScript exporter failed ({e}); using dynamo", file=sys.stderr)
            b, s = torch.export.Dim("batch"), torch.export.Dim("seq", max=512)
            torch.onnx.export(Logits(m).eval(), (ids, torch.ones_like(ids), torch.zeros_like(ids)), tmp,
                              input_names=names, output_names=["logits"],
                              dynamic_shapes={n: {0: b, 1: s} for n in names}, dynamo=True, external_data=False)
    os.replace(tmp, onnx_path)
    print(f"rerank: wrote {onnx_path}", file=sys.stderr)

# ---- the pairs ---------------------------------------------------------------
corpus = [l for l in open(os.path.join(ROOT, "data", "corpus.txt"), encoding="utf-8").read().split("\n") if l]
qi = [i for i, t in enumerate(corpus) if 5 <= len(t.split()) <= 15][: a.queries]
work_items = [(corpus[i], [corpus[(i + 1 + d) % len(corpus)] for d in range(a.docs)]) for i in qi]

# ---- ours ----------------------------------------------------------------------
sys.path.insert(0, os.path.join(ROOT, "python"))
os.environ.setdefault("IPFS_ACCELERATE_LIB", os.path.join(ROOT, "build-bench"))
import ipfs_accelerate

ours = ipfs_accelerate.Model(model_dir, n_threads=a.threads)
ours_run = lambda q, docs: np.asarray(ours.predict([(q, d) for d in docs], raw_scores=True), dtype=np.float32)

# ---- ONNX Runtime -------------------------------------------------------------
import onnxruntime as ort
from tokenizers import Tokenizer

so = ort.SessionOptions()
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
so.intra_op_num_threads = a.threads
so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
tok.enable_truncation(max_length=512)
tok.enable_padding(pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]")


def ort_run(q, docs):
    enc = tok.encode_batch([(q, d) for d in docs])
    feed = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
    return sess.run(None, feed)[0][:, 0]


# ---- check, then time -------------------------------------------------------------
worst = 0.0
for q, docs in work_items[:3]:
    x, y = ours_run(q, docs).reshape(-1), ort_run(q, docs).reshape(-1)
    worst = max(worst, float(np.max(np.abs(x - y)) / max(np.max(np.abs(y)), 1e-6)))
if worst > 1e-4:
    sys.exit(f"rerank: our scores differ from ONNX Runtime's by {worst:.2e} of the largest (> 1e-4)")

times = {"ours": [], "ort": []}
for rnd in range(a.rounds):
    for name, fn in (("ours", ours_run), ("ort", ort_run)):
        fn(*work_items[0])  # warm
        t = time.perf_counter()
        for q, docs in work_items:
            fn(q, docs)
        times[name].append(time.perf_counter() - t)
n_pairs = len(work_items) * a.docs
res = {n: n_pairs / statistics.median(v) for n, v in times.items()}
lines = [f"Reranking: {len(work_items)} queries x {a.docs} documents (one call per query), cross-encoder of "
         f"ms-marco-MiniLM-L-6-v2's shape (random weights), {a.threads} threads, median of {a.rounds} rounds, "
         f"engines taking turns; load average {os.getloadavg()[0]:.1f}. Scores agree to {worst:.1e} of the largest.",
         "", "| engine | pairs/s | 100-pair query ms |", "|---|---:|---:|"]
for name, label in (("ours", f"ipfs-accelerate {ipfs_accelerate.__version__}"),
                    ("ort", f"ONNX Runtime {ort.__version__}")):
    lines.append(f"| {label} | {res[name]:.0f} | {1000 * a.docs / res[name]:.1f} |")
lines += ["", f"Ratio ours / ONNX Runtime: {res['ours'] / res['ort']:.2f}x"]
print("\n".join(lines))
with open(os.path.join(work, "results.json"), "w") as f:
    json.dump({"pairs_per_s": res, "times": times, "max_rel_diff": worst, "threads": a.threads}, f, indent=1)
