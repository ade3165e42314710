"""Scenario runners behind `bench/vision_seed.py`, one per seed paper: regression (Tarun et al.), corrective
(Goel et al.), the N-oracle challenge score, worst-case forget sets (Fan et al.). Each runs one seed and returns
{row name: {metric: value}}; the bench averages over seeds and prints the tables.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.utils.data import Subset

from obliviate.errors import DivergenceError

from . import challenge, corrective
from .data import ClassData, forget_split
from .experiment import unlearn_method
from .loop import fit
from .metrics import evaluate
from .models import build_model

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def regression_scenario(seed: int, methods: Sequence[str], fraction: float = 0.1, say: Say = _quiet) -> dict:
    """Diabetes, random `fraction` forgotten: original, oracle and each method's MAEs, MIA_member and reg_gap."""
    from .regression import build_regressor, load_diabetes
    from .regression import evaluate as reg_eval
    from .regression import fit as reg_fit
    from .regression import unlearn as reg_unlearn

    data = load_diabetes()
    f, r = data.forget_split(fraction, seed)
    forget, retain, test = data.subset(f), data.subset(r), data.test()
    original, _ = reg_fit(build_regressor(data, seed), data.train(), seed)
    oracle, _ = reg_fit(build_regressor(data, seed), retain, seed)
    ref = reg_eval(oracle, forget, retain, test, seed=seed)
    out = {"oracle": {**ref, "reg_gap": 0.0}, "original": reg_eval(original, forget, retain, test, ref, seed)}
    for name in methods:
        run_seed = seed + 1000 if name == "retrain" else seed
        new, log = reg_unlearn(original, forget, retain, name, seed=run_seed)
        out[name] = {**reg_eval(new, forget, retain, test, ref, seed), "time_s": log["wall_time_s"]}
        say(f"  [regression seed {seed}] {name}: gap {out[name]['reg_gap']:.3f}")
    return out


def corrective_scenario(data: ClassData, seed: int, methods: Sequence[str], kind: str = "backdoor",
                        count: int = 100, fractions: Sequence[float] = (0.1, 0.5, 1.0), train_epochs: int = 30,
                        say: Say = _quiet) -> dict:
    """Poison `count` items, train the original on them and the oracle without them; per identified fraction, each
    method on forget = the identified items: clean_accuracy and attack_success. Rows are "method@fraction"."""
    p = corrective.poison(data, count, kind, seed)
    full = p.data.train()
    original, _ = fit(build_model(data.input_shape, data.num_classes, seed), full, seed, epochs=train_epochs)
    _, _, clean = corrective.split(p, torch.empty(0, dtype=torch.long))
    oracle, _ = fit(build_model(data.input_shape, data.num_classes, seed), Subset(full, clean.tolist()), seed,
                    epochs=train_epochs)
    out = {"oracle": corrective.evaluate(oracle, p), "original": corrective.evaluate(original, p)}
    for frac in fractions:
        f, r, _ = corrective.split(p, corrective.identify(p, frac, seed))
        for name in methods:
            extra = {"epochs": train_epochs} if name == "retrain" else {}
            try:
                new, log = unlearn_method(original, Subset(full, f.tolist()), Subset(full, r.tolist()), name,
                                          dataset=data.name, seed=seed, **extra)
            except DivergenceError as e:
                say(f"  [corrective {kind} seed {seed}] {name}@{frac}: FAILED {e}")
                continue
            out[f"{name}@{frac:g}"] = {**corrective.evaluate(new, p), "time_s": log["wall_time_s"]}
            say(f"  [corrective {kind} seed {seed}] {name}@{frac:g}: {out[f'{name}@{frac:g}']}")
    return out


def challenge_scenario(data: ClassData, seed: int, methods: Sequence[str], n_oracles: int = 4, runs: int = 4,
                       fraction: float = 0.1, train_epochs: int = 30, say: Say = _quiet) -> dict:
    """Random `fraction` forgotten: `runs` + `n_oracles` models retrained on retain (seeds seed·100 + i); the first
    `runs` are the `retrain` row, the others the oracles. Every other method runs `runs` times from one original.
    Per row: the N-oracle forget_quality and challenge_score, beside avg_gap of its first run against the first
    oracle."""
    full, test = data.train(), data.test()
    f_idx, r_idx = forget_split(data.y_train, "random", data.num_classes, fraction, 0, seed)
    forget, retain = Subset(full, f_idx.tolist()), Subset(full, r_idx.tolist())
    original, _ = fit(build_model(data.input_shape, data.num_classes, seed), full, seed, epochs=train_epochs)
    retrained = []
    for i in range(runs + n_oracles):
        s = seed * 100 + i
        retrained.append(fit(build_model(data.input_shape, data.num_classes, s), retain, s, epochs=train_epochs)[0])
    oracles = retrained[runs:]
    oracle_outs = [challenge.model_outputs(m, forget, retain, test) for m in oracles]
    ref = evaluate(oracles[0], forget, retain, test, seed=seed)
    ref.pop("cost")
    out = {}
    for name in ("retrain", *[m for m in methods if m != "retrain"]):
        if name == "retrain":
            models = retrained[:runs]
        else:
            models = [unlearn_method(original, forget, retain, name, dataset=data.name, seed=seed * 1000 + i + 1)[0]
                      for i in range(runs)]
        score = challenge.n_oracle_score([challenge.model_outputs(m, forget, retain, test) for m in models],
                                         oracle_outs)
        out[name] = {"forget_quality": score["forget_quality"], "challenge_score": score["challenge_score"],
                     "mean_epsilon": score["mean_epsilon"],
                     "avg_gap": evaluate(models[0], forget, retain, test, oracle=ref, seed=seed)["avg_gap"]}
        say(f"  [challenge seed {seed}] {name}: {out[name]}")
    return out


