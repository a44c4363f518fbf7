"""create_embeddings, MultiModelEmbeddingGenerator with real chunking, and
model resolution through the Hugging Face cache layout."""

import os

import numpy as np
import pytest

import ipfs_accelerate as ia
from ipfs_accelerate.embeddings import chunk_text


def test_chunk_text_properties():
    words = [f"w{i:03d}" for i in range(300)]  # 4 characters each
    text = "  ".join(words[:100]) + "\n\n" + " ".join(words[100:])
    chunks = chunk_text(text, chunk_size=60, overlap=3)
    assert all(len(c) <= 60 for c in chunks)
    assert all(c == c.strip() and c in text for c in chunks)  # slices of the text
    seen = [w for c in chunks for w in c.split()]
    assert set(seen) == set(words)  # every word is in some chunk
    for a, b in zip(chunks, chunks[1:]):  # each chunk starts 3 words back
        assert a.split()[-3:] == b.split()[:3]
    assert chunk_text("", 10, 2) == [""] and chunk_text("   \n", 10, 2) == [""]
    assert chunk_text("short text", 512, 50) == ["short text"]
    long_word = "x" * 25
    assert chunk_text(long_word, 10, 0) == ["x" * 10, "x" * 10, "x" * 5]
    # overlap larger than a chunk still advances
    assert len(chunk_text(" ".join(words[:50]), 20, 100)) >= 12
    with pytest.raises(ia.InvalidInputError, match="chunk_size"):
        chunk_text("x", 0, 0)
    with pytest.raises(ia.InvalidInputError, match="overlap"):
        chunk_text("x", 10, -1)


def test_generator_vectors_are_the_chunks_vectors(synth_dir, sentences):
    tiny = os.path.join(synth_dir, "tiny-f32")
    cls = os.path.join(synth_dir, "tiny-bf16-prefix-sharded-cls")
    doc = " ".join(s for s in sentences[60:120] if s.strip())
    with ia.MultiModelEmbeddingGenerator([tiny, {"name": cls, "dimension": 32}],
                                         enable_model_fusion=True) as gen:
        res = gen.generate_embeddings(doc, chunk_size=300, overlap=10, batch_size=4)
        chunks = chunk_text(doc, 300, 10)
        assert set(res) == {tiny, cls, "fused"}
        assert len(res[tiny]) == len(chunks) > 3
        with ia.Model(tiny) as m:
            want = m.embed(chunks, normalize=True)
        np.testing.assert_allclose(np.stack(res[tiny]), want, atol=1e-6)
        fused = np.stack(res["fused"])
        assert fused.shape == (len(chunks), 64)
        np.testing.assert_allclose(np.linalg.norm(fused, axis=1), 1.0, atol=1e-5)
        # a list of texts: one list of chunk vectors per text
        multi = gen.generate_embeddings([doc, "tiny text"], model_names=[tiny], chunk_size=300,
                                        overlap=10)
        assert len(multi[tiny]) == 2 and len(multi[tiny][0]) == len(chunks)
        assert len(multi[tiny][1]) == 1
        raw = gen.generate_embeddings("tiny text", model_names=[tiny], normalize=False)
        assert abs(np.linalg.norm(raw[tiny][0]) - 1.0) > 1e-3  # raw pooled vector
        with pytest.raises(ia.InvalidInputError, match="not loaded"):
            gen.generate_embeddings("x", model_names=["other"])
        assert gen.get_stats()["total_chunks_processed"] > 0
    with pytest.raises(ia.InvalidInputError, match="dimension 32"):
        ia.MultiModelEmbeddingGenerator([{"name": tiny, "dimension": 384}])


def test_create_embeddings(tiny, tiny_model, monkeypatch):
    texts = ["one text", "two texts"]
    want = tiny_model.encode(texts)
    np.testing.assert_allclose(ia.create_embeddings(texts, model_name=tiny), want, atol=1e-6)
    np.testing.assert_allclose(ia.create_embeddings("one text", model_name=tiny), want[0],
                               atol=1e-6)
    monkeypatch.setenv("IPFS_ACCELERATE_ENABLED", "0")
    np.testing.assert_allclose(ia.create_embeddings(texts, model_name=tiny, use_accelerate=True),
                               want, atol=1e-6)
    ia.clear_model_cache()


def test_hf_cache_resolution(hf_cache, tiny, monkeypatch):
    snap = hf_cache.add("acme/tiny-embedder", tiny)
    assert ia.resolve_model("acme/tiny-embedder") == snap
    assert ia.resolve_model("hf:acme/tiny-embedder") == snap
    with ia.Model("acme/tiny-embedder") as m:
        assert m.path == snap and m.dim == 32
    # revisions: refs/<name> or a commit hash
    other = hf_cache.add("acme/tiny-embedder", tiny, commit="f" * 40, ref="v2")
    assert ia.resolve_model("acme/tiny-embedder@v2") == other
    assert ia.resolve_model("acme/tiny-embedder", revision="f" * 40) == other
    assert ia.resolve_model("acme/tiny-embedder") == snap  # main still
    with pytest.raises(ia.ModelNotFoundError, match="v3"):
        ia.resolve_model("acme/tiny-embedder@v3")
    # a bare name is also tried under sentence-transformers/
    st = hf_cache.add("sentence-transformers/tiny-st", tiny)
    assert ia.resolve_model("tiny-st") == st
    # HF_HUB_CACHE wins over HF_HOME; cache_dir wins over both
    alt = os.path.join(os.path.dirname(hf_cache.hub), "alt")
    from conftest import make_hf_cache
    alt_snap = make_hf_cache(alt, "acme/tiny-embedder", tiny, commit="a" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", alt)
    assert ia.resolve_model("acme/tiny-embedder") == alt_snap
    assert ia.resolve_model("acme/tiny-embedder", cache_dir=hf_cache.hub) == snap
    # a path that exists always wins over an id
    assert ia.resolve_model(tiny) == os.path.abspath(tiny)
