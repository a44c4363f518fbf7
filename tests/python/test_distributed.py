"""DistributedComputeCoordinator and AccelerateManager(enable_distributed=True)
against real workers: a nats-server with JetStream on a free loopback port
in a temporary folder and two single-thread `ipfs-accelerate worker`s on
the tiny synthetic model, all started here. The vectors must equal, bit for
bit, the CLI's local `embed --threads 1` and `embed --cluster` on the same
batches. Then, each on a server of its own: tasks queued at three priority
levels before any worker runs are stored highest level first; a queue
bounded to 5 tasks refuses a sixth (QueueFullError, at once or after
queue_wait) and makes `embed --cluster` wait, saying so, until a worker
makes room. Every wait is bounded; skipped only without nats-server.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import ipfs_accelerate as ia
from ipfs_accelerate.accelerate_integration import DistributedComputeCoordinator

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
import natsutil  # noqa: E402
from natsutil import nats_server as _nats_server  # noqa: E402

BATCH = 8


class Cluster:
    """A nats-server and workers, each a process stopped at teardown."""

    def __init__(self, tmp, cli, server_args=()):
        self.tmp, self.cli, self.procs = str(tmp), cli, []
        self.server, self.port, self.url = natsutil.start_nats(
            self.procs, _nats_server(), os.path.join(self.tmp, "js"), os.path.join(self.tmp, "nats.log"),
            on_fail=pytest.fail, extra=server_args)

    def spawn(self, args, log):
        return natsutil.spawn(self.procs, args, os.path.join(self.tmp, log))

    def worker(self, model, name, *extra):
        return self.spawn([self.cli, "worker", "--nats", self.url, "--model", model, "--threads", "1",
                           "--name", name, "--ack-wait", "2", "--max-deliver", "2", *extra], name + ".log")

    def log(self, name):
        with open(os.path.join(self.tmp, name), errors="replace") as f:
            return f.read()

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                natsutil.stop(p, 10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, cli, tiny):
    if not _nats_server():
        pytest.skip("nats-server is not installed (scripts/install-deps.sh installs it)")
    c = Cluster(tmp_path_factory.mktemp("cluster"), cli)
    c.worker(tiny, "w1")
    c.worker(tiny, "w2")
    yield c
    c.stop()


def _texts(n, seed=0):
    words = "the a cat dog runs over lazy quick brown fox jumps tree river data vector queue".split()
    rnd = np.random.default_rng(seed)
    return [" ".join(words[k] for k in rnd.integers(0, len(words), 1 + i % 11)) + f" {i}" for i in range(n)]


def _cli_npy(cli, tiny, texts, tmp, *args):
    inp, out = os.path.join(tmp, "in.txt"), os.path.join(tmp, "out.npy")
    with open(inp, "w") as f:
        f.write("\n".join(texts) + "\n")
    r = subprocess.run([cli, "embed", "-q", "-m", tiny, inp, "--batch-size", str(BATCH), "-o", out, *args],
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    return np.load(out)


def test_coordinator_equals_local_and_cli(cluster, cli, tiny, tmp_path):
    texts = _texts(37)
    local = _cli_npy(cli, tiny, texts, str(tmp_path), "--threads", "1")
    with DistributedComputeCoordinator(cluster.url) as coord:
        for k in range(0, len(texts), BATCH):
            assert coord.submit_task(f"t{k}", tiny, texts[k:k + BATCH]) == f"t{k}"
        got = np.concatenate([coord.get_task_result(f"t{k}", timeout=60) for k in range(0, len(texts), BATCH)])
        assert got.dtype == np.float32 and got.shape == local.shape
        assert got.tobytes() == local.tobytes()
        # a single str gives one vector, the same as a batch of one locally
        coord.submit_task("one", os.path.basename(tiny), texts[0])
        one = coord.get_task_result("one", timeout=60)
        m = ia.Model(tiny, n_threads=1)
        assert one.shape == (m.dim,) and one.tobytes() == m.embed([texts[0]])[0].tobytes()
        m.close()
        # asked again: the same object, not a second wait
        assert coord.get_task_result("one") is one
        with pytest.raises(ia.InvalidInputError, match="submitted already"):
            coord.submit_task("one", tiny, "x")
        with pytest.raises(ia.InvalidInputError, match="unknown task_id"):
            coord.get_task_result("never")
        with pytest.raises(ia.UnsupportedError, match="task_type"):
            coord.submit_task("gen", tiny, "x", task_type="text-generation")
        st = coord.get_stats()
        assert (st["submitted"], st["completed"], st["failed"], st["pending"]) == (6, 6, 0, 0)
        assert st["workers_seen"] == 2 and {w["name"] for w in st["workers"]} == {"w1", "w2"}
        assert st["results_stored"] >= 6
    # the CLI's cluster front-end agrees (its shards are these tasks: found done)
    clustered = _cli_npy(cli, tiny, texts, str(tmp_path), "--cluster", cluster.url)
    assert clustered.tobytes() == local.tobytes()


def test_result_cache(cluster, tiny):
    texts = ["computed once", "then read from a cache"]
    with DistributedComputeCoordinator(cluster.url) as coord:
        coord.submit_task("c1", tiny, texts)
        first = coord.get_task_result("c1", timeout=60)
        coord.submit_task("c2", tiny, texts)  # the same input: this process's memory
        assert coord.get_task_result("c2", timeout=5).tobytes() == first.tobytes()
    with DistributedComputeCoordinator(cluster.url, cache_bytes=-1) as coord:  # the cluster's bucket
        coord.submit_task("c3", tiny, texts)
        assert coord.get_task_result("c3", timeout=5).tobytes() == first.tobytes()
    with pytest.raises(ia.InvalidInputError, match="cache_bytes"):
        DistributedComputeCoordinator(cluster.url, cache_bytes="big")


def test_timeout_and_dead_letter(cluster, tiny):
    with DistributedComputeCoordinator(cluster.url) as coord:
        coord.submit_task("nobody", "model-no-worker-has", ["x"])
        t0 = time.time()
        with pytest.raises(ia.TimedOutError, match="no result after"):
            coord.get_task_result("nobody", timeout=0.5)
        assert time.time() - t0 < 5
        assert coord.get_stats()["queue_depth"] >= 1
        # a task the model refuses: in the dead letters after --max-deliver 2
        coord.submit_task("poison", tiny, ["poison"], dimensions=100000)
        with pytest.raises(ia.BackendError, match="dead letters.*dimensions 100000"):
            coord.get_task_result("poison", timeout=60)
        st = coord.get_stats()
        assert st["failed"] == 1 and st["dead_letters"] >= 1


def test_manager_distributed(cluster, cli, tiny, tmp_path):
    texts = _texts(21, seed=5)
    local = _cli_npy(cli, tiny, texts, str(tmp_path), "--threads", "1")
    with ia.AccelerateManager(enable_distributed=True, nats_url=cluster.url,
                              resources={"batch_size": BATCH, "task_timeout": 60}) as mgr:
        r = mgr.run_inference(tiny, texts)
        assert r["status"] == "success" and r["distributed"] and r["tasks"] == 3
        assert r["embeddings"].tobytes() == local.tobytes()
        one = mgr.run_inference(tiny, texts[0])["embeddings"]
        assert one.shape == (local.shape[1],)
        assert mgr.get_status()["nats_url"] == cluster.url
        with pytest.raises(ia.InvalidInputError, match="normalize"):
            mgr.run_inference(tiny, texts, normalize=False)


@pytest.fixture
def own_cluster(tmp_path, cli):
    """A server of this test's own, with no worker yet."""
    if not _nats_server():
        pytest.skip("nats-server is not installed (scripts/install-deps.sh installs it)")
    c = Cluster(tmp_path, cli)
    yield c
    c.stop()


