"""`obliviate unlearn` and `obliviate methods` through engine/cli.py, and the shipped accelerate configs."""
import argparse
import json
from pathlib import Path

import pytest

from obliviate.engine import cli

CONFIGS = sorted((Path(__file__).parents[2] / "configs" / "accelerate").glob("*.yaml"))


def parse(argv):
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_accelerate_configs_load(path):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(path))
    expected = {"ddp.yaml": "MULTI_GPU", "fsdp.yaml": "FSDP", "deepspeed_zero3.yaml": "DEEPSPEED"}[path.name]
    assert str(config.distributed_type).endswith(expected)
    assert config.num_processes >= 2


def test_three_configs_shipped():
    assert [p.name for p in CONFIGS] == ["ddp.yaml", "deepspeed_zero3.yaml", "fsdp.yaml"]


def test_methods_lists_every_method(capsys):
    args = parse(["methods", "--json"])
    assert args.func(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows if r["track"] == "llm"} == {"ga", "grad_diff", "npo", "simnpo", "idk_dpo", "rmu",
                                                                "undial", "task_vector"}
    args = parse(["methods"])
    args.func(args)
    assert "beta=0.1" in capsys.readouterr().out


def test_unlearn_command_writes_model_and_run_json(trained, tokenizer, qa_records, tmp_path, capsys):
    from obliviate.models import save

    save(trained, tokenizer, tmp_path / "target")
    data = tmp_path / "data"
    data.mkdir()
    for name, recs in (("forget.jsonl", qa_records[:4]), ("retain.jsonl", qa_records[4:])):
        (data / name).write_text("".join(json.dumps(r) + "\n" for r in recs))
    args = parse(["unlearn", "--model", str(tmp_path / "target"), "--data", str(data), "--forget", "forget.jsonl",
                  "--retain", "retain.jsonl", "--method", "npo", "--out", str(tmp_path / "run"), "--quiet",
                  "--set", "method.beta=0.2", "--set", "train.max_steps=2", "--set", "train.batch_size=4"])
    assert args.func(args) == 0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["config"]["hyper_parameters"]["beta"] == 0.2 and run["totals"]["steps"] == 2
    assert (tmp_path / "run" / "model" / "model.safetensors").exists()
    assert "unlearned with npo: 2 steps" in capsys.readouterr().out


def test_unlearn_command_on_tofu_files(tmp_path, capsys):
    """`--data tofu:PATH` reaches the engine: a tiny model whose tokenizer covers TOFU's text unlearns forget01."""
    import os
    from pathlib import Path

    import pytest

    from obliviate.data import load_tofu
    from obliviate.models import build_model, save, train_tokenizer

    tofu = Path(os.environ.get("OBLIVIATE_TOFU_DIR", Path(__file__).resolve().parents[3] / "shared" / "data" / "tofu"))
    if not tofu.is_dir() and not os.environ.get("CI"):
        pytest.skip(f"TOFU files not found at {tofu}")
    texts = [r[k] for r in load_tofu("full", tofu)[:400] for k in ("question", "answer")]
    tok = train_tokenizer(texts + ["Question: \nAnswer:"], vocab_size=600)
    save(build_model("tiny", tok), tok, tmp_path / "target")
    args = parse(["unlearn", "--model", str(tmp_path / "target"), "--data", f"tofu:{tofu}", "--forget", "forget01",
                  "--retain", "retain99", "--method", "grad_diff", "--out", str(tmp_path / "run"), "--quiet",
                  "--set", "train.max_steps=2", "--set", "train.batch_size=4"])
    assert args.func(args) == 0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["totals"]["steps"] == 2
    assert "unlearned with grad_diff: 2 steps" in capsys.readouterr().out
