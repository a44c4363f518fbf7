#!/usr/bin/env bash
# Cross-check our importer against kubo itself: `ipfs add --only-hash` and
# ia-addtool must print the same CID for every file and directory, with
# the default options, --cid-version 1, --raw-leaves, --trickle and small
# chunkers. kubo is built (once, cached) by scripts/install-kubo.sh; if it
# cannot be built this test fails: it is never skipped.
#
# usage: kubo_crosscheck.sh IA_ADDTOOL [--big]
set -euo pipefail
tool=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
big=${2:-}
if ! kubo=$(scripts/install-kubo.sh); then
    echo "FAIL: kubo could not be built by scripts/install-kubo.sh (needs Go and the Go module proxy); the kubo cross-check cannot run" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export IPFS_PATH=$tmp/repo
"$kubo" init --empty-repo >/dev/null 2>&1 || { echo "FAIL: ipfs init failed" >&2; exit 1; }
python3 tests/ipfs/gen_tree.py "$tmp/data" $big

fails=0
compare() { # label, then add options; files and trees are the arguments after --
    local label=$1; shift
    local opts=() args=()
    while [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    args=("$@")
    (cd "$tmp/data" && "$kubo" add --only-hash -r "${opts[@]}" "${args[@]}" 2>/dev/null) | sort >"$tmp/kubo.txt"
    (cd "$tmp/data" && "$tool" -r "${opts[@]}" "${args[@]}") | sort >"$tmp/ours.txt"
    local n
    n=$(wc -l <"$tmp/kubo.txt")
    if [ "$n" -eq 0 ] || ! diff "$tmp/kubo.txt" "$tmp/ours.txt" >"$tmp/diff.txt"; then
        echo "MISMATCH [$label] (kubo lines: $n):"
        head -20 "$tmp/diff.txt"
        fails=$((fails + 1))
    else
        echo "ok [$label]: $n CIDs identical"
    fi
}

F=(files/empty files/one files/c-1 files/c files/c+1 files/three-mb)
T=(trees/mixed trees/edge trees/over)
for mode in "" "--cid-version 1" "--raw-leaves" "--trickle" "--trickle --cid-version 1"; do
    # shellcheck disable=SC2086
    compare "files $mode" $mode -- "${F[@]}"
    # the 2 x 4096-entry HAMT edge cases only where the CID length differs
    case "$mode" in
    "" | "--cid-version 1") trees=("${T[@]}") ;;
    *) trees=(trees/mixed) ;;
    esac
    # shellcheck disable=SC2086
    compare "trees $mode" $mode -- "${trees[@]}"
    # shellcheck disable=SC2086
    compare "size-1024 $mode" $mode --chunker size-1024 -- files/k174 files/k175
    # shellcheck disable=SC2086
    compare "size-64 $mode" $mode --chunker size-64 -- files/deep
done
if [ "$big" = --big ]; then
    compare "174/175 chunks" -- files/c174 files/c175
    compare "174/175 chunks raw" --raw-leaves -- files/c174 files/c175
fi
if [ $fails -ne 0 ]; then
    echo "FAIL: $fails cross-check(s) differ from kubo $("$kubo" version --number)" >&2
    exit 1
fi
echo "kubo cross-check: all identical (kubo $("$kubo" version --number))"
