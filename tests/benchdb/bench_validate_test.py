"""`ipfs-accelerate bench peaks`, `bench validate` and `bench predict` end
to end on the synthetic tiny model, into a fresh database, with short time
limits.

Only structure and consistency are checked: the peaks are stored once and
read back; the validation table has every grid point once, half of them
held out of the fit (a checkerboard), predictions finite and positive, the
error column equal to (predicted - measured) / measured, the held-out share
counted as the rows say; every run profiled per op class, and the model's
linear FLOPs equal to the backend's own count. How close the predictions are is a measurement
for docs/benchmarks.md, not asserted here (it depends on the machine and
what else runs on it).

Usage: bench_validate_test.py IPFS_ACCELERATE MODEL_DIR WORKDIR
"""
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys

cli, model, work = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
db = os.path.join(work, "bench.db")
env = dict(os.environ, IPFS_ACCELERATE_HOME=os.path.join(work, "home"))
BATCHES, SEQS = [1, 3], [8, 16, 24]


def run(*args, check=True):
    p = subprocess.run([cli, *args], capture_output=True, text=True, env=env, timeout=300)
    if check and p.returncode != 0:
        sys.exit(f"{args}: exit {p.returncode}\n{p.stderr}")
    return p


# Peaks: measured on first use, then read back unchanged.
first = json.loads(run("bench", "peaks", "--db", db, "--threads", "1", "--json").stdout)
assert first["measured_now"] is True and first["threads"] == 1, first
assert first["gemm_flops"]["fp32"] > 0 and math.isfinite(first["gemm_flops"]["fp32"]), first
assert set(first["gemm_flops"]) <= {"fp32", "int8", "bf16"}, first
assert first["memory_bandwidth_bytes_per_s"] > 0 and first["memory_buffer_bytes"] >= 256 << 20, first
again = json.loads(run("bench", "peaks", "--db", db, "--threads", "1", "--json").stdout)
assert again["measured_now"] is False and again["gemm_flops"] == first["gemm_flops"], again
text = run("bench", "peaks", "--db", db, "--threads", "1").stdout
assert text.splitlines()[1].startswith("gemm fp32") and "GB/s" in text, text

# Validation on a small grid.
args = ["bench", "validate", "--model", model, "--batch-sizes", ",".join(map(str, BATCHES)),
        "--seq-lens", ",".join(map(str, SEQS)), "--time-limit", "0.2", "--threads", "1", "--db", db]
doc = json.loads(run(*args, "--json").stdout)
assert doc["db"] == db and doc["precision"] == "fp32" and doc["threads"] == 1, doc
assert doc["peaks"]["measured_now"] is False, doc["peaks"]  # stored above, same machine and threads
[m] = doc["models"]
assert m["model"] == os.path.basename(model.rstrip("/")), m["model"]
rows = m["rows"]
assert sorted((r["batch_size"], r["seq_len"]) for r in rows) == sorted((b, s) for b in BATCHES for s in SEQS)
held = [r for r in rows if r["role"] == "held-out"]
fit = [r for r in rows if r["role"] == "calibration"]
assert len(held) == 3 and len(fit) == 3, rows
for r in rows:
    bi, si = BATCHES.index(r["batch_size"]), SEQS.index(r["seq_len"])
    assert (r["role"] == "held-out") == ((bi + si) % 2 == 1), r
    for k in ("roofline_ms", "predicted_ms", "measured_ms", "predicted_texts_per_s", "predicted_memory_bytes"):
        assert math.isfinite(r[k]) and r[k] > 0, (k, r)
    assert math.isclose(r["error_pct"], 100 * (r["predicted_ms"] - r["measured_ms"]) / r["measured_ms"],
                        rel_tol=1e-9, abs_tol=1e-9), r
    assert r["predicted_memory_bytes"] > r["measured_peak_rss_bytes"] * 0.1, r
    # Each run was profiled: per-class times recorded, and the model's
    # linear FLOPs are the backend's own count exactly.
    assert set(r["measured_op_ms"]) == {"linear", "attention", "other"}, r
    assert all(v >= 0 for v in r["measured_op_ms"].values()) and r["measured_op_ms"]["linear"] > 0, r
    assert all(v > 0 for v in r["roofline_op_ms"].values()), r
    assert r["linear_flop_engine"] == r["linear_flop_model"], r
