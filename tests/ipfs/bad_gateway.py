#!/usr/bin/env python3
"""Misbehaving trustless gateways for the retrieval tests (127.0.0.1 only).

bad_gateway.py lie UPSTREAM  proxies to UPSTREAM but flips one byte of every
                             body (raw blocks and CARs alike)
bad_gateway.py hang          accepts connections and never answers
Prints the port it listens on, then serves until killed.
"""
import socket
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

mode = sys.argv[1]
upstream = sys.argv[2] if len(sys.argv) > 2 else None


class Liar(BaseHTTPRequestHandler):
    def do_GET(self):
        req = urllib.request.Request(upstream + self.path, headers={"Accept": self.headers.get("Accept", "")})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                body = bytearray(r.read())
                ctype = r.headers.get("Content-Type", "application/octet-stream")
                status = r.status
        except urllib.error.HTTPError as e:
            body, ctype, status = bytearray(e.read()), "text/plain", e.code
        if status == 200 and body:
            body[-1] ^= 0x01  # the lie: last byte of the block (or of the CAR's last block)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(bytes(body))

    def log_message(self, *a):
        pass


if mode == "lie":
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Liar)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()
else:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    print(s.getsockname()[1], flush=True)
    conns = []
    while True:
        c, _ = s.accept()
        conns.append(c)  # keep it open, say nothing
