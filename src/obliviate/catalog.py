"""What the command line can say without importing torch: each method's name, track, summary, paper and
hyper-parameters (default and meaning), and the context length of the preset models.

`obliviate methods` (every track) and `obliviate vision methods` print from here (`listing`, `table`).
tests/test_catalog.py checks every entry against the registered dataclasses (names in listing order, summary, paper,
field names and defaults), so an entry cannot drift from its method: change a method, and that test fails until this
file says the same.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Positions of the preset models (models/presets.py builds them with this many): `obliviate data check` warns about
# items longer than this unless given another context.
CONTEXT_TOKENS = 512


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    help: str


@dataclass(frozen=True)
class MethodInfo:
    name: str
    track: str  # "llm", "vision" or "diffusion" (obliviate.methods.registry.TRACKS)
    summary: str
    paper: str | None
    params: tuple[Param, ...]

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def describe(self) -> dict[str, Any]:
        """What `obliviate methods --json` prints for one method."""
        return {"name": self.name, "track": self.track, "summary": self.summary, "paper": self.paper,
                "defaults": self.defaults(), "help": {p.name: p.help for p in self.params}}


# --------------------------------------------------------------------------- LLM track (obliviate.methods)

def _forget(gamma: float = 1.0) -> Param:
    return Param("gamma", gamma, "weight γ of the forget term")


def _alpha(alpha: float) -> Param:
    return Param("alpha", alpha, "weight α of the retain term")


def _retain(kind: str) -> Param:
    return Param("retain", kind, "retain term: nll (NLL of the retain answers), kl (KL(ref ‖ model) on their "
                                 "tokens) or none")


LLM = (
    MethodInfo("ga", "llm", "gradient ascent on the forget answers' NLL", "TOFU (Maini et al., 2024)",
               (_forget(), _alpha(0.0), _retain("none"))),
    MethodInfo("grad_diff", "llm", "gradient ascent on forget plus a retain term (NLL or KL)",
               "TOFU (Maini et al., 2024)", (_forget(), _alpha(1.0), _retain("nll"))),
    MethodInfo("idk_dpo", "llm", "DPO preferring a refusal over the true answer on the forget set",
               "Maini et al., 2024 (TOFU); Rafailov et al., 2023 (DPO)",
               (Param("beta", 0.1, "DPO inverse temperature β"), _forget(), _alpha(1.0), _retain("nll"),
                Param("seed", 0, "which shipped refusal each forget example gets"))),
    MethodInfo("npo", "llm", "negative preference optimization: a bounded ascent relative to the reference",
               "Zhang et al., 2024, Negative Preference Optimization (arXiv:2404.05868)",
               (Param("beta", 0.1, "NPO inverse temperature β"), _forget(), _alpha(1.0), _retain("nll"))),
    MethodInfo("rmu", "llm", "representation misdirection: random-direction steering of one layer's activations",
               "Li et al., 2024, The WMDP Benchmark (arXiv:2403.03218)",
               (Param("layer", -1, "decoder layer ℓ steered (0-based); -1 picks ⌊(depth − 1)/2⌋"),
                Param("steering", 20.0, "norm c of the random control vector"),
                Param("alpha", 1.0, "weight α of the retain term (activations kept at the reference's)"),
                _forget(), Param("seed", 0, "draws the random direction u"))),
    MethodInfo("simnpo", "llm", "reference-free NPO on length-normalised NLL",
               "Fan et al., 2024, Simplicity Prevails: SimNPO (arXiv:2410.07163)",
               (Param("beta", 4.5, "inverse temperature β"), _forget(0.125), _alpha(1.0),
                Param("delta", 0.0, "margin δ subtracted from the length-normalised NLL"),
                _retain("nll"))),
    MethodInfo("task_vector", "llm", "negate the task vector of a forget-set fine-tune: θ − s·(θ_ft − θ)",
               "Ilharco et al., 2023, Editing Models with Task Arithmetic (arXiv:2212.04089); MUSE",
               (Param("scale", 5.0, "s in θ − s·(θ_ft − θ)"),)),
    MethodInfo("undial", "llm", "self-distillation onto the reference with the true token's logit lowered by β",
               "Dong et al., 2024, UNDIAL (arXiv:2402.10052)",
               (Param("beta", 10.0, "how far the true token's teacher logit is lowered"), _forget(),
                _alpha(0.0), _retain("none"))),
)


# --------------------------------------------------------------------------- vision track (obliviate.vision.methods)

def _sgd(*extra: Param, lr: float = 0.01, epochs: int = 10, schedule: str = "constant") -> tuple[Param, ...]:
    """The SGD settings every classifier method carries as its first fields, then the method's own fields."""
    return (Param("lr", lr, "SGD learning rate"), Param("epochs", epochs, "passes over the splits the method walks"),
            Param("batch_size", 64, "batch size"), Param("momentum", 0.9, "SGD momentum"),
            Param("weight_decay", 5e-4, "SGD weight decay"),
            Param("schedule", schedule, "constant lr, or cosine decay to 0 over all steps"), *extra)


