#!/usr/bin/env bash
# Cross-check our importer against kubo itself: `ipfs add --only-hash` and
# ia-addtool must print the same CID for every file and directory, with
# the default options, --cid-version 1, --raw-leaves, --trickle and small
# chunkers. Then the CLI itself, `ipfs-accelerate add --only-hash`, given
# kubo's own spelling of the options (--raw-leaves=false, -t=true,
# --cid-version=1, -s=size-N ...), must print kubo's CIDs for the same
# command line and reject what kubo rejects. kubo is built (once, cached)
# by scripts/install-kubo.sh; if it cannot be built this test fails: it is
# never skipped.
#
# usage: kubo_crosscheck.sh IA_ADDTOOL [IPFS_ACCELERATE] [--big]
# (IPFS_ACCELERATE defaults to the ipfs-accelerate beside IA_ADDTOOL's tests/)
set -euo pipefail
tool=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
big= ia=$(dirname "$tool")/../ipfs-accelerate
for a in "$@"; do
    case "$a" in
    --big) big=--big ;;
    *) ia=$a ;;
    esac
done
if [ ! -x "$ia" ]; then
    echo "FAIL: no ipfs-accelerate binary at $ia (pass it as an argument)" >&2
    exit 1
fi
ia=$(cd "$(dirname "$ia")" && pwd)/$(basename "$ia")
if ! kubo=$(scripts/install-kubo.sh); then
    echo "FAIL: kubo could not be built by scripts/install-kubo.sh (needs Go and the Go module proxy); the kubo cross-check cannot run" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export IPFS_PATH=$tmp/repo
# --only-hash stores nothing; should an option be misread, not in ~ either
export IPFS_ACCELERATE_HOME=$tmp/home
"$kubo" init --empty-repo >/dev/null 2>&1 || { echo "FAIL: ipfs init failed" >&2; exit 1; }
python3 tests/ipfs/gen_tree.py "$tmp/data" $big

