"""`ga` (regression): gradient ascent on the forget rows' L1 error."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from obliviate.methods.registry import register

from .losses import ascend_l1


@register("ga", track="regression")
@dataclass(frozen=True)
class GradientAscentRegression:
    """Adam ascending L1 on forget. L1 ascent has no ceiling (predictions run away linearly), so it is kept short:
    2 batches a pass on diabetes' 35 forget rows, 3 passes at lr 1e-3."""

    lr: float = 1e-3
    epochs: int = 3
    batch_size: int = 32
    weight_decay: float = 0.0

    summary: ClassVar[str] = "regression: gradient ascent on the forget rows' L1 error"
    paper: ClassVar[str] = "Thudi et al., 2022, Unrolling SGD: Understanding Factors Influencing Machine " \
                           "Unlearning (arXiv:2109.13398)"

    def phases(self, epoch):
        return [("forget", ascend_l1)]
