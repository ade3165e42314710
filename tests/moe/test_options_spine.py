"""The run options through the spine and the CLI: `adversary:` and `uoe:` in a spec reach the engine, their
conventions reach results.json, and `--uoe` on a dense model exits with the problem named."""
from __future__ import annotations

import json

import yaml

from obliviate.cli import main
from obliviate.run import run


def _spec(root, corpus, out, **extra) -> dict:
    return {"model": str(root / "target"), "data": str(corpus), "forget": "forget10", "method": "npo",
            "train": {"max_steps": 2, "batch_size": 4}, "engine": {"progress": False},
            "eval": {"oracle": str(root / "oracle"), "suite": "tofu", "curve_points": 0}, "out": str(out),
            "save_model": False, **extra}


def test_spec_adversary_reaches_engine_and_conventions(trained, corpus, tmp_path):
    _, _, _, root = trained
    results = run(_spec(root, corpus, tmp_path / "lat", adversary="lat:0,0.1"))
    hooks = results["config"]["step_hooks"]
    assert hooks[0]["kind"] == "lat" and hooks[0]["resolved_layer"] == 0
    assert "per-token L2 norm" in results["conventions"]["adversary"]
    run_json = json.loads((tmp_path / "lat" / "run.json").read_text())
    assert all("lat_nll_attacked" in e for e in run_json["log"])


def test_cli_uoe_on_a_dense_model_exits_with_the_problem(trained, corpus, tmp_path, capsys):
    _, _, _, root = trained
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(_spec(root, corpus, tmp_path / "out")))
    assert main(["unlearn", "--config", str(spec), "--uoe"]) == 2
    assert "has no Mixture-of-Experts layer" in capsys.readouterr().err
    assert main(["unlearn", "--config", str(spec), "--adversary", "lat:0,0.1", "--out", str(tmp_path / "u")]) == 0
    assert json.loads((tmp_path / "u" / "run.json").read_text())["config"]["step_hooks"][0]["kind"] == "lat"
