"""Two torch 2 APIs that transformers 4.49's ModernBERT uses, supplied on
Debian's torch 1.13 (import this before transformers); neither changes
what a forward computes:
- torch.compile: only decorates ModernBERT's compiled_mlp and
  compiled_embeddings, which run only with config.reference_compile
  (the tests pass False); here a decorator that returns the function.
- nn.LayerNorm(..., bias=False) (torch 2.1): a LayerNorm whose bias is
  None, which F.layer_norm (also in 1.13) takes as no bias, the state
  dict then without a ".bias" entry, as torch 2.1 saves it.
On a torch that has them, nothing is replaced. `applied` names what was."""
import inspect

import torch

applied = []

if not hasattr(torch, "compile"):
    def _compile(model=None, **kwargs):
        return model if model is not None else (lambda f: f)
    torch.compile = _compile
    applied.append("torch.compile (identity)")

if "bias" not in inspect.signature(torch.nn.LayerNorm.__init__).parameters:
    class LayerNorm(torch.nn.LayerNorm):
        def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
            super().__init__(normalized_shape, eps, elementwise_affine, device=device, dtype=dtype)
            if not bias:
                self.register_parameter("bias", None)
    torch.nn.LayerNorm = LayerNorm
    applied.append("nn.LayerNorm(bias=False)")
