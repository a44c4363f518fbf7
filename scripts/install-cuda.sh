#!/usr/bin/env bash
# The CUDA 13.0 toolkit from NVIDIA's PyPI wheels, for building the CUDA
# backend (src/backend/cuda/, docs/cuda.md) on a machine with no system
# toolkit and no GPU: nvcc with NVVM and its headers (crt, cccl), the
# runtime (cudart, static too) and cuBLAS. Installed into a cache outside
# git (.cache/cuda/13.0, or $IA_CUDA_CACHE), once: a second run only prints
# the prefix. Prints the prefix that -DIA_CUDA_HOME takes (bin/nvcc,
# include/, lib/) on its last line.
#
# 13.0 because it is what the lent GPU machine's driver (580) and nvcc run
# (.library device notes): a plugin built here then loads there too. The
# "-cu13" package names are empty stubs and the -cu12 nvcc wheel has no
# nvcc, hence these names. Debian's gcc 12 is a host compiler nvcc 13
# accepts.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${IA_CUDA_CACHE:-$PWD/.cache/cuda/13.0}
prefix=$cache/nvidia/cu13
stamp=$cache/.installed

if [ ! -f "$stamp" ]; then
  echo "install-cuda: the CUDA 13.0 wheels into $cache (about 1 GB, once)" >&2
  rm -rf "$cache.tmp"
  python3 -m pip install -q --disable-pip-version-check --no-deps --no-compile --target "$cache.tmp" \
    'nvidia-cuda-nvcc==13.0.*' 'nvidia-nvvm==13.0.*' 'nvidia-cuda-crt==13.0.*' \
    'nvidia-cuda-runtime==13.0.*' 'nvidia-cuda-cccl==13.0.*' 'nvidia-cublas==13.0.*' >&2
  rm -rf "$cache"
  mv "$cache.tmp" "$cache"
  # The wheels put each library's unversioned link nowhere: the linker
  # needs libcudart.so / libcublas.so (or the static archives).
  for lib in "$prefix"/lib/lib*.so.*; do
    base=${lib%%.so.*}.so
    [ -e "$base" ] || ln -s "$(basename "$lib")" "$base"
  done
  touch "$stamp"
fi
if [ ! -x "$prefix/bin/nvcc" ]; then
  echo "install-cuda: $prefix/bin/nvcc is missing: the wheels' layout changed?" >&2
  exit 1
fi
echo "$prefix"
