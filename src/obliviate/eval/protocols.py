"""MUSE's C5 (scalability) and C6 (sustainability): unlearn, evaluate, repeat, and tabulate C1–C4 per step.

    scalability(model, tok, splits, oracle, sizes=(1, 2, 3, 4), method="npo")   # each size from the target
    sustainability(model, tok, splits, oracle, requests=4, method="npo")        # request i starts from i-1

The forget set is cut into disjoint folds along persons (a person's items stay in one fold). Size k (scalability)
and request k (sustainability) are both evaluated on folds 1..k, i.e. everything asked to be forgotten so far, with
the same oracle (trained without any fold), so the two protocols' rows are directly comparable.
"""
from __future__ import annotations

import copy
import dataclasses
from types import SimpleNamespace

from obliviate.errors import ConfigError
from obliviate.results import cost_ratio

from .cost import oracle_cost
from .suite import evaluate, resolve_oracle

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
            "metrics": {k: v["value"] for k, v in res["metrics"].items() if isinstance(v, dict)}}


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


def _prepare(model, tokenizer, splits, oracle, n_folds: int, eval_kwargs: dict):
    if oracle is None:
        raise ConfigError("protocols evaluate every step against the oracle model: pass --oracle MODEL_DIR "
                          "(saved oracle results cover only the full forget set)")
    oracle_model = resolve_oracle(oracle, tokenizer, model)
    forget = splits.forget or splits.forget_texts
    by_person = None not in {r.get("person") for r in forget}
    folds = fold_keys(forget, n_folds)
    target = evaluate(model, tokenizer, splits, oracle=(oracle_model, tokenizer), name="target", **eval_kwargs)
    return oracle_model, by_person, folds, target


def _unlearn(model, tokenizer, splits, method, overrides, unlearn):
    if unlearn is None:
        from obliviate.engine import unlearn
    return unlearn(model, tokenizer, splits.forget, splits.retain, method, overrides)


def _step(model, tokenizer, step_splits, oracle_model, target, log, oracle_dir, eval_kwargs):
    cost = dict((log or {}).get("totals") or {})
    o_cost = oracle_cost(oracle_dir) if oracle_dir is not None else None
    if o_cost:
        cost["oracle"] = o_cost
        if (ratio := cost_ratio(cost.get("wall_time_s"), o_cost.get("wall_time_s"))) is not None:
            cost["cost_ratio"] = ratio
    return evaluate(model, tokenizer, step_splits, oracle=(oracle_model, tokenizer),
                    target_results=target, cost=cost, **eval_kwargs)


def scalability(model, tokenizer, splits, oracle, sizes=(1, 2, 3, 4), method: str = "npo", overrides=None,
                unlearn=None, **eval_kwargs) -> dict:
    """C5: for each size k, unlearn folds 1..k from a fresh copy of the target; evaluate on folds 1..k."""
    sizes = sorted(set(int(s) for s in sizes))
    if not sizes or sizes[0] < 1:
        raise ConfigError(f"--sizes must be positive integers (numbers of folds): got {sizes}")
    oracle_model, by_person, folds, target = _prepare(model, tokenizer, splits, oracle, sizes[-1], eval_kwargs)
    rows, last = [], None
    for k in sizes:
        keys = {key for fold in folds[:k] for key in fold}
        step_splits = restrict(splits, keys, by_person)
        m, log = _unlearn(copy.deepcopy(model), tokenizer, step_splits, method, overrides, unlearn)
        last = _step(m, tokenizer, step_splits, oracle_model, target, log, _dir(oracle), eval_kwargs)
        rows.append(_row("size", k, last, len(step_splits.forget or step_splits.forget_texts)))
    return _finish(last, "scalability", method, rows, "size", target)


def sustainability(model, tokenizer, splits, oracle, requests: int = 4, method: str = "npo", overrides=None,
                   unlearn=None, **eval_kwargs) -> dict:
    """C6: request i unlearns fold i starting from the model after request i−1; evaluate on folds 1..i."""
    if requests < 1:
        raise ConfigError(f"--requests must be >= 1: got {requests}")
    oracle_model, by_person, folds, target = _prepare(model, tokenizer, splits, oracle, requests, eval_kwargs)
    rows, last, current = [], None, copy.deepcopy(model)
    for i in range(1, requests + 1):
        current, log = _unlearn(current, tokenizer, restrict(splits, set(folds[i - 1]), by_person), method,
                                overrides, unlearn)
        so_far = restrict(splits, {key for fold in folds[:i] for key in fold}, by_person)
        last = _step(current, tokenizer, so_far, oracle_model, target, log, _dir(oracle), eval_kwargs)
        rows.append(_row("request", i, last, len(so_far.forget or so_far.forget_texts)))
    return _finish(last, "sustainability", method, rows, "request", target)


def _dir(oracle):
    return oracle if isinstance(oracle, str) else None


def _finish(last: dict, name: str, method: str, rows: list[dict], label: str, target: dict) -> dict:
    """The last step's full results, plus the protocol's per-step rows and C1–C4 table."""
    out = dict(last)
    out["name"] = method
    out["protocol"] = {"name": name, "criterion": "C5" if name == "scalability" else "C6", "method": method,
                       "steps": rows, "table": table(rows, label),
                       "target": {k: v["value"] for k, v in target["metrics"].items()}}
    out["conventions"] = {**last["conventions"], "protocol": (
        "forget set cut into disjoint folds along persons; step k is evaluated on folds 1..k against the same "
        "oracle (trained without any fold); C4 compares with the target evaluated on the full forget set")}
    return out
