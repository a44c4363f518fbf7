#!/usr/bin/env bash
# Install what building and testing need, skipping what is already there:
# Debian packages (apt-get, as root or through sudo) and the test-only
# Python packages, in virtual environments in the per-user cache (linked
# from .cache/, kept out of git).
# Idempotent and quiet; prints only what it installs.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config git ca-certificates curl
  ccache  # the builds of every clone share one compiler cache (CMakeLists.txt)
  libcjson-dev libutf8proc-dev libssl-dev libdnnl-dev libcurl4-openssl-dev
  libmicrohttpd-dev libpcre2-dev wrk hey
  nats-server libnats-dev  # the cluster (src/cluster/, docs/distributed.md)
  libsqlite3-dev  # the benchmark database (src/benchdb/, docs/benchmarks.md)
  chromium  # headless, opens `bench report`'s page in its test (tests/benchdb/report_test.py)
  libvulkan1 mesa-vulkan-drivers ocl-icd-libopencl1 pocl-opencl-icd  # GPU drivers on the CPU, for the hw tests
  libvulkan-dev glslc  # the vulkan backend (src/backend/vulkan/), tested on lavapipe
  python3 python3-venv python3-pip
  python3-torch  # the decoder tests' transformers oracle (.cache/hf-venv below)
)
[ "${IA_DEPS_EXTRA:-}" ] && read -r -a extra <<<"$IA_DEPS_EXTRA" && packages+=("${extra[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The test venvs live in the per-user cache beside the models, one per
# requirements file, python and options (a hash of them), and .cache/NAME
# links to its venv: a fresh clone reuses them instead of installing
# again (a minute and a half on 2 cores). A venv counts once its
# .installed mark is there; a lock keeps two checkouts from building the
# same one at once.
cache=${IA_DEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-accelerate-dev}
mkdir -p "$cache/venvs" .cache
python_venv() {
  local name=$1 python=$2 req=$3 opts=${4:-}
  local key venv
  key=$({ cat "$req"; "$python" -c 'import sys; print(sys.version)'; echo "$opts"; } | sha256sum | cut -c1-16)
  venv=$cache/venvs/$name-$key
  if [ ! -f "$venv/.installed" ]; then
    (
      flock 9
      [ -f "$venv/.installed" ] && exit 0
      echo "install-deps: setting up $venv (.cache/$name)"
      rm -rf "$venv"
      "$python" -m venv $opts "$venv"
      "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
      touch "$venv/.installed"
    ) 9>"$venv.lock"
  fi
  [ "$(readlink ".cache/$name" || true)" = "$venv" ] || { rm -rf ".cache/$name"; ln -s "$venv" ".cache/$name"; }
}

# Test-only Python packages (oracles and clients run by the suite), the
# three venvs at once:
#  venv: the oracles and clients;
#  hf-venv: transformers for the decoder tests, on Debian's torch (a venv
#    of Debian's own python3 that sees its site packages: torch, numpy);
#  hf49-venv: transformers 4.49 for the ModernBERT test, on Debian's torch
#    likewise (tests/requirements-hf49.txt says why a second version).
pids=()
python_venv venv python3 tests/requirements.txt & pids+=($!)
python_venv hf-venv /usr/bin/python3 tests/requirements-hf.txt --system-site-packages & pids+=($!)
python_venv hf49-venv /usr/bin/python3 tests/requirements-hf49.txt --system-site-packages & pids+=($!)
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
[ "$failed" -eq 0 ] || { echo "install-deps: a test venv could not be set up (see above)" >&2; exit 1; }
