"""The regression track: metrics on hand-built predictions, the losses' arithmetic, every method's contract on a
tiny regressor, and the refusals (a regression target to a classifier method, a classifier to a regression one)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from obliviate.errors import DataError, ModelError
from obliviate.methods import available
from obliviate.vision import unlearn as unlearn_classifier
from obliviate.vision.regression import fit, unlearn
from obliviate.vision.regression.loop import Batch
from obliviate.vision.regression.methods.amnesiac import amnesiac_targets
from obliviate.vision.regression.methods.blindspot import blindspot_loss
from obliviate.vision.regression.methods.losses import attention, attention_transfer
from obliviate.vision.regression.metrics import mae, mia_member, reg_gap, scores

METHODS = available("regression")


@pytest.fixture
def tiny_reg():
    """(model, forget, retain): y = x·w + noise on 48 rows of 4 features, an MLP 4→8→8→1 briefly fitted."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(48, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0]) + 0.1 * torch.randn(48, generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
    model, _ = fit(model, TensorDataset(x, y), seed=0, epochs=5, batch_size=16)
    return model, TensorDataset(x[:8], y[:8]), TensorDataset(x[8:], y[8:])


def test_mae_and_scores_on_hand_built_predictions():
    """Forget: preds (1, 2) vs (0, 0) → MAE 1.5; retain (0, 0, 0, 0) vs (0, 0, 0, 1) → 0.25; test (2, 2) vs
    (0, 4) → 2. The retain losses (0, 0, 0, 1) vs test (2, 2): forget losses (1, 2) look like test → few members."""
    f = (torch.tensor([1.0, 2.0]), torch.zeros(2))
    r = (torch.zeros(4), torch.tensor([0.0, 0.0, 0.0, 1.0]))
    t = (torch.tensor([2.0, 2.0]), torch.tensor([0.0, 4.0]))
    out = scores(f, r, t)
    assert (out["MAE_forget"], out["MAE_retain"], out["MAE_test"]) == (1.5, 0.25, 2.0)
    assert 0.0 <= out["MIA_member"] <= 100.0
    with pytest.raises(DataError, match="same non-empty shape"):
        mae(torch.zeros(2), torch.zeros(3))


def test_reg_gap_known_value():
    """|Δ| = (0.1, 0.2, 0.3, 40/100) → mean 0.25."""
    a = {"MAE_forget": 0.1, "MAE_retain": 0.2, "MAE_test": 0.3, "MIA_member": 50.0}
    b = {"MAE_forget": 0.0, "MAE_retain": 0.0, "MAE_test": 0.0, "MIA_member": 10.0}
    assert reg_gap(a, b) == pytest.approx(0.25)


def test_residual_mia_fires_and_does_not():
    """Retain losses ≈ 0, test losses ≈ 1: forget losses ≈ 0 are members (fires, ~100%); ≈ 1 are not (~0%)."""
    rng = np.random.default_rng(0)
    retain, test = np.abs(rng.normal(0, 0.05, 200)), 1 + np.abs(rng.normal(0, 0.05, 200))
    assert mia_member(retain, test, np.abs(rng.normal(0, 0.05, 50))) > 95
    assert mia_member(retain, test, 1 + np.abs(rng.normal(0, 0.05, 50))) < 5


def test_attention_transfer_known_value():
    """a = (1, 0) → a² normalised (1, 0); b = (0, 2) → (0, 1): ‖(1, −1)‖² = 2 per sample, one layer → 2."""
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    torch.testing.assert_close(attention(b), torch.tensor([[0.0, 1.0]]))
    torch.testing.assert_close(attention_transfer([a], [b]), torch.tensor(2.0))
    torch.testing.assert_close(attention_transfer([a], [a]), torch.tensor(0.0))


def test_blindspot_loss_known_value():
    """Rows: retain (pred 1, y 0), forget (pred 3, proxy 1), identical activations: φ = ½,
    loss = ½·|1 − 0| + ½·(|3 − 1| + β·0) = 1.5."""
    acts = [torch.ones(2, 3)]
    batch = Batch(torch.zeros(2, 1), torch.tensor([0.0, 5.0]), torch.tensor([False, True]), torch.tensor([1.0, 3.0]),
                  acts)
    torch.testing.assert_close(blindspot_loss(batch, torch.tensor([9.0, 1.0]), acts, beta=50.0), torch.tensor(1.5))


def test_amnesiac_targets_replace_forget_rows_only():
    y = torch.arange(1000, dtype=torch.float32)
    flag = torch.arange(1000) % 2 == 0
    out = amnesiac_targets(y, flag, 3.0, 2.0, torch.Generator().manual_seed(0))
    assert torch.equal(out[~flag], y[~flag])
    assert abs(out[flag].mean().item() - 3.0) < 0.3 and abs(out[flag].std().item() - 2.0) < 0.3


@pytest.mark.parametrize("name", list(METHODS))
def test_regression_method_contract(tiny_reg, name):
    model, forget, retain = tiny_reg
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    fast = {"epochs": 2, "batch_size": 8, **({"proxy_epochs": 1} if name == "blindspot" else {})}
    new, log = unlearn(model, forget, retain, name, seed=0, **fast)
    again, _ = unlearn(model, forget, retain, name, seed=0, **fast)
    assert log["steps"] > 0 and all(math.isfinite(v) for v in log["epoch_loss"])
    assert any(not torch.equal(p, before[n]) for n, p in new.named_parameters()), f"{name}: nothing moved"
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())  # input model untouched
    assert all(torch.equal(a, b) for a, b in zip(new.parameters(), again.parameters(), strict=True))


def test_regression_target_given_to_a_classifier_method_is_refused(tiny):
    model, forget, retain = tiny
    x, y = forget.dataset.tensors
    floats = TensorDataset(x, y.float() + 0.5)
    with pytest.raises(DataError, match="float targets are a regression task"):
        unlearn_classifier(model, floats, floats, "ft", epochs=1)


def test_classifier_given_to_a_regression_method_is_refused(tiny, tiny_reg):
    model, *_ = tiny  # 3 outputs
    _, forget, retain = tiny_reg
    with pytest.raises(ModelError, match="one output, this one has 3"):
        unlearn(model, TensorDataset(forget.tensors[0][:, :4], forget.tensors[1]), retain, "ft")
    with pytest.raises(DataError, match="one number per row"):
        unlearn(tiny_reg[0], TensorDataset(torch.zeros(3, 4), torch.zeros(3, 2)), retain, "ft")
