"""The embedding attack: it must lower the denoising loss of the concept's images (fires), must change nothing with
no iterations (does not fire), and counts the judge's labels as stated."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from obliviate.diffusion.attack import AttackConfig, optimise_embedding, run_attack
from obliviate.errors import ConfigError


def test_attack_lowers_the_denoising_loss(tiny_t2i, tiny_images):
    x, y = tiny_images
    c0 = tiny_t2i.encode(["a photo of a one"])[0].detach()
    cfg = AttackConfig(iters=40, lr=0.2, batch_size=30, space="conditioning")
    c, losses = optimise_embedding(tiny_t2i, x[y == 1], c0, cfg)
    assert not torch.equal(c, c0)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])  # a fixed batch size, seeded noise: the trend is clear
    assert all(p.grad is None for p in tiny_t2i.parameters())  # only the embedding was optimised


def test_token_space_attack_moves_only_the_word_and_lowers_the_loss(tiny_t2i, tiny_images):
    from obliviate.diffusion.attack import _token_condition

    x, y = tiny_images
    cond = _token_condition(tiny_t2i, "a photo of a one", 5)
    delta, losses = optimise_embedding(tiny_t2i, x[y == 1], torch.zeros(8), AttackConfig(iters=40, lr=0.3,
                                       batch_size=30), condition=cond)
    assert delta.norm() > 0 and np.mean(losses[-5:]) < np.mean(losses[:5])


def test_no_iterations_means_no_attack(tiny_t2i, tiny_images):
    x, y = tiny_images
    c0 = tiny_t2i.encode(["a photo of a one"])[0].detach()
    c, losses = optimise_embedding(tiny_t2i, x[y == 1], c0, AttackConfig(iters=0))
    assert torch.equal(c, c0) and losses == []


def test_success_counts_the_judges_concept_labels(tiny_t2i, tiny_images):
    x, y = tiny_images
    cfg = AttackConfig(iters=1, samples=4, sample_steps=2)  # token space, class word at position 5
    always = run_attack(tiny_t2i, lambda imgs: np.ones(len(imgs), int), 1, ["a photo of a one"] * 2, x[y == 1], cfg,
                        positions=[5, 5])
    assert always["attack_success"]["value"] == 1.0 and always["attack_asr"]["per_item"] == [1.0, 1.0]
    never = run_attack(tiny_t2i, lambda imgs: np.zeros(len(imgs), int), 1, ["a photo of a one"], x[y == 1], cfg)
    assert never["attack_success"]["value"] == 0.0 and never["attack_success"]["n"] == 4


def test_bad_attack_settings():
    with pytest.raises(ConfigError):
        AttackConfig(samples=0)
    with pytest.raises(ConfigError):
        AttackConfig(space="pixels")
