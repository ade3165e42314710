"""The seed-paper scenario runners behind bench/vision_seed.py, end to end on a digits subsample (2 epochs): every
row is there and every figure is in range. The numbers themselves are BENCHMARKS.md's business."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest

from obliviate.vision import seed_experiments as se
from obliviate.vision.data import load_digits


@pytest.fixture(scope="module")
def small():
    d = load_digits()
    return replace(d, x_train=d.x_train[:300], y_train=d.y_train[:300], x_test=d.x_test[:100],
                   y_test=d.y_test[:100])


def test_challenge_scenario_rows(small):
    out = se.challenge_scenario(small, 0, ["retrain", "ft", "ssd"], n_oracles=2, runs=3, train_epochs=2)
    assert list(out) == ["retrain", "ft", "ssd"]
    for row in out.values():
        assert 0.0 <= row["forget_quality"] <= 1.0 and 0.0 <= row["mean_epsilon"] <= 50.0
        assert math.isfinite(row["avg_gap"])


def test_corrective_scenario_rows(small):
    out = se.corrective_scenario(small, 0, ["ft", "ssd"], kind="backdoor", count=20, fractions=(0.5, 1.0),
                                 train_epochs=2)
    assert set(out) == {"oracle", "original", "ft@0.5", "ssd@0.5", "ft@1", "ssd@1"}
    assert all(0 <= r["attack_success"] <= 100 and 0 <= r["clean_accuracy"] <= 100 for r in out.values())


def test_worst_and_laf_scenario_rows(small):
    worst = se.worst_case_scenario(small, 0, ["ft"], train_epochs=2)
    assert {"oracle/random", "ft/random", "oracle/worst", "ft/worst"} <= set(worst)
    laf = se.laf_scenario(small, 0, train_epochs=2, random_methods=("laf",), class_methods=("concept",))
    assert laf["concept/class"]["avg_gap"] >= 0 and "TA_forgotten_class" in laf["concept/class"]
