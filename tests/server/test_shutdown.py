"""Graceful stop with slow clients: requests whose headers came before
SIGTERM and whose bodies trickle in afterwards. One finishes within the
drain time (`serve --drain-timeout`, 4 s here) and gets its answer
(an embedding, and the gateway's); one finishes just after it, while the
server stops its queue and HTTP threads, and is answered 503 or cut off.
Either way the server exits 0 with no sanitizer report: before the fix the
queue was torn down while an HTTP thread could still call into it (TSan:
"use of an invalid mutex").

Usage: test_shutdown.py IPFS_ACCELERATE MODEL_DIR"""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srvutil import Checker, Server  # noqa: E402

BIN, MODEL = sys.argv[1], sys.argv[2]
DRAIN = 4  # what `serve` gives requests in flight after SIGTERM
t = Checker("server_shutdown")
check = t.check


def start(port, method, path, body):
    """Connect and send the headers and nothing of the body."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=DRAIN + 20)
    sock.sendall(b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % (method, path, len(body)))
    return sock


def trickle(sock, body, t_signal, t_last, out):
    """Send body a byte at a time, the last byte t_last s after the signal;
    out gets the answer (b"" when the connection was closed without one)."""
    try:
        for i in range(len(body)):
            delay = t_signal + t_last * (i + 1) / len(body) - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sock.sendall(body[i:i + 1])
        answer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        out.append(answer)
    except OSError as e:
        out.append(repr(e).encode())
    finally:
        sock.close()


s = Server(BIN, MODEL, "--timeout", "10", "--drain-timeout", str(DRAIN))
try:
    embed = json.dumps({"inputs": ["a slow upload"]}).encode()
    ask = b'{"anything": 1}'
    slow = [(b"POST", b"/embed", embed, 1.5),      # within the drain
            (b"POST", b"/ipfs/bafkqaaa", ask, 1.5),  # the gateway's handler thread
            (b"POST", b"/embed", embed, DRAIN + 1)]  # after it, before the HTTP threads stop
    socks = [start(s.port, m, p, b) for m, p, b, _ in slow]
    time.sleep(0.5)  # the headers are in
    t_signal = time.monotonic()
    s.proc.send_signal(15)
    answers = [[] for _ in slow]
    threads = [threading.Thread(target=trickle, args=(sk, b, t_signal, last, out))
               for sk, (_, _, b, last), out in zip(socks, slow, answers)]
    [th.start() for th in threads]
    [th.join() for th in threads]
    rc = s.proc.wait(60)
    a_embed, a_gw, a_late = (a[0] if a else b"" for a in answers)
    check("a body finished after SIGTERM, within the drain: 200", a_embed.startswith(b"HTTP/1.1 200")
          and b'[[' in a_embed, a_embed[:200])
    check("the same for the gateway (405: read-only)", a_gw.startswith(b"HTTP/1.1 405"), a_gw[:200])
    check("a body finished after the drain: 503 or closed",
          a_late == b"" or a_late.startswith(b"HTTP/1.1 503"), a_late[:200])
    print("after the drain: %s" % (a_late[:12].decode() or "closed without an answer"))
    log = s.output()
    check("exit 0", rc == 0, "%s\n%s" % (rc, log[-3000:]))
    check("no sanitizer report", "Sanitizer" not in log and "runtime error" not in log, log[-3000:])
finally:
    s.stop()
sys.exit(t.summary())
