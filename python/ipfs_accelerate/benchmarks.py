"""The benchmark database and the advisor from Python (docs/benchmarks.md).

``load(db=None)`` reads the runs ``ipfs-accelerate bench`` stored (the
``bench_runs`` view: one row per run, with its model, shape, hardware and
figures) into a pandas DataFrame; ``open_duckdb(db=None)`` opens the same file
in DuckDB, read-only, for SQL over the runs. ``advise(model, ...)`` answers what
``ipfs-accelerate advise --json`` answers: which device, precision, batch
size and threads to run a model with, with predicted figures and reasons.

The database and the advisor live in the command-line tool (they link
SQLite, which the shared library does not), so ``advise`` runs the CLI:
``$IPFS_ACCELERATE_CLI``, else ``ipfs-accelerate`` beside the loaded
library (a build tree), else on ``PATH``. ``load`` reads the SQLite file
directly with the standard library's ``sqlite3``, read-only.
"""

import json
import os
import shutil
import sqlite3
import subprocess

from .errors import InvalidInputError, NotFoundError


def default_db() -> str:
    """$IPFS_ACCELERATE_HOME/bench.db, else ~/.ipfs_accelerate/bench.db (as the CLI)."""
    home = os.environ.get("IPFS_ACCELERATE_HOME") or os.path.join(os.path.expanduser("~"), ".ipfs_accelerate")
    return os.path.join(home, "bench.db")


def load(db: str | None = None):
    """Every stored run as a pandas DataFrame, oldest first (the columns of
    the ``bench_runs`` view; docs/benchmarks.md lists them). Raises
    ImportError naming pandas when it is not installed, NotFoundError
    naming the file when there is no database there."""
    try:
        import pandas as pd
    except ImportError as e:
        raise ImportError("ipfs_accelerate.benchmarks.load needs pandas: pip install pandas") from e
    path = db or default_db()
    if not os.path.isfile(path):
        raise NotFoundError(f"no benchmark database at {path} (run 'ipfs-accelerate bench' to make one)")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        have = con.execute("SELECT 1 FROM sqlite_master WHERE name = 'bench_runs'").fetchone()
        if not have:
            raise InvalidInputError(f"{path}: not a benchmark database of this engine (no bench_runs view)")
        df = pd.read_sql_query("SELECT * FROM bench_runs ORDER BY id", con)
    finally:
        con.close()
    if "timestamp" in df.columns:
        df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True, errors="coerce")
    return df


def _sqlite_extension(duckdb_module) -> str:
    """The statement that loads DuckDB's sqlite extension: from the PyPI
    package ``duckdb-extension-sqlite-scanner`` of the same version when it
    is installed (no download), else DuckDB's own extension directory."""
    try:
        import duckdb_extension_sqlite_scanner as ext
    except ImportError:
        return "LOAD sqlite"
    version = "v" + duckdb_module.__version__
    path = os.path.join(os.path.dirname(ext.__file__), "extensions", version, "sqlite_scanner.duckdb_extension")
    if not os.path.isfile(path):
        have = os.listdir(os.path.join(os.path.dirname(ext.__file__), "extensions"))
        raise ImportError(f"duckdb-extension-sqlite-scanner holds {', '.join(have)}, not {version} for duckdb "
                          f"{duckdb_module.__version__}: install the same version of both")
    return "LOAD '" + path.replace("'", "''") + "'"


def open_duckdb(db: str | None = None):
    """A DuckDB connection with the benchmark database attached read-only
    as ``bench`` and in use, so ``con.sql("SELECT ... FROM bench_runs")``
    works. Needs ``pip install duckdb duckdb-extension-sqlite-scanner`` (the
    same version: the extension from PyPI, no download), or DuckDB's sqlite
    extension installed. Raises ImportError naming what is missing,
    NotFoundError naming the file when there is no database there."""
    try:
        import duckdb as ddb
    except ImportError as e:
        raise ImportError("ipfs_accelerate.benchmarks.open_duckdb needs duckdb: "
                          "pip install duckdb duckdb-extension-sqlite-scanner") from e
    path = os.fspath(db or default_db())
    if not os.path.isfile(path):
        raise NotFoundError(f"no benchmark database at {path} (run 'ipfs-accelerate bench' to make one)")
    con = ddb.connect()
    try:
        try:
            con.execute(_sqlite_extension(ddb))
        except ddb.Error as e:
            raise ImportError("DuckDB's sqlite extension cannot be loaded (" + str(e).splitlines()[0] +
                              "): pip install duckdb-extension-sqlite-scanner==" + ddb.__version__) from e
        con.execute("ATTACH '" + path.replace("'", "''") + "' AS bench (TYPE sqlite, READ_ONLY)")
        con.execute("USE bench")
    except BaseException:
        con.close()
        raise
    return con


def _cli() -> str:
    env = os.environ.get("IPFS_ACCELERATE_CLI")
    if env:
        return env
    try:
        from ._lib import library_path
        near = os.path.join(os.path.dirname(library_path()), "ipfs-accelerate")
        if os.access(near, os.X_OK):
            return near
    except Exception:  # no library loaded: PATH below
        pass
    found = shutil.which("ipfs-accelerate")
    if not found:
        raise NotFoundError("the ipfs-accelerate CLI is not found: set IPFS_ACCELERATE_CLI or put it on PATH")
    return found


def advise(model: str, *, latency_ms: float | None = None, throughput: bool = False,
           context: int | None = None, db: str | None = None, timeout: float = 300) -> dict:
    """The advice on model as a dict (``ipfs-accelerate advise --json``):
    ``options`` (each device and precision: usable, predicted figures,
    why), ``recommendation`` (device, precision, batch_size, threads,
    latency_ms, texts_per_s or tokens_per_s, memory_bytes; None when
    nothing can run it) and ``reasons``. Goal: the lowest latency, or
    ``throughput``, or the most throughput within ``latency_ms``. Raises
    InvalidInputError with the CLI's message (naming the input at fault)."""
    if throughput and latency_ms is not None:
        raise InvalidInputError("advise: latency_ms and throughput are two goals; give one")
    args = [_cli(), "advise", "--model", os.fspath(model), "--json"]
    if latency_ms is not None:
        args += ["--latency-ms", repr(float(latency_ms))]
    if throughput:
        args.append("--throughput")
    if context is not None:
        args += ["--context", str(int(context))]
    if db is not None:
        args += ["--db", os.fspath(db)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        msg = p.stderr.strip().replace("ipfs-accelerate: ", "", 1) or f"exit status {p.returncode}"
        raise InvalidInputError(f"advise: {msg}")
    return json.loads(p.stdout)
