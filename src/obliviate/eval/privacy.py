"""Membership-inference scores (higher = more likely a member) and MUSE's privleak.

Each attack maps the per-token statistics of one text (from `scoring.py`) to a score; the AUC over forget (label 1)
and holdout (label 0) texts is in `stats.auc`. Definitions: metrics.md §2.
"""
from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np

MIN_K = 0.4
SIGMA_FLOOR = 1e-6
ATTACKS = ("loss", "zlib", "min_k", "min_k_pp", "reference")
PRIVLEAK_ATTACK = "min_k"


def _lowest_mean(values: np.ndarray, k: float) -> float:
    """Mean of the lowest max(1, ⌊k·n⌋) values."""
    n = max(1, math.floor(k * values.size))
    return float(np.sort(values)[:n].mean())


def loss_score(logp: Sequence[float]) -> float:
    """−avg_nll = mean token log-prob."""
    return float(np.mean(logp))


def zlib_score(logp: Sequence[float], text: str) -> float:
    """−avg_nll divided by the zlib-compressed length (bytes) of the text: penalises easy, repetitive texts less."""
    return loss_score(logp) / len(zlib.compress(text.encode("utf-8")))


def min_k_score(logp: Sequence[float], k: float = MIN_K) -> float:
    """Mean of the lowest k-fraction of token log-probs: members have few very unlikely tokens."""
    return _lowest_mean(np.asarray(logp, dtype=float), k)


def min_k_pp_score(logp: Sequence[float], mu: Sequence[float], sigma: Sequence[float], k: float = MIN_K) -> float:
    """Min-K%++: the same over z_t = (log p(x_t) − μ_t)/σ_t, μ_t and σ_t the mean and std of log p under p_t."""
    s = np.maximum(np.asarray(sigma, dtype=float), SIGMA_FLOOR)
    z = (np.asarray(logp, dtype=float) - np.asarray(mu, dtype=float)) / s
    return _lowest_mean(z, k)


def reference_score(model_avg_nll: float, ref_avg_nll: float) -> float:
    """avg_nll_ref − avg_nll_model: how much more likely the text is under the model than under the reference."""
    return float(ref_avg_nll - model_avg_nll)


def privleak(auc_model: float, auc_oracle: float) -> float:
    """(A_model − A_oracle) / A_oracle × 100 with A = 1 − AUC (MUSE's orientation: memorized ≈ −100, oracle 0).

    An oracle with AUC exactly 1 leaves nothing to compare against: NaN (written as null).
    """
    a_model, a_oracle = 1.0 - auc_model, 1.0 - auc_oracle
    if a_oracle == 0.0:
        return math.nan
    return (a_model - a_oracle) / a_oracle * 100.0


MIA_CONVENTION = (
    "MIA scores are higher = member (loss = -avg_nll, zlib = -avg_nll/zlib bytes, min_k and min_k_pp with k=0.4 "
    "over the lowest max(1, floor(k*n)) tokens, sigma floor 1e-6, reference = avg_nll_oracle - avg_nll_model); "
    "AUC = roc_auc_score with forget = 1, holdout = 0; privleak = (A_model - A_oracle)/A_oracle*100 with "
    "A = 1 - AUC, attack min_k; AUC and privleak CIs: stratified bootstrap over forget and holdout items, "
    "model and oracle scores of the same item resampled together")
