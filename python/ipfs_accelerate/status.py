"""Status of the accelerator layer and hardware detection.

``get_accelerate_status()`` returns the dict ipfs_datasets_py users know
(``available``, ``enabled``, ``env_disabled``, ``env_var``, ``import_error``)
plus what the library reports (``backends``, ``selected``, ...). The values
come from the library (``ia_accelerate_status_json``); the environment
switch ``IPFS_ACCELERATE_ENABLED`` (``0``/``false``/``no``/``disabled``,
any case, turn it off) is read at every call, so a change made at run
time (``os.environ[...] = "0"``) is honoured.
"""

from __future__ import annotations

import json
import os

from . import _lib

ENV_VAR = "IPFS_ACCELERATE_ENABLED"
_OFF = ("0", "false", "no", "disabled")  # as the library's ia_accelerate_enabled()


def _env():
    value = os.environ.get(ENV_VAR, "1").strip().lower()
    return value, value in _OFF


def library_version():
    lib, _ = _lib.try_load()
    return lib.ia_version().decode() if lib is not None else None


def get_accelerate_status() -> dict:
    """Status of the accelerated compute layer (see module doc)."""
    env_value, env_disabled = _env()
    lib, err = _lib.try_load()
    status = {
        "available": False,
        "enabled": not env_disabled,
        "env_disabled": env_disabled,
        "env_var": env_value,
        "import_error": err,
        "backends": [],
        "selected": None,
        "version": None,
        "library": None,
    }
    if lib is None:
        return status
    status.update(version=lib.ia_version().decode(), library=_lib.library_path())
    if hasattr(lib, "ia_accelerate_status_json"):
        reported = json.loads(_lib.call_json("ia_accelerate_status_json"))
        status.update(reported)
        status["import_error"] = None
    else:
        # A library from before the hardware layer: it loads and computes on
        # its CPU backend, but it cannot say more about backends.
        status.update(available=True, backends=None, selected=None,
                      status_note="this libipfs_accelerate has no ia_accelerate_status_json; "
                                  "backends unknown")
    # The environment is the user's switch; it is reported as it is now.
    status["env_var"] = env_value
    return status


def is_accelerate_available() -> bool:
    """True when the library loads and IPFS_ACCELERATE_ENABLED does not turn it off."""
    _, env_disabled = _env()
    if env_disabled:
        return False
    lib, _ = _lib.try_load()
    if lib is None:
        return False
    if hasattr(lib, "ia_accelerate_enabled"):
        return bool(lib.ia_accelerate_enabled())
    return True


def detect_hardware() -> dict:
    """What the library's probes found on this machine (parsed JSON).

    Raises UnsupportedError on a library without hardware detection, and
    LibraryNotFoundError when the library cannot be loaded.
    """
    lib = _lib.load()
    if not hasattr(lib, "ia_hardware_detect_json"):
        from .errors import UnsupportedError
        raise UnsupportedError("this build of libipfs_accelerate has no hardware detection "
                               "(ia_hardware_detect_json)")
    return json.loads(_lib.call_json("ia_hardware_detect_json"))


def select_backend(request: str | None = "auto") -> dict:
    """What a device request ("auto", "cpu", "cuda", "cuda:1", ...) resolves to.

    Returns {"backend", "device", "device_name", "precision",
    "precision_requested", "requested", "fallback", "reason"} as the library's ia_backend_select() decides it: an
    unusable device falls back to the CPU with the reason (or raises
    BackendError when the configuration turns fallback off); an unknown name
    raises InvalidInputError. With a library that predates backend selection,
    "backend" is None and the request goes to the model loader as is.
    """
    lib = _lib.load()
    if request is not None and not isinstance(request, str):
        raise TypeError(f"device must be a str, not {type(request).__name__}")
    if not hasattr(lib, "ia_backend_select"):
        return {"backend": None, "device": request, "device_name": None, "precision": None,
                "precision_requested": None, "requested": request, "fallback": False,
                "reason": "this libipfs_accelerate has no backend selection (ia_backend_select)"}
    lib.ia_backend_select.restype = _lib.c_int
    lib.ia_backend_select.argtypes = [_lib.c_char_p, _lib.c_void_p]
    sel = _lib.new(_lib.Selection)
    _lib.check(lib.ia_backend_select(request.encode() if request else None, _lib.ctypes.byref(sel)))
    d = lambda b: b.decode("utf-8", "replace")  # noqa: E731
    return {"backend": d(sel.backend), "device": d(sel.device), "device_name": d(sel.device_name),
            "precision": d(sel.precision), "precision_requested": d(sel.precision_requested),
            "requested": d(sel.requested),
            "fallback": bool(sel.fallback), "reason": d(sel.reason)}
