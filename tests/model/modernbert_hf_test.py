#!/usr/bin/env python3
"""ModernBERT (src/model/modernbert.c) against transformers' own
ModernBertModel (4.49, eager attention, on Debian's torch 1.13 with the
two torch 2 APIs of tests/model/torch_compat.py), on small checkpoints of
fresh random weights made by transformers and saved as sentence-
transformers folders (config.json, model.safetensors f32, tokenizer.json,
modules.json, 1_Pooling).

The tokenizer is laid out as ModernBERT's: byte-level BPE (trained here by
`tokenizers` on words of several scripts), NFC, [CLS] $A [SEP] by
TemplateProcessing, the special tokens after the vocabulary, an lstrip
[MASK]. Our ids must equal `tokenizers`' on 300 fresh random texts.

Models (4 heads of 16, hidden 64, GeGLU of 96):
- modernbert: ModernBertModel as released (no biases, exact GELU), 4
  layers with global_attn_every_n_layers 3 (layers 0 and 3 global) and
  local_attention 16 (keys up to 8 positions away), mean pooling;
- modernbert-mlm: ModernBertForMaskedLM (weights under "model.", a head
  beside) with every bias on (norm_bias, attention_bias, mlp_bias),
  gelu_pytorch_tanh, local_attention 13 (6 either side),
  global_attn_every_n_layers 2, local_rope_theta null (the global base),
  cls pooling.
24 texts of 1 to 150 words (up to ~180 tokens: far past the local
windows) go through `embed` in one call; the reference is transformers on
the same texts padded into one batch, pooled as sentence-transformers'
Pooling does. Each vector: cosine >= 0.99999 and relative error <= 1e-4.
A ModernBertForSequenceClassification folder is refused by name (its head
is not implemented), not embedded.
To show the windows matter, the reference recomputed with every layer
global must differ (cosine < 0.9999 on some text) for the long texts.

Usage: modernbert_hf_test.py CLI WORKDIR
Exit 77 (skipped) when torch / transformers 4.49 are not installed (the
.cache/hf49-venv of scripts/install-deps.sh).
"""
import json, os, shutil, subprocess, sys

try:
    import numpy as np
    import torch
    import torch_compat  # before transformers
    import transformers
    from transformers import ModernBertConfig, ModernBertForMaskedLM, ModernBertModel
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    import hfutil
except ImportError as e:
    print(f"SKIP: {e} (scripts/install-deps.sh makes .cache/hf49-venv)")
    sys.exit(77)

cli, work = sys.argv[1:3]
rng = hfutil.start(work)
print("torch", torch.__version__, "compat:", ", ".join(torch_compat.applied) or "none")
failures = []


def text(lo, hi):
    return " ".join(rng.choice(hfutil.WORDS) for _ in range(rng.randint(lo, hi)))


# ModernBERT's tokenizer.json pipeline on a small trained vocabulary
bpe = Tokenizer(models.BPE())
bpe.normalizer = normalizers.NFC()
bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
bpe.decoder = decoders.ByteLevel()
bpe.train_from_iterator([text(5, 30) for _ in range(400)],
                        trainers.BpeTrainer(vocab_size=400, special_tokens=["<|padding|>", "<|endoftext|>"],
                                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                            show_progress=False))
bpe.add_special_tokens(["[UNK]", "[CLS]", "[SEP]", "[PAD]", AddedToken("[MASK]", lstrip=True, special=True)])
CLS, SEP, PAD = (bpe.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]"))
bpe.post_processor = processors.TemplateProcessing(single="[CLS]:0 $A:0 [SEP]:0",
                                                   pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
                                                   special_tokens=[("[CLS]", CLS), ("[SEP]", SEP)])
tok = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, cls_token="[CLS]", sep_token="[SEP]",
                                           pad_token="[PAD]", unk_token="[UNK]", mask_token="[MASK]")


