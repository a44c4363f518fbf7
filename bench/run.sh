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
exec .cache/bench-venv/bin/python bench/run.py --ia-bench build-bench/bench/ia_bench \
  --gemm-peak build-bench/bench/gemm_peak "$@"
