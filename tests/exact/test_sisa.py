"""SISA on digits: deletion retrains only what saw the deleted items, and ends bit-identical to a SISA trained
from scratch on the survivors with the same seeds (the exactness test; CPU, one thread, deterministic)."""
from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file

from obliviate.errors import DataError
from obliviate.exact import sisa
from obliviate.exact.layout import Layout

CFG = sisa.SisaConfig(shards=3, slices=3, epochs=12, lr=0.2, seed=1)  # 6 epochs a step; ~1.5 s to train
SPEC = sisa.DataSpec("digits")


def _quiet(_msg):
    pass


def _weights(folder) -> dict[str, dict[str, torch.Tensor]]:
    m = sisa.read_manifest(folder)
    return {key: load_file(str(folder / e["file"])) for key, e in m["checkpoints"].items()}


def assert_bit_identical(a, b) -> None:
    """Every checkpoint of every constituent (not only the final ones) has torch.equal weights."""
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert wa[key].keys() == wb[key].keys()
        for name in wa[key]:
            assert torch.equal(wa[key][name], wb[key][name]), f"checkpoint {key}, tensor {name} differs"


def _pick(lay: Layout, shard: int, r: int, k: int = 0) -> int:
    return lay.slots[shard][r][k]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_digits):
    out = tmp_path_factory.mktemp("sisa") / "ens"
    sisa.train(SPEC, CFG, out, executor="serial", data=small_digits, say=_quiet)
    return out


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_deletion_is_bit_identical_to_training_without_the_items(trained, tmp_path, small_digits):
    ens = _copy(trained, tmp_path / "ens")
    lay = Layout.build(len(small_digits.y_train), CFG.shards, CFG.slices, CFG.seed)
    ids = [_pick(lay, 0, 1, 3), _pick(lay, 0, 2, 0), _pick(lay, 2, 0, 5)]  # shard 0 from slice 1, shard 2 from 0
    before = sisa.read_manifest(ens)
    report = sisa.delete(ens, ids, executor="serial", data=small_digits, say=_quiet)

    assert report["retrained"] == {"0": {"from_slice": 1, "slices": [1, 2]}, "2": {"from_slice": 0,
                                                                                    "slices": [0, 1, 2]}}
    assert report["cost"]["steps_retrained"] == 5 and report["cost"]["steps_total"] == 9
    assert 0 < report["cost"]["samples"] < report["cost"]["full_retrain_samples"]
    after = sisa.read_manifest(ens)
    untouched = ["0/0", "1/0", "1/1", "1/2"]  # shard 1 holds none; shard 0's slice 0 saw none of them
    for key in untouched:
        assert after["checkpoints"][key] == before["checkpoints"][key]
    for key in ("0/1", "0/2", "2/0", "2/1", "2/2"):
        assert after["checkpoints"][key]["indices_sha256"] != before["checkpoints"][key]["indices_sha256"]

    scratch = tmp_path / "scratch"
    sisa.train(SPEC, CFG, scratch, deleted=ids, executor="serial", data=small_digits, say=_quiet)
    assert_bit_identical(ens, scratch)
    assert sisa.read_manifest(scratch)["checkpoints"] == after["checkpoints"]  # same files, same sha256
    assert (ens / "positions.csv").read_text() == (scratch / "positions.csv").read_text()


def test_two_deletions_in_a_row_equal_one_training_without_both(trained, tmp_path, small_digits):
    ens = _copy(trained, tmp_path / "ens")
    lay = Layout.build(len(small_digits.y_train), CFG.shards, CFG.slices, CFG.seed)
    first, second = [_pick(lay, 1, 2, 0)], [_pick(lay, 1, 0, 1), _pick(lay, 1, 2, 0)]  # second repeats one
    sisa.delete(ens, first, executor="serial", data=small_digits, say=_quiet)
    report = sisa.delete(ens, second, executor="serial", data=small_digits, say=_quiet)
    assert report["already_deleted"] == first and report["deleted"] == [second[0]]
    scratch = tmp_path / "scratch"
    sisa.train(SPEC, CFG, scratch, deleted=first + second, executor="serial", data=small_digits, say=_quiet)
    assert_bit_identical(ens, scratch)
    m = sisa.read_manifest(ens)
    assert m["deleted"] == sorted({*first, *second}) and len(m["history"]) == 2
    again = sisa.delete(ens, first, executor="serial", data=small_digits, say=_quiet)
    assert again["deleted"] == [] and again["cost"]["steps_retrained"] == 0


