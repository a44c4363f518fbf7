#!/usr/bin/env python3
"""What the quantized encodings of /v1/embeddings cost in retrieval:
documents and queries from data/corpus.txt embedded by the real
all-MiniLM-L6-v2 through the Python binding; the top 10 documents per query
by float cosine are the truth, and recall@10 is measured

- for "binary" / "ubinary" (packed sign bits): Hamming-distance search on
  the sign bits alone, and with the top 40 by Hamming rescored by float
  query x sign-bit documents (the usual binary-quantization rescoring);
- for "int8" / "uint8": the server's buckets (sentence-transformers'
  quantize_embeddings with the server's calibration sentences,
  data/corpus.txt lines [2300:2500], computed here as src/server/calib.c
  computes them), searched by the integers' dot product (what an index that
  stores the bytes as they come does), by float query x dequantized
  documents (min + bucket * step, as sentence-transformers rescores), and
  with the top 40 by the integers rescored that way.

Usage: PYTHONPATH=python IPFS_ACCELERATE_LIB=build/libipfs_accelerate.so \\
       .cache/venv/bin/python bench/quantized_recall.py MODEL_DIR"""
import os, sys

import numpy as np

import ipfs_accelerate as ia

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
lines = [l.strip() for l in open(os.path.join(root, "data", "corpus.txt"), encoding="utf-8") if l.strip()]
docs, queries, calib = lines[:2000], lines[2000:2300], lines[2300:2500]
model = ia.Model(sys.argv[1])
D, Q = model.embed(docs, normalize=True), model.embed(queries, normalize=True)
C = model.embed(calib, normalize=True)
truth = np.argsort(-(Q @ D.T), axis=1)[:, :10]
Db, Qb = np.packbits(D > 0, axis=1), np.packbits(Q > 0, axis=1)  # the ubinary bytes
ham = np.unpackbits(Qb[:, None, :] ^ Db[None, :, :], axis=2).sum(2)
plain = np.argsort(ham, axis=1, kind="stable")[:, :10]
cand = np.argsort(ham, axis=1, kind="stable")[:, :40]
signs = np.where(D > 0, 1.0, -1.0)
rescored = np.take_along_axis(cand, np.argsort(-np.einsum("qd,qkd->qk", Q, signs[cand]), axis=1)[:, :10], 1)


def recall(found):
    return np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])


lo = C.min(axis=0)
step = (C.max(axis=0) - lo) / 255
step = np.where(step == 0, 1, step).astype(np.float32)
bucket = lambda x: np.clip(np.floor((x - lo) / step), 0, 255)  # noqa: E731  uint8; int8 = this - 128
Du, Qu = bucket(D).astype(np.int64), bucket(Q).astype(np.int64)
Di, Qi = Du - 128, Qu - 128
Ddq = (Du * step.astype(np.float64) + lo).astype(np.float32)  # dequantized documents
top10 = lambda scores: np.argsort(-scores, axis=1, kind="stable")[:, :10]  # noqa: E731
int8_dot, uint8_dot = Qi @ Di.T, Qu @ Du.T
cand8 = np.argsort(-int8_dot, axis=1, kind="stable")[:, :40]
rescored8 = np.take_along_axis(cand8, np.argsort(-np.einsum("qd,qkd->qk", Q, Ddq[cand8]), axis=1)[:, :10], 1)
outside = float(((Q < lo) | (Q > C.max(axis=0))).mean())


print(f"{len(queries)} queries over {len(docs)} documents, {D.shape[1]} dims "
      f"({D.shape[1] * 4} bytes float, {Db.shape[1]} bytes binary)")
print(f"recall@10, Hamming on the sign bits:            {recall(plain):.3f}")
print(f"recall@10, top 40 by Hamming rescored (float q): {recall(rescored):.3f}")
print(f"int8/uint8: {D.shape[1]} bytes; ranges from {len(calib)} calibration sentences "
      f"({outside:.1%} of the queries' values fall outside them and are clipped)")
print(f"recall@10, int8 dot product:                     {recall(top10(int8_dot)):.3f}")
print(f"recall@10, uint8 dot product:                    {recall(top10(uint8_dot)):.3f}")
print(f"recall@10, float q x dequantized documents:      {recall(top10(Q @ Ddq.T)):.3f}")
print(f"recall@10, top 40 by int8 rescored (float q):    {recall(rescored8):.3f}")
