"""The one training loop of the classifier track, and `unlearn`, the public entry point around it.

`unlearn(model, forget, retain, method="salun", **overrides)` copies the model, runs the method and returns
`(model, log)`; the input model is left unchanged (SCRUB uses it as its teacher). Forget and retain may be any
map-style `Dataset` of (x, y) pairs or any `DataLoader` yielding (x, y) batches.
"""
from __future__ import annotations

import copy
import math
import time
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from obliviate.engine.masking import HeldMask
from obliviate.errors import DataError, DivergenceError, ModelError
from obliviate.methods.registry import build
from obliviate.results import peak_memory_mb

from . import masks
from .data import check_labels
from .methods import protocol
from .methods.protocol import Context, VisionMethod
from .models import output_size


def as_loader(data: Dataset | DataLoader, batch_size: int, seed: int, shuffle: bool = True) -> DataLoader:
    """A DataLoader over `data` (returned as is when it already is one); shuffling drawn from `seed`."""
    if isinstance(data, DataLoader):
        return data
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=gen if shuffle else None)


def dataset_size(data: Dataset | DataLoader) -> int:
    ds = data.dataset if isinstance(data, DataLoader) else data
    try:
        return len(ds)
    except TypeError:
        return sum(len(y) for _, y in data)  # an iterable loader: count by walking it once


def first_example(data: Dataset | DataLoader) -> torch.Tensor:
    if isinstance(data, DataLoader):
        x, _ = next(iter(data))
        return x[0]
    return data[0][0]


def _scheduler(opt, method: VisionMethod, total_steps: int):
    if method.schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / total_steps)))
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)


def run(model: nn.Module, method: VisionMethod, ctx: Context, mask: masks.Mask | None) -> dict[str, Any]:
    """Train `model` in place following `method`; returns steps, samples and per-epoch mean losses."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=method.lr, momentum=method.momentum, weight_decay=method.weight_decay)
    total = sum(len(ctx.loaders[s]) for e in range(method.epochs) for s, _ in method.phases(e)) or 1
    sched = _scheduler(opt, method, total)
    held = HeldMask(mask, dict(model.named_parameters())) if mask else None  # masked entries exactly fixed
    steps, samples, epoch_loss = 0, 0, []
    model.train()
    for epoch in range(method.epochs):
        losses = []
        for split, loss_fn in method.phases(epoch):
            for x, y in ctx.loaders[split]:
                x, y = x.to(ctx.device), y.to(ctx.device)
                check_labels(y, ctx.num_classes, where=f"{split} labels")
                loss = loss_fn(model(x), x, y, ctx) + protocol.penalty(method, model, steps / total)
                if not torch.isfinite(loss):
                    raise DivergenceError(f"{method.name}: loss became {loss.item()} at step {steps} (epoch "
                                          f"{epoch}, {split}); lower lr (now {method.lr})")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if held is not None:
                    held.zero_grads()
                opt.step()
                sched.step()
                if held is not None:
                    held.restore(opt)
                steps, samples = steps + 1, samples + len(y)
                losses.append(loss.item())
        epoch_loss.append(sum(losses) / max(len(losses), 1))
    return {"steps": steps, "samples": samples, "epoch_loss": epoch_loss}


def unlearn(model: nn.Module, forget: Dataset | DataLoader, retain: Dataset | DataLoader, method: str = "salun",
            *, seed: int = 0, num_classes: int | None = None, **overrides) -> tuple[nn.Module, dict[str, Any]]:
    """Unlearn `forget` from a copy of `model` with `method` (`obliviate methods` lists them); overrides set the
    method's hyper-parameters (unknown keys are ConfigErrors listing the valid ones). Returns (new model, log)."""
    cfg = build(method, overrides, track="vision")
    if dataset_size(forget) == 0:
        raise DataError("the forget set is empty: nothing to unlearn", field="forget", rule="at least one sample",
                        value=0)
    if dataset_size(retain) == 0:
        raise DataError("the retain set is empty", field="retain", rule="at least one sample", value=0)
    device = next(model.parameters()).device
    got = output_size(model, first_example(forget))
    if num_classes is not None and got != num_classes:
        raise ModelError(f"model output size {got} does not match the number of classes {num_classes} "
                         f"(rule: last layer width == num_classes)")
    loaders = {"forget": as_loader(forget, cfg.batch_size, seed), "retain": as_loader(retain, cfg.batch_size, seed + 1)}
    teacher = copy.deepcopy(model).eval() if protocol.needs_teacher(cfg) else None
    new = copy.deepcopy(model)
    ctx = Context(got, torch.Generator().manual_seed(seed), device, seed, teacher, loaders)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        start = time.perf_counter()
        mask = protocol.prepare(cfg, new, ctx)
        log = run(new, cfg, ctx, mask)
        wall = time.perf_counter() - start
    log.update(method=method, config=protocol.describe(cfg), seed=seed, wall_time_s=wall,
               peak_memory_mb=peak_memory_mb(device), trainable_fraction=masks.density(new, mask))
    return new.eval(), log


def fit(model: nn.Module, data: Dataset | DataLoader, seed: int = 0, **overrides) -> tuple[nn.Module, dict]:
    """Train a fresh copy of `model` (weights re-drawn from `seed`) on `data` with the `retrain` recipe: how the
    original and the oracle are made. Returns (trained model, log with wall_time_s, steps, samples)."""
    cfg = build("retrain", overrides, track="vision")
    if dataset_size(data) == 0:
        raise DataError("cannot train on an empty set", field="train", rule="at least one sample", value=0)
    device = next(model.parameters()).device
    num_classes = output_size(model, first_example(data))
    ctx = Context(num_classes, torch.Generator().manual_seed(seed), device, seed, None,
                  {"retain": as_loader(data, cfg.batch_size, seed)})
    new = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        start = time.perf_counter()
        protocol.prepare(cfg, new, ctx)
        log = run(new, cfg, ctx, None)
        wall = time.perf_counter() - start
    log.update(method="retrain", config=protocol.describe(cfg), seed=seed, wall_time_s=wall,
               peak_memory_mb=peak_memory_mb(device))
    return new.eval(), log
