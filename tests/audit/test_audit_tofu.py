"""TOFU-format data: the probe types its fields allow run, the others are n/a naming the field; the linear probe
needs separable values (persons corpus) and says so; in-context facts come from the author's other items."""
from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path

import pytest

TOFU = Path(os.environ.get("OBLIVIATE_TOFU_DIR", Path(__file__).resolve().parents[3] / "shared" / "data" / "tofu"))


@pytest.fixture(scope="module")
def tofu_setup():
    from obliviate.data import load_splits
    from obliviate.models import build_model, train_tokenizer

    s = load_splits(f"tofu:{TOFU}", "forget01")
    s = dataclasses.replace(s, forget=s.forget[:10], retain=s.retain[:20], retain_perturbed=s.retain_perturbed[:10])
    texts = [r["question"] + " " + r["answer"] for r in s.forget + s.retain]
    texts += [p for r in s.forget_perturbed for p in [*r["perturbed_answer"], r["paraphrased_question"],
                                                      r["paraphrased_answer"]]]
    tok = train_tokenizer(texts, vocab_size=400)
    return s, tok, build_model("tiny", tok, seed=0)


def test_tofu_probes_and_parametric(tofu_setup):
    from obliviate.audit import audit

    s, tok, model = tofu_setup
    r = audit(model, tok, s, oracle=(copy.deepcopy(model), tok), attacks=["probes", "parametric", "incontext"])
    probes = r["attacks"]["probes"]["checks"]
    assert {k for k, c in probes.items() if c["verdict"] != "n/a"} == {"paraphrase", "choice", "adversarial"}
    assert "'paraphrased_answer'" in probes["cloze"]["reason"] and "'answer'" in probes["reverse"]["reason"]
    param = r["attacks"]["parametric"]["checks"]
    assert param["linear_probe"]["verdict"] == "n/a" and "field 'answer'" in param["linear_probe"]["reason"]
    assert param["logit_lens"]["verdict"] == "clean"  # a copy of the model against itself
    assert r["attacks"]["incontext"]["verdict"] == "clean"
    assert all(a["verdict"] == "clean" for a in r["attacks"].values())
