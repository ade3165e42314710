"""The verdict rule on hand-built values: residual only when the CI of model − reference lies above 0."""
from __future__ import annotations

import math

import numpy as np
import pytest

from obliviate.audit.verdict import CLEAN, NA, RESIDUAL, check, combine, difference, level_for, rule


def test_rule_reads_only_the_lower_bound():
    assert rule(0.01) == RESIDUAL
    assert rule(0.0) == CLEAN  # [0, 0]: identical values
    assert rule(-0.2) == CLEAN  # straddles 0, or lies below: knowing less is not residual knowledge
    assert rule(math.nan) == CLEAN and rule(None) == CLEAN


def test_identical_values_give_exactly_zero_and_clean():
    """The oracle against itself: d_i = 0 for every item, so every resample's mean is 0: CI [0, 0]."""
    x = np.random.default_rng(0).random(40)
    c = check(x, x.copy(), "oracle")
    assert c["difference"]["value"] == c["difference"]["ci_low"] == c["difference"]["ci_high"] == 0.0
    assert c["verdict"] == CLEAN and c["difference"]["paired"]
    assert c["model"]["per_item"] == c["oracle"]["per_item"] and c["model"]["n"] == 40


def test_a_clear_excess_is_residual_and_a_noisy_one_is_not():
    """Model = oracle + 0.3 on 30 items: every paired difference is 0.3, CI [0.3, 0.3] > 0. With noise of sd 1
    around an excess of 0.05 the CI of the mean (half-width about 2·1/√30 ≈ 0.36) contains 0."""
    rng = np.random.default_rng(1)
    o = rng.random(30)
    assert check(o + 0.3, o, "oracle")["verdict"] == RESIDUAL
    noisy = o + 0.05 + rng.normal(0, 1, 30)
    c = check(noisy, o, "oracle")
    assert c["verdict"] == CLEAN and c["difference"]["ci_low"] < 0 < c["difference"]["ci_high"]


def test_unpaired_against_holdout():
    """Without an oracle: unpaired groups of different sizes; the entry is keyed 'holdout' and says so."""
    rng = np.random.default_rng(2)
    forget, holdout = rng.normal(0.9, 0.05, 24), rng.normal(0.2, 0.05, 36)
    c = check(forget, holdout, "holdout")
    assert c["verdict"] == RESIDUAL and not c["difference"]["paired"]
    assert c["holdout"]["n"] == 36 and c["reason"].startswith("vs holdout")
    assert c["difference"]["value"] == pytest.approx(forget.mean() - holdout.mean())


def test_paired_needs_equal_sizes_and_empty_sides_are_na():
    with pytest.raises(ValueError, match="equal sizes"):
        difference([1.0, 2.0], [1.0], paired=True)
    assert check([], [0.1], "oracle")["verdict"] == NA


def test_bonferroni_level_widens_the_interval():
    """k deciding checks: each at 1 − 0.05/k, so a 95% CI that barely excludes 0 may include it at 99%."""
    assert level_for(1) == pytest.approx(0.95) and level_for(5) == pytest.approx(0.99)
    rng = np.random.default_rng(3)
    d = rng.normal(0.25, 1.0, 60)
    narrow, wide = difference(d, np.zeros(60), True, 0.95), difference(d, np.zeros(60), True, 0.99)
    assert wide["ci_low"] < narrow["ci_low"] and wide["ci_high"] > narrow["ci_high"]


def test_combine_any_residual_decides_and_informational_checks_do_not():
    r = {"verdict": RESIDUAL, "reason": "r", "against": "oracle"}
    c = {"verdict": CLEAN, "reason": "c", "against": "oracle"}
    assert combine({"a": c, "b": r})[0] == RESIDUAL
    assert combine({"a": c, "b": c})[0] == CLEAN
    assert combine({"a": c, "b": {**r, "informational": True}})[0] == CLEAN
    verdict, reason = combine({"a": {"verdict": NA, "reason": "no field 'x'"}})
    assert verdict == NA and "field 'x'" in reason
