"""Models by CID: routing to the workers that hold a model, fetching it
from a peer's gateway (every block verified) where none does.

usage: cid_test.py IPFS_ACCELERATE MODEL_DIR

A JetStream nats-server on a free 127.0.0.1 port in a temporary folder;
every worker has a store of its own (IPFS_ACCELERATE_HOME) and no source
of blocks but the peers' gateways (the configured gateways, kubo node and
routers are emptied). Worker A is started with the model folder, serves
its store as a trustless gateway and advertises a proxy in front of it
(this script's, which can be told to flip a byte of every answer); B and
C start without a model. Tasks name the model by CID (embed --cluster -m
ipfs://CID), shards of 4 texts, every worker at --threads 1:

0. no source: only B runs. The task goes to the any subject, B takes it,
   finds no gateway to fetch the model from and, after its --max-deliver
   deliveries, dead-letters it: the job fails naming the CID.
1. held: A starts. A job's tasks go to A (B computes none); the output
   equals a local `embed --batch-size 4 --threads 1` byte for byte.
2. fetched: A is drained (SIGUSR1: no task, its gateway still serves) and
   the proxy lies. A new job's tasks go to the any subject; B fetches the
   model through the proxy, detects the wrong block and refuses it,
   naming the CID and the gateway. The proxy turns honest: B fetches the
   model, verified, keeps it, computes, and the output equals the local
   one byte for byte; B now advertises the CID.
3. orphaned: C starts (no model) and B is frozen (SIGSTOP) while its
   advert is still fresh, so a third job's tasks go to the model's
   subject, where no live worker takes them. Once B's advert is stale the
   submitter queues them again for any worker; C fetches the model from
   A's gateway and the output equals the local one byte for byte.

Every wait has a timeout; about 25 s. Exit 77 (skip) only without nats-server.
"""
import http.server
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from natsutil import fail, free_port, run, start_nats
import natsutil

EXE, MODEL = sys.argv[1], sys.argv[2]
WORDS = "the a cat dog runs over lazy quick brown fox jumps tree river blue red model vector".split()
procs = []


class Proxy(http.server.BaseHTTPRequestHandler):
    """Forwards GETs to the upstream gateway; with lie set, flips a byte
    near the end of every body (a block's data, in a CAR too)."""
    upstream = None
    lie = False
    lied = 0

    def do_GET(self):
        req = urllib.request.Request(Proxy.upstream + self.path,
                                     headers={"Accept": self.headers.get("Accept", "*/*")})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, body, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, body, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
        if Proxy.lie and status == 200 and body:
            b = bytearray(body)
            b[len(b) - 1 - min(len(b) - 1, 7)] ^= 0x55
            body = bytes(b)
            Proxy.lied += 1
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass



