"""Mask scores on a model small enough to check by hand (WAGLE, saliency, magnitude, random) and the global
top-fraction selection."""
from __future__ import annotations

import torch

from obliviate.masks import scores as S
from obliviate.masks.build import top_fraction


def _linear_case():
    """f(x) = w·x with w = (1, −2), loss ½(f − y)², so ∇w = (f − y)·x.
    forget: x = (1, 2), y = 0 → f = −3, g_f = −3·(1, 2) = (−3, −6)
    retain: x = (1, 0), y = 2 → f = 1,  g_r = −1·(1, 0) = (−1, 0)"""
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0]]))
    params = dict(model.named_parameters())

    def loss(x, y):
        return lambda: 0.5 * (model(torch.tensor([x])) - y).pow(2).sum()

    g_f = S.grad_mean(params, [loss([1.0, 2.0], 0.0)])
    g_r = S.grad_mean(params, [loss([1.0, 0.0], 2.0)])
    return params, g_f, g_r


def test_gradients_by_hand():
    _, g_f, g_r = _linear_case()
    torch.testing.assert_close(g_f["weight"], torch.tensor([[-3.0, -6.0]]))
    torch.testing.assert_close(g_r["weight"], torch.tensor([[-1.0, 0.0]]))


def test_wagle_scores_by_hand():
    """μ = 0.25: θ − g_r/μ = (1 + 4, −2 − 0) = (5, −2); S = |(5)(−3)|, |(−2)(−6)| = (15, 12).
    μ = 1e6 (retain term gone): S ≈ |θ·g_f| = (3, 12), SNIP's score."""
    params, g_f, g_r = _linear_case()
    torch.testing.assert_close(S.wagle_scores(params, g_f, g_r, mu=0.25)["weight"], torch.tensor([[15.0, 12.0]]))
    torch.testing.assert_close(S.wagle_scores(params, g_f, g_r, mu=1e6)["weight"], torch.tensor([[3.0, 12.0]]),
                               rtol=1e-5, atol=1e-5)


def test_wagle_and_saliency_choose_differently_here():
    """Saliency |g_f| = (3, 6) frees w2; WAGLE (μ = 0.25) frees w1, which the retain fit pushes far from 0."""
    params, g_f, g_r = _linear_case()
    assert top_fraction(S.saliency_scores(g_f), 0.5)["weight"].tolist() == [[False, True]]
    assert top_fraction(S.wagle_scores(params, g_f, g_r, mu=0.25), 0.5)["weight"].tolist() == [[True, False]]
    assert top_fraction(S.magnitude_scores(params), 0.5)["weight"].tolist() == [[False, True]]


def test_grad_mean_is_the_mean_over_batches():
    """Two batches with gradients (−3, −6) and (−1, 0): mean (−2, −3)."""
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0]]))
    params = dict(model.named_parameters())
    losses = [lambda x=x, y=y: 0.5 * (model(torch.tensor([x])) - y).pow(2).sum()
              for x, y in (([1.0, 2.0], 0.0), ([1.0, 0.0], 2.0))]
    torch.testing.assert_close(S.grad_mean(params, losses)["weight"], torch.tensor([[-2.0, -3.0]]))
    assert model.weight.grad is None  # .grad untouched


def test_random_scores_are_seeded():
    params = {"a": torch.zeros(3, 4), "b": torch.zeros(5)}
    one, again, other = S.random_scores(params, 1), S.random_scores(params, 1), S.random_scores(params, 2)
    assert all(torch.equal(one[n], again[n]) for n in params)
    assert not torch.equal(one["a"], other["a"])


def test_top_fraction_is_global_and_exact():
    scores = {"a": torch.tensor([[0.1, 0.9], [0.8, 0.7]]), "b": torch.tensor([0.2, 0.3, 0.05, 0.6])}
    chosen = top_fraction(scores, 0.5)  # 4 of 8: 0.9, 0.8, 0.7, 0.6
    assert chosen["a"].tolist() == [[False, True], [True, True]]
    assert chosen["b"].tolist() == [False, False, False, True]
    assert sum(int(m.sum()) for m in top_fraction(scores, 1.0).values()) == 8
