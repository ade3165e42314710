"""The unlearning engine: `unlearn(model, tokenizer, forget, retain, method, overrides)` → (model, log).

CLI: `obliviate unlearn ...` and `obliviate methods` (engine/cli.py). Multi-process: `torchrun` or
`accelerate launch --config_file configs/accelerate/ddp.yaml -m obliviate.cli unlearn ...`. Names load on first
use, so the command line parses without importing torch.
"""
from obliviate._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["EngineConfig", "RunConfig", "TrainConfig", "resolve"], ".config"),
    **dict.fromkeys(["DivergenceError", "unlearn"], ".loop"),
    **dict.fromkeys(["LoraSpec", "parse_lora"], ".lora"),
    "PairingSampler": ".sampler",
}
__all__ = sorted(_EXPORTS)
lazy_exports(__name__, _EXPORTS)
