#!/usr/bin/env bash
# Build kubo (the reference IPFS implementation) for the cross-check tests.
# kubo is a test oracle only; it is never part of the product path.
#
# Installs `ipfs` into a cache outside the repository through the Go module
# proxy: ${IA_KUBO_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-accelerate-dev/kubo}/ipfs
# Idempotent: does nothing when the pinned version is already there.
# Quiet unless it fails. Prints the binary's path on success.
set -euo pipefail

KUBO_VERSION="${IA_KUBO_VERSION:-v0.38.1}"
dir="${IA_KUBO_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-accelerate-dev/kubo}"
bin="$dir/ipfs"
stamp="$dir/.version"

if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$KUBO_VERSION" ]]; then
    echo "$bin"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "install-kubo.sh: Go is not installed; cannot build kubo" >&2
    exit 1
fi

mkdir -p "$dir"
log="$dir/build.log"
if ! GOBIN="$dir" CGO_ENABLED=0 \
        go install "github.com/ipfs/kubo/cmd/ipfs@$KUBO_VERSION" >"$log" 2>&1; then
    echo "install-kubo.sh: building kubo $KUBO_VERSION failed; see $log" >&2
    tail -20 "$log" >&2
    exit 1
fi
echo "$KUBO_VERSION" >"$stamp"
echo "$bin"
