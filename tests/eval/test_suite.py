"""The suite end to end: it tells a memorized target from its oracle, the oracle matches itself exactly, TOFU
files go through it, saved oracle results stand in for the oracle model, and bad input fails clearly."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from obliviate.errors import DataError, ModelError, ObliviateError
from obliviate.eval.suite import evaluate


@pytest.fixture(scope="module")
def target_results(trained, persons_splits):
    tok, target, oracle, _ = trained
    return evaluate(target, tok, persons_splits, oracle=(oracle, tok), name="target")


def test_memorized_target_is_told_from_oracle(target_results):
    """The target saw the forget persons: its forget truth ratios differ from the oracle's (KS p < 0.05) and its
    min-k scores separate forget from holdout (privleak < -50, MUSE's target scores about -100)."""
    m = target_results["metrics"]
    assert m["forget_quality"]["value"] < 0.05
    assert m["privleak"]["value"] < -50
    assert m["mia/min_k"]["value"] > 0.9
    assert target_results["muse"]["C3"]["pass"] is False
    assert target_results["muse"]["C3"]["direction"].startswith("leakage")
    assert m["exact_memorization"]["value"] > target_results["oracle"]["metrics"]["exact_memorization"]["value"]


def test_results_layout(target_results, persons_splits):
    """Names from docs/results.md; every per-item metric has n = len(per_item), a CI around its value."""
    m = target_results["metrics"]
    s = persons_splits
    for name in ("forget/prob", "forget/rouge_l_recall", "forget/truth_ratio", "retain/prob", "neighbours/prob",
                 "neighbours/truth_ratio", "holdout/prob", "model_utility", "neighbours_utility", "verbmem",
                 "knowmem_f", "knowmem_r", "exact_memorization", "extraction_strength", "mia/loss", "mia/zlib",
                 "mia/min_k", "mia/min_k_pp", "mia/reference", "privleak", "forget_quality"):
        assert name in m, name
    assert m["forget/prob"]["n"] == len(s.forget) == len(m["forget/prob"]["per_item"])
    assert m["retain/prob"]["n"] == len(s.retain)
    assert len(m["forget/truth_ratio"]["ratio"]) == len(s.forget_perturbed)
    assert len(m["mia/min_k"]["holdout_scores"]) == len(s.holdout)
    assert len(m["knowmem_r"]["generations"]) == len(s.retain)
    for name, e in m.items():
        if e["per_item"]:
            assert e["n"] == len(e["per_item"]), name
            assert e["ci_low"] - 1e-9 <= e["value"] <= e["ci_high"] + 1e-9, name
    assert set(m["model_utility"]["components"]) == {"retain/prob", "retain/rouge_l_recall", "retain/truth_ratio"}
    assert {"schema_version", "config", "env", "conventions", "cost", "metrics", "oracle"} <= set(target_results)
    assert "mia" in target_results["conventions"] and "knowmem" in target_results["conventions"]
    json.dumps(target_results, allow_nan=False)  # NaN/inf written as null


def test_conventions_state_the_memorization_rules_and_docs_list_computed_attacks():
    """conventions.memorization states the EOS rule and ES's zero-match rule (0, no 1/|y| floor); docs/results.md
    lists as mia/ATTACK only the attacks computed (gradnorm is not)."""
    import re
    from pathlib import Path

    from obliviate.eval.plan import Plan
    from obliviate.eval.privacy import ATTACKS
    from obliviate.eval.scoring import ScoreBook
    from obliviate.eval.suite import conventions

    rule = conventions(Plan(suite="all", book=ScoreBook()))["memorization"]
    assert "without the final EOS" in rule and "0 when no suffix matches" in rule
    docs = (Path(__file__).resolve().parents[2] / "docs" / "results.md").read_text(encoding="utf-8")
    row = next(line for line in docs.splitlines() if line.startswith("| `mia/ATTACK`"))
    assert set(re.search(r"\(([^)]*)\)", row).group(1).split(", ")) == set(ATTACKS)


def test_oracle_against_itself(trained, persons_splits):
    """Identical per-item values on both sides: KS statistic 0 → p = 1; equal AUCs → privleak = 0."""
    tok, _, oracle, _ = trained
    r = evaluate(oracle, tok, persons_splits, oracle=(oracle, tok), suite="mia")
    assert r["metrics"]["privleak"]["value"] == 0.0
    assert r["metrics"]["privleak"]["ci_low"] == r["metrics"]["privleak"]["ci_high"] == 0.0
    r = evaluate(oracle, tok, persons_splits, oracle=(oracle, tok), suite="tofu")
    assert r["metrics"]["forget_quality"]["value"] == 1.0
    assert r["oracle"]["source"] == "model (itself)"  # the same object is scored once


def test_oracle_with_the_same_weights_is_scored_once(trained, persons_splits, monkeypatch):
    """A copy of the model (the same weights loaded twice, e.g. --oracle given the model's own path) is recognised
    by its weights and not scored again; one changed weight makes it a different model, scored on its own."""
    import copy

    import torch

    from obliviate.eval import suite

    tok, _, oracle, _ = trained
    calls = []
    real = suite.score_model
    monkeypatch.setattr(suite, "score_model", lambda *a, **k: calls.append(1) or real(*a, **k))
    twin = copy.deepcopy(oracle)
    r = evaluate(oracle, tok, persons_splits, oracle=(twin, tok), suite="tofu")
    assert r["metrics"]["forget_quality"]["value"] == 1.0 and r["oracle"]["source"] == "model (same weights)"
    assert len(calls) == 1
    with torch.no_grad():
        next(twin.parameters()).view(-1)[0] += 1e-3
    r = evaluate(oracle, tok, persons_splits, oracle=(twin, tok), suite="tofu")
    assert r["oracle"]["source"] == "model" and len(calls) == 3


def test_scoring_twice_gives_the_same_numbers(trained, persons_splits):
    """The scoring pass is deterministic: the same model scored twice gives bit-identical per-item values."""
    from obliviate.eval.plan import build_plan
    from obliviate.eval.suite import score_model

    tok, _, oracle, _ = trained
    plan = build_plan(tok, persons_splits, "tofu", generate=False)
    a, _ = score_model(oracle, tok, plan)
    b, _ = score_model(oracle, tok, plan)
    assert {k: v["per_item"] for k, v in a.items()} == {k: v["per_item"] for k, v in b.items()}


def test_saved_oracle_results_give_the_same_numbers(trained, persons_splits, target_results, tmp_path):
    """--oracle-results: the oracle's per-item values from a saved results.json replace the oracle model."""
    tok, target, _, _ = trained
    saved = tmp_path / "results.json"
    saved.write_text(json.dumps(target_results))
    again = evaluate(target, tok, persons_splits, oracle_results=saved, suite="mia")
    for name in ("privleak", "mia/reference"):
        assert again["metrics"][name]["value"] == pytest.approx(target_results["metrics"][name]["value"])
    tofu = evaluate(target, tok, persons_splits, oracle_results=str(saved), suite="tofu")
    assert tofu["metrics"]["forget_quality"]["value"] == pytest.approx(
        target_results["metrics"]["forget_quality"]["value"])


def test_tofu_files_through_the_suite(tofu_models, tofu_splits):
    """TOFU forget01 + slices: QA metrics on every split, prob_norm on the option splits, 9 utility components,
    forget_quality against a second model; no holdout in TOFU, so MIA is skipped with a note."""
    tok, model, oracle = tofu_models
    r = evaluate(model, tok, tofu_splits, oracle=(oracle, tok), suite="all")
    m = r["metrics"]
    assert m["forget/prob"]["n"] == 40 and m["forget/truth_ratio"]["n"] == 40
    assert m["real_authors/prob_norm"]["n"] == 8 and "world_facts/truth_ratio" in m
    assert len(m["model_utility"]["components"]) == 9
    assert "real_authors/prob_norm" in m["model_utility"]["components"]
    assert 0.0 <= m["forget_quality"]["value"] <= 1.0 and m["forget_quality"]["n"] == 40
    assert "privleak" not in m and "skipped_mia" in r["conventions"]
    assert np.isfinite(m["knowmem_f"]["value"]) and "C2" in r["muse"]
    assert r["oracle"]["metrics"]["forget/prob"]["n"] == 40


def test_no_oracle_is_an_error_that_says_how(trained, persons_splits):
    tok, target, _, _ = trained
    with pytest.raises(ObliviateError, match="--oracle .*--oracle-results"):
        evaluate(target, tok, persons_splits, suite="mia")


def test_oracle_with_another_tokenizer(trained, persons_splits):
    from obliviate.models import build_model, train_tokenizer

    tok, target, _, _ = trained
    other = train_tokenizer(["completely different words here", "and some more of them"] * 5, vocab_size=300)
    with pytest.raises(ModelError, match="tokenizer differs"):
        evaluate(target, tok, persons_splits, oracle=(build_model("tiny", other), other))
    with pytest.raises(ModelError, match="embedding"):
        evaluate(target, tok, persons_splits, oracle=build_model("tiny", other))


def test_empty_holdout(trained, persons_splits):
    tok, target, oracle, _ = trained
    with pytest.raises(DataError, match="holdout split is empty"):
        evaluate(target, tok, dataclasses.replace(persons_splits, holdout=[]), oracle=(oracle, tok))


def test_forget_without_perturbed_answers(tofu_models, tofu_splits):
    """Asking for the truth ratio (suite tofu) on a forget split without perturbed answers is an error; one item
    missing its list is an error under any suite; under "all" an unperturbed split is skipped with a note."""
    tok, model, oracle = tofu_models
    bare = dataclasses.replace(tofu_splits, forget_perturbed=None)
    with pytest.raises(DataError, match="perturbed answers"):
        evaluate(model, tok, bare, oracle=(oracle, tok), suite="tofu")
    broken = [dict(r) for r in tofu_splits.forget_perturbed]
    broken[3]["perturbed_answer"] = []
    with pytest.raises(DataError, match="forget_perturbed:3|'forget.*3"):
        evaluate(model, tok, dataclasses.replace(tofu_splits, forget_perturbed=broken), oracle=(oracle, tok))


def test_oracle_results_missing_metrics(trained, persons_splits):
    tok, target, _, _ = trained
    with pytest.raises(ObliviateError, match="lack 'forget/truth_ratio'"):
        evaluate(target, tok, persons_splits, oracle_results={"metrics": {"forget/prob": {}}}, suite="tofu")


def test_a_target_that_did_not_memorise_is_flagged(trained, persons_splits):
    """`training` summaries go into results.json; a model below its stop accuracy is named in `warnings`."""
    tok, _, oracle, _ = trained
    training = {"target": {"memorised": False, "accuracy": 0.75, "stop_at_accuracy": 0.95, "epochs": 55,
                           "epoch_cap": 55},
                "oracle": {"memorised": True, "accuracy": 0.96, "stop_at_accuracy": 0.95, "epochs": 38,
                           "epoch_cap": 55}}
    r = evaluate(oracle, tok, persons_splits, oracle=(oracle, tok), suite="mia", training=training)
    assert r["training"] == training
    assert r["warnings"] == ["target not memorised (greedy exact answers 0.75 < 0.95): comparisons are not "
                             "meaningful"]
    assert "warnings" not in evaluate(oracle, tok, persons_splits, oracle=(oracle, tok), suite="mia")
