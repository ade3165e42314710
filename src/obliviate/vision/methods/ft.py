"""`ft`: fine-tune on retain only and rely on catastrophic forgetting of the forget set."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from obliviate.methods.registry import register

from .losses import ce
from .protocol import Schedule


@register("ft", track="vision")
@dataclass(frozen=True)
class FineTune:
    """CE on retain every epoch. lr 0.01, 10 epochs (methods.md values, kept: at lr 0.05 FT still barely forgets on
    digits)."""

    lr: float = 0.01
    epochs: int = 10
    batch_size: int = 64  # paper (CIFAR-10) 256; see obliviate.vision.methods for why 64 here
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Schedule = "constant"

    summary: ClassVar[str] = "fine-tune on retain: catastrophic forgetting"
    paper: ClassVar[str] = "Warnecke et al., 2023, Machine Unlearning of Features and Labels (arXiv:2108.11577)"

    def phases(self, epoch):
        return [("retain", ce)]
