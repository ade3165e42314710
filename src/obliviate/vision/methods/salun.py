"""`salun`: random labels (`rl`) with only the most forget-salient weights allowed to move."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from obliviate.methods.registry import register

from .. import masks
from .losses import ce, random_label_ce
from .protocol import Schedule


@register("salun", track="vision")
@dataclass(frozen=True)
class SalUn:
    """RL under a saliency mask: the top `ratio` of |∇θ CE(forget)| may move, the rest stays exactly fixed.
    Paper lr ≈ 0.013, 10 epochs, ratio 0.5 (kept)."""

    lr: float = 0.013
    epochs: int = 10
    batch_size: int = 64  # paper 256
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Schedule = "constant"
    ratio: float = 0.5

    summary: ClassVar[str] = "random labels with only the most forget-salient half of the weights trainable"
    paper: ClassVar[str] = "Fan et al., 2024, SalUn: Empowering Machine Unlearning via Gradient-based Weight " \
                           "Saliency (arXiv:2310.12508)"

    def phases(self, epoch):
        return [("forget", random_label_ce), ("retain", ce)]

    def prepare(self, model, ctx):
        return masks.saliency_mask(model, ctx.loaders["forget"], self.ratio, ctx.device, ctx.num_classes)
