"""The method protocol: what a method asks the loop for (`Needs`) and what its loss receives (`SideStats`).

A loss never calls a model. The engine reads `method.needs()` (a `Needs`), runs exactly the forward passes that
asks for, packs the results into one `SideStats` per side (forget, retain) and calls `method.loss(forget, retain)`.
Tests build `SideStats` by hand (see `tests/methods/test_losses.py`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass(frozen=True)
class SideNeeds:
    """What one side of a batch (forget or retain) needs. `used=False` skips its forward pass entirely."""

    used: bool = True
    logits: bool = False  # model logits, shifted: (B, T-1, V)
    hidden: bool = False  # model residual stream after `Needs.hidden_layer`: (B, T, d)
    ref_seq: bool = False  # reference sequence log-prob (B,): constant per example, so the engine may cache it
    ref_logits: bool = False  # reference logits (B, T-1, V): recomputed every step
    ref_hidden: bool = False  # reference hidden state (B, T, d): recomputed every step


@dataclass(frozen=True)
class Needs:
    forget: SideNeeds = field(default_factory=SideNeeds)
    retain: SideNeeds = field(default_factory=lambda: SideNeeds(used=False))
    hidden_layer: int | None = None  # index into HF `hidden_states` (0 = embeddings, i = output of layer i-1)
    alt: bool = False  # forget side also needs the same questions with `method.alternative_answer(...)`

    @property
    def ref_every_step(self) -> bool:
        """True when some reference quantity must be recomputed each step (so a frozen reference must exist)."""
        sides = (self.forget, self.retain)
        return any(s.ref_logits or s.ref_hidden for s in sides)

    @property
    def ref_seq(self) -> bool:
        return self.forget.ref_seq or self.retain.ref_seq


@dataclass
class SideStats:
    """Statistics of one side of a batch. Shapes: B examples, T tokens (T-1 after the causal shift), V vocab, d hidden.

    `logp[b, t]` = log p(targets[b, t] | prefix) for answer positions, 0 elsewhere; `mask` marks answer positions
    (labels != -100, EOS included). Optional entries are None unless the method's `Needs` asked for them.
    """

    logp: Tensor  # (B, T-1) float
    mask: Tensor  # (B, T-1) bool
    targets: Tensor | None = None  # (B, T-1) long; label ids, 0 where masked
    attention_mask: Tensor | None = None  # (B, T) long: 1 on real tokens, 0 on padding
    logits: Tensor | None = None  # (B, T-1, V)
    hidden: Tensor | None = None  # (B, T, d)
    ref_seq_logp: Tensor | None = None  # (B,)
    ref_logits: Tensor | None = None  # (B, T-1, V)
    ref_hidden: Tensor | None = None  # (B, T, d)
    alt: SideStats | None = None  # the same questions with an alternative answer (idk_dpo)

    @property
    def seq_logp(self) -> Tensor:
        """Sequence-summed log-prob of the answer, (B,)."""
        return (self.logp * self.mask).sum(-1)

    @property
    def seq_nll(self) -> Tensor:
        """Sequence-summed NLL of the answer, (B,)."""
        return -self.seq_logp

    @property
    def n_tokens(self) -> Tensor:
        """Answer tokens per example, (B,) float; at least 1 so that a division never gives NaN."""
        return self.mask.sum(-1).clamp(min=1).to(self.logp.dtype)

    def mean_token_nll(self) -> Tensor:
        """NLL averaged over every answer token of the batch (not per-example means): a scalar."""
        return -(self.logp * self.mask).sum() / self.mask.sum().clamp(min=1)

    def require(self, name: str, method: str) -> Tensor:
        """The optional entry `name`, or an error saying the engine did not compute it (a `needs()` bug)."""
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"{method}: loss needs SideStats.{name}, which the engine did not compute")
        return value


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of `values` over positions where `mask` is true (any shape, same as mask); 0 when mask is empty."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1)


def zero_like(t: Tensor) -> Tensor:
    """A scalar 0 on t's device and dtype that keeps the graph connected (so backward never fails)."""
    return t.sum() * 0.0


__all__ = ["Needs", "SideNeeds", "SideStats", "masked_mean", "zero_like"]
