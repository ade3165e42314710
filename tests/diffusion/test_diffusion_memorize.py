"""Planted duplicates (`diffusion/memorize.py`): planting is deterministic and exact, the threshold and the
replication rate give hand-computed answers, bad settings are refused."""
from __future__ import annotations

import pytest
import torch

from obliviate.diffusion.memorize import plant, replication_rate, replication_threshold
from obliviate.errors import ConfigError

CLASSES = ("zero", "one", "two")  # as in conftest.py


def test_planting_is_deterministic_and_exact(tiny_images):
    x, y = tiny_images  # 30 images, labels 0..2
    xp, yp, classes, planting = plant(x, y, CLASSES, n_images=2, copies=5, exclude=(1,), seed=3)
    again = plant(x, y, CLASSES, n_images=2, copies=5, exclude=(1,), seed=3)
    assert torch.equal(xp, again[0]) and torch.equal(yp, again[1]) and planting == again[3]
    assert xp.shape == (30 + 2 * 5, 1, 8, 8) and torch.equal(xp[:30], x) and torch.equal(yp[:30], y)
    assert classes == (*CLASSES, "mem0", "mem1") and planting.labels == (3, 4)
    assert all(int(y[i]) != 1 for i in planting.indices)  # the excluded class is never planted
    for j, i in enumerate(planting.indices):  # copies 5j..5j+4 are bit-identical to image i, labelled 3 + j
        block = slice(30 + 5 * j, 30 + 5 * (j + 1))
        assert torch.equal(xp[block], x[i].expand(5, -1, -1, -1)) and (yp[block] == 3 + j).all()
    assert planting.prompts(("a {class}",)) == ["a mem0", "a mem1"]


def test_planting_bad_settings(tiny_images):
    x, y = tiny_images
    with pytest.raises(ConfigError, match="copies"):
        plant(x, y, CLASSES, copies=0)
    with pytest.raises(ConfigError, match="only 0 images"):
        plant(x, y, CLASSES, n_images=1, exclude=(0, 1, 2))
    with pytest.raises(ConfigError, match="mem0"):
        plant(x, y, ("mem0", "b", "c"), n_images=1)


def test_replication_threshold_and_rate_known_answers():
    # 1-pixel images at 0, 1, 3, 7: nearest-other distances 1, 1, 2, 4 → median (1 + 2) / 2; 5% quantile 1
    x = torch.tensor([0.0, 1.0, 3.0, 7.0]).view(4, 1, 1, 1)
    assert replication_threshold(x, quantile=0.5) == pytest.approx(1.5)
    assert replication_threshold(x) == pytest.approx(1.0)
    planted = torch.tensor([0.0, 3.0]).view(2, 1, 1, 1)
    gen = torch.tensor([3.0, 0.4, 1.5, -0.2]).view(4, 1, 1, 1)  # nearest planted: 0, 0.4, 1.5, 0.2
    m = replication_rate(gen, planted, threshold=0.5)
    assert m["value"] == pytest.approx(0.75) and m["n"] == 4 and m["per_item"] == [1.0, 1.0, 0.0, 1.0]
    assert m["nn_distance"] == pytest.approx([0.0, 0.4, 1.5, 0.2]) and m["threshold"] == 0.5
