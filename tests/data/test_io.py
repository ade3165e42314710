"""read_records / write_records: every format round-trips, column mapping, and each bad input's error message."""
from __future__ import annotations

import json

import pytest

from obliviate.data import read_records, write_jsonl, write_records
from obliviate.errors import DataError

QA = [
    {"question": "Where was Ann born?", "answer": "Ann was born in Oslo.", "person": 0,
     "paraphrased_answer": "Oslo is Ann's birthplace.", "perturbed_answer": ["Oslo? No: Rome.", "Lima, \"quoted\""]},
    {"question": "What is Bo's job?", "answer": "Bo is a baker, née Ø.", "person": 1,
     "paraphrased_answer": "A baker.", "perturbed_answer": ["A pilot.", "A nurse, with, commas"]},
]


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_every_format_round_trips(tmp_path, suffix):
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = write_records(tmp_path / f"qa{suffix}", QA)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # like any open()'d file, not mkstemp's 0600
    assert read_records(path) == QA
    assert [p.name for p in tmp_path.iterdir()] == [f"qa{suffix}"]  # no temporary file left beside it


def test_json_array_and_text_records(tmp_path):
    path = tmp_path / "arr.json"
    path.write_text(json.dumps(QA, indent=2), encoding="utf-8")
    assert read_records(path, kind="qa") == QA
    texts = tmp_path / "texts.jsonl"
    write_jsonl(texts, [{"text": "A page of a book.", "split": "forget"}, {"text": "Another."}])
    assert [r["text"] for r in read_records(texts)] == ["A page of a book.", "Another."]


def test_bom_and_blank_lines_are_tolerated(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"question": "q", "answer": "a"}\n\n{"question": "q2", "answer": "a2"}\n')
    assert [r["question"] for r in read_records(path)] == ["q", "q2"]


def test_column_mapping(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("prompt,response,extra\nWho?,Ann.,1\n", encoding="utf-8")
    recs = read_records(path, columns={"question": "prompt", "answer": "response"})
    assert recs == [{"question": "Who?", "answer": "Ann.", "extra": "1"}]
    with pytest.raises(DataError, match=r"mine.csv:row 1: field 'answer'.*mapped from your column 'reply'"):
        read_records(path, columns={"question": "prompt", "answer": "reply"})
    with pytest.raises(DataError, match=r"field 'prompt'.*our field.*rule: known field"):
        read_records(path, columns={"prompt": "question"})  # the wrong direction is caught, not guessed


def _lines(*recs) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in recs)


