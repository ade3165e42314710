"""UNDIAL (`undial`): self-distillation towards the reference's distribution with the true token's logit lowered.

Teacher logits z' = z_ref − β·onehot(y_t); L_forget = mean over answer tokens of CE(softmax(z'), model) =
−Σ_v softmax(z')_v · log softmax(z_θ)_v. The teacher is fixed, so the loss is bounded and cannot diverge like ascent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch.nn.functional as F

from .protocol import Needs, SideNeeds, SideStats, masked_mean
from .registry import register
from .retain import RetainKind, combine, retain_needs


def undial_term(logits, ref_logits, targets, mask, beta: float):
    """logits, ref_logits: (B, T-1, V); targets (B, T-1) long; mask (B, T-1) bool → scalar."""
    vocab = ref_logits.shape[-1]
    teacher = ref_logits.float() - beta * F.one_hot(targets, vocab).float()  # (B, T-1, V)
    ce = -(F.softmax(teacher, dim=-1) * F.log_softmax(logits.float(), dim=-1)).sum(-1)  # (B, T-1)
    return masked_mean(ce, mask)


@register("undial", track="llm")
@dataclass(frozen=True)
class Undial:
    """γ·UNDIAL(forget) + α·L_retain. Paper default: β = 10; no retain term."""

    beta: float = 10.0
    gamma: float = 1.0
    alpha: float = 0.0
    retain: RetainKind = "none"

    summary: ClassVar[str] = "self-distillation onto the reference with the true token's logit lowered by β"
    paper: ClassVar[str] = "Dong et al., 2024, UNDIAL (arXiv:2402.10052)"

    def needs(self) -> Needs:
        return Needs(forget=SideNeeds(logits=True, ref_logits=True), retain=retain_needs(self.retain))

    def loss(self, forget: SideStats, retain: SideStats | None):
        term = undial_term(forget.require("logits", "undial"), forget.require("ref_logits", "undial"),
                           forget.require("targets", "undial"), forget.mask, self.beta)
        return combine(term, self.gamma, self.retain, self.alpha, retain)
