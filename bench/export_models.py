#!/usr/bin/env python3
"""Export an encoder model folder (the real all-MiniLM-L6-v2 by default;
all-mpnet-base-v2 and others with --model) for the peers of `make bench`:
ONNX (torch.onnx.export of the Hugging Face model + mean pooling + L2
normalize, dynamic batch and sequence; token_type_ids only where the model
takes them), the same ONNX with ONNX Runtime's own dynamic int8
quantization (quantize_dynamic: int8 weights per channel, activations
quantized per call; what ORT users run for int8 on CPUs) and GGUF f32
(llama.cpp's own convert_hf_to_gguf.py from the llama-cpp-python sdist;
"-" when it cannot convert the architecture).

Usage: export_models.py MODEL_DIR OUT_DIR   (skips what already exists)
"""
import glob, os, subprocess, sys

model_dir, out_dir = sys.argv[1], sys.argv[2]
os.makedirs(out_dir, exist_ok=True)
name = os.path.basename(os.path.normpath(model_dir))
onnx_path = os.path.join(out_dir, name + ".onnx")
onnx_int8_path = os.path.join(out_dir, name + "-int8.onnx")
gguf_path = os.path.join(out_dir, name + "-f32.gguf")

if not os.path.exists(onnx_path):
    import inspect
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(model_dir, attn_implementation="eager").eval()
    typed = "token_type_ids" in inspect.signature(bert.forward).parameters  # MPNet has none

    class Embedder(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, *token_type_ids):
            extra = {"token_type_ids": token_type_ids[0]} if token_type_ids else {}
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    model = Embedder(bert).eval()
    ids = torch.ones(2, 16, dtype=torch.int64)
    args = (ids, torch.ones_like(ids)) + ((torch.zeros_like(ids),) if typed else ())
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if typed else [])
    axes = {n: {0: "batch", 1: "seq"} for n in names}
    axes["embedding"] = {0: "batch"}
    tmp = onnx_path + ".tmp"
    with torch.no_grad():
        try:
            torch.onnx.export(model, args, tmp, input_names=names, output_names=["embedding"],
                              dynamic_axes=axes, opset_version=17, dynamo=False)
        except Exception as e:  # newer torch: only the dynamo exporter
            print(f"export: TorchScript exporter failed ({e}); using dynamo", file=sys.stderr)
            b, s = torch.export.Dim("batch"), torch.export.Dim("seq", max=512)
            shapes = {n: {0: b, 1: s} for n in names}
            torch.onnx.export(model, args, tmp, input_names=names, output_names=["embedding"],
                              dynamic_shapes=shapes, dynamo=True, external_data=False)
    os.replace(tmp, onnx_path)
    print(f"export: wrote {onnx_path}", file=sys.stderr)

if not os.path.exists(onnx_int8_path):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = onnx_int8_path + ".tmp.onnx"
    quantize_dynamic(onnx_path, tmp, weight_type=QuantType.QInt8, per_channel=True)
    os.replace(tmp, onnx_int8_path)
    print(f"export: wrote {onnx_int8_path}", file=sys.stderr)

if not os.path.exists(gguf_path):
    venv = os.path.dirname(os.path.dirname(sys.executable))
    conv = sorted(glob.glob(os.path.join(venv, "src", "llama_cpp_python-*", "vendor", "llama.cpp",
                                         "convert_hf_to_gguf.py")))
    if not conv:
        sys.exit("export: convert_hf_to_gguf.py not found (run bench/setup.sh)")
    env = dict(os.environ)
    gguf_py = os.path.join(os.path.dirname(conv[-1]), "gguf-py")
    env["PYTHONPATH"] = gguf_py + os.pathsep + env.get("PYTHONPATH", "")
    tmp = gguf_path + ".tmp"
    if subprocess.run([sys.executable, conv[-1], model_dir, "--outtype", "f32", "--outfile", tmp],
                      env=env, stdout=subprocess.DEVNULL).returncode == 0:
        os.replace(tmp, gguf_path)
        print(f"export: wrote {gguf_path}", file=sys.stderr)
    else:
        print(f"export: llama.cpp cannot convert {model_dir}; no GGUF peer", file=sys.stderr)
        gguf_path = "-"
print(onnx_path)
print(gguf_path)
print(onnx_int8_path)
