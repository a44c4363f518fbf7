#!/usr/bin/env python3
"""The binding's overhead against the CLI on the same corpus and model.

Both run the same library: the CLI as `ipfs-accelerate embed --model DIR
CORPUS -o OUT.npy`, the binding as a fresh Python process that imports
ipfs_accelerate, loads the model, encodes the corpus (batch_size 256, as
the CLI) and saves the same .npy. Runs alternate (CLI, Python, CLI, ...)
so machine load hits both alike; the best of N runs of each is compared,
in wall time and in CPU time (user+sys of the process: steadier than wall
time on a shared machine; run with OMP_WAIT_POLICY=passive there so that
spinning OpenMP workers do not count as work).
It also checks the two outputs agree (cosine >= 0.99999).

    python/benchmarks/overhead.py --cli build/ipfs-accelerate \
        --model "$(scripts/fetch-model.sh)" --corpus data/corpus.txt --reps 3
(run with PYTHONPATH=python and IPFS_ACCELERATE_LIB=build/libipfs_accelerate.so,
or an installed package; the Python that runs it needs numpy).
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

CHILD = r"""
import sys, time
t0 = time.perf_counter()
import numpy as np
import ipfs_accelerate as ia
model_dir, corpus, out = sys.argv[1:4]
with open(corpus, encoding="utf-8") as f:
    lines = [l.rstrip("\n") for l in f]
m = ia.Model(model_dir)
t1 = time.perf_counter()
v = m.encode(lines, batch_size=256)
t2 = time.perf_counter()
np.save(out, v)
print(f"{t1 - t0:.4f} {t2 - t1:.4f}")
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    with open(a.corpus, encoding="utf-8") as f:
        n = sum(1 for _ in f)
    tmp = tempfile.mkdtemp()
    cli_out, py_out = os.path.join(tmp, "cli.npy"), os.path.join(tmp, "py.npy")
    cli_t, py_t, py_enc, cli_cpu, py_cpu = [], [], [], [], []

    def cpu():
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    for _ in range(a.reps):
        t, c = time.perf_counter(), cpu()
        subprocess.run([a.cli, "embed", "-q", "--model", a.model, a.corpus, "-o", cli_out],
                       check=True)
        cli_t.append(time.perf_counter() - t)
        cli_cpu.append(cpu() - c)
        t, c = time.perf_counter(), cpu()
        r = subprocess.run([sys.executable, "-c", CHILD, a.model, a.corpus, py_out],
                           check=True, capture_output=True, text=True)
        py_t.append(time.perf_counter() - t)
        py_cpu.append(cpu() - c)
        py_enc.append(float(r.stdout.split()[1]))
    x, y = np.load(cli_out).astype(np.float64), np.load(py_out).astype(np.float64)
    cos = (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1) + 1e-30)
    best_cli, best_py = min(cli_t), min(py_t)
    print(f"corpus: {a.corpus} ({n} texts), model: {a.model}, runs: {a.reps} each")
    print(f"CLI      end to end: best {best_cli:.3f} s  (all: {', '.join(f'{t:.3f}' for t in cli_t)})")
    print(f"Python   end to end: best {best_py:.3f} s  (all: {', '.join(f'{t:.3f}' for t in py_t)})")
    print(f"Python   encode() only: best {min(py_enc):.3f} s ({n / min(py_enc):.1f} sentences/s)")
    print(f"CLI      CPU time (user+sys): best {min(cli_cpu):.3f} s, median {sorted(cli_cpu)[len(cli_cpu) // 2]:.3f} s")
    print(f"Python   CPU time (user+sys): best {min(py_cpu):.3f} s, median {sorted(py_cpu)[len(py_cpu) // 2]:.3f} s")
    print(f"overhead of the binding, end to end (best wall): {100 * (best_py / best_cli - 1):+.1f} %")
    print(f"overhead of the binding, CPU time (best): {100 * (min(py_cpu) / min(cli_cpu) - 1):+.1f} %")
    print(f"outputs agree: min cosine {cos.min():.7f}")


if __name__ == "__main__":
    main()
