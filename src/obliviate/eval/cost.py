"""Cost of a result: the unlearning run's totals (run.json beside the model folder) against the oracle's training
(train.json inside the oracle's model folder), so `cost_ratio` = unlearning wall time / retraining wall time.
"""
from __future__ import annotations

import json
from pathlib import Path

from obliviate.results import cost_ratio

FIELDS = ("wall_time_s", "steps", "tokens", "peak_memory_mb")


def _read(path: Path) -> dict | None:
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    src = data.get("totals") or data.get("cost") or data  # engine's run.json keeps them under "totals"
    found = {k: src[k] for k in FIELDS if src.get(k) is not None}
    return found or None


def run_cost(model_dir: str | Path | None) -> dict | None:
    """runs/npo/model → runs/npo/run.json (the engine's output layout); also run.json inside the folder."""
    if model_dir is None:
        return None
    p = Path(model_dir)
    return _read(p.parent / "run.json") or _read(p / "run.json")


def oracle_cost(oracle_dir: str | Path | None = None, oracle_results: dict | None = None) -> dict | None:
    if oracle_dir is not None:
        return _read(Path(oracle_dir) / "train.json")
    if oracle_results is not None:
        return (oracle_results.get("cost") or {}).get("oracle")
    return None


def build_cost(model_dir=None, oracle_dir=None, oracle_results: dict | None = None) -> dict:
    """{wall_time_s, steps, tokens, peak_memory_mb, oracle: {...}, cost_ratio} with whatever is known."""

    cost = dict(run_cost(model_dir) or {})
    oracle = oracle_cost(oracle_dir, oracle_results)
    if oracle:
        cost["oracle"] = oracle
        ratio = cost_ratio(cost.get("wall_time_s"), oracle.get("wall_time_s"))
        if ratio is not None:
            cost["cost_ratio"] = ratio
    return cost
