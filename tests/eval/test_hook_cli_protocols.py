"""The engine's eval hook, the `obliviate eval` command (results.json, cost, oracle results) and the C5/C6
protocols on the tiny persons target."""
from __future__ import annotations

import argparse
import json

import pytest

from obliviate.errors import ConfigError
from obliviate.eval import cli
from obliviate.eval.hooks import make_eval_hook
from obliviate.protocols import fold_keys, restrict, scalability, sustainability
from obliviate.run import Stages


def _parse(argv):
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["eval", *argv])


def test_eval_hook_returns_named_floats(trained, persons_splits, target_results_file):
    tok, target, oracle, _ = trained
    hook = make_eval_hook(tok, persons_splits, ("forget/prob", "forget/truth_ratio", "mia/min_k",
                                                "forget_quality", "privleak"), oracle_results=target_results_file)
    out = hook(target, 10, 0.5)
    assert set(out) == {"forget/prob", "forget/truth_ratio", "mia/min_k", "forget_quality", "privleak"}
    assert all(isinstance(v, float) for v in out.values())
    assert out["forget/prob"] > 0.5 and out["privleak"] < -50
    assert make_eval_hook(tok, persons_splits)(oracle, 1)["forget/prob"] < out["forget/prob"]
    with pytest.raises(ConfigError, match="not available during training"):
        make_eval_hook(tok, persons_splits, ("forget/rouge_l_recall",))
    with pytest.raises(ConfigError, match="oracle_results"):
        make_eval_hook(tok, persons_splits, ("forget_quality",))


@pytest.fixture(scope="module")
def target_results_file(trained, corpus, tmp_path_factory):
    """`obliviate eval` on the saved target against the saved oracle; a run.json beside the model folder."""
    tok, _, _, root = trained
    run = tmp_path_factory.mktemp("run")
    (run / "model").symlink_to(root / "target")
    (run / "run.json").write_text(json.dumps({"totals": {"wall_time_s": 2.0, "steps": 4, "tokens": 900,
                                                         "peak_memory_mb": 10.0}, "curve": [
        {"step": 2, "epoch": 1.0, "metrics": {"forget/prob": 0.5}}]}))
    out = run / "results.json"
    args = _parse(["--model", str(run / "model"), "--oracle", str(root / "oracle"), "--data", str(corpus),
                   "--forget", "forget10", "--out", str(out)])
    assert args.func(args) == 0
    return out


def test_cli_writes_results_with_cost(target_results_file, trained):
    r = json.loads(target_results_file.read_text())
    oracle_train = json.loads((trained[3] / "oracle" / "train.json").read_text())
    assert r["name"] == target_results_file.parent.name  # runs/NAME/model → NAME
    assert r["cost"]["steps"] == 4 and r["cost"]["oracle"]["steps"] == oracle_train["steps"]
    assert r["cost"]["cost_ratio"] == pytest.approx(2.0 / oracle_train["wall_time_s"])
    assert r["curve"][0]["metrics"]["forget/prob"] == 0.5
    assert r["metrics"]["privleak"]["value"] < -50
    assert r["oracle"]["metrics"]["mia/min_k"]["n"] == r["metrics"]["mia/min_k"]["n"]


def test_cli_oracle_results_and_conflicts(target_results_file, trained, corpus, tmp_path):
    tok, _, _, root = trained
    out = tmp_path / "again.json"
    args = _parse(["--model", str(root / "target"), "--oracle-results", str(target_results_file), "--data",
                   str(corpus), "--out", str(out), "--suite", "mia"])
    assert args.func(args) == 0
    a, b = json.loads(out.read_text()), json.loads(target_results_file.read_text())
    assert a["metrics"]["privleak"]["value"] == pytest.approx(b["metrics"]["privleak"]["value"])
    both = _parse(["--model", str(root / "target"), "--oracle", str(root / "oracle"), "--oracle-results",
                   str(target_results_file), "--data", str(corpus), "--out", str(out)])
    with pytest.raises(ConfigError, match="either --oracle or --oracle-results"):
        both.func(both)


def test_cli_oracle_given_as_the_models_own_path_is_scored_once(trained, corpus, tmp_path):
    """`--oracle` naming the model's own folder: the weights are the same, so the suite scores once."""
    _, _, _, root = trained
    out = tmp_path / "self.json"
    args = _parse(["--model", str(root / "oracle"), "--oracle", str(root / "oracle"), "--data", str(corpus),
                   "--out", str(out), "--suite", "mia"])
    assert args.func(args) == 0
    r = json.loads(out.read_text())
    assert r["oracle"]["source"] == "model (same weights)" and "oracle" not in r["timing"]
    assert r["metrics"]["privleak"]["value"] == 0.0


