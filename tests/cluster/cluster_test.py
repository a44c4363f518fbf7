"""End to end: `embed --cluster` over NATS JetStream against a local `embed`.

usage: cluster_test.py IPFS_ACCELERATE MODEL_DIR

Starts nats-server with JetStream (-js) in a temporary directory on a free
127.0.0.1 port and three single-thread workers on MODEL_DIR, then:

1. kill and restart: 5,000 sentences in shards of 4; at a quarter of the
   shards stored the server is frozen (SIGSTOP), one worker is SIGKILLed,
   the server is stopped (SIGTERM) and started again on the same store. The output
   must equal a local `embed --batch-size 4 --threads 1` byte for byte, with
   every index exactly once, and no shard stored twice.
2. poison: a task the model refuses (--dimensions beyond the model's) goes
   to the dead letters after --max-deliver deliveries; the submitter fails
   naming the shard and the worker's error; `cluster status` counts it.
3. resume: a submitter SIGKILLed mid-job and run again finds the shards
   already done (not recomputed) and gives the same output as a local run.

Every wait has a timeout. Exit 77 (skip) only when nats-server is absent.
"""
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

from natsutil import fail, run, start_nats
import natsutil

EXE, MODEL = sys.argv[1], sys.argv[2]
WORDS = ("the a cat dog runs over lazy quick brown fox jumps sleeps under tree river mountain "
         "blue red green small big data model vector cluster worker queue").split()
procs = []


def wait_for(what, cond, timeout):
    natsutil.wait_for(what, cond, timeout, step=0.02)


def spawn(args, log):
    return natsutil.spawn(procs, args, log)


