"""The HTTP server over real HTTP on 127.0.0.1: every route, the limits and
bad inputs, the API key (the gateway's routes too), slow and idle clients,
429 under load, coalesced batches giving the same results as single
requests, and graceful shutdown.

Usage: test_api.py IPFS_ACCELERATE MODEL_DIR"""
import base64
import json
import re
import math
import os
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srvutil import Checker, Server  # noqa: E402

BIN, MODEL = sys.argv[1], sys.argv[2]
NAME = os.path.basename(MODEL.rstrip("/"))
t = Checker("server_api")
check = t.check

TEXTS = ["the quick brown fox", "jumps over the lazy dog", "caf\u00e9 \u00fcber \u4e2d\u6587",
         "a", "Hello, World! Hello again."]
LONG = " ".join(["word"] * 400)  # over the tiny model's 256 tokens


def norm(v):
    return math.sqrt(sum(x * x for x in v))


def cli_embed(texts):
    cmd = [BIN, "embed", "-q", "--model", MODEL]
    for x in texts:
        cmd += ["--text", x]
    out = subprocess.run(cmd, check=True, capture_output=True).stdout.decode()
    return [json.loads(line)["embedding"] for line in out.splitlines()]


def close(a, b, tol=1e-6):
    """Equal within tol: the engine's GEMMs round differently for different
    batch shapes (about 1e-7), so grouping moves the last bits."""
    if isinstance(a, list) and a and isinstance(a[0], list):
        return len(a) == len(b) and all(close(x, y, tol) for x, y in zip(a, b))
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


def f32(v):
    return [struct.unpack("<f", struct.pack("<f", x))[0] for x in v]


def error_names(body, field):
    """The error message (either API's shape) names field."""
    if not isinstance(body, dict):
        return False
    e = body.get("error")
    msg = e.get("message", "") if isinstance(e, dict) else str(e)
    return field in msg


