"""Where every training item lives in a sharded, sliced ensemble, and how many epochs each slice step gets.

SISA (Bourtoule et al., S&P'21) splits the training items into S disjoint shards (one constituent model each) and
each shard into R slices. Step r of a shard trains on the union of its slices 0..r, starting from step r−1's
weights, so a deletion in slice j only invalidates steps j..R−1. Pure numpy; no torch here.

    lay = Layout.build(n_items=1437, shards=5, slices=4, seed=0)
    lay.position(17)          # (shard, slice, index within the slice)
    lay.survivors(0, 2, deleted={17})   # item ids of shard 0, slices 0..2, minus the deleted ones
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from obliviate.errors import ConfigError, DataError


def epochs_per_step(epochs: int, slices: int) -> list[int]:
    """Epochs of each slice step so that the total gradient work equals `epochs` passes over the whole shard.

    Step r sees (r+1)/R of the shard and gets ⌊(r+1)·a⌋ − ⌊r·a⌋ epochs with a = 2e/(R+1) (SISA's choice), so
    Σ_r (r+1)/R · e_r ≈ e. e=30, R=4: a=12, [12, 12, 12, 12], work 12·(1+2+3+4)/4 = 30 shard passes.
    """
    if epochs < 1 or slices < 1:
        raise ConfigError(f"epochs and slices must be >= 1, got epochs={epochs}, slices={slices}")
    a = 2.0 * epochs / (slices + 1)
    return [math.floor((r + 1) * a) - math.floor(r * a) for r in range(slices)]


def indices_sha256(ids: Iterable[int]) -> str:
    """Content key of a checkpoint: sha256 of the sorted item ids it was trained on (comma-separated decimal)."""
    return hashlib.sha256(",".join(str(i) for i in sorted(int(x) for x in ids)).encode()).hexdigest()


@dataclass(frozen=True)
class Layout:
    """slots[s][r] = item ids of shard s, slice r, in their recorded order (the `index` of an item)."""

    slots: tuple[tuple[tuple[int, ...], ...], ...]
    n_items: int

    @classmethod
    def build(cls, n_items: int, shards: int, slices: int, seed: int) -> Layout:
        """Shuffle the ids 0..N−1 with `seed`, cut them into S contiguous shards and each shard into R slices
        (sizes differ by at most one). Uniform: every item is equally likely to be deleted."""
        if shards < 1 or slices < 1:
            raise ConfigError(f"--shards and --slices must be >= 1, got {shards} and {slices}")
        if n_items < shards * slices:
            raise ConfigError(f"{n_items} training items cannot fill {shards} shards x {slices} slices "
                              f"(rule: shards*slices <= items)")
        perm = np.random.default_rng(seed).permutation(n_items)
        slots = tuple(tuple(tuple(int(i) for i in sl) for sl in np.array_split(shard, slices))
                      for shard in np.array_split(perm, shards))
        return cls(slots, n_items)

    @property
    def shards(self) -> int:
        return len(self.slots)

    @property
    def slices(self) -> int:
        return len(self.slots[0])

    def positions(self) -> np.ndarray:
        """(N, 3) int array: row i = (shard, slice, index) of item i."""
        pos = np.full((self.n_items, 3), -1, dtype=np.int64)
        for s, shard in enumerate(self.slots):
            for r, sl in enumerate(shard):
                for k, item in enumerate(sl):
                    pos[item] = (s, r, k)
        return pos

    def position(self, item: int) -> tuple[int, int, int]:
        self.check_ids([item])
        return tuple(int(v) for v in self.positions()[item])

    def check_ids(self, ids: Iterable[int], where: str = "--ids") -> list[int]:
        """Sorted unique ids; any id outside 0..N−1 is a DataError naming it."""
        out = sorted({int(i) for i in ids})
        bad = [i for i in out if not 0 <= i < self.n_items]
        if bad:
            raise DataError(f"unknown training item id (the ensemble has items 0..{self.n_items - 1})", field=where,
                            rule=f"0 <= id < {self.n_items}", value=bad[0])
        return out

    def survivors(self, shard: int, upto: int, deleted: Iterable[int] = ()) -> list[int]:
        """Ids of shard `shard`, slices 0..upto inclusive, in slice order, without `deleted`."""
        gone = set(deleted)
        return [i for sl in self.slots[shard][: upto + 1] for i in sl if i not in gone]

    def first_affected(self, ids: Iterable[int]) -> dict[int, int]:
        """shard → the earliest slice holding one of `ids` (shards holding none are absent)."""
        pos = self.positions()
        out: dict[int, int] = {}
        for i in ids:
            s, r, _ = pos[i]
            out[int(s)] = min(out.get(int(s), int(r)), int(r))
        return dict(sorted(out.items()))

    def to_json(self) -> dict:
        return {"n_items": self.n_items, "slots": [[list(sl) for sl in shard] for shard in self.slots]}

    @classmethod
    def from_json(cls, obj: dict) -> Layout:
        slots = tuple(tuple(tuple(int(i) for i in sl) for sl in shard) for shard in obj["slots"])
        lay = cls(slots, int(obj["n_items"]))
        seen = sorted(i for shard in slots for sl in shard for i in sl)
        if seen != list(range(lay.n_items)):
            raise DataError("layout does not place every item exactly once", field="slots",
                            rule=f"a permutation of 0..{lay.n_items - 1}")
        return lay
