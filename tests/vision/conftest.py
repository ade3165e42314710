"""Tiny classification fixtures: a seeded 3-class problem of 4 features (learnable in a few steps)."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset


@pytest.fixture
def tiny():
    """(model, forget, retain): an MLP 4→8→3 briefly fitted so that CE on forget has non-zero gradients."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    x = torch.randn(60, 4, generator=g) + 2.0 * nn.functional.one_hot(y, 4).float()
    full = TensorDataset(x, y)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    return model, Subset(full, list(range(12))), Subset(full, list(range(12, 60)))