def perturb(model):
    """Weights larger than ModernBERT's initialization, so that every part
    shows: LayerNorm weights around 1, biases around 0.1."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.2 * torch.randn_like(p) if name.endswith("weight") else 0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(1.2 * torch.randn_like(p) / p.shape[-1] ** 0.5)


def save_folder(folder, model, pooling):
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    os.makedirs(os.path.join(folder, "1_Pooling"))
    with open(os.path.join(folder, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": model.config.hidden_size, "pooling_mode": pooling}, f)
    with open(os.path.join(folder, "modules.json"), "w") as f:
        json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}], f)


common = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=96, num_attention_heads=4,
              max_position_embeddings=512, pad_token_id=PAD, cls_token_id=CLS, sep_token_id=SEP,
              bos_token_id=CLS, eos_token_id=SEP, attn_implementation="eager", reference_compile=False)
variants = [
    ("modernbert", ModernBertModel, "mean",
     dict(num_hidden_layers=4, local_attention=16, global_attn_every_n_layers=3)),
    ("modernbert-mlm", ModernBertForMaskedLM, "cls",
     dict(num_hidden_layers=3, local_attention=13, global_attn_every_n_layers=2, local_rope_theta=None,
          global_rope_theta=50000.0, norm_bias=True, attention_bias=True, mlp_bias=True,
          hidden_activation="gelu_pytorch_tanh", norm_eps=1e-6)),
]

# token ids: ours against tokenizers' on fresh texts (specials among them)
tok_texts = [text(1, 40) + rng.choice(["", " [MASK]", " [SEP] x", "  \t"]) for _ in range(300)]
models_made = {}
for name, cls, pooling, extra in variants:
    model = cls(ModernBertConfig(**common, **extra)).eval()
    perturb(model)
    save_folder(os.path.join(work, name), model, pooling)
    models_made[name] = (model.model if cls is ModernBertForMaskedLM else model, pooling)

inp = os.path.join(work, "tok.txt")
with open(inp, "w") as f:
    f.write("\n".join(tok_texts) + "\n")
p = subprocess.run([cli, "tokenize", "--model", os.path.join(work, "modernbert"), inp], capture_output=True, text=True)
if p.returncode:
    failures.append(f"tokenize failed: {p.stderr.strip()[-400:]}")
else:
    got = [json.loads(line)["ids"] for line in p.stdout.splitlines()]
    want = [e.ids for e in Tokenizer.from_file(os.path.join(work, "modernbert", "tokenizer.json"))
            .encode_batch(tok_texts)]
    bad = [i for i in range(len(want)) if i >= len(got) or got[i] != want[i]]
    print(f"tokenizer: {len(want)} texts, {len(bad)} differ from tokenizers'")
    if bad or len(got) != len(want):
        i = bad[0] if bad else 0
        failures.append(f"tokenizer: {len(bad)} of {len(want)} texts differ; first {tok_texts[i]!r}: "
                        f"ours {got[i] if i < len(got) else None}, tokenizers {want[i]}")


def pooled(h, mask, mode):
    m = mask.unsqueeze(-1).to(h.dtype)
    return h[:, 0] if mode == "cls" else (h * m).sum(1) / m.sum(1)


def reference(model, pooling):
    """transformers on the texts as one padded batch, pooled."""
    with torch.no_grad():
        h = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    return pooled(h, enc["attention_mask"], pooling).double().numpy()


texts = [text(1, rng.choice([3, 10, 40, 150])) for _ in range(24)]
inp = os.path.join(work, "texts.txt")
with open(inp, "w") as f:
    f.write("\n".join(texts) + "\n")
enc = tok(texts, padding=True, return_tensors="pt")
lens = enc["attention_mask"].sum(1)
for name, (model, pooling) in models_made.items():
    out = os.path.join(work, name + ".npy")
    p = subprocess.run([cli, "embed", "-q", "--model", os.path.join(work, name), inp, "--output", out],
                       capture_output=True, text=True)
    if p.returncode:
        failures.append(f"{name}: embed failed: {p.stderr.strip()[-400:]}")
        continue
    got = np.load(out).astype(np.float64)
    want = reference(model, pooling)
    # every layer global: what a wrong (absent) window would give
    saved = [(layer.attn, layer.attn.local_attention) for layer in model.layers]
    for attn, _ in saved:
        attn.local_attention = (-1, -1)
    glob = reference(model, pooling)
    for attn, la in saved:
        attn.local_attention = la
    if got.shape != want.shape:
        failures.append(f"{name}: shape {got.shape}, transformers {want.shape}")
        continue
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    rel = np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)
    gcos = (glob * want).sum(1) / np.linalg.norm(glob, axis=1) / np.linalg.norm(want, axis=1)
    print(f"{name}: {len(texts)} texts of {lens.min()}-{lens.max()} tokens, cosine min {cos.min():.8f}, "
          f"relative error max {rel.max():.2e}; all-global reference: cosine min {gcos.min():.6f}")
    if cos.min() < 0.99999 or rel.max() > 1e-4:
        failures.append(f"{name}: cosine min {cos.min():.8f}, relative error max {rel.max():.2e}")
    if gcos.min() > 0.9999:
        failures.append(f"{name}: the local windows change nothing (all-global cosine {gcos.min():.6f}); "
                        "the texts do not test them")
# a ModernBERT classifier's head is not run: refused by name, not embedded
folder = os.path.join(work, "modernbert-cls")
shutil.copytree(os.path.join(work, "modernbert"), folder)
with open(os.path.join(folder, "config.json")) as f:
    cfg = json.load(f)
cfg["architectures"] = ["ModernBertForSequenceClassification"]
with open(os.path.join(folder, "config.json"), "w") as f:
    json.dump(cfg, f)
p = subprocess.run([cli, "embed", "-q", "--model", folder, "--text", "x"], capture_output=True, text=True)
if p.returncode == 0 or "ModernBertForSequenceClassification" not in p.stderr:
    failures.append(f"a ModernBertForSequenceClassification folder: exit {p.returncode}, {p.stderr.strip()[:200]!r}")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
