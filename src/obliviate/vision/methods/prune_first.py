"""`prune_first`: global magnitude pruning, then another classifier method with the pruned weights held at 0."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from obliviate.config import replace_checked
from obliviate.errors import ConfigError
from obliviate.methods.registry import available, get, register

from .. import masks
from . import protocol
from .ft import FineTune
from .protocol import VisionMethod

NOT_INNER = ("prune_first", "retrain")  # retrain re-initialises (nothing pruned would survive); no nesting


def _inner(attr: str) -> property:
    return property(lambda self: getattr(self.inner, attr), doc=f"the inner method's {attr}")


@register("prune_first", track="vision")
@dataclass(frozen=True)
class PruneFirst:
    """Prune the smallest `sparsity` of all weights (global L1 magnitude) to exactly 0, then run `inner` (another
    method, default FT as in the paper) with those zeros frozen; the SGD settings are the inner method's.
    Overrides: `sparsity`, `inner` (a method name), `inner.KEY` (that method's keys)."""

    sparsity: float = 0.5  # paper: 50-95% (OMP)
    inner: VisionMethod = field(default_factory=FineTune)

    summary: ClassVar[str] = "global magnitude pruning, then any other method with the pruning mask kept fixed"
    paper: ClassVar[str] = "Jia et al., 2023, Model Sparsity Can Simplify Machine Unlearning (arXiv:2304.04934)"
    lr, epochs, batch_size = _inner("lr"), _inner("epochs"), _inner("batch_size")
    momentum, weight_decay, schedule = _inner("momentum"), _inner("weight_decay"), _inner("schedule")

    @property
    def needs_teacher(self) -> bool:
        return protocol.needs_teacher(self.inner)

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any], prefix: str) -> PruneFirst:
        inner_name = str(overrides.get("inner", "ft"))
        valid = [m for m in available("vision") if m not in NOT_INNER]
        if inner_name not in valid:
            raise ConfigError(f"{prefix}inner: must be one of {valid}, got {inner_name!r}")
        inner_keys = {k.split(".", 1)[1]: v for k, v in overrides.items() if k.startswith("inner.")}
        own = {k: v for k, v in overrides.items() if k != "inner" and not k.startswith("inner.")}
        inner = replace_checked(get(inner_name, track="vision")(), inner_keys, prefix=f"{prefix}inner({inner_name}).")
        return replace_checked(cls(inner=inner), own, prefix=prefix)

    def phases(self, epoch):
        return self.inner.phases(epoch)

    def penalty(self, model, progress):
        return protocol.penalty(self.inner, model, progress)

    def prepare(self, model, ctx):
        pruned = masks.magnitude_prune(model, self.sparsity)
        return masks.combine(pruned, protocol.prepare(self.inner, model, ctx))
