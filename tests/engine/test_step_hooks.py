"""The step-hook protocol (engine/hooks.py): the loop calls each optional hook point, never asks what a hook is."""
from __future__ import annotations

import contextlib

import pytest
import torch

from obliviate.engine import unlearn
from obliviate.engine.hooks import build_step_hooks

RUN = {"train.max_steps": 2, "train.batch_size": 4, "engine.progress": False}


class Recorder:
    """Narrows training to the final norm, records the calls, adds 5 to the loss."""

    def __init__(self):
        self.calls: list[str] = []

    def setup(self, model, tokenizer, forget, trainable, masks):
        self.calls.append("setup")
        keep = {n: p for n, p in trainable.items() if n == "model.norm.weight"}
        for n, p in trainable.items():
            p.requires_grad_(n in keep)
        return keep, masks

    def before_forward(self, enc, forget_idx):
        self.calls.append(f"before:{len(forget_idx)}")

    @contextlib.contextmanager
    def side(self, name, batch):
        self.calls.append(f"side:{name}")
        yield

    def extra_loss(self):
        self.calls.append("extra")
        return torch.tensor(5.0), {"recorded": torch.tensor(1.0)}

    def describe(self):
        return {"option": "recorder"}


def test_loop_calls_every_hook_point(trained, tokenizer, split):
    before = {n: p.detach().clone() for n, p in trained.named_parameters()}
    rec = Recorder()
    model, log = unlearn(trained, tokenizer, *split, "grad_diff", RUN, step_hooks=[rec])
    assert rec.calls == ["setup"] + ["before:4", "side:forget", "side:retain", "extra"] * 2
    for e in log["log"]:
        assert e["loss"] == pytest.approx(e["forget"] + e["retain"] + 5.0, abs=1e-4) and e["recorded"] == 1.0
    assert log["config"]["step_hooks"] == [{"option": "recorder"}]
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]) == (n != "model.norm.weight"), n


def test_no_option_no_hook():
    assert build_step_hooks() == [] and build_step_hooks(uoe=False) == []
