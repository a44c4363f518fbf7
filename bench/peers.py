#!/usr/bin/env python3
"""One peer engine on one workload, in its own process (so peak RSS is its
own); prints one JSON object. Run by bench/run.py.

Usage: peers.py ENGINE MODE INPUT [--group 32] [--max-len N] [--repeat R]
                [--threads 2] [--dump OUT.f32] --model DIR --onnx F --gguf F
  ENGINE: ort | st | llama
  MODE:   batch (INPUT's lines in order, in batches of --group texts, each
          padded to its longest text by engines that pad) or latency (each
          line alone)
Every timing covers text in -> normalized embedding out: tokenization,
padding, the forward pass and pooling.
"""
import argparse, json, os, resource, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("engine")
ap.add_argument("mode")
ap.add_argument("input")
ap.add_argument("--group", type=int, default=32)
ap.add_argument("--max-len", type=int, default=256)
ap.add_argument("--repeat", type=int, default=3)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--dump")
ap.add_argument("--model", required=True)
ap.add_argument("--onnx")
ap.add_argument("--gguf")
a = ap.parse_args()

texts = open(a.input, encoding="utf-8").read().split("\n")
if texts and texts[-1] == "":
    texts.pop()

import numpy as np

t_load = time.perf_counter()
info = {}
if a.engine == "ort":
    import onnxruntime as ort
    from tokenizers import Tokenizer

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(a.onnx, so, providers=["CPUExecutionProvider"])
    tok = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    tok.enable_truncation(max_length=a.max_len)
    pad = next(t for t in ("[PAD]", "<pad>") if tok.token_to_id(t) is not None)
    tok.enable_padding(pad_id=tok.token_to_id(pad), pad_token=pad)  # to the longest in the batch
    typed = any(i.name == "token_type_ids" for i in sess.get_inputs())
    info["version"] = ort.__version__

    def embed(batch):
        enc = tok.encode_batch(batch)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if typed:
            feed["token_type_ids"] = np.zeros_like(ids)
        out = sess.run(None, feed)[0]
        return out, int(mask.sum()), int(ids.size)

elif a.engine == "st":
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    st = SentenceTransformer(a.model, device="cpu")
    st.max_seq_length = a.max_len
    info["version"] = f"sentence-transformers {__import__('sentence_transformers').__version__}, torch {torch.__version__}"
    tokz = st.tokenizer

    def embed(batch):
        with torch.inference_mode():
            out = st.encode(batch, batch_size=a.group, convert_to_numpy=True,
                            show_progress_bar=False)
        return out, None, None

elif a.engine == "llama":
    import llama_cpp
    from llama_cpp import Llama

    # llama-cpp-python's defaults (512-token context and batches): embed()
    # packs texts without padding into decodes of up to 512 tokens. Larger
    # batches are slower: llama.cpp attends across the whole batch under a
    # mask, quadratic in its token count.
    n_ctx = max(512, a.max_len)
    llm = Llama(model_path=a.gguf, embedding=True, n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx,
                n_threads=a.threads, n_threads_batch=a.threads,
                pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN, verbose=False)
    info["version"] = f"llama-cpp-python {llama_cpp.__version__}"

    def embed(batch):
        out = llm.embed(batch, normalize=True, truncate=True)
        return np.asarray(out, dtype=np.float32), None, None
else:
    sys.exit(f"peers.py: unknown engine {a.engine}")
t_load = time.perf_counter() - t_load

embed(texts[:8])  # warm-up
times, lat = [], []
real = padded = None
first = None
for r in range(a.repeat):
    outs = []
    real_r = padded_r = 0
    t0 = time.perf_counter()
    if a.mode == "latency":
        for t in texts:
            ti = time.perf_counter()
            o, _, _ = embed([t])
            lat.append(time.perf_counter() - ti)
            outs.append(o)
    else:
        for lo in range(0, len(texts), a.group):
            o, rt, pt = embed(texts[lo:lo + a.group])
            outs.append(o)
            if rt is not None:
                real_r += rt
                padded_r += pt
    times.append(time.perf_counter() - t0)
    if r == 0:
        first = np.concatenate(outs).astype(np.float32)
        if real_r:
            real, padded = real_r, padded_r
if a.dump:
    first.tofile(a.dump)
res = {"engine": a.engine, "mode": a.mode, "n_texts": len(texts), "times": times,
       "load_s": t_load, "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, **info}
if real:
    res["padded_tokens"] = padded
if lat:
    lat.sort()
    res["p50_ms"] = lat[len(lat) // 2] * 1e3
    res["p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3
print(json.dumps(res))
