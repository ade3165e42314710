"""DoCo, concept domain correction (Wu et al., AAAI 2025): align what the model predicts for the concept with what
the frozen model predicts for an anchor concept, adversarially, and protect the other concepts by gradient surgery.

Per step, on states x_t of the frozen model's concept generations (as in esd.py):
- x̂_0 predictions: fake = x̂_0 of the model being edited for the concept prompt; real = x̂_0 of the frozen model for
  the anchor prompt ("" = unconditional), x̂_0 = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t;
- a small patch discriminator D (PatchGAN-like convolutions) is trained with BCE to tell real (1) from fake (0);
- the model's unlearning loss is the generator loss BCE(D(fake), 1): make the concept look like the anchor domain;
- the prior-preservation loss is MSE(ε_θ(x_t, t, c_p), ε_θ*(x_t, t, c_p)) on preserve prompts;
- concept-preserving gradient (`preserving_gradient`): when cos(g_u, g_p) < 0 the unlearning gradient loses its
  conflicting part, g_u ← g_u − λ·cos(g_u, g_p)·ĝ_p (ĝ_p the unit prior gradient; the paper's code scales by the
  cosine, not by ⟨g_u, ĝ_p⟩ as PCGrad does); the update is g_u + g_p.
Trained parameters: the cross-attention (`attn2`) ones, as the paper's default.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from obliviate.errors import DivergenceError
from obliviate.methods.registry import register

from ..models import T2I
from .esd import selected
from .protocol import EraseTask


def preserving_gradient(g_u: torch.Tensor, g_p: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """DoCo's surgery on flat gradients: g_u − λ·cos·ĝ_p when cos(g_u, g_p) < 0, else g_u unchanged."""
    norm = g_p.norm()
    if norm == 0 or g_u.norm() == 0:
        return g_u
    cos = torch.dot(g_u, g_p) / (g_u.norm() * norm)
    return g_u - lam * cos * g_p / norm if cos < 0 else g_u


def discriminator(channels: int) -> nn.Module:
    """A 2-layer patch discriminator: (B, C, H, W) → (B, 1, H/2, W/2) logits."""
    return nn.Sequential(nn.Conv2d(channels, 16, 3, padding=1), nn.LeakyReLU(0.2),
                         nn.Conv2d(16, 1, 3, stride=2, padding=1))


def x0_hat(model: T2I, x: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    a = model.scheduler.alphas_cumprod[t].view(-1, 1, 1, 1).to(x.dtype)
    return (x - (1 - a).sqrt() * eps) / a.sqrt()


@register("doco", track="diffusion")
@dataclass(frozen=True)
class DoCo:
    steps: int = 40
    lr: float = 1e-3
    disc_lr: float = 1e-3
    prior_weight: float = 1.0
    surgery: float = 1.0
    batch_size: int = 16
    pool: int = 16
    sample_steps: int = 20
    start_guidance: float = 3.0

    summary = "adversarial domain correction of the concept towards an anchor, with concept-preserving gradients"
    paper = "Wu et al., 2025, Unlearning Concepts in Diffusion Model via Concept Domain Correction and Concept " \
            "Preserving Gradient (AAAI)"

    def edit(self, model: T2I, task: EraseTask) -> dict:
        from ..sample import trajectory

        frozen = model.copy().eval().requires_grad_(False)
        params = [p for n, p in model.unet.named_parameters() if selected(n, "xattn")]
        model.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        disc = discriminator(model.channels_in)
        opt, opt_d = torch.optim.Adam(params, lr=self.lr), torch.optim.Adam(disc.parameters(), lr=self.disc_lr)
        with torch.no_grad():
            c_concept, c_anchor = frozen.encode(task.concept_prompts()), frozen.encode(task.prompts(task.anchor))
            c_keep = frozen.encode(task.preserve_prompts())
            pick = torch.arange(self.pool) % len(c_concept)
            _, states = trajectory(frozen, c_concept[pick], self.sample_steps, self.start_guidance, task.seed, True)
        gen = torch.Generator().manual_seed(task.seed)
        log = []
        for step in range(self.steps):
            t_val, xs = states[int(torch.randint(0, len(states), (1,), generator=gen))]
            rows = torch.randint(0, self.pool, (self.batch_size,), generator=gen)
            x, t = xs[rows], torch.full((self.batch_size,), t_val, dtype=torch.long)
            keep = c_keep[torch.randint(0, len(c_keep), (self.batch_size,), generator=gen)]
            with torch.no_grad():
                real = x0_hat(frozen, x, t, frozen.eps(x, t, c_anchor[pick[rows]]))
                keep_ref = frozen.eps(x, t, keep)
            fake = x0_hat(model, x, t, model.eps(x, t, c_concept[pick[rows]]))
            # discriminator step: real anchor predictions → 1, the edited model's concept predictions → 0
            d_real, d_fake = disc(real), disc(fake.detach())
            loss_d = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + \
                F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            d_out = disc(fake)
            loss_u = F.binary_cross_entropy_with_logits(d_out, torch.ones_like(d_out))
            loss_p = self.prior_weight * F.mse_loss(model.eps(x, t, keep), keep_ref)
            if not (torch.isfinite(loss_u) and torch.isfinite(loss_p)):
                raise DivergenceError(f"doco: loss became non-finite at step {step}; lower lr (now {self.lr})")
            g_u = torch.autograd.grad(loss_u, params, retain_graph=False, allow_unused=True)
            g_p = torch.autograd.grad(loss_p, params, allow_unused=True)
            flat = lambda gs: torch.cat([(g if g is not None else torch.zeros_like(p)).flatten()  # noqa: E731
                                         for g, p in zip(gs, params, strict=True)])
            update = preserving_gradient(flat(g_u), flat(g_p), self.surgery) + flat(g_p)
            offset = 0
            for p in params:
                p.grad = update[offset:offset + p.numel()].view_as(p).clone()
                offset += p.numel()
            opt.step()
            log.append((loss_d.item(), loss_u.item(), loss_p.item()))
        model.requires_grad_(True)
        return {"steps": self.steps, "losses_first": log[0] if log else None, "losses_last": log[-1] if log else None}
