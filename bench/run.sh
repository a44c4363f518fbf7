#!/usr/bin/env bash
# `make bench`: set up the benchmark venv (once), build our engine in
# build-bench (Release), build the bench drivers, run bench/run.py.
# Extra arguments go to bench/run.py (e.g. --repeat 5 --corpus-n 2500).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bench/setup.sh
cmake -S . -B build-bench -DIA_WERROR=ON -DCMAKE_BUILD_TYPE=Release -DIA_BUILD_TESTS=OFF \
  -DIA_BUILD_BENCH=ON >/dev/null
cmake --build build-bench -j 2 --target ia_bench gemm_peak >/dev/null
scripts/fetch-model.sh >/dev/null
# The baseline: main as it was before the engine core (BENCH_BASELINE, a
# commit), built the same way from `git archive` into .cache/bench-base,
# runs the same workloads in the same rounds ("before"). BENCH_BASELINE=
# (empty) skips it.
baseline=${BENCH_BASELINE-69b676a}
base_args=()
if [ -n "$baseline" ] && git rev-parse -q --verify "$baseline^{commit}" >/dev/null; then
  src=.cache/bench-base/$baseline
  if [ ! -x "$src/build/bench/ia_bench" ]; then
    rm -rf "$src" && mkdir -p "$src"
    git archive "$baseline" | tar -x -C "$src"
    cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DIA_BUILD_TESTS=OFF -DIA_BUILD_BENCH=ON >/dev/null
    cmake --build "$src/build" -j 2 --target ia_bench >/dev/null
  fi
  base_args=(--baseline-bench "$src/build/bench/ia_bench" --baseline-name "main $baseline (before the engine core)")
elif [ -n "$baseline" ]; then
  echo "bench: BENCH_BASELINE=$baseline is not a commit here (a shallow clone?); no baseline run" >&2
fi
exec .cache/bench-venv/bin/python bench/run.py --ia-bench build-bench/bench/ia_bench \
  --gemm-peak build-bench/bench/gemm_peak "${base_args[@]}" "$@"
