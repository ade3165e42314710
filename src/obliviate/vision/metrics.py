"""Classifier unlearning metrics (metrics.md §4): UA, RA, TA, MIA_efficacy, avg_gap and cost.

All accuracies are percentages. `evaluate(model, forget, retain, test, oracle=...)` runs the model over the three
sets; `scores(...)` computes the same numbers from logits, so the arithmetic is testable without a model.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from obliviate.errors import DataError
from obliviate.results import cost_ratio

from .data import check_labels
from .loop import as_loader

GAP_METRICS = ("UA", "RA", "TA", "MIA_efficacy")
CONVENTIONS = {
    "accuracy": "UA, RA, TA and MIA_efficacy are percentages (0-100); UA = 100 - forget accuracy.",
    "MIA_efficacy": "SVC(rbf, C=3, gamma='auto') on the softmax probability of the true class; members = retain "
                    "(label 1), non-members = test (label 0), both subsampled to the smaller size with seed 0; "
                    "score = % of forget samples predicted non-member. Class-wise: non-members are test samples "
                    "of the remaining classes.",
    "class_wise_TA": "Class-wise forgetting: TA on test samples of the remaining classes; the forgotten class's "
                     "test accuracy is TA_forgotten_class (not part of avg_gap).",
    "avg_gap": "mean over UA, RA, TA, MIA_efficacy of |value - oracle value|, per seed, then averaged over seeds.",
    "seeds": "value = mean over seeds, per_item = one value per seed, std = sample std (ddof 1; 0 for one seed); "
             "CIs are the percentile bootstrap over the seed values.",
    "cost": "wall_time_s of the unlearning run (excluding evaluation); cost_ratio = its ratio to the oracle's "
            "training time (RTE); samples = training samples processed; peak_memory_mb on CPU is the process's "
            "peak resident set, not this run's alone.",
}


@torch.no_grad()
def predict(model: nn.Module, data: Dataset | DataLoader, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (N, C) and labels (N,) of `data`, in order, on CPU."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    logits, labels = [], []
    for x, y in as_loader(data, batch_size, 0, shuffle=False):
        logits.append(model(x.to(device)).float().cpu())
        labels.append(y.cpu())
    model.train(was_training)
    if not logits:
        raise DataError("cannot evaluate on an empty set", rule="at least one sample", value=0)
    return torch.cat(logits), torch.cat(labels)


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """% of rows whose argmax equals the label."""
    return 100.0 * (logits.argmax(-1) == y).float().mean().item()


def true_class_confidence(logits: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """softmax(logits)[i, y_i] for every row i: the membership feature."""
    return logits.softmax(-1).gather(1, y[:, None]).squeeze(1).numpy()


def mia_efficacy(member: np.ndarray, nonmember: np.ndarray, forget: np.ndarray, seed: int = 0) -> float:
    """% of forget samples an SVC, fitted to tell members from non-members by their confidence, calls non-member.

    The two training groups are cut to the same size (a seeded draw without replacement from the larger).
    """
    from sklearn.svm import SVC

    n = min(len(member), len(nonmember))
    if n == 0:
        raise DataError("MIA needs retain and test samples", field="MIA_efficacy", value=(len(member), len(nonmember)))
    rng = np.random.default_rng(seed)
    mem = rng.choice(member, n, replace=False)
    non = rng.choice(nonmember, n, replace=False)
    x = np.concatenate([mem, non])[:, None]  # (2n, 1)
    y = np.concatenate([np.ones(n), np.zeros(n)])
    clf = SVC(C=3, kernel="rbf", gamma="auto").fit(x, y)
    return 100.0 * float((clf.predict(forget[:, None]) == 0).mean())


def avg_gap(values: Mapping[str, float], oracle: Mapping[str, float]) -> float:
    """mean over UA, RA, TA, MIA_efficacy of |value − oracle value|."""
    missing = [k for k in GAP_METRICS if k not in values or k not in oracle]
    if missing:
        raise DataError("avg_gap needs UA, RA, TA and MIA_efficacy for both the model and the oracle",
                        field="avg_gap", value=missing)
    return float(np.mean([abs(values[k] - oracle[k]) for k in GAP_METRICS]))


def scores(forget: tuple[torch.Tensor, torch.Tensor], retain: tuple[torch.Tensor, torch.Tensor],
           test: tuple[torch.Tensor, torch.Tensor], forget_class: int | None = None, seed: int = 0) -> dict:
    """UA, RA, TA, MIA_efficacy (and TA_forgotten_class) from (logits, labels) pairs of the three sets."""
    (fl, fy), (rl, ry), (tl, ty) = forget, retain, test
    for name, (logits, y) in (("forget", forget), ("retain", retain), ("test", test)):
        check_labels(y, logits.shape[1], where=f"{name} labels")
    out = {}
    if forget_class is not None:
        keep = ty != forget_class
        if not keep.any() or keep.all():
            raise DataError("class-wise evaluation needs test samples of the forgotten class and of others",
                            field="forget_class", value=forget_class)
        out["TA_forgotten_class"] = accuracy(tl[~keep], ty[~keep])
        tl, ty = tl[keep], ty[keep]
    out["UA"] = 100.0 - accuracy(fl, fy)
    out["RA"] = accuracy(rl, ry)
    out["TA"] = accuracy(tl, ty)
    out["MIA_efficacy"] = mia_efficacy(true_class_confidence(rl, ry), true_class_confidence(tl, ty),
                                       true_class_confidence(fl, fy), seed)
    return out


def cost(log: Mapping[str, Any] | None, oracle_log: Mapping[str, Any] | None = None) -> dict:
    """Cost of a run from its `unlearn` log, with the oracle's and cost_ratio (wall-time ratio) when given."""
    def one(lg):
        return {"wall_time_s": lg["wall_time_s"], "steps": lg["steps"], "samples": lg["samples"], "tokens": None,
                "peak_memory_mb": lg.get("peak_memory_mb")}

    out = one(log) if log else {}
    if log and oracle_log:
        out["oracle"] = one(oracle_log)
        out["cost_ratio"] = cost_ratio(log["wall_time_s"], oracle_log["wall_time_s"])
    return out


def evaluate(model: nn.Module, forget, retain, test, oracle: nn.Module | Mapping[str, float] | None = None,
             forget_class: int | None = None, log: Mapping | None = None, oracle_log: Mapping | None = None,
             seed: int = 0) -> dict[str, Any]:
    """UA, RA, TA, MIA_efficacy (+ TA_forgotten_class when `forget_class` is given) of `model`; with an oracle
    (a model or its metrics) also avg_gap and `oracle` (its metrics); `cost` from the logs. Without an oracle there
    is no avg_gap key (never a made-up value)."""
    out = scores(predict(model, forget), predict(model, retain), predict(model, test), forget_class, seed)
    if oracle is not None:
        ref = oracle if isinstance(oracle, Mapping) else scores(
            predict(oracle, forget), predict(oracle, retain), predict(oracle, test), forget_class, seed)
        out["avg_gap"] = avg_gap(out, ref)
        out["oracle"] = dict(ref)
    out["cost"] = cost(log, oracle_log)
    return out
