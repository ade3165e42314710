"""Weight masks for classifier unlearning: SalUn's gradient saliency and global magnitude pruning.

A mask maps parameter name → bool tensor of the parameter's shape, True = may move. The loop keeps every False entry
exactly where it was: it zeroes its gradient and its momentum, and copies the frozen value back after each optimizer
step, because SGD's weight decay (wd·θ is added to the gradient inside `step`) and momentum would move it otherwise.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from obliviate.errors import ConfigError

from .data import check_labels

Mask = dict[str, torch.Tensor]


def _top_fraction(scores: dict[str, torch.Tensor], keep: float) -> Mask:
    """True on exactly round(keep·N) entries with the largest score, chosen globally over all tensors."""
    flat = torch.cat([s.flatten() for s in scores.values()])  # (N,)
    k = round(keep * flat.numel())
    chosen = torch.zeros_like(flat, dtype=torch.bool)
    if k > 0:
        chosen[torch.topk(flat, k, sorted=False).indices] = True
    out, start = {}, 0
    for name, s in scores.items():
        out[name] = chosen[start:start + s.numel()].view_as(s)
        start += s.numel()
    return out


def saliency_mask(model: nn.Module, forget: Iterable, ratio: float, device: torch.device,
                  num_classes: int) -> Mask:
    """SalUn: |∇θ Σ_forget CE| accumulated over one pass; the top `ratio` of all trainable weights may move."""
    if not 0.0 < ratio <= 1.0:
        raise ConfigError(f"ratio: must be in (0, 1], got {ratio}")
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad(set_to_none=True)
    model.eval()  # a fixed network for the scores: no batch-norm statistics updated by this pass
    for x, y in forget:
        check_labels(y, num_classes, where="forget labels")
        loss = F.cross_entropy(model(x.to(device)), y.to(device), reduction="sum")
        loss.backward()
    scores = {n: p.grad.detach().abs() if p.grad is not None else torch.zeros_like(p) for n, p in params.items()}
    model.zero_grad(set_to_none=True)
    model.train()
    return _top_fraction(scores, ratio)


def magnitude_prune(model: nn.Module, sparsity: float) -> Mask:
    """Global L1 magnitude pruning: zero the smallest `sparsity` fraction of all weight matrices and kernels
    (parameters of dim ≥ 2; biases and norm scales stay dense). Returns the mask of surviving entries."""
    if not 0.0 <= sparsity < 1.0:
        raise ConfigError(f"sparsity: must be in [0, 1), got {sparsity}")
    weights = {n: p for n, p in model.named_parameters() if p.requires_grad and p.dim() >= 2}
    mask = _top_fraction({n: p.detach().abs() for n, p in weights.items()}, 1.0 - sparsity)
    with torch.no_grad():
        for n, p in weights.items():
            p.mul_(mask[n])
    return mask


def combine(a: Mask | None, b: Mask | None) -> Mask | None:
    """Logical AND of two masks (a missing entry means 'all True')."""
    if a is None or b is None:
        return a if b is None else b
    out = dict(a)
    for n, m in b.items():
        out[n] = out[n] & m if n in out else m
    return out


def density(model: nn.Module, mask: Mask | None) -> float:
    """Fraction of trainable parameter entries the mask lets move."""
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if mask is None:
        return 1.0
    frozen = sum(int((~m).sum()) for m in mask.values())
    return (total - frozen) / total
