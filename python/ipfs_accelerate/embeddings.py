"""Embedding helpers with the ipfs_datasets_py names.

* :func:`create_embeddings` - texts in, embeddings out, one cached model per
  (model, device).
* :class:`MultiModelEmbeddingGenerator` - several models over chunked
  documents: ``generate_embeddings(text, model_names=None, chunk_size=512,
  overlap=50, batch_size=8, normalize=True)`` returns ``{model_name:
  [vectors]}`` (one vector per chunk; a list of texts gives one list of
  chunk vectors per text), as ipfs_datasets_py does.
* :func:`chunk_text` - the chunker: ``chunk_size`` is measured in characters
  and ``overlap`` in words (ipfs_datasets_py's units). Chunks are slices of
  the original text cut at whitespace; a word longer than chunk_size is cut
  into chunk_size pieces.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Dict, List, Optional, Union

from . import status as _status
from .errors import InvalidInputError
from .model import DEFAULT_MODEL, Model, _np

_WORD = re.compile(r"\S+")

_cache: Dict[tuple, Model] = {}
_cache_lock = threading.Lock()


def _cached_model(name, device) -> Model:
    key = (str(name), device)
    with _cache_lock:
        m = _cache.get(key)
        if m is None or m.closed:
            m = _cache[key] = Model(name, device=device)
        return m


def clear_model_cache():
    """Free the models create_embeddings() keeps loaded."""
    with _cache_lock:
        models = list(_cache.values())
        _cache.clear()
    for m in models:
        m.close()


def create_embeddings(texts: Union[str, List[str]], model_name: str = DEFAULT_MODEL,
                      use_accelerate: bool = True, batch_size: int = 256,
                      normalize: Optional[bool] = None):
    """Embeddings of texts: a float32 array (n, dim), or (dim,) for one str.

    ``use_accelerate=True`` lets the library pick the best usable backend
    (unless IPFS_ACCELERATE_ENABLED=0); False computes on the plain CPU.
    The model is loaded once and kept (see clear_model_cache()).
    """
    device = "auto" if use_accelerate and _status.is_accelerate_available() else "cpu"
    m = _cached_model(model_name, device)
    single = isinstance(texts, (str, bytes))
    out = m.embed_batches([texts] if single else texts, batch_size, normalize)
    return out[0] if single else out


def chunk_text(text: str, chunk_size: int = 512, overlap: int = 50) -> List[str]:
    """Cut text into chunks of at most chunk_size characters, cut at
    whitespace, each starting `overlap` words before the previous one ended.
    Empty or blank text gives one empty chunk (so every text gets a vector).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidInputError(f"chunk_size must be a positive int, not {chunk_size!r}")
    if not isinstance(overlap, int) or overlap < 0:
        raise InvalidInputError(f"overlap must be an int >= 0, not {overlap!r}")
    words = []  # (start, end) of each word, long words cut into pieces
    for w in _WORD.finditer(text):
        for s in range(w.start(), w.end(), chunk_size):
            words.append((s, min(s + chunk_size, w.end())))
    if not words:
        return [""]
    chunks, i = [], 0
    while i < len(words):
        j = i + 1  # words[i:j] is the chunk
        while j < len(words) and words[j][1] - words[i][0] <= chunk_size:
            j += 1
        chunks.append(text[words[i][0]:words[j - 1][1]])
        if j == len(words):
            break
        i = max(i + 1, j - overlap)
    return chunks


