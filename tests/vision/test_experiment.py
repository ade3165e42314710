"""The experiment runner on a tiny tabular task: per-method overrides, and a diverged method recorded, not fatal."""
from __future__ import annotations

import json

import torch

from obliviate.vision import experiment
from obliviate.vision.data import ClassData
from obliviate.vision.demo import write_all


def _tiny_data() -> ClassData:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(90) % 3
    x = torch.randn(90, 4, generator=g) + 2.0 * torch.nn.functional.one_hot(y, 4).float()
    return ClassData("tiny", x[:60], y[:60], x[60:], y[60:], ("a", "b", "c"))


def test_diverged_method_is_recorded_with_null_metrics(tmp_path):
    data = _tiny_data()
    exp = experiment.Experiment(seeds=(0,), scenarios=("class",), methods=("ga", "ft"), train_epochs=2,
                                overrides=(("ga", "lr", "1e9"), ("ft", "epochs", "1")))
    runs = experiment.run(data, exp, say=lambda s: None)
    assert "error" in runs["class"][0]["ga"] and "loss became" in runs["class"][0]["ga"]["error"]
    assert runs["class"][0]["ft"]["log"]["config"]["epochs"] == 1
    write_all(tmp_path / "out", runs, data, exp, say=lambda s: None)
    ga = json.loads((tmp_path / "out" / "class" / "ga" / "results.json").read_text())
    assert ga["metrics"]["UA"]["value"] is None and ga["per_seed_logs"][0]["error"]
    ft = json.loads((tmp_path / "out" / "class" / "ft" / "results.json").read_text())
    assert ft["metrics"]["UA"]["value"] is not None and "TA_forgotten_class" in ft["metrics"]
