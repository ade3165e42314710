"""`obliviate vision demo`: every classifier method on digits (or Fashion-MNIST, or a CSV), against the oracle.

Writes OUT/SCENARIO/NAME/results.json for the target (the original model, name "target"), the oracle and each method (scenario = random | class),
and OUT/SCENARIO/report.html through `obliviate.report` when it is installed. `--quick`: one seed, shorter training.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from obliviate._atomic import atomic_dir
from obliviate.results import build_results, env_info, write_results

from . import experiment
from .data import ClassData
from .metrics import CONVENTIONS

SCENARIO_TEXT = {"random": "random forgetting of {fraction:.0%} of the training samples",
                 "class": "class-wise forgetting of class {forget_class}"}


def results_for(name: str, scenario: str, runs: list[dict], data: ClassData, exp: experiment.Experiment,
                model_name: str) -> dict[str, Any]:
    """One results.json (schema v1, track vision) for `name` over all seeds of one scenario."""
    seeds = list(exp.seeds)
    sizes = runs[0]["_sizes"]
    ok = [r for r in runs if r[name].get("log")] or runs
    config = {"method": ok[0][name]["config"], "scenario": scenario, "scenario_text":
              SCENARIO_TEXT[scenario].format(fraction=exp.fraction, forget_class=exp.forget_class),
              "sizes": sizes, "data": data.describe(), "model": model_name,
              "train_epochs": experiment.train_recipe(data.name, exp.train_epochs).get("epochs", exp.train_epochs)}
    oracle = {"source": "retrained from scratch on retain only, same recipe and seed as the original",
              "metrics": experiment.aggregate([r["_oracle_metrics"] for r in runs])}
    oracle["metrics"]["avg_gap"] = experiment.aggregate([{"avg_gap": 0.0}] * len(runs))["avg_gap"]
    return build_results(
        config, experiment.aggregate([r[name]["metrics"] for r in runs]), conventions=CONVENTIONS,
        cost=experiment.aggregate_cost([r[name]["cost"] for r in runs]), oracle=oracle,
        env=env_info(seed=seeds[0], device="cpu"), name=name, track="vision", seeds=seeds,
        per_seed_logs=[{"seed": seed, "error": r[name].get("error")} if not r[name].get("log") else
                       {"seed": seed, "epoch_loss": r[name]["log"]["epoch_loss"],
                        "trainable_fraction": r[name]["log"].get("trainable_fraction")}
                       for seed, r in zip(seeds, runs, strict=True)],
    )


def write_all(out: Path, runs: dict[str, list[dict]], data: ClassData, exp: experiment.Experiment,
              say: Callable[[str], None] = print) -> dict[str, Any]:
    """Write every results.json and the reports under `out` (atomically). Returns paths written."""
    from .models import build_model

    model_name = type(build_model(data.input_shape, data.num_classes)).__name__
    written: dict[str, Any] = {"results": [], "reports": [], "report_builder": False}
    with atomic_dir(out) as tmp:
        for scenario, per_seed in runs.items():
            for name in ("target", "oracle", *exp.methods):
                write_results(tmp / scenario / name / "results.json",
                              results_for(name, scenario, per_seed, data, exp, model_name))
                written["results"].append(out / scenario / name / "results.json")
    # reports after the rename, so that they cite the final paths of the results (each is written atomically)
    for scenario in runs:
        text = SCENARIO_TEXT[scenario].format(fraction=exp.fraction, forget_class=exp.forget_class)
        files = [p for p in written["results"] if p.parent.parent.name == scenario]
        report = _write_report(files, out / scenario / "report.html", f"obliviate vision: {data.name}, {text}")
        if report:
            written["reports"].append(report)
            written["report_builder"] = True
            say(f"report: {report}")
    return written


def _write_report(files: list[Path], out: Path, title: str) -> Path | None:
    try:
        from obliviate.report import write_report
    except ImportError:  # the report builder is a separate package; results.json stand on their own
        return None
    return write_report(files, out, title=title)


def demo(data: ClassData, out: str | Path, quick: bool = False, seeds: int = 3, methods: tuple[str, ...] | None = None,
         fraction: float = 0.1, forget_class: int = 0, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the experiment (quick: 1 seed, 15 training epochs) and write its results and reports."""
    exp = experiment.Experiment(seeds=tuple(range(1 if quick else seeds)), fraction=fraction,
                                forget_class=forget_class, train_epochs=15 if quick else None,
                                **({"methods": tuple(methods)} if methods else {}))
    runs = experiment.run(data, exp, say)
    return write_all(Path(out), runs, data, exp, say)
