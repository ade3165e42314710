"""Bad input: an unknown attack lists the valid ones; an attack whose data is missing names the field (an error
when asked for by name, `n/a` with the reason when implied); the CLI writes audit.json or fails with one line."""
from __future__ import annotations

import dataclasses
import json

import pytest

from obliviate.audit import audit
from obliviate.audit.runner import ATTACKS, parse_attacks
from obliviate.cli import main
from obliviate.errors import ConfigError, DataError


def test_unknown_attack_lists_the_valid_ones():
    with pytest.raises(ConfigError) as e:
        parse_attacks("relearn,quantise")
    assert "'quantise'" in str(e.value) and all(a in str(e.value) for a in ATTACKS)
    assert parse_attacks(None) == (list(ATTACKS), False)
    assert parse_attacks("probes, utf") == (["probes", "utf"], True)


def test_missing_data_names_the_field(audit_models, audit_splits):
    tok, target, _, _ = audit_models
    no_holdout = dataclasses.replace(audit_splits, holdout=None, holdout_perturbed=None, holdout_texts=None)
    with pytest.raises(DataError, match="'holdout'"):  # no oracle and nothing to compare with
        audit(target, tok, no_holdout, attacks="probes")
    one_person = dataclasses.replace(audit_splits, forget=audit_splits.forget[:4])
    with pytest.raises(DataError, match="field 'person'"):  # relearn needs two forget persons
        audit(target, tok, one_person, oracle=target, attacks="relearn")


def test_implied_attacks_without_data_are_na(audit_models, audit_splits, monkeypatch):
    """attacks=None implies every attack; those the data cannot support become n/a naming the field. (The list
    is cut to two attacks here to keep the test fast; the rule is the same for all.)"""
    import obliviate.audit.runner as runner

    monkeypatch.setattr(runner, "ATTACKS", {k: runner.ATTACKS[k] for k in ("relearn", "blind_mia")})
    tok, target, _, _ = audit_models
    s = dataclasses.replace(audit_splits, forget=audit_splits.forget[:4], holdout=None, holdout_texts=None)
    r = audit(target, tok, s, oracle=target)
    assert r["verdicts"] == {"relearn": "n/a", "blind_mia": "n/a"}
    assert "field 'person'" in r["attacks"]["relearn"]["reason"]
    assert "field 'holdout'" in r["attacks"]["blind_mia"]["reason"]


def test_cli_writes_audit_json(audit_models, audit_corpus, tmp_path, capsys):
    _, _, _, root = audit_models
    out = tmp_path / "audit"
    rc = main(["audit", "--model", str(root / "target"), "--oracle", str(root / "oracle"), "--data",
               str(audit_corpus), "--attacks", "probes", "--out", str(out), "--quiet"])
    assert rc == 0
    r = json.loads((out / "audit.json").read_text())
    assert r["verdicts"] == {"probes": "residual"} and r["oracle"] == str(root / "oracle")
    assert "probes" in capsys.readouterr().out
    assert not [p for p in out.iterdir() if p.name != "audit.json"]  # no temporary file left behind


def test_cli_unknown_attack_fails_with_one_line(audit_corpus, tmp_path, capsys):
    rc = main(["audit", "--model", str(tmp_path / "nowhere"), "--data", str(audit_corpus), "--attacks", "nope",
               "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "'nope'" in err and "relearn" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_cli_bad_setting_lists_the_valid_keys(audit_models, audit_corpus, tmp_path, capsys):
    _, _, _, root = audit_models
    rc = main(["audit", "--model", str(root / "target"), "--data", str(audit_corpus), "--attacks", "probes",
               "--set", "relearn_rate=1", "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "relearn_rate" in err and "relearn_lr" in err
