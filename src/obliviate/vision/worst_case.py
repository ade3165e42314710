"""Worst-case forget sets (Fan et al., 2024, "Challenging Forgets: Unveiling the Worst-Case Forget Sets in Machine
Unlearning"): the K training items that are hardest to unlearn, found by bi-level optimisation over a sample-weight
vector. An evaluation scenario generator beside random and class-wise forget sets, not an unlearner.

    idx = select_worst(original, train_set, k=144, seed=0)     # then forget = idx, retain = the rest

Algorithm (the paper's first-order version, in our words):
- Upper level: weights w ∈ [0, 1]^N with Σ w = K (the sparsity constraint: a relaxed K-subset), starting at K/N.
- Lower level: θ(w) = the original after `unlearn_steps` SGD steps (lr `theta_lr`) of the weighted fine-tuning
  unlearner, loss mean_i (1 − w_i)·CE_i(θ) (items with weight 1 count as forgotten, the rest as retained).
- Upper step: w ← w − w_lr·(ℓ(θ(w)) + 2γ·w), ℓ_i = CE_i under the unlearned θ (the gradient of Σ w_i ℓ_i with θ
  held fixed, + γ‖w‖²): weight flows to items the unlearned model still fits best, i.e. forgetting failed.
- Project onto {0 ≤ w ≤ 1, Σ w = K} by bisection on μ in clamp(w − μ, 0, 1). Repeat `select_epochs` times
  (θ restarts from the original each time); the forget set is the top-K of w.
Paper defaults: w_lr 0.01, theta_lr 0.01 (README example 1e-3), γ 0, select_epochs 2, unlearn_steps 2.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from obliviate.errors import DataError

CONVENTIONS = {"worst_case": "forget set = top-K of the bi-level sample weights (Fan et al. 2024, first-order, "
                             "weighted-FT lower level restarted from the original each upper step)."}


def project(w: torch.Tensor, k: float, iters: int = 60) -> torch.Tensor:
    """The w' = clamp(w − μ, 0, 1) with Σ w' = k (μ found by bisection): projection onto the capped simplex."""
    if not 0 <= k <= len(w):
        raise DataError("the forget-set size must be between 0 and the number of items", field="k",
                        rule=f"0 <= k <= {len(w)}", value=k)
    lo, hi = float(w.min()) - 1.0, float(w.max())
    for _ in range(iters):
        mu = (lo + hi) / 2
        if float((w - mu).clamp(0, 1).sum()) > k:
            lo = mu
        else:
            hi = mu
    return (w - (lo + hi) / 2).clamp(0, 1)


def _all(data) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*DataLoader(data, batch_size=4096, shuffle=False), strict=True)
    return torch.cat(xs), torch.cat(ys)


def select_worst(model: nn.Module, data, k: int, *, select_epochs: int = 2, unlearn_steps: int = 2,
                 theta_lr: float = 0.01, w_lr: float = 0.01, gamma: float = 0.0, seed: int = 0) -> torch.Tensor:
    """Indices (sorted) of the K items of `data` hardest to unlearn from `model` (module docstring); full-batch
    lower-level steps, so keep `data` small (thousands of items)."""
    x, y = _all(data)
    n = len(y)
    if not 0 < k < n:
        raise DataError("the worst-case forget set must be a proper non-empty subset", field="k",
                        rule=f"0 < k < {n}", value=k)
    w = torch.full((n,), k / n)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(select_epochs):
            theta = copy.deepcopy(model).train()
            opt = torch.optim.SGD(theta.parameters(), lr=theta_lr, momentum=0.9)
            for _ in range(unlearn_steps):
                loss = ((1 - w) * F.cross_entropy(theta(x), y, reduction="none")).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            with torch.no_grad():
                losses = F.cross_entropy(theta.eval()(x), y, reduction="none")  # (N,)
            w = project(w - w_lr * (losses + 2 * gamma * w), k)
    return torch.topk(w, k).indices.sort().values
