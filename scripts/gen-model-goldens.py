#!/usr/bin/env python3
"""Make the reference embeddings the model tests compare against.

The oracle is sentence-transformers on PyTorch (float32), never our code.
For each synthetic model (made by build/tests/ia-synth-model with fixed
seeds, so CI rebuilds the identical folders without torch) and for the real
all-MiniLM-L6-v2 (scripts/fetch-model.sh), it embeds the test sentences in
batches of 32 padded to the longest (padding-heavy, as users run it) and
writes tests/data/golden/<name>.npy (float32, n x dim).

Run from the repository root after `make build`, with a Python that has
sentence-transformers and torch (e.g. a venv: pip install
sentence-transformers torch):
    VENV_PYTHON scripts/gen-model-goldens.py
"""
import json, os, random, subprocess, sys, tempfile

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

torch.set_num_threads(2)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SENTENCES = os.path.join(ROOT, "tests/data/sentences.jsonl")
GOLDEN = os.path.join(ROOT, "tests/data/golden")
SYNTH = os.path.join(ROOT, "build/tests/ia-synth-model")

# name, preset, generator options, how many sentences
VARIANTS = [
    ("tiny-f32", "tiny", [], None),
    ("tiny-bf16-prefix-sharded-cls", "tiny", ["--dtype", "BF16", "--prefix", "--shards", "3", "--pooling", "cls", "--act", "gelu_new"], None),
    ("tiny-f16-max-relu", "tiny", ["--dtype", "F16", "--pooling", "max", "--act", "relu", "--no-normalize"], None),
    ("minilm-f32", "minilm", [], 64),
]

HANDWRITTEN = [
    "", " ", "a", "Hello, world!", "What is Deep Learning?", "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG.",
    "Café au lait, naïve façade, résumé, jalapeño, Ærøskøbing, Zürich.",
    "Ελληνικά: Η γρήγορη καφέ αλεπού.", "Русский текст: съешь же ещё этих мягких французских булок.",
    "深度学习是什么？", "東京は日本の首都です。", "한국어 문장도 처리합니다.",
    "ภาษาไทยไม่มีช่องว่างระหว่างคำ", "مرحبا بالعالم، كيف حالك؟", "नमस्ते दुनिया, आप कैसे हैं?",
    "Emoji 🎉🚀 are tokens too 👩‍👩‍👧‍👦 and flags 🇫🇷.", "Tabs\tand\nnewlines\r\nin text.",
    "Control\x01chars\x7fand\x0bvertical tab.", "Zero\u200bwidth\u200djoiners\ufeffand BOM.",
    "Non\u00a0breaking\u2003spaces\u3000everywhere\u2028line sep.",
    "Pneumonoultramicroscopicsilicovolcanoconiosis is a long word.",
    "x" * 150, "supercalifragilisticexpialidocious " * 20,
    "https://example.com/path?query=1&b=2#frag and user@example.org",
    "def f(x): return x ** 2  # Python code", "int main(void) { return 0; }",
    "3.14159 2.71828 1e-12 -42 +7 1,000,000 $5.99 €10 £3",
    "!!!???...,,,;;;:::---___***", "(nested [brackets {inside} of] parens)",
    "e\u0301 vs é: combining acute accent", "İstanbul ıi İI: Turkish dotted capital",
    "ﬁ ﬂ ligatures and ① ② circled digits and ＡＢＣ fullwidth",
    "Mixed 中文 and English and 日本語 text.", "[CLS] [SEP] [MASK] [PAD] [UNK] look special.",
    "I love machine learning.", "I hate machine learning.", "Machine learning is a subfield of AI.",
    "The weather is lovely today.", "It is raining cats and dogs.", "Stocks fell sharply on Monday.",
    "A man is playing a guitar.", "A woman is slicing an onion.", "Two dogs play in the snow.",
    "How do I reset my password?", "Where is the nearest train station?",
    "The mitochondria is the powerhouse of the cell.", "Water boils at 100 degrees Celsius at sea level.",
    "Paris is the capital of France.", "Berlin is the capital of Germany.",
    "Content addressing identifies data by its hash rather than its location.",
    "IPFS is a peer-to-peer network for storing and sharing data.",
    "Sentence embeddings map text to dense vectors.",
    "Attention is all you need.", "To be, or not to be, that is the question.",
    "ok", "no", "why?", "42", "🙂", "...", "A", "ZZZZZZ",
]


def make_sentences():
    corpus = [l.rstrip("\n") for l in open(os.path.join(ROOT, "data/corpus.txt"), encoding="utf-8")]
    rng = random.Random(7)
    picks = rng.sample(corpus, 140)
    # Long texts beyond max_seq_length (256 tokens): truncation, never a crash.
    long_texts = [" ".join(rng.sample(corpus, 40)) for _ in range(4)]
    return HANDWRITTEN + picks + long_texts


def embed(path, texts):
    m = SentenceTransformer(path, device="cpu", model_kwargs={"dtype": torch.float32})
    return m.encode(texts, batch_size=32, convert_to_numpy=True).astype(np.float32)


def main():
    texts = make_sentences()
    with open(SENTENCES, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps(t, ensure_ascii=False) + "\n")
    os.makedirs(GOLDEN, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, preset, opts, n in VARIANTS:
            d = os.path.join(tmp, name)
            subprocess.run([SYNTH, d, preset] + opts, check=True)
            np.save(os.path.join(GOLDEN, name + ".npy"), embed(d, texts[:n] if n else texts))
            print("golden", name, file=sys.stderr)
    real = subprocess.run([os.path.join(ROOT, "scripts/fetch-model.sh")], check=True,
                          capture_output=True, text=True).stdout.strip()
    np.save(os.path.join(GOLDEN, "all-MiniLM-L6-v2.npy"), embed(real, texts))
    print("golden all-MiniLM-L6-v2 from", real, file=sys.stderr)


if __name__ == "__main__":
    main()
