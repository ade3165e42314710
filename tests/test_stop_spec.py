"""`stop: holdout` in the run spec: the shorthand, bad values named with their key, and a run that stops early
on the persons corpus (its holdout persons) and records the checks in results.json (with a finish phase and the
retain-NLL guard: recorded in `stop` and `conventions`)."""
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
    variant = load_spec({**base, "stop": {"finish": "repair", "finish_steps": 4, "retain_tolerance": 0.2}}).stop
    assert (variant.finish, variant.finish_steps, variant.retain_tolerance) == ("repair", 4, 0.2)
    assert load_spec({**base, "stop": "holdout"}).stop.finish == "none"  # the rule alone unless asked
    with pytest.raises(ConfigError) as e:
        load_spec({**base, "stop": {"finish": "rewind", "finish_steps": 0, "retain_tolerance": -0.1}})
    lines = str(e.value).splitlines()
    for key, value in (("stop.finish", "rewind"), ("stop.finish_steps", "0"), ("stop.retain_tolerance", "-0.1")):
        line = next(x for x in lines if f"{key}:" in x)  # one line per key: the key, its rule, the value
        assert f"got {value}" in line or f"got '{value}'" in line, line
    with pytest.raises(ConfigError, match="finish_steps: needs finish: anneal or repair.*finish_steps 4"):
        load_spec({**base, "stop": {"finish_steps": 4}})  # would be ignored: refused instead


@pytest.mark.parametrize("variant", [{}, {"finish": "repair", "finish_steps": 3, "retain_tolerance": 5.0}])
def test_run_stops_at_the_holdout_rule(trained, corpus, tmp_path, variant):
    _, _, _, root = trained
    results = run(_spec(root, corpus, tmp_path / "run", stop={"rule": "holdout", "every": 2, **variant}))
    stop = results["stop"]
    assert stop["rule"] == "holdout" and stop["checks"] and stop["checks"][0]["step"] == 2
    steps = json.loads((tmp_path / "run" / "run.json").read_text())["totals"]["steps"]
    extra = min(variant.get("finish_steps", 0), 40 - (stop["fired_at"] or 40))
    if stop["fired_at"] is not None:  # it stopped there (+ the finish steps): no check after the firing one
        assert steps == stop["fired_at"] + extra and stop["checks"][-1]["stop"]
        assert all(not c["stop"] for c in stop["checks"][:-1])
    else:
        assert steps == 40
    assert results["cost"]["steps"] == steps
    if variant:  # the variant is recorded: in `stop` and as a convention
        assert stop["finish"] == {"kind": "repair", "steps": 3} and stop["retain_tolerance"] == 5.0
        assert "retain NLL alone" in results["conventions"]["stop"]
        assert all("retain_nll" in c for c in stop["checks"])


def test_stop_without_a_holdout_is_an_error(trained, tmp_path, qa_records):
    _, _, _, root = trained
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(qa_records))
    spec = _spec(root, data, tmp_path / "x", stop="holdout", forget=None)
    spec.pop("forget")
    with pytest.raises((ConfigError, Exception), match="holdout"):
        run(spec)
