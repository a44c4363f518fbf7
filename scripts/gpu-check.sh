#!/usr/bin/env bash
# The CUDA backend on a GPU, in one call of the lent GPU machine (issue 15;
# docs/cuda.md). Two halves:
#
#   scripts/gpu-check.sh prepare     here, on the build machine (no GPU)
#     builds build-cuda (the plugin, the test programs and the bench
#     drivers, against this machine's libraries), and packs into
#     .cache/gpu-check/payload.tar.xz what the GPU machine lacks: those
#     programs with every library they load beyond the C runtime, the
#     plugin built here (a fallback), all-MiniLM-L6-v2 converted to fp16
#     (45 MB: the fp32 file's 91 MB is over the machine's 64 MiB per call),
#     and SmolLM2-135M's GGUF header (its shapes and tokenizer, 1.8 MB: the
#     98 MB Q4_1 file cannot travel at all; scripts/synthetic-gguf.py makes
#     a file of those shapes with made-up weights there). It checks that
#     the working tree and the payload fit in 64 MiB.
#
#   scripts/gpu-check.sh             there, through the device tool:
#     run(command="bash scripts/gpu-check.sh", carry=[".cache/gpu-check"], timeout_s=540)
#     builds the plugin with that machine's nvcc (cmake + ninja; the
#     carried one if that fails), then, each step under its own timeout:
#     hw and status; the op harness on the GPU (test_ops, the CUDA
#     column); one BERT layer (test_cuda); all-MiniLM-L6-v2 against the
#     CPU backend on the test sentences (fp32 cosine >= 0.99999, fp16 >=
#     0.9999); the made-up
#     SmolLM2 on GPU and CPU (3 prompts x 32 greedy tokens, the largest
#     logit difference); then the benchmark: all-MiniLM-L6-v2 fp16 on the
#     length-sorted corpus (data/corpus.txt), ours (bench/ia_bench.c)
#     against sentence-transformers fp16 on the same GPU
#     (bench/cuda_peers.py, batches of 32 and 256), and decode tokens/s of
#     the SmolLM2-shaped file on the GPU and on the CPU
#     (bench/gen_bench.c). Results in $OUT: summary.md, results.json,
#     test_ops.txt, hw.json, log.txt. About 3-5 minutes; each step has a
#     timeout and all end by 470 s, so the summary comes back whatever
#     hangs.
#
# Not measured there, because nothing of it can travel in 64 MiB or be
# fetched there: ONNX Runtime's CUDA provider (the machine's onnxruntime
# is the CPU build; onnxruntime-gpu is ~250 MB), llama.cpp's CUDA build,
# and the real SmolLM2 weights (its greedy tokens against the CPU).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
stage=.cache/gpu-check
payload=$stage/payload.tar.xz
limit=$((64 * 1024 * 1024))

prepare() {
    set -e
    local home model smol
    home=$(scripts/install-cuda.sh)
    model=$(scripts/fetch-model.sh)
    smol=$(scripts/fetch-smollm2.sh)
    cmake -S . -B build-cuda -DIA_WERROR=ON -DIA_CUDA=ON -DIA_CUDA_HOME="$home" -DIA_BUILD_BENCH=ON \
        -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build-cuda -j 2 --target ipfs-accelerate test_cuda test_ops ia_bench ia_gen_bench ia_backend_cuda \
        | grep -vE '^\[|^-- ' || true
    local p=.cache/gpu-check.tmp # outside what is carried, in case this stops half-way
    rm -rf "$p" && mkdir -p "$stage" "$p/bin" "$p/lib" "$p/plugin" "$p/minilm-f16/1_Pooling"
    local bins=(build-cuda/ipfs-accelerate build-cuda/tests/test_cuda build-cuda/tests/test_ops
                build-cuda/bench/ia_bench build-cuda/bench/ia_gen_bench)
    for b in "${bins[@]}"; do strip -o "$p/bin/$(basename "$b")" "$b"; done
    cp build-cuda/ipfs-accelerate-backends/libia-backend-cuda.so "$p/plugin/"
    # every library the programs load, but the C runtime (the GPU machine's
    # is newer, and two of it cannot mix)
    ldd "${bins[@]}" | awk '/=> \//{print $3}' | sort -u | while read -r l; do
        case $(basename "$l") in
        libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|libresolv.so.*|ld-linux*|libgcc_s.so.*|libstdc++.so.*) ;;
        *) cp -L "$l" "$p/lib/" ;;
        esac
    done
    for f in config.json config_sentence_transformers.json modules.json sentence_bert_config.json \
             special_tokens_map.json tokenizer.json tokenizer_config.json vocab.txt 1_Pooling/config.json; do
        cp "$model/$f" "$p/minilm-f16/$f"
    done
    .cache/venv/bin/python - "$model/model.safetensors" "$p/minilm-f16/model.safetensors" <<'PY'
