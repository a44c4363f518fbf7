#!/usr/bin/env python3
"""Encoder families other than BERT against transformers itself
(src/model/bert.c): DistilBERT, MPNet, RoBERTa and XLM-RoBERTa (with a
byte-level BPE tokenizer trained here, and XLM-RoBERTa also with a
SentencePiece Unigram one on multilingual text).

A small DistilBertModel with fresh random weights (larger than
transformers' initialization, so that every part shows: LayerNorm weights
around 1, biases around 0.1) is saved as a sentence-transformers folder
(config.json, model.safetensors in f32, a WordPiece tokenizer.json made by
transformers from a small vocabulary, modules.json with mean pooling), and
a DistilBertForMaskedLM (weights under the "distilbert." prefix, a task
head beside them) as another. `ipfs-accelerate embed` must give, for
texts of fresh random words of many lengths, the vectors transformers'
last hidden states mean-pooled over the tokens: cosine >= 0.99999 and
relative error <= 1e-4 each.
The plain model also runs with every other Pooling mode of
sentence-transformers (cls, max, mean_sqrt_len_tokens, weightedmean,
lasttoken), computed here from the same hidden states, and with two
Dense modules (Tanh 64 -> 48, then Identity 48 -> 40) and Normalize after
mean pooling, as sentence-transformers' Dense computes them; and with
prompts (config_sentence_transformers.json: "query" the default, and
"doc"), `--prompt-name` choosing one, none ("") or the default, against
transformers on the texts with the prompt in front.
MPNet the same way (MPNetModel, and MPNetForMaskedLM with its "mpnet."
prefix): 2 layers, hidden 64, 4 heads, 318 positions, an MPNet WordPiece
tokenizer (<s> ... </s>, <pad> id 1 as MPNet's position numbering wants),
texts of up to 150 words so that tokens sit past the exact relative
buckets (16) and past max_distance (128) from each other.

Usage: encoders_hf_test.py CLI WORKDIR
Exit 77 (skipped) when torch/transformers are not installed (the
.cache/hf-venv of scripts/install-deps.sh).
"""
import json, os, shutil, subprocess, sys

try:
    import numpy as np
    import safetensors.torch
    import torch
    import transformers
    import hfutil
except ImportError as e:
    print(f"SKIP: {e} (scripts/install-deps.sh makes .cache/hf-venv)")
    sys.exit(77)

cli, work = sys.argv[1:3]
rng = hfutil.start(work)

words = ["the", "a", "of", "river", "stone", "bridge", "light", "paris", "city", "old", "new", "water", "run",
         "##s", "##ing", "##ed", "##er", "un", "##able", "house", "green", "sky", "over", "under", "and", "or",
         ",", ".", "!", "?", "'"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + \
        ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)]
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(words))
vocab_file = os.path.join(work, "vocab.txt")
with open(vocab_file, "w") as f:
    f.write("\n".join(vocab) + "\n")
tok = transformers.DistilBertTokenizerFast(vocab_file, do_lower_case=True)


def perturb(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name:
                p.copy_(1 + 0.2 * torch.randn_like(p) if name.endswith("weight") else 0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p) / p.shape[-1] ** 0.5 * 4)


