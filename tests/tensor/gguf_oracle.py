#!/usr/bin/env python3
"""The element types of src/tensor/ against the `gguf` package (gguf-py,
llama.cpp's own Python reader/writer), on fresh random rows every run plus
fixed seeds, and on adversarial rows (zeros, constant rows, huge, tiny and
subnormal magnitudes, one outlier, negative-only, sparse...).

For each type:
  (a) our to_f32 of gguf-py's quantized bytes, of our own, and of random
      bytes equals gguf-py's dequantize exactly (bit for bit; NaNs only as
      NaNs, their payloads being arithmetic accident);
  (b) where gguf-py has a quantizer (f16, bf16, q8_0, q4_0, q4_1), our
      from_f32 bytes equal its bytes. gguf-py has none for q4_K, q5_K and
      q6_K: for those test_dtype holds our bytes to ggml's (ggml_golden.txt)
      and this script bounds the round-trip error.

Usage: gguf_oracle.py IA_DTYPE_TOOL WORKDIR [--seed N]
A missing `gguf` or numpy is a failure, not a skip.
"""
import argparse
import importlib.metadata
import os
import platform
import subprocess
import sys
import time

import numpy as np
import gguf  # noqa: F401  (fails the test when absent)
from gguf import GGMLQuantizationType as QT
from gguf.quants import dequantize, quantize

TYPES = {
    "f16": QT.F16, "bf16": QT.BF16, "q8_0": QT.Q8_0, "q4_0": QT.Q4_0,
    "q4_1": QT.Q4_1, "q4_K": QT.Q4_K, "q5_K": QT.Q5_K, "q6_K": QT.Q6_K,
}
N = 2048            # elements per case: 8 super-blocks, 64 blocks of 32
FIXED_SEEDS = [0, 1, 2024]
# Round-trip error bounds (RMS error over RMS value) on unit-scale rows, for
# the types gguf-py cannot quantize; typical values are about half.
RMSE_BOUND = {"q4_K": 0.12, "q5_K": 0.06, "q6_K": 0.03}


