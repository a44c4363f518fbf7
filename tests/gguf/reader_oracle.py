#!/usr/bin/env python3
"""Our GGUF reader against gguf-py (llama.cpp's own Python package) on
random files: each seed writes a file with gguf-py's GGUFWriter holding
keys of every value type (extreme integers, NaN/inf/-0/subnormal floats,
unicode strings with NULs, empty strings), arrays of every element type,
empty arrays and nested arrays (inner arrays of differing element types),
and tensors of every type we compute with plus some we only list (q5_0,
q2_K, iq4_nl, f64, i16...), of random shapes, under a random alignment
(1 to 1024: odd ones put tensors at addresses our views refuse). Then
ia-gguf-dump's reading of the file must equal gguf-py's GGUFReader's, line
for line (gguf_expect.py).

Fixed seeds every run plus fresh ones (printed, to replay with --seed).

Usage: reader_oracle.py IA_GGUF_DUMP WORKDIR [--seed N] [--fresh N]
A missing `gguf` or numpy is a failure, not a skip.
"""
import argparse
import os
import random
import struct
import sys
import time

import numpy as np
import gguf  # noqa: F401  (fails the test when absent)
from gguf import GGMLQuantizationType as QT, GGML_QUANT_SIZES, GGUFValueType as VT

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_expect import compare, expected_dump, run_dump  # noqa: E402

FIXED_SEEDS = list(range(10)) + [2024]  # seeds below 100 take every alignment in turn
SCALARS = [VT.UINT8, VT.INT8, VT.UINT16, VT.INT16, VT.UINT32, VT.INT32, VT.FLOAT32, VT.BOOL,
           VT.STRING, VT.UINT64, VT.INT64, VT.FLOAT64]
INT_RANGES = {
    VT.UINT8: (0, 2**8 - 1), VT.INT8: (-2**7, 2**7 - 1), VT.UINT16: (0, 2**16 - 1),
    VT.INT16: (-2**15, 2**15 - 1), VT.UINT32: (0, 2**32 - 1), VT.INT32: (-2**31, 2**31 - 1),
    VT.UINT64: (0, 2**64 - 1), VT.INT64: (-2**63, 2**63 - 1),
}
# Every type we compute with, and some we only list. (q8_1 is left out:
# gguf-py sizes its block 40 bytes, ggml 36; docs/gguf.md.)
TENSOR_TYPES = [QT.F32, QT.F16, QT.BF16, QT.Q8_0, QT.Q4_0, QT.Q4_1, QT.Q4_K, QT.Q5_K, QT.Q6_K,
                QT.I8, QT.I32, QT.I64,
                QT.Q5_0, QT.Q5_1, QT.Q2_K, QT.Q3_K, QT.IQ4_NL, QT.IQ2_XS, QT.F64, QT.I16,
                QT.TQ2_0, QT.MXFP4]
ALIGNMENTS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024]
TEXT_POOLS = ["abcxyz.-_ 0123456789", "éüßçñøåæ", "ключзначение", "键值对模型张量", "🙂🚀🧪",
              "\x00\t\n\"\\'"]


class TypedArray(list):
    """An array value with an explicit element type (GGUFWriter infers the
    type of inner arrays and refuses empty ones)."""

    def __init__(self, elem, items):
        super().__init__(items)
        self.elem = elem


class Writer(gguf.GGUFWriter):
    def _pack_val(self, val, vtype, add_vtype, sub_type=None):
        if vtype == VT.ARRAY and isinstance(val, TypedArray):
            out = bytearray(self._pack("I", vtype) if add_vtype else b"")
            out += self._pack("I", val.elem) + self._pack("Q", len(val))
            for item in val:
                out += self._pack_val(item, val.elem, add_vtype=False)
            return bytes(out)
        return super()._pack_val(val, vtype, add_vtype, sub_type)


def rand_text(rng, max_len, name=False):
    """Random unicode; names (keys, tensors) hold no NUL, which we refuse there."""
    n = rng.choice([0, 1, rng.randint(0, max_len)])
    pools = rng.sample(TEXT_POOLS, rng.randint(1, 3))
    text = "".join(rng.choice(rng.choice(pools)) for _ in range(n))
    return text.replace("\x00", "0") if name else text


