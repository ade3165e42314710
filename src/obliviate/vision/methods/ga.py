"""`ga`: gradient ascent on the forget set's cross-entropy (the classifier counterpart of the LLM track's `ga`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from obliviate.methods.registry import register

from .losses import ascend_ce
from .protocol import Schedule


@register("ga", track="vision")
@dataclass(frozen=True)
class GradientAscent:
    """Ascend CE on forget. Paper: lr 1e-4, 5 epochs (90 steps on CIFAR-10's 4500 forget samples). Digits' forget
    set is 144 samples = 3 batches, so 5 epochs are 15 steps, and lr 1e-3 left the model unchanged; lr 1e-2 keeps
    RA intact and starts forgetting a class (UA ~10 class-wise); lr 2e-2 collapsed RA to ~11% class-wise."""

    lr: float = 1e-2  # paper 1e-4
    epochs: int = 5
    batch_size: int = 64  # paper 256
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: Schedule = "constant"

    summary: ClassVar[str] = "gradient ascent on the forget set"
    paper: ClassVar[str] = "Thudi et al., 2022, Unrolling SGD: Understanding Factors Influencing Machine " \
                           "Unlearning (arXiv:2109.13398)"

    def phases(self, epoch):
        return [("forget", ascend_ce)]
