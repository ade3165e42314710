"""engine.solo.OneProcess (the loop's accelerator inside `models.spread.alone`) trains exactly as accelerate's
Accelerator does in one process: weights and logged losses bit-identical after a few clipped, masked steps; and
`alone` without a process group just runs the block; over two processes a failure on the first reaches both
(alone_worker.py). The audit across processes is tests/audit/test_distributed_audit.py."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from launch import torchrun
from obliviate.engine import unlearn
from obliviate.engine.solo import OneProcess
from obliviate.models.spread import alone, is_alone, world

SETTINGS = {"engine.progress": False, "engine.eval_every": 0, "engine.eval_every_epochs": 0, "engine.cpu": True,
            "train.max_steps": 3, "train.max_grad_norm": 0.5, "train.weight_decay": 0.1}


def test_one_process_stand_in_trains_like_accelerate(trained, tokenizer, split):
    name = "model.layers.0.mlp.down_proj.weight"
    mask = torch.zeros_like(dict(trained.named_parameters())[name])
    mask[::2] = 1
    runs = [unlearn(copy.deepcopy(trained), tokenizer, *split, "grad_diff", SETTINGS, masks={name: mask},
                    accelerator=acc) for acc in (None, OneProcess(torch.device("cpu")))]
    (plain, log_a), (solo, log_b) = runs
    assert [e["loss"] for e in log_a["log"]] == [e["loss"] for e in log_b["log"]]
    assert [e["grad_norm"] for e in log_a["log"]] == [e["grad_norm"] for e in log_b["log"]]
    assert log_a["log"][0]["grad_norm"] > 0.5  # clipping really happened
    for (n, p), (_, q) in zip(plain.named_parameters(), solo.named_parameters(), strict=True):
        assert torch.equal(p, q), n


def test_alone_without_a_group_runs_the_block_here():
    assert alone(lambda a, b: (a + b, world(), is_alone()), 2, 3) == (5, (0, 1), False)


@pytest.mark.distributed
def test_an_error_in_a_block_run_alone_reaches_every_process(tmp_path):
    torchrun([Path(__file__).with_name("alone_worker.py"), tmp_path / "out"], timeout=300)
    first, other = (json.loads((tmp_path / f"out.{r}.json").read_text()) for r in (0, 1))
    assert first["error"] == ["ValueError", "disk full"]
    assert other["error"] == ["RuntimeError", "the first process failed in a block it ran alone: ValueError: disk full"]
    assert first["after"] == other["after"] == 7 and not first["alone_after"] and not other["alone_after"]
