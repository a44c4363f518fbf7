"""Helpers for the server tests: start `ipfs-accelerate serve` on a free
port of 127.0.0.1, wait until /health says 200, talk HTTP with the standard
library only, and stop the server with SIGTERM (its exit status is the
test's business: 0, and under ASan no leak report)."""
import atexit
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


class Server:
    def __init__(self, binary, models, *args, env=None, ready_timeout=60):
        self.tmp = tempfile.mkdtemp(prefix="ia-server-test-")
        atexit.register(shutil.rmtree, self.tmp, True)
        port_file = os.path.join(self.tmp, "port")
        cmd = [binary, "serve", "--listen", "127.0.0.1:0", "--port-file", port_file]
        for m in models if isinstance(models, (list, tuple)) else [models]:
            cmd += ["--model", m]
        cmd += list(args)
        self.log_path = os.path.join(self.tmp, "server.log")
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.pop("IPFS_ACCELERATE_API_KEY", None)
        full_env["IPFS_ACCELERATE_HOME"] = os.path.join(self.tmp, "home")  # the gateway's store
        full_env.update(env or {})
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=full_env)
        deadline = time.monotonic() + ready_timeout
        self.port = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %d:\n%s" % (self.proc.returncode, self.output()))
            if self.port is None and os.path.exists(port_file):
                txt = open(port_file).read().strip()
                if txt:
                    self.port = int(txt)
            if self.port:
                try:
                    st, _, _ = self.request("GET", "/health", timeout=5)
                    if st == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError("server not healthy in %ss:\n%s" % (ready_timeout, self.output()))

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def request(self, method, path, body=None, headers=None, timeout=60):
        """(status, headers dict with lower-case names, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            elif isinstance(body, str):
                body = body.encode()
            h = {"Content-Type": "application/json"} if body is not None else {}
            h.update(headers or {})
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def post(self, path, obj, **kw):
        st, h, data = self.request("POST", path, obj, **kw)
        try:
            return st, h, json.loads(data) if data else None
        except ValueError:
            return st, h, data

    def get(self, path, **kw):
        st, h, data = self.request("GET", path, **kw)
        if h.get("content-type", "").startswith("application/json"):
            return st, h, json.loads(data)
        return st, h, data.decode()

    def stop(self, timeout=60):
        """SIGTERM, wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                print("server did not stop in %ss" % timeout, file=sys.stderr)
                return -9
        self.log.close()
        return self.proc.returncode


class Checker:
    def __init__(self, name):
        self.name, self.passed, self.failed = name, 0, 0

    def check(self, what, cond, detail=""):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL: %s%s" % (what, (": " + str(detail)[:600]) if detail else ""), file=sys.stderr)
        return cond

    def summary(self):
        print("%s: %d passed, %d failed" % (self.name, self.passed, self.failed))
        return 1 if self.failed else 0
