#!/bin/sh
# The CLI's hardware and configuration commands end to end: hw, status and
# config show in text and JSON, the IPFS_ACCELERATE_ENABLED switch, strict
# mode's exit status, and configuration precedence with units, unknown keys
# and bad values. Runs in a scratch HOME and working directory.
set -u
bin=$1
model=${2:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HOME="$tmp/home"
unset IPFS_ACCELERATE_HOME IPFS_ACCELERATE_ENABLED
for v in $(env | sed -n 's/^\(IPFS_ACCELERATE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
mkdir -p "$HOME/.ipfs_accelerate" "$tmp/work"
cd "$tmp/work"
fail=0
n=0
check() { # check DESCRIPTION COMMAND...: the command must succeed
  n=$((n + 1)); desc=$1; shift
  if ! "$@" >"$tmp/check.out" 2>"$tmp/check.err"; then
    echo "FAIL: $desc"; cat "$tmp/check.out" "$tmp/check.err"; fail=$((fail + 1))
  fi
}
json() { # json FILE PYTHON-EXPR: the expression over the parsed document j must be true
  python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"
}

"$bin" hw >"$tmp/out"
check "hw lists every platform" sh -c "for p in cpu cuda rocm mps openvino vulkan opencl qnn webgpu webnn; do grep -q \"^\$p \" '$tmp/out' || exit 1; done"
"$bin" hw >"$tmp/hw.txt"
check "hw: cpu available" grep -q "^cpu .*available (backend built)" "$tmp/hw.txt"
check "hw: cpu features line" grep -q "AVX2 .*AVX-512F .*VNNI .*BF16 .*AMX .*NEON" "$tmp/hw.txt"
check "hw: every row has its probe" test "$(grep -c '^             probe: ' "$tmp/hw.txt")" -eq 10
"$bin" hw --json >"$tmp/hw.json"
check "hw --json" json "$tmp/hw.json" "len(j['platforms'])==10 and j['platforms'][0]['state']=='available' and all(p['probe'] and p['reason'] for p in j['platforms'])"
check "hw --json: what the engine uses" json "$tmp/hw.json" "j['selected']['backend']=='cpu' and j['selected']['requested']=='auto'"
check "hw --json: present means devices" json "$tmp/hw.json" "all((p['state']=='not_present')==(len(p['devices'])==0) for p in j['platforms'])"
# GPU drivers hidden from their loaders (tests.cmake), or lavapipe and pocl when installed
plat="{p['id']: p for p in j['platforms']}"
if [ "${IA_TEST_GPU_DRIVERS:-}" = hidden ]; then
  check "hw --json: hidden drivers are not present" json "$tmp/hw.json" "all($plat[i]['state']=='not_present' for i in ('vulkan', 'opencl'))"
else
  if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && ls /usr/share/vulkan/icd.d/lvp_icd* >/dev/null 2>&1; then
    check "hw --json: Vulkan on lavapipe" json "$tmp/hw.json" "any(d['kind']=='cpu' and 'llvmpipe' in d['name'] for d in $plat['vulkan']['devices'])"
  fi
  if [ -z "${OCL_ICD_VENDORS:-}" ] && [ -e /etc/OpenCL/vendors/pocl.icd ]; then
    check "hw --json: OpenCL on pocl" json "$tmp/hw.json" "any(d['kind']=='cpu' and 'Portable Computing Language' in d['detail'] for d in $plat['opencl']['devices'])"
  fi
fi

"$bin" status --json >"$tmp/st.json"
check "status --json fields" json "$tmp/st.json" "j['available'] is True and j['enabled'] is True and j['env_disabled'] is False and j['env_var']=='1' and j['selected']['backend']=='cpu' and j['backends']['cpu']['usable'] and 'cuda' in j['backends']"
IPFS_ACCELERATE_ENABLED=0 "$bin" status --json >"$tmp/st0.json"
check "status with IPFS_ACCELERATE_ENABLED=0" json "$tmp/st0.json" "j['available'] is False and j['enabled'] is False and j['env_disabled'] is True and j['env_var']=='0' and j['selected']['backend']=='cpu' and len(j['switched_off'])==4 and 'portable kernels' in j['selected']['device_name']"
check "status text" "$bin" status
"$bin" status --device cuda >"$tmp/out" 2>"$tmp/err"
check "status --device cuda falls back with a warning" grep -q "falling back to cpu" "$tmp/err"
"$bin" status --device cuda --no-fallback >/dev/null 2>"$tmp/err"; rc=$?
check "status --device cuda --no-fallback fails" test "$rc" -eq 1
check "strict failure names the device" grep -q 'device "cuda"' "$tmp/err"
"$bin" status --device nosuch >/dev/null 2>"$tmp/err"; rc=$?
check "unknown device is an error" test "$rc" -ne 0
check "unknown device message" grep -q '"nosuch" is not allowed (allowed: auto, cpu, cuda\[:N\]' "$tmp/err"

# configuration precedence: project file < user file < environment < command line
cat >ipfs_accelerate.json <<'J'
{"hardware": {"precision": "fp16", "memory_limit": "512MiB"}, "ipfs": {"timeout": 10}}
J
cat >"$HOME/.ipfs_accelerate/config.json" <<'J'
{"hardware": {"precision": "bf16"}, "performance": {"cache_size": "8GB"}, "logging": {"level": "INFO"}}
J
"$bin" config show --json >"$tmp/cfg.json"
check "config: user file over project file" json "$tmp/cfg.json" "j['keys']['hardware.precision']['value']=='bf16' and j['keys']['hardware.precision']['source']=='user file'"
check "config: project file over defaults, units" json "$tmp/cfg.json" "j['keys']['hardware.memory_limit']['value']==536870912 and j['keys']['ipfs.timeout']['value']==10 and j['keys']['performance.cache_size']['value']==8000000000"
check "config: defaults" json "$tmp/cfg.json" "j['keys']['hardware.device']['source']=='default' and j['keys']['logging.level']['value']=='info'"
IPFS_ACCELERATE_HARDWARE_PRECISION=int8 "$bin" config show --json >"$tmp/cfg.json"
check "config: environment over files" json "$tmp/cfg.json" "j['keys']['hardware.precision']['value']=='int8' and j['keys']['hardware.precision']['origin']=='IPFS_ACCELERATE_HARDWARE_PRECISION'"
IPFS_ACCELERATE_HARDWARE_PRECISION=int8 "$bin" config show --json --set hardware.precision=fp32 >"$tmp/cfg.json"
check "config: command line over environment" json "$tmp/cfg.json" "j['keys']['hardware.precision']['value']=='fp32' and j['keys']['hardware.precision']['source']=='command line'"
IPFS_ACCELERATE_HOME="$tmp/alt" "$bin" config show --json >"$tmp/cfg.json"
check "config: IPFS_ACCELERATE_HOME moves the user file" json "$tmp/cfg.json" "j['files'][1]['path']=='$tmp/alt/config.json' and j['keys']['hardware.precision']['value']=='fp16'"
"$bin" config show >"$tmp/show.txt"
check "config show text names every key" sh -c "for k in hardware.device hardware.fallback hardware.prefer_cuda hardware.allow_openvino hardware.precision hardware.memory_limit ipfs.gateways ipfs.local_node ipfs.timeout performance.cache_size performance.parallel_requests performance.enable_profiling logging.level logging.file; do grep -q \"^\$k \" '$tmp/show.txt' || exit 1; done"
check "config show text says where" grep -q "^hardware.precision .*user file ($HOME/.ipfs_accelerate/config.json)" "$tmp/show.txt"

# unknown keys warn (naming file and key); bad values fail (file, key, allowed)
cat >ipfs_accelerate.json <<'J'
{"hardware": {"precison": "fp16"}, "general": {"debug": true}}
J
"$bin" config show >"$tmp/out" 2>"$tmp/err"; rc=$?
check "unknown key is only a warning" test "$rc" -eq 0
check "unknown key warning names file and key" grep -q "ipfs_accelerate.json: unknown key \"hardware.precison\"" "$tmp/err"
check "unknown section warning" grep -q "unknown key \"general\"" "$tmp/err"
cat >ipfs_accelerate.json <<'J'
{"hardware": {"precision": "fp8"}}
J
"$bin" config show >/dev/null 2>"$tmp/err"; rc=$?
check "bad value fails" test "$rc" -eq 1
check "bad value names file, key and what is allowed" grep -q 'ipfs_accelerate.json: hardware.precision: "fp8" is not allowed (allowed: auto, fp32, fp16, bf16, int8)' "$tmp/err"
rm ipfs_accelerate.json
IPFS_ACCELERATE_HARDWARE_MEMORY_LIMIT=8G "$bin" config show >/dev/null 2>"$tmp/err"; rc=$?
check "ambiguous size unit fails" test "$rc" -eq 1
check "ambiguous size names the variable" grep -q "IPFS_ACCELERATE_HARDWARE_MEMORY_LIMIT: hardware.memory_limit: \"8G\" is not allowed" "$tmp/err"
"$bin" config show --set no.such=1 >/dev/null 2>"$tmp/err"; rc=$?
check "unknown --set key fails" test "$rc" -ne 0

# logging.file: library messages go to the file, not stderr
"$bin" status --device cuda --set logging.file="$tmp/log.txt" >/dev/null 2>"$tmp/err"
check "logging.file receives the fallback warning" grep -q "warning: device cuda is not usable" "$tmp/log.txt"
check "nothing on stderr with logging.file" test ! -s "$tmp/err"

# a model load records backend, device and precision, falls back or fails
if [ -n "$model" ] && [ -d "$model" ]; then
  rm -f "$HOME/.ipfs_accelerate/config.json"
  "$bin" embed --model "$model" --text hello --device cuda -v -q >"$tmp/emb.jsonl" 2>"$tmp/err"; rc=$?
  check "embed --device cuda falls back" test "$rc" -eq 0
  check "embed fallback warning" grep -q "warning: device cuda is not usable" "$tmp/err"
  check "embed --verbose names backend, device, precision" grep -q "backend cpu, device cpu:0, precision fp32" "$tmp/err"
  check "embed output" grep -q '"embedding"' "$tmp/emb.jsonl"
  "$bin" embed --model "$model" --text hello --device cuda --no-fallback -q >/dev/null 2>"$tmp/err"; rc=$?
  check "embed --no-fallback fails" test "$rc" -eq 1
  check "embed --no-fallback says why" grep -q 'device "cuda" .* is not usable' "$tmp/err"
  IPFS_ACCELERATE_ENABLED=off_is_not_a_switch "$bin" embed --model "$model" --text hi -v -q >/dev/null 2>"$tmp/err"
  check "other values leave acceleration on" grep -q "auto: first usable backend" "$tmp/err"
  IPFS_ACCELERATE_ENABLED=disabled "$bin" embed --model "$model" --text hi -v -q >/dev/null 2>"$tmp/err"
  check "IPFS_ACCELERATE_ENABLED=disabled: plain CPU" grep -q "plain CPU path" "$tmp/err"
  # switched off: portable kernels, fp32, the same vectors to float rounding
  "$bin" embed --model "$model" --text "a plain path check" -q >"$tmp/on.jsonl"
  IPFS_ACCELERATE_ENABLED=0 "$bin" embed --model "$model" --text "a plain path check" -v -q >"$tmp/off.jsonl" 2>"$tmp/err"
  check "switched off: portable kernels" grep -q "portable kernels" "$tmp/err"
  check "switched off: same vectors" python3 -c "
import json, math, sys
a, b = (json.loads(open(f).readline())['embedding'] for f in sys.argv[1:])
c = sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
sys.exit(0 if c > 0.99999 else 1)" "$tmp/on.jsonl" "$tmp/off.jsonl"
  "$bin" model info --json "$model" >"$tmp/info.json"
  check "model info --json records the device" json "$tmp/info.json" "j['backend']=='cpu' and j['device']=='cpu:0' and j['precision']=='fp32'"
fi

echo "cli_hw: $n checks, $fail failed"
[ "$fail" -eq 0 ]
