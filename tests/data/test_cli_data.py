"""`obliviate data check` and `obliviate data persons` through obliviate.cli.main: output and exit codes."""
from __future__ import annotations

import json
import types

import pytest

import obliviate.cli
import obliviate.data
from obliviate.data import write_jsonl, write_records


@pytest.fixture(autouse=True)
def only_data_commands(monkeypatch):
    """Parse with the data subcommands alone, so these tests do not depend on other packages' CLIs."""
    monkeypatch.setattr(obliviate.cli, "COMMAND_MODULES", ["obliviate.data.cli"])


def run(*argv) -> int:
    return obliviate.cli.main(list(map(str, argv)))


@pytest.fixture
def pair(tmp_path):
    """forget10 (2 items of person 9, with perturbed answers) and retain90 (3 items of persons 0 and 1)."""
    write_jsonl(tmp_path / "forget10.json", [{"question": f"q9{i}", "answer": "a", "person": 9,
                                              "perturbed_answer": ["b", "c"]} for i in range(2)])
    write_jsonl(tmp_path / "retain90.json", [{"question": f"q{i}", "answer": "a", "person": i // 2}
                                             for i in range(3)])
    return tmp_path


def test_check_ok_prints_counts(pair, capsys):
    assert run("data", "check", pair) == 0
    out = capsys.readouterr().out
    assert "forget10.json: 2 qa items, 1 persons, 2 with perturbed answers, 0 without" in out
    assert "retain90.json: 3 qa items, 2 persons, 0 with perturbed answers, 3 without" in out
    assert "forget10.json / retain90.json: 0 shared items" in out and "ok: 2 file(s) valid" in out


def test_check_overlap_exit_2_unless_allowed(pair, capsys):
    write_jsonl(pair / "retain90.json", [{"question": "q91", "answer": " a"}])
    assert run("data", "check", pair / "forget10.json", pair / "retain90.json") == 2
    err = capsys.readouterr().err
    assert "error:" in err and "share 1 item(s)" in err and "item 2 of" in err and "retain90.json" in err
    assert len(err.strip().splitlines()) == 1
    assert run("data", "check", pair, "--allow-overlap") == 0
    assert "1 shared items (allowed)" in capsys.readouterr().out


def test_check_bad_file_exit_2(tmp_path, capsys):
    (tmp_path / "bad.jsonl").write_text('{"question": "q", "answer": "a"}\n{"question": "q"}\n')
    assert run("data", "check", tmp_path / "bad.jsonl") == 2
    err = capsys.readouterr().err
    assert "bad.jsonl:2" in err and "field 'answer'" in err and "rule: required" in err
    assert run("data", "check", tmp_path / "absent.jsonl") == 2
    assert "rule: exists" in capsys.readouterr().err


def test_check_map_and_kind(tmp_path, capsys):
    write_records(tmp_path / "mine.csv", [{"prompt": "Who?", "response": "Ann."}])
    assert run("data", "check", tmp_path / "mine.csv") == 2
    assert "rule: required column" in capsys.readouterr().err
    assert run("data", "check", tmp_path / "mine.csv", "--map", "prompt=question", "--map", "response=answer") == 0
    assert "mine.csv: 1 qa items, no persons" in capsys.readouterr().out
    assert run("data", "check", tmp_path / "mine.csv", "--map", "prompt") == 2
    assert "expected YOURS=OURS" in capsys.readouterr().err
    assert run("data", "check", tmp_path / "mine.csv", "--kind", "text") == 2
    assert "field 'text'" in capsys.readouterr().err


def test_persons_calls_the_generator(tmp_path, monkeypatch, capsys):
    calls = []

    def generate(out, persons=200, facts=10, holdout=20, seed=0):
        calls.append((str(out), persons, facts, holdout, seed))
        return {"counts": {"full.json": persons * facts, "forget10.json": persons * facts // 10}}

    fake = types.SimpleNamespace(generate=generate)
    monkeypatch.setitem(__import__("sys").modules, "obliviate.data.persons", fake)
    monkeypatch.setattr(obliviate.data, "persons", fake, raising=False)
    assert run("data", "persons", "--out", tmp_path / "c", "--persons", 30, "--facts", 4, "--seed", 3) == 0
    assert calls == [(str(tmp_path / "c"), 30, 4, 20, 3)]
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "full 120, forget10 12" in out and "manifest.json" in out


def test_persons_real_generator_then_check(tmp_path, capsys):
    pytest.importorskip("obliviate.data.persons")
    assert run("data", "persons", "--out", tmp_path / "c", "--persons", 10, "--facts", 2, "--holdout", 1) == 0
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["counts"]["full.json"] == 20
    assert run("data", "check", tmp_path / "c") == 0
    out = capsys.readouterr().out
    assert "forget10.json / retain90.json: 0 shared items" in out


def test_check_warns_about_a_field_longer_than_the_context(tmp_path, capsys):
    write_jsonl(tmp_path / "f.jsonl", [{"question": "q", "answer": "a"}, {"question": "x" * 2_000_000, "answer": "a"}])
    assert run("data", "check", tmp_path / "f.jsonl") == 0  # a warning, not a failure
    captured = capsys.readouterr()
    assert "ok: 1 file(s) valid" in captured.out
    # 2,000,000 bytes / 4 bytes a token, against the presets' 512 positions
    assert captured.err.strip() == (f"warning: {tmp_path / 'f.jsonl'}:2: field 'question': about 500000 tokens, "
                                    "longer than the model's context of 512 (training and evaluation truncate it)")


def test_check_max_tokens_names_each_field_and_caps_the_warnings(tmp_path, capsys):
    # 4 items x (question 40 bytes = 10 tokens, perturbed answer 41 bytes = 11 tokens); answer 'a' = 1 token
    write_records(tmp_path / "f.csv", [{"question": "q" * 40, "answer": "a", "perturbed_answer": ["b" * 41]}] * 4)
    assert run("data", "check", tmp_path / "f.csv", "--max-tokens", 10) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith(f"warning: {tmp_path / 'f.csv'}:row 1: field 'perturbed_answer[0]': about 11 tokens")
    assert len(lines) == 4 and all("'perturbed_answer[0]'" in line for line in lines)  # 10 tokens fit
    assert run("data", "check", tmp_path / "f.csv", "--max-tokens", 9) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 6 and lines[-1] == f"warning: {tmp_path / 'f.csv'}: 3 more fields longer than 9 tokens"
    assert run("data", "check", tmp_path / "f.csv", "--max-tokens", 0) == 2
    assert "--max-tokens: must be >= 1, got 0" in capsys.readouterr().err


def test_check_counts_exactly_with_a_tokenizer(tmp_path, capsys, tokenizer):
    tokenizer.save_pretrained(tmp_path / "tok")
    text = "Ada Vale1 was born in Oslo. " * 10
    n = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    write_jsonl(tmp_path / "t.jsonl", [{"text": text}])
    assert run("data", "check", tmp_path / "t.jsonl", "--tokenizer", tmp_path / "tok", "--max-tokens", n) == 0
    assert capsys.readouterr().err == ""
    assert run("data", "check", tmp_path / "t.jsonl", "--model", tmp_path / "tok", "--max-tokens", n - 1) == 0
    assert f"t.jsonl:1: field 'text': {n} tokens, longer than the model's context of {n - 1}" in \
        capsys.readouterr().err
