#!/usr/bin/env python3
"""Make tests/data/golden/quantized-minilm.npz, what /v1/embeddings' int8 and
uint8 encodings are checked against (tests/server/test_quantized.py).

The oracle is sentence-transformers: SentenceTransformer.encode for the
float vectors of the real all-MiniLM-L6-v2 (scripts/fetch-model.sh) and
sentence_transformers.quantization.quantize_embeddings(precision="int8" |
"uint8", calibration_embeddings=...) with the server's calibration
sentences (scripts/make-calibration.py), never our code. For `dimensions`
N the float vectors, the texts' and the calibration sentences', are first
cut to N and L2-normalized again as the server does (float64 sum of
squares, a float32 scale), then quantized with the calibration vectors so
shortened.

Stored: texts (the inputs), and per variant ("full", "d128"): int8, uint8
(quantize_embeddings' answers) and q, the float32 value whose floor is
each bucket ((x - min) / step, before the clip), so a test can tell a value
that sits on a bucket's edge (where float rounding may go either way).

Run from the repository root with a Python that has sentence-transformers
and torch:  VENV_PYTHON scripts/gen-quantized-golden.py
"""
import importlib.util, json, os, subprocess, sys

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers import quantize_embeddings

torch.set_num_threads(2)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "golden", "quantized-minilm.npz")
DIMS = 128


def calibration_sentences():
    spec = importlib.util.spec_from_file_location("mc", os.path.join(ROOT, "scripts", "make-calibration.py"))
    mc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mc)
    return mc.sentences()


def texts():
    with open(os.path.join(ROOT, "tests", "data", "sentences.jsonl"), encoding="utf-8") as f:
        s = [json.loads(l) for l in f]
    # non-empty (the OpenAI route refuses ""), short and long, several scripts:
    # some fall outside the calibration ranges and are clipped
    return [t for t in s if t.strip()][:48]


def shorten(v, d):
    """The server's dimensions: the first d values, L2-normalized again."""
    v = v[:, :d]
    ss = (v.astype(np.float64) ** 2).sum(axis=1)
    scale = (1.0 / np.maximum(np.sqrt(ss), 1e-12)).astype(np.float32)
    return v * scale[:, None]


def pre_floor(emb, calib):
    lo, hi = calib.min(axis=0), calib.max(axis=0)
    steps = (hi - lo) / 255
    steps = np.where(steps == 0, 1, steps).astype(np.float32)
    return ((emb - lo) / steps).astype(np.float32)


def main():
    model_dir = subprocess.check_output([os.path.join(ROOT, "scripts", "fetch-model.sh")], text=True).strip()
    model = SentenceTransformer(model_dir, device="cpu")
    t = texts()
    emb = model.encode(t, batch_size=32, convert_to_numpy=True).astype(np.float32)
    cal = model.encode(calibration_sentences(), batch_size=32, convert_to_numpy=True).astype(np.float32)
    out = {"texts": np.array(t)}
    for name, e, c in (("full", emb, cal), (f"d{DIMS}", shorten(emb, DIMS), shorten(cal, DIMS))):
        out[f"{name}_int8"] = quantize_embeddings(e, precision="int8", calibration_embeddings=c)
        out[f"{name}_uint8"] = quantize_embeddings(e, precision="uint8", calibration_embeddings=c)
        out[f"{name}_q"] = pre_floor(e, c)
        print(f"{name}: {e.shape}, {(out[f'{name}_q'] < 0).sum() + (out[f'{name}_q'] >= 256).sum()} values "
              "outside the calibration ranges", file=sys.stderr)
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
