"""NumPy float64 forwards of the three "remote code" encoder families of
src/model/gated_bert.c, written for tests/model/gated_bert_ref_test.py from
a reading of the upstream modeling files (none of them ships on PyPI, and
transformers' own port of NomicBERT needs torch >= 2, so the test cannot
run them):

- NomicBERT: nomic-ai/contrastors, src/contrastors/models/huggingface/
  modeling_hf_nomic_bert.py and configuration_hf_nomic_bert.py at commit
  613ddfd37309e538cceadb05b1e6423e7b09f603 (NomicBertModel,
  NomicBertEmbeddings, NomicBertBlock's post-norm branch,
  NomicBertAttention, NomicBertRotaryEmbedding / apply_rotary_emb,
  NomciBertGatedMLP with its multiple_of=256 rounding, NomicBertMLP);
- GTE "new": Alibaba-NLP/new-impl's modeling.py and configuration.py as
  mirrored in public GitHub repositories ("Copyright 2024 The GTE Team
  Authors and Alibaba Group"; NewEmbeddings, NTKScalingRotaryEmbedding,
  NewAttention._attention, NewGatedMLP, NewLayer, NewModel);
- Jina BERT v2: jinaai/jina-bert-implementation's modeling_bert.py is not
  mirrored anywhere this project can read; written from its ports that
  are: candle's candle-transformers/src/models/jina_bert.rs (commit
  0849ef0fc3b7d38f6bed906c343ec02a92019cae: names, the GLU's gated half
  first, post-LN) and the JinaBertEncoder.rebuild_alibi_tensor /
  _get_alibi_head_slopes of the JinaBert port in a transformers fork
  (slopes times -1: the bias is -slope |i - j|, as in ALiBi and MosaicBERT
  from which Jina's code comes).

Each text is run alone (what a padded batch with its attention mask
computes), in float64 from the checkpoint's float32 weights. No code was
copied from those files.
"""
import math

import numpy as np

_erf = np.vectorize(math.erf)


def gelu(x):
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


ACTS = {"gelu": gelu, "gelu_new": gelu_tanh, "gelu_pytorch_tanh": gelu_tanh, "relu": lambda x: np.maximum(x, 0),
        "silu": lambda x: x / (1 + np.exp(-x))}


def layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps) * g
    return y + b if b is not None else y


def rms_norm(x, g, eps):
    return x / np.sqrt((x ** 2).mean(-1, keepdims=True) + eps) * g


def linear(w, x, name):
    y = x @ w[name + ".weight"].T
    b = w.get(name + ".bias")
    return y + b if b is not None else y


