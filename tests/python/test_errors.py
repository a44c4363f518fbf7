"""Bad model names and bad inputs: clear exceptions carrying the library's
message, never a crash or a made-up result."""

import os
import shutil
import subprocess

import pytest

import ipfs_accelerate as ia


def test_missing_folder():
    with pytest.raises(ia.ModelNotFoundError, match="does-not-exist.*does not exist"):
        ia.Model("./does-not-exist")
    with pytest.raises(FileNotFoundError):  # a built-in base class too
        ia.Model("/nonexistent/model/dir")


def test_uncached_hf_id(hf_cache):
    with pytest.raises(ia.ModelNotFoundError) as e:
        ia.Model("no-such-org/no-such-model")
    msg = str(e.value)
    assert "no-such-org/no-such-model" in msg and "models--no-such-org--no-such-model" in msg
    assert hf_cache.hub in msg


def test_malformed_names(hf_cache):
    for bad in ("a/b/c", "org/na me", "-x/y"):
        with pytest.raises(ia.ModelNotFoundError, match="neither a folder, a Hugging Face id"):
            ia.Model(bad)
    with pytest.raises(ia.InvalidInputError, match="empty"):
        ia.Model("")
    with pytest.raises(TypeError, match="model name"):
        ia.Model(42)


def test_ipfs_refs(tmp_path, monkeypatch, tiny):
    with pytest.raises(ia.InvalidInputError, match="not a valid CID"):
        ia.Model("ipfs://not-a-cid!")
    with pytest.raises(ia.InvalidInputError, match="no CID"):
        ia.Model("ipfs://")
    # An empty store with no gateway: not found, the CID named.
    monkeypatch.setenv("IPFS_ACCELERATE_HOME", str(tmp_path / "store"))
    monkeypatch.setenv("IPFS_ACCELERATE_IPFS_GATEWAYS", "")
    monkeypatch.setenv("IPFS_ACCELERATE_IPFS_LOCAL_NODE", "")
    cid = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
    with pytest.raises(ia.ModelNotFoundError, match=cid):
        ia.Model("ipfs://" + cid)
    # A model added to the store loads by CID and embeds as its folder does.
    cli = os.environ["IA_CLI"]
    added = subprocess.run([cli, "model", "add", str(tiny)], capture_output=True, text=True, check=True,
                           env={**os.environ, "IPFS_ACCELERATE_HOME": str(tmp_path / "store")}).stdout.strip()
    with ia.Model("ipfs://" + added) as by_cid, ia.Model(str(tiny)) as by_path:
        a, b = by_cid.encode(["content addressed"]), by_path.encode(["content addressed"])
        assert abs(a - b).max() < 1e-6


def test_library_errors_carry_the_message(tmp_path, tiny):
    # A folder that is not a model: the library names the file it lacks.
    with pytest.raises(ia.NotFoundError, match="config.json"):
        ia.Model(str(tmp_path))
    # A broken config.json: a FormatError naming the file.
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    with pytest.raises(ia.Error, match="config.json") as e:
        ia.Model(str(bad))
    assert e.value.status is not None and e.value.status < 0
    # A truncated weights file.
    trunc = tmp_path / "trunc"
    shutil.copytree(tiny, trunc)
    weights = trunc / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:weights.stat().st_size // 2])
    with pytest.raises(ia.FormatError, match="safetensors"):
        ia.Model(str(trunc))


def test_bad_options(tiny):
    with pytest.raises(ia.InvalidInputError, match="n_threads"):
        ia.Model(tiny, n_threads=-1)
    with pytest.raises(ia.InvalidInputError, match="max_seq_length"):
        ia.Model(tiny, max_seq_length=0)
    with pytest.raises((ia.InvalidInputError, ia.UnsupportedError), match="no-such-device"):
        ia.Model(tiny, device="no-such-device")


def test_bad_inputs(tiny_model):
    m = tiny_model
    with pytest.raises(TypeError, match="text 1 is a int"):
        m.encode(["ok", 3])
    with pytest.raises(TypeError, match="text 0 is a NoneType"):
        m.encode([None])
    with pytest.raises(TypeError, match="not int"):
        m.encode(7)
    with pytest.raises(TypeError, match="single text"):
        m.embed("not a list")
    with pytest.raises(ia.InvalidInputError, match="batch_size"):
        m.encode(["a"], batch_size=0)
    with pytest.raises(ia.InvalidInputError, match="precision"):
        m.encode(["a"], precision="int4")
    with pytest.raises(ia.InvalidInputError, match="convert_to_tensor"):
        m.encode(["a"], convert_to_tensor=True)
    with pytest.raises(ia.InvalidInputError, match="output_value"):
        m.encode(["a"], output_value="token_embeddings")
    # Odd but valid text embeds: empty, NUL bytes, lone surrogates, invalid UTF-8 bytes.
    stats = {}
    v = m.embed(["", "nul\x00inside", "lone \ud800 surrogate", b"bad \xff\xfe bytes"], stats=stats)
    assert v.shape == (4, 32) and stats["n_invalid_utf8"] >= 2


def test_unsupported_task(tiny):
    with ia.AccelerateManager() as mgr:
        for task in ("text-generation", "image-classification", "", 5):
            with pytest.raises(ia.UnsupportedError, match="task_type"):
                mgr.run_inference(tiny, "hello", task_type=task)
        with pytest.raises(ia.InvalidInputError, match="input_data is None"):
            mgr.run_inference(tiny, None)
        with pytest.raises(ia.InvalidInputError, match="temperature"):
            mgr.run_inference(tiny, "x", temperature=0.7)
        with pytest.raises(ia.ModelNotFoundError):
            mgr.run_inference("./missing-model", "x")
    with pytest.raises(ia.InvalidInputError, match="nats_url"):
        ia.AccelerateManager(enable_distributed=True)
    with pytest.raises(ia.InvalidInputError, match="unknown hardware"):
        ia.get_compute_backend("tpu")


def test_closed_model(tiny):
    m = ia.Model(tiny)
    m.close()
    m.close()  # idempotent
    assert m.closed
    with pytest.raises(ia.Error, match="closed"):
        m.encode("x")
    with ia.Model(tiny) as m2:
        assert m2.encode("x").shape == (32,)
    assert m2.closed
