"""Worst-case forget-set selection: the projection's arithmetic, and tiny problems where the hardest set is known."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from obliviate.errors import DataError
from obliviate.vision.worst_case import project, select_worst


def test_projection_known_values():
    """w = (0.9, 0.5, 0.1), k = 1: μ = 0.2 gives (0.7, 0.3, 0), sum 1. Cap at 1: w = (3, 0, 0), k = 2: the first
    entry is capped at 1, so 1 + 2·(−μ) = 2 → μ = −0.5: (1, 0.5, 0.5)."""
    torch.testing.assert_close(project(torch.tensor([0.9, 0.5, 0.1]), 1.0), torch.tensor([0.7, 0.3, 0.0]))
    torch.testing.assert_close(project(torch.tensor([3.0, 0.0, 0.0]), 2.0), torch.tensor([1.0, 0.5, 0.5]))
    with pytest.raises(DataError, match="between 0 and the number of items"):
        project(torch.zeros(3), 4)


def _linear_problem():
    """A fixed linear classifier on 1-D points with margins 0.5·i (i = 1..10): item 9 fits best, item 0 worst."""
    x = torch.linspace(0.5, 5.0, 10)[:, None]  # (10, 1)
    y = torch.zeros(10, dtype=torch.long)
    model = nn.Linear(1, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        model.bias.zero_()
    return model, TensorDataset(x, y)


def test_without_unlearning_the_hardest_set_is_the_best_fit():
    """theta_lr = 0: θ(w) is the original, so the weights flow to the K lowest-loss items: {7, 8, 9}."""
    model, data = _linear_problem()
    assert select_worst(model, data, 3, theta_lr=0.0, w_lr=0.1).tolist() == [7, 8, 9]


def test_hardest_set_is_the_one_retain_keeps_fitted():
    """Two clusters: 12 items of class 0 near x = −2 and, at x = +2, 12 items of class 1 plus 3 mislabelled as
    class 0 (a minority the original only partly fits). Unlearning by fine-tuning on the rest forgets the
    mislabelled ones at once (the retain set contradicts them), so the hardest K = 3 lie in the clean clusters;
    the mislabelled items are never chosen."""
    g = torch.Generator().manual_seed(0)
    x = torch.cat([-2 + 0.1 * torch.randn(12, 1, generator=g), 2 + 0.1 * torch.randn(15, 1, generator=g)])
    y = torch.cat([torch.zeros(12), torch.ones(12), torch.zeros(3)]).long()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(200):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    picked = select_worst(model, TensorDataset(x, y), 3, select_epochs=3, unlearn_steps=5, theta_lr=0.1)
    assert len(picked) == 3 and not set(picked.tolist()) & {24, 25, 26}


def test_bad_k_refused():
    model, data = _linear_problem()
    with pytest.raises(DataError, match="proper non-empty subset"):
        select_worst(model, data, 10)
