#!/usr/bin/env bash
# Real peers, both ways, all on 127.0.0.1 (bounded in time):
#  - our client fetches and verifies from a real kubo node (`ipfs daemon
#    --offline`): its trustless gateway and its RPC API (block get and put);
#  - a lying gateway is detected and skipped, a hanging one times out;
#  - a real client reads from our gateway: kubo (`ipfs dag import` of our
#    CAR, which verifies every block) and Helia's @helia/verified-fetch
#    (installed from npm into .cache/helia by tests/ipfs/helia_setup.sh);
#  - Delegated Routing: our client finds our gateway through its
#    /routing/v1/providers answer.
# usage: net_test.sh IPFS_ACCELERATE IA_RPCTOOL SHARED_DIR
set -euo pipefail
ia=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
rpctool=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
shared=$3
if ! kubo=$(scripts/install-kubo.sh); then
    echo "FAIL: kubo could not be built by scripts/install-kubo.sh; the network tests need it" >&2
    exit 1
fi
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# our client reaches only what each check names (no public gateways)
export IPFS_ACCELERATE_IPFS_GATEWAYS= IPFS_ACCELERATE_IPFS_LOCAL_NODE=
unset IPFS_ACCELERATE_ROUTERS
export IPFS_PATH=$tmp/kubo
"$kubo" init --empty-repo --profile test >/dev/null
api=$(freeport); gw=$(freeport)
"$kubo" config Addresses.API "/ip4/127.0.0.1/tcp/$api"
"$kubo" config Addresses.Gateway "/ip4/127.0.0.1/tcp/$gw"
"$kubo" config --json Addresses.Swarm '[]'
"$kubo" daemon --offline >"$tmp/kubo.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    curl -sf -X POST "http://127.0.0.1:$api/api/v0/id" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -sf -X POST "http://127.0.0.1:$api/api/v0/id" >/dev/null || { cat "$tmp/kubo.log"; echo "FAIL: kubo daemon did not start"; exit 1; }
KGW=http://127.0.0.1:$gw
KAPI=http://127.0.0.1:$api

mkdir -p "$tmp/tree/sub/deeper" "$tmp/tree/empty"
head -c 1234567 /dev/urandom >"$tmp/tree/big.bin"
head -c 300 /dev/urandom >"$tmp/tree/sub/small"
echo "text" >"$tmp/tree/sub/deeper/t.txt"
cid_dir=$("$kubo" add -Q -r "$tmp/tree")
cid_big=$("$kubo" add -Q "$tmp/tree/big.bin")
cid_v1=$("$kubo" add -Q --cid-version 1 "$tmp/tree/big.bin")

# 1. our client through kubo's trustless gateway (CAR first, then blocks)
export IPFS_ACCELERATE_HOME=$tmp/h1
if "$ia" get --gateway "$KGW" "$cid_dir" -o "$tmp/out1" && diff -r "$tmp/tree" "$tmp/out1"; then
    ok "get $cid_dir from kubo's gateway: identical tree"
else bad "get through kubo's gateway"; fi
if "$ia" cat --gateway "$KGW" "$cid_big/" >/dev/null && IPFS_ACCELERATE_HOME=$tmp/h1b "$ia" cat --gateway "$KGW" "$cid_big" | cmp -s - "$tmp/tree/big.bin"; then
    ok "cat block by block from kubo's gateway"
else bad "cat through kubo's gateway"; fi

"$kubo" dag export "$cid_dir" >"$tmp/kubo.car" 2>/dev/null
IPFS_ACCELERATE_HOME=$tmp/h1 "$ia" car export --offline "$cid_dir" -o "$tmp/ours.car" 2>/dev/null
if cmp -s "$tmp/kubo.car" "$tmp/ours.car"; then
    ok "car export is byte-identical to kubo's 'ipfs dag export'"
else bad "car export differs from kubo's dag export"; fi

# 2. kubo RPC: block get (through cat) and block put
if IPFS_ACCELERATE_HOME=$tmp/h2 "$ia" cat --kubo-rpc "$KAPI" "$cid_v1" | cmp -s - "$tmp/tree/big.bin"; then
    ok "cat through kubo RPC /api/v0/block/get"
