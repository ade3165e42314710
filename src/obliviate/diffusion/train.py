"""Training the diffusion track's models from scratch, and caching them: the target (every class) and the oracle
(every class but the concept), same recipe and seed.

Data: a vision-track `ClassData` (digits 8×8; Fashion-MNIST resized to 16×16), pixels mapped to [-1, 1]. Each step
draws a batch of images, gives each a prompt from a training template with its class name (the prompt is replaced by
"" with probability `p_uncond`, for classifier-free guidance), a timestep and noise, and minimises the DDPM loss
||ε − ε_θ(x_t, t, TE(prompt))||² over the UNet and the text encoder jointly (AdamW, cosine decay).

`trained(...)` returns the model from the cache folder when a model with the same key exists, else trains and saves
it; the key hashes the data bytes, class subset, model config, recipe and seed (`cache_key`).
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from obliviate.errors import DivergenceError
from obliviate.results import peak_memory_mb

from .models import T2I, ModelConfig, load_t2i, save_t2i
from .prompts import HELDOUT_TEMPLATES, TRAIN_TEMPLATES, PromptTokenizer, fill

CACHE_VERSION = 1  # bump when what a cached model means changes


@dataclass(frozen=True)
class Recipe:
    """How a model is trained: steps of AdamW at `lr` (cosine to 0) on batches of `batch_size`."""

    steps: int = 200
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.0
    p_uncond: float = 0.1


def images(x: torch.Tensor, side: int) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] → (N, C, side, side) in [-1, 1] (area-resized when H ≠ side)."""
    if x.shape[-1] != side:
        x = F.interpolate(x, size=(side, side), mode="area")
    return x * 2.0 - 1.0


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] → [0, 1], the judge's input range."""
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)


def diffusion_side(side: int) -> int:
    """8×8 digits stay 8×8; larger images are trained at 16×16 (the CPU budget)."""
    return side if side <= 8 else 16


def cache_key(data_digest: str, keep: list[int], cfg: ModelConfig, recipe: Recipe, seed: int,
              classes: tuple[str, ...] = ()) -> str:
    # classes: the vocabulary (planted caption words included) changes the text encoder even for the same images
    blob = json.dumps({"v": CACHE_VERSION, "data": data_digest, "keep": keep, "model": asdict(cfg),
                       "classes": list(classes),
                       "recipe": asdict(recipe), "seed": seed, "templates": [TRAIN_TEMPLATES, HELDOUT_TEMPLATES]},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def digest(x: torch.Tensor, y: torch.Tensor) -> str:
    h = hashlib.sha256(x.numpy().tobytes())
    h.update(y.numpy().tobytes())
    return h.hexdigest()


def train(x: torch.Tensor, y: torch.Tensor, classes: tuple[str, ...], cfg: ModelConfig, recipe: Recipe,
          seed: int = 0, log: Callable[[str], None] | None = None) -> tuple[T2I, dict[str, Any]]:
    """A T2I model trained from scratch on images x (N, C, side, side) in [-1, 1] with labels y."""
    tok = PromptTokenizer.build(classes)
    model = T2I(cfg, tok, tuple(classes), x.shape[-1], x.shape[1], seed=seed)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / recipe.steps)))
    gen = torch.Generator().manual_seed(seed)
    n_t = model.scheduler.config.num_train_timesteps
    losses, start = [], time.perf_counter()
    model.train()
    for step in range(recipe.steps):
        idx = torch.randint(0, len(y), (recipe.batch_size,), generator=gen)
        tpl = torch.randint(0, len(TRAIN_TEMPLATES), (recipe.batch_size,), generator=gen)
        drop = torch.rand(recipe.batch_size, generator=gen) < recipe.p_uncond
        prompts = ["" if d else fill(TRAIN_TEMPLATES[int(k)], classes[int(c)])
                   for d, k, c in zip(drop, tpl, y[idx], strict=True)]
        x0 = x[idx]
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, n_t, (recipe.batch_size,), generator=gen)
        xt = model.scheduler.add_noise(x0, noise, t)
        loss = F.mse_loss(model.eps(xt, t, model.encode(prompts)), noise)
        if not torch.isfinite(loss):
            raise DivergenceError(f"diffusion training: loss became {loss.item()} at step {step}; lower lr "
                                  f"(now {recipe.lr})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if log and (step + 1) % max(recipe.steps // 5, 1) == 0:
            log(f"  step {step + 1}/{recipe.steps} loss {sum(losses[-20:]) / len(losses[-20:]):.4f}")
    wall = time.perf_counter() - start
    return model.eval(), {"steps": recipe.steps, "samples": recipe.steps * recipe.batch_size, "wall_time_s": wall,
                          "peak_memory_mb": peak_memory_mb(), "final_loss": sum(losses[-20:]) / len(losses[-20:]),
                          "recipe": asdict(recipe), "seed": seed}


def model_folder(cache_dir: Path, role: str, key: str) -> Path:
    """Where the cache keeps the model of `role` with cache key `key`."""
    return Path(cache_dir) / "diffusion" / f"{role}-{key}"


def trained(x: torch.Tensor, y: torch.Tensor, classes: tuple[str, ...], keep: list[int], cfg: ModelConfig,
            recipe: Recipe, seed: int, cache_dir: Path | None, role: str,
            log: Callable[[str], None] = print) -> tuple[T2I, dict[str, Any], str]:
    """(model, training log, "cached" | "trained") for the images whose label is in `keep` (all classes' names are
    still in the vocabulary: the oracle can be prompted with the concept it never saw)."""
    key = cache_key(digest(x, y), sorted(keep), cfg, recipe, seed, tuple(classes))
    folder = model_folder(cache_dir, role, key) if cache_dir else None
    if folder is not None and (folder / "model.safetensors").is_file():
        model, run = load_t2i(folder)
        log(f"[diffusion] {role}: cached ({folder})")
        return model, run, "cached"
    mask = torch.isin(y, torch.tensor(sorted(keep)))
    log(f"[diffusion] {role}: training on {int(mask.sum())} images of {len(keep)} classes")
    model, run = train(x[mask], y[mask], classes, cfg, recipe, seed, log)
    run.update(role=role, classes_trained=[classes[k] for k in sorted(keep)], cache_key=key)
    if folder is not None:
        save_t2i(model, folder, run)
    return model, run, "trained"
