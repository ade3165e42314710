"""The spine: `run(spec)` composes the stages of one unlearning run, and nothing else does.

    results = obliviate.run("configs/persons-npo.yaml")            # or a dict, or a RunSpec
    results = obliviate.run(spec, sets=["train.epochs=3"])

spec → data.load_splits → models.load (+ LoRA, prune, mask) → engine.unlearn (curve hook) → eval.evaluate against the
oracle (cost always filled) → audit (optional) → OUT/results.json (→ OUT/report.html). The CLI (`obliviate run`, `obliviate unlearn
--config`), the demo, the MUSE C5/C6 protocols and the sweep all call it. A caller that already holds a stage
(the protocols hold restricted splits and a model in memory) passes it in `Stages`; the rest is loaded from the
spec.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._lazy import callable_module
from .spec import RunSpec, load_spec

COST_KEYS = ("wall_time_s", "steps", "tokens", "peak_memory_mb")
NO_ORACLE_COST = ("oracle training cost unknown: give eval.oracle (a model folder with train.json) or oracle "
                  "results whose cost block has it")


@dataclass
class Stages:
    """What a run works on. Any field left None is loaded from the spec by `load_stages`."""

    splits: Any = None  # what is unlearned (forget, retain) and, unless eval_splits is given, evaluated
    eval_splits: Any = None  # evaluate on these instead (a protocol step: unlearn one request, judge all so far)
    model: Any = None
    tokenizer: Any = None
    oracle: Any = None  # an oracle to score: (model, tokenizer), or a model sharing the tokenizer; or None
    oracle_results: dict | None = None  # saved oracle per-item values (used instead of scoring `oracle`)
    target_results: dict | None = None
    training: dict | None = None  # {"target": ..., "oracle": ...} memorisation summaries
    oracle_train: dict | None = None  # the oracle's training cost (train.json's totals)


def run(spec: RunSpec | dict | str | Path, *, sets: list[str] | dict | None = None,
        stages: Stages | None = None) -> dict:
    """Unlearn and evaluate as `spec` says; write OUT/run.json, OUT/results.json (and the model, the report)."""
    spec = load_spec(spec, sets)
    if spec.eval.step_oracles is not None:
        from .errors import ConfigError

        raise ConfigError(f"eval.step_oracles: per-step oracles judge the steps of a protocol (obliviate.protocols, "
                          f"`obliviate eval --protocol`); rule: a single run uses eval.oracle "
                          f"(got {spec.eval.step_oracles!r})")
    return execute(spec, load_stages(spec, stages))[1]


def load_stages(spec: RunSpec, given: Stages | None = None) -> Stages:
    """Fill every stage the caller did not pass, from the spec's paths."""
    from .data import load_splits
    from .models import load
    from .models.corpus import read_train_log
    from .models.train import training_summary
    from .results import read_results

    s = given or Stages()
    if s.splits is None:
        s.splits = load_splits(spec.data, forget=spec.forget, retain=spec.retain)
    if s.model is None:
        s.model, s.tokenizer = load(spec.model, trust_remote_code=spec.trust_remote_code)
    ev = spec.eval
    if s.oracle_results is None and ev.oracle_results:
        s.oracle_results = read_results(ev.oracle_results)
    if s.oracle is None and ev.oracle and s.oracle_results is None:
        s.oracle = load(ev.oracle, trust_remote_code=spec.trust_remote_code)
    if s.target_results is None and ev.target_results:
        s.target_results = read_results(ev.target_results)
    oracle_log = read_train_log(ev.oracle) if ev.oracle and Path(ev.oracle).is_dir() else None
    if s.oracle_train is None:
        s.oracle_train = (train_cost(oracle_log) if oracle_log
                          else ((s.oracle_results or {}).get("cost") or {}).get("oracle"))
    if s.training is None:
        target_log = read_train_log(spec.model) if Path(spec.model).is_dir() else None
        oracle = training_summary(oracle_log) or ((s.oracle_results or {}).get("training") or {}).get("oracle")
        s.training = {k: v for k, v in (("target", training_summary(target_log)), ("oracle", oracle)) if v} or None
    return s


