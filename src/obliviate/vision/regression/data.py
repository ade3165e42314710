"""The regression scenario's data: scikit-learn's bundled diabetes set (442 patients, 10 features, offline).

Features and the target are standardised with the training split's mean and std (so errors are in target-std
units); `forget_split` draws a random forget set of the training rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import TensorDataset

from obliviate.errors import DataError


@dataclass(frozen=True)
class RegData:
    """Train/test tensors of one regression task; y is float (N,), standardised with the train split."""

    name: str
    x_train: torch.Tensor  # (N, F)
    y_train: torch.Tensor  # (N,)
    x_test: torch.Tensor
    y_test: torch.Tensor

    def train(self) -> TensorDataset:
        return TensorDataset(self.x_train, self.y_train)

    def test(self) -> TensorDataset:
        return TensorDataset(self.x_test, self.y_test)

    def subset(self, idx: torch.Tensor) -> TensorDataset:
        return TensorDataset(self.x_train[idx], self.y_train[idx])

    def forget_split(self, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(forget, retain) train indices: round(fraction·N) rows drawn at random with `seed`, sorted."""
        n = len(self.y_train)
        if not 0.0 < fraction < 1.0:
            raise DataError("forget fraction must be in (0, 1)", field="fraction", value=fraction)
        k = round(fraction * n)
        if k == 0:
            raise DataError("the forget set is empty", field="fraction", rule="round(fraction·N) >= 1", value=fraction)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        return perm[:k].sort().values, perm[k:].sort().values


def load_diabetes(test_fraction: float = 0.2, split_seed: int = 0) -> RegData:
    """scikit-learn's diabetes regression set (442×10, disease progression after one year), 80/20 split."""
    from sklearn.datasets import load_diabetes as _sk
    from sklearn.model_selection import train_test_split

    x, y = _sk(return_X_y=True)
    tr, te = train_test_split(np.arange(len(y)), test_size=test_fraction, random_state=split_seed)
    mx, sx = x[tr].mean(0), x[tr].std(0) + 1e-12
    my, sy = y[tr].mean(), y[tr].std()
    f = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return RegData("diabetes", f((x[tr] - mx) / sx), f((y[tr] - my) / sy), f((x[te] - mx) / sx), f((y[te] - my) / sy))
