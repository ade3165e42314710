"""RECE, Reliable and Efficient Concept Erasure (Gong et al., ECCV 2024): UCE, then repeatedly find the embedding
that still regenerates the concept through the edited cross-attention and erase that too, all in closed form.

Epoch 0 is UCE (see uce.py): the concept's token embeddings → the anchor's. Then for each of `epochs` rounds, with
W_l the current and W_l^o the original K/V projections of every cross-attention layer, the adversarial embedding
of each concept token row c is

    c' = argmin_c Σ_l ||W_l c − W_l^o c_concept||² + λ_reg ||c||²  =  (λ_reg I + Σ_l W_lᵀ W_l)⁻¹ Σ_l W_lᵀ W_l^o c_concept

(the embedding whose keys and values under the edited model are closest to the original model's for the concept),
and UCE erases {c'} → anchor, with the preserve set's outputs and the λ term taken from the *current* weights.
`adversarial_embedding` is the pure closed form.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from obliviate.errors import ConfigError
from obliviate.methods.registry import register

from ..models import T2I
from .protocol import EraseTask
from .uce import kv_projections, token_rows, uce_edit


def adversarial_embedding(current: list[torch.Tensor], original: list[torch.Tensor], c: torch.Tensor,
                          lam_reg: float) -> torch.Tensor:
    """RECE's c' for each row of c (n, d_in), given lists of current and original projections (d_out, d_in)."""
    d = c.shape[1]
    gram = lam_reg * torch.eye(d, dtype=torch.float64)
    cross = torch.zeros(d, d, dtype=torch.float64)
    for w, wo in zip(current, original, strict=True):
        w, wo = w.detach().double(), wo.detach().double()
        gram += w.T @ w
        cross += w.T @ wo
    return torch.linalg.solve(gram, cross @ c.detach().double().T).T.to(c.dtype)  # (n, d_in)


@register("rece", track="diffusion")
@dataclass(frozen=True)
class RECE:
    epochs: int = 2
    lam_reg: float = 0.1
    lamb: float = 0.1
    erase_scale: float = 1.0
    preserve_scale: float = 0.1
    tokens: str = "tail"
    with_to_k: bool = True

    summary = "UCE, then erase in closed form the embeddings that still regenerate the concept (adversarial rounds)"
    paper = "Gong et al., 2024, Reliable and Efficient Concept Erasure of Text-to-Image Diffusion Models (ECCV)"

    def __post_init__(self):
        if self.tokens not in ("tail", "slot") or self.lamb <= 0 or self.lam_reg <= 0 or self.epochs < 0:
            raise ConfigError(f"rece: tokens tail|slot, lamb > 0, lam_reg > 0, epochs >= 0 required (got {self})")

    def _erase(self, projs, erase_in, anchor, preserve) -> None:
        uce_edit(projs, erase_in, anchor, preserve, self.lamb, self.erase_scale, self.preserve_scale)

    def edit(self, model: T2I, task: EraseTask) -> dict:
        tpl = list(task.templates)
        concept = token_rows(model, task.concept_prompts(), tpl, self.tokens)
        anchor = token_rows(model, task.prompts(task.anchor), tpl, self.tokens)
        preserve = token_rows(model, task.preserve_prompts(), tpl, self.tokens)
        projs = kv_projections(model, self.with_to_k)
        original = [p.weight.detach().clone() for p in projs]
        self._erase(projs, concept, anchor, preserve)  # epoch 0: UCE
        residuals = []
        for _ in range(self.epochs):
            adv = adversarial_embedding([p.weight for p in projs], original, concept, self.lam_reg)
            with torch.no_grad():
                residuals.append(float(sum(((adv @ p.weight.T - concept @ wo.T) ** 2).sum()
                                           for p, wo in zip(projs, original, strict=True))))
            self._erase(projs, adv, anchor, preserve)
        return {"projections_edited": len(projs), "adversarial_residuals": residuals}
