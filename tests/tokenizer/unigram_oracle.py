#!/usr/bin/env python3
"""Our Unigram (SentencePiece) tokenizer against Hugging Face `tokenizers`
on fresh random multilingual inputs (a new seed each run, printed so a
failure can be replayed with IA_TOKENIZER_SEED).

The reference files are made here, as the hub's XLM-RoBERTa, multilingual-e5,
bge-m3 and CamemBERT ones were: a SentencePiece Unigram model trained on
fresh random multilingual text with the default nmt_nfkc normalization (a
real precompiled_charsmap), converted by transformers'
XLMRobertaTokenizerFast / CamembertTokenizerFast (Precompiled + Strip +
Replace normalizer, Metaspace, the XLM-R template, <mask> with lstrip and
normalized) and saved with save_pretrained. Then variants of that file
exercise the other supported steps: byte_fallback, prepend_scheme "first",
Metaspace without split, WhitespaceSplit, Lowercase, NFKC, Replace with a
String pattern, Strip on both sides, the older hub layout (legacy Metaspace
add_prefix_space, Replace " {2,}" by a space), no normalizer, a normalized
added token with rstrip and single_word.

Each tokenizer: 300 texts and 300 pairs (100 with IA_TEST_QUICK=1, the
sanitizer build), ids and token types, untruncated
and truncated (longest-first), through `ipfs-accelerate tokenize`.
When the test venv lacks sentencepiece, transformers or tokenizers the test
is skipped (77). transformers' converter needs protobuf only to read the
.model file; without it we read the file ourselves (read_model below) and
hand the converter the same fields.

Usage: unigram_oracle.py IPFS_ACCELERATE_CLI"""
import copy, json, os, random, struct, subprocess, sys, tempfile, time, types, warnings

warnings.filterwarnings("ignore", message=".*byte fallback.*")

try:
    import sentencepiece as spm
    import tokenizers
    import transformers
    from transformers import CamembertTokenizerFast, XLMRobertaTokenizerFast
    import transformers.convert_slow_tokenizer as convert
except Exception as e:  # noqa: BLE001 - any import failure means: skip
    print(f"skipped: {e}")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
gen = __import__("gen-tokenizer-goldens")

cli = sys.argv[1]
seed = int(os.environ.get("IA_TOKENIZER_SEED", time.time_ns() % 2**32))
rng = random.Random(seed)
N = int(os.environ.get("IA_UNIGRAM_N", 100 if os.environ.get("IA_TEST_QUICK") == "1" else 300))


# A SentencePiece ModelProto reader, for when protobuf is not installed -------

def _varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def _fields(b):
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"protobuf wire type {wt}")
        yield f, v


class ModelProto:
    """The fields of sentencepiece_model.proto the converter reads."""

    def ParseFromString(self, data):
        self.pieces = []
        self.trainer_spec = types.SimpleNamespace(model_type=1, unk_id=0, byte_fallback=False, unk_piece="<unk>")
        self.normalizer_spec = types.SimpleNamespace(precompiled_charsmap=b"", name="")
        for f, v in _fields(data):
            if f == 1:  # SentencePiece {piece = 1, score = 2, type = 3}
                p = types.SimpleNamespace(piece="", score=0.0, type=1)
                for g, w in _fields(v):
                    if g == 1:
                        p.piece = w.decode()
                    elif g == 2:
                        p.score = struct.unpack("<f", w)[0]
                    elif g == 3:
                        p.type = w
                self.pieces.append(p)
            elif f == 2:  # TrainerSpec
                for g, w in _fields(v):
                    if g == 3:
                        self.trainer_spec.model_type = w
                    elif g == 40:
                        self.trainer_spec.unk_id = w
                    elif g == 35:
                        self.trainer_spec.byte_fallback = bool(w)
                    elif g == 45:
                        self.trainer_spec.unk_piece = w.decode()
            elif f == 3:  # NormalizerSpec {name = 1, precompiled_charsmap = 2}
                for g, w in _fields(v):
                    if g == 1:
                        self.normalizer_spec.name = w.decode()
                    elif g == 2:
                        self.normalizer_spec.precompiled_charsmap = bytes(w)


try:
    import google.protobuf  # noqa: F401
except ImportError:
    convert.import_protobuf = lambda *a, **k: types.SimpleNamespace(ModelProto=ModelProto)
    convert.requires_backends = lambda *a, **k: None


# Fresh multilingual text ------------------------------------------------------

