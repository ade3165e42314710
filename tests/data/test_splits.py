"""load_splits on a corpus folder (hand-made and generated), on your own files (QA and raw text), and its errors."""
from __future__ import annotations

import json

import pytest

from obliviate.data import Splits, load_splits, write_jsonl, write_records
from obliviate.errors import ConfigError, DataError


def qa(person: int, fact: int, **extra) -> dict:
    return {"question": f"Q{fact} of person {person}?", "answer": f"A{fact} of person {person}.", "person": person,
            **extra}


@pytest.fixture
def corpus(tmp_path):
    """10 persons x 2 facts: forget10 = person 9 (the last 10%), retain90 = persons 0..8; holdout = person 10.
    retain_perturbed deliberately includes person 9, which load_splits must drop."""
    folder = tmp_path / "corpus"
    pert = {"paraphrased_answer": "p", "perturbed_answer": ["x", "y"]}
    files = {
        "full": [qa(p, f) for p in range(10) for f in range(2)],
        "forget10": [qa(9, f) for f in range(2)],
        "retain90": [qa(p, f) for p in range(9) for f in range(2)],
        "forget10_perturbed": [qa(9, f, **pert) for f in range(2)],
        "retain_perturbed": [qa(p, 0, **pert) for p in (0, 1, 9)],
        "holdout": [qa(10, f) for f in range(2)],
        "holdout_perturbed": [qa(10, f, **pert) for f in range(2)],
        "neighbours10": [qa(3, 0), qa(4, 1)],
        "bios": [{"person": p, "text": f"Person {p} lives here.", "split": "holdout" if p == 10 else "full"}
                 for p in range(11)],
    }
    for name, records in files.items():
        write_jsonl(folder / f"{name}.json", records)
    (folder / "manifest.json").write_text(json.dumps({"counts": {}}))
    return folder


def test_corpus_splits(corpus):
    s = load_splits(corpus)
    assert isinstance(s, Splits) and s.name == "corpus/forget10"
    assert s.counts() == {"forget": 2, "retain": 18, "holdout": 2, "forget_perturbed": 2, "retain_perturbed": 2,
                          "holdout_perturbed": 2, "neighbours": 2, "real_authors": None, "world_facts": None,
                          "forget_texts": 1, "retain_texts": 9, "holdout_texts": 1}
    assert [r["id"] for r in s.forget] == ["forget10:0", "forget10:1"]
    assert s.retain[17]["id"] == "retain90:17" and s.neighbours[0]["id"] == "neighbours10:0"
    assert {r["person"] for r in s.retain_perturbed} == {0, 1}  # person 9 is being forgotten
    assert s.forget_texts[0]["text"] == "Person 9 lives here." and s.holdout_texts[0]["person"] == 10
    assert s.describe().startswith("corpus/forget10 (") and "forget 2, retain 18" in s.describe()


def test_corpus_other_forget_set_without_its_files(corpus):
    """forget01 is not in this folder: a named error; with retain given explicitly any name works."""
    with pytest.raises(DataError, match=r"forget01.json.*rule: exists"):
        load_splits(corpus, "forget01")
    with pytest.raises(ConfigError, match=r"cannot infer the retain split"):
        load_splits(corpus, "holdout")
    s = load_splits(corpus, "neighbours10", retain="forget10")
    assert s.counts()["forget"] == 2 and s.neighbours is None and s.forget_perturbed is None


def test_corpus_overlap_error_and_allow(corpus):
    """neighbours10 (used here as the forget set) holds person 3 fact 0 and person 4 fact 1, both also in retain90:
    2 shared items; the first is retain90's item 3 * 2 + 0 = 6, i.e. item 7 counted from 1."""
    with pytest.raises(DataError) as err:
        load_splits(corpus, "neighbours10", retain="retain90")
    msg = str(err.value)
    for part in ["share 2 item(s)", "item 1 of", "neighbours10.json", "item 7 of", "retain90.json", "disjoint",
                 "--allow-overlap"]:
        assert part in msg, (part, msg)
    assert load_splits(corpus, "neighbours10", retain="retain90", allow_overlap=True).counts()["forget"] == 2


def test_overlap_ignores_whitespace_but_not_case(tmp_path):
    write_jsonl(tmp_path / "forget.jsonl", [{"question": "Who  is\tAnn?", "answer": " Ann. "}])
    write_jsonl(tmp_path / "retain.jsonl", [{"question": "Who is Ann?", "answer": "Ann."}])
    write_jsonl(tmp_path / "retain_case.jsonl", [{"question": "who is Ann?", "answer": "Ann."}])
    with pytest.raises(DataError, match="share 1 item"):
        load_splits(tmp_path, "forget.jsonl", "retain.jsonl")
    assert load_splits(tmp_path, "forget.jsonl", "retain_case.jsonl").counts()["retain"] == 1


def test_user_files_with_mapping(tmp_path):
    write_records(tmp_path / "forget.csv", [{"prompt": "Who is Ann?", "response": "A pilot.", "id": "req-7"}])
    write_records(tmp_path / "retain.parquet", [{"prompt": f"Q{i}?", "response": f"A{i}."} for i in range(3)])
    s = load_splits(tmp_path, "forget", "retain", columns={"question": "prompt", "answer": "response"})
    assert s.forget == [{"question": "Who is Ann?", "answer": "A pilot.", "id": "forget:0", "source_id": "req-7"}]
    assert s.counts()["retain"] == 3 and s.retain[2]["id"] == "retain:2" and s.holdout is None
    # data may also be the forget file itself, with no retain set
    alone = load_splits(tmp_path / "forget.csv", columns={"question": "prompt", "answer": "response"})
    assert alone.counts()["forget"] == 1 and alone.retain is None


def test_raw_text_forget_set_is_muse_style(tmp_path):
    write_jsonl(tmp_path / "news.jsonl", [{"text": "Article one."}, {"text": "Article two."}])
    write_jsonl(tmp_path / "keep.jsonl", [{"text": "Other article."}])
    s = load_splits(tmp_path, "news.jsonl", "keep.jsonl")
    assert s.forget is None and s.retain is None
    assert [r["id"] for r in s.forget_texts] == ["forget:0", "forget:1"] and len(s.retain_texts) == 1


def test_errors(tmp_path, corpus):
    with pytest.raises(DataError, match=r"data not found.*tofu:PATH_OR_HUB"):
        load_splits(tmp_path / "missing")
    with pytest.raises(DataError, match=r"file not found; tried"):
        load_splits(tmp_path, "nothing_here")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DataError, match=r"empty.jsonl.*rule: non-empty split"):
        load_splits(tmp_path, "empty.jsonl")
    with pytest.raises(ConfigError, match="your own files only"):
        load_splits(corpus, columns={"question": "prompt"})


def test_generated_corpus(tmp_path):
    """The real generator (if present): 10 persons x 3 facts, forget10 = 1 person (3 items), retain90 = 9 (27),
    holdout = 2 persons (6); forget and retain disjoint by person."""
    persons = pytest.importorskip("obliviate.data.persons")
    persons.generate(tmp_path / "c", persons=10, facts=3, holdout=2, seed=0)
    s = load_splits(tmp_path / "c", "forget10")
    assert s.counts()["forget"] == 3 and s.counts()["retain"] == 27 and s.counts()["holdout"] == 6
    forget_persons = {r["person"] for r in s.forget}
    assert forget_persons.isdisjoint(r["person"] for r in s.retain)
    assert {r["person"] for r in s.forget_texts} == forget_persons
    assert all(len(r["perturbed_answer"]) >= 1 for r in s.forget_perturbed)