"""The safetensors file with every f32 tensor as f16 (rounded to nearest
even, as torch's .half()); other dtypes and the metadata as they are."""
import json, struct, sys
import numpy as np
src, dst = sys.argv[1:]
b = open(src, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
head, base = json.loads(b[8:8 + n]), 8 + n
meta = head.pop("__metadata__", None)
out, chunks, off = {}, [], 0
for k in sorted(head, key=lambda k: head[k]["data_offsets"][0]):
    v = head[k]
    raw, dt = b[base + v["data_offsets"][0]:base + v["data_offsets"][1]], v["dtype"]
    if dt == "F32":
        raw, dt = np.frombuffer(raw, "<f4").astype("<f2").tobytes(), "F16"
    out[k] = {"dtype": dt, "shape": v["shape"], "data_offsets": [off, off + len(raw)]}
    chunks.append(raw)
    off += len(raw)
if meta:
    out["__metadata__"] = meta
h = json.dumps(out, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
open(dst, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(chunks))
PY
    python3 scripts/synthetic-gguf.py header "$smol" "$p/smollm2.hdr"
    echo "$root" >"$p/build-root" # the test programs read $root/tests/data
    echo "gpu-check prepare: packing (xz, about two minutes)" >&2
    tar -C "$p" -cf - . | xz -9e -T2 >"$p.xz"
    mv "$p.xz" "$payload"
    rm -rf "$p"
    # what travels: the working tree (tracked and untracked files git does
    # not ignore) and the payload
    local tree
    tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 stat -c %s 2>/dev/null |
            awk '{s += $1} END {print s + 0}')
    local p_bytes
    p_bytes=$(stat -c %s "$payload")
    echo "gpu-check prepare: payload $((p_bytes / 1048576)) MiB + working tree $((tree / 1048576)) MiB" \
         "= $(((p_bytes + tree) / 1048576)) MiB of 64"
    if [ $((p_bytes + tree)) -ge "$limit" ]; then
        echo "gpu-check prepare: over the device machine's 64 MiB per call" >&2
        exit 1
    fi
}

if [ "${1:-}" = prepare ]; then
    prepare
    exit
fi

# --------------------------------------------------------------- on the GPU
: "${OUT:?gpu-check: run on the device machine (\$OUT unset); here: scripts/gpu-check.sh prepare}"
[ -f "$payload" ] || { echo "gpu-check: $payload missing: run scripts/gpu-check.sh prepare and carry $stage"; exit 1; }
w=/tmp/ia-gpu-check
rm -rf "$w" && mkdir -p "$w/res"
t_start=$(date +%s)
step() { echo; echo "== $* ($(($(date +%s) - t_start)) s)"; }
# Every step ends by the deadline, so that the summary is written inside
# the call's 540 s whatever hangs.
deadline=$((t_start + 470))
# run NAME TIMEOUT CMD...: the command's output to $w/res/NAME.txt (and
# the log), its exit status to $w/res/NAME.rc (125: no time was left)
run() {
    local name=$1 limit_s=$2 left rc
    shift 2
    left=$((deadline - $(date +%s)))
    [ "$left" -lt "$limit_s" ] && limit_s=$left
    if [ "$limit_s" -lt 5 ]; then
        echo 125 >"$w/res/$name.rc"
        echo "-> $name: not run, no time left"
        return 125
    fi
    timeout "$limit_s" "$@" >"$w/res/$name.txt" 2>&1
    rc=$?
    echo "$rc" >"$w/res/$name.rc"
    tail -n 40 "$w/res/$name.txt"
    echo "-> $name: exit $rc$([ $rc -eq 124 ] && echo ' (timed out)')"
    return $rc
}

