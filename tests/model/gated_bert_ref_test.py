#!/usr/bin/env python3
"""NomicBERT, GTE's "new" and Jina BERT v2 (src/model/gated_bert.c)
against the NumPy float64 forwards of tests/model/gated_bert_ref.py, on
small checkpoints of fresh random weights written here with `safetensors`
(f32) under the upstream checkpoints' tensor names, with config.json
under the upstream config classes' field names, a BERT WordPiece
tokenizer (transformers' BertTokenizerFast on a small vocabulary) and
sentence-transformers' modules.json + 1_Pooling.

Oracle: the upstream modeling code of these "remote code" families lives
on the Hugging Face hub (unreachable here) and in GitHub repositories, not
on PyPI; transformers' own NomicBERT port needs torch >= 2 where this
project has Debian's 1.13. So the reference is ours, written from a
reading of the upstream files that gated_bert_ref.py names.

Models (hidden 64 unless said, 4 heads):
- nomic: NomicBertModel as released (swiglu, no biases, rotary fraction
  1, base 1000, n_inner 96 padded to 256, vocabulary padded to a
  multiple of 64), 3 layers, mean pooling;
- nomic-pretrain: NomicBertForPreTraining's "bert." names, every bias,
  plain GELU MLP (activation_function gelu_new: upstream's exact GELU),
  rotary fraction 0.5 interleaved, no token types, cls pooling;
- gte: NewModel as gte-base-en-v1.5 (fused qkv_proj, LayerNorm, rope
  base 160000 with NTK factor 2, token types 2), mean pooling;
- gte-mlm: NewForMaskedLM's "new." names, separate q/k/v_proj, RMSNorm,
  mixed NTK (factor 4, mixed_b 0.7), silu, no token types, cls pooling;
- jina: JinaBertModel as jina-embeddings-v2-base-en (model_type "bert",
  position_embedding_type "alibi", geglu), mean pooling;
- jina-reglu: 6 heads of 10 (slopes of a non-power of 2), reglu,
  JinaBertForMaskedLM's "bert." names, cls pooling.
24 texts of 1 to 150 words (up to ~200 tokens) go through `embed` in one
call (packed); each vector: cosine >= 0.99999 and relative error <= 1e-4
against the reference pooled as sentence-transformers' Pooling does. The
positions matter: references without NTK scaling (gte) and without
ALiBi (jina) must differ (cosine < 0.9999 on some text). Our token ids
equal BertTokenizerFast's on the texts. Refused by name: NomicBERT
prenorm, GTE logn_attention_scale, Jina's qk-post-norm layers.

Usage: gated_bert_ref_test.py CLI WORKDIR
Exit 77 (skipped) without numpy / safetensors / transformers (the
.cache/hf-venv of scripts/install-deps.sh).
"""
import json, os, shutil, subprocess, sys

try:
    import numpy as np
    from safetensors.numpy import save_file
    import transformers
    import hfutil
    import gated_bert_ref as ref
except ImportError as e:
    print(f"SKIP: {e} (scripts/install-deps.sh makes .cache/hf-venv)")
    sys.exit(77)

cli, work = sys.argv[1:3]
rng = hfutil.start(work)
nrng = np.random.default_rng(rng.randrange(1 << 30))
failures = []


def text(lo, hi):
    return " ".join(rng.choice(hfutil.WORDS) for _ in range(rng.randint(lo, hi)))


# a BERT uncased WordPiece vocabulary: the words, their characters as
# word starts and continuations
words = sorted({w.lower() for w in hfutil.WORDS if w.strip()})
chars = sorted({ch for w in words for ch in w})
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(words + chars + ["##" + c for c in chars]))
vocab_file = os.path.join(work, "vocab.txt")
with open(vocab_file, "w") as f:
    f.write("\n".join(vocab) + "\n")
tok = transformers.BertTokenizerFast(vocab_file, do_lower_case=True)
V = len(vocab)


def mat(n_out, n_in):
    return (1.2 * nrng.standard_normal((n_out, n_in)) / n_in ** 0.5).astype(np.float32)


