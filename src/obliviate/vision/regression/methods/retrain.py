"""`retrain` (regression): fresh weights, L1 on retain only: the oracle, and how the original is trained."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from obliviate.methods.registry import register

from ...models import reinitialise
from .losses import l1


@register("retrain", track="regression")
@dataclass(frozen=True)
class RetrainRegression:
    """Re-draw every weight from the seed, then Adam on L1 over retain. Diabetes: 353 rows = 12 batches of 32, so
    150 epochs are 1800 steps (test MAE plateaus near 0.6 target-std by then)."""

    lr: float = 1e-3
    epochs: int = 150
    batch_size: int = 32
    weight_decay: float = 0.0

    summary: ClassVar[str] = "regression: train from scratch on retain only (the oracle)"
    paper: ClassVar[str] = "exact unlearning by retraining; Cao & Yang, 2015, Towards Making Systems Forget with " \
                           "Machine Unlearning (IEEE S&P)"

    def phases(self, epoch):
        return [("retain", l1)]

    def prepare(self, model, ctx):
        reinitialise(model, ctx.seed)
