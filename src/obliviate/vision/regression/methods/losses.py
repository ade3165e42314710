"""Batch losses the regression methods share (L1, as Tarun et al. train with), plain functions of (batch, ctx)."""
from __future__ import annotations

import torch


def l1(batch, ctx) -> torch.Tensor:
    return (batch.pred - batch.y).abs().mean()


def ascend_l1(batch, ctx) -> torch.Tensor:
    return -(batch.pred - batch.y).abs().mean()


def attention(a: torch.Tensor) -> torch.Tensor:
    """Attention map of an activation: mean of a² over channels (dim 1 when 4-D; each unit of an MLP layer is its
    own map), flattened and L2-normalised per sample: (B, ...) → (B, K)."""
    sq = a.pow(2)
    sq = sq.mean(1) if sq.dim() == 4 else sq
    return torch.nn.functional.normalize(sq.reshape(len(a), -1), dim=1)


def attention_transfer(acts: list[torch.Tensor], ref: list[torch.Tensor]) -> torch.Tensor:
    """Σ over layers of the per-sample squared distance ‖att(a) − att(a_ref)‖², averaged over the batch."""
    if len(acts) != len(ref):
        raise ValueError(f"attention transfer: {len(acts)} activations vs {len(ref)} reference activations")
    total = sum(((attention(a) - attention(b)).pow(2).sum(1)) for a, b in zip(acts, ref, strict=True))
    return total.mean() if torch.is_tensor(total) else torch.tensor(0.0)
