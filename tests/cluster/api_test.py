"""Runs test_cluster_api (the public C API, include/ipfs_accelerate/cluster.h)
against a nats-server with JetStream started here on a free 127.0.0.1 port
in a temporary directory: the "queue" phase with no worker, then one
single-thread worker, then the "results" phase.

usage: api_test.py TEST_CLUSTER_API IPFS_ACCELERATE MODEL_DIR

Every wait has a timeout. Exit 77 (skip) only when nats-server is absent.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

PROG, EXE, MODEL = sys.argv[1], sys.argv[2], sys.argv[3]


def main():
    server = shutil.which("nats-server") or ("/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else None)
    if not server:
        print("SKIP: nats-server is not installed (scripts/install-deps.sh installs it)")
        return 77
    tmp = tempfile.mkdtemp(prefix="ia-cluster-api-")
    procs = []
    try:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        url = "nats://127.0.0.1:%d" % port
        procs.append(subprocess.Popen([server, "-js", "-sd", os.path.join(tmp, "js"), "-a", "127.0.0.1",
                                       "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        t0 = time.time()
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.time() - t0 > 15:
                    print("FAIL: nats-server did not listen within 15 s")
                    return 1
                time.sleep(0.05)
        for phase in ("queue", "results"):
            if phase == "results":
                procs.append(subprocess.Popen([EXE, "worker", "--nats", url, "--model", MODEL, "--threads", "1",
                                               "--name", "api-worker", "--max-deliver", "2", "-q"],
                                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "w.log"), "wb")))
            try:
                r = subprocess.run([PROG, url, MODEL, phase], timeout=120)
            except subprocess.TimeoutExpired:
                print("FAIL: test_cluster_api %s timed out after 120 s" % phase)
                return 1
            if r.returncode:
                print("FAIL: test_cluster_api %s exited %d" % (phase, r.returncode))
                return 1
        return 0
    finally:
        for p in reversed(procs):  # the worker before its server
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