s = Server(BIN, MODEL, "--max-client-batch-size", "8", "--max-body-bytes", "65536", "--timeout", "2")
try:
    # ---- health, headers, discovery
    st, h, body = s.get("/health")
    check("health 200", st == 200 and body == {"status": "ok"}, (st, body))
    check("every response names backend and precision",
          h.get("x-backend") == "cpu" and h.get("x-precision") == "fp32", h)
    st, h, body = s.get("/v1/models")
    check("models lists the model", st == 200 and body["object"] == "list"
          and [m["id"] for m in body["data"]] == [NAME], body)
    st, h, info = s.get("/info")
    check("info", st == 200 and info["model_id"] == NAME and info["dim"] == 32
          and info["max_input_length"] == 256 and info["backend"] == "cpu"
          and info["precision"] == "fp32" and info["max_client_batch_size"] == 8, info)

    # ---- OpenAI embeddings equal the CLI's
    ref = cli_embed(TEXTS)
    st, h, body = s.post("/v1/embeddings", {"input": TEXTS, "model": NAME})
    check("embeddings 200", st == 200, (st, body))
    if st == 200:
        got = [d["embedding"] for d in body["data"]]
        check("embeddings in input order with indices",
              [d["index"] for d in body["data"]] == list(range(len(TEXTS))), body["data"])
        check("embeddings equal the CLI's", close(got, ref), (got[0][:4], ref[0][:4]))
        check("model echoed", body["model"] == NAME, body["model"])
        check("response headers say backend", h.get("x-backend") == "cpu", h)
        st2, _, toks = s.post("/tokenize", {"inputs": TEXTS})
        n_tok = sum(len(x) for x in toks)
        check("usage counts the tokens", body["usage"] == {"prompt_tokens": n_tok, "total_tokens": n_tok},
              (body["usage"], n_tok))
    st, h, body = s.post("/v1/embeddings", {"input": TEXTS[0]})
    check("string input, no model: default model", st == 200 and len(body["data"]) == 1
          and close(body["data"][0]["embedding"], ref[0]), body)
    st, h, body = s.post("/v1/embeddings", {"input": TEXTS[:2], "encoding_format": "base64"})
    if check("base64 200", st == 200, (st, body)):
        dec = [list(struct.unpack("<32f", base64.b64decode(d["embedding"]))) for d in body["data"]]
        check("base64 decodes to the float32 values", close(dec, [f32(v) for v in ref[:2]]), dec[0][:3])
    for enc, offset in (("ubinary", 0), ("binary", -128)):
        st, h, body = s.post("/v1/embeddings", {"input": TEXTS[:2], "encoding_format": enc})
        # numpy.packbits(v > 0) (minus 128 for binary), as sentence-transformers quantizes
        want = [[sum((v[j + k] > 0) << (7 - k) for k in range(8)) + offset for j in range(0, 32, 8)] for v in ref[:2]]
        check(enc + ": the sign bits, 8 a byte, most significant first",
              st == 200 and [d["embedding"] for d in body["data"]] == want, (st, str(body)[:200], want))
    # int8/uint8: one bucket of 256 a dimension over the model's calibration
    # ranges (tests/server/test_quantized.py checks the buckets against
    # sentence-transformers on the real model)
    got = {}
    for enc, lo, hi in (("int8", -128, 127), ("uint8", 0, 255)):
        for dims in (None, 8):
            req = {"input": TEXTS, "encoding_format": enc, **({"dimensions": dims} if dims else {})}
            st, h, body = s.post("/v1/embeddings", req)
            if check(f"{enc} dimensions {dims}: 200", st == 200, (st, str(body)[:200])):
                vs = [d["embedding"] for d in body["data"]]
                got[enc, dims] = vs
                check(f"{enc} dimensions {dims}: integers in {lo}..{hi}, one a dimension",
                      all(len(v) == (dims or 32) and all(type(x) is int and lo <= x <= hi for x in v)
                          for v in vs), vs[0])
    for dims in (None, 8):
        if ("int8", dims) in got and ("uint8", dims) in got:
            check(f"int8 is uint8 less 128 (dimensions {dims})",
                  [[x - 128 for x in v] for v in got["uint8", dims]] == got["int8", dims])
    if ("uint8", None) in got:  # a larger value lands in the same or a higher bucket
        order_ok = all(
            (ref[i][j] < ref[k][j]) <= (got["uint8", None][i][j] <= got["uint8", None][k][j])
            for j in range(32) for i in range(len(TEXTS)) for k in range(len(TEXTS)))
        check("uint8 buckets keep each dimension's order", order_ok)
    st, h, body = s.post("/v1/embeddings", {"input": TEXTS[1], "dimensions": 8})
    if check("dimensions 200", st == 200, (st, body)):
        v = body["data"][0]["embedding"]
        r8 = ref[1][:8]
        check("dimensions: 8 values", len(v) == 8, len(v))
        check("dimensions: renormalized", abs(norm(v) - 1) < 1e-5, norm(v))
        check("dimensions: the first 8, rescaled",
              all(abs(a - b / norm(r8)) < 1e-6 for a, b in zip(v, r8)), (v[:3], r8[:3]))
    st, h, body = s.post("/v1/embeddings", {"input": LONG})
    check("OpenAI route truncates long input", st == 200 and body["usage"]["prompt_tokens"] == 256,
          (st, body if st != 200 else body["usage"]))

    # ---- TEI
    st, h, body = s.post("/embed", {"inputs": TEXTS})
    check("embed equals the CLI's", st == 200 and close(body, ref), (st, str(body)[:200]))
    st, h, body = s.post("/embed", {"inputs": TEXTS[2]})
    check("embed of a string: one row", st == 200 and close(body, [ref[2]]), str(body)[:200])
    st, h, body = s.post("/embed", {"inputs": TEXTS[0], "normalize": False})
    check("normalize false: raw pooled vector", st == 200 and abs(norm(body[0]) - 1) > 1e-3
          and all(abs(a / norm(body[0]) - b) < 1e-5 for a, b in zip(body[0], ref[0])),
          norm(body[0]) if st == 200 else body)
    st, h, body = s.post("/embed_all", {"inputs": TEXTS[:3]})
    st2, h, raw = s.post("/embed", {"inputs": TEXTS[:3], "normalize": False})
    if check("embed_all 200", st == 200 and st2 == 200, (st, st2)):
        means = [[sum(col) / len(rows) for col in zip(*rows)] for rows in body]
        check("embed_all: every token's state, whose mean is the mean-pooled vector",
              len(body) == 3 and all(len(r[0]) == 32 for r in body) and close(means, raw, 1e-5),
              (len(body), means[0][:3], raw[0][:3]))
    st, h, body = s.post("/embed", {"inputs": LONG})
    check("TEI: over-long input without truncate is 413", st == 413
          and body.get("error_type") == "Validation" and "truncate" in body.get("error", ""), (st, body))
    st, h, body = s.post("/embed", {"inputs": LONG, "truncate": True})
    check("TEI: truncate true embeds", st == 200 and len(body[0]) == 32, st)
    two_parts = " ".join(["cat"] * 200 + ["dog"] * 200)  # over the limit: each end is different
    st, h, body = s.post("/embed", {"inputs": two_parts, "truncate": True, "truncation_direction": "Left"})
    left_ids = subprocess.run([BIN, "tokenize", "--model", MODEL, "--max-length", "256", "--truncate-left", "--text",
                               two_parts], capture_output=True, text=True).stdout
    st2, h, want = s.post("/embed", {"inputs": [json.loads(left_ids)["ids"]]}) if left_ids else (0, None, None)
    st3, h, right = s.post("/embed", {"inputs": two_parts, "truncate": True})
    check("truncation_direction Left keeps the end of the text", st == 200 and st2 == 200 and close(body, want)
          and not close(body, right), (st, st2, str(body)[:100]))
    st, h, body = s.post("/embed", {"inputs": "x", "truncation_direction": "Up"})
    check("truncation_direction Up: 422 naming it", st == 422
          and error_names(body, "truncation_direction"), (st, body))
    st, h, body = s.post("/tokenize", {"inputs": "hello world"})
    if check("tokenize 200", st == 200, (st, body)):
        toks = body[0]
        check("tokenize: specials marked", toks[0]["special"] and toks[-1]["special"]
              and not any(x["special"] for x in toks[1:-1]), toks)
        check("tokenize: words", [x["text"] for x in toks[1:-1]] == ["hello", "world"], toks)
        cli = subprocess.run([BIN, "tokenize", "--model", MODEL, "--text", "hello world"],
                             capture_output=True).stdout.decode()
        if cli.strip():
            check("tokenize ids equal the CLI's", json.loads(cli.splitlines()[0])["ids"]
                  == [x["id"] for x in toks], cli)
        # token-id inputs: the same ids as the text, the same vector
        ids = [x["id"] for x in toks]
        st, h, body = s.post("/embed", {"inputs": [ids, "hello world"]})
        check("embed of token ids equals the text's", st == 200 and close([body[0]], [body[1]]), (st, str(body)[:200]))
        st, h, body = s.post("/v1/embeddings", {"input": ids})
        check("OpenAI: token ids, one input", st == 200 and len(body["data"]) == 1
              and body["usage"]["prompt_tokens"] == len(ids), (st, str(body)[:200]))
        st, h, body = s.post("/embed", {"inputs": [[ids[0], 10**8]]})
        check("token id outside the vocabulary: 422 naming it", st == 422 and "inputs[0][1]" in body.get("error", ""),
              (st, body))
        st, h, body = s.post("/embed", {"inputs": [[1.5]]})
        check("token id not an integer: 422", st == 422, (st, body))
        st, h, body = s.post("/embed", {"inputs": [ids[0]] * 1000})
        check("too many token ids without truncate: 413", st == 413, (st, body))
    st, h, body = s.post("/tokenize", {"inputs": ["hello world"], "add_special_tokens": False})
    check("tokenize without specials", st == 200 and [x["text"] for x in body[0]] == ["hello", "world"],
          body)

    # ---- bad requests: clear answers naming the field
    st, h, body = s.post("/v1/embeddings", '{"input": ["a",')
    check("malformed JSON: 400 OpenAI shape", st == 400 and body["error"]["type"] == "invalid_request_error"
          and "JSON" in body["error"]["message"], (st, body))
    st, h, body = s.post("/embed", '{"inputs": "a"} trailing')
    check("data after the JSON: 400 TEI shape", st == 400 and "error_type" in body, (st, body))
    st, h, body = s.post("/v1/embeddings", {"input": 5})
    check("input of the wrong type: 422 naming input", st == 422 and body["error"]["param"] == "input"
          and error_names(body, "input"), (st, body))
    st, h, body = s.post("/v1/embeddings", {"input": ["ok", None]})
    check("input[1] null: 422 naming input[1]", st == 422 and error_names(body, "input[1]"), (st, body))
    st, h, body = s.post("/embed", {"inputs": "a", "normalize": "yes"})
    check("normalize as a string: 422 naming it", st == 422 and error_names(body, "normalize"), (st, body))
    st, h, body = s.post("/v1/embeddings", {"input": "a", "encoding_format": "hex"})
    check("bad encoding_format: 422", st == 422 and error_names(body, "encoding_format"), (st, body))
    check("bad encoding_format: the message lists every encoding",
          st == 422 and all(f'"{e}"' in body["error"]["message"]
                            for e in ("float", "base64", "binary", "ubinary", "int8", "uint8")), body)
    st, h, body = s.post("/v1/embeddings", {"input": "a", "dimensions": 33})
    check("dimensions above the model's: 422", st == 422 and error_names(body, "dimensions"), (st, body))
    st, h, body = s.post("/v1/embeddings", {"input": "a", "dimensions": 0})
    check("dimensions 0: 422", st == 422, (st, body))
    st, h, body = s.post("/v1/embeddings", {"model": NAME})
    check("missing input: 422 naming input", st == 422 and error_names(body, "input"), (st, body))
    st, h, body = s.post("/v1/embeddings", [1, 2])
    check("body not an object: 422", st == 422, (st, body))
    st, h, body = s.post("/embed", {"inputs": []})
    check("empty inputs: 400 Empty", st == 400 and body.get("error_type") == "Empty", (st, body))
    st, h, body = s.post("/v1/embeddings", {"input": ["a", ""]})
    check("empty string: 400 naming input[1]", st == 400 and error_names(body, "input[1]"), (st, body))
    st, h, body = s.post("/v1/embeddings", b"")
    check("empty body: 400", st == 400, (st, body))
    st, h, body = s.post("/v1/embeddings", {"input": ["x"] * 9})
    check("too many inputs: 413", st == 413 and error_names(body, "max-client-batch-size"), (st, body))
    st, h, body = s.post("/embed", b'{"inputs": "caf\xc3 \xff"}')
    check("invalid UTF-8: 400", st == 400 and "UTF-8" in body.get("error", ""), (st, body))
    st, h, body = s.post("/v1/embeddings", {"input": "a", "model": "no-such-model"})
    check("unknown model: 404 model_not_found", st == 404 and body["error"]["code"] == "model_not_found",
          (st, body))
    st, h, body = s.post("/v1/embeddings", {"input": "x" * 70000})
    check("body over the limit: 413", st == 413 and error_names(body, "limit"), (st, body))
    st, h, data = s.request("GET", "/v1/embeddings")
    check("GET on a POST route: 405 with Allow", st == 405 and h.get("allow") == "POST", (st, h))
    st, h, data = s.request("GET", "/no/such/route")
    check("unknown route: 404", st == 404, st)

    # Chunked body over the limit: read and refused after the fact.
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    sock.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                 b"Content-Type: application/json\r\n\r\n")
    chunk = b"x" * 30000
    for _ in range(3):
        sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    sock.sendall(b"0\r\n\r\n")
    resp = sock.recv(4096)
    check("chunked body over the limit: 413", resp.startswith(b"HTTP/1.1 413"), resp[:80])
    sock.close()

    # ---- slow and idle clients
    slow = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    slow.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inp")
    idle = [socket.create_connection(("127.0.0.1", s.port), timeout=10) for _ in range(200)]
    st, _, body = s.post("/embed", {"inputs": "still serving"})
    check("serves with 200 idle connections and a stalled upload", st == 200, st)
    t0 = time.monotonic()
    slow.settimeout(8)
    try:
        got = slow.recv(100)
    except OSError:
        got = b""
    check("stalled upload closed after --timeout", got == b"" and time.monotonic() - t0 < 6,
          (got, time.monotonic() - t0))
    closed = 0
    for c in idle:
        c.settimeout(3)
        try:
            closed += c.recv(10) == b""
        except OSError:
            pass
        c.close()
    check("idle connections closed after --timeout", closed == 200, closed)
    slow.close()
    st, _, _ = s.get("/health")
    check("healthy after slow and idle clients", st == 200, st)

    # ---- concurrent requests: coalesced, same results as one by one
    sentences = ["sentence number %d about %s" % (i, w) for i, w in
                 enumerate(["cats", "dogs", "ipfs", "cids", "blocks", "bert"] * 4)]
    singles = {}
    for x in sentences:
        singles[x] = s.post("/embed", {"inputs": x})[2][0]
    results, errors = {}, []

    def worker(k):
        mine = sentences[k::4]
        for i in range(0, len(mine), 2):
            st_, _, b = s.post("/embed", {"inputs": mine[i:i + 2]})
            if st_ != 200:
                errors.append(st_)
                continue
            for x, v in zip(mine[i:i + 2], b):
                results[x] = v
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    [th.start() for th in threads]
    [th.join() for th in threads]
    check("concurrent requests all 200", not errors, errors)
    check("concurrent results equal single-request results",
          all(close(results.get(x, []), singles[x]) for x in sentences), len(results))

    # The content layer's trustless gateway is mounted beside the API.
    st, h, data = s.request("GET", "/ipfs/bafkqaaa")
    check("gateway mounted at /ipfs/ (asks for a format: 406)", st == 406 and h.get("x-backend") == "cpu",
          (st, data[:100]))
    st, h, data = s.request("GET", "/ipfs/bafkqaaa?format=raw")
    check("gateway serves an identity block", st == 200 and data == b"", (st, data[:100]))
    st, h, data = s.request("GET", "/routing/v1/providers/bafkqaaa")
    check("routing mounted at /routing/v1/", st in (200, 404) and h.get("content-type", "").startswith(
        "application/json"), (st, h, data[:100]))

    st, h, m = s.get("/metrics")
    check("metrics text format", st == 200 and h["content-type"].startswith("text/plain"), h)
    for needle in ['ipfs_accelerate_http_requests_total{route="/embed",status="200"}',
                   'ipfs_accelerate_http_requests_total{route="/v1/embeddings",status="422"}',
                   'ipfs_accelerate_http_request_duration_seconds_bucket{route="/embed",le="+Inf"}',
                   "ipfs_accelerate_queue_depth ", "ipfs_accelerate_batch_size_bucket",
                   "ipfs_accelerate_batch_tokens_count", "ipfs_accelerate_tokens_per_second ",
                   'ipfs_accelerate_http_requests_total{route="/ipfs/",status="406"}',
                   'ipfs_accelerate_model_info{model="%s",backend="cpu",precision="fp32"' % NAME]:
        check("metrics has " + needle, needle in m, needle)
    per_model = re.search(r'ipfs_accelerate_model_texts_total\{model="%s"\} (\d+)' % re.escape(NAME), m)
    check("metrics count the model's texts", per_model and int(per_model.group(1)) > 0,
          per_model.group(0) if per_model else m[-600:])
