"""ESD, Erased Stable Diffusion (Gandikota et al., ICCV 2023): fine-tune the UNet so that its noise prediction for
the concept follows the frozen model's negatively guided one.

With θ* the frozen original and η = `negative_guidance`, on states x_t of the frozen model's own generations of the
concept (prompted with CFG `start_guidance`, stopped at a random DDIM step; the 2025 diffusers code's choice),

    target = ε_θ*(x_t, t, c) − η · (ε_θ*(x_t, t, c) − ε_θ*(x_t, t, ""))      (no gradient)
    L      = || ε_θ(x_t, t, c) − target ||²

Parameters trained: `xattn` (ESD-x: every cross-attention `attn2` parameter), `noxattn` (ESD-u: every UNet
parameter except `attn2`, the time embedding and the output conv), `strict` (only `attn2.to_k`/`to_v`); the 2025
names esd-x / esd-u / esd-x-strict are accepted. Adam, `steps` steps of `batch_size` states. A pool of `pool`
trajectories is sampled once from the frozen model (`sample_steps` DDIM steps) and states are drawn from it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from obliviate.errors import ConfigError, DivergenceError
from obliviate.methods.registry import register

from ..models import T2I
from ..sample import trajectory
from .protocol import EraseTask

VARIANTS = {"xattn": "xattn", "esd-x": "xattn", "noxattn": "noxattn", "esd-u": "noxattn", "strict": "strict",
            "esd-x-strict": "strict"}


def esd_target(eps_from: torch.Tensor, eps_concept: torch.Tensor, eps_uncond: torch.Tensor,
               eta: float) -> torch.Tensor:
    """ε_from − η (ε_concept − ε_uncond); with c_from = c_concept this is the paper's negatively guided noise."""
    return eps_from - eta * (eps_concept - eps_uncond)


def esd_loss(eps_pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error to a target that carries no gradient."""
    return F.mse_loss(eps_pred, target.detach())


def selected(name: str, variant: str) -> bool:
    """Whether UNet parameter `name` is trained by `variant` (xattn | noxattn | strict)."""
    if variant == "xattn":
        return "attn2" in name
    if variant == "strict":
        return "attn2.to_k" in name or "attn2.to_v" in name
    return not ("attn2" in name or name.startswith("time_embedding") or name.startswith("conv_out"))


@register("esd", track="diffusion")
@dataclass(frozen=True)
class ESD:
    variant: str = "xattn"
    negative_guidance: float = 1.0
    steps: int = 60
    lr: float = 1e-3
    batch_size: int = 16
    pool: int = 16
    sample_steps: int = 20
    start_guidance: float = 3.0

    summary = "fine-tune the UNet towards the frozen model's negatively guided noise for the concept (ESD-x / ESD-u)"
    paper = "Gandikota et al., 2023, Erasing Concepts from Diffusion Models (ICCV)"

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ConfigError(f"esd.variant: must be one of {', '.join(VARIANTS)} (got {self.variant!r})")

    def _pool(self, frozen: T2I, cond: torch.Tensor, seed: int) -> list[tuple[int, torch.Tensor]]:
        with torch.no_grad():
            _, states = trajectory(frozen, cond, self.sample_steps, self.start_guidance, seed, keep=True)
        return states  # [(t, (pool, C, H, W))] over the DDIM steps

    def edit(self, model: T2I, task: EraseTask) -> dict:
        variant = VARIANTS[self.variant]
        frozen = model.copy().eval().requires_grad_(False)
        prompts = task.concept_prompts()
        with torch.no_grad():
            cond_all = frozen.encode(prompts)
            uncond = frozen.encode([""])
        pick = torch.arange(self.pool) % len(prompts)
        states = self._pool(frozen, cond_all[pick], task.seed)
        model.requires_grad_(False)
        params = [p for n, p in model.unet.named_parameters() if selected(n, variant)]
        for p in params:
            p.requires_grad_(True)
        opt = torch.optim.Adam(params, lr=self.lr)
        gen = torch.Generator().manual_seed(task.seed)
        losses = []
        model.train()
        for step in range(self.steps):
            k = int(torch.randint(0, len(states), (1,), generator=gen))
            rows = torch.randint(0, self.pool, (self.batch_size,), generator=gen)
            t_val, xs = states[k]
            x, cond = xs[rows], cond_all[pick[rows]]
            t = torch.full((len(rows),), t_val, dtype=torch.long)
            with torch.no_grad():
                e_c = frozen.eps(x, t, cond)
                target = esd_target(e_c, e_c, frozen.eps(x, t, uncond.expand(len(rows), -1, -1)),
                                    self.negative_guidance)
            loss = esd_loss(model.unet(x, t, encoder_hidden_states=cond).sample, target)
            if not torch.isfinite(loss):
                raise DivergenceError(f"esd: loss became {loss.item()} at step {step}; lower lr (now {self.lr})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        model.requires_grad_(True)
        return {"steps": self.steps, "loss_first": losses[0] if losses else None,
                "loss_last": losses[-1] if losses else None, "trainable": sum(p.numel() for p in params)}
