#!/usr/bin/env python3
"""`make bench`: our engine against ONNX Runtime, sentence-transformers
(PyTorch) and llama.cpp on the same inputs and the same all-MiniLM-L6-v2
weights, 2 threads each. Prints a table with ratios ours/peer and writes
.cache/bench/results.json and results.md.

Workloads
  (a)  32 texts of exactly 128 tokens each (so every engine computes
       32 x 128 real tokens; the peers' batch is a full 32 x 128 tensor)
  (b)  the corpus (data/corpus.txt, 5-120 words) in arrival order: peers get
       batches of 32 padded to the longest in each batch; ours gets the
       whole list in one call and batches as it does best
  (b') the same corpus with the peers given length-sorted batches of 32
  (c)  one short query at a time: p50 / p99 latency
Throughput is the median of --repeat runs; tokens/s counts real tokens
(specials included, no padding) as the model's tokenizer gives them.

With --baseline-bench BIN (bench/run.sh builds it from BENCH_BASELINE, the
main of before the engine core), that build runs the same workloads in the
same rounds as "before", and a table gives ours/before.

Usage: bench/run.py --ia-bench BIN --gemm-peak BIN [--baseline-bench BIN]
                    [--repeat 3] [--corpus-n 2000]
"""
import argparse, json, os, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--ia-bench", required=True)
ap.add_argument("--gemm-peak", required=True)
ap.add_argument("--baseline-bench")
ap.add_argument("--baseline-name", default="before")
ap.add_argument("--model")
ap.add_argument("--repeat", type=int, default=3)
ap.add_argument("--corpus-n", type=int, default=2000)
ap.add_argument("--queries", type=int, default=100)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--engines", default="ours,ort,ort-int8,st,llama")
ap.add_argument("--precisions", default="fp32,int8,bf16")
ap.add_argument("--workloads", default="a,b,b',c")
ap.add_argument("--no-per-layer", dest="per_layer", action="store_false")
a = ap.parse_args()

import numpy as np
from tokenizers import Tokenizer

work = os.path.join(ROOT, ".cache", "bench")
os.makedirs(os.path.join(work, "work"), exist_ok=True)
model = a.model or subprocess.run([os.path.join(ROOT, "scripts", "fetch-model.sh")], check=True,
                                  capture_output=True, text=True).stdout.strip()
exp = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "export_models.py"), model,
                      os.path.join(work, "models")], check=True, capture_output=True, text=True)
onnx_path, gguf_path, onnx_int8_path = exp.stdout.split()
if gguf_path == "-":  # llama.cpp cannot convert this architecture
    a.engines = ",".join(e for e in a.engines.split(",") if e != "llama")
env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads),
           TOKENIZERS_PARALLELISM="false")

# ---- inputs -------------------------------------------------------------
tok = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
tok.no_padding()
tok.no_truncation()
ntok = lambda t: len(tok.encode(t).ids)
MAXLEN = 256  # the model's max_seq_length (sentence_bert_config.json)
DIM = json.load(open(os.path.join(model, "config.json")))["hidden_size"]  # the vectors' width (mean pooling)
corpus = [l for l in open(os.path.join(ROOT, "data", "corpus.txt"), encoding="utf-8").read().split("\n") if l][: a.corpus_n]
lens = [min(ntok(t), MAXLEN) for t in corpus]

def exact128(start):
    """A text of exactly 128 tokens from consecutive corpus words."""
    words = " ".join(corpus[start:start + 40]).split()
    out = []
    for w in words:
        if ntok(" ".join(out + [w])) > 128:
            break
        out.append(w)
    while ntok(" ".join(out)) < 128:
        out.append("a")
    return " ".join(out)

a_texts = [exact128(i * 17) for i in range(32)]
assert all(ntok(t) == 128 for t in a_texts)
order = sorted(range(len(corpus)), key=lambda i: lens[i])
queries = [t for t in corpus if 5 <= len(t.split()) <= 10][: a.queries]
files = {"a": a_texts, "b": corpus, "b'": [corpus[i] for i in order], "c": queries}
paths = {}
for k, v in files.items():
    paths[k] = os.path.join(work, "work", {"a": "a", "b": "b", "b'": "b-sorted", "c": "c"}[k] + ".txt")
    with open(paths[k], "w", encoding="utf-8") as f:
        f.write("\n".join(v) + "\n")
real_tokens = {"a": 32 * 128, "b": sum(lens), "b'": sum(lens), "c": sum(min(ntok(t), MAXLEN) for t in queries)}

