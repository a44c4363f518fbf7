"""The official `openai` Python package, pointed at our server, gets the
same embeddings as the CLI (`ipfs-accelerate embed`) for the same texts:
with the client's default encoding (base64, decoded by the client), with
"float", and with `dimensions`. Errors come back as the client's own
exception types.

Usage: test_openai_client.py IPFS_ACCELERATE MODEL_DIR"""
import json
import math
import os
import subprocess
import sys

import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srvutil import Checker, Server  # noqa: E402

BIN, MODEL = sys.argv[1], sys.argv[2]
NAME = os.path.basename(MODEL.rstrip("/"))
t = Checker("server_openai_client")
check = t.check
TEXTS = ["The cat sits outside", "A man is playing guitar", "I love pasta",
         "Do you like pizza?", "caf\u00e9 \u00fcber na\u00efve \u4e2d\u6587", "x"]
TOL = 1e-6  # the engine's GEMM rounding differs by batch shape (~1e-7)


def close(a, b):
    return len(a) == len(b) and all(abs(x - y) <= TOL for x, y in zip(a, b))


cmd = [BIN, "embed", "-q", "--model", MODEL]
for x in TEXTS:
    cmd += ["--text", x]
cli = [json.loads(line)["embedding"]
       for line in subprocess.run(cmd, check=True, capture_output=True).stdout.decode().splitlines()]

s = Server(BIN, MODEL, "--api-key", "test-key")
try:
    client = openai.OpenAI(base_url=s.url + "/v1", api_key="test-key", max_retries=0, timeout=30)
    r = client.embeddings.create(model=NAME, input=TEXTS)
    got = [d.embedding for d in r.data]
    check("default (base64) encoding: same embeddings as the CLI",
          len(got) == len(cli) and all(close(a, b) for a, b in zip(got, cli)),
          max(abs(x - y) for a, b in zip(got, cli) for x, y in zip(a, b)))
    check("usage reported", r.usage.prompt_tokens > len(TEXTS) and r.usage.total_tokens == r.usage.prompt_tokens,
          r.usage)
    check("model echoed", r.model == NAME, r.model)
    r = client.embeddings.create(model=NAME, input=TEXTS, encoding_format="float")
    got = [d.embedding for d in r.data]
    check("float encoding: same embeddings as the CLI", all(close(a, b) for a, b in zip(got, cli)))
    r = client.embeddings.create(model=NAME, input=TEXTS[0], dimensions=16)
    v = r.data[0].embedding
    n16 = math.sqrt(sum(x * x for x in cli[0][:16]))
    check("dimensions=16: truncated and renormalized",
          len(v) == 16 and all(abs(a - b / n16) < 1e-5 for a, b in zip(v, cli[0][:16])), v[:3])
    models = [m.id for m in client.models.list()]
    check("models.list", models == [NAME], models)
    try:
        client.embeddings.create(model="no-such-model", input="a")
        check("unknown model raises", False)
    except openai.NotFoundError as e:
        check("unknown model: NotFoundError", "no-such-model" in str(e), e)
    try:
        client.embeddings.create(model=NAME, input=[])
        check("empty input raises", False)
    except openai.BadRequestError as e:
        check("empty input: BadRequestError", "empty" in str(e), e)
    bad = openai.OpenAI(base_url=s.url + "/v1", api_key="wrong", max_retries=0, timeout=30)
    try:
        bad.embeddings.create(model=NAME, input="a")
        check("wrong key raises", False)
    except openai.AuthenticationError as e:
        check("wrong key: AuthenticationError", True, e)
finally:
    rc = s.stop()
check("server exits 0", rc == 0, s.output()[-2000:])
sys.exit(t.summary())