def save_folder(folder, model, pooling="mean", dense=(), tokenizer=None):
    model.save_pretrained(folder, safe_serialization=True)
    (tokenizer or tok).save_pretrained(folder)
    os.makedirs(os.path.join(folder, "1_Pooling"))
    with open(os.path.join(folder, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": model.config.hidden_size, "pooling_mode": pooling}, f)
    mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    for i, (lin, act) in enumerate(dense):  # torch.nn.Linear, activation name
        sub = f"{2 + i}_Dense"
        os.makedirs(os.path.join(folder, sub))
        safetensors.torch.save_file({"linear.weight": lin.weight.detach().contiguous(),
                                     "linear.bias": lin.bias.detach().contiguous()},
                                    os.path.join(folder, sub, "model.safetensors"))
        with open(os.path.join(folder, sub, "config.json"), "w") as f:
            json.dump({"in_features": lin.in_features, "out_features": lin.out_features, "bias": True,
                       "activation_function": f"torch.nn.modules.{act}"}, f)
        mods.append({"idx": len(mods), "name": str(len(mods)), "path": sub,
                     "type": "sentence_transformers.models.Dense"})
    if dense:
        mods.append({"idx": len(mods), "name": str(len(mods)), "path": "",
                     "type": "sentence_transformers.models.Normalize"})
    with open(os.path.join(folder, "modules.json"), "w") as f:
        json.dump(mods, f)


cfg = transformers.DistilBertConfig(vocab_size=len(vocab), dim=64, n_layers=3, n_heads=4, hidden_dim=160,
                                    max_position_embeddings=96, activation="gelu", pad_token_id=0)
plain = transformers.DistilBertModel(cfg).eval()
perturb(plain)
save_folder(os.path.join(work, "distilbert"), plain)
mlm = transformers.DistilBertForMaskedLM(cfg).eval()
perturb(mlm)
save_folder(os.path.join(work, "distilbert-mlm"), mlm)

texts = []
for i in range(40):
    n = rng.choice([1, 2, 3, 5, 8, 13, 21, 34, 60])
    texts.append(" ".join(rng.choice(words[:31]).replace("##", "") for _ in range(n)))
modes = ["cls", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"]
for mode in modes:
    save_folder(os.path.join(work, "distilbert-" + mode), plain, mode)
dense = [(torch.nn.Linear(64, 48), "activation.Tanh"), (torch.nn.Linear(48, 40), "linear.Identity")]
save_folder(os.path.join(work, "distilbert-dense"), plain, "mean", dense)
prompts = {"query": "over the river ", "doc": "green stone , "}
save_folder(os.path.join(work, "distilbert-prompts"), plain)
with open(os.path.join(work, "distilbert-prompts", "config_sentence_transformers.json"), "w") as f:
    json.dump({"prompts": prompts, "default_prompt_name": "query"}, f)


def pooled(h, mask, mode):
    """sentence-transformers' Pooling of h (n, T, d) under mask (n, T), right padding."""
    m = mask.unsqueeze(-1).float()
    if mode == "cls":
        return h[:, 0]
    if mode == "max":
        return torch.where(m > 0, h, torch.full_like(h, -1e9)).max(1).values
    if mode == "mean_sqrt_len_tokens":
        return (h * m).sum(1) / m.sum(1).sqrt()
    if mode == "weightedmean":
        w = torch.arange(1, h.shape[1] + 1, dtype=torch.float32).view(1, -1, 1) * m
        return (h * w).sum(1) / w.sum(1)
    if mode == "lasttoken":
        return h[torch.arange(h.shape[0]), mask.sum(1) - 1]
    v = (h * m).sum(1) / m.sum(1)
    if mode == "mean+dense":
        for lin, act in dense:
            v = lin(v)
            v = torch.tanh(v) if "Tanh" in act else v
        v = torch.nn.functional.normalize(v, dim=1)
    return v


# MPNet: the same words, its own special tokens (<pad> must be id 1: MPNet
# numbers positions from padding_idx 1 + 1 and skips ids equal to it)
mvocab = ["<s>", "<pad>", "</s>", "[UNK]", "<mask>"] + sorted(set(words))
mvocab_file = os.path.join(work, "mpnet-vocab.txt")
with open(mvocab_file, "w") as f:
    f.write("\n".join(mvocab) + "\n")
mtok = transformers.MPNetTokenizerFast(mvocab_file, do_lower_case=True)
mtok_dir = os.path.join(work, "mpnet-tokenizer")
mtok.save_pretrained(mtok_dir)
with open(os.path.join(mtok_dir, "tokenizer.json")) as f:
    tj = json.load(f)
print(f"MPNet tokenizer: post-processor {tj['post_processor']['type']}")
mcfg = transformers.MPNetConfig(vocab_size=len(mvocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                intermediate_size=160, max_position_embeddings=320, hidden_act="gelu",
                                layer_norm_eps=1e-5, relative_attention_num_buckets=32, pad_token_id=1)
mplain = transformers.MPNetModel(mcfg).eval()
perturb(mplain)
mmlm = transformers.MPNetForMaskedLM(mcfg).eval()
perturb(mmlm)
for name, model in (("mpnet", mplain), ("mpnet-mlm", mmlm)):
    save_folder(os.path.join(work, name), model, tokenizer=mtok)
    shutil.copy(os.path.join(mtok_dir, "tokenizer.json"), os.path.join(work, name, "tokenizer.json"))
mtexts = []
for i in range(24):
    n = rng.choice([1, 2, 5, 13, 18, 40, 90, 120, 150])
    mtexts.append(" ".join(rng.choice(words[:31]).replace("##", "") for _ in range(n)))

# RoBERTa and XLM-RoBERTa: a byte-level BPE tokenizer trained here by
# `tokenizers` (RobertaProcessing, <pad> id 1: positions start after it and
# a <pad> inside a text does not advance them), random weights
rtok = hfutil.roberta_tokenizer(" ".join(rng.choice(words[:31]).replace("##", "") for _ in range(12))
                                for _ in range(500))
rtexts = [m + " <pad> " + m if i % 5 == 0 and len(m.split()) < 40 else m for i, m in enumerate(mtexts)]
rmodels = {}
for name, cls_cfg, cls_model in (("roberta", transformers.RobertaConfig, transformers.RobertaModel),
                                 ("xlm-roberta", transformers.XLMRobertaConfig, transformers.XLMRobertaModel)):
    rcfg = cls_cfg(vocab_size=len(rtok), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                   intermediate_size=128, max_position_embeddings=400, type_vocab_size=1, pad_token_id=1,
                   layer_norm_eps=1e-5)
    rmodels[name] = cls_model(rcfg, add_pooling_layer=False).eval()
    perturb(rmodels[name])
    save_folder(os.path.join(work, name), rmodels[name], tokenizer=rtok)

# XLM-RoBERTa as multilingual-e5 and bge-m3 ship it: a SentencePiece
# Unigram tokenizer (trained here, converted by transformers; see
# tests/tokenizer/unigram_oracle.py) on multilingual text
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tokenizer"))
uo = __import__("unigram_oracle")
xtok = transformers.XLMRobertaTokenizerFast(vocab_file=uo.train(work, "xlmr-sp"))
xcfg = transformers.XLMRobertaConfig(vocab_size=len(xtok), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=128, max_position_embeddings=400, type_vocab_size=1,
                                     pad_token_id=1, layer_norm_eps=1e-5)
rmodels["xlm-roberta-unigram"] = transformers.XLMRobertaModel(xcfg, add_pooling_layer=False).eval()
perturb(rmodels["xlm-roberta-unigram"])
save_folder(os.path.join(work, "xlm-roberta-unigram"), rmodels["xlm-roberta-unigram"], tokenizer=xtok)
xtexts = [uo.one_line(uo.random_text(rng)).strip() or "x" for _ in range(24)]

failures = []
runs = [("distilbert", plain, "mean", None), ("distilbert-mlm", mlm.distilbert, "mean", None)] + \
       [("distilbert-" + mode, plain, mode, None) for mode in modes] + \
       [("distilbert-dense", plain, "mean+dense", None)] + \
       [("distilbert-prompts", plain, "mean", p) for p in (None, "doc", "")] + \
       [("mpnet", mplain, "mean", None), ("mpnet-mlm", mmlm.mpnet, "mean", None)] + \
       [(name, model, "mean", None) for name, model in rmodels.items()]
for name, model, mode, prompt in runs:
    texts_now, tok_now = (mtexts, mtok) if name.startswith("mpnet") else (xtexts, xtok) if name.endswith("unigram") \
        else (rtexts, rtok) if name in rmodels else (texts, tok)
    folder = os.path.join(work, name)
    inp = os.path.join(work, name + ".txt")
    with open(inp, "w") as f:
        f.write("\n".join(texts_now) + "\n")
    out = os.path.join(work, name + ".npy")
    extra = [] if prompt is None else ["--prompt-name", prompt]
    p = subprocess.run([cli, "embed", "-q", "--model", folder, inp, "--output", out] + extra, capture_output=True,
                       text=True)
    if p.returncode:
        failures.append(f"{name}: embed failed: {p.stderr.strip()[-400:]}")
        continue
    got = np.load(out)
    front = prompts["query" if prompt is None else prompt] if prompt != "" and name.endswith("prompts") else ""
    enc = tok_now([front + t for t in texts_now], padding=True, return_tensors="pt")
    with torch.no_grad():
        h = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    with torch.no_grad():
        want = pooled(h, enc["attention_mask"], mode).numpy()
    if got.shape != want.shape:
        failures.append(f"{name}: shape {got.shape}, transformers {want.shape}")
        continue
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    rel = np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)  # scale too (mean vs sqrt)
    if prompt is not None:
        name += f" (--prompt-name '{prompt}')"
    lens = enc["attention_mask"].sum(1)
    print(f"{name}: {len(texts_now)} texts of {lens.min()}-{lens.max()} tokens, cosine min {cos.min():.8f}, "
          f"relative error max {rel.max():.2e}")
    if cos.min() < 0.99999 or rel.max() > 1e-4:
        failures.append(f"{name}: cosine min {cos.min():.8f}, relative error max {rel.max():.2e}")
# Chunking: texts past the 96 positions, in windows of 24 tokens overlapping
# by 6, against transformers on the same windows, mean-pooled each and
# averaged weighted by their tokens.
C, OVERLAP = 24, 6
long_texts = [" ".join(rng.choice(words[:31]).replace("##", "") for _ in range(rng.randint(5, 200)))
              for _ in range(12)]
inp = os.path.join(work, "chunked.txt")
with open(inp, "w") as f:
    f.write("\n".join(long_texts) + "\n")
out = os.path.join(work, "chunked.npy")
p = subprocess.run([cli, "embed", "-q", "--model", os.path.join(work, "distilbert"), inp, "--output", out,
                    "--chunk-tokens", str(C), "--chunk-overlap", str(OVERLAP)], capture_output=True, text=True)
if p.returncode:
    failures.append(f"chunked: embed failed: {p.stderr.strip()[-400:]}")
else:
    got, want = np.load(out), []
    for t in long_texts:
        ids = tok(t)["input_ids"]
        content, step, acc, total = ids[1:-1], C - 2 - OVERLAP, 0, 0
        starts = range(0, max(len(content) - (C - 2), 0) + step, step) if len(content) > C - 2 else [0]
        for s0 in starts:
            w = content[s0:s0 + C - 2]
            with torch.no_grad():
                h = plain(input_ids=torch.tensor([[ids[0]] + w + [ids[-1]]])).last_hidden_state[0]
            acc = acc + h.mean(0).double() * len(w)
            total += len(w)
        want.append((acc / total).numpy())
    want = np.array(want)
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    print(f"chunked ({C} tokens, overlap {OVERLAP}): {len(long_texts)} texts, cosine min {cos.min():.8f}")
    if cos.min() < 0.99999:
        failures.append(f"chunked: cosine min {cos.min():.8f}")
p = subprocess.run([cli, "embed", "-q", "--model", os.path.join(work, "distilbert"), "--text", "x", "--chunk-tokens",
                    "2"], capture_output=True, text=True)
if p.returncode == 0 or "chunk_tokens 2" not in p.stderr:
    failures.append(f"chunk of 2 tokens (no room past [CLS] [SEP]): exit {p.returncode}, {p.stderr.strip()[:200]!r}")
p = subprocess.run([cli, "embed", "-q", "--model", os.path.join(work, "distilbert-prompts"), "--text", "x",
                    "--prompt-name", "passage"], capture_output=True, text=True)
if p.returncode == 0 or '"query"' not in p.stderr or '"doc"' not in p.stderr:
    failures.append(f"an unknown prompt name: exit {p.returncode}, stderr {p.stderr.strip()[:200]!r}")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
