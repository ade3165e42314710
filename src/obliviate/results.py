"""The `results.json` schema shared by the LLM and classifier tracks, and the statistics every metric carries.

results.json = {schema_version, config, env, conventions, cost, metrics, oracle}; each metric is
{value, ci_low, ci_high, n, per_item}. The report module reads only these files; `read_results` checks one (for
`obliviate eval --oracle-results/--target-results` and the report) and names the file, field and rule it breaks.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import platform
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import atomic_write_json
from .errors import DataError

SCHEMA_VERSION = 1
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0


# --------------------------------------------------------------------------- the bootstrap: every CI comes from here
# Percentile bootstrap, items resampled with replacement, BOOTSTRAP_RESAMPLES resamples from BOOTSTRAP_SEED. One
# draw (`resample_indices`) serves `bootstrap_ci` and the AUC bootstrap of eval/stats.py; `bootstrap_groups` draws
# resample by resample (see there); all end in `percentile_ci`.

def resample_indices(sizes: Sequence[int], resamples: int = BOOTSTRAP_RESAMPLES,
                     seed: int = BOOTSTRAP_SEED) -> list[np.ndarray]:
    """Item indices of the bootstrap resamples of each group: one (resamples, n) array per group of n items, drawn
    group after group from one seeded generator. Groups are resampled separately (stratified); row r of every group
    is resample r, so statistics computed on the same row stay paired."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n, size=(resamples, n)) for n in sizes]


