#!/usr/bin/env bash
# Obtain llama.cpp's test material from the llama-cpp-python source
# distribution on PyPI (pinned, SHA-256 checked) and print the folder it
# was unpacked to: vendor/llama.cpp/models (the ggml-vocab-*.gguf tokenizer
# test vectors with their .inp/.out files, and the real chat templates
# under models/templates), convert_hf_to_gguf.py with its conversion/
# package, and gguf-py. Test oracles only, cached outside the repository.
# Idempotent.
#
# Exit status: 0 with the path on stdout; 77 when nothing is cached and the
# package index cannot be reached (tests skip on that, and only that); 1 for
# any other failure.
set -euo pipefail
cache=${IA_DEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipfs-accelerate-dev}
version=0.3.36
sha256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
dest=$cache/llama-cpp-python-$version

# (a cache made before conversion/ was extracted is made again)
if [ -f "$dest/.complete" ] && [ -d "$dest/vendor/llama.cpp/conversion" ]; then
  echo "$dest/vendor/llama.cpp"
  exit 0
fi
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.llama-cpp-python.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
python=${PYTHON:-python3}
if ! "$python" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
     -d "$tmp" "llama-cpp-python==$version" >&2; then
  index=${PIP_INDEX_URL:-$("$python" -m pip config get global.index-url 2>/dev/null || echo https://pypi.org/simple)}
  if ! "$python" - "${index%/}/llama-cpp-python/" <<'PY' >&2; then
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=30).read(1)
except urllib.error.HTTPError:
    pass  # the index answered: reachable
except Exception as e:
    print(f"fetch-llama-cpp-src: {sys.argv[1]}: {e}")
    sys.exit(1)
PY
    echo "fetch-llama-cpp-src: PyPI is unreachable; cannot download llama-cpp-python ($index)" >&2
    exit 77
  fi
  echo "fetch-llama-cpp-src: pip could not download llama-cpp-python==$version although $index answers" >&2
  exit 1
fi
sdist=$tmp/llama_cpp_python-$version.tar.gz
got=$(sha256sum "$sdist" | cut -d' ' -f1)
if [ "$got" != "$sha256" ]; then
  echo "fetch-llama-cpp-src: $sdist has SHA-256 $got, expected $sha256" >&2
  exit 1
fi
top=llama_cpp_python-$version/vendor/llama.cpp
tar -xzf "$sdist" -C "$tmp" "$top/models" "$top/convert_hf_to_gguf.py" "$top/conversion" "$top/gguf-py"
rm -rf "$dest"
mkdir -p "$dest"
mv "$tmp/llama_cpp_python-$version/vendor" "$dest/vendor"
touch "$dest/.complete"
echo "$dest/vendor/llama.cpp"
