"""Statistics behind the evaluation metrics: AUC, KS test, harmonic mean, and a stratified bootstrap.

The library does the arithmetic where one exists (scikit-learn's `roc_auc_score`, scipy's `ks_2samp`); this module
only fixes the conventions (labels, orientation, degenerate cases) in one place.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score

from obliviate.errors import ObliviateError
from obliviate.results import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED


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


def bootstrap_groups(
    groups: Sequence[np.ndarray],
    stat: Callable[..., float],
    resamples: int = BOOTSTRAP_RESAMPLES,
    level: float = 0.95,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap CI of `stat(*groups)`, resampling the items (axis 0) of each group independently.

    Stratified: a group is never mixed with another, so e.g. an AUC always sees the same number of members and
    non-members. Rows of one group stay together, which pairs values measured on the same item (a model's and the
    oracle's score of one forget text). Resamples whose statistic is NaN are dropped.
    """
    arrays = [np.asarray(g, dtype=float) for g in groups]
    if any(a.shape[0] == 0 for a in arrays):
        return (math.nan, math.nan)
    if all(a.shape[0] == 1 for a in arrays):
        v = float(stat(*arrays))
        return (v, v)
    rng = np.random.default_rng(seed)
    stats = np.empty(resamples)
    for r in range(resamples):
        stats[r] = stat(*[a[rng.integers(0, a.shape[0], size=a.shape[0])] for a in arrays])
    stats = stats[~np.isnan(stats)]
    if stats.size == 0:
        return (math.nan, math.nan)
    alpha = (1.0 - level) / 2.0
    return (float(np.quantile(stats, alpha)), float(np.quantile(stats, 1.0 - alpha)))


def _multiplicities(rng: np.random.Generator, n: int, resamples: int) -> np.ndarray:
    """(resamples, n): how often each item is drawn in each resample with replacement."""
    idx = rng.integers(0, n, size=(resamples, n)) + n * np.arange(resamples)[:, None]
    return np.bincount(idx.ravel(), minlength=resamples * n).reshape(resamples, n).astype(float)


def auc_resamples(pairs: Sequence[tuple[np.ndarray, np.ndarray]], resamples: int = BOOTSTRAP_RESAMPLES,
                  seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """Bootstrap AUCs, shape (resamples, len(pairs)), for score pairs (member, non-member) on the same items.

    Members and non-members are resampled separately (stratified) and every pair sees the same draws, so a model's
    and an oracle's AUC stay paired. With W[i, j] = 1[m_i > h_j] + ½·1[m_i = h_j] and multiplicity vectors c1, c0
    of a resample, its AUC is c1ᵀ W c0 / (n1·n0): one matrix product for all resamples instead of a sort each.
    """
    n1, n0 = len(pairs[0][0]), len(pairs[0][1])
    rng = np.random.default_rng(seed)
    c1, c0 = _multiplicities(rng, n1, resamples), _multiplicities(rng, n0, resamples)  # (B, n1), (B, n0)
    out = np.empty((resamples, len(pairs)))
    for k, (m, h) in enumerate(pairs):
        m, h = np.asarray(m, dtype=float), np.asarray(h, dtype=float)
        w = (m[:, None] > h[None, :]) + 0.5 * (m[:, None] == h[None, :])  # (n1, n0)
        out[:, k] = np.einsum("bi,ij,bj->b", c1, w, c0, optimize=True) / (n1 * n0)
    return out


def percentile_ci(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    s = np.asarray(samples, dtype=float)
    s = s[~np.isnan(s)]
    if s.size == 0:
        return (math.nan, math.nan)
    alpha = (1.0 - level) / 2.0
    return (float(np.quantile(s, alpha)), float(np.quantile(s, 1.0 - alpha)))
