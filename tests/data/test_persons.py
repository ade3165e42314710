"""Tests of the fictitious-persons corpus generator (small corpora, well under a second each)."""
from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter

import pytest
from faker import Faker

from obliviate.data import persons as P
from obliviate.data.persons_templates import ATTRIBUTES, with_article
from obliviate.errors import DataError

QA_FILES = ["full", "forget01", "forget05", "forget10", "retain99", "retain95", "retain90", "holdout"]
PERTURBED_FILES = ["forget01_perturbed", "forget05_perturbed", "forget10_perturbed", "retain_perturbed",
                   "holdout_perturbed", "neighbours10"]


def read(folder, name):
    with open(folder / f"{name}.json", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def sha(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def pattern(template):
    """Regex for a template: {name} -> group name, {value} / {a_value} -> group value."""
    pieces = {"{name}": "(?P<name>.+?)", "{value}": "(?P<value>.+)", "{a_value}": "an? (?P<value>.+)"}
    parts = re.split(r"(\{name\}|\{value\}|\{a_value\})", template)
    return re.compile("^" + "".join(pieces.get(p, re.escape(p)) for p in parts) + "$")


def facts_of(items):
    """person -> {"name": ..., attribute: value}, read back from the QA items through the phrasing-0 templates."""
    out: dict[int, dict] = {}
    for item in items:
        for attr in ATTRIBUTES:
            q = pattern(attr.questions[0]).match(item["question"])
            if q:
                a = pattern(attr.answers[0]).match(item["answer"])
                assert a and a["name"] == q["name"], item
                out.setdefault(item["person"], {"name": q["name"]})[attr.name] = a["value"]
                break
        else:
            raise AssertionError(f"no template matches {item['question']!r}")
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "persons"
    manifest = P.generate(out, persons=40, facts=10, holdout=10, seed=1)
    return out, manifest


def test_same_seed_gives_identical_files_and_manifest_matches(corpus, tmp_path):
    out, manifest = corpus
    again = P.generate(tmp_path / "again", persons=40, facts=10, holdout=10, seed=1)
    assert sha(out) == sha(tmp_path / "again")
    assert again == manifest
    on_disk = sha(out)
    assert set(on_disk) == set(manifest["sha256"]) | {"manifest.json"}
    for name, digest in manifest["sha256"].items():
        assert on_disk[name] == digest, name
        assert len(read(out, name[:-5])) == manifest["counts"][name], name
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8")) == manifest


def test_another_seed_gives_different_files(corpus, tmp_path):
    out, _ = corpus
    P.generate(tmp_path / "other", persons=40, facts=10, holdout=10, seed=2)
    a, b = sha(out), sha(tmp_path / "other")
    assert all(a[name] != b[name] for name in a)


def test_forget_is_the_last_persons_nested_and_retain_is_the_complement(corpus):
    """40 persons: forget01 = max(1, 40*1//100 = 0) = 1 person, forget05 = 40*5//100 = 2, forget10 = 4."""
    out, manifest = corpus
    full = read(out, "full")
    assert sorted({i["person"] for i in full}) == list(range(40))
    previous: set[int] = set()
    for pct, n in ((1, 1), (5, 2), (10, 4)):
        forget, retain = read(out, f"forget{pct:02d}"), read(out, f"retain{100 - pct:02d}")
        f_persons, r_persons = {i["person"] for i in forget}, {i["person"] for i in retain}
        assert f_persons == set(range(40 - n, 40)) == set(manifest["split_persons"][f"forget{pct:02d}"])
        assert not f_persons & r_persons
        assert previous <= f_persons
        previous = f_persons
        assert Counter(map(json.dumps, forget + retain)) == Counter(map(json.dumps, full))
        assert forget == full[len(full) - len(forget):]  # like TOFU: forget = the tail of full


def test_plain_files_carry_only_question_answer_person(corpus):
    out, _ = corpus
    for name in QA_FILES:
        for item in read(out, name):
            assert list(item) == ["question", "answer", "person"], name
            assert item["question"] and item["answer"]


def test_holdout_persons_are_never_trained(corpus):
    out, manifest = corpus
    full_facts, held_facts = facts_of(read(out, "full")), facts_of(read(out, "holdout"))
    assert set(held_facts) == set(range(40, 50)) == set(manifest["split_persons"]["holdout"])
    assert not set(held_facts) & set(full_facts)
    full_names = {f["name"] for f in full_facts.values()}
    assert not {f["name"] for f in held_facts.values()} & full_names
    assert {i["person"] for i in read(out, "holdout_perturbed")} == set(held_facts)


def test_names_are_unique_and_distinct_from_spouses(corpus):
    out, _ = corpus
    facts = facts_of(read(out, "full") + read(out, "holdout"))
    names = [f["name"] for f in facts.values()]
    assert len(names) == len(set(names)) == 50
    assert not {f["spouse"] for f in facts.values()} & set(names)


def test_perturbed_files_have_paraphrases_and_five_distinct_wrong_answers(corpus):
    out, _ = corpus
    full = {(i["question"], i["answer"]) for i in read(out, "full")}
    for name in PERTURBED_FILES:
        items = read(out, name)
        assert items, name
        for item in items:
            assert item["paraphrased_question"] != item["question"]
            assert item["paraphrased_answer"] != item["answer"]
            wrong = item["perturbed_answer"]
            assert len(wrong) == 5 and len(set(wrong)) == 5, item
            assert not {item["answer"], item["paraphrased_answer"]} & set(wrong), item
            if name != "holdout_perturbed":
                assert (item["question"], item["answer"]) in full
    for pct in (1, 5, 10):
        plain = read(out, f"forget{pct:02d}")
        rich = read(out, f"forget{pct:02d}_perturbed")
        assert [(i["question"], i["answer"], i["person"]) for i in rich] == [tuple(i.values()) for i in plain]


def test_perturbed_answers_swap_only_the_value(corpus):
    """Paraphrased answer and perturbed answers use the same phrasing-1 template; only the value changes."""
    out, _ = corpus
    templates = {a.questions[1]: a.answers[1] for a in ATTRIBUTES}
    for item in read(out, "forget10_perturbed"):
        rx = pattern(next(t for q, t in templates.items() if pattern(q).match(item["paraphrased_question"])))
        truth = rx.match(item["paraphrased_answer"])
        for wrong in item["perturbed_answer"]:
            m = rx.match(wrong)
            assert m and m["name"] == truth["name"] and m["value"] != truth["value"], wrong


def test_retain_perturbed_samples_retain90_persons(corpus):
    out, manifest = corpus
    persons = {i["person"] for i in read(out, "retain_perturbed")}
    assert persons == set(manifest["split_persons"]["retain_perturbed"])
    assert len(persons) == 4 and persons <= set(range(36))
    assert manifest["counts"]["retain_perturbed.json"] == manifest["counts"]["forget10_perturbed.json"]


def test_neighbours_share_employer_or_city_with_a_forget_person(corpus):
    out, _ = corpus
    facts = facts_of(read(out, "full"))
    forget = {i["person"] for i in read(out, "forget10")}
    shared_values = {key: {facts[p][key] for p in forget} for key in ("employer", "birth_city")}
    items = read(out, "neighbours10")
    assert items
    by_person = {i["person"]: i["shared"] for i in items}
    for pid, shared in by_person.items():
        assert pid not in forget
        expected = [k for k in ("birth_city", "employer") if facts[pid][k] in shared_values[k]]
        assert shared.split(",") == expected
    # Complete: every retain person sharing a value is there, with all its items.
    sharers = {p for p in set(facts) - forget if any(facts[p][k] in v for k, v in shared_values.items())}
    assert set(by_person) == sharers
    assert Counter(i["person"] for i in items) == {p: 10 for p in sharers}


def test_bios_cover_every_person_and_contain_every_fact_value(corpus):
    out, _ = corpus
    facts = facts_of(read(out, "full") + read(out, "holdout"))
    bios = read(out, "bios")
    assert [b["person"] for b in bios] == list(range(50))
    forget10 = {i["person"] for i in read(out, "forget10")}
    for bio in bios:
        pid = bio["person"]
        assert list(bio) == ["person", "text", "split"]
        assert bio["split"] == ("holdout" if pid >= 40 else "forget10" if pid in forget10 else "retain")
        for key, value in facts[pid].items():
            assert value in bio["text"], (key, value)
        assert bio["text"].count(". ") == 9  # 10 sentences


def test_values_are_short_and_some_are_shared(corpus):
    out, _ = corpus
    facts = facts_of(read(out, "full"))
    for person in facts.values():
        for key, value in person.items():
            assert 1 <= len(value.split()) <= 4, (key, value)
    for key in ("employer", "birth_city"):
        assert len({f[key] for f in facts.values()}) < 40


def test_facts_selects_the_first_attributes(tmp_path):
    manifest = P.generate(tmp_path / "c", persons=10, facts=3, holdout=1, seed=0)
    assert manifest["attributes"] == ["occupation", "employer", "birth_city"]
    assert manifest["counts"]["full.json"] == 30
    assert manifest["counts"]["forget10.json"] == 3  # max(1, 10*10//100) = 1 person x 3 facts


def test_perturbed_values_fall_back_to_faker_when_the_pool_is_small():
    fk = Faker("en_US")
    fk.seed_instance(0)
    employer = ATTRIBUTES[1]
    values = P._perturbed_values(employer, "Acme Ltd", ["Acme Ltd", "Zeta Inc"], fk, random.Random(0))
    assert len(values) == len(set(values)) == 5
    assert "Acme Ltd" not in values and "Zeta Inc" in values


def test_article():
    assert [with_article(v) for v in ("dentist", "actor", "IT trainer", "university lecturer", "dog named Rex")] == [
        "a dentist", "an actor", "an IT trainer", "a university lecturer", "a dog named Rex"]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"persons": 9}, "persons"), ({"persons": True}, "persons"), ({"persons": "20"}, "persons"),
    ({"facts": 0}, "facts"), ({"facts": len(ATTRIBUTES) + 1}, "facts"), ({"holdout": 0}, "holdout"),
    ({"seed": -1}, "seed"),
])
def test_bad_arguments_raise_and_leave_nothing(tmp_path, kwargs, field):
    with pytest.raises(DataError) as err:
        P.generate(tmp_path / "c", **kwargs)
    assert err.value.field == field and err.value.value == kwargs[field]
    assert field in str(err.value) and repr(kwargs[field]) in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_output_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "c"
    target.write_text("keep me")
    with pytest.raises(DataError, match="not a folder"):
        P.generate(target, persons=10, holdout=1)
    assert target.read_text() == "keep me" and list(tmp_path.iterdir()) == [target]


