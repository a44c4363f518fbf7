#!/bin/sh
# Models by CID, end to end on 127.0.0.1: `model add` on one machine's
# store, a trustless gateway serving it, and `embed --model ipfs://CID` on a
# second, empty store that fetches the model through the gateway with every
# block verified. The embeddings equal those from the folder itself.
# Usage: ipfs_model_test.sh IPFS_ACCELERATE MODEL_DIR
set -u
ia=$1 model=$2
tmp=$(mktemp -d)
gw=
trap '[ -n "$gw" ] && kill $gw 2>/dev/null; rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { if eval "$2"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1" >&2; fi; }
# Nothing beyond 127.0.0.1: no public gateways, no kubo node.
export IPFS_ACCELERATE_IPFS_TIMEOUT=10s IPFS_ACCELERATE_IPFS_GATEWAYS= IPFS_ACCELERATE_IPFS_LOCAL_NODE=

cid=$(IPFS_ACCELERATE_HOME="$tmp/a" "$ia" model add "$model" 2>"$tmp/err")
check "model add prints a CID" "[ -n '$cid' ]"
"$ia" embed -q --model "$model" --text "content addressed" >"$tmp/folder.jsonl"

IPFS_ACCELERATE_HOME="$tmp/a" "$ia" embed -q --model "ipfs://$cid" --text "content addressed" >"$tmp/local.jsonl" 2>"$tmp/err"
check "ipfs://CID from the local store" "cmp -s '$tmp/folder.jsonl' '$tmp/local.jsonl'"

# The second machine: an empty store whose only source is the gateway.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
IPFS_ACCELERATE_HOME="$tmp/a" "$ia" gateway --listen "127.0.0.1:$port" >"$tmp/gw.log" 2>&1 &
gw=$!
i=0
until curl -sf -o /dev/null "http://127.0.0.1:$port/ipfs/$cid?format=raw" || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
IPFS_ACCELERATE_HOME="$tmp/b" IPFS_ACCELERATE_IPFS_GATEWAYS="http://127.0.0.1:$port" \
    "$ia" embed -q --model "/ipfs/$cid" --text "content addressed" >"$tmp/remote.jsonl" 2>"$tmp/err"
check "ipfs://CID fetched through a gateway embeds the same" "cmp -s '$tmp/folder.jsonl' '$tmp/remote.jsonl'"
check "the fetched blocks are in the second store" "IPFS_ACCELERATE_HOME='$tmp/b' '$ia' store verify >/dev/null 2>&1"

kill $gw; wait $gw 2>/dev/null; gw=
IPFS_ACCELERATE_HOME="$tmp/c" IPFS_ACCELERATE_IPFS_GATEWAYS="http://127.0.0.1:$port" \
    "$ia" embed -q --model "ipfs://$cid" --text x >/dev/null 2>"$tmp/err"
check "unreachable model: exit 1, names the reference" "[ $? -eq 1 ] && grep -q '$cid' '$tmp/err'"

echo "ipfs model: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
