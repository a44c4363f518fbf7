#!/usr/bin/env bash
# Creates the benchmark-only Python environment in .cache/bench-venv:
# torch + sentence-transformers (PyTorch peer), onnxruntime + onnx (ONNX
# Runtime peer, export through torch), llama-cpp-python (builds llama.cpp from
# source; its sdist carries convert_hf_to_gguf.py) and gguf (the converter's
# writer). Nothing here is needed by the library, the CLI or `make test`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${IA_BENCH_VENV:-$root/.cache/bench-venv}
py=${PYTHON:-python3}
stamp=$venv/.ia-bench-ready-v1

if [ -f "$stamp" ]; then exit 0; fi
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
pip() { "$venv/bin/python" -m pip --disable-pip-version-check -q "$@"; }
pip install --upgrade pip wheel setuptools >/dev/null

# PyPI only here: torch's PyPI wheel carries CUDA runtime packages; they are
# unused on CPU but are what PyPI offers.
# scikit-build-core: llama-cpp-python's build backend, for its install below
# without build isolation (which would otherwise fail first, noisily).
pip install numpy torch sentence-transformers onnx onnxruntime onnxscript gguf psutil scikit-build-core

# llama.cpp through llama-cpp-python, built from source for this CPU.
# Keep the sdist too: convert_hf_to_gguf.py lives in its vendor/llama.cpp.
src=$venv/src
mkdir -p "$src"
if ! ls "$src"/llama_cpp_python-*.tar.gz >/dev/null 2>&1; then
  pip download --no-deps --no-binary :all: -d "$src" llama-cpp-python
fi
if ! "$venv/bin/python" -c 'import llama_cpp' 2>/dev/null; then
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF}" \
    pip install --no-build-isolation "$src"/llama_cpp_python-*.tar.gz || \
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF}" \
    pip install "$src"/llama_cpp_python-*.tar.gz
fi
( cd "$src" && d=$(ls -d llama_cpp_python-*/ 2>/dev/null | head -1 || true); \
  [ -n "$d" ] || tar xzf llama_cpp_python-*.tar.gz )
touch "$stamp"
