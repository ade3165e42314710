"""Mask forms, shapes and fractions on a tiny LM, saving and reusing a mask, and bad input (fraction outside (0, 1],
unknown kind, a saved mask of the wrong shape, a mask with LoRA)."""
from __future__ import annotations

import json

import pytest
import torch

from obliviate.errors import ConfigError
from obliviate.masks import build
from obliviate.masks.forms import MaskSpec, parse_mask
from obliviate.masks.options import prepare


def test_parse_forms():
    assert parse_mask("wagle:0.5,mu=1e-3") == MaskSpec("wagle", 0.5, {"mu": 1e-3})
    assert parse_mask("random:1,seed=3") == MaskSpec("random", 1.0, {"seed": 3})
    assert parse_mask("file:runs/x/mask.safetensors") == MaskSpec("file", path="runs/x/mask.safetensors")
    assert parse_mask("runs/x/mask.safetensors").kind == "file" and parse_mask("runs/x/mask").path == "runs/x/mask"


@pytest.mark.parametrize("bad", ["saliency:0", "saliency:1.5", "saliency:-0.1", "magnitude:abc"])
def test_fraction_outside_0_1(bad):
    with pytest.raises(ConfigError, match="FRACTION"):
        parse_mask(bad)


def test_unknown_kind_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown kind 'snip'.*wagle, saliency, magnitude, random, file"):
        parse_mask("snip:0.5")
    with pytest.raises(ConfigError, match="unknown option 'mu'; valid: none"):
        parse_mask("saliency:0.5,mu=1")
    with pytest.raises(ConfigError, match="option mu must be a float"):
        parse_mask("wagle:0.5,mu=big")


@pytest.mark.parametrize("kind", ["wagle", "saliency", "magnitude", "random"])
def test_every_kind_has_the_parameters_shapes_and_fraction(kind, tiny_model, tokenizer, qa_records):
    names = [n for n, _ in tiny_model.named_parameters()]
    before = {n: p.detach().clone() for n, p in tiny_model.named_parameters()}
    mask = build.build_mask(parse_mask(f"{kind}:0.3"), tiny_model, tokenizer, qa_records[:4], qa_records[4:], names)
    params = dict(tiny_model.named_parameters())
    assert set(mask) == set(names) and all(mask[n].shape == params[n].shape for n in names)
    assert all(mask[n].dtype == torch.bool for n in names)
    total = sum(p.numel() for p in params.values())
    assert sum(int(m.sum()) for m in mask.values()) == round(0.3 * total)
    assert all(torch.equal(before[n], params[n]) and params[n].grad is None for n in names)  # scoring moved nothing


def test_saved_mask_reloads_and_checks_shape_names_and_values(tiny_model, tmp_path):
    params = dict(tiny_model.named_parameters())
    mask = build.top_fraction(build.S.magnitude_scores(params), 0.5)
    path = build.save_mask(mask, tmp_path / "mask.safetensors")
    again = build.load_mask(path, params)
    assert all(torch.equal(mask[n], again[n]) for n in mask)
    name = "model.layers.0.mlp.down_proj.weight"
    from safetensors.torch import save_file

    save_file({name: torch.ones(3, 3)}, str(tmp_path / "shape.safetensors"))
    with pytest.raises(ConfigError, match=rf"tensor '{name}' has shape \(3, 3\), the parameter has"):
        build.load_mask(tmp_path / "shape.safetensors", params)
    save_file({"nope.weight": torch.ones(2)}, str(tmp_path / "name.safetensors"))
    with pytest.raises(ConfigError, match="'nope.weight' names no parameter"):
        build.load_mask(tmp_path / "name.safetensors", params)
    save_file({name: torch.full(params[name].shape, 0.5)}, str(tmp_path / "value.safetensors"))
    with pytest.raises(ConfigError, match="only 0 and 1"):
        build.load_mask(tmp_path / "value.safetensors", params)
    with pytest.raises(ConfigError, match="no such file"):
        build.load_mask(tmp_path / "missing.safetensors", params)