# ---- runs ---------------------------------------------------------------
def run(cmd, extra_env=None):
    t = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(env, **(extra_env or {})))
    if p.returncode:
        sys.stderr.write(p.stderr[-3000:])
        raise SystemExit(f"bench: failed: {' '.join(cmd)}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    sys.stderr.write(f"  {os.path.basename(cmd[0]) if 'ia_bench' in cmd[0] else cmd[2]:>9} "
                     f"{cmd[3] if 'peers' in cmd[1] else ''} done in {time.time() - t:.0f}s\n")
    return r

py = sys.executable
load_before = os.getloadavg()
peers_py = os.path.join(ROOT, "bench", "peers.py")
results = {"machine": {}, "runs": {}}
wl = a.workloads.split(",")
engines = a.engines.split(",")
dumps = {}
# Engines take turns: each round runs every engine once (a fresh process,
# one timed pass after a warm-up), so that other work on the machine
# weighs on all of them alike; throughput is the median over the rounds.
def merge(rs):
    out = dict(rs[0])
    out["times"] = [t for r in rs for t in r["times"]]
    out["max_rss_kb"] = max(r["max_rss_kb"] for r in rs)
    for k in ("p50_ms", "p99_ms"):
        if k in out:
            out[k] = statistics.median(r[k] for r in rs)
    best = min(rs, key=lambda r: min(r["times"]))
    for k in ("gemm_s", "gemm_flop", "gemm_calls", "gemm_big_s", "gemm_big_flop", "attn_s"):
        if k in best:
            out[k] = best[k]
    return out

for w in wl:
    mode = "latency" if w == "c" else "batch"
    maxlen = 128 if w == "a" else MAXLEN
    inner = 3 if w == "c" else 1  # latency: passes over the queries per round
    sys.stderr.write(f"workload ({w}):\n")
    jobs = []
    for e in engines:
        if e == "ours":
            for prec in a.precisions.split(","):
                for who, binary in (("ours", a.ia_bench), ("before", a.baseline_bench)):
                    if not binary:
                        continue
                    name = who if prec == "fp32" else f"{who}-{prec}"
                    cmd = [binary, "--model", model, "--mode", mode, "--input", paths[w],
                           "--max-tokens", str(maxlen), "--group", "0", "--repeat", str(inner),
                           "--threads", str(a.threads), "--precision", prec]
                    jobs.append((name, cmd, None, prec))
        else:  # ort-int8: ONNX Runtime on its own int8 quantization of the same model
            cmd = [py, peers_py, "ort" if e == "ort-int8" else e, mode, paths[w], "--group", "32",
                   "--max-len", str(maxlen), "--repeat", str(inner), "--threads", str(a.threads),
                   "--model", model, "--onnx", onnx_int8_path if e == "ort-int8" else onnx_path,
                   "--gguf", gguf_path]
            jobs.append((e, cmd, None, None))
    got = {name: [] for name, _, _, _ in jobs}
    for rnd in range(a.repeat):
        for name, cmd, extra, prec in jobs:
            c = list(cmd)
            if rnd == 0 and w in ("a", "b"):
                dump = os.path.join(work, "work", f"{name}-{w}.f32")
                c += ["--dump", dump]
                dumps[(name, w)] = dump
            got[name].append(run(c, extra))
    for name, _, _, prec in jobs:
        r = merge(got[name])
        if prec and prec != "fp32" and r.get("precision") != prec:
            sys.stderr.write(f"  {name}: computed in {r.get('precision')} on this CPU; not listed\n")
            dumps.pop((name, w), None)
            continue
        results["runs"].setdefault(name, {})[w] = r

# ---- per-layer error of the reduced precisions ----------------------------
# The real model's test sentences (tests/data/sentences.jsonl) embedded in
# fp32 and with one group of linear layers at a time in reduced precision
# (IA_CPU_PREC_LAYERS, the backend's diagnostic; BERT makes qkv, attn_out,
# ffn_in, ffn_out per layer): worst and mean cosine to fp32.
per_layer = {}
if a.per_layer and "ours" in engines:
    sys.stderr.write("per-layer error:\n")
    sent = [json.loads(l) for l in open(os.path.join(ROOT, "tests", "data", "sentences.jsonl"),
                                         encoding="utf-8") if l.strip()]
    sp = os.path.join(work, "work", "sentences.txt")
    with open(sp, "w", encoding="utf-8") as f:  # one per line: newlines inside become spaces
        f.write("\n".join(t.replace("\n", " ").replace("\r", " ") for t in sent) + "\n")
    def emb(prec, layers):
        out = os.path.join(work, "work", "layer.f32")
        run([a.ia_bench, "--model", model, "--input", sp, "--repeat", "1", "--precision", prec,
             "--dump", out], {"IA_CPU_PREC_LAYERS": layers} if layers else None)
        v = np.fromfile(out, dtype=np.float32).reshape(-1, DIM)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    ref = emb("fp32", None)
    L = json.load(open(os.path.join(model, "config.json")))["num_hidden_layers"]
    groups = [(f"layer {l}", f"{4 * l}-{4 * l + 3}") for l in range(L)]
    groups += [(t, ",".join(str(4 * l + i) for l in range(L)))
               for i, t in enumerate(["qkv (all layers)", "attn_out (all layers)",
                                      "ffn_in (all layers)", "ffn_out (all layers)"])]
    groups.append(("all", None))
    for prec in [p for p in a.precisions.split(",") if p != "fp32" and f"ours-{p}" in results["runs"]]:
        for label_, layers in groups:
            c = (emb(prec, layers) * ref).sum(1)
            per_layer.setdefault(prec, []).append((label_, float(c.min()), float(c.mean())))
