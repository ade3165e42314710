"""Tokenizer, encoding, collation, presets, save/load and a short honest learning test."""
from __future__ import annotations

import json

import pytest
import torch

from obliviate.errors import ModelError
from obliviate.models import (
    IGNORE,
    build_model,
    collate,
    encode_qa,
    encode_text,
    forward_logprobs,
    greedy_generate,
    load,
    n_params,
    prompt_ids,
    save,
    train_tokenizer,
)


def test_tokenizer_round_trip_and_special_tokens(tokenizer):
    text = "Ada Vale3 was born in Pune."
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert len({tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id}) == 3


def test_tokenizer_is_deterministic_and_order_free():
    texts = ["alpha beta gamma", "beta gamma delta", "gamma delta alpha"] * 3
    a = train_tokenizer(texts, vocab_size=300)
    b = train_tokenizer(list(reversed(texts)), vocab_size=300)
    assert a.get_vocab() == b.get_vocab()


def test_encode_qa_labels_only_answer_and_eos(tokenizer):
    e = encode_qa(tokenizer, "Where was Ada Vale1 born?", "Ada Vale1 was born in Lima.")
    n_prompt = len(prompt_ids(tokenizer, "Where was Ada Vale1 born?"))
    assert e.input_ids[0] == tokenizer.bos_token_id and e.input_ids[-1] == tokenizer.eos_token_id
    assert e.labels[:n_prompt] == [IGNORE] * n_prompt
    assert e.labels[n_prompt:] == e.input_ids[n_prompt:]
    assert tokenizer.decode(e.input_ids[n_prompt:-1]).strip() == "Ada Vale1 was born in Lima."


def test_eos_inside_prompt_stays_unmasked(tokenizer):
    """A real EOS id in the prompt must keep attention 1: masks come from lengths, not from id comparisons."""
    eos = tokenizer.eos_token_id
    short = encode_text(tokenizer, "Ada")
    long = encode_qa(tokenizer, "Where was Ada Vale2 born?" + tokenizer.eos_token, "Ada Vale2 was born in Pune.")
    assert eos in long.input_ids[:-1]
    batch = collate([long, short], pad_id=tokenizer.pad_token_id)
    assert batch["attention_mask"][0].tolist() == [1] * len(long)
    assert batch["attention_mask"][1].sum() == len(short)
    assert batch["labels"][1, len(short):].eq(IGNORE).all()
    left = collate([long, short], pad_id=tokenizer.pad_token_id, side="left")
    assert left["attention_mask"][1, -len(short):].eq(1).all() and left["input_ids"][1, -1] == eos


def test_presets_sizes(tokenizer):
    assert n_params(build_model("tiny", tokenizer)) < 1_000_000
    big = train_tokenizer([f"word{i} thing{i}" for i in range(3000)], vocab_size=2048)
    assert 3_000_000 < n_params(build_model("small", big)) < 5_000_000
    with pytest.raises(ModelError, match="unknown; available: tiny, small"):
        build_model("huge", tokenizer)


