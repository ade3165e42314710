"""LAF's and concept unlearning's pieces with hand-derived values: the bounded reconstruction score, the
contrastive alignment, concept attribution and removal, and the representation hook."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from obliviate.errors import DataError, ModelError
from obliviate.vision import unlearn
from obliviate.vision.embeddings import embed, head
from obliviate.vision.methods.concept import concept_attribution, concept_directions, remove_concepts
from obliviate.vision.methods.laf import VAE, alignment_loss, nmse


def test_nmse_known_values():
    """A VAE whose decoder outputs 0: e = (1, 1) → m = 1, exp(1/2); e = (0, 0) → m = 0, exp(0) = 1. Mean of the
    two rows: (e^½ + 1)/2."""
    vae = VAE(2, 1)
    with torch.no_grad():
        for p in vae.dec.parameters():
            p.zero_()
    got = nmse(vae, torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    torch.testing.assert_close(got, torch.tensor((math.exp(0.5) + 1) / 2))


def test_alignment_loss_known_value():
    """s = t = (1, 0), one forget row f = (0, 1), scale 1: logits (cos 1, cos 0) = (1, 0):
    −log(e/(e + 1)) = log(1 + e^−1) ≈ 0.313262."""
    s = torch.tensor([[1.0, 0.0]])
    got = alignment_loss(s, s, torch.tensor([[0.0, 1.0]]), 1.0)
    torch.testing.assert_close(got, torch.tensor(math.log(1 + math.exp(-1))))


def test_concept_directions_attribution_and_removal():
    """Forget rows differ from the retain mean only along axis 0 (by 2): the first direction is ±e_0; with head
    row w = (3, 1), IG = c·(w·v) = (±2)(±3) = 6. Removing e_0 zeroes column 0 of the head."""
    e_r = torch.zeros(4, 2)
    e_f = torch.tensor([[2.0, 0.0], [2.0, 0.0]])
    v = concept_directions(e_f, e_r, 1)
    torch.testing.assert_close(v.abs(), torch.tensor([[1.0], [0.0]]))
    torch.testing.assert_close(concept_attribution(e_f, e_r, v, torch.tensor([3.0, 1.0])), torch.tensor([6.0]))
    lin = nn.Linear(2, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[3.0, 1.0], [4.0, 5.0]]))
    remove_concepts(lin, v)
    torch.testing.assert_close(lin.weight, torch.tensor([[0.0, 1.0], [0.0, 5.0]]))


def test_embed_is_the_head_input():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x = torch.randn(5, 4)
    torch.testing.assert_close(embed(model, x), model[1](model[0](x)))
    assert head(model) is model[2]
    with pytest.raises(ModelError, match="no nn.Linear head"):
        head(nn.Sequential(nn.Conv2d(1, 1, 1)))


def test_laf_never_reads_forget_labels(tiny):
    """Shuffled forget labels give the same LAF model: the method is label-agnostic on the forget side."""
    model, forget, retain = tiny
    x, y = forget.dataset.tensors
    idx = forget.indices
    relabelled = torch.utils.data.TensorDataset(x[idx], (y[idx] + 1) % 3)
    same = torch.utils.data.TensorDataset(x[idx], y[idx])
    fast = {"epochs": 2, "extract_epochs": 1, "vae_epochs": 2, "batch_size": 16}
    a, _ = unlearn(model, same, retain, "laf", seed=0, **fast)
    b, _ = unlearn(model, relabelled, retain, "laf", seed=0, **fast)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_concept_keep_must_fit_candidates(tiny):
    model, forget, retain = tiny
    with pytest.raises(DataError, match="between 1 and the candidates"):
        unlearn(model, forget, retain, "concept", keep=5, candidates=2)
