"""The unlearning engine: `unlearn(model, tokenizer, forget, retain, method, overrides)` → (model, log).

CLI: `obliviate unlearn ...` and `obliviate methods` (engine/cli.py). Multi-process: `torchrun` or
`accelerate launch --config_file configs/accelerate/ddp.yaml -m obliviate.cli unlearn ...`.
"""
from .config import EngineConfig, RunConfig, TrainConfig, resolve
from .loop import DivergenceError, unlearn
from .lora import LoraSpec, parse_lora
from .sampler import PairingSampler

__all__ = ["DivergenceError", "EngineConfig", "LoraSpec", "PairingSampler", "RunConfig", "TrainConfig",
           "parse_lora", "resolve", "unlearn"]
