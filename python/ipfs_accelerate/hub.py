"""Model references: a folder path, a Hugging Face id, or ``ipfs://CID``,
resolved by the library (``ia_model_resolve``), as ``ia_model_load`` and the
CLI resolve them:

* A path (anything that exists as a folder, or that starts with ``/``,
  ``./``, ``../`` or ``~``) is used as is.
* A Hugging Face id (``org/name``, ``name``, optionally ``hf:`` in front and
  ``@revision`` behind) is looked up in the Hugging Face hub cache that
  Python tools (transformers, sentence-transformers, huggingface_hub)
  share: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
  ``~/.cache/huggingface/hub``; the folder is
  ``models--org--name/snapshots/<commit>/`` with the commit from
  ``refs/<revision>`` (default ``main``). A bare ``name`` is also tried as
  ``sentence-transformers/name``, as sentence-transformers does. An id that
  is not in the cache is downloaded by the library's hub client (every file
  verified against the hub's hash, into the same cache; ``HF_ENDPOINT``,
  ``HF_TOKEN`` and ``HF_HUB_OFFLINE=1`` as huggingface_hub reads them). A
  hub that cannot be reached raises :class:`ModelNotFoundError` or
  :class:`Error` naming the id.
* ``ipfs://CID[/path]`` (or ``/ipfs/CID[/path]``) is checked with the
  library's CID parser, then fetched through the library's content store
  (local blockstore, a kubo node, trustless gateways; every block verified)
  and written once under ``$IPFS_ACCELERATE_HOME/materialized/``.
"""

from __future__ import annotations

import ctypes
import os

from . import _lib
from .errors import InvalidInputError, ModelNotFoundError, error_for_status


def hf_hub_cache() -> str:
    """The Hugging Face hub cache folder, as huggingface_hub computes it."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return os.path.expanduser(os.environ[var])
    home = os.environ.get("HF_HOME")
    if not home:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        home = os.path.join(xdg, "huggingface")
    return os.path.join(os.path.expanduser(home), "hub")


def parse_ipfs(ref: str):
    """The CID text of an ipfs:// or /ipfs/ reference, or None."""
    for prefix in ("ipfs://", "/ipfs/"):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return None


def _check_cid(ref: str, rest: str):
    cid, _, sub = rest.partition("/")
    if not cid:
        raise InvalidInputError(f"model '{ref}': no CID after the ipfs:// prefix")
    lib, err = _lib.try_load()
    if lib is not None and hasattr(lib, "ia_cid_parse"):
        out = ctypes.create_string_buffer(512)  # an ia_cid value, with room
        st = lib.ia_cid_parse(cid.encode("utf-8"), out)
        if st < 0:
            detail = lib.ia_errmsg().decode("utf-8", "replace")
            raise InvalidInputError(f"model '{ref}': not a valid CID: {detail}", st)
    return cid, sub


def _fetched_path(lib, st, out):
    """The folder a library fetch returned, or the exception its status means."""
    if st < 0:
        msg = lib.ia_errmsg().decode("utf-8", "replace") or lib.ia_strerror(st).decode()
        if st == _lib.IA_ERR_NOT_FOUND:
            raise ModelNotFoundError(msg, st)
        raise error_for_status(st, msg)
    return _lib.take_string(out)


def resolve(ref, revision: str | None = None, cache_dir: str | None = None,
            allow_file: bool = False) -> str:
    """The local model folder that a model reference names, resolved by the
    library (ia_model_resolve) exactly as ia_model_load resolves it.
    ``allow_file``: an existing file is taken too, as ia_lm_load takes a
    GGUF file (made absolute).

    ``cache_dir`` replaces the Hugging Face hub cache folder (as
    transformers' ``cache_dir`` does). Raises ModelNotFoundError (missing folder or uncached id),
    InvalidInputError (malformed reference) or another Error (a download
    that failed or did not verify).
    """
    if isinstance(ref, os.PathLike):
        ref = os.fspath(ref)
    if not isinstance(ref, str):
        raise TypeError(f"model name must be a str or path, not {type(ref).__name__}")
    if not ref.strip():
        raise InvalidInputError("model name is empty")
    if allow_file and os.path.isfile(os.path.expanduser(ref)):
        return os.path.realpath(os.path.expanduser(ref))
    if allow_file and ref.endswith(".gguf") and parse_ipfs(ref) is None:  # a file, never a hub id
        raise ModelNotFoundError(f"model file or folder '{ref}' does not exist")
    rest = parse_ipfs(ref)
    if rest is not None:
        _check_cid(ref, rest)
    lib = _lib.load()
    opts = _lib.new(_lib.HubOptions)
    opts.cache_dir = os.path.expanduser(cache_dir).encode() if cache_dir else None
    opts.revision = revision.encode() if revision else None
    out = ctypes.c_void_p()
    st = lib.ia_model_resolve(ref.encode("utf-8"), ctypes.byref(opts), ctypes.byref(out))
    return _fetched_path(lib, st, out)
