"""Models: presets built from LlamaConfig, tokenizer training, loading any HF causal LM, encoding, scoring.

`load(name_or_path)` returns (model, tokenizer); `train_on_corpus(...)` trains a target or an oracle.
"""
from .encode import IGNORE, PROMPT_TEMPLATE, Encoded, collate, encode_qa, encode_text, prompt_ids
from .io import check_pair, load, save
from .presets import PRESETS, build_model, n_params, preset_config
from .scoring import (
    ForwardOut,
    forward_logprobs,
    generate_ids,
    greedy_generate,
    logprobs_from_logits,
    token_logprobs,
)
from .tokenizer import train_tokenizer
from .train import TrainConfig, exact_answer_accuracy, train

__all__ = [
    "IGNORE", "PROMPT_TEMPLATE", "Encoded", "collate", "encode_qa", "encode_text", "prompt_ids",
    "check_pair", "load", "save", "PRESETS", "build_model", "n_params", "preset_config",
    "ForwardOut", "forward_logprobs", "generate_ids", "greedy_generate", "logprobs_from_logits", "token_logprobs",
    "train_tokenizer", "TrainConfig", "exact_answer_accuracy", "train", "train_on_corpus",
]


def train_on_corpus(*args, **kwargs):
    """See `obliviate.models.corpus.train_on_corpus` (imported lazily: it needs the data package)."""
    from .corpus import train_on_corpus as _impl

    return _impl(*args, **kwargs)
