"""`ssd`: Selective Synaptic Dampening (Foster et al., AAAI 2024): a one-shot, training-free edit of the weights."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from obliviate.methods.registry import register

from ..data import check_labels
from .protocol import Schedule


def importances(model, loaders, device, num_classes) -> dict[str, torch.Tensor]:
    """Diagonal Fisher estimate: the mean over batches of (∂ mean-batch CE / ∂θ)², one tensor per parameter."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    batches = 0
    model.eval()
    for loader in loaders:
        for x, y in loader:
            check_labels(y, num_classes, where="ssd labels")
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x.to(device)), y.to(device)).backward()
            for n, p in params.items():
                if p.grad is not None:
                    total[n] += p.grad.detach() ** 2
            batches += 1
    model.zero_grad(set_to_none=True)
    model.train()
    return {n: t / max(batches, 1) for n, t in total.items()}


def dampen(model, forget_imp, full_imp, alpha: float, lam: float) -> float:
    """θ ← θ·min(1, λ·I_D/I_f) wherever I_f > α·I_D; returns the fraction of entries changed."""
    changed, count = 0, 0
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n not in forget_imp:
                continue
            i_f, i_d = forget_imp[n], full_imp[n]
            chosen = i_f > alpha * i_d
            factor = torch.clamp(lam * i_d / i_f.clamp_min(1e-30), max=1.0)
            p.mul_(torch.where(chosen, factor, torch.ones_like(p)))
            changed, count = changed + int(chosen.sum()), count + p.numel()
    return changed / max(count, 1)


@register("ssd", track="vision")
@dataclass(frozen=True)
class SelectiveSynapticDampening:
    """Algorithm (Foster et al. 2024; corrective-unlearning bench defaults λ = 1, α = 10):
    1. I_D = diagonal Fisher importance (mean over batches of squared CE gradients) on all training data
       (forget ∪ retain), I_f the same on the forget set alone.
    2. The weights specialised to the forget set are those with I_f > α·I_D.
    3. Dampen each of them: θ ← θ·min(1, λ·I_D/I_f) (the more forget-specific, the closer to 0).
    No gradient step follows: `phases` is empty, so the SGD fields are unused (kept for the shared protocol).
    The selection is relative (I_f against I_D), so what α selects depends on |forget|/|all| and the batch size;
    we keep the paper's α = 10 and λ = 1."""

    lr: float = 0.0  # unused: no training
    epochs: int = 0
    batch_size: int = 64
    momentum: float = 0.0
    weight_decay: float = 0.0
    schedule: Schedule = "constant"
    alpha: float = 10.0
    lam: float = 1.0

    summary: ClassVar[str] = "dampen the weights far more important to the forget set than to all data (Fisher)"
    paper: ClassVar[str] = "Foster et al., 2024, Fast Machine Unlearning Without Retraining Through Selective " \
                           "Synaptic Dampening (AAAI; arXiv:2308.07707)"

    def phases(self, epoch):
        return []

    def prepare(self, model, ctx):
        forget = importances(model, [ctx.loaders["forget"]], ctx.device, ctx.num_classes)
        full = importances(model, [ctx.loaders["forget"], ctx.loaders["retain"]], ctx.device, ctx.num_classes)
        dampen(model, forget, full, self.alpha, self.lam)
        return None
