"""Approximate requests: the forget set is hashed at submission and checked again before the run; the run goes
through `unlearn_and_evaluate` (engine.unlearn + eval.evaluate against the oracle). The default test replaces that
one function by a stand-in; the slow one runs it for real on tiny Llama models."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from obliviate.errors import ConfigError, DataError
from obliviate.ledger import Ledger, make_receipt, run_request, submit_approximate
from obliviate.ledger.hashing import model_sha256, text_sha256
from obliviate.ledger.receipts import load_or_create_key, public_b64, verify


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def records(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    forget = [{"question": f"Where was Ada Vale{i} born?", "answer": f"In Oslo {i}."} for i in range(3)]
    retain = [{"question": f"What does Bo Lund{i} do?", "answer": f"Bo Lund{i} bakes."} for i in range(5)]
    _write_jsonl(data / "forget.jsonl", forget)
    _write_jsonl(data / "retain.jsonl", retain)
    model = tmp_path / "target"
    model.mkdir()
    save_file({"w": torch.zeros(3)}, str(model / "model.safetensors"))
    return data, model, forget


def _spec(data, model, out):
    return {"model": str(model), "data": str(data), "forget": "forget.jsonl", "retain": "retain.jsonl",
            "method": "npo", "oracle": str(model), "out": str(out)}


def test_approximate_request_is_hashed_run_and_receipted(db_url, records, tmp_path, monkeypatch):
    from obliviate.ledger import execute

    data, model, forget = records
    led = Ledger(db_url)
    rid = submit_approximate(led, "w", "forget Ada Vale", _spec(data, model, tmp_path / "run"))
    req = led.request(rid)
    assert req["kind"] == "approximate" and req["items_sha256"] == [
        text_sha256(f"{r['question']}\n{r['answer']}") for r in forget]

    def fake(spec):  # what unlearn_and_evaluate returns, without training
        out = tmp_path / "run" / "model"
        out.mkdir(parents=True)
        save_file({"w": torch.ones(3)}, str(out / "model.safetensors"))
        return {"model": str(out), "metrics": {"forget_quality": 0.5, "model_utility": float("nan")},
                "cost": {"steps": 2}, "report": None, "audit": None}

    monkeypatch.setattr(execute, "unlearn_and_evaluate", fake)
    run_request(led, rid, say=lambda _: None)
    run = led.show(rid)["runs"][0]
    assert run["method"] == "npo" and run["kind"] == "method"
    assert run["metrics"] == {"forget_quality": 0.5, "model_utility": None}  # NaN is stored as null
    assert run["model_before_sha256"] == model_sha256(model)
    receipt = make_receipt(led, rid, tmp_path / "k.pem")
    verify(receipt, tmp_path / "run" / "model", public_b64(load_or_create_key(tmp_path / "k.pem")))


def test_changed_forget_set_and_missing_oracle_are_refused(db_url, records, tmp_path):
    data, model, forget = records
    led = Ledger(db_url)
    rid = submit_approximate(led, "w", "t", _spec(data, model, tmp_path / "run"))
    _write_jsonl(data / "forget.jsonl", forget[:2])
    with pytest.raises(DataError, match="forget set changed since the request was submitted"):
        run_request(led, rid, say=lambda _: None)
    assert led.request(rid)["status"] == "submitted"  # refused before any run started
    spec = _spec(data, model, tmp_path / "run")
    del spec["oracle"]
    with pytest.raises(ConfigError, match="--oracle MODEL_DIR or --oracle-results"):
        submit_approximate(led, "w", "t", spec)
    with pytest.raises(ConfigError, match="unknown keys \\['colour'\\]"):
        submit_approximate(led, "w", "t", {**_spec(data, model, tmp_path / "r"), "colour": "red"})


@pytest.mark.slow  # trains two tiny Llamas, unlearns 2 steps, runs the evaluation suite: ~20 s CPU
def test_approximate_request_runs_unlearn_and_evaluate(tmp_path):
    from obliviate.data import load_splits
    from obliviate.data.persons import generate
    from obliviate.models import TrainRecipe, build_model, save, train, train_tokenizer
    from obliviate.models.corpus import corpus_texts

    generate(tmp_path / "persons", persons=10, facts=4, holdout=4, seed=0)
    s = load_splits(tmp_path / "persons", "forget10")
    tok = train_tokenizer(corpus_texts(tmp_path / "persons"), vocab_size=300)
    cfg = TrainRecipe(preset="tiny", epochs=2, batch_size=16, lr=5e-3, eval_every=0, vocab_size=300)
    for name, qa, texts in (("target", s.forget + s.retain, s.forget_texts + s.retain_texts),
                            ("oracle", s.retain, s.retain_texts)):
        m = build_model("tiny", tok, seed=0)
        train(m, tok, qa, [t["text"] for t in texts], cfg, progress=False)
        save(m, tok, tmp_path / name)
    led = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    rid = submit_approximate(led, "w", "t", {
        "model": str(tmp_path / "target"), "data": str(tmp_path / "persons"), "forget": "forget10", "method": "ga",
        "oracle": str(tmp_path / "oracle"), "out": str(tmp_path / "run"),
        "overrides": {"train.max_steps": "2", "engine.progress": "false"}})
    res = run_request(led, rid, say=lambda _: None)
    run = led.show(rid)["runs"][0]
    assert run["status"] == "done" and run["report"] == str(tmp_path / "run" / "results.json")
    assert "forget_quality" in run["metrics"] and run["cost"]["steps"] == 2
    assert res["model_after_sha256"] == model_sha256(tmp_path / "run" / "model") != run["model_before_sha256"]
