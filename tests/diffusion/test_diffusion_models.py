"""The diffusion track's building blocks: prompts and tokenizer, the tiny T2I model, training, sampling, caching."""
from __future__ import annotations

import pytest
import torch

from obliviate.diffusion.prompts import (
    HELDOUT_TEMPLATES,
    TRAIN_TEMPLATES,
    PromptTokenizer,
    check_template,
    fill,
    find_class,
)
from obliviate.errors import ConfigError, DataError


def test_template_without_slot_is_refused():
    with pytest.raises(ConfigError, match=r"\{class\}"):
        check_template("a photo of a thing")
    with pytest.raises(ConfigError):
        PromptTokenizer.build(["0", "1"], templates=["a {class} and a {class}"])


def test_unknown_concept_lists_the_classes():
    assert find_class(("Bag", "Coat"), "coat") == 1
    with pytest.raises(DataError, match="classes: Bag, Coat"):
        find_class(("Bag", "Coat"), "hat")


def test_heldout_templates_use_only_trained_words():
    tok = PromptTokenizer.build(["3"], templates=TRAIN_TEMPLATES)
    for t in HELDOUT_TEMPLATES:
        assert tok.encode([fill(t, "3")]).ne(tok.vocab.index("[UNK]")).all(), t


def test_tokenizer_frames_pads_and_locates_the_slot():
    tok = PromptTokenizer.build(["T-shirt/top", "Bag"])
    ids = tok.encode(["a photo of a bag", ""])
    assert ids.shape == (2, tok.max_length)
    v = tok.vocab
    assert [v[i] for i in ids[0, :7]] == ["[BOS]", "a", "photo", "of", "a", "bag", "[EOS]"]
    assert [v[i] for i in ids[1, :3]] == ["[BOS]", "[EOS]", "[PAD]"]
    assert tok.slot_position("a photo of a {class}") == 5
    assert tok.slot_position("the {class} in a photo") == 2
    assert tok.slot_position("{class} here") == 1
    with pytest.raises(DataError, match="max_length"):
        tok.ids("a " * 40)


def test_t2i_shapes_and_save_load_round_trip(tiny_t2i, tmp_path):
    from obliviate.diffusion.models import cross_attention_layers, load_t2i, save_t2i

    c = tiny_t2i.encode(["a photo of a one", ""])
    assert c.shape == (2, tiny_t2i.tokenizer.max_length, 8)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([5, 50])
    assert tiny_t2i.eps(x, t, c).shape == (2, 1, 8, 8)
    assert len(cross_attention_layers(tiny_t2i.unet)) == 7  # down 2×1, mid 1, up 2×2 (layers_per_block + 1)
    save_t2i(tiny_t2i, tmp_path / "m", {"role": "test"})
    back, run = load_t2i(tmp_path / "m")
    assert run == {"role": "test"}
    with torch.no_grad():
        torch.testing.assert_close(back.eps(x, t, back.encode(["a photo of a one", ""])), tiny_t2i.eps(x, t, c))


def test_sampling_is_seeded_and_in_range(tiny_t2i):
    from obliviate.diffusion.sample import sample

    a = sample(tiny_t2i, ["a photo of a two"] * 3, steps=3, seed=1)
    b = sample(tiny_t2i, ["a photo of a two"] * 3, steps=3, seed=1)
    c = sample(tiny_t2i, ["a photo of a two"] * 3, steps=3, seed=2)
    assert a.shape == (3, 1, 8, 8) and a.abs().max() <= 1
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)


def test_training_lowers_the_loss_and_the_cache_is_hit(tiny_images, tmp_path):
    from obliviate.diffusion.models import ModelConfig
    from obliviate.diffusion.train import Recipe, trained

    x, y = tiny_images
    cfg = ModelConfig(channels=(8, 16), cross_attn_levels=(True, False), head_dim=4, norm_groups=4, text_dim=8,
                      train_timesteps=100)
    recipe = Recipe(steps=12, batch_size=8, lr=3e-3)
    logs = []
    model, run, status = trained(x, y, ("zero", "one", "two"), [0, 2], cfg, recipe, 0, tmp_path, "oracle", logs.append)
    assert status == "trained" and run["classes_trained"] == ["zero", "two"] and run["steps"] == 12
    again, run2, status2 = trained(x, y, ("zero", "one", "two"), [0, 2], cfg, recipe, 0, tmp_path, "oracle", logs.append)
    assert status2 == "cached" and run2["cache_key"] == run["cache_key"]
    _, _, other = trained(x, y, ("zero", "one", "two"), [0, 1, 2], cfg, recipe, 0, tmp_path, "target", logs.append)
    assert other == "trained"  # another class subset is another key
