"""What `obliviate vision train | unlearn | eval` do (cli.py only parses; this module imports torch).

    obliviate vision train   --data digits --out models/target                               # all training data
    obliviate vision train   --data digits --forget random:0.1 --out models/oracle           # without the forget set
    obliviate vision unlearn --data digits --model models/target --forget random:0.1 --method salun \\
                             --set method.lr=0.01 --out runs/salun
    obliviate vision eval    --data digits --model runs/salun --oracle models/oracle --forget random:0.1 \\
                             --out runs/salun/results.json

Every model folder holds its own run.json (see `models.save_model`), so eval finds each model's cost there and
checks that the model and the oracle were made for the forget set it is asked to score.
"""
from __future__ import annotations

import argparse
from typing import Any

from torch.utils.data import Subset

from obliviate.config import parse_sets
from obliviate.errors import ConfigError
from obliviate.results import build_results, env_info, write_results

from . import experiment
from .data import ClassData, ForgetSpec, load
from .demo import SCENARIO_TEXT
from .loop import fit
from .metrics import CONVENTIONS, evaluate
from .models import build_model, load_model, save_model


def _data(args: argparse.Namespace) -> ClassData:
    kw = {"train_limit": args.train_limit} if args.data == "fashion-mnist" and args.train_limit else {}
    return load(args.data, args.path, args.label, **kw)


def _splits(data: ClassData, spec: ForgetSpec) -> tuple[Subset, Subset]:
    f_idx, r_idx = spec.split(data)
    full = data.train()
    return Subset(full, f_idx.tolist()), Subset(full, r_idx.tolist())


def _run_record(kind: str, name: str, data: ClassData, spec: ForgetSpec | None, seed: int, log: dict,
                **extra: Any) -> dict[str, Any]:
    """run.json: what made a model folder."""
    return {"kind": kind, "name": name, "data": data.describe(), "forget": str(spec) if spec else None, "seed": seed,
            **extra, "log": log}


def train_command(args: argparse.Namespace) -> int:
    """The target (all training data) or, with --forget, the oracle (the retain set only): the `retrain` recipe."""
    overrides = {k.removeprefix("train."): v for k, v in parse_sets(args.set).items()}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    data = _data(args)
    overrides = {**experiment.train_recipe(data.name), **overrides}  # the dataset's shipped `retrain` recipe first
    spec = ForgetSpec.parse(args.forget) if args.forget else None
    train_set = _splits(data, spec)[1] if spec else data.train()
    model, log = fit(build_model(data.input_shape, data.num_classes, args.seed), train_set, args.seed, **overrides)
    name = "oracle" if spec else "target"
    save_model(model, args.out, data.input_shape, data.num_classes,
               _run_record("train", name, data, spec, args.seed, log))
    print(f"trained the {name} on {len(train_set)} samples of {data.name}: {log['steps']} steps, "
          f"{log['wall_time_s']:.1f} s, final loss {log['epoch_loss'][-1]:.4f} -> {args.out}")
    return 0


def _method_overrides(pairs: list[str]) -> dict[str, str]:
    """--set method.KEY=VALUE -> {KEY: VALUE}; the vision track has no other section (train., engine.)."""
    out = {}
    for key, value in parse_sets(pairs).items():
        head, dot, rest = key.partition(".")
        if head != "method" or not dot:
            raise ConfigError(f"{key}: unknown key; valid keys start with method. (e.g. method.lr=0.01)")
        out[rest] = value
    return out


def unlearn_command(args: argparse.Namespace) -> int:
    overrides = _method_overrides(args.set)
    data = _data(args)
    spec = ForgetSpec.parse(args.forget)
    forget, retain = _splits(data, spec)
    model, _ = load_model(args.model, data.input_shape, data.num_classes)
    new, log = experiment.unlearn_method(model, forget, retain, args.method, dataset=data.name, seed=args.seed,
                                         **overrides)
    save_model(new, args.out, data.input_shape, data.num_classes,
               _run_record("unlearn", args.method, data, spec, args.seed, log, model=str(args.model)))
    print(f"unlearned {spec} with {args.method}: {log['steps']} steps, {log['samples']} samples, "
          f"{log['wall_time_s']:.1f} s -> {args.out}")
    return 0


def _check_made_for(role: str, folder: str, run: dict, spec: ForgetSpec) -> None:
    """A model made without (or unlearned on) another forget set cannot be scored against this one."""
    made_for = run.get("forget")
    if made_for is not None and made_for != str(spec):
        raise ConfigError(f"--forget {spec}: the {role} {folder} was made for forget set {made_for} "
                          f"(its run.json); pass the same --forget to train, unlearn and eval")


def eval_command(args: argparse.Namespace) -> int:
    data = _data(args)
    spec = ForgetSpec.parse(args.forget)
    model, run = load_model(args.model, data.input_shape, data.num_classes)
    _check_made_for("model", args.model, run, spec)
    oracle, oracle_run = (load_model(args.oracle, data.input_shape, data.num_classes) if args.oracle
                          else (None, {}))
    if oracle is not None:
        _check_made_for("oracle", args.oracle, oracle_run, spec)
        if oracle_run.get("kind") == "train" and oracle_run.get("forget") is None:
            raise ConfigError(f"--oracle {args.oracle}: trained on all data (a target), not without the forget set; "
                              f"make the oracle with `obliviate vision train --forget {spec}`")
    forget, retain = _splits(data, spec)
    test = data.test()
    fc = spec.forget_class if spec.scenario == "class" else None
    ref = evaluate(oracle, forget, retain, test, forget_class=fc, seed=args.seed) if oracle is not None else None
    if ref is not None:
        ref.pop("cost")
    scores = evaluate(model, forget, retain, test, oracle=ref, forget_class=fc, log=run.get("log"),
                      oracle_log=oracle_run.get("log"), seed=args.seed)
    name = args.name or run.get("name") or "model"
    log = run.get("log") or {}
    config = {"method": log.get("config", {"method": name}), "scenario": spec.scenario,
              "scenario_text": SCENARIO_TEXT[spec.scenario].format(fraction=spec.fraction,
                                                                    forget_class=spec.forget_class),
              "forget": str(spec), "sizes": {"forget": len(forget), "retain": len(retain), "test": len(test),
                                             "forget_class": fc},
              "data": data.describe(), "model": type(model).__name__, "model_folder": str(args.model),
              "oracle_folder": args.oracle}
    oracle_block = {}
    if ref is not None:
        oracle_block = {"source": f"oracle model {args.oracle} ({oracle_run.get('kind', 'unknown')}, "
                                  f"forget set {oracle_run.get('forget')})",
                        "metrics": experiment.aggregate([dict(ref, avg_gap=0.0)])}
    results = build_results(
        config, experiment.aggregate([scores]), conventions=CONVENTIONS, cost=scores["cost"],
        oracle=oracle_block, env=env_info(seed=args.seed, device="cpu"), name=name, track="vision",
        seeds=[args.seed], per_seed_logs=[{"seed": args.seed, "epoch_loss": log.get("epoch_loss"),
                                           "trainable_fraction": log.get("trainable_fraction")}],
    )
    write_results(args.out, results)
    gap = f", avg_gap {scores['avg_gap']:.2f}" if "avg_gap" in scores else " (no oracle: no avg_gap)"
    print(f"{name}: UA {scores['UA']:.2f} RA {scores['RA']:.2f} TA {scores['TA']:.2f} "
          f"MIA {scores['MIA_efficacy']:.2f}{gap} -> {args.out}")
    return 0
