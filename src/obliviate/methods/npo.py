"""Negative preference optimization (`npo`): push the forget answers' likelihood below the reference's, softly.

r = nll_θ(y|x) − nll_ref(y|x) on sequence-summed NLL; L_forget = (2/β)·mean softplus(−β·r) = −(2/β)·mean logσ(β·r).
The reference log-probs are constant per example, so the engine computes them once before training (cache).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch.nn.functional as F

from .protocol import Needs, SideNeeds, SideStats
from .registry import register
from .retain import RetainKind, combine, retain_needs


def npo_term(seq_logp, ref_seq_logp, beta: float):
    """(2/β)·mean log(1 + (π_θ/π_ref)^β) from sequence log-probs (B,); softplus keeps it finite for large ratios."""
    log_ratio = seq_logp - ref_seq_logp  # = −r
    return (2.0 / beta) * F.softplus(beta * log_ratio).mean()


@register("npo", track="llm")
@dataclass(frozen=True)
class NPO:
    """γ·NPO(forget) + α·L_retain. Paper defaults: β = 0.1, γ = α = 1, retain `nll` (NPO+RT), lr 1e-5, 10 epochs."""

    beta: float = 0.1
    gamma: float = 1.0
    alpha: float = 1.0
    retain: RetainKind = "nll"

    summary: ClassVar[str] = "negative preference optimization: a bounded ascent relative to the reference"
    paper: ClassVar[str] = "Zhang et al., 2024, Negative Preference Optimization (arXiv:2404.05868)"

    def needs(self) -> Needs:
        return Needs(forget=SideNeeds(ref_seq=True), retain=retain_needs(self.retain))

    def loss(self, forget: SideStats, retain: SideStats | None):
        term = npo_term(forget.seq_logp, forget.require("ref_seq_logp", "npo"), self.beta)
        return combine(term, self.gamma, self.retain, self.alpha, retain)
