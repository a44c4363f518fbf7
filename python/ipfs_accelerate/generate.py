"""Text generation: :class:`LanguageModel` (a decoder GGUF such as
SmolLM2-135M-Instruct), conversations (:class:`ChatSession`) and streaming.

A :class:`LanguageModel` owns one ``ia_lm`` of the C library
(include/ipfs_accelerate/generate.h). It may be shared by threads: each
call takes a session (the KV cache of one conversation) from a small pool,
so consecutive calls from one thread reuse the tokens they have in common
(the next turn of a chat computes only what is new) and concurrent calls
each get their own. :class:`ChatSession` is such a session held
explicitly; it is used by one thread at a time.

Non-streaming calls run in C with the GIL released (ctypes releases it
around every foreign call). ``stream=True`` returns a :class:`TextStream`:
the generation runs on a thread of its own and hands its text pieces
through a queue; the call returns once the first piece is there (or the
call failed: errors raise at the call, as without streaming). Closing the stream
(``close()``, leaving a ``with`` block, or dropping it) cancels the
generation and joins the thread.

Sampling options are named like the OpenAI API's fields; ranges are
checked by the library, whose message names the field.
"""

from __future__ import annotations

import ctypes
import json
import os
import queue
import random
import threading
import weakref

from . import _lib, hub
from .errors import Error, InvalidInputError

_POOL = 4  # idle sessions kept per model (their KV caches stay allocated)


class GeneratedText(str):
    """The generated text (a ``str``) with how it came about:
    ``finish_reason`` ("stop": end of text or a stop string; "length":
    max_tokens or the context; "cancelled"), ``prompt_tokens``,
    ``cached_tokens`` (of the prompt, reused from the session),
    ``completion_tokens``, ``first_token_s``, ``total_s``, ``usage`` (the
    OpenAI counts) and ``logprobs`` (None unless asked for: one
    ``{"token", "logprob", "top_logprobs": [{"token", "logprob"}...]}`` per
    generated token, as OpenAI's chat API gives them)."""

    finish_reason: str
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    first_token_s: float
    total_s: float
    logprobs: list | None

    @property
    def usage(self) -> dict:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
                "prompt_tokens_details": {"cached_tokens": self.cached_tokens}}


def _result(text: str, res, logprobs) -> GeneratedText:
    g = GeneratedText(text)
    g.finish_reason = res.finish_reason.decode() if res.finish_reason else ""
    g.prompt_tokens, g.cached_tokens = res.prompt_tokens, res.cached_tokens
    g.completion_tokens = res.completion_tokens
    g.first_token_s, g.total_s = res.first_token_s, res.total_s
    g.logprobs = logprobs
    return g


def _number(name, v, kind=float):
    if isinstance(v, bool) or not isinstance(v, (int, float) if kind is float else int):
        raise InvalidInputError(f"{name} must be {'a number' if kind is float else 'an int'}, not {v!r}")
    if kind is int and name != "seed" and not -2 ** 31 <= v < 2 ** 31:  # a C int
        raise InvalidInputError(f"{name} {v} is out of range")
    return v


