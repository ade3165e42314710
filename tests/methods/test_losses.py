"""Golden tests: every loss on hand-built statistics, with the arithmetic in each docstring."""
import math

import torch
from torch.testing import assert_close

from obliviate.methods import SideStats, build
from obliviate.methods.retain import kl_ref_model, retain_loss
from obliviate.methods.rmu import RMU, RMUBound


def forget_stats(**extra):
    """Two answers: log-probs (−1, −2) and (−0.5); the third / second-and-third positions are masked.
    seq_logp = (−3, −0.5); answer tokens = (2, 1); mean token NLL = 3.5 / 3."""
    logp = torch.tensor([[-1.0, -2.0, 0.0], [-0.5, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    return SideStats(logp=logp, mask=mask, **extra)


def retain_stats():
    """One answer of two tokens with log-probs (−0.2, −0.4): mean token NLL = 0.3."""
    return SideStats(logp=torch.tensor([[-0.2, -0.4]]), mask=torch.tensor([[True, True]]))


def test_side_stats_reductions():
    """seq_logp = (−1−2, −0.5) = (−3, −0.5); n_tokens = (2, 1); mean token NLL = (1+2+0.5)/3."""
    s = forget_stats()
    assert_close(s.seq_logp, torch.tensor([-3.0, -0.5]))
    assert_close(s.n_tokens, torch.tensor([2.0, 1.0]))
    assert_close(s.mean_token_nll(), torch.tensor(3.5 / 3))


def test_ga():
    """L = −γ·NLL = −3.5/3 with γ = 1 and no retain term."""
    total, terms = build("ga", track="llm").loss(forget_stats(), None)
    assert_close(total, torch.tensor(-3.5 / 3))
    assert set(terms) == {"forget"}


def test_grad_diff_nll():
    """L = −3.5/3 + 1·0.3 (retain NLL of (−0.2, −0.4) = 0.3)."""
    total, terms = build("grad_diff", track="llm").loss(forget_stats(), retain_stats())
    assert_close(total, torch.tensor(-3.5 / 3 + 0.3))
    assert_close(terms["retain"], torch.tensor(0.3))


def test_npo():
    """seq_logp = (−3, −0.5), ref = (−3, −1.5): log π/π_ref = (0, 1); β = 0.1:
    (2/β)·mean softplus(β·(0, 1)) = 20·(ln 2 + ln(1 + e^0.1))/2 = 10·(0.693147 + 0.744397) = 14.37544.
    With retain nll (α = 0.5): + 0.5·0.3."""
    f = forget_stats(ref_seq_logp=torch.tensor([-3.0, -1.5]))
    expected = 10 * (math.log(2) + math.log(1 + math.exp(0.1)))
    total, terms = build("npo", {"retain": "none"}, track="llm").loss(f, None)
    assert_close(total, torch.tensor(expected))
    total, _ = build("npo", {"alpha": 0.5}, track="llm").loss(f, retain_stats())
    assert_close(total, torch.tensor(expected + 0.15))


def test_npo_equals_its_definition():
    """(2/β)·log(1 + (π/π_ref)^β) at π/π_ref = e² and β = 0.5: 4·ln(1 + e) = 5.2530."""
    f = SideStats(logp=torch.tensor([[0.0]]), mask=torch.tensor([[True]]), ref_seq_logp=torch.tensor([-2.0]))
    total, _ = build("npo", {"beta": 0.5, "retain": "none"}, track="llm").loss(f, None)
    assert_close(total, torch.tensor(4 * math.log(1 + math.e)))


def test_simnpo():
    """avg_nll = (3/2, 0.5/1) = (1.5, 0.5); β = 2, δ = 0.5 → β·(avg − δ) = (2, 0);
    −(2/β)·mean logσ(·) = mean(softplus(−2), softplus(0)) = (0.126928 + 0.693147)/2 = 0.410038; γ = 1."""
    simnpo = build("simnpo", {"beta": 2, "delta": 0.5, "gamma": 1, "retain": "none"}, track="llm")
    total, _ = simnpo.loss(forget_stats(), None)
    assert_close(total, torch.tensor((math.log(1 + math.exp(-2)) + math.log(2)) / 2))


def test_simnpo_default_gamma_scales():
    """Same numbers with γ = 0.125 and retain nll (α = 1): 0.125·0.410038 + 0.3."""
    total, _ = build("simnpo", {"beta": 2, "delta": 0.5}, track="llm").loss(forget_stats(), retain_stats())
    assert_close(total, torch.tensor(0.125 * (math.log(1 + math.exp(-2)) + math.log(2)) / 2 + 0.3))


def test_idk_dpo():
    """True: seq (−3, −0.5) − ref (−3, −1.5) = (0, 1). IDK: seq (−1, −2) − ref (−2, −2) = (1, 0).
    margin = idk − true = (1, −1); β = 1: 2·mean(softplus(−1), softplus(1)) = 0.313262 + 1.313262 = 1.626523."""
    alt = SideStats(logp=torch.tensor([[-1.0], [-2.0]]), mask=torch.ones(2, 1, dtype=torch.bool),
                    ref_seq_logp=torch.tensor([-2.0, -2.0]))
    f = forget_stats(ref_seq_logp=torch.tensor([-3.0, -1.5]), alt=alt)
    total, _ = build("idk_dpo", {"beta": 1, "retain": "none"}, track="llm").loss(f, None)
    assert_close(total, torch.tensor(math.log(1 + math.exp(-1)) + math.log(1 + math.exp(1))))


def test_idk_answers_are_ours_and_deterministic():
    from obliviate.methods.idk_dpo import idk_answers

    m = build("idk_dpo", track="llm")
    assert len(idk_answers()) >= 10 and all(a.strip() for a in idk_answers())
    assert m.alternative_answer({}, 3) == m.alternative_answer({}, 3)
    assert len({m.alternative_answer({}, i) for i in range(50)}) > 3


def test_retain_kl_answer_tokens_only():
    """Position 0: ref logits (ln 3, 0) → p = (.75, .25); model (0, 0) → q = (.5, .5):
    KL = .75·ln 1.5 + .25·ln .5 = 0.304099 − 0.173287 = 0.130812. Position 1 is masked (logits far apart, ignored)."""
    logits = torch.tensor([[[0.0, 0.0], [5.0, -5.0]]])
    ref = torch.tensor([[[math.log(3), 0.0], [-5.0, 5.0]]])
    mask = torch.tensor([[True, False]])
    expected = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert_close(kl_ref_model(logits, ref, mask), torch.tensor(expected))
    s = SideStats(logp=torch.zeros(1, 2), mask=mask, logits=logits, ref_logits=ref)
    assert_close(retain_loss("kl", s), torch.tensor(expected))
    assert retain_loss("none", None) is None


def test_undial():
    """Ref logits (0, 0), true token 0, β = ln 3: teacher (−ln 3, 0) → softmax (1/4, 3/4).
    Model (0, 0): CE = ln 2 = 0.693147. Model (ln 3, 0) → q = (3/4, 1/4): CE = −(¼ln¾ + ¾ln¼) = 1.111641.
    Mean over the two answer positions = 0.902394."""
    logits = torch.tensor([[[0.0, 0.0], [math.log(3), 0.0]]])
    f = SideStats(logp=torch.zeros(1, 2), mask=torch.ones(1, 2, dtype=torch.bool), logits=logits,
                  ref_logits=torch.zeros(1, 2, 2), targets=torch.zeros(1, 2, dtype=torch.long))
    total, _ = build("undial", {"beta": math.log(3)}, track="llm").loss(f, None)
    ce2 = -(0.25 * math.log(0.75) + 0.75 * math.log(0.25))
    assert_close(total, torch.tensor((math.log(2) + ce2) / 2))


def test_rmu():
    """Control (3, 4). Forget hidden rows (3, 4), (0, 0), padding (9, 9): squared errors per position averaged over
    d = 2: 0 and (9 + 16)/2 = 12.5; padding excluded → L_f = 6.25. Retain (1, 1) vs ref (0, 0): L_r = 1.
    α = 2: total = 6.25 + 2·1 = 8.25."""
    bound = RMUBound(RMU(alpha=2.0), layer=0, control=torch.tensor([3.0, 4.0]))
    f = SideStats(logp=torch.zeros(1, 2), mask=torch.ones(1, 2, dtype=torch.bool),
                  hidden=torch.tensor([[[3.0, 4.0], [0.0, 0.0], [9.0, 9.0]]]), attention_mask=torch.tensor([[1, 1, 0]]))
    r = SideStats(logp=torch.zeros(1, 0), mask=torch.zeros(1, 0, dtype=torch.bool), hidden=torch.ones(1, 1, 2),
                  ref_hidden=torch.zeros(1, 1, 2), attention_mask=torch.ones(1, 1, dtype=torch.long))
    total, terms = bound.loss(f, r)
    assert_close(total, torch.tensor(8.25))
    assert_close(terms["forget"], torch.tensor(6.25))


def test_rmu_trainable_names():
    """Layer 3: down-projections of layers 1, 2, 3 train; layer 0's, attention and other MLP weights don't."""
    bound = RMUBound(RMU(), layer=3, control=torch.zeros(2))
    assert bound.trainable("model.layers.1.mlp.down_proj.weight")
    assert bound.trainable("model.layers.3.mlp.down_proj.weight")
    assert not bound.trainable("model.layers.0.mlp.down_proj.weight")
    assert not bound.trainable("model.layers.3.mlp.up_proj.weight")
    assert not bound.trainable("model.layers.3.self_attn.o_proj.weight")


def test_task_vector_finalize():
    """θ = 1, θ_ft = 2, s = 5: θ − s·(θ_ft − θ) = 1 − 5 = −4."""
    p = torch.nn.Parameter(torch.full((2,), 2.0))
    build("task_vector", track="llm").finalize([("w", p)], {"w": torch.ones(2)})
    assert_close(p.data, torch.full((2,), -4.0))
    total, _ = build("task_vector", track="llm").loss(forget_stats(), None)
    assert_close(total, torch.tensor(3.5 / 3))


def test_task_vector_finalize_lora_negates_the_product():
    """LoRA 1×1 factors A₀ = 1, B₀ = 0 (peft starts B at 0), trained to A = 2, B = 3: ΔW_ft = B·A = 6, s = 5,
    so the merged weight must move by −s·6 = −30. Negating each factor would give B' = 0 − 5·3 = −15,
    A' = 1 − 5·(2 − 1) = −4 and B'·A' = +60 (the wrong sign). Kept A = 2 and B' = −15: B'·A' = −30.
    A non-LoRA weight next to them still gets θ − s·(θ_ft − θ) = 1 − 5·(2 − 1) = −4."""
    names = ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight",
             "base_model.model.model.layers.0.self_attn.q_proj.lora_B.default.weight", "model.norm.weight")
    params = [torch.nn.Parameter(torch.tensor([[v]])) for v in (2.0, 3.0, 2.0)]
    initial = {n: torch.tensor([[v]]) for n, v in zip(names, (1.0, 0.0, 1.0), strict=True)}
    build("task_vector", track="llm").finalize(list(zip(names, params, strict=True)), initial)
    a, b, w = (p.data for p in params)
    assert_close(b @ a, torch.tensor([[-30.0]]))
    assert_close(w, torch.tensor([[-4.0]]))


def test_rmu_with_lora_is_an_error():
    """rmu trains only the MLP down-projections of layers ℓ−2..ℓ; with LoRA the engine would train the adapters
    (q_proj, v_proj of every layer) instead, so the combination is refused before any step."""
    import pytest

    from obliviate.engine import unlearn
    from obliviate.errors import ConfigError
    from obliviate.models import build_model, train_tokenizer

    tok = train_tokenizer(["Question: who?\nAnswer: Ann", "Question: where?\nAnswer: Oslo"], vocab_size=300)
    qa = [{"question": "who?", "answer": "Ann", "id": "0"}]
    with pytest.raises(ConfigError, match="without --lora"):
        unlearn(build_model("tiny", tok), tok, qa, qa, "rmu", lora="r=2,alpha=4,targets=q_proj")


def test_rmu_refuses_the_normalised_last_layer():
    """A 2-layer model: hidden_states[2] (layer 1's output) is taken after the final norm, so only layer 0 is a
    residual-stream layer RMU may steer; layer -1 resolves to (2 - 1) // 2 = 0."""
    import pytest
    from transformers import LlamaConfig, LlamaForCausalLM

    from obliviate.errors import ModelError
    from obliviate.methods.rmu import RMU

    model = LlamaForCausalLM(LlamaConfig(vocab_size=16, hidden_size=8, intermediate_size=16, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=2))
    assert RMU(layer=-1).bind(model).layer == 0
    with pytest.raises(ModelError, match="must be in \\[0, 0\\].*normalised"):
        RMU(layer=1).bind(model)
