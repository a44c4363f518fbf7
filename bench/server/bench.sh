#!/usr/bin/env bash
# Server throughput and latency against the engine's offline throughput, on
# the same model and texts (data/corpus.txt), on this machine, in one run:
#   1. offline: `ipfs-accelerate embed` over the corpus;
#   2. saturation: wrk (Debian) with CONNS connections posting BATCH texts
#      per request to /embed, cycling through the corpus; sentences/s and
#      p50/p99 latency, and the ratio to offline (target: >= 0.85);
#   3. latency at fixed request rates (25/50/75% of the saturation rate)
#      with hey (Debian): p50/p99.
# Usage: bench/server/bench.sh [MODEL_DIR]
#   (default: $IA_MODEL, else the real all-MiniLM-L6-v2 via scripts/fetch-model.sh)
# Environment: DURATION (s, default 20), ROUNDS (3), RATE_DURATION (s, 10), BATCH (8),
#   CONNS (32), ROUTE (/embed or /v1/embeddings, default /embed), FORMAT (float
#   or base64, for /v1/embeddings),
#   IA_CLI (default build/ipfs-accelerate), CORPUS (default data/corpus.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
cli=${IA_CLI:-build/ipfs-accelerate}
model=${1:-${IA_MODEL:-}}
[ -n "$model" ] || model=$(scripts/fetch-model.sh)
corpus=${CORPUS:-data/corpus.txt}
duration=${DURATION:-20} rate_duration=${RATE_DURATION:-10}
batch=${BATCH:-8} conns=${CONNS:-32} route=${ROUTE:-/embed}
for tool in wrk hey; do
  command -v $tool >/dev/null || { echo "bench: $tool is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
[ -x "$cli" ] || { echo "bench: $cli is missing; run make build" >&2; exit 1; }
tmp=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

texts=$(grep -c . "$corpus")
echo "model:   $model"
echo "corpus:  $corpus ($texts texts), $batch texts per request, route $route"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

# 1 and 2, interleaved: on a shared machine the load of others changes from
# minute to minute, so offline and server runs alternate (ROUNDS times) and
# the medians are compared.
"$cli" serve --model "$model" --listen 127.0.0.1:0 --port-file "$tmp/port" --no-gateway \
  --max-client-batch-size 256 >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do
  [ -s "$tmp/port" ] && curl -sf "http://127.0.0.1:$(cat "$tmp/port")/health" >/dev/null && break
  sleep 0.1
done
port=$(cat "$tmp/port")
url=http://127.0.0.1:$port
wrk -t1 -c"$conns" -d3s -s bench/server/wrk.lua "$url" -- "$corpus" "$batch" "$route" "${FORMAT:-float}" >/dev/null # warm-up
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
: >"$tmp/offline.txt"
: >"$tmp/served.txt"
: >"$tmp/ratios.txt"
for round in $(seq 1 "${ROUNDS:-3}"); do
  "$cli" embed --model "$model" "$corpus" --output "$tmp/offline.npy" 2>"$tmp/offline.log"
  off=$(grep -oE '[0-9.]+ sentences/s' "$tmp/offline.log" | tail -1 | cut -d' ' -f1)
  wrk -t1 -c"$conns" -d"${duration}s" --latency --timeout 30s -s bench/server/wrk.lua "$url" \
    -- "$corpus" "$batch" "$route" "${FORMAT:-float}" >"$tmp/wrk.txt"
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.txt")
  p50=$(awk '$1 == "50%" { print $2 }' "$tmp/wrk.txt")
  p99=$(awk '$1 == "99%" { print $2 }' "$tmp/wrk.txt")
  non2xx=$(awk '/Non-2xx/ { print $NF }' "$tmp/wrk.txt")
  served=$(awk -v r="$rps" -v b="$batch" 'BEGIN { printf "%.1f", r * b }')
  ratio=$(awk -v s="$served" -v o="$off" 'BEGIN { printf "%.3f", s / o }')
  echo "round $round: offline $off sentences/s; server $served sentences/s ($rps requests/s," \
       "$conns connections, p50 $p50, p99 $p99, ${non2xx:-0} non-2xx): ratio $ratio" \
       "[load average $(cut -d' ' -f1 /proc/loadavg)]"
  echo "$off" >>"$tmp/offline.txt"
  echo "$served" >>"$tmp/served.txt"
  echo "$ratio" >>"$tmp/ratios.txt"
done
offline=$(median <"$tmp/offline.txt")
served=$(median <"$tmp/served.txt")
rps=$(awk -v s="$served" -v b="$batch" 'BEGIN { printf "%.2f", s / b }')
echo "offline: $offline sentences/s (median; $(grep -oE '\[[^]]*\]' "$tmp/offline.log" | tail -1))"
echo "server:  $served sentences/s at saturation (median)"
echo "ratio:   $(median <"$tmp/ratios.txt") of offline, median of the rounds (target >= 0.85)"
curl -s "$url/metrics" | awk '/^ipfs_accelerate_batch_size_(sum|count)/ { v[$1] = $2 }
  END { if (v["ipfs_accelerate_batch_size_count"] > 0)
          printf "batches: %d engine calls, %.1f texts per call on average\n",
                 v["ipfs_accelerate_batch_size_count"],
                 v["ipfs_accelerate_batch_size_sum"] / v["ipfs_accelerate_batch_size_count"] }'

# 3. latency at fixed request rates
head -n "$batch" "$corpus" | python3 -c '
import json, sys
texts = [l.rstrip("\n") for l in sys.stdin]
key = "inputs" if sys.argv[1] == "/embed" else "input"
print(json.dumps({key: texts}))' "$route" >"$tmp/body.json"
echo "rate (req/s)  achieved  p50 (ms)  p99 (ms)"
for pct in 25 50 75; do
  rate=$(awk -v r="$rps" -v p="$pct" 'BEGIN { printf "%.1f", r * p / 100 }')
  workers=4 # hey's workers fire in step: a request arrives with up to 3 others
  q=$(awk -v r="$rate" -v w="$workers" 'BEGIN { printf "%.3f", r / w }')
  # -o csv: one line per request (response-time in s, status code, offset in s).
  hey -z "${rate_duration}s" -c "$workers" -q "$q" -m POST -T application/json -D "$tmp/body.json" \
    -o csv "$url$route" >"$tmp/hey.csv"
  python3 - "$tmp/hey.csv" "$rate" "$rate_duration" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
lat = sorted(float(r["response-time"]) for r in rows)
bad = sum(r["status-code"] != "200" for r in rows)
pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1e3 if lat else float("nan")
print("%12s  %8.1f  %8.1f  %8.1f%s" % (sys.argv[2], len(rows) / float(sys.argv[3]), pct(0.50), pct(0.99),
                                       "  (%d non-200)" % bad if bad else ""))
PY
done
kill -TERM "$server_pid"
wait "$server_pid" && echo "server stopped cleanly (exit 0)"
server_pid=
