#!/usr/bin/env bash
# The content layer's commands end to end on a temporary store:
# add/cat/get/ls, car export/import (incl. the fixtures: CARv2, HAMT, a
# DAG with missing blocks), pins, gc, store stat/verify, model add.
# usage: cli_test.sh IPFS_ACCELERATE SHARED_DIR
set -euo pipefail
ia=$1
fix=$2/fixtures/car
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export IPFS_ACCELERATE_HOME=$tmp/home
# nothing outside this machine: no configured gateways, no local node
export IPFS_ACCELERATE_IPFS_GATEWAYS= IPFS_ACCELERATE_IPFS_LOCAL_NODE=
unset IPFS_ACCELERATE_ROUTERS
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

mkdir -p "$tmp/tree/sub"
head -c 3000000 /dev/urandom >"$tmp/tree/a.bin"  # 12 chunks: the parallel hashing path
echo "hello world" >"$tmp/tree/sub/hello.txt"
: >"$tmp/tree/empty"

# vectors through the CLI
check "hello world CID" [ "$(echo 'hello world' | { cat >"$tmp/hw"; "$ia" add -Q --only-hash "$tmp/hw"; })" = QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o ]
check "--only-hash stores nothing" [ "$("$ia" store stat | awk '/^blocks/ {print $2}')" = 0 ]
check "stdin" [ "$(printf 'hello world\n' | "$ia" add -Q --only-hash -)" = QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o ]
check "cid v1" [ "$("$ia" add -Q --only-hash --cid-version 1 "$tmp/hw")" = bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4 ]
check "usage error" bash -c "! '$ia' add --chunker size-0 '$tmp/hw' 2>/dev/null"
check "dir without -r" bash -c "! '$ia' add '$tmp/tree' 2>/dev/null"

root=$("$ia" add -r -Q "$tmp/tree")
check "add -r prints the root" [ -n "$root" ]
check "model add gives the same CID" [ "$("$ia" model add "$tmp/tree")" = "$root" ]
check "cat a path" cmp -s <("$ia" cat "$root/a.bin") "$tmp/tree/a.bin"
check "cat a range" cmp -s <("$ia" cat --offset 262140 --length 10 "/ipfs/$root/a.bin") <(tail -c +262141 "$tmp/tree/a.bin" | head -c 10)
check "ls" bash -c "'$ia' ls '$root' | awk '{print \$3}' | tr '\n' ' ' | grep -qx 'a.bin empty sub '"
"$ia" get "$root" -o "$tmp/out"
check "get a tree" diff -r "$tmp/tree" "$tmp/out"
check "pinned" bash -c "'$ia' pin ls | grep -q recursive"

# CAR round trip into a second store
"$ia" car export "$root" -o "$tmp/x.car" 2>/dev/null
IPFS_ACCELERATE_HOME=$tmp/home2 "$ia" car import "$tmp/x.car" >"$tmp/imp.out" 2>/dev/null
check "car import pins the root" grep -q "pinned root" "$tmp/imp.out"
IPFS_ACCELERATE_HOME=$tmp/home2 "$ia" get "$root" -o "$tmp/out2"
check "get after car import" diff -r "$tmp/tree" "$tmp/out2"

# fixtures: v2, HAMT, missing blocks (reported, not filled in)
IPFS_ACCELERATE_HOME=$tmp/home3 "$ia" car import "$fix/carv2-basic.car" >/dev/null 2>&1 || true
check "CARv2 import" bash -c "IPFS_ACCELERATE_HOME=$tmp/home3 '$ia' pin ls | grep -q QmfEoLyB5NndqeKieExd1rtJzTduQUPEV8TwAYcUiy3H5Z"
IPFS_ACCELERATE_HOME=$tmp/home3 "$ia" car import "$fix/single-layer-hamt-with-multi-block-files.car" >"$tmp/h.out" 2>/dev/null
hroot=$(awk '/pinned root/ {print $3}' "$tmp/h.out")
IPFS_ACCELERATE_HOME=$tmp/home3 "$ia" get "$hroot" -o "$tmp/hamt"
check "HAMT get writes every entry" [ "$(ls "$tmp/hamt" | wc -l)" = "$(IPFS_ACCELERATE_HOME=$tmp/home3 "$ia" ls "$hroot" | wc -l)" ]
if IPFS_ACCELERATE_HOME=$tmp/home3 "$ia" car import "$fix/file-3k-and-3-blocks-missing-block.car" >/dev/null 2>"$tmp/miss.err"; then
    bad "an incomplete CAR must not import cleanly"