_JIA = "Jia et al., 2023, Model Sparsity Can Simplify Machine Unlearning (arXiv:2304.04934)"
_FT = MethodInfo("ft", "vision", "fine-tune on retain: catastrophic forgetting",
                 "Warnecke et al., 2023, Machine Unlearning of Features and Labels (arXiv:2108.11577)", _sgd())

VISION = (
    MethodInfo("retrain", "vision", "train from scratch on retain only (the oracle)",
               "exact unlearning by retraining; Cao & Yang, 2015, Towards Making Systems Forget with Machine "
               "Unlearning (IEEE S&P)", _sgd(lr=0.05, epochs=30, schedule="cosine")),
    _FT,
    MethodInfo("ga", "vision", "gradient ascent on the forget set",
               "Thudi et al., 2022, Unrolling SGD: Understanding Factors Influencing Machine Unlearning "
               "(arXiv:2109.13398)", _sgd(epochs=5)),
    MethodInfo("rl", "vision", "relabel the forget set with random wrong labels, then a retain pass, every epoch",
               "Graves et al., 2021, Amnesiac Machine Learning (arXiv:2010.10981)", _sgd()),
    MethodInfo("l1_sparse", "vision", "fine-tune on retain with an L1 penalty decaying linearly to 0", _JIA,
               _sgd(Param("alpha", 5e-3, "L1 weight α at the start (decays linearly to 0)"))),
    MethodInfo("salun", "vision", "random labels with only the most forget-salient half of the weights trainable",
               "Fan et al., 2024, SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency "
               "(arXiv:2310.12508)",
               _sgd(Param("ratio", 0.5, "fraction of the weights (most forget-salient) that may move"), lr=0.013)),
    MethodInfo("scrub", "vision", "teacher-student: push away from the original on forget, stay close on retain",
               "Kurmanji et al., 2023, Towards Unbounded Machine Unlearning (arXiv:2302.09880)",
               _sgd(Param("max_epochs", 3, "first epochs that also push away from the teacher on forget"),
                    Param("gamma", 0.99, "weight of cross-entropy on retain"),
                    Param("alpha", 1e-3, "weight of KL to the teacher on retain"),
                    Param("temperature", 4.0, "distillation temperature T"), lr=5e-3, epochs=5)),
    MethodInfo("prune_first", "vision",
               "global magnitude pruning, then any other method with the pruning mask kept fixed", _JIA,
               (Param("sparsity", 0.5, "fraction of all weights pruned to 0 (global L1 magnitude)"),
                Param("inner", {"method": "ft", **_FT.defaults()},
                      "the method run after pruning, with its SGD settings (a name; its keys as inner.KEY)"))),
    MethodInfo("ssd", "vision", "dampen the weights far more important to the forget set than to all data (Fisher)",
               "Foster et al., 2024, Fast Machine Unlearning Without Retraining Through Selective Synaptic Dampening "
               "(AAAI; arXiv:2308.07707)",
               (Param("lr", 0.0, "unused (no training step)"), Param("epochs", 0, "unused (no training step)"),
                Param("batch_size", 64, "batch size of the importance passes"), Param("momentum", 0.0, "unused"),
                Param("weight_decay", 0.0, "unused"), Param("schedule", "constant", "unused"),
                Param("alpha", 10.0, "selection: dampen where forget importance > alpha x full-data importance"),
                Param("lam", 1.0, "dampening: theta x min(1, lam x full importance / forget importance)"))),
    MethodInfo("laf", "vision", "label-agnostic: VAEs on representations, push forget off-manifold, align retain",
               "Shen et al., 2024, Label-Agnostic Forgetting: A Supervision-Free Unlearning in Deep Models (ICLR; "
               "arXiv:2404.00506)",
               _sgd(Param("extract_epochs", 3, "first epochs of the extraction stage (the rest align)"),
                    Param("vae_epochs", 10, "epochs fitting each VAE to the original's representations"),
                    Param("latent", 8, "VAE latent size"),
                    Param("scale", 5.0, "cosine multiplier of the contrastive alignment (the paper's TEMP)"),
                    epochs=6)),
    MethodInfo("concept", "vision",
               "remove the forget class's top concept directions from the head, then poisoned labels",
               "Chang et al., 2024, Class Machine Unlearning for Complex Data via Concepts Inference and Data "
               "Poisoning (arXiv:2405.15662); closest documented variant",
               _sgd(Param("candidates", 8, "concept candidates: top singular directions of the forget class"),
                    Param("keep", 2, "concepts removed: those with the largest Integrated-Gradients attribution"),
                    epochs=2)),
)


