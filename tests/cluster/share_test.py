"""A slow worker gets proportionally fewer tasks: workers pull, so each
takes what it can compute.

usage: share_test.py IPFS_ACCELERATE MINILM_MODEL_DIR

A JetStream nats-server on a free 127.0.0.1 port in a temporary folder;
workers F and S (--threads 1, the same model) pinned to CPUs 0 and 1, and
a busy loop pinned to CPU 1 beside S, which so gets half a core. A job of
about 4 s of F's work (--batch-size 8) goes through the cluster: F and S
share it, and S's tasks per F's must lie between 0.2 and 0.8 (half a core
against a whole one: about 0.5). The output equals a local embed byte for
byte.

About 15 s. Exit 77 (skip) without nats-server, taskset or two CPUs.
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time

from natsutil import fail, run, start_nats, wait_for
import natsutil

EXE, MODEL = sys.argv[1], sys.argv[2]
WORDS = "the a cat dog runs over lazy quick brown fox jumps tree river blue red model vector".split()
procs = []


def stored(name, tmp):
    """Tasks a worker's log says it computed and stored."""
    with open(os.path.join(tmp, name + ".log"), errors="replace") as f:
        return len(re.findall(r"shard [0-9a-f]+ stored \(", f.read()))


def scenario(server, tmp):
    url = start_nats(procs, server, os.path.join(tmp, "js"), os.path.join(tmp, "nats.log"))[2]
    env = dict(os.environ, IPFS_ACCELERATE_HOME=os.path.join(tmp, "home"))

    def worker(name, cpu):
        return natsutil.spawn(procs, ["taskset", "-c", str(cpu), EXE, "worker", "--nats", url, "--threads", "1",
                                      "--model", MODEL, "--name", name], os.path.join(tmp, name + ".log"), env)

    # the job: about 4 s of one core's work, from a local timing
    rnd = random.Random(7)

    def texts(path, n):
        with open(path, "w") as f:
            for i in range(n):
                f.write("%s %d\n" % (" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(8, 16))), i))
        return path
    probe = texts(os.path.join(tmp, "probe.txt"), 160)
    t0 = time.time()
    if run(["taskset", "-c", "0", EXE, "embed", "-q", "-m", MODEL, probe, "--batch-size", "8", "--threads", "1"],
           120).returncode:
        fail("local embed of " + MODEL)
    n = max(400, min(8000, int(160 * 4 / max(time.time() - t0, 0.01))))
    path = texts(os.path.join(tmp, "job.txt"), n)

    natsutil.spawn(procs, ["taskset", "-c", "1", sys.executable, "-c", "while True: pass"], None)
    worker("fast", 0)
    worker("slow", 1)
    def advertised():
        r = run([EXE, "cluster", "status", "--nats", url, "--json"], 30)
        return not r.returncode and {"fast", "slow"} <= {w["name"] for w in json.loads(r.stdout)["workers"]}
    wait_for("both workers' adverts", advertised, 30)
    r = run([EXE, "embed", "-q", "--cluster", url, "-m", MODEL, path, "--batch-size", "8"], 180, env=env)
    if r.returncode:
        fail("embed --cluster: " + r.stderr.decode())
    local = run([EXE, "embed", "-q", "-m", MODEL, path, "--batch-size", "8", "--threads", "1"], 180)
    if local.returncode or local.stdout != r.stdout:
        fail("the output differs from a local embed")
    f, s = stored("fast", tmp), stored("slow", tmp)
    print("%d texts in %d tasks: the worker with a core computed %d, the one with half a core %d (%.2f per task "
          "of the other)" % (n, (n + 7) // 8, f, s, s / max(f, 1)), flush=True)
    if f + s != (n + 7) // 8:
        fail("tasks computed %d + %d, want %d" % (f, s, (n + 7) // 8))
    if not 0.2 <= s / max(f, 1) <= 0.8:
        fail("the slow worker's share is not in proportion: %d against %d" % (s, f))
    print("ok", flush=True)
    return 0


def cleanup():
    natsutil.stop_all(procs)


if __name__ == "__main__":
    if not shutil.which("taskset") or len(os.sched_getaffinity(0)) < 2:
        print("SKIP: needs taskset and two CPUs")
        sys.exit(77)
    sys.exit(natsutil.run_scenario("ia-share-", scenario, cleanup))
