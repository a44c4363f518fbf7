#!/usr/bin/env python3
"""What the packed sign-bit encodings (/v1/embeddings encoding_format
"binary" / "ubinary") cost in retrieval: documents and queries from
data/corpus.txt embedded by the real all-MiniLM-L6-v2 through the Python
binding; the top 10 documents per query by float cosine are the truth, and
recall@10 is measured for Hamming-distance search on the sign bits alone
and with the top 40 by Hamming rescored by float query x sign-bit
documents (the usual binary-quantization rescoring).

Usage: PYTHONPATH=python IPFS_ACCELERATE_LIB=build/libipfs_accelerate.so \\
       .cache/venv/bin/python bench/quantized_recall.py MODEL_DIR"""
import os, sys

import numpy as np

import ipfs_accelerate as ia

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
lines = [l.strip() for l in open(os.path.join(root, "data", "corpus.txt"), encoding="utf-8") if l.strip()]
docs, queries = lines[:2000], lines[2000:2300]
model = ia.Model(sys.argv[1])
D, Q = model.embed(docs, normalize=True), model.embed(queries, normalize=True)
truth = np.argsort(-(Q @ D.T), axis=1)[:, :10]
Db, Qb = np.packbits(D > 0, axis=1), np.packbits(Q > 0, axis=1)  # the ubinary bytes
ham = np.unpackbits(Qb[:, None, :] ^ Db[None, :, :], axis=2).sum(2)
plain = np.argsort(ham, axis=1, kind="stable")[:, :10]
cand = np.argsort(ham, axis=1, kind="stable")[:, :40]
signs = np.where(D > 0, 1.0, -1.0)
rescored = np.take_along_axis(cand, np.argsort(-np.einsum("qd,qkd->qk", Q, signs[cand]), axis=1)[:, :10], 1)


def recall(found):
    return np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])


print(f"{len(queries)} queries over {len(docs)} documents, {D.shape[1]} dims "
      f"({D.shape[1] * 4} bytes float, {Db.shape[1]} bytes binary)")
print(f"recall@10, Hamming on the sign bits:            {recall(plain):.3f}")
print(f"recall@10, top 40 by Hamming rescored (float q): {recall(rescored):.3f}")
