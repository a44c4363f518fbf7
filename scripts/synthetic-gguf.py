#!/usr/bin/env python3
"""A GGUF file of a real model's shapes and tokenizer with made-up weights,
for measuring speed where the real file cannot go: the lent GPU machine
takes 64 MiB per call and SmolLM2-135M-Instruct's Q4_1 file is 98 MB
(scripts/gpu-check.sh, docs/cuda.md). Never a quality check: the weights
are a fixed pseudo-random pattern (seeded), so only timings and GPU-vs-CPU
differences of the same numbers mean anything.

  synthetic-gguf.py header REAL.gguf OUT.hdr
      the real file's header (metadata, tokenizer, tensor table; 1.8 MB
      for SmolLM2) and, appended, its total size (8 bytes)
  synthetic-gguf.py fill OUT.hdr OUT.gguf
      the header, then every tensor's data at its offset: f32 vectors of
      ones (norm weights), q4_1 / q4_0 / q8_0 blocks of small scales and
      random quants, f16 values in [-0.05, 0.05]

`fill` needs numpy only (the GPU machine has no gguf package), `header`
nothing beyond Python. GGUF v3 as
llama.cpp writes it (ggml/docs/gguf.md).
"""
import struct
import sys

# ggml type: (elements per block, bytes per block)
BLOCKS = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 8: (32, 34), 30: (1, 2)}
SCALARS = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # GGUF value types


def parse(b):
    """(data offset, [(name, dims, ggml type, offset)]) of a GGUF header."""
    if b[:4] != b"GGUF":
        sys.exit("synthetic-gguf: not a GGUF file")
    version, n_tensors, n_kv = struct.unpack_from("<IQQ", b, 4)
    if version != 3:
        sys.exit(f"synthetic-gguf: GGUF version {version}, 3 expected")
    p, align = 24, 32

    def string(p):
        n = struct.unpack_from("<Q", b, p)[0]
        return b[p + 8:p + 8 + n].decode("utf-8"), p + 8 + n

    def value(p, t):
        if t == 8:
            return string(p)
        if t == 9:
            et, n = struct.unpack_from("<IQ", b, p)
            p += 12
            items = []
            for _ in range(n):
                v, p = value(p, et)
                items.append(v)
            return items, p
        fmt = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}[t]
        return struct.unpack_from("<" + fmt, b, p)[0], p + SCALARS[t]

    for _ in range(n_kv):
        key, p = string(p)
        t = struct.unpack_from("<I", b, p)[0]
        v, p = value(p + 4, t)
        if key == "general.alignment":
            align = v
    tensors = []
    for _ in range(n_tensors):
        name, p = string(p)
        nd = struct.unpack_from("<I", b, p)[0]
        dims = struct.unpack_from(f"<{nd}Q", b, p + 4)
        t, off = struct.unpack_from("<IQ", b, p + 4 + 8 * nd)
        p += 4 + 8 * nd + 12
        tensors.append((name, dims, t, off))
    return (p + align - 1) // align * align, tensors


def fill(hdr_path, out_path):
    import numpy as np  # here only: `header` runs where numpy may be missing

    raw = open(hdr_path, "rb").read()
    hdr, total = raw[:-8], struct.unpack("<Q", raw[-8:])[0]
    start, tensors = parse(hdr)
    if len(hdr) != start:
        sys.exit("synthetic-gguf: the header does not end where the data begins")
    rng = np.random.default_rng(20240601)
    data = bytearray(total - start)
    for name, dims, t, off in tensors:
        n = int(np.prod(dims))
        if t not in BLOCKS:
            sys.exit(f"synthetic-gguf: {name}: ggml type {t} is not made here")
        per, nbytes = BLOCKS[t]
        nb = n // per
        if t == 0:
            chunk = np.ones(n, "<f4").tobytes()
        elif t in (1, 30):
            v = rng.uniform(-0.05, 0.05, n).astype("<f4")
            chunk = (v.astype("<f2") if t == 1 else (v.view("<u4") >> 16).astype("<u2")).tobytes()
        else:
            blk = np.zeros((nb, nbytes), np.uint8)
            d = np.full(nb, 0.004 if t == 8 else 0.02, "<f2")
            blk[:, 0:2] = d.view(np.uint8).reshape(nb, 2)
            q0 = 2
            if t == 3:  # q4_1: m = -8 d, values centred on 0
                blk[:, 2:4] = np.full(nb, -0.16, "<f2").view(np.uint8).reshape(nb, 2)
                q0 = 4
            blk[:, q0:] = rng.integers(0, 256, (nb, nbytes - q0), dtype=np.uint8)
            chunk = blk.tobytes()
        data[off:off + len(chunk)] = chunk
    with open(out_path, "wb") as f:
        f.write(hdr)
        f.write(data)


def header(real_path, out_path):
    with open(real_path, "rb") as f:
        head = f.read(16 << 20)
        f.seek(0, 2)
        total = f.tell()
    start, _ = parse(head)
    with open(out_path, "wb") as f:
        f.write(head[:start])
        f.write(struct.pack("<Q", total))


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("header", "fill"):
        sys.exit(__doc__)
    (header if sys.argv[1] == "header" else fill)(sys.argv[2], sys.argv[3])
