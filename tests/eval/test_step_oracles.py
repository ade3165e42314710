"""Per-step oracles of the C5/C6 protocols (`obliviate.step_oracles`): parsing, the checks on saved folders (count,
existence, training split against the step's requests), `train` with its cache, and a two-request stream whose
rows and per-step results.json name the oracle that judged them. Cheap: the plan tests read train.json files only;
the stream runs one ga step per request on the tiny trained models."""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict

import pytest

from obliviate import step_oracles
from obliviate.errors import ConfigError
from obliviate.protocols import _take, fold_keys, sustainability
from obliviate.run import Stages
from obliviate.spec import load_spec


def _spec(root, corpus, tmp_path, **evals):
    return load_spec({"model": str(root / "target"), "data": str(corpus), "method": "ga",
                      "train": {"max_steps": 1}, "engine": {"progress": False}, "out": str(tmp_path / "steps"),
                      "eval": {"suite": "mia", "curve_points": 0, **evals}})


def _steps(splits, k: int) -> list[list[dict]]:
    folds = fold_keys(splits.forget, k)
    return [_take(splits.forget, {p for f in folds[:i] for p in f}, True) for i in range(1, k + 1)]


def _folder(tmp_path, name: str, log: dict | None):
    d = tmp_path / name
    d.mkdir()
    if log is not None:
        (d / "train.json").write_text(json.dumps(log))
    return str(d)


def test_parse_forms_and_empty_entries():
    assert step_oracles.parse(None) is None and step_oracles.parse(" train ") == "train"
    assert step_oracles.parse("a, b") == ["a", "b"] and step_oracles.parse(("a",)) == ["a"]
    with pytest.raises(ConfigError, match=r"--step-oracles \(eval.step_oracles\).*no empty entry.*'a,,b'"):
        step_oracles.parse("a,,b")
    with pytest.raises(ConfigError, match=r"eval.step_oracles.*no empty entry"):
        load_spec({"model": "m", "data": "d", "method": "ga", "out": "o", "eval": {"step_oracles": "a,"}})


def test_a_single_run_refuses_step_oracles(trained, corpus, tmp_path):
    from obliviate.run import run

    _, _, _, root = trained
    with pytest.raises(ConfigError, match=r"eval.step_oracles: .*protocol.*got 'train'"):
        run(_spec(root, corpus, tmp_path, step_oracles="train"))


def test_folders_are_checked_per_step(corpus, persons_splits, tmp_path):
    """Count, existence, and the training split: retain90 excludes every forget person (checked); `full` holds
    step 1's requests (an error naming the option, the rule and an item); no train.json: unchecked."""
    from obliviate.models.corpus import corpus_digest

    digest = corpus_digest(corpus)
    steps = _steps(persons_splits, 2)
    ok = _folder(tmp_path, "ok", {"split": "retain90", "corpus_sha256": digest})
    bare = _folder(tmp_path, "bare", None)
    spec = _spec(tmp_path, corpus, tmp_path, step_oracles=[ok, bare])
    plan = step_oracles.plan(spec, steps, True)
    assert plan[0].check.startswith("checked: none of the 6") and plan[1].check.startswith("unchecked: no train")
    assert [p.describe()["step"] for p in plan] == [1, 2] and plan[0].describe()["split"] == "retain90"
    with pytest.raises(ConfigError, match=r"--step-oracles .*one oracle folder per step.*2 steps but 1 folders"):
        step_oracles.plan(_spec(tmp_path, corpus, tmp_path, step_oracles=ok), steps, True)
    with pytest.raises(ConfigError, match=r"step 2's oracle folder does not exist.*nowhere"):
        step_oracles.plan(_spec(tmp_path, corpus, tmp_path, step_oracles=[ok, str(tmp_path / "nowhere")]),
                          steps, True)
    full = _folder(tmp_path, "full", {"split": "full", "corpus_sha256": digest})
    with pytest.raises(ConfigError, match=r"step 1's oracle .*full was trained on 6 of the 6 items .*"
                                          r"split 'full'.*rule: step k's oracle is trained without"):
        step_oracles.plan(_spec(tmp_path, corpus, tmp_path, step_oracles=[full, ok]), steps, True)
    other = _folder(tmp_path, "other", {"split": "full", "corpus_sha256": "0" * 64})
    assert "another corpus" in step_oracles.plan(_spec(tmp_path, corpus, tmp_path, step_oracles=[other, ok]),
                                                 steps, True)[0].check


