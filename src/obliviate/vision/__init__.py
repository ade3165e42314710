"""Classifier unlearning (vision and tabular track): datasets, small models, methods and metrics.

    from obliviate.vision import unlearn, evaluate
    new, log = unlearn(model, forget, retain, method="salun", lr=0.01)
    evaluate(new, forget, retain, test, oracle=oracle_model)   # UA, RA, TA, MIA_efficacy, avg_gap, cost

`obliviate vision demo` runs every method on scikit-learn's digits against the retrained oracle.
"""
from .data import ClassData, forget_split, load, load_csv, load_digits, load_fashion_mnist, read_idx
from .loop import unlearn
from .methods import DESCRIPTIONS, METHODS, resolve
from .metrics import evaluate, scores
from .models import MLP, SmallCNN, build_model

__all__ = ["ClassData", "DESCRIPTIONS", "METHODS", "MLP", "SmallCNN", "build_model", "evaluate", "forget_split",
           "load", "load_csv", "load_digits", "load_fashion_mnist", "read_idx", "resolve", "scores", "unlearn"]
