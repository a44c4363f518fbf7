"""GET and POST /v1/advise on `ipfs-accelerate serve`: the CLI's advise
document over HTTP. With no peaks stored in the server's benchmark database
the CPU is usable but unpredicted (the server never measures); after
`bench peaks` stores them it is predicted. Errors are 400 naming the
parameter, other methods 405.
Usage: test_advise.py CLI MODEL"""
import os
import subprocess
import sys
import tempfile
import urllib.parse

from srvutil import Checker, Server

cli, model = sys.argv[1:3]
home = tempfile.mkdtemp(prefix="ia-advise-home-")
t = Checker("server_advise")
srv = Server(cli, model, env={"IPFS_ACCELERATE_HOME": home})
q = "/v1/advise?model=" + urllib.parse.quote(model)
try:
    st, h, doc = srv.get(q)
    t.check("GET 200", st == 200, doc)
    rec = doc.get("recommendation") if st == 200 else None
    t.check("the CPU, unpredicted without stored peaks", rec and rec["device"] == "cpu:0" and not rec["predicted"],
            rec)
    t.check("said so", st == 200 and any("priority" in r for r in doc["reasons"]), doc)

    p = subprocess.run([cli, "bench", "peaks", "--db", os.path.join(home, "bench.db")], capture_output=True,
                       text=True, timeout=120)
    t.check("bench peaks stored", p.returncode == 0, p.stderr)
    st, h, doc = srv.get(q + "&context=32")
    rec = doc.get("recommendation") if st == 200 else None
    t.check("predicted once peaks are stored", rec and rec["predicted"] and rec["latency_ms"] > 0, doc)
    t.check("context", st == 200 and doc["context"] == 32, doc)

    st, h, doc = srv.post("/v1/advise", {"model": model, "throughput": True, "context": 16})
    t.check("POST throughput", st == 200 and doc["goal"] == "throughput" and doc["recommendation"]["predicted"],
            doc)
    st, h, doc = srv.post("/v1/advise", {"model": model, "latency_ms": 1000})
    t.check("POST latency budget", st == 200 and doc["goal"] == "latency_budget", doc)

    st, h, doc = srv.get("/v1/advise")
    t.check("no model: 400 naming it", st == 400 and doc["error"]["param"] == "model", doc)
    st, h, doc = srv.get(q + "&latency_ms=abc")
    t.check("bad latency_ms: 400", st == 400 and doc["error"]["param"] == "latency_ms", doc)
    st, h, doc = srv.post("/v1/advise", {"model": model, "throughput": True, "latency_ms": 5})
    t.check("both goals: 400", st == 400, doc)
    st, h, doc = srv.post("/v1/advise", "[1]")
    t.check("a body not an object: 400", st == 400, doc)
    st, h, doc = srv.get("/v1/advise?model=/no/such/model")
    t.check("a missing model: 400 naming it", st == 400 and "/no/such/model" in doc["error"]["message"], doc)
    st, h, body = srv.request("PUT", q)
    t.check("PUT: 405", st == 405 and "GET" in h.get("allow", ""), (st, h))
    st, h, body = srv.request("GET", "/v1/advise/x")
    t.check("a longer path: 404", st == 404, st)
finally:
    rc = srv.stop()
t.check("server exit 0", rc == 0, srv.output()[-2000:])
sys.exit(t.summary())
