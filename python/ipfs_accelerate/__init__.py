"""ipfs_accelerate: Python binding of libipfs_accelerate (ctypes).

Sentence embeddings with Hugging Face BERT-family models, computed by the C
library, with the integration API ipfs_datasets_py / ipfs_accelerate_py
users already call and a sentence-transformers-like ``Model``::

    import ipfs_accelerate as ia
    model = ia.Model("sentence-transformers/all-MiniLM-L6-v2")   # or a folder path
    vectors = model.encode(["What is Deep Learning?", "hello world"])  # (2, 384) float32

    ia.get_accelerate_status()      # {"available": ..., "enabled": ..., "env_disabled": ...}
    ia.AccelerateManager().run_inference("sentence-transformers/all-MiniLM-L6-v2", "hello")

Text generation with a decoder GGUF (``Model`` loads one when given a
GGUF file; ``LanguageModel`` is the class itself)::

    lm = ia.Model("SmolLM2-135M-Instruct.Q4_1.gguf")
    lm.generate("The capital of France is", max_tokens=16)      # greedy by default
    lm.chat([{"role": "user", "content": "What is 2+2?"}], temperature=0)
    for piece in lm.chat(messages, stream=True): print(piece, end="")

The library is found as described in ipfs_accelerate._lib (IPFS_ACCELERATE_LIB,
the installed package, a build tree, the system). See docs/python.md.
"""

from .accelerate_integration import (HAVE_ACCELERATE_MANAGER, AccelerateManager,
                                     ComputeBackend, DistributedComputeCoordinator,
                                     HardwareType, detect_available_hardware,
                                     get_compute_backend)
from .embeddings import (MultiModelEmbeddingGenerator, chunk_text, clear_model_cache,
                         create_embeddings)
from .errors import (BackendError, Error, FormatError, InvalidInputError, LibraryNotFoundError,
                     ModelNotFoundError, NotFoundError, QueueFullError, TimedOutError,
                     UnsupportedError)
from .generate import ChatSession, GeneratedText, LanguageModel, TextStream
from .hub import hf_hub_cache, resolve as resolve_model
from .model import DEFAULT_MODEL, Model
from .status import (detect_hardware, get_accelerate_status, is_accelerate_available,
                     library_version, select_backend)
from ._lib import library_path, set_log_level

SentenceTransformer = Model  # for code that names the sentence-transformers class

__version__ = "0.1.0"

__all__ = [
    "Model", "SentenceTransformer", "DEFAULT_MODEL",
    "LanguageModel", "ChatSession", "GeneratedText", "TextStream",
    "is_accelerate_available", "get_accelerate_status", "detect_hardware", "select_backend",
    "HardwareType", "ComputeBackend", "get_compute_backend", "detect_available_hardware",
    "AccelerateManager", "DistributedComputeCoordinator", "HAVE_ACCELERATE_MANAGER",
    "create_embeddings", "MultiModelEmbeddingGenerator", "chunk_text", "clear_model_cache",
    "resolve_model", "hf_hub_cache", "library_version", "library_path", "set_log_level",
    "Error", "InvalidInputError", "FormatError", "NotFoundError", "ModelNotFoundError",
    "UnsupportedError", "BackendError", "LibraryNotFoundError", "TimedOutError", "QueueFullError",
]
