"""The guard through the spine and the CLI: a run spec with `guard:` in place of `method:`, `obliviate guard fit`
and `obliviate eval --guard` on the tiny trained target and oracle (the shared `trained` fixture)."""
from __future__ import annotations

import json

import pytest

from obliviate.errors import ConfigError
from obliviate.spec import load_spec


def test_spec_takes_a_guard_instead_of_a_method():
    spec = load_spec({"model": "m", "data": "d", "guard": {"fpr": 0.1}, "out": "o"})
    assert spec.method is None and spec.guard.fpr == 0.1 and spec.label == "eco"
    assert spec.overrides() == {"train.seed": 0}
    for bad in ({}, {"method": "npo", "guard": {}}):
        with pytest.raises(ConfigError, match="exactly one of `method`"):
            load_spec({"model": "m", "data": "d", "out": "o", **bad})
    with pytest.raises(ConfigError, match="guard.fpr"):
        load_spec({"model": "m", "data": "d", "out": "o", "guard": {"fpr": 2}})


@pytest.mark.slow  # ~25 s on an idle core: the MiniLM encoder, then a full evaluation of the guarded model
def test_guard_fit_and_eval_cli(trained, corpus, persons_splits, tmp_path):
    """`guard fit` then `eval --guard`: results.json says the weights are unchanged, names the run `eco`, records
    the flag rates and the latency; flagged forget prompts lower the forget answers' probability."""
    from obliviate.cli import main

    _, _, _, root = trained
    guard_dir, out = tmp_path / "guard", tmp_path / "eco.json"
    assert main(["guard", "fit", "--data", str(corpus), "--forget", "forget10", "--model", str(root / "target"),
                 "--sigma", "1.0", "--out", str(guard_dir), "--fpr", "0.1"]) == 0
    assert (guard_dir / "guard.json").is_file()
    assert main(["eval", "--model", str(root / "target"), "--guard", str(guard_dir), "--oracle",
                 str(root / "oracle"), "--data", str(corpus), "--suite", "tofu", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["name"] == "eco" and res["guard"]["weights unchanged"] is True
    assert res["guard"]["rates"]["forget_recall"]["value"] >= 0.9
    assert res["guard"]["latency_ms_per_prompt"] > 0 and "guard" in res["conventions"]
    from obliviate.guard.fit import forget_prob

    tok, target, _, _ = trained
    assert res["metrics"]["forget/prob"]["value"] < forget_prob(target, tok, persons_splits.forget)
