"""The fused path (forget, alt and retain stacked into one forward; the reference's sides into one reference
forward) gives the plain path's losses, gradients and weights, to float rounding."""
from __future__ import annotations

import pytest
import torch

from obliviate.engine import unlearn
from obliviate.engine.forward import stacked_forward
from obliviate.models import encode_qa, forward_logprobs

RUN = {"train.max_steps": 3, "train.batch_size": 4, "engine.progress": False}
CASES = {  # one method per kind of side: retain nll, cached and live reference, alt answers, logits, hidden states
    "grad_diff": {},
    "npo": {},
    "npo_live": {"engine.ref_cache": False},
    "idk_dpo": {},
    "undial": {"method.retain": "kl"},
    "rmu": {"train.lr": 1e-2},
    "ga_guarded": {"engine.retain_nll_ceiling": 100.0},
}


def test_stacked_forward_cuts_back_to_each_groups_rows_and_width(tiny_model, tokenizer, qa_records):
    """Groups of different widths: the stacked pass, cut back, equals each group's own pass."""
    short = [encode_qa(tokenizer, "Who?", "Ada.")] * 2
    long = [encode_qa(tokenizer, r["question"], r["answer"]) for r in qa_records[:3]]
    assert len(short[0]) < len(long[0])

    def fn(b):
        return forward_logprobs(tiny_model.eval(), b, return_logits=True, output_hidden_states=True)

    with torch.no_grad():
        plain = stacked_forward(fn, [short, long], tokenizer.pad_token_id, fuse="never")
        fused = stacked_forward(fn, [short, long], tokenizer.pad_token_id, fuse="always")
    for (pb, po), (fb, fo) in zip(plain, fused, strict=True):
        assert torch.equal(pb["input_ids"], fb["input_ids"])
        torch.testing.assert_close(fo.logp, po.logp, atol=1e-5, rtol=1e-5)
        assert torch.equal(fo.mask, po.mask)
        torch.testing.assert_close(fo.logits, po.logits, atol=1e-5, rtol=1e-5)
        for h_f, h_p in zip(fo.hidden_states, po.hidden_states, strict=True):
            torch.testing.assert_close(h_f, h_p, atol=1e-5, rtol=1e-5)


def test_auto_does_not_stack_when_it_would_pad_much(tiny_model, tokenizer):
    calls = []
    short = [encode_qa(tokenizer, "Who?", "Ada.")] * 4
    long = [encode_qa(tokenizer, "Where was Ada Vale1 born and where does she live now?", "In Oslo, " * 8)] * 4
    stacked_forward(lambda b: calls.append(b["input_ids"].shape) or forward_logprobs(tiny_model, b),
                    [short, long], tokenizer.pad_token_id, fuse="auto")
    assert len(calls) == 2
    calls.clear()
    stacked_forward(lambda b: calls.append(b["input_ids"].shape) or forward_logprobs(tiny_model, b),
                    [long, long], tokenizer.pad_token_id, fuse="auto")
    assert len(calls) == 1


def test_only_a_collective_forward_asks_the_other_processes(tiny_model, tokenizer, monkeypatch):
    """`auto` agrees with the other processes (an all-reduce) for the model's own forward, not for a reference
    copy that runs on this process alone (agree=False): a spy on `everywhere` counts the agreements."""
    import obliviate.engine.forward as fw

    asked = []
    monkeypatch.setattr(fw, "everywhere", lambda flag: asked.append(flag) or flag)
    group = [encode_qa(tokenizer, "Who?", "Ada.")] * 2
    fn = lambda b: forward_logprobs(tiny_model, b)  # noqa: E731
    stacked_forward(fn, [group, group], tokenizer.pad_token_id, fuse="auto")
    assert asked == [True]
    stacked_forward(fn, [group, group], tokenizer.pad_token_id, fuse="auto", agree=False)
    assert asked == [True]
    assert fw.in_lockstep(tiny_model) is False  # a plain local model: micro_batch passes agree=False for its copy


@pytest.mark.parametrize("case", CASES)
def test_fused_losses_equal_plain(case, trained, tokenizer, split, trained_state):
    method = case.split("_live")[0].split("_guarded")[0]
    runs = {}
    for fuse in ("never", "always"):
        trained.load_state_dict(trained_state)
        model, log = unlearn(trained, tokenizer, *split, method, {**RUN, **CASES[case], "engine.fuse": fuse})
        runs[fuse] = (log["log"], {k: v.clone() for k, v in model.state_dict().items()})
    (plain, w_plain), (fused, w_fused) = runs["never"], runs["always"]
    for key in ("loss", "forget", "retain", "retain_nll", "grad_norm", "tokens"):
        if key in plain[0]:
            torch.testing.assert_close(torch.tensor([e[key] for e in fused]), torch.tensor([e[key] for e in plain]),
                                       atol=1e-4, rtol=1e-4, msg=f"{case}: {key}")
    for k, v in w_plain.items():
        torch.testing.assert_close(w_fused[k], v, atol=1e-4, rtol=1e-4)
