"""Planted duplicates: make the target memorise a few training images, and measure how often it replicates them.

The memorisation papers (Carlini et al. 2023; Chavhan et al. 2024) find that Stable Diffusion copies images that
occur many times in its training set under the same caption. We recreate that on purpose: `plant` picks `n_images`
training images (seeded, never of the concept), gives each its own caption word (`mem0`, `mem1`, …: a new "class"
filled into the usual templates) and appends `copies` exact duplicates of each under that word. The target trains on
the planted set; the oracle trains without the duplicates (and without the concept), so its replication rate is the
floor of a model that never saw them.

Replication (`replication_rate`): samples from the memorised prompts are compared with the planted images; a sample
replicates when its nearest planted image (L2 in pixel space, images in [-1, 1]) is closer than `threshold`. The
threshold (`replication_threshold`) is the 5% quantile of the distances from each real training image to its nearest
*other* training image: "replicated" means closer to a planted image than 95% of real images are to any other one
(a near-duplicate by the data's own standard; on digits 1.39, against a median of 2.05).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from obliviate.errors import ConfigError
from obliviate.results import metric

from .methods.memorized_subspace import replication
from .prompts import TRAIN_TEMPLATES, fill

PREFIX = "mem"


@dataclass(frozen=True)
class Planting:
    """Which training images were planted (`indices` into the original set), their caption words, their labels in
    the planted set, and how many duplicates of each were appended."""

    indices: tuple[int, ...]
    names: tuple[str, ...]
    labels: tuple[int, ...]
    copies: int

    def prompts(self, templates: tuple[str, ...] = TRAIN_TEMPLATES) -> list[str]:
        """Every planted caption word in every template (the 'memorised prompts')."""
        return [fill(t, n) for n in self.names for t in templates]


def plant(x: torch.Tensor, y: torch.Tensor, classes: tuple[str, ...], n_images: int = 4, copies: int = 50,
          exclude: tuple[int, ...] = (), seed: int = 0,
          ) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...], Planting]:
    """(x', y', classes', planting): x and y with `copies` exact duplicates of `n_images` seeded-chosen images
    appended, labelled len(classes) + i; classes' = classes + the caption words. Images whose label is in `exclude`
    are never chosen (the concept: its erasure is judged separately)."""
    if n_images < 1 or copies < 1:
        raise ConfigError(f"plant: n_images >= 1 and copies >= 1 required (got n_images={n_images}, copies={copies})")
    pool = torch.nonzero(~torch.isin(y, torch.tensor(list(exclude), dtype=y.dtype))).flatten()
    if len(pool) < n_images:
        raise ConfigError(f"plant: only {len(pool)} images outside classes {exclude}, {n_images} asked")
    gen = torch.Generator().manual_seed(seed)
    chosen = pool[torch.randperm(len(pool), generator=gen)[:n_images]].sort().values
    names = tuple(f"{PREFIX}{i}" for i in range(n_images))
    clash = set(names) & {c.lower() for c in classes}
    if clash:
        raise ConfigError(f"plant: caption words {sorted(clash)} are already class names")
    labels = tuple(len(classes) + i for i in range(n_images))
    x_new = torch.cat([x, x[chosen].repeat_interleave(copies, dim=0)])  # (N + n·copies, C, H, W)
    y_new = torch.cat([y, torch.tensor(labels, dtype=y.dtype).repeat_interleave(copies)])
    return x_new, y_new, tuple(classes) + names, Planting(tuple(chosen.tolist()), names, labels, copies)


def replication_threshold(x: torch.Tensor, quantile: float = 0.05) -> float:
    """The `quantile` (linear interpolation) of the L2 distances from each image of x to its nearest other row of x
    (pass x without the planted copies: a copy's nearest other row is at distance 0)."""
    flat = x.flatten(1).double()
    d = torch.cdist(flat, flat)
    d.fill_diagonal_(float("inf"))
    return float(d.min(dim=1).values.quantile(quantile))


def replication_rate(generated: torch.Tensor, planted: torch.Tensor, threshold: float) -> dict:
    """Metric entry (shared schema, bootstrap CI): share of generated images within `threshold` of a planted
    image; `nn_distance` holds each sample's distance to its nearest planted image."""
    d, hit = replication(generated, planted, threshold)
    return metric(hit.double().numpy(), nn_distance=[round(float(v), 4) for v in d], threshold=threshold)