def percentile_ci(samples: Sequence[float] | np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The (1 − level)/2 and (1 + level)/2 quantiles of bootstrap statistics; NaN statistics are left out (nan, nan
    when none is left)."""
    s = np.asarray(samples, dtype=float)
    s = s[~np.isnan(s)]
    if s.size == 0:
        return (math.nan, math.nan)
    alpha = (1.0 - level) / 2.0
    return (float(np.quantile(s, alpha)), float(np.quantile(s, 1.0 - alpha)))


def bootstrap_ci(
    values: Sequence[float],
    stat: Callable[[np.ndarray], float] = np.mean,
    resamples: int = BOOTSTRAP_RESAMPLES,
    level: float = 0.95,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap CI of `stat` over items: resample items with replacement `resamples` times.

    One item (or none) gives a degenerate interval equal to the statistic itself (nan for none). A NaN item makes
    the CI NaN, as it makes the value NaN (unlike `bootstrap_groups`, whose statistics may be undefined on some
    resamples).
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return (math.nan, math.nan)
    if x.size == 1:
        v = float(stat(x))
        return (v, v)
    (idx,) = resample_indices([x.size], resamples, seed)  # (B, n)
    stats = np.array([stat(x[row]) for row in idx]) if stat is not np.mean else x[idx].mean(axis=1)
    return (math.nan, math.nan) if np.isnan(stats).any() else percentile_ci(stats, level)


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

    It draws resample by resample (each group's indices in turn), not with `resample_indices`: the same resamples
    in another order, kept so that the model_utility CIs and forget_quality p-ranges already published stay equal.
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
    return percentile_ci(stats, level)


def metric(
    per_item: Sequence[float],
    aggregate: Callable[[np.ndarray], float] = np.mean,
    value: float | None = None,
    ci: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """A metric entry: aggregate value, its 95% bootstrap CI, n and the per-item values."""
    x = np.asarray(per_item, dtype=float)
    v = float(aggregate(x)) if value is None and x.size else (math.nan if value is None else float(value))
    lo, hi = bootstrap_ci(x, aggregate) if ci else (math.nan, math.nan)
    entry = {"value": v, "ci_low": lo, "ci_high": hi, "n": int(x.size), "per_item": [float(t) for t in x]}
    entry.update(extra)
    return entry


def scalar(value: float, **extra: Any) -> dict[str, Any]:
    """A metric with no per-item values of its own (e.g. a p-value over two samples)."""
    entry = {"value": float(value), "ci_low": None, "ci_high": None, "n": extra.pop("n", None), "per_item": []}
    entry.update(extra)
    return entry


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def env_info(seed: int | None = None, device: str | None = None) -> dict[str, Any]:
    import torch

    pkgs = ["obliviate", "torch", "transformers", "accelerate", "peft", "datasets", "tokenizers", "scikit-learn",
            "scipy", "rouge-score", "numpy"]
    return {
        "versions": {p: _version(p) for p in pkgs},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device or ("cuda" if torch.cuda.is_available() else "cpu"),
        "torch_threads": torch.get_num_threads(),
        "seed": seed,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def peak_memory_mb(device=None) -> float:
    """CUDA: peak memory allocated by torch; CPU: the process's peak resident set (ru_maxrss: KiB on Linux,
    bytes on macOS). Used by every cost block (training, unlearning, classifier runs)."""
    import resource
    import sys

    import torch

    if device is not None and torch.device(device).type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def cost_ratio(unlearn_s: float | None, retrain_s: float | None) -> float | None:
    """Unlearning wall time / retraining (oracle) wall time: results.json's `cost.cost_ratio`, for every track.
    None when either time is unknown (None, NaN) or the retraining time is not positive: never a division by 0."""
    if unlearn_s is None or retrain_s is None or not math.isfinite(unlearn_s) or not math.isfinite(retrain_s) \
            or retrain_s <= 0:
        return None
    return unlearn_s / retrain_s


def _clean(obj: Any) -> Any:
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        return _clean(obj.item())
    return obj


def build_results(
    config: dict[str, Any],
    metrics: dict[str, Any],
    conventions: dict[str, str] | None = None,
    cost: dict[str, Any] | None = None,
    oracle: dict[str, Any] | None = None,
    env: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    out = {
        "schema_version": SCHEMA_VERSION,
        "config": config,
        "env": env or env_info(),
        "conventions": conventions or {},
        "cost": cost or {},
        "metrics": metrics,
        "oracle": oracle or {},
    }
    out.update(extra)
    return _clean(out)


def write_results(path, results: dict[str, Any]) -> None:
    missing = {"schema_version", "config", "env", "conventions", "cost", "metrics", "oracle"} - set(results)
    if missing:
        raise ValueError(f"{path}: results lack required keys {sorted(missing)}")
    atomic_write_json(path, _clean(results))


# --------------------------------------------------------------------------- reading results files back

def num(x: Any) -> float | None:
    """A finite float, or None for anything else (null, NaN, a string, a bool)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def read_json(path: str | Path) -> Any:
    """The parsed JSON of a results file; DataError naming the file (and line) when absent or not JSON."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError("results file not found", file=path, rule="must exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read results file: {e}", file=path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON: {e.msg}", file=path, line=e.lineno) from None


def check_metrics(block: Any, source: str, where: str) -> dict[str, Mapping[str, Any]]:
    """`block` (field `where` of file `source`) must map metric names to entries whose value is a number or null."""
    if not isinstance(block, Mapping):
        raise DataError("must be an object of metric entries", file=source, field=where, value=block)
    for name, entry in block.items():
        if not isinstance(entry, Mapping):
            raise DataError("a metric entry must be an object with a 'value'", file=source,
                            field=f"{where}.{name}", value=entry)
        v = entry.get("value")
        if v is not None and num(v) is None and not (isinstance(v, float) and math.isnan(v)):
            raise DataError("'value' must be a number or null", file=source, field=f"{where}.{name}.value", value=v)
    return dict(block)


def check_results(obj: Any, source: str) -> dict[str, Any]:
    """A parsed results object: a JSON object with `metrics`, and `oracle.metrics` (when present), of metric entries."""
    if not isinstance(obj, Mapping):
        raise DataError("a results file must hold a JSON object", file=source, value=obj)
    if "metrics" not in obj:
        raise DataError("missing required key", file=source, field="metrics")
    check_metrics(obj["metrics"], source, "metrics")
    oracle = obj.get("oracle")
    if oracle is not None and not isinstance(oracle, Mapping):
        raise DataError("must be an object", file=source, field="oracle", value=oracle)
    check_metrics((oracle or {}).get("metrics") or {}, source, "oracle.metrics")
    return dict(obj)


def read_results(path: str | Path) -> dict[str, Any]:
    """Read and check a results.json (`check_results`); every error names the file."""
    return check_results(read_json(path), str(path))
