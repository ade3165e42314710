"""TOFU loader on the local copy in ../shared/data/tofu (hub layout), and the hub path with `datasets` faked."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from obliviate.data import load_splits, load_tofu
from obliviate.errors import DataError

TOFU = Path(os.environ.get("OBLIVIATE_TOFU_DIR", Path(__file__).resolve().parents[3] / "shared" / "data" / "tofu"))
# Outside CI a missing copy skips; in CI (CI=true) these tests must run, so a missing copy fails them.
needs_tofu = pytest.mark.skipif(not (TOFU / "full.json").is_file() and not os.environ.get("CI"),
                                reason=f"no local TOFU copy at {TOFU}")


@needs_tofu
def test_counts_and_forget10_is_the_tail_of_full():
    full, forget, retain = load_tofu("full", TOFU), load_tofu("forget10", TOFU), load_tofu("retain90", TOFU)
    perturbed = load_tofu("forget10_perturbed", TOFU)
    assert (len(full), len(forget), len(retain), len(perturbed)) == (4000, 400, 3600, 400)
    assert all(len(r["perturbed_answer"]) == 5 for r in perturbed)
    strip = [{k: r[k] for k in ("question", "answer")} for r in full]
    assert strip[-400:] == [{k: r[k] for k in ("question", "answer")} for r in forget]
    assert strip[:3600] == [{k: r[k] for k in ("question", "answer")} for r in retain]


@needs_tofu
def test_person_is_the_author_index_and_ids_are_unique():
    """20 QA per author: item i of full is author i // 20, so forget10 (items 3600..3999) holds authors 180..199
    and retain_perturbed (the first 400 items of full, matched by question) authors 0..19."""
    assert [r["person"] for r in load_tofu("full", TOFU)][::20] == list(range(200))
    forget = load_tofu("forget10", TOFU)
    assert {r["person"] for r in forget} == set(range(180, 200))
    assert forget[0]["person"] == 180 and forget[0]["id"] == "forget10:0"
    assert {r["person"] for r in load_tofu("forget10_perturbed", TOFU)} == set(range(180, 200))
    assert {r["person"] for r in load_tofu("retain_perturbed", TOFU)} == set(range(20))
    assert {r["person"] for r in load_tofu("world_facts", TOFU)} == {None}
    assert len({r["id"] for r in load_tofu("retain90", TOFU)}) == 3600


@needs_tofu
def test_load_splits_tofu_counts():
    s = load_splits(f"tofu:{TOFU}", "forget10")
    counts = s.counts()
    assert counts["forget"] == 400 and counts["retain"] == 3600
    assert counts["forget_perturbed"] == 400 and counts["retain_perturbed"] == 400
    assert counts["real_authors"] == 100 and counts["world_facts"] == 117
    assert s.holdout is None and s.forget_texts is None and s.neighbours is None
    # real_authors merges the multiple-choice file with the perturbed one: options and perturbed answers together
    assert all(len(r["perturbed_answer"]) == 3 and "option1" in r for r in s.real_authors)
    assert s.real_authors[5]["id"] == "real_authors:5"
    assert "forget 400, retain 3600" in s.describe()
    assert load_splits(f"tofu:{TOFU}", "forget01").counts()["retain"] == 3960


@needs_tofu
def test_tofu_overlap_is_an_error_unless_allowed():
    """forget10 is the last 400 items and retain95 the first 3800: they share items 3600..3799 (200 items)."""
    with pytest.raises(DataError) as err:
        load_splits(f"tofu:{TOFU}", "forget10", retain="retain95")
    msg = str(err.value)
    for part in ["share 200 item(s)", "item 1 of", "forget10.json", "item 3601 of", "retain95.json",
                 "rule: forget and retain disjoint", "allow_overlap"]:
        assert part in msg, (part, msg)
    assert load_splits(f"tofu:{TOFU}", "forget10", retain="retain95", allow_overlap=True).counts()["retain"] == 3800


@needs_tofu
def test_unknown_config_lists_what_the_folder_has():
    with pytest.raises(DataError, match=r"forget20.json.*'forget20' not in this folder.*'forget10'.*known config"):
        load_tofu("forget20", TOFU)


def test_hub_failure_says_to_pass_a_local_folder(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("no route to huggingface.co")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match=r"locuslab/TOFU.*forget10.*ConnectionError.*pass a local folder"):
        load_tofu("forget10")
    with pytest.raises(DataError, match=r"pass a local folder"):
        load_splits("tofu:locuslab/TOFU")


def test_hub_rows_are_validated_and_get_persons(monkeypatch):
    """A fake hub: full has 40 items (authors 0 and 1); forget05 is its last 20, so author 1."""
    import datasets

    full = [{"question": f"q{i}", "answer": f"a{i}", "perturbed_answer": None} for i in range(40)]
    calls = []

    def fake(name, config, split):
        calls.append((name, config, split))
        return full if config == "full" else full[20:] if config == "forget05" else [{"question": "q", "answer": ""}]

    monkeypatch.setattr(datasets, "load_dataset", fake)
    forget = load_tofu("forget05")
    assert calls[0] == ("locuslab/TOFU", "forget05", "train")
    assert [r["person"] for r in forget] == [1] * 20 and "perturbed_answer" not in forget[0]
    with pytest.raises(DataError, match=r"hf://datasets/locuslab/TOFU/broken:row 1: field 'answer'.*non-empty"):
        load_tofu("broken")


def test_missing_local_folder(tmp_path):
    with pytest.raises(DataError, match=r"TOFU folder not found.*rule: exists"):
        load_tofu("full", tmp_path / "nowhere")
