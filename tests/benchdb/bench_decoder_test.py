"""`ipfs-accelerate bench predict` on a decoder: the real SmolLM2-135M-Instruct
Q4_1 GGUF, prefill and decode points predicted from the op counts and this
machine's peaks (uncalibrated) and measured beside them with --measure.
Checked: the counts are SmolLM2's (the linear FLOPs and the KV cache in
bytes, as test_benchdb_perfmodel derives them by hand), the file's mixed
weight types give their average bytes per weight, every figure is finite
and positive. How close the bare roofline comes is for docs/benchmarks.md.

Usage: bench_predict_decoder_test.py IPFS_ACCELERATE GGUF WORKDIR
"""
import json
import math
import os
import shutil
import subprocess
import sys

cli, gguf, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
db = os.path.join(work, "bench.db")
p = subprocess.run([cli, "bench", "predict", "--model", gguf, "--prefill", "8,32", "--kv-len", "8,64",
                    "--threads", "1", "--measure", "--db", db, "--json"],
                   capture_output=True, text=True, timeout=300)
assert p.returncode == 0, p.stderr
doc = json.loads(p.stdout)
assert doc["calibrated"] is False and doc["threads"] == 1, doc
assert "q4_1" in doc["weight_types"].split(","), doc["weight_types"]
# Between q4_1 (0.625 B) and q8_0 (1.0625 B): the layers q4_1, the token table q8_0.
assert 0.625 < doc["weight_bytes_per_param"] < 1.0625, doc
rows = doc["predictions"]
assert [(r["phase"], r.get("tokens", r.get("kv_len"))) for r in rows] == [
    ("prefill", 8), ("prefill", 32), ("decode", 8), ("decode", 64)], rows
LAYER, HEAD = 3538944, 49152 * 576  # linear weights per layer, LM head (tied)
for r in rows:
    for k in ("latency_ms", "tokens_per_s", "memory_bytes", "measured_ms"):
        assert math.isfinite(r[k]) and r[k] > 0, (k, r)
    n = r["tokens"] if r["phase"] == "prefill" else 1
    assert r["flops"]["linear"] == 2 * n * 30 * LAYER + 2 * HEAD, r
    kv = r["tokens"] if r["phase"] == "prefill" else r["kv_len"]
    assert r["kv_bytes"] == 4 * 2 * kv * 192 * 30, r  # f32 K and V, 3 heads of 64, 30 layers
# Decode reads every weight once a step: memory-bound at the roofline.
d = rows[2]
assert d["bytes"]["linear"] > doc["weight_bytes_per_param"] * (30 * LAYER + HEAD), d
print(f"decoder predict: {len(rows)} points, decode at 64 predicted {rows[3]['latency_ms']:.2f} ms, "
      f"measured {rows[3]['measured_ms']:.2f} ms")
