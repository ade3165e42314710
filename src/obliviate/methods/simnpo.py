"""SimNPO (`simnpo`): reference-free NPO on the length-normalised NLL, with a margin δ.

L_forget = −(2/β)·mean logσ(β·(avg_nll_θ(y|x) − δ)), avg_nll = sequence NLL / answer tokens. Never builds a reference.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch.nn.functional as F

from .protocol import Needs, SideStats
from .registry import register
from .retain import RetainKind, combine, retain_needs


@register("simnpo", track="llm")
@dataclass(frozen=True)
class SimNPO:
    """γ·SimNPO(forget) + α·L_retain. Paper defaults (forget10): β = 4.5, γ = 0.125, α = 1, δ = 0;
    forget05: β = 2.5, γ = 0.1375."""

    beta: float = 4.5
    gamma: float = 0.125
    alpha: float = 1.0
    delta: float = 0.0
    retain: RetainKind = "nll"

    summary: ClassVar[str] = "reference-free NPO on length-normalised NLL"
    paper: ClassVar[str] = "Fan et al., 2024, Simplicity Prevails: SimNPO (arXiv:2410.07163)"

    def needs(self) -> Needs:
        return Needs(retain=retain_needs(self.retain))

    def loss(self, forget: SideStats, retain: SideStats | None):
        avg_nll = forget.seq_nll / forget.n_tokens  # (B,)
        # −logσ(x) = softplus(−x)
        term = (2.0 / self.beta) * F.softplus(-self.beta * (avg_nll - self.delta)).mean()
        return combine(term, self.gamma, self.retain, self.alpha, retain)
