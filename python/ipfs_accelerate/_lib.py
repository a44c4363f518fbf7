"""Finding, loading and declaring libipfs_accelerate through ctypes.

The shared library is looked up, in order, at:

1. ``$IPFS_ACCELERATE_LIB`` (the library file, or a folder holding it);
2. ``ipfs_accelerate/_lib/`` inside the installed package (``pip install``
   puts the library it compiled there);
3. the build trees of a source checkout this package sits in
   (``<checkout>/build*/``, newest first; sanitizer builds are skipped,
   since an ASan library cannot be loaded into a plain Python);
4. the system's library path (``ctypes.util.find_library``).

The library is loaded on first use, so importing the package never fails;
:func:`load` raises :class:`LibraryNotFoundError` naming every place tried.

ctypes releases the GIL during every foreign call, so embedding from
several Python threads runs in parallel in C. Structs the library fills or
reads are placed in zeroed buffers larger than the structs declared here,
so a library with fields appended to them (the API only ever appends) can
neither write past our memory nor read garbage.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import glob
import json
import logging
import os
import threading
import time

from .errors import LibraryNotFoundError, error_for_status

c_int, c_size_t, c_char_p, c_void_p, c_float, c_bool = (
    ctypes.c_int, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p,
    ctypes.c_float, ctypes.c_bool)

LIB_NAME = "libipfs_accelerate.so"
_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
_CHECKOUT = os.path.dirname(os.path.dirname(_PKG_DIR))  # python/ipfs_accelerate -> repo

IA_OK = 0
IA_ERR_INVALID = -1
IA_ERR_UNSUPPORTED = -5
IA_ERR_NOT_FOUND = -6


# Mirrors of the C structs (include/ipfs_accelerate/*.h). check_layouts()
# compares each with the library's own layout (ia_abi_layouts) at load, so
# a field added on one side only is an error, never shifted data.

class ModelOptions(ctypes.Structure):
    _fields_ = [("size", c_size_t), ("n_threads", c_int), ("device", c_char_p),
                ("max_seq_length", c_size_t), ("batch_tokens", c_size_t),
                ("precision", c_char_p), ("pooling", c_char_p)]


class ModelInfo(ctypes.Structure):
    _fields_ = [("path", c_char_p), ("architecture", c_char_p), ("n_params", c_size_t),
                ("dim", c_int), ("n_layers", c_int), ("n_heads", c_int),
                ("hidden_size", c_int), ("intermediate_size", c_int),
                ("vocab_size", c_int), ("max_position", c_int),
                ("max_seq_length", c_size_t), ("activation", c_char_p),
                ("weights_dtype", c_char_p), ("pooling", c_char_p),
                ("normalize", c_bool), ("tokenizer", c_char_p),
                ("backend", c_char_p), ("precision", c_char_p),
                ("device", c_char_p), ("backend_reason", c_char_p)]


class EmbedStats(ctypes.Structure):
    _fields_ = [("n_tokens", c_size_t), ("n_truncated_texts", c_size_t),
                ("n_invalid_utf8", c_size_t)]


class ClassifyOptions(ctypes.Structure):
    _fields_ = [("size", c_size_t), ("max_tokens", c_size_t), ("raw_scores", c_bool)]


class EmbedOptions(ctypes.Structure):
    _fields_ = [("size", c_size_t), ("normalize", c_int), ("max_tokens", c_size_t), ("prompt_name", c_char_p),
                ("dimensions", c_int), ("chunk_tokens", c_size_t), ("chunk_overlap", c_size_t),
                ("truncate_left", c_bool)]


IA_NORMALIZE_MODEL, IA_NORMALIZE_YES, IA_NORMALIZE_NO = 0, 1, 2


class HubOptions(ctypes.Structure):
    _fields_ = [("size", c_size_t), ("endpoint", c_char_p), ("cache_dir", c_char_p),
                ("revision", c_char_p), ("token", c_char_p), ("offline", c_bool),
                ("timeout_s", ctypes.c_long), ("progress", c_void_p), ("progress_user", c_void_p)]


class Selection(ctypes.Structure):
    _fields_ = [("backend", ctypes.c_char * 32), ("device", ctypes.c_char * 48),
                ("device_name", ctypes.c_char * 256), ("precision", ctypes.c_char * 16),
                ("precision_requested", ctypes.c_char * 16), ("requested", ctypes.c_char * 64),
                ("fallback", c_bool), ("reason", ctypes.c_char * 512)]


class LmOptions(ctypes.Structure):
    _fields_ = [("size", c_size_t), ("n_threads", c_int), ("device", c_char_p), ("kv_cache", c_char_p)]


class LmInfo(ctypes.Structure):
    _fields_ = [("path", c_char_p), ("architecture", c_char_p), ("vocab_size", c_int),
                ("context_length", c_int), ("n_layers", c_int), ("n_heads", c_int),
                ("n_heads_kv", c_int), ("n_embd", c_int), ("has_chat_template", c_bool),
                ("chat_template", c_char_p), ("tokenizer", c_char_p), ("backend", c_char_p)]


# bool (*)(const char *text, size_t len, void *user): text as a pointer, read with string_at
LM_TEXT_FN = ctypes.CFUNCTYPE(c_bool, c_void_p, c_size_t, c_void_p)
LM_TOKEN_FN = ctypes.CFUNCTYPE(None, ctypes.c_int32, c_float, ctypes.POINTER(ctypes.c_int32),
                               ctypes.POINTER(c_float), c_int, c_void_p)


class LmLogitBias(ctypes.Structure):
    _fields_ = [("token", ctypes.c_int32), ("bias", c_float)]


class LmGenOptions(ctypes.Structure):
    _fields_ = [("size", c_size_t), ("max_tokens", c_int), ("temperature", c_float),
                ("top_p", c_float), ("top_k", c_int), ("min_p", c_float),
                ("repetition_penalty", c_float), ("presence_penalty", c_float),
                ("frequency_penalty", c_float), ("seed", ctypes.c_uint64),
                ("stop", ctypes.POINTER(c_char_p)), ("n_stop", c_size_t), ("ignore_eos", c_bool),
                ("on_token", LM_TOKEN_FN), ("top_logprobs", c_int),
                ("logit_bias", ctypes.POINTER(LmLogitBias)), ("n_logit_bias", c_size_t)]


class LmResult(ctypes.Structure):
    _fields_ = [("prompt_tokens", c_int), ("cached_tokens", c_int), ("completion_tokens", c_int),
                ("finish_reason", c_char_p), ("first_token_s", ctypes.c_double),
                ("total_s", ctypes.c_double)]


class ClusterOptions(ctypes.Structure):
    _fields_ = [("size", c_size_t), ("client_name", c_char_p), ("max_tasks", ctypes.c_long),
                ("max_task_bytes", ctypes.c_longlong), ("user", c_char_p), ("password", c_char_p),
                ("token", c_char_p), ("creds_file", c_char_p), ("tls_ca", c_char_p), ("tls_cert", c_char_p),
                ("tls_key", c_char_p), ("cache_bytes", ctypes.c_longlong), ("result_ttl_s", ctypes.c_double),
                ("result_max_bytes", ctypes.c_longlong), ("cache_dir", c_char_p),
                ("cache_dir_bytes", ctypes.c_longlong)]


class ClusterSubmitOptions(ctypes.Structure):
    _fields_ = [("size", c_size_t), ("dimensions", c_int), ("prompt_name", c_char_p), ("priority", c_int),
                ("wait_s", ctypes.c_double)]


IA_CLUSTER_TASK_ID_LEN = 32
IA_CLUSTER_PRIORITIES = 3

# C struct name -> mirror: every struct the library describes.
MIRRORS = {"ia_model_options": ModelOptions, "ia_model_info": ModelInfo,
           "ia_embed_options": EmbedOptions, "ia_embed_stats": EmbedStats,
           "ia_classify_options": ClassifyOptions,
           "ia_hub_options": HubOptions, "ia_selection": Selection,
           "ia_lm_options": LmOptions, "ia_lm_info": LmInfo, "ia_lm_gen_options": LmGenOptions,
           "ia_lm_logit_bias": LmLogitBias,
           "ia_lm_result": LmResult,
           "ia_cluster_options": ClusterOptions, "ia_cluster_submit_options": ClusterSubmitOptions}


def new(struct_type):
    """A zeroed struct_type (every field's default), its size field set."""
    obj = struct_type()
    if struct_type._fields_[0][0] == "size":
        obj.size = ctypes.sizeof(struct_type)
    return obj


def layout_differences(layouts: dict) -> list:
    """How the mirrors differ from the library's layouts ([] if they match)."""
    diffs = []
    for name, cls in MIRRORS.items():
        want = layouts.get(name)
        if want is None:
            diffs.append(f"{name}: unknown to the library")
            continue
        if want["size"] != ctypes.sizeof(cls):
            diffs.append(f"{name}: {want['size']} bytes in the library, {ctypes.sizeof(cls)} here")
        mine = {f[0]: getattr(cls, f[0]).offset for f in cls._fields_}
        if mine != want["fields"]:
            diffs.append(f"{name}: fields {want['fields']} in the library, {mine} here")
    return diffs


def _sanitized(build_dir):
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt"), encoding="utf-8") as f:
            return any(line.strip() == "IA_SANITIZE:BOOL=ON" for line in f)
    except OSError:
        return False


def _candidates():
    env = os.environ.get("IPFS_ACCELERATE_LIB")
    if env:
        yield os.path.join(env, LIB_NAME) if os.path.isdir(env) else env
        return  # an explicit choice is never second-guessed
    yield os.path.join(_PKG_DIR, "_lib", LIB_NAME)
    found = [os.path.join(d, LIB_NAME) for d in glob.glob(os.path.join(_CHECKOUT, "build*"))
             if os.path.exists(os.path.join(d, LIB_NAME)) and not _sanitized(d)]
    found.sort(key=os.path.getmtime, reverse=True)
    yield from found
    sys_lib = ctypes.util.find_library("ipfs_accelerate")
    if sys_lib:
        yield sys_lib


_lock = threading.Lock()
_lib = None
_lib_path = None
_load_error = None


def _declare(lib):
    def fn(name, restype, *argtypes):
        f = getattr(lib, name)
        f.restype = restype
        f.argtypes = list(argtypes)

    fn("ia_version", c_char_p)
    fn("ia_abi_layouts", c_char_p)
    fn("ia_model_resolve", c_int, c_char_p, c_void_p, ctypes.POINTER(c_void_p))
    fn("ia_strerror", c_char_p, c_int)
    fn("ia_errmsg", c_char_p)
    fn("ia_log_set", None, LOG_FN, c_void_p, c_int)
    fn("ia_model_load", c_int, c_char_p, c_void_p, ctypes.POINTER(c_void_p))
    fn("ia_model_free", None, c_void_p)
    fn("ia_model_dim", c_int, c_void_p)
    fn("ia_model_get_info", None, c_void_p, c_void_p)
    fn("ia_model_embed_opts", c_int, c_void_p, c_void_p, c_void_p, c_size_t,
       c_void_p, c_void_p, c_void_p)
    fn("ia_model_num_labels", c_int, c_void_p)
    fn("ia_model_label", c_char_p, c_void_p, c_int)
    fn("ia_model_classify", c_int, c_void_p, c_void_p, c_void_p, c_void_p, c_void_p, c_size_t,
       c_void_p, c_void_p, c_void_p)
    # Text generation (generate.h)
    fn("ia_lm_load", c_int, c_char_p, c_void_p, ctypes.POINTER(c_void_p))
    fn("ia_lm_free", None, c_void_p)
    fn("ia_lm_get_info", None, c_void_p, c_void_p)
    fn("ia_lm_tokenize", c_int, c_void_p, c_char_p, c_size_t, c_bool, c_bool,
       ctypes.POINTER(ctypes.c_int32), c_size_t, ctypes.POINTER(c_size_t))
    fn("ia_lm_detokenize", c_int, c_void_p, ctypes.POINTER(ctypes.c_int32), c_size_t, c_bool,
       ctypes.POINTER(c_void_p), ctypes.POINTER(c_size_t))
    fn("ia_lm_apply_chat_template", c_int, c_void_p, c_char_p, c_char_p, c_bool,
       ctypes.POINTER(c_void_p))
    fn("ia_lm_session_new", c_int, c_void_p, c_int, ctypes.POINTER(c_void_p))
    fn("ia_lm_session_free", None, c_void_p)
    fn("ia_lm_session_reset", None, c_void_p)
    fn("ia_lm_session_n_tokens", c_int, c_void_p)
    fn("ia_lm_session_n_ctx", c_int, c_void_p)
    fn("ia_lm_session_generate", c_int, c_void_p, c_char_p, c_void_p, LM_TEXT_FN, c_void_p,
       ctypes.POINTER(c_void_p), c_void_p)
    fn("ia_lm_session_generate_ids", c_int, c_void_p, ctypes.POINTER(ctypes.c_int32), c_size_t, c_void_p,
       LM_TEXT_FN, c_void_p, ctypes.POINTER(c_void_p), c_void_p)
    fn("ia_lm_session_chat", c_int, c_void_p, c_char_p, c_char_p, c_void_p, LM_TEXT_FN, c_void_p,
       ctypes.POINTER(c_void_p), c_void_p)
    # The cluster (cluster.h): every build has these; without libnats they
    # fail with IA_ERR_UNSUPPORTED, saying so.
    fn("ia_cluster_connect", c_int, c_char_p, c_void_p, ctypes.POINTER(c_void_p))
    fn("ia_cluster_free", None, c_void_p)
    fn("ia_cluster_submit", c_int, c_void_p, c_char_p, c_void_p, c_void_p, c_size_t, c_void_p, c_char_p)
    fn("ia_cluster_result", c_int, c_void_p, c_char_p, ctypes.c_double, ctypes.POINTER(c_void_p),
       ctypes.POINTER(c_size_t), ctypes.POINTER(c_int))
    fn("ia_cluster_status_json", c_int, c_void_p, ctypes.POINTER(c_void_p))
    # Optional: present once the hardware/config layer is in the library.
    for name in ("ia_accelerate_status_json", "ia_hardware_detect_json"):
        if hasattr(lib, name):
            fn(name, c_int, ctypes.POINTER(c_void_p))
    if hasattr(lib, "ia_accelerate_enabled"):
        fn("ia_accelerate_enabled", c_bool)
    if hasattr(lib, "ia_free"):
        fn("ia_free", None, c_void_p)
    if hasattr(lib, "ia_cid_parse"):
        fn("ia_cid_parse", c_int, c_char_p, c_void_p)


LOG_FN = ctypes.CFUNCTYPE(None, c_int, c_char_p, c_void_p)
_log = logging.getLogger("ipfs_accelerate")
_PY_LEVEL = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}


