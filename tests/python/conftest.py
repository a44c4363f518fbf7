"""Fixtures of the Python binding's tests.

CTest (tests/python/tests.cmake) runs pytest with IPFS_ACCELERATE_LIB (the
shared library of that build), PYTHONPATH (python/), IA_SYNTH_DIR (the
synthetic models of tests/model/tests.cmake) and IA_CLI (the CLI) set. By
hand, from the repository root after a build:
    IPFS_ACCELERATE_LIB=build/libipfs_accelerate.so PYTHONPATH=python \
    IA_SYNTH_DIR=build/tests/models IA_CLI=build/ipfs-accelerate \
    .cache/venv/bin/python -m pytest tests/python
"""

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))

# Never reach for the real hub from tests (the library's hub client would).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEST_DATA = os.environ.get("IA_TEST_DATA", os.path.join(ROOT, "tests", "data"))


def _build_dir():
    lib = os.environ.get("IPFS_ACCELERATE_LIB")
    return os.path.dirname(lib) if lib else os.path.join(ROOT, "build")


@pytest.fixture(scope="session")
def synth_dir():
    d = os.environ.get("IA_SYNTH_DIR") or os.path.join(_build_dir(), "tests", "models")
    if not os.path.isdir(os.path.join(d, "tiny-f32")):
        pytest.fail(f"synthetic models missing in {d} (ctest -R model_synth_setup makes them)")
    return d


@pytest.fixture(scope="session")
def tiny(synth_dir):
    return os.path.join(synth_dir, "tiny-f32")


@pytest.fixture(scope="session")
def tiny_model(tiny):
    import ipfs_accelerate as ia
    m = ia.Model(tiny)
    yield m
    m.close()


def real_model_dir():
    """The real all-MiniLM-L6-v2 folder (scripts/fetch-model.sh puts it there)."""
    if os.environ.get("IA_REAL_MODEL"):
        return os.environ["IA_REAL_MODEL"]
    cache = os.environ.get("IA_DEV_CACHE")
    if not cache:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        cache = os.path.join(xdg, "ipfs-accelerate-dev")
    return os.path.join(cache, "models", "all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def real_dir():
    d = real_model_dir()
    if not os.path.isfile(os.path.join(d, "model.safetensors")):
        pytest.fail(f"the real model is missing at {d}: run scripts/fetch-model.sh")
    return d


@pytest.fixture(scope="session")
def real_model(real_dir):
    import ipfs_accelerate as ia
    m = ia.Model(real_dir)
    yield m
    m.close()


@pytest.fixture(scope="session")
def sentences():
    with open(os.path.join(TEST_DATA, "sentences.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("IA_CLI") or os.path.join(_build_dir(), "ipfs-accelerate")
    if not os.access(path, os.X_OK):
        pytest.fail(f"the CLI is missing at {path}")
    return path


def make_hf_cache(root, repo_id, folder, commit="0123456789abcdef0123456789abcdef01234567",
                  ref="main"):
    """Lay out folder as repo_id in a Hugging Face hub cache under root,
    as huggingface_hub does: blobs are symlinked from snapshots/<commit>/."""
    repo = os.path.join(root, "models--" + repo_id.replace("/", "--"))
    snap = os.path.join(repo, "snapshots", commit)
    os.makedirs(snap, exist_ok=True)
    os.makedirs(os.path.join(repo, "refs"), exist_ok=True)
    with open(os.path.join(repo, "refs", ref), "w") as f:
        f.write(commit)
    for name in os.listdir(folder):
        dst = os.path.join(snap, name)
        if not os.path.lexists(dst):
            os.symlink(os.path.abspath(os.path.join(folder, name)), dst)
    return snap


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """An empty Hugging Face home for this test (HF_HOME), and a helper."""
    home = tmp_path / "hf"
    (home / "hub").mkdir(parents=True)
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(home))

    class Cache:
        hub = str(home / "hub")

        def add(self, repo_id, folder, **kw):
            return make_hf_cache(self.hub, repo_id, folder, **kw)

    return Cache()


def cosines(a, b):
    import numpy as np
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na = np.linalg.norm(a, axis=-1)
    nb = np.linalg.norm(b, axis=-1)
    return (a * b).sum(-1) / np.maximum(na * nb, 1e-30)


@pytest.fixture(scope="session")
def _user_hf_cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("user-hf-home")
    d = real_model_dir()
    if os.path.isfile(os.path.join(d, "model.safetensors")):
        make_hf_cache(str(root / "hub"), "sentence-transformers/all-MiniLM-L6-v2", d)
    return str(root)


@pytest.fixture(autouse=True)
def _dropin_environment(request, monkeypatch):
    """The drop-in module runs as on a user's machine: a Hugging Face cache
    that holds all-MiniLM-L6-v2 (the real model, linked as the hub lays it out)."""
    if not request.module.__name__.startswith("test_dropin"):
        return
    home = request.getfixturevalue("_user_hf_cache")
    if not os.path.isdir(os.path.join(home, "hub")):
        pytest.fail(f"the real model is missing at {real_model_dir()}: run scripts/fetch-model.sh")
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", home)
