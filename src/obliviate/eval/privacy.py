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
VAR_FLOOR = 1e-6  # Min-K%++: floor on the variance σ² (the reference implementations'), so σ ≥ 1e-3
SIGMA_FLOOR = math.sqrt(VAR_FLOOR)
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
    """Min-K%++: the same over z_t = (log p(x_t) − μ_t)/σ_t, μ_t and σ_t the mean and std of log p under p_t.

    σ_t² is floored at 1e-6 (σ_t ≥ 1e-3, metrics.md §2): a near-certain prediction must not blow z up to ±1e6.
    """
    s = np.maximum(np.asarray(sigma, dtype=float), SIGMA_FLOOR)
    z = (np.asarray(logp, dtype=float) - np.asarray(mu, dtype=float)) / s
    return _lowest_mean(z, k)


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
    "over the lowest max(1, floor(k*n)) tokens, min_k_pp variance floor 1e-6 (sigma >= 1e-3), reference = avg_nll_oracle - avg_nll_model); "
    "AUC = roc_auc_score with forget = 1, holdout = 0; privleak = (A_model - A_oracle)/A_oracle*100 with "
    "A = 1 - AUC, attack min_k; AUC and privleak CIs: stratified bootstrap over forget and holdout items, "
    "model and oracle scores of the same item resampled together")


def _auc_metric(member: np.ndarray, nonmember: np.ndarray, **extra) -> dict:
    from obliviate.results import metric, percentile_ci

    from .stats import auc, auc_resamples

    lo, hi = percentile_ci(auc_resamples([(member, nonmember)])[:, 0])
    return metric(member, value=auc(member, nonmember), ci=False, holdout_scores=nonmember.tolist(),
                  n_holdout=int(nonmember.size), **extra) | {"ci_low": lo, "ci_high": hi}


def mia_metrics(plan, stats) -> dict:
    """mia/loss, mia/zlib, mia/min_k, mia/min_k_pp: AUC (forget = 1, holdout = 0) with per-item scores."""
    mia = plan.mia
    if mia is None:
        return {}
    attacks = {
        "loss": lambda s, t: loss_score(s.logp),
        "zlib": lambda s, t: zlib_score(s.logp, t),
        "min_k": lambda s, t: min_k_score(s.logp),
        "min_k_pp": lambda s, t: min_k_pp_score(s.logp, s.mu, s.sigma),
    }
    out = {}
    for name, fn in attacks.items():
        m = np.array([fn(stats[h], t) for h, t in zip(mia.member, mia.member_text, strict=True)])
        h = np.array([fn(stats[i], t) for i, t in zip(mia.nonmember, mia.nonmember_text, strict=True)])
        out[f"mia/{name}"] = _auc_metric(m, h, kind=mia.kind)
    return out


def _scores(entry: dict) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(entry["per_item"], dtype=float), np.asarray(entry["holdout_scores"], dtype=float)


def oracle_privacy(metrics: dict, oracle: dict) -> dict:
    """mia/reference (oracle as the reference model) and privleak, from the model's and the oracle's MIA entries.

    reference = avg_nll_oracle − avg_nll_model = loss_score_model − loss_score_oracle, item by item, so the oracle's
    saved per-item loss scores suffice. privleak's CI resamples forget and holdout items (stratified), the model's
    and the oracle's score of one item together.
    """
    from obliviate.errors import ObliviateError
    from obliviate.results import percentile_ci

    from .stats import auc, auc_resamples

    mf, mh = _scores(metrics["mia/loss"])
    of, oh = _scores(oracle["mia/loss"])
    if (mf.size, mh.size) != (of.size, oh.size):
        raise ObliviateError(f"oracle MIA scores cover {of.size} forget and {oh.size} holdout items, the model's "
                             f"{mf.size} and {mh.size}: rule: the oracle is evaluated on the same splits")
    out = {"mia/reference": _auc_metric(mf - of, mh - oh, kind=metrics["mia/loss"].get("kind"))}
    mf, mh = _scores(metrics[f"mia/{PRIVLEAK_ATTACK}"])
    of, oh = _scores(oracle[f"mia/{PRIVLEAK_ATTACK}"])
    a_model, a_oracle = auc(mf, mh), auc(of, oh)

    boot = auc_resamples([(mf, mh), (of, oh)])  # (B, 2): model and oracle AUC on the same resampled items
    with np.errstate(divide="ignore", invalid="ignore"):
        leaks = np.array([privleak(a, b) for a, b in boot])
    lo, hi = percentile_ci(leaks)
    out["privleak"] = {"value": privleak(a_model, a_oracle), "ci_low": lo, "ci_high": hi,
                       "n": int(mf.size + mh.size), "per_item": [], "attack": PRIVLEAK_ATTACK,
                       "auc": a_model, "oracle_auc": a_oracle}
    return out
