"""What the transformers-oracle tests in this folder share (run in
.cache/hf-venv): a RoBERTa-style tokenizer trained on the spot, and the
Python binding on the library next to the CLI under test."""
import os
import sys

import transformers
from tokenizers import AddedToken, ByteLevelBPETokenizer, processors


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