class MultiModelEmbeddingGenerator:
    """Embeddings of chunked texts from several models.

    ``model_configs``: a list of model names or of dicts ``{"name": ...,
    "dimension": ..., "type": ...}`` (default: all-MiniLM-L6-v2). Every model
    is loaded now; a model that cannot be loaded raises, and a configured
    "dimension" that differs from the model's raises. ``device``: "cpu",
    "auto", "cuda", ... ``cache_dir``: the Hugging Face hub cache to look in.
    ``enable_model_fusion``: add a "fused" entry, the concatenation of the
    models' L2-normalized chunk vectors, normalized again.
    """

    def __init__(self, model_configs: Optional[List[Union[str, Dict[str, Any]]]] = None,
                 device: str = "cpu", cache_dir: Optional[str] = None,
                 enable_model_fusion: bool = False, n_threads: int = 0):
        configs = model_configs if model_configs is not None else [
            {"name": DEFAULT_MODEL, "dimension": 384, "type": "sentence"}]
        self.model_configs = [c if isinstance(c, dict) else {"name": c} for c in configs]
        self.device = device
        self.cache_dir = cache_dir
        self.enable_model_fusion = enable_model_fusion
        self.models: Dict[str, Model] = {}
        self.stats = {"models_loaded": 0, "embedding_requests": 0, "total_chunks_processed": 0,
                      "average_embedding_time": 0.0, "total_embedding_time": 0.0,
                      "embedding_errors": 0}
        try:
            for c in self.model_configs:
                if "name" not in c:
                    raise InvalidInputError(f"model config {c!r} has no 'name'")
                m = Model(c["name"], device=device, n_threads=n_threads, cache_dir=cache_dir)
                dim = c.get("dimension")
                if dim is not None and dim != m.dim:
                    m.close()
                    raise InvalidInputError(f"model '{c['name']}' has dimension {m.dim}, "
                                            f"but its config says {dim}")
                self.models[c["name"]] = m
                self.stats["models_loaded"] += 1
        except BaseException:
            self.close()
            raise

    def close(self):
        for m in self.models.values():
            m.close()
        self.models = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def get_model_dimensions(self) -> Dict[str, int]:
        return {name: m.dim for name, m in self.models.items()}

    def get_stats(self) -> Dict[str, Any]:
        return dict(self.stats, models=list(self.models))

    def _chunk_text(self, text: str, chunk_size: int, overlap: int) -> List[str]:
        return chunk_text(text, chunk_size, overlap)

    def generate_embeddings(self, text: Union[str, List[str]],
                            model_names: Optional[List[str]] = None, chunk_size: int = 512,
                            overlap: int = 50, batch_size: int = 8,
                            normalize: bool = True) -> Dict[str, list]:
        """{model_name: [chunk vectors]} for a str; {model_name: [[chunk
        vectors] per text]} for a list of texts. ``normalize``: L2-normalize
        (True) or the raw mean/CLS-pooled vectors (False).
        """
        t0 = time.perf_counter()
        self.stats["embedding_requests"] += 1
        single = isinstance(text, str)
        texts = [text] if single else list(text)
        names = list(self.models) if model_names is None else list(model_names)
        unknown = [n for n in names if n not in self.models]
        if unknown:
            self.stats["embedding_errors"] += 1
            raise InvalidInputError(f"model(s) {unknown} are not loaded in this generator "
                                    f"(loaded: {list(self.models)})")
        per_text = [self._chunk_text(t, chunk_size, overlap) for t in texts]
        chunks = [c for cs in per_text for c in cs]
        self.stats["total_chunks_processed"] += len(chunks)
        result: Dict[str, list] = {}
        for name in names:
            vecs = self.models[name].embed_batches(chunks, batch_size, bool(normalize))
            result[name] = list(vecs)
        if self.enable_model_fusion and len(names) > 1:
            result["fused"] = [self._fuse([result[n][i] for n in names]) for i in range(len(chunks))]
        if not single:
            for key, vecs in result.items():
                split, k = [], 0
                for cs in per_text:
                    split.append(vecs[k:k + len(cs)])
                    k += len(cs)
                result[key] = split
        dt = time.perf_counter() - t0
        self.stats["total_embedding_time"] += dt
        self.stats["average_embedding_time"] = (self.stats["total_embedding_time"]
                                                / self.stats["embedding_requests"])
        return result

    @staticmethod
    def _fuse(vectors):
        def unit(v):
            n = sum(float(x) * float(x) for x in v) ** 0.5
            return [float(x) / n for x in v] if n > 0 else [float(x) for x in v]
        cat = [x for v in vectors for x in unit(v)]
        cat = unit(cat)
        return _np.asarray(cat, dtype=_np.float32) if _np is not None else cat
