"""Task-vector negation (`task_vector`): fine-tune on the forget set, then move the weights the other way.

Training descends the forget answers' NLL (θ → θ_ft); `finalize` then sets θ_new = θ − s·(θ_ft − θ) from the
weights saved before training. The engine calls `finalize` because the method declares it, not by its name.

With LoRA the weight change is the product ΔW = B·A (times α/r), with B = 0 at the start (peft's default), so it is
not linear in the trained tensors: negating A and B each gives (−sB)·((1+s)A₀ − sA) ≠ −s·B·A. Instead B is negated
and the trained A kept: (−s·B)·A = −s·ΔW, exactly θ − s·(θ_ft − θ) for the merged weight.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import torch

from .protocol import Needs, SideNeeds, SideStats
from .registry import register

_LORA_A = re.compile(r"\.lora_(?:embedding_)?A\.")  # peft: ...q_proj.lora_A.default.weight


@register("task_vector", track="llm")
@dataclass(frozen=True)
class TaskVector:
    """L = mean token NLL(forget) (descent), then θ − s·(θ_ft − θ). Paper default: s = 5 (MUSE scripts)."""

    scale: float = 5.0  # s

    summary: ClassVar[str] = "negate the task vector of a forget-set fine-tune: θ − s·(θ_ft − θ)"
    paper: ClassVar[str] = "Ilharco et al., 2023, Editing Models with Task Arithmetic (arXiv:2212.04089); MUSE"

    def needs(self) -> Needs:
        return Needs(forget=SideNeeds(), retain=SideNeeds(used=False))

    def loss(self, forget: SideStats, retain: SideStats | None):
        nll = forget.mean_token_nll()
        return nll, {"forget": nll.detach()}

    @torch.no_grad()
    def finalize(self, named_params, initial: dict[str, torch.Tensor]) -> None:
        """In place: p ← θ − s·(p − θ) for every (name, p) in `named_params`, θ = initial[name]; LoRA A factors
        keep their trained values (the B factors carry the negation, see the module docstring)."""
        for name, p in named_params:
            if _LORA_A.search(name):
                continue
            theta = initial[name].to(p.device, p.dtype)
            p.copy_(theta - self.scale * (p - theta))
