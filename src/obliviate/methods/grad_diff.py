"""Gradient difference (`grad_diff`): ascend on the forget answers' NLL, descend on the retain term."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .protocol import Needs, SideStats
from .registry import register
from .retain import RetainKind, combine, retain_needs


@register("grad_diff", track="llm")
@dataclass(frozen=True)
class GradDiff:
    """L = −γ·mean token NLL(forget) + α·L_retain. Paper defaults: γ = α = 1, retain `nll`."""

    gamma: float = 1.0
    alpha: float = 1.0
    retain: RetainKind = "nll"

    summary: ClassVar[str] = "gradient ascent on forget plus a retain term (NLL or KL)"
    paper: ClassVar[str] = "TOFU (Maini et al., 2024)"

    def needs(self) -> Needs:
        return Needs(retain=retain_needs(self.retain))

    def loss(self, forget: SideStats, retain: SideStats | None):
        return combine(-forget.mean_token_nll(), self.gamma, self.retain, self.alpha, retain)
