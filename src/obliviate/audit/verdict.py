"""The verdict rule, in one place, and the comparison every check of every attack reports.

A check compares per-item values where higher means "knows more of the forget set": the attacked model's values on
the forget items against the attacked oracle's on the same items (paired), or, without an oracle, against the
model's own values on the holdout persons (unpaired, "vs holdout"). The difference of means gets a percentile
bootstrap CI (the project's `results.bootstrap_ci` / `eval.stats.bootstrap_groups`, 1,000 resamples, seed 0) at
level 1 − 0.05/k for an attack with k checks (Bonferroni: the attack is `residual` when any check is, so its
false-alarm rate stays at 5%). Verdict:

- `residual`: the CI of the difference lies entirely above 0 (the model knows measurably more);
- `clean`: otherwise (including a model that knows measurably *less*: over-unlearning is not residual knowledge);
- `n/a`: the data or the model does not allow the check; `reason` says why and names the missing field.

Identical per-item values give a difference of exactly 0 with the degenerate CI [0, 0], hence `clean`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from obliviate.results import bootstrap_ci, bootstrap_groups, metric

RESIDUAL, CLEAN, NA = "residual", "clean", "n/a"
LEVEL = 0.95


def level_for(k: int) -> float:
    """CI level of each of an attack's k deciding checks (Bonferroni)."""
    return 1.0 - (1.0 - LEVEL) / max(1, k)


def rule(ci_low: float | None) -> str:
    """THE verdict rule: residual when the lower bound of the difference's CI is above 0, else clean."""
    return RESIDUAL if ci_low is not None and math.isfinite(ci_low) and ci_low > 0 else CLEAN


def difference(model: Sequence[float], reference: Sequence[float], paired: bool, level: float = LEVEL) -> dict:
    """mean(model) − mean(reference) with its bootstrap CI; paired resamples items, unpaired each group."""
    m, r = np.asarray(model, dtype=float), np.asarray(reference, dtype=float)
    if paired:
        if m.shape != r.shape:
            raise ValueError(f"paired difference needs equal sizes, got {m.size} and {r.size}")
        d = m - r
        value = float(d.mean())
        lo, hi = bootstrap_ci(d, level=level)
    else:
        value = float(m.mean() - r.mean())
        lo, hi = bootstrap_groups([m, r], lambda a, b: float(a.mean() - b.mean()), level=level)
    return {"value": value, "ci_low": lo, "ci_high": hi, "level": level, "paired": paired}


def check(model: Sequence[float], reference: Sequence[float], against: str, level: float = LEVEL,
          metric_name: str = "", **extra) -> dict:
    """One check: both sides' values (per item, mean, 95% CI, n), the difference with its CI, and the verdict.

    against: "oracle" (paired: the same items) or "holdout" (the model's own values on holdout persons).
    """
    if len(model) == 0 or len(reference) == 0:
        side = "model" if len(model) == 0 else against
        return not_applicable(f"no items to compare on the {side} side", against)
    diff = difference(model, reference, paired=against == "oracle", level=level)
    verdict = rule(diff["ci_low"])
    return {"metric": metric_name, "against": against, "model": metric(model), against: metric(reference),
            "difference": diff, "verdict": verdict, "reason": explain(verdict, diff, against), **extra}


def not_applicable(reason: str, against: str | None = None, **extra) -> dict:
    return {"against": against, "verdict": NA, "reason": reason, **extra}


def explain(verdict: str, diff: dict, against: str) -> str:
    d = f"difference {diff['value']:+.3g} [{diff['ci_low']:+.3g}, {diff['ci_high']:+.3g}] at {diff['level']:.1%}"
    if verdict == RESIDUAL:
        return f"vs {against}: the model knows more of the forget set ({d})"
    return f"vs {against}: no measurable excess knowledge ({d})"


def combine(checks: dict[str, dict]) -> tuple[str, str]:
    """The attack's verdict from its deciding checks: residual if any is, clean if any check ran, else n/a."""
    ran = {k: c for k, c in checks.items() if c.get("verdict") in (RESIDUAL, CLEAN) and not c.get("informational")}
    hits = [k for k, c in ran.items() if c["verdict"] == RESIDUAL]
    if hits:
        return RESIDUAL, "; ".join(f"{k}: {checks[k]['reason']}" for k in hits)
    if ran:
        against = next(iter(ran.values()))["against"]
        return CLEAN, f"vs {against}: no check shows excess knowledge ({', '.join(ran)})"
    reasons = "; ".join(f"{k}: {c.get('reason')}" for k, c in checks.items()) or "no checks"
    return NA, reasons
