#!/usr/bin/env python3
"""Qwen3 (src/model/decoder.c, src/model/embed_decoder.c) against an
independent NumPy float64 forward written here from Qwen3's definition
(transformers' modeling_qwen3.py of later releases): Qwen2 without the Q/K/V
biases (unless config.json's "attention_bias" says so) and with an RMSNorm
of each head's query and key (self_attn.q_norm / k_norm, [head_dim], eps =
rms_norm_eps) after the projections and before the rotary embedding;
rotate_half rope; head_dim from config.json. transformers 4.47.1 (the
version on Debian's torch) has no Qwen3, hence a reference of our own.

Tiny checkpoints with fresh random weights, written here with the
`safetensors` package (f32): 2 layers, hidden 64, 4 heads over 2 KV heads
of head_dim 24 (not 64 / 4), a byte-level BPE tokenizer.json trained here
with Qwen2's split regex.
- qwen3: Qwen3ForCausalLM, tied embeddings (as Qwen3-0.6B);
- qwen3-bias: "attention_bias": true (Q/K/V and O biases), its own lm_head;
- qwen3-embed: a sentence-transformers folder as Qwen3-Embedding's (the
  base model's names without "model.", lasttoken Pooling, Normalize, a
  post-processor appending <|endoftext|>).
Checks: logits of 3 random prompts per causal model (hf_run: the prompt
whole, then 4 steps through the KV cache; also batched sessions) with
cosine >= 0.99999 and max |error| <= 1e-4 x max |logit| at every position;
16 greedy tokens of two texts identical to the reference's (a near tie,
the reference's top two within 1e-6 x max |logit|, ends the comparison
instead: f32 cannot order those); 24 texts of 1 to 150 words through
`embed` (and Python's Model.embed) with cosine >= 0.99999 and relative
error <= 1e-4. Then each causal
folder converted to GGUF by llama.cpp's convert_hf_to_gguf.py (it has
Qwen3: conversion/qwen.py, arch "qwen3", blk.N.attn_q_norm / attn_k_norm,
Q/K rows left unpermuted as for qwen2) and its logits held to the same
bounds; skipped with the reason printed if the converter cannot run.

Usage: qwen3_ref_test.py HF_RUN CLI FETCH_SCRIPT WORKDIR
Exit 77 (skipped) without numpy/safetensors/tokenizers/transformers (the
.cache/hf-venv of scripts/install-deps.sh).
"""
import json, math, os, random, shutil, subprocess, sys

try:
    import numpy as np
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer, processors
    import transformers
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "model"))
    import hfutil
except ImportError as e:
    print(f"SKIP: {e} (scripts/install-deps.sh makes .cache/hf-venv)")
    sys.exit(77)

here = os.path.dirname(os.path.abspath(__file__))
run, cli, fetch, work = sys.argv[1:5]
seed = int(os.environ.get("IA_TEST_SEED", int.from_bytes(os.urandom(4), "little")))
print(f"seed {seed} (IA_TEST_SEED={seed} repeats this run)")
rng = random.Random(seed)
nrng = np.random.default_rng(seed)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

def text(lo, hi):
    return " ".join(rng.choice(hfutil.WORDS) for _ in range(rng.randint(lo, hi)))


# tokenizer: Qwen2's (and Qwen3's) pipeline on a small trained vocabulary
bpe = hfutil.qwen_bpe([text(5, 30) for _ in range(400)])
bpe.post_processor = processors.ByteLevel(trim_offsets=False)
EOS = bpe.token_to_id("<|endoftext|>")
# the model's vocabulary is the tokenizer's: greedy ids must decode
VOCAB, E, H, HK, HD, F, EPS, THETA = bpe.get_vocab_size(), 64, 4, 2, 24, 96, 1e-6, 1e6


def save_tokenizer(folder, append_eos):
    t = Tokenizer.from_str(bpe.to_str())
    if append_eos:  # Qwen3-Embedding's post-processor
        t.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single="$A <|endoftext|>", pair="$A <|endoftext|> $B <|endoftext|>",
                                          special_tokens=[("<|endoftext|>", EOS)])])
    transformers.PreTrainedTokenizerFast(tokenizer_object=t, eos_token="<|endoftext|>",
                                         pad_token="<|endoftext|>").save_pretrained(folder)
    return t


