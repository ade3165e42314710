"""Small classifiers for the vision/tabular track: a CNN for grey images (8×8 digits, 28×28 Fashion-MNIST) and an
MLP for tabular features. Any other torch classifier works with `unlearn`/`evaluate` too; these are the defaults.

`save_model`/`load_model` keep one of them in a folder the `obliviate vision` commands pass around: config.json (the
architecture and its shapes), model.safetensors (the weights; nothing is unpickled) and run.json (what made it:
training or unlearning, data, forget set, seed, the log with its cost), so the folder describes itself.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from obliviate._atomic import atomic_dir, atomic_write_json
from obliviate.errors import ModelError


class SmallCNN(nn.Module):
    """conv3×3(16) → ReLU → maxpool2 → conv3×3(32) → ReLU → maxpool2 → FC(C); one more pooling first when the side
    is ≥ 16. 8×8 digits: 32·2·2 = 128 features, ~6k parameters; 28×28: conv on 14×14, 32·3·3 features after
    the pools (the shared machine has 2 cores: small enough to train 30 epochs on digits in seconds).
    """

    def __init__(self, in_channels: int, side: int, num_classes: int):
        super().__init__()
        pool_first = side >= 16
        s = side // 2 if pool_first else side
        out_side = (s // 2) // 2
        self.features = nn.Sequential(
            nn.MaxPool2d(2) if pool_first else nn.Identity(),
            nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(32 * out_side * out_side, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        return self.head(self.features(x))


class MLP(nn.Module):
    """Two hidden layers of `hidden` units with ReLU, for tabular features (B, F) -> (B, num_classes)."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_model(input_shape: tuple[int, ...], num_classes: int, seed: int = 0) -> nn.Module:
    """SmallCNN for (C, H, W) square images, MLP for (F,) features; weights drawn from `seed`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if len(input_shape) == 3 and input_shape[1] == input_shape[2]:
            return SmallCNN(input_shape[0], input_shape[1], num_classes)
        if len(input_shape) == 1:
            return MLP(input_shape[0], num_classes)
    raise ModelError(f"no default model for input shape {input_shape}: expected (C, H, H) images or (F,) features")


def reinitialise(model: nn.Module, seed: int) -> nn.Module:
    """Draw fresh weights for every submodule that has `reset_parameters` (the retrain oracle starts here)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in model.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return model


def output_size(model: nn.Module, example: torch.Tensor) -> int:
    """Number of logits the model returns for one example (shape (1, num_classes) expected)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(example.unsqueeze(0).to(device))
    model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        raise ModelError(f"classifier must return logits of shape (B, num_classes), got "
                         f"{getattr(out, 'shape', type(out).__name__)}")
    return int(out.shape[1])


ARCHITECTURES = ("SmallCNN", "MLP")  # what build_model makes, hence what save_model can rebuild


def save_model(model: nn.Module, folder: str | Path, input_shape: tuple[int, ...], num_classes: int,
               run: dict[str, Any]) -> Path:
    """Write `folder` (replaced atomically): config.json, model.safetensors and run.json (`run`, JSON-ready)."""
    from safetensors.torch import save

    arch = type(model).__name__
    if arch not in ARCHITECTURES:
        raise ModelError(f"cannot save a {arch}: the vision commands rebuild only {', '.join(ARCHITECTURES)} "
                         "(save your own classifier with torch)")
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        atomic_write_json(tmp / "config.json", {"architecture": arch, "input_shape": list(input_shape),
                                                "num_classes": num_classes})
        weights = save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
        (tmp / "model.safetensors").write_bytes(weights)  # an ordinary file: the umask's permissions
        atomic_write_json(tmp / "run.json", run)
    return folder


def load_model(folder: str | Path, input_shape: tuple[int, ...], num_classes: int) -> tuple[nn.Module, dict]:
    """(model in eval mode, its run.json) from a `save_model` folder; the model must fit the data's input shape and
    class count."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise ModelError(f"{folder}: not a vision model folder (config.json and model.safetensors expected; "
                         "make one with `obliviate vision train` or `vision unlearn`)")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    saved = (tuple(config.get("input_shape", ())), config.get("num_classes"))
    if saved != (tuple(input_shape), num_classes):
        raise ModelError(f"{folder}: model made for input shape {saved[0]} and {saved[1]} classes, but the data has "
                         f"{tuple(input_shape)} and {num_classes} (rule: the same dataset as at training)")
    model = build_model(input_shape, num_classes)
    if type(model).__name__ != config.get("architecture"):
        raise ModelError(f"{folder}: architecture {config.get('architecture')!r} is not what this data builds "
                         f"({type(model).__name__})")
    try:
        model.load_state_dict(load_file(str(folder / "model.safetensors")))
    except (RuntimeError, OSError) as e:  # missing or mis-shaped tensors, or not a safetensors file
        raise ModelError(f"{folder}/model.safetensors: cannot load the weights: {str(e).splitlines()[0]}") from None
    run_file = folder / "run.json"
    run = json.loads(run_file.read_text(encoding="utf-8")) if run_file.is_file() else {}
    return model.eval(), run
