"""The spine's guard step: a run spec with `guard:` (and no `method:`) fits an ECO guard and evaluates the guarded
model, in place of unlearning. Called by `obliviate.run.execute`; nothing else composes it.

    obliviate.run({"model": "models/target", "data": "corpus", "guard": {"fpr": 0.05}, "out": "runs/eco",
                   "eval": {"oracle": "models/oracle"}})

The guard is fitted on the splits that are evaluated (`Stages.eval_splits` when given: in the MUSE C6 protocol,
everything asked to be forgotten so far, so the guard is refitted per request on all requests so far) and always
guards the unchanged weights: the model returned is the raw model, so a protocol's next step starts from it again.
"""
from __future__ import annotations

from pathlib import Path

from .evaluate import guard_results
from .fit import fit_guard
from .model import GuardedModel


def execute_guard(spec, s):
    """(raw model, results): fit the guard, evaluate the guarded model against the oracle, write OUT/."""
    from obliviate.eval.suite import evaluate
    from obliviate.models import save
    from obliviate.results import write_results

    out, g = Path(spec.out), spec.guard
    base = s.model.remove() if isinstance(s.model, GuardedModel) else s.model
    splits = s.eval_splits or s.splits
    oracle = s.oracle if not isinstance(s.oracle, tuple) else s.oracle[0]
    target = g.target
    if target is None and g.sigma is None and oracle is None and s.oracle_results:
        target = s.oracle_results["metrics"]["forget/prob"]["value"]  # only valid on the full forget set
    guard = fit_guard(base, s.tokenizer, splits, oracle=oracle, target=target, fpr=g.fpr, mode=g.mode,
                      sigma=g.sigma, seed=spec.seed, steps=g.steps)
    guarded = GuardedModel(base, s.tokenizer, guard)
    o = (s.oracle if isinstance(s.oracle, tuple) else (s.oracle, s.tokenizer)) if s.oracle is not None else None
    results = evaluate(guarded, s.tokenizer, splits, oracle=None if s.oracle_results else o,
                       oracle_results=s.oracle_results, target_results=s.target_results, suite=spec.eval.suite,
                       config={"spec": spec.model_dump(mode="json")}, name=spec.label, seed=spec.seed,
                       batch_size=spec.eval.batch_size, training=s.training,
                       cost={"oracle": s.oracle_train} if s.oracle_train else {})
    results = guard_results(results, guarded, splits, results.get("cost"))
    out.mkdir(parents=True, exist_ok=True)
    if spec.audit is not None:  # weight-level attacks see the raw weights, the others the guard (audit/wrapped.py)
        from obliviate.run import _audit

        results = _audit(spec, s, guarded, results)
    if spec.save_model:
        save(guarded, s.tokenizer, out / "model")  # the unchanged weights, and the guard in model/guard/
    guard.save(out / "guard")
    write_results(out / "results.json", results)
    if spec.report:
        from obliviate.report import write_report

        write_report([out / "results.json"], out / "report.html", title=f"obliviate: {results['name']}")
    return guarded.remove(), results
