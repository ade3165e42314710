"""Diffusion erasure methods: UCE's closed form on hand-computed cases, ESD's target, and each method's contract on a
tiny random UNet (what should move moves, what should not does not, outputs stay finite)."""
from __future__ import annotations

import pytest
import torch

from obliviate.diffusion.methods import EraseTask, erase
from obliviate.diffusion.methods.esd import esd_target, selected
from obliviate.diffusion.methods.uce import token_rows, uce_solve
from obliviate.errors import ConfigError
from obliviate.methods.registry import build

TASK = EraseTask(concept="one", preserve=("zero", "two"), templates=("a photo of a {class}",))


def test_uce_closed_form_hand_computed():
    # W_old = [1, 2]; erase c_e = e1 → anchor output v* = 5; preserve c_p = e2. With λ = s_e = s_p = 1:
    # numerator λW + v* c_eᵀ + (W c_p) c_pᵀ = [1, 2] + [5, 0] + [0, 2] = [6, 4]; normal matrix λI + e1e1ᵀ + e2e2ᵀ = 2I
    # → W_new = [3, 2]: c_e goes halfway ((λ·1 + 5)/2 = 3), c_p keeps its output 2.
    w = torch.tensor([[1.0, 2.0]])
    e1, e2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    torch.testing.assert_close(uce_solve(w, e1, torch.tensor([[5.0]]), e2, lamb=1.0), torch.tensor([[3.0, 2.0]]))
    # λ → 0: the erase input maps to the anchor's output and the preserve input is unchanged
    new = uce_solve(w, e1, torch.tensor([[5.0]]), e2, lamb=1e-8)
    torch.testing.assert_close(new @ e1.T, torch.tensor([[5.0]]))
    torch.testing.assert_close(new @ e2.T, w @ e2.T)


