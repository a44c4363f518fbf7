#!/bin/sh
# Regenerate tests/tensor/ggml_golden.txt from ggml itself:
#   [GGML_REV=label] tests/tensor/gen_ggml_golden.sh /path/to/ggml-or-llama.cpp [build-dir]
# Builds ggml's base library (no CPU backend: the reference quantizers and
# dequantizers live there) without -march=native, so no fused multiply-add
# rounds differently from the C source, links gen_ggml_golden.c against it
# and writes the goldens. Needs cmake and a C/C++ compiler; a few minutes.
set -eu
src=${1:?usage: $0 /path/to/ggml-or-llama.cpp [build-dir]}
build=${2:-${TMPDIR:-/tmp}/ia-ggml-golden}
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$src/ggml/CMakeLists.txt" ] && src=$src/ggml # a llama.cpp checkout
rev=${GGML_REV:-$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)}

cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
  -DGGML_NATIVE=OFF -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" --target ggml-base -j"$(nproc)" >/dev/null
lib=$(find "$build" -name 'libggml-base.a' | head -n1)
cc -std=c11 -O2 -I"$src/include" -I"$here" "$here/gen_ggml_golden.c" "$lib" \
  -lstdc++ -lm -lpthread -o "$build/gen_ggml_golden"
"$build/gen_ggml_golden" "$rev" >"$here/ggml_golden.txt"
echo "wrote $here/ggml_golden.txt (ggml $rev)"
