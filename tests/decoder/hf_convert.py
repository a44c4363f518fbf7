#!/usr/bin/env python3
"""llama.cpp's convert_hf_to_gguf.py (from the llama-cpp-python sdist,
scripts/fetch-llama-cpp-src.sh) run on the test checkpoints of hf_test.py:
each FOLDER becomes FOLDER/model.gguf (f32), as a user would convert it.

Three things around it, none in the converted numbers:
- Debian's python3-torch is 1.13, which lacks dtypes the converter only
  names in tables (torch.float8_e4m3fn...): placeholders stand in for them.
- The converter recognizes a BPE pre-tokenizer by a hash of its output on
  a probe text; the tests' tiny tokenizer is GPT-2's byte-level kind with a
  vocabulary of its own, so it is named "gpt-2" here.
- It writes no sliding window for llama-architecture files (llama.cpp runs
  Mistral with full attention); a checkpoint whose config.json has one
  gets <arch>.attention.sliding_window, the key our loader reads, so that
  the GGUF means what transformers computes.

Usage: hf_convert.py LLAMA_CPP_DIR FOLDER...
"""
import sys

llama_cpp, folders = sys.argv[1], sys.argv[2:]
sys.path.insert(0, llama_cpp)
import torch  # noqa: E402

for name in ("float8_e4m3fn", "float8_e5m2", "uint16", "uint32", "uint64"):
    if not hasattr(torch, name):
        setattr(torch, name, type(name, (), {})())

import convert_hf_to_gguf  # noqa: E402
from conversion import base  # noqa: E402

base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"
set_params = base.TextModel.set_gguf_parameters


def set_params_window(self):
    set_params(self)
    if self.hparams.get("sliding_window") and self.hparams.get("model_type") == "mistral":
        self.gguf_writer.add_sliding_window(self.hparams["sliding_window"])


base.TextModel.set_gguf_parameters = set_params_window
for folder in folders:
    sys.argv = ["convert_hf_to_gguf.py", folder, "--outtype", "f32", "--outfile", f"{folder}/model.gguf"]
    convert_hf_to_gguf.main()