def _stored_order(log):
    import re
    return re.findall(r"shard ([0-9a-f]{32}) stored", log)


def test_priorities(own_cluster, tiny):
    c = own_cluster
    with DistributedComputeCoordinator(c.url) as coord:
        # queued while no worker runs: low first, then high, then middle
        for i in range(10):
            coord.submit_task(f"low{i}", tiny, [f"low priority text {i}"])
        for i in range(4):
            coord.submit_task(f"high{i}", tiny, [f"high priority text {i}"], priority=2)
        for i in range(4):
            coord.submit_task(f"mid{i}", tiny, [f"middle priority text {i}"], priority=1)
        with pytest.raises(ia.InvalidInputError, match="priority 3"):
            coord.submit_task("bad", tiny, ["x"], priority=3)
        assert coord.get_stats()["queue_depth"] == 18
        c.worker(tiny, "wp")
        for name in list(coord._tasks):
            coord.get_task_result(name, timeout=60)
        ids = {name: t["id"] for name, t in coord._tasks.items()}
        st = coord.get_stats()
        assert st["completed"] == 18 and st["queue_depth"] == 0 and st["queue_by_priority"] == [0, 0, 0]
    # the order the worker stored them in: every high one, then middle, then low
    order = _stored_order(c.log("wp.log"))
    assert len(order) == 18, order
    levels = [next(n for n, i in ids.items() if i == sid).rstrip("0123456789") for sid in order]
    assert levels == ["high"] * 4 + ["mid"] * 4 + ["low"] * 10, levels
    # the CLI's --priority reaches the same worker, with the local output
    texts = ["an urgent text", "and another"]
    got = _cli_npy(c.cli, tiny, texts, c.tmp, "--cluster", c.url, "--priority", "2")
    assert got.tobytes() == _cli_npy(c.cli, tiny, texts, c.tmp, "--threads", "1").tobytes()


