#!/usr/bin/env python3
"""transformers on the CPU for `make bench-generate`, for scale: a Llama
model built from a GGUF file's weights, dequantized to f32 by gguf-py
(llama.cpp's own reader), timed on the same token ids as the other engines:
prefill of the whole prompt in one forward, then greedy decode one token at
a time with the KV cache (DynamicCache). One JSON object on stdout, the same
fields as bench/gen_bench.c.

transformers can read a GGUF itself (from_pretrained(dir, gguf_file=...)),
but that needs the `accelerate` package, which the bench venv does not
carry; the weights here are the same, mapped the way transformers' GGUF
loader maps them (Q and K rows un-permuted back to the HF order).

Usage: generate_hf.py MODEL.gguf IDS_FILE [--decode N] [--repeat R] [--threads T]
"""
import argparse, json, time

import numpy as np
import torch
from gguf import GGUFReader
from gguf.quants import dequantize
from transformers import LlamaConfig, LlamaForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("ids")
ap.add_argument("--decode", type=int, default=128)
ap.add_argument("--repeat", type=int, default=3)
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()
torch.set_num_threads(a.threads)

r = GGUFReader(a.model)
f = lambda k: r.fields[k].contents()
arch = f("general.architecture")
if arch != "llama":
    raise SystemExit(f"generate_hf: {a.model}: architecture {arch}, only llama is mapped here")
E, L = f("llama.embedding_length"), f("llama.block_count")
H, KV = f("llama.attention.head_count"), f("llama.attention.head_count_kv")
names = {t.name for t in r.tensors}
cfg = LlamaConfig(vocab_size=int(r.tensors[[t.name for t in r.tensors].index("token_embd.weight")].shape[1]),
                  hidden_size=E, intermediate_size=f("llama.feed_forward_length"), num_hidden_layers=L,
                  num_attention_heads=H, num_key_value_heads=KV, head_dim=E // H,
                  rms_norm_eps=f("llama.attention.layer_norm_rms_epsilon"),
                  max_position_embeddings=f("llama.context_length"),
                  rope_parameters={"rope_type": "default", "rope_theta": f("llama.rope.freq_base")},
                  tie_word_embeddings="output.weight" not in names)


def unpermute(w, n_head):
    """convert_hf_to_gguf permutes Q and K rows for llama.cpp's RoPE; undo it."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


hf = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head",
      "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj",
      "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
      "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
sd = {}
for t in r.tensors:
    w = dequantize(t.data, t.tensor_type).astype(np.float32).reshape([int(x) for x in reversed(t.shape)])
    parts = t.name.split(".")  # blk.N.attn_q.weight or token_embd.weight
    if parts[0] == "blk":
        key = f"model.layers.{parts[1]}.{hf[parts[2]]}.weight"
        if parts[2] in ("attn_q", "attn_k"):
            w = unpermute(w, H if parts[2] == "attn_q" else KV)
    else:
        key = hf[parts[0]] + ".weight"
    sd[key] = torch.from_numpy(np.ascontiguousarray(w))
model = LlamaForCausalLM(cfg)
missing, unexpected = model.load_state_dict(sd, strict=False, assign=True)
if unexpected or [k for k in missing if k != "lm_head.weight"]:
    raise SystemExit(f"generate_hf: weights not mapped: missing {missing}, unexpected {unexpected}")
if cfg.tie_word_embeddings:
    model.tie_weights()
model.eval()
del sd, r

ids = torch.tensor([[int(x) for x in open(a.ids).read().split()]])
# transformers 5 renamed past_key_values to cache (the old name warns)
CACHE = "cache" if "cache" in __import__("inspect").signature(model.forward).parameters else "past_key_values"


def one_round(n_decode, gen=None):
    with torch.inference_mode():
        t0 = time.perf_counter()
        out = model(ids, use_cache=True)
        t1 = time.perf_counter()
        tok = out.logits[:, -1].argmax(-1, keepdim=True)
        for i in range(n_decode):
            if gen is not None and i < 16:
                gen.append(int(tok))
            out = model(tok, use_cache=True, **{CACHE: out[CACHE]})
            tok = out.logits[:, -1].argmax(-1, keepdim=True)
        return t1 - t0, time.perf_counter() - t1


def hwm_kb():
    """Peak RSS (VmHWM; ru_maxrss would carry the parent's over the exec)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])


one_round(min(8, a.decode))  # warm-up
gen, pre, dec = [], [], []
for k in range(a.repeat):
    p, d = one_round(a.decode, gen if k == 0 else None)
    pre.append(p)
    dec.append(d)
print(json.dumps({"engine": "transformers", "version": __import__("transformers").__version__,
                  "torch": torch.__version__, "prompt_tokens": ids.shape[1], "decode_tokens": a.decode,
                  "prefill_s": pre, "decode_s": dec, "first_tokens": gen,
                  "max_rss_kb": hwm_kb()}))
