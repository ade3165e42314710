"""`obliviate vision train | unlearn | eval` on digits: target, oracle, one method, results.json against the oracle."""
from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import Subset

from obliviate.cli import main
from obliviate.vision import load_digits, unlearn
from obliviate.vision.data import ForgetSpec
from obliviate.vision.models import load_model


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    """Target (all data) and oracle (without random:0.1), 2 epochs each; ga for 1 epoch; eval against the oracle."""
    root = tmp_path_factory.mktemp("flow")
    for argv in (["train", "--epochs", "2", "--out", str(root / "target")],
                 ["train", "--epochs", "2", "--forget", "random:0.1", "--out", str(root / "oracle")],
                 ["unlearn", "--model", str(root / "target"), "--forget", "random:0.1", "--method", "ga",
                  "--set", "method.epochs=1", "--seed", "3", "--out", str(root / "ga")],
                 ["eval", "--model", str(root / "ga"), "--oracle", str(root / "oracle"), "--forget", "random:0.1",
                  "--out", str(root / "ga" / "results.json")]):
        assert main(["vision", *argv]) == 0
    return root


def test_model_folders_describe_themselves(flow, tmp_path):
    (tmp_path / "probe").write_text("")
    normal = (tmp_path / "probe").stat().st_mode & 0o777
    for name, kind, forget in (("target", "train", None), ("oracle", "train", "random:0.1:0"),
                               ("ga", "unlearn", "random:0.1:0")):
        run = json.loads((flow / name / "run.json").read_text())
        assert (run["kind"], run["forget"], run["data"]["name"]) == (kind, forget, "digits"), name
        assert run["log"]["wall_time_s"] > 0 and run["log"]["steps"] > 0
        assert (flow / name / "model.safetensors").stat().st_mode & 0o777 == normal  # not 0600
    assert json.loads((flow / "oracle" / "run.json").read_text())["name"] == "oracle"


def test_cli_unlearn_is_the_library_unlearn(flow):
    """The saved result equals `obliviate.vision.unlearn` on the same target, split, method and seed, bit for bit."""
    data = load_digits()
    target, _ = load_model(flow / "target", data.input_shape, data.num_classes)
    f, r = ForgetSpec.parse("random:0.1").split(data)
    expected, _ = unlearn(target, Subset(data.train(), f.tolist()), Subset(data.train(), r.tolist()), "ga", seed=3,
                          epochs=1)
    got, run = load_model(flow / "ga", data.input_shape, data.num_classes)
    assert run["log"]["config"] == {"method": "ga", "lr": 0.01, "epochs": 1, "batch_size": 64, "momentum": 0.9,
                                    "weight_decay": 0.0005, "schedule": "constant"}
    for a, b in zip(expected.state_dict().values(), got.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_eval_writes_the_shared_schema_with_oracle_and_cost(flow):
    r = json.loads((flow / "ga" / "results.json").read_text())
    run = json.loads((flow / "ga" / "run.json").read_text())
    oracle_run = json.loads((flow / "oracle" / "run.json").read_text())
    assert (r["schema_version"], r["track"], r["name"], r["seeds"]) == (1, "vision", "ga", [0])
    assert set(r["metrics"]) == {"UA", "RA", "TA", "MIA_efficacy", "avg_gap"}
    assert set(r["oracle"]["metrics"]) == {"UA", "RA", "TA", "MIA_efficacy", "avg_gap"}
    gap = sum(abs(r["metrics"][k]["value"] - r["oracle"]["metrics"][k]["value"])
              for k in ("UA", "RA", "TA", "MIA_efficacy")) / 4
    assert r["metrics"]["avg_gap"]["value"] == pytest.approx(gap)
    assert r["cost"]["wall_time_s"] == run["log"]["wall_time_s"]
    assert r["cost"]["oracle"]["wall_time_s"] == oracle_run["log"]["wall_time_s"]
    assert r["cost"]["cost_ratio"] == pytest.approx(run["log"]["wall_time_s"] / oracle_run["log"]["wall_time_s"])
    assert r["config"]["forget"] == "random:0.1:0" and r["config"]["sizes"]["forget"] == 144
    assert r["config"]["method"]["method"] == "ga" and r["config"]["model"] == "SmallCNN"


@pytest.mark.parametrize("argv, message", [
    (["eval", "--model", "{ga}", "--oracle", "{oracle}", "--forget", "class:3", "--out", "{tmp}/r.json"],
     "--forget class:3: the model {ga} was made for forget set random:0.1:0"),
    (["eval", "--model", "{ga}", "--oracle", "{target}", "--forget", "random:0.1", "--out", "{tmp}/r.json"],
     "--oracle {target}: trained on all data (a target), not without the forget set"),
    (["unlearn", "--model", "{target}", "--forget", "random:0.1", "--set", "lr=0.1", "--out", "{tmp}/m"],
     "lr: unknown key; valid keys start with method."),
    (["unlearn", "--model", "{target}", "--forget", "random:0.1", "--method", "npo", "--out", "{tmp}/m"],
     "method 'npo': unknown vision method ('npo' is a llm method); available: retrain, ft, ga"),
    (["unlearn", "--model", "{target}", "--forget", "rand:0.1", "--out", "{tmp}/m"],
     "field 'forget': bad forget set: expected random:FRACTION[:SEED] or class:K (got 'rand:0.1')"),
    (["eval", "--model", "{tmp}", "--forget", "class:3", "--out", "{tmp}/r.json"],
     "{tmp}: not a vision model folder"),
])
def test_bad_input_is_one_line_naming_the_problem(flow, tmp_path, capsys, argv, message):
    paths = {"ga": flow / "ga", "oracle": flow / "oracle", "target": flow / "target", "tmp": tmp_path}
    assert main(["vision", *(a.format(**paths) for a in argv)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("obliviate vision: error: ") and message.format(**paths) in err and "\n" not in err