results["per_layer"] = per_layer

# ---- GEMM peaks -----------------------------------------------------------
sys.stderr.write("GEMM peaks (oneDNN, best of 30):\n")
p = subprocess.run([a.gemm_peak, "30"], capture_output=True, text=True, env=env, check=True)
peaks = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
results["gemm_peaks"] = peaks
big = [x for x in peaks if x["N"] * x["K"] >= 384 * 1152]
peak_f32 = max(x["f32_gflops"] for x in big)
peak_i8 = max(x["int8_gops"] for x in big)
peak_bf16 = max(x.get("bf16_gflops", 0) for x in big)
load_after = os.getloadavg()
results["loadavg"] = {"before": load_before, "after": load_after}

# ---- accuracy: cosine to sentence-transformers ----------------------------
def load(name, w):
    v = np.fromfile(dumps[(name, w)], dtype=np.float32).reshape(-1, DIM)
    return v / np.linalg.norm(v, axis=1, keepdims=True)
ref = "st" if ("st", "b") in dumps else None
cos = {}
for (name, w) in dumps:
    if ref and w == "b" and name != ref:
        cos[name] = float((load(name, "b") * load(ref, "b")).sum(1).min())
if ("ours", "b") in dumps:
    for name in ("ours-int8", "ours-bf16", "ort-int8"):
        if (name, "b") in dumps:
            cos[name + " vs ours"] = float((load(name, "b") * load("ours", "b")).sum(1).min())
if ("ort", "b") in dumps and ("ort-int8", "b") in dumps:
    cos["ort-int8 vs ort"] = float((load("ort-int8", "b") * load("ort", "b")).sum(1).min())
results["min_cosine"] = cos

# ---- table ----------------------------------------------------------------
def med(r):
    return statistics.median(r["times"])

def sps(name, w):
    r = results["runs"].get(name, {}).get(w)
    return None if not r or w == "c" else r["n_texts"] / med(r)

names = [n for n in ["ours", "ours-int8", "ours-bf16", "before", "before-int8", "before-bf16",
                      "ort", "ort-int8", "llama", "st"] if n in results["runs"]]
label = {"ours": "ipfs-accelerate fp32", "ours-int8": "ipfs-accelerate int8",
         "ours-bf16": "ipfs-accelerate bf16", "ort": "ONNX Runtime fp32",
         "ort-int8": "ONNX Runtime int8 (its quantize_dynamic)",
         "llama": "llama.cpp f32", "st": "sentence-transformers fp32"}
for p_ in ("fp32", "int8", "bf16"):
    label["before" if p_ == "fp32" else f"before-{p_}"] = f"{a.baseline_name} {p_}"
is_ours = lambda n: n.startswith("ours") or n.startswith("before")
vers = {n: results["runs"][n][next(iter(results["runs"][n]))].get("version", "") for n in names}
lines = []
P = lines.append
P(f"Machine: {os.cpu_count()} cores, {a.threads} threads per engine; model {os.path.basename(model.rstrip('/'))}; "
  f"corpus {len(corpus)} sentences ({real_tokens['b']} real tokens, "
  f"{sum(lens) / len(lens):.1f} per sentence); medians of {a.repeat} rounds, engines taking turns. "
  f"Load average before/after: {load_before[0]:.1f} / {load_after[0]:.1f} "
  f"(other work on the machine slows every engine; compare ratios from one run).")