class _Options:
    """The C options of one call, with the memory they point to."""

    def __init__(self, max_tokens, temperature, top_p, top_k, min_p, repetition_penalty,
                 presence_penalty, frequency_penalty, seed, stop, ignore_eos, logprobs, logit_bias=None):
        o = _lib.new(_lib.LmGenOptions)
        if max_tokens is not None:
            if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or \
                    not 1 <= max_tokens < 2 ** 31:
                raise InvalidInputError(f"max_tokens must be a positive int or None (no limit), "
                                        f"not {max_tokens!r}")
            o.max_tokens = max_tokens
        o.temperature = _number("temperature", temperature)
        o.top_p = _number("top_p", top_p)
        o.top_k = _number("top_k", top_k, int)
        o.min_p = _number("min_p", min_p)
        o.repetition_penalty = _number("repetition_penalty", repetition_penalty)
        o.presence_penalty = _number("presence_penalty", presence_penalty)
        o.frequency_penalty = _number("frequency_penalty", frequency_penalty)
        if seed is None:  # sampling without a seed differs from call to call
            seed = random.SystemRandom().getrandbits(63)
        if not 0 <= _number("seed", seed, int) < 2 ** 64:
            raise InvalidInputError(f"seed must be an int in [0, 2**64), not {seed!r}")
        o.seed = seed
        if stop is None:
            stop = []
        elif isinstance(stop, str):
            stop = [stop]
        elif not isinstance(stop, (list, tuple)) or not all(isinstance(s, str) for s in stop):
            raise InvalidInputError(f"stop must be a str or a list of str, not {stop!r}")
        if any("\0" in s for s in stop):
            raise InvalidInputError("a stop string holds a NUL character")
        self._stop = (ctypes.c_char_p * max(len(stop), 1))(*[s.encode("utf-8") for s in stop])
        o.stop = ctypes.cast(self._stop, ctypes.POINTER(ctypes.c_char_p))
        o.n_stop = len(stop)
        o.ignore_eos = bool(ignore_eos)
        if logit_bias:  # {token id: bias}, as OpenAI's logit_bias
            if not isinstance(logit_bias, dict):
                raise InvalidInputError(f"logit_bias must be a dict of token id -> bias, not {logit_bias!r}")
            items = [(_number("logit_bias token", int(t) if isinstance(t, str) and t.isdigit() else t, int),
                      _number("logit_bias value", b)) for t, b in logit_bias.items()]
            self._bias = (_lib.LmLogitBias * len(items))(*items)
            o.logit_bias = self._bias
            o.n_logit_bias = len(items)
        self.logprobs = None
        if logprobs is not None and logprobs is not False:
            n = 0 if logprobs is True else logprobs
            if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 20:
                raise InvalidInputError(f"logprobs must be True or an int in [0, 20] (alternatives per "
                                        f"token), not {logprobs!r}")
            self.logprobs = []  # (token, logprob, [(token, logprob)...]) per token
            o.top_logprobs = n

            def on_token(tok, lp, top, top_lp, n_top, user):
                self.logprobs.append((tok, lp, [(top[i], top_lp[i]) for i in range(n_top)]))

            self._on_token = _lib.LM_TOKEN_FN(on_token)  # kept alive with the options
            o.on_token = self._on_token
        self.c = o

    def token_logprobs(self, lm):
        """self.logprobs with token texts, as OpenAI gives them (None if not asked)."""
        if self.logprobs is None:
            return None
        text = lm._token_text
        return [{"token": text(t), "logprob": lp,
                 "top_logprobs": [{"token": text(a), "logprob": alp} for a, alp in top]}
                for t, lp, top in self.logprobs]


def _messages_json(messages) -> bytes:
    if isinstance(messages, (str, bytes)):
        raise InvalidInputError("messages must be a list of {'role', 'content'} dicts, not a "
                                "single text (use generate() for a plain prompt)")
    try:
        return json.dumps(list(messages)).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"messages cannot be sent as JSON: {e}") from None


def _tools_json(tools):
    if tools is None:
        return None
    try:
        return json.dumps(list(tools)).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"tools cannot be sent as JSON: {e}") from None


def _prompt_payload(prompt):
    """Text as bytes; token ids as a C int32 array."""
    if isinstance(prompt, (list, tuple)):
        if not prompt or not all(isinstance(t, int) and not isinstance(t, bool) and 0 <= t < 2 ** 31
                                 for t in prompt):
            raise InvalidInputError("a prompt of token ids must be a non-empty list of ints >= 0")
        return (ctypes.c_int32 * len(prompt))(*prompt)
    return _prompt_bytes(prompt)


def _prompt_bytes(prompt) -> bytes:
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str, not {type(prompt).__name__}")
    if "\0" in prompt:
        raise InvalidInputError("prompt holds a NUL character")
    return prompt.encode("utf-8", "surrogatepass")


_END = object()


class TextStream:
    """An iterator over the text pieces of one generation (str, whole
    characters, never part of a stop string). ``result`` is the whole
    :class:`GeneratedText` once the iteration has ended. ``close()`` (or
    leaving a ``with`` block, or dropping the stream) cancels the
    generation and waits for its thread.

    The stream is made once the generation has produced its first piece
    (or ended), so that a refused prompt or option raises at the call, as
    it does without streaming."""

    def __init__(self, body):
        self._state = {"result": None}
        self._gen = body(self._state)
        try:
            self._first = [next(self._gen)]
        except StopIteration:
            self._first = []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self._first:
            return self._first.pop()
        return next(self._gen)

    def close(self):
        self._gen.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def result(self) -> GeneratedText | None:
        return self._state["result"]


