"""Checkpoints: trainable weights (safetensors), optimizer and scheduler state, RNG state, the log so far.

Each checkpoint is written under a temporary name and renamed (`atomic_dir`), so a killed run leaves only complete
checkpoints. Files: `trainable.safetensors`, `optimizer.pt` (tensors and numbers only: read with
`weights_only=True`), `rng.pt`, `state.json` (step, scheduler, config, log).
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from obliviate._atomic import atomic_dir
from obliviate.config import ConfigError

_NAME = re.compile(r"^step-(\d+)$")


def checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under `root`, oldest first."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _NAME.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def step_dir(root: Path, step: int) -> Path:
    """Where the checkpoint of optimizer step `step` is (or will be) written."""
    return root / f"step-{step:06d}"


def save(root: Path, step: int, params: dict[str, torch.Tensor], optimizer, scheduler, state: dict,
         keep: int) -> Path:
    final = step_dir(root, step)
    with atomic_dir(final) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in params.items()}, str(tmp / "trainable.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save({"torch": torch.get_rng_state()}, tmp / "rng.pt")
        state = {**state, "step": step, "scheduler": scheduler.state_dict()}
        (tmp / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
    for old in checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load(path: Path, named_params: dict[str, torch.nn.Parameter], optimizer, scheduler, config: dict) -> dict:
    """Restore everything saved by `save` into the given objects; returns state.json's content."""
    state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    if state.get("config") != config:
        raise ConfigError(f"{path}: checkpoint was written with another configuration; resume with the same "
                          f"settings (checkpoint: {state.get('config')}, now: {config})")
    weights = load_file(str(path / "trainable.safetensors"))
    missing = sorted(set(named_params) ^ set(weights))
    if missing:
        raise ConfigError(f"{path}: trainable parameters differ from this run's: {missing[:5]}")
    with torch.no_grad():
        for name, p in named_params.items():
            p.copy_(weights[name].to(p.device, p.dtype))
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(torch.load(path / "rng.pt", weights_only=True)["torch"])
    return state
