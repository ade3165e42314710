"""The classifier experiment behind `obliviate vision demo` and `bench/vision.py`.

Per seed: train the original on all training data, then for each scenario (random 10% / one class) retrain the
oracle on retain only (same recipe, same seed), run every method from the original, and evaluate each against the
oracle. `aggregate` turns per-seed numbers into results.json metrics (mean, std, per-seed values).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import Subset

from obliviate.errors import DivergenceError
from obliviate.methods.registry import available, get
from obliviate.results import cost_ratio, metric

from .data import ClassData, forget_split
from .defaults import defaults_file, defaults_for
from .loop import fit, unlearn
from .metrics import GAP_METRICS, evaluate
from .metrics import cost as run_cost
from .models import build_model

SCENARIOS = ("random", "class")
REPORTED = (*GAP_METRICS, "avg_gap", "TA_forgotten_class")
RETRAIN_SEED_OFFSET = 1000  # the `retrain` method row: an independent retrain, i.e. the oracle's own noise floor


def in_demo(name: str) -> bool:
    """Whether the random/class-wise experiment runs `name` by default: a method may opt out with a class attribute
    `in_demo = False` (laf and concept have their own scenario in bench/vision_seed.py, and would double the quick
    demo's time)."""
    return bool(getattr(get(name, track="vision"), "in_demo", True))


@dataclass(frozen=True)
class Experiment:
    """What to run. train_epochs: epochs of the original and the oracle (the `retrain` recipe; None = the dataset's
    default, see `train_recipe`)."""

    seeds: tuple[int, ...] = (0, 1, 2)
    scenarios: tuple[str, ...] = SCENARIOS
    methods: tuple[str, ...] = tuple(m for m in available("vision") if in_demo(m))
    fraction: float = 0.1
    forget_class: int = 0
    train_epochs: int | None = None
    device: str = "cpu"
    overrides: tuple[tuple[str, str, str], ...] = ()  # (method, key, value): e.g. ("ga", "lr", "1e-3")

    def overrides_for(self, method: str) -> dict[str, str]:
        return {k: v for m, k, v in self.overrides if m == method}


def unlearn_method(model, forget, retain, name: str, *, dataset: str, seed: int = 0, **overrides):
    """Run method `name` with `dataset`'s shipped defaults (configs/vision/DATASET.yaml; the dataclass defaults for a
    dataset without a file) under the caller's `overrides`. Returns `loop.unlearn`'s (model, log); the log's
    `defaults` names the file used. The one way the experiment, the sweep and `obliviate vision unlearn` run one."""
    shipped = defaults_for(dataset, name)
    if "inner" in overrides:  # prune_first with another inner method: the shipped inner.* keys were for the old one
        shipped = {k: v for k, v in shipped.items() if not k.startswith("inner")}
    new, log = unlearn(model, forget, retain, name, seed=seed, **{**shipped, **overrides})
    path = defaults_file(dataset)
    log["defaults"] = f"configs/vision/{path.name}" if path and shipped else "dataclass"
    return new, log


def train_recipe(dataset: str, epochs: int | None = None) -> dict[str, Any]:
    """Overrides for `loop.fit` (the `retrain` recipe that trains the original and the oracle) on `dataset`: its
    shipped `retrain` entry, with `epochs` when given."""
    return {**defaults_for(dataset, "retrain"), **({"epochs": epochs} if epochs is not None else {})}


CHANCE_FACTOR = 2.0  # RA below 2x chance (20% on 10 classes) = collapsed: a working model is far above it


def diverged(epoch_loss: list[float] | None, retain_accuracy: float, num_classes: int) -> str | None:
    """The divergence rule: why a run counts as diverged, or None. It diverged when its loss became non-finite (no
    curve: the loop stopped it with a DivergenceError) or when its retain accuracy (%) fell below CHANCE_FACTOR x
    chance (100 / num_classes): the model no longer tells the classes it should keep apart."""
    if epoch_loss is None or not all(math.isfinite(v) for v in epoch_loss):
        return "non-finite loss"
    if not math.isfinite(retain_accuracy):
        return "non-finite retain accuracy"
    floor = CHANCE_FACTOR * 100.0 / num_classes
    if retain_accuracy < floor:
        return f"retain accuracy {retain_accuracy:.1f}% < {floor:.0f}% ({CHANCE_FACTOR:g}x chance)"
    return None


def _entry(scores: dict, log: dict | None, config: dict) -> dict[str, Any]:
    return {"metrics": {k: v for k, v in scores.items() if k in REPORTED}, "cost": scores.get("cost", {}),
            "config": config, "log": log}


def run_scenario(data: ClassData, exp: Experiment, scenario: str, seed: int, original, original_log,
                 say: Callable[[str], None] = print, oracle: tuple | None = None) -> dict[str, dict]:
    """Oracle, original and every method on one scenario and seed: name → {metrics, cost, config, log, diverged}.
    `oracle`: (model, log) already trained on this scenario's retain set (a sweep reuses it); else trained here."""
    full, test = data.train(), data.test()
    f_idx, r_idx = forget_split(data.y_train, scenario, data.num_classes, exp.fraction, exp.forget_class, seed)
    forget, retain = Subset(full, f_idx.tolist()), Subset(full, r_idx.tolist())
    fc = exp.forget_class if scenario == "class" else None
    recipe = train_recipe(data.name, exp.train_epochs)
    oracle, oracle_log = oracle or fit(build_model(data.input_shape, data.num_classes, seed).to(exp.device), retain,
                                       seed, **recipe)
    ref = evaluate(oracle, forget, retain, test, forget_class=fc, seed=seed)
    ref.pop("cost")
    own = dict(ref, avg_gap=0.0, cost=run_cost(oracle_log))
    out = {"oracle": _entry(own, oracle_log, oracle_log["config"]),
           "target": _entry(evaluate(original, forget, retain, test, oracle=ref, forget_class=fc,
                                       log=original_log, oracle_log=oracle_log, seed=seed),
                              original_log, original_log["config"])}
    for name in exp.methods:
        extra = {"epochs": recipe["epochs"]} if name == "retrain" and "epochs" in recipe else {}
        run_seed = seed + RETRAIN_SEED_OFFSET if name == "retrain" else seed
        start = time.perf_counter()
        try:
            new, log = unlearn_method(original, forget, retain, name, dataset=data.name, seed=run_seed,
                                      **{**extra, **exp.overrides_for(name)})
        except DivergenceError as e:  # a diverged method is a result (metrics null, the error kept), not a crash
            say(f"  [{scenario} seed {seed}] {name:12s} FAILED: {e}")
            nan = dict.fromkeys((*GAP_METRICS, "avg_gap", *(["TA_forgotten_class"] if fc is not None else [])),
                                math.nan)
            out[name] = {"metrics": nan, "cost": {}, "config": {"method": name}, "log": None, "error": str(e),
                         "diverged": diverged(None, math.nan, data.num_classes)}
            continue
        scores = evaluate(new, forget, retain, test, oracle=ref, forget_class=fc, log=log, oracle_log=oracle_log,
                          seed=seed)
        out[name] = _entry(scores, log, log["config"])
        out[name]["diverged"] = diverged(log["epoch_loss"], scores["RA"], data.num_classes)
        flag = f"  DIVERGED: {out[name]['diverged']}" if out[name]["diverged"] else ""
        say(f"  [{scenario} seed {seed}] {name:12s} UA {scores['UA']:6.2f} RA {scores['RA']:6.2f} "
            f"TA {scores['TA']:6.2f} MIA {scores['MIA_efficacy']:6.2f} gap {scores['avg_gap']:5.2f} "
            f"({time.perf_counter() - start:.1f}s){flag}")
    out["_oracle_metrics"] = ref
    out["_sizes"] = {"forget": len(f_idx), "retain": len(r_idx), "test": len(test), "forget_class": fc}
    return out


def run(data: ClassData, exp: Experiment, say: Callable[[str], None] = print) -> dict[str, list[dict]]:
    """scenario → list (one per seed) of run_scenario's outputs."""
    runs: dict[str, list[dict]] = {s: [] for s in exp.scenarios}
    for seed in exp.seeds:
        original, log = fit(build_model(data.input_shape, data.num_classes, seed).to(exp.device), data.train(), seed,
                            **train_recipe(data.name, exp.train_epochs))
        say(f"seed {seed}: original trained in {log['wall_time_s']:.1f}s")
        for scenario in exp.scenarios:
            runs[scenario].append(run_scenario(data, exp, scenario, seed, original, log, say))
    return runs


def aggregate(per_seed: list[dict[str, float]]) -> dict[str, dict]:
    """Per-seed metric dicts → {name: METRIC} with value = mean, per_item = per-seed values, std (ddof 1)."""
    out = {}
    for name in REPORTED:
        vals = [s[name] for s in per_seed if name in s]
        if vals:
            std = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
            out[name] = metric(vals, std=std)
    return out


def aggregate_cost(costs: list[dict]) -> dict[str, Any]:
    """Mean wall time over seeds (steps, samples from the first seed: they do not depend on it)."""
    costs = [c for c in costs if c]  # seeds whose run failed have no cost
    if not costs:
        return {}
    out = {k: costs[0].get(k) for k in ("steps", "samples", "tokens")}
    out["wall_time_s"] = float(np.mean([c["wall_time_s"] for c in costs]))
    out["peak_memory_mb"] = max(c.get("peak_memory_mb") or 0.0 for c in costs)
    if "oracle" in costs[0]:
        out["oracle"] = aggregate_cost([c["oracle"] for c in costs])
        out["cost_ratio"] = cost_ratio(out["wall_time_s"], out["oracle"]["wall_time_s"])
    return out
