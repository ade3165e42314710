"""Engine behaviour: reference cache parity, resume, divergence guard, LoRA, gradient masks, outputs, bad input."""
from __future__ import annotations

import json

import pytest
import torch

from obliviate.config import ConfigError
from obliviate.engine import DivergenceError, PairingSampler, unlearn
from obliviate.errors import DataError, ModelError

QUIET = {"engine.progress": False, "train.batch_size": 4}


def test_reference_cache_parity(trained, tokenizer, split, trained_state):
    """5 npo steps with the cached reference and with a reference pass every step: same loss at every step."""
    _, cached = unlearn(trained, tokenizer, *split, "npo", {**QUIET, "train.max_steps": 5})
    trained.load_state_dict(trained_state)
    _, live = unlearn(trained, tokenizer, *split, "npo", {**QUIET, "train.max_steps": 5, "engine.ref_cache": False})
    a = torch.tensor([e["loss"] for e in cached["log"]])
    b = torch.tensor([e["loss"] for e in live["log"]])
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_no_reference_copy_for_reference_free_methods(trained, tokenizer, split, monkeypatch):
    from obliviate.engine import loop

    def forbidden(*a, **k):
        raise AssertionError("a reference was built")

    monkeypatch.setattr(loop, "Reference", forbidden)
    for method in ("ga", "grad_diff", "simnpo", "npo"):  # npo: the cache is computed with the model itself
        unlearn(trained, tokenizer, *split, method, {**QUIET, "train.max_steps": 1})


def test_resume_equals_uninterrupted(trained, tokenizer, split, trained_state, tmp_path):
    """Kill during step 4 (the hook raises; the step-3 checkpoint exists), resume, compare with a straight run."""
    run = {**QUIET, "train.max_steps": 6, "engine.checkpoint_every": 3, "engine.eval_every": 1}
    state = dict(trained_state)

    def killer(model, step, epoch):
        if step == 4:
            raise KeyboardInterrupt
        return {}

    with pytest.raises(KeyboardInterrupt):
        unlearn(trained, tokenizer, *split, "npo", run, out=tmp_path / "a", eval_hook=killer)
    assert (tmp_path / "a/checkpoints/step-000003/state.json").exists()
    trained.load_state_dict(state)  # the user reloads the original model and passes --resume
    resumed, log_a = unlearn(trained, tokenizer, *split, "npo", run, out=tmp_path / "a", resume=True,
                             eval_hook=lambda m, s, e: {})
    resumed_weights = {k: v.clone() for k, v in resumed.state_dict().items()}
    trained.load_state_dict(state)
    straight, log_b = unlearn(trained, tokenizer, *split, "npo", run, out=tmp_path / "b", eval_hook=lambda m, s, e: {})
    assert [e["loss"] for e in log_a["log"]] == [e["loss"] for e in log_b["log"]]
    for k, v in straight.state_dict().items():
        torch.testing.assert_close(resumed_weights[k], v, atol=0, rtol=0)


def test_divergence_guard_stops_with_step_and_keeps_checkpoint(trained, tokenizer, split, tmp_path):
    run = {**QUIET, "train.max_steps": 6, "engine.checkpoint_every": 1, "engine.retain_nll_ceiling": 0.6,
           "train.lr": 0.05}
    with pytest.raises(DivergenceError, match=r"step \d+: retain NLL .* above engine.retain_nll_ceiling=0.6.*"
                                              r"last good checkpoint: .*step-0000\d\d"):
        unlearn(trained, tokenizer, *split, "ga", run, out=tmp_path)
    assert list((tmp_path / "checkpoints").iterdir())


def test_divergence_guard_non_finite(trained, tokenizer, split):
    with torch.no_grad():
        trained.model.embed_tokens.weight[5] = float("nan")
    with pytest.raises(DivergenceError, match=r"step 1: loss is nan .*no checkpoint was written"):
        unlearn(trained, tokenizer, *split, "ga", {**QUIET, "train.max_steps": 2})


def test_outputs_run_json_and_model(trained, tokenizer, split, tmp_path):
    from transformers import AutoModelForCausalLM

    model, log = unlearn(trained, tokenizer, *split, "grad_diff", {**QUIET, "train.max_steps": 2,
                         "engine.eval_every": 1}, out=tmp_path)
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["config"]["method"] == "grad_diff" and run["config"]["train"]["max_steps"] == 2
    entry = run["log"][0]
    assert {"step", "loss", "forget", "retain", "lr", "grad_norm", "tokens", "seconds"} <= set(entry)
    assert set(run["totals"]) == {"wall_time_s", "steps", "tokens", "peak_memory_mb"} and run["totals"]["steps"] == 2
    assert set(run["curve"][0]["metrics"]) == {"forget_nll", "retain_nll"}
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "model")
    for (n, p), (_, q) in zip(model.named_parameters(), loaded.named_parameters(), strict=True):
        torch.testing.assert_close(p, q, msg=n)


