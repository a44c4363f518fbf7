"""The trustless gateway that `serve` mounts, over real HTTP on 127.0.0.1,
with an API key and one HTTP thread: the key covers /ipfs/ and
/routing/v1/ like every route but /health and /metrics (the gateway serves
the whole local store); a CAR of a multi-block file comes back complete
(imported into a second store it gives the file back) while its client
stalls halfway, and meanwhile the one HTTP thread still answers /health and
/embed.

Usage: test_gateway.py IPFS_ACCELERATE MODEL_DIR"""
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srvutil import Checker, Server  # noqa: E402

BIN, MODEL = sys.argv[1], sys.argv[2]
KEY = "gw-s3cret"
AUTH = {"Authorization": "Bearer " + KEY}
t = Checker("server_gateway")
check = t.check

tmp = tempfile.TemporaryDirectory(prefix="ia-gateway-test-")
home, other = os.path.join(tmp.name, "home"), os.path.join(tmp.name, "other")
data = os.urandom(4 * 1024 * 1024 + 12345)  # 17 leaves of 256 KiB
path = os.path.join(tmp.name, "blob")
with open(path, "wb") as f:
    f.write(data)


def cli(args, home_dir, **kw):
    env = dict(os.environ, IPFS_ACCELERATE_HOME=home_dir)
    return subprocess.run([BIN] + args, env=env, capture_output=True, check=True, timeout=120, **kw)


cid = cli(["add", "-Q", path], home).stdout.decode().strip()
check("file added", cid.startswith("Qm"), cid)

s = Server(BIN, MODEL, "--api-key", KEY, "--http-threads", "1", env={"IPFS_ACCELERATE_HOME": home})
try:
    for route in ["/ipfs/%s?format=car" % cid, "/ipfs/%s?format=raw" % cid, "/routing/v1/providers/" + cid]:
        st, h, body = s.request("GET", route)
        check("no key: 401 on " + route, st == 401 and h.get("www-authenticate") == "Bearer", (st, body[:200]))
        st, _, body = s.request("GET", route, headers={"Authorization": "Bearer wrong"})
        check("wrong key: 401 on " + route, st == 401, (st, body[:200]))
    st, h, body = s.request("HEAD", "/ipfs/%s?format=car" % cid)
    check("no key: 401 on HEAD", st == 401, st)
    st, _, body = s.request("GET", "/routing/v1/providers/" + cid, headers=AUTH)
    check("routing with the key", st == 200 and b'"Providers"' in body, (st, body[:200]))

    # A client that stalls in the middle of its CAR.
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.sendall(("GET /ipfs/%s?format=car HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                  "Connection: close\r\n\r\n" % (cid, KEY)).encode())
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = sock.recv(4096)
        if not chunk:
            break
        got += chunk
    head, _, car = got.partition(b"\r\n\r\n")
    check("CAR: 200", head.startswith(b"HTTP/1.1 200"), head[:300])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    check("CAR: Content-Length over the file's size", length > len(data), head[:300])
    while len(car) < 65536:
        chunk = sock.recv(65536)
        if not chunk:
            break
        car += chunk
    t0 = time.monotonic()
    st, _, _ = s.request("GET", "/health", timeout=10)
    st2, _, body = s.post("/embed", {"inputs": "while a CAR download stalls"}, headers=AUTH, timeout=10)
    check("/health and /embed answer while a CAR client stalls (one HTTP thread)",
          st == 200 and st2 == 200 and time.monotonic() - t0 < 10, (st, st2))
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        car += chunk
    sock.close()
    check("CAR: all of it", len(car) == length, (len(car), length))
    car_path = os.path.join(tmp.name, "got.car")
    with open(car_path, "wb") as f:
        f.write(car)
    try:
        cli(["car", "import", car_path], other)
        back = cli(["cat", "--offline", cid], other).stdout
        check("CAR imported elsewhere gives the file back", back == data, len(back))
    except subprocess.CalledProcessError as e:
        check("CAR imports", False, e.stderr.decode()[-1000:])
finally:
    rc = s.stop()
check("server exits 0", rc == 0, s.output()[-3000:])
sys.exit(t.summary())