EXTRA = {
    "arabic": [chr(c) for c in range(0x620, 0x660)] + ["\u0651", "\u064e", "\u0670"],
    "devanagari": [chr(c) for c in range(0x905, 0x93a)] + [chr(c) for c in range(0x93e, 0x94e)] + ["\u094d", "\u0902"],
    "thai": [chr(c) for c in range(0xe01, 0xe3a)],
    "fullwidth": [chr(c) for c in range(0xff01, 0xff5f)] + [chr(c) for c in range(0xff65, 0xff9f)],
    "emoji_seq": ["👩‍👩‍👧‍👦", "👨🏽‍💻", "👍🏻", "👍🏿", "🏳️‍🌈", "🇫🇷", "🇯🇵", "1️⃣", "❤️", "🧑🏾‍🤝‍🧑🏼",
                  "\U0001f3fb", "\u200d", "\ufe0f", "🫠", "😀"],
    "combining": ["e\u0301", "a\u0308\u0301", "n\u0303", "\u0301", "o\u0328\u0304", "A\u030a", "\u0345", "i\u0307"],
    "odd_space": [" ", "  ", "   ", "\u00a0", "\u2003", "\u3000", "\u200b", "\u2028", "\u0085", "\x0b", "\x0c",
                  "\u202f", "\u1680", "\ufeff"],
    "compat": ["ﬁ", "ﬂ", "①", "Ⅷ", "㎏", "™", "½", "²", "ｶﾞ", "ﾊﾟ", "…", "ǅ", "İ", "ẞ", "Ω", "µ", "㍿", "ℌ", "𝐁"],
    "special": ["<mask>", " <mask>", "\u3000<mask>", "<mask> ", "<s>", "</s>", "<pad>", "<unk>", "<s>NOTUSED",
                "<unk>NOTUSED", "[[x]]", "▁", "▁▁", "<mask><mask>", "x<mask>y"],
    "words": ["hello", "world", "naïve", "café", "straße", "Zürich", "東京", "深度学习", "한국어", "Москва",
              "नमस्ते", "مرحبا", "שלום", "ภาษาไทย", "Ελλάδα", "İstanbul", "résumé", "jalapeño", "x"],
}


def random_text(rng):
    kind = rng.random()
    if kind < 0.35:
        return gen.random_text(rng)
    if kind < 0.75:  # words with odd separators and inserts
        out = []
        for _ in range(rng.randint(1, 14)):
            pool = EXTRA[rng.choice(sorted(EXTRA))]
            out.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 4))))
            out.append(rng.choice([" ", " ", " ", "", "  ", rng.choice(EXTRA["odd_space"])]))
        return "".join(out)
    if kind < 0.9:  # character soup over every pool
        pools = list(gen.POOLS.values()) + list(EXTRA.values())
        return "".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, 50)))
    return rng.choice(["", " ", "  ", "<mask>", "<s>", " x ", "\u3000", "▁"]) + rng.choice(EXTRA["words"])


def one_line(t):
    return t.replace("\n", " ").replace("\r", " ")


def no_tab(t):
    return one_line(t).replace("\t", " ")


# Reference tokenizers -----------------------------------------------------------

def train(folder, name, byte_fallback=False):
    corpus = os.path.join(folder, name + ".txt")
    with open(corpus, "w", encoding="utf-8") as f:
        for _ in range(3000):
            f.write(one_line(random_text(rng)) + "\n")
        for w in EXTRA["words"]:
            f.write((w + " ") * 5 + "\n")
    prefix = os.path.join(folder, name)
    for size in (rng.choice([2500, 3500]), 5000, 8000):  # larger when the text needs more characters
        try:
            spm.SentencePieceTrainer.train(input=corpus, model_prefix=prefix, vocab_size=size, model_type="unigram",
                                           character_coverage=0.995, byte_fallback=byte_fallback,
                                           user_defined_symbols=["[[x]]"], minloglevel=2, num_threads=2)
            return prefix + ".model"
        except RuntimeError as e:
            error = e
    raise error


def save(tok, folder):
    """A fast tokenizer saved with save_pretrained; its tokenizer.json."""
    tok.save_pretrained(folder)
    with open(os.path.join(folder, "tokenizer.json"), encoding="utf-8") as f:
        return json.load(f)


def write_variant(base, folder, edit):
    j = copy.deepcopy(base)
    edit(j)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(j, f, ensure_ascii=False)
    return folder


