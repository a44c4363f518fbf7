#!/usr/bin/env bash
# Install Helia's @helia/verified-fetch and Node 22 (npm package node@22)
# for the network test's Helia client into the per-user cache (where the
# models and kubo are: a fresh clone reuses it), and print that folder.
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${IA_DEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-accelerate-dev}/helia
if [ -x "$dir/node_modules/node/bin/node" ] && [ -d "$dir/node_modules/@helia/verified-fetch" ]; then
    echo "$dir"
    exit 0
fi
command -v npm >/dev/null || { echo "helia_setup: npm is not installed" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || npm init -y >/dev/null
npm install --no-audit --no-fund --silent node@22 @helia/verified-fetch@8 >/dev/null
echo "$dir"
