"""Quantization round trip: weights land on the int8 / NF4 grids within their step, the copy is what runs, the
original is untouched, and int8 stays much closer to full precision than int4."""
from __future__ import annotations

import pytest
import torch

from obliviate.audit.quantize import NF4_BLOCK, quantized, round_trip, targets


def test_round_trip_error_is_within_one_step():
    """int8 row-wise absmax: |w − q(w)| ≤ absmax_row / 127 / 2 (+ float slack). NF4: the widest gap between
    neighbouring NF4 levels is −1 to −0.6962 ≈ 0.304 of the block's absmax, so the error is at most half of it."""
    torch.manual_seed(0)
    w = torch.randn(64, 176) * 0.02  # rows of 176: not a multiple of the 64-weight NF4 block
    q8 = round_trip(w, 8)
    assert q8.shape == w.shape
    assert ((q8 - w).abs() <= w.abs().amax(1, keepdim=True) / 127 / 2 + 1e-6).all()
    q4 = round_trip(w, 4)
    blocks, qb = w.flatten().reshape(-1, NF4_BLOCK), q4.flatten().reshape(-1, NF4_BLOCK)
    assert ((qb - blocks).abs() <= blocks.abs().amax(1, keepdim=True) * 0.153 + 1e-6).all()
    assert q4.unique().numel() > 16  # per-block scales: not one global 16-level grid
    assert round_trip(q4, 4).allclose(q4, atol=1e-6)  # already on the grid: quantizing again changes nothing
    with pytest.raises(ValueError, match="8 or 4"):
        round_trip(w, 2)


def test_quantized_copy(tiny_model):
    """Every decoder linear layer is quantized on the copy, embeddings and the tied head are not, the original
    keeps its weights, and int8 logits are closer to full precision than int4 logits."""
    x = torch.randint(3, 300, (2, 12))
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    with torch.no_grad():
        ref = tiny_model(x).logits
        q8, q4 = quantized(tiny_model, 8), quantized(tiny_model, 4)
        err8, err4 = (q8(x).logits - ref).abs().max(), (q4(x).logits - ref).abs().max()
    names = targets(tiny_model)
    assert len(names) == 2 * 7  # 2 layers x (q, k, v, o, gate, up, down)
    for name in names:
        w = dict(q4.named_modules())[name].weight
        assert torch.equal(w, round_trip(dict(tiny_model.named_modules())[name].weight, 4))
    assert torch.equal(q4.get_input_embeddings().weight, tiny_model.get_input_embeddings().weight)
    for k, v in tiny_model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert 0 < err8 < err4