def texts(path, n, seed):
    rnd = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            f.write("%s %d\n" % (" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 10))), i))


def local_embed(path):
    r = run([EXE, "embed", "-q", "-m", MODEL, path, "--batch-size", "4", "--threads", "1"], 60)
    if r.returncode:
        fail("local embed: " + r.stderr.decode())
    return r.stdout


def status(url):
    r = run([EXE, "cluster", "status", "--nats", url, "--json"], 30)
    if r.returncode:
        fail("cluster status: " + r.stderr.decode())
    return {w["name"]: w for w in json.loads(r.stdout)["workers"]}


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def scenario(server, tmp):
    nats, port, url = start_nats(procs, server, os.path.join(tmp, "js"), os.path.join(tmp, "nats.log"))
    r = run([EXE, "model", "add", "--only-hash", MODEL], 60)
    if r.returncode:
        fail("model add --only-hash: " + r.stderr.decode())
    cid = r.stdout.decode().strip()
    ref = "ipfs://" + cid

    def env(name):
        e = dict(os.environ, IPFS_ACCELERATE_HOME=os.path.join(tmp, "home-" + name),
                 IPFS_ACCELERATE_IPFS_GATEWAYS="", IPFS_ACCELERATE_IPFS_LOCAL_NODE="", IPFS_ACCELERATE_ROUTERS="")
        return e

    def worker(name, *extra):
        return natsutil.spawn(procs, [EXE, "worker", "--nats", url, "--threads", "1", "--name", name,
                                      "--ack-wait", "3", *extra], os.path.join(tmp, name + ".log"), env(name))

    def submit(path, timeout=60):
        return subprocess.Popen([EXE, "embed", "-q", "--cluster", url, "-m", ref, path, "--batch-size", "4"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env("submitter"))

    def finish(p, what, timeout=60):
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            fail("%s: no output after %d s" % (what, timeout))
        return p.returncode, out, err.decode()

    def wait_log(name, needle, timeout, what):
        natsutil.wait_for(what, lambda: needle in read(os.path.join(tmp, name + ".log")), timeout, step=0.02)

    # 0. no source: B alone dead-letters the task, naming the CID
    b = worker("wb", "--max-models", "1", "--max-deliver", "3")
    natsutil.wait_for("worker wb's advert", lambda: "wb" in status(url), 20)
    t0 = time.time()
    rc, out, err = finish(submit_texts(tmp, "t0.txt", 2, 0, submit), "no-source job", 30)
    if rc == 0 or cid not in err or "could not be fetched" not in err or "dead letters" not in err:
        fail("a task for a model nobody holds or serves should fail naming the CID (rc %d): %s" % (rc, err))
    print("0. no source: dead letter after %.1f s: %s" % (time.time() - t0, err.strip()[-200:]))

    # 1. held: A (with the model, its gateway behind the proxy) takes every task
    gw_port = free_port()
    Proxy.upstream = "http://127.0.0.1:%d" % gw_port
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    proxy_url = "http://127.0.0.1:%d" % proxy.server_address[1]
    a = worker("wa", "--model", MODEL, "--max-models", "0", "--gateway-listen", "127.0.0.1:%d" % gw_port,
               "--advertise-gateway", proxy_url)
    natsutil.wait_for("worker wa's advert of " + cid,
                      lambda: [m["cid"] for m in status(url).get("wa", {}).get("models", [])] == [cid], 30)
    path1 = os.path.join(tmp, "t1.txt")
    texts(path1, 80, 1)
    rc, out, err = finish(submit(path1), "job 1")
    if rc or out != local_embed(path1):
        fail("job 1 (model held by wa): rc %d, output %s the local embed: %s" %
             (rc, "equal to" if out == local_embed(path1) else "differs from", err))
    natsutil.wait_for("wa's advert to count job 1's tasks", lambda: status(url)["wa"]["tasks_done"] >= 20, 10,
                      on_fail=lambda m: None)
    st = status(url)
    if st["wa"]["tasks_done"] != 20 or st["wb"]["tasks_done"] != 0:
        fail("job 1's 20 tasks should all go to wa, which holds the model: wa %d, wb %d" %
             (st["wa"]["tasks_done"], st["wb"]["tasks_done"]))
    print("1. held: 20 tasks by wa, none by wb; output equals the local embed")

    # 2. fetched: wa drained, the proxy lies, then tells the truth
    a.send_signal(signal.SIGUSR1)
    natsutil.wait_for("wa to advertise draining", lambda: status(url)["wa"].get("draining"), 10)
    Proxy.lie = True
    path2 = os.path.join(tmp, "t2.txt")
    texts(path2, 40, 2)
    job2 = submit(path2)
    wait_log("wb", "it served wrong bytes", 30, "wb to refuse the proxy's wrong blocks")
    log = read(os.path.join(tmp, "wb.log"))
    if "served wrong bytes" not in log or cid not in log or proxy_url not in log:
        fail("wb should refuse the wrong block naming the gateway and the CID: " + log[-2000:])
    line = [l for l in log.splitlines() if "it served wrong bytes" in l][0]
    print("2. a lying gateway (%d answers altered) refused: %s" % (Proxy.lied, line[:400]))
    Proxy.lie = False
    rc, out, err = finish(job2, "job 2")
    if rc or out != local_embed(path2):
        fail("job 2 (model fetched by wb): rc %d, output differs from the local embed: %s" % (rc, err))
    natsutil.wait_for("wb's advert to count job 2's tasks", lambda: status(url)["wb"]["tasks_done"] >= 1, 10,
                      on_fail=lambda m: None)
    st = status(url)
    if st["wb"]["tasks_done"] < 1 or cid not in [m["cid"] for m in st["wb"]["models"]]:
        fail("wb should have fetched the model and computed job 2: %s" % json.dumps(st["wb"]))
    mat = os.path.join(tmp, "home-wb", "materialized")
    if not os.path.isdir(mat) or not os.listdir(mat):
        fail("wb should keep the fetched model in its store (%s)" % mat)
    print("2. fetched: wb verified and kept the model, computed %d tasks; output equals the local embed" %
          st["wb"]["tasks_done"])

    # 3. orphaned: wb frozen while advertised; the tasks are queued again for any worker
    c = worker("wc", "--max-models", "1")
    natsutil.wait_for("worker wc's advert", lambda: "wc" in status(url), 20)
    b.send_signal(signal.SIGSTOP)
    path3 = os.path.join(tmp, "t3.txt")
    texts(path3, 40, 3)
    t0 = time.time()
    rc, out, err = finish(submit(path3), "job 3", 60)
    b.send_signal(signal.SIGCONT)
    if rc or out != local_embed(path3):
        fail("job 3 (holder frozen): rc %d, output differs from the local embed: %s" % (rc, err))
    natsutil.wait_for("wc's advert to count job 3's tasks", lambda: status(url)["wc"]["tasks_done"] >= 1, 10,
                      on_fail=lambda m: None)
    st = status(url)
    if st["wc"]["tasks_done"] < 1:
        fail("wc should have fetched the model and computed job 3: %s" % json.dumps(st["wc"]))
    print("3. orphaned: requeued for any worker, wc fetched the model and computed %d tasks in %.1f s; output "
          "equals the local embed" % (st["wc"]["tasks_done"], time.time() - t0))
    proxy.shutdown()
    print("PASS")
    return 0


def submit_texts(tmp, name, n, seed, submit):
    path = os.path.join(tmp, name)
    texts(path, n, seed)
    return submit(path)


def cleanup():
    natsutil.stop_all(procs)


sys.exit(natsutil.run_scenario("ia-cid-", scenario, cleanup))