P("")
P("| engine | (a) sent/s | (a) tok/s | (b) sent/s | (b) tok/s | (b') sent/s | (b') tok/s | (c) p50 ms | (c) p99 ms | peak RSS MB | min cos vs ST (b) |")
P("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for n in names:
    row = [label[n] + (f" ({vers[n]})" if vers[n] else "")]
    for w in ("a", "b", "b'"):
        s = sps(n, w)
        row += [f"{s:.0f}" if s else "-", f"{s * real_tokens[w] / len(files[w]):.0f}" if s else "-"]
    c = results["runs"].get(n, {}).get("c")
    row += [f"{c['p50_ms']:.2f}" if c else "-", f"{c['p99_ms']:.2f}" if c else "-"]
    rss = max(r["max_rss_kb"] for r in results["runs"][n].values()) / 1024
    row += [f"{rss:.0f}", f"{cos[n]:.6f}" if n in cos else ("1 (ref)" if n == "st" else "-")]
    P("| " + " | ".join(row) + " |")
P("")
P("Ratios ours/peer (throughput: higher is better for us; latency: peer p50 / our p50):")
P("")
P("| ours | peer | (a) | (b) | (b') | (c) p50 | (c) p99 |")
P("|---|---|---:|---:|---:|---:|---:|")
def pairs():
    for o in [n for n in names if n.startswith("ours")]:
        for peer in [n for n in names if not is_ours(n)]:
            yield o, peer
    for o in [n for n in names if n.startswith("ours")]:  # new code vs the baseline build
        b = o.replace("ours", "before")
        if b in names:
            yield o, b
for o, peer in pairs():
    row = [label[o], label[peer]]
    for w in ("a", "b", "b'"):
        so, sp = sps(o, w), sps(peer, w)
        row.append(f"{so / sp:.2f}x" if so and sp else "-")
    co, cp = results["runs"][o].get("c"), results["runs"][peer].get("c")
    row += [f"{cp['p50_ms'] / co['p50_ms']:.2f}x" if co and cp else "-",
            f"{cp['p99_ms'] / co['p99_ms']:.2f}x" if co and cp else "-"]
    P("| " + " | ".join(row) + " |")
P("")
P(f"GEMM peaks measured now (oneDNN sgemm and matmul primitive, {a.threads} threads, best of 30, M x N x K): " +
  "; ".join(f"{x['M']}x{x['N']}x{x['K']}: f32 {x['f32_gflops']:.0f} GFLOP/s (sgemm {x['sgemm_gflops']:.0f}), "
            f"bf16 {x.get('bf16_gflops', 0):.0f}, int8 {x['int8_gops']:.0f} GOP/s"
            for x in big))
P(f"Peaks used: f32 {peak_f32:.0f} GFLOP/s, bf16 {peak_bf16:.0f} GFLOP/s, int8 {peak_i8:.0f} GOP/s.")
for n, pk, unit in (("ours", peak_f32, "GFLOP/s"), ("ours-bf16", peak_bf16, "GFLOP/s")):
    for w in ("a", "b"):
        r = results["runs"].get(n, {}).get(w)
        if r and r.get("gemm_big_s"):
            ach = r["gemm_big_flop"] / r["gemm_big_s"] * 1e-9
            allr = r["gemm_flop"] / r["gemm_s"] * 1e-9
            P(f"GEMM efficiency {label[n]} ({w}), end to end: big shapes {ach:.0f} {unit} = "
              f"{100 * ach / pk:.0f}% of peak; all linears {allr:.0f} {unit} = {100 * allr / pk:.0f}%; "
              f"linears take {100 * r['gemm_s'] / min(r['times']):.0f}% of the run.")
for k, v in cos.items():
    if " vs " in k:
        P(f"Min cosine {k} fp32 over the corpus: {v:.5f}")
for w in ("a", "b"):  # our int8 path against the int8 GEMM peak
    r = results["runs"].get("ours-int8", {}).get(w)
    if r and r.get("gemm_s"):
        allr = r["gemm_flop"] / r["gemm_s"] * 1e-9
        P(f"int8 linears, {label['ours-int8']} ({w}), end to end (quantization and epilogues included): "
          f"{allr:.0f} GOP/s = {100 * allr / peak_i8:.0f}% of the int8 peak")
for prec, rows in per_layer.items():
    P("")
    P(f"Per-layer error, {prec} (only the named layers in {prec}, the rest fp32; cosine to fp32 over the "
      f"{len(sent)} test sentences of the real model):")
    P("")
    P("| layers | worst cosine | mean cosine |")
    P("|---|---:|---:|")
    for label_, worst, mean in rows:
        P(f"| {label_} | {worst:.6f} | {mean:.6f} |")
table = "\n".join(lines)
print(table)
results["table"] = table
with open(os.path.join(work, "results.json"), "w") as f:
    json.dump(results, f, indent=1)
with open(os.path.join(work, "results.md"), "w") as f:
    f.write(table + "\n")
