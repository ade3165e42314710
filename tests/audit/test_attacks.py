"""Every model attack on a tiny target against its oracle (the target must come out `residual`), the oracle
against a separate copy of itself (`clean` everywhere, every difference exactly 0), the holdout comparison without
an oracle, and what an attack must not do (touch the caller's model)."""
from __future__ import annotations

import copy

import pytest
import torch

from obliviate.audit import audit

MODEL_ATTACKS = ["relearn", "quantize", "incontext", "probes", "parametric", "utf", "blind_mia"]


@pytest.fixture(scope="module")
def target_audit(audit_models, audit_splits):
    tok, target, oracle, _ = audit_models
    return audit(target, tok, audit_splits, oracle=(oracle, tok), attacks=MODEL_ATTACKS)


@pytest.fixture(scope="module")
def self_audit(audit_models, audit_splits):
    """The oracle audited against a deep copy of itself: every measurement really runs twice."""
    tok, _, oracle, _ = audit_models
    return audit(copy.deepcopy(oracle), tok, audit_splits, oracle=(oracle, tok), attacks=MODEL_ATTACKS)


@pytest.mark.parametrize("attack", MODEL_ATTACKS)
def test_target_is_residual(target_audit, attack):
    """The target saw the forget persons and the oracle did not: every attack finds the excess."""
    a = target_audit["attacks"][attack]
    assert a["verdict"] == "residual", (attack, a["reason"])
    assert a["against"] == "oracle" and a["reason"].count("vs oracle") >= 1


@pytest.mark.parametrize("attack", MODEL_ATTACKS)
def test_oracle_against_itself_is_clean_with_zero_differences(self_audit, attack):
    a = self_audit["attacks"][attack]
    assert a["verdict"] == "clean", (attack, a["reason"])
    ran = [c for c in a["checks"].values() if "difference" in c]
    assert ran, attack
    for c in ran:
        d = c["difference"]
        assert d["value"] == 0.0 and d["ci_low"] == 0.0 and d["ci_high"] == 0.0, (attack, c)


def test_result_layout(target_audit, audit_splits):
    """docs/results.md: per check the model's and the oracle's per-item values, n, value, CI, the difference
    with its CI, the verdict; per attack the seconds it took."""
    r = target_audit
    assert r["kind"] == "audit" and r["schema_version"] == 1 and r["against"] == "oracle"
    assert set(r["verdicts"]) == set(MODEL_ATTACKS) and r["seconds"] > 0
    for name, a in r["attacks"].items():
        assert a["seconds"] > 0 and a["paper"] and a["protocol"], name
        for cname, c in a["checks"].items():
            if c["verdict"] == "n/a":
                assert c["reason"], (name, cname)
                continue
            for side in ("model", "oracle"):
                e = c[side]
                assert {"value", "ci_low", "ci_high", "n"} <= set(e), (name, cname, side)
            d = c["difference"]
            assert d["ci_low"] <= d["value"] <= d["ci_high"], (name, cname)
    q = r["attacks"]["quantize"]["checks"]["int4"]
    assert q["model"]["n"] == len(audit_splits.forget) == len(q["model"]["per_item"])
    assert q["before"]["model"] > q["before"]["oracle"]
    curve = r["attacks"]["relearn"]["details"]["curve"]["oracle"]["held_out"]
    assert list(curve) == ["0", "1", "2", "4", "8"]


def test_without_oracle_compares_with_holdout(audit_models, audit_splits):
    tok, target, _, _ = audit_models
    r = audit(target, tok, audit_splits, attacks=["probes", "blind_mia"])
    assert r["against"] == "holdout" and r["oracle"] is None
    for a in r["attacks"].values():
        assert a["verdict"] == "residual" and a["reason"].startswith(("paraphrase: vs holdout", "mia_auc: vs holdout"))
    c = r["attacks"]["probes"]["checks"]["paraphrase"]
    assert c["holdout"]["n"] == len(audit_splits.holdout) and not c["difference"]["paired"]


def test_attacks_leave_the_callers_model_untouched(audit_models, audit_splits):
    """relearn fine-tunes and quantize rounds weights: both on copies."""
    tok, target, oracle, _ = audit_models
    before = {k: v.clone() for k, v in target.state_dict().items()}
    audit(target, tok, audit_splits, oracle=(oracle, tok), attacks=["quantize"], config={"quantize_bits": (4,)})
    audit(target, tok, audit_splits, oracle=(oracle, tok), attacks="relearn", config={"relearn_epochs": (1,)})
    for k, v in target.state_dict().items():
        assert torch.equal(v, before[k]), k


def _results(name: str, audit_: dict | None = None) -> dict:
    from obliviate.audit import merge_audit
    from obliviate.results import build_results, metric

    r = build_results({}, {"forget/prob": metric([0.5, 0.6])}, env={"seed": 0}, name=name, track="llm")
    return merge_audit(r, audit_) if audit_ is not None else r


def test_report_section(target_audit, self_audit):
    """results.json with `audits` gets "Is it really forgotten?": a verdict table (runs x attacks) and one plot
    per attack; a run without an audit shows a dash, a malformed block never crashes the page."""
    from obliviate.report import build_html

    broken = _results("odd")
    broken["audits"] = {"attacks": {"quantize": {"verdict": 3, "checks": {"int4": {"model": "x"}}}, "utf": None}}
    page = build_html([_results("target", target_audit), _results("npo"), broken,
                       _results("oracle", self_audit)])
    assert "Is it really forgotten?" in page and 'id="audit-verdicts"' in page
    table = page.split('id="audit-verdicts"')[1].split("</table>")[0]
    assert table.count("residual") >= len(MODEL_ATTACKS) and table.count(">clean") >= len(MODEL_ATTACKS)
    assert ">npo<" not in table  # no audit: no row
    assert '<td class="missing">—</td>' in table  # the malformed run's cells
    for attack in MODEL_ATTACKS:
        assert f'id="plot-audit-{attack}"' in page
    assert "blind (model-free) MIA AUC" in page
    assert "Is it really forgotten?" not in build_html([_results("npo")])
