#!/usr/bin/env bash
# The main job, through the HTTP server: start `ipfs-accelerate serve` with a
# model, embed the sample corpus (data/corpus.txt) through the OpenAI API
# (POST /v1/embeddings, several requests at once), write the embeddings to
# a .npy file, print throughput, and stop the server with SIGTERM.
#
# Usage: scripts/run-server-demo.sh [MODEL_DIR]
#   MODEL_DIR, else $IA_MODEL, else the synthetic MiniLM-shaped model
#   (random weights: the numbers show speed, not meaning; said plainly).
# Environment: IA_BUILD (build folder, default build), CORPUS, OUT
#   (default $IA_BUILD/corpus-embeddings-server.npy), BATCH (texts per
#   request, 32), CLIENTS (requests in flight, 4).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${IA_BUILD:-build}
cli=$build/ipfs-accelerate
corpus=${CORPUS:-data/corpus.txt}
out=${OUT:-$build/corpus-embeddings-server.npy}
[ -x "$cli" ] || { echo "run-server-demo: $cli is missing; run make build" >&2; exit 1; }

model=${1:-${IA_MODEL:-}}
if [ -n "$model" ]; then
  echo "model: $model"
else
  synth=$build/tests/ia-synth-model
  [ -x "$synth" ] || { echo "run-server-demo: no model given and $synth is missing" >&2; exit 1; }
  model=$build/demo-models/minilm-synthetic
  [ -f "$model/model.safetensors" ] || { mkdir -p "$model" && "$synth" "$model" minilm >/dev/null; }
  echo "model: $model"
  echo "NOTE: no real model given (IA_MODEL=DIR or an argument): this is the SYNTHETIC"
  echo "      MiniLM-shaped model with random weights. Its embeddings are not meaningful;"
  echo "      the throughput is that of a real MiniLM-L6 of the same shape."
fi

tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
"$cli" serve --model "$model" --listen 127.0.0.1:0 --port-file "$tmp/port" --no-gateway \
  2>"$tmp/server.log" &
pid=$!
for _ in $(seq 1 600); do
  if [ -s "$tmp/port" ] && curl -sf "http://127.0.0.1:$(cat "$tmp/port")/health" >/dev/null; then
    break
  fi
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/server.log" >&2; echo "run-server-demo: the server failed" >&2; exit 1; }
  sleep 0.1
done
url=http://127.0.0.1:$(cat "$tmp/port")
echo "server: $url ($(curl -s "$url/info" | python3 -c 'import json,sys; i=json.load(sys.stdin); print("%s, %d dims, max %d tokens, %s/%s" % (i["model_id"], i["dim"], i["max_input_length"], i["backend"], i["precision"]))'))"

python3 - "$url" "$corpus" "$out" "${BATCH:-32}" "${CLIENTS:-4}" <<'PY'
import base64, http.client, json, struct, sys, threading, time, urllib.parse
url, corpus, out, batch, clients = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
texts = [l.rstrip("\r\n") for l in open(corpus, encoding="utf-8")]
texts = [t if t else " " for t in texts]  # the API refuses empty strings; keep rows aligned
chunks = [(i, texts[i:i + batch]) for i in range(0, len(texts), batch)]
rows, tokens, backend, lock = [None] * len(texts), [0], [None], threading.Lock()
host = urllib.parse.urlparse(url)

def client(k):
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=300)
    for start, part in chunks[k::clients]:
        conn.request("POST", "/v1/embeddings", json.dumps({"input": part, "encoding_format": "base64"}),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise SystemExit("request at text %d: HTTP %d %s" % (start, r.status, body[:300]))
        d = json.loads(body)
        with lock:
            tokens[0] += d["usage"]["prompt_tokens"]
            backend[0] = "%s, %s" % (r.getheader("X-Backend"), r.getheader("X-Precision"))
            for e in d["data"]:
                rows[start + e["index"]] = base64.b64decode(e["embedding"])
    conn.close()

t0 = time.perf_counter()
threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
[t.start() for t in threads]
[t.join() for t in threads]
secs = time.perf_counter() - t0
if any(r is None for r in rows):
    raise SystemExit("run-server-demo: some texts got no embedding")
dim = len(rows[0]) // 4
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (len(rows), dim)
header += " " * (63 - (10 + len(header)) % 64) + "\n"
with open(out, "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"".join(rows))
print("embedded %d texts (%d tokens) through the API in %.2f s: %.1f sentences/s, %.0f tokens/s [%s]"
      % (len(rows), tokens[0], secs, len(rows) / secs, tokens[0] / secs, backend[0]))
print("embeddings: %s (%d x %d float32)" % (out, len(rows), dim))
PY
curl -s "$url/metrics" | awk '/^ipfs_accelerate_batch_size_(sum|count)/ { v[$1] = $2 }
  END { if (v["ipfs_accelerate_batch_size_count"] > 0)
          printf "server: %d engine calls, %.1f texts per call (requests coalesced)\n",
                 v["ipfs_accelerate_batch_size_count"],
                 v["ipfs_accelerate_batch_size_sum"] / v["ipfs_accelerate_batch_size_count"] }'
kill -TERM "$pid"
if wait "$pid"; then
  echo "server: stopped (SIGTERM, exit 0)"
else
  echo "run-server-demo: the server exited with status $?" >&2
  pid=
  exit 1
fi
pid=
