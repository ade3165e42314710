"""Regression unlearning metrics: mean absolute error on forget/retain/test, their gaps to the oracle, and a
membership attack on residuals (Tarun et al.'s: an SVC on the per-sample L1 loss, retain = member, test = not).

`scores(pred/target pairs)` works on tensors, so the arithmetic is testable without a model; `evaluate(model, ...)`
runs the model first.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from obliviate.errors import DataError

ERRORS = ("MAE_forget", "MAE_retain", "MAE_test")
CONVENTIONS = {
    "MAE": "mean |prediction - target| in standardised target units (train-split std = 1).",
    "MIA_member": "SVC(rbf, C=3, gamma='auto') on per-sample L1 loss, retain = member (1) vs test = non-member (0), "
                  "subsampled to the smaller size with seed 0; % of forget samples predicted member (the oracle's "
                  "value is the target, lower is not better).",
    "reg_gap": "mean over MAE_forget, MAE_retain, MAE_test, MIA_member/100 of |value - oracle value|.",
}


def mae(pred: torch.Tensor, y: torch.Tensor) -> float:
    if pred.shape != y.shape or pred.numel() == 0:
        raise DataError("predictions and targets must have the same non-empty shape", field="pred",
                        value=(tuple(pred.shape), tuple(y.shape)))
    return float((pred - y).abs().mean())


def mia_member(retain_loss: np.ndarray, test_loss: np.ndarray, forget_loss: np.ndarray, seed: int = 0) -> float:
    """% of forget samples an SVC, fitted on the L1 loss to tell retain (member) from test, calls member."""
    from sklearn.svm import SVC

    n = min(len(retain_loss), len(test_loss))
    if n == 0:
        raise DataError("the residual MIA needs retain and test samples", field="MIA_member",
                        value=(len(retain_loss), len(test_loss)))
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.choice(retain_loss, n, replace=False), rng.choice(test_loss, n, replace=False)])
    clf = SVC(C=3, kernel="rbf", gamma="auto").fit(x[:, None], np.r_[np.ones(n), np.zeros(n)])
    return 100.0 * float(clf.predict(np.asarray(forget_loss)[:, None]).mean())


def scores(forget, retain, test, seed: int = 0) -> dict[str, float]:
    """MAE_forget, MAE_retain, MAE_test and MIA_member from (prediction, target) pairs of the three sets."""
    out = {name: mae(*pair) for name, pair in zip(ERRORS, (forget, retain, test), strict=True)}
    loss = [(p - y).abs().numpy() for p, y in (retain, test, forget)]
    out["MIA_member"] = mia_member(*loss, seed=seed)
    return out


def reg_gap(values: Mapping[str, float], oracle: Mapping[str, float]) -> float:
    """mean of |Δ| over the three errors and MIA_member/100 (a fraction, so that no term dominates by units)."""
    terms = [abs(values[k] - oracle[k]) for k in ERRORS] + [abs(values["MIA_member"] - oracle["MIA_member"]) / 100]
    return float(np.mean(terms))


@torch.no_grad()
def predict(model, data) -> tuple[torch.Tensor, torch.Tensor]:
    """(predictions (N,), targets (N,)) of a TensorDataset of (x, y)."""
    x, y = data.tensors
    model.eval()
    return model(x).reshape(-1).float(), y.float()


def evaluate(model, forget, retain, test, oracle=None, seed: int = 0) -> dict:
    """scores() of `model`; with an oracle (model or its scores) also reg_gap and `oracle`."""
    out = scores(predict(model, forget), predict(model, retain), predict(model, test), seed)
    if oracle is not None:
        ref = oracle if isinstance(oracle, Mapping) else evaluate(oracle, forget, retain, test, seed=seed)
        out["reg_gap"] = reg_gap(out, ref)
        out["oracle"] = {k: ref[k] for k in (*ERRORS, "MIA_member")}
    return out
