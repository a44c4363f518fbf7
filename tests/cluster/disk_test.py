"""The result cache's disk tier: a restarted worker, and a submitter,
answer from their folders without computing, byte for byte.

usage: disk_test.py IPFS_ACCELERATE MODEL_DIR

1. A JetStream nats-server in a temporary folder and one worker with
   --result-cache; a job (40 texts, shards of 4, the model by its folder's
   CID) equals a local `embed --batch-size 4 --threads 1` byte for byte,
   and the worker keeps its 10 results on disk.
2. The worker and the server stop; a new server starts on an empty store
   (the result bucket is gone) and the worker starts again on the same
   folder. The same job: every task is answered from the worker's disk
   (10 hits in its advert and in `cluster status`, none computed), the
   output byte for byte the first one's.
3. A submitter with IPFS_ACCELERATE_RESULT_CACHE_DIR reads the 10 results
   from the bucket and keeps them; with a new empty server and no worker at
   all it answers the job from its disk (10 disk hits counted in `cluster
   status`), the same bytes.

Every wait has a timeout; about 10 s. Exit 77 (skip) only without nats-server.
"""
import json
import os
import random
import sys

from natsutil import fail, run, start_nats
import natsutil

EXE, MODEL = sys.argv[1], sys.argv[2]
procs = []



def status(url):
    r = run([EXE, "cluster", "status", "--nats", url, "--json"], 30)
    if r.returncode:
        fail("cluster status: " + r.stderr.decode())
    return json.loads(r.stdout)


def scenario(server, tmp):
    path = os.path.join(tmp, "texts.txt")
    rnd = random.Random(7)
    with open(path, "w") as f:
        for i in range(40):
            f.write("%s %d\n" % (" ".join(rnd.choice("a cat dog blue river model".split()) for _ in range(6)), i))
    r = run([EXE, "embed", "-q", "-m", MODEL, path, "--batch-size", "4", "--threads", "1"], 60)
    if r.returncode:
        fail("local embed: " + r.stderr.decode())
    local = r.stdout
    cache = os.path.join(tmp, "worker-cache")

    def job(url, env=None):
        r = run([EXE, "embed", "-q", "--cluster", url, "-m", MODEL, path, "--batch-size", "4"], 60, env)
        if r.returncode:
            fail("embed --cluster: " + r.stderr.decode())
        return r.stdout

    def worker(url, log):
        p = natsutil.spawn(procs, [EXE, "worker", "--nats", url, "--model", MODEL, "--threads", "1", "--name", "w1",
                                   "--result-cache", cache], log)
        natsutil.wait_for("worker w1's advert", lambda: any(w["name"] == "w1" for w in status(url)["workers"]), 20)
        return p

    # 1. computed, kept on disk
    nats, _, url = start_nats(procs, server, os.path.join(tmp, "js1"), os.path.join(tmp, "nats1.log"))
    w = worker(url, os.path.join(tmp, "w1-a.log"))
    first = job(url)
    if first != local:
        fail("the cluster's output differs from the local embed")
    def on_disk():
        return [f for d in os.listdir(cache) for f in os.listdir(os.path.join(cache, d)) if not f.startswith(".tmp-")]

    # The worker publishes a result, then writes it to disk: the last file
    # may land just after the job has returned.
    natsutil.wait_for("the worker's 10 results on disk", lambda: len(on_disk()) >= 10, 10,
                      on_fail=lambda msg: fail("%s: found %d files" % (msg, len(on_disk()))))
    if len(on_disk()) != 10:
        fail("the worker should keep its 10 results on disk, found %d files" % len(on_disk()))
    natsutil.stop(w)
    natsutil.stop(nats)
    print("1. 10 tasks computed, 10 results on the worker's disk")

    # 2. a new, empty server; the restarted worker answers from disk
    nats, _, url = start_nats(procs, server, os.path.join(tmp, "js2"), os.path.join(tmp, "nats2.log"))
    log = os.path.join(tmp, "w1-b.log")
    w = worker(url, log)
    again = job(url)
    if again != first:
        fail("the results answered from the worker's disk differ from the computed ones")
    text = open(log, errors="replace").read()
    if text.count("stored from the disk cache") != 10 or " texts, " in text:
        fail("every task should be answered from disk, none computed:\n" + text[-2000:])
    natsutil.wait_for("the worker's advert to count 10 disk hits",
                      lambda: status(url)["cache"].get("worker_hits_disk") == 10, 10, on_fail=lambda m: None)
    st = status(url)
    w1 = [x for x in st["workers"] if x["name"] == "w1"][0]
    if w1["hits_disk"] != 10 or w1["tasks_done"] != 0 or st["cache"]["worker_hits_disk"] != 10:
        fail("cluster status should count 10 disk hits and no task done: %s" % json.dumps(st))
    print("2. restarted on an empty server: 10 tasks answered from the worker's disk, none computed, same bytes")

    # 3. a submitter's disk tier: filled from the bucket, then alone
    sub_env = dict(os.environ, IPFS_ACCELERATE_RESULT_CACHE_DIR=os.path.join(tmp, "submitter-cache"))
    if job(url, sub_env) != first:
        fail("the submitter's output differs")
    natsutil.stop(w)
    natsutil.stop(nats)
    nats, _, url = start_nats(procs, server, os.path.join(tmp, "js3"), os.path.join(tmp, "nats3.log"))
    if job(url, sub_env) != first:
        fail("the results answered from the submitter's disk differ")
    st = status(url)
    if st["cache"]["hits_disk"] != 10 or st["cache"]["misses"] != 0 or st["results"] != 0:
        fail("cluster status should count the submitter's 10 disk hits, no miss: %s" % json.dumps(st["cache"]))
    print("3. a submitter with no worker and an empty server: 10 results from its disk, same bytes")
    print("PASS")
    return 0


def cleanup():
    natsutil.stop_all(procs)


sys.exit(natsutil.run_scenario("ia-disk-", scenario, cleanup))