k = m["calibration"]
assert k["runs"] == 3 and k["per_class"] is True, k
assert all(k[c] >= 0 for c in ("k_linear", "k_attention", "k_other", "k_token_s", "k_call_s")), k
assert k["k_linear"] > 0, k
assert doc["held_out"] == 3 and doc["within_20pct"] == sum(abs(r["error_pct"]) <= 20 for r in held), doc
assert math.isclose(doc["share_within_20pct"], doc["within_20pct"] / 3), doc

# Every measured point was stored; --reuse measures nothing more.
con = sqlite3.connect(db)
n_runs = con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
assert n_runs == len(rows), n_runs
assert con.execute("SELECT COUNT(*) FROM machine_peaks WHERE threads = 1").fetchone()[0] >= 2
con.close()
p = run(*args, "--reuse")
lines = p.stdout.splitlines()
assert "fitted on 3 runs and their profiles" in lines[0], lines[0]
assert lines[1].split() == ["batch", "seq", "role", "roofline_ms", "predicted_ms", "measured_ms", "error",
                            "pred_MiB", "rss_MiB"], lines[1]
assert len([ln for ln in lines if "held-out" in ln]) == 3, p.stdout
assert lines[-1].startswith("held out: 3, within +-20%:"), lines[-1]
con = sqlite3.connect(db)
assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == n_runs
con.close()

# Prediction at any shape from what is stored: calibrated on the profiled
# runs; without runs, the bare roofline, marked so.
pred = json.loads(run("bench", "predict", "--model", model, "--batch-sizes", "1,5", "--seq-lens", "8,40",
                      "--threads", "1", "--db", db, "--json").stdout)
assert pred["calibrated"] is True and pred["per_class"] is True and pred["calibration_runs"] == len(rows), pred
assert [(r["batch_size"], r["seq_len"]) for r in pred["predictions"]] == [(1, 8), (5, 8), (1, 40), (5, 40)]
for r in pred["predictions"]:
    for key in ("latency_ms", "texts_per_s", "tokens_per_s", "memory_bytes", "roofline_ms"):
        assert math.isfinite(r[key]) and r[key] > 0, (key, r)
    assert math.isclose(r["texts_per_s"], r["batch_size"] / (r["latency_ms"] / 1e3), rel_tol=1e-9), r
    assert r["flops"]["linear"] > 0 and r["bytes"]["other"] > 0, r
assert pred["predictions"][0]["measured_ms"] > 0 and pred["predictions"][3]["measured_ms"] is None, pred
bare = os.path.join(work, "bare.db")
shutil.copy(db, bare)
con = sqlite3.connect(bare)
con.execute("DELETE FROM runs")
con.execute("DELETE FROM benchmark_results")
con.commit()
con.close()
p = run("bench", "predict", "--model", model, "--threads", "1", "--db", bare, "--json")
doc2 = json.loads(p.stdout)
assert doc2["calibrated"] is False and "uncalibrated" in p.stderr, p.stderr
assert all(math.isclose(r["latency_ms"], r["roofline_ms"]) for r in doc2["predictions"]), doc2
text = run("bench", "predict", "--model", model, "--threads", "1", "--db", db).stdout.splitlines()
assert text[0].split() == ["batch", "seq", "latency_ms", "texts/s", "tokens/s", "mem_MiB", "measured_ms"], text

# Errors name the input at fault.
p = run("bench", "validate", "--model", os.path.join(work, "no-such-model"), "--db", db, check=False)
assert p.returncode == 1 and "no-such-model" in p.stderr, p.stderr
p = run("bench", "validate", "--model", model, "--precision", "fp64", check=False)
assert p.returncode == 2 and "fp64" in p.stderr, p.stderr
p = run("bench", "validate", "--model", model, "--batch-sizes", "1", "--seq-lens", "8", check=False)
assert p.returncode == 2 and "at least 4 points" in p.stderr, p.stderr
print(f"validate: {len(rows)} points, {doc['within_20pct']}/3 held out within +-20%")
