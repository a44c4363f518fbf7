#!/usr/bin/env bash
# `add` speed: our importer on one big file (default 1 GiB of random bytes)
# against the machine's single-core SHA-256 (`openssl speed -evp sha256`,
# 16 KiB blocks) and against kubo's `ipfs add --only-hash`, same file, one
# run, reported as ratios. Also checks the CIDs are kubo's.
#
# usage: bench/ipfs/bench_add.sh [IPFS_ACCELERATE] [SIZE_MIB]
# Targets (exit 1 if missed): our wall-clock rate >= 80% of openssl's
# single-core rate; our wall time below kubo's.
#
# Times: best of 3 (page cache warm), wall clock, back to back with
# `openssl speed -elapsed` (also wall clock), so load from other processes
# weighs on both sides alike. We hash leaves on all cores; the CPU-time
# ratio (all our threads, user+sys, against openssl's default user-time
# rate) is printed too and shows the per-core efficiency.
set -euo pipefail
cd "$(dirname "$0")/../.."
ia=${1:-build/ipfs-accelerate}
mib=${2:-1024}
kubo=$(scripts/install-kubo.sh)
work=.cache/bench-ipfs
mkdir -p "$work"
file=$work/random-${mib}MiB.bin
if [ ! -f "$file" ] || [ "$(stat -c %s "$file")" != $((mib * 1048576)) ]; then
    head -c $((mib * 1048576)) /dev/urandom >"$file"
fi
cat "$file" >/dev/null
export IPFS_PATH=$work/kubo-repo
[ -d "$IPFS_PATH" ] || "$kubo" init --empty-repo --profile test >/dev/null 2>&1
bytes=$((mib * 1048576))

# best of 3: prints "wall cpu cid"
measure() {
    local best_w=999999 best_c=999999 cid="" out
    for _ in 1 2 3; do
        out=$( { /usr/bin/time -f "%e %U %S" "$@" -Q --only-hash "$file" >"$work/cid" ; } 2>&1 | tail -1)
        read -r w u s <<<"$out"
        c=$(echo "$u + $s" | bc -l)
        if (( $(echo "$w < $best_w" | bc -l) )); then best_w=$w; fi
        if (( $(echo "$c < $best_c" | bc -l) )); then best_c=$c; fi
        cid=$(cat "$work/cid")
    done
    echo "$best_w $best_c $cid"
}
rate() { echo "scale=1; $bytes / $1 / 1000000" | bc -l; }

# openssl on wall time (-elapsed), like our runs, and on CPU time (its default)
ssl=$(openssl speed -elapsed -evp sha256 -seconds 3 2>/dev/null | awk '/^sha256/ {print $NF}' | sed 's/k$//')
ssl_rate=$(echo "scale=1; $ssl * 1000 / 1000000" | bc -l)
sslc=$(openssl speed -evp sha256 -seconds 3 2>/dev/null | awk '/^sha256/ {print $NF}' | sed 's/k$//')
sslc_rate=$(echo "scale=1; $sslc * 1000 / 1000000" | bc -l)
read -r ow oc ocid <<<"$(measure "$ia" add)"
read -r ow1 oc1 ocid1 <<<"$(measure "$ia" add --cid-version 1)"
read -r kw kc kcid <<<"$(measure "$kubo" add)"
read -r kw1 kc1 kcid1 <<<"$(measure "$kubo" add --cid-version 1)"

printf '%s MiB file, %s\n' "$mib" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf 'openssl speed -evp sha256 (16 KiB blocks, 1 core): %s MB/s wall (-elapsed), %s MB/s cpu\n' "$ssl_rate" "$sslc_rate"
printf '%-34s %8s %8s %10s %10s\n' "" "wall s" "cpu s" "MB/s wall" "MB/s cpu"
printf '%-34s %8s %8s %10s %10s\n' "ipfs-accelerate add (default)" "$ow" "$oc" "$(rate "$ow")" "$(rate "$oc")"
printf '%-34s %8s %8s %10s %10s\n' "ipfs-accelerate add --cid-version 1" "$ow1" "$oc1" "$(rate "$ow1")" "$(rate "$oc1")"
printf '%-34s %8s %8s %10s %10s\n' "kubo ipfs add --only-hash" "$kw" "$kc" "$(rate "$kw")" "$(rate "$kc")"
printf '%-34s %8s %8s %10s %10s\n' "kubo ipfs add --only-hash --cid-v1" "$kw1" "$kc1" "$(rate "$kw1")" "$(rate "$kc1")"
r_ssl=$(echo "scale=3; $(rate "$ow") / $ssl_rate" | bc -l)
r_ssl1=$(echo "scale=3; $(rate "$ow1") / $ssl_rate" | bc -l)
c_ssl=$(echo "scale=3; $(rate "$oc") / $sslc_rate" | bc -l)
r_kubo=$(echo "scale=2; $kw / $ow" | bc -l)
r_kubo1=$(echo "scale=2; $kw1 / $ow1" | bc -l)
echo "ratio to single-core openssl sha256 (wall): default $r_ssl, cid v1 $r_ssl1 (target >= 0.80)"
echo "ratio on CPU time (all our threads vs openssl's user time): default $c_ssl"
echo "speed-up over kubo (wall): default ${r_kubo}x, cid v1 ${r_kubo1}x (target > 1)"
status=0
[ "$ocid" = "$kcid" ] && [ "$ocid1" = "$kcid1" ] && echo "CIDs identical to kubo: $ocid $ocid1" ||
    { echo "FAIL: CIDs differ from kubo: $ocid/$kcid $ocid1/$kcid1"; status=1; }
(( $(echo "$r_ssl >= 0.80 && $r_ssl1 >= 0.80" | bc -l) )) || { echo "FAIL: below 80% of openssl"; status=1; }
(( $(echo "$r_kubo > 1 && $r_kubo1 > 1" | bc -l) )) || { echo "FAIL: not faster than kubo"; status=1; }
exit $status
