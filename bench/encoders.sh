#!/usr/bin/env bash
# `make bench-encoders`: `make bench`'s length-sorted corpus (b') for the
# other encoder families, ours against ONNX Runtime in fp32: the real
# all-mpnet-base-v2 (scripts/fetch-mpnet.sh) and an XLM-R-shaped model
# (bench/make_xlmr.py: xlm-roberta-base's layers, random weights). Extra
# arguments go to bench/run.py for each (e.g. --repeat 5).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bench/setup.sh
mpnet=$(scripts/fetch-mpnet.sh)
xlmr=$(.cache/bench-venv/bin/python bench/make_xlmr.py .cache/bench/models/xlmr-base-random | tail -n 1) # the path: its last line
for m in "$mpnet" "$xlmr"; do
  echo "== $(basename "$m")"
  BENCH_BASELINE= bench/run.sh --model "$m" --engines ours,ort --workloads "b'" --precisions fp32 \
    --no-per-layer "$@" | tee ".cache/bench/results-$(basename "$m").md"
done
