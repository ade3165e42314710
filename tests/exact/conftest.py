"""Fixtures for exact unlearning: a 600-item slice of scikit-learn's digits (fast enough to train many ensembles)."""
from __future__ import annotations

import pytest

from obliviate.vision.data import ClassData, load_digits


@pytest.fixture(scope="session")
def small_digits() -> ClassData:
    d = load_digits()
    return ClassData("digits-600", d.x_train[:600], d.y_train[:600], d.x_test[:200], d.y_test[:200], d.classes)
