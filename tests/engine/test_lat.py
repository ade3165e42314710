"""Targeted LAT (engine/lat.py): the projection and the bound, the inner loop restoring the forget answers, the
option composing with ga, grad_diff, npo and rmu, and bad input."""
from __future__ import annotations

import math

import pytest
import torch

from obliviate.engine import unlearn
from obliviate.engine.hooks import build_step_hooks
from obliviate.engine.lat import LatOptions, attack, decoder_layers, parse_adversary, project, token_mask
from obliviate.errors import ConfigError

RUN = {"train.max_steps": 2, "train.batch_size": 4, "engine.progress": False}


def test_project_onto_the_per_token_ball():
    """Token (3, 4) has norm 5 → scaled to (0.6, 0.8)·eps with eps = 1; token (0.3, 0.4) (norm 0.5) is inside."""
    delta = torch.tensor([[[3.0, 4.0], [0.3, 0.4]]])
    torch.testing.assert_close(project(delta, 1.0), torch.tensor([[[0.6, 0.8], [0.3, 0.4]]]))


def test_inner_loop_stays_in_bound_and_restores_the_forget_answers(trained, tokenizer, split):
    """After ga has pushed the answers away, the attack lowers their NLL, within ε per token, never on padding."""
    from obliviate.models import collate, encode_qa

    forget, retain = split
    model, _ = unlearn(trained, tokenizer, forget, retain, "ga", {**RUN, "train.max_steps": 3})
    batch = collate([encode_qa(tokenizer, r["question"], r["answer"]) for r in forget], tokenizer.pad_token_id)
    layer = decoder_layers(model)[0]
    delta, before, after = attack(model, layer, batch, eps=8.0, steps=6, step_size=0.5)
    assert after < before - 0.05, (before, after)
    assert float(delta.norm(dim=-1).max()) <= 8.0 + 1e-4
    outside = 1 - token_mask(batch)
    assert float((delta * outside).abs().max()) == 0.0
    assert all(p.grad is None for p in model.parameters())  # the attack differentiates δ only


@pytest.mark.parametrize("method", ["ga", "grad_diff", "npo", "rmu"])
def test_lat_composes_with_method(method, trained, tokenizer, split):
    overrides = {**RUN, **({"train.lr": 1e-2} if method == "rmu" else {})}
    model, log = unlearn(trained, tokenizer, *split, method, overrides, step_hooks=build_step_hooks(adversary="lat:0,1"))
    assert log["log"] and all(math.isfinite(e["loss"]) for e in log["log"])
    assert all(e["lat_nll_attacked"] <= e["lat_nll_clean"] + 1e-6 for e in log["log"])
    desc = log["config"]["step_hooks"][0]
    assert desc["resolved_layer"] == 0 and desc["eps_abs"] == pytest.approx(desc["median_norm"])


def test_parse_adversary_forms_and_errors():
    assert parse_adversary("lat") == LatOptions()
    assert parse_adversary("lat:1,0.25") == LatOptions(layer=1, eps=0.25)
    assert parse_adversary("lat:steps=3") == LatOptions(steps=3)
    assert parse_adversary({"kind": "lat", "eps": 2}) == LatOptions(eps=2.0)
    with pytest.raises(ConfigError, match="adversary: unknown kind 'pgd'; valid: lat"):
        parse_adversary("pgd:1,0.5")
    with pytest.raises(ConfigError, match=r"adversary.eps: must be > 0, got 0.0"):
        parse_adversary("lat:1,0")
    with pytest.raises(ConfigError, match="adversary.radius: unknown key"):
        parse_adversary("lat:radius=2")


def test_lat_layer_out_of_range(trained, tokenizer, split):
    with pytest.raises(ConfigError, match=r"adversary.layer: must be -1 or in \[0, 1\] for this 2-layer model, got 7"):
        unlearn(trained, tokenizer, *split, "npo", RUN, step_hooks=build_step_hooks(adversary="lat:7,0.5"))


def test_spec_and_cli_take_the_adversary(tmp_path):
    from obliviate.cli import build_parser
    from obliviate.spec import load_spec

    base = {"model": "m", "data": "d", "method": "npo", "out": str(tmp_path)}
    assert load_spec({**base, "adversary": "lat:1,0.5"}).adversary == "lat:1,0.5"
    with pytest.raises(ConfigError, match="adversary: .*unknown kind 'sam'"):
        load_spec({**base, "adversary": "sam"})
    args = build_parser().parse_args(["unlearn", "--model", "m", "--data", "d", "--out", "o", "--adversary",
                                      "lat:1,0.5", "--uoe"])
    assert args.adversary == "lat:1,0.5" and args.uoe is True