def execute(spec: RunSpec, s: Stages):
    """Unlearn, evaluate, write; returns (unlearned model, results). `s` must be complete (`load_stages`)."""
    from ._atomic import atomic_write_json
    from .engine import unlearn
    from .engine.hooks import build_step_hooks
    from .eval.suite import evaluate
    from .models.spread import world
    from .results import write_results

    if spec.guard is not None:  # an ECO guard in place of unlearning: the weights are not changed
        from .guard.step import execute_guard

        return execute_guard(spec, s)
    out = Path(spec.out)
    # 1. the curve: a cheap log-prob evaluation every few steps, against the saved oracle values
    overrides = spec.overrides() | curve_stride(spec, len(s.splits.forget or []))
    hook = _curve_hook(spec, s)
    # 2. unlearn
    t_mask = time.perf_counter()
    masks, mask_conventions = load_masks(spec, s, overrides)
    t_mask = time.perf_counter() - t_mask
    model, log = unlearn(s.model, s.tokenizer, s.splits.forget, s.splits.retain or [], spec.method.name, overrides,
                         eval_hook=hook, out=out if spec.save_model else None,
                         lora=spec.lora.model_dump() if spec.lora else None, masks=masks, resume=spec.resume,
                         step_hooks=build_step_hooks(spec.uoe, spec.adversary), stop=holdout_stop(spec, s))
    first = world()[0] == 0  # under torchrun / accelerate launch, one process writes (evaluation is shared out)
    if not spec.save_model and first:
        atomic_write_json(out / "run.json", log)
    # 3. cost, always filled: the unlearning totals without the hook's time, against retraining the oracle
    cost = unlearning_cost(log["totals"], hook.seconds if hook else 0.0, s.oracle_train)
    if masks is not None:  # pruning and scoring the mask: a cost of the run, outside the engine's totals
        cost["mask_wall_time_s"] = round(t_mask, 3)
    # 4. evaluate against the oracle (saved per-item values, or the oracle model scored now)
    config = {"spec": spec.model_dump(mode="json"), **log["config"]}
    oracle = None
    if s.oracle is not None and s.oracle_results is None:
        oracle = s.oracle if isinstance(s.oracle, tuple) else (s.oracle, s.tokenizer)
    results = evaluate(model, s.tokenizer, s.eval_splits or s.splits, oracle=oracle, oracle_results=s.oracle_results,
                       target_results=s.target_results, suite=spec.eval.suite, config=config, cost=cost,
                       name=spec.label, seed=spec.seed, batch_size=spec.eval.batch_size,
                       training=s.training, recycle=spec.eval.token_recycling, packed=spec.eval.packed_scoring)
    start = ([{"step": 0, "epoch": 0.0, "metrics": metric_values(s.target_results["metrics"], spec.eval.curve_metrics)}]
             if hook and s.target_results else [])
    results["curve"] = [*start, *log["curve"]]
    results["conventions"].update(mask_conventions)
    for h in log["config"].get("step_hooks") or []:  # run options (UOE, LAT) state what they assumed
        if h.get("convention"):
            results["conventions"][h["option"]] = h["convention"]
    if "stop" in log:
        results["stop"] = log["stop"]
        if log["stop"].get("convention"):  # a finish phase or the utility guard changes what "stopped" means
            results["conventions"]["stop"] = log["stop"]["convention"]
    # 5. audit: every attack on the unlearned model and on the oracle alike (identical inputs and seeds)
    if spec.audit is not None:
        results = _audit(spec, s, model, results)
    # 6. write
    if not first:
        return model, results
    write_results(out / "results.json", results)
    if spec.report:
        from .report import write_report

        write_report([out / "results.json"], out / "report.html", title=f"obliviate: {results['name']}")
    return model, results


def _audit(spec: RunSpec, s: Stages, model, results: dict) -> dict:
    """Run the spec's audit, write OUT/audit.json, and return results with the audit merged in."""
    from ._atomic import atomic_write_json
    from .audit import audit, merge_audit
    from .models import load
    from .models.spread import world

    oracle = s.oracle
    if oracle is None and spec.eval.oracle:  # scores came from saved results; attacks need the oracle model
        oracle = load(spec.eval.oracle, trust_remote_code=spec.trust_remote_code)
    found = audit(model, s.tokenizer, s.eval_splits or s.splits, oracle=oracle, attacks=spec.audit.attacks,
                  seed=spec.audit.seed, config=spec.audit.config, name=spec.label)
    if world()[0] == 0:  # several processes: every one audits (items shared out), the first writes
        atomic_write_json(Path(spec.out) / "audit.json", found)
    return merge_audit(results, found)


