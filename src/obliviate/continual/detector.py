"""O3's out-of-distribution detector, on the model's own features: is a prompt like a request's forget prompts?

Feature: the base model's hidden state after layer `layer` (HF `hidden_states[layer]`), averaged over the prompt's
question tokens (the QA template's fixed words and special tokens left out). Score: the Mahalanobis distance
d(x) = √((x − μ)ᵀ Σ⁻¹ (x − μ)) to the request's forget-prompt features, with Σ the Ledoit–Wolf shrinkage estimate
(there are fewer prompts than dimensions). Threshold τ: the largest leave-one-out distance of a forget prompt (each
prompt scored against the fit without it), so no retain data is needed. Gate: w = σ(k·(1 − d/τ)) (w = ½ at d = τ),
set to exactly 0 below `floor`, so that clearly out-of-distribution prompts run the base model unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from obliviate.errors import DataError


def _fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.covariance import LedoitWolf

    lw = LedoitWolf().fit(x)
    return lw.location_, lw.precision_


def mahalanobis(x: np.ndarray, mean: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """(N,) distances of the rows of x (N, d)."""
    z = np.atleast_2d(x) - mean
    return np.sqrt(np.maximum(np.einsum("nd,de,ne->n", z, precision, z), 0.0))


@dataclass(frozen=True)
class Detector:
    mean: np.ndarray  # (d,)
    precision: np.ndarray  # (d, d)
    tau: float
    sharpness: float = 10.0
    floor: float = 0.01

    def scores(self, x: np.ndarray) -> np.ndarray:
        return mahalanobis(x, self.mean, self.precision)

    def weights(self, x: np.ndarray) -> np.ndarray:
        """(N,) adapter weights in [0, 1]: high in distribution, exactly 0 far out of it."""
        w = 1.0 / (1.0 + np.exp(-self.sharpness * (1.0 - self.scores(x) / self.tau)))
        return np.where(w < self.floor, 0.0, w)


def fit_detector(features: np.ndarray, sharpness: float = 10.0, floor: float = 0.01) -> Detector:
    """Fit on a request's forget-prompt features (N, d), N ≥ 3; τ from leave-one-out distances."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 3:
        raise DataError("the OOD detector needs at least 3 forget prompts (rule: N >= 3 feature rows)",
                        field="features", value=tuple(x.shape))
    loo = [mahalanobis(x[i], *_fit(np.delete(x, i, axis=0)))[0] for i in range(len(x))]
    mean, precision = _fit(x)
    tau = float(max(loo))
    if not math.isfinite(tau) or tau <= 0:
        raise DataError("degenerate forget features (all identical?)", field="features", value=tau)
    return Detector(mean, precision, tau, sharpness, floor)