def test_bounded_queue_pushes_back(own_cluster, cli, tiny, tmp_path):
    c = own_cluster
    with DistributedComputeCoordinator(c.url, max_queue=5) as coord:
        for i in range(5):
            coord.submit_task(f"t{i}", tiny, [f"bounded {i}"])
        t0 = time.time()
        with pytest.raises(ia.QueueFullError, match=r"IA_TASKS .* is full \(5 tasks.*bound 5 tasks") as e:
            coord.submit_task("t5", tiny, ["bounded 5"])
        assert e.value.status == -10 and time.time() - t0 < 2
        t0 = time.time()
        with pytest.raises(ia.QueueFullError):
            coord.submit_task("t5", tiny, ["bounded 5"], queue_wait=0.6)
        assert 0.6 <= time.time() - t0 < 3
        assert coord.get_stats()["queue_bound"] == 5
        # the same task again is not a new one: JetStream's dedupe answers, the queue is not asked
        coord.submit_task("t0-again", tiny, ["bounded 0"])

        # the CLI waits, saying so, until a worker makes room
        texts = [f"cli text {i}" for i in range(4)]
        inp = os.path.join(str(tmp_path), "cli.txt")
        with open(inp, "w") as f:
            f.write("\n".join(texts) + "\n")
        err_path = os.path.join(str(tmp_path), "submit.log")
        sub = subprocess.Popen([cli, "embed", "--cluster", c.url, "-m", tiny, inp, "--batch-size", "1",
                                "-o", os.path.join(str(tmp_path), "cli.npy")],
                               stdout=subprocess.DEVNULL, stderr=open(err_path, "wb"))
        c.procs.append(sub)
        t0 = time.time()
        while "is full: waiting" not in open(err_path, errors="replace").read():
            assert time.time() - t0 < 15 and sub.poll() is None, open(err_path).read()
            time.sleep(0.05)
        time.sleep(0.5)
        assert sub.poll() is None  # still waiting for room
        c.worker(tiny, "wq")
        assert sub.wait(60) == 0, open(err_path).read()
        for i in range(5):
            coord.get_task_result(f"t{i}", timeout=60)
        coord.submit_task("t5", tiny, ["bounded 5"])  # room again
        coord.get_task_result("t5", timeout=60)
    got = np.load(os.path.join(str(tmp_path), "cli.npy"))
    m = ia.Model(tiny, n_threads=1)
    want = np.concatenate([m.embed([t]) for t in texts])
    m.close()
    assert got.tobytes() == want.tobytes()


def test_credentials(tmp_path, cli, tiny):
    if not _nats_server():
        pytest.skip("nats-server is not installed (scripts/install-deps.sh installs it)")
    c = Cluster(tmp_path, cli, ("--user", "ia", "--pass", "s3cret-pw"))
    try:
        with pytest.raises(ia.Error, match="refused these credentials.*Authorization Violation"):
            DistributedComputeCoordinator(c.url, user="ia", password="wrong")
        with pytest.raises(ia.Error, match="asks for credentials"):
            DistributedComputeCoordinator(c.url)
        c.worker(tiny, "wa", "--nats-user", "ia", "--nats-password", "s3cret-pw")
        with DistributedComputeCoordinator(c.url, user="ia", password="s3cret-pw") as coord:
            coord.submit_task("a", tiny, ["with credentials"])
            m = ia.Model(tiny, n_threads=1)
            assert coord.get_task_result("a", timeout=60).tobytes() == m.embed(["with credentials"]).tobytes()
            m.close()
    finally:
        c.stop()