def make_weights(bias, tied):
    """Qwen3's parameters under their transformers names (without "model.")."""
    def lin(n_out, n_in):
        return nrng.standard_normal((n_out, n_in)) / math.sqrt(n_in)

    def norm(n):
        return 1 + 0.2 * nrng.standard_normal(n)

    w = {"embed_tokens.weight": nrng.standard_normal((VOCAB, E)), "norm.weight": norm(E)}
    for l in range(2):
        p = f"layers.{l}."
        w[p + "input_layernorm.weight"] = norm(E)
        w[p + "post_attention_layernorm.weight"] = norm(E)
        w[p + "self_attn.q_proj.weight"] = lin(H * HD, E)
        w[p + "self_attn.k_proj.weight"] = lin(HK * HD, E)
        w[p + "self_attn.v_proj.weight"] = lin(HK * HD, E)
        w[p + "self_attn.o_proj.weight"] = lin(E, H * HD)
        w[p + "self_attn.q_norm.weight"] = norm(HD)
        w[p + "self_attn.k_norm.weight"] = norm(HD)
        if bias:
            for n, m in (("q", H * HD), ("k", HK * HD), ("v", HK * HD), ("o", E)):
                w[p + f"self_attn.{n}_proj.bias"] = 0.1 * nrng.standard_normal(m)
        w[p + "mlp.gate_proj.weight"] = lin(F, E)
        w[p + "mlp.up_proj.weight"] = lin(F, E)
        w[p + "mlp.down_proj.weight"] = lin(E, F)
    w["lm_head.weight"] = w["embed_tokens.weight"] if tied else lin(VOCAB, E)
    # the reference computes on exactly the stored f32 numbers
    return {k: v.astype(np.float32).astype(np.float64) for k, v in w.items()}


def save_model(folder, w, bias, tied, base):
    os.makedirs(folder, exist_ok=True)
    cfg = {"architectures": ["Qwen3Model" if base else "Qwen3ForCausalLM"], "model_type": "qwen3",
           "vocab_size": VOCAB, "hidden_size": E, "num_hidden_layers": 2, "num_attention_heads": H,
           "num_key_value_heads": HK, "head_dim": HD, "intermediate_size": F, "max_position_embeddings": 512,
           "rms_norm_eps": EPS, "rope_theta": THETA, "rope_scaling": None, "hidden_act": "silu",
           "attention_bias": bias, "attention_dropout": 0.0, "use_sliding_window": False, "sliding_window": None,
           "max_window_layers": 2, "tie_word_embeddings": tied, "torch_dtype": "float32",
           "bos_token_id": EOS, "eos_token_id": EOS}
    with open(f"{folder}/config.json", "w") as f:
        json.dump(cfg, f, indent=2)
    pre = "" if base else "model."
    st = {(k if k == "lm_head.weight" else pre + k): v.astype(np.float32) for k, v in w.items()
          if k != "lm_head.weight" or not (tied or base)}
    save_file(st, f"{folder}/model.safetensors", metadata={"format": "pt"})


# the reference ----------------------------------------------------------------
def rms(x, g):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + EPS) * g


