"""Models: presets (dense Llama, a tiny Mixtral MoE), tokenizer training, loading any HF causal LM, encoding,
scoring.

`load(name_or_path)` returns (model, tokenizer); `train_on_corpus(...)` trains a target or an oracle. Names load
on first use (torch and transformers with them), so `obliviate train --help` stays instant.
"""
from obliviate._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["IGNORE", "PROMPT_TEMPLATE", "Encoded", "collate", "encode_qa", "encode_text", "prompt_ids"],
                    ".encode"),
    **dict.fromkeys(["check_pair", "load", "save"], ".loading"),
    **dict.fromkeys(["PRESETS", "build_model", "n_params", "preset_config"], ".presets"),
    **dict.fromkeys(["ForwardOut", "forward_logprobs", "generate_ids", "greedy_generate", "logprobs_from_logits"],
                    ".scoring"),
    **dict.fromkeys(["pad_id", "train_tokenizer"], ".tokenizer"),
    **dict.fromkeys(["TrainRecipe", "exact_answer_accuracy", "train"], ".train"),
    "train_on_corpus": ".corpus",
}
__all__ = list(_EXPORTS)
lazy_exports(__name__, _EXPORTS)