else
    check "incomplete DAG reported" grep -q "DAG incomplete" "$tmp/miss.err"
fi
mroot=$(grep -o 'root [A-Za-z0-9]*' "$tmp/miss.err" | head -1 | cut -d' ' -f2)
check "missing blocks are not invented" bash -c "! IPFS_ACCELERATE_HOME=$tmp/home3 '$ia' cat --offline '$mroot' >/dev/null 2>&1"

# kubo's option syntax on the other commands (add's is checked against kubo
# itself by kubo_crosscheck.sh): a flag takes =true/=false, a value follows
# '=' or is glued to its letter; options may follow the operands
ia4() { IPFS_ACCELERATE_HOME=$tmp/home4 "$ia" "$@"; }
hw=QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o
check "add -n=true" [ "$(ia4 add -Q -n=true "$tmp/hw")" = $hw ]
check "add -n=true stores nothing" [ "$(ia4 store stat | awk '/^blocks/ {print $2}')" = 0 ]
check "add --only-hash=false --pin=false" [ "$(ia4 add -Q --only-hash=false --pin=false "$tmp/hw")" = $hw ]
check "--pin=false pins nothing" [ -z "$(ia4 pin ls)" ]
check "pin add -r=false is direct" [ "$(ia4 pin add $hw -r=false)" = "pinned $hw directly" ]
check "pin add --direct=false is recursive" [ "$(ia4 pin add --direct=false $hw)" = "pinned $hw recursively" ]
check "cat -o=N -l=N --offline=true" [ "$(ia4 cat -o=6 -l=5 --offline=true $hw)" = world ]
check "cat --offset=N --length=N" [ "$(ia4 cat $hw --offset=6 --length=5)" = world ]
check "cat -l5 -o 6" [ "$(ia4 cat -l5 -o 6 $hw)" = world ]
ia4 get $hw -o="$tmp/g4" --offline=1 || true
check "get -o=PATH writes PATH" cmp -s "$tmp/g4" "$tmp/hw"
ia4 car export --offline=TRUE $hw --output="$tmp/x4.car" 2>/dev/null || true
check "car export --output=FILE" [ -s "$tmp/x4.car" ]
check "car import --no-pin=false pins" bash -c "IPFS_ACCELERATE_HOME=$tmp/home5 '$ia' car import --no-pin=false '$tmp/x4.car' 2>/dev/null | grep -q 'pinned root $hw'"
usage_error() { # what, a pattern the message must match, then the command
    local what=$1 pattern=$2 rc=0; shift 2
    "$@" >/dev/null 2>"$tmp/usage.err" || rc=$?
    if [ $rc -eq 2 ] && grep -q -- "$pattern" "$tmp/usage.err"; then ok "$what"; else
        bad "$what: want exit 2 and '$pattern', got exit $rc: $(head -1 "$tmp/usage.err")"; fi
}
usage_error "add --raw-leaves=maybe" "--raw-leaves.*maybe" ia4 add -n --raw-leaves=maybe "$tmp/hw"
usage_error "cat --offline=maybe" "--offline.*maybe" ia4 cat --offline=maybe $hw
usage_error "pin add -r=2" "-r.*2" ia4 pin add -r=2 $hw
usage_error "get -o without a value" "-o needs a value" ia4 get $hw -o
usage_error "no abbreviations (kubo has none)" "unknown option '--off'" ia4 cat --off $hw

# pins, gc, stat, verify
before=$("$ia" store stat | awk '/^blocks/ {print $2}')
"$ia" pin rm "$root" >/dev/null
"$ia" add -Q "$tmp/hw" >/dev/null
"$ia" gc --grace 0 >/dev/null
after=$("$ia" store stat | awk '/^blocks/ {print $2}')
check "gc removed the unpinned DAG ($before -> $after blocks)" [ "$after" -lt "$before" ]
check "pinned survives gc" cmp -s <("$ia" cat --offline QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o) "$tmp/hw"
check "verify clean" "$ia" store verify
f=$(ls "$IPFS_ACCELERATE_HOME"/blocks/*/*.data | head -1)
printf 'X' | dd of="$f" bs=1 seek=2 conv=notrunc 2>/dev/null
check "verify fails on damage" bash -c "! '$ia' store verify >/dev/null"
check "damage reported by name" bash -c "'$ia' store verify | grep -q 'damaged: .*$(basename "$f")'"
if [ $fails -ne 0 ]; then echo "FAIL: $fails CLI check(s)"; exit 1; fi
echo "ipfs CLI: all passed"
