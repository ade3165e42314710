"""Step hooks: options of a run that act around the method's loss without being methods (UOE, LAT).

    hooks = build_step_hooks(uoe="layer=-1,alpha=1", adversary="lat:1,0.5")
    unlearn(model, tok, forget, retain, "npo", step_hooks=hooks)

The loop calls each hook at four points, every one optional (found by attribute, like a method's hooks), and never
tests what a hook is:
- `setup(model, tokenizer, forget, trainable, masks) -> (trainable, masks)`: once, after the method chose its
  trainable weights; may narrow them (freezing the rest) and add 0/1 gradient masks (UOE: one expert's slice).
- `before_forward(enc, forget_idx)`: before each micro-batch's forward passes (LAT: the inner attack).
- `side(name, batch)`: a context manager around the model's own forward of one side, `name` in forget, alt,
  retain (not around the reference's): LAT perturbs the forget side, UOE records the forget side's router logits.
- `extra_loss() -> (Tensor | None, {name: Tensor})`: after the method's loss; the tensor is added to it, the terms
  are logged (UOE: the router-anchor loss).
- `describe() -> dict`: what run.json records under `config.step_hooks` (and the resume check compares).
"""
from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable

import torch

from obliviate.errors import ConfigError


def build_step_hooks(uoe=None, adversary=None) -> list:
    """The hooks of a run's options: `uoe` (True, "KEY=VALUE,...", a dict or UoeOptions) and `adversary`
    ("lat[:LAYER,EPS]", a dict with `kind`, or LatOptions). None or False: that option is off."""
    hooks = []
    if uoe is not None and uoe is not False:
        from .uoe import UnlearnOneExpert, parse_uoe

        hooks.append(UnlearnOneExpert(parse_uoe(uoe)))
    if adversary is not None:
        from .lat import LatentAdversary, parse_adversary

        hooks.append(LatentAdversary(parse_adversary(adversary)))
    return hooks


def setup(hooks: list, model, tokenizer, forget, trainable: dict, masks):
    for h in hooks:
        if hasattr(h, "setup"):
            trainable, masks = h.setup(model, tokenizer, forget, trainable, masks)
    return trainable, masks


def before_forward(hooks: list, enc, forget_idx: list[int]) -> None:
    for h in hooks:
        if hasattr(h, "before_forward"):
            h.before_forward(enc, forget_idx)


def around(hooks: list) -> Callable | None:
    """The `around(side, batch)` context manager that micro_batch puts around the model's forward of each side."""
    sided = [h for h in hooks if hasattr(h, "side")]
    if not sided:
        return None

    @contextlib.contextmanager
    def ctx(name: str, batch: dict):
        with contextlib.ExitStack() as stack:
            for h in sided:
                stack.enter_context(h.side(name, batch))
            yield

    return ctx


def add_extra(hooks: list, total: torch.Tensor, terms: dict) -> tuple[torch.Tensor, dict]:
    for h in hooks:
        if hasattr(h, "extra_loss"):
            extra, more = h.extra_loss()
            if extra is not None:
                total = total + extra
            terms = {**terms, **more}
    return total, terms


def describe(hooks: list) -> list[dict]:
    return [h.describe() for h in hooks]


def option_fields(cls, text: str, what: str) -> dict:
    """"a=1,b=2" → {"a": "1", "b": "2"} (values typed later by replace_checked); an item without '=' is an error."""
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"{what}: {item!r} is not KEY=VALUE; keys: "
                              f"{', '.join(f.name for f in dataclasses.fields(cls))}")
        out[key.strip()] = value.strip()
    return out
