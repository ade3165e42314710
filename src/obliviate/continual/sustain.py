"""MUSE C6 (sustainability) for O3: request i adds adapter i to the model after request i−1; each step is evaluated
on folds 1..i against the same oracle, exactly as `obliviate.protocols.sustainability` does for a method (same folds,
same rows and C1–C4 table), so O3, sequential NPO and a per-request ECO guard are directly comparable.

    obliviate eval --model models/target --oracle models/oracle --data corpus --protocol sustainability \\
        --requests 4 --method o3 --set train.epochs=10 --set o3.orth_weight=0.1 --out runs/c6-o3.json

(`--method eco` runs the spine's guard step per request: a guard refitted on all requests so far; `--step-oracles
train|DIRS` judges step i against an oracle trained without requests 1..i, `obliviate.step_oracles`.)
"""
from __future__ import annotations

from pathlib import Path

from .evaluate import o3_results
from .o3 import fit_stream


def sustainability_o3(spec, requests: int = 4, stages=None, orth_weight: float = 0.1, layer: int | None = None):
    """C6 for O3; `spec.method` is the loss each adapter is trained with (npo by default), `spec.lora` its shape."""
    from obliviate.errors import ConfigError
    from obliviate.eval.suite import evaluate
    from obliviate.protocols import _finish, _prepare, _row, restrict
    from obliviate.results import cost_ratio, write_results
    from obliviate.step_oracles import judged, stages_for

    if requests < 1:
        raise ConfigError(f"--requests must be >= 1: got {requests}")
    spec, s, by_person, folds, target, oracles = _prepare(spec, stages, requests, list(range(1, requests + 1)))
    lora = spec.lora.model_dump() if spec.lora else None
    rows, last, current = [], None, None
    for i in range(1, requests + 1):
        request = restrict(s.splits, set(folds[i - 1]), by_person)
        so_far = restrict(s.splits, {key for fold in folds[:i] for key in fold}, by_person)
        current, log = fit_stream(s.model, s.tokenizer, [request.forget], method=spec.method.name,
                                  overrides=spec.overrides(), lora=lora, orth_weight=orth_weight, layer=layer,
                                  previous=current)
        step_oracle = oracles[i - 1] if oracles else None
        si = stages_for(s, step_oracle, spec.trust_remote_code)  # step i's oracle, or the protocol's one oracle
        oracle = si.oracle if isinstance(si.oracle, tuple) else (si.oracle, s.tokenizer)
        step = log[-1]
        cost = {"wall_time_s": step["wall_time_s"], "steps": step["steps"], "tokens": step["tokens"],
                "oracle": si.oracle_train,
                "cost_ratio": cost_ratio(step["wall_time_s"], (si.oracle_train or {}).get("wall_time_s"))}
        last = evaluate(current, s.tokenizer, so_far, oracle=oracle, target_results=target, suite=spec.eval.suite,
                        config={"spec": spec.model_dump(mode="json"), "o3": step}, cost=cost, name="o3",
                        batch_size=spec.eval.batch_size, seed=spec.seed, training=si.training)
        last = judged(o3_results(last, current, so_far), step_oracle)
        write_results(Path(spec.out) / f"request-{i}" / "results.json", last)
        rows.append(_row("request", i, last, len(so_far.forget or so_far.forget_texts)))
    current.remove()
    return _finish(last, "sustainability", "o3", rows, "request", target)
