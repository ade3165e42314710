"""What a diffusion erasure method receives (`EraseTask`) and the one function that runs any of them (`erase`).

A method never reads images of the concept: it gets prompts (the concept in the training templates, an anchor in
the same templates, the other classes as the preserve set) and the model. `erase` copies the model, times the edit
and records what changed, so methods stay small: `edit(model, task) -> log` with the model already a copy.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from obliviate.methods.registry import build, hyper_parameters
from obliviate.results import peak_memory_mb

from ..models import T2I
from ..prompts import TRAIN_TEMPLATES, fill


@dataclass(frozen=True)
class EraseTask:
    """The concept to erase, as prompts. `anchor` is what the concept should become ("" = the unconditional
    prompt, or another class's name); `preserve` are the classes to keep (their names)."""

    concept: str
    preserve: tuple[str, ...]
    anchor: str = ""
    templates: tuple[str, ...] = TRAIN_TEMPLATES
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def prompts(self, name: str) -> list[str]:
        """`name` in every template; the empty anchor stays the empty prompt."""
        return [fill(t, name) if name else "" for t in self.templates]

    def concept_prompts(self) -> list[str]:
        return self.prompts(self.concept)

    def preserve_prompts(self) -> list[str]:
        return [p for c in self.preserve for p in self.prompts(c)]


def changed_fraction(before: dict[str, torch.Tensor], model: T2I) -> float:
    """Share of the model's parameters (by count) that differ from `before`."""
    total = moved = 0
    for n, p in model.state_dict().items():
        total += p.numel()
        moved += int((p != before[n]).sum())
    return moved / max(total, 1)


def erase(model: T2I, name: str, task: EraseTask, **overrides) -> tuple[T2I, dict[str, Any]]:
    """Run method `name` on a copy of `model`; returns (edited copy, log with config, cost and changed fraction)."""
    method = build(name, overrides, track="diffusion")
    new = model.copy()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(task.seed)
        start = time.perf_counter()
        log = method.edit(new, task) or {}
        wall = time.perf_counter() - start
    log.update(method=name, config={"method": name, **hyper_parameters(method)}, wall_time_s=wall,
               peak_memory_mb=peak_memory_mb(), changed_fraction=changed_fraction(before, new))
    return new.eval(), log