_last_msg = threading.local()


@LOG_FN
def _log_cb(level, msg, user):
    # Called from any library thread; ctypes takes the GIL for us. The same
    # message again from the same thread within a second is dropped: loading
    # a model asks for the backend selection twice (once to report it, once
    # in the loader), and a fallback warning should be read once.
    try:
        text = msg.decode("utf-8", "replace")
        now = time.monotonic()
        last = getattr(_last_msg, "v", None)
        if last and last[0] == text and now - last[1] < 1.0:
            return
        _last_msg.v = (text, now)
        _log.log(_PY_LEVEL.get(level, logging.WARNING), "%s", text)
    except Exception:  # never let an exception cross into C
        pass


def _unhook_log():
    if _lib is not None:
        _lib.ia_log_set(LOG_FN(), None, 3)


def load():
    """The loaded library (loading it on first call)."""
    global _lib, _lib_path, _load_error
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        tried = []
        for path in _candidates():
            if not os.path.exists(path) and os.sep in path:
                tried.append(f"{path} (absent)")
                continue
            try:
                lib = ctypes.CDLL(path)
                _declare(lib)
            except (OSError, AttributeError) as e:
                tried.append(f"{path} ({e})")
                continue
            diffs = layout_differences(json.loads(lib.ia_abi_layouts()))
            if diffs:
                tried.append(f"{path} (built for other struct layouts than this binding: "
                             + "; ".join(diffs) + ")")
                continue
            lib.ia_log_set(_log_cb, None, 2)  # warnings and errors to logging
            atexit.register(_unhook_log)
            _lib, _lib_path, _load_error = lib, path, None
            return lib
        if not tried:
            tried.append(f"{LIB_NAME} (not on the system library path)")
        _load_error = ("libipfs_accelerate could not be loaded; tried: " + "; ".join(tried) +
                       ". Build it (cmake --build build) or set IPFS_ACCELERATE_LIB to the "
                       "library file, or install the package with pip install ./python")
        raise LibraryNotFoundError(_load_error)


