"""Prune first, then unlearn (Jia et al., "Model sparsity can simplify machine unlearning"), for LLMs.

    keep = prune(model, "magnitude:0.5")    # or "2:4"; zeroes weights in place, returns {name: bool, True = kept}

The returned mask is passed to the engine like any other: the pruned entries are masked-out entries, so the
unlearning run holds them at exactly 0 (engine.masking.HeldMask).

What is pruned: the weight matrices of the model's `nn.Linear` layers (attention and MLP projections), not the
embeddings, the output head, the norms or the biases (the LLM pruning convention of SparseGPT and Wanda).
- `magnitude:S` unstructured, **per tensor**: in each matrix the round(S·numel) entries of smallest |w| become 0.
  Per tensor rather than global because layers of an LLM differ in scale: a global threshold can empty a whole
  small-scale projection, while per-layer uniform sparsity keeps every layer working.
- `N:M` semi-structured: in every group of M consecutive weights along the input dimension (the last axis of a
  Linear weight (out, in)), the N of largest |w| are kept and M − N become 0 (2:4 = the pattern sparse tensor
  cores accelerate: half of each group of 4 is zero). `in` must be divisible by M.
"""
from __future__ import annotations

import torch
from torch import nn

from obliviate.errors import ConfigError

from .forms import PRUNE_FORMS, parse_prune  # noqa: F401  (re-exported)


def prunable(model: nn.Module) -> dict[str, nn.Parameter]:
    """Name → weight of every nn.Linear except the output head (and any Linear tied to the input embeddings)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    tied = {id(m.weight) for m in (head, emb) if m is not None}
    return {f"{name}.weight" if name else "weight": mod.weight for name, mod in model.named_modules()
            if isinstance(mod, nn.Linear) and id(mod.weight) not in tied}


def magnitude_keep(w: torch.Tensor, sparsity: float) -> torch.Tensor:
    """True except on the round(sparsity·numel) entries of smallest |w| (ties broken by position)."""
    k = round(sparsity * w.numel())
    keep = torch.ones(w.numel(), dtype=torch.bool, device=w.device)
    if k > 0:
        keep[torch.topk(w.detach().abs().flatten(), k, largest=False, sorted=False).indices] = False
    return keep.view_as(w)


def nm_keep(w: torch.Tensor, n: int, m: int, name: str = "weight") -> torch.Tensor:
    """True on the n largest |w| of every group of m consecutive entries along the last axis."""
    if w.shape[-1] % m:
        raise ConfigError(f"prune {n}:{m}: {name} has input dimension {w.shape[-1]}, not divisible by {m}")
    groups = w.detach().abs().reshape(-1, m)  # (out·in/m, m)
    keep = torch.zeros_like(groups, dtype=torch.bool)
    keep.scatter_(1, torch.topk(groups, n, dim=1).indices, True)
    return keep.view_as(w)


@torch.no_grad()
def prune(model: nn.Module, spec: str) -> dict[str, torch.Tensor]:
    """Zero the pruned weights of `model` in place (see the module docstring); returns {name: keep mask}."""
    form, arg = parse_prune(spec)
    weights = prunable(model)
    if not weights:
        raise ConfigError(f"prune {spec}: the model has no nn.Linear weight to prune")
    out = {}
    for name, w in weights.items():
        keep = magnitude_keep(w, arg) if form == "magnitude" else nm_keep(w, *arg, name=name)
        w.masked_fill_(~keep, 0)
        out[name] = keep
    return out


def sparsity(model: nn.Module) -> float:
    """Share of exactly-zero entries over the prunable weights."""
    weights = prunable(model).values()
    return sum(int((w == 0).sum()) for w in weights) / max(1, sum(w.numel() for w in weights))
