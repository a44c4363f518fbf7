"""Helpers shared by the cluster tests (tests/cluster/*_test.py and
tests/python/test_distributed.py): finding nats-server, a free loopback
port, a JetStream server in a folder of the test's, bounded waits, and
starting and stopping processes. Each test keeps its own scenario and
checks; these only set the stage.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SKIP_NO_NATS = "nats-server is not installed (scripts/install-deps.sh installs it)"


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def run(args, timeout, env=None, **kw):
    """subprocess.run with output captured, failing the test on a timeout."""
    try:
        return subprocess.run(args, capture_output=True, timeout=timeout, env=env, **kw)
    except subprocess.TimeoutExpired:
        fail("timed out after %d s: %s" % (timeout, " ".join(args)))


def nats_server():
    """nats-server's path, or None where it is not installed."""
    return shutil.which("nats-server") or ("/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server")
                                           else None)


def run_scenario(prefix, scenario, cleanup):
    """scenario(server, tmp)'s exit status, with tmp a new folder named
    prefix...; cleanup() then, and tmp removed. 77 (skip) without
    nats-server."""
    server = nats_server()
    if not server:
        print("SKIP: " + SKIP_NO_NATS)
        return 77
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        return scenario(server, tmp)
    finally:
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def wait_for(what, cond, timeout, step=0.05, on_fail=None):
    """Polls cond every step seconds; on a timeout calls on_fail (fail by
    default) with a message naming what."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return
        time.sleep(step)
    (on_fail or fail)("timed out after %.0f s waiting for %s" % (timeout, what))


def spawn(procs, args, log, env=None):
    """A process with stdout dropped and stderr to the file log (None drops
    it too), appended to procs."""
    err = open(log, "wb") if log else subprocess.DEVNULL
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, env=env)
    procs.append(p)
    return p


def stop(p, timeout=15, sig=signal.SIGTERM):
    """sig, then SIGKILL if p is still there after timeout seconds."""
    p.send_signal(sig)
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def stop_all(procs, timeout=5):
    """Every process of procs still running, the last started first: the
    workers before their nats-server, which they would otherwise wait
    on until the timeout. Stopped ones (SIGSTOP) are continued first."""
    for p in reversed(procs):
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGCONT)
            except OSError:
                pass
            stop(p, timeout)


def nats_args(server, store, port, *extra):
    """nats-server with JetStream storing in store, on 127.0.0.1:port."""
    return [server, "-js", "-sd", store, "-a", "127.0.0.1", "-p", str(port), *extra]


def nats_listening(log, port=None, what="nats-server", timeout=15, on_fail=None):
    """The port a nats-server writing stderr to log says it listens on (port,
    or the one it picked for -1), once it does. Its log, not a port found
    free here: another test's server could take such a port first and
    answer in its place."""
    found = []

    def bound():
        with open(log, errors="replace") as f:
            m = re.search(r"Listening for client connections on 127\.0\.0\.1:(\d+)", f.read())
        if m and (not port or int(m.group(1)) == port):
            found.append(int(m.group(1)))
        return bool(found) and listening(found[0])

    wait_for(what, bound, timeout, on_fail=on_fail)
    return found[0]


def start_nats(procs, server, store, log, port=None, what="nats-server", timeout=15, on_fail=None, extra=()):
    """A JetStream nats-server (on port, or one it picks) that listens;
    returns (process, port, url)."""
    log = log or store + ".log"
    p = spawn(procs, nats_args(server, store, port or -1, *extra), log)
    port = nats_listening(log, port, what, timeout, on_fail)
    return p, port, "nats://127.0.0.1:%d" % port


def wait_serving(pf, name):
    """The port a `serve --port-file pf` writes, once /health answers."""
    wait_for(name + "'s port file", lambda: os.path.exists(pf) and open(pf).read().strip(), 30)
    port = int(open(pf).read())

    def healthy():
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=2)
            return True
        except (urllib.error.URLError, OSError):
            return False
    wait_for(name + " to be healthy", healthy, 60)
    return port


def post(port, path, body, timeout=60):
    """POSTs body as JSON: (status, response bytes, X-Cluster-Worker)."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), r.headers.get("X-Cluster-Worker")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), None
