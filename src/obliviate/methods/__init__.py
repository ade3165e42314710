"""Unlearning methods for causal LMs (track `llm`): one file each, a frozen dataclass of hyper-parameters and a pure
loss; `registry.py` is the one registry of every track (the classifier methods are in `obliviate.vision.methods`).

`obliviate methods` lists them; `obliviate.methods.build("npo", {"beta": "0.2"}, track="llm")` makes one. Adding a
method = one new file with `@register("name", track="llm")` and an import below.
"""
from .protocol import Needs, SideNeeds, SideStats
from .registry import TRACKS, available, build, describe, get, hyper_parameters, register

# Importing the method modules registers them (order = listing order is alphabetical anyway).
from . import ga, grad_diff, idk_dpo, npo, rmu, simnpo, task_vector, undial  # noqa: E402,F401  isort: skip

METHODS = available("llm")  # the LLM track's names (every track: `available(track)` for each of TRACKS)

__all__ = ["METHODS", "TRACKS", "Needs", "SideNeeds", "SideStats", "available", "build", "describe", "get",
           "hyper_parameters", "register"]
