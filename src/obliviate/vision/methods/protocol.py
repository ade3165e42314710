"""What a classifier method is, for typing and for the loop: the `VisionMethod` protocol and the `Context` it gets.

A method is a frozen dataclass registered with `@register(name, track="vision")`, with no base class. It carries its
SGD settings as fields and says, per epoch, which split each pass walks and the loss of a batch on it (`phases`).
Optional hooks the loop looks for (never the name), each a plain function here so that a missing hook has one
meaning: `penalty(model, progress)` added to every batch loss (default 0), `prepare(model, ctx)` run once before
training, which may change the weights and return a mask of those allowed to move (default: nothing, no mask), and
`needs_teacher` (default False: no frozen copy of the original is made).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

import torch
from torch import nn

from obliviate.methods.registry import hyper_parameters

from ..masks import Mask

Schedule = Literal["constant", "cosine"]
# loss(logits (B, C), x (B, ...), y (B,), ctx) -> scalar tensor
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, "Context"], torch.Tensor]


@dataclass
class Context:
    """What losses and `prepare` may use besides the batch: class count, a seeded RNG, the frozen original model."""

    num_classes: int
    generator: torch.Generator
    device: torch.device
    seed: int = 0
    teacher: nn.Module | None = None
    loaders: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)  # what `prepare` leaves for the losses (LAF's VAEs)


class VisionMethod(Protocol):
    name: ClassVar[str]
    summary: ClassVar[str]
    paper: ClassVar[str]
    lr: float
    epochs: int
    batch_size: int
    momentum: float
    weight_decay: float
    schedule: Schedule  # constant lr, or cosine decay to 0 over all steps

    def phases(self, epoch: int) -> list[tuple[str, LossFn]]:
        """(split, loss) for each pass of `epoch`, in order; split is "forget" or "retain"."""
        ...


def penalty(method: VisionMethod, model: nn.Module, progress: float) -> torch.Tensor | float:
    """The method's weight penalty at `progress` (steps done / all steps); 0.0 when it has none."""
    hook = getattr(method, "penalty", None)
    return hook(model, progress) if hook else 0.0


def prepare(method: VisionMethod, model: nn.Module, ctx: Context) -> Mask | None:
    """Run the method's one-off preparation (re-initialise, prune, saliency) on `model`; its mask, or None."""
    hook = getattr(method, "prepare", None)
    return hook(model, ctx) if hook else None


def needs_teacher(method: VisionMethod) -> bool:
    """Whether the loop must keep a frozen copy of the original model as `ctx.teacher`."""
    return bool(getattr(method, "needs_teacher", False))


def describe(method: VisionMethod) -> dict[str, Any]:
    """The resolved config a log and results.json record: {"method": name, field: value, ...}."""
    return {"method": method.name, **hyper_parameters(method)}
