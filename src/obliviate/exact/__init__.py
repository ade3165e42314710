"""Exact unlearning: SISA (sharded, sliced retraining) for classifiers and S3T (sequence-aware sharded LoRA) for LMs.

    obliviate exact train --track vision --data digits --shards 5 --slices 4 --out runs/sisa
    obliviate exact delete runs/sisa --ids 3,17,42

A deletion retrains or deactivates only what saw the deleted items, so the result equals a model never trained
on them. Names load lazily: importing this package does not import torch.
"""
from __future__ import annotations

import importlib

_EXPORTS = {"sisa": "obliviate.exact.sisa", "Layout": "obliviate.exact.layout",
            "epochs_per_step": "obliviate.exact.layout", "fan_out": "obliviate.exact.executor",
            "aggregate": "obliviate.exact.aggregate"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name == "sisa":
        return importlib.import_module("obliviate.exact.sisa")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'obliviate.exact' has no attribute {name!r}")
