"""The binding's embeddings equal sentence-transformers' (committed goldens)
and the CLI's, on the real all-MiniLM-L6-v2 and the synthetic models."""

import os
import subprocess

import numpy as np
import pytest

import ipfs_accelerate as ia
from conftest import ROOT, TEST_DATA, cosines

# The bounds README.md states (and tests/model/test_model.c holds the C API to).
MIN_COS = 0.999999
MAX_ABS = 1e-6  # times max(1, |v|)


def max_abs_err(got, want):
    scale = np.maximum(1.0, np.linalg.norm(want.astype(np.float64), axis=1))
    return np.abs(got.astype(np.float64) - want).max(axis=1) / scale


def golden(name):
    return np.load(os.path.join(TEST_DATA, "golden", name + ".npy"))


def test_real_model_equals_sentence_transformers(real_model, sentences):
    want = golden("all-MiniLM-L6-v2")
    got = real_model.encode(sentences, batch_size=32)
    assert got.shape == want.shape == (len(sentences), 384)
    assert got.dtype == np.float32
    cos = cosines(got, want)
    worst = int(np.argmin(cos))
    assert cos.min() >= MIN_COS, f"sentence {worst} {sentences[worst][:60]!r}: cosine {cos[worst]}"
    err = max_abs_err(got, want)
    assert err.max() <= MAX_ABS, f"sentence {int(np.argmax(err))}: max abs error {err.max():.2e}"
    # all-MiniLM-L6-v2 ends in a Normalize module: unit vectors, as in sentence-transformers
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", ["tiny-f32", "tiny-bf16-prefix-sharded-cls", "tiny-f16-max-relu"])
def test_synthetic_models_equal_sentence_transformers(synth_dir, sentences, name):
    want = golden(name)
    with ia.Model(os.path.join(synth_dir, name)) as m:
        got = m.encode(sentences[:len(want)])
    cos = cosines(got, want)
    assert cos.min() >= MIN_COS, (name, float(cos.min()))
    assert max_abs_err(got, want).max() <= MAX_ABS, (name, float(max_abs_err(got, want).max()))
    # magnitudes too (tiny-f16-max-relu has no Normalize module)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), np.linalg.norm(want, axis=1), rtol=1e-4)


def test_grouping_does_not_change_results(real_model, sentences):
    texts = sentences[:16]
    whole = real_model.encode(texts, batch_size=16)
    ones = np.stack([real_model.encode(t) for t in texts])
    assert cosines(whole, ones).min() >= MIN_COS


def test_real_model_equals_cli(real_model, real_dir, cli, tmp_path):
    with open(os.path.join(ROOT, "data", "corpus.txt"), encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f][:100]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "cli.npy"
    subprocess.run([cli, "embed", "-q", "--model", real_dir, str(corpus), "-o", str(out)],
                   check=True, timeout=120)
    want = np.load(out)
    got = real_model.encode(lines)
    assert got.shape == want.shape
    assert cosines(got, want).min() >= MIN_COS
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_normalize_options(tiny_model):
    raw = tiny_model.embed(["hello world", "second"], normalize=False)
    unit = tiny_model.embed(["hello world", "second"], normalize=True)
    default = tiny_model.encode(["hello world", "second"])
    st_norm = tiny_model.encode(["hello world", "second"], normalize_embeddings=True)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(default, unit, atol=1e-6)  # tiny-f32 has a Normalize module
    np.testing.assert_allclose(st_norm, unit, atol=1e-6)


def test_encode_shapes_and_stats(tiny_model):
    one = tiny_model.encode("a single sentence")
    assert one.shape == (32,) and one.dtype == np.float32
    empty = tiny_model.encode([])
    assert empty.shape == (0, 32)
    as_list = tiny_model.encode(["a", "b"], convert_to_numpy=False)
    assert isinstance(as_list, list) and len(as_list) == 2
    stats = {}
    tiny_model.embed(["word " * 1000, "short"], stats=stats)
    assert stats["n_truncated_texts"] == 1 and stats["n_tokens"] > 256
    assert tiny_model.get_sentence_embedding_dimension() == 32
    assert tiny_model.max_seq_length == 256
    short = tiny_model.embed(["word " * 100], max_tokens=8, stats=stats)
    assert short.shape == (1, 32)


