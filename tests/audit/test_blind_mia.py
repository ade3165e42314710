"""The blind (model-free) membership attack: a deliberately shifted holdout is flagged, the persons corpus's
holdout (same distribution by construction) is not; merge_audit carries the flag into results.json."""
from __future__ import annotations

import pytest

from obliviate.audit.blind_mia import blind_auc, person_groups


@pytest.fixture(scope="module")
def mia_sets(tmp_path_factory):
    """Members and non-members as the MIA suite takes them (forget vs holdout answers), 10 persons each."""
    from obliviate.data import load_splits
    from obliviate.data.persons import generate
    from obliviate.eval.plan import build_plan
    from obliviate.models import train_tokenizer

    out = tmp_path_factory.mktemp("blind") / "persons"
    generate(out, persons=100, facts=4, holdout=10, seed=0)
    splits = load_splits(out, "forget10")
    tok = train_tokenizer([r["answer"] for r in splits.forget + splits.holdout], vocab_size=300)
    plan = build_plan(tok, splits, "mia", generate=False)
    return splits, plan.mia


def test_same_distribution_holdout_is_not_flagged(mia_sets):
    """Forget and holdout persons come from one generator: the blind AUC's CI contains 0.5."""
    splits, mia = mia_sets
    groups = person_groups(splits, mia)
    assert groups is not None and len(set(groups)) == 20
    b = blind_auc(mia.member_text, mia.nonmember_text, groups=groups)
    assert b["ci_low"] <= 0.5 and not b["mia_unreliable"], b
    assert b["grouped_by_person"] and b["n"] == len(mia.member_text) + len(mia.nonmember_text)


def test_shifted_holdout_is_flagged(mia_sets):
    """Non-members written in another style (the paraphrased answers, another template, in upper case): a
    character n-gram classifier separates them from members, AUC CI above 0.5."""
    splits, mia = mia_sets
    shifted = [r["paraphrased_answer"].upper() for r in splits.holdout_perturbed]
    groups = [("m", r["person"]) for r in splits.forget] + [("h", r["person"]) for r in splits.holdout_perturbed]
    b = blind_auc(mia.member_text, shifted, groups=groups)
    assert b["value"] > 0.9 and b["ci_low"] > 0.5 and b["mia_unreliable"], b


def test_grouping_by_person_removes_name_leakage(mia_sets):
    """Without grouping, items of one person fall in training and test folds, and the classifier learns the
    names: membership of the person, not a difference of distribution. Grouped, that signal is gone."""
    splits, mia = mia_sets
    grouped = blind_auc(mia.member_text, mia.nonmember_text, groups=person_groups(splits, mia))
    loose = blind_auc(mia.member_text, mia.nonmember_text)
    assert loose["value"] > grouped["value"] + 0.2


def test_merge_audit_flags_mia_metrics():
    from obliviate.audit import merge_audit

    blind = {"value": 0.97, "ci_low": 0.9, "ci_high": 1.0, "n": 20, "per_item": [0.9], "holdout_scores": [0.1],
             "mia_unreliable": True}
    audit = {"kind": "audit", "attacks": {"blind_mia": {"verdict": "clean", "details": {"blind": blind}}}}
    results = {"metrics": {"mia/min_k": {"value": 0.8}, "privleak": {"value": -40.0}, "forget/prob": {"value": 1}}}
    merged = merge_audit(results, audit)
    assert merged["audits"] == audit and "audits" not in results  # a copy: the input is untouched
    assert merged["metrics"]["mia/blind"]["value"] == 0.97
    assert "blind AUC 0.97" in merged["metrics"]["mia/min_k"]["unreliable"]
    assert "unreliable" in merged["metrics"]["privleak"] and "unreliable" not in merged["metrics"]["forget/prob"]
    with pytest.raises(ValueError, match="audit"):
        merge_audit(results, {"metrics": {}})
