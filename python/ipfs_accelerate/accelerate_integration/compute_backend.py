"""Hardware types and compute backends (the ipfs_datasets_py API, for real).

``ComputeBackend`` is a handle on one kind of hardware. ``is_available()``
asks the library whether a backend for it is built and its probe saw a
device; ``load_model()`` loads a :class:`~ipfs_accelerate.Model` on it and
``run_inference()`` computes embeddings (or generates text) with it. Nothing here returns a
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
GENERATION_TASKS = ("text-generation", "text_generation", "generation")


def check_task(task_type: Optional[str]) -> str:
    """'embedding' or 'text-generation' for those tasks' names; UnsupportedError otherwise."""
    t = "embedding" if task_type is None else task_type
    name = t.strip().lower() if isinstance(t, str) else None
    if name in EMBEDDING_TASKS:
        return "embedding"
    if name in GENERATION_TASKS:
        return "text-generation"
    raise UnsupportedError(f"task_type {task_type!r} is not supported by this build of "
                           "ipfs_accelerate (supported: 'embedding', 'text-generation')")


def check_model_task(model: Model, task: str):
    """UnsupportedError when the loaded model cannot do task."""
    if model.task != task:
        kind = "an embedding model" if model.task == "embedding" else "a text-generation model"
        hint = " (text generation needs a decoder: a GGUF file)" if task == "text-generation" else ""
        raise UnsupportedError(f"task_type '{task}': '{model.name}' is {kind}{hint}")


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
        """Embeddings of input_data (a str: (dim,), a list of str: (n, dim)),
        or with task_type="text-generation" the generated text (a str for a
        str prompt, a list for a list of prompts, the answer for a list of
        chat messages; keyword options go to Model.generate / Model.chat).

        ``model`` is a Model from load_model() or a model name/path.
        """
        task = check_task(task_type)
        if task == "text-generation":
            if not isinstance(model, Model):
                model = self.load_model(model)
            check_model_task(model, task)
            return generate_for(model, input_data, kwargs)
        if kwargs:
            raise InvalidInputError("unsupported inference options: " + ", ".join(sorted(kwargs)))
        if not isinstance(model, Model):
            model = self.load_model(model)
        check_model_task(model, task)
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


GENERATION_OPTIONS = ("max_tokens", "temperature", "top_p", "top_k", "min_p", "repetition_penalty",
                      "presence_penalty", "frequency_penalty", "seed", "stop", "ignore_eos",
                      "logprobs", "tools")


def generate_for(model: Model, input_data, options: Dict[str, Any]):
    """Generated text for input_data: a prompt (str), chat messages (a list
    of dicts), or a list of prompts (a list of texts back)."""
    bad = sorted(k for k in options if k not in GENERATION_OPTIONS)
    if bad:
        raise InvalidInputError("unsupported text-generation options: " + ", ".join(bad)
                                + " (supported: " + ", ".join(GENERATION_OPTIONS) + ")")
    if input_data is None:
        raise InvalidInputError("input_data is None: give a prompt (str), a list of prompts, or "
                                "chat messages (a list of {'role', 'content'} dicts)")
    if isinstance(input_data, str):
        if "tools" in options:
            raise InvalidInputError("tools need chat messages, not a prompt")
        return model.generate(input_data, **options)
    if not isinstance(input_data, (list, tuple)):
        raise InvalidInputError(f"input_data must be a str, a list of str or a list of messages, "
                                f"not {type(input_data).__name__}")
    if input_data and all(isinstance(m, dict) for m in input_data):
        return model.chat(list(input_data), **options)
    if all(isinstance(p, str) for p in input_data):
        if "tools" in options:
            raise InvalidInputError("tools need chat messages, not prompts")
        return [model.generate(p, **options) for p in input_data]
    raise InvalidInputError("input_data must be a str, a list of str or a list of messages "
                            "({'role', 'content'} dicts), not a mix")


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
