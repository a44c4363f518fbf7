#!/usr/bin/env python3
"""Make the tokenizer goldens: ids from Hugging Face `tokenizers` (the
oracle, never our code) for a diverse set of inputs, on the real
all-MiniLM-L6-v2 tokenizer files in ../shared/models.

Writes tests/data/tokenizer/minilm.jsonl, one {"text", "utf8" (the text's
bytes in hex, for readers whose JSON strings stop at NUL), "ids"} per line,
with truncation and padding off. Also usable as a live check on
fresh random inputs (see tests/tokenizer/fresh_oracle.py).

    .cache/venv/bin/python scripts/gen-tokenizer-goldens.py
"""
import json, os, random, sys

from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENIZER = os.path.join(ROOT, "..", "shared", "models", "all-MiniLM-L6-v2-tokenizer")
OUT = os.path.join(ROOT, "tests", "data", "tokenizer", "minilm.jsonl")

HANDWRITTEN = [
    "", " ", "   ", "\t\n\r", "a", "A", "Hello, world!", "What is Deep Learning?", "hello world",
    "The quick brown fox jumps over the lazy dog.", "THE QUICK BROWN FOX",
    "Café au lait, naïve façade, résumé, jalapeño, Ærøskøbing, Zürich.",
    "e\u0301 vs é, n\u0303 vs ñ, a\u0308\u0301 stacked marks", "Ωμέγα ΣΑΣ σας ς",
    "İstanbul ıi İI", "ß straße STRASSE", "ﬁ ﬂ ligatures ① ② ＡＢＣ fullwidth １２３",
    "深度学习是什么？", "東京は日本の首都です。", "한국어 문장도 처리합니다.", "ภาษาไทยไม่มีช่องว่าง",
    "مرحبا بالعالم، كيف حالك؟", "नमस्ते दुनिया", "Русский текст: съешь же ещё", "עברית שלום",
    "Emoji 🎉🚀 👩‍👩‍👧‍👦 flags 🇫🇷 skin 👍🏽 new 🫠🥰", "a🥰b", "😀😀😀",
    "Control\x01chars\x7fand\x0bvertical\x0cform\x1ffeed", "x\x85y NEL", "nul\x00byte",
    "Zero\u200bwidth\u200djoiners\ufeffand BOM\u00adsoft hyphen",
    "Non\u00a0breaking\u2003em\u3000ideographic\u2028line\u2029para\u202fnarrow\u205fmath\u1680ogham",
    "private \ue000 use \U000f0000 plane", "unassigned \u0378 \U0001fffe", "replacement \ufffd char",
    "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "x" * 100, "x" * 101, "é" * 100, "é" * 101, "ab" * 60, "supercalifragilisticexpialidocious " * 8,
    "https://example.com/path?query=1&b=2#frag user@example.org",
    "def f(x): return x ** 2  # code", "int main(void) { return 0; }",
    "3.14159 2.71828 1e-12 -42 +7 1,000,000 $5.99 €10 £3 ¥100 ₹5",
    "!!!???...,,,;;;:::---___***", "(nested [brackets {inside} of] parens)", "«guillemets» „quotes“ ‘single’ —dash– …",
    "¿Qué? ¡Hola! ·middle· ※ § ¶ † ‡", "+-*/=<>^`|~ ascii symbols", "© ® ™ ° ± × ÷ µ",
    "[CLS] [SEP] [MASK] [PAD] [UNK] look special.", "a[CLS]b[SEP]c", "[cls] lower is not special",
    "[CLS][CLS][SEP]", "[MASK]ed word", "[[CLS]]", "[UNK", "UNK]",
    "Mixed 中文 and English and 日本語 text.", "中a文b", "\u3400\u4dbf\U00020000\U0002a6df\uf900\U0002f800",
    "a\U0002b820b a\U0002b8ffb a\U0002b920b", "ｶﾀｶﾅ half-width katakana", "ㄱㄴㄷ jamo 각",
    "don't can't won't it's", "U.S.A. e.g. i.e.", "C++ C# F# .NET node.js", "snake_case camelCase kebab-case",
    "tab\tseparated\tvalues", "multiple   spaces    here", "trailing space ", " leading space",
    "line1\nline2\r\nline3\rline4", "ok", "no", "why?", "42", "🙂", "...", "ZZZZZZ",
    "\u0301 leading combining mark", "\u0345 ypogegrammeni \u0345", "ǅ ǆ Ǆ titlecase digraphs",
    "Ⅷ roman numeral ⅷ", "𝐁𝐨𝐥𝐝 math letters 𝟏𝟐", "ᴀʙᴄ small caps", "🄰🄱 squared",
]

