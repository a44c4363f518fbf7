#!/usr/bin/env python3
"""sentence-transformers on the GPU, the peer of the CUDA backend's
all-MiniLM-L6-v2 benchmark (scripts/gpu-check.sh, docs/cuda.md): the
corpus sorted by token length (as bench/run.py's workload b' gives the CPU
peers), encoded in fp16 on cuda:0 at batch sizes 32 (bench/run.py's) and
256 (what a GPU wants), a warm-up then --repeat timed passes each. Writes
the sorted corpus to --sorted-out (ours embeds the same file), the
embeddings of the last pass to --emb-out (float32, n x dim, raw) and
prints one JSON object.

Usage: cuda_peers.py MODEL_DIR CORPUS --sorted-out F [--emb-out F] [--repeat 5]
                     [--precision fp16|fp32]
"""
import argparse
import json
import statistics
import time

import torch
from sentence_transformers import SentenceTransformer

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("corpus")
ap.add_argument("--sorted-out", required=True)
ap.add_argument("--emb-out")
ap.add_argument("--repeat", type=int, default=5)
ap.add_argument("--precision", default="fp16", choices=["fp16", "fp32"])
a = ap.parse_args()

texts = [l for l in open(a.corpus, encoding="utf-8").read().split("\n") if l]
st = SentenceTransformer(a.model, device="cuda")
if a.precision == "fp16":
    st.half()
tok = st.tokenizer
lens = [min(len(tok(t)["input_ids"]), st.max_seq_length) for t in texts]
order = sorted(range(len(texts)), key=lambda i: lens[i])
texts = [texts[i] for i in order]
with open(a.sorted_out, "w", encoding="utf-8") as f:
    f.write("\n".join(texts) + "\n")

out = {"engine": "sentence-transformers", "version": f"sentence-transformers "
       f"{__import__('sentence_transformers').__version__}, torch {torch.__version__}",
       "device": torch.cuda.get_device_name(0), "precision": a.precision, "n_texts": len(texts),
       "n_tokens": sum(lens), "runs": {}}
for bs in (32, 256):
    with torch.inference_mode():
        st.encode(texts[:bs], batch_size=bs, convert_to_numpy=True, show_progress_bar=False)  # warm-up
        times = []
        for _ in range(a.repeat):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            emb = st.encode(texts, batch_size=bs, convert_to_numpy=True, show_progress_bar=False)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    out["runs"][str(bs)] = {"times": times, "median_s": statistics.median(times),
                            "sentences_per_s": len(texts) / statistics.median(times)}
if a.emb_out:
    emb.astype("float32").tofile(a.emb_out)
print(json.dumps(out))
