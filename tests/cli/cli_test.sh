#!/bin/sh
# CLI checks: outputs (JSON Lines, .npy, stdin), warnings, errors and exit
# codes. Usage: cli_test.sh IPFS_ACCELERATE MODEL_DIR
set -u
ia=$1 model=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { if eval "$2"; then ok; else bad "$1"; fi; }

printf 'first line\nsecond line\n\nfourth after an empty line\n' >"$tmp/in.txt"

"$ia" embed --model "$model" "$tmp/in.txt" >"$tmp/out.jsonl" 2>"$tmp/err"
check "embed file exits 0" "[ $? -eq 0 ]"
check "one JSON line per input line" "[ \$(wc -l <'$tmp/out.jsonl') -eq 4 ]"
check "indices in order" "grep -q '^{\"index\":3,\"embedding\":\\[' '$tmp/out.jsonl'"
check "32 numbers per row" "[ \$(head -1 '$tmp/out.jsonl' | tr ',' '\n' | wc -l) -eq 33 ]"
check "summary on stderr" "grep -q 'sentences/s' '$tmp/err'"

"$ia" embed --model "$model" - <"$tmp/in.txt" >"$tmp/stdin.jsonl" 2>/dev/null
check "stdin gives the same output" "cmp -s '$tmp/out.jsonl' '$tmp/stdin.jsonl'"

"$ia" embed -q --model "$model" --text 'first line' --text 'second line' >"$tmp/text.jsonl" 2>"$tmp/err"
# Same texts, other batch neighbours: equal up to float rounding.
python3 - "$tmp/out.jsonl" "$tmp/text.jsonl" <<'PY'
import json, sys
a = [json.loads(l)["embedding"] for l in open(sys.argv[1])][:2]
b = [json.loads(l)["embedding"] for l in open(sys.argv[2])]
assert len(b) == 2 and all(abs(x - y) < 1e-5 for ra, rb in zip(a, b) for x, y in zip(ra, rb))
PY
check "--text gives the file's rows" "[ $? -eq 0 ]"
check "--quiet is quiet" "[ ! -s '$tmp/err' ]"

"$ia" embed --model "$model" "$tmp/in.txt" --output "$tmp/out.npy" --batch-size 3 2>/dev/null
check "npy written" "[ \$? -eq 0 ] && [ -s '$tmp/out.npy' ]"
python3 - "$tmp/out.npy" "$tmp/out.jsonl" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
assert raw[:8] == b"\x93NUMPY\x01\x00", "npy magic"
hl = struct.unpack("<H", raw[8:10])[0]
header = raw[10:10 + hl].decode()
assert "'descr': '<f4'" in header and "'shape': (4, 32)" in header, header
vals = struct.unpack("<%df" % (4 * 32), raw[10 + hl:])
rows = [json.loads(l)["embedding"] for l in open(sys.argv[2])]
assert all(abs(a - b) < 1e-6 for r, row in enumerate(rows) for a, b in zip(row, vals[r * 32:(r + 1) * 32])), "npy == jsonl"
PY
check "npy header and values match the JSON Lines" "[ $? -eq 0 ]"

printf 'caf\303 ok\nbad \377\376 bytes\n' >"$tmp/bad.txt"
"$ia" embed --model "$model" "$tmp/bad.txt" >/dev/null 2>"$tmp/err"
check "invalid UTF-8 still embeds" "[ $? -eq 0 ]"
check "invalid UTF-8 counted in a warning" "grep -q 'warning: 3 invalid UTF-8 sequences replaced by U+FFFD' '$tmp/err'"

"$ia" embed --model "$tmp/missing" --text x >/dev/null 2>"$tmp/err"
check "missing model exits 1" "[ $? -eq 1 ]"
check "missing model is named" "grep -q '$tmp/missing' '$tmp/err'"

"$ia" embed --model "$model" "$tmp/nope.txt" >/dev/null 2>"$tmp/err"
check "missing input exits 1 and names it" "[ $? -eq 1 ] && grep -q 'nope.txt' '$tmp/err'"

"$ia" embed --model "$model" --batch-size 0 --text x >/dev/null 2>"$tmp/err"
check "bad --batch-size is a usage error" "[ $? -eq 2 ] && grep -q 'batch-size' '$tmp/err'"

"$ia" embed --text x >/dev/null 2>"$tmp/err"
check "--model is required" "[ $? -eq 2 ]"

"$ia" frobnicate >/dev/null 2>&1
check "unknown command exits 2" "[ $? -eq 2 ]"

"$ia" model info "$model" >"$tmp/info" 2>&1
check "model info" "grep -q 'architecture: *bert' '$tmp/info' && grep -q 'pooling: *mean, L2-normalized' '$tmp/info'"
"$ia" model info --json "$model" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["dim"]==32 and d["layers"]==2 and d["parameters"]>0'
check "model info --json" "[ $? -eq 0 ]"

# hardware.memory_limit: a model that does not fit is refused naming the
# limit and the need; one that fits embeds the same vectors in smaller batches
IPFS_ACCELERATE_HARDWARE_MEMORY_LIMIT=100KB "$ia" embed --model "$model" --text x >/dev/null 2>"$tmp/err"
check "memory_limit refuses a model that does not fit" "[ $? -eq 1 ] && grep -q 'hardware.memory_limit is 0.1 MiB but the model needs about' '$tmp/err'"
IPFS_ACCELERATE_HARDWARE_MEMORY_LIMIT=5MB "$ia" embed -q --model "$model" "$tmp/in.txt" >"$tmp/lim.jsonl" 2>"$tmp/err"
python3 - "$tmp/out.jsonl" "$tmp/lim.jsonl" <<'PY'
import json, sys
a, b = ([json.loads(l)["embedding"] for l in open(f)] for f in sys.argv[1:])
assert len(a) == len(b) and all(abs(x - y) < 1e-5 for ra, rb in zip(a, b) for x, y in zip(ra, rb))
PY
check "memory_limit that fits: same vectors" "[ $? -eq 0 ]"

# performance.enable_profiling: the per-op profile after the summary
IPFS_ACCELERATE_PERFORMANCE_ENABLE_PROFILING=true "$ia" embed --model "$model" "$tmp/in.txt" >/dev/null 2>"$tmp/err"
check "enable_profiling prints the profile" "grep -q 'profile: linear layers .* calls, .* attention' '$tmp/err'"
IPFS_ACCELERATE_PERFORMANCE_ENABLE_PROFILING=true IPFS_ACCELERATE_LOGGING_LEVEL=info "$ia" embed -q --model "$model" --text x >/dev/null 2>"$tmp/err"
check "enable_profiling logs each call at info level" "grep -q 'info: profile: 1 texts in' '$tmp/err'"

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
