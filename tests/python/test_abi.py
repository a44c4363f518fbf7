"""The binding's ctypes mirrors match the library's own struct layouts
(ia_abi_layouts), so a field added on one side only cannot go unnoticed;
the options the C API has reach Python (precision)."""

import ctypes
import json

import pytest

import ipfs_accelerate as ia
from ipfs_accelerate import _lib


def test_mirrors_match_the_library():
    lib = _lib.load()
    layouts = json.loads(lib.ia_abi_layouts())
    assert set(_lib.MIRRORS) <= set(layouts), set(layouts) - set(_lib.MIRRORS)
    assert _lib.layout_differences(layouts) == []
    # every struct the library describes is mirrored here
    assert set(layouts) == set(_lib.MIRRORS)


def test_drift_is_reported():
    class Short(ctypes.Structure):
        _fields_ = [("size", ctypes.c_size_t), ("n_threads", ctypes.c_int)]
    saved = _lib.MIRRORS["ia_model_options"]
    _lib.MIRRORS["ia_model_options"] = Short
    try:
        diffs = _lib.layout_differences(json.loads(_lib.load().ia_abi_layouts()))
    finally:
        _lib.MIRRORS["ia_model_options"] = saved
    assert diffs and "ia_model_options" in diffs[0]


def test_precision_option(tiny):
    m = ia.Model(tiny, precision="fp32")
    assert m.info["precision"] == "fp32"
    q = ia.Model(tiny, precision="int8")  # int8 where the CPU has VNNI, else fp32
    assert q.info["precision"] in ("int8", "fp32")
    if q.info["precision"] == "fp32":
        assert "int8" in q.info["backend_reason"]
    with pytest.raises(ia.InvalidInputError, match="precision"):
        ia.Model(tiny, precision="fp64")
