#!/usr/bin/env python3
"""Decoders from Hugging Face folders and from GGUF against transformers
itself (src/model/decoder.c, lm.c).

Six small checkpoints with fresh random weights are made with transformers
(GPT2LMHeadModel, LlamaForCausalLM...), saved as folders (config.json,
model.safetensors in f32, a tiny byte-level BPE tokenizer.json made with
`tokenizers`, tokenizer_config.json with a chat template,
generation_config.json) and converted to GGUF with llama.cpp's
convert_hf_to_gguf.py (hf_convert.py):
  llama       grouped-query attention (4 heads, 2 kv heads)
  qwen2       Q/K/V biases, tied embeddings, linear rope scaling
  mistral     a sliding window (5) shorter than the sequences
  gpt2        LayerNorm, learned positions, fused QKV, Conv1D weights
  llama3      llama with Llama 3.1's rope scaling, its folder in shards
  qwen2-yarn  qwen2 with YaRN rope scaling
and, as folders only, llama with its weights in bf16 and gpt2 in f16
(transformers computing in f32 on the same rounded numbers). Weights are
drawn larger than transformers' initialization (norm weights
around 1, biases around 0.1) so that every part shows in the logits.

For each, a few sequences of fresh random ids (IA_TEST_SEED repeats a run):
hf_run evaluates a prompt whole, then single tokens through the KV cache,
from the folder and from the GGUF; every position's logits must match
transformers' (eager attention, float32) with cosine >= 0.99999. hf_run
also runs two sessions in one forward and checks them against sessions
run alone (relative difference <= 1e-4). For mistral, transformers' logits
without the window must differ, so that the window is what is tested.

Usage: hf_test.py HF_RUN FETCH_LLAMA_CPP_SRC WORKDIR
Exit 77 (skipped) when torch/transformers are not installed (the
.cache/hf-venv of scripts/install-deps.sh) or llama.cpp's source cannot be
fetched. IA_TEST_QUICK=1 (the sanitizer build): one sequence per model.
"""
import json, math, os, random, subprocess, sys, time

try:
    import numpy as np
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "model"))
    import hfutil
except ImportError as e:
    print(f"SKIP: {e} (scripts/install-deps.sh makes .cache/hf-venv)")
    sys.exit(77)

run, fetch, work = sys.argv[1:4]
here = os.path.dirname(os.path.abspath(__file__))
quick = os.environ.get("IA_TEST_QUICK") == "1"
seed = int(os.environ.get("IA_TEST_SEED", int.from_bytes(os.urandom(4), "little")))
print(f"seed {seed} (IA_TEST_SEED={seed} repeats this run); transformers {transformers.__version__}, "
      f"torch {torch.__version__}")
rng = random.Random(seed)
torch.manual_seed(seed)
os.makedirs(work, exist_ok=True)
t_start = time.time()

p = subprocess.run([fetch], capture_output=True, text=True)
if p.returncode == 77:
    print("SKIP: llama.cpp's source cannot be fetched:", p.stderr.strip())
    sys.exit(77)
if p.returncode:
    sys.exit(f"fetch failed: {p.stderr}")
llama_cpp = p.stdout.strip()

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
VOCAB = 320  # the model's; the tokenizer has fewer (the converter pads)


def make_tokenizer(folder):
    text = ["The quick brown fox jumps over the lazy dog.", "Hello world, hello tokens 123 456!",
            "def f(x):\n    return x * 2\n", "Ünïcödé and emoji 🦙 too."] * 4
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok.train_from_iterator(text, trainers.BpeTrainer(vocab_size=300, special_tokens=specials,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                      show_progress=False))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>",
                                                eos_token="<|endoftext|>")
    fast.chat_template = CHATML
    fast.save_pretrained(folder)
    with open(f"{folder}/tokenizer_config.json") as f:
        tc = json.load(f)
    if "chat_template" not in tc:  # newer transformers write chat_template.jinja; keep both forms covered
        tc["chat_template"] = CHATML
        with open(f"{folder}/tokenizer_config.json", "w") as f:
            json.dump(tc, f, indent=2)


