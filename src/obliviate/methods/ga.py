"""Gradient ascent (`ga`): raise the NLL of the forget answers. No retain term by default (TOFU's baseline)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .protocol import Needs, SideStats
from .registry import register
from .retain import RetainKind, combine, retain_needs


@register("ga", track="llm")
@dataclass(frozen=True)
class GradientAscent:
    """L = −γ·mean token NLL(forget) + α·L_retain. Paper default: lr 1e-5, 5–10 epochs, α = 0."""

    gamma: float = 1.0
    alpha: float = 0.0
    retain: RetainKind = "none"

    summary: ClassVar[str] = "gradient ascent on the forget answers' NLL"
    paper: ClassVar[str] = "TOFU (Maini et al., 2024)"

    def needs(self) -> Needs:
        return Needs(retain=retain_needs(self.retain))

    def loss(self, forget: SideStats, retain: SideStats | None):
        return combine(-forget.mean_token_nll(), self.gamma, self.retain, self.alpha, retain)
