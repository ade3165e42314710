"""`ft` (regression): fine-tune on retain with L1 (catastrophic forgetting of the forget rows)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from obliviate.methods.registry import register

from .losses import l1


@register("ft", track="regression")
@dataclass(frozen=True)
class FineTuneRegression:
    """Adam on L1 over retain only, from the original weights. Tarun et al.'s baseline uses their training lr."""

    lr: float = 1e-3
    epochs: int = 10
    batch_size: int = 32
    weight_decay: float = 0.0

    summary: ClassVar[str] = "regression: fine-tune on retain (L1)"
    paper: ClassVar[str] = "Warnecke et al., 2023, Machine Unlearning of Features and Labels (arXiv:2108.11577)"

    def phases(self, epoch):
        return [("retain", l1)]
