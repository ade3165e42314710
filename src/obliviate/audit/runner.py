"""`audit(model, tokenizer, splits, oracle=...)`: run the chosen attacks on the model and the oracle alike and
return the audit.json content (schema: docs/results.md, "audit.json").

    from obliviate.audit import audit
    report = audit(model, tok, load_splits("corpus/"), oracle="models/oracle", attacks=["quantize", "probes"])

Attack names not in `ATTACKS` are an error listing the valid ones. An attack the data does not allow is `n/a` with
the reason (naming the missing field) when it was implied (attacks=None: all of them), and an error when it was
asked for by name: the user wanted that answer, and a silent `n/a` would hide that it cannot be given.

A model behind an ECO guard or O3 adapters is audited as `wrapped.py` says: weight-level attacks on its raw
weights, behaviour-level ones through the wrapper; each attack's `model_seen` and audit.json's `wrapper` record it.

Under torchrun / accelerate launch (every process calls `audit` with the same arguments) the scoring and
generation batches are shared out over the processes and gathered in item order (`models.spread`), relearning runs
on the first process alone; every process returns the audit of one process, with `processes` set to their number.
"""
from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

from obliviate.config import replace_checked
from obliviate.errors import ConfigError, DataError
from obliviate.models.spread import world
from obliviate.results import _clean, env_info

from . import wrapped
from .base import AuditConfig, Context

SCHEMA_VERSION = 1
# name -> module (imported when the attack runs); the order is the order they run and are shown in.
ATTACKS = {name: f"obliviate.audit.{name}" for name in
           ("relearn", "quantize", "incontext", "probes", "parametric", "utf", "blind_mia", "leaks")}


def parse_attacks(attacks) -> tuple[list[str], bool]:
    """(names, explicit): a comma-separated string or a list; None or "all" means every attack, implied."""
    if attacks is None or attacks == "all" or attacks == ["all"]:
        return list(ATTACKS), False
    names = [a.strip() for a in (attacks.split(",") if isinstance(attacks, str) else attacks) if a.strip()]
    unknown = [a for a in names if a not in ATTACKS]
    if unknown or not names:
        raise ConfigError(f"attacks: unknown {', '.join(map(repr, unknown)) or 'empty list'}; valid attacks: "
                          f"{', '.join(ATTACKS)} (or all)")
    return list(dict.fromkeys(names)), True


def audit(model, tokenizer, splits, oracle=None, attacks=None, seed: int = 0,
          config: AuditConfig | dict | None = None, name: str = "model", progress: bool = False) -> dict[str, Any]:
    """Attack `model` (and `oracle`: a model, a (model, tokenizer) pair or a path) on `splits`; audit.json as a dict.

    Without an oracle every check compares the forget persons with the holdout persons ("vs holdout").
    config: an AuditConfig or {key: value} overrides of it.
    """
    # The evaluation's oracle rules: the same tokenizer and vocabulary as the model.
    from obliviate.eval.suite import resolve_oracle

    names, explicit = parse_attacks(attacks)
    cfg = config if isinstance(config, AuditConfig) else replace_checked(AuditConfig(), dict(config or {}))
    oracle_model = resolve_oracle(oracle, tokenizer, model) if oracle is not None else None
    ctx = Context(model, tokenizer, splits, oracle_model, cfg, seed)
    t0 = time.perf_counter()
    results, seen = {}, {}
    for attack in names:
        module = importlib.import_module(ATTACKS[attack])
        why = ctx.missing_reference() or module.requires(ctx)
        if why and explicit:
            raise DataError(f"attack {attack!r} cannot run on this data: {why}", field=attack, rule="data allows it")
        start = time.perf_counter()
        if progress:
            print(f"audit: {attack} ...", flush=True)
        # a guarded or O3 model: weight-level attacks see the raw weights, the others the wrapper (wrapped.py)
        with wrapped.view(attack, model) as (ctx.model, seen[attack]):
            entry = ctx.na(module.__name__, why) if why else module.run(ctx)
        if seen[attack]:
            entry["model_seen"] = seen[attack]
        entry["seconds"] = round(time.perf_counter() - start, 3)
        results[attack] = entry
    ctx.model = model
    wrapper = wrapped.summary(model, {k: v for k, v in seen.items() if v})
    return _clean({
        "schema_version": SCHEMA_VERSION,
        "kind": "audit",
        "name": name,
        "against": ctx.against,
        "oracle": _describe(oracle),
        "data": getattr(splits, "name", None),
        "counts": {k: len(v) for k, v in ctx.facts.items()},
        "seed": seed,
        "config": _asdict(cfg),
        "env": env_info(seed=seed),
        "verdicts": {k: v["verdict"] for k, v in results.items()},
        "attacks": results,
        "seconds": round(time.perf_counter() - t0, 3),
        **({"wrapper": wrapper} if wrapper else {}),
        "processes": world()[1],
    })


def _describe(oracle) -> str | None:
    if oracle is None:
        return None
    return str(oracle) if isinstance(oracle, (str, Path)) else "model object"


def _asdict(cfg: AuditConfig) -> dict:
    import dataclasses

    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}
