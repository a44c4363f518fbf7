"""A GGUF file's tensors dequantized and stored as f16 (vectors f32), with
the same metadata: the f16 file the decoder tests make from the Q4_1 one
(numpy_ref.py, hf_smollm2_test.py, test_vulkan_smollm2_f16).

As a program: `gguf_f16.py SRC.gguf` prints the path of SRC's f16 file,
kept beside SRC (made on first use)."""
import os
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import dequantize


def make_f16(src, dst):
    """src's tensors dequantized and stored as f16 (vectors f32), same metadata."""
    r = GGUFReader(src)
    tmp = f"{dst}.{os.getpid()}.tmp"  # concurrent makers each write their own
    w = GGUFWriter(tmp, r.fields["general.architecture"].contents())
    for k, f in r.fields.items():
        if k.startswith("GGUF.") or k == "general.architecture":
            continue
        v = 1 if k == "general.file_type" else f.contents()  # 1: mostly f16
        if f.types[0] == GGUFValueType.ARRAY:
            w.add_key_value(k, v, f.types[0], sub_type=f.types[-1])
        else:
            w.add_key_value(k, v, f.types[0])
    for t in r.tensors:
        a = dequantize(t.data, t.tensor_type).reshape([int(x) for x in reversed(t.shape)])
        w.add_tensor(t.name, a.astype(np.float32 if a.ndim == 1 else np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, dst)


def cached_f16(src):
    """The f16 file of src, beside it (made once)."""
    dst = src.removesuffix(".gguf").removesuffix(".Q4_1") + ".f16.gguf"
    if not os.path.exists(dst):
        make_f16(src, dst)
    return dst


if __name__ == "__main__":
    print(cached_f16(sys.argv[1]))
