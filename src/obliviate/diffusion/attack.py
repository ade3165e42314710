"""An UnlearnDiffAtk-style attack: search the prompt embedding that makes an edited model generate the concept again.

UnlearnDiffAtk (Zhang et al., ECCV 2024) needs no auxiliary model: it uses the unlearned model as its own
classifier, optimising the prompt so that the model denoises images of the concept well,

    min_c  E_{t, ε} || ε − ε_θ'(√ᾱ_t x0 + √(1 − ᾱ_t) ε, t, c) ||²,

then generates from the found prompt and asks the judge whether the concept is back. The paper optimises 5 prepended
discrete tokens; here the search is continuous (a relaxation, so a stronger attack), in one of two spaces:
`token` (default): a perturbation δ of the class word's token embedding, passed through the text encoder (what a
prompt can reach, and what AdvUnlearn defends); `conditioning`: the text encoder's whole output sequence c
(initialised at the concept prompt's encoding), which bypasses the text encoder. x0 are real training images of the concept (the
paper uses the original model's generations). The same attack is run on the oracle: its success is the floor, as it
never learned the concept.

attack_success = share of generated samples the judge classifies as the concept (a rate with a bootstrap CI);
asr = share of attacked prompts with at least one such sample (the papers' attack success rate).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from obliviate.errors import ConfigError
from obliviate.results import metric

from .models import T2I
from .sample import sample_embeddings


@dataclass(frozen=True)
class AttackConfig:
    iters: int = 40
    lr: float = 0.05
    batch_size: int = 16
    samples: int = 8  # generations per attacked prompt
    sample_steps: int = 20
    guidance: float = 3.0
    space: str = "token"  # token | conditioning

    def __post_init__(self):
        if self.iters < 0 or self.samples < 1 or self.batch_size < 1 or self.space not in ("token", "conditioning"):
            raise ConfigError(f"attack: iters >= 0, samples >= 1, batch_size >= 1, space token|conditioning "
                              f"required (got {self})")


def optimise_embedding(model: T2I, x0: torch.Tensor, c0: torch.Tensor, cfg: AttackConfig, seed: int = 0,
                       condition: Callable[[torch.Tensor], torch.Tensor] | None = None,
                       ) -> tuple[torch.Tensor, list[float]]:
    """The variable found from c0 by Adam on the denoising loss of images x0 (N, C, H, W); returns it and the loss
    per iteration. `condition` maps the variable to the (L, d) conditioning (default: it is the conditioning).
    The model's weights get no gradient."""
    gen = torch.Generator().manual_seed(seed)
    condition = condition or (lambda v: v)
    c = c0.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([c], lr=cfg.lr)
    model.eval().requires_grad_(False)
    n_t = model.scheduler.config.num_train_timesteps
    losses = []
    for _ in range(cfg.iters):
        idx = torch.randint(0, len(x0), (cfg.batch_size,), generator=gen)
        noise = torch.randn((cfg.batch_size, *x0.shape[1:]), generator=gen)
        t = torch.randint(0, n_t, (cfg.batch_size,), generator=gen)
        xt = model.scheduler.add_noise(x0[idx], noise, t)
        cond = condition(c).unsqueeze(0).expand(cfg.batch_size, -1, -1)  # (B, L, d)
        loss = F.mse_loss(model.eps(xt, t, cond), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.requires_grad_(True)
    return c.detach(), losses


def _token_condition(model: T2I, prompt: str, position: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """δ (d,) → the encoding of `prompt` with δ added to the token embedding at `position`."""
    from .methods.advunlearn import perturbed_tokens

    def condition(delta: torch.Tensor) -> torch.Tensor:
        with perturbed_tokens(model, delta, position):
            return model.encode([prompt])[0]

    return condition


def run_attack(model: T2I, classify: Callable[[torch.Tensor], np.ndarray], concept: int, prompts: list[str],
               x0: torch.Tensor, cfg: AttackConfig, seed: int = 0, positions: list[int] | None = None,
               ) -> dict[str, Any]:
    """Attack each prompt in turn (its own optimisation), generate `cfg.samples` images from what it found, and
    count the judge's concept labels. `positions`: the class word's position in each prompt (token space; default
    the first word). Returns {"attack_success", "attack_asr"} metric entries and a log."""
    hits, per_prompt, first_last = [], [], []
    for i, prompt in enumerate(prompts):
        with torch.no_grad():
            base = model.encode([prompt])[0]  # (L, d)
        condition = None
        if cfg.space == "token":
            condition = _token_condition(model, prompt, (positions or [1] * len(prompts))[i])
            base = torch.zeros(base.shape[-1])
        c, losses = optimise_embedding(model, x0, base, cfg, seed + i, condition)
        with torch.no_grad():
            cond = condition(c) if condition else c
        imgs = sample_embeddings(model, cond.unsqueeze(0).expand(cfg.samples, -1, -1), cfg.sample_steps, cfg.guidance,
                                 seed + 100 + i)
        h = (np.asarray(classify(imgs)) == concept).astype(float)
        hits.extend(h.tolist())
        per_prompt.append(float(h.max()))
        first_last.append((losses[0], losses[-1]) if losses else (None, None))
    return {"attack_success": metric(hits), "attack_asr": metric(per_prompt),
            "log": {"prompts": prompts, "loss_first_last": first_last, "config": cfg.__dict__}}
