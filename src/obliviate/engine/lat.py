"""Targeted latent adversarial training (LAT): an option of a run, composable with any LLM method (ga, grad_diff, npo,
rmu, ...), that unlearns under the perturbation that best restores the forget answers.

    obliviate unlearn ... --method npo --adversary lat[:LAYER,EPS]        spec: `adversary: "lat:1,0.5"`
    spec (long form): `adversary: {kind: lat, layer: 1, eps: 0.5, steps: 8}`

Paper: Sheshadri et al., "Targeted Latent Adversarial Training Improves Robustness to Persistent Harmful Behaviors in
LLMs" (arXiv:2407.15549, 2024). Each micro-batch:
1. inner loop (the attack): δ, of the forget batch's shape (B, T, d), starts at 0 and is added to the output of
   decoder layer `layer` (the residual stream) at every non-padding position, prompt and answer (the paper's
   "prompt+completion" setting: on a 2-4 layer model a prompt-only δ barely reaches the answer logits, measured:
   it lowered the forget NLL by < 1% at ε = the median norm). `steps` projected-gradient steps *minimise* the
   forget answers' mean token NLL (restore them): δ ← δ − a·g/‖g‖ per token (a = `step_size`·ε), then each
   token's δ is projected onto the L2 ball of radius ε. The bound is per token: ‖δ[b, t]‖₂ ≤ ε at every position;
2. outer step: the method's loss runs with δ (fixed, detached) added to its forget side (and alt side, position by
   position, cut or zero-padded to its length); the retain side runs without it (the paper trains its retain term
   with the adversary off).
ε = `eps` × the median per-token L2 norm of that layer's output over the forget tokens, measured once before
training (the paper's 7B values, ε = 1.5–2 at layers 7–12, do not transfer to hidden sizes of 64–256; a relative
bound does). `layer` -1: ⌊(depth − 1)/2⌋, RMU's default. Cost: `steps` extra forward+backward passes of the forget
batch per micro-batch. Logged terms: `lat_nll_clean` (forget NLL before the attack), `lat_nll_attacked` (after).
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import torch

from obliviate.config import replace_checked
from obliviate.errors import ConfigError, ModelError
from obliviate.models import collate, encode_qa, forward_logprobs
from obliviate.models.tokenizer import pad_id

from .hooks import option_fields

KINDS = ("lat",)


@dataclass(frozen=True)
class LatOptions:
    layer: int = -1  # decoder layer whose output is perturbed; -1: (depth - 1) // 2
    eps: float = 0.5  # per-token L2 bound, as a fraction of the median per-token norm of that layer's output
    steps: int = 8  # projected-gradient steps of the inner loop
    step_size: float = 0.5  # each step moves a token's δ by step_size · ε


def parse_adversary(value) -> LatOptions:
    """"lat", "lat:LAYER,EPS", "lat:layer=1,eps=0.5,steps=4", {kind: lat, ...} or LatOptions."""
    if isinstance(value, LatOptions):
        return value
    if isinstance(value, str):
        kind, _, rest = value.partition(":")
        parts = [p.strip() for p in rest.split(",") if p.strip()]
        if parts and all("=" not in p for p in parts):
            if len(parts) > 2:
                raise ConfigError(f"adversary: {value!r}: positional form is lat:LAYER,EPS")
            fields = dict(zip(("layer", "eps"), parts, strict=False))
        else:
            fields = option_fields(LatOptions, rest, "adversary")
    elif isinstance(value, dict):
        fields = {k: v for k, v in value.items() if k != "kind"}
        kind = value.get("kind", "lat")
    else:
        raise ConfigError(f"adversary: must be a string like lat:1,0.5 or a mapping, got {value!r}")
    if kind not in KINDS:
        raise ConfigError(f"adversary: unknown kind {kind!r}; valid: {', '.join(KINDS)}")
    opts = replace_checked(LatOptions(), fields, prefix="adversary.")
    for name, ok, rule in (("eps", opts.eps > 0, "> 0"), ("steps", opts.steps >= 1, ">= 1"),
                           ("step_size", opts.step_size > 0, "> 0")):
        if not ok:
            raise ConfigError(f"adversary.{name}: must be {rule}, got {getattr(opts, name)}")
    return opts


def decoder_layers(model) -> torch.nn.ModuleList:
    """The model's list of decoder layers (Llama/Mixtral/Qwen `layers`, GPT-2 `h`)."""
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and name.rsplit(".", 1)[-1] in ("layers", "h", "blocks"):
            return module
    raise ModelError(f"adversary: {type(model).__name__} has no list of decoder layers (layers, h or blocks)")


