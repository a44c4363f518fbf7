"""What the transformers-oracle tests in this folder and in tests/decoder
share (run in .cache/hf-venv): a seeded run in a fresh work folder,
tokenizers trained on the spot (RoBERTa-style, Qwen2-style), hf_run's
logits, and the Python binding on the library next to the CLI under
test."""
import json
import os
import random
import shutil
import subprocess
import sys

import numpy as np
import transformers
from tokenizers import (AddedToken, ByteLevelBPETokenizer, Regex, Tokenizer, decoders, models, normalizers,
                        pre_tokenizers, processors, trainers)

# words of several scripts, numbers, punctuation and an emoji for byte-level BPE texts
WORDS = ["the", "river", "stone", "bridge", "light", "Paris", "city", "old", "new", "water", "running", "houses",
         "green", "sky", "over", "under", "and", "or", ",", ".", "!", "?", "'s", "don't", "42", "2024", "3.14",
         "café", "naïve", "Zürich", "東京", "数据", "🦙", "(x)", "a-b", "\t", "e.g.", "API", "JSON"]

# Qwen2's (and Qwen3's) pre-tokenizer split
QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
              r"\s*[\r\n]+|\s+(?!\S)|\s+")


def start(work):
    """This run's seed (IA_TEST_SEED repeats a run, else a fresh one),
    printed with transformers' version; torch seeded with it; work made
    empty. Returns random.Random(seed)."""
    import torch
    seed = int(os.environ.get("IA_TEST_SEED", int.from_bytes(os.urandom(4), "little")))
    print(f"seed {seed} (IA_TEST_SEED={seed} repeats this run); transformers {transformers.__version__}")
    rng = random.Random(seed)
    torch.manual_seed(seed)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    return rng


def qwen_bpe(texts):
    """Qwen2's (and Qwen3's) tokenizer.json pipeline (NFC, its split regex,
    byte-level) as a tokenizers.Tokenizer trained on texts to 400 entries,
    <|endoftext|> <|im_start|> <|im_end|> first; no post-processor."""
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    bpe.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                       show_progress=False))
    return bpe


def hf_run_logits(run, path, out, ids, n_prompt, other):
    """tests/decoder's hf_run on the model at path: ids[:n_prompt] as one
    prompt, the rest of ids one at a time through the KV cache, other as a
    second session beside it, the logits written to out. Returns (hf_run's
    JSON report, the logits (len(ids), vocab) in float64), or (hf_run's
    error message, None) when it failed."""
    p = subprocess.run([run, "logits", path, out, ",".join(map(str, ids[:n_prompt])),
                        ",".join(map(str, ids[n_prompt:])), ",".join(map(str, other))],
                       capture_output=True, text=True)
    if p.returncode:
        return p.stderr.strip(), None
    info = json.loads(p.stdout)
    return info, np.fromfile(out, dtype=np.float32).reshape(len(ids), -1).astype(np.float64)


def roberta_tokenizer(texts, model_max_length=None):
    """A byte-level BPE tokenizer trained by `tokenizers` on texts, laid out
    as RoBERTa's: <s> <pad> </s> <unk> <mask> as ids 0-4, RobertaProcessing
    (<s> A </s></s> B </s>), an lstrip <mask>."""
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=300, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False)
    bpe._tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    bpe._tokenizer.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
    extra = {"model_max_length": model_max_length} if model_max_length else {}
    return transformers.PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>",
                                                pad_token="<pad>", unk_token="<unk>", mask_token="<mask>", **extra)


def python_binding(cli):
    """The ipfs_accelerate module on the library built with cli, or None for
    the sanitizer build, whose library Python cannot load (said on stdout)."""
    build = os.path.dirname(os.path.abspath(cli))
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        if "IA_SANITIZE:BOOL=ON" in f.read().split():
            print("Python binding: not checked under the sanitizer build")
            return None
    os.environ["IPFS_ACCELERATE_LIB"] = os.path.join(build, "libipfs_accelerate.so")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    import ipfs_accelerate
    return ipfs_accelerate