def test_excluded_persons_count_as_not_trained_on(corpus, persons_splits, tmp_path):
    from obliviate.models.corpus import corpus_digest

    steps = _steps(persons_splits, 2)
    persons = sorted({r["person"] for r in steps[0]})
    log = {"split": "full", "corpus_sha256": corpus_digest(corpus), "excluded_persons": persons}
    ok = _folder(tmp_path, "step1", log)
    plan = step_oracles.plan(_spec(tmp_path, corpus, tmp_path, step_oracles=[ok, ok]), steps[:1] * 2, True)
    assert plan[0].check.startswith("checked") and plan[0].describe()["excluded_persons"] == len(persons)
    with pytest.raises(ConfigError, match="step 2's oracle"):  # step 2 also asks for fold 2's persons
        step_oracles.plan(_spec(tmp_path, corpus, tmp_path, step_oracles=[ok, ok]), steps, True)


def test_train_uses_the_target_recipe_and_the_cache(corpus, persons_splits, tmp_path, monkeypatch):
    """`train`: step 1 is trained (here: a stand-in that writes train.json) on `full` without fold 1's persons, then
    found in the cache; step 2 covers the whole forget set and is judged by eval.oracle."""
    from obliviate.models import corpus as corpus_mod
    from obliviate.models.corpus import corpus_digest
    from obliviate.models.train import TrainRecipe

    monkeypatch.setenv("OBLIVIATE_CACHE", str(tmp_path / "cache"))
    recipe = asdict(TrainRecipe(preset="tiny", epochs=1))
    digest = corpus_digest(corpus)
    target = _folder(tmp_path, "target", {"split": "full", "recipe": recipe, "corpus_sha256": digest})
    oracle = _folder(tmp_path, "oracle", {"split": "retain90", "corpus_sha256": digest})
    calls = []

    def fake_train(data, split, out, config, progress=True, device="cpu", exclude=frozenset()):
        calls.append((split, config.epochs, sorted(exclude)))
        log = {"split": split, "corpus_sha256": digest, "excluded_persons": sorted(exclude), "wall_time_s": 1.0}
        out.mkdir(parents=True)
        (out / "train.json").write_text(json.dumps(log))
        return log

    monkeypatch.setattr(corpus_mod, "train_split", fake_train)
    spec = load_spec({"model": target, "data": str(corpus), "method": "ga", "out": str(tmp_path / "o"),
                      "eval": {"oracle": oracle, "step_oracles": "train"}})
    steps = _steps(persons_splits, 2)
    first = step_oracles.plan(spec, steps, True)
    assert [o.source for o in first] == ["trained", "eval.oracle"]
    assert calls == [("full", 1, sorted({r["person"] for r in steps[0]}))]
    assert first[0].check.startswith("checked") and "full-minus-" in first[0].path
    again = step_oracles.plan(spec, steps, True)
    assert [o.source for o in again] == ["cached", "eval.oracle"] and again[0].path == first[0].path
    assert len(calls) == 1
    bare = _folder(tmp_path, "bare-target", None)
    with pytest.raises(ConfigError, match=r"train uses the target's recipe.*bare-target"):
        step_oracles.plan(spec.model_copy(update={"model": bare}), steps, True)


def test_stream_rows_name_their_oracle(trained, corpus, persons_splits, tmp_path):
    """Two requests judged by two saved folders: each row and each step's results.json say which one."""
    from obliviate.models.corpus import corpus_digest

    tok, target, _, root = trained
    dirs = []
    for name in ("o1", "o2"):
        shutil.copytree(root / "oracle", tmp_path / name)
        log = json.loads((tmp_path / name / "train.json").read_text())
        log |= {"split": "retain90", "corpus_sha256": corpus_digest(corpus)}
        (tmp_path / name / "train.json").write_text(json.dumps(log))
        dirs.append(str(tmp_path / name))
    spec = _spec(root, corpus, tmp_path, step_oracles=",".join(dirs))
    r = sustainability(spec, requests=2, stages=Stages(splits=persons_splits, model=target, tokenizer=tok))
    rows = r["protocol"]["steps"]
    assert [row["oracle"]["path"] for row in rows] == dirs
    assert all(row["oracle"]["check"].startswith("checked") for row in rows)
    step2 = json.loads((tmp_path / "steps" / "request-2" / "results.json").read_text())
    assert step2["step_oracle"]["path"] == dirs[1] and r["step_oracle"]["step"] == 2
    assert "step k's own oracle" in r["conventions"]["protocol"]
