"""`pip install ./python` into a fresh venv, then embed with the installed
package. Needs PyPI (scikit-build-core) and a minute of compiling, so it only
runs when asked: IA_TEST_PIP_INSTALL=1."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.skipif(os.environ.get("IA_TEST_PIP_INSTALL") != "1",
                    reason="set IA_TEST_PIP_INSTALL=1 (needs PyPI for scikit-build-core)")
def test_pip_install(tmp_path, tiny):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "IPFS_ACCELERATE_LIB")}
    env["CMAKE_BUILD_PARALLEL_LEVEL"] = "2"
    subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    os.path.join(ROOT, "python")], check=True, env=env, timeout=900)
    code = ("import sys, ipfs_accelerate as ia\n"
            "assert '/site-packages/ipfs_accelerate/_lib/' in ia.library_path(), ia.library_path()\n"
            "v = ia.Model(sys.argv[1]).encode(['hello world'])\n"
            "assert len(v) == 1 and len(v[0]) == 32\n")
    subprocess.run([py, "-c", code, os.path.abspath(tiny)], check=True, env=env, cwd=str(tmp_path),
                   timeout=120)