def _stream_body(run):
    """The generator behind a TextStream. `run(on_text)` generates on the
    thread it is called from and returns the GeneratedText. The thread
    holds neither the stream nor this generator, so dropping the stream
    closes the generator, whose `finally` cancels and joins."""

    def body(state):
        q = queue.SimpleQueue()
        cancel = threading.Event()

        def on_text(ptr, n, user):
            if cancel.is_set():
                return False
            q.put(ctypes.string_at(ptr, n))
            return not cancel.is_set()

        cb = _lib.LM_TEXT_FN(on_text)

        def work():
            try:
                q.put(("done", run(cb)))
            except BaseException as e:  # handed to the consumer
                q.put(("error", e))

        t = threading.Thread(target=work, name="ipfs_accelerate-generate", daemon=True)
        t.start()
        try:
            while True:
                item = q.get()
                if isinstance(item, bytes):
                    yield item.decode("utf-8", "replace")
                    continue
                kind, value = item
                if kind == "error":
                    raise value
                state["result"] = value
                return
        finally:
            cancel.set()
            t.join()

    return body


class _Generator:
    """What LanguageModel and ChatSession share: the calls on a session."""

    def _run(self, lm, session, kind, payload, tools, opts, on_text):
        """Generate on session (a held ia_lm_session handle) from the calling thread."""
        lib = lm._lib
        text = ctypes.c_void_p()
        res = _lib.new(_lib.LmResult)
        cb = on_text if on_text is not None else _lib.LM_TEXT_FN()  # NULL: no streaming
        if kind == "chat":
            st = lib.ia_lm_session_chat(session, payload, tools, ctypes.byref(opts.c), cb, None,
                                        ctypes.byref(text), ctypes.byref(res))
        elif isinstance(payload, bytes):
            st = lib.ia_lm_session_generate(session, payload, ctypes.byref(opts.c), cb, None,
                                            ctypes.byref(text), ctypes.byref(res))
        else:  # token ids
            st = lib.ia_lm_session_generate_ids(session, payload, len(payload), ctypes.byref(opts.c), cb,
                                                None, ctypes.byref(text), ctypes.byref(res))
        _lib.check(st)
        out = ctypes.string_at(text.value).decode("utf-8", "replace") if text.value else ""
        lib.ia_free(text)
        return _result(out, res, opts.token_logprobs(lm))

    def _call(self, kind, payload, tools, stream, opts):
        raise NotImplementedError

    def generate(self, prompt, max_tokens: int | None = 128, temperature: float = 0.0,
                 top_p: float = 1.0, top_k: int = 0, min_p: float = 0.0,
                 repetition_penalty: float = 1.0, presence_penalty: float = 0.0,
                 frequency_penalty: float = 0.0, seed: int | None = None, stop=None,
                 ignore_eos: bool = False, logprobs=None, stream: bool = False, logit_bias=None):
        """Continue ``prompt``: raw text (no chat template; the model's own
        specials in front, as ``ipfs-accelerate generate`` does), or a list
        of token ids taken as they are.

        Returns the generated text as a :class:`GeneratedText` (a str with
        finish_reason, token counts and timings), or with ``stream=True`` a
        :class:`TextStream` of text pieces. ``max_tokens``: at most this
        many tokens (None: until the model ends the text or the context is
        full). ``temperature`` 0 is greedy; sampling uses ``top_p``,
        ``top_k``, ``min_p``, the penalties and ``seed`` (None: a new random
        seed each call; the same seed, the same text). ``stop``: a str or a
        list of str that end the text (not included). ``logprobs``: True or
        the number of alternatives per token (0..20) fills ``.logprobs``.
        ``logit_bias``: ``{token id: bias}`` added to those logits (-100
        bans a token, 100 forces it), as OpenAI's.
        """
        opts = _Options(max_tokens, temperature, top_p, top_k, min_p, repetition_penalty,
                        presence_penalty, frequency_penalty, seed, stop, ignore_eos, logprobs, logit_bias)
        return self._call("generate", _prompt_payload(prompt), None, stream, opts)

    def chat(self, messages, tools=None, max_tokens: int | None = 512, temperature: float = 0.7,
             top_p: float = 1.0, top_k: int = 0, min_p: float = 0.0,
             repetition_penalty: float = 1.0, presence_penalty: float = 0.0,
             frequency_penalty: float = 0.0, seed: int | None = None, stop=None,
             ignore_eos: bool = False, logprobs=None, stream: bool = False, logit_bias=None):
        """The assistant's answer to ``messages`` (a list of ``{"role",
        "content"}`` dicts, as for OpenAI's chat API; ``tools`` a list of
        tools or None), rendered with the model's chat template.

        Options and return value as for :meth:`generate`. For the next
        turn, append the answer (``{"role": "assistant", "content":
        answer}``) and the new message, and call again: the conversation so
        far is not computed again (``cached_tokens``).
        """
        opts = _Options(max_tokens, temperature, top_p, top_k, min_p, repetition_penalty,
                        presence_penalty, frequency_penalty, seed, stop, ignore_eos, logprobs, logit_bias)
        return self._call("chat", _messages_json(messages), _tools_json(tools), stream, opts)


