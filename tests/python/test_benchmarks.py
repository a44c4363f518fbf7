"""ipfs_accelerate.benchmarks: advise() through the CLI on the synthetic
tiny model, and load() of a database written by `ipfs-accelerate bench`
(skipped, with the reason, where pandas is not installed)."""
import os
import subprocess

import pytest

from ipfs_accelerate import benchmarks
from ipfs_accelerate.errors import InvalidInputError, NotFoundError

SYNTH = os.environ.get("IA_SYNTH_DIR", "build/tests/models")
TINY = os.path.join(SYNTH, "tiny-f32")


def test_advise(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("IPFS_ACCELERATE_CLI", cli)
    db = tmp_path / "bench.db"
    doc = benchmarks.advise(TINY, context=16, db=db)
    rec = doc["recommendation"]
    assert rec["device"] == "cpu:0" and rec["predicted"] and rec["latency_ms"] > 0
    assert doc["context"] == 16 and doc["reasons"]
    thr = benchmarks.advise(TINY, throughput=True, context=16, db=db)
    assert thr["goal"] == "throughput"
    with pytest.raises(InvalidInputError, match="no-such-model"):
        benchmarks.advise(str(tmp_path / "no-such-model"), db=db)
    with pytest.raises(InvalidInputError, match="two goals"):
        benchmarks.advise(TINY, throughput=True, latency_ms=5)


def test_load(cli, tmp_path):
    """load() into pandas and open_duckdb() on the same file (the test venv
    has both: tests/requirements.txt); the same rows either way."""
    db = tmp_path / "runs.db"
    with pytest.raises(NotFoundError, match="runs.db"):
        benchmarks.load(db)
    with pytest.raises(NotFoundError, match="runs.db"):
        benchmarks.open_duckdb(db)
    subprocess.run([cli, "bench", "--model", TINY, "-b", "1,2", "-s", "8", "--threads", "1", "--time-limit",
                    "0.2", "--min-samples", "3", "--db", str(db), "-q"], check=True, capture_output=True)
    df = benchmarks.load(db)
    assert len(df) == 2 and sorted(df["batch_size"]) == [1, 2]
    assert (df["texts_per_s"] > 0).all() and (df["seq_len"] == 8).all()
    assert str(df["timestamp"].dtype).startswith("datetime64")
    con = benchmarks.open_duckdb(db)
    got = con.execute("SELECT id, batch_size, texts_per_s FROM bench_runs ORDER BY id").fetchall()
    con.close()
    assert got == list(df[["id", "batch_size", "texts_per_s"]].itertuples(index=False, name=None))
