"""Forget/retain pairing: a seeded draw per optimizer step, sharded over processes and micro-batches.

Step s draws a *global* batch: B forget indices from a per-epoch permutation of the forget set (wrapping round so
every batch is full) and B retain indices from per-epoch permutations of the retain set (without replacement while
B ≤ len(retain)). The global batch is cut into world_size × grad_accum equal parts; process r takes parts
r·A .. r·A + A − 1. Every process therefore draws different retain examples, and the run is the same whatever
the number of processes at equal global batch.
"""
from __future__ import annotations

import math

import torch

from obliviate.config import ConfigError


class PairingSampler:
    def __init__(self, n_forget: int, n_retain: int, batch_size: int, seed: int = 0,
                 world_size: int = 1, rank: int = 0, grad_accum: int = 1):
        parts = world_size * grad_accum
        if batch_size % parts:
            raise ConfigError(
                f"train.batch_size: must be divisible by processes × grad_accum = {world_size} × {grad_accum}, "
                f"got {batch_size}"
            )
        self.n_forget, self.n_retain, self.batch_size, self.seed = n_forget, n_retain, batch_size, seed
        self.world_size, self.rank, self.grad_accum = world_size, rank, grad_accum
        self.steps_per_epoch = math.ceil(n_forget / batch_size)
        self._cached_key: tuple[int, int] | None = None
        self._cached: list[int] = []

    def _seed(self, *parts: int) -> int:
        # A fixed mixing of integers into a generator seed (no Python hash: it must not vary between runs).
        h = self.seed
        for p in parts:
            h = (h * 1_000_003 + p + 1) % (2**61 - 1)
        return h

    def global_batch(self, step: int) -> tuple[list[int], list[int]]:
        """(forget indices, retain indices), each of length batch_size, for optimizer step `step`."""
        epoch, i = divmod(step, self.steps_per_epoch)
        g = torch.Generator().manual_seed(self._seed(0, epoch))
        f_perm = torch.randperm(self.n_forget, generator=g).tolist()
        start = i * self.batch_size
        forget = [f_perm[(start + j) % self.n_forget] for j in range(self.batch_size)]
        if self.n_retain == 0:
            return forget, []
        retain = []
        for pos in range(start, start + self.batch_size):
            # Position `pos` of the epoch's retain stream: concatenated permutations ("blocks") of the retain set.
            block, offset = divmod(pos, self.n_retain)
            retain.append(self._retain_perm(epoch, block)[offset])
        return forget, retain

    def _retain_perm(self, epoch: int, block: int) -> list[int]:
        if self._cached_key != (epoch, block):
            g = torch.Generator().manual_seed(self._seed(1, epoch, block))
            self._cached_key, self._cached = (epoch, block), torch.randperm(self.n_retain, generator=g).tolist()
        return self._cached

    def local_batches(self, step: int) -> list[tuple[list[int], list[int]]]:
        """This process's grad_accum micro-batches of step `step`: [(forget indices, retain indices), ...]."""
        forget, retain = self.global_batch(step)
        size = self.batch_size // (self.world_size * self.grad_accum)
        out = []
        for k in range(self.grad_accum):
            part = self.rank * self.grad_accum + k
            sl = slice(part * size, (part + 1) * size)
            out.append((forget[sl], retain[sl] if retain else []))
        return out