def cases(rng):
    """Adversarial and random rows, N float32 each."""
    g = rng.standard_normal(N).astype(np.float32)
    out = {
        "gauss": g,
        "gauss_scaled": g * np.float32(10.0 ** rng.uniform(-6, 6)),
        "uniform": rng.uniform(-1, 1, N).astype(np.float32),
        "zeros": np.zeros(N, np.float32),
        "const_rows": np.repeat(rng.standard_normal(N // 256), 256).astype(np.float32),
        "const_neg": np.full(N, -rng.uniform(0.01, 100), np.float32),
        "huge": g * np.float32(1e30),
        "near_f32_max": g * np.float32(3e37),
        "f16_edge": g * np.float32(6e4),
        "tiny": g * np.float32(1e-30),
        "subnormal": (g * np.float32(1e-40)).astype(np.float32),
        "outlier": np.where(np.arange(N) % 256 == rng.integers(256), np.float32(1e4), g).astype(np.float32),
        "neg_only": -np.abs(g) - np.float32(0.01),
        "pos_only": np.abs(g) + np.float32(0.01),
        "sparse": np.where(rng.random(N) < 0.05, g, 0).astype(np.float32),
        "small_ints": rng.integers(-8, 8, N).astype(np.float32),
        "mixed_exp": (g * np.exp2(rng.integers(-20, 21, N))).astype(np.float32),
        "heavy_tail": rng.standard_cauchy(N).astype(np.float32),
        "alt_scales": (g * np.where((np.arange(N) // 16) % 2, 256, 1 / 256)).astype(np.float32),
    }
    # f16 rounding: exact midpoints between neighbouring halves, and +-1 ulp
    h = rng.integers(0, 0x7bff, N // 4).astype(np.uint16)
    lo = h.view(np.float16).astype(np.float64)
    hi = (h + 1).view(np.float16).astype(np.float64)
    mid = ((lo + hi) / 2).astype(np.float32)
    mids = np.concatenate([mid, -mid, np.nextafter(mid, np.float32(0)), np.nextafter(mid, np.float32(np.inf))])
    out["f16_midpoints"] = mids.astype(np.float32)
    for k, v in out.items():
        assert v.dtype == np.float32 and v.shape == (N,), k
    return out


class Tool:
    def __init__(self, exe, workdir):
        self.exe, self.dir = exe, workdir
        os.makedirs(workdir, exist_ok=True)

    def run(self, op, tname, data):
        src = os.path.join(self.dir, f"{op}-{tname}.in")
        dst = os.path.join(self.dir, f"{op}-{tname}.out")
        data.tofile(src)
        subprocess.run([self.exe, op, tname, src, dst], check=True)
        return np.fromfile(dst, dtype=np.float32 if op == "to_f32" else np.uint8)


def gguf_can_quantize(qt):
    try:
        quantize(np.zeros((1, 256), np.float32), qt)
        return True
    except NotImplementedError:
        return False


def same_floats(a, b):
    """Count of elements that differ: bits for numbers, NaN-ness for NaNs."""
    a, b = a.view(np.uint32), b.view(np.uint32)
    nan_a = np.isnan(a.view(np.float32))
    nan_b = np.isnan(b.view(np.float32))
    return int(np.count_nonzero(np.where(nan_a | nan_b, nan_a != nan_b, a != b)))


def check_seed(tool, seed, stats, failures):
    rng = np.random.default_rng(seed)
    rows = cases(rng)
    names = list(rows)
    x = np.stack([rows[k] for k in names])               # (cases, N)
    x86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")
    for tname, qt in TYPES.items():
        block, tsize = gguf.GGML_QUANT_SIZES[qt]
        row_bytes = N // block * tsize
        ours_q = tool.run("from_f32", tname, x).reshape(len(names), row_bytes)
        st = stats.setdefault(tname, {"q_rows": 0, "q_bad_bytes": 0, "dq_vals": 0, "dq_bad": 0,
                                      "rt_err": []})
        byte_sources = [("ours", ours_q)]

        if gguf_can_quantize(qt):
            with np.errstate(all="ignore"):
                ref_q = np.stack([quantize(x[i:i + 1], qt).reshape(-1).view(np.uint8) for i in range(len(names))])
            byte_sources.append(("gguf", ref_q))
            for i, name in enumerate(names):
                # A block whose largest magnitude is so small that 1/d
                # overflows makes both sides cast inf/NaN to int8: C leaves
                # that undefined, x86 gives 0 (what we define); elsewhere
                # gguf-py's numpy answers differently.
                if name == "subnormal" and not x86 and tname in ("q8_0", "q4_0", "q4_1"):
                    continue
                bad = int(np.count_nonzero(ours_q[i] != ref_q[i]))
                st["q_rows"] += 1
                st["q_bad_bytes"] += bad
                if bad:
                    failures.append(f"seed {seed} {tname} {name}: from_f32 differs from gguf-py "
                                    f"in {bad} of {row_bytes} bytes")
        else:
            st["no_quantize"] = True

        # random bytes: every scale, including inf, NaN and subnormal halves
        rnd = rng.integers(0, 256, (4, row_bytes), dtype=np.uint8)
        byte_sources.append(("random", rnd))
        for label, qb in byte_sources:
            ours = tool.run("to_f32", tname, qb).reshape(qb.shape[0], N)
            with np.errstate(all="ignore"):
                ref = np.stack([dequantize(qb[i], qt).reshape(-1).astype(np.float32) for i in range(qb.shape[0])])
            for i in range(qb.shape[0]):
                bad = same_floats(ours[i], ref[i])
                st["dq_vals"] += N
                st["dq_bad"] += bad
                if bad:
                    case = names[i] if label != "random" else f"random#{i}"
                    failures.append(f"seed {seed} {tname} {case} ({label} bytes): to_f32 differs from "
                                    f"gguf-py dequantize in {bad} of {N} values")
            if label == "ours" and tname in RMSE_BOUND:
                for i, name in enumerate(names):
                    # unit-scale rows only: far from 1, the f16 super-block
                    # scales under- or overflow, in ggml as here
                    if name in ("gauss", "uniform", "outlier"):
                        err = float(np.sqrt(np.mean((ours[i].astype(np.float64) - x[i]) ** 2)) /
                                    np.sqrt(np.mean(x[i].astype(np.float64) ** 2)))
                        st["rt_err"].append(err)
                        if not err < RMSE_BOUND[tname]:
                            failures.append(f"seed {seed} {tname} {name}: round-trip RMS error {err:.4f} "
                                            f"over the bound {RMSE_BOUND[tname]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tool")
    ap.add_argument("workdir")
    ap.add_argument("--seed", type=int, help="the fresh seed (default: random)")
    args = ap.parse_args()
    fresh = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    tool = Tool(args.tool, args.workdir)
    stats, failures = {}, []
    t0 = time.monotonic()
    for seed in FIXED_SEEDS + [fresh]:
        check_seed(tool, seed, stats, failures)
    print(f"gguf {importlib.metadata.version('gguf')}, numpy {np.__version__}; seeds {FIXED_SEEDS} "
          f"and fresh {fresh} (rerun with --seed {fresh})")
    for tname, st in stats.items():
        q = ("no gguf-py quantizer" if st.get("no_quantize") else
             f"from_f32 {st['q_bad_bytes']} bytes differ in {st['q_rows']} rows")
        rt = f"; round-trip RMS error max {max(st['rt_err']):.4f}" if st["rt_err"] else ""
        print(f"  {tname:5} {q}; to_f32 {st['dq_bad']} of {st['dq_vals']} values differ{rt}")
    for f in failures[:40]:
        print("FAIL", f)
    ok = not failures
    n_checks = sum(st["q_rows"] for st in stats.values()) + sum(st["dq_vals"] // N for st in stats.values())
    print(f"dtype_gguf_oracle: {n_checks} rows checked in {time.monotonic() - t0:.1f} s, "
          f"{len(failures)} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
