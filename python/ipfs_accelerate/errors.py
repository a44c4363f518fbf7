"""Exceptions raised by the binding.

Every failure of the C library becomes an :class:`Error` (or one of its
subclasses, chosen by the library's ``ia_status``) whose message is the
library's own detail (``ia_errmsg()``), which names the file, tensor, field
or input at fault. The subclasses also derive from the matching built-in
exception so that ordinary ``except ValueError`` / ``except
FileNotFoundError`` code keeps working.
"""

from __future__ import annotations


class Error(RuntimeError):
    """A failure reported by libipfs_accelerate (or by the binding)."""

    #: the library's ia_status code (negative), or None for binding errors
    status = None

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status


class InvalidInputError(Error, ValueError):
    """A bad argument or malformed input (IA_ERR_INVALID)."""


class FormatError(Error, ValueError):
    """Bytes from outside do not follow their format (IA_ERR_FORMAT)."""


class NotFoundError(Error, FileNotFoundError):
    """A named model, file, tensor or block is absent (IA_ERR_NOT_FOUND)."""


class ModelNotFoundError(NotFoundError):
    """A model name or path that resolves to no model folder."""


class UnsupportedError(Error, NotImplementedError):
    """Valid, but not something this build implements (IA_ERR_UNSUPPORTED)."""


class BackendError(Error):
    """The compute backend failed or is unusable (IA_ERR_BACKEND)."""


class TimedOutError(Error, TimeoutError):
    """Waited as long as asked and the thing did not come (IA_ERR_TIMEOUT):
    a cluster task's result, a download."""


class QueueFullError(Error):
    """A bounded queue is full (IA_ERR_BUSY): retry later. The cluster's
    task queue after the submit's ``queue_wait``; an HTTP front-end answers
    429 Too Many Requests for it."""


class LibraryNotFoundError(Error, ImportError):
    """libipfs_accelerate could not be found or loaded."""


# ia_status -> exception class
_BY_STATUS = {
    -1: InvalidInputError,
    -2: MemoryError,
    -3: Error,  # IA_ERR_IO
    -4: FormatError,
    -5: UnsupportedError,
    -6: NotFoundError,
    -7: Error,  # IA_ERR_VERIFY
    -8: TimedOutError,
    -9: BackendError,
    -10: QueueFullError,
}


def error_for_status(status: int, message: str) -> BaseException:
    """The exception for a failed library call."""
    cls = _BY_STATUS.get(status, Error)
    if cls is MemoryError:
        return MemoryError(message)
    return cls(message, status)
