"""Models: the sentence-transformers-like ``Model`` class.

``Model(path)`` loads an embedding model, or a text-generation model (a
decoder) when the path names one: a GGUF file, or a folder whose
config.json names a causal LM (see generate.detect_task; ``task=`` says it
explicitly). A text-generation model answers :meth:`Model.generate` and
:meth:`Model.chat` through a :class:`~ipfs_accelerate.generate.LanguageModel`
(``model.language_model``); the embedding methods raise for it, and the
generation methods raise for an embedding model.

An embedding :class:`Model` owns one ``ia_model`` handle of the C library, freed by
:meth:`Model.close`, by leaving a ``with`` block, or when the object is
garbage collected. A model is immutable and :meth:`Model.embed` /
:meth:`Model.encode` may be called from several Python threads at once:
the GIL is released while C computes (ctypes releases it around every
foreign call), and each call uses its own output memory.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
import threading
import time

from . import _lib, hub
from . import status as _status
from .errors import Error, InvalidInputError, UnsupportedError
from .generate import LanguageModel, detect_task

try:  # numpy is optional: without it embeddings come back as lists
    import numpy as _np
except ImportError:  # pragma: no cover - exercised by the no-numpy test
    _np = None

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"

EMBEDDING, TEXT_GENERATION = "embedding", "text-generation"
_TASKS = {"embedding": EMBEDDING, "embeddings": EMBEDDING, "feature-extraction": EMBEDDING,
          "sentence-embedding": EMBEDDING, "text-embedding": EMBEDDING,
          "text-generation": TEXT_GENERATION, "text_generation": TEXT_GENERATION,
          "generation": TEXT_GENERATION}


def task_name(task) -> str | None:
    """'embedding' or 'text-generation' for the names of those tasks; None for None."""
    if task is None:
        return None
    t = _TASKS.get(task.strip().lower()) if isinstance(task, str) else None
    if t is None:
        raise UnsupportedError(f"task {task!r} is not supported by this build of ipfs_accelerate "
                               "(supported: 'embedding', 'text-generation')")
    return t


def have_numpy() -> bool:
    return _np is not None


def _as_bytes(texts):
    """UTF-8 bytes of each text; clear errors for anything else."""
    out = []
    for i, t in enumerate(texts):
        if isinstance(t, str):
            # surrogatepass: lone surrogates become bytes the library
            # replaces by U+FFFD (and counts), never an exception here.
            out.append(t.encode("utf-8", "surrogatepass"))
        elif isinstance(t, (bytes, bytearray, memoryview)):
            out.append(bytes(t))
        else:
            raise TypeError(f"text {i} is a {type(t).__name__}, not a str")
    return out


def _as_list(texts):
    if isinstance(texts, (str, bytes)):
        raise TypeError("expected a list of texts, got a single text (use encode() for one text)")
    try:
        return list(texts)
    except TypeError:
        raise TypeError(f"texts must be a list of str, not {type(texts).__name__}") from None


class Model:
    """A loaded embedding model (BERT family, sentence-transformers folders).

    ``name_or_path`` is a model folder, a Hugging Face id found in the local
    Hugging Face cache, or ``ipfs://CID`` (see :mod:`ipfs_accelerate.hub`).
    ``device`` picks the backend ("auto", "cpu", "cuda", ...; an unusable
    one falls back to the CPU, recorded in ``selection``); ``n_threads`` the
    worker threads (0: one per core); ``max_seq_length`` overrides the
    model's truncation limit in tokens; ``precision`` asks for a compute
    precision ("fp32", "int8", "bf16"; None: the configured
    hardware.precision), and ``info["precision"]`` says which ran.

    A GGUF file (or a folder of a causal LM) loads a text-generation model
    instead: ``generate()`` and ``chat()`` (see
    :class:`~ipfs_accelerate.generate.LanguageModel`); ``task``
    ("embedding", "text-generation"; None: from the files) says which
    explicitly. ``max_seq_length``, ``precision`` other than "fp32" and
    ``pooling`` are embedding options only; ``pooling`` overrides the
    folder's (mean, cls, max, mean_sqrt_len_tokens, weightedmean,
    lasttoken, or "splade" for a *ForMaskedLM model: see embed_sparse).
    """

    def __init__(self, name_or_path=DEFAULT_MODEL, device: str | None = None,
                 n_threads: int = 0, max_seq_length: int | None = None,
                 revision: str | None = None, cache_dir: str | None = None,
                 precision: str | None = None, task: str | None = None, pooling: str | None = None):
        self._handle = None
        self._lm = None
        self._cv = threading.Condition()
        self._busy = 0
        self.name = str(name_or_path)
        if not isinstance(n_threads, int) or n_threads < 0:
            raise InvalidInputError(f"n_threads must be an int >= 0, not {n_threads!r}")
        if max_seq_length is not None and (not isinstance(max_seq_length, int) or max_seq_length < 1):
            raise InvalidInputError(f"max_seq_length must be a positive int, not {max_seq_length!r}")
        if device is not None and not isinstance(device, str):
            raise TypeError(f"device must be a str, not {type(device).__name__}")
        for name, v in (("precision", precision), ("pooling", pooling)):
            if v is not None and not isinstance(v, str):
                raise TypeError(f"{name} must be a str, not {type(v).__name__}")
        task = task_name(task)
        self.path = hub.resolve(name_or_path, revision, cache_dir, allow_file=task != EMBEDDING)
        self.task = task or detect_task(self.path)
        if self.task == TEXT_GENERATION:
            self._load_lm(device, n_threads, max_seq_length, precision)
            return
        lib = _lib.load()
        #: how the library chooses the backend for `device` (None: the
        #: configured hardware.device, "auto" by default): {"backend",
        #: "device", "device_name", "precision", "requested", "fallback",
        #: "reason"}; an unusable device falls back to the CPU
        self.selection = _status.select_backend(device)  # the loader decides the same way
        opts = _lib.new(_lib.ModelOptions)
        opts.n_threads = n_threads
        opts.device = device.encode() if device else None
        opts.max_seq_length = max_seq_length or 0
        opts.precision = precision.encode() if precision else None
        opts.pooling = pooling.encode() if pooling else None
        handle = ctypes.c_void_p()
        _lib.check(lib.ia_model_load(self.path.encode("utf-8"), ctypes.byref(opts), ctypes.byref(handle)))
        self._handle = handle
        self._lib = lib
        info = _lib.new(_lib.ModelInfo)
        lib.ia_model_get_info(handle, ctypes.byref(info))
        s = lambda b: b.decode("utf-8", "replace") if b else None  # noqa: E731
        self.info = {
            "name": self.name, "path": s(info.path), "architecture": s(info.architecture),
            "n_params": info.n_params, "dim": info.dim, "n_layers": info.n_layers,
            "n_heads": info.n_heads, "hidden_size": info.hidden_size,
            "intermediate_size": info.intermediate_size, "vocab_size": info.vocab_size,
            "max_position": info.max_position, "max_seq_length": info.max_seq_length,
            "activation": s(info.activation), "weights_dtype": s(info.weights_dtype),
            "pooling": s(info.pooling), "normalize": bool(info.normalize),
            "tokenizer": s(info.tokenizer), "backend": s(info.backend),
            "precision": s(info.precision), "device": s(info.device),
            "backend_reason": s(info.backend_reason),
        }
        self.dim = int(info.dim)
        #: token, truncation and invalid-UTF-8 counts, summed over all calls
        self.stats = {"n_tokens": 0, "n_truncated_texts": 0, "n_invalid_utf8": 0}
        self._stats_lock = threading.Lock()

    def _load_lm(self, device, n_threads, max_seq_length, precision):
        if max_seq_length is not None:
            raise InvalidInputError(f"max_seq_length is an embedding option; '{self.name}' is a "
                                    "text-generation model (limit its output with max_tokens)")
        if precision not in (None, "fp32"):
            raise InvalidInputError(f"precision '{precision}': text generation computes in fp32 "
                                    "(on the weights' own quantized types)")
        self.selection = _status.select_backend(device)
        self._lm = LanguageModel(self.path, device=device, n_threads=n_threads)
        self.info = dict(self._lm.info, name=self.name)
        self.dim = None
        self.stats = {"n_tokens": 0, "n_truncated_texts": 0, "n_invalid_utf8": 0}
        self._stats_lock = threading.Lock()

    # -- lifetime -----------------------------------------------------------
    def close(self):
        """Free the C model (waits for calls in flight). Idempotent."""
        if self._lm is not None:
            self._lm.close()
            return
        with self._cv:
            while self._busy:
                self._cv.wait()
            h, self._handle = self._handle, None
        if h is not None:
            self._lib.ia_model_free(h)

    def __del__(self):
        try:
            if getattr(self, "_handle", None) is not None:
                self._lib.ia_model_free(self._handle)
                self._handle = None
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def closed(self) -> bool:
        return self._lm.closed if self._lm is not None else self._handle is None

    # -- sentence-transformers-like surface ---------------------------------
    @property
    def max_seq_length(self) -> int:
        """Tokens per text (embedding), or the context length (text generation)."""
        return int(self.info["max_seq_length"] if self._lm is None else self.info["context_length"])

    @property
    def backend(self) -> str:
        return self.info["backend"]

    @property
    def device(self) -> str:
        return self.info["backend"]

    def get_sentence_embedding_dimension(self) -> int:
        return self.dim

    def __repr__(self):
        if self.closed:
            state = "closed"
        elif self._lm is not None:
            state = f"text-generation, {self.info['architecture']}, backend={self.backend}"
        else:
            state = f"dim={self.dim}, backend={self.backend}"
        return f"Model({self.name!r}, {state})"

    # -- text generation ----------------------------------------------------
    @property
    def language_model(self) -> LanguageModel:
        """The LanguageModel of a text-generation model (tokenize, sessions...)."""
        if self._lm is None:
            raise UnsupportedError(f"'{self.name}' is an embedding model ({self.info.get('architecture')}); "
                                   "text generation needs a decoder: a GGUF file such as "
                                   "SmolLM2-135M-Instruct.Q4_1.gguf")
        return self._lm

    def generate(self, prompt, **options):
        """Continue prompt (text, or a list of token ids); see
        LanguageModel.generate for the options (max_tokens=128,
        temperature=0 (greedy), top_p, top_k, min_p,
        repetition/presence/frequency penalties, seed, stop, logprobs,
        logit_bias, stream=False). Returns the text (a str), or with stream=True an
        iterator of text pieces."""
        return self.language_model.generate(prompt, **options)

    def chat(self, messages, **options):
        """The assistant's answer to OpenAI-style messages; see
        LanguageModel.chat (tools=None, max_tokens=512, temperature=0.7...,
        stream=False)."""
        return self.language_model.chat(messages, **options)

    def apply_chat_template(self, messages, tools=None, add_generation_prompt: bool = True) -> str:
        """The prompt text the model's chat template makes of messages."""
        return self.language_model.apply_chat_template(messages, tools, add_generation_prompt)

    def session(self, n_ctx: int = 0):
        """A ChatSession: one conversation whose tokens carry over between calls."""
        return self.language_model.session(n_ctx)

    @contextlib.contextmanager
    def _handle_in_use(self):
        """The C handle for one call; close() waits until no call holds it."""
        with self._cv:
            if self._handle is None:
                raise Error(f"model '{self.name}' is closed")
            self._busy += 1
            h = self._handle
        try:
            yield h
        finally:
            with self._cv:
                self._busy -= 1
                if not self._busy:
                    self._cv.notify_all()

    # -- embedding ----------------------------------------------------------
    def _need_embedding(self):
        if self._lm is not None:
            raise UnsupportedError(f"'{self.name}' is a text-generation model: it has no embeddings "
                                   "(use generate() or chat())")

    def embed(self, texts, normalize=None, max_tokens: int = 0, stats: dict | None = None,
              prompt_name: str | None = None, dimensions: int = 0, chunk_size: int = 0, chunk_overlap: int = 0,
              truncate_left: bool = False):
        """Embed a list of texts in one library call.

        Returns a float32 numpy array (n, dim), or a list of n lists of
        floats when numpy is not installed. ``normalize``: None (as the
        model's modules say), True (L2-normalize), False (raw pooled vectors).
        ``prompt_name``: the model's prompt (config_sentence_transformers.json)
        put before every text; None: its default prompt, if any; "": none.
        ``dimensions``: Matryoshka, the first this many values of each vector
        (normalized again when the output is normalized); 0: all.
        ``chunk_size``: a text longer than this many tokens is embedded in
        windows of it overlapping by ``chunk_overlap`` tokens, its vector the
        token-weighted mean of theirs (0: truncated at the model's limit).
        ``truncate_left``: a text over the limit loses its start, not its end.
        """
        self._need_embedding()
        data = _as_bytes(_as_list(texts))
        n = len(data)
        if not isinstance(max_tokens, int) or max_tokens < 0:
            raise InvalidInputError(f"max_tokens must be an int >= 0, not {max_tokens!r}")
        if isinstance(dimensions, bool) or not isinstance(dimensions, int) or not 0 <= dimensions <= self.dim:
            raise InvalidInputError(f"dimensions must be an int from 1 to the model's {self.dim} (0: all), "
                                    f"not {dimensions!r}")
        dim = dimensions or self.dim
        if _np is not None:
            out = _np.empty((n, dim), dtype=_np.float32)
            out_ptr = out.ctypes.data
        else:
            out = (ctypes.c_float * (n * dim))()
            out_ptr = ctypes.addressof(out)
        if n == 0:
            return out if _np is not None else []
        ptrs = (ctypes.c_char_p * n)(*data)
        lens = (ctypes.c_size_t * n)(*map(len, data))
        opts = _lib.new(_lib.EmbedOptions)
        opts.normalize = (_lib.IA_NORMALIZE_MODEL if normalize is None else
                          _lib.IA_NORMALIZE_YES if normalize else _lib.IA_NORMALIZE_NO)
        opts.max_tokens = max_tokens
        opts.dimensions = dimensions
        for name, v in (("chunk_size", chunk_size), ("chunk_overlap", chunk_overlap)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise InvalidInputError(f"{name} must be an int >= 0, not {v!r}")
        opts.chunk_tokens = chunk_size
        opts.truncate_left = bool(truncate_left)
        opts.chunk_overlap = chunk_overlap
        if prompt_name is not None:
            if not isinstance(prompt_name, str) or "\0" in prompt_name:
                raise InvalidInputError(f"prompt_name must be a str (a prompt's name) or None, not {prompt_name!r}")
            opts.prompt_name = prompt_name.encode("utf-8")
        c_stats = _lib.new(_lib.EmbedStats)
        with self._handle_in_use() as h:
            _lib.check(self._lib.ia_model_embed_opts(h, ptrs, lens, n, ctypes.byref(opts), out_ptr,
                                                     ctypes.byref(c_stats)))
        counts = {"n_tokens": c_stats.n_tokens, "n_truncated_texts": c_stats.n_truncated_texts,
                  "n_invalid_utf8": c_stats.n_invalid_utf8}
        with self._stats_lock:
            for k, v in counts.items():
                self.stats[k] += v
        if stats is not None:
            for k, v in counts.items():
                stats[k] = stats.get(k, 0) + v
        if _np is not None:
            return out
        flat = list(out)
        return [flat[i * dim:(i + 1) * dim] for i in range(n)]

    def embed_sparse(self, texts, max_tokens: int = 0, stats: dict | None = None) -> list:
        """SPLADE vectors of texts (a model loaded with pooling="splade", or
        whose folder says SpladePooling): for each text a dict
        {token id: weight} of its non-zero entries, as TEI's /embed_sparse."""
        if self.info.get("pooling") != "splade":
            raise UnsupportedError(f"'{self.name}' does not use SPLADE pooling (load it with pooling=\"splade\")")
        dense = self.embed(texts, normalize=False, max_tokens=max_tokens, stats=stats)
        out = []
        for row in dense:
            if _np is not None:
                idx = _np.flatnonzero(row)
                out.append(dict(zip(idx.tolist(), row[idx].tolist())))
            else:
                out.append({i: v for i, v in enumerate(row) if v})
        return out

    # -- classification and reranking ------------------------------------------
    @property
    def num_labels(self) -> int:
        """Labels of the model's classification head (0: none, an embedding
        model; 1: a reranker / cross-encoder)."""
        return 0 if self._lm is not None else self._lib.ia_model_num_labels(self._handle)

    @property
    def labels(self) -> list:
        """The head's label names (config.json id2label), by id."""
        return [self._lib.ia_model_label(self._handle, i).decode() for i in range(self.num_labels)]

    def _classify(self, firsts, seconds, raw_scores, max_tokens):
        if not self.num_labels:
            raise UnsupportedError(f"'{self.name}' has no classification head (config.json names no "
                                   "*ForSequenceClassification architecture); use embed()")
        if not isinstance(max_tokens, int) or max_tokens < 0:
            raise InvalidInputError(f"max_tokens must be an int >= 0, not {max_tokens!r}")
        a, n, L = _as_bytes(firsts), len(firsts), self.num_labels
        b = _as_bytes(seconds) if seconds is not None else None
        out = (ctypes.c_float * (n * L))()
        if n:
            opts = _lib.new(_lib.ClassifyOptions)
            opts.raw_scores = bool(raw_scores)
            opts.max_tokens = max_tokens
            a_ptrs, a_lens = (ctypes.c_char_p * n)(*a), (ctypes.c_size_t * n)(*map(len, a))
            b_ptrs = (ctypes.c_char_p * n)(*b) if b is not None else None
            b_lens = (ctypes.c_size_t * n)(*map(len, b)) if b is not None else None
            with self._handle_in_use() as h:
                _lib.check(self._lib.ia_model_classify(h, a_ptrs, a_lens, b_ptrs, b_lens, n, ctypes.byref(opts),
                                                       out, None))
        flat = list(out)
        return [flat[i * L:(i + 1) * L] for i in range(n)]

    def predict(self, inputs, raw_scores: bool = False, max_tokens: int = 0):
        """Scores of texts or text pairs, like sentence-transformers'
        ``CrossEncoder.predict``: ``inputs`` is a list of str or of (a, b)
        pairs (not mixed). Returns a float32 numpy array (n, num_labels),
        (n,) for a one-label model, or lists without numpy. Scores are the
        sigmoid of one label or the softmax over several (``raw_scores``:
        the logits); pairs over the model's limit are truncated, the longer
        text first."""
        items = _as_list(inputs)
        pairs = bool(items) and not isinstance(items[0], (str, bytes))
        if pairs and any(isinstance(x, (str, bytes)) or len(x) != 2 for x in items):
            raise InvalidInputError("inputs must all be texts or all be (text, text) pairs")
        rows = self._classify([x[0] for x in items] if pairs else items,
                              [x[1] for x in items] if pairs else None, raw_scores, max_tokens)
        if self.num_labels == 1:
            rows = [r[0] for r in rows]
        return _np.asarray(rows, dtype=_np.float32) if _np is not None else rows

    def rerank(self, query: str, documents, top_n: int | None = None, return_documents: bool = False,
               raw_scores: bool = False, max_tokens: int = 0) -> list:
        """Order documents by relevance to query with a reranker
        (cross-encoder): a list of {"index", "score"[, "document"]}, the
        most relevant first, the best ``top_n`` only when given."""
        if self.num_labels != 1:
            raise UnsupportedError(f"'{self.name}' is not a reranker (a *ForSequenceClassification model "
                                   f"with one label; it has {self.num_labels})")
        docs = _as_list(documents)
        scores = [r[0] for r in self._classify([query] * len(docs), docs, raw_scores, max_tokens)]
        order = sorted(range(len(docs)), key=lambda i: (-scores[i], i))[:top_n]
        return [dict(index=i, score=scores[i], **({"document": docs[i]} if return_documents else {}))
                for i in order]

    def classify(self, inputs, raw_scores: bool = False, max_tokens: int = 0) -> list:
        """Label texts or (a, b) pairs with a classifier: for each input a
        dict {label: score} over every label (softmax, or sigmoid for one
        label; ``raw_scores``: the logits)."""
        items = _as_list(inputs)
        pairs = bool(items) and not isinstance(items[0], (str, bytes))
        if pairs and any(isinstance(x, (str, bytes)) or len(x) != 2 for x in items):
            raise InvalidInputError("inputs must all be texts or all be (text, text) pairs")
        rows = self._classify([x[0] for x in items] if pairs else items,
                              [x[1] for x in items] if pairs else None, raw_scores, max_tokens)
        labels = self.labels
        return [dict(zip(labels, r)) for r in rows]

    def encode(self, sentences, batch_size: int = 32, show_progress_bar: bool | None = None,
               output_value: str = "sentence_embedding", convert_to_numpy: bool = True,
               convert_to_tensor: bool = False, device: str | None = None,
               normalize_embeddings: bool = False, precision: str = "float32"):
        """Embed sentences like sentence-transformers' ``SentenceTransformer.encode``.

        A single str gives one vector (dim,), a list gives (n, dim).
        ``normalize_embeddings=True`` L2-normalizes; False leaves the model's
        own Normalize module (if any) in place, as sentence-transformers does.
        ``precision`` "int8", "uint8", "binary" or "ubinary" quantizes the
        float32 vectors as sentence-transformers' ``quantize_embeddings`` does
        without calibration data (int8/uint8: each value's bucket of 256
        between its dimension's min and max over these sentences, floored and
        clipped, int8 = uint8 - 128; binary/ubinary: the sign
        bits packed 8 to a byte, less 128 for binary); needs numpy. Other
        ``output_value`` and ``convert_to_tensor`` settings raise.
        """
        if output_value != "sentence_embedding":
            raise InvalidInputError(f"output_value '{output_value}' is not supported "
                                    "(only 'sentence_embedding')")
        if precision not in ("float32", "int8", "uint8", "binary", "ubinary"):
            raise InvalidInputError(f"precision '{precision}' is not one of float32, int8, uint8, binary, ubinary")
        if precision != "float32" and _np is None:
            raise InvalidInputError(f"precision '{precision}' needs numpy")
        if convert_to_tensor:
            raise InvalidInputError("convert_to_tensor=True needs torch; this binding returns numpy arrays")
        if device is not None and device not in ("cpu", self.backend):
            raise InvalidInputError(f"device '{device}' differs from the model's backend "
                                    f"'{self.backend}'; choose it when loading: Model(..., device=...)")
        single = isinstance(sentences, (str, bytes))
        res = self.embed_batches([sentences] if single else sentences, batch_size,
                                 True if normalize_embeddings else None, bool(show_progress_bar))
        if precision != "float32":
            res = _quantize(_np.asarray(res), precision)
        if _np is not None and not convert_to_numpy:
            res = list(res)
        return res[0] if single else res

    def embed_batches(self, texts, batch_size: int = 256, normalize=None, progress: bool = False,
                      stats: dict | None = None):
        """embed() over batches of batch_size texts: (n, dim) array or list of lists."""
        self._need_embedding()
        texts = _as_list(texts)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, not {batch_size!r}")
        bar = _Progress(len(texts)) if progress else None
        parts = []
        for i in range(0, len(texts), batch_size):
            parts.append(self.embed(texts[i:i + batch_size], normalize=normalize, stats=stats))
            if bar:
                bar.update(len(texts[i:i + batch_size]))
        if bar:
            bar.close()
        if _np is not None:
            if len(parts) == 1:
                return parts[0]
            return _np.concatenate(parts) if parts else _np.empty((0, self.dim), _np.float32)
        return [r for p in parts for r in p]

    __call__ = encode


def _quantize(emb, precision):
    """sentence-transformers' quantize_embeddings without calibration data."""
    if precision in ("binary", "ubinary"):
        packed = _np.packbits(emb > 0, axis=-1)
        return (packed.astype(_np.int16) - 128).astype(_np.int8) if precision == "binary" else packed
    starts = emb.min(axis=0)
    steps = (emb.max(axis=0) - starts) / 255
    steps = _np.where(steps == 0, 1, steps).astype(emb.dtype)
    q = _np.clip(_np.floor((emb - starts) / steps), 0, 255)  # the bucket, as sentence-transformers >= 5
    return (q - 128).astype(_np.int8) if precision == "int8" else q.astype(_np.uint8)


class _Progress:
    """A small stderr progress bar (sentences and sentences/s)."""

    def __init__(self, total):
        self.total, self.done, self.t0 = total, 0, time.monotonic()

    def update(self, k):
        self.done += k
        rate = self.done / max(time.monotonic() - self.t0, 1e-9)
        width = 30
        fill = int(width * self.done / max(self.total, 1))
        sys.stderr.write(f"\rBatches: [{'#' * fill}{'.' * (width - fill)}] "
                         f"{self.done}/{self.total} ({rate:.0f} sentences/s)")
        sys.stderr.flush()

    def close(self):
        sys.stderr.write("\n")
        sys.stderr.flush()
