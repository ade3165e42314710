"""The run options `mask:` / `--mask` and `prune:` / `--prune`, applied before unlearning (run.py and the CLI).

    masks, conv = prepare(model, tokenizer, forget, retain, "npo", overrides, mask="wagle:0.5", prune="2:4",
                          out="runs/x")
    model, log = unlearn(model, tokenizer, forget, retain, "npo", overrides, masks=masks)

`prepare` prunes the model in place (when asked), builds the mask over the weights the method trains, ANDs the two,
writes OUT/mask.safetensors (reusable as `--mask file:OUT/mask.safetensors`) and returns the conventions to record
in results.json. Nothing is done, and (None, {}) returned, when neither option is given.
"""
from __future__ import annotations

from pathlib import Path

from obliviate.errors import ConfigError

from . import build
from . import prune as pruning


def trainable_names(model, method: str, overrides: dict | None):
    """(the parameters the engine will train for this method: all, unless the method chooses (rmu); the run's
    train config)."""
    from obliviate.engine.config import resolve

    cfg, m = resolve(method, overrides or {})
    m = m.bind(model, cfg.train.seed) if hasattr(m, "bind") else m
    named = [n for n, _ in model.named_parameters()]
    return ([n for n in named if m.trainable(n)] if hasattr(m, "trainable") else named), cfg.train


def prepare(model, tokenizer, forget: list[dict], retain: list[dict], method: str, overrides: dict | None, *,
            mask: str | None = None, prune: str | None = None, lora=None, out: str | Path | None = None):
    """(masks for `unlearn`, conventions); see the module docstring."""
    if not mask and not prune:
        return None, {}
    if lora:
        raise ConfigError("mask/prune with LoRA: the adapters would be merged over the held or pruned weights; run "
                          "a mask or prune_first without --lora")
    spec = build.parse_mask(mask) if mask else None
    form = pruning.parse_prune(prune) if prune else None  # checked before any work
    names, train = trainable_names(model, method, overrides)
    params = dict(model.named_parameters())
    kept = pruning.prune(model, prune) if prune else None
    chosen = build.build_mask(spec, model, tokenizer, forget, retain, names, train.batch_size,
                              train.max_length) if spec else None
    # Pruned weights outside what the method trains stay 0 anyway (frozen); the engine only takes trained names.
    masks = build.combine(chosen, {n: k for n, k in (kept or {}).items() if n in names})
    if out is not None:
        build.save_mask(masks, Path(out) / build.MASK_FILE)
    trained = {n: params[n] for n in names}
    conv = {"mask": _describe(spec, form, build.density(masks, trained))}
    return masks, conv


def _describe(spec, form, density: float) -> str:
    parts = []
    if form is not None:
        kind, arg = form
        how = (f"{arg[0]}:{arg[1]} semi-structured (the {arg[0]} largest |w| kept in every group of {arg[1]} along "
               "the input dim)" if kind == "nm" else f"unstructured magnitude, sparsity {arg} per tensor")
        parts.append(f"pruned first: {how}, on every nn.Linear weight except the output head; pruned weights held "
                     "at exactly 0")
    if spec is not None:
        what = f"loaded from {spec.path}" if spec.kind == "file" else (
            f"{spec.kind} scores, top {spec.fraction} of the trained weights may move, ranked globally over all "
            f"trained tensors{''.join(f', {k}={v}' for k, v in spec.options.items())}")
        parts.append(f"mask {what}")
    parts.append(f"measured share of trained weights that may move: {density:.4f}; held entries exactly fixed "
                 "(gradient, optimizer state and weight decay)")
    return "; ".join(parts)
