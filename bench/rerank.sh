#!/usr/bin/env bash
# `make bench-rerank`: reranking 100 (query, document) pairs per query, ours
# (the Python binding on build-bench's library) against ONNX Runtime on the
# same cross-encoder shape (bench/rerank.py). THREADS (default 2) for both.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bench/setup.sh
cmake -S . -B build-bench -DIA_WERROR=ON -DCMAKE_BUILD_TYPE=Release -DIA_BUILD_TESTS=OFF \
  -DIA_BUILD_BENCH=ON >/dev/null
cmake --build build-bench -j 2 --target ipfs_accelerate >/dev/null
scripts/fetch-model.sh >/dev/null
IPFS_ACCELERATE_LIB=build-bench exec .cache/bench-venv/bin/python bench/rerank.py --threads "${THREADS:-2}" "$@"
