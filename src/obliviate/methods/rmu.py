"""RMU (`rmu`): steer the residual stream of forget inputs towards a fixed random direction; keep retain's unchanged.

At layer ℓ (output of decoder layer ℓ, 0-based): L_f = MSE(h_ℓ(forget), c·u/‖u‖), u ~ U[0,1)^d drawn once per run;
L_r = MSE(h_ℓ(retain), h_ℓ^ref(retain)); total = γ·L_f + α·L_r. Only the MLP down-projection weights of layers
ℓ−2..ℓ are trained. Means run over every non-padding position (prompt and answer) and every hidden dimension.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from obliviate.errors import ModelError

from .protocol import Needs, SideNeeds, SideStats
from .registry import register

# Matches the MLP output projection of decoder layer i in Llama/Mistral/Qwen (down_proj), GPT-2 (c_proj under mlp),
# OPT (fc2) and GPT-NeoX (dense_4h_to_h); group 1 is the layer index.
_DOWN_PROJ = re.compile(r"\.(?:layers|h|blocks)\.(\d+)\.(?:mlp\.(?:down_proj|c_proj|dense_4h_to_h)|fc2)\.weight$")


def hidden_mse(hidden: Tensor, target: Tensor, attention_mask: Tensor) -> Tensor:
    """Mean over non-padding positions and hidden dims of (hidden − target)²; hidden (B, T, d), target (d,) or
    (B, T, d), attention_mask (B, T)."""
    sq = (hidden.float() - target.float()).pow(2).mean(-1)  # (B, T)
    m = attention_mask.to(sq.dtype)
    return (sq * m).sum() / m.sum().clamp(min=1)


@register("rmu", track="llm")
@dataclass(frozen=True)
class RMU:
    """Paper defaults (WMDP, Zephyr-7B, 32 layers): ℓ = 7, c = 6.5, α = 1200, lr 5e-5, 150 batches of 4.
    Ours suit the small presets (hidden 64–256, whose forget and retain QA share one template): c = 20, α = 1
    (with α = 1200 the retain term pins the weights and the forget NLL does not move). `layer = -1` picks
    ⌊(depth − 1)/2⌋: ℓ = 7 of 32 would leave no layers below ℓ on a 4-layer model, and the last entry of HF
    `hidden_states` is taken after the final norm, so the last layer is avoided."""

    layer: int = -1
    steering: float = 20.0  # c (paper: 6.5)
    alpha: float = 1.0  # paper: 1200
    gamma: float = 1.0
    seed: int = 0  # draws u

    summary: ClassVar[str] = "representation misdirection: random-direction steering of one layer's activations"
    paper: ClassVar[str] = "Li et al., 2024, The WMDP Benchmark (arXiv:2403.03218)"

    def needs(self) -> Needs:
        raise ModelError("rmu: call bind(model, seed) first; its needs depend on the model's depth")

    def loss(self, forget, retain):
        raise ModelError("rmu: call bind(model, seed) first; the control vector is drawn for the model")

    def bind(self, model, seed: int = 0) -> RMUBound:
        """Resolve the layer for `model` and draw the control vector c·u/‖u‖ (seeded by `seed` + `self.seed`)."""
        depth, width = model.config.num_hidden_layers, model.config.hidden_size
        layer = (depth - 1) // 2 if self.layer == -1 else self.layer
        # The last entry of HF's hidden_states comes after the final norm, not from the residual stream.
        if not 0 <= layer < depth - 1:
            raise ModelError(f"method.layer: must be in [0, {depth - 2}] for this {depth}-layer model (the last "
                             f"layer's output is normalised, not the residual stream), got {layer}")
        g = torch.Generator().manual_seed(seed * 7919 + self.seed)
        u = torch.rand(width, generator=g)
        return RMUBound(self, layer, self.steering * u / u.norm())


@dataclass(frozen=True)
class RMUBound:
    """RMU resolved for one model: the layer index and the control vector (d,)."""

    hp: RMU
    layer: int
    control: Tensor

    def needs(self) -> Needs:
        return Needs(
            forget=SideNeeds(hidden=True),
            retain=SideNeeds(hidden=True, ref_hidden=True),
            hidden_layer=self.layer + 1,  # hidden_states[0] is the embedding output
        )

    def trainable(self, name: str) -> bool:
        """True for the MLP down-projection weight of layers ℓ−2..ℓ."""
        m = _DOWN_PROJ.search(name)
        return bool(m) and self.layer - 2 <= int(m.group(1)) <= self.layer

    def loss(self, forget: SideStats, retain: SideStats | None):
        h_f = forget.require("hidden", "rmu")
        l_f = hidden_mse(h_f, self.control.to(h_f.device), forget.require("attention_mask", "rmu"))
        if retain is None:
            raise ValueError("rmu: needs retain stats, got None")
        l_r = hidden_mse(retain.require("hidden", "rmu"), retain.require("ref_hidden", "rmu"),
                         retain.require("attention_mask", "rmu"))
        total = self.hp.gamma * l_f + self.hp.alpha * l_r
        return total, {"forget": l_f.detach(), "retain": l_r.detach()}