def rope(x, inv_freq, interleaved=False):
    """x (T, heads, d): the first 2 len(inv_freq) dimensions rotated by
    position t (from 0) * inv_freq; rotate_half pairs (i, i + n/2), or
    (2i, 2i+1) when interleaved."""
    T, n = x.shape[0], 2 * len(inv_freq)
    ang = np.arange(T, dtype=np.float64)[:, None] * inv_freq[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    r, rest = x[..., :n], x[..., n:]
    if interleaved:
        a, b = r[..., 0::2], r[..., 1::2]
        out = np.empty_like(r)
        out[..., 0::2], out[..., 1::2] = a * cos - b * sin, b * cos + a * sin
    else:
        a, b = r[..., : n // 2], r[..., n // 2:]
        out = np.concatenate([a * cos - b * sin, b * cos + a * sin], -1)
    return np.concatenate([out, rest], -1)


def attention(q, k, v, bias=None):
    """q, k, v (T, heads, d); bias (heads, T, T) or None."""
    d = q.shape[-1]
    s = np.einsum("ihd,jhd->hij", q, k) / math.sqrt(d)
    if bias is not None:
        s = s + bias
    s = np.exp(s - s.max(-1, keepdims=True))
    p = s / s.sum(-1, keepdims=True)
    return np.einsum("hij,jhd->ihd", p, v).reshape(q.shape[0], -1)


def nomic(w, cfg, ids, prefix=""):
    """NomicBertModel's last_hidden_state (prenorm false) of one text."""
    w = {k[len(prefix):]: v.astype(np.float64) for k, v in w.items() if k.startswith(prefix)}
    H, heads = cfg["n_embd"], cfg["n_head"]
    d, eps = H // heads, cfg.get("layer_norm_epsilon", 1e-5)
    x = w["embeddings.word_embeddings.weight"][ids]
    if cfg.get("type_vocab_size", 2) > 0:
        x = x + w["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w["emb_ln.weight"], w["emb_ln.bias"], eps)
    rd = int(d * cfg["rotary_emb_fraction"])
    inv = 1.0 / cfg.get("rotary_emb_base", 10000) ** (np.arange(0, rd, 2, dtype=np.float64) / rd)
    act = cfg["activation_function"]
    T = len(ids)
    for l in range(cfg["n_layer"]):
        p = f"encoder.layers.{l}."
        qkv = linear(w, x, p + "attn.Wqkv").reshape(T, 3, heads, d)
        q = rope(qkv[:, 0], inv, cfg.get("rotary_emb_interleaved", False))
        k = rope(qkv[:, 1], inv, cfg.get("rotary_emb_interleaved", False))
        a = linear(w, attention(q, k, qkv[:, 2]), p + "attn.out_proj")
        x = layer_norm(a + x, w[p + "norm1.weight"], w[p + "norm1.bias"], eps)
        if act in ("swiglu", "geglu"):
            g = ACTS["silu" if act == "swiglu" else "gelu"]
            y = linear(w, x, p + "mlp.fc11") * g(linear(w, x, p + "mlp.fc12"))
        else:  # NomicBertMLP gets F.gelu itself: the exact GELU for every gelu name
            y = gelu(linear(w, x, p + "mlp.fc1"))
        y = linear(w, y, p + "mlp.fc2")
        x = layer_norm(y + x, w[p + "norm2.weight"], w[p + "norm2.bias"], eps)
    return x


def gte_inv_freq(cfg):
    """NewEmbeddings' rotary frequencies: RotaryEmbedding's, or
    NTKScalingRotaryEmbedding's once its cache is built for
    max_position_embeddings * factor positions (at construction)."""
    d = cfg["hidden_size"] // cfg["num_attention_heads"]
    base = float(cfg.get("rope_theta", 10000.0))
    rs = cfg.get("rope_scaling")
    i = np.arange(0, d, 2, dtype=np.float64)
    if not rs or rs["factor"] <= 1:
        return 1.0 / base ** (i / d)
    f, mb = rs["factor"], rs.get("mixed_b")
    inv = 1.0 / (base * (f if mb is None else 1)) ** (i / d)
    if mb is None:
        return inv / f ** (2 / d)
    a = math.log(f) / (d / 2) ** mb
    return inv / np.exp(a * np.arange(1, d // 2 + 1, dtype=np.float64) ** mb)


def gte(w, cfg, ids, prefix=""):
    """NewModel's last_hidden_state of one text (rope positions)."""
    w = {k[len(prefix):]: v.astype(np.float64) for k, v in w.items() if k.startswith(prefix)}
    H, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    d, eps, I = H // heads, cfg.get("layer_norm_eps", 1e-12), cfg["intermediate_size"]
    x = w["embeddings.word_embeddings.weight"][ids]
    if cfg.get("type_vocab_size", 1) > 0:
        x = x + w["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    inv = gte_inv_freq(cfg)
    rms = cfg.get("layer_norm_type", "layer_norm") == "rms_norm"

    def norm(v, name):
        return rms_norm(v, w[name + ".weight"], eps) if rms else layer_norm(v, w[name + ".weight"], w[name + ".bias"], eps)

    act = ACTS[cfg.get("hidden_act", "gelu")]
    T = len(ids)
    for l in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{l}."
        if cfg.get("pack_qkv", True):
            q, k, v = np.split(linear(w, x, p + "attention.qkv_proj"), 3, -1)
        else:
            q, k, v = (linear(w, x, p + f"attention.{n}_proj") for n in "qkv")
        q, k, v = (t.reshape(T, heads, d) for t in (q, k, v))
        a = linear(w, attention(rope(q, inv), rope(k, inv), v), p + "attention.o_proj")
        x = norm(x + a, p + "attn_ln")
        up_gate = linear(w, x, p + "mlp.up_gate_proj")
        y = linear(w, act(up_gate[:, I:]) * up_gate[:, :I], p + "mlp.down_proj")
        x = norm(x + y, p + "mlp_ln")
    return x


def alibi_slopes(n):
    """_get_alibi_head_slopes, written anew."""
    def pow2(m):
        start = 2 ** (-(2 ** -(math.log2(m) - 3)))
        return [start * start ** i for i in range(m)]
    if math.log2(n).is_integer():
        return pow2(n)
    p = 2 ** math.floor(math.log2(n))
    return pow2(p) + alibi_slopes(2 * p)[0::2][: n - p]


def jina(w, cfg, ids, prefix="", use_alibi=True):
    """JinaBertModel's last_hidden_state of one text (ALiBi, GLU MLP)."""
    w = {k[len(prefix):]: v.astype(np.float64) for k, v in w.items() if k.startswith(prefix)}
    H, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    d, eps, I = H // heads, cfg.get("layer_norm_eps", 1e-12), cfg["intermediate_size"]
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    T = len(ids)
    # f32 as upstream's buffer: slopes * -1 times |memory - context|
    slopes = np.array(alibi_slopes(heads), dtype=np.float32) * -1
    dist = np.abs(np.arange(T)[None, :] - np.arange(T)[:, None]).astype(np.float32)
    bias = (slopes[:, None, None] * dist[None]).astype(np.float64) if use_alibi else None
    act = ACTS["relu" if cfg.get("feed_forward_type", "geglu") == "reglu" else "gelu"]
    for l in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{l}."
        q, k, v = (linear(w, x, p + f"attention.self.{n}").reshape(T, heads, d) for n in ("query", "key", "value"))
        a = linear(w, attention(q, k, v, bias), p + "attention.output.dense")
        x = layer_norm(a + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
        h = linear(w, x, p + "mlp.gated_layers")
        y = linear(w, act(h[:, :I]) * h[:, I:], p + "mlp.wo")
        x = layer_norm(y + x, w[p + "mlp.layernorm.weight"], w[p + "mlp.layernorm.bias"], eps)
    return x
