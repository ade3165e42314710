"""Model utility (harmonic mean of the non-forget components) and forget quality (KS test against the oracle).

model_utility: over every non-forget QA split present (retain, real_authors, world_facts; TOFU: 9 numbers), the
harmonic mean of {probability, rouge_l_recall, truth_ratio}, where the probability of the option-style splits
(real authors, world facts) is `prob_norm`, as in TOFU. `neighbours_utility` is the same on `neighbours`.
"""
from __future__ import annotations

import numpy as np

from obliviate.errors import ObliviateError

from .stats import bootstrap_groups, harmonic_mean, ks_test

UTILITY_SPLITS = ("retain", "real_authors", "world_facts")
OPTION_SPLITS = ("real_authors", "world_facts")


def components(metrics: dict, splits: tuple[str, ...]) -> dict[str, dict]:
    out = {}
    for split in splits:
        prob_name = f"{split}/prob_norm" if split in OPTION_SPLITS else f"{split}/prob"
        for name in (prob_name, f"{split}/rouge_l_recall", f"{split}/truth_ratio"):
            if name in metrics:
                out[name] = metrics[name]
    return out


def utility_metric(metrics: dict, splits: tuple[str, ...]) -> dict | None:
    """Harmonic mean of the components' means; CI by resampling each component's items independently."""
    comps = components(metrics, splits)
    if not comps:
        return None
    groups = [np.asarray(c["per_item"], dtype=float) for c in comps.values()]
    value = harmonic_mean([c["value"] for c in comps.values()])
    lo, hi = bootstrap_groups(groups, lambda *gs: harmonic_mean([g.mean() for g in gs]))
    return {"value": value, "ci_low": lo, "ci_high": hi, "n": len(comps), "per_item": [],
            "components": {k: c["value"] for k, c in comps.items()}}


def utility_metrics(metrics: dict) -> dict:
    out = {}
    for name, splits in (("model_utility", UTILITY_SPLITS), ("neighbours_utility", ("neighbours",))):
        m = utility_metric(metrics, splits)
        if m is not None:
            out[name] = m
    return out


def forget_quality(metrics: dict, oracle: dict) -> dict:
    """KS p-value of the model's per-item forget truth ratios against the oracle's (raw R, two-sided)."""
    key = "forget/truth_ratio"
    if key not in metrics or key not in oracle:
        missing = "the model" if key not in metrics else "the oracle"
        raise ObliviateError(f"forget_quality needs per-item forget truth ratios from {missing} (metric {key!r})")
    r_model = np.asarray(metrics[key]["ratio"], dtype=float)
    r_oracle = np.asarray(oracle[key]["ratio"], dtype=float)
    d, p = ks_test(r_model, r_oracle)
    if r_model.size == r_oracle.size:  # same items: resample them in pairs
        lo, hi = bootstrap_groups([np.column_stack([r_model, r_oracle])],
                                  lambda x: ks_test(x[:, 0], x[:, 1])[1])
    else:
        lo, hi = bootstrap_groups([r_model, r_oracle], lambda a, b: ks_test(a, b)[1])
    return {"value": p, "ci_low": lo, "ci_high": hi, "n": int(r_model.size), "per_item": [],
            "oracle_n": int(r_oracle.size), "statistic": d}
