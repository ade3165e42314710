"""Per-dataset defaults of the classifier methods: the learning-rate sweep, and the check of the shipped defaults.

    .venv/bin/python bench/vision_sweep.py --sweep [--data fashion-mnist] [--seeds 1] [--methods ga --factors 0.01,0.03]
    .venv/bin/python bench/vision_sweep.py --check [--data digits,fashion-mnist] [--seeds 3]

Both run every cell through the vision experiment (`experiment.run_scenario`, whose `unlearn_method` applies the
dataset's shipped defaults, configs/vision/DATASET.yaml, under the cell's overrides), on random 10% and class-wise
(class 0) forgetting, against the oracle retrained on retain only (same recipe and seed). Per seed the original and
the two oracles are trained once and shared by every cell.

--sweep: each method's lr at {0.1, 0.3, 1}x (ga, scrub: the two that failed at digits' values) or {0.3, 1, 3}x
(the others) its digits value; ssd has no lr, its selection threshold alpha takes {3, 10, 30}; retrain is the
oracle's recipe and is not swept; concept is class-wise only. The best cell of a method is the one with the lowest
avg_gap (mean over scenarios and seeds) among cells that did not diverge (`experiment.diverged`) in any run.
--check: every method at its shipped default; a table per dataset and scenario (mean ± std over seeds, and how
many seeds diverged). Fashion-MNIST is a stratified subsample (--fashion-train/--fashion-test; 0 = all).
Prints one line per run on stderr, tables on stdout, and last one line of JSON.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
import torch

from obliviate.methods.registry import available
from obliviate.vision import experiment
from obliviate.vision.data import FASHION_MNIST_DIR, forget_split, load_digits, load_fashion_mnist
from obliviate.vision.defaults import method_defaults
from obliviate.vision.loop import fit
from obliviate.vision.models import build_model

COLUMNS = ("UA", "RA", "TA", "MIA_efficacy", "avg_gap")
LOW = ("ga", "scrub")  # diverged / collapsed on Fashion-MNIST at digits' lr: search below it
CLASS_ONLY = ("concept",)  # removes one class's concepts: meaningless on a random forget set


def grid(method: str, factors: tuple[float, ...] | None = None) -> list[tuple[tuple[str, str], ...]]:
    """The cells of `method`: tuples of (key, value) overrides. `factors` replaces the lr (ssd: alpha) multipliers."""
    if method == "ssd":
        return [(("alpha", f"{10.0 * f:.3g}"),) for f in (factors or (0.3, 1.0, 3.0))]
    key = "inner.lr" if method == "prune_first" else "lr"
    base = method_defaults(method)[key]
    factors = factors or ((0.1, 0.3, 1.0) if method in LOW else (0.3, 1.0, 3.0))
    return [((key, f"{base * f:.3g}"),) for f in factors]


def scenarios_of(method: str) -> tuple[str, ...]:
    return ("class",) if method in CLASS_ONLY else experiment.SCENARIOS


def load(name: str, a: argparse.Namespace):
    if name == "digits":
        return load_digits()
    return load_fashion_mnist(a.fashion_path, a.fashion_train or None, a.fashion_test or None)


def prepared(data, seeds):
    """seed -> (original, its log, {scenario: (oracle, its log)}), each trained with the dataset's recipe."""
    exp = experiment.Experiment(seeds=tuple(seeds))
    recipe = experiment.train_recipe(data.name)
    out = {}
    for seed in seeds:
        original = fit(build_model(data.input_shape, data.num_classes, seed), data.train(), seed, **recipe)
        oracles = {}
        for scenario in experiment.SCENARIOS:
            _, r_idx = forget_split(data.y_train, scenario, data.num_classes, exp.fraction,
                                               exp.forget_class, seed)
            retain = torch.utils.data.Subset(data.train(), r_idx.tolist())
            oracles[scenario] = fit(build_model(data.input_shape, data.num_classes, seed), retain, seed, **recipe)
        print(f"{data.name} seed {seed}: original and oracles trained ({original[1]['wall_time_s']:.1f} s each)",
              file=sys.stderr)
        out[seed] = (*original, oracles)
    return out


def run_cell(data, models, method: str, cell=()) -> dict[str, list[dict]]:
    """scenario -> per-seed {metrics, diverged} of `method` with the overrides `cell`, through the experiment."""
    exp = experiment.Experiment(seeds=tuple(models), methods=(method,),
                                overrides=tuple((method, k, v) for k, v in cell))
    out = {}
    for scenario in scenarios_of(method):
        out[scenario] = []
        for seed, (original, log, oracles) in models.items():
            r = experiment.run_scenario(data, exp, scenario, seed, original, log,
                                        say=lambda s: print(s, file=sys.stderr), oracle=oracles[scenario])
            out[scenario].append({"metrics": r[method]["metrics"], "diverged": r[method]["diverged"],
                                  "time_s": r[method]["cost"].get("wall_time_s"),
                                  "oracle": r["_oracle_metrics"], "target": r["target"]["metrics"]})
    return out


def mean_std(vals: list[float]) -> list[float]:
    vals = [v for v in vals if v is not None and math.isfinite(v)]
    if not vals:
        return [math.nan, math.nan]
    return [float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0]