def test_fold_keys_keep_persons_together():
    """5 persons into 2 folds: cuts at round(0), round(2.5) = 2, 5 → [p0, p1], [p2, p3, p4]."""
    recs = [{"person": p} for p in (0, 0, 1, 2, 3, 4)]
    assert fold_keys(recs, 2) == [[0, 1], [2, 3, 4]]
    with pytest.raises(ConfigError, match="only 5 persons"):
        fold_keys(recs, 6)


def _protocol_spec(root, corpus, tmp_path, method="npo", steps=2) -> dict:
    return {"model": str(root / "target"), "data": str(corpus), "method": method, "out": str(tmp_path / "steps"),
            "train": {"max_steps": steps}, "engine": {"progress": False},
            "eval": {"oracle": str(root / "oracle"), "suite": "mia", "curve_points": 0}}


def test_scalability_with_the_engine(trained, corpus, persons_splits, tmp_path):
    """Sizes 1 and 2 (the two forget persons) each unlearned by NPO from a fresh copy of the target, each step a
    run of the spine (its own OUT/size-k/results.json)."""
    tok, target, oracle, root = trained
    stages = Stages(splits=persons_splits, model=target, tokenizer=tok, oracle=(oracle, tok))
    r = scalability(_protocol_spec(root, corpus, tmp_path), sizes=(1, 2), stages=stages)
    p = r["protocol"]
    assert p["criterion"] == "C5" and [s["size"] for s in p["steps"]] == [1, 2]
    assert [s["forget_items"] for s in p["steps"]] == [6, 12]
    assert p["table"]["C3"]["size"] == [1, 2] and len(p["table"]["C3"]["values"]) == 2
    assert r["cost"]["steps"] == 2 and r["cost"]["cost_ratio"] > 0
    assert (tmp_path / "steps" / "size-2" / "results.json").is_file()
    assert all(a.equal(b) for a, b in zip(target.parameters(), trained[1].parameters(), strict=True))


def test_sustainability_chains_requests(trained, corpus, persons_splits, tmp_path):
    """Request i unlearns fold i starting from the model after request i-1, and is judged on folds 1..i:
    two chained requests of one ga step each equal two chained runs of the spine by hand."""
    import copy

    from obliviate.run import execute
    from obliviate.spec import load_spec

    tok, target, oracle, root = trained
    spec = _protocol_spec(root, corpus, tmp_path, method="ga", steps=1)
    r = sustainability(spec, requests=2, stages=Stages(splits=persons_splits, model=target, tokenizer=tok,
                                                        oracle=(oracle, tok)))
    assert [s["forget_items"] for s in r["protocol"]["steps"]] == [6, 12]
    assert r["protocol"]["criterion"] == "C6"
    folds = fold_keys(persons_splits.forget, 2)
    model = copy.deepcopy(target)
    for i, out in ((0, "a"), (1, "b")):
        s = Stages(splits=restrict(persons_splits, set(folds[i]), True), eval_splits=persons_splits, model=model,
                   tokenizer=tok, oracle=(oracle, tok))
        model, _ = execute(load_spec({**spec, "out": str(tmp_path / out), "save_model": False}), s)
    assert r["protocol"]["steps"][1]["metrics"]["mia/min_k"] == pytest.approx(
        json.loads((tmp_path / "b" / "results.json").read_text())["metrics"]["mia/min_k"]["value"])


def test_cli_protocol_sustainability(trained, corpus, tmp_path):
    """`obliviate eval --protocol sustainability --requests 2` runs the engine twice and writes the C6 table."""
    _, _, _, root = trained
    out = tmp_path / "c6.json"
    args = _parse(["--model", str(root / "target"), "--oracle", str(root / "oracle"), "--data", str(corpus),
                   "--out", str(out), "--suite", "mia", "--protocol", "sustainability", "--requests", "2",
                   "--method", "ga", "--set", "train.max_steps=1", "--set", "engine.progress=false"])
    assert args.func(args) == 0
    r = json.loads(out.read_text())
    assert r["protocol"]["criterion"] == "C6" and r["name"] == "ga"
    assert [s["request"] for s in r["protocol"]["steps"]] == [1, 2]
    assert r["cost"]["steps"] == 1 and "cost_ratio" in r["cost"]
    no_oracle = _parse(["--model", str(root / "target"), "--data", str(corpus), "--out", str(out),
                        "--protocol", "scalability"])
    with pytest.raises(ConfigError, match="--protocol needs --oracle"):
        no_oracle.func(no_oracle)
