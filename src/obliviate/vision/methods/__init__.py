"""Classifier unlearning methods (track `vision`): one file each, registered in the one registry of every track.

Each is a frozen dataclass of hyper-parameters (its SGD settings included) with no base class: `protocol.py` says
what the loop calls (`phases`, and the optional `penalty`, `prepare`, `needs_teacher`), `losses.py` holds the batch
losses they share. Use them through `obliviate.vision.unlearn(model, forget, retain, "salun", ratio=0.3)`, or
through the registry: `obliviate.methods.build("salun", {"ratio": "0.3"}, track="vision")`, `available("vision")`.
Adding a method = one new file with `@register("name", track="vision")` and an import below.

Defaults. methods.md gives the CIFAR-10/ResNet-18 values (SGD momentum 0.9, wd 5e-4, batch 256). Our embedded
default is a ~6k-parameter CNN on 1437 digits, where batch 256 gives 6 steps an epoch and 1 step over a
144-sample forget set; so every method here uses batch 64 and the learning rates were re-tuned on digits
(10% random forgetting, 3 seeds) to give each method the *behaviour* the literature describes. Each class names the
paper value beside ours. Those digits values are also `obliviate/configs/vision/digits.yaml`; other datasets ship
their own file (`fashion-mnist.yaml`, re-tuned by bench/vision_sweep.py), applied by `vision.defaults`.
"""
from .losses import ascend_ce, ce, distill_kl, random_label_ce, random_wrong_labels
from .protocol import Context, LossFn, VisionMethod, describe

# Importing the method modules registers them; this order (the oracle, the baselines, then the methods that mask or
# distil) is the listing order of `obliviate methods` and the order the demo runs them in.
from . import retrain, ft, ga, rl, l1_sparse, salun, scrub, prune_first  # noqa: E402,F401  isort: skip
from . import ssd, laf, concept  # noqa: E402,F401  isort: skip

__all__ = ["Context", "LossFn", "VisionMethod", "ascend_ce", "ce", "describe", "distill_kl", "random_label_ce",
           "random_wrong_labels"]
