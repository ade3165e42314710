"""Corrective unlearning: trigger and poison bookkeeping, the attack-success metric on a model that must fire and
one that must not, SSD's dampening arithmetic, and the refusals (fraction outside [0, 1], unknown forget ids)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from obliviate.errors import DataError
from obliviate.vision.corrective import add_trigger, attack_success, check_forget_ids, identify, poison, split
from obliviate.vision.data import ClassData
from obliviate.vision.methods.ssd import dampen


def _images(n=40, classes=4, seed=0) -> ClassData:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.rand(n, 1, 6, 6, generator=g) * 0.5
    return ClassData("toy", x, y, x[:20].clone(), y[:20].clone(), tuple(map(str, range(classes))))


def test_trigger_patch():
    x = torch.zeros(2, 1, 4, 4)
    t = add_trigger(x, patch=2, value=1.0)
    assert t[..., 2:, 2:].eq(1).all() and t.sum() == 8 and x.sum() == 0  # the input is not modified


def test_backdoor_bookkeeping():
    """10 items outside class 0 get the trigger and label 0; every other row is untouched; clean labels kept."""
    data = _images()
    p = poison(data, 10, "backdoor", seed=1, target=0)
    assert len(p.ids) == 10 and torch.equal(p.ids, p.ids.sort().values)
    assert (p.clean_labels != 0).all() and torch.equal(p.clean_labels, data.y_train[p.ids])
    assert (p.data.y_train[p.ids] == 0).all()
    assert (p.data.x_train[p.ids][..., -2:, -2:] == data.x_train.max()).all()
    rest = torch.ones(40, dtype=torch.bool)
    rest[p.ids] = False
    assert torch.equal(p.data.x_train[rest], data.x_train[rest])
    assert torch.equal(p.data.y_train[rest], data.y_train[rest])
    assert torch.equal(p.data.x_test, data.x_test)


def test_label_swap_bookkeeping():
    data = _images()
    p = poison(data, 6, "label_swap", seed=0, swap=(1, 2))
    assert set(p.clean_labels.tolist()) <= {1, 2}
    assert torch.equal(p.data.y_train[p.ids], 3 - p.clean_labels)  # 1 ↔ 2
    assert torch.equal(p.data.x_train, data.x_train)


def test_identify_and_split():
    p = poison(_images(), 10, "backdoor", seed=1)
    assert len(identify(p, 0.5)) == 5 and set(identify(p, 0.5).tolist()) <= set(p.ids.tolist())
    assert torch.equal(identify(p, 1.0), p.ids) and len(identify(p, 0.0)) == 0
    f, r, clean = split(p, identify(p, 0.3, seed=2))
    assert len(f) == 3 and len(r) == 37 and len(clean) == 30
    assert not set(f.tolist()) & set(r.tolist()) and not set(p.ids.tolist()) & set(clean.tolist())


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_identified_fraction_outside_unit_interval_refused(fraction):
    with pytest.raises(DataError, match=r"must be in \[0, 1\]"):
        identify(poison(_images(), 4, "backdoor"), fraction)


def test_unknown_forget_ids_refused():
    with pytest.raises(DataError, match="not in the training set.*got \\[40, -1\\]"):
        check_forget_ids(torch.tensor([3, 40, -1]), 40)
    with pytest.raises(DataError, match="names a row twice"):
        check_forget_ids(torch.tensor([3, 3]), 40)
    with pytest.raises(DataError, match="cannot poison 50 items"):
        poison(_images(), 50, "backdoor")
    with pytest.raises(DataError, match="unknown poisoning"):
        poison(_images(), 5, "blend")


def test_attack_success_fires_and_does_not():
    """A 'model' that answers the target whenever the bottom-right pixel is the trigger's: ASR 100%; one that ignores
    the trigger and answers class 1: ASR 0%."""
    p = poison(_images(), 5, "backdoor", target=0)
    bright = p.data.x_train.max()
    backdoored = lambda x: nn.functional.one_hot((x[:, 0, -1, -1] < bright).long(), 4).float()  # noqa: E731
    clean = lambda x: nn.functional.one_hot(torch.ones(len(x), dtype=torch.long), 4).float()  # noqa: E731
    assert attack_success(backdoored, p) == 100.0 and attack_success(clean, p) == 0.0


def test_ssd_dampen_known_values():
    """I_f = (10, 1), I_D = (0.5, 1), α = 10, λ = 1: only entry 0 is selected (10 > 5); it is scaled by
    min(1, 0.5/10) = 0.05: θ = (2, 3) → (0.1, 3)."""
    lin = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[2.0, 3.0]]))
    frac = dampen(lin, {"weight": torch.tensor([[10.0, 1.0]])}, {"weight": torch.tensor([[0.5, 1.0]])}, 10.0, 1.0)
    torch.testing.assert_close(lin.weight, torch.tensor([[0.1, 3.0]]))
    assert frac == 0.5
