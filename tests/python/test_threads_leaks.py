"""Thread safety from several Python threads, and no leaks over 10,000 calls."""

import gc
import os
import threading

import numpy as np

import ipfs_accelerate as ia


def test_threads_give_the_single_thread_results(tiny_model, sentences):
    texts = sentences[:64]
    want = tiny_model.embed(texts)
    errors, results = [], {}

    def work(k):
        try:
            for rep in range(5):
                lo = (k * 7 + rep) % 48
                got = tiny_model.embed(texts[lo:lo + 16])
                np.testing.assert_allclose(got, want[lo:lo + 16], atol=1e-6)
            results[k] = True
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert len(results) == 8


def test_threads_share_a_manager(tiny):
    with ia.AccelerateManager() as mgr:
        want = mgr.run_inference(tiny, ["alpha", "beta"])["embeddings"]
        out, errors = [], []

        def work():
            try:
                for _ in range(10):
                    out.append(mgr.run_inference(tiny, ["alpha", "beta"])["embeddings"])
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[0]
        assert len(out) == 60 and all(np.allclose(o, want, atol=1e-6) for o in out)
        assert len(mgr.get_status()["loaded_models"]) == 1


def _rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_no_leak_over_10000_calls(tiny):
    m = ia.Model(tiny)
    texts = ["a short sentence", "another one, a little longer than the first"]
    for _ in range(1000):  # warm up allocator pools and caches
        m.embed(texts)
    gc.collect()
    before = _rss_kib()
    for i in range(10000):
        m.embed(texts)
        if i % 2000 == 0:
            m.encode("one text")
    gc.collect()
    after = _rss_kib()
    m.close()
    # 10,000 calls leaking even 100 bytes each would add ~1 MiB; allow noise.
    assert after - before < 4096, f"RSS grew {after - before} KiB over 10,000 calls"


def test_no_leak_over_model_loads(tiny):
    for _ in range(20):
        ia.Model(tiny).close()
    gc.collect()
    before = _rss_kib()
    for _ in range(60):
        with ia.Model(tiny) as m:
            m.embed(["x"])
    for _ in range(60):
        ia.Model(tiny)  # freed by garbage collection
    gc.collect()
    after = _rss_kib()
    assert after - before < 8192, f"RSS grew {after - before} KiB over 120 model loads"


def _spin(stop):
    n = 0
    while not stop():
        n += 1
    return n


def test_gil_is_released_while_c_computes(real_model, sentences):
    """Python code keeps running in another thread during a long C call."""
    import time
    t_end = time.perf_counter() + 0.1
    rate = _spin(lambda: time.perf_counter() > t_end) / 0.1  # loop turns per second
    texts = sentences[:120]
    done = threading.Event()
    spent = []

    def compute():
        t0 = time.perf_counter()
        real_model.embed(texts)
        spent.append(time.perf_counter() - t0)
        done.set()

    t = threading.Thread(target=compute)
    t.start()
    ticks = _spin(done.is_set)
    t.join()
    # With the GIL held through the call this loop would get only the odd
    # 5 ms switch slice; released, it spins (on the other core, or sharing
    # one) for a good part of the call.
    assert ticks > 0.2 * rate * spent[0], (ticks, rate, spent)
