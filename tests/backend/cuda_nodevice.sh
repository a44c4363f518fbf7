#!/bin/sh
# The CUDA backend plugin on a machine without a usable NVIDIA GPU (CI, the
# build machines): it loads from the folder beside the program (no
# IPFS_ACCELERATE_BACKEND_PATH), `hw` and `status` show the backend built
# and why there is no device, and a model asked onto it runs on the CPU with
# the reason logged, or fails naming it with --no-fallback. Where a GPU is,
# `hw` must show it available and a model must run on it with fallback off
# (the rest is the GPU tests').
# Usage: cuda_nodevice.sh IPFS_ACCELERATE ENCODER_DIR
set -u
ia=$1 enc=$2
unset IPFS_ACCELERATE_BACKEND_PATH
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { if eval "$2"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1" >&2; cat "$tmp/err" >&2; fi; }
# "state built|unbuilt devices" of the cuda platform in `hw --json`
cuda_hw() {
    python3 -c 'import json, sys
p = [x for x in json.load(sys.stdin)["platforms"] if x["id"] == "cuda"][0]
print(p["state"], "built" if p["backend_built"] else "unbuilt", len(p["devices"]))'
}

"$ia" hw --json >"$tmp/hw.json" 2>"$tmp/err"
check "hw --json runs" "[ $? -eq 0 ]"
set -- $(cuda_hw <"$tmp/hw.json")
state=${1:-?} built=${2:-?} devices=${3:-0}
echo "hw: cuda $state, backend $built, $devices device(s)"
check "hw: the cuda backend is built (the plugin loaded from beside the program)" "[ '$built' = built ]"

if [ "$state" = available ]; then
    check "hw: an available platform has devices" "[ '$devices' -ge 1 ]"
    "$ia" embed -q --model "$enc" --device cuda --no-fallback --text 'a test sentence' >/dev/null 2>"$tmp/err"
    check "a GPU: a model runs on cuda with fallback off" "[ $? -eq 0 ]"
else
    "$ia" status --json >"$tmp/status.json" 2>"$tmp/err"
    check "status --json runs" "[ $? -eq 0 ]"
    check "status: cuda built, not usable" "python3 -c 'import json, sys
b = json.load(open(\"$tmp/status.json\"))[\"backends\"][\"cuda\"]
sys.exit(0 if b[\"backend_built\"] and not b[\"usable\"] else 1)'"
    "$ia" embed -v --model "$enc" --device cuda --text 'a test sentence' >"$tmp/out.jsonl" 2>"$tmp/err"
    check "no GPU: --device cuda falls back (exit 0)" "[ $? -eq 0 ] && [ -s '$tmp/out.jsonl' ]"
    check "no GPU: the fallback is logged with the reason" \
          "grep -q 'device cuda is not usable: the cuda backend has no usable device (hardware .*); falling back to cpu' '$tmp/err'"
    "$ia" embed -q --model "$enc" --device cuda --no-fallback --text 'a test sentence' >/dev/null 2>"$tmp/err"
    check "no GPU: --no-fallback fails" "[ $? -ne 0 ]"
    check "no GPU: --no-fallback names the reason" "grep -q 'the cuda backend has no usable device' '$tmp/err'"
fi

echo "cuda_nodevice: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
