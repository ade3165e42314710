"""Small classifiers for the vision/tabular track: a CNN for grey images (8×8 digits, 28×28 Fashion-MNIST) and an
MLP for tabular features. Any other torch classifier works with `unlearn`/`evaluate` too; these are the defaults.
"""
from __future__ import annotations

import torch
from torch import nn

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