def test_without_numpy_lists_equal_arrays(tiny, tiny_model):
    code = (
        "import sys, json; sys.modules['numpy'] = None\n"
        "import ipfs_accelerate as ia\n"
        f"m = ia.Model({tiny!r})\n"
        "v = m.encode(['hello world', 'caf\\u00e9'])\n"
        "one = m.encode('hello world')\n"
        "assert isinstance(v, list) and isinstance(v[0], list) and isinstance(v[0][0], float)\n"
        "assert isinstance(one, list) and len(one) == 32\n"
        "print(json.dumps(v))\n")
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    r = subprocess.run([os.sys.executable, "-c", code], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    import json
    got = np.array(json.loads(r.stdout))
    want = tiny_model.encode(["hello world", "caf\u00e9"])
    np.testing.assert_allclose(got, want, atol=1e-7)


def test_prompt_name(tiny, tmp_path):
    import json
    import shutil
    import ipfs_accelerate as ia
    folder = tmp_path / "prompted"
    shutil.copytree(tiny, folder)
    (folder / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "query: ", "doc": "doc: "}, "default_prompt_name": "query"}))
    m = ia.Model(str(folder))
    try:
        by_hand = m.embed(["query: find me", "doc: find me"], prompt_name="")
        assert np.allclose(m.embed(["find me"])[0], by_hand[0], atol=1e-6)  # the default prompt
        assert np.allclose(m.embed(["find me"], prompt_name="doc")[0], by_hand[1], atol=1e-6)
        with pytest.raises(ia.InvalidInputError, match="query"):
            m.embed(["x"], prompt_name="other")
        with pytest.raises(ia.InvalidInputError, match="prompt_name"):
            m.embed(["x"], prompt_name=3)
    finally:
        m.close()


def test_dimensions(tiny_model, tiny, cli):
    full = tiny_model.embed(["a few words", "more words here"], normalize=False)
    raw = tiny_model.embed(["a few words", "more words here"], normalize=False, dimensions=8)
    assert raw.shape == (2, 8) and np.allclose(raw, full[:, :8], atol=1e-6)
    unit = tiny_model.embed(["a few words", "more words here"], normalize=True, dimensions=8)
    assert np.allclose(unit, full[:, :8] / np.linalg.norm(full[:, :8], axis=1, keepdims=True), atol=1e-6)
    with pytest.raises(ia.InvalidInputError, match="dimensions"):
        tiny_model.embed(["x"], dimensions=tiny_model.dim + 1)
    out = subprocess.run([cli, "embed", "-q", "--model", tiny, "--text", "a few words", "--dimensions", "8"],
                         capture_output=True, text=True, check=True).stdout
    import json
    assert len(json.loads(out)["embedding"]) == 8


def test_encode_precisions(tiny_model):
    """sentence-transformers' quantizations of encode(): sign bits packed
    most significant first, and 256 steps between each dimension's min and
    max over the sentences."""
    texts = ["a few words", "more words here", "and another one", "x"]
    full = tiny_model.encode(texts)
    bits = [[int("".join("1" if v > 0 else "0" for v in row[j:j + 8]).ljust(8, "0"), 2)
             for j in range(0, len(row), 8)] for row in full.tolist()]
    assert tiny_model.encode(texts, precision="ubinary").tolist() == bits
    assert tiny_model.encode(texts, precision="binary").tolist() == [[b - 128 for b in r] for r in bits]
    lo, hi = full.min(0), full.max(0)
    u8 = tiny_model.encode(texts, precision="uint8")
    assert u8.dtype == np.uint8 and np.all(np.abs(u8 * (hi - lo) / 255 + lo - full) <= (hi - lo) / 255 + 1e-6)
    i8 = tiny_model.encode(texts, precision="int8")
    assert i8.dtype == np.int8 and (i8.astype(int) == u8.astype(int) - 128).all()
    # quantize_embeddings' buckets: floor((x - min) / step), step = (max - min) / 255
    steps = (hi - lo) / 255
    assert (u8 == np.clip(np.floor((full - lo) / np.where(steps == 0, 1, steps)), 0, 255)).all()
    with pytest.raises(ia.InvalidInputError, match="precision"):
        tiny_model.encode(texts, precision="float16")
