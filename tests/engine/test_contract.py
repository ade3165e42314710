"""Contract matrix: every registered method on a tiny trained model. The loss is finite, trainable parameters move,
frozen and reference parameters don't, the forget answers' NLL rises, and lr = 0 changes nothing."""
from __future__ import annotations

import math

import pytest
import torch

from obliviate.engine import loop, unlearn
from obliviate.methods import METHODS

RUN = {"train.max_steps": 6, "train.batch_size": 4, "engine.progress": False}
# RMU trains only three down-projection matrices; on the tiny model it needs a larger step to move in 6 steps.
PER_METHOD = {"rmu": {"train.lr": 1e-2}}


def snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("method", METHODS)
def test_contract(method, trained, tokenizer, split, monkeypatch, answer_nll):
    forget, retain = split
    before, nll_before = snapshot(trained), answer_nll(trained, tokenizer, forget)
    refs = []

    class SpyReference(loop.Reference):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            refs.append(self)

    monkeypatch.setattr(loop, "Reference", SpyReference)
    model, log = unlearn(trained, tokenizer, forget, retain, method, {**RUN, **PER_METHOD.get(method, {})})
    assert log["log"] and all(math.isfinite(e["loss"]) for e in log["log"])
    after = snapshot(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable, "no trainable parameter"
    for name in before:
        moved = not torch.equal(before[name], after[name])
        assert moved == (name in trainable), f"{method}: {name} moved={moved}, trainable={name in trainable}"
    for ref in refs:  # a frozen copy (or the LoRA base) never moves
        if not ref.is_peft:
            for name, p in ref.model.named_parameters():
                assert torch.equal(p, before[name]), f"{method}: reference parameter {name} moved"
    nll_after = answer_nll(model, tokenizer, forget)
    assert nll_after > nll_before + 0.01, f"{method}: forget NLL {nll_before:.3f} -> {nll_after:.3f}"


@pytest.mark.parametrize("method", METHODS)
def test_lr_zero_changes_nothing(method, trained, tokenizer, split):
    before = snapshot(trained)
    model, _ = unlearn(trained, tokenizer, *split, method, {**RUN, "train.max_steps": 2, "train.lr": 0})
    for name, p in model.named_parameters():
        assert torch.equal(p.detach(), before[name]), f"{method}: {name} moved at lr 0"


def test_task_vector_is_negated_fine_tune(trained, tokenizer, split, trained_state):
    """θ_ft from a run with s = −1 (θ + (θ_ft − θ) = θ_ft); the s = 5 run must equal θ − 5·(θ_ft − θ)."""
    from obliviate.models import build_model

    theta = snapshot(trained)
    ft, _ = unlearn(trained, tokenizer, *split, "task_vector", {**RUN, "method.scale": -1})
    theta_ft = snapshot(ft)
    fresh = build_model("tiny", tokenizer, seed=0)
    fresh.load_state_dict(trained_state)
    neg, _ = unlearn(fresh, tokenizer, *split, "task_vector", {**RUN, "method.scale": 5})
    assert any(not torch.equal(theta[n], theta_ft[n]) for n in theta)
    for name, p in neg.named_parameters():
        torch.testing.assert_close(p.detach(), theta[name] - 5 * (theta_ft[name] - theta[name]))