def worst_case_scenario(data: ClassData, seed: int, methods: Sequence[str], fraction: float = 0.1,
                        train_epochs: int = 30, say: Say = _quiet) -> dict:
    """Random vs worst-case forget sets of the same size: per set an oracle and every method; rows "name/set"."""
    from .worst_case import select_worst

    full, test = data.train(), data.test()
    original, _ = fit(build_model(data.input_shape, data.num_classes, seed), full, seed, epochs=train_epochs)
    f_rand, _ = forget_split(data.y_train, "random", data.num_classes, fraction, 0, seed)
    f_worst = select_worst(original, full, len(f_rand), seed=seed)
    out = {}
    for kind, f_idx in (("random", f_rand), ("worst", f_worst)):
        keep = torch.ones(len(data.y_train), dtype=torch.bool)
        keep[f_idx] = False
        forget, retain = Subset(full, f_idx.tolist()), Subset(full, keep.nonzero().squeeze(1).tolist())
        oracle, _ = fit(build_model(data.input_shape, data.num_classes, seed), retain, seed, epochs=train_epochs)
        ref = evaluate(oracle, forget, retain, test, seed=seed)
        ref.pop("cost")
        out[f"oracle/{kind}"] = {**ref, "avg_gap": 0.0}
        out[f"original/{kind}"] = evaluate(original, forget, retain, test, oracle=ref, seed=seed)
        for name in methods:
            extra = {"epochs": train_epochs} if name == "retrain" else {}
            run_seed = seed + 1000 if name == "retrain" else seed
            try:
                new, _ = unlearn_method(original, forget, retain, name, dataset=data.name, seed=run_seed, **extra)
            except DivergenceError as e:
                say(f"  [worst seed {seed}] {name}/{kind}: FAILED {e}")
                continue
            out[f"{name}/{kind}"] = evaluate(new, forget, retain, test, oracle=ref, seed=seed)
            say(f"  [worst seed {seed}] {name}/{kind}: gap {out[f'{name}/{kind}']['avg_gap']:.2f}")
    return {row: {k: v for k, v in m.items() if isinstance(v, float)} for row, m in out.items()}


def laf_scenario(data: ClassData, seed: int, train_epochs: int = 30, say: Say = _quiet,
                 random_methods: Sequence[str] = ("laf", "ft", "rl"),
                 class_methods: Sequence[str] = ("concept", "rl", "scrub")) -> dict:
    """LAF (no forget labels) beside label-using methods on a random 10% forget set, and concept unlearning beside
    class-wise baselines on class 0; rows "name/random", "name/class"."""
    full, test = data.train(), data.test()
    original, _ = fit(build_model(data.input_shape, data.num_classes, seed), full, seed, epochs=train_epochs)
    out = {}
    for kind, fc, methods in (("random", None, random_methods), ("class", 0, class_methods)):
        f_idx, r_idx = forget_split(data.y_train, kind, data.num_classes, 0.1, 0, seed)
        forget, retain = Subset(full, f_idx.tolist()), Subset(full, r_idx.tolist())
        oracle, _ = fit(build_model(data.input_shape, data.num_classes, seed), retain, seed, epochs=train_epochs)
        ref = evaluate(oracle, forget, retain, test, forget_class=fc, seed=seed)
        ref.pop("cost")
        out[f"oracle/{kind}"] = {**ref, "avg_gap": 0.0}
        out[f"original/{kind}"] = evaluate(original, forget, retain, test, oracle=ref, forget_class=fc, seed=seed)
        for name in methods:
            new, log = unlearn_method(original, forget, retain, name, dataset=data.name, seed=seed)
            out[f"{name}/{kind}"] = {**evaluate(new, forget, retain, test, oracle=ref, forget_class=fc, seed=seed),
                                     "time_s": log["wall_time_s"]}
            say(f"  [laf seed {seed}] {name}/{kind}: gap {out[f'{name}/{kind}']['avg_gap']:.2f}")
    return {row: {k: v for k, v in m.items() if isinstance(v, float)} for row, m in out.items()}