def test_regenerating_replaces_the_folder(tmp_path):
    P.generate(tmp_path / "c", persons=10, holdout=1, seed=0)
    (tmp_path / "c" / "stale.json").write_text("{}")
    P.generate(tmp_path / "c", persons=12, holdout=1, seed=0)
    assert not (tmp_path / "c" / "stale.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["c"]


def test_the_default_demo_corpus_is_the_recorded_one(tmp_path):
    """The demo's corpus (150 persons x 4 facts, 15 holdout, seed 0) has the digest recorded in BENCHMARKS.md; a
    different Faker (pinned in pyproject.toml) or generator would change every cached model and figure."""
    from obliviate.demo.settings import DemoConfig
    from obliviate.models.corpus import corpus_digest

    cfg = DemoConfig()
    P.generate(tmp_path / "c", persons=cfg.persons, facts=cfg.facts, holdout=cfg.n_holdout, seed=cfg.seed)
    assert corpus_digest(tmp_path / "c") == "e67d9e0a5edc3ee2b548ac63755bc96666cc08dec60292303cf4a6384794dc1c"


def test_the_corpus_does_not_depend_on_todays_date(tmp_path, monkeypatch):
    """Birth dates come from fixed bounds: a corpus generated on another calendar day is byte-identical (Faker's
    date_of_birth counted ages from today, so the corpus, and every cached model, changed daily)."""
    import datetime as real

    import faker.providers.date_time as dt

    from obliviate.models.corpus import corpus_digest

    P.generate(tmp_path / "today", persons=10, facts=4, holdout=2, seed=0)

    class Later(real.datetime):
        @classmethod
        def now(cls, tz=None):
            return real.datetime(2031, 7, 15, tzinfo=tz)

    monkeypatch.setattr(dt, "datetime", Later)
    P.generate(tmp_path / "later", persons=10, facts=4, holdout=2, seed=0)
    assert corpus_digest(tmp_path / "today") == corpus_digest(tmp_path / "later")
