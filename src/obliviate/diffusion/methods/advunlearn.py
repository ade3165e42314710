"""AdvUnlearn, defensive unlearning with adversarial training (Zhang et al., NeurIPS 2024): make the *text encoder*
robust to erasure-breaking prompts, keeping the UNet frozen.

Bi-level loop over `steps` iterations, with θ* the frozen model (UNet and original text encoder TE*), TE_θ the text
encoder being trained (its transformer layers and final layer norm; token and position embeddings frozen), states
x_t drawn from the frozen model's own generations of the concept (as in esd.py):
- attack (lower level), every `attack_every` steps: a continuous perturbation δ of the class word's token embedding
  (the paper's `replace_k` mode, k = 1), warm-started from the last one, `attack_steps` Adam steps minimising
  ||ε_θ*(x_t, t, TE_θ(prompt; δ)) − ε_θ*(x_t, t, TE*(prompt))||²: the word that makes the current encoder
  reproduce the original's conditioning;
- defence (upper level): the ESD loss through the frozen UNet on the attacked prompt,
  ||ε_θ*(x_t, t, TE_θ(prompt; δ)) − [ε* − η(ε* − ε*_"")]||² with ε* = ε_θ*(x_t, t, TE*(prompt)), plus the
  utility-retaining regulariser γ·||ε_θ*(x_t, t, TE_θ(p_r)) − ε_θ*(x_t, t, TE*(p_r))||² on preserve prompts p_r.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from obliviate.errors import DivergenceError
from obliviate.methods.registry import register

from ..models import T2I
from .esd import esd_target
from .protocol import EraseTask


def token_embedding(model: T2I) -> torch.nn.Embedding:
    return getattr(model.text, "text_model", model.text).embeddings.token_embedding


@contextlib.contextmanager
def perturbed_tokens(model: T2I, delta: torch.Tensor, position: int):
    """Inside the block, the token embedding at `position` of every prompt gets `delta` (d,) added."""
    def hook(_module, _inputs, out):
        out = out.clone()
        out[:, position] = out[:, position] + delta
        return out

    handle = token_embedding(model).register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def text_trainable(name: str) -> bool:
    """AdvUnlearn's `text_encoder_full`: encoder layers and the final layer norm, not the embeddings."""
    return "embeddings" not in name


@register("advunlearn", track="diffusion")
@dataclass(frozen=True)
class AdvUnlearn:
    steps: int = 40
    lr: float = 1e-3
    negative_guidance: float = 1.0
    retain_weight: float = 0.3
    attack_every: int = 1
    attack_steps: int = 5
    attack_lr: float = 0.05
    batch_size: int = 16
    pool: int = 16
    sample_steps: int = 20
    start_guidance: float = 3.0

    summary = "adversarial training of the text encoder against erasure-breaking words, with a utility regulariser"
    paper = "Zhang et al., 2024, Defensive Unlearning with Adversarial Training for Robust Concept Erasure in " \
            "Diffusion Models (NeurIPS)"

    def _attack(self, model, frozen_eps, x, t, prompt, pos, delta, reference) -> torch.Tensor:
        """δ after `attack_steps` Adam steps towards the original model's conditional prediction `reference`."""
        delta = delta.detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([delta], lr=self.attack_lr)
        for _ in range(self.attack_steps):
            with perturbed_tokens(model, delta, pos):
                c = model.encode([prompt])
            loss = F.mse_loss(frozen_eps(x, t, c), reference)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return delta.detach()

    def edit(self, model: T2I, task: EraseTask) -> dict:
        from ..sample import trajectory

        frozen = model.copy().eval().requires_grad_(False)
        model.unet.requires_grad_(False)
        params = [p for n, p in model.text.named_parameters() if text_trainable(n)]
        for n, p in model.text.named_parameters():
            p.requires_grad_(text_trainable(n))
        tpl = task.templates[0]
        prompt, pos = task.prompts(task.concept)[0], model.tokenizer.slot_position(tpl)
        retain = task.preserve_prompts()
        with torch.no_grad():
            c_star, c_empty = frozen.encode([prompt]), frozen.encode([""])
            _, states = trajectory(frozen, c_star.expand(self.pool, -1, -1), self.sample_steps,
                                   self.start_guidance, task.seed, keep=True)
        opt = torch.optim.Adam(params, lr=self.lr)
        gen = torch.Generator().manual_seed(task.seed)
        delta = torch.zeros(c_star.shape[-1])
        losses = []

        def frozen_eps(x, t, c):
            return frozen.unet(x, t, encoder_hidden_states=c.expand(len(x), -1, -1)).sample

        for step in range(self.steps):
            t_val, xs = states[int(torch.randint(0, len(states), (1,), generator=gen))]
            x = xs[torch.randint(0, self.pool, (self.batch_size,), generator=gen)]
            t = torch.full((self.batch_size,), t_val, dtype=torch.long)
            with torch.no_grad():
                e_star = frozen_eps(x, t, c_star)
                target = esd_target(e_star, e_star, frozen_eps(x, t, c_empty), self.negative_guidance)
            if step % self.attack_every == 0:
                delta = self._attack(model, frozen_eps, x, t, prompt, pos, delta, e_star)
            with perturbed_tokens(model, delta, pos):
                unlearn = F.mse_loss(frozen_eps(x, t, model.encode([prompt])), target)
            r = [retain[int(i)] for i in torch.randint(0, len(retain), (self.batch_size,), generator=gen)]
            with torch.no_grad():
                keep = frozen.unet(x, t, encoder_hidden_states=frozen.encode(r)).sample
            utility = F.mse_loss(frozen.unet(x, t, encoder_hidden_states=model.encode(r)).sample, keep)
            loss = unlearn + self.retain_weight * utility
            if not torch.isfinite(loss):
                raise DivergenceError(f"advunlearn: loss became {loss.item()} at step {step}; lower lr "
                                      f"(now {self.lr})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append((unlearn.item(), utility.item()))
        model.requires_grad_(True)
        return {"steps": self.steps, "loss_first": losses[0] if losses else None,
                "loss_last": losses[-1] if losses else None, "delta_norm": float(delta.norm())}
