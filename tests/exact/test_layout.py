"""Shard/slice layout, SISA's epoch schedule, the ids parser and the aggregation rules (no training)."""
from __future__ import annotations

import pytest
import torch

from obliviate.errors import ConfigError, DataError
from obliviate.exact.aggregate import aggregate, majority_vote, mean_probability
from obliviate.exact.items import parse_ids, read_items_file
from obliviate.exact.layout import Layout, epochs_per_step, indices_sha256


@pytest.mark.parametrize(("epochs", "slices", "expected"), [
    (30, 4, [12, 12, 12, 12]),  # a = 2·30/5 = 12 → ⌊12(r+1)⌋ − ⌊12r⌋ = 12 each
    (10, 1, [10]),              # one slice: plain training
    (6, 3, [3, 3, 3]),          # a = 12/4 = 3
    (4, 10, [0, 1, 1, 0, 1, 1, 1, 0, 1, 1]),  # a = 8/11: ⌊0.727k⌋ = 0,0,1,2,2,3,4,5,5,6,7
])
def test_epochs_per_step(epochs, slices, expected):
    assert epochs_per_step(epochs, slices) == expected


def test_epoch_schedule_matches_the_work_of_plain_training():
    """Σ_r e_r·(r+1)/R passes over the shard ≈ e (exact when a = 2e/(R+1) is an integer)."""
    for e, r in [(30, 4), (30, 5), (60, 3)]:
        work = sum(k * (i + 1) / r for i, k in enumerate(epochs_per_step(e, r)))
        assert abs(work - e) <= 0.5 * e / r + 1e-9, (e, r, work)


def test_layout_places_every_item_once_and_records_positions():
    lay = Layout.build(103, shards=4, slices=3, seed=7)
    pos = lay.positions()
    assert sorted(i for sh in lay.slots for sl in sh for i in sl) == list(range(103))
    sizes = [len(sl) for sh in lay.slots for sl in sh]
    assert max(sizes) - min(sizes) <= 1
    for item in (0, 50, 102):
        s, r, k = lay.position(item)
        assert lay.slots[s][r][k] == item and tuple(pos[item]) == (s, r, k)
    assert Layout.from_json(lay.to_json()) == lay
    assert Layout.build(103, 4, 3, seed=7) == lay and Layout.build(103, 4, 3, seed=8) != lay


def test_first_affected_and_survivors():
    lay = Layout.build(40, shards=2, slices=4, seed=0)
    a, b = lay.slots[0][2][1], lay.slots[0][1][0]
    c = lay.slots[1][3][0]
    assert lay.first_affected([a, b, c]) == {0: 1, 1: 3}
    assert lay.survivors(0, 2, deleted={a}) == [i for sl in lay.slots[0][:3] for i in sl if i != a]
    assert indices_sha256([3, 1, 2]) == indices_sha256([1, 2, 3])


def test_bad_layouts_and_ids_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot fill 3 shards x 4 slices"):
        Layout.build(10, 3, 4, 0)
    with pytest.raises(DataError, match=r"unknown training item id .*got 40"):
        Layout.build(40, 2, 2, 0).check_ids([1, 40])
    with pytest.raises(DataError, match="'--ids'.*non-negative integers.*'-3'"):
        parse_ids("1,-3")
    with pytest.raises(DataError, match="non-negative integers"):
        parse_ids("1,,2")
    f = tmp_path / "items.txt"
    f.write_text("3\n# a comment\n\n17  # trailing\nabc\n")
    with pytest.raises(DataError, match=r"items.txt:5: .*'abc'"):
        read_items_file(f)
    f.write_text("3\n17 # trailing\n")
    assert read_items_file(f) == [3, 17]


def test_aggregations():
    """Three constituents, two examples, three classes.
    Example 0: argmaxes 0, 1, 1 → vote 1; probabilities favour class 0 strongly in the first, weakly 1 in the
    others: mean softmax picks 0. Example 1: argmaxes 2, 0, 1 (a three-way tie) → vote takes the lowest, 0."""
    big, small = 8.0, 0.1
    logits = torch.tensor([
        [[big, 0, 0], [0, 0, big]],
        [[0, small, 0], [big, 0, 0]],
        [[0, small, 0], [0, big, 0]],
    ])  # (S=3, B=2, C=3)
    assert majority_vote(logits).tolist() == [1, 0]
    assert mean_probability(logits)[0].item() == 0
    assert torch.equal(aggregate(logits, "vote"), majority_vote(logits))
    with pytest.raises(ConfigError, match="mean, vote"):
        aggregate(logits, "median")
