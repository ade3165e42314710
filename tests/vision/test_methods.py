"""Every classifier method's contract on a tiny model: finite losses, parameters move, masked weights stay put."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from obliviate.errors import ConfigError, DivergenceError, ModelError, ObliviateError
from obliviate.methods import available, build
from obliviate.vision import unlearn
from obliviate.vision.masks import magnitude_prune, saliency_mask
from obliviate.vision.methods import distill_kl, random_wrong_labels

METHODS = available("vision")

FAST = {"epochs": 2, "batch_size": 16}


# a method whose defaults select nothing on a 12-of-60 forget set gets settings that make the tiny case bite
TINY = {"ssd": {"alpha": 1.0}}


def _fast(name):
    return {f"inner.{k}": v for k, v in FAST.items()} if name == "prune_first" else {**FAST, **TINY.get(name, {})}


@pytest.mark.parametrize("name", list(METHODS))
def test_method_contract(tiny, name):
    model, forget, retain = tiny
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    new, log = unlearn(model, forget, retain, name, seed=0, **_fast(name))
    trains = bool(build(name, _fast(name), track="vision").phases(0))  # ssd edits the weights in one shot
    assert (log["steps"] > 0) == trains and all(torch.isfinite(torch.tensor(v)) for v in log["epoch_loss"])
    moved = [n for n, p in new.named_parameters() if not torch.equal(p, before[n])]
    assert moved, f"{name}: no parameter moved"
    for n, p in model.named_parameters():  # the input model is left as it was
        assert torch.equal(p, before[n])


@pytest.mark.parametrize("name", list(METHODS))
def test_method_deterministic(tiny, name):
    model, forget, retain = tiny
    a, _ = unlearn(model, forget, retain, name, seed=3, **_fast(name))
    b, _ = unlearn(model, forget, retain, name, seed=3, **_fast(name))
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_salun_masked_weights_exactly_fixed(tiny):
    """The saliency mask (recomputed here from the same forget data) frees half the weights; every other entry
    must be bit-identical after training, with a large weight decay and momentum that would otherwise move it."""
    model, forget, retain = tiny
    new, log = unlearn(model, forget, retain, "salun", seed=0, weight_decay=0.1, momentum=0.9, **FAST)
    mask = saliency_mask(copy.deepcopy(model), DataLoader(forget, batch_size=16), 0.5, torch.device("cpu"), 3)
    assert log["trainable_fraction"] == pytest.approx(0.5, abs=0.02)
    for (n, p0), p1 in zip(model.named_parameters(), new.parameters(), strict=True):
        assert torch.equal(p1[~mask[n]], p0[~mask[n]]), n
    assert any(not torch.equal(p1[mask[n]], p0[mask[n]])
               for (n, p0), p1 in zip(model.named_parameters(), new.parameters(), strict=True))


def test_prune_first_zeros_stay_zero_under_weight_decay_and_momentum(tiny):
    model, forget, retain = tiny
    new, log = unlearn(model, forget, retain, "prune_first", seed=0, sparsity=0.6, inner="rl",
                       **{"inner.weight_decay": 0.1, "inner.epochs": 2, "inner.batch_size": 16})
    weights = [p for p in new.parameters() if p.dim() >= 2]
    zeros = sum(int((p == 0).sum()) for p in weights)
    assert zeros == round(0.6 * sum(p.numel() for p in weights))
    assert log["config"]["inner"]["method"] == "rl"


def test_prune_first_with_salun_combines_masks(tiny):
    model, forget, retain = tiny
    new, log = unlearn(model, forget, retain, "prune_first", inner="salun", **{"inner.epochs": 1})
    assert log["trainable_fraction"] < 0.5


def test_magnitude_prune_exact_count():
    """Weights |w| = 1..8 in one 2×4 matrix, sparsity 0.25: the two smallest (1, 2) become 0; bias untouched."""
    lin = nn.Linear(4, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -2.0, 3.0, -4.0], [5.0, -6.0, 7.0, -8.0]]))
    mask = magnitude_prune(lin, 0.25)
    torch.testing.assert_close(lin.weight, torch.tensor([[0.0, 0.0, 3.0, -4.0], [5.0, -6.0, 7.0, -8.0]]))
    assert "bias" not in mask and int(mask["weight"].sum()) == 6


def test_random_wrong_labels_never_true():
    y = torch.arange(1000) % 5
    wrong = random_wrong_labels(y, 5, torch.Generator().manual_seed(0))
    assert (wrong != y).all() and wrong.min() >= 0 and wrong.max() <= 4
    assert set(wrong[y == 0].tolist()) == {1, 2, 3, 4}


def test_distill_kl_zero_for_equal_and_known_value():
    """Teacher = student ⇒ 0. T = 1, teacher logits (0, 0) → p = (½, ½), student logits (log 3, 0) → q = (¾, ¼):
    KL(p‖q) = ½·ln(½/¾) + ½·ln(½/¼) = ½·ln(4/3) ≈ 0.143841."""
    s = torch.tensor([[torch.log(torch.tensor(3.0)).item(), 0.0]])
    torch.testing.assert_close(distill_kl(s, s, 4.0), torch.tensor(0.0))
    torch.testing.assert_close(distill_kl(s, torch.zeros(1, 2), 1.0), 0.5 * torch.log(torch.tensor(4 / 3)))


def test_unknown_override_lists_valid_keys():
    with pytest.raises(ConfigError, match="method.learning_rate: unknown key.*valid keys: .*lr.*ratio"):
        build("salun", {"learning_rate": 0.1}, track="vision")
    with pytest.raises(ConfigError, match="'npo': unknown vision method .*'npo' is a llm method.*available: retrain"):
        build("npo", {}, track="vision")
    with pytest.raises(ConfigError, match="method.inner: must be one of"):
        build("prune_first", {"inner": "retrain"}, track="vision")
    with pytest.raises(ConfigError, match=r"method.inner\(ft\).lrr: unknown key"):
        build("prune_first", {"inner.lrr": 1}, track="vision")
    pruned = build("prune_first", {"inner": "scrub", "inner.lr": "0.5"}, track="vision")
    assert pruned.inner.lr == pruned.lr == 0.5 and pruned.needs_teacher


def test_accepts_dataloaders(tiny):
    model, forget, retain = tiny
    new, log = unlearn(model, DataLoader(forget, batch_size=4), DataLoader(retain, batch_size=8), "rl", epochs=1)
    assert log["steps"] == 3 + 6


def test_output_size_mismatch(tiny):
    model, forget, retain = tiny
    with pytest.raises(ModelError, match="output size 3 does not match the number of classes 10"):
        unlearn(model, forget, retain, "ft", num_classes=10)


def test_absurd_lr_raises_divergence_error_before_the_bad_update(tiny):
    """Ascent at lr 1e9 overflows within a few steps: the one DivergenceError of both tracks, naming the method,
    the step and the lr; the input model is untouched."""
    model, forget, retain = tiny
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(DivergenceError, match=r"ga: loss became (nan|-?inf) at step \d+ .*lower lr \(now 1000000000.0\)"):
        unlearn(model, forget, retain, "ga", lr=1e9, epochs=50)
    assert issubclass(DivergenceError, ObliviateError)
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before, strict=True))
