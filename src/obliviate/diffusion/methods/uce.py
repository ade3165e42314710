"""UCE, Unified Concept Editing (Gandikota et al., WACV 2024): a closed-form edit of every cross-attention key and
value projection.

For each projection W_old (d_out × d_in) of an `attn2.to_k` / `attn2.to_v`, with erase inputs c_i (the concept's
token embeddings), their targets v*_i = W_old c_anchor(i) (the anchor's embedding at the same position) and preserve
inputs c_j (the other classes' token embeddings), UCE takes the minimiser of

    s_e Σ_i ||W c_i − v*_i||² + s_p Σ_j ||W c_j − W_old c_j||² + λ ||W − W_old||_F²,

    W = (λ W_old + s_e Σ_i v*_i c_iᵀ + s_p Σ_j W_old c_j c_jᵀ) (λ I + s_e Σ_i c_i c_iᵀ + s_p Σ_j c_j c_jᵀ)⁻¹.

Token selection: `tail` (the paper's code) takes every position from the class word to the end of the prompt (class
word, [EOS], padding: what a causal text encoder changes when the class changes); `slot` only the class word.
Nothing is trained; the text encoder is unchanged. `uce_solve` is the pure closed form.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from obliviate.errors import ConfigError
from obliviate.methods.registry import register

from ..models import T2I, cross_attention_layers
from .protocol import EraseTask


def uce_solve(w: torch.Tensor, erase_in: torch.Tensor, erase_out: torch.Tensor, preserve_in: torch.Tensor,
              lamb: float, s_e: float = 1.0, s_p: float = 1.0) -> torch.Tensor:
    """The UCE closed form. w (d_out, d_in); erase_in (n_e, d_in); erase_out (n_e, d_out); preserve_in (n_p, d_in).
    Computed in float64 (the normal matrix can be ill-conditioned when λ is small)."""
    w64, ce, ve, cp = (t.detach().double() for t in (w, erase_in, erase_out, preserve_in))
    eye = torch.eye(w.shape[1], dtype=torch.float64)
    rhs = lamb * w64 + s_e * ve.T @ ce + s_p * (cp @ w64.T).T @ cp  # (d_out, d_in)
    gram = lamb * eye + s_e * ce.T @ ce + s_p * cp.T @ cp  # (d_in, d_in), symmetric positive definite for λ > 0
    return torch.linalg.solve(gram, rhs.T).T.to(w.dtype)  # rhs · gram⁻¹ (gram symmetric)


def token_rows(model: T2I, prompts: list[str], templates: list[str], mode: str) -> torch.Tensor:
    """(n, d) text-encoder outputs at the selected positions of each prompt (prompt i uses template i % len)."""
    with torch.no_grad():
        emb = model.encode(prompts)  # (P, L, d)
    rows = []
    for i, e in enumerate(emb):
        pos = model.tokenizer.slot_position(templates[i % len(templates)])
        rows.append(e[pos:] if mode == "tail" else e[pos:pos + 1])
    return torch.cat(rows)


@register("uce", track="diffusion")
@dataclass(frozen=True)
class UCE:
    lamb: float = 0.5
    erase_scale: float = 1.0
    preserve_scale: float = 1.0
    tokens: str = "tail"
    with_to_k: bool = True

    summary = "closed-form edit of cross-attention key/value projections: concept → anchor, preserve set kept"
    paper = "Gandikota et al., 2024, Unified Concept Editing in Diffusion Models (WACV)"

    def __post_init__(self):
        if self.tokens not in ("tail", "slot"):
            raise ConfigError(f"uce.tokens: must be tail or slot (got {self.tokens!r})")
        if self.lamb <= 0:
            raise ConfigError(f"uce.lamb: must be > 0 so that the system is solvable (got {self.lamb})")

    def edit(self, model: T2I, task: EraseTask) -> dict:
        tpl = list(task.templates)
        erase_in = token_rows(model, task.concept_prompts(), tpl, self.tokens)
        anchor = token_rows(model, task.prompts(task.anchor), tpl, self.tokens)
        preserve = token_rows(model, task.preserve_prompts(), tpl, self.tokens)
        projs = kv_projections(model, self.with_to_k)
        uce_edit(projs, erase_in, anchor, preserve, self.lamb, self.erase_scale, self.preserve_scale)
        return {"projections_edited": len(projs), "erase_vectors": len(erase_in), "preserve_vectors": len(preserve)}


def kv_projections(model: T2I, with_to_k: bool) -> list[torch.nn.Linear]:
    """Every cross-attention layer's value projection, and its key projection with `with_to_k`."""
    return [p for a in cross_attention_layers(model.unet).values() for p in ([a.to_k] if with_to_k else []) + [a.to_v]]


def uce_edit(projs, erase_in, anchor, preserve, lamb: float, erase_scale: float, preserve_scale: float) -> None:
    """Each projection replaced, in place, by its UCE solution (`uce_solve`) for these erase/anchor/preserve rows."""
    for proj in projs:
        w = proj.weight  # (d_out, d_in): no bias in cross-attention K/V
        with torch.no_grad():
            w.copy_(uce_solve(w, erase_in, anchor @ w.T, preserve, lamb, erase_scale, preserve_scale))