def forward(w, ids, states=False, qk_norm=True):
    """Qwen3 in float64: logits (n, VOCAB), or the final normed states (n, E);
    qk_norm False: without the per-head norms (Qwen2's forward, to show the
    comparison sees them)."""
    n = len(ids)
    x = w["embed_tokens.weight"][ids]
    inv = THETA ** (-np.arange(0, HD, 2) / HD)
    ang = np.arange(n)[:, None] * inv[None, :]
    cos, sin = np.cos(np.concatenate([ang, ang], 1)), np.sin(np.concatenate([ang, ang], 1))

    def rope(t):  # (n, heads, HD): rotate_half's pairs (i, i + HD/2)
        rot = np.concatenate([-t[..., HD // 2:], t[..., :HD // 2]], -1)
        return t * cos[:, None] + rot * sin[:, None]

    def proj(h, name):
        y = h @ w[name + ".weight"].T
        return y + w[name + ".bias"] if name + ".bias" in w else y

    mask = np.triu(np.full((n, n), -np.inf), 1)
    for l in range(2):
        p = f"layers.{l}."
        h = rms(x, w[p + "input_layernorm.weight"])
        q = proj(h, p + "self_attn.q_proj").reshape(n, H, HD)
        k = proj(h, p + "self_attn.k_proj").reshape(n, HK, HD)
        v = proj(h, p + "self_attn.v_proj").reshape(n, HK, HD)
        if qk_norm:  # the per-head norms, before rope
            q, k = rms(q, w[p + "self_attn.q_norm.weight"]), rms(k, w[p + "self_attn.k_norm.weight"])
        q, k = rope(q), rope(k)
        out = np.empty((n, H, HD))
        for hh in range(H):
            kv = hh // (H // HK)
            s = q[:, hh] @ k[:, kv].T / math.sqrt(HD) + mask
            s = np.exp(s - s.max(1, keepdims=True))
            out[:, hh] = (s / s.sum(1, keepdims=True)) @ v[:, kv]
        x = x + proj(out.reshape(n, H * HD), p + "self_attn.o_proj")
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        g = h @ w[p + "mlp.gate_proj.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    h = rms(x, w["norm.weight"])
    return h if states else h @ w["lm_head.weight"].T


def cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# the checkpoints ---------------------------------------------------------------
causal = {"qwen3": (False, True), "qwen3-bias": (True, False)}  # name: (attention_bias, tied)
weights = {}
for name, (bias, tied) in causal.items():
    weights[name] = make_weights(bias, tied)
    save_model(f"{work}/{name}", weights[name], bias, tied, base=False)
    save_tokenizer(f"{work}/{name}", append_eos=False)
emb_dir = f"{work}/qwen3-embed"
weights["qwen3-embed"] = make_weights(False, True)
save_model(emb_dir, weights["qwen3-embed"], False, True, base=True)
emb_tok = save_tokenizer(emb_dir, append_eos=True)
os.makedirs(f"{emb_dir}/1_Pooling")
with open(f"{emb_dir}/1_Pooling/config.json", "w") as f:
    json.dump({"word_embedding_dimension": E, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": False,
               "pooling_mode_lasttoken": True}, f)
os.makedirs(f"{emb_dir}/2_Normalize")
with open(f"{emb_dir}/modules.json", "w") as f:
    json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}], f)
with open(f"{emb_dir}/sentence_bert_config.json", "w") as f:
    json.dump({"max_seq_length": 512, "do_lower_case": False}, f)

# GGUF from the causal folders, if llama.cpp's converter runs here
gguf_skip = None
p = subprocess.run([fetch], capture_output=True, text=True)
if p.returncode:
    gguf_skip = f"llama.cpp's source cannot be fetched ({p.stderr.strip()[-200:]})"
else:
    llama_cpp = p.stdout.strip()
    if not os.path.exists(f"{llama_cpp}/conversion/qwen.py") or \
            "Qwen3ForCausalLM" not in open(f"{llama_cpp}/conversion/qwen.py").read():
        gguf_skip = f"{llama_cpp}: convert_hf_to_gguf.py has no Qwen3ForCausalLM"
    else:
        p = subprocess.run([sys.executable, f"{here}/hf_convert.py", llama_cpp] + [f"{work}/{n}" for n in causal],
                           capture_output=True, text=True)
        if p.returncode:
            gguf_skip = f"convert_hf_to_gguf.py failed: {p.stderr.strip()[-600:]}"
if gguf_skip:
    print("SKIP (GGUF part):", gguf_skip)

# the comparisons ----------------------------------------------------------------
failures = []
LOGIT_REL = 1e-4
for name in causal:
    forms = [("folder", f"{work}/{name}")] + ([] if gguf_skip else [("gguf", f"{work}/{name}/model.gguf")])
    prompts = []
    for _ in range(3):
        n_prompt = rng.randint(8, 20)
        prompts.append((n_prompt, [rng.randrange(VOCAB) for _ in range(n_prompt + 4)],
                        [rng.randrange(VOCAB) for _ in range(rng.randint(3, 10))]))
    for form, path in forms:
        worst_cos, worst_abs, worst_rel, batch = 1.0, 0.0, 0.0, 0.0
        for n_prompt, ids, other in prompts:
            out = f"{work}/{name}-{form}.f32"
            info, got = hfutil.hf_run_logits(run, path, out, ids, n_prompt, other)
            if got is None:
                failures.append(f"{name} {form}: hf_run failed: {info}")
                break
            want = forward(weights[name], ids)
            plain = forward(weights[name], ids, qk_norm=False)
            if np.abs(plain - want).max() < 100 * LOGIT_REL * np.abs(want).max():
                failures.append(f"{name}: the per-head norms hardly change the reference's logits")
            err = np.abs(got - want).max()
            worst_cos = min(worst_cos, cosines(got, want).min())
            worst_abs = max(worst_abs, err)
            worst_rel = max(worst_rel, err / np.abs(want).max())
            batch = max(batch, info["batch_rel_diff"], info["batch_other_rel_diff"])
        print(f"logits {name} {form}: cosine min {worst_cos:.8f}, max |error| {worst_abs:.2e} "
              f"({worst_rel:.2e} of max |logit|), batched vs alone {batch:.2e}")
        if worst_cos < 0.99999 or worst_rel > LOGIT_REL or batch > 1e-4:
            failures.append(f"{name} {form}: cosine {worst_cos:.8f}, relative max error {worst_rel:.2e}, "
                            f"batched {batch:.2e}")

    # greedy: 16 tokens, the reference recomputing each whole sequence
    for prompt in ("the river and the old stone bridge", "Zürich 2024, e.g. water"):
        p = subprocess.run([run, "greedy", f"{work}/{name}", "16", prompt], capture_output=True, text=True)
        if p.returncode:
            failures.append(f"{name} greedy: hf_run failed: {p.stderr.strip()}")
            continue
        res = json.loads(p.stdout)
        want_ids = bpe.encode(prompt).ids
        if res["prompt_ids"] != want_ids:
            failures.append(f"{name} greedy {prompt!r}: prompt ids {res['prompt_ids']}, tokenizers {want_ids}")
            continue
        seq, same, note = list(want_ids), 0, ""
        for step in range(16):
            lg = forward(weights[name], seq)[-1]
            top2 = np.argsort(lg)[-2:]
            if res["ids"][step] != int(top2[1]):
                if lg[top2[1]] - lg[res["ids"][step]] <= 1e-6 * np.abs(lg).max():
                    note = f" (then a near tie at step {step})"
                    break
                failures.append(f"{name} greedy {prompt!r}: step {step} gave {res['ids'][step]}, the reference "
                                f"{int(top2[1])} (ids {res['ids']})")
                break
            seq.append(int(top2[1]))
            same += 1
        print(f"greedy {name} {prompt!r}: {same} of 16 tokens identical{note}")

# embeddings: 24 texts through `embed`
texts = [text(1, 3) for _ in range(6)] + [text(4, 40) for _ in range(12)] + [text(60, 150) for _ in range(6)]
rng.shuffle(texts)
want = []
for t in texts:
    ids = emb_tok.encode(t).ids
    assert ids[-1] == EOS  # the post-processor's <|endoftext|>
    h = forward(weights["qwen3-embed"], ids, states=True)[-1]  # lasttoken pooling
    want.append(h / np.linalg.norm(h))
want = np.array(want)
inp = f"{work}/texts.txt"
with open(inp, "w") as f:
    f.write("\n".join(texts) + "\n")
p = subprocess.run([cli, "embed", "-q", "--model", emb_dir, inp, "--output", f"{work}/embed.npy"],
                   capture_output=True, text=True)
if p.returncode:
    failures.append(f"qwen3-embed: embed failed: {p.stderr.strip()[-400:]}")
else:
    got = np.load(f"{work}/embed.npy").astype(np.float64)
    if got.shape != want.shape:
        failures.append(f"qwen3-embed: shape {got.shape}, reference {want.shape}")
    else:
        cos = cosines(got, want)
        rel = np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)
        print(f"embed qwen3-embed ({len(texts)} texts): cosine min {cos.min():.8f}, relative error max "
              f"{rel.max():.2e}")
        if cos.min() < 0.99999 or rel.max() > 1e-4:
            failures.append(f"qwen3-embed: cosine min {cos.min():.8f}, relative error max {rel.max():.2e}")

# the same vectors through Python's Model.embed (not under the sanitizer build)
ia = hfutil.python_binding(cli)
if ia:
    got = np.asarray(ia.Model(emb_dir).embed(texts), dtype=np.float64)
    rel = np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)
    print(f"Python Model.embed: relative error max {rel.max():.2e}")
    if rel.max() > 1e-4:
        failures.append(f"Python Model.embed: relative error max {rel.max():.2e}")

# a missing per-head norm is an error naming the file and tensor
bad = f"{work}/qwen3-no-qnorm"
shutil.copytree(f"{work}/qwen3", bad, ignore=shutil.ignore_patterns("*.gguf"))
w = {("model." + k): v.astype(np.float32) for k, v in weights["qwen3"].items()
     if k != "lm_head.weight" and k != "layers.1.self_attn.q_norm.weight"}
save_file(w, f"{bad}/model.safetensors", metadata={"format": "pt"})
p = subprocess.run([run, "logits", bad, f"{work}/err.f32", "1,2", "3", ""], capture_output=True, text=True)
if p.returncode == 0 or "model.layers.1.self_attn.q_norm.weight" not in p.stderr:
    failures.append(f"missing q_norm: exit {p.returncode}, {p.stderr.strip()[:300]!r}")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