finally:
    rc = s.stop()
check("server exits 0 on SIGTERM", rc == 0, "%s\n%s" % (rc, s.output()[-3000:]))

# ---- API key (flag and environment); /health and /metrics stay open
for how, args, env in [("--api-key", ["--api-key", "s3cret"], None),
                       ("IPFS_ACCELERATE_API_KEY", [], {"IPFS_ACCELERATE_API_KEY": "s3cret"})]:
    s = Server(BIN, MODEL, *args, env=env)
    try:
        st, h, body = s.post("/v1/embeddings", {"input": "a"})
        check(how + ": no key: 401 OpenAI shape", st == 401 and body["error"]["code"] == "invalid_api_key"
              and h.get("www-authenticate") == "Bearer", (st, body))
        st, h, body = s.post("/embed", {"inputs": "a"}, headers={"Authorization": "Bearer wrong"})
        check(how + ": wrong key: 401 TEI shape", st == 401 and "error_type" in body, (st, body))
        st, h, body = s.post("/embed", {"inputs": "a"}, headers={"Authorization": "Bearer s3cret"})
        check(how + ": right key: 200", st == 200, (st, body))
        st, _, _ = s.request("GET", "/info")
        check(how + ": /info needs the key", st == 401, st)
        # The gateway too: it serves the whole local store.
        st, h, data = s.request("GET", "/ipfs/bafkqaaa?format=raw")
        check(how + ": /ipfs/ needs the key", st == 401 and h.get("www-authenticate") == "Bearer",
              (st, data[:100]))
        st, _, data = s.request("GET", "/ipfs/bafkqaaa?format=raw", headers={"Authorization": "Bearer s3cret"})
        check(how + ": /ipfs/ with the key: 200", st == 200 and data == b"", (st, data[:100]))
        st, _, _ = s.request("GET", "/routing/v1/providers/bafkqaaa")
        check(how + ": /routing/v1/ needs the key", st == 401, st)
        check(how + ": /health open", s.get("/health")[0] == 200)
        check(how + ": /metrics open", s.get("/metrics")[0] == 200)
    finally:
        rc = s.stop()
    check(how + ": exit 0", rc == 0, s.output()[-2000:])