else bad "cat through kubo RPC"; fi
head -c 5000 /dev/urandom >"$tmp/blk"
if put=$("$rpctool" "$KAPI" put "$tmp/blk") && "$kubo" block get "$put" | cmp -s - "$tmp/blk" &&
    "$rpctool" "$KAPI" get "$put" | cmp -s - "$tmp/blk"; then
    ok "block put/get through kubo RPC ($put)"
else bad "block put through kubo RPC"; fi

# 3. a lying gateway is detected every time and skipped
python3 tests/ipfs/bad_gateway.py lie "$KGW" >"$tmp/liar.port" &
pids+=($!)
python3 tests/ipfs/bad_gateway.py hang >"$tmp/hang.port" &
pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/liar.port" ] && [ -s "$tmp/hang.port" ] && break; sleep 0.1; done
LIAR=http://127.0.0.1:$(cat "$tmp/liar.port")
HANG=http://127.0.0.1:$(cat "$tmp/hang.port")
for i in 1 2 3; do
    if IPFS_ACCELERATE_HOME=$tmp/h3-$i "$ia" get --gateway "$LIAR" --gateway "$KGW" "$cid_dir" -o "$tmp/out3-$i" 2>"$tmp/err3" &&
        diff -r "$tmp/tree" "$tmp/out3-$i" && grep -q "wrong" "$tmp/err3"; then
        ok "liar detected and skipped (run $i)"
    else bad "liar run $i: $(head -3 "$tmp/err3")"; fi
done
if IPFS_ACCELERATE_HOME=$tmp/h4 "$ia" cat --gateway "$LIAR" "$cid_big" >/dev/null 2>"$tmp/err4"; then
    bad "a liar alone must fail"
elif IPFS_ACCELERATE_HOME=$tmp/h4 "$ia" store verify >/dev/null && grep -q "wrong bytes" "$tmp/err4"; then
    ok "a liar alone fails: $(tail -1 "$tmp/err4" | cut -c1-120)"
else bad "liar alone: $(cat "$tmp/err4")"; fi

# 4. a hanging gateway times out; the next one answers
start=$(date +%s)
if IPFS_ACCELERATE_HOME=$tmp/h5 "$ia" cat --timeout 1 --gateway "$HANG" --gateway "$KGW" "$cid_big" 2>/dev/null | cmp -s - "$tmp/tree/big.bin"; then
    ok "hanging gateway timed out, next one used ($(( $(date +%s) - start )) s)"
else bad "hang then kubo"; fi
start=$(date +%s)
if IPFS_ACCELERATE_HOME=$tmp/h6 "$ia" cat --timeout 1 --gateway "$HANG" "$cid_big" >/dev/null 2>"$tmp/err6"; then
    bad "a hanging gateway alone must fail"
else
    took=$(( $(date +%s) - start ))
    if [ "$took" -le 15 ] && grep -q "no complete answer within" "$tmp/err6"; then ok "hanging gateway alone: failed in $took s"; else bad "hang alone: $took s: $(cat "$tmp/err6")"; fi
fi

# 5. our gateway, read by real clients
our=$(freeport)
IPFS_ACCELERATE_HOME=$tmp/h1 "$ia" gateway --listen "127.0.0.1:$our" >"$tmp/gw.out" 2>"$tmp/gw.err" &
pids+=($!)
for _ in $(seq 50); do curl -s "http://127.0.0.1:$our/ipfs/$cid_big?format=raw" -o /dev/null 2>/dev/null && break; sleep 0.1; done
OUR=http://127.0.0.1:$our
ct=$(curl -s -o "$tmp/raw" -w '%{http_code} %{content_type}' -H 'Accept: application/vnd.ipld.raw' "$OUR/ipfs/$cid_big")
if [ "$ct" = "200 application/vnd.ipld.raw" ] && "$kubo" block get "$cid_big" | cmp -s - "$tmp/raw"; then
    ok "our gateway: raw block, content type $ct"
