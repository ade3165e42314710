"""Tiny diffusion fixtures: a 3-class T2I model small enough that a forward pass takes milliseconds."""
from __future__ import annotations

import pytest
import torch

CLASSES = ("zero", "one", "two")


@pytest.fixture
def tiny_t2i():
    """A random (untrained) T2I: UNet channels (8, 16) with cross-attention at both levels, text dim 8, 8×8 images."""
    from obliviate.diffusion.models import T2I, ModelConfig
    from obliviate.diffusion.prompts import PromptTokenizer

    cfg = ModelConfig(channels=(8, 16), cross_attn_levels=(True, True), head_dim=4, norm_groups=4, text_dim=8,
                      text_layers=1, text_heads=2, train_timesteps=100)
    return T2I(cfg, PromptTokenizer.build(CLASSES), CLASSES, side=8, seed=0).eval()


@pytest.fixture
def tiny_images():
    """30 images (1, 8, 8) in [-1, 1]: class k is a bright horizontal bar at row 2k+1; labels 0..2."""
    y = torch.arange(30) % 3
    x = -torch.ones(30, 1, 8, 8)
    for i, k in enumerate(y.tolist()):
        x[i, 0, 2 * k + 1] = 1.0
    return x, y
