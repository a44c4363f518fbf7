"""The ipfs_datasets_py ``accelerate_integration`` API, backed by libipfs_accelerate.

Code written against ``ipfs_datasets_py.accelerate_integration`` runs on this
package by swapping the import::

    from ipfs_accelerate.accelerate_integration import (
        AccelerateManager, is_accelerate_available, get_accelerate_status,
        get_compute_backend, HardwareType)

Differences, all on the side of saying what really happens: inference
computes real embeddings (no placeholders) and failures raise exceptions.
``DistributedComputeCoordinator`` submits to workers on NATS JetStream
(``ipfs-accelerate worker``; docs/distributed.md).
"""

from ..status import get_accelerate_status, is_accelerate_available
from .compute_backend import (ComputeBackend, HardwareType, detect_available_hardware,
                              get_compute_backend)
from .manager import AccelerateManager
from ..distributed import DistributedComputeCoordinator

__version__ = "0.1.0"

HAVE_ACCELERATE_MANAGER = True

__all__ = [
    "is_accelerate_available", "get_accelerate_status", "AccelerateManager",
    "ComputeBackend", "get_compute_backend", "HardwareType", "detect_available_hardware",
    "DistributedComputeCoordinator", "HAVE_ACCELERATE_MANAGER",
]
