"""The report's tables as plain data: which numbers go in which cell, and which cell is the best in its column.

"Best" is judged among the unlearning methods only; the target (where we start) and the oracle (where we want to
be) are references, so they are never marked. The rule of each column is stated on the page (`RULES`).
"""
from __future__ import annotations

from dataclasses import dataclass

from obliviate import rules

from .load import Run, num, oracle_of

# How a column picks its best value: the larger, the smaller, the closest to 0, or the closest to the oracle's.
RULES = {
    "max": "higher is better",
    "min": "lower is better",
    "zero": "closest to 0 is better",
    "oracle": "closest to the oracle's value is better",
}


@dataclass(frozen=True)
class Column:
    key: str      # metric name in results.json, or "cost_ratio" (read from `cost`)
    label: str
    rule: str     # a key of RULES
    hint: str     # one line shown as the header's tooltip


LLM_COLUMNS = (
    Column("forget_quality", "forget quality", "max", "KS-test p-value of forget truth ratios vs the oracle's"),
    Column("model_utility", "model utility", "max", "harmonic mean of retain / real-author / world-fact scores"),
    Column("verbmem", "verbmem", "oracle", "ROUGE-L F1 ×100 continuing forget texts"),
    Column("knowmem_f", "knowmem_f", "oracle", "ROUGE-L F1 ×100 answering forget questions"),
    Column("knowmem_r", "knowmem_r", "max", "ROUGE-L F1 ×100 answering retain questions"),
    Column("neighbours_utility", "neighbours", "max", "model utility on persons next to the forgotten ones"),
    Column("privleak", "privleak", "zero", "MIA AUC gap to the oracle, %; < 0 leaks, > 0 over-unlearns"),
    Column("cost_ratio", "cost ratio", "min", "unlearning cost / retraining cost"),
)

VISION_COLUMNS = (
    Column("UA", "UA", "oracle", "unlearning accuracy: 100 − forget-set accuracy"),
    Column("RA", "RA", "oracle", "retain-set accuracy"),
    Column("TA", "TA", "oracle", "test-set accuracy"),
    Column("TA_forgotten_class", "TA (forgotten class)", "oracle", "test accuracy on the forgotten class"),
    Column("MIA_efficacy", "MIA efficacy", "oracle", "% of forget samples an SVC attack calls non-members"),
    Column("avg_gap", "avg gap", "min", "mean |value − oracle| over UA, RA, TA, MIA efficacy"),
    Column("cost_ratio", "cost ratio", "min", "unlearning cost / retraining cost"),
)

MUSE_CELLS = ("C1", "C2", "C3", "C4")
OPTIONAL = {"TA_forgotten_class"}  # shown only when some run has it (class-wise forgetting)


@dataclass(frozen=True)
class Cell:
    value: float | None
    low: float | None = None    # CI bounds (LLM) ...
    high: float | None = None
    std: float | None = None    # ... or the spread over seeds (vision)
    best: bool = False


@dataclass(frozen=True)
class Table:
    columns: tuple[Column, ...]
    rows: list[Run]
    cells: list[list[Cell]]     # [row][column]


def cell(run: Run, key: str) -> Cell:
    """The number shown for `key` in `run`'s row, with its CI or std when the file has them."""
    if key == "cost_ratio":
        ratio = num(run.cost.get("cost_ratio"))
        if ratio is None and run.role == "oracle":
            ratio = 1.0  # retraining measured against itself
        return Cell(ratio)
    entry = run.metrics.get(key) or {}
    return Cell(num(entry.get("value")), num(entry.get("ci_low")), num(entry.get("ci_high")), num(entry.get("std")))


def _distance(rule: str, x: float, oracle: float | None) -> float | None:
    """Smaller is better: the number each rule minimises (None when the rule cannot be applied)."""
    if rule == "max":
        return -x
    if rule == "min":
        return x
    if rule == "zero":
        return abs(x)
    return abs(x - oracle) if oracle is not None else None


def mark_best(rows: list[Run], column: list[Cell], rule: str) -> list[Cell]:
    """Mark the best method cell(s) of one column; ties are all marked; fewer than two candidates: none."""
    oracle = next((c.value for r, c in zip(rows, column, strict=True) if r.role == "oracle"), None)
    scores = [(i, _distance(rule, c.value, oracle)) for i, (r, c) in enumerate(zip(rows, column, strict=True))
              if r.role == "method" and c.value is not None]
    scores = [(i, s) for i, s in scores if s is not None]
    if len(scores) < 2:
        return column
    best = min(s for _, s in scores)
    winners = {i for i, s in scores if abs(s - best) <= 1e-12 * max(1.0, abs(best))}
    return [Cell(c.value, c.low, c.high, c.std, best=i in winners) for i, c in enumerate(column)]


def build_table(rows: list[Run], columns: tuple[Column, ...]) -> Table:
    """Cells for every (row, column); a column no row has a value for is dropped (e.g. TA_forgotten_class)."""
    kept, by_column = [], []
    for col in columns:
        column = [cell(r, col.key) for r in rows]
        if col.key in OPTIONAL and all(c.value is None for c in column):
            continue
        kept.append(col)
        by_column.append(mark_best(rows, column, col.rule))
    cells = [[by_column[j][i] for j in range(len(kept))] for i in range(len(rows))]
    return Table(tuple(kept), rows, cells)


def has_muse(rows: list[Run]) -> bool:
    return any(r.muse for r in rows)


def reference_rows(rows: list[Run]) -> tuple[Run | None, Run | None]:
    target = next((r for r in rows if r.role == "target"), None)
    return target, oracle_of(rows)


def in_band(run: Run, target: Run | None) -> bool | None:
    """`rules.in_band` of the run's forget_quality and model_utility against the target's; None when a number is
    missing."""
    fq = num((run.metrics.get("forget_quality") or {}).get("value"))
    mu = num((run.metrics.get("model_utility") or {}).get("value"))
    mu_target = num((target.metrics.get("model_utility") or {}).get("value")) if target else None
    return rules.in_band(fq, mu, mu_target)
