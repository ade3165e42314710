"""UOE (unlearning one expert) for Mixture-of-Experts models: an option of a run, composable with any LLM method.

    obliviate unlearn --model models/moe --data DIR --method npo --uoe [layer=-1,alpha=1,train_router=true]
    spec: `uoe: {alpha: 1.0}`

Paper: Zhuang et al., "UOE: Unlearning One Expert Is Enough for Mixture-of-Experts LLMs" (arXiv:2411.18797; ACL'25
as SEUF). Whole-model unlearning of an MoE shifts its routers: the experts that hold the knowledge get bypassed and
others are damaged. UOE instead
1. attributes: routes the forget set once (every non-padding token of question and answer) and scores each
   (layer, expert) by its mean router probability (softmax over all experts) on those tokens; the target is the
   single highest-scoring pair over all MoE layers (`layer=-1`; the paper's "one expert": one expert of one layer),
   or the top expert of a given `layer`;
2. trains only that expert: its slice [e] of the fused expert tensors (`gate_up_proj`, `down_proj`) through the
   engine's 0/1 gradient masks, every other weight frozen; with `train_router` (default) also row e of that layer's
   router, the only router weight the anchor can move;
3. anchors the router: L = L_method + α·L_anchor, L_anchor = mean over forget tokens (padding excluded) of the
   cross-entropy between that layer's router logits and the target expert, so the forget tokens keep going to the
   expert being unlearned instead of being rerouted around it. Without `train_router` the anchor has no trainable
   weight to act on and is only logged.
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from obliviate.config import replace_checked
from obliviate.errors import ConfigError, ModelError
from obliviate.models import collate, encode_qa
from obliviate.models.moe import MoeBlock, moe_blocks, router_logits_of, routing
from obliviate.models.tokenizer import pad_id

from .hooks import option_fields


@dataclass(frozen=True)
class UoeOptions:
    layer: int = -1  # -1: the (layer, expert) pair with the highest mean router probability on forget tokens
    alpha: float = 1.0  # weight of the router-anchor loss
    train_router: bool = True  # also train the target expert's row of that layer's router


def parse_uoe(value) -> UoeOptions:
    """True / "" (defaults), "layer=1,alpha=0.5", a dict, or UoeOptions."""
    if isinstance(value, UoeOptions):
        return value
    if value is True or value == "":
        return UoeOptions()
    fields = option_fields(UoeOptions, value, "uoe") if isinstance(value, str) else dict(value)
    opts = replace_checked(UoeOptions(), fields, prefix="uoe.")
    if opts.alpha < 0:
        raise ConfigError(f"uoe.alpha: must be >= 0, got {opts.alpha}")
    return opts


def anchor_loss(logits: torch.Tensor, expert: int, mask: torch.Tensor) -> torch.Tensor:
    """Mean over rows where `mask` is true of CE(softmax(logits), expert); logits (N, E), mask (N,)."""
    ce = F.cross_entropy(logits.float(), torch.full((logits.shape[0],), expert, device=logits.device),
                         reduction="none")  # (N,)
    m = mask.to(ce.device, ce.dtype)
    return (ce * m).sum() / m.sum().clamp(min=1)


def attribute(model, batches: list[dict]) -> dict[int, torch.Tensor]:
    """{layer: (E,) mean router probability of each expert over the non-padding tokens of `batches`}."""
    return {layer: probs.mean(0) for layer, probs in routing(model, batches).items()}


def choose(scores: dict[int, torch.Tensor], layer: int) -> tuple[int, int]:
    """(layer, expert): the highest-scoring pair over all layers (`layer` = -1) or within `layer`."""
    if layer != -1:
        if layer not in scores:
            raise ConfigError(f"uoe.layer: must be -1 or an MoE layer of this model ({sorted(scores)}), got {layer}")
        return layer, int(scores[layer].argmax())
    best = max(scores, key=lambda k: (float(scores[k].max()), -k))
    return best, int(scores[best].argmax())


class UnlearnOneExpert:
    """The step hook (engine/hooks.py) of UOE: narrows training to one expert and adds the router anchor."""

    def __init__(self, options: UoeOptions):
        self.options = options
        self.block: MoeBlock | None = None
        self.expert = -1
        self.scores: dict[int, torch.Tensor] = {}
        self._captured: list[tuple[torch.Tensor, torch.Tensor]] = []

    def setup(self, model, tokenizer, forget: list[dict], trainable: dict, masks: dict | None):
        if hasattr(model, "disable_adapter"):
            raise ConfigError("uoe: trains one expert's slice of the fused expert tensors; run it without --lora")
        blocks = {b.layer: b for b in moe_blocks(model)}
        if not blocks:
            raise ModelError(f"uoe: {type(model).__name__} has no Mixture-of-Experts layer (no module with a router "
                             "`gate` and fused `experts` tensors); UOE needs an MoE model such as the `moe` preset")
        enc = [encode_qa(tokenizer, r["question"], r["answer"]) for r in forget]
        batches = [collate(enc[i:i + 32], pad_id(tokenizer)) for i in range(0, len(enc), 32)]
        self.scores = attribute(model, batches)
        layer, self.expert = choose(self.scores, self.options.layer)
        self.block = blocks[layer]
        wanted = list(self.block.expert_params) + ([self.block.router_weight] if self.options.train_router else [])
        missing = [n for n in wanted if n not in trainable]
        if missing:
            raise ConfigError(f"uoe: the method does not train {', '.join(missing)}; UOE trains the chosen expert's "
                              "slice of them (use a method that trains every weight)")
        for name, p in trainable.items():
            p.requires_grad_(name in wanted)
        masks = dict(masks or {})
        for name in wanted:
            one = torch.zeros_like(trainable[name], dtype=torch.float32)
            one[self.expert] = 1.0  # expert first in fused tensors; row e of the router (E, H)
            masks[name] = one * masks[name].to(one) if name in masks else one
        return {n: trainable[n] for n in wanted}, masks

    @contextlib.contextmanager
    def side(self, name: str, batch: dict):
        if name != "forget":
            yield
            return
        keep = batch["attention_mask"].reshape(-1).bool()  # router rows are (B·T) flattened, padding included
        handle = self.block.gate.register_forward_hook(
            lambda _m, _i, out: self._captured.append((router_logits_of(out), keep)))
        try:
            yield
        finally:
            handle.remove()

    def extra_loss(self):
        if not self._captured:
            return None, {}
        logits = torch.cat([c[0] for c in self._captured])
        keep = torch.cat([c[1] for c in self._captured])
        self._captured = []
        loss = anchor_loss(logits, self.expert, keep)
        return self.options.alpha * loss, {"uoe_anchor": loss.detach()}

    def describe(self) -> dict:
        return {"option": "uoe", **asdict(self.options), "chosen_layer": self.block.layer if self.block else None,
                "chosen_expert": self.expert,
                "convention": "uoe: expert = argmax over (layer, expert) of the mean router softmax probability on the "
                              "forget set's non-padding tokens; only its slice of the fused expert tensors (and its "
                              "router row if train_router) trains; anchor = CE(router logits, expert) on forget tokens",
                "scores": {str(k): [round(float(x), 6) for x in v] for k, v in self.scores.items()}}
