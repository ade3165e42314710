"""Torch state set for one block and restored after it: a model's train/eval mode, and torch's global RNG.

Library code leaves no process-wide change behind. `with eval_mode(model):` scores in eval mode and gives the model
back in the caller's mode; `with seeded(seed, device):` runs training with torch's global RNG seeded (dropout, LoRA
initialisation and weight init draw from it) and gives the caller back their RNG state.

Why the global RNG and not a private `torch.Generator`: dropout inside HF models and peft's adapter initialisation
take no generator, so a private one cannot reach them; forking the global one keeps every number as it was when the
library reseeded the process, and keeps resume exact (a checkpoint saves and restores the RNG state inside the fork).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """`model` in eval mode inside the block; `model.train(was_training)` after it, also when the block raises.

    Like `model.train(flag)`, restoring sets every submodule to the model's top-level mode."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | str | None = None) -> Iterator[None]:
    """torch's CPU generator (and `device`'s, when it is a CUDA device) seeded with `seed` inside the block; the
    caller's states restored after it. Other CUDA devices are neither touched nor initialised."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        # Not torch.manual_seed: it also (lazily) seeds every CUDA device, a change that would outlive the block.
        torch.default_generator.manual_seed(seed)
        for d in cuda:
            with torch.cuda.device(d):
                torch.cuda.manual_seed(seed)
        yield
