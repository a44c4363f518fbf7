"""NATS credentials and TLS for the cluster commands.

usage: auth_test.py IPFS_ACCELERATE MODEL_DIR

Starts nats-servers with JetStream on free 127.0.0.1 ports in a temporary
directory, each with an authorization block or TLS, and checks:

1. user and password: a worker with a wrong password, or with none, cannot
   join (it exits 1 saying the server refused it); one with the right
   password (given in the environment) joins, and `embed --cluster` with
   --nats-user/--nats-password gets the local embed's output from it;
   `cluster status` lists it. The wrong worker never appears.
2. token: a wrong --nats-token is refused, the right one joins.
3. TLS: with a CA and a server certificate made here by openssl, a client
   without --nats-tls-ca fails the handshake naming the certificate, one
   with it embeds through a worker over TLS.

Every wait has a timeout. Exit 77 (skip) only when nats-server is absent.
"""
import json
import os
import shutil
import subprocess
import sys
import time

from natsutil import fail, nats_listening, run, run_scenario, spawn, stop

EXE, MODEL = sys.argv[1], sys.argv[2]
procs = []



def start_server(server, tmp, name, conf):
    """nats-server with conf (a config file's text, {port} and {store} filled)."""
    path = os.path.join(tmp, name + ".conf")
    with open(path, "w") as f:
        f.write(conf.replace("{port}", "-1").replace("{store}", os.path.join(tmp, name + "-js")))
    spawn(procs, [server, "-c", path], os.path.join(tmp, name + ".log"))
    return nats_listening(os.path.join(tmp, name + ".log"), what="nats-server %s to listen" % name)


def worker(url, name, tmp, *extra, env=None):
    return spawn(procs, [EXE, "worker", "--nats", url, "--model", MODEL, "--threads", "1", "--name", name, *extra],
                 os.path.join(tmp, name + ".log"), env=env)


def refused(url, name, tmp, *extra, want="refused these credentials"):
    """A worker that must fail to join, saying why."""
    p = worker(url, name, tmp, *extra)
    try:
        rc = p.wait(30)
    except subprocess.TimeoutExpired:
        fail("worker %s joined a server that should refuse it" % name)
    err = open(os.path.join(tmp, name + ".log"), errors="replace").read()
    if rc != 1 or want not in err:
        fail("worker %s: exit %d, stderr: %s" % (name, rc, err[-1000:]))
    return err.strip().splitlines()[-1]


def local_embed(texts):
    args = [EXE, "embed", "-q", "-m", MODEL, "--threads", "1"]
    for t in texts:
        args += ["--text", t]
    r = run(args, 60)
    if r.returncode:
        fail("local embed: " + r.stderr.decode())
    return r.stdout


def cluster_embed(url, texts, *extra, what):
    args = [EXE, "embed", "-q", "--cluster", url, "-m", MODEL, *extra]
    for t in texts:
        args += ["--text", t]
    r = run(args, 60)
    if r.returncode:
        fail("%s: embed --cluster exited %d: %s" % (what, r.returncode, r.stderr.decode()[-1000:]))
    if r.stdout != local_embed(texts):
        fail("%s: embed --cluster output differs from the local embed" % what)


def cleanup():
    for p in reversed(procs):  # workers before their servers
        if p.poll() is None:
            stop(p, 10)


def scenario(server, tmp):
    t_start = time.time()
    texts = ["only the right password gets in", "a second text"]

    # 1. user and password
    port = start_server(server, tmp, "userpass", "listen: 127.0.0.1:{port}\njetstream { store_dir: \"{store}\" }\n"
                        "authorization { user: ia, password: \"s3cret-pw\" }\n")
    url = "nats://127.0.0.1:%d" % port
    msg = refused(url, "wrong", tmp, "--nats-user", "ia", "--nats-password", "not-it")
    refused(url, "anonymous", tmp, want="asks for credentials")
    env = dict(os.environ, IPFS_ACCELERATE_NATS_USER="ia", IPFS_ACCELERATE_NATS_PASSWORD="s3cret-pw")
    worker(url, "right", tmp, env=env)
    cluster_embed(url, texts, "--nats-user", "ia", "--nats-password", "s3cret-pw", what="user and password")
    r = run([EXE, "cluster", "status", "--nats", url, "--json", "--nats-user", "ia", "--nats-password", "s3cret-pw"],
            30)
    if r.returncode or [w["name"] for w in json.loads(r.stdout)["workers"]] != ["right"]:
        fail("cluster status with credentials: %s %s" % (r.stdout.decode(), r.stderr.decode()))
    r = run([EXE, "cluster", "status", "--nats", url], 30)
    if r.returncode != 1 or "asks for credentials" not in r.stderr.decode():
        fail("cluster status without credentials: exit %d: %s" % (r.returncode, r.stderr.decode()))
    print("ok: user and password: a wrong one is refused (%s); the right one joins and embeds" % msg, flush=True)

    # 2. token
    port = start_server(server, tmp, "token", "listen: 127.0.0.1:{port}\njetstream { store_dir: \"{store}\" }\n"
                        "authorization { token: \"t0ken-abc\" }\n")
    url = "nats://127.0.0.1:%d" % port
    refused(url, "wrong-token", tmp, "--nats-token", "t0ken-xyz")
    worker(url, "token-worker", tmp, "--nats-token", "t0ken-abc")
    cluster_embed(url, texts, "--nats-token", "t0ken-abc", what="token")
    print("ok: token: a wrong one is refused, the right one joins and embeds", flush=True)

    # 3. TLS, with a CA and a server certificate for 127.0.0.1 made here
    openssl = shutil.which("openssl")
    if not openssl:
        print("ok (TLS not checked: no openssl to make certificates)")
        return 0
    ca, ca_key, srv, srv_key = (os.path.join(tmp, n) for n in ("ca.pem", "ca.key", "srv.pem", "srv.key"))
    ext = os.path.join(tmp, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    for args in ([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
                  "-subj", "/CN=ipfs-accelerate test CA"],
                 [openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", srv_key, "-out", srv + ".csr",
                  "-subj", "/CN=127.0.0.1"],
                 [openssl, "x509", "-req", "-in", srv + ".csr", "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                  "-out", srv, "-days", "2", "-extfile", ext]):
        r = run(args, 60)
        if r.returncode:
            fail("openssl: " + r.stderr.decode()[-500:])
    port = start_server(server, tmp, "tls", "listen: 127.0.0.1:{port}\njetstream { store_dir: \"{store}\" }\n"
                        "tls { cert_file: \"%s\", key_file: \"%s\" }\n" % (srv, srv_key))
    url = "nats://127.0.0.1:%d" % port
    msg = refused(url, "no-ca", tmp, want="certificate")
    worker(url, "tls-worker", tmp, "--nats-tls-ca", ca)
    cluster_embed(url, texts, "--nats-tls-ca", ca, what="TLS")
    print("ok: TLS: without the CA the handshake fails (%s); with it a worker embeds" % msg[-120:], flush=True)
    print("all cluster auth checks passed in %.1f s" % (time.time() - t_start))
    return 0


if __name__ == "__main__":
    sys.exit(run_scenario("ia-cluster-auth-", scenario, cleanup))