def rand_float(rng, bits):
    special = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1.0, -1.5,
               1e-45 if bits == 32 else 5e-324, 3.4e38 if bits == 32 else 1.7e308, 1e-40]
    if rng.random() < 0.4:
        return rng.choice(special)
    if rng.random() < 0.3:  # any bit pattern (struct packs through a double)
        raw = rng.getrandbits(bits).to_bytes(bits // 8, "little")
        return struct.unpack("<f" if bits == 32 else "<d", raw)[0]
    return rng.uniform(-1, 1) * 10 ** rng.uniform(-30, 30)


def rand_scalar(rng, vt):
    if vt in INT_RANGES:
        lo, hi = INT_RANGES[vt]
        return rng.choice([lo, hi, 0, -1 if lo < 0 else 1, rng.randint(lo, hi)])
    if vt == VT.FLOAT32:
        return rand_float(rng, 32)
    if vt == VT.FLOAT64:
        return rand_float(rng, 64)
    if vt == VT.BOOL:
        return rng.random() < 0.5
    return rand_text(rng, 40)


def rand_array(rng, depth):
    """(value, element type): elements of one type, maybe arrays themselves."""
    if depth < 3 and rng.random() < 0.25:
        n = rng.randint(0, 4)
        return TypedArray(VT.ARRAY, [rand_array(rng, depth + 1)[0] for _ in range(n)]), VT.ARRAY
    et = rng.choice(SCALARS)
    n = rng.choice([0, 1, rng.randint(0, 12), rng.randint(0, 300)])
    return TypedArray(et, [rand_scalar(rng, et) for _ in range(n)]), et


def make_file(path, seed):
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    w = Writer(path, rand_text(rng, 12) or "llama")
    alignment = ALIGNMENTS[seed % len(ALIGNMENTS)] if seed < 100 else rng.choice(ALIGNMENTS)
    if alignment != 32 or rng.random() < 0.5:
        w.add_custom_alignment(alignment)
    keys = {"general.architecture", "general.alignment"}

    def new_key():
        while True:
            k = f"k{len(keys)}." + rand_text(rng, 20, name=True)
            if k not in keys:
                keys.add(k)
                return k

    for vt in SCALARS * 2:  # each scalar type at least twice
        v = rand_scalar(rng, vt)
        w.add_key_value(new_key(), v, vt)  # (add_string would drop "")
    for _ in range(rng.randint(5, 15)):
        arr, et = rand_array(rng, 0)
        if et != VT.ARRAY and len(arr) and rng.random() < 0.5:
            w.add_key_value(new_key(), list(arr), VT.ARRAY, sub_type=et)  # GGUFWriter's own array path
        else:
            w.add_key_value(new_key(), arr, VT.ARRAY)
    # a nested array GGUFWriter builds itself (inner types inferred)
    w.add_key_value(new_key(), [[1, 2], ["x", "yz"], [True], [0.5, -2.0], [[3], []]][:rng.randint(1, 4)],
                    VT.ARRAY, sub_type=VT.ARRAY)

    names = set()
    types = TENSOR_TYPES * 2
    rng.shuffle(types)
    for i, qt in enumerate(types):
        block, size = GGML_QUANT_SIZES[qt]
        nd = rng.randint(1, 4)
        ne = [block * rng.randint(1, 3 if block > 1 else 17)] + [rng.randint(1, 4) for _ in range(nd - 1)]
        if rng.random() < 0.05 and nd > 1:
            ne[rng.randint(1, nd - 1)] = 0  # an empty tensor
        byte_shape = tuple(reversed([ne[0] // block * size] + ne[1:]))
        data = nrng.integers(0, 256, size=byte_shape, dtype=np.uint8)
        while True:
            name = f"t{i}." + rand_text(rng, 10, name=True)
            if name not in names and len(name.encode()) < 64:
                break
        names.add(name)
        w.add_tensor(name, data, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tool")
    ap.add_argument("workdir")
    ap.add_argument("--seed", type=int, action="append", help="only these seeds")
    ap.add_argument("--fresh", type=int, default=5, help="fresh random seeds besides the fixed ones")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    seeds = a.seed or FIXED_SEEDS + [random.SystemRandom().randrange(100, 2**32) for _ in range(a.fresh)]
    print(f"gguf {gguf.__name__} from {os.path.dirname(gguf.__file__)}; seeds {seeds}")
    failed = []
    t0 = time.time()
    for seed in seeds:
        path = os.path.join(a.workdir, f"random-{seed}.gguf")
        make_file(path, seed)
        try:
            ours = run_dump(a.tool, path)
        except RuntimeError as e:
            print(f"seed {seed}: {e}")
            failed.append(seed)
            continue
        theirs = expected_dump(path)
        n_views_refused = sum(1 for line in theirs if line.startswith("view ") and " err=" in line)
        if compare(ours, theirs, f"seed {seed}"):
            print(f"seed {seed}: {os.path.getsize(path)} bytes, {len(ours)} lines equal "
                  f"({n_views_refused} tensors not viewable)")
            os.unlink(path)
        else:
            print(f"seed {seed}: FAILED (file kept: {path}; replay with --seed {seed})")
            failed.append(seed)
    print(f"{len(seeds) - len(failed)}/{len(seeds)} seeds agree in {time.time() - t0:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
