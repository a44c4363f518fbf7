#!/usr/bin/env python3
"""The Hugging Face hub client against a local hub (hub_server.py) on
127.0.0.1, and its cache against huggingface_hub's own (the real Python
client, as an oracle): each finds what the other downloaded.

    hub_test.py IPFS_ACCELERATE_CLI MODEL_DIR
"""
import filecmp, os, subprocess, sys, tempfile, time

cli, model = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {name} {detail}")


def start(tmp, *extra):
    port_file = os.path.join(tmp, "port-%d" % time.time_ns())
    p = subprocess.Popen([sys.executable, os.path.join(here, "hub_server.py"), port_file,
                          "test-org/tiny=" + model, *extra])
    for _ in range(100):
        if os.path.exists(port_file):
            return p, "http://127.0.0.1:" + open(port_file).read()
        time.sleep(0.05)
    p.kill()
    raise SystemExit("hub_server.py did not start")


def run(env, *args):
    return subprocess.run([cli, *args], env={**os.environ, **env}, capture_output=True, text=True)


with tempfile.TemporaryDirectory() as tmp:
    srv, url = start(tmp)
    try:
        home = os.path.join(tmp, "hf")
        env = {"HF_ENDPOINT": url, "HF_HOME": home}
        r = run(env, "model", "pull", "test-org/tiny")
        check("pull exits 0", r.returncode == 0, r.stderr)
        snap = r.stdout.strip()
        repo = os.path.join(home, "hub", "models--test-org--tiny")
        check("snapshot in the HF cache layout", snap.startswith(os.path.join(repo, "snapshots", "")), snap)
        for f in ["config.json", "model.safetensors", "tokenizer.json", "modules.json", "1_Pooling/config.json"]:
            p = os.path.join(snap, f)
            if os.path.exists(os.path.join(model, f)):
                check(f"{f} downloaded and equal", os.path.islink(p) and filecmp.cmp(p, os.path.join(model, f), shallow=False))
        check("refs/main names the commit", open(os.path.join(repo, "refs", "main")).read() == os.path.basename(snap))

        # huggingface_hub (the reference client) finds our download offline...
        import huggingface_hub
        got = huggingface_hub.snapshot_download("test-org/tiny", cache_dir=os.path.join(home, "hub"),
                                                local_files_only=True)
        check("huggingface_hub finds our snapshot", os.path.realpath(got) == os.path.realpath(snap), got)
        # ...and we find what huggingface_hub downloads from the same hub.
        home2 = os.path.join(tmp, "hf2")
        got2 = huggingface_hub.snapshot_download("test-org/tiny", cache_dir=os.path.join(home2, "hub"),
                                                 endpoint=url)
        r = run({"HF_HOME": home2, "HF_HUB_OFFLINE": "1"}, "model", "pull", "test-org/tiny")
        check("we find huggingface_hub's snapshot offline", r.returncode == 0 and
              os.path.realpath(r.stdout.strip()) == os.path.realpath(got2), r.stdout + r.stderr)

        # A hub id works wherever a model folder does.
        r = run({"HF_HOME": home, "HF_HUB_OFFLINE": "1"}, "embed", "-q", "--model", "test-org/tiny", "--text", "hello")
        check("embed --model ORG/NAME from the cache", r.returncode == 0 and '"embedding"' in r.stdout, r.stderr)

        r = run(env, "model", "pull", "test-org/missing")
        check("unknown model: exit 1, named", r.returncode == 1 and "test-org/missing" in r.stderr, r.stderr)
        r = run({"HF_HOME": os.path.join(tmp, "empty"), "HF_HUB_OFFLINE": "1"}, "model", "pull", "test-org/tiny")
        check("offline and not cached: clear error", r.returncode == 1 and "offline" in r.stderr, r.stderr)
        r = run({"HF_HOME": home, "HF_ENDPOINT": "http://127.0.0.1:9"}, "model", "pull", "other/model")
        check("unreachable hub: exit 1, URL named", r.returncode == 1 and "127.0.0.1:9" in r.stderr, r.stderr)
    finally:
        srv.kill()

    # A lying hub: altered bytes are refused and never enter the cache.
    for bad in ["model.safetensors", "config.json"]:
        srv, url = start(tmp, "--corrupt", bad)
        try:
            home = os.path.join(tmp, "lie-" + bad)
            r = run({"HF_ENDPOINT": url, "HF_HOME": home}, "model", "pull", "test-org/tiny")
            check(f"corrupt {bad} refused", r.returncode == 1 and "does not match" in r.stderr and bad in r.stderr, r.stderr)
            blobs = os.path.join(home, "hub", "models--test-org--tiny", "blobs")
            sizes = {f: os.path.getsize(os.path.join(blobs, f)) for f in os.listdir(blobs)} if os.path.isdir(blobs) else {}
            check(f"no partial or corrupt blob for {bad}", not any(f.endswith(".incomplete") for f in sizes), sizes)
        finally:
            srv.kill()

print(f"hub: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
