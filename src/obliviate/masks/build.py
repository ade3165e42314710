"""Turn `--mask KIND:FRACTION` / `--prune FORM` into the engine's {name: bool mask}, save it, and describe it.

    masks, conventions = prepare(model, tokenizer, forget, retain, mask="wagle:0.5", prune="2:4",
                                 names=trainable, out="runs/x")      # writes runs/x/mask.safetensors

Mask forms: `wagle:F[,mu=1e-6]`, `saliency:F`, `magnitude:F`, `random:F[,seed=0]`, `file:PATH` (a bare path to
a .safetensors file also works). F = the share of the scored weights allowed to move, in (0, 1], chosen **globally**
over all of them: every score is a first-order estimate of how much moving that weight changes the forget loss (or,
for magnitude/random, a baseline of the same form), so scores are comparable across tensors, and the rankings of
WAGLE and SalUn are global; a per-tensor quota would force updates into tensors that do not matter for the forget
set. The scored weights are those the run trains (`names`), all of them unless the method chooses (rmu).
With `prune`, the model is pruned first, the mask is scored on the pruned model, and the two are combined: a weight
may move only if the mask frees it and it was not pruned.
"""
from __future__ import annotations

from pathlib import Path

import torch

from obliviate.errors import ConfigError

from . import scores as S
from .forms import KINDS, MaskSpec, parse_mask  # noqa: F401  (re-exported)

MASK_FILE = "mask.safetensors"
Mask = dict[str, torch.Tensor]


def top_fraction(scores: dict[str, torch.Tensor], keep: float) -> Mask:
    """True on exactly round(keep·N) entries with the largest score, ranked globally over all tensors."""
    names = list(scores)
    flat = torch.cat([scores[n].flatten().float().cpu() for n in names])  # (N,)
    chosen = torch.zeros_like(flat, dtype=torch.bool)
    k = round(keep * flat.numel())
    if k > 0:
        chosen[torch.topk(flat, k, sorted=False).indices] = True
    out, start = {}, 0
    for n in names:
        size = scores[n].numel()
        out[n] = chosen[start:start + size].view(scores[n].shape).to(scores[n].device)
        start += size
    return out


def build_mask(spec: MaskSpec, model, tokenizer, forget: list[dict], retain: list[dict], names: list[str],
               batch_size: int = 8, max_length: int = 512) -> Mask:
    """The mask of `spec` over the parameters `names` of `model` (scores in eval mode, gradients not kept)."""
    named = dict(model.named_parameters())
    params = {n: named[n] for n in names}
    if spec.kind == "file":
        return load_mask(spec.path, params)
    if spec.kind in ("magnitude", "random"):
        scores = S.magnitude_scores(params) if spec.kind == "magnitude" else S.random_scores(params, **spec.options)
        return top_fraction(scores, spec.fraction)
    if spec.kind == "wagle" and not retain:
        raise ConfigError("mask wagle: needs a retain set (its score uses the retain gradient)")
    was_training, flags = model.training, {n: p.requires_grad for n, p in named.items()}
    model.eval()
    for p in params.values():
        p.requires_grad_(True)
    try:
        g_f = S.grad_mean(params, S.nll_batches(model, tokenizer, forget, batch_size, max_length))
        if spec.kind == "saliency":
            return top_fraction(S.saliency_scores(g_f), spec.fraction)
        g_r = S.grad_mean(params, S.nll_batches(model, tokenizer, retain, batch_size, max_length))
        return top_fraction(S.wagle_scores(params, g_f, g_r, **spec.options), spec.fraction)
    finally:
        model.train(was_training)
        for n, p in named.items():
            p.requires_grad_(flags[n])


def load_mask(path: str | Path, params: dict[str, torch.Tensor]) -> Mask:
    """A saved mask, checked against `params`: known names, the parameter's shape, 0/1 values."""
    from safetensors.torch import load_file

    if not Path(path).is_file():
        raise ConfigError(f"mask {path}: no such file (rule: a safetensors file of 0/1 tensors keyed by parameter "
                          "name)")
    out = {}
    for name, m in load_file(str(path)).items():
        if name not in params:
            raise ConfigError(f"mask {path}: tensor {name!r} names no parameter this run trains; some that it "
                              f"does: {', '.join(list(params)[:8])}")
        if tuple(m.shape) != tuple(params[name].shape):
            raise ConfigError(f"mask {path}: tensor {name!r} has shape {tuple(m.shape)}, the parameter has "
                              f"{tuple(params[name].shape)}")
        if m.dtype != torch.bool and not ((m == 0) | (m == 1)).all():
            raise ConfigError(f"mask {path}: tensor {name!r} must hold only 0 and 1")
        out[name] = m.to(torch.bool)
    return out


def save_mask(mask: Mask, path: str | Path) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({n: m.to(torch.uint8).contiguous().cpu() for n, m in mask.items()}, str(path))
    return path


def combine(a: Mask | None, b: Mask | None) -> Mask | None:
    """Logical AND of two masks (a missing entry means 'all may move')."""
    if a is None or b is None:
        return a if b is None else b
    return {**a, **{n: a[n] & m if n in a else m for n, m in b.items()}}


def density(mask: Mask | None, params: dict[str, torch.Tensor]) -> float:
    """Share of the entries of `params` the mask lets move."""
    total = sum(p.numel() for p in params.values())
    fixed = sum(int((~m).sum()) for m in (mask or {}).values())
    return (total - fixed) / max(total, 1)
