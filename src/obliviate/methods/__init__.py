"""Unlearning methods for causal LMs: one file each, a frozen dataclass of hyper-parameters and a pure loss.

`obliviate methods` lists them; `obliviate.methods.build("npo", {"beta": "0.2"})` makes one. Adding a method =
one new file with `@register("name")` and an import below.
"""
from .protocol import Needs, SideNeeds, SideStats
from .registry import available, build, describe, get, register

# Importing the method modules registers them (order = listing order is alphabetical anyway).
from . import ga, grad_diff, idk_dpo, npo, rmu, simnpo, task_vector, undial  # noqa: E402,F401  isort: skip

METHODS = available()

__all__ = ["METHODS", "Needs", "SideNeeds", "SideStats", "available", "build", "describe", "get", "register"]
