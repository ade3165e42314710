"""`blindspot`: Blindspot unlearning (Tarun et al., ICML 2023): pull forget rows towards a partly-trained proxy."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import torch

from obliviate.methods.registry import register

from ...models import reinitialise
from .losses import attention_transfer


def blindspot_loss(batch, proxy_pred: torch.Tensor, proxy_acts: list[torch.Tensor], beta: float) -> torch.Tensor:
    """(1 − φ)·L1(retain rows vs targets) + φ·[L1(forget rows vs proxy) + β·AT(forget rows' activations vs
    proxy's)], φ = fraction of forget rows in the batch (a term with no rows is 0)."""
    f = batch.is_forget
    phi = f.float().mean()
    zero = batch.pred.sum() * 0.0
    retain = (batch.pred[~f] - batch.y[~f]).abs().mean() if (~f).any() else zero
    if not f.any():
        return (1 - phi) * retain
    forget = (batch.pred[f] - proxy_pred[f]).abs().mean()
    forget = forget + beta * attention_transfer([a[f] for a in batch.acts], [a[f] for a in proxy_acts])
    return (1 - phi) * retain + phi * forget


@register("blindspot", track="regression")
@dataclass(frozen=True)
class Blindspot:
    """Algorithm (Tarun et al., §4.1):
    1. Train a "blindspot" proxy from fresh weights on retain only for a few epochs (`proxy_epochs`; paper 2): it
       knows the retain distribution roughly but has never seen the forget rows.
    2. From the original, train on forget ∪ retain: retain rows fit their targets (L1); forget rows fit the
       proxy's predictions (L1) and, layer by layer, the proxy's attention maps (β·Σ‖att(a) − att(a_proxy)‖²,
       att = L2-normalised a²); the two terms weighted by the batch's forget fraction φ.
    Paper: proxy 2 epochs, then 1 epoch, Adam lr 1e-3, β = 50 (AgeDB, ResNet). Diabetes: 12 batches an epoch, so
    proxy 20 epochs (not tuned: 2 would be 24 Adam steps here) and 15 unlearning epochs (5 moved the forget
    error only from 0.20 to 0.36, oracle 0.74; 15 to 0.53, seed 0)."""

    lr: float = 1e-3
    epochs: int = 15  # paper 1
    batch_size: int = 32
    weight_decay: float = 0.0
    proxy_epochs: int = 20  # paper 2
    beta: float = 50.0

    summary: ClassVar[str] = "regression: fit forget rows to a retain-only proxy's outputs and attention maps"
    paper: ClassVar[str] = "Tarun et al., 2023, Deep Regression Unlearning (ICML; arXiv:2210.08196)"

    def phases(self, epoch):
        return [("all", self.loss)]

    def loss(self, batch, ctx):
        from ..loop import forward

        with torch.no_grad():
            proxy_pred, proxy_acts = forward(ctx.extra["proxy"], batch.x)
        return blindspot_loss(batch, proxy_pred, proxy_acts, self.beta)

    def prepare(self, model, ctx):
        from ..loop import forward

        proxy = reinitialise(copy.deepcopy(model), ctx.seed + 7).train()
        opt = torch.optim.Adam(proxy.parameters(), lr=self.lr)
        for _ in range(self.proxy_epochs):
            for x, y, _f in ctx.loaders["retain"]:
                pred, _ = forward(proxy, x)
                loss = (pred - y).abs().mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        ctx.extra["proxy"] = proxy.eval()
