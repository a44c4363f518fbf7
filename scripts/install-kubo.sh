#!/usr/bin/env bash
# Build kubo (the reference IPFS implementation) for the cross-check tests.
# kubo is a test oracle only; it is never part of the product path.
#
# Installs `ipfs` into a cache outside the repository, built from source
# fetched through the Go module proxy:
#   ${IA_KUBO_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-accelerate-dev/kubo}/ipfs
# Idempotent: does nothing when the pinned version is already there.
# Quiet unless it fails. Prints the binary's path on success.
#
# Why not `go install github.com/ipfs/kubo/cmd/ipfs@VERSION`: that form
# looks up the module's version list (for deprecation notices), which the
# proxy we can reach refuses. A throwaway module that requires the pinned
# kubo resolves exactly kubo's own dependency versions (kubo is the only
# requirement, so minimal version selection picks what its go.mod says)
# and builds the same binary.
set -euo pipefail

KUBO_VERSION="${IA_KUBO_VERSION:-v0.41.0}"
dir="${IA_KUBO_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-accelerate-dev/kubo}"
bin="$dir/ipfs"
stamp="$dir/.version"

if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$KUBO_VERSION" ]]; then
    echo "$bin"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    # the official Go tarball's place, when it is not on PATH (e.g. under CTest)
    for d in /usr/local/go/bin "$HOME/go/bin" /usr/lib/go/bin; do
        [ -x "$d/go" ] && PATH="$d:$PATH" && break
    done
fi
if ! command -v go >/dev/null 2>&1; then
    echo "install-kubo.sh: Go is not installed (not on PATH, nor in /usr/local/go/bin); cannot build kubo" >&2
    exit 1
fi

mkdir -p "$dir"
# One build at a time (tests running in parallel may all ask for kubo).
exec 9>"$dir/.lock"
flock 9
if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$KUBO_VERSION" ]]; then
    echo "$bin"
    exit 0
fi
work="$dir/build-module"
log="$dir/build.log"
rm -rf "$work"
mkdir -p "$work"
gover="$(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')"
cat >"$work/go.mod" <<EOF
module ia-kubo-build

go $gover

require github.com/ipfs/kubo $KUBO_VERSION
EOF

if ! (cd "$work" && CGO_ENABLED=0 go build -mod=mod -trimpath -o "$bin.tmp" \
        github.com/ipfs/kubo/cmd/ipfs) >"$log" 2>&1; then
    echo "install-kubo.sh: building kubo $KUBO_VERSION failed; see $log" >&2
    tail -20 "$log" >&2
    exit 1
fi
mv -f "$bin.tmp" "$bin"
echo "$KUBO_VERSION" >"$stamp"
rm -rf "$work"
echo "$bin"
