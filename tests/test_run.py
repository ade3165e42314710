"""The spine: the run spec (validation, every error at once with file and line) and `run()` (unlearn → evaluate →
results.json), which must give exactly what composing the stages by hand gives; the example specs run."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from obliviate.cli import main
from obliviate.errors import ConfigError
from obliviate.run import Stages, curve_stride, run, unlearning_cost
from obliviate.spec import load_spec

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_spec_reports_every_problem_at_once_with_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: m\ndata: d\nmethod:\n  name: npo\n  beta: fast\n  betta: 1\ntrain:\n  lrr: 1\n"
                    "eval:\n  suite: everything\nout: o\n")
    with pytest.raises(ConfigError) as e:
        load_spec(path, sets=["engine.nope=1"])
    lines = str(e.value).splitlines()
    assert lines[0] == "5 problems in the run spec:"
    assert f"  {path}:5: method.beta: Input should be a valid number" in "\n".join(lines)
    assert f"  {path}:6: method.betta: unknown key (got 1)" in lines
    assert f"  {path}:8: train.lrr: unknown key (got 1)" in lines
    assert any(ln.startswith(f"  {path}:10: eval.suite: Input should be 'tofu'") for ln in lines)
    assert "  --set engine.nope: engine.nope: unknown key (got 1)" in lines


def test_spec_unknown_method_and_missing_keys():
    with pytest.raises(ConfigError, match="method.name: unknown method; available: ga, grad_diff"):
        load_spec({"model": "m", "data": "d", "method": "nope", "out": "o"})
    with pytest.raises(ConfigError) as e:
        load_spec({"data": "d", "method": {"beta": 1}, "lora": {"r": 0}})
    text = str(e.value)
    assert "spec: model: Field required" in text and "spec: out: Field required" in text
    assert "method.name: Field required" in text and "lora.r: Input should be greater than or equal to 1" in text


def test_spec_overrides_are_typed_and_shorthand_method():
    spec = load_spec({"model": "m", "data": "d", "method": "npo", "out": "o", "seed": 3},
                     sets=["method.beta=0.3", "train.epochs=2", "engine.ref_cache=false"])
    assert spec.overrides() == {"method.beta": 0.3, "train.epochs": 2, "engine.ref_cache": False,
                                "train.seed": 3}


def test_curve_stride():
    """150 forget items, batch 8: ceil(150/8) = 19 steps/epoch x 5 epochs = 95 steps; 95/4 = 23.75 -> every 24."""
    base = {"model": "m", "data": "d", "method": "npo", "out": "o"}
    assert curve_stride(load_spec({**base, "train": {"epochs": 5, "batch_size": 8}}), 150) == {"engine.eval_every": 24}
    assert curve_stride(load_spec({**base, "train": {"max_steps": 6}}), 12) == {"engine.eval_every": 2}
    assert curve_stride(load_spec({**base, "train": {"max_steps": 2}}), 12) == {"engine.eval_every": 1}
    assert curve_stride(load_spec({**base, "engine": {"eval_every": 3}}), 150) == {}
    assert curve_stride(load_spec({**base, "eval": {"curve_points": 0}}), 150) == {}


def test_unlearning_cost_leaves_out_the_hook():
    """wall 10 s of which hook 4 s -> 6 s of unlearning; oracle trained in 60 s -> ratio 0.1; unknown -> None."""
    totals = {"wall_time_s": 10.0, "steps": 5, "tokens": 100, "peak_memory_mb": 1.0}
    cost = unlearning_cost(totals, 4.0, {"wall_time_s": 60.0})
    assert cost["wall_time_s"] == 6.0 and cost["eval_hook_s"] == 4.0 and cost["cost_ratio"] == pytest.approx(0.1)
    unknown = unlearning_cost(totals, 0.0, None)
    assert unknown["cost_ratio"] is None and "oracle training cost unknown" in unknown["note"]


def _spec(root: Path, corpus: Path, out: Path, **extra) -> dict:
    return {"model": str(root / "target"), "data": str(corpus), "forget": "forget10", "method": {"name": "npo"},
            "train": {"max_steps": 3, "batch_size": 4}, "engine": {"progress": False},
            "eval": {"oracle": str(root / "oracle"), "suite": "tofu", "curve_points": 0}, "out": str(out), **extra}


def test_run_equals_the_stages_composed_by_hand(trained, corpus, persons_splits, tmp_path):
    """run(spec) = engine.unlearn + eval.evaluate with the same settings: identical metrics (every per-item value),
    cost filled from the oracle's train.json, results.json and run.json written, the model saved."""
    from obliviate.engine import unlearn
    from obliviate.eval.suite import evaluate
    from obliviate.models import load

    tok, _, oracle, root = trained
    results = run(_spec(root, corpus, tmp_path / "run"))
    model, _ = load(root / "target")
    by_hand, _ = unlearn(model, tok, persons_splits.forget, persons_splits.retain, "npo",
                         {"train.max_steps": 3, "train.batch_size": 4, "engine.progress": False, "train.seed": 0})
    expected = evaluate(by_hand, tok, persons_splits, oracle=(oracle, tok), suite="tofu")
    assert results["metrics"] == json.loads(json.dumps(expected["metrics"]))  # NaN-free, JSON-equal
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["name"] == "npo" and saved["config"]["spec"]["train"]["max_steps"] == 3
    oracle_wall = json.loads((root / "oracle" / "train.json").read_text())["wall_time_s"]
    assert saved["cost"]["cost_ratio"] == pytest.approx(saved["cost"]["wall_time_s"] / oracle_wall)
    assert saved["training"]["target"]["epochs"] > 0 and (tmp_path / "run" / "run.json").is_file()
    reloaded, _ = load(tmp_path / "run" / "model")
    assert all(torch.equal(a, b) for a, b in zip(reloaded.parameters(), by_hand.parameters(), strict=True))