class LanguageModel(_Generator):
    """A decoder language model (a GGUF file: llama, qwen2, qwen3, mistral).

    ``name_or_path``: a .gguf file, or what :func:`ipfs_accelerate.resolve_model`
    resolves (a folder, a Hugging Face id in the cache, ``ipfs://CID``, which
    may name a file). ``device``: "auto", "cpu"... (None: the configured
    hardware.device); ``n_threads``: worker threads (0: one per core);
    ``kv_cache``: "f16" (the default on the CPU) or "f32" (elsewhere).
    ``info`` describes it (architecture, vocab_size, context_length,
    has_chat_template...). Free it with :meth:`close` or a ``with`` block.
    """

    def __init__(self, name_or_path, device: str | None = None, n_threads: int = 0,
                 revision: str | None = None, cache_dir: str | None = None, kv_cache: str | None = None):
        self._handle = None
        self._cv = threading.Condition()
        self._busy = 0
        self._idle = []
        self._sessions = weakref.WeakSet()  # ChatSessions, freed before the model
        self.name = str(name_or_path)
        if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 0:
            raise InvalidInputError(f"n_threads must be an int >= 0, not {n_threads!r}")
        if device is not None and not isinstance(device, str):
            raise TypeError(f"device must be a str, not {type(device).__name__}")
        if kv_cache not in (None, "f16", "f32"):
            raise InvalidInputError(f"kv_cache must be \"f16\" or \"f32\", not {kv_cache!r}")
        self.path = hub.resolve(name_or_path, revision, cache_dir, allow_file=True)
        lib = _lib.load()
        opts = _lib.new(_lib.LmOptions)
        opts.n_threads = n_threads
        opts.device = device.encode() if device else None
        opts.kv_cache = kv_cache.encode() if kv_cache else None
        handle = ctypes.c_void_p()
        _lib.check(lib.ia_lm_load(self.path.encode("utf-8"), ctypes.byref(opts), ctypes.byref(handle)))
        self._handle, self._lib = handle, lib
        info = _lib.new(_lib.LmInfo)
        lib.ia_lm_get_info(handle, ctypes.byref(info))
        s = lambda b: b.decode("utf-8", "replace") if b else None  # noqa: E731
        self.info = {
            "name": self.name, "path": s(info.path), "task": "text-generation",
            "architecture": s(info.architecture), "vocab_size": info.vocab_size,
            "context_length": info.context_length, "n_layers": info.n_layers,
            "n_heads": info.n_heads, "n_heads_kv": info.n_heads_kv, "n_embd": info.n_embd,
            "has_chat_template": bool(info.has_chat_template), "tokenizer": s(info.tokenizer),
            "backend": s(info.backend),
        }
        #: the model's chat template (Jinja source), or None
        self.chat_template = s(info.chat_template)
        self._token_cache = {}

    # -- lifetime -----------------------------------------------------------
    def close(self):
        """Free the C model and its sessions (waits for calls in flight). Idempotent."""
        with self._cv:
            while self._busy:
                self._cv.wait()
            h, self._handle = self._handle, None
            idle, self._idle = self._idle, []
        for s in idle:
            self._lib.ia_lm_session_free(s)
        for cs in list(self._sessions):
            cs.close()
        if h is not None:
            self._lib.ia_lm_free(h)

    def __del__(self):
        try:
            if getattr(self, "_handle", None) is not None:
                for s in self._idle:
                    self._lib.ia_lm_session_free(s)
                self._lib.ia_lm_free(self._handle)  # ChatSessions hold the model: none are left
                self._handle = None
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def closed(self) -> bool:
        return self._handle is None

    @property
    def context_length(self) -> int:
        return int(self.info["context_length"])

    @property
    def backend(self) -> str:
        return self.info["backend"]

    def __repr__(self):
        state = "closed" if self.closed else f"{self.info['architecture']}, backend={self.backend}"
        return f"LanguageModel({self.name!r}, {state})"

    def _hold(self):
        """The handle, counted as in use until _let_go (close waits)."""
        with self._cv:
            if self._handle is None:
                raise Error(f"model '{self.name}' is closed")
            self._busy += 1
            return self._handle

    def _let_go(self):
        with self._cv:
            self._busy -= 1
            if not self._busy:
                self._cv.notify_all()

    # -- sessions -----------------------------------------------------------
    def _take_session(self):
        """An idle session (the most recently used: it likely holds this
        caller's conversation), or a new one; the model is held until
        _give_session."""
        h = self._hold()
        with self._cv:
            s = self._idle.pop() if self._idle else None
        if s is None:
            out = ctypes.c_void_p()
            try:
                _lib.check(self._lib.ia_lm_session_new(h, 0, ctypes.byref(out)))
            except BaseException:
                self._let_go()
                raise
            s = out
        return s

    def _give_session(self, s):
        with self._cv:
            keep = self._handle is not None and len(self._idle) < _POOL
            if keep:
                self._idle.append(s)
        if not keep:
            self._lib.ia_lm_session_free(s)
        self._let_go()

    def session(self, n_ctx: int = 0) -> "ChatSession":
        """A conversation of its own (n_ctx positions; 0: context_length)."""
        return ChatSession(self, n_ctx)

    def _call(self, kind, payload, tools, stream, opts):
        def run(on_text):
            s = self._take_session()
            try:
                return self._run(self, s, kind, payload, tools, opts, on_text)
            finally:
                self._give_session(s)

        return TextStream(_stream_body(run)) if stream else run(None)

    # -- tokens and templates -----------------------------------------------
    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list:
        """Token ids of text (``add_special``: the model's own specials
        around it; ``parse_special``: special-token text such as
        "<|im_start|>" becomes those tokens, else it stays text)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        data = text.encode("utf-8", "surrogatepass")
        h = self._hold()
        try:
            n = ctypes.c_size_t()
            cap = len(data) + 8  # a byte-level BPE gives at most one token a byte, plus specials
            ids = (ctypes.c_int32 * cap)()
            _lib.check(self._lib.ia_lm_tokenize(h, data, len(data), bool(add_special), bool(parse_special),
                                                ids, cap, ctypes.byref(n)))
            if n.value > cap:
                ids = (ctypes.c_int32 * n.value)()
                _lib.check(self._lib.ia_lm_tokenize(h, data, len(data), bool(add_special),
                                                    bool(parse_special), ids, n.value, ctypes.byref(n)))
            return list(ids[:n.value])
        finally:
            self._let_go()

    def detokenize(self, ids, skip_special: bool = False) -> str:
        """The text of token ids (``skip_special``: without bos, eos, <|im_end|>...)."""
        ids = list(ids)
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise TypeError("ids must be a list of int")
        if any(not -2 ** 31 <= i < 2 ** 31 for i in ids):
            raise InvalidInputError("a token id is outside the int32 range")
        arr = (ctypes.c_int32 * max(len(ids), 1))(*ids)
        out, n = ctypes.c_void_p(), ctypes.c_size_t()
        h = self._hold()
        try:
            _lib.check(self._lib.ia_lm_detokenize(h, arr, len(ids), bool(skip_special), ctypes.byref(out),
                                                  ctypes.byref(n)))
        finally:
            self._let_go()
        try:
            return ctypes.string_at(out.value, n.value).decode("utf-8", "replace")
        finally:
            self._lib.ia_free(out)

    def _token_text(self, tok: int) -> str:
        t = self._token_cache.get(tok)
        if t is None:
            t = self._token_cache[tok] = self.detokenize([tok])
        return t

    def apply_chat_template(self, messages, tools=None, add_generation_prompt: bool = True) -> str:
        """The prompt text the chat template makes of messages (and tools),
        as transformers' ``apply_chat_template(..., tokenize=False)`` renders it."""
        msgs, tl = _messages_json(messages), _tools_json(tools)
        out = ctypes.c_void_p()
        h = self._hold()
        try:
            _lib.check(self._lib.ia_lm_apply_chat_template(h, msgs, tl, bool(add_generation_prompt),
                                                           ctypes.byref(out)))
        finally:
            self._let_go()
        return _lib.take_string(out)