OK = {"question": "q", "answer": "a"}
BAD_INPUTS = {
    # name: (file name, content, substrings the message must contain)
    "malformed json": ("bad.jsonl", _lines(OK, '{"question": "q", "answer": '), ["bad.jsonl:2", "malformed JSON",
                                                                                "rule: one JSON object per line"]),
    "not an object": ("bad.jsonl", _lines(OK, OK, "[1, 2]"), ["bad.jsonl:3", "not an object", "rule"]),
    "missing answer": ("bad.jsonl", _lines(OK, OK, {"question": "q"}), ["bad.jsonl:3", "field 'answer'",
                                                                        "rule: required"]),
    "empty answer": ("bad.json", _lines({"question": "q", "answer": "  "}), ["bad.json:1", "field 'answer'",
                                                                             "rule: non-empty"]),
    "question not a string": ("bad.jsonl", _lines(OK, {"question": 3, "answer": "a"}),
                              ["bad.jsonl:2", "field 'question'", "rule: string"]),
    "perturbed not a list": ("bad.jsonl", _lines({**OK, "perturbed_answer": "x"}),
                             ["bad.jsonl:1", "field 'perturbed_answer'", "rule: non-empty list of non-empty strings"]),
    "perturbed empty list": ("bad.jsonl", _lines(OK, {**OK, "perturbed_answer": []}),
                             ["bad.jsonl:2", "field 'perturbed_answer'", "rule: non-empty list"]),
    "perturbed empty element": ("bad.jsonl", _lines({**OK, "perturbed_answer": ["a", ""]}),
                                ["bad.jsonl:1", "field 'perturbed_answer'", "element 1", "rule: non-empty list"]),
    "person not an integer": ("bad.jsonl", _lines({**OK, "person": "abc"}),
                              ["bad.jsonl:1", "field 'person'", "rule: integer"]),
    "missing text": ("bad.jsonl", _lines({"text": "t"}, {"split": "x"}), ["bad.jsonl:2", "field 'text'",
                                                                          "rule: required"]),
    "no known column": ("bad.jsonl", _lines({"prompt": "q"}), ["bad.jsonl:1", "field 'question'",
                                                              "rule: required column", "--map"]),
    "csv empty answer cell": ("bad.csv", "question,answer\nq,a\nq2,\n", ["bad.csv:row 2", "field 'answer'",
                                                                        "rule: required"]),
    "csv extra cell": ("bad.csv", "question,answer\nq,a,oops\n", ["bad.csv:row 1", "rule: as many cells"]),
    "json array item": ("bad.json", json.dumps([OK, "x"]), ["bad.json:item 2", "not an object", "rule"]),
    "json array empty field": ("bad.json", json.dumps([OK, OK, {"question": "", "answer": "a"}]),
                               ["bad.json:item 3", "field 'question'", "rule: non-empty"]),
    "empty file": ("empty.jsonl", "\n  \n", ["empty.jsonl", "no records", "rule: non-empty split"]),
    "unknown extension": ("data.txt", _lines(OK), ["data.txt", "unknown file extension", "rule: known format"]),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_names_file_line_field_and_rule(tmp_path, name):
    file, content, expected = BAD_INPUTS[name]
    (tmp_path / file).write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_records(tmp_path / file)
    for part in expected:
        assert part in str(err.value), (part, str(err.value))


def test_bad_parquet_row(tmp_path):
    path = write_records(tmp_path / "bad.parquet", [OK, {"question": "q", "answer": ""}])
    with pytest.raises(DataError, match=r"bad.parquet:row 2: field 'answer'.*rule: non-empty"):
        read_records(path)
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"junk.parquet.*rule: parquet"):
        read_records(tmp_path / "junk.parquet")


def test_non_utf8_names_line_and_byte_offset(tmp_path):
    """Line 1 is 33 bytes with its newline ('{"question": "q", "answer": "a"}' is 32); on line 2 the bad byte
    follows '{"question": "' (14 bytes) and 'caf' (3), so it is byte 17 of the line and file offset 33 + 17 = 50."""
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"question": "q", "answer": "a"}\n{"question": "caf\xe9", "answer": "a"}\n')
    with pytest.raises(DataError) as err:
        read_records(path)
    msg = str(err.value)
    for part in ["latin1.jsonl:2", "non-UTF-8 byte 'e9'", "byte offset 50", "byte 17 of the line", "rule: utf-8"]:
        assert part in msg, (part, msg)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope.jsonl.*rule: exists"):
        read_records(tmp_path / "nope.jsonl")


def test_failing_generator_leaves_no_file(tmp_path):
    def records():
        yield OK
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_jsonl(tmp_path / "out.jsonl", records())
    assert list(tmp_path.iterdir()) == []
    write_jsonl(tmp_path / "keep.jsonl", [OK])
    with pytest.raises(RuntimeError):
        write_jsonl(tmp_path / "keep.jsonl", records())
    assert read_records(tmp_path / "keep.jsonl") == [OK]  # the old file survives intact
    assert [p.name for p in tmp_path.iterdir()] == ["keep.jsonl"]


def test_no_import_cycle_between_records_and_validate():
    """records.py reads files and applies validate.py's rules; validate.py imports neither records.py nor the
    `data check` command (check.py), even lazily inside a function."""
    import ast
    from pathlib import Path

    import obliviate.data.validate as validate

    tree = ast.parse(Path(validate.__file__).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"obliviate.data.records", "obliviate.data.check", "records", "check"}
