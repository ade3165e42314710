"""A classifier's representation: the input of its last `nn.Linear` (the head), for methods that work on it
(LAF's VAEs and contrastive alignment, concept removal). Works on any model whose last Linear is the head.
"""
from __future__ import annotations

import torch
from torch import nn

from obliviate.errors import ModelError


def head(model: nn.Module) -> nn.Linear:
    """The last nn.Linear of `model` (module order), taken to be its classification head."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ModelError(f"{type(model).__name__}: no nn.Linear head, so no representation to work on")
    return linears[-1]


def embed(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(B, D) input of the head for a batch x, with gradients (one forward pass of the whole model)."""
    got: list[torch.Tensor] = []
    handle = head(model).register_forward_hook(lambda _m, inp, _out: got.append(inp[0]))
    try:
        model(x)
    finally:
        handle.remove()
    return got[0].flatten(1)


@torch.no_grad()
def embed_all(model: nn.Module, loader) -> torch.Tensor:
    """(N, D) representations of every batch of `loader` (eval mode, no gradients)."""
    was = model.training
    model.eval()
    out = torch.cat([embed(model, x) for x, _ in loader])
    model.train(was)
    return out
