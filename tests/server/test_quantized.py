"""/v1/embeddings' int8 and uint8 encodings on the real all-MiniLM-L6-v2
against sentence-transformers: quantize_embeddings(precision="int8" |
"uint8", calibration_embeddings=the server's calibration sentences) of
sentence-transformers' own float vectors (tests/data/golden/
quantized-minilm.npz, made by scripts/gen-quantized-golden.py), for all
384 dimensions and for dimensions 128; and the encodings' errors.

A bucket is floor((x - min) / step), clipped to 0..255. Our engine's
floats differ from PyTorch's in the last bits, so a value that sits on a
bucket's edge may land on either side: every value must equal the golden
one, or differ by 1 where the golden value before the floor lies within
EDGE of that edge. The count of each is printed.

Usage: test_quantized.py IPFS_ACCELERATE GOLDEN_NPZ
(the model folder: $IA_REAL_MODEL, else scripts/fetch-model.sh's cache)"""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srvutil import Checker, Server  # noqa: E402

BIN, GOLDEN = sys.argv[1], sys.argv[2]
EDGE = 0.02  # buckets: float differences of ~1e-6 move a value by ~1e-3 of a bucket


def real_model_dir():
    if os.environ.get("IA_REAL_MODEL"):
        return os.environ["IA_REAL_MODEL"]
    cache = os.environ.get("IA_DEV_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.environ["HOME"], ".cache"), "ipfs-accelerate-dev")
    return os.path.join(cache, "models", "all-MiniLM-L6-v2")


t = Checker("server_quantized")
check = t.check
model = real_model_dir()
if not os.path.exists(os.path.join(model, "model.safetensors")):
    print(f"no model at {model}: run scripts/fetch-model.sh (or set IA_REAL_MODEL)", file=sys.stderr)
    sys.exit(1)
g = np.load(GOLDEN)
texts = [str(x) for x in g["texts"]]
s = Server(BIN, "minilm=" + model)
try:
    for variant, dims in (("full", None), ("d128", 128)):
        q = g[variant + "_q"]
        got = {}
        for enc in ("int8", "uint8"):
            body = {"input": texts, "model": "minilm", "encoding_format": enc}
            if dims:
                body["dimensions"] = dims
            st, _, res = s.post("/v1/embeddings", body)
            if not check(f"{variant} {enc}: 200", st == 200, (st, str(res)[:300])):
                continue
            got[enc] = np.array([d["embedding"] for d in res["data"]])
            want = g[f"{variant}_{enc}"].astype(np.int64)
            check(f"{variant} {enc}: shape", got[enc].shape == want.shape, (got[enc].shape, want.shape))
            if got[enc].shape != want.shape:
                continue
            lo, hi = (-128, 127) if enc == "int8" else (0, 255)
            check(f"{variant} {enc}: in {lo}..{hi}", got[enc].min() >= lo and got[enc].max() <= hi)
            diff = got[enc] - want
            check(f"{variant} {enc}: off by at most 1", np.abs(diff).max() <= 1, np.abs(diff).max())
            # an off-by-one crosses the edge between the two buckets
            edge = np.maximum(got[enc], want) - (-128 if enc == "int8" else 0)
            off = np.nonzero(diff)
            far = [(i, j, float(q[i, j])) for i, j in zip(*off) if abs(q[i, j] - edge[i, j]) > EDGE]
            check(f"{variant} {enc}: a differing value lies on a bucket edge", not far, far[:5])
            print(f"{variant} {enc}: {diff.size - len(off[0])} of {diff.size} values equal "
                  f"quantize_embeddings', {len(off[0])} off by one on a bucket edge; "
                  f"{int((q < 0).sum() + (q >= 256).sum())} clipped")
        if "int8" in got and "uint8" in got:
            check(f"{variant}: int8 is uint8 less 128", (got["int8"] == got["uint8"] - 128).all())

finally:
    rc = s.stop()
check("server exits 0", rc == 0, rc)
sys.exit(t.summary())
