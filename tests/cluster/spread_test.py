"""Models that move between workers: a busy model spreads to an idle
worker, and a worker with no room unloads its least recently used model.

usage: spread_test.py IPFS_ACCELERATE TINY_MODEL_DIR MINILM_MODEL_DIR

A JetStream nats-server on a free 127.0.0.1 port in a temporary folder;
every worker has a store of its own (IPFS_ACCELERATE_HOME) and no source
of blocks but what the test gives it. Tasks name models by CID (embed
--cluster -m ipfs://CID), every worker at --threads 1.

1. spread: worker A starts with the MiniLM folder and serves its store as
   a gateway; B starts with no model (--spread-after 1). A job's tasks go
   to A, the model's only holder, and wait there; once the oldest has
   waited 1 s, the idle B takes the model up from A's gateway (every block
   verified), binds the model's consumers and takes a fair share of the
   rest: at least a third as many tasks as A after it joined. The output
   equals a local `embed --batch-size 8 --threads 1` byte for byte.
2. unload: two tiny models X and Y (Y: X with one byte more in its
   config.json, another CID) are served by an `ipfs-accelerate gateway`;
   worker L (--max-models 1, no model) is the only worker. A job for X:
   L fetches X. A job for Y: L has no room, unloads X (idle for 2 s: the
   least recently used), fetches Y and advertises Y alone. The gateway
   stops; a job for X: L unloads Y and loads X from its own store. Every
   output equals the local embed byte for byte.

Every wait has a timeout; about 20 s. Exit 77 (skip) only without nats-server.
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time

from natsutil import fail, free_port, listening, run, start_nats, wait_for
import natsutil

EXE, TINY, MINILM = sys.argv[1], sys.argv[2], sys.argv[3]
WORDS = "the a cat dog runs over lazy quick brown fox jumps tree river blue red model vector".split()
procs = []


def texts(path, n, seed, words=(1, 10)):
    rnd = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            f.write("%s %d\n" % (" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(*words))), i))
    return path


def stored(log):
    """Tasks a worker's log says it computed and stored."""
    return len(re.findall(r"shard [0-9a-f]+ stored \(", log))


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def scenario(server, tmp):
    url = start_nats(procs, server, os.path.join(tmp, "js"), os.path.join(tmp, "nats.log"))[2]

    def env(name, gateways=""):
        return dict(os.environ, IPFS_ACCELERATE_HOME=os.path.join(tmp, "home-" + name),
                    IPFS_ACCELERATE_IPFS_GATEWAYS=gateways, IPFS_ACCELERATE_IPFS_LOCAL_NODE="",
                    IPFS_ACCELERATE_ROUTERS="")

    def worker(name, *extra, e=None):
        return natsutil.spawn(procs, [EXE, "worker", "--nats", url, "--threads", "1", "--name", name,
                                      "--ack-wait", "5", *extra], os.path.join(tmp, name + ".log"), e or env(name))

    def status():
        r = run([EXE, "cluster", "status", "--nats", url, "--json"], 30)
        if r.returncode:
            fail("cluster status: " + r.stderr.decode())
        return {w["name"]: w for w in json.loads(r.stdout)["workers"]}

    def models_of(name):
        return [m["cid"] for m in status().get(name, {}).get("models", [])]

    def cid_of(model):
        r = run([EXE, "model", "add", "--only-hash", model], 60)
        if r.returncode:
            fail("model add --only-hash: " + r.stderr.decode())
        return r.stdout.decode().strip()

    def embed(model, path, batch, timeout=120):
        """The job through the cluster, which must equal the same embed run locally."""
        r = run([EXE, "embed", "-q", "--cluster", url, "-m", "ipfs://" + cid_of(model), path, "--batch-size",
                 str(batch)], timeout, env=env("submitter"))
        if r.returncode:
            fail("embed --cluster %s: %s" % (path, r.stderr.decode()))
        local = run([EXE, "embed", "-q", "-m", model, path, "--batch-size", str(batch), "--threads", "1"], timeout)
        if local.returncode or r.stdout != local.stdout:
            fail("embed --cluster %s: the output differs from a local embed: %s" % (path, local.stderr.decode()))

    # 1. a busy model spreads to an idle worker
    cid = cid_of(MINILM)
    a = worker("wa", "--model", MINILM, "--max-models", "0", "--gateway-listen", "127.0.0.1:%d" % free_port())
    b = worker("wb", "--max-models", "1", "--spread-after", "1")
    wait_for("wa's advert of " + cid, lambda: models_of("wa") == [cid] and "wb" in status(), 30)
    # A job that A alone takes about 10 s for (64 texts' time: a local embed
    # of 72 less one of 8, the model's loading), so that B, which takes
    # 2-6 s to notice and fetch the model, has a while to share it
    took = []
    for k in (8, 72):
        probe = texts(os.path.join(tmp, "probe.txt"), k, 0, (8, 16))
        t0 = time.time()
        if run([EXE, "embed", "-q", "-m", MINILM, probe, "--batch-size", "8", "--threads", "1"], 120).returncode:
            fail("local embed of " + MINILM)
        took.append(time.time() - t0)
    n = max(160, min(4000, int(64 * 10 / max(took[1] - took[0], 0.01))))
    path = texts(os.path.join(tmp, "busy.txt"), n, 1, (8, 16))
    joined = {}  # when B had taken the model up, and A's tasks by then
    out_path = os.path.join(tmp, "busy.npy")
    with open(out_path, "wb") as out, open(os.path.join(tmp, "busy.err"), "wb") as err:
        job = subprocess.Popen([EXE, "embed", "-q", "--cluster", url, "-m", "ipfs://" + cid, path, "--batch-size",
                                "8"], stdout=out, stderr=err, env=env("submitter"))
    # the reference meanwhile: it slows A and B alike
    local = subprocess.Popen([EXE, "embed", "-q", "-m", MINILM, path, "--batch-size", "8", "--threads", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    reference = []
    threading.Thread(target=lambda: reference.append(local.communicate(timeout=300)[0]), daemon=True).start()
    t0 = time.time()
    while job.poll() is None and time.time() - t0 < 120:
        if "a" not in joined and "fetched and verified" in read(os.path.join(tmp, "wb.log")):
            joined.update(a=stored(read(os.path.join(tmp, "wa.log"))), t=time.time())
        time.sleep(0.02)
    if job.poll() is None:
        job.kill()
        fail("the busy job did not finish in 120 s: wa: %s\nwb: %s" % (read(os.path.join(tmp, "wa.log"))[-1500:],
                                                                       read(os.path.join(tmp, "wb.log"))[-1500:]))
    took = time.time() - t0
    wait_for("the local embed", lambda: reference, 300)
    with open(out_path, "rb") as f:
        out = f.read()
    if job.returncode or local.returncode or out != reference[0]:
        fail("the busy job: rc %d, output %s the local embed: %s" % (job.returncode, "equal to" if
             out == reference[0] else "differs from", read(os.path.join(tmp, "busy.err"))))
    wlog, alog = read(os.path.join(tmp, "wb.log")), read(os.path.join(tmp, "wa.log"))
    took_up = [l for l in wlog.splitlines() if "taking it up" in l]
    if not took_up or "a" not in joined:
        fail("wb should have taken the model up while wa was busy: " + wlog[-2000:])
    by_a, by_b = stored(alog), stored(wlog)
    after = by_a - joined["a"]
    print("1. spread: %d tasks of %d texts; %s; wb joined %.1f s after the job began; after that wa computed %d, "
          "wb %d (%d before by wa); %.1f s in all; output equals the local embed" %
          (by_a + by_b, 8, took_up[0].split("worker wb: ", 1)[1], joined["t"] - t0, after, by_b, joined["a"], took),
          flush=True)
    if by_a + by_b != (n + 7) // 8:
        fail("%d tasks computed for %d shards" % (by_a + by_b, (n + 7) // 8))
    if by_b * 3 < after:
        fail("wb's share after it joined is not fair: wa %d, wb %d" % (after, by_b))
    natsutil.stop(a)
    natsutil.stop(b)

    # 2. a worker with no room unloads its least recently used model
    x = os.path.join(tmp, "x")
    y = os.path.join(tmp, "y")
    shutil.copytree(TINY, x)
    shutil.copytree(TINY, y)
    with open(os.path.join(y, "config.json"), "a") as f:
        f.write("\n")  # the same model, another CID
    cx, cy = cid_of(x), cid_of(y)
    for m in (x, y):
        r = run([EXE, "model", "add", m], 60, env=env("src"))
        if r.returncode:
            fail("model add: " + r.stderr.decode())
    gw_port = free_port()
    gw = natsutil.spawn(procs, [EXE, "gateway", "--listen", "127.0.0.1:%d" % gw_port], os.path.join(tmp, "gw.log"),
                        env("src"))
    wait_for("the gateway", lambda: listening(gw_port), 15)
    worker("wl", "--max-models", "1",
           e=env("wl", "http://127.0.0.1:%d" % gw_port))
    wait_for("wl's advert", lambda: "wl" in status(), 20)
    small = texts(os.path.join(tmp, "small.txt"), 12, 2)
    embed(x, small, 4)
    wait_for("wl to advertise X", lambda: models_of("wl") == [cx], 10)
    time.sleep(2.2)  # X idle long enough to be unloaded
    embed(y, small, 4)
    wait_for("wl to advertise Y alone", lambda: models_of("wl") == [cy], 10)
    log = read(os.path.join(tmp, "wl.log"))
    if "unloading model %s" % cx not in log:
        fail("wl should have unloaded X for Y: " + log[-2000:])
    natsutil.stop(gw)
    time.sleep(2.2)
    embed(x, texts(os.path.join(tmp, "small2.txt"), 12, 3), 4)
    wait_for("wl to advertise X again", lambda: models_of("wl") == [cx], 10)
    log = read(os.path.join(tmp, "wl.log"))
    if "unloading model %s" % cy not in log or "model %s loaded from its store" % cx not in log:
        fail("wl should have unloaded Y and loaded X from its store: " + log[-2000:])
    print("2. unload: wl (room for 1) fetched X, unloaded X for Y, then Y for X, X loaded from its store with the "
          "gateway gone; adverts followed; outputs equal the local embed", flush=True)
    for p in reversed(procs):  # a sanitizer build reports at exit
        if p.poll() is None:
            natsutil.stop(p)
    for name in sorted(os.listdir(tmp)):
        if name.endswith(".log") and "Sanitizer" in read(os.path.join(tmp, name)):
            fail("%s: %s" % (name, read(os.path.join(tmp, name))[-3000:]))
    print("PASS")
    return 0


def cleanup():
    natsutil.stop_all(procs)


sys.exit(natsutil.run_scenario("ia-spread-", scenario, cleanup))