# ---- several models: chosen by the OpenAI "model" field
other = os.path.join(os.path.dirname(MODEL.rstrip("/")), "tiny-f16-max-relu")
s = Server(BIN, [MODEL, "relu=" + other])
try:
    st, h, body = s.get("/v1/models")
    check("two models listed", [m["id"] for m in body["data"]] == [NAME, "relu"], body)
    st, h, a = s.post("/v1/embeddings", {"input": "pick me", "model": "relu"})
    st2, h2, b = s.post("/v1/embeddings", {"input": "pick me", "model": NAME})
    check("model field picks the model", st == 200 and st2 == 200 and a["model"] == "relu"
          and h.get("x-model") == "relu" and a["data"][0]["embedding"] != b["data"][0]["embedding"], (a, b))
    st, h, a = s.post("/v1/embeddings", {"input": "pick me", "model": "org/relu"})
    check("a hub id matches by its last part", st == 200 and a["model"] == "relu", (st, a))
    st, h, info = s.get("/info")
    check("info lists both models", [m["name"] for m in info["models"]] == [NAME, "relu"], info)
finally:
    rc = s.stop()
check("two-model server exits 0", rc == 0, s.output()[-2000:])
try:
    Server(BIN, [MODEL, MODEL], ready_timeout=20)
    check("a model name used twice is refused", False)