def test_same_seed_same_weights(tokenizer):
    a, b = build_model("tiny", tokenizer, seed=3), build_model("tiny", tokenizer, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


def test_save_load_identical_logits(tmp_path, tokenizer, tiny_model):
    save(tiny_model, tokenizer, tmp_path)
    model2, tok2 = load(tmp_path)
    assert any(p.suffix == ".safetensors" for p in tmp_path.iterdir())
    batch = collate([encode_qa(tokenizer, "Where was Ada Vale1 born?", "In Lima.")], tokenizer.pad_token_id)
    with torch.no_grad():
        torch.testing.assert_close(tiny_model(**{k: batch[k] for k in ("input_ids", "attention_mask")}).logits,
                                   model2(**{k: batch[k] for k in ("input_ids", "attention_mask")}).logits)
    assert tok2.pad_token_id == tokenizer.pad_token_id
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "llama"


def test_load_rejects_folder_without_config_and_mismatched_tokenizer(tmp_path, tokenizer, tiny_model):
    with pytest.raises(ModelError, match="no config.json"):
        load(tmp_path)
    save(tiny_model, tokenizer, tmp_path)
    bigger = train_tokenizer([f"w{i} v{i}" for i in range(2000)], vocab_size=1000)
    bigger.save_pretrained(tmp_path)
    with pytest.raises(ModelError, match="tokenizer has .* tokens but the model's embedding has"):
        load(tmp_path)


@pytest.mark.parametrize("name, hub_too", [
    ("{tmp}/absent", True),  # absolute: never a hub name
    ("./absent", True),
    ("~/obliviate-no-such-model", True),
    ("not a name", True),
    ("runs/absent", False),  # a valid hub name, but runs/ is here: a path with a typo
])
def test_a_missing_model_folder_says_so(tmp_path, monkeypatch, name, hub_too):
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    name = name.format(tmp=tmp_path)
    with pytest.raises(ModelError) as err:
        load(name)
    message = str(err.value)
    assert message.startswith(f"model {name}: no such folder (") and "Repo id" not in message
    assert message.endswith("and not a hub name (a hub name is NAME or OWNER/NAME of letters, digits, '-', '_' "
                            "and '.')") == hub_too


def test_hub_names_and_files_are_told_apart(tmp_path, monkeypatch):
    from obliviate.models.loading import resolve_source

    monkeypatch.chdir(tmp_path)
    assert resolve_source("owner/model-1.5") == "owner/model-1.5"  # no folder owner/ here: left to the hub
    (tmp_path / "weights.safetensors").write_bytes(b"")
    with pytest.raises(ModelError, match="model weights.safetensors: not a folder"):
        load("weights.safetensors")


def test_forward_logprobs_match_manual(tokenizer, tiny_model):
    """logp[b, t] is log softmax(logits[b, t])[labels[b, t+1]] and zero off the answer."""
    batch = collate([encode_qa(tokenizer, "What does Ada Vale1 do?", "Ada Vale1 works as a judge."),
                     encode_qa(tokenizer, "Q?", "A.")], tokenizer.pad_token_id)
    out = forward_logprobs(tiny_model, batch, return_logits=True)
    logits = tiny_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    b, t = 0, out.mask[0].nonzero()[0].item()
    expected = torch.log_softmax(logits[b, t], -1)[batch["labels"][b, t + 1]]
    torch.testing.assert_close(out.logp[b, t], expected)
    assert out.logp[~out.mask].eq(0).all()
    assert out.mask.sum(1).tolist() == [(batch["labels"][i] != IGNORE).sum().item() for i in range(2)]


def test_batched_generation_equals_one_by_one(tokenizer, tiny_model):
    prompts = [prompt_ids(tokenizer, q) for q in ("Where was Ada Vale1 born?", "Q?", "What does Ada Vale7 do?")]
    batched = greedy_generate(tiny_model, tokenizer, prompts, max_new_tokens=6, batch_size=3)
    single = [greedy_generate(tiny_model, tokenizer, [p], max_new_tokens=6)[0] for p in prompts]
    assert batched == single


def test_eval_mode_restores_the_callers_mode_even_on_error(tiny_model):
    from obliviate.models.scoped import eval_mode

    for training in (True, False):
        tiny_model.train(training)
        with eval_mode(tiny_model):
            assert not tiny_model.training and not any(m.training for m in tiny_model.modules())
        assert tiny_model.training is training
    tiny_model.train()
    with pytest.raises(KeyboardInterrupt), eval_mode(tiny_model):
        raise KeyboardInterrupt
    assert tiny_model.training


def test_seeded_draws_the_same_and_leaves_the_callers_rng_alone():
    from obliviate.models.scoped import seeded

    torch.manual_seed(123)
    before = torch.get_rng_state()
    with seeded(7):
        a = torch.rand(3)
    with seeded(7):
        b = torch.rand(3)
    assert torch.equal(a, b) and torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(7)
    assert torch.equal(torch.rand(3), a)  # the same stream as seeding the process, without the side effect


def test_pad_id_is_the_pad_token_else_eos(tokenizer):
    from types import SimpleNamespace

    from obliviate.models import pad_id

    assert pad_id(tokenizer) == tokenizer.pad_token_id != tokenizer.eos_token_id
    assert pad_id(SimpleNamespace(pad_token_id=None, eos_token_id=7)) == 7
    assert pad_id(SimpleNamespace(pad_token_id=0, eos_token_id=7)) == 0  # id 0 is a pad id, not "none"
