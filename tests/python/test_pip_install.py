"""README's `pip install './python[numpy]'` into a fresh venv, then embed with
the installed package (its own compiled library, not the build tree's) and
compare with sentence-transformers' goldens.

CTest runs this file alone as the test python_pip_install (IA_TEST_PIP_INSTALL=1,
tests/python/tests.cmake); python_binding leaves it out. It needs PyPI for the
build dependency scikit-build-core and numpy (pip's cache keeps them after the
first run) and compiles the library once (20-60 s in all on 2 cores). By hand:
    IA_TEST_PIP_INSTALL=1 IA_SYNTH_DIR=build/tests/models \\
    .cache/venv/bin/python -m pytest tests/python/test_pip_install.py
"""

import os
import subprocess
import sys

import pytest

from conftest import ROOT, TEST_DATA


@pytest.mark.skipif(os.environ.get("IA_TEST_PIP_INSTALL") != "1",
                    reason="set IA_TEST_PIP_INSTALL=1 (needs PyPI for scikit-build-core)")
def test_pip_install(tmp_path, tiny):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "IPFS_ACCELERATE_LIB")}
    env["CMAKE_BUILD_PARALLEL_LEVEL"] = "2"
    subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    os.path.join(ROOT, "python") + "[numpy]"], check=True, env=env, timeout=900)
    code = ("import json, sys\n"
            "import numpy as np, ipfs_accelerate as ia\n"
            "assert '/site-packages/ipfs_accelerate/_lib/' in ia.library_path(), ia.library_path()\n"
            "texts = [json.loads(l) for l in open(sys.argv[2], encoding='utf-8')][:32]\n"
            "with ia.Model(sys.argv[1]) as m:\n"
            "    v = m.encode(texts)\n"
            "    one = m.encode('hello world')\n"
            "assert isinstance(v, np.ndarray) and v.dtype == np.float32 and v.shape == (32, 32), v.shape\n"
            "assert one.shape == (32,)\n"
            "want = np.load(sys.argv[3])[:32].astype(np.float64)\n"
            "cos = (v * want).sum(1) / (np.linalg.norm(v, axis=1) * np.linalg.norm(want, axis=1))\n"
            "assert cos.min() >= 0.999999, cos.min()\n"
            "assert np.abs(v - want).max() <= 1e-6, np.abs(v - want).max()\n")
    subprocess.run([py, "-c", code, os.path.abspath(tiny), os.path.join(TEST_DATA, "sentences.jsonl"),
                    os.path.join(TEST_DATA, "golden", "tiny-f32.npy")],
                   check=True, env=env, cwd=str(tmp_path), timeout=120)
