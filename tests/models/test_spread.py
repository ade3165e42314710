"""`spread` on one process (no process group): values come back in item order, whatever the batch order; a
batch plan that misses or repeats an item, or a score of the wrong length, is an error."""
import pytest

from obliviate.models.spread import spread, world


def test_one_process_returns_values_in_item_order():
    assert world() == (0, 1)
    calls = []

    def score(idx):
        calls.append(idx)
        return [10 * i for i in idx]

    assert spread([[3, 1], [0], [2]], score, 4) == [0, 10, 20, 30]
    assert calls == [[3, 1], [0], [2]]  # every batch scored here, as given


def test_missing_or_repeated_items_are_errors():
    with pytest.raises(ValueError, match="cover 2 items, expected each of 3"):
        spread([[0], [1]], lambda idx: idx, 3)
    with pytest.raises(ValueError, match="cover 4 items"):
        spread([[0, 1], [1, 2]], lambda idx: idx, 3)


def test_score_of_wrong_length_is_an_error():
    with pytest.raises(ValueError, match="returned 1 values for a batch of 2"):
        spread([[0, 1]], lambda idx: [0], 2)
