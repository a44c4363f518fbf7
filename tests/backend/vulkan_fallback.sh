#!/bin/sh
# A Vulkan device that fails: out of its memory while the weights load
# (IA_VULKAN_FAULT=alloc:N, the backend's fault injection) hands the model
# over to the CPU with the reason logged, or fails naming the device with
# --no-fallback; an encoder's device lost while computing hands the model
# over too (the call runs again on the CPU), or fails naming it with
# --no-fallback.
# Usage: vulkan_fallback.sh IPFS_ACCELERATE ENCODER_DIR DECODER.gguf
set -u
ia=$1 enc=$2 dec=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { if eval "$2"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1" >&2; cat "$tmp/err" >&2; fi; }

"$ia" embed -q --model "$enc" --device cpu --text 'a test sentence' >"$tmp/cpu.jsonl" 2>/dev/null
IA_VULKAN_FAULT=alloc:3 "$ia" embed -v --model "$enc" --device vulkan --text 'a test sentence' >"$tmp/fb.jsonl" 2>"$tmp/err"
check "encoder: out of device memory falls back (exit 0)" "[ $? -eq 0 ]"
check "encoder: the fallback is logged with the device's error" \
      "grep -q 'device vulkan:0 failed: backend vulkan: out of memory.*falling back to cpu' '$tmp/err'"
check "encoder: the fallback's vectors are the CPU's" "cmp -s '$tmp/cpu.jsonl' '$tmp/fb.jsonl'"
IA_VULKAN_FAULT=alloc:3 "$ia" embed -q --model "$enc" --device vulkan --no-fallback --text 'a test sentence' \
    >/dev/null 2>"$tmp/err"
check "encoder: --no-fallback fails" "[ $? -ne 0 ]"
check "encoder: --no-fallback names the device's error" "grep -q 'backend vulkan: out of memory' '$tmp/err'"
"$ia" embed -q --model "$enc" --device cpu --text 'a test sentence' --text 'and a second, longer test sentence' \
    >"$tmp/cpu2.jsonl" 2>/dev/null
IA_VULKAN_FAULT=submit:2 "$ia" embed --model "$enc" --device vulkan --text 'a test sentence' \
    --text 'and a second, longer test sentence' >"$tmp/fb2.jsonl" 2>"$tmp/err"
check "encoder: a device lost mid-call hands the model to the CPU (exit 0)" "[ $? -eq 0 ]"
check "encoder: that fallback is logged with the device's error" \
      "grep -q 'device vulkan:0 failed: .*device lost.*falling back to cpu' '$tmp/err'"
check "encoder: the call ran again on the CPU, with its vectors" "cmp -s '$tmp/cpu2.jsonl' '$tmp/fb2.jsonl'"
check "encoder: the summary names the CPU" "grep -q 'tokens/s \\[cpu, fp32\\]' '$tmp/err'"
IA_VULKAN_FAULT=submit:1 "$ia" embed -q --model "$enc" --device vulkan --no-fallback --text 'a test sentence' \
    >/dev/null 2>"$tmp/err"
check "encoder: a lost device with --no-fallback fails" "[ $? -ne 0 ]"
check "encoder: a lost device is named" "grep -q 'device lost' '$tmp/err'"

"$ia" generate --model "$dec" --prompt 'The capital of France is' -n 4 --device cpu >"$tmp/cpu.txt" 2>/dev/null
IA_VULKAN_FAULT=alloc:5 "$ia" generate --model "$dec" --prompt 'The capital of France is' -n 4 --device vulkan \
    >"$tmp/fb.txt" 2>"$tmp/err"
check "decoder: out of device memory falls back (exit 0)" "[ $? -eq 0 ]"
check "decoder: the fallback is logged" "grep -q 'device vulkan:0 failed:.*falling back to cpu' '$tmp/err'"
check "decoder: the fallback's text is the CPU's" "cmp -s '$tmp/cpu.txt' '$tmp/fb.txt'"
IA_VULKAN_FAULT=alloc:5 "$ia" generate --model "$dec" --prompt 'x' -n 4 --device vulkan --no-fallback \
    >/dev/null 2>"$tmp/err"
check "decoder: --no-fallback fails naming the device" "[ $? -ne 0 ] && grep -q 'backend vulkan: out of memory' '$tmp/err'"

echo "vulkan_fallback: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