def configs():
    common = dict(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=96, max_position_embeddings=128, bos_token_id=0, eos_token_id=2)
    return {
        "llama": transformers.LlamaConfig(num_key_value_heads=2, rms_norm_eps=1e-5, **common),
        "qwen2": transformers.Qwen2Config(num_key_value_heads=2, tie_word_embeddings=True, rope_theta=1e6,
                                          rope_scaling={"type": "linear", "factor": 2.0}, **common),
        "mistral": transformers.MistralConfig(num_key_value_heads=1, sliding_window=5, **common),
        "gpt2": transformers.GPT2Config(vocab_size=VOCAB, n_embd=64, n_layer=2, n_head=4, n_positions=64,
                                        n_ctx=64, bos_token_id=0, eos_token_id=2),
        "llama3": transformers.LlamaConfig(num_key_value_heads=2, rope_theta=500000.0,
                                           rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                                         "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                         "original_max_position_embeddings": 64}, **common),
        # transformers 4.47 takes YaRN's correction range from max_position_embeddings; llama.cpp's
        # converter needs original_max_position_embeddings: the two agree when they are equal
        "qwen2-yarn": transformers.Qwen2Config(num_key_value_heads=2, rope_scaling={
            "type": "yarn", "factor": 4.0, "original_max_position_embeddings": 128}, **common),
    }


ARCH = {"llama": transformers.LlamaForCausalLM, "qwen2": transformers.Qwen2ForCausalLM,
        "mistral": transformers.MistralForCausalLM, "gpt2": transformers.GPT2LMHeadModel,
        "llama3": transformers.LlamaForCausalLM, "qwen2-yarn": transformers.Qwen2ForCausalLM}


def randomize(model):
    with torch.no_grad():
        for name, w in model.named_parameters():
            if w.dim() == 1 and name.endswith("weight"):  # norms
                w.copy_(1 + 0.2 * torch.randn_like(w))
            elif w.dim() == 1:
                w.copy_(0.1 * torch.randn_like(w))
            elif "embed" in name or "wte" in name or "wpe" in name:
                w.copy_(torch.randn_like(w))
            else:
                w.copy_(torch.randn_like(w) / math.sqrt(64))


def logits_of(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].double().numpy()


def cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# the checkpoints -------------------------------------------------------------
models_ = {}
for name, cfg in configs().items():
    folder = f"{work}/{name}"
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):
        os.remove(f"{folder}/{f}")
    cfg._attn_implementation = "eager"
    model = ARCH[name](cfg).eval()
    randomize(model)
    # llama3's folder sharded (model.safetensors.index.json and its files)
    model.save_pretrained(folder, safe_serialization=True, max_shard_size="200KB" if name == "llama3" else "5GB")
    model.generation_config.do_sample = True
    model.generation_config.temperature = 0.7
    model.generation_config.save_pretrained(folder)
    make_tokenizer(folder)
    models_[name] = model
# 16-bit folders: the same models with their weights rounded (transformers keeps computing in f32)
for name, base, dtype in (("llama-bf16", "llama", torch.bfloat16), ("gpt2-f16", "gpt2", torch.float16)):
    folder = f"{work}/{name}"
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):
        os.remove(f"{folder}/{f}")
    model = ARCH[base](models_[base].config).eval()
    model.load_state_dict(models_[base].state_dict())
    with torch.no_grad():
        for w in model.parameters():
            w.copy_(w.to(dtype).float())
    model.to(dtype).save_pretrained(folder, safe_serialization=True)
    make_tokenizer(folder)
    models_[name] = model.float()
t_made = time.time()
p = subprocess.run([sys.executable, f"{here}/hf_convert.py", llama_cpp] +
                   [f"{work}/{n}" for n in models_ if "16" not in n],
                   capture_output=True, text=True)
