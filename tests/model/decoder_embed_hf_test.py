#!/usr/bin/env python3
"""Decoder embedders (src/model/embed_decoder.c) against transformers: a
Qwen2 model used as gte-Qwen2-*-instruct uses it, through `embed`, the
server's /v1/embeddings and Python's Model.embed.

A small Qwen2Model with fresh random weights (3 layers, hidden 64, 4 heads
over 2 KV heads: grouped-query attention; Q/K/V biases) is saved as a
sentence-transformers folder: config.json, model.safetensors in f32 (base
model names, no "model." prefix), a byte-level BPE tokenizer.json trained
here with Qwen2's NFC normalizer, its split regex and a post-processor
appending <|endoftext|> (as gte-Qwen2's does), modules.json with a
lasttoken Pooling and Normalize. A second folder holds the same weights as
Qwen2ForCausalLM saves them ("model." prefix, lm_head beside), and is served
as an embedder all the same (modules.json says so, as gte-Qwen2's
Qwen2ForCausalLM config does). A third says "is_causal": false (gte-Qwen2
was trained with bidirectional attention and says so in its config.json):
its reference is Qwen2Model given an all-zeros 4-D mask, text by text.
MistralModel (e5-mistral-7b-instruct's family; one KV head, a sliding
window of 8 tokens, shorter than most texts) and LlamaModel (no biases)
the same way through `embed`.

The reference is what sentence-transformers computes: the texts tokenized
in one batch, padded on the left as gte-Qwen2's tokenizer pads, the final
hidden states of Qwen2Model (after its last RMSNorm), the last non-padding
token's (Pooling's lasttoken rule), normalized. 24 fresh texts of 1 to 150
words in one call; each vector must have cosine >= 0.99999 and relative
error <= 1e-4. The engine's token ids are checked against the tokenizer's
too (the server's /tokenize). Qwen3 embedders (Qwen3 is not in
transformers 4.47.1, the version that runs on Debian's torch) are checked
against a NumPy forward in tests/decoder/qwen3_ref_test.py.

Usage: decoder_embed_hf_test.py CLI WORKDIR
Exit 77 (skipped) when torch/transformers are not installed (the
.cache/hf-venv of scripts/install-deps.sh).
"""
import json, math, os, shutil, subprocess, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
import srvutil

try:
    import numpy as np
    import torch
    import transformers
    from tokenizers import processors
    import hfutil
except ImportError as e:
    print(f"SKIP: {e} (scripts/install-deps.sh makes .cache/hf-venv)")
    sys.exit(77)

cli, work = sys.argv[1:3]
rng = hfutil.start(work)

def text(lo, hi):
    return " ".join(rng.choice(hfutil.WORDS) for _ in range(rng.randint(lo, hi)))


# Qwen2's tokenizer.json pipeline on a small trained vocabulary
bpe = hfutil.qwen_bpe([text(5, 30) for _ in range(400)])
eos = bpe.token_to_id("<|endoftext|>")
bpe.post_processor = processors.Sequence([
    processors.ByteLevel(trim_offsets=False),
    processors.TemplateProcessing(single="$A <|endoftext|>", pair="$A <|endoftext|> $B <|endoftext|>",
                                  special_tokens=[("<|endoftext|>", eos)])])
tok = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                           padding_side="left")

cfg = transformers.Qwen2Config(vocab_size=448, hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
                               num_key_value_heads=2, intermediate_size=96, max_position_embeddings=1024,
                               rope_theta=1e6, rms_norm_eps=1e-6, tie_word_embeddings=False, bos_token_id=eos,
                               eos_token_id=eos)
model = transformers.Qwen2Model(cfg).eval()
with torch.no_grad():  # larger than the initialization, as tests/decoder/hf_test.py draws them
    for name, w in model.named_parameters():
        if w.dim() == 1 and name.endswith("weight"):  # norms
            w.copy_(1 + 0.2 * torch.randn_like(w))
        elif w.dim() == 1:
            w.copy_(0.1 * torch.randn_like(w))
        elif "embed" in name:
            w.copy_(torch.randn_like(w))
        else:
            w.copy_(torch.randn_like(w) / math.sqrt(64))
