#!/usr/bin/env bash
# Install llama.cpp prebuilt for this platform from npm (node-llama-cpp and
# its @node-llama-cpp/linux-x64 binaries, pinned; no compile: install
# scripts off) into the per-user cache (beside the models: a fresh clone
# reuses it), and print that folder. A test oracle only. Idempotent.
# Exit 77 when npm's registry cannot be reached.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${IA_DEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-accelerate-dev}/node-llama-cpp
version=3.22.1
if [ -f "$dir/.ready-$version" ]; then
    echo "$dir"
    exit 0
fi
command -v npm >/dev/null || { echo "llamacpp_setup: npm is not installed" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || npm init -y >/dev/null
if ! npm install --no-audit --no-fund --silent --ignore-scripts --omit=optional \
       "node-llama-cpp@$version" "@node-llama-cpp/linux-x64@$version" >&2; then
    if ! npm ping >/dev/null 2>&1; then
        echo "llamacpp_setup: the npm registry is unreachable" >&2
        exit 77
    fi
    exit 1
fi
touch ".ready-$version"
echo "$dir"
