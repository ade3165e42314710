"""Model utility (harmonic mean of the non-forget components) and forget quality (KS test against the oracle).

model_utility: over every non-forget QA split present (retain, real_authors, world_facts; TOFU: 9 numbers), the
harmonic mean of {probability, rouge_l_recall, truth_ratio}, where the probability of the option-style splits
(real authors, world facts) is `prob_norm`, as in TOFU. `neighbours_utility` is the same on `neighbours`.
"""
from __future__ import annotations

import numpy as np

from obliviate.errors import ObliviateError
from obliviate.results import bootstrap_groups, scalar

from .stats import harmonic_mean, ks_test

UTILITY_SPLITS = ("retain", "real_authors", "world_facts")
OPTION_SPLITS = ("real_authors", "world_facts")


def component_names(split: str) -> tuple[str, str, str]:
    """The three numbers a split contributes; the option-style splits' probability is prob_norm (TOFU)."""
    prob_name = f"{split}/prob_norm" if split in OPTION_SPLITS else f"{split}/prob"
    return prob_name, f"{split}/rouge_l_recall", f"{split}/truth_ratio"


def components(metrics: dict, splits: tuple[str, ...]) -> dict[str, dict]:
    return {name: metrics[name] for split in splits for name in component_names(split) if name in metrics}


def missing_components(metrics: dict, splits: tuple[str, ...]) -> list[str]:
    """Components absent from a split that is present (it has SPLIT/prob): e.g. no ROUGE without generation, no
    truth ratio without perturbed answers. Named in the metric so that a harmonic mean over fewer numbers is never
    silent; a split the data does not have is not missing (metrics.md: every split that exists)."""
    return [name for split in splits if f"{split}/prob" in metrics
            for name in component_names(split) if name not in metrics]


def item_groups(comps: dict[str, dict]) -> list[np.ndarray]:
    """The components' per-item values as (n, k) arrays, one per split and item set: a bootstrap draw of a row
    resamples one item's prob, ROUGE and truth ratio together (they come from the same items, so they are
    correlated). A component on another item set (a truth ratio read from a `*_perturbed` split of another
    size) forms its own group."""
    by_set: dict[tuple[str, int], list[np.ndarray]] = {}
    for name, c in comps.items():
        x = np.asarray(c["per_item"], dtype=float)
        by_set.setdefault((name.split("/")[0], x.size), []).append(x)
    return [np.column_stack(cols) for cols in by_set.values()]


def utility_metric(metrics: dict, splits: tuple[str, ...]) -> dict | None:
    """Harmonic mean of the components' means; CI by resampling each split's items jointly (`item_groups`)."""
    comps = components(metrics, splits)
    if not comps:
        return None
    value = harmonic_mean([c["value"] for c in comps.values()])
    lo, hi = bootstrap_groups(item_groups(comps),
                              lambda *gs: harmonic_mean(np.concatenate([g.mean(axis=0) for g in gs])))
    out = {"value": value, "ci_low": lo, "ci_high": hi, "n": len(comps), "per_item": [],
           "components": {k: c["value"] for k, c in comps.items()}}
    missing = missing_components(metrics, splits)
    if missing:
        out |= {"missing": missing, "note": f"harmonic mean without {', '.join(missing)} (not computed here)"}
    return out


def utility_metrics(metrics: dict) -> dict:
    out = {}
    for name, splits in (("model_utility", UTILITY_SPLITS), ("neighbours_utility", ("neighbours",))):
        m = utility_metric(metrics, splits)
        if m is not None:
            out[name] = m
    return out


P_RANGE_NOTE = ("p_range: 2.5% and 97.5% quantiles of the KS p-value over 1000 bootstrap resamples of the forget "
                "items (model and oracle items paired when they match); the spread of the p-value, not a "
                "confidence interval: forget_quality has none")


def forget_quality(metrics: dict, oracle: dict) -> dict:
    """KS p-value of the model's per-item forget truth ratios against the oracle's (raw R, two-sided).

    A p-value has no confidence interval; `p_range` (P_RANGE_NOTE) shows how much it moves under resampling.
    """

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
    return scalar(p, n=int(r_model.size), oracle_n=int(r_oracle.size), statistic=d, p_range=[lo, hi],
                  p_range_note=P_RANGE_NOTE)
