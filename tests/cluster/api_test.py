"""Runs test_cluster_api (the public C API, include/ipfs_accelerate/cluster.h)
against a nats-server with JetStream started here on a free 127.0.0.1 port
in a temporary directory: the "queue" phase with no worker, then one
single-thread worker, then the "results" phase.

usage: api_test.py TEST_CLUSTER_API IPFS_ACCELERATE MODEL_DIR

Every wait has a timeout. Exit 77 (skip) only when nats-server is absent.
"""
import os
import shutil
import subprocess
import sys
import tempfile

from natsutil import SKIP_NO_NATS, nats_server, spawn, start_nats, stop

PROG, EXE, MODEL = sys.argv[1], sys.argv[2], sys.argv[3]


def main():
    server = nats_server()
    if not server:
        print("SKIP: " + SKIP_NO_NATS)
        return 77
    tmp = tempfile.mkdtemp(prefix="ia-cluster-api-")
    procs = []
    try:
        url = start_nats(procs, server, os.path.join(tmp, "js"), None)[2]
        for phase in ("queue", "results"):
            if phase == "results":
                spawn(procs, [EXE, "worker", "--nats", url, "--model", MODEL, "--threads", "1", "--name", "api-worker",
                              "--max-deliver", "2", "-q"], os.path.join(tmp, "w.log"))
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
            stop(p, 10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
