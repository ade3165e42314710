"""The N-oracle forgetting score of the NeurIPS 2023 unlearning challenge, for the classifier track.

Forgetting quality is judged against *several* oracles (models retrained on retain only, each from another seed),
not one: for every forget example, compare the distribution of its output score under M unlearned models (same
original, M unlearning seeds) with its distribution under N oracles, and turn how well the best threshold attack
tells them apart into an ε. Use `forget_quality(unlearned, oracles)` on (runs, forget examples) score arrays, or
`n_oracle_score(...)` on `model_outputs` of each model; `seed_experiments.challenge_scenario` runs it all.

The formula, per forget example s (our own transcription of the challenge's write-up and metric code):

1. Score f = logit-scaled confidence  log p_y − log Σ_{j≠y} p_j  (p = softmax of the logits, y the true label).
2. U_s = {f under each unlearned model}, R_s = {f under each oracle}. The "positive" side is the one with the larger
   median. If (smaller range)/(larger range) < 0.01 the peaky side is a bad sign: ε_s = 50 (the cap), stop.
3. Decision rules: (a) single thresholds t on a grid of 100 per unit over [min, max] of U_s ∪ R_s, "positive if
   f ≥ t"; (b) intervals [l, r], "the peakier side if l ≤ f ≤ r": r on a 100-per-unit grid over
   [min_peaky + w − 2, max_peaky + 2] and, for each r, 400 left ends l on [r − w − 2, r − w + 2], w = smaller range.
4. Per rule, FPR and FNR: FPR = FNR = 0 ⇒ ε = ∞; exactly one of them 0 ⇒ the rule is discarded (too few samples
   to trust); else ε = max(log(1 − δ − FPR) − log FNR, log(1 − δ − FNR) − log FPR) clipped at ≥ 0, δ = 1e-5.
   ε_s = max over the kept rules, clipped to [0, 50].
5. H(ε) = 2^−k for ε ∈ [k/2, (k+1)/2), for the bins whose right end is ≤ ⌈ln(M − 1)⌉; ε beyond them scores 0.
   Forget quality F = mean_s H(ε_s) ∈ [0, 1]: 1 = indistinguishable from the oracles, 0 = always told apart.
6. Final challenge score = F × (RA_U / RA_R) × (TA_U / TA_R), accuracies averaged over the M and the N models.

Caveat (from the write-up): with small M the ε estimate is capped near ln(M − 1) (2 bins of credit for M = 8,
13 in the challenge's M = 512) and noisy; compare methods at equal M and N only.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from obliviate.errors import DataError

DELTA = 1e-5
EPSILON_CAP = 50.0
PER_UNIT = 100  # thresholds per unit of score
BUFFER = 2.0  # interval rules: slack around the peaky side's range
BIN = 0.5
CONVENTIONS = {
    "forget_quality": "NeurIPS 2023 challenge F: per forget example, ε from the best single/double threshold attack "
                      "telling its logit-scaled confidence under M unlearned runs from N oracles (δ 1e-5, cap 50), "
                      "H = 2^-k for ε in [k/2, (k+1)/2) up to ceil(ln(M-1)); F = mean H (1 = like the oracles).",
    "challenge_score": "F × (RA_U/RA_R) × (TA_U/TA_R), accuracies averaged over the M unlearned and N oracle models.",
}


def logit_scaled_confidence(logits: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """log p_y − log Σ_{j≠y} p_j per row, computed from log-softmax (stable for confident rows). (N, C) → (N,)."""
    logp = torch.log_softmax(logits.double(), dim=-1)  # (N, C)
    own = logp.gather(1, y[:, None]).squeeze(1)
    others = logp.scatter(1, y[:, None], -math.inf).logsumexp(dim=-1)
    return (own - others).numpy()


def _rates_in(sorted_vals: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Fraction of `sorted_vals` inside [lo, hi], per threshold pair."""
    inside = np.searchsorted(sorted_vals, hi, side="right") - np.searchsorted(sorted_vals, lo, side="left")
    return inside / len(sorted_vals)


def _single_rules(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, FNR) of "positive if f ≥ t" over the threshold grid."""
    lo, hi = min(pos.min(), neg.min()), max(pos.max(), neg.max())
    t = np.linspace(lo, hi, max(int(math.ceil((hi - lo) * PER_UNIT)), 2))
    fpr = 1.0 - np.searchsorted(np.sort(neg), t, side="left") / len(neg)  # neg ≥ t
    fnr = np.searchsorted(np.sort(pos), t, side="left") / len(pos)  # pos < t
    return fpr, fnr


def _interval_rules(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, FNR) of "peakier side if l ≤ f ≤ r" over the interval grid; the peakier side plays positive."""
    peaky, broad = (a, b) if np.ptp(a) < np.ptp(b) else (b, a)
    width = np.ptp(peaky)
    right = np.linspace(peaky.min() + width - BUFFER, peaky.max() + BUFFER,
                        max(int(math.ceil((np.ptp(peaky) + 2 * BUFFER - width) * PER_UNIT)), 2))
    offsets = np.linspace(-BUFFER, BUFFER, int(math.ceil(2 * BUFFER * PER_UNIT)))
    hi = np.repeat(right, len(offsets))
    lo = (right[:, None] - width + offsets[None, :]).ravel()
    fnr = 1.0 - _rates_in(np.sort(peaky), lo, hi)
    fpr = _rates_in(np.sort(broad), lo, hi)
    return fpr, fnr


