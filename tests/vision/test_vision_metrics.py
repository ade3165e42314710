"""UA, RA, TA, MIA_efficacy, avg_gap and cost on constructed predictions with hand-derived answers."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from obliviate.errors import DataError
from obliviate.results import cost_ratio
from obliviate.vision.metrics import accuracy, avg_gap, cost, mia_efficacy, scores, true_class_confidence


def _logits_with_confidence(conf: list[float], y: list[int], num_classes: int = 2) -> torch.Tensor:
    """2-class logits whose softmax gives probability `c` to the true class: logits (log c, log(1-c)) ordered by y."""
    rows = []
    for c, label in zip(conf, y, strict=True):
        row = [math.log(1 - c)] * num_classes
        row[label] = math.log(c)
        rows.append(row)
    return torch.tensor(rows)


def test_accuracy_and_confidence():
    """argmax rows (1, 0, 1) vs labels (1, 1, 1): 2 of 3 right → 66.67%; true-class softmax = (0.8, 0.3, 0.6)."""
    y = torch.tensor([1, 1, 1])
    logits = _logits_with_confidence([0.8, 0.3, 0.6], [1, 1, 1])
    assert accuracy(logits, y) == pytest.approx(200 / 3)
    np.testing.assert_allclose(true_class_confidence(logits, y), [0.8, 0.3, 0.6], rtol=1e-6)


def test_mia_efficacy_known_answer():
    """Members sit near confidence 1, non-members near 0.1: the SVC's boundary falls between them. Forget set:
    two confident (→ member), three unconfident (→ non-member): MIA_efficacy = 3/5 = 60%."""
    member = np.array([0.97, 0.99, 0.95, 0.98, 1.0, 0.96])
    nonmember = np.array([0.1, 0.05, 0.15, 0.12, 0.08, 0.11, 0.2, 0.02])  # cut to 6 at random (balanced)
    forget = np.array([0.99, 0.96, 0.1, 0.05, 0.12])
    assert mia_efficacy(member, nonmember, forget) == pytest.approx(60.0)


def test_scores_random_forgetting():
    """forget: 4 samples, 1 right → accuracy 25%, UA = 100 − 25 = 75. retain: 4 samples, all right (conf 0.99)
    → RA 100. test: 4 samples, 3 right → TA 75. Forget confidences (0.9, 0.1, 0.2, 0.3) vs members ≈ 0.99 and
    non-members ≤ 0.6: the last three look like non-members → MIA_efficacy = 3/4 = 75."""
    f = (_logits_with_confidence([0.9, 0.1, 0.2, 0.3], [0, 1, 0, 1]), torch.tensor([0, 1, 0, 1]))
    r = (_logits_with_confidence([0.99, 0.99, 0.98, 0.99], [0, 1, 0, 1]), torch.tensor([0, 1, 0, 1]))
    t = (_logits_with_confidence([0.6, 0.55, 0.4, 0.58], [0, 1, 0, 1]), torch.tensor([0, 1, 0, 1]))
    s = scores(f, r, t)
    assert (s["UA"], s["RA"], s["TA"], s["MIA_efficacy"]) == pytest.approx((75.0, 100.0, 75.0, 75.0))
    assert "TA_forgotten_class" not in s


def test_scores_class_wise_splits_test_accuracy():
    """Test labels (0, 0, 1, 1, 2, 2), class 2 forgotten. Predictions: class 0 both right, class 1 one right,
    class 2 both wrong. TA on remaining classes = 3/4 = 75; TA_forgotten_class = 0/2 = 0."""
    ty = torch.tensor([0, 0, 1, 1, 2, 2])
    pred = torch.tensor([0, 0, 1, 0, 1, 0])
    tl = torch.nn.functional.one_hot(pred, 3).float() * 5
    f = (torch.nn.functional.one_hot(torch.tensor([0, 1]), 3).float() * 5, torch.tensor([2, 2]))
    r = (torch.nn.functional.one_hot(torch.tensor([0, 1]), 3).float() * 5, torch.tensor([0, 1]))
    s = scores(f, r, (tl, ty), forget_class=2)
    assert s["TA"] == pytest.approx(75.0) and s["TA_forgotten_class"] == pytest.approx(0.0)
    assert s["UA"] == pytest.approx(100.0) and s["RA"] == pytest.approx(100.0)


def test_avg_gap():
    """|10−5| + |90−95| + |80−80| + |20−10| = 5 + 5 + 0 + 10 = 20; / 4 = 5."""
    model = {"UA": 10.0, "RA": 90.0, "TA": 80.0, "MIA_efficacy": 20.0}
    oracle = {"UA": 5.0, "RA": 95.0, "TA": 80.0, "MIA_efficacy": 10.0}
    assert avg_gap(model, oracle) == pytest.approx(5.0)
    with pytest.raises(DataError, match="avg_gap"):
        avg_gap({"UA": 1.0}, oracle)


def test_cost_ratio():
    """2 s of unlearning against 8 s of retraining: cost_ratio = 0.25."""
    c = cost({"wall_time_s": 2.0, "steps": 5, "samples": 50}, {"wall_time_s": 8.0, "steps": 40, "samples": 400})
    assert c["cost_ratio"] == pytest.approx(0.25) and c["oracle"]["steps"] == 40
    assert cost({"wall_time_s": 2.0, "steps": 5, "samples": 50},
                {"wall_time_s": 0.0, "steps": 0, "samples": 0})["cost_ratio"] is None


@pytest.mark.parametrize("unlearn_s, retrain_s, expected", [
    (2.0, 8.0, 0.25), (0.0, 8.0, 0.0), (2.0, 0.0, None), (2.0, -1.0, None), (None, 8.0, None), (2.0, None, None),
    (math.nan, 8.0, None), (2.0, math.inf, None),
])
def test_shared_cost_ratio_guards_unknown_and_zero(unlearn_s, retrain_s, expected):
    """The one cost_ratio of results.json (obliviate.results): a number only when both times are known and the
    retraining time is positive."""
    assert cost_ratio(unlearn_s, retrain_s) == expected


def test_scores_reject_labels_out_of_range():
    ok = (torch.zeros(2, 3), torch.tensor([0, 1]))
    with pytest.raises(DataError, match=r"forget labels.*outside \[0, 3\)"):
        scores((torch.zeros(2, 3), torch.tensor([0, 3])), ok, ok)