main() {
step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1
command -v nvcc && nvcc --version | tail -2
nproc
xz -d -T0 <"$payload" | tar -C "$w" -xf - || { echo "gpu-check: unpacking failed"; exit 1; }
export LD_LIBRARY_PATH=$w/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
ldd "$w/bin/ipfs-accelerate" | grep 'not found' && echo "gpu-check: a library is missing"
# the test programs read tests/data at the path they were built at
data_dir=$(cat "$w/build-root")/tests/data
if [ ! -e "$data_dir/sentences.jsonl" ]; then
    mkdir -p "$(dirname "$data_dir")" && ln -sfn "$root/tests/data" "$data_dir"
fi

step "the plugin, built with this machine's nvcc"
plugin=$w/plugin
gen=$(command -v ninja >/dev/null && echo "-G Ninja")
if run plugin-build 150 sh -c "cmake -S src/backend/cuda -B '$w/build' $gen -DIA_CUDA_ARCHS=90 \
        -DCMAKE_BUILD_TYPE=Release && cmake --build '$w/build' -j '$(nproc)'"; then
    plugin=$w/build/ipfs-accelerate-backends
else
    echo "gpu-check: the build failed; the plugin built on the build machine is used"
fi
export IPFS_ACCELERATE_BACKEND_PATH=$plugin
echo "plugin: $(ls "$plugin")"

step "hw, status"
"$w/bin/ipfs-accelerate" hw --json >"$OUT/hw.json" 2>"$w/res/hw.err"
"$w/bin/ipfs-accelerate" hw 2>&1 | sed -n '/^cuda/,/probe/p'
"$w/bin/ipfs-accelerate" status 2>&1 | head -6
minilm=$w/minilm-f16
run embed-nofallback 60 "$w/bin/ipfs-accelerate" embed -v --model "$minilm" --device cuda --no-fallback \
    --text 'a test sentence'

step "tests"
run test_cuda 60 "$w/bin/test_cuda"
IA_TEST_OPS_REQUIRE=cuda run test_ops 150 "$w/bin/test_ops"
cp "$w/res/test_ops.txt" "$OUT/test_ops.txt"
IA_REAL_MODEL=$minilm run test_cuda_minilm 120 "$w/bin/test_cuda" model @real
run synthetic-gguf 60 python3 scripts/synthetic-gguf.py fill "$w/smollm2.hdr" "$w/smollm2-synthetic.gguf"
run test_cuda_smollm2_synthetic 120 "$w/bin/test_cuda" smollm2 "$w/smollm2-synthetic.gguf" 3 32

step "benchmark: all-MiniLM-L6-v2 fp16 on the length-sorted corpus"
run st_fp16 150 python3 bench/cuda_peers.py "$minilm" data/corpus.txt --sorted-out "$w/corpus-sorted.txt" \
    --emb-out "$w/st.f32" --repeat 5
[ -s "$w/corpus-sorted.txt" ] || cp data/corpus.txt "$w/corpus-sorted.txt"
export IPFS_ACCELERATE_HARDWARE_FALLBACK=false # on the GPU or not at all
for prec in fp16 fp32; do
    IPFS_ACCELERATE_HARDWARE_DEVICE=cuda run "ours_$prec" 120 "$w/bin/ia_bench" --model "$minilm" --mode batch \
        --input "$w/corpus-sorted.txt" --group 0 --repeat 5 --precision $prec --dump "$w/ours_$prec.f32"
done

step "benchmark: decode, SmolLM2-135M's shapes (made-up weights)"
syn=$w/smollm2-synthetic.gguf
run gen_ids 30 "$w/bin/ia_gen_bench" --model "$syn" --tokenize data/corpus.txt --first 64 --ids-out "$w/ids.txt"
run gen_cuda 90 "$w/bin/ia_gen_bench" --model "$syn" --ids "$w/ids.txt" --decode 128 --repeat 3 --device cuda
run gen_cpu 90 "$w/bin/ia_gen_bench" --model "$syn" --ids "$w/ids.txt" --decode 128 --repeat 3 --device cpu \
    --threads "$(nproc)"

step "summary"
python3 - "$w" "$OUT" <<'PY'
"""summary.md and results.json from the steps' outputs."""
import json, os, re, statistics, sys
w, out = sys.argv[1:]
res = os.path.join(w, "res")
def text(name):
    p = os.path.join(res, name + ".txt")
    return open(p, errors="replace").read() if os.path.exists(p) else ""
def rc(name):
    p = os.path.join(res, name + ".rc")
    return int(open(p).read()) if os.path.exists(p) else None
def last_json(name):
    for line in reversed(text(name).splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return None
R = {"steps": {}, "bench": {}}
verdict = {0: "passed", 77: "skipped (no device)", 124: "timed out", 125: "not run (no time left)", None: "not run"}
for name in ("plugin-build", "embed-nofallback", "test_cuda", "test_ops", "test_cuda_minilm", "synthetic-gguf",
             "test_cuda_smollm2_synthetic", "st_fp16", "ours_fp16", "ours_fp32", "gen_cuda", "gen_cpu"):
    R["steps"][name] = {"rc": rc(name), "result": verdict.get(rc(name), "FAILED")}
m = re.findall(r"worst cosine ([0-9.]+)", text("test_cuda_minilm"))
R["minilm_worst_cosine"] = {"fp32": float(m[0]) if m else None, "fp16": float(m[1]) if len(m) > 1 else None}
m = re.search(r"largest logit difference ([0-9.]+)", text("test_cuda_smollm2_synthetic"))
R["smollm2_synthetic_max_logit_diff"] = float(m.group(1)) if m else None
st, lines = last_json("st_fp16"), []
for prec in ("fp16", "fp32"):
    o = last_json("ours_" + prec)
    if o:
        med = statistics.median(o["times"])
        R["bench"]["ours_" + prec] = {"backend": o["backend"], "precision": o["precision"],
                                     "median_s": med, "sentences_per_s": o["n_texts"] / med,
                                     "tokens_per_s": o["n_tokens"] / med}
if st:
    R["bench"]["sentence_transformers_fp16"] = st
o = R["bench"].get("ours_fp16")
if o and st:
    best = max(r["sentences_per_s"] for r in st["runs"].values())
    R["bench"]["ratio_fp16_vs_best_st"] = o["sentences_per_s"] / best
    # work done: the matmuls (2 x 6 layers x (4 x 384^2 + 2 x 384 x 1536)
    # per token) and attention (4 x 384 x n^2 per sequence and layer), against
    # the bf16/fp16 dense peak measured on an H200 here (~790 TFLOP/s)
    try:
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(os.path.join(w, "minilm-f16"))
        lens = [min(len(tok(t)["input_ids"]), 256) for t in open(os.path.join(w, "corpus-sorted.txt")).read().split("\n") if t]
        flop = sum(2 * 6 * (4 * 384 * 384 + 2 * 384 * 1536) * n + 6 * 4 * 384 * n * n for n in lens)
        R["bench"]["ours_fp16"]["tflops"] = flop / o["median_s"] / 1e12
        R["bench"]["ours_fp16"]["share_of_790_tflops"] = flop / o["median_s"] / 790e12
    except Exception as e:  # noqa: BLE001 - the summary must not fail on this
        R["bench"]["flop_error"] = str(e)
for dev in ("cuda", "cpu"):
    g = last_json("gen_" + dev)
    if g:
        d = statistics.median(g["decode_s"])
        R["bench"]["decode_" + dev] = {"backend": g["backend"], "tokens_per_s": g["decode_tokens"] / d,
                                      "prefill_tokens_per_s": g["prompt_tokens"] / statistics.median(g["prefill_s"]),
                                      "file_bytes": g["file_bytes"]}
g = R["bench"].get("decode_cuda")
if g:  # every weight byte read once a token: the bandwidth roofline (4.3 TB/s measured here)
    R["bench"]["decode_cuda"]["share_of_4.3_TBps"] = g["tokens_per_s"] * g["file_bytes"] / 4.3e12
try:
    import numpy as np
    a = np.fromfile(os.path.join(w, "ours_fp16.f32"), np.float32)
    b = np.fromfile(os.path.join(w, "st.f32"), np.float32)
    if a.size == b.size and a.size:
        a, b = a.reshape(-1, 384), b.reshape(-1, 384)
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30)
        R["bench"]["min_cosine_ours_fp16_vs_st_fp16"] = float(cos.min())
except Exception as e:  # noqa: BLE001
    R["bench"]["cosine_error"] = str(e)
json.dump(R, open(os.path.join(out, "results.json"), "w"), indent=1)
L = ["# CUDA backend on the GPU machine (scripts/gpu-check.sh)", "", "| step | result |", "| --- | --- |"]
L += [f"| {k} | {v['result']} (exit {v['rc']}) |" for k, v in R["steps"].items()]
L += ["", f"all-MiniLM-L6-v2 worst cosine to the CPU backend: {R['minilm_worst_cosine']}",
      f"SmolLM2-shaped (made-up weights) largest logit difference GPU vs CPU: {R['smollm2_synthetic_max_logit_diff']}",
      "", "```", json.dumps(R["bench"], indent=1), "```"]
open(os.path.join(out, "summary.md"), "w").write("\n".join(L) + "\n")
print("\n".join(L))
PY
echo "gpu-check: done in $(($(date +%s) - t_start)) s"
}

main 2>&1 | tee "$OUT/log.txt"