except RuntimeError as e:
    check("a model name used twice is refused, naming it", "used twice" in str(e), e)

# ---- TEI /similarity: cosines of the source with each sentence
s = Server(BIN, MODEL)
try:
    src, sents = "the old stone bridge", ["a bridge of stone", "green sky", "the old stone bridge"]
    st, h, sim = s.post("/similarity", {"inputs": {"source_sentence": src, "sentences": sents}})
    st2, h2, vecs = s.post("/embed", {"inputs": [src] + sents, "normalize": True})
    want = [sum(a * b for a, b in zip(vecs[0], v)) for v in vecs[1:]]
    check("/similarity gives the cosines, in order", st == st2 == 200 and close(sim, want, 1e-5)
          and abs(sim[2] - 1) < 1e-5, (st, sim, want))
    st, h, bad = s.post("/similarity", {"inputs": {"source_sentence": src, "sentences": []}})
    check("/similarity without sentences is a 400", st == 400, (st, bad))
    st, h, bad = s.post("/similarity", {"inputs": ["not", "an object"]})
    check("/similarity with an array of inputs is a 422", st == 422, (st, bad))
finally:
    rc = s.stop()
check("similarity server exits 0", rc == 0, s.output()[-2000:])

# ---- TEI /decode against Hugging Face tokenizers' decode (WordPiece decoder)
import random
import tokenizers
hf = tokenizers.Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
rng = random.Random(7)
V = hf.get_vocab_size()
seqs = [[rng.randrange(V) for _ in range(rng.randrange(1, 30))] for _ in range(40)]
seqs += [hf.encode(t).ids for t in ("Hello, world! It's a test.", "don't stop: ok ?", "a ## b")]
s = Server(BIN, MODEL)
try:
    for skip in (True, False):
        st, h, got = s.post("/decode", {"ids": seqs, "skip_special_tokens": skip})
        want = [hf.decode(q, skip_special_tokens=skip) for q in seqs]
        bad = [(q, g, w) for q, g, w in zip(seqs, got, want) if g != w] if st == 200 else [st, got]
        check(f"/decode equals tokenizers' decode (skip_special_tokens={skip})", st == 200 and not bad, bad[:3])
    st, h, one = s.post("/decode", {"ids": seqs[-3]})
    check("/decode of one sequence", st == 200 and one == [hf.decode(seqs[-3])], (st, one))
    st, h, bad = s.post("/decode", {"ids": [1, "x"]})
    check("/decode of a non-id is a 422", st == 422, (st, bad))
