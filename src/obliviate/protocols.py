"""MUSE's C5 (scalability) and C6 (sustainability): unlearn, evaluate, repeat, and tabulate C1–C4 per step.

    scalability(spec, sizes=(1, 2, 3, 4))     # each size from the target
    sustainability(spec, requests=4)          # request i starts from the model after request i-1

`spec` is a run spec (`obliviate.spec`) whose `eval.oracle` is the oracle's model folder; every step is one
`obliviate.run` execution (unlearn → evaluate → OUT/<step>/results.json) on the restricted splits.

The forget set is cut into disjoint folds along persons (a person's items stay in one fold). Size k (scalability)
and request k (sustainability) are both evaluated on folds 1..k, i.e. everything asked to be forgotten so far, with
the same oracle (trained without any fold), so the two protocols' rows are directly comparable; or, with
`eval.step_oracles` (`--step-oracles DIRS|train`, `obliviate.step_oracles`), against step k's own oracle, trained
without folds 1..k, as the issue's stream asks; each step's row and results.json name the oracle that judged it.
"""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from types import SimpleNamespace

from obliviate.errors import ConfigError

from .eval.suite import evaluate, resolve_oracle

FOLDED = ("forget", "forget_perturbed", "forget_texts")
CRITERIA = ("C1", "C2", "C3", "C4")


def fold_keys(records: list[dict], k: int) -> list[list]:
    """k disjoint, nearly equal groups of person ids (items without a person: of item positions)."""
    persons = list(dict.fromkeys(r.get("person") for r in records))
    keys = persons if None not in persons else list(range(len(records)))
    if len(keys) < k:
        raise ConfigError(f"cannot cut the forget set into {k} folds: it has only {len(keys)} "
                          f"{'persons' if None not in persons else 'items'}")
    cuts = [round(i * len(keys) / k) for i in range(k + 1)]
    return [keys[cuts[i]:cuts[i + 1]] for i in range(k)]


def _take(records: list[dict] | None, keys: set, by_person: bool) -> list[dict] | None:
    if records is None:
        return None
    if by_person:
        return [r for r in records if r.get("person") in keys]
    return [r for i, r in enumerate(records) if i in keys]


def restrict(splits, keys: set, by_person: bool):
    """The splits with forget-side lists cut to the given persons (or positions)."""
    new = {name: _take(getattr(splits, name, None), keys, by_person) for name in FOLDED}
    if dataclasses.is_dataclass(splits):
        return dataclasses.replace(splits, **new)
    return SimpleNamespace(**{**vars(splits), **new})


def _row(label: str, index: int, res: dict, n_forget: int) -> dict:
    return {label: index, "forget_items": n_forget, "muse": res.get("muse", {}), "cost": res.get("cost", {}),
            "metrics": {k: v["value"] for k, v in res["metrics"].items() if isinstance(v, dict)},
            "oracle": res.get("step_oracle") or {"source": "the protocol's one oracle"}}


def table(rows: list[dict], label: str) -> dict:
    """{C1: {metric, steps, values, pass}, ...}: how each criterion's number moves across the steps."""
    out = {}
    for c in CRITERIA:
        cells = [(r[label], r["muse"].get(c)) for r in rows]
        cells = [(i, cell) for i, cell in cells if cell is not None]
        if cells:
            out[c] = {"metric": cells[0][1]["metric"], label: [i for i, _ in cells],
                      "values": [cell["value"] for _, cell in cells], "pass": [cell["pass"] for _, cell in cells]}
    return out


def _prepare(spec, stages, n_folds: int, counts: list[int]):
    """(spec, stages, by_person, folds, target results, step oracles or None); `counts[j]` = folds covered by step
    j + 1. With `eval.step_oracles` each step gets its own oracle (`obliviate.step_oracles`); the target is then
    judged by the last step's, trained without every fold."""
    from obliviate.run import load_stages
    from obliviate.spec import load_spec

    from . import step_oracles

    spec = load_spec(spec)
    per_step = spec.eval.step_oracles is not None
    if spec.eval.oracle is None and (stages is None or stages.oracle is None) and not per_step:
        raise ConfigError("protocols evaluate every step against the oracle model: pass --oracle MODEL_DIR "
                          "or --step-oracles (saved oracle results cover only the full forget set)")
    if spec.eval.oracle_results:
        raise ConfigError("protocols score the oracle on every step's folds: give eval.oracle, not oracle_results")
    s = load_stages(spec, stages)
    forget = s.splits.forget or s.splits.forget_texts
    by_person = None not in {r.get("person") for r in forget}
    folds = fold_keys(forget, n_folds)
    oracles = None
    if per_step:
        covered = [_take(forget, {key for fold in folds[:c] for key in fold}, by_person) for c in counts]
        oracles = step_oracles.plan(spec, covered, by_person)
        if s.oracle is None:
            s.oracle = step_oracles.stages_for(s, oracles[-1], spec.trust_remote_code).oracle
    oracle = s.oracle if isinstance(s.oracle, tuple) else (s.oracle, s.tokenizer)
    resolve_oracle(oracle, s.tokenizer, s.model)
    target = evaluate(s.model, s.tokenizer, s.splits, oracle=oracle, name="target", suite=spec.eval.suite,
                      batch_size=spec.eval.batch_size)
    return spec, s, by_person, folds, target, oracles


