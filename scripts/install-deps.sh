#!/usr/bin/env bash
# Install what building and testing need, skipping what is already there:
# Debian packages (apt-get, as root or through sudo) and the test-only
# Python packages, in a virtual environment under .cache/ (kept out of git).
# Idempotent and quiet; prints only what it installs.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config git ca-certificates curl
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

# The venv $1, made by the python $2 (venv options $4) with the packages of
# the requirements file $3; made again whenever that file changes (a stamp
# of its hash).
python_venv() {
  local venv=$1 python=$2 req=$3 opts=${4:-}
  local stamp=$venv/.installed-$(sha256sum "$req" | cut -c1-16)
  [ -f "$stamp" ] && return 0
  echo "install-deps: setting up $venv"
  "$python" -m venv $opts "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  rm -f "$venv"/.installed-*
  touch "$stamp"
}

# Test-only Python packages (oracles and clients run by the suite).
python_venv .cache/venv python3 tests/requirements.txt
# transformers for the decoder tests, on Debian's torch: a venv of Debian's
# own python3 that sees its site packages (torch, numpy).
python_venv .cache/hf-venv /usr/bin/python3 tests/requirements-hf.txt --system-site-packages
# transformers 4.49 for the ModernBERT test, on Debian's torch likewise
# (tests/requirements-hf49.txt says why a second version).
python_venv .cache/hf49-venv /usr/bin/python3 tests/requirements-hf49.txt --system-site-packages
