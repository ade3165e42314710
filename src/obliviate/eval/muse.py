"""MUSE's criteria C1–C4 as pass/fail cells with the numbers behind them (C5/C6 are the protocols' tables).

C1 verbmem and C2 knowmem_f pass at or below the oracle's value plus its CI (its upper bound); C3 privleak passes
within [−5, 5] and says which way it fails; C4 passes when knowmem_r and model_utility are each ≥ 95% of the
target's (pre-unlearning) value.
"""
from __future__ import annotations

import math

from obliviate.rules import MUSE_UTILITY_KEEP

PRIVLEAK_BAND = 5.0
UTILITY_METRICS = ("knowmem_r", "model_utility")  # C4: each must keep 95% of the target's


def _upper(entry: dict) -> float:
    hi = entry.get("ci_high")
    return float(hi) if hi is not None and math.isfinite(hi) else float(entry["value"])


def _at_most_oracle(metrics: dict, oracle: dict, name: str) -> dict | None:
    if name not in metrics or name not in oracle:
        return None
    v, t = float(metrics[name]["value"]), _upper(oracle[name])
    return {"pass": v <= t, "metric": name, "value": v, "threshold": t, "rule": "value <= oracle ci_high",
            "direction": "lower is better"}


def privleak_cell(metrics: dict) -> dict | None:
    if "privleak" not in metrics or metrics["privleak"]["value"] is None:
        return None
    v = float(metrics["privleak"]["value"])
    if not math.isfinite(v):
        return None
    direction = ("leakage (under-unlearning)" if v < -PRIVLEAK_BAND else
                 "over-unlearning" if v > PRIVLEAK_BAND else "within band")
    return {"pass": abs(v) <= PRIVLEAK_BAND, "metric": "privleak", "value": v, "threshold": PRIVLEAK_BAND,
            "rule": "-5 <= privleak <= 5", "direction": direction}


def _kept(metrics: dict, target: dict, name: str) -> dict | None:
    """One C4 part: the value against 95% of the target's; None when either number is missing."""
    v, ref = ((metrics.get(name) or {}).get("value"), (target.get(name) or {}).get("value"))
    if v is None or ref is None:
        return None
    v, t = float(v), MUSE_UTILITY_KEEP * float(ref)
    return {"value": v, "threshold": t, "pass": v >= t}


def utility_cell(metrics: dict, target: dict | None) -> dict | None:
    """C4: knowmem_r and model_utility each at least 95% of the target's (metrics.md §3: both must hold).

    The cell's value and threshold are knowmem_r's (MUSE's utility number, so C5/C6 tables follow one metric);
    `parts` holds both. Without both numbers on both sides there is no C4 cell.
    """
    if target is None:
        return None
    parts = {name: _kept(metrics, target, name) for name in UTILITY_METRICS}
    if any(p is None for p in parts.values()):
        return None
    head = parts[UTILITY_METRICS[0]]
    return {"pass": all(p["pass"] for p in parts.values()), "metric": UTILITY_METRICS[0], "value": head["value"],
            "threshold": head["threshold"], "rule": "knowmem_r >= 0.95 * target's and model_utility >= 0.95 * "
            "target's", "direction": "higher is better", "parts": parts}


def muse_table(metrics: dict, oracle: dict | None, target: dict | None = None) -> dict:
    """{"C1": CELL, ...} for the criteria whose numbers exist."""
    cells = {
        "C1": _at_most_oracle(metrics, oracle or {}, "verbmem"),
        "C2": _at_most_oracle(metrics, oracle or {}, "knowmem_f"),
        "C3": privleak_cell(metrics),
        "C4": utility_cell(metrics, target),
    }
    return {k: v for k, v in cells.items() if v is not None}
