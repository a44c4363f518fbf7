"""`serve --cluster` for the classification routes: /rerank, /v1/rerank and
/predict (text pairs: token types go with the ids) answer with the bytes of
a local `serve`, two models served at once, each computed by a worker of
its own.

usage: serve_rank_test.py IPFS_ACCELERATE WORKDIR

Random BertForSequenceClassification checkpoints (one label: a
cross-encoder; three: a classifier) are made with transformers, so this
runs in .cache/hf-venv; exit 77 (skip) without torch/transformers or
nats-server. Every wait has a timeout.
"""
import os
import shutil
import sys

from natsutil import SKIP_NO_NATS, fail, nats_server, post, spawn, start_nats, stop, wait_serving

try:
    import torch
    import transformers
except ImportError as e:
    print("SKIP: %s (scripts/install-deps.sh makes .cache/hf-venv)" % e)
    sys.exit(77)

EXE, WORK = sys.argv[1], sys.argv[2]
procs = []


def make_models():
    torch.manual_seed(0)
    words = "the a cat dog query document relevant paris france capital city river blue red".split()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(words))
    with open(os.path.join(WORK, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    dirs = []
    for name, labels in (("ce", ["score"]), ("cls3", ["neg", "neu", "pos"])):
        cfg = transformers.BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                      intermediate_size=64, max_position_embeddings=64, num_labels=len(labels),
                                      id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
        folder = os.path.join(WORK, name)
        transformers.BertForSequenceClassification(cfg).save_pretrained(folder, safe_serialization=True)
        transformers.BertTokenizerFast(os.path.join(WORK, "vocab.txt")).save_pretrained(folder)
        dirs.append(folder)
    return dirs


def serve(models, extra, name):
    pf = os.path.join(WORK, name + ".port")
    args = [EXE, "serve", "-j", "1", "--listen", "127.0.0.1:0", "--port-file", pf, "--no-gateway"]
    for m in models:
        args += ["--model", m]
    spawn(procs, args + extra, os.path.join(WORK, name + ".log"))
    return wait_serving(pf, name)


def main():
    server = nats_server()
    if not server:
        print("SKIP: " + SKIP_NO_NATS)
        return 77
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    try:
        ce, cls3 = make_models()
        url = start_nats(procs, server, os.path.join(WORK, "js"), None)[2]
        for m, name in ((ce, "wce"), (cls3, "wcls")):
            spawn(procs, [EXE, "worker", "--nats", url, "--model", m, "--threads", "1", "--name", name, "-q"],
                  os.path.join(WORK, name + ".log"))
        local = serve([ce, cls3], [], "local")
        remote = serve([ce, cls3], ["--cluster", url, "--cluster-timeout", "30"], "remote")
        cases = [
            ("/rerank", {"query": "capital of france", "texts": ["paris is the capital", "a blue river", "the cat"],
                         "raw_scores": True}, "wce"),
            ("/v1/rerank", {"model": "ce", "query": "the dog", "documents": ["a dog", "a cat", "the city"],
                            "top_n": 2}, "wce"),
            ("/predict", {"inputs": [["the cat", "a dog"], "blue red city"]}, "wcls"),
            ("/predict", {"inputs": "paris france capital", "raw_scores": True}, "wcls"),
        ]
        for path, body, worker in cases:
            a, b = post(local, path, body), post(remote, path, body)
            if a[0] != 200 or a[:2] != b[:2] or b[2] != worker:
                fail("%s: local %r, cluster %r" % (path, a, b))
        print("same bytes: /rerank, /v1/rerank, /predict (pairs), each from its model's worker")
        return 0
    finally:
        for p in reversed(procs):
            stop(p)


if __name__ == "__main__":
    sys.exit(main())