def test_uce_on_a_tiny_unet_maps_concept_to_anchor_and_keeps_preserve(tiny_t2i):
    # 1 template, `slot` tokens: 1 erase vector and 2 preserve vectors in an 8-d space, so λ → 0 solves exactly
    new, log = erase(tiny_t2i, "uce", TASK, lamb=1e-6, tokens="slot")
    assert log["projections_edited"] == 14 and log["erase_vectors"] == 1 and log["preserve_vectors"] == 2
    tpl = list(TASK.templates)
    c_e = token_rows(tiny_t2i, TASK.concept_prompts(), tpl, "slot")
    c_a = token_rows(tiny_t2i, [""], tpl, "slot")
    c_p = token_rows(tiny_t2i, TASK.preserve_prompts(), tpl, "slot")
    old_layers = dict(tiny_t2i.unet.named_modules())
    for name, m in new.unet.named_modules():
        if name.endswith("attn2.to_k") or name.endswith("attn2.to_v"):
            w_old, w_new = old_layers[name].weight, m.weight
            torch.testing.assert_close(c_e @ w_new.T, c_a @ w_old.T, atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(c_p @ w_new.T, c_p @ w_old.T, atol=1e-4, rtol=1e-4)
    # nothing else moved: the text encoder and every non-K/V parameter are bit-identical
    old = tiny_t2i.state_dict()
    for k, v in new.state_dict().items():
        if not ("attn2.to_k" in k or "attn2.to_v" in k):
            assert torch.equal(v, old[k]), k


def test_uce_bad_settings():
    with pytest.raises(ConfigError, match="tokens"):
        build("uce", {"tokens": "all"}, track="diffusion")
    with pytest.raises(ConfigError, match="lamb"):
        build("uce", {"lamb": "0"}, track="diffusion")


def test_esd_target_known_values():
    # ε_c = 3, ε_0 = 1, η = 2: 3 − 2·(3 − 1) = −1; η = 0 gives ε_from
    e_c, e_0 = torch.full((2,), 3.0), torch.ones(2)
    torch.testing.assert_close(esd_target(e_c, e_c, e_0, 2.0), torch.full((2,), -1.0))
    torch.testing.assert_close(esd_target(e_c, e_c, e_0, 0.0), e_c)


def test_esd_parameter_sets():
    assert selected("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_q.weight", "xattn")
    assert not selected("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_q.weight", "strict")
    assert selected("mid_block.attentions.0.transformer_blocks.0.attn2.to_v.weight", "strict")
    assert not selected("time_embedding.linear_1.weight", "noxattn")
    assert not selected("conv_out.weight", "noxattn")
    assert selected("down_blocks.0.resnets.0.conv1.weight", "noxattn")
    assert not selected("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_q.weight", "noxattn")


@pytest.mark.parametrize("variant", ["xattn", "esd-u"])
def test_esd_contract_on_a_tiny_unet(tiny_t2i, variant):
    new, log = erase(tiny_t2i, "esd", TASK, variant=variant, steps=3, batch_size=4, pool=4, sample_steps=3)
    want = "xattn" if variant == "xattn" else "noxattn"
    old = tiny_t2i.state_dict()
    moved = {k for k, v in new.state_dict().items() if not torch.equal(v, old[k])}
    assert moved and all(k.startswith("unet.") and selected(k[len("unet."):], want) for k in moved)
    assert all(torch.isfinite(v).all() for v in new.state_dict().values())
    assert log["steps"] == 3 and log["changed_fraction"] > 0
    # the input model is untouched (erase works on a copy)
    assert all(p.requires_grad for p in tiny_t2i.parameters())


def test_unknown_method_lists_the_diffusion_methods():
    with pytest.raises(ConfigError, match="unknown diffusion method; available: ") as info:
        erase(None, "nope", TASK)
    assert all(name in str(info.value) for name in ("advunlearn", "doco", "esd", "memorized_subspace", "rece", "uce"))


def test_rece_adversarial_embedding_is_the_minimiser():
    from obliviate.diffusion.methods.rece import adversarial_embedding

    g = torch.Generator().manual_seed(0)
    ws = [torch.randn(5, 4, generator=g) for _ in range(3)]
    wo = [w + 0.3 * torch.randn(5, 4, generator=g) for w in ws]
    c = torch.randn(2, 4, generator=g)
    # no edit and λ_reg → 0: the concept embedding itself is the answer
    torch.testing.assert_close(adversarial_embedding(wo, wo, c, 1e-9), c, atol=1e-5, rtol=1e-5)
    lam = 0.1
    adv = adversarial_embedding(ws, wo, c, lam).double()

    def objective(x):
        return sum(((x @ w.double().T - c.double() @ o.double().T) ** 2).sum() for w, o in zip(ws, wo, strict=True)) \
            + lam * (x ** 2).sum()

    best = objective(adv)
    for _ in range(20):  # random perturbations never do better
        assert objective(adv + 1e-2 * torch.randn(adv.shape, generator=g, dtype=torch.float64)) >= best


def test_rece_contract_on_a_tiny_unet(tiny_t2i):
    new, log = erase(tiny_t2i, "rece", TASK, epochs=2)
    assert log["projections_edited"] == 14 and len(log["adversarial_residuals"]) == 2
    old = tiny_t2i.state_dict()
    moved = {k for k, v in new.state_dict().items() if not torch.equal(v, old[k])}
    assert moved and all("attn2.to_k" in k or "attn2.to_v" in k for k in moved)
    # RECE's rounds go further than UCE alone (same λ, s_e, s_p): the K/V edit is larger
    uce, _ = erase(tiny_t2i, "uce", TASK, lamb=0.1, preserve_scale=0.1)
    dist = lambda m: sum((m.state_dict()[k] - old[k]).norm() for k in moved)  # noqa: E731
    assert dist(new) > dist(uce)


def test_perturbed_tokens_changes_only_from_the_slot_on(tiny_t2i):
    from obliviate.diffusion.methods.advunlearn import perturbed_tokens

    with torch.no_grad():
        base = tiny_t2i.encode(["a photo of a one"])
        with perturbed_tokens(tiny_t2i, torch.ones(8), position=5):
            moved = tiny_t2i.encode(["a photo of a one"])
        again = tiny_t2i.encode(["a photo of a one"])
    torch.testing.assert_close(base[:, :5], moved[:, :5])  # causal encoder: positions before the slot unchanged
    assert not torch.allclose(base[:, 5:], moved[:, 5:])
    assert torch.equal(base, again)  # the hook is gone after the block


def test_advunlearn_contract_on_a_tiny_unet(tiny_t2i):
    new, log = erase(tiny_t2i, "advunlearn", TASK, steps=2, attack_steps=2, batch_size=4, pool=4, sample_steps=3)
    old = tiny_t2i.state_dict()
    moved = {k for k, v in new.state_dict().items() if not torch.equal(v, old[k])}
    # only the text encoder's transformer layers / final norm move: the UNet and the embeddings are frozen
    assert moved and all(k.startswith("text.") and "embeddings" not in k for k in moved)
    assert log["steps"] == 2 and log["delta_norm"] > 0
    assert all(torch.isfinite(v).all() for v in new.state_dict().values())


def test_doco_gradient_surgery_hand_computed():
    from obliviate.diffusion.methods.doco import preserving_gradient

    # g_u = [1, 0], g_p = [−1, 1]: cos = −1/√2, ĝ_p = [−1, 1]/√2 → g_u + (1/√2)·ĝ_p = [1, 0] + [−½, ½] = [½, ½],
    # which no longer points against g_p (its dot with ĝ_p goes from −1/√2 to 0)
    out = preserving_gradient(torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0]))
    torch.testing.assert_close(out, torch.tensor([0.5, 0.5]))
    # no conflict: unchanged
    torch.testing.assert_close(preserving_gradient(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])),
                               torch.tensor([1.0, 0.0]))


