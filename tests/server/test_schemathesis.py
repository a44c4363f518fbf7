"""schemathesis against the live server and our OpenAPI description
(docs/openapi.yaml): generated requests, valid and invalid, must get no
server error (5xx), only documented status codes and content types, and
bodies that match the documented schemas. Bounded: a fixed seed, few
examples per operation, a time budget.

Usage: test_schemathesis.py IPFS_ACCELERATE MODEL_DIR OPENAPI [MAX_EXAMPLES]"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srvutil import Checker, Server  # noqa: E402

BIN, MODEL, SPEC = sys.argv[1:4]
N = sys.argv[4] if len(sys.argv) > 4 else "25"
st_bin = os.path.join(os.path.dirname(sys.executable), "schemathesis")
t = Checker("server_schemathesis")

s = Server(BIN, MODEL, "--api-key", "schema-key")
try:
    cmd = [st_bin, "run", SPEC, "--url", s.url,
           "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                       "response_schema_conformance",
           "--phases", "examples,coverage,fuzzing", "--max-examples", N, "--seed", "1",
           "--workers", "1", "--request-timeout", "30",
           "--header", "Authorization: Bearer schema-key", "--no-color",
           "--suppress-health-check", "all"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    out = p.stdout + p.stderr
    t.check("schemathesis finds no 5xx and no schema violation", p.returncode == 0, out[-6000:])
    if p.returncode == 0:
        # The run summary, so the log shows what was covered.
        print("\n".join(out.strip().splitlines()[-12:]))
finally:
    rc = s.stop()
t.check("server exits 0", rc == 0, s.output()[-2000:])
sys.exit(t.summary())