def try_load():
    """(library or None, error message or None), without raising."""
    try:
        return load(), None
    except LibraryNotFoundError as e:
        return None, str(e)


def library_path():
    load()
    return _lib_path


def set_log_level(level: int):
    """Forward library messages at or above this Python logging level."""
    lib = load()
    c_level = 0 if level <= logging.DEBUG else 1 if level <= logging.INFO else \
        2 if level <= logging.WARNING else 3
    lib.ia_log_set(_log_cb, None, c_level)


def check(status: int):
    """Raise the library's error for a failed call (status < 0)."""
    if status < 0:
        lib = load()
        detail = lib.ia_errmsg()
        msg = detail.decode("utf-8", "replace") if detail else ""
        if not msg:
            msg = lib.ia_strerror(status).decode("utf-8", "replace")
        raise error_for_status(status, msg)
    return status


def take_string(ptr: c_void_p) -> str:
    """Copy a library-allocated string and free it with ia_free."""
    lib = load()
    try:
        return ctypes.string_at(ptr.value).decode("utf-8") if ptr.value else ""
    finally:
        if ptr.value:
            lib.ia_free(ptr)


def has(name: str) -> bool:
    lib, _ = try_load()
    return lib is not None and hasattr(lib, name)


def call_json(name: str) -> str:
    """Call an `ia_status f(char **out)` function and return its text."""
    lib = load()
    out = c_void_p()
    check(getattr(lib, name)(ctypes.byref(out)))
    return take_string(out)
