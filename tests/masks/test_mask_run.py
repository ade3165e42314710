"""The spine with a mask and pruning: the spec's `mask:` and `prune:` reach the engine, OUT/mask.safetensors is
written and reusable, and results.json records the conventions."""
from __future__ import annotations

import json

import pytest
import torch

from obliviate.masks import prune as P
from obliviate.models import load
from obliviate.run import run


@pytest.mark.slow  # two full runs with evaluation: ~2 min on a shared core
def test_run_spec_with_mask_and_prune(trained, corpus, tmp_path):
    _, _, _, root = trained
    spec = {"model": str(root / "target"), "data": str(corpus), "forget": "forget10", "method": "npo",
            "train": {"max_steps": 2, "batch_size": 4, "weight_decay": 0.1}, "engine": {"progress": False},
            "eval": {"oracle": str(root / "oracle"), "suite": "tofu", "curve_points": 0},
            "mask": "wagle:0.5", "prune": "2:4", "out": str(tmp_path / "a")}
    results = run(spec)
    conv = results["conventions"]["mask"]
    assert "wagle scores, top 0.5" in conv and "2:4 semi-structured" in conv
    saved = json.loads((tmp_path / "a" / "results.json").read_text())
    assert saved["conventions"]["mask"] == conv and saved["config"]["spec"]["prune"] == "2:4"
    model, _ = load(tmp_path / "a" / "model")
    assert all(((w.reshape(-1, 4) == 0).sum(1) >= 2).all() for w in P.prunable(model).values())
    # the saved mask, reused without pruning, holds the same entries of the target fixed
    target, _ = load(root / "target")
    again = run({**spec, "mask": f"file:{tmp_path / 'a' / 'mask.safetensors'}", "prune": None,
                 "out": str(tmp_path / "b")})
    assert "loaded from" in again["conventions"]["mask"]
    from safetensors.torch import load_file

    mask = load_file(str(tmp_path / "a" / "mask.safetensors"))
    reused, _ = load(tmp_path / "b" / "model")
    after, before = dict(reused.named_parameters()), dict(target.named_parameters())
    assert all(torch.equal(after[n][m == 0], before[n][m == 0]) for n, m in mask.items())
