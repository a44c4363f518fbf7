#!/usr/bin/env python3
"""Sequence classification (cross-encoders and classifiers,
src/model/heads.c) against transformers itself.

Small checkpoints with fresh random weights are saved as Hugging Face
folders with a WordPiece tokenizer made by transformers:
BertForSequenceClassification with one label (a cross-encoder, as
ms-marco-MiniLM) and with three named labels, and
DistilBertForSequenceClassification and RobertaForSequenceClassification
(a byte-level BPE tokenizer trained here) with two. For fresh random texts and
text pairs of many lengths, `ipfs-accelerate rerank` and `classify` must
give transformers' logits (--raw-scores), their sigmoid (one label) or
softmax (several): max abs error <= 1e-4; the ranking must follow the
scores; pairs longer than --max-seq-length are truncated as the
tokenizer's longest_first does.
The server answers TEI's /rerank and /predict and the Cohere-style
/v1/rerank with the same scores, shapes and order, with both models
served at once (each route finds the model that fits, /v1/rerank by
name), and refuses bad bodies and over-long inputs as TEI does. The
Python binding's rerank, predict and classify give the same scores (not
under the sanitizer build, whose library Python cannot load).

Usage: classify_hf_test.py CLI WORKDIR
Exit 77 (skipped) when torch/transformers are not installed (the
.cache/hf-venv of scripts/install-deps.sh).
"""
import json, os, subprocess, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
import srvutil

try:
    import torch
    import transformers
    import hfutil
except ImportError as e:
    print(f"SKIP: {e} (scripts/install-deps.sh makes .cache/hf-venv)")
    sys.exit(77)

cli, work = sys.argv[1:3]
rng = hfutil.start(work)

words = ["the", "a", "of", "river", "stone", "bridge", "light", "paris", "city", "old", "new", "water", "run",
         "##s", "##ing", "##ed", "un", "##able", "house", "green", "sky", "over", "and", "or", ",", ".", "?"] + \
        [chr(c) for c in range(ord("a"), ord("z") + 1)]
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(words))
vocab_file = os.path.join(work, "vocab.txt")
with open(vocab_file, "w") as f:
    f.write("\n".join(vocab) + "\n")
plain = [w for w in words if not w.startswith("##")]


def text(lo, hi):
    return " ".join(rng.choice(plain) for _ in range(rng.randint(lo, hi)))