def epsilon_from_rates(fpr: np.ndarray, fnr: np.ndarray, delta: float = DELTA) -> float:
    """Largest ε over rules (step 4): ∞ if some rule separates perfectly; rules with exactly one zero rate are
    dropped; NaN if none is left."""
    fpr, fnr = np.asarray(fpr, float), np.asarray(fnr, float)
    if np.any((fpr == 0) & (fnr == 0)):
        return math.inf
    keep = (fpr > 0) & (fnr > 0)
    if not keep.any():
        return math.nan
    f, n = fpr[keep], fnr[keep]
    eps = np.maximum(np.log(np.clip(1 - delta - f, 1e-300, None)) - np.log(n),
                     np.log(np.clip(1 - delta - n, 1e-300, None)) - np.log(f))
    return float(np.clip(eps, 0, None).max())


def example_epsilon(unlearned: np.ndarray, oracle: np.ndarray, delta: float = DELTA) -> float:
    """ε_s of one forget example from its M unlearned and N oracle scores (steps 2-4), in [0, 50]."""
    u, r = np.asarray(unlearned, float), np.asarray(oracle, float)
    pos, neg = (r, u) if np.median(r) > np.median(u) else (u, r)
    small, large = sorted((np.ptp(pos), np.ptp(neg)))
    if large == 0:  # both constant: the same value cannot be told apart, different values always can
        return 0.0 if pos[0] == neg[0] else EPSILON_CAP
    if small / large < 0.01:
        return EPSILON_CAP
    f1, n1 = _single_rules(pos, neg)
    f2, n2 = _interval_rules(pos, neg)
    eps = epsilon_from_rates(np.concatenate([f1, f2]), np.concatenate([n1, n2]), delta)
    return float(np.clip(0.0 if math.isnan(eps) else eps, 0.0, EPSILON_CAP))


def bin_points(eps: float, runs: int) -> float:
    """H(ε) of step 5 for M = `runs` unlearned models: 2^−k for ε in [k/2, (k+1)/2) within ⌈ln(M−1)⌉, else 0."""
    top = math.ceil(math.log(runs - 1))
    k = int(eps // BIN) if math.isfinite(eps) else None
    return 2.0 ** -k if k is not None and (k + 1) * BIN <= top else 0.0


def forget_quality(unlearned: np.ndarray, oracle: np.ndarray) -> dict:
    """F from score arrays (runs M, examples S) and (oracles N, examples S): {"forget_quality", "epsilons"}."""
    u, r = np.asarray(unlearned, float), np.asarray(oracle, float)
    if u.ndim != 2 or r.ndim != 2 or u.shape[1] != r.shape[1]:
        raise DataError("scores must be (models, forget examples) arrays with the same number of examples",
                        field="scores", value=(u.shape, r.shape))
    if u.shape[0] < 3 or r.shape[0] < 2:
        raise DataError("the N-oracle score needs at least 3 unlearned runs and 2 oracles (ceil(ln(M-1)) >= 1)",
                        field="runs", rule="M >= 3, N >= 2", value=(u.shape[0], r.shape[0]))
    eps = np.array([example_epsilon(u[:, s], r[:, s]) for s in range(u.shape[1])])
    return {"forget_quality": float(np.mean([bin_points(e, u.shape[0]) for e in eps])), "epsilons": eps}


def challenge_score(quality: float, ra_u: float, ra_r: float, ta_u: float, ta_r: float) -> float:
    """F × (RA_U/RA_R) × (TA_U/TA_R) (step 6)."""
    if ra_r <= 0 or ta_r <= 0:
        raise DataError("oracle accuracies must be positive", field="oracle accuracy", value=(ra_r, ta_r))
    return quality * (ra_u / ra_r) * (ta_u / ta_r)


def n_oracle_score(unlearned: Sequence[dict], oracles: Sequence[dict]) -> dict:
    """From per-model dicts {"forget": (logits, y), "RA": %, "TA": %} of M unlearned runs and N oracles:
    forget_quality, challenge_score, the mean accuracies and the ε ceiling ln(M − 1)."""
    u = np.stack([logit_scaled_confidence(*m["forget"]) for m in unlearned])  # (M, S)
    r = np.stack([logit_scaled_confidence(*m["forget"]) for m in oracles])  # (N, S)
    fq = forget_quality(u, r)
    acc = {f"{k}_{side}": float(np.mean([m[k] for m in ms]))
           for k in ("RA", "TA") for side, ms in (("U", unlearned), ("R", oracles))}
    return {"forget_quality": fq["forget_quality"], "mean_epsilon": float(np.mean(fq["epsilons"])),
            "challenge_score": challenge_score(fq["forget_quality"], acc["RA_U"], acc["RA_R"], acc["TA_U"],
                                               acc["TA_R"]),
            **acc, "epsilon_ceiling": math.log(len(unlearned) - 1), "runs": len(unlearned), "oracles": len(oracles)}


def model_outputs(model, forget, retain, test) -> dict:
    """What `n_oracle_score` needs of one model: forget (logits, labels), RA and TA in %."""
    from .metrics import accuracy, predict

    return {"forget": predict(model, forget), "RA": accuracy(*predict(model, retain)),
            "TA": accuracy(*predict(model, test))}