POOLS = {
    "ascii": [chr(c) for c in range(0x20, 0x7f)],
    "letters": list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    "latin": [chr(c) for c in range(0xc0, 0x250)],
    "marks": [chr(c) for c in range(0x300, 0x370)],
    "greek_cyr": [chr(c) for c in range(0x391, 0x3ca)] + [chr(c) for c in range(0x410, 0x450)],
    "cjk": [chr(c) for c in range(0x4e00, 0x4e80)] + [chr(c) for c in range(0x3040, 0x30ff)],
    "hangul": [chr(c) for c in range(0xac00, 0xac80)],
    "emoji": [chr(c) for c in range(0x1f600, 0x1f650)] + [chr(c) for c in range(0x1f900, 0x1f9ff, 7)] + ["\u200d", "\ufe0f"],
    "space": [" ", "\t", "\n", "\r", "\u00a0", "\u2003", "\u3000", "\u2028", "\u200b", "\u0085", "\x0b"],
    "control": [chr(c) for c in range(0, 0x20)] + ["\x7f", "\u00ad", "\ufeff", "\ufffd", "\ue000"],
    "punct": list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + list("¡¿«»‘’“”„…–—·•※§¶†‡、。，！？：；（）【】「」"),
    "arabic_indic": [chr(c) for c in range(0x621, 0x64b)] + [chr(c) for c in range(0x905, 0x939)] + [chr(c) for c in range(0xe01, 0xe2f)],
    "special": ["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "[cls]"],
}


def random_text(rng):
    kind = rng.random()
    if kind < 0.3:  # word-like text from one or two pools
        pools = rng.sample(sorted(POOLS), 2)
        words = []
        for _ in range(rng.randint(1, 12)):
            pool = POOLS[rng.choice(pools)]
            words.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 12))))
        return " ".join(words)
    if kind < 0.6:  # every pool mixed, character soup
        n = rng.randint(1, 60)
        return "".join(rng.choice(POOLS[rng.choice(sorted(POOLS))]) for _ in range(n))
    if kind < 0.8:  # English-ish with noise
        base = rng.choice(HANDWRITTEN[5:40]) or "plain"
        noise = "".join(rng.choice(POOLS[rng.choice(["space", "punct", "marks", "emoji", "control"])])
                        for _ in range(rng.randint(1, 6)))
        pos = rng.randint(0, len(base))
        return base[:pos] + noise + base[pos:]
    # long words around the 100-character limit
    pool = POOLS[rng.choice(["letters", "latin", "cjk", "hangul"])]
    return "".join(rng.choice(pool) for _ in range(rng.choice([99, 100, 101, 150, 300])))


def inputs(seed=20261124, n_random=320):
    rng = random.Random(seed)
    return HANDWRITTEN + [random_text(rng) for _ in range(n_random)]


def oracle():
    tok = Tokenizer.from_file(os.path.join(TOKENIZER, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def main():
    tok = oracle()
    texts = inputs()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t, "utf8": t.encode().hex(), "ids": tok.encode(t).ids},
                               ensure_ascii=True) + "\n")
    print(f"{OUT}: {len(texts)} inputs", file=sys.stderr)


if __name__ == "__main__":
    main()