@pytest.mark.slow  # two spawned workers import torch: 10-25 s on the shared 2-core machine
def test_process_pool_gives_the_same_weights_as_one_process(trained, tmp_path, small_digits):
    pooled = tmp_path / "pooled"
    sisa.train(SPEC, CFG, pooled, executor="process", workers=2, data=small_digits, say=_quiet)
    assert_bit_identical(trained, pooled)


def test_a_failed_deletion_leaves_the_ensemble_as_it_was(trained, tmp_path, small_digits, monkeypatch):
    ens = _copy(trained, tmp_path / "ens")
    before = {p.relative_to(ens): p.read_bytes() for p in ens.rglob("*") if p.is_file()}

    def boom(job):
        raise KeyboardInterrupt("killed mid-way")

    monkeypatch.setattr(sisa, "train_shard", boom)
    with pytest.raises(KeyboardInterrupt):
        sisa.delete(ens, [0, 1], executor="serial", data=small_digits, say=_quiet)
    after = {p.relative_to(ens): p.read_bytes() for p in ens.rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in ens.parent.iterdir() if p.name.startswith(".ens.tmp")]


def test_changed_data_and_unknown_ids_are_refused(trained, tmp_path, small_digits):
    ens = _copy(trained, tmp_path / "ens")
    with pytest.raises(DataError, match="unknown training item id.*got 600"):
        sisa.delete(ens, [600], executor="serial", data=small_digits, say=_quiet)
    changed = type(small_digits)("x", small_digits.x_train.flip(0), small_digits.y_train, small_digits.x_test,
                                 small_digits.y_test, small_digits.classes)
    with pytest.raises(DataError, match="training data changed"):
        sisa.delete(ens, [1], executor="serial", data=changed, say=_quiet)
    (ens / "sisa.json").write_text("{")
    with pytest.raises(DataError, match="invalid JSON"):
        sisa.read_manifest(ens)


def test_ensemble_predicts_and_records_positions(trained, small_digits):
    ens = sisa.Ensemble.load(trained)
    acc = ens.accuracy(small_digits.x_test, small_digits.y_test)
    assert acc["default"] == "mean" and len(acc["constituents"]) == CFG.shards
    assert acc["mean"] > 60.0  # 12 epochs on 200 items each (measured 87.5%); chance is 10%
    lay, gone = sisa.read_positions(trained)
    assert lay == Layout.build(600, CFG.shards, CFG.slices, CFG.seed) and gone == set()
    m = json.loads((trained / "sisa.json").read_text())
    assert m["data"]["train"] == 600 and m["epochs_per_step"] == [6, 6, 6]
    assert oct(os.stat(trained).st_mode & 0o777) != "0o700"  # not left with mkdtemp's private mode


@pytest.mark.slow  # starts a local Ray (10 s idle; ~60 s on the loaded 2-core machine) with 2 workers importing torch
def test_two_shards_through_ray_equal_one_process(tmp_path, small_digits):
    pytest.importorskip("ray", reason="the optional extra: pip install 'obliviate[ray]'")
    cfg = sisa.SisaConfig(shards=2, slices=2, epochs=2, lr=0.2, seed=1)
    sisa.train(SPEC, cfg, tmp_path / "serial", executor="serial", data=small_digits, say=_quiet)
    sisa.train(SPEC, cfg, tmp_path / "ray", executor="ray", workers=2, data=small_digits, say=_quiet)
    assert_bit_identical(tmp_path / "serial", tmp_path / "ray")
