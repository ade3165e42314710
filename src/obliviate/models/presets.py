"""Llama-architecture presets for models trained from scratch on the embedded corpus.

`tiny` (~0.2M parameters) keeps tests fast; `small` (~4M: hidden 256, 4 layers, 4 heads) is the demo's default.
"""
from __future__ import annotations

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from ..catalog import CONTEXT_TOKENS
from ..errors import ModelError
from .scoped import seeded

PRESETS: dict[str, dict] = {
    "tiny": dict(hidden_size=64, intermediate_size=176, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=2),
    "small": dict(hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=4,
                  num_key_value_heads=4),
}


def preset_config(preset: str, tokenizer: PreTrainedTokenizerBase, max_positions: int = CONTEXT_TOKENS) -> LlamaConfig:
    if preset not in PRESETS:
        raise ModelError(f"preset {preset!r}: unknown; available: {', '.join(PRESETS)}")
    return LlamaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,  # halves the parameters of a model whose vocabulary dominates its size
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        rms_norm_eps=1e-5,
        **PRESETS[preset],
    )


def build_model(preset: str, tokenizer: PreTrainedTokenizerBase, seed: int = 0) -> LlamaForCausalLM:
    """A freshly initialised model of `preset`; the same seed gives the same weights."""
    config = preset_config(preset, tokenizer)
    with seeded(seed):
        return LlamaForCausalLM(config)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
