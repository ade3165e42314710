"""Load and save causal LMs: our trained presets and any Hugging Face model, by hub name or local path.

`trust_remote_code` stays off unless the caller turns it on; weights are written as safetensors.
"""
from __future__ import annotations

from pathlib import Path

import torch
from huggingface_hub.utils import HFValidationError, validate_repo_id
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from ..errors import ModelError

HUB_NAME_RULE = "a hub name is NAME or OWNER/NAME of letters, digits, '-', '_' and '.'"


def check_pair(model, tokenizer: PreTrainedTokenizerBase, where: str = "model") -> None:
    """A tokenizer whose ids exceed the model's embedding table cannot belong to it."""
    n_embed = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > n_embed:
        raise ModelError(
            f"{where}: tokenizer has {len(tokenizer)} tokens but the model's embedding has {n_embed} rows; "
            "rule: the tokenizer must be the model's own (same vocabulary)"
        )


def is_hub_name(name: str) -> bool:
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def resolve_source(name_or_path: str | Path) -> str:
    """The folder (`~` expanded) or hub name to load. A missing folder is named as such, not sent to the hub: a
    name that is no hub name, or whose first folder exists here (`runs/npo` with `runs/` present), is a path."""
    src, path = str(name_or_path), Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelError(f"{src}: no config.json; rule: a model folder is what save_pretrained writes")
        return str(path)
    if path.exists():
        raise ModelError(f"model {src}: not a folder; rule: a model folder is what save_pretrained writes")
    if not is_hub_name(src):
        raise ModelError(f"model {src}: no such folder ({path.absolute()}), and not a hub name ({HUB_NAME_RULE})")
    if len(path.parts) > 1 and Path(path.parts[0]).is_dir():
        raise ModelError(f"model {src}: no such folder ({path.absolute()})")
    return src


def load(name_or_path: str | Path, trust_remote_code: bool = False, dtype: torch.dtype | None = None,
         device: str | None = None):
    """Return (model, tokenizer) for a local folder or a hub name, via the Auto classes."""
    src = resolve_source(name_or_path)
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
