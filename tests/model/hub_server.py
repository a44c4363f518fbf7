#!/usr/bin/env python3
"""A local stand-in for the Hugging Face hub's download API, for tests on
127.0.0.1: the same URL layout and headers as huggingface.co.

    hub_server.py PORT_FILE ORG/NAME=DIR [ORG/NAME=DIR ...] [--corrupt FILE]

  GET /api/models/ORG/NAME/revision/REV   {"id", "sha", "siblings"}
  GET /api/models/ORG/NAME/tree/REV       [{"type", "path", "size", "oid", "lfs"}]
  GET|HEAD /ORG/NAME/resolve/REV/FILE     small files: 200 with ETag = git
      blob SHA-1; *.safetensors (LFS): 302 to http://localhost:PORT/cdn/SHA256 (another host, as the
      hub's CDN is) with
      X-Linked-Etag = SHA-256 and X-Linked-Size, as the hub does.
  X-Repo-Commit on every resolve answer. --corrupt FILE serves that file
  with one byte flipped (a lying server). Writes the chosen port to
  PORT_FILE once listening.
"""
import hashlib, http.server, json, os, sys, threading

repos, corrupt = {}, set()
args = sys.argv[2:]
while args:
    a = args.pop(0)
    if a == "--corrupt":
        corrupt.add(args.pop(0))
    else:
        rid, d = a.split("=", 1)
        repos[rid] = d


def files(d):
    out = []
    for root, _, names in os.walk(d):
        for n in names:
            out.append(os.path.relpath(os.path.join(root, n), d))
    return sorted(out)


def commit_of(rid):
    return hashlib.sha1(rid.encode()).hexdigest()


def content(rid, f):
    data = open(os.path.join(repos[rid], f), "rb").read()
    if f in corrupt and data:
        data = bytes([data[0] ^ 1]) + data[1:]
    return data


class Hub(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?")[0]
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "revision":
            rid = "/".join(parts[2:4])
            if rid not in repos:
                return self.send(404, b'{"error":"Repository not found"}')
            body = json.dumps({"id": rid, "sha": commit_of(rid),
                               "siblings": [{"rfilename": f} for f in files(repos[rid])]}).encode()
            return self.send(200, body, [("Content-Type", "application/json")])
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "tree":
            rid = "/".join(parts[2:4])
            if rid not in repos:
                return self.send(404, b'{"error":"Repository not found"}')
            entries = []
            for f in files(repos[rid]):
                real = open(os.path.join(repos[rid], f), "rb").read()
                e = {"type": "file", "path": f, "size": len(real),
                     "oid": hashlib.sha1(b"blob %d\0" % len(real) + real).hexdigest()}
                if f.endswith(".safetensors"):
                    e["lfs"] = {"oid": hashlib.sha256(real).hexdigest(), "size": len(real), "pointerSize": 134}
                entries.append(e)
            return self.send(200, json.dumps(entries).encode(), [("Content-Type", "application/json")])
        if parts[0] == "cdn" and len(parts) == 2:
            for rid in repos:
                for f in files(repos[rid]):
                    data = content(rid, f)
                    if hashlib.sha256(open(os.path.join(repos[rid], f), "rb").read()).hexdigest() == parts[1]:
                        return self.send(200, data, [("ETag", '"cdn-%s"' % parts[1][:8])])
            return self.send(404)
        if len(parts) >= 5 and parts[2] == "resolve":
            rid, f = "/".join(parts[:2]), "/".join(parts[4:])
            if rid not in repos or f not in files(repos[rid]):
                return self.send(404, b"Entry not found", [("X-Error-Code", "EntryNotFound")])
            data = content(rid, f)
            real = open(os.path.join(repos[rid], f), "rb").read()
            common = [("X-Repo-Commit", commit_of(rid))]
            if f.endswith(".safetensors"):
                sha = hashlib.sha256(real).hexdigest()
                return self.send(302, b"", common + [("Location", "http://localhost:%d/cdn/%s" % (self.server.server_address[1], sha)),
                                                     ("X-Linked-Etag", '"%s"' % sha),
                                                     ("X-Linked-Size", str(len(real))),
                                                     ("ETag", '"%s"' % sha)])
            blob = hashlib.sha1(b"blob %d\0" % len(real) + real).hexdigest()
            return self.send(200, data, common + [("ETag", '"%s"' % blob)])
        self.send(404)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
threading.Timer(600, srv.shutdown).start()  # never outlive a test run
srv.serve_forever()
