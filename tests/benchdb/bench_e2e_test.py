"""`ipfs-accelerate bench` end to end on the synthetic tiny model: a small
matrix with a short time limit into a fresh database, then the database
read directly, as a user would query it.

The readers are the `duckdb` Python package (its sqlite extension from
the PyPI package duckdb-extension-sqlite-scanner, as
ipfs_accelerate.benchmarks.open_duckdb loads it) and Python's sqlite3:
both must give the same rows. Nothing here depends on speed: only the
structure and internal consistency of the figures are checked.

Usage: bench_e2e_test.py IPFS_ACCELERATE MODEL_DIR WORKDIR
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

BATCHES, SEQS = [1, 3], [8, 20]


def run(*args, check=True):
    p = subprocess.run([cli, *args], capture_output=True, text=True, env=env, timeout=120)
    if check and p.returncode != 0:
        sys.exit(f"{args}: exit {p.returncode}\n{p.stderr}")
    return p


# The matrix, as JSON.
p = run("bench", "--model", model, "--batch-sizes", ",".join(map(str, BATCHES)),
        "--seq-lens", ",".join(map(str, SEQS)), "--time-limit", "0.3", "--warmup", "1",
        "--threads", "1", "--db", db, "--json")
doc = json.loads(p.stdout)
assert doc["db"] == db, doc["db"]
runs = doc["runs"]
assert len(runs) == len(BATCHES) * len(SEQS), len(runs)
assert sorted((r["batch_size"], r["seq_len"]) for r in runs) == sorted(
    (b, s) for b in BATCHES for s in SEQS)
for r in runs:
    lat = r["latency_s"]
    assert r["n_samples"] >= 2, r
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"], lat
    assert lat["min"] <= lat["mean"] <= lat["max"], lat
    assert lat["ci95"] >= 0
    if r["converged"]:
        assert lat["ci95"] <= r["target_ci"] * lat["mean"] * (1 + 1e-9), r
        assert r["n_samples"] >= 5, r
    # texts/s is calls * batch / time spent in calls = batch / mean latency
    assert math.isclose(r["texts_per_s"], r["batch_size"] / lat["mean"], rel_tol=1e-6), r
    assert math.isclose(r["tokens_per_s"], r["texts_per_s"] * r["seq_len"], rel_tol=1e-9), r
    assert 0 <= r["n_outliers"] < r["n_samples"]
    assert r["peak_rss_bytes"] > 1 << 20, r
    assert r["energy_j"] is None or r["energy_j"] >= 0, r
    assert r["precision"] == "fp32" and r["precision_used"] == "fp32" and r["threads"] == 1
print(f"bench: {len(runs)} runs, e.g. b={runs[0]['batch_size']} s={runs[0]['seq_len']}: "
      f"{runs[0]['texts_per_s']:.1f} texts/s over {runs[0]['n_samples']} calls")

# The text table and the default database under IPFS_ACCELERATE_HOME.
p = run("bench", "--model", model, "--batch-sizes", "2", "--seq-lens", "10", "--time-limit", "0.2",
        "--threads", "1", "--quiet")
header = p.stdout.splitlines()[0].split()
assert header[:3] == ["batch", "seq", "prec"], p.stdout
assert p.stdout.splitlines()[1].split()[:3] == ["2", "10", "fp32"], p.stdout
assert os.path.exists(os.path.join(work, "home", "bench.db")), "default database"

# --cid records the folder's CID, the one `model add` gives it.
p = run("bench", "--model", model, "--batch-sizes", "1", "--seq-lens", "8", "--time-limit", "0.1",
        "--threads", "1", "--cid", "--no-store", "--json")
want = run("model", "add", "--only-hash", model).stdout.strip()
got = json.loads(p.stdout)
assert got["db"] is None and got["runs"][0]["model_cid"] == want, (got, want)
assert runs[0]["model_cid"] is None, runs[0]

# Energy from a powercap tree (a fake one: counters that do not move read
# as 0 J, not null; the real one is usually root-only).
zone = os.path.join(work, "powercap", "intel-rapl:0")
os.makedirs(zone)
with open(os.path.join(zone, "energy_uj"), "w") as f:
    f.write("123456789\n")
p = subprocess.run([cli, "bench", "--model", model, "--batch-sizes", "1", "--seq-lens", "8",
                    "--time-limit", "0.1", "--threads", "1", "--no-store", "--json"],
                   capture_output=True, text=True, timeout=120,
                   env=dict(env, IPFS_ACCELERATE_POWERCAP_DIR=os.path.dirname(zone)))
assert p.returncode == 0, p.stderr
assert json.loads(p.stdout)["runs"][0]["energy_j"] == 0, p.stdout

# Impossible lengths are refused with a reason, nothing stored.
p = run("bench", "--model", model, "--seq-lens", "1", "--db", db, check=False)
assert p.returncode == 1 and "special tokens" in p.stderr, p.stderr
p = run("bench", "--model", model, "--seq-lens", "100000", "--db", db, check=False)
assert p.returncode == 1 and "limit" in p.stderr, p.stderr
p = run("bench", "--model", model, "--precision", "fp64", check=False)
assert p.returncode == 2, p.stderr

# bench list, both forms.
listed = json.loads(run("bench", "list", "--db", db, "--json").stdout)
assert [r["id"] for r in listed] == sorted(r["id"] for r in runs), listed
assert listed[0]["model_name"] == os.path.basename(model.rstrip("/")), listed[0]
assert listed[0]["architecture"] == "bert" and listed[0]["model_path"], listed[0]
text = run("bench", "list", "--db", db).stdout.splitlines()
assert len(text) == 1 + len(runs) and text[0].split()[0] == "id", text

# The file itself, read directly.
QUERIES = {
    "versions": "SELECT version FROM schema_version ORDER BY version",
    "seed": "SELECT id, model_name, hardware_type, inference_time, throughput, memory_usage,"
            " accuracy_score, metadata FROM benchmark_results ORDER BY id",
    "joined": "SELECT s.batch_size, s.seq_len, s.precision, x.tokens_per_s, h.cpu_model, h.cores,"
              " w.engine_version, m.architecture, m.n_params"
              " FROM benchmark_results r JOIN runs x ON x.result_id = r.id"
              " JOIN shapes s ON s.id = x.shape_id JOIN hardware h ON h.id = x.hardware_id"
              " JOIN software w ON w.id = x.software_id JOIN models m ON m.id = x.model_id"
              " ORDER BY r.id",
}


def read_sqlite3():
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    out = {k: con.execute(q).fetchall() for k, q in QUERIES.items()}
    con.close()
    return out


def read_duckdb():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
    from ipfs_accelerate.benchmarks import open_duckdb  # the loader users get; needs no library

    con = open_duckdb(db)
    out = {k: con.execute(q).fetchall() for k, q in QUERIES.items()}
    con.close()
    return out


rows = read_duckdb()
lite = read_sqlite3()
for k in QUERIES:
    assert len(rows[k]) == len(lite[k]), (k, rows[k], lite[k])
    for a, b in zip(rows[k], lite[k]):
        assert all(x == y or (isinstance(x, float) and math.isclose(x, y, rel_tol=1e-12)) for x, y in zip(a, b)), (k, a, b)
assert [v for (v,) in rows["versions"]] == [1, 2, 3, 4, 5], rows["versions"]
seed = rows["seed"]
assert len(seed) == len(runs), len(seed)
for (rid, name, hw, inf_ms, thr, mem, acc, meta), r in zip(seed, sorted(runs, key=lambda r: r["id"])):
    assert rid == r["id"] and hw == r["hardware_type"] and acc is None
    assert math.isclose(inf_ms, r["latency_s"]["mean"] * 1e3, rel_tol=1e-9)
    assert math.isclose(thr, r["texts_per_s"], rel_tol=1e-9)
    assert math.isclose(mem, r["peak_rss_bytes"] / 2**20, rel_tol=1e-9)
    m = json.loads(meta)
    assert m["batch_size"] == r["batch_size"] and m["seq_len"] == r["seq_len"], m
    assert "energy_j" in m
joined = rows["joined"]
assert len(joined) == len(runs)
assert all(row[5] >= 1 and row[7] == "bert" and row[8] > 0 for row in joined), joined
print(f"read {len(seed)} runs with duckdb and sqlite3: same rows, ok")