causal = transformers.Qwen2ForCausalLM(cfg).eval()
causal.model.load_state_dict(model.state_dict())


def save_folder(folder, m):
    m.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    os.makedirs(os.path.join(folder, "1_Pooling"))
    with open(os.path.join(folder, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": 64, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": False,
                   "pooling_mode_lasttoken": True}, f)
    with open(os.path.join(folder, "modules.json"), "w") as f:
        json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                   {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
                  f)
    os.makedirs(os.path.join(folder, "2_Normalize"))
    with open(os.path.join(folder, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": 1024, "do_lower_case": False}, f)


base_dir, causal_dir = os.path.join(work, "qwen2-embed"), os.path.join(work, "qwen2-causal-embed")
bidir_dir = os.path.join(work, "qwen2-bidirectional-embed")
save_folder(base_dir, model)
save_folder(causal_dir, causal)
save_folder(bidir_dir, model)
with open(os.path.join(bidir_dir, "config.json")) as f:
    c = json.load(f)
c["is_causal"] = False
with open(os.path.join(bidir_dir, "config.json"), "w") as f:
    json.dump(c, f)

texts = [text(1, 3) for _ in range(6)] + [text(4, 40) for _ in range(12)] + [text(60, 150) for _ in range(6)]
rng.shuffle(texts)
enc = tok(texts, padding=True, return_tensors="pt")
mask = enc["attention_mask"]
with torch.no_grad():
    h = model(input_ids=enc["input_ids"], attention_mask=mask).last_hidden_state
    # sentence-transformers' Pooling, lasttoken: the last 1 of the mask, whichever side pads
    values, idx = mask.flip(1).max(1)
    last = mask.shape[1] - torch.where(values == 0, mask.shape[1] - 1, idx) - 1
    want = torch.nn.functional.normalize(h[torch.arange(h.shape[0]), last], dim=1).double().numpy()
lens = mask.sum(1)
eager = transformers.Qwen2Model._from_config(cfg, attn_implementation="eager").eval()
eager.load_state_dict(model.state_dict())
want_bidir, moved = [], 0.0
with torch.no_grad():
    for t in texts:
        ids = torch.tensor([tok(t)["input_ids"]])
        hb = eager(input_ids=ids, attention_mask=torch.zeros(1, 1, ids.shape[1], ids.shape[1])).last_hidden_state[0]
        hc = eager(input_ids=ids).last_hidden_state[0]
        if ids.shape[1] > 1:  # the mask took effect: the first token saw the others
            moved = max(moved, float((hb[0] - hc[0]).norm() / hc[0].norm()))
        want_bidir.append(torch.nn.functional.normalize(hb[-1], dim=0).double().numpy())
want_bidir = np.array(want_bidir)
assert moved > 0.1, f"the all-zeros 4-D mask left the first token as causal attention has it ({moved})"
assert all(enc["input_ids"][i, -1] == eos for i in range(len(texts)))  # the post-processor's <|endoftext|>
print(f"{len(texts)} texts of {lens.min()}-{lens.max()} tokens, padded on the left")

failures = []


def check(name, got, want=want):
    got = np.asarray(got, dtype=np.float64)
    if got.shape != want.shape:
        failures.append(f"{name}: shape {got.shape}, transformers {want.shape}")
        return
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    rel = np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)
    print(f"{name}: cosine min {cos.min():.8f}, relative error max {rel.max():.2e}")
    if cos.min() < 0.99999 or rel.max() > 1e-4:
        failures.append(f"{name}: cosine min {cos.min():.8f}, relative error max {rel.max():.2e}")


inp = os.path.join(work, "texts.txt")
with open(inp, "w") as f:
    f.write("\n".join(texts) + "\n")
for folder, ref in ((base_dir, want), (causal_dir, want), (bidir_dir, want_bidir)):
    out = os.path.join(work, os.path.basename(folder) + ".npy")
    p = subprocess.run([cli, "embed", "-q", "--model", folder, inp, "--output", out], capture_output=True, text=True)
    if p.returncode:
        failures.append(f"{os.path.basename(folder)}: embed failed: {p.stderr.strip()[-400:]}")
    else:
        check(f"embed {os.path.basename(folder)}", np.load(out), ref)

srv = srvutil.Server(cli, [causal_dir])
try:
    st, _, body = srv.request("POST", "/v1/embeddings", {"input": texts})
    rows = sorted(json.loads(body)["data"], key=lambda d: d["index"]) if st == 200 else []
    if st != 200:
        failures.append(f"/v1/embeddings: {st} {body[:200]}")
    else:
        check("POST /v1/embeddings", [r["embedding"] for r in rows])
    st, _, body = srv.request("POST", "/tokenize", {"inputs": texts})
    ids = [[t["id"] for t in row] for row in json.loads(body)] if st == 200 else None
    ref = [tok(t)["input_ids"] for t in texts]
    if ids != ref:
        bad = next((i for i in range(len(texts)) if not ids or ids[i] != ref[i]), 0)
        failures.append(f"/tokenize: {st}, text {bad} {texts[bad]!r}: ids {ids[bad] if ids else body[:200]}, "
                        f"tokenizers {ref[bad]}")
finally:
    srv.stop()
ia = hfutil.python_binding(cli)
if ia:
    check("Python Model.embed", ia.Model(causal_dir).embed(texts))

# mistral and llama: the same texts, tokenizer and modules
for name, cfg_cls, model_cls, extra in (
        ("mistral", transformers.MistralConfig, transformers.MistralModel, dict(num_key_value_heads=1,
                                                                               sliding_window=8)),
        ("llama", transformers.LlamaConfig, transformers.LlamaModel, dict(num_key_value_heads=2))):
    fcfg = cfg_cls(vocab_size=448, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96,
                   max_position_embeddings=1024, rms_norm_eps=1e-5, bos_token_id=eos, eos_token_id=eos, **extra)
    fmodel = model_cls(fcfg).eval()
    with torch.no_grad():
        for pname, w in fmodel.named_parameters():
            w.copy_(1 + 0.2 * torch.randn_like(w) if w.dim() == 1 else
                    torch.randn_like(w) if "embed" in pname else torch.randn_like(w) / math.sqrt(64))
    folder = os.path.join(work, name + "-embed")
    save_folder(folder, fmodel)
    with torch.no_grad():
        h = fmodel(input_ids=enc["input_ids"], attention_mask=mask).last_hidden_state
        fwant = torch.nn.functional.normalize(h[torch.arange(h.shape[0]), last], dim=1).double().numpy()
    out = os.path.join(work, name + ".npy")
    p = subprocess.run([cli, "embed", "-q", "--model", folder, inp, "--output", out], capture_output=True, text=True)
    if p.returncode:
        failures.append(f"{name}: embed failed: {p.stderr.strip()[-400:]}")
    else:
        check(f"embed {name}-embed", np.load(out), fwant)

# a decoder's classification head is refused, naming the file and key
cls_dir = os.path.join(work, "qwen2-cls")
shutil.copytree(base_dir, cls_dir)
with open(os.path.join(cls_dir, "config.json")) as f:
    c = json.load(f)
c["architectures"] = ["Qwen2ForSequenceClassification"]
with open(os.path.join(cls_dir, "config.json"), "w") as f:
    json.dump(c, f)
p = subprocess.run([cli, "embed", "-q", "--model", cls_dir, "--text", "x"], capture_output=True, text=True)
if p.returncode == 0 or "config.json" not in p.stderr or "Qwen2ForSequenceClassification" not in p.stderr:
    failures.append(f"Qwen2ForSequenceClassification: exit {p.returncode}, {p.stderr.strip()[:300]!r}")
# the decoder computes in fp32 on its stored weights: another precision is refused, not misreported
p = subprocess.run([cli, "embed", "-q", "--model", base_dir, "--text", "x", "--precision", "int8"], capture_output=True,
                   text=True)
if p.returncode == 0 or 'precision "int8"' not in p.stderr or "fp32" not in p.stderr:
    failures.append(f"--precision int8 on qwen2: exit {p.returncode}, {p.stderr.strip()[:300]!r}")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