def _step(spec, s, step_splits, model, target, out: str, eval_splits=None, oracle=None):
    """One step: `obliviate.run` on the restricted splits, from `model`, into OUT/<out>, judged by `oracle` (a
    StepOracle) or by the protocol's one oracle."""
    from obliviate.results import write_results
    from obliviate.run import execute

    from .step_oracles import judged, stages_for

    step_spec = spec.model_copy(update={"out": str(Path(spec.out) / out), "save_model": False})
    s = stages_for(s, oracle, spec.trust_remote_code)
    model, res = execute(step_spec, dataclasses.replace(s, splits=step_splits, eval_splits=eval_splits,
                                                         model=model, target_results=target))
    if oracle is not None:
        res = judged(res, oracle)
        write_results(Path(step_spec.out) / "results.json", res)
    return model, res


def scalability(spec, sizes=(1, 2, 3, 4), stages=None) -> dict:
    """C5: for each size k, unlearn folds 1..k from a fresh copy of the target; evaluate on folds 1..k."""
    sizes = sorted(set(int(k) for k in sizes))
    if not sizes or sizes[0] < 1:
        raise ConfigError(f"--sizes must be positive integers (numbers of folds): got {sizes}")
    spec, s, by_person, folds, target, oracles = _prepare(spec, stages, sizes[-1], sizes)
    rows, last = [], None
    for j, k in enumerate(sizes):
        step_splits = restrict(s.splits, {key for fold in folds[:k] for key in fold}, by_person)
        _, last = _step(spec, s, step_splits, copy.deepcopy(s.model), target, f"size-{k}",
                        oracle=oracles[j] if oracles else None)
        rows.append(_row("size", k, last, len(step_splits.forget or step_splits.forget_texts)))
    return _finish(last, "scalability", spec.label, rows, "size", target)


def sustainability(spec, requests: int = 4, stages=None) -> dict:
    """C6: request i unlearns fold i starting from the model after request i−1; evaluate on folds 1..i."""
    if requests < 1:
        raise ConfigError(f"--requests must be >= 1: got {requests}")
    spec, s, by_person, folds, target, oracles = _prepare(spec, stages, requests, list(range(1, requests + 1)))
    rows, last, current = [], None, copy.deepcopy(s.model)
    for i in range(1, requests + 1):
        request = restrict(s.splits, set(folds[i - 1]), by_person)
        so_far = restrict(s.splits, {key for fold in folds[:i] for key in fold}, by_person)
        # unlearn request i only; evaluate on everything asked to be forgotten so far, against step i's oracle
        current, last = _step(spec, s, request, current, target, f"request-{i}", eval_splits=so_far,
                              oracle=oracles[i - 1] if oracles else None)
        rows.append(_row("request", i, last, len(so_far.forget or so_far.forget_texts)))
    return _finish(last, "sustainability", spec.label, rows, "request", target)


def _finish(last: dict, name: str, method: str, rows: list[dict], label: str, target: dict) -> dict:
    """The last step's full results, plus the protocol's per-step rows and C1–C4 table."""
    out = dict(last)
    out["name"] = method
    out["protocol"] = {"name": name, "criterion": "C5" if name == "scalability" else "C6", "method": method,
                       "steps": rows, "table": table(rows, label),
                       "target": {k: v["value"] for k, v in target["metrics"].items()}}
    per_step = any(r["oracle"].get("step") for r in rows)
    judge = ("step k's own oracle (trained without folds 1..k; each row's `oracle` names it)" if per_step
             else "the same oracle (trained without any fold)")
    out["conventions"] = {**last["conventions"], "protocol": (
        f"forget set cut into disjoint folds along persons; step k is evaluated on folds 1..k against {judge}; "
        "C4 compares with the target evaluated on the full forget set")}
    return out
