"""`ipfs-accelerate advise` end to end on the synthetic tiny model: the
JSON document's structure, the CPU recommended with its threads and
figures (the bare roofline: no runs stored, said so), the goals, and errors
naming the input at fault; then `embed --device auto --verbose`, which asks
the same advisor where there is more than one device to choose from, says
why, computes what --device cpu computes here, and makes no database.
With `vulkan`: only a Vulkan device's peaks, measured and predicted (exit 77,
skipped, where no Vulkan backend or device is here).
Usage: advise_e2e_test.py CLI MODEL WORKDIR [vulkan]"""
import json
import os
import shutil
import subprocess
import sys

cli, model, work = sys.argv[1:4]
vulkan_only = sys.argv[4:] == ["vulkan"]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
db = os.path.join(work, "bench.db")


def vulkan_peaks():
    """`bench peaks --device vulkan:0` (on lavapipe about 5 s), then advise
    predicts the device beside the CPU."""
    env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR") or os.path.join(work, "xdg"))
    os.makedirs(env["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)
    hw = json.loads(subprocess.run([cli, "hw", "--json"], capture_output=True, text=True, env=env,
                                   timeout=60).stdout)
    vk = next((pl for pl in hw["platforms"] if pl["id"] == "vulkan"), {})
    if not (vk.get("backend_built") and vk.get("devices")):
        print("SKIP: no Vulkan backend or device here")
        sys.exit(77)
    p = subprocess.run([cli, "bench", "peaks", "--device", "vulkan", "--db", db, "--json"], capture_output=True,
                       text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    pk = json.loads(p.stdout)
    assert pk["device"] == "vulkan:0" and pk["measured_now"] and pk["gemm_flops"]["fp32"] > 0, pk
    assert pk["memory_bandwidth_bytes_per_s"] > 0 and "int8" not in pk["gemm_flops"], pk
    doc = json.loads(subprocess.run([cli, "advise", "--db", db, "--model", model, "--json"], capture_output=True,
                                    text=True, env=env, timeout=120).stdout)
    gpu = [o for o in doc["options"] if o["device"] == "vulkan:0"]
    assert gpu and all(o["predicted"] and o["latency_ms"] > 0 for o in gpu), gpu
    if vk["devices"][0]["kind"] == "cpu":  # lavapipe: far slower than the CPU backend, and predicted so
        cpu_best = min(o["latency_ms"] for o in doc["options"] if o["device"] == "cpu:0")
        assert all(o["latency_ms"] > cpu_best for o in gpu), doc["options"]
        assert doc["recommendation"]["device"] == "cpu:0", doc["recommendation"]
    print("advise_e2e vulkan: ok")


if vulkan_only:
    vulkan_peaks()
    sys.exit(0)


def run(*args, ok=True):
    p = subprocess.run([cli, "advise", "--db", db, *args], capture_output=True, text=True, timeout=120)
    if ok and p.returncode != 0:
        sys.exit(f"advise {args} failed ({p.returncode}): {p.stderr}")
    return p


doc = json.loads(run("--model", model, "--json").stdout)
assert doc["kind"] == "encoder" and doc["goal"] == "latency" and doc["context"] == 128, doc
rec = doc["recommendation"]
assert rec and rec["device"] == "cpu:0" and rec["usable"] and rec["predicted"], rec
assert rec["batch_size"] == 1 and rec["threads"] >= 1 and rec["latency_ms"] > 0 and rec["memory_bytes"] > 0, rec
assert not rec["calibrated"] and any("bare roofline" in r for r in doc["reasons"]), doc["reasons"]
cpu = [o for o in doc["options"] if o["device"] == "cpu:0"]
assert cpu and cpu[0]["precision"] == "fp32", cpu
assert sum(o["recommended"] for o in doc["options"]) == 1
for o in doc["options"]:
    assert o["why"], o
    if o["platform"] != "cpu" and o["usable"]:
        assert not o["predicted"], o  # no peaks measured for other devices

thr = json.loads(run("--model", model, "--throughput", "--context", "16", "--json").stdout)
assert thr["goal"] == "throughput" and thr["context"] == 16
assert thr["recommendation"]["texts_per_s"] >= rec["texts_per_s"] * 0.95
bud = json.loads(run("--model", model, "--latency-ms", "1000", "--json").stdout)
assert bud["goal"] == "latency_budget" and bud["recommendation"]["latency_ms"] <= 1000

text = run("--model", model).stdout
assert "recommended: cpu:0" in text and "  - " in text, text

p = run("--model", model, "--throughput", "--latency-ms", "5", ok=False)
assert p.returncode == 2 and "one goal" in p.stderr, p.stderr
p = run("--model", os.path.join(work, "no-such-model"), ok=False)
assert p.returncode == 1 and "no-such-model" in p.stderr, p.stderr
p = run("--model", model, "--context", "100000", ok=False)
assert p.returncode == 1 and "context" in p.stderr, p.stderr
# A device no backend has is refused by name.
p = subprocess.run([cli, "bench", "peaks", "--device", "nosuch", "--db", db], capture_output=True, text=True,
                   timeout=60)
assert p.returncode == 2 and "nosuch" in p.stderr, p.stderr

# --device auto in embed: the reason on stderr, the CPU's vectors, no
# database made in IPFS_ACCELERATE_HOME (auto reads what is stored only).
home = os.path.join(work, "home")
env = dict(os.environ, IPFS_ACCELERATE_HOME=home)


def embed(device):
    p = subprocess.run([cli, "embed", "--model", model, "--device", device, "--verbose", "--format", "jsonl"],
                       input="auto chooses a device\n", capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    return p


auto, cpu_run = embed("auto"), embed("cpu")
said = [line for line in auto.stderr.splitlines() if "--device auto:" in line]
assert said and ("nothing for the performance model to compare" in said[0]
                 or "chosen by the performance model" in said[0]), auto.stderr
assert "--device auto:" not in cpu_run.stderr, cpu_run.stderr
assert json.loads(auto.stdout)["embedding"] == json.loads(cpu_run.stdout)["embedding"]
assert not os.path.exists(os.path.join(home, "bench.db")), os.listdir(home)
print("advise_e2e: ok")
