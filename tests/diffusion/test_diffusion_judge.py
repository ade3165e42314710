"""The diffusion judge's metrics on hand-built predictions and features (known answers)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from obliviate.diffusion.judge import Judge, frechet, frechet_metric, score


def test_frechet_one_dimensional_known_answer():
    # a = [0, 2]: mean 1, variance (ddof 1) 2; b = [1, 1, 1]: mean 1, variance 0 → 0 + 2 + 0 − 2·sqrt(0) = 2
    assert frechet(np.array([[0.0], [2.0]]), np.array([[1.0], [1.0], [1.0]])) == pytest.approx(2.0)
    # two 1-D Gaussians: (μ_a − μ_b)² + (σ_a − σ_b)²; a = [0, 2] (σ² = 2), b = [3, 5] (σ² = 2) → 9 + 0 = 9
    assert frechet(np.array([[0.0], [2.0]]), np.array([[3.0], [5.0]])) == pytest.approx(9.0)


def test_frechet_matches_the_scipy_formula():
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 4)), rng.normal(1.0, 2.0, size=(40, 4)) @ rng.normal(size=(4, 4))
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(sa + sb - 2 * sqrtm(sa @ sb).real)
    assert frechet(a, b) == pytest.approx(ref, rel=1e-6)
    assert frechet(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_ci_brackets_the_value():
    rng = np.random.default_rng(1)
    m = frechet_metric(rng.normal(0.5, 1, size=(60, 3)), rng.normal(size=(80, 3)), resamples=50)
    assert 0 < m["ci_low"] < m["ci_high"] and m["n"] == 60 and m["per_item"] == []


class _Fixed(nn.Module):
    """A 'classifier' whose features are the image's first two pixels and whose label is argmax of them."""

    def __init__(self):
        super().__init__()
        self.features = nn.Identity()
        self.head = nn.Sequential(nn.Identity())

    def forward(self, x):
        return x


def test_score_on_hand_built_predictions():
    # features = unit-range pixels; the label is argmax over the 2 pixels: [1, 0] → class 0, [0, 1] → class 1
    judge = Judge(_Fixed(), 1.0, {0: np.array([[1.0, 0.0], [1.0, 0.1], [0.9, 0.0]]),
                                  1: np.array([[0.0, 1.0], [0.1, 1.0], [0.0, 0.9]])})
    judge.predict = lambda x: (x.argmax(-1).numpy(), x.numpy().astype(float))  # images here are (B, 2) vectors
    as_class = {0: torch.tensor([[1.0, 0.0]] * 3 + [[0.0, 1.0]]),   # concept 0: 3 of 4 samples still class 0
                1: torch.tensor([[0.0, 1.0]] * 2 + [[1.0, 0.0]] * 2)}  # class 1: 2 of 4 recognised
    metrics, detail = score(judge, as_class, concept=0, frechet_resamples=20)
    assert metrics["concept_rate"]["value"] == pytest.approx(0.75)
    assert metrics["concept_rate"]["per_item"] == [1.0, 1.0, 1.0, 0.0]
    assert metrics["other_recognition"]["value"] == pytest.approx(0.5)
    assert detail["recognition_per_class"] == {0: 0.75, 1: 0.5}
    assert metrics["frechet_other"]["value"] == pytest.approx(detail["frechet_per_class"][1]["value"])


def test_train_judge_on_separable_images(tiny_images):
    from obliviate.diffusion.judge import train_judge

    x, y = tiny_images
    judge = train_judge(x, y, x, y, num_classes=3, epochs=30)
    assert judge.test_accuracy == 1.0
    assert {k: v.shape for k, v in judge.real_features.items()} == {k: (10, 128) for k in range(3)}