def perturb(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name:
                p.copy_(1 + 0.2 * torch.randn_like(p) if name.endswith("weight") else 0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(1.2 * torch.randn_like(p) / p.shape[-1] ** 0.5)


def make(kind, labels):
    folder = os.path.join(work, f"{kind}-{len(labels)}")
    common = dict(vocab_size=len(vocab), max_position_embeddings=64, num_labels=len(labels),
                  id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    if kind == "bert":
        cfg = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                      intermediate_size=64, **common)
        model, tok = transformers.BertForSequenceClassification(cfg), transformers.BertTokenizerFast(vocab_file)
    elif kind == "roberta":
        tok = hfutil.roberta_tokenizer((text(5, 12) for _ in range(300)), model_max_length=64)
        common.update(vocab_size=len(tok), max_position_embeddings=66, pad_token_id=1)
        cfg = transformers.RobertaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=64, type_vocab_size=1, **common)
        model = transformers.RobertaForSequenceClassification(cfg)
    else:
        cfg = transformers.DistilBertConfig(dim=32, n_layers=2, n_heads=4, hidden_dim=64, **common)
        model = transformers.DistilBertForSequenceClassification(cfg)
        tok = transformers.DistilBertTokenizerFast(vocab_file)
    perturb(model)
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder, model, tok


def reference(model, tok, a, b=None, max_length=None):
    # every model here has 64 positions: longer input is cut as our side cuts it
    enc = tok(a, b, padding=True, truncation="longest_first", max_length=max_length or 64, return_tensors="pt")
    if "token_type_ids" in enc and not isinstance(model, transformers.BertForSequenceClassification):
        del enc["token_type_ids"]
    with torch.no_grad():
        return model(**enc).logits.double()


def run(args, lines=None):
    p = subprocess.run([cli] + args, input="".join(l + "\n" for l in lines).encode() if lines else None,
                       capture_output=True)
    if p.returncode:
        sys.exit(f"FAIL: {' '.join(args[:3])}...: {p.stderr.decode()}")
    return [json.loads(l) for l in p.stdout.decode().splitlines()]


failures = 0


def check(what, got, want):
    global failures
    err = (torch.tensor(got, dtype=torch.float64) - want).abs().max().item()
    ok = err <= 1e-4
    failures += not ok
    print(f"{'ok' if ok else 'FAIL'}: {what}: max abs error {err:.2e}")


# A cross-encoder: rerank a query against documents of many lengths.
folder, model, tok = make("bert", ["LABEL_0"])
for trial in range(3):
    query = text(1, 8)
    docs = [text(0 if trial == 0 else 1, 40) for _ in range(rng.randint(5, 30))]
    max_len = rng.choice([None, 12, 33])
    extra = ["--max-seq-length", str(max_len)] if max_len else []
    want = reference(model, tok, [query] * len(docs), docs, max_len)[:, 0]
    for raw in (True, False):
        got = run(["rerank", "--model", folder, "--query", query, "-"] + extra + (["--raw-scores"] if raw else []),
                  docs)
        by_index = {r["index"]: r["score"] for r in got}
        ref = want if raw else torch.sigmoid(want)
        check(f"rerank {len(docs)} documents ({'logits' if raw else 'sigmoid'}, max length {max_len})",
              [by_index[i] for i in range(len(docs))], ref)
        scores = [r["score"] for r in got]
        if scores != sorted(scores, reverse=True) or sorted(by_index) != list(range(len(docs))):
            failures += 1
            print("FAIL: rerank output is not every document once, best first")
top = run(["rerank", "--model", folder, "--query", "river", "--top-n", "2", "--return-text",
           "--text", "old stone bridge", "--text", "green sky", "--text", "river water"])
if len(top) != 2 or any("text" not in r for r in top):
    failures += 1
    print(f"FAIL: --top-n 2 --return-text gave {top}")

reranker = (folder, model, tok)

# Classifiers: named labels, single texts and pairs, softmax and logits.
for kind, labels in (("bert", ["negative", "neutral", "positive"]), ("distilbert", ["no", "yes"]),
                     ("roberta", ["contradiction", "entailment"])):
    folder, model, tok = make(kind, labels)
    singles = [text(1, 40) for _ in range(25)]
    pairs = [(text(1, 20), text(1, 30)) for _ in range(25)]
    for raw in (True, False):
        flag = ["--raw-scores"] if raw else []
        want = reference(model, tok, singles)
        got = run(["classify", "--model", folder, "-"] + flag, singles)
        ref = want if raw else torch.softmax(want, dim=-1)
        check(f"{kind} classify {len(singles)} texts ({'logits' if raw else 'softmax'})",
              [[r["scores"][l] for l in labels] for r in got], ref)
        best = [labels[i] for i in ref.argmax(dim=-1).tolist()]
        if [r["label"] for r in got] != best:
            failures += 1
            print("FAIL: the best labels differ")
        want = reference(model, tok, [a for a, _ in pairs], [b for _, b in pairs])
        got = run(["classify", "--model", folder, "--pairs", "-"] + flag, [a + "\t" + b for a, b in pairs])
        ref = want if raw else torch.softmax(want, dim=-1)
        check(f"{kind} classify {len(pairs)} pairs ({'logits' if raw else 'softmax'})",
              [[r["scores"][l] for l in labels] for r in got], ref)
    if kind == "bert":
        classifier = (folder, model, tok, labels)

# The server, with the reranker and the 3-label classifier.
srv = srvutil.Server(cli, [reranker[0], classifier[0]])
try:
    query, docs = text(1, 8), [text(1, 30) for _ in range(12)]
    want = reference(reranker[1], reranker[2], [query] * len(docs), docs)[:, 0]
    st, _, body = srv.request("POST", "/rerank", {"query": query, "texts": docs, "return_text": True})
    got = json.loads(body)
    check("POST /rerank", [next(r["score"] for r in got if r["index"] == i) for i in range(len(docs))],
          torch.sigmoid(want))
    if st != 200 or [r["index"] for r in got] != torch.sigmoid(want).argsort(descending=True).tolist() or \
            any(r["text"] != docs[r["index"]] for r in got):
        failures += 1
        print(f"FAIL: /rerank order or texts: {st} {got}")
    st, _, body = srv.request("POST", "/v1/rerank", {"model": os.path.basename(reranker[0]), "query": query,
                                                     "documents": [{"text": d} for d in docs], "top_n": 3})
    got = json.loads(body)
    best = torch.sigmoid(want).argsort(descending=True)[:3].tolist()
    if st != 200 or [r["index"] for r in got["results"]] != best or \
            any(r["document"]["text"] != docs[r["index"]] for r in got["results"]) or \
            got["usage"]["total_tokens"] <= 0:
        failures += 1
        print(f"FAIL: /v1/rerank: {st} {got}")
    check("POST /v1/rerank (top 3)", [r["relevance_score"] for r in got["results"]], torch.sigmoid(want)[best])
    _, _, model, tok, labels = (None,) + classifier
    singles, pairs = [text(1, 20) for _ in range(6)], [[text(1, 10), text(1, 10)] for _ in range(6)]
    st, _, body = srv.request("POST", "/predict", {"inputs": singles + pairs, "raw_scores": True})
    got = json.loads(body)
    want = torch.cat([reference(model, tok, singles), reference(model, tok, [a for a, _ in pairs],
                                                                [b for _, b in pairs])])
    check("POST /predict (texts and pairs, logits)",
          [[next(x["score"] for x in g if x["label"] == l) for l in labels] for g in got], want)
    if any([x["score"] for x in g] != sorted([x["score"] for x in g], reverse=True) for g in got):
        failures += 1
        print("FAIL: /predict labels are not sorted by score")
    st, _, body = srv.request("POST", "/predict", {"inputs": singles[:2]})  # two strings: one pair
    got = json.loads(body)
    check("POST /predict (one pair, softmax)",
          [[next(x["score"] for x in got if x["label"] == l) for l in labels]],
          torch.softmax(reference(model, tok, [singles[0]], [singles[1]]), dim=-1))
    long_doc = " ".join(["river"] * 100)
    for path, body, status in (("/rerank", {"query": "q", "texts": []}, 400),
                               ("/rerank", {"query": "q", "texts": [long_doc]}, 413),
                               ("/rerank", {"query": 3, "texts": ["a"]}, 422),
                               ("/v1/rerank", {"query": "q", "documents": ["a"], "top_n": 0}, 422),
                               ("/v1/rerank", {"model": os.path.basename(classifier[0]), "query": "q",
                                               "documents": ["a"]}, 400),
                               ("/predict", {"inputs": [["a", "b", "c"]]}, 422)):
        st, _, resp = srv.request("POST", path, body)
        if st != status or b"error" not in resp:
            failures += 1
            print(f"FAIL: {path} {json.dumps(body)[:60]}: {st} (expected {status}) {resp[:200]}")
    st, _, resp = srv.request("POST", "/rerank", {"query": "q", "texts": [long_doc], "truncate": True})
    if st != 200:
        failures += 1
        print(f"FAIL: /rerank with truncate: {st} {resp[:200]}")
    models = {m["id"]: m["task"] for m in json.loads(srv.request("GET", "/v1/models")[2])["data"]}
    if sorted(models.values()) != ["classification", "rerank"]:
        failures += 1
        print(f"FAIL: /v1/models tasks: {models}")
finally:
    srv.stop()

# The Python binding, on the library next to the CLI.
ipfs_accelerate = hfutil.python_binding(cli)
if ipfs_accelerate:
    folder, model, tok = reranker
    m = ipfs_accelerate.Model(folder)
    query, docs = text(1, 8), [text(1, 30) for _ in range(10)]
    want = torch.sigmoid(reference(model, tok, [query] * len(docs), docs)[:, 0])
    got = m.rerank(query, docs, top_n=4, return_documents=True)
    if [r["index"] for r in got] != want.argsort(descending=True)[:4].tolist() or \
            any(r["document"] != docs[r["index"]] for r in got):
        failures += 1
        print(f"FAIL: Model.rerank: {got}")
    check("Model.predict (pairs, one label)", m.predict([(query, d) for d in docs]).tolist(), want)
    folder, model, tok, labels = classifier
    m = ipfs_accelerate.Model(folder)
    singles = [text(1, 20) for _ in range(8)]
    got = m.classify(singles, raw_scores=True)
    check("Model.classify (texts, logits)", [[g[l] for l in labels] for g in got], reference(model, tok, singles))
    if m.labels != labels or m.num_labels != 3:
        failures += 1
        print(f"FAIL: Model.labels {m.labels}")

# A model without a head is refused with a clear message.
base = os.path.join(work, "base")
transformers.BertModel(transformers.BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1,
                                               num_attention_heads=4, intermediate_size=64)).save_pretrained(base)
transformers.BertTokenizerFast(vocab_file).save_pretrained(base)
p = subprocess.run([cli, "rerank", "--model", base, "--query", "q", "--text", "d"], capture_output=True)
if p.returncode == 0 or b"not a classification model" not in p.stderr:
    failures += 1
    print(f"FAIL: a model without a head: exit {p.returncode}, {p.stderr.decode().strip()}")

print("all passed" if not failures else f"{failures} failed")
sys.exit(1 if failures else 0)
