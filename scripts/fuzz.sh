#!/usr/bin/env bash
# Run every libFuzzer target built in FUZZ_BIN for SECONDS each, starting
# from its seeds in fuzz/corpus/NAME. New corpus entries stay in
# build-fuzz/corpus/NAME; a crash is saved in build-fuzz/crashes/NAME/ and
# fails the run (add it to fuzz/corpus/NAME/ with the fix, so the suite
# replays it from then on).
#   scripts/fuzz.sh build-fuzz/fuzz 60
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build-fuzz/fuzz} seconds=${2:-60}
status=0
for t in "$bin"/fuzz_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t"); short=${name#fuzz_}
    corpus=build-fuzz/corpus/$short crashes=build-fuzz/crashes/$short
    mkdir -p "$corpus" "$crashes"
    seeds=(); [ -d "fuzz/corpus/$short" ] && seeds=("fuzz/corpus/$short")
    printf 'fuzz %-20s %3ss ... ' "$short" "$seconds"
    if "$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
            -artifact_prefix="$crashes/" "$corpus" "${seeds[@]}" >"build-fuzz/$short.log" 2>&1; then
        grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/$short.log" | awk '{print "ok,", $2, "runs"}'
    else
        echo "FAILED: see build-fuzz/$short.log and $crashes/"
        status=1
    fi
done
exit $status
