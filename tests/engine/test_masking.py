"""Masked weights stay exactly fixed under AdamW with weight decay and momentum (`engine.masking.HeldMask`), in
isolation and through the engine loop; unmasked weights still move."""
from __future__ import annotations

import torch

from obliviate.engine import unlearn
from obliviate.engine.masking import HeldMask


def _steps(model, mask, n=6):
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, betas=(0.9, 0.999), weight_decay=0.1)
    held = HeldMask(mask, dict(model.named_parameters()))
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    for _ in range(n):
        model(x).pow(2).sum().backward()
        held.zero_grads()
        opt.step()
        held.restore(opt)
        opt.zero_grad()
    return opt


def test_held_entries_exact_under_adamw_decay_and_momentum():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    before = model.weight.detach().clone()
    keep = torch.tensor([[True, False, True], [False, False, True]])
    opt = _steps(model, {"weight": keep})
    after = model.weight.detach()
    assert torch.equal(after[~keep], before[~keep])
    assert (after[keep] != before[keep]).all()
    state = opt.state[model.weight]
    assert (state["exp_avg"][~keep] == 0).all() and (state["exp_avg_sq"][~keep] == 0).all()


def test_grad_multiplication_alone_would_move_them():
    """The bug this guards against: a zero gradient still moves a weight under AdamW's decoupled decay."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    before = model.weight.detach().clone()
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.1)
    model(torch.ones(1, 3)).sum().backward()
    model.weight.grad.zero_()
    opt.step()
    assert not torch.equal(model.weight.detach(), before)


def test_float_mask_and_sgd_momentum():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    before = model.weight.detach().clone()
    keep = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    held = HeldMask({"weight": keep}, dict(model.named_parameters()))
    for _ in range(4):
        model(torch.ones(2, 3)).pow(2).sum().backward()
        held.zero_grads()
        opt.step()
        held.restore(opt)
        opt.zero_grad()
    fixed = keep == 0
    assert torch.equal(model.weight.detach()[fixed], before[fixed])
    assert (opt.state[model.weight]["momentum_buffer"][fixed] == 0).all()


def test_engine_holds_masked_weights_under_weight_decay(trained, tokenizer, split):
    name = "model.layers.0.mlp.down_proj.weight"
    w = dict(trained.named_parameters())[name]
    mask = torch.zeros_like(w)
    mask[:, ::2] = 1
    before = w.detach().clone()
    overrides = {"engine.progress": False, "train.batch_size": 4, "train.max_steps": 4, "train.weight_decay": 0.1}
    model, _ = unlearn(trained, tokenizer, *split, "npo", overrides, masks={name: mask})
    after = dict(model.named_parameters())[name].detach()
    assert torch.equal(after[:, 1::2], before[:, 1::2])
    assert not torch.equal(after[:, ::2], before[:, ::2])