if p.returncode:
    sys.exit(f"convert_hf_to_gguf.py failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
t_conv = time.time()

# the comparisons --------------------------------------------------------------
failures = []
worst = {}
for name, model in models_.items():
    n_seq = 1 if quick else 2
    for s in range(n_seq):
        n_prompt, n_steps = rng.randint(8, 14), 4
        ids = [rng.randrange(VOCAB) for _ in range(n_prompt + n_steps)]
        other = [rng.randrange(VOCAB) for _ in range(rng.randint(3, 10))]
        want = logits_of(model, ids)
        if name == "mistral" and s == 0:  # the window must matter here
            full = ARCH[name](transformers.MistralConfig(**{**model.config.to_dict(), "sliding_window": None}))
            full.config._attn_implementation = "eager"
            full.load_state_dict(model.state_dict())
            d = np.abs(logits_of(full.eval(), ids)[-1] - want[-1]).max() / np.abs(want[-1]).max()
            if d < 1e-3:
                failures.append(f"mistral: transformers' logits do not depend on the window ({d:.2g})")
        forms = [("folder", f"{work}/{name}")] + ([("gguf", f"{work}/{name}/model.gguf")] if "16" not in name else [])
        for form, path in forms:
            out = f"{work}/{name}-{form}.f32"
            info, got = hfutil.hf_run_logits(run, path, out, ids, n_prompt, other)
            if got is None:
                failures.append(f"{name} {form}: hf_run failed: {info}")
                continue
            cos = cosines(got, want)
            rel = np.abs(got - want).max() / np.abs(want).max()
            key = f"{name} {form}"
            w = worst.setdefault(key, {"cos": 1.0, "rel": 0.0, "batch": 0.0, "eval_s": 0.0, "info": info})
            w["cos"] = min(w["cos"], cos.min())
            w["rel"] = max(w["rel"], rel)
            w["batch"] = max(w["batch"], info["batch_rel_diff"], info["batch_other_rel_diff"])
            w["eval_s"] = max(w["eval_s"], info["eval_s"])
            if cos.min() < 0.99999:
                failures.append(f"{key}: cosine {cos.min():.7f} at position {int(cos.argmin())} "
                                f"(prompt {n_prompt}, ids {ids})")
            if max(info["batch_rel_diff"], info["batch_other_rel_diff"]) > 1e-4:
                failures.append(f"{key}: sessions batched differ from sessions alone: {info}")
            if not info["chat_template"] or (form == "folder" and "16" not in name and (
                    not info["gen_config"] or info["gen_eos"] != 2 or abs(info["gen_temperature"] - 0.7) > 1e-6)):
                failures.append(f"{key}: chat template or generation_config.json not read: {info}")

# errors that name the file and the key or tensor at fault ---------------------------
def broken(base, name, edit):
    folder = f"{work}/err-{name}"
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(f"{work}/{base}"):
        if f.endswith((".json", ".safetensors")) and not os.path.exists(f"{folder}/{f}"):
            os.symlink(f"{work}/{base}/{f}", f"{folder}/{f}")
    with open(f"{work}/{base}/config.json") as f:
        cfg = json.load(f)
    edit(cfg)
    if os.path.lexists(f"{folder}/config.json"):
        os.remove(f"{folder}/config.json")
    with open(f"{folder}/config.json", "w") as f:
        json.dump(cfg, f)
    return folder


errors = [
    ("llama", "no-hidden", lambda c: c.pop("hidden_size"), ["config.json", '"hidden_size" is missing']),
    ("llama", "dynamic", lambda c: c.update(rope_scaling={"rope_type": "dynamic", "factor": 2.0}),
     ["config.json", "rope_scaling", '"dynamic"']),
    ("llama", "falcon", lambda c: c.update(model_type="falcon"), ["config.json", '"falcon"']),
    ("llama", "gelu", lambda c: c.update(hidden_act="gelu"), ["config.json", "hidden_act"]),
    ("llama", "layers", lambda c: c.update(num_hidden_layers=3), ["model.layers.2.input_layernorm.weight",
                                                                  "missing"]),
    ("llama", "vocab", lambda c: c.update(vocab_size=VOCAB + 1), ["model.embed_tokens.weight", "expected"]),
    ("llama3", "llama3", lambda c: c["rope_scaling"].pop("low_freq_factor"), ["config.json", "low_freq_factor"]),
    ("qwen2", "swa", lambda c: c.update(use_sliding_window=True), ["config.json", "use_sliding_window"]),
    ("gpt2", "untied", lambda c: c.update(tie_word_embeddings=False), ["lm_head.weight", "missing"]),
]
for base, name, edit, want in errors:
    p = subprocess.run([run, "logits", broken(base, name, edit), f"{work}/err.f32", "1,2", "3", "4"],
                       capture_output=True, text=True)
    if p.returncode == 0 or not all(w in p.stderr for w in want):
        failures.append(f"broken {base} ({name}): want an error naming {want}, got rc {p.returncode}: "
                        f"{p.stderr.strip()}")

for key, w in worst.items():
    i = w["info"]
    print(f"{key:18s} min cosine {w['cos']:.8f}  max |diff|/max|logit| {w['rel']:.2e}  batched {w['batch']:.1e}  "
          f"eval {w['eval_s'] * 1000:.0f} ms  ({i['arch']}, {i['format']}, window {i['sliding_window']}, "
          f"rope scaling {i['rope_scaling']}, tied {i['tied']})")
print(f"made {t_made - t_start:.1f} s, converted {t_conv - t_made:.1f} s, compared {time.time() - t_conv:.1f} s")
if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("ok")
