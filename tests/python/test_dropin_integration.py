"""Drop-in check: a test module in the shape ipfs_datasets_py's users write
against ``ipfs_datasets_py.accelerate_integration``, with only the import
names swapped to ``ipfs_accelerate``. Nothing else here knows it runs on
the C library. (conftest.py gives it a Hugging Face cache holding
sentence-transformers/all-MiniLM-L6-v2, as a user's machine has.)

Where the original skips when an export is None, this one fails: every
name is ours to provide. DistributedComputeCoordinator is imported, as
users' modules do; test_distributed.py runs it against workers.
"""

import os

import pytest

from ipfs_accelerate.accelerate_integration import (
    HAVE_ACCELERATE_MANAGER,
    AccelerateManager,
    ComputeBackend,
    DistributedComputeCoordinator,
    get_accelerate_status,
    get_compute_backend,
    is_accelerate_available,
)

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class TestIntegration:
    def test_module_imports(self):
        from ipfs_accelerate import accelerate_integration
        assert accelerate_integration is not None
        assert isinstance(HAVE_ACCELERATE_MANAGER, bool)

    def test_availability_is_bool(self):
        assert isinstance(is_accelerate_available(), bool)

    def test_status_keys(self):
        status = get_accelerate_status()
        assert isinstance(status, dict)
        for key in ("available", "enabled", "env_disabled"):
            assert key in status
        assert isinstance(status["available"], bool)
        assert isinstance(status["enabled"], bool)

    def test_manager(self):
        assert AccelerateManager is not None, "AccelerateManager not available"
        manager = AccelerateManager()
        assert hasattr(manager, "is_available") and hasattr(manager, "run_inference")
        status = manager.get_status()
        assert isinstance(status, dict)
        assert "accelerate_available" in status
        assert isinstance(status["available_hardware"], list)

    def test_manager_embedding_inference(self):
        assert AccelerateManager is not None, "AccelerateManager not available"
        manager = AccelerateManager()
        result = manager.run_inference(model_name=MODEL, input_data="test input",
                                       task_type="embedding")
        assert isinstance(result, dict)
        assert result["status"] == "success"
        assert "backend" in result
        assert len(result["embeddings"]) == 384

    def test_batch_embeddings(self):
        manager = AccelerateManager()
        result = manager.run_inference(MODEL, ["first text", "second text"], task_type="embedding")
        assert len(result["embeddings"]) == 2
        assert all(len(row) == 384 for row in result["embeddings"])

    def test_compute_backend(self):
        assert ComputeBackend is not None, "ComputeBackend not available"
        from ipfs_accelerate.accelerate_integration.compute_backend import HardwareType
        backend = ComputeBackend(HardwareType.CPU, device_id=0)
        assert backend.hardware_type == HardwareType.CPU

    def test_auto_backend(self):
        assert get_compute_backend is not None, "get_compute_backend not available"
        backend = get_compute_backend()
        assert backend is not None and hasattr(backend, "hardware_type")
        assert backend.is_available()

    def test_backend_inference(self):
        backend = get_compute_backend()
        model = backend.load_model(MODEL)
        out = backend.run_inference(model, ["hello world"])
        assert len(out) == 1 and len(out[0]) == 384


class TestDisabled:
    @pytest.fixture(autouse=True)
    def disable(self, monkeypatch):
        monkeypatch.setenv("IPFS_ACCELERATE_ENABLED", "0")

    def test_status_reports_disabled(self):
        assert get_accelerate_status()["env_disabled"] is True

    def test_availability_still_bool(self):
        assert isinstance(is_accelerate_available(), bool)


class TestHardware:
    def test_detect_returns_list(self):
        from ipfs_accelerate.accelerate_integration.compute_backend import (
            detect_available_hardware)
        hardware = detect_available_hardware()
        assert isinstance(hardware, list) and len(hardware) >= 1

    def test_cpu_always_there(self):
        from ipfs_accelerate.accelerate_integration.compute_backend import (
            HardwareType, detect_available_hardware)
        assert HardwareType.CPU in detect_available_hardware()


class TestEmbeddingsHelpers:
    def test_create_embeddings(self):
        from ipfs_accelerate import create_embeddings
        emb = create_embeddings(texts=["text1", "text2"], model_name=MODEL,
                                use_accelerate=is_accelerate_available())
        assert len(emb) == 2 and len(emb[0]) == 384

    def test_multi_model_generator(self):
        from ipfs_accelerate import MultiModelEmbeddingGenerator
        gen = MultiModelEmbeddingGenerator()
        text = ("Content addressing identifies data by its hash. " * 40).strip()
        result = gen.generate_embeddings(text, chunk_size=200, overlap=5)
        assert list(result) == [MODEL]
        assert len(result[MODEL]) > 1 and all(len(v) == 384 for v in result[MODEL])
        assert gen.get_model_dimensions() == {MODEL: 384}
