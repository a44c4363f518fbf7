#!/usr/bin/env python3
"""An XLM-R-shaped sentence embedder for `make bench` (BENCH_ARGS="--model
.cache/bench/models/xlmr-base-random"): XLMRobertaModel with
xlm-roberta-base's layers (12 x 768, 12 heads, 3072 FFN) and random weights
from a fixed seed (the hub is out of reach here; the speed depends on the
shape), a SentencePiece-style Unigram tokenizer (Metaspace, NFKC) trained
with HF `tokenizers` on the bench corpus (32,000 pieces, not XLM-R's
250,002: only the embedding table differs), RobertaProcessing, mean pooling
and Normalize as multilingual-e5 and paraphrase-multilingual models have.

Usage: make_xlmr.py OUT_DIR   (does nothing when OUT_DIR/model.safetensors exists)
"""
import json, os, shutil, sys

out = sys.argv[1]
if os.path.exists(os.path.join(out, "model.safetensors")):
    print(out)
    sys.exit(0)
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers, decoders
from transformers import XLMRobertaConfig, XLMRobertaModel

tmp = out + ".tmp"
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp)
tok = Tokenizer(models.Unigram())
tok.normalizer = normalizers.NFKC()
tok.pre_tokenizer = pre_tokenizers.Metaspace()
tok.decoder = decoders.Metaspace()
specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
trainer = trainers.UnigramTrainer(vocab_size=32000, special_tokens=specials, unk_token="<unk>")
tok.train([os.path.join(root, "data", "corpus.txt")], trainer)
tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")))
tok.save(os.path.join(tmp, "tokenizer.json"))
with open(os.path.join(tmp, "tokenizer_config.json"), "w") as f:
    json.dump({"model_max_length": 512, "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>",
               "unk_token": "<unk>", "mask_token": "<mask>", "tokenizer_class": "XLMRobertaTokenizer"}, f)

torch.manual_seed(4321)
cfg = XLMRobertaConfig(vocab_size=tok.get_vocab_size(), hidden_size=768, num_hidden_layers=12,
                       num_attention_heads=12, intermediate_size=3072, max_position_embeddings=514,
                       type_vocab_size=1, pad_token_id=tok.token_to_id("<pad>"),
                       bos_token_id=tok.token_to_id("<s>"), eos_token_id=tok.token_to_id("</s>"))
XLMRobertaModel(cfg, add_pooling_layer=False).eval().save_pretrained(tmp, safe_serialization=True)
with open(os.path.join(tmp, "modules.json"), "w") as f:
    json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}], f)
os.makedirs(os.path.join(tmp, "1_Pooling"))
with open(os.path.join(tmp, "1_Pooling", "config.json"), "w") as f:
    json.dump({"word_embedding_dimension": 768, "pooling_mode_mean_tokens": True}, f)
os.makedirs(os.path.join(tmp, "2_Normalize"))
with open(os.path.join(tmp, "sentence_bert_config.json"), "w") as f:
    json.dump({"max_seq_length": 256, "do_lower_case": False}, f)
os.replace(tmp, out)
print(out)