class ChatSession(_Generator):
    """One conversation on a :class:`LanguageModel`: a session whose tokens
    (KV cache) carry over from call to call. Used by one thread at a time
    (a second concurrent call raises InvalidInputError). ``n_tokens``: the
    tokens it holds; ``reset()`` forgets them; ``close()`` frees it (so
    does closing the model)."""

    def __init__(self, lm: LanguageModel, n_ctx: int = 0):
        if isinstance(n_ctx, bool) or not isinstance(n_ctx, int) or n_ctx < 0:
            raise InvalidInputError(f"n_ctx must be an int >= 0, not {n_ctx!r}")
        self._lm = lm
        self._handle = None
        h = lm._hold()
        out = ctypes.c_void_p()
        try:
            _lib.check(lm._lib.ia_lm_session_new(h, n_ctx, ctypes.byref(out)))
            self._handle = out
            lm._sessions.add(self)
        finally:
            lm._let_go()

    def close(self):
        """Free the session. Idempotent; not while a call on it runs."""
        h, self._handle = self._handle, None
        if h is not None:
            self._lm._lib.ia_lm_session_free(h)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _with(self, fn):
        """fn(session handle) with the model held open."""
        self._lm._hold()
        try:
            if self._handle is None:
                raise Error("the chat session is closed")
            return fn(self._handle)
        finally:
            self._lm._let_go()

    @property
    def n_tokens(self) -> int:
        return int(self._with(self._lm._lib.ia_lm_session_n_tokens))

    @property
    def n_ctx(self) -> int:
        return int(self._with(self._lm._lib.ia_lm_session_n_ctx))

    def reset(self):
        """Forget the conversation (the next call computes its whole prompt)."""
        self._with(self._lm._lib.ia_lm_session_reset)

    def _call(self, kind, payload, tools, stream, opts):
        def run(on_text):
            return self._with(lambda s: self._run(self._lm, s, kind, payload, tools, opts, on_text))

        return TextStream(_stream_body(run)) if stream else run(None)


