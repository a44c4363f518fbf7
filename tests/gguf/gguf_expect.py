"""What gguf-py's GGUFReader reads in a GGUF file, written in the text
ia-gguf-dump prints (tests/gguf/gguf_dump.c describes the lines), and a
line-by-line comparison of the two. Shared by reader_oracle.py (random
files) and smollm2_test.py (the real model).

Values are rebuilt from the reader's raw parts (its own parse of every
length, count and offset), not from ReaderField.contents(), which flattens
nested arrays.
"""
import hashlib
import subprocess
import sys

import numpy as np
import gguf  # noqa: F401  (a missing package fails the test)
from gguf import GGMLQuantizationType as QT, GGML_QUANT_SIZES, GGUFReader, GGUFValueType as VT

TYPE_NAMES = {
    VT.UINT8: "u8", VT.INT8: "i8", VT.UINT16: "u16", VT.INT16: "i16", VT.UINT32: "u32",
    VT.INT32: "i32", VT.FLOAT32: "f32", VT.BOOL: "bool", VT.STRING: "str", VT.ARRAY: "arr",
    VT.UINT64: "u64", VT.INT64: "i64", VT.FLOAT64: "f64",
}

# ggml types our engine computes with, and our name of each (src/tensor/dtype.h)
IA_DTYPES = {
    QT.F32: "f32", QT.F16: "f16", QT.BF16: "bf16", QT.Q8_0: "q8_0", QT.Q4_0: "q4_0",
    QT.Q4_1: "q4_1", QT.Q4_K: "q4_K", QT.Q5_K: "q5_K", QT.Q6_K: "q6_K", QT.I8: "i8",
    QT.I32: "i32", QT.I64: "i64",
}
IA_ERR_UNSUPPORTED = -5


def ggml_name(qt):
    """ggml's spelling of a type name: q4_K, iq2_xs, bf16."""
    n = qt.name.lower()
    return n[:-2] + "_K" if n.endswith("_k") else n


def _value(parts, i, vtype):
    """The value of type vtype whose first part is parts[i]: (text, next i)."""
    vt = VT(vtype)
    if vt == VT.STRING:
        return "str:" + bytes(parts[i + 1]).hex(), i + 2
    if vt == VT.ARRAY:
        et, n = int(parts[i][0]), int(parts[i + 1][0])
        i += 2
        items = []
        for _ in range(n):
            text, i = _value(parts, i, et)
            items.append(text)
        return f"arr:{TYPE_NAMES[VT(et)]}:{n}[" + ",".join(items) + "]", i
    a = parts[i]
    if vt == VT.FLOAT32:
        s = f"{int(a.view(np.uint32)[0]):08x}"
    elif vt == VT.FLOAT64:
        s = f"{int(a.view(np.uint64)[0]):016x}"
    elif vt == VT.BOOL:
        s = str(int(a.view(np.uint8)[0]))
    else:
        s = str(int(a[0]))
    return f"{TYPE_NAMES[vt]}:{s}", i + 1


def expected_dump(path):
    """gguf-py's reading of path as ia-gguf-dump lines."""
    r = GGUFReader(path)
    kvs = [f for name, f in r.fields.items()
           if not (f.offset < 24 and name in ("GGUF.version", "GGUF.tensor_count", "GGUF.kv_count"))]
    version = int(r.fields["GGUF.version"].parts[0][0])
    lines = [f"header version={version} alignment={int(r.alignment)} data_offset={int(r.data_offset)} "
             f"kv_count={len(kvs)} tensor_count={len(r.tensors)}"]
    for f in kvs:
        text, end = _value(f.parts, 3, int(f.parts[2][0]))
        assert end == len(f.parts), f.name
        lines.append(f"kv {bytes(f.parts[1]).hex()} {text}")
    views = []
    for t in r.tensors:
        name = bytes(t.field.parts[1]).hex()
        dims = [int(d) for d in t.field.parts[3]]
        rel = int(t.field.parts[5][0])
        start, n = int(t.data_offset), int(t.n_bytes)
        sha = hashlib.sha256(r.data[start:start + n].tobytes()).hexdigest()
        qt = QT(int(t.tensor_type))
        lines.append(f"tensor {name} type={int(qt)}:{ggml_name(qt)} dims={','.join(map(str, dims))} "
                     f"offset={rel} file_offset={start} nbytes={n} sha256={sha}")
        block, size = GGML_QUANT_SIZES[qt]
        need = 2 if block > 1 else size  # alignment our views need
        if qt not in IA_DTYPES or start % need:
            views.append(f"view {name} err={IA_ERR_UNSUPPORTED}")
            continue
        ne = dims + [1] * (4 - len(dims))
        nb = [size, ne[0] // block * size]
        nb += [nb[1] * ne[1], nb[1] * ne[1] * ne[2]]
        views.append(f"view {name} ok dtype={IA_DTYPES[qt]} ne={','.join(map(str, ne))} "
                     f"nb={','.join(map(str, nb))}")
    return lines + views


def run_dump(tool, path, *args):
    """ia-gguf-dump's lines (its cross-checks failing fail the run)."""
    p = subprocess.run([tool, *args, path], capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise RuntimeError(f"{tool} {path}: exit {p.returncode}")
    return p.stdout.splitlines()


def compare(ours, theirs, label):
    """True if equal; else prints the first difference."""
    if ours == theirs:
        return True
    print(f"{label}: ia-gguf-dump and gguf-py differ ({len(ours)} vs {len(theirs)} lines)")
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            at = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
            lo = max(0, at - 80)
            print(f"  line {i}, column {at}:\n    ours:   ...{a[lo:at + 120]}\n    gguf-py: ...{b[lo:at + 120]}")
            break
    else:
        extra = ours[len(theirs):] or theirs[len(ours):]
        print(f"  one has {len(extra)} more lines: {extra[0][:200]}")
    return False