finally:
    rc = s.stop()
check("decode server exits 0", rc == 0, s.output()[-2000:])

# ---- prompts (config_sentence_transformers.json): TEI's prompt_name, the default prompt
import shutil, tempfile
tmp = tempfile.mkdtemp()
prompted = os.path.join(tmp, "prompted")
shutil.copytree(MODEL, prompted)
with open(os.path.join(prompted, "config_sentence_transformers.json"), "w") as f:
    json.dump({"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": "query"}, f)
s = Server(BIN, prompted)
try:
    st, h, dflt = s.post("/embed", {"inputs": "find me"})
    st2, h2, named = s.post("/embed", {"inputs": "find me", "prompt_name": "passage"})
    st3, h3, by_hand = s.post("/embed", {"inputs": ["query: find me", "passage: find me"], "prompt_name": ""})
    check("prompt_name puts the model's prompt before the text (the default without one)",
          st == st2 == st3 == 200 and close(dflt[0], by_hand[0]) and close(named[0], by_hand[1])
          and not close(dflt[0], named[0]), (st, st2, st3))
    st5, h5, bad = s.post("/embed", {"inputs": "x", "prompt_name": "other"})
    check("an unknown prompt_name is a 422 naming the prompts", st5 == 422 and "query" in json.dumps(bad), (st5, bad))
    st6, h6, oa = s.post("/v1/embeddings", {"input": "find me"})
    unit = lambda v: [x / norm(v) for x in v]
    check("the OpenAI route uses the default prompt",
          st6 == 200 and close(unit(oa["data"][0]["embedding"]), unit(dflt[0])), st6)
