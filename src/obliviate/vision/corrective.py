"""Corrective unlearning (Goel et al., 2024, "Corrective Machine Unlearning"): remove the effect of corrupted
training data when only part of it has been identified.

`poison(data, count, kind, seed)` corrupts `count` training items and records which (`Poisoned.ids`):
- "backdoor": a trigger patch (the bottom-right `patch`×`patch` pixels set to the image maximum) stamped on items of
  other classes, relabelled to the `target` class;
- "label_swap": items of two classes `swap` = (a, b) get each other's label (interclass confusion).
`identify(poisoned, fraction, seed)` picks the fraction of them the unlearner is told about (the forget set);
`check_forget_ids` refuses ids that are not training rows. Metrics: clean accuracy (test set as is) and
`attack_success` (backdoor: % of triggered test images of other classes predicted `target`; label swap: % of test
images of a or b predicted as the other). The oracle is retrained without *all* poisoned items.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from obliviate.errors import DataError

from .data import ClassData

KINDS = ("backdoor", "label_swap")
CONVENTIONS = {
    "corrective": "forget set = the identified fraction of the poisoned items; retain = every other training item "
                  "(unidentified poison included); oracle = retrained without all poisoned items.",
    "attack_success": "backdoor: % of triggered test images whose class is not the target that are predicted as "
                      "the target; label_swap: % of test images of the two swapped classes predicted as the other.",
}


@dataclass(frozen=True)
class Poisoned:
    """The corrupted data set and its bookkeeping: which rows were corrupted, and their clean labels."""

    data: ClassData
    ids: torch.Tensor  # (K,) sorted training-row indices that were corrupted
    clean_labels: torch.Tensor  # (K,) their labels before corruption
    kind: str
    target: int = 0
    swap: tuple[int, int] = (3, 8)
    patch: int = 2


def add_trigger(x: torch.Tensor, patch: int = 2, value: float | None = None) -> torch.Tensor:
    """A copy of images (N, C, H, W) with the bottom-right patch×patch pixels set to `value` (default: x.max())."""
    if x.dim() != 4:
        raise DataError("the backdoor trigger needs images (N, C, H, W)", field="x", value=tuple(x.shape))
    out = x.clone()
    out[..., -patch:, -patch:] = x.max() if value is None else value
    return out


def _pick(candidates: torch.Tensor, count: int, seed: int, what: str) -> torch.Tensor:
    if not 0 < count <= len(candidates):
        raise DataError(f"cannot poison {count} items: {len(candidates)} {what} to choose from", field="count",
                        rule=f"1 <= count <= {len(candidates)}", value=count)
    perm = torch.randperm(len(candidates), generator=torch.Generator().manual_seed(seed))
    return candidates[perm[:count]].sort().values


def poison(data: ClassData, count: int, kind: str = "backdoor", seed: int = 0, target: int = 0,
           swap: tuple[int, int] = (3, 8), patch: int = 2) -> Poisoned:
    """Corrupt `count` training items (chosen with `seed`) the `kind` way; the test set is left clean."""
    x, y = data.x_train.clone(), data.y_train.clone()
    if kind == "backdoor":
        ids = _pick((y != target).nonzero().squeeze(1), count, seed, f"items outside the target class {target}")
        x[ids] = add_trigger(x[ids], patch, value=float(data.x_train.max()))
        clean, y[ids] = y[ids].clone(), target
    elif kind == "label_swap":
        a, b = swap
        ids = _pick(((y == a) | (y == b)).nonzero().squeeze(1), count, seed, f"items of classes {a} and {b}")
        clean = y[ids].clone()
        y[ids] = torch.where(clean == a, b, a)
    else:
        raise DataError("unknown poisoning", field="kind", rule=" | ".join(KINDS), value=kind)
    return Poisoned(replace(data, x_train=x, y_train=y), ids, clean, kind, target, swap, patch)


def identify(poisoned: Poisoned, fraction: float, seed: int = 0) -> torch.Tensor:
    """The round(fraction·K) poisoned ids the unlearner is told about (a seeded draw), sorted."""
    if not 0.0 <= fraction <= 1.0:
        raise DataError("the identified fraction of the poisoned items must be in [0, 1]", field="fraction",
                        rule="0 <= fraction <= 1", value=fraction)
    k = round(fraction * len(poisoned.ids))
    perm = torch.randperm(len(poisoned.ids), generator=torch.Generator().manual_seed(seed))
    return poisoned.ids[perm[:k]].sort().values


def check_forget_ids(ids: torch.Tensor, n_train: int) -> None:
    """Forget ids must be distinct training-row indices in [0, n_train)."""
    ids = torch.as_tensor(ids)
    bad = ids[(ids < 0) | (ids >= n_train)]
    if bad.numel():
        raise DataError(f"forget set names rows that are not in the training set (0..{n_train - 1})",
                        field="forget ids", rule=f"0 <= id < {n_train}", value=bad[:5].tolist())
    if len(torch.unique(ids)) != len(ids):
        raise DataError("forget set names a row twice", field="forget ids", rule="distinct ids")


def split(poisoned: Poisoned, forget_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(forget, retain, clean) training indices: forget = `forget_ids`, retain = all others, clean = every row
    that was not poisoned (the oracle's training set)."""
    n = len(poisoned.data.y_train)
    check_forget_ids(forget_ids, n)
    keep = torch.ones(n, dtype=torch.bool)
    keep[forget_ids] = False
    clean = torch.ones(n, dtype=torch.bool)
    clean[poisoned.ids] = False
    return torch.as_tensor(forget_ids).sort().values, keep.nonzero().squeeze(1), clean.nonzero().squeeze(1)


def attack_success(logits_fn, poisoned: Poisoned) -> float:
    """The attack's success on the clean test set, in % (see the module docstring); `logits_fn(x) -> (N, C)`."""
    x, y = poisoned.data.x_test, poisoned.data.y_test
    if poisoned.kind == "backdoor":
        keep = y != poisoned.target
        pred = logits_fn(add_trigger(x[keep], poisoned.patch, float(poisoned.data.x_train.max()))).argmax(-1)
        return 100.0 * float((pred == poisoned.target).float().mean())
    a, b = poisoned.swap
    keep = (y == a) | (y == b)
    pred = logits_fn(x[keep]).argmax(-1)
    return 100.0 * float((pred == torch.where(y[keep] == a, b, a)).float().mean())


def evaluate(model, poisoned: Poisoned) -> dict[str, float]:
    """clean_accuracy (test set, %) and attack_success (%) of a classifier."""
    model.eval()
    with torch.no_grad():
        logits_fn = model
        acc = 100.0 * float((model(poisoned.data.x_test).argmax(-1) == poisoned.data.y_test).float().mean())
        return {"clean_accuracy": acc, "attack_success": attack_success(logits_fn, poisoned)}
