"""`serve --cluster` against a local `serve` of the same model.

usage: serve_test.py IPFS_ACCELERATE MODEL_DIR

Starts nats-server with JetStream in a temporary directory on a free
127.0.0.1 port, two single-thread workers on a copy of MODEL_DIR under
another folder name (tasks go by the folder's CID, not its name), a local
`serve -j 1` and a `serve -j 1 --cluster`, then:

1. same bytes: /v1/embeddings (floats, base64 with dimensions, token ids),
   /embed (normalize false, truncate), /similarity and /embed_all answer
   the same body from both servers, computed by the workers of the copy;
   the cluster server's /metrics counts the tasks; a request repeated is
   answered from the server's memory.
2. cache tiers: with the workers stopped, the same requests are answered
   from the server's memory, and by a new server from the cluster's result
   bucket, with the same bytes; /metrics and `cluster status` count the
   hits and misses.
3. dead letter: with the workers stopped, a worker on a copy of the model
   whose files differ (another CID under the same folder name) does not
   compute the task: nobody holds its CID, so it goes to any worker, and
   that one finds no source to fetch the model from; the server answers
   502 naming the worker's error and the CID.
4. backpressure: on a second nats-server, a `serve --cluster --max-queue 1`
   with no worker: a first request waits and times out (504), a second one
   finds the queue full: 429 at once; with that nats-server stopped, a
   request is 503 naming it, after the 3 s timeout.

Every wait has a timeout. Exit 77 (skip) only when nats-server is absent.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from natsutil import SKIP_NO_NATS, fail, nats_server, start_nats, stop, wait_for, wait_serving
import natsutil

EXE, MODEL = sys.argv[1], sys.argv[2]
procs = []


def start(args, log):
    return natsutil.spawn(procs, args, log)


def nats(server, tmp, name):
    return start_nats(procs, server, os.path.join(tmp, name), os.path.join(tmp, name + ".log"))[2]


def post(port, path, body, timeout=60):
    return natsutil.post(port, path, body, timeout)[:2]


def computed_by(port, path, body):
    """The headers naming what computed an answer."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.headers.get("X-Cluster-Worker"), r.headers.get("X-Backend"), r.headers.get("X-Precision")


def get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=30) as r:
        return r.read().decode()


def serve(tmp, name, extra):
    pf = os.path.join(tmp, name + ".port")
    start([EXE, "serve", "--model", MODEL, "-j", "1", "--listen", "127.0.0.1:0", "--port-file", pf,
           "--no-gateway"] + extra, os.path.join(tmp, name + ".log"))
    return wait_serving(pf, name)


def metric(port, line_start):
    for line in get(port, "/metrics").splitlines():
        if line.startswith(line_start):
            return float(line.split()[-1])
    fail("no %s in /metrics" % line_start)


