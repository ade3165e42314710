"""Audits of wrapped models (`audit/wrapped.py`): behind an ECO guard that flags every prompt, weight-level attacks
see the raw weights (hooks detached; values identical to the unguarded target's audit) and behaviour-level attacks
see the guarded model (values move); an O3 folder is audited gated, through `obliviate audit`; a spec with `guard:`
and `audit:` writes audit.json with the same split."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from obliviate.audit import audit
from obliviate.audit.runner import ATTACKS
from obliviate.audit.wrapped import WEIGHT_LEVEL


def _flag_all_guard(tok):
    from obliviate.guard import Guard, vocab_sha256
    from obliviate.guard.classifier import PromptClassifier

    class FlagAll(PromptClassifier):
        def flags(self, prompts):
            return np.ones(len(prompts), dtype=bool)

    return Guard(FlagAll((0.0,) * 384, 0.0, 0.5, 0.05), 0.0, vocab_sha256(tok), "zero")


@pytest.fixture()
def guarded(audit_models):
    from obliviate.guard import GuardedModel

    tok, target, _, _ = audit_models
    g = GuardedModel(target, tok, _flag_all_guard(tok))
    yield g
    g.remove()


def test_each_attack_sees_the_model_its_level_says(guarded, audit_models, audit_splits, monkeypatch):
    """Every attack replaced by a spy: weight-level ones get the raw model with no hook of the guard on it, the
    others the guarded model with its hook; audit.json records both, and the guard is attached again after."""
    import importlib

    tok, target, oracle, _ = audit_models
    saw = {}

    def spy(name):
        def run(ctx):
            hooks = len(target.get_input_embeddings()._forward_hooks)
            saw[name] = ("raw" if ctx.model is target else "wrapped" if ctx.model is guarded else "?", hooks)
            return {"attack": name, "verdict": "clean", "reason": "spy", "checks": {}, "details": {}}
        return run

    for name, path in ATTACKS.items():
        module = importlib.import_module(path)
        monkeypatch.setattr(module, "run", spy(name))
        monkeypatch.setattr(module, "requires", lambda ctx: None)
    found = audit(guarded, tok, audit_splits, oracle=(oracle, tok))
    assert saw == {n: ("raw", 0) if n in WEIGHT_LEVEL else ("wrapped", 1) for n in ATTACKS}
    assert found["wrapper"]["kind"] == "eco guard" and found["wrapper"]["weights unchanged"] is True
    assert {n: a["model_seen"] for n, a in found["attacks"].items()} == found["wrapper"]["models_seen"]
    assert len(target.get_input_embeddings()._forward_hooks) == 1
    assert "wrapper" not in audit(target, tok, audit_splits, oracle=(oracle, tok), attacks="probes")


def test_weight_level_values_are_the_raw_models(guarded, audit_models, audit_splits):
    """quantize on the guarded model = quantize on the target (same weights); probes through a guard that zeroes
    every question's embeddings differ from the target's."""
    tok, target, oracle, _ = audit_models
    wrapped = audit(guarded, tok, audit_splits, oracle=(oracle, tok), attacks="quantize,probes")
    plain = audit(target, tok, audit_splits, oracle=(oracle, tok), attacks="quantize,probes")
    assert wrapped["attacks"]["quantize"]["checks"] == plain["attacks"]["quantize"]["checks"]
    assert wrapped["attacks"]["probes"]["checks"] != plain["attacks"]["probes"]["checks"]
    assert wrapped["attacks"]["quantize"]["model_seen"] == "raw"


def test_an_o3_folder_is_audited_gated(audit_models, audit_corpus, tmp_path):
    """An O3 folder whose one detector gates every prompt: `obliviate audit` loads it gated; probes run through
    the adapters, quantize on the base weights (identical to the target's)."""
    from obliviate.cli import main
    from obliviate.continual.detector import Detector
    from obliviate.continual.o3 import O3Model
    from obliviate.models import save

    tok, target, _, root = audit_models
    d = target.config.hidden_size
    key = "model.layers.0.self_attn.q_proj"
    q = target.get_submodule(key)
    gen = torch.Generator().manual_seed(0)
    ad = {key: (torch.randn(2, q.in_features, generator=gen), torch.randn(q.out_features, 2, generator=gen))}
    det = Detector(np.zeros(d, dtype=np.float32), np.zeros((d, d), dtype=np.float32), 1.0)
    o3 = O3Model(target, tok, [ad], [1.0], [det], 1)
    save(o3, tok, tmp_path / "o3")
    o3.remove()
    for name, model in (("o3", tmp_path / "o3"), ("plain", root / "target")):
        assert main(["audit", "--model", str(model), "--oracle", str(root / "oracle"), "--data", str(audit_corpus),
                     "--attacks", "quantize,probes", "--out", str(tmp_path / f"a-{name}"), "--quiet"]) == 0
    a, b = (json.loads((tmp_path / f"a-{n}" / "audit.json").read_text()) for n in ("o3", "plain"))
    assert a["name"] == "o3" and a["wrapper"]["models_seen"] == {"quantize": "raw", "probes": "wrapped"}
    assert a["attacks"]["quantize"]["checks"] == b["attacks"]["quantize"]["checks"]
    assert a["attacks"]["probes"]["checks"] != b["attacks"]["probes"]["checks"]


def test_audit_guard_through_the_cli(audit_models, audit_corpus, tmp_path, monkeypatch):
    """`obliviate audit --guard DIR`: the model is loaded behind the guard read from DIR (here one that flags every
    prompt, stood in for `Guard.load` so no sentence encoder is needed); audit.json names the guard, quantize saw the
    raw weights (checks identical to the bare target's) and probes the guarded model (checks differ)."""
    from obliviate.cli import main
    from obliviate.guard import Guard

    tok, _, _, root = audit_models
    asked = []
    monkeypatch.setattr(Guard, "load", classmethod(lambda cls, where: asked.append(str(where)) or _flag_all_guard(tok)))
    common = ["--oracle", str(root / "oracle"), "--data", str(audit_corpus), "--attacks", "quantize,probes", "--quiet"]
    assert main(["audit", "--model", str(root / "target"), "--guard", str(tmp_path / "g"),
                 "--out", str(tmp_path / "a-eco"), *common]) == 0
    assert main(["audit", "--model", str(root / "target"), "--out", str(tmp_path / "a-plain"), *common]) == 0
    assert asked == [str(tmp_path / "g")]
    a, b = (json.loads((tmp_path / f"a-{n}" / "audit.json").read_text()) for n in ("eco", "plain"))
    assert a["name"] == "eco" and a["guard"] == str(tmp_path / "g")
    assert a["wrapper"]["models_seen"] == {"quantize": "raw", "probes": "wrapped"}
    assert a["attacks"]["quantize"]["checks"] == b["attacks"]["quantize"]["checks"]
    assert a["attacks"]["probes"]["checks"] != b["attacks"]["probes"]["checks"]


def test_guard_on_an_o3_folder_is_refused(audit_corpus, tmp_path):
    import argparse

    from obliviate.audit import cli
    from obliviate.errors import ConfigError

    (tmp_path / "m" / "o3").mkdir(parents=True)
    (tmp_path / "m" / "o3" / "o3.json").write_text("{}")
    args = argparse.Namespace(model=str(tmp_path / "m"), guard="g", trust_remote_code=False)
    with pytest.raises(ConfigError, match=r"--guard: .* is an O3 folder.*rule: a guard wraps a plain model"):
        cli._load(args)


@pytest.mark.slow
def test_spec_with_guard_and_audit(audit_models, audit_corpus, tmp_path):
    """`guard:` + `audit:` in a run spec: the guard is fitted (σ given), evaluated, and audited; audit.json and
    results.json's `audits` say which model each attack saw."""
    from obliviate.run import run

    _, _, _, root = audit_models
    res = run({"model": str(root / "target"), "data": str(audit_corpus), "guard": {"sigma": 1.0},
               "eval": {"oracle": str(root / "oracle"), "suite": "tofu"}, "out": str(tmp_path / "eco"),
               "save_model": False, "audit": {"attacks": ["quantize", "probes"]}})
    found = json.loads((tmp_path / "eco" / "audit.json").read_text())
    assert found["wrapper"]["models_seen"] == {"quantize": "raw", "probes": "wrapped"}
    assert res["audits"]["wrapper"]["kind"] == "eco guard" and res["guard"]["weights unchanged"] is True
