"""The regression track's one training loop, `unlearn` (the public entry point) and `fit` (original and oracle).

Every batch carries a forget flag, so a method may walk "forget", "retain" or "all" (both, shuffled together, as
Blindspot and Gaussian-amnesiac do). Adam, as in Tarun et al.; the model's hidden ReLU outputs are captured for
losses that compare activations (Blindspot's attention transfer). A classifier's integer labels are accepted as
numbers only when the model has one output; a model with several outputs is refused (that is a classifier).
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, TensorDataset

from obliviate.errors import DataError, DivergenceError, ModelError
from obliviate.methods.registry import build, hyper_parameters

from ..models import build_model


@dataclass
class Batch:
    """One batch as losses see it: inputs, float targets, forget flags, predictions (B,) and hidden activations."""

    x: torch.Tensor
    y: torch.Tensor
    is_forget: torch.Tensor  # (B,) bool
    pred: torch.Tensor
    acts: list[torch.Tensor]


@dataclass
class RegContext:
    """What losses and `prepare` may use: a seeded RNG, the frozen original, loaders, the target spread."""

    generator: torch.Generator
    seed: int
    teacher: nn.Module
    loaders: dict[str, DataLoader]
    target_mean: float = 0.0
    target_std: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)  # what `prepare` builds (Blindspot's proxy)


LossFn = Callable[[Batch, RegContext], torch.Tensor]


def build_regressor(data, seed: int = 0) -> nn.Module:
    """The default regressor: the track's MLP (2 hidden layers of 128) with one output."""
    return build_model(tuple(data.x_train.shape[1:]), 1, seed)


@contextmanager
def capture(model: nn.Module):
    """Collect every nn.ReLU output of a forward pass into the yielded list (cleared by the caller)."""
    acts: list[torch.Tensor] = []
    handles = [m.register_forward_hook(lambda _m, _i, out: acts.append(out))
               for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        yield acts
    finally:
        for h in handles:
            h.remove()


def forward(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(predictions (B,), hidden ReLU activations) of one forward pass."""
    with capture(model) as acts:
        pred = model(x)
    return pred.reshape(len(x), -1)[:, 0], list(acts)


def _tensors(data, flag: float) -> TensorDataset:
    """(x, float y, flag) rows of a TensorDataset of (x, y); targets must be one number per row."""
    if not isinstance(data, TensorDataset) or len(data) == 0:
        raise DataError("regression data must be a non-empty TensorDataset of (x, y)", field="data",
                        value=type(data).__name__ if not isinstance(data, TensorDataset) else 0)
    x, y = data.tensors[:2]
    if y.dim() != 1:
        raise DataError("regression targets must be one number per row", field="y", rule="shape (N,)",
                        value=tuple(y.shape))
    return TensorDataset(x, y.float(), torch.full((len(y),), flag))


def _check_regressor(model: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        out = model(x[:1])
    if out.reshape(1, -1).shape[1] != 1:
        raise ModelError(f"a regression method needs a model with one output, this one has "
                         f"{out.reshape(1, -1).shape[1]} (a classifier: use obliviate.vision.unlearn)")


def run(model: nn.Module, method, ctx: RegContext) -> dict[str, Any]:
    """Train `model` in place following `method` (Adam); steps, samples and per-epoch mean losses."""
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=method.lr,
                           weight_decay=method.weight_decay)
    steps, samples, epoch_loss = 0, 0, []
    for epoch in range(method.epochs):
        losses = []
        for split, loss_fn in method.phases(epoch):
            for x, y, flag in ctx.loaders[split]:
                model.train()
                pred, acts = forward(model, x)
                loss = loss_fn(Batch(x, y, flag.bool(), pred, acts), ctx)
                if not torch.isfinite(loss):
                    raise DivergenceError(f"{method.name}: loss became {loss.item()} at step {steps} (epoch {epoch}, "
                                          f"{split}); lower lr (now {method.lr})")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                steps, samples = steps + 1, samples + len(y)
                losses.append(loss.item())
        epoch_loss.append(sum(losses) / max(len(losses), 1))
    return {"steps": steps, "samples": samples, "epoch_loss": epoch_loss}


def unlearn(model: nn.Module, forget, retain, method: str = "blindspot", *, seed: int = 0,
            **overrides) -> tuple[nn.Module, dict[str, Any]]:
    """Unlearn `forget` from a copy of regressor `model` with a `regression` track method; (new model, log)."""
    cfg = build(method, overrides, track="regression")
    f, r = _tensors(forget, 1.0), _tensors(retain, 0.0)
    _check_regressor(model, f.tensors[0])
    gen = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    loaders = {"forget": DataLoader(f, cfg.batch_size, shuffle=True, generator=gen(seed)),
               "retain": DataLoader(r, cfg.batch_size, shuffle=True, generator=gen(seed + 1)),
               "all": DataLoader(ConcatDataset([f, r]), cfg.batch_size, shuffle=True, generator=gen(seed + 2))}
    y_all = torch.cat([f.tensors[1], r.tensors[1]])
    ctx = RegContext(gen(seed), seed, copy.deepcopy(model).eval(), loaders, float(y_all.mean()), float(y_all.std()))
    new = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        start = time.perf_counter()
        hook = getattr(cfg, "prepare", None)
        if hook:
            hook(new, ctx)
        log = run(new, cfg, ctx)
        wall = time.perf_counter() - start
    log.update(method=method, config={"method": method, **hyper_parameters(cfg)}, seed=seed, wall_time_s=wall)
    return new.eval(), log


def fit(model: nn.Module, data, seed: int = 0, **overrides) -> tuple[nn.Module, dict[str, Any]]:
    """Train a re-initialised copy of `model` on `data` with the regression `retrain` recipe (original, oracle)."""
    x, y = data.tensors[:2]
    empty = TensorDataset(x[:1], y[:1])  # retrain walks retain only; the forget loader is never read
    return unlearn(model, empty, data, "retrain", seed=seed, **overrides)
