"""S3T on tiny Llamas: sequence selection, the deletion simulator, and the exactness test (after a deletion the
active adapters never saw the deleted items, by their recorded lineage, and their weights equal those of the same
sequence trained without them; once every sequence is dirty the shard is retrained, equal to training from
scratch on the survivors)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from obliviate.cli import main
from obliviate.exact import s3t
from obliviate.exact.sisa import read_positions

CFG = s3t.S3TConfig(preset="tiny", shards=1, slices=2, sequences=2, epochs=2, base_epochs=2, batch_size=8,
                    lora_r=4)


def _quiet(_msg):
    pass


def test_sequences_spread_every_slice_over_every_position():
    orders = s3t.select_sequences(4, 4)
    assert len(set(orders)) == 4
    for q in range(4):
        assert sorted(o[q] for o in orders) == [0, 1, 2, 3]  # a Latin square: each slice last once
    skew = s3t.select_sequences(3, 1, prior=[0.0, 0.0, 1.0])[0]
    assert skew[-1] == 2  # the slice most likely to be deleted goes last
    assert s3t.layer_groups(4, 2) == [[2, 3], [0, 1]] and s3t.layer_groups(2, 2) == [[1], [0]]
    assert s3t.prefix_length((2, 0, 1), {1}) == 2 and s3t.prefix_length((2, 0, 1), set()) == 3
    with pytest.raises(Exception, match="needs at least 3 layers"):
        s3t.layer_groups(2, 3)


def test_more_sequences_absorb_more_deletions():
    """The paper's simulator: uniform deletions until no sequence keeps a clean first slice. One order dies
    with its first slice (≈ R·… deletions); R orders die only when all R slices are dirty."""
    one = s3t.simulate(1, 4, 1, items_per_slice=20, trials=60)
    four = s3t.simulate(1, 4, 4, items_per_slice=20, trials=60)
    assert four > 2 * one and four >= 3


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from obliviate.data.persons import generate

    out = tmp_path_factory.mktemp("s3t") / "persons"
    generate(out, persons=10, facts=3, holdout=2, seed=0)
    return out


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("s3t-train") / "ens"
    s3t.train(corpus, CFG, out, executor="serial", say=_quiet)
    return out


def _equal(a: Path, b: Path, keys) -> None:
    sa, sb = s3t.adapter_states(a, keys), s3t.adapter_states(b, keys)
    for k in keys:
        assert sa[k].keys() == sb[k].keys() and sa[k]
        for n in sa[k]:
            assert torch.equal(sa[k][n], sb[k][n]), f"adapter {k}, tensor {n} differs"


def test_deletion_deactivates_exactly_and_retrains_only_when_exhausted(trained, corpus, tmp_path):
    ens = tmp_path / "ens"
    shutil.copytree(trained, ens)
    m0 = s3t.read_manifest(ens)
    assert m0["data"]["train"] == 15 and len(m0["data"]["public_persons"]) == 5  # 5 of 10 persons are public
    lay, _ = read_positions(ens)
    orders = [tuple(o) for o in m0["orders"][0]]
    late = next(b for b, o in enumerate(orders) if o[-1] == 1)  # the order where slice 1 comes last
    item = lay.slots[0][1][0]

    report = s3t.delete(ens, [item], executor="serial", say=_quiet)
    m = s3t.read_manifest(ens)
    assert report["shards"]["0"]["active"] == {"sequence": late, "prefix": 1} and report["cost"]["samples"] == 0
    active = s3t.active_lineage(m)[0]
    assert active == [f"0/{late}/0"]
    for key, entry in m["lineage"].items():  # every adapter left on disk saw only slice 0: never the item
        assert entry["slices"] == [0], key
    removed = set(m0["lineage"]) - set(m["lineage"])
    assert removed == {f"0/{1 - late}/0", f"0/{1 - late}/1", f"0/{late}/1"}
    assert not [p for p in ens.rglob("group-*.safetensors") if str(p.relative_to(ens)) not in
                {e["file"] for e in m["lineage"].values()}]

    scratch = tmp_path / "scratch"
    s3t.train(corpus, CFG, scratch, deleted=[item], base_from=ens, executor="serial", say=_quiet)
    _equal(ens, scratch, active)

    other = lay.slots[0][0][0]  # now slice 0 is dirty too: no clean prefix left → the shard is retrained
    report = s3t.delete(ens, [other], executor="serial", say=_quiet)
    assert report["shards"]["0"]["retrained"] and report["cost"]["samples"] > 0
    m = s3t.read_manifest(ens)
    assert m["shards"]["0"]["dirty_slices"] == [] and m["shards"]["0"]["retrains"] == 1
    scratch2 = tmp_path / "scratch2"
    s3t.train(corpus, CFG, scratch2, deleted=[item, other], base_from=ens, executor="serial", say=_quiet)
    assert sorted(m["lineage"]) == sorted(s3t.read_manifest(scratch2)["lineage"])
    _equal(ens, scratch2, sorted(m["lineage"]))


def test_cli_eval_where_and_ledger_on_s3t(trained, tmp_path, capsys):
    from obliviate.ledger import Ledger, run_request, submit_exact

    ens = tmp_path / "ens"
    shutil.copytree(trained, ens)
    assert main(["exact", "where", str(ens), "--ids", "0,14"]) == 0
    assert main(["exact", "eval", str(ens)]) == 0
    assert "kept deletable items: mean answer probability" in capsys.readouterr().out
    led = Ledger(f"sqlite:///{tmp_path / 'l.db'}")
    rid = submit_exact(led, "w", "erase item 3", ens, [3], executor="serial")
    run_request(led, rid, say=_quiet)
    run = led.show(rid)["runs"][0]
    assert run["method"] == "s3t-delete" and run["status"] == "done" and run["metrics"]["adapters_removed"] >= 1
