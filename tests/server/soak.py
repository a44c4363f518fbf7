"""Load test with a mix of good and bad requests: several client threads
for DURATION seconds send valid embedding, tokenize, info, metrics and
gateway requests (each must answer 200 with the right shape) and bad ones
(malformed JSON, invalid UTF-8, wrong types, too many inputs, oversized and
truncated bodies, abrupt disconnects, stalled uploads), which must get a
4xx or a closed connection. At the end the server must be healthy, stop
on SIGTERM and exit 0: under the ASan+UBSan build that also means no leak
and no error report (`make soak` runs 60 s there; the suite runs a short
one).

Usage: soak.py IPFS_ACCELERATE MODEL_DIR [SECONDS] [THREADS] [MAX_INPUTS]
(MAX_INPUTS per embedding request, 16; fewer suit the slow TSan build)"""
import http.client
import json
import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srvutil import Checker, Server  # noqa: E402

BIN, MODEL = sys.argv[1], sys.argv[2]
DURATION = float(sys.argv[3]) if len(sys.argv) > 3 else 10
THREADS = int(sys.argv[4]) if len(sys.argv) > 4 else 4
MAX_INPUTS = int(sys.argv[5]) if len(sys.argv) > 5 else 16
t = Checker("server_soak")
WORDS = "ipfs block cid model token vector server batch queue embed sentence content hash".split()
lock = threading.Lock()
counts = {"good": 0, "bad": 0, "good_fail": 0, "bad_5xx": 0, "raw": 0}
failures = []


def sentence(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 60)))


def good(rng, port):
    kind = rng.randrange(6)
    if kind <= 1:
        n = rng.randint(1, MAX_INPUTS)
        body = {"input": [sentence(rng) for _ in range(n)] if n > 1 else sentence(rng)}
        if rng.random() < 0.3:
            body["encoding_format"] = "base64"
        path = "/v1/embeddings"
    elif kind <= 3:
        n = rng.randint(1, MAX_INPUTS)
        body = {"inputs": [sentence(rng) for _ in range(n)], "truncate": True}
        path = "/embed"
    elif kind == 4:
        n = 1
        body = {"inputs": sentence(rng)}
        path = "/tokenize"
    else:
        n = 0
        body = None
        path = rng.choice(["/health", "/info", "/v1/models", "/metrics", "/ipfs/bafkqaaa?format=raw"])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        if body is None:
            c.request("GET", path)
        else:
            c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        ok = r.status == 200
        if ok and path == "/v1/embeddings":
            d = json.loads(data)
            ok = len(d["data"]) == n and d["usage"]["prompt_tokens"] > 0
        elif ok and path == "/embed":
            d = json.loads(data)
            ok = len(d) == n and all(len(v) > 0 for v in d)
        return ok, (path, r.status, data[:200])
    finally:
        c.close()


BAD_BODIES = [
    ("/v1/embeddings", b'{"input": ["a",'), ("/embed", b'{"inputs": "caf\xc3"}'),
    ("/v1/embeddings", b'{"input": 42}'), ("/embed", b'{"inputs": "a", "normalize": 1}'),
    ("/embed", b'{"inputs": []}'), ("/v1/embeddings", b'{"input": ""}'),
    ("/v1/embeddings", json.dumps({"input": ["x"] * 1000}).encode()),
    ("/v1/embeddings", b'{"input": "a", "dimensions": -3}'), ("/tokenize", b'[1,2,3]'),
    ("/embed", b'{"inputs": "a"' + b' ' * 100 + b'garbage'), ("/embed", b'\x00\x01\x02'),
    ("/v1/embeddings", b'{"input": "a", "model": "nope"}'), ("/embed", b'{"inputs": "\\ud800"}'),
    ("/embed", b'[' * 5000), ("/embed", b'{"inputs": "x", "truncation_direction": 7}'),
]


def bad(rng, port):
    kind = rng.randrange(5)
    if kind <= 1:
        path, body = rng.choice(BAD_BODIES)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            c.request("POST", path, body, {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            return 400 <= r.status < 500, (path, body[:60], r.status)
        finally:
            c.close()
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        if kind == 2:  # oversized body by Content-Length
            s.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n{")
            resp = s.recv(64)
            return resp.startswith(b"HTTP/1.1 413") or resp == b"", resp[:40]
        if kind == 3:  # disconnect in the middle of a body
            s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"input\": [\"ab")
            return True, None
        # a request sent, then the client goes away before reading the answer
        body = json.dumps({"inputs": [sentence(rng) for _ in range(8)]}).encode()
        s.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        return True, None
    finally:
        s.close()


def client(seed, port, until):
    rng = random.Random(seed)
    while time.monotonic() < until:
        is_good = rng.random() < 0.6
        try:
            ok, detail = (good if is_good else bad)(rng, port)
        except (OSError, http.client.HTTPException, ValueError) as e:
            ok, detail = (not is_good), repr(e)  # a bad request may see a closed connection
        with lock:
            counts["good" if is_good else "bad"] += 1
            if not ok:
                counts["good_fail" if is_good else "bad_5xx"] += 1
                if len(failures) < 10:
                    failures.append(("good" if is_good else "bad", detail))


s = Server(BIN, MODEL, "--timeout", "3", "--max-client-batch-size", "64")
try:
    until = time.monotonic() + DURATION
    threads = [threading.Thread(target=client, args=(i, s.port, until)) for i in range(THREADS)]
    [th.start() for th in threads]
    [th.join() for th in threads]
    print("soak: %.0f s, %d good requests (%d failed), %d bad requests (%d answered wrongly)"
          % (DURATION, counts["good"], counts["good_fail"], counts["bad"], counts["bad_5xx"]))
    t.check("every good request answered 200 with the right shape", counts["good_fail"] == 0, failures)
    t.check("every bad request answered 4xx (or closed)", counts["bad_5xx"] == 0, failures)
    t.check("requests were made", counts["good"] > 10 and counts["bad"] > 10, counts)
    st, _, _ = s.get("/health")
    t.check("healthy after the soak", st == 200, st)
    st, _, m = s.get("/metrics")
    t.check("no engine failure", "ipfs_accelerate_engine_failures_total 0\n" in m,
            [x for x in m.splitlines() if "failures" in x])
finally:
    rc = s.stop()
out = s.output()
t.check("server exits 0 (no sanitizer report)", rc == 0 and "ERROR: AddressSanitizer" not in out
        and "runtime error" not in out and "LeakSanitizer" not in out, out[-4000:])
sys.exit(t.summary())