def sweep(data, seeds, methods, factors=None) -> dict:
    models = prepared(data, seeds)
    result = {}
    for method in methods:
        cells = []
        for cell in grid(method, factors):
            runs = run_cell(data, models, method, cell)
            every = [r for per in runs.values() for r in per]
            gaps = [r["metrics"]["avg_gap"] for r in every]
            cells.append({"cell": dict(cell), "avg_gap": mean_std(gaps)[0],
                          "diverged": sum(bool(r["diverged"]) for r in every), "runs": len(every),
                          "per_scenario": {s: {c: mean_std([r["metrics"].get(c) for r in per]) for c in COLUMNS}
                                           for s, per in runs.items()}})
        ok = [c for c in cells if c["diverged"] == 0 and math.isfinite(c["avg_gap"])]
        best = min(ok, key=lambda c: c["avg_gap"]) if ok else None
        result[method] = {"cells": cells, "best": best["cell"] if best else None}
        print(f"\n### {method} on {data.name} ({len(seeds)} seed(s)): best {best['cell'] if best else 'none'}")
        print("| cell | avg_gap (both scenarios) | diverged runs | random UA/RA/MIA | class UA/RA/MIA |")
        print("|---|---|---|---|---|")
        for c in cells:
            ps = c["per_scenario"]
            show = {s: "/".join(f"{ps[s][k][0]:.1f}" for k in ("UA", "RA", "MIA_efficacy")) if s in ps else ""
                    for s in experiment.SCENARIOS}
            print(f"| {c['cell']} | {c['avg_gap']:.2f} | {c['diverged']}/{c['runs']} | {show['random']} | "
                  f"{show['class']} |")
    return result


def _row(per: list[dict], key: str = "metrics") -> dict:
    row = {c: mean_std([r[key].get(c) for r in per]) for c in COLUMNS}
    if key == "metrics":
        row["diverged"] = sum(bool(r["diverged"]) for r in per)
        row["why"] = [r["diverged"] for r in per if r["diverged"]]
        row["time_s"] = mean_std([r["time_s"] for r in per])
    return row


def check(data, seeds, methods) -> dict:
    """scenario -> name -> {metric: [mean, std], diverged: seeds that diverged}, oracle and target included."""
    models = prepared(data, seeds)
    rows: dict[str, dict] = {s: {} for s in experiment.SCENARIOS}
    for method in methods:
        for scenario, per in run_cell(data, models, method).items():
            if not rows[scenario]:  # the oracle's and the original's own figures, once per scenario
                rows[scenario]["oracle"] = {**_row(per, "oracle"), "avg_gap": [0.0, 0.0]}
                rows[scenario]["target"] = _row(per, "target")
            rows[scenario][method] = _row(per)
    for scenario, table in rows.items():
        print(f"\n### {data.name}, {scenario} forgetting: shipped defaults, {len(seeds)} seeds (mean ± std)\n")
        print("| method | " + " | ".join(COLUMNS) + " | diverged |")
        print("|---|" + "---|" * (len(COLUMNS) + 1))
        for name, row in table.items():
            cells = [f"{row[c][0]:.2f} ± {row[c][1]:.2f}" for c in COLUMNS]
            div = f"{row['diverged']}/{len(seeds)}" if "diverged" in row else ""
            print(f"| {name} | " + " | ".join(cells) + f" | {div} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--sweep", action="store_true")
    mode.add_argument("--check", action="store_true")
    p.add_argument("--data", default=None, help="comma-separated: digits, fashion-mnist (sweep: fashion-mnist; "
                                                "check: both)")
    p.add_argument("--seeds", type=int, default=None, help="sweep: 1, check: 3")
    p.add_argument("--methods", default=None, help="comma-separated (default: every vision method)")
    p.add_argument("--factors", default=None, help="sweep: comma-separated lr multipliers of the digits value, "
                                                   "in place of the built-in ones (e.g. 0.01,0.03 to go lower)")
    p.add_argument("--fashion-path", default=str(FASHION_MNIST_DIR))
    p.add_argument("--fashion-train", type=int, default=5000, help="0 = the full 60k training set")
    p.add_argument("--fashion-test", type=int, default=1000, help="0 = the full 10k test set")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    names = (a.data or ("fashion-mnist" if a.sweep else "digits,fashion-mnist")).split(",")
    seeds = list(range(a.seeds or (1 if a.sweep else 3)))
    every = [m for m in available("vision") if m != "retrain" or a.check]
    methods = a.methods.split(",") if a.methods else every
    out: dict = {"mode": "sweep" if a.sweep else "check", "seeds": seeds, "methods": methods,
                 "fashion_subsample": [a.fashion_train, a.fashion_test]}
    start = time.perf_counter()
    for name in names:
        data = load(name, a)
        factors = tuple(float(f) for f in a.factors.split(",")) if a.factors else None
        out[name] = sweep(data, seeds, methods, factors) if a.sweep else check(data, seeds, methods)
        out[name + "_sizes"] = {"train": len(data.y_train), "test": len(data.y_test)}
    out["total_s"] = time.perf_counter() - start
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
