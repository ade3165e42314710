"""relearn: fine-tune a copy on a quarter of the forget persons (plain NLL, the unlearning lr, through the engine),
then measure what it knows of the *other* forget persons; the oracle is fine-tuned identically.

Papers: Hu et al., "Jogging the Memory of Unlearned LLMs Through Targeted Relearning Attacks" (ICLR 2025,
arXiv:2406.13356); Deeb & Roger, "Do Unlearning Methods Remove Information from Language Model Weights?"
(arXiv:2410.08827): fine-tuning on some removed facts restores *other* removed facts when the knowledge was hidden,
not removed. The oracle can learn the facts it is given but has nothing to recover for the held-out persons, so any
excess of the model over the oracle on them is residual knowledge.

Protocol: forget persons split by a seeded draw (`relearn_fraction`, default 25%, at least one person on each
side); the copy is trained with the engine (`ga` with γ = −1, i.e. gradient *descent* on the answers' NLL; batch 8;
lr 1e-3, the engine's unlearning default for these presets) for max(`relearn_epochs`) epochs, measuring after each
of 1, 2, 4, 8 epochs (constant lr and a per-step seeded sampler make the first k epochs of that run equal a k-epoch
run): a recovery curve. Checks, after the last epoch: `held_out` (other forget persons), `relearned` (the persons
trained on; against holdout persons it is informational only: they were not trained on) and `benign` (a copy
fine-tuned instead on as many neighbours' items, or retain items when the data has no neighbours: unrelated data,
then all forget persons). Values: P̃(value | question). The caller's model is never modified.

Under torchrun / accelerate launch the whole attack runs on the first process (`models.spread.alone`: fine-tuning
is not per-item work, and one process trains exactly as a single-process audit does); the others wait for its
result.
"""
from __future__ import annotations

import copy
import random

import numpy as np

from obliviate.models.spread import alone

from .facts import persons
from .measure import fact_probs

NAME = "relearn"
PAPER = ("Hu et al. 2025, Jogging the Memory of Unlearned LLMs Through Targeted Relearning Attacks "
         "(arXiv:2406.13356); Deeb & Roger 2024 (arXiv:2410.08827)")


def requires(ctx) -> str | None:
    n = len(persons(ctx.facts["forget"]))
    if n < 2:
        return (f"relearning needs at least 2 forget persons to split into relearned and held-out ones; the forget "
                f"set has {n} (field 'person')")
    return None


def split_persons(facts, fraction: float, seed: int) -> tuple[set, set]:
    """(relearned, held out): a seeded draw of round(fraction · n) persons, at least one on each side."""
    ids = sorted(persons(facts), key=str)
    k = min(len(ids) - 1, max(1, round(fraction * len(ids))))
    chosen = set(random.Random(seed).sample(ids, k))
    return chosen, set(ids) - chosen


def finetune_curve(model, tok, records: list[dict], measure, epochs: tuple[int, ...], ctx) -> dict[int, dict]:
    """{epoch: measure(model after that many epochs)} for epoch 0 (before) and each of `epochs`, on a copy."""
    from obliviate.engine import unlearn

    curve = {0: measure(model)}
    want = set(epochs)

    def hook(m, step, epoch):
        e = int(round(epoch))
        if abs(epoch - e) < 1e-6 and e in want and e not in curve:
            curve[e] = measure(m)
        return {}

    overrides = {"method.gamma": -1.0, "train.epochs": max(epochs), "train.lr": ctx.config.relearn_lr,
                 "train.batch_size": ctx.config.relearn_batch_size, "train.seed": ctx.seed,
                 "engine.eval_every_epochs": 1, "engine.progress": False, "engine.cpu": True}
    # ga with gamma = -1: L = +NLL(answers), plain fine-tuning, through the one engine loop.
    unlearn(copy.deepcopy(model), tok, records, [], method="ga", overrides=overrides, eval_hook=hook)
    return curve


def run(ctx) -> dict:
    return alone(_attack, ctx)  # several processes: the first one fine-tunes and measures, every one gets the result


def _attack(ctx) -> dict:
    cfg, forget = ctx.config, ctx.facts["forget"]
    chosen, held = split_persons(forget, cfg.relearn_fraction, ctx.seed)
    sets = {"held_out": [f for f in forget if f.person in held], "relearned": [f for f in forget if f.person in chosen],
            "benign": forget}
    relearn_qa = [r for r in ctx.splits.forget if r.get("person") in chosen]
    benign_pool = ctx.splits.neighbours or ctx.splits.retain or []
    benign_qa = random.Random(ctx.seed).sample(benign_pool, min(len(relearn_qa), len(benign_pool)))
    holdout = ctx.facts["holdout"] if ctx.against == "holdout" else None

    def scorer(names):
        def measure(m):
            out = {n: {"forget": fact_probs(m, ctx.tok, sets[n])} for n in names}
            if holdout is not None:
                for n in names:
                    out[n]["holdout"] = fact_probs(m, ctx.tok, holdout)
            return out
        return measure

    def curves(m):
        main = finetune_curve(m, ctx.tok, relearn_qa, scorer(["held_out", "relearned"]), cfg.relearn_epochs, ctx)
        benign = (finetune_curve(m, ctx.tok, benign_qa, scorer(["benign"]), cfg.relearn_epochs, ctx)
                  if benign_qa else None)
        return main, benign

    out = ctx.sides(curves)
    last = max(cfg.relearn_epochs)
    names = ["held_out", "relearned"] + (["benign"] if benign_qa else [])
    values = {s: {**main[last], **(benign[last] if benign else {})} for s, (main, benign) in out.items()}
    before = {s: {**main[0], **(benign[0] if benign else {})} for s, (main, benign) in out.items()}
    informational = ("relearned",) if ctx.against == "holdout" else ()
    checks = ctx.checks(values, names, "P(value | question)", before=before, informational=informational)
    details = {"relearned_persons": sorted(chosen, key=str), "held_out_persons": sorted(held, key=str),
               "relearn_items": len(relearn_qa), "benign_items": len(benign_qa),
               "benign_source": "neighbours" if ctx.splits.neighbours else "retain",
               "epochs": list(cfg.relearn_epochs), "lr": cfg.relearn_lr, "curve": _curve(out, ctx)}
    return ctx.result(__name__, checks, details)


def _curve(out: dict, ctx) -> dict:
    """{side: {check: {epoch: mean value on the forget items}}}, epoch 0 = before relearning."""
    table = {}
    for side, (main, benign) in out.items():
        rows = {}
        for curve in (main, benign or {}):
            for epoch, checks in sorted(curve.items()):
                for name, groups in checks.items():
                    rows.setdefault(name, {})[str(epoch)] = float(np.mean(groups["forget"]))
        table[side] = rows
    return table