finally:
    rc = s.stop()
    shutil.rmtree(tmp, ignore_errors=True)
check("prompted server exits 0", rc == 0, s.output()[-2000:])

# ---- 429 beyond --max-concurrent-requests
s = Server(BIN, MODEL, "--max-concurrent-requests", "1", "--max-client-batch-size", "64")
try:
    big = {"inputs": [LONG + " %d" % i for i in range(32)], "truncate": True}
    codes = []

    def hammer():
        codes.append(s.post("/embed", big)[0])
    threads = [threading.Thread(target=hammer) for _ in range(8)]
    [th.start() for th in threads]
    [th.join() for th in threads]
    check("only 200 and 429 under overload", set(codes) <= {200, 429}, codes)
    check("some 429 beyond --max-concurrent-requests 1", 429 in codes, codes)
    check("some 200 under overload", 200 in codes, codes)
    st, h, body = s.post("/embed", {"inputs": "after"})
    check("serves after overload", st == 200, st)
finally:
    rc = s.stop()
check("overload server exits 0", rc == 0, s.output()[-2000:])

# ---- graceful shutdown: in-flight requests finish, then exit 0
s = Server(BIN, MODEL, "--max-client-batch-size", "64")
try:
    big = {"inputs": [LONG + " %d" % i for i in range(16)], "truncate": True}
    codes = []

    def inflight():
        try:
            codes.append(s.post("/embed", big, timeout=120)[0])
        except OSError as e:
            codes.append(repr(e))
    threads = [threading.Thread(target=inflight) for _ in range(4)]
    [th.start() for th in threads]
    # A request still uploading its body when the signal comes, and an idle
    # keep-alive connection that asks again afterwards.
    body = json.dumps({"inputs": ["uploaded slowly"]}).encode()
    slow = socket.create_connection(("127.0.0.1", s.port), timeout=20)
    slow.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10])
    keep = socket.create_connection(("127.0.0.1", s.port), timeout=20)
    keep.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    first = keep.recv(4096)
    time.sleep(0.2)
    s.proc.send_signal(15)
    time.sleep(0.2)
    keep.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    second = keep.recv(4096)
    slow.sendall(body[10:])
    answer = slow.recv(4096)
    [th.join() for th in threads]
    rc = s.proc.wait(60)
    check("queued requests finish during shutdown", codes == [200] * 4, codes)
    check("an upload in flight at SIGTERM is answered 200", answer.startswith(b"HTTP/1.1 200"), answer[:60])
    check("a new request on an open connection after SIGTERM: 503, Connection: close",
          first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 503")
          and b"close" in second.lower(), (first[:40], second[:300]))
    check("SIGTERM under load: exit 0", rc == 0, s.output()[-2000:])
    try:
        socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
        refused = False
    except OSError:
        refused = True
    check("no longer accepting after exit", refused)
    slow.close()
    keep.close()
finally:
    s.stop()

sys.exit(t.summary())