# --------------------------------------------------------------------------- regression track
# (obliviate.vision.regression.methods)

def _adam(*extra: Param, lr: float = 1e-3, epochs: int = 10) -> tuple[Param, ...]:
    """The Adam settings every regression method carries as its first fields, then the method's own fields."""
    return (Param("lr", lr, "Adam learning rate"), Param("epochs", epochs, "passes over the splits the method walks"),
            Param("batch_size", 32, "batch size"), Param("weight_decay", 0.0, "Adam weight decay"), *extra)


_TARUN = "Tarun et al., 2023, Deep Regression Unlearning (ICML; arXiv:2210.08196)"
REGRESSION = (
    MethodInfo("retrain", "regression", "regression: train from scratch on retain only (the oracle)",
               VISION[0].paper, _adam(epochs=150)),
    MethodInfo("ft", "regression", "regression: fine-tune on retain (L1)", _FT.paper, _adam()),
    MethodInfo("ga", "regression", "regression: gradient ascent on the forget rows' L1 error", VISION[2].paper,
               _adam(epochs=3)),
    MethodInfo("amnesiac", "regression", "regression: forget targets replaced by Gaussian draws, fine-tune on all "
               "data", _TARUN, _adam(epochs=15)),
    MethodInfo("blindspot", "regression", "regression: fit forget rows to a retain-only proxy's outputs and "
               "attention maps", _TARUN,
               _adam(Param("proxy_epochs", 20, "epochs of the retain-only proxy (the 'blindspot' model)"),
                     Param("beta", 50.0, "weight of the attention-transfer term on forget rows"), epochs=15)),
)


# --------------------------------------------------------------------------- diffusion track (obliviate.diffusion.methods)

