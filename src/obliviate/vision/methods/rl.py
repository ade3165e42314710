"""`rl`: relabel the forget samples with random wrong labels and fit them, then a retain pass, every epoch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from obliviate.methods.registry import register

from .losses import ce, random_label_ce
from .protocol import Schedule


@register("rl", track="vision")
@dataclass(frozen=True)
class RandomLabels:
    """Per epoch: CE towards fresh uniformly random wrong labels on forget, then CE on retain. lr 0.01, 10 epochs
    (methods.md)."""

    lr: float = 0.01
    epochs: int = 10
    batch_size: int = 64  # paper 256
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Schedule = "constant"

    summary: ClassVar[str] = "relabel the forget set with random wrong labels, then a retain pass, every epoch"
    paper: ClassVar[str] = "Graves et al., 2021, Amnesiac Machine Learning (arXiv:2010.10981)"

    def phases(self, epoch):
        return [("forget", random_label_ce), ("retain", ce)]