def test_prepare_saves_the_mask_and_unlearning_keeps_the_rest_fixed(tiny_model, tokenizer, qa_records, tmp_path):
    """saliency:0.2 under AdamW with weight decay 0.1: the 80 % held entries are bit-identical after unlearning; the
    saved mask, given back as file:PATH, is the same mask."""
    from obliviate.engine import unlearn

    forget, retain = qa_records[:4], qa_records[4:]
    overrides = {"engine.progress": False, "train.batch_size": 4, "train.max_steps": 3, "train.weight_decay": 0.1}
    before = {n: p.detach().clone() for n, p in tiny_model.named_parameters()}
    masks, conv = prepare(tiny_model, tokenizer, forget, retain, "grad_diff", overrides, mask="saliency:0.2",
                          out=tmp_path)
    assert "saliency scores, top 0.2" in conv["mask"] and "globally" in conv["mask"]
    model, _ = unlearn(tiny_model, tokenizer, forget, retain, "grad_diff", overrides, masks=masks)
    after = dict(model.named_parameters())
    assert all(torch.equal(after[n][~m], before[n][~m]) for n, m in masks.items())
    assert any(not torch.equal(after[n][m], before[n][m]) for n, m in masks.items() if m.any())
    again, conv2 = prepare(model, tokenizer, forget, retain, "grad_diff", overrides,
                           mask=f"file:{tmp_path / 'mask.safetensors'}")
    assert all(torch.equal(again[n], masks[n]) for n in masks) and "loaded from" in conv2["mask"]


def test_mask_is_scored_over_what_the_method_trains(tiny_model, tokenizer, qa_records):
    """rmu trains three down-projections only: the mask covers exactly those, so the engine accepts it."""
    masks, _ = prepare(tiny_model, tokenizer, qa_records[:4], qa_records[4:], "rmu", {"method.layer": 0},
                       mask="magnitude:0.5")
    assert masks and all("mlp.down_proj" in n for n in masks)


def test_mask_with_lora_is_refused(tiny_model, tokenizer, qa_records):
    with pytest.raises(ConfigError, match="without --lora"):
        prepare(tiny_model, tokenizer, qa_records[:4], qa_records[4:], "npo", {}, mask="random:0.5", lora="r=4")


def test_wagle_needs_a_retain_set(tiny_model, tokenizer, qa_records):
    with pytest.raises(ConfigError, match="needs a retain set"):
        prepare(tiny_model, tokenizer, qa_records[:4], [], "ga", {}, mask="wagle:0.5")


def test_spec_checks_mask_and_prune_forms(tmp_path):
    from obliviate.spec import load_spec

    base = {"model": "m", "data": "d", "method": "npo", "out": "o"}
    assert load_spec({**base, "mask": "wagle:0.5", "prune": "2:4"}).prune == "2:4"
    with pytest.raises(ConfigError) as e:
        load_spec({**base, "mask": "wagle:2", "prune": "3:2"})
    assert "mask: " in str(e.value) and "(0, 1]" in str(e.value) and "0 < N < M" in str(e.value)


def test_cli_unlearn_with_mask_and_prune(tiny_model, tokenizer, qa_records, tmp_path, capsys):
    from obliviate.cli import main
    from obliviate.models import save

    save(tiny_model, tokenizer, tmp_path / "target")
    data = tmp_path / "data"
    data.mkdir()
    for name, recs in (("forget.jsonl", qa_records[:4]), ("retain.jsonl", qa_records[4:])):
        (data / name).write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert main(["unlearn", "--model", str(tmp_path / "target"), "--data", str(data), "--forget", "forget.jsonl",
                 "--retain", "retain.jsonl", "--method", "npo", "--out", str(tmp_path / "run"), "--quiet",
                 "--mask", "magnitude:0.5", "--prune", "2:4", "--set", "train.max_steps=2",
                 "--set", "train.batch_size=4"]) == 0
    saved = build.load_mask(tmp_path / "run" / "mask.safetensors", dict(tiny_model.named_parameters()))
    assert "model.layers.0.self_attn.q_proj.weight" in saved
    assert main(["unlearn", "--model", "m", "--data", "d", "--out", "o", "--mask", "snip:0.5"]) == 2
    assert "unknown kind 'snip'" in capsys.readouterr().err
