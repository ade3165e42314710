"""Read and check `results.json` files for the report, and pick the numbers it shows.

`load_results(paths)` turns files (or already-parsed dicts) into `Run`s; every later stage reads `Run`s only and
treats an absent metric as missing ("—"), never as an error. A file that is not a results file at all (unreadable,
not JSON, not an object, wrong schema version, `metrics` not a mapping of metric entries) is a `DataError` naming the
file, so the CLI fails before it writes anything.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from obliviate.errors import DataError
from obliviate.results import SCHEMA_VERSION, check_metrics, num, read_json

VISION_METRICS = ("UA", "RA", "TA", "MIA_efficacy", "avg_gap")


@dataclass(frozen=True)
class Run:
    """One results file, reduced to what the report reads. `role` is "target", "oracle" or "method"."""

    name: str
    track: str
    source: str
    metrics: Mapping[str, Mapping[str, Any]]
    oracle_metrics: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    muse: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    curve: list[Mapping[str, Any]] = field(default_factory=list)
    cost: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # e.g. "target not memorised ...": comparisons with this run are not meaningful
    audits: Mapping[str, Any] = field(default_factory=dict)  # an audit.json merged in (obliviate.audit)
    guard: Mapping[str, Any] = field(default_factory=dict)  # an inference-time guard's block (weights unchanged)
    samples: Mapping[str, Any] = field(default_factory=dict)  # diffusion track: prompt → grey images (lists of rows)

    @property
    def role(self) -> str:
        return self.name if self.name in ("target", "oracle") else "method"


def value(run: Run, name: str) -> float | None:
    """The aggregate value of metric `name` in `run`, None when absent."""
    entry = run.metrics.get(name)
    return num(entry.get("value")) if entry else None


def numbers(xs: Any) -> list[float]:
    """The finite numbers of a list (per-item values may hold nulls for NaN)."""
    if not isinstance(xs, list):
        return []
    return [v for v in (num(x) for x in xs) if v is not None]


def _track(obj: Mapping[str, Any], metrics: Mapping[str, Any], source: str) -> str:
    track = obj.get("track")
    if track is None:  # older files: infer from the metric set
        return "vision" if any(m in metrics for m in VISION_METRICS) else "llm"
    if track not in ("llm", "vision", "diffusion"):
        raise DataError("must be 'llm', 'vision' or 'diffusion'", file=source, field="track", value=track)
    return track


def _name(obj: Mapping[str, Any], source: str) -> str:
    name = obj.get("name")
    if name is None:
        config = obj.get("config") if isinstance(obj.get("config"), Mapping) else {}
        method = config.get("method")
        name = method.get("name") if isinstance(method, Mapping) else method
    if name is None:
        name = Path(source).parent.name if source.endswith("results.json") else Path(source).stem
    return str(name)


def parse_run(obj: Any, source: str) -> Run:
    """Check one parsed results object and reduce it to a `Run`."""
    if not isinstance(obj, Mapping):
        raise DataError("a results file must hold a JSON object", file=source, value=type(obj).__name__)
    version = obj.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DataError(f"unsupported schema version (this report reads version {SCHEMA_VERSION})",
                        file=source, field="schema_version", value=version)
    if "metrics" not in obj:
        raise DataError("missing required key", file=source, field="metrics")
    metrics = check_metrics(obj["metrics"], source, "metrics")
    oracle = obj.get("oracle") if isinstance(obj.get("oracle"), Mapping) else {}
    oracle_metrics = check_metrics(oracle.get("metrics") or {}, source, "oracle.metrics")
    muse = obj.get("muse") if isinstance(obj.get("muse"), Mapping) else {}
    curve = obj.get("curve") if isinstance(obj.get("curve"), list) else []
    cost = obj.get("cost") if isinstance(obj.get("cost"), Mapping) else {}
    warnings = tuple(str(w) for w in obj.get("warnings") or [] if isinstance(w, str))
    audits = obj.get("audits") if isinstance(obj.get("audits"), Mapping) else {}
    guard = obj.get("guard") if isinstance(obj.get("guard"), Mapping) else {}
    samples = obj.get("samples") if isinstance(obj.get("samples"), Mapping) else {}
    return Run(name=_name(obj, source), track=_track(obj, metrics, source), source=source, metrics=metrics,
               oracle_metrics=oracle_metrics,
               muse={k: c for k, c in muse.items() if isinstance(c, Mapping)},
               curve=[p for p in curve if isinstance(p, Mapping)], cost=cost, warnings=warnings, audits=audits,
               guard=guard, samples=samples)


def load_results(items: Iterable[Mapping[str, Any] | str | Path]) -> list[Run]:
    """Load results files (paths) or parsed results (dicts), in order; duplicate names get a " #2" suffix."""
    runs: list[Run] = []
    for i, item in enumerate(items):
        if isinstance(item, Mapping):
            runs.append(parse_run(item, f"<results #{i + 1}>"))
        else:
            path = Path(item)
            runs.append(parse_run(read_json(path), str(path)))
    if not runs:
        raise DataError("no results given", rule="at least one results.json")
    return _dedupe(runs)


def _dedupe(runs: list[Run]) -> list[Run]:
    seen: dict[tuple[str, str], int] = {}
    out = []
    for run in runs:
        key = (run.track, run.name)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            run = dataclasses.replace(run, name=f"{run.name} #{seen[key]}")
        out.append(run)
    return out


def arrange(runs: list[Run], track: str) -> list[Run]:
    """The runs of one track in table order: target, methods (input order), oracle.

    Without an oracle results file the oracle row comes from the first `oracle.metrics` block of that track, so the
    reference a method was judged against is always on the page.
    """
    mine = [r for r in runs if r.track == track]
    target = [r for r in mine if r.role == "target"]
    methods = [r for r in mine if r.role == "method"]
    oracle = [r for r in mine if r.role == "oracle"]
    if not oracle:
        donor = next((r for r in mine if r.oracle_metrics), None)
        if donor is not None:
            oracle = [Run(name="oracle", track=track, source=f"oracle block of {donor.source}",
                          metrics=donor.oracle_metrics)]
    return target + methods + oracle


def oracle_of(rows: list[Run]) -> Run | None:
    return next((r for r in rows if r.role == "oracle"), None)
