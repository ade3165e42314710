"""Statistics behind the evaluation metrics: AUC (and its fast paired bootstrap), KS test, harmonic mean.

The library does the arithmetic where one exists (scikit-learn's `roc_auc_score`, scipy's `ks_2samp`); this module
only fixes the conventions (labels, orientation, degenerate cases) in one place.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score

from obliviate.errors import ObliviateError
from obliviate.results import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, resample_indices


def auc(member_scores: Sequence[float], nonmember_scores: Sequence[float]) -> float:
    """ROC AUC with members labelled 1 and non-members 0; scores are higher = more likely a member."""
    m = np.asarray(member_scores, dtype=float)
    h = np.asarray(nonmember_scores, dtype=float)
    if m.size == 0 or h.size == 0:
        raise ObliviateError(
            f"AUC needs members and non-members: got {m.size} member and {h.size} non-member scores")
    labels = np.concatenate([np.ones(m.size), np.zeros(h.size)])
    return float(roc_auc_score(labels, np.concatenate([m, h])))


def ks_test(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov–Smirnov test (scipy's default mode): (statistic, p-value)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size == 0 or y.size == 0:
        raise ObliviateError(f"KS test needs two non-empty samples: got sizes {x.size} and {y.size}")
    res = ks_2samp(x, y)
    return float(res.statistic), float(res.pvalue)


def harmonic_mean(values: Sequence[float]) -> float:
    """n / Σ 1/v. Any zero makes it 0 (the limit); a negative or NaN value has no meaning here and is an error."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ObliviateError("harmonic mean of no values")
    if np.isnan(v).any() or (v < 0).any():
        raise ObliviateError(f"harmonic mean needs values >= 0: got {v.tolist()}")
    if (v == 0).any():
        return 0.0
    return float(v.size / np.sum(1.0 / v))


def _multiplicities(idx: np.ndarray) -> np.ndarray:
    """(resamples, n) indices → (resamples, n) counts: how often each item is drawn in each resample."""
    resamples, n = idx.shape
    flat = idx + n * np.arange(resamples)[:, None]
    return np.bincount(flat.ravel(), minlength=resamples * n).reshape(resamples, n).astype(float)


def auc_resamples(pairs: Sequence[tuple[np.ndarray, np.ndarray]], resamples: int = BOOTSTRAP_RESAMPLES,
                  seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """Bootstrap AUCs, shape (resamples, len(pairs)), for score pairs (member, non-member) on the same items.

    Members and non-members are resampled separately (stratified) and every pair sees the same draws, so a model's
    and an oracle's AUC stay paired. With W[i, j] = 1[m_i > h_j] + ½·1[m_i = h_j] and multiplicity vectors c1, c0
    of a resample, its AUC is c1ᵀ W c0 / (n1·n0): one matrix product for all resamples instead of a sort each.
    """
    n1, n0 = len(pairs[0][0]), len(pairs[0][1])
    c1, c0 = (_multiplicities(idx) for idx in resample_indices([n1, n0], resamples, seed))  # (B, n1), (B, n0)
    out = np.empty((resamples, len(pairs)))
    for k, (m, h) in enumerate(pairs):
        m, h = np.asarray(m, dtype=float), np.asarray(h, dtype=float)
        w = (m[:, None] > h[None, :]) + 0.5 * (m[:, None] == h[None, :])  # (n1, n0)
        out[:, k] = np.einsum("bi,ij,bj->b", c1, w, c0, optimize=True) / (n1 * n0)
    return out