DIFFUSION = (
    MethodInfo("esd", "diffusion", "fine-tune the UNet towards the frozen model's negatively guided noise for the "
               "concept (ESD-x / ESD-u)", "Gandikota et al., 2023, Erasing Concepts from Diffusion Models (ICCV)",
               (Param("variant", "xattn", "parameters trained: xattn (ESD-x), noxattn (ESD-u), strict (attn2 K/V); "
                                          "esd-x / esd-u / esd-x-strict accepted"),
                Param("negative_guidance", 1.0, "η: how far past the unconditional noise the target points"),
                Param("steps", 60, "Adam steps"), Param("lr", 1e-3, "Adam learning rate"),
                Param("batch_size", 16, "states per step"),
                Param("pool", 16, "trajectories of the frozen model's concept generations the states come from"),
                Param("sample_steps", 20, "DDIM steps of those trajectories"),
                Param("start_guidance", 3.0, "CFG scale of those trajectories"))),
    MethodInfo("advunlearn", "diffusion", "adversarial training of the text encoder against erasure-breaking "
               "words, with a utility regulariser",
               "Zhang et al., 2024, Defensive Unlearning with Adversarial Training for Robust Concept Erasure in "
               "Diffusion Models (NeurIPS)",
               (Param("steps", 40, "defence (text-encoder) Adam steps"), Param("lr", 1e-3, "defence learning rate"),
                Param("negative_guidance", 1.0, "η of the ESD target"),
                Param("retain_weight", 0.3, "γ: weight of the utility regulariser on preserve prompts"),
                Param("attack_every", 1, "run the attack every this many steps"),
                Param("attack_steps", 5, "Adam steps of each attack on the class word's embedding"),
                Param("attack_lr", 0.05, "attack learning rate"), Param("batch_size", 16, "states per step"),
                Param("pool", 16, "trajectories of the frozen model's concept generations the states come from"),
                Param("sample_steps", 20, "DDIM steps of those trajectories"),
                Param("start_guidance", 3.0, "CFG scale of those trajectories"))),
    MethodInfo("doco", "diffusion", "adversarial domain correction of the concept towards an anchor, with "
               "concept-preserving gradients",
               "Wu et al., 2025, Unlearning Concepts in Diffusion Model via Concept Domain Correction and Concept "
               "Preserving Gradient (AAAI)",
               (Param("steps", 40, "Adam steps on the cross-attention parameters"), Param("lr", 1e-3, "learning rate"),
                Param("disc_lr", 1e-3, "discriminator learning rate"),
                Param("prior_weight", 1.0, "weight of the prior-preservation MSE on preserve prompts"),
                Param("surgery", 1.0, "λ of the concept-preserving gradient surgery"),
                Param("batch_size", 16, "states per step"),
                Param("pool", 16, "trajectories of the frozen model's concept generations the states come from"),
                Param("sample_steps", 20, "DDIM steps of those trajectories"),
                Param("start_guidance", 3.0, "CFG scale of those trajectories"))),
    MethodInfo("memorized_subspace", "diffusion", "prune the feed-forward neurons that memorised (or concept) "
               "prompts activate more than others (Wanda)",
               "Chavhan et al., 2024, Memorized Images in Diffusion Models share a Subspace that can be Located and "
               "Deleted; pruning as in their ConceptPrune code",
               (Param("skill_ratio", 0.02, "share of each FFN output row's inputs considered (top by target score)"),
                Param("timesteps", (999, 750, 500), "noise levels at which the FFN input activations are recorded"))),
    MethodInfo("uce", "diffusion", "closed-form edit of cross-attention key/value projections: concept → anchor, "
               "preserve set kept", "Gandikota et al., 2024, Unified Concept Editing in Diffusion Models (WACV)",
               (Param("lamb", 0.5, "λ: weight of staying close to the old projection"),
                Param("erase_scale", 1.0, "s_e: weight of the erase (concept → anchor) terms"),
                Param("preserve_scale", 1.0, "s_p: weight of keeping the other classes' outputs"),
                Param("tokens", "tail", "positions edited: tail (class word to the end) or slot (class word only)"),
                Param("with_to_k", True, "edit to_k as well as to_v"))),
    MethodInfo("rece", "diffusion", "UCE, then erase in closed form the embeddings that still regenerate the "
               "concept (adversarial rounds)",
               "Gong et al., 2024, Reliable and Efficient Concept Erasure of Text-to-Image Diffusion Models (ECCV)",
               (Param("epochs", 2, "adversarial rounds after the UCE edit"),
                Param("lam_reg", 0.1, "λ_reg: ridge weight of the adversarial embedding's closed form"),
                Param("lamb", 0.1, "λ: weight of staying close to the current projection"),
                Param("erase_scale", 1.0, "s_e: weight of the erase terms"),
                Param("preserve_scale", 0.1, "s_p: weight of keeping the other classes' outputs"),
                Param("tokens", "tail", "positions edited: tail (class word to the end) or slot (class word only)"),
                Param("with_to_k", True, "edit to_k as well as to_v"))),
)

METHODS: dict[str, dict[str, MethodInfo]] = {"llm": {m.name: m for m in LLM}, "vision": {m.name: m for m in VISION},
                                             "regression": {m.name: m for m in REGRESSION},
                                             "diffusion": {m.name: m for m in DIFFUSION}}


def listing(track: str | None = None) -> list[dict[str, Any]]:
    """`describe()` of every method of `track` (every track when None), tracks in order, methods in listing order."""
    tracks = [track] if track else list(METHODS)
    return [info.describe() for t in tracks for info in METHODS[t].values()]


def table(rows: list[dict[str, Any]]) -> str:
    """The text listing: per method its name, track and summary, its paper, then one line per hyper-parameter."""
    lines = []
    for r in rows:
        lines += [f"{r['name']:<12} [{r['track']}] {r['summary']}", f"{'':<12} paper: {r['paper']}"]
        for k, v in r["defaults"].items():
            shown = v["method"] if isinstance(v, dict) else v  # a method inside a method (prune_first's inner)
            lines.append(f"{'':<12} {f'{k}={shown!r}':<26} {r['help'][k]}")
    return "\n".join(lines)
