#!/usr/bin/env python3
"""Make the inputs of the kubo cross-check (deterministic, seeded).

gen_tree.py OUT [--big]
  OUT/files/   single files at the chunking boundaries
  OUT/trees/   nested trees: random sizes, empty dirs, hidden files,
               symlinks, odd names; and HAMT cases: `edge` sits exactly at
               kubo's sharding threshold for CIDv0 (4096 entries whose name
               length + CID length sum to 262144), `over` one byte above it.
  --big adds 174- and 175-chunk files at the default 256 KiB chunk size.
"""
import os
import random
import sys

out = sys.argv[1]
big = "--big" in sys.argv
rnd = random.Random(20261124)


def write(path, n):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        while n > 0:
            k = min(n, 1 << 20)
            f.write(rnd.randbytes(k))
            n -= k


C = 262144
files = {
    "empty": 0, "one": 1, "c-1": C - 1, "c": C, "c+1": C + 1,
    "three-mb": 3 * 1000 * 1000 + 17,
    # small chunkers exercise deep trees quickly (see the test's chunker list)
    "k174": 174 * 1024, "k175": 175 * 1024,
    "deep": 174 * 174 * 64 + 64 + 5,
}
if big:
    files.update({"c174": 174 * C, "c175": 175 * C})
for name, n in files.items():
    write(os.path.join(out, "files", name), n)

t = os.path.join(out, "trees", "mixed")


def tree(path, depth):
    os.makedirs(path, exist_ok=True)
    for i in range(rnd.randint(1, 6)):
        kind = rnd.random()
        name = rnd.choice(["a", "B", "z", "file", "é", "with space", "x.y", "_", "0", "Zed"]) + str(i)
        if kind < 0.55:
            write(os.path.join(path, name), rnd.choice([0, 5, 1000, C - 1, C + 7, 600000]))
        elif kind < 0.8 and depth < 3:
            tree(os.path.join(path, name), depth + 1)
        elif kind < 0.9:
            os.makedirs(os.path.join(path, name + "-empty"), exist_ok=True)
        else:
            os.symlink("../target/" + name, os.path.join(path, name + "-link"))
    write(os.path.join(path, ".hidden"), 10)


tree(t, 0)

for dirname, extra in (("edge", 0), ("over", 1)):
    d = os.path.join(out, "trees", dirname)
    os.makedirs(d)
    for i in range(4096):
        name = "entry-%024d" % i  # 30 bytes
        if i == 0 and extra:
            name += "x"
        with open(os.path.join(d, name), "wb") as f:
            f.write(b"%d\n" % i)
