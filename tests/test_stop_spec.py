"""`stop: holdout` in the run spec: the shorthand, bad values named with their key, and a run that stops early
on the persons corpus (its holdout persons) and records the checks in results.json."""
from __future__ import annotations

import json

import pytest

from obliviate.errors import ConfigError
from obliviate.run import run
from obliviate.spec import load_spec


def _spec(root, corpus, out, **extra) -> dict:
    return {"model": str(root / "target"), "data": str(corpus), "forget": "forget10", "method": {"name": "ga"},
            "train": {"max_steps": 40, "batch_size": 2, "lr": 0.05}, "engine": {"progress": False},
            "eval": {"oracle": str(root / "oracle"), "suite": "tofu", "curve_points": 0}, "out": str(out),
            "save_model": False, **extra}


def test_spec_shorthand_and_bad_values():
    base = {"model": "m", "data": "d", "method": "npo", "out": "o"}
    assert load_spec({**base, "stop": "holdout"}).stop.rule == "holdout"
    assert load_spec({**base, "stop": "none"}).stop is None
    assert load_spec({**base, "stop": {"rule": "holdout", "every": 4}}).stop.every == 4
    with pytest.raises(ConfigError, match="stop.level") as e:
        load_spec({**base, "stop": {"level": 1.5, "every": 0}})
    assert "stop.every" in str(e.value)
    with pytest.raises(ConfigError, match="stop.rule"):
        load_spec({**base, "stop": "oracle"})


def test_run_stops_at_the_holdout_rule(trained, corpus, tmp_path):
    _, _, _, root = trained
    results = run(_spec(root, corpus, tmp_path / "run", stop={"rule": "holdout", "every": 2}))
    stop = results["stop"]
    assert stop["rule"] == "holdout" and stop["checks"] and stop["checks"][0]["step"] == 2
    steps = json.loads((tmp_path / "run" / "run.json").read_text())["totals"]["steps"]
    if stop["fired_at"] is not None:  # it stopped there: no step after the firing check
        assert steps == stop["fired_at"] and stop["checks"][-1]["stop"]
        assert all(not c["stop"] for c in stop["checks"][:-1])
    else:
        assert steps == 40
    assert results["cost"]["steps"] == steps


def test_stop_without_a_holdout_is_an_error(trained, tmp_path, qa_records):
    _, _, _, root = trained
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(qa_records))
    spec = _spec(root, data, tmp_path / "x", stop="holdout", forget=None)
    spec.pop("forget")
    with pytest.raises((ConfigError, Exception), match="holdout"):
        run(spec)