def test_run_with_stages_in_memory_and_saved_oracle_results(trained, corpus, persons_splits, tmp_path):
    """A caller holding the splits and model passes them in; saved oracle results replace scoring the oracle and
    give the same forget quality; the curve starts from the target's results."""
    tok, target, oracle, root = trained
    first = run(_spec(root, corpus, tmp_path / "a", save_model=False))
    oracle_results = json.loads((tmp_path / "a" / "results.json").read_text())
    oracle_results["metrics"] = oracle_results["oracle"]["metrics"]  # the oracle's own per-item values
    spec = _spec(root, corpus, tmp_path / "b", save_model=False)
    spec["eval"] = {"oracle": str(root / "oracle"), "suite": "tofu", "curve_points": 2,
                    "curve_metrics": ["forget_quality", "forget/prob"]}
    stages = Stages(splits=persons_splits, model=copy.deepcopy(target), tokenizer=tok, oracle_results=oracle_results,
                    target_results=first)
    second = run(spec, stages=stages)
    assert second["metrics"]["forget_quality"]["value"] == first["metrics"]["forget_quality"]["value"]
    assert [p["step"] for p in second["curve"]][0] == 0 and len(second["curve"]) >= 2
    assert not (tmp_path / "b" / "model").exists() and (tmp_path / "b" / "run.json").is_file()


def test_cli_run_and_unlearn_with_a_config(trained, corpus, tmp_path, capsys):
    _, _, _, root = trained
    spec = tmp_path / "spec.yaml"
    import yaml

    spec.write_text(yaml.safe_dump(_spec(root, corpus, tmp_path / "out")))
    assert main(["run", str(spec), "--set", "train.max_steps=2"]) == 0
    printed = capsys.readouterr().out
    assert "npo: forget_quality" in printed and "results.json" in printed
    assert json.loads((tmp_path / "out" / "results.json").read_text())["config"]["spec"]["train"]["max_steps"] == 2
    assert main(["unlearn", "--config", str(spec), "--out", str(tmp_path / "u"), "--method", "ga"]) == 0
    run_json = json.loads((tmp_path / "u" / "run.json").read_text())
    assert run_json["config"]["method"] == "ga" and (tmp_path / "u" / "model").is_dir()
    assert main(["run", str(spec), "--set", "method.betta=1"]) == 2
    assert "method.betta: unknown key" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["persons-npo.yaml", "tofu-grad-diff.yaml", "jsonl-ga.yaml"])
def test_example_specs_run(name, trained, corpus, tmp_path):
    """Each example spec runs, with its paths pointed at the tiny test models and data (TOFU-format and JSONL
    data written from the persons corpus) and a few steps."""
    tok, _, _, root = trained
    base = load_spec(CONFIGS / name).model_dump(exclude_unset=True)
    data, forget, retain = str(corpus), "forget10", None
    if name.startswith("jsonl"):
        folder = tmp_path / "mine"
        folder.mkdir()
        for split in ("forget10", "retain90"):
            rows = [json.loads(x) for x in (corpus / f"{split}.json").read_text().splitlines() if x.strip()]
            (folder / f"{split}.jsonl").write_text("".join(json.dumps({"question": r["question"],
                                                                       "answer": r["answer"]}) + "\n" for r in rows))
        data, forget, retain = str(folder), "forget10.jsonl", "retain90.jsonl"
    oracle_results = None
    if "oracle_results" in base.get("eval", {}):
        first = run(_spec(root, corpus, tmp_path / "oracle-run", save_model=False))
        oracle_results = tmp_path / "oracle.json"
        oracle_results.write_text(json.dumps({**first, "metrics": first["oracle"]["metrics"]}))
    base["eval"] = {**base.get("eval", {}), "curve_points": 0,
                    **({"oracle_results": str(oracle_results)} if oracle_results else {"oracle": str(root / "oracle")})}
    if base.get("lora"):
        base["lora"]["targets"] = ["q_proj", "v_proj"]
    spec = {**base, "model": str(root / "target"), "data": data, "forget": forget, "retain": retain,
            "out": str(tmp_path / "out"), "report": False,
            "train": {**base.get("train", {}), "max_steps": 2, "batch_size": 4}, "engine": {"progress": False}}
    results = run(spec)
    headline = "knowmem_f" if name.startswith("jsonl") else "forget_quality"  # plain QA: no perturbed answers
    assert results["name"] == base["name"] and results["metrics"][headline]["value"] >= 0
    assert results["cost"]["wall_time_s"] > 0


def test_run_with_an_audit_section(trained, corpus, tmp_path):
    """`audit:` in the spec: the attacks run on the unlearned model and the oracle, OUT/audit.json is written and
    merged into results.json under `audits` (with the blind MIA beside the MIA metrics)."""
    _, _, _, root = trained
    spec = _spec(root, corpus, tmp_path / "run", save_model=False,
                 audit={"attacks": ["blind_mia", "quantize"], "seed": 0})
    spec["eval"]["suite"] = "all"
    results = run(spec)
    saved = json.loads((tmp_path / "run" / "audit.json").read_text())
    assert set(saved["attacks"]) == {"blind_mia", "quantize"}
    assert results["audits"]["attacks"].keys() == saved["attacks"].keys()
    assert "mia/blind" in results["metrics"]
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    assert on_disk["audits"]["attacks"]["quantize"]["verdict"] in ("residual", "clean", "n/a")
