"""`ipfs-accelerate bench predict` and `bench validate` on a decoder: the
real SmolLM2-135M-Instruct Q4_1 GGUF.

predict: prefill and decode points from the op counts and this machine's
peaks (uncalibrated), measured beside them with --measure; the counts are
SmolLM2's (the linear FLOPs and the KV cache in bytes, as
test_benchdb_perfmodel derives them by hand), the file's mixed weight types
give their average bytes per weight, every figure is finite and positive.
validate: both phases measured and stored with their phase, each
calibrated on half its points and checked on the rest: the table's
structure, not its accuracy (docs/benchmarks.md has the figures); predict
then calibrated per phase on those runs.

Usage: bench_decoder_test.py IPFS_ACCELERATE GGUF WORKDIR
"""
import json
import math
import os
import shutil
import sqlite3
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
assert doc["calibration_runs"] == {"prefill": 0, "decode": 0} and doc["threads"] == 1, doc
assert not any(r["calibrated"] for r in doc["predictions"]), doc
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

args = [cli, "bench", "validate", "--model", gguf, "--prefill", "8,16,32,64", "--kv-len", "16,32,64,128",
        "--threads", "1", "--time-limit", "0.2", "--db", db]
p = subprocess.run(args + ["--json"], capture_output=True, text=True, timeout=300)
assert p.returncode == 0, p.stderr
doc = json.loads(p.stdout)
[m] = doc["models"]
assert m["decoder"] is True and set(m["calibration"]) == {"prefill", "decode"}, m
for ph in ("prefill", "decode"):
    assert m["calibration"][ph]["runs"] == 2, m["calibration"]
rows = m["rows"]
assert [(r["phase"], r.get("tokens", r.get("kv_len")), r["role"]) for r in rows] == [
    ("prefill", 8, "calibration"), ("prefill", 16, "held-out"), ("prefill", 32, "calibration"),
    ("prefill", 64, "held-out"), ("decode", 16, "calibration"), ("decode", 32, "held-out"),
    ("decode", 64, "calibration"), ("decode", 128, "held-out")], rows
for r in rows:
    for k in ("roofline_ms", "predicted_ms", "measured_ms", "predicted_tokens_per_s", "predicted_memory_bytes"):
        assert math.isfinite(r[k]) and r[k] > 0, (k, r)
    assert math.isclose(r["error_pct"], 100 * (r["predicted_ms"] - r["measured_ms"]) / r["measured_ms"],
                        rel_tol=1e-9, abs_tol=1e-9), r
assert doc["held_out"] == 4 and doc["within_20pct"] == sum(
    abs(r["error_pct"]) <= 20 for r in rows if r["role"] == "held-out"), doc
con = sqlite3.connect(db)
phases = dict(con.execute("SELECT phase, COUNT(*) FROM runs GROUP BY phase").fetchall())
assert phases == {"prefill": 4, "decode": 4}, phases
con.close()
p = subprocess.run(args + ["--reuse", "-q"], capture_output=True, text=True, timeout=300)
assert p.returncode == 0, p.stderr
lines = p.stdout.splitlines()
assert "prefill: fitted on 2 runs" in lines[0] and lines[-1].startswith("held out: 4,"), p.stdout
con = sqlite3.connect(db)
assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 8  # --reuse measured nothing
con.close()

# predict now calibrates each phase on the stored runs.
p = subprocess.run([cli, "bench", "predict", "--model", gguf, "--prefill", "100", "--kv-len", "300",
                    "--threads", "1", "--db", db, "--json"], capture_output=True, text=True, timeout=300)
assert p.returncode == 0, p.stderr
pred = json.loads(p.stdout)
assert pred["calibration_runs"] == {"prefill": 4, "decode": 4}, pred
assert all(r["calibrated"] and r["latency_ms"] > 0 and r["measured_ms"] is None for r in pred["predictions"]), pred
print(f"decoder validate: {len(rows)} points, {doc['within_20pct']}/4 held out within +-20%")