def detect_task(path: str) -> str:
    """'text-generation' for what looks like a decoder model, else 'embedding':
    a file (a GGUF decoder is one file), a folder whose config.json names
    a causal LM (architectures "*ForCausalLM", or a llama/qwen2/qwen3/mistral
    model_type), or a folder of .gguf files without config.json. A
    sentence-transformers folder (modules.json) embeds, decoder or not
    (gte-Qwen2: a Qwen2ForCausalLM config, last-token pooling)."""
    if os.path.isfile(path):
        return "text-generation"
    if os.path.isfile(os.path.join(path, "modules.json")):
        return "embedding"
    cfg = os.path.join(path, "config.json")
    if os.path.isfile(cfg):
        try:
            with open(cfg, encoding="utf-8") as f:
                c = json.load(f)
        except (OSError, ValueError):
            return "embedding"  # the embedding loader reports what is wrong
        if not isinstance(c, dict):
            return "embedding"
        archs = c.get("architectures") or []
        if any(isinstance(a, str) and a.endswith("ForCausalLM") for a in archs) or \
                c.get("model_type") in ("llama", "qwen2", "qwen3", "mistral"):
            return "text-generation"
        return "embedding"
    try:
        return "text-generation" if any(n.endswith(".gguf") for n in os.listdir(path)) else "embedding"
    except OSError:
        return "embedding"