def test_gradient_mask_freezes_masked_entries(trained, tokenizer, split):
    name = "model.layers.0.mlp.down_proj.weight"
    w = dict(trained.named_parameters())[name]
    mask = torch.zeros_like(w)
    mask[0] = 1
    before = w.detach().clone()
    model, _ = unlearn(trained, tokenizer, *split, "ga", {**QUIET, "train.max_steps": 2}, masks={name: mask})
    after = dict(model.named_parameters())[name].detach()
    assert torch.equal(after[1:], before[1:]) and not torch.equal(after[0], before[0])


def test_lora_reference_is_the_base_and_merges(trained, tokenizer, split, trained_state):
    model, log = unlearn(trained, tokenizer, *split, "npo", {**QUIET, "train.max_steps": 3,
                         "engine.ref_cache": False}, lora="r=4,alpha=8,targets=q_proj,v_proj")
    assert log["config"]["lora"]["targets"] == ["q_proj", "v_proj"]
    changed = {n for n, p in model.state_dict().items() if not torch.equal(p, trained_state[n])}
    assert changed and all("q_proj" in n or "v_proj" in n for n in changed)


def test_sampler_is_rank_aware_and_world_size_free():
    """Two ranks draw disjoint retain examples; their micro-batches are those of one process with accumulation 2."""
    one = PairingSampler(10, 30, batch_size=4, seed=1, world_size=1, rank=0, grad_accum=2)
    r0 = PairingSampler(10, 30, batch_size=4, seed=1, world_size=2, rank=0)
    r1 = PairingSampler(10, 30, batch_size=4, seed=1, world_size=2, rank=1)
    for step in range(6):
        a, b = r0.local_batches(step)[0], r1.local_batches(step)[0]
        assert not set(a[1]) & set(b[1])
        assert one.local_batches(step) == [a, b]
    assert PairingSampler(10, 30, 4, seed=2).global_batch(0) != one.global_batch(0)
    with pytest.raises(ConfigError, match="divisible"):
        PairingSampler(10, 30, batch_size=3, world_size=2)


def test_keyword_overrides(trained, tokenizer, split):
    _, log = unlearn(trained, tokenizer, *split, "npo", method__beta=0.3, train__max_steps=1, train__batch_size=4,
                     engine__progress=False)
    assert log["config"]["hyper_parameters"]["beta"] == 0.3 and log["totals"]["steps"] == 1
    with pytest.raises(ConfigError, match="unexpected keyword 'beta'"):
        unlearn(trained, tokenizer, *split, "npo", beta=0.3)


def test_bad_inputs(trained, tokenizer, split):
    with pytest.raises(ConfigError, match="available: ga, grad_diff"):
        unlearn(trained, tokenizer, *split, "npoo")
    with pytest.raises(ConfigError, match="valid keys: alpha, beta, gamma, retain"):
        unlearn(trained, tokenizer, *split, "npo", {"method.bta": 1})
    with pytest.raises(ConfigError, match="valid keys: .*epochs.*lr"):
        unlearn(trained, tokenizer, *split, "npo", {"train.epoch": 1})
    with pytest.raises(ModelError, match="module names: .*down_proj.*q_proj"):
        unlearn(trained, tokenizer, *split, "npo", QUIET, lora="r=4,targets=query")
    with pytest.raises(DataError, match="forget set is empty"):
        unlearn(trained, tokenizer, [], split[1], "npo", QUIET)
    with pytest.raises(DataError, match="'answer'.*non-empty"):
        unlearn(trained, tokenizer, [{"question": "q?", "answer": ""}], split[1], "npo", QUIET)


def test_tokenizer_that_does_not_match_the_model(tokenizer, split):
    from obliviate.models import build_model, train_tokenizer

    smaller = train_tokenizer(["Question: Answer: a b c"], vocab_size=280)
    small = build_model("tiny", smaller, seed=0)
    assert len(tokenizer) > len(smaller)
    with pytest.raises(ModelError, match="embedding"):
        unlearn(small, tokenizer, *split, "npo", QUIET)


def test_unlearn_leaves_the_callers_rng_alone_and_ignores_it(trained, tokenizer, split, trained_state):
    """unlearn() seeds torch's RNG for the run only (LoRA init and its dropout draw from it): the caller's state is
    the same after, and the caller's state before does not change the result."""
    weights = []
    for caller_seed in (1, 2):
        trained.load_state_dict(trained_state)
        torch.manual_seed(caller_seed)
        before = torch.get_rng_state()
        model, _ = unlearn(trained, tokenizer, *split, "ga", {**QUIET, "train.max_steps": 2},
                           lora="r=4,alpha=8,dropout=0.3,targets=q_proj,v_proj")
        assert torch.equal(torch.get_rng_state(), before)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(*weights)