def vec(n, around=0.0, scale=0.1):
    return (around + scale * nrng.standard_normal(n)).astype(np.float32)


def norm(w, name, H, bias=True):
    w[name + ".weight"] = vec(H, 1.0, 0.2)
    if bias:
        w[name + ".bias"] = vec(H)


def lin(w, name, n_out, n_in, bias):
    w[name + ".weight"] = mat(n_out, n_in)
    if bias:
        w[name + ".bias"] = vec(n_out)


def save(name, cfg, w, pooling):
    folder = os.path.join(work, name)
    os.makedirs(os.path.join(folder, "1_Pooling"))
    save_file(w, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    tok.save_pretrained(folder)
    H = cfg.get("hidden_size", cfg.get("n_embd"))
    with open(os.path.join(folder, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": H, "pooling_mode": pooling}, f)
    with open(os.path.join(folder, "modules.json"), "w") as f:
        json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}], f)
    return folder


def make_nomic(name, pooling, prefix, **over):
    cfg = dict(model_type="nomic_bert", architectures=["NomicBertModel"], vocab_size=V, n_embd=64, n_head=4,
               n_layer=3, n_inner=96, n_positions=2048, activation_function="swiglu", rotary_emb_fraction=1.0,
               rotary_emb_base=1000, rotary_emb_interleaved=False, qkv_proj_bias=False, mlp_fc1_bias=False,
               mlp_fc2_bias=False, prenorm=False, causal=False, layer_norm_epsilon=1e-12, type_vocab_size=2,
               pad_vocab_size_multiple=64, max_trained_positions=2048, rotary_scaling_factor=None,
               use_flash_attn=True, fused_bias_fc=True)
    cfg.update(over)
    H, Vp = 64, -(-V // cfg["pad_vocab_size_multiple"]) * cfg["pad_vocab_size_multiple"]
    gated = cfg["activation_function"] in ("swiglu", "geglu")
    inner = -(-cfg["n_inner"] // 256) * 256 if gated else cfg["n_inner"]
    w = {"embeddings.word_embeddings.weight": mat(Vp, H) * 8}
    if cfg["type_vocab_size"]:
        w["embeddings.token_type_embeddings.weight"] = mat(cfg["type_vocab_size"], H) * 8
    norm(w, "emb_ln", H)
    for l in range(cfg["n_layer"]):
        p = f"encoder.layers.{l}."
        lin(w, p + "attn.Wqkv", 3 * H, H, cfg["qkv_proj_bias"])
        lin(w, p + "attn.out_proj", H, H, cfg["qkv_proj_bias"])
        for part in (("fc11", "fc12") if gated else ("fc1",)):
            lin(w, p + "mlp." + part, inner, H, cfg["mlp_fc1_bias"])
        lin(w, p + "mlp.fc2", H, inner, cfg["mlp_fc2_bias"])
        norm(w, p + "norm1", H)
        norm(w, p + "norm2", H)
    if prefix:  # NomicBertForPreTraining: the encoder under "bert.", a head beside
        w = {prefix + k: v for k, v in w.items()}
        lin(w, "cls.predictions.transform.dense", H, H, True)
    return name, save(name, cfg, w, pooling), cfg, w, pooling, lambda ids, **kw: ref.nomic(w, cfg, ids, prefix)


def make_gte(name, pooling, prefix, **over):
    cfg = dict(model_type="new", architectures=["NewModel"], vocab_size=V, hidden_size=64, num_hidden_layers=3,
               num_attention_heads=4, intermediate_size=96, hidden_act="gelu", max_position_embeddings=512,
               type_vocab_size=2, layer_norm_type="layer_norm", layer_norm_eps=1e-12, position_embedding_type="rope",
               rope_theta=160000.0, rope_scaling={"type": "ntk", "factor": 2.0}, pack_qkv=True, unpad_inputs=False,
               use_memory_efficient_attention=False, logn_attention_scale=False, logn_attention_clip1=False)
    cfg.update(over)
    H, I = 64, cfg["intermediate_size"]
    rms = cfg["layer_norm_type"] == "rms_norm"
    w = {"embeddings.word_embeddings.weight": mat(V, H) * 8}
    if cfg["type_vocab_size"]:
        w["embeddings.token_type_embeddings.weight"] = mat(cfg["type_vocab_size"], H) * 8
    norm(w, "embeddings.LayerNorm", H)
    for l in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{l}."
        if cfg["pack_qkv"]:
            lin(w, p + "attention.qkv_proj", 3 * H, H, True)
        else:
            for n in "qkv":
                lin(w, p + f"attention.{n}_proj", H, H, True)
        lin(w, p + "attention.o_proj", H, H, True)
        lin(w, p + "mlp.up_gate_proj", 2 * I, H, False)
        lin(w, p + "mlp.down_proj", H, I, True)
        norm(w, p + "attn_ln", H, not rms)
        norm(w, p + "mlp_ln", H, not rms)
    if prefix:
        w = {prefix + k: v for k, v in w.items()}
        lin(w, "lm_head.dense", H, H, True)

    def run(ids, plain=False):
        c = dict(cfg, rope_scaling=None) if plain else cfg
        return ref.gte(w, c, ids, prefix)
    return name, save(name, cfg, w, pooling), cfg, w, pooling, run


def make_jina(name, pooling, prefix, H=64, heads=4, **over):
    cfg = dict(model_type="bert", architectures=["JinaBertForMaskedLM"], vocab_size=V, hidden_size=H,
               num_hidden_layers=3, num_attention_heads=heads, intermediate_size=96, hidden_act="gelu",
               max_position_embeddings=1024, type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0,
               position_embedding_type="alibi", feed_forward_type="geglu", emb_pooler="mean",
               attn_implementation="torch")
    cfg.update(over)
    I = cfg["intermediate_size"]
    w = {"embeddings.word_embeddings.weight": mat(V, H) * 8,
         "embeddings.token_type_embeddings.weight": mat(2, H) * 8}
    norm(w, "embeddings.LayerNorm", H)
    for l in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{l}."
        for n in ("query", "key", "value"):
            lin(w, p + "attention.self." + n, H, H, True)
        lin(w, p + "attention.output.dense", H, H, True)
        norm(w, p + "attention.output.LayerNorm", H)
        lin(w, p + "mlp.gated_layers", 2 * I, H, False)
        lin(w, p + "mlp.wo", H, I, True)
        norm(w, p + "mlp.layernorm", H)
    if prefix:
        w = {prefix + k: v for k, v in w.items()}
        lin(w, "cls.predictions.transform.dense", H, H, True)

    def run(ids, plain=False):
        return ref.jina(w, cfg, ids, prefix, use_alibi=not plain)
    return name, save(name, cfg, w, pooling), cfg, w, pooling, run


models = [
    make_nomic("nomic", "mean", ""),
    make_nomic("nomic-pretrain", "cls", "bert.", architectures=["NomicBertForPreTraining"],
               activation_function="gelu_new", n_inner=80, rotary_emb_fraction=0.5, rotary_emb_interleaved=True,
               qkv_proj_bias=True, mlp_fc1_bias=True, mlp_fc2_bias=True, type_vocab_size=0,
               pad_vocab_size_multiple=1, layer_norm_epsilon=1e-5),
    make_gte("gte", "mean", ""),
    make_gte("gte-mlm", "cls", "new.", architectures=["NewForMaskedLM"], pack_qkv=False, layer_norm_type="rms_norm",
             rope_scaling={"type": "ntk", "factor": 4.0, "mixed_b": 0.7}, hidden_act="silu", type_vocab_size=0,
             layer_norm_eps=1e-6, rope_theta=10000.0),
    make_jina("jina", "mean", ""),
    make_jina("jina-reglu", "cls", "bert.", H=60, heads=6, feed_forward_type="reglu", layer_norm_eps=1e-6),
]

texts = [text(1, rng.choice([3, 10, 40, 150])) for _ in range(24)]
inp = os.path.join(work, "texts.txt")
with open(inp, "w") as f:
    f.write("\n".join(texts) + "\n")
enc = [tok(t)["input_ids"] for t in texts]
print(f"{len(texts)} texts of {min(map(len, enc))}-{max(map(len, enc))} tokens")

# token ids: ours against BertTokenizerFast's
p = subprocess.run([cli, "tokenize", "--model", models[0][1], inp], capture_output=True, text=True)
if p.returncode:
    failures.append(f"tokenize failed: {p.stderr.strip()[-400:]}")
else:
    got = [json.loads(line)["ids"] for line in p.stdout.splitlines()]
    bad = [i for i in range(len(enc)) if i >= len(got) or got[i] != enc[i]]
    print(f"tokenizer: {len(enc)} texts, {len(bad)} differ from BertTokenizerFast's")
    if bad:
        failures.append(f"tokenizer: {len(bad)} texts differ; first {texts[bad[0]]!r}")


def pooled(h, mode):
    return h[0] if mode == "cls" else h.mean(0)


def cosines(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


for name, folder, cfg, w, pooling, run in models:
    out = os.path.join(work, name + ".npy")
    p = subprocess.run([cli, "embed", "-q", "--model", folder, inp, "--output", out], capture_output=True, text=True)
    if p.returncode:
        failures.append(f"{name}: embed failed: {p.stderr.strip()[-400:]}")
        continue
    got = np.load(out).astype(np.float64)
    want = np.stack([pooled(run(np.array(ids)), pooling) for ids in enc])
    if got.shape != want.shape:
        failures.append(f"{name}: shape {got.shape}, reference {want.shape}")
        continue
    cos = cosines(got, want)
    rel = np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)
    line = f"{name}: cosine min {cos.min():.8f}, relative error max {rel.max():.2e}"
    if name.startswith(("gte", "jina")):  # the positions' scheme must matter on these texts
        plain = np.stack([pooled(run(np.array(ids), plain=True), pooling) for ids in enc])
        pcos = cosines(plain, want).min()
        line += f"; reference without {'NTK scaling' if name.startswith('gte') else 'ALiBi'}: cosine min {pcos:.6f}"
        if pcos > 0.9999:
            failures.append(f"{name}: the reference without its position scheme is the same (cosine {pcos:.6f})")
    print(line)
    if cos.min() < 0.99999 or rel.max() > 1e-4:
        failures.append(line)


def refused(name, base, edit_cfg=None, edit_w=None, want=""):
    folder = os.path.join(work, name)
    shutil.copytree(base, folder)
    if edit_cfg:
        with open(os.path.join(folder, "config.json")) as f:
            cfg = json.load(f)
        edit_cfg(cfg)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(cfg, f)
    if edit_w:
        from safetensors.numpy import load_file
        w = load_file(os.path.join(folder, "model.safetensors"))
        edit_w(w)
        save_file(w, os.path.join(folder, "model.safetensors"))
    p = subprocess.run([cli, "embed", "-q", "--model", folder, "--text", "x"], capture_output=True, text=True)
    print(f"{name}: exit {p.returncode}: {p.stderr.strip()[-200:]}")
    if p.returncode == 0 or want not in p.stderr:
        failures.append(f"{name}: exit {p.returncode}, {p.stderr.strip()[-200:]!r} (wanted {want!r} named)")


refused("nomic-prenorm", models[0][1], lambda c: c.update(prenorm=True), want="prenorm")
refused("gte-logn", models[2][1], lambda c: c.update(logn_attention_scale=True), want="logn_attention_scale")
refused("jina-qk-norm", models[4][1], edit_w=lambda w: w.update({
    "encoder.layer.0.attention.self.layer_norm_q.weight": np.ones(64, np.float32)}), want="layer_norm_q")
refused("gte-reranker", models[2][1], lambda c: c.update(architectures=["NewForSequenceClassification"]),
        want="classification heads are not supported")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
