"""Retain terms shared by every method that has one: `nll`, `kl` (answer tokens only) or `none`.

`nll` = mean token NLL of the retain batch's answers. `kl` = KL(ref ‖ model) per answer token, averaged over answer
tokens only (prompt and padding excluded). `none` = 0, and the retain side is then not even run.
"""
from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from .protocol import SideNeeds, SideStats, masked_mean

RetainKind = Literal["nll", "kl", "none"]
RETAIN_KINDS: tuple[str, ...] = ("nll", "kl", "none")


def retain_needs(kind: str) -> SideNeeds:
    """What the engine must compute on the retain batch for this retain term."""
    if kind == "nll":
        return SideNeeds()
    if kind == "kl":
        return SideNeeds(logits=True, ref_logits=True)
    if kind == "none":
        return SideNeeds(used=False)
    raise ValueError(f"method.retain: must be one of {list(RETAIN_KINDS)}, got {kind!r}")


def kl_ref_model(logits: Tensor, ref_logits: Tensor, mask: Tensor) -> Tensor:
    """Mean over answer tokens of KL(ref ‖ model) = Σ_v p_ref(v)·(log p_ref(v) − log p_model(v)).

    logits, ref_logits: (B, T-1, V); mask: (B, T-1) bool.
    """
    logq = F.log_softmax(logits.float(), dim=-1)
    logp_ref = F.log_softmax(ref_logits.float(), dim=-1)
    per_token = (logp_ref.exp() * (logp_ref - logq)).sum(-1)  # (B, T-1)
    return masked_mean(per_token, mask)


def retain_loss(kind: str, retain: SideStats | None) -> Tensor | None:
    """The retain term of kind `kind` on `retain` stats; None for `none` (the caller then adds nothing)."""
    if kind == "none":
        return None
    if retain is None:
        raise ValueError(f"retain term {kind!r} needs retain stats, got None")
    if kind == "nll":
        return retain.mean_token_nll()
    if kind == "kl":
        return kl_ref_model(retain.require("logits", "kl"), retain.require("ref_logits", "kl"), retain.mask)
    raise ValueError(f"method.retain: must be one of {list(RETAIN_KINDS)}, got {kind!r}")


def combine(forget_term: Tensor, gamma: float, kind: str, alpha: float, retain: SideStats | None):
    """γ·L_forget + α·L_retain, with the terms for the log: returns (total, {forget, retain?})."""
    r = retain_loss(kind, retain)
    terms = {"forget": forget_term.detach()}
    total = gamma * forget_term
    if r is not None:
        terms["retain"] = r.detach()
        total = total + alpha * r
    return total, terms
