"""leaks: the persons corpus has no near-duplicates of its forget items; a rephrased forget fact planted in the
retain set (and a copied biography in the holdout texts) is found, by the CLI too. Uses the packaged MiniLM."""
from __future__ import annotations

import dataclasses
import json

import pytest

from obliviate.audit.leaks import find_leaks, overlap


def test_ngram_overlap():
    assert overlap("Ann Lee works for Acme Corp today", "Yes: Ann Lee works for Acme Corp today.") == 0.75
    assert overlap("one two three four", "four three two one") == 0.0
    assert overlap("", "x") == 0.0


@pytest.fixture(scope="module")
def planted(audit_splits):
    """A rephrasing of one forget fact added to retain; a forget biography copied into the holdout texts."""
    s = audit_splits
    fact = s.forget_perturbed[1]  # the same person and fact, in the paraphrase phrasing (never in retain)
    leak = {"question": fact["paraphrased_question"], "answer": fact["paraphrased_answer"], "person": -1,
            "id": "retain:planted"}
    copied = {**s.forget_texts[0], "id": "bios:copied", "split": "holdout"}
    return dataclasses.replace(s, retain=s.retain + [leak], holdout_texts=s.holdout_texts + [copied])


def test_persons_corpus_has_no_leaks(audit_splits):
    found = find_leaks(audit_splits)
    assert found["pairs"] == [] and found["max_cosine"] < 0.9
    assert found["compared"]["forget"] == len(audit_splits.forget) + len(audit_splits.forget_texts)


def test_planted_leaks_are_found(planted):
    found = find_leaks(planted)
    hits = {(p["forget_id"], p["other_id"]) for p in found["pairs"]}
    assert ("forget10:1", "retain:planted") in hits  # a rephrasing: MiniLM cosine, not n-grams
    assert (planted.forget_texts[0]["id"], "bios:copied") in hits  # a copy: both
    para = next(p for p in found["pairs"] if p["other_id"] == "retain:planted")
    assert para["cosine"] >= 0.9 and para["ngram_overlap"] < 0.6
    assert found["counts"]["retain"] >= 1 and found["counts"]["holdout_texts"] == 1


def test_audit_verdict_and_cli(planted, audit_models, audit_corpus, tmp_path, capsys):
    from obliviate.audit import audit
    from obliviate.cli import main

    tok, target, oracle, _ = audit_models
    r = audit(target, tok, planted, oracle=(oracle, tok), attacks="leaks")
    a = r["attacks"]["leaks"]
    assert a["verdict"] == "leak" and "retain" in a["reason"]
    probs = a["details"]["leaked_items_prob"]
    assert len(probs["model"]) == len(probs["oracle"]) == 1  # the leaking forget QA item, on both sides
    out = tmp_path / "leaks.json"
    assert main(["data", "leaks", str(audit_corpus), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["pairs"] == [] and "0 near-duplicate" in capsys.readouterr().out
