"""Sampling from a `T2I` model: DDIM (diffusers `DDIMScheduler`, built from the model's DDPM config) with
classifier-free guidance, ε = ε(x, t, "") + g·(ε(x, t, c) − ε(x, t, "")).

`sample(model, prompts, ...)` takes prompts; `sample_embeddings(model, cond, ...)` takes the (B, L, d) conditioning
itself, which is what the embedding attack optimises. `trajectory` keeps every intermediate x_t (ESD draws its
training states from it). Everything is seeded by `seed` through a torch.Generator: same seed, same images.
"""
from __future__ import annotations

import torch

from .models import T2I


def ddim(model: T2I, steps: int):
    from diffusers import DDIMScheduler

    sched = DDIMScheduler.from_config(model.scheduler.config)
    sched.set_timesteps(steps)
    return sched


def guided_eps(model: T2I, x: torch.Tensor, t, cond: torch.Tensor, uncond: torch.Tensor,
               guidance: float) -> torch.Tensor:
    """CFG noise estimate for a batch: one UNet pass over [cond; uncond]."""
    t_batch = torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long)
    both = model.eps(torch.cat([x, x]), torch.cat([t_batch, t_batch]), torch.cat([cond, uncond]))
    e_c, e_u = both.chunk(2)
    return e_u + guidance * (e_c - e_u)


def trajectory(model: T2I, cond: torch.Tensor, steps: int = 20, guidance: float = 3.0, seed: int = 0,
               keep: bool = False) -> tuple[torch.Tensor, list[tuple[int, torch.Tensor]]]:
    """Images (B, C, H, W) in [-1, 1] generated from conditioning `cond` (B, L, d); with `keep`, also the list of
    (timestep, x_t) visited (x_t before the step at t)."""
    gen = torch.Generator().manual_seed(seed)
    b = cond.shape[0]
    x = torch.randn(b, model.channels_in, model.side, model.side, generator=gen).to(model.device)
    uncond = model.encode([""]).expand(b, -1, -1)
    sched = ddim(model, steps)
    states = []
    for t in sched.timesteps:
        if keep:
            states.append((int(t), x.detach().clone()))
        x = sched.step(guided_eps(model, x, t, cond, uncond, guidance), t, x).prev_sample
    return x.clamp(-1, 1), states


@torch.no_grad()
def sample_embeddings(model: T2I, cond: torch.Tensor, steps: int = 20, guidance: float = 3.0, seed: int = 0,
                      batch: int = 128) -> torch.Tensor:
    """Images for conditioning `cond` (B, L, d), generated in chunks of `batch`; seed fixes the noise of chunk i as
    seed + i."""
    was = model.training
    model.eval()
    out = [trajectory(model, cond[i:i + batch], steps, guidance, seed + k)[0]
           for k, i in enumerate(range(0, cond.shape[0], batch))]
    model.train(was)
    return torch.cat(out)


@torch.no_grad()
def sample(model: T2I, prompts: list[str], steps: int = 20, guidance: float = 3.0, seed: int = 0,
           batch: int = 128) -> torch.Tensor:
    """Images (len(prompts), C, H, W) in [-1, 1], one per prompt."""
    return sample_embeddings(model, model.encode(prompts), steps, guidance, seed, batch)
