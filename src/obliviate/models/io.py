"""Load and save causal LMs: our trained presets and any Hugging Face model, by hub name or local path.

`trust_remote_code` stays off unless the caller turns it on; weights are written as safetensors.
"""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from ..errors import ModelError


def check_pair(model, tokenizer: PreTrainedTokenizerBase, where: str = "model") -> None:
    """A tokenizer whose ids exceed the model's embedding table cannot belong to it."""
    n_embed = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > n_embed:
        raise ModelError(
            f"{where}: tokenizer has {len(tokenizer)} tokens but the model's embedding has {n_embed} rows; "
            "rule: the tokenizer must be the model's own (same vocabulary)"
        )


def load(name_or_path: str | Path, trust_remote_code: bool = False, dtype: torch.dtype | None = None,
         device: str | None = None):
    """Return (model, tokenizer) for a local folder or a hub name, via the Auto classes."""
    src = str(name_or_path)
    if Path(src).is_dir() and not (Path(src) / "config.json").exists():
        raise ModelError(f"{src}: no config.json; rule: a model folder is what save_pretrained writes")
    try:
        tokenizer = AutoTokenizer.from_pretrained(src, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(src, trust_remote_code=trust_remote_code, dtype=dtype)
    except OSError as e:
        raise ModelError(f"{src}: cannot load model or tokenizer ({e}); pass a local folder or a reachable hub "
                         "name") from None
    if tokenizer.pad_token is None:
        # Masks come from lengths, so reusing EOS as the pad id never hides a real EOS.
        tokenizer.pad_token = tokenizer.eos_token
    check_pair(model, tokenizer, src)
    if device:
        model.to(device)
    model.eval()
    return model, tokenizer


def save(model, tokenizer: PreTrainedTokenizerBase, out: str | Path) -> None:
    """Write weights (safetensors) and tokenizer to an existing folder."""
    model.save_pretrained(str(out))  # safetensors is the only format in transformers 5
    tokenizer.save_pretrained(str(out))
