"""Concept erasure in a tiny text-to-image diffusion model, judged against an oracle that never saw the concept.

    obliviate diffusion demo --quick [--data digits|fashion-mnist] [--concept NAME]

The target is a diffusers `UNet2DConditionModel` conditioned on a `CLIPTextModel`, both built from configs and
trained from scratch on labelled images with prompts from templates ("a photo of a {class}"); the oracle is trained
the same way without the concept's images. Methods (`uce`, `esd`, ...) live in `diffusion/methods/` and register in
the one registry of every track (track "diffusion"); the judge is the vision track's classifier trained on the real
images. Names load on first use, so the command line parses without importing torch or diffusers.
"""
from obliviate._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["T2I", "ModelConfig", "load_t2i", "save_t2i", "preset"], ".models"),
    **dict.fromkeys(["PromptTokenizer", "find_class", "fill"], ".prompts"),
    **dict.fromkeys(["sample", "sample_embeddings"], ".sample"),
    **dict.fromkeys(["Recipe", "train", "trained"], ".train"),
}
__all__ = sorted(_EXPORTS)
lazy_exports(__name__, _EXPORTS)