fails=0
ours=("$tool") # what compare runs: ia-addtool, later the CLI
compare() { # label, then add options; files and trees are the arguments after --
    local label=$1; shift
    local opts=() args=()
    while [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    args=("$@")
    # a failure shows as a difference (no lines, or missing ones), with why
    (cd "$tmp/data" && "$kubo" add --only-hash -r "${opts[@]}" "${args[@]}" 2>/dev/null) | sort >"$tmp/kubo.txt" || true
    (cd "$tmp/data" && "${ours[@]}" -r "${opts[@]}" "${args[@]}" 2>"$tmp/ours.err") | sort >"$tmp/ours.txt" || true
    local n
    n=$(wc -l <"$tmp/kubo.txt")
    if [ "$n" -eq 0 ] || ! diff "$tmp/kubo.txt" "$tmp/ours.txt" >"$tmp/diff.txt"; then
        echo "MISMATCH [$label] (kubo lines: $n):"
        head -20 "$tmp/diff.txt"
        head -5 "$tmp/ours.err"
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

# The CLI with kubo's option syntax: a flag takes =true/=false, a value may
# follow '='. --cid-version 1 implies raw leaves unless --raw-leaves=false
# says otherwise (a common way to get CIDv1 with dag-pb leaves).
ours=("$ia" add --only-hash)
FT=("${F[@]}" trees/mixed)
compare "cli defaults" -- "${FT[@]}"
compare "cli --cid-version 1 --raw-leaves=false" --cid-version 1 --raw-leaves=false -- "${FT[@]}"
compare "cli --cid-version=1 --raw-leaves=false" --cid-version=1 --raw-leaves=false -- "${FT[@]}"
compare "cli --raw-leaves=false --cid-version=1" --raw-leaves=false --cid-version=1 -- "${FT[@]}"
compare "cli --cid-version=1" --cid-version=1 -- "${FT[@]}"
compare "cli --cid-version=1 --raw-leaves=true" --cid-version=1 --raw-leaves=true -- "${FT[@]}"
compare "cli --raw-leaves=true" --raw-leaves=true -- "${FT[@]}"
compare "cli --raw-leaves=false" --raw-leaves=false -- "${FT[@]}"
compare "cli --raw-leaves=1 (ParseBool spellings)" --raw-leaves=1 -- "${F[@]}"
compare "cli --raw-leaves= (empty is true)" --raw-leaves= -- "${F[@]}"
compare "cli --trickle=true" --trickle=true -- "${FT[@]}"
compare "cli -t=T --cid-version=1 --raw-leaves=FALSE" -t=T --cid-version=1 --raw-leaves=FALSE -- "${FT[@]}"
compare "cli --trickle=false --cid-version 1" --trickle=false --cid-version 1 -- "${F[@]}"
compare "cli --hidden=true" --hidden=true -- trees/mixed
compare "cli -H=false" -H=false -- trees/mixed
compare "cli -H" -H -- trees/mixed
compare "cli --pin=false" --pin=false -- "${F[@]}"
compare "cli --chunker=size-1024 --cid-version=1 --raw-leaves=false" \
    --chunker=size-1024 --cid-version=1 --raw-leaves=false -- files/k174 files/k175
compare "cli -s=size-1024 -t" -s=size-1024 -t -- files/k174 files/k175
compare "cli -ssize-1024 --raw-leaves" -ssize-1024 --raw-leaves -- files/k174 files/k175
compare "cli -s size-1024 (options after the paths)" -- files/k174 files/k175 -s size-1024 --raw-leaves=true

# what kubo rejects, we reject: a bad boolean is a usage error (exit 2)
# naming the flag and the value; a boolean's value is never a separate word
rejects() { # label, then add options and paths; sets rej_rc, our exit status
    local label=$1; shift
    rej_rc=0
    if (cd "$tmp/data" && "$kubo" add --only-hash "$@" >/dev/null 2>&1); then
        echo "MISMATCH [$label]: kubo accepts it, this test expects a rejection"
        fails=$((fails + 1))
        return
    fi
    (cd "$tmp/data" && "$ia" add --only-hash "$@" >"$tmp/rej.out" 2>"$tmp/rej.err") || rej_rc=$?
    if [ $rej_rc -eq 0 ] || [ -s "$tmp/rej.out" ]; then
        echo "MISMATCH [$label]: kubo rejects it, we accepted it (exit $rej_rc)"
        fails=$((fails + 1))
    else
        echo "ok [$label]: rejected as kubo does (exit $rej_rc: $(head -1 "$tmp/rej.err"))"
    fi
}
usage_error() { # label, a pattern the message must match, then add options and paths
    local label=$1 pattern=$2; shift 2
    rejects "$label" "$@"
    if [ $rej_rc -ne 2 ] || ! grep -q -- "$pattern" "$tmp/rej.err"; then
        echo "FAIL [$label]: want a usage error (exit 2) matching '$pattern', got exit $rej_rc: $(head -1 "$tmp/rej.err")"
        fails=$((fails + 1))
    fi
}
usage_error "cli --raw-leaves=maybe" "--raw-leaves.*maybe" --raw-leaves=maybe files/one
usage_error "cli --cid-version 1 --raw-leaves=maybe" "--raw-leaves.*maybe" --cid-version 1 --raw-leaves=maybe files/one
usage_error "cli -n=yes" "-n.*yes" -n=yes files/one
usage_error "cli --trickle=2" "--trickle.*2" --trickle=2 files/one
usage_error "cli -tn=true" "-tn=true" -tn=true files/one
usage_error "cli --raw (no abbreviations)" "--raw" --raw files/one
rejects "cli --raw-leaves false (\"false\" is a path)" --raw-leaves false files/one

if [ $fails -ne 0 ]; then
    echo "FAIL: $fails cross-check(s) differ from kubo $("$kubo" version --number)" >&2
    exit 1
fi
echo "kubo cross-check: all identical (kubo $("$kubo" version --number))"
