"""AccelerateManager: the ipfs_datasets_py entry point, computing for real.

``run_inference(model_name, input_data, task_type="embedding")`` loads the
model once (per model and backend), embeds the input with the library and
returns ``{"status": "success", "backend", "device", "model",
"embeddings", ...}``; ``task_type="text-generation"`` (a GGUF decoder)
returns ``{..., "generated_text", "finish_reason", "usage"}`` instead. The backend is chosen by the library
(``hardware=None``: its "auto" selection) or by ``hardware``; a hardware
that cannot be used here falls back to the CPU, and the result says so
(``fallback``, ``fallback_reason``). With ``IPFS_ACCELERATE_ENABLED=0`` the
plain local CPU path computes and ``accelerate_enabled`` is False.
Failures raise exceptions (unknown model, bad input, unsupported task); a
result is never made up.

``AccelerateManager(enable_distributed=True, nats_url=...)`` sends
embedding work to the workers of a NATS JetStream cluster through a
DistributedComputeCoordinator instead of computing here.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from typing import Any, Dict, List, Optional

from .. import _lib
from .. import status as _status
from ..distributed import DistributedComputeCoordinator
from ..errors import Error, InvalidInputError, UnsupportedError
from ..model import Model, have_numpy
from .compute_backend import (HardwareType, check_model_task, check_task, detect_available_hardware,
                              generate_for)

ACCELERATE_AVAILABLE = True  # this package *is* the accelerate backend
ACCELERATE_IMPORT_ERROR = None


class AccelerateManager:
    """Runs inference through libipfs_accelerate.

    ``resources``: optional settings: ``n_threads`` (0: all cores),
    ``max_seq_length``, ``batch_size`` (texts per library call, 256),
    ``device`` (default hardware request, "auto"). ``ipfs_gateway`` is kept
    for ``ipfs://`` models (used once the content layer is in the build).

    ``enable_distributed=True``: embeddings are computed by the workers of
    the NATS JetStream cluster at ``nats_url`` (or ``resources["nats_url"]``,
    or ``$IPFS_ACCELERATE_NATS_URL``), in tasks of ``batch_size`` texts,
    each waited for up to ``resources["task_timeout"]`` seconds (default
    600; :class:`TimedOutError` after). ``self.coordinator`` is the
    DistributedComputeCoordinator. Text generation stays local.
    """

    def __init__(self, resources: Optional[Dict[str, Any]] = None,
                 ipfs_gateway: Optional[str] = None, enable_distributed: bool = False,
                 nats_url: Optional[str] = None):
        if resources is not None and not isinstance(resources, dict):
            raise TypeError(f"resources must be a dict, not {type(resources).__name__}")
        self.resources = dict(resources or {})
        self.ipfs_gateway = ipfs_gateway
        self.enable_distributed = bool(enable_distributed)
        self.coordinator: Optional[DistributedComputeCoordinator] = None
        self._task_seq = itertools.count()
        if enable_distributed:
            url = nats_url or self.resources.get("nats_url") or os.environ.get("IPFS_ACCELERATE_NATS_URL")
            if not url:
                raise InvalidInputError("enable_distributed=True needs the cluster's address: nats_url="
                                        "'nats://HOST:4222' (or resources['nats_url'], $IPFS_ACCELERATE_NATS_URL)")
            self.coordinator = DistributedComputeCoordinator(url)
        self._models: Dict[tuple, Model] = {}
        self._lock = threading.Lock()
        self._lib, self._load_error = _lib.try_load()
        self.accelerate_core = self._lib  # name kept from ipfs_datasets_py
        self._calls = 0

    # -- availability -------------------------------------------------------
    def is_available(self) -> bool:
        """True when the library is loaded (it can compute)."""
        return self._lib is not None

    def get_available_hardware(self) -> List[str]:
        return [h.value for h in detect_available_hardware()]

    def get_status(self) -> Dict[str, Any]:
        st = _status.get_accelerate_status()
        with self._lock:
            loaded = [{"model": k[0], "device": k[1], "backend": m.backend, "dim": m.dim,
                       "task": m.task}
                      for k, m in self._models.items() if not m.closed]
        return {
            "accelerate_available": bool(st.get("available")),
            "accelerate_enabled": bool(st.get("enabled")),
            "accelerate_initialized": self._lib is not None,
            "import_error": self._load_error,
            "distributed_enabled": self.enable_distributed,
            "nats_url": self.coordinator.nats_url if self.coordinator else None,
            "ipfs_gateway": self.ipfs_gateway,
            "available_hardware": self.get_available_hardware(),
            "selected": st.get("selected"),
            "version": st.get("version"),
            "library": st.get("library"),
            "loaded_models": loaded,
            "inference_calls": self._calls,
        }

    def health_check(self) -> Dict[str, Any]:
        """Probe the library and every loaded model with a real embedding."""
        checks: Dict[str, Any] = {}
        errors: List[str] = []
        lib, err = _lib.try_load()
        checks["library"] = lib is not None
        if err:
            errors.append(err)
        if lib is not None:
            try:
                checks["hardware"] = self.get_available_hardware()
            except Exception as e:  # report, do not hide
                errors.append(f"hardware detection: {e}")
        with self._lock:
            models = dict(self._models)
        for (name, device), m in models.items():
            key = f"model:{name}@{device}"
            try:
                t0 = time.perf_counter()
                if m.task == "text-generation":
                    text = m.generate("health check", max_tokens=1)
                    ok = text.completion_tokens == 1 or text.finish_reason == "stop"
                else:
                    row = m.embed(["health check"])[0]
                    ok = len(row) == m.dim and all(math.isfinite(float(x)) for x in row)
                checks[key] = {"ok": ok, "ms": round((time.perf_counter() - t0) * 1e3, 3)}
                if not ok:
                    errors.append(f"{key}: " + ("no token generated" if m.task == "text-generation"
                                                else "non-finite or wrong-sized embedding"))
            except Exception as e:
                checks[key] = {"ok": False}
                errors.append(f"{key}: {e}")
        healthy = lib is not None and not errors
        return {"status": "healthy" if healthy else "unhealthy", "healthy": healthy,
                "checks": checks, "errors": errors,
                "version": _status.library_version()}

    # -- inference ----------------------------------------------------------
    def _model(self, model_name, device: str, task: str = "embedding") -> Model:
        key = (str(model_name), device)
        with self._lock:
            m = self._models.get(key)
            if m is not None and not m.closed:
                return m
        r = self.resources
        # the kind of model comes from its files; max_seq_length is an embedding option
        m = Model(model_name, device=device, n_threads=int(r.get("n_threads", 0)),
                  max_seq_length=r.get("max_seq_length") if task == "embedding" else None)
        with self._lock:
            old = self._models.get(key)
            if old is not None and not old.closed:
                m.close()
                return old
            self._models[key] = m
        return m

    def run_inference(self, model_name: str, input_data: Any, task_type: str = "embedding",
                      hardware=None, **kwargs) -> Dict[str, Any]:
        """Embed input_data (a str or a list of str) with model_name.

        ``hardware``: None (the library's choice), a HardwareType or a
        device string ("cpu", "cuda", "cuda:1"). Keyword options:
        ``normalize`` (None: as the model says; True; False) and
        ``batch_size``. Returns {"status": "success", "backend", "device",
        "device_name", "model", "model_path", "task_type", "embeddings",
        "dim", "precision", "accelerate_enabled", "fallback",
        "fallback_reason", "n_tokens", "elapsed_ms"}; embeddings are a
        float32 array (dim,) for a str and (n, dim) for a list (lists of
        floats without numpy).

        ``task_type="text-generation"`` (model_name a GGUF decoder):
        input_data is a prompt (str), a list of prompts, or chat messages
        (a list of {"role", "content"} dicts: the assistant's answer);
        keyword options go to Model.generate / Model.chat (max_tokens,
        temperature, top_p, top_k, min_p, the penalties, seed, stop,
        ignore_eos, logprobs; tools for chat). Returns the same keys with
        "generated_text" (a str, or a list for a list of prompts),
        "finish_reason" (likewise) and "usage" (summed token counts) in
        place of the embedding ones.
        """
        task = check_task(task_type)
        if task == "text-generation":
            return self._generate(model_name, input_data, hardware, kwargs)
        normalize = kwargs.pop("normalize", None)
        batch_size = kwargs.pop("batch_size", self.resources.get("batch_size", 256))
        if kwargs:
            raise InvalidInputError("unsupported run_inference options: " + ", ".join(sorted(kwargs)))
        if self._lib is None:
            raise Error(self._load_error or "libipfs_accelerate is not loaded")
        if input_data is None:
            raise InvalidInputError("input_data is None: give a str or a list of str")
        single = isinstance(input_data, (str, bytes))
        texts = [input_data] if single else input_data
        if self.coordinator is not None:
            if normalize is not None or hardware is not None:
                raise InvalidInputError("with enable_distributed=True the workers choose the device and the "
                                        "model's normalization: do not pass hardware or normalize")
            return self._run_distributed(model_name, texts, single, task, batch_size)
        request = self._request(hardware)
        t0 = time.perf_counter()
        m = self._model(model_name, request)
        check_model_task(m, task)
        sel = m.selection
        counts: Dict[str, int] = {}
        emb = m.embed_batches(texts, batch_size, normalize, stats=counts)
        elapsed = (time.perf_counter() - t0) * 1e3
        self._calls += 1
        enabled = _status.is_accelerate_available()
        return {
            "status": "success",
            "backend": m.backend,
            "device": sel.get("device") if sel.get("backend") else m.backend,
            "device_name": sel.get("device_name"),
            "model": model_name,
            "model_path": m.path,
            "task_type": task,
            "embeddings": emb[0] if single else emb,
            "dim": m.dim,
            "precision": m.info.get("precision"),
            "accelerate_enabled": enabled,
            "requested_hardware": request,
            "fallback": bool(sel.get("fallback")),
            "fallback_reason": sel.get("reason") if sel.get("fallback") else None,
            "selection_reason": sel.get("reason"),
            "n_tokens": counts.get("n_tokens", 0),
            "n_truncated_texts": counts.get("n_truncated_texts", 0),
            "elapsed_ms": round(elapsed, 3),
            "numpy": have_numpy(),
        }

    def _run_distributed(self, model_name, texts, single, task, batch_size) -> Dict[str, Any]:
        """One task per batch_size texts, queued at once, then collected in
        order: the same batches as a local run, so the same vectors."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be an int >= 1, not {batch_size!r}")
        texts = list(texts)
        timeout = float(self.resources.get("task_timeout", 600))
        t0 = time.perf_counter()
        ids = []
        for k in range(0, max(len(texts), 1), batch_size):
            tid = f"run_inference-{os.getpid()}-{next(self._task_seq)}"
            ids.append(self.coordinator.submit_task(tid, model_name, texts[k:k + batch_size], task))
        parts = [self.coordinator.get_task_result(tid, timeout) for tid in ids]
        if have_numpy():
            import numpy as np
            emb = np.concatenate(parts) if parts else parts
        else:
            emb = [row for p in parts for row in p]
        self._calls += 1
        dim = len(emb[0]) if len(emb) else 0
        return {
            "status": "success",
            "backend": "cluster",
            "device": "cluster",
            "device_name": None,
            "model": model_name,
            "model_path": None,
            "task_type": task,
            "embeddings": emb[0] if single else emb,
            "dim": dim,
            "precision": None,
            "accelerate_enabled": _status.is_accelerate_available(),
            "requested_hardware": None,
            "fallback": False,
            "fallback_reason": None,
            "selection_reason": "enable_distributed=True: computed by the cluster's workers at "
                                + self.coordinator.nats_url,
            "n_tokens": None,
            "n_truncated_texts": None,
            "elapsed_ms": round((time.perf_counter() - t0) * 1e3, 3),
            "numpy": have_numpy(),
            "distributed": True,
            "tasks": len(ids),
        }

    def _request(self, hardware) -> str:
        """The library's device request for run_inference's hardware argument."""
        if isinstance(hardware, HardwareType):
            return hardware.platform_id
        if hardware is None:
            return self.resources.get("device", "auto")
        if isinstance(hardware, str):
            request = hardware.strip().lower()
            if request.split(":")[0] == "qualcomm":
                request = request.replace("qualcomm", "qnn", 1)
            return request
        raise TypeError(f"hardware must be a HardwareType or str, not {type(hardware).__name__}")

    def _generate(self, model_name, input_data, hardware, options) -> Dict[str, Any]:
        if self._lib is None:
            raise Error(self._load_error or "libipfs_accelerate is not loaded")
        request = self._request(hardware)
        t0 = time.perf_counter()
        m = self._model(model_name, request, "text-generation")
        check_model_task(m, "text-generation")
        out = generate_for(m, input_data, options)
        elapsed = (time.perf_counter() - t0) * 1e3
        self._calls += 1
        texts = out if isinstance(out, list) else [out]
        usage = {"prompt_tokens": sum(t.prompt_tokens for t in texts),
                 "completion_tokens": sum(t.completion_tokens for t in texts),
                 "cached_tokens": sum(t.cached_tokens for t in texts)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        sel = m.selection
        return {
            "status": "success",
            "backend": m.backend,
            "device": sel.get("device") if sel.get("backend") else m.backend,
            "device_name": sel.get("device_name"),
            "model": model_name,
            "model_path": m.path,
            "task_type": "text-generation",
            "generated_text": [str(t) for t in out] if isinstance(out, list) else str(out),
            "finish_reason": ([t.finish_reason for t in out] if isinstance(out, list)
                              else out.finish_reason),
            "usage": usage,
            "accelerate_enabled": _status.is_accelerate_available(),
            "requested_hardware": request,
            "fallback": bool(sel.get("fallback")),
            "fallback_reason": sel.get("reason") if sel.get("fallback") else None,
            "selection_reason": sel.get("reason"),
            "elapsed_ms": round(elapsed, 3),
        }

    def close(self):
        """Free every model this manager loaded."""
        with self._lock:
            models, self._models = list(self._models.values()), {}
        for m in models:
            m.close()
        if self.coordinator is not None:
            self.coordinator.close()

    cleanup = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
