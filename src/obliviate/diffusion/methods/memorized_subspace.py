"""Memorised images share a subspace (Chavhan et al., 2024), implemented as its authors' released pruning code
(ConceptPrune) does it: find the feed-forward neurons that memorised prompts activate and prune them.

Detection (`replication`): a generated image replicates the training set when its nearest training image (L2 in
pixel space) is closer than `threshold`; the replication rate is the share of such samples.
Localisation (Wanda scores): hook the input X of every UNet feed-forward output layer (`ff.net.2`, d_ff → d), on
states x_t at `timesteps` noise levels for the target prompts (memorised, or the concept's) and the base prompts
(the preserve set); per input neuron j the activation norm ||X_j||₂, and per weight S_ij = |W_ij|·||X_j||. For each
output row keep the top `skill_ratio` share of inputs by target score, and of those the ones where the target score
beats the base score ("skilled" neurons); those weights are set to 0. Nothing is trained.
`task.extra["memorized_prompts"]` names the target prompts when set (the demo sets the captions of the duplicates
it planted, `diffusion/memorize.py`), otherwise the concept's prompts are the target.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from obliviate.methods.registry import register

from ..models import T2I
from .protocol import EraseTask


def replication(generated: torch.Tensor, train: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(nearest-neighbour distance (N,), replicated (N,) bool) of generated images against training images."""
    d = torch.cdist(generated.flatten(1).double(), train.flatten(1).double()).min(dim=1).values
    return d, d < threshold


def wanda_mask(weight: torch.Tensor, norm_target: torch.Tensor, norm_base: torch.Tensor,
               skill_ratio: float) -> torch.Tensor:
    """Bool mask (d_out, d_in) of weights to prune: top `skill_ratio` per row by |W|·||X_target||, where that score
    exceeds |W|·||X_base||."""
    s_t, s_b = weight.abs() * norm_target, weight.abs() * norm_base  # (d_out, d_in)
    k = max(1, int(skill_ratio * weight.shape[1]))
    top = torch.zeros_like(weight, dtype=torch.bool).scatter_(1, s_t.topk(k, dim=1).indices, True)
    return top & (s_t > s_b)


def ffn_input_norms(model: T2I, prompts: list[str], timesteps: list[int], seed: int) -> dict[str, torch.Tensor]:
    """name of each `ff.net.2` → the root-mean-square of input neuron j over tokens, samples and timesteps (d_ff,):
    ||X_j||₂ normalised by the number of rows, so that prompt sets of different sizes compare."""
    layers = {n: m for n, m in model.unet.named_modules() if n.endswith("ff.net.2")}
    sums, rows = {n: 0.0 for n in layers}, dict.fromkeys(layers, 0)

    def hook(name):
        def fn(_m, inputs, _out):
            flat = inputs[0].detach().flatten(0, -2)  # (rows, d_ff)
            sums[name] = sums[name] + flat.pow(2).sum(0)
            rows[name] += flat.shape[0]
        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in layers.items()]
    gen = torch.Generator().manual_seed(seed)
    try:
        with torch.no_grad():
            cond = model.encode(prompts)
            for t in timesteps:
                x = torch.randn(len(prompts), model.channels_in, model.side, model.side, generator=gen)
                model.eps(x, torch.full((len(prompts),), t, dtype=torch.long), cond)
    finally:
        for h in handles:
            h.remove()
    return {n: (s / max(rows[n], 1)).sqrt() for n, s in sums.items()}


@register("memorized_subspace", track="diffusion")
@dataclass(frozen=True)
class MemorizedSubspace:
    skill_ratio: float = 0.02
    timesteps: tuple[int, ...] = (999, 750, 500)

    summary = "prune the feed-forward neurons that memorised (or concept) prompts activate more than others (Wanda)"
    paper = "Chavhan et al., 2024, Memorized Images in Diffusion Models share a Subspace that can be Located and " \
            "Deleted; pruning as in their ConceptPrune code"

    def edit(self, model: T2I, task: EraseTask) -> dict:
        target = list(task.extra.get("memorized_prompts") or task.concept_prompts())
        ts = [min(t, model.scheduler.config.num_train_timesteps - 1) for t in self.timesteps]
        n_t = ffn_input_norms(model, target, ts, task.seed)
        n_b = ffn_input_norms(model, task.preserve_prompts(), ts, task.seed)
        pruned = total = 0
        for name, m in model.unet.named_modules():
            if name in n_t:
                mask = wanda_mask(m.weight, n_t[name], n_b[name], self.skill_ratio)
                with torch.no_grad():
                    m.weight[mask] = 0.0
                pruned, total = pruned + int(mask.sum()), total + mask.numel()
        return {"pruned_weights": pruned, "pruned_fraction": pruned / max(total, 1)}