def main():
    server = nats_server()
    if not server:
        print("SKIP: " + SKIP_NO_NATS)
        return 77
    tmp = tempfile.mkdtemp(prefix="ia-serve-cluster-")
    try:
        url = nats(server, tmp, "js")
        renamed = os.path.join(tmp, "renamed-copy")  # the same files, so the same CID
        shutil.copytree(MODEL, renamed)
        workers = [start([EXE, "worker", "--nats", url, "--model", renamed, "--threads", "1", "--name", "w%d" % i,
                          "-q"], os.path.join(tmp, "w%d.log" % i)) for i in range(2)]
        local = serve(tmp, "local", [])
        remote = serve(tmp, "remote", ["--cluster", url, "--cluster-timeout", "30"])
        name = os.path.basename(MODEL.rstrip("/"))

        # 1. the same bytes
        long_text = " ".join(["word"] * 2000)
        cases = [
            ("/v1/embeddings", {"input": ["hello world", "a second sentence, longer than the first"], "model": name}),
            ("/v1/embeddings", {"input": "one text", "encoding_format": "base64", "dimensions": 8}),
            ("/v1/embeddings", {"input": [[5, 6, 7, 8], [9, 10]]}),
            ("/embed", {"inputs": ["what is the capital of France?", "Paris"]}),
            ("/embed", {"inputs": "not normalized", "normalize": False}),
            ("/embed", {"inputs": [long_text], "truncate": True}),
            ("/similarity", {"inputs": {"source_sentence": "a cat", "sentences": ["a dog", "a kitten", "stocks"]}}),
            ("/embed_all", {"inputs": ["every token's state"]}),
        ]
        for path, body in cases:
            a, b = post(local, path, body), post(remote, path, body)
            if a[0] != 200 or a != b:
                fail("%s %s: local %d %r, cluster %d %r" % (path, json.dumps(body)[:80], a[0], a[1][:200], b[0],
                                                            b[1][:200]))
        computed = metric(remote, 'ipfs_accelerate_cluster_tasks_total{outcome="computed"}')
        if computed != len(cases):
            fail("/metrics counts %g computed cluster tasks, %d were sent" % (computed, len(cases)))
        again = post(remote, cases[0][0], cases[0][1])
        if again != post(local, cases[0][0], cases[0][1]):
            fail("a repeated request gave other bytes")
        if metric(remote, 'ipfs_accelerate_cluster_tasks_total{outcome="memory"}') != 1:
            fail("a repeated request was not answered from the server's memory")
        print("same bytes: %d requests on /v1/embeddings, /embed, /similarity, /embed_all" % len(cases), flush=True)

        # 2. the cache tiers, with no worker left: this server's memory, then
        # a new server's lookups in the cluster's result bucket
        for w in workers:
            stop(w)
        for path, body in cases:
            if post(remote, path, body) != post(local, path, body):
                fail("%s from the memory tier: other bytes" % path)
        # answers say which worker, backend and precision computed them, cached or not
        by = computed_by(remote, cases[0][0], cases[0][1])
        if by[0] not in ("w0", "w1") or by[1:] != ("cpu", "fp32") or computed_by(local, *cases[0])[0] is not None:
            fail("X-Cluster-Worker, X-Backend, X-Precision: %r" % (by,))
        if metric(remote, 'ipfs_accelerate_cache_hits_total{tier="memory"}') != len(cases) + 2:
            fail("/metrics: %g memory hits" % metric(remote, 'ipfs_accelerate_cache_hits_total{tier="memory"}'))
        fresh = serve(tmp, "fresh", ["--cluster", url, "--cluster-timeout", "5"])
        fresh_proc = procs[-1]
        for path, body in cases:
            a, b = post(local, path, body), post(fresh, path, body)
            if a != b:
                fail("%s from the cluster tier: local %r, cluster %r" % (path, a[:120], b[:120]))
        if computed_by(fresh, *cases[0]) != by:  # now from fresh's memory: the provenance kept
            fail("a cached answer's provenance: %r, not %r" % (computed_by(fresh, *cases[0]), by))
        hits = metric(fresh, 'ipfs_accelerate_cache_hits_total{tier="cluster"}')
        if hits != len(cases) or metric(fresh, "ipfs_accelerate_cache_misses_total") != 0:
            fail("/metrics of a new server: %g cluster hits, %d expected, and misses" % (hits, len(cases)))
        stop(fresh_proc)  # its last counts are reported as it leaves
        # the running server's, within a second
        cache = {}

        def counted():
            cache.update(json.loads(subprocess.run([EXE, "cluster", "status", "--nats", url, "--json"],
                                                   capture_output=True, timeout=30).stdout)["cache"])
            return cache["hits_memory"] == len(cases) + 3
        wait_for("cluster status to count the memory hits", counted, 10)
        if (cache["hits_cluster"] != len(cases) or cache["misses"] != len(cases) or cache["entries"] != len(cases)
                or abs(cache["hit_rate"] - (2 * len(cases) + 3) / (3 * len(cases) + 3)) > 1e-9):
            fail("cluster status: cache %r" % cache)
        print("cache: %d answers from memory, %d from the result bucket, no worker, the same bytes, computed by "
              "%r; cluster status: %r" % (len(cases) + 3, len(cases), by, cache), flush=True)

        # 3. a dead letter: other files under the same folder name
        other = os.path.join(tmp, "other", name)
        shutil.copytree(MODEL, other)
        with open(os.path.join(other, "config.json"), "a") as f:
            f.write("\n")  # the same model, other bytes: another CID
        cid = subprocess.run([EXE, "model", "add", "--only-hash", MODEL], capture_output=True,
                             timeout=60).stdout.decode().strip()
        natsutil.spawn(procs, [EXE, "worker", "--nats", url, "--model", other, "--threads", "1", "--name", "odd",
                               "--max-deliver", "1", "-q"], os.path.join(tmp, "odd.log"),
                       dict(os.environ, IPFS_ACCELERATE_HOME=os.path.join(tmp, "home-odd"),
                            IPFS_ACCELERATE_IPFS_GATEWAYS="", IPFS_ACCELERATE_IPFS_LOCAL_NODE="",
                            IPFS_ACCELERATE_ROUTERS=""))
        st, body = post(remote, "/embed", {"inputs": "never computed before"})
        if st != 502 or b"could not be fetched" not in body or b"odd" not in body or cid.encode() not in body:
            fail("a dead letter naming %s: %d %r" % (cid, st, body[:400]))
        print("dead letter: 502 %s" % json.loads(body)["error"][:160], flush=True)

        # 4. a full queue: 429 at once; no worker: 504 after the timeout
        url2 = nats(server, tmp, "js2")
        js2 = procs[-1]
        bounded = serve(tmp, "bounded", ["--cluster", url2, "--max-queue", "1", "--cluster-timeout", "3"])
        first = {}
        t = threading.Thread(target=lambda: first.update(r=post(bounded, "/embed", {"inputs": "first"})))
        t.start()
        time.sleep(0.5)
        t0 = time.time()
        st, body = post(bounded, "/embed", {"inputs": "second"})
        took = time.time() - t0
        t.join(30)
        if st != 429 or b"full" not in body or took > 2:
            fail("a full queue: %d after %.2f s: %r" % (st, took, body[:300]))
        if first.get("r", (0,))[0] != 504:
            fail("no worker: %r" % (first.get("r"),))
        if metric(bounded, 'ipfs_accelerate_cluster_tasks_total{outcome="busy"}') != 1:
            fail("/metrics does not count the refused task")
        print("backpressure: 429 in %.3f s (%s); no worker: 504" % (took, json.loads(body)["error"][:100]))

        # 5. NATS gone: 503 naming it, after the timeout (3 s) for a reconnect
        stop(js2)
        t0 = time.time()
        st, body = post(bounded, "/embed", {"inputs": "third"}, timeout=20)
        took = time.time() - t0
        if st != 503 or b"cannot be reached" not in body or not 2.5 < took < 6:
            fail("NATS gone: %d after %.1f s: %r" % (st, took, body[:300]))
        print("NATS gone: 503 after %.1f s (%s)" % (took, json.loads(body)["error"][:120]), flush=True)
        for p in reversed(procs):  # a sanitizer build reports at exit
            if p.poll() is None:
                stop(p)
        for log in sorted(os.listdir(tmp)):
            if log.endswith(".log") and b"Sanitizer" in open(os.path.join(tmp, log), "rb").read():
                fail("%s: %s" % (log, open(os.path.join(tmp, log), "rb").read()[-3000:].decode(errors="replace")))
        return 0
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