def sentences(n, seed):
    rnd = random.Random(seed)
    return ["%s %d" % (" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 12))), i) for i in range(n)]



def local_embed(path, batch):
    r = run([EXE, "embed", "-q", "-m", MODEL, path, "--batch-size", str(batch), "--threads", "1"], 60)
    if r.returncode:
        fail("local embed: " + r.stderr.decode())
    return r.stdout


def check_output(got, want, n, what):
    idx = [json.loads(line)["index"] for line in got.decode().splitlines()]
    if sorted(idx) != list(range(n)) or idx != list(range(n)):
        fail("%s: indexes are not 0..%d in order, each once (%d lines)" % (what, n - 1, len(idx)))
    if got != want:
        fail("%s: output differs from the local embed" % what)


def stored(logdir):
    """Shard id -> how many times a worker logged it as stored."""
    counts = {}
    for name in os.listdir(logdir):
        if name.startswith("w") and name.endswith(".log"):
            with open(os.path.join(logdir, name), errors="replace") as f:
                for m in re.finditer(r"shard ([0-9a-f]{32}) stored ", f.read()):
                    counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts


def cleanup():
    for p in procs:
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGCONT)
                p.kill()
            except OSError:
                pass
            p.wait()


def scenario(server, tmp):
    store = os.path.join(tmp, "js")
    nats, port, url = start_nats(procs, server, store, os.path.join(tmp, "nats-1.log"))

    def start_server(log):  # again on the same port and store
        return start_nats(procs, server, store, os.path.join(tmp, log), port, "nats-server on port %d" % port)[0]

    t_start = time.time()

    def worker(name):
        return spawn([EXE, "worker", "--nats", url, "--model", MODEL, "--threads", "1", "--name", name,
                      "--ack-wait", "2", "--max-deliver", "3"], os.path.join(tmp, name + ".log"))

    workers = {name: worker(name) for name in ("w1", "w2", "w3")}

    # 1. Kill a worker and restart the server mid-run.
    n1, batch = 5000, 4
    shards1 = (n1 + batch - 1) // batch
    input1 = os.path.join(tmp, "input1.txt")
    with open(input1, "w") as f:
        f.write("\n".join(sentences(n1, 1)) + "\n")
    want1 = local_embed(input1, batch)
    out1 = os.path.join(tmp, "out1.jsonl")
    sub = subprocess.Popen([EXE, "embed", "--cluster", url, "-m", MODEL, input1, "--batch-size", str(batch),
                            "-o", out1], stderr=open(os.path.join(tmp, "submit-1.log"), "wb"))
    procs.append(sub)
    wait_for("a quarter of the shards stored", lambda: len(stored(tmp)) >= shards1 // 4, 60)
    nats.send_signal(signal.SIGSTOP)  # freeze the cluster where it is
    at_kill = len(stored(tmp))
    if at_kill >= shards1:
        fail("the job finished before the kill (%d shards): nothing was tested" % at_kill)
    workers["w1"].kill()
    workers["w1"].wait()
    nats.send_signal(signal.SIGCONT)  # a restart: stop (JetStream flushes to disk), start on the same store
    nats.terminate()
    try:
        nats.wait(15)
    except subprocess.TimeoutExpired:
        fail("nats-server did not stop within 15 s of SIGTERM")
    nats = start_server("nats-2.log")
    try:
        rc = sub.wait(60)
    except subprocess.TimeoutExpired:
        fail("the submitter did not finish within 60 s of the restart")
    if rc:
        fail("embed --cluster exited %d: %s" % (rc, open(os.path.join(tmp, "submit-1.log")).read()[-2000:]))
    with open(out1, "rb") as f:
        check_output(f.read(), want1, n1, "kill and restart")
    twice = {k: v for k, v in stored(tmp).items() if v > 1}
    if twice:
        fail("shards stored more than once: %s" % twice)
    print("ok: %d texts in %d shards, worker w1 killed and the server restarted at %d shards stored; "
          "output identical to a local embed" % (n1, shards1, at_kill), flush=True)

    # 2. A poisoned task ends in the dead letters with its error.
    r = run([EXE, "embed", "--cluster", url, "-m", MODEL, "--text", "poison", "--dimensions", "100000"], 60)
    err = r.stderr.decode()
    if r.returncode != 1 or "dead letters" not in err or "dimensions 100000" not in err:
        fail("poisoned task: exit %d, stderr: %s" % (r.returncode, err[-2000:]))
    r = run([EXE, "cluster", "status", "--nats", url, "--json"], 30)
    status = json.loads(r.stdout)
    if r.returncode or status["dead_letters"] < 1:
        fail("cluster status after the poisoned task: %s" % r.stdout.decode())
    if sorted(w["name"] for w in status["workers"]) not in (["w1", "w2", "w3"], ["w2", "w3"]):
        fail("cluster status workers: %s" % status["workers"])
    print("ok: the poisoned task is in the dead letters: %s" % err.strip().splitlines()[-1][:200], flush=True)

    # 3. A killed submitter, run again, recomputes nothing that was done.
    n3 = 2000
    input3 = os.path.join(tmp, "input3.txt")
    with open(input3, "w") as f:
        f.write("\n".join(sentences(n3, 3)) + "\n")
    want3 = local_embed(input3, batch)
    before = len(stored(tmp))
    args3 = [EXE, "embed", "--cluster", url, "-m", MODEL, input3, "--batch-size", str(batch)]
    sub = subprocess.Popen(args3, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(sub)
    wait_for("the second job under way", lambda: len(stored(tmp)) - before >= 20 or sub.poll() is not None, 60)
    sub.kill()
    sub.wait()
    r = run(args3, 60)
    if r.returncode:
        fail("rerun after the submitter was killed: %s" % r.stderr.decode()[-2000:])
    check_output(r.stdout, want3, n3, "resumed job")
    found = re.findall(r"\((\d+) found done\)", r.stderr.decode())
    if not found or int(found[-1]) == 0:
        fail("the rerun found no finished shard: %s" % r.stderr.decode()[-1000:])
    twice = {k: v for k, v in stored(tmp).items() if v > 1}
    if twice:
        fail("shards stored more than once: %s" % twice)
    print("ok: the rerun found %s of %d shards done and gave the local embed's output" % (found[-1], n3 // batch))
    print("all cluster checks passed in %.1f s" % (time.time() - t_start))
    return 0


if __name__ == "__main__":
    sys.exit(natsutil.run_scenario("ia-cluster-", scenario, cleanup))