def test_doco_contract_on_a_tiny_unet(tiny_t2i):
    new, log = erase(tiny_t2i, "doco", TASK, steps=2, batch_size=4, pool=4, sample_steps=3)
    old = tiny_t2i.state_dict()
    moved = {k for k, v in new.state_dict().items() if not torch.equal(v, old[k])}
    assert moved and all(k.startswith("unet.") and "attn2" in k for k in moved)
    assert log["steps"] == 2 and all(torch.isfinite(v).all() for v in new.state_dict().values())


def test_replication_detector_flags_planted_duplicates():
    from obliviate.diffusion.methods.memorized_subspace import replication

    g = torch.Generator().manual_seed(0)
    train = torch.rand(50, 1, 8, 8, generator=g)
    planted = train[[3, 17]] + 0.01 * torch.randn(2, 1, 8, 8, generator=g)  # near-copies of two training images
    fresh = torch.rand(3, 1, 8, 8, generator=g)
    dist, hit = replication(torch.cat([planted, fresh]), train, threshold=0.5)
    assert hit.tolist() == [True, True, False, False, False]
    assert dist[:2].max() < 0.2 < dist[2:].min()


def test_wanda_mask_recovers_the_neurons_target_prompts_light_up():
    from obliviate.diffusion.methods.memorized_subspace import wanda_mask

    w = torch.ones(3, 10)
    base = torch.ones(10)
    target = torch.ones(10)
    target[[2, 7]] = 5.0  # target prompts light up inputs 2 and 7
    mask = wanda_mask(w, target, base, skill_ratio=0.2)  # top 2 of 10 per row
    assert mask.sum() == 6 and mask[:, [2, 7]].all()
    assert not wanda_mask(w, base, base, 0.2).any()  # no input beats the base: nothing is pruned


def test_memorized_subspace_contract_on_a_tiny_unet(tiny_t2i):
    new, log = erase(tiny_t2i, "memorized_subspace", TASK, skill_ratio=0.1)
    old = tiny_t2i.state_dict()
    moved = {k for k, v in new.state_dict().items() if not torch.equal(v, old[k])}
    assert all(k.endswith("ff.net.2.weight") for k in moved)
    for k in moved:
        assert (new.state_dict()[k] == 0).sum() > (old[k] == 0).sum()  # weights were zeroed, none changed otherwise
        per_row = ((new.state_dict()[k] == 0) & (old[k] != 0)).sum(1)
        assert per_row.max() <= max(1, int(0.1 * old[k].shape[1]))  # at most skill_ratio of each row
    assert moved and log["pruned_weights"] > 0 and log["pruned_fraction"] <= 0.1
