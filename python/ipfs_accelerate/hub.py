"""Model references: a folder path, a Hugging Face id, or ``ipfs://CID``.

* A path (anything that exists as a folder, or that starts with ``/``,
  ``./``, ``../`` or ``~``) is used as is.
* A Hugging Face id (``org/name``, ``name``, optionally ``hf:`` in front and
  ``@revision`` behind) is looked up in the Hugging Face hub cache that
  Python tools (transformers, sentence-transformers, huggingface_hub)
  share: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
  ``~/.cache/huggingface/hub``; the folder is
  ``models--org--name/snapshots/<commit>/`` with the commit from
  ``refs/<revision>`` (default ``main``). A bare ``name`` that is not cached
  is also tried as ``sentence-transformers/name``, as sentence-transformers
  does. An id that is not in the cache is downloaded by the library's hub
  client (``ia_hub_snapshot``: every file verified against the hub's hash,
  into the same cache; ``HF_ENDPOINT``, ``HF_TOKEN`` and ``HF_HUB_OFFLINE=1``
  as huggingface_hub reads them). A library without a hub client, or a hub
  that cannot be reached, raises :class:`ModelNotFoundError` or
  :class:`Error` naming the id.
* ``ipfs://CID[/path]`` (or ``/ipfs/CID[/path]``) is checked with the
  library's CID parser, then fetched through the library's content store
  (local blockstore, a kubo node, trustless gateways; every block verified)
  and written once under ``$IPFS_ACCELERATE_HOME/materialized/``.
"""

from __future__ import annotations

import ctypes
import os
import re

from . import _lib
from .errors import InvalidInputError, ModelNotFoundError, UnsupportedError, error_for_status

_HF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")


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


def _snapshot(cache: str, repo_id: str, revision: str | None):
    """The snapshot folder of repo_id in cache, or None."""
    repo = os.path.join(cache, "models--" + repo_id.replace("/", "--"))
    snaps = os.path.join(repo, "snapshots")
    if not os.path.isdir(snaps):
        return None
    rev = revision or "main"
    commit = rev if _HEX40.match(rev) else None
    if commit is None:
        try:
            with open(os.path.join(repo, "refs", rev), encoding="utf-8") as f:
                commit = f.read().strip()
        except OSError:
            commit = None
    if commit and os.path.isdir(os.path.join(snaps, commit)):
        return os.path.join(snaps, commit)
    if revision is None:
        # No refs/main (e.g. a cache filled by hand): the one snapshot there is.
        entries = [e for e in os.listdir(snaps) if os.path.isdir(os.path.join(snaps, e))]
        if len(entries) == 1:
            return os.path.join(snaps, entries[0])
    return None


def _looks_like_path(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~")) or ref in (".", "..") or os.sep + os.sep in ref


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


def _fetched_path(lib, st, out, what):
    """The folder a library fetch returned, or the exception its status means."""
    if st < 0:
        detail = lib.ia_errmsg().decode("utf-8", "replace") or lib.ia_strerror(st).decode()
        msg = f"{what}: {detail}"
        if st == _lib.IA_ERR_NOT_FOUND:
            raise ModelNotFoundError(msg, st)
        raise error_for_status(st, msg)
    return _lib.take_string(out)


def _ipfs_materialize(ref):
    """Fetch an IPFS reference through the library's content store."""
    lib = _lib.load()
    fn = lib.ia_ipfs_materialize_ref
    fn.restype, fn.argtypes = ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    out = ctypes.c_void_p()
    st = fn(ref.encode("utf-8"), ctypes.byref(out))
    return _fetched_path(lib, st, out, f"model '{ref}' could not be fetched")


class _HubOptions(ctypes.Structure):
    _fields_ = [("endpoint", ctypes.c_char_p), ("cache_dir", ctypes.c_char_p),
                ("revision", ctypes.c_char_p), ("token", ctypes.c_char_p),
                ("offline", ctypes.c_bool), ("timeout_s", ctypes.c_long),
                ("progress", ctypes.c_void_p), ("progress_user", ctypes.c_void_p)]


def _hub_snapshot(ref, repo_id, revision, cache_dir):
    """Download (verified, into the shared cache) through the library's hub
    client; HF_HUB_OFFLINE=1 keeps it to the cache, HF_ENDPOINT picks the hub."""
    lib = _lib.load()
    fn = lib.ia_hub_snapshot
    fn.restype, fn.argtypes = ctypes.c_int, [ctypes.c_char_p, ctypes.c_void_p,
                                             ctypes.POINTER(ctypes.c_void_p)]
    opts = _lib.padded(_HubOptions)
    opts.cache_dir = os.path.expanduser(cache_dir).encode() if cache_dir else None
    opts.revision = revision.encode() if revision else None
    out = ctypes.c_void_p()
    st = fn(repo_id.encode("utf-8"), ctypes.byref(opts), ctypes.byref(out))
    return _fetched_path(lib, st, out, f"model '{ref}' is not a folder and could not be fetched")


def resolve(ref, revision: str | None = None, cache_dir: str | None = None) -> str:
    """The local model folder that a model reference names.

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
    rest = parse_ipfs(ref)
    if rest is not None:
        _check_cid(ref, rest)
        return _ipfs_materialize(ref)
    path = os.path.expanduser(ref)
    if os.path.isdir(path):
        return os.path.abspath(path)
    if _looks_like_path(ref) or os.path.exists(path):
        what = "is not a folder" if os.path.exists(path) else "does not exist"
        raise ModelNotFoundError(f"model folder '{ref}' {what}")
    repo_id = ref[3:] if ref.startswith("hf:") else ref
    if "@" in repo_id and revision is None:
        repo_id, revision = repo_id.split("@", 1)
    if not _HF_ID.match(repo_id):
        raise ModelNotFoundError(f"model '{ref}' is neither a folder nor a Hugging Face id (org/name)")
    cache = os.path.expanduser(cache_dir) if cache_dir else hf_hub_cache()
    tried = [repo_id]
    snap = _snapshot(cache, repo_id, revision)
    if snap is None and "/" not in repo_id:
        tried.append("sentence-transformers/" + repo_id)
        snap = _snapshot(cache, tried[-1], revision)
    if snap is None and _lib.has("ia_hub_snapshot"):
        return _hub_snapshot(ref, repo_id, revision, cache_dir)
    if snap is None:
        where = ", ".join(os.path.join(cache, "models--" + t.replace("/", "--")) for t in tried)
        rev = f" at revision '{revision}'" if revision else ""
        raise ModelNotFoundError(
            f"model '{ref}'{rev} is not a folder and is not in the Hugging Face cache (looked in "
            f"{where}); this binding does not download: fetch it first (for example with "
            f"huggingface-cli download {tried[-1]}) or pass the model folder's path")
    return snap
