"""DistributedComputeCoordinator: embedding tasks for a cluster of workers.

The seed's API over the library's cluster client (include/ipfs_accelerate/
cluster.h, docs/distributed.md): tasks go to the NATS JetStream work queue
that ``ipfs-accelerate worker`` processes pull from, and results come back
from the result stream, exactly as ``ipfs-accelerate embed --cluster``
does. Nothing of the protocol is in Python::

    coord = DistributedComputeCoordinator("nats://127.0.0.1:4222")
    coord.submit_task("t1", "all-MiniLM-L6-v2", ["first text", "second"])
    vectors = coord.get_task_result("t1", timeout=60)   # (2, 384) float32
    coord.get_stats()

A task is one batch: its texts are embedded by one library call on one
worker, so its vectors equal a local ``Model.embed`` of the same list with
the workers' thread count (``worker --threads``), bit for bit.
"""

from __future__ import annotations

import ctypes
import json
import threading
from typing import Any, Dict, Optional

from . import _lib
from .errors import Error, InvalidInputError, UnsupportedError
from .model import _as_bytes, _as_list, _np

_EMBEDDING_TASKS = ("embedding", "embeddings", "feature-extraction", "sentence-similarity")


class DistributedComputeCoordinator:
    """Submits embedding tasks to the workers of a NATS JetStream cluster
    and collects their results.

    ``nats_url``: ``nats://HOST:PORT`` (several: comma-separated). The
    connection is made here (up to 10 s; a failure raises :class:`Error`
    naming the URL) and the cluster's streams are created if missing, the
    task queue bounded to ``max_queue`` tasks (0: 100,000) when this
    connection creates it. Credentials, as the server asks: ``user`` and
    ``password``, or ``token``, or ``creds_file`` (a .creds file); TLS:
    ``tls_ca`` (the PEM CA of the server's certificate; turns TLS on),
    ``tls_cert`` and ``tls_key`` (this client's, when the server verifies
    clients). Refused credentials raise :class:`Error` saying so.
    ``cache_bytes``: the results this process keeps in memory (0: 64 MiB,
    < 0: none), besides the cluster's result bucket; a task whose result
    either holds is not queued again (docs/distributed.md). ``cache_dir``:
    a folder for the disk tier between the two (None: none; 1 GiB, least
    recently used dropped). ``model_name`` may be ``ipfs://CID``: the task
    goes to the workers that hold that model, or to any worker, which
    fetches it from a peer's gateway. The
    methods may be called from several threads; ``close()`` only once none
    is running.
    """

    def __init__(self, nats_url: str = "nats://127.0.0.1:4222", client_name: str = "ipfs-accelerate python",
                 max_queue: int = 0, user: Optional[str] = None, password: Optional[str] = None,
                 token: Optional[str] = None, creds_file: Optional[str] = None, tls_ca: Optional[str] = None,
                 tls_cert: Optional[str] = None, tls_key: Optional[str] = None, cache_bytes: int = 0,
                 cache_dir: Optional[str] = None):
        if not isinstance(nats_url, str) or not nats_url:
            raise InvalidInputError(f"nats_url must be a non-empty str, not {nats_url!r}")
        self.nats_url = nats_url
        self._lib = _lib.load()
        opts = _lib.new(_lib.ClusterOptions)
        opts.client_name = client_name.encode("utf-8")
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 0:
            raise InvalidInputError(f"max_queue must be an int >= 0 (0: the default), not {max_queue!r}")
        opts.max_tasks = max_queue
        if isinstance(cache_bytes, bool) or not isinstance(cache_bytes, int):
            raise InvalidInputError(f"cache_bytes must be an int (0: 64 MiB, < 0: none), not {cache_bytes!r}")
        opts.cache_bytes = cache_bytes
        for field, value in (("user", user), ("password", password), ("token", token),
                             ("creds_file", creds_file), ("tls_ca", tls_ca), ("tls_cert", tls_cert),
                             ("tls_key", tls_key), ("cache_dir", cache_dir)):
            if value is not None:
                if not isinstance(value, str):
                    raise InvalidInputError(f"{field} must be a str or None, not {type(value).__name__}")
                setattr(opts, field, value.encode("utf-8"))
        handle = ctypes.c_void_p()
        _lib.check(self._lib.ia_cluster_connect(nats_url.encode("utf-8"), ctypes.byref(opts),
                                                ctypes.byref(handle)))
        self._handle = handle
        self._lock = threading.Condition()
        self._busy = 0
        self._tasks: Dict[str, Dict[str, Any]] = {}
        self._submitted = self._completed = self._failed = 0

    # -- the handle, kept alive while calls use it ---------------------------
    def _enter(self):
        with self._lock:
            if self._handle is None:
                raise Error("this DistributedComputeCoordinator is closed")
            self._busy += 1
            return self._handle

    def _leave(self):
        with self._lock:
            self._busy -= 1
            self._lock.notify_all()

    def close(self):
        """Disconnect (after the calls in progress return). Idempotent."""
        with self._lock:
            while self._busy:
                self._lock.wait()
            handle, self._handle = self._handle, None
        if handle is not None:
            self._lib.ia_cluster_free(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- the seed's API -----------------------------------------------------
    def submit_task(self, task_id: str, model_name: str, input_data, task_type: str = "embedding",
                    priority: int = 0, dimensions: int = 0, prompt_name: Optional[str] = None,
                    queue_wait: Optional[float] = 0) -> str:
        """Queue input_data (a str or a list of str) for the workers of
        model_name and return task_id.

        model_name: a model name or folder; workers meet on its last path
        component (``worker --model ~/models/all-MiniLM-L6-v2`` takes
        ``sentence-transformers/all-MiniLM-L6-v2``). Returns once the
        server has stored the task (or at once when the same input's result
        is stored already: it is not computed twice). task_id is the
        caller's name for it and must be new to this coordinator.
        ``priority``: 0 (default) to 2; workers take the highest level's
        tasks first. The task queue is bounded: when it is full the call
        waits up to ``queue_wait`` seconds for room (None: for ever; 0, the
        default: not at all) and then raises :class:`QueueFullError` (an
        HTTP front-end's 429). ``dimensions`` and ``prompt_name`` are as for
        ``Model.embed``.
        """
        if not isinstance(task_id, str) or not task_id:
            raise InvalidInputError(f"task_id must be a non-empty str, not {task_id!r}")
        if task_type not in _EMBEDDING_TASKS:
            raise UnsupportedError(f"task_type '{task_type}': the workers embed only ("
                                   + ", ".join(_EMBEDDING_TASKS) + ")")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise InvalidInputError(f"priority must be an int, not {priority!r}")
        if not 0 <= priority < _lib.IA_CLUSTER_PRIORITIES:
            raise InvalidInputError(f"priority {priority}: the levels are 0 (default) to "
                                    f"{_lib.IA_CLUSTER_PRIORITIES - 1} (taken first)")
        if queue_wait is not None and (isinstance(queue_wait, bool) or not isinstance(queue_wait, (int, float))
                                       or queue_wait < 0):
            raise InvalidInputError(f"queue_wait must be seconds >= 0 or None, not {queue_wait!r}")
        if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 0:
            raise InvalidInputError(f"dimensions must be an int >= 0 (0: all), not {dimensions!r}")
        if input_data is None:
            raise InvalidInputError("input_data is None: give a str or a list of str")
        single = isinstance(input_data, (str, bytes))
        data = _as_bytes([input_data] if single else _as_list(input_data))
        with self._lock:
            if task_id in self._tasks:
                raise InvalidInputError(f"task_id '{task_id}' was submitted already")
        opts = _lib.new(_lib.ClusterSubmitOptions)
        opts.dimensions = dimensions
        opts.priority = priority
        opts.wait_s = -1.0 if queue_wait is None else float(queue_wait)
        if prompt_name is not None:
            opts.prompt_name = prompt_name.encode("utf-8")
        n = len(data)
        ptrs = (ctypes.c_char_p * max(n, 1))(*data)
        lens = (ctypes.c_size_t * max(n, 1))(*map(len, data))
        cid = ctypes.create_string_buffer(_lib.IA_CLUSTER_TASK_ID_LEN + 1)
        h = self._enter()
        try:
            _lib.check(self._lib.ia_cluster_submit(h, str(model_name).encode("utf-8"), ptrs, lens, n,
                                                   ctypes.byref(opts), cid))
        finally:
            self._leave()
        with self._lock:
            if task_id in self._tasks:  # a racing submit of the same name
                raise InvalidInputError(f"task_id '{task_id}' was submitted already")
            self._tasks[task_id] = {"id": cid.value.decode(), "single": single, "n": n,
                                    "state": "pending", "result": None, "error": None}
            self._submitted += 1
        return task_id

    def get_task_result(self, task_id: str, timeout: Optional[float] = None):
        """The task's embeddings: a float32 array (dim,) for a str input,
        (n, dim) for a list (lists of floats without numpy).

        Waits up to ``timeout`` seconds (None: for ever; 0: only looks) and
        raises :class:`TimedOutError` (a ``TimeoutError``) when the result
        has not come by then; the task stays queued and can be asked for
        again. A task that failed on every delivery (it is in the dead
        letters) raises :class:`BackendError` with the worker's error, and
        an unknown task_id :class:`InvalidInputError`. A result once
        received is kept and returned again.
        """
        with self._lock:
            t = self._tasks.get(task_id)
            if t is None:
                raise InvalidInputError(f"unknown task_id '{task_id}': submit_task it first")
            if t["state"] == "completed":
                return t["result"]
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
            raise InvalidInputError(f"timeout must be a number of seconds >= 0 or None, not {timeout!r}")
        vecs, n, dim = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_int()
        h = self._enter()
        try:
            st = self._lib.ia_cluster_result(h, t["id"].encode(), -1.0 if timeout is None else float(timeout),
                                             ctypes.byref(vecs), ctypes.byref(n), ctypes.byref(dim))
            try:
                if st == -9:  # IA_ERR_BACKEND: in the dead letters, for good
                    with self._lock:
                        if t["state"] != "failed":
                            t["state"] = "failed"
                            self._failed += 1
                _lib.check(st)
                rows = _rows(vecs, n.value, dim.value)
            finally:
                if vecs.value:
                    self._lib.ia_free(vecs)
        finally:
            self._leave()
        result = rows[0] if t["single"] and rows is not None and len(rows) else rows
        with self._lock:
            if t["state"] != "completed":
                t["state"], t["result"] = "completed", result
                self._completed += 1
        return result

    def get_stats(self) -> Dict[str, Any]:
        """This coordinator's counts and the cluster's state: submitted,
        completed, failed, pending (submitted, neither completed nor failed
        as far as get_task_result has seen), workers (live adverts: name,
        model, threads, tasks done ...), workers_seen, queue_depth (tasks
        waiting or in flight on the server, all submitters), in_flight
        (delivered, not yet acknowledged), queue_by_priority (waiting at
        each level), queue_bound (the queue's bound in tasks),
        results_stored, dead_letters."""
        h = self._enter()
        try:
            out = ctypes.c_void_p()
            _lib.check(self._lib.ia_cluster_status_json(h, ctypes.byref(out)))
            status = json.loads(_lib.take_string(out))
        finally:
            self._leave()
        with self._lock:
            submitted, completed, failed = self._submitted, self._completed, self._failed
        q = status.get("queue", {})
        return {"submitted": submitted, "completed": completed, "failed": failed,
                "pending": submitted - completed - failed,
                "workers": status.get("workers", []), "workers_seen": len(status.get("workers", [])),
                "queue_depth": int(q.get("tasks", 0)), "in_flight": int(q.get("in_flight", 0)),
                "queue_by_priority": [int(x) for x in q.get("by_priority", [])],
                "queue_bound": int(q.get("max_tasks", 0)),
                "oldest_task_age_s": q.get("oldest_age_s", 0),
                "results_stored": int(status.get("results", 0)),
                "dead_letters": int(status.get("dead_letters", 0)),
                "nats_url": self.nats_url}


def _rows(vecs: ctypes.c_void_p, n: int, dim: int):
    """A copy of the library's n x dim float32 block."""
    if _np is not None:
        if n == 0:
            return _np.empty((0, dim), dtype=_np.float32)
        return _np.frombuffer(ctypes.string_at(vecs.value, n * dim * 4), dtype=_np.float32).reshape(n, dim).copy()
    flat = list((ctypes.c_float * (n * dim)).from_address(vecs.value)) if n else []
    return [flat[i * dim:(i + 1) * dim] for i in range(n)]
