"""How the constituents of a sharded ensemble answer together: mean probability (our default) or majority vote.

Both take the constituents' logits, shape (S, B, C), and return class indices (B,).
- `mean`: average the S softmax distributions, then argmax (soft voting).
- `vote`: each constituent votes for its argmax; the most votes wins, ties go to the lowest class index
  (SISA's default, `aggregation.py --output_type argmax`).

Why `mean` is the default: with few constituents (S = 2..10 here) votes tie often (S = 2 ties whenever the two
disagree) and a vote discards how sure each constituent is; averaging probabilities breaks those ties by
confidence. BENCHMARKS.md measures both (bench/exact.py): mean probability is as accurate or better at every S we ran.
Vote remains useful when constituents may only expose labels.
"""
from __future__ import annotations

import torch

from obliviate.errors import ConfigError

AGGREGATIONS = ("mean", "vote")


def mean_probability(logits: torch.Tensor) -> torch.Tensor:
    """(S, B, C) logits → (B,) argmax of the mean softmax."""
    return logits.float().softmax(-1).mean(0).argmax(-1)


def majority_vote(logits: torch.Tensor) -> torch.Tensor:
    """(S, B, C) logits → (B,) the class most constituents pick; ties → lowest class index."""
    votes = torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).sum(0)  # (B, C) vote counts
    return votes.argmax(-1)  # argmax returns the first maximal index: the lowest tied class


def aggregate(logits: torch.Tensor, how: str = "mean") -> torch.Tensor:
    if how == "mean":
        return mean_probability(logits)
    if how == "vote":
        return majority_vote(logits)
    raise ConfigError(f"--aggregate: must be one of {', '.join(AGGREGATIONS)}, got {how!r}")