def holdout_stop(spec: RunSpec, s: Stages):
    """The `stop: holdout` rule bound to this run's forget and holdout records; None without `stop:`."""
    if spec.stop is None:
        return None
    from .engine.stopping import Finish, HoldoutStop, StopConfig
    from .errors import ConfigError

    if not s.splits.holdout:
        raise ConfigError(f"stop: {spec.stop.rule}: the data ({spec.data}) has no holdout split; rule: stop: holdout "
                          "needs held-out records of the forget set's distribution")
    cfg = StopConfig(every=spec.stop.every, level=spec.stop.level, min_steps=spec.stop.min_steps,
                     max_items=spec.stop.max_items, seed=spec.seed,
                     finish=Finish(spec.stop.finish, spec.stop.finish_steps),
                     retain_tolerance=spec.stop.retain_tolerance)
    return HoldoutStop(s.tokenizer, s.splits.forget, s.splits.holdout, cfg, retain=s.splits.retain)


def curve_stride(spec: RunSpec, n_forget: int) -> dict[str, int]:
    """engine.eval_every for `eval.curve_points` points over the run, unless the spec sets its own stride."""
    if not spec.eval.curve_points or {"eval_every", "eval_every_epochs"} & set(spec.engine):
        return {}
    from .config import replace_checked
    from .engine.config import TrainConfig

    train = replace_checked(TrainConfig(), spec.train)
    per_epoch = -(-n_forget // train.batch_size)
    total = train.max_steps or train.epochs * per_epoch
    return {"engine.eval_every": max(1, round(total / spec.eval.curve_points))}


def _curve_hook(spec: RunSpec, s: Stages):
    """The engine's evaluation hook, timed so that its seconds can be left out of the cost; None without a curve."""
    if not spec.eval.curve_points or s.oracle_results is None:
        return None
    from .eval.hooks import make_eval_hook

    inner = make_eval_hook(s.tokenizer, s.splits, spec.eval.curve_metrics, oracle_results=s.oracle_results)

    def hook(model, step: int, epoch: float) -> dict[str, float]:
        t0 = time.perf_counter()
        found = inner(model, step, epoch)
        hook.seconds += time.perf_counter() - t0
        return found

    hook.seconds = 0.0
    return hook


def unlearning_cost(totals: dict, hook_seconds: float, oracle_train: dict | None) -> dict:
    """Unlearning cost without the evaluation hook's time, next to the oracle's training cost and their ratio."""
    from .results import cost_ratio

    wall = max(0.0, totals["wall_time_s"] - hook_seconds)
    cost = {"wall_time_s": round(wall, 3), "steps": totals["steps"], "tokens": totals["tokens"],
            "peak_memory_mb": totals["peak_memory_mb"], "eval_hook_s": round(hook_seconds, 3),
            "oracle": oracle_train, "cost_ratio": cost_ratio(wall, (oracle_train or {}).get("wall_time_s"))}
    if cost["cost_ratio"] is None:
        cost["note"] = NO_ORACLE_COST
    return cost


def train_cost(log: dict | None) -> dict:
    """The cost block of a trained model, from its train.json."""
    return {k: (log or {}).get(k) for k in COST_KEYS}


def metric_values(metrics: dict, names) -> dict[str, float]:
    """{name: value} of the named metrics that have a value."""
    return {n: metrics[n]["value"] for n in names if n in metrics and metrics[n].get("value") is not None}


def load_masks(spec: RunSpec, s: Stages, overrides: dict) -> tuple[dict | None, dict]:
    """The spec's `mask:` (KIND:FRACTION or file:PATH) and `prune:` applied to `s.model` (pruned in place), the mask
    written to OUT/mask.safetensors: (masks for the engine, conventions for results.json); (None, {}) without."""
    from .masks.options import prepare

    return prepare(s.model, s.tokenizer, s.splits.forget, s.splits.retain or [], spec.method.name, overrides,
                   mask=spec.mask, prune=spec.prune, lora=spec.lora, out=spec.out)


callable_module(__name__)  # `obliviate.run(spec)` calls run(); `import obliviate.run` still gives this module