else bad "our gateway raw: $ct"; fi
code=$(curl -s -o /dev/null -w '%{http_code}' -I "$OUR/ipfs/$cid_big?format=raw")
[ "$code" = 200 ] && ok "HEAD raw 200" || bad "HEAD: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$OUR/ipfs/bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyka?format=raw")
[ "$code" = 404 ] && ok "absent block 404" || bad "absent block: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$OUR/ipfs/$cid_big")
[ "$code" = 406 ] && ok "no format: 406" || bad "no format: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -I -H 'Accept: application/vnd.ipld.car' "$OUR/ipfs/$cid_dir")
[ "$code" = 200 ] && ok "HEAD car 200" || bad "HEAD car: $code"
# an incomplete DAG in the store: 502 naming the missing block, no CAR
IPFS_ACCELERATE_HOME=$tmp/h1 "$ia" car import "$shared/fixtures/car/file-3k-and-3-blocks-missing-block.car" >/dev/null 2>&1 || true
code=$(curl -s -o "$tmp/502.txt" -w '%{http_code}' "$OUR/ipfs/QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk?format=car")
if [ "$code" = 502 ] && grep -q "missing block" "$tmp/502.txt"; then ok "incomplete DAG: 502, $(cut -c1-80 "$tmp/502.txt")"; else bad "incomplete DAG: $code"; fi
ct=$(curl -s -o "$tmp/our.car" -w '%{http_code} %{content_type}' "$OUR/ipfs/$cid_dir?format=car")
export IPFS_PATH=$tmp/kubo2
"$kubo" init --empty-repo --profile test >/dev/null
if [[ "$ct" == "200 application/vnd.ipld.car"* ]] && "$kubo" dag import "$tmp/our.car" >/dev/null &&
    "$kubo" get -o "$tmp/out5" "$cid_dir" >/dev/null 2>&1 && diff -r "$tmp/tree" "$tmp/out5"; then
    ok "kubo imported our CAR ($ct) and rebuilt the tree"
else bad "kubo reading our CAR: $ct"; fi
curl -s -o "$tmp/path.car" "$OUR/ipfs/$cid_dir/sub/deeper/t.txt?format=car"
if "$kubo" dag import --pin-roots=false "$tmp/path.car" >/dev/null 2>&1; then ok "path CAR imports"; else bad "path CAR"; fi
curl -s -o "$tmp/entity.car" "$OUR/ipfs/$cid_dir?format=car&dag-scope=entity"
curl -s -o "$tmp/block.car" "$OUR/ipfs/$cid_dir?format=car&dag-scope=block"
if [ "$(stat -c %s "$tmp/block.car")" -lt "$(stat -c %s "$tmp/our.car")" ]; then ok "dag-scope=block is smaller"; else bad "dag-scope"; fi
export IPFS_PATH=$tmp/kubo
prov=$(curl -s "$OUR/routing/v1/providers/$cid_big")
if echo "$prov" | grep -q "transport-ipfs-gateway-http" && echo "$prov" | grep -q "/tcp/$our/http"; then
    ok "routing: $prov"
else bad "routing: $prov"; fi
if IPFS_ACCELERATE_HOME=$tmp/h7 "$ia" cat --router "$OUR" "$cid_big" | cmp -s - "$tmp/tree/big.bin"; then
    ok "our client found our gateway through delegated routing"
else bad "routing fetch"; fi
if helia=$(tests/ipfs/helia_setup.sh); then
    cp tests/ipfs/helia_fetch.mjs "$helia/"
    if (cd "$helia" && timeout 60 node_modules/node/bin/node helia_fetch.mjs "$OUR" "$cid_big") >"$tmp/helia.bin" 2>"$tmp/helia.err" &&
        cmp -s "$tmp/helia.bin" "$tmp/tree/big.bin"; then
        ok "Helia (@helia/verified-fetch) fetched $cid_big from our gateway"
    else bad "Helia: $(tail -3 "$tmp/helia.err")"; fi
else
    bad "Helia could not be installed from npm by tests/ipfs/helia_setup.sh"
fi
if [ $fails -ne 0 ]; then echo "FAIL: $fails network check(s)"; exit 1; fi
echo "network tests: all passed (kubo $("$kubo" version --number))"
