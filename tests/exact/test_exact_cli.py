"""`obliviate exact ...` end to end on digits (tiny settings), and bad input as one clear line."""
from __future__ import annotations

import json

import pytest

from obliviate.cli import main


@pytest.fixture(scope="module")
def ens(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "ens"
    assert main(["exact", "train", "--track", "vision", "--data", "digits", "--shards", "2", "--slices", "2",
                 "--epochs", "2", "--executor", "serial", "--out", str(out)]) == 0
    return out


def test_train_delete_eval_where(ens, tmp_path, capsys):
    capsys.readouterr()
    items = tmp_path / "items.txt"
    items.write_text("# two items\n5\n9\n")
    assert main(["exact", "delete", str(ens), "--items", str(items), "--executor", "serial", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["deleted"] == [5, 9] and set(report["positions"]) == {"5", "9"}
    assert report["cost"]["samples"] < report["cost"]["full_retrain_samples"] or len(report["retrained"]) == 2
    assert main(["exact", "where", str(ens), "--ids", "5,6"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "item,shard,slice,index,deleted"
    assert lines[1].startswith("5,") and lines[1].endswith(",1") and lines[2].endswith(",0")
    assert main(["exact", "eval", str(ens)]) == 0
    assert "mean probability" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["exact", "delete", "{missing}", "--ids", "1"], "not an exact-unlearning folder"),
    (["exact", "delete", "{ens}", "--ids", "1,x"], "non-negative integers (got 'x')"),
    (["exact", "delete", "{ens}", "--ids", "99999"], "unknown training item id"),
    (["exact", "delete", "{ens}", "--items", "{missing}"], "items file not found"),
    (["exact", "train", "--track", "vision", "--shards", "0", "--out", "{missing}"], "--shards and --slices"),
])
def test_bad_input_is_one_line(ens, tmp_path, capsys, argv, message):
    argv = [a.format(ens=ens, missing=tmp_path / "missing") for a in argv]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and err.startswith("obliviate exact: error:")