def compare(what, folder, texts, pairs):
    hf = tokenizers.Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    hf.no_padding()
    n_bad = 0
    for max_len in (0, rng.randint(4, 12), rng.randint(16, 48)):
        hf.enable_truncation(max_len) if max_len else hf.no_truncation()
        extra = ["--max-length", str(max_len)] if max_len else []
        for kind, items in (("texts", texts), ("pairs", pairs)):
            data = "".join((a + "\t" + b if kind == "pairs" else a) + "\n"
                           for a, b in (items if kind == "pairs" else ((t, None) for t in items)))
            args = [cli, "tokenize", "--model", folder, "-"] + (["--pairs"] if kind == "pairs" else []) + extra
            r = subprocess.run(args, input=data.encode("utf-8"), capture_output=True)
            if r.returncode:
                print(f"{what}: tokenize failed ({r.returncode}): {r.stderr.decode()[:500]}")
                return len(items) * 6
            got = [json.loads(l) for l in r.stdout.decode().splitlines()]
            want = [hf.encode(*x) if kind == "pairs" else hf.encode(x) for x in items]
            bad = [i for i in range(len(items)) if i >= len(got) or got[i]["ids"] != want[i].ids
                   or (kind == "pairs" and got[i]["types"] != want[i].type_ids)]
            for i in bad[:3]:
                print(f"differs ({what}, {kind}, max length {max_len or 'none'}): {items[i]!r}\n"
                      f"  ours {got[i] if i < len(got) else None}\n  hf   {want[i].ids} {want[i].type_ids}\n"
                      f"  hf tokens {want[i].tokens}")
            print(f"{what}, {kind}, max length {max_len or 'none'}: {len(items) - len(bad)} passed, "
                  f"{len(bad)} failed")
            n_bad += len(bad)
    return n_bad


def main():
    print(f"unigram oracle: seed {seed} (tokenizers {tokenizers.__version__}, transformers "
          f"{transformers.__version__}, sentencepiece {spm.__version__})")
    failed = 0
    with tempfile.TemporaryDirectory() as d:
        model = train(d, "sp")
        xlmr = save(XLMRobertaTokenizerFast(vocab_file=model), os.path.join(d, "xlmr"))
        camembert = os.path.join(d, "camembert")
        save(CamembertTokenizerFast(vocab_file=model), camembert)
        bf_model = train(d, "sp_bf", byte_fallback=True)
        bf = save(XLMRobertaTokenizerFast(vocab_file=bf_model), os.path.join(d, "bf_src"))

        def pre(j):
            return j["pre_tokenizer"]

        def norms(j):
            return j["normalizer"]["normalizers"]

        variants = {
            "xlm-roberta": os.path.join(d, "xlmr"),
            "camembert": camembert,
            "byte_fallback": write_variant(bf, os.path.join(d, "bf"), lambda j: j["model"].update(byte_fallback=True)),
            "prepend first, no split": write_variant(
                xlmr, os.path.join(d, "first"),
                lambda j: (pre(j).update(prepend_scheme="first", split=False),
                           j["decoder"].update(prepend_scheme="first"))),
            "WhitespaceSplit+Metaspace, Lowercase, NFKC, Replace string, Strip": write_variant(
                xlmr, os.path.join(d, "seq"),
                lambda j: (j.update(pre_tokenizer={"type": "Sequence", "pretokenizers": [
                    {"type": "WhitespaceSplit"}, dict(pre(j), prepend_scheme="always")]}),
                    norms(j).__setitem__(slice(1, 3), [
                        {"type": "Replace", "pattern": {"String": "  "}, "content": " "},
                        {"type": "Lowercase"}, {"type": "NFKC"},
                        {"type": "Strip", "strip_left": True, "strip_right": True}]))),
            "older hub layout (legacy Metaspace, Replace to space, WhitespaceSplit)": write_variant(
                xlmr, os.path.join(d, "legacy"),
                lambda j: (norms(j).__setitem__(slice(1, 3), [
                    {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]),
                    j.update(pre_tokenizer={"type": "Sequence", "pretokenizers": [
                        {"type": "WhitespaceSplit"},
                        {"type": "Metaspace", "replacement": "▁", "add_prefix_space": True}]}),
                    j.update(decoder={"type": "Metaspace", "replacement": "▁", "add_prefix_space": True}))),
            "no normalizer, prepend never": write_variant(
                xlmr, os.path.join(d, "raw"),
                lambda j: (j.update(normalizer=None), pre(j).update(prepend_scheme="never"),
                           j["decoder"].update(prepend_scheme="never"),
                           j["added_tokens"][-1].update(rstrip=True, single_word=True))),
        }
        texts = [one_line(random_text(rng)) for _ in range(N)]
        pairs = [(no_tab(random_text(rng)), no_tab(random_text(rng))) for _ in range(N)]
        for what, folder in variants.items():
            failed += compare(what, folder, texts, pairs)
    print(f"unigram oracle: seed {seed}: {'FAILED ' + str(failed) if failed else 'all passed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