def project(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """Each token's vector scaled onto the L2 ball of radius eps (unchanged inside it); delta (B, T, d)."""
    norm = delta.norm(dim=-1, keepdim=True)
    return delta * (eps / norm.clamp(min=eps))


def token_mask(batch: dict) -> torch.Tensor:
    """(B, T, 1) float: 1 on non-padding positions (prompt and answer), 0 on padding."""
    return (batch["attention_mask"] == 1).unsqueeze(-1).float()


@contextlib.contextmanager
def perturbed(layer: torch.nn.Module, delta: torch.Tensor):
    """Inside the block, `delta` (B, T, d) is added to `layer`'s output (cut or zero-padded to its length)."""
    def add(_module, _inputs, output):
        h = output[0] if isinstance(output, tuple) else output
        d = delta[:, :h.shape[1]].to(h.dtype)
        if d.shape[1] < h.shape[1]:
            d = torch.nn.functional.pad(d, (0, 0, 0, h.shape[1] - d.shape[1]))
        h = h + d
        return (h, *output[1:]) if isinstance(output, tuple) else h

    handle = layer.register_forward_hook(add)
    try:
        yield
    finally:
        handle.remove()


def attack(model, layer: torch.nn.Module, batch: dict, eps: float, steps: int, step_size: float):
    """(δ, NLL before, NLL after): projected gradient descent on the forget answers' mean token NLL over δ."""
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    where = token_mask(batch)
    d_model = model.config.hidden_size
    delta = torch.zeros(*batch["input_ids"].shape, d_model, device=device)
    nll = []
    for k in range(steps + 1):
        final = k == steps  # this pass only measures the NLL after the last step: no graph
        delta.requires_grad_(not final)
        with torch.set_grad_enabled(not final), perturbed(layer, delta * where):
            out = forward_logprobs(model, batch)
        loss = -(out.logp.sum() / out.mask.sum().clamp(min=1))
        nll.append(float(loss.detach()))
        if final:
            break
        (grad,) = torch.autograd.grad(loss, delta)  # δ only: the model's .grad stays untouched
        with torch.no_grad():
            unit = grad / grad.norm(dim=-1, keepdim=True).clamp(min=1e-12)
            delta = project(delta - step_size * eps * unit, eps) * where
    return (delta * where).detach(), nll[0], nll[-1]


class LatentAdversary:
    """The step hook (engine/hooks.py) of targeted LAT."""

    def __init__(self, options: LatOptions):
        self.options = options
        self.model = self.layer = self.delta = None
        self.index, self.eps, self.median_norm = -1, 0.0, 0.0
        self._terms: dict = {}

    def setup(self, model, tokenizer, forget: list[dict], trainable: dict, masks):
        layers = decoder_layers(model)
        depth = len(layers)
        self.index = (depth - 1) // 2 if self.options.layer == -1 else self.options.layer
        if not 0 <= self.index < depth:
            raise ConfigError(f"adversary.layer: must be -1 or in [0, {depth - 1}] for this {depth}-layer model, "
                              f"got {self.options.layer}")
        self.model, self.layer = model, layers[self.index]
        self.median_norm = self._median_norm(tokenizer, forget)
        self.eps = self.options.eps * self.median_norm
        return trainable, masks

    @torch.no_grad()
    def _median_norm(self, tokenizer, forget: list[dict]) -> float:
        batch = collate([encode_qa(tokenizer, r["question"], r["answer"]) for r in forget[:64]], pad_id(tokenizer))
        seen = []
        handle = self.layer.register_forward_hook(lambda _m, _i, out: seen.append(
            out[0] if isinstance(out, tuple) else out))
        try:
            forward_logprobs(self.model, batch)
        finally:
            handle.remove()
        where = token_mask(batch).squeeze(-1).bool()
        return float(seen[0].norm(dim=-1)[where.to(seen[0].device)].median())

    def before_forward(self, enc, forget_idx: list[int]) -> None:
        batch = collate([enc.forget[i] for i in forget_idx], enc.pad_id)
        o = self.options
        self.delta, clean, attacked = attack(self.model, self.layer, batch, self.eps, o.steps, o.step_size)
        self._terms = {"lat_nll_clean": torch.tensor(clean), "lat_nll_attacked": torch.tensor(attacked)}

    def side(self, name: str, batch: dict):
        if name in ("forget", "alt") and self.delta is not None:
            return perturbed(self.layer, self.delta)
        return contextlib.nullcontext()

    def extra_loss(self):
        terms, self._terms = self._terms, {}
        return None, terms

    def describe(self) -> dict:
        return {"option": "adversary", "kind": "lat", **asdict(self.options), "resolved_layer": self.index,
                "eps_abs": round(self.eps, 6), "median_norm": round(self.median_norm, 6),
                "convention": "adversary lat: delta added to the output of decoder layer resolved_layer at every "
                              "non-padding forget token, per-token L2 norm <= eps_abs = eps x median token norm of "
                              "that layer before training; PGD minimises the forget answers' mean token NLL; the "
                              "retain side runs unperturbed"}
