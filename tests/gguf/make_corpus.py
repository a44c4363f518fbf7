#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/fuzz_gguf.c (fuzz/corpus/gguf/, committed):
small valid files made with gguf-py's GGUFWriter, and broken copies of one
of them, each breaking one check of the reader (offsets found with gguf-py's
GGUFReader). Run once by hand when the reader learns a new check:

    .cache/venv/bin/python tests/gguf/make_corpus.py fuzz/corpus/gguf
"""
import os
import struct
import sys
import tempfile

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT, GGUFValueType as VT


def write(path, alignment=None, arrays=True, tensors=(), kvs=True, more=False):
    w = gguf.GGUFWriter(path, "llama")
    if alignment:
        w.add_custom_alignment(alignment)
    if kvs:
        w.add_uint32("n", 2)
        w.add_int64("t.i64", -5)
        w.add_float64("t.f64", 0.25)
    if more:
        w.add_float32("llama.rope.freq_base", 10000.0)
        w.add_string("general.name", "tiny ключ 🙂")
        w.add_bool("tokenizer.ggml.add_bos_token", True)
        w.add_key_value("t.nested", [[1, 2], ["x"]], VT.ARRAY, sub_type=VT.ARRAY)
    if arrays:
        w.add_array("tok", ["<s>", "a", ""])
        w.add_key_value("t.bools", [True, False], VT.ARRAY, sub_type=VT.BOOL)
    rng = np.random.default_rng(0)
    for name, qt, shape in tensors:
        block, size = gguf.GGML_QUANT_SIZES[qt]
        byte_shape = (*shape[:-1], shape[-1] // block * size)
        w.add_tensor(name, rng.integers(0, 256, size=byte_shape, dtype=np.uint8), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(path, "rb") as f:
        return bytearray(f.read())


def patched(data, at, fmt, value):
    d = bytearray(data)
    struct.pack_into(fmt, d, at, value)
    return d


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp()
    files = {}
    small_path = os.path.join(tmp, "small.gguf")
    small = write(small_path, alignment=16, tensors=[("emb", QT.F32, (2, 2)), ("w", QT.Q8_0, (32,))])
    files["valid_small"] = small
    files["valid_more"] = write(os.path.join(tmp, "m.gguf"), more=True,
                                tensors=[("k", QT.Q4_K, (256,)), ("e", QT.F16, (0, 3)), ("b", QT.BF16, (1, 2, 3, 4))])
    files["valid_align1"] = write(os.path.join(tmp, "a1.gguf"), alignment=1, arrays=False, kvs=False,
                                  tensors=[("c", QT.I8, (3,)), ("h", QT.F16, (2,)), ("q", QT.Q4_0, (32,))])
    files["valid_unsupported_types"] = write(os.path.join(tmp, "u.gguf"), alignment=8, arrays=False, kvs=False,
                                             tensors=[("q5", QT.Q5_0, (32,)), ("d", QT.F64, (2,))])
    files["valid_no_tensors"] = write(os.path.join(tmp, "e.gguf"))
    files["valid_v2"] = patched(small, 4, "<I", 2)

    r = gguf.GGUFReader(small_path)
    kv = {name: f for name, f in r.fields.items()}
    arch = kv["general.architecture"]
    arch_value = arch.offset + 8 + len(arch.parts[1]) + 4          # the string's length field
    tokens = kv["tok"]
    tokens_count = tokens.offset + 8 + len(tokens.parts[1]) + 4 + 4  # the array's count
    bools = kv["t.bools"]
    bools_first = bools.offset + 8 + len(bools.parts[1]) + 4 + 12
    t0, t1 = r.tensors[0].field, r.tensors[1].field
    t0_ndims = t0.offset + 8 + len(t0.parts[1])
    t1_type = t1.offset + 8 + len(t1.parts[1]) + 4 + 8 * int(t1.parts[2][0])
    t1_off = t1_type + 4

    files["truncated_header"] = small[:20]
    files["truncated_in_kv"] = small[:tokens_count + 20]
    files["truncated_in_tensor_infos"] = small[:t0.offset + 12]
    last = r.tensors[-1]
    files["truncated_data"] = small[:int(last.data_offset) + int(last.n_bytes) - 10]
    # header-level breakage: the first 64 bytes are enough
    files["bad_magic"] = patched(small, 0, "4s", b"GGML")[:64]
    files["version_4"] = patched(small, 4, "<I", 4)[:64]
    files["version_1"] = patched(small, 4, "<I", 1)[:64]
    files["big_endian"] = patched(small, 4, ">I", 3)[:64]
    files["huge_kv_count"] = patched(small, 16, "<Q", 2**63)[:64]
    files["huge_tensor_count"] = patched(small, 8, "<Q", 2**40)
    files["key_len_past_end"] = patched(small, 24, "<Q", 2**64 - 2)
    files["string_len_past_end"] = patched(small, arch_value, "<Q", len(small))
    files["array_count_huge"] = patched(small, tokens_count, "<Q", 2**62)
    files["bad_value_type"] = patched(small, arch.offset + 8 + len(arch.parts[1]), "<I", 13)
    files["bool_2"] = patched(small, bools_first, "<B", 2)
    files["n_dims_5"] = patched(small, t0_ndims, "<I", 5)
    files["dims_overflow"] = patched(patched(small, t0_ndims + 4, "<Q", 2**40), t0_ndims + 12, "<Q", 2**40)
    files["unknown_type"] = patched(small, t1_type, "<I", 42)
    files["misaligned_offset"] = patched(small, t1_off, "<Q", int(t1.parts[5][0]) + 4)
    files["data_past_end"] = patched(small, t1_off, "<Q", 2**20)
    files["duplicate_key"] = patched(small, kv["t.f64"].offset + 8, "5s", b"t.i64")

    # hand-built: nesting 17 deep, a duplicate tensor, alignment checks
    deep = bytearray(b"GGUF") + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"d" + struct.pack("<I", 9)
    for _ in range(16):
        deep += struct.pack("<IQ", 9, 1)
    deep += struct.pack("<IQB", 0, 1, 7)
    files["nested_17_deep"] = deep

    def tinfo(name, dims, t, off):
        return (struct.pack("<Q", len(name)) + name + struct.pack("<I", len(dims)) +
                b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", t, off))

    dup = bytearray(b"GGUF") + struct.pack("<IQQ", 3, 2, 0) + tinfo(b"w", [4], 0, 0) + tinfo(b"w", [4], 0, 32)
    dup += b"\0" * (-len(dup) % 32) + bytes(range(48))
    files["duplicate_tensor"] = dup
    for name, t, v in [("alignment_not_pow2", "<I", 48), ("alignment_u16", "<H", 32)]:
        b = bytearray(b"GGUF") + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 17) + b"general.alignment"
        b += struct.pack("<I", 4 if t == "<I" else 2) + struct.pack(t, v)
        files[name] = b

    total = 0
    for name, data in sorted(files.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        total += len(data)
    print(f"{len(files)} files, {total} bytes in {out}")


if __name__ == "__main__":
    main()
