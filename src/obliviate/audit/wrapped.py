"""Auditing a model behind an inference-time wrapper (an ECO `GuardedModel`, an O3 `O3Model`): which model each
attack sees, and audit.json's record of it.

    obliviate audit --model models/target --guard runs/eco/guard --oracle models/oracle --data D --out DIR
    obliviate audit --model runs/o3/model --oracle models/oracle --data D --out DIR      # an O3 folder: gated
    run spec: {guard: {...}, audit: {...}}                                               # fit, evaluate, audit

Both wrappers change what the model answers and never its weights (issue 13: "the weights still hold the data, so
weight-level audits stay residual"). So an attack that only queries the model through forward / generate
(in-context, probes, utf, leaks) runs through the wrapper, as a user of the deployed model would meet it; an attack
on the weights (relearn fine-tunes them, quantize rounds them, parametric reads hidden states and the logit lens,
blind_mia's MIA scores the raw weights' likelihoods) runs on the raw underlying model with the wrapper's hooks
detached, as someone holding the weights would. audit.json says per attack which model it saw
(`model_seen`), and `wrapper` sums it up. The oracle is a plain model and is attacked as always.
"""
from __future__ import annotations

from contextlib import contextmanager

WEIGHT_LEVEL = frozenset({"relearn", "quantize", "parametric", "blind_mia"})


def wrapper_kind(model) -> str | None:
    """"eco guard" for a GuardedModel, "o3 adapters" for an O3Model, None for a plain model."""
    from obliviate.continual.o3 import O3Model
    from obliviate.guard.model import GuardedModel

    if isinstance(model, GuardedModel):
        return "eco guard"
    if isinstance(model, O3Model):
        return "o3 adapters"
    return None


@contextmanager
def view(attack: str, model):
    """(the model `attack` runs on, what audit.json says it saw or None): the raw weights, hooks detached, for a
    weight-level attack on a wrapped model; the wrapped model itself for a behaviour-level one."""
    kind = wrapper_kind(model)
    if kind is None:
        yield model, None
    elif attack in WEIGHT_LEVEL:
        base = model.remove()  # no hook of the wrapper reaches the copies an attack makes (relearn, quantize)
        try:
            yield base, "raw"
        finally:
            model.attach()
    else:
        yield model, "wrapped"


def summary(model, seen: dict[str, str]) -> dict | None:
    """audit.json's `wrapper` block: the wrapper's kind, and which attacks saw the raw weights or the wrapper."""
    kind = wrapper_kind(model)
    if kind is None:
        return None
    return {"kind": kind, "weights unchanged": True, "models_seen": seen,
            "rule": (f"weight-level attacks ({', '.join(sorted(WEIGHT_LEVEL))}) run on the raw weights, hooks "
                     "detached: the wrapper does not change them, so these stay residual when the target held the "
                     "data; the others query the model through the wrapper's forward/generate")}
