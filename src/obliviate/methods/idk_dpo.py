"""IDK-DPO (`idk_dpo`): DPO that prefers a refusal ("I don't know"-style answer) over the true forget answer.

margin = [logπ_θ − logπ_ref](y_idk) − [logπ_θ − logπ_ref](y_true) on sequence-summed log-probs;
L_forget = −(2/β)·mean logσ(β·margin). The refusals are ours (`idk_answers.txt`); each forget example gets one,
chosen by a seeded hash of its position so that the reference cache can look it up by example id.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import ClassVar

import torch.nn.functional as F

from .protocol import Needs, SideNeeds, SideStats
from .registry import register
from .retain import RetainKind, combine, retain_needs


@cache
def idk_answers() -> tuple[str, ...]:
    """The shipped refusal answers, one per non-empty line of `idk_answers.txt`."""
    text = resources.files(__package__).joinpath("idk_answers.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


@register("idk_dpo", track="llm")
@dataclass(frozen=True)
class IdkDPO:
    """γ·DPO(idk ≻ true) + α·L_retain. Paper defaults: β = 0.1, γ = α = 1, retain `nll`."""

    beta: float = 0.1
    gamma: float = 1.0
    alpha: float = 1.0
    retain: RetainKind = "nll"
    seed: int = 0  # which refusal each example gets

    summary: ClassVar[str] = "DPO preferring a refusal over the true answer on the forget set"
    paper: ClassVar[str] = "Maini et al., 2024 (TOFU); Rafailov et al., 2023 (DPO)"

    def needs(self) -> Needs:
        return Needs(forget=SideNeeds(ref_seq=True), retain=retain_needs(self.retain), alt=True)

    def alternative_answer(self, record: dict, index: int) -> str:
        """The refusal for forget example number `index` (deterministic in seed and index)."""
        answers = idk_answers()
        return answers[random.Random(self.seed * 1_000_003 + index).randrange(len(answers))]

    def loss(self, forget: SideStats, retain: SideStats | None):
        alt = forget.require("alt", "idk_dpo")
        true_ratio = forget.seq_logp - forget.require("ref_seq_logp", "idk_dpo")  # (B,)
        idk_ratio = alt.seq_logp - alt.require("ref_seq_logp", "idk_dpo")  # (B,)
        term = (2.0 / self.beta) * F.softplus(-self.beta * (idk_ratio - true_ratio)).mean()
        return combine(term, self.gamma, self.retain, self.alpha, retain)
