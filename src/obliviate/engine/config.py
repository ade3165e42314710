"""The engine's typed configuration: `train.*` and `engine.*` keys, and the `method.*` hyper-parameters.

`resolve("npo", {"method.beta": "0.2", "train.epochs": "5"})` returns (RunConfig, method instance); unknown keys
are errors that list the valid ones. Defaults suit the small presets of this project (calibration.md: full
fine-tuning moves them at lr ~1e-3); the 1B–7B paper recipe is lr 1e-5, 5–10 epochs, batch 32.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from obliviate import methods
from obliviate.config import ConfigError, replace_checked


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 5  # passes over the forget set (calibration: NPO reaches the oracle in 3–6 on the small model)
    max_steps: int = 0  # > 0: stop after this many optimizer steps (overrides epochs)
    lr: float = 1e-3  # paper recipe for 7B models: 1e-5 (barely moves a 4M-parameter model)
    batch_size: int = 8  # forget examples per optimizer step, summed over processes (each paired with one retain)
    grad_accum: int = 1  # micro-batches per process per optimizer step
    weight_decay: float = 0.0
    warmup_steps: int = 0
    schedule: Literal["constant", "linear"] = "constant"
    max_grad_norm: float = 1.0  # 0: no clipping (the norm is still logged)
    seed: int = 0
    max_length: int = 512


@dataclass(frozen=True)
class EngineConfig:
    ref_cache: bool = True  # reference sequence log-probs once before training (npo, idk_dpo)
    checkpoint_every: int = 0  # optimizer steps between checkpoints (0: only at the end); needs `out`
    keep_checkpoints: int = 1  # older checkpoints are removed once a newer one is written
    eval_every: int = 0  # optimizer steps between evaluation-hook calls (0: never, unless eval_every_epochs)
    eval_every_epochs: int = 0
    retain_nll_ceiling: float = 0.0  # > 0: stop when the retain batch's mean token NLL exceeds it
    progress: bool = True  # tqdm bar (only shown on a terminal, on the main process)
    lora_merge: bool = True  # LoRA runs: save the merged model (false: save the adapter only)
    cpu: bool = False  # force CPU even when an accelerator is present
    fsdp: bool = False  # shard with FSDP2 (fully_shard) where accelerate does not: CPU process groups (sharding.py)
    fuse: Literal["auto", "always", "never"] = "auto"  # one stacked forward for forget+retain (forward.py)


@dataclass(frozen=True)
class RunConfig:
    method: str = "npo"
    train: TrainConfig = field(default_factory=TrainConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)


def resolve(method: str, overrides: dict[str, Any] | None = None):
    """Split dotted overrides into method hyper-parameters and run settings; validate both."""
    hp: dict[str, Any] = {}
    run: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        head, dot, rest = key.partition(".")
        if head == "method" and dot:
            hp[rest] = value
        elif head in ("train", "engine"):
            run[key] = value
        else:
            raise ConfigError(f"{key}: unknown key; valid keys start with method., train. or engine.")
    instance = methods.build(method, hp, track="llm")
    cfg = replace_checked(RunConfig(method=method), run)
    _check(cfg)
    return cfg, instance


def _check(cfg: RunConfig) -> None:
    t = cfg.train
    for name in ("epochs", "batch_size", "grad_accum"):
        if getattr(t, name) < 1 and not (name == "epochs" and t.max_steps > 0):
            raise ConfigError(f"train.{name}: must be >= 1, got {getattr(t, name)}")
    if t.lr < 0:
        raise ConfigError(f"train.lr: must be >= 0, got {t.lr}")
    if cfg.engine.fsdp and cfg.engine.checkpoint_every:
        raise ConfigError(f"engine.checkpoint_every: checkpoints of sharded runs are not written (engine.fsdp=true); "
                          f"set it to 0, got {cfg.engine.checkpoint_every}")
    if cfg.engine.keep_checkpoints < 1:
        raise ConfigError(f"engine.keep_checkpoints: must be >= 1, got {cfg.engine.keep_checkpoints}")
