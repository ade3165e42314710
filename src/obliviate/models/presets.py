"""Presets for models trained from scratch on the embedded corpus: dense Llama and a tiny Mixture-of-Experts.

`tiny` (~0.2M parameters) keeps tests fast; `small` (~4M: hidden 256, 4 layers, 4 heads) is the demo's default.
`moe` (~0.2M) is a Mixtral-style sparse model: 2 layers of hidden 64 whose MLP is 4 experts, 2 chosen per token
by a softmax router (`MixtralForCausalLM`, fused expert tensors `mlp.experts.gate_up_proj` (E, 2I, H) and
`mlp.experts.down_proj` (E, H, I), router `mlp.gate.weight` (E, H)). Why Mixtral and not Qwen2-MoE or OLMoE:
Mixtral has no shared expert (Qwen2-MoE's always-on shared expert would hold much of what a tiny model knows, so
"unlearn one expert" would leave the main store untouched) and no QK-norm (OLMoE), so it differs from the dense
`tiny` preset only in the MLP; its router aux loss (load balancing, `router_aux_loss_coef`) is what the trainer
adds when a config has `output_router_logits`. Build one with `build_model("moe", tokenizer)`.
"""
from __future__ import annotations

import torch
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    MixtralConfig,
    MixtralForCausalLM,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from ..catalog import CONTEXT_TOKENS
from ..errors import ModelError
from .scoped import seeded

PRESETS: dict[str, dict] = {
    "tiny": dict(hidden_size=64, intermediate_size=176, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=2),
    "small": dict(hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=4,
                  num_key_value_heads=4),
    # 4 experts of half tiny's MLP width, 2 per token: the active MLP per token matches `tiny`'s.
    "moe": dict(hidden_size=64, intermediate_size=88, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2, router_aux_loss_coef=0.01,
                router_jitter_noise=0.0),
}
# preset → (config class, model class); presets not listed are dense Llama.
ARCHITECTURES: dict[str, tuple[type[PretrainedConfig], type[PreTrainedModel]]] = {
    "moe": (MixtralConfig, MixtralForCausalLM),
}


def preset_config(preset: str, tokenizer: PreTrainedTokenizerBase, max_positions: int = CONTEXT_TOKENS):
    if preset not in PRESETS:
        raise ModelError(f"preset {preset!r}: unknown; available: {', '.join(PRESETS)}")
    config_cls, _ = ARCHITECTURES.get(preset, (LlamaConfig, LlamaForCausalLM))
    return config_cls(
        vocab_size=len(tokenizer),
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,  # halves the parameters of a model whose vocabulary dominates its size
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        rms_norm_eps=1e-5,
        **PRESETS[preset],
    )


def build_model(preset: str, tokenizer: PreTrainedTokenizerBase, seed: int = 0) -> PreTrainedModel:
    """A freshly initialised model of `preset`; the same seed gives the same weights."""
    config = preset_config(preset, tokenizer)
    _, model_cls = ARCHITECTURES.get(preset, (LlamaConfig, LlamaForCausalLM))
    with seeded(seed):
        return model_cls(config)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
