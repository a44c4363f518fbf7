"""get_accelerate_status(), the IPFS_ACCELERATE_ENABLED switch, hardware
detection and fallback reporting."""

import json
import os
import subprocess
import sys

import pytest

import ipfs_accelerate as ia
from ipfs_accelerate import _lib
from conftest import ROOT


def test_library_exports_what_the_status_uses():
    """The status, detection and selection come from the library: a build
    without these exports is broken, not a case to skip."""
    for name in ("ia_accelerate_status_json", "ia_backend_select", "ia_hardware_detect_json"):
        assert _lib.has(name), f"{ia.library_path()} does not export {name}"


def test_status_dict_shape():
    st = ia.get_accelerate_status()
    for key in ("available", "enabled", "env_disabled", "env_var", "import_error", "backends",
                "selected", "version", "library"):
        assert key in st, key
    assert isinstance(st["available"], bool) and isinstance(st["enabled"], bool)
    assert st["available"] is True  # the library loads and its CPU backend runs
    assert st["import_error"] is None
    assert st["version"] == ia.library_version()
    assert os.path.exists(st["library"])


@pytest.mark.parametrize("value", ["0", "false", "No", "DISABLED", " 0 "])
def test_env_switch_off(monkeypatch, value):
    monkeypatch.setenv("IPFS_ACCELERATE_ENABLED", value)
    st = ia.get_accelerate_status()
    assert st["env_disabled"] is True and st["enabled"] is False
    assert st["env_var"] == value.strip().lower()
    assert ia.is_accelerate_available() is False


@pytest.mark.parametrize("value", [None, "1", "true", "yes"])
def test_env_switch_on(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("IPFS_ACCELERATE_ENABLED", raising=False)
    else:
        monkeypatch.setenv("IPFS_ACCELERATE_ENABLED", value)
    st = ia.get_accelerate_status()
    assert st["env_disabled"] is False and st["enabled"] is True
    assert st["env_var"] == (value or "1")
    assert ia.is_accelerate_available() is True


def test_status_comes_from_the_library(monkeypatch):
    monkeypatch.setenv("IPFS_ACCELERATE_ENABLED", "0")
    c = json.loads(_lib.call_json("ia_accelerate_status_json"))
    st = ia.get_accelerate_status()
    for key in ("available", "enabled", "env_disabled", "backends"):
        assert st[key] == c[key], key
    assert c["enabled"] is False and c["env_disabled"] is True
    assert _lib.load().ia_accelerate_enabled() is False
    assert isinstance(st["backends"], dict) and st["backends"]["cpu"]["usable"] is True


def test_status_without_library(tmp_path, tiny):
    """No library: the status says so (available False, import_error set); no crash."""
    code = ("import json, ipfs_accelerate as ia\n"
            "print(json.dumps([ia.get_accelerate_status(), ia.is_accelerate_available()]))\n")
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"),
               IPFS_ACCELERATE_LIB=str(tmp_path / "nowhere" / "libipfs_accelerate.so"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    st, avail = json.loads(r.stdout)
    assert st["available"] is False and avail is False
    assert "nowhere" in st["import_error"]
    code2 = "import sys, ipfs_accelerate as ia\nia.Model(sys.argv[1])\n"
    r = subprocess.run([sys.executable, "-c", code2, tiny], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 1 and "LibraryNotFoundError" in r.stderr and "nowhere" in r.stderr


def test_detect_available_hardware_has_cpu():
    hw = ia.detect_available_hardware()
    assert ia.HardwareType.CPU in hw
    assert all(isinstance(h, ia.HardwareType) for h in hw)
    assert [h.value for h in ia.HardwareType] == [
        "cpu", "cuda", "rocm", "openvino", "mps", "webnn", "webgpu", "qualcomm"]


def test_detect_hardware():
    d = ia.detect_hardware()
    ids = [p["id"] for p in d["platforms"]]
    assert "cpu" in ids and "cuda" in ids
    cpu = next(p for p in d["platforms"] if p["id"] == "cpu")
    assert cpu["state"] != "not_present" if isinstance(cpu["state"], str) else cpu["state"] != 0


def test_compute_backend_runs(tiny):
    be = ia.get_compute_backend(ia.HardwareType.CPU)
    assert be.is_available() and be.hardware_type is ia.HardwareType.CPU
    m = be.load_model(tiny)
    assert be.load_model(tiny) is m  # loaded once
    v = be.run_inference(m, ["hello world", "two"])
    assert v.shape == (2, 32)
    one = be.run_inference(tiny, "hello world")
    assert one.shape == (32,)
    assert abs(float((one * v[0]).sum()) - 1.0) < 1e-5
    with pytest.raises(ia.UnsupportedError, match="task_type"):
        be.run_inference(m, "x", task_type="text-generation")
    be.cleanup()
    assert m.closed


def test_auto_backend_is_usable():
    be = ia.get_compute_backend()
    assert be.is_available()


def test_unusable_hardware_reports_why(tiny):
    usable = {h for h in ia.detect_available_hardware()}
    missing = [h for h in ia.HardwareType if h not in usable]
    if not missing:
        pytest.skip("every hardware type is usable here")
    be = ia.ComputeBackend(missing[0])
    assert be.is_available() is False and be.initialize() is False
    assert be.unavailable_reason()
    with pytest.raises(ia.BackendError, match=missing[0].value):
        be.load_model(tiny)


def test_fallback_reporting(tiny):
    """A hardware request this machine cannot honour falls back to the CPU, and
    the result says so (or, with fallback unavailable, a clear error)."""
    usable = {h.value for h in ia.detect_available_hardware()}
    want = next((h for h in ("webnn", "qualcomm", "mps", "cuda") if h not in usable), None)
    if want is None:
        pytest.skip("no unusable hardware type to request")
    with ia.AccelerateManager() as mgr:
        r = mgr.run_inference(tiny, "hello", hardware=want)
        assert r["status"] == "success" and r["backend"] == "cpu"
        assert r["fallback"] is True and r["fallback_reason"]
        assert r["requested_hardware"] in (want, "qnn")


def test_disabled_computes_on_plain_cpu(tiny, monkeypatch):
    monkeypatch.setenv("IPFS_ACCELERATE_ENABLED", "0")
    with ia.AccelerateManager() as mgr:
        r = mgr.run_inference(tiny, ["hello", "world"])
        assert r["status"] == "success" and r["backend"] == "cpu"
        assert r["accelerate_enabled"] is False
        assert r["embeddings"].shape == (2, 32)
        st = mgr.get_status()
        assert st["accelerate_enabled"] is False


def test_manager_status_and_health(tiny):
    with ia.AccelerateManager(resources={"batch_size": 4}) as mgr:
        st = mgr.get_status()
        assert st["accelerate_initialized"] is True and "cpu" in st["available_hardware"]
        assert st["distributed_enabled"] is False
        r = mgr.run_inference(tiny, [f"text {i}" for i in range(10)])
        assert r["embeddings"].shape == (10, 32) and r["n_tokens"] > 0
        assert r["model"] == tiny and r["task_type"] == "embedding" and r["dim"] == 32
        h = mgr.health_check()
        assert h["healthy"] is True and h["status"] == "healthy", h
        assert any(k.startswith("model:") and v["ok"] for k, v in h["checks"].items())
        assert mgr.get_status()["loaded_models"][0]["dim"] == 32
