"""The C6 stream (MUSE sustainability) for O3 and for a per-request ECO guard, through `obliviate eval`, and
`obliviate unlearn --method o3` then `obliviate eval` of its gated model, on the tiny trained target and oracle.
Slow: every step trains or fits and evaluates."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def _eval(main, root, corpus, out, *extra):
    return main(["eval", "--model", str(root / "target"), "--oracle", str(root / "oracle"), "--data", str(corpus),
                 "--suite", "tofu", "--out", str(out), *extra])


def test_c6_stream_for_o3_and_eco(trained, corpus, tmp_path):
    from obliviate.cli import main

    _, _, _, root = trained
    o3_out, eco_out = tmp_path / "o3.json", tmp_path / "eco.json"
    assert _eval(main, root, corpus, o3_out, "--protocol", "sustainability", "--requests", "2", "--method", "o3",
                 "--set", "train.max_steps=4", "--set", "train.lr=1e-2", "--set", "o3.orth_weight=0.5") == 0
    res = json.loads(o3_out.read_text())
    steps = res["protocol"]["steps"]
    assert [s["request"] for s in steps] == [1, 2] and steps[0]["forget_items"] < steps[1]["forget_items"]
    assert res["o3"]["adapters"] == 2 and res["name"] == "o3"
    assert _eval(main, root, corpus, eco_out, "--protocol", "sustainability", "--requests", "2", "--method", "eco",
                 "--set", "guard.sigma=1.0") == 0
    res = json.loads(eco_out.read_text())
    assert res["guard"]["weights unchanged"] is True and len(res["protocol"]["steps"]) == 2
    assert res["guard"]["rates"]["forget_recall"]["n"] == res["protocol"]["steps"][1]["forget_items"]


def test_unlearn_o3_then_eval(trained, corpus, tmp_path):
    from obliviate.cli import main

    _, _, _, root = trained
    out = tmp_path / "o3"
    assert main(["unlearn", "--model", str(root / "target"), "--data", str(corpus), "--method", "o3",
                 "--requests", "2", "--out", str(out), "--set", "train.max_steps=3", "--quiet"]) == 0
    assert (out / "model" / "o3" / "adapters.safetensors").is_file()
    assert main(["eval", "--model", str(out / "model"), "--oracle", str(root / "oracle"), "--data", str(corpus),
                 "--suite", "tofu", "--out", str(tmp_path / "r.json")]) == 0
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["o3"]["adapters"] == 2 and res["cost"]["wall_time_s"] > 0
