"""Config overrides (typed, unknown keys rejected), atomic writes, and the results statistics."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pytest

from obliviate._atomic import atomic_dir, atomic_write_json
from obliviate.config import ConfigError, parse_sets, replace_checked
from obliviate.errors import DataError
from obliviate.results import bootstrap_ci, build_results, metric, read_results, write_results


@dataclass(frozen=True)
class Inner:
    beta: float = 0.1
    retain: str = "nll"


@dataclass(frozen=True)
class Outer:
    epochs: int = 3
    ref_cache: bool = True
    layers: tuple[int, ...] = (1, 2)
    method: Inner = field(default_factory=Inner)
    name: str | None = None


def test_overrides_are_typed_and_nested():
    cfg = replace_checked(Outer(), parse_sets(["epochs=5", "ref_cache=false", "method.beta=0.25", "layers=3,4",
                                               "name=none"]))
    assert cfg == Outer(epochs=5, ref_cache=False, layers=(3, 4), method=Inner(beta=0.25), name=None)
    assert replace_checked(Outer(), {"epochs": "1e1"}).epochs == 10


@pytest.mark.parametrize("sets, message", [
    ({"epoch": "1"}, "epoch: unknown key; valid keys: epochs, layers, method, name, ref_cache"),
    ({"method.gamma": "1"}, "method.gamma: unknown key; valid keys: beta, retain"),
    ({"epochs": "many"}, "epochs: must be int, got 'many'"),
    ({"ref_cache": "maybe"}, "ref_cache: must be a boolean"),
])
def test_bad_overrides_name_key_rule_value(sets, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        replace_checked(Outer(), sets)


def test_parse_sets_rejects_missing_equals():
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_sets(["epochs"])


def test_atomic_dir_leaves_nothing_on_error(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_dir(out) as tmp:
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_dir(out) as tmp:
        atomic_write_json(tmp / "a.json", {"x": 1})
    assert json.loads((out / "a.json").read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_bootstrap_ci_known_cases():
    """Constant values give a zero-width interval; a 0/1 sample of mean 0.5 with n = 400 has a percentile CI
    close to the normal one, 0.5 ± 1.96·sqrt(0.25/400) = [0.451, 0.549]."""
    assert bootstrap_ci([2.0] * 10) == (2.0, 2.0)
    lo, hi = bootstrap_ci([0.0, 1.0] * 200)
    assert lo == pytest.approx(0.451, abs=0.01) and hi == pytest.approx(0.549, abs=0.01)
    assert bootstrap_ci([0.0, 1.0] * 200) == (lo, hi)  # fixed seed: reproducible
    assert all(math.isnan(v) for v in bootstrap_ci([]))


def test_metric_entry_and_results_file(tmp_path):
    m = metric([1.0, 2.0, 3.0, 6.0])
    assert m["value"] == 3.0 and m["n"] == 4 and m["per_item"] == [1.0, 2.0, 3.0, 6.0]
    assert m["ci_low"] <= 3.0 <= m["ci_high"]
    res = build_results({"method": "npo"}, {"forget/prob": m, "bad": metric([np.nan])}, env={"seed": 0})
    write_results(tmp_path / "results.json", res)
    loaded = json.loads((tmp_path / "results.json").read_text())
    assert loaded["schema_version"] == 1 and loaded["metrics"]["bad"]["value"] is None
    with pytest.raises(ValueError, match="lack required keys"):
        write_results(tmp_path / "r.json", {"metrics": {}})


def test_atomic_outputs_get_normal_permissions(tmp_path):
    import os
    import stat

    from obliviate._atomic import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "f.txt", "x")
        with atomic_dir(tmp_path / "d"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_umask_is_read_without_changing_it():
    """The umask comes from /proc/self/status where Linux has it: reading it never sets it, not even briefly."""
    import os
    from unittest import mock

    from obliviate._atomic import umask

    old = os.umask(0o027)
    try:
        with mock.patch("os.umask", side_effect=AssertionError("umask toggled")):
            assert umask() == 0o027
    finally:
        os.umask(old)


@pytest.mark.parametrize("text, expected", [
    ('{"metrics": 5}', ": field 'metrics': must be an object of metric entries (got 5)"),
    ('{"metrics": {"forget/prob": 3}}', ": field 'metrics.forget/prob': a metric entry must be an object"),
    ('{"metrics": {"forget/prob": {"value": "high"}}}', ": field 'metrics.forget/prob.value': 'value' must be a "
                                                        "number or null (got 'high')"),
    ('{"metrics": {}, "oracle": {"metrics": [1]}}', ": field 'oracle.metrics': must be an object of metric entries"),
    ('{"metrics": {}, "oracle": 7}', ": field 'oracle': must be an object (got 7)"),
    ('{"config": {}}', ": field 'metrics': missing required key"),
    ("[1, 2]", ": a results file must hold a JSON object (got [1, 2])"),
    ('{"metrics": {', ":1: not valid JSON"),
])
def test_read_results_names_file_field_rule_and_value(tmp_path, text, expected):
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(DataError) as err:
        read_results(path)
    assert str(err.value).startswith(f"{path}{expected}") and "\n" not in str(err.value)


def test_saved_oracle_results_are_checked_from_python_too(tmp_path):
    from obliviate.eval.suite import load_oracle_results

    with pytest.raises(DataError, match=r"oracle_results: field 'metrics': must be an object .*\(got 5\)"):
        load_oracle_results({"metrics": 5})
    (tmp_path / "r.json").write_text('{"metrics": {"forget/prob": {"value": 0.5}}, "oracle": {}}')
    assert load_oracle_results(tmp_path / "r.json") == ({"forget/prob": {"value": 0.5}}, str(tmp_path / "r.json"))


def test_cost_ratio_has_one_rule_for_missing_and_zero_times():
    from obliviate.eval.cost import build_cost
    from obliviate.results import cost_ratio

    assert cost_ratio(30.0, 120.0) == 0.25 and cost_ratio(0.0, 10.0) == 0.0
    assert cost_ratio(None, 10.0) is None and cost_ratio(5.0, None) is None
    assert cost_ratio(5.0, 0) is None  # a zero retraining time gives no ratio, not a ZeroDivisionError
    assert build_cost(oracle_results={"cost": {"oracle": {"wall_time_s": 0}}}) == {"oracle": {"wall_time_s": 0}}
