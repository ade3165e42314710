"""The N-oracle (NeurIPS 2023 challenge) score on hand-built score distributions, where the answer is known."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from obliviate.errors import DataError
from obliviate.vision.challenge import (
    bin_points,
    challenge_score,
    epsilon_from_rates,
    example_epsilon,
    forget_quality,
    logit_scaled_confidence,
    n_oracle_score,
)


def test_logit_scaled_confidence_known_values():
    """Logits (0, 0, 0), y = 0: p = ⅓ each, log(⅓) − log(⅔) = −ln 2. Logits (ln 3, 0), y = 0: p = (¾, ¼): ln 3."""
    out = logit_scaled_confidence(torch.tensor([[0.0, 0.0, 0.0], [math.log(3), 0.0, -math.inf]]), torch.tensor([0, 0]))
    np.testing.assert_allclose(out, [-math.log(2), math.log(3)], rtol=1e-6)


def test_epsilon_from_rates_known_values():
    """FPR = FNR = ½: max(log(½ − δ) − log ½, ...) < 0 → clipped to 0. FPR = 0.1, FNR = 0.2:
    max(log(0.9 − δ) − log 0.2, log(0.8 − δ) − log 0.1) = log 8 (up to δ). A perfect rule → ∞; one-sided zeros
    are discarded (NaN when nothing is left)."""
    assert epsilon_from_rates([0.5], [0.5]) == 0.0
    assert epsilon_from_rates([0.1], [0.2]) == pytest.approx(math.log(8), abs=1e-4)
    assert epsilon_from_rates([0.0, 0.3], [0.0, 0.3]) == math.inf
    assert epsilon_from_rates([0.0, 0.4], [0.5, 0.4]) == pytest.approx(math.log(0.6 / 0.4), abs=1e-4)
    assert math.isnan(epsilon_from_rates([0.0], [0.7]))


def test_bin_points():
    """M = 8: ⌈ln 7⌉ = 2, bins [0, .5) → 1, [.5, 1) → ½, [1, 1.5) → ¼, [1.5, 2) → ⅛, beyond → 0."""
    assert [bin_points(e, 8) for e in (0.0, 0.49, 0.5, 1.2, 1.99, 2.0, math.inf)] == [1, 1, .5, .25, .125, 0, 0]


def test_identical_distributions_score_top():
    """The unlearned runs give exactly the oracles' scores: no threshold separates them, every ε = 0, F = 1."""
    rng = np.random.default_rng(0)
    oracle = rng.normal(size=(16, 5))
    out = forget_quality(oracle.copy(), oracle)
    assert out["forget_quality"] == 1.0 and (out["epsilons"] == 0).all()


def test_separable_distributions_score_worst():
    """Unlearned scores all above the oracles' (same spread): a threshold separates them perfectly, ε = ∞ → 50,
    F = 0. A peaky (constant-ish) unlearned distribution is capped at 50 directly."""
    rng = np.random.default_rng(1)
    oracle = rng.normal(size=(16, 4))
    out = forget_quality(oracle + 10.0, oracle)
    assert out["forget_quality"] == 0.0 and (out["epsilons"] == 50).all()
    peaky = np.full((16, 4), 0.3) + 1e-6 * rng.normal(size=(16, 4))
    assert example_epsilon(peaky[:, 0], oracle[:, 0]) == 50


def test_partial_overlap_in_between():
    """Shifted by one standard deviation: told apart sometimes, so 0 < F < 1."""
    rng = np.random.default_rng(2)
    oracle = rng.normal(size=(32, 20))
    fq = forget_quality(rng.normal(size=(32, 20)) + 1.0, oracle)["forget_quality"]
    same = forget_quality(rng.normal(size=(32, 20)), oracle)["forget_quality"]
    assert 0.0 < fq < same <= 1.0


def test_challenge_score_and_from_logits():
    """F × (RA_U/RA_R) × (TA_U/TA_R): 0.5 × (90/100) × (80/100) = 0.36. From logits: runs = oracles → F = 1."""
    assert challenge_score(0.5, 90, 100, 80, 100) == pytest.approx(0.36)
    g = torch.Generator().manual_seed(0)
    y = torch.tensor([0, 1, 2])
    models = [{"forget": (torch.randn(3, 3, generator=g), y), "RA": 90.0, "TA": 80.0} for _ in range(6)]
    out = n_oracle_score(models, models)
    assert out["forget_quality"] == 1.0 and out["challenge_score"] == 1.0 and out["runs"] == 6


def test_bad_shapes_and_too_few_runs():
    with pytest.raises(DataError, match="same number of examples"):
        forget_quality(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(DataError, match="at least 3 unlearned runs"):
        forget_quality(np.zeros((2, 3)), np.zeros((4, 3)))
