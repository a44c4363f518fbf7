"""Hardware types and compute backends (the ipfs_datasets_py API, for real).

``ComputeBackend`` is a handle on one kind of hardware. ``is_available()``
asks the library whether a backend for it is built and its probe saw a
device; ``load_model()`` loads a :class:`~ipfs_accelerate.Model` on it and
``run_inference()`` computes embeddings with it. Nothing here returns a
placeholder: what cannot run raises an exception saying why.
"""

from __future__ import annotations

import threading
from enum import Enum
from typing import Any, Dict, List, Optional

from .. import status as _status
from ..errors import BackendError, InvalidInputError, UnsupportedError
from ..model import Model


class HardwareType(Enum):
    """Hardware kinds, as in ipfs_datasets_py / ipfs_accelerate_py."""

    CPU = "cpu"
    CUDA = "cuda"
    ROCM = "rocm"
    OPENVINO = "openvino"
    MPS = "mps"  # Apple Metal Performance Shaders
    WEBNN = "webnn"  # browser WebNN
    WEBGPU = "webgpu"  # browser WebGPU
    QUALCOMM = "qualcomm"  # Qualcomm QNN

    @property
    def platform_id(self) -> str:
        """The library's name for this platform."""
        return "qnn" if self is HardwareType.QUALCOMM else self.value

    @classmethod
    def from_any(cls, value) -> "HardwareType":
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            v = value.strip().lower().split(":")[0]
            for h in cls:
                if v in (h.value, h.platform_id, h.name.lower()):
                    return h
            raise InvalidInputError(f"unknown hardware type '{value}' (known: "
                                    + ", ".join(h.value for h in cls) + ")")
        raise TypeError(f"hardware type must be a HardwareType or str, not {type(value).__name__}")


EMBEDDING_TASKS = ("embedding", "embeddings", "feature-extraction", "sentence-embedding",
                   "text-embedding")


def check_task(task_type: Optional[str]) -> str:
    """'embedding' for the embedding task names; UnsupportedError otherwise."""
    t = "embedding" if task_type is None else task_type
    if not isinstance(t, str) or t.strip().lower() not in EMBEDDING_TASKS:
        raise UnsupportedError(f"task_type {task_type!r} is not supported by this build of "
                               "ipfs_accelerate (supported: 'embedding')")
    return "embedding"


def _usable_platforms() -> Dict[str, dict]:
    st = _status.get_accelerate_status()
    backends = st.get("backends")
    if isinstance(backends, dict):
        return backends
    if st.get("available") and backends is None:
        # A library without the hardware layer computes on its CPU backend only.
        return {"cpu": {"usable": True, "reason": "built-in CPU backend"}}
    return {}


def detect_available_hardware() -> List[HardwareType]:
    """Hardware this machine can compute on now with this build (CPU first).

    A type is listed when the library has a backend for it and its probe saw
    a device. Empty only when the library itself cannot be loaded.
    """
    usable = _usable_platforms()
    return [h for h in HardwareType if usable.get(h.platform_id, {}).get("usable")]


class ComputeBackend:
    """One hardware kind the library can compute on.

    ``options``: ``n_threads`` (worker threads, 0: all cores) and
    ``max_seq_length`` (truncation in tokens) for the models it loads.
    """

    def __init__(self, hardware_type: HardwareType = HardwareType.CPU, device_id: int = 0,
                 options: Optional[Dict[str, Any]] = None):
        self.hardware_type = HardwareType.from_any(hardware_type)
        if not isinstance(device_id, int) or device_id < 0:
            raise InvalidInputError(f"device_id must be an int >= 0, not {device_id!r}")
        self.device_id = device_id
        self.options = dict(options or {})
        self._initialized = False
        self._models: Dict[str, Model] = {}
        self._lock = threading.Lock()

    @property
    def device(self) -> str:
        """The library's device request for this backend ("cpu", "cuda:1")."""
        pid = self.hardware_type.platform_id
        return pid if self.device_id == 0 else f"{pid}:{self.device_id}"

    def unavailable_reason(self) -> Optional[str]:
        """None when usable, else why not (as the library's probe says)."""
        info = _usable_platforms().get(self.hardware_type.platform_id)
        if info is None:
            return f"{self.hardware_type.value}: the library reports no such platform"
        if info.get("usable"):
            return None
        return f"{self.hardware_type.value}: {info.get('reason') or info.get('state') or 'not usable'}"

    def is_available(self) -> bool:
        """True when this build can compute on this hardware on this machine."""
        return self.unavailable_reason() is None

    def initialize(self) -> bool:
        """Check the hardware is usable; True when it is."""
        self._initialized = self.is_available()
        return self._initialized

    def load_model(self, model_path, **kwargs) -> Model:
        """Load (once; later calls reuse it) an embedding model on this hardware.

        Raises BackendError when the hardware is not usable here, and the
        model loader's errors (ModelNotFoundError, FormatError, ...).
        """
        why = self.unavailable_reason()
        if why is not None:
            raise BackendError(f"cannot load '{model_path}' on {self.device}: {why}")
        key = str(model_path)
        with self._lock:
            m = self._models.get(key)
            if m is None or m.closed:
                opts = {**self.options, **kwargs}
                m = Model(model_path, device=self.device,
                          n_threads=int(opts.get("n_threads", 0)),
                          max_seq_length=opts.get("max_seq_length"))
                self._models[key] = m
            return m

    def run_inference(self, model, input_data, task_type: str = "embedding",
                      normalize: Optional[bool] = None, batch_size: int = 256, **kwargs):
        """Embeddings of input_data (a str: (dim,), a list of str: (n, dim)).

        ``model`` is a Model from load_model() or a model name/path.
        """
        check_task(task_type)
        if kwargs:
            raise InvalidInputError("unsupported inference options: " + ", ".join(sorted(kwargs)))
        if not isinstance(model, Model):
            model = self.load_model(model)
        single = isinstance(input_data, (str, bytes))
        out = model.embed_batches([input_data] if single else input_data, batch_size, normalize)
        return out[0] if single else out

    def cleanup(self):
        """Free the models this backend loaded."""
        with self._lock:
            models, self._models = list(self._models.values()), {}
        for m in models:
            m.close()
        self._initialized = False

    def __repr__(self):
        return f"ComputeBackend({self.hardware_type}, device_id={self.device_id})"


def get_compute_backend(hardware_type=None, device_id: int = 0, **options) -> ComputeBackend:
    """A compute backend: the given hardware, or (None) the best usable one.

    With no hardware_type the library's own selection decides ("auto":
    cuda > rocm > mps > openvino > ... > cpu, CPU when
    IPFS_ACCELERATE_ENABLED=0).
    """
    if hardware_type is None:
        hw = HardwareType.CPU
        try:
            sel = _status.select_backend("auto")
            if sel.get("backend"):
                hw = HardwareType.from_any(sel["backend"])
        except InvalidInputError:
            pass
        hardware_type = hw
    backend = ComputeBackend(hardware_type, device_id, options)
    backend.initialize()
    return backend
